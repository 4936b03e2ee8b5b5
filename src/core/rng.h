/* The one pseudo-random generator of the engine and the network:
 * xorshift64* (Vigna), seeded per use from the experiment's seed, so that
 * the same seed gives the same run.  Not for anything secret.
 */
#ifndef CRYSTAL_CORE_RNG_H
#define CRYSTAL_CORE_RNG_H

#include <stdint.h>

/* The next value of the generator whose state is *s (never 0). */
static inline uint64_t cr__rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, 1), from the top 53 bits. */
static inline double cr__rng_unit(uint64_t *s)
{
	return (double)(cr__rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
