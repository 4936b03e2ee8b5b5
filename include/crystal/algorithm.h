/* The algorithm API: the paper's Table I, in C.
 *
 * An algorithm is a const struct of callbacks.  The engine calls them on the
 * peer's worker, one at a time, so an algorithm needs no locks for its own
 * per-peer state.  In return the algorithm calls the engine's services below
 * (send, remove_peer, timers, logging, parameters), always from inside one of
 * its callbacks and always for the peer it was called for.
 *
 * A third-party algorithm is a shared object that defines
 *
 *	const cr_algorithm crystal_algorithm = { .api_version = CR_API_VERSION, ... };
 *
 * and is loaded with `crystal run --algorithm ./my_algo.so`.
 */
#ifndef CRYSTAL_ALGORITHM_H
#define CRYSTAL_ALGORITHM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "message.h"
#include "random.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 2: tracker_peers, cr_tracker_query, cr_report_value.
 * 3: typed parameters (cr_param_spec, cr_algorithm.param_specs,
 *    cr_params_load, cr_param_value).
 * Fields are only ever added at the end of cr_algorithm: the engine still
 * runs a shared object built for version 1 (as an algorithm without
 * tracker_peers) or 2 (without typed parameters), reading no more of its
 * struct than that version has. */
#define CR_API_VERSION 3

/* Transport of one cr_send. */
typedef enum cr_proto { CR_TCP = 0, CR_UDP = 1 } cr_proto;

/* A parameter an algorithm accepts (-D name=value on the command line). */
typedef struct cr_param_def {
	const char *name;
	const char *default_value;
	const char *help;
} cr_param_def;

/* A typed parameter (version 3): declared once, with its default and its
 * range; the engine parses and checks every one when the run is set up,
 * and refuses the run, naming the parameter and its range, for a value
 * that is not of its type or outside [min, max].  Durations are written
 * with a unit ("250ms", "1.5s", "800us", "20ns"; a bare number is in
 * milliseconds) and read in nanoseconds; their default, min and max are
 * in nanoseconds too.  Booleans are true/false, yes/no, on/off or 1/0; their
 * range is not looked at.  Values are held as doubles, exact for whole
 * numbers up to 2^53.
 *
 * `offset` says where cr_params_load writes the value in the algorithm's
 * own struct: an int64_t for CR_PARAM_INT and CR_PARAM_DURATION, a double
 * for CR_PARAM_DOUBLE, a bool for CR_PARAM_BOOL.  The CR_PARAM_* macros
 * below fill it, and refuse to compile for a field of another type. */
typedef enum cr_param_type {
	CR_PARAM_INT = 0,
	CR_PARAM_DOUBLE = 1,
	CR_PARAM_DURATION = 2,
	CR_PARAM_BOOL = 3,
} cr_param_type;

typedef struct cr_param_spec {
	const char *name;
	cr_param_type type;
	double def, min, max;
	const char *help;
	size_t offset;
} cr_param_spec;

/* 0 when field `f` of struct type `st` is of type T; a compile error
 * otherwise. */
#define CR__PARAM_FIELD(st, f, T)                                            \
	(0 * sizeof(struct {                                                 \
		     int ok : _Generic(((st *)0)->f, T: 1, default: -1);     \
	     }))
#define CR__PARAM(st, f, T, ty, name, def, lo, hi, help)                     \
	{(name), (ty), (def), (lo), (hi), (help),                            \
	 offsetof(st, f) + CR__PARAM_FIELD(st, f, T)}
/* One entry of a param_specs table, for field f of struct st. */
#define CR_PARAM_INT_AT(st, f, name, def, lo, hi, help)                      \
	CR__PARAM(st, f, int64_t, CR_PARAM_INT, name, def, lo, hi, help)
#define CR_PARAM_DOUBLE_AT(st, f, name, def, lo, hi, help)                   \
	CR__PARAM(st, f, double, CR_PARAM_DOUBLE, name, def, lo, hi, help)
#define CR_PARAM_DURATION_AT(st, f, name, def, lo, hi, help)                 \
	CR__PARAM(st, f, int64_t, CR_PARAM_DURATION, name, def, lo, hi, help)
#define CR_PARAM_BOOL_AT(st, f, name, def, help)                             \
	CR__PARAM(st, f, bool, CR_PARAM_BOOL, name, def, 0, 1, help)

typedef struct cr_algorithm {
	int api_version; /* CR_API_VERSION */
	const char *name;
	const char *description;
	size_t state_size; /* per-peer state, zeroed, see cr_state() */
	const cr_param_def *params; /* NULL-name terminated; NULL for none */

	/* A new peer starts.  Its bootstrap peers (from the topology, the
	 * tracker or a built-in experiment) are in cr_bootstrap_peers(). */
	int (*bootstrap)(cr_peer *p);
	/* The peer joins or leaves a session.  leave_session is also called
	 * on every member when the session's source terminates (a terminate
	 * event); a peer that dies leaves with no call (see destroy). */
	void (*join_session)(cr_peer *p, uint16_t session);
	void (*leave_session)(cr_peer *p, uint16_t session);
	/* A control message (types 16..127) arrived from peer `from`. */
	void (*process)(cr_peer *p, const cr_addr *from, cr_msg *m);
	/* A data message (types 128..255) arrived from `from`.  At a source,
	 * the data it generates arrives here too, with `from` its own
	 * address (cr_is_self()). */
	void (*process_data)(cr_peer *p, const cr_addr *from, cr_msg *m);
	/* The last connection to `who` ended (closed, reset, refused, or the
	 * remote peer died).  Called once per departure; not called for a
	 * connection this peer tore down itself with cr_remove_peer(). */
	void (*peer_departed)(cr_peer *p, const cr_addr *who);
	/* The peer ends: free what the state points to (the state itself is
	 * freed by the engine). */
	void (*destroy)(cr_peer *p);

	/* --- since API version 2 --- */

	/* The tracker's answer to cr_tracker_query: n live peers of `session`
	 * (never this peer), or none when no answer came in time.  The array
	 * is the engine's, valid during the call; NULL when n is 0. */
	void (*tracker_peers)(cr_peer *p, uint16_t session,
			      const cr_addr *peers, size_t n);

	/* --- since API version 3 --- */

	/* Typed parameters, NULL-name terminated; NULL for none.  An
	 * algorithm may declare both tables (the names must differ); -D
	 * accepts the names of either. */
	const cr_param_spec *param_specs;
} cr_algorithm;

/* --- Engine services ---------------------------------------------------- */

/* Queues m for `to` over TCP (opening a connection if there is none) or
 * UDP.  The engine takes its own reference; the caller keeps its own.
 * Returns 0 (also for a datagram later lost or dropped), or:
 *   -CR_EINVAL    a NULL argument, an unknown proto, an address neither
 *                 IPv4 nor IPv6, or a peer that is not alive;
 *   -CR_EMSGSIZE  the payload is above the configured maximum, or too
 *                 large for one UDP datagram;
 *   -CR_EMFILE    no descriptor for a new connection;
 *   -CR_EIO       the socket or connect() for a new connection failed at
 *                 once (the log says why);
 *   -CR_ENOMEM    out of memory;
 *   -CR_ENOTCONN  the connection to `to` was found closed (a guard: the
 *                 engine forgets a connection as it closes it).
 * A refused message is not counted as offered or sent. */
int cr_send(cr_peer *p, const cr_addr *to, cr_msg *m, cr_proto proto);

/* Bytes this peer has queued with cr_send over TCP that have not yet been
 * written to the network, frame headers included: its upload link's
 * backlog (and what receivers that read slowly hold back).  A peer that
 * paces what it sends by it keeps the choice of what goes next. */
size_t cr_queued_bytes(const cr_peer *p);

/* Of those, the bytes its upload link has not yet passed: the link's own
 * queue, without what is through it and only waits out the link's delay
 * (or a receiver that reads slowly).  What a peer that keeps its link
 * busy a short lead at a time paces by: with cr_queued_bytes, the delay
 * line would count as backlog, and a link with a long delay would idle.
 * Without an upload limit, the same as cr_queued_bytes. */
size_t cr_upload_queued(const cr_peer *p);

/* Tears down every TCP connection to `who` and drops what was queued.
 * Returns 0 or -CR_ENOTCONN. */
int cr_remove_peer(cr_peer *p, const cr_addr *who);

/* This peer's own address; is `a` this peer? */
const cr_addr *cr_self(const cr_peer *p);
bool cr_is_self(const cr_peer *p, const cr_addr *a);

/* The per-peer state of algorithm.state_size bytes. */
void *cr_state(cr_peer *p);

/* Peers this peer was given at birth. */
size_t cr_bootstrap_peers(const cr_peer *p, const cr_addr **out);

/* Asks the experiment's tracker, at any time, for up to `max` live peers
 * of `session` (0: as many as a reply of the tracker holds, its
 * peers_per_reply), drawn at random, never this peer.  The answer comes
 * through the algorithm's tracker_peers callback, once for each query that
 * returned 0, unless the peer dies first: with the peers, or with none
 * when the tracker has not answered within 2 s.  A peer has one query out
 * at a time, and sends at most one per CR_TRACKER_QUERY_INTERVAL_NS.
 * Returns 0, or
 *   -CR_ENOENT  the experiment has no tracker (a topology file, `chains`)
 *   -CR_EAGAIN  a query is out, the peer's registration still waits for
 *               its answer, or the last query went less than the interval
 *               ago: ask again later
 *   -CR_EINVAL  the peer is not alive, or the algorithm has no
 *               tracker_peers callback to take the answer
 *   or what sending it to the tracker returned (-CR_EMFILE, -CR_EIO...). */
#define CR_TRACKER_QUERY_INTERVAL_NS 1000000000LL
int cr_tracker_query(cr_peer *p, uint16_t session, size_t max);

/* Experiment time in ns (0 = experiment start).  Never read the system
 * clock directly: the engine may run on virtual time. */
int64_t cr_now(const cr_peer *p);

/* The peer's own random generator (random.h), seeded at each birth from
 * the run's seed (--seed), the peer's index and how many times it was
 * born: the same seed gives every peer the same draws, run after run, and
 * a peer born again draws anew.  Use it from the peer's callbacks only. */
cr_rand *cr_peer_rand(cr_peer *p);

/* Timers: deadlines in ns.  A periodic timer (period_ns > 0) re-arms from
 * its due time, so it does not drift.  Ids are never reused: cancelling a
 * fired or cancelled timer is harmless.  A peer's timers end with it. */
typedef uint64_t cr_timer_id;
typedef void (*cr_timer_cb)(cr_peer *p, void *arg);
cr_timer_id cr_timer_start(cr_peer *p, int64_t delay_ns, int64_t period_ns,
			   cr_timer_cb cb, void *arg);
/* Returns 0, or -CR_ENOENT when the timer already fired or was cancelled. */
int cr_timer_cancel(cr_peer *p, cr_timer_id id);

/* Parameters (-D name=value, or the algorithm's defaults).  cr_param is
 * the text as given (a typed parameter's default written out); the two
 * below parse it, and give `fallback` for one absent or not a number. */
const char *cr_param(const cr_peer *p, const char *name);
int64_t cr_param_int(const cr_peer *p, const char *name, int64_t fallback);
double cr_param_double(const cr_peer *p, const char *name, double fallback);

/* Typed parameters (param_specs), parsed and checked at set-up.
 * cr_params_load writes every one into `dst` at its offset: one call
 * reads them all.  Returns 0, or -CR_EINVAL when the algorithm declares
 * none.  cr_param_value is one of them (a duration in ns, a bool 0 or 1);
 * NaN for a name not declared there. */
int cr_params_load(const cr_peer *p, void *dst);
double cr_param_value(const cr_peer *p, const char *name);
/* A typed parameter for a person: "a whole number from 2 to 4096,
 * default 20" into buf (truncated to len).  Returns what snprintf does. */
int cr_param_spec_describe(const cr_param_spec *d, char *buf, size_t len);

/* Logging: each line is stamped with experiment time and peer address. */
enum cr_log_level {
	CR_LOG_ERROR = 0,
	CR_LOG_WARN = 1,
	CR_LOG_INFO = 2,
	CR_LOG_DEBUG = 3,
	CR_LOG_TRACE = 4,
};
void cr_log(const cr_peer *p, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cr_vlog(const cr_peer *p, int level, const char *fmt, va_list ap);

/* What the experiment says about a session: its source, streaming rate
 * (0: as fast as the links take it), data message payload size, segment
 * duration, and when its source began the stream now playing (experiment
 * time; -1 while not known: not started yet, or started by a deploy on
 * another host).  With a set rate, segment k of the stream is whole at the
 * source at start_ns + (k + 1) x segment_ns.  Returns 0 or -CR_ENOENT for
 * a session the experiment does not have. */
typedef struct cr_session_info {
	uint16_t session;
	cr_addr source;
	uint64_t rate_Bps;
	uint32_t message_size;
	int64_t segment_ns;
	int64_t start_ns;
} cr_session_info;
int cr_session_info_get(const cr_peer *p, uint16_t session,
			cr_session_info *out);

/* What a peer's viewer saw of a session so far, for the run's per-second
 * samples (peers.csv) and its stream-quality summary.  Counts are
 * cumulative; each report replaces the previous one of the peer.  A
 * playback buffer started with cr_playbuf_start reports itself at every
 * segment it plays and when it stops; an algorithm with its own playback
 * fills one of these and calls cr_report_playback. */
typedef struct cr_playback_report {
	uint16_t session;
	uint64_t played;	  /* segments played on time */
	uint64_t missed;	  /* segments incomplete at their time */
	int64_t first_played_ns;  /* experiment time of the first played, -1 */
	uint64_t duplicate_bytes; /* received for blocks already held */
	uint32_t buffered;	  /* complete segments ahead of playback */
	/* segment latency: from the source producing a segment whole to
	 * this peer holding it whole, summed over `completed` segments */
	uint64_t completed;
	int64_t latency_sum_ns;
} cr_playback_report;
void cr_report_playback(cr_peer *p, const cr_playback_report *r);

/* Results of the algorithm's own: named numbers per peer, written to
 * peers-final.csv (a column value.NAME) and summarised over the peers that
 * reported them in summary.json ("values") and by `crystal report`.
 * cr_report_value sets the peer's value of NAME; cr_report_add adds to it
 * (from 0).  A peer keeps its values over its lives, and the last one set
 * is the one written.  NAME is 1 to CR_REPORT_NAME_MAX letters, digits or
 * '_', the first a letter; one experiment takes at most
 * CR_REPORT_VALUES_MAX names, over all its peers.  Returns 0, -CR_EINVAL
 * (a NULL argument, a bad name, a value or sum that is NaN or infinite:
 * nothing is recorded) or -CR_ENOSPC (a name past the limit). */
#define CR_REPORT_VALUES_MAX 16
#define CR_REPORT_NAME_MAX 31
int cr_report_value(cr_peer *p, const char *name, double v);
int cr_report_add(cr_peer *p, const char *name, double delta);

/* The bytes a peer's viewer plays, in playback order: written to the
 * peer's play-out file or pipe when the run asked for one
 * (`--play-out IP:port=PATH`), dropped otherwise.  Playback buffers that
 * keep data call it for every segment they play. */
void cr_play_out(cr_peer *p, uint16_t session, const void *data, size_t len);
/* Whether the run gave the peer a play-out (its buffers must keep data
 * for it). */
bool cr_plays_out(const cr_peer *p);

/* Ends the whole experiment early (for example when a test has seen all it
 * needs).  Thread-safe; returns at once. */
void cr_experiment_stop(cr_peer *p);

#ifdef __cplusplus
}
#endif
#endif
