/* The experiment clock.
 *
 * All engine and algorithm code reads time through a cr__clock, never from
 * the system directly, so that a virtual-time mode can later drive the same
 * code deterministically.  Real mode: CLOCK_MONOTONIC minus the origin.
 */
#include "clock.h"

#include <time.h>

int64_t cr__mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * CR_SEC + ts.tv_nsec;
}

static int64_t real_now(const cr__clock *c)
{
	return cr__mono_ns() - c->origin_ns;
}

void cr__clock_init_real(cr__clock *c)
{
	c->now = real_now;
	c->origin_ns = cr__mono_ns();
}

void cr__clock_init_at(cr__clock *c, int64_t origin_ns)
{
	c->now = real_now;
	c->origin_ns = origin_ns;
}

int64_t cr__unix_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * CR_SEC + ts.tv_nsec;
}
