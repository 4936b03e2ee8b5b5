/* Internals of network coding (src/stream/coding*.c, prefix cr__): the
 * GF(2^8) vector routines the encoder and the decoder are made of, over
 * ISA-L, with the short lengths and tails ISA-L gets wrong done by plain
 * tables.  tests/test-coding.c checks them byte for byte against a
 * reference field at every length from 1 byte.
 *
 * Tables are ISA-L's: 32 bytes per coefficient c (gf_vect_mul_init), c x
 * {00..0f} then c x {00, 10, .., f0}, laid out by ec_init_tables().
 */
#ifndef CRYSTAL_STREAM_CODING_INT_H
#define CRYSTAL_STREAM_CODING_INT_H

#include <stddef.h>
#include <stdint.h>

#include <crystal/random.h>

/* ISA-L's vector routines run on this many bytes at a time: a row is
 * padded to a multiple of it, and an allocation aligned to it. */
#define CR__GF_VEC 64

static inline size_t cr__gf_pad(size_t len)
{
	return (len + CR__GF_VEC - 1) & ~(size_t)(CR__GF_VEC - 1);
}

/* The distance between rows of len bytes: padded to 64, and an odd
 * multiple of 64.  Rows a large power of two apart (blocks of 4 KiB and
 * up, one after the other) fall into the same few sets of the L1 cache,
 * and a dot product that streams k of them at once loses 30% to 40% of its
 * speed to conflict misses (bench/README.md); at an odd multiple of 64
 * bytes apart, 64 rows in a row start in 64 different sets. */
static inline size_t cr__gf_stride(size_t len)
{
	size_t s = cr__gf_pad(len);

	return (s / CR__GF_VEC) % 2 ? s : s + CR__GF_VEC;
}

/* c x x, with c's 32-byte table. */
static inline uint8_t cr__gf_tmul(const uint8_t *tbl, uint8_t x)
{
	return tbl[x & 15] ^ tbl[16 + (x >> 4)];
}

/* Dot product: dest[0, len) = sum over j < n of c_j x src[j][0, len), the
 * tables made by ec_init_tables(n, 1, c, tbls).  n may be 0 (dest zeroed);
 * dest must not overlap a source. */
void cr__gf_dot(size_t len, uint32_t n, uint8_t *tbls, uint8_t **src,
		uint8_t *dest);

/* Multiply-add into many: dest[r][0, len) ^= c_r x src[0, len) for each
 * r < n, the tables made by ec_init_tables(1, n, c, tbls). */
void cr__gf_mad(size_t len, uint32_t n, uint8_t *tbls, uint8_t *src,
		uint8_t **dest);

/* Call after the vector routines, before returning to the caller: clears
 * the upper halves of the vector registers they leave dirty. */
void cr__gf_done(void);

/* n random coefficients, not all zero. */
void cr__gf_draw(cr_rand *rng, uint8_t *c, uint32_t n);

#endif
