/* crystal report: what its files share.  report.c reads the options and
 * drives; report-csv.c reads CSV records; report-runs.c turns run
 * directories into runs (summary.json, the nodes of one run merged, by
 * the rules of report-group.c) and report-read.c reads their CSV files;
 * report-rows.c makes the summary table's rows and report-table.c writes
 * them (text, CSV, HTML); report-nodes.c makes and writes the per-node
 * table of runs that spanned hosts; report-plot.c draws the plots with
 * gnuplot and report-page.c writes report.html.
 * See docs/reports.md.
 */
#ifndef CRYSTAL_REPORT_H
#define CRYSTAL_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Problems with the input, said on stderr as they are found and listed
 * again in report.html. */
struct rp_ctx {
	char **problems;
	size_t nproblems;
	bool quiet; /* kept, not said (the fuzz target sets it) */
};

void rp_problem(struct rp_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rp_ctx_free(struct rp_ctx *ctx);

/* --- CSV records (report-csv.c) ------------------------------------------ */

/* RFC 4180 records read one at a time, fields by header name.  A record
 * that the file ends inside (no final newline, an open quote) is "cut":
 * a run killed in the middle of a write leaves one. */
struct rp_csv {
	FILE *f;
	char *line;
	size_t line_cap;
	char *text; /* the fields of the record, each NUL-terminated */
	size_t text_len, text_cap;
	size_t *start; /* offsets of the fields in text */
	size_t nfields, fields_cap;
	char **names; /* the header */
	size_t ncols;
	unsigned long line_no; /* line the current record starts on */
	unsigned long lines;   /* lines read so far */
};

/* 0; -1 when the file cannot be opened (errno set); -2 when it has no
 * header line. */
int rp_csv_open(struct rp_csv *c, const char *path);
/* 1: a record; 0: the end; -1: the file ends inside a record (cut). */
int rp_csv_next(struct rp_csv *c);
/* The column named `name`, or -1. */
int rp_csv_col(const struct rp_csv *c, const char *name);
/* Writes s as one CSV field, quoted when it must be (report-table.c). */
void rp_csv_str(FILE *f, const char *s);
/* Field `col` of the current record, or NULL (col < 0 or past its end). */
const char *rp_csv_field(const struct rp_csv *c, int col);
void rp_csv_close(struct rp_csv *c);
/* A number; an empty field is NaN ("does not apply").  False for text
 * that is not a number. */
bool rp_parse_num(const char *s, double *out);

/* --- runs (report-runs.c, report-read.c) --------------------------------- */

/* A distribution over peers, as summary.json writes it. */
enum rp_dist_state { RP_ABSENT, RP_NULL, RP_PRESENT };
struct rp_dist {
	enum rp_dist_state state;
	double peers, mean, min, p5, p50, p95;
};

/* The most names of algorithm values (summary.json "values", the value.*
 * columns of peers-final.csv) a run is read with; the engine writes at
 * most 16 per host.  Names past it are said and left out. */
#define RP_VALUES_MAX 32

/* An algorithm's value, summarised over peers. */
struct rp_value {
	char *name;
	struct rp_dist d;
};

/* A node another node's summary.json says it lost ("hosts_lost"). */
struct rp_lost {
	char *node, *host;
	double at_s; /* experiment time it was lost */
};

/* summary.json; a number it does not have is NaN. */
struct rp_summary {
	bool present;
	char *experiment, *experiment_id, *host, *fidelity, *fidelity_reason;
	char *fidelity_cause; /* why the machine did not keep up, if said */
	/* a run that spanned hosts: its id, this node's identity (the IPs of
	 * its peers, comma-joined), the coordinator; NULL when not said */
	char *run_id, *node, *coordinator;
	double nodes; /* how many nodes the run had */
	double clock_offset_us, clock_uncertainty_us;
	struct rp_lost *lost; /* "hosts_lost" */
	size_t nlost;
	int interrupted, complete; /* -1: not said */
	double peers, duration_s, cumulative_rate_Bps, per_peer_rate_Bps;
	double cpu_percent, max_rss_kb, sample_interval_s;
	struct rp_dist continuity, startup_delay, segment_latency;
	struct rp_dist control_overhead, duplicate_ratio;
	bool have_values; /* it has "values" (a newer crystal wrote it) */
	struct rp_value *values;
	size_t nvalues;
};

/* One peer's end of run: from peers-final.csv, or failing that from its
 * last row in peers.csv.  NaN: does not apply. */
struct rp_peer {
	bool source;
	double data_in, rate_Bps, continuity, startup_s, latency_s;
	double overhead, duplicate;
	double values[RP_VALUES_MAX]; /* by the run's value_names */
};

/* A value per sampling interval (bin); NaN where there is no sample. */
struct rp_ts {
	double *v;
	size_t n;
};

/* Values per bin (the per-peer rates of one interval). */
struct rp_bag {
	double *v;
	size_t n, cap;
};

/* One run directory: the node of a run on one host. */
struct rp_host {
	const char *dir;
	struct rp_summary sum;
	/* the node's identity: summary.json's "node", or else the IPs of the
	 * peers of its CSV files, sorted and comma-joined (NULL: neither) */
	char *node;
	size_t peer_lo, peer_hi; /* its peers in the run's peers[] */
	bool any_csv;	     /* some CSV file had rows */
	bool finals_are_csv; /* peers from peers.csv (no peers-final) */
	size_t csv_peers;    /* peers in the CSV files */
	size_t receivers;    /* of which no source */
	double csv_duration_s, node_bytes_in, node_last_s;
	double cpu_sum, rss_max;
	size_t cpu_n, rss_n;
	double recv_bytes_in; /* data bytes in of the receivers */
};

/* A run: one directory, or the directories of the hosts of one
 * multi-host experiment, merged.  Series are over bins of the sampling
 * interval; node-level series are summed over hosts, per-peer data is the
 * union of the hosts' peers. */
struct rp_run {
	char *label;
	struct rp_host *hosts;
	size_t nhosts;
	double interval_s;
	struct rp_peer *peers;
	size_t npeers, peers_cap;
	struct rp_ts alive, cpu, rss, lag, ctrl_d, data_d;
	struct rp_bag *rates; /* per bin: the receivers' interval rates */
	size_t nrates;
	bool have_node, have_workers, have_peers, have_final;
	/* the names of the value.* columns of the hosts' peers-final.csv */
	char *value_names[RP_VALUES_MAX];
	size_t nvalue_names;
	size_t nodes; /* the nodes its summaries say it had; 0: not said */
};

/* Reads the directories into runs, hosts of one experiment merged.
 * Problems are said through ctx; a directory with nothing usable is left
 * out.  Returns the number of runs (0: none usable), or -1 out of memory. */
int rp_read_runs(struct rp_ctx *ctx, char **dirs, size_t ndirs,
		 struct rp_run **runs);
void rp_runs_free(struct rp_run *runs, size_t nruns);

/* --- grouping directories into runs (report-group.c) ---------------------- */

/* A node identity in one form: its IPs sorted and comma-joined, without
 * blanks; NULL for NULL or out of memory. */
char *rp_node_canon(const char *node);
/* The identity of the node whose peers the directory's CSV files hold
 * (peers-final.csv, or peers.csv), canonical; NULL when they name none. */
char *rp_node_of_csv(const char *dir);
/* Whether two identities name the same node (either may be NULL: no). */
bool rp_node_same(const char *a, const char *b);
/* The run the host h (not yet in a run) belongs to among runs[0..nruns),
 * or NULL: a new one.  Problems (a node given twice) through ctx, with
 * *drop set when h is to be left out. */
struct rp_run *rp_run_for(struct rp_ctx *ctx, struct rp_run *runs,
			  size_t nruns, const struct rp_host *h, bool *drop);
/* The run a directory without summary.json joins: one whose nodes say
 * they lost its node and that has no directory of it; or NULL. */
struct rp_run *rp_run_of_lost(struct rp_run *runs, size_t nruns,
			      const struct rp_host *h);
/* Says which nodes of the run have no directory among those given. */
void rp_check_nodes(struct rp_ctx *ctx, struct rp_run *r);

/* The CSV files of host h of run r, read into it (report-read.c). */
void rp_read_csvs(struct rp_ctx *ctx, struct rp_run *r, struct rp_host *h);

/* Mean, min and quantiles (nearest rank, as summary.json has them) of
 * v[0..n), which it sorts; RP_NULL when n is 0. */
void rp_dist_of(double *v, size_t n, struct rp_dist *d);

/* --- the table (report-rows.c, report-table.c) --------------------------- */

struct rp_row {
	const char *label, *experiment, *fidelity, *fidelity_reason;
	const char *fidelity_cause;
	const char *run_id; /* NULL: the run has none */
	char *hosts, *dirs;
	char *lost; /* the nodes lost, "NODE (HOST) at T s; ...", or NULL */
	double nodes, nodes_read; /* nodes of the run; directories read */
	const char *from; /* summary.json, CSV files, or both */
	int interrupted;  /* -1 unknown */
	double peers, duration_s, cumulative_rate_Bps, per_peer_rate_Bps;
	double cont_mean, cont_p5, cont_p50, start_p50, start_p95;
	double lat_p50, lat_p95, overhead_mean, duplicate_mean;
	double cpu_percent, max_rss_kb;
	/* the algorithm's values: each over every peer that reported it */
	struct rp_row_value {
		const char *name;
		double mean, p5, p50, p95;
	} *values;
	size_t nvalues;
};

/* Names: sorted with qsort(rp_cmp_str), added once each (up to max). */
int rp_cmp_str(const void *a, const void *b);
void rp_names_add(const char **names, size_t *n, size_t max,
		  const char *name);

void rp_rows_make(const struct rp_run *runs, size_t nruns, struct rp_row *rows);
void rp_rows_free(struct rp_row *rows, size_t nrows);
int rp_table_csv(FILE *f, const struct rp_row *rows, size_t nrows);
int rp_table_text(FILE *f, const struct rp_row *rows, size_t nrows);
int rp_table_html(FILE *f, const struct rp_row *rows, size_t nrows);
/* HTML text with &, <, >, " escaped. */
void rp_html_esc(FILE *f, const char *s);
/* A run whose emulation fell short (fidelity "degraded"). */
bool rp_row_degraded(const struct rp_row *row);

/* --- the nodes of runs that spanned hosts (report-nodes.c) ---------------- */

enum rp_ended {
	RP_ENDED_NORMALLY,
	RP_ENDED_LOST,	      /* other nodes lost it (lost_at_s) */
	RP_ENDED_INTERRUPTED, /* a signal stopped it */
	RP_ENDED_UNKNOWN,     /* no summary.json, and no node said it lost */
	RP_ENDED_MISSING,     /* lost, and no directory of it was given */
};

/* One node of a run: a line of the per-node table. */
struct rp_node_row {
	const char *run, *node, *host, *dir, *fidelity, *fidelity_reason;
	double peers, cont_mean, cpu_percent, offset_us, uncertainty_us;
	enum rp_ended ended;
	double lost_at_s;   /* RP_ENDED_LOST, RP_ENDED_MISSING; else NaN */
	size_t lost_seen;   /* by how many nodes */
	double last_row_s;  /* no summary.json: its CSV files' last time */
	bool clock_flagged; /* its uncertainty over the threshold */
};

/* The clock uncertainty past which a node is flagged, as its fidelity
 * verdict does (src/metrics/fidelity.c): 1 ms.  The offset itself is
 * corrected for at the start. */
#define RP_CLOCK_LIMIT_US 1000.0

/* The per-node rows of every run of more than one node or with a run_id;
 * the count (0: none), or -1 out of memory. */
int rp_node_rows(const struct rp_run *runs, size_t nruns,
		 struct rp_node_row **rows);
/* "NODE (HOST) at T s, seen by N nodes; ..." of a run, or NULL. */
char *rp_lost_text(const struct rp_run *r);
/* "normally", "lost at 12.3 s", ... into buf. */
void rp_ended_text(const struct rp_node_row *n, char *buf, size_t len);
int rp_nodes_text(FILE *f, const struct rp_node_row *rows, size_t n);
int rp_nodes_csv(FILE *f, const struct rp_node_row *rows, size_t n);
int rp_nodes_html(FILE *f, const struct rp_node_row *rows, size_t n);

/* --- the plots and the page (report-plot.c, report-page.c) --------------- */

struct rp_page {
	const char *out;      /* report.html */
	const char *svg_dir;  /* also write the plots here, or NULL */
	const char *data_dir; /* and their data here, or NULL */
	bool plots;	      /* false: --no-plots */
	char **dirs;
	size_t ndirs;
};

/* The plots' part of report.html, into out (report-plot.c). */
void rp_draw_plots(struct rp_ctx *ctx, FILE *out, const struct rp_page *pg,
		   const struct rp_run *runs, size_t nruns);

/* Writes report.html: 0; 2 when it cannot be made (--out names no place
 * to write), 1 when writing it failed; said on stderr. */
int rp_write_html(struct rp_ctx *ctx, const struct rp_page *page,
		  const struct rp_run *runs, const struct rp_row *rows,
		  size_t nruns);

#endif
