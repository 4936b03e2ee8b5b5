/* Network coding over GF(2^8) (include/crystal/coding.h, src/stream/coding*.c).
 *
 * Everything is checked against a plain reference field written here (log
 * and exp tables of the polynomial 0x11d, generator 2), never against the
 * code under test: ISA-L's field itself; the vector routines (dot product,
 * multiply-add into many rows) byte for byte at every length from 1 to 200
 * and several long ones, so the short lengths and tails ISA-L gets wrong
 * are covered; the encoder at k = 1, 2, 3, 16, 64, 255 and 256.  Then the
 * decoder: exact recovery from k innovative blocks in random order,
 * dependent blocks (a copy, a sum, a multiple, the zero vector) reported at
 * once and changing nothing, recoding along a chain source -> A (rank < k)
 * -> B, every recoded block checked against the source; the wire form
 * byte for byte and every class of bad input; every bad argument.
 */
#include "../src/stream/coding-int.h"
#include "support.h"

#include <isa-l/erasure_code.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* --- the reference field ----------------------------------------------- */

static uint8_t gexp[512];
static uint8_t glog[256];

static void ref_init(void)
{
	unsigned x = 1, i;

	for (i = 0; i < 255; i++) {
		gexp[i] = (uint8_t)x;
		glog[x] = (uint8_t)i;
		x <<= 1;
		if (x & 0x100)
			x ^= 0x11d;
	}
	for (i = 255; i < 512; i++)
		gexp[i] = gexp[i - 255];
}

static uint8_t ref_mul(uint8_t a, uint8_t b)
{
	if (!a || !b)
		return 0;
	return gexp[glog[a] + glog[b]];
}

/* dest = sum of c[j] x src[j], len bytes */
static void ref_dot(size_t len, uint32_t n, const uint8_t *c,
		    uint8_t *const *src, uint8_t *dest)
{
	size_t i;
	uint32_t j;

	memset(dest, 0, len);
	for (j = 0; j < n; j++)
		for (i = 0; i < len; i++)
			dest[i] ^= ref_mul(c[j], src[j][i]);
}

static int setup(void **state)
{
	ref_init();
	return 0;
}

static cr_rand rng_of(uint64_t seed)
{
	cr_rand r;

	cr_rand_seed(&r, seed);
	return r;
}

/* The lengths every vector routine is checked at. */
static const size_t long_lens[] = {255, 256, 257, 511, 1000, 4095, 4096, 4097, 65549};

static size_t nth_len(size_t i)
{
	return i < 200 ? i + 1 : long_lens[i - 200];
}

#define NLENS (200 + sizeof(long_lens) / sizeof(long_lens[0]))

/* --- the field and the vector routines --------------------------------- */

static void field_is_isal(void **state)
{
	uint8_t t[32];
	unsigned a, b;

	for (a = 0; a < 256; a++) {
		gf_vect_mul_init((uint8_t)a, t);
		for (b = 0; b < 256; b++) {
			assert_int_equal(gf_mul((uint8_t)a, (uint8_t)b),
					 ref_mul((uint8_t)a, (uint8_t)b));
			assert_int_equal(cr__gf_tmul(t, (uint8_t)b),
					 ref_mul((uint8_t)a, (uint8_t)b));
		}
		if (a)
			assert_int_equal(ref_mul((uint8_t)a, gf_inv((uint8_t)a)), 1);
	}
}

/* n sources of len bytes, each its own allocation of exactly len bytes
 * (plus an offset of 0 to 3 bytes: nothing may assume alignment). */
static uint8_t **sources(cr_rand *r, uint32_t n, size_t len, uint8_t **base)
{
	uint8_t **src = malloc(n * sizeof(*src));
	uint32_t j;

	assert_non_null(src);
	for (j = 0; j < n; j++) {
		size_t off = j % 4;

		base[j] = malloc(len + off);
		assert_non_null(base[j]);
		src[j] = base[j] + off;
		cr_rand_fill(r, src[j], len);
	}
	return src;
}

static void free_sources(uint32_t n, uint8_t **src, uint8_t **base)
{
	uint32_t j;

	for (j = 0; j < n; j++)
		free(base[j]);
	free(src);
}

static void dot_one(cr_rand *r, uint32_t n, size_t len)
{
	uint8_t *base[257], **src, c[257], tbls[32 * 257];
	uint8_t *got = malloc(len + 64), *want = malloc(len);
	size_t i;

	assert_true(n <= 257 && got && want);
	src = sources(r, n, len, base);
	cr_rand_fill(r, c, n);
	c[0] |= 1; /* and some zero coefficients among the rest */
	memset(got, 0xa5, len + 64);
	ec_init_tables((int)n, 1, c, tbls);
	cr__gf_dot(len, n, tbls, src, got);
	cr__gf_done();
	ref_dot(len, n, c, src, want);
	assert_memory_equal(got, want, len);
	for (i = len; i < len + 64; i++)
		assert_int_equal(got[i], 0xa5); /* nothing written past len */
	free_sources(n, src, base);
	free(got);
	free(want);
}

static void dot_every_length(void **state)
{
	static const uint32_t ns[] = {1, 2, 3, 16, 64, 255, 256, 257};
	cr_rand r = rng_of(1);
	size_t i, j;

	for (j = 0; j < sizeof(ns) / sizeof(ns[0]); j++)
		for (i = 0; i < NLENS; i++)
			dot_one(&r, ns[j], nth_len(i));
}

static void mad_one(cr_rand *r, uint32_t n, size_t len)
{
	uint8_t *base[16], **dst, *want[16], c[16], tbls[32 * 16];
	uint8_t *src = malloc(len);
	size_t i;
	uint32_t j;

	assert_true(n <= 16 && src);
	cr_rand_fill(r, src, len);
	cr_rand_fill(r, c, n);
	dst = sources(r, n, len, base);
	for (j = 0; j < n; j++) {
		want[j] = malloc(len);
		assert_non_null(want[j]);
		for (i = 0; i < len; i++)
			want[j][i] = dst[j][i] ^ ref_mul(c[j], src[i]);
	}
	ec_init_tables(1, (int)n, c, tbls);
	cr__gf_mad(len, n, tbls, src, dst);
	cr__gf_done();
	for (j = 0; j < n; j++) {
		assert_memory_equal(dst[j], want[j], len);
		free(want[j]);
	}
	free_sources(n, dst, base);
	free(src);
}

static void mad_every_length(void **state)
{
	/* ISA-L updates six rows a pass: fewer, exactly six, and a remainder */
	static const uint32_t ns[] = {1, 2, 5, 6, 7, 13};
	cr_rand r = rng_of(2);
	size_t i, j;

	for (j = 0; j < sizeof(ns) / sizeof(ns[0]); j++)
		for (i = 0; i < NLENS; i++)
			mad_one(&r, ns[j], nth_len(i));
}

/* --- the encoder --------------------------------------------------------- */

/* A segment of k blocks of size bytes, random. */
static uint8_t *segment(cr_rand *r, uint32_t k, uint32_t size)
{
	uint8_t *s = malloc((size_t)k * size);

	assert_non_null(s);
	cr_rand_fill(r, s, (size_t)k * size);
	return s;
}

/* payload == sum of coeffs[i] x block i of seg, by the reference */
static void assert_combination(const uint8_t *seg, uint32_t k, uint32_t size,
			       const uint8_t *coeffs, const uint8_t *payload)
{
	uint8_t *want = calloc(1, size);
	uint32_t i, b;

	assert_non_null(want);
	for (b = 0; b < k; b++)
		for (i = 0; i < size; i++)
			want[i] ^= ref_mul(coeffs[b], seg[(size_t)b * size + i]);
	assert_memory_equal(payload, want, size);
	free(want);
}

static bool all_zero(const uint8_t *v, size_t n)
{
	while (n--)
		if (*v++)
			return false;
	return true;
}

static void encode_one(cr_rand *r, uint32_t k, uint32_t size)
{
	cr_encoder *e;
	uint8_t *seg = segment(r, k, size), c[CR_CODE_MAX_K];
	uint8_t *pay = malloc(size + 64);
	int i;

	assert_non_null(pay);
	assert_int_equal(cr_encoder_new(k, size, &e), 0);
	assert_int_equal(cr_encoder_k(e), k);
	assert_int_equal(cr_encoder_size(e), size);
	assert_int_equal(cr_encoder_load(e, seg, (size_t)k * size), 0);
	for (i = 0; i < 2; i++) {
		memset(pay + size, 0x5a, 64);
		assert_int_equal(cr_encoder_encode(e, r, c, pay), 0);
		assert_false(all_zero(c, k));
		assert_combination(seg, k, size, c, pay);
		assert_int_equal(pay[size], 0x5a); /* nothing past size */
		assert_int_equal(pay[size + 63], 0x5a);
	}
	cr_encoder_free(e);
	free(seg);
	free(pay);
}

static void encode_matches_reference(void **state)
{
	static const uint32_t ks[] = {1, 2, 3, 16, 64, 255, CR_CODE_MAX_K};
	cr_rand r = rng_of(3);
	size_t i, j;

	for (j = 0; j < sizeof(ks) / sizeof(ks[0]); j++)
		for (i = 0; i < NLENS; i++)
			if (nth_len(i) <= 4097 || ks[j] <= 64)
				encode_one(&r, ks[j], (uint32_t)nth_len(i));
}

static void encode_never_zero(void **state)
{
	cr_rand r = rng_of(4);
	cr_encoder *e;
	uint8_t c[2], p[8];
	int i;

	/* with k = 1, a zero coefficient would come once in 256 draws */
	assert_int_equal(cr_encoder_new(1, 8, &e), 0);
	for (i = 0; i < 20000; i++) {
		assert_int_equal(cr_encoder_encode(e, &r, c, p), 0);
		assert_int_not_equal(c[0], 0);
	}
	cr_encoder_free(e);
}

static void encode_set_and_pad(void **state)
{
	cr_rand r = rng_of(5);
	cr_encoder *e;
	uint8_t seg[3 * 10] = {0}, c[3], p[10];
	int i;

	/* a short block is padded with zeros, here and by load */
	assert_int_equal(cr_encoder_new(3, 10, &e), 0);
	cr_rand_fill(&r, seg, 27);
	assert_int_equal(cr_encoder_set(e, 0, seg, 10), 0);
	assert_int_equal(cr_encoder_set(e, 1, seg + 10, 10), 0);
	assert_int_equal(cr_encoder_set(e, 2, seg + 20, 7), 0);
	for (i = 0; i < 5; i++) {
		assert_int_equal(cr_encoder_encode(e, &r, c, p), 0);
		assert_combination(seg, 3, 10, c, p);
	}
	memset(seg + 15, 0, 15);
	assert_int_equal(cr_encoder_load(e, seg, 15), 0);
	for (i = 0; i < 5; i++) {
		assert_int_equal(cr_encoder_encode(e, &r, c, p), 0);
		assert_combination(seg, 3, 10, c, p);
	}
	cr_encoder_free(e);
}

/* --- the decoder --------------------------------------------------------- */

struct blk {
	uint8_t *c, *p;
};

static struct blk blk_new(uint32_t k, uint32_t size)
{
	struct blk b = {malloc(k), malloc(size)};

	assert_true(b.c && b.p);
	return b;
}

static void blk_free(struct blk *b)
{
	free(b->c);
	free(b->p);
}

static void assert_decoded(const cr_decoder *d, const uint8_t *seg, uint32_t k,
			   uint32_t size)
{
	uint8_t *out = malloc((size_t)k * size);
	uint32_t i;

	assert_true(cr_decoder_done(d));
	assert_int_equal(cr_decoder_rank(d), k);
	for (i = 0; i < k; i++)
		assert_memory_equal(cr_decoder_block(d, i), seg + (size_t)i * size, size);
	assert_null(cr_decoder_block(d, k));
	assert_int_equal(cr_decoder_read(d, out, (size_t)k * size), 0);
	assert_memory_equal(out, seg, (size_t)k * size);
	free(out);
}

/* k innovative coded blocks (those a first decoder found innovative),
 * shuffled, to a second decoder: every one is innovative there too, and
 * the segment comes back exactly. */
static void decode_one(cr_rand *r, uint32_t k, uint32_t size)
{
	uint8_t *seg = segment(r, k, size);
	struct blk *b = calloc(k, sizeof(*b)), t;
	cr_encoder *e;
	cr_decoder *a, *d;
	uint32_t n = 0, i, j, tries = 0;
	int ret;

	assert_int_equal(cr_encoder_new(k, size, &e), 0);
	assert_int_equal(cr_decoder_new(k, size, &a), 0);
	assert_int_equal(cr_decoder_new(k, size, &d), 0);
	assert_int_equal(cr_encoder_load(e, seg, (size_t)k * size), 0);
	while (n < k) {
		assert_true(++tries < k + 20);
		b[n] = blk_new(k, size);
		assert_int_equal(cr_encoder_encode(e, r, b[n].c, b[n].p), 0);
		ret = cr_decoder_add(a, b[n].c, b[n].p);
		assert_true(ret == CR_CODE_INNOVATIVE || ret == CR_CODE_DEPENDENT);
		if (ret == CR_CODE_INNOVATIVE)
			n++;
		else
			blk_free(&b[n]);
		assert_int_equal(cr_decoder_rank(a), n);
	}
	assert_decoded(a, seg, k, size);
	for (i = k - 1; i > 0; i--) {
		j = cr_rand_below(r, i + 1);
		t = b[i], b[i] = b[j], b[j] = t;
	}
	for (i = 0; i < k; i++) {
		assert_false(cr_decoder_done(d));
		assert_null(cr_decoder_block(d, 0));
		assert_int_equal(cr_decoder_add(d, b[i].c, b[i].p), CR_CODE_INNOVATIVE);
		assert_int_equal(cr_decoder_rank(d), i + 1);
	}
	assert_decoded(d, seg, k, size);
	/* at full rank, anything is dependent */
	assert_int_equal(cr_decoder_add(d, b[0].c, b[0].p), CR_CODE_DEPENDENT);
	for (i = 0; i < k; i++)
		blk_free(&b[i]);
	free(b);
	cr_decoder_free(a);
	cr_decoder_free(d);
	cr_encoder_free(e);
	free(seg);
}

static void decode_random_order(void **state)
{
	static const uint32_t ks[] = {1, 2, 3, 16, 64, 255, CR_CODE_MAX_K};
	static const uint32_t sizes[] = {1, 2, 63, 64, 65, 200, 1000, 4096};
	cr_rand r = rng_of(6);
	size_t i, j;

	for (j = 0; j < sizeof(ks) / sizeof(ks[0]); j++)
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			decode_one(&r, ks[j], sizes[i]);
}

/* The source blocks themselves (unit vectors), in random order. */
static void decode_systematic(void **state)
{
	const uint32_t k = 40, size = 333;
	cr_rand r = rng_of(7);
	uint8_t *seg = segment(&r, k, size), c[40];
	uint32_t order[40], i, j, t;
	cr_decoder *d;

	assert_int_equal(cr_decoder_new(k, size, &d), 0);
	for (i = 0; i < k; i++)
		order[i] = i;
	for (i = k - 1; i > 0; i--) {
		j = cr_rand_below(&r, i + 1);
		t = order[i], order[i] = order[j], order[j] = t;
	}
	for (i = 0; i < k; i++) {
		memset(c, 0, k);
		c[order[i]] = 1;
		assert_int_equal(cr_decoder_add(d, c, seg + (size_t)order[i] * size),
				 CR_CODE_INNOVATIVE);
	}
	assert_decoded(d, seg, k, size);
	cr_decoder_free(d);
	free(seg);
}

/* Two decoders hold the same rows: the same recoding draws give the same
 * bytes. */
static void assert_same_state(cr_decoder *x, cr_decoder *y, uint32_t k,
			      uint32_t size)
{
	cr_rand rx = rng_of(99), ry = rng_of(99);
	struct blk a = blk_new(k, size), b = blk_new(k, size);
	int i;

	assert_int_equal(cr_decoder_rank(x), cr_decoder_rank(y));
	for (i = 0; i < 3; i++) {
		assert_int_equal(cr_decoder_recode(x, &rx, a.c, a.p), 0);
		assert_int_equal(cr_decoder_recode(y, &ry, b.c, b.p), 0);
		assert_memory_equal(a.c, b.c, k);
		assert_memory_equal(a.p, b.p, size);
	}
	blk_free(&a);
	blk_free(&b);
}

static void dependent_reported(void **state)
{
	const uint32_t k = 16, size = 100;
	cr_rand r = rng_of(8);
	uint8_t *seg = segment(&r, k, size);
	struct blk b[6], x = blk_new(k, size);
	cr_encoder *e;
	cr_decoder *d, *twin;
	uint32_t i, j;

	assert_int_equal(cr_encoder_new(k, size, &e), 0);
	assert_int_equal(cr_decoder_new(k, size, &d), 0);
	assert_int_equal(cr_decoder_new(k, size, &twin), 0);
	cr_encoder_load(e, seg, (size_t)k * size);
	for (i = 0; i < 6; i++) {
		b[i] = blk_new(k, size);
		cr_encoder_encode(e, &r, b[i].c, b[i].p);
		assert_int_equal(cr_decoder_add(d, b[i].c, b[i].p), CR_CODE_INNOVATIVE);
		assert_int_equal(cr_decoder_add(twin, b[i].c, b[i].p), CR_CODE_INNOVATIVE);
	}
	/* a copy */
	assert_int_equal(cr_decoder_add(d, b[2].c, b[2].p), CR_CODE_DEPENDENT);
	/* the sum of two */
	for (i = 0; i < k; i++)
		x.c[i] = b[1].c[i] ^ b[4].c[i];
	for (i = 0; i < size; i++)
		x.p[i] = b[1].p[i] ^ b[4].p[i];
	assert_int_equal(cr_decoder_add(d, x.c, x.p), CR_CODE_DEPENDENT);
	/* a multiple of one */
	for (i = 0; i < k; i++)
		x.c[i] = ref_mul(0x53, b[3].c[i]);
	for (i = 0; i < size; i++)
		x.p[i] = ref_mul(0x53, b[3].p[i]);
	assert_int_equal(cr_decoder_add(d, x.c, x.p), CR_CODE_DEPENDENT);
	/* a combination of all six */
	memset(x.c, 0, k);
	memset(x.p, 0, size);
	for (j = 0; j < 6; j++) {
		for (i = 0; i < k; i++)
			x.c[i] ^= ref_mul((uint8_t)(j + 7), b[j].c[i]);
		for (i = 0; i < size; i++)
			x.p[i] ^= ref_mul((uint8_t)(j + 7), b[j].p[i]);
	}
	assert_int_equal(cr_decoder_add(d, x.c, x.p), CR_CODE_DEPENDENT);
	/* the zero vector, whatever its payload */
	memset(x.c, 0, k);
	cr_rand_fill(&r, x.p, size);
	assert_int_equal(cr_decoder_add(d, x.c, x.p), CR_CODE_DEPENDENT);
	assert_int_equal(cr_decoder_rank(d), 6);
	/* nothing changed: the same rows as a decoder that saw none of them */
	assert_same_state(d, twin, k, size);
	/* and it still decodes */
	while (!cr_decoder_done(d)) {
		cr_encoder_encode(e, &r, x.c, x.p);
		cr_decoder_add(d, x.c, x.p);
	}
	assert_decoded(d, seg, k, size);
	for (i = 0; i < 6; i++)
		blk_free(&b[i]);
	blk_free(&x);
	cr_decoder_free(d);
	cr_decoder_free(twin);
	cr_encoder_free(e);
	free(seg);
}

/* source -> A (rank m < k) -> B, then the source's own blocks to B. */
static void recode_chain_one(cr_rand *r, uint32_t k, uint32_t size, uint32_t m)
{
	uint8_t *seg = segment(r, k, size);
	struct blk x = blk_new(k, size);
	cr_encoder *e;
	cr_decoder *a, *b;
	uint32_t i, direct = 0;

	assert_int_equal(cr_encoder_new(k, size, &e), 0);
	assert_int_equal(cr_decoder_new(k, size, &a), 0);
	assert_int_equal(cr_decoder_new(k, size, &b), 0);
	cr_encoder_load(e, seg, (size_t)k * size);
	assert_int_equal(cr_decoder_recode(a, r, x.c, x.p), -CR_ESTATE);
	while (cr_decoder_rank(a) < m) {
		cr_encoder_encode(e, r, x.c, x.p);
		cr_decoder_add(a, x.c, x.p);
	}
	/* A's blocks: never zero, and true combinations of the source */
	for (i = 0; i < 2 * m + 4; i++) {
		assert_int_equal(cr_decoder_recode(a, r, x.c, x.p), 0);
		assert_false(all_zero(x.c, k));
		assert_combination(seg, k, size, x.c, x.p);
		cr_decoder_add(b, x.c, x.p);
		assert_true(cr_decoder_rank(b) <= m);
	}
	assert_int_equal(cr_decoder_rank(b), m); /* and they span A's rows */
	/* B recodes from its partial rank too, and the source fills it up */
	assert_int_equal(cr_decoder_recode(b, r, x.c, x.p), 0);
	assert_combination(seg, k, size, x.c, x.p);
	while (!cr_decoder_done(b)) {
		assert_true(++direct < k - m + 20);
		cr_encoder_encode(e, r, x.c, x.p);
		cr_decoder_add(b, x.c, x.p);
	}
	assert_decoded(b, seg, k, size);
	/* at full rank, recoding is encoding */
	assert_int_equal(cr_decoder_recode(b, r, x.c, x.p), 0);
	assert_combination(seg, k, size, x.c, x.p);
	blk_free(&x);
	cr_decoder_free(a);
	cr_decoder_free(b);
	cr_encoder_free(e);
	free(seg);
}

static void recode_chain(void **state)
{
	cr_rand r = rng_of(9);

	recode_chain_one(&r, 32, 1000, 20);
	recode_chain_one(&r, 32, 1000, 1);
	recode_chain_one(&r, 64, 4096, 63);
	recode_chain_one(&r, 3, 7, 2);
	recode_chain_one(&r, 255, 130, 100);
}

static void decoder_reset_and_read(void **state)
{
	const uint32_t k = 10, size = 77;
	cr_rand r = rng_of(10);
	struct blk x = blk_new(k, size);
	uint8_t *seg, out[10 * 77];
	cr_encoder *e;
	cr_decoder *d;
	int round;

	assert_int_equal(cr_encoder_new(k, size, &e), 0);
	assert_int_equal(cr_decoder_new(k, size, &d), 0);
	for (round = 0; round < 3; round++) {
		/* a segment that ends 37 bytes short of k x size */
		seg = segment(&r, k, size);
		memset(seg + k * size - 37, 0, 37);
		assert_int_equal(cr_encoder_load(e, seg, k * size - 37), 0);
		assert_int_equal(cr_decoder_rank(d), 0);
		assert_int_equal(cr_decoder_read(d, out, 1), -CR_ESTATE);
		while (!cr_decoder_done(d)) {
			cr_encoder_encode(e, &r, x.c, x.p);
			cr_decoder_add(d, x.c, x.p);
		}
		memset(out, 0xee, sizeof(out));
		assert_int_equal(cr_decoder_read(d, out, k * size - 37), 0);
		assert_memory_equal(out, seg, k * size - 37);
		assert_int_equal(out[k * size - 37], 0xee);
		assert_decoded(d, seg, k, size);
		cr_decoder_reset(d);
		assert_false(cr_decoder_done(d));
		assert_null(cr_decoder_block(d, 0));
		free(seg);
	}
	blk_free(&x);
	cr_decoder_free(d);
	cr_encoder_free(e);
}

/* --- the wire form and bad arguments ----------------------------------- */

static void coded_wire(void **state)
{
	static const uint8_t want[] = {0x01, 0x02, 0x00, 0x03, 0xde, 0xad, 0xbe, 0xef,
				       0x00, 0x00, 0x00, 0x05, 7, 8, 9, 1, 2, 3, 4, 5};
	uint8_t buf[64], *c, *p;
	cr_coded_hdr h, keep;
	size_t n;

	memset(buf, 0, sizeof(buf));
	assert_int_equal(cr_coded_len(3, 5), 20);
	assert_int_equal(cr_coded_put(buf, 20, 0x0102, 0xdeadbeef, 3, 5, &c, &p), 20);
	assert_ptr_equal(c, buf + 12);
	assert_ptr_equal(p, buf + 15);
	memcpy(c, "\x07\x08\x09", 3);
	memcpy(p, "\x01\x02\x03\x04\x05", 5);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(cr_coded_get(buf, 20, &h), 0);
	assert_int_equal(h.session, 0x0102);
	assert_int_equal(h.k, 3);
	assert_int_equal(h.segment, 0xdeadbeef);
	assert_int_equal(h.size, 5);
	assert_ptr_equal(h.coeffs, buf + 12);
	assert_ptr_equal(h.payload, buf + 15);

	/* truncated anywhere, or followed by anything: refused, out untouched */
	memset(&keep, 0x77, sizeof(keep));
	for (n = 0; n < sizeof(buf); n++) {
		if (n == 20)
			continue;
		h = keep;
		assert_int_equal(cr_coded_get(buf, n, &h), -CR_EINVAL);
		assert_memory_equal(&h, &keep, sizeof(h));
	}
	/* k or size out of range, or not what the length says */
	buf[3] = 0;
	assert_int_equal(cr_coded_get(buf, 17, &h), -CR_EINVAL); /* k = 0 */
	buf[2] = 1, buf[3] = 1;
	assert_int_equal(cr_coded_get(buf, 12 + 257 + 5, &h), -CR_EINVAL);
	buf[2] = 0, buf[3] = 3, buf[11] = 0;
	assert_int_equal(cr_coded_get(buf, 15, &h), -CR_EINVAL); /* size = 0 */
	buf[11] = 4;
	assert_int_equal(cr_coded_get(buf, 20, &h), -CR_EINVAL); /* says 19 */
	buf[8] = 0x7f;
	assert_int_equal(cr_coded_get(buf, 20, &h), -CR_EINVAL); /* 2 GB */
	assert_int_equal(cr_coded_get(NULL, 20, &h), -CR_EINVAL);

	/* writing: short buffers, bad shapes */
	assert_int_equal(cr_coded_put(buf, 19, 1, 1, 3, 5, NULL, NULL), -CR_EMSGSIZE);
	assert_int_equal(cr_coded_put(buf, 64, 1, 1, 0, 5, NULL, NULL), -CR_EINVAL);
	assert_int_equal(cr_coded_put(buf, 64, 1, 1, 257, 5, NULL, NULL), -CR_EINVAL);
	assert_int_equal(cr_coded_put(buf, 64, 1, 1, 3, 0, NULL, NULL), -CR_EINVAL);
	assert_int_equal(cr_coded_put(buf, SIZE_MAX, 1, 1, 3, CR_CODE_MAX_SIZE + 1, NULL, NULL),
			 -CR_EINVAL);
	assert_int_equal(cr_coded_put(NULL, 64, 1, 1, 3, 5, NULL, NULL), -CR_EINVAL);
}

/* A coded block made in place in a message buffer and read back. */
static void coded_in_place(void **state)
{
	const uint32_t k = 20, size = 300;
	cr_rand r = rng_of(11);
	uint8_t *seg = segment(&r, k, size), *buf = malloc(cr_coded_len(k, size));
	uint8_t *c, *p;
	cr_encoder *e;
	cr_decoder *d;
	cr_coded_hdr h;

	assert_int_equal(cr_encoder_new(k, size, &e), 0);
	assert_int_equal(cr_decoder_new(k, size, &d), 0);
	cr_encoder_load(e, seg, (size_t)k * size);
	while (!cr_decoder_done(d)) {
		assert_int_equal(cr_coded_put(buf, cr_coded_len(k, size), 9, 42, k, size, &c, &p),
				 (int)cr_coded_len(k, size));
		assert_int_equal(cr_encoder_encode(e, &r, c, p), 0);
		assert_int_equal(cr_coded_get(buf, cr_coded_len(k, size), &h), 0);
		assert_true(h.k == k && h.size == size && h.segment == 42 && h.session == 9);
		assert_true(cr_decoder_add_coded(d, &h) >= 0);
	}
	assert_decoded(d, seg, k, size);
	/* a block of another shape is refused, not read past its end */
	cr_decoder_reset(d);
	h.k = k - 1;
	assert_int_equal(cr_decoder_add_coded(d, &h), -CR_EINVAL);
	h.k = k, h.size = size + 1;
	assert_int_equal(cr_decoder_add_coded(d, &h), -CR_EINVAL);
	assert_int_equal(cr_decoder_add_coded(d, NULL), -CR_EINVAL);
	assert_int_equal(cr_decoder_rank(d), 0);
	cr_decoder_free(d);
	cr_encoder_free(e);
	free(buf);
	free(seg);
}

static void bad_arguments(void **state)
{
	cr_rand r = rng_of(12);
	cr_encoder *e = NULL;
	cr_decoder *d = NULL;
	uint8_t c[4], p[8], big[64];

	assert_int_equal(cr_encoder_new(0, 8, &e), -CR_EINVAL);
	assert_int_equal(cr_encoder_new(CR_CODE_MAX_K + 1, 8, &e), -CR_EINVAL);
	assert_int_equal(cr_encoder_new(4, 0, &e), -CR_EINVAL);
	assert_int_equal(cr_encoder_new(4, CR_CODE_MAX_SIZE + 1, &e), -CR_EINVAL);
	assert_int_equal(cr_encoder_new(4, 8, NULL), -CR_EINVAL);
	assert_null(e);
	assert_int_equal(cr_decoder_new(0, 8, &d), -CR_EINVAL);
	assert_int_equal(cr_decoder_new(CR_CODE_MAX_K + 1, 8, &d), -CR_EINVAL);
	assert_int_equal(cr_decoder_new(4, 0, &d), -CR_EINVAL);
	assert_int_equal(cr_decoder_new(4, CR_CODE_MAX_SIZE + 1, &d), -CR_EINVAL);
	assert_int_equal(cr_decoder_new(4, 8, NULL), -CR_EINVAL);
	assert_null(d);

	/* the limits themselves are accepted */
	assert_int_equal(cr_encoder_new(CR_CODE_MAX_K, 1, &e), 0);
	cr_encoder_free(e);
	assert_int_equal(cr_encoder_new(1, CR_CODE_MAX_SIZE, &e), 0);
	cr_encoder_free(e);
	assert_int_equal(cr_decoder_new(CR_CODE_MAX_K, 1, &d), 0);
	cr_decoder_free(d);
	assert_int_equal(cr_decoder_new(1, CR_CODE_MAX_SIZE, &d), 0);
	cr_decoder_free(d);

	assert_int_equal(cr_encoder_new(4, 8, &e), 0);
	assert_int_equal(cr_encoder_set(e, 4, p, 8), -CR_EINVAL);
	assert_int_equal(cr_encoder_set(e, 0, p, 9), -CR_EINVAL);
	assert_int_equal(cr_encoder_set(e, 0, NULL, 1), -CR_EINVAL);
	assert_int_equal(cr_encoder_set(e, 0, NULL, 0), 0);
	assert_int_equal(cr_encoder_load(e, big, 33), -CR_EINVAL);
	assert_int_equal(cr_encoder_load(e, NULL, 3), -CR_EINVAL);
	assert_int_equal(cr_encoder_encode(e, NULL, c, p), -CR_EINVAL);
	assert_int_equal(cr_encoder_encode(e, &r, NULL, p), -CR_EINVAL);
	assert_int_equal(cr_encoder_encode(e, &r, c, NULL), -CR_EINVAL);
	assert_int_equal(cr_encoder_encode(NULL, &r, c, p), -CR_EINVAL);

	assert_int_equal(cr_decoder_new(4, 8, &d), 0);
	assert_int_equal(cr_decoder_add(d, NULL, p), -CR_EINVAL);
	assert_int_equal(cr_decoder_add(d, c, NULL), -CR_EINVAL);
	assert_int_equal(cr_decoder_add(NULL, c, p), -CR_EINVAL);
	assert_int_equal(cr_decoder_recode(d, &r, c, p), -CR_ESTATE);
	assert_int_equal(cr_decoder_read(d, big, 8), -CR_ESTATE);
	assert_int_equal(cr_decoder_read(d, big, 33), -CR_EINVAL);
	assert_null(cr_decoder_block(d, 0));
	cr_encoder_encode(e, &r, c, p);
	assert_int_equal(cr_decoder_add(d, c, p), CR_CODE_INNOVATIVE);
	assert_int_equal(cr_decoder_recode(d, NULL, c, p), -CR_EINVAL);
	assert_int_equal(cr_decoder_recode(d, &r, NULL, p), -CR_EINVAL);
	assert_int_equal(cr_decoder_recode(d, &r, c, NULL), -CR_EINVAL);
	assert_int_equal(cr_decoder_k(d), 4);
	assert_int_equal(cr_decoder_size(d), 8);
	assert_int_equal(cr_decoder_rank(NULL), 0);
	assert_false(cr_decoder_done(NULL));
	cr_decoder_free(d);
	cr_encoder_free(e);
	cr_encoder_free(NULL);
	cr_decoder_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(field_is_isal),
		cmocka_unit_test(dot_every_length),
		cmocka_unit_test(mad_every_length),
		cmocka_unit_test(encode_matches_reference),
		cmocka_unit_test(encode_never_zero),
		cmocka_unit_test(encode_set_and_pad),
		cmocka_unit_test(decode_random_order),
		cmocka_unit_test(decode_systematic),
		cmocka_unit_test(dependent_reported),
		cmocka_unit_test(recode_chain),
		cmocka_unit_test(decoder_reset_and_read),
		cmocka_unit_test(coded_wire),
		cmocka_unit_test(coded_in_place),
		cmocka_unit_test(bad_arguments),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
