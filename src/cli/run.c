/* crystal run: builds the experiment from options, checks that it fits,
 * runs it (run-exec.c) and writes the run directory.
 *
 * Three experiments: the built-in chains, made here from the options; the
 * built-in mesh, made as an experiment (src/scenario/mesh.c) and planned
 * as a file is; or an experiment file, over whose values the options that
 * replace a key are laid (run-opts.c).
 */
#include "../builtins/registry.h"
#include "../scenario/chains.h"
#include "../scenario/matrix.h"
#include "../scenario/mesh.h"
#include "../scenario/plan.h"
#include "cli.h"
#include "coord.h"
#include "run.h"

#include <stdlib.h>
#include <string.h>

/* Reads the experiment file and builds its plan; 0 or exit status 2. */
static int from_file(struct cr__run_opts *o, struct cr_experiment *e,
		     struct cr_plan *pl, const cr_algorithm **algo)
{
	char err[1024];

	if (cr_experiment_load(o->file, e, err, sizeof(err))) {
		fprintf(stderr, "crystal run: %s\n", err);
		return 2;
	}
	if (cr__run_check_scale(o, e))
		return 2;
	if ((o->tracker_per_peer || o->tracker_per_session) &&
	    (e->tracker.mode != CR_TRACKER_INPROC || e->topology_path[0])) {
		enum cr__run_row row = o->tracker_per_peer
					       ? CR__RUN_TRK_PER_PEER
					       : CR__RUN_TRK_PER_SESSION;
		fprintf(stderr,
			"crystal run: %s applies to a tracker in this node, and "
			"%s has none%s\n",
			cr__run_opt_name(row), o->file,
			e->tracker.mode == CR_TRACKER_EXTERNAL
				? ": give it to crystal tracker, or set it in "
				  "the file's [tracker]"
				: "");
		return 2;
	}
	cr__run_override(o, e);
	if (e->warmup_ns >= e->duration_ns &&
	    CR__RUN_GIVEN(o, CR__RUN_DURATION) &&
	    !CR__RUN_GIVEN(o, CR__RUN_WARMUP)) {
		fprintf(stderr,
			"crystal run: --duration %g s is not longer than the "
			"warm-up of %s (%g s): give a shorter --warmup with "
			"it, such as --warmup 0\n",
			(double)e->duration_ns / 1e9, o->file,
			(double)e->warmup_ns / 1e9);
		return 2;
	}
	if (e->warmup_ns >= e->duration_ns) {
		fprintf(stderr,
			"crystal run: the warm-up (%.3f s) must be "
			"shorter than the duration (%.3f s)\n",
			(double)e->warmup_ns / 1e9,
			(double)e->duration_ns / 1e9);
		return 2;
	}
	*algo = cr__algorithm_find(CR__RUN_GIVEN(o, CR__RUN_ALGO) ? o->algorithm
				   : e->algorithm[0]	? e->algorithm
							: "relay",
				   err, sizeof(err));
	if (!*algo) {
		if (CR__RUN_GIVEN(o, CR__RUN_ALGO))
			fprintf(stderr, "crystal run: --algorithm %s\n", err);
		else
			fprintf(stderr, "crystal run: %s: algorithm %s\n",
				o->file, err);
		return 2;
	}
	if (cr_plan_build(pl, e, *algo, o->params, o->nparams, err,
			  sizeof(err))) {
		fprintf(stderr, "crystal run: %s\n", err);
		return 2;
	}
	if (pl->events_skipped) {
		o->events_skipped = pl->events_skipped;
		fprintf(stderr,
			"crystal run: %s: %zu event%s after the end of the "
			"run (%g s) not run, from line %u (%g s)\n",
			e->events_path, pl->events_skipped,
			pl->events_skipped == 1 ? "" : "s",
			(double)e->duration_ns / 1e9, pl->skipped_line,
			(double)pl->skipped_ns / 1e9);
	}
	/* the summary reports what ran */
	o->duration_ns = e->duration_ns;
	o->warmup_ns = e->warmup_ns;
	o->batch_ns = e->batch_ns;
	o->seed = e->seed;
	return 0;
}

/* A run spanning hosts: the coordinator's address (--coordinator over
 * the file's), and the control thread started, with the signals it must
 * leave to the main thread blocked first; the node's start waits for the
 * run's (cr__coord_start_at).  0, or exit status 2. */
static int span_hosts(struct cr__run_opts *o, struct cr_experiment *e,
		      struct cr_node_config *cfg)
{
	char err[1024];
	sigset_t set;

	if (CR__RUN_GIVEN(o, CR__RUN_COORD)) {
		if (cr_experiment_coordinator_check(e, &o->coordinator, err,
						    sizeof(err))) {
			fprintf(stderr, "crystal run: --coordinator: %s\n",
				err);
			return 2;
		}
		e->coordinator = o->coordinator;
	} else if (!e->coordinator_given &&
		   cr_experiment_coordinator_check(e, &e->coordinator, err,
						   sizeof(err))) {
		fprintf(stderr,
			"crystal run: %s: %s (the default: the first peer's IP "
			"at port %d); set [experiment] coordinator = IP:PORT, "
			"or give --coordinator\n",
			o->file, err, CR_COORD_PORT);
		return 2;
	}
	cr__cli_stop_signals(&set);
	if (cr__coord_open(&o->coord, cfg, &e->coordinator,
			   o->barrier_timeout_ns, err, sizeof(err))) {
		fprintf(stderr, "crystal run: %s\n", err);
		cr__coord_free(o->coord);
		o->coord = NULL;
		return 2;
	}
	cfg->start_at = cr__coord_start_at;
	cfg->start_ctx = o->coord;
	return 0;
}

static int run_file(struct cr__run_opts *o)
{
	struct cr_experiment e;
	struct cr_plan pl;
	const cr_algorithm *algo;
	char outdir[4096], started[32];
	int rc;

	rc = from_file(o, &e, &pl, &algo);
	if (!rc && (rc = cr__run_check_file_addrs(o, &e)))
		cr_plan_free(&pl);
	if (!rc && cr__coord_needed(&pl.cfg) &&
	    (rc = span_hosts(o, &e, &pl.cfg)))
		cr_plan_free(&pl);
	if (rc) {
		cr_experiment_free(&e);
		return rc;
	}
	o->experiment = &e;
	pl.cfg.busy_poll = o->busy_poll; /* a property of the machine's use */
	pl.cfg.spin_budget = o->spin_budget;
	cr__run_dir(o, e.name, outdir, sizeof(outdir), started,
		    sizeof(started));
	rc = cr__run_execute(o, &pl.cfg, algo, outdir, started);
	cr__coord_free(o->coord);
	o->coord = NULL;
	cr_plan_free(&pl);
	cr_experiment_free(&e);
	return rc;
}

/* The built-in mesh: the experiment made from the options, then planned
 * as an experiment file is (src/scenario/mesh.c). */
static int run_mesh(struct cr__run_opts *o, const cr_algorithm *algo,
		    const cr_addr *base, const char *ipport)
{
	struct cr_experiment e;
	struct cr_plan pl;
	char err[1024], outdir[4096], started[32], idtext[256];
	int rc;

	if (cr_mesh_build(&e, base, o->peers, err, sizeof(err))) {
		fprintf(stderr, "crystal run: %s\n", err);
		return 2;
	}
	e.duration_ns = o->duration_ns;
	e.warmup_ns = o->warmup_ns;
	e.batch_ns = o->batch_ns;
	e.seed = o->seed ? o->seed : 1;
	e.workers = (int)o->workers;
	e.queue_limit = o->queue_limit;
	e.max_message = (uint32_t)o->max_msg;
	if (o->tracker_per_peer)
		e.tracker.max_sessions_per_peer = (uint32_t)o->tracker_per_peer;
	if (o->tracker_per_session)
		e.tracker.max_peers_per_session =
			(uint32_t)o->tracker_per_session;
	e.max_connections = (uint32_t)o->max_conns;
	e.idle_timeout_ns = o->idle_timeout_ns;
	e.frame_timeout_ns = o->frame_timeout_ns;
	e.partial_limit = o->partial_limit;
	e.sessions[0].rate_Bps = o->rate_Bps;
	e.sessions[0].message_size = (uint32_t)o->msg_size;
	for (size_t i = 0; i < e.nclasses; i++)
		e.classes[i].limits = o->lim;
	if (o->source_upload_Bps)
		e.classes[0].limits.upload_Bps = o->source_upload_Bps;
	if (o->matrix_path)
		snprintf(e.matrix_path, sizeof(e.matrix_path), "%s",
			 o->matrix_path);
	if (cr_plan_build(&pl, &e, algo, o->params, o->nparams, err,
			  sizeof(err))) {
		fprintf(stderr, "crystal run: %s\n", err);
		cr_experiment_free(&e);
		return 2;
	}
	pl.sources[0].count = o->count;
	/* the hello names the experiment, as for the chains */
	snprintf(idtext, sizeof(idtext), "mesh %s %llu %llu", ipport,
		 (unsigned long long)o->peers, (unsigned long long)e.seed);
	pl.cfg.exp_id = cr_node_experiment_id(idtext);
	pl.cfg.busy_poll = o->busy_poll;
	pl.cfg.spin_budget = o->spin_budget;
	o->experiment = &e;
	cr__run_dir(o, "mesh", outdir, sizeof(outdir), started,
		    sizeof(started));
	rc = cr__run_execute(o, &pl.cfg, algo, outdir, started);
	o->experiment = NULL;
	cr_plan_free(&pl);
	cr_experiment_free(&e);
	return rc;
}

/* The node's configuration of the built-in chains, from the options. */
static void chains_config(const struct cr__run_opts *o,
			  const cr_algorithm *algo, const char *ipport,
			  const struct cr_chains *chains,
			  struct cr_node_config *cfg)
{
	char idtext[256];

	cfg->name = "chains";
	/* The hello names the experiment: runs that differ in what they are
	 * never take each other's connections. */
	snprintf(idtext, sizeof(idtext), "chains %s %llu %llu %llu", ipport,
		 (unsigned long long)o->peers, (unsigned long long)o->chain_len,
		 (unsigned long long)(o->seed ? o->seed : 1));
	cfg->exp_id = cr_node_experiment_id(idtext);
	cfg->duration_ns = o->duration_ns;
	cfg->workers = (int)o->workers;
	cfg->algo = algo;
	cfg->params = o->params;
	cfg->nparams = o->nparams;
	cfg->peers = chains->peers;
	cfg->npeers = chains->npeers;
	cfg->max_msg_bytes = (uint32_t)o->max_msg;
	cfg->queue_limit = o->queue_limit;
	cfg->max_conns = (uint32_t)o->max_conns;
	cfg->idle_timeout_ns = o->idle_timeout_ns;
	cfg->frame_timeout_ns = o->frame_timeout_ns;
	cfg->partial_limit = o->partial_limit;
	cfg->seed = o->seed ? o->seed : 1;
	cfg->warmup_ns = o->warmup_ns;
	cfg->batch_ns = o->batch_ns;
	cfg->busy_poll = o->busy_poll;
	cfg->spin_budget = o->spin_budget;
	cfg->limits = o->lim;
}

/* The built-in chains: a source and chains of relaying peers. */
static int run_chains(struct cr__run_opts *o, const cr_algorithm *algo,
		      const cr_addr *base, const char *ipport)
{
	struct cr_node_config cfg = {0};
	struct cr__source_cfg src = {0};
	struct cr_chains chains;
	struct cr_latency *matrix = NULL;
	cr_link_limits source_lim;
	char err[512], outdir[4096], started[32];
	int rc;

	if (cr_chains_build(&chains, base, o->peers, o->chain_len, err,
			    sizeof(err))) {
		fprintf(stderr, "crystal run: %s\n", err);
		return 2;
	}

	cr__run_dir(o, "chains", outdir, sizeof(outdir), started,
		    sizeof(started));

	src.peer_index = 0;
	src.session = 1;
	src.msg_size = (uint32_t)o->msg_size;
	src.rate_Bps = o->rate_Bps;
	src.count = o->count;

	chains_config(o, algo, ipport, &chains, &cfg);
	cfg.sources = &src;
	cfg.nsources = 1;
	if (o->source_upload_Bps) {
		source_lim = o->lim;
		source_lim.upload_Bps = o->source_upload_Bps;
		chains.peers[0].limits = &source_lim;
	}
	if (o->matrix_path &&
	    cr_matrix_load(o->matrix_path, &matrix, &cfg.nmatrix, err,
			   sizeof(err))) {
		fprintf(stderr, "crystal run: --latency-matrix %s\n", err);
		cr_chains_free(&chains);
		return 2;
	}
	cfg.matrix = matrix;

	rc = cr__run_execute(o, &cfg, algo, outdir, started);
	cr_chains_free(&chains);
	free(matrix);
	return rc;
}

static int run_cmd(int argc, char **argv, char **typed)
{
	struct cr__run_opts o;
	const cr_algorithm *algo;
	cr_addr base;
	char err[512], ipport[128];
	int rc;

	rc = cr__run_parse(argc, argv, &o);
	if (rc)
		return rc;
	o.argv = typed;
	if (o.file)
		return run_file(&o);
	algo = cr__algorithm_find(o.algorithm, err, sizeof(err));
	if (!algo) {
		fprintf(stderr, "crystal run: --algorithm %s\n", err);
		return 2;
	}
	snprintf(ipport, sizeof(ipport), "%s%s%s:%llu",
		 strchr(o.ip, ':') ? "[" : "", o.ip,
		 strchr(o.ip, ':') ? "]" : "",
		 (unsigned long long)o.base_port);
	if (cr_addr_parse(&base, ipport)) {
		fprintf(stderr,
			"crystal run: --ip '%s': expected an IPv4 or IPv6 "
			"address such as 127.0.0.1 or ::1\n",
			o.ip);
		return 2;
	}
	if (cr__run_check_base(&o, &base))
		return 2;
	if (o.mesh)
		return run_mesh(&o, algo, &base, ipport);
	return run_chains(&o, algo, &base, ipport);
}

/* A copy of the command line in one block (free() it), or NULL. */
static char **argv_copy(int argc, char **argv)
{
	size_t len = 0;
	char **v, *s;

	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	v = malloc((size_t)(argc + 1) * sizeof(*v) + len);
	if (!v)
		return NULL;
	s = (char *)(v + argc + 1);
	for (int i = 0; i < argc; i++) {
		v[i] = s;
		s = stpcpy(s, argv[i]) + 1;
	}
	v[argc] = NULL;
	return v;
}

int cr_cli_run(int argc, char **argv)
{
	/* command.txt has the command line as it was typed: getopt reorders
	 * argv, and -D and --play-out cut their values at the '=' */
	char **typed = argv_copy(argc, argv);
	int rc;

	if (!typed) {
		fprintf(stderr, "crystal run: out of memory\n");
		return 1;
	}
	rc = run_cmd(argc, argv, typed);
	free(typed);
	return rc;
}
