/* A peer's own sockets: its TCP listener and its UDP socket, both bound to
 * the peer's IP:port, and UDP sending and receiving.
 *
 * UDP keeps the paper's two queue pairs: control and data datagrams that the
 * socket could not take at once wait in their own queue, control first.
 * Each datagram is one frame; frames that fail validation are counted,
 * logged (the first few per peer) and dropped.
 */
#include "net-int.h"

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
	struct cr__ep *ep = h->data;

	CR__UNUSED(events);
	if (status < 0 || !ep->alive)
		return;
	cr__conn_accept(ep);
}

static void udp_cb(uv_poll_t *h, int status, int events);

static void udp_update_poll(struct cr__ep *ep)
{
	int ev = UV_READABLE;

	if (ep->udp_ctrl.len || ep->udp_data.len)
		ev |= UV_WRITABLE;
	if (ev != ep->udp_events) {
		ep->udp_events = ev;
		cr__poll_start(ep->net, &ep->udp_poll, ev, udp_cb);
	}
}

static int open_err(struct cr__ep *ep, const char *what, char *err,
		    size_t errlen)
{
	int e = errno;
	char name[CR_ADDR_STRLEN];

	cr_addr_format(&ep->addr, name, sizeof(name));
	snprintf(err, errlen, "peer %s: %s: %s", name, what, strerror(e));
	if (e == EADDRINUSE)
		return -CR_EADDRINUSE;
	if (e == EMFILE || e == ENFILE)
		return -CR_EMFILE;
	return -CR_EIO;
}

int cr__ep_open(struct cr__ep *ep, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1;

	ep->listen_fd = ep->udp_fd = -1;
	if (cr__sockaddr_from(&ep->addr, &ss, &sl)) {
		char name[CR_ADDR_STRLEN];
		cr_addr_format(&ep->addr, name, sizeof(name));
		snprintf(err, errlen, "peer %s: bad address", name);
		return -CR_EINVAL;
	}
	ep->listen_fd = socket(ss.ss_family,
			      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ep->listen_fd < 0)
		return open_err(ep, "socket", err, errlen);
	setsockopt(ep->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ep->listen_fd, (struct sockaddr *)&ss, sl) < 0)
		return open_err(ep, "bind (TCP)", err, errlen);
	if (listen(ep->listen_fd, 1024) < 0)
		return open_err(ep, "listen", err, errlen);

	ep->udp_fd = socket(ss.ss_family,
			   SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ep->udp_fd < 0)
		return open_err(ep, "socket (UDP)", err, errlen);
	if (bind(ep->udp_fd, (struct sockaddr *)&ss, sl) < 0)
		return open_err(ep, "bind (UDP)", err, errlen);
	/* a worker that stalls for a moment should not lose datagrams to a
	 * full socket buffer (the kernel caps this at net.core.rmem_max);
	 * whatever the kernel still drops is counted (udp_rx_overflow) */
	setsockopt(ep->udp_fd, SOL_SOCKET, SO_RCVBUF, &(int){UDP_RCVBUF},
		   sizeof(int));
	setsockopt(ep->udp_fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));

	uv_poll_init_socket(&ep->net->loop, &ep->listen_poll, ep->listen_fd);
	ep->listen_poll.data = ep;
	uv_poll_init_socket(&ep->net->loop, &ep->udp_poll, ep->udp_fd);
	ep->udp_poll.data = ep;
	ep->handles_open = 2;
	cr__poll_start(ep->net, &ep->listen_poll, UV_READABLE, listen_cb);
	ep->udp_events = 0;
	udp_update_poll(ep);
	return 0;
}

static void handle_closed(uv_handle_t *h)
{
	struct cr__ep *ep = h->data;

	ep->handles_open--;
}

void cr__udpq_drop(struct cr__ring *q)
{
	while (q->len) {
		cr_msg_release(cr__ring_at(q, struct cr__udp_out, 0)->m);
		cr__ring_shift(q);
	}
	cr__ring_free(q);
}

void cr__ep_close(struct cr__ep *ep, bool rst)
{
	while (ep->conns)
		cr__conn_close(ep->conns, false, rst, "peer ends");
	/* a second close before the loop has turned (a peer that died in
	 * the turn the run ends) finds its handles closing already */
	if (ep->handles_open &&
	    !uv_is_closing((uv_handle_t *)&ep->listen_poll)) {
		uv_close((uv_handle_t *)&ep->listen_poll, handle_closed);
		uv_close((uv_handle_t *)&ep->udp_poll, handle_closed);
	}
	if (ep->listen_fd >= 0)
		close(ep->listen_fd);
	if (ep->udp_fd >= 0)
		close(ep->udp_fd);
	ep->listen_fd = ep->udp_fd = -1;
	cr__udpq_drop(&ep->udp_ctrl);
	cr__udpq_drop(&ep->udp_data);
	cr__shaper_ep_close(ep);
}

/* --- UDP send --------------------------------------------------------------- */

int cr__udpq_push(struct cr__ring *q, const cr_addr *to, struct cr_msg *m)
{
	if (q->len == q->cap &&
	    (q->len >= UDP_QUEUE_MAX ||
	     cr__ring_grow(q, sizeof(struct cr__udp_out))))
		return -CR_ENOMEM;
	*cr__ring_at(q, struct cr__udp_out, q->len) =
		(struct cr__udp_out){cr_msg_retain(m), *to, 0};
	q->len++;
	return 0;
}

/* 1: sent (or dropped for good), 0: the socket is full. */
static int udp_sendto(struct cr__ep *ep, const cr_addr *to, struct cr_msg *m)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	if (cr__sockaddr_from(to, &ss, &sl))
		return 1;
	for (;;) {
		ssize_t w = sendto(ep->udp_fd, m->frame, CR__HDR_SIZE + m->len,
				   0, (struct sockaddr *)&ss, sl);
		if (w >= 0) {
			cr__ep_sent(ep, m);
			return 1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			return 0;
		/* ICMP errors (refused, unreachable): the datagram is lost,
		 * as it would be on the Internet */
		ep->st->udp_dropped++;
		return 1;
	}
}

int cr__ep_send_udp(struct cr__ep *ep, const cr_addr *to, struct cr_msg *m)
{
	if (CR__HDR_SIZE + m->len > UDP_MAX_FRAME)
		return -CR_EMSGSIZE;
	if (ep->shaped)
		return cr__shaper_udp_send(ep, to, m);
	return cr__udp_send_now(ep, to, m);
}

int cr__udp_send_now(struct cr__ep *ep, const cr_addr *to, struct cr_msg *m)
{
	struct cr__ring *q = m->type >= CR_MSG_DATA_MIN ? &ep->udp_data
							: &ep->udp_ctrl;

	if (!ep->udp_ctrl.len && !ep->udp_data.len && udp_sendto(ep, to, m))
		return 0;
	if (cr__udpq_push(q, to, m)) {
		ep->st->udp_dropped++;
		return 0;
	}
	udp_update_poll(ep);
	return 0;
}

static bool udpq_flush(struct cr__ep *ep, struct cr__ring *q)
{
	while (q->len) {
		struct cr__udp_out *o = cr__ring_at(q, struct cr__udp_out, 0);
		if (!udp_sendto(ep, &o->to, o->m))
			return false;
		cr_msg_release(o->m);
		cr__ring_shift(q);
	}
	return true;
}

static void udp_flush(struct cr__ep *ep)
{
	if (udpq_flush(ep, &ep->udp_ctrl))
		udpq_flush(ep, &ep->udp_data);
	udp_update_poll(ep);
}

/* --- UDP receive -------------------------------------------------------- */

static void udp_bad(struct cr__ep *ep, const char *from, const char *why)
{
	ep->st->bad_frames++;
	ep->st->bad_datagrams++;
	ep->net->bad_frames++;
	if (ep->st->bad_datagrams <= BAD_FRAME_LOGS)
		cr__ep_log(ep, CR_LOG_WARN, "bad datagram from %s: %s; dropped%s", from, why,
			 ep->st->bad_datagrams == BAD_FRAME_LOGS
				 ? " (further ones are counted, not logged)"
				 : "");
}


/* The kernel's count of datagrams it dropped at this socket, its receive
 * buffer being full, rides on each datagram read after a drop. */
static void udp_note_overflow(struct cr__ep *ep, struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		uint32_t drops;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL)
			continue;
		memcpy(&drops, CMSG_DATA(c), sizeof(drops));
		if (drops > ep->st->udp_rx_overflow)
			ep->st->udp_rx_overflow = drops;
	}
}
static void udp_read(struct cr__ep *ep)
{
	cr__pool *pool = &ep->net->pool;
	const struct cr__net_cfg *cfg = ep->net->cfg;

	for (int i = 0; i < UDP_READS_PER_WAKE && ep->alive; i++) {
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

		r = recvmsg(ep->udp_fd, &mh, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return; /* EAGAIN, or an ICMP error for an old send */
		}
		udp_note_overflow(ep, &mh);
		cr__addr_from_sockaddr(&fa, (struct sockaddr *)&ss);
		if ((size_t)r < CR__HDR_SIZE) {
			udp_bad(ep, cr_addr_format(&fa, from, sizeof(from)),
				"shorter than a header");
			continue;
		}
		cr__hdr_decode(s->data + s->fill, &h);
		if (cr__hdr_check(&h, cfg->max_msg, &why) ||
		    (why = "frame of another experiment",
		     h.exp_tag != cfg->exp_tag) ||
		    (why = "length does not match the datagram",
		     CR__HDR_SIZE + h.length != (size_t)r) ||
		    (why = "engine message over UDP",
		     h.type < CR_MSG_CONTROL_MIN)) {
			udp_bad(ep, cr_addr_format(&fa, from, sizeof(from)),
				why);
			continue;
		}
		m = cr__msg_new_frame(pool, s, s->data + s->fill, &h);
		s->fill += ((uint32_t)r + 7u) & ~7u;
		if (!m)
			return;
		cr__shaper_udp_received(ep, &fa, m);
		cr_msg_release(m);
	}
}

static void udp_cb(uv_poll_t *h, int status, int events)
{
	struct cr__ep *ep = h->data;

	if (status < 0 || !ep->alive)
		return;
	if (events & UV_READABLE)
		udp_read(ep);
	if ((events & UV_WRITABLE) && ep->alive)
		udp_flush(ep);
}

/* --- set-up ----------------------------------------------------------------- */

void cr__ep_init(struct cr__ep *ep, struct cr__net *net, const void *owner,
		 struct cr__ep_stats *st, const cr_addr *addr, uint32_t index,
		 const cr_link_limits *l)
{
	ep->net = net;
	ep->owner = owner;
	ep->st = st;
	ep->addr = *addr;
	ep->index = index;
	ep->listen_fd = ep->udp_fd = -1;
	cr__shaper_ep_init(ep, l);
}
