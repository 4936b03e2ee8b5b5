/* crystal run across hosts: what the files of the coordination share.
 *
 *   coord-wire.c    the control connection's frames: writing and reading
 *                   them, length-checked; the IP sets that name nodes
 *   coord-server.c  the coordinator: the listener, the barrier, the
 *                   nodes' heartbeats, LOST and STOP relayed
 *   coord.c         every node's side: the control thread, the connection
 *                   to the coordinator, the clock samples, the start, and
 *                   the interface to the run (coord.h)
 *
 * Everything of the connections runs on the control thread's own libuv
 * loop; the run's main thread reads what it needs under `lock`.
 */
#ifndef CRYSTAL_CLI_COORD_INT_H
#define CRYSTAL_CLI_COORD_INT_H

#include "coord.h"

#include <pthread.h>
#include <uv.h>

/* The frames (docs/wire-format.md#control-connection): a 4-byte header,
 * type, 0, and the body's length (big-endian, at most CO_BODY_MAX). */
enum co_type {
	CO_HELLO = 1,
	CO_WELCOME,
	CO_REFUSE,
	CO_TIME,
	CO_TIME_REPLY,
	CO_READY,
	CO_START,
	CO_ABORT,
	CO_BEAT,
	CO_LOST,
	CO_STOP,
	CO_DONE,
	CO__N
};

#define CO_VERSION 1
#define CO_HDR 4
#define CO_BODY_MAX 4096
#define CO_TEXT_MAX 1024     /* an identity, a host name, a reason */
#define CO_SAMPLES 16	     /* clock samples a node takes */
#define CO_BEAT_NS (1 * CR_SEC) /* heartbeats, both ways */
#define CO_SILENCE_NS (3 * CR_SEC) /* silent this long: lost */
#define CO_START_AFTER_NS (500 * CR_MS) /* start: the last READY + this */
#define CO_RETRY_NS (200 * CR_MS)	/* a node connects again after */

/* A frame being written. */
struct co_out {
	uint8_t b[CO_HDR + CO_BODY_MAX];
	size_t len;
	bool over; /* a field did not fit: not sent */
};

/* A frame's body being read: a field past its end sets bad. */
struct co_in {
	const uint8_t *p;
	size_t left;
	bool bad;
};

void co_begin(struct co_out *o, enum co_type t);
void co_u8(struct co_out *o, uint8_t v);
void co_u16(struct co_out *o, uint16_t v);
void co_u32(struct co_out *o, uint32_t v);
void co_u64(struct co_out *o, uint64_t v);
void co_text(struct co_out *o, const char *s); /* u16 length, bytes */
uint8_t co_get8(struct co_in *in);
uint16_t co_get16(struct co_in *in);
uint32_t co_get32(struct co_in *in);
uint64_t co_get64(struct co_in *in);
/* A text field into buf (cap bytes, NUL-terminated); a longer one, or
 * one with a NUL or a control byte in it, is bad. */
void co_gettext(struct co_in *in, char *buf, size_t cap);
const char *co_type_name(int t);

/* One control connection, either end: its socket, what has arrived of
 * the frame being read, and when anything last arrived. */
struct co_conn {
	uv_tcp_t tcp;
	struct cr__coord *co;
	uint8_t rx[CO_HDR + CO_BODY_MAX];
	size_t rxlen;
	int64_t last_rx_ns; /* monotonic */
	bool closing;
	char peer[CR_ADDR_STRLEN]; /* the far end, for messages */
	/* a frame arrived (body of len bytes); returns false when the
	 * connection was closed by it */
	bool (*frame)(struct co_conn *c, int type, struct co_in *body);
	void (*gone)(struct co_conn *c, const char *why);
	/* the coordinator's: a node's state */
	struct co_node *node;
	struct co_conn *prev, *next; /* every connection of the thread */
};

/* A connection of co's loop (zeroed, in co's list), and its freeing: the
 * close callback of every connection. */
struct co_conn *co_conn_new(struct cr__coord *co);
void co_conn_free_cb(uv_handle_t *h);

/* Reads into c until it ends; frames go to c->frame, the end (EOF, an
 * error or a malformed frame, with why) to c->gone. */
int co_conn_read(struct co_conn *c);
/* Queues a frame (nothing when it did not fit, or c is closing). */
void co_conn_send(struct co_conn *c, const struct co_out *o);
/* Closes c after what was queued has been written; free_cb frees it. */
void co_conn_close(struct co_conn *c, void (*free_cb)(uv_handle_t *h));

/* Sets of IPs (port 0), sorted and without repeats: the nodes' names. */
struct co_ipset {
	cr_addr *ip;
	size_t n;
};

int co_ipset_add(struct co_ipset *s, const cr_addr *a); /* port ignored */
bool co_ipset_has(const struct co_ipset *s, const cr_addr *a);
/* "10.0.0.1,10.0.0.2": 0, or -1 when it does not fit in cap */
int co_ipset_text(const struct co_ipset *s, char *buf, size_t cap);
/* The inverse: 0, or -1 when text is not a list of IPs. */
int co_ipset_parse(struct co_ipset *s, const char *text);
void co_ipset_free(struct co_ipset *s);

/* --- the coordinator (coord-server.c) ------------------------------------ */

/* A node as the coordinator sees it. */
struct co_node {
	struct co_conn *conn; /* NULL once it is gone */
	char identity[CO_TEXT_MAX];
	char host[CO_TEXT_MAX];
	struct co_ipset ips;
	uint32_t pid, peers;
	bool ready, done, lost;
	int64_t offset_ns, uncertainty_ns;
	struct co_node *next;
};

struct co_server {
	uv_tcp_t listener;
	bool listening;
	struct co_node *nodes; /* in the order they said hello */
	bool started;	       /* START sent */
	bool aborted;
	uint64_t run_id;
	int64_t start_unix_ns; /* time 0, on the coordinator's clock */
	uint32_t nnodes;
};

int co_server_open(struct cr__coord *co, char *err, size_t errlen);
/* The barrier timed out, or a node stopped before the start: every node
 * that came is told why (ABORT), and so is this node. */
void co_server_abort(struct cr__coord *co, const char *why);
/* Heartbeats to every node; the silent ones lost. */
void co_server_tick(struct cr__coord *co);
/* This process's node stopped by a signal: every other node stops too. */
void co_server_stop(struct cr__coord *co, int sig, const struct co_node *from);
/* Sends DONE to every node, and closes the listener and connections. */
void co_server_close(struct cr__coord *co);

/* --- every node (coord.c) ----------------------------------------------- */

enum co_phase { CO_WAITING, CO_STARTED, CO_FAILED };

struct cr__coord {
	/* set at open, read-only after */
	cr_addr at;		    /* the coordinator's address */
	char at_text[CR_ADDR_STRLEN];
	bool is_coordinator;	    /* this node owns at's IP */
	uint64_t exp_id;
	int64_t barrier_ns;
	struct co_ipset plan;	    /* every node's IPs */
	struct co_ipset own;	    /* this node's */
	char identity[CO_TEXT_MAX];
	char host[256];
	uint32_t npeers;	    /* this node's peers */
	int64_t opened_ns;	    /* monotonic, when it opened */

	pthread_t thread;
	bool thread_running;
	uv_loop_t loop;
	uv_async_t wake;	    /* the main thread's requests */
	uv_timer_t tick;	    /* connects, heartbeats, the barrier */
	struct co_conn *conns;	    /* every connection, to free them */
	struct co_conn *conn;	    /* to the coordinator */
	bool connecting;
	int64_t next_connect_ns;
	int samples;		    /* clock samples taken */
	int64_t best_rtt_ns, offset_ns, uncertainty_ns;
	bool welcomed, ready_sent;
	bool coord_done;	    /* the coordinator said DONE */
	int64_t next_beat_ns;
	bool loop_open;
	bool closing_all;	    /* the end: the last frames go out */
	int64_t close_by_ns;
	struct co_server srv;	    /* on the coordinator only */

	/* shared with the main thread, under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum co_phase phase;
	bool node_ready;	    /* its sockets are open: READY may go */
	int fail_status;	    /* of a failed start */
	char fail[CO_TEXT_MAX + 256];
	int64_t origin_ns;	    /* monotonic time 0 */
	uint64_t run_id;
	uint32_t nodes;
	char coord_identity[CO_TEXT_MAX], coord_host[CO_TEXT_MAX];
	cr_node *node;
	bool ended;		    /* this node's run is over */
	int stop_req;		    /* a signal to tell the others of */
	bool stop_sent;
	int stopped_by;		    /* a signal relayed from another node */
	bool close_req;
	struct cr_result_lost *lost;
	size_t nlost;
	char run_id_text[17];
};

/* The start failed (status, and why, as the node's error says it). */
void co_fail(struct cr__coord *co, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A node of the run (identity, host) was lost at experiment time at_ns:
 * recorded once, and the node's peers hear its peers depart. */
void co_lost(struct cr__coord *co, const char *identity, const char *host,
	     int64_t at_ns);

#endif
