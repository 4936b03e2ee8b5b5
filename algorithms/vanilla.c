/* vanilla: the paper's pull-based mesh.
 *
 * Each peer keeps a few neighbours (its bootstrap peers, and any peer that
 * contacts it), tells them every bufmap_interval_ms which segments it holds
 * (a buffer map), and asks them for the segments of its window it lacks:
 * those due soon in deadline order, the rest rarest first, each from a
 * neighbour that holds it, with a bound on the requests outstanding per
 * neighbour.  A peer asked for a segment it holds sends its blocks at once,
 * in the order the requests came; its upload link paces them.
 *
 * The source cuts the engine's data (process_data with `from` itself) into
 * segment blocks that it places in its own playback buffer, and serves
 * them like any peer.  docs/streaming.md ("Vanilla") lists the parameters.
 */
#include <crystal/crystal.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

enum { VT_BUFMAP = 16, VT_REQUEST = 17, VT_REFUSE = 18, VT_DATA = 128 };

#define VN_MAX	     64 /* neighbours_max at most */
#define VN_CANDIDATES 32 /* peers known but not (yet) neighbours */
#define VN_WANT_MAX   CR_BUFMAP_MAX
#define VN_BOOT_MAX   256 /* bootstrap peers looked at */


struct vnb {
	cr_addr addr;
	cr_bufmap map;
	bool has_map;
};

struct vreq {
	uint32_t segment;
	bool active;
	cr_addr to;
	int64_t sent_ns;
};

struct vanilla {
	/* parameters */
	size_t nb_min, nb_max;
	int64_t map_ns, req_ns, timeout_ns, startup_ns;
	uint32_t max_req, window;

	struct vnb *nb;
	size_t nnb;
	cr_addr cand[VN_CANDIDATES];
	size_t ncand;

	bool ready; /* the stream and the buffer are set up */
	bool source;
	uint16_t session;
	cr_stream st;
	cr_playbuf *pb;
	struct vreq *req; /* window entries: segment % window */
	cr_timer_id t_map, t_req;
	uint32_t rr; /* rotates ties between neighbours */

	/* the source: stream bytes cut so far, and the block being filled */
	uint64_t pos;
	uint8_t *stage;
	uint32_t staged;

	uint64_t requests, timeouts, served, refused, bad_maps;
};

static const cr_param_def vanilla_params[] = {
	{"neighbours_min", "4",
	 "below this many neighbours, known peers are promoted"},
	{"neighbours_max", "8", "neighbours at most (1 to 64)"},
	{"bufmap_interval_ms", "500", "how often a buffer map goes out"},
	{"request_interval_ms", "100", "how often requests are scheduled"},
	{"max_requests_per_neighbour", "4",
	 "segments asked of one neighbour and not yet arrived, at most"},
	{"request_timeout_ms", "1500",
	 "a segment not complete this long after its request is asked again"},
	{"window", "20", "segments in the playback buffer (2 to 4096)"},
	{"startup_ms", "2000", "buffering before playback starts"},
	{NULL, NULL, NULL},
};

/* --- neighbours ---------------------------------------------------------- */

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
	memset(n, 0, sizeof(*n));
	n->addr = *a;
	return n;
}

/* Requests outstanding to a peer are forgotten, to be asked elsewhere. */
static void forget_requests(struct vanilla *v, const cr_addr *a)
{
	if (!v->req)
		return;
	for (uint32_t i = 0; i < v->window; i++)
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
		struct vnb *n = &v->nb[v->nnb++];
		memset(n, 0, sizeof(*n));
		n->addr = v->cand[0];
		v->cand[0] = v->cand[--v->ncand];
	}
}

/* --- buffer maps --------------------------------------------------------- */

static void announce(cr_peer *p, void *arg)
{
	struct vanilla *v = cr_state(p);
	cr_bufmap mine;
	cr_msg *m;

	(void)arg;
	if (!v->ready)
		return;
	nb_refill(v);
	cr_playbuf_bufmap(v->pb, &mine);
	m = cr_msg_new(p, VT_BUFMAP, v->session, cr_bufmap_size(&mine));
	if (!m)
		return;
	if (cr_bufmap_encode(&mine, cr_msg_payload_mut(m), cr_msg_len(m)) > 0)
		for (size_t i = 0; i < v->nnb; i++)
			cr_send(p, &v->nb[i].addr, m, CR_TCP);
	cr_msg_release(m);
}

/* Playback starts from the newest segment a neighbour holds. */
static void maybe_start(cr_peer *p, struct vanilla *v, const cr_bufmap *bm)
{
	int err;

	if (cr_playbuf_started(v->pb))
		return;
	for (uint32_t i = bm->count; i-- > 0;) {
		if (!cr_bufmap_has(bm, bm->base + i))
			continue;
		err = cr_playbuf_start(v->pb, p, bm->base + i);
		if (err)
			cr_log(p, CR_LOG_WARN, "playback not started: %s",
			       cr_strerror(err));
		else
			cr_log(p, CR_LOG_DEBUG, "playback from segment %u",
			       bm->base + i);
		return;
	}
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
		maybe_start(p, v, &bm);
}

/* --- requests ------------------------------------------------------------ */

static struct vreq *req_of(struct vanilla *v, uint32_t segment)
{
	struct vreq *r = &v->req[segment % v->window];

	return r->active && r->segment == segment ? r : NULL;
}

static uint32_t outstanding(const struct vanilla *v, const cr_addr *a)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < v->window; i++)
		if (v->req[i].active && cr_addr_eq(&v->req[i].to, a))
			k++;
	return k;
}

/* Asks the least loaded neighbour that holds the segment, and counts the
 * request in its load.  false when every holder has
 * max_requests_per_neighbour outstanding. */
static bool ask(cr_peer *p, struct vanilla *v, uint32_t segment,
		uint32_t *load)
{
	size_t best = SIZE_MAX;
	uint32_t be = htonl(segment);
	struct vreq *r;
	cr_msg *m;
	int err;

	for (size_t j = 0; j < v->nnb; j++) {
		size_t i = (j + v->rr) % v->nnb;
		if (!v->nb[i].has_map ||
		    !cr_bufmap_has(&v->nb[i].map, segment) ||
		    load[i] >= v->max_req)
			continue;
		if (best == SIZE_MAX || load[i] < load[best])
			best = i;
	}
	if (best == SIZE_MAX)
		return false;
	v->rr++;
	m = cr_msg_new(p, VT_REQUEST, v->session, 4);
	if (!m)
		return false;
	memcpy(cr_msg_payload_mut(m), &be, 4);
	err = cr_send(p, &v->nb[best].addr, m, CR_TCP);
	cr_msg_release(m);
	if (err)
		return false;
	r = &v->req[segment % v->window];
	r->segment = segment;
	r->active = true;
	r->to = v->nb[best].addr;
	r->sent_ns = cr_now(p);
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
	uint32_t load[VN_MAX];
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
	for (uint32_t i = 0; i < v->window; i++) {
		struct vreq *r = &v->req[i];
		if (!r->active)
			continue;
		if (r->segment < next || cr_playbuf_has(v->pb, r->segment)) {
			r->active = false;
		} else if (now - r->sent_ns >= v->timeout_ns) {
			r->active = false;
			v->timeouts++;
		}
	}
	for (size_t i = 0; i < v->nnb; i++) {
		maps[i] = v->nb[i].has_map ? &v->nb[i].map : NULL;
		load[i] = outstanding(v, &v->nb[i].addr);
	}
	cr_playbuf_bufmap(v->pb, &mine);
	n = cr_bufmap_rarest(&mine, maps, v->nnb, next, want, VN_WANT_MAX);
	if (n <= 0)
		return;
	/* Deadline first: the (at most two) segments due within two segment
	 * times, earliest first; then the others, rarest first. */
	urgent_end = next;
	while (urgent_end - next < 2 &&
	       cr_playbuf_deadline(v->pb, urgent_end) - now <
		       2 * v->st.segment_ns)
		urgent_end++;
	for (uint32_t s = next; s < urgent_end; s++)
		if (listed(want, n, s) && !req_of(v, s))
			ask(p, v, s, load);
	for (int k = 0; k < n; k++)
		if (want[k] >= urgent_end && !req_of(v, want[k]))
			ask(p, v, want[k], load);
}

/* A neighbour asks for a segment: send its blocks, if it is held. */
static void serve(cr_peer *p, struct vanilla *v, const cr_addr *to,
		  const cr_msg *m)
{
	uint32_t segment, be, size;

	if (cr_msg_len(m) != 4) {
		cr_log(p, CR_LOG_WARN, "malformed request (%zu bytes) ignored",
		       cr_msg_len(m));
		return;
	}
	memcpy(&be, cr_msg_payload(m), 4);
	segment = ntohl(be);
	if (!v->ready || !cr_playbuf_data(v->pb, segment)) {
		v->refused++;
		return;
	}
	size = cr_playbuf_segment_size(v->pb, segment);
	for (uint32_t off = 0; off < size; off += v->st.block_bytes) {
		uint32_t len = size - off;
		cr_msg *d;

		if (len > v->st.block_bytes)
			len = v->st.block_bytes;
		/* the stream's last block goes out marked CR_SEG_END */
		d = cr_playbuf_msg_new(p, v->pb, VT_DATA, segment, off, len);
		if (!d)
			return;
		cr_send(p, to, d, CR_TCP);
		cr_msg_release(d);
	}
	v->served++;
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
	       "timed out %llu, served %llu",
	       v->source ? "source: " : "", (unsigned long long)st.played,
	       (unsigned long long)st.missed,
	       st.played ? (double)(st.first_played_ns - st.start_ns) / 1e9
			 : 0.0,
	       (unsigned long long)v->requests,
	       (unsigned long long)v->timeouts,
	       (unsigned long long)v->served);
}

static void teardown(cr_peer *p, struct vanilla *v)
{
	if (v->t_map)
		cr_timer_cancel(p, v->t_map);
	if (v->t_req)
		cr_timer_cancel(p, v->t_req);
	v->t_map = v->t_req = 0;
	cr_playbuf_free(v->pb);
	v->pb = NULL;
	free(v->req);
	v->req = NULL;
	free(v->stage);
	v->stage = NULL;
	v->ready = false;
}

static int setup(cr_peer *p, struct vanilla *v, uint16_t session, bool source)
{
	cr_session_info info;
	cr_playbuf_config cfg;
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
	v->req = calloc(v->window, sizeof(*v->req));
	v->stage = source ? malloc(v->st.block_bytes) : NULL;
	if (!v->req || (source && !v->stage)) {
		teardown(p, v);
		return -CR_ENOMEM;
	}
	v->session = session;
	v->source = source;
	v->pos = 0;
	v->staged = 0;
	if (source && (err = cr_playbuf_start(v->pb, p, 0))) {
		teardown(p, v);
		return err;
	}
	v->t_map = cr_timer_start(p, 0, v->map_ns, announce, NULL);
	if (!source)
		v->t_req = cr_timer_start(p, v->req_ns, v->req_ns, schedule,
					  NULL);
	v->ready = true;
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
	v->max_req = (uint32_t)param_in(p, "max_requests_per_neighbour", 4, 1,
					CR_BUFMAP_MAX);
	v->timeout_ns =
		param_in(p, "request_timeout_ms", 1500, 1, 3600000) * CR_MS;
	v->window = (uint32_t)param_in(p, "window", 20, 2, CR_BUFMAP_MAX);
	v->startup_ns = param_in(p, "startup_ms", 2000, 0, 3600000) * CR_MS;
	v->nb = calloc(v->nb_max, sizeof(*v->nb));
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
	v->t_map = v->t_req = 0;
	cr_playbuf_stop(v->pb);
	v->ready = false; /* the counts stay for destroy */
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
	struct vreq *r;
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
	nb_add(p, v, from);
	if (!v->ready || !cr_playbuf_started(v->pb))
		return;
	res = cr_playbuf_add_msg(v->pb, m, cr_now(p));
	if (res < 0) {
		cr_log(p, CR_LOG_DEBUG, "data message refused: %s",
		       cr_strerror(res));
		return;
	}
	if (res == CR_PB_COMPLETE &&
	    !cr_seg_hdr_get(cr_msg_payload(m), cr_msg_len(m), &h) &&
	    (r = req_of(v, h.segment)))
		r->active = false;
}

static void vanilla_departed(cr_peer *p, const cr_addr *who)
{
	nb_del(cr_state(p), who);
}

static void vanilla_destroy(cr_peer *p)
{
	struct vanilla *v = cr_state(p);

	log_stats(p, v);
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
};
