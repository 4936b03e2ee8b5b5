/* What the files of events generation share (gen.c, gen-draw.c); the
 * interface is gen.h.
 */
#ifndef CRYSTAL_GEN_INT_H
#define CRYSTAL_GEN_INT_H

#include "gen.h"

/* A class as peers are drawn into it. */
struct wclass {
	const char *name;
	double weight;
	cr_addr *addrs; /* NULL: the class only labels its peers */
	size_t naddrs;
	size_t used;
};

/* Draws every peer's birth, class, join delay and lifetime, each draw from
 * its own generator, and makes the events (sorted) and what each class
 * got.  Returns 0 or -CR_ENOMEM. */
int cr__gen_draw(const struct cr_gen_params *p, struct cr_gen_result *r,
		 struct wclass *w, size_t nw, uint64_t capacity);

#endif
