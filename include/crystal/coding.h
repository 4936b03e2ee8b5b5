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

#ifdef __cplusplus
}
#endif

#endif
