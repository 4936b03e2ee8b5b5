/* crystal tracker: the tracker of an experiment, on its own.
 *
 * For experiments whose [tracker] says `mode = external`: the peers, on one
 * or many nodes, register with this process over TCP.  It reads the same
 * experiment file (the hello must name the same experiment), listens at
 * the file's tracker address (or --address), and runs until the
 * experiment's duration has passed (or --duration, or Ctrl-C).
 */
#include "../builtins/registry.h"
#include "../core/units.h"
#include "../engine/node.h"
#include "../scenario/experiment.h"
#include "cli.h"
#include "opt.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <signal.h>
#include <string.h>
#include <time.h>

struct tracker_opts {
	const char *addr;
	int64_t duration_ns;
	uint64_t seed, per_peer, per_session;
};

#define OPT(m) .off = offsetof(struct tracker_opts, m)

static const struct cr__opt rows[] = {
	{"address", 0, CR__OPT_STR, OPT(addr), .arg = "IP:PORT",
	 .help = "listen here instead of the file's tracker address"},
	{"duration", 0, CR__OPT_TIME, OPT(duration_ns), 1, 0, CR_TIME_FORMS,
	 .arg = "TIME",
	 .help = "stop after this long (default: the experiment's\n"
		 "duration plus 10 s)"},
	{"seed", 0, CR__OPT_UINT, OPT(seed), 0, UINT64_MAX, "a whole number",
	 .arg = "N", .help = "as given to `crystal run --seed`, if it was"},
	{"max-sessions-per-peer", 0, CR__OPT_UINT, OPT(per_peer), 1, 65536,
	 "a whole number from 1 to 65536", .arg = "N",
	 .help = "sessions one peer address may register\n"
		 "in, 1 to 65536; a REGISTER past it is refused\n"
		 "(default: the file's [tracker] key, else 16)"},
	{"max-peers-per-session", 0, CR__OPT_UINT, OPT(per_session), 1,
	 UINT32_MAX, "a whole number from 1 to 4294967295", .arg = "N",
	 .help = "peers one session may hold, from 1; a\n"
		 "REGISTER past it is refused (default: the\n"
		 "file's [tracker] key, else 65536)"},
	{.name = "help", .short_name = 'h', .kind = CR__OPT_HELP},
	{0},
};

static const struct cr__cmd tracker_cmd = {
	.name = "crystal tracker",
	.opts = rows,
	.help_col = 22,
	.usage_on_error = true,
	.head = "usage: crystal tracker EXPERIMENT.ini [options]\n"
		"\n"
		"Runs the tracker of an experiment whose [tracker] mode is "
		"external.\n"
		"\n",
	.tail = "\n"
		"Warnings go to stderr, and the tracker's counts when it ends.\n",
};

/* The address to listen at, the file's or --address, and one this host
 * has; 0 or exit status 2. */
static int listen_addr(const struct tracker_opts *o, const char *file,
		       const struct cr_experiment *e, cr_addr *addr)
{
	char buf[CR_ADDR_STRLEN];
	int bad;

	*addr = e->tracker.addr;
	if (o->addr && cr_addr_parse(addr, o->addr)) {
		fprintf(stderr,
			"crystal tracker: --address '%s': expected IP:PORT\n",
			o->addr);
		return 2;
	}
	if (!addr->family) {
		fprintf(stderr,
			"crystal tracker: %s has no tracker address: give "
			"[tracker] address, or --address\n",
			file);
		return 2;
	}
	if (!(bad = cr__addr_bindable(addr)))
		return 0;
	fprintf(stderr,
		"crystal tracker: %s %s: %s; expected an address of "
		"this host\n",
		o->addr ? "--address" : "the file's tracker address",
		cr_addr_format(addr, buf, sizeof(buf)),
		bad == EADDRNOTAVAIL ? "no interface of this host has it"
		: bad == EAFNOSUPPORT
		    ? "this host has no IPv6"
		    : "this user may not bind its port (below 1024 "
		      "it takes root or CAP_NET_BIND_SERVICE)");
	return 2;
}

/* A node of one peer, the tracker, for the experiment. */
static void tracker_config(const struct tracker_opts *o,
			   const struct cr_experiment *e,
			   struct cr_node_peer *peer,
			   struct cr_node_config *cfg, char *idtext,
			   size_t idlen)
{
	char err[1024];

	peer->is_tracker = true;
	snprintf(idtext, idlen, "experiment %s %llu", e->name,
		 (unsigned long long)e->seed);
	cfg->name = e->name;
	cfg->exp_id = cr_node_experiment_id(idtext);
	cfg->duration_ns =
		o->duration_ns ? o->duration_ns : e->duration_ns + 10 * CR_SEC;
	cfg->workers = 1;
	cfg->algo = cr__algorithm_find("relay", err, sizeof(err));
	cfg->peers = peer;
	cfg->npeers = 1;
	cfg->seed = e->seed;
	cfg->log_level = CR_LOG_INFO;
	cfg->log_dir = NULL;
	cfg->tracker.enabled = false;
	cfg->tracker.addr = peer->addr;
	cfg->tracker.reply_peers = e->tracker.reply_peers;
	cfg->tracker.probe = e->tracker.liveness == CR_LIVENESS_PROBE;
	cfg->tracker.interval_ns = e->tracker.interval_ns;
	cfg->tracker.timeout_ns = e->tracker.timeout_ns;
	cfg->tracker.max_sessions_per_peer =
		o->per_peer ? (uint32_t)o->per_peer
			    : e->tracker.max_sessions_per_peer;
	cfg->tracker.max_peers_per_session =
		o->per_session ? (uint32_t)o->per_session
			       : e->tracker.max_peers_per_session;
}

/* Until the duration passes or a signal comes: 0, 130 or 143. */
static int wait_end(cr_node *n, sigset_t *set)
{
	for (;;) {
		struct timespec ts = {0, 250 * 1000 * 1000};
		int sig;
		if (cr_node_wait(n, 0))
			return 0;
		sig = sigtimedwait(set, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM) {
			cr_node_stop(n, true);
			return sig == SIGINT ? 130 : 143;
		}
	}
}

static void counts(const struct cr_node_config *cfg,
		   const struct cr_node_result *r)
{
	fprintf(stderr,
		"crystal tracker: %llu registrations, %llu queries, %llu "
		"replies, %llu timed out, %llu departed; refused: %llu past "
		"max_sessions_per_peer (%u), %llu past max_peers_per_session "
		"(%u)\n",
		(unsigned long long)r->tracker.registrations,
		(unsigned long long)r->tracker.queries,
		(unsigned long long)r->tracker.replies,
		(unsigned long long)r->tracker.timed_out,
		(unsigned long long)r->tracker.departed,
		(unsigned long long)r->tracker.refused_sessions_per_peer,
		cfg->tracker.max_sessions_per_peer,
		(unsigned long long)r->tracker.refused_peers_per_session,
		cfg->tracker.max_peers_per_session);
}

/* Runs the tracker of the experiment e; the exit status. */
static int run(const struct tracker_opts *o, const char *file,
	       struct cr_experiment *e)
{
	struct cr_node_config cfg = {0};
	struct cr_node_peer peer = {0};
	struct cr_node_result r;
	char err[1024], idtext[512];
	cr_node *n = NULL;
	sigset_t set;
	int rc;

	rc = listen_addr(o, file, e, &peer.addr);
	if (rc)
		return rc;
	if (o->seed)
		e->seed = o->seed; /* the experiment's id depends on it */
	tracker_config(o, e, &peer, &cfg, idtext, sizeof(idtext));
	if (cr_node_create(&cfg, &n, err, sizeof(err))) {
		fprintf(stderr, "crystal tracker: %s\n", err);
		return 2;
	}
	cr__cli_stop_signals(&set);
	if (cr_node_start(n, err, sizeof(err))) {
		fprintf(stderr, "crystal tracker: %s\n", err);
		rc = 1;
		goto out;
	}
	fprintf(stderr, "crystal tracker: experiment %s, listening at %s\n",
		e->name, o->addr ? o->addr : "the file's tracker address");
	rc = wait_end(n, &set);
	cr_node_join(n);
	cr_node_result(n, &r);
	counts(&cfg, &r);
out:
	cr_node_destroy(n);
	return rc;
}

int cr_cli_tracker(int argc, char **argv)
{
	struct tracker_opts o = {0};
	struct cr_experiment e;
	char err[1024];
	uint64_t given;
	int rc;

	rc = cr__opt_parse(&tracker_cmd, argc, argv, &o, &given);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (optind != argc - 1) {
		cr__opt_usage(&tracker_cmd, stderr);
		return 2;
	}
	if (cr_experiment_load(argv[optind], &e, err, sizeof(err))) {
		fprintf(stderr, "crystal tracker: %s\n", err);
		return 2;
	}
	rc = run(&o, argv[optind], &e);
	cr_experiment_free(&e);
	return rc;
}
