/* TCP connections between peers: setup, framing, queues, batched I/O.
 *
 * A connection belongs to one peer on one worker.  It is used in both
 * directions: the first frame each side sends is a hello that names the
 * experiment and the sending peer, and nothing else is accepted before it.
 *
 * Sending: cr_send appends a message reference to the connection's ring and
 * marks the connection dirty; the worker flushes dirty connections once per
 * loop iteration (or at once when much is queued), in one writev of up to
 * 512 frames.  Receiving: the socket is read in 64 KB chunks into the
 * worker's receive slab, and every complete frame becomes a message that
 * points into the slab, so a relay forwards it without copying.  A frame that
 * fails validation closes only this connection.
 *
 * Back-pressure costs only the connections that have something to read: a
 * peer that stops reading touches none of its connections; one that becomes
 * readable while its peer is paused stops its own poll then and joins the
 * peer's list of paused connections, and only those are restarted when the
 * peer resumes.  So a peer with thousands of quiet connections flips as
 * cheaply as one without them.
 *
 * Limits (docs/wire-format.md#limits) bound what a remote can make a peer
 * hold: connections per peer, the time an incoming connection may stay
 * silent after its hello, the time to finish a frame once begun, and the
 * node's bytes of unfinished frames.  The waits are checked by a sweep of
 * the worker's watch list, which holds only connections that are waiting,
 * and a large frame's buffer grows as its bytes arrive, not to the length
 * its header declares.
 */
#include "../internal.h"
#include "../node.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define IOV_BATCH 512
#define READS_PER_WAKE 16
/* Flush a connection inline once this much is queued, to keep the pipe
 * full without waiting for the end of the loop iteration. */
#define INLINE_FLUSH_BYTES (256u * 1024u)
/* Below this much free room the receive slab is retired. */
#define RX_MIN_ROOM (8u * 1024u)

static void conn_poll_cb(uv_poll_t *h, int status, int events);

static void conn_update_poll(struct cr__conn *c)
{
	int ev = 0;

	if (c->state == CR__CLOSED)
		return;
	if (c->state == CR__CONNECTING) {
		ev = UV_WRITABLE;
	} else {
		if (!c->paused && !c->rx_blocked)
			ev |= UV_READABLE;
		if (c->want_write)
			ev |= UV_WRITABLE;
	}
	if (ev == c->poll_events)
		return;
	c->poll_events = ev;
	if (ev)
		uv_poll_start(&c->poll, ev, conn_poll_cb);
	else
		uv_poll_stop(&c->poll);
}

/* A peer over its queue limit stops reading its inputs, but not the
 * connections it is stuck sending on (what comes back on those, such as
 * requests, must not wait for them), nor a connection that has not said
 * hello yet. */
static bool must_pause(const struct cr__conn *c)
{
	return c->peer->rx_paused && !c->full && c->hello_in;
}

/* Found readable while its peer does not read: stop polling it until the
 * peer resumes.  What it holds waits in its socket, and TCP pushes back. */
static void conn_pause(struct cr__conn *c)
{
	struct cr_peer *p = c->peer;

	if (c->paused)
		return;
	c->paused = true;
	c->pause_prev = NULL;
	c->pause_next = p->paused_conns;
	if (p->paused_conns)
		p->paused_conns->pause_prev = c;
	p->paused_conns = c;
	conn_update_poll(c);
}

static void pause_unlink(struct cr__conn *c)
{
	struct cr_peer *p = c->peer;

	if (c->pause_prev)
		c->pause_prev->pause_next = c->pause_next;
	else
		p->paused_conns = c->pause_next;
	if (c->pause_next)
		c->pause_next->pause_prev = c->pause_prev;
	c->pause_prev = c->pause_next = NULL;
	c->paused = false;
}

void cr__conn_reading_changed(struct cr__conn *c)
{
	if (c->paused && !must_pause(c))
		pause_unlink(c);
	conn_update_poll(c);
}

void cr__conn_resume_paused(struct cr_peer *p)
{
	struct cr__conn *c;

	while ((c = p->paused_conns)) {
		pause_unlink(c);
		conn_update_poll(c);
	}
}

/* Is the connection being read now?  Time it is not (its peer paused with
 * bytes of it waiting, its download link holding it back) is not the
 * remote's to answer for.  A connection of a paused peer that is not
 * paused itself has had nothing to read since the pause began. */
static bool conn_reading(const struct cr__conn *c)
{
	return c->state == CR__OPEN && !c->paused && !c->rx_blocked;
}

static void conn_log(struct cr__conn *c, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void conn_log(struct cr__conn *c, int level, const char *fmt, ...)
{
	va_list ap;

	if (level > c->peer->log_level)
		return;
	va_start(ap, fmt);
	cr__log_write(&c->w->log, level, &c->peer->addr, fmt, ap);
	va_end(ap);
}

/* --- limits ----------------------------------------------------------------- */

static const char *const limit_what[CR__LIMIT_N] = {
	[CR__LIMIT_CONNS] = "refused over the cap on connections",
	[CR__LIMIT_IDLE] = "closed silent after their hello",
	[CR__LIMIT_FRAME] = "closed with a frame unfinished in time",
	[CR__LIMIT_PARTIAL] = "closed over the node's budget of partial frames",
};

void cr__limit_hit(struct cr_peer *p, enum cr__limit k, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	/* a flood must not become a flood of log lines: the first is
	 * logged, the rest counted, and cr__limit_summary says how many */
	if (p->st.limit_hits[k]++)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cr__plog(p, CR_LOG_WARN, "%s (further connections %s are counted, "
		 "not logged)", msg, limit_what[k]);
}

void cr__limit_summary(struct cr_peer *p)
{
	char line[512];
	size_t n = 0;
	bool more = false;

	for (int k = 0; k < CR__LIMIT_N; k++) {
		uint64_t hits = p->st.limit_hits[k];
		if (!hits)
			continue;
		more |= hits > 1;
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%llu %s",
				      n ? ", " : "", (unsigned long long)hits,
				      limit_what[k]);
		if (n >= sizeof(line))
			break;
	}
	if (more)
		cr__plog(p, CR_LOG_INFO, "limits: connections %s", line);
}

/* The watch: connections on the clock, in the order they began to wait,
 * so that the first of equals is the oldest. */
static void watch_add(struct cr__conn *c)
{
	struct cr__worker *w = c->w;

	if (c->watched)
		return;
	c->watched = true;
	c->wait_since = 0;
	c->watch_next = NULL;
	c->watch_prev = w->watch_tail;
	if (w->watch_tail)
		w->watch_tail->watch_next = c;
	else
		w->watch = c;
	w->watch_tail = c;
}

static void watch_del(struct cr__conn *c)
{
	struct cr__worker *w = c->w;

	if (!c->watched)
		return;
	if (c->watch_prev)
		c->watch_prev->watch_next = c->watch_next;
	else
		w->watch = c->watch_next;
	if (c->watch_next)
		c->watch_next->watch_prev = c->watch_prev;
	else
		w->watch_tail = c->watch_prev;
	c->watch_prev = c->watch_next = NULL;
	c->watched = false;
}

/* The worker's count of unfinished frames into the node's, and its peak. */
static void partial_publish(struct cr__worker *w)
{
	struct cr__node *n = w->node;
	uint64_t now;

	if (w->partial_bytes == w->partial_published)
		return;
	now = atomic_fetch_add(&n->partial_bytes,
			       w->partial_bytes - w->partial_published) +
	      (w->partial_bytes - w->partial_published);
	w->partial_published = w->partial_bytes;
	for (uint64_t peak = atomic_load(&n->partial_peak);
	     now > peak &&
	     !atomic_compare_exchange_weak(&n->partial_peak, &peak, now);)
		;
}

/* Closes the watched connection with the largest unfinished frame (the
 * oldest of equals); false when there is none. */
static bool partial_evict(struct cr__worker *w)
{
	struct cr__conn *v = NULL;

	for (struct cr__conn *c = w->watch; c; c = c->watch_next)
		if (c->partial && (!v || c->partial > v->partial))
			v = c;
	if (!v)
		return false;
	cr__limit_hit(v->peer, CR__LIMIT_PARTIAL,
		      "%s: closed with %u bytes of a frame unfinished, the "
		      "most while the node held more than its limit of %llu "
		      "bytes of unfinished frames",
		      v->remote_text, v->partial,
		      (unsigned long long)w->node->partial_limit);
	cr__conn_close(v, true, false, "unfinished frames over the limit");
	return true;
}

/* Counts the connection's unfinished frame against its worker's share of
 * the node's budget; over it, the largest goes.  Returns false when that
 * closed c itself. */
static bool partial_count(struct cr__conn *c)
{
	struct cr__worker *w = c->w;

	if (c->rx_len == c->partial)
		return true;
	w->partial_bytes = w->partial_bytes - c->partial + c->rx_len;
	c->partial = c->rx_len;
	if (c->partial)
		watch_add(c);
	while (w->partial_share && w->partial_bytes > w->partial_share &&
	       partial_evict(w))
		;
	partial_publish(w);
	return c->state != CR__CLOSED;
}

void cr__conn_sweep(struct cr__worker *w)
{
	struct cr__node *n = w->node;
	int64_t now = cr__clock_now(w->clock);
	struct cr__conn *c = w->watch, *next;

	for (; c; c = next) {
		bool partial = c->rx_len > 0;
		bool idle = !c->outgoing && c->hello_in && c->frames_in == 1 &&
			    !partial;
		uint64_t mark = c->frames_in << 1 | partial;
		int64_t limit = partial ? n->frame_timeout_ns
					: n->idle_timeout_ns;

		next = c->watch_next;
		if (!partial && !idle) {
			watch_del(c);
			continue;
		}
		/* the clock runs from the first sweep that saw it waiting
		 * for this, while it was being read */
		if (!conn_reading(c) || c->wait_mark != mark ||
		    !c->wait_since) {
			c->wait_mark = mark;
			c->wait_since = now;
			continue;
		}
		if (!limit || now - c->wait_since < limit)
			continue;
		if (partial)
			cr__limit_hit(c->peer, CR__LIMIT_FRAME,
				      "%s: a frame unfinished for %.1f s (%u "
				      "bytes of it arrived); closing",
				      c->remote_text,
				      (double)(now - c->wait_since) / 1e9,
				      c->rx_len);
		else
			cr__limit_hit(c->peer, CR__LIMIT_IDLE,
				      "%s sent nothing in %.1f s after its "
				      "hello; closing",
				      c->remote_text,
				      (double)(now - c->wait_since) / 1e9);
		cr__conn_close(c, true, false,
			       partial ? "frame unfinished" : "idle");
		/* a departure may have closed others: start over if the
		 * next one left the watch (its memory lives until the loop
		 * turns) */
		if (next && !next->watched)
			next = w->watch;
	}
}

static struct cr_msg *make_hello(struct cr_peer *p)
{
	struct cr__node *n = p->node;
	struct cr_msg *m;
	uint8_t *b;

	m = cr__msg_new_local(&p->w->pool, CR__T_HELLO, 0, CR__HELLO_LEN,
			      &p->addr, cr__clock_now(&n->clock), n->exp_tag);
	if (!m)
		return NULL;
	b = m->frame + CR__HDR_SIZE;
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(n->exp_id >> (56 - 8 * i));
	return m;
}

static int64_t hello_wait(const struct cr__node *n)
{
	return n->hello_timeout_ns > 0 ? n->hello_timeout_ns
				       : CR__HELLO_TIMEOUT;
}

static void hello_timeout(void *ctx, void *arg)
{
	struct cr__conn *c = arg;

	CR__UNUSED(ctx);
	c->hello_timer = 0;
	if (c->state != CR__CLOSED && !c->hello_in &&
	    (c->peer->rx_paused || c->rx_blocked)) {
		/* we are not reading it (our queues are full, or the link
		 * holds us back): its hello may be waiting; look again later */
		c->hello_timer = cr__worker_timer(
			c->w, cr__clock_now(c->w->clock) + hello_wait(c->peer->node), 0,
			hello_timeout, c->peer, c, c->peer);
		return;
	}
	if (c->state != CR__CLOSED && !c->hello_in) {
		c->peer->st.bad_frames++;
		c->w->bad_frames++;
		conn_log(c, CR_LOG_WARN,
			 "%s sent no hello in %lld ms; closing",
			 c->remote_text,
			 (long long)(hello_wait(c->peer->node) / CR_MS));
		/* an outgoing one was to a known peer, which is now gone for
		 * this one; an incoming one has no name, so no departure */
		cr__conn_close(c, true, false, "no hello");
	}
}

static struct cr__conn *conn_new(struct cr_peer *p, int fd,
				 const cr_addr *remote)
{
	struct cr__worker *w = p->w;
	struct cr__conn *c = calloc(1, sizeof(*c));
	struct cr_msg *hello;
	int one = 1;

	if (!c)
		return NULL;
	c->fd = fd;
	c->w = w;
	c->peer = p;
	c->outgoing = remote != NULL;
	c->state = remote ? CR__CONNECTING : CR__OPEN;
	if (remote) {
		c->remote = *remote;
		cr_addr_format(remote, c->remote_text, sizeof(c->remote_text));
	}
	cr__shaper_conn_init(c);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (uv_poll_init_socket(&w->loop, &c->poll, fd)) {
		free(c);
		return NULL;
	}
	c->poll.data = c;
	hello = make_hello(p);
	if (!hello || cr__conn_enqueue(c, hello)) {
		cr_msg_release(hello);
		c->state = CR__CLOSED;
		uv_close((uv_handle_t *)&c->poll, (uv_close_cb)free);
		return NULL;
	}
	cr_msg_release(hello);
	/* link into the peer's list */
	c->peer_next = p->conns;
	if (p->conns)
		p->conns->peer_prev = c;
	p->conns = c;
	p->nconns++;
	/* whoever is at the other end must say hello in time */
	c->hello_timer = cr__worker_timer(
		w, cr__clock_now(w->clock) + hello_wait(p->node), 0, hello_timeout,
		p, c, p);
	conn_update_poll(c);
	return c;
}

int cr__conn_connect(struct cr_peer *p, const cr_addr *to,
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
		cr__plog(p, CR_LOG_ERROR, "socket() for a connection: %s", strerror(e));
		return e == EMFILE || e == ENFILE ? -CR_EMFILE : -CR_EIO;
	}
	/* leave from the peer's own IP; the port is picked at connect */
#ifdef IP_BIND_ADDRESS_NO_PORT
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif
	CR__UNUSED(one);
	cr_addr src = p->addr;
	src.port = 0;
	if (!cr__sockaddr_from(&src, &self, &selfl) &&
	    bind(fd, (struct sockaddr *)&self, selfl) < 0) {
		cr__plog(p, CR_LOG_WARN, "bind() before connect: %s", strerror(errno));
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0 &&
	    errno != EINPROGRESS) {
		int e = errno;
		char t[CR_ADDR_STRLEN];
		cr__plog(p, CR_LOG_WARN, "connect %s: %s",
			 cr_addr_format(to, t, sizeof(t)), strerror(e));
		close(fd);
		return e == EMFILE ? -CR_EMFILE : -CR_EIO;
	}
	c = conn_new(p, fd, to);
	if (!c) {
		close(fd);
		return -CR_ENOMEM;
	}
	cr__worker_map_add(p->w, c);
	*out = c;
	return 0;
}

static void resume_listener(void *ctx, void *arg)
{
	struct cr_peer *p = ctx;

	CR__UNUSED(arg);
	if (p->alive && p->listen_paused) {
		p->listen_paused = false;
		uv_poll_start(&p->listen_poll, UV_READABLE,
			      p->listen_poll.poll_cb);
	}
}


void cr__conn_accept(struct cr_peer *p)
{
	const struct cr__node *n = p->node;

	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct cr__conn *c;
		cr_addr from;
		int fd;

		fd = accept4(p->listen_fd, (struct sockaddr *)&ss, &sl,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EMFILE || errno == ENFILE) {
				/* The backlog keeps the listener readable: stop
				 * watching it for a while instead of spinning. */
				cr__plog(p, CR_LOG_ERROR, "accept: descriptor table full (%s); "
					 "not accepting for 100 ms",
					 strerror(errno));
				p->listen_paused = true;
				uv_poll_stop(&p->listen_poll);
				cr__worker_timer(p->w,
						 cr__clock_now(p->w->clock) +
							 100 * CR_MS,
						 0, resume_listener, p, NULL, p);
				return;
			}
			cr__plog(p, CR_LOG_ERROR, "accept: %s", strerror(errno));
			return;
		}
		cr__addr_from_sockaddr(&from, (struct sockaddr *)&ss);
		if (n->max_conns && p->nconns >= n->max_conns &&
		    !p->is_tracker_peer) {
			char t[CR_ADDR_STRLEN];
			close(fd);
			cr__limit_hit(p, CR__LIMIT_CONNS,
				      "connection from %s refused: the peer "
				      "has %u, its cap",
				      cr_addr_format(&from, t, sizeof(t)),
				      p->nconns);
			continue;
		}
		c = conn_new(p, fd, NULL);
		if (!c) {
			close(fd);
			continue;
		}
		cr_addr_format(&from, c->remote_text, sizeof(c->remote_text));
		p->w->conns_accepted++;
	}
}

/* --- queue ------------------------------------------------------------------ */

static int queue_grow(struct cr__conn *c)
{
	uint32_t cap = c->qcap ? c->qcap * 2 : 16;
	struct cr__qent *q = malloc(cap * sizeof(*q));

	if (!q)
		return -CR_ENOMEM;
	for (uint32_t i = 0; i < c->qlen; i++)
		q[i] = c->q[(c->qhead + i) & (c->qcap - 1)];
	free(c->q);
	c->q = q;
	c->qcap = cap;
	c->qhead = 0;
	return 0;
}

int cr__conn_enqueue(struct cr__conn *c, struct cr_msg *m)
{
	uint32_t bytes = CR__HDR_SIZE + m->len;

	if (c->state == CR__CLOSED)
		return -CR_ENOTCONN;
	if (c->qlen == c->qcap && queue_grow(c))
		return -CR_ENOMEM;
	c->q[(c->qhead + c->qlen) & (c->qcap - 1)] =
		(struct cr__qent){cr_msg_retain(m), 0};
	c->qlen++;
	c->q_bytes += bytes;
	c->peer->out_bytes += bytes;
	if (c->q_bytes > c->peer->node->queue_limit)
		cr__conn_queue_changed(c);
	if (cr__conn_shaped(c)) {
		c->q[(c->qhead + c->qlen - 1) & (c->qcap - 1)].release_ns =
			cr__clock_now(c->w->clock);
		cr__shaper_enqueue(c);
		return 0;
	}
	c->nstamped++;
	if (c->state == CR__OPEN && c->q_bytes >= INLINE_FLUSH_BYTES &&
	    !c->want_write) {
		cr__conn_flush(c);
		return 0;
	}
	cr__worker_mark_dirty(c);
	return 0;
}

static void queue_drop(struct cr__conn *c)
{
	while (c->qlen) {
		cr_msg_release(c->q[c->qhead].m);
		c->qhead = (c->qhead + 1) & (c->qcap - 1);
		c->qlen--;
	}
	c->peer->out_bytes -= c->q_bytes;
	c->q_bytes = 0;
	c->head_off = 0;
	c->nstamped = 0;
	free(c->q);
	c->q = NULL;
	c->qcap = 0;
}

/* Pops what a write of `n` bytes completed. */
static void queue_consume(struct cr__conn *c, size_t n, int64_t now,
			  bool after_full)
{
	c->q_bytes -= n;
	c->peer->out_bytes -= n;
	c->bytes_out += n;
	n += c->head_off;
	while (n) {
		struct cr__qent *e = &c->q[c->qhead];
		uint32_t flen = CR__HDR_SIZE + e->m->len;
		if (n < flen) {
			c->head_off = (uint32_t)n;
			return;
		}
		n -= flen;
		if (e->release_ns)
			cr__shaper_written(c, e, flen, now, after_full);
		cr__peer_sent(c->peer, e->m);
		cr_msg_release(e->m);
		c->qhead = (c->qhead + 1) & (c->qcap - 1);
		c->qlen--;
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
	now = cr__clock_now(c->w->clock);
	due = now + c->w->batch_ns;
	while (c->nstamped) {
		uint32_t i = c->qhead, k;
		size_t total = 0;
		ssize_t w;

		for (k = 0; k < c->nstamped && k < IOV_BATCH; k++) {
			struct cr_msg *m = c->q[i].m;
			size_t off = k == 0 ? c->head_off : 0;
			if (c->q[i].release_ns > due)
				break;
			iov[k].iov_base = m->frame + off;
			iov[k].iov_len = CR__HDR_SIZE + m->len - off;
			total += iov[k].iov_len;
			i = (i + 1) & (c->qcap - 1);
		}
		if (!k)
			break; /* the next release is not due yet */
		if (c->q[c->qhead].release_ns)
			c->w->shaped_writes++;
		/* sendmsg, not writev: a peer that has gone away must be an
		 * EPIPE here, not a SIGPIPE that kills the embedding process */
		w = sendmsg(c->fd,
			    &(struct msghdr){.msg_iov = iov, .msg_iovlen = k},
			    MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->want_write = true;
				goto out;
			}
			if (c->w->in_send) {
				/* not inside cr_send: the flush hook closes it,
				 * so peer_departed never runs under a send */
				c->broken = errno;
				cr__worker_mark_dirty(c);
				return;
			}
			cr__conn_close(c, true, false, strerror(errno));
			return;
		}
		queue_consume(c, (size_t)w, now, after_full);
		if ((size_t)w < total) {
			c->want_write = true;
			goto out;
		}
	}
	c->want_write = false;
	if (c->nstamped)
		cr__shaper_arm_tx(c, c->q[c->qhead].release_ns);
out:
	conn_update_poll(c);
	if (c->full)
		cr__conn_queue_changed(c);
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
	cr__pool *pool = &c->w->pool;
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
	c->peer->st.bad_frames++;
	c->w->bad_frames++;
	conn_log(c, CR_LOG_WARN,
		 "bad frame from %s: %s (magic 0x%04x version %u type %u "
		 "length %u); closing the connection",
		 c->remote_text, reason, h->magic, h->version, h->type,
		 h->length);
	cr__conn_close(c, true, false, reason);
}

static bool handle_hello(struct cr__conn *c, const struct cr__hdr *h,
			 const uint8_t *payload)
{
	struct cr__node *n = c->peer->node;
	uint64_t id = 0;
	cr_addr from = {0};

	for (int i = 0; i < 8; i++)
		id = id << 8 | payload[i];
	if (id != n->exp_id) {
		conn_log(c, CR_LOG_WARN,
			 "hello from %s names another experiment "
			 "(%016llx, expected %016llx); closing",
			 c->remote_text, (unsigned long long)id,
			 (unsigned long long)n->exp_id);
		cr__conn_close(c, false, false, "foreign experiment");
		return false;
	}
	from.family = h->family;
	from.port = h->src_port;
	memcpy(from.ip, h->src_ip, 16);
	if (c->outgoing) {
		if (!cr_addr_eq(&from, &c->remote)) {
			char t[CR_ADDR_STRLEN];
			conn_log(c, CR_LOG_WARN,
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
		c->delay_ns = cr__link_delay(c->peer, &from);
		if (!cr__conn_find(c->w, c->peer, &from))
			cr__worker_map_add(c->w, c);
		/* whoever connects has something to say: a connection is
		 * opened by a send, which queues its frame behind the hello
		 * (the sweep lets go of it once more than the hello came) */
		watch_add(c);
	}
	c->hello_in = true;
	conn_log(c, CR_LOG_INFO, "neighbour %s connected (%s)", c->remote_text,
		 c->outgoing ? "outgoing" : "incoming");
	conn_update_poll(c);
	if (c->hello_timer)
		cr__timer_cancel(&c->w->timers, c->hello_timer);
	c->hello_timer = 0;
	return true;
}

/* Decodes every complete frame of the pending bytes. */
static void rx_parse(struct cr__conn *c)
{
	struct cr__node *n = c->peer->node;
	struct cr__slab *s = c->rx_slab;

	while (c->rx_len >= CR__HDR_SIZE) {
		uint8_t *f = s->data + c->rx_off;
		struct cr__hdr h;
		const char *why;
		uint32_t total;
		struct cr_msg *m;

		cr__hdr_decode(f, &h);
		if (cr__hdr_check(&h, n->max_msg, &why)) {
			bad_frame(c, why, &h);
			return;
		}
		if (h.exp_tag != n->exp_tag) {
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
			if (!handle_hello(c, &h, f + CR__HDR_SIZE))
				return;
			continue;
		}
		if (h.type == CR__T_GOODBYE) {
			c->goodbye = true;
			continue;
		}
		m = cr__msg_new_frame(&c->w->pool, s, f, &h);
		if (!m) {
			cr__conn_close(c, true, false, "out of memory");
			return;
		}
		cr__peer_dispatch(c->peer, &c->remote, m);
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
	if (!s || (s->refs == 1 && s != c->w->pool.rx && c->rx_len &&
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
			now = cr__clock_now(c->w->clock);
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
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			cr__conn_close(c, true, false, strerror(errno));
			return;
		}
		s->fill += (uint32_t)r;
		c->rx_len += (uint32_t)r;
		c->bytes_in += (uint64_t)r;
		if (shaped)
			cr__shaper_rx_took(c, (uint32_t)r, now);
		rx_parse(c);
		if (c->state == CR__CLOSED || !partial_count(c))
			return;
		if ((uint32_t)r < want)
			return; /* the socket is drained */
	}
}

static void conn_read(struct cr__conn *c)
{
	conn_read_some(c);
	if (c->state != CR__CLOSED)
		rx_park(c);
}

static void conn_connected(struct cr__conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		conn_log(c, CR_LOG_DEBUG, "connect %s: %s", c->remote_text,
			 strerror(err));
		cr__conn_close(c, true, false, strerror(err));
		return;
	}
	c->state = CR__OPEN;
	cr__shaper_connected(c);
	cr__conn_flush(c);
}

static void conn_poll_cb(uv_poll_t *h, int status, int events)
{
	struct cr__conn *c = h->data;

	if (c->state == CR__CLOSED)
		return;
	if (status < 0) {
		/* libuv reports a socket error as EBADF: ask the socket */
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		cr__conn_close(c, true, false,
			       err ? strerror(err) : uv_strerror(status));
		return;
	}
	if (c->state == CR__CONNECTING) {
		if (events & UV_WRITABLE)
			conn_connected(c);
		return;
	}
	if (events & UV_READABLE)
		conn_read(c);
	if (c->state == CR__OPEN && (events & UV_WRITABLE))
		cr__conn_flush(c);
}

/* --- teardown ------------------------------------------------------------- */

static void conn_free_cb(uv_handle_t *h)
{
	free(h->data);
}

void cr__conn_release(struct cr__conn *c)
{
	uv_close((uv_handle_t *)&c->poll, conn_free_cb);
}

static struct cr__conn *other_conn(struct cr__conn *c)
{
	for (struct cr__conn *o = c->peer->conns; o; o = o->peer_next)
		if (o != c && o->state != CR__CLOSED &&
		    (o->hello_in || o->outgoing) &&
		    cr_addr_eq(&o->remote, &c->remote))
			return o;
	return NULL;
}

void cr__conn_close(struct cr__conn *c, bool notify, bool rst,
		    const char *why)
{
	struct cr_peer *p = c->peer;
	bool known = c->hello_in || c->outgoing;
	struct cr__conn *other;

	if (c->state == CR__CLOSED)
		return;
	c->state = CR__CLOSED;
	if (c->hello_timer)
		cr__timer_cancel(&c->w->timers, c->hello_timer);
	c->hello_timer = 0;
	if (c->paused)
		pause_unlink(c);
	watch_del(c);
	if (c->partial) {
		c->w->partial_bytes -= c->partial;
		c->partial = 0;
		partial_publish(c->w);
	}
	p->nconns--;
	conn_log(c, CR_LOG_DEBUG, "connection with %s ends: %s",
		 c->remote_text, why);
	if (c->poll_events)
		uv_poll_stop(&c->poll);
	c->poll_events = 0;
	if (rst) {
		struct linger lg = {1, 0};
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(c->fd);
	c->fd = -1;
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
		p->conns = c->peer_next;
	if (c->peer_next)
		c->peer_next->peer_prev = c->peer_prev;

	other = known ? other_conn(c) : NULL;
	if (c->in_map) {
		cr__worker_map_del(c->w, c);
		if (other && !other->in_map)
			cr__worker_map_add(c->w, other);
	}
	/* a dirty connection is still on the flush list: it is freed there */
	if (!c->dirty)
		cr__conn_release(c);
	if (notify && known && !other)
		cr__peer_departed(p, &c->remote);
}
