/* The tracker, the peers' side: registering at birth and bootstrapping
 * from the answer (or alone, when none comes within CR__TRACKER_WAIT),
 * reporting liveness, and the algorithm's later queries
 * (cr_tracker_query).  The tracker's own side, and the messages, are
 * tracker.c.
 */
#include "../core/bytes.h"
#include "engine.h"

#include <stdlib.h>
#include <string.h>

static void boot_now(struct cr_peer *p)
{
	p->tracker_wait = false;
	if (p->tracker_wait_timer)
		cr__timer_cancel(&p->w->net.timers, p->tracker_wait_timer);
	p->tracker_wait_timer = 0;
	cr__peer_bootstrap(p);
}

static void wait_expired(void *ctx, void *arg)
{
	struct cr_peer *p = ctx;

	CR__UNUSED(arg);
	p->tracker_wait_timer = 0;
	if (!p->tracker_wait)
		return;
	cr__plog(p, CR_LOG_WARN, "no answer from the tracker in %lld ms: bootstrapping with "
		 "no peers",
		 (long long)(CR__TRACKER_WAIT / CR_MS));
	boot_now(p);
}

static void report_tick(void *ctx, void *arg)
{
	struct cr_peer *p = ctx;

	CR__UNUSED(arg);
	cr__tracker_send(p, &p->node->cfg.tracker.addr, CR__T_TRACKER_REPORT, NULL,
		    0);
}

int cr__tracker_register(struct cr_peer *p, uint16_t session)
{
	const struct cr_node_tracker *tc = &p->node->cfg.tracker;
	uint8_t pl[4];
	int e;

	cr__put16(pl, session);
	cr__put16(pl + 2, (uint16_t)tc->reply_peers);
	e = cr__tracker_send(p, &tc->addr, CR__T_TRACKER_REGISTER, pl, sizeof(pl));
	if (e)
		return e;
	p->tracker_wait = true;
	p->tracker_wait_timer = cr__worker_timer(
		p->w, cr__clock_now(&p->node->clock) + CR__TRACKER_WAIT, 0,
		wait_expired, p, NULL, p);
	if (!tc->probe)
		cr__worker_timer(p->w,
				 cr__clock_now(&p->node->clock) +
					 tc->interval_ns,
				 tc->interval_ns, report_tick, p, NULL, p);
	return 0;
}

/* The addresses of a PEERS payload, in a new array; NULL when it is
 * malformed (shorter than its count says) or out of memory. */
static cr_addr *peers_of(const uint8_t *pl, uint32_t len, size_t *n)
{
	cr_addr *v;

	if (len < 4)
		return NULL;
	*n = cr__get16(pl + 2);
	if (len < 4 + *n * CR__TRACKER_ADDR_WIRE)
		return NULL;
	v = malloc((*n ? *n : 1) * sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < *n; i++) {
		const uint8_t *e = pl + 4 + i * CR__TRACKER_ADDR_WIRE;
		memset(&v[i], 0, sizeof(v[i]));
		v[i].family = e[0];
		v[i].port = cr__get16(e + 1);
		memcpy(v[i].ip, e + 3, 16);
	}
	return v;
}

static void on_peers(struct cr_peer *p, const uint8_t *pl, uint32_t len)
{
	size_t n;
	cr_addr *boot = peers_of(pl, len, &n);

	if (!boot)
		return;
	free(p->boot);
	p->boot = boot;
	p->nboot = n;
	p->boot_from_tracker = true;
	cr__plog(p, CR_LOG_DEBUG, "tracker answered with %zu peers", n);
	if (p->tracker_wait)
		boot_now(p);
}

/* --- the algorithm's queries ----------------------------------------------- */

/* The query ends: its answer (or none) goes to the algorithm. */
static void query_done(struct cr_peer *p, const cr_addr *peers, size_t n)
{
	p->query_wait = false;
	if (p->query_timer)
		cr__timer_cancel(&p->w->net.timers, p->query_timer);
	p->query_timer = 0;
	cr__plog(p, CR_LOG_DEBUG, "tracker query for session %u: %zu peers",
		 p->query_session, n);
	if (p->algo->tracker_peers)
		p->algo->tracker_peers(p, p->query_session, n ? peers : NULL,
				       n);
}

static void query_expired(void *ctx, void *arg)
{
	struct cr_peer *p = ctx;

	CR__UNUSED(arg);
	p->query_timer = 0;
	if (!p->query_wait || !p->ep.alive)
		return;
	cr__plog(p, CR_LOG_WARN, "no answer from the tracker in %lld ms to a query: none taken",
		 (long long)(CR__TRACKER_WAIT / CR_MS));
	query_done(p, NULL, 0);
}

static void on_answer(struct cr_peer *p, const uint8_t *pl, uint32_t len)
{
	size_t n;
	cr_addr *v = peers_of(pl, len, &n);

	/* a malformed answer is no answer: the wait runs out */
	if (!v || cr__get16(pl) != p->query_session) {
		free(v);
		return;
	}
	query_done(p, v, n);
	free(v);
}

int cr_tracker_query(cr_peer *p, uint16_t session, size_t max)
{
	const struct cr_node_tracker *tc;
	int64_t now;
	uint8_t pl[4];
	int e;

	if (!p || !p->ep.alive || p->tracker || !p->algo->tracker_peers)
		return -CR_EINVAL;
	tc = &p->node->cfg.tracker;
	if (!tc->enabled)
		return -CR_ENOENT;
	now = cr__clock_now(&p->node->clock);
	if (p->tracker_wait || p->query_wait || now < p->query_next_ns)
		return -CR_EAGAIN;
	cr__put16(pl, session);
	cr__put16(pl + 2, (uint16_t)(max > UINT16_MAX ? UINT16_MAX : max));
	e = cr__tracker_send(p, &tc->addr, CR__T_TRACKER_QUERY, pl, sizeof(pl));
	if (e)
		return e;
	p->query_wait = true;
	p->query_session = session;
	p->query_next_ns = now + CR_TRACKER_QUERY_INTERVAL_NS;
	p->query_timer = cr__worker_timer(p->w, now + CR__TRACKER_WAIT, 0,
					  query_expired, p, NULL, p);
	return 0;
}

/* A PEERS from the peer's tracker: the answer to its REGISTER, or to the
 * algorithm's query. */
void cr__tracker_answered(struct cr_peer *p, const uint8_t *pl, uint32_t len)
{
	if (p->tracker_wait)
		on_peers(p, pl, len);
	else if (p->query_wait)
		on_answer(p, pl, len);
}
