/* The experiment clock: the one source of time of the engine and the
 * network, so that a virtual-time mode can drive both.
 */
#ifndef CRYSTAL_CORE_CLOCK_H
#define CRYSTAL_CORE_CLOCK_H

#include "common.h"

/* The one source of time.  Real mode reads CLOCK_MONOTONIC minus the
 * experiment's origin; a virtual-time mode can plug in through `now`. */
typedef struct cr__clock {
	int64_t (*now)(const struct cr__clock *c);
	int64_t origin_ns; /* monotonic time of experiment time 0 */
} cr__clock;

int64_t cr__mono_ns(void);
void cr__clock_init_real(cr__clock *c);
/* Real mode with time 0 at origin_ns (CLOCK_MONOTONIC), which may be
 * in the future: experiment time is negative until then. */
void cr__clock_init_at(cr__clock *c, int64_t origin_ns);
/* CLOCK_REALTIME in nanoseconds since the epoch: for what hosts compare
 * (the start of a run spanning hosts), never for experiment time. */
int64_t cr__unix_ns(void);
static inline int64_t cr__clock_now(const cr__clock *c)
{
	return c->now(c);
}

#endif
