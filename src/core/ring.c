/* Rings of fixed-size elements (ring.h): growing and freeing; the rest is
 * inline.
 */
#include "ring.h"

#include <stdlib.h>
#include <string.h>

int cr__ring_grow(struct cr__ring *r, size_t esz)
{
	uint32_t cap = r->cap ? r->cap * 2 : 16;
	uint8_t *v = malloc(cap * esz);
	uint32_t first = r->cap - r->head; /* elements up to the array's end */

	if (!v)
		return -CR_ENOMEM;
	if (r->len) {
		if (first > r->len)
			first = r->len;
		memcpy(v, (uint8_t *)r->v + (size_t)r->head * esz,
		       first * esz);
		memcpy(v + first * esz, r->v, (r->len - first) * esz);
	}
	free(r->v);
	r->v = v;
	r->cap = cap;
	r->head = 0;
	return 0;
}

void cr__ring_free(struct cr__ring *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}
