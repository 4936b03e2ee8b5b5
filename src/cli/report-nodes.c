/* crystal report: the nodes of a run that spanned hosts, one line each:
 * who it was (identity, host), its peers, continuity and CPU, its clock
 * against the coordinator's, its fidelity, and how it ended (normally,
 * lost at T s as the other nodes saw it, interrupted by a signal).  Made
 * from the runs report-runs.c read; written as aligned text (after the
 * summary table of --text), as CSV (--nodes-csv) and as HTML (in
 * report.html).  See docs/reports.md, "Runs of several nodes".
 */
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --- the rows ------------------------------------------------------------- */

/* What the other nodes of r say of node: when they lost it (the earliest)
 * and how many did; 0 when none did.  *host: its host name as they give
 * it, if host is not NULL. */
static size_t lost_by_others(const struct rp_run *r, const char *node,
			     const struct rp_host *self, double *at,
			     const char **host)
{
	size_t seen = 0;

	*at = NAN;
	for (size_t i = 0; i < r->nhosts; i++) {
		const struct rp_summary *s = &r->hosts[i].sum;
		bool said = false;

		if (&r->hosts[i] == self)
			continue;
		for (size_t k = 0; k < s->nlost; k++) {
			if (!rp_node_same(s->lost[k].node, node))
				continue;
			if (isnan(*at) || s->lost[k].at_s < *at)
				*at = s->lost[k].at_s;
			if (host && !*host)
				*host = s->lost[k].host;
			said = true;
		}
		seen += said;
	}
	return seen;
}

/* The mean continuity of the host's receivers in the CSV files. */
static double csv_continuity(const struct rp_run *r, const struct rp_host *h)
{
	double sum = 0;
	size_t n = 0;

	for (size_t i = h->peer_lo; i < h->peer_hi && i < r->npeers; i++) {
		const struct rp_peer *p = &r->peers[i];

		if (!p->source && !isnan(p->continuity)) {
			sum += p->continuity;
			n++;
		}
	}
	return n ? sum / (double)n : NAN;
}

static void ended_of(const struct rp_run *r, const struct rp_host *h,
		     struct rp_node_row *n)
{
	n->lost_seen = lost_by_others(r, h->node, h, &n->lost_at_s,
				      n->host ? NULL : &n->host);
	n->last_row_s = NAN;
	if (!h->sum.present && h->csv_duration_s > 0)
		n->last_row_s = h->csv_duration_s;
	if (n->lost_seen)
		n->ended = RP_ENDED_LOST;
	else if (h->sum.interrupted == 1)
		n->ended = RP_ENDED_INTERRUPTED;
	else if (h->sum.present)
		n->ended = RP_ENDED_NORMALLY;
	else
		n->ended = RP_ENDED_UNKNOWN;
}

/* Flagged as the node's fidelity verdict does: the start is corrected by
 * the offset, so what is left unknown is the uncertainty. */
static void clock_of(const struct rp_summary *s, struct rp_node_row *n)
{
	n->offset_us = s->clock_offset_us;
	n->uncertainty_us = s->clock_uncertainty_us;
	n->clock_flagged = !isnan(n->uncertainty_us) &&
			   n->uncertainty_us > RP_CLOCK_LIMIT_US;
}

static void host_row(const struct rp_run *r, const struct rp_host *h,
		     struct rp_node_row *n)
{
	const struct rp_summary *s = &h->sum;

	memset(n, 0, sizeof(*n));
	n->run = r->label;
	n->node = h->node ? h->node : s->node;
	n->host = s->host;
	n->dir = h->dir;
	n->fidelity = s->fidelity;
	n->fidelity_reason = s->fidelity_reason;
	n->peers = !isnan(s->peers) ? s->peers
		   : h->csv_peers   ? (double)h->csv_peers
				    : NAN;
	n->cont_mean = s->continuity.state == RP_PRESENT ? s->continuity.mean
							 : csv_continuity(r, h);
	n->cpu_percent = !isnan(s->cpu_percent) ? s->cpu_percent
			 : h->cpu_n ? h->cpu_sum / (double)h->cpu_n
				    : NAN;
	clock_of(s, n);
	ended_of(r, h, n);
}

/* Whether the run already has a row for node (a directory, or an
 * absent node named before). */
static bool has_row(const struct rp_node_row *rows, size_t from, size_t n,
		    const char *node)
{
	for (size_t i = from; i < n; i++)
		if (rp_node_same(rows[i].node, node))
			return true;
	return false;
}

/* The nodes the others lost and whose directory was not given. */
static size_t absent_rows(const struct rp_run *r, struct rp_node_row *rows,
			  size_t from, size_t n, size_t cap)
{
	for (size_t i = 0; i < r->nhosts; i++)
		for (size_t k = 0; k < r->hosts[i].sum.nlost; k++) {
			const struct rp_lost *l = &r->hosts[i].sum.lost[k];
			struct rp_node_row *x = &rows[n];

			if (n == cap || has_row(rows, from, n, l->node))
				continue;
			memset(x, 0, sizeof(*x));
			x->run = r->label;
			x->node = l->node;
			x->host = l->host;
			x->peers = x->cont_mean = x->cpu_percent = NAN;
			x->offset_us = x->uncertainty_us = NAN;
			x->last_row_s = NAN;
			x->ended = RP_ENDED_MISSING;
			x->lost_seen = lost_by_others(r, l->node, NULL,
						      &x->lost_at_s, NULL);
			n++;
		}
	return n;
}

static bool has_nodes(const struct rp_run *r)
{
	return r->nhosts > 1 || r->hosts[0].sum.run_id || r->nodes > 1;
}

int rp_node_rows(const struct rp_run *runs, size_t nruns,
		 struct rp_node_row **out)
{
	size_t cap = 0, n = 0;
	struct rp_node_row *rows;

	*out = NULL;
	for (size_t i = 0; i < nruns; i++)
		for (size_t h = 0; has_nodes(&runs[i]) && h < runs[i].nhosts;
		     h++)
			cap += 1 + runs[i].hosts[h].sum.nlost;
	if (!cap)
		return 0;
	rows = calloc(cap, sizeof(*rows));
	if (!rows)
		return -1;
	for (size_t i = 0; i < nruns; i++) {
		size_t from = n;

		if (!has_nodes(&runs[i]))
			continue;
		for (size_t h = 0; h < runs[i].nhosts; h++)
			host_row(&runs[i], &runs[i].hosts[h], &rows[n++]);
		n = absent_rows(&runs[i], rows, from, n, cap);
	}
	*out = rows;
	return (int)n;
}

char *rp_lost_text(const struct rp_run *r)
{
	struct rp_node_row *rows;
	char *buf = NULL;
	size_t len = 0, said = 0;
	FILE *f;
	int n = rp_node_rows(r, 1, &rows);

	if (n <= 0 || !(f = open_memstream(&buf, &len))) {
		free(n > 0 ? rows : NULL);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		const struct rp_node_row *x = &rows[i];

		if (x->ended != RP_ENDED_LOST && x->ended != RP_ENDED_MISSING)
			continue;
		fprintf(f, "%snode %s (host %s) lost at %.1f s, seen by %zu "
			   "node%s",
			said++ ? "; " : "", x->node ? x->node : "?",
			x->host ? x->host : "?", x->lost_at_s, x->lost_seen,
			x->lost_seen == 1 ? "" : "s");
	}
	fclose(f);
	free(rows);
	if (!said) {
		free(buf);
		return NULL;
	}
	return buf;
}

void rp_ended_text(const struct rp_node_row *n, char *buf, size_t len)
{
	switch (n->ended) {
	case RP_ENDED_NORMALLY:
		snprintf(buf, len, "normally");
		break;
	case RP_ENDED_LOST:
		snprintf(buf, len, "lost at %.1f s", n->lost_at_s);
		break;
	case RP_ENDED_MISSING:
		snprintf(buf, len, "lost at %.1f s (no directory)",
			 n->lost_at_s);
		break;
	case RP_ENDED_INTERRUPTED:
		snprintf(buf, len, "interrupted");
		break;
	default:
		if (isnan(n->last_row_s))
			snprintf(buf, len, "unknown (no summary.json)");
		else
			snprintf(buf, len,
				 "early (no summary.json; last row at %.1f s)",
				 n->last_row_s);
	}
}

/* --- the columns ---------------------------------------------------------- */

enum ncol {
	N_NODE,
	N_HOST,
	N_PEERS,
	N_CONT,
	N_CPU,
	N_OFFSET,
	N_UNC,
	N_FIDELITY,
	N_ENDED,
	N_COLS
};

static const char *const titles[N_COLS] = {
    "node",	    "host",	   "peers",    "continuity mean", "CPU",
    "clock offset", "uncertainty", "fidelity", "ended"};

static void num_cell(double x, const char *fmt, char *buf, size_t len)
{
	if (isnan(x))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, fmt, x);
}

/* A cell for people; "-" where there is nothing. */
static void ncell(const struct rp_node_row *n, enum ncol c, char *buf,
		  size_t len)
{
	const char *s = NULL;

	switch (c) {
	case N_NODE:
		s = n->node;
		break;
	case N_HOST:
		s = n->host;
		break;
	case N_PEERS:
		return num_cell(n->peers, "%.0f", buf, len);
	case N_CONT:
		return num_cell(n->cont_mean, "%.4f", buf, len);
	case N_CPU:
		return num_cell(n->cpu_percent, "%.1f %%", buf, len);
	case N_OFFSET:
		return num_cell(n->offset_us, "%.0f us", buf, len);
	case N_UNC:
		num_cell(n->uncertainty_us, "%.0f us", buf, len);
		if (n->clock_flagged && strlen(buf) + 10 < len)
			strcat(buf, " (OVER)");
		return;
	case N_FIDELITY:
		s = n->fidelity && !strcmp(n->fidelity, "degraded")
			? "DEGRADED"
			: n->fidelity;
		break;
	default:
		return rp_ended_text(n, buf, len);
	}
	snprintf(buf, len, "%s", s && *s ? s : "-");
}

#define NCELL 256

/* --- text ----------------------------------------------------------------- */

/* The rows of one run, from rows[i] on: how many. */
static size_t run_len(const struct rp_node_row *rows, size_t i, size_t n)
{
	size_t k = i;

	while (k < n && rows[k].run == rows[i].run)
		k++;
	return k - i;
}

static void text_run(FILE *f, const struct rp_node_row *rows, size_t n)
{
	size_t w[N_COLS];
	char buf[NCELL];

	for (int c = 0; c < N_COLS; c++) {
		w[c] = strlen(titles[c]);
		for (size_t i = 0; i < n; i++) {
			ncell(&rows[i], (enum ncol)c, buf, sizeof(buf));
			if (strlen(buf) > w[c])
				w[c] = strlen(buf);
		}
	}
	fprintf(f, "\nnodes of %s:\n", rows[0].run);
	w[N_COLS - 1] = 0; /* the last column unpadded */
	for (int c = 0; c < N_COLS; c++)
		fprintf(f, "%s%-*s", c ? "  " : "", (int)w[c], titles[c]);
	fputc('\n', f);
	for (size_t i = 0; i < n; i++) {
		for (int c = 0; c < N_COLS; c++) {
			ncell(&rows[i], (enum ncol)c, buf, sizeof(buf));
			fprintf(f, "%s%-*s", c ? "  " : "", (int)w[c], buf);
		}
		fputc('\n', f);
	}
}

/* After the summary table: a table per run of several nodes, then a
 * line per clock known too loosely. */
int rp_nodes_text(FILE *f, const struct rp_node_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i += run_len(rows, i, n))
		text_run(f, rows + i, run_len(rows, i, n));
	for (size_t i = 0; i < n; i++)
		if (rows[i].clock_flagged)
			fprintf(f,
				"\nwarning: %s: node %s: its clock against the "
				"coordinator's is known to %.0f us only (over "
				"%.0f us; offset %.0f us): its experiment time "
				"0 may not be the others'\n",
				rows[i].run, rows[i].node ? rows[i].node : "?",
				rows[i].uncertainty_us, RP_CLOCK_LIMIT_US,
				rows[i].offset_us);
	return ferror(f) ? -1 : 0;
}

/* --- CSV ------------------------------------------------------------------ */

static void csv_num(FILE *f, double x)
{
	fputc(',', f);
	if (!isnan(x))
		fprintf(f, "%.10g", x);
}

static const char *const ended_word[] = {"normally", "lost", "interrupted",
					 "unknown", "lost"};

int rp_nodes_csv(FILE *f, const struct rp_node_row *rows, size_t n)
{
	fputs("run,node,host,dir,peers,continuity_mean,cpu_percent,"
	      "clock_offset_us,clock_uncertainty_us,clock_over_limit,"
	      "fidelity,fidelity_reason,ended,lost_at_s,lost_seen_by,"
	      "last_row_s\n",
	      f);
	for (size_t i = 0; i < n; i++) {
		const struct rp_node_row *x = &rows[i];
		const char *const strs[] = {x->run, x->node, x->host, x->dir};

		for (size_t k = 0; k < 4; k++) {
			if (k)
				fputc(',', f);
			rp_csv_str(f, strs[k]);
		}
		csv_num(f, x->peers);
		csv_num(f, x->cont_mean);
		csv_num(f, x->cpu_percent);
		csv_num(f, x->offset_us);
		csv_num(f, x->uncertainty_us);
		fprintf(f, ",%s,", x->clock_flagged ? "true" : "false");
		rp_csv_str(f, x->fidelity);
		fputc(',', f);
		rp_csv_str(f, x->fidelity_reason);
		fprintf(f, ",%s", ended_word[x->ended]);
		csv_num(f, x->lost_at_s);
		fputc(',', f);
		if (x->lost_seen)
			fprintf(f, "%zu", x->lost_seen);
		csv_num(f, x->last_row_s);
		fputc('\n', f);
	}
	return ferror(f) ? -1 : 0;
}

/* --- HTML ----------------------------------------------------------------- */

static void html_run(FILE *f, const struct rp_node_row *rows, size_t n)
{
	char buf[NCELL];

	fputs("<h3>Nodes of ", f);
	rp_html_esc(f, rows[0].run);
	fputs("</h3>\n<table class=\"summary\">\n<thead><tr>", f);
	for (int c = 0; c < N_COLS; c++) {
		fputs("<th>", f);
		rp_html_esc(f, titles[c]);
		fputs("</th>", f);
	}
	fputs("</tr></thead>\n<tbody>\n", f);
	for (size_t i = 0; i < n; i++) {
		const struct rp_node_row *x = &rows[i];

		fputs("<tr>", f);
		for (int c = 0; c < N_COLS; c++) {
			bool bad = (c == N_UNC && x->clock_flagged) ||
				   (c == N_ENDED &&
				    x->ended != RP_ENDED_NORMALLY) ||
				   (c == N_FIDELITY && x->fidelity &&
				    !strcmp(x->fidelity, "degraded"));

			ncell(x, (enum ncol)c, buf, sizeof(buf));
			fputs(bad ? "<td class=\"bad\">" : "<td>", f);
			rp_html_esc(f, buf);
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
	}
	fputs("</tbody>\n</table>\n", f);
}

int rp_nodes_html(FILE *f, const struct rp_node_row *rows, size_t n)
{
	if (!n)
		return 0;
	fputs("<h2>Nodes</h2>\n", f);
	for (size_t i = 0; i < n; i += run_len(rows, i, n))
		html_run(f, rows + i, run_len(rows, i, n));
	return ferror(f) ? -1 : 0;
}
