/* Experiment files: the keys of every section, and the parsers of their
 * values (see experiment.c for the other files of the reader).
 *
 * A key is a row of a table: its name, the parser that sets it, the field
 * it sets, its bounds and whether it is required.  A parser takes the
 * value as inih hands it and names, on error, the key, the value and what
 * is accepted.
 */
#include "experiment-int.h"
#include "../core/units.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ADDR_FORMS "a peer address such as 127.0.0.1:20001 or [::1]:20001"
#define NAME_CHARS                                                             \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

#define FIELD(type, m) .off = offsetof(type, m), .width = sizeof(((type *)0)->m)

/* --- errors in a value ---------------------------------------------------- */

/* A value that is not of the key's form. */
static int bad(struct loader *ld, const char *v, const char *accepted)
{
	/* '#' starts a comment only at the start of a line in INI */
	const char *hint = strchr(v, '#') ? " (a comment after a value starts "
					    "with ' ;', not '#')"
					  : "";

	return cr__exp_fail(ld, -CR_EINVAL, "%s '%s': expected %s%s", ld->key,
			    v, accepted, hint);
}

static int out_of_range(struct loader *ld, const char *v, const char *range)
{
	return cr__exp_fail(ld, -CR_EINVAL,
			    "%s '%s' is out of range: expected %s", ld->key, v,
			    range);
}

/* --- helpers -------------------------------------------------------------- */

bool cr__exp_valid_name(const char *s)
{
	size_t n = strlen(s);

	return n && n < CR_NAME_MAX && strspn(s, NAME_CHARS) == n;
}

static void *target(struct loader *ld, const struct sect *s)
{
	switch (s->kind) {
	case K_CLASS:
		return &ld->e->classes[s->index];
	case K_SESSION:
		return &ld->e->sessions[s->index];
	case K_TRACKER:
		return &ld->e->tracker;
	default:
		return ld->e;
	}
}

static void put_uint(void *obj, const struct key *k, uint64_t v)
{
	char *p = (char *)obj + k->off;

	switch (k->width) {
	case 1: {
		uint8_t x = (uint8_t)v;
		memcpy(p, &x, 1);
		break;
	}
	case 2: {
		uint16_t x = (uint16_t)v;
		memcpy(p, &x, 2);
		break;
	}
	case 4: {
		uint32_t x = (uint32_t)v;
		memcpy(p, &x, 4);
		break;
	}
	default:
		memcpy(p, &v, 8);
	}
}

/* A path in the file is relative to the file's own directory. */
static int resolve(struct loader *ld, const char *v, char out[CR_PATH_MAX])
{
	const char *dir = ld->e->dir;
	int n;

	if (!*v)
		return bad(ld, v, "a path");
	if (v[0] == '/' || !strcmp(dir, "."))
		n = snprintf(out, CR_PATH_MAX, "%s", v);
	else
		n = snprintf(out, CR_PATH_MAX, "%s%s%s", dir,
			     dir[strlen(dir) - 1] == '/' ? "" : "/", v);
	if (n < 0 || n >= CR_PATH_MAX)
		return cr__exp_fail(ld, -CR_EINVAL,
				    "%s '%s': the path is too long", ld->key,
				    v);
	return 0;
}

/* Checked now, so that a run does not start only to stop at a typo.  stat,
 * not open: opening a FIFO would wait for a writer. */
static int check_file(struct loader *ld, const char *v, const char *path)
{
	struct stat st;

	if (stat(path, &st) || access(path, R_OK))
		return cr__exp_fail(ld, -CR_ENOENT, "%s '%s': %s: %s", ld->key,
				    v, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cr__exp_fail(ld, -CR_EINVAL,
				    "%s '%s': %s is not a regular file",
				    ld->key, v, path);
	return 0;
}

/* --- setters: one per kind of value --------------------------------------- */

static int set_uint(struct loader *ld, struct sect *s, const struct key *k,
		    const char *v)
{
	char accepted[96];
	uint64_t x;

	if (cr_parse_uint(v, k->max, &x) || x < k->min) {
		if (k->max == UINT64_MAX)
			return bad(ld, v, "a whole number");
		snprintf(accepted, sizeof(accepted),
			 "a whole number from %llu to %llu%s",
			 (unsigned long long)k->min, (unsigned long long)k->max,
			 k->range ? k->range : "");
		return bad(ld, v, accepted);
	}
	put_uint(target(ld, s), k, x);
	return 0;
}

static int set_size(struct loader *ld, struct sect *s, const struct key *k,
		    const char *v)
{
	uint64_t x;

	if (cr_parse_size(v, &x))
		return bad(ld, v, CR_SIZE_FORMS);
	if (x < k->min || x > k->max)
		return out_of_range(ld, v, k->range);
	put_uint(target(ld, s), k, x);
	return 0;
}

static int set_rate(struct loader *ld, struct sect *s, const struct key *k,
		    const char *v)
{
	uint64_t x;

	if (cr_parse_rate(v, &x))
		return bad(ld, v, CR_RATE_FORMS);
	put_uint(target(ld, s), k, x);
	return 0;
}

/* A time; a bare number is in seconds, as on the command line. */
static int set_time(struct loader *ld, struct sect *s, const struct key *k,
		    const char *v)
{
	int64_t t;

	if (cr_parse_time(v, CR_SEC, &t))
		return bad(ld, v, CR_TIME_FORMS);
	if ((uint64_t)t < k->min || (k->max && (uint64_t)t > k->max))
		return out_of_range(ld, v, k->range);
	memcpy((char *)target(ld, s) + k->off, &t, sizeof(t));
	return 0;
}

static int set_prob(struct loader *ld, struct sect *s, const struct key *k,
		    const char *v)
{
	char *end;
	double x = strtod(v, &end);

	if (end == v || *end || !(x >= 0 && x <= 1))
		return bad(ld, v, "a probability from 0 to 1, such as 0.01");
	memcpy((char *)target(ld, s) + k->off, &x, sizeof(x));
	return 0;
}

static int set_addr(struct loader *ld, struct sect *s, const struct key *k,
		    const char *v)
{
	cr_addr a;

	if (cr_addr_parse(&a, v))
		return bad(ld, v, ADDR_FORMS);
	memcpy((char *)target(ld, s) + k->off, &a, sizeof(a));
	return 0;
}

/* One of k->words, stored as its index (the enum's value). */
static int set_word(struct loader *ld, struct sect *s, const struct key *k,
		    const char *v)
{
	char accepted[128] = "";
	size_t i;

	for (i = 0; k->words[i]; i++) {
		if (!strcmp(v, k->words[i])) {
			put_uint(target(ld, s), k, i);
			return 0;
		}
	}
	for (i = 0; k->words[i]; i++)
		snprintf(accepted + strlen(accepted),
			 sizeof(accepted) - strlen(accepted), "%s%s",
			 i ? (k->words[i + 1] ? ", " : " or ") : "",
			 k->words[i]);
	return bad(ld, v, accepted);
}

static int set_name(struct loader *ld, struct sect *s, const struct key *k,
		    const char *v)
{
	if (!cr__exp_valid_name(v))
		return bad(ld, v, NAME_FORMS);
	strcpy((char *)target(ld, s) + k->off, v);
	return 0;
}

/* A file the experiment names: resolved and checked now. */
static int set_path(struct loader *ld, struct sect *s, const struct key *k,
		    const char *v)
{
	char *out = (char *)target(ld, s) + k->off;

	return resolve(ld, v, out) ? ld->rc : check_file(ld, v, out);
}

/* A built-in algorithm's name, or the path of a shared object. */
static int set_algorithm(struct loader *ld, struct sect *s, const struct key *k,
			 const char *v)
{
	size_t n = strlen(v);

	if (strchr(v, '/') || (n > 3 && !strcmp(v + n - 3, ".so")))
		return set_path(ld, s, k, v);
	if (!cr__exp_valid_name(v))
		return bad(ld, v,
			   "an algorithm's name (" NAME_FORMS
			   ") or the path of a shared object (x.so)");
	strcpy(ld->e->algorithm, v);
	return 0;
}

static int set_range(struct loader *ld, struct sect *s, const struct key *k,
		     const char *v)
{
	const char *why = cr__exp_range_parse(v, &s->range);

	if (why)
		return cr__exp_fail(ld, -CR_EINVAL, "%s '%s': %s", ld->key, v,
				    why);
	snprintf(s->range_text, sizeof(s->range_text), "%s", v);
	return 0;
}

static int set_data(struct loader *ld, struct sect *s, const struct key *k,
		    const char *v)
{
	struct cr_session_cfg *ss = target(ld, s);
	const char *path = NULL;

	if (!strcmp(v, "random")) {
		ss->data = CR_DATA_RANDOM;
	} else if (!strcmp(v, "stdin")) {
		if (ld->stdin_line)
			return cr__exp_fail(
			    ld, -CR_EINVAL,
			    "data 'stdin': a session at line %u reads "
			    "stdin already, and only one may",
			    ld->stdin_line);
		ss->data = CR_DATA_STDIN;
		ld->stdin_line = s->line;
	} else if (!strncmp(v, "file:", 5)) {
		ss->data = CR_DATA_FILE;
		path = v + 5;
	} else if (!strncmp(v, "file-loop:", 10)) {
		ss->data = CR_DATA_FILE_LOOP;
		path = v + 10;
	} else {
		return bad(ld, v, "random, stdin, file:PATH or file-loop:PATH");
	}
	if (!path)
		return 0;
	if (!*path)
		return bad(ld, v, "file:PATH or file-loop:PATH with a path");
	if (resolve(ld, path, ss->path))
		return ld->rc;
	return check_file(ld, v, ss->path);
}

/* --- the sections and their keys ------------------------------------------ */

#define EXP struct cr_experiment
static const struct key experiment_keys[EX__N] = {
    [EX_NAME] = {"name", set_name, FIELD(EXP, name), .required = true},
    [EX_DURATION] = {"duration", set_time, FIELD(EXP, duration_ns), .min = 1,
		     .required = true, .range = "a time above 0"},
    [EX_WARMUP] = {"warmup", set_time, FIELD(EXP, warmup_ns)},
    [EX_BATCH] = {"batch", set_time, FIELD(EXP, batch_ns),
		  .max = CR__NODE_BATCH_MAX,
		  .range = "a time from 0 to 100ms"},
    [EX_SEED] = {"seed", set_uint, FIELD(EXP, seed), .max = UINT64_MAX},
    [EX_WORKERS] = {"workers", set_uint, FIELD(EXP, workers), .max = 256,
		    .range = " (0: one per core)"},
    [EX_ALGORITHM] = {"algorithm", set_algorithm, FIELD(EXP, algorithm)},
    [EX_EVENTS] = {"events", set_path, FIELD(EXP, events_path)},
    [EX_TOPOLOGY] = {"topology", set_path, FIELD(EXP, topology_path)},
    [EX_MATRIX] = {"latency_matrix", set_path, FIELD(EXP, matrix_path)},
    [EX_QUEUE] = {"queue_limit", set_size, FIELD(EXP, queue_limit), .min = 4096,
		  .max = UINT64_MAX, .range = "at least 4KiB (4096 bytes)"},
    [EX_MAXMSG] = {"max_message", set_size, FIELD(EXP, max_message), .min = 64,
		   .max = 1u << 30, .range = "64 bytes to 1GiB"},
    [EX_MAXCONNS] = {"max_connections", set_uint, FIELD(EXP, max_connections),
		     .max = UINT32_MAX,
		     .range = " (0: twice the experiment's peers, plus 64)"},
    [EX_IDLE] = {"idle_timeout", set_time, FIELD(EXP, idle_timeout_ns)},
    [EX_FRAMETIME] = {"frame_timeout", set_time, FIELD(EXP, frame_timeout_ns)},
    [EX_PARTIAL] = {"partial_frames_limit", set_size, FIELD(EXP, partial_limit),
		    .max = UINT64_MAX, .range = "a size (0: 256MiB)"},
    [EX_ALGO_THREADS] = {"algorithm_threads", set_uint,
			 FIELD(EXP, algorithm_threads), .max = 1024,
			 .range = " (0: one per core)"},
    [EX_COORDINATOR] = {"coordinator", set_addr, FIELD(EXP, coordinator)},
};

#define CLS struct cr_peer_class
static const struct key class_keys[CL__N] = {
    [CL_COUNT] = {"count", set_uint, FIELD(CLS, count), .min = 1,
		  .max = CR_CLASS_MAX_PEERS, .required = true},
    [CL_ADDRESSES] = {"addresses", set_range, .required = true},
    [CL_UPLOAD] = {"upload", set_rate, FIELD(CLS, limits.upload_Bps)},
    [CL_DOWNLOAD] = {"download", set_rate, FIELD(CLS, limits.download_Bps)},
    [CL_TOTAL] = {"total", set_rate, FIELD(CLS, limits.total_Bps)},
    [CL_LINK_UP] = {"link_upload", set_rate,
		    FIELD(CLS, limits.link_upload_Bps)},
    [CL_LINK_DOWN] = {"link_download", set_rate,
		      FIELD(CLS, limits.link_download_Bps)},
    [CL_DELAY] = {"delay", set_time, FIELD(CLS, limits.access_delay_ns)},
    [CL_JITTER] = {"jitter", set_time, FIELD(CLS, limits.jitter_ns)},
    [CL_LOSS] = {"loss", set_prob, FIELD(CLS, limits.loss)},
};

#define SES struct cr_session_cfg
static const struct key session_keys[SE__N] = {
    [SE_SOURCE] = {"source", set_addr, FIELD(SES, source), .required = true},
    [SE_RATE] = {"rate", set_rate, FIELD(SES, rate_Bps)},
    [SE_MSGSIZE] = {"message_size", set_size, FIELD(SES, message_size),
		    .min = 1, .max = 16u << 20, .range = "1 byte to 16MiB"},
    [SE_SEGMENT] = {"segment", set_time, FIELD(SES, segment_ns), .min = 1,
		    .range = "a time above 0"},
    [SE_DATA] = {.name = "data", .set = set_data},
};

static const char *const mode_words[] = {"none", "inproc", "external", NULL};
static const char *const liveness_words[] = {"report", "probe", NULL};

#define TRK struct cr_tracker_cfg
static const struct key tracker_keys[TR__N] = {
    [TR_MODE] = {"mode", set_word, FIELD(TRK, mode), .words = mode_words},
    [TR_ADDRESS] = {"address", set_addr, FIELD(TRK, addr)},
    [TR_REPLY] = {"peers_per_reply", set_uint, FIELD(TRK, reply_peers),
		  .min = 1, .max = 1000},
    [TR_LIVENESS] = {"liveness", set_word, FIELD(TRK, liveness),
		     .words = liveness_words},
    [TR_INTERVAL] = {"interval", set_time, FIELD(TRK, interval_ns), .min = 1,
		     .range = "a time above 0"},
    [TR_TIMEOUT] = {"timeout", set_time, FIELD(TRK, timeout_ns), .min = 1,
		    .range = "a time above 0"},
    [TR_SESSIONS_PER_PEER] = {"max_sessions_per_peer", set_uint,
			      FIELD(TRK, max_sessions_per_peer), .min = 1,
			      .max = 65536},
    [TR_PEERS_PER_SESSION] = {"max_peers_per_session", set_uint,
			      FIELD(TRK, max_peers_per_session), .min = 1,
			      .max = UINT32_MAX},
};

const struct cr__exp_kind cr__exp_kinds[K__N] = {
    [K_EXPERIMENT] = {"experiment", experiment_keys, EX__N},
    [K_ALGORITHM] = {"algorithm", NULL, 0},
    [K_CLASS] = {"class", class_keys, CL__N},
    [K_SESSION] = {"session", session_keys, SE__N},
    [K_TRACKER] = {"tracker", tracker_keys, TR__N},
};

_Static_assert(EX__N <= MAX_KEYS && CL__N <= MAX_KEYS && SE__N <= MAX_KEYS &&
		   TR__N <= MAX_KEYS,
	       "struct sect has room for every key");

/* "[class dsl]", for messages. */
const char *cr__exp_sect_title(struct loader *ld, const struct sect *s,
			       char *buf, size_t len)
{
	if (s->kind == K_CLASS)
		snprintf(buf, len, "[class %s]", ld->e->classes[s->index].name);
	else if (s->kind == K_SESSION)
		snprintf(buf, len, "[session %u]",
			 ld->e->sessions[s->index].id);
	else
		snprintf(buf, len, "[%s]", cr__exp_kinds[s->kind].name);
	return buf;
}
