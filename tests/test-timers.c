/* The timer heap (src/core/timers.c), driven by a fake clock whose time
 * the test sets: timers fire in deadline order with ties in the order they
 * were added; periodic timers re-arm from their due time, so a late clock
 * neither shifts them off their grid nor skips a period; cancel works
 * before, during (a callback cancelling itself or another timer) and after
 * firing, and a stale id is refused with -CR_ENOENT even when its slot has
 * been reused; cancel_owner removes exactly one owner's timers; lag is
 * recorded; and 10,000 random deadlines come out sorted.
 */
#include "../src/core/timers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* --- a clock the test moves by hand ----------------------------------------
 */

static int64_t fake_ns;

static int64_t fake_now(const cr__clock *c)
{
	(void)c;
	return fake_ns;
}

static cr__clock fake = {fake_now, 0};

/* --- what fired ------------------------------------------------------------
 */

#define MAX_FIRED 40000

struct fired {
	uintptr_t tag;
	int64_t at_ns;
};

static struct fired fired[MAX_FIRED];
static size_t nfired;
static cr__timers T;

static void record(void *ctx, void *arg)
{
	(void)ctx;
	assert_true(nfired < MAX_FIRED);
	fired[nfired].tag = (uintptr_t)arg;
	fired[nfired].at_ns = fake_ns;
	nfired++;
}

static uint64_t add(int64_t due, int64_t period, uintptr_t tag,
		    const void *owner)
{
	uint64_t id =
	    cr__timer_add(&T, due, period, record, NULL, (void *)tag, owner);

	assert_true(id != 0);
	return id;
}

static int setup(void **state)
{
	(void)state;
	fake_ns = 0;
	nfired = 0;
	cr__timers_init(&T);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cr__timers_free(&T);
	return 0;
}

/* --- order ------------------------------------------------------------------
 */

static void fires_in_deadline_order(void **state)
{
	const int64_t due[] = {50, 10, 40, 30, 20, 60, 0, 70};

	for (size_t i = 0; i < 8; i++)
		add(due[i], 0, (uintptr_t)due[i], NULL);
	assert_int_equal(cr__timers_next(&T), 0);
	fake_ns = 100;
	assert_int_equal(cr__timers_run(&T, &fake), 8);
	assert_int_equal(nfired, 8);
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(fired[i].tag, i * 10);
	assert_true(cr__timers_next(&T) == INT64_MAX);
	assert_int_equal(cr__timers_run(&T, &fake), 0);
}

static void fires_only_what_is_due(void **state)
{
	add(100, 0, 1, NULL);
	add(200, 0, 2, NULL);
	add(300, 0, 3, NULL);
	fake_ns = 99;
	assert_int_equal(cr__timers_run(&T, &fake), 0);
	fake_ns = 100; /* due exactly now: fires */
	assert_int_equal(cr__timers_run(&T, &fake), 1);
	assert_int_equal(cr__timers_next(&T), 200);
	fake_ns = 250;
	assert_int_equal(cr__timers_run(&T, &fake), 1);
	fake_ns = 1000;
	assert_int_equal(cr__timers_run(&T, &fake), 1);
	assert_int_equal(nfired, 3);
	assert_int_equal(fired[0].tag, 1);
	assert_int_equal(fired[1].tag, 2);
	assert_int_equal(fired[2].tag, 3);
}

static void ties_fire_in_insertion_order(void **state)
{
	/* 300 timers on three deadlines, added interleaved */
	for (uintptr_t i = 0; i < 300; i++)
		add((int64_t)(i % 3) * 1000, 0, i, NULL);
	fake_ns = 5000;
	assert_int_equal(cr__timers_run(&T, &fake), 300);
	for (size_t k = 0; k < 300; k++) {
		uintptr_t want = (k % 100) * 3 + k / 100;
		assert_int_equal(fired[k].tag, want);
	}
}

static void negative_and_extreme_deadlines(void **state)
{
	add(INT64_MAX - 1, 0, 3, NULL);
	add(-5 * CR_SEC, 0, 1, NULL);
	add(0, 0, 2, NULL);
	fake_ns = -CR_SEC;
	assert_int_equal(cr__timers_run(&T, &fake), 1);
	fake_ns = 10;
	assert_int_equal(cr__timers_run(&T, &fake), 1);
	assert_int_equal(cr__timers_next(&T), INT64_MAX - 1);
	assert_int_equal(nfired, 2);
	assert_int_equal(fired[0].tag, 1);
	assert_int_equal(fired[1].tag, 2);
}

/* --- periodic ----------------------------------------------------------------
 */

static void periodic_stays_on_its_grid(void **state)
{
	const int64_t start = 5 * CR_MS, period = 10 * CR_MS;

	add(start, period, 7, NULL);
	/* on time */
	fake_ns = start;
	assert_int_equal(cr__timers_run(&T, &fake), 1);
	assert_int_equal(cr__timers_next(&T), start + period);
	/* 3 ms late: the next one is still due on the grid, not 3 ms later */
	fake_ns = start + period + 3 * CR_MS;
	assert_int_equal(cr__timers_run(&T, &fake), 1);
	assert_int_equal(cr__timers_next(&T), start + 2 * period);
	/* the clock jumps 4.5 periods: every missed period fires, once */
	fake_ns = start + 6 * period + period / 2;
	assert_int_equal(cr__timers_run(&T, &fake), 5);
	assert_int_equal(cr__timers_next(&T), start + 7 * period);
	assert_int_equal(nfired, 7);
	/* a long run of irregular late wake-ups never drifts */
	int64_t last_next = cr__timers_next(&T);
	size_t before = nfired;
	for (int i = 0; i < 1000; i++) {
		fake_ns =
		    last_next + (i * 7919) % period; /* late, < 1 period */
		assert_int_equal(cr__timers_run(&T, &fake), 1);
		int64_t next = cr__timers_next(&T);
		assert_int_equal(next, last_next + period);
		assert_int_equal((next - start) % period, 0);
		last_next = next;
	}
	assert_int_equal(nfired - before, 1000);
}

static void periodic_with_many_missed_periods(void **state)
{
	/* more than 64 firings in one run: the clock is re-read on the way */
	add(0, 1000, 1, NULL);
	fake_ns = 999999; /* periods 0, 1000, ..., 999000 are due */
	assert_int_equal(cr__timers_run(&T, &fake), 1000);
	assert_int_equal(cr__timers_next(&T), 1000000);
}

static void vast_periods_and_deadlines(void **state)
{
	/* the largest values stand for "never": no overflow on the way */
	add(INT64_MAX, 0, 1, NULL);
	add(0, INT64_MAX, 2, NULL);
	add(10, INT64_MAX - 5, 3, NULL);
	fake_ns = 1000;
	assert_int_equal(cr__timers_run(&T, &fake), 2);
	fake_ns = INT64_MAX - 1;
	assert_int_equal(cr__timers_run(&T, &fake), 0);
	assert_true(cr__timers_next(&T) >= INT64_MAX - 5);
}

static void lag_is_recorded(void **state)
{
	add(1000, 0, 1, NULL);
	add(2000, 0, 2, NULL);
	fake_ns = 1000 + 3000; /* 3 us and 2 us late */
	assert_int_equal(cr__timers_run(&T, &fake), 2);
	assert_int_equal(T.lag.n, 2);
	assert_int_equal(T.lag.max, 3000);
	assert_true(cr__hist_mean(&T.lag) == 2500.0);
	/* quantiles are upper bounds within 12.5%, never above the max */
	int64_t p50 = cr__hist_quantile(&T.lag, 0.5);
	assert_true(p50 >= 2000 && p50 <= 2250);
	assert_int_equal(cr__hist_quantile(&T.lag, 1.0), 3000);
}

static void lag_histogram_quantiles(void **state)
{
	static struct cr__hist h;
	uint64_t s = 0x9E3779B97F4A7C15ULL;

	cr__hist_reset(&h);
	assert_int_equal(cr__hist_quantile(&h, 0.5), 0);
	/* 0..7 are exact */
	for (int64_t v = 0; v < 8; v++) {
		cr__hist_reset(&h);
		cr__hist_add(&h, v);
		assert_int_equal(cr__hist_quantile(&h, 0.5), v);
	}
	/* any value: the bound is at least the value and within 12.5% */
	for (int i = 0; i < 100000; i++) {
		int64_t v;
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		v = (int64_t)(s >> (s % 62 + 2)); /* below 2^62 */
		cr__hist_reset(&h);
		cr__hist_add(&h, v);
		cr__hist_add(&h, INT64_MAX); /* so that max does not cap */
		int64_t q = cr__hist_quantile(&h, 0.0);
		assert_true(q >= v);
		assert_true((double)q <= (double)v * 1.125 + 1);
	}
	/* 90 on time, 9 around 1 us, 1 around 1 ms */
	cr__hist_reset(&h);
	for (int i = 0; i < 90; i++)
		cr__hist_add(&h, 0);
	for (int i = 0; i < 9; i++)
		cr__hist_add(&h, 1000);
	cr__hist_add(&h, 1000000);
	assert_int_equal(cr__hist_quantile(&h, 0.5), 0);
	assert_true(cr__hist_quantile(&h, 0.95) >= 1000);
	assert_true(cr__hist_quantile(&h, 0.95) <= 1125);
	assert_int_equal(cr__hist_quantile(&h, 1.0), 1000000);
	assert_int_equal(h.n, 100);
	/* nearest rank: the 99th of 100 samples is p99, not the worst one */
	int64_t p99 = cr__hist_quantile(&h, 0.99);
	assert_true(p99 >= 1000 && p99 <= 1125);
	/* negative lag (a timer run early) counts as on time */
	cr__hist_reset(&h);
	cr__hist_add(&h, -50);
	assert_int_equal(cr__hist_quantile(&h, 1.0), 0);
}

/* --- cancel ------------------------------------------------------------------
 */

static void cancel_before_firing(void **state)
{
	uint64_t a = add(10, 0, 1, NULL);
	uint64_t b = add(20, 0, 2, NULL);
	uint64_t c = add(30, 0, 3, NULL);

	assert_int_equal(cr__timer_cancel(&T, b), 0);
	assert_int_equal(cr__timer_cancel(&T, b), -CR_ENOENT);
	fake_ns = 100;
	assert_int_equal(cr__timers_run(&T, &fake), 2);
	assert_int_equal(fired[0].tag, 1);
	assert_int_equal(fired[1].tag, 3);
	/* fired one-shots are gone */
	assert_int_equal(cr__timer_cancel(&T, a), -CR_ENOENT);
	assert_int_equal(cr__timer_cancel(&T, c), -CR_ENOENT);
	/* ids that never existed */
	assert_int_equal(cr__timer_cancel(&T, 0), -CR_ENOENT);
	assert_int_equal(cr__timer_cancel(&T, 12345), -CR_ENOENT);
	assert_int_equal(cr__timer_cancel(&T, UINT64_MAX), -CR_ENOENT);
}

static void stale_id_of_a_reused_slot(void **state)
{
	uint64_t old = add(10, 0, 1, NULL), fresh;

	assert_int_equal(cr__timer_cancel(&T, old), 0);
	fresh = add(10, 0, 2, NULL); /* takes the freed slot */
	assert_true(fresh != old);
	assert_int_equal((uint32_t)fresh, (uint32_t)old);
	assert_int_equal(cr__timer_cancel(&T, old), -CR_ENOENT);
	fake_ns = 10;
	assert_int_equal(cr__timers_run(&T, &fake), 1);
	assert_int_equal(fired[0].tag, 2);
	assert_int_equal(cr__timer_cancel(&T, fresh), -CR_ENOENT);
}

static void cancel_periodic(void **state)
{
	uint64_t p = add(0, 100, 1, NULL);

	fake_ns = 250;
	assert_int_equal(cr__timers_run(&T, &fake), 3);
	assert_int_equal(cr__timer_cancel(&T, p), 0);
	fake_ns = 10000;
	assert_int_equal(cr__timers_run(&T, &fake), 0);
	assert_int_equal(cr__timer_cancel(&T, p), -CR_ENOENT);
}

/* Callbacks that act on the heap while it runs. */
static uint64_t ids[8];
static int rc_self, rc_other, rc_fired, rc_periodic_self;
static int periodic_runs;

static void cancels_itself(void *ctx, void *arg)
{
	record(ctx, arg);
	rc_self = cr__timer_cancel(&T, ids[0]);
}

static void cancels_others(void *ctx, void *arg)
{
	record(ctx, arg);
	rc_other = cr__timer_cancel(&T, ids[3]); /* same deadline, later */
	rc_fired = cr__timer_cancel(&T, ids[0]); /* fired already */
}

static void periodic_cancels_itself(void *ctx, void *arg)
{
	record(ctx, arg);
	if (++periodic_runs == 3)
		rc_periodic_self = cr__timer_cancel(&T, ids[4]);
}

static void cancel_inside_callbacks(void **state)
{
	rc_self = rc_other = rc_fired = rc_periodic_self = 99;
	periodic_runs = 0;
	ids[0] =
	    cr__timer_add(&T, 10, 0, cancels_itself, NULL, (void *)1, NULL);
	ids[1] =
	    cr__timer_add(&T, 20, 0, cancels_others, NULL, (void *)2, NULL);
	ids[2] = cr__timer_add(&T, 20, 0, record, NULL, (void *)3, NULL);
	ids[3] = cr__timer_add(&T, 20, 0, record, NULL, (void *)4, NULL);
	ids[4] = cr__timer_add(&T, 5, 10, periodic_cancels_itself, NULL,
			       (void *)5, NULL);
	fake_ns = 1000;
	cr__timers_run(&T, &fake);
	/* a one-shot is off the heap while its callback runs */
	assert_int_equal(rc_self, -CR_ENOENT);
	assert_int_equal(rc_other, 0);
	assert_int_equal(rc_fired, -CR_ENOENT);
	/* a periodic one is re-armed before its callback: cancellable */
	assert_int_equal(rc_periodic_self, 0);
	assert_int_equal(periodic_runs, 3);
	/* fired: 5@5, 1@10, 5@15, 2@20, 3@20, 5@25; 4 was cancelled */
	const uintptr_t want[] = {5, 1, 5, 2, 3, 5};
	assert_int_equal(nfired, 6);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(fired[i].tag, want[i]);
	assert_true(cr__timers_next(&T) == INT64_MAX);
}

static void adds_from_callback(void *ctx, void *arg)
{
	record(ctx, arg);
	/* one due at once, one later */
	cr__timer_add(&T, fake_ns, 0, record, NULL, (void *)11, NULL);
	cr__timer_add(&T, fake_ns + 100, 0, record, NULL, (void *)12, NULL);
}

static void add_inside_callback(void **state)
{
	/* many slots, so that adding from a callback grows the arrays */
	for (uintptr_t i = 0; i < 63; i++)
		add(1000 + (int64_t)i, 0, 100 + i, NULL);
	cr__timer_add(&T, 10, 0, adds_from_callback, NULL, (void *)10, NULL);
	fake_ns = 10;
	cr__timers_run(&T, &fake);
	fake_ns = 50;
	cr__timers_run(&T, &fake);
	assert_int_equal(nfired, 2);
	assert_int_equal(fired[0].tag, 10);
	assert_int_equal(fired[1].tag, 11);
	fake_ns = 5000;
	cr__timers_run(&T, &fake);
	assert_int_equal(nfired, 2 + 1 + 63);
	assert_int_equal(fired[2].tag, 12);
	for (size_t i = 0; i < 63; i++)
		assert_int_equal(fired[3 + i].tag, 100 + i);
}

/* --- owners -----------------------------------------------------------------
 */

static void cancel_owner_removes_only_its_timers(void **state)
{
	int x, y;

	for (uintptr_t i = 0; i < 30; i++)
		add((int64_t)(i * 10), i % 5 == 0 ? 7 : 0, i,
		    i % 3 == 0	 ? (void *)&x
		    : i % 3 == 1 ? (void *)&y
				 : NULL);
	cr__timers_cancel_owner(&T, &x);
	cr__timers_cancel_owner(&T, &x); /* nothing left: harmless */
	fake_ns = 295;
	cr__timers_run(&T, &fake);
	for (size_t k = 0; k < nfired; k++)
		assert_true(fired[k].tag % 3 != 0);
	/* 20 one-shots of y and nobody, plus periodic re-runs */
	size_t ones = 0;
	for (size_t k = 0; k < nfired; k++)
		ones += k == 0 || fired[k].tag != fired[k - 1].tag;
	assert_true(ones >= 20);
	cr__timers_cancel_owner(&T, &y);
	cr__timers_cancel_owner(&T, NULL); /* the unowned periodic ones */
	assert_true(cr__timers_next(&T) == INT64_MAX);
}

static int user_fired;
static cr_peer *user_peer;
static void *user_arg;

static void user_cb(cr_peer *p, void *arg)
{
	user_fired++;
	user_peer = p;
	user_arg = arg;
}

static void user_timers_get_peer_and_arg(void **state)
{
	cr_peer *fake_peer = (cr_peer *)(uintptr_t)0x1000;
	int arg;
	uint64_t id = cr__timer_add_user(&T, 10, 0, user_cb, fake_peer, &arg);

	assert_true(id != 0);
	fake_ns = 10;
	assert_int_equal(cr__timers_run(&T, &fake), 1);
	assert_int_equal(user_fired, 1);
	assert_ptr_equal(user_peer, fake_peer);
	assert_ptr_equal(user_arg, &arg);
	/* a peer's user timers are cancelled with the peer */
	cr__timer_add_user(&T, 20, 5, user_cb, fake_peer, NULL);
	cr__timers_cancel_owner(&T, fake_peer);
	fake_ns = 100;
	assert_int_equal(cr__timers_run(&T, &fake), 0);
	assert_int_equal(user_fired, 1);
}

/* --- many -------------------------------------------------------------------
 */

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#define MANY 10000

static void many_random_deadlines_come_out_sorted(void **state)
{
	static int64_t due[MANY];
	static uint64_t id[MANY];
	static bool cancelled[MANY];
	static unsigned seen[MANY];
	uint64_t s = 88172645463325252ULL;
	size_t live = 0;

	for (uintptr_t i = 0; i < MANY; i++) {
		/* a narrow range, so that many deadlines tie */
		due[i] = (int64_t)(rnd(&s) % 5000);
		id[i] = add(due[i], 0, i, NULL);
		cancelled[i] = false;
	}
	/* cancel a tenth, at random */
	for (int k = 0; k < MANY / 10; k++) {
		size_t i = rnd(&s) % MANY;
		int rc = cr__timer_cancel(&T, id[i]);
		assert_int_equal(rc, cancelled[i] ? -CR_ENOENT : 0);
		cancelled[i] = true;
	}
	for (size_t i = 0; i < MANY; i++)
		live += !cancelled[i];
	/* run in steps of a clock that moves by uneven amounts */
	for (fake_ns = 0; fake_ns < 6000; fake_ns += (int64_t)(rnd(&s) % 97))
		cr__timers_run(&T, &fake);
	cr__timers_run(&T, &fake);
	assert_int_equal(nfired, live);
	memset(seen, 0, sizeof(seen));
	for (size_t k = 0; k < nfired; k++) {
		uintptr_t i = fired[k].tag;
		assert_true(i < MANY);
		assert_false(cancelled[i]);
		seen[i]++;
		/* never early */
		assert_true(fired[k].at_ns >= due[i]);
		if (k) {
			uintptr_t j = fired[k - 1].tag;
			assert_true(due[j] < due[i] ||
				    (due[j] == due[i] && j < i));
		}
	}
	for (size_t i = 0; i < MANY; i++)
		assert_int_equal(seen[i], cancelled[i] ? 0 : 1);
	assert_true(cr__timers_next(&T) == INT64_MAX);
}

static void slots_are_reused(void **state)
{
	/* add and cancel in a loop: the table does not grow without bound */
	for (int round = 0; round < 1000; round++) {
		uint64_t a = add(100, 0, 1, NULL), b = add(200, 0, 2, NULL);
		assert_int_equal(cr__timer_cancel(&T, b), 0);
		assert_int_equal(cr__timer_cancel(&T, a), 0);
	}
	assert_true(T.nslots <= 2);
	assert_int_equal(T.nheap, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(fires_in_deadline_order, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(fires_only_what_is_due, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(ties_fire_in_insertion_order, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(negative_and_extreme_deadlines,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(periodic_stays_on_its_grid, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(periodic_with_many_missed_periods,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(vast_periods_and_deadlines, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(lag_is_recorded, setup, teardown),
	    cmocka_unit_test(lag_histogram_quantiles),
	    cmocka_unit_test_setup_teardown(cancel_before_firing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(stale_id_of_a_reused_slot, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(cancel_periodic, setup, teardown),
	    cmocka_unit_test_setup_teardown(cancel_inside_callbacks, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(add_inside_callback, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		cancel_owner_removes_only_its_timers, setup, teardown),
	    cmocka_unit_test_setup_teardown(user_timers_get_peer_and_arg, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		many_random_deadlines_come_out_sorted, setup, teardown),
	    cmocka_unit_test_setup_teardown(slots_are_reused, setup, teardown),
	};

	return cmocka_run_group_tests_name("timers", tests, NULL, NULL);
}
