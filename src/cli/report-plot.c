/* crystal report: the plots of report.html (report-page.c makes the page).
 *
 * Each plot's data go into files of a temporary directory, one per run,
 * and gnuplot (a child process, one per plot, so that a failure costs one
 * plot) draws them as SVG, which the page embeds inline: report.html
 * stands alone.  Without gnuplot, the page has the table and says why
 * there are no plots.  A plot no run has data for is left out, with a
 * line saying why.
 */
#include "cli.h"
#include "report.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* --- what each plot shows ------------------------------------------------ */

struct pts {
	double *x, *y, *lo, *hi;
	size_t n, cap;
};

static int pts_add(struct pts *p, double x, double y, double lo, double hi)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 256;
		double *v[4] = {p->x, p->y, p->lo, p->hi};

		for (int i = 0; i < 4; i++) {
			double *q = realloc(v[i], cap * sizeof(*q));

			if (!q)
				return -1;
			v[i] = q;
		}
		p->x = v[0];
		p->y = v[1];
		p->lo = v[2];
		p->hi = v[3];
		p->cap = cap;
	}
	p->x[p->n] = x;
	p->y[p->n] = y;
	p->lo[p->n] = lo;
	p->hi[p->n] = hi;
	p->n++;
	return 0;
}

static void pts_free(struct pts *p)
{
	free(p->x);
	free(p->y);
	free(p->lo);
	free(p->hi);
	memset(p, 0, sizeof(*p));
}

static int ts_points(const struct rp_run *r, const struct rp_ts *ts,
		     struct pts *p)
{
	for (size_t b = 0; b < ts->n; b++)
		if (!isnan(ts->v[b]) &&
		    pts_add(p, (double)b * r->interval_s, ts->v[b], 0, 0))
			return -1;
	return 0;
}

/* The mean and p5..p95 of the receivers' rates, interval by interval. */
static int rate_time(const struct rp_run *r, struct pts *p)
{
	for (size_t b = 0; b < r->nrates; b++) {
		const struct rp_bag *bag = &r->rates[b];
		double *v;
		struct rp_dist d;

		if (!bag->n)
			continue;
		v = malloc(bag->n * sizeof(*v));
		if (!v)
			return -1;
		memcpy(v, bag->v, bag->n * sizeof(*v));
		rp_dist_of(v, bag->n, &d);
		free(v);
		if (pts_add(p, (double)b * r->interval_s, d.mean, d.p5, d.p95))
			return -1;
	}
	return 0;
}

/* The empirical CDF of one value over the receivers. */
static int cdf(const struct rp_run *r, size_t off, struct pts *p)
{
	double *v = malloc((r->npeers ? r->npeers : 1) * sizeof(*v));
	size_t n = 0;
	int rc = 0;

	if (!v)
		return -1;
	for (size_t i = 0; i < r->npeers; i++) {
		double x = *(const double *)((const char *)&r->peers[i] + off);

		if (!r->peers[i].source && !isnan(x))
			v[n++] = x;
	}
	if (n) {
		struct rp_dist d;

		rp_dist_of(v, n, &d); /* sorts */
		rc = pts_add(p, v[0], 0, 0, 0);
	}
	for (size_t i = 0; i < n && !rc; i++)
		rc = pts_add(p, v[i], (double)(i + 1) / (double)n, 0, 0);
	free(v);
	return rc;
}

static int rate_cdf(const struct rp_run *r, struct pts *p)
{
	return cdf(r, offsetof(struct rp_peer, rate_Bps), p);
}

static int cont_cdf(const struct rp_run *r, struct pts *p)
{
	return cdf(r, offsetof(struct rp_peer, continuity), p);
}

static int start_cdf(const struct rp_run *r, struct pts *p)
{
	return cdf(r, offsetof(struct rp_peer, startup_s), p);
}

static int alive_time(const struct rp_run *r, struct pts *p)
{
	return ts_points(r, &r->alive, p);
}

static int cpu_time(const struct rp_run *r, struct pts *p)
{
	return ts_points(r, &r->cpu, p);
}

static int rss_time(const struct rp_run *r, struct pts *p)
{
	return ts_points(r, &r->rss, p);
}

static int lag_time(const struct rp_run *r, struct pts *p)
{
	return ts_points(r, &r->lag, p);
}

/* Control bytes over data bytes received by the receivers, per interval. */
static int overhead_time(const struct rp_run *r, struct pts *p)
{
	size_t n = r->data_d.n < r->ctrl_d.n ? r->data_d.n : r->ctrl_d.n;

	for (size_t b = 0; b < n; b++) {
		double d = r->data_d.v[b], c = r->ctrl_d.v[b];

		if (d > 0 && !isnan(c) &&
		    pts_add(p, (double)b * r->interval_s, c / d, 0, 0))
			return -1;
	}
	return 0;
}

enum style { S_LINES, S_BAND, S_CDF };
enum unit { U_NONE, U_RATE, U_BYTES };

struct plot {
	const char *id, *title, *xlabel, *ylabel, *caption, *why_none;
	enum style style;
	enum unit unit; /* of the values (x for a CDF, y otherwise) */
	int (*points)(const struct rp_run *r, struct pts *p);
};

/* clang-format off */
static const struct plot plots[] = {
	{"rate-time", "Per-peer streaming rate over time", "time (s)",
	 "rate", "Each receiver's data bytes received over a sampling "
	 "interval (peers.csv), divided by its length: the line is the mean "
	 "over receivers, the band runs from the 5th to the 95th percentile.",
	 "no run has two samples of a receiver in peers.csv",
	 S_BAND, U_RATE, rate_time},
	{"rate-cdf", "CDF of the per-peer rate", "rate", "fraction of peers",
	 "Each receiver's data bytes received per second alive "
	 "(peers-final.csv rate_Bps, or from peers.csv without it).",
	 "no run has per-peer rates (peers-final.csv or peers.csv)",
	 S_CDF, U_RATE, rate_cdf},
	{"continuity-cdf", "CDF of continuity", "continuity",
	 "fraction of peers", "Segments played on time over segments due, "
	 "per receiver.",
	 "no peer has a continuity: its algorithm keeps no playback buffer "
	 "(the relay, for one), or the run has no per-peer results",
	 S_CDF, U_NONE, cont_cdf},
	{"startup-cdf", "CDF of startup delay", "startup delay (s)",
	 "fraction of peers", "From joining its session to the first segment "
	 "played, per receiver.",
	 "no peer has a startup delay: it is in peers-final.csv only, for "
	 "peers that played a segment",
	 S_CDF, U_NONE, start_cdf},
	{"peers-alive", "Live peers over time", "time (s)", "peers alive",
	 "Peers born and not dead (node.csv peers_alive; summed over hosts).",
	 "no run has node.csv with peers_alive",
	 S_LINES, U_NONE, alive_time},
	{"control-overhead", "Control overhead over time", "time (s)",
	 "control bytes / data bytes", "Control bytes over data bytes the "
	 "receivers received in each sampling interval (peers.csv).",
	 "no receiver received data over an interval of peers.csv",
	 S_LINES, U_NONE, overhead_time},
	{"cpu", "CPU over time", "time (s)", "CPU (% of one core)",
	 "The process's CPU time over each interval (node.csv; summed over "
	 "hosts).",
	 "no run has node.csv with cpu_percent",
	 S_LINES, U_NONE, cpu_time},
	{"memory", "Memory over time", "time (s)", "resident memory",
	 "Resident memory of the process (node.csv rss_bytes; summed over "
	 "hosts).",
	 "no run has node.csv with rss_bytes",
	 S_LINES, U_BYTES, rss_time},
	{"timer-lag", "Timer lag over time", "time (s)",
	 "timer lag p99 (us)", "How late timers fired, 99th percentile over "
	 "each interval, the worst worker's (workers.csv).",
	 "no run has timer lags in workers.csv (missing, or no timer fired)",
	 S_LINES, U_NONE, lag_time},
};
/* clang-format on */
#define NPLOTS (sizeof(plots) / sizeof(plots[0]))

static const char *const colours[] = {"#1f77b4", "#d62728", "#2ca02c",
				      "#ff7f0e", "#9467bd", "#8c564b",
				      "#e377c2", "#17becf"};
#define NCOLOURS (sizeof(colours) / sizeof(colours[0]))

/* A divisor and its unit name for values up to max. */
static double scale(enum unit u, double max, const char **name)
{
	static const char *const rate[] = {"B/s", "KB/s", "MB/s", "GB/s"};
	static const char *const bytes[] = {"B", "KiB", "MiB", "GiB"};
	double div = 1, step = u == U_RATE ? 1000 : 1024;
	int i = 0;

	*name = NULL;
	if (u == U_NONE)
		return 1;
	while (i < 3 && max >= 10 * step * div) {
		div *= step;
		i++;
	}
	*name = u == U_RATE ? rate[i] : bytes[i];
	return div;
}

/* --- gnuplot ------------------------------------------------------------- */

/* A gnuplot string: single quotes, '' for a quote, no line breaks. */
static void gp_str(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputc('\'', f);
		fputc((unsigned char)*s < ' ' ? ' ' : *s, f);
	}
	fputc('\'', f);
}

struct drawing {
	struct rp_ctx *ctx;
	char tmp[4096];
	bool no_gnuplot; /* said once */
};

static const char *const columns_of[] = {
    [S_LINES] = "time_s value",
    [S_BAND] = "time_s mean p5 p95",
    [S_CDF] = "value fraction_of_peers",
};

/* A plot's points for one run, values divided by div (in unit), with a
 * few lines of comment that say what they are. */
static int write_data(const char *path, const struct plot *pl,
		      const struct pts *p, const char *label, double div,
		      const char *unit)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "# %s: %s\n# run: %s\n# columns: %s", pl->id, pl->title,
		label, columns_of[pl->style]);
	if (unit)
		fprintf(f, "; %s in %s",
			pl->style == S_CDF ? "value" : "values", unit);
	fputc('\n', f);
	for (size_t i = 0; i < p->n; i++) {
		if (pl->style == S_BAND)
			fprintf(f, "%.9g %.9g %.9g %.9g\n", p->x[i],
				p->y[i] / div, p->lo[i] / div, p->hi[i] / div);
		else if (pl->style == S_CDF)
			fprintf(f, "%.9g %.9g\n", p->x[i] / div, p->y[i]);
		else
			fprintf(f, "%.9g %.9g\n", p->x[i], p->y[i] / div);
	}
	return fclose(f) ? -1 : 0;
}

static void axis_label(FILE *f, const char *axis, const char *text,
		       const char *unit)
{
	char buf[256];

	if (unit)
		snprintf(buf, sizeof(buf), "%s (%s)", text, unit);
	else
		snprintf(buf, sizeof(buf), "%s", text);
	fprintf(f, "set %s ", axis);
	gp_str(f, buf);
	fputc('\n', f);
}

/* The gnuplot script of plot pl over the runs that have data (has[i]). */
static int write_script(const char *path, const char *svg,
			const struct plot *pl, const struct rp_run *runs,
			size_t nruns, const bool *has, const char *unit,
			const char *tmp)
{
	FILE *f = fopen(path, "w");
	size_t k = 0;

	if (!f)
		return -1;
	fputs("set terminal svg size 760,420 dynamic noenhanced "
	      "font 'sans,12' background rgb 'white'\n",
	      f);
	fputs("set output ", f);
	gp_str(f, svg);
	fputs("\nset encoding utf8\nset grid\nset key outside below\n"
	      "set style fill transparent solid 0.2 noborder\n",
	      f);
	fputs("set title ", f);
	gp_str(f, pl->title);
	fputc('\n', f);
	axis_label(f, "xlabel", pl->xlabel, pl->style == S_CDF ? unit : NULL);
	axis_label(f, "ylabel", pl->ylabel, pl->style == S_CDF ? NULL : unit);
	if (pl->style == S_CDF)
		fputs("set yrange [0:1.02]\n", f);
	else
		fputs("set xrange [0:*]\nset yrange [0:*]\n", f);
	fputs("plot ", f);
	for (size_t i = 0; i < nruns; i++) {
		const char *c = colours[i % NCOLOURS];
		char data[4200];

		if (!has[i])
			continue;
		snprintf(data, sizeof(data), "%s/%s-%zu.dat", tmp, pl->id, i);
		if (k++)
			fputs(", \\\n     ", f);
		if (pl->style == S_BAND) {
			gp_str(f, data);
			fprintf(f,
				" using 1:3:4 with filledcurves lc rgb '%s' "
				"notitle, \\\n     ",
				c);
		}
		gp_str(f, data);
		if (pl->style == S_CDF)
			fprintf(f, " using 1:2 with steps lw 2 lc rgb '%s'", c);
		else
			fprintf(f,
				" using 1:2 with linespoints lw 2 pt 7 "
				"ps 0.4 lc rgb '%s'",
				c);
		fputs(" title ", f);
		gp_str(f, runs[i].label);
	}
	fputc('\n', f);
	return fclose(f) ? -1 : 0;
}

/* Runs gnuplot on a script: 0, or -1 (said). */
static int gnuplot(struct drawing *dr, const char *script, const char *id)
{
	char log[4200], *argv[] = {"gnuplot", (char *)script, NULL};
	posix_spawn_file_actions_t fa;
	int rc, status;
	pid_t pid;

	if (dr->no_gnuplot)
		return -1;
	snprintf(log, sizeof(log), "%s/%s.log", dr->tmp, id);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log,
					 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		dr->no_gnuplot = true;
		if (rc == ENOENT)
			rp_problem(dr->ctx,
				   "gnuplot: not found on PATH: the report "
				   "has the table and no plots (install "
				   "gnuplot-nox)");
		else
			rp_problem(dr->ctx,
				   "gnuplot: cannot start it: %s: the report "
				   "has no plots",
				   strerror(rc));
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	{
		char buf[512], last[512] = "";
		FILE *f = fopen(log, "r");

		/* its last words are the error */
		while (f && fgets(buf, sizeof(buf), f))
			if (strspn(buf, " \t\n") != strlen(buf))
				snprintf(last, sizeof(last), "%s", buf);
		if (f)
			fclose(f);
		last[strcspn(last, "\n")] = 0;
		rp_problem(dr->ctx,
			   "gnuplot failed on the %s plot (status %d): %s", id,
			   WIFEXITED(status) ? WEXITSTATUS(status)
					     : 128 + WTERMSIG(status),
			   last[0] ? last : "no message");
	}
	return -1;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;
	FILE *m;
	char chunk[65536];
	size_t n;

	if (!f)
		return NULL;
	m = open_memstream(&buf, &len);
	if (!m) {
		fclose(f);
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	if (fclose(m)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* The SVG from its <svg> tag on, its ids (and references to them) made
 * unique in the page by a prefix, since every gnuplot SVG uses the same
 * ones. */
static void embed_svg(FILE *out, const char *svg, const char *prefix)
{
	static const char *const refs[] = {"id='", "id=\"", "href='#",
					   "href=\"#", "url(#"};
	const char *s = strstr(svg, "<svg");
	bool in_tag = false;

	while (s && *s) {
		size_t k, n = 0;

		if (*s == '<')
			in_tag = true;
		else if (*s == '>')
			in_tag = false;
		for (k = 0; in_tag && k < sizeof(refs) / sizeof(refs[0]); k++)
			if (!strncmp(s, refs[k], n = strlen(refs[k])))
				break;
		if (in_tag && k < sizeof(refs) / sizeof(refs[0])) {
			fprintf(out, "%.*s%s-", (int)n, s, prefix);
			s += n;
			continue;
		}
		fputc(*s++, out);
	}
}

static void copy_svg(struct rp_ctx *ctx, const char *dir, const char *id,
		     const char *svg)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.svg", dir, id);
	f = fopen(path, "w");
	if (!f || fputs(svg, f) < 0 || fclose(f)) {
		rp_problem(ctx, "--svg-dir %s: %s", path, strerror(errno));
		if (f)
			fclose(f);
	}
}

/* The points of a plot for one run, in the units of the CSV files, as
 * DIR/NAME-N.dat (N: the run's place on the command line, from 1). */
static void keep_data(struct rp_ctx *ctx, const char *dir,
		      const struct plot *pl, const struct pts *p,
		      const struct rp_run *r, size_t i)
{
	static const char *const units[] = {
	    [U_NONE] = NULL, [U_RATE] = "B/s", [U_BYTES] = "B"};
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s-%zu.dat", dir, pl->id, i + 1);
	if (write_data(path, pl, p, r->label, 1, units[pl->unit]))
		rp_problem(ctx, "--data-dir %s: %s", path, strerror(errno));
}

/* The points of plot pl for every run (has[i]: run i has some), how many
 * runs have some and the largest value; 0 or -1. */
static int gather(const struct plot *pl, const struct rp_run *runs,
		  size_t nruns, struct pts *p, bool *has, size_t *with,
		  double *max)
{
	for (size_t i = 0; i < nruns; i++) {
		if (pl->points(&runs[i], &p[i]))
			return -1;
		has[i] = p[i].n > 0;
		*with += has[i];
		for (size_t k = 0; k < p[i].n; k++) {
			double v = pl->style == S_CDF ? p[i].x[k] : p[i].y[k];

			if (pl->style == S_BAND && p[i].hi[k] > v)
				v = p[i].hi[k];
			if (v > *max)
				*max = v;
		}
	}
	return 0;
}

/* A drawn plot: its SVG and the caption, naming the runs left out. */
static void figure(FILE *out, const char *svg, const struct plot *pl,
		   const struct rp_run *runs, size_t nruns, const bool *has)
{
	fputs("<figure>\n", out);
	embed_svg(out, svg, pl->id);
	fputs("\n<figcaption>", out);
	rp_html_esc(out, pl->caption);
	for (size_t i = 0; i < nruns; i++) {
		if (has[i])
			continue;
		fputs(" Not in it, having no data for it: ", out);
		rp_html_esc(out, runs[i].label);
		fputc('.', out);
	}
	fputs("</figcaption>\n</figure>\n</section>\n", out);
}

/* One plot into the page: drawn, or a line saying why not. */
static void one_plot(struct drawing *dr, FILE *out, const struct rp_page *pg,
		     const struct plot *pl, const struct rp_run *runs,
		     size_t nruns)
{
	struct pts *p = calloc(nruns, sizeof(*p));
	bool *has = calloc(nruns, sizeof(*has));
	char path[4200], svgp[4200], script[4200], *svg = NULL;
	const char *unit = NULL;
	double max = 0, div;
	size_t with = 0;

	if (!p || !has || gather(pl, runs, nruns, p, has, &with, &max))
		goto out;
	fprintf(out, "<section id=\"%s\">\n<h3>", pl->id);
	rp_html_esc(out, pl->title);
	fputs("</h3>\n", out);
	if (!with) {
		fputs("<p class=\"omitted\">Not drawn: ", out);
		rp_html_esc(out, pl->why_none);
		fputs(".</p>\n</section>\n", out);
		goto out;
	}
	div = scale(pl->unit, max, &unit);
	for (size_t i = 0; i < nruns; i++) {
		if (!has[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s-%zu.dat", dr->tmp, pl->id,
			 i);
		if (write_data(path, pl, &p[i], runs[i].label, div, unit))
			goto broken;
		if (pg->data_dir)
			keep_data(dr->ctx, pg->data_dir, pl, &p[i], &runs[i],
				  i);
	}
	snprintf(script, sizeof(script), "%s/%s.gp", dr->tmp, pl->id);
	snprintf(svgp, sizeof(svgp), "%s/%s.svg", dr->tmp, pl->id);
	if (write_script(script, svgp, pl, runs, nruns, has, unit, dr->tmp))
		goto broken;
	if (gnuplot(dr, script, pl->id))
		goto not_drawn;
	svg = slurp(svgp);
	if (!svg || !strstr(svg, "<svg") || !strstr(svg, "</svg>")) {
		rp_problem(dr->ctx, "gnuplot made no picture for the %s plot",
			   pl->id);
		goto not_drawn;
	}
	figure(out, svg, pl, runs, nruns, has);
	if (pg->svg_dir)
		copy_svg(dr->ctx, pg->svg_dir, pl->id, svg);
	goto out;
broken:
	rp_problem(dr->ctx, "%s: cannot write the plot's files: %s", dr->tmp,
		   strerror(errno));
not_drawn:
	fputs("<p class=\"omitted\">Not drawn: ", out);
	fputs(dr->no_gnuplot ? "gnuplot is not available"
			     : "gnuplot could not draw it (see the problems "
			       "below)",
	      out);
	fputs(".</p>\n</section>\n", out);
out:
	for (size_t i = 0; p && i < nruns; i++)
		pts_free(&p[i]);
	free(p);
	free(has);
	free(svg);
}

/* Removes the temporary directory and the files in it. */
static void rm_tmp(const char *tmp)
{
	DIR *d = opendir(tmp);
	struct dirent *e;
	char path[4400];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmp, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(tmp);
}

/* The plots' part of the page, "<h2>Plots</h2>" on. */
void rp_draw_plots(struct rp_ctx *ctx, FILE *out, const struct rp_page *pg,
		   const struct rp_run *runs, size_t nruns)
{
	struct drawing dr = {.ctx = ctx};
	const char *t = getenv("TMPDIR");

	fputs("<h2>Plots</h2>\n", out);
	if (!pg->plots) {
		fputs("<p class=\"omitted\">No plots: made with "
		      "--no-plots.</p>\n",
		      out);
		return;
	}
	snprintf(dr.tmp, sizeof(dr.tmp), "%s/crystal-report-XXXXXX",
		 t && *t ? t : "/tmp");
	if (!mkdtemp(dr.tmp)) {
		rp_problem(ctx,
			   "%s: cannot make a temporary directory: %s: "
			   "no plots",
			   dr.tmp, strerror(errno));
		fputs("<p class=\"omitted\">No plots: no temporary "
		      "directory for gnuplot's files.</p>\n",
		      out);
		return;
	}
	if (pg->svg_dir && mkdir(pg->svg_dir, 0755) && errno != EEXIST)
		rp_problem(ctx, "--svg-dir %s: %s", pg->svg_dir,
			   strerror(errno));
	if (pg->data_dir && mkdir(pg->data_dir, 0755) && errno != EEXIST)
		rp_problem(ctx, "--data-dir %s: %s", pg->data_dir,
			   strerror(errno));
	for (size_t i = 0; i < NPLOTS; i++)
		one_plot(&dr, out, pg, &plots[i], runs, nruns);
	rm_tmp(dr.tmp);
}
