/* The random generator (include/crystal/random.h): seeding, ranges, and
 * that a bounded draw covers its range evenly enough to be unbiased in
 * the large.  The per-peer generator is tested on live nodes in
 * test-churn.c (the same seed, the same draws).
 */
#include <crystal/random.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* Any seed, 0 included, gives a working generator; equal seeds equal
 * sequences, neighbouring seeds different ones. */
static void test_seed(void **state)
{
	cr_rand a, b, c;

	(void)state;
	cr_rand_seed(&a, 0);
	assert_true(a.s != 0);
	cr_rand_seed(&a, 42);
	cr_rand_seed(&b, 42);
	cr_rand_seed(&c, 43);
	for (int i = 0; i < 1000; i++) {
		uint64_t x = cr_rand_next(&a);

		assert_true(x == cr_rand_next(&b));
		assert_true(x != cr_rand_next(&c));
	}
}

/* cr_rand_below stays in [0, n), reaches every value of a small range,
 * about as often as each other, and the top of the largest range too. */
static void test_below(void **state)
{
	enum { N = 7, DRAWS = 70000 };
	unsigned count[N] = {0};
	cr_rand r;
	bool high = false;

	(void)state;
	cr_rand_seed(&r, 1);
	assert_int_equal(cr_rand_below(&r, 0), 0);
	assert_int_equal(cr_rand_below(&r, 1), 0);
	for (int i = 0; i < DRAWS; i++) {
		uint32_t v = cr_rand_below(&r, N);

		assert_true(v < N);
		count[v]++;
	}
	for (int k = 0; k < N; k++) {
		/* 10,000 expected; 5 standard deviations is about 490 */
		assert_true(count[k] > 9400 && count[k] < 10600);
	}
	for (int i = 0; i < 1000; i++) {
		uint32_t v = cr_rand_below(&r, UINT32_MAX);

		assert_true(v < UINT32_MAX);
		high |= v > UINT32_MAX / 2;
	}
	assert_true(high);
}

/* cr_rand_unit is in [0, 1); cr_rand_fill writes exactly len bytes. */
static void test_unit_and_fill(void **state)
{
	uint8_t buf[40];
	cr_rand r;
	double sum = 0;

	(void)state;
	cr_rand_seed(&r, 9);
	for (int i = 0; i < 10000; i++) {
		double u = cr_rand_unit(&r);

		assert_true(u >= 0 && u < 1);
		sum += u;
	}
	assert_true(sum > 4800 && sum < 5200);
	for (size_t len = 0; len <= 32; len++) {
		memset(buf, 0xa5, sizeof(buf));
		cr_rand_fill(&r, buf, len);
		for (size_t i = len; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0xa5);
	}
	memset(buf, 0, sizeof(buf));
	cr_rand_fill(&r, buf, 32);
	assert_true(memcmp(buf, buf + 8, 8) != 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_below),
		cmocka_unit_test(test_unit_and_fill),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
