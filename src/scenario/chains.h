/* The built-in `chains` experiment: the paper's relay set-up. */
#ifndef CRYSTAL_CHAINS_H
#define CRYSTAL_CHAINS_H

#include "../engine/node.h"

struct cr_chains {
	struct cr_node_peer *peers; /* [0] is the source */
	cr_addr *links;		    /* storage the peers' boot lists point into */
	size_t npeers;		    /* receivers + 1 */
	size_t nchains;
};

/* A source at base (ip:port) feeding ceil(receivers / chain_len) chains of
 * at most chain_len peers at the following ports.  Returns 0 or -CR_EINVAL
 * with err set (ports past 65535) or -CR_ENOMEM. */
int cr_chains_build(struct cr_chains *c, const cr_addr *base,
		    size_t receivers, size_t chain_len, char *err,
		    size_t errlen);
void cr_chains_free(struct cr_chains *c);

#endif
