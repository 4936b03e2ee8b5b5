/* Buffer maps: which segments a peer holds, as neighbours exchange them.
 *
 * A map is a value (base, count, bits) of fixed size, so that a peer can
 * keep one per neighbour without allocating.  The decoder is the only place
 * here that reads the network, and it reads nothing into `out` until the
 * whole payload has passed every check.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>

/* Bits past count within the last byte, which must be 0 on the wire. */
static uint8_t tail_mask(uint32_t count)
{
	return count % 8 ? (uint8_t)(0xFF >> (count % 8)) : 0;
}

static bool range_ok(uint64_t base, uint64_t count)
{
	return count <= CR_BUFMAP_MAX &&
	       base + count <= (uint64_t)UINT32_MAX + 1;
}

int cr_bufmap_init(cr_bufmap *bm, uint32_t base, uint32_t count)
{
	if (!range_ok(base, count))
		return -CR_EINVAL;
	bm->base = base;
	bm->count = (uint16_t)count;
	memset(bm->bits, 0, sizeof(bm->bits));
	return 0;
}

int cr_bufmap_set(cr_bufmap *bm, uint32_t segment)
{
	uint32_t i = segment - bm->base;

	if (segment < bm->base || i >= bm->count)
		return -CR_EINVAL;
	bm->bits[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	return 0;
}

bool cr_bufmap_has(const cr_bufmap *bm, uint32_t segment)
{
	uint32_t i = segment - bm->base;

	return segment >= bm->base && i < bm->count &&
	       (bm->bits[i / 8] & (0x80 >> (i % 8)));
}

uint32_t cr_bufmap_held(const cr_bufmap *bm)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < (bm->count + 7u) / 8; i++)
		n += (uint32_t)__builtin_popcount(bm->bits[i]);
	return n;
}

size_t cr_bufmap_size(const cr_bufmap *bm)
{
	return CR_BUFMAP_HDR_SIZE + (bm->count + 7u) / 8;
}

int cr_bufmap_encode(const cr_bufmap *bm, void *buf, size_t len)
{
	uint32_t nbytes = (bm->count + 7u) / 8;
	uint8_t *b = buf;

	if (!range_ok(bm->base, bm->count))
		return -CR_EINVAL;
	if (len < CR_BUFMAP_HDR_SIZE + nbytes)
		return -CR_EMSGSIZE;
	cr__put32(b, bm->base);
	cr__put16(b + 4, bm->count);
	memcpy(b + CR_BUFMAP_HDR_SIZE, bm->bits, nbytes);
	/* stray bits in the caller's map must not reach the wire, where
	 * the decoder would refuse them */
	if (nbytes)
		b[CR_BUFMAP_HDR_SIZE + nbytes - 1] &=
			(uint8_t)~tail_mask(bm->count);
	return (int)(CR_BUFMAP_HDR_SIZE + nbytes);
}

int cr_bufmap_decode(const void *payload, size_t len, cr_bufmap *out)
{
	const uint8_t *b = payload;
	uint32_t base, count, nbytes;

	if (!payload || !out || len < CR_BUFMAP_HDR_SIZE)
		return -CR_EINVAL;
	base = cr__get32(b);
	count = cr__get16(b + 4);
	if (!range_ok(base, count))
		return -CR_EINVAL;
	nbytes = (count + 7) / 8;
	if (len != CR_BUFMAP_HDR_SIZE + nbytes)
		return -CR_EINVAL;
	if (nbytes && (b[CR_BUFMAP_HDR_SIZE + nbytes - 1] & tail_mask(count)))
		return -CR_EINVAL;
	out->base = base;
	out->count = (uint16_t)count;
	memset(out->bits, 0, sizeof(out->bits));
	memcpy(out->bits, b + CR_BUFMAP_HDR_SIZE, nbytes);
	return 0;
}

/* Segments of mine's range from `from` on: [*lo, *hi). */
static void wanted_range(const cr_bufmap *mine, uint32_t from, uint64_t *lo,
			 uint64_t *hi)
{
	*lo = from > mine->base ? from : mine->base;
	*hi = (uint64_t)mine->base + mine->count;
}

int cr_bufmap_missing(const cr_bufmap *mine, const cr_bufmap *theirs,
		      uint32_t from, uint32_t *out, size_t max)
{
	uint64_t lo, hi;
	size_t n = 0;

	if (!mine || !theirs || (!out && max))
		return -CR_EINVAL;
	wanted_range(mine, from, &lo, &hi);
	for (uint64_t k = lo; k < hi && n < max; k++)
		if (!cr_bufmap_has(mine, (uint32_t)k) &&
		    cr_bufmap_has(theirs, (uint32_t)k))
			out[n++] = (uint32_t)k;
	return (int)n;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

int cr_bufmap_rarest(const cr_bufmap *mine, const cr_bufmap *const theirs[],
		     size_t n, uint32_t from, uint32_t *out, size_t max)
{
	/* One key per candidate: holders in the high bits, the offset in
	 * the window in the low 12, so that one sort orders by rarity, then
	 * by deadline.  16 KiB: on the stack, not the heap. */
	uint32_t keys[CR_BUFMAP_MAX];
	size_t nkeys = 0, i;
	uint64_t lo, hi;

	_Static_assert(CR_BUFMAP_MAX <= 1 << 12, "offsets take 12 bits");
	if (!mine || (!theirs && n) || (!out && max) || n > 65535)
		return -CR_EINVAL;
	wanted_range(mine, from, &lo, &hi);
	for (uint64_t k = lo; k < hi; k++) {
		uint32_t holders = 0;

		if (cr_bufmap_has(mine, (uint32_t)k))
			continue;
		for (i = 0; i < n; i++)
			if (theirs[i] && cr_bufmap_has(theirs[i], (uint32_t)k))
				holders++;
		if (holders)
			keys[nkeys++] =
				holders << 12 | (uint32_t)(k - mine->base);
	}
	qsort(keys, nkeys, sizeof(*keys), cmp_u32);
	for (i = 0; i < nkeys && i < max; i++)
		out[i] = mine->base + (keys[i] & 0xFFF);
	return (int)i;
}
