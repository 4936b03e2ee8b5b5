/* Internals shared by the files of src/stream/ (prefix cr__): the playback
 * buffer's layout, so that its engine glue (playtimer.c) stays apart from
 * the pure accounting (playbuf.c) that the tests drive on a fake timeline;
 * the byte-order helpers of the wire forms are core's (core/bytes.h).
 */
#ifndef CRYSTAL_STREAM_INTERNAL_H
#define CRYSTAL_STREAM_INTERNAL_H

#include <crystal/crystal.h>

#include "../core/bytes.h"

#include <stdbool.h>
#include <stdint.h>

/* One segment of the window.  The slot of segment k is k % window: the
 * window never holds two segments with the same slot. */
struct cr__pb_slot {
	uint32_t got_bytes; /* distinct bytes held */
};

struct cr_playbuf {
	cr_playbuf_config cfg;
	uint32_t words; /* 64-bit words of arrival bitmap per slot */
	struct cr__pb_slot *slots;
	uint64_t *bits;	 /* window x words: one bit per block */
	uint8_t *data;	 /* window x segment_bytes, when keeping data */

	bool begun, stopped;
	/* 64 bits wide so that the window may run up to segment 2^32 - 1
	 * without any sum wrapping. */
	uint64_t first;	  /* first segment played */
	uint64_t next;	  /* next segment due */
	uint64_t base;	  /* window start: max(first, next - history) */
	int64_t play0_ns; /* playback time of `first` */
	int64_t next_due_ns;
	/* the end of a finite stream: the last segment and its size */
	bool ended;
	uint64_t end_seg;
	uint32_t end_len;

	cr_playbuf_stats st;

	/* engine glue */
	cr_peer *peer;
	cr_timer_id timer;
	bool origin_from_session; /* cfg.origin_ns follows the session */
};

/* Is [offset, offset + len) a block range of a segment of st? */
bool cr__seg_range_ok(const cr_stream *st, uint32_t offset, uint32_t len);

#endif
