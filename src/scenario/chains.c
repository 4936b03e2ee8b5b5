/* The built-in `chains` experiment, as the paper's §IV sets it up: one
 * source feeds K chains of up to L peers (the last chain may be shorter).
 * Each peer's bootstrap list holds the next peer of its chain; the source's
 * holds every chain's head.  Every peer joins session 1, whose source is
 * peer 0.  With the relay algorithm, data flows from the source down every
 * chain.
 */
#include "chains.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cr_chains_build(struct cr_chains *c, const cr_addr *base,
		    size_t receivers, size_t chain_len, char *err,
		    size_t errlen)
{
	size_t n = receivers + 1, k;

	memset(c, 0, sizeof(*c));
	if (!receivers || !chain_len) {
		snprintf(err, errlen, "chains need at least one peer");
		return -CR_EINVAL;
	}
	if ((size_t)base->port + receivers > 65535) {
		snprintf(err, errlen,
			 "%zu peers from port %u run past port 65535: choose "
			 "a lower --base-port",
			 receivers, base->port);
		return -CR_EINVAL;
	}
	k = (receivers + chain_len - 1) / chain_len;
	c->peers = calloc(n, sizeof(*c->peers));
	/* one link per receiver: k from the source, the rest within chains */
	c->links = calloc(receivers, sizeof(*c->links));
	if (!c->peers || !c->links) {
		cr_chains_free(c);
		snprintf(err, errlen, "out of memory");
		return -CR_ENOMEM;
	}
	c->npeers = n;
	c->nchains = k;
	for (size_t i = 0; i < n; i++) {
		c->peers[i].addr = *base;
		c->peers[i].addr.port = (uint16_t)(base->port + i);
		c->peers[i].session = 1;
		c->peers[i].class_name = i ? "peer" : "source";
	}
	/* the source's list: every head, at links[0..k) */
	c->peers[0].boot = c->links;
	c->peers[0].nboot = k;
	size_t next_link = k;
	for (size_t ch = 0; ch < k; ch++) {
		size_t first = 1 + ch * chain_len;
		size_t last = first + chain_len - 1;
		if (last > receivers)
			last = receivers;
		c->links[ch] = c->peers[first].addr;
		for (size_t i = first; i < last; i++) {
			c->links[next_link] = c->peers[i + 1].addr;
			c->peers[i].boot = &c->links[next_link++];
			c->peers[i].nboot = 1;
		}
		c->peers[last].is_tail = true;
	}
	return 0;
}

void cr_chains_free(struct cr_chains *c)
{
	free(c->peers);
	free(c->links);
	memset(c, 0, sizeof(*c));
}
