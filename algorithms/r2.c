/* r2: random push with random network coding (Wang and Li, JSAC 2007), on
 * the mesh and coding building blocks.
 *
 * A segment is k coding blocks; peers push random linear combinations of
 * what they hold of a segment (cr_decoder_recode), the source of what it
 * made (cr_encoder).  Whenever its upload link has room (cr_uploader's
 * idle callback) a peer draws a neighbour at random (cr_nbset) and a
 * segment that neighbour lacks and this peer holds more of, most often
 * from the priority region just before the playback point.  Receivers
 * decode progressively, in the callback or on the work pool
 * (decode_on_pool), and tell their neighbours at once when a segment is
 * whole, so that its pushing stops; every second they send a map of the
 * rank they hold of each segment.  Every peer plays segment s
 * playout_delay_ms after the source made it.  docs/r2.md has the design,
 * what R2 says and what is done here, and the parameters.
 */
#include <crystal/crystal.h>

#include "../src/core/bytes.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { RT_MAP = 16, RT_DONE, RT_REFUSE, RT_CODED = 128 };

#define RN_MAX	64 /* neighbours_max at most */
#define RW_MAX	64 /* window at most: slots of segments in flight */
#define MAP_HDR 6  /* base u32, count u16, then a rank byte per segment */
#define NB(v, i) ((struct rnb *)cr_nbset_data(&(v)->nbs, (size_t)(i)))

struct rparams {
	int64_t nb_min, nb_max, src_nb_max, k, window;
	int64_t map_ns, prio_ns, lead_ns, startup_ns, delay_ns, tracker_ns;
	double prio_share;
	bool on_pool;
};

#define P(f, name, def, lo, hi, help)                                        \
	CR_PARAM_INT_AT(struct rparams, f, name, def, lo, hi, help)
#define T(f, name, def, lo, hi, help)                                        \
	CR_PARAM_DURATION_AT(struct rparams, f, name, (def) * 1e6,           \
			     (lo) * 1e6, (hi) * 1e6, help)
static const cr_param_spec r2_params[] = {
	P(nb_min, "neighbours_min", 4, 1, RN_MAX, "below this, more are sought"),
	P(nb_max, "neighbours_max", 8, 1, RN_MAX, "neighbours at most"),
	P(src_nb_max, "source_neighbours_max", 16, 1, RN_MAX, "of the source"),
	P(k, "blocks_per_segment", 32, 1, 255, "coding blocks in a segment"),
	P(window, "window", 20, 2, RW_MAX, "segments in flight"),
	T(map_ns, "bufmap_interval_ms", 1000, 1, 3600000, "buffer map period"),
	T(prio_ns, "priority_ms", 3000, 0, 3600000,
	  "segments due this soon are the priority region"),
	CR_PARAM_DOUBLE_AT(struct rparams, prio_share, "priority_share", 0.9,
			   0, 1, "pushes from the priority region"),
	T(lead_ns, "push_lead_ms", 100, 1, 60000, "upload backlog kept"),
	T(startup_ns, "startup_ms", 2000, 0, 3600000, "buffering, at least"),
	T(delay_ns, "playout_delay_ms", 6000, 0, 3600000,
	  "a segment is played this long after the source made it"),
	T(tracker_ns, "tracker_interval_ms", 2000, 0, 3600000,
	  "the tracker is asked this often when peers lack (0: never)"),
	CR_PARAM_BOOL_AT(struct rparams, on_pool, "decode_on_pool", false,
			 "decode on the work pool, not in the callback"),
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
	bool has_map;
};

/* A segment in flight.  With decode_on_pool, `pend` gathers the blocks
 * that arrive while a work item decodes `work`: the decoder is touched by
 * that item alone until its done. */
struct rseg {
	struct r2 *v;
	uint32_t seg, rank, sent;
	bool used, done, busy;
	int64_t first_ns;
	cr_decoder *d; /* a peer's */
	cr_encoder *e; /* the source's */
	cr_msg **pend, **work;
	uint32_t npend, nwork, wdep; /* wdep: dependent blocks of `work` */
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
	uint8_t *scratch; /* a decoded segment */
	struct rseg slot[RW_MAX];
	cr_timer_id t_map;
	uint64_t recv, dep, redundant, bad, late, lost, replaced, latency_n;
	int64_t latency_ns, dec_ns, code_ns;
};

static int64_t cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * CR_SEC + ts.tv_nsec;
}

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

static struct rseg *slot_of(struct r2 *v, uint32_t s)
{
	struct rseg *g = &v->slot[s % RW_MAX];

	return g->used && g->seg == s ? g : NULL;
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
	for (uint32_t i = 0; i < n; i++) {
		struct rseg *g = slot_of(v, base + i);
		b[MAP_HDR + i] = g ? (uint8_t)g->rank : 0;
	}
	if (to)
		cr_send(p, to, m, CR_TCP);
	for (size_t i = 0; !to && i < cr_nbset_size(&v->nbs); i++)
		cr_send(p, cr_nbset_addr(&v->nbs, i), m, CR_TCP);
	cr_msg_release(m);
}

static void announce(cr_peer *p, void *arg)
{
	struct r2 *v = cr_state(p);

	(void)arg;
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
 * the chances.  The source takes the one it sent fewest blocks of. */
static bool pick(cr_peer *p, struct r2 *v, const struct rnb *n, uint32_t *out)
{
	uint32_t base = live_base(p, v), seen[2] = {0, 0}, best[2] = {0, 0};
	uint32_t fewest = UINT32_MAX;
	int64_t prio_end = cr_now(p) + v->cf.prio_ns;
	cr_rand *r = cr_peer_rand(p);
	int side;

	for (uint32_t s = base; s < base + (uint32_t)v->cf.window; s++) {
		struct rseg *g = slot_of(v, s);
		if (!g || g->busy || g->rank <= nb_rank(n, s))
			continue;
		if (v->source) {
			if (g->sent < fewest)
				fewest = g->sent, *out = s;
			continue;
		}
		side = due(p, v, s) > prio_end;
		if (cr_rand_below(r, ++seen[side]) == 0) /* uniform, in one pass */
			best[side] = s;
	}
	if (v->source)
		return fewest != UINT32_MAX;
	if (!seen[0] && !seen[1])
		return false;
	side = !seen[0] || (seen[1] && cr_rand_unit(r) >= v->cf.prio_share);
	*out = best[side];
	return true;
}

/* The uploader's idle callback: a coded block for a random neighbour. */
static bool push(cr_peer *p, void *arg)
{
	struct r2 *v = arg;
	size_t nn = cr_nbset_size(&v->nbs);
	cr_upload_job j = {.bytes = (uint32_t)cr_coded_len(v->k, v->size)};

	if (!v->ready || !v->live || !nn)
		return false;
	for (size_t tries = 0; tries < nn; tries++) {
		int i = cr_nbset_random(&v->nbs, p);
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
		slot_of(v, s)->sent++;
		return true;
	}
	return false;
}

/* The uploader's turn for a job: the coded block made now, of all the
 * segment holds by now. */
static int up_send(cr_peer *p, const cr_upload_job *j, void *arg)
{
	struct r2 *v = arg;
	struct rseg *g = slot_of(v, (uint32_t)j->key);
	size_t len = cr_coded_len(v->k, v->size);
	uint8_t *coeffs, *payload;
	int64_t t0;
	cr_msg *m;
	int err;
	int i = cr_nbset_find(&v->nbs, &j->to);

	if (!g || g->busy || !g->rank ||
	    (i >= 0 && nb_rank(NB(v, i), g->seg) >= v->k))
		return -CR_ENOENT; /* slid out, busy, or it has it now */
	if (!(m = cr_msg_new(p, RT_CODED, v->session, len)))
		return -CR_ENOMEM;
	cr_coded_put(cr_msg_payload_mut(m), len, v->session, g->seg, v->k,
		     v->size, &coeffs, &payload);
	t0 = cpu_now();
	err = g->e ? cr_encoder_encode(g->e, cr_peer_rand(p), coeffs, payload)
		   : cr_decoder_recode(g->d, cr_peer_rand(p), coeffs, payload);
	v->code_ns += cpu_now() - t0;
	if (!err)
		err = cr_send(p, &j->to, m, CR_TCP);
	cr_msg_release(m);
	return err;
}

/* --- Receiving ----------------------------------------------------------- */

/* A segment reached full rank: into the playback buffer, and every
 * neighbour hears of it. */
static void finish(cr_peer *p, struct r2 *v, struct rseg *g)
{
	uint32_t len = cr_playbuf_segment_size(v->pb, g->seg);
	uint8_t b[4];

	g->done = true;
	v->latency_ns += cr_now(p) - g->first_ns;
	v->latency_n++;
	if (cr_decoder_read(g->d, v->scratch, len) ||
	    cr_playbuf_add(v->pb, g->seg, 0, v->scratch, len, cr_now(p)) < 0)
		cr_log(p, CR_LOG_WARN, "segment %u not kept", g->seg);
	cr__put32(b, g->seg);
	for (size_t i = 0; i < cr_nbset_size(&v->nbs); i++)
		cr_send_copy(p, cr_nbset_addr(&v->nbs, i), RT_DONE, v->session,
			     b, sizeof(b), CR_TCP);
	cr_uploader_pump(&v->up, p); /* more to push now */
}

/* On the pool: the blocks of one work item into the segment's decoder. */
static void decode_work(void *arg)
{
	struct rseg *g = arg;
	cr_coded_hdr h;

	g->wdep = 0;
	for (uint32_t i = 0; i < g->nwork; i++)
		if (cr_coded_get(cr_msg_payload(g->work[i]),
				 cr_msg_len(g->work[i]), &h) ||
		    cr_decoder_add_coded(g->d, &h) != CR_CODE_INNOVATIVE)
			g->wdep++;
}

static void decode_done(cr_peer *p, void *arg, int status);

/* The blocks gathered of a segment go to the pool, one item at a time. */
static void submit(cr_peer *p, struct rseg *g)
{
	cr_msg **t = g->work;

	g->work = g->pend;
	g->nwork = g->npend;
	g->pend = t;
	g->npend = 0;
	g->busy = true;
	if (cr_work_submit(p, decode_work, decode_done, g, NULL))
		decode_done(p, g, -CR_EIO);
}

static void decode_done(cr_peer *p, void *arg, int status)
{
	struct rseg *g = arg;
	struct r2 *v = g->v;

	for (uint32_t i = 0; i < g->nwork; i++)
		cr_msg_release(g->work[i]);
	g->busy = false;
	if (status == -CR_ECANCELED || !g->used || !v->ready)
		return; /* the peer or its session ended meanwhile */
	v->dep += status ? g->nwork : g->wdep;
	g->nwork = 0;
	g->rank = cr_decoder_rank(g->d);
	if (cr_decoder_done(g->d))
		finish(p, v, g);
	else if (g->npend)
		submit(p, g);
	cr_uploader_pump(&v->up, p); /* more to push now */
}

/* The slot for segment s, taken over from the segment it held before
 * (long played) unless that one is still being decoded. */
static struct rseg *slot_take(cr_peer *p, struct r2 *v, uint32_t s)
{
	struct rseg *g = &v->slot[s % RW_MAX];
	int err = 0;

	if (g->used && g->seg == s)
		return g;
	if (g->busy)
		return NULL;
	if (!g->d)
		err = cr_decoder_new(v->k, v->size, &g->d);
	if (!err && !g->pend && (!(g->pend = calloc(v->k, sizeof(cr_msg *))) ||
				 !(g->work = calloc(v->k, sizeof(cr_msg *)))))
		err = -CR_ENOMEM;
	if (err) {
		cr_log(p, CR_LOG_WARN, "no decoder: %s", cr_strerror(err));
		return NULL;
	}
	cr_decoder_reset(g->d);
	for (uint32_t i = 0; i < g->npend; i++)
		cr_msg_release(g->pend[i]);
	*g = (struct rseg){.v = v, .seg = s, .used = true, .d = g->d,
			   .pend = g->pend, .work = g->work,
			   .first_ns = cr_now(p)};
	return g;
}

/* One coded block into its segment's decoder, here or on the pool. */
static void take_block(cr_peer *p, struct r2 *v, struct rseg *g,
		       const cr_addr *from, cr_msg *m, const cr_coded_hdr *h)
{
	uint8_t b[4];
	int64_t t0;
	int r;

	if (g->done) { /* the sender missed the notice: again, to it */
		v->redundant++;
		cr__put32(b, g->seg);
		cr_send_copy(p, from, RT_DONE, v->session, b, 4, CR_TCP);
		return;
	}
	if (v->cf.on_pool && g->npend == v->k) {
		v->dep++; /* more than the segment can use */
		return;
	}
	if (v->cf.on_pool) {
		g->pend[g->npend++] = cr_msg_retain(m);
		if (!g->busy)
			submit(p, g);
		return;
	}
	t0 = cpu_now();
	r = cr_decoder_add_coded(g->d, h);
	v->dec_ns += cpu_now() - t0;
	if (r != CR_CODE_INNOVATIVE) {
		v->dep++;
		return;
	}
	g->rank++;
	if (cr_decoder_done(g->d))
		finish(p, v, g);
	else
		cr_uploader_pump(&v->up, p); /* more to push now */
}

static void on_coded(cr_peer *p, struct r2 *v, const cr_addr *from,
		     cr_msg *m)
{
	uint32_t base = live_base(p, v);
	struct rseg *g;
	cr_coded_hdr h;

	if (cr_coded_get(cr_msg_payload(m), cr_msg_len(m), &h) ||
	    h.session != v->session || h.k != v->k || h.size != v->size) {
		v->bad++;
		cr_log(p, CR_LOG_DEBUG, "malformed coded block refused");
		return;
	}
	v->recv++;
	if (h.segment < base || h.segment - base >= (uint32_t)v->cf.window) {
		v->late++;
		return;
	}
	if ((g = slot_take(p, v, h.segment)))
		take_block(p, v, g, from, m, &h);
	else
		v->late++;
}

/* --- The source ---------------------------------------------------------- */

/* Segments the source made whole, into encoders. */
static void source_load(cr_peer *p, struct r2 *v)
{
	while (cr_playbuf_has(v->pb, v->loaded)) {
		struct rseg *g = &v->slot[v->loaded % RW_MAX];
		uint32_t s = v->loaded++;
		int err = g->e ? 0 : cr_encoder_new(v->k, v->size, &g->e);
		if (!err)
			err = cr_encoder_load(g->e, cr_playbuf_data(v->pb, s),
					      cr_playbuf_segment_size(v->pb, s));
		if (err) {
			cr_log(p, CR_LOG_WARN, "segment %u not coded: %s", s,
			       cr_strerror(err));
			continue;
		}
		*g = (struct rseg){.v = v, .seg = s, .used = true, .done = true,
				   .rank = v->k, .e = g->e};
	}
	cr_uploader_pump(&v->up, p);
}

/* --- Sessions ------------------------------------------------------------ */

static void stop(cr_peer *p, struct r2 *v, bool end)
{
	cr_timer_cancel(p, v->t_map);
	cr_uploader_clear(&v->up, p);
	v->ready = v->live = false;
	for (int i = 0; end && i < RW_MAX; i++) {
		struct rseg *g = &v->slot[i];
		g->used = false;
		if (g->busy)
			continue; /* its done frees nothing: destroy will */
		for (uint32_t j = 0; j < g->npend; j++)
			cr_msg_release(g->pend[j]);
		cr_decoder_free(g->d);
		cr_encoder_free(g->e);
		free(g->pend);
		free(g->work);
		memset(g, 0, sizeof(*g));
	}
	if (!end)
		return;
	cr_playbuf_free(v->pb);
	cr_segmenter_free(&v->sg);
	free(v->scratch);
	v->scratch = NULL;
	v->pb = NULL;
}

static int setup(cr_peer *p, struct r2 *v, uint16_t session, bool source)
{
	/* the window of the playback buffer: the segments in flight, and a
	 * quarter more of history */
	uint32_t w = (uint32_t)v->cf.window + (uint32_t)v->cf.window / 3 + 1;
	int err;

	err = cr_session_playbuf(p, session, w, v->cf.startup_ns, &v->st,
				 &v->pb);
	if (err)
		return err;
	v->k = (uint32_t)v->cf.k;
	v->size = (v->st.segment_bytes + v->k - 1) / v->k;
	if (v->size > CR_CODE_MAX_SIZE)
		return -CR_EINVAL;
	if (!(v->scratch = malloc((size_t)v->k * v->size)))
		return -CR_ENOMEM;
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
	const cr_addr *boot;
	cr_nbset_config nc = {.candidates = 32, .data_size = sizeof(struct rnb)};
	cr_uploader_config uc = {.max_jobs = 64, .send = up_send, .idle = push,
				 .arg = v};
	size_t n;
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
	n = cr_bootstrap_peers(p, &boot);
	cr_nbset_offer(&v->nbs, p, boot, n);
	return 0;
}

static void r2_join(cr_peer *p, uint16_t session)
{
	struct r2 *v = cr_state(p);
	cr_session_info info;

	if (!v->up.q || (v->ready && v->source))
		return; /* the source set up at its first data */
	if (v->ready && v->session != session)
		cr_log(p, CR_LOG_WARN, "session %u ignored: playing %u",
		       session, v->session);
	else
		start(p, v, session, !cr_session_info_get(p, session, &info) &&
					     cr_is_self(p, &info.source));
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

/* The source's own data, cut into blocks; it sets up at the first. */
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
	source_load(p, v);
}

static void r2_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	struct r2 *v = cr_state(p);

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
	if (v->live)
		on_coded(p, v, from, m);
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

	(void)session;
	if (v->up.q)
		v->replaced += cr_nbset_offer(&v->nbs, p, peers, n);
}

static void r2_destroy(cr_peer *p)
{
	struct r2 *v = cr_state(p);
	const struct { const char *name; double n; } sums[] = {
		{"blocks_received", (double)v->recv},
		{"blocks_dependent", (double)v->dep},
		{"blocks_redundant", (double)v->redundant},
		{"blocks_malformed", (double)v->bad},
		{"blocks_late", (double)v->late},
		{"blocks_sent", (double)v->up.sent},
		{"code_cpu_ms", (double)v->code_ns / CR_MS},
		{"neighbours_lost", (double)v->lost},
		{"neighbours_replaced", (double)v->replaced},
		{"tracker_queries", (double)v->nbs.queries},
	};

	/* counts summed over a peer's lives, in peers-final.csv */
	for (size_t i = 0; i < sizeof(sums) / sizeof(sums[0]); i++)
		cr_report_add(p, sums[i].name, sums[i].n);
	if (v->cf.on_pool) /* the pool's, over the peer's lives */
		cr_report_value(p, "decode_cpu_ms",
				(double)cr_work_cpu_ns(p) / CR_MS);
	else
		cr_report_add(p, "decode_cpu_ms", (double)v->dec_ns / CR_MS);
	if (v->latency_n)
		cr_report_value(p, "decode_latency_ms",
				(double)v->latency_ns / CR_MS /
					(double)v->latency_n);
	stop(p, v, true);
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
