/* GF(2^8) vector routines for network coding: ISA-L on the spans it does
 * well, plain tables on the rest.
 *
 * ISA-L's dispatched routines pick AVX-512, AVX2, AVX or SSE at run time.
 * Two things about them shape this file:
 *
 * - Lengths.  The dispatched gf_vect_mad and gf_vect_dot_prod check no
 *   minimum length: on an AVX-512 machine gf_vect_mad gives wrong results
 *   at every length from 1 to 63, and gf_vect_dot_prod at 31 lengths under
 *   64 (measured against their _base versions).  ec_encode_data and
 *   ec_encode_data_update do check, and fall back to ISA-L's _base C code
 *   below 64 bytes (16 or 32 on older CPUs), a slow loop of log-table
 *   look-ups.  So this file calls only those two, and hands them only the
 *   largest multiple of 64 bytes of a span, never less than 64; the tail
 *   (under 64 bytes) is done here, with the same 32-byte tables, a byte at
 *   a time.  The decoder's rows are padded to 64 bytes, so its long spans
 *   have no tail at all; the tails are those of the caller's buffers (a
 *   coded block's k coefficients and size payload bytes).
 *
 * - The upper halves of the vector registers.  The libisal 2.30 of Debian
 *   12 (no GFNI code yet) dispatches ec_encode_data, gf_vect_dot_prod,
 *   gf_vect_mad and ec_encode_data_update to their _avx512 versions on a
 *   CPU with AVX-512, and none of its routines executes vzeroupper
 *   (objdump -d libisal.so.2 has not one): they return with the upper
 *   state of the ymm/zmm registers dirty, and the caller's next SSE code
 *   (glibc's string functions, the compiler's own) pays the SSE/AVX
 *   transition penalty, or a false dependency on the upper halves, until
 *   something clears it.  cr__gf_done() executes vzeroupper once at the
 *   end of every public call that used them, on a CPU with AVX (without
 *   AVX ISA-L ran SSE code and there is nothing to clear; the instruction
 *   would fault).  It is one cycle.
 */
#include "coding-int.h"

#include <isa-l/erasure_code.h>

#include <string.h>

/* The tail of a dot product: bytes [from, len). */
static void dot_tail(size_t from, size_t len, uint32_t n, const uint8_t *tbls,
		     uint8_t *const *src, uint8_t *dest)
{
	size_t i;
	uint32_t j;
	uint8_t s;

	for (i = from; i < len; i++) {
		s = 0;
		for (j = 0; j < n; j++)
			s ^= cr__gf_tmul(tbls + 32 * (size_t)j, src[j][i]);
		dest[i] = s;
	}
}

void cr__gf_dot(size_t len, uint32_t n, uint8_t *tbls, uint8_t **src,
		uint8_t *dest)
{
	size_t vlen = len & ~(size_t)(CR__GF_VEC - 1);

	if (!n) {
		memset(dest, 0, len);
		return;
	}
	if (vlen)
		ec_encode_data((int)vlen, (int)n, 1, tbls, src, &dest);
	dot_tail(vlen, len, n, tbls, src, dest);
}

void cr__gf_mad(size_t len, uint32_t n, uint8_t *tbls, uint8_t *src,
		uint8_t **dest)
{
	size_t vlen = len & ~(size_t)(CR__GF_VEC - 1);
	size_t i;
	uint32_t r;
	const uint8_t *t;

	if (!n)
		return;
	if (vlen)
		ec_encode_data_update((int)vlen, 1, (int)n, 0, tbls, src, dest);
	for (r = 0; r < n; r++) {
		t = tbls + 32 * (size_t)r;
		for (i = vlen; i < len; i++)
			dest[r][i] ^= cr__gf_tmul(t, src[i]);
	}
}

void cr__gf_done(void)
{
#if defined(__x86_64__) || defined(__i386__)
	if (__builtin_cpu_supports("avx"))
		__asm__ volatile("vzeroupper" ::: "memory");
#endif
}

void cr__gf_draw(cr_rand *rng, uint8_t *c, uint32_t n)
{
	uint32_t i;

	for (;;) {
		cr_rand_fill(rng, c, n);
		for (i = 0; i < n; i++)
			if (c[i])
				return;
	}
}
