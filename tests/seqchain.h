/* A counted, checked stream down relay chains, for the integration tests
 * (tests/seqchain.c).
 *
 * The built-in chains experiment (cr_chains_build) runs with the `seqchain`
 * algorithm: for every message its source generates, the source sends a
 * numbered message instead (sequence number and a pattern in the payload)
 * to the head of each chain, and every peer relays what it receives to the
 * next.  Each receiver checks that messages come from its upstream peer, in
 * order, with no gap or repeat, with the exact length and payload; a tail
 * that has all `count` of them says so, and when every tail has, the
 * experiment stops itself (once sc_may_stop is set, which the test may
 * hold back).  All checking happens on the workers; sc_verify() reads the
 * outcome after the node has been joined.
 */
#ifndef CRYSTAL_TEST_SEQCHAIN_H
#define CRYSTAL_TEST_SEQCHAIN_H

#include "../src/core/log.h"
#include "../src/engine/node.h"
#include "../src/scenario/chains.h"

#include <stdatomic.h>

#define SC_TYPE	    200 /* data type of the numbered messages */
#define SC_SENTINEL 40	/* control type a test may send to a peer */

struct sc_cfg {
	uint16_t base_port;
	size_t receivers, chain_len;
	uint64_t count;	   /* messages from the source */
	uint32_t msg_size; /* at least 8 */
	uint64_t rate_Bps; /* 0: as fast as the links take them */
	int workers;
	uint32_t max_msg;	  /* 0: the default */
	size_t queue_limit;	  /* 0: the default */
	uint64_t exp_id;	  /* 0: derived from the name */
	const cr_algorithm *algo; /* NULL: seqchain */
	const struct cr_node_param *params;
	size_t nparams;
	bool hold; /* the tails wait for sc.may_stop before stopping */
	/* the limits on what a remote may hold (cr_node_config); 0: the
	 * node's defaults */
	uint32_t max_conns;
	int64_t idle_timeout_ns, frame_timeout_ns;
	uint64_t partial_limit;
	const char *log_dir; /* NULL: no log files */
	int log_level;	     /* with log_dir; 0: errors only */
};

struct sc_peer {
	uint64_t next;	   /* next sequence number expected */
	uint64_t received; /* numbered messages, in order */
	uint64_t bytes;
	uint64_t errors;
	char first_error[160];
	uint64_t departed;	 /* peer_departed calls */
	uint64_t departed_chain; /* ... naming a peer of the experiment */
	uint64_t sentinels;	 /* SC_SENTINEL messages */
	uint64_t generated;	 /* at the source: what it made */
	uint64_t ends;		 /* at the source: end-of-stream marks */
	int64_t last_created_ns;
};

struct sc_run {
	struct sc_cfg cfg;
	struct cr_chains chains;
	cr_addr *up;	    /* each peer's upstream neighbour */
	struct sc_peer *st; /* per peer, by index */
	cr_node *node;
	struct cr_node_result res;
	atomic_size_t tails_done;
	atomic_bool may_stop;
	atomic_uint_fast64_t sentinels; /* sentinels seen by any peer */
	char err[512];
};

extern struct sc_run sc;
extern const cr_algorithm sc_algorithm;

/* Builds the chains and starts the node (safety duration 20 s).  0, or -1
 * with sc.err set. */
int sc_start(const struct sc_cfg *cfg);
/* Waits until the experiment ends (or the safety duration) and joins. */
void sc_finish(void);
/* NULL when every count is exact; otherwise what was wrong. */
const char *sc_verify(void);
void sc_cleanup(void);
/* Waits (up to 20 s) for cond() to hold while the node runs: whether it
 * came to hold. */
bool sc_wait_for(bool (*cond)(void));
/* Whether the node has delivered any data yet (a condition for
 * sc_wait_for). */
bool sc_streaming(void);

#endif
