/* Experiment files: the whole description of a run (see
 * docs/experiment-format.md).  Parsed with inih; every error names the
 * file, the line and what is accepted, and nothing starts.
 */
#ifndef CRYSTAL_EXPERIMENT_H
#define CRYSTAL_EXPERIMENT_H

#include <crystal/crystal.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CR_NAME_MAX 64
#define CR_PATH_MAX 4096

/* Most peers one class may hold, and all the classes of an experiment
 * (one node runs them all, and no host has descriptors for more): the
 * addresses a file of a few bytes makes the loader expand stay within
 * tens of MB. */
#define CR_CLASS_MAX_PEERS 1000000
#define CR_EXPERIMENT_MAX_PEERS 1000000

/* A class of peers: how many, where, and their access link. */
struct cr_peer_class {
	char name[CR_NAME_MAX];
	size_t count;	/* peers in the class */
	cr_addr *addrs; /* count addresses, expanded from the range: in
			 * ascending order (cr_experiment_peer_index relies
			 * on it) */
	size_t first;	/* index of addrs[0] among the experiment's peers */
	cr_link_limits limits;
	unsigned line;	/* where the section starts, for messages */
};

enum cr_data_kind {
	CR_DATA_RANDOM = 0, /* seeded random bytes */
	CR_DATA_FILE,	    /* a regular file, once */
	CR_DATA_FILE_LOOP,  /* a regular file, over and over */
	CR_DATA_STDIN,	    /* standard input (a live stream) */
};

struct cr_session_cfg {
	uint16_t id;
	cr_addr source;	       /* the source peer */
	uint64_t rate_Bps;     /* 0: as fast as the links take it */
	uint32_t message_size; /* data message payload, bytes */
	int64_t segment_ns;    /* playback duration of a segment */
	enum cr_data_kind data;
	char path[CR_PATH_MAX]; /* for CR_DATA_FILE*: absolute or relative
				 * to the experiment file, resolved */
	unsigned line;
};

enum cr_tracker_mode {
	CR_TRACKER_NONE = 0, /* no tracker (a topology file, or none) */
	CR_TRACKER_INPROC,   /* a special peer inside this node */
	CR_TRACKER_EXTERNAL, /* `crystal tracker` running elsewhere */
};

enum cr_liveness {
	CR_LIVENESS_REPORT = 0, /* peers report periodically */
	CR_LIVENESS_PROBE,	/* the tracker probes each peer */
};

struct cr_tracker_cfg {
	enum cr_tracker_mode mode;
	cr_addr addr;
	uint32_t reply_peers;	 /* peers in a reply (default 20) */
	enum cr_liveness liveness;
	int64_t interval_ns;	 /* report or probe interval (default 5 s) */
	int64_t timeout_ns;	 /* silent this long: gone (default 15 s) */
	/* REGISTERs past these are refused (default 16 and 65536) */
	uint32_t max_sessions_per_peer;
	uint32_t max_peers_per_session;
};

struct cr_param_kv {
	char name[CR_NAME_MAX];
	char value[256];
	unsigned line;
};

struct cr_experiment {
	char path[CR_PATH_MAX]; /* the file as given */
	char dir[CR_PATH_MAX];	/* its directory, for relative paths */
	char name[CR_NAME_MAX];
	int64_t duration_ns;
	int64_t warmup_ns;
	int64_t batch_ns; /* 0: the engine's default */
	uint64_t seed;
	int workers; /* 0: one per core */
	int algorithm_threads; /* the work pool's; 0: one per core */
	char algorithm[CR_PATH_MAX];
	struct cr_param_kv *params; /* [algorithm] section */
	size_t nparams;
	struct cr_peer_class *classes;
	size_t nclasses;
	size_t npeers; /* in all classes: peer indices run 0..npeers-1 */
	struct cr_session_cfg *sessions;
	size_t nsessions;
	struct cr_tracker_cfg tracker;
	char events_path[CR_PATH_MAX];	 /* resolved; "" when none */
	char topology_path[CR_PATH_MAX]; /* resolved; "" when none */
	char matrix_path[CR_PATH_MAX];	 /* resolved; "" when none */
	uint64_t queue_limit;		 /* 0: the default */
	uint32_t max_message;		 /* 0: the default */
	/* what a remote may make a peer hold (cr_node_config); 0: automatic */
	uint32_t max_connections;
	int64_t idle_timeout_ns;
	int64_t frame_timeout_ns;
	uint64_t partial_limit;
	/* where the coordinator of a run spanning hosts listens: the key,
	 * or the first class's first IP at CR_COORD_PORT (coordinator_given
	 * false); docs/running-experiments.md#several-hosts */
	cr_addr coordinator;
	bool coordinator_given;
};

/* The coordinator's port when the file does not name one. */
#define CR_COORD_PORT 19990

/* Can the coordinator listen at a?  0, or -CR_EINVAL with err saying
 * whose address (a peer's or the tracker's) it would take. */
int cr_experiment_coordinator_check(const struct cr_experiment *e,
				    const cr_addr *a, char *err, size_t errlen);

/* Reads an experiment file.  Returns 0, or -CR_EINVAL / -CR_ENOENT (the
 * file, or a file it names, cannot be read) / -CR_ENOMEM with err holding
 * "FILE:LINE: what is wrong; what is accepted".  On error *out holds
 * nothing (all zero); on success free it with cr_experiment_free. */
int cr_experiment_load(const char *path, struct cr_experiment *out, char *err,
		       size_t errlen);
/* The same, from the file's text in memory (len bytes, NUL bytes in it
 * refused as in a file): `path` names it in messages and is the base of
 * the relative paths in it.  For tests and fuzzing. */
int cr_experiment_load_mem(const char *path, const char *text, size_t len,
			   struct cr_experiment *out, char *err, size_t errlen);
/* Frees what load allocated; safe on an all-zero experiment, and twice. */
void cr_experiment_free(struct cr_experiment *e);

/* The class whose addresses include a, or NULL. */
const struct cr_peer_class *cr_experiment_class_of(const struct cr_experiment *e,
						   const cr_addr *a);
const struct cr_peer_class *cr_experiment_class(const struct cr_experiment *e,
						const char *name);
const struct cr_session_cfg *
cr_experiment_session(const struct cr_experiment *e, uint16_t id);

/* The index of peer a among all the experiment's peers (classes in file
 * order, each in address order): 0, or -CR_ENOENT when no class holds a. */
int cr_experiment_peer_index(const struct cr_experiment *e, const cr_addr *a,
			     size_t *index);

#endif
