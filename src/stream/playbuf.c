/* The playback buffer: a peer's window of segments of one session.
 *
 * Segments sit in a circular array, segment k in slot k % window, each with
 * a count of the distinct bytes held and a bitmap of the blocks held (one
 * bit per data message's worth), so that duplicates are told apart exactly
 * without keeping byte ranges.  The window is [base, base + window): the
 * last `history` segments played, the next one due, and those after it.
 *
 * Time enters only as arguments: cr_playbuf_begin fixes the playback time
 * of the first segment, and from it every segment's deadline follows
 * (first + i plays i segment times later).  cr_playbuf_tick plays what is
 * due, and cr_playbuf_add plays what is due before it looks at the
 * arrival.  So the accounting is exact whatever the timer's lateness, and
 * the tests can drive it on a made-up timeline.  playtimer.c adds the
 * engine timer that ticks it.
 */
#include "../core/pages.h"
#include "private.h"

#include <stdlib.h>
#include <string.h>

static int64_t due_of(const struct cr_playbuf *pb, uint64_t seg)
{
	__int128 t = (__int128)pb->play0_ns +
		     ((__int128)seg - (__int128)pb->first) *
			     pb->cfg.stream.segment_ns;

	if (t > INT64_MAX)
		return INT64_MAX;
	if (t < INT64_MIN)
		return INT64_MIN;
	return (int64_t)t;
}

static struct cr__pb_slot *slot_of(const struct cr_playbuf *pb, uint64_t seg)
{
	return &pb->slots[seg % pb->cfg.window];
}

static uint64_t *bits_of(const struct cr_playbuf *pb, uint64_t seg)
{
	return pb->bits + (seg % pb->cfg.window) * pb->words;
}

static size_t data_bytes(const struct cr_playbuf *pb)
{
	return (size_t)pb->cfg.window * pb->cfg.stream.segment_bytes;
}

static uint8_t *data_of(const struct cr_playbuf *pb, uint64_t seg)
{
	return pb->data + (seg % pb->cfg.window) * pb->cfg.stream.segment_bytes;
}

static bool in_window(const struct cr_playbuf *pb, uint64_t seg)
{
	return pb->begun && seg >= pb->base && seg < pb->base + pb->cfg.window;
}

static uint32_t seg_size(const struct cr_playbuf *pb, uint64_t seg)
{
	return pb->ended && seg == pb->end_seg ? pb->end_len
					       : pb->cfg.stream.segment_bytes;
}

static bool complete(const struct cr_playbuf *pb, uint64_t seg)
{
	return slot_of(pb, seg)->got_bytes == seg_size(pb, seg);
}

/* Is [offset, offset + len) a block range of segment seg as this buffer
 * knows it (the last segment of an ended stream may end mid-block)? */
static bool range_ok(const struct cr_playbuf *pb, uint64_t seg,
		     uint32_t offset, uint32_t len)
{
	const cr_stream *st = &pb->cfg.stream;
	uint64_t end = (uint64_t)offset + len;
	uint32_t size = seg_size(pb, seg);

	if (pb->ended && seg > pb->end_seg)
		return false;
	return len && offset % st->block_bytes == 0 && end <= size &&
	       (end % st->block_bytes == 0 || end == size);
}

void cr_playbuf_config_init(cr_playbuf_config *cfg, const cr_stream *st)
{
	*cfg = (cr_playbuf_config){
		.stream = *st,
		.window = CR_PLAYBUF_DEFAULT_WINDOW,
		.history = CR_PLAYBUF_DEFAULT_HISTORY,
		.startup_ns = CR_PLAYBUF_DEFAULT_STARTUP_NS,
		.origin_ns = -1,
	};
}

int cr_playbuf_new(const cr_playbuf_config *cfg, cr_playbuf **out)
{
	const cr_stream *s = &cfg->stream;
	struct cr_playbuf *pb;
	cr_stream st;

	/* The derived fields are recomputed rather than trusted: a stream
	 * filled in by hand must not size the buffers wrongly. */
	if (cr_stream_init(&st, s->session, s->rate_Bps, s->segment_ns,
			   s->block_bytes))
		return -CR_EINVAL;
	if (!cfg->window || cfg->window > CR_BUFMAP_MAX ||
	    cfg->history >= cfg->window || cfg->startup_ns < 0)
		return -CR_EINVAL;
	pb = calloc(1, sizeof(*pb));
	if (!pb)
		return -CR_ENOMEM;
	pb->cfg = *cfg;
	pb->cfg.stream = st;
	pb->words = (st.blocks + 63) / 64;
	pb->slots = calloc(cfg->window, sizeof(*pb->slots));
	pb->bits = calloc((size_t)cfg->window * pb->words, sizeof(*pb->bits));
	if (!pb->slots || !pb->bits)
		goto out_free;
	if (cfg->keep_data) {
		/* mapped: it lives as long as its peer (core/pages.c) */
		pb->data = cr__pages_alloc(data_bytes(pb));
		if (!pb->data)
			goto out_free;
	}
	pb->st.start_ns = -1;
	pb->st.first_played_ns = -1;
	*out = pb;
	return 0;

out_free:
	free(pb->bits);
	free(pb->slots);
	free(pb);
	return -CR_ENOMEM;
}

void cr_playbuf_free(cr_playbuf *pb)
{
	if (!pb)
		return;
	cr_playbuf_stop(pb);
	cr__pages_free(pb->data, data_bytes(pb));
	free(pb->bits);
	free(pb->slots);
	free(pb);
}

int cr_playbuf_begin(cr_playbuf *pb, uint32_t first_segment, int64_t now_ns)
{
	if (pb->begun)
		return -CR_ESTATE;
	pb->begun = true;
	pb->first = pb->next = pb->base = first_segment;
	pb->play0_ns = now_ns > INT64_MAX - pb->cfg.startup_ns
			       ? INT64_MAX
			       : now_ns + pb->cfg.startup_ns;
	pb->next_due_ns = pb->play0_ns;
	pb->st.start_ns = now_ns;
	return 0;
}

static void slot_clear(struct cr_playbuf *pb, uint64_t seg)
{
	struct cr__pb_slot *s = slot_of(pb, seg);

	if (!s->got_bytes)
		return;
	memset(bits_of(pb, seg), 0, pb->words * sizeof(uint64_t));
	s->got_bytes = 0;
}

/* Plays the segment due: counts it, tells the algorithm, slides. */
static void play_one(struct cr_playbuf *pb)
{
	uint64_t seg = pb->next;
	bool played = complete(pb, seg);
	const cr_playbuf_config *c = &pb->cfg;

	if (played) {
		pb->st.played++;
		if (pb->st.first_played_ns < 0)
			pb->st.first_played_ns = pb->next_due_ns;
	} else {
		pb->st.missed++;
	}
	if (pb->peer) /* started on a peer: its troubleshooting log */
		cr_log(pb->peer, CR_LOG_DEBUG, "segment %llu %s",
		       (unsigned long long)seg, played ? "played" : "missed");
	pb->next++;
	pb->next_due_ns = due_of(pb, pb->next);
	/* before the slide, so that the data is still there */
	if (played && pb->data && pb->peer) /* what its viewer sees */
		cr_play_out(pb->peer, c->stream.session, data_of(pb, seg),
			    seg_size(pb, seg));
	if (c->on_segment)
		c->on_segment(pb, (uint32_t)seg, played,
			      played && pb->data ? data_of(pb, seg) : NULL,
			      played ? seg_size(pb, seg) : 0, c->arg);
	if (pb->next - pb->base > c->history) {
		slot_clear(pb, pb->base);
		pb->base++;
	}
}

int cr_playbuf_tick(cr_playbuf *pb, int64_t now_ns)
{
	int n = 0;

	if (!pb->begun || pb->stopped)
		return 0;
	/* One pass per segment of the stream's whole life, whatever the
	 * jumps in time: the cost is bounded by the segments there are.
	 * Segment numbers end at 2^32 - 1. */
	while (pb->next_due_ns <= now_ns && pb->next <= UINT32_MAX &&
	       !pb->stopped && !(pb->ended && pb->next > pb->end_seg)) {
		play_one(pb);
		if (n < INT32_MAX)
			n++;
	}
	return n;
}

int cr_playbuf_add(cr_playbuf *pb, uint32_t segment, uint32_t offset,
		   const void *data, uint32_t len, int64_t now_ns)
{
	const cr_stream *st = &pb->cfg.stream;
	uint32_t fresh = 0, b, bend;
	struct cr__pb_slot *s;
	uint64_t *bits;
	bool late;

	if (!pb->begun || pb->stopped)
		return -CR_ESTATE;
	if (!range_ok(pb, segment, offset, len) || (pb->data && !data))
		return -CR_EINVAL;
	cr_playbuf_tick(pb, now_ns);
	if (segment < pb->base) {
		pb->st.late_bytes += len;
		return CR_PB_LATE;
	}
	if (segment >= pb->base + pb->cfg.window) {
		pb->st.ahead_bytes += len;
		return CR_PB_AHEAD;
	}
	late = segment < pb->next;
	s = slot_of(pb, segment);
	bits = bits_of(pb, segment);
	bend = (uint32_t)(((uint64_t)offset + len + st->block_bytes - 1) /
			  st->block_bytes);
	for (b = offset / st->block_bytes; b < bend; b++) {
		uint64_t mask = 1ull << (b % 64);
		uint32_t at = b * st->block_bytes;
		uint32_t size = seg_size(pb, segment);
		uint32_t blen = size - at < st->block_bytes ? size - at
							    : st->block_bytes;

		if (bits[b / 64] & mask) {
			pb->st.duplicate_bytes += blen;
			continue;
		}
		bits[b / 64] |= mask;
		s->got_bytes += blen;
		fresh += blen;
		if (pb->data)
			memcpy(data_of(pb, segment) + at,
			       (const uint8_t *)data + (at - offset), blen);
	}
	if (!fresh)
		return CR_PB_DUPLICATE;
	if (late) {
		pb->st.late_bytes += fresh;
		return CR_PB_LATE;
	}
	pb->st.received_bytes += fresh;
	if (s->got_bytes != seg_size(pb, segment))
		return CR_PB_NEW;
	if (pb->cfg.origin_ns >= 0) {
		/* whole at the source at origin + (segment + 1) x segment */
		int64_t whole = pb->cfg.origin_ns +
				((int64_t)segment + 1) * st->segment_ns;
		int64_t lat = now_ns > whole ? now_ns - whole : 0;
		pb->st.completed++;
		pb->st.latency_sum_ns += lat;
		if (lat > pb->st.latency_max_ns)
			pb->st.latency_max_ns = lat;
	}
	return CR_PB_COMPLETE;
}

bool cr_playbuf_started(const cr_playbuf *pb)
{
	return pb->begun;
}

uint32_t cr_playbuf_next_due(const cr_playbuf *pb)
{
	if (!pb->begun)
		return 0;
	return pb->next > UINT32_MAX ? UINT32_MAX : (uint32_t)pb->next;
}

uint32_t cr_playbuf_base(const cr_playbuf *pb)
{
	if (!pb->begun)
		return 0;
	return pb->base > UINT32_MAX ? UINT32_MAX : (uint32_t)pb->base;
}

int64_t cr_playbuf_deadline(const cr_playbuf *pb, uint32_t segment)
{
	return pb->begun ? due_of(pb, segment) : INT64_MAX;
}

bool cr_playbuf_has(const cr_playbuf *pb, uint32_t segment)
{
	return in_window(pb, segment) && complete(pb, segment);
}

bool cr_playbuf_has_range(const cr_playbuf *pb, uint32_t segment,
			  uint32_t offset, uint32_t len)
{
	const uint32_t bb = pb->cfg.stream.block_bytes;
	uint64_t end = (uint64_t)offset + len;
	const uint64_t *bits;

	if (!len || !in_window(pb, segment) || end > seg_size(pb, segment) ||
	    (pb->ended && segment > pb->end_seg))
		return false;
	bits = bits_of(pb, segment);
	for (uint64_t b = offset / bb; b < (end + bb - 1) / bb; b++)
		if (!(bits[b / 64] & (1ull << (b % 64))))
			return false;
	return true;
}

uint32_t cr_playbuf_bytes(const cr_playbuf *pb, uint32_t segment)
{
	return in_window(pb, segment) ? slot_of(pb, segment)->got_bytes : 0;
}

const void *cr_playbuf_data(const cr_playbuf *pb, uint32_t segment)
{
	if (!pb->data || !cr_playbuf_has(pb, segment))
		return NULL;
	return data_of(pb, segment);
}

void cr_playbuf_bufmap(const cr_playbuf *pb, cr_bufmap *out)
{
	uint64_t count = pb->cfg.window;

	if (!pb->begun || pb->base > UINT32_MAX) {
		cr_bufmap_init(out, cr_playbuf_base(pb), 0);
		return;
	}
	/* the window may reach past the last segment number there is */
	if (pb->base + count > (uint64_t)UINT32_MAX + 1)
		count = (uint64_t)UINT32_MAX + 1 - pb->base;
	cr_bufmap_init(out, (uint32_t)pb->base, (uint32_t)count);
	for (uint64_t k = pb->base; k < pb->base + count; k++)
		if (complete(pb, k))
			cr_bufmap_set(out, (uint32_t)k);
}

const cr_stream *cr_playbuf_stream(const cr_playbuf *pb)
{
	return &pb->cfg.stream;
}

uint32_t cr_playbuf_buffered(const cr_playbuf *pb)
{
	uint32_t n = 0;

	if (!pb->begun)
		return 0;
	for (uint64_t k = pb->next; k < pb->base + pb->cfg.window; k++) {
		if (pb->ended && k > pb->end_seg)
			break;
		n += complete(pb, k);
	}
	return n;
}

int cr_playbuf_end(cr_playbuf *pb, uint32_t segment, uint32_t len)
{
	if (!len || len > pb->cfg.stream.segment_bytes)
		return -CR_EINVAL;
	if (pb->ended)
		return pb->end_seg == segment && pb->end_len == len
			       ? 0
			       : -CR_EINVAL;
	/* nothing held may lie past the end */
	if (in_window(pb, segment)) {
		if (slot_of(pb, segment)->got_bytes > len)
			return -CR_EINVAL;
		for (uint64_t k = (uint64_t)segment + 1;
		     k < pb->base + pb->cfg.window; k++)
			if (slot_of(pb, k)->got_bytes)
				return -CR_EINVAL;
	}
	pb->ended = true;
	pb->end_seg = segment;
	pb->end_len = len;
	return 0;
}

bool cr_playbuf_ended(const cr_playbuf *pb, uint32_t *segment)
{
	if (pb->ended && segment)
		*segment = (uint32_t)pb->end_seg;
	return pb->ended;
}

uint32_t cr_playbuf_segment_size(const cr_playbuf *pb, uint32_t segment)
{
	if (pb->ended && segment > pb->end_seg)
		return 0;
	return seg_size(pb, segment);
}

cr_msg *cr_playbuf_msg_new(cr_peer *p, const cr_playbuf *pb, uint8_t type,
			   uint32_t segment, uint32_t offset, uint32_t len)
{
	const cr_stream *st = &pb->cfg.stream;
	const uint64_t *bits;
	cr_seg_hdr h = {.session = st->session,
			.segment = segment,
			.offset = offset};
	uint8_t *b;
	cr_msg *m;

	if (type < CR_MSG_DATA_MIN || !pb->data || !in_window(pb, segment) ||
	    !range_ok(pb, segment, offset, len))
		return NULL;
	bits = bits_of(pb, segment);
	for (uint32_t k = offset / st->block_bytes;
	     k < (uint32_t)(((uint64_t)offset + len + st->block_bytes - 1) /
			    st->block_bytes);
	     k++)
		if (!(bits[k / 64] & (1ull << (k % 64))))
			return NULL;
	if (pb->ended && segment == pb->end_seg && offset + len == pb->end_len)
		h.flags = CR_SEG_END;
	m = cr_msg_new(p, type, st->session, CR_SEG_HDR_SIZE + (size_t)len);
	if (!m)
		return NULL;
	b = cr_msg_payload_mut(m);
	cr_seg_hdr_put(b, CR_SEG_HDR_SIZE, &h);
	memcpy(b + CR_SEG_HDR_SIZE, data_of(pb, segment) + offset, len);
	return m;
}

void cr_playbuf_set_origin(cr_playbuf *pb, int64_t origin_ns)
{
	pb->cfg.origin_ns = origin_ns;
}

void cr_playbuf_get_stats(const cr_playbuf *pb, cr_playbuf_stats *out)
{
	*out = pb->st;
}
