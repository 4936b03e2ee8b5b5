/* crystal report RUN_DIR...: reads the run directories `crystal run`
 * writes (docs/run-directory.md) and makes report.html, a summary table
 * and plots drawn by gnuplot; or the table alone as text or CSV.
 * This file reads the options and drives the others (report.h).
 * See docs/reports.md.
 */
#include "report.h"
#include "cli.h"
#include "opt.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>


void rp_problem(struct rp_ctx *ctx, const char *fmt, ...)
{
	char *msg = NULL, **list;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (!msg)
		return;
	if (!ctx->quiet)
		fprintf(stderr, "crystal report: %s\n", msg);
	list = realloc(ctx->problems, (ctx->nproblems + 1) * sizeof(*list));
	if (!list) {
		free(msg);
		return;
	}
	ctx->problems = list;
	list[ctx->nproblems++] = msg;
}

void rp_ctx_free(struct rp_ctx *ctx)
{
	for (size_t i = 0; i < ctx->nproblems; i++)
		free(ctx->problems[i]);
	free(ctx->problems);
}

struct report_opts {
	const char *out, *svg_dir, *data_dir, *csv, *nodes_csv;
	bool csv_stdout, text, no_plots;
	char **dirs;
	size_t ndirs;
	char *default_out; /* RUN_DIR/report.html */
};

static int parse_csv(const struct cr__opt *row, const char *arg, void *dst)
{
	struct report_opts *o = dst;

	if (arg && *arg && strcmp(arg, "-"))
		o->csv = arg;
	else
		o->csv_stdout = true;
	return 0;
}

#define OPT(m) .off = offsetof(struct report_opts, m)

/* clang-format off */
static const struct cr__opt report_rows[] = {
    {"out", 'o', CR__OPT_STR, OPT(out), .arg = "FILE",
	.section = "output (the HTML report, unless --text or --csv asks for "
		   "the table):",
	.help = "the HTML report; with --text or --csv, also make\n"
		"it.  Default: RUN_DIR/report.html for one\n"
		"directory; required with several"},
    {"svg-dir", 0, CR__OPT_STR, OPT(svg_dir), .arg = "DIR",
	.help = "also write every plot as DIR/NAME.svg"},
    {"data-dir", 0, CR__OPT_STR, OPT(data_dir), .arg = "DIR",
	.help = "also write the numbers of every plot, run by\n"
		"run, as DIR/NAME-N.dat (N: the run, from 1)"},
    {"no-plots", 0, CR__OPT_FLAG, OPT(no_plots),
	.help = "the table only: gnuplot is not run"},
    {"text", 0, CR__OPT_FLAG, OPT(text),
	.help = "print the summary table on stdout, aligned"},
    {"csv", 0, CR__OPT_FUNC, .parse = parse_csv, .optional = true,
	.arg = "FILE",
	.help = "write the summary table as CSV, one line per\n"
		"run, on stdout or into FILE"},
    {"nodes-csv", 0, CR__OPT_STR, OPT(nodes_csv), .arg = "FILE",
	.help = "write the table of the nodes of runs that\n"
		"spanned hosts as CSV, one line per node, into\n"
		"FILE (- for stdout)"},
    {"help", 'h', CR__OPT_HELP, .help = "print this and exit"},
    {0},
};

static const struct cr__cmd report_cmd = {
	.name = "crystal report",
	.opts = report_rows,
	.help_col = 23,
	.head =
	"usage: crystal report [options] RUN_DIR...\n"
	"\n"
	"Reads the run directories that `crystal run` writes and makes a\n"
	"report: a summary table, and plots of the per-peer rate over time,\n"
	"CDFs of per-peer rate, continuity and startup delay, live peers,\n"
	"control overhead, CPU, memory and timer lag, drawn by gnuplot and\n"
	"embedded in one self-contained HTML file.\n"
	"\n"
	"  RUN_DIR...           one run; or several, compared (one line each in\n"
	"                       every plot, one column each in the table); the\n"
	"                       directories of the nodes of one run that\n"
	"                       spanned hosts (summary.json: the same run_id;\n"
	"                       without one, the same experiment_id and\n"
	"                       another node), gathered from anywhere, are\n"
	"                       merged into one run, with a table of its nodes\n",
	.tail =
	"\n"
	"Figures come from summary.json; a run without one (killed hard)\n"
	"has them computed from its CSV files.  A missing, unreadable or\n"
	"cut-short file is named on stderr and left out, and the report is\n"
	"made from the rest.  A run whose emulation fidelity was degraded is\n"
	"flagged.  Without gnuplot on PATH (Debian: gnuplot-nox) the report\n"
	"has the table and no plots.  See docs/reports.md.\n"
	"\n"
	"exit status: 0 a report was made; 1 it could not be written; 2 bad\n"
	"usage, or no usable run.\n",
};
/* clang-format on */

static bool nodes_stdout(const struct report_opts *o)
{
	return o->nodes_csv && !strcmp(o->nodes_csv, "-");
}

static bool want_html(const struct report_opts *o)
{
	return o->out ||
	       (!o->text && !o->csv && !o->csv_stdout && !o->nodes_csv);
}

/* 0, 2 for bad usage (said on stderr), or -1 after --help. */
static int parse_opts(int argc, char **argv, struct report_opts *o)
{
	uint64_t given;
	int rc;

	memset(o, 0, sizeof(*o));
	rc = cr__opt_parse(&report_cmd, argc, argv, o, &given);
	if (rc)
		return rc;
	o->dirs = argv + optind;
	o->ndirs = (size_t)(argc - optind);
	if (!o->ndirs) {
		fprintf(stderr, "crystal report: no run directory given (see "
				"crystal report --help)\n");
		return 2;
	}
	if (o->text && o->csv_stdout) {
		fprintf(stderr, "crystal report: --text and --csv would both "
				"write on stdout: give --csv=FILE\n");
		return 2;
	}
	if (nodes_stdout(o) && (o->text || o->csv_stdout)) {
		fprintf(stderr, "crystal report: --nodes-csv - and %s would "
				"both write on stdout: give --nodes-csv FILE\n",
			o->text ? "--text" : "--csv");
		return 2;
	}
	if (want_html(o) && !o->out && o->ndirs > 1) {
		fprintf(stderr,
			"crystal report: %zu run directories: say where the "
			"report goes with --out FILE\n",
			o->ndirs);
		return 2;
	}
	if (want_html(o) && !o->out) {
		if (asprintf(&o->default_out, "%s/report.html", o->dirs[0]) < 0)
			return 1;
		o->out = o->default_out;
	}
	return 0;
}

static int write_csv(const struct report_opts *o, const struct rp_row *rows,
		     size_t nrows)
{
	FILE *f = o->csv ? fopen(o->csv, "w") : stdout;
	int rc;

	if (!f) {
		fprintf(stderr, "crystal report: --csv %s: %s\n", o->csv,
			strerror(errno));
		return 2;
	}
	rc = rp_table_csv(f, rows, nrows);
	if (o->csv && fclose(f))
		rc = -1;
	if (rc) {
		fprintf(stderr, "crystal report: --csv %s: %s\n",
			o->csv ? o->csv : "(stdout)", strerror(errno));
		return 1;
	}
	return 0;
}

/* The nodes' table: after the summary table with --text, and as CSV
 * with --nodes-csv.  0, or an exit status. */
static int write_nodes(const struct report_opts *o, const struct rp_run *runs,
		       size_t nruns)
{
	struct rp_node_row *nodes;
	int n = rp_node_rows(runs, nruns, &nodes), rc = 0;
	FILE *f;

	if (n < 0)
		return 1;
	if (o->text && n && rp_nodes_text(stdout, nodes, (size_t)n))
		rc = 1;
	if (rc || !o->nodes_csv)
		goto out;
	f = nodes_stdout(o) ? stdout : fopen(o->nodes_csv, "w");
	if (!f) {
		fprintf(stderr, "crystal report: --nodes-csv %s: %s\n",
			o->nodes_csv, strerror(errno));
		rc = 2;
		goto out;
	}
	rc = rp_nodes_csv(f, nodes, (size_t)n);
	if (f != stdout && fclose(f))
		rc = -1;
	if (rc) {
		fprintf(stderr, "crystal report: --nodes-csv %s: %s\n",
			o->nodes_csv, strerror(errno));
		rc = 1;
	}
out:
	free(nodes);
	return rc;
}

int cr_cli_report(int argc, char **argv)
{
	struct rp_ctx ctx = {0};
	struct rp_run *runs = NULL;
	struct rp_row *rows = NULL;
	struct report_opts o;
	int n, rc;

	rc = parse_opts(argc, argv, &o);
	if (rc)
		return rc < 0 ? 0 : rc; /* -1: --help */
	n = rp_read_runs(&ctx, o.dirs, o.ndirs, &runs);
	if (n < 0) {
		fprintf(stderr, "crystal report: out of memory\n");
		rc = 1;
		goto out;
	}
	if (!n) {
		fprintf(stderr,
			"crystal report: no usable run in the director%s "
			"given: no report\n",
			o.ndirs == 1 ? "y" : "ies");
		rc = 2;
		goto out;
	}
	rows = calloc((size_t)n, sizeof(*rows));
	if (!rows) {
		rc = 1;
		goto out;
	}
	rp_rows_make(runs, (size_t)n, rows);
	if (o.text && rp_table_text(stdout, rows, (size_t)n))
		rc = 1;
	if (!rc && (o.text || o.nodes_csv))
		rc = write_nodes(&o, runs, (size_t)n);
	if (!rc && (o.csv || o.csv_stdout))
		rc = write_csv(&o, rows, (size_t)n);
	if (!rc && want_html(&o)) {
		struct rp_page page = {.out = o.out,
				       .svg_dir = o.svg_dir,
				       .data_dir = o.data_dir,
				       .plots = !o.no_plots,
				       .dirs = o.dirs,
				       .ndirs = o.ndirs};

		rc = rp_write_html(&ctx, &page, runs, rows, (size_t)n);
		if (!rc)
			fprintf(stderr, "crystal report: wrote %s\n", o.out);
	}
	if (fflush(stdout) && !rc) {
		fprintf(stderr, "crystal report: stdout: %s\n",
			strerror(errno));
		rc = 1;
	}
out:
	if (rows)
		rp_rows_free(rows, (size_t)n);
	free(rows);
	rp_runs_free(runs, n > 0 ? (size_t)n : 0);
	rp_ctx_free(&ctx);
	free(o.default_out);
	return rc;
}
