/* A worker's timer heap: nanosecond deadlines, generation-checked ids.
 */
#ifndef CRYSTAL_CORE_TIMERS_H
#define CRYSTAL_CORE_TIMERS_H

#include "clock.h"
#include "hist.h"

/* A heap of timers with nanosecond deadlines, per worker.  Ties fire in the
 * order they were added.  Ids carry a generation, so stale ids are safe. */
typedef void (*cr__timer_fn)(void *ctx, void *arg);

struct cr__tslot {
	int64_t due_ns;
	int64_t period_ns;
	uint64_t seq;
	cr__timer_fn fn;
	cr_timer_cb ucb; /* an algorithm's timer: ucb(ctx as peer, arg) */
	void *ctx;
	void *arg;
	const void *owner; /* for cancelling all of a peer's timers */
	uint32_t gen;
	uint32_t heap_idx; /* UINT32_MAX when free */
};

typedef struct cr__timers {
	struct cr__tslot *slots;
	uint32_t nslots, cap;
	uint32_t *heap; /* slot indices */
	uint32_t nheap;
	uint32_t free_head; /* UINT32_MAX when none */
	uint64_t seq;
	/* how late fired timers ran (ns), for fidelity reports */
	struct cr__hist lag;
} cr__timers;

void cr__timers_init(cr__timers *t);
void cr__timers_free(cr__timers *t);
/* Returns an id (never 0) or 0 when out of memory. */
uint64_t cr__timer_add(cr__timers *t, int64_t due_ns, int64_t period_ns,
		       cr__timer_fn fn, void *ctx, void *arg,
		       const void *owner);
uint64_t cr__timer_add_user(cr__timers *t, int64_t due_ns, int64_t period_ns,
			    cr_timer_cb cb, struct cr_peer *p, void *arg);
int cr__timer_cancel(cr__timers *t, uint64_t id);
void cr__timers_cancel_owner(cr__timers *t, const void *owner);
/* Earliest deadline, or INT64_MAX when there is none. */
int64_t cr__timers_next(const cr__timers *t);
/* Runs every timer due at `now`; returns how many ran. */
int cr__timers_run(cr__timers *t, const cr__clock *c);

#endif
