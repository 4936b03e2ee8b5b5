/* vanilla: the paper's pull-based mesh.
 *
 * Each peer keeps a few neighbours (its bootstrap peers, and any peer that
 * contacts it; below neighbours_min, the candidates it knows and then
 * peers it asks the tracker for), tells them every bufmap_interval_ms which parts of the
 * segments of its window it holds (a buffer map of parts), and asks them
 * for the parts it lacks: those of the segments due soon in deadline
 * order, the rest rarest first, each from a neighbour that holds it and
 * within that neighbour's share (what it delivered lately).  A peer asked
 * for a part queues the request and hands the queue to its upload link
 * earliest deadline first, keeping only serve_lead_ms of backlog there; a
 * request it cannot send in time is answered "busy", and the requester
 * asks elsewhere.  Every peer plays segment s at the same time,
 * playout_delay_ms after the source made it.  The source sends first the
 * parts it has sent least.
 *
 * The source cuts the engine's data (process_data with `from` itself) into
 * segment blocks that it places in its own playback buffer, and serves
 * them like any peer.  docs/streaming.md ("Vanilla") lists the parameters.
 */
#include <crystal/crystal.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

enum {
	VT_BUFMAP = 16,
	VT_REQUEST = 17,
	VT_REFUSE = 18,
	VT_BUSY = 19,
	VT_DATA = 128,
};

#define VN_MAX	     64 /* neighbours_max at most */
#define VN_CANDIDATES 32 /* peers known but not (yet) neighbours */
#define VN_WANT_MAX   CR_BUFMAP_MAX
#define VN_BOOT_MAX   256 /* bootstrap peers looked at */
#define VN_JOBS	     512 /* requests queued to be served, at most */


struct vnb {
	cr_addr addr;
	cr_bufmap map;
	bool has_map;
	/* parts it may have outstanding (its share): grows by about one per
	 * share's worth of data it delivers, halves when it says busy or lets
	 * a request time out, as TCP's congestion window does */
	double allow;
	int64_t busy_until; /* it said busy: not asked again before this */
};

/* A request outstanding, one per part of each window segment. */
struct vreq {
	uint32_t segment;
	bool active;
	cr_addr to;
	int64_t sent_ns;
};

/* How often the source sent a part of a segment. */
struct vsent {
	uint32_t segment;
	uint32_t times;
};

/* A request to serve: bytes [off, off + len) of a segment, for `to`, of
 * no use to it after deadline_ns. */
struct vjob {
	cr_addr to;
	uint32_t segment, off, len;
	int64_t deadline_ns;
};

struct vanilla {
	/* parameters */
	size_t nb_min, nb_max, src_nb_max;
	int64_t map_ns, req_ns, timeout_ns, startup_ns, lead_ns, queue_ns;
	uint32_t max_req, window, part_blocks;
	int64_t delay_ns;

	struct vnb *nb;
	size_t nnb;
	cr_addr cand[VN_CANDIDATES];
	size_t ncand;
	int64_t tracker_ns;    /* how often to ask the tracker; 0: never */
	int64_t next_query_ns; /* not before this */

	bool ready; /* the stream and the buffer are set up */
	bool source;
	uint16_t session;
	cr_stream st;
	cr_playbuf *pb;
	uint32_t nparts, part_bytes; /* parts a segment is asked in */
	struct vreq *req; /* (segment % window) * nparts + part */
	struct vsent *sent; /* the source: the same, what it sent */
	cr_timer_id t_map, t_req, t_pump;
	uint32_t rr; /* rotates ties between neighbours */

	/* requests to serve, unordered: the earliest deadline goes first */
	struct vjob jq[VN_JOBS];
	size_t jq_len;

	/* the source: stream bytes cut so far, and the block being filled */
	uint64_t pos;
	uint8_t *stage;
	uint32_t staged;

	uint64_t requests, timeouts, busy_in, served, refused, late_dropped;
	uint64_t bad_maps;
	/* neighbours lost (departed), taken to make up for missing ones
	 * (candidates promoted, the tracker's answers), tracker queries */
	uint64_t lost, replaced, queries;
};

static const cr_param_def vanilla_params[] = {
	{"neighbours_min", "4",
	 "below this many neighbours, known peers are promoted"},
	{"neighbours_max", "8", "neighbours at most (1 to 64)"},
	{"source_neighbours_max", "32",
	 "neighbours of the source at most (1 to 64)"},
	{"bufmap_interval_ms", "500", "how often a buffer map goes out"},
	{"request_interval_ms", "100", "how often requests are scheduled"},
	{"part_blocks", "16",
	 "blocks (data messages) in one request: a segment is asked in parts"},
	{"max_requests_per_neighbour", "8",
	 "parts asked of one neighbour and not yet arrived, at most"},
	{"request_timeout_ms", "1500",
	 "a part not complete this long after its request is asked again"},
	{"serve_lead_ms", "100",
	 "upload backlog a peer keeps, in time at its upload rate; the "
	 "requests beyond wait in its own queue"},
	{"serve_queue_ms", "1000",
	 "requests queued to be served, in time at the upload rate, at most; "
	 "beyond, the requester hears busy at once"},
	{"window", "20", "segments in the playback buffer (2 to 4096)"},
	{"startup_ms", "2000",
	 "buffering before a peer's first segment is played, at least"},
	{"playout_delay_ms", "6000",
	 "every peer plays a segment this long after the source made it"},
	{"tracker_interval_ms", "2000",
	 "below neighbours_min with no candidates left, the tracker is asked "
	 "for peers this often (0: never)"},
	{NULL, NULL, NULL},
};

static void put32(uint8_t *b, uint32_t x)
{
	b[0] = (uint8_t)(x >> 24);
	b[1] = (uint8_t)(x >> 16);
	b[2] = (uint8_t)(x >> 8);
	b[3] = (uint8_t)x;
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

/* --- neighbours ---------------------------------------------------------- */

/* A new neighbour: no map yet, an allowance of two parts. */
static void nb_init(struct vnb *n, const cr_addr *a)
{
	memset(n, 0, sizeof(*n));
	n->addr = *a;
	n->allow = 2;
}

static struct vnb *nb_find(struct vanilla *v, const cr_addr *a)
{
	for (size_t i = 0; i < v->nnb; i++)
		if (cr_addr_eq(&v->nb[i].addr, a))
			return &v->nb[i];
	return NULL;
}

static bool cand_has(const struct vanilla *v, const cr_addr *a)
{
	for (size_t i = 0; i < v->ncand; i++)
		if (cr_addr_eq(&v->cand[i], a))
			return true;
	return false;
}

static void cand_add(struct vanilla *v, const cr_addr *a)
{
	if (v->ncand < VN_CANDIDATES && !cand_has(v, a))
		v->cand[v->ncand++] = *a;
}

static void cand_del(struct vanilla *v, const cr_addr *a)
{
	for (size_t i = 0; i < v->ncand; i++) {
		if (cr_addr_eq(&v->cand[i], a)) {
			v->cand[i] = v->cand[--v->ncand];
			return;
		}
	}
}

/* A neighbour, if there is room; else a candidate for later. */
static struct vnb *nb_add(cr_peer *p, struct vanilla *v, const cr_addr *a)
{
	struct vnb *n;

	if (cr_is_self(p, a))
		return NULL;
	n = nb_find(v, a);
	if (n)
		return n;
	if (v->nnb >= v->nb_max) {
		cand_add(v, a);
		return NULL;
	}
	cand_del(v, a);
	n = &v->nb[v->nnb++];
	nb_init(n, a);
	return n;
}

/* Requests outstanding to a peer are forgotten, to be asked elsewhere. */
static void forget_requests(struct vanilla *v, const cr_addr *a)
{
	if (!v->req)
		return;
	for (size_t i = 0; i < (size_t)v->window * v->nparts; i++)
		if (v->req[i].active && cr_addr_eq(&v->req[i].to, a))
			v->req[i].active = false;
}

static void nb_del(struct vanilla *v, const cr_addr *a)
{
	for (size_t i = 0; i < v->nnb; i++) {
		if (cr_addr_eq(&v->nb[i].addr, a)) {
			v->nb[i] = v->nb[--v->nnb];
			break;
		}
	}
	cand_del(v, a);
	forget_requests(v, a);
}

static void nb_refill(struct vanilla *v)
{
	while (v->nnb < v->nb_min && v->ncand) {
		nb_init(&v->nb[v->nnb++], &v->cand[0]);
		v->cand[0] = v->cand[--v->ncand];
		v->replaced++;
	}
}

/* Still below neighbours_min with no candidates left: ask the tracker for
 * peers (vanilla_tracker takes the answer), every tracker_interval_ms at
 * most.  So the source and the first peers, which the tracker had nobody
 * to give, find the peers born after them, and a peer whose neighbours
 * left finds new ones. */
static void find_more(cr_peer *p, struct vanilla *v)
{
	int64_t now = cr_now(p);
	int err;

	if (v->nnb >= v->nb_min || v->ncand || !v->tracker_ns ||
	    now < v->next_query_ns)
		return;
	err = cr_tracker_query(p, v->session, 0);
	if (!err) {
		v->queries++;
		v->next_query_ns = now + v->tracker_ns;
	} else if (err != -CR_EAGAIN) {
		/* no tracker (a topology file): nobody to ask */
		cr_log(p, CR_LOG_DEBUG, "no tracker query: %s",
		       cr_strerror(err));
		v->tracker_ns = 0;
	}
}

/* --- buffer maps --------------------------------------------------------- */

/* Segments are asked for, and announced, in parts: bit i of a Vanilla
 * buffer map is part (base + i) % nparts of segment (base + i) / nparts. */
static bool part_range(const struct vanilla *v, uint32_t segment,
		       uint32_t part, uint32_t *off, uint32_t *len);

static void part_map(const struct vanilla *v, cr_bufmap *bm)
{
	uint32_t base = cr_playbuf_base(v->pb), off, len;

	cr_bufmap_init(bm, base * v->nparts, v->window * v->nparts);
	for (uint32_t s = base; s - base < v->window; s++)
		for (uint32_t k = 0; k < v->nparts; k++)
			if (part_range(v, s, k, &off, &len) &&
			    cr_playbuf_has_range(v->pb, s, off, len))
				cr_bufmap_set(bm, s * v->nparts + k);
}

static void announce(cr_peer *p, void *arg)
{
	struct vanilla *v = cr_state(p);
	cr_bufmap mine;
	cr_msg *m;

	(void)arg;
	if (!v->ready)
		return;
	nb_refill(v);
	find_more(p, v);
	part_map(v, &mine);
	m = cr_msg_new(p, VT_BUFMAP, v->session, cr_bufmap_size(&mine));
	if (!m)
		return;
	if (cr_bufmap_encode(&mine, cr_msg_payload_mut(m), cr_msg_len(m)) > 0)
		for (size_t i = 0; i < v->nnb; i++)
			cr_send(p, &v->nb[i].addr, m, CR_TCP);
	cr_msg_release(m);
}

/* Playback follows one schedule for every peer: segment s is played
 * playout_delay_ms after the source has made it, that is at
 * start + (s + 1) x segment time + playout_delay.  A peer starts with the
 * first segment that leaves it startup_ms to buffer, once a neighbour
 * has shown it a map (the session is live). */
static void maybe_start(cr_peer *p, struct vanilla *v)
{
	const int64_t seg = v->st.segment_ns;
	cr_session_info info;
	int64_t now = cr_now(p), k, due;
	int err;

	if (cr_playbuf_started(v->pb) ||
	    cr_session_info_get(p, v->session, &info) || info.start_ns < 0)
		return;
	k = now + v->startup_ns - info.start_ns - v->delay_ns;
	k = k <= seg ? 0 : (k + seg - 1) / seg - 1;
	if (k > UINT32_MAX)
		return;
	due = info.start_ns + (k + 1) * seg + v->delay_ns;
	err = cr_playbuf_start_at(v->pb, p, (uint32_t)k, due);
	if (err)
		cr_log(p, CR_LOG_WARN, "playback not started: %s",
		       cr_strerror(err));
	else
		cr_log(p, CR_LOG_DEBUG, "playback from segment %lld, at %.3f s",
		       (long long)k, (double)due / 1e9);
}

static void on_bufmap(cr_peer *p, struct vanilla *v, const cr_addr *from,
		      struct vnb *n, const cr_msg *m)
{
	cr_bufmap bm;

	if (cr_bufmap_decode(cr_msg_payload(m), cr_msg_len(m), &bm)) {
		v->bad_maps++;
		cr_log(p, CR_LOG_WARN, "malformed buffer map (%zu bytes) ignored",
		       cr_msg_len(m));
		return;
	}
	if (!n) {
		/* no room: say so, and the sender looks elsewhere */
		cr_msg *r = cr_msg_new(p, VT_REFUSE, cr_msg_session(m), 0);
		if (r) {
			cr_send(p, from, r, CR_TCP);
			cr_msg_release(r);
		}
		return;
	}
	n->map = bm;
	n->has_map = true;
	if (v->ready && !v->source)
		maybe_start(p, v);
}

/* --- requests ------------------------------------------------------------ */

/* The request slot of a part: window slots of nparts each. */
static struct vreq *slot(struct vanilla *v, uint32_t segment, uint32_t part)
{
	return &v->req[(segment % v->window) * v->nparts + part];
}

static struct vreq *req_of(struct vanilla *v, uint32_t segment,
			   uint32_t part)
{
	struct vreq *r = slot(v, segment, part);

	return r->active && r->segment == segment ? r : NULL;
}

/* Bytes [*off, *off + *len) of a part of a segment; false past its end. */
static bool part_range(const struct vanilla *v, uint32_t segment,
		       uint32_t part, uint32_t *off, uint32_t *len)
{
	uint32_t size = cr_playbuf_segment_size(v->pb, segment);
	uint64_t o = (uint64_t)part * v->part_bytes;

	if (o >= size)
		return false;
	*off = (uint32_t)o;
	*len = size - *off < v->part_bytes ? size - *off : v->part_bytes;
	return true;
}

static bool part_held(const struct vanilla *v, uint32_t segment,
		      uint32_t part)
{
	uint32_t off, len;

	return !part_range(v, segment, part, &off, &len) ||
	       cr_playbuf_has_range(v->pb, segment, off, len);
}

/* A neighbour's share: parts outstanding to it at most, its allowance
 * (never below 1), never above max_requests_per_neighbour; none while it is
 * busy. */
static uint32_t share(const struct vanilla *v, const struct vnb *n,
		      int64_t now)
{
	if (n->busy_until > now)
		return 0;
	return n->allow >= v->max_req ? v->max_req : (uint32_t)n->allow;
}

/* It delivered len bytes: its allowance grows by len / part / allowance,
 * about one part per allowance's worth delivered. */
static void allow_more(const struct vanilla *v, struct vnb *n, size_t len)
{
	n->allow += (double)len / (double)v->part_bytes / n->allow;
	if (n->allow > v->max_req)
		n->allow = v->max_req;
}

/* It said busy or let a request time out: its allowance halves. */
static void allow_less(struct vnb *n)
{
	n->allow /= 2;
	if (n->allow < 1)
		n->allow = 1;
}

/* Asks the neighbour with the most room in its share that holds the part
 * for it.  false when none can be asked. */
static bool ask(cr_peer *p, struct vanilla *v, uint32_t segment,
		uint32_t part, const uint32_t *lim, uint32_t *load)
{
	size_t best = SIZE_MAX;
	int64_t now = cr_now(p), until;
	uint8_t b[16];
	uint32_t off, len, ms;
	struct vreq *r;
	cr_msg *m;
	int err;

	if (!part_range(v, segment, part, &off, &len))
		return false;
	for (size_t j = 0; j < v->nnb; j++) {
		size_t i = (j + v->rr) % v->nnb;
		if (!v->nb[i].has_map ||
		    !cr_bufmap_has(&v->nb[i].map, segment * v->nparts + part) ||
		    load[i] >= lim[i])
			continue;
		/* the most room left in its share; the source, asked by
		 * everyone, soon has the least */
		if (best == SIZE_MAX ||
		    lim[i] - load[i] > lim[best] - load[best])
			best = i;
	}
	if (best == SIZE_MAX)
		return false;
	v->rr++;
	/* the request says how long until the segment is played: a holder
	 * that cannot send it by then says so instead */
	until = cr_playbuf_deadline(v->pb, segment) - now - v->req_ns;
	ms = until <= 0 ? 0 : until / CR_MS > UINT32_MAX - 1
				      ? UINT32_MAX - 1
				      : (uint32_t)(until / CR_MS);
	put32(b, segment);
	put32(b + 4, off);
	put32(b + 8, len);
	put32(b + 12, ms);
	m = cr_msg_new(p, VT_REQUEST, v->session, sizeof(b));
	if (!m)
		return false;
	memcpy(cr_msg_payload_mut(m), b, sizeof(b));
	err = cr_send(p, &v->nb[best].addr, m, CR_TCP);
	cr_msg_release(m);
	if (err)
		return false;
	r = slot(v, segment, part);
	r->segment = segment;
	r->active = true;
	r->to = v->nb[best].addr;
	r->sent_ns = now;
	load[best]++;
	v->requests++;
	return true;
}

static bool listed(const uint32_t *want, int n, uint32_t segment)
{
	for (int k = 0; k < n; k++)
		if (want[k] == segment)
			return true;
	return false;
}

static void schedule(cr_peer *p, void *arg)
{
	struct vanilla *v = cr_state(p);
	const cr_bufmap *maps[VN_MAX];
	uint32_t load[VN_MAX], lim[VN_MAX];
	uint32_t want[VN_WANT_MAX];
	uint32_t next, urgent_end;
	int64_t now = cr_now(p);
	cr_bufmap mine;
	int n;

	(void)arg;
	if (!v->ready || v->source || !cr_playbuf_started(v->pb))
		return;
	next = cr_playbuf_next_due(v->pb);
	/* arrived, due already, or timed out: no longer outstanding */
	for (size_t i = 0; i < (size_t)v->window * v->nparts; i++) {
		struct vreq *r = &v->req[i];
		struct vnb *nb;
		if (!r->active)
			continue;
		if (r->segment < next ||
		    part_held(v, r->segment, (uint32_t)(i % v->nparts))) {
			r->active = false;
		} else if (now - r->sent_ns >= v->timeout_ns) {
			r->active = false;
			v->timeouts++;
			nb = nb_find(v, &r->to);
			if (nb)
				allow_less(nb);
		}
	}
	for (size_t i = 0; i < v->nnb; i++) {
		maps[i] = v->nb[i].has_map ? &v->nb[i].map : NULL;
		load[i] = 0;
		lim[i] = share(v, &v->nb[i], now);
	}
	for (size_t i = 0; i < (size_t)v->window * v->nparts; i++) {
		struct vreq *r = &v->req[i];
		if (!r->active)
			continue;
		for (size_t j = 0; j < v->nnb; j++) {
			if (cr_addr_eq(&v->nb[j].addr, &r->to)) {
				load[j]++;
				break;
			}
		}
	}
	part_map(v, &mine);
	n = cr_bufmap_rarest(&mine, maps, v->nnb, next * v->nparts, want,
			     VN_WANT_MAX);
	if (n <= 0)
		return;
	/* Deadline first: the (at most two) segments due within two segment
	 * times, earliest first; then the others, rarest first. */
	urgent_end = next;
	while (urgent_end - next < 2 &&
	       cr_playbuf_deadline(v->pb, urgent_end) - now <
		       2 * v->st.segment_ns)
		urgent_end++;
	for (uint32_t u = next * v->nparts; u < urgent_end * v->nparts; u++)
		if (listed(want, n, u) && !req_of(v, u / v->nparts, u % v->nparts))
			ask(p, v, u / v->nparts, u % v->nparts, lim, load);
	for (int k = 0; k < n; k++) {
		uint32_t u = want[k];
		if (u >= urgent_end * v->nparts &&
		    !req_of(v, u / v->nparts, u % v->nparts))
			ask(p, v, u / v->nparts, u % v->nparts, lim, load);
	}
}

/* A part arrived whole, or a holder said it will not send it: the request
 * is no longer outstanding. */
static void req_done(struct vanilla *v, uint32_t segment, uint32_t offset)
{
	struct vreq *r;

	if (v->part_bytes && offset / v->part_bytes < v->nparts &&
	    (r = req_of(v, segment, offset / v->part_bytes)))
		r->active = false;
}

/* --- serving ------------------------------------------------------------- */

/* The rate this peer's upload drains at: its upload or total limit,
 * whichever is lower; 0 when it has neither. */
static uint64_t upload_rate(const cr_peer *p)
{
	cr_link_limits l;
	uint64_t r;

	cr_link_get(p, &l);
	r = l.upload_Bps;
	if (l.total_Bps && (!r || l.total_Bps < r))
		r = l.total_Bps;
	return r;
}

static void busy(cr_peer *p, struct vanilla *v, const struct vjob *j)
{
	uint8_t b[8];
	cr_msg *m;

	put32(b, j->segment);
	put32(b + 4, j->off);
	m = cr_msg_new(p, VT_BUSY, v->session, sizeof(b));
	if (!m)
		return;
	memcpy(cr_msg_payload_mut(m), b, sizeof(b));
	cr_send(p, &j->to, m, CR_TCP);
	cr_msg_release(m);
}

static void pump(cr_peer *p, struct vanilla *v);

/* How often the source has sent a part (of the segments in its window). */
static struct vsent *sent_of(struct vanilla *v, uint32_t segment,
			     uint32_t off)
{
	return &v->sent[(segment % v->window) * v->nparts + off / v->part_bytes];
}

static uint32_t times_sent(struct vanilla *v, const struct vjob *j)
{
	const struct vsent *c = sent_of(v, j->segment, j->off);

	return c->segment == j->segment ? c->times : 0;
}

/* Which request goes first: at a peer, the earliest deadline; at the
 * source, the part it has sent least often (a part only the source has is
 * what the mesh needs most: the peers pass on the rest), then the earliest
 * deadline. */
static bool before(struct vanilla *v, const struct vjob *a,
		   const struct vjob *b)
{
	if (v->source) {
		uint32_t ta = times_sent(v, a), tb = times_sent(v, b);
		if (ta != tb)
			return ta < tb;
	}
	return a->deadline_ns < b->deadline_ns;
}

static void pump_tick(cr_peer *p, void *arg)
{
	struct vanilla *v = cr_state(p);

	(void)arg;
	v->t_pump = 0;
	pump(p, v);
}

/* Hands queued requests to the upload link, earliest deadline first, while
 * its backlog is under serve_lead_ms of its rate; a request that could
 * no longer arrive before its segment is played is answered "busy". */
static void pump(cr_peer *p, struct vanilla *v)
{
	uint64_t rate = upload_rate(p);
	size_t lead = rate ? (size_t)(rate * (uint64_t)v->lead_ns / CR_SEC)
			   : SIZE_MAX;
	size_t wire = v->st.block_bytes + CR_SEG_HDR_SIZE + 64, backlog;
	int64_t now = cr_now(p);

	if (lead < 2 * wire)
		lead = 2 * wire;
	while (v->jq_len && v->ready && (backlog = cr_queued_bytes(p)) < lead) {
		size_t first = 0;
		struct vjob j;
		int64_t done;

		for (size_t i = 1; i < v->jq_len; i++)
			if (before(v, &v->jq[i], &v->jq[first]))
				first = i;
		j = v->jq[first];
		v->jq[first] = v->jq[--v->jq_len];
		if (!cr_playbuf_has_range(v->pb, j.segment, j.off, j.len)) {
			v->refused++; /* slid out of the window meanwhile */
			busy(p, v, &j);
			continue;
		}
		done = rate ? now + (int64_t)((backlog + j.len) * CR_SEC / rate)
			    : now;
		if (done > j.deadline_ns) {
			v->late_dropped++;
			busy(p, v, &j);
			continue;
		}
		for (uint32_t off = j.off; off < j.off + j.len;
		     off += v->st.block_bytes) {
			uint32_t len = j.off + j.len - off;
			cr_msg *d;

			if (len > v->st.block_bytes)
				len = v->st.block_bytes;
			/* the stream's last block goes out marked CR_SEG_END */
			d = cr_playbuf_msg_new(p, v->pb, VT_DATA, j.segment,
					       off, len);
			if (!d)
				break;
			cr_send(p, &j.to, d, CR_TCP);
			cr_msg_release(d);
		}
		v->served++;
		if (v->source) {
			struct vsent *c = sent_of(v, j.segment, j.off);
			if (c->segment != j.segment)
				*c = (struct vsent){.segment = j.segment};
			c->times++;
		}
	}
	if (v->jq_len && v->ready && !v->t_pump) {
		/* wake when about half the lead has gone out */
		int64_t wait = rate ? (int64_t)(lead / 2 * (uint64_t)CR_SEC /
						rate)
				    : CR_MS;
		v->t_pump = cr_timer_start(p, wait > CR_MS ? wait : CR_MS, 0,
					   pump_tick, NULL);
	}
}

/* Can a new request still be sent in time, after what is on the link and
 * the queued requests that go before it (earliest deadline first), and
 * within serve_queue_ms of queue in all?  If not, the requester had better
 * hear so now. */
static bool admit(cr_peer *p, const struct vanilla *v, const struct vjob *j)
{
	uint64_t rate = upload_rate(p), ahead, all;

	if (!rate)
		return true;
	ahead = all = cr_queued_bytes(p) + j->len;
	for (size_t i = 0; i < v->jq_len; i++) {
		all += v->jq[i].len;
		if (v->jq[i].deadline_ns <= j->deadline_ns)
			ahead += v->jq[i].len;
	}
	return cr_now(p) + (int64_t)(ahead * CR_SEC / rate) <= j->deadline_ns &&
	       (int64_t)(all * CR_SEC / rate) <= v->queue_ns;
}

/* A neighbour asks for a part of a segment: queue it, if it is held. */
static void serve(cr_peer *p, struct vanilla *v, const cr_addr *to,
		  const cr_msg *m)
{
	const uint8_t *b = cr_msg_payload(m);
	struct vjob j = {.to = *to};
	uint32_t ms;

	if (cr_msg_len(m) != 16) {
		cr_log(p, CR_LOG_WARN, "malformed request (%zu bytes) ignored",
		       cr_msg_len(m));
		return;
	}
	j.segment = get32(b);
	j.off = get32(b + 4);
	j.len = get32(b + 8);
	ms = get32(b + 12);
	/* a requester that has not yet heard where the stream ends may ask
	 * past it: it gets what there is, the block marked as the end */
	if (v->ready && cr_playbuf_ended(v->pb, NULL)) {
		uint32_t size = cr_playbuf_segment_size(v->pb, j.segment);
		if (j.off < size && j.len > size - j.off)
			j.len = size - j.off;
	}
	if (!v->ready || !cr_playbuf_has_range(v->pb, j.segment, j.off, j.len) ||
	    j.off % v->st.block_bytes) {
		v->refused++;
		busy(p, v, &j);
		return;
	}
	j.deadline_ns = cr_now(p) + (int64_t)ms * CR_MS;
	if (v->jq_len == VN_JOBS || !admit(p, v, &j)) {
		v->late_dropped++;
		busy(p, v, &j);
		return;
	}
	v->jq[v->jq_len++] = j;
	pump(p, v);
}

/* --- set-up -------------------------------------------------------------- */

static void log_stats(cr_peer *p, const struct vanilla *v)
{
	cr_playbuf_stats st;

	if (!v->pb || !cr_playbuf_started(v->pb))
		return;
	cr_playbuf_get_stats(v->pb, &st);
	cr_log(p, CR_LOG_INFO,
	       "%splayed %llu, missed %llu, startup %.3f s; requests %llu, "
	       "timed out %llu, answered busy %llu; served %llu, busy %llu "
	       "(late %llu)",
	       v->source ? "source: " : "", (unsigned long long)st.played,
	       (unsigned long long)st.missed,
	       st.played ? (double)(st.first_played_ns - st.start_ns) / 1e9
			 : 0.0,
	       (unsigned long long)v->requests,
	       (unsigned long long)v->timeouts,
	       (unsigned long long)v->busy_in,
	       (unsigned long long)v->served,
	       (unsigned long long)(v->refused + v->late_dropped),
	       (unsigned long long)v->late_dropped);
}

static void teardown(cr_peer *p, struct vanilla *v)
{
	if (v->t_map)
		cr_timer_cancel(p, v->t_map);
	if (v->t_req)
		cr_timer_cancel(p, v->t_req);
	if (v->t_pump)
		cr_timer_cancel(p, v->t_pump);
	v->t_map = v->t_req = v->t_pump = 0;
	v->jq_len = 0;
	cr_playbuf_free(v->pb);
	v->pb = NULL;
	free(v->req);
	v->req = NULL;
	free(v->sent);
	v->sent = NULL;
	free(v->stage);
	v->stage = NULL;
	v->ready = false;
}

static int setup(cr_peer *p, struct vanilla *v, uint16_t session, bool source)
{
	cr_session_info info;
	cr_playbuf_config cfg;
	uint64_t phase;
	uint32_t block;
	int err;

	err = cr_session_info_get(p, session, &info);
	if (err)
		return err;
	block = info.message_size > CR_SEG_HDR_SIZE
			? info.message_size - CR_SEG_HDR_SIZE
			: 0;
	err = cr_stream_init(&v->st, session, info.rate_Bps, info.segment_ns,
			     block);
	if (err)
		return err;
	cr_playbuf_config_init(&cfg, &v->st);
	cfg.window = v->window;
	cfg.history = v->window / 4 ? v->window / 4 : 1;
	cfg.startup_ns = v->startup_ns;
	cfg.keep_data = true;
	err = cr_playbuf_new(&cfg, &v->pb);
	if (err)
		return err;
	v->part_bytes = v->part_blocks * v->st.block_bytes;
	if (v->part_bytes > v->st.segment_bytes)
		v->part_bytes = v->st.segment_bytes;
	v->nparts = (v->st.segment_bytes + v->part_bytes - 1) / v->part_bytes;
	/* a buffer map of parts holds at most CR_BUFMAP_MAX of them */
	while ((uint64_t)v->window * v->nparts > CR_BUFMAP_MAX) {
		v->part_bytes *= 2;
		v->nparts = (v->st.segment_bytes + v->part_bytes - 1) /
			    v->part_bytes;
	}
	v->req = calloc((size_t)v->window * v->nparts, sizeof(*v->req));
	v->sent = source ? calloc((size_t)v->window * v->nparts,
				  sizeof(*v->sent))
			 : NULL;
	v->stage = source ? malloc(v->st.block_bytes) : NULL;
	if (!v->req || (source && (!v->stage || !v->sent))) {
		teardown(p, v);
		return -CR_ENOMEM;
	}
	v->session = session;
	v->source = source;
	if (source) /* the source feeds more peers than a peer does */
		v->nb_max = v->src_nb_max;
	v->jq_len = 0;
	v->pos = 0;
	v->staged = 0;
	if (source && (err = cr_playbuf_start(v->pb, p, 0))) {
		teardown(p, v);
		return err;
	}
	/* Peers that join together would announce and schedule in step,
	 * every one of them in the same instant, a burst no set of real
	 * hosts makes: each keeps its own phase (from its address), after a
	 * first map at once. */
	phase = cr_addr_hash(cr_self(p));
	v->ready = true;
	announce(p, NULL);
	v->t_map = cr_timer_start(p, (int64_t)(phase % (uint64_t)v->map_ns) + 1,
				  v->map_ns, announce, NULL);
	if (!source)
		v->t_req = cr_timer_start(
			p, v->req_ns + (int64_t)((phase >> 32) % (uint64_t)v->req_ns),
			v->req_ns, schedule, NULL);
	return 0;
}

static int64_t param_in(cr_peer *p, const char *name, int64_t def, int64_t lo,
			int64_t hi)
{
	int64_t x = cr_param_int(p, name, def);

	if (x < lo || x > hi) {
		cr_log(p, CR_LOG_WARN, "%s=%lld out of range [%lld, %lld]: %lld",
		       name, (long long)x, (long long)lo, (long long)hi,
		       (long long)def);
		x = def;
	}
	return x;
}

static int vanilla_bootstrap(cr_peer *p)
{
	struct vanilla *v = cr_state(p);
	const cr_addr *boot;
	size_t order[VN_BOOT_MAX];
	uint64_t x;
	size_t n;

	v->nb_max = (size_t)param_in(p, "neighbours_max", 8, 1, VN_MAX);
	v->nb_min = (size_t)param_in(p, "neighbours_min", 4, 1, VN_MAX);
	if (v->nb_min > v->nb_max)
		v->nb_min = v->nb_max;
	v->map_ns = param_in(p, "bufmap_interval_ms", 500, 1, 3600000) * CR_MS;
	v->req_ns = param_in(p, "request_interval_ms", 100, 1, 3600000) * CR_MS;
	v->max_req = (uint32_t)param_in(p, "max_requests_per_neighbour", 8, 1,
					CR_BUFMAP_MAX);
	v->part_blocks = (uint32_t)param_in(p, "part_blocks", 16, 1,
					    CR_SEG_MAX_BLOCKS);
	v->lead_ns = param_in(p, "serve_lead_ms", 100, 1, 60000) * CR_MS;
	v->queue_ns = param_in(p, "serve_queue_ms", 1000, 1, 3600000) * CR_MS;
	v->delay_ns =
		param_in(p, "playout_delay_ms", 6000, 0, 3600000) * CR_MS;
	v->timeout_ns =
		param_in(p, "request_timeout_ms", 1500, 1, 3600000) * CR_MS;
	v->window = (uint32_t)param_in(p, "window", 20, 2, CR_BUFMAP_MAX);
	v->startup_ns = param_in(p, "startup_ms", 2000, 0, 3600000) * CR_MS;
	v->src_nb_max = (size_t)param_in(p, "source_neighbours_max", 32, 1,
					 VN_MAX);
	v->tracker_ns =
		param_in(p, "tracker_interval_ms", 2000, 0, 3600000) * CR_MS;
	v->nb = calloc(VN_MAX, sizeof(*v->nb));
	if (!v->nb)
		return -CR_ENOMEM;
	/* neighbours_min of the tracker's answer, in an order of this
	 * peer's own, so that the peers born first (and the source) are not
	 * everyone's choice; the rest are candidates.  Peers that contact
	 * this one fill it up to neighbours_max. */
	n = cr_bootstrap_peers(p, &boot);
	x = cr_addr_hash(cr_self(p)) | 1;
	for (size_t i = 0; i < n && i < VN_BOOT_MAX; i++)
		order[i] = i;
	if (n > VN_BOOT_MAX)
		n = VN_BOOT_MAX;
	for (size_t i = n; i > 1; i--) {
		size_t j, t;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = (size_t)(x % i);
		t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < n; i++) {
		if (cr_is_self(p, &boot[order[i]]))
			continue;
		if (v->nnb < v->nb_min)
			nb_add(p, v, &boot[order[i]]);
		else
			cand_add(v, &boot[order[i]]);
	}
	return 0;
}

static void vanilla_join(cr_peer *p, uint16_t session)
{
	struct vanilla *v = cr_state(p);
	cr_session_info info;
	bool source;
	int err;

	if (v->ready && v->session != session) {
		cr_log(p, CR_LOG_WARN, "session %u ignored: playing %u",
		       session, v->session);
		return;
	}
	if (v->ready && v->source)
		return; /* the source set up at its first data */
	if (v->pb) {
		log_stats(p, v);
		teardown(p, v);
	}
	source = !cr_session_info_get(p, session, &info) &&
		 cr_is_self(p, &info.source);
	err = setup(p, v, session, source);
	if (err)
		cr_log(p, CR_LOG_ERROR, "session %u: %s", session,
		       cr_strerror(err));
}

static void vanilla_leave(cr_peer *p, uint16_t session)
{
	struct vanilla *v = cr_state(p);

	if (!v->ready || v->session != session)
		return;
	if (v->t_map)
		cr_timer_cancel(p, v->t_map);
	if (v->t_req)
		cr_timer_cancel(p, v->t_req);
	if (v->t_pump)
		cr_timer_cancel(p, v->t_pump);
	v->t_map = v->t_req = v->t_pump = 0;
	v->jq_len = 0;
	cr_playbuf_stop(v->pb);
	v->ready = false; /* the counts stay for destroy */
}

/* A holder will not send a part asked of it: ask elsewhere, and not it
 * for a while. */
static void on_busy(cr_peer *p, struct vanilla *v, struct vnb *n,
		    const cr_msg *m)
{
	const uint8_t *b = cr_msg_payload(m);

	if (cr_msg_len(m) != 8 || !v->ready || v->source) {
		if (cr_msg_len(m) != 8)
			cr_log(p, CR_LOG_WARN, "malformed busy (%zu bytes) "
			       "ignored", cr_msg_len(m));
		return;
	}
	v->busy_in++;
	req_done(v, get32(b), get32(b + 4));
	if (n) {
		n->busy_until = cr_now(p) + v->req_ns;
		allow_less(n);
	}
}

/* Any message from a peer makes it a neighbour, if there is room. */
static void vanilla_process(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	struct vanilla *v = cr_state(p);
	struct vnb *n =
		cr_msg_type(m) == VT_REFUSE ? NULL : nb_add(p, v, from);

	if (v->ready && cr_msg_session(m) != v->session)
		return;
	switch (cr_msg_type(m)) {
	case VT_BUFMAP:
		on_bufmap(p, v, from, n, m);
		break;
	case VT_REQUEST:
		serve(p, v, from, m);
		break;
	case VT_REFUSE:
		nb_del(v, from);
		nb_refill(v);
		break;
	case VT_BUSY:
		on_busy(p, v, n, m);
		break;
	default:
		cr_log(p, CR_LOG_DEBUG, "message type %u ignored",
		       cr_msg_type(m));
	}
}

/* The source's stream ended: the block being filled is the last, and the
 * playback buffer learns where the stream ends (so that it serves the
 * last block marked as such, and counts nothing past it). */
static void end_stream(cr_peer *p, struct vanilla *v)
{
	uint32_t seg, off, blen;
	int r;

	if (!v->pos || cr_playbuf_ended(v->pb, NULL) ||
	    cr_stream_locate(&v->st, v->pos - 1, &seg, &off, &blen))
		return;
	r = cr_playbuf_end(v->pb, seg, off + 1);
	if (!r && v->staged)
		r = cr_playbuf_add(v->pb, seg, off + 1 - v->staged, v->stage,
				   v->staged, cr_now(p));
	v->staged = 0;
	if (r < 0 || r == CR_PB_AHEAD)
		cr_log(p, CR_LOG_WARN, "end of stream at segment %u not kept "
		       "(%d)", seg, r);
	else
		cr_log(p, CR_LOG_INFO, "stream ends in segment %u, after %llu "
		       "bytes", seg, (unsigned long long)v->pos);
}

/* The source: the engine's bytes, cut into blocks of segments; an empty
 * message ends the stream. */
static void cut(cr_peer *p, struct vanilla *v, const cr_msg *in)
{
	const uint8_t *src = cr_msg_payload(in);
	size_t left = cr_msg_len(in);
	int64_t now = cr_now(p);

	if (!left) {
		end_stream(p, v);
		return;
	}

	while (left) {
		uint32_t seg, off, blen, take;
		int r;

		if (cr_stream_locate(&v->st, v->pos, &seg, &off, &blen))
			return;
		take = left < blen ? (uint32_t)left : blen;
		memcpy(v->stage + v->staged, src, take);
		v->staged += take;
		v->pos += take;
		src += take;
		left -= take;
		if (take < blen)
			break;
		r = cr_playbuf_add(v->pb, seg, off + take - v->staged, v->stage,
				   v->staged, now);
		if (r < 0 || r == CR_PB_AHEAD)
			cr_log(p, CR_LOG_WARN, "segment %u: block not kept (%d)",
			       seg, r);
		v->staged = 0;
	}
}

static void vanilla_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	struct vanilla *v = cr_state(p);
	struct vnb *n;
	cr_seg_hdr h;
	int res;

	if (cr_is_self(p, from)) {
		if (!v->ready) {
			int err;
			if (v->pb) {
				log_stats(p, v);
				teardown(p, v);
			}
			err = setup(p, v, cr_msg_session(m), true);
			if (err) {
				cr_log(p, CR_LOG_ERROR, "source: %s",
				       cr_strerror(err));
				return;
			}
		}
		if (v->source && cr_msg_session(m) == v->session)
			cut(p, v, m);
		return;
	}
	n = nb_add(p, v, from);
	if (!v->ready || !cr_playbuf_started(v->pb))
		return;
	if (n)
		allow_more(v, n, cr_msg_len(m));
	res = cr_playbuf_add_msg(v->pb, m, cr_now(p));
	if (res < 0) {
		cr_log(p, CR_LOG_DEBUG, "data message refused: %s",
		       cr_strerror(res));
		return;
	}
	if (!cr_seg_hdr_get(cr_msg_payload(m), cr_msg_len(m), &h) &&
	    v->part_bytes && h.offset / v->part_bytes < v->nparts &&
	    part_held(v, h.segment, h.offset / v->part_bytes))
		req_done(v, h.segment, h.offset);
}

static void vanilla_departed(cr_peer *p, const cr_addr *who)
{
	struct vanilla *v = cr_state(p);

	if (nb_find(v, who))
		v->lost++;
	nb_del(v, who);
}

/* The tracker's answer to find_more: neighbours up to neighbours_min, the
 * rest candidates. */
static void vanilla_tracker(cr_peer *p, uint16_t session,
			    const cr_addr *peers, size_t n)
{
	struct vanilla *v = cr_state(p);

	(void)session;
	if (!v->nb) /* its bootstrap found no memory */
		return;
	for (size_t i = 0; i < n; i++) {
		if (cr_is_self(p, &peers[i]) || nb_find(v, &peers[i]))
			continue;
		if (v->nnb < v->nb_min) {
			nb_add(p, v, &peers[i]);
			v->replaced++;
		} else {
			cand_add(v, &peers[i]);
		}
	}
}

static void vanilla_destroy(cr_peer *p)
{
	struct vanilla *v = cr_state(p);

	log_stats(p, v);
	/* summed over a peer's lives in peers-final.csv and summary.json */
	cr_report_add(p, "tracker_queries", (double)v->queries);
	cr_report_add(p, "neighbours_lost", (double)v->lost);
	cr_report_add(p, "neighbours_replaced", (double)v->replaced);
	cr_report_value(p, "neighbours", (double)v->nnb);
	teardown(p, v);
	free(v->nb);
}

const cr_algorithm cr_vanilla_algorithm = {
	.api_version = CR_API_VERSION,
	.name = "vanilla",
	.description = "pull-based mesh: buffer maps, rarest-first requests",
	.state_size = sizeof(struct vanilla),
	.params = vanilla_params,
	.bootstrap = vanilla_bootstrap,
	.join_session = vanilla_join,
	.leave_session = vanilla_leave,
	.process = vanilla_process,
	.process_data = vanilla_data,
	.peer_departed = vanilla_departed,
	.destroy = vanilla_destroy,
	.tracker_peers = vanilla_tracker,
};
