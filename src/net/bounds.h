/* What the network layer's owners and their embedders may know of it
 * without its loop, sockets or libuv: its limits and defaults, and the
 * counters it keeps of an endpoint.  The engine's node interface
 * (src/engine/node.h) includes this, not net.h, so that the command line
 * and the scenario reader see nothing of the network's insides.
 */
#ifndef CRYSTAL_NET_BOUNDS_H
#define CRYSTAL_NET_BOUNDS_H

#include "../core/common.h"

/* An incoming connection that has not said hello by then is closed. */
#define CR__HELLO_TIMEOUT (10 * CR_SEC)

/* The limits on what a remote may make a peer hold (docs/wire-format.md,
 * Limits); each is counted per peer, and logged at its first occurrence. */
enum cr__limit {
	CR__LIMIT_CONNS,   /* an incoming connection over the peer's cap */
	CR__LIMIT_IDLE,	   /* nothing after the hello within the idle time */
	CR__LIMIT_FRAME,   /* a frame begun and not finished in time */
	CR__LIMIT_PARTIAL, /* the node's bytes of unfinished frames */
	CR__LIMIT_N
};
/* The base of the automatic idle and frame times (cr_node_config). */
#define CR__WAIT_BASE (30 * CR_SEC)
/* The node's budget for bytes of unfinished frames, by default. */
#define CR__DEFAULT_PARTIAL_LIMIT (256ull << 20)
/* Bytes queued on one connection before its peer stops reading its inputs
 * (and a source stops producing), so that TCP pushes back on the senders
 * instead of memory growing. */
#define CR__DEFAULT_QUEUE_LIMIT (256u << 10)

/* Releases due this soon are written in the same wake-up, unless the
 * node's batch window (cr_node_config.batch_ns) says otherwise. */
#define CR__SHAPE_COALESCE (20 * CR_US)
/* The largest batch window a node accepts. */
#define CR__SHAPE_BATCH_MAX (100 * CR_MS)

/* A shaped release, or a read resumed after a download bucket's wait,
 * later than this is counted late (struct cr__net's late_over and
 * rx_late_over), one by one, not read off a histogram's bucket.  What
 * share of late ones degrades a run is the verdict's to say
 * (src/metrics/fidelity.h). */
#define CR_FID_LATE_P99_NS (1 * CR_MS)

/* What net counts of an endpoint, kept in its owner's statistics. */
struct cr__ep_stats {
	uint64_t udp_dropped;	  /* the local socket or queue refused it */
	uint64_t udp_lost;	  /* emulated loss */
	uint64_t udp_rx_dropped;  /* over the download queue */
	uint64_t udp_rx_overflow; /* the kernel dropped them: the socket
				   * buffer was full (SO_RXQ_OVFL) */
	uint64_t bad_frames;
	uint64_t bad_datagrams;
	/* connections refused or closed by each limit (enum cr__limit) */
	uint64_t limit_hits[CR__LIMIT_N];
};

#endif
