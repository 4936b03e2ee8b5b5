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
 * algorithm may ask again (cr_tracker_query, in tracker-peer.c): the answer
 * goes to its tracker_peers callback, so that peers born early learn of
 * those born after them.  Liveness is
 * either passive (peers report every interval) or active (the tracker
 * probes every interval); a peer silent for longer than the timeout, or
 * whose connection to the tracker closes, leaves the tracker's lists, so it
 * is never handed out again.
 *
 * What the tracker keeps, and what a message costs.  An entry is one peer
 * (an address) registered in one session; each entry is in four places:
 *
 *  - a hash table by (address, session): a REGISTER finds its entry, or
 *    learns it has none, in O(1);
 *  - its session's array of live entries (sessions[], indexed by the
 *    session number), in no order, each entry knowing its slot: an answer
 *    draws its random subset by a partial Fisher-Yates shuffle of the
 *    array in place, O(peers returned), and a removal moves the last
 *    entry into the hole, O(1);
 *  - the list of its address's entries, under a record per address (a
 *    second hash table): REPORT, departure and the per-peer limit touch
 *    only that peer's entries, O(its sessions);
 *  - the liveness list, oldest first: a refresh moves the entry to the
 *    young end, O(1), and expiry takes from the old end just the entries
 *    that timed out, O(1) each.  The list stays sorted because the clock
 *    never goes back (CLOCK_MONOTONIC).
 *
 * So a REGISTER or a QUERY costs O(1 + peers returned + entries expired)
 * and a REPORT O(the sender's sessions), however many entries there are.
 * The hash tables double as they fill (O(1) amortised) and never shrink.
 * With active liveness the tracker sends one PROBE per peer address every
 * interval, walking the address table: O(addresses) per interval.
 *
 * Limits (docs/experiment-format.md#tracker): a peer address may be
 * registered in at most max_sessions_per_peer sessions, and a session may
 * hold at most max_peers_per_session peers.  A REGISTER that would add an
 * entry past either is refused: neither recorded nor answered, so its
 * sender bootstraps alone after CR__TRACKER_WAIT, as without a tracker;
 * its connection stays open and the run goes on.  The first refusal of an
 * address, and of a session, is a warning; later ones are counted, and the
 * count is logged when the address departs or the tracker stops.  The
 * tracker knows a connection by the address its hello names: connections
 * that name the same address share its entries and its limit.  Hash
 * chains are keyed by cr_addr_hash, which has no secret: a client that
 * chose many addresses could lengthen one chain, but each address needs a
 * connection of its own.
 */
#include "../core/bytes.h"
#include "engine.h"

#include <stdlib.h>
#include <string.h>

#define NSESSIONS 65536
#define HASH_MIN  64 /* buckets, at first */

struct addr_rec;

/* A link of a hash table's chain, with its hash. */
struct hnode {
	struct hnode *next;
	size_t hash;
};

/* A chained hash table of hnodes embedded in the items: buckets double
 * once there are as many items, and never shrink. */
struct htab {
	struct hnode **b;
	size_t mask, n;
};

/* One peer registered in one session. */
struct entry {
	struct hnode hn; /* in by_key: (address, session) */
	struct addr_rec *who;
	uint16_t session;
	uint32_t slot; /* in its session's array */
	int64_t last_seen_ns;
	struct entry *sib_prev, *sib_next; /* its address's entries */
	struct entry *older, *newer;	   /* the liveness list */
};

/* One peer address, as the hello of its connection named it. */
struct addr_rec {
	struct hnode hn; /* in by_addr */
	cr_addr addr;
	struct entry *entries; /* through sib_next */
	uint32_t nentries;
	uint64_t refused; /* REGISTERs refused past max_sessions_per_peer */
};

/* The live entries of one session. */
struct session {
	struct entry **v;
	uint32_t n, cap;
	uint64_t refused; /* REGISTERs refused past max_peers_per_session */
};

struct cr__tracker {
	struct cr_peer *p;
	struct cr__tracker_stats *st; /* the peer's */
	uint32_t max_sessions_per_peer, max_peers_per_session;
	struct htab by_key, by_addr;
	struct entry *oldest, *newest;
	cr_rand rng;
	struct session *sessions[NSESSIONS];
};

int cr__tracker_send(struct cr_peer *p, const cr_addr *to, uint8_t type,
		     const void *payload, uint32_t len)
{
	struct cr__node *n = p->node;
	struct cr_msg *m;
	int e;

	m = cr__msg_new_local(&p->w->net.pool, type, 0, len, &p->addr,
			      cr__clock_now(&n->clock), n->exp_tag);
	if (!m)
		return -CR_ENOMEM;
	if (len)
		memcpy(m->frame + CR__HDR_SIZE, payload, len);
	e = cr_send(p, to, m, CR_TCP);
	cr_msg_release(m);
	return e;
}

/* --- the tracker's tables ------------------------------------------------ */

static int htab_init(struct htab *h)
{
	h->b = calloc(HASH_MIN, sizeof(*h->b));
	h->mask = HASH_MIN - 1;
	h->n = 0;
	return h->b ? 0 : -CR_ENOMEM;
}

static struct hnode *htab_chain(const struct htab *h, size_t hash)
{
	return h->b[hash & h->mask];
}

/* Adds x; the buckets double when there are as many items (left as they
 * are when there is no memory for more). */
static void htab_add(struct htab *h, struct hnode *x, size_t hash)
{
	size_t cap = (h->mask + 1) * 2;
	struct hnode **b;

	x->hash = hash;
	x->next = h->b[hash & h->mask];
	h->b[hash & h->mask] = x;
	if (++h->n <= h->mask + 1 || !(b = calloc(cap, sizeof(*b))))
		return;
	for (size_t i = 0; i <= h->mask; i++)
		for (struct hnode *y = h->b[i], *next; y; y = next) {
			next = y->next;
			y->next = b[y->hash & (cap - 1)];
			b[y->hash & (cap - 1)] = y;
		}
	free(h->b);
	h->b = b;
	h->mask = cap - 1;
}

static void htab_del(struct htab *h, struct hnode *x)
{
	struct hnode **pp = &h->b[x->hash & h->mask];

	while (*pp != x)
		pp = &(*pp)->next;
	*pp = x->next;
	h->n--;
}

static size_t key_hash(const cr_addr *a, uint16_t session)
{
	uint64_t h = cr_addr_hash(a) + (session + 1ull) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h ^ h >> 29);
}

static struct entry *find_entry(const struct cr__tracker *t, const cr_addr *a,
				uint16_t session)
{
	size_t hash = key_hash(a, session);

	for (struct hnode *x = htab_chain(&t->by_key, hash); x; x = x->next) {
		struct entry *e = cr__container_of(x, struct entry, hn);
		if (x->hash == hash && e->session == session &&
		    cr_addr_eq(&e->who->addr, a))
			return e;
	}
	return NULL;
}

static struct addr_rec *find_addr(const struct cr__tracker *t, const cr_addr *a)
{
	size_t hash = (size_t)cr_addr_hash(a);

	for (struct hnode *x = htab_chain(&t->by_addr, hash); x; x = x->next) {
		struct addr_rec *r = cr__container_of(x, struct addr_rec, hn);
		if (x->hash == hash && cr_addr_eq(&r->addr, a))
			return r;
	}
	return NULL;
}

static struct addr_rec *addr_get(struct cr__tracker *t, const cr_addr *a)
{
	struct addr_rec *r = find_addr(t, a);

	if (r)
		return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->addr = *a;
	htab_add(&t->by_addr, &r->hn, (size_t)cr_addr_hash(a));
	return r;
}

/* Frees an address's record once it has no entries and nothing to say. */
static void addr_put(struct cr__tracker *t, struct addr_rec *r)
{
	if (r->nentries || r->refused)
		return;
	htab_del(&t->by_addr, &r->hn);
	free(r);
}

static void session_put(struct cr__tracker *t, uint16_t id)
{
	struct session *s = t->sessions[id];

	if (!s || s->n || s->refused)
		return;
	free(s->v);
	free(s);
	t->sessions[id] = NULL;
}

static void swap_slots(struct session *s, size_t i, size_t j)
{
	struct entry *e = s->v[i];

	s->v[i] = s->v[j];
	s->v[j] = e;
	s->v[i]->slot = (uint32_t)i;
	s->v[j]->slot = (uint32_t)j;
}

static void live_unlink(struct cr__tracker *t, struct entry *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		t->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		t->newest = e->older;
}

static void live_append(struct cr__tracker *t, struct entry *e)
{
	e->newer = NULL;
	e->older = t->newest;
	if (t->newest)
		t->newest->newer = e;
	else
		t->oldest = e;
	t->newest = e;
}

/* Heard from: the entry becomes the youngest. */
static void touch(struct cr__tracker *t, struct entry *e, int64_t now)
{
	e->last_seen_ns = now;
	live_unlink(t, e);
	live_append(t, e);
}

/* Records a new entry; NULL when out of memory (nothing recorded). */
static struct entry *add_entry(struct cr__tracker *t, const cr_addr *a,
			       uint16_t id, int64_t now)
{
	struct session *s = t->sessions[id];
	struct addr_rec *r;
	struct entry *e;

	if (!s) {
		s = t->sessions[id] = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
	}
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 8;
		struct entry **v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			goto out_session;
		s->v = v;
		s->cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		goto out_session;
	r = addr_get(t, a);
	if (!r)
		goto out_entry;
	e->who = r;
	e->session = id;
	e->slot = s->n;
	s->v[s->n++] = e;
	e->sib_next = r->entries;
	if (r->entries)
		r->entries->sib_prev = e;
	r->entries = e;
	r->nentries++;
	htab_add(&t->by_key, &e->hn, key_hash(a, id));
	if (t->by_key.n > t->st->entries_max)
		t->st->entries_max = t->by_key.n;
	e->last_seen_ns = now;
	live_append(t, e);
	return e;

out_entry:
	free(e);
out_session:
	session_put(t, id);
	return NULL;
}

/* Removes an entry from every table; its address's record goes too once
 * it has nothing left, unless keep_addr. */
static void drop_entry(struct cr__tracker *t, struct entry *e, bool keep_addr)
{
	struct session *s = t->sessions[e->session];
	struct addr_rec *r = e->who;

	htab_del(&t->by_key, &e->hn);
	swap_slots(s, e->slot, s->n - 1);
	s->n--;
	if (e->sib_prev)
		e->sib_prev->sib_next = e->sib_next;
	else
		r->entries = e->sib_next;
	if (e->sib_next)
		e->sib_next->sib_prev = e->sib_prev;
	r->nentries--;
	live_unlink(t, e);
	session_put(t, e->session);
	free(e);
	if (!keep_addr)
		addr_put(t, r);
}

/* --- the tracker's side ------------------------------------------------- */

/* Drops every entry silent for longer than the timeout: the oldest ones. */
static void expire(struct cr__tracker *t, int64_t now)
{
	int64_t timeout = t->p->node->cfg.tracker.timeout_ns;

	while (t->oldest && now - t->oldest->last_seen_ns > timeout) {
		struct entry *e = t->oldest;
		char a[CR_ADDR_STRLEN];

		cr__plog(
		    t->p, CR_LOG_DEBUG, "tracker: %s timed out in session %u",
		    cr_addr_format(&e->who->addr, a, sizeof(a)), e->session);
		drop_entry(t, e, false);
		t->st->timed_out++;
	}
}

/* Answers with at most `wanted` live peers of the session, drawn at
 * random, never the asker. */
static void reply(struct cr__tracker *t, const cr_addr *to, uint16_t session,
		  uint16_t wanted)
{
	struct cr__node *n = t->p->node;
	struct session *s = t->sessions[session];
	struct entry *self = find_entry(t, to, session);
	size_t k = s ? s->n : 0,
	       want = wanted ? wanted : n->cfg.tracker.reply_peers;
	uint8_t *buf;

	if (want > n->cfg.tracker.reply_peers)
		want = n->cfg.tracker.reply_peers;
	/* the asker, a member already, goes last, out of the draw */
	if (self)
		swap_slots(s, self->slot, --k);
	if (want > k)
		want = k;
	/* a random subset: the first `want` of a partial shuffle; the
	 * array's order means nothing, so it is shuffled in place */
	for (size_t i = 0; i < want; i++)
		swap_slots(s, i, i + (size_t)(cr_rand_next(&t->rng) % (k - i)));
	buf = malloc(4 + want * CR__TRACKER_ADDR_WIRE);
	if (!buf)
		return;
	cr__put16(buf, session);
	cr__put16(buf + 2, (uint16_t)want);
	for (size_t i = 0; i < want; i++) {
		const cr_addr *a = &s->v[i]->who->addr;
		uint8_t *e = buf + 4 + i * CR__TRACKER_ADDR_WIRE;
		e[0] = a->family;
		cr__put16(e + 1, a->port);
		memcpy(e + 3, a->ip, 16);
	}
	cr__tracker_send(t->p, to, CR__T_TRACKER_PEERS, buf,
		    (uint32_t)(4 + want * CR__TRACKER_ADDR_WIRE));
	t->st->replies++;
	free(buf);
}

/* Is a REGISTER that would add (from, session) past a limit?  Then it is
 * counted, and the first of its kind logged. */
static bool refused(struct cr__tracker *t, const cr_addr *from,
		    uint16_t session)
{
	struct addr_rec *r = find_addr(t, from);
	struct session *s = t->sessions[session];
	char a[CR_ADDR_STRLEN];

	if (r && r->nentries >= t->max_sessions_per_peer) {
		if (!r->refused++)
			cr__plog(t->p, CR_LOG_WARN,
				 "tracker: %s is registered in %u sessions "
				 "(max_sessions_per_peer): its REGISTER for "
				 "session %u is refused, as will be any for more "
				 "sessions (counted, not logged one by one)",
				 cr_addr_format(from, a, sizeof(a)),
				 r->nentries, session);
		t->st->refused_sessions_per_peer++;
		return true;
	}
	if (s && s->n >= t->max_peers_per_session) {
		if (!s->refused++)
			cr__plog(t->p, CR_LOG_WARN,
				 "tracker: session %u holds %u peers "
				 "(max_peers_per_session): the REGISTER of %s is "
				 "refused, as will be any of more peers (counted, "
				 "not logged one by one)",
				 session, s->n,
				 cr_addr_format(from, a, sizeof(a)));
		t->st->refused_peers_per_session++;
		return true;
	}
	return false;
}

static void on_register(struct cr__tracker *t, const cr_addr *from,
			const uint8_t *pl, uint32_t len)
{
	int64_t now = cr__clock_now(&t->p->node->clock);
	uint16_t session, wanted;
	struct entry *e;

	if (len < 4)
		return;
	session = cr__get16(pl);
	wanted = cr__get16(pl + 2);
	expire(t, now);
	e = find_entry(t, from, session);
	if (!e && refused(t, from, session))
		return;
	reply(t, from, session, wanted);
	if (e)
		touch(t, e, now);
	else if (!add_entry(t, from, session, now))
		return;
	t->st->registrations++;
}

/* Heard from: alive in every session it registered for. */
static void on_report(struct cr__tracker *t, const cr_addr *from)
{
	int64_t now = cr__clock_now(&t->p->node->clock);
	struct addr_rec *r = find_addr(t, from);

	for (struct entry *e = r ? r->entries : NULL; e; e = e->sib_next)
		touch(t, e, now);
}

/* An algorithm asks for more peers: answered as a registration is, but
 * the asker is not added to the session (a query is a sign of life,
 * though). */
static void on_query(struct cr__tracker *t, const cr_addr *from,
		     const uint8_t *pl, uint32_t len)
{
	if (len < 4)
		return;
	t->st->queries++;
	expire(t, cr__clock_now(&t->p->node->clock));
	reply(t, from, cr__get16(pl), cr__get16(pl + 2));
	on_report(t, from);
}

static void tracker_tick(void *ctx, void *arg)
{
	struct cr__tracker *t = ctx;
	struct cr_peer *p = t->p;

	CR__UNUSED(arg);
	expire(t, cr__clock_now(&p->node->clock));
	if (!p->node->cfg.tracker.probe)
		return;
	for (size_t i = 0; i <= t->by_addr.mask; i++)
		for (struct hnode *x = t->by_addr.b[i]; x; x = x->next) {
			struct addr_rec *r =
			    cr__container_of(x, struct addr_rec, hn);
			if (r->nentries)
				cr__tracker_send(p, &r->addr, CR__T_TRACKER_PROBE,
					    NULL, 0);
		}
}

int cr__tracker_start(struct cr_peer *p)
{
	const struct cr_node_tracker *tc = &p->node->cfg.tracker;
	struct cr__tracker *t = calloc(1, sizeof(*t));
	int64_t every = tc->interval_ns;

	if (!t)
		return -CR_ENOMEM;
	if (htab_init(&t->by_key) || htab_init(&t->by_addr)) {
		free(t->by_key.b);
		free(t->by_addr.b);
		free(t);
		return -CR_ENOMEM;
	}
	t->p = p;
	t->st = &p->st.tracker;
	t->max_sessions_per_peer = tc->max_sessions_per_peer
				       ? tc->max_sessions_per_peer
				       : CR__TRACKER_SESSIONS_PER_PEER;
	t->max_peers_per_session = tc->max_peers_per_session
				       ? tc->max_peers_per_session
				       : CR__TRACKER_PEERS_PER_SESSION;
	t->rng.s = p->node->seed * 0x9e3779b97f4a7c15ull + 0x7472616b;
	if (!t->rng.s)
		t->rng.s = 1;
	p->tracker = t;
	cr__worker_timer(p->w, cr__clock_now(&p->node->clock) + every, every,
			 tracker_tick, t, NULL, p);
	cr__plog(p, CR_LOG_INFO,
		 "tracker up: %u peers a reply, %s liveness every %lld ms, "
		 "timeout %lld ms, at most %u sessions a peer and %u peers a "
		 "session",
		 tc->reply_peers, tc->probe ? "probed" : "reported",
		 (long long)(every / CR_MS),
		 (long long)(tc->timeout_ns / CR_MS), t->max_sessions_per_peer,
		 t->max_peers_per_session);
	return 0;
}

/* The count of an address's refused REGISTERs, once it has any. */
static void say_refused(struct cr__tracker *t, const struct addr_rec *r,
			const char *when)
{
	char a[CR_ADDR_STRLEN];

	if (r->refused)
		cr__plog(t->p, CR_LOG_WARN,
			 "tracker: %s%s: %llu REGISTERs refused in all "
			 "(max_sessions_per_peer %u)",
			 cr_addr_format(&r->addr, a, sizeof(a)), when,
			 (unsigned long long)r->refused,
			 t->max_sessions_per_peer);
}

void cr__tracker_stop(struct cr_peer *p)
{
	struct cr__tracker *t = p->tracker;
	const struct cr__tracker_stats *st;

	if (!t)
		return;
	st = t->st;
	for (size_t i = 0; i <= t->by_addr.mask; i++)
		for (struct hnode *x = t->by_addr.b[i], *next; x; x = next) {
			struct addr_rec *r =
			    cr__container_of(x, struct addr_rec, hn);
			next = x->next;
			say_refused(t, r, "");
			free(r);
		}
	for (size_t i = 0; i <= t->by_key.mask; i++)
		for (struct hnode *x = t->by_key.b[i], *next; x; x = next) {
			next = x->next;
			free(cr__container_of(x, struct entry, hn));
		}
	for (size_t i = 0; i < NSESSIONS; i++) {
		struct session *s = t->sessions[i];
		if (!s)
			continue;
		if (s->refused)
			cr__plog(p, CR_LOG_WARN,
				 "tracker: session %zu: %llu REGISTERs refused "
				 "in all (max_peers_per_session %u)",
				 i, (unsigned long long)s->refused,
				 t->max_peers_per_session);
		free(s->v);
		free(s);
	}
	cr__plog(p, CR_LOG_INFO,
		 "tracker: %llu registrations, %llu replies, %llu timed out, "
		 "%llu refused (%llu past max_sessions_per_peer, %llu past "
		 "max_peers_per_session)",
		 (unsigned long long)st->registrations,
		 (unsigned long long)st->replies,
		 (unsigned long long)st->timed_out,
		 (unsigned long long)(st->refused_sessions_per_peer +
				      st->refused_peers_per_session),
		 (unsigned long long)st->refused_sessions_per_peer,
		 (unsigned long long)st->refused_peers_per_session);
	free(t->by_key.b);
	free(t->by_addr.b);
	free(t);
	p->tracker = NULL;
}

/* Its connection closed: every entry of the address goes. */
void cr__tracker_departed(struct cr_peer *p, const cr_addr *who)
{
	struct cr__tracker *t = p->tracker;
	struct addr_rec *r = t ? find_addr(t, who) : NULL;

	if (!r)
		return;
	while (r->entries) {
		drop_entry(t, r->entries, true);
		t->st->departed++;
	}
	say_refused(t, r, " left");
	r->refused = 0;
	addr_put(t, r);
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
		cr__tracker_answered(p, pl, m->len);
		break;
	case CR__T_TRACKER_QUERY:
		if (p->tracker)
			on_query(p->tracker, from, pl, m->len);
		break;
	case CR__T_TRACKER_PROBE:
		if (!p->tracker)
			cr__tracker_send(p, from, CR__T_TRACKER_REPORT, NULL, 0);
		break;
	}
}
