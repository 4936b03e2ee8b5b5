/* crystal run: what its files share.
 *
 *   run-opts.c   the option table: parsing, --help, what an option does to
 *                an experiment file
 *   run-params.c summary.json's "parameters", as the table says
 *   run-check.c  checks before a run: addresses this host can bind, the
 *                classes --scale-upload names
 *   run.c        the three experiments (chains, mesh, a file) made ready
 *   run-exec.c   running one: the run directory, signals, the status line,
 *                node.csv, summary.json (summary.c) and the closing words
 */
#ifndef CRYSTAL_CLI_RUN_H
#define CRYSTAL_CLI_RUN_H

#include "../engine/node.h"
#include "../scenario/experiment.h"
#include "opt.h"

#define CR__RUN_MAX_PARAMS 64
#define CR__RUN_MAX_TRACE 64
#define CR__RUN_MAX_PLAYOUT 16
#define CR__RUN_MAX_SCALE 64
#define CR__RUN_SCALE_MAX 1000.0 /* the largest --scale-upload factor */

/* --scale-upload [CLASS=]FACTOR: cls (cls_len bytes of the argument) is
 * NULL for every class. */
struct cr__scale {
	const char *cls;
	size_t cls_len;
	double factor;
};

/* The options of crystal run, as given, then as the run used them. */
struct cr__run_opts {
	uint64_t peers;
	uint64_t chain_len;
	int64_t duration_ns;
	uint64_t msg_size;
	uint64_t rate_Bps;
	uint64_t count;
	uint64_t workers;
	uint64_t algorithm_threads; /* 0: as the file says, or one per core */
	const char *algorithm;
	const char *out;
	const char *ip;
	uint64_t base_port;
	int log_level;
	uint64_t max_msg;
	uint64_t queue_limit;
	uint64_t tracker_per_peer, tracker_per_session; /* 0: the file's */
	/* what a remote may make a peer hold; 0: automatic */
	uint64_t max_conns;
	int64_t idle_timeout_ns, frame_timeout_ns;
	uint64_t partial_limit;
	bool quiet;
	uint64_t seed;
	int64_t warmup_ns;
	int64_t batch_ns; /* 0: the engine's default */
	bool busy_poll;
	double spin_budget; /* --spin: 0 never spins */
	bool mesh;	    /* the built-in mesh, not the chains */
	cr_link_limits lim;
	uint64_t source_upload_Bps;
	const char *matrix_path;
	/* a run spanning hosts: --coordinator (family 0: the file's), and
	 * how long the nodes wait for each other at the start */
	cr_addr coordinator;
	int64_t barrier_timeout_ns;
	struct cr__coord *coord; /* the run's supervision (coord.h); NULL on
				  * one host */
	const char *file; /* an experiment file, or NULL for chains */
	const struct cr_experiment *experiment; /* read from it */
	uint64_t given;	       /* options given, by row of the table */
	size_t events_skipped; /* after the end of the run: not run */
	struct cr_node_param params[CR__RUN_MAX_PARAMS];
	size_t nparams;
	const char *trace[CR__RUN_MAX_TRACE]; /* --trace patterns */
	size_t ntrace;
	struct cr_node_playout playout[CR__RUN_MAX_PLAYOUT];
	size_t nplayout;
	struct cr__scale scale[CR__RUN_MAX_SCALE]; /* --scale-upload */
	size_t nscale;
	int argc; /* the command line, for command.txt */
	char **argv;
};

/* The rows of the option table that the run's code asks about. */
enum cr__run_row {
	CR__RUN_MESH,
	CR__RUN_PEERS,
	CR__RUN_CHAIN,
	CR__RUN_DURATION,
	CR__RUN_MSGSIZE,
	CR__RUN_RATE,
	CR__RUN_COUNT,
	CR__RUN_WARMUP,
	CR__RUN_ALGO,
	CR__RUN_PARAM,
	CR__RUN_UPLOAD,
	CR__RUN_DOWNLOAD,
	CR__RUN_TOTAL,
	CR__RUN_LINK_UP,
	CR__RUN_LINK_DOWN,
	CR__RUN_DELAY,
	CR__RUN_JITTER,
	CR__RUN_LOSS,
	CR__RUN_MATRIX,
	CR__RUN_SRC_UP,
	CR__RUN_SCALE_UP,
	CR__RUN_SEED,
	CR__RUN_BATCH,
	CR__RUN_BUSY,
	CR__RUN_SPIN,
	CR__RUN_WORKERS,
	CR__RUN_ALGO_THREADS,
	CR__RUN_IP,
	CR__RUN_BASEPORT,
	CR__RUN_OUT,
	CR__RUN_LOGLEVEL,
	CR__RUN_TRACE,
	CR__RUN_QUIET,
	CR__RUN_PLAYOUT,
	CR__RUN_MAXMSG,
	CR__RUN_QUEUE,
	CR__RUN_TRK_PER_PEER,
	CR__RUN_TRK_PER_SESSION,
	CR__RUN_MAXCONNS,
	CR__RUN_IDLE,
	CR__RUN_FRAMETIME,
	CR__RUN_PARTIAL,
	CR__RUN_COORD,
	CR__RUN_BARRIER,
	CR__RUN_HELP,
	CR__RUN_NROWS
};

#define CR__RUN_GIVEN(o, row) ((o)->given & (1ull << (row)))

/* The most threads libuv's pool takes (its MAX_THREADPOOL_SIZE). */
#define CR__RUN_POOL_MAX 1024

/* What summary.json's "parameters" are made from. */
struct cr__run_report {
	const struct cr__run_opts *o;
	const struct cr_node_config *cfg;
	const cr_algorithm *algo;
	const struct cr_node_result *r;
};

struct cr_json;

/* run-opts.c: the table (CR__RUN_NROWS rows, then an empty one), and
 * what is read from it */
extern const struct cr__opt cr__run_rows[];
int cr__run_parse(int argc, char **argv, struct cr__run_opts *o);
const char *cr__run_opt_name(enum cr__run_row row);
void cr__run_override(const struct cr__run_opts *o, struct cr_experiment *e);

/* run-params.c: "parameters" of summary.json (report: a struct
 * cr__run_report), and the writers of the rows that need their own */
void cr__run_params_json(struct cr_json *j, const void *report);
void cr__run_json_algorithm(struct cr_json *j, const struct cr__opt *row,
			    const void *ctx);
void cr__run_json_mesh(struct cr_json *j, const struct cr__opt *row,
		       const void *ctx);
void cr__run_json_algo_threads(struct cr_json *j, const struct cr__opt *row,
			       const void *ctx);
void cr__run_json_workers(struct cr_json *j, const struct cr__opt *row,
			  const void *ctx);
void cr__run_json_queue(struct cr_json *j, const struct cr__opt *row,
			const void *ctx);
void cr__run_json_seed(struct cr_json *j, const struct cr__opt *row,
		       const void *ctx);
void cr__run_json_batch(struct cr_json *j, const struct cr__opt *row,
			const void *ctx);
void cr__run_json_spin(struct cr_json *j, const struct cr__opt *row,
		       const void *ctx);
void cr__run_json_scale(struct cr_json *j, const struct cr__opt *row,
			const void *ctx);
void cr__run_json_delay(struct cr_json *j, const struct cr__opt *row,
			const void *ctx);
void cr__run_json_params(struct cr_json *j, const struct cr__opt *row,
			 const void *ctx);

/* run-check.c */
int cr__run_check_base(const struct cr__run_opts *o, const cr_addr *base);
int cr__run_check_file_addrs(const struct cr__run_opts *o,
			     const struct cr_experiment *e);
int cr__run_check_scale(const struct cr__run_opts *o,
			const struct cr_experiment *e);

/* run-exec.c: the run directory's name and the start time; running */
void cr__run_dir(const struct cr__run_opts *o, const char *name, char *dir,
		 size_t dirlen, char *started, size_t slen);
int cr__run_execute(struct cr__run_opts *o, struct cr_node_config *cfg,
		    const cr_algorithm *algo, const char *outdir,
		    const char *started);

#endif
