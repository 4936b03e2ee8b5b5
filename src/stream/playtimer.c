/* The playback buffer's engine side: the periodic timer that plays it, and
 * arrivals taken straight from data messages.
 *
 * The timer fires at each segment's playback time (a periodic engine timer
 * re-arms from its due time, so it does not drift); all it does is tick
 * the buffer with the engine's clock.  When the worker is late, the tick
 * plays everything that has come due meanwhile (playbuf.c), so late timers
 * cost promptness, never accuracy.
 */
#include "private.h"

/* The session's start, when the configuration did not give an origin:
 * a source that (re)starts moves it. */
static void refresh_origin(cr_playbuf *pb)
{
	cr_session_info info;

	if (pb->origin_from_session &&
	    !cr_session_info_get(pb->peer, pb->cfg.stream.session, &info))
		pb->cfg.origin_ns = info.start_ns;
}

/* What the viewer saw so far goes to the engine: the run's per-second
 * samples and its summary. */
static void report(cr_playbuf *pb)
{
	cr_playback_report r;
	cr_playbuf_stats st;

	cr_playbuf_get_stats(pb, &st);
	r = (cr_playback_report){
		.session = pb->cfg.stream.session,
		.played = st.played,
		.missed = st.missed,
		.first_played_ns = st.first_played_ns,
		.duplicate_bytes = st.duplicate_bytes,
		.buffered = cr_playbuf_buffered(pb),
		.completed = st.completed,
		.latency_sum_ns = st.latency_sum_ns,
	};
	cr_report_playback(pb->peer, &r);
}

static void play_tick(cr_peer *p, void *arg)
{
	cr_playbuf *pb = arg;

	refresh_origin(pb);
	cr_playbuf_tick(pb, cr_now(p));
	if (!pb->stopped)
		report(pb);
}

/* Begins playback at now (read once: the first due time is exact). */
static int start(cr_playbuf *pb, cr_peer *p, uint32_t first_segment,
		 int64_t now)
{
	cr_timer_id t;

	if (pb->begun)
		return -CR_ESTATE;
	/* The timer is due at or after the first playback time (the clock
	 * only moves on between these two calls), so its first tick always
	 * finds the first segment due. */
	t = cr_timer_start(p, pb->cfg.startup_ns, pb->cfg.stream.segment_ns,
			   play_tick, pb);
	if (!t)
		return -CR_ESTATE;
	cr_playbuf_begin(pb, first_segment, now);
	pb->peer = p;
	pb->timer = t;
	pb->origin_from_session = pb->cfg.origin_ns < 0;
	refresh_origin(pb);
	report(pb);
	return 0;
}

int cr_playbuf_start(cr_playbuf *pb, cr_peer *p, uint32_t first_segment)
{
	return start(pb, p, first_segment, cr_now(p));
}

int cr_playbuf_start_at(cr_playbuf *pb, cr_peer *p, uint32_t first_segment,
			int64_t first_due_ns)
{
	int64_t now = cr_now(p);

	if (pb->begun)
		return -CR_ESTATE;
	if (first_due_ns < now)
		return -CR_EINVAL;
	pb->cfg.startup_ns = first_due_ns - now;
	return start(pb, p, first_segment, now);
}

void cr_playbuf_stop(cr_playbuf *pb)
{
	if (pb->timer)
		cr_timer_cancel(pb->peer, pb->timer);
	pb->timer = 0;
	if (pb->begun && !pb->stopped && pb->peer)
		report(pb); /* what this viewer saw, to the end */
	if (pb->begun)
		pb->stopped = true;
}

int cr_playbuf_add_msg(cr_playbuf *pb, const cr_msg *m, int64_t now_ns)
{
	const uint8_t *b = cr_msg_payload(m);
	size_t len = cr_msg_len(m);
	cr_seg_hdr h;

	if (cr_seg_hdr_get(b, len, &h))
		return -CR_EINVAL;
	if (h.session != pb->cfg.stream.session ||
	    cr_msg_session(m) != pb->cfg.stream.session)
		return -CR_EINVAL;
	if (len - CR_SEG_HDR_SIZE > UINT32_MAX)
		return -CR_EINVAL;
	if (h.flags & CR_SEG_END) {
		/* the block that ends the stream says how long its segment is */
		uint64_t end = (uint64_t)h.offset + (len - CR_SEG_HDR_SIZE);
		int err;
		if (end > UINT32_MAX)
			return -CR_EINVAL;
		err = cr_playbuf_end(pb, h.segment, (uint32_t)end);
		if (err)
			return err;
	}
	return cr_playbuf_add(pb, h.segment, h.offset, b + CR_SEG_HDR_SIZE,
			      (uint32_t)(len - CR_SEG_HDR_SIZE), now_ns);
}
