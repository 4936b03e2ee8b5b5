/* The built-in `mesh` experiment: the experiment file one would write for
 * "N peers of this algorithm on a mesh", made in memory.  One class holds
 * the source, another the peers; every peer is born at time 0 and joins
 * session 1; with no topology, they all bootstrap from a tracker in the
 * node, as the experiment format's [tracker] defaults have it.  plan.c
 * turns it into a node configuration exactly as it does a file, so the
 * mesh and a file behave the same.
 */
#include "mesh.h"
/* the engine's defaults for the tracker: CR__TRACKER_* */
#include "../engine/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fill_class(struct cr_peer_class *c, const char *name,
		      const cr_addr *base, size_t first, size_t count)
{
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->addrs = calloc(count, sizeof(*c->addrs));
	if (!c->addrs)
		return -CR_ENOMEM;
	for (size_t i = 0; i < count; i++) {
		c->addrs[i] = *base;
		c->addrs[i].port = (uint16_t)(base->port + first + i);
	}
	c->count = count;
	c->first = first;
	return 0;
}

int cr_mesh_build(struct cr_experiment *e, const cr_addr *base,
		  size_t receivers, char *err, size_t errlen)
{
	memset(e, 0, sizeof(*e));
	if (!receivers) {
		snprintf(err, errlen, "a mesh needs at least one peer");
		return -CR_EINVAL;
	}
	/* the source, the peers, and the tracker after them */
	if ((size_t)base->port + receivers + 1 > 65535) {
		snprintf(err, errlen,
			 "%zu peers and the tracker from port %u run past port "
			 "65535: choose a lower --base-port",
			 receivers, base->port);
		return -CR_EINVAL;
	}
	snprintf(e->name, sizeof(e->name), "mesh");
	snprintf(e->dir, sizeof(e->dir), ".");
	e->duration_ns = CR_MESH_DURATION_NS;
	e->seed = 1;
	e->classes = calloc(2, sizeof(*e->classes));
	e->sessions = calloc(1, sizeof(*e->sessions));
	if (!e->classes || !e->sessions)
		goto nomem;
	e->nclasses = 2;
	if (fill_class(&e->classes[0], "source", base, 0, 1) ||
	    fill_class(&e->classes[1], "peer", base, 1, receivers))
		goto nomem;
	e->npeers = receivers + 1;
	e->nsessions = 1;
	e->sessions[0] = (struct cr_session_cfg){
	    .id = CR_MESH_SESSION,
	    .source = *base,
	    .rate_Bps = CR_MESH_RATE_BPS,
	    .message_size = 1024,
	    .segment_ns = CR_SEC,
	    .data = CR_DATA_RANDOM,
	};
	e->tracker = (struct cr_tracker_cfg){
	    .mode = CR_TRACKER_INPROC,
	    .addr = *base,
	    .reply_peers = CR_MESH_REPLY_PEERS,
	    .liveness = CR_LIVENESS_REPORT,
	    .interval_ns = 5 * CR_SEC,
	    .timeout_ns = 15 * CR_SEC,
	    .max_sessions_per_peer = CR__TRACKER_SESSIONS_PER_PEER,
	    .max_peers_per_session = CR__TRACKER_PEERS_PER_SESSION,
	};
	e->tracker.addr.port = (uint16_t)(base->port + receivers + 1);
	return 0;
nomem:
	cr_experiment_free(e);
	snprintf(err, errlen, "out of memory");
	return -CR_ENOMEM;
}
