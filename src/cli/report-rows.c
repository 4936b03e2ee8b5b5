/* crystal report: the rows of the summary table, one per run, made from
 * what report-read.c read (report-table.c writes them).
 *
 * A figure comes from summary.json where the run has one; what it lacks
 * (a run killed hard has none) is computed from the CSV files.  For the
 * hosts of one run: counts, rates, CPU and memory are summed; the
 * duration is the longest; the per-peer rate is the mean weighted by each
 * host's receivers; and the distributions over peers are computed again
 * from the union of the hosts' peers, since quantiles cannot be added.
 */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --- the figures of a run ------------------------------------------------ */

/* The sum over hosts of f, or NaN when some host has no value. */
static double host_sum(const struct rp_run *r,
		       double (*f)(const struct rp_host *))
{
	double sum = 0;

	for (size_t i = 0; i < r->nhosts; i++)
		sum += f(&r->hosts[i]);
	return sum;
}

static double h_peers(const struct rp_host *h)
{
	if (!isnan(h->sum.peers))
		return h->sum.peers;
	return h->csv_peers ? (double)h->csv_peers : NAN;
}

static double h_duration(const struct rp_host *h)
{
	if (!isnan(h->sum.duration_s))
		return h->sum.duration_s;
	return h->csv_duration_s > 0 ? h->csv_duration_s : NAN;
}

static double h_cumulative(const struct rp_host *h)
{
	if (!isnan(h->sum.cumulative_rate_Bps))
		return h->sum.cumulative_rate_Bps;
	if (h->node_last_s > 0)
		return h->node_bytes_in / h->node_last_s;
	if (h->receivers && h->csv_duration_s > 0)
		return h->recv_bytes_in / h->csv_duration_s;
	return NAN;
}

static double h_per_peer(const struct rp_host *h)
{
	if (!isnan(h->sum.per_peer_rate_Bps))
		return h->sum.per_peer_rate_Bps;
	if (h->receivers && h->csv_duration_s > 0)
		return h->recv_bytes_in / (double)h->receivers /
		       h->csv_duration_s;
	return NAN;
}

static double h_cpu(const struct rp_host *h)
{
	if (!isnan(h->sum.cpu_percent))
		return h->sum.cpu_percent;
	return h->cpu_n ? h->cpu_sum / (double)h->cpu_n : NAN;
}

static double h_rss_kb(const struct rp_host *h)
{
	if (!isnan(h->sum.max_rss_kb))
		return h->sum.max_rss_kb;
	return h->rss_n ? h->rss_max / 1024 : NAN;
}

static double run_duration(const struct rp_run *r)
{
	double d = NAN;

	for (size_t i = 0; i < r->nhosts; i++) {
		double x = h_duration(&r->hosts[i]);

		if (isnan(d) || x > d)
			d = x;
	}
	return d;
}

/* Weighted by the receivers each host has in its CSV files, or, without
 * them, by its peers. */
static double run_per_peer(const struct rp_run *r)
{
	double sum = 0, weight = 0;

	if (r->nhosts == 1)
		return h_per_peer(&r->hosts[0]);
	for (size_t i = 0; i < r->nhosts; i++) {
		const struct rp_host *h = &r->hosts[i];
		double w = h->receivers ? (double)h->receivers : h_peers(h);

		sum += w * h_per_peer(h);
		weight += w;
	}
	return weight > 0 ? sum / weight : NAN;
}

static int run_interrupted(const struct rp_run *r)
{
	int all = 0;

	for (size_t i = 0; i < r->nhosts; i++) {
		if (r->hosts[i].sum.interrupted == 1)
			return 1;
		all += r->hosts[i].sum.interrupted == 0;
	}
	return (size_t)all == r->nhosts ? 0 : -1;
}

enum which { W_CONT, W_START, W_LAT, W_OVH, W_DUP };

static const struct rp_dist *sum_dist(const struct rp_summary *s, enum which w)
{
	switch (w) {
	case W_CONT:
		return &s->continuity;
	case W_START:
		return &s->startup_delay;
	case W_LAT:
		return &s->segment_latency;
	case W_OVH:
		return &s->control_overhead;
	default:
		return &s->duplicate_ratio;
	}
}

static double peer_value(const struct rp_peer *p, enum which w)
{
	switch (w) {
	case W_CONT:
		return p->continuity;
	case W_START:
		return p->startup_s;
	case W_LAT:
		return p->latency_s;
	case W_OVH:
		return p->overhead;
	default:
		return p->duplicate;
	}
}

/* The distribution over the run's receivers in the CSV files. */
static void csv_dist(const struct rp_run *r, enum which w, struct rp_dist *d)
{
	double *v = malloc((r->npeers ? r->npeers : 1) * sizeof(*v));
	size_t n = 0;

	memset(d, 0, sizeof(*d));
	if (!v)
		return;
	for (size_t i = 0; i < r->npeers; i++) {
		double x = peer_value(&r->peers[i], w);

		if (!r->peers[i].source && !isnan(x))
			v[n++] = x;
	}
	rp_dist_of(v, n, d);
	free(v);
}

static bool all_hosts_have_peers(const struct rp_run *r)
{
	for (size_t i = 0; i < r->nhosts; i++)
		if (!r->hosts[i].csv_peers)
			return false;
	return true;
}

/* One host: its summary's, or from its CSV files.  Several: from the
 * union of their peers, or failing that a mean weighted by the hosts'
 * peers (and no quantiles). */
static void run_dist(const struct rp_run *r, enum which w, struct rp_dist *d)
{
	double sum = 0, n = 0;
	bool any = false;

	memset(d, 0, sizeof(*d));
	if (r->nhosts == 1 && sum_dist(&r->hosts[0].sum, w)->state) {
		*d = *sum_dist(&r->hosts[0].sum, w);
		return;
	}
	if (r->nhosts == 1 || all_hosts_have_peers(r)) {
		csv_dist(r, w, d);
		return;
	}
	d->state = RP_NULL;
	d->min = d->p5 = d->p50 = d->p95 = NAN;
	for (size_t i = 0; i < r->nhosts; i++) {
		const struct rp_dist *h = sum_dist(&r->hosts[i].sum, w);

		if (h->state == RP_ABSENT) {
			d->state = RP_ABSENT;
			return;
		}
		if (h->state != RP_PRESENT)
			continue;
		if (!any || h->min < d->min)
			d->min = h->min;
		any = true;
		sum += h->mean * h->peers;
		n += h->peers;
	}
	if (any && n > 0) {
		d->state = RP_PRESENT;
		d->peers = n;
		d->mean = sum / n;
	}
}

/* --- the algorithm's values ---------------------------------------------- */

static const struct rp_value *sum_value(const struct rp_summary *s,
					const char *name)
{
	for (size_t i = 0; i < s->nvalues; i++)
		if (!strcmp(s->values[i].name, name))
			return &s->values[i];
	return NULL;
}

/* Over every peer of the CSV files that reported it, sources included (a
 * value is the algorithm's, not a receiver's). */
static void csv_value(const struct rp_run *r, size_t k, struct rp_dist *d)
{
	double *v = malloc((r->npeers ? r->npeers : 1) * sizeof(*v));
	size_t n = 0;

	memset(d, 0, sizeof(*d));
	if (!v)
		return;
	for (size_t i = 0; i < r->npeers; i++)
		if (!isnan(r->peers[i].values[k]))
			v[n++] = r->peers[i].values[k];
	rp_dist_of(v, n, d);
	free(v);
}

/* One host's summary.json, when it has the value; else the peers of the
 * CSV files that reported it; else the hosts' summaries, their means
 * weighted by their peers (no quantiles). */
static void value_dist(const struct rp_run *r, const char *name,
		       struct rp_dist *d)
{
	const struct rp_value *v;
	double sum = 0, n = 0;

	memset(d, 0, sizeof(*d));
	if (r->nhosts == 1 && (v = sum_value(&r->hosts[0].sum, name)) &&
	    v->d.state == RP_PRESENT) {
		*d = v->d;
		return;
	}
	for (size_t k = 0; k < r->nvalue_names; k++) {
		if (strcmp(r->value_names[k], name))
			continue;
		csv_value(r, k, d);
		if (d->state == RP_PRESENT)
			return;
	}
	d->min = d->p5 = d->p50 = d->p95 = NAN;
	for (size_t i = 0; i < r->nhosts; i++) {
		v = sum_value(&r->hosts[i].sum, name);
		if (!v || v->d.state != RP_PRESENT)
			continue;
		sum += v->d.mean * v->d.peers;
		n += v->d.peers;
	}
	if (n > 0) {
		d->state = RP_PRESENT;
		d->peers = n;
		d->mean = sum / n;
	}
}

int rp_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Adds name to names[0..*n) unless it is there or the list is full. */
void rp_names_add(const char **names, size_t *n, size_t max,
		  const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(names[i], name))
			return;
	if (*n < max)
		names[(*n)++] = name;
}

/* Every value any host of the run has, by name. */
static void make_values(const struct rp_run *r, struct rp_row *row)
{
	const char *names[RP_VALUES_MAX];
	size_t n = 0;

	for (size_t i = 0; i < r->nvalue_names; i++)
		rp_names_add(names, &n, RP_VALUES_MAX, r->value_names[i]);
	for (size_t h = 0; h < r->nhosts; h++)
		for (size_t i = 0; i < r->hosts[h].sum.nvalues; i++)
			rp_names_add(names, &n, RP_VALUES_MAX,
				 r->hosts[h].sum.values[i].name);
	if (!n || !(row->values = calloc(n, sizeof(*row->values))))
		return;
	qsort(names, n, sizeof(*names), rp_cmp_str);
	for (size_t i = 0; i < n; i++) {
		struct rp_row_value *x = &row->values[i];
		struct rp_dist d;

		value_dist(r, names[i], &d);
		x->name = names[i];
		x->mean = x->p5 = x->p50 = x->p95 = NAN;
		if (d.state == RP_PRESENT) {
			x->mean = d.mean;
			x->p5 = d.p5;
			x->p50 = d.p50;
			x->p95 = d.p95;
		}
	}
	row->nvalues = n;
}

static char *join_hosts(const struct rp_run *r, bool dirs)
{
	char *buf = NULL;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < r->nhosts; i++) {
		const char *s = dirs ? r->hosts[i].dir : r->hosts[i].sum.host;

		if (s)
			fprintf(f, "%s%s", n++ ? (dirs ? "; " : ", ") : "", s);
	}
	fclose(f);
	if (!n) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* "degraded" if any host is; else "ok" if any is; else what they say. */
static void run_fidelity(const struct rp_run *r, struct rp_row *row)
{
	for (size_t i = 0; i < r->nhosts; i++) {
		const struct rp_summary *s = &r->hosts[i].sum;

		if (!s->fidelity)
			continue;
		if (!strcmp(s->fidelity, "degraded")) {
			row->fidelity = s->fidelity;
			row->fidelity_reason = s->fidelity_reason;
			row->fidelity_cause = s->fidelity_cause;
			return;
		}
		if (!row->fidelity || !strcmp(s->fidelity, "ok"))
			row->fidelity = s->fidelity;
	}
}

static const char *run_from(const struct rp_run *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nhosts; i++)
		n += r->hosts[i].sum.present;
	if (n == r->nhosts)
		return "summary.json";
	return n ? "summary.json, CSV files" : "CSV files";
}

static void make_row(const struct rp_run *r, struct rp_row *row)
{
	struct rp_dist d;

	memset(row, 0, sizeof(*row));
	row->label = r->label;
	row->experiment = r->hosts[0].sum.experiment;
	row->hosts = join_hosts(r, false);
	row->dirs = join_hosts(r, true);
	row->run_id = r->hosts[0].sum.run_id;
	row->nodes = (double)(r->nodes > r->nhosts ? r->nodes : r->nhosts);
	row->nodes_read = (double)r->nhosts;
	row->lost = rp_lost_text(r);
	row->from = run_from(r);
	row->interrupted = run_interrupted(r);
	run_fidelity(r, row);
	row->peers = host_sum(r, h_peers);
	row->duration_s = run_duration(r);
	row->cumulative_rate_Bps = host_sum(r, h_cumulative);
	row->per_peer_rate_Bps = run_per_peer(r);
	row->cpu_percent = host_sum(r, h_cpu);
	row->max_rss_kb = host_sum(r, h_rss_kb);
	row->cont_mean = row->cont_p5 = row->cont_p50 = NAN;
	row->start_p50 = row->start_p95 = row->lat_p50 = row->lat_p95 = NAN;
	row->overhead_mean = row->duplicate_mean = NAN;
	run_dist(r, W_CONT, &d);
	if (d.state == RP_PRESENT) {
		row->cont_mean = d.mean;
		row->cont_p5 = d.p5;
		row->cont_p50 = d.p50;
	}
	run_dist(r, W_START, &d);
	if (d.state == RP_PRESENT) {
		row->start_p50 = d.p50;
		row->start_p95 = d.p95;
	}
	run_dist(r, W_LAT, &d);
	if (d.state == RP_PRESENT) {
		row->lat_p50 = d.p50;
		row->lat_p95 = d.p95;
	}
	run_dist(r, W_OVH, &d);
	if (d.state == RP_PRESENT)
		row->overhead_mean = d.mean;
	run_dist(r, W_DUP, &d);
	if (d.state == RP_PRESENT)
		row->duplicate_mean = d.mean;
	make_values(r, row);
}

void rp_rows_make(const struct rp_run *runs, size_t nruns, struct rp_row *rows)
{
	for (size_t i = 0; i < nruns; i++)
		make_row(&runs[i], &rows[i]);
}

void rp_rows_free(struct rp_row *rows, size_t nrows)
{
	for (size_t i = 0; i < nrows; i++) {
		free(rows[i].hosts);
		free(rows[i].dirs);
		free(rows[i].lost);
		free(rows[i].values);
	}
}

bool rp_row_degraded(const struct rp_row *row)
{
	return row->fidelity && !strcmp(row->fidelity, "degraded");
}
