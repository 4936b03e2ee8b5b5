/* crystal log RUN --peer IP:port: one peer's life, in time order.
 *
 * A peer lives on one worker, so its lines are in one worker log (or, for
 * a peer born again elsewhere, in several); its per-second samples are in
 * peers.csv.  Both are gathered, merged by experiment time and printed,
 * with a tally of its messages by type when it was traced.
 */
#include "cli.h"
#include "opt.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	double t;
	size_t seq; /* file order, to keep equal times stable */
	char *text;
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

/* Message lines of a traced peer, counted by direction and type. */
struct tally {
	char key[48];
	unsigned long long msgs, bytes;
};

static int add(struct entries *e, double t, const char *text)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 256;
		struct entry *v = realloc(e->v, cap * sizeof(*v));
		if (!v)
			return -1;
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n].text = strdup(text);
	if (!e->v[e->n].text)
		return -1;
	e->v[e->n].t = t;
	e->v[e->n].seq = e->n;
	e->n++;
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void count(struct tally *t, size_t *nt, size_t cap, const char *msg)
{
	char dir[8], kind[16];
	unsigned type, session, bytes;
	char key[48];

	/* "in data type 128 session 1 1036 B from ..." (see peer.c) */
	if (sscanf(msg, "%7s %15s type %u session %u %u B", dir, kind, &type,
		   &session, &bytes) != 5) {
		if (sscanf(msg, "%7s udp %15s type %u session %u %u B", dir,
			   kind, &type, &session, &bytes) != 5)
			return;
	}
	snprintf(key, sizeof(key), "%-3s %-7s type %3u", dir, kind, type);
	for (size_t i = 0; i < *nt; i++)
		if (!strcmp(t[i].key, key)) {
			t[i].msgs++;
			t[i].bytes += bytes;
			return;
		}
	if (*nt == cap)
		return;
	snprintf(t[*nt].key, sizeof(t[*nt].key), "%s", key);
	t[*nt].msgs = 1;
	t[*nt].bytes = bytes;
	(*nt)++;
}

/* The lines of `peer` in one worker log. */
static int read_log(const char *path, const char *peer, int max_level,
		    struct entries *e, struct tally *t, size_t *nt,
		    size_t tcap)
{
	static const char *const levels[] = {"ERROR", "WARN", "INFO", "DEBUG",
					     "TRACE"};
	FILE *f = fopen(path, "re");
	char line[2048], who[128], level[16];
	size_t plen = strlen(peer);

	if (!f) {
		fprintf(stderr, "crystal log: cannot read %s: %s\n", path,
			strerror(errno));
		return 0; /* the others may still tell the story */
	}
	while (fgets(line, sizeof(line), f)) {
		double tm;
		int off = 0, lv = 0;
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = 0;
		if (sscanf(line, "%lf %127s %15s %n", &tm, who, level, &off) !=
			    3 ||
		    !off)
			continue;
		if (strlen(who) != plen || strcmp(who, peer))
			continue;
		for (int i = 0; i < 5; i++)
			if (!strcmp(level, levels[i]))
				lv = i;
		if (lv > max_level)
			continue;
		if (lv == 4)
			count(t, nt, tcap, line + off);
		char text[2100];
		snprintf(text, sizeof(text), "%-5s %s", level, line + off);
		if (add(e, tm, text)) {
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

/* Splits a CSV line (no quoting: our files have none) in place. */
static int split(char *line, char **cols, int max)
{
	int n = 0;

	cols[n++] = line;
	for (char *p = line; *p && n < max; p++)
		if (*p == ',') {
			*p = 0;
			cols[n++] = p + 1;
		} else if (*p == '\n' || *p == '\r') {
			*p = 0;
		}
	return n;
}

static int col_of(char **cols, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(cols[i], name))
			return i;
	return -1;
}

/* Its samples from peers.csv; how many. */
static long read_samples(const char *dir, const char *peer,
			 struct entries *e, char *klass, size_t klen)
{
	char path[4096], line[4096], head[4096], *h[32], *c[32];
	int nh, ix[14];
	/* data_bytes_offered is missing from the files of older runs */
	static const char *const names[] = {
		"time_s",	  "peer",	    "class",
		"alive",	  "data_bytes_in",  "data_bytes_out",
		"ctrl_bytes_in",  "ctrl_bytes_out", "buffer_segments",
		"played",	  "missed",	    "segment_latency_s",
		"session",	  "data_bytes_offered"};
	long found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/peers.csv", dir);
	f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "crystal log: cannot read %s: %s (no samples)\n",
			path, strerror(errno));
		return 0;
	}
	if (!fgets(head, sizeof(head), f)) {
		fclose(f);
		return 0;
	}
	nh = split(head, h, 32);
	for (int i = 0; i < 14; i++)
		ix[i] = col_of(h, nh, names[i]);
	if (ix[0] < 0 || ix[1] < 0) {
		fprintf(stderr, "crystal log: %s has no time_s or peer column\n",
			path);
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		char text[512], offered[48];
		int n;

		if (!strchr(line, '\n'))
			break; /* a cut last line (the run was killed) */
		n = split(line, c, 32);
		if (n != nh || strcmp(c[ix[1]], peer))
			continue;
#define COL(k) (ix[k] >= 0 && *c[ix[k]] ? c[ix[k]] : "-")
		if (ix[2] >= 0)
			snprintf(klass, klen, "%s", c[ix[2]]);
		offered[0] = 0;
		if (ix[13] >= 0 && *c[ix[13]])
			snprintf(offered, sizeof(offered), " (offered %s B)",
				 c[ix[13]]);
		snprintf(text, sizeof(text),
			 "%-5s %sdata in %s B out %s B%s, control in %s B out "
			 "%s B, buffer %s, played %s missed %s, latency %s s",
			 "STAT", !strcmp(COL(3), "0") ? "(dead) " : "", COL(4),
			 COL(5), offered, COL(6), COL(7), COL(8), COL(9),
			 COL(10), COL(11));
#undef COL
		if (add(e, strtod(c[ix[0]], NULL), text)) {
			fclose(f);
			return -1;
		}
		found++;
	}
	fclose(f);
	return found;
}

struct log_opts {
	const char *peer;
	int max_level; /* 0 error ... 4 trace */
	bool no_samples;
	double from, to; /* experiment times, seconds */
};

static int parse_level(const struct cr__opt *row, const char *arg, void *dst)
{
	static const char *const levels[] = {"error", "warn", "info", "debug",
					     "trace"};
	struct log_opts *o = dst;

	for (int i = 0; i < 5; i++)
		if (!strcmp(arg, levels[i])) {
			o->max_level = i;
			return 0;
		}
	return cr__opt_bad("crystal log", "--level", arg,
			   "error, warn, info, debug or trace");
}

#define OPT(m) .off = offsetof(struct log_opts, m)

static const struct cr__opt rows[] = {
	{"peer", 0, CR__OPT_STR, OPT(peer), .arg = "IP:port",
	 .help = "the peer (required)"},
	{"level", 0, CR__OPT_FUNC, .parse = parse_level, .arg = "LEVEL",
	 .help = "show lines up to this level: error, warn, info,\n"
		 "debug or trace (default trace: all there are)"},
	{"no-samples", 0, CR__OPT_FLAG, OPT(no_samples),
	 .help = "leave out the per-second samples"},
	{"from", 0, CR__OPT_NUM, OPT(from), .accepted = "seconds, such as 12.5",
	 .arg = "T", .help = "only experiment times from T seconds on"},
	{"to", 0, CR__OPT_NUM, OPT(to), .accepted = "seconds, such as 12.5",
	 .arg = "T", .help = "only experiment times up to T seconds"},
	{.name = "help", .short_name = 'h', .kind = CR__OPT_HELP},
	{0},
};

static const struct cr__cmd log_cmd = {
	.name = "crystal log",
	.opts = rows,
	.help_col = 19,
	.head = "usage: crystal log RUN_DIR --peer IP:port [options]\n"
		"\n"
		"Prints one peer's life in time order, from the run directory's "
		"worker\n"
		"logs and its per-second samples (peers.csv): birth, neighbours "
		"gained\n"
		"and lost, sessions joined and left, segments played and missed "
		"and\n"
		"every message in and out (when the run had --trace for it), "
		"death.\n"
		"\n",
};

/* The lines of the peer in every worker log of dir; 0, 2 (said) for a
 * directory that cannot be read, or -1 out of memory. */
static int read_logs(const char *dir, const struct log_opts *o,
		     struct entries *e, struct tally *t, size_t *nt,
		     size_t tcap, size_t *nlogs)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	d = opendir(dir);
	if (!d) {
		fprintf(stderr,
			"crystal log: cannot open the run directory %s: %s\n",
			dir, strerror(errno));
		return 2;
	}
	while ((de = readdir(d))) {
		char path[4096];
		size_t len = strlen(de->d_name);
		if (strncmp(de->d_name, "worker-", 7) || len < 5 ||
		    strcmp(de->d_name + len - 4, ".log"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		(*nlogs)++;
		if (read_log(path, o->peer, o->max_level, e, t, nt, tcap)) {
			rc = -1;
			break;
		}
	}
	closedir(d);
	return rc;
}

/* The story, in time order, and the tally of its traced messages. */
static void print_story(const char *dir, const struct log_opts *o,
			struct entries *e, const struct tally *t, size_t nt,
			const char *klass)
{
	qsort(e->v, e->n, sizeof(*e->v), cmp_entry);
	printf("peer %s%s%s, run %s\n", o->peer, *klass ? ", class " : "",
	       klass, dir);
	for (size_t i = 0; i < e->n; i++) {
		if (e->v[i].t < o->from || e->v[i].t > o->to)
			continue;
		printf("%12.6f  %s\n", e->v[i].t, e->v[i].text);
	}
	if (nt) {
		printf("\nmessages (traced):\n");
		for (size_t i = 0; i < nt; i++)
			printf("  %s  %10llu messages  %12llu B\n", t[i].key,
			       t[i].msgs, t[i].bytes);
	} else if (o->max_level >= 4) {
		printf("\n(no messages: run with --trace %s to log "
		       "them, and its segments)\n",
		       o->peer);
	}
}

/* Gathers the peer's lines and samples of dir and prints them; the exit
 * status. */
static int tell(const char *dir, const struct log_opts *o)
{
	struct entries e = {0};
	struct tally t[64];
	size_t nt = 0, nlogs = 0;
	char klass[64] = "";
	long nsamples = 0;
	int rc;

	rc = read_logs(dir, o, &e, t, &nt, sizeof(t) / sizeof(t[0]), &nlogs);
	if (rc == 2)
		return 2;
	if (!rc && !o->no_samples)
		nsamples = read_samples(dir, o->peer, &e, klass, sizeof(klass));
	if (rc || nsamples < 0) {
		fprintf(stderr, "crystal log: out of memory\n");
		rc = 1;
	}
	if (!rc && !e.n) {
		fprintf(stderr,
			"crystal log: %s has no line and no sample of %s (%zu "
			"worker logs read): is it a peer of this run, hosted "
			"here?\n",
			dir, o->peer, nlogs);
		rc = 2;
	}
	if (!rc)
		print_story(dir, o, &e, t, nt, klass);
	for (size_t i = 0; i < e.n; i++)
		free(e.v[i].text);
	free(e.v);
	return rc;
}

int cr_cli_log(int argc, char **argv)
{
	struct log_opts o = {.max_level = 4, .from = -1e300, .to = 1e300};
	uint64_t given;
	int rc;

	rc = cr__opt_parse(&log_cmd, argc, argv, &o, &given);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (optind != argc - 1 || !o.peer) {
		fprintf(stderr, "crystal log: %s (see crystal log --help)\n",
			!o.peer ? "which peer? --peer IP:port"
				: "give one run directory");
		return 2;
	}
	return tell(argv[optind], &o);
}
