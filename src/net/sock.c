/* A peer's own sockets: its TCP listener and its UDP socket, both bound to
 * the peer's IP:port, and UDP sending and receiving.
 *
 * UDP keeps the paper's two queue pairs: control and data datagrams that the
 * socket could not take at once wait in their own queue, control first.
 * Each datagram is one frame; frames that fail validation are counted,
 * logged (the first few per peer) and dropped.
 */
#include "../internal.h"
#include "../node.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define UDP_MAX_FRAME 65507u
#define UDP_QUEUE_MAX 4096u
#define UDP_READS_PER_WAKE 64
/* the receive buffer asked for each peer's UDP socket */
#define UDP_RCVBUF (1 << 20)
#define BAD_FRAME_LOGS 10

static void listen_cb(uv_poll_t *h, int status, int events)
{
	struct cr_peer *p = h->data;

	CR__UNUSED(events);
	if (status < 0 || !p->alive)
		return;
	cr__conn_accept(p);
}

static void udp_cb(uv_poll_t *h, int status, int events);

static void udp_update_poll(struct cr_peer *p)
{
	int ev = UV_READABLE;

	if (p->udp_ctrl.len || p->udp_data.len)
		ev |= UV_WRITABLE;
	if (ev != p->udp_events) {
		p->udp_events = ev;
		uv_poll_start(&p->udp_poll, ev, udp_cb);
	}
}

static int open_err(struct cr_peer *p, const char *what, char *err,
		    size_t errlen)
{
	int e = errno;

	snprintf(err, errlen, "peer %s: %s: %s", p->name, what, strerror(e));
	if (e == EADDRINUSE)
		return -CR_EADDRINUSE;
	if (e == EMFILE || e == ENFILE)
		return -CR_EMFILE;
	return -CR_EIO;
}

int cr__peer_open_sockets(struct cr_peer *p, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1;

	p->listen_fd = p->udp_fd = -1;
	if (cr__sockaddr_from(&p->addr, &ss, &sl)) {
		snprintf(err, errlen, "peer %s: bad address", p->name);
		return -CR_EINVAL;
	}
	p->listen_fd = socket(ss.ss_family,
			      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->listen_fd < 0)
		return open_err(p, "socket", err, errlen);
	setsockopt(p->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(p->listen_fd, (struct sockaddr *)&ss, sl) < 0)
		return open_err(p, "bind (TCP)", err, errlen);
	if (listen(p->listen_fd, 1024) < 0)
		return open_err(p, "listen", err, errlen);

	p->udp_fd = socket(ss.ss_family,
			   SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->udp_fd < 0)
		return open_err(p, "socket (UDP)", err, errlen);
	if (bind(p->udp_fd, (struct sockaddr *)&ss, sl) < 0)
		return open_err(p, "bind (UDP)", err, errlen);
	/* a worker that stalls for a moment should not lose datagrams to a
	 * full socket buffer (the kernel caps this at net.core.rmem_max);
	 * whatever the kernel still drops is counted (udp_rx_overflow) */
	setsockopt(p->udp_fd, SOL_SOCKET, SO_RCVBUF, &(int){UDP_RCVBUF},
		   sizeof(int));
	setsockopt(p->udp_fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));

	uv_poll_init_socket(&p->w->loop, &p->listen_poll, p->listen_fd);
	p->listen_poll.data = p;
	uv_poll_init_socket(&p->w->loop, &p->udp_poll, p->udp_fd);
	p->udp_poll.data = p;
	p->handles_open = 2;
	uv_poll_start(&p->listen_poll, UV_READABLE, listen_cb);
	p->udp_events = 0;
	udp_update_poll(p);
	return 0;
}

static void handle_closed(uv_handle_t *h)
{
	struct cr_peer *p = h->data;

	p->handles_open--;
}

void cr__udpq_drop(struct cr__udpq *q)
{
	while (q->len) {
		cr_msg_release(q->v[q->head].m);
		q->head = (q->head + 1) & (q->cap - 1);
		q->len--;
	}
	free(q->v);
	memset(q, 0, sizeof(*q));
}

void cr__peer_close_sockets(struct cr_peer *p, bool rst)
{
	while (p->conns)
		cr__conn_close(p->conns, false, rst, "peer ends");
	if (p->handles_open) {
		uv_close((uv_handle_t *)&p->listen_poll, handle_closed);
		uv_close((uv_handle_t *)&p->udp_poll, handle_closed);
	}
	if (p->listen_fd >= 0)
		close(p->listen_fd);
	if (p->udp_fd >= 0)
		close(p->udp_fd);
	p->listen_fd = p->udp_fd = -1;
	cr__udpq_drop(&p->udp_ctrl);
	cr__udpq_drop(&p->udp_data);
	cr__shaper_peer_close(p);
}

/* --- UDP send --------------------------------------------------------------- */

int cr__udpq_push(struct cr__udpq *q, const cr_addr *to, struct cr_msg *m)
{
	if (q->len == q->cap) {
		uint32_t cap = q->cap ? q->cap * 2 : 16;
		struct cr__udp_out *v;

		if (q->len >= UDP_QUEUE_MAX)
			return -CR_ENOMEM;
		v = malloc(cap * sizeof(*v));
		if (!v)
			return -CR_ENOMEM;
		for (uint32_t i = 0; i < q->len; i++)
			v[i] = q->v[(q->head + i) & (q->cap - 1)];
		free(q->v);
		q->v = v;
		q->cap = cap;
		q->head = 0;
	}
	q->v[(q->head + q->len) & (q->cap - 1)] =
		(struct cr__udp_out){cr_msg_retain(m), *to, 0};
	q->len++;
	return 0;
}

/* 1: sent (or dropped for good), 0: the socket is full. */
static int udp_sendto(struct cr_peer *p, const cr_addr *to, struct cr_msg *m)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	if (cr__sockaddr_from(to, &ss, &sl))
		return 1;
	for (;;) {
		ssize_t w = sendto(p->udp_fd, m->frame, CR__HDR_SIZE + m->len,
				   0, (struct sockaddr *)&ss, sl);
		if (w >= 0) {
			cr__peer_sent(p, m);
			return 1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			return 0;
		/* ICMP errors (refused, unreachable): the datagram is lost,
		 * as it would be on the Internet */
		p->st.udp_dropped++;
		return 1;
	}
}

int cr__udp_send(struct cr_peer *p, const cr_addr *to, struct cr_msg *m)
{
	if (CR__HDR_SIZE + m->len > UDP_MAX_FRAME)
		return -CR_EMSGSIZE;
	if (p->shaped)
		return cr__shaper_udp_send(p, to, m);
	return cr__udp_send_now(p, to, m);
}

int cr__udp_send_now(struct cr_peer *p, const cr_addr *to, struct cr_msg *m)
{
	struct cr__udpq *q = m->type >= CR_MSG_DATA_MIN ? &p->udp_data
							: &p->udp_ctrl;

	if (!p->udp_ctrl.len && !p->udp_data.len && udp_sendto(p, to, m))
		return 0;
	if (cr__udpq_push(q, to, m)) {
		p->st.udp_dropped++;
		return 0;
	}
	udp_update_poll(p);
	return 0;
}

static bool udpq_flush(struct cr_peer *p, struct cr__udpq *q)
{
	while (q->len) {
		struct cr__udp_out *o = &q->v[q->head];
		if (!udp_sendto(p, &o->to, o->m))
			return false;
		cr_msg_release(o->m);
		q->head = (q->head + 1) & (q->cap - 1);
		q->len--;
	}
	return true;
}

void cr__udp_flush(struct cr_peer *p)
{
	if (udpq_flush(p, &p->udp_ctrl))
		udpq_flush(p, &p->udp_data);
	udp_update_poll(p);
}

/* --- UDP receive -------------------------------------------------------- */

static void udp_bad(struct cr_peer *p, const char *from, const char *why)
{
	p->st.bad_frames++;
	p->st.bad_datagrams++;
	p->w->bad_frames++;
	if (p->st.bad_datagrams <= BAD_FRAME_LOGS)
		cr__plog(p, CR_LOG_WARN, "bad datagram from %s: %s; dropped%s", from, why,
			 p->st.bad_datagrams == BAD_FRAME_LOGS
				 ? " (further ones are counted, not logged)"
				 : "");
}


/* The kernel's count of datagrams it dropped at this socket, its receive
 * buffer being full, rides on each datagram read after a drop. */
static void udp_note_overflow(struct cr_peer *p, struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		uint32_t drops;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL)
			continue;
		memcpy(&drops, CMSG_DATA(c), sizeof(drops));
		if (drops > p->st.udp_rx_overflow)
			p->st.udp_rx_overflow = drops;
	}
}
static void udp_read(struct cr_peer *p)
{
	cr__pool *pool = &p->w->pool;
	struct cr__node *n = p->node;

	for (int i = 0; i < UDP_READS_PER_WAKE && p->alive; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct cr__slab *s = pool->rx;
		struct cr__hdr h;
		struct cr_msg *m;
		const char *why;
		char from[CR_ADDR_STRLEN];
		cr_addr fa;
		ssize_t r;

		if (!s || s->size - s->fill < UDP_MAX_FRAME + 8) {
			if (s)
				cr__slab_unref(s);
			s = pool->rx = cr__slab_get(pool, pool->slab_size);
			if (!s)
				return;
		}
		struct iovec iov = {s->data + s->fill, UDP_MAX_FRAME};
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(uint32_t))];
		} cbuf;
		struct msghdr mh = {.msg_name = &ss,
				    .msg_namelen = sl,
				    .msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf.buf,
				    .msg_controllen = sizeof(cbuf.buf)};

		r = recvmsg(p->udp_fd, &mh, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return; /* EAGAIN, or an ICMP error for an old send */
		}
		udp_note_overflow(p, &mh);
		cr__addr_from_sockaddr(&fa, (struct sockaddr *)&ss);
		if ((size_t)r < CR__HDR_SIZE) {
			udp_bad(p, cr_addr_format(&fa, from, sizeof(from)),
				"shorter than a header");
			continue;
		}
		cr__hdr_decode(s->data + s->fill, &h);
		if (cr__hdr_check(&h, n->max_msg, &why) ||
		    (why = "frame of another experiment",
		     h.exp_tag != n->exp_tag) ||
		    (why = "length does not match the datagram",
		     CR__HDR_SIZE + h.length != (size_t)r) ||
		    (why = "engine message over UDP",
		     h.type < CR_MSG_CONTROL_MIN)) {
			udp_bad(p, cr_addr_format(&fa, from, sizeof(from)),
				why);
			continue;
		}
		m = cr__msg_new_frame(pool, s, s->data + s->fill, &h);
		s->fill += ((uint32_t)r + 7u) & ~7u;
		if (!m)
			return;
		cr__shaper_udp_received(p, &fa, m);
		cr_msg_release(m);
	}
}

static void udp_cb(uv_poll_t *h, int status, int events)
{
	struct cr_peer *p = h->data;

	if (status < 0 || !p->alive)
		return;
	if (events & UV_READABLE)
		udp_read(p);
	if ((events & UV_WRITABLE) && p->alive)
		cr__udp_flush(p);
}
