/* The uploader of mesh.h: a peer's sends, queued by rank and deadline and
 * handed to its upload link a short lead at a time.
 *
 * Handing everything to cr_send at once would fix the order on the link
 * (first come, first sent) and let requests wait there past their
 * deadline, wasting upload on data that arrives too late to play.  Kept
 * here instead, the queue goes out earliest deadline first, and a job is
 * dropped, not sent, when the link could no longer deliver it in time.
 * The link's own backlog (cr_upload_queued) is kept near lead_ns of the
 * rate, so the link never idles while there is work.
 *
 * The queue is an unsorted array, searched for the next job; a push
 * needs a pass over it anyway, to know what goes before the new job.
 * That is linear in the queue, which serve_queue-sized queues (tens to a
 * few hundred jobs) can afford.
 */
#include "private.h"

#include <crystal/mesh.h>

#include <stdlib.h>
#include <string.h>

/* A peer without an upload limit still keeps its backlog bounded. */
#define UNLIMITED_LEAD_BYTES (64u << 10)

int cr_uploader_init(cr_uploader *u, const cr_uploader_config *cfg)
{
	memset(u, 0, sizeof(*u));
	if (!cfg || !cfg->send || !cfg->max_jobs || cfg->lead_ns <= 0 ||
	    cfg->queue_ns < 0)
		return -CR_EINVAL;
	u->cfg = *cfg;
	u->q = calloc(cfg->max_jobs, sizeof(*u->q));
	return u->q ? 0 : -CR_ENOMEM;
}

void cr_uploader_clear(cr_uploader *u, cr_peer *p)
{
	if (u->timer)
		cr_timer_cancel(p, u->timer);
	u->timer = 0;
	u->n = 0;
}

void cr_uploader_free(cr_uploader *u, cr_peer *p)
{
	cr_uploader_clear(u, p);
	free(u->q);
	u->q = NULL;
}

uint64_t cr_uploader_rate(const cr_uploader *u, const cr_peer *p)
{
	cr_link_limits l;
	uint64_t r;

	if (u->cfg.rate_Bps)
		return u->cfg.rate_Bps;
	cr_link_get(p, &l);
	r = l.upload_Bps;
	if (l.total_Bps && (!r || l.total_Bps < r))
		r = l.total_Bps;
	return r;
}

static int64_t at_rate(uint64_t bytes, uint64_t rate)
{
	return rate ? (int64_t)((unsigned __int128)bytes * CR_SEC / rate) : 0;
}

int64_t cr_uploader_wait_ns(const cr_uploader *u, const cr_peer *p)
{
	uint64_t bytes = cr_upload_queued(p);

	for (size_t i = 0; i < u->n; i++)
		bytes += u->q[i].bytes;
	return at_rate(bytes, cr_uploader_rate(u, p));
}

/* Does a go before (or with) b, at time now? */
static bool goes_before(const cr_uploader *u, int64_t now,
			const cr_upload_job *a, const cr_upload_job *b)
{
	bool ua, ub;

	if (a->rank != b->rank)
		return a->rank < b->rank;
	if (!u->cfg.urgent_ns)
		return a->deadline_ns <= b->deadline_ns;
	ua = a->deadline_ns - now <= u->cfg.urgent_ns;
	ub = b->deadline_ns - now <= u->cfg.urgent_ns;
	if (ua != ub)
		return ua;
	return ua ? a->deadline_ns <= b->deadline_ns
		  : a->deadline_ns >= b->deadline_ns;
}

/* Could j leave in time behind what goes before it, within queue_ns? */
static bool admit(const cr_uploader *u, const cr_peer *p,
		  const cr_upload_job *j, uint64_t rate)
{
	uint64_t ahead = cr_upload_queued(p) + j->bytes, all = ahead;
	int64_t now = cr_now(p);

	if (!rate)
		return true;
	for (size_t i = 0; i < u->n; i++) {
		all += u->q[i].bytes;
		if (goes_before(u, now, &u->q[i], j))
			ahead += u->q[i].bytes;
	}
	if (now + at_rate(ahead, rate) > j->deadline_ns)
		return false;
	return !u->cfg.queue_ns || at_rate(all, rate) <= u->cfg.queue_ns;
}

int cr_uploader_push(cr_uploader *u, cr_peer *p, const cr_upload_job *j)
{
	if (u->n == u->cfg.max_jobs) {
		u->refused++;
		return -CR_ENOSPC;
	}
	if (!admit(u, p, j, cr_uploader_rate(u, p))) {
		u->refused++;
		return -CR_EAGAIN;
	}
	u->q[u->n++] = *j;
	u->queued++;
	cr_uploader_pump(u, p);
	return 0;
}

size_t cr_uploader_forget(cr_uploader *u, const cr_addr *to)
{
	size_t k = 0;

	for (size_t i = 0; i < u->n;) {
		if (cr_addr_eq(&u->q[i].to, to)) {
			u->q[i] = u->q[--u->n];
			k++;
		} else {
			i++;
		}
	}
	return k;
}

static void pump_tick(cr_peer *p, void *arg)
{
	cr_uploader *u = arg;

	u->timer = 0;
	cr_uploader_pump(u, p);
}

/* Takes the job that goes first out of the queue. */
static cr_upload_job take_first(cr_uploader *u, int64_t now)
{
	size_t first = 0;
	cr_upload_job j;

	for (size_t i = 1; i < u->n; i++)
		if (goes_before(u, now, &u->q[i], &u->q[first]) &&
		    !goes_before(u, now, &u->q[first], &u->q[i]))
			first = i;
	j = u->q[first];
	u->q[first] = u->q[--u->n];
	return j;
}

/* Sends j, or drops it when it could not arrive in time. */
static void send_one(cr_uploader *u, cr_peer *p, const cr_upload_job *j,
		     uint64_t backlog, uint64_t rate)
{
	int err;

	if (cr_now(p) + at_rate(backlog + j->bytes, rate) > j->deadline_ns) {
		u->late++;
		if (u->cfg.drop)
			u->cfg.drop(p, j, CR_UPLOAD_LATE, u->cfg.arg);
		return;
	}
	err = u->cfg.send(p, j, u->cfg.arg);
	if (err) {
		u->failed++;
		if (u->cfg.drop)
			u->cfg.drop(p, j, CR_UPLOAD_FAILED, u->cfg.arg);
		return;
	}
	u->sent++;
	u->sent_bytes += j->bytes;
}

/* The queue ran dry: does the idle callback give more?  At most
 * max_jobs times per pump, so that a link with no limit ends the loop. */
static bool refill(cr_uploader *u, cr_peer *p, size_t *asked,
		   uint64_t backlog)
{
	if (!u->cfg.idle || (*asked)++ >= u->cfg.max_jobs ||
	    !u->cfg.idle(p, u->cfg.arg))
		return false;
	/* it queued a job, or sent on its own (the backlog grew) */
	return u->n || cr_upload_queued(p) > backlog;
}

void cr_uploader_pump(cr_uploader *u, cr_peer *p)
{
	uint64_t rate = cr_uploader_rate(u, p), backlog, lead;
	size_t asked = 0;
	bool more = false;

	if (u->pumping || !u->q)
		return;
	u->pumping = true;
	lead = rate ? (uint64_t)((unsigned __int128)rate *
				 (uint64_t)u->cfg.lead_ns / CR_SEC)
		    : UNLIMITED_LEAD_BYTES;
	while ((backlog = cr_upload_queued(p)) < lead || !backlog) {
		if (!u->n && !(more = refill(u, p, &asked, backlog)))
			break;
		if (u->n) {
			cr_upload_job j = take_first(u, cr_now(p));
			send_one(u, p, &j, backlog, rate);
		}
	}
	u->pumping = false;
	if ((u->n || more || (u->cfg.idle && asked == 0)) && !u->timer) {
		/* wake when about half the lead has gone out */
		int64_t wait = rate ? at_rate(lead / 2, rate) : CR_MS;
		u->timer = cr_timer_start(p, wait > CR_MS ? wait : CR_MS, 0,
					  pump_tick, u);
	}
}
