/* The transport interface: everything the engine asks of the network, as
 * one table of functions, so that another network can stand under the
 * same engine and the same algorithms.
 *
 * Today's implementation, cr__transport_sockets (transport.c), is real TCP
 * and UDP sockets with the user-space shaper.  An in-memory, virtual-time
 * implementation would provide the same table over the same endpoint and
 * loop objects (struct cr__ep, struct cr__net: the owner's callbacks, the
 * timers, the clock, the counters), keeping its own state beside them and
 * ignoring the socket fields; the engine would not change.  The engine
 * reaches the table through the cr__tp_* calls below, from its endpoint or
 * its loop; an indirect call per message, no more.
 */
#ifndef CRYSTAL_NET_TRANSPORT_H
#define CRYSTAL_NET_TRANSPORT_H

#include "net.h"

struct cr__transport {
	const char *name;

	/* A peer's endpoint: open (its listener and datagram socket, or
	 * whatever stands for them), close (rst: abortively, as when a host
	 * dies; what the loop still holds is let go as it turns), is it
	 * open, and is a close still under way (it may not reopen yet). */
	int (*open)(struct cr__ep *ep, char *err, size_t errlen);
	void (*close)(struct cr__ep *ep, bool rst);
	bool (*is_open)(const struct cr__ep *ep);
	bool (*closing)(const struct cr__ep *ep);

	/* Sends m to `to` (a connection is opened on the first TCP send);
	 * 0, or a negative error when it was not sent.  disconnect closes
	 * every connection with `who` (-CR_ENOTCONN when there was none). */
	int (*send)(struct cr__ep *ep, const cr_addr *to, struct cr_msg *m,
		    cr_proto proto);
	int (*disconnect)(struct cr__ep *ep, const cr_addr *who);
	/* Another host of the run was lost: closes, abortively, every
	 * connection with a peer at ip's address (any port), and reports
	 * each such remote departed once, when its last connection goes, as
	 * if the connections had broken (0, or -CR_ENOTCONN when there was
	 * none). */
	int (*drop_host)(struct cr__ep *ep, const cr_addr *ip);

	/* The emulated link: the endpoint's limits (ep->lim holds them),
	 * one connection's, and the one-way delay to a remote. */
	int (*link_set)(struct cr__ep *ep, const cr_link_limits *l);
	int (*link_set_connection)(struct cr__ep *ep, const cr_addr *to,
				   uint64_t upload_Bps, uint64_t download_Bps);
	int64_t (*link_delay)(const struct cr__ep *ep, const cr_addr *to);
	/* Bytes queued over TCP that the upload link has not yet passed (its
	 * own queue, without what only waits out the link's delay or a slow
	 * reader): what a peer paces what it sends by. */
	size_t (*upload_queued)(const struct cr__ep *ep);

	/* The loop: write what the turn queued (before the loop sleeps),
	 * close what waited too long (periodically), forget the fidelity
	 * figures so far (at the end of warm-up), free what is left (at the
	 * end).  The clock is the loop's (net->clock): a cr__clock, whose
	 * `now` a virtual-time transport would drive. */
	void (*flush)(struct cr__net *net);
	void (*sweep)(struct cr__net *net);
	void (*fid_reset)(struct cr__net *net);
	void (*ep_fid_reset)(struct cr__ep *ep);
	void (*ep_summary)(struct cr__ep *ep); /* a line on its limits */
	void (*free)(struct cr__net *net);
};

/* Real sockets and the shaper. */
extern const struct cr__transport cr__transport_sockets;

static inline int cr__tp_open(struct cr__ep *ep, char *err, size_t errlen)
{
	return ep->net->tp->open(ep, err, errlen);
}

static inline void cr__tp_close(struct cr__ep *ep, bool rst)
{
	ep->net->tp->close(ep, rst);
}

static inline bool cr__tp_is_open(const struct cr__ep *ep)
{
	return ep->net->tp->is_open(ep);
}

static inline bool cr__tp_closing(const struct cr__ep *ep)
{
	return ep->net->tp->closing(ep);
}

static inline int cr__tp_send(struct cr__ep *ep, const cr_addr *to,
			      struct cr_msg *m, cr_proto proto)
{
	return ep->net->tp->send(ep, to, m, proto);
}

static inline int cr__tp_disconnect(struct cr__ep *ep, const cr_addr *who)
{
	return ep->net->tp->disconnect(ep, who);
}

static inline int cr__tp_drop_host(struct cr__ep *ep, const cr_addr *ip)
{
	return ep->net->tp->drop_host(ep, ip);
}

static inline int cr__tp_link_set(struct cr__ep *ep, const cr_link_limits *l)
{
	return ep->net->tp->link_set(ep, l);
}

static inline int cr__tp_link_set_connection(struct cr__ep *ep,
					     const cr_addr *to,
					     uint64_t upload_Bps,
					     uint64_t download_Bps)
{
	return ep->net->tp->link_set_connection(ep, to, upload_Bps,
						download_Bps);
}

static inline size_t cr__tp_upload_queued(const struct cr__ep *ep)
{
	return ep->net->tp->upload_queued(ep);
}

static inline void cr__tp_flush(struct cr__net *net)
{
	net->tp->flush(net);
}

static inline void cr__tp_sweep(struct cr__net *net)
{
	net->tp->sweep(net);
}

static inline void cr__tp_fid_reset(struct cr__net *net)
{
	net->tp->fid_reset(net);
}

static inline void cr__tp_ep_fid_reset(struct cr__ep *ep)
{
	ep->net->tp->ep_fid_reset(ep);
}

static inline void cr__tp_ep_summary(struct cr__ep *ep)
{
	ep->net->tp->ep_summary(ep);
}

static inline void cr__tp_free(struct cr__net *net)
{
	net->tp->free(net);
}

#endif
