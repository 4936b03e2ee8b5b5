/* Message buffers: slabs of frames and the reference-counted cr_msg
 * descriptors that point into them.
 */
#ifndef CRYSTAL_CORE_MSG_H
#define CRYSTAL_CORE_MSG_H

#include "common.h"

/* Frames live in slabs: reference-counted chunks that many messages point
 * into.  A received 64 KB read holds ~60 frames of 1 KB; each becomes a
 * cr_msg that references the slab, so relaying a frame copies nothing. */
struct cr__slab {
	uint32_t refs;
	uint32_t size; /* bytes of data[] */
	uint32_t fill; /* bytes used */
	struct cr__pool *pool;
	struct cr__slab *next_free;
	uint8_t data[];
};

#define CR__MSG_WRITABLE 0x1 /* made here and not yet sent */

struct cr_msg {
	uint32_t refs;
	uint8_t type;
	uint8_t mflags;
	uint16_t session;
	uint32_t len; /* payload bytes */
	uint32_t flags; /* wire flags */
	int64_t created_ns;
	cr_addr src;
	uint8_t *frame; /* header, then payload */
	struct cr__slab *slab;
	struct cr__pool *pool;
	struct cr_msg *next_free;
};

/* Per-worker allocator of slabs and message descriptors.  Never shared
 * between threads, so reference counts are plain integers. */
typedef struct cr__pool {
	struct cr_msg *free_msgs;
	size_t nfree_msgs;
	struct cr__slab *free_slabs;
	size_t nfree_slabs;
	struct cr__slab *rx; /* current receive slab */
	struct cr__slab *tx; /* current slab for new messages */
	uint32_t slab_size;
	size_t slabs_live, msgs_live;
} cr__pool;

#define CR__SLAB_SIZE (256u * 1024u)
#define CR__READ_SIZE (64u * 1024u)

void cr__pool_init(cr__pool *pool);
void cr__pool_free(cr__pool *pool);
/* A slab with at least `size` bytes (a standard one when size fits). */
struct cr__slab *cr__slab_get(cr__pool *pool, uint32_t size);
static inline void cr__slab_ref(struct cr__slab *s)
{
	s->refs++;
}
void cr__slab_unref(struct cr__slab *s);
/* Gives a slab nobody else references (refs 1) room for `size` bytes,
 * keeping its contents; the slab may move.  NULL when out of memory (the
 * slab is then unchanged). */
struct cr__slab *cr__slab_resize(struct cr__slab *s, uint32_t size);
struct cr_msg *cr__msg_alloc(cr__pool *pool);
struct cr__hdr;
/* Makes a message whose frame lies in `slab` at `frame`, with the fields
 * of its decoded header h. */
struct cr_msg *cr__msg_new_frame(cr__pool *pool, struct cr__slab *slab,
				 uint8_t *frame, const struct cr__hdr *h);
/* A message with a writable payload of `len` bytes and an encoded header. */
struct cr_msg *cr__msg_new_local(cr__pool *pool, uint8_t type,
				 uint16_t session, uint32_t len,
				 const cr_addr *src, int64_t created_ns,
				 uint16_t exp_tag);

#endif
