/* Internals shared between Crystal's source files (prefix cr__).
 *
 * Layers, bottom up: core (clock, timers, message buffers, log), net (wire
 * format, TCP connections, UDP), engine (workers, peers, sources, node).
 * Nothing here is visible to an algorithm; it sees only include/crystal/.
 */
#ifndef CRYSTAL_INTERNAL_H
#define CRYSTAL_INTERNAL_H

#include <crystal/crystal.h>
#include <crystal/link.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#define CR__UNUSED(x) (void)(x)
#define cr__container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct cr__worker;
struct cr__node;
struct cr__conn;
struct cr__udp_heap;
struct cr_node_event;

/* --- core: clock ---------------------------------------------------------- */

/* The one source of time.  Real mode reads CLOCK_MONOTONIC minus the
 * experiment's origin; a virtual-time mode can plug in through `now`. */
typedef struct cr__clock {
	int64_t (*now)(const struct cr__clock *c);
	int64_t origin_ns; /* monotonic time of experiment time 0 */
} cr__clock;

int64_t cr__mono_ns(void);
void cr__clock_init_real(cr__clock *c);
static inline int64_t cr__clock_now(const cr__clock *c)
{
	return c->now(c);
}

/* --- core: histograms ------------------------------------------------------ */

#define CR__HIST_BUCKETS 496 /* 8 per power of two, up to 2^63 ns */

struct cr__hist {
	uint64_t count[CR__HIST_BUCKETS];
	uint64_t n;
	double sum;
	int64_t max;
};

void cr__hist_add(struct cr__hist *h, int64_t v);
void cr__hist_merge(struct cr__hist *into, const struct cr__hist *from);
/* Upper bound of the q-quantile (0..1), within 12.5%, never above max. */
int64_t cr__hist_quantile(const struct cr__hist *h, double q);
double cr__hist_mean(const struct cr__hist *h);
void cr__hist_reset(struct cr__hist *h);
/* What was added to `now` since it was `mark` (max: now's, a bound). */
void cr__hist_since(struct cr__hist *out, const struct cr__hist *now,
		    const struct cr__hist *mark);

/* --- core: timers ---------------------------------------------------------- */

/* A heap of timers with nanosecond deadlines, per worker.  Ties fire in the
 * order they were added.  Ids carry a generation, so stale ids are safe. */
typedef void (*cr__timer_fn)(void *ctx, void *arg);

struct cr__tslot {
	int64_t due_ns;
	int64_t period_ns;
	uint64_t seq;
	cr__timer_fn fn;
	cr_timer_cb ucb; /* an algorithm's timer: ucb(ctx as peer, arg) */
	void *ctx;
	void *arg;
	const void *owner; /* for cancelling all of a peer's timers */
	uint32_t gen;
	uint32_t heap_idx; /* UINT32_MAX when free */
};

typedef struct cr__timers {
	struct cr__tslot *slots;
	uint32_t nslots, cap;
	uint32_t *heap; /* slot indices */
	uint32_t nheap;
	uint32_t free_head; /* UINT32_MAX when none */
	uint64_t seq;
	/* how late fired timers ran (ns), for fidelity reports */
	struct cr__hist lag;
} cr__timers;

void cr__timers_init(cr__timers *t);
void cr__timers_free(cr__timers *t);
/* Returns an id (never 0) or 0 when out of memory. */
uint64_t cr__timer_add(cr__timers *t, int64_t due_ns, int64_t period_ns,
		       cr__timer_fn fn, void *ctx, void *arg,
		       const void *owner);
uint64_t cr__timer_add_user(cr__timers *t, int64_t due_ns, int64_t period_ns,
			    cr_timer_cb cb, struct cr_peer *p, void *arg);
int cr__timer_cancel(cr__timers *t, uint64_t id);
void cr__timers_cancel_owner(cr__timers *t, const void *owner);
/* Earliest deadline, or INT64_MAX when there is none. */
int64_t cr__timers_next(const cr__timers *t);
/* Runs every timer due at `now`; returns how many ran. */
int cr__timers_run(cr__timers *t, const cr__clock *c);

/* --- core: log ---------------------------------------------------------- */

typedef struct cr__log {
	pthread_mutex_t lock;
	int fd;	   /* -1: stderr only for errors */
	int level; /* lines above this level are dropped */
	char *buf;
	size_t len, cap;
	const cr__clock *clock;
	bool echo_stderr; /* also print warnings and errors to stderr */
} cr__log;

int cr__log_open(cr__log *l, const char *path, int level,
		 const cr__clock *clock);
void cr__log_close(cr__log *l);
void cr__log_write(cr__log *l, int level, const cr_addr *who,
		   const char *fmt, va_list ap);
void cr__logf(cr__log *l, int level, const cr_addr *who, const char *fmt,
	      ...) __attribute__((format(printf, 4, 5)));
void cr__log_flush(cr__log *l);
/* Async-signal-safe best effort for fatal signals: writes what is
 * buffered in every open log. */
void cr__log_crash_flush(void);
/* Installs handlers for fatal signals that flush the logs, then die. */
void cr__log_install_crash_handler(void);
const char *cr__log_level_name(int level);
int cr__log_level_parse(const char *s);

/* --- core: message buffers ------------------------------------------------- */

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

/* --- net: wire format ------------------------------------------------------ */

/* Every frame starts with this 40-byte header, in network byte order:
 *   0  magic     u16  0x4352 ("CR")
 *   2  version   u8   1
 *   3  type      u8   0..15 engine, 16..127 control, 128..255 data
 *   4  flags     u8
 *   5  family    u8   4 or 6: the source peer's address family
 *   6  session   u16
 *   8  length    u32  payload bytes
 *   12 src_port  u16  source peer's port
 *   14 exp_tag   u16  the experiment id's four 16-bit words XORed
 *   16 created   i64  creation time, experiment ns
 *   24 src_ip    16 bytes
 */
#define CR__HDR_SIZE 40
#define CR__MAGIC 0x4352
#define CR__VERSION 1

enum cr__type {
	CR__T_HELLO = 1,
	CR__T_GOODBYE = 2,
	CR__T_TRACKER_REGISTER = 3,
	CR__T_TRACKER_PEERS = 4,
	CR__T_TRACKER_REPORT = 5,
	CR__T_TRACKER_PROBE = 6,
	CR__T_TRACKER_QUERY = 7,
};

struct cr__hdr {
	uint8_t version;
	uint8_t type;
	uint8_t flags;
	uint8_t family;
	uint16_t magic;
	uint16_t session;
	uint32_t length;
	uint16_t src_port;
	uint16_t exp_tag;
	int64_t created_ns;
	uint8_t src_ip[16];
};

void cr__hdr_encode(uint8_t *out, const struct cr__hdr *h);
void cr__hdr_decode(const uint8_t *in, struct cr__hdr *h);
/* 0 when the header is acceptable; else -CR_EPROTO with a reason. */
int cr__hdr_check(const struct cr__hdr *h, uint32_t max_len,
		  const char **reason);
bool cr__type_known(uint8_t type);

/* Hello payload: experiment id (u64). */
#define CR__HELLO_LEN 8

/* --- net: connections ------------------------------------------------------ */

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

/* A rate limit as a next-free time: passing n bytes at rate b moves it on
 * by n/b.  Rate 0 is unlimited. */
struct cr__bucket {
	uint64_t rate_Bps;
	int64_t next_ns;
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
	uv_poll_t poll;
	int fd;
	uint8_t state;
	bool outgoing;
	bool in_map;	 /* registered under (peer, remote) */
	bool dirty;	 /* in the worker's flush list */
	bool hello_in;	 /* the remote's hello arrived */
	bool goodbye;	 /* the remote said goodbye before closing */
	bool want_write; /* the socket was full: wait until writable */
	bool full;	 /* queue over the limit (until below half of it) */
	int broken;	 /* a write failed inside cr_send (errno): close soon */
	int poll_events;
	struct cr__worker *w;
	struct cr_peer *peer;
	cr_addr remote; /* remote peer (after hello, or the connect target) */
	char remote_text[CR_ADDR_STRLEN]; /* socket address, for logs */

	/* outgoing queue: a ring of message references */
	struct cr__qent *q;
	uint32_t qcap, qhead, qlen;
	uint32_t head_off; /* bytes of the head frame already written */
	size_t q_bytes;

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

	/* back-pressure: its peer stopped reading while it was readable, so
	 * it withdrew its own interest in reading and waits in the peer's
	 * list of paused connections until the peer resumes */
	bool paused;
	struct cr__conn *pause_prev, *pause_next;

	/* the worker's watch (see cr__conn_sweep): an incoming connection
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
	bool backlogged;	     /* in the peer's round robin */
	struct cr__conn *rr_next, *rr_prev;
	struct cr__link_fid fid;
};

/* An incoming connection that has not said hello by then is closed. */
#define CR__HELLO_TIMEOUT (10 * CR_SEC)

/* The limits on what a remote may make a peer hold (docs/wire-format.md,
 * Limits); each is counted per peer, and logged at its first occurrence. */
enum cr__limit {
	CR__LIMIT_CONNS,   /* an incoming connection over the peer's cap */
	CR__LIMIT_IDLE,	   /* nothing after the hello within the idle time */
	CR__LIMIT_FRAME,   /* a frame begun and not finished in time */
	CR__LIMIT_PARTIAL, /* the node's bytes of unfinished frames */
	CR__LIMIT_N
};
/* The base of the automatic idle and frame times (cr_node_config). */
#define CR__WAIT_BASE (30 * CR_SEC)
/* The node's budget for bytes of unfinished frames, by default. */
#define CR__DEFAULT_PARTIAL_LIMIT (256ull << 20)

int cr__conn_connect(struct cr_peer *p, const cr_addr *to,
		     struct cr__conn **out);
void cr__conn_accept(struct cr_peer *p);
int cr__conn_enqueue(struct cr__conn *c, struct cr_msg *m);
/* Writes what is queued, as far as the socket takes it. */
void cr__conn_flush(struct cr__conn *c);
/* Ends a connection.  notify: call peer_departed if it was the last one to
 * that remote.  rst: abortive close (RST, as when a host dies). */
void cr__conn_close(struct cr__conn *c, bool notify, bool rst,
		    const char *why);
/* The peer's or the connection's reading state changed: update the poll. */
void cr__conn_reading_changed(struct cr__conn *c);
/* The peer reads its inputs again: its paused connections resume. */
void cr__conn_resume_paused(struct cr_peer *p);
/* Closes the worker's connections that waited too long (the idle and
 * frame times); called by the worker's periodic sweep. */
void cr__conn_sweep(struct cr__worker *w);
/* A limit closed or refused a connection of p: counted, and the message
 * (which names the remote) logged the first time for this peer. */
void cr__limit_hit(struct cr_peer *p, enum cr__limit k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* At the end of the run: one line for a peer whose limits closed more
 * connections than were logged. */
void cr__limit_summary(struct cr_peer *p);
/* Frees a closed connection (after its handle is closed). */
void cr__conn_release(struct cr__conn *c);
struct cr__conn *cr__conn_find(struct cr__worker *w, const struct cr_peer *p,
			       const cr_addr *remote);

/* --- net: sockets ---------------------------------------------------------- */

int cr__sockaddr_from(const cr_addr *a, struct sockaddr_storage *ss,
		      socklen_t *len);
void cr__addr_from_sockaddr(cr_addr *a, const struct sockaddr *sa);
/* Whether a peer could bind a here, by a trial bind(): 0, or the errno
 * that says it never can (EADDRNOTAVAIL: no interface has the IP;
 * EAFNOSUPPORT: the host has no IPv6; EACCES: a port the process may not
 * bind).  Anything else is 0, a port in use too: that may pass, and the
 * run says so when it binds. */
int cr__addr_bindable(const cr_addr *a);
int cr__peer_open_sockets(struct cr_peer *p, char *err, size_t errlen);
void cr__peer_close_sockets(struct cr_peer *p, bool rst);
int cr__udp_send(struct cr_peer *p, const cr_addr *to, struct cr_msg *m);
/* Sends (or queues on a full socket) without link emulation. */
int cr__udp_send_now(struct cr_peer *p, const cr_addr *to, struct cr_msg *m);
void cr__udp_flush(struct cr_peer *p);
struct cr__udpq;
int cr__udpq_push(struct cr__udpq *q, const cr_addr *to, struct cr_msg *m);
void cr__udpq_drop(struct cr__udpq *q);

/* --- net: link emulation ------------------------------------------------------ */

/* How far a sending bucket may catch up after a late wake-up, so that
 * lateness costs no rate.  A message never starts before it was queued,
 * so a long silence earns no burst.  Receiving has no queue time to go by:
 * there a bucket idle longer than CR__SHAPE_RX_CATCHUP earns nothing. */
#define CR__SHAPE_CATCHUP (100 * CR_MS)
#define CR__SHAPE_RX_CATCHUP (2 * CR_MS)
/* Releases due this soon are written in the same wake-up, unless the
 * node's batch window (cr_node_config.batch_ns) says otherwise. */
#define CR__SHAPE_COALESCE (20 * CR_US)
/* The largest batch window a node accepts. */
#define CR__SHAPE_BATCH_MAX (100 * CR_MS)
/* Received datagrams that may wait for the download limit. */
#define CR__UDP_RX_QUEUE 256u
/* The share of a core a worker may spend spinning to wake on time with
 * `--spin auto` (cr_node_config.spin_budget). */
#define CR__SPIN_BUDGET 0.2

void cr__shaper_peer_init(struct cr_peer *p, const cr_link_limits *l);
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
int cr__shaper_udp_send(struct cr_peer *p, const cr_addr *to,
			struct cr_msg *m);
void cr__shaper_udp_received(struct cr_peer *p, const cr_addr *from,
			     struct cr_msg *m);
void cr__shaper_peer_close(struct cr_peer *p);
int64_t cr__link_delay(const struct cr_peer *p, const cr_addr *to);
/* From the node: a pairwise latency, if a matrix gives one (true), and a
 * peer's access delay (0 for addresses outside the experiment). */
bool cr__node_matrix_delay(const struct cr__node *n, const cr_addr *from,
			   const cr_addr *to, int64_t *delay_ns);
int64_t cr__node_access_delay(const struct cr__node *n, const cr_addr *a);

/* --- engine: algorithms -------------------------------------------------- */

/* A shared object built for API version 1 defines a cr_algorithm that ends
 * before tracker_peers: only this much of it may be read. */
#define CR__ALGO_V1_SIZE offsetof(cr_algorithm, tracker_peers)

/* --- engine: peers ---------------------------------------------------------- */

struct cr__udp_out {
	struct cr_msg *m;
	cr_addr to;
	int64_t queued_ns;
};

struct cr__udpq {
	struct cr__udp_out *v;
	uint32_t cap, head, len;
};

/* What a tracker did (tracker.c), counted on its own peer: registrations
 * recorded (new entries and refreshes), queries, answers sent, entries
 * dropped as silent or as departed, REGISTERs refused past either limit,
 * and the most entries it held at once. */
struct cr__tracker_stats {
	uint64_t registrations, queries, replies;
	uint64_t timed_out, departed;
	uint64_t refused_sessions_per_peer, refused_peers_per_session;
	uint64_t entries_max;
};

/* Payload bytes of the algorithm's messages: in, as dispatched to it; out,
 * as they left the emulated link (written to the socket whole); offered,
 * as handed to cr_send (some may still wait, or be dropped, when the run
 * ends).  The engine's own messages to and from the tracker are counted
 * apart, in tracker_bytes_*, never as the algorithm's control. */
struct cr__peer_stats {
	uint64_t data_msgs_in, data_bytes_in;
	uint64_t ctrl_msgs_in, ctrl_bytes_in;
	uint64_t data_msgs_out, data_bytes_out;
	uint64_t ctrl_msgs_out, ctrl_bytes_out;
	uint64_t data_msgs_offered, data_bytes_offered;
	uint64_t tracker_bytes_in, tracker_bytes_out;
	uint64_t udp_dropped;	 /* the local socket or queue refused it */
	uint64_t udp_lost;	 /* emulated loss */
	uint64_t udp_rx_dropped; /* over the download queue */
	uint64_t udp_rx_overflow; /* the kernel dropped them: the socket
				   * buffer was full (SO_RXQ_OVFL) */
	uint64_t bad_frames;
	uint64_t bad_datagrams;
	struct cr__tracker_stats tracker; /* when this peer is the tracker */
	/* connections refused or closed by each limit (enum cr__limit) */
	uint64_t limit_hits[CR__LIMIT_N];
	uint64_t departures;
	uint64_t births, deaths, failed_births;
	/* what its viewer saw (cr_report_playback) */
	bool play_reported;
	cr_playback_report play;
	/* time alive: over its past lives, and since its latest birth */
	int64_t alive_ns;
	int64_t born_ns;
	/* the algorithm's own results (cr_report_value), by the index of
	 * their name in the node's table; bit k of values_set: value k was
	 * reported */
	uint32_t values_set;
	double values[CR_REPORT_VALUES_MAX];
};

struct cr_peer {
	struct cr__worker *w;
	struct cr__node *node;
	uint32_t index;
	cr_addr addr;
	char name[CR_ADDR_STRLEN];
	const char *class_name;
	int log_level;	   /* the node's, or trace for a traced peer */
	int playout_fd;	   /* --play-out, or -1 */
	bool sampled_alive; /* alive at the last sample (peers.csv) */
	const cr_algorithm *algo;
	void *state;
	bool alive;
	bool booted;
	bool rx_paused;
	bool is_tail; /* last peer of a chain (built-in chains experiment) */
	bool remote;  /* runs on another host's node */

	int listen_fd;
	uv_poll_t listen_poll;
	bool listen_paused;
	int udp_fd;
	uv_poll_t udp_poll;
	int udp_events;
	struct cr__udpq udp_ctrl, udp_data;
	int handles_open; /* uv handles not yet closed */

	size_t out_bytes; /* queued on all TCP connections */
	uint32_t nfull;	  /* connections over the queue limit */
	struct cr__conn *conns; /* list through peer_next */
	uint32_t nconns;
	/* connections that found it not reading (rx_paused) when they became
	 * readable: only these are restarted when it resumes */
	struct cr__conn *paused_conns;

	cr_addr *boot;
	size_t nboot;
	uint16_t birth_session; /* joined right after bootstrap; 0: none */
	uint16_t register_session; /* asked of the tracker at birth */
	uint16_t cfg_session;	   /* birth_session as configured */
	const struct cr_node_event *events;
	size_t nevents;
	uint16_t *sessions; /* joined now */
	size_t nsessions;
	struct cr__source *source;

	/* link emulation (see shaper.c) */
	cr_link_limits lim;
	bool shaped;		  /* any limit, delay or loss */
	struct cr__bucket up, down, total;
	struct cr__conn *rr;	  /* connections with unstamped messages */
	struct cr__udpq udp_wait; /* UDP datagrams not yet through the buckets */
	bool udp_turn;		  /* round robin: UDP goes next */
	uint64_t pump_timer;
	int64_t pump_at;
	struct cr__udp_heap *udp_heap; /* datagrams in flight (delay) */
	struct cr__udpq udp_rx;	  /* received datagrams waiting for download */
	uint64_t udp_rx_timer;
	int64_t udp_rx_due;
	uint64_t rng;

	struct cr__peer_stats st;
	/* bootstrapping through the tracker (tracker.c) */
	struct cr__tracker *tracker; /* this peer IS the tracker (running) */
	bool is_tracker_peer;
	bool tracker_wait;	     /* registered, waiting for peers */
	bool boot_from_tracker;	     /* p->boot is the tracker's answer */
	uint64_t tracker_wait_timer;
	/* the algorithm's query (cr_tracker_query), while it waits */
	bool query_wait;
	uint16_t query_session;
	uint64_t query_timer;
	int64_t query_next_ns; /* no query before this */

	int64_t join_ns; /* first join, for the startup delay */

	uint64_t warm_data_bytes_in; /* data_bytes_in at the end of warm-up */
	uint64_t warm_data_msgs_in;
};

/* Bytes queued on one connection before its peer stops reading its inputs
 * (and a source stops producing), so that TCP pushes back on the senders
 * instead of memory growing. */
#define CR__DEFAULT_QUEUE_LIMIT (256u << 10)

void cr__peer_dispatch(struct cr_peer *p, const cr_addr *from,
		       struct cr_msg *m);
/* A message left the peer's link: written whole to its TCP connection, or
 * sent as a datagram.  Counts it as the algorithm's or the tracker's. */
void cr__peer_sent(struct cr_peer *p, const struct cr_msg *m);
/* Calls the algorithm's bootstrap (and the birth session's join). */
void cr__peer_bootstrap(struct cr_peer *p);
/* Is the peer born at time 0 (its sockets open before the clock starts)? */
bool cr__peer_born_at_start(const struct cr_peer *p);

/* --- engine: tracker ---------------------------------------------------------- */

/* How long a new peer waits for the tracker before it bootstraps alone. */
#define CR__TRACKER_WAIT (2 * CR_SEC)
/* The tracker's limits by default: the sessions one peer address may be
 * registered in (a peer registers in one), and the peers one session may
 * hold.  A REGISTER past either is refused. */
#define CR__TRACKER_SESSIONS_PER_PEER 16
#define CR__TRACKER_PEERS_PER_SESSION 65536

int cr__tracker_start(struct cr_peer *p);
void cr__tracker_stop(struct cr_peer *p);
void cr__tracker_departed(struct cr_peer *p, const cr_addr *who);
int cr__tracker_register(struct cr_peer *p, uint16_t session);
void cr__tracker_handle(struct cr_peer *p, const cr_addr *from,
			struct cr_msg *m);
void cr__conn_queue_changed(struct cr__conn *c);
void cr__peer_departed(struct cr_peer *p, const cr_addr *who);
/* A line of peer p's, if its level (the node's, or trace for a traced
 * peer) lets it through. */
void cr__plog(const struct cr_peer *p, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* --- engine: sources ---------------------------------------------------------- */

struct cr__source_cfg {
	uint32_t peer_index;
	uint16_t session;
	uint32_t msg_size;
	uint64_t rate_Bps; /* 0: as fast as the connections take them */
	uint64_t count;	   /* messages to produce; 0: no limit */
	int64_t start_ns;
	bool on_deploy;	   /* starts at the peer's deploy event, not start_ns */
	int data;	   /* enum cr_data_kind: random, file, file loop, stdin */
	const char *path;  /* for files */
	int64_t segment_ns; /* the session's segment duration; 0: 1 s */
};

struct cr__source {
	struct cr__source_cfg cfg; /* as configured: read by every worker */
	uint64_t rate_Bps;	   /* the rate of this deploy (its worker's) */
	int64_t start_ns;	   /* when this deploy began (its worker's) */
	_Atomic int64_t pub_start_ns; /* the same for every worker; -1 */
	struct cr_peer *p;
	uint64_t produced;
	uint64_t bytes;
	uint64_t rng;
	uint64_t timer;
	bool waiting_drain;
	bool done;
	int fd;		 /* file or stdin; -1 for random data */
	uint8_t *buf;	 /* stdin: bytes read but not yet sent */
	size_t buf_len;
	bool eof;
};

void cr__source_start(struct cr_peer *p, struct cr__source *s);
void cr__source_drained(struct cr__source *s);
void cr__source_stop(struct cr__source *s);

/* --- engine: workers ---------------------------------------------------------- */

struct cr__worker {
	struct cr__node *node;
	int id;
	uv_loop_t loop;
	uv_async_t wake;
	uv_prepare_t flush_hook;
	uv_poll_t timer_poll;
	int timer_fd; /* timerfd (Linux); -1 elsewhere */
	uv_timer_t timer_ms; /* fallback without timerfd */
	int64_t armed_ns;    /* the earliest deadline the wake-up is set for */
	/* precise wake-ups (worker.c): the timerfd rings lead_ns before the
	 * earliest deadline and the loop spins the last stretch */
	uv_idle_t spin;
	bool spinning;
	double spin_budget;	  /* fraction of a core; 0: never spin */
	int64_t lead_ns, lead_target_ns;
	int64_t wake_p99_ns[8];	  /* of the last windows, a ring */
	unsigned wake_p99_at;
	int64_t fd_at;		  /* what the timerfd is set for */
	int64_t sleep_from;	  /* the loop last went to sleep; -1: awake */
	int64_t spin_from;	  /* spinning is counted up to here */
	int64_t win_from, win_spin_ns; /* the current adaptation window */
	/* the machine's busy time and this process's CPU time, as at the
	 * last window, to tell the load of other work */
	int64_t busy_ns, self_ns;
	int spin_hold;		  /* windows left before spinning may resume */
	int spin_backoff;	  /* the next hold after a failed window */
	uint64_t win_misses;	  /* deadlines run late while spinning for them */
	uint64_t spin_misses;	  /* ... over the run */
	uint64_t windows, contended_windows; /* ... when it waited for a core */
	struct cr__hist wake_win; /* wake-up lateness from sleep, this window */
	struct cr__hist wake_late; /* ... over the run */
	int64_t spin_ns;	  /* time spent spinning, over the run */
	double lead_ns_sum;	  /* lead x time, for its mean over the run */
	int64_t lead_time_ns;
	pthread_t thread;
	cr__timers timers;
	cr__pool pool;
	cr__log log;
	cr__clock *clock;

	struct cr_peer **peers;
	size_t npeers;

	/* (peer, remote) -> connection */
	struct cr__conn **map;
	size_t map_cap, map_len;

	struct cr__conn *dirty;
	bool in_send; /* inside cr_send: no algorithm callbacks from here */
	int setup_err;
	char setup_msg[256];
	bool stopping;

	/* published for the node's status line, written by this worker */
	_Atomic uint64_t pub_data_bytes_in;
	_Atomic int64_t pub_stats_ns; /* when the pub_ counters were taken */
	uint64_t msgs_switched;
	struct cr__hist lag; /* timer lag, kept after the timers are freed */
	struct cr__hist late; /* how late stamped frames were written */
	/* ... and how many later than the fidelity threshold, exactly (the
	 * histogram's quantiles are only within 12.5%) */
	uint64_t late_over, rx_late_over;
	struct cr__hist rx_late; /* how late reading resumed after a download
				  * bucket's wait */
	struct cr__hist queueing; /* how long frames waited for their link:
				   * to begin transmission, and for a full
				   * socket that the receiver did not read */
	uint64_t frames_after_full; /* written once a full socket drained */
	uint64_t fid_rx_links;	 /* download sides long enough to judge */
	double fid_rx_err_sum, fid_rx_err_worst;
	uint64_t fid_rx_worst_rate;
	char fid_rx_worst_link[2 * CR_ADDR_STRLEN + 8];
	double fid_late_worst_ns; /* the worst link's mean added delay */
	char fid_late_worst_link[2 * CR_ADDR_STRLEN + 8];
	int64_t batch_ns;     /* releases due this soon leave in one wake-up */
	uint64_t shaped_writes; /* system calls that wrote stamped frames */
	int64_t early_max;	/* the earliest a frame was written, ns */
	_Atomic uint64_t pub_alive;	   /* its peers alive */
	/* release lateness p99, sending or receiving, over the last
	 * sample's interval */
	_Atomic int64_t pub_late_p99;
	_Atomic uint64_t pub_played, pub_due; /* segments, over its peers */
	/* the per-second samples (sampler.c) */
	bool sampling;
	int64_t last_sample_ns;
	int64_t samples; /* periodic ones taken */
	struct cr__hist lag_mark, late_mark, rx_late_mark; /* at the last sample */
	char *rows;
	size_t rows_len, rows_cap;
	/* per-link rate fidelity, folded in as links close */
	uint64_t fid_links;
	double fid_err_sum, fid_err_worst;
	uint64_t fid_worst_rate;
	char fid_worst_link[2 * CR_ADDR_STRLEN + 8];
	uint64_t bad_frames;
	uint64_t conns_accepted;
	/* connections waiting on the clock (idle after the hello, or with a
	 * frame unfinished), swept every sweep_ns; and the bytes of unfinished
	 * frames its connections hold, at most partial_share (its part of the
	 * node's budget; 0: no limit) */
	struct cr__conn *watch, *watch_tail;
	int64_t sweep_ns;
	uint64_t partial_bytes, partial_share;
	uint64_t partial_published; /* as added to the node's count */
};

/* Schedules work on the worker's timer structure; rearms the wake-up. */
uint64_t cr__worker_timer(struct cr__worker *w, int64_t due_ns,
			  int64_t period_ns, cr__timer_fn fn, void *ctx,
			  void *arg, const void *owner);
uint64_t cr__worker_timer_user(struct cr__worker *w, struct cr_peer *p,
			       int64_t due_ns, int64_t period_ns,
			       cr_timer_cb cb, void *arg);
void cr__worker_rearm(struct cr__worker *w);
void cr__worker_mark_dirty(struct cr__conn *c);
void cr__worker_map_add(struct cr__worker *w, struct cr__conn *c);
void cr__worker_map_del(struct cr__worker *w, struct cr__conn *c);
int cr__worker_setup(struct cr__worker *w);
/* Asks the scheduler for short time slices for the calling thread, so that
 * it preempts CPU-bound work promptly when it wakes (Linux 6.12 and later;
 * a no-op elsewhere). */
void cr__worker_short_slice(void);
void cr__worker_teardown(struct cr__worker *w);

#endif
