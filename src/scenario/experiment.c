/* Experiment files: the INI description of a whole run (the format, key by
 * key, is in docs/experiment-format.md).
 *
 * inih reads the INI syntax; this file gives sections and keys their
 * meaning.  Debian's inih passes no line number to the handler and says
 * nothing of a section without keys, so the file reaches inih through our
 * own reader: it counts lines, notes each [section] header, and refuses
 * what inih would otherwise take apart quietly (a line longer than inih's
 * buffer, which it would split in two; a NUL byte, which would hide the
 * rest of the line; an indented line, which it would glue to the value
 * above).  The first error ends the parse, and a failed load returns
 * nothing.
 */
#include "experiment.h"
#include "../node.h"
#include "../core/units.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* inih keeps this many characters of a section name and drops the rest. */
#define INI_SECTION_MAX 49
/* Room for one line: inih's own buffer is smaller (200). */
#define LINE_CAP 512
#define MAX_KEYS 24
#define NO_SECT	 ((size_t)-1)

#define RANGE_FORMS                                                            \
	"a range such as 127.0.0.1:20001-20500 (ports on one IP), "            \
	"127.0.1.1-127.0.1.250:9000 (IPs, one port), [::1]:20001-20010 or "    \
	"[fd00::1-fd00::ff]:9000"
#define ADDR_FORMS "a peer address such as 127.0.0.1:20001 or [::1]:20001"
#define NAME_FORMS "letters, digits, '.', '_' and '-', at most 63 characters"
#define NAME_CHARS                                                             \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

enum kind { K_EXPERIMENT, K_ALGORITHM, K_CLASS, K_SESSION, K_TRACKER };

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

#define FIELD(type, m) .off = offsetof(type, m), .width = sizeof(((type *)0)->m)

/* --- errors --------------------------------------------------------------- */

static int vfail_at(struct loader *ld, unsigned line, int rc, const char *fmt,
		    va_list ap)
{
	int n;

	if (ld->rc)
		return ld->rc;
	n = snprintf(ld->err, ld->errlen, "%s:%u: ", ld->e->path, line);
	if (n >= 0 && (size_t)n < ld->errlen)
		vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
	ld->rc = rc;
	ld->err_line = line;
	return rc;
}

__attribute__((format(printf, 4, 5))) static int
fail_at(struct loader *ld, unsigned line, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = vfail_at(ld, line, rc, fmt, ap);
	va_end(ap);
	return rc;
}

/* An error on the line being read. */
__attribute__((format(printf, 3, 4))) static int fail(struct loader *ld, int rc,
						      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = vfail_at(ld, ld->lineno, rc, fmt, ap);
	va_end(ap);
	return rc;
}

/* A value that is not of the key's form. */
static int bad(struct loader *ld, const char *v, const char *accepted)
{
	/* '#' starts a comment only at the start of a line in INI */
	const char *hint = strchr(v, '#') ? " (a comment after a value starts "
					    "with ' ;', not '#')"
					  : "";

	return fail(ld, -CR_EINVAL, "%s '%s': expected %s%s", ld->key, v,
		    accepted, hint);
}

static int out_of_range(struct loader *ld, const char *v, const char *range)
{
	return fail(ld, -CR_EINVAL, "%s '%s' is out of range: expected %s",
		    ld->key, v, range);
}

static int no_memory(struct loader *ld)
{
	return fail(ld, -CR_ENOMEM, "out of memory");
}

/* --- helpers -------------------------------------------------------------- */

/* Makes room for one more element in *v, which holds n of them. */
static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 8;
	void *nv;

	if (n < *cap)
		return 0;
	nv = realloc(*v, c * size);
	if (!nv)
		return -CR_ENOMEM;
	*v = nv;
	*cap = c;
	return 0;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	return n && n < CR_NAME_MAX && strspn(s, NAME_CHARS) == n;
}

static int addr_cmp(const cr_addr *a, const cr_addr *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->ip, b->ip, a->family == 6 ? 16 : 4);
	if (c)
		return c;
	return (a->port > b->port) - (a->port < b->port);
}

static const char *addr_str(const cr_addr *a, char buf[CR_ADDR_STRLEN])
{
	return cr_addr_format(a, buf, CR_ADDR_STRLEN);
}

static double seconds(int64_t ns)
{
	return (double)ns / CR_SEC;
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
		return fail(ld, -CR_EINVAL, "%s '%s': the path is too long",
			    ld->key, v);
	return 0;
}

/* Checked now, so that a run does not start only to stop at a typo.  stat,
 * not open: opening a FIFO would wait for a writer. */
static int check_file(struct loader *ld, const char *v, const char *path)
{
	struct stat st;

	if (stat(path, &st) || access(path, R_OK))
		return fail(ld, -CR_ENOENT, "%s '%s': %s: %s", ld->key, v, path,
			    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(ld, -CR_EINVAL, "%s '%s': %s is not a regular file",
			    ld->key, v, path);
	return 0;
}

/* --- address ranges ------------------------------------------------------- */

/* Addresses from a to b, both included, saturated at UINT64_MAX. */
static uint64_t ip_span(const cr_addr *a, const cr_addr *b)
{
	size_t n = a->family == 6 ? 16 : 4;
	uint8_t d[16];
	uint64_t v = 0;
	int borrow = 0;

	for (size_t i = n; i-- > 0;) {
		int x = b->ip[i] - a->ip[i] - borrow;
		borrow = x < 0;
		d[i] = (uint8_t)(x + (borrow ? 256 : 0));
	}
	for (size_t i = 0; i < n; i++) {
		if (v >> 56)
			return UINT64_MAX;
		v = v << 8 | d[i];
	}
	return v == UINT64_MAX ? v : v + 1;
}

static void ip_add(cr_addr *a, uint64_t k)
{
	size_t n = a->family == 6 ? 16 : 4;

	for (size_t i = n; i-- > 0 && k;) {
		unsigned x = a->ip[i] + (unsigned)(k & 0xff);
		a->ip[i] = (uint8_t)x;
		k = (k >> 8) + (x >> 8);
	}
}

/* Splits "HOST:PORTS" or "[HOST]:PORTS" into its two parts. */
static bool range_split(const char *t, char *host, char *ports, size_t cap)
{
	const char *end, *p;

	if (t[0] == '[') {
		end = strchr(t, ']');
		if (!end || end[1] != ':')
			return false;
		t++;
		p = end + 2;
	} else {
		end = strrchr(t, ':');
		if (!end)
			return false;
		p = end + 1;
	}
	if ((size_t)(end - t) >= cap || strlen(p) >= cap)
		return false;
	memcpy(host, t, (size_t)(end - t));
	host[end - t] = 0;
	strcpy(ports, p);
	return true;
}

static int parse_end(cr_addr *a, bool v6, const char *host, const char *port)
{
	char buf[LINE_CAP];

	snprintf(buf, sizeof(buf), v6 ? "[%s]:%s" : "%s:%s", host, port);
	return cr_addr_parse(a, buf);
}

/* Parses a range; NULL, or what is wrong with it. */
static const char *range_parse(const char *t, struct range *r)
{
	char host[LINE_CAP], ports[LINE_CAP], *hi_ip, *hi_port;
	bool v6 = t[0] == '[';
	cr_addr last;

	if (!range_split(t, host, ports, sizeof(host)))
		return "expected " RANGE_FORMS;
	hi_ip = strchr(host, '-');
	hi_port = strchr(ports, '-');
	if (hi_ip && hi_port)
		return "a range spans the IPs or the ports, not both";
	if (hi_ip)
		*hi_ip++ = 0;
	if (hi_port)
		*hi_port++ = 0;
	if (parse_end(&r->first, v6, host, ports))
		return "expected " RANGE_FORMS;
	r->size = 1;
	r->by_ip = hi_ip != NULL;
	if (hi_ip) {
		if (parse_end(&last, v6, hi_ip, ports))
			return "expected " RANGE_FORMS;
		if (addr_cmp(&last, &r->first) < 0)
			return "the range runs backwards";
		r->size = ip_span(&r->first, &last);
	} else if (hi_port) {
		if (parse_end(&last, v6, host, hi_port))
			return "expected " RANGE_FORMS;
		if (last.port < r->first.port)
			return "the range runs backwards";
		r->size = (uint64_t)(last.port - r->first.port) + 1;
	}
	return NULL;
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
	if (!valid_name(v))
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
	if (!valid_name(v))
		return bad(ld, v,
			   "an algorithm's name (" NAME_FORMS
			   ") or the path of a shared object (x.so)");
	strcpy(ld->e->algorithm, v);
	return 0;
}

static int set_range(struct loader *ld, struct sect *s, const struct key *k,
		     const char *v)
{
	const char *why = range_parse(v, &s->range);

	if (why)
		return fail(ld, -CR_EINVAL, "%s '%s': %s", ld->key, v, why);
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
			return fail(ld, -CR_EINVAL,
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
	EX__N
};

#define EXP struct cr_experiment
static const struct key experiment_keys[EX__N] = {
    [EX_NAME] = {"name", set_name, FIELD(EXP, name), .required = true},
    [EX_DURATION] = {"duration", set_time, FIELD(EXP, duration_ns), .min = 1,
		     .required = true, .range = "a time above 0"},
    [EX_WARMUP] = {"warmup", set_time, FIELD(EXP, warmup_ns)},
    [EX_BATCH] = {"batch", set_time, FIELD(EXP, batch_ns),
		  .max = CR__SHAPE_BATCH_MAX, .range = "a time from 0 to 100ms"},
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

enum { SE_SOURCE, SE_RATE, SE_MSGSIZE, SE_SEGMENT, SE_DATA, SE__N };

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

static const struct {
	const char *name;
	const struct key *keys;
	size_t nkeys;
} kinds[] = {
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
static const char *sect_title(struct loader *ld, const struct sect *s,
			      char *buf, size_t len)
{
	if (s->kind == K_CLASS)
		snprintf(buf, len, "[class %s]", ld->e->classes[s->index].name);
	else if (s->kind == K_SESSION)
		snprintf(buf, len, "[session %u]",
			 ld->e->sessions[s->index].id);
	else
		snprintf(buf, len, "[%s]", kinds[s->kind].name);
	return buf;
}

/* --- opening a section ---------------------------------------------------- */

/* The same section given twice: 0, or the line it was first at. */
static unsigned seen_before(struct loader *ld, enum kind k, const char *arg)
{
	for (size_t i = 0; i < ld->nsecs; i++) {
		const struct sect *s = &ld->secs[i];
		bool same = s->kind == k;
		uint64_t id;

		if (same && k == K_CLASS)
			same = !strcmp(ld->e->classes[s->index].name, arg);
		else if (same && k == K_SESSION)
			same = !cr_parse_uint(arg, 65535, &id) &&
			       ld->e->sessions[s->index].id == id;
		if (same)
			return s->line;
	}
	return 0;
}

static int add_class(struct loader *ld, unsigned line, const char *name,
		     size_t *index)
{
	struct cr_experiment *e = ld->e;

	if (!valid_name(name))
		return fail_at(ld, line, -CR_EINVAL,
			       "class name '%s': expected " NAME_FORMS, name);
	if (grow((void **)&e->classes, &ld->cap_classes, e->nclasses,
		 sizeof(*e->classes)))
		return no_memory(ld);
	*index = e->nclasses++;
	memset(&e->classes[*index], 0, sizeof(e->classes[0]));
	strcpy(e->classes[*index].name, name);
	e->classes[*index].line = line;
	return 0;
}

static int add_session(struct loader *ld, unsigned line, const char *id,
		       size_t *index)
{
	struct cr_experiment *e = ld->e;
	struct cr_session_cfg *s;
	uint64_t v;

	if (cr_parse_uint(id, 65535, &v) || !v)
		return fail_at(ld, line, -CR_EINVAL,
			       "session ID '%s': expected a whole number "
			       "from 1 to 65535",
			       id);
	if (grow((void **)&e->sessions, &ld->cap_sessions, e->nsessions,
		 sizeof(*e->sessions)))
		return no_memory(ld);
	*index = e->nsessions++;
	s = &e->sessions[*index];
	*s = (struct cr_session_cfg){
	    .id = (uint16_t)v,
	    .message_size = 1024,
	    .segment_ns = CR_SEC,
	    .data = CR_DATA_RANDOM,
	    .line = line,
	};
	return 0;
}

/* "class dsl" -> K_CLASS and "dsl". */
static int section_kind(struct loader *ld, unsigned line, char *name,
			enum kind *k, char **arg)
{
	char *end = name + strlen(name);

	while (end > name && isspace((unsigned char)end[-1]))
		*--end = 0;
	while (isspace((unsigned char)*name))
		name++;
	*arg = name + strcspn(name, " \t");
	if (**arg) {
		*(*arg)++ = 0;
		*arg += strspn(*arg, " \t");
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		bool named = i == K_CLASS || i == K_SESSION;

		if (strcmp(name, kinds[i].name) || named != (**arg != 0))
			continue;
		*k = (enum kind)i;
		return 0;
	}
	if (!strcmp(name, "class") || !strcmp(name, "session"))
		return fail_at(ld, line, -CR_EINVAL,
			       "[%s] needs %s, as in [class dsl] or "
			       "[session 1]",
			       name, name[0] == 'c' ? "a name" : "an ID");
	return fail_at(ld, line, -CR_EINVAL,
		       "unknown section [%s%s%s]; accepted: [experiment], "
		       "[algorithm], [class NAME], [session ID], [tracker]",
		       name, **arg ? " " : "", *arg);
}

/* Starts section `title` (a header at `line`): keys go to it from now on. */
static int open_section(struct loader *ld, unsigned line, const char *title)
{
	char name[LINE_CAP], *arg;
	struct sect s = {.line = line};
	unsigned first;

	snprintf(name, sizeof(name), "%s", title);
	if (section_kind(ld, line, name, &s.kind, &arg))
		return ld->rc;
	first = seen_before(ld, s.kind, arg);
	if (first)
		return fail_at(ld, line, -CR_EINVAL,
			       "section [%s%s%s] is given twice, first at line "
			       "%u",
			       kinds[s.kind].name, *arg ? " " : "", arg, first);
	if (s.kind == K_CLASS && add_class(ld, line, arg, &s.index))
		return ld->rc;
	if (s.kind == K_SESSION && add_session(ld, line, arg, &s.index))
		return ld->rc;
	if (grow((void **)&ld->secs, &ld->cap_secs, ld->nsecs,
		 sizeof(*ld->secs)))
		return no_memory(ld);
	ld->cur = ld->nsecs;
	ld->secs[ld->nsecs++] = s;
	return 0;
}

/* --- keys ----------------------------------------------------------------- */

static int add_param(struct loader *ld, const char *name, const char *v)
{
	struct cr_experiment *e = ld->e;
	struct cr_param_kv *p;

	if (!*name || strlen(name) >= CR_NAME_MAX)
		return fail(ld, -CR_EINVAL,
			    "parameter name '%s': expected 1 to %d characters",
			    name, CR_NAME_MAX - 1);
	if (strlen(v) >= sizeof(p->value))
		return fail(ld, -CR_EINVAL,
			    "parameter %s: the value is longer than %zu "
			    "characters",
			    name, sizeof(p->value) - 1);
	for (size_t i = 0; i < e->nparams; i++)
		if (!strcmp(e->params[i].name, name))
			return fail(ld, -CR_EINVAL,
				    "parameter '%s' is already set at line %u",
				    name, e->params[i].line);
	if (grow((void **)&e->params, &ld->cap_params, e->nparams,
		 sizeof(*e->params)))
		return no_memory(ld);
	p = &e->params[e->nparams++];
	strcpy(p->name, name);
	strcpy(p->value, v);
	p->line = ld->lineno;
	return 0;
}

static int unknown_key(struct loader *ld, const struct sect *s,
		       const char *name)
{
	char title[CR_NAME_MAX + 16], accepted[256] = "";
	size_t n = kinds[s->kind].nkeys;

	for (size_t i = 0; i < n; i++)
		snprintf(accepted + strlen(accepted),
			 sizeof(accepted) - strlen(accepted), "%s%s",
			 i ? ", " : "", kinds[s->kind].keys[i].name);
	return fail(ld, -CR_EINVAL, "unknown key '%s' in %s; accepted: %s",
		    name, sect_title(ld, s, title, sizeof(title)), accepted);
}

static int set_key(struct loader *ld, struct sect *s, const char *name,
		   const char *v)
{
	const struct key *keys = kinds[s->kind].keys;

	if (s->kind == K_ALGORITHM)
		return add_param(ld, name, v);
	for (size_t i = 0; i < kinds[s->kind].nkeys; i++) {
		if (strcmp(keys[i].name, name))
			continue;
		if (s->key_line[i])
			return fail(ld, -CR_EINVAL,
				    "'%s' is already set at line %u", name,
				    s->key_line[i]);
		s->key_line[i] = ld->lineno;
		ld->key = name;
		return keys[i].set(ld, s, &keys[i], v);
	}
	return unknown_key(ld, s, name);
}

/* inih's handler: returns nonzero to go on. */
static int on_key(void *user, const char *section, const char *name,
		  const char *value)
{
	struct loader *ld = user;

	ld->hdr_keys++;
	if (ld->rc)
		return 0;
	if (ld->continued)
		return !fail(ld, -CR_EINVAL,
			     "an indented line continues the value of '%s' "
			     "above; a value is one line: start this one at "
			     "the margin, or make it a comment",
			     ld->last_key);
	snprintf(ld->last_key, sizeof(ld->last_key), "%s", name);
	if (!ld->hdr_line)
		return !fail(ld, -CR_EINVAL,
			     "'%s' is outside any section; keys go under a "
			     "[section] header such as [experiment]",
			     name);
	if (ld->cur == NO_SECT || ld->secs[ld->cur].line != ld->hdr_line)
		if (open_section(ld, ld->hdr_line, section))
			return 0;
	return !set_key(ld, &ld->secs[ld->cur], name, value);
}

/* --- the reader ----------------------------------------------------------- */

/* inih calls the handler only for keys: a section without any is opened
 * here, when the next header or the end of the file shows it was empty. */
static void end_header(struct loader *ld)
{
	if (!ld->rc && ld->hdr_line && !ld->hdr_keys)
		open_section(ld, ld->hdr_line, ld->hdr_name);
}

/* A header without its ']' is inih's error to report, and inih leaves the
 * keys after it in the section before: so does this. */
static void new_header(struct loader *ld, const char *s)
{
	size_t n = strcspn(s + 1, "]");

	if (s[1 + n] != ']')
		return;
	end_header(ld);
	ld->hdr_line = ld->lineno;
	ld->hdr_keys = 0;
	ld->last_key[0] = 0;
	snprintf(ld->hdr_name, sizeof(ld->hdr_name), "%.*s", (int)n, s + 1);
	if (n > INI_SECTION_MAX)
		fail(ld, -CR_EINVAL,
		     "a section name of %zu characters; at most %d are "
		     "accepted",
		     n, INI_SECTION_MAX);
}

/* Reads one line as fgets would: 1, or 0 at the end of the file, or a
 * negative error on what fgets would split (a line too long for buf) or
 * hide (a NUL byte). */
static int get_line(struct loader *ld, char *buf, int num)
{
	size_t n = 0;
	int c = 0;

	while (n + 1 < (size_t)num && (c = getc(ld->f)) != EOF) {
		buf[n++] = (char)c;
		if (c == '\n')
			break;
	}
	if (!n)
		return ferror(ld->f) ? fail(ld, -CR_EINVAL, "cannot read: %s",
					    strerror(errno))
				     : 0;
	buf[n] = 0;
	ld->lineno++;
	if (buf[n - 1] != '\n' && c != EOF) {
		c = getc(ld->f);
		if (c != '\n' && c != EOF)
			return fail(ld, -CR_EINVAL,
				    "the line is longer than %d characters, "
				    "the most the INI reader takes",
				    num - 1);
	}
	if (memchr(buf, 0, n))
		return fail(ld, -CR_EINVAL,
			    "a NUL byte: an experiment file is text");
	return 1;
}

static char *read_line(char *buf, int num, void *user)
{
	struct loader *ld = user;
	char *s;

	if (ld->rc || get_line(ld, buf, num) <= 0) {
		end_header(ld);
		return NULL;
	}
	if (ld->lineno == 1 && !strncmp(buf, "\xEF\xBB\xBF", 3))
		memmove(buf, buf + 3, strlen(buf + 3) + 1);
	/* what inih will make of the line, by its own rules */
	for (s = buf; isspace((unsigned char)*s); s++)
		;
	ld->continued = false;
	if (!*s || *s == ';' || *s == '#')
		return buf;
	if (s > buf && ld->last_key[0])
		ld->continued = true;
	else if (*s == '[')
		new_header(ld, s);
	return ld->rc ? NULL : buf;
}

/* --- after the last line -------------------------------------------------- */

static const struct sect *find_sect(struct loader *ld, enum kind k)
{
	for (size_t i = 0; i < ld->nsecs; i++)
		if (ld->secs[i].kind == k)
			return &ld->secs[i];
	return NULL;
}

static int check_required(struct loader *ld)
{
	char title[CR_NAME_MAX + 16];
	unsigned eof = ld->lineno ? ld->lineno : 1;

	for (size_t i = 0; i < ld->nsecs; i++) {
		const struct sect *s = &ld->secs[i];
		for (size_t k = 0; k < kinds[s->kind].nkeys; k++)
			if (kinds[s->kind].keys[k].required && !s->key_line[k])
				return fail_at(
				    ld, s->line, -CR_EINVAL,
				    "%s has no '%s', which is required",
				    sect_title(ld, s, title, sizeof(title)),
				    kinds[s->kind].keys[k].name);
	}
	if (!find_sect(ld, K_EXPERIMENT))
		return fail_at(ld, eof, -CR_EINVAL,
			       "no [experiment] section: it gives at least "
			       "the name and the duration");
	if (!ld->e->nclasses)
		return fail_at(ld, eof, -CR_EINVAL,
			       "no [class NAME] section: the peers are in "
			       "classes, with a count and addresses");
	return 0;
}

static int finish_experiment(struct loader *ld)
{
	const struct sect *s = find_sect(ld, K_EXPERIMENT);
	const struct cr_experiment *e = ld->e;

	if (e->warmup_ns >= e->duration_ns)
		return fail_at(ld, s->key_line[EX_WARMUP], -CR_EINVAL,
			       "warmup (%g s) must be shorter than the "
			       "duration (%g s, line %u)",
			       seconds(e->warmup_ns), seconds(e->duration_ns),
			       s->key_line[EX_DURATION]);
	return 0;
}

/* The first `count` addresses of the class's range. */
static int expand_class(struct loader *ld, const struct sect *s)
{
	struct cr_peer_class *c = &ld->e->classes[s->index];

	if (s->range.size < c->count)
		return fail_at(
		    ld, s->key_line[CL_ADDRESSES], -CR_EINVAL,
		    "class %s: %s holds %llu addresses, count is %zu", c->name,
		    s->range_text, (unsigned long long)s->range.size, c->count);
	if (c->count > CR_EXPERIMENT_MAX_PEERS - ld->e->npeers)
		return fail_at(ld, s->key_line[CL_COUNT], -CR_EINVAL,
			       "class %s: count %zu makes %zu peers with the "
			       "classes before it; an experiment has at most "
			       "%d",
			       c->name, c->count, ld->e->npeers + c->count,
			       CR_EXPERIMENT_MAX_PEERS);
	c->addrs = malloc(c->count * sizeof(*c->addrs));
	if (!c->addrs)
		return fail_at(ld, s->line, -CR_ENOMEM, "out of memory");
	for (size_t i = 0; i < c->count; i++) {
		c->addrs[i] = s->range.first;
		if (s->range.by_ip)
			ip_add(&c->addrs[i], i);
		else
			c->addrs[i].port = (uint16_t)(s->range.first.port + i);
	}
	c->first = ld->e->npeers;
	ld->e->npeers += c->count;
	return 0;
}

/* A class's addresses are one IP with a span of ports, or a span of IPs
 * with one port: a rectangle in (IP, port) with one side a single value.
 * Two classes share an address if and only if their rectangles meet, and
 * the lowest shared one has the higher low IP and the higher low port. */
static bool classes_meet(const struct cr_peer_class *a,
			 const struct cr_peer_class *b, cr_addr *shared)
{
	const cr_addr *alo = &a->addrs[0], *ahi = &a->addrs[a->count - 1];
	const cr_addr *blo = &b->addrs[0], *bhi = &b->addrs[b->count - 1];
	size_t n = alo->family == 6 ? 16 : 4;

	if (alo->family != blo->family || memcmp(ahi->ip, blo->ip, n) < 0 ||
	    memcmp(bhi->ip, alo->ip, n) < 0 || ahi->port < blo->port ||
	    bhi->port < alo->port)
		return false;
	*shared = memcmp(alo->ip, blo->ip, n) >= 0 ? *alo : *blo;
	shared->port = alo->port > blo->port ? alo->port : blo->port;
	return true;
}

static int finish_classes(struct loader *ld)
{
	const struct cr_experiment *e = ld->e;
	char buf[CR_ADDR_STRLEN];
	cr_addr shared;
	size_t j = 0;

	for (size_t i = 0; i < ld->nsecs; i++)
		if (ld->secs[i].kind == K_CLASS &&
		    expand_class(ld, &ld->secs[i]))
			return ld->rc;
	for (size_t i = 0; i < ld->nsecs; i++) {
		const struct sect *s = &ld->secs[i];
		if (s->kind != K_CLASS)
			continue;
		for (j = 0; j < s->index; j++)
			if (classes_meet(&e->classes[j], &e->classes[s->index],
					 &shared))
				return fail_at(
				    ld, s->key_line[CL_ADDRESSES], -CR_EINVAL,
				    "class %s overlaps class %s (line %u): "
				    "both hold %s",
				    e->classes[s->index].name,
				    e->classes[j].name, e->classes[j].line,
				    addr_str(&shared, buf));
	}
	return 0;
}

static int finish_sessions(struct loader *ld)
{
	const struct cr_experiment *e = ld->e;
	uint32_t max = e->max_message ? e->max_message : 16u << 20;
	char buf[CR_ADDR_STRLEN];
	size_t idx;

	for (size_t i = 0; i < ld->nsecs; i++) {
		const struct sect *s = &ld->secs[i];
		const struct cr_session_cfg *ss;

		/* only a session's index is one into e->sessions, which is
		 * NULL in a file without any */
		if (s->kind != K_SESSION)
			continue;
		ss = &e->sessions[s->index];
		if (cr_experiment_peer_index(e, &ss->source, &idx))
			return fail_at(ld, s->key_line[SE_SOURCE], -CR_EINVAL,
				       "session %u: source %s is in no class; "
				       "every peer belongs to a [class NAME]",
				       ss->id, addr_str(&ss->source, buf));
		if (ss->message_size > max)
			return fail_at(ld,
				       s->key_line[SE_MSGSIZE]
					   ? s->key_line[SE_MSGSIZE]
					   : s->line,
				       -CR_EINVAL,
				       "session %u: message_size %u is above "
				       "max_message (%u)",
				       ss->id, ss->message_size, max);
	}
	return 0;
}

/* Tracker keys that a tracker of mode none would ignore. */
static int tracker_unused(struct loader *ld, const struct sect *s,
			  bool mode_given)
{
	for (size_t k = TR_ADDRESS; k < TR__N; k++)
		if (s->key_line[k])
			return fail_at(ld, s->key_line[k], -CR_EINVAL,
				       "the tracker's mode is none%s, so '%s' "
				       "has no use: set mode = inproc or "
				       "external, or remove it",
				       mode_given ? ""
						  : " (the default with a "
						    "topology file)",
				       tracker_keys[k].name);
	return 0;
}

static int finish_tracker(struct loader *ld)
{
	static const struct sect none = {.kind = K_TRACKER};
	const struct sect *s = find_sect(ld, K_TRACKER);
	struct cr_tracker_cfg *t = &ld->e->tracker;
	char buf[CR_ADDR_STRLEN];
	size_t idx;

	if (!s)
		s = &none;
	if (!s->key_line[TR_MODE])
		t->mode = ld->e->topology_path[0] ? CR_TRACKER_NONE
						  : CR_TRACKER_INPROC;
	if (t->mode == CR_TRACKER_NONE)
		return tracker_unused(ld, s, s->key_line[TR_MODE]);
	if (!s->key_line[TR_ADDRESS])
		return fail_at(
		    ld, s->line ? s->line : find_sect(ld, K_EXPERIMENT)->line,
		    -CR_EINVAL,
		    "the tracker is %s%s and needs an address: "
		    "add [tracker] address = IP:PORT, or mode = none",
		    mode_words[t->mode],
		    s->key_line[TR_MODE] ? ""
					 : " (the default without a topology "
					   "file)");
	if (!cr_experiment_peer_index(ld->e, &t->addr, &idx))
		return fail_at(ld, s->key_line[TR_ADDRESS], -CR_EINVAL,
			       "tracker address %s is a peer's (class %s); "
			       "the tracker needs its own",
			       addr_str(&t->addr, buf),
			       cr_experiment_class_of(ld->e, &t->addr)->name);
	if (t->timeout_ns <= t->interval_ns)
		return fail_at(ld,
			       s->key_line[TR_TIMEOUT]
				   ? s->key_line[TR_TIMEOUT]
				   : s->key_line[TR_INTERVAL],
			       -CR_EINVAL,
			       "timeout (%g s) must be longer than interval "
			       "(%g s)",
			       seconds(t->timeout_ns), seconds(t->interval_ns));
	return 0;
}

static int finish(struct loader *ld)
{
	if (check_required(ld) || finish_experiment(ld) || finish_classes(ld) ||
	    finish_sessions(ld) || finish_tracker(ld))
		return ld->rc;
	return 0;
}

/* --- the public calls ----------------------------------------------------- */

static int init(struct cr_experiment *e, const char *path, char *err,
		size_t errlen)
{
	const char *slash = strrchr(path, '/');

	*e = (struct cr_experiment){
	    .seed = 1,
	    .tracker = {.reply_peers = 20,
			.interval_ns = 5 * CR_SEC,
			.timeout_ns = 15 * CR_SEC,
			.max_sessions_per_peer = CR__TRACKER_SESSIONS_PER_PEER,
			.max_peers_per_session = CR__TRACKER_PEERS_PER_SESSION},
	};
	if (strlen(path) >= CR_PATH_MAX) {
		snprintf(err, errlen, "%.64s...: the path is too long", path);
		return -CR_EINVAL;
	}
	strcpy(e->path, path);
	if (!slash)
		strcpy(e->dir, ".");
	else if (slash == path)
		strcpy(e->dir, "/");
	else
		snprintf(e->dir, sizeof(e->dir), "%.*s", (int)(slash - path),
			 path);
	return 0;
}

/* Reads the experiment from f, once init has set out up. */
static int load_stream(FILE *f, struct cr_experiment *out, char *err,
		       size_t errlen)
{
	struct loader ld = {.e = out, .cur = NO_SECT, .f = f};
	int r;

	ld.err = err;
	ld.errlen = errlen;
	r = ini_parse_stream(read_line, &ld, on_key, &ld);
	/* inih's own complaint (a line that is neither a header nor a key)
	 * counts when it comes first */
	if (r > 0 && (!ld.rc || (unsigned)r < ld.err_line)) {
		ld.rc = 0;
		fail_at(&ld, (unsigned)r, -CR_EINVAL,
			"expected [section], key = value, or a comment "
			"(';' or '#' first on the line)");
	} else if (r < 0 && !ld.rc) {
		fail(&ld, -CR_ENOMEM, "out of memory");
	}
	if (!ld.rc)
		finish(&ld);
	free(ld.secs);
	if (ld.rc)
		cr_experiment_free(out);
	return ld.rc;
}

/* The file at path, or (text non-NULL) its len bytes in memory. */
static int load(const char *path, const char *text, size_t len,
		struct cr_experiment *out, char *err, size_t errlen)
{
	char scratch[1];
	FILE *f;
	int r;

	if (!err || !errlen) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = 0;
	if ((r = init(out, path, err, errlen))) {
		memset(out, 0, sizeof(*out));
		return r;
	}
	if (!text)
		f = fopen(path, "r");
	else if (len)
		f = fmemopen((void *)text, len, "r");
	else /* fmemopen takes no empty buffer: /dev/null is as empty */
		f = fopen("/dev/null", "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		memset(out, 0, sizeof(*out));
		return text ? -CR_ENOMEM : -CR_ENOENT;
	}
	r = load_stream(f, out, err, errlen);
	fclose(f);
	return r;
}

int cr_experiment_load(const char *path, struct cr_experiment *out, char *err,
		       size_t errlen)
{
	return load(path, NULL, 0, out, err, errlen);
}

int cr_experiment_load_mem(const char *path, const char *text, size_t len,
			   struct cr_experiment *out, char *err, size_t errlen)
{
	return load(path, text ? text : "", len, out, err, errlen);
}

void cr_experiment_free(struct cr_experiment *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nclasses; i++)
		free(e->classes[i].addrs);
	free(e->classes);
	free(e->sessions);
	free(e->params);
	memset(e, 0, sizeof(*e));
}

static bool class_find(const struct cr_peer_class *c, const cr_addr *a,
		       size_t *pos)
{
	size_t lo = 0, hi = c->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = addr_cmp(&c->addrs[mid], a);
		if (!r) {
			*pos = mid;
			return true;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

const struct cr_peer_class *
cr_experiment_class_of(const struct cr_experiment *e, const cr_addr *a)
{
	size_t pos;

	for (size_t i = 0; i < e->nclasses; i++)
		if (e->classes[i].addrs && class_find(&e->classes[i], a, &pos))
			return &e->classes[i];
	return NULL;
}

int cr_experiment_peer_index(const struct cr_experiment *e, const cr_addr *a,
			     size_t *index)
{
	const struct cr_peer_class *c = cr_experiment_class_of(e, a);
	size_t pos = 0;

	if (!c)
		return -CR_ENOENT;
	class_find(c, a, &pos);
	*index = c->first + pos;
	return 0;
}

const struct cr_peer_class *cr_experiment_class(const struct cr_experiment *e,
						const char *name)
{
	for (size_t i = 0; i < e->nclasses; i++)
		if (!strcmp(e->classes[i].name, name))
			return &e->classes[i];
	return NULL;
}

const struct cr_session_cfg *
cr_experiment_session(const struct cr_experiment *e, uint16_t id)
{
	for (size_t i = 0; i < e->nsessions; i++)
		if (e->sessions[i].id == id)
			return &e->sessions[i];
	return NULL;
}
