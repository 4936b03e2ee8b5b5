/* The start of a run, and the worker's thread.
 *
 * Start-up is two-phased so that nothing runs unless everything fits: each
 * worker opens its peers' sockets and reports; only when all succeeded does
 * the node set the clock's origin and let the workers begin (births at
 * time 0, sources at their start times).  A failure on any worker ends all
 * of them before a single peer has been bootstrapped.  Each worker's
 * thread then runs its loop, with the periodic jobs below, until the node
 * stops it.
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

static void publish_stats(void *ctx, void *arg)
{
	struct cr__worker *w = ctx;
	uint64_t bytes = 0, alive = 0, played = 0, due = 0;

	CR__UNUSED(arg);
	for (size_t i = 0; i < w->npeers; i++) {
		const struct cr_peer *p = w->peers[i];
		bytes += p->st.data_bytes_in;
		if (p->is_tracker_peer)
			continue;
		alive += p->ep.alive;
		if (p->st.play_reported && !p->source) {
			played += p->st.play.played;
			due += p->st.play.played + p->st.play.missed;
		}
	}
	atomic_store_explicit(&w->pub_data_bytes_in, bytes,
			      memory_order_relaxed);
	if (!w->stopping) /* the last sample keeps who was alive at the end */
		atomic_store_explicit(&w->pub_alive, alive,
				      memory_order_relaxed);
	atomic_store_explicit(&w->pub_played, played, memory_order_relaxed);
	atomic_store_explicit(&w->pub_due, due, memory_order_relaxed);
	/* last, so that whoever reads this time reads counters as new */
	atomic_store_explicit(&w->pub_stats_ns, cr__clock_now(w->clock),
			      memory_order_release);
}

static void sample(void *ctx, void *arg)
{
	struct cr__worker *w = ctx;

	CR__UNUSED(arg);
	w->samples++;
	cr__sampler_worker(w, w->samples * w->node->sample_ns);
}

static void warmup_done(void *ctx, void *arg)
{
	struct cr__worker *w = ctx;

	CR__UNUSED(arg);
	for (size_t i = 0; i < w->npeers; i++) {
		struct cr_peer *p = w->peers[i];
		p->warm_data_bytes_in = p->st.data_bytes_in;
		p->warm_data_msgs_in = p->st.data_msgs_in;
		/* fidelity too is judged on the steady state */
		cr__tp_ep_fid_reset(&p->ep);
	}
	cr__hist_reset(&w->net.timers.lag);
	cr__tp_fid_reset(&w->net);
	cr__hist_reset(&w->wake_late);
	w->held = 0;
	w->held_ns = 0;
	w->held_mark = 0;
	cr__worker_run_delay(w, true);
	cr__hist_reset(&w->lag_mark);
	cr__hist_reset(&w->late_mark);
	cr__hist_reset(&w->rx_late_mark);
}

static void sweep(void *ctx, void *arg)
{
	struct cr__worker *w = ctx;

	CR__UNUSED(arg);
	cr__tp_sweep(&w->net);
}

static void flush_log(void *ctx, void *arg)
{
	struct cr__worker *w = ctx;

	CR__UNUSED(arg);
	cr__log_flush(&w->log);
}

/* The workers' side of the start barrier: reports its setup, then waits
 * for the node's word; true if the run goes ahead. */
static bool start_barrier(struct cr__worker *w)
{
	struct cr__node *n = w->node;
	bool go;

	w->setup_err = cr__worker_setup(w);
	pthread_mutex_lock(&n->lock);
	if (w->setup_err)
		n->abort_start = true;
	n->ready++;
	pthread_cond_broadcast(&n->cond);
	while (!n->go && !n->abort_start)
		pthread_cond_wait(&n->cond, &n->lock);
	go = n->go && !n->abort_start;
	pthread_mutex_unlock(&n->lock);
	return go;
}

/* The worker's periodic jobs: statistics, its log, the waits of its
 * connections, samples, the end of the warm-up. */
static void schedule_jobs(struct cr__worker *w)
{
	struct cr__node *n = w->node;
	int64_t stats = n->cfg.stats_interval_ns ? n->cfg.stats_interval_ns
						 : 250 * CR_MS;

	cr__worker_timer(w, stats, stats, publish_stats, w, NULL, NULL);
	cr__worker_timer(w, 200 * CR_MS, 200 * CR_MS, flush_log, w, NULL,
			 NULL);
	cr__worker_timer(w, w->sweep_ns, w->sweep_ns, sweep, w, NULL, NULL);
	if (n->csv_peers) {
		w->sampling = true;
		w->last_sample_ns = -CR_SEC;
		cr__worker_timer(w, n->sample_ns, n->sample_ns, sample, w, NULL,
				 NULL);
	}
	if (n->cfg.warmup_ns > 0)
		cr__worker_timer(w, n->cfg.warmup_ns, 0, warmup_done, w, NULL,
				 NULL);
}

static void *worker_main(void *arg)
{
	struct cr__worker *w = arg;
	struct cr__node *n = w->node;

#ifdef __linux__
	char name[16];

	/* crystal-w0, ...: what top -H, perf and the scheduler's traces show */
	snprintf(name, sizeof(name), "crystal-w%d", w->id);
	pthread_setname_np(pthread_self(), name);
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* precise wake-ups */
	cr__worker_short_slice();
#endif
	if (start_barrier(w)) {
		cr__life_schedule(w);
		schedule_jobs(w);
		cr__worker_run_delay(w, true);
		if (!atomic_load(&n->ended))
			cr__worker_loop(w);
		cr__worker_run_delay(w, false);
	}
	publish_stats(w, NULL);
	cr__worker_teardown(w);
	return NULL;
}

/* Time 0: as the embedder says (cr_node_config.start_at), waited for,
 * or now.  On the caller's thread, without the lock. */
static int origin(struct cr__node *n, int64_t *at, char *err, size_t errlen)
{
	struct timespec ts;
	int e;

	*at = cr__mono_ns();
	if (!n->cfg.start_at)
		return 0;
	e = n->cfg.start_at(n->cfg.start_ctx, at, err, errlen);
	if (e)
		return e;
	ts.tv_sec = *at / CR_SEC;
	ts.tv_nsec = *at % CR_SEC;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
	return 0;
}

/* Waits for every worker's setup; with all ready, sets time 0 and lets
 * them go.  0, or the error that stopped them (a worker's, or the
 * embedder's, in err). */
static int release(struct cr__node *n, int created, int e, char *err,
		   size_t errlen)
{
	int64_t at = 0;
	bool ready;

	pthread_mutex_lock(&n->lock);
	if (e)
		n->abort_start = true;
	while (n->ready < created)
		pthread_cond_wait(&n->cond, &n->lock);
	ready = !n->abort_start;
	pthread_mutex_unlock(&n->lock);
	if (ready) {
		/* every socket is open: time 0 is now, or when told */
		e = origin(n, &at, err, errlen);
	}
	pthread_mutex_lock(&n->lock);
	if (e)
		n->abort_start = true;
	if (!n->abort_start) {
		cr__clock_init_at(&n->clock, at);
		n->start_unix_ns = cr__unix_ns() - (cr__mono_ns() - at);
		n->go = true;
		/* before the workers run: a peer may end the experiment at
		 * once, and cr_node_stop must then wake every worker */
		n->nworkers_started = created;
	}
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	return e;
}

int cr_node_start(cr_node *n, char *err, size_t errlen)
{
	int created = 0, e = 0;

	if (cr__sampler_open(n, err, errlen))
		return -CR_EIO;
	for (; created < n->nworkers; created++) {
		if (pthread_create(&n->workers[created].thread, NULL,
				   worker_main, &n->workers[created])) {
			snprintf(err, errlen, "cannot start worker thread %d",
				 created);
			e = -CR_EIO;
			break;
		}
	}
	e = release(n, created, e, err, errlen);
	n->started = true;

	if (n->abort_start) {
		for (int i = 0; i < created; i++) {
			pthread_join(n->workers[i].thread, NULL);
			if (!e && n->workers[i].setup_err) {
				e = n->workers[i].setup_err;
				snprintf(err, errlen, "%s",
					 n->workers[i].setup_msg);
			}
		}
		n->joined = true;
		n->nworkers_started = 0;
		return e ? e : -CR_EIO;
	}
	return 0;
}

int64_t cr_node_start_unix_ns(const cr_node *n)
{
	return n->start_unix_ns;
}
