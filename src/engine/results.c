/* What the node hands back when the run is over: cr_node_result's sums
 * over peers and workers (rates, timer lag, the shaper's fidelity, stream
 * quality, the algorithm's values, the tracker's counters, the limits),
 * and each peer's own statistics.
 */
#include "../metrics/result.h"
#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The result counts what each of the network's limits closed, by its
 * index. */
_Static_assert((int)CR_RESULT_LIMIT_CONNS == (int)CR__LIMIT_CONNS &&
		       (int)CR_RESULT_LIMIT_IDLE == (int)CR__LIMIT_IDLE &&
		       (int)CR_RESULT_LIMIT_FRAME == (int)CR__LIMIT_FRAME &&
		       (int)CR_RESULT_LIMIT_PARTIAL == (int)CR__LIMIT_PARTIAL &&
		       (int)CR_RESULT_LIMIT_N == (int)CR__LIMIT_N,
	       "the result's limits are the network's");

const struct cr__peer_stats *cr_node_peer_stats(const cr_node *n, size_t i)
{
	return i < n->npeers ? &n->peers[i].st : NULL;
}

static void wake_results(const cr_node *n, struct cr_node_result *r)
{
	struct cr__hist wake = {0};
	double lead = 0, spin = 0;
	int64_t lead_time = 0, delay = 0, span = 0;
	uint64_t windows = 0, contended = 0;

	for (int i = 0; i < n->nworkers; i++) {
		const struct cr__worker *w = &n->workers[i];
		cr__hist_merge(&wake, &w->wake_late);
		lead += w->lead_ns_sum;
		lead_time += w->lead_time_ns;
		spin += (double)w->spin_ns;
		windows += w->windows;
		contended += w->contended_windows;
		r->spin_misses += w->spin_misses;
		r->held += w->held;
		r->held_ns += w->held_ns;
		delay += w->run_delay_ns;
		span += w->run_delay_to - w->run_delay_from;
	}
	r->cpu_wait_share = span > 0 ? (double)delay / (double)span : -1;
	r->contended_share = windows ? (double)contended / (double)windows : 0;
	r->wakeups = wake.n;
	r->wake_late_p50_ns = cr__hist_quantile(&wake, 0.50);
	r->wake_late_p99_ns = cr__hist_quantile(&wake, 0.99);
	r->wake_late_max_ns = wake.max;
	r->wake_lead_mean_ns = lead_time ? (int64_t)(lead / (double)lead_time) : 0;
	r->spin_cores = r->elapsed_ns > 0 ? spin / (double)r->elapsed_ns : 0;
	r->spin_budget = n->workers[0].spin_budget;
}

/* The receiving side and the waits, over the workers. */
static void fidelity_rx(const cr_node *n, struct cr_node_result *r)
{
	struct cr__hist rx = {0}, q = {0};
	double err_sum = 0;

	for (int i = 0; i < n->nworkers; i++) {
		const struct cr__worker *w = &n->workers[i];
		cr__hist_merge(&rx, &w->net.rx_late);
		cr__hist_merge(&q, &w->net.queueing);
		r->frames_after_full += w->net.frames_after_full;
		err_sum += w->net.fid_rx_err_sum;
		r->fid_rx_links += w->net.fid_rx_links;
		if (w->net.fid_rx_links &&
		    fabs(w->net.fid_rx_err_worst) >= fabs(r->rx_rate_err_worst)) {
			r->rx_rate_err_worst = w->net.fid_rx_err_worst;
			r->rx_rate_worst_configured_Bps = w->net.fid_rx_worst_rate;
			snprintf(r->rx_rate_worst_link,
				 sizeof(r->rx_rate_worst_link), "%s",
				 w->net.fid_rx_worst_link);
		}
		if (w->net.fid_late_worst_ns > (double)r->added_delay_worst_mean_ns) {
			r->added_delay_worst_mean_ns =
				(int64_t)w->net.fid_late_worst_ns;
			snprintf(r->added_delay_worst_link,
				 sizeof(r->added_delay_worst_link), "%s",
				 w->net.fid_late_worst_link);
		}
	}
	r->rx_late_samples = rx.n;
	r->rx_late_p50_ns = cr__hist_quantile(&rx, 0.50);
	r->rx_late_p99_ns = cr__hist_quantile(&rx, 0.99);
	r->rx_late_max_ns = rx.max;
	r->rx_rate_err_mean =
		r->fid_rx_links ? err_sum / (double)r->fid_rx_links : 0;
	r->queueing_samples = q.n;
	r->queueing_p50_ns = cr__hist_quantile(&q, 0.50);
	r->queueing_p99_ns = cr__hist_quantile(&q, 0.99);
	r->queueing_max_ns = q.max;
	r->queueing_mean_ns = cr__hist_mean(&q);
}

static void fidelity(const cr_node *n, struct cr_node_result *r)
{
	struct cr__hist late = {0};
	double err_sum = 0;

	for (size_t i = 0; i < n->npeers; i++) {
		const struct cr_peer *p = &n->peers[i];
		r->shaped |= p->ep.shaped;
		r->udp_lost += p->st.net.udp_lost;
		r->births += p->st.births;
		r->deaths += p->st.deaths;
		r->failed_births += p->st.failed_births;
		r->udp_dropped += p->st.net.udp_dropped;
		r->udp_rx_dropped += p->st.net.udp_rx_dropped;
		r->udp_rx_overflow += p->st.net.udp_rx_overflow;
	}
	for (int i = 0; i < n->nworkers; i++) {
		const struct cr__worker *w = &n->workers[i];
		cr__hist_merge(&late, &w->net.late);
		r->shaped_writes += w->net.shaped_writes;
		if (w->net.early_max > r->early_max_ns)
			r->early_max_ns = w->net.early_max;
		err_sum += w->net.fid_err_sum;
		r->fid_links += w->net.fid_links;
		if (w->net.fid_links &&
		    fabs(w->net.fid_err_worst) >= fabs(r->rate_err_worst)) {
			r->rate_err_worst = w->net.fid_err_worst;
			r->rate_worst_configured_Bps = w->net.fid_worst_rate;
			snprintf(r->rate_worst_link, sizeof(r->rate_worst_link),
				 "%s", w->net.fid_worst_link);
		}
	}
	r->late_samples = late.n;
	for (int i = 0; i < n->nworkers; i++) {
		r->late_over += n->workers[i].net.late_over;
		r->rx_late_over += n->workers[i].net.rx_late_over;
		r->late_held += n->workers[i].net.late_held;
		r->rx_late_held += n->workers[i].net.rx_late_held;
	}
	r->batch_ns = n->workers[0].net.batch_ns;
	wake_results(n, r);
	r->late_p50_ns = cr__hist_quantile(&late, 0.50);
	r->late_p99_ns = cr__hist_quantile(&late, 0.99);
	r->late_max_ns = late.max;
	r->late_mean_ns = cr__hist_mean(&late);
	r->rate_err_mean = r->fid_links ? err_sum / (double)r->fid_links : 0;
	fidelity_rx(n, r);
	cr_fidelity_judge(r);
}

/* Stream quality over the peers that played (cr_report_playback), and
 * control overhead over the peers that received data. */
static void stream_quality(const cr_node *n, struct cr_node_result *r)
{
	double *cont = calloc(n->npeers + 1, sizeof(double));
	double *start = calloc(n->npeers + 1, sizeof(double));
	double *dup = calloc(n->npeers + 1, sizeof(double));
	double *over = calloc(n->npeers + 1, sizeof(double));
	double *lat = calloc(n->npeers + 1, sizeof(double));
	size_t nc = 0, ns = 0, nd = 0, no = 0, nl = 0;

	if (!cont || !start || !dup || !over || !lat)
		goto out;
	for (size_t i = 0; i < n->npeers; i++) {
		const struct cr_peer *p = &n->peers[i];
		if (p->remote || p->is_tracker_peer || p->source)
			continue;
		if (p->st.data_bytes_in)
			over[no++] = (double)p->st.ctrl_bytes_in /
				     (double)p->st.data_bytes_in;
		if (!p->st.play_reported)
			continue;
		const cr_playback_report *pl = &p->st.play;
		if (pl->played + pl->missed)
			cont[nc++] = (double)pl->played /
				     (double)(pl->played + pl->missed);
		if (pl->first_played_ns >= 0 && p->join_ns)
			start[ns++] =
				(double)(pl->first_played_ns - p->join_ns) / 1e9;
		if (p->st.data_bytes_in)
			dup[nd++] = (double)pl->duplicate_bytes /
				    (double)p->st.data_bytes_in;
		if (pl->completed)
			lat[nl++] = (double)pl->latency_sum_ns /
				    (double)pl->completed / 1e9;
	}
	cr_result_dist(lat, nl, &r->segment_latency_s);
	cr_result_dist(cont, nc, &r->continuity);
	cr_result_dist(start, ns, &r->startup_delay_s);
	cr_result_dist(dup, nd, &r->duplicate_ratio);
	cr_result_dist(over, no, &r->control_overhead);
out:
	free(cont);
	free(start);
	free(dup);
	free(over);
	free(lat);
}

size_t cr__node_value_order(const struct cr__node *n,
			    uint32_t order[CR_REPORT_VALUES_MAX])
{
	size_t k = atomic_load_explicit(&n->nvalues, memory_order_acquire);

	/* insertion sort: sixteen names at most */
	for (size_t i = 0; i < k; i++) {
		size_t j = i;
		for (; j > 0 && strcmp(n->value_names[order[j - 1]],
				       n->value_names[i]) > 0;
		     j--)
			order[j] = order[j - 1];
		order[j] = (uint32_t)i;
	}
	return k;
}

/* Each value the algorithm reported, over the peers that reported it. */
static void values_summary(const cr_node *n, struct cr_node_result *r)
{
	uint32_t order[CR_REPORT_VALUES_MAX];
	double *v = calloc(n->npeers + 1, sizeof(double));

	if (!v)
		return;
	r->nvalues = cr__node_value_order(n, order);
	for (size_t i = 0; i < r->nvalues; i++) {
		uint32_t k = order[i], bit = 1u << k;
		size_t nv = 0;

		for (size_t j = 0; j < n->npeers; j++) {
			const struct cr_peer *p = &n->peers[j];
			if (!p->remote && !p->is_tracker_peer &&
			    p->st.values_set & bit)
				v[nv++] = p->st.values[k];
		}
		snprintf(r->values[i].name, sizeof(r->values[i].name), "%s",
			 n->value_names[k]);
		cr_result_dist(v, nv, &r->values[i].dist);
	}
	free(v);
}

/* What the tracker of this node did, if it ran one. */
static void tracker_summary(const cr_node *n, struct cr_node_result *r)
{
	for (size_t i = 0; i < n->npeers; i++) {
		const struct cr_peer *p = &n->peers[i];
		const struct cr__tracker_stats *s = &p->st.tracker;
		if (p->remote || !p->is_tracker_peer)
			continue;
		r->tracker_ran = true;
		r->tracker.registrations += s->registrations;
		r->tracker.queries += s->queries;
		r->tracker.replies += s->replies;
		r->tracker.timed_out += s->timed_out;
		r->tracker.departed += s->departed;
		r->tracker.refused_sessions_per_peer +=
			s->refused_sessions_per_peer;
		r->tracker.refused_peers_per_session +=
			s->refused_peers_per_session;
		if (s->entries_max > r->tracker.entries_max)
			r->tracker.entries_max = s->entries_max;
	}
}

/* The limits as used and what they closed, the tracker's included. */
static void limits(const cr_node *n, struct cr_node_result *r)
{
	r->max_conns = n->max_conns;
	r->idle_timeout_ns = n->idle_timeout_ns;
	r->frame_timeout_ns = n->frame_timeout_ns;
	r->partial_limit = n->partial_limit;
	r->partial_peak = atomic_load(&n->net_cfg.partial_peak);
	r->max_message = n->max_msg;
	r->max_sessions_per_peer = n->cfg.tracker.max_sessions_per_peer
					   ? n->cfg.tracker.max_sessions_per_peer
					   : CR__TRACKER_SESSIONS_PER_PEER;
	r->max_peers_per_session = n->cfg.tracker.max_peers_per_session
					   ? n->cfg.tracker.max_peers_per_session
					   : CR__TRACKER_PEERS_PER_SESSION;
	for (size_t i = 0; i < n->npeers; i++)
		for (int k = 0; k < CR__LIMIT_N; k++)
			r->limit_hits[k] += n->peers[i].st.net.limit_hits[k];
}

void cr_node_result(const cr_node *n, struct cr_node_result *r)
{
	double secs, sum = 0, tails = 0, tails_wire = 0;
	uint64_t receivers = 0, ntails = 0, measured_bytes = 0;
	int64_t warm = n->cfg.warmup_ns;
	struct cr__hist lag = {0};

	memset(r, 0, sizeof(*r));
	r->experiment = n->cfg.name;
	r->experiment_id = n->exp_id;
	r->sample_interval_ns = n->cfg.sample_interval_ns ? n->cfg.sample_interval_ns
							  : CR_SEC;
	r->late_limit_ns = CR_FID_LATE_P99_NS;
	r->elapsed_ns = n->end_ns > 0 ? n->end_ns : cr_node_now(n);
	r->interrupted = atomic_load(&n->interrupted);
	r->peers = 0;
	for (size_t i = 0; i < n->npeers; i++)
		r->peers += !n->peers[i].remote && !n->peers[i].is_tracker_peer;
	r->workers = n->nworkers;
	/* rates count after the warm-up, when the run got that far */
	if (warm <= 0 || warm >= r->elapsed_ns)
		warm = 0;
	r->measured_ns = r->elapsed_ns - warm;
	secs = (double)r->measured_ns / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	r->min_peer_rate_Bps = -1;
	for (size_t i = 0; i < n->npeers; i++) {
		const struct cr_peer *p = &n->peers[i];
		if (p->remote || p->is_tracker_peer)
			continue;
		uint64_t bytes = p->st.data_bytes_in -
				 (warm ? p->warm_data_bytes_in : 0);
		double rate = (double)bytes / secs;

		r->data_bytes_in += p->st.data_bytes_in;
		measured_bytes += bytes;
		r->bad_frames += p->st.net.bad_frames;
		r->works_submitted += p->work.submitted;
		r->works_done += p->work.completed;
		r->works_cancelled += p->work.cancelled;
		r->work_cpu_ns += p->work.cpu_ns;
		r->bad_datagrams += p->st.net.bad_datagrams;
		if (p->source)
			continue; /* a source receives its own stream */
		receivers++;
		sum += rate;
		if (r->min_peer_rate_Bps < 0 || rate < r->min_peer_rate_Bps)
			r->min_peer_rate_Bps = rate;
		if (p->is_tail) {
			uint64_t msgs = p->st.data_msgs_in -
					(warm ? p->warm_data_msgs_in : 0);
			tails += rate;
			tails_wire += (double)(bytes + msgs * CR__HDR_SIZE) / secs;
			ntails++;
		}
	}
	if (r->min_peer_rate_Bps < 0)
		r->min_peer_rate_Bps = 0;
	r->cumulative_rate_Bps = (double)measured_bytes / secs;
	r->per_peer_rate_Bps = receivers ? sum / (double)receivers : 0;
	r->tail_rate_Bps = ntails ? tails / (double)ntails : 0;
	r->tail_wire_rate_Bps = ntails ? tails_wire / (double)ntails : 0;
	for (int i = 0; i < n->nworkers; i++) {
		const struct cr__worker *w = &n->workers[i];
		r->messages_switched += w->msgs_switched;
		cr__hist_merge(&lag, &w->lag);
	}
	r->timer_lag_p50_ns = cr__hist_quantile(&lag, 0.50);
	r->timer_lag_p99_ns = cr__hist_quantile(&lag, 0.99);
	r->timer_lag_max_ns = lag.max;
	limits(n, r);
	fidelity(n, r);
	stream_quality(n, r);
	values_summary(n, r);
	tracker_summary(n, r);
}
