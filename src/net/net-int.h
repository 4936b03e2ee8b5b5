/* Net's own: the layout of a connection and the functions its files share
 * (conn.c, conn-rx.c, conn-limits.c, loop.c, shaper.c, sock.c,
 * transport.c).  The engine sees only net.h and transport.h.
 */
#ifndef CRYSTAL_NET_NET_INT_H
#define CRYSTAL_NET_NET_INT_H

#include "net.h"

enum cr__conn_state {
	CR__CONNECTING, /* outgoing, connect() in progress */
	CR__AWAIT_HELLO, /* incoming, the remote has not said who it is */
	CR__OPEN,
	CR__CLOSED,
};

struct cr__qent {
	struct cr_msg *m;
	/* not before (link emulation); 0 when unshaped; on a shaped
	 * connection, until the message is stamped: when it was queued */
	int64_t release_ns;
};

/* Per-link fidelity, kept by the sender: the intended schedule (first to
 * last release) against what happened (first to last write). */
struct cr__link_fid {
	int64_t first_release_ns, first_write_ns;
	int64_t last_release_ns, last_write_ns;
	uint64_t bytes, msgs;
	uint64_t rate_Bps; /* tightest configured rate seen on the link */
	double late_sum_ns; /* lateness of its on-time-able writes */
	/* receiving: the download buckets' waits, and the time lost when
	 * reading resumed later than the buckets could catch up */
	int64_t rx_first_wait_ns, rx_last_wait_ns, rx_lost_ns;
	uint64_t rx_waits;
	uint64_t rx_rate_Bps; /* tightest download rate seen */
};

struct cr__conn {
#if !CR__NET_EPOLL
	uv_poll_t poll;
	int poll_events;
#endif
	int fd;
	uint8_t state;
	bool outgoing;
	bool in_map;	 /* registered under (ep, remote) */
	bool dirty;	 /* in the loop's flush list */
	bool hello_in;	 /* the remote's hello arrived */
	bool goodbye;	 /* the remote said goodbye before closing */
	bool want_write; /* the socket was full: wait until writable */
	bool full;	 /* queue over the limit (until below half of it) */
	int broken;	 /* a write failed inside cr_send (errno): close soon */
	/* readiness (ready.c): its socket has bytes not read yet; on the
	 * loop's ready list; the list of closed ones to free; the remote's
	 * end was announced (read until read says so) */
	bool rd_ready, in_ready, rd_hup;
	struct cr__conn *ready_next, *grave_next;
	struct cr__net *net;
	struct cr__ep *ep;
	cr_addr remote; /* remote peer (after hello, or the connect target) */
	char remote_text[CR_ADDR_STRLEN]; /* socket address, for logs */

	/* outgoing queue: a ring of message references (struct cr__qent) */
	struct cr__ring q;
	uint32_t head_off; /* bytes of the head frame already written */
	size_t q_bytes;
	size_t q_unstamped; /* of q_bytes, not yet through the buckets */

	/* incoming: rx_len bytes of a partial frame, at rx_off in rx_slab while
	 * reading, or parked in `park` between wake-ups (so that an idle
	 * connection does not pin a whole receive slab) */
	struct cr__slab *rx_slab;
	uint32_t rx_off, rx_len;
	uint8_t *park;
	uint32_t park_cap;

	struct cr__conn *next_dirty;
	struct cr__conn *map_next;
	struct cr__conn *peer_prev, *peer_next;
	uint64_t bytes_in, bytes_out;
	uint64_t hello_timer; /* incoming: closes it if no hello comes */
	uint64_t frames_in;   /* whole frames received, the hello included */

	/* back-pressure: its endpoint stopped reading while it was readable, so
	 * it withdrew its own interest in reading and waits in the endpoint's
	 * list of paused connections until the endpoint resumes */
	bool paused;
	struct cr__conn *pause_prev, *pause_next;

	/* the loop's watch (see cr__conn_sweep): an incoming connection
	 * that has sent nothing since its hello, or one with a frame begun
	 * and not finished, waits on the clock; wait_mark says what it was
	 * waiting for when wait_since was taken */
	bool watched;
	struct cr__conn *watch_prev, *watch_next;
	uint64_t wait_mark;
	int64_t wait_since; /* 0: not seen by a sweep yet */
	uint32_t partial; /* bytes of its unfinished frame, as counted */

	/* link emulation (see shaper.c) */
	struct cr__bucket up, down; /* this connection's own limits */
	int64_t delay_ns;	     /* one-way delay of the link */
	int64_t last_release_ns;    /* releases never go backwards */
	uint32_t nstamped;	     /* queue entries with release times */
	uint64_t tx_timer;	     /* wakes the flush at the next release */
	int64_t tx_at;
	uint64_t rx_timer;	     /* resumes reading when buckets allow */
	int64_t rx_due;		     /* ... at this time */
	bool rx_blocked;	     /* a download bucket said wait */
	bool backlogged;	     /* in the endpoint's round robin */
	struct cr__conn *rr_next, *rr_prev;
	struct cr__link_fid fid;
};

/* --- what the sockets transport binds (transport.c) ------------------------ */

/* Writes out every connection given messages since the last call, and
 * frees those that closed meanwhile. */
void cr__net_flush(struct cr__net *net);
/* Frees the connection table (the connections are gone by then). */
void cr__net_free(struct cr__net *net);
/* Forget the fidelity figures so far (at the end of warm-up): the loop's,
 * and those of an endpoint's links. */
void cr__net_fid_reset(struct cr__net *net);
void cr__ep_fid_reset(struct cr__ep *ep);

/* --- endpoints (sock.c, shaper.c) ------------------------------------------ */

/* Opens its listener and UDP socket; err says why not. */
int cr__ep_open(struct cr__ep *ep, char *err, size_t errlen);
/* Closes its connections (rst: abortively, as when a host dies), its
 * sockets and its queues; the uv handles close with the loop's next turn
 * (handles_open counts them down). */
void cr__ep_close(struct cr__ep *ep, bool rst);
/* Sends m to `to` over TCP (opening the connection if there is none) or
 * UDP.  0, or a negative error: not sent. */
int cr__ep_send_tcp(struct cr__ep *ep, const cr_addr *to, struct cr_msg *m);
int cr__ep_send_udp(struct cr__ep *ep, const cr_addr *to, struct cr_msg *m);
/* Closes every connection with `who`; -CR_ENOTCONN when there was none. */
int cr__ep_disconnect(struct cr__ep *ep, const cr_addr *who);
int cr__ep_drop_host(struct cr__ep *ep, const cr_addr *ip);
/* The link limits (cr_link_set and cr_link_set_connection). */
int cr__ep_link_set(struct cr__ep *ep, const cr_link_limits *l);
int cr__ep_link_set_connection(struct cr__ep *ep, const cr_addr *to,
			       uint64_t upload_Bps, uint64_t download_Bps);
/* At the end of the run: one line for an endpoint whose limits closed
 * more connections than were logged. */
void cr__limit_summary(struct cr__ep *ep);
/* Closes the loop's connections that waited too long (the idle and frame
 * times); the owner calls it periodically. */
void cr__conn_sweep(struct cr__net *net);

/* The entry i places from the head of c's queue. */
static inline struct cr__qent *cr__qent_at(const struct cr__conn *c,
					   uint32_t i)
{
	return cr__ring_at(&c->q, struct cr__qent, i);
}

/* --- the owner's callbacks ------------------------------------------------ */

static inline void cr__ep_frame(struct cr__ep *ep, const cr_addr *from,
				struct cr_msg *m)
{
	ep->net->ops->frame(ep, from, m);
}

static inline void cr__ep_sent(struct cr__ep *ep, const struct cr_msg *m)
{
	ep->net->ops->sent(ep, m);
}

static inline void cr__ep_departed(struct cr__ep *ep, const cr_addr *who)
{
	ep->net->ops->departed(ep, who);
}

void cr__ep_log(const struct cr__ep *ep, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline int64_t cr__net_now(const struct cr__net *net)
{
	return cr__clock_now(net->clock);
}

/* --- the loop (loop.c) ---------------------------------------------------- */

/* A libuv poll handle's interest changes (noted: net->uv_changed). */
static inline int cr__poll_start(struct cr__net *net, uv_poll_t *h, int ev,
				 uv_poll_cb cb)
{
	net->uv_changed = true;
	return uv_poll_start(h, ev, cb);
}

static inline int cr__poll_stop(struct cr__net *net, uv_poll_t *h)
{
	net->uv_changed = true;
	return uv_poll_stop(h);
}

void cr__net_mark_dirty(struct cr__conn *c);
void cr__net_map_add(struct cr__net *net, struct cr__conn *c);
void cr__net_map_del(struct cr__net *net, struct cr__conn *c);
struct cr__conn *cr__conn_find(struct cr__net *net, const struct cr__ep *ep,
			       const cr_addr *remote);

/* --- connections (conn.c, conn-rx.c, conn-limits.c) ------------------------ */

int cr__conn_connect(struct cr__ep *ep, const cr_addr *to,
		     struct cr__conn **out);
void cr__conn_accept(struct cr__ep *ep);
int cr__conn_enqueue(struct cr__conn *c, struct cr_msg *m);
/* Writes what is queued, as far as the socket takes it. */
void cr__conn_flush(struct cr__conn *c);
/* Ends a connection.  notify: report the departure if it was the last
 * one to that remote.  rst: abortive close (RST, as when a host dies). */
void cr__conn_close(struct cr__conn *c, bool notify, bool rst,
		    const char *why);
/* Its socket can be written: a connect completed, or it drained. */
void cr__conn_writable(struct cr__conn *c);

/* readiness (ready.c) */
/* Begins watching a new connection's socket: 0, or a negative error. */
int cr__rd_watch(struct cr__conn *c);
/* Stops watching a connection that closes. */
void cr__rd_forget(struct cr__conn *c);
/* Frees a closed connection, and closes its descriptor, once nothing of
 * this turn of the loop can refer to it. */
void cr__conn_release(struct cr__conn *c);
/* Watches for what the connection waits for now: reads it soon if it may
 * and its socket has bytes. */
void cr__conn_update_poll(struct cr__conn *c);
/* Before the loop polls: reads the connections left ready, and frees the
 * closed ones that no list can hold any more. */
void cr__rd_run(struct cr__net *net);
/* At the end: frees what is left, and the epoll set. */
void cr__rd_free(struct cr__net *net);
/* The endpoint's or the connection's reading state changed: update the
 * poll. */
void cr__conn_reading_changed(struct cr__conn *c);
/* Takes c off its endpoint's list of paused connections. */
void cr__pause_unlink(struct cr__conn *c);
/* The queue of c grew past the limit or shrank: back-pressure follows. */
void cr__conn_queue_changed(struct cr__conn *c);
/* Its socket is readable: read, decode and hand frames up. */
void cr__conn_read(struct cr__conn *c);
/* Is the connection being read now? */
bool cr__conn_reading(const struct cr__conn *c);
/* The hello of the remote (decoded header h, payload) on c: false when
 * it closed c. */
bool cr__conn_hello(struct cr__conn *c, const struct cr__hdr *h,
		    const uint8_t *payload);
void cr__conn_log(struct cr__conn *c, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* limits (conn-limits.c) */
void cr__watch_add(struct cr__conn *c);
void cr__watch_del(struct cr__conn *c);
/* Counts c's unfinished frame against the loop's share of the node's
 * budget; over it, the largest goes.  False when that closed c itself. */
bool cr__partial_count(struct cr__conn *c);
/* c closes: its unfinished frame no longer counts. */
void cr__partial_drop(struct cr__conn *c);
/* A limit closed or refused a connection of ep: counted, and the message
 * (which names the remote) logged the first time for this endpoint. */
void cr__limit_hit(struct cr__ep *ep, enum cr__limit k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* --- sockets (sock.c) ------------------------------------------------------ */

/* Sends (or queues on a full socket) without link emulation. */
int cr__udp_send_now(struct cr__ep *ep, const cr_addr *to, struct cr_msg *m);
int cr__udpq_push(struct cr__ring *q, const cr_addr *to, struct cr_msg *m);
void cr__udpq_drop(struct cr__ring *q);

/* --- link emulation (shaper.c) ---------------------------------------------- */

void cr__shaper_ep_init(struct cr__ep *ep, const cr_link_limits *l);
bool cr__conn_shaped(const struct cr__conn *c);
void cr__shaper_conn_init(struct cr__conn *c);
void cr__shaper_arm_tx(struct cr__conn *c, int64_t at);
/* A message was appended to a shaped connection's queue. */
void cr__shaper_enqueue(struct cr__conn *c);
/* An outgoing connection is up: its messages may now take their turns. */
void cr__shaper_connected(struct cr__conn *c);
/* The connection ends: leave the round robin, stop its timers. */
void cr__shaper_conn_close(struct cr__conn *c);
/* Record a completed write of a stamped frame; after_full: the socket had
 * been full (the receiver did not read), so its wait was queueing, not the
 * emulation's lateness. */
void cr__shaper_written(struct cr__conn *c, const struct cr__qent *e,
			uint32_t bytes, int64_t now, bool after_full);
/* Bytes the connection may read now (0: blocked; rx timer armed). */
uint32_t cr__shaper_rx_allow(struct cr__conn *c, int64_t now);
void cr__shaper_rx_took(struct cr__conn *c, uint32_t n, int64_t now);
/* UDP through the shaper. */
int cr__shaper_udp_send(struct cr__ep *ep, const cr_addr *to,
			struct cr_msg *m);
void cr__shaper_udp_received(struct cr__ep *ep, const cr_addr *from,
			     struct cr_msg *m);
void cr__shaper_ep_close(struct cr__ep *ep);
int64_t cr__link_delay(const struct cr__ep *ep, const cr_addr *to);
size_t cr__shaper_upload_queued(const struct cr__ep *ep);

#endif
