/* Segments: a session's stream layout and the prefix of data messages.
 *
 * The layout is all arithmetic on three numbers (rate, segment time, block
 * size); it is checked once in cr_stream_init so that nothing downstream
 * (offsets, bitmaps, buffers sized from it) can overflow.
 */
#include "private.h"

#include <string.h>

int cr_stream_init(cr_stream *st, uint16_t session, uint64_t rate_Bps,
		   int64_t segment_ns, uint32_t block_bytes)
{
	unsigned __int128 bytes;
	uint64_t blocks;

	if (!st || !rate_Bps)
		return -CR_EINVAL;
	if (!segment_ns)
		segment_ns = CR_SEG_DEFAULT_NS;
	if (!block_bytes)
		block_bytes = CR_SEG_DEFAULT_BLOCK;
	if (segment_ns < 0 || segment_ns > CR_SEG_MAX_NS)
		return -CR_EINVAL;
	/* 128 bits: a rate of GB/s times an hour in ns does not fit in 64 */
	bytes = (unsigned __int128)rate_Bps * (uint64_t)segment_ns / CR_SEC;
	if (bytes < 1 || bytes > UINT32_MAX)
		return -CR_EINVAL;
	blocks = ((uint64_t)bytes + block_bytes - 1) / block_bytes;
	if (blocks > CR_SEG_MAX_BLOCKS)
		return -CR_EINVAL;
	*st = (cr_stream){
		.session = session,
		.rate_Bps = rate_Bps,
		.segment_ns = segment_ns,
		.block_bytes = block_bytes,
		.segment_bytes = (uint32_t)bytes,
		.blocks = (uint32_t)blocks,
	};
	return 0;
}

int cr_stream_locate(const cr_stream *st, uint64_t pos, uint32_t *segment,
		     uint32_t *offset, uint32_t *len)
{
	uint64_t seg = pos / st->segment_bytes;
	uint32_t off = (uint32_t)(pos % st->segment_bytes);
	uint32_t start = off - off % st->block_bytes;
	uint32_t end;

	if (seg > UINT32_MAX)
		return -CR_EINVAL;
	/* the end of this block, or of the segment for its short last one */
	end = st->segment_bytes - start > st->block_bytes
		      ? start + st->block_bytes
		      : st->segment_bytes;
	*segment = (uint32_t)seg;
	*offset = off;
	*len = end - off;
	return 0;
}

bool cr__seg_range_ok(const cr_stream *st, uint32_t offset, uint32_t len)
{
	uint64_t end = (uint64_t)offset + len;

	/* Whole blocks only: the arrival bitmap has one bit per block, and
	 * a partial block could not be told from a duplicate. */
	return len && offset % st->block_bytes == 0 &&
	       end <= st->segment_bytes &&
	       (end % st->block_bytes == 0 || end == st->segment_bytes);
}

int cr_seg_hdr_put(void *buf, size_t len, const cr_seg_hdr *h)
{
	uint8_t *b = buf;

	if (len < CR_SEG_HDR_SIZE)
		return -CR_EMSGSIZE;
	if (h->flags & ~CR_SEG_END)
		return -CR_EINVAL;
	cr__put16(b, h->session);
	cr__put16(b + 2, h->flags);
	cr__put32(b + 4, h->segment);
	cr__put32(b + 8, h->offset);
	return 0;
}

int cr_seg_hdr_get(const void *payload, size_t len, cr_seg_hdr *out)
{
	const uint8_t *b = payload;
	cr_seg_hdr h;

	if (!payload || len < CR_SEG_HDR_SIZE)
		return -CR_EINVAL;
	h.session = cr__get16(b);
	h.flags = cr__get16(b + 2);
	h.segment = cr__get32(b + 4);
	h.offset = cr__get32(b + 8);
	if (h.flags & ~CR_SEG_END)
		return -CR_EINVAL;
	*out = h;
	return 0;
}

cr_msg *cr_seg_msg_new(cr_peer *p, uint8_t type, const cr_stream *st,
		       uint32_t segment, uint32_t offset, const void *data,
		       uint32_t len)
{
	cr_seg_hdr h = {.session = st->session,
			.segment = segment,
			.offset = offset};
	uint8_t *b;
	cr_msg *m;

	if (type < CR_MSG_DATA_MIN || !cr__seg_range_ok(st, offset, len))
		return NULL;
	m = cr_msg_new(p, type, st->session, CR_SEG_HDR_SIZE + (size_t)len);
	if (!m)
		return NULL;
	b = cr_msg_payload_mut(m);
	cr_seg_hdr_put(b, CR_SEG_HDR_SIZE, &h);
	if (data)
		memcpy(b + CR_SEG_HDR_SIZE, data, len);
	else
		memset(b + CR_SEG_HDR_SIZE, 0, len);
	return m;
}
