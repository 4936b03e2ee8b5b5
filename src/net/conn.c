/* TCP connections between peers: setup, queues, batched writes, teardown.
 *
 * A connection belongs to one endpoint on one loop.  It is used in both
 * directions: the first frame each side sends is a hello that names the
 * experiment and the sending peer, and nothing else is accepted before it.
 *
 * Sending: a send appends a message reference to the connection's ring and
 * marks the connection dirty; the loop flushes dirty connections once per
 * iteration (or at once when much is queued), in one writev of up to 512
 * frames.  Receiving is conn-rx.c; the limits on what a remote may make a
 * peer hold are conn-limits.c.
 */
#include "net-int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>


#define IOV_BATCH 512
/* Flush a connection inline once this much is queued, to keep the pipe
 * full without waiting for the end of the loop iteration. */
#define INLINE_FLUSH_BYTES (256u * 1024u)

/* Is the connection being read now?  Time it is not (its peer paused with
 * bytes of it waiting, its download link holding it back) is not the
 * remote's to answer for.  A connection of a paused peer that is not
 * paused itself has had nothing to read since the pause began. */
bool cr__conn_reading(const struct cr__conn *c)
{
	return c->state == CR__OPEN && !c->paused && !c->rx_blocked;
}

void cr__conn_log(struct cr__conn *c, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	c->net->ops->log(c->ep, level, fmt, ap);
	va_end(ap);
}

static struct cr_msg *make_hello(struct cr__ep *ep)
{
	const struct cr__net_cfg *cfg = ep->net->cfg;
	struct cr_msg *m;
	uint8_t *b;

	m = cr__msg_new_local(&ep->net->pool, CR__T_HELLO, 0, CR__HELLO_LEN,
			      &ep->addr, cr__net_now(ep->net), cfg->exp_tag);
	if (!m)
		return NULL;
	b = m->frame + CR__HDR_SIZE;
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(cfg->exp_id >> (56 - 8 * i));
	return m;
}

static int64_t hello_wait(const struct cr__net_cfg *cfg)
{
	return cfg->hello_timeout_ns > 0 ? cfg->hello_timeout_ns
				       : CR__HELLO_TIMEOUT;
}

static void hello_timeout(void *ctx, void *arg)
{
	struct cr__conn *c = arg;

	CR__UNUSED(ctx);
	c->hello_timer = 0;
	if (c->state != CR__CLOSED && !c->hello_in &&
	    (c->ep->rx_paused || c->rx_blocked)) {
		/* we are not reading it (our queues are full, or the link
		 * holds us back): its hello may be waiting; look again later */
		c->hello_timer = cr__net_timer(
			c->net, cr__clock_now(c->net->clock) + hello_wait(c->net->cfg), 0,
			hello_timeout, c->ep, c, c->ep->owner);
		return;
	}
	if (c->state != CR__CLOSED && !c->hello_in) {
		c->ep->st->bad_frames++;
		c->net->bad_frames++;
		cr__conn_log(c, CR_LOG_WARN,
			 "%s sent no hello in %lld ms; closing",
			 c->remote_text,
			 (long long)(hello_wait(c->net->cfg) / CR_MS));
		/* an outgoing one was to a known peer, which is now gone for
		 * this one; an incoming one has no name, so no departure */
		cr__conn_close(c, true, false, "no hello");
	}
}

static struct cr__conn *conn_new(struct cr__ep *ep, int fd,
				 const cr_addr *remote)
{
	struct cr__net *net = ep->net;
	struct cr__conn *c = calloc(1, sizeof(*c));
	struct cr_msg *hello;
	int one = 1;

	if (!c)
		return NULL;
	c->fd = fd;
	c->net = net;
	c->ep = ep;
	c->outgoing = remote != NULL;
	c->state = remote ? CR__CONNECTING : CR__OPEN;
	if (remote) {
		c->remote = *remote;
		cr_addr_format(remote, c->remote_text, sizeof(c->remote_text));
	}
	cr__shaper_conn_init(c);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (cr__rd_watch(c)) {
		free(c);
		return NULL;
	}
	hello = make_hello(ep);
	if (!hello || cr__conn_enqueue(c, hello)) {
		cr_msg_release(hello);
		c->state = CR__CLOSED;
		c->fd = -1; /* the caller closes it */
		cr__conn_release(c);
		return NULL;
	}
	cr_msg_release(hello);
	/* link into the peer's list */
	c->peer_next = ep->conns;
	if (ep->conns)
		ep->conns->peer_prev = c;
	ep->conns = c;
	ep->nconns++;
	/* whoever is at the other end must say hello in time */
	c->hello_timer = cr__net_timer(
		net, cr__net_now(net) + hello_wait(net->cfg), 0, hello_timeout,
		ep, c, ep->owner);
	cr__conn_update_poll(c);
	return c;
}

int cr__conn_connect(struct cr__ep *ep, const cr_addr *to,
		     struct cr__conn **out)
{
	struct sockaddr_storage ss, self;
	socklen_t sl, selfl;
	struct cr__conn *c;
	int fd, one = 1;

	if (cr__sockaddr_from(to, &ss, &sl))
		return -CR_EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		int e = errno;
		cr__ep_log(ep, CR_LOG_ERROR, "socket() for a connection: %s", strerror(e));
		return e == EMFILE || e == ENFILE ? -CR_EMFILE : -CR_EIO;
	}
	/* leave from the peer's own IP; the port is picked at connect */
#ifdef IP_BIND_ADDRESS_NO_PORT
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
	CR__UNUSED(one);
	cr_addr src = ep->addr;
	src.port = 0;
	if (!cr__sockaddr_from(&src, &self, &selfl) &&
	    bind(fd, (struct sockaddr *)&self, selfl) < 0) {
		cr__ep_log(ep, CR_LOG_WARN, "bind() before connect: %s", strerror(errno));
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 &&
	    errno != EINPROGRESS) {
		int e = errno;
		char t[CR_ADDR_STRLEN];
		cr__ep_log(ep, CR_LOG_WARN, "connect %s: %s",
			 cr_addr_format(to, t, sizeof(t)), strerror(e));
		close(fd);
		return e == EMFILE ? -CR_EMFILE : -CR_EIO;
	}
	c = conn_new(ep, fd, to);
	if (!c) {
		close(fd);
		return -CR_ENOMEM;
	}
	cr__net_map_add(ep->net, c);
	*out = c;
	return 0;
}

static void resume_listener(void *ctx, void *arg)
{
	struct cr__ep *ep = ctx;

	CR__UNUSED(arg);
	if (ep->alive && ep->listen_paused) {
		ep->listen_paused = false;
		cr__poll_start(ep->net, &ep->listen_poll, UV_READABLE,
			       ep->listen_poll.poll_cb);
	}
}


void cr__conn_accept(struct cr__ep *ep)
{
	const struct cr__net_cfg *cfg = ep->net->cfg;

	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct cr__conn *c;
		cr_addr from;
		int fd;

		fd = accept4(ep->listen_fd, (struct sockaddr *)&ss, &sl,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EMFILE || errno == ENFILE) {
				/* The backlog keeps the listener readable: stop
				 * watching it for a while instead of spinning. */
				cr__ep_log(ep, CR_LOG_ERROR, "accept: descriptor table full (%s); "
					 "not accepting for 100 ms",
					 strerror(errno));
				ep->listen_paused = true;
				cr__poll_stop(ep->net, &ep->listen_poll);
				cr__net_timer(ep->net,
						 cr__clock_now(ep->net->clock) +
							 100 * CR_MS,
						 0, resume_listener, ep, NULL, ep->owner);
				return;
			}
			cr__ep_log(ep, CR_LOG_ERROR, "accept: %s", strerror(errno));
			return;
		}
		cr__addr_from_sockaddr(&from, (struct sockaddr *)&ss);
		if (cfg->max_conns && ep->nconns >= cfg->max_conns &&
		    !ep->uncapped) {
			char t[CR_ADDR_STRLEN];
			close(fd);
			cr__limit_hit(ep, CR__LIMIT_CONNS,
				      "connection from %s refused: the peer "
				      "has %u, its cap",
				      cr_addr_format(&from, t, sizeof(t)),
				      ep->nconns);
			continue;
		}
		c = conn_new(ep, fd, NULL);
		if (!c) {
			close(fd);
			continue;
		}
		cr_addr_format(&from, c->remote_text, sizeof(c->remote_text));
		ep->net->conns_accepted++;
	}
}

/* --- queue ------------------------------------------------------------------ */

int cr__conn_enqueue(struct cr__conn *c, struct cr_msg *m)
{
	uint32_t bytes = CR__HDR_SIZE + m->len;

	if (c->state == CR__CLOSED)
		return -CR_ENOTCONN;
	if (cr__ring_reserve(&c->q, sizeof(struct cr__qent)))
		return -CR_ENOMEM;
	*cr__qent_at(c, c->q.len) = (struct cr__qent){cr_msg_retain(m), 0};
	c->q.len++;
	c->q_bytes += bytes;
	c->ep->out_bytes += bytes;
	if (c->q_bytes > c->net->cfg->queue_limit)
		cr__conn_queue_changed(c);
	if (cr__conn_shaped(c)) {
		cr__qent_at(c, c->q.len - 1)->release_ns =
			cr__clock_now(c->net->clock);
		c->q_unstamped += bytes;
		c->ep->up_bytes += bytes;
		cr__shaper_enqueue(c);
		return 0;
	}
	c->nstamped++;
	if (c->state == CR__OPEN && c->q_bytes >= INLINE_FLUSH_BYTES &&
	    !c->want_write) {
		cr__conn_flush(c);
		return 0;
	}
	cr__net_mark_dirty(c);
	return 0;
}

static void queue_drop(struct cr__conn *c)
{
	while (c->q.len) {
		cr_msg_release(cr__qent_at(c, 0)->m);
		cr__ring_shift(&c->q);
	}
	c->ep->out_bytes -= c->q_bytes;
	c->ep->up_bytes -= c->q_unstamped;
	c->q_bytes = 0;
	c->q_unstamped = 0;
	c->head_off = 0;
	c->nstamped = 0;
	cr__ring_free(&c->q);
}

/* Pops what a write of `n` bytes completed. */
static void queue_consume(struct cr__conn *c, size_t n, int64_t now,
			  bool after_full)
{
	c->q_bytes -= n;
	c->ep->out_bytes -= n;
	c->bytes_out += n;
	n += c->head_off;
	while (n) {
		struct cr__qent *e = cr__qent_at(c, 0);
		uint32_t flen = CR__HDR_SIZE + e->m->len;
		if (n < flen) {
			c->head_off = (uint32_t)n;
			return;
		}
		n -= flen;
		if (e->release_ns)
			cr__shaper_written(c, e, flen, now, after_full);
		cr__ep_sent(c->ep, e->m);
		cr_msg_release(e->m);
		cr__ring_shift(&c->q);
		c->nstamped--;
	}
	c->head_off = 0;
}

void cr__conn_flush(struct cr__conn *c)
{
	struct iovec iov[IOV_BATCH];
	int64_t now, due;
	bool after_full = c->want_write; /* the socket was full until now */

	if (c->state != CR__OPEN || c->broken)
		return;
	now = cr__clock_now(c->net->clock);
	due = now + c->net->batch_ns;
	while (c->nstamped) {
		uint32_t k;
		size_t total = 0;
		ssize_t wr;

		for (k = 0; k < c->nstamped && k < IOV_BATCH; k++) {
			struct cr__qent *e = cr__qent_at(c, k);
			struct cr_msg *m = e->m;
			size_t off = k == 0 ? c->head_off : 0;
			if (e->release_ns > due)
				break;
			iov[k].iov_base = m->frame + off;
			iov[k].iov_len = CR__HDR_SIZE + m->len - off;
			total += iov[k].iov_len;
		}
		if (!k)
			break; /* the next release is not due yet */
		if (cr__qent_at(c, 0)->release_ns)
			c->net->shaped_writes++;
		/* sendmsg, not writev: a peer that has gone away must be an
		 * EPIPE here, not a SIGPIPE that kills the embedding process */
		wr = sendmsg(c->fd,
			    &(struct msghdr){.msg_iov = iov, .msg_iovlen = k},
			    MSG_NOSIGNAL);
		if (wr < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->want_write = true;
				goto out;
			}
			if (c->net->in_send) {
				/* not inside cr_send: the flush hook closes it,
				 * so peer_departed never runs under a send */
				c->broken = errno;
				cr__net_mark_dirty(c);
				return;
			}
			cr__conn_close(c, true, false, strerror(errno));
			return;
		}
		queue_consume(c, (size_t)wr, now, after_full);
		if ((size_t)wr < total) {
			c->want_write = true;
			goto out;
		}
	}
	c->want_write = false;
	if (c->nstamped)
		cr__shaper_arm_tx(c, cr__qent_at(c, 0)->release_ns);
out:
	cr__conn_update_poll(c);
	if (c->full)
		cr__conn_queue_changed(c);
}

static void conn_connected(struct cr__conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		cr__conn_log(c, CR_LOG_DEBUG, "connect %s: %s", c->remote_text,
			 strerror(err));
		cr__conn_close(c, true, false, strerror(err));
		return;
	}
	c->state = CR__OPEN;
	cr__shaper_connected(c);
	cr__conn_flush(c);
}

/* Its socket can take bytes: a connect completed, or a full socket
 * drained. */
void cr__conn_writable(struct cr__conn *c)
{
	if (c->state == CR__CONNECTING)
		conn_connected(c);
	else if (c->state == CR__OPEN && c->want_write)
		cr__conn_flush(c);
}

/* --- teardown ------------------------------------------------------------- */

static struct cr__conn *other_conn(struct cr__conn *c)
{
	for (struct cr__conn *o = c->ep->conns; o; o = o->peer_next)
		if (o != c && o->state != CR__CLOSED &&
		    (o->hello_in || o->outgoing) &&
		    cr_addr_eq(&o->remote, &c->remote))
			return o;
	return NULL;
}

void cr__conn_close(struct cr__conn *c, bool notify, bool rst,
		    const char *why)
{
	struct cr__ep *ep = c->ep;
	bool known = c->hello_in || c->outgoing;
	struct cr__conn *other;

	if (c->state == CR__CLOSED)
		return;
	c->state = CR__CLOSED;
	if (c->hello_timer)
		cr__timer_cancel(&c->net->timers, c->hello_timer);
	c->hello_timer = 0;
	if (c->paused)
		cr__pause_unlink(c);
	cr__watch_del(c);
	cr__partial_drop(c);
	ep->nconns--;
	cr__conn_log(c, CR_LOG_DEBUG, "connection with %s ends: %s",
		 c->remote_text, why);
	cr__rd_forget(c);
	if (rst) {
		struct linger lg = {1, 0};
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	} else {
		shutdown(c->fd, SHUT_RDWR); /* the far end hears of it now */
	}
	/* the descriptor itself is closed when the connection is freed
	 * (ready.c), so that its number is not reused before */
	cr__shaper_conn_close(c);
	queue_drop(c);
	if (c->full)
		cr__conn_queue_changed(c);
	if (c->rx_slab)
		cr__slab_unref(c->rx_slab);
	c->rx_slab = NULL;
	c->rx_len = 0;
	free(c->park);
	c->park = NULL;
	c->park_cap = 0;

	if (c->peer_prev)
		c->peer_prev->peer_next = c->peer_next;
	else
		ep->conns = c->peer_next;
	if (c->peer_next)
		c->peer_next->peer_prev = c->peer_prev;

	other = known ? other_conn(c) : NULL;
	if (c->in_map) {
		cr__net_map_del(c->net, c);
		if (other && !other->in_map)
			cr__net_map_add(c->net, other);
	}
	/* a dirty connection is still on the flush list: it is freed there */
	if (!c->dirty)
		cr__conn_release(c);
	if (notify && known && !other)
		cr__ep_departed(ep, &c->remote);
}

