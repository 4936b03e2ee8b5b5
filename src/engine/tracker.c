/* The tracker: first-level bootstrapping of new peers (the paper's
 * §III.B.4), over real TCP.
 *
 * The tracker is itself a peer (in-process, or alone in `crystal tracker`)
 * whose engine answers four engine message types instead of running an
 * algorithm:
 *
 *	REGISTER  peer -> tracker  u16 session, u16 wanted
 *	PEERS     tracker -> peer  u16 session, u16 n, n x (u8 family,
 *				   u16 port, 16-byte address)
 *	REPORT    peer -> tracker  (empty): I am alive
 *	PROBE     tracker -> peer  (empty): are you alive?  answered by REPORT
 *	QUERY     peer -> tracker  u16 session, u16 wanted: answered by PEERS,
 *				   like REGISTER, but the asker is not added
 *
 * A peer registers at birth, for the session it will join, and bootstraps
 * with the random subset of that session's live peers the tracker returns
 * (or with none, if no answer comes within CR__TRACKER_WAIT).  Later its
 * algorithm may ask again (cr_tracker_query, defined here): the answer
 * goes to its tracker_peers callback, so that peers born early learn of
 * those born after them.  Liveness is
 * either passive (peers report every interval) or active (the tracker
 * probes every interval); a peer silent for longer than the timeout, or
 * whose connection to the tracker closes, leaves the tracker's lists, so it
 * is never handed out again.
 */
#include "../internal.h"
#include "../node.h"

#include <stdlib.h>
#include <string.h>

#define ADDR_WIRE 19 /* family, port, 16 bytes */

struct entry {
	cr_addr addr;
	uint16_t session;
	int64_t last_seen_ns;
};

struct cr__tracker {
	struct cr_peer *p;
	struct entry *v;
	size_t n, cap;
	uint64_t rng;
	uint64_t registrations, replies, expired;
};

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static int send_engine(struct cr_peer *p, const cr_addr *to, uint8_t type,
		       const void *payload, uint32_t len)
{
	struct cr__node *n = p->node;
	struct cr_msg *m;
	int e;

	m = cr__msg_new_local(&p->w->pool, type, 0, len, &p->addr,
			      cr__clock_now(&n->clock), n->exp_tag);
	if (!m)
		return -CR_ENOMEM;
	if (len)
		memcpy(m->frame + CR__HDR_SIZE, payload, len);
	e = cr_send(p, to, m, CR_TCP);
	cr_msg_release(m);
	return e;
}

/* --- the tracker's side ------------------------------------------------- */

static struct entry *find(struct cr__tracker *t, const cr_addr *a,
			  uint16_t session)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].session == session && cr_addr_eq(&t->v[i].addr, a))
			return &t->v[i];
	return NULL;
}

static void drop(struct cr__tracker *t, size_t i)
{
	t->v[i] = t->v[--t->n];
}

static void forget(struct cr__tracker *t, const cr_addr *a)
{
	for (size_t i = 0; i < t->n;)
		if (cr_addr_eq(&t->v[i].addr, a))
			drop(t, i);
		else
			i++;
}

/* Drops every peer silent for longer than the timeout. */
static void expire(struct cr__tracker *t, int64_t now)
{
	int64_t timeout = t->p->node->cfg.tracker.timeout_ns;

	for (size_t i = 0; i < t->n;) {
		if (now - t->v[i].last_seen_ns > timeout) {
			char a[CR_ADDR_STRLEN];
			cr__plog(t->p, CR_LOG_DEBUG, "tracker: %s timed out",
				 cr_addr_format(&t->v[i].addr, a, sizeof(a)));
			drop(t, i);
			t->expired++;
		} else {
			i++;
		}
	}
}

static void reply(struct cr__tracker *t, const cr_addr *to, uint16_t session,
		  uint16_t wanted)
{
	struct cr__node *n = t->p->node;
	size_t *pick, k = 0, want = wanted ? wanted : n->cfg.tracker.reply_peers;
	uint8_t *buf;

	if (want > n->cfg.tracker.reply_peers)
		want = n->cfg.tracker.reply_peers;
	pick = malloc((t->n ? t->n : 1) * sizeof(*pick));
	if (!pick)
		return;
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].session == session &&
		    !cr_addr_eq(&t->v[i].addr, to))
			pick[k++] = i;
	/* a random subset: the first `want` of a partial shuffle */
	if (want > k)
		want = k;
	for (size_t i = 0; i < want; i++) {
		size_t j = i + (size_t)(rng_next(&t->rng) % (k - i));
		size_t tmp = pick[i];
		pick[i] = pick[j];
		pick[j] = tmp;
	}
	buf = malloc(4 + want * ADDR_WIRE);
	if (buf) {
		put16(buf, session);
		put16(buf + 2, (uint16_t)want);
		for (size_t i = 0; i < want; i++) {
			const cr_addr *a = &t->v[pick[i]].addr;
			uint8_t *e = buf + 4 + i * ADDR_WIRE;
			e[0] = a->family;
			put16(e + 1, a->port);
			memcpy(e + 3, a->ip, 16);
		}
		send_engine(t->p, to, CR__T_TRACKER_PEERS, buf,
			    (uint32_t)(4 + want * ADDR_WIRE));
		t->replies++;
	}
	free(buf);
	free(pick);
}

static void on_register(struct cr__tracker *t, const cr_addr *from,
			const uint8_t *pl, uint32_t len)
{
	int64_t now = cr__clock_now(&t->p->node->clock);
	uint16_t session, wanted;
	struct entry *e;

	if (len < 4)
		return;
	session = get16(pl);
	wanted = get16(pl + 2);
	expire(t, now);
	/* answer first, so a peer never gets itself */
	reply(t, from, session, wanted);
	e = find(t, from, session);
	if (!e) {
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 64;
			struct entry *v = realloc(t->v, cap * sizeof(*v));
			if (!v)
				return;
			t->v = v;
			t->cap = cap;
		}
		e = &t->v[t->n++];
		e->addr = *from;
		e->session = session;
	}
	e->last_seen_ns = now;
	t->registrations++;
}

static void on_report(struct cr__tracker *t, const cr_addr *from)
{
	int64_t now = cr__clock_now(&t->p->node->clock);

	for (size_t i = 0; i < t->n; i++)
		if (cr_addr_eq(&t->v[i].addr, from))
			t->v[i].last_seen_ns = now;
}

/* An algorithm asks for more peers: answered as a registration is, but
 * the asker is not added to the session (a query is a sign of life,
 * though). */
static void on_query(struct cr__tracker *t, const cr_addr *from,
		     const uint8_t *pl, uint32_t len)
{
	if (len < 4)
		return;
	expire(t, cr__clock_now(&t->p->node->clock));
	reply(t, from, get16(pl), get16(pl + 2));
	on_report(t, from);
}

static void tracker_tick(void *ctx, void *arg)
{
	struct cr__tracker *t = ctx;
	struct cr_peer *p = t->p;

	CR__UNUSED(arg);
	expire(t, cr__clock_now(&p->node->clock));
	if (p->node->cfg.tracker.probe)
		for (size_t i = 0; i < t->n; i++)
			send_engine(p, &t->v[i].addr, CR__T_TRACKER_PROBE,
				    NULL, 0);
}

int cr__tracker_start(struct cr_peer *p)
{
	struct cr__tracker *t = calloc(1, sizeof(*t));
	int64_t every = p->node->cfg.tracker.interval_ns;

	if (!t)
		return -CR_ENOMEM;
	t->p = p;
	t->rng = p->node->seed * 0x9e3779b97f4a7c15ull + 0x7472616b;
	if (!t->rng)
		t->rng = 1;
	p->tracker = t;
	cr__worker_timer(p->w, cr__clock_now(&p->node->clock) + every, every,
			 tracker_tick, t, NULL, p);
	cr__plog(p, CR_LOG_INFO, "tracker up: %u peers a reply, %s liveness every %lld ms, "
		 "timeout %lld ms",
		 p->node->cfg.tracker.reply_peers,
		 p->node->cfg.tracker.probe ? "probed" : "reported",
		 (long long)(every / CR_MS),
		 (long long)(p->node->cfg.tracker.timeout_ns / CR_MS));
	return 0;
}

void cr__tracker_stop(struct cr_peer *p)
{
	struct cr__tracker *t = p->tracker;

	if (!t)
		return;
	cr__plog(p, CR_LOG_INFO, "tracker: %llu registrations, %llu replies, %llu timed out",
		 (unsigned long long)t->registrations,
		 (unsigned long long)t->replies,
		 (unsigned long long)t->expired);
	free(t->v);
	free(t);
	p->tracker = NULL;
}

void cr__tracker_departed(struct cr_peer *p, const cr_addr *who)
{
	if (p->tracker)
		forget(p->tracker, who);
}

/* --- the peers' side ------------------------------------------------------ */

static void boot_now(struct cr_peer *p)
{
	p->tracker_wait = false;
	if (p->tracker_wait_timer)
		cr__timer_cancel(&p->w->timers, p->tracker_wait_timer);
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
	send_engine(p, &p->node->cfg.tracker.addr, CR__T_TRACKER_REPORT, NULL,
		    0);
}

int cr__tracker_register(struct cr_peer *p, uint16_t session)
{
	const struct cr_node_tracker *tc = &p->node->cfg.tracker;
	uint8_t pl[4];
	int e;

	put16(pl, session);
	put16(pl + 2, (uint16_t)tc->reply_peers);
	e = send_engine(p, &tc->addr, CR__T_TRACKER_REGISTER, pl, sizeof(pl));
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
	*n = get16(pl + 2);
	if (len < 4 + *n * ADDR_WIRE)
		return NULL;
	v = malloc((*n ? *n : 1) * sizeof(*v));
	if (!v)
		return NULL;
	for (size_t i = 0; i < *n; i++) {
		const uint8_t *e = pl + 4 + i * ADDR_WIRE;
		memset(&v[i], 0, sizeof(v[i]));
		v[i].family = e[0];
		v[i].port = get16(e + 1);
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
		cr__timer_cancel(&p->w->timers, p->query_timer);
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
	if (!p->query_wait || !p->alive)
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
	if (!v || get16(pl) != p->query_session) {
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

	if (!p || !p->alive || p->tracker || !p->algo->tracker_peers)
		return -CR_EINVAL;
	tc = &p->node->cfg.tracker;
	if (!tc->enabled)
		return -CR_ENOENT;
	now = cr__clock_now(&p->node->clock);
	if (p->tracker_wait || p->query_wait || now < p->query_next_ns)
		return -CR_EAGAIN;
	put16(pl, session);
	put16(pl + 2, (uint16_t)(max > UINT16_MAX ? UINT16_MAX : max));
	e = send_engine(p, &tc->addr, CR__T_TRACKER_QUERY, pl, sizeof(pl));
	if (e)
		return e;
	p->query_wait = true;
	p->query_session = session;
	p->query_next_ns = now + CR_TRACKER_QUERY_INTERVAL_NS;
	p->query_timer = cr__worker_timer(p->w, now + CR__TRACKER_WAIT, 0,
					  query_expired, p, NULL, p);
	return 0;
}

void cr__tracker_handle(struct cr_peer *p, const cr_addr *from,
			struct cr_msg *m)
{
	const uint8_t *pl = m->frame + CR__HDR_SIZE;

	switch (m->type) {
	case CR__T_TRACKER_REGISTER:
		if (p->tracker)
			on_register(p->tracker, from, pl, m->len);
		break;
	case CR__T_TRACKER_REPORT:
		if (p->tracker)
			on_report(p->tracker, from);
		break;
	case CR__T_TRACKER_PEERS:
		/* only the answer this peer waits for, from its tracker: any
		 * other must not touch the bootstrap list, which the
		 * algorithm may hold (cr_bootstrap_peers) */
		if (p->tracker || !cr_addr_eq(from, &p->node->cfg.tracker.addr))
			break;
		if (p->tracker_wait)
			on_peers(p, pl, m->len);
		else if (p->query_wait)
			on_answer(p, pl, m->len);
		break;
	case CR__T_TRACKER_QUERY:
		if (p->tracker)
			on_query(p->tracker, from, pl, m->len);
		break;
	case CR__T_TRACKER_PROBE:
		if (!p->tracker)
			send_engine(p, from, CR__T_TRACKER_REPORT, NULL, 0);
		break;
	}
}
