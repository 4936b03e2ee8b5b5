/* vanilla: the paper's pull-based mesh, on the mesh building blocks.
 *
 * A peer keeps neighbours (cr_nbset), tells them every bufmap_interval_ms
 * which parts of its window it holds (cr_parts), how long a request would
 * wait at it and its upload rate, and asks for the parts it lacks: those
 * due soon earliest first, the rest rarest first; each of one neighbour at
 * a time (cr_reqtab), the one that would deliver it soonest (cr_holder),
 * and only if in time.  Asked, a peer queues the part on its uploader
 * (cr_uploader: paced, first come first served), or says "busy" at once.
 * Every peer plays segment s playout_delay_ms after the source made it.
 * The source cuts the stream into blocks (cr_segmenter) and pushes each
 * part to a neighbour that lacks it, the one it pushed least first
 * (cr_seeder); it is asked for nothing.  docs/streaming.md ("Vanilla")
 * has the details and parameters.
 */
#include <crystal/crystal.h>

#include "../src/core/bytes.h"

#include <stdlib.h>
#include <string.h>

enum { VT_BUFMAP = 16, VT_REQUEST, VT_REFUSE, VT_BUSY, VT_DATA = 128 };

#define VN_MAX	  64 /* neighbours_max at most */
#define MAP_HDR	  10 /* a map's prefix: wait_ms u32, rate_Bps u32, nbs u16 */
#define NB(v, i) ((struct vnb *)cr_nbset_data(&(v)->nbs, (size_t)(i)))

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
	P(nb_min, "neighbours_min", 8, 1, VN_MAX, "below this, more are sought"),
	P(nb_max, "neighbours_max", 16, 1, VN_MAX, "neighbours at most"),
	P(src_nb_max, "source_neighbours_max", 32, 1, VN_MAX, "of the source"),
	T(map_ns, "bufmap_interval_ms", 500, 1, 3600000, "buffer map period"),
	T(req_ns, "request_interval_ms", 100, 1, 3600000, "request period"),
	P(part_blocks, "part_blocks", 16, 1, CR_SEG_MAX_BLOCKS,
	  "blocks in a part: segments are asked for in parts"),
	P(max_req, "max_requests_per_neighbour", 8, 1, 256,
	  "parts asked of one neighbour at once"),
	T(timeout_ns, "request_timeout_ms", 1500, 1, 3600000,
	  "a part this late is asked elsewhere"),
	T(lead_ns, "serve_lead_ms", 100, 1, 60000, "upload backlog kept"),
	T(queue_ns, "serve_queue_ms", 1000, 1, 3600000, "serve queue at most"),
	P(window, "window", 20, 2, CR_BUFMAP_MAX, "segments buffered"),
	T(startup_ns, "startup_ms", 2000, 0, 3600000, "buffering, at least"),
	T(delay_ns, "playout_delay_ms", 6000, 0, 3600000,
	  "a segment is played this long after the source made it"),
	T(tracker_ns, "tracker_interval_ms", 2000, 0, 3600000,
	  "the tracker is asked this often when peers lack (0: never)"),
	{0},
};
#undef P
#undef T

/* What a peer knows of a neighbour (its cr_nbset data). */
struct vnb {
	cr_bufmap map;
	bool has_map;
	uint16_t nbs; /* its neighbours, as it said */
	cr_holder h;
};

struct vanilla {
	struct vparams cf;
	cr_nbset nbs;
	cr_reqtab rt;
	cr_uploader up;
	cr_segmenter sg; /* the source's, and */
	cr_seeder seeder;
	bool ready, source; /* ready: the stream and buffer are set up */
	uint16_t session;
	cr_stream st;
	cr_playbuf *pb;
	cr_parts parts;
	cr_timer_id t_map, t_req;
	uint64_t busy_in, busy_out, lost, replaced;
	uint32_t seq;
};

/* How deep a holder's queue may go: serve_queue_ms, but never fewer than
 * three parts at its rate, or a slow holder would idle between one part
 * and the next request. */
static int64_t depth(const struct vanilla *v, uint64_t rate_Bps)
{
	int64_t t = rate_Bps ? 3 * (int64_t)v->parts.part_bytes * CR_SEC /
				       (int64_t)rate_Bps : 0;

	return t > v->cf.queue_ns ? t : v->cf.queue_ns;
}

/* Every bufmap_interval_ms: neighbours made up, and to each a map of the
 * parts held, after this peer's wait and upload rate.  The source's map
 * is empty: it seeds, and is asked for nothing. */
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
	cr_bufmap_init(&mine, 0, 0);
	if (!v->source)
		cr_parts_map(&v->parts, v->pb, &mine);
	m = cr_msg_new(p, VT_BUFMAP, v->session,
		       MAP_HDR + cr_bufmap_size(&mine));
	if (!m)
		return;
	b = cr_msg_payload_mut(m);
	cr__put32(b, (uint32_t)(cr_uploader_wait_ns(&v->up, p) / CR_MS));
	cr__put32(b + 4, rate > UINT32_MAX ? UINT32_MAX : (uint32_t)rate);
	cr__put16(b + 8, (uint16_t)cr_nbset_size(&v->nbs));
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
		cr_log(p, CR_LOG_WARN, "malformed buffer map ignored");
		return;
	}
	if (i < 0) { /* no room: say so, and the sender looks elsewhere */
		cr_send_copy(p, from, VT_REFUSE, v->session, NULL, 0, CR_TCP);
		return;
	}
	n = NB(v, i);
	n->map = bm;
	n->has_map = true;
	n->nbs = cr__get16(b + 8);
	cr_holder_heard(&n->h, cr_now(p), (int64_t)cr__get32(b) * CR_MS,
			cr__get32(b + 4));
	/* the session is live: play on the schedule every peer shares */
	if (v->ready && !v->source &&
	    (err = cr_playbuf_start_live(v->pb, p, v->cf.delay_ns)) &&
	    err != -CR_EAGAIN)
		cr_log(p, CR_LOG_WARN, "playback not started: %s",
		       cr_strerror(err));
}

/* Requests one peer keeps at a holder at once: twice its share of the
 * holder's queue were all the holder's neighbours asking, at least one and
 * at most max_requests_per_neighbour.  Every neighbour hears the same map,
 * and each asking for the whole queue made most requests answers of busy. */
static uint32_t cap(const struct vanilla *v, const struct vnb *n)
{
	uint64_t r = n->h.rate_Bps, c = (uint64_t)v->cf.max_req;

	if (r && n->nbs > 1)
		c = (uint64_t)depth(v, r) * r / CR_SEC / v->parts.part_bytes *
		    2 / n->nbs;
	return c < 1 ? 1 : c > (uint64_t)v->cf.max_req ? (uint32_t)v->cf.max_req
							: (uint32_t)c;
}

/* Asks for a part, of the neighbour holding it that would deliver it
 * soonest, within max_requests_per_neighbour and no deeper into its queue
 * than it takes; not at all when none would before the part is played.
 * The request says when that is. */
static void ask(cr_peer *p, struct vanilla *v, uint64_t key, uint32_t *load)
{
	int64_t now = cr_now(p), due, by, at;
	uint32_t off, len;
	int best = -1;

	if (cr_reqtab_find(&v->rt, key) ||
	    !cr_parts_range(&v->parts, v->pb, key, &off, &len))
		return;
	due = by = cr_playbuf_deadline(v->pb, (uint32_t)(key / v->parts.nparts));
	for (size_t i = 0; i < cr_nbset_size(&v->nbs); i++) {
		struct vnb *n = NB(v, i);
		if (n->has_map && cr_bufmap_has(&n->map, (uint32_t)key) &&
		    load[i] < cap(v, n) &&
		    (at = cr_holder_eta(&n->h, now, len) + v->cf.req_ns) <= by &&
		    at <= now + depth(v, n->h.rate_Bps) + v->cf.req_ns) {
			by = at;
			best = (int)i;
		}
	}
	/* asked again elsewhere timeout_ms after it should have come */
	if (best < 0 || cr_reqtab_add(&v->rt, key,
				      cr_nbset_addr(&v->nbs, (size_t)best),
				      now, by - now + v->cf.timeout_ns))
		return;
	cr_send_item(p, cr_nbset_addr(&v->nbs, (size_t)best), VT_REQUEST,
		     v->session, key, due - now);
	cr_holder_asked(&NB(v, best)->h, now, len);
	load[best]++;
}

/* Every request_interval_ms: the parts wanted, asked for.  First those of
 * the segments due within two segment times, earliest first, then the
 * others, rarest first. */
static void schedule(cr_peer *p, void *arg)
{
	struct vanilla *v = cr_state(p);
	const cr_bufmap *maps[VN_MAX];
	uint32_t load[VN_MAX], want[CR_BUFMAP_MAX], next, urgent;
	size_t nn = cr_nbset_size(&v->nbs);
	int64_t now = cr_now(p);
	cr_bufmap mine;
	int n;

	(void)arg;
	if (!v->ready || v->source || !cr_playbuf_started(v->pb))
		return;
	next = cr_playbuf_next_due(v->pb);
	cr_reqtab_expire(&v->rt, now, NULL, NULL); /* asked elsewhere now */
	cr_reqtab_drop_below(&v->rt, cr_parts_key(&v->parts, next, 0));
	for (size_t i = 0; i < nn; i++) {
		maps[i] = NB(v, i)->has_map ? &NB(v, i)->map : NULL;
		load[i] = (uint32_t)cr_reqtab_count(&v->rt,
						    cr_nbset_addr(&v->nbs, i));
	}
	cr_parts_map(&v->parts, v->pb, &mine);
	n = cr_bufmap_rarest(&mine, maps, nn, next * v->parts.nparts, want,
			     CR_BUFMAP_MAX);
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
 * and of the holder only after its wait or a back-off (cr_holder_busy). */
static void on_busy(cr_peer *p, struct vanilla *v, int i, const cr_msg *m)
{
	int64_t wait;
	uint64_t key;

	if (cr_msg_item(p, m, &key, &wait))
		return;
	v->busy_in++;
	cr_reqtab_done(&v->rt, key);
	if (i >= 0)
		cr_holder_busy(&NB(v, i)->h, cr_now(p), wait, v->cf.req_ns,
			       4 * CR_SEC);
}

/* A part asked of this peer will not be sent: the requester hears so at
 * once, with how long a request would now wait here. */
static void up_drop(cr_peer *p, const cr_upload_job *j, int why, void *arg)
{
	struct vanilla *v = arg;

	(void)why;
	v->busy_out++;
	cr_send_item(p, &j->to, VT_BUSY, v->session, j->key,
		     cr_uploader_wait_ns(&v->up, p));
}

/* The uploader's turn for a part: its blocks, the stream's last one
 * marked CR_SEG_END. */
static int up_send(cr_peer *p, const cr_upload_job *j, void *arg)
{
	struct vanilla *v = arg;
	uint32_t seg = (uint32_t)(j->key / v->parts.nparts), off, len, end;
	uint32_t block = v->st.block_bytes;

	if (!cr_parts_held(&v->parts, v->pb, j->key) ||
	    !cr_parts_range(&v->parts, v->pb, j->key, &off, &len))
		return -CR_ENOENT; /* slid out of the window meanwhile */
	for (end = off + len; off < end; off += block) {
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

/* The source seeds: whenever its link has room, it pushes the part it has
 * pushed least (cr_seeder) to the next neighbour that lacks it, so that
 * every part enters the mesh at once, and none twice before all once. */
static bool seed(cr_peer *p, void *arg)
{
	struct vanilla *v = arg;
	size_t nn = cr_nbset_size(&v->nbs);
	cr_upload_job j = {.deadline_ns = cr_now(p) + v->cf.delay_ns};
	uint32_t off;

	if (!v->ready || !v->source || !nn ||
	    !cr_seeder_next(&v->seeder, &v->parts, v->pb, (uint32_t)nn,
			    &j.key))
		return false;
	cr_parts_range(&v->parts, v->pb, j.key, &off, &j.bytes);
	cr_seeder_pushed(&v->seeder, &v->parts, j.key);
	for (size_t k = 0; k < nn; k++) {
		size_t i = v->seeder.turn++ % nn;
		if (NB(v, i)->has_map &&
		    cr_bufmap_has(&NB(v, i)->map, (uint32_t)j.key))
			continue;
		j.to = *cr_nbset_addr(&v->nbs, i);
		return !cr_uploader_push(&v->up, p, &j);
	}
	return true; /* every neighbour has it: the next part */
}

/* A neighbour asks for a part: queued, if it is held and could be sent
 * before the requester plays it; otherwise the requester hears busy.
 * First come, first served (a job's rank is its number), the wait a holder
 * announces: earliest deadline first starved the fresh parts (streaming.md). */
static void serve(cr_peer *p, struct vanilla *v, const cr_addr *to,
		  const cr_msg *m)
{
	cr_upload_job j = {.to = *to};
	int64_t until;
	uint32_t off;

	if (cr_msg_item(p, m, &j.key, &until))
		return;
	j.deadline_ns = cr_now(p) + until;
	j.rank = v->seq++;
	if (!v->ready || !cr_parts_held(&v->parts, v->pb, j.key) ||
	    !cr_parts_range(&v->parts, v->pb, j.key, &off, &j.bytes) ||
	    cr_uploader_push(&v->up, p, &j))
		up_drop(p, &j, 0, v);
}

/* The session stops (its buffer kept for its counts), or ends (freed). */
static void stop(cr_peer *p, struct vanilla *v, bool end)
{
	cr_timer_cancel(p, v->t_map);
	cr_timer_cancel(p, v->t_req);
	cr_uploader_clear(&v->up, p);
	cr_reqtab_drop_below(&v->rt, UINT64_MAX);
	v->ready = false;
	if (!end)
		return;
	cr_playbuf_free(v->pb);
	cr_segmenter_free(&v->sg);
	cr_seeder_free(&v->seeder);
	v->pb = NULL;
}

/* The session's stream and playback buffer, and the source's blocks. */
static int setup(cr_peer *p, struct vanilla *v, uint16_t session, bool source)
{
	uint32_t window = (uint32_t)v->cf.window;
	int err;

	err = cr_session_playbuf(p, session, window, v->cf.startup_ns, true,
				 &v->st, &v->pb);
	if (!err)
		err = cr_parts_init(&v->parts, &v->st,
				    (uint32_t)v->cf.part_blocks, window);
	v->up.cfg.queue_ns = depth(v, cr_uploader_rate(&v->up, p));
	if (err || !source)
		return err;
	err = cr_seeder_init(&v->seeder, (size_t)window * v->parts.nparts);
	if (!err)
		err = cr_segmenter_init(&v->sg, &v->st);
	if (!err)
		err = cr_nbset_set_max(&v->nbs, (size_t)v->cf.src_nb_max);
	return err ? err : cr_playbuf_start(v->pb, p, 0);
}

/* Set up for a session: a map at once, then maps and requests on a phase
 * of the peer's own, not in step with the peers that joined with it. */
static int start(cr_peer *p, struct vanilla *v, uint16_t session, bool source)
{
	int64_t phase = (int64_t)cr_rand_below(cr_peer_rand(p), 1u << 30);
	int err;

	stop(p, v, true);
	err = setup(p, v, session, source);
	if (err) {
		stop(p, v, true);
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
	cr_nbset_config nc = {.candidates = 32, .data_size = sizeof(struct vnb)};
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
	/* neighbours_min; the peers that contact it fill neighbours_max */
	cr_nbset_offer_bootstrap(&v->nbs, p);
	return 0;
}

static void vanilla_join(cr_peer *p, uint16_t session)
{
	struct vanilla *v = cr_state(p);
	int role;

	/* the source set up at its first data */
	if (v->up.q && !(v->ready && v->source) &&
	    (role = cr_live_role(p, session, v->ready, v->session)) >= 0)
		start(p, v, session, role);
}

static void vanilla_leave(cr_peer *p, uint16_t session)
{
	struct vanilla *v = cr_state(p);

	if (!v->ready || v->session != session)
		return;
	stop(p, v, false);
	cr_playbuf_stop(v->pb); /* the counts stay for destroy */
}

/* Any message from a peer makes it a neighbour, if there is room. */
static void vanilla_process(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	struct vanilla *v = cr_state(p);
	int i;

	if (!v->up.q || (v->ready && cr_msg_session(m) != v->session))
		return;
	if (cr_msg_type(m) == VT_REFUSE) { /* it is full: look elsewhere */
		cr_nbset_remove(&v->nbs, from);
		cr_reqtab_forget(&v->rt, from);
		v->replaced += cr_nbset_refill(&v->nbs, p);
		return;
	}
	i = cr_nbset_add(&v->nbs, p, from);
	if (cr_msg_type(m) == VT_BUFMAP)
		on_bufmap(p, v, from, i, m);
	else if (cr_msg_type(m) == VT_REQUEST)
		serve(p, v, from, m);
	else if (cr_msg_type(m) == VT_BUSY)
		on_busy(p, v, i, m);
}

/* The source's own data, cut into blocks; it sets up at the first. */
static void source_data(cr_peer *p, struct vanilla *v, cr_msg *m)
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
	cr_uploader_pump(&v->up, p); /* there may be more to seed */
}

static void vanilla_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	struct vanilla *v = cr_state(p);
	cr_seg_hdr h;
	uint64_t key;
	int i;

	if (!v->up.q)
		return;
	if (cr_is_self(p, from)) {
		source_data(p, v, m);
		return;
	}
	if ((i = cr_nbset_add(&v->nbs, p, from)) >= 0)
		cr_holder_delivered(&NB(v, i)->h);
	if (!v->ready || !cr_playbuf_started(v->pb) ||
	    cr_playbuf_add_msg(v->pb, m, cr_now(p)) < 0 ||
	    cr_seg_hdr_get(cr_msg_payload(m), cr_msg_len(m), &h))
		return;
	key = cr_parts_key_at(&v->parts, h.segment, h.offset);
	if (cr_parts_held(&v->parts, v->pb, key))
		cr_reqtab_done(&v->rt, key);
}

static void vanilla_departed(cr_peer *p, const cr_addr *who)
{
	struct vanilla *v = cr_state(p);
	int was;

	if (!v->up.q)
		return;
	was = cr_nbset_depart(&v->nbs, p, who); /* a candidate replaces it */
	v->lost += was > 0;
	v->replaced += was > 1;
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

	/* summed over a peer's lives, in peers-final.csv */
	cr_report_add(p, "requests", (double)v->rt.sent);
	cr_report_add(p, "requests_expired", (double)v->rt.expired);
	cr_report_add(p, "busy_received", (double)v->busy_in);
	cr_report_add(p, "parts_served", (double)v->up.sent);
	cr_report_add(p, "parts_late", (double)v->up.late);
	cr_report_add(p, "busy_sent", (double)v->busy_out);
	stop(p, v, true);
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
