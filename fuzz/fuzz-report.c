/* Fuzz target: crystal report's readers (src/cli/report-read.c and
 * report-csv.c) and its tables (report-table.c).
 *
 * The input is one or two run directories: its parts, split at lines of
 * "==", are in turn summary.json, node.csv, workers.csv, peers.csv and
 * peers-final.csv of a first directory, then the same of a second (which
 * may merge with the first as another host of one experiment).  A file
 * past the last part is missing.  The runs read keep the readers'
 * promises:
 *   - at most one run per directory, each labelled, with a sampling
 *     interval above 0;
 *   - memory grows with the input: no series longer, and no more
 *     peers, than the bytes and lines given allow;
 * the distribution of the peers' rates has its figures in order (min <=
 * p5 <= p50 <= p95); and the tables are made of them (text, CSV and HTML,
 * to /dev/null).  The plots (gnuplot) are left out.
 */
#include "../src/cli/report.h"
#include "fuzz.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NFILES 5

static const char *const files[NFILES] = {
    "summary.json", "node.csv", "workers.csv", "peers.csv", "peers-final.csv"};
static char top[64], dirs[2][96];
static FILE *null_out;

static void file_path(char *buf, size_t len, int d, int f)
{
	snprintf(buf, len, "%s/%s", dirs[d], files[f]);
}

static void clean(void)
{
	char p[160];

	for (int d = 0; d < 2; d++) {
		for (int f = 0; f < NFILES; f++) {
			file_path(p, sizeof(p), d, f);
			unlink(p);
		}
		rmdir(dirs[d]);
	}
	rmdir(top);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(top, sizeof(top), "%s/crystal-fuzz-XXXXXX",
		 tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	FZ_CHECK(mkdtemp(top));
	for (int d = 0; d < 2; d++) {
		snprintf(dirs[d], sizeof(dirs[d]), "%s/run%d", top, d + 1);
		FZ_CHECK(!mkdir(dirs[d], 0700));
	}
	null_out = fopen("/dev/null", "w");
	FZ_CHECK(null_out);
	atexit(clean);
	return 0;
}

/* The next part of data from *off: its length; *off moves past it and
 * its separator.  False when there is none left. */
static bool next_part(const uint8_t *data, size_t size, size_t *off,
		      size_t *start, size_t *len)
{
	const uint8_t *end;

	if (*off > size)
		return false;
	*start = *off;
	for (size_t i = *off; i < size; i++) {
		end = data + i;
		if (*end == '=' && i + 2 < size && end[1] == '=' &&
		    end[2] == '\n' && (i == 0 || end[-1] == '\n')) {
			*len = i - *off;
			*off = i + 3;
			return true;
		}
	}
	*len = size - *off;
	*off = size + 1;
	return true;
}

static void put(int d, int f, const uint8_t *p, size_t n)
{
	char path[160];
	FILE *out;

	file_path(path, sizeof(path), d, f);
	out = fopen(path, "w");
	FZ_CHECK(out);
	FZ_CHECK(fwrite(p, 1, n, out) == n);
	FZ_CHECK(!fclose(out));
}

/* The distribution of the peers' rates, as the table computes its
 * figures from the CSV files. */
static void check_dist(const struct rp_run *r)
{
	double *v = malloc((r->npeers ? r->npeers : 1) * sizeof(*v));
	struct rp_dist d;
	size_t n = 0;

	FZ_CHECK(v);
	for (size_t i = 0; i < r->npeers; i++)
		if (!isnan(r->peers[i].rate_Bps))
			v[n++] = r->peers[i].rate_Bps;
	rp_dist_of(v, n, &d);
	FZ_CHECK(d.state == (n ? RP_PRESENT : RP_NULL));
	if (n) {
		FZ_CHECK(d.peers == (double)n);
		FZ_CHECK(d.min <= d.p5 && d.p5 <= d.p50 && d.p50 <= d.p95);
		FZ_CHECK(isnan(d.mean) || d.mean >= d.min - fabs(d.min) * 1e-9);
	}
	free(v);
}

static void check_run(const struct rp_run *r, size_t bytes, size_t lines)
{
	const struct rp_ts *ts[] = {&r->alive, &r->cpu,	   &r->rss,
				    &r->lag,   &r->ctrl_d, &r->data_d};
	/* every file spans at most bytes/4 + 64 intervals; a series grows
	 * by doubling */
	size_t most = 2 * (bytes / 4 + 64);

	FZ_CHECK(r->label);
	FZ_CHECK(r->nhosts >= 1 && r->nhosts <= 2);
	FZ_CHECK(r->interval_s > 0 && isfinite(r->interval_s));
	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
		FZ_CHECK(ts[i]->n <= most);
	FZ_CHECK(r->nrates <= most);
	FZ_CHECK(r->npeers <= lines);
	FZ_CHECK(r->nvalue_names <= RP_VALUES_MAX);
}

/* The nodes' table of runs of several nodes (hosts_lost, clock), every
 * way it is written. */
static void write_nodes(const struct rp_run *runs, size_t n)
{
	struct rp_node_row *nodes;
	int k = rp_node_rows(runs, n, &nodes);

	FZ_CHECK(k >= 0);
	if (!k)
		return;
	rp_nodes_text(null_out, nodes, (size_t)k);
	rp_nodes_csv(null_out, nodes, (size_t)k);
	rp_nodes_html(null_out, nodes, (size_t)k);
	free(nodes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rp_ctx ctx = {.quiet = true};
	struct rp_run *runs = NULL;
	struct rp_row *rows;
	char *dirv[2] = {dirs[0], dirs[1]};
	size_t off = 0, start, len, lines = 1;
	int nparts = 0, n;
	char path[160];

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	while (nparts < 2 * NFILES &&
	       next_part(data, size, &off, &start, &len)) {
		put(nparts / NFILES, nparts % NFILES, data + start, len);
		nparts++;
	}
	for (int i = nparts; i < 2 * NFILES; i++) {
		file_path(path, sizeof(path), i / NFILES, i % NFILES);
		unlink(path);
	}
	n = rp_read_runs(&ctx, dirv, nparts > NFILES ? 2 : 1, &runs);
	FZ_CHECK(n >= 0 && n <= 2);
	rows = calloc(n ? (size_t)n : 1, sizeof(*rows));
	FZ_CHECK(rows);
	for (int i = 0; i < n; i++) {
		check_run(&runs[i], size, lines);
		check_dist(&runs[i]);
	}
	rp_rows_make(runs, (size_t)n, rows);
	rp_table_text(null_out, rows, (size_t)n);
	rp_table_csv(null_out, rows, (size_t)n);
	rp_table_html(null_out, rows, (size_t)n);
	write_nodes(runs, (size_t)n);
	rp_rows_free(rows, (size_t)n);
	free(rows);
	rp_runs_free(runs, (size_t)n);
	rp_ctx_free(&ctx);
	return 0;
}
