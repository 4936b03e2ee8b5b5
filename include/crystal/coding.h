/* Random linear network coding over GF(2^8), for network-coded streaming
 * (R2: Wang and Li, "R2: Random Push with Random Network Coding in Live
 * P2P Streaming", JSAC 2007).
 *
 * A segment's bytes are cut into k source blocks of `size` bytes each (the
 * last padded with zeros).  A coded block is a random linear combination
 * of them: k coefficient bytes and `size` payload bytes, payload =
 * sum of coeffs[i] x block[i] in GF(2^8) (ISA-L's field, polynomial
 * 0x11d).  Any k linearly independent coded blocks give the segment back.
 *
 *   cr_encoder  at the source: holds the k source blocks, makes coded
 *               blocks with coefficients drawn from a cr_rand.
 *   cr_decoder  at a peer, one per segment in flight: takes coded blocks
 *               as they arrive (Gauss-Jordan elimination at each arrival,
 *               so a block that brings nothing new is known at once), gives
 *               the k source blocks back at full rank, and recodes: makes a
 *               random combination of what it holds at any rank above 0,
 *               without decoding first.
 *   cr_coded_*  the wire form of a coded block: a 12-byte header, the
 *               coefficients, the payload.
 *   cr_codewin  a window of segments in flight, each a decoder (a peer's)
 *               or an encoder (the source's): takes coded blocks from the
 *               wire, decoding in the callback or on the work pool, makes
 *               coded blocks to send, and keeps the counts a protocol
 *               reports.  The machinery of any network-coded protocol.
 *
 * Coefficient vectors are never all zero.  All memory of an encoder or a
 * decoder is allocated when it is made.  The vector work is ISA-L's
 * (AVX-512, AVX2 or SSE as the CPU has); lengths it does not handle well
 * are done with plain tables.  docs/streaming.md ("Network coding") has an
 * example.  Like the rest of the API, an object belongs to the peer (the
 * thread) that made it.
 */
#ifndef CRYSTAL_CODING_H
#define CRYSTAL_CODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "message.h" /* cr_peer, cr_msg */
#include "random.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Source blocks per segment, at most: a decoder holds k x (k + size)
 * bytes, and a coded block carries k coefficient bytes. */
#define CR_CODE_MAX_K 256
/* Bytes per block, at most (a coded block is one message). */
#define CR_CODE_MAX_SIZE (1u << 20)

/* What cr_decoder_add() made of a block. */
enum {
	CR_CODE_DEPENDENT = 0,	/* a combination of blocks held: waste */
	CR_CODE_INNOVATIVE = 1, /* the rank grew by one */
};

/* --- Encoder ------------------------------------------------------------- */

typedef struct cr_encoder cr_encoder;

/* An encoder of k source blocks (1 to CR_CODE_MAX_K) of size bytes (1 to
 * CR_CODE_MAX_SIZE), all zero until loaded.  Returns 0, -CR_EINVAL or
 * -CR_ENOMEM. */
int cr_encoder_new(uint32_t k, uint32_t size, cr_encoder **out);
void cr_encoder_free(cr_encoder *e);

/* Loads a whole segment: len bytes (at most k x size) cut into the k
 * blocks in order, the rest zeros.  Returns 0 or -CR_EINVAL. */
int cr_encoder_load(cr_encoder *e, const void *data, size_t len);

/* Sets block i (0 to k - 1) to len bytes (at most size), zero-padded.
 * Returns 0 or -CR_EINVAL. */
int cr_encoder_set(cr_encoder *e, uint32_t i, const void *data, size_t len);

/* A coded block: k random coefficients (never all zero) into coeffs, their
 * combination of the blocks into payload (size bytes).  Returns 0 or
 * -CR_EINVAL. */
int cr_encoder_encode(cr_encoder *e, cr_rand *rng, uint8_t *coeffs,
		      void *payload);

uint32_t cr_encoder_k(const cr_encoder *e);
uint32_t cr_encoder_size(const cr_encoder *e);

/* --- Decoder ------------------------------------------------------------- */

typedef struct cr_decoder cr_decoder;

/* A decoder of one segment of k blocks of size bytes, limits as for
 * cr_encoder_new.  It takes k rows of k + size bytes (each part rounded up
 * to 64 bytes, and 64 more for one row in two), and about 60 x k bytes
 * more.  Returns 0, -CR_EINVAL or -CR_ENOMEM. */
int cr_decoder_new(uint32_t k, uint32_t size, cr_decoder **out);
void cr_decoder_free(cr_decoder *d);

/* Forgets everything held, to decode another segment of the same shape. */
void cr_decoder_reset(cr_decoder *d);

/* Takes a coded block: k coefficients and size payload bytes (neither is
 * kept).  Returns CR_CODE_INNOVATIVE, CR_CODE_DEPENDENT (the block is a
 * combination of those held, the zero vector included, and changed
 * nothing; at full rank every block is), or -CR_EINVAL for NULL
 * arguments.  Costs O(rank) multiply-adds of k + size bytes. */
int cr_decoder_add(cr_decoder *d, const uint8_t *coeffs, const void *payload);

/* Linearly independent blocks held, 0 to k. */
uint32_t cr_decoder_rank(const cr_decoder *d);
/* Full rank: the source blocks are known. */
bool cr_decoder_done(const cr_decoder *d);

/* Source block i (size bytes) once done; NULL before, or for i >= k. */
const uint8_t *cr_decoder_block(const cr_decoder *d, uint32_t i);

/* The first len bytes of the decoded segment (len at most k x size) into
 * out.  Returns 0, -CR_ESTATE before full rank, -CR_EINVAL. */
int cr_decoder_read(const cr_decoder *d, void *out, size_t len);

/* Recodes: a random combination (never zero) of the blocks held, its k
 * coefficients over the source blocks into coeffs and its payload (size
 * bytes) into payload.  Any rank above 0; the result is a combination of
 * what arrived, so it carries no more than the decoder holds.  Returns 0,
 * -CR_ESTATE at rank 0, -CR_EINVAL. */
int cr_decoder_recode(cr_decoder *d, cr_rand *rng, uint8_t *coeffs,
		      void *payload);

uint32_t cr_decoder_k(const cr_decoder *d);
uint32_t cr_decoder_size(const cr_decoder *d);

/* --- Wire form ----------------------------------------------------------- */

/* A coded block on the wire, network byte order:
 *
 *   0   session  u16
 *   2   k        u16   1 to CR_CODE_MAX_K
 *   4   segment  u32
 *   8   size     u32   payload bytes, 1 to CR_CODE_MAX_SIZE
 *   12  coefficients, k bytes
 *   12 + k  payload, size bytes
 */
#define CR_CODED_HDR_SIZE 12

/* Bytes of a coded block on the wire. */
static inline size_t cr_coded_len(uint32_t k, uint32_t size)
{
	return CR_CODED_HDR_SIZE + (size_t)k + size;
}

/* A coded block read from the wire; coeffs and payload point into the
 * buffer it was read from. */
typedef struct cr_coded_hdr {
	uint16_t session;
	uint16_t k;
	uint32_t segment;
	uint32_t size;
	const uint8_t *coeffs;
	const uint8_t *payload;
} cr_coded_hdr;

/* Writes the header of a coded block into buf (len bytes) and points
 * *coeffs and *payload (either may be NULL) at where the coefficients and
 * payload go, for cr_encoder_encode() or cr_decoder_recode() to write them
 * in place.  Returns cr_coded_len(k, size), -CR_EINVAL for k or size out
 * of range, -CR_EMSGSIZE when len is shorter. */
int cr_coded_put(void *buf, size_t len, uint16_t session, uint32_t segment,
		 uint32_t k, uint32_t size, uint8_t **coeffs,
		 uint8_t **payload);

/* Reads a coded block that is exactly len bytes.  Returns 0, or
 * -CR_EINVAL (out untouched) when it is truncated, followed by anything,
 * or its k or size is out of range. */
int cr_coded_get(const void *buf, size_t len, cr_coded_hdr *out);

/* Takes a coded block read with cr_coded_get(): as cr_decoder_add, or
 * -CR_EINVAL when its k or size is not the decoder's (a block of another
 * shape, from a peer that is wrong or lying, is never read past its end).
 * The caller checks the session and the segment. */
int cr_decoder_add_coded(cr_decoder *d, const cr_coded_hdr *h);

/* --- Coding window ------------------------------------------------------- */

/* A window of segments in flight, for a network-coded protocol: `slots`
 * slots, segment s in slot s % slots, each a decoder of the segment (a
 * receiving peer's) or an encoder (the source's, cr_codewin_load).  Blocks
 * are taken for the segments base to base + window - 1 (cr_codewin_slide);
 * a slot is reused for a later segment when a block of it comes, unless
 * the slot is busy on the pool.  It knows nothing of neighbours or maps:
 * the protocol says what to send where, the window what it holds.
 *
 * With on_pool, the blocks of a segment are decoded on the work pool
 * (cr_work_submit), one work item per segment at a time: those that arrive
 * while an item decodes are gathered, at most k, and submitted when it is
 * done; while busy the segment cannot be coded from and its rank is the
 * rank before the item.  Otherwise each block is decoded in the call.
 *
 * The engine calls a work's done before the peer's destroy; a window freed
 * while a slot is busy leaves that slot to its done, which frees it, so
 * that a peer may die with decodes in flight.  Like the rest of the API, a
 * window belongs to the peer that made it. */

/* Slots at most. */
#define CR_CODEWIN_MAX 1024

/* What cr_codewin_put() made of a block. */
enum {
	CR_CODEWIN_DEPENDENT = CR_CODE_DEPENDENT,   /* nothing new */
	CR_CODEWIN_INNOVATIVE = CR_CODE_INNOVATIVE, /* the rank grew */
	CR_CODEWIN_QUEUED = 2,	  /* gathered for the pool */
	CR_CODEWIN_REDUNDANT = 3, /* its segment is whole already */
	CR_CODEWIN_LATE = 4,	  /* outside the window, or its slot is busy */
};

/* A segment's rank grew (with on_pool: a decode of it ended, and its slot
 * may be coded from again, the rank grown or not).  done: full rank, once
 * per segment; cr_codewin_data() gives it.  Runs in cr_codewin_put(), or
 * on the peer's worker after a decode on the pool; it may call anything
 * of the window but cr_codewin_free. */
typedef void (*cr_codewin_cb)(cr_peer *p, uint32_t segment, uint32_t rank,
			      bool done, void *arg);

typedef struct cr_codewin_config {
	uint16_t session;  /* a block of another session is malformed */
	uint32_t k, size;  /* the shape of every segment (cr_decoder_new) */
	uint32_t window;   /* segments taken blocks of, from the base, >= 1 */
	uint32_t slots;	   /* segments kept, >= window (0: window) */
	bool on_pool;	   /* decode on the work pool */
	cr_codewin_cb progress; /* may be NULL */
	void *arg;
} cr_codewin_config;

/* Counts since cr_codewin_init.  A well-formed block is counted received
 * at once, then once more as dependent, redundant or late, or not at all
 * when innovative (k per decoded segment); a block gathered for the pool
 * or out on it when the window is freed or the peer's life ends is never
 * sorted. */
typedef struct cr_codewin_stats {
	uint64_t received;  /* well-formed blocks put */
	uint64_t dependent; /* brought nothing new (or more than k gathered) */
	uint64_t redundant; /* arrived for a segment already whole */
	uint64_t late;	    /* outside the window, or its slot busy */
	uint64_t malformed; /* refused: not a coded block of this shape */
	uint64_t decoded;   /* segments brought to full rank */
	int64_t latency_ns; /* summed over those: first block to full rank */
	int64_t decode_ns;  /* time decoding, here and on the pool */
	int64_t code_ns;    /* time encoding and recoding */
} cr_codewin_stats;

struct cr_codewin_slot;

typedef struct cr_codewin {
	cr_codewin_config cfg;
	cr_codewin_stats stats;
	uint32_t base;
	struct cr_codewin_slot **slot;
	uint8_t *data; /* cr_codewin_data's, k x size bytes */
} cr_codewin;

/* Starts a window (w zeroed, or freed, first: whatever it held is
 * forgotten).  Returns 0, -CR_EINVAL (k or size out of range, window 0,
 * slots below window or above CR_CODEWIN_MAX) or -CR_ENOMEM.  Decoders
 * and encoders are made as slots are first used. */
int cr_codewin_init(cr_codewin *w, const cr_codewin_config *cfg);
/* Frees it all but busy slots (their done frees them), and zeroes w (its
 * stats too: add them up first).  A zeroed window may be freed again. */
void cr_codewin_free(cr_codewin *w);

/* Blocks of segments before base are late from now on. */
void cr_codewin_slide(cr_codewin *w, uint32_t base);

/* Puts a coded block (a message whose payload is its wire form) into its
 * segment's slot; with on_pool the message is retained until decoded.  p
 * is the peer, passed to the callback (and needed with on_pool).  Sets
 * *segment (if not NULL) when the block is well-formed.  Returns a
 * CR_CODEWIN_ value, or -CR_EINVAL (malformed: counted, nothing kept) or
 * -CR_ENOMEM (no decoder for it: counted late). */
int cr_codewin_put(cr_codewin *w, cr_peer *p, cr_msg *m, uint32_t *segment);

/* Makes segment's slot an encoder of len bytes of data (at most k x size),
 * whole at once.  Returns 0, -CR_ESTATE (the slot is busy on the pool),
 * -CR_EINVAL or -CR_ENOMEM. */
int cr_codewin_load(cr_codewin *w, uint32_t segment, const void *data,
		    size_t len);

/* Writes a coded block of segment in wire form into buf (len at least
 * cr_coded_len(k, size)): encoded by the source's slot, recoded from what
 * a decoder holds.  Returns the bytes written, -CR_ENOENT (not held, or at
 * rank 0), -CR_ESTATE (busy on the pool) or -CR_EINVAL / -CR_EMSGSIZE. */
int cr_codewin_code(cr_codewin *w, cr_rand *rng, uint32_t segment, void *buf,
		    size_t len);

/* The rank held of segment (k for a loaded one), 0 when not held. */
uint32_t cr_codewin_rank(const cr_codewin *w, uint32_t segment);
bool cr_codewin_done(const cr_codewin *w, uint32_t segment);
/* A decode of segment is on the pool. */
bool cr_codewin_busy(const cr_codewin *w, uint32_t segment);

/* The first len bytes of a decoded segment (not a loaded one: the
 * protocol has that already).  Returns 0, -CR_ENOENT (not held, not whole,
 * or loaded) or -CR_EINVAL. */
int cr_codewin_read(const cr_codewin *w, uint32_t segment, void *out,
		    size_t len);

/* The decoded segment, k x size bytes, in a buffer of the window's that
 * the next call overwrites (and cr_codewin_free frees); NULL as for
 * cr_codewin_read, or out of memory. */
const uint8_t *cr_codewin_data(cr_codewin *w, uint32_t segment);

/* sum += s, field by field: counts over a peer's sessions. */
void cr_codewin_stats_add(cr_codewin_stats *sum, const cr_codewin_stats *s);

#ifdef __cplusplus
}
#endif

#endif
