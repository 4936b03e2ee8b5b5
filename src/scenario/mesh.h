/* The built-in `mesh` experiment: any algorithm on a mesh, from options. */
#ifndef CRYSTAL_MESH_H
#define CRYSTAL_MESH_H

#include "experiment.h"

/* What a mesh has unless the options say otherwise: the values an
 * experiment file would give, and a stream that Vanilla plays. */
#define CR_MESH_DURATION_NS (20 * CR_SEC)
#define CR_MESH_RATE_BPS 64000u
#define CR_MESH_SESSION 1
#define CR_MESH_REPLY_PEERS 20

/* An experiment of a source at `base` (class "source") and `receivers`
 * peers at the ports after it (class "peer"), every one born at time 0
 * into session 1, which the source streams (CR_MESH_RATE_BPS of random
 * data in 1 s segments of 1 KiB messages), and a tracker in the node at
 * the port after the last peer, which bootstraps them all.  Links are
 * unlimited: the caller sets them, and whatever else it wants other than
 * the defaults, before planning it with cr_plan_build.  Returns 0 or
 * -CR_EINVAL with err set (ports past 65535) or -CR_ENOMEM; free the
 * experiment with cr_experiment_free. */
int cr_mesh_build(struct cr_experiment *e, const cr_addr *base,
		  size_t receivers, char *err, size_t errlen);

#endif
