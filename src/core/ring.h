/* A ring of fixed-size elements: the queues of Crystal (a connection's
 * outgoing messages, a peer's datagrams waiting for a socket or a link)
 * are one.  The array's size is a power of two; the ring grows by
 * doubling, its elements keeping their order.
 */
#ifndef CRYSTAL_CORE_RING_H
#define CRYSTAL_CORE_RING_H

#include "common.h"

struct cr__ring {
	void *v;
	uint32_t cap, head, len;
};

/* The element i places from the head (i <= len: the next free one). */
#define cr__ring_at(r, type, i)                                                \
	(&((type *)(r)->v)[((r)->head + (uint32_t)(i)) & ((r)->cap - 1)])

/* Room for one more element of esz bytes: 0, or -CR_ENOMEM (the ring is
 * then unchanged). */
int cr__ring_grow(struct cr__ring *r, size_t esz);
static inline int cr__ring_reserve(struct cr__ring *r, size_t esz)
{
	return r->len < r->cap ? 0 : cr__ring_grow(r, esz);
}

/* Drops the head element (the caller has taken it). */
static inline void cr__ring_shift(struct cr__ring *r)
{
	r->head = (r->head + 1) & (r->cap - 1);
	r->len--;
}

/* Frees the array; the ring is empty and may be used again. */
void cr__ring_free(struct cr__ring *r);

#endif
