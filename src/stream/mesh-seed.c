/* The seeder of mesh.h: a source's count of how often it pushed each part
 * of its window.  Counts sit in a ring of the window's items, each tagged
 * with its segment, so that a slot reused by a later segment starts again
 * from zero without a pass to clear it.
 */
#include "private.h"

#include <crystal/mesh.h>

#include <stdlib.h>
#include <string.h>

int cr_seeder_init(cr_seeder *s, size_t slots)
{
	memset(s, 0, sizeof(*s));
	if (!slots)
		return -CR_EINVAL;
	s->times = calloc(slots, sizeof(*s->times));
	s->segment = malloc(slots * sizeof(*s->segment));
	if (!s->times || !s->segment) {
		cr_seeder_free(s);
		return -CR_ENOMEM;
	}
	memset(s->segment, 0xff, slots * sizeof(*s->segment));
	s->slots = slots;
	return 0;
}

void cr_seeder_free(cr_seeder *s)
{
	free(s->times);
	free(s->segment);
	s->times = s->segment = NULL;
	s->slots = 0;
}

static uint32_t *count_of(cr_seeder *s, const cr_parts *pp, uint64_t key)
{
	uint32_t seg = (uint32_t)(key / pp->nparts);
	size_t i = key % s->slots;

	if (s->segment[i] != seg) {
		s->segment[i] = seg;
		s->times[i] = 0;
	}
	return &s->times[i];
}

bool cr_seeder_next(cr_seeder *s, const cr_parts *pp, const cr_playbuf *pb,
		    uint32_t most, uint64_t *key)
{
	uint32_t base = cr_playbuf_base(pb), least = most;

	if (!s->slots)
		return false;
	for (uint32_t seg = base; seg - base < pp->window; seg++) {
		if (!cr_playbuf_bytes(pb, seg))
			continue;
		for (uint32_t k = 0; k < pp->nparts; k++) {
			uint64_t item = cr_parts_key(pp, seg, k);
			uint32_t t = *count_of(s, pp, item);
			if (t < least && cr_parts_held(pp, pb, item)) {
				least = t;
				*key = item;
			}
		}
	}
	return least < most;
}

void cr_seeder_pushed(cr_seeder *s, const cr_parts *pp, uint64_t key)
{
	if (s->slots)
		++*count_of(s, pp, key);
}
