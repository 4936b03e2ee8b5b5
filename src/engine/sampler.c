/* The run directory's time series: every second each worker writes one
 * row per peer it hosts (peers.csv) and one of its own (workers.csv); at
 * the end the node writes one row per peer (peers-final.csv).  The
 * columns are documented in docs/run-directory.md.
 *
 * A worker formats its rows in memory on its own thread, from its own
 * peers' counters (no locks on the hot path), then appends them under the
 * node's lock in one write and flushes, so a run that is killed keeps
 * every second it finished.
 */
#include "engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char PEERS_HEADER[] =
	"time_s,peer,class,session,alive,data_bytes_in,data_bytes_out,"
	"ctrl_bytes_in,ctrl_bytes_out,buffer_segments,played,missed,"
	"duplicate_bytes,segment_latency_s,data_bytes_offered,"
	"tracker_bytes_in,tracker_bytes_out\n";
static const char WORKERS_HEADER[] =
	"time_s,worker,peers_alive,timer_lag_p50_us,timer_lag_p99_us,"
	"release_late_p99_us,messages_switched,held_off_ms\n";
static const char FINAL_HEADER[] =
	"peer,class,session,alive_s,data_bytes_in,data_bytes_out,"
	"ctrl_bytes_in,ctrl_bytes_out,rate_Bps,played,missed,continuity,"
	"startup_delay_s,segment_latency_s,control_overhead,"
	"duplicate_ratio,data_bytes_offered,tracker_bytes_in,"
	"tracker_bytes_out,works_done,works_cancelled,work_cpu_s\n";

static FILE *open_csv(const char *dir, const char *name, const char *header,
		      char *err, size_t errlen)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f || fputs(header, f) == EOF || fflush(f)) {
		snprintf(err, errlen, "cannot write %s: %s", path,
			 strerror(errno));
		if (f)
			fclose(f);
		return NULL;
	}
	return f;
}

int cr__sampler_open(struct cr__node *n, char *err, size_t errlen)
{
	const char *dir = n->cfg.metrics_dir;

	if (!dir)
		return 0;
	n->sample_ns = n->cfg.sample_interval_ns > 0 ? n->cfg.sample_interval_ns
						     : CR_SEC;
	n->csv_peers = open_csv(dir, "peers.csv", PEERS_HEADER, err, errlen);
	if (!n->csv_peers)
		return -1;
	n->csv_workers =
		open_csv(dir, "workers.csv", WORKERS_HEADER, err, errlen);
	if (!n->csv_workers) {
		fclose(n->csv_peers);
		n->csv_peers = NULL;
		return -1;
	}
	return 0;
}

static void rows_printf(struct cr__worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void rows_printf(struct cr__worker *w, const char *fmt, ...)
{
	va_list ap;
	int k;

	for (;;) {
		size_t left = w->rows_cap - w->rows_len;
		va_start(ap, fmt);
		/* no buffer yet: NULL, not NULL + 0, to learn the length */
		k = vsnprintf(w->rows ? w->rows + w->rows_len : NULL, left, fmt,
			      ap);
		va_end(ap);
		if (k < 0)
			return;
		if ((size_t)k < left) {
			w->rows_len += (size_t)k;
			return;
		}
		size_t cap = w->rows_cap ? 2 * w->rows_cap : 64 * 1024;
		while (cap - w->rows_len <= (size_t)k)
			cap *= 2;
		char *b = realloc(w->rows, cap);
		if (!b)
			return; /* the row is lost, not the run */
		w->rows = b;
		w->rows_cap = cap;
	}
}

/* A quantile in µs, or nothing when the histogram is empty. */
static void rows_us(struct cr__worker *w, const struct cr__hist *h, double q)
{
	if (h->n)
		rows_printf(w, ",%.1f",
			    (double)cr__hist_quantile(h, q) / (double)CR_US);
	else
		rows_printf(w, ",");
}

static void peer_row(struct cr__worker *w, const struct cr_peer *p,
		     double t)
{
	const struct cr__peer_stats *st = &p->st;
	const cr_playback_report *pl = &st->play;

	rows_printf(w, "%.3f,%s,%s,", t, p->name, p->class_name);
	if (st->play_reported)
		rows_printf(w, "%u", pl->session);
	rows_printf(w, ",%d,%llu,%llu,%llu,%llu,", p->ep.alive ? 1 : 0,
		    (unsigned long long)st->data_bytes_in,
		    (unsigned long long)st->data_bytes_out,
		    (unsigned long long)st->ctrl_bytes_in,
		    (unsigned long long)st->ctrl_bytes_out);
	if (st->play_reported)
		rows_printf(w, "%u,%llu,%llu,%llu,", pl->buffered,
			    (unsigned long long)pl->played,
			    (unsigned long long)pl->missed,
			    (unsigned long long)pl->duplicate_bytes);
	else
		rows_printf(w, ",,,,");
	if (st->play_reported && pl->completed)
		rows_printf(w, "%.6f",
			    (double)pl->latency_sum_ns /
				    (double)pl->completed / 1e9);
	rows_printf(w, ",%llu,%llu,%llu\n",
		    (unsigned long long)st->data_bytes_offered,
		    (unsigned long long)st->tracker_bytes_in,
		    (unsigned long long)st->tracker_bytes_out);
}

static void append(struct cr__node *n, FILE *f, const char *b, size_t len)
{
	if (!f || !len)
		return;
	pthread_mutex_lock(&n->csv_lock);
	fwrite(b, 1, len, f);
	fflush(f);
	pthread_mutex_unlock(&n->csv_lock);
}

void cr__sampler_worker(struct cr__worker *w, int64_t now)
{
	struct cr__node *n = w->node;
	double t = (double)now / 1e9;
	struct cr__hist lag, late, rx_late;
	int64_t late_p99, held;
	uint64_t alive = 0;

	/* the last sample may fall on the same millisecond as a periodic
	 * one: one row is enough */
	if (!w->sampling || now / CR_MS == w->last_sample_ns / CR_MS)
		return;
	w->last_sample_ns = now;
	w->rows_len = 0;
	for (size_t i = 0; i < w->npeers; i++) {
		struct cr_peer *p = w->peers[i];
		if (p->is_tracker_peer)
			continue;
		alive += p->ep.alive;
		/* from its birth on; a death's row, then none until reborn */
		if (!p->ep.alive && !p->sampled_alive)
			continue;
		peer_row(w, p, t);
		p->sampled_alive = p->ep.alive;
	}
	append(n, n->csv_peers, w->rows, w->rows_len);
	atomic_store_explicit(&w->pub_alive, alive, memory_order_relaxed);

	cr__hist_since(&lag, &w->net.timers.lag, &w->lag_mark);
	cr__hist_since(&late, &w->net.late, &w->late_mark);
	cr__hist_since(&rx_late, &w->net.rx_late, &w->rx_late_mark);
	late_p99 = late.n ? cr__hist_quantile(&late, 0.99) : 0;
	if (rx_late.n && cr__hist_quantile(&rx_late, 0.99) > late_p99)
		late_p99 = cr__hist_quantile(&rx_late, 0.99);
	atomic_store_explicit(&w->pub_late_p99, late_p99,
			      memory_order_relaxed);
	w->lag_mark = w->net.timers.lag;
	w->late_mark = w->net.late;
	w->rx_late_mark = w->net.rx_late;
	held = w->held_ns - w->held_mark; /* the warm-up's end zeroes both */
	w->held_mark = w->held_ns;
	atomic_store_explicit(&w->pub_held_ns, held, memory_order_relaxed);
	w->rows_len = 0;
	rows_printf(w, "%.3f,%d,%llu", t, w->id, (unsigned long long)alive);
	rows_us(w, &lag, 0.50);
	rows_us(w, &lag, 0.99);
	rows_us(w, &late, 0.99);
	rows_printf(w, ",%llu,%.3f\n", (unsigned long long)w->msgs_switched,
		    (double)held / 1e6);
	append(n, n->csv_workers, w->rows, w->rows_len);
}

static void ratio(FILE *f, double num, double den)
{
	if (den > 0)
		fprintf(f, ",%.6g", num / den);
	else
		fputs(",", f);
}

/* The algorithm's values (cr_report_value), after the fixed columns, in
 * byte order of their names: "value.NAME" in the header, empty where the
 * peer reported none. */
static void value_header(FILE *f, const struct cr__node *n)
{
	uint32_t order[CR_REPORT_VALUES_MAX];
	size_t nv = cr__node_value_order(n, order);

	for (size_t k = 0; k < nv; k++)
		fprintf(f, ",value.%s", n->value_names[order[k]]);
}

static void value_cells(FILE *f, const struct cr_peer *p)
{
	uint32_t order[CR_REPORT_VALUES_MAX];
	size_t nv = cr__node_value_order(p->node, order);

	for (size_t k = 0; k < nv; k++)
		if (p->st.values_set & 1u << order[k])
			fprintf(f, ",%.15g", p->st.values[order[k]]);
		else
			fputc(',', f);
}

static void final_row(FILE *f, const struct cr_peer *p)
{
	const struct cr__peer_stats *st = &p->st;
	const cr_playback_report *pl = &st->play;
	double alive_s = (double)st->alive_ns / 1e9;

	fprintf(f, "%s,%s,", p->name, p->class_name);
	if (st->play_reported)
		fprintf(f, "%u", pl->session);
	fprintf(f, ",%.3f,%llu,%llu,%llu,%llu", alive_s,
		(unsigned long long)st->data_bytes_in,
		(unsigned long long)st->data_bytes_out,
		(unsigned long long)st->ctrl_bytes_in,
		(unsigned long long)st->ctrl_bytes_out);
	ratio(f, (double)st->data_bytes_in, alive_s);
	if (st->play_reported)
		fprintf(f, ",%llu,%llu", (unsigned long long)pl->played,
			(unsigned long long)pl->missed);
	else
		fputs(",,", f);
	ratio(f, st->play_reported ? (double)pl->played : 0,
	      st->play_reported ? (double)(pl->played + pl->missed) : 0);
	if (st->play_reported && pl->first_played_ns >= 0 && p->join_ns)
		fprintf(f, ",%.6f",
			(double)(pl->first_played_ns - p->join_ns) / 1e9);
	else
		fputs(",", f);
	ratio(f, st->play_reported ? (double)pl->latency_sum_ns / 1e9 : 0,
	      st->play_reported ? (double)pl->completed : 0);
	ratio(f, (double)st->ctrl_bytes_in, (double)st->data_bytes_in);
	ratio(f, st->play_reported ? (double)pl->duplicate_bytes : 0,
	      (double)st->data_bytes_in);
	fprintf(f, ",%llu,%llu,%llu",
		(unsigned long long)st->data_bytes_offered,
		(unsigned long long)st->tracker_bytes_in,
		(unsigned long long)st->tracker_bytes_out);
	/* work on the pool (cr_work_submit): every work has had its done
	 * by now, the run's end waiting for those that ran */
	fprintf(f, ",%llu,%llu,%.6f", (unsigned long long)p->work.completed,
		(unsigned long long)p->work.cancelled,
		(double)p->work.cpu_ns / 1e9);
	value_cells(f, p);
	fputc('\n', f);
}

int cr__sampler_close(struct cr__node *n, char *err, size_t errlen)
{
	char path[4096];
	FILE *f;
	int rc = 0;

	if (!n->csv_peers)
		return 0;
	snprintf(path, sizeof(path), "%s/peers-final.csv", n->cfg.metrics_dir);
	f = fopen(path, "we");
	if (f) {
		/* the header without its newline, then the values' */
		fwrite(FINAL_HEADER, 1, sizeof(FINAL_HEADER) - 2, f);
		value_header(f, n);
		fputc('\n', f);
		for (size_t i = 0; i < n->npeers; i++)
			if (!n->peers[i].remote && !n->peers[i].is_tracker_peer)
				final_row(f, &n->peers[i]);
	}
	if (!f || ferror(f) | fclose(f)) {
		snprintf(err, errlen, "cannot write %s: %s", path,
			 strerror(errno));
		rc = -1;
	}
	if (fclose(n->csv_peers) && !rc) {
		snprintf(err, errlen, "cannot write %s/peers.csv: %s",
			 n->cfg.metrics_dir, strerror(errno));
		rc = -1;
	}
	if (fclose(n->csv_workers) && !rc) {
		snprintf(err, errlen, "cannot write %s/workers.csv: %s",
			 n->cfg.metrics_dir, strerror(errno));
		rc = -1;
	}
	n->csv_peers = n->csv_workers = NULL;
	return rc;
}
