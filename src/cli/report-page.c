/* crystal report: report.html, one page that stands alone: its head and
 * the alerts of runs whose emulation fell short, the summary table, the
 * nodes of runs that spanned hosts, the problems found in the input, and
 * the plots (report-plot.c), drawn
 * first so that their problems are listed with the others.
 */
#include "cli.h"
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char style[] =
    "body{font-family:sans-serif;max-width:1000px;margin:2em auto;"
    "padding:0 1em;color:#222}\n"
    "table.summary{border-collapse:collapse;font-size:14px}\n"
    "table.summary th,table.summary td{border:1px solid #ccc;"
    "padding:3px 8px;text-align:right}\n"
    "table.summary tbody th{text-align:left;font-weight:normal;color:#444}\n"
    "td.bad{background:#fdd;color:#900;font-weight:bold;text-align:left}\n"
    ".alert{border:2px solid #c00;background:#fee;padding:.5em 1em;"
    "margin:1em 0}\n"
    "figure{margin:1em 0}figure svg{width:100%;height:auto}\n"
    "figcaption{color:#444;font-size:14px}\n"
    "p.omitted{color:#666;font-style:italic}\n"
    "ul.problems{color:#840}\n"
    "code{font-size:13px}\n";

static void page_head(FILE *out, const struct rp_page *pg,
		      const struct rp_row *rows, size_t nruns)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	      "<meta charset=\"utf-8\">\n<title>Crystal report: ",
	      out);
	for (size_t i = 0; i < nruns; i++) {
		if (i)
			fputs(", ", out);
		rp_html_esc(out, rows[i].label);
	}
	fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", style);
	fputs("<h1>Crystal report</h1>\n<p>Made by crystal " CR_VERSION_STRING
	      " from ",
	      out);
	for (size_t i = 0; i < pg->ndirs; i++) {
		fputs(i ? ", <code>" : "<code>", out);
		rp_html_esc(out, pg->dirs[i]);
		fputs("</code>", out);
	}
	fputs(".</p>\n", out);
	for (size_t i = 0; i < nruns; i++) {
		if (!rp_row_degraded(&rows[i]))
			continue;
		fputs("<p class=\"alert\"><strong>Emulation fidelity "
		      "DEGRADED</strong> in ",
		      out);
		rp_html_esc(out, rows[i].label);
		fputs(": ", out);
		rp_html_esc(out, rows[i].fidelity_reason
				     ? rows[i].fidelity_reason
				     : "no reason given");
		fputs(". The machine did not keep up: this run's figures are "
		      "not those of the network it emulated",
		      out);
		if (rows[i].fidelity_cause) {
			fputs(" (", out);
			rp_html_esc(out, rows[i].fidelity_cause);
			fputs(")", out);
		}
		fputs(".</p>\n", out);
	}
}

/* The nodes of the runs that spanned hosts (report-nodes.c). */
static void page_nodes(FILE *out, const struct rp_run *runs, size_t nruns)
{
	struct rp_node_row *nodes;
	int n = rp_node_rows(runs, nruns, &nodes);

	if (n < 0)
		fputs("<p>No table of the nodes: out of memory.</p>\n", out);
	if (n <= 0)
		return;
	rp_nodes_html(out, nodes, (size_t)n);
	free(nodes);
}

static void page_problems(FILE *out, const struct rp_ctx *ctx)
{
	if (!ctx->nproblems)
		return;
	fputs("<h2>Problems with the input</h2>\n<ul class=\"problems\">\n",
	      out);
	for (size_t i = 0; i < ctx->nproblems; i++) {
		fputs("<li>", out);
		rp_html_esc(out, ctx->problems[i]);
		fputs("</li>\n", out);
	}
	fputs("</ul>\n", out);
}

/* The page: the alerts, the table, the problems with the input (the
 * plots' among them: they are drawn first), the plots. */
int rp_write_html(struct rp_ctx *ctx, const struct rp_page *pg,
		  const struct rp_run *runs, const struct rp_row *rows,
		  size_t nruns)
{
	char tmp[4200], *drawn = NULL;
	size_t drawn_len = 0;
	FILE *out, *mem;

	snprintf(tmp, sizeof(tmp), "%s.tmp", pg->out);
	out = fopen(tmp, "w");
	if (!out) {
		fprintf(stderr, "crystal report: --out %s: %s\n", pg->out,
			strerror(errno));
		return 2;
	}
	mem = open_memstream(&drawn, &drawn_len);
	if (mem) {
		rp_draw_plots(ctx, mem, pg, runs, nruns);
		if (fclose(mem)) {
			free(drawn);
			drawn = NULL;
		}
	}
	page_head(out, pg, rows, nruns);
	fputs("<h2>Summary</h2>\n", out);
	rp_table_html(out, rows, nruns);
	page_nodes(out, runs, nruns);
	page_problems(out, ctx);
	fputs(drawn ? drawn : "<p>No plots: out of memory.</p>\n", out);
	fputs("</body>\n</html>\n", out);
	free(drawn);
	if (ferror(out) | fclose(out) || rename(tmp, pg->out)) {
		fprintf(stderr, "crystal report: %s: %s\n", pg->out,
			strerror(errno));
		remove(tmp);
		return 1;
	}
	return 0;
}
