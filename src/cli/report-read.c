/* crystal report: the CSV files of a run directory, read into its run
 * (report-runs.c puts the hosts of one run together): node-level series
 * summed over hosts per sampling interval, peers as the union of the
 * hosts' peers.  A file that is missing, unreadable or cut short is said
 * by name and what it holds is used as far as it goes.
 *
 * Known limit: the CSV files do not say which peers are sources.  A peer
 * of class "source", or one that sent data and never received any, is
 * taken as one, and left out of the per-peer figures as summary.json
 * leaves the sources out.
 */
#include "report.h"

#include <errno.h>
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

void rp_read_csvs(struct rp_ctx *ctx, struct rp_run *r, struct rp_host *h)
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
