/* A binary min-heap, as a template for the heaps of Crystal (the timers'
 * and the shaper's datagrams in flight), so that there is one heap and
 * yet no indirect call on the timer path.
 *
 *	CR__HEAP_DEFINE(name, ctx_t, elem_t, before, place)
 *
 * defines, over an array v of elem_t holding n elements,
 *
 *	void name_up(ctx_t *ctx, elem_t *v, uint32_t pos)
 *	uint32_t name_down(ctx_t *ctx, elem_t *v, uint32_t n, uint32_t pos)
 *	void name_remove(ctx_t *ctx, elem_t *v, uint32_t *n, uint32_t pos)
 *
 * (push: store at v[n], n++, then name_up at n - 1; pop: take v[0], then
 * name_remove at 0).  before(ctx, const elem_t *a, const elem_t *b) is a
 * strict order, which the callers make total with a sequence number, so
 * that equal keys leave in the order they came; place(ctx, v, pos, e)
 * stores e at v[pos], and may note where it went (the timers keep each
 * slot's place in the heap, to cancel it).
 */
#ifndef CRYSTAL_CORE_HEAP_H
#define CRYSTAL_CORE_HEAP_H

#include <stdint.h>

#define CR__HEAP_DEFINE(name, ctx_t, elem_t, before, place)                   \
	static inline void name##_up(ctx_t *ctx, elem_t *v, uint32_t pos)      \
	{                                                                      \
		elem_t e = v[pos];                                             \
                                                                               \
		while (pos > 0) {                                              \
			uint32_t parent = (pos - 1) / 2;                       \
			if (!before(ctx, &e, &v[parent]))                      \
				break;                                         \
			place(ctx, v, pos, v[parent]);                         \
			pos = parent;                                          \
		}                                                              \
		place(ctx, v, pos, e);                                         \
	}                                                                      \
                                                                               \
	static inline uint32_t name##_down(ctx_t *ctx, elem_t *v, uint32_t n,  \
					   uint32_t pos)                       \
	{                                                                      \
		elem_t e = v[pos];                                             \
                                                                               \
		for (;;) {                                                     \
			uint32_t child = 2 * pos + 1;                          \
			if (child >= n)                                        \
				break;                                         \
			if (child + 1 < n && before(ctx, &v[child + 1], &v[child])) \
				child++;                                       \
			if (!before(ctx, &v[child], &e))                       \
				break;                                         \
			place(ctx, v, pos, v[child]);                          \
			pos = child;                                           \
		}                                                              \
		place(ctx, v, pos, e);                                         \
		return pos;                                                    \
	}                                                                      \
                                                                               \
	static inline void name##_remove(ctx_t *ctx, elem_t *v, uint32_t *n,   \
					 uint32_t pos)                         \
	{                                                                      \
		elem_t last = v[--*n];                                         \
                                                                               \
		if (pos == *n)                                                 \
			return;                                                \
		place(ctx, v, pos, last);                                      \
		name##_up(ctx, v, name##_down(ctx, v, *n, pos));               \
	}

#endif
