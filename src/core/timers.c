/* The event timer: a binary min-heap of nanosecond deadlines, per worker.
 *
 * Slots are recycled through a free list and carry a generation, so an id
 * that fired or was cancelled long ago can be cancelled again harmlessly.
 * Ties are broken by insertion order (seq), so timers due at the same time
 * fire in the order they were started.  Every firing records how late it
 * ran: that lag is how a run knows whether the machine kept up.
 */
#include "heap.h"
#include "timers.h"

#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

void cr__timers_init(cr__timers *t)
{
	memset(t, 0, sizeof(*t));
	t->free_head = NONE;
}

void cr__timers_free(cr__timers *t)
{
	free(t->slots);
	free(t->heap);
	memset(t, 0, sizeof(*t));
	t->free_head = NONE;
}

static bool before(const cr__timers *t, const uint32_t *a, const uint32_t *b)
{
	const struct cr__tslot *x = &t->slots[*a], *y = &t->slots[*b];

	return x->due_ns < y->due_ns ||
	       (x->due_ns == y->due_ns && x->seq < y->seq);
}

/* The heap holds slot indices; each slot knows its place in it. */
static void place(cr__timers *t, uint32_t *heap, uint32_t pos, uint32_t slot)
{
	heap[pos] = slot;
	t->slots[slot].heap_idx = pos;
}

CR__HEAP_DEFINE(theap, cr__timers, uint32_t, before, place)

static int grow(cr__timers *t)
{
	uint32_t cap = t->cap ? t->cap * 2 : 64;
	struct cr__tslot *slots = realloc(t->slots, cap * sizeof(*slots));
	uint32_t *heap;

	if (!slots)
		return -CR_ENOMEM;
	t->slots = slots;
	heap = realloc(t->heap, cap * sizeof(*heap));
	if (!heap)
		return -CR_ENOMEM;
	t->heap = heap;
	t->cap = cap;
	return 0;
}

static void slot_free(cr__timers *t, uint32_t idx)
{
	struct cr__tslot *s = &t->slots[idx];

	s->heap_idx = NONE;
	s->gen++;
	s->fn = NULL;
	s->ucb = NULL;
	/* reuse the period field as the free-list link */
	s->period_ns = t->free_head;
	t->free_head = idx;
}

uint64_t cr__timer_add(cr__timers *t, int64_t due_ns, int64_t period_ns,
		       cr__timer_fn fn, void *ctx, void *arg,
		       const void *owner)
{
	uint32_t idx;
	struct cr__tslot *s;

	if (t->free_head != NONE) {
		idx = t->free_head;
		t->free_head = (uint32_t)t->slots[idx].period_ns;
	} else {
		if (t->nslots == t->cap && grow(t))
			return 0;
		idx = t->nslots++;
		t->slots[idx].gen = 1;
	}
	s = &t->slots[idx];
	s->due_ns = due_ns;
	s->period_ns = period_ns > 0 ? period_ns : 0;
	s->seq = t->seq++;
	s->fn = fn;
	s->ucb = NULL;
	s->ctx = ctx;
	s->arg = arg;
	s->owner = owner;
	place(t, t->heap, t->nheap++, idx);
	theap_up(t, t->heap, t->nheap - 1);
	return ((uint64_t)s->gen << 32) | idx;
}

uint64_t cr__timer_add_user(cr__timers *t, int64_t due_ns, int64_t period_ns,
			    cr_timer_cb cb, struct cr_peer *p, void *arg)
{
	uint64_t id = cr__timer_add(t, due_ns, period_ns, NULL, p, arg, p);

	if (id)
		t->slots[(uint32_t)id].ucb = cb;
	return id;
}

int cr__timer_cancel(cr__timers *t, uint64_t id)
{
	uint32_t idx = (uint32_t)id, gen = (uint32_t)(id >> 32);
	struct cr__tslot *s;

	if (idx >= t->nslots)
		return -CR_ENOENT;
	s = &t->slots[idx];
	if (s->gen != gen || s->heap_idx == NONE)
		return -CR_ENOENT;
	theap_remove(t, t->heap, &t->nheap, s->heap_idx);
	slot_free(t, idx);
	return 0;
}

void cr__timers_cancel_owner(cr__timers *t, const void *owner)
{
	/* O(n) over live slots: only used when a peer ends. */
	for (uint32_t i = 0; i < t->nslots; i++) {
		struct cr__tslot *s = &t->slots[i];
		if (s->heap_idx != NONE && s->owner == owner) {
			theap_remove(t, t->heap, &t->nheap, s->heap_idx);
			slot_free(t, i);
		}
	}
}

int64_t cr__timers_next(const cr__timers *t)
{
	if (!t->nheap)
		return INT64_MAX;
	return t->slots[t->heap[0]].due_ns;
}

int cr__timers_run(cr__timers *t, const cr__clock *c)
{
	/* Only what is due at entry: timers that fall due while these run
	 * wait for the next turn of the loop, so sockets get their turn in
	 * between and a busy worker cannot spin here. */
	int64_t now = cr__clock_now(c);
	int ran = 0;

	while (t->nheap) {
		uint32_t idx = t->heap[0];
		struct cr__tslot *s = &t->slots[idx];
		cr__timer_fn fn = s->fn;
		cr_timer_cb ucb = s->ucb;
		void *ctx = s->ctx, *arg = s->arg;

		if (s->due_ns > now)
			break;
		cr__hist_add(&t->lag, now - s->due_ns);
		if (s->period_ns) {
			/* re-arm from the due time, not from now: no drift;
			 * a period too long to add up means never again */
			if (s->due_ns > 0 && s->period_ns > INT64_MAX - s->due_ns)
				s->due_ns = INT64_MAX;
			else
				s->due_ns += s->period_ns;
			s->seq = t->seq++;
			theap_down(t, t->heap, t->nheap, 0);
		} else {
			theap_remove(t, t->heap, &t->nheap, 0);
			slot_free(t, idx);
		}
		if (ucb)
			ucb(ctx, arg);
		else
			fn(ctx, arg);
		ran++;
	}
	return ran;
}
