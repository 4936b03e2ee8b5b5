/* crystal run across hosts: the supervision of a run whose peers span
 * several nodes (docs/running-experiments.md#several-hosts).
 *
 * One node of the run is the coordinator: the one that owns the IP of the
 * experiment's coordinator address.  It listens there, inside crystal run,
 * and every node (itself too) holds a control connection to it
 * (docs/wire-format.md#control-connection): the node says hello, samples
 * the coordinator's clock, says it is ready, and all start at one instant;
 * the coordinator then watches the nodes, tells the others of one it lost,
 * and relays a stop by a signal to every node.
 *
 * The run's side of it, on the command's main thread: open before the
 * node starts (it runs a thread of its own from then on), hand the node
 * to it, give cr__coord_start_at to the node as its start_at, say when
 * this node stopped by a signal, and close it when the node has ended,
 * reading what summary.json reports of the run spanning hosts.
 */
#ifndef CRYSTAL_CLI_COORD_H
#define CRYSTAL_CLI_COORD_H

#include "../engine/node.h"

struct cr__coord;

/* Does the configuration span hosts (has it peers of other nodes)? */
bool cr__coord_needed(const struct cr_node_config *cfg);

/* Starts the control thread of this node (and the coordinator, when this
 * node owns the IP of `at`).  cfg: the node's configuration, whose peers
 * name every node's IPs; barrier_ns: how long to wait for the others at
 * the start.  0, or exit status 2 with err saying why. */
int cr__coord_open(struct cr__coord **out, const struct cr_node_config *cfg,
		   const cr_addr *at, int64_t barrier_ns, char *err,
		   size_t errlen);

/* This node's identity: the IPs of its own peers, sorted, comma-joined. */
const char *cr__coord_identity(const struct cr__coord *c);

/* The node that the run's losses and stops are told to (before start). */
void cr__coord_attach(struct cr__coord *c, cr_node *n);

/* The node's start_at (cr_node_config): waits for the run's start, then
 * gives the instant of time 0 on this host's monotonic clock.  ctx: the
 * struct cr__coord. */
int cr__coord_start_at(void *ctx, int64_t *origin_ns, char *err,
		       size_t errlen);

/* The exit status a failed start calls for: 2 when the nodes did not all
 * come (or one was refused), 128 + the signal when one was interrupted
 * before the start, else 1. */
int cr__coord_start_status(struct cr__coord *c);

/* This node is ending by a signal: every other node is told to stop. */
void cr__coord_stop(struct cr__coord *c, int sig);

/* The signal another node stopped by, which stopped this one too, or 0. */
int cr__coord_stopped_by(struct cr__coord *c);

/* This node's run has ended: says so to the coordinator, ends the control
 * thread and fills *h with what summary.json reports of the run (its
 * strings belong to c: valid until cr__coord_free). */
void cr__coord_close(struct cr__coord *c, struct cr_result_hosts *h);

void cr__coord_free(struct cr__coord *c);

#endif
