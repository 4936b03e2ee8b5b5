/* Events files: timed peer dynamics (see docs/events-format.md). */
#ifndef CRYSTAL_EVENTS_H
#define CRYSTAL_EVENTS_H

#include "experiment.h"

enum cr_event_type {
	CR_EV_BIRTH,
	CR_EV_DIE,
	CR_EV_JOIN,
	CR_EV_LEAVE,
	CR_EV_DEPLOY,
	CR_EV_TERMINATE,
};

struct cr_event {
	int64_t time_ns;
	cr_addr peer;
	enum cr_event_type type;
	uint16_t session;    /* join, leave, deploy, terminate */
	bool has_source;
	cr_addr source;	     /* join: the session's source */
	uint64_t rate_Bps;   /* deploy: streaming rate (0: the session's) */
	char class_name[CR_NAME_MAX]; /* birth: "" means the address's class */
	unsigned line;
};

/* Reads an events file, checking it against the experiment: every address
 * in a class, per peer times never going back, no event before a peer's
 * birth or after its death, known sessions.  Events after the
 * experiment's duration are read and checked like the others (a run
 * shorter than the file was made for leaves them out: cr_plan_build).
 * Events come out sorted by time (stable: file order within one time), in
 * an array to free() (NULL when the file has none).  Returns 0 or a
 * negative error with err holding "FILE:LINE: ..."; on error *out is NULL
 * and *n 0. */
int cr_events_load(const char *path, const struct cr_experiment *e,
		   struct cr_event **out, size_t *n, char *err, size_t errlen);

const char *cr_event_name(enum cr_event_type t);

/* Topology files: for each peer, a few peers alive at its birth. */
struct cr_topology_entry {
	cr_addr peer;
	cr_addr *neighbours;
	size_t n;
	unsigned line;
};

/* Reads a topology file (see docs/topology-format.md): entries in file
 * order, each peer at most once.  Returns 0 or a negative error with err
 * holding "FILE:LINE: ..."; on error *out is NULL and *n 0. */
int cr_topology_load(const char *path, const struct cr_experiment *e,
		     struct cr_topology_entry **out, size_t *n, char *err,
		     size_t errlen);
void cr_topology_free(struct cr_topology_entry *t, size_t n);

#endif
