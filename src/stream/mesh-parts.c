/* Parts (mesh.h): a pull protocol asks for segments a few blocks at a
 * time, so that one segment comes from several neighbours at once and a
 * lost request costs little.  The parts are numbered as items, and a
 * buffer map of items is the buffer map of stream.h, bit k for item k.
 */
#include "private.h"

#include <crystal/mesh.h>

int cr_parts_init(cr_parts *pp, const cr_stream *st, uint32_t part_blocks,
		  uint32_t window)
{
	uint64_t bytes;

	if (!st || !part_blocks || !window || window > CR_BUFMAP_MAX)
		return -CR_EINVAL;
	bytes = (uint64_t)part_blocks * st->block_bytes;
	pp->part_bytes = bytes > st->segment_bytes ? st->segment_bytes
						   : (uint32_t)bytes;
	pp->window = window;
	for (;;) {
		pp->nparts = (uint32_t)(((uint64_t)st->segment_bytes +
					 pp->part_bytes - 1) /
					pp->part_bytes);
		if ((uint64_t)window * pp->nparts <= CR_BUFMAP_MAX)
			return 0;
		pp->part_bytes *= 2;
	}
}

bool cr_parts_range(const cr_parts *pp, const cr_playbuf *pb, uint64_t key,
		    uint32_t *off, uint32_t *len)
{
	uint32_t seg = (uint32_t)(key / pp->nparts);
	uint32_t size = cr_playbuf_segment_size(pb, seg);
	uint64_t o = key % pp->nparts * pp->part_bytes;

	if (o >= size)
		return false;
	*off = (uint32_t)o;
	*len = size - *off < pp->part_bytes ? size - *off : pp->part_bytes;
	return true;
}

bool cr_parts_held(const cr_parts *pp, const cr_playbuf *pb, uint64_t key)
{
	uint32_t off, len;

	return cr_parts_range(pp, pb, key, &off, &len) &&
	       cr_playbuf_has_range(pb, (uint32_t)(key / pp->nparts), off,
				    len);
}

void cr_parts_map(const cr_parts *pp, const cr_playbuf *pb, cr_bufmap *out)
{
	uint32_t base = cr_playbuf_base(pb);
	uint32_t window = pb->cfg.window < pp->window ? pb->cfg.window
						      : pp->window;

	cr_bufmap_init(out, base * pp->nparts, window * pp->nparts);
	for (uint32_t s = 0; s < window; s++) {
		if (!cr_playbuf_bytes(pb, base + s))
			continue;
		for (uint32_t k = 0; k < pp->nparts; k++)
			if (cr_parts_held(pp, pb, cr_parts_key(pp, base + s, k)))
				cr_bufmap_set(out, (base + s) * pp->nparts + k);
	}
}
