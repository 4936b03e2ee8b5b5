/* The node: one process hosting many peers on several workers.
 *
 * This is the embedding interface the command line and the tests use: fill
 * a cr_node_config, create, run (or start / wait / stop / join), then read
 * results.  A node holds all of its state; many nodes may live in one
 * process (the tests do that).
 */
#ifndef CRYSTAL_ENGINE_NODE_H
#define CRYSTAL_ENGINE_NODE_H

#include "../core/addr.h"
#include "../metrics/result.h"
#include "../net/bounds.h"

/* The share of a core a worker may spend spinning to wake on time with
 * `--spin auto` (cr_node_config.spin_budget). */
#define CR__SPIN_BUDGET 0.2

/* The bounds and defaults an embedder checks its options against, named
 * here so that it needs nothing of the network's headers. */
/* The longest batch window (cr_node_config.batch_ns). */
#define CR__NODE_BATCH_MAX CR__SHAPE_BATCH_MAX
/* A connection's queue when cr_node_config.queue_limit is 0. */
#define CR__NODE_QUEUE_LIMIT CR__DEFAULT_QUEUE_LIMIT
/* A shaped release later than this is late (cr_node_live_late_p99). */
#define CR__NODE_LATE_NS CR_FID_LATE_P99_NS


typedef struct cr__node cr_node;

/* A source of a session (cr_node_config.sources). */
struct cr__source_cfg {
	uint32_t peer_index;
	uint16_t session;
	uint32_t msg_size;
	uint64_t rate_Bps; /* 0: as fast as the connections take them */
	uint64_t count;	   /* messages to produce; 0: no limit */
	int64_t start_ns;
	bool on_deploy;	   /* starts at the peer's deploy event, not start_ns */
	int data;	   /* enum cr_data_kind: random, file, file loop, stdin */
	const char *path;  /* for files */
	int64_t segment_ns; /* the session's segment duration; 0: 1 s */
};

/* Payload bytes of the algorithm's messages: in, as dispatched to it; out,
 * as they left the emulated link (written to the socket whole); offered,
 * as handed to cr_send (some may still wait, or be dropped, when the run
 * ends).  The engine's own messages to and from the tracker are counted
 * apart, in tracker_bytes_*, never as the algorithm's control. */
struct cr__peer_stats {
	uint64_t data_msgs_in, data_bytes_in;
	uint64_t ctrl_msgs_in, ctrl_bytes_in;
	uint64_t data_msgs_out, data_bytes_out;
	uint64_t ctrl_msgs_out, ctrl_bytes_out;
	uint64_t data_msgs_offered, data_bytes_offered;
	uint64_t tracker_bytes_in, tracker_bytes_out;
	struct cr__ep_stats net; /* its endpoint's: datagrams, bad frames,
				  * limits */
	struct cr__tracker_stats tracker; /* when this peer is the tracker */
	uint64_t departures;
	uint64_t births, deaths, failed_births;
	/* what its viewer saw (cr_report_playback) */
	bool play_reported;
	cr_playback_report play;
	/* time alive: over its past lives, and since its latest birth */
	int64_t alive_ns;
	int64_t born_ns;
	/* the algorithm's own results (cr_report_value), by the index of
	 * their name in the node's table; bit k of values_set: value k was
	 * reported */
	uint32_t values_set;
	double values[CR_REPORT_VALUES_MAX];
};

struct cr_node_param {
	const char *name;
	const char *value;
};

/* A timed event of one peer (from an events file). */
enum cr_node_ev {
	CR_NEV_BIRTH,
	CR_NEV_DIE,
	CR_NEV_JOIN,
	CR_NEV_LEAVE,
	CR_NEV_DEPLOY,
	CR_NEV_TERMINATE,
};

struct cr_node_event {
	int64_t time_ns;
	uint8_t type;	   /* enum cr_node_ev */
	uint16_t session;  /* join, leave, deploy, terminate */
	uint64_t rate_Bps; /* deploy: 0 means the session's own rate */
};

struct cr_node_peer {
	cr_addr addr;
	const cr_addr *boot; /* bootstrap peers handed to the algorithm */
	size_t nboot;
	bool is_tail;	     /* last of a chain: reported as tail_rate */
	bool is_tracker;     /* the in-process tracker, not an algorithm peer */
	bool remote;	     /* hosted by another node: known, not run here */
	uint16_t session;    /* joined right after bootstrap; 0: none */
	const cr_link_limits *limits; /* NULL: the config's limits */
	const char *class_name;	      /* for peers.csv; NULL: "peer" */
	/* Its life, in time order.  NULL: born at 0, lives to the end. */
	const struct cr_node_event *events;
	size_t nevents;
};

/* One entry of a pairwise latency matrix: the one-way delay from -> to. */
struct cr_latency {
	cr_addr from, to;
	int64_t delay_ns;
};

/* A peer whose played stream is written to a file or pipe. */
struct cr_node_playout {
	cr_addr addr;
	const char *path;
};

/* The tracker's limits by default: the sessions one peer address may be
 * registered in (a peer registers in one), and the peers one session may
 * hold.  A REGISTER past either is refused. */
#define CR__TRACKER_SESSIONS_PER_PEER 16
#define CR__TRACKER_PEERS_PER_SESSION 65536

/* Bootstrapping through a tracker. */
struct cr_node_tracker {
	bool enabled;	      /* peers register at birth */
	cr_addr addr;	      /* where the tracker listens */
	uint32_t reply_peers; /* peers in a reply */
	bool probe;	      /* the tracker probes (else peers report) */
	int64_t interval_ns;
	int64_t timeout_ns;
	/* REGISTERs past these are refused (0: CR__TRACKER_SESSIONS_PER_PEER,
	 * CR__TRACKER_PEERS_PER_SESSION) */
	uint32_t max_sessions_per_peer;
	uint32_t max_peers_per_session;
};

struct cr_node_config {
	const char *name;  /* experiment name */
	uint64_t exp_id;   /* 0: derived from the name */
	int64_t duration_ns;
	int workers;	   /* 0: one per core */
	const cr_algorithm *algo;
	const struct cr_node_param *params;
	size_t nparams;
	const struct cr_node_peer *peers;
	size_t npeers;
	const struct cr__source_cfg *sources;
	size_t nsources;
	uint32_t max_msg_bytes; /* 0: 16 MiB */
	size_t queue_limit;	/* 0: CR__DEFAULT_QUEUE_LIMIT */
	const char *log_dir;	/* NULL: no log files, warnings to stderr */
	int log_level;
	/* Peers logged at trace level whatever log_level says: patterns
	 * matched against "IP:port" as by fnmatch(3) (127.0.0.1:2000*). */
	const char *const *trace;
	size_t ntrace;
	/* The run directory's CSV files (docs/run-directory.md): peers.csv,
	 * workers.csv and peers-final.csv.  NULL: none. */
	const char *metrics_dir;
	int64_t sample_interval_ns; /* 0: 1 s */
	/* Play-out: these peers write what they play (cr_play_out); each
	 * must be a peer of this node.  Opened at start: a FIFO waits for
	 * its reader there. */
	const struct cr_node_playout *playout;
	size_t nplayout;
	int64_t stats_interval_ns; /* 0: 250 ms */
	uint64_t seed;		   /* for jitter, loss and sources */
	int64_t warmup_ns;	   /* rates count from here on */
	/* Shaped releases due within this of a wake-up leave with it, those
	 * of one connection in one write (0: CR__SHAPE_COALESCE, 20 us).  A
	 * wider window costs fewer wake-ups and system calls and writes
	 * frames up to this much before their release times. */
	int64_t batch_ns;
	/* Workers never sleep: each polls its sockets and timers without
	 * blocking, so that a release is not late by the time an idle core
	 * takes to wake up.  Costs a whole core per worker. */
	bool busy_poll;
	/* The share of a core each worker may spend spinning so that it
	 * wakes on time for its next release rather than when an idle core
	 * gets round to it: 0 (the default) never spins; at most 1.  `--spin
	 * auto` is CR__SPIN_BUDGET. */
	double spin_budget;
	int64_t hello_timeout_ns;  /* 0: CR__HELLO_TIMEOUT */
	/* What a remote may make a peer hold (docs/wire-format.md, Limits).
	 * max_conns: connections of one peer past which incoming ones are
	 * closed at once; 0: twice the experiment's peers, plus 64 (the
	 * tracker is never capped).  idle_timeout_ns: an incoming connection
	 * that delivers nothing after its hello for this long is closed;
	 * frame_timeout_ns: a frame begun must be finished within it; 0 for
	 * either: 30 s, plus twice the largest frame's time at the slowest
	 * rate limit of the experiment, plus its longest link delay.
	 * partial_limit: the node's bytes of unfinished frames; past it the
	 * largest is closed; 0: CR__DEFAULT_PARTIAL_LIMIT. */
	uint32_t max_conns;
	int64_t idle_timeout_ns;
	int64_t frame_timeout_ns;
	uint64_t partial_limit;
	cr_link_limits limits;	   /* every peer's link, unless its own */
	struct cr_node_tracker tracker;
	const struct cr_latency *matrix; /* overrides access delays */
	size_t nmatrix;
	/* When experiment time 0 is: called by cr_node_start once every
	 * worker has opened its sockets, on the caller's thread; it returns
	 * 0 with *origin_ns, the CLOCK_MONOTONIC instant of time 0 (the
	 * node waits for it, if it is ahead), or a negative error that
	 * abandons the start, with err saying why.  A run spanning hosts
	 * waits there for the others (src/cli/coord.c).  NULL: time 0 is as
	 * soon as every socket is open. */
	int (*start_at)(void *ctx, int64_t *origin_ns, char *err,
			size_t errlen);
	void *start_ctx;
};

struct cr_node_fd_budget {
	uint64_t needed;
	uint64_t available;
	uint64_t limit;
};

/* Counts descriptors the config needs against what the process has. */
void cr_node_fd_budget(const struct cr_node_config *cfg,
		       struct cr_node_fd_budget *b);

/* An experiment id (for the hello) from a text that names the experiment:
 * every node of one experiment must derive it from the same text. */
uint64_t cr_node_experiment_id(const char *text);

/* Is this IP address one of this host's (loopback included)? */
bool cr_node_ip_is_local(const cr_addr *a);

int cr_node_create(const struct cr_node_config *cfg, cr_node **out,
		   char *err, size_t errlen);
/* Opens every peer's sockets and starts the experiment clock.  On failure
 * nothing keeps running and err says why. */
int cr_node_start(cr_node *n, char *err, size_t errlen);
/* Waits up to timeout_ns; true once the experiment has ended (duration,
 * cr_node_stop or cr_experiment_stop). */
bool cr_node_wait(cr_node *n, int64_t timeout_ns);
/* Asks the experiment to end (thread-safe). interrupted: by a signal. */
void cr_node_stop(cr_node *n, bool interrupted);
/* Waits for the workers to finish. */
void cr_node_join(cr_node *n);
/* start + wait for the duration + join. */
int cr_node_run(cr_node *n, char *err, size_t errlen);
void cr_node_destroy(cr_node *n);

/* Another host of the run was lost (thread-safe; nothing before the start
 * or after the end): every peer of this node closes its connections with
 * peers at these IPs, abortively, and hears each such neighbour depart
 * once (the algorithm's peer_departed), as if the connections had broken;
 * a neighbour whose connections had broken already is not heard of again.
 * 0, or -CR_ENOMEM. */
int cr_node_hosts_lost(cr_node *n, const cr_addr *ips, size_t nips);
/* CLOCK_REALTIME, in ns since the epoch, at experiment time 0 (after
 * start). */
int64_t cr_node_start_unix_ns(const cr_node *n);

/* Why the run directory's CSV files could not all be written at join, or
 * NULL when they were (or none were asked for). */
const char *cr_node_metrics_error(const cr_node *n);

/* Results, valid after join. */
void cr_node_result(const cr_node *n, struct cr_node_result *r);
const struct cr__peer_stats *cr_node_peer_stats(const cr_node *n, size_t i);
/* Live numbers for a status line, any time after start. */
void cr_node_live(const cr_node *n, int64_t *now_ns, uint64_t *data_bytes_in,
		  uint64_t *peers_up);
/* The live numbers are each worker's as of its latest publication (every
 * stats_interval_ns, and when it ends): this is the oldest of those
 * times.  A reader that wants the numbers of time t waits until it is t
 * or later. */
int64_t cr_node_live_since(const cr_node *n);
/* The largest 99th percentile of timer lag over the workers' last
 * samples (0 before the first). */
int64_t cr_node_live_late_p99(const cr_node *n);
/* How long other work held the workers off their cores over their last
 * samples, summed over the workers (0 before the first). */
int64_t cr_node_live_held(const cr_node *n);
/* More live numbers: peers alive, and the mean continuity so far over the
 * peers that have played (-1 when none has). */
void cr_node_live_stream(const cr_node *n, uint64_t *peers_alive,
			 double *continuity);
int64_t cr_node_now(const cr_node *n);

#endif
