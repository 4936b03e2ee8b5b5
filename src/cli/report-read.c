/* crystal report: run directories in, runs out.
 *
 * Each directory's summary.json is read first (with jansson), so that the
 * directories of the hosts of one experiment (same experiment_id, other
 * host) can be put together into one run; then each one's CSV files are
 * read into that run: node-level series summed over hosts per sampling
 * interval, peers as the union of the hosts' peers.  A file that is
 * missing, unreadable or cut short is said by name and what it holds is
 * used as far as it goes.
 *
 * Known limit: the CSV files do not say which peers are sources.  A peer
 * of class "source", or one that sent data and never received any, is
 * taken as one, and left out of the per-peer figures as summary.json
 * leaves the sources out.
 */
#include "report.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <search.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* time_s beyond this many sampling intervals is taken as garbage */
#define MAX_BINS (1u << 22)
/* Nor may a file's times span more intervals than it has bytes over
 * BYTES_PER_BIN (a row takes at least a time, a comma, a value and a line
 * break), with BINS_SLACK for a short file: so the series, and the memory
 * and work of a report, grow with the data that is there, never with a
 * time or an interval read from a file. */
#define BYTES_PER_BIN 4
#define BINS_SLACK 64
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

/* --- series -------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

void rp_dist_of(double *v, size_t n, struct rp_dist *d)
{
	double sum = 0;

	memset(d, 0, sizeof(*d));
	d->state = n ? RP_PRESENT : RP_NULL;
	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	d->peers = (double)n;
	d->mean = sum / (double)n;
	d->min = v[0];
	d->p5 = v[(size_t)(0.05 * (double)(n - 1) + 0.5)];
	d->p50 = v[(size_t)(0.50 * (double)(n - 1) + 0.5)];
	d->p95 = v[(size_t)(0.95 * (double)(n - 1) + 0.5)];
}

/* The slot of `bin`, the series grown (with NaN) to hold it; NULL when
 * out of memory. */
static double *ts_at(struct rp_ts *ts, size_t bin)
{
	if (bin >= ts->n) {
		size_t n = ts->n ? ts->n : 64;
		double *v;

		while (n <= bin)
			n *= 2;
		v = realloc(ts->v, n * sizeof(*v));
		if (!v)
			return NULL;
		for (size_t i = ts->n; i < n; i++)
			v[i] = NAN;
		ts->v = v;
		ts->n = n;
	}
	return &ts->v[bin];
}

static void ts_add(struct rp_ts *ts, size_t bin, double x)
{
	double *p = isnan(x) ? NULL : ts_at(ts, bin);

	if (p)
		*p = isnan(*p) ? x : *p + x;
}

static void ts_max(struct rp_ts *ts, size_t bin, double x)
{
	double *p = isnan(x) ? NULL : ts_at(ts, bin);

	if (p && (isnan(*p) || x > *p))
		*p = x;
}

static void bag_add(struct rp_run *r, size_t bin, double x)
{
	struct rp_bag *b;

	if (bin >= r->nrates) {
		size_t n = r->nrates ? r->nrates : 64;
		struct rp_bag *nb;

		while (n <= bin)
			n *= 2;
		nb = realloc(r->rates, n * sizeof(*nb));
		if (!nb)
			return;
		memset(nb + r->nrates, 0, (n - r->nrates) * sizeof(*nb));
		r->rates = nb;
		r->nrates = n;
	}
	b = &r->rates[bin];
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 8;
		double *v = realloc(b->v, cap * sizeof(*v));

		if (!v)
			return;
		b->v = v;
		b->cap = cap;
	}
	b->v[b->n++] = x;
}

/* --- CSV files ----------------------------------------------------------- */

/* A CSV file read row by row into numbers, bad rows counted and skipped. */
struct reader {
	struct rp_csv c;
	char path[4096];
	bool quiet; /* a second pass: problems were said by the first */
	size_t max_bins; /* the intervals its size can span */
	unsigned long bad, first_bad;
	char why[160];
};

/* Opens DIR/NAME; false (said, unless quiet) when it cannot be used.
 * `lost` says what the report goes without. */
static bool reader_open(struct rp_ctx *ctx, struct reader *rd, const char *dir,
			const char *name, const char *const *required,
			const char *lost)
{
	struct stat st;
	int rc;

	memset(rd, 0, sizeof(*rd));
	snprintf(rd->path, sizeof(rd->path), "%s/%s", dir, name);
	rc = rp_csv_open(&rd->c, rd->path);
	if (!rc)
		rd->max_bins = fstat(fileno(rd->c.f), &st)
				   ? BINS_SLACK
				   : (size_t)st.st_size / BYTES_PER_BIN +
					 BINS_SLACK;
	if (rc == -1) {
		if (errno == ENOENT)
			rp_problem(ctx, "%s: missing: %s", rd->path, lost);
		else
			rp_problem(ctx, "%s: %s: %s", rd->path, strerror(errno),
				   lost);
		return false;
	}
	if (rc == -2) {
		rp_problem(ctx, "%s: no complete header line: %s", rd->path,
			   lost);
		return false;
	}
	for (size_t i = 0; required[i]; i++) {
		if (rp_csv_col(&rd->c, required[i]) >= 0)
			continue;
		rp_problem(ctx, "%s: no column '%s' in its header: %s",
			   rd->path, required[i], lost);
		rp_csv_close(&rd->c);
		return false;
	}
	return true;
}

static void reader_bad(struct reader *rd, const char *fmt, const char *arg)
{
	if (!rd->bad++) {
		rd->first_bad = rd->c.line_no;
		snprintf(rd->why, sizeof(rd->why), fmt, arg);
	}
}

/* The next well-formed row: n columns read as numbers (a column the file
 * does not have, cols[i] < 0, is NaN).  1, 0 at the end, -1 cut short. */
static int reader_next(struct reader *rd, const int *cols, double *vals,
		       size_t n)
{
	int rc;

	while ((rc = rp_csv_next(&rd->c)) == 1) {
		size_t i;

		if (rd->c.nfields != rd->c.ncols) {
			char got[64];

			snprintf(got, sizeof(got),
				 "%zu fields, the header has %zu",
				 rd->c.nfields, rd->c.ncols);
			reader_bad(rd, "%s", got);
			continue;
		}
		for (i = 0; i < n; i++) {
			const char *f = rp_csv_field(&rd->c, cols[i]);

			if (!f) {
				vals[i] = NAN;
			} else if (!rp_parse_num(f, &vals[i])) {
				reader_bad(rd, "'%s' is not a number", f);
				break;
			}
		}
		if (i == n)
			return 1;
	}
	return rc;
}

static void reader_close(struct rp_ctx *ctx, struct reader *rd, int rc)
{
	if (!rd->quiet && rc < 0)
		rp_problem(
		    ctx,
		    "%s: cut short in line %lu (the run was stopped in "
		    "the middle of a write): the rows before it are used",
		    rd->path, rd->c.line_no);
	if (!rd->quiet && rd->bad)
		rp_problem(ctx,
			   "%s: %lu malformed row%s skipped (line %lu: %s)",
			   rd->path, rd->bad, rd->bad == 1 ? "" : "s",
			   rd->first_bad, rd->why);
	rp_csv_close(&rd->c);
}

static void cols_of(const struct reader *rd, const char *const *names,
		    int *cols, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cols[i] = rp_csv_col(&rd->c, names[i]);
}

/* The bin of a time in rd's file; false when it is no time of a run. */
static bool bin_of(const struct rp_run *r, const struct reader *rd, double t,
		   size_t *bin)
{
	double b = t / r->interval_s;

	if (isnan(b) || b < -0.5 || b >= MAX_BINS ||
	    b >= (double)rd->max_bins - 0.5)
		return false;
	*bin = (size_t)llround(b);
	return true;
}

static void read_node(struct rp_ctx *ctx, struct rp_run *r, struct rp_host *h)
{
	static const char *const names[] = {"time_s", "cpu_percent",
					    "rss_bytes", "peers_alive",
					    "data_bytes_in"};
	static const char *const required[] = {"time_s", NULL};
	struct reader rd;
	double v[5];
	int cols[5], rc;
	size_t bin, last = 0, rows = 0;

	if (!reader_open(ctx, &rd, h->dir, "node.csv", required,
			 "no CPU, memory or live-peer plot from it"))
		return;
	cols_of(&rd, names, cols, 5);
	while ((rc = reader_next(&rd, cols, v, 5)) == 1) {
		if (!bin_of(r, &rd, v[0], &bin)) {
			reader_bad(&rd, "time_s '%s' is no time of a run",
				   rp_csv_field(&rd.c, cols[0]));
			continue;
		}
		if (v[0] >= h->node_last_s && !isnan(v[4])) {
			h->node_last_s = v[0];
			h->node_bytes_in = v[4];
		}
		if (v[0] > h->csv_duration_s)
			h->csv_duration_s = v[0];
		/* a second row in one interval (the last one, written when
		 * the run ends, may be): the first stands for it */
		if (rows++ && bin == last)
			continue;
		last = bin;
		h->any_csv = r->have_node = true;
		ts_add(&r->cpu, bin, v[1]);
		ts_add(&r->rss, bin, v[2]);
		ts_add(&r->alive, bin, v[3]);
		if (!isnan(v[1])) {
			h->cpu_sum += v[1];
			h->cpu_n++;
		}
		if (!isnan(v[2]) && (!h->rss_n++ || v[2] > h->rss_max))
			h->rss_max = v[2];
	}
	reader_close(ctx, &rd, rc);
}

static void read_workers(struct rp_ctx *ctx, struct rp_run *r,
			 struct rp_host *h)
{
	static const char *const names[] = {"time_s", "timer_lag_p99_us"};
	static const char *const required[] = {"time_s", NULL};
	struct reader rd;
	double v[2];
	int cols[2], rc;
	size_t bin;

	if (!reader_open(ctx, &rd, h->dir, "workers.csv", required,
			 "no timer-lag plot from it"))
		return;
	cols_of(&rd, names, cols, 2);
	while ((rc = reader_next(&rd, cols, v, 2)) == 1) {
		if (!bin_of(r, &rd, v[0], &bin)) {
			reader_bad(&rd, "time_s '%s' is no time of a run",
				   rp_csv_field(&rd.c, cols[0]));
			continue;
		}
		h->any_csv = true;
		if (!isnan(v[1]))
			r->have_workers = true;
		ts_max(&r->lag, bin, v[1]);
		if (v[0] > h->csv_duration_s)
			h->csv_duration_s = v[0];
	}
	reader_close(ctx, &rd, rc);
}

/* --- peers.csv: two passes ------------------------------------------------
 * The first finds every peer, its totals and so whether it is a source;
 * the second takes the receivers' rates interval by interval. */

struct pstate {
	char *name; /* the key of the tree: first */
	bool source_class, seen, alive;
	double t, data_in, data_out, data_offered, ctrl_in, played, missed,
	    dup, latency;
	double alive_s;
	bool p_seen, p_alive; /* second pass */
	double p_t, p_data, p_ctrl;
};

struct peer_map {
	void *root;
	struct pstate **all;
	size_t n, cap;
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The peer called `name`, added if new; NULL when out of memory. */
static struct pstate *peer_get(struct peer_map *m, const char *name)
{
	struct pstate key = {.name = (char *)name}, *p, **slot;

	slot = tfind(&key, &m->root, cmp_name);
	if (slot)
		return *slot;
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 64;
		struct pstate **all = realloc(m->all, cap * sizeof(*all));

		if (!all)
			return NULL;
		m->all = all;
		m->cap = cap;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->name = strdup(name)) ||
	    !tsearch(p, &m->root, cmp_name)) {
		if (p)
			free(p->name);
		free(p);
		return NULL;
	}
	p->latency = NAN;
	m->all[m->n++] = p;
	return p;
}

static void no_free(void *p)
{
	(void)p;
}

static void peer_map_free(struct peer_map *m)
{
	tdestroy(m->root, no_free);
	for (size_t i = 0; i < m->n; i++) {
		free(m->all[i]->name);
		free(m->all[i]);
	}
	free(m->all);
}

/* data_out is what left the peer's link, offered what it handed to
 * cr_send (NaN in the files of runs older than that column). */
static bool is_source(bool source_class, double data_in, double data_out,
		      double offered)
{
	return source_class ||
	       (!(data_in > 0) && (data_out > 0 || offered > 0));
}

enum {
	PT, PALIVE, PDIN, PDOUT, PCIN, PPLAYED, PMISSED, PDUP, PLAT, POFFER,
	NPCOLS
};
static const char *const peer_cols[NPCOLS] = {
    "time_s", "alive",	"data_bytes_in",   "data_bytes_out",   "ctrl_bytes_in",
    "played", "missed", "duplicate_bytes", "segment_latency_s",
    "data_bytes_offered"};

static void peers_first_pass(struct rp_ctx *ctx, struct rp_run *r,
			     struct rp_host *h, struct peer_map *m)
{
	static const char *const required[] = {"time_s", "peer", NULL};
	struct reader rd;
	double v[NPCOLS];
	int cols[NPCOLS], cpeer, cclass, rc;
	size_t bin;

	if (!reader_open(ctx, &rd, h->dir, "peers.csv", required,
			 "no per-peer rate or control overhead over time "
			 "from it"))
		return;
	cols_of(&rd, peer_cols, cols, NPCOLS);
	cpeer = rp_csv_col(&rd.c, "peer");
	cclass = rp_csv_col(&rd.c, "class");
	while ((rc = reader_next(&rd, cols, v, NPCOLS)) == 1) {
		const char *cls = rp_csv_field(&rd.c, cclass);
		struct pstate *p;

		if (!bin_of(r, &rd, v[PT], &bin)) {
			reader_bad(&rd, "time_s '%s' is no time of a run",
				   rp_csv_field(&rd.c, cols[PT]));
			continue;
		}
		p = peer_get(m, rp_csv_field(&rd.c, cpeer));
		if (!p)
			break;
		h->any_csv = r->have_peers = true;
		if (p->seen && p->alive && v[PT] > p->t)
			p->alive_s += v[PT] - p->t;
		p->seen = true;
		p->t = v[PT];
		p->alive = !(v[PALIVE] == 0);
		p->source_class = cls && !strcmp(cls, "source");
		p->data_in = v[PDIN];
		p->data_out = v[PDOUT];
		p->data_offered = v[POFFER];
		p->ctrl_in = v[PCIN];
		p->played = v[PPLAYED];
		p->missed = v[PMISSED];
		p->dup = v[PDUP];
		if (!isnan(v[PLAT]))
			p->latency = v[PLAT];
		if (v[PT] > h->csv_duration_s)
			h->csv_duration_s = v[PT];
	}
	reader_close(ctx, &rd, rc);
}

static void peers_second_pass(struct rp_ctx *ctx, struct rp_run *r,
			      struct rp_host *h, struct peer_map *m)
{
	static const char *const required[] = {"time_s", "peer", NULL};
	struct reader rd;
	double v[NPCOLS];
	int cols[NPCOLS], cpeer, rc;
	size_t bin;

	if (!reader_open(ctx, &rd, h->dir, "peers.csv", required, ""))
		return;
	rd.quiet = true;
	cols_of(&rd, peer_cols, cols, NPCOLS);
	cpeer = rp_csv_col(&rd.c, "peer");
	while ((rc = reader_next(&rd, cols, v, NPCOLS)) == 1) {
		struct pstate key = {.name =
					 (char *)rp_csv_field(&rd.c, cpeer)};
		struct pstate **slot = tfind(&key, &m->root, cmp_name);
		struct pstate *p = slot ? *slot : NULL;
		double dt;

		if (!p || !bin_of(r, &rd, v[PT], &bin) ||
		    is_source(p->source_class, p->data_in, p->data_out,
			      p->data_offered))
			continue;
		dt = v[PT] - p->p_t;
		if (p->p_seen && p->p_alive && dt > 0 && v[PDIN] >= p->p_data) {
			bag_add(r, bin, (v[PDIN] - p->p_data) / dt);
			ts_add(&r->data_d, bin, v[PDIN] - p->p_data);
			if (v[PCIN] >= p->p_ctrl)
				ts_add(&r->ctrl_d, bin, v[PCIN] - p->p_ctrl);
		}
		p->p_seen = true;
		p->p_alive = !(v[PALIVE] == 0);
		p->p_t = v[PT];
		p->p_data = v[PDIN];
		p->p_ctrl = v[PCIN];
	}
	reader_close(ctx, &rd, rc);
}

static struct rp_peer *peer_add(struct rp_run *r)
{
	if (r->npeers == r->peers_cap) {
		size_t cap = r->peers_cap ? 2 * r->peers_cap : 64;
		struct rp_peer *p = realloc(r->peers, cap * sizeof(*p));

		if (!p)
			return NULL;
		r->peers = p;
		r->peers_cap = cap;
	}
	for (size_t i = 0; i < RP_VALUES_MAX; i++)
		r->peers[r->npeers].values[i] = NAN;
	return &r->peers[r->npeers++];
}

/* The run's index of an algorithm value's name, added if new; -1 past
 * RP_VALUES_MAX (said) or out of memory. */
static int value_slot(struct rp_ctx *ctx, struct rp_run *r, const char *path,
		      const char *name)
{
	for (size_t i = 0; i < r->nvalue_names; i++)
		if (!strcmp(r->value_names[i], name))
			return (int)i;
	if (r->nvalue_names == RP_VALUES_MAX) {
		rp_problem(ctx, "%s: more than %d value columns: value.%s is "
				"left out",
			   path, RP_VALUES_MAX, name);
		return -1;
	}
	if (!(r->value_names[r->nvalue_names] = strdup(name)))
		return -1;
	return (int)r->nvalue_names++;
}

static double ratio(double a, double b)
{
	return b > 0 && !isnan(a) ? a / b : NAN;
}

/* Every peer of peers.csv as it was at its last row. */
static void finals_from_peers(struct rp_run *r, struct rp_host *h,
			      const struct peer_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct pstate *s = m->all[i];
		struct rp_peer *p = peer_add(r);

		if (!p)
			return;
		p->source = is_source(s->source_class, s->data_in, s->data_out,
				      s->data_offered);
		p->data_in = s->data_in;
		p->rate_Bps = ratio(s->data_in, s->alive_s);
		p->continuity = ratio(s->played, s->played + s->missed);
		p->startup_s = NAN;
		p->latency_s = s->latency;
		p->overhead = ratio(s->ctrl_in, s->data_in);
		p->duplicate = ratio(s->dup, s->data_in);
		h->csv_peers++;
		if (!p->source) {
			h->receivers++;
			if (!isnan(p->data_in))
				h->recv_bytes_in += p->data_in;
		}
	}
	h->finals_are_csv = true;
	r->have_final = r->have_final || m->n;
}

enum { FDIN, FDOUT, FRATE, FCONT, FSTART, FLAT, FOVH, FDUP, FOFFER, NFCOLS };
static const char *const final_cols[NFCOLS] = {
    "data_bytes_in",	"data_bytes_out",  "rate_Bps",
    "continuity",	"startup_delay_s", "segment_latency_s",
    "control_overhead", "duplicate_ratio", "data_bytes_offered"};

/* peers-final.csv; false when it gave no peer. */
static bool read_finals(struct rp_ctx *ctx, struct rp_run *r, struct rp_host *h,
			bool have_peers_csv)
{
	static const char *const required[] = {"peer", NULL};
	struct reader rd;
	double v[NFCOLS + RP_VALUES_MAX];
	int cols[NFCOLS + RP_VALUES_MAX], slot[RP_VALUES_MAX], cclass, rc;
	size_t before = r->npeers, ncols = NFCOLS;

	if (!reader_open(ctx, &rd, h->dir, "peers-final.csv", required,
			 have_peers_csv ? "per-peer results are taken from the "
					  "last rows of peers.csv"
					: "no per-peer results"))
		return false;
	cols_of(&rd, final_cols, cols, NFCOLS);
	/* the algorithm's values: every column value.NAME */
	for (size_t c = 0; c < rd.c.ncols; c++) {
		const char *name = rd.c.names[c];
		int k;

		if (strncmp(name, "value.", 6) || !name[6] ||
		    ncols == NFCOLS + RP_VALUES_MAX)
			continue;
		k = value_slot(ctx, r, rd.path, name + 6);
		if (k < 0)
			continue;
		slot[ncols - NFCOLS] = k;
		cols[ncols++] = (int)c;
	}
	cclass = rp_csv_col(&rd.c, "class");
	while ((rc = reader_next(&rd, cols, v, ncols)) == 1) {
		const char *cls = rp_csv_field(&rd.c, cclass);
		struct rp_peer *p = peer_add(r);

		if (!p)
			break;
		p->source =
		    is_source(cls && !strcmp(cls, "source"), v[FDIN], v[FDOUT],
			      v[FOFFER]);
		p->data_in = v[FDIN];
		p->rate_Bps = v[FRATE];
		p->continuity = v[FCONT];
		p->startup_s = v[FSTART];
		p->latency_s = v[FLAT];
		p->overhead = v[FOVH];
		p->duplicate = v[FDUP];
		for (size_t k = NFCOLS; k < ncols; k++)
			p->values[slot[k - NFCOLS]] = v[k];
		h->csv_peers++;
		if (!p->source) {
			h->receivers++;
			if (!isnan(p->data_in))
				h->recv_bytes_in += p->data_in;
		}
	}
	reader_close(ctx, &rd, rc);
	if (r->npeers == before)
		return false;
	h->any_csv = r->have_final = true;
	return true;
}

static void read_csvs(struct rp_ctx *ctx, struct rp_run *r, struct rp_host *h)
{
	struct peer_map m = {0};

	read_node(ctx, r, h);
	read_workers(ctx, r, h);
	peers_first_pass(ctx, r, h, &m);
	if (m.n)
		peers_second_pass(ctx, r, h, &m);
	if (!read_finals(ctx, r, h, m.n > 0) && m.n)
		finals_from_peers(r, h, &m);
	peer_map_free(&m);
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
			read_csvs(ctx, r, &r->hosts[k]);
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
