/* Mesh building blocks: the machinery a mesh protocol needs beside its own
 * idea, written once so that protocols stay small.
 *
 * - cr_nbset, a neighbour set: the peers a peer trades with, between a
 *   floor and a ceiling, with candidates kept for later; below the floor
 *   it refills from the candidates and then from the tracker.
 * - cr_reqtab, a request table: what a pulling peer has asked for and of
 *   whom, one request per item at a time, each with a timeout; and
 *   cr_holder, what it knows of how soon a neighbour would serve it.
 * - cr_uploader: what a peer has to send, queued and handed to its upload
 *   link earliest deadline first, only a short lead at a time, so that the
 *   order can still change and what would arrive too late is dropped
 *   rather than sent; a push protocol fills it from an idle callback.
 * - cr_segmenter: a source's bytes cut into the blocks of a stream's
 *   segments (stream.h), for its playback buffer or anything else.
 * - cr_parts: segments asked for and announced in parts of a few blocks,
 *   numbered as items, with buffer maps of parts.
 * - cr_seeder: how often a source has pushed each part of its window, and
 *   the part to push next (the one pushed least).
 * - live playback: the stream layout of a session, and a playback buffer
 *   started on the schedule every peer shares (each segment played a fixed
 *   delay after the source made it).
 *
 * They use the engine only through the public API and keep no state
 * outside the structs given to them: each lives in a peer's state
 * (cr_state), and is called from that peer's callbacks.  None is thread-
 * safe.  algorithms/vanilla.c is a pull mesh built on them; see
 * docs/streaming.md ("Mesh building blocks").
 */
#ifndef CRYSTAL_PUBLIC_MESH_H
#define CRYSTAL_PUBLIC_MESH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "algorithm.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- Neighbour set ------------------------------------------------------- */

#define CR_NBSET_MAX 1024 /* neighbours at most */

typedef struct cr_nbset_config {
	uint16_t session;  /* the session the tracker is asked about */
	size_t min, max;   /* refilled below min; at most max (<= CR_NBSET_MAX) */
	size_t candidates; /* peers kept for later, at most */
	size_t data_size;  /* the protocol's bytes per neighbour, zeroed at add */
	/* below min with no candidates left, the tracker is asked this often
	 * at most (cr_tracker_query; the answer goes to cr_nbset_offer);
	 * 0: never */
	int64_t tracker_interval_ns;
} cr_nbset_config;

/* Neighbours are 0..size-1, in no particular order: removing one moves the
 * last into its place, so an index holds only until the next removal. */
typedef struct cr_nbset {
	cr_nbset_config cfg;
	cr_addr *addr;
	unsigned char *data;
	size_t n;
	cr_addr *cand;
	size_t ncand;
	int64_t next_query_ns;
	bool no_tracker; /* the experiment has none */
	uint64_t queries; /* tracker queries sent */
} cr_nbset;

/* Returns 0, -CR_EINVAL (min > max, max 0 or above CR_NBSET_MAX) or
 * -CR_ENOMEM. */
int cr_nbset_init(cr_nbset *s, const cr_nbset_config *cfg);
void cr_nbset_free(cr_nbset *s);
/* A new ceiling (1..the max it was made with); neighbours above it stay. */
int cr_nbset_set_max(cr_nbset *s, size_t max);

static inline size_t cr_nbset_size(const cr_nbset *s)
{
	return s->n;
}
static inline const cr_addr *cr_nbset_addr(const cr_nbset *s, size_t i)
{
	return &s->addr[i];
}
/* Neighbour i's data_size bytes. */
static inline void *cr_nbset_data(const cr_nbset *s, size_t i)
{
	return s->data + i * s->cfg.data_size;
}

/* The index of neighbour a, or -1. */
int cr_nbset_find(const cr_nbset *s, const cr_addr *a);
/* Makes a a neighbour: returns its index (it may already be one), or
 * -CR_ENOSPC when the set is full (a is then kept as a candidate), or
 * -CR_EINVAL for the peer itself. */
int cr_nbset_add(cr_nbset *s, cr_peer *p, const cr_addr *a);
/* a is no longer a neighbour, nor a candidate.  Returns 0 or -CR_ENOENT
 * (it was neither). */
int cr_nbset_remove(cr_nbset *s, const cr_addr *a);
/* Peers to choose from (the bootstrap peers, a tracker's answer): in an
 * order drawn with the peer's generator, so that the peers named first
 * are not everyone's choice, neighbours up to min, the rest candidates.
 * Returns how many became neighbours. */
size_t cr_nbset_offer(cr_nbset *s, cr_peer *p, const cr_addr *peers,
		      size_t n);
/* Below min: candidates become neighbours (the oldest first); with none
 * left, the tracker is asked (no more often than tracker_interval_ns).
 * Returns how many became neighbours. */
size_t cr_nbset_refill(cr_nbset *s, cr_peer *p);
/* The peer's bootstrap list (cr_bootstrap_peers), offered. */
size_t cr_nbset_offer_bootstrap(cr_nbset *s, cr_peer *p);
/* a departed: it is no longer a neighbour nor a candidate, and if it was a
 * neighbour the oldest candidate takes its place.  Returns 0 (it was no
 * neighbour), 1 (it was, and nobody took its place) or 2 (somebody did). */
int cr_nbset_depart(cr_nbset *s, cr_peer *p, const cr_addr *a);
/* A neighbour drawn uniformly with the peer's generator; -1 when empty. */
int cr_nbset_random(const cr_nbset *s, cr_peer *p);

/* --- Request table ------------------------------------------------------- */

/* One outstanding request: item `key` (the protocol's numbering, such as
 * segment x parts + part) asked of `to`. */
typedef struct cr_req {
	uint64_t key;
	cr_addr to;
	int64_t sent_ns;
	int64_t expires_ns;
} cr_req;

/* At most `max` requests at once, in a dense array: lookups are linear,
 * which is what a few hundred outstanding requests want. */
typedef struct cr_reqtab {
	cr_req *r;
	size_t n, max;
	uint64_t sent, answered, expired, forgotten;
} cr_reqtab;

int cr_reqtab_init(cr_reqtab *t, size_t max);
void cr_reqtab_free(cr_reqtab *t);
/* Records a request sent now, expiring timeout_ns later.  Returns 0, or
 * -CR_ESTATE when key is outstanding already (one request per item: the
 * table refuses a duplicate), -CR_ENOSPC when full, -CR_EINVAL for a
 * timeout not above 0. */
int cr_reqtab_add(cr_reqtab *t, uint64_t key, const cr_addr *to,
		  int64_t now_ns, int64_t timeout_ns);
const cr_req *cr_reqtab_find(const cr_reqtab *t, uint64_t key);
/* Item key was answered (it arrived, or the holder refused): the request
 * is no longer outstanding.  Returns whether it was. */
bool cr_reqtab_done(cr_reqtab *t, uint64_t key);
/* Requests outstanding to `to`. */
size_t cr_reqtab_count(const cr_reqtab *t, const cr_addr *to);
/* Removes the requests past their time, calling cb (may be NULL) with
 * each before it goes; returns how many. */
typedef void (*cr_reqtab_cb)(const cr_req *r, void *arg);
size_t cr_reqtab_expire(cr_reqtab *t, int64_t now_ns, cr_reqtab_cb cb,
			void *arg);
/* Removes the requests to a peer (it departed), or for items below `key`
 * (no longer wanted); returns how many. */
size_t cr_reqtab_forget(cr_reqtab *t, const cr_addr *to);
size_t cr_reqtab_drop_below(cr_reqtab *t, uint64_t key);

/* --- Holder ------------------------------------------------------------- */

/* What a pulling peer knows of a neighbour it asks: its upload rate and
 * its wait as it last said (in a map, or a busy answer), and what this
 * peer has asked of it since.  All times are experiment times in ns. */
typedef struct cr_holder {
	uint64_t rate_Bps; /* 0: unlimited */
	int64_t free_ns;   /* when a new request would start to be served */
	int64_t backoff_ns;
} cr_holder;

/* It said its queue would take wait_ns from now, at rate_Bps. */
void cr_holder_heard(cr_holder *h, int64_t now_ns, int64_t wait_ns,
		     uint64_t rate_Bps);
/* When it would have sent `bytes` more if asked now. */
int64_t cr_holder_eta(const cr_holder *h, int64_t now_ns, uint32_t bytes);
/* It was asked for `bytes`: they come after what it had. */
void cr_holder_asked(cr_holder *h, int64_t now_ns, uint32_t bytes);
/* It said busy (it will not send what was asked), with its wait: not
 * asked again before that wait, or a back-off that starts at first_ns and
 * doubles while it keeps saying busy, up to max_ns. */
void cr_holder_busy(cr_holder *h, int64_t now_ns, int64_t wait_ns,
		    int64_t first_ns, int64_t max_ns);
/* It delivered: the back-off is over. */
static inline void cr_holder_delivered(cr_holder *h)
{
	h->backoff_ns = 0;
}

/* --- Uploader ------------------------------------------------------------ */

/* Something to send: `key` is the protocol's (what to send), `bytes` about
 * what it costs on the wire, deadline_ns when it is of no use any more
 * (INT64_MAX: never).  Jobs go by rank (lower first), then by deadline
 * (see urgent_ns). */
typedef struct cr_upload_job {
	cr_addr to;
	uint64_t key;
	uint32_t bytes;
	uint32_t rank;
	int64_t deadline_ns;
} cr_upload_job;

/* Why a queued job was not sent. */
enum cr_upload_drop {
	CR_UPLOAD_LATE = 1, /* it would not have arrived by its deadline */
	CR_UPLOAD_FAILED,   /* send returned an error */
};

typedef struct cr_uploader_config {
	/* backlog kept on the link, in time at the upload rate; what is
	 * beyond waits in the uploader's queue, still in order */
	int64_t lead_ns;
	/* queue at most, in time at the upload rate (0: no limit but
	 * max_jobs) */
	int64_t queue_ns;
	size_t max_jobs;
	/* 0: jobs go by rank, then earliest deadline.  Above 0: by rank,
	 * then those due within urgent_ns earliest deadline first, then the
	 * rest latest deadline first: the freshest data first, for a
	 * protocol where that is the rarest.  It starves what is in
	 * mid-flight: Vanilla at 500 peers did worse with it (see
	 * docs/streaming.md). */
	int64_t urgent_ns;
	/* the rate the link drains at, 0: the peer's upload (or total)
	 * limit from cr_link_get; a peer with neither is never held back */
	uint64_t rate_Bps;
	/* sends job j (cr_send...): 0, or an error to drop it */
	int (*send)(cr_peer *p, const cr_upload_job *j, void *arg);
	/* a queued job is dropped (may be NULL): tell the requester */
	void (*drop)(cr_peer *p, const cr_upload_job *j, int why, void *arg);
	/* the queue is empty and the link has room (may be NULL): a push
	 * protocol adds a job (cr_uploader_push) or sends on its own, and
	 * returns true; false when it has nothing */
	bool (*idle)(cr_peer *p, void *arg);
	void *arg;
} cr_uploader_config;

typedef struct cr_uploader {
	cr_uploader_config cfg;
	cr_upload_job *q;
	size_t n;
	cr_timer_id timer;
	bool pumping;
	uint64_t queued, sent, late, refused, failed;
	uint64_t sent_bytes;
} cr_uploader;

/* Returns 0, -CR_EINVAL (no send callback, max_jobs 0, lead_ns not above
 * 0) or -CR_ENOMEM.  u->cfg's times and rate may be changed later, between
 * calls (a protocol that learns its stream after its birth does). */
int cr_uploader_init(cr_uploader *u, const cr_uploader_config *cfg);
/* Drops the queue without callbacks and stops its timer. */
void cr_uploader_clear(cr_uploader *u, cr_peer *p);
void cr_uploader_free(cr_uploader *u, cr_peer *p);
/* Queues j and sends what the link has room for.  Returns 0, or, with
 * nothing queued: -CR_EAGAIN when j could not leave before its deadline
 * after what goes before it, or the queue would exceed queue_ns;
 * -CR_ENOSPC when max_jobs are queued. */
int cr_uploader_push(cr_uploader *u, cr_peer *p, const cr_upload_job *j);
/* Hands jobs to the link while its backlog is under lead_ns (and asks the
 * idle callback when the queue runs dry); re-arms itself while there is
 * more.  Call it after the link may have room that it does not know of. */
void cr_uploader_pump(cr_uploader *u, cr_peer *p);
/* Drops the jobs for a peer (it departed), without callbacks. */
size_t cr_uploader_forget(cr_uploader *u, const cr_addr *to);
/* The rate it paces to (see rate_Bps), 0 for none. */
uint64_t cr_uploader_rate(const cr_uploader *u, const cr_peer *p);
/* Queued bytes, and the time the link needs for them and its backlog. */
int64_t cr_uploader_wait_ns(const cr_uploader *u, const cr_peer *p);

/* --- Segmenter ----------------------------------------------------------- */

/* A source's bytes, cut into the blocks of a stream's segments: bytes
 * [offset, offset + len) of `segment`.  `last` marks the block that ends
 * the stream: its segment ends at offset + len (len may be 0 when the
 * stream ended on a block boundary).  Returns 0 or an error, which stops
 * the feed. */
typedef int (*cr_segmenter_cb)(void *arg, uint32_t segment, uint32_t offset,
			       const void *block, uint32_t len, bool last);

typedef struct cr_segmenter {
	cr_stream st;
	uint64_t pos; /* stream bytes taken so far */
	unsigned char *stage;
	uint32_t staged;
	bool ended;
} cr_segmenter;

/* Returns 0 or -CR_ENOMEM. */
int cr_segmenter_init(cr_segmenter *sg, const cr_stream *st);
void cr_segmenter_free(cr_segmenter *sg);
/* Takes len bytes; every block they complete goes to cb.  Returns 0,
 * -CR_ESTATE after the end, -CR_EINVAL past segment 2^32 - 1, or what cb
 * returned. */
int cr_segmenter_feed(cr_segmenter *sg, const void *data, size_t len,
		      cr_segmenter_cb cb, void *arg);
/* The stream ends: the block being filled goes to cb as the last.  Returns
 * 0, -CR_ESTATE (ended already, or nothing was fed) or what cb returned. */
int cr_segmenter_end(cr_segmenter *sg, cr_segmenter_cb cb, void *arg);
/* A source's own data message (process_data from itself) into its playback
 * buffer: its bytes fed, or, empty, the end of the stream (the buffer
 * learns where the stream ends).  Returns as the two above, or the
 * buffer's error. */
int cr_segmenter_to_playbuf(cr_segmenter *sg, cr_playbuf *pb,
			    const cr_msg *m, int64_t now_ns);

/* --- Parts -------------------------------------------------------------- */

/* A segment in parts of part_bytes (the last may be shorter): item
 * (key) k is part k % nparts of segment k / nparts, so that a buffer map of
 * items, bit k for item k, says which parts a peer holds. */
typedef struct cr_parts {
	uint32_t part_bytes, nparts, window;
} cr_parts;

/* Parts of part_blocks blocks of st, fewer when a map of the parts of
 * `window` segments would pass CR_BUFMAP_MAX.  Returns 0, or -CR_EINVAL
 * (part_blocks 0, window 0 or above CR_BUFMAP_MAX). */
int cr_parts_init(cr_parts *pp, const cr_stream *st, uint32_t part_blocks,
		  uint32_t window);
static inline uint64_t cr_parts_key(const cr_parts *pp, uint32_t segment,
				    uint32_t part)
{
	return (uint64_t)segment * pp->nparts + part;
}
/* The part holding byte `offset` of its segment. */
static inline uint64_t cr_parts_key_at(const cr_parts *pp, uint32_t segment,
				       uint32_t offset)
{
	return cr_parts_key(pp, segment, offset / pp->part_bytes);
}
/* Bytes [*off, *off + *len) of item key in pb; false when its segment
 * (a stream's last) ends before it. */
bool cr_parts_range(const cr_parts *pp, const cr_playbuf *pb, uint64_t key,
		    uint32_t *off, uint32_t *len);
/* Does pb hold the whole of item key? */
bool cr_parts_held(const cr_parts *pp, const cr_playbuf *pb, uint64_t key);
/* The items pb holds, over its window. */
void cr_parts_map(const cr_parts *pp, const cr_playbuf *pb, cr_bufmap *out);

/* --- Seeder ------------------------------------------------------------- */

/* A source that pushes its parts into the mesh: how often each part of
 * the window went out, so that every part goes once before any goes
 * twice (the mesh passes on what is already in it; what only the source
 * has is what it needs most). */
typedef struct cr_seeder {
	uint32_t *times, *segment; /* by item modulo slots */
	size_t slots;
	size_t turn; /* the neighbour to push to next, for the caller */
} cr_seeder;

/* slots: the window's items (window x nparts).  0 or -CR_ENOMEM. */
int cr_seeder_init(cr_seeder *s, size_t slots);
void cr_seeder_free(cr_seeder *s);
/* The item of pb's window held whole and pushed fewest times (the
 * earliest of those), fewer than `most`; false when there is none. */
bool cr_seeder_next(cr_seeder *s, const cr_parts *pp, const cr_playbuf *pb,
		    uint32_t most, uint64_t *key);
/* Item key was pushed once more. */
void cr_seeder_pushed(cr_seeder *s, const cr_parts *pp, uint64_t key);

/* --- Messages ----------------------------------------------------------- */

/* Sends a new message of `len` bytes copied from data (NULL: len must be
 * 0) to `to`: cr_msg_new, cr_send, cr_msg_release in one.  Returns 0,
 * -CR_ENOMEM (or a type or size cr_msg_new refuses), or cr_send's error. */
int cr_send_copy(cr_peer *p, const cr_addr *to, uint8_t type,
		 uint16_t session, const void *data, size_t len,
		 cr_proto proto);
/* An item message: an item (u64) and a time in ms (u32, 0 below 0 and
 * clamped above), 12 bytes in network byte order, over TCP; what a pull
 * protocol asks for and by when, or refuses and for how long.  Returns
 * what cr_send_copy returns. */
int cr_send_item(cr_peer *p, const cr_addr *to, uint8_t type,
		 uint16_t session, uint64_t item, int64_t ns);
/* Reads an item message into *item and *ns.  Returns 0, or -CR_EINVAL
 * for one that is not 12 bytes, which it logs as ignored. */
int cr_msg_item(cr_peer *p, const cr_msg *m, uint64_t *item, int64_t *ns);

/* --- Live playback ------------------------------------------------------- */

/* The layout of a session's stream (its rate, segment time and message
 * size, from cr_session_info_get).  Returns 0, -CR_ENOENT for a session
 * the experiment does not have, or -CR_EINVAL for one without a rate. */
int cr_session_stream(cr_peer *p, uint16_t session, cr_stream *out);
/* Starts pb on the schedule every peer shares: segment s is played
 * delay_ns after the source made it whole, and the first is the first
 * that leaves startup_ns (the buffer's own) to fetch it.  Returns 0,
 * -CR_EAGAIN while the session's start is not known (no data yet), or the
 * buffer's error; nothing when it is started already. */
int cr_playbuf_start_live(cr_playbuf *pb, cr_peer *p, int64_t delay_ns);
/* The stream of a session (cr_session_stream) and a new playback buffer
 * for it of `window` segments (a quarter of them history), with startup_ns
 * of buffering, keeping the data if keep_data (what a pull protocol serves
 * from; a coding protocol holds its own).  Returns 0 or an error (*pb
 * NULL). */
int cr_session_playbuf(cr_peer *p, uint16_t session, uint32_t window,
		       int64_t startup_ns, bool keep_data, cr_stream *st,
		       cr_playbuf **pb);
/* The part a mesh protocol takes when told to join `session` (its
 * join_session callback) while it plays `current` if `playing`: 1 as the
 * session's source, 0 as a peer, -1 none (it plays another session, and
 * says so in its log). */
int cr_live_role(cr_peer *p, uint16_t session, bool playing,
		 uint16_t current);

#ifdef __cplusplus
}
#endif
#endif
