/* Random linear network coding over GF(2^8): the encoder, the decoder and
 * the wire form of a coded block (include/crystal/coding.h).
 *
 * The decoder keeps its rows in reduced row echelon form, updated as each
 * block arrives (Gauss-Jordan):
 *
 *   - every row held has a pivot column where it is 1, and every other row
 *     held is 0 in that column;
 *   - so a new block's multiplier for row j is simply its coefficient at
 *     row j's pivot, all known before any arithmetic, and the block reduced
 *     against all rows is ONE dot product (the block and the rows, with
 *     those multipliers), not rank multiply-adds one after the other;
 *   - the coefficients are reduced first (k bytes): a block whose reduced
 *     coefficients are all zero is dependent, and is refused before its
 *     payload is touched;
 *   - otherwise its first non-zero column becomes its pivot; the payload
 *     dot product carries the multipliers scaled by the pivot's inverse, so
 *     the new row comes out normalised; then it is eliminated from the
 *     other rows in that column: one multi-row multiply-add (ISA-L's
 *     ec_encode_data_update, six rows per pass over the new row).
 *
 * At full rank every row is a unit vector: row_of[i]'s payload is source
 * block i, with nothing left to do.  A row is its coefficients padded to
 * 64 bytes, then its payload padded to 64 bytes; the padding stays zero
 * (every operation maps zeros to zeros), so the multiply-adds run over
 * whole rows with no tail.  Rows (and the encoder's blocks) are an odd
 * multiple of 64 bytes apart, cr__gf_stride(): blocks of 4 KiB back to
 * back cost a dot product over them 30% to 40% of its speed (cache set
 * conflicts; bench/README.md measures it).
 *
 * Recoding combines the rows held with random coefficients: rows of
 * reduced echelon form are independent, so a non-zero draw gives a
 * non-zero block, and its coefficients are over the source blocks.
 */
#include "coding-int.h"
#include "private.h"

#include <isa-l/erasure_code.h>

#include <stdlib.h>
#include <string.h>

#define NO_ROW UINT16_MAX

struct cr_encoder {
	uint32_t k, size;
	size_t stride;	 /* cr__gf_stride(size) */
	uint8_t *blocks; /* k x stride, 64-aligned */
	uint8_t *tbls;	 /* 32 x k: ISA-L's tables of one coded block */
	uint8_t **src;	 /* the k blocks, in ISA-L's form */
};

struct cr_decoder {
	uint32_t k, size, rank;
	size_t kpad;	  /* k rounded up to 64: a row's coefficient part */
	size_t span;	  /* kpad + size rounded up to 64: a row */
	size_t stride;	  /* cr__gf_stride(span): from a row to the next */
	uint8_t *rows;	  /* k x stride, 64-aligned; row r < rank held */
	uint8_t *cbuf;	  /* kpad bytes after the rows: a coefficient vector */
	uint16_t *pivot;  /* row r's pivot column */
	uint16_t *row_of; /* the row whose pivot is column c, or NO_ROW */
	uint8_t *coef;	  /* k + 1 multipliers */
	uint8_t *tbls;	  /* 32 x (k + 1) */
	uint8_t **src;	  /* k + 1 */
	uint8_t **dst;	  /* k */
};

static bool shape_ok(uint32_t k, uint32_t size)
{
	return k >= 1 && k <= CR_CODE_MAX_K && size >= 1 &&
	       size <= CR_CODE_MAX_SIZE;
}

/* n zeroed bytes aligned to 64, n a multiple of 64. */
static uint8_t *alloc_rows(size_t n)
{
	void *p;

	if (posix_memalign(&p, CR__GF_VEC, n))
		return NULL;
	memset(p, 0, n);
	return p;
}

/* --- Encoder ------------------------------------------------------------- */

int cr_encoder_new(uint32_t k, uint32_t size, cr_encoder **out)
{
	cr_encoder *e;
	uint32_t i;

	if (!out || !shape_ok(k, size))
		return -CR_EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -CR_ENOMEM;
	e->k = k;
	e->size = size;
	e->stride = cr__gf_stride(size);
	e->blocks = alloc_rows(k * e->stride);
	e->tbls = malloc(32 * (size_t)k);
	e->src = malloc(k * sizeof(*e->src));
	if (!e->blocks || !e->tbls || !e->src) {
		cr_encoder_free(e);
		return -CR_ENOMEM;
	}
	for (i = 0; i < k; i++)
		e->src[i] = e->blocks + i * e->stride;
	*out = e;
	return 0;
}

void cr_encoder_free(cr_encoder *e)
{
	if (!e)
		return;
	free(e->blocks);
	free(e->tbls);
	free(e->src);
	free(e);
}

int cr_encoder_set(cr_encoder *e, uint32_t i, const void *data, size_t len)
{
	if (!e || i >= e->k || len > e->size || (!data && len))
		return -CR_EINVAL;
	if (len)
		memcpy(e->src[i], data, len);
	memset(e->src[i] + len, 0, e->size - len);
	return 0;
}

int cr_encoder_load(cr_encoder *e, const void *data, size_t len)
{
	const uint8_t *b = data;
	size_t n;
	uint32_t i;

	if (!e || len > (size_t)e->k * e->size || (!data && len))
		return -CR_EINVAL;
	for (i = 0; i < e->k; i++) {
		n = len < e->size ? len : e->size;
		cr_encoder_set(e, i, b, n);
		b += n;
		len -= n;
	}
	return 0;
}

int cr_encoder_encode(cr_encoder *e, cr_rand *rng, uint8_t *coeffs,
		      void *payload)
{
	if (!e || !rng || !coeffs || !payload)
		return -CR_EINVAL;
	cr__gf_draw(rng, coeffs, e->k);
	ec_init_tables((int)e->k, 1, coeffs, e->tbls);
	cr__gf_dot(e->size, e->k, e->tbls, e->src, payload);
	cr__gf_done();
	return 0;
}

uint32_t cr_encoder_k(const cr_encoder *e)
{
	return e ? e->k : 0;
}

uint32_t cr_encoder_size(const cr_encoder *e)
{
	return e ? e->size : 0;
}

/* --- Decoder ------------------------------------------------------------- */

static inline uint8_t *row(const cr_decoder *d, uint32_t r)
{
	return d->rows + r * d->stride;
}

int cr_decoder_new(uint32_t k, uint32_t size, cr_decoder **out)
{
	cr_decoder *d;

	if (!out || !shape_ok(k, size))
		return -CR_EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -CR_ENOMEM;
	d->k = k;
	d->size = size;
	d->kpad = cr__gf_pad(k);
	d->span = d->kpad + cr__gf_pad(size);
	d->stride = cr__gf_stride(d->span);
	d->rows = alloc_rows(k * d->stride + d->kpad);
	d->pivot = malloc(k * sizeof(*d->pivot));
	d->row_of = malloc(k * sizeof(*d->row_of));
	d->coef = malloc(k + 1);
	d->tbls = malloc(32 * ((size_t)k + 1));
	d->src = malloc((k + 1) * sizeof(*d->src));
	d->dst = malloc(k * sizeof(*d->dst));
	if (!d->rows || !d->pivot || !d->row_of || !d->coef || !d->tbls ||
	    !d->src || !d->dst) {
		cr_decoder_free(d);
		return -CR_ENOMEM;
	}
	d->cbuf = d->rows + k * d->stride;
	cr_decoder_reset(d);
	*out = d;
	return 0;
}

void cr_decoder_free(cr_decoder *d)
{
	if (!d)
		return;
	free(d->rows);
	free(d->pivot);
	free(d->row_of);
	free(d->coef);
	free(d->tbls);
	free(d->src);
	free(d->dst);
	free(d);
}

/* The rows' data is overwritten as rows are taken again; the padding is
 * zero and stays so. */
void cr_decoder_reset(cr_decoder *d)
{
	uint32_t c;

	if (!d)
		return;
	d->rank = 0;
	for (c = 0; c < d->k; c++)
		d->row_of[c] = NO_ROW;
}

/* The sources of a new block's reduction: the block itself (multiplier 1)
 * and each row held where the block has a non-zero coefficient at the
 * row's pivot, with that coefficient.  Returns how many.  The block's
 * coefficients are copied into cbuf, zero-padded like the rows, so that
 * the reduction runs on whole 64-byte spans. */
static uint32_t gather(cr_decoder *d, const uint8_t *coeffs)
{
	uint32_t n = 1, r;
	uint8_t m;

	memcpy(d->cbuf, coeffs, d->k);
	d->src[0] = d->cbuf;
	d->coef[0] = 1;
	for (r = 0; r < d->rank; r++) {
		m = coeffs[d->pivot[r]];
		if (!m)
			continue;
		d->src[n] = row(d, r);
		d->coef[n++] = m;
	}
	return n;
}

static uint32_t first_nonzero(const uint8_t *v, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n && !v[i]; i++)
		;
	return i;
}

/* Scales the new row's coefficients, and its multipliers, by the inverse
 * of its pivot, so that the row comes out with a 1 there. */
static void normalise(cr_decoder *d, uint8_t *nrow, uint32_t p, uint32_t n)
{
	uint8_t inv = gf_inv(nrow[p]), t[32];
	uint32_t i;

	gf_vect_mul_init(inv, t);
	for (i = p; i < d->k; i++)
		nrow[i] = cr__gf_tmul(t, nrow[i]);
	for (i = 0; i < n; i++)
		d->coef[i] = cr__gf_tmul(t, d->coef[i]);
}

/* Clears column p of every other row held with the new row. */
static void eliminate(cr_decoder *d, uint8_t *nrow, uint32_t p)
{
	uint32_t n = 0, r;
	uint8_t e;

	for (r = 0; r < d->rank; r++) {
		e = row(d, r)[p];
		if (!e)
			continue;
		d->dst[n] = row(d, r);
		d->coef[n++] = e;
	}
	if (!n)
		return;
	ec_init_tables(1, (int)n, d->coef, d->tbls);
	cr__gf_mad(d->span, n, d->tbls, nrow, d->dst);
}

int cr_decoder_add(cr_decoder *d, const uint8_t *coeffs, const void *payload)
{
	uint8_t *nrow;
	uint32_t n, p, i;

	if (!d || !coeffs || !payload)
		return -CR_EINVAL;
	if (d->rank == d->k)
		return CR_CODE_DEPENDENT;
	/* the free row: nothing else sees it until rank grows */
	nrow = row(d, d->rank);
	n = gather(d, coeffs);
	ec_init_tables((int)n, 1, d->coef, d->tbls);
	cr__gf_dot(d->kpad, n, d->tbls, d->src, nrow);
	p = first_nonzero(nrow, d->k);
	if (p == d->k) {
		cr__gf_done();
		return CR_CODE_DEPENDENT;
	}
	normalise(d, nrow, p, n);
	/* ISA-L reads its sources only; its prototypes lack the const */
	d->src[0] = (uint8_t *)payload;
	for (i = 1; i < n; i++)
		d->src[i] += d->kpad;
	ec_init_tables((int)n, 1, d->coef, d->tbls);
	cr__gf_dot(d->size, n, d->tbls, d->src, nrow + d->kpad);
	eliminate(d, nrow, p);
	d->pivot[d->rank] = (uint16_t)p;
	d->row_of[p] = (uint16_t)d->rank;
	d->rank++;
	cr__gf_done();
	return CR_CODE_INNOVATIVE;
}

int cr_decoder_add_coded(cr_decoder *d, const cr_coded_hdr *h)
{
	if (!d || !h || h->k != d->k || h->size != d->size)
		return -CR_EINVAL;
	return cr_decoder_add(d, h->coeffs, h->payload);
}

uint32_t cr_decoder_rank(const cr_decoder *d)
{
	return d ? d->rank : 0;
}

bool cr_decoder_done(const cr_decoder *d)
{
	return d && d->rank == d->k;
}

const uint8_t *cr_decoder_block(const cr_decoder *d, uint32_t i)
{
	if (!cr_decoder_done(d) || i >= d->k)
		return NULL;
	return row(d, d->row_of[i]) + d->kpad;
}

int cr_decoder_read(const cr_decoder *d, void *out, size_t len)
{
	uint8_t *o = out;
	size_t n;
	uint32_t i;

	if (!d || len > (size_t)d->k * d->size || (!out && len))
		return -CR_EINVAL;
	if (!cr_decoder_done(d))
		return -CR_ESTATE;
	for (i = 0; len; i++) {
		n = len < d->size ? len : d->size;
		memcpy(o, cr_decoder_block(d, i), n);
		o += n;
		len -= n;
	}
	return 0;
}

/* The coefficients of a recoded block: the rows' coefficient parts
 * combined with the draw in coef (its tables made). */
static void recode_coeffs(cr_decoder *d, uint8_t *coeffs)
{
	uint32_t r;

	if (d->rank == d->k) {
		/* every row is a unit vector: the draw, in pivot order */
		for (r = 0; r < d->k; r++)
			coeffs[d->pivot[r]] = d->coef[r];
		return;
	}
	for (r = 0; r < d->rank; r++)
		d->src[r] = row(d, r);
	cr__gf_dot(d->kpad, d->rank, d->tbls, d->src, d->cbuf);
	memcpy(coeffs, d->cbuf, d->k);
}

int cr_decoder_recode(cr_decoder *d, cr_rand *rng, uint8_t *coeffs,
		      void *payload)
{
	uint32_t r;

	if (!d || !rng || !coeffs || !payload)
		return -CR_EINVAL;
	if (!d->rank)
		return -CR_ESTATE;
	cr__gf_draw(rng, d->coef, d->rank);
	ec_init_tables((int)d->rank, 1, d->coef, d->tbls);
	recode_coeffs(d, coeffs);
	for (r = 0; r < d->rank; r++)
		d->src[r] = row(d, r) + d->kpad;
	cr__gf_dot(d->size, d->rank, d->tbls, d->src, payload);
	cr__gf_done();
	return 0;
}

uint32_t cr_decoder_k(const cr_decoder *d)
{
	return d ? d->k : 0;
}

uint32_t cr_decoder_size(const cr_decoder *d)
{
	return d ? d->size : 0;
}

/* --- Wire form ----------------------------------------------------------- */

int cr_coded_put(void *buf, size_t len, uint16_t session, uint32_t segment,
		 uint32_t k, uint32_t size, uint8_t **coeffs,
		 uint8_t **payload)
{
	uint8_t *b = buf;

	if (!buf || !shape_ok(k, size))
		return -CR_EINVAL;
	if (len < cr_coded_len(k, size))
		return -CR_EMSGSIZE;
	cr__put16(b, session);
	cr__put16(b + 2, (uint16_t)k);
	cr__put32(b + 4, segment);
	cr__put32(b + 8, size);
	if (coeffs)
		*coeffs = b + CR_CODED_HDR_SIZE;
	if (payload)
		*payload = b + CR_CODED_HDR_SIZE + k;
	return (int)cr_coded_len(k, size);
}

int cr_coded_get(const void *buf, size_t len, cr_coded_hdr *out)
{
	const uint8_t *b = buf;
	uint32_t k, size;

	if (!buf || !out || len < CR_CODED_HDR_SIZE)
		return -CR_EINVAL;
	k = cr__get16(b + 2);
	size = cr__get32(b + 8);
	if (!shape_ok(k, size) || len != cr_coded_len(k, size))
		return -CR_EINVAL;
	*out = (cr_coded_hdr){
		.session = cr__get16(b),
		.k = (uint16_t)k,
		.segment = cr__get32(b + 4),
		.size = size,
		.coeffs = b + CR_CODED_HDR_SIZE,
		.payload = b + CR_CODED_HDR_SIZE + k,
	};
	return 0;
}
