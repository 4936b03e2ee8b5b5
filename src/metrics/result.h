/* What a node hands back when its run is over (struct cr_node_result):
 * the counters and figures the engine gathers over its peers and workers,
 * in a layout of their own, so that what is made of them -- the fidelity
 * verdict (fidelity.c, result.c) and summary.json (summary.c) -- is
 * computed here from them alone, knowing nothing of the engine.  The
 * engine fills it (src/engine/results.c, cr_node_result()); only core
 * types here.
 */
#ifndef CRYSTAL_METRICS_RESULT_H
#define CRYSTAL_METRICS_RESULT_H

#include "../core/addr.h"
#include "../core/common.h"

/* What the node's limits refused or closed, as indices into
 * cr_node_result.limit_hits: the network's limits (enum cr__limit, in its
 * order; the engine checks that at compile time). */
enum cr_result_limit {
	CR_RESULT_LIMIT_CONNS,	 /* connections refused */
	CR_RESULT_LIMIT_IDLE,	 /* idle, closed */
	CR_RESULT_LIMIT_FRAME,	 /* frames timed out */
	CR_RESULT_LIMIT_PARTIAL, /* closed over the budget of unfinished bytes */
	CR_RESULT_LIMIT_N
};

/* What a tracker did (tracker.c), counted on its own peer: registrations
 * recorded (new entries and refreshes), queries, answers sent, entries
 * dropped as silent or as departed, REGISTERs refused past either limit,
 * and the most entries it held at once. */
struct cr__tracker_stats {
	uint64_t registrations, queries, replies;
	uint64_t timed_out, departed;
	uint64_t refused_sessions_per_peer, refused_peers_per_session;
	uint64_t entries_max;
};

/* A distribution over peers. */
struct cr_node_dist {
	uint64_t n; /* peers counted */
	double mean, min, p5, p50, p95;
};

/* A node of a run spanning hosts that was lost before the end: its
 * identity (the IPs of its peers, comma-joined), its host name, and the
 * experiment time the run noticed. */
struct cr_result_lost {
	const char *node;
	const char *host;
	int64_t at_ns;
};

/* The run spanning hosts that a node took part in (docs/many-hosts.md):
 * the embedder fills it once the node has ended (the command line's
 * coordinator, src/cli/coord.c); the strings are its.  Absent (NULL) for
 * a run on one host, whose summary.json has none of it. */
struct cr_result_hosts {
	const char *run_id;	 /* 16 hex digits, the same on every node */
	const char *node;	 /* this node's identity */
	uint32_t nodes;		 /* in the run */
	const char *coordinator; /* "IP:PORT" */
	/* the coordinator's clock minus this node's, as measured, and half
	 * the round trip of the sample it came from (0 and 0 on the
	 * coordinator) */
	int64_t clock_offset_ns, clock_uncertainty_ns;
	int64_t start_unix_ns; /* this node's CLOCK_REALTIME at time 0 */
	const struct cr_result_lost *lost;
	size_t nlost;
};

struct cr_node_result {
	const char *experiment;	/* its name (the node's configuration's) */
	uint64_t experiment_id; /* as the hello carries it */
	int64_t sample_interval_ns; /* of the run directory's CSV files */
	int64_t elapsed_ns;
	int64_t measured_ns;	/* the span rates are computed over */
	bool interrupted;	/* stopped before the duration */
	uint64_t peers;
	int workers;
	double cumulative_rate_Bps;
	double per_peer_rate_Bps;
	double min_peer_rate_Bps;
	double tail_rate_Bps;
	double tail_wire_rate_Bps; /* with frame headers: what the links carried */
	uint64_t messages_switched;
	uint64_t data_bytes_in;
	uint64_t bad_frames;
	int64_t timer_lag_p50_ns, timer_lag_p99_ns, timer_lag_max_ns;
	/* link emulation fidelity */
	bool shaped;
	int64_t late_limit_ns;	/* a release later than this is late */
	uint64_t late_samples;	/* stamped frames written */
	/* ... and those later than late_limit_ns; the same of the
	 * reads resumed after a download bucket's wait */
	uint64_t late_over, rx_late_over;
	/* ... of which due while a worker was held off its core */
	uint64_t late_held, rx_late_held;
	int64_t late_p50_ns, late_p99_ns, late_max_ns;
	double late_mean_ns;
	int64_t batch_ns;	/* the batch window the run used */
	uint64_t shaped_writes; /* system calls that wrote stamped frames */
	int64_t early_max_ns;	/* the earliest a frame was written */
	uint64_t fid_links;	/* links long enough to judge their rate */
	double rate_err_mean;	/* mean |achieved/configured - 1| */
	double rate_err_worst;	/* signed, of the worst link */
	uint64_t rate_worst_configured_Bps;
	char rate_worst_link[2 * CR_ADDR_STRLEN + 8];
	/* the receiving side: how late reading resumed after a download
	 * bucket's wait, and the download rates of the links judged */
	uint64_t rx_late_samples;
	int64_t rx_late_p50_ns, rx_late_p99_ns, rx_late_max_ns;
	uint64_t fid_rx_links;
	double rx_rate_err_mean, rx_rate_err_worst;
	uint64_t rx_rate_worst_configured_Bps;
	char rx_rate_worst_link[2 * CR_ADDR_STRLEN + 8];
	/* waiting for the link (its rate, or a receiver that did not read):
	 * part of a message's delay, not an error of the emulation */
	uint64_t queueing_samples;
	uint64_t frames_after_full; /* waited for a socket the far end did
				     * not read: queueing, not lateness */
	int64_t queueing_p50_ns, queueing_p99_ns, queueing_max_ns;
	double queueing_mean_ns;
	/* the link whose writes were latest on average */
	int64_t added_delay_worst_mean_ns;
	char added_delay_worst_link[2 * CR_ADDR_STRLEN + 8];
	uint64_t udp_lost, udp_dropped, udp_rx_dropped, udp_rx_overflow;
	uint64_t births, deaths, failed_births;
	/* the limits as used, and what each refused or closed (enum
	 * cr_result_limit); the most bytes of unfinished frames the node
	 * held; the largest message and the tracker's limits as used */
	uint32_t max_conns; /* 0: none */
	int64_t idle_timeout_ns, frame_timeout_ns;
	uint64_t partial_limit;
	uint64_t limit_hits[CR_RESULT_LIMIT_N];
	uint64_t partial_peak;
	uint32_t max_message;
	uint32_t max_sessions_per_peer, max_peers_per_session;
	uint64_t bad_datagrams;
	/* stream quality (see cr_report_playback) */
	struct cr_node_dist continuity;	      /* played / due */
	struct cr_node_dist startup_delay_s;  /* join to first segment played */
	struct cr_node_dist control_overhead; /* control bytes / data bytes in */
	struct cr_node_dist duplicate_ratio;  /* duplicate / data bytes in */
	struct cr_node_dist segment_latency_s; /* source whole to peer whole */
	/* precise wake-ups: how late the workers woke from sleep, the lead
	 * they woke early by (mean over the run and the workers), and the
	 * time they spun, as a share of one core over the run */
	uint64_t wakeups; /* from sleep, by the timer */
	int64_t wake_late_p50_ns, wake_late_p99_ns, wake_late_max_ns;
	int64_t wake_lead_mean_ns;
	double spin_cores;
	double spin_budget; /* per worker, as used (0: no spinning) */
	/* the share of the workers' 250 ms windows in which they waited for
	 * a core (other work competed for it), when spinning stays off */
	double contended_share;
	uint64_t spin_misses; /* deadlines run late while spinning for them */
	/* the workers held off their cores by other work: wake-ups later
	 * than the late limit past the time they meant to be up, that
	 * lateness summed, and the share of the workers' time they were
	 * runnable but waiting for a core (-1: the kernel does not say) */
	uint64_t held;
	int64_t held_ns;
	double cpu_wait_share;
	/* the algorithm's own values (cr_report_value), by name in byte
	 * order, each over the peers of this node that reported it */
	size_t nvalues;
	struct cr_node_value {
		char name[CR_REPORT_NAME_MAX + 1];
		struct cr_node_dist dist;
	} values[CR_REPORT_VALUES_MAX];
	/* the algorithm's work on the thread pool (cr_work_submit), over
	 * its peers: submitted, done, cancelled, and the pool's CPU time */
	uint64_t works_submitted, works_done, works_cancelled;
	int64_t work_cpu_ns;
	/* the tracker of this node, if it ran one (tracker_ran) */
	bool tracker_ran;
	struct cr__tracker_stats tracker;
	/* a run spanning hosts; NULL on one host */
	const struct cr_result_hosts *hosts;
	bool degraded;
	char degraded_reason[256];
	char degraded_cause[256]; /* cr_fidelity_cause's, for a degraded run */
};

/* Sets r->degraded and r->degraded_reason from r's fidelity figures, as
 * fidelity.c's verdict judges them, with the clock of r->hosts when there
 * is one (result.c): judged again when the embedder adds that. */
void cr_fidelity_judge(struct cr_node_result *r);

/* d: the mean, the least and the 5th, 50th and 95th percentiles (nearest
 * rank) of v[0..n), which it sorts (result.c). */
void cr_result_dist(double *v, size_t n, struct cr_node_dist *d);

#endif
