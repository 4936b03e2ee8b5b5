/* Streaming building blocks (src/stream/).
 *
 * Segments: the stream layout and its limits, cutting a stream into
 * messages, the data message prefix byte for byte.  The playback buffer on
 * a made-up timeline: on time against missed, the exact deadline, late
 * segments never played, duplicates counted block by block, the window's
 * history and slide, every class of bad arrival, kept data, and a long
 * random run against a plain model that never wraps (many windows' worth
 * of segments).  Buffer maps: the encoding byte for byte, round trips,
 * every class of malformed map, random garbage, the missing and
 * rarest-first helpers on hand-computed cases.  Last, the playback timer
 * through a real node: a source cuts its output into segments and a peer
 * plays them, in order and intact.
 */
#include "../src/core/log.h"
#include "../src/engine/node.h"
#include "../src/scenario/chains.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* xorshift: reproducible randomness for the long runs */
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint32_t rnd_below(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

/* --- segments ------------------------------------------------------------- */

static void stream_layout(void **state)
{
	cr_stream st;

	/* defaults: 1 s segments, 1012-byte blocks */
	assert_int_equal(cr_stream_init(&st, 7, 100000, 0, 0), 0);
	assert_int_equal(st.session, 7);
	assert_true(st.segment_ns == CR_SEC);
	assert_int_equal(st.block_bytes, 1012);
	assert_int_equal(st.segment_bytes, 100000);
	assert_int_equal(st.blocks, 99); /* 98 x 1012 = 99176, then 824 */

	/* bytes/s x duration, rounded down */
	assert_int_equal(cr_stream_init(&st, 1, 1000, 1500 * CR_MS, 300), 0);
	assert_int_equal(st.segment_bytes, 1500);
	assert_int_equal(st.blocks, 5);
	assert_int_equal(cr_stream_init(&st, 1, 3, 500 * CR_MS, 1), 0);
	assert_int_equal(st.segment_bytes, 1);

	/* limits */
	assert_int_equal(cr_stream_init(&st, 1, 0, 0, 0), -CR_EINVAL);
	assert_int_equal(cr_stream_init(&st, 1, 1000, -1, 0), -CR_EINVAL);
	assert_int_equal(cr_stream_init(&st, 1, 1000, CR_SEG_MAX_NS + 1, 0),
			 -CR_EINVAL);
	assert_int_equal(cr_stream_init(&st, 1, 1000, CR_SEG_MAX_NS, 0), 0);
	/* under one byte a segment */
	assert_int_equal(cr_stream_init(&st, 1, 1, CR_MS, 0), -CR_EINVAL);
	/* offsets are 32 bits: 4 GiB - 1 at most */
	assert_int_equal(cr_stream_init(&st, 1, 4294967295ull, CR_SEC, 1 << 16),
			 0);
	assert_int_equal(st.segment_bytes, UINT32_MAX);
	assert_int_equal(st.blocks, 1 << 16);
	assert_int_equal(cr_stream_init(&st, 1, 4294967296ull, CR_SEC, 1 << 16),
			 -CR_EINVAL);
	/* 128-bit product: no wrap to something small */
	assert_int_equal(cr_stream_init(&st, 1, UINT64_MAX, CR_SEG_MAX_NS, 0),
			 -CR_EINVAL);
	/* too many blocks for the bitmaps */
	assert_int_equal(cr_stream_init(&st, 1, CR_SEG_MAX_BLOCKS, CR_SEC, 1),
			 0);
	assert_int_equal(
		cr_stream_init(&st, 1, CR_SEG_MAX_BLOCKS + 1, CR_SEC, 1),
		-CR_EINVAL);
	assert_int_equal(cr_stream_init(NULL, 1, 1000, 0, 0), -CR_EINVAL);
}

static void stream_locate(void **state)
{
	cr_stream st;
	uint32_t seg, off, len;

	/* 1000-byte segments in 300-byte blocks: 300, 300, 300, 100 */
	assert_int_equal(cr_stream_init(&st, 1, 1000, CR_SEC, 300), 0);
	assert_int_equal(cr_stream_locate(&st, 0, &seg, &off, &len), 0);
	assert_int_equal(seg, 0);
	assert_int_equal(off, 0);
	assert_int_equal(len, 300);
	assert_int_equal(cr_stream_locate(&st, 250, &seg, &off, &len), 0);
	assert_int_equal(off, 250);
	assert_int_equal(len, 50);
	assert_int_equal(cr_stream_locate(&st, 900, &seg, &off, &len), 0);
	assert_int_equal(off, 900);
	assert_int_equal(len, 100);
	assert_int_equal(cr_stream_locate(&st, 999, &seg, &off, &len), 0);
	assert_int_equal(seg, 0);
	assert_int_equal(len, 1);
	assert_int_equal(cr_stream_locate(&st, 1000, &seg, &off, &len), 0);
	assert_int_equal(seg, 1);
	assert_int_equal(off, 0);
	assert_int_equal(len, 300);
	assert_int_equal(cr_stream_locate(&st, 7 * 1000 + 601, &seg, &off,
					  &len),
			 0);
	assert_int_equal(seg, 7);
	assert_int_equal(off, 601);
	assert_int_equal(len, 299);
	/* the last segment number there is, and past it */
	assert_int_equal(cr_stream_locate(&st, 4294967295ull * 1000, &seg,
					  &off, &len),
			 0);
	assert_int_equal(seg, UINT32_MAX);
	assert_int_equal(cr_stream_locate(&st, 4294967296ull * 1000, &seg,
					  &off, &len),
			 -CR_EINVAL);
}

static void seg_hdr_bytes(void **state)
{
	static const uint8_t want[CR_SEG_HDR_SIZE] = {
		0xAB, 0xCD, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04,
		0xF0, 0xE0, 0xD0, 0xC0,
	};
	cr_seg_hdr h = {.session = 0xABCD,
			.segment = 0x01020304,
			.offset = 0xF0E0D0C0};
	cr_seg_hdr got, keep = {.session = 9, .segment = 9, .offset = 9};
	uint8_t buf[CR_SEG_HDR_SIZE + 4];

	memset(buf, 0x55, sizeof(buf));
	assert_int_equal(cr_seg_hdr_put(buf, sizeof(buf), &h), 0);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(buf[CR_SEG_HDR_SIZE], 0x55); /* nothing beyond */
	assert_int_equal(cr_seg_hdr_get(buf, CR_SEG_HDR_SIZE, &got), 0);
	assert_int_equal(got.session, 0xABCD);
	assert_int_equal(got.flags, 0);
	assert_int_equal(got.segment, 0x01020304);
	assert_int_equal(got.offset, 0xF0E0D0C0);

	/* too short either way */
	assert_int_equal(cr_seg_hdr_put(buf, CR_SEG_HDR_SIZE - 1, &h),
			 -CR_EMSGSIZE);
	got = keep;
	for (size_t len = 0; len < CR_SEG_HDR_SIZE; len++)
		assert_int_equal(cr_seg_hdr_get(buf, len, &got), -CR_EINVAL);
	assert_int_equal(cr_seg_hdr_get(NULL, 100, &got), -CR_EINVAL);
	/* the end of the stream is the one flag */
	h.flags = CR_SEG_END;
	assert_int_equal(cr_seg_hdr_put(buf, sizeof(buf), &h), 0);
	assert_int_equal(buf[2], 0x00);
	assert_int_equal(buf[3], 0x01);
	assert_int_equal(cr_seg_hdr_get(buf, sizeof(buf), &got), 0);
	assert_int_equal(got.flags, CR_SEG_END);
	/* unknown flags: not written, not read */
	for (int bit = 1; bit < 16; bit++) {
		h.flags = (uint16_t)(1u << bit);
		assert_int_equal(cr_seg_hdr_put(buf, sizeof(buf), &h),
				 -CR_EINVAL);
	}
	got = keep;
	memcpy(buf, want, sizeof(want));
	buf[3] = 0x80;
	assert_int_equal(cr_seg_hdr_get(buf, sizeof(buf), &got), -CR_EINVAL);
	buf[3] = 0x03; /* the end and an unknown one */
	assert_int_equal(cr_seg_hdr_get(buf, sizeof(buf), &got), -CR_EINVAL);
	assert_int_equal(got.segment, keep.segment); /* untouched */

	/* random round trips */
	for (int i = 0; i < 10000; i++) {
		cr_seg_hdr r = {.session = (uint16_t)rnd(),
				.segment = (uint32_t)rnd(),
				.offset = (uint32_t)rnd()};

		assert_int_equal(cr_seg_hdr_put(buf, CR_SEG_HDR_SIZE, &r), 0);
		assert_int_equal(cr_seg_hdr_get(buf, CR_SEG_HDR_SIZE, &got), 0);
		assert_memory_equal(&got, &r, sizeof(r));
	}
}

/* --- the playback buffer, on a made-up timeline --------------------------- */

/* What on_segment saw. */
#define NCALLS 4096
static struct call {
	uint32_t segment;
	bool played;
	size_t len;
	bool data;
	uint8_t first_byte;
} calls[NCALLS];
static size_t ncalls;

static void record(cr_playbuf *pb, uint32_t segment, bool played,
		   const void *data, size_t len, void *arg)
{
	(void)pb;
	(void)arg;
	assert_true(ncalls < NCALLS);
	calls[ncalls++] = (struct call){
		.segment = segment,
		.played = played,
		.len = len,
		.data = data != NULL,
		.first_byte = data ? *(const uint8_t *)data : 0,
	};
}

/* 1000-byte segments of 1 s in blocks of 300, 300, 300 and 100. */
static cr_playbuf *small_buf(uint32_t window, uint32_t history,
			     int64_t startup_ns, bool keep)
{
	cr_playbuf_config cfg;
	cr_playbuf *pb = NULL;
	cr_stream st;

	assert_int_equal(cr_stream_init(&st, 3, 1000, CR_SEC, 300), 0);
	cr_playbuf_config_init(&cfg, &st);
	cfg.window = window;
	cfg.history = history;
	cfg.startup_ns = startup_ns;
	cfg.keep_data = keep;
	cfg.on_segment = record;
	assert_int_equal(cr_playbuf_new(&cfg, &pb), 0);
	ncalls = 0;
	return pb;
}

static cr_playbuf_stats stats(const cr_playbuf *pb)
{
	cr_playbuf_stats s;

	cr_playbuf_get_stats(pb, &s);
	return s;
}

/* The whole of segment k, block by block, at time t. */
static void fill(cr_playbuf *pb, uint32_t k, int64_t t)
{
	for (uint32_t off = 0; off < 1000; off += 300)
		assert_true(cr_playbuf_add(pb, k, off, NULL,
					   off == 900 ? 100 : 300, t) >= 0);
}

static void playbuf_config(void **state)
{
	cr_playbuf_config cfg;
	cr_playbuf *pb = NULL;
	cr_stream st;

	assert_int_equal(cr_stream_init(&st, 3, 1000, 0, 0), 0);
	cr_playbuf_config_init(&cfg, &st);
	assert_int_equal(cfg.window, CR_PLAYBUF_DEFAULT_WINDOW);
	assert_int_equal(cfg.history, CR_PLAYBUF_DEFAULT_HISTORY);
	assert_true(cfg.startup_ns == CR_PLAYBUF_DEFAULT_STARTUP_NS);
	assert_false(cfg.keep_data);
	assert_null(cfg.on_segment);
	assert_int_equal(cr_playbuf_new(&cfg, &pb), 0);
	assert_int_equal(cr_playbuf_next_due(pb), 0);
	assert_int_equal(cr_playbuf_base(pb), 0);
	assert_true(cr_playbuf_deadline(pb, 5) == INT64_MAX);
	assert_int_equal(stats(pb).start_ns, -1);
	assert_int_equal(stats(pb).first_played_ns, -1);
	cr_playbuf_free(pb);
	cr_playbuf_free(NULL);

	pb = (cr_playbuf *)&cfg; /* must stay as it is on failure */
	cfg.window = 0;
	assert_int_equal(cr_playbuf_new(&cfg, &pb), -CR_EINVAL);
	cfg.window = CR_BUFMAP_MAX + 1;
	assert_int_equal(cr_playbuf_new(&cfg, &pb), -CR_EINVAL);
	cfg.window = 10;
	cfg.history = 10;
	assert_int_equal(cr_playbuf_new(&cfg, &pb), -CR_EINVAL);
	cfg.history = 0;
	cfg.startup_ns = -1;
	assert_int_equal(cr_playbuf_new(&cfg, &pb), -CR_EINVAL);
	cfg.startup_ns = 0;
	cfg.stream.rate_Bps = 0;
	assert_int_equal(cr_playbuf_new(&cfg, &pb), -CR_EINVAL);
	assert_ptr_equal(pb, (cr_playbuf *)&cfg);

	/* derived fields are recomputed, not trusted */
	cfg.stream.rate_Bps = 1000;
	cfg.stream.segment_bytes = 7;
	cfg.stream.blocks = 1;
	cfg.window = CR_BUFMAP_MAX;
	assert_int_equal(cr_playbuf_new(&cfg, &pb), 0);
	assert_int_equal(cr_playbuf_stream(pb)->segment_bytes, 1000);
	assert_int_equal(cr_playbuf_stream(pb)->blocks, 1);
	cr_playbuf_free(pb);
}

/* Complete in time: played; incomplete: missed; each at its deadline. */
static void playbuf_on_time_and_missed(void **state)
{
	cr_playbuf *pb = small_buf(8, 0, 2 * CR_SEC, false);
	cr_playbuf_stats s;

	assert_int_equal(cr_playbuf_begin(pb, 10, 0), 0);
	assert_int_equal(cr_playbuf_begin(pb, 11, 0), -CR_ESTATE);
	assert_int_equal(cr_playbuf_next_due(pb), 10);
	assert_int_equal(cr_playbuf_base(pb), 10);
	assert_true(cr_playbuf_deadline(pb, 10) == 2 * CR_SEC);
	assert_true(cr_playbuf_deadline(pb, 13) == 5 * CR_SEC);
	assert_true(cr_playbuf_deadline(pb, 9) == 1 * CR_SEC);

	fill(pb, 10, 500 * CR_MS);
	assert_true(cr_playbuf_has(pb, 10));
	/* segment 11 without its short last block */
	for (uint32_t off = 0; off < 900; off += 300)
		assert_int_equal(cr_playbuf_add(pb, 11, off, NULL, 300, CR_SEC),
				 CR_PB_NEW);
	assert_false(cr_playbuf_has(pb, 11));
	assert_int_equal(cr_playbuf_bytes(pb, 11), 900);
	/* parts: held up to the short last block, which is missing */
	assert_true(cr_playbuf_has_range(pb, 11, 0, 900));
	assert_true(cr_playbuf_has_range(pb, 11, 300, 1)); /* touches one */
	assert_false(cr_playbuf_has_range(pb, 11, 600, 301));
	assert_false(cr_playbuf_has_range(pb, 11, 900, 100));
	assert_false(cr_playbuf_has_range(pb, 11, 0, 0));
	assert_false(cr_playbuf_has_range(pb, 11, 0, 1001)); /* past it */
	assert_false(cr_playbuf_has_range(pb, 12, 0, 300));
	assert_false(cr_playbuf_has_range(pb, 30, 0, 300)); /* not window */
	assert_true(cr_playbuf_has_range(pb, 10, 0, 1000));
	/* a whole segment in one arrival */
	assert_int_equal(cr_playbuf_add(pb, 12, 0, NULL, 1000, 1900 * CR_MS),
			 CR_PB_COMPLETE);

	assert_int_equal(cr_playbuf_tick(pb, 2 * CR_SEC - 1), 0);
	assert_int_equal(ncalls, 0);
	assert_int_equal(cr_playbuf_tick(pb, 2 * CR_SEC), 1);
	assert_int_equal(ncalls, 1);
	assert_int_equal(calls[0].segment, 10);
	assert_true(calls[0].played);
	assert_int_equal(calls[0].len, 1000);
	assert_false(calls[0].data); /* not kept */
	assert_int_equal(cr_playbuf_next_due(pb), 11);
	assert_int_equal(cr_playbuf_base(pb), 11); /* no history */
	assert_false(cr_playbuf_has(pb, 10));

	/* two due at once: a late timer plays both */
	assert_int_equal(cr_playbuf_tick(pb, 4 * CR_SEC + 5), 2);
	assert_int_equal(ncalls, 3);
	assert_int_equal(calls[1].segment, 11);
	assert_false(calls[1].played);
	assert_int_equal(calls[1].len, 0);
	assert_int_equal(calls[2].segment, 12);
	assert_true(calls[2].played);

	s = stats(pb);
	assert_int_equal(s.played, 2);
	assert_int_equal(s.missed, 1);
	assert_int_equal(s.received_bytes, 2900);
	assert_int_equal(s.late_bytes, 0);
	assert_int_equal(s.duplicate_bytes, 0);
	assert_int_equal(s.start_ns, 0);
	assert_true(s.first_played_ns == 2 * CR_SEC); /* the deadline */
	cr_playbuf_free(pb);
}

/* A segment plays with what arrived before its playback time: bytes at the
 * deadline itself are late, whether or not a tick ran first. */
static void playbuf_deadline_exact(void **state)
{
	cr_playbuf *pb = small_buf(8, 0, CR_SEC, false);
	int64_t d;

	assert_int_equal(cr_playbuf_begin(pb, 0, 100), 0);
	d = cr_playbuf_deadline(pb, 0);
	assert_true(d == CR_SEC + 100);
	assert_int_equal(cr_playbuf_add(pb, 0, 0, NULL, 900, d - 1), CR_PB_NEW);
	/* no tick ran: the arrival itself brings playback up to d */
	assert_int_equal(cr_playbuf_add(pb, 0, 900, NULL, 100, d), CR_PB_LATE);
	assert_int_equal(ncalls, 1);
	assert_false(calls[0].played);
	assert_int_equal(stats(pb).missed, 1);
	assert_int_equal(stats(pb).late_bytes, 100);
	assert_int_equal(stats(pb).first_played_ns, -1);

	/* one nanosecond earlier is in time */
	d = cr_playbuf_deadline(pb, 1);
	fill(pb, 1, d - 1);
	assert_int_equal(cr_playbuf_tick(pb, d), 1);
	assert_true(calls[1].played);
	assert_true(stats(pb).first_played_ns == d);
	cr_playbuf_free(pb);
}

/* A late segment is never played, even if it completes while it is still
 * held in the history part of the window. */
static void playbuf_late_never_played(void **state)
{
	cr_playbuf *pb = small_buf(6, 3, 0, false);
	cr_playbuf_stats s;
	cr_bufmap bm;

	assert_int_equal(cr_playbuf_begin(pb, 100, 0), 0);
	/* 100 is due at 0: nothing of it can be on time */
	assert_int_equal(cr_playbuf_add(pb, 100, 0, NULL, 300, 0), CR_PB_LATE);
	assert_int_equal(cr_playbuf_next_due(pb), 101);
	assert_int_equal(cr_playbuf_base(pb), 100); /* kept as history */
	fill(pb, 100, 10);
	assert_true(cr_playbuf_has(pb, 100)); /* held, to serve */
	fill(pb, 101, 20);
	assert_int_equal(cr_playbuf_tick(pb, 5 * CR_SEC), 5); /* 101..105 */
	s = stats(pb);
	assert_int_equal(s.played, 1); /* 101 only */
	assert_int_equal(s.missed, 5);
	assert_int_equal(s.late_bytes, 1000);
	assert_int_equal(s.received_bytes, 1000);
	assert_int_equal(s.duplicate_bytes, 300); /* fill's first block */
	assert_int_equal(cr_playbuf_next_due(pb), 106);
	assert_int_equal(cr_playbuf_base(pb), 103);
	assert_false(cr_playbuf_has(pb, 100));

	/* in the history part: kept and counted late */
	assert_int_equal(cr_playbuf_add(pb, 104, 0, NULL, 1000, 5 * CR_SEC),
			 CR_PB_LATE);
	assert_true(cr_playbuf_has(pb, 104));
	cr_playbuf_bufmap(pb, &bm);
	assert_int_equal(bm.base, 103);
	assert_int_equal(bm.count, 6);
	assert_true(cr_bufmap_has(&bm, 104));
	assert_int_equal(cr_bufmap_held(&bm), 1);
	/* a second copy of it is a duplicate, not late */
	assert_int_equal(cr_playbuf_add(pb, 104, 300, NULL, 300, 5 * CR_SEC),
			 CR_PB_DUPLICATE);
	/* below the window: late, dropped */
	assert_int_equal(cr_playbuf_add(pb, 102, 0, NULL, 300, 5 * CR_SEC),
			 CR_PB_LATE);
	assert_int_equal(cr_playbuf_bytes(pb, 102), 0);
	s = stats(pb);
	assert_int_equal(s.late_bytes, 2300);
	assert_int_equal(s.duplicate_bytes, 600);
	assert_int_equal(s.played, 1);
	/* the late ones never reach on_segment as played */
	for (size_t i = 0; i < ncalls; i++)
		assert_true(calls[i].played == (calls[i].segment == 101));
	cr_playbuf_free(pb);
}

/* Every byte is counted once: received, late, duplicate or ahead, block by
 * block, also when an arrival is partly new. */
static void playbuf_duplicates_exact(void **state)
{
	cr_playbuf *pb = small_buf(4, 0, 10 * CR_SEC, false);
	uint64_t offered = 0;
	cr_playbuf_stats s;

	assert_int_equal(cr_playbuf_begin(pb, 0, 0), 0);
	assert_int_equal(cr_playbuf_add(pb, 0, 0, NULL, 300, 1), CR_PB_NEW);
	assert_int_equal(cr_playbuf_add(pb, 0, 0, NULL, 300, 2),
			 CR_PB_DUPLICATE);
	assert_int_equal(cr_playbuf_add(pb, 0, 300, NULL, 300, 3), CR_PB_NEW);
	/* blocks 0 and 1 held, 2 new: 600 duplicate, 300 new */
	assert_int_equal(cr_playbuf_add(pb, 0, 0, NULL, 900, 4), CR_PB_NEW);
	/* the short last block completes it */
	assert_int_equal(cr_playbuf_add(pb, 0, 900, NULL, 100, 5),
			 CR_PB_COMPLETE);
	/* all of it again */
	assert_int_equal(cr_playbuf_add(pb, 0, 0, NULL, 1000, 6),
			 CR_PB_DUPLICATE);
	assert_int_equal(cr_playbuf_add(pb, 0, 900, NULL, 100, 7),
			 CR_PB_DUPLICATE);
	offered = 300 + 300 + 300 + 900 + 100 + 1000 + 100;
	/* a partly new arrival that completes a segment */
	assert_int_equal(cr_playbuf_add(pb, 1, 300, NULL, 700, 8), CR_PB_NEW);
	assert_int_equal(cr_playbuf_add(pb, 1, 0, NULL, 1000, 9),
			 CR_PB_COMPLETE);
	/* beyond the window [0, 4) */
	assert_int_equal(cr_playbuf_add(pb, 4, 0, NULL, 300, 10), CR_PB_AHEAD);
	assert_int_equal(cr_playbuf_add(pb, 4000000, 0, NULL, 1000, 10),
			 CR_PB_AHEAD);
	assert_int_equal(cr_playbuf_bytes(pb, 4), 0);
	offered += 700 + 1000 + 300 + 1000;
	s = stats(pb);
	assert_int_equal(s.received_bytes, 2000);
	assert_int_equal(s.duplicate_bytes, 300 + 600 + 1000 + 100 + 700);
	assert_int_equal(s.ahead_bytes, 1300);
	assert_int_equal(s.late_bytes, 0);
	assert_int_equal(s.received_bytes + s.duplicate_bytes + s.ahead_bytes +
				 s.late_bytes,
			 offered);
	cr_playbuf_free(pb);
}

/* Arrivals that are not block ranges of a segment are refused and leave
 * no trace; so is anything before playback begins or after it stops. */
static void playbuf_bad_arrivals(void **state)
{
	cr_playbuf *pb = small_buf(4, 0, CR_SEC, false);
	static const struct {
		uint32_t off, len;
	} bad[] = {
		{0, 0},	      /* nothing */
		{1, 299},     /* not on a block boundary */
		{150, 150},   /* mid-block start */
		{0, 299},     /* ends mid-block */
		{0, 301},     /* ends mid-block */
		{600, 350},   /* ends mid-block */
		{900, 99},    /* short of the segment's end */
		{900, 101},   /* past the segment's end */
		{0, 1001},    /* past the segment's end */
		{1200, 300},  /* beyond the segment */
		{UINT32_MAX - 299, 300},
		{900, UINT32_MAX},
	};
	cr_playbuf_stats s;

	assert_int_equal(cr_playbuf_add(pb, 0, 0, NULL, 300, 0), -CR_ESTATE);
	assert_int_equal(cr_playbuf_tick(pb, 10 * CR_SEC), 0);
	assert_int_equal(cr_playbuf_begin(pb, 0, 0), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cr_playbuf_add(pb, 1, bad[i].off, NULL,
						bad[i].len, 0),
				 -CR_EINVAL);
	assert_int_equal(cr_playbuf_bytes(pb, 1), 0);
	s = stats(pb);
	assert_int_equal(s.received_bytes + s.duplicate_bytes + s.late_bytes +
				 s.ahead_bytes,
			 0);

	fill(pb, 0, 0);
	cr_playbuf_stop(pb);
	assert_int_equal(cr_playbuf_add(pb, 1, 0, NULL, 300, 1), -CR_ESTATE);
	assert_int_equal(cr_playbuf_tick(pb, 100 * CR_SEC), 0);
	assert_int_equal(cr_playbuf_begin(pb, 0, 0), -CR_ESTATE);
	s = stats(pb);
	assert_int_equal(s.played + s.missed, 0); /* frozen at stop */
	assert_int_equal(s.received_bytes, 1000);
	cr_playbuf_free(pb);

	/* a buffer that keeps data needs the bytes */
	pb = small_buf(4, 0, CR_SEC, true);
	assert_int_equal(cr_playbuf_begin(pb, 0, 0), 0);
	assert_int_equal(cr_playbuf_add(pb, 0, 0, NULL, 300, 0), -CR_EINVAL);
	cr_playbuf_free(pb);
}

/* History: played segments stay in the window, up to `history` of them,
 * and the window's start follows the playback point. */
static void playbuf_history_and_slide(void **state)
{
	cr_playbuf *pb = small_buf(5, 2, 0, false);
	cr_bufmap bm;

	assert_int_equal(cr_playbuf_begin(pb, 50, 0), 0);
	for (uint32_t k = 50; k < 55; k++)
		fill(pb, k, 0); /* 50 is due at 0: late */
	assert_int_equal(cr_playbuf_next_due(pb), 51);
	assert_int_equal(cr_playbuf_add(pb, 55, 0, NULL, 300, 0), CR_PB_AHEAD);
	cr_playbuf_bufmap(pb, &bm);
	assert_int_equal(bm.base, 50);
	assert_int_equal(bm.count, 5);
	assert_int_equal(cr_bufmap_held(&bm), 5);

	assert_int_equal(cr_playbuf_tick(pb, CR_SEC), 1); /* 51 */
	assert_int_equal(cr_playbuf_base(pb), 50);
	assert_int_equal(cr_playbuf_tick(pb, 2 * CR_SEC), 1); /* 52 */
	assert_int_equal(cr_playbuf_base(pb), 51);
	assert_false(cr_playbuf_has(pb, 50));
	assert_true(cr_playbuf_has(pb, 51));
	assert_true(cr_playbuf_has(pb, 52));
	/* 55 is in the window now, in 50's old slot, which starts empty */
	assert_int_equal(cr_playbuf_bytes(pb, 55), 0);
	assert_int_equal(cr_playbuf_add(pb, 55, 0, NULL, 300, 2 * CR_SEC),
			 CR_PB_NEW);
	cr_playbuf_bufmap(pb, &bm);
	assert_int_equal(bm.base, 51);
	assert_true(cr_bufmap_has(&bm, 51));
	assert_true(cr_bufmap_has(&bm, 54));
	assert_false(cr_bufmap_has(&bm, 55));
	assert_int_equal(stats(pb).played, 2);
	assert_int_equal(stats(pb).late_bytes, 1000);
	cr_playbuf_free(pb);
}

static void stop_at_3(cr_playbuf *pb, uint32_t segment, bool played,
		      const void *data, size_t len, void *arg)
{
	(void)played;
	(void)data;
	(void)len;
	*(uint32_t *)arg = segment;
	if (segment == 3)
		cr_playbuf_stop(pb);
}

/* A peer may stop playback from on_segment (it leaves the session): the
 * segments due after that are not played. */
static void playbuf_stop_in_callback(void **state)
{
	cr_playbuf_config cfg;
	cr_playbuf *pb = NULL;
	uint32_t last = 0;
	cr_stream st;

	assert_int_equal(cr_stream_init(&st, 3, 1000, CR_SEC, 300), 0);
	cr_playbuf_config_init(&cfg, &st);
	cfg.startup_ns = 0;
	cfg.on_segment = stop_at_3;
	cfg.arg = &last;
	assert_int_equal(cr_playbuf_new(&cfg, &pb), 0);
	assert_int_equal(cr_playbuf_begin(pb, 0, 0), 0);
	assert_int_equal(cr_playbuf_tick(pb, 9 * CR_SEC), 4);
	assert_int_equal(last, 3);
	assert_int_equal(stats(pb).missed, 4);
	assert_int_equal(cr_playbuf_tick(pb, 20 * CR_SEC), 0);
	assert_int_equal(cr_playbuf_add(pb, 5, 0, NULL, 300, 20 * CR_SEC),
			 -CR_ESTATE);
	cr_playbuf_free(pb);
}

/* Kept data: on_segment gets the segment's bytes in order; a neighbour can
 * be served from cr_playbuf_data while the segment is held. */
static void playbuf_keeps_data(void **state)
{
	cr_playbuf *pb = small_buf(3, 1, CR_SEC, true);
	uint8_t seg[1000];
	const uint8_t *d;

	assert_int_equal(cr_playbuf_begin(pb, 0, 0), 0);
	for (uint32_t k = 0; k < 3; k++) {
		for (size_t i = 0; i < sizeof(seg); i++)
			seg[i] = t_pattern(k, i);
		/* last block first, then the rest in one */
		assert_int_equal(cr_playbuf_add(pb, k, 900, seg + 900, 100, 0),
				 CR_PB_NEW);
		assert_null(cr_playbuf_data(pb, k)); /* not complete yet */
		assert_int_equal(cr_playbuf_add(pb, k, 0, seg, 900, 0),
				 CR_PB_COMPLETE);
		d = cr_playbuf_data(pb, k);
		assert_non_null(d);
		assert_memory_equal(d, seg, sizeof(seg));
		/* a duplicate with other bytes does not overwrite */
		memset(seg, 0xEE, 300);
		assert_int_equal(cr_playbuf_add(pb, k, 0, seg, 300, 0),
				 CR_PB_DUPLICATE);
		assert_int_equal(d[0], t_pattern(k, 0));
	}
	assert_int_equal(cr_playbuf_tick(pb, 3 * CR_SEC), 3);
	for (uint32_t k = 0; k < 3; k++) {
		assert_int_equal(calls[k].segment, k);
		assert_true(calls[k].played);
		assert_true(calls[k].data);
		assert_int_equal(calls[k].len, 1000);
		assert_int_equal(calls[k].first_byte, t_pattern(k, 0));
	}
	assert_null(cr_playbuf_data(pb, 1)); /* slid out */
	assert_non_null(cr_playbuf_data(pb, 2)); /* history */
	cr_playbuf_free(pb);
}

/* A reference model of the rules with a plain array indexed by segment
 * number: no slots, nothing forgotten, so nothing can wrap. */
#define M_SEGS 2200
#define M_BLOCKS 4
static const uint32_t m_blen[M_BLOCKS] = {300, 300, 300, 100};

struct model {
	uint32_t first, window, history;
	int64_t play0, seg_ns;
	uint64_t next, base;
	bool held[M_SEGS][M_BLOCKS];
	uint64_t played, missed, received, late, dup, ahead;
	size_t ncalls;
	uint32_t call_seg[M_SEGS];
	bool call_played[M_SEGS];
};

static bool m_complete(const struct model *m, uint64_t k)
{
	for (int b = 0; b < M_BLOCKS; b++)
		if (!m->held[k][b])
			return false;
	return true;
}

static void m_tick(struct model *m, int64_t now)
{
	while (m->play0 + (int64_t)(m->next - m->first) * m->seg_ns <= now) {
		bool ok = m_complete(m, m->next);

		ok ? m->played++ : m->missed++;
		m->call_seg[m->ncalls] = (uint32_t)m->next;
		m->call_played[m->ncalls++] = ok;
		m->next++;
		if (m->next - m->history > m->first)
			m->base = m->next - m->history;
	}
}

static int m_add(struct model *m, uint64_t k, uint32_t b0, uint32_t nb,
		 int64_t now)
{
	uint32_t len = 0, fresh = 0;

	m_tick(m, now);
	for (uint32_t b = b0; b < b0 + nb; b++)
		len += m_blen[b];
	if (k < m->base) {
		m->late += len;
		return CR_PB_LATE;
	}
	if (k >= m->base + m->window) {
		m->ahead += len;
		return CR_PB_AHEAD;
	}
	for (uint32_t b = b0; b < b0 + nb; b++) {
		if (m->held[k][b]) {
			m->dup += m_blen[b];
		} else {
			m->held[k][b] = true;
			fresh += m_blen[b];
		}
	}
	if (!fresh)
		return CR_PB_DUPLICATE;
	if (k < m->next) {
		m->late += fresh;
		return CR_PB_LATE;
	}
	m->received += fresh;
	return m_complete(m, k) ? CR_PB_COMPLETE : CR_PB_NEW;
}

static void check_against(const cr_playbuf *pb, const struct model *m)
{
	cr_playbuf_stats s = stats(pb);
	cr_bufmap bm;

	assert_int_equal(s.played, m->played);
	assert_int_equal(s.missed, m->missed);
	assert_int_equal(s.received_bytes, m->received);
	assert_int_equal(s.late_bytes, m->late);
	assert_int_equal(s.duplicate_bytes, m->dup);
	assert_int_equal(s.ahead_bytes, m->ahead);
	assert_int_equal(cr_playbuf_next_due(pb), m->next);
	assert_int_equal(cr_playbuf_base(pb), m->base);
	cr_playbuf_bufmap(pb, &bm);
	assert_int_equal(bm.base, m->base);
	assert_int_equal(bm.count, m->window);
	for (uint64_t k = m->base > 3 ? m->base - 3 : 0;
	     k < m->base + m->window + 3 && k < M_SEGS; k++) {
		bool in = k >= m->base && k < m->base + m->window;
		uint32_t bytes = 0;

		for (int b = 0; b < M_BLOCKS; b++)
			bytes += in && m->held[k][b] ? m_blen[b] : 0;
		assert_int_equal(cr_playbuf_bytes(pb, (uint32_t)k), bytes);
		assert_int_equal(cr_playbuf_has(pb, (uint32_t)k),
				 in && m_complete(m, k));
		assert_int_equal(cr_bufmap_has(&bm, (uint32_t)k),
				 in && m_complete(m, k));
	}
}

/* Random arrivals, duplicates, late and early ones, over some 2000
 * segments (hundreds of windows, every slot reused hundreds of times),
 * checked against the model after every step. */
static void playbuf_wraps_like_model(void **state)
{
	static struct model m;
	const uint32_t first = 37;
	cr_playbuf *pb = small_buf(5, 2, 3 * CR_SEC, false);
	int64_t now = 0;
	size_t steps = 0;

	memset(&m, 0, sizeof(m));
	m.first = first;
	m.window = 5;
	m.history = 2;
	m.seg_ns = CR_SEC;
	m.play0 = 3 * CR_SEC;
	m.next = m.base = first;
	assert_int_equal(cr_playbuf_begin(pb, first, 0), 0);
	while (m.next < M_SEGS - 20) {
		uint32_t r = rnd_below(100);

		/* time moves on a little, or a lot now and then */
		now += r < 3 ? (int64_t)rnd_below(4000) * CR_MS
			     : (int64_t)rnd_below(250) * CR_MS;
		if (r < 10) {
			int n = cr_playbuf_tick(pb, now);
			size_t before = m.ncalls;

			m_tick(&m, now);
			assert_int_equal(n, m.ncalls - before);
		} else {
			/* a segment around the playback point, 1 to 4
			 * blocks from a random one, within the segment */
			int64_t k = (int64_t)m.next - 4 + rnd_below(12);
			uint32_t b0 = rnd_below(M_BLOCKS);
			uint32_t nb = 1 + rnd_below(M_BLOCKS - b0);
			uint32_t len = 0;
			int want, got;

			if (k < 0)
				k = 0;
			for (uint32_t b = b0; b < b0 + nb; b++)
				len += m_blen[b];
			want = m_add(&m, (uint64_t)k, b0, nb, now);
			got = cr_playbuf_add(pb, (uint32_t)k, b0 * 300, NULL,
					     len, now);
			assert_int_equal(got, want);
		}
		check_against(pb, &m);
		steps++;
	}
	/* on_segment: every segment once, in order, with the model's fate */
	assert_int_equal(ncalls, m.ncalls > NCALLS ? NCALLS : m.ncalls);
	for (size_t i = 0; i < ncalls; i++) {
		assert_int_equal(calls[i].segment, first + i);
		assert_int_equal(calls[i].segment, m.call_seg[i]);
		assert_int_equal(calls[i].played, m.call_played[i]);
	}
	/* the run was a fair one: all fates happened, many times */
	assert_true(steps > 5000);
	assert_true(m.played > 100 && m.missed > 100);
	assert_true(m.late > 0 && m.dup > 0 && m.ahead > 0);
	cr_playbuf_free(pb);
}

/* A long stretch of time in one step costs one pass per segment and counts
 * every one of them missed. */
static cr_playbuf *quiet_buf(uint32_t window, uint32_t history)
{
	cr_playbuf_config cfg;
	cr_playbuf *pb = NULL;
	cr_stream st;

	assert_int_equal(cr_stream_init(&st, 3, 1000, CR_SEC, 300), 0);
	cr_playbuf_config_init(&cfg, &st);
	cfg.window = window;
	cfg.history = history;
	cfg.startup_ns = 0;
	assert_int_equal(cr_playbuf_new(&cfg, &pb), 0);
	return pb;
}

/* Segment latency: from the source holding a segment whole (origin + (k +
 * 1) x segment time) to this buffer holding it whole; counted once per
 * segment, never below 0, never for late or incomplete ones; the buffer
 * level counts complete segments from the next due on. */
static void playbuf_latency_and_level(void **state)
{
	cr_playbuf *pb = small_buf(8, 2, 2 * CR_SEC, false);
	cr_playbuf_stats s;

	/* no origin: nothing measured */
	assert_int_equal(cr_playbuf_begin(pb, 0, 0), 0);
	fill(pb, 0, 100 * CR_MS);
	s = stats(pb);
	assert_int_equal(s.completed, 0);
	cr_playbuf_free(pb);

	pb = small_buf(8, 2, 10 * CR_SEC, false); /* plays 0 at 10 s */
	cr_playbuf_set_origin(pb, 10 * CR_MS); /* k whole at 10ms + (k+1) s */
	assert_int_equal(cr_playbuf_begin(pb, 0, 0), 0);
	assert_int_equal(cr_playbuf_buffered(pb), 0);
	fill(pb, 0, 1250 * CR_MS);		 /* 240 ms after the source */
	fill(pb, 1, 2010 * CR_MS + 300 * CR_US); /* 300 us after */
	assert_int_equal(cr_playbuf_add(pb, 2, 0, NULL, 300, 2100 * CR_MS),
			 CR_PB_NEW);		 /* incomplete */
	fill(pb, 3, 3 * CR_SEC);		 /* before the source: 0 */
	assert_int_equal(cr_playbuf_buffered(pb), 3); /* 0, 1 and 3 */
	fill(pb, 0, 3100 * CR_MS);		 /* duplicates */
	s = stats(pb);
	assert_int_equal(s.completed, 3);
	assert_true(s.latency_sum_ns == 240 * CR_MS + 300 * CR_US);
	assert_true(s.latency_max_ns == 240 * CR_MS);
	/* segment 0 plays at 10 s: the level falls by one */
	assert_int_equal(cr_playbuf_tick(pb, 10 * CR_SEC), 1);
	assert_int_equal(cr_playbuf_buffered(pb), 2);
	/* segment 2 completes after its playback time (12 s): late, and no
	 * latency is counted for it */
	assert_int_equal(cr_playbuf_add(pb, 2, 300, NULL, 700, 12500 * CR_MS),
			 CR_PB_LATE);
	s = stats(pb);
	assert_int_equal(s.completed, 3);
	cr_playbuf_free(pb);
}

/* A finite stream: the last segment is short (500 of 1000 bytes: a block
 * of 300 and one of 200), plays when complete, and nothing after it comes
 * due; an end that contradicts what is known, or bytes past the end, are
 * refused. */
static void playbuf_end_of_stream(void **state)
{
	cr_playbuf *pb = small_buf(8, 2, 2 * CR_SEC, false);
	uint32_t last = 0;
	cr_playbuf_stats s;

	assert_int_equal(cr_playbuf_begin(pb, 0, 0), 0);
	assert_false(cr_playbuf_ended(pb, &last));
	assert_int_equal(cr_playbuf_segment_size(pb, 2), 1000);
	fill(pb, 0, 100 * CR_MS);
	fill(pb, 1, 200 * CR_MS);
	assert_int_equal(cr_playbuf_end(pb, 2, 0), -CR_EINVAL);
	assert_int_equal(cr_playbuf_end(pb, 2, 1001), -CR_EINVAL);
	assert_int_equal(cr_playbuf_end(pb, 2, 500), 0);
	assert_int_equal(cr_playbuf_end(pb, 2, 500), 0); /* the same again */
	assert_int_equal(cr_playbuf_end(pb, 2, 600), -CR_EINVAL);
	assert_int_equal(cr_playbuf_end(pb, 3, 500), -CR_EINVAL);
	assert_true(cr_playbuf_ended(pb, &last));
	assert_int_equal(last, 2);
	assert_int_equal(cr_playbuf_segment_size(pb, 2), 500);
	assert_int_equal(cr_playbuf_segment_size(pb, 3), 0);
	/* a whole block past the end, and anything after the last: refused */
	assert_int_equal(cr_playbuf_add(pb, 2, 300, NULL, 300, 300 * CR_MS),
			 -CR_EINVAL);
	assert_int_equal(cr_playbuf_add(pb, 3, 0, NULL, 300, 300 * CR_MS),
			 -CR_EINVAL);
	assert_int_equal(cr_playbuf_add(pb, 2, 0, NULL, 300, 300 * CR_MS),
			 CR_PB_NEW);
	assert_int_equal(cr_playbuf_add(pb, 2, 300, NULL, 200, 300 * CR_MS),
			 CR_PB_COMPLETE);
	assert_true(cr_playbuf_has(pb, 2));
	assert_int_equal(cr_playbuf_buffered(pb), 3);
	/* long after: three played, nothing missed past the end */
	assert_int_equal(cr_playbuf_tick(pb, 60 * CR_SEC), 3);
	assert_int_equal(ncalls, 3);
	assert_int_equal(calls[2].segment, 2);
	assert_true(calls[2].played);
	assert_int_equal(calls[2].len, 500);
	s = stats(pb);
	assert_int_equal(s.played, 3);
	assert_int_equal(s.missed, 0);
	assert_int_equal(cr_playbuf_buffered(pb), 0);
	cr_playbuf_free(pb);

	/* an end declared below bytes already held is refused */
	pb = small_buf(8, 2, 2 * CR_SEC, false);
	assert_int_equal(cr_playbuf_begin(pb, 0, 0), 0);
	fill(pb, 1, 100 * CR_MS);
	assert_int_equal(cr_playbuf_end(pb, 1, 500), -CR_EINVAL);
	assert_int_equal(cr_playbuf_end(pb, 0, 1000), -CR_EINVAL);
	assert_false(cr_playbuf_ended(pb, NULL));
	cr_playbuf_free(pb);
}

static void playbuf_big_jump(void **state)
{
	cr_playbuf *pb = quiet_buf(4, 1);
	cr_bufmap bm;

	assert_int_equal(cr_playbuf_begin(pb, 0, 0), 0);
	fill(pb, 1, 0); /* 0 was due at 0: missed */
	assert_int_equal(cr_playbuf_tick(pb, 100000 * CR_SEC), 100000);
	assert_int_equal(stats(pb).played, 1);
	assert_int_equal(stats(pb).missed, 100000);
	assert_int_equal(cr_playbuf_next_due(pb), 100001);
	assert_int_equal(cr_playbuf_base(pb), 100000);
	assert_false(cr_playbuf_has(pb, 1));
	cr_playbuf_free(pb);

	/* the last segment numbers there are */
	pb = quiet_buf(4, 1);
	assert_int_equal(cr_playbuf_begin(pb, UINT32_MAX - 1, 0), 0);
	fill(pb, UINT32_MAX, 0);
	cr_playbuf_bufmap(pb, &bm);
	assert_int_equal(bm.base, UINT32_MAX - 1);
	assert_int_equal(bm.count, 2); /* there is no segment 2^32 */
	assert_true(cr_bufmap_has(&bm, UINT32_MAX));
	assert_int_equal(cr_playbuf_tick(pb, INT64_MAX), 1);
	assert_int_equal(cr_playbuf_tick(pb, INT64_MAX), 0);
	assert_int_equal(stats(pb).played, 1);
	assert_int_equal(stats(pb).missed, 1);
	assert_int_equal(cr_playbuf_base(pb), UINT32_MAX);
	cr_playbuf_free(pb);
}

/* --- buffer maps ---------------------------------------------------------- */

static void bufmap_bytes(void **state)
{
	static const uint8_t want[] = {0x01, 0x02, 0x03, 0x04, 0x00, 0x0A,
				       0xA0, 0x40};
	uint8_t buf[64];
	cr_bufmap bm, got;

	/* segments base+0, +2 and +9 of 10 */
	assert_int_equal(cr_bufmap_init(&bm, 0x01020304, 10), 0);
	assert_int_equal(cr_bufmap_set(&bm, 0x01020304), 0);
	assert_int_equal(cr_bufmap_set(&bm, 0x01020306), 0);
	assert_int_equal(cr_bufmap_set(&bm, 0x0102030D), 0);
	assert_int_equal(cr_bufmap_set(&bm, 0x0102030E), -CR_EINVAL);
	assert_int_equal(cr_bufmap_set(&bm, 0x01020303), -CR_EINVAL);
	assert_int_equal(cr_bufmap_held(&bm), 3);
	assert_int_equal(cr_bufmap_size(&bm), sizeof(want));
	assert_int_equal(cr_bufmap_encode(&bm, buf, sizeof(buf)), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(cr_bufmap_decode(want, sizeof(want), &got), 0);
	assert_int_equal(got.base, 0x01020304);
	assert_int_equal(got.count, 10);
	assert_true(cr_bufmap_has(&got, 0x01020304));
	assert_false(cr_bufmap_has(&got, 0x01020305));
	assert_true(cr_bufmap_has(&got, 0x01020306));
	assert_true(cr_bufmap_has(&got, 0x0102030D));
	assert_false(cr_bufmap_has(&got, 0x0102030E));
	assert_false(cr_bufmap_has(&got, 0));

	/* the buffer must hold it all */
	assert_int_equal(cr_bufmap_encode(&bm, buf, sizeof(want) - 1),
			 -CR_EMSGSIZE);
	/* stray bits of a map built by hand do not reach the wire */
	bm.bits[1] |= 0x3F;
	assert_int_equal(cr_bufmap_encode(&bm, buf, sizeof(buf)), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	/* a map that could not be decoded is not encoded */
	bm.count = CR_BUFMAP_MAX + 1;
	assert_int_equal(cr_bufmap_encode(&bm, buf, sizeof(buf)), -CR_EINVAL);
	assert_int_equal(cr_bufmap_init(&bm, 0, CR_BUFMAP_MAX + 1), -CR_EINVAL);
	assert_int_equal(cr_bufmap_init(&bm, UINT32_MAX, 2), -CR_EINVAL);
	assert_int_equal(cr_bufmap_init(&bm, UINT32_MAX, 1), 0);
	assert_int_equal(cr_bufmap_set(&bm, UINT32_MAX), 0);
	assert_true(cr_bufmap_has(&bm, UINT32_MAX));

	/* empty */
	assert_int_equal(cr_bufmap_init(&bm, 77, 0), 0);
	assert_int_equal(cr_bufmap_encode(&bm, buf, sizeof(buf)), 6);
	assert_int_equal(cr_bufmap_decode(buf, 6, &got), 0);
	assert_int_equal(got.base, 77);
	assert_int_equal(got.count, 0);
	assert_false(cr_bufmap_has(&got, 77));
}

/* A map of n segments from base, one in `one_in` held, through the wire. */
static void round_trip(uint32_t base, uint32_t n, uint32_t one_in)
{
	uint8_t buf[CR_BUFMAP_HDR_SIZE + CR_BUFMAP_MAX / 8];
	uint64_t end = (uint64_t)base + n;
	cr_bufmap bm, got;
	int len;

	assert_int_equal(cr_bufmap_init(&bm, base, n), 0);
	for (uint32_t i = 0; i < n; i++)
		if (rnd_below(one_in) == 0)
			cr_bufmap_set(&bm, base + i);
	len = cr_bufmap_encode(&bm, buf, sizeof(buf));
	assert_int_equal(len, 6 + (n + 7) / 8);
	assert_int_equal(cr_bufmap_decode(buf, (size_t)len, &got), 0);
	assert_int_equal(got.base, base);
	assert_int_equal(got.count, n);
	assert_int_equal(cr_bufmap_held(&got), cr_bufmap_held(&bm));
	/* one segment either side too */
	for (uint64_t k = base ? base - 1 : 0; k <= end && k <= UINT32_MAX; k++)
		assert_int_equal(cr_bufmap_has(&got, (uint32_t)k),
				 cr_bufmap_has(&bm, (uint32_t)k));
}

static void bufmap_round_trip(void **state)
{
	static const uint32_t counts[] = {0,  1,  7,   8,    9,	   63,
					  64, 65, 500, 4095, 4096};

	for (uint32_t round = 0; round < 50; round++) {
		for (size_t c = 0; c < sizeof(counts) / sizeof(*counts); c++) {
			uint32_t n = counts[c];
			/* near 0, or anywhere the map fits */
			uint32_t far = (uint32_t)rnd() % (UINT32_MAX - n);

			round_trip(round % 2 ? far : rnd_below(1000), n,
				   round % 5 + 2);
		}
	}
	/* up to the last segment number */
	round_trip(UINT32_MAX - 4095, 4096, 2);
	round_trip(UINT32_MAX, 1, 1);
}

/* Every class of malformed map is refused and leaves `out` as it was. */
static void bufmap_malformed(void **state)
{
	uint8_t buf[CR_BUFMAP_HDR_SIZE + CR_BUFMAP_MAX / 8 + 8];
	cr_bufmap bm, out, before;
	int len;

	memset(&before, 0x5A, sizeof(before));
	out = before;
	assert_int_equal(cr_bufmap_init(&bm, 1000, 20), 0);
	cr_bufmap_set(&bm, 1000);
	cr_bufmap_set(&bm, 1019);
	len = cr_bufmap_encode(&bm, buf, sizeof(buf));
	assert_int_equal(len, 9);

	/* no payload at all, or none to put it in */
	assert_int_equal(cr_bufmap_decode(NULL, 9, &out), -CR_EINVAL);
	assert_int_equal(cr_bufmap_decode(buf, 9, NULL), -CR_EINVAL);
	/* shorter than the header */
	for (size_t l = 0; l < CR_BUFMAP_HDR_SIZE; l++)
		assert_int_equal(cr_bufmap_decode(buf, l, &out), -CR_EINVAL);
	/* truncated bits: count says more than the payload holds */
	for (size_t l = CR_BUFMAP_HDR_SIZE; l < (size_t)len; l++)
		assert_int_equal(cr_bufmap_decode(buf, l, &out), -CR_EINVAL);
	/* trailing bytes */
	buf[len] = 0;
	assert_int_equal(cr_bufmap_decode(buf, (size_t)len + 1, &out),
			 -CR_EINVAL);
	/* stray bits after the last segment (20 of 24 bits used) */
	for (int bit = 0; bit < 4; bit++) {
		buf[8] ^= (uint8_t)(1 << bit);
		assert_int_equal(cr_bufmap_decode(buf, 9, &out), -CR_EINVAL);
		buf[8] ^= (uint8_t)(1 << bit);
	}
	assert_int_equal(cr_bufmap_decode(buf, 9, &bm), 0); /* restored */
	/* count above the sane maximum, with the payload to match */
	memset(buf, 0, sizeof(buf));
	buf[4] = (CR_BUFMAP_MAX + 8) >> 8;
	buf[5] = (CR_BUFMAP_MAX + 8) & 0xFF;
	assert_int_equal(cr_bufmap_decode(buf, 6 + (CR_BUFMAP_MAX + 8) / 8,
					  &out),
			 -CR_EINVAL);
	/* the largest count a u16 can say */
	buf[4] = buf[5] = 0xFF;
	assert_int_equal(cr_bufmap_decode(buf, sizeof(buf), &out), -CR_EINVAL);
	/* segments past 2^32 - 1 */
	memset(buf, 0, sizeof(buf));
	buf[0] = buf[1] = buf[2] = buf[3] = 0xFF; /* base 2^32 - 1 */
	buf[5] = 2;
	assert_int_equal(cr_bufmap_decode(buf, 7, &out), -CR_EINVAL);
	buf[5] = 1; /* ... but that one segment is fine */
	assert_int_equal(cr_bufmap_decode(buf, 7, &bm), 0);
	/* none of the refusals touched out */
	assert_memory_equal(&out, &before, sizeof(out));
}

/* Random bytes, and valid maps damaged at random: never a crash, and any
 * map accepted is exactly what its bytes say (it encodes back to them). */
static void bufmap_garbage(void **state)
{
	uint8_t buf[700], again[700];
	size_t accepted = 0;
	cr_bufmap out;

	for (int i = 0; i < 300000; i++) {
		size_t len = rnd_below(sizeof(buf) + 1);
		int r;

		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)rnd();
		if (i % 2 && len >= CR_BUFMAP_HDR_SIZE) {
			/* often plausible: a count that fits the length */
			uint32_t nb = (uint32_t)(len - CR_BUFMAP_HDR_SIZE);
			uint32_t n = nb ? nb * 8 - rnd_below(8) : 0;

			buf[4] = (uint8_t)(n >> 8);
			buf[5] = (uint8_t)n;
			if (i % 8 == 1 && n % 8 && len > CR_BUFMAP_HDR_SIZE)
				buf[len - 1] &= (uint8_t)~(0xFF >> (n % 8));
		}
		r = cr_bufmap_decode(buf, len, &out);
		if (r) {
			assert_int_equal(r, -CR_EINVAL);
			continue;
		}
		accepted++;
		assert_true(out.count <= CR_BUFMAP_MAX);
		assert_true((uint64_t)out.base + out.count <=
			    (uint64_t)UINT32_MAX + 1);
		assert_int_equal(cr_bufmap_size(&out), len);
		assert_int_equal(cr_bufmap_encode(&out, again, sizeof(again)),
				 (int)len);
		assert_memory_equal(again, buf, len);
	}
	assert_true(accepted > 1000); /* the plausible ones got through */
}

static void bufmap_missing(void **state)
{
	cr_bufmap mine, theirs;
	uint32_t out[32];

	/* mine: 100..115 holding 100, 101, 105 */
	assert_int_equal(cr_bufmap_init(&mine, 100, 16), 0);
	cr_bufmap_set(&mine, 100);
	cr_bufmap_set(&mine, 101);
	cr_bufmap_set(&mine, 105);
	/* theirs: 98..117 holding 99, 100, 102, 105, 106, 115, 117 */
	assert_int_equal(cr_bufmap_init(&theirs, 98, 20), 0);
	cr_bufmap_set(&theirs, 99);
	cr_bufmap_set(&theirs, 100);
	cr_bufmap_set(&theirs, 102);
	cr_bufmap_set(&theirs, 105);
	cr_bufmap_set(&theirs, 106);
	cr_bufmap_set(&theirs, 115);
	cr_bufmap_set(&theirs, 117);

	/* 99 is before my window, 117 after it */
	assert_int_equal(cr_bufmap_missing(&mine, &theirs, 0, out, 32), 3);
	assert_int_equal(out[0], 102);
	assert_int_equal(out[1], 106);
	assert_int_equal(out[2], 115);
	assert_int_equal(cr_bufmap_missing(&mine, &theirs, 103, out, 32), 2);
	assert_int_equal(out[0], 106);
	assert_int_equal(cr_bufmap_missing(&mine, &theirs, 0, out, 1), 1);
	assert_int_equal(out[0], 102);
	assert_int_equal(cr_bufmap_missing(&mine, &theirs, 116, out, 32), 0);
	assert_int_equal(cr_bufmap_missing(&mine, &theirs, 0, NULL, 0), 0);
	assert_int_equal(cr_bufmap_missing(&mine, &theirs, 0, NULL, 5),
			 -CR_EINVAL);
	assert_int_equal(cr_bufmap_missing(NULL, &theirs, 0, out, 5),
			 -CR_EINVAL);
	/* they hold nothing I lack */
	assert_int_equal(cr_bufmap_missing(&mine, &mine, 0, out, 32), 0);
}

static void bufmap_rarest(void **state)
{
	cr_bufmap mine, a, b, c;
	const cr_bufmap *nb[4] = {&a, &b, NULL, &c};
	uint32_t out[16];
	static const uint32_t all[] = {1, 7, 9, 2, 3, 5};

	/* mine: 0..9 holding 0.  A: 1, 2, 3, 5 (and 0).  B, from 2: 2, 3,
	 * 5, 7, and 12 beyond my window.  C, from 3: 3, 5, 9.
	 * Holders: 1:1 2:2 3:3 5:3 7:1 9:1. */
	assert_int_equal(cr_bufmap_init(&mine, 0, 10), 0);
	cr_bufmap_set(&mine, 0);
	assert_int_equal(cr_bufmap_init(&a, 0, 8), 0);
	cr_bufmap_set(&a, 0);
	cr_bufmap_set(&a, 1);
	cr_bufmap_set(&a, 2);
	cr_bufmap_set(&a, 3);
	cr_bufmap_set(&a, 5);
	assert_int_equal(cr_bufmap_init(&b, 2, 12), 0);
	cr_bufmap_set(&b, 2);
	cr_bufmap_set(&b, 3);
	cr_bufmap_set(&b, 5);
	cr_bufmap_set(&b, 7);
	cr_bufmap_set(&b, 12);
	assert_int_equal(cr_bufmap_init(&c, 3, 7), 0);
	cr_bufmap_set(&c, 3);
	cr_bufmap_set(&c, 5);
	cr_bufmap_set(&c, 9);

	assert_int_equal(cr_bufmap_rarest(&mine, nb, 4, 0, out, 16), 6);
	assert_memory_equal(out, all, sizeof(all));
	/* from 4 on: 7, 9 (one holder each), then 5 (three) */
	assert_int_equal(cr_bufmap_rarest(&mine, nb, 4, 4, out, 16), 3);
	assert_int_equal(out[0], 7);
	assert_int_equal(out[1], 9);
	assert_int_equal(out[2], 5);
	/* the first max of the order */
	assert_int_equal(cr_bufmap_rarest(&mine, nb, 4, 0, out, 2), 2);
	assert_int_equal(out[0], 1);
	assert_int_equal(out[1], 7);
	/* one neighbour: its segments I lack, earliest first */
	assert_int_equal(cr_bufmap_rarest(&mine, nb + 1, 1, 0, out, 16), 4);
	assert_int_equal(out[0], 2);
	assert_int_equal(out[3], 7);
	/* nobody, or nothing to want */
	assert_int_equal(cr_bufmap_rarest(&mine, NULL, 0, 0, out, 16), 0);
	assert_int_equal(cr_bufmap_rarest(&mine, nb, 4, 10, out, 16), 0);
	assert_int_equal(cr_bufmap_rarest(&mine, nb, 70000, 0, out, 16),
			 -CR_EINVAL);
	assert_int_equal(cr_bufmap_rarest(NULL, nb, 4, 0, out, 16),
			 -CR_EINVAL);
	assert_int_equal(cr_bufmap_rarest(&mine, nb, 4, 0, NULL, 16),
			 -CR_EINVAL);
}

/* Rarest-first on full-size maps against a direct count. */
static void bufmap_rarest_large(void **state)
{
	static cr_bufmap maps[12];
	const cr_bufmap *nb[12];
	static uint32_t out[CR_BUFMAP_MAX];
	cr_bufmap mine;
	int n;

	assert_int_equal(cr_bufmap_init(&mine, 5000, CR_BUFMAP_MAX), 0);
	for (uint32_t k = 5000; k < 5000 + CR_BUFMAP_MAX; k++)
		if (rnd_below(3) == 0)
			cr_bufmap_set(&mine, k);
	for (int i = 0; i < 12; i++) {
		uint32_t base = 4000 + rnd_below(2000);

		assert_int_equal(cr_bufmap_init(&maps[i], base, CR_BUFMAP_MAX),
				 0);
		for (uint32_t k = base; k < base + CR_BUFMAP_MAX; k++)
			if (rnd_below(i + 2) == 0)
				cr_bufmap_set(&maps[i], k);
		nb[i] = &maps[i];
	}
	n = cr_bufmap_rarest(&mine, nb, 12, 5100, out, CR_BUFMAP_MAX);
	assert_true(n > 100);
	for (int i = 0; i < n; i++) {
		uint32_t h = 0, prev_h = 0;

		assert_true(out[i] >= 5100 && out[i] < 5000 + CR_BUFMAP_MAX);
		assert_false(cr_bufmap_has(&mine, out[i]));
		for (int j = 0; j < 12; j++)
			h += cr_bufmap_has(&maps[j], out[i]);
		assert_true(h > 0);
		if (i) {
			for (int j = 0; j < 12; j++)
				prev_h += cr_bufmap_has(&maps[j], out[i - 1]);
			assert_true(prev_h < h ||
				    (prev_h == h && out[i - 1] < out[i]));
		}
	}
	/* and nothing left out */
	{
		int want = 0;

		for (uint32_t k = 5100; k < 5000 + CR_BUFMAP_MAX; k++) {
			bool any = false;

			for (int j = 0; j < 12; j++)
				any |= cr_bufmap_has(&maps[j], k);
			want += any && !cr_bufmap_has(&mine, k);
		}
		assert_int_equal(n, want);
	}
}

/* --- the playback timer, through a real node ------------------------------ */

#define BASE 28400
#define SEG_NS (100 * CR_MS)
#define RATE 50000		/* bytes/s */
#define SEG_BYTES 5000		/* RATE x SEG_NS */
#define BLOCK 988		/* 5 x 988 = 4940, then a block of 60 */
#define STARTUP (300 * CR_MS)
#define MAXB (1u << 20)

/* Each array is written by one peer's worker only and read after the run:
 * the two peers run on different threads. */
static uint8_t src_bytes[MAXB]; /* the source: everything it made */
static uint64_t src_len;
static uint8_t out_bytes[MAXB]; /* the player: what it played, in place */
static struct {
	uint32_t next; /* the segment on_segment should see next */
	bool order_broken, setup_failed, refused, no_data;
	uint64_t played, missed;
	uint32_t first, last_played;
	bool got[MAXB / SEG_BYTES]; /* played, with its bytes */
	cr_playbuf_stats end;
	int64_t start_at; /* 0: cr_playbuf_start; else start_at now + this */
	int64_t due;	  /* ... and the time it asked for */
} pl;

struct tp {
	cr_stream st;
	cr_playbuf *pb;
	bool started;
	uint64_t pos; /* the source: stream bytes sent so far */
};

static void tp_played(cr_playbuf *pb, uint32_t segment, bool played,
		      const void *data, size_t len, void *arg)
{
	uint64_t at = (uint64_t)segment * SEG_BYTES;

	(void)pb;
	(void)arg;
	if (segment != pl.next)
		pl.order_broken = true;
	pl.next = segment + 1;
	if (!played) {
		pl.missed++;
		return;
	}
	pl.played++;
	pl.last_played = segment;
	if (!data || len != SEG_BYTES)
		pl.no_data = true;
	else if (at + len <= MAXB) {
		memcpy(out_bytes + at, data, len);
		pl.got[segment] = true;
	}
}

static void tp_join(cr_peer *p, uint16_t session)
{
	struct tp *t = cr_state(p);
	const cr_addr *down;
	cr_playbuf_config cfg;

	if (cr_stream_init(&t->st, session, RATE, SEG_NS, BLOCK))
		pl.setup_failed = true;
	if (cr_bootstrap_peers(p, &down))
		return; /* the source only cuts and sends */
	cr_playbuf_config_init(&cfg, &t->st);
	cfg.window = 20;
	cfg.history = 5;
	cfg.startup_ns = STARTUP;
	cfg.keep_data = true;
	cfg.on_segment = tp_played;
	if (cr_playbuf_new(&cfg, &t->pb))
		pl.setup_failed = true;
}

/* The source cuts what its generator makes into whole blocks, as
 * cr_stream_locate says, and sends each once it has all its bytes. */
static void tp_source(cr_peer *p, struct tp *t, const cr_msg *m)
{
	size_t len = cr_msg_len(m);
	const cr_addr *down;
	uint32_t seg, off, n;

	if (!cr_bootstrap_peers(p, &down) || src_len + len > MAXB)
		return;
	memcpy(src_bytes + src_len, cr_msg_payload(m), len);
	src_len += len;
	while (!cr_stream_locate(&t->st, t->pos, &seg, &off, &n) &&
	       t->pos + n <= src_len) {
		cr_msg *out = cr_seg_msg_new(p, CR_MSG_DATA_MIN, &t->st, seg,
					     off, src_bytes + t->pos, n);

		if (!out) {
			pl.setup_failed = true;
			return;
		}
		cr_send(p, &down[0], out, CR_TCP);
		cr_msg_release(out);
		t->pos += n;
	}
}

static void tp_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	struct tp *t = cr_state(p);
	cr_seg_hdr h;
	int r;

	if (cr_is_self(p, from)) {
		tp_source(p, t, m);
		return;
	}
	if (!t->pb)
		return;
	/* playback starts from the first segment that arrives */
	if (!t->started &&
	    !cr_seg_hdr_get(cr_msg_payload(m), cr_msg_len(m), &h)) {
		if (pl.start_at) {
			/* a time in the past is refused, and nothing begins */
			if (cr_playbuf_start_at(t->pb, p, h.segment,
						cr_now(p) - 1) != -CR_EINVAL ||
			    cr_playbuf_started(t->pb) ||
			    cr_playbuf_start_at(t->pb, p, h.segment,
						pl.due = cr_now(p) + pl.start_at))
				pl.setup_failed = true;
		} else if (cr_playbuf_start(t->pb, p, h.segment)) {
			pl.setup_failed = true;
		}
		pl.first = pl.next = h.segment;
		t->started = true;
	}
	r = cr_playbuf_add_msg(t->pb, m, cr_now(p));
	if (r != CR_PB_NEW && r != CR_PB_COMPLETE)
		pl.refused = true;
}

static void tp_destroy(cr_peer *p)
{
	struct tp *t = cr_state(p);

	if (!t->pb)
		return;
	cr_playbuf_get_stats(t->pb, &pl.end);
	cr_playbuf_free(t->pb); /* stops the timer */
}

static const cr_algorithm player = {
	.api_version = CR_API_VERSION,
	.name = "player",
	.state_size = sizeof(struct tp),
	.join_session = tp_join,
	.process_data = tp_data,
	.destroy = tp_destroy,
};

static void run_player(int64_t start_at)
{
	const int64_t startup = start_at ? start_at : STARTUP;
	int64_t due;
	struct cr_chains ch;
	struct cr_node_config cfg = {0};
	struct cr__source_cfg src = {0};
	cr_addr base = t_addr(BASE);
	cr_node *n = NULL;
	char err[256];

	memset(&pl, 0, sizeof(pl));
	pl.start_at = start_at;
	src_len = 0;
	assert_int_equal(cr_chains_build(&ch, &base, 1, 1, err, sizeof(err)),
			 0);
	src.peer_index = 0;
	src.session = 1;
	src.msg_size = 1000; /* not a block: the source must cut */
	src.rate_Bps = RATE;
	cfg.name = "test-stream";
	cfg.duration_ns = 1500 * CR_MS;
	cfg.workers = 2;
	cfg.algo = &player;
	cfg.peers = ch.peers;
	cfg.npeers = ch.npeers;
	cfg.sources = &src;
	cfg.nsources = 1;
	cfg.log_level = CR_LOG_WARN;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)), 0);
	if (cr_node_run(n, err, sizeof(err)))
		fail_msg("node: %s", err);
	cr_node_destroy(n);
	cr_chains_free(&ch);

	assert_false(pl.setup_failed);
	assert_false(pl.refused);
	assert_false(pl.no_data);
	assert_false(pl.order_broken);
	/* the source starts at segment 0, and so does the player */
	assert_int_equal(pl.first, 0);
	/* first played exactly startup after the start (or whole segment
	 * times later, had the first been missed): deadlines, not the
	 * timer's later firing times */
	assert_true(pl.end.start_ns >= 0);
	due = start_at ? pl.due : pl.end.start_ns + startup;
	assert_true(due >= pl.end.start_ns + startup - CR_MS);
	assert_true(pl.end.first_played_ns >= due);
	assert_true((pl.end.first_played_ns - due) % SEG_NS == 0);
	if (!pl.missed)
		assert_true(pl.end.first_played_ns == due);
	/* the timer played a segment each 100 ms from ~0.3 s to 1.5 s, and
	 * 300 ms of buffering is ample on loopback */
	assert_true(pl.played + pl.missed >= 9);
	assert_true(pl.played >= 8);
	assert_true(pl.missed <= 1);
	assert_int_equal(pl.end.played, pl.played);
	assert_int_equal(pl.end.missed, pl.missed);
	assert_int_equal(pl.end.late_bytes + pl.end.duplicate_bytes +
				 pl.end.ahead_bytes,
			 0);
	/* what was played is what the source made, byte for byte */
	assert_true((uint64_t)(pl.last_played + 1) * SEG_BYTES <= src_len);
	for (uint32_t k = 0, seen = 0; k <= pl.last_played; k++) {
		if (!pl.got[k])
			continue;
		assert_memory_equal(out_bytes + k * SEG_BYTES,
				    src_bytes + k * SEG_BYTES, SEG_BYTES);
		if (++seen == pl.played)
			break;
	}
}

static void playbuf_on_engine_timer(void **state)
{
	run_player(0);
}

/* The same, the first segment due at a time given (a common schedule). */
static void playbuf_start_at_a_time(void **state)
{
	run_player(450 * CR_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stream_layout),
		cmocka_unit_test(stream_locate),
		cmocka_unit_test(seg_hdr_bytes),
		cmocka_unit_test(playbuf_config),
		cmocka_unit_test(playbuf_on_time_and_missed),
		cmocka_unit_test(playbuf_deadline_exact),
		cmocka_unit_test(playbuf_late_never_played),
		cmocka_unit_test(playbuf_duplicates_exact),
		cmocka_unit_test(playbuf_bad_arrivals),
		cmocka_unit_test(playbuf_history_and_slide),
		cmocka_unit_test(playbuf_start_at_a_time),
		cmocka_unit_test(playbuf_stop_in_callback),
		cmocka_unit_test(playbuf_keeps_data),
		cmocka_unit_test(playbuf_wraps_like_model),
		cmocka_unit_test(playbuf_big_jump),
		cmocka_unit_test(playbuf_latency_and_level),
		cmocka_unit_test(playbuf_end_of_stream),
		cmocka_unit_test(bufmap_bytes),
		cmocka_unit_test(bufmap_round_trip),
		cmocka_unit_test(bufmap_malformed),
		cmocka_unit_test(bufmap_garbage),
		cmocka_unit_test(bufmap_missing),
		cmocka_unit_test(bufmap_rarest),
		cmocka_unit_test(bufmap_rarest_large),
		cmocka_unit_test(playbuf_on_engine_timer),
	};

	return cmocka_run_group_tests_name("streaming building blocks", tests,
					   NULL, NULL);
}
