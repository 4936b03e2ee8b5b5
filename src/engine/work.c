/* Work on the thread pool for algorithms (cr_work_submit, thread.h): the
 * work function on a pool thread, its done callback back on the peer's
 * worker, and what a peer's end does with works still out.
 *
 * The pool is libuv's (uv_queue_work on the worker's loop).  libuv does
 * the hand-over both ways, cancels what has not started (uv_cancel), and
 * keeps the loop running until every request has been called back: so a
 * worker's teardown, which runs its loop until nothing is left, never
 * frees a peer under a running work.  The record of a work lives until
 * libuv calls back for it; the algorithm's done is called either there or
 * by the peer's end, exactly once (`delivered`).
 *
 * A peer's end cancels its works not started and calls their done at
 * once.  A work already running cannot be stopped; the end leaves the rest
 * of itself (the algorithm's destroy, a dead peer's state zeroed) to the
 * last of them, which calls it once its done has run (-CR_ECANCELED).  The
 * worker goes on meanwhile, and the peer is not born again until then.
 */
#include "engine.h"
#include "../core/thread.h"

#include <stdlib.h>
#include <time.h>

struct cr__work {
	uv_work_t req;
	struct cr__work *prev, *next; /* the peer's, in submit order */
	struct cr_peer *p;
	cr_work_id id;
	cr_work_fn fn;
	cr_work_done_fn done;
	void *arg;
	bool cancelled; /* uv_cancel took it: it never runs */
	bool delivered; /* done was called */
	int64_t cpu_ns; /* written on the pool thread, read after it */
};

void cr__work_guard(const char *what)
{
	if (!cr__off_worker)
		return;
	fprintf(stderr,
		"crystal: %s called from a work function or an algorithm's "
		"thread: engine services belong to the peer's worker "
		"(include/crystal/thread.h)\n",
		what);
	abort();
}

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (int64_t)ts.tv_sec * CR_SEC + ts.tv_nsec;
}

/* On a pool thread. */
static void work_cb(uv_work_t *req)
{
	struct cr__work *wk = cr__container_of(req, struct cr__work, req);
	int64_t t0 = thread_cpu_ns();

	cr__off_worker = true;
	wk->fn(wk->arg);
	cr__off_worker = false;
	wk->cpu_ns = thread_cpu_ns() - t0;
}

static void unlink_work(struct cr__peer_work *pw, struct cr__work *wk)
{
	if (wk->prev)
		wk->prev->next = wk->next;
	else
		pw->head = wk->next;
	if (wk->next)
		wk->next->prev = wk->prev;
	pw->n--;
}

static void deliver(struct cr_peer *p, struct cr__work *wk, int status)
{
	wk->delivered = true;
	p->work.undelivered--;
	if (status)
		p->work.cancelled++;
	else
		p->work.completed++;
	if (wk->done)
		wk->done(p, wk->arg, status);
}

/* On the worker: the work returned, or was cancelled before it began. */
static void after_cb(uv_work_t *req, int status)
{
	struct cr__work *wk = cr__container_of(req, struct cr__work, req);
	struct cr_peer *p = wk->p;
	struct cr__peer_work *pw = &p->work;
	bool ended = pw->closed;

	unlink_work(pw, wk);
	pw->cpu_ns += wk->cpu_ns;
	if (!wk->delivered)
		deliver(p, wk,
			status == UV_ECANCELED || ended ? -CR_ECANCELED : 0);
	free(wk);
	if (ended && !pw->undelivered && (pw->destroy_due || pw->wipe_due))
		cr__peer_end_finish(p);
}

int cr_work_submit(cr_peer *p, cr_work_fn work, cr_work_done_fn done,
		   void *arg, cr_work_id *id)
{
	struct cr__peer_work *pw;
	struct cr__work *wk;
	int e;

	cr__work_guard("cr_work_submit");
	if (!p || !work || !p->ep.alive || p->work.closed)
		return -CR_EINVAL;
	pw = &p->work;
	if (pw->n >= CR_WORK_PEER_MAX)
		return -CR_EAGAIN;
	wk = calloc(1, sizeof(*wk));
	if (!wk)
		return -CR_ENOMEM;
	wk->p = p;
	wk->id = ++pw->next_id;
	wk->fn = work;
	wk->done = done;
	wk->arg = arg;
	e = uv_queue_work(&p->w->net.loop, &wk->req, work_cb, after_cb);
	if (e) {
		cr__plog(p, CR_LOG_ERROR, "work: uv_queue_work: %s",
			 uv_strerror(e));
		free(wk);
		return -CR_EIO;
	}
	/* at the head: the newest are the likeliest to be cancelled */
	wk->next = pw->head;
	if (pw->head)
		pw->head->prev = wk;
	pw->head = wk;
	pw->n++;
	pw->undelivered++;
	pw->submitted++;
	if (id)
		*id = wk->id;
	return 0;
}

int cr_work_cancel(cr_peer *p, cr_work_id id)
{
	struct cr__work *wk;

	cr__work_guard("cr_work_cancel");
	if (!p)
		return -CR_EINVAL;
	for (wk = p->work.head; wk; wk = wk->next)
		if (wk->id == id)
			break;
	if (!wk || wk->cancelled || wk->delivered)
		return -CR_ENOENT;
	if (uv_cancel((uv_req_t *)&wk->req))
		return -CR_ESTATE; /* running, or returned and not yet back */
	wk->cancelled = true;
	return 0;
}

int64_t cr_work_cpu_ns(const cr_peer *p)
{
	return p ? p->work.cpu_ns : 0;
}

void cr__work_worker_summary(struct cr__worker *w)
{
	uint64_t submitted = 0, completed = 0, cancelled = 0;
	int64_t cpu_ns = 0;

	for (size_t i = 0; i < w->npeers; i++) {
		const struct cr__peer_work *pw = &w->peers[i]->work;
		submitted += pw->submitted;
		completed += pw->completed;
		cancelled += pw->cancelled;
		cpu_ns += pw->cpu_ns;
	}
	if (!submitted)
		return;
	cr__logf(&w->log, CR_LOG_INFO, NULL,
		 "work: %llu submitted, %llu done, %llu cancelled, %.3f s of "
		 "CPU on the pool",
		 (unsigned long long)submitted, (unsigned long long)completed,
		 (unsigned long long)cancelled, (double)cpu_ns / 1e9);
}

bool cr__work_peer_end(struct cr_peer *p)
{
	struct cr__peer_work *pw = &p->work;
	bool alive = p->ep.alive;

	pw->closed = true;
	/* the done callbacks see the peer as it will be: not alive */
	p->ep.alive = false;
	for (struct cr__work *wk = pw->head; wk; wk = wk->next) {
		if (wk->delivered)
			continue;
		if (!wk->cancelled && uv_cancel((uv_req_t *)&wk->req))
			continue; /* running: its own callback delivers it */
		wk->cancelled = true;
		deliver(p, wk, -CR_ECANCELED);
	}
	p->ep.alive = alive;
	return pw->undelivered == 0;
}
