/* The engine's internals, shared between its files (prefix cr__): peers,
 * workers, sources, the tracker, the node.
 *
 * The engine stands on the network (src/net/net.h) and core; nothing here
 * is visible to an algorithm, which sees only include/crystal/, nor to an
 * embedder, which sees src/engine/node.h.
 */
#ifndef CRYSTAL_ENGINE_ENGINE_H
#define CRYSTAL_ENGINE_ENGINE_H

#include "../core/log.h"
#include "../net/net.h"
#include "../net/transport.h"
#include "node.h"
#include <crystal/thread.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

struct cr__worker;
struct cr__node;
struct cr_node_event;

/* --- algorithms ------------------------------------------------------------ */

/* A shared object built for API version 1 defines a cr_algorithm that ends
 * before tracker_peers: only this much of it may be read. */
#define CR__ALGO_V1_SIZE offsetof(cr_algorithm, tracker_peers)
/* ... and one built for version 2 before param_specs. */
#define CR__ALGO_V2_SIZE offsetof(cr_algorithm, param_specs)

/* --- work on the pool (work.c) ------------------------------------------ */

struct cr__work;
/* A peer's works, all on its worker's thread.  The records stay until
 * libuv has called back for them; `undelivered` of them still owe the
 * algorithm its done.  When the life ends with some running, the end is
 * finished by the last of them (destroy_due, wipe_due). */
struct cr__peer_work {
	struct cr__work *head;
	uint32_t n, undelivered;
	cr_work_id next_id;
	bool closed;	  /* the life is ending: no submits */
	bool destroy_due; /* the algorithm's destroy waits for them */
	bool wipe_due;	  /* ... then the state is zeroed (a death) */
	/* over all lives: done with 0, done with -CR_ECANCELED, the pool
	 * threads' CPU time */
	uint64_t submitted, completed, cancelled;
	int64_t cpu_ns;
};

/* The life of p is ending (life.c): no more submits; works not started
 * are cancelled and their done called now.  Returns true when all were,
 * false when some are running: then the end is finished, by
 * cr__peer_end_finish, when the last of them returns. */
bool cr__work_peer_end(struct cr_peer *p);
/* One line in the worker's log, at its end: its peers' works submitted,
 * done, cancelled and their CPU time, over the run (none without any). */
void cr__work_worker_summary(struct cr__worker *w);
/* Aborts the process when called from a work function (a pool thread):
 * `what` names the service. */
void cr__work_guard(const char *what);

/* --- peers ---------------------------------------------------------- */

struct cr_peer {
	/* its sockets, connections and link emulation (src/net); ep.alive
	 * says whether the peer lives */
	struct cr__ep ep;
	struct cr__worker *w;
	struct cr__node *node;
	uint32_t index;
	cr_addr addr;
	char name[CR_ADDR_STRLEN];
	const char *class_name;
	int log_level;	   /* the node's, or trace for a traced peer */
	int playout_fd;	   /* --play-out, or -1 */
	bool sampled_alive; /* alive at the last sample (peers.csv) */
	const cr_algorithm *algo;
	void *state;
	bool booted;
	bool is_tail; /* last peer of a chain (built-in chains experiment) */
	bool remote;  /* runs on another host's node */

	cr_addr *boot;
	size_t nboot;
	uint16_t birth_session; /* joined right after bootstrap; 0: none */
	uint16_t register_session; /* asked of the tracker at birth */
	uint16_t cfg_session;	   /* birth_session as configured */
	const struct cr_node_event *events;
	size_t nevents;
	uint16_t *sessions; /* joined now */
	size_t nsessions;
	struct cr__source *source;

	struct cr__peer_stats st;
	/* bootstrapping through the tracker (tracker.c) */
	struct cr__tracker *tracker; /* this peer IS the tracker (running) */
	bool is_tracker_peer;
	bool tracker_wait;	     /* registered, waiting for peers */
	bool boot_from_tracker;	     /* p->boot is the tracker's answer */
	uint64_t tracker_wait_timer;
	/* the algorithm's query (cr_tracker_query), while it waits */
	bool query_wait;
	uint16_t query_session;
	uint64_t query_timer;
	int64_t query_next_ns; /* no query before this */

	int64_t join_ns; /* first join, for the startup delay */
	cr_rand rand;	 /* cr_peer_rand: seeded at each birth */

	uint64_t warm_data_bytes_in; /* data_bytes_in at the end of warm-up */
	uint64_t warm_data_msgs_in;
	struct cr__peer_work work; /* cr_work_submit (work.c) */
};

/* Is p's last life still closing (works running, their done owed)?  It is
 * not born again until it is not. */
static inline bool cr__work_closing(const struct cr_peer *p)
{
	return p->work.undelivered > 0;
}

/* What the network reports of a peer's endpoint (peer.c). */
extern const struct cr__net_ops cr__peer_net_ops;
/* Calls the algorithm's bootstrap (and the birth session's join). */
void cr__peer_bootstrap(struct cr_peer *p);
/* Is the peer born at time 0 (its sockets open before the clock starts)? */
bool cr__peer_born_at_start(const struct cr_peer *p);
/* How a peer's life ends (life.c): it dies during the run (abruptly, its
 * sockets reset; it may be born again), or the run ends around it (its
 * connections closed in order, a summary line of its limits). */
enum cr__peer_end {
	CR__PEER_DIES,
	CR__PEER_RUN_ENDS,
};
/* Ends p's life, the one way for both: the algorithm's destroy (or the
 * tracker's stop, at the run's end), its source stopped, its timers
 * cancelled, its sockets closed; nothing if a dying peer is not alive. */
void cr__peer_end(struct cr_peer *p, enum cr__peer_end how);
/* The rest of an end that waited for running works: the algorithm's
 * destroy, and a dead peer's state zeroed. */
void cr__peer_end_finish(struct cr_peer *p);
/* Puts the events of the worker's peers' lives on its timers (life.c). */
void cr__life_schedule(struct cr__worker *w);

/* --- tracker ---------------------------------------------------------- */

/* How long a new peer waits for the tracker before it bootstraps alone. */
#define CR__TRACKER_WAIT (2 * CR_SEC)

/* The bytes of an address in a PEERS message: family, port, 16 bytes. */
#define CR__TRACKER_ADDR_WIRE 19

int cr__tracker_start(struct cr_peer *p);
/* Sends an engine message of `type` over TCP. */
int cr__tracker_send(struct cr_peer *p, const cr_addr *to, uint8_t type,
		     const void *payload, uint32_t len);
/* A PEERS message from p's tracker (tracker-peer.c). */
void cr__tracker_answered(struct cr_peer *p, const uint8_t *pl, uint32_t len);
void cr__tracker_stop(struct cr_peer *p);
void cr__tracker_departed(struct cr_peer *p, const cr_addr *who);
int cr__tracker_register(struct cr_peer *p, uint16_t session);
void cr__tracker_handle(struct cr_peer *p, const cr_addr *from,
			struct cr_msg *m);
/* A line of peer p's, if its level (the node's, or trace for a traced
 * peer) lets it through. */
void cr__plog(const struct cr_peer *p, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* --- sources ---------------------------------------------------------- */

struct cr__source {
	struct cr__source_cfg cfg; /* as configured: read by every worker */
	uint64_t rate_Bps;	   /* the rate of this deploy (its worker's) */
	int64_t start_ns;	   /* when this deploy began (its worker's) */
	_Atomic int64_t pub_start_ns; /* the same for every worker; -1 */
	struct cr_peer *p;
	uint64_t produced;
	uint64_t bytes;
	cr_rand rng;
	uint64_t timer;
	bool waiting_drain;
	bool done;
	int fd;		 /* file or stdin; -1 for random data */
	uint8_t *buf;	 /* stdin: bytes read but not yet sent */
	size_t buf_len;
	bool eof;
};

void cr__source_start(struct cr_peer *p, struct cr__source *s);
void cr__source_drained(struct cr__source *s);
void cr__source_stop(struct cr__source *s);

/* --- workers ---------------------------------------------------------- */

struct cr__worker {
	struct cr__node *node;
	int id;
	struct cr__net net; /* its loop, timers, pool, connections */
	uv_async_t wake;
	uv_prepare_t flush_hook;
	uv_timer_t timer_ms; /* the wake-up where there is no ppoll wait */
	/* precise wake-ups (worker.c): the worker wakes lead_ns before the
	 * earliest deadline and the loop spins the last stretch */
	uv_idle_t spin;
	bool spinning;
	double spin_budget;	  /* fraction of a core; 0: never spin */
	int64_t lead_ns, lead_target_ns;
	int64_t wake_p99_ns[8];	  /* of the last windows, a ring */
	unsigned wake_p99_at;
	int64_t spin_from;	  /* spinning is counted up to here */
	int64_t win_from, win_spin_ns; /* the current adaptation window */
	/* the machine's busy time and this process's CPU time, as at the
	 * last window, to tell the load of other work */
	int64_t busy_ns, self_ns;
	int spin_hold;		  /* windows left before spinning may resume */
	int spin_backoff;	  /* the next hold after a failed window */
	uint64_t win_misses;	  /* deadlines run late while spinning for them */
	uint64_t spin_misses;	  /* ... over the run */
	uint64_t windows, contended_windows; /* ... when it waited for a core */
	/* held off: the wake-ups that came more than the late limit after
	 * the time the worker meant to be up (other work had its core), and
	 * the time it was runnable but waiting for a core (the kernel's
	 * schedstat run_delay), since the warm-up */
	uint64_t held;
	int64_t held_ns;
	int64_t run_delay_ns, run_delay_at; /* the sum; the kernel's last */
	int64_t run_delay_from, run_delay_to; /* the span it covers */
	struct cr__hist wake_win; /* wake-up lateness from sleep, this window */
	struct cr__hist wake_late; /* ... over the run */
	int64_t spin_ns;	  /* time spent spinning, over the run */
	double lead_ns_sum;	  /* lead x time, for its mean over the run */
	int64_t lead_time_ns;
	pthread_t thread;
	cr__log log;
	cr__clock *clock;

	struct cr_peer **peers;
	size_t npeers;

	int setup_err;
	char setup_msg[256];
	bool stopping;
	size_t lost_done; /* entries of node->lost dealt with */

	/* published for the node's status line, written by this worker */
	_Atomic uint64_t pub_data_bytes_in;
	_Atomic int64_t pub_stats_ns; /* when the pub_ counters were taken */
	uint64_t msgs_switched;
	struct cr__hist lag; /* timer lag, kept after the timers are freed */
	_Atomic uint64_t pub_alive;	   /* its peers alive */
	/* release lateness p99, sending or receiving, over the last
	 * sample's interval */
	_Atomic int64_t pub_late_p99;
	/* how long other work held it off its core over that interval */
	_Atomic int64_t pub_held_ns;
	int64_t held_mark; /* held_ns at the last sample */
	_Atomic uint64_t pub_played, pub_due; /* segments, over its peers */
	/* the per-second samples (sampler.c) */
	bool sampling;
	int64_t last_sample_ns;
	int64_t samples; /* periodic ones taken */
	struct cr__hist lag_mark, late_mark, rx_late_mark; /* at the last sample */
	char *rows;
	size_t rows_len, rows_cap;
	int64_t sweep_ns; /* how often its connections' waits are checked */
};

/* Schedules work on the worker's timer structure; rearms the wake-up. */
uint64_t cr__worker_timer(struct cr__worker *w, int64_t due_ns,
			  int64_t period_ns, cr__timer_fn fn, void *ctx,
			  void *arg, const void *owner);
/* The worker of a network loop. */
static inline struct cr__worker *cr__worker_of(struct cr__net *net)
{
	return cr__container_of(net, struct cr__worker, net);
}
uint64_t cr__worker_timer_user(struct cr__worker *w, struct cr_peer *p,
			       int64_t due_ns, int64_t period_ns,
			       cr_timer_cb cb, void *arg);
void cr__worker_rearm(struct cr__worker *w);
void cr__worker_run_delay(struct cr__worker *w, bool restart);
/* Runs the worker's loop until its handles are closed (worker.c). */
void cr__worker_loop(struct cr__worker *w);
/* The network's rearm callback (cr__peer_net_ops). */
void cr__worker_net_rearm(struct cr__net *net);
int cr__worker_setup(struct cr__worker *w);
/* Asks the scheduler for short time slices for the calling thread, so that
 * it preempts CPU-bound work promptly when it wakes (Linux 6.12 and later;
 * a no-op elsewhere). */
void cr__worker_short_slice(void);
void cr__worker_teardown(struct cr__worker *w);

/* --- inside the engine -------------------------------------------------- */

struct cr__node {
	struct cr_node_config cfg; /* cfg.algo points at algo */
	/* the algorithm, as a whole struct of this API version: one built for
	 * an older version is copied as far as it goes, the rest NULL */
	cr_algorithm algo;
	struct cr_node_peer *peer_cfg;
	struct cr__param *params;
	size_t nparams;
	/* the typed parameters' values, parsed and checked (params.c), one
	 * per entry of algo.param_specs */
	double *pvalues;
	size_t npvalues;
	uint64_t exp_id;
	uint16_t exp_tag;
	uint64_t seed;
	int64_t hello_timeout_ns;
	/* every peer of the experiment by address, for access delays */
	uint32_t *addr_index; /* open addressing: peer index + 1, 0 empty */
	size_t addr_cap;
	struct cr_latency *matrix; /* sorted by (from, to) */
	size_t nmatrix;
	uint32_t max_msg;
	size_t queue_limit;
	/* the limits as resolved from the config (0: none) */
	uint32_t max_conns;
	int64_t idle_timeout_ns, frame_timeout_ns;
	uint64_t partial_limit;
	/* what the network needs of the node, shared by every worker; it
	 * counts the bytes of unfinished frames held by all of them */
	struct cr__net_cfg net_cfg;
	cr__clock clock;
	cr__log log; /* node-level log (main thread) */

	struct cr__worker *workers;
	int nworkers;
	int nworkers_started; /* threads running, to wake and join */
	struct cr_peer *peers;
	size_t npeers;
	struct cr__source *sources;
	size_t nsources;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	int ready;	  /* workers done with setup */
	bool go;	  /* the experiment clock started */
	bool abort_start; /* a worker failed to set up */
	_Atomic bool ended;
	_Atomic bool interrupted;
	/* the run directory's CSV files (sampler.c) */
	FILE *csv_peers, *csv_workers;
	pthread_mutex_t csv_lock;
	int64_t sample_ns;
	char metrics_err[256];
	int64_t end_ns;
	bool joined;
	bool started;
	int64_t start_unix_ns; /* CLOCK_REALTIME at experiment time 0 */
	/* the IPs of hosts of the run that were lost (cr_node_hosts_lost),
	 * under lock; each worker drops its peers' connections with them and
	 * counts how many it has done in lost_done */
	cr_addr *lost;
	size_t nlost, lost_cap;
	/* the names of the algorithm's values (cr_report_value): added under
	 * values_lock, read without it up to nvalues (each name is written
	 * before nvalues counts it) */
	char value_names[CR_REPORT_VALUES_MAX][CR_REPORT_NAME_MAX + 1];
	_Atomic uint32_t nvalues;
	_Atomic bool values_full_said; /* a name past the limit was logged */
	pthread_mutex_t values_lock;
};

struct cr__param {
	char *name;
	char *value;
};

const char *cr__node_param(const struct cr__node *n, const char *name);
/* The algorithm's parameters: defaults, then the -D values, each typed
 * one parsed and checked against its range (params.c).  On a bad one,
 * -CR_EINVAL with a message naming it in err. */
int cr__params_init(struct cr__node *n, char *err, size_t errlen);
void cr__params_free(struct cr__node *n);
/* The algorithm's value names reported so far, as indices into
 * value_names in byte order of the names; returns how many. */
size_t cr__node_value_order(const struct cr__node *n,
			    uint32_t order[CR_REPORT_VALUES_MAX]);

/* The run directory's CSV files (docs/run-directory.md). */
int cr__sampler_open(struct cr__node *n, char *err, size_t errlen);
/* A worker's rows of one sample (on its thread), labelled now_ns: the
 * sample's nominal time, the same on every worker. */
void cr__sampler_worker(struct cr__worker *w, int64_t now_ns);
/* peers-final.csv, then closes every file; 0 or -1 (err says why). */
int cr__sampler_close(struct cr__node *n, char *err, size_t errlen);

#endif
