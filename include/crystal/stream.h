/* Streaming building blocks: segments, the playback buffer, buffer maps.
 *
 * Protocols on Crystal share these instead of writing them again (the
 * paper's §III.B.5).  They are a library under the API, not part of the
 * engine: the only engine service they use is the timer the playback buffer
 * plays on.  docs/streaming.md describes them with an example.
 *
 * Segments.  A session's stream is cut into segments of a fixed playback
 * time (1 s unless the session says otherwise); a segment holds rate_Bps x
 * segment_ns bytes of the stream.  Each data message carries one block of
 * one segment behind a 12-byte prefix (cr_seg_hdr) so that the source and
 * every peer agree where its bytes belong.  A message never spans two
 * segments: a segment whose size is not a multiple of the block size ends
 * with a short block.
 *
 * The playback buffer (cr_playbuf) is a peer's window of W segments of one
 * session, in playback order.  It records which blocks of each segment
 * arrived, plays one segment per segment time once a startup delay has
 * passed, and counts what was played on time, missed, late, duplicated.
 * The accounting is a pure function of "bytes arrived at t" and "tick at
 * t"; cr_playbuf_start() adds the engine timer that ticks it.
 *
 * Buffer maps (cr_bufmap) say which segments a peer holds, from a base
 * segment on, in a compact form neighbours exchange; helpers choose what to
 * ask a neighbour for (missing segments, rarest first).
 *
 * Everything here belongs to the peer that made it: use it from that
 * peer's callbacks only, like the rest of the API.
 */
#ifndef CRYSTAL_STREAM_H
#define CRYSTAL_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "message.h"
#include "units.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- Segments ------------------------------------------------------------ */

/* Playback time of a segment, unless the session says otherwise. */
#define CR_SEG_DEFAULT_NS CR_SEC
/* Longer is surely a mistake of units. */
#define CR_SEG_MAX_NS (3600 * CR_SEC)
/* The data message prefix, cr_seg_hdr. */
#define CR_SEG_HDR_SIZE 12
/* Stream bytes per data message by default: the experiment file's default
 * message_size (1024) less the prefix. */
#define CR_SEG_DEFAULT_BLOCK (1024 - CR_SEG_HDR_SIZE)
/* Blocks per segment at most: bounds the arrival bitmaps (128 KiB a
 * segment at the limit). */
#define CR_SEG_MAX_BLOCKS (1u << 20)

/* A session's stream layout.  Fill it with cr_stream_init(); the derived
 * fields are read-only. */
typedef struct cr_stream {
	uint16_t session;
	uint64_t rate_Bps;
	int64_t segment_ns;
	uint32_t block_bytes;	/* stream bytes per data message */
	uint32_t segment_bytes; /* rate_Bps x segment_ns, rounded down */
	uint32_t blocks;	/* per segment; the last may be short */
} cr_stream;

/* segment_ns 0 means CR_SEG_DEFAULT_NS, block_bytes 0 CR_SEG_DEFAULT_BLOCK.
 * Returns 0, or -CR_EINVAL when the rate is 0 (a stream without a rate has
 * no playback time), segment_ns is negative or above CR_SEG_MAX_NS, a
 * segment would be under 1 byte or over 4 GiB - 1 (offsets are 32 bits),
 * or it would take more than CR_SEG_MAX_BLOCKS blocks. */
int cr_stream_init(cr_stream *st, uint16_t session, uint64_t rate_Bps,
		   int64_t segment_ns, uint32_t block_bytes);

/* Where the byte at position pos of the stream (counting from the start of
 * segment 0) belongs: its segment, its offset in the segment, and how many
 * bytes from there to the end of its block, which is what one data message
 * may carry.  A source cuts its output with it.  Returns 0, or -CR_EINVAL
 * past segment 2^32 - 1. */
int cr_stream_locate(const cr_stream *st, uint64_t pos, uint32_t *segment,
		     uint32_t *offset, uint32_t *len);

/* The prefix of a data message, 12 bytes in network byte order:
 *
 *	0  session  u16   the session (the message header's, repeated)
 *	2  flags    u16   CR_SEG_END, or 0
 *	4  segment  u32   segment number, 0 = the first of the stream
 *	8  offset   u32   offset of the first byte within the segment
 *	12 data           the block: the rest of the payload
 *
 * CR_SEG_END marks the block that ends a finite stream (a file, or stdin
 * at its end): its segment is the last, offset + length bytes long, and
 * that block may be short.  Unknown flags are refused rather than ignored,
 * so that a later format is never misread as this one. */
#define CR_SEG_END 0x0001
typedef struct cr_seg_hdr {
	uint16_t session;
	uint16_t flags;
	uint32_t segment;
	uint32_t offset;
} cr_seg_hdr;

/* Writes h into the first CR_SEG_HDR_SIZE bytes of buf.  Returns 0,
 * -CR_EMSGSIZE when len is too short, -CR_EINVAL for unknown flags. */
int cr_seg_hdr_put(void *buf, size_t len, const cr_seg_hdr *h);
/* Reads the prefix of a payload of len bytes.  Returns 0, or -CR_EINVAL
 * when it is shorter than the prefix or has unknown flags. */
int cr_seg_hdr_get(const void *payload, size_t len, cr_seg_hdr *out);

/* A new data message (type 128..255) of st's session holding bytes
 * [offset, offset + len) of `segment`, prefix included: data, or zeros when
 * data is NULL (a stream whose content does not matter).  The caller holds
 * a reference, as with cr_msg_new().  NULL when out of memory, when type is
 * not a data type, or when the range is not one the playback buffer takes
 * (see cr_playbuf_add). */
cr_msg *cr_seg_msg_new(cr_peer *p, uint8_t type, const cr_stream *st,
		       uint32_t segment, uint32_t offset, const void *data,
		       uint32_t len);

/* --- Buffer maps --------------------------------------------------------- */

/* Segments in one map at most: a sane bound for a neighbour's map and the
 * largest playback window. */
#define CR_BUFMAP_MAX	   4096
#define CR_BUFMAP_HDR_SIZE 6

/* Which of segments [base, base + count) a peer holds: bit i for segment
 * base + i.  A value type: copy it freely. */
typedef struct cr_bufmap {
	uint32_t base;
	uint16_t count;
	uint8_t bits[CR_BUFMAP_MAX / 8];
} cr_bufmap;

/* An empty map of count segments from base.  Returns 0, or -CR_EINVAL when
 * count is above CR_BUFMAP_MAX or base + count passes 2^32. */
int cr_bufmap_init(cr_bufmap *bm, uint32_t base, uint32_t count);
/* Marks a segment held.  Returns 0, or -CR_EINVAL outside the map. */
int cr_bufmap_set(cr_bufmap *bm, uint32_t segment);
/* Is the segment in the map and held?  False outside it. */
bool cr_bufmap_has(const cr_bufmap *bm, uint32_t segment);
/* Segments held. */
uint32_t cr_bufmap_held(const cr_bufmap *bm);

/* Encoded, in network byte order:
 *
 *	0  base   u32
 *	4  count  u16   at most CR_BUFMAP_MAX
 *	6  bits         ceil(count / 8) bytes; segment base + i is bit
 *			(0x80 >> i % 8) of byte i / 8; the unused low bits
 *			of the last byte are 0
 *
 * cr_bufmap_size() is its length.  A map takes the whole payload, or its
 * tail: the decoder insists on the exact length. */
size_t cr_bufmap_size(const cr_bufmap *bm);
/* Returns the bytes written, -CR_EMSGSIZE when len is too short, or
 * -CR_EINVAL for a map that could not be decoded. */
int cr_bufmap_encode(const cr_bufmap *bm, void *buf, size_t len);
/* Returns 0, or -CR_EINVAL (and leaves out untouched) when the payload is
 * not exactly one well-formed map: shorter than the header, count above
 * CR_BUFMAP_MAX, base + count past 2^32, length not matching count, or
 * stray bits after the last segment.  A map from a neighbour is input
 * from the network: a malformed one is refused, never half-read. */
int cr_bufmap_decode(const void *payload, size_t len, cr_bufmap *out);

/* Segments from `from` on, within mine's range, that mine lacks and theirs
 * holds, earliest first, at most max of them into out.  Returns how many
 * (0 or more), or -CR_EINVAL for a NULL argument. */
int cr_bufmap_missing(const cr_bufmap *mine, const cr_bufmap *theirs,
		      uint32_t from, uint32_t *out, size_t max);
/* The same over n neighbours' maps (NULL entries are skipped), ordered
 * rarest first: by how many of them hold the segment, fewest first, ties
 * broken by deadline, earliest segment first.  Segments no neighbour holds
 * are left out.  Returns how many (0 or more), or -CR_EINVAL for a NULL
 * argument or n above 65535. */
int cr_bufmap_rarest(const cr_bufmap *mine, const cr_bufmap *const theirs[],
		     size_t n, uint32_t from, uint32_t *out, size_t max);

/* --- The playback buffer ------------------------------------------------- */

#define CR_PLAYBUF_DEFAULT_WINDOW     60
#define CR_PLAYBUF_DEFAULT_HISTORY    10
#define CR_PLAYBUF_DEFAULT_STARTUP_NS (5 * CR_SEC)

typedef struct cr_playbuf cr_playbuf;

/* Called once for each segment as its playback time comes: played (it was
 * complete in time) or missed.  len is the segment's size when it was
 * played, 0 when missed; data is its bytes when it was played and the
 * buffer keeps data, NULL otherwise.  Segments come in order, without
 * gaps.  It may stop the buffer, but must not add to, tick or free it. */
typedef void (*cr_playbuf_cb)(cr_playbuf *pb, uint32_t segment, bool played,
			      const void *data, size_t len, void *arg);

typedef struct cr_playbuf_config {
	cr_stream stream;
	/* Segments held, W: the next to play, those after it, and the last
	 * `history` played (kept so that neighbours who play later can
	 * still fetch them).  1..CR_BUFMAP_MAX, so that a buffer map
	 * describes the whole window. */
	uint32_t window;
	uint32_t history; /* below window */
	/* From cr_playbuf_start() to the first segment's playback time:
	 * buffering before playback. */
	int64_t startup_ns;
	/* Keep the bytes themselves (window x segment_bytes of memory), to
	 * serve them to neighbours and hand them to on_segment; otherwise
	 * only which blocks arrived is kept. */
	bool keep_data;
	cr_playbuf_cb on_segment; /* NULL: none */
	void *arg;
	/* Experiment time at which the source began segment 0, for the
	 * segment latency (segment k is whole at the source at origin_ns +
	 * (k + 1) x segment_ns); -1: unknown.  cr_playbuf_start fills it
	 * from the session (cr_session_info_get) when it is -1. */
	int64_t origin_ns;
} cr_playbuf_config;

/* The defaults (window CR_PLAYBUF_DEFAULT_WINDOW, history
 * CR_PLAYBUF_DEFAULT_HISTORY, startup CR_PLAYBUF_DEFAULT_STARTUP_NS, no
 * data kept, no callback) for stream st. */
void cr_playbuf_config_init(cr_playbuf_config *cfg, const cr_stream *st);

/* Returns 0, -CR_EINVAL for a configuration out of range (the stream as
 * cr_stream_init checks it, window, history, negative startup), or
 * -CR_ENOMEM. */
int cr_playbuf_new(const cr_playbuf_config *cfg, cr_playbuf **out);
/* Stops its timer if it has one; NULL is allowed. */
void cr_playbuf_free(cr_playbuf *pb);

/* Starts playback on peer p: segment first_segment plays startup_ns from
 * now and each later one a segment time after the previous, on a periodic
 * engine timer.  Data for earlier segments is late from then on.  Returns
 * 0, -CR_ESTATE when it was started before or the engine refused the
 * timer (the peer is ending). */
int cr_playbuf_start(cr_playbuf *pb, cr_peer *p, uint32_t first_segment);
/* The same, with the first segment due at first_due_ns (experiment time,
 * not before now) instead of startup_ns from now: peers that compute it
 * from the session's start play every segment at the same time.  Returns
 * 0, -CR_ESTATE when already begun, -CR_EINVAL for a time in the past. */
int cr_playbuf_start_at(cr_playbuf *pb, cr_peer *p, uint32_t first_segment,
			int64_t first_due_ns);
/* Stops playback (the peer leaves the session): the timer ends, counts
 * stay as they are, and arrivals are refused from then on. */
void cr_playbuf_stop(cr_playbuf *pb);

/* The stream ends: `segment` is the last, len bytes long (1 to a whole
 * segment; its last block may be short).  Nothing after it comes due, so
 * playback ends with it and continuity counts no segment past the end.
 * The source's algorithm calls it when the engine's source ends (an empty
 * data message from itself); elsewhere cr_playbuf_add_msg calls it for a
 * block marked CR_SEG_END.  Returns 0 (also when told the same again), or
 * -CR_EINVAL for a length out of range, an end that contradicts one
 * already known, or bytes already held past it. */
int cr_playbuf_end(cr_playbuf *pb, uint32_t segment, uint32_t len);
/* Has the end been declared?  If so, the last segment into *segment. */
bool cr_playbuf_ended(const cr_playbuf *pb, uint32_t *segment);
/* Bytes in a segment: the stream's segment size, or less for the last. */
uint32_t cr_playbuf_segment_size(const cr_playbuf *pb, uint32_t segment);

/* A data message of bytes [offset, offset + len) of a segment this buffer
 * holds (it must keep data, and hold every block of the range), for
 * serving a neighbour; the block that ends the stream is marked
 * CR_SEG_END.  The caller holds a reference.  NULL when the range is not a
 * block range of the segment, is not all held, or out of memory. */
cr_msg *cr_playbuf_msg_new(cr_peer *p, const cr_playbuf *pb, uint8_t type,
			   uint32_t segment, uint32_t offset, uint32_t len);

/* What became of an arrival (cr_playbuf_add). */
enum cr_playbuf_arrival {
	CR_PB_NEW = 0,	     /* new bytes, in time to be played */
	CR_PB_COMPLETE = 1,  /* new bytes in time that completed the segment */
	CR_PB_LATE = 2,	     /* its segment's playback time has passed */
	CR_PB_DUPLICATE = 3, /* every block of it was held already */
	CR_PB_AHEAD = 4,     /* beyond the window: dropped */
};

/* Bytes [offset, offset + len) of `segment` arrived at now_ns; data may be
 * NULL unless the buffer keeps data.  The range must start on a block
 * boundary and end on one or at the end of the segment (as
 * cr_stream_locate cuts it).  Playback is first brought up to now_ns, so
 * a late timer never turns late bytes into played ones.
 *
 * Every byte is counted once, in one of: received (new, in time), late
 * (its segment's playback time has passed; kept if its segment is still in
 * the window, so that it can be served, but never played), duplicate (its
 * block was held already) or ahead (beyond the window; dropped).
 *
 * Returns an enum cr_playbuf_arrival (for a range that is partly new, the
 * first that applies of COMPLETE, NEW, LATE, DUPLICATE), -CR_EINVAL for a
 * range that is not a block range of a segment, or -CR_ESTATE before
 * playback was started or after it stopped. */
int cr_playbuf_add(cr_playbuf *pb, uint32_t segment, uint32_t offset,
		   const void *data, uint32_t len, int64_t now_ns);
/* The same for a data message: its prefix says where the bytes belong.
 * -CR_EINVAL also for a malformed prefix or another session's message. */
int cr_playbuf_add_msg(cr_playbuf *pb, const cr_msg *m, int64_t now_ns);

/* The playback logic without the engine (cr_playbuf_start is this plus a
 * timer): begin playback of first_segment at now_ns + startup_ns, and play
 * every segment whose playback time is at or before now_ns.  A segment is
 * played with the bytes that arrived before its playback time.  begin
 * returns 0 or -CR_ESTATE when already begun; tick returns how many
 * segments came due. */
int cr_playbuf_begin(cr_playbuf *pb, uint32_t first_segment, int64_t now_ns);
int cr_playbuf_tick(cr_playbuf *pb, int64_t now_ns);

/* Has playback begun (cr_playbuf_start or cr_playbuf_begin)? */
bool cr_playbuf_started(const cr_playbuf *pb);
/* The segment due next and the window's start (the oldest held): both 0
 * before playback begins. */
uint32_t cr_playbuf_next_due(const cr_playbuf *pb);
uint32_t cr_playbuf_base(const cr_playbuf *pb);
/* The playback time of a segment (INT64_MAX before playback begins or far
 * beyond the end of time). */
int64_t cr_playbuf_deadline(const cr_playbuf *pb, uint32_t segment);
/* Is the segment in the window and complete? */
bool cr_playbuf_has(const cr_playbuf *pb, uint32_t segment);
/* Does it hold every block that bytes [offset, offset + len) of the
 * segment touch?  false outside the window, past the stream's end, or for
 * len 0.  A protocol that asks for parts of segments checks parts with it. */
bool cr_playbuf_has_range(const cr_playbuf *pb, uint32_t segment,
			  uint32_t offset, uint32_t len);
/* Bytes of it held: 0 outside the window. */
uint32_t cr_playbuf_bytes(const cr_playbuf *pb, uint32_t segment);
/* Its bytes, when the buffer keeps data and holds it complete; else NULL. */
const void *cr_playbuf_data(const cr_playbuf *pb, uint32_t segment);
/* The window as a buffer map: complete segments from the base on. */
void cr_playbuf_bufmap(const cr_playbuf *pb, cr_bufmap *out);
const cr_stream *cr_playbuf_stream(const cr_playbuf *pb);

typedef struct cr_playbuf_stats {
	uint64_t played; /* segments complete at their playback time */
	uint64_t missed; /* segments incomplete at their playback time */
	uint64_t received_bytes;  /* new, in time */
	uint64_t late_bytes;	  /* after their segment's playback time */
	uint64_t duplicate_bytes; /* of blocks held already */
	uint64_t ahead_bytes;	  /* beyond the window, dropped */
	int64_t start_ns;	  /* playback started (begin's now), or -1 */
	/* Playback time of the first segment played, or -1: the startup
	 * delay is first_played_ns - start_ns, or from the peer's join. */
	int64_t first_played_ns;
	/* Segment latency: segments completed in time while the origin was
	 * known, and the sum and largest of (completed at - whole at the
	 * source), each at least 0. */
	uint64_t completed;
	int64_t latency_sum_ns;
	int64_t latency_max_ns;
} cr_playbuf_stats;

/* Complete segments from the next due on: the buffer level. */
uint32_t cr_playbuf_buffered(const cr_playbuf *pb);
/* Sets the origin of the segment latency (see cr_playbuf_config). */
void cr_playbuf_set_origin(cr_playbuf *pb, int64_t origin_ns);

void cr_playbuf_get_stats(const cr_playbuf *pb, cr_playbuf_stats *out);

#ifdef __cplusplus
}
#endif
#endif
