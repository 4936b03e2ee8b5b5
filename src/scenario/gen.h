/* Events-file generation: peer dynamics drawn from distributions, as the
 * Crystal paper's generator scripts do (§III.B.3), for `crystal gen-events`
 * (see docs/generating-events.md).
 *
 * One source is born at 0, deploys its session at 0 and terminates it at
 * the end.  Peers are born as a Poisson process (or all within a flash
 * crowd's first seconds), join the session after a Weibull delay, and stay
 * for a Weibull or log-normal lifetime, or to the end.  Every draw comes
 * from GSL, with mt19937 generators seeded from one seed, so the same
 * parameters give the same events on every machine.
 */
#ifndef CRYSTAL_GEN_H
#define CRYSTAL_GEN_H

#include "events.h"

#include <stdio.h>

#define CR_GEN_LIFETIME_FORMS                                                  \
	"none, weibull:K,SCALE (shape K > 0, scale a time such as 300 or "     \
	"5ms) or lognormal:MU,SIGMA (of the log of seconds, SIGMA > 0)"

enum cr_gen_life {
	CR_GEN_LIFE_NONE = 0, /* every peer stays to the end */
	CR_GEN_LIFE_WEIBULL,
	CR_GEN_LIFE_LOGNORMAL,
};

/* A peer's lifetime: from its join to its leave. */
struct cr_gen_lifetime {
	enum cr_gen_life kind;
	double shape;	  /* Weibull k */
	int64_t scale_ns; /* Weibull λ */
	double mu;	  /* log-normal: mean of ln(lifetime in seconds) */
	double sigma;	  /* log-normal: its standard deviation */
};

/* A class of peers, by name, and the share of the peers it gets. */
struct cr_gen_class {
	const char *name;
	double fraction;
};

struct cr_gen_params {
	uint64_t peers;	     /* 0 with an experiment: all of its addresses */
	int64_t duration_ns; /* 0 with an experiment: its duration */
	uint64_t seed;
	double arrival_per_s; /* λ of the births; 0: peers / (duration / 2) */
	int64_t flash_crowd_ns; /* > 0: births uniform in [0, this) instead */
	double join_shape;	/* Weibull k of the delay from birth to join */
	int64_t join_scale_ns;	/* its λ */
	struct cr_gen_lifetime lifetime;
	int64_t die_after_ns; /* from a leave before the end to the die */
	/* Classes by fraction, summing to 1: each peer's class an
	 * independent draw.  None: no class labels, or with an experiment
	 * all of its classes, each peer taking an address drawn without
	 * replacement from all of theirs. */
	const struct cr_gen_class *classes;
	size_t nclasses;
	/* With an experiment, peers take the addresses of its classes (in
	 * order, never a source's or the tracker's) and the session's source;
	 * without, they take the ports after the source's, one each. */
	const struct cr_experiment *exp;
	uint16_t session;  /* with an experiment, 0: its first session */
	cr_addr source;	   /* without an experiment */
	uint64_t rate_Bps; /* deploy rate=; 0: left out (the session's) */
};

/* What a class got. */
struct cr_gen_class_count {
	char name[CR_NAME_MAX];
	double weight;	/* its fraction, or its addresses (weights sum to
			 * anything: they are shares) */
	size_t addrs;	/* addresses it offers; 0 when it only labels */
	uint64_t peers; /* peers placed in it */
};

struct cr_gen_result {
	struct cr_event *events; /* sorted by time, stable */
	size_t nevents;
	/* The parameters as used, after defaults. */
	uint64_t peers;
	int64_t duration_ns; /* whole microseconds */
	double arrival_per_s;
	uint16_t session;
	cr_addr source;
	struct cr_gen_class_count *classes;
	size_t nclasses;
	/* How the peers fared within the duration. */
	uint64_t born, joined, left, died;
	uint64_t moved; /* peers placed in another class: theirs was full */
};

/* Sensible values for everything: seed 1, joins Weibull(1.5, 2 s), no
 * lifetimes, die 1 s after a leave, session 1 from 127.0.0.1:20000.
 * peers and duration_ns are left 0: the caller sets them. */
void cr_gen_defaults(struct cr_gen_params *p);

/* Parses none | weibull:K,SCALE | lognormal:MU,SIGMA (CR_GEN_LIFETIME_FORMS).
 * Returns 0 or -CR_EINVAL. */
int cr_gen_parse_lifetime(const char *text, struct cr_gen_lifetime *out);

/* Draws the events.  Returns 0, -CR_EINVAL with err saying what is wrong
 * in terms of gen-events' options and what is accepted, or -CR_ENOMEM.
 * Free the result with cr_gen_result_free, whatever the return. */
int cr_gen_events(const struct cr_gen_params *p, struct cr_gen_result *out,
		  char *err, size_t errlen);
void cr_gen_result_free(struct cr_gen_result *r);

/* Writes the events file: a header of comments (the command line when
 * command is not NULL, the seed, the distributions, the counts) and one
 * line per event, times as seconds with 6 decimals.  Returns 0 or
 * -CR_EIO. */
int cr_gen_write(FILE *f, const struct cr_gen_params *p,
		 const struct cr_gen_result *r, const char *command);

#endif
