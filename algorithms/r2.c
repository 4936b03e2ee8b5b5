/* r2: random push with random network coding (Wang and Li, JSAC 2007), on
 * the mesh and coding building blocks.
 *
 * A segment is k coding blocks; the segments in flight are a coding
 * window (cr_codewin: the source's encoders, a peer's decoders, decoding
 * in the callback or on the work pool with decode_on_pool).  Whenever its
 * upload link has room (cr_uploader's idle callback) a peer draws a
 * neighbour at random (cr_nbset) and a segment that neighbour lacks and
 * this peer holds more of, most often from the priority region just
 * before the playback point, and pushes a random combination of what it
 * holds of it.  A peer tells its neighbours at once when a segment is
 * whole, so that its pushing stops, and every second sends a map of the
 * rank it holds of each.  Every peer plays segment s playout_delay_ms
 * after the source made it.  docs/r2.md has the design and parameters.
 */
#include <crystal/crystal.h>

#include "../src/core/bytes.h"

enum { RT_MAP = 16, RT_DONE, RT_REFUSE, RT_CODED = 128 };

#define RN_MAX	64 /* neighbours_max at most */
#define RW_MAX	64 /* window at most: slots of segments in flight */
#define MAP_HDR 6  /* base u32, count u16, then a rank byte per segment */
#define NB(v, i) ((struct rnb *)cr_nbset_data(&(v)->nbs, (size_t)(i)))

struct rparams {
	int64_t nb_min, nb_max, src_nb_max, k, window;
	int64_t map_ns, prio_ns, lead_ns, startup_ns, delay_ns, tracker_ns;
	double prio_share;
	bool on_pool, sticky;
};

#define P(f, name, def, lo, hi, help)                                        \
	CR_PARAM_INT_AT(struct rparams, f, name, def, lo, hi, help)
#define T(f, name, def, lo, hi, help)                                        \
	CR_PARAM_DURATION_AT(struct rparams, f, name, (def) * 1e6,           \
			     (lo) * 1e6, (hi) * 1e6, help)
static const cr_param_spec r2_params[] = {
	P(nb_min, "neighbours_min", 6, 1, RN_MAX, "below this, more are sought"),
	P(nb_max, "neighbours_max", 12, 1, RN_MAX, "neighbours at most"),
	P(src_nb_max, "source_neighbours_max", 16, 1, RN_MAX, "of the source"),
	P(k, "blocks_per_segment", 32, 1, 255, "coding blocks in a segment"),
	P(window, "window", 20, 2, RW_MAX, "segments in flight"),
	T(map_ns, "bufmap_interval_ms", 1000, 1, 3600000, "buffer map period"),
	T(prio_ns, "priority_ms", 3000, 0, 3600000,
	  "segments due this soon are the priority region"),
	CR_PARAM_DOUBLE_AT(struct rparams, prio_share, "priority_share", 0.9,
			   0, 1, "pushes from the priority region"),
	T(lead_ns, "push_lead_ms", 40, 1, 60000, "upload backlog kept"),
	T(startup_ns, "startup_ms", 2000, 0, 3600000, "buffering, at least"),
	T(delay_ns, "playout_delay_ms", 6000, 0, 3600000,
	  "a segment is played this long after the source made it"),
	T(tracker_ns, "tracker_interval_ms", 2000, 0, 3600000,
	  "the tracker is asked this often when peers lack (0: never)"),
	CR_PARAM_BOOL_AT(struct rparams, on_pool, "decode_on_pool", false,
			 "decode on the work pool, not in the callback"),
	CR_PARAM_BOOL_AT(struct rparams, sticky, "sticky", true,
			 "push a neighbour the segment pushed it last"),
	{0},
};
#undef P
#undef T

/* What a peer knows of a neighbour: the rank it holds of each segment in
 * flight (slot s % RW_MAX), from its map, its notices and what this peer
 * pushed it since. */
struct rnb {
	uint32_t seg[RW_MAX];
	uint8_t rank[RW_MAX];
	uint32_t cur[2]; /* 1 + the segment pushed last, by region; 0: none */
	bool has_map;
};

struct r2 {
	struct rparams cf;
	cr_nbset nbs;
	cr_uploader up;
	cr_segmenter sg;
	bool ready, source, live;
	uint16_t session;
	uint32_t k, size, loaded;
	cr_stream st;
	cr_playbuf *pb;
	int64_t origin_ns;
	cr_codewin cw;	  /* the segments in flight: slot s % RW_MAX */
	cr_codewin_stats sum; /* its counts over the sessions before */
	uint32_t sent[RW_MAX]; /* the source's blocks queued, by slot */
	cr_timer_id t_map;
	uint64_t lost, replaced;
};

static uint8_t nb_rank(const struct rnb *n, uint32_t s)
{
	return n->seg[s % RW_MAX] == s ? n->rank[s % RW_MAX] : 0;
}

static void nb_set(struct rnb *n, uint32_t s, uint32_t rank)
{
	n->seg[s % RW_MAX] = s;
	n->rank[s % RW_MAX] = (uint8_t)(rank < 255 ? rank : 255);
}

/* When every peer plays segment s (the schedule of cr_playbuf_start_live);
 * INT64_MAX while the session's start is unknown. */
static int64_t due(cr_peer *p, struct r2 *v, uint32_t s)
{
	cr_session_info info;

	if (v->origin_ns < 0 && !cr_session_info_get(p, v->session, &info))
		v->origin_ns = info.start_ns;
	if (v->origin_ns < 0)
		return INT64_MAX;
	return v->origin_ns + ((int64_t)s + 1) * v->st.segment_ns +
	       v->cf.delay_ns;
}

/* The first segment still in flight: a peer's next due, the source's
 * first whose time has not passed. */
static uint32_t live_base(cr_peer *p, struct r2 *v)
{
	uint32_t s = v->loaded > (uint32_t)v->cf.window
			     ? v->loaded - (uint32_t)v->cf.window : 0;

	if (!v->source)
		return cr_playbuf_next_due(v->pb);
	while (s < v->loaded && due(p, v, s) <= cr_now(p))
		s++;
	return s;
}

/* Sends a map of ranks (k: decoded) of the segments in flight to one
 * neighbour, or to all (to NULL). */
static void announce_to(cr_peer *p, struct r2 *v, const cr_addr *to)
{
	uint32_t base = v->live ? live_base(p, v) : 0;
	uint32_t n = v->live ? (uint32_t)v->cf.window : 0;
	cr_msg *m = cr_msg_new(p, RT_MAP, v->session, MAP_HDR + n);
	uint8_t *b;

	if (!m)
		return;
	b = cr_msg_payload_mut(m);
	cr__put32(b, base);
	b[4] = (uint8_t)(n >> 8);
	b[5] = (uint8_t)n;
	for (uint32_t i = 0; i < n; i++)
		b[MAP_HDR + i] = (uint8_t)cr_codewin_rank(&v->cw, base + i);
	for (size_t i = 0; i < (to ? 1 : cr_nbset_size(&v->nbs)); i++)
		cr_send(p, to ? to : cr_nbset_addr(&v->nbs, i), m, CR_TCP);
	cr_msg_release(m);
}

static void announce(cr_peer *p, void *arg)
{
	struct r2 *v = cr_state(p);

	if (!v->ready)
		return;
	v->replaced += cr_nbset_refill(&v->nbs, p);
	announce_to(p, v, NULL);
}

/* A peer plays on the schedule every peer shares, once the session's
 * start is known; from then on segments are in flight. */
static void try_live(cr_peer *p, struct r2 *v)
{
	int err;

	if (v->live || !v->ready || v->source)
		return;
	err = cr_playbuf_start_live(v->pb, p, v->cf.delay_ns);
	if (!err)
		v->live = true;
	else if (err != -CR_EAGAIN)
		cr_log(p, CR_LOG_WARN, "playback not started: %s",
		       cr_strerror(err));
}

static void on_map(cr_peer *p, struct r2 *v, int i, const cr_msg *m)
{
	const uint8_t *b = cr_msg_payload(m);
	size_t len = cr_msg_len(m);
	uint32_t base, n;
	struct rnb *nb;

	if (len < MAP_HDR || (n = (uint32_t)b[4] << 8 | b[5]) != len - MAP_HDR ||
	    n > RW_MAX) {
		cr_log(p, CR_LOG_WARN, "malformed buffer map ignored");
		return;
	}
	try_live(p, v);
	if (i < 0)
		return;
	nb = NB(v, i);
	nb->has_map = true;
	base = cr__get32(b);
	for (uint32_t j = 0; j < n; j++)
		nb_set(nb, base + j, b[MAP_HDR + j] > v->k ? v->k
							   : b[MAP_HDR + j]);
}

/* --- Pushing ------------------------------------------------------------- */

/* A segment to push to neighbour n: one it lacks, of which this peer holds
 * more than n is known to (so that a combination of it is news to n), and
 * whose decoder is free; in the priority region with priority_share of
 * the chances; with `sticky`, the one pushed to n last there while it
 * qualifies (n's segments fill one by one, not all a little).  The source
 * takes the one it sent fewest blocks of. */
static bool pick(cr_peer *p, struct r2 *v, struct rnb *n, uint32_t *out)
{
	uint32_t base = live_base(p, v), seen[2] = {0, 0}, best[2] = {0, 0};
	uint32_t fewest = UINT32_MAX;
	int64_t prio_end = cr_now(p) + v->cf.prio_ns;
	cr_rand *r = cr_peer_rand(p);
	bool keep[2] = {false, false};
	int side;

	for (uint32_t s = base; s < base + (uint32_t)v->cf.window; s++) {
		if (cr_codewin_busy(&v->cw, s) ||
		    cr_codewin_rank(&v->cw, s) <= nb_rank(n, s))
			continue;
		if (v->source) {
			if (v->sent[s % RW_MAX] < fewest)
				fewest = v->sent[s % RW_MAX], *out = s;
			continue;
		}
		side = due(p, v, s) > prio_end;
		keep[side] |= n->cur[side] == s + 1;
		if (cr_rand_below(r, ++seen[side]) == 0) /* uniform, in one pass */
			best[side] = s;
	}
	if (v->source)
		return fewest != UINT32_MAX;
	if (!seen[0] && !seen[1])
		return false;
	side = !seen[0] || (seen[1] && cr_rand_unit(r) >= v->cf.prio_share);
	*out = v->cf.sticky && keep[side] ? n->cur[side] - 1 : best[side];
	n->cur[side] = *out + 1;
	return true;
}

/* The uploader's idle callback: a coded block for a random neighbour, each
 * tried once from a random one on, so that the link idles only when none
 * lacks what this peer holds. */
static bool push(cr_peer *p, void *arg)
{
	struct r2 *v = arg;
	size_t nn = cr_nbset_size(&v->nbs), first;
	cr_upload_job j = {.bytes = (uint32_t)cr_coded_len(v->k, v->size)};

	if (!v->ready || !v->live || !nn)
		return false;
	first = cr_rand_below(cr_peer_rand(p), (uint32_t)nn);
	for (size_t tries = 0; tries < nn; tries++) {
		int i = (int)((first + tries) % nn);
		struct rnb *n = NB(v, i);
		uint32_t s = 0;
		if (!n->has_map || !pick(p, v, n, &s))
			continue;
		j.to = *cr_nbset_addr(&v->nbs, (size_t)i);
		j.key = s;
		j.deadline_ns = due(p, v, s);
		if (cr_uploader_push(&v->up, p, &j))
			continue; /* too late for it: another */
		nb_set(n, s, nb_rank(n, s) + 1u); /* what n will hold */
		v->sent[s % RW_MAX]++;
		return true;
	}
	return false;
}

/* The uploader's turn for a job: the coded block made now, of all the
 * segment holds by now. */
static int up_send(cr_peer *p, const cr_upload_job *j, void *arg)
{
	struct r2 *v = arg;
	uint32_t s = (uint32_t)j->key;
	size_t len = cr_coded_len(v->k, v->size);
	int i = cr_nbset_find(&v->nbs, &j->to);
	cr_msg *m;
	int err;

	if (i >= 0 && nb_rank(NB(v, i), s) >= v->k)
		return -CR_ENOENT; /* it has it now */
	if (!(m = cr_msg_new(p, RT_CODED, v->session, len)))
		return -CR_ENOMEM;
	err = cr_codewin_code(&v->cw, cr_peer_rand(p), s, cr_msg_payload_mut(m),
			      len); /* -CR_ENOENT, -CR_ESTATE: slid out, busy */
	if (err >= 0)
		err = cr_send(p, &j->to, m, CR_TCP);
	cr_msg_release(m);
	return err;
}

/* --- Receiving ----------------------------------------------------------- */

/* Tells one neighbour (or all, to NULL) that segment s is whole here. */
static void send_done(cr_peer *p, struct r2 *v, const cr_addr *to, uint32_t s)
{
	size_t n = to ? 1 : cr_nbset_size(&v->nbs);
	uint8_t b[4];

	cr__put32(b, s);
	for (size_t i = 0; i < n; i++)
		cr_send_copy(p, to ? to : cr_nbset_addr(&v->nbs, i), RT_DONE,
			     v->session, b, sizeof(b), CR_TCP);
}

/* The window's word that the rank of segment s grew (or that its decode on
 * the pool ended): more to push now; at full rank, the segment into the
 * playback buffer, and every neighbour hears of it. */
static void on_rank(cr_peer *p, uint32_t s, uint32_t rank, bool done,
		    void *arg)
{
	struct r2 *v = arg;

	if (!v->ready)
		return; /* the session ended meanwhile */
	if (done) {
		const uint8_t *d = cr_codewin_data(&v->cw, s);
		if (!d || cr_playbuf_add(v->pb, s, 0, d,
					 cr_playbuf_segment_size(v->pb, s),
					 cr_now(p)) < 0)
			cr_log(p, CR_LOG_WARN, "segment %u not kept", s);
		send_done(p, v, NULL, s);
	}
	cr_uploader_pump(&v->up, p);
}

/* --- Sessions ------------------------------------------------------------ */

static void stop(cr_peer *p, struct r2 *v, bool end)
{
	cr_timer_cancel(p, v->t_map);
	cr_uploader_clear(&v->up, p);
	v->ready = v->live = false;
	if (!end)
		return;
	cr_codewin_stats_add(&v->sum, &v->cw.stats);
	cr_codewin_free(&v->cw); /* a slot busy on the pool: its done frees */
	cr_playbuf_free(v->pb);
	cr_segmenter_free(&v->sg);
	v->pb = NULL;
}

static int setup(cr_peer *p, struct r2 *v, uint16_t session, bool source)
{
	/* the window of the playback buffer: the segments in flight, and a
	 * quarter more of history */
	uint32_t w = (uint32_t)v->cf.window + (uint32_t)v->cf.window / 3 + 1;
	int err;

	err = cr_session_playbuf(p, session, w, v->cf.startup_ns,
				 source || cr_plays_out(p), &v->st, &v->pb);
	if (err)
		return err;
	v->k = (uint32_t)v->cf.k;
	v->size = (v->st.segment_bytes + v->k - 1) / v->k;
	err = cr_codewin_init(&v->cw, &(cr_codewin_config){
		.session = session, .k = v->k, .size = v->size,
		.window = (uint32_t)v->cf.window, .slots = w, /* as the buffer */
		.on_pool = v->cf.on_pool, .progress = on_rank, .arg = v});
	if (err)
		return err;
	v->origin_ns = -1;
	v->loaded = 0;
	if (!source)
		return 0;
	err = cr_segmenter_init(&v->sg, &v->st);
	if (!err)
		err = cr_nbset_set_max(&v->nbs, (size_t)v->cf.src_nb_max);
	return err ? err : cr_playbuf_start(v->pb, p, 0);
}

/* Set up for a session: a map at once, then maps on a phase of the peer's
 * own. */
static int start(cr_peer *p, struct r2 *v, uint16_t session, bool source)
{
	int64_t phase = (int64_t)cr_rand_below(cr_peer_rand(p), 1u << 30);
	int err;

	stop(p, v, true);
	v->session = v->nbs.cfg.session = session;
	err = setup(p, v, session, source);
	if (err) {
		stop(p, v, true);
		cr_log(p, CR_LOG_ERROR, "session %u: %s", session,
		       cr_strerror(err));
		return err;
	}
	v->source = v->live = source;
	v->ready = true;
	try_live(p, v);
	announce(p, NULL);
	v->t_map = cr_timer_start(p, phase % v->cf.map_ns + 1, v->cf.map_ns,
				  announce, NULL);
	return 0;
}

static int r2_bootstrap(cr_peer *p)
{
	struct r2 *v = cr_state(p);
	cr_nbset_config nc = {.candidates = 32, .data_size = sizeof(struct rnb)};
	cr_uploader_config uc = {.max_jobs = 64, .send = up_send, .idle = push,
				 .arg = v};
	int err;

	cr_params_load(p, &v->cf);
	nc.max = (size_t)v->cf.nb_max;
	nc.min = (size_t)(v->cf.nb_min < v->cf.nb_max ? v->cf.nb_min
						      : v->cf.nb_max);
	nc.tracker_interval_ns = v->cf.tracker_ns;
	uc.lead_ns = v->cf.lead_ns;
	err = cr_nbset_init(&v->nbs, &nc);
	if (!err)
		err = cr_uploader_init(&v->up, &uc);
	if (err)
		return err;
	cr_nbset_offer_bootstrap(&v->nbs, p);
	return 0;
}

static void r2_join(cr_peer *p, uint16_t session)
{
	struct r2 *v = cr_state(p);
	int role;

	/* the source set up at its first data */
	if (v->up.q && !(v->ready && v->source) &&
	    (role = cr_live_role(p, session, v->ready, v->session)) >= 0)
		start(p, v, session, role);
}

static void r2_leave(cr_peer *p, uint16_t session)
{
	struct r2 *v = cr_state(p);

	if (!v->ready || v->session != session)
		return;
	stop(p, v, false);
	cr_playbuf_stop(v->pb); /* the counts stay for destroy */
}

/* Any message from a peer makes it a neighbour, if there is room; a peer
 * that has none says so. */
static void r2_process(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	struct r2 *v = cr_state(p);
	bool fresh;
	int i;

	if (!v->up.q || (v->ready && cr_msg_session(m) != v->session))
		return;
	if (cr_msg_type(m) == RT_REFUSE) { /* it is full: look elsewhere */
		cr_nbset_remove(&v->nbs, from);
		v->replaced += cr_nbset_refill(&v->nbs, p);
		return;
	}
	fresh = cr_nbset_find(&v->nbs, from) < 0;
	i = cr_nbset_add(&v->nbs, p, from);
	if (i < 0 && cr_msg_type(m) == RT_MAP)
		cr_send_copy(p, from, RT_REFUSE, cr_msg_session(m), NULL, 0,
			     CR_TCP);
	if (cr_msg_type(m) == RT_MAP) {
		on_map(p, v, i, m);
		if (i >= 0 && fresh && v->ready) /* it learns of us at once */
			announce_to(p, v, from);
	} else if (cr_msg_type(m) == RT_DONE && i >= 0 &&
		   cr_msg_len(m) == 4) { /* it decoded a segment */
		nb_set(NB(v, i), cr__get32(cr_msg_payload(m)), v->k);
	}
	if (v->ready)
		cr_uploader_pump(&v->up, p);
}

/* The source's own data, cut into blocks (it sets up at the first), and
 * the segments it made whole into encoders. */
static void source_data(cr_peer *p, struct r2 *v, cr_msg *m)
{
	int err;

	if (!v->ready && start(p, v, cr_msg_session(m), true))
		return;
	if (!v->source || cr_msg_session(m) != v->session)
		return;
	err = cr_segmenter_to_playbuf(&v->sg, v->pb, m, cr_now(p));
	if (err)
		cr_log(p, CR_LOG_WARN, "stream data not kept: %s",
		       cr_strerror(err));
	while (cr_playbuf_has(v->pb, v->loaded)) {
		uint32_t s = v->loaded++;
		err = cr_codewin_load(&v->cw, s, cr_playbuf_data(v->pb, s),
				      cr_playbuf_segment_size(v->pb, s));
		v->sent[s % RW_MAX] = 0;
		if (err)
			cr_log(p, CR_LOG_WARN, "segment %u not coded: %s", s,
			       cr_strerror(err));
	}
	cr_uploader_pump(&v->up, p);
}

/* A coded block from a neighbour into the window, decoded here or on the
 * pool. */
static void r2_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	struct r2 *v = cr_state(p);
	uint32_t s = 0;
	int r;

	if (!v->up.q)
		return;
	if (cr_is_self(p, from)) {
		source_data(p, v, m);
		return;
	}
	cr_nbset_add(&v->nbs, p, from);
	if (!v->ready || v->source || cr_msg_type(m) != RT_CODED)
		return;
	try_live(p, v);
	if (!v->live)
		return;
	cr_codewin_slide(&v->cw, live_base(p, v)); /* what is late */
	r = cr_codewin_put(&v->cw, p, m, &s);
	if (r == -CR_EINVAL)
		cr_log(p, CR_LOG_DEBUG, "malformed coded block refused");
	else if (r < 0)
		cr_log(p, CR_LOG_WARN, "no decoder: %s", cr_strerror(r));
	else if (r == CR_CODEWIN_REDUNDANT) /* it missed the notice: again */
		send_done(p, v, from, s);
}

static void r2_departed(cr_peer *p, const cr_addr *who)
{
	struct r2 *v = cr_state(p);

	if (!v->up.q)
		return;
	v->lost += cr_nbset_find(&v->nbs, who) >= 0;
	cr_nbset_remove(&v->nbs, who);
	cr_uploader_forget(&v->up, who);
	if (v->ready)
		v->replaced += cr_nbset_refill(&v->nbs, p);
}

static void r2_tracker(cr_peer *p, uint16_t session, const cr_addr *peers,
		       size_t n)
{
	struct r2 *v = cr_state(p);

	if (v->up.q)
		v->replaced += cr_nbset_offer(&v->nbs, p, peers, n);
}

static void r2_destroy(cr_peer *p)
{
	struct r2 *v = cr_state(p);
	const cr_codewin_stats *w = &v->sum;

	stop(p, v, true); /* the window's counts into v->sum, summed over the
			   * peer's lives and reported in peers-final.csv */
	const struct { const char *name; double n; } sums[] = {
		{"blocks_received", (double)w->received},
		{"blocks_dependent", (double)w->dependent},
		{"blocks_redundant", (double)w->redundant},
		{"blocks_malformed", (double)w->malformed},
		{"blocks_late", (double)w->late},
		{"blocks_sent", (double)v->up.sent},
		{"code_cpu_ms", (double)w->code_ns / CR_MS},
		{"decode_cpu_ms", (double)w->decode_ns / CR_MS},
		{"neighbours_lost", (double)v->lost},
		{"neighbours_replaced", (double)v->replaced},
		{"tracker_queries", (double)v->nbs.queries},
	};
	for (size_t i = 0; i < sizeof(sums) / sizeof(sums[0]); i++)
		cr_report_add(p, sums[i].name, sums[i].n);
	if (w->decoded)
		cr_report_value(p, "decode_latency_ms",
				(double)w->latency_ns / CR_MS /
					(double)w->decoded);
	cr_uploader_free(&v->up, p);
	cr_nbset_free(&v->nbs);
}

const cr_algorithm cr_r2_algorithm = {
	.api_version = CR_API_VERSION,
	.name = "r2",
	.description = "random push of network-coded segments (R2)",
	.state_size = sizeof(struct r2),
	.param_specs = r2_params,
	.bootstrap = r2_bootstrap,
	.join_session = r2_join,
	.leave_session = r2_leave,
	.process = r2_process,
	.process_data = r2_data,
	.peer_departed = r2_departed,
	.destroy = r2_destroy,
	.tracker_peers = r2_tracker,
};
