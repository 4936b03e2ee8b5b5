/* Message buffers: slabs and reference-counted message descriptors.
 *
 * A slab is a 256 KB chunk that holds many frames back to back; a cr_msg
 * points at one frame inside a slab and holds a reference on it.  Received
 * frames stay where read() put them and are relayed from there; new
 * messages are carved from a transmit slab.  Both are per worker, so
 * reference counts need no atomics.  Freed slabs and descriptors are kept
 * on free lists (bounded) to spare the allocator and the page faults.
 */
#include "msg.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#define KEEP_FREE_SLABS 64
#define KEEP_FREE_MSGS 65536

void cr__pool_init(cr__pool *pool)
{
	memset(pool, 0, sizeof(*pool));
	pool->slab_size = CR__SLAB_SIZE;
}

void cr__pool_free(cr__pool *pool)
{
	if (pool->rx)
		cr__slab_unref(pool->rx);
	if (pool->tx)
		cr__slab_unref(pool->tx);
	pool->rx = pool->tx = NULL;
	while (pool->free_slabs) {
		struct cr__slab *s = pool->free_slabs;
		pool->free_slabs = s->next_free;
		free(s);
	}
	while (pool->free_msgs) {
		struct cr_msg *m = pool->free_msgs;
		pool->free_msgs = m->next_free;
		free(m);
	}
	pool->nfree_slabs = pool->nfree_msgs = 0;
}

struct cr__slab *cr__slab_get(cr__pool *pool, uint32_t size)
{
	struct cr__slab *s;

	if (size <= pool->slab_size && pool->free_slabs) {
		s = pool->free_slabs;
		pool->free_slabs = s->next_free;
		pool->nfree_slabs--;
	} else {
		uint32_t sz = size <= pool->slab_size ? pool->slab_size : size;
		s = malloc(sizeof(*s) + sz);
		if (!s)
			return NULL;
		s->size = sz;
	}
	s->refs = 1;
	s->fill = 0;
	s->pool = pool;
	s->next_free = NULL;
	pool->slabs_live++;
	return s;
}

void cr__slab_unref(struct cr__slab *s)
{
	cr__pool *pool = s->pool;

	if (--s->refs)
		return;
	pool->slabs_live--;
	if (s->size == pool->slab_size && pool->nfree_slabs < KEEP_FREE_SLABS) {
		s->next_free = pool->free_slabs;
		pool->free_slabs = s;
		pool->nfree_slabs++;
		return;
	}
	free(s);
}

struct cr__slab *cr__slab_resize(struct cr__slab *s, uint32_t size)
{
	struct cr__slab *g = realloc(s, sizeof(*s) + size);

	if (!g)
		return NULL;
	g->size = size;
	return g;
}

struct cr_msg *cr__msg_alloc(cr__pool *pool)
{
	struct cr_msg *m = pool->free_msgs;

	if (m) {
		pool->free_msgs = m->next_free;
		pool->nfree_msgs--;
	} else {
		m = malloc(sizeof(*m));
		if (!m)
			return NULL;
	}
	m->refs = 1;
	m->mflags = 0;
	m->pool = pool;
	m->slab = NULL;
	pool->msgs_live++;
	return m;
}

struct cr_msg *cr__msg_new_frame(cr__pool *pool, struct cr__slab *slab,
				 uint8_t *frame, const struct cr__hdr *h)
{
	struct cr_msg *m = cr__msg_alloc(pool);

	if (!m)
		return NULL;
	m->slab = slab;
	cr__slab_ref(slab);
	m->frame = frame;
	m->type = h->type;
	m->session = h->session;
	m->len = h->length;
	m->flags = h->flags;
	m->created_ns = h->created_ns;
	memset(&m->src, 0, sizeof(m->src));
	m->src.family = h->family;
	m->src.port = h->src_port;
	memcpy(m->src.ip, h->src_ip, 16);
	return m;
}

static uint8_t *carve(cr__pool *pool, uint32_t need, struct cr__slab **out)
{
	struct cr__slab *s = pool->tx;
	uint32_t aligned = (need + 7u) & ~7u;

	if (aligned > pool->slab_size / 4) {
		/* large frames get a slab of their own */
		s = cr__slab_get(pool, aligned);
		if (!s)
			return NULL;
		s->fill = aligned;
		*out = s; /* the caller's reference is the creation one */
		return s->data;
	}
	if (!s || s->size - s->fill < aligned) {
		if (s)
			cr__slab_unref(s);
		s = pool->tx = cr__slab_get(pool, pool->slab_size);
		if (!s)
			return NULL;
	}
	uint8_t *p = s->data + s->fill;
	s->fill += aligned;
	cr__slab_ref(s);
	*out = s;
	return p;
}

struct cr_msg *cr__msg_new_local(cr__pool *pool, uint8_t type,
				 uint16_t session, uint32_t len,
				 const cr_addr *src, int64_t created_ns,
				 uint16_t exp_tag)
{
	struct cr_msg *m = cr__msg_alloc(pool);
	struct cr__hdr h = {0};

	if (!m)
		return NULL;
	m->frame = carve(pool, CR__HDR_SIZE + len, &m->slab);
	if (!m->frame) {
		m->slab = NULL;
		cr_msg_release(m);
		return NULL;
	}
	m->type = type;
	m->session = session;
	m->len = len;
	m->flags = 0;
	m->created_ns = created_ns;
	m->src = *src;
	m->mflags = CR__MSG_WRITABLE;

	h.magic = CR__MAGIC;
	h.version = CR__VERSION;
	h.type = type;
	h.family = src->family;
	h.session = session;
	h.length = len;
	h.src_port = src->port;
	h.exp_tag = exp_tag;
	h.created_ns = created_ns;
	memcpy(h.src_ip, src->ip, 16);
	cr__hdr_encode(m->frame, &h);
	return m;
}

/* --- public API ------------------------------------------------------------ */

cr_msg *cr_msg_retain(cr_msg *m)
{
	m->refs++;
	return m;
}

void cr_msg_release(cr_msg *m)
{
	cr__pool *pool;

	if (!m || --m->refs)
		return;
	pool = m->pool;
	if (m->slab)
		cr__slab_unref(m->slab);
	pool->msgs_live--;
	if (pool->nfree_msgs < KEEP_FREE_MSGS) {
		m->next_free = pool->free_msgs;
		pool->free_msgs = m;
		pool->nfree_msgs++;
		return;
	}
	free(m);
}

uint8_t cr_msg_type(const cr_msg *m)
{
	return m->type;
}

uint16_t cr_msg_session(const cr_msg *m)
{
	return m->session;
}

const cr_addr *cr_msg_source(const cr_msg *m)
{
	return &m->src;
}

int64_t cr_msg_created_ns(const cr_msg *m)
{
	return m->created_ns;
}

size_t cr_msg_len(const cr_msg *m)
{
	return m->len;
}

const void *cr_msg_payload(const cr_msg *m)
{
	return m->frame + CR__HDR_SIZE;
}

void *cr_msg_payload_mut(cr_msg *m)
{
	if (!(m->mflags & CR__MSG_WRITABLE))
		return NULL;
	return m->frame + CR__HDR_SIZE;
}
