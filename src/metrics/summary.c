/* summary.json: what a run did, in one file (docs/run-directory.md).
 *
 * Written from the node's result (result.h) alone, plus what the caller
 * adds: the start time, the CPU the experiment took, and the members of
 * "parameters" (the command's options as the run used them, written by a
 * callback, so that this file knows nothing of the command line or of
 * the engine).  It is written to summary.json.tmp and renamed, and its last
 * key, "complete", is written last: a summary.json is whole or absent.
 */
#include "json.h"
#include "summary.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* A distribution over peers: null when no peer counted. */
static void json_dist(struct cr_json *j, const char *key,
		      const struct cr_node_dist *d)
{
	if (!d->n) {
		cr_json_str(j, key, NULL);
		return;
	}
	cr_json_object(j, key);
	cr_json_uint(j, "peers", d->n);
	cr_json_num(j, "mean", d->mean);
	cr_json_num(j, "min", d->min);
	cr_json_num(j, "p5", d->p5);
	cr_json_num(j, "p50", d->p50);
	cr_json_num(j, "p95", d->p95);
	cr_json_close(j);
}

/* What the tracker of this node did, and its limits as used. */
static void json_tracker(struct cr_json *j, const struct cr_node_result *r)
{
	const struct cr__tracker_stats *t = &r->tracker;

	cr_json_object(j, "tracker");
	cr_json_uint(j, "registrations", t->registrations);
	cr_json_uint(j, "queries", t->queries);
	cr_json_uint(j, "replies", t->replies);
	cr_json_uint(j, "timed_out", t->timed_out);
	cr_json_uint(j, "departed", t->departed);
	cr_json_uint(j, "entries_max", t->entries_max);
	cr_json_uint(j, "refused_sessions_per_peer",
		     t->refused_sessions_per_peer);
	cr_json_uint(j, "refused_peers_per_session",
		     t->refused_peers_per_session);
	cr_json_uint(j, "max_sessions_per_peer", r->max_sessions_per_peer);
	cr_json_uint(j, "max_peers_per_session", r->max_peers_per_session);
	cr_json_close(j);
}

/* What remotes may make a peer hold, and what that refused or closed. */
static void json_limits(struct cr_json *j, const struct cr_node_result *r)
{
	cr_json_object(j, "limits");
	cr_json_uint(j, "max_connections", r->max_conns);
	cr_json_num(j, "idle_timeout_s", (double)r->idle_timeout_ns / 1e9);
	cr_json_num(j, "frame_timeout_s", (double)r->frame_timeout_ns / 1e9);
	cr_json_uint(j, "partial_frames_limit", r->partial_limit);
	cr_json_uint(j, "max_message", r->max_message);
	cr_json_uint(j, "connections_refused",
		     r->limit_hits[CR_RESULT_LIMIT_CONNS]);
	cr_json_uint(j, "idle_closed", r->limit_hits[CR_RESULT_LIMIT_IDLE]);
	cr_json_uint(j, "frame_timeouts", r->limit_hits[CR_RESULT_LIMIT_FRAME]);
	cr_json_uint(j, "partial_frames_closed",
		     r->limit_hits[CR_RESULT_LIMIT_PARTIAL]);
	cr_json_uint(j, "partial_frames_peak", r->partial_peak);
	cr_json_uint(j, "bad_datagrams", r->bad_datagrams);
	cr_json_close(j);
}


/* A run spanning hosts: which, this node's place and clock in it, and the
 * nodes it lost (docs/run-directory.md). */
static void json_hosts(struct cr_json *j, const struct cr_result_hosts *h)
{
	cr_json_str(j, "run_id", h->run_id);
	cr_json_str(j, "node", h->node);
	cr_json_uint(j, "nodes", h->nodes);
	cr_json_str(j, "coordinator", h->coordinator);
	cr_json_int(j, "start_unix_ns", h->start_unix_ns);
	cr_json_object(j, "clock");
	cr_json_num(j, "offset_us", (double)h->clock_offset_ns / 1e3);
	cr_json_num(j, "uncertainty_us", (double)h->clock_uncertainty_ns / 1e3);
	cr_json_close(j);
	cr_json_array(j, "hosts_lost");
	for (size_t i = 0; i < h->nlost; i++) {
		cr_json_object(j, NULL);
		cr_json_str(j, "node", h->lost[i].node);
		cr_json_str(j, "host", h->lost[i].host);
		cr_json_num(j, "at_s", (double)h->lost[i].at_ns / 1e9);
		cr_json_close(j);
	}
	cr_json_close(j);
}

/* The experiment, the rates, the distributions over peers, the machine. */
static void json_run(struct cr_json *j, const struct cr__summary *s)
{
	const struct cr_node_result *r = s->r;
	char host[256] = "", id[32];
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	gethostname(host, sizeof(host) - 1);
	snprintf(id, sizeof(id), "%016llx",
		 (unsigned long long)r->experiment_id);
	cr_json_str(j, "experiment", r->experiment);
	cr_json_str(j, "experiment_id", id);
	cr_json_str(j, "host", host);
	if (r->hosts)
		json_hosts(j, r->hosts);
	cr_json_str(j, "experiment_file", s->experiment_file);
	cr_json_str(j, "started_utc", s->started_utc);
	cr_json_bool(j, "interrupted", r->interrupted);
	cr_json_uint(j, "peers", r->peers);
	cr_json_num(j, "duration_s", (double)r->elapsed_ns / 1e9);
	cr_json_num(j, "measured_s", (double)r->measured_ns / 1e9);
	cr_json_num(j, "cumulative_rate_Bps", r->cumulative_rate_Bps);
	cr_json_num(j, "per_peer_rate_Bps", r->per_peer_rate_Bps);
	cr_json_num(j, "min_peer_rate_Bps", r->min_peer_rate_Bps);
	cr_json_num(j, "tail_rate_Bps", r->tail_rate_Bps);
	cr_json_num(j, "tail_wire_rate_Bps", r->tail_wire_rate_Bps);
	cr_json_uint(j, "messages_switched", r->messages_switched);
	cr_json_uint(j, "data_bytes_received", r->data_bytes_in);
	cr_json_uint(j, "bad_frames", r->bad_frames);
	json_limits(j, r);
	json_dist(j, "continuity", &r->continuity);
	json_dist(j, "startup_delay_s", &r->startup_delay_s);
	json_dist(j, "control_overhead", &r->control_overhead);
	json_dist(j, "duplicate_ratio", &r->duplicate_ratio);
	json_dist(j, "segment_latency_s", &r->segment_latency_s);
	/* the algorithm's own results (cr_report_value), by name */
	cr_json_object(j, "values");
	for (size_t i = 0; i < r->nvalues; i++)
		json_dist(j, r->values[i].name, &r->values[i].dist);
	cr_json_close(j);
	cr_json_object(j, "work");
	cr_json_uint(j, "submitted", r->works_submitted);
	cr_json_uint(j, "done", r->works_done);
	cr_json_uint(j, "cancelled", r->works_cancelled);
	cr_json_num(j, "cpu_s", (double)r->work_cpu_ns / 1e9);
	cr_json_close(j);
	cr_json_uint(j, "births", r->births);
	cr_json_uint(j, "deaths", r->deaths);
	cr_json_uint(j, "failed_births", r->failed_births);
	cr_json_uint(j, "events_skipped", s->events_skipped);
	cr_json_num(j, "cpu_percent",
		    r->elapsed_ns > 0
			    ? 100.0 * s->cpu_s / ((double)r->elapsed_ns / 1e9)
			    : 0);
	cr_json_int(j, "max_rss_kb", ru.ru_maxrss);
	cr_json_num(j, "timer_lag_p50_us", (double)r->timer_lag_p50_ns / 1e3);
	cr_json_num(j, "timer_lag_p99_us", (double)r->timer_lag_p99_ns / 1e3);
	cr_json_num(j, "timer_lag_max_us", (double)r->timer_lag_max_ns / 1e3);
	/* only a clock (a run spanning hosts) degrades an unshaped run */
	cr_json_str(j, "fidelity",
		    r->degraded ? "degraded" : !r->shaped ? "unshaped" : "ok");
	if (r->degraded)
		cr_json_str(j, "fidelity_reason", r->degraded_reason);
	if (r->degraded && r->degraded_cause[0])
		cr_json_str(j, "fidelity_cause", r->degraded_cause);
}

/* How well the links were emulated on the sending side: release times,
 * wake-ups, the delay and the rate achieved. */
static void json_release(struct cr_json *j, const struct cr__summary *s)
{
	const struct cr_node_result *r = s->r;

	cr_json_uint(j, "frames_released", r->late_samples);
	cr_json_num(j, "release_late_mean_us", r->late_mean_ns / 1e3);
	cr_json_num(j, "release_late_p50_us", (double)r->late_p50_ns / 1e3);
	cr_json_num(j, "release_late_p99_us", (double)r->late_p99_ns / 1e3);
	cr_json_num(j, "release_late_max_us", (double)r->late_max_ns / 1e3);
	cr_json_num(j, "release_early_max_us", (double)r->early_max_ns / 1e3);
	cr_json_num(j, "batch_us", (double)r->batch_ns / 1e3);
	cr_json_uint(j, "shaped_writes", r->shaped_writes);
	cr_json_uint(j, "wakeups", r->wakeups);
	cr_json_num(j, "wake_late_p50_us", (double)r->wake_late_p50_ns / 1e3);
	cr_json_num(j, "wake_late_p99_us", (double)r->wake_late_p99_ns / 1e3);
	cr_json_num(j, "wake_late_max_us", (double)r->wake_late_max_ns / 1e3);
	cr_json_num(j, "wake_lead_mean_us",
		    (double)r->wake_lead_mean_ns / 1e3);
	cr_json_num(j, "spin_cpu_percent", 100 * r->spin_cores);
	cr_json_num(j, "cores_contended_percent", 100 * r->contended_share);
	cr_json_uint(j, "spin_misses", r->spin_misses);
	cr_json_uint(j, "held_off", r->held);
	cr_json_num(j, "held_off_ms", (double)r->held_ns / 1e6);
	cr_json_num(j, "cpu_wait_percent", /* null: the kernel does not say */
		    r->cpu_wait_share >= 0 ? 100 * r->cpu_wait_share : NAN);
	cr_json_num(j, "frames_per_write",
		    r->shaped_writes ? (double)r->late_samples /
					       (double)r->shaped_writes
				     : 0);
	if (s->one_delay) {
		cr_json_num(j, "configured_delay_ms",
			    2.0 * (double)s->access_delay_ns / 1e6);
		cr_json_num(j, "achieved_delay_mean_ms",
			    (2.0 * (double)s->access_delay_ns +
			     r->late_mean_ns) /
				    1e6);
		cr_json_num(j, "achieved_delay_worst_ms",
			    (2.0 * (double)s->access_delay_ns +
			     (double)r->late_max_ns) /
				    1e6);
	}
	cr_json_uint(j, "links_judged", r->fid_links);
	cr_json_num(j, "rate_error_mean_percent", 100 * r->rate_err_mean);
	cr_json_num(j, "rate_error_worst_percent", 100 * r->rate_err_worst);
	cr_json_str(j, "rate_worst_link", r->rate_worst_link);
	cr_json_num(j, "rate_worst_configured_Bps",
		    (double)r->rate_worst_configured_Bps);
	cr_json_num(j, "rate_worst_achieved_Bps",
		    (double)r->rate_worst_configured_Bps *
			    (1 + r->rate_err_worst));
}

/* ... and on the receiving side, queueing, UDP. */
static void json_receive(struct cr_json *j, const struct cr_node_result *r)
{
	cr_json_uint(j, "download_resumes", r->rx_late_samples);
	cr_json_num(j, "download_late_p50_us", (double)r->rx_late_p50_ns / 1e3);
	cr_json_num(j, "download_late_p99_us", (double)r->rx_late_p99_ns / 1e3);
	cr_json_num(j, "download_late_max_us", (double)r->rx_late_max_ns / 1e3);
	cr_json_uint(j, "download_links_judged", r->fid_rx_links);
	cr_json_num(j, "download_rate_error_mean_percent",
		    100 * r->rx_rate_err_mean);
	cr_json_num(j, "download_rate_error_worst_percent",
		    100 * r->rx_rate_err_worst);
	cr_json_str(j, "download_rate_worst_link", r->rx_rate_worst_link);
	cr_json_num(j, "download_rate_worst_configured_Bps",
		    (double)r->rx_rate_worst_configured_Bps);
	cr_json_num(j, "added_delay_worst_mean_us",
		    (double)r->added_delay_worst_mean_ns / 1e3);
	cr_json_str(j, "added_delay_worst_link", r->added_delay_worst_link);
	cr_json_uint(j, "queueing_samples", r->queueing_samples);
	cr_json_uint(j, "frames_behind_full_socket", r->frames_after_full);
	cr_json_num(j, "queueing_delay_mean_us", r->queueing_mean_ns / 1e3);
	cr_json_num(j, "queueing_delay_p50_us",
		    (double)r->queueing_p50_ns / 1e3);
	cr_json_num(j, "queueing_delay_p99_us",
		    (double)r->queueing_p99_ns / 1e3);
	cr_json_num(j, "queueing_delay_max_us",
		    (double)r->queueing_max_ns / 1e3);
	cr_json_num(j, "late_while_held_off_percent",
		    r->late_over + r->rx_late_over
			    ? 100.0 * (double)(r->late_held + r->rx_late_held) /
				      (double)(r->late_over + r->rx_late_over)
			    : 0);
	cr_json_num(j, "release_late_over_1ms_percent",
		    r->late_samples ? 100.0 * (double)r->late_over /
					      (double)r->late_samples
				    : 0);
	cr_json_num(j, "download_late_over_1ms_percent",
		    r->rx_late_samples ? 100.0 * (double)r->rx_late_over /
						 (double)r->rx_late_samples
				       : 0);
	cr_json_uint(j, "udp_lost", r->udp_lost);
	cr_json_uint(j, "udp_dropped", r->udp_dropped);
	cr_json_uint(j, "udp_rx_dropped", r->udp_rx_dropped);
	cr_json_uint(j, "udp_rx_overflow", r->udp_rx_overflow);
	cr_json_close(j);
}

static void json_all(struct cr_json *j, const struct cr__summary *s)
{
	const struct cr_node_result *r = s->r;

	json_run(j, s);
	cr_json_object(j, "link_fidelity");
	json_release(j, s);
	json_receive(j, r);
	if (r->tracker_ran)
		json_tracker(j, r);
	cr_json_object(j, "parameters");
	s->params(j, s->params_ctx);
	cr_json_close(j);
	cr_json_num(j, "sample_interval_s", (double)r->sample_interval_ns / 1e9);
	cr_json_bool(j, "complete", true); /* the last key: written whole */
}

int cr__summary_write(const char *dir, const struct cr__summary *s)
{
	char path[4096], tmp[4200];
	struct cr_json j;
	FILE *f;

	snprintf(path, sizeof(path), "%s/summary.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "crystal run: cannot write %s: %s\n", tmp,
			strerror(errno));
		return -1;
	}
	cr_json_begin(&j, f);
	json_all(&j, s);
	cr_json_end(&j);
	if (fclose(f) || rename(tmp, path)) {
		fprintf(stderr, "crystal run: cannot write %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	return 0;
}
