/* vanilla: the paper's pull-based mesh, on the mesh building blocks.
 *
 * Each peer keeps a neighbour set (cr_nbset: its bootstrap peers, any peer
 * that contacts it, refilled from candidates and the tracker), tells its
 * neighbours every bufmap_interval_ms which parts of the segments of its
 * window it holds, how long a request would wait at it and its upload
 * rate, and asks them for the parts it lacks: those of the segments due
 * soon earliest first, the rest rarest first.  Each part is asked of one
 * neighbour at a time (cr_reqtab), the one that would deliver it soonest
 * by what it said of itself and what this peer has since asked of it, and
 * only when that is before the part's deadline: a request that could not
 * arrive in time is not sent at all.  A peer asked for a part queues it on
 * its uploader (cr_uploader), which sends earliest deadline first, paced
 * on the link, and answers "busy" for what it could not send in time.
 * Every peer plays segment s playout_delay_ms after the source made it.
 *
 * The source cuts the engine's data into segment blocks (cr_segmenter)
 * that it places in its own playback buffer, and serves them like any
 * peer, but the parts it has sent least first.  docs/streaming.md
 * ("Vanilla") lists the parameters.
 */
#include <crystal/crystal.h>

#include "../src/core/bytes.h"

#include <stdlib.h>
#include <string.h>

enum {
	VT_BUFMAP = 16,
	VT_REQUEST = 17,
	VT_REFUSE = 18,
	VT_BUSY = 19,
	VT_DATA = 128,
};

#define VN_MAX	  64 /* neighbours_max at most */
#define VN_CANDIDATES 32
#define VN_WANT_MAX CR_BUFMAP_MAX
#define MAP_HDR	  8 /* a map's prefix: wait_ms u32, rate_Bps u32 */

struct vparams {
	int64_t nb_min, nb_max, src_nb_max, part_blocks, max_req, window;
	int64_t map_ns, req_ns, timeout_ns, lead_ns, queue_ns, startup_ns;
	int64_t delay_ns, tracker_ns;
};

#define P(f, name, def, lo, hi, help)                                        \
	CR_PARAM_INT_AT(struct vparams, f, name, def, lo, hi, help)
#define T(f, name, def, lo, hi, help)                                        \
	CR_PARAM_DURATION_AT(struct vparams, f, name, (def) * 1e6,           \
			     (lo) * 1e6, (hi) * 1e6, help)
static const cr_param_spec vanilla_params[] = {
	P(nb_min, "neighbours_min", 4, 1, VN_MAX,
	  "below this many neighbours, known peers are promoted"),
	P(nb_max, "neighbours_max", 8, 1, VN_MAX, "neighbours at most"),
	P(src_nb_max, "source_neighbours_max", 32, 1, VN_MAX,
	  "neighbours of the source at most"),
	T(map_ns, "bufmap_interval_ms", 500, 1, 3600000,
	  "how often a buffer map goes out"),
	T(req_ns, "request_interval_ms", 100, 1, 3600000,
	  "how often requests are scheduled"),
	P(part_blocks, "part_blocks", 16, 1, CR_SEG_MAX_BLOCKS,
	  "blocks (data messages) in one request: a segment is asked in parts"),
	P(max_req, "max_requests_per_neighbour", 8, 1, 256,
	  "parts asked of one neighbour and not yet arrived, at most"),
	T(timeout_ns, "request_timeout_ms", 1500, 1, 3600000,
	  "a part not complete this long after its request is asked again"),
	T(lead_ns, "serve_lead_ms", 100, 1, 60000,
	  "upload backlog kept on the link, in time at the upload rate"),
	T(queue_ns, "serve_queue_ms", 1000, 1, 3600000,
	  "requests queued to be served, in time at the upload rate, at most"),
	P(window, "window", 20, 2, CR_BUFMAP_MAX,
	  "segments in the playback buffer"),
	T(startup_ns, "startup_ms", 2000, 0, 3600000,
	  "buffering before a peer's first segment is played, at least"),
	T(delay_ns, "playout_delay_ms", 6000, 0, 3600000,
	  "every peer plays a segment this long after the source made it"),
	T(tracker_ns, "tracker_interval_ms", 2000, 0, 3600000,
	  "below neighbours_min with no candidates, the tracker is asked this "
	  "often (0: never)"),
	{0},
};
#undef P
#undef T

/* What a peer knows of a neighbour (its cr_nbset data). */
struct vnb {
	cr_bufmap map;
	bool has_map;
	uint64_t rate_Bps; /* its upload rate, as it said; 0: unlimited */
	/* when a new request to it would start to be served: its wait as it
	 * said, plus what this peer has asked of it since */
	int64_t free_ns;
	int64_t backoff_ns; /* doubles at each busy, ends at its data */
};

struct vanilla {
	struct vparams cf;
	cr_nbset nbs;
	cr_reqtab rt;
	cr_uploader up;
	cr_segmenter sg; /* the source's */

	bool ready; /* the stream and the buffer are set up */
	bool source;
	uint16_t session;
	cr_stream st;
	cr_playbuf *pb;
	cr_parts parts;
	/* the source: how often each part of its window was queued */
	uint32_t *times, *times_seg;
	cr_timer_id t_map, t_req;
	size_t turn; /* the source: the neighbour it seeds next */

	uint64_t busy_in, busy_out, bad, lost, replaced;
};

static void send_small(cr_peer *p, struct vanilla *v, const cr_addr *to,
		       uint8_t type, const uint8_t *b, size_t len)
{
	cr_msg *m = cr_msg_new(p, type, v->session, len);

	if (!m)
		return;
	if (len)
		memcpy(cr_msg_payload_mut(m), b, len);
	cr_send(p, to, m, CR_TCP);
	cr_msg_release(m);
}

static uint32_t clamp_ms(int64_t ns)
{
	return ns <= 0 ? 0 : ns / CR_MS > UINT32_MAX ? UINT32_MAX
						     : (uint32_t)(ns / CR_MS);
}

/* --- buffer maps --------------------------------------------------------- */

/* Every bufmap_interval_ms: neighbours made up, and to each a map of the
 * parts held, after how long a request would now wait here and this
 * peer's upload rate. */
static void announce(cr_peer *p, void *arg)
{
	struct vanilla *v = cr_state(p);
	uint64_t rate = cr_uploader_rate(&v->up, p);
	cr_bufmap mine;
	uint8_t *b;
	cr_msg *m;

	(void)arg;
	if (!v->ready)
		return;
	v->replaced += cr_nbset_refill(&v->nbs, p);
	if (v->source) /* it seeds, and is asked for nothing */
		cr_bufmap_init(&mine, 0, 0);
	else
		cr_parts_map(&v->parts, v->pb, &mine);
	m = cr_msg_new(p, VT_BUFMAP, v->session,
		       MAP_HDR + cr_bufmap_size(&mine));
	if (!m)
		return;
	b = cr_msg_payload_mut(m);
	cr__put32(b, clamp_ms(cr_uploader_wait_ns(&v->up, p)));
	cr__put32(b + 4, rate > UINT32_MAX ? UINT32_MAX : (uint32_t)rate);
	cr_bufmap_encode(&mine, b + MAP_HDR, cr_msg_len(m) - MAP_HDR);
	for (size_t i = 0; i < cr_nbset_size(&v->nbs); i++)
		cr_send(p, cr_nbset_addr(&v->nbs, i), m, CR_TCP);
	cr_msg_release(m);
}

static void on_bufmap(cr_peer *p, struct vanilla *v, const cr_addr *from,
		      int i, const cr_msg *m)
{
	const uint8_t *b = cr_msg_payload(m);
	struct vnb *n;
	cr_bufmap bm;
	int err;

	if (cr_msg_len(m) < MAP_HDR ||
	    cr_bufmap_decode(b + MAP_HDR, cr_msg_len(m) - MAP_HDR, &bm)) {
		v->bad++;
		cr_log(p, CR_LOG_WARN, "malformed buffer map (%zu bytes) ignored",
		       cr_msg_len(m));
		return;
	}
	if (i < 0) { /* no room: say so, and the sender looks elsewhere */
		send_small(p, v, from, VT_REFUSE, NULL, 0);
		return;
	}
	n = cr_nbset_data(&v->nbs, (size_t)i);
	n->map = bm;
	n->has_map = true;
	n->free_ns = cr_now(p) + (int64_t)cr__get32(b) * CR_MS;
	n->rate_Bps = cr__get32(b + 4);
	/* the session is live: play on the schedule every peer shares */
	if (v->ready && !v->source &&
	    (err = cr_playbuf_start_live(v->pb, p, v->cf.delay_ns)) &&
	    err != -CR_EAGAIN)
		cr_log(p, CR_LOG_WARN, "playback not started: %s",
		       cr_strerror(err));
}

/* --- requests ------------------------------------------------------------ */

/* When neighbour n would have a part here if asked now: after what it has
 * to send first and its own time for the part, with a round trip's
 * margin. */
static int64_t eta(const struct vanilla *v, const struct vnb *n, int64_t now)
{
	int64_t start = n->free_ns > now ? n->free_ns : now;
	int64_t own = n->rate_Bps ? (int64_t)v->parts.part_bytes * CR_SEC /
					    (int64_t)n->rate_Bps
				  : 0;

	return start + own + v->cf.req_ns;
}

/* Asks for a part, of the neighbour holding it that would deliver it
 * soonest, within its share of requests; not at all when none would
 * before the part is played.  The request says when that is. */
static void ask(cr_peer *p, struct vanilla *v, uint64_t key, uint32_t *load)
{
	uint32_t seg = (uint32_t)(key / v->parts.nparts), off, len;
	int64_t now = cr_now(p), by = cr_playbuf_deadline(v->pb, seg), at;
	uint8_t b[16];
	int best = -1;

	if (cr_reqtab_find(&v->rt, key) ||
	    !cr_parts_range(&v->parts, v->pb, key, &off, &len))
		return;
	/* no deeper into a holder's queue than it takes */
	if (by > now + v->cf.queue_ns)
		by = now + v->cf.queue_ns;
	for (size_t i = 0; i < cr_nbset_size(&v->nbs); i++) {
		struct vnb *n = cr_nbset_data(&v->nbs, i);
		if (n->has_map && cr_bufmap_has(&n->map, (uint32_t)key) &&
		    load[i] < v->cf.max_req && (at = eta(v, n, now)) <= by) {
			by = at;
			best = (int)i;
		}
	}
	/* the part is asked again elsewhere timeout_ms after it was due */
	if (best < 0 || cr_reqtab_add(&v->rt, key,
				      cr_nbset_addr(&v->nbs, (size_t)best),
				      now, by - now + v->cf.timeout_ns))
		return;
	cr__put32(b, seg);
	cr__put32(b + 4, off);
	cr__put32(b + 8, len);
	cr__put32(b + 12, clamp_ms(cr_playbuf_deadline(v->pb, seg) - now));
	send_small(p, v, cr_nbset_addr(&v->nbs, (size_t)best), VT_REQUEST, b,
		   sizeof(b));
	((struct vnb *)cr_nbset_data(&v->nbs, (size_t)best))->free_ns =
		by - v->cf.req_ns;
	load[best]++;
}

/* A request timed out: its holder is slower than it said. */
static void timed_out(const cr_req *r, void *arg)
{
	struct vanilla *v = arg;
	int i = cr_nbset_find(&v->nbs, &r->to);

	if (i >= 0)
		((struct vnb *)cr_nbset_data(&v->nbs, (size_t)i))->free_ns =
			r->expires_ns + v->cf.timeout_ns / 2;
}

/* Every request_interval_ms: the parts wanted, asked for.  First those of
 * the segments due within two segment times, earliest first, then the
 * others, rarest first. */
static void schedule(cr_peer *p, void *arg)
{
	struct vanilla *v = cr_state(p);
	const cr_bufmap *maps[VN_MAX];
	uint32_t load[VN_MAX], want[VN_WANT_MAX], next, urgent;
	size_t nn = cr_nbset_size(&v->nbs);
	int64_t now = cr_now(p);
	cr_bufmap mine;
	int n;

	(void)arg;
	if (!v->ready || v->source || !cr_playbuf_started(v->pb))
		return;
	next = cr_playbuf_next_due(v->pb);
	cr_reqtab_expire(&v->rt, now, timed_out, v);
	cr_reqtab_drop_below(&v->rt, cr_parts_key(&v->parts, next, 0));
	for (size_t i = 0; i < nn; i++) {
		struct vnb *nb = cr_nbset_data(&v->nbs, i);
		maps[i] = nb->has_map ? &nb->map : NULL;
		load[i] = (uint32_t)cr_reqtab_count(&v->rt,
						    cr_nbset_addr(&v->nbs, i));
	}
	cr_parts_map(&v->parts, v->pb, &mine);
	n = cr_bufmap_rarest(&mine, maps, nn, next * v->parts.nparts, want,
			     VN_WANT_MAX);
	urgent = next;
	while (urgent - next < 2 &&
	       cr_playbuf_deadline(v->pb, urgent) - now < 2 * v->st.segment_ns)
		urgent++;
	for (int k = 0; k < n; k++)
		if (want[k] < urgent * v->parts.nparts)
			ask(p, v, want[k], load);
	for (int k = 0; k < n; k++)
		if (want[k] >= urgent * v->parts.nparts)
			ask(p, v, want[k], load);
}

/* A holder will not send a part asked of it: the part is asked elsewhere,
 * and of the holder only after the wait it says it has. */
static void on_busy(cr_peer *p, struct vanilla *v, int i, const cr_msg *m)
{
	const uint8_t *b = cr_msg_payload(m);

	if (cr_msg_len(m) != 12) {
		v->bad++;
		return;
	}
	v->busy_in++;
	if (v->ready)
		cr_reqtab_done(&v->rt, cr_parts_key_at(&v->parts, cr__get32(b),
						       cr__get32(b + 4)));
	if (i >= 0) {
		struct vnb *n = cr_nbset_data(&v->nbs, (size_t)i);
		int64_t wait = (int64_t)cr__get32(b + 8) * CR_MS;
		n->backoff_ns = n->backoff_ns ? 2 * n->backoff_ns : v->cf.req_ns;
		if (n->backoff_ns > 4 * CR_SEC)
			n->backoff_ns = 4 * CR_SEC;
		n->free_ns = cr_now(p) + (wait > n->backoff_ns ? wait
							       : n->backoff_ns);
	}
}

/* --- serving ------------------------------------------------------------- */

/* A part asked of this peer will not be sent: the requester hears so at
 * once, with how long a request would now wait here. */
static void busy(cr_peer *p, struct vanilla *v, const cr_addr *to,
		 uint32_t seg, uint32_t off)
{
	uint8_t b[12];

	v->busy_out++;
	cr__put32(b, seg);
	cr__put32(b + 4, off);
	cr__put32(b + 8, clamp_ms(cr_uploader_wait_ns(&v->up, p)));
	send_small(p, v, to, VT_BUSY, b, sizeof(b));
}

static void up_drop(cr_peer *p, const cr_upload_job *j, int why, void *arg)
{
	(void)why;
	busy(p, arg, &j->to, (uint32_t)(j->key >> 32), (uint32_t)j->key);
}

/* The uploader's turn for a part (key: segment << 32 | offset): its
 * blocks, the stream's last one marked CR_SEG_END. */
static int up_send(cr_peer *p, const cr_upload_job *j, void *arg)
{
	struct vanilla *v = arg;
	uint32_t seg = (uint32_t)(j->key >> 32), off = (uint32_t)j->key;
	uint32_t end = off + j->bytes, block = v->st.block_bytes;

	if (!cr_playbuf_has_range(v->pb, seg, off, j->bytes))
		return -CR_ENOENT; /* slid out of the window meanwhile */
	for (; off < end; off += block) {
		cr_msg *d = cr_playbuf_msg_new(
			p, v->pb, VT_DATA, seg, off,
			end - off < block ? end - off : block);
		if (!d)
			return -CR_ENOMEM;
		cr_send(p, &j->to, d, CR_TCP);
		cr_msg_release(d);
	}
	return 0;
}

/* The source: how often it has pushed a part. */
static uint32_t *times_of(struct vanilla *v, uint64_t key)
{
	uint32_t seg = (uint32_t)(key / v->parts.nparts);
	size_t i = key % ((uint64_t)v->cf.window * v->parts.nparts);

	if (v->times_seg[i] != seg) {
		v->times_seg[i] = seg;
		v->times[i] = 0;
	}
	return &v->times[i];
}

/* The source's part to push next: of those it holds, the one it has
 * pushed least (the earliest of those), fewer times than it has
 * neighbours.  False when there is none. */
static bool least_pushed(struct vanilla *v, uint64_t *out)
{
	uint32_t base = cr_playbuf_base(v->pb), least = UINT32_MAX;

	for (uint32_t s = base; s - base < v->cf.window; s++) {
		if (!cr_playbuf_bytes(v->pb, s))
			continue;
		for (uint32_t k = 0; k < v->parts.nparts; k++) {
			uint64_t key = cr_parts_key(&v->parts, s, k);
			uint32_t t = *times_of(v, key);
			if (t < least && t < cr_nbset_size(&v->nbs) &&
			    cr_parts_held(&v->parts, v->pb, key)) {
				least = t;
				*out = key;
			}
		}
	}
	return least != UINT32_MAX;
}

/* The source seeds: whenever its link has room, it pushes the part it
 * has pushed least to the next neighbour in turn that lacks it, so that
 * every part enters the mesh at once, in several places, and the source's
 * upload is never spent twice on one peer before every part went out. */
static bool seed(cr_peer *p, void *arg)
{
	struct vanilla *v = arg;
	size_t nn = cr_nbset_size(&v->nbs);
	cr_upload_job j = {.deadline_ns = cr_now(p) + v->cf.delay_ns};
	uint32_t off, len;
	uint64_t key;

	if (!v->ready || !v->source || !nn || !least_pushed(v, &key))
		return false;
	cr_parts_range(&v->parts, v->pb, key, &off, &len);
	++*times_of(v, key);
	for (size_t k = 0; k < nn; k++) {
		size_t i = v->turn++ % nn;
		struct vnb *n = cr_nbset_data(&v->nbs, i);
		if (n->has_map && cr_bufmap_has(&n->map, (uint32_t)key))
			continue;
		j.to = *cr_nbset_addr(&v->nbs, i);
		j.key = (uint64_t)(key / v->parts.nparts) << 32 | off;
		j.bytes = len;
		return !cr_uploader_push(&v->up, p, &j);
	}
	return true; /* every neighbour has it: the next part */
}

/* A neighbour asks for a part: queued, if it is held and could be sent
 * before the requester plays it; otherwise the requester hears busy. */
static void serve(cr_peer *p, struct vanilla *v, const cr_addr *to,
		  const cr_msg *m)
{
	const uint8_t *b = cr_msg_payload(m);
	uint32_t seg, off, len, size;
	cr_upload_job j = {.to = *to};

	if (cr_msg_len(m) != 16) {
		v->bad++;
		return;
	}
	seg = cr__get32(b);
	off = cr__get32(b + 4);
	len = cr__get32(b + 8);
	/* a requester that has not yet heard where the stream ends may ask
	 * past it: it gets what there is */
	size = v->ready ? cr_playbuf_segment_size(v->pb, seg) : 0;
	if (off < size && len > size - off)
		len = size - off;
	if (!v->ready || off % v->st.block_bytes || !len ||
	    !cr_playbuf_has_range(v->pb, seg, off, len)) {
		busy(p, v, to, seg, off);
		return;
	}
	j.key = (uint64_t)seg << 32 | off;
	j.bytes = len;
	j.deadline_ns = cr_now(p) + (int64_t)cr__get32(b + 12) * CR_MS;
	if (cr_uploader_push(&v->up, p, &j))
		busy(p, v, to, seg, off);
}

/* --- set-up -------------------------------------------------------------- */

/* Counts summed over a peer's sessions and lives, in peers-final.csv. */
static void report(cr_peer *p, struct vanilla *v)
{
	cr_report_add(p, "requests", (double)v->rt.sent);
	cr_report_add(p, "requests_expired", (double)v->rt.expired);
	cr_report_add(p, "busy_received", (double)v->busy_in);
	cr_report_add(p, "parts_served", (double)v->up.sent);
	cr_report_add(p, "parts_late", (double)v->up.late);
	cr_report_add(p, "parts_refused", (double)v->up.refused);
	cr_log(p, CR_LOG_INFO, "requests %llu, timed out %llu, busy %llu; "
	       "served %llu, late %llu, refused %llu",
	       (unsigned long long)v->rt.sent, (unsigned long long)v->rt.expired,
	       (unsigned long long)v->busy_in, (unsigned long long)v->up.sent,
	       (unsigned long long)v->up.late,
	       (unsigned long long)v->up.refused);
	v->rt.sent = v->rt.expired = v->busy_in = 0;
	v->up.sent = v->up.late = v->up.refused = 0;
}

static void stop(cr_peer *p, struct vanilla *v)
{
	if (v->t_map)
		cr_timer_cancel(p, v->t_map);
	if (v->t_req)
		cr_timer_cancel(p, v->t_req);
	v->t_map = v->t_req = 0;
	cr_uploader_clear(&v->up, p);
	v->rt.n = 0;
	v->ready = false;
}

/* The session's stream and playback buffer, and what the source keeps. */
static int setup(cr_peer *p, struct vanilla *v, uint16_t session, bool source)
{
	size_t parts;
	int err;

	cr_playbuf_config cfg;
	err = cr_session_stream(p, session, &v->st);
	if (err)
		return err;
	cr_playbuf_config_init(&cfg, &v->st);
	cfg.window = (uint32_t)v->cf.window;
	cfg.history = cfg.window / 4 ? cfg.window / 4 : 1;
	cfg.startup_ns = v->cf.startup_ns;
	cfg.keep_data = true;
	err = cr_playbuf_new(&cfg, &v->pb);
	if (!err)
		err = cr_parts_init(&v->parts, &v->st,
				    (uint32_t)v->cf.part_blocks, cfg.window);
	if (err || !source)
		return err;
	parts = (size_t)cfg.window * v->parts.nparts;
	v->times = calloc(parts, sizeof(*v->times));
	v->times_seg = malloc(parts * sizeof(*v->times_seg));
	if (!v->times || !v->times_seg)
		return -CR_ENOMEM;
	memset(v->times_seg, 0xff, parts * sizeof(*v->times_seg));
	err = cr_segmenter_init(&v->sg, &v->st);
	if (!err)
		err = cr_nbset_set_max(&v->nbs, (size_t)v->cf.src_nb_max);
	return err ? err : cr_playbuf_start(v->pb, p, 0);
}

static void teardown(cr_peer *p, struct vanilla *v)
{
	stop(p, v);
	cr_playbuf_free(v->pb);
	cr_segmenter_free(&v->sg);
	free(v->times);
	free(v->times_seg);
	v->pb = NULL;
	v->times = v->times_seg = NULL;
}

/* Set up for a session and started: a first map at once, then maps and
 * requests each on a phase of the peer's own, not in step with peers
 * that joined at the same time. */
static int start(cr_peer *p, struct vanilla *v, uint16_t session, bool source)
{
	int64_t phase = (int64_t)cr_rand_below(cr_peer_rand(p), 1u << 30);
	int err;

	if (v->pb)
		teardown(p, v);
	err = setup(p, v, session, source);
	if (err) {
		teardown(p, v);
		cr_log(p, CR_LOG_ERROR, "session %u: %s", session,
		       cr_strerror(err));
		return err;
	}
	v->session = v->nbs.cfg.session = session;
	v->source = source;
	v->ready = true;
	announce(p, NULL);
	v->t_map = cr_timer_start(p, phase % v->cf.map_ns + 1, v->cf.map_ns,
				  announce, NULL);
	if (!source)
		v->t_req = cr_timer_start(p, v->cf.req_ns + phase % v->cf.req_ns,
					  v->cf.req_ns, schedule, NULL);
	return 0;
}

static int vanilla_bootstrap(cr_peer *p)
{
	struct vanilla *v = cr_state(p);
	const cr_addr *boot;
	cr_nbset_config nc = {.candidates = VN_CANDIDATES,
			      .data_size = sizeof(struct vnb)};
	cr_uploader_config uc = {.max_jobs = 512, .send = up_send,
				 .drop = up_drop, .idle = seed, .arg = v};
	int err;

	cr_params_load(p, &v->cf);
	nc.max = (size_t)v->cf.nb_max;
	nc.min = (size_t)(v->cf.nb_min < v->cf.nb_max ? v->cf.nb_min
						      : v->cf.nb_max);
	nc.tracker_interval_ns = v->cf.tracker_ns;
	uc.lead_ns = v->cf.lead_ns;
	uc.queue_ns = v->cf.queue_ns;
	err = cr_nbset_init(&v->nbs, &nc);
	if (!err) /* a request per part asked at most, of every neighbour */
		err = cr_reqtab_init(&v->rt, (size_t)(v->cf.max_req * VN_MAX));
	if (!err)
		err = cr_uploader_init(&v->up, &uc);
	if (err)
		return err;
	/* neighbours_min of them; peers that contact this one fill it up to
	 * neighbours_max */
	cr_nbset_offer(&v->nbs, p, boot, cr_bootstrap_peers(p, &boot));
	return 0;
}

static void vanilla_join(cr_peer *p, uint16_t session)
{
	struct vanilla *v = cr_state(p);
	cr_session_info info;

	if (!v->up.q || (v->ready && v->source))
		return; /* the source set up at its first data */
	if (v->ready && v->session != session) {
		cr_log(p, CR_LOG_WARN, "session %u ignored: playing %u",
		       session, v->session);
		return;
	}
	start(p, v, session,
	      !cr_session_info_get(p, session, &info) &&
		      cr_is_self(p, &info.source));
}

static void vanilla_leave(cr_peer *p, uint16_t session)
{
	struct vanilla *v = cr_state(p);

	if (!v->ready || v->session != session)
		return;
	stop(p, v);
	cr_playbuf_stop(v->pb); /* the counts stay for destroy */
}

/* Any message from a peer makes it a neighbour, if there is room. */
static void vanilla_process(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	struct vanilla *v = cr_state(p);
	int i;

	if (!v->up.q || (v->ready && cr_msg_session(m) != v->session))
		return;
	i = cr_msg_type(m) == VT_REFUSE ? -1 : cr_nbset_add(&v->nbs, p, from);
	switch (cr_msg_type(m)) {
	case VT_BUFMAP:
		on_bufmap(p, v, from, i, m);
		break;
	case VT_REQUEST:
		serve(p, v, from, m);
		break;
	case VT_REFUSE:
		cr_nbset_remove(&v->nbs, from);
		cr_reqtab_forget(&v->rt, from);
		v->replaced += cr_nbset_refill(&v->nbs, p);
		break;
	case VT_BUSY:
		on_busy(p, v, i, m);
		break;
	default:
		cr_log(p, CR_LOG_DEBUG, "message type %u ignored",
		       cr_msg_type(m));
	}
}

static void vanilla_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	struct vanilla *v = cr_state(p);
	cr_seg_hdr h;
	int err, i;

	if (!v->up.q)
		return;
	if (cr_is_self(p, from)) { /* the source's own: set up at the first */
		if ((v->ready || !start(p, v, cr_msg_session(m), true)) &&
		    v->source && cr_msg_session(m) == v->session &&
		    (err = cr_segmenter_to_playbuf(&v->sg, v->pb, m,
						   cr_now(p))))
			cr_log(p, CR_LOG_WARN, "stream data not kept: %s",
			       cr_strerror(err));
		cr_uploader_pump(&v->up, p); /* there may be more to seed */
		return;
	}
	i = cr_nbset_add(&v->nbs, p, from);
	if (i >= 0)
		((struct vnb *)cr_nbset_data(&v->nbs, (size_t)i))->backoff_ns = 0;
	if (v->ready && cr_playbuf_started(v->pb) &&
	    cr_playbuf_add_msg(v->pb, m, cr_now(p)) >= 0 &&
	    !cr_seg_hdr_get(cr_msg_payload(m), cr_msg_len(m), &h)) {
		uint64_t key = cr_parts_key_at(&v->parts, h.segment, h.offset);
		if (cr_parts_held(&v->parts, v->pb, key))
			cr_reqtab_done(&v->rt, key);
	}
}

static void vanilla_departed(cr_peer *p, const cr_addr *who)
{
	struct vanilla *v = cr_state(p);

	if (!v->up.q)
		return;
	v->lost += cr_nbset_find(&v->nbs, who) >= 0;
	cr_nbset_remove(&v->nbs, who);
	cr_reqtab_forget(&v->rt, who);
	cr_uploader_forget(&v->up, who);
}

/* The tracker's answer to the neighbour set's query. */
static void vanilla_tracker(cr_peer *p, uint16_t session,
			    const cr_addr *peers, size_t n)
{
	struct vanilla *v = cr_state(p);

	(void)session;
	if (v->up.q)
		v->replaced += cr_nbset_offer(&v->nbs, p, peers, n);
}

static void vanilla_destroy(cr_peer *p)
{
	struct vanilla *v = cr_state(p);

	report(p, v);
	teardown(p, v);
	cr_report_add(p, "tracker_queries", (double)v->nbs.queries);
	cr_report_add(p, "neighbours_lost", (double)v->lost);
	cr_report_add(p, "neighbours_replaced", (double)v->replaced);
	cr_report_value(p, "neighbours", (double)cr_nbset_size(&v->nbs));
	cr_uploader_free(&v->up, p);
	cr_reqtab_free(&v->rt);
	cr_nbset_free(&v->nbs);
}

const cr_algorithm cr_vanilla_algorithm = {
	.api_version = CR_API_VERSION,
	.name = "vanilla",
	.description = "pull-based mesh: buffer maps, rarest-first requests",
	.state_size = sizeof(struct vanilla),
	.param_specs = vanilla_params,
	.bootstrap = vanilla_bootstrap,
	.join_session = vanilla_join,
	.leave_session = vanilla_leave,
	.process = vanilla_process,
	.process_data = vanilla_data,
	.peer_departed = vanilla_departed,
	.destroy = vanilla_destroy,
	.tracker_peers = vanilla_tracker,
};
