/* The pseudo-random generator of Crystal: xorshift64* (Vigna), small and
 * fast, the one the engine, the network and the algorithms all use, so
 * that the same seed gives the same run.  Not for anything secret.
 *
 * Every peer has one, seeded from the run's seed (--seed), the peer's
 * index and its birth: cr_peer_rand() in algorithm.h.  An algorithm that
 * draws only from its peer's generator repeats itself run after run.
 * Tests and tools seed their own with cr_rand_seed().
 */
#ifndef CRYSTAL_RANDOM_H
#define CRYSTAL_RANDOM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cr_rand {
	uint64_t s; /* never 0 */
} cr_rand;

/* Any seed, 0 included: it is mixed (splitmix64's finaliser) so that
 * close seeds give unrelated sequences. */
static inline void cr_rand_seed(cr_rand *r, uint64_t seed)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	r->s = z ? z : 1;
}

/* The next 64 random bits. */
static inline uint64_t cr_rand_next(cr_rand *r)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, 1), from the top 53 bits. */
static inline double cr_rand_unit(cr_rand *r)
{
	return (double)(cr_rand_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform in [0, n) without modulo bias (Lemire's multiply-shift with
 * rejection); 0 when n is 0. */
static inline uint32_t cr_rand_below(cr_rand *r, uint32_t n)
{
	uint64_t m;
	uint32_t low, floor;

	if (!n)
		return 0;
	m = (uint64_t)(uint32_t)(cr_rand_next(r) >> 32) * n;
	low = (uint32_t)m;
	if (low < n) {
		floor = (uint32_t)-n % n;
		while (low < floor) {
			m = (uint64_t)(uint32_t)(cr_rand_next(r) >> 32) * n;
			low = (uint32_t)m;
		}
	}
	return (uint32_t)(m >> 32);
}

/* len random bytes into buf. */
static inline void cr_rand_fill(cr_rand *r, void *buf, size_t len)
{
	unsigned char *b = (unsigned char *)buf;
	uint64_t x;

	for (; len >= 8; len -= 8, b += 8) {
		x = cr_rand_next(r);
		memcpy(b, &x, 8);
	}
	if (len) {
		x = cr_rand_next(r);
		memcpy(b, &x, len);
	}
}

#ifdef __cplusplus
}
#endif

#endif
