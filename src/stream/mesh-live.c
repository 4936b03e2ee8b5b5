/* Live playback (mesh.h): what every mesh protocol does to play a session
 * the way a live audience does, each segment at the same time at every
 * peer, a fixed delay after the source made it.  So a peer that joins
 * late does not start from the beginning, and peers trade the same
 * segments at the same time.
 */
#include "private.h"

#include <crystal/mesh.h>

int cr_session_stream(cr_peer *p, uint16_t session, cr_stream *out)
{
	cr_session_info info;
	uint32_t block;
	int err;

	err = cr_session_info_get(p, session, &info);
	if (err)
		return err;
	/* a data message carries the segment prefix, then the block */
	block = info.message_size > CR_SEG_HDR_SIZE
			? info.message_size - CR_SEG_HDR_SIZE
			: 0;
	return cr_stream_init(out, session, info.rate_Bps, info.segment_ns,
			      block);
}

int cr_playbuf_start_live(cr_playbuf *pb, cr_peer *p, int64_t delay_ns)
{
	const int64_t seg = pb->cfg.stream.segment_ns;
	cr_session_info info;
	int64_t k, due;

	if (cr_playbuf_started(pb))
		return 0;
	if (cr_session_info_get(p, pb->cfg.stream.session, &info) ||
	    info.start_ns < 0)
		return -CR_EAGAIN;
	/* segment k is whole at the source at start + (k + 1) x seg, and
	 * played delay_ns later: the first k due startup_ns from now */
	k = cr_now(p) + pb->cfg.startup_ns - info.start_ns - delay_ns;
	k = k <= seg ? 0 : (k + seg - 1) / seg - 1;
	if (k > UINT32_MAX)
		return -CR_EINVAL;
	due = info.start_ns + (k + 1) * seg + delay_ns;
	return cr_playbuf_start_at(pb, p, (uint32_t)k, due);
}

int cr_session_playbuf(cr_peer *p, uint16_t session, uint32_t window,
		       int64_t startup_ns, bool keep_data, cr_stream *st,
		       cr_playbuf **pb)
{
	cr_playbuf_config cfg;
	int err;

	*pb = NULL;
	err = cr_session_stream(p, session, st);
	if (err)
		return err;
	cr_playbuf_config_init(&cfg, st);
	cfg.window = window;
	cfg.history = window / 4 ? window / 4 : 1;
	cfg.startup_ns = startup_ns;
	cfg.keep_data = keep_data;
	return cr_playbuf_new(&cfg, pb);
}

int cr_live_role(cr_peer *p, uint16_t session, bool playing,
		 uint16_t current)
{
	cr_session_info info;

	if (playing && current != session) {
		cr_log(p, CR_LOG_WARN, "session %u ignored: playing %u",
		       session, current);
		return -1;
	}
	return !cr_session_info_get(p, session, &info) &&
	       cr_is_self(p, &info.source);
}
