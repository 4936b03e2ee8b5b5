/* Work on the thread pool (cr_work_submit, include/crystal/thread.h) with
 * real nodes on loopback (ports 27600-27799), and the synchronisation
 * wrappers:
 *   - the work runs off the worker and its done on it; results flow back:
 *     a peer checksums what it receives on the pool and sends the sum on
 *     in done, and the sender checks every one;
 *   - many works in flight, resubmitted from done, each done exactly once;
 *     the per-peer bound refuses the one past it;
 *   - cancel before start: -CR_ECANCELED, the work never runs; a running
 *     work cannot be cancelled; unknown ids are refused;
 *   - a peer that dies with works queued and running: every done exactly
 *     once, with -CR_ECANCELED, before destroy, nothing after; it is born
 *     again only once they are all back; and the run ending around a
 *     running work ends cleanly (both checked under ASan in `make check
 *     SANITIZE=1`, and for races under TSan in `make check TSAN=1`);
 *   - many peers on two workers with work outstanding as the run ends;
 *   - a work function calling an engine service is stopped with a reason;
 *   - mutex, rwlock, cond (timed), barrier and threads.
 * The pool has POOL threads (UV_THREADPOOL_SIZE, set before any node).
 */
#include "support.h"

#include "../src/engine/node.h"

#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define SAFETY_NS (20 * CR_SEC)
#define POOL 4

static struct cr_node_peer npeers[64];
static cr_addr boots[64][1];
static struct cr_node_event evs[8];

static void peer_at(size_t i, uint16_t port, int boot_port)
{
	memset(&npeers[i], 0, sizeof(npeers[i]));
	npeers[i].addr = t_addr(port);
	if (boot_port) {
		boots[i][0] = t_addr((uint16_t)boot_port);
		npeers[i].boot = boots[i];
		npeers[i].nboot = 1;
	}
}

/* Runs a node of n peers on `workers` workers until it stops or
 * duration_ns passes; its run directory's CSV files in metrics_dir unless
 * NULL. */
/* The node's result of the latest run (run_node_in). */
static struct cr_node_result last;

static void run_node_in(const cr_algorithm *algo, size_t n, int workers,
			int64_t duration_ns, const char *metrics_dir)
{
	struct cr_node_config cfg;
	cr_node *node;
	char err[256];

	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "test-work";
	cfg.duration_ns = duration_ns;
	cfg.workers = workers;
	cfg.algo = algo;
	cfg.peers = npeers;
	cfg.npeers = n;
	cfg.log_level = metrics_dir ? CR_LOG_INFO : CR_LOG_ERROR;
	cfg.metrics_dir = metrics_dir;
	cfg.log_dir = metrics_dir;
	if (cr_node_create(&cfg, &node, err, sizeof(err)))
		fail_msg("create: %s", err);
	if (cr_node_run(node, err, sizeof(err)))
		fail_msg("run: %s", err);
	cr_node_result(node, &last);
	cr_node_destroy(node);
}

static void run_node(const cr_algorithm *algo, size_t n, int workers,
		     int64_t duration_ns)
{
	run_node_in(algo, n, workers, duration_ns, NULL);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts))
		;
}

/* Spins on the thread's own CPU clock for about ms milliseconds. */
static void spin_cpu_ms(int ms)
{
	struct timespec a, b;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	do
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec) <
	       ms * 1000000LL);
}

static uint64_t fnv1a(const uint8_t *b, size_t n)
{
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

/* --- results flow back: checksums on the pool ------------------------------- */

#define CS_MSGS 200
#define CS_LEN 3000
#define CS_DATA 140
#define CS_SUM 40

static struct {
	pthread_t sender_thread, receiver_thread;
	char worker_name[16]; /* the receiver's thread's */
	int off_worker, on_worker_wrong, done_wrong_thread;
	int sums_ok, sums_bad, done_calls, done_bad_status;
	uint64_t expect[CS_MSGS];
	int64_t cpu_ns;
	uint64_t submit_errors, refused;
	/* what the bound refused, submitted again as works finish */
	struct cs_job *backlog[CS_MSGS];
	size_t backlog_head, backlog_len;
} cs;

struct cs_job {
	cr_msg *m;
	cr_addr from;
	uint64_t seq;
	uint64_t sum;
	pthread_t ran_on;
};

static void cs_work(void *arg)
{
	struct cs_job *j = arg;
	const uint8_t *b = cr_msg_payload(j->m);

	j->ran_on = pthread_self();
	j->sum = fnv1a(b, cr_msg_len(j->m));
	spin_cpu_ms(1); /* CPU the peer is charged for */
}

static void cs_submit(cr_peer *p, struct cs_job *j);

static void cs_done(cr_peer *p, void *arg, int status)
{
	struct cs_job *j = arg;
	cr_msg *r;
	uint8_t *b;

	cs.done_calls++;
	if (!pthread_equal(pthread_self(), cs.receiver_thread))
		cs.done_wrong_thread++;
	if (pthread_equal(j->ran_on, cs.receiver_thread))
		cs.on_worker_wrong++;
	else
		cs.off_worker++;
	if (status) {
		cs.done_bad_status++;
		goto out;
	}
	r = cr_msg_new(p, CS_SUM, 1, 16);
	b = r ? cr_msg_payload_mut(r) : NULL;
	if (b) {
		t_put64(b, j->seq);
		t_put64(b + 8, j->sum);
		cr_send(p, &j->from, r, CR_TCP);
	}
	cr_msg_release(r);
out:
	cr_msg_release(j->m);
	free(j);
	if (cs.backlog_len) {
		cs.backlog_len--;
		cs_submit(p, cs.backlog[cs.backlog_head++ % CS_MSGS]);
	}
}

static void cs_submit(cr_peer *p, struct cs_job *j)
{
	int e = cr_work_submit(p, cs_work, cs_done, j, NULL);

	if (e == -CR_EAGAIN) {
		/* over the bound: it waits for a work to finish */
		cs.refused++;
		cs.backlog[(cs.backlog_head + cs.backlog_len++) % CS_MSGS] = j;
	} else if (e) {
		cs.submit_errors++;
		cr_msg_release(j->m);
		free(j);
	}
}

static int cs_bootstrap(cr_peer *p)
{
	const cr_addr *boot;

	if (!cr_bootstrap_peers(p, &boot)) {
		cs.receiver_thread = pthread_self();
		pthread_getname_np(pthread_self(), cs.worker_name,
				   sizeof(cs.worker_name));
		return 0;
	}
	cs.sender_thread = pthread_self();
	for (uint64_t k = 0; k < CS_MSGS; k++) {
		cr_msg *m = cr_msg_new(p, CS_DATA, 1, CS_LEN);
		uint8_t *b = cr_msg_payload_mut(m);
		cr_rand *r = cr_peer_rand(p);

		for (size_t i = 0; i < CS_LEN; i++)
			b[i] = (uint8_t)cr_rand_next(r);
		t_put64(b, k);
		cs.expect[k] = fnv1a(b, CS_LEN);
		cr_send(p, &boot[0], m, CR_TCP);
		cr_msg_release(m);
	}
	return 0;
}

static void cs_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	struct cs_job *j = calloc(1, sizeof(*j));

	if (!j)
		return;
	j->m = cr_msg_retain(m);
	j->from = *from;
	j->seq = t_get64(cr_msg_payload(m));
	if (cs.backlog_len) /* in order, behind those waiting */
		cs.backlog[(cs.backlog_head + cs.backlog_len++) % CS_MSGS] = j;
	else
		cs_submit(p, j);
}

static void cs_control(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	const uint8_t *b = cr_msg_payload(m);
	uint64_t seq = t_get64(b);

	if (cr_msg_len(m) == 16 && seq < CS_MSGS &&
	    t_get64(b + 8) == cs.expect[seq])
		cs.sums_ok++;
	else
		cs.sums_bad++;
	if (cs.sums_ok + cs.sums_bad == CS_MSGS)
		cr_experiment_stop(p);
}

static void cs_destroy(cr_peer *p)
{
	const cr_addr *boot;

	if (!cr_bootstrap_peers(p, &boot))
		cs.cpu_ns = cr_work_cpu_ns(p); /* the receiver's */
}

static const cr_algorithm cs_algo = {
    .api_version = CR_API_VERSION,
    .name = "checksum",
    .bootstrap = cs_bootstrap,
    .process = cs_control,
    .process_data = cs_data,
    .destroy = cs_destroy,
};

static void results_flow_back(void **state)
{
	memset(&cs, 0, sizeof(cs));
	peer_at(0, 27600, 0);
	peer_at(1, 27601, 27600);
	run_node(&cs_algo, 2, 2, SAFETY_NS);
	assert_int_equal(cs.submit_errors, 0);
	assert_int_equal(cs.sums_ok, CS_MSGS);
	assert_int_equal(cs.sums_bad, 0);
	assert_int_equal(cs.done_wrong_thread, 0);
	assert_int_equal(cs.on_worker_wrong, 0);
	/* a worker's thread is named for top -H and perf */
	assert_int_equal(strncmp(cs.worker_name, "crystal-w", 9), 0);
	assert_int_equal(cs.done_bad_status, 0);
	assert_int_equal(cs.done_calls, cs.sums_ok);
	assert_true(cs.sums_ok > 0);
	/* 1 ms of CPU in each, at the least */
	assert_true(cs.cpu_ns >= (int64_t)cs.sums_ok * 1000000);
}

/* --- many in flight, exactly once; the bound ------------------------------- */

#define MF_TOTAL 2000

static struct {
	uint8_t done_count[MF_TOTAL];
	int submitted, done, bad_status, refused_at_bound, bound_rc;
	int cancel_unknown_rc, cancel_done_rc;
	cr_work_id first_id, last_id;
	bool ids_increasing;
	_Atomic int ran;
} mf;

static void mf_work(void *arg)
{
	(void)arg;
	atomic_fetch_add(&mf.ran, 1);
}

static void mf_submit(cr_peer *p);

static void mf_done(cr_peer *p, void *arg, int status)
{
	size_t k = (size_t)(uintptr_t)arg;

	mf.done_count[k]++;
	mf.done++;
	if (status)
		mf.bad_status++;
	if (k == 0)
		mf.cancel_done_rc = cr_work_cancel(p, mf.first_id);
	if (mf.submitted < MF_TOTAL)
		mf_submit(p);
	else if (mf.done == MF_TOTAL)
		cr_experiment_stop(p);
}

static void mf_submit(cr_peer *p)
{
	while (mf.submitted < MF_TOTAL) {
		cr_work_id id = 0;
		int e = cr_work_submit(p, mf_work, mf_done,
				       (void *)(uintptr_t)mf.submitted, &id);
		if (e) {
			mf.bound_rc = e;
			mf.refused_at_bound++;
			return;
		}
		if (!mf.first_id)
			mf.first_id = id;
		if (id <= mf.last_id)
			mf.ids_increasing = false;
		mf.last_id = id;
		mf.submitted++;
	}
}

static int mf_bootstrap(cr_peer *p)
{
	mf.ids_increasing = true;
	mf.cancel_unknown_rc = cr_work_cancel(p, 987654321);
	mf_submit(p);
	return 0;
}

static const cr_algorithm mf_algo = {
    .api_version = CR_API_VERSION,
    .name = "many",
    .bootstrap = mf_bootstrap,
};

static void many_in_flight(void **state)
{
	memset(&mf, 0, sizeof(mf));
	peer_at(0, 27610, 0);
	run_node(&mf_algo, 1, 1, SAFETY_NS);
	assert_int_equal(mf.submitted, MF_TOTAL);
	assert_int_equal(mf.done, MF_TOTAL);
	assert_int_equal(atomic_load(&mf.ran), MF_TOTAL);
	for (size_t k = 0; k < MF_TOTAL; k++)
		assert_int_equal(mf.done_count[k], 1);
	assert_int_equal(mf.bad_status, 0);
	assert_true(mf.ids_increasing);
	assert_true(mf.first_id != 0);
	/* the first burst stops at the bound */
	assert_true(mf.refused_at_bound >= 1);
	assert_int_equal(mf.bound_rc, -CR_EAGAIN);
	assert_int_equal(mf.cancel_unknown_rc, -CR_ENOENT);
	assert_int_equal(mf.cancel_done_rc, -CR_ENOENT);
}

/* --- cancel before start --------------------------------------------------- */

/* Pool threads held by blockers until the gate opens. */
static struct {
	cr_mutex lock;
	cr_cond cond;
	bool open;
	_Atomic int started;
} gate;

static void gate_init(void)
{
	assert_int_equal(cr_mutex_init(&gate.lock), 0);
	assert_int_equal(cr_cond_init(&gate.cond), 0);
	gate.open = false;
	atomic_store(&gate.started, 0);
}

static void gate_release(void)
{
	cr_mutex_lock(&gate.lock);
	gate.open = true;
	cr_cond_broadcast(&gate.cond);
	cr_mutex_unlock(&gate.lock);
}

static void gate_destroy(void)
{
	cr_cond_destroy(&gate.cond);
	cr_mutex_destroy(&gate.lock);
}

static void blocker(void *arg)
{
	(void)arg;
	atomic_fetch_add(&gate.started, 1);
	cr_mutex_lock(&gate.lock);
	while (!gate.open)
		cr_cond_wait(&gate.cond, &gate.lock);
	cr_mutex_unlock(&gate.lock);
}

#define CX_VICTIMS 8

static struct {
	cr_work_id blockers[POOL], victims[CX_VICTIMS];
	int blocker_status[POOL], victim_status[CX_VICTIMS];
	int blocker_done[POOL], victim_done[CX_VICTIMS];
	_Atomic int victim_ran;
	int cancel_rc[CX_VICTIMS], again_rc, running_rc;
	int submit_rc[POOL + CX_VICTIMS];
	int dones;
	bool cancel_in_done_call;
	bool in_cancel;
} cx;

static void cx_victim(void *arg)
{
	(void)arg;
	atomic_fetch_add(&cx.victim_ran, 1);
}

static void cx_done(cr_peer *p, void *arg, int status)
{
	int k = (int)(intptr_t)arg;

	if (cx.in_cancel)
		cx.cancel_in_done_call = true;
	if (k < POOL) {
		cx.blocker_done[k]++;
		cx.blocker_status[k] = status;
	} else {
		cx.victim_done[k - POOL]++;
		cx.victim_status[k - POOL] = status;
	}
	if (++cx.dones == POOL + CX_VICTIMS)
		cr_experiment_stop(p);
}

/* Polls until every pool thread holds a blocker, then cancels. */
static void cx_poll(cr_peer *p, void *arg)
{
	if (atomic_load(&gate.started) < POOL) {
		cr_timer_start(p, CR_MS, 0, cx_poll, NULL);
		return;
	}
	cx.in_cancel = true;
	for (int k = 0; k < CX_VICTIMS; k++)
		cx.cancel_rc[k] = cr_work_cancel(p, cx.victims[k]);
	cx.again_rc = cr_work_cancel(p, cx.victims[0]);
	cx.running_rc = cr_work_cancel(p, cx.blockers[0]);
	cx.in_cancel = false;
	gate_release();
}

static int cx_bootstrap(cr_peer *p)
{
	for (int k = 0; k < POOL; k++)
		cx.submit_rc[k] = cr_work_submit(p, blocker, cx_done,
						 (void *)(intptr_t)k,
						 &cx.blockers[k]);
	for (int k = 0; k < CX_VICTIMS; k++)
		cx.submit_rc[POOL + k] =
			cr_work_submit(p, cx_victim, cx_done,
				       (void *)(intptr_t)(POOL + k),
				       &cx.victims[k]);
	cr_timer_start(p, 0, 0, cx_poll, NULL);
	return 0;
}

static const cr_algorithm cx_algo = {
    .api_version = CR_API_VERSION,
    .name = "cancel",
    .bootstrap = cx_bootstrap,
};

static void cancel_before_start(void **state)
{
	memset(&cx, 0, sizeof(cx));
	gate_init();
	peer_at(0, 27620, 0);
	run_node(&cx_algo, 1, 1, SAFETY_NS);
	gate_destroy();
	for (int k = 0; k < POOL + CX_VICTIMS; k++)
		assert_int_equal(cx.submit_rc[k], 0);
	for (int k = 0; k < CX_VICTIMS; k++) {
		assert_int_equal(cx.cancel_rc[k], 0);
		assert_int_equal(cx.victim_done[k], 1);
		assert_int_equal(cx.victim_status[k], -CR_ECANCELED);
	}
	assert_int_equal(atomic_load(&cx.victim_ran), 0);
	for (int k = 0; k < POOL; k++) {
		assert_int_equal(cx.blocker_done[k], 1);
		assert_int_equal(cx.blocker_status[k], 0);
	}
	assert_int_equal(cx.again_rc, -CR_ENOENT);
	assert_int_equal(cx.running_rc, -CR_ESTATE);
	assert_false(cx.cancel_in_done_call);
}

/* --- a peer dies with works queued and running ------------------------------- */

#define DW_QUEUED 10
/* the first life's works run past its death; the second's past the run */
#define DW_SLOW_MS 600
#define DW_SLOWER_MS 2500
#define DW_RUN_MS 1500

/* What happened to the peer, in order, on its worker. */
enum dw_what { DW_BOOT, DW_DONE, DW_DESTROY };
static struct {
	struct {
		enum dw_what what;
		int life, k, status;
		int64_t at_ns;
	} log[256];
	int n;
	int life;
	_Atomic int ran[2][POOL + DW_QUEUED];
	int submit_after_end_rc[3];
	int after_destroy; /* calls of the algorithm after a destroy */
	bool destroyed;
} dw;

static void dw_note(cr_peer *p, enum dw_what what, int k, int status)
{
	if (dw.destroyed && what != DW_BOOT)
		dw.after_destroy++;
	if (dw.n < 256)
		dw.log[dw.n++] = (typeof(dw.log[0])){what, dw.life - 1, k,
						      status, cr_now(p)};
}

static void dw_slow(void *arg)
{
	int k = (int)(intptr_t)arg;

	atomic_fetch_add(&dw.ran[k >> 8][k & 255], 1);
	sleep_ms(k >> 8 ? DW_SLOWER_MS : DW_SLOW_MS);
}

static void dw_fast(void *arg)
{
	int k = (int)(intptr_t)arg;

	atomic_fetch_add(&dw.ran[k >> 8][k & 255], 1);
}

static void dw_done(cr_peer *p, void *arg, int status)
{
	dw_note(p, DW_DONE, (int)(intptr_t)arg, status);
	/* the life is over: a new submit is refused */
	if (status)
		dw.submit_after_end_rc[0] =
			cr_work_submit(p, dw_fast, dw_done, NULL, NULL);
}

static int dw_bootstrap(cr_peer *p)
{
	int life = dw.life++;

	dw.destroyed = false;
	dw_note(p, DW_BOOT, 0, 0);
	/* the first life: every pool thread busy past the death, the rest
	 * queued behind them; the second: one running as the run ends */
	for (int k = 0; k < (life ? 1 : POOL); k++)
		cr_work_submit(p, dw_slow, dw_done,
			       (void *)(intptr_t)(life << 8 | k), NULL);
	for (int k = 0; life == 0 && k < DW_QUEUED; k++)
		cr_work_submit(p, dw_fast, dw_done,
			       (void *)(intptr_t)(POOL + k), NULL);
	return 0;
}

static void dw_destroy(cr_peer *p)
{
	dw_note(p, DW_DESTROY, 0, 0);
	dw.submit_after_end_rc[1 + (dw.life > 1)] =
		cr_work_submit(p, dw_fast, dw_done, NULL, NULL);
	dw.destroyed = true;
}

static const cr_algorithm dw_algo = {
    .api_version = CR_API_VERSION,
    .name = "dies",
    .bootstrap = dw_bootstrap,
    .destroy = dw_destroy,
};

/* The log's entries of `life`, checked: every work's done once with
 * -CR_ECANCELED, the queued ones' first (at the end), then destroy;
 * returns the destroy's time. */
static int64_t dw_check_life(int life, int works, int64_t end_ns)
{
	int seen[POOL + DW_QUEUED] = {0};
	int64_t destroy_ns = -1;
	bool running_seen = false;

	for (int i = 0; i < dw.n; i++) {
		int k = dw.log[i].k & 255;

		if (dw.log[i].life != life)
			continue;
		if (dw.log[i].what == DW_DONE) {
			assert_int_equal(destroy_ns, -1); /* before destroy */
			assert_int_equal(dw.log[i].status, -CR_ECANCELED);
			assert_true(dw.log[i].at_ns >= end_ns);
			seen[k]++;
			if (k < POOL)
				running_seen = true;
			else
				assert_false(running_seen);
		} else if (dw.log[i].what == DW_DESTROY) {
			assert_int_equal(destroy_ns, -1);
			destroy_ns = dw.log[i].at_ns;
		}
	}
	for (int k = 0; k < works; k++)
		assert_int_equal(seen[k], 1);
	assert_true(destroy_ns >= 0);
	return destroy_ns;
}

static void dies_with_work(void **state)
{
	int64_t destroy0, reborn = -1;

	memset(&dw, 0, sizeof(dw));
	peer_at(0, 27630, 0);
	evs[0] = (struct cr_node_event){0, CR_NEV_BIRTH, 0, 0};
	evs[1] = (struct cr_node_event){200 * CR_MS, CR_NEV_DIE, 0, 0};
	evs[2] = (struct cr_node_event){300 * CR_MS, CR_NEV_BIRTH, 0, 0};
	npeers[0].events = evs;
	npeers[0].nevents = 3;
	/* the run ends while the second life's work sleeps */
	run_node(&dw_algo, 1, 1, DW_RUN_MS * CR_MS);
	npeers[0].events = NULL;
	npeers[0].nevents = 0;

	assert_int_equal(dw.life, 2);
	destroy0 = dw_check_life(0, POOL + DW_QUEUED, 200 * CR_MS);
	/* the running ones kept the destroy until they returned */
	assert_true(destroy0 >= DW_SLOW_MS * CR_MS);
	/* the queued ones never ran; the running ones ran once */
	for (int k = 0; k < POOL; k++)
		assert_int_equal(atomic_load(&dw.ran[0][k]), 1);
	for (int k = POOL; k < POOL + DW_QUEUED; k++)
		assert_int_equal(atomic_load(&dw.ran[0][k]), 0);
	/* born again only after the first life's destroy */
	for (int i = 0; i < dw.n; i++)
		if (dw.log[i].what == DW_BOOT && dw.log[i].life == 1)
			reborn = dw.log[i].at_ns;
	assert_true(reborn >= destroy0);
	/* the second life: its work running as the run ended */
	dw_check_life(1, 1, DW_RUN_MS * CR_MS);
	assert_int_equal(atomic_load(&dw.ran[1][0]), 1);
	assert_int_equal(dw.after_destroy, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(dw.submit_after_end_rc[i], -CR_EINVAL);
}

/* --- many peers, work outstanding as the run ends ------------------------------ */

#define RE_PEERS 24

static struct {
	int submitted[RE_PEERS], done[RE_PEERS], cancelled[RE_PEERS];
	int destroyed[RE_PEERS], done_after_destroy;
	pthread_mutex_t lock; /* two workers */
} re;

static int re_index(cr_peer *p)
{
	return cr_self(p)->port - 27700;
}

static void re_work(void *arg)
{
	(void)arg;
	spin_cpu_ms(2);
}

static void re_done(cr_peer *p, void *arg, int status)
{
	int i = re_index(p);

	pthread_mutex_lock(&re.lock);
	re.done[i]++;
	if (status == -CR_ECANCELED)
		re.cancelled[i]++;
	if (re.destroyed[i])
		re.done_after_destroy++;
	pthread_mutex_unlock(&re.lock);
	if (status || cr_work_submit(p, re_work, re_done, NULL, NULL))
		return;
	pthread_mutex_lock(&re.lock);
	re.submitted[i]++;
	pthread_mutex_unlock(&re.lock);
}

static int re_bootstrap(cr_peer *p)
{
	int i = re_index(p);

	for (int k = 0; k < CR_WORK_PEER_MAX; k++)
		if (!cr_work_submit(p, re_work, re_done, NULL, NULL)) {
			pthread_mutex_lock(&re.lock);
			re.submitted[i]++;
			pthread_mutex_unlock(&re.lock);
		}
	return 0;
}

static void re_destroy(cr_peer *p)
{
	pthread_mutex_lock(&re.lock);
	re.destroyed[re_index(p)]++;
	pthread_mutex_unlock(&re.lock);
}

static const cr_algorithm re_algo = {
    .api_version = CR_API_VERSION,
    .name = "run-end",
    .bootstrap = re_bootstrap,
    .destroy = re_destroy,
};

static void run_ends_with_work(void **state)
{
	struct t_csv c;
	char dir[64], path[128];
	int cancelled = 0, submitted = 0, done = 0;

	memset(&re, 0, sizeof(re));
	pthread_mutex_init(&re.lock, NULL);
	for (int i = 0; i < RE_PEERS; i++)
		peer_at((size_t)i, (uint16_t)(27700 + i), 0);
	assert_int_equal(t_mkdtemp(dir, sizeof(dir)), 0);
	run_node_in(&re_algo, RE_PEERS, 2, 300 * CR_MS, dir);
	for (int i = 0; i < RE_PEERS; i++) {
		assert_int_equal(re.submitted[i], re.done[i]);
		assert_int_equal(re.destroyed[i], 1);
		cancelled += re.cancelled[i];
		submitted += re.submitted[i];
		done += re.done[i];
	}
	/* the node's result sums them over its peers (summary.json's work) */
	assert_int_equal(last.works_submitted, submitted);
	assert_int_equal(last.works_done, done - cancelled);
	assert_int_equal(last.works_cancelled, cancelled);
	assert_true(last.work_cpu_ns >= 2 * CR_MS * (int64_t)(done - cancelled));
	/* peers-final.csv counts them the same, and the CPU they used */
	snprintf(path, sizeof(path), "%s/peers-final.csv", dir);
	assert_int_equal(t_csv_load(&c, path), 0);
	assert_int_equal(t_csv_rows(&c), RE_PEERS);
	for (size_t r = 0; r < RE_PEERS; r++) {
		const char *peer = t_csv_field(&c, r, t_csv_col(&c, "peer"));
		int i = atoi(strrchr(peer, ':') + 1) - 27700;

		assert_int_equal(t_csv_num(&c, r, "works_done"),
				 re.done[i] - re.cancelled[i]);
		assert_int_equal(t_csv_num(&c, r, "works_cancelled"),
				 re.cancelled[i]);
		if (re.done[i] > re.cancelled[i]) /* 2 ms of CPU in each */
			assert_true(t_csv_num(&c, r, "work_cpu_s") >= 0.002);
	}
	t_csv_free(&c);
	/* each worker's log sums its peers' works up */
	for (int w = 0; w < 2; w++) {
		char *log;

		snprintf(path, sizeof(path), "%s/worker-%d.log", dir, w);
		log = t_slurp(path);
		assert_non_null(log);
		assert_non_null(strstr(log, " cancelled, "));
		assert_non_null(strstr(log, "s of CPU on the pool"));
		free(log);
	}
	t_rm_rf(dir);
	/* far more was queued than 300 ms of the pool could run */
	assert_true(cancelled > 0);
	assert_int_equal(re.done_after_destroy, 0);
	pthread_mutex_destroy(&re.lock);
}

/* --- a work function that calls a service ----------------------------------- */

static void never(cr_peer *p, void *arg)
{
}

static void bad_work(void *arg)
{
	cr_timer_start(arg, 0, 0, never, NULL);
}

static int bad_bootstrap(cr_peer *p)
{
	cr_work_submit(p, bad_work, NULL, p, NULL);
	return 0;
}

static const cr_algorithm bad_algo = {
    .api_version = CR_API_VERSION,
    .name = "bad",
    .bootstrap = bad_bootstrap,
};

static void service_off_worker_stops(void **state)
{
	char dir[128], path[256];
	pid_t pid;
	int st;
	char *err;

	assert_int_equal(t_mkdtemp(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/stderr", dir);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(3);
		peer_at(0, 27640, 0);
		run_node(&bad_algo, 1, 1, 5 * CR_SEC);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
	err = t_slurp(path);
	assert_non_null(err);
	if (!strstr(err, "cr_timer_start called"))
		print_message("child said: %s\n", err);
	assert_non_null(strstr(err, "cr_timer_start called from a work "
				    "function"));
	free(err);
	t_rm_rf(dir);
}

/* --- crystal run --algorithm-threads ----------------------------------------- */

static void cli_algorithm_threads(void **state)
{
	char dir[64], out[128], path[160], exe[512], *json, *se = NULL;
	int rc;

	assert_int_equal(t_mkdtemp(dir, sizeof(dir)), 0);
	snprintf(exe, sizeof(exe), "%s/crystal", t_build_dir());
	snprintf(out, sizeof(out), "%s/run", dir);
	char *ok[] = {exe,	   "run",	    "--duration",
		      "0.5",	   "--peers",	    "4",
		      "--out",	   out,		    "--base-port",
		      "27650",	   "--algorithm-threads", "3",
		      "--quiet",   NULL};
	rc = t_run(ok, 60000, NULL, &se);
	if (rc)
		fail_msg("exit status %d: %s", rc, se ? se : "");
	free(se);
	snprintf(path, sizeof(path), "%s/summary.json", out);
	json = t_slurp(path);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"algorithm_threads\": 3"));
	free(json);
	/* out of range: refused with what is accepted, exit status 2 */
	char *bad[] = {exe, "run", "--algorithm-threads", "0", NULL};
	se = NULL;
	assert_int_equal(t_run(bad, 60000, NULL, &se), 2);
	assert_non_null(se);
	assert_non_null(strstr(se, "--algorithm-threads '0': expected a "
				   "whole number from 1 to 1024"));
	free(se);
	t_rm_rf(dir);
}

/* --- the synchronisation wrappers -------------------------------------------- */

#define MX_THREADS 6
#define MX_ROUNDS 100000

static struct {
	cr_mutex m;
	uint64_t counter;
} mx;

static void mx_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < MX_ROUNDS; i++) {
		cr_mutex_lock(&mx.m);
		mx.counter++;
		cr_mutex_unlock(&mx.m);
	}
}

static void mutex_counts_exactly(void **state)
{
	cr_thread t[MX_THREADS];

	mx.counter = 0;
	assert_int_equal(cr_mutex_init(&mx.m), 0);
	for (int i = 0; i < MX_THREADS; i++)
		assert_int_equal(cr_thread_create(&t[i], mx_thread, NULL), 0);
	for (int i = 0; i < MX_THREADS; i++)
		assert_int_equal(cr_thread_join(&t[i]), 0);
	assert_int_equal(mx.counter, (uint64_t)MX_THREADS * MX_ROUNDS);
	cr_mutex_destroy(&mx.m);
	assert_int_equal(cr_thread_create(NULL, mx_thread, NULL), -CR_EINVAL);
	assert_int_equal(cr_thread_create(&t[0], NULL, NULL), -CR_EINVAL);
}

static struct {
	cr_mutex m;
	int held; /* 1: the other thread holds m */
	int rc;
} tl;

static void trylock_thread(void *arg)
{
	tl.rc = cr_mutex_trylock(&tl.m);
	if (!tl.rc)
		cr_mutex_unlock(&tl.m);
}

static void mutex_trylock(void **state)
{
	cr_thread t;

	assert_int_equal(cr_mutex_init(&tl.m), 0);
	cr_mutex_lock(&tl.m);
	assert_int_equal(cr_thread_create(&t, trylock_thread, NULL), 0);
	assert_int_equal(cr_thread_join(&t), 0);
	assert_int_equal(tl.rc, -CR_EAGAIN);
	cr_mutex_unlock(&tl.m);
	assert_int_equal(cr_thread_create(&t, trylock_thread, NULL), 0);
	assert_int_equal(cr_thread_join(&t), 0);
	assert_int_equal(tl.rc, 0);
	cr_mutex_destroy(&tl.m);
}

#define RW_READERS 4
#define RW_WRITES 20000

static struct {
	cr_rwlock l;
	uint64_t a, b; /* equal whenever the lock is not held to write */
	_Atomic bool stop;
	_Atomic int torn;
	_Atomic uint64_t reads;
} rw;

static void rw_reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&rw.stop)) {
		cr_rwlock_rdlock(&rw.l);
		if (rw.a != rw.b)
			atomic_fetch_add(&rw.torn, 1);
		cr_rwlock_rdunlock(&rw.l);
		atomic_fetch_add(&rw.reads, 1);
	}
}

static void rwlock_consistent(void **state)
{
	cr_thread t[RW_READERS];

	memset(&rw, 0, sizeof(rw));
	assert_int_equal(cr_rwlock_init(&rw.l), 0);
	for (int i = 0; i < RW_READERS; i++)
		assert_int_equal(cr_thread_create(&t[i], rw_reader, NULL), 0);
	/* writes go on until the readers have read among them */
	for (int i = 0; i < RW_WRITES || atomic_load(&rw.reads) < 1000; i++) {
		cr_rwlock_wrlock(&rw.l);
		rw.a++;
		rw.b++;
		cr_rwlock_wrunlock(&rw.l);
	}
	atomic_store(&rw.stop, true);
	for (int i = 0; i < RW_READERS; i++)
		assert_int_equal(cr_thread_join(&t[i]), 0);
	assert_int_equal(atomic_load(&rw.torn), 0);
	assert_true(rw.a >= RW_WRITES);
	assert_true(atomic_load(&rw.reads) >= 1000);
	cr_rwlock_destroy(&rw.l);
}

#define BR_THREADS 5
#define BR_ROUNDS 50

static struct {
	cr_barrier b;
	_Atomic int arrived[BR_ROUNDS];
	_Atomic int serial[BR_ROUNDS];
	_Atomic int early; /* went on before the round's last arrived */
} br;

static void br_thread(void *arg)
{
	(void)arg;
	for (int r = 0; r < BR_ROUNDS; r++) {
		atomic_fetch_add(&br.arrived[r], 1);
		if (cr_barrier_wait(&br.b))
			atomic_fetch_add(&br.serial[r], 1);
		if (atomic_load(&br.arrived[r]) != BR_THREADS)
			atomic_fetch_add(&br.early, 1);
	}
}

static void barrier_releases_all(void **state)
{
	cr_thread t[BR_THREADS];

	memset(&br, 0, sizeof(br));
	assert_int_equal(cr_barrier_init(&br.b, BR_THREADS), 0);
	for (int i = 0; i < BR_THREADS; i++)
		assert_int_equal(cr_thread_create(&t[i], br_thread, NULL), 0);
	for (int i = 0; i < BR_THREADS; i++)
		assert_int_equal(cr_thread_join(&t[i]), 0);
	for (int r = 0; r < BR_ROUNDS; r++) {
		assert_int_equal(atomic_load(&br.arrived[r]), BR_THREADS);
		assert_int_equal(atomic_load(&br.serial[r]), 1);
	}
	assert_int_equal(atomic_load(&br.early), 0);
	cr_barrier_destroy(&br.b);
	assert_int_equal(cr_barrier_init(&br.b, 0), -CR_EINVAL);
}

static struct {
	cr_mutex m;
	cr_cond c;
	bool flag;
} cv;

static void cv_signaller(void *arg)
{
	(void)arg;
	cr_mutex_lock(&cv.m);
	cv.flag = true;
	cr_cond_signal(&cv.c);
	cr_mutex_unlock(&cv.m);
}

static void cond_timed_wait(void **state)
{
	struct timespec a, b;
	cr_thread t;
	int rc;

	assert_int_equal(cr_mutex_init(&cv.m), 0);
	assert_int_equal(cr_cond_init(&cv.c), 0);
	cv.flag = false;
	/* nobody signals: the wait times out, the mutex held again */
	cr_mutex_lock(&cv.m);
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		rc = cr_cond_timedwait(&cv.c, &cv.m, 20 * CR_MS);
	while (rc == 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	assert_int_equal(rc, -CR_ETIMEDOUT);
	assert_true((b.tv_sec - a.tv_sec) * CR_SEC + (b.tv_nsec - a.tv_nsec) >=
		    20 * CR_MS);
	assert_int_equal(cr_mutex_trylock(&cv.m), -CR_EAGAIN);
	/* signalled: woken before the (long) time runs out */
	assert_int_equal(cr_thread_create(&t, cv_signaller, NULL), 0);
	rc = 0;
	while (!cv.flag && rc == 0)
		rc = cr_cond_timedwait(&cv.c, &cv.m, 30 * CR_SEC);
	assert_int_equal(rc, 0);
	assert_true(cv.flag);
	cr_mutex_unlock(&cv.m);
	assert_int_equal(cr_thread_join(&t), 0);
	cr_cond_destroy(&cv.c);
	cr_mutex_destroy(&cv.m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(service_off_worker_stops),
		cmocka_unit_test(results_flow_back),
		cmocka_unit_test(many_in_flight),
		cmocka_unit_test(cancel_before_start),
		cmocka_unit_test(dies_with_work),
		cmocka_unit_test(run_ends_with_work),
		cmocka_unit_test(cli_algorithm_threads),
		cmocka_unit_test(mutex_counts_exactly),
		cmocka_unit_test(mutex_trylock),
		cmocka_unit_test(rwlock_consistent),
		cmocka_unit_test(barrier_releases_all),
		cmocka_unit_test(cond_timed_wait),
	};

	/* libuv's pool is sized once per process, before its first use */
	setenv("UV_THREADPOOL_SIZE", "4", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
