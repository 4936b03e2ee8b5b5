/* crystal report: run directories in, runs out.
 *
 * Each directory's summary.json is read first (with jansson), so that the
 * directories of the nodes of one run (report-group.c says which) can be
 * put together into one run; then each one's CSV files are read into that
 * run (report-read.c).  A file that is missing or unreadable is said by
 * name, and a directory with nothing usable left out.
 */
#include "report.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The sampling intervals taken from summary.json; another is said and
 * 1 s used instead. */
#define INTERVAL_MIN_S 1e-3
#define INTERVAL_MAX_S 86400.0

/* --- summary.json -------------------------------------------------------- */

static char *jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

static double jnum(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static int jbool(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_boolean(v) ? json_is_true(v) : -1;
}

static void jdist(json_t *o, const char *key, struct rp_dist *d)
{
	json_t *v = json_object_get(o, key);

	memset(d, 0, sizeof(*d));
	d->state = !v ? RP_ABSENT : json_is_object(v) ? RP_PRESENT : RP_NULL;
	if (d->state != RP_PRESENT)
		return;
	d->peers = jnum(v, "peers");
	d->mean = jnum(v, "mean");
	d->min = jnum(v, "min");
	d->p5 = jnum(v, "p5");
	d->p50 = jnum(v, "p50");
	d->p95 = jnum(v, "p95");
}

/* "values": each key an algorithm's value summarised over peers. */
static void jvalues(struct rp_ctx *ctx, const char *path, json_t *root,
		    struct rp_summary *s)
{
	json_t *o = json_object_get(root, "values"), *v;
	const char *name;

	if (!json_is_object(o))
		return;
	s->have_values = true;
	s->values = calloc(RP_VALUES_MAX, sizeof(*s->values));
	if (!s->values)
		return;
	json_object_foreach(o, name, v) {
		struct rp_value *x = &s->values[s->nvalues];

		if (s->nvalues == RP_VALUES_MAX) {
			rp_problem(ctx, "%s: more than %d values: '%s' and "
					"those after it are left out",
				   path, RP_VALUES_MAX, name);
			return;
		}
		if (!(x->name = strdup(name)))
			return;
		jdist(o, name, &x->d);
		s->nvalues++;
	}
}

/* "hosts_lost": [{"node", "host", "at_s"}, ...] */
static void jlost(struct rp_ctx *ctx, const char *path, json_t *root,
		  struct rp_summary *s)
{
	json_t *a = json_object_get(root, "hosts_lost"), *v;
	size_t i;

	if (!a)
		return;
	if (!json_is_array(a)) {
		rp_problem(ctx, "%s: \"hosts_lost\" is not an array: not used",
			   path);
		return;
	}
	s->lost = calloc(json_array_size(a) + 1, sizeof(*s->lost));
	if (!s->lost)
		return;
	json_array_foreach(a, i, v) {
		struct rp_lost *l = &s->lost[s->nlost];

		if (!json_is_object(v) || !json_is_string(
					      json_object_get(v, "node"))) {
			rp_problem(ctx,
				   "%s: hosts_lost[%zu] names no node: left "
				   "out",
				   path, i);
			continue;
		}
		l->node = jstr(v, "node");
		l->host = jstr(v, "host");
		l->at_s = jnum(v, "at_s");
		s->nlost++;
	}
}

/* The keys of a run that spanned hosts (docs/many-hosts.md). */
static void jnodes(struct rp_ctx *ctx, const char *path, json_t *root,
		   struct rp_summary *s)
{
	json_t *clock = json_object_get(root, "clock");

	s->run_id = jstr(root, "run_id");
	s->node = jstr(root, "node");
	s->coordinator = jstr(root, "coordinator");
	s->nodes = jnum(root, "nodes");
	s->clock_offset_us = s->clock_uncertainty_us = NAN;
	if (json_is_object(clock)) {
		s->clock_offset_us = jnum(clock, "offset_us");
		s->clock_uncertainty_us = jnum(clock, "uncertainty_us");
	}
	jlost(ctx, path, root, s);
}

static bool exists(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return !stat(path, &st);
}

static void read_summary(struct rp_ctx *ctx, const char *dir,
			 struct rp_summary *s)
{
	char path[4096];
	json_error_t err;
	json_t *root;

	memset(s, 0, sizeof(*s));
	s->interrupted = s->complete = -1;
	s->peers = s->duration_s = s->cumulative_rate_Bps = NAN;
	s->per_peer_rate_Bps = s->cpu_percent = s->max_rss_kb = NAN;
	s->sample_interval_s = s->nodes = NAN;
	s->clock_offset_us = s->clock_uncertainty_us = NAN;
	snprintf(path, sizeof(path), "%s/summary.json", dir);
	if (!exists(dir, "summary.json")) {
		rp_problem(
		    ctx,
		    "%s: missing (a run killed before its end leaves "
		    "none): its table row is computed from the CSV files",
		    path);
		return;
	}
	root = json_load_file(path, 0, &err);
	if (!root || !json_is_object(root)) {
		if (root)
			rp_problem(ctx, "%s: not a JSON object: not used",
				   path);
		else
			rp_problem(ctx,
				   "%s:%d:%d: %s: not used; the table row is "
				   "computed from the CSV files",
				   path, err.line, err.column, err.text);
		json_decref(root);
		return;
	}
	s->present = true;
	s->experiment = jstr(root, "experiment");
	s->experiment_id = jstr(root, "experiment_id");
	s->host = jstr(root, "host");
	s->fidelity = jstr(root, "fidelity");
	s->fidelity_reason = jstr(root, "fidelity_reason");
	s->fidelity_cause = jstr(root, "fidelity_cause");
	s->interrupted = jbool(root, "interrupted");
	s->complete = jbool(root, "complete");
	s->peers = jnum(root, "peers");
	s->duration_s = jnum(root, "duration_s");
	s->cumulative_rate_Bps = jnum(root, "cumulative_rate_Bps");
	s->per_peer_rate_Bps = jnum(root, "per_peer_rate_Bps");
	s->cpu_percent = jnum(root, "cpu_percent");
	s->max_rss_kb = jnum(root, "max_rss_kb");
	s->sample_interval_s = jnum(root, "sample_interval_s");
	jdist(root, "continuity", &s->continuity);
	jdist(root, "startup_delay_s", &s->startup_delay);
	jdist(root, "segment_latency_s", &s->segment_latency);
	jdist(root, "control_overhead", &s->control_overhead);
	jdist(root, "duplicate_ratio", &s->duplicate_ratio);
	jvalues(ctx, path, root, s);
	jnodes(ctx, path, root, s);
	if (s->complete == 0)
		rp_problem(ctx,
			   "%s: says it is not complete (\"complete\": "
			   "false): what it has is used",
			   path);
	json_decref(root);
}

static void summary_free(struct rp_summary *s)
{
	free(s->experiment);
	free(s->experiment_id);
	free(s->host);
	free(s->fidelity);
	free(s->fidelity_reason);
	free(s->fidelity_cause);
	free(s->run_id);
	free(s->node);
	free(s->coordinator);
	for (size_t i = 0; i < s->nlost; i++) {
		free(s->lost[i].node);
		free(s->lost[i].host);
	}
	free(s->lost);
	for (size_t i = 0; i < s->nvalues; i++)
		free(s->values[i].name);
	free(s->values);
}

/* --- runs ---------------------------------------------------------------- */

static const char *const run_files[] = {"summary.json",	   "node.csv",
					"workers.csv",	   "peers.csv",
					"peers-final.csv", NULL};

/* A directory that has any of the files of a run. */
/* A node of a run over several hosts that never started (its nodes did
 * not all come) leaves not-started.txt, and nothing to report: said with
 * its first line. */
static bool not_started(struct rp_ctx *ctx, const char *dir)
{
	char path[4096], why[512] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/not-started.txt", dir);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(why, sizeof(why), f))
		why[0] = '\0';
	fclose(f);
	why[strcspn(why, "\r\n")] = '\0';
	rp_problem(ctx, "%s: the run did not start%s%s: left out", dir,
		   *why ? ": " : "", why);
	return true;
}

static bool run_dir(struct rp_ctx *ctx, const char *dir)
{
	struct stat st;

	if (stat(dir, &st)) {
		rp_problem(ctx, "%s: %s", dir, strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode)) {
		rp_problem(ctx,
			   "%s: not a directory (a run directory was "
			   "expected)",
			   dir);
		return false;
	}
	if (!exists(dir, "summary.json") && not_started(ctx, dir))
		return false;
	for (size_t i = 0; run_files[i]; i++)
		if (exists(dir, run_files[i]))
			return true;
	rp_problem(ctx,
		   "%s: not a run directory: none of summary.json, node.csv, "
		   "workers.csv, peers.csv, peers-final.csv",
		   dir);
	return false;
}

/* Moves the host (its summary and node) into r. */
static int add_host(struct rp_run *r, struct rp_host *host)
{
	struct rp_host *h =
	    realloc(r->hosts, (r->nhosts + 1) * sizeof(*r->hosts));

	if (!h)
		return -1;
	r->hosts = h;
	r->hosts[r->nhosts++] = *host;
	return 0;
}

static void host_free(struct rp_host *h)
{
	summary_free(&h->sum);
	free(h->node);
}

/* The last part of a path, trailing slashes left out. */
static void base_name(const char *dir, char *out, size_t len)
{
	size_t n = strlen(dir);
	const char *b;

	while (n > 1 && dir[n - 1] == '/')
		n--;
	b = memrchr(dir, '/', n);
	b = b && n > 1 ? b + 1 : dir;
	snprintf(out, len, "%.*s", (int)(n - (size_t)(b - dir)), b);
}

/* The most directories a label names; a run of more is labelled by its
 * first two and its last, and their count. */
#define LABEL_DIRS 4

/* "experiment: dir" (hosts' dirs joined by +); with full paths when
 * full. */
static char *make_label(const struct rp_run *r, bool full)
{
	const char *exp = r->hosts[0].sum.experiment;
	char *buf = NULL, part[1024];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (exp)
		fprintf(f, "%s: ", exp);
	for (size_t i = 0; i < r->nhosts; i++) {
		bool cut = r->nhosts > LABEL_DIRS;

		if (cut && i >= 2 && i + 1 < r->nhosts) {
			fputs(i == 2 ? "+..." : "", f);
			continue;
		}
		if (full)
			snprintf(part, sizeof(part), "%s", r->hosts[i].dir);
		else
			base_name(r->hosts[i].dir, part, sizeof(part));
		fprintf(f, "%s%s", i ? "+" : "", part);
	}
	if (r->nhosts > LABEL_DIRS)
		fprintf(f, " (%zu directories)", r->nhosts);
	fclose(f);
	return buf;
}

static int label_runs(struct rp_run *runs, size_t nruns)
{
	for (size_t i = 0; i < nruns; i++)
		if (!(runs[i].label = make_label(&runs[i], false)))
			return -1;
	for (size_t i = 0; i < nruns; i++) {
		bool clash = false;

		for (size_t k = 0; k < nruns; k++)
			clash = clash || (k != i && !strcmp(runs[i].label,
							    runs[k].label));
		if (!clash)
			continue;
		free(runs[i].label);
		if (!(runs[i].label = make_label(&runs[i], true)))
			return -1;
	}
	return 0;
}

/* Whether anything of the run could be read. */
static bool usable(struct rp_ctx *ctx, const struct rp_run *r)
{
	for (size_t i = 0; i < r->nhosts; i++)
		if (r->hosts[i].sum.present || r->hosts[i].any_csv)
			return true;
	rp_problem(ctx, "%s: nothing usable in it: left out", r->hosts[0].dir);
	return false;
}

static void run_free(struct rp_run *r)
{
	for (size_t i = 0; i < r->nhosts; i++)
		host_free(&r->hosts[i]);
	for (size_t i = 0; i < r->nrates; i++)
		free(r->rates[i].v);
	free(r->rates);
	free(r->hosts);
	free(r->peers);
	free(r->label);
	free(r->alive.v);
	free(r->cpu.v);
	free(r->rss.v);
	free(r->lag.v);
	free(r->ctrl_d.v);
	free(r->data_d.v);
	for (size_t i = 0; i < r->nvalue_names; i++)
		free(r->value_names[i]);
}

void rp_runs_free(struct rp_run *runs, size_t nruns)
{
	for (size_t i = 0; i < nruns; i++)
		run_free(&runs[i]);
	free(runs);
}

/* The run's sampling interval: summary.json's, or 1 s. */
static double interval_of(struct rp_ctx *ctx, const struct rp_host *h)
{
	double iv = h->sum.sample_interval_s;

	if (isnan(iv))
		return 1.0;
	if (iv >= INTERVAL_MIN_S && iv <= INTERVAL_MAX_S)
		return iv;
	rp_problem(ctx,
		   "%s/summary.json: sample_interval_s %g is out of range "
		   "(expected %g to %g s): the CSV files' times are taken in "
		   "intervals of 1 s",
		   h->dir, iv, INTERVAL_MIN_S, INTERVAL_MAX_S);
	return 1.0;
}

/* The host of command.txt ("host NAME"), for a directory without
 * summary.json (its node was killed hard); NULL when it has none. */
static char *command_host(const char *dir)
{
	char path[4096], line[512], *host = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/command.txt", dir);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	while (!host && fgets(line, sizeof(line), f))
		if (!strncmp(line, "host ", 5) && line[5] && line[5] != '\n')
			host = strndup(line + 5, strcspn(line + 5, "\r\n"));
	fclose(f);
	return host;
}

/* Directory dir read as a host of no run yet: its summary and node. */
static bool read_host(struct rp_ctx *ctx, const char *dir, struct rp_host *h)
{
	memset(h, 0, sizeof(*h));
	if (!run_dir(ctx, dir))
		return false;
	h->dir = dir;
	read_summary(ctx, dir, &h->sum);
	h->node = h->sum.node ? rp_node_canon(h->sum.node)
			      : rp_node_of_csv(dir);
	if (!h->sum.present)
		h->sum.host = command_host(dir);
	return true;
}

/* Puts host h (moved) into its run among runs[0..*nruns), or a new one:
 * 0, or -1 out of memory (h freed either way when not kept). */
static int place(struct rp_ctx *ctx, struct rp_run *runs, size_t *nruns,
		 struct rp_host *h)
{
	struct rp_run *r;
	bool drop = false;

	r = h->sum.present ? rp_run_for(ctx, runs, *nruns, h, &drop)
			   : rp_run_of_lost(runs, *nruns, h);
	if (drop) {
		host_free(h);
		return 0;
	}
	if (!r)
		r = &runs[(*nruns)++];
	if (add_host(r, h)) {
		host_free(h);
		return -1;
	}
	return 0;
}

/* The directories with a summary.json into runs (report-group.c), then
 * those without (or with one that cannot be read), which join a run
 * whose nodes lost theirs or are runs of their own.  The count of runs,
 * or -1 - the count when out of memory. */
static long group(struct rp_ctx *ctx, char **dirs, size_t ndirs,
		  struct rp_run *runs)
{
	struct rp_host *hs = calloc(ndirs ? ndirs : 1, sizeof(*hs));
	bool *left = calloc(ndirs ? ndirs : 1, sizeof(*left));
	size_t nruns = 0;
	int rc = 0;

	if (!hs || !left) {
		rc = -1;
		goto out;
	}
	for (size_t i = 0; i < ndirs; i++)
		left[i] = read_host(ctx, dirs[i], &hs[i]);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < ndirs; i++) {
			if (!left[i] || pass != !hs[i].sum.present)
				continue;
			left[i] = false;
			if (!rc)
				rc = place(ctx, runs, &nruns, &hs[i]);
			else
				host_free(&hs[i]);
		}
out:
	free(hs);
	free(left);
	return rc ? -(long)nruns - 1 : (long)nruns;
}

int rp_read_runs(struct rp_ctx *ctx, char **dirs, size_t ndirs,
		 struct rp_run **out)
{
	struct rp_run *runs = calloc(ndirs ? ndirs : 1, sizeof(*runs));
	size_t nruns = 0, kept = 0;
	long n;

	*out = NULL;
	if (!runs)
		return -1;
	n = group(ctx, dirs, ndirs, runs);
	if (n < 0) {
		nruns = (size_t)(-n - 1);
		goto nomem;
	}
	nruns = (size_t)n;
	for (size_t i = 0; i < nruns; i++) {
		struct rp_run *r = &runs[i];
		r->interval_s = interval_of(ctx, &r->hosts[0]);
		for (size_t k = 0; k < r->nhosts; k++) {
			r->hosts[k].peer_lo = r->npeers;
			rp_read_csvs(ctx, r, &r->hosts[k]);
			r->hosts[k].peer_hi = r->npeers;
		}
		rp_check_nodes(ctx, r);
		if (usable(ctx, r))
			runs[kept++] = *r;
		else
			run_free(r);
	}
	if (label_runs(runs, kept)) {
		nruns = kept;
		goto nomem;
	}
	*out = runs;
	return (int)kept;
nomem:
	rp_runs_free(runs, nruns);
	return -1;
}
