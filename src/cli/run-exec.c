/* crystal run: running one experiment, made ready by run.c, in its run
 * directory: the node is created and started, supervised with a live
 * status line and a row of node.csv every second, and summary.json and
 * the closing words written when it ends.
 *
 * Signals: SIGINT and SIGTERM are blocked in every thread and taken here
 * with sigtimedwait, so a Ctrl-C ends the experiment cleanly and the
 * summary is still written, marked interrupted.
 */
#include "../core/log.h"
#include "../core/units.h"
#include "cli.h"
#include "coord.h"
#include "rundir.h"
#include "run.h"
#include "../metrics/summary.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* mkdir -p: 0, or -1 with errno set. */
static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -1;
	struct stat st;
	if (stat(buf, &st) || !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

static void status_line(cr_node *n, const struct cr__run_opts *o,
			const struct cr_node_csv *nc, double cpu_percent)
{
	int64_t now;
	uint64_t bytes, peers, alive;
	double cont;
	char rate[32], contin[32], fid[48];
	int64_t held = cr_node_live_held(n);

	cr_node_live(n, &now, &bytes, &peers);
	cr_node_live_stream(n, &alive, &cont);
	cr__human_rate(now > 0 ? (double)bytes / ((double)now / 1e9) : 0, rate,
		   sizeof(rate));
	if (cont >= 0)
		snprintf(contin, sizeof(contin), "  continuity %.3f", cont);
	else
		contin[0] = 0;
	if (cr_node_live_late_p99(n) <= CR__NODE_LATE_NS)
		snprintf(fid, sizeof(fid), "ok");
	else if (held > 0) /* other work had the cores meanwhile: how long */
		snprintf(fid, sizeof(fid), "LATE, held off %.0f ms",
			 (double)held / 1e6);
	else
		snprintf(fid, sizeof(fid), "LATE");
	(void)nc;
	fprintf(stderr,
		"\r%6.1f / %.1f s  peers %llu/%llu  sessions %zu  %s%s  "
		"CPU %.0f%%  fidelity %-24s",
		(double)now / 1e9, (double)o->duration_ns / 1e9,
		(unsigned long long)alive, (unsigned long long)peers,
		o->experiment ? o->experiment->nsessions : (size_t)1, rate,
		contin, cpu_percent, fid);
	fflush(stderr);
}

/* node.csv's row of second t: the workers publish their counters at
 * every whole second too, so the row waits for the last of them (up to
 * 100 ms: a worker that late has not kept up, and its counters are then
 * as of its previous publication). */
static void node_row(cr_node *n, struct cr_node_csv *nc, int64_t t)
{
	struct cr_node_csv_row r = {.t_ns = t};
	const struct timespec ms = {0, CR_MS};
	uint64_t peers;
	int64_t now;
	double cont;

	for (int i = 0; i < 100 && cr_node_live_since(n) < t; i++)
		nanosleep(&ms, NULL);
	cr_node_live(n, &now, &r.data_bytes_in, &peers);
	cr_node_live_stream(n, &r.peers_alive, &cont);
	r.cpu_s = cr_cpu_seconds();
	r.cpu_ns = cr_node_now(n);
	r.rss_bytes = cr_rss_bytes();
	cr_node_csv_sample(nc, &r);
}

/* Runs until the duration passes, the experiment stops itself, or a
 * signal arrives, sampling node.csv every second.  Returns the signal
 * number, or 0. */
static int supervise(cr_node *n, const struct cr__run_opts *o, bool live,
		     struct cr_node_csv *nc)
{
	sigset_t set;
	int64_t next_sample = CR_SEC;
	double cpu_percent = 0;

	cr__cli_stop_signals(&set); /* blocked already: the set to wait on */
	for (;;) {
		int64_t now = cr_node_now(n);
		int64_t left = o->duration_ns - now;
		int64_t wait = left < 250 * CR_MS ? left : 250 * CR_MS;
		struct timespec ts;
		int sig;

		if (now >= next_sample) {
			double cpu0 = nc->last_cpu_s;
			int64_t t0 = nc->last_cpu_ns;
			node_row(n, nc, next_sample);
			if (nc->last_cpu_ns > t0)
				cpu_percent =
					100 * (nc->last_cpu_s - cpu0) /
					((double)(nc->last_cpu_ns - t0) / 1e9);
			now = cr_node_now(n);
			next_sample = (now / CR_SEC + 1) * CR_SEC;
		}
		if (next_sample - now < wait)
			wait = next_sample - now;
		if (cr_node_wait(n, 0))
			return 0;
		if (wait < 0)
			wait = 0;
		ts.tv_sec = wait / CR_SEC;
		ts.tv_nsec = wait % CR_SEC;
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM) {
			cr_node_stop(n, true);
			if (o->coord) /* every other node stops too */
				cr__coord_stop(o->coord, sig);
			return sig;
		}
		if (live)
			status_line(n, o, nc, cpu_percent);
	}
}

/* command.txt and the input files, into the run directory. */
static int write_inputs(const struct cr__run_opts *o, const char *dir,
			char *err, size_t errlen)
{
	const struct cr_experiment *e = o->experiment;

	if (cr_rundir_command(dir, o->argc, o->argv, err, errlen) ||
	    cr_rundir_copy_input(dir, o->file, err, errlen) ||
	    cr_rundir_copy_input(dir, o->matrix_path, err, errlen))
		return -1;
	if (e && (cr_rundir_copy_input(dir, e->events_path, err, errlen) ||
		  cr_rundir_copy_input(dir, e->topology_path, err, errlen) ||
		  (!o->matrix_path &&
		   cr_rundir_copy_input(dir, e->matrix_path, err, errlen))))
		return -1;
	return 0;
}

/* The run directory (--out, or runs/NAME-UTC) and the start time. */
void cr__run_dir(const struct cr__run_opts *o, const char *name, char *dir,
		 size_t dirlen, char *started, size_t slen)
{
	time_t t0 = time(NULL);
	struct tm tm0;
	char stamp[32];

	gmtime_r(&t0, &tm0);
	strftime(started, slen, "%Y-%m-%dT%H:%M:%SZ", &tm0);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm0);
	/* every node of a run spanning hosts may share --out: its own
	 * directory there is named by its identity */
	if (o->out && o->coord)
		snprintf(dir, dirlen, "%s/%s", o->out,
			 cr__coord_identity(o->coord));
	else if (o->out)
		snprintf(dir, dirlen, "%s", o->out);
	else
		snprintf(dir, dirlen, "runs/%s-%s", name, stamp);
}

/* A run spanning hosts that did not start leaves its run directory with
 * its inputs and logs, no summary.json, and not-started.txt saying why. */
static void not_started(const char *outdir, const char *why)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/not-started.txt", outdir);
	f = fopen(path, "w");
	if (!f)
		return;
	fprintf(f, "%s\n", why);
	fclose(f);
}

/* The node, made and started in its run directory: 0, or the exit status
 * (said on stderr). */
static int start(struct cr__run_opts *o, struct cr_node_config *cfg,
		 const char *outdir, cr_node **node, struct cr_node_csv *nc)
{
	struct cr_node_fd_budget fds;
	char err[512];
	sigset_t set;

	cr_node_fd_budget(cfg, &fds);
	if (fds.needed > fds.available) {
		fprintf(stderr,
			"crystal run: the experiment needs %llu file descriptors "
			"but %llu are available (open-file limit %llu): run fewer "
			"peers, or spread them over several nodes\n",
			(unsigned long long)fds.needed,
			(unsigned long long)fds.available,
			(unsigned long long)fds.limit);
		return 2;
	}
	if (cr_node_create(cfg, node, err, sizeof(err))) {
		fprintf(stderr, "crystal run: %s\n", err);
		return 2;
	}
	if (o->coord)
		cr__coord_attach(o->coord, *node);
	if (mkdir_p(outdir)) {
		fprintf(stderr,
			"crystal run: the run directory %s cannot be made: %s "
			"(choose another with --out)\n",
			outdir, strerror(errno));
		return 2;
	}
	if (write_inputs(o, outdir, err, sizeof(err)) ||
	    cr_node_csv_open(nc, outdir, err, sizeof(err))) {
		fprintf(stderr, "crystal run: %s\n", err);
		return 2;
	}

	/* Signals go to supervise(), never to a worker. */
	cr__cli_stop_signals(&set);
	cr__log_install_crash_handler();

	if (cr_node_start(*node, err, sizeof(err))) {
		fprintf(stderr, "crystal run: %s\n", err);
		if (o->coord)
			not_started(outdir, err);
		return o->coord ? cr__coord_start_status(o->coord) : 1;
	}
	return 0;
}

/* node.csv's last row: the counters as the workers ended, at the end's
 * time; the CPU until then (in last), not the closing. */
static void last_row(cr_node *node, struct cr_node_csv *nc,
		     struct cr_node_csv_row *last, const char *outdir,
		     int64_t elapsed_ns)
{
	uint64_t peers;
	int64_t now;
	double cont;

	last->t_ns = elapsed_ns;
	cr_node_live(node, &now, &last->data_bytes_in, &peers);
	cr_node_live_stream(node, &last->peers_alive, &cont);
	cr_node_csv_final(nc, last);
	if (cr_node_csv_close(nc))
		fprintf(stderr, "crystal run: cannot write %s/node.csv: %s\n",
			outdir, strerror(errno));
	if (cr_node_metrics_error(node))
		fprintf(stderr, "crystal run: %s\n",
			cr_node_metrics_error(node));
}

/* What a person should know of a run that ended: fidelity, limits hit,
 * nodes of the run lost. */
static void warnings(const struct cr_node_result *res)
{
	uint64_t hits = 0;

	for (size_t i = 0; res->hosts && i < res->hosts->nlost; i++)
		fprintf(stderr,
			"crystal run: warning: node %s (host %s) was lost at "
			"%.3f s\n",
			res->hosts->lost[i].node, res->hosts->lost[i].host,
			(double)res->hosts->lost[i].at_ns / 1e9);
	if (res->degraded)
		fprintf(stderr,
			"crystal run: warning: emulation fidelity degraded: %s "
			"(the machine did not keep up; see summary.json)%s%s\n",
			res->degraded_reason, res->degraded_cause[0] ? ": " : "",
			res->degraded_cause);
	for (int k = 0; k < CR_RESULT_LIMIT_N; k++)
		hits += res->limit_hits[k];
	if (hits)
		fprintf(stderr,
			"crystal run: warning: the limits on what a "
			"remote may hold refused or closed %llu "
			"connections (see \"limits\" in summary.json, "
			"and the worker logs)\n",
			(unsigned long long)hits);
}

/* The results in brief, on stdout. */
static void closing_words(const cr_algorithm *algo,
			  const struct cr_node_result *res, const char *outdir)
{
	char cum[32], per[32], tail[32];

	cr__human_rate(res->cumulative_rate_Bps, cum, sizeof(cum));
	cr__human_rate(res->per_peer_rate_Bps, per, sizeof(per));
	cr__human_rate(res->tail_rate_Bps, tail, sizeof(tail));
	printf("%s: %llu peers, %.2f s%s\n"
	       "  cumulative rate %s, per peer %s, tails %s\n"
	       "  %llu messages switched, %llu bad frames\n"
	       "  results in %s/summary.json\n",
	       algo->name, (unsigned long long)res->peers,
	       (double)res->elapsed_ns / 1e9,
	       res->interrupted ? " (interrupted)" : "", cum, per, tail,
	       (unsigned long long)res->messages_switched,
	       (unsigned long long)res->bad_frames, outdir);
}

/* summary.json, its "parameters" from the option table (run-params.c). */
static int summarize(const struct cr__run_opts *o,
		     const struct cr_node_config *cfg, const cr_algorithm *algo,
		     const struct cr_node_result *res, const char *outdir,
		     const char *started, double cpu_s)
{
	struct cr__run_report rep = {o, cfg, algo, res};
	struct cr__summary s = {
		.r = res,
		.experiment_file = o->file,
		.started_utc = started,
		.cpu_s = cpu_s,
		.events_skipped = o->events_skipped,
		.one_delay = !o->file,
		.access_delay_ns = o->lim.access_delay_ns,
		.params = cr__run_params_json,
		.params_ctx = &rep,
	};

	return cr__summary_write(outdir, &s);
}

/* The size of the pool that runs algorithms' work (cr_work_submit): the
 * option, else the experiment file's algorithm_threads, else what the
 * environment's UV_THREADPOOL_SIZE says, else one per core.  The pool is
 * libuv's, one per process, sized from UV_THREADPOOL_SIZE as it starts,
 * on the first work of the run: so it is set here, before any node. */
static void pool_size(struct cr__run_opts *o)
{
	const char *env = getenv("UV_THREADPOOL_SIZE");
	uint64_t n = 0;
	char v[24];

	if (CR__RUN_GIVEN(o, CR__RUN_ALGO_THREADS))
		n = o->algorithm_threads;
	else if (o->experiment && o->experiment->algorithm_threads > 0)
		n = (uint64_t)o->experiment->algorithm_threads;
	else if (!env || cr_parse_uint(env, CR__RUN_POOL_MAX, &n) || !n)
		n = (uint64_t)sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > CR__RUN_POOL_MAX)
		n = CR__RUN_POOL_MAX;
	o->algorithm_threads = n;
	snprintf(v, sizeof(v), "%llu", (unsigned long long)n);
	setenv("UV_THREADPOOL_SIZE", v, 1);
}

/* Checks the descriptor budget, runs the node, writes the summary; the exit
 * status. */
int cr__run_execute(struct cr__run_opts *o, struct cr_node_config *cfg,
		    const cr_algorithm *algo, const char *outdir,
		    const char *started)
{
	struct cr_node_result res;
	struct cr_result_hosts hosts;
	cr_node *node = NULL;
	struct cr_node_csv nc = {0};
	struct cr_node_csv_row last = {0};
	bool live;
	double cpu0, cpu1;
	int rc, sig;

	pool_size(o);
	cfg->log_dir = outdir;
	cfg->log_level = o->log_level;
	cfg->metrics_dir = outdir;
	cfg->trace = o->trace;
	cfg->ntrace = o->ntrace;
	cfg->playout = o->playout;
	cfg->nplayout = o->nplayout;
	rc = start(o, cfg, outdir, &node, &nc);
	if (rc)
		goto out;
	live = !o->quiet && isatty(2);
	/* CPU of the experiment itself: from its start to its end, without
	 * setting up sockets before or closing them after */
	cpu0 = cr_cpu_seconds();
	cr_node_csv_start(&nc, cr_node_now(node));
	sig = supervise(node, o, live, &nc);
	cpu1 = cr_cpu_seconds();
	last.cpu_s = cpu1;
	last.cpu_ns = cr_node_now(node);
	last.rss_bytes = cr_rss_bytes();
	cr_node_join(node);
	if (live)
		fputc('\n', stderr);
	cr_node_result(node, &res);
	if (o->coord) {
		/* the run spanning hosts, and this node's clock in it */
		cr__coord_close(o->coord, &hosts);
		res.hosts = &hosts;
		cr_fidelity_judge(&res);
		if (!sig && cr__coord_stopped_by(o->coord))
			sig = cr__coord_stopped_by(o->coord);
	}
	last_row(node, &nc, &last, outdir, res.elapsed_ns);
	if (summarize(o, cfg, algo, &res, outdir, started, cpu1 - cpu0)) {
		rc = 1;
		goto out;
	}
	warnings(&res);
	if (!o->quiet)
		closing_words(algo, &res, outdir);
	rc = sig ? 128 + sig : 0;
out:
	if (o->coord) /* it may tell the node of a loss until then */
		cr__coord_close(o->coord, NULL);
	cr_node_destroy(node);
	return rc;
}
