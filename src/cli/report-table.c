/* crystal report: the summary table, one row per run (report-rows.c
 * makes them), written as CSV (one line per run, for pandas or R), as
 * aligned text and as HTML (one line per figure, one column per run:
 * easier to read side by side).
 */
#include "../core/units.h"
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --- the columns --------------------------------------------------------- */

enum kind {
	K_STR,
	K_COUNT,
	K_SECONDS,
	K_YESNO,
	K_FIDELITY,
	K_RATE,
	K_RATIO,
	K_PERCENT,
	K_KB
};

struct column {
	const char *csv, *text;
	enum kind kind;
	size_t off;
	bool csv_only; /* not a line of the text and HTML tables */
};

/* clang-format off */
#define COL(csv, text, kind, field, only) \
	{csv, text, kind, offsetof(struct rp_row, field), only}
/* clang-format on */

static const struct column columns[] = {
    COL("run", "run", K_STR, label, true),
    COL("experiment", "experiment", K_STR, experiment, false),
    COL("hosts", "hosts", K_STR, hosts, false),
    COL("dirs", "directories", K_STR, dirs, true),
    COL("run_id", "run id", K_STR, run_id, false),
    COL("nodes", "nodes", K_COUNT, nodes, false),
    COL("nodes_read", "nodes read", K_COUNT, nodes_read, false),
    COL("hosts_lost", "hosts lost", K_STR, lost, false),
    COL("from", "figures from", K_STR, from, false),
    COL("peers", "peers", K_COUNT, peers, false),
    COL("duration_s", "duration", K_SECONDS, duration_s, false),
    COL("interrupted", "interrupted", K_YESNO, interrupted, false),
    COL("fidelity", "fidelity", K_FIDELITY, fidelity, false),
    COL("fidelity_reason", "fidelity reason", K_STR, fidelity_reason, true),
    COL("cumulative_rate_Bps", "cumulative rate", K_RATE, cumulative_rate_Bps,
	false),
    COL("per_peer_rate_Bps", "per-peer rate", K_RATE, per_peer_rate_Bps, false),
    COL("continuity_mean", "continuity mean", K_RATIO, cont_mean, false),
    COL("continuity_p5", "continuity p5", K_RATIO, cont_p5, false),
    COL("continuity_p50", "continuity p50", K_RATIO, cont_p50, false),
    COL("startup_delay_p50_s", "startup delay p50", K_SECONDS, start_p50,
	false),
    COL("startup_delay_p95_s", "startup delay p95", K_SECONDS, start_p95,
	false),
    COL("segment_latency_p50_s", "segment latency p50", K_SECONDS, lat_p50,
	false),
    COL("segment_latency_p95_s", "segment latency p95", K_SECONDS, lat_p95,
	false),
    COL("control_overhead_mean", "control overhead mean", K_RATIO,
	overhead_mean, false),
    COL("duplicate_ratio_mean", "duplicate ratio mean", K_RATIO, duplicate_mean,
	false),
    COL("cpu_percent", "CPU", K_PERCENT, cpu_percent, false),
    COL("max_rss_kb", "max RSS", K_KB, max_rss_kb, false),
};
#define NCOLUMNS (sizeof(columns) / sizeof(columns[0]))

static const char *str_of(const struct rp_row *row, const struct column *c)
{
	return *(const char *const *)((const char *)row + c->off);
}

static double num_of(const struct rp_row *row, const struct column *c)
{
	return *(const double *)((const char *)row + c->off);
}

static int int_of(const struct rp_row *row, const struct column *c)
{
	return *(const int *)((const char *)row + c->off);
}

/* A cell for people: "-" where there is nothing. */
static void cell(const struct rp_row *row, const struct column *c, char *buf,
		 size_t len)
{
	const char *s;
	double x = NAN;
	int b;

	switch (c->kind) {
	case K_STR:
	case K_FIDELITY:
		s = str_of(row, c);
		if (c->kind == K_FIDELITY && rp_row_degraded(row))
			s = "DEGRADED";
		snprintf(buf, len, "%s", s && *s ? s : "-");
		return;
	case K_YESNO:
		b = int_of(row, c);
		snprintf(buf, len, "%s", b < 0 ? "-" : b ? "yes" : "no");
		return;
	default:
		x = num_of(row, c);
	}
	if (isnan(x)) {
		snprintf(buf, len, "-");
		return;
	}
	switch (c->kind) {
	case K_COUNT:
		snprintf(buf, len, "%.0f", x);
		break;
	case K_SECONDS:
		snprintf(buf, len, "%.2f s", x);
		break;
	case K_RATE:
		cr__human_rate(x, buf, len);
		break;
	case K_RATIO:
		snprintf(buf, len, "%.4f", x);
		break;
	case K_PERCENT:
		snprintf(buf, len, "%.1f %%", x);
		break;
	default: /* K_KB */
		snprintf(buf, len, "%.1f MiB", x / 1024);
	}
}

#define CELL_MAX 256

/* --- the algorithm's values as figures ----------------------------------- */

/* After the fixed columns, four figures for each value any run has, by
 * name: value NAME mean, p5, p50, p95 (CSV: value.NAME_mean, ...). */
#define TABLE_VALUES_MAX (4 * RP_VALUES_MAX)
static const char *const value_stats[4] = {"mean", "p5", "p50", "p95"};

struct value_figs {
	const char *names[TABLE_VALUES_MAX];
	size_t n;
};

static void value_figs(const struct rp_row *rows, size_t nrows,
		       struct value_figs *vf)
{
	vf->n = 0;
	for (size_t i = 0; i < nrows; i++)
		for (size_t k = 0; k < rows[i].nvalues; k++)
			rp_names_add(vf->names, &vf->n, TABLE_VALUES_MAX,
				 rows[i].values[k].name);
	qsort(vf->names, vf->n, sizeof(*vf->names), rp_cmp_str);
}

/* Figure f (value f / 4, statistic f % 4) of a row; NaN where the run has
 * no such value. */
static double value_fig(const struct value_figs *vf, const struct rp_row *row,
			size_t f)
{
	for (size_t k = 0; k < row->nvalues; k++) {
		const struct rp_row_value *x = &row->values[k];

		if (strcmp(x->name, vf->names[f / 4]))
			continue;
		switch (f % 4) {
		case 0:
			return x->mean;
		case 1:
			return x->p5;
		case 2:
			return x->p50;
		default:
			return x->p95;
		}
	}
	return NAN;
}

static void value_label(const struct value_figs *vf, size_t f, bool csv,
			char *buf, size_t len)
{
	snprintf(buf, len, csv ? "value.%s_%s" : "value %s %s",
		 vf->names[f / 4], value_stats[f % 4]);
}

static void value_cell(const struct value_figs *vf, const struct rp_row *row,
		       size_t f, char *buf, size_t len)
{
	double x = value_fig(vf, row, f);

	if (isnan(x))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.6g", x);
}

/* --- CSV ----------------------------------------------------------------- */

/* A CSV field: as it is, or quoted when it holds a comma, a quote or a
 * line break (quotes doubled); nothing for NULL. */
void rp_csv_str(FILE *f, const char *s)
{
	if (!s)
		return;
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

int rp_table_csv(FILE *f, const struct rp_row *rows, size_t nrows)
{
	struct value_figs vf;
	char buf[CELL_MAX];

	value_figs(rows, nrows, &vf);
	for (size_t k = 0; k < NCOLUMNS; k++)
		fprintf(f, "%s%s", k ? "," : "", columns[k].csv);
	for (size_t k = 0; k < 4 * vf.n; k++) {
		value_label(&vf, k, true, buf, sizeof(buf));
		fputc(',', f);
		rp_csv_str(f, buf);
	}
	fputc('\n', f);
	for (size_t i = 0; i < nrows; i++) {
		for (size_t k = 0; k < NCOLUMNS; k++) {
			const struct column *c = &columns[k];
			double x;
			int b;

			if (k)
				fputc(',', f);
			switch (c->kind) {
			case K_STR:
			case K_FIDELITY:
				rp_csv_str(f, str_of(&rows[i], c));
				break;
			case K_YESNO:
				b = int_of(&rows[i], c);
				fputs(b < 0 ? "" : b ? "true" : "false", f);
				break;
			default:
				x = num_of(&rows[i], c);
				if (!isnan(x))
					fprintf(f, "%.10g", x);
			}
		}
		for (size_t k = 0; k < 4 * vf.n; k++) {
			double x = value_fig(&vf, &rows[i], k);

			fputc(',', f);
			if (!isnan(x))
				fprintf(f, "%.10g", x);
		}
		fputc('\n', f);
	}
	return ferror(f) ? -1 : 0;
}

/* --- text ---------------------------------------------------------------- */

int rp_table_text(FILE *f, const struct rp_row *rows, size_t nrows)
{
	size_t namew = 0, *w = calloc(nrows ? nrows : 1, sizeof(*w));
	char buf[CELL_MAX];
	struct value_figs vf;

	if (!w)
		return -1;
	value_figs(rows, nrows, &vf);
	for (size_t k = 0; k < 4 * vf.n; k++) {
		value_label(&vf, k, false, buf, sizeof(buf));
		if (strlen(buf) > namew)
			namew = strlen(buf);
		for (size_t i = 0; i < nrows; i++) {
			value_cell(&vf, &rows[i], k, buf, sizeof(buf));
			if (strlen(buf) > w[i])
				w[i] = strlen(buf);
		}
	}
	for (size_t i = 0; i < nrows; i++)
		w[i] = strlen(rows[i].label);
	for (size_t k = 0; k < NCOLUMNS; k++) {
		if (columns[k].csv_only)
			continue;
		if (strlen(columns[k].text) > namew)
			namew = strlen(columns[k].text);
		for (size_t i = 0; i < nrows; i++) {
			cell(&rows[i], &columns[k], buf, sizeof(buf));
			if (strlen(buf) > w[i])
				w[i] = strlen(buf);
		}
	}
	fprintf(f, "%-*s", (int)namew, "");
	for (size_t i = 0; i < nrows; i++)
		fprintf(f, "  %*s", (int)w[i], rows[i].label);
	fputc('\n', f);
	for (size_t k = 0; k < NCOLUMNS; k++) {
		if (columns[k].csv_only)
			continue;
		fprintf(f, "%-*s", (int)namew, columns[k].text);
		for (size_t i = 0; i < nrows; i++) {
			cell(&rows[i], &columns[k], buf, sizeof(buf));
			fprintf(f, "  %*s", (int)w[i], buf);
		}
		fputc('\n', f);
	}
	for (size_t k = 0; k < 4 * vf.n; k++) {
		value_label(&vf, k, false, buf, sizeof(buf));
		fprintf(f, "%-*s", (int)namew, buf);
		for (size_t i = 0; i < nrows; i++) {
			value_cell(&vf, &rows[i], k, buf, sizeof(buf));
			fprintf(f, "  %*s", (int)w[i], buf);
		}
		fputc('\n', f);
	}
	for (size_t i = 0; i < nrows; i++) {
		if (rp_row_degraded(&rows[i]))
			fprintf(f,
				"\nwarning: %s: emulation fidelity DEGRADED: "
				"%s (the machine did not keep up: its figures "
				"are not those of the emulated network)%s%s\n",
				rows[i].label,
				rows[i].fidelity_reason
				    ? rows[i].fidelity_reason
				    : "no reason given",
				rows[i].fidelity_cause ? ": " : "",
				rows[i].fidelity_cause ? rows[i].fidelity_cause
						       : "");
	}
	free(w);
	return ferror(f) ? -1 : 0;
}

/* --- HTML ---------------------------------------------------------------- */

void rp_html_esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

int rp_table_html(FILE *f, const struct rp_row *rows, size_t nrows)
{
	char buf[CELL_MAX];
	struct value_figs vf;

	fputs("<table class=\"summary\">\n<thead><tr><th></th>", f);
	for (size_t i = 0; i < nrows; i++) {
		fputs("<th>", f);
		rp_html_esc(f, rows[i].label);
		fputs("</th>", f);
	}
	fputs("</tr></thead>\n<tbody>\n", f);
	for (size_t k = 0; k < NCOLUMNS; k++) {
		const struct column *c = &columns[k];

		if (c->csv_only && strcmp(c->csv, "dirs"))
			continue;
		fputs("<tr><th>", f);
		rp_html_esc(f, c->text);
		fputs("</th>", f);
		for (size_t i = 0; i < nrows; i++) {
			bool bad =
			    c->kind == K_FIDELITY && rp_row_degraded(&rows[i]);

			cell(&rows[i], c, buf, sizeof(buf));
			fputs(bad ? "<td class=\"bad\">" : "<td>", f);
			rp_html_esc(f, buf);
			if (bad && rows[i].fidelity_reason) {
				fputs(": ", f);
				rp_html_esc(f, rows[i].fidelity_reason);
			}
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
	}
	value_figs(rows, nrows, &vf);
	for (size_t k = 0; k < 4 * vf.n; k++) {
		value_label(&vf, k, false, buf, sizeof(buf));
		fputs("<tr><th>", f);
		rp_html_esc(f, buf);
		fputs("</th>", f);
		for (size_t i = 0; i < nrows; i++) {
			value_cell(&vf, &rows[i], k, buf, sizeof(buf));
			fputs("<td>", f);
			rp_html_esc(f, buf);
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
	}
	fputs("</tbody>\n</table>\n", f);
	return ferror(f) ? -1 : 0;
}
