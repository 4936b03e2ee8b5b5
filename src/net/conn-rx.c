/* TCP connections, receiving: reading in large chunks, framing, the
 * hello, and back-pressure.
 *
 * The socket is read in 64 KB chunks into the loop's receive slab, and
 * every complete frame becomes a message that points into the slab, so a
 * relay forwards it without copying.  A frame that fails validation closes
 * only this connection.
 *
 * Back-pressure costs only the connections that have something to read: a
 * peer that stops reading touches none of its connections; one that becomes
 * readable while its peer is paused stops its own poll then and joins the
 * peer's list of paused connections, and only those are restarted when the
 * peer resumes.  So a peer with thousands of quiet connections flips as
 * cheaply as one without them.
 */
#include "net-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READS_PER_WAKE 16
/* Below this much free room the receive slab is retired. */
#define RX_MIN_ROOM (8u * 1024u)

/* A peer over its queue limit stops reading its inputs, but not the
 * connections it is stuck sending on (what comes back on those, such as
 * requests, must not wait for them), nor a connection that has not said
 * hello yet. */
static bool must_pause(const struct cr__conn *c)
{
	return c->ep->rx_paused && !c->full && c->hello_in;
}

/* Found readable while its peer does not read: stop polling it until the
 * peer resumes.  What it holds waits in its socket, and TCP pushes back. */
static void conn_pause(struct cr__conn *c)
{
	struct cr__ep *ep = c->ep;

	if (c->paused)
		return;
	c->paused = true;
	c->pause_prev = NULL;
	c->pause_next = ep->paused_conns;
	if (ep->paused_conns)
		ep->paused_conns->pause_prev = c;
	ep->paused_conns = c;
	cr__conn_update_poll(c);
}

void cr__pause_unlink(struct cr__conn *c)
{
	struct cr__ep *ep = c->ep;

	if (c->pause_prev)
		c->pause_prev->pause_next = c->pause_next;
	else
		ep->paused_conns = c->pause_next;
	if (c->pause_next)
		c->pause_next->pause_prev = c->pause_prev;
	c->pause_prev = c->pause_next = NULL;
	c->paused = false;
}

void cr__conn_reading_changed(struct cr__conn *c)
{
	if (c->paused && !must_pause(c))
		cr__pause_unlink(c);
	cr__conn_update_poll(c);
}

static void resume_paused(struct cr__ep *ep)
{
	struct cr__conn *c;

	while ((c = ep->paused_conns)) {
		cr__pause_unlink(c);
		cr__conn_update_poll(c);
	}
}

/* A peer stops reading while any of its connections has more than the
 * queue limit waiting, so TCP pushes back on its senders; it resumes when
 * all are below half of it.  The owner hears when the endpoint's backlog
 * flips (a source produces only while none is full).
 *
 * A flip costs nothing per connection: pausing touches no poll (each
 * connection that becomes readable while the peer is paused stops its own
 * then), and resuming restarts only those that did. */
void cr__conn_queue_changed(struct cr__conn *c)
{
	struct cr__ep *ep = c->ep;
	size_t limit = c->net->cfg->queue_limit;
	bool full = c->state != CR__CLOSED &&
		    (c->full ? c->q_bytes > limit / 2 : c->q_bytes > limit);

	if (full == c->full)
		return;
	c->full = full;
	ep->nfull += full ? 1 : -1;
	cr__conn_reading_changed(c); /* its own reading follows */
	if (ep->nfull == (full ? 1u : 0u)) {
		ep->rx_paused = full;
		if (!full)
			resume_paused(ep);
		c->net->ops->backlog(ep, full);
	}
}

/* --- receive ---------------------------------------------------------------- */

/* Makes c->rx_slab a slab whose used part ends with the connection's
 * pending bytes and that has room for more: for the rest of the frame
 * begun (need_total bytes in all, 0 when its header is not in yet), but
 * never more than has arrived of it or one read, whichever is larger, so
 * that a frame's buffer grows as its bytes arrive (doubling) instead of
 * taking at once the length its header declares. */
static int rx_prepare(struct cr__conn *c, uint32_t need_total)
{
	cr__pool *pool = &c->net->pool;
	struct cr__slab *s = pool->rx, *dst, *own = c->rx_slab;
	uint32_t room = need_total > c->rx_len ? need_total - c->rx_len : 0;
	uint32_t step = c->rx_len > CR__READ_SIZE ? c->rx_len : CR__READ_SIZE;

	if (room > step)
		room = step;
	if (room < RX_MIN_ROOM)
		room = RX_MIN_ROOM;
	/* common case: our pending bytes are the tail of the current slab */
	if (own && own == s && c->rx_off + c->rx_len == s->fill &&
	    s->size - s->fill >= room)
		return 0;
	if (own && own != s && c->rx_off + c->rx_len == own->fill &&
	    own->refs == 1 && c->rx_len + room > pool->slab_size / 2) {
		/* a slab of our own (a large frame): grow it where it is */
		if (c->rx_off) {
			memmove(own->data, own->data + c->rx_off, c->rx_len);
			own->fill = c->rx_len;
			c->rx_off = 0;
		}
		if (own->size - own->fill >= room)
			return 0;
		own = cr__slab_resize(own, c->rx_len + room);
		if (!own)
			return -CR_ENOMEM;
		c->rx_slab = own;
		return 0;
	}

	if (c->rx_len + room > pool->slab_size / 2) {
		dst = cr__slab_get(pool, c->rx_len + room);
		if (!dst)
			return -CR_ENOMEM;
	} else {
		if (!s || s->size - s->fill < c->rx_len + room) {
			if (s)
				cr__slab_unref(s);
			s = pool->rx = cr__slab_get(pool, pool->slab_size);
			if (!s)
				return -CR_ENOMEM;
		}
		dst = s;
		cr__slab_ref(dst);
	}
	if (c->rx_len)
		memcpy(dst->data + dst->fill,
		       c->rx_slab ? c->rx_slab->data + c->rx_off : c->park,
		       c->rx_len);
	if (c->rx_slab)
		cr__slab_unref(c->rx_slab);
	c->rx_slab = dst;
	c->rx_off = dst->fill;
	dst->fill += c->rx_len;
	return 0;
}

static void bad_frame(struct cr__conn *c, const char *reason,
		      const struct cr__hdr *h)
{
	c->ep->st->bad_frames++;
	c->net->bad_frames++;
	cr__conn_log(c, CR_LOG_WARN,
		 "bad frame from %s: %s (magic 0x%04x version %u type %u "
		 "length %u); closing the connection",
		 c->remote_text, reason, h->magic, h->version, h->type,
		 h->length);
	cr__conn_close(c, true, false, reason);
}

bool cr__conn_hello(struct cr__conn *c, const struct cr__hdr *h,
			 const uint8_t *payload)
{
	const struct cr__net_cfg *cfg = c->net->cfg;
	uint64_t id = 0;
	cr_addr from = {0};

	for (int i = 0; i < 8; i++)
		id = id << 8 | payload[i];
	if (id != cfg->exp_id) {
		cr__conn_log(c, CR_LOG_WARN,
			 "hello from %s names another experiment "
			 "(%016llx, expected %016llx); closing",
			 c->remote_text, (unsigned long long)id,
			 (unsigned long long)cfg->exp_id);
		cr__conn_close(c, false, false, "foreign experiment");
		return false;
	}
	from.family = h->family;
	from.port = h->src_port;
	memcpy(from.ip, h->src_ip, 16);
	if (c->outgoing) {
		if (!cr_addr_eq(&from, &c->remote)) {
			char t[CR_ADDR_STRLEN];
			cr__conn_log(c, CR_LOG_WARN,
				 "connected to %s but it says it is %s; "
				 "closing",
				 c->remote_text,
				 cr_addr_format(&from, t, sizeof(t)));
			cr__conn_close(c, true, false, "wrong peer");
			return false;
		}
	} else {
		c->remote = from;
		cr_addr_format(&from, c->remote_text, sizeof(c->remote_text));
		c->delay_ns = cr__link_delay(c->ep, &from);
		if (!cr__conn_find(c->net, c->ep, &from))
			cr__net_map_add(c->net, c);
		/* whoever connects has something to say: a connection is
		 * opened by a send, which queues its frame behind the hello
		 * (the sweep lets go of it once more than the hello came) */
		cr__watch_add(c);
	}
	c->hello_in = true;
	cr__conn_log(c, CR_LOG_INFO, "neighbour %s connected (%s)", c->remote_text,
		 c->outgoing ? "outgoing" : "incoming");
	cr__conn_update_poll(c);
	if (c->hello_timer)
		cr__timer_cancel(&c->net->timers, c->hello_timer);
	c->hello_timer = 0;
	return true;
}

/* Decodes every complete frame of the pending bytes. */
static void rx_parse(struct cr__conn *c)
{
	const struct cr__net_cfg *cfg = c->net->cfg;
	struct cr__slab *s = c->rx_slab;

	while (c->rx_len >= CR__HDR_SIZE) {
		uint8_t *f = s->data + c->rx_off;
		struct cr__hdr h;
		const char *why;
		uint32_t total;
		struct cr_msg *m;

		cr__hdr_decode(f, &h);
		if (cr__hdr_check(&h, cfg->max_msg, &why)) {
			bad_frame(c, why, &h);
			return;
		}
		if (h.exp_tag != cfg->exp_tag) {
			bad_frame(c, "frame of another experiment", &h);
			return;
		}
		if (!c->hello_in && h.type != CR__T_HELLO) {
			bad_frame(c, "first frame is not a hello", &h);
			return;
		}
		total = CR__HDR_SIZE + h.length;
		if (c->rx_len < total)
			return;
		c->rx_off += total;
		c->rx_len -= total;
		c->frames_in++;
		if (h.type == CR__T_HELLO) {
			if (c->hello_in) {
				bad_frame(c, "second hello", &h);
				return;
			}
			if (!cr__conn_hello(c, &h, f + CR__HDR_SIZE))
				return;
			continue;
		}
		if (h.type == CR__T_GOODBYE) {
			c->goodbye = true;
			continue;
		}
		m = cr__msg_new_frame(&c->net->pool, s, f, &h);
		if (!m) {
			cr__conn_close(c, true, false, "out of memory");
			return;
		}
		cr__ep_frame(c->ep, &c->remote, m);
		cr_msg_release(m);
		if (c->state == CR__CLOSED)
			return;
	}
}

/* Between wake-ups a partial frame moves to the connection's own small
 * buffer, unless it already has a (large-frame) slab to itself that it
 * mostly fills. */
static void rx_park(struct cr__conn *c)
{
	struct cr__slab *s = c->rx_slab;

	if (!c->rx_len && c->park_cap > CR__READ_SIZE) {
		free(c->park); /* what a large frame left: keep little */
		c->park = NULL;
		c->park_cap = 0;
	}
	if (!s || (s->refs == 1 && s != c->net->pool.rx && c->rx_len &&
		   s->size - c->rx_off <= 2 * c->rx_len + CR__READ_SIZE))
		return;
	if (c->rx_len) {
		if (c->park_cap < c->rx_len) {
			uint32_t cap = c->rx_len < 2048 ? 2048 : c->rx_len;
			uint8_t *b = realloc(c->park, cap);
			if (!b)
				return; /* keep the slab instead */
			c->park = b;
			c->park_cap = cap;
		}
		memcpy(c->park, s->data + c->rx_off, c->rx_len);
	}
	c->rx_off = 0;
	c->rx_slab = NULL;
	cr__slab_unref(s);
}

static void conn_read_some(struct cr__conn *c)
{
	bool shaped = cr__conn_shaped(c);
	int64_t now = 0;
	uint32_t allow;

	for (int i = 0; i < READS_PER_WAKE; i++) {
		uint32_t need = 0, want;
		ssize_t r;
		struct cr__slab *s;

		if (c->state == CR__CLOSED)
			return;
		if (must_pause(c)) {
			conn_pause(c);
			return;
		}
		if (c->rx_len >= CR__HDR_SIZE) {
			struct cr__hdr h;
			cr__hdr_decode(c->rx_slab ? c->rx_slab->data + c->rx_off
						  : c->park,
				       &h);
			need = CR__HDR_SIZE + h.length;
		}
		if (rx_prepare(c, need)) {
			cr__conn_close(c, true, false, "out of memory");
			return;
		}
		s = c->rx_slab;
		want = s->size - s->fill;
		if (want > CR__READ_SIZE && need <= c->rx_len + CR__READ_SIZE)
			want = CR__READ_SIZE;
		if (shaped) {
			now = cr__clock_now(c->net->clock);
			allow = cr__shaper_rx_allow(c, now);
			if (!allow)
				return;
			if (want > allow)
				want = allow;
		}
		r = read(c->fd, s->data + s->fill, want);
		if (r == 0) {
			cr__conn_close(c, true, false,
				       c->goodbye ? "goodbye" : "closed");
			return;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->rd_ready = false;
				return;
			}
			cr__conn_close(c, true, false, strerror(errno));
			return;
		}
		s->fill += (uint32_t)r;
		c->rx_len += (uint32_t)r;
		c->bytes_in += (uint64_t)r;
		if (shaped)
			cr__shaper_rx_took(c, (uint32_t)r, now);
		rx_parse(c);
		if (c->state == CR__CLOSED || !cr__partial_count(c))
			return;
		if ((uint32_t)r < want) {
			/* the socket is drained: what comes next is an event;
			 * but an end already announced is read to the end */
			c->rd_ready = c->rd_hup;
			if (!c->rd_hup)
				return;
		}
	}
}

void cr__conn_read(struct cr__conn *c)
{
	conn_read_some(c);
	if (c->state != CR__CLOSED)
		rx_park(c);
}

