/* crystal run: summary.json's "parameters", from the option table.
 *
 * Each row of the table (run-opts.c) says whether the option appears in
 * "parameters", under which key and in which runs; the value is the
 * option's field, or what the row's function writes where the run used
 * another value than the one given (the workers the engine chose, the
 * defaults filled in).  The order is the one summary.json has always had.
 */
#include "../metrics/json.h"
#include "../scenario/mesh.h"
#include "opt.h"
#include "run.h"

#include <string.h>

/* summary.json's "parameters", in the order they have always had */
static const enum cr__run_row json_order[] = {
	CR__RUN_ALGO, CR__RUN_PEERS, CR__RUN_CHAIN, CR__RUN_MESH,
	CR__RUN_DURATION, CR__RUN_MSGSIZE, CR__RUN_RATE, CR__RUN_COUNT,
	CR__RUN_WORKERS, CR__RUN_ALGO_THREADS, CR__RUN_IP, CR__RUN_BASEPORT, CR__RUN_QUEUE,
	CR__RUN_SEED, CR__RUN_WARMUP, CR__RUN_BATCH, CR__RUN_BUSY,
	CR__RUN_SPIN, CR__RUN_SCALE_UP, CR__RUN_UPLOAD, CR__RUN_DOWNLOAD,
	CR__RUN_TOTAL, CR__RUN_LINK_UP, CR__RUN_LINK_DOWN, CR__RUN_SRC_UP,
	CR__RUN_DELAY, CR__RUN_JITTER, CR__RUN_LOSS, CR__RUN_MATRIX,
	CR__RUN_PARAM,
};

static const struct cr__run_report *report_of(const void *ctx)
{
	return ctx;
}

void cr__run_json_algorithm(struct cr_json *j, const struct cr__opt *row,
			    const void *ctx)
{
	cr_json_str(j, row->json_key, report_of(ctx)->algo->name);
}

void cr__run_json_mesh(struct cr_json *j, const struct cr__opt *row,
		       const void *ctx)
{
	const struct cr_node_config *cfg = report_of(ctx)->cfg;
	char tracker[CR_ADDR_STRLEN];

	cr_json_bool(j, row->json_key, true);
	cr_json_uint(j, "session", CR_MESH_SESSION);
	cr_json_num(j, "segment_s", 1.0);
	cr_json_str(j, "tracker", cr_addr_format(&cfg->tracker.addr, tracker,
						 sizeof(tracker)));
	cr_json_uint(j, "tracker_peers_per_reply", cfg->tracker.reply_peers);
}

/* the value the run used, which the engine may have chosen */
void cr__run_json_workers(struct cr_json *j, const struct cr__opt *row,
			  const void *ctx)
{
	cr_json_int(j, row->json_key, report_of(ctx)->r->workers);
}

/* the pool's size as the run set it (cr__run_pool_size) */
void cr__run_json_algo_threads(struct cr_json *j, const struct cr__opt *row,
			       const void *ctx)
{
	cr_json_uint(j, row->json_key, report_of(ctx)->o->algorithm_threads);
}

void cr__run_json_queue(struct cr_json *j, const struct cr__opt *row,
			const void *ctx)
{
	const struct cr_node_config *cfg = report_of(ctx)->cfg;

	cr_json_uint(j, row->json_key,
		     cfg->queue_limit ? cfg->queue_limit
				      : CR__NODE_QUEUE_LIMIT);
}

void cr__run_json_seed(struct cr_json *j, const struct cr__opt *row,
		       const void *ctx)
{
	const struct cr__run_opts *o = report_of(ctx)->o;

	cr_json_uint(j, row->json_key, o->seed ? o->seed : 1);
}

void cr__run_json_batch(struct cr_json *j, const struct cr__opt *row,
			const void *ctx)
{
	cr_json_num(j, row->json_key,
		    (double)report_of(ctx)->r->batch_ns / 1e3);
}

void cr__run_json_spin(struct cr_json *j, const struct cr__opt *row,
		       const void *ctx)
{
	cr_json_num(j, row->json_key, 100 * report_of(ctx)->r->spin_budget);
}

/* --scale-upload's factors, and each class's upload limit as the run used
 * it (0: unlimited): links are per class, in the experiment file. */
void cr__run_json_scale(struct cr_json *j, const struct cr__opt *row,
			const void *ctx)
{
	const struct cr__run_opts *o = report_of(ctx)->o;
	const struct cr_experiment *e = o->experiment;
	char key[300];

	for (size_t i = 0; i < o->nscale; i++) {
		const struct cr__scale *sc = &o->scale[i];
		snprintf(key, sizeof(key), "%s%s%.*s", row->json_key,
			 sc->cls ? "." : "", (int)sc->cls_len,
			 sc->cls ? sc->cls : "");
		cr_json_num(j, key, sc->factor);
	}
	for (size_t i = 0; e && i < e->nclasses; i++) {
		snprintf(key, sizeof(key), "upload_Bps.%s", e->classes[i].name);
		cr_json_uint(j, key, e->classes[i].limits.upload_Bps);
	}
}

/* the one-way delay given, twice the access delay */
void cr__run_json_delay(struct cr_json *j, const struct cr__opt *row,
			const void *ctx)
{
	const struct cr__run_opts *o = report_of(ctx)->o;

	cr_json_num(j, row->json_key,
		    2.0 * (double)o->lim.access_delay_ns / 1e6);
}

/* the algorithm's parameters as the run used them, the file's with -D */
void cr__run_json_params(struct cr_json *j, const struct cr__opt *row,
			 const void *ctx)
{
	const struct cr_node_config *cfg = report_of(ctx)->cfg;
	char key[300];

	for (size_t i = 0; i < cfg->nparams; i++) {
		snprintf(key, sizeof(key), "%s.%s", row->json_key,
			 cfg->params[i].name);
		cr_json_str(j, key, cfg->params[i].value);
	}
}

static bool in_scope(const struct cr__opt *row, const struct cr__run_opts *o)
{
	switch (row->scope) {
	case CR__SCOPE_BUILTIN:
		return !o->file;
	case CR__SCOPE_CHAINS:
		return !o->file && !o->mesh;
	case CR__SCOPE_MESH:
		return o->mesh;
	case CR__SCOPE_FILE:
		return o->file;
	default:
		return true;
	}
}

static void json_row(struct cr_json *j, const struct cr__opt *row,
		     const struct cr__run_report *rep)
{
	const char *v = (const char *)rep->o + row->off;
	int64_t ns;

	switch (row->json) {
	case CR__JSON_UINT:
		cr_json_uint(j, row->json_key, *(const uint64_t *)v);
		break;
	case CR__JSON_STR:
		cr_json_str(j, row->json_key, *(const char *const *)v);
		break;
	case CR__JSON_BOOL:
		cr_json_bool(j, row->json_key, *(const bool *)v);
		break;
	case CR__JSON_NUM:
		cr_json_num(j, row->json_key, *(const double *)v);
		break;
	case CR__JSON_SEC:
	case CR__JSON_MS:
		memcpy(&ns, v, sizeof(ns));
		cr_json_num(j, row->json_key,
			    (double)ns /
				    (row->json == CR__JSON_SEC ? 1e9 : 1e6));
		break;
	case CR__JSON_FUNC:
		row->json_fn(j, row, rep);
		break;
	default:
		break;
	}
}

/* The members of "parameters" (report: a struct cr__run_report), for
 * cr__summary_write(). */
void cr__run_params_json(struct cr_json *j, const void *report)
{
	const struct cr__run_report *rep = report;
	size_t n = sizeof(json_order) / sizeof(json_order[0]);

	for (size_t i = 0; i < n; i++) {
		const struct cr__opt *row = &cr__run_rows[json_order[i]];
		if (in_scope(row, rep->o))
			json_row(j, row, rep);
	}
}
