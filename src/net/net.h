/* The network layer as the engine sees it: connections, UDP sockets and
 * the link emulation of a peer's endpoint, and the loop they run on.
 *
 * Net sits below the engine and knows nothing of peers, workers or nodes.
 * A worker embeds a struct cr__net (its event loop, timers, message pool,
 * connection table, flush list and the emulation's fidelity counters); a
 * peer embeds a struct cr__ep (its sockets, connections and shaping
 * state).  Net reports upward only through the owner's callbacks, the ops
 * table below, the way libuv's streams call read_cb: a frame arrived, a
 * message left the link, the last connection to a remote ended, the
 * backlog crossed its limit, a line for the log.  What it needs of the
 * node (limits, the experiment's id, link delays) comes in a struct
 * cr__net_cfg that the engine fills.
 *
 * The engine calls the network through the transport interface
 * (transport.h).  Layouts and functions that only net uses (struct
 * cr__conn, the UDP delay heap) are in net-int.h.
 */
#ifndef CRYSTAL_NET_NET_H
#define CRYSTAL_NET_NET_H

#include "../core/addr.h"
#include "../core/clock.h"
#include "../core/hist.h"
#include "../core/msg.h"
#include "../core/ring.h"
#include "../core/timers.h"
#include "../core/wire.h"
#include "bounds.h"
#include <crystal/random.h>

#include <stdarg.h>
#include <stdatomic.h>
#include <uv.h>

/* Connections' readiness through an epoll set of the loop's own,
 * edge-triggered (ready.c); elsewhere, a libuv poll handle each. */
#if defined(__linux__) && !defined(CR_NET_UV_POLL)
#define CR__NET_EPOLL 1
#else
#define CR__NET_EPOLL 0
#endif

struct cr__net;
struct cr__ep;
struct cr__conn;
struct cr__udp_heap;
struct cr__transport;

/* How far a sending bucket may catch up after a late wake-up, so that
 * lateness costs no rate.  A message never starts before it was queued,
 * so a long silence earns no burst.  Receiving has no queue time to go by:
 * there a bucket idle longer than CR__SHAPE_RX_CATCHUP earns nothing. */
#define CR__SHAPE_CATCHUP (100 * CR_MS)
#define CR__SHAPE_RX_CATCHUP (2 * CR_MS)
/* Received datagrams that may wait for the download limit. */
#define CR__UDP_RX_QUEUE 256u

/* A rate limit as a next-free time: passing n bytes at rate b moves it on
 * by n/b.  Rate 0 is unlimited. */
struct cr__bucket {
	uint64_t rate_Bps;
	int64_t next_ns;
};

struct cr__udp_out {
	struct cr_msg *m;
	cr_addr to;
	int64_t queued_ns;
};

/* The owner's callbacks.  ep is the endpoint the event belongs to; the
 * owner finds itself from it (cr__container_of). */
struct cr__net_ops {
	/* A frame arrived (TCP, or UDP through the download limits). */
	void (*frame)(struct cr__ep *ep, const cr_addr *from,
		      struct cr_msg *m);
	/* A message left the link: written whole, or sent as a datagram. */
	void (*sent)(struct cr__ep *ep, const struct cr_msg *m);
	/* The last connection with `who` ended. */
	void (*departed)(struct cr__ep *ep, const cr_addr *who);
	/* The endpoint's backlog crossed the queue limit (full) or fell below
	 * half of it on every connection (!full). */
	void (*backlog)(struct cr__ep *ep, bool full);
	/* A line for the log, at `level`; the owner filters it. */
	void (*log)(const struct cr__ep *ep, int level, const char *fmt,
		    va_list ap);
	/* A timer earlier than net->armed_ns was added: wake up for it. */
	void (*rearm)(struct cr__net *net);
};

/* What net needs of the node, filled by the engine before any endpoint
 * opens and read by every worker. */
struct cr__net_cfg {
	uint64_t exp_id;	  /* sent in the hello, checked in the remote's */
	uint16_t exp_tag;	  /* every frame's header carries it */
	uint64_t seed;		  /* jitter and loss */
	uint32_t max_msg;	  /* the largest payload accepted */
	size_t queue_limit;	  /* per connection (back-pressure) */
	int64_t hello_timeout_ns; /* 0: CR__HELLO_TIMEOUT */
	uint32_t max_conns;	  /* incoming, per endpoint; 0: no cap */
	int64_t idle_timeout_ns, frame_timeout_ns; /* 0: none */
	uint64_t partial_limit;
	/* bytes of unfinished frames held by all workers, and the most */
	_Atomic uint64_t partial_bytes, partial_peak;
	/* The delay of the link from -> to as the node knows it: true with
	 * a latency matrix's entry, else false with the far end's access
	 * delay (0 for an address outside the experiment). */
	bool (*link_delay)(const void *ctx, const cr_addr *from,
			   const cr_addr *to, int64_t *delay_ns);
	const void *delay_ctx;
};

/* A worker's network: the loop, and what its connections share. */
struct cr__net {
	uv_loop_t loop;
	cr__timers timers;
	cr__pool pool;
	const cr__clock *clock;
	struct cr__net_cfg *cfg;
	const struct cr__net_ops *ops;
	const struct cr__transport *tp; /* what runs on it (transport.h) */
	int64_t armed_ns; /* the earliest deadline the wake-up is set for */
	int64_t batch_ns; /* releases due this soon leave in one wake-up */
	bool in_send;	  /* inside a send: no callbacks that may close */
	/* a libuv poll handle was started or stopped: libuv applies it at
	 * its next poll, which must come before the worker sleeps */
	bool uv_changed;

	/* (endpoint, remote) -> connection */
	struct cr__conn **map;
	size_t map_cap, map_len;
	struct cr__conn *dirty; /* to flush before the loop sleeps */
#if CR__NET_EPOLL
	/* readiness (ready.c): the connections' epoll set and its handle;
	 * connections to read before the loop polls, and an idle handle that
	 * keeps it from sleeping meanwhile; closed ones to free */
	bool rd_open;
	int rd_fd;
	uv_poll_t rd_poll;
	uv_idle_t rd_idle;
	struct cr__conn *ready, *grave;
#endif

	/* connections waiting on the clock (idle after the hello, or with a
	 * frame unfinished), swept by cr__conn_sweep; and the bytes of
	 * unfinished frames its connections hold, at most partial_share (its
	 * part of the node's budget; 0: no limit) */
	struct cr__conn *watch, *watch_tail;
	uint64_t partial_bytes, partial_share;
	uint64_t partial_published; /* as added to the node's count */
	uint64_t bad_frames;
	uint64_t conns_accepted;

	/* link emulation fidelity */
	struct cr__hist late; /* how late stamped frames were written */
	/* ... and how many later than the fidelity threshold, exactly (the
	 * histogram's quantiles are only within 12.5%) */
	uint64_t late_over, rx_late_over;
	/* the last stretch its worker was held off its core by other work
	 * (worker.c), and how many of the late above were due within such a
	 * stretch */
	int64_t held_from, held_to;
	uint64_t late_held, rx_late_held;
	struct cr__hist rx_late; /* how late reading resumed after a download
				  * bucket's wait */
	struct cr__hist queueing; /* how long frames waited for their link:
				   * to begin transmission, and for a full
				   * socket that the receiver did not read */
	uint64_t frames_after_full; /* written once a full socket drained */
	uint64_t shaped_writes; /* system calls that wrote stamped frames */
	int64_t early_max;	/* the earliest a frame was written, ns */
	/* per-link rate fidelity, folded in as links close */
	uint64_t fid_links;
	double fid_err_sum, fid_err_worst;
	uint64_t fid_worst_rate;
	char fid_worst_link[2 * CR_ADDR_STRLEN + 8];
	uint64_t fid_rx_links;	 /* download sides long enough to judge */
	double fid_rx_err_sum, fid_rx_err_worst;
	uint64_t fid_rx_worst_rate;
	char fid_rx_worst_link[2 * CR_ADDR_STRLEN + 8];
	double fid_late_worst_ns; /* the worst link's mean added delay */
	char fid_late_worst_link[2 * CR_ADDR_STRLEN + 8];
};

/* A peer's endpoint: its TCP listener and UDP socket, its connections,
 * and its side of the link emulation. */
struct cr__ep {
	struct cr__net *net;
	const void *owner; /* its timers' owner (cr__timers_cancel_owner) */
	struct cr__ep_stats *st;
	cr_addr addr;
	uint32_t index;	 /* the peer's, for hashing and the RNG's seed */
	bool alive;	 /* takes traffic: false, and events are ignored */
	bool uncapped;	 /* no cap on its connections (the tracker) */
	bool rx_paused;	 /* a connection of it is over the queue limit */

	int listen_fd;
	uv_poll_t listen_poll;
	bool listen_paused;
	int udp_fd;
	uv_poll_t udp_poll;
	int udp_events;
	struct cr__ring udp_ctrl, udp_data; /* of struct cr__udp_out */
	int handles_open; /* uv handles not yet closed */

	size_t out_bytes; /* queued on all TCP connections */
	size_t up_bytes;  /* of them, not yet through the upload buckets */
	uint32_t nfull;	  /* connections over the queue limit */
	struct cr__conn *conns; /* list through peer_next */
	uint32_t nconns;
	/* connections that found it not reading (rx_paused) when they became
	 * readable: only these are restarted when it resumes */
	struct cr__conn *paused_conns;

	/* link emulation (see shaper.c) */
	cr_link_limits lim;
	bool shaped;		  /* any limit, delay or loss */
	struct cr__bucket up, down, total;
	struct cr__conn *rr;	  /* connections with unstamped messages */
	struct cr__ring udp_wait; /* datagrams not yet through the buckets */
	bool udp_turn;		  /* round robin: UDP goes next */
	uint64_t pump_timer;
	int64_t pump_at;
	struct cr__udp_heap *udp_heap; /* datagrams in flight (delay) */
	struct cr__ring udp_rx;	  /* received datagrams waiting for download */
	uint64_t udp_rx_timer;
	int64_t udp_rx_due;
	cr_rand rng;
};

/* Schedules work on the loop's timers; asks the owner to rearm its
 * wake-up when the deadline is the earliest. */
uint64_t cr__net_timer(struct cr__net *net, int64_t due_ns, int64_t period_ns,
		       cr__timer_fn fn, void *ctx, void *arg,
		       const void *owner);
/* Sets up an endpoint of `owner` on net, closed, with these limits. */
void cr__ep_init(struct cr__ep *ep, struct cr__net *net, const void *owner,
		 struct cr__ep_stats *st, const cr_addr *addr, uint32_t index,
		 const cr_link_limits *l);

#endif
