/* crystal report: run directories in, runs out.
 *
 * Each directory's summary.json is read first (with jansson), so that the
 * directories of the hosts of one experiment (same experiment_id, other
 * host) can be put together into one run; then each one's CSV files are
 * read into that run (report-read.c).  A file that is missing or
 * unreadable is said by name, and a directory with nothing usable left
 * out.
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
	s->sample_interval_s = NAN;
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
	for (size_t i = 0; i < s->nvalues; i++)
		free(s->values[i].name);
	free(s->values);
}

/* --- runs ---------------------------------------------------------------- */

static const char *const run_files[] = {"summary.json",	   "node.csv",
					"workers.csv",	   "peers.csv",
					"peers-final.csv", NULL};

/* A directory that has any of the files of a run. */
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
	for (size_t i = 0; run_files[i]; i++)
		if (exists(dir, run_files[i]))
			return true;
	rp_problem(ctx,
		   "%s: not a run directory: none of summary.json, node.csv, "
		   "workers.csv, peers.csv, peers-final.csv",
		   dir);
	return false;
}

/* The run that host h joins: one of the same experiment_id that has no
 * directory of h's host yet; or NULL for a new run. */
static struct rp_run *run_for(struct rp_run *runs, size_t nruns,
			      const struct rp_summary *s)
{
	if (!s->experiment_id || !s->host)
		return NULL;
	for (size_t i = 0; i < nruns; i++) {
		const struct rp_summary *first = &runs[i].hosts[0].sum;
		bool taken = false;

		if (!first->experiment_id || !first->host ||
		    strcmp(first->experiment_id, s->experiment_id))
			continue;
		for (size_t k = 0; k < runs[i].nhosts; k++)
			taken = taken ||
				!strcmp(runs[i].hosts[k].sum.host, s->host);
		if (!taken)
			return &runs[i];
	}
	return NULL;
}

static int add_host(struct rp_run *r, const char *dir,
		    const struct rp_summary *s)
{
	struct rp_host *h =
	    realloc(r->hosts, (r->nhosts + 1) * sizeof(*r->hosts));

	if (!h)
		return -1;
	r->hosts = h;
	h = &r->hosts[r->nhosts++];
	memset(h, 0, sizeof(*h));
	h->dir = dir;
	h->sum = *s;
	return 0;
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
		if (full)
			snprintf(part, sizeof(part), "%s", r->hosts[i].dir);
		else
			base_name(r->hosts[i].dir, part, sizeof(part));
		fprintf(f, "%s%s", i ? "+" : "", part);
	}
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
		summary_free(&r->hosts[i].sum);
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

int rp_read_runs(struct rp_ctx *ctx, char **dirs, size_t ndirs,
		 struct rp_run **out)
{
	struct rp_run *runs = calloc(ndirs ? ndirs : 1, sizeof(*runs));
	size_t nruns = 0, kept = 0;

	*out = NULL;
	if (!runs)
		return -1;
	for (size_t i = 0; i < ndirs; i++) {
		struct rp_summary s;
		struct rp_run *r;

		if (!run_dir(ctx, dirs[i]))
			continue;
		read_summary(ctx, dirs[i], &s);
		r = run_for(runs, nruns, &s);
		if (!r)
			r = &runs[nruns++];
		if (add_host(r, dirs[i], &s)) {
			summary_free(&s);
			goto nomem;
		}
	}
	for (size_t i = 0; i < nruns; i++) {
		struct rp_run *r = &runs[i];
		r->interval_s = interval_of(ctx, &r->hosts[0]);
		for (size_t k = 0; k < r->nhosts; k++)
			rp_read_csvs(ctx, r, &r->hosts[k]);
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
