/* The segmenter of mesh.h: a source's bytes, as they come from the engine
 * in messages of any size, cut into the blocks of the stream's segments
 * (cr_stream_locate says where each byte belongs).  A block is handed on
 * only when whole, so one block is staged between feeds; the stream's end
 * hands on the last, short one.
 */
#include "private.h"

#include <crystal/mesh.h>

#include <stdlib.h>
#include <string.h>

int cr_segmenter_init(cr_segmenter *sg, const cr_stream *st)
{
	memset(sg, 0, sizeof(*sg));
	if (!st || !st->block_bytes)
		return -CR_EINVAL;
	sg->st = *st;
	sg->stage = malloc(st->block_bytes);
	return sg->stage ? 0 : -CR_ENOMEM;
}

void cr_segmenter_free(cr_segmenter *sg)
{
	free(sg->stage);
	sg->stage = NULL;
}

int cr_segmenter_feed(cr_segmenter *sg, const void *data, size_t len,
		      cr_segmenter_cb cb, void *arg)
{
	const unsigned char *src = data;

	if (sg->ended)
		return -CR_ESTATE;
	while (len) {
		uint32_t seg, off, blen, take;
		int err;

		if (cr_stream_locate(&sg->st, sg->pos, &seg, &off, &blen))
			return -CR_EINVAL;
		take = len < blen ? (uint32_t)len : blen;
		memcpy(sg->stage + sg->staged, src, take);
		sg->staged += take;
		sg->pos += take;
		src += take;
		len -= take;
		if (take < blen)
			break;
		off = off + take - sg->staged;
		take = sg->staged;
		sg->staged = 0;
		err = cb(arg, seg, off, sg->stage, take, false);
		if (err)
			return err;
	}
	return 0;
}

int cr_segmenter_end(cr_segmenter *sg, cr_segmenter_cb cb, void *arg)
{
	uint32_t seg, off, blen, len = sg->staged;

	if (sg->ended || !sg->pos)
		return -CR_ESTATE;
	sg->ended = true;
	/* the last byte taken: its segment ends just after it */
	if (cr_stream_locate(&sg->st, sg->pos - 1, &seg, &off, &blen))
		return -CR_EINVAL;
	sg->staged = 0;
	return cb(arg, seg, off + 1 - len, sg->stage, len, true);
}

struct to_pb {
	cr_playbuf *pb;
	int64_t now_ns;
};

static int into_playbuf(void *arg, uint32_t segment, uint32_t offset,
			const void *block, uint32_t len, bool last)
{
	struct to_pb *t = arg;
	int r;

	if (last) {
		r = cr_playbuf_end(t->pb, segment, offset + len);
		if (r < 0)
			return r;
	}
	if (!len)
		return 0;
	r = cr_playbuf_add(t->pb, segment, offset, block, len, t->now_ns);
	return r < 0 ? r : r == CR_PB_AHEAD ? -CR_ESTATE : 0;
}

int cr_segmenter_to_playbuf(cr_segmenter *sg, cr_playbuf *pb,
			    const cr_msg *m, int64_t now_ns)
{
	struct to_pb t = {pb, now_ns};

	if (!cr_msg_len(m))
		return cr_segmenter_end(sg, into_playbuf, &t);
	return cr_segmenter_feed(sg, cr_msg_payload(m), cr_msg_len(m),
				 into_playbuf, &t);
}
