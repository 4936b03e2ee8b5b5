/* What the files of the experiment reader share, and nothing else
 * includes: the loader's state, the sections and their keys, and the calls
 * from one file of the reader to another (see experiment.c for which file
 * does what).  The interface of the module is experiment.h.
 */
#ifndef CRYSTAL_EXPERIMENT_INT_H
#define CRYSTAL_EXPERIMENT_INT_H

#include "experiment.h"
/* the engine's bounds and defaults: CR__NODE_BATCH_MAX, CR__TRACKER_* */
#include "../engine/node.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Room for one line: inih's own buffer is smaller (200). */
#define LINE_CAP 512
#define MAX_KEYS 24
#define NO_SECT	 ((size_t)-1)

#define NAME_FORMS "letters, digits, '.', '_' and '-', at most 63 characters"

enum kind { K_EXPERIMENT, K_ALGORITHM, K_CLASS, K_SESSION, K_TRACKER, K__N };

/* The addresses of a class, before its count is known. */
struct range {
	cr_addr first;
	uint64_t size; /* addresses in the range (saturated) */
	bool by_ip; /* the IPs vary, at one port; else the ports, at one IP */
};

/* One [section] of the file. */
struct sect {
	enum kind kind;
	size_t index;		     /* into classes or sessions */
	unsigned line;		     /* of its header */
	unsigned key_line[MAX_KEYS]; /* where each key was set; 0: not set */
	struct range range;	     /* a class's addresses */
	char range_text[LINE_CAP];
};

struct loader {
	struct cr_experiment *e;
	FILE *f;
	unsigned lineno;
	bool continued;		 /* this line continues the value above */
	unsigned hdr_line;	 /* the latest [section] header; 0: none yet */
	unsigned hdr_keys;	 /* keys since it */
	char hdr_name[LINE_CAP]; /* its name, for a section without keys */
	char last_key[LINE_CAP]; /* inih continues this key's value */
	struct sect *secs;
	size_t nsecs, cap_secs, cap_classes, cap_sessions, cap_params;
	size_t cur;	     /* the section keys go to; NO_SECT: none */
	const char *key;     /* the key being set, for messages */
	unsigned stdin_line; /* the session that reads stdin */
	char *err;
	size_t errlen;
	int rc; /* the first error; the rest of the file is not read */
	unsigned err_line;
};

struct key {
	const char *name;
	int (*set)(struct loader *ld, struct sect *s, const struct key *k,
		   const char *v);
	size_t off, width; /* the field set, in the section's struct */
	uint64_t min, max;
	bool required;
	const char *range;	  /* what is accepted, in words */
	const char *const *words; /* for set_word: the values, in enum order */
};

/* The keys of each section, by their index in its table (the index of
 * struct sect's key_line). */
enum {
	EX_NAME,
	EX_DURATION,
	EX_WARMUP,
	EX_BATCH,
	EX_SEED,
	EX_WORKERS,
	EX_ALGORITHM,
	EX_EVENTS,
	EX_TOPOLOGY,
	EX_MATRIX,
	EX_QUEUE,
	EX_MAXMSG,
	EX_MAXCONNS,
	EX_IDLE,
	EX_FRAMETIME,
	EX_PARTIAL,
	EX_ALGO_THREADS,
	EX_COORDINATOR,
	EX__N
};

enum {
	CL_COUNT,
	CL_ADDRESSES,
	CL_UPLOAD,
	CL_DOWNLOAD,
	CL_TOTAL,
	CL_LINK_UP,
	CL_LINK_DOWN,
	CL_DELAY,
	CL_JITTER,
	CL_LOSS,
	CL__N
};

enum { SE_SOURCE, SE_RATE, SE_MSGSIZE, SE_SEGMENT, SE_DATA, SE__N };

enum {
	TR_MODE,
	TR_ADDRESS,
	TR_REPLY,
	TR_LIVENESS,
	TR_INTERVAL,
	TR_TIMEOUT,
	TR_SESSIONS_PER_PEER,
	TR_PEERS_PER_SESSION,
	TR__N
};

/* A kind of section: its name in the header, and its keys. */
struct cr__exp_kind {
	const char *name;
	const struct key *keys;
	size_t nkeys;
};

extern const struct cr__exp_kind cr__exp_kinds[K__N];

/* experiment.c: errors, "FILE:LINE: ..."; only the first one counts. */
__attribute__((format(printf, 4, 5))) int
cr__exp_fail_at(struct loader *ld, unsigned line, int rc, const char *fmt, ...);
/* An error on the line being read. */
__attribute__((format(printf, 3, 4))) int
cr__exp_fail(struct loader *ld, int rc, const char *fmt, ...);
int cr__exp_no_memory(struct loader *ld);

/* experiment-keys.c: names, and sections' names for messages. */
bool cr__exp_valid_name(const char *s);
const char *cr__exp_sect_title(struct loader *ld, const struct sect *s,
			       char *buf, size_t len);

/* experiment-addr.c: class addresses. */
const char *cr__exp_range_parse(const char *t, struct range *r);
int cr__exp_finish_classes(struct loader *ld);

/* experiment-read.c: the INI file, line by line and key by key, for
 * inih's ini_parse_stream. */
char *cr__exp_read_line(char *buf, int num, void *user);
int cr__exp_on_key(void *user, const char *section, const char *name,
		   const char *value);

/* experiment-check.c: after the last line, what only the whole file
 * shows. */
int cr__exp_finish(struct loader *ld);

#endif
