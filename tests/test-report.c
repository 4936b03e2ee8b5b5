/* crystal report, run as a separate process ($BUILD/crystal) on run
 * directories this test writes itself, with numbers it knows: 3 receivers
 * (and a source) over 5 one-second samples.  It checks that
 *   - the table (--csv, --text) has the summary.json figures, and without
 *     summary.json the figures computed from the CSV files;
 *   - report.html is made with every plot as inline SVG (--svg-dir keeps
 *     the files too), two runs give two lines in every plot, and the
 *     directories of two hosts of one experiment merge into one run;
 *   - a cut peers.csv, a missing or broken summary.json, a malformed row
 *     are named on stderr and the report is still made;
 *   - CSV files are read by header name: columns moved or added, quoted
 *     fields;
 *   - a degraded run is flagged; without gnuplot the report has the
 *     table; bad usage exits 2 naming what was wrong;
 *   - seeded junk in every file (after a real header) never crashes it,
 *     also under the sanitizers;
 *   - a tiny directory costs little memory, whatever interval or times
 *     it gives.
 * The expected figures are computed here from the same per-peer values
 * the files are written from, with the quantile rule of summary.json
 * (nearest rank).
 */
#include "support.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define NRECV	3
#define SECONDS 5

static char crystal[512];
static char bindir[64];
static char dir[64];
static bool have_gnuplot;

/* --- writing run directories ---------------------------------------------- */

/* A run directory to write: receiver i receives base * (i + 1) B/s. */
struct synth {
	const char *name;
	const char *experiment, *id, *host; /* id, host: NULL not written */
	bool summary, source;
	const char *fidelity, *reason, *cause;
	double base;
	int port;
	const char *ip;	   /* of its peers; NULL: 127.0.0.1 */
	const char *extra; /* more keys of summary.json, as JSON text */
};

static const char *ip_of(const struct synth *s)
{
	return s->ip ? s->ip : "127.0.0.1";
}

/* What the peers-final rows say of receiver i. */
static const double played[NRECV] = {10, 8, 9}, missed[NRECV] = {0, 2, 1};

static double rate_of(const struct synth *s, int i)
{
	return s->base * (i + 1);
}

static double total_rate(const struct synth *s)
{
	double sum = 0;

	for (int i = 0; i < NRECV; i++)
		sum += rate_of(s, i);
	return sum;
}

static double continuity_of(int i)
{
	return played[i] / (played[i] + missed[i]);
}

static double startup_of(int i)
{
	return 0.5 * (i + 1);
}

static double latency_of(int i)
{
	return 0.1 * (i + 1);
}

static double overhead_of(const struct synth *s, int i)
{
	return 10.0 * (i + 1) / rate_of(s, i);
}

static double duplicate_of(const struct synth *s, int i)
{
	return 10.0 * i / rate_of(s, i);
}

static void path_of(char *buf, size_t len, const struct synth *s,
		    const char *file)
{
	snprintf(buf, len, "%s/%s/%s", dir, s->name, file);
}

static FILE *create(const struct synth *s, const char *file)
{
	char path[256];
	FILE *f;

	path_of(path, sizeof(path), s, file);
	f = fopen(path, "w");
	assert_non_null(f);
	return f;
}

/* The summary's distribution of one value over the receivers, nearest
 * rank, as the run writes it. */
struct dist {
	double mean, min, p5, p50, p95;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct dist dist_of(double *v, size_t n)
{
	struct dist d = {0};

	qsort(v, n, sizeof(*v), cmp_double);
	for (size_t i = 0; i < n; i++)
		d.mean += v[i] / (double)n;
	d.min = v[0];
	d.p5 = v[(size_t)(0.05 * (double)(n - 1) + 0.5)];
	d.p50 = v[(size_t)(0.50 * (double)(n - 1) + 0.5)];
	d.p95 = v[(size_t)(0.95 * (double)(n - 1) + 0.5)];
	return d;
}

/* The distribution of f over the receivers of the runs given. */
static struct dist dist_over(const struct synth *const *runs, size_t nruns,
			     double (*f)(const struct synth *, int))
{
	double v[16];
	size_t n = 0;

	for (size_t r = 0; r < nruns; r++)
		for (int i = 0; i < NRECV; i++)
			v[n++] = f(runs[r], i);
	return dist_of(v, n);
}

static double f_cont(const struct synth *s, int i)
{
	return continuity_of(i);
}

static double f_start(const struct synth *s, int i)
{
	return startup_of(i);
}

static double f_lat(const struct synth *s, int i)
{
	return latency_of(i);
}

static void json_dist(FILE *f, const char *key, struct dist d)
{
	fprintf(f,
		"  \"%s\": {\"peers\": %d, \"mean\": %.10g, \"min\": %.10g, "
		"\"p5\": %.10g, \"p50\": %.10g, \"p95\": %.10g},\n",
		key, NRECV, d.mean, d.min, d.p5, d.p50, d.p95);
}

/* What summary.json says where the CSV files would say otherwise, so
 * that a test can tell where a figure came from. */
#define SUMMARY_CPU    42.5
#define SUMMARY_RSS_KB 7777

static void write_summary(const struct synth *s)
{
	const struct synth *one[] = {s};
	FILE *f = create(s, "summary.json");
	double ovh[NRECV], dup[NRECV];

	for (int i = 0; i < NRECV; i++) {
		ovh[i] = overhead_of(s, i);
		dup[i] = duplicate_of(s, i);
	}
	fprintf(f, "{\n  \"experiment\": \"%s\",\n", s->experiment);
	if (s->id)
		fprintf(f, "  \"experiment_id\": \"%s\",\n", s->id);
	if (s->host)
		fprintf(f, "  \"host\": \"%s\",\n", s->host);
	fprintf(f,
		"  \"experiment_file\": null,\n  \"interrupted\": false,\n"
		"  \"peers\": %d,\n  \"duration_s\": %d,\n"
		"  \"cumulative_rate_Bps\": %.10g,\n"
		"  \"per_peer_rate_Bps\": %.10g,\n",
		NRECV + s->source, SECONDS, total_rate(s),
		total_rate(s) / NRECV);
	json_dist(f, "continuity", dist_over(one, 1, f_cont));
	json_dist(f, "startup_delay_s", dist_over(one, 1, f_start));
	json_dist(f, "segment_latency_s", dist_over(one, 1, f_lat));
	json_dist(f, "control_overhead", dist_of(ovh, NRECV));
	json_dist(f, "duplicate_ratio", dist_of(dup, NRECV));
	fprintf(f,
		"  \"cpu_percent\": %g,\n  \"max_rss_kb\": %d,\n"
		"  \"fidelity\": \"%s\",\n",
		SUMMARY_CPU, SUMMARY_RSS_KB, s->fidelity ? s->fidelity : "ok");
	if (s->reason)
		fprintf(f, "  \"fidelity_reason\": \"%s\",\n", s->reason);
	if (s->cause)
		fprintf(f, "  \"fidelity_cause\": \"%s\",\n", s->cause);
	if (s->extra)
		fprintf(f, "  %s,\n", s->extra);
	fprintf(f, "  \"parameters\": {\"algorithm\": \"x\", \"seed\": 1},\n"
		   "  \"sample_interval_s\": 1,\n  \"complete\": true\n}\n");
	assert_int_equal(fclose(f), 0);
}

static void write_node(const struct synth *s)
{
	FILE *f = create(s, "node.csv");

	fprintf(f, "time_s,cpu_percent,rss_bytes,peers_alive,data_bytes_in,"
		   "data_rate_Bps\n");
	for (int t = 1; t <= SECONDS; t++)
		fprintf(f, "%d.000,%d,%d,%d,%.0f,%.0f\n", t, 10 * t,
			(1 << 20) * t, NRECV + s->source, total_rate(s) * t,
			total_rate(s));
	assert_int_equal(fclose(f), 0);
}

static void write_workers(const struct synth *s)
{
	FILE *f = create(s, "workers.csv");

	fprintf(f, "time_s,worker,peers_alive,timer_lag_p50_us,"
		   "timer_lag_p99_us,release_late_p99_us,messages_switched\n");
	for (int t = 1; t <= SECONDS; t++)
		for (int w = 0; w < 2; w++)
			fprintf(f, "%d.000,%d,2,50,%d,,%d\n", t, w, 100 * t + w,
				1000 * t);
	assert_int_equal(fclose(f), 0);
}

static void write_peers(const struct synth *s)
{
	FILE *f = create(s, "peers.csv");

	fprintf(f, "time_s,peer,class,session,alive,data_bytes_in,"
		   "data_bytes_out,ctrl_bytes_in,ctrl_bytes_out,"
		   "buffer_segments,played,missed,duplicate_bytes,"
		   "segment_latency_s\n");
	for (int t = 1; t <= SECONDS; t++) {
		if (s->source)
			fprintf(f,
				"%d.000,%s:%d,source,,1,0,%.0f,%d,0,"
				",,,,\n",
				t, ip_of(s), s->port, total_rate(s) * t, 5 * t);
		for (int i = 0; i < NRECV; i++)
			fprintf(f,
				"%d.000,%s:%d,peer,1,1,%.0f,0,%d,3,2,"
				"%.0f,%.0f,%d,%g\n",
				t, ip_of(s), s->port + 1 + i, rate_of(s, i) * t,
				10 * (i + 1) * t, played[i] * t / SECONDS,
				missed[i] * t / SECONDS, 10 * i * t,
				latency_of(i));
	}
	assert_int_equal(fclose(f), 0);
}

static void write_final(const struct synth *s)
{
	FILE *f = create(s, "peers-final.csv");

	fprintf(f, "peer,class,session,alive_s,data_bytes_in,data_bytes_out,"
		   "ctrl_bytes_in,ctrl_bytes_out,rate_Bps,played,missed,"
		   "continuity,startup_delay_s,segment_latency_s,"
		   "control_overhead,duplicate_ratio\n");
	if (s->source)
		fprintf(f, "%s:%d,source,,%d,0,%.0f,%d,0,0,,,,,,,\n",
			ip_of(s), s->port, SECONDS, total_rate(s) * SECONDS,
			5 * SECONDS);
	for (int i = 0; i < NRECV; i++)
		fprintf(f,
			"%s:%d,peer,1,%d,%.0f,0,%d,3,%.10g,%.0f,%.0f,"
			"%.10g,%.10g,%.10g,%.10g,%.10g\n",
			ip_of(s), s->port + 1 + i, SECONDS, rate_of(s, i) * SECONDS,
			10 * (i + 1) * SECONDS, rate_of(s, i), played[i],
			missed[i], continuity_of(i), startup_of(i),
			latency_of(i), overhead_of(s, i), duplicate_of(s, i));
	assert_int_equal(fclose(f), 0);
}

static void write_run(const struct synth *s)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, s->name);
	assert_int_equal(mkdir(path, 0755), 0);
	if (s->summary)
		write_summary(s);
	write_node(s);
	write_workers(s);
	write_peers(s);
	write_final(s);
}

/* Cuts a file in the middle of its last line. */
static void cut_last_line(const struct synth *s, const char *file)
{
	char path[256], *text;
	size_t n;

	path_of(path, sizeof(path), s, file);
	text = t_slurp(path);
	assert_non_null(text);
	n = strlen(text);
	assert_true(n > 10);
	assert_int_equal(truncate(path, (off_t)(n - 7)), 0);
	free(text);
}

static const struct synth run_a = {.name = "alpha",
				   .experiment = "exp",
				   .id = "0123abcd",
				   .host = "h1",
				   .summary = true,
				   .source = true,
				   .base = 1000,
				   .port = 20000};
static const struct synth run_b = {.name = "beta",
				   .experiment = "exp2",
				   .id = "4567cdef",
				   .host = "h1",
				   .summary = true,
				   .source = true,
				   .base = 3000,
				   .port = 20000};

/* --- running crystal report ----------------------------------------------- */

struct result {
	int rc;
	char *out, *err;
};

static struct result report(const char *first, ...)
{
	char *argv[32];
	struct result r;
	va_list ap;
	int n = 0;

	argv[n++] = crystal;
	argv[n++] = "report";
	va_start(ap, first);
	for (const char *a = first; a && n < 31; a = va_arg(ap, const char *))
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	r.rc = t_run(argv, 60000, &r.out, &r.err);
	if (!r.out)
		r.out = strdup("");
	if (!r.err)
		r.err = strdup("");
	return r;
}

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

static char *run_path(const struct synth *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, s->name);
	return buf;
}

/* --- reading its CSV ------------------------------------------------------ */

/* Field `col` of line `row` (0: the header) of RFC 4180 text, into buf. */
static bool csv_field(const char *csv, int row, int col, char *buf, size_t len)
{
	const char *p = csv;
	size_t n = 0;
	bool q = false;
	int r = 0, c = 0;

	for (; *p; p++) {
		if (*p == '"' && q && p[1] == '"') {
			p++;
		} else if (*p == '"') {
			q = !q;
			continue;
		} else if (!q && (*p == ',' || *p == '\n')) {
			if (r == row && c == col) {
				buf[n] = 0;
				return true;
			}
			if (*p == ',') {
				c++;
			} else {
				r++;
				c = 0;
			}
			continue;
		}
		if (r == row && c == col && n + 1 < len)
			buf[n++] = *p;
	}
	return false;
}

static int csv_col(const char *csv, const char *name)
{
	char buf[128];

	for (int c = 0; csv_field(csv, 0, c, buf, sizeof(buf)); c++)
		if (!strcmp(buf, name))
			return c;
	fail_msg("no column %s in:\n%s", name, csv);
	return -1;
}

static int csv_rows(const char *csv)
{
	int n = 0;

	for (const char *p = csv; *p; p++)
		n += *p == '\n';
	return n - 1;
}

static const char *csv_str(const char *csv, int row, const char *name)
{
	static char buf[512];

	if (!csv_field(csv, row, csv_col(csv, name), buf, sizeof(buf)))
		fail_msg("no row %d in:\n%s", row, csv);
	return buf;
}

static void expect_num(const char *csv, int row, const char *name, double want)
{
	const char *s = csv_str(csv, row, name);
	char *end;
	double got = strtod(s, &end);

	if (!*s || *end || fabs(got - want) > 1e-6 * fmax(1, fabs(want)))
		fail_msg("%s: got '%s', expected %.10g\n%s", name, s, want,
			 csv);
}

/* The text table's cell for `name` (one run). */
static void expect_text(const char *text, const char *name, const char *want)
{
	char key[64];
	const char *l;
	size_t n;

	snprintf(key, sizeof(key), "\n%s ", name);
	l = strstr(text, key);
	if (!l)
		fail_msg("no line '%s' in:\n%s", name, text);
	l += strlen(key);
	l += strspn(l, " ");
	n = strcspn(l, "\n");
	if (n != strlen(want) || strncmp(l, want, n))
		fail_msg("%s: '%.*s', expected '%s' in:\n%s", name, (int)n, l,
			 want, text);
}

static void expect_empty(const char *csv, int row, const char *name)
{
	const char *s = csv_str(csv, row, name);

	if (*s)
		fail_msg("%s: got '%s', expected nothing\n%s", name, s, csv);
}

/* Every stream-quality column, from the receivers of the runs given. */
static void expect_quality(const char *csv, int row,
			   const struct synth *const *runs, size_t nruns)
{
	struct dist c = dist_over(runs, nruns, f_cont);
	struct dist l = dist_over(runs, nruns, f_lat);
	struct dist o = dist_over(runs, nruns, overhead_of);
	struct dist d = dist_over(runs, nruns, duplicate_of);

	expect_num(csv, row, "continuity_mean", c.mean);
	expect_num(csv, row, "continuity_p5", c.p5);
	expect_num(csv, row, "continuity_p50", c.p50);
	expect_num(csv, row, "segment_latency_p50_s", l.p50);
	expect_num(csv, row, "segment_latency_p95_s", l.p95);
	expect_num(csv, row, "control_overhead_mean", o.mean);
	expect_num(csv, row, "duplicate_ratio_mean", d.mean);
}

/* --- reading its HTML ----------------------------------------------------- */

static const char *const plot_ids[] = {
    "rate-time",   "rate-cdf",	  "continuity-cdf",
    "startup-cdf", "peers-alive", "control-overhead",
    "cpu",	   "memory",	  "timer-lag"};
#define NPLOTS (sizeof(plot_ids) / sizeof(plot_ids[0]))

/* The inline SVG of plot `id` in the page (malloc'd), or NULL. */
static char *svg_in(const char *html, const char *id)
{
	char key[64];
	const char *sec, *start, *end, *next;

	snprintf(key, sizeof(key), "<section id=\"%s\">", id);
	sec = strstr(html, key);
	if (!sec)
		return NULL;
	next = strstr(sec + 1, "</section>");
	start = strstr(sec, "<svg");
	if (!start || !next || start > next)
		return NULL;
	end = strstr(start, "</svg>");
	if (!end || end > next)
		return NULL;
	return strndup(start, (size_t)(end - start) + strlen("</svg>"));
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* The rows of a plot's data file (--data-dir), comment lines left out:
 * up to 16 rows of up to 4 numbers; returns the number of rows. */
static int data_rows(const char *dir_, const char *name, double v[16][4])
{
	char path[256], line[256];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir_, name);
	f = fopen(path, "r");
	if (!f)
		fail_msg("no %s", path);
	while (fgets(line, sizeof(line), f) && n < 16) {
		if (line[0] == '#')
			continue;
		memset(v[n], 0, sizeof(v[n]));
		sscanf(line, "%lf %lf %lf %lf", &v[n][0], &v[n][1], &v[n][2],
		       &v[n][3]);
		n++;
	}
	fclose(f);
	return n;
}

/* --- setup ---------------------------------------------------------------- */

static int group_setup(void **state)
{
	char built[512];

	snprintf(built, sizeof(built), "%s/crystal", t_build_dir());
	if (access(built, X_OK)) {
		fprintf(stderr, "no %s: build it first (make)\n", built);
		return -1;
	}
	if (t_mkdtemp(bindir, sizeof(bindir)))
		return -1;
	snprintf(crystal, sizeof(crystal), "%s/crystal", bindir);
	char *cp[] = {"cp", built, crystal, NULL};
	if (t_run(cp, 30000, NULL, NULL))
		return -1;
	char *which[] = {"sh", "-c", "command -v gnuplot", NULL};
	have_gnuplot = t_run(which, 30000, NULL, NULL) == 0;
	if (!have_gnuplot)
		fprintf(stderr, "no gnuplot on PATH: the plot tests are "
				"skipped (make deps installs it)\n");
	return 0;
}

static int group_teardown(void **state)
{
	t_rm_rf(bindir);
	return 0;
}

static int setup(void **state)
{
	return t_mkdtemp(dir, sizeof(dir));
}

static int teardown(void **state)
{
	t_rm_rf(dir);
	return 0;
}

/* --- the tests ------------------------------------------------------------ */

static void table_has_the_summary_figures(void **state)
{
	const struct synth *one[] = {&run_a};
	char p[128], line[256];
	struct result r;

	write_run(&run_a);
	r = report("--csv", run_path(&run_a, p, sizeof(p)), NULL);
	if (r.rc)
		fail_msg("exit status %d: %s", r.rc, r.err);
	assert_int_equal(csv_rows(r.out), 1);
	assert_string_equal(csv_str(r.out, 1, "run"), "exp: alpha");
	assert_string_equal(csv_str(r.out, 1, "experiment"), "exp");
	assert_string_equal(csv_str(r.out, 1, "hosts"), "h1");
	assert_string_equal(csv_str(r.out, 1, "interrupted"), "false");
	assert_string_equal(csv_str(r.out, 1, "fidelity"), "ok");
	assert_string_equal(csv_str(r.out, 1, "from"), "summary.json");
	expect_num(r.out, 1, "peers", NRECV + 1);
	expect_num(r.out, 1, "duration_s", SECONDS);
	expect_num(r.out, 1, "cumulative_rate_Bps", total_rate(&run_a));
	expect_num(r.out, 1, "per_peer_rate_Bps", total_rate(&run_a) / NRECV);
	expect_quality(r.out, 1, one, 1);
	struct dist st = dist_over(one, 1, f_start);
	expect_num(r.out, 1, "startup_delay_p50_s", st.p50);
	expect_num(r.out, 1, "startup_delay_p95_s", st.p95);
	/* summary.json's, not the CSV files' */
	expect_num(r.out, 1, "cpu_percent", SUMMARY_CPU);
	expect_num(r.out, 1, "max_rss_kb", SUMMARY_RSS_KB);
	/* nothing went wrong, nothing to say */
	assert_string_equal(r.err, "");
	assert_false(t_exists(strcat(p, "/report.html")));
	result_free(&r);

	/* the same figures as text, aligned, one column per run */
	r = report("--text", run_path(&run_a, p, sizeof(p)), NULL);
	assert_int_equal(r.rc, 0);
	snprintf(line, sizeof(line), "%.2f KB/s", total_rate(&run_a) / 1e3);
	expect_text(r.out, "cumulative rate", line);
	snprintf(line, sizeof(line), "%.2f KB/s",
		 total_rate(&run_a) / NRECV / 1e3);
	expect_text(r.out, "per-peer rate", line);
	snprintf(line, sizeof(line), "%.4f", dist_over(one, 1, f_cont).mean);
	expect_text(r.out, "continuity mean", line);
	snprintf(line, sizeof(line), "%.2f s", st.p95);
	expect_text(r.out, "startup delay p95", line);
	expect_text(r.out, "duration", "5.00 s");
	expect_text(r.out, "interrupted", "no");
	expect_text(r.out, "CPU", "42.5 %");
	expect_text(r.out, "max RSS", "7.6 MiB");
	/* aligned: every line as long as the first */
	size_t width = strcspn(r.out, "\n");
	for (const char *l = r.out; *l; l += strcspn(l, "\n") + 1)
		if (strcspn(l, "\n") != width)
			fail_msg("ragged line '%.*s' in:\n%s",
				 (int)strcspn(l, "\n"), l, r.out);
	result_free(&r);
}

static void table_from_csv_without_summary(void **state)
{
	struct synth s = run_a;
	const struct synth *one[] = {&s};
	char p[128];
	struct result r;

	s.name = "killed";
	s.summary = false;
	write_run(&s);
	r = report("--csv", run_path(&s, p, sizeof(p)), NULL);
	if (r.rc)
		fail_msg("exit status %d: %s", r.rc, r.err);
	/* said, by name */
	assert_non_null(strstr(r.err, "killed/summary.json"));
	assert_non_null(strstr(r.err, "missing"));
	assert_string_equal(csv_str(r.out, 1, "run"), "killed");
	assert_string_equal(csv_str(r.out, 1, "from"), "CSV files");
	expect_empty(r.out, 1, "interrupted");
	expect_empty(r.out, 1, "fidelity");
	expect_num(r.out, 1, "peers", NRECV + 1);
	expect_num(r.out, 1, "duration_s", SECONDS);
	/* node.csv: the last data_bytes_in over its time */
	expect_num(r.out, 1, "cumulative_rate_Bps", total_rate(&s));
	/* the receivers' data bytes over the duration, averaged */
	expect_num(r.out, 1, "per_peer_rate_Bps", total_rate(&s) / NRECV);
	expect_quality(r.out, 1, one, 1);
	/* node.csv: the mean CPU of the samples, the largest RSS */
	expect_num(r.out, 1, "cpu_percent", (10 + 20 + 30 + 40 + 50) / 5.0);
	expect_num(r.out, 1, "max_rss_kb", SECONDS * 1024);
	result_free(&r);
}

static void html_embeds_every_plot(void **state)
{
	char p[128], out[256], svgdir[128], datadir[128], file[192];
	char *html;
	struct result r;

	if (!have_gnuplot)
		skip();
	write_run(&run_a);
	snprintf(svgdir, sizeof(svgdir), "%s/svg", dir);
	snprintf(datadir, sizeof(datadir), "%s/data", dir);
	r = report("--svg-dir", svgdir, "--data-dir", datadir,
		   run_path(&run_a, p, sizeof(p)), NULL);
	if (r.rc)
		fail_msg("exit status %d: %s", r.rc, r.err);
	/* the default: into the run directory */
	snprintf(out, sizeof(out), "%s/report.html", p);
	assert_non_null(strstr(r.err, out));
	html = t_slurp(out);
	assert_non_null(html);
	assert_int_equal(strncmp(html, "<!DOCTYPE html>", 15), 0);
	assert_non_null(strstr(html, "</html>\n"));
	assert_non_null(strstr(html, "<table class=\"summary\">"));
	assert_null(strstr(html, "Not drawn"));
	assert_int_equal(count(html, "<svg"), NPLOTS);
	for (size_t i = 0; i < NPLOTS; i++) {
		char *svg = svg_in(html, plot_ids[i]), *kept;

		if (!svg)
			fail_msg("no inline SVG for %s", plot_ids[i]);
		/* drawn, and with the run's line in the key */
		assert_true(strstr(svg, "<path") || strstr(svg, "<polygon"));
		assert_non_null(strstr(svg, "exp: alpha"));
		/* the file gnuplot made is kept too, and is what was
		 * embedded */
		snprintf(file, sizeof(file), "%s/%s.svg", svgdir, plot_ids[i]);
		kept = t_slurp(file);
		if (!kept)
			fail_msg("no %s", file);
		assert_true(!strncmp(kept, "<?xml", 5) ||
			    !strncmp(kept, "<svg", 4));
		assert_non_null(strstr(kept, "</svg>"));
		assert_non_null(strstr(kept, "exp: alpha"));
		free(kept);
		free(svg);
	}
	/* the numbers behind the plots: a receiver's rate is known from its
	 * second sample on */
	double v[16][4];
	int n = data_rows(datadir, "rate-time-1.dat", v);
	assert_int_equal(n, SECONDS - 1);
	for (int i = 0; i < n; i++) {
		assert_true(v[i][0] == i + 2);
		assert_true(fabs(v[i][1] - total_rate(&run_a) / NRECV) < 1e-6);
		assert_true(fabs(v[i][2] - rate_of(&run_a, 0)) < 1e-6);
		assert_true(fabs(v[i][3] - rate_of(&run_a, NRECV - 1)) < 1e-6);
	}
	/* the worst worker's timer lag, every second */
	n = data_rows(datadir, "timer-lag-1.dat", v);
	assert_int_equal(n, SECONDS);
	for (int i = 0; i < n; i++)
		assert_true(v[i][1] == 100 * (i + 1) + 1);
	/* control bytes over data bytes of the receivers, per interval */
	n = data_rows(datadir, "control-overhead-1.dat", v);
	assert_int_equal(n, SECONDS - 1);
	for (int i = 0; i < n; i++)
		assert_true(fabs(v[i][1] - 60 / total_rate(&run_a)) < 1e-9);
	/* a step up at every receiver's rate, the source left out */
	n = data_rows(datadir, "rate-cdf-1.dat", v);
	assert_int_equal(n, NRECV + 1);
	assert_true(v[0][0] == rate_of(&run_a, 0) && v[0][1] == 0);
	for (int i = 1; i <= NRECV; i++) {
		assert_true(v[i][0] == rate_of(&run_a, i - 1));
		assert_true(fabs(v[i][1] - (double)i / NRECV) < 1e-9);
	}
	/* ids made unique across the page */
	assert_int_equal(count(html, "id=\"rate-time-gnuplot_canvas\""), 1);
	assert_int_equal(count(html, "id=\"gnuplot_canvas\""), 0);
	free(html);
	result_free(&r);
}

static void two_runs_two_lines(void **state)
{
	char pa[128], pb[128], out[256], *html;
	struct result r;

	if (!have_gnuplot)
		skip();
	write_run(&run_a);
	write_run(&run_b);
	run_path(&run_a, pa, sizeof(pa));
	run_path(&run_b, pb, sizeof(pb));
	snprintf(out, sizeof(out), "%s/cmp.html", dir);
	r = report("-o", out, pa, pb, NULL);
	if (r.rc)
		fail_msg("exit status %d: %s", r.rc, r.err);
	html = t_slurp(out);
	assert_non_null(html);
	for (size_t i = 0; i < NPLOTS; i++) {
		char *svg = svg_in(html, plot_ids[i]);

		if (!svg)
			fail_msg("no inline SVG for %s", plot_ids[i]);
		if (!strstr(svg, "exp: alpha") || !strstr(svg, "exp2: beta"))
			fail_msg("%s: not both runs in the key", plot_ids[i]);
		free(svg);
	}
	/* the table has a column each */
	assert_non_null(strstr(html, "<th>exp: alpha</th><th>exp2: beta</th>"));
	free(html);
	result_free(&r);

	/* and the CSV a line each, in the order given */
	r = report("--csv", pa, pb, NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(csv_rows(r.out), 2);
	assert_string_equal(csv_str(r.out, 2, "run"), "exp2: beta");
	expect_num(r.out, 2, "cumulative_rate_Bps", total_rate(&run_b));
	result_free(&r);
}

static void hosts_of_one_run_merge(void **state)
{
	struct synth h1 = run_a, h2 = run_a;
	const struct synth *both[] = {&h1, &h2};
	char p1[128], p2[128], out[256], *html;
	struct result r;

	h1.name = "host1";
	h2.name = "host2";
	h2.host = "h2";
	h2.source = false; /* the source runs on the first host */
	h2.base = 2000;
	h2.port = 21000;
	write_run(&h1);
	write_run(&h2);
	run_path(&h1, p1, sizeof(p1));
	run_path(&h2, p2, sizeof(p2));
	r = report("--csv", p1, p2, NULL);
	if (r.rc)
		fail_msg("exit status %d: %s", r.rc, r.err);
	assert_int_equal(csv_rows(r.out), 1);
	assert_string_equal(csv_str(r.out, 1, "run"), "exp: host1+host2");
	assert_string_equal(csv_str(r.out, 1, "hosts"), "h1, h2");
	expect_num(r.out, 1, "peers", 2 * NRECV + 1);
	expect_num(r.out, 1, "cumulative_rate_Bps",
		   total_rate(&h1) + total_rate(&h2));
	/* the mean over all receivers: both hosts have as many */
	expect_num(r.out, 1, "per_peer_rate_Bps",
		   (total_rate(&h1) + total_rate(&h2)) / (2 * NRECV));
	/* quantiles over the union of the hosts' peers */
	expect_quality(r.out, 1, both, 2);
	expect_num(r.out, 1, "cpu_percent", 2 * SUMMARY_CPU);
	result_free(&r);

	/* node-level series summed over the hosts */
	char datadir[128];
	double v[16][4];
	snprintf(datadir, sizeof(datadir), "%s/data", dir);
	snprintf(out, sizeof(out), "%s/merged.html", dir);
	r = report("--out", out, "--data-dir", datadir, p1, p2, NULL);
	assert_int_equal(r.rc, 0);
	result_free(&r);
	assert_int_equal(data_rows(datadir, "peers-alive-1.dat", v), SECONDS);
	for (int i = 0; i < SECONDS; i++)
		assert_true(v[i][1] == 2 * NRECV + 1);
	assert_int_equal(data_rows(datadir, "cpu-1.dat", v), SECONDS);
	for (int i = 0; i < SECONDS; i++)
		assert_true(v[i][1] == 2 * 10 * (i + 1));
	/* the receivers' rates: the union of both hosts' */
	assert_int_equal(data_rows(datadir, "rate-time-1.dat", v), SECONDS - 1);
	assert_true(fabs(v[0][1] - (total_rate(&h1) + total_rate(&h2)) /
				       (2 * NRECV)) < 1e-6);
	assert_true(v[0][3] == rate_of(&h2, NRECV - 1));
	/* one line in the plots, labelled with both directories */
	if (!have_gnuplot)
		return;
	html = t_slurp(out);
	assert_non_null(html);
	char *svg = svg_in(html, "peers-alive");
	assert_non_null(svg);
	assert_int_equal(count(svg, "exp: host1+host2"), 1);
	free(svg);
	free(html);
}

/* --- runs of several nodes ------------------------------------------------ */

/* Node k (0..) of a run on one machine (host "box"): peers on 10.9.0.k+1,
 * the source on node 0, summary.json with the keys of a run that spanned
 * hosts (extra, or none). */
static struct synth node_of(const char *name, int k, const char *extra)
{
	static const char *const ips[] = {"10.9.0.1", "10.9.0.2", "10.9.0.3"};
	struct synth s = run_a;

	s.name = name;
	s.host = "box";
	s.source = k == 0;
	s.base = 1000.0 * (k + 1);
	s.ip = ips[k];
	s.extra = extra;
	return s;
}

#define NODE_KEYS(run, node, n)                                              \
	"\"run_id\": \"" run "\", \"node\": \"" node "\", \"nodes\": " #n    \
	", \"coordinator\": \"10.9.0.1:19990\""

static void runs_merge_by_run_id(void **state)
{
	struct synth a[3] = {
	    node_of("a0", 0,
		    NODE_KEYS("00000000000000aa", "10.9.0.1", 3)
		    ", \"clock\": {\"offset_us\": 0, \"uncertainty_us\": 0}"),
	    node_of("a1", 1,
		    NODE_KEYS("00000000000000aa", "10.9.0.2", 3)
		    ", \"clock\": {\"offset_us\": -35, \"uncertainty_us\": 12}"),
	    node_of("a2", 2,
		    NODE_KEYS("00000000000000aa", "10.9.0.3", 3)
		    ", \"clock\": {\"offset_us\": 140, \"uncertainty_us\": 20}")};
	struct synth b[2] = {
	    node_of("b0", 0, NODE_KEYS("00000000000000bb", "10.9.0.1", 2)),
	    node_of("b1", 1, NODE_KEYS("00000000000000bb", "10.9.0.2", 2))};
	const struct synth *all[] = {&a[0], &a[1], &a[2]};
	char p[5][128], nodes_csv[256], *csv;
	struct result r;

	for (int i = 0; i < 3; i++)
		write_run(&a[i]);
	for (int i = 0; i < 2; i++)
		write_run(&b[i]);
	/* given mixed: the two runs of one experiment stay two */
	run_path(&a[2], p[0], sizeof(p[0]));
	run_path(&b[1], p[1], sizeof(p[1]));
	run_path(&a[0], p[2], sizeof(p[2]));
	run_path(&b[0], p[3], sizeof(p[3]));
	run_path(&a[1], p[4], sizeof(p[4]));
	snprintf(nodes_csv, sizeof(nodes_csv), "%s/nodes.csv", dir);
	r = report("--csv", "--nodes-csv", nodes_csv, p[0], p[1], p[2], p[3],
		   p[4], NULL);
	if (r.rc)
		fail_msg("exit status %d: %s", r.rc, r.err);
	assert_int_equal(csv_rows(r.out), 2);
	assert_string_equal(csv_str(r.out, 1, "run_id"), "00000000000000aa");
	assert_string_equal(csv_str(r.out, 1, "run"), "exp: a2+a0+a1");
	expect_num(r.out, 1, "nodes", 3);
	expect_num(r.out, 1, "nodes_read", 3);
	expect_num(r.out, 1, "peers", 3 * NRECV + 1);
	expect_num(r.out, 1, "cumulative_rate_Bps",
		   total_rate(&a[0]) + total_rate(&a[1]) + total_rate(&a[2]));
	expect_quality(r.out, 1, all, 3);
	expect_empty(r.out, 1, "hosts_lost");
	assert_string_equal(csv_str(r.out, 2, "run_id"), "00000000000000bb");
	expect_num(r.out, 2, "peers", 2 * NRECV + 1);
	assert_null(strstr(r.err, "directories were given"));
	result_free(&r);

	/* the nodes' table: one line per node, the run's nodes together */
	csv = t_slurp(nodes_csv);
	assert_non_null(csv);
	assert_int_equal(csv_rows(csv), 5);
	assert_string_equal(csv_str(csv, 1, "node"), "10.9.0.3");
	assert_string_equal(csv_str(csv, 1, "host"), "box");
	expect_num(csv, 1, "clock_offset_us", 140);
	expect_num(csv, 1, "clock_uncertainty_us", 20);
	assert_string_equal(csv_str(csv, 1, "clock_over_limit"), "false");
	expect_num(csv, 1, "peers", NRECV);
	expect_num(csv, 1, "cpu_percent", SUMMARY_CPU);
	assert_string_equal(csv_str(csv, 1, "ended"), "normally");
	assert_string_equal(csv_str(csv, 2, "node"), "10.9.0.1");
	expect_num(csv, 2, "peers", NRECV + 1);
	assert_string_equal(csv_str(csv, 4, "run"), "exp: b1+b0");
	free(csv);

	/* the same directories twice: one node of a run is read once */
	r = report("--csv", p[0], p[0], NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(csv_rows(r.out), 1);
	expect_num(r.out, 1, "nodes_read", 1);
	assert_non_null(strstr(r.err, "again"));
	/* and a run of 3 nodes given 1 says so */
	assert_non_null(strstr(r.err, "3 nodes ran and only 1 of their "
				      "directories were given"));
	result_free(&r);
}

/* Namespaces of one machine: one host name, other IPs.  Without run_id
 * they are merged by node identity, from summary.json's "node" or, for
 * a crystal that did not write it, from the peers of the CSV files. */
static void nodes_of_one_machine_merge(void **state)
{
	struct synth n[3] = {node_of("n0", 0, "\"node\": \"10.9.0.1\""),
			     node_of("n1", 1, "\"node\": \"10.9.0.2\""),
			     node_of("n2", 2, NULL)};
	struct synth again = node_of("m0", 0, NULL);
	char p[4][128];
	struct result r;

	for (int i = 0; i < 3; i++)
		write_run(&n[i]);
	write_run(&again);
	for (int i = 0; i < 3; i++)
		run_path(&n[i], p[i], sizeof(p[i]));
	run_path(&again, p[3], sizeof(p[3]));
	r = report("--csv", p[0], p[1], p[2], p[3], NULL);
	if (r.rc)
		fail_msg("exit status %d: %s", r.rc, r.err);
	/* n0+n1+n2 one run; m0 (10.9.0.1 again) the start of another */
	assert_int_equal(csv_rows(r.out), 2);
	assert_string_equal(csv_str(r.out, 1, "run"), "exp: n0+n1+n2");
	assert_string_equal(csv_str(r.out, 1, "hosts"), "box, box, box");
	expect_num(r.out, 1, "peers", 3 * NRECV + 1);
	expect_empty(r.out, 1, "run_id");
	assert_string_equal(csv_str(r.out, 2, "run"), "exp: m0");
	result_free(&r);

	/* the text table has the nodes */
	r = report("--text", p[0], p[1], p[2], NULL);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "nodes of exp: n0+n1+n2:"));
	assert_non_null(strstr(r.out, "10.9.0.3"));
	result_free(&r);
}

/* Node 3 killed hard at 2.5 s: no summary.json; the other two say they
 * lost it.  Node 2 interrupted by a signal. */
static void a_lost_node_is_said(void **state)
{
	struct synth n[3] = {
	    node_of("k0", 0,
		    NODE_KEYS("00000000000000cc", "10.9.0.1", 3)
		    ", \"hosts_lost\": [{\"node\": \"10.9.0.3\", \"host\": "
		    "\"box\", \"at_s\": 2.5}]"),
	    node_of("k1", 1,
		    NODE_KEYS("00000000000000cc", "10.9.0.2", 3)
		    ", \"interrupted_by\": 2, \"hosts_lost\": [{\"node\": "
		    "\"10.9.0.3\", \"host\": \"box\", \"at_s\": 2.6}]"),
	    node_of("k2", 2, NULL)};
	char p[3][128], out[256], *html;
	struct result r;

	n[2].summary = false;
	for (int i = 0; i < 3; i++) {
		write_run(&n[i]);
		run_path(&n[i], p[i], sizeof(p[i]));
	}
	/* the killed node's directory first: it still joins its run */
	r = report("--csv", p[2], p[0], p[1], NULL);
	if (r.rc)
		fail_msg("exit status %d: %s", r.rc, r.err);
	assert_int_equal(csv_rows(r.out), 1);
	assert_string_equal(csv_str(r.out, 1, "run"), "exp: k0+k1+k2");
	expect_num(r.out, 1, "peers", 3 * NRECV + 1);
	assert_string_equal(csv_str(r.out, 1, "hosts_lost"),
			    "node 10.9.0.3 (host box) lost at 2.5 s, seen by "
			    "2 nodes");
	assert_string_equal(csv_str(r.out, 1, "from"),
			    "summary.json, CSV files");
	result_free(&r);

	r = report("--nodes-csv", "-", p[0], p[1], p[2], NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(csv_rows(r.out), 3);
	assert_string_equal(csv_str(r.out, 3, "node"), "10.9.0.3");
	assert_string_equal(csv_str(r.out, 3, "ended"), "lost");
	expect_num(r.out, 3, "lost_at_s", 2.5);
	expect_num(r.out, 3, "lost_seen_by", 2);
	expect_num(r.out, 3, "last_row_s", SECONDS);
	expect_num(r.out, 3, "peers", NRECV);
	expect_num(r.out, 3, "continuity_mean", (1.0 + 0.8 + 0.9) / 3);
	result_free(&r);

	/* the HTML report has the nodes' table, the lost node marked */
	snprintf(out, sizeof(out), "%s/lost.html", dir);
	r = report("--no-plots", "--out", out, p[0], p[1], p[2], NULL);
	assert_int_equal(r.rc, 0);
	result_free(&r);
	html = t_slurp(out);
	assert_non_null(html);
	assert_non_null(strstr(html, "<h2>Nodes</h2>"));
	assert_non_null(strstr(html, "<td class=\"bad\">lost at 2.5 s</td>"));
	free(html);

	/* the killed node's directory never gathered: said, and named */
	r = report("--nodes-csv", "-", p[0], p[1], NULL);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.err, "3 nodes ran and only 2 of their "
				      "directories were given (missing: "
				      "10.9.0.3)"));
	assert_int_equal(csv_rows(r.out), 3);
	assert_string_equal(csv_str(r.out, 3, "ended"), "lost");
	expect_empty(r.out, 3, "dir");
	result_free(&r);

	/* a node of a run that never started: passed over, saying why */
	char ns[256];
	snprintf(ns, sizeof(ns), "%s/never", dir);
	assert_int_equal(mkdir(ns, 0755), 0);
	snprintf(ns, sizeof(ns), "%s/never/not-started.txt", dir);
	FILE *f = fopen(ns, "w");
	assert_non_null(f);
	fputs("no node came within 60 s for 10.9.0.3\n", f);
	assert_int_equal(fclose(f), 0);
	snprintf(ns, sizeof(ns), "%s/never", dir);
	r = report("--csv", ns, p[0], NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(csv_rows(r.out), 1);
	assert_non_null(strstr(r.err, "never: the run did not start: no node "
				      "came within 60 s for 10.9.0.3: left "
				      "out"));
	result_free(&r);
	r = report("--csv", ns, NULL);
	assert_int_equal(r.rc, 2);
	result_free(&r);
}

static void interrupted_and_clock_flagged(void **state)
{
	struct synth n[2] = {
	    node_of("i0", 0, NODE_KEYS("00000000000000dd", "10.9.0.1", 2)),
	    node_of("i1", 1,
		    NODE_KEYS("00000000000000dd", "10.9.0.2", 2)
		    ", \"clock\": {\"offset_us\": 2400, \"uncertainty_us\": "
		    "1800}")};
	char p[2][128];
	struct result r;

	for (int i = 0; i < 2; i++) {
		write_run(&n[i]);
		run_path(&n[i], p[i], sizeof(p[i]));
	}
	/* i0 stopped by a signal: its summary says interrupted */
	char path[256], *text;
	path_of(path, sizeof(path), &n[0], "summary.json");
	text = t_slurp(path);
	assert_non_null(text);
	char *at = strstr(text, "\"interrupted\": false");
	assert_non_null(at);
	memcpy(at, "\"interrupted\": true ", 20);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	free(text);

	r = report("--text", p[0], p[1], NULL);
	if (r.rc)
		fail_msg("exit status %d: %s", r.rc, r.err);
	assert_non_null(strstr(r.out, "interrupted"));
	assert_non_null(strstr(r.out, "1800 us (OVER)"));
	assert_non_null(strstr(r.out, "warning: exp: i0+i1: node 10.9.0.2: "
				      "its clock against the coordinator's "
				      "is known to 1800 us only"));
	result_free(&r);
	r = report("--nodes-csv", "-", p[0], p[1], NULL);
	assert_string_equal(csv_str(r.out, 1, "ended"), "interrupted");
	assert_string_equal(csv_str(r.out, 2, "clock_over_limit"), "true");
	result_free(&r);
}

static void cut_and_missing_files_are_named(void **state)
{
	struct synth s = run_a;
	char p[128], out[256], *html;
	struct result r;

	s.name = "broken";
	s.summary = false;
	write_run(&s);
	cut_last_line(&s, "peers.csv");
	run_path(&s, p, sizeof(p));
	r = report("--no-plots", p, NULL);
	if (r.rc)
		fail_msg("exit status %d: %s", r.rc, r.err);
	assert_non_null(strstr(r.err, "broken/peers.csv: cut short in line"));
	assert_non_null(strstr(r.err, "broken/summary.json: missing"));
	snprintf(out, sizeof(out), "%s/report.html", p);
	html = t_slurp(out);
	assert_non_null(html);
	/* the page says so too */
	assert_non_null(strstr(html, "Problems with the input"));
	assert_non_null(strstr(html, "peers.csv: cut short"));
	free(html);
	result_free(&r);

	/* the rows before the cut are used: the per-peer rate over time */
	if (have_gnuplot) {
		r = report(p, NULL);
		assert_int_equal(r.rc, 0);
		html = t_slurp(out);
		assert_non_null(html);
		char *svg = svg_in(html, "rate-time");
		assert_non_null(svg);
		free(svg);
		free(html);
		result_free(&r);
	}

	/* and the files that are there without peers.csv at all */
	path_of(out, sizeof(out), &s, "peers.csv");
	assert_int_equal(unlink(out), 0);
	r = report("--csv", p, NULL);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.err, "broken/peers.csv: missing"));
	expect_num(r.out, 1, "cumulative_rate_Bps", total_rate(&s));
	expect_num(r.out, 1, "continuity_mean",
		   (continuity_of(0) + continuity_of(1) + continuity_of(2)) /
		       3);
	result_free(&r);
}

static void broken_summary_and_rows_are_named(void **state)
{
	struct synth s = run_a;
	char p[128], path[192];
	struct result r;
	FILE *f;

	s.name = "bad";
	write_run(&s);
	/* summary.json cut in the middle */
	path_of(path, sizeof(path), &s, "summary.json");
	assert_int_equal(truncate(path, 60), 0);
	/* a row of node.csv with a word for a number, one short of fields */
	path_of(path, sizeof(path), &s, "node.csv");
	f = fopen(path, "a");
	assert_non_null(f);
	fputs("6.000,lots,1,1,1,1\n7.000,1,1\n", f);
	fclose(f);
	r = report("--csv", run_path(&s, p, sizeof(p)), NULL);
	if (r.rc)
		fail_msg("exit status %d: %s", r.rc, r.err);
	/* file, line and column from the JSON reader */
	assert_non_null(strstr(r.err, "bad/summary.json:"));
	assert_non_null(strstr(r.err, "bad/node.csv: 2 malformed rows "
				      "skipped (line 7: 'lots' is not a "
				      "number)"));
	/* computed from the CSV files, the bad rows left out */
	assert_string_equal(csv_str(r.out, 1, "from"), "CSV files");
	expect_num(r.out, 1, "cpu_percent", 30);
	expect_num(r.out, 1, "duration_s", SECONDS);
	result_free(&r);
}

static void columns_are_read_by_name(void **state)
{
	struct synth s = run_a;
	char p[128];
	struct result r;
	FILE *f;

	s.name = "moved";
	s.summary = false;
	write_run(&s);
	/* node.csv with its columns in another order and one more; a
	 * peers-final.csv with a quoted class holding a comma and a quote
	 * and a column more */
	f = create(&s, "node.csv");
	fputs("rss_bytes,data_bytes_in,time_s,new_column,cpu_percent\n", f);
	for (int t = 1; t <= SECONDS; t++)
		fprintf(f, "%d,%.0f,%d.000,\"x,y\",%d\n", 2048 * t,
			total_rate(&s) * t, t, 7);
	fclose(f);
	f = create(&s, "peers-final.csv");
	fputs("peer,class,data_bytes_in,continuity,extra\n", f);
	fprintf(f, "127.0.0.1:1,\"a \"\"big\"\", class\",5,0.5,z\n");
	fprintf(f, "127.0.0.1:2,\"multi\nline\",5,0.7,z\n");
	fclose(f);
	r = report("--csv", run_path(&s, p, sizeof(p)), NULL);
	if (r.rc)
		fail_msg("exit status %d: %s", r.rc, r.err);
	assert_null(strstr(r.err, "malformed"));
	expect_num(r.out, 1, "cpu_percent", 7);
	expect_num(r.out, 1, "max_rss_kb", 2048.0 * SECONDS / 1024);
	expect_num(r.out, 1, "cumulative_rate_Bps", total_rate(&s));
	expect_num(r.out, 1, "continuity_mean", 0.6);
	expect_num(r.out, 1, "peers", 2);
	result_free(&r);
}

static void degraded_run_is_flagged(void **state)
{
	struct synth s = run_a;
	char p[128], out[256], *html;
	struct result r;

	s.name = "slow";
	s.fidelity = "degraded";
	s.reason = "timer lag p99 2884 us > 1000 us";
	s.cause = "other work held the workers off their cores";
	write_run(&s);
	run_path(&s, p, sizeof(p));
	r = report("--text", p, NULL);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "DEGRADED\n"));
	assert_non_null(strstr(r.out, "warning: exp: slow: emulation fidelity "
				      "DEGRADED: timer lag p99 2884 us"));
	assert_non_null(strstr(r.out, "emulated network): other work held "
				      "the workers off their cores\n"));
	result_free(&r);
	r = report("--csv", p, NULL);
	assert_string_equal(csv_str(r.out, 1, "fidelity"), "degraded");
	assert_string_equal(csv_str(r.out, 1, "fidelity_reason"), s.reason);
	result_free(&r);
	r = report("--no-plots", p, NULL);
	assert_int_equal(r.rc, 0);
	snprintf(out, sizeof(out), "%s/report.html", p);
	html = t_slurp(out);
	assert_non_null(html);
	assert_non_null(strstr(html,
			       "<p class=\"alert\"><strong>Emulation "
			       "fidelity DEGRADED</strong> in exp: slow"));
	assert_non_null(strstr(html, "emulated (other work held the workers "
				     "off their cores).</p>"));
	assert_non_null(strstr(html, "<td class=\"bad\">DEGRADED: timer lag"));
	free(html);
	result_free(&r);
}

static void without_gnuplot_the_table_alone(void **state)
{
	char p[128], out[256], *html;
	struct result r;

	write_run(&run_a);
	run_path(&run_a, p, sizeof(p));
	char *argv[] = {"env", "PATH=/nonexistent", crystal, "report", p, NULL};
	r.rc = t_run(argv, 60000, &r.out, &r.err);
	assert_int_equal(r.rc, 0);
	assert_non_null(r.err);
	assert_non_null(strstr(r.err, "gnuplot: not found on PATH"));
	/* said once, not once per plot */
	assert_int_equal(count(r.err, "gnuplot"), 2);
	snprintf(out, sizeof(out), "%s/report.html", p);
	html = t_slurp(out);
	assert_non_null(html);
	assert_non_null(strstr(html, "<table class=\"summary\">"));
	assert_null(strstr(html, "<svg"));
	assert_non_null(strstr(html, "Not drawn: gnuplot is not available"));
	free(html);
	result_free(&r);
}

/* Text that is nearly CSV: digits, separators, quotes, line breaks, a
 * few letters and NULs, from a seeded generator (the same every run). */
static void garbage(FILE *f, unsigned *seed, size_t n)
{
	static const char alphabet[] = "0123456789,,,,\"\n\n\r.-e+ax:\0";

	for (size_t i = 0; i < n; i++)
		fputc(alphabet[rand_r(seed) % (sizeof(alphabet) - 1)], f);
}

static void garbage_is_never_a_crash(void **state)
{
	static const char *const files[] = {"node.csv", "workers.csv",
					    "peers.csv", "peers-final.csv",
					    "summary.json"};
	unsigned seed = 1;

	for (int round = 0; round < 24; round++) {
		struct synth s = run_a;
		char name[32], p[128];
		struct result r;

		snprintf(name, sizeof(name), "junk%d", round);
		s.name = name;
		write_run(&s);
		for (size_t k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
			char path[256], *head, *nl;
			FILE *f;

			/* the real header (or the start of the JSON), then
			 * junk */
			path_of(path, sizeof(path), &s, files[k]);
			head = t_slurp(path);
			assert_non_null(head);
			nl = strchr(head, '\n');
			if (nl && rand_r(&seed) % 4)
				nl[1] = 0;
			else
				head[0] = 0;
			f = fopen(path, "w");
			assert_non_null(f);
			fputs(head, f);
			garbage(f, &seed, (size_t)(rand_r(&seed) % 3000));
			fclose(f);
			free(head);
		}
		run_path(&s, p, sizeof(p));
		/* with plots now and then: gnuplot gets odd numbers too */
		if (round % 8 == 0 && have_gnuplot)
			r = report(p, NULL);
		else
			r = report("--csv", p, NULL);
		if (r.rc != 0 && r.rc != 2)
			fail_msg("round %d: exit status %d: %s", round, r.rc,
				 r.err);
		result_free(&r);
	}
}

/* crystal report --csv on one directory, as a child of its own: its peak
 * resident memory (kB); its stderr in err (free it). */
static long report_peak_kb(const char *run, char **err)
{
	char errpath[128];
	struct rusage ru;
	int status;
	pid_t pid;

	snprintf(errpath, sizeof(errpath), "%s/peak.err", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int out = open("/dev/null", O_WRONLY);
		int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (out < 0 || e < 0 || dup2(out, 1) < 0 || dup2(e, 2) < 0)
			_exit(127);
		execl(crystal, crystal, "report", "--csv", run,
		      (char *)NULL);
		_exit(127);
	}
	assert_int_equal(wait4(pid, &status, 0, &ru), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	*err = t_slurp(errpath);
	assert_non_null(*err);
	return ru.ru_maxrss;
}

static void tiny_run(const char *name, const char *summary, const char *node)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/%s/summary.json", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(summary, f);
	assert_int_equal(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/%s/node.csv", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(node, f);
	assert_int_equal(fclose(f), 0);
}

/* A run directory of a few hundred bytes costs a report memory and work in
 * proportion: neither a tiny sample_interval_s (said, naming the file and
 * the key, and 1 s used) nor a time far past the file's rows makes it
 * allocate series of millions of intervals (it took about 100 MB). */
static void tiny_files_cost_little(void **state)
{
	static const char node[] =
	    "time_s,cpu_percent,rss_bytes,peers_alive,data_bytes_in\n"
	    "1,10,1000,3,100\n2,20,2000,3,200\n3,30,3000,3,300\n";
	static const char brief[] =
	    "time_s,cpu_percent,rss_bytes,peers_alive,data_bytes_in\n"
	    "1e-9,10,1000,3,100\n0.004,20,2000,3,200\n";
	static const char far[] =
	    "time_s,cpu_percent,rss_bytes,peers_alive,data_bytes_in\n"
	    "1,10,1000,3,100\n2,20,2000,3,200\n4000000,30,3000,3,300\n";
	char p[128], *err;
	long base, tiny, late;

	tiny_run("plain", "{\"experiment\": \"x\", \"sample_interval_s\": 1}\n",
		 node);
	tiny_run("tiny", "{\"experiment\": \"x\", \"sample_interval_s\": 1e-9}\n",
		 brief);
	tiny_run("late",
		 "{\"experiment\": \"x\", \"sample_interval_s\": 1}\n", far);
	snprintf(p, sizeof(p), "%s/plain", dir);
	base = report_peak_kb(p, &err);
	free(err);
	snprintf(p, sizeof(p), "%s/tiny", dir);
	tiny = report_peak_kb(p, &err);
	if (!strstr(err, "tiny/summary.json: sample_interval_s 1e-09 is out "
			 "of range"))
		fail_msg("not said: %s", err);
	free(err);
	snprintf(p, sizeof(p), "%s/late", dir);
	late = report_peak_kb(p, &err);
	if (!strstr(err, "late/node.csv: 1 malformed row skipped (line 4: "
			 "time_s '4000000' is no time of a run)"))
		fail_msg("not said: %s", err);
	free(err);
	if (tiny > base + 8192 || late > base + 8192)
		fail_msg("peak memory %ld kB and %ld kB, against %ld kB for "
			 "the same files sampled every second",
			 tiny, late, base);
}

struct bad_use {
	const char *args[4];
	const char *named; /* the message must contain this */
};

static void bad_usage_exits_2(void **state)
{
	char pa[128], pb[128], nothing[128], file[160];
	const struct bad_use cases[] = {
	    {{NULL}, "no run directory"},
	    {{"--bogus", pa}, "--bogus"},
	    {{"--out"}, "--out"},
	    {{pa, pb}, "--out FILE"},
	    {{"--text", "--csv", pa}, "--csv=FILE"},
	    {{nothing}, nothing},
	    {{nothing}, "no usable run"},
	    {{file}, "not a directory"},
	    {{dir}, "not a run directory"},
	};

	write_run(&run_a);
	write_run(&run_b);
	run_path(&run_a, pa, sizeof(pa));
	run_path(&run_b, pb, sizeof(pb));
	snprintf(nothing, sizeof(nothing), "%s/no-such-run", dir);
	snprintf(file, sizeof(file), "%s/node.csv", pa);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[8], *so, *se;
		int n = 0, rc;

		argv[n++] = crystal;
		argv[n++] = "report";
		for (int k = 0; k < 4 && cases[i].args[k]; k++)
			argv[n++] = (char *)cases[i].args[k];
		argv[n] = NULL;
		rc = t_run(argv, 30000, &so, &se);
		if (rc != 2)
			fail_msg("case %zu: exit status %d, expected 2", i, rc);
		if (!se || !strstr(se, cases[i].named))
			fail_msg("case %zu: the message does not name '%s': %s",
				 i, cases[i].named, se ? se : "(none)");
		free(so);
		free(se);
	}
	/* nothing was written into the runs */
	snprintf(file, sizeof(file), "%s/report.html", pa);
	assert_false(t_exists(file));

	/* --help is no error */
	struct result r = report("--help", NULL);
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "usage: crystal report"));
	assert_non_null(strstr(r.out, "--csv[=FILE]"));
	result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(table_has_the_summary_figures,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(table_from_csv_without_summary,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(html_embeds_every_plot, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(two_runs_two_lines, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(hosts_of_one_run_merge, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(runs_merge_by_run_id, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(nodes_of_one_machine_merge, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(a_lost_node_is_said, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(interrupted_and_clock_flagged,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(cut_and_missing_files_are_named,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(broken_summary_and_rows_are_named,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(columns_are_read_by_name, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(degraded_run_is_flagged, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(without_gnuplot_the_table_alone,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(garbage_is_never_a_crash, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(bad_usage_exits_2, setup, teardown),
	    cmocka_unit_test_setup_teardown(tiny_files_cost_little, setup,
					    teardown),
	};

	return cmocka_run_group_tests_name("report", tests, group_setup,
					   group_teardown);
}
