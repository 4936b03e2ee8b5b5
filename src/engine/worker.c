/* Workers: one libuv loop and one thread each, owning a shard of the
 * node's peers.
 *
 * A worker wakes for three reasons: socket readiness (uv_poll), its timer
 * structure (the earliest deadline, to the nanosecond rather than libuv's
 * milliseconds), and its async handle (the node asks it to stop).  Before
 * it may sleep the flush hook writes out every connection that was given
 * messages during the iteration, so a burst of sends becomes one writev
 * per connection.
 *
 * On Linux the worker turns libuv without blocking and sleeps itself, in
 * ppoll on libuv's backend descriptor with a nanosecond timeout
 * (cr__worker_loop): the kernel arms a timer only when the worker does
 * sleep.  A timerfd set to the earliest deadline was re-armed at nearly
 * every turn of a busy loop, which seldom sleeps: at 500 R2 peers that was
 * 23,000 timerfd_settime calls a second, a fifth of the busy CPU on a
 * virtual machine, where reprogramming the timer is dear.  Elsewhere a
 * libuv timer wakes it, to the millisecond.
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#endif

/* --- timers and precise wake-ups ------------------------------------------ */

/*
 * An idle vCPU can take milliseconds to wake (1-4 ms at p99 on small VMs,
 * worst when the machine is least loaded), and a release that waits for it
 * is late by that much.  So the worker's wake-up is set lead_ns before its
 * earliest deadline, and it spins the last stretch: an idle handle keeps the
 * loop polling its sockets with a zero timeout, and the timers run when
 * their time comes.  The lead follows how late this worker's wake-ups from
 * sleep have been (the largest 99th percentile of the last eight windows,
 * two seconds, plus a margin, at most LEAD_MAX): slow wake-ups come in
 * spells, and one window holds few of them.  Spinning is held to
 * spin_budget of a core: past it the lead shrinks in proportion, so a
 * worker whose deadlines are dense spins less and is late more, and says
 * so in its fidelity.  While other work keeps a core busy, spinning stops
 * (see wake_adapt).  A loop that never sleeps has no wake-up to be late,
 * and so spins only while its next deadline is nearer than the lead.
 */
#define WAKE_WINDOW (250 * CR_MS)
#define LEAD_INIT (500 * CR_US)
#define LEAD_MAX (5 * CR_MS)
#define LEAD_MARGIN (50 * CR_US)
#define LEAD_MIN_SAMPLES 8
/* Other work that keeps this share of a core busy, on average over a
 * window, contends with the workers; and how many windows spinning then
 * stays off. */
#define CONTENDED 0.3
#define SPIN_HOLD 8
/* A deadline run later than this, half the fidelity threshold, although
 * the worker spun for it is a miss: the spinning thread lost its core, or
 * the loop was busy, where spinning does not help either.  A window with a
 * miss stops spinning for SPIN_HOLD windows, doubling at each failure to
 * SPIN_HOLD_MAX. */
#define SPIN_MISS (500 * CR_US)
#define SPIN_HOLD_MAX 64

/* The earliest deadline changed: the worker waits for it (Linux: the
 * next wait computes its timeout from it; elsewhere a libuv timer, to the
 * millisecond, rounded up). */
void cr__worker_rearm(struct cr__worker *w)
{
	int64_t next = cr__timers_next(&w->net.timers);

	if (next == w->net.armed_ns || w->stopping)
		return;
	w->net.armed_ns = next;
#ifndef __linux__
	if (next == INT64_MAX) {
		uv_timer_stop(&w->timer_ms);
	} else {
		int64_t d = next - cr__clock_now(w->clock);
		uint64_t ms = d <= 0 ? 0 : (uint64_t)((d + CR_MS - 1) / CR_MS);
		uv_timer_start(&w->timer_ms, (uv_timer_cb)w->timer_ms.data, ms,
			       0);
	}
#endif
}

static void run_timers(struct cr__worker *w)
{
	w->net.armed_ns = INT64_MIN; /* force the rearm below */
	cr__timers_run(&w->net.timers, w->clock);
	cr__worker_rearm(w);
}

static void timer_ms_cb(uv_timer_t *t)
{
	run_timers(t->loop->data);
}

static void spin_cb(uv_idle_t *h)
{
	struct cr__worker *w = h->loop->data;
	int64_t now = cr__clock_now(w->clock);
	int64_t next = cr__timers_next(&w->net.timers);

	if (next > now)
		return;
	if (now - next > SPIN_MISS)
		w->win_misses++;
	run_timers(w);
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* The start of a file of /proc, NUL-terminated, into buf (len bytes);
 * false where it cannot be read.  Opened each time, not kept: a
 * descriptor is worth more to a peer. */
static bool read_proc(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	return true;
}

/* The machine's busy time over all its cores (the first line of
 * /proc/stat, in clock ticks), in ns; -1 where it cannot be read. */
static int64_t machine_busy_ns(void)
{
	char buf[256];
	unsigned long long v[8] = {0};
	long hz = sysconf(_SC_CLK_TCK);

	if (hz <= 0 || !read_proc("/proc/stat", buf, sizeof(buf)))
		return -1;
	/* user nice system idle iowait irq softirq steal */
	if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 7)
		return -1;
	return (int64_t)((v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) *
			 (CR_SEC / hz));
}

static int64_t self_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts))
		return -1;
	return (int64_t)ts.tv_sec * CR_SEC + ts.tv_nsec;
}

/* The time this thread has been runnable but waiting for a core, in ns
 * (the second field of the kernel's schedstat), or -1 where the kernel
 * does not keep it. */
static int64_t run_delay_ns(void)
{
#ifdef __linux__
	char buf[128];
	unsigned long long run, delay;

	if (!read_proc("/proc/thread-self/schedstat", buf, sizeof(buf)) ||
	    sscanf(buf, "%llu %llu", &run, &delay) != 2)
		return -1;
	return (int64_t)delay;
#else
	return -1;
#endif
}

/* Folds this thread's wait for a core since the last call into the run's
 * (on the worker's thread); `restart` begins the count afresh: when the
 * loop starts, and again when the warm-up ends. */
void cr__worker_run_delay(struct cr__worker *w, bool restart)
{
	int64_t d = run_delay_ns(), now = cr__clock_now(w->clock);

	if (d < 0)
		return;
	if (restart) {
		w->run_delay_ns = 0;
		w->run_delay_from = now;
	} else {
		w->run_delay_ns += d - w->run_delay_at;
	}
	w->run_delay_at = d;
	w->run_delay_to = now;
}

/* The cores that work other than this process kept busy since the last
 * call, on average over `span`: other work the workers compete with.
 * Slow wake-ups of idle cores do not show here (an idle core is not busy),
 * which is what spinning is for. */
static double other_load(struct cr__worker *w, int64_t span)
{
	int64_t busy = machine_busy_ns(), self = self_cpu_ns();
	double load = 0;

	if (busy < 0 || self < 0)
		return 0;
	if (w->busy_ns && span > 0)
		load = (double)((busy - w->busy_ns) - (self - w->self_ns)) /
		       (double)span;
	w->busy_ns = busy;
	w->self_ns = self;
	return load;
}

/* At the end of a window: a lead from the window's wake-ups, within the
 * spin budget.  While other work keeps a core busy the workers compete
 * with it: spinning then gains nothing and takes a core from someone (and
 * a spinning thread loses the scheduler's favour, so it wakes later
 * still), so it stops for a while. */
static void wake_adapt(struct cr__worker *w, int64_t now)
{
	int64_t span = now - w->win_from, lead = w->lead_ns;
	double others = other_load(w, span);
	double frac;

	cr__worker_run_delay(w, false);
	w->spin_ns += w->win_spin_ns;
	w->windows++;
	w->lead_ns_sum += (double)w->lead_ns * (double)span;
	w->lead_time_ns += span;
	if (w->wake_win.n >= LEAD_MIN_SAMPLES) {
		int64_t worst = 0;
		w->wake_p99_ns[w->wake_p99_at++ % 8] =
			cr__hist_quantile(&w->wake_win, 0.99);
		for (int i = 0; i < 8; i++)
			worst = max64(worst, w->wake_p99_ns[i]);
		w->lead_target_ns = min64(worst + LEAD_MARGIN, LEAD_MAX);
	}
	frac = (double)w->win_spin_ns / (double)span;
	w->spin_misses += w->win_misses;
	if (others > CONTENDED) {
		lead = 0;
		w->spin_hold = SPIN_HOLD;
		w->contended_windows++;
	} else if (w->win_misses) {
		/* spinning did not keep the deadlines: the core was taken
		 * from under it (by the host of a virtual machine, say) */
		lead = 0;
		w->spin_hold = w->spin_backoff;
		w->spin_backoff = w->spin_backoff * 2 > SPIN_HOLD_MAX
					  ? SPIN_HOLD_MAX
					  : w->spin_backoff * 2;
	} else if (frac > w->spin_budget) {
		lead = (int64_t)((double)lead * w->spin_budget / frac * 0.9);
	} else if (w->spin_hold > 0) {
		w->spin_hold--;
	} else { /* grow back gently, so the budget does not oscillate */
		lead = min64(w->lead_target_ns, lead + lead / 2 + 50 * CR_US);
	}
	if (w->spin_budget <= 0)
		lead = 0; /* measuring only */
	if (lead != w->lead_ns) {
		w->lead_ns = lead;
		w->net.armed_ns = INT64_MIN; /* rearm with the new lead */
		cr__worker_rearm(w);
	}
	if (w->win_spin_ns && !w->win_misses)
		w->spin_backoff = SPIN_HOLD; /* a clean window of spinning */
	cr__hist_reset(&w->wake_win);
	w->win_spin_ns = 0;
	w->win_misses = 0;
	w->win_from = now;
}

/* Before the loop may sleep: spin if the next deadline is within the
 * lead. */
static void wake_plan(struct cr__worker *w)
{
	int64_t now = cr__clock_now(w->clock);

	if (now - w->win_from >= WAKE_WINDOW)
		wake_adapt(w, now);
	if (w->spin_budget <= 0)
		return; /* only the wake-ups are measured */
	if (w->lead_ns && w->net.armed_ns != INT64_MAX &&
	    w->net.armed_ns - now <= w->lead_ns && !w->stopping) {
		if (!w->spinning) {
			uv_idle_start(&w->spin, spin_cb);
			w->spinning = true;
		}
		/* the cost: the stretch it would have slept (what arrives
		 * meanwhile would have woken it anyway) */
		if (w->net.armed_ns > w->spin_from) {
			w->win_spin_ns += w->net.armed_ns - max64(now, w->spin_from);
			w->spin_from = w->net.armed_ns;
		}
		return;
	}
	if (w->spinning) {
		uv_idle_stop(&w->spin);
		w->spinning = false;
	}
}

uint64_t cr__worker_timer(struct cr__worker *w, int64_t due_ns,
			  int64_t period_ns, cr__timer_fn fn, void *ctx,
			  void *arg, const void *owner)
{
	return cr__net_timer(&w->net, due_ns, period_ns, fn, ctx, arg, owner);
}

void cr__worker_net_rearm(struct cr__net *net)
{
	cr__worker_rearm(cr__worker_of(net));
}

uint64_t cr__worker_timer_user(struct cr__worker *w, struct cr_peer *p,
			       int64_t due_ns, int64_t period_ns,
			       cr_timer_cb cb, void *arg)
{
	uint64_t id;

	cr__work_guard("cr_timer_start");
	id = cr__timer_add_user(&w->net.timers, due_ns, period_ns, cb, p, arg);

	if (due_ns < w->net.armed_ns)
		cr__worker_rearm(w);
	return id;
}

/* The end of a turn, before the loop may sleep: what the turn queued is
 * written, and the wake-up planned.  cr__worker_loop runs it itself,
 * before it waits; the prepare hook runs it before libuv polls where libuv
 * sleeps (elsewhere than Linux) and in a loop turned by hand (the
 * tests). */
static void turn_end(struct cr__worker *w)
{
	cr__tp_flush(&w->net);
	if (cr__timers_next(&w->net.timers) < w->net.armed_ns)
		cr__worker_rearm(w);
	wake_plan(w);
}

static void flush_hook_cb(uv_prepare_t *h)
{
	turn_end(h->loop->data);
}

#ifdef __linux__
/* A wait that ended at `now`, when the worker meant to be up at `at`: more
 * than the late limit after, other work held its core (another task, or
 * the host of a virtual machine that did not run its vCPU: the kernel
 * wakes a sleeper within microseconds of its timer or socket), and every
 * release due meanwhile left late.  The stretch is kept, for the late
 * releases to tell (shaper.c). */
static void note_held(struct cr__worker *w, int64_t at, int64_t now)
{
	if (now - at > CR_FID_LATE_P99_NS) {
		w->held++;
		w->held_ns += now - at;
		w->net.held_from = at;
		w->net.held_to = now;
	}
}

/* Sleeps until libuv's descriptor is readable (a socket, the wake handle,
 * a work done) or the earliest deadline less the lead comes, to the
 * nanosecond; not at all while libuv has work at once (idle handles: the
 * spin or the connections' ready list; closing handles), nor after a poll
 * handle changed, which libuv applies only at its next poll. */
static void wait_for_work(struct cr__worker *w, struct pollfd *pfd)
{
	int uvt = uv_backend_timeout(&w->net.loop);
	int64_t now, at, wait;
	struct timespec ts, *tp = NULL;

	if (!uvt || w->net.uv_changed) {
		w->net.uv_changed = false;
		return;
	}
	now = cr__clock_now(w->clock);
	at = w->net.armed_ns;
	if (at != INT64_MAX && w->lead_ns && at - w->lead_ns > now)
		at -= w->lead_ns;
	if (at <= now)
		return;
	wait = at == INT64_MAX ? -1 : at - now;
	if (uvt > 0 && (wait < 0 || (int64_t)uvt * CR_MS < wait)) {
		wait = (int64_t)uvt * CR_MS; /* a libuv timer's, not ours */
		at = INT64_MAX;
	}
	if (wait >= 0) {
		ts.tv_sec = wait / CR_SEC;
		ts.tv_nsec = wait % CR_SEC;
		tp = &ts;
	}
	if (ppoll(pfd, 1, tp, NULL) == 0 && at != INT64_MAX) {
		/* a wake-up from sleep: how late did it come? */
		now = cr__clock_now(w->clock);
		cr__hist_add(&w->wake_win, now > at ? now - at : 0);
		cr__hist_add(&w->wake_late, now > at ? now - at : 0);
		note_held(w, at, now);
	} else if (at != INT64_MAX) {
		/* woken by a descriptor, but did it get its core in time? */
		note_held(w, at, cr__clock_now(w->clock));
	}
}

void cr__worker_loop(struct cr__worker *w)
{
	struct pollfd pfd = {.fd = uv_backend_fd(&w->net.loop),
			     .events = POLLIN};

	uv_prepare_stop(&w->flush_hook); /* turn_end below, once a turn */
	while (uv_run(&w->net.loop, UV_RUN_NOWAIT)) {
		if (cr__timers_next(&w->net.timers) <= cr__clock_now(w->clock))
			run_timers(w);
		turn_end(w);
		if (!w->node->cfg.busy_poll)
			wait_for_work(w, &pfd);
	}
}
#else
void cr__worker_loop(struct cr__worker *w)
{
	if (w->node->cfg.busy_poll)
		while (uv_run(&w->net.loop, UV_RUN_NOWAIT))
			; /* every pass polls with a zero timeout */
	else
		uv_run(&w->net.loop, UV_RUN_DEFAULT);
}
#endif

/* --- life cycle ------------------------------------------------------------- */

/* The kernel's EEVDF scheduler (Linux 6.6 on) lets a normal thread ask for
 * a shorter slice (sched_attr.sched_runtime, from 6.12): its deadlines come
 * sooner, so it preempts a CPU-bound neighbour as soon as it wakes instead
 * of waiting up to a default slice (about 3 ms) for its turn.  The thread's
 * share of the CPU is unchanged: this is latency, not priority.  Older
 * kernels ignore the field.  A thread started under a real-time policy
 * (crystal run under `chrt -f`, to keep a run on time beside other work)
 * keeps it. */
#define WORKER_SLICE (100 * CR_US)

void cr__worker_short_slice(void)
{
#if defined(__linux__) && defined(SYS_sched_setattr)
	/* the kernel's struct sched_attr, version 0 (48 bytes); its header
	 * cannot be included beside <sched.h> */
	struct {
		uint32_t size, policy;
		uint64_t flags;
		int32_t nice;
		uint32_t priority;
		uint64_t runtime, deadline, period;
	} a = {.size = 48, .policy = SCHED_OTHER, .runtime = WORKER_SLICE};

	if (sched_getscheduler(0) != SCHED_OTHER)
		return; /* real-time, or batch or idle: as the user chose */
	errno = 0;
	a.nice = getpriority(PRIO_PROCESS, 0); /* keep this thread's */
	if (errno)
		a.nice = 0;
	(void)syscall(SYS_sched_setattr, 0, &a, 0);
#endif
}

static void wake_cb(uv_async_t *h);

int cr__worker_setup(struct cr__worker *w)
{
	struct cr__node *n = w->node;
	char path[4096];
	int err, level = n->cfg.log_level;

	/* the peers filter their own lines; the log takes the most any
	 * of them lets through (trace for a traced peer) */
	for (size_t i = 0; i < w->npeers; i++)
		if (w->peers[i]->log_level > level)
			level = w->peers[i]->log_level;
	w->net.armed_ns = INT64_MAX;
	w->lead_target_ns = LEAD_INIT;
	w->clock = &n->clock;
	w->net.clock = &n->clock;
	w->net.ops = &cr__peer_net_ops;
	cr__timers_init(&w->net.timers);
	cr__pool_init(&w->net.pool);
	if (n->cfg.log_dir) {
		snprintf(path, sizeof(path), "%s/worker-%d.log",
			 n->cfg.log_dir, w->id);
		err = cr__log_open(&w->log, path, level, &n->clock);
	} else {
		err = cr__log_open(&w->log, NULL, level, &n->clock);
	}
	if (err) {
		snprintf(w->setup_msg, sizeof(w->setup_msg),
			 "worker %d: cannot open its log in %s: %s", w->id,
			 n->cfg.log_dir ? n->cfg.log_dir : "-",
			 cr_strerror(err));
		return err;
	}
	w->log.echo_stderr = true;
	if (uv_loop_init(&w->net.loop)) {
		snprintf(w->setup_msg, sizeof(w->setup_msg),
			 "worker %d: cannot create its event loop", w->id);
		return -CR_EIO;
	}
	w->net.loop.data = w;
	uv_async_init(&w->net.loop, &w->wake, wake_cb);
	uv_prepare_init(&w->net.loop, &w->flush_hook);
	uv_prepare_start(&w->flush_hook, flush_hook_cb);
	uv_timer_init(&w->net.loop, &w->timer_ms);
	w->timer_ms.data = (void *)(uintptr_t)timer_ms_cb;
	uv_idle_init(&w->net.loop, &w->spin);
	/* spinning needs a fine wake-up (Linux's), and is pointless when
	 * the loop never sleeps */
#ifndef __linux__
	w->spin_budget = 0;
#endif
	if (n->cfg.busy_poll)
		w->spin_budget = 0;
	w->lead_ns = w->spin_budget > 0 ? LEAD_INIT : 0;
	w->spin_backoff = SPIN_HOLD;

	/* peers born later open theirs at birth */
	for (size_t i = 0; i < w->npeers; i++) {
		if (!cr__peer_born_at_start(w->peers[i]))
			continue;
		err = cr__tp_open(&w->peers[i]->ep, w->setup_msg,
				  sizeof(w->setup_msg));
		if (err)
			return err;
	}
	return 0;
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	CR__UNUSED(arg);
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Ends every peer of this worker and closes all handles, so uv_run returns. */
static void worker_shutdown(struct cr__worker *w)
{
	/* cr_node_stop may still be waking workers: let it finish before
	 * this one's wake handle closes */
	pthread_mutex_lock(&w->node->lock);
	pthread_mutex_unlock(&w->node->lock);
	w->stopping = true;
	if (w->spin_budget > 0) {
		/* the last window counts too; then no more spinning */
		wake_adapt(w, cr__clock_now(w->clock));
		if (w->spinning)
			uv_idle_stop(&w->spin);
		w->spinning = false;
	}
	/* the last row of every peer, as the experiment ends */
	cr__sampler_worker(w, w->node->end_ns);
	w->sampling = false;
	for (size_t i = 0; i < w->npeers; i++)
		cr__peer_end(w->peers[i], CR__PEER_RUN_ENDS);
	cr__tp_flush(&w->net);
	uv_walk(&w->net.loop, close_walk_cb, NULL);
}

/* The hosts lost since this worker last looked (cr_node_hosts_lost): its
 * peers drop their connections with them, and hear of each neighbour
 * there departing.  The IPs are copied out under the lock, because a
 * departure may end the experiment, which takes it. */
static void drop_lost_hosts(struct cr__worker *w)
{
	struct cr__node *n = w->node;
	cr_addr *ips = NULL;
	size_t from, to;

	pthread_mutex_lock(&n->lock);
	from = w->lost_done;
	to = n->nlost;
	if (to > from) {
		ips = malloc((to - from) * sizeof(*ips));
		if (ips)
			memcpy(ips, n->lost + from, (to - from) * sizeof(*ips));
	}
	pthread_mutex_unlock(&n->lock);
	if (!ips)
		return; /* nothing new; or out of memory: the next wake tries */
	w->lost_done = to;
	for (size_t k = 0; k < to - from; k++)
		for (size_t i = 0; i < w->npeers; i++)
			if (cr__tp_is_open(&w->peers[i]->ep))
				cr__tp_drop_host(&w->peers[i]->ep, &ips[k]);
	free(ips);
}

static void wake_cb(uv_async_t *h)
{
	struct cr__worker *w = h->loop->data;

	if (atomic_load(&w->node->ended)) {
		if (!w->stopping)
			worker_shutdown(w);
		return;
	}
	drop_lost_hosts(w);
}

void cr__worker_teardown(struct cr__worker *w)
{
	/* connections fold their fidelity into the loop's as they close */
	if (w->net.loop.data == w) {
		if (!w->stopping)
			worker_shutdown(w);
		/* until every request is back: works still running
		 * finish their peers' ends (work.c) */
		uv_run(&w->net.loop, UV_RUN_DEFAULT);
		uv_loop_close(&w->net.loop);
		w->net.loop.data = NULL;
		cr__work_worker_summary(w);
	}
	w->lag = w->net.timers.lag;
	cr__timers_free(&w->net.timers);
	cr__pool_free(&w->net.pool);
	cr__log_close(&w->log);
	cr__tp_free(&w->net);
}
