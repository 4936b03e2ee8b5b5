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
#include "../node.h"
#include "../scenario/experiment.h"
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
	fputs("usage: crystal tracker EXPERIMENT.ini [options]\n"
	      "\n"
	      "Runs the tracker of an experiment whose [tracker] mode is external.\n"
	      "\n"
	      "  --address IP:PORT   listen here instead of the file's tracker address\n"
	      "  --duration TIME     stop after this long (default: the experiment's\n"
	      "                      duration plus 10 s)\n"
	      "  --seed N            as given to `crystal run --seed`, if it was\n"
	      "  --max-sessions-per-peer N  sessions one peer address may register\n"
	      "                      in, 1 to 65536; a REGISTER past it is refused\n"
	      "                      (default: the file's [tracker] key, else 16)\n"
	      "  --max-peers-per-session N  peers one session may hold, from 1; a\n"
	      "                      REGISTER past it is refused (default: the\n"
	      "                      file's [tracker] key, else 65536)\n"
	      "\n"
	      "Warnings go to stderr, and the tracker's counts when it ends.\n",
	      f);
}

int cr_cli_tracker(int argc, char **argv)
{
	static const struct option opts[] = {
		{"address", required_argument, NULL, 'a'},
		{"duration", required_argument, NULL, 'd'},
		{"seed", required_argument, NULL, 's'},
		{"max-sessions-per-peer", required_argument, NULL, 'S'},
		{"max-peers-per-session", required_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct cr_experiment e;
	struct cr_node_config cfg = {0};
	struct cr_node_peer peer = {0};
	const cr_algorithm *algo;
	const char *addr = NULL;
	int64_t duration = 0;
	uint64_t seed = 0, per_peer = 0, per_session = 0;
	struct cr_node_result r;
	char err[1024], idtext[512];
	cr_node *n = NULL;
	sigset_t set;
	int c, bad, rc = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			addr = optarg;
			break;
		case 'd':
			if (cr_parse_time(optarg, CR_SEC, &duration) ||
			    duration <= 0) {
				fprintf(stderr,
					"crystal tracker: --duration '%s': "
					"expected %s\n",
					optarg, CR_TIME_FORMS);
				return 2;
			}
			break;
		case 's':
			if (cr_parse_uint(optarg, UINT64_MAX, &seed)) {
				fprintf(stderr,
					"crystal tracker: --seed '%s': expected "
					"a whole number\n",
					optarg);
				return 2;
			}
			break;
		case 'S':
			if (cr_parse_uint(optarg, 65536, &per_peer) ||
			    !per_peer) {
				fprintf(stderr,
					"crystal tracker: --max-sessions-per-peer "
					"'%s': expected a whole number from 1 to "
					"65536\n",
					optarg);
				return 2;
			}
			break;
		case 'P':
			if (cr_parse_uint(optarg, UINT32_MAX, &per_session) ||
			    !per_session) {
				fprintf(stderr,
					"crystal tracker: --max-peers-per-session "
					"'%s': expected a whole number from 1 to "
					"4294967295\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "crystal tracker: bad option '%s'\n\n",
				argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	if (cr_experiment_load(argv[optind], &e, err, sizeof(err))) {
		fprintf(stderr, "crystal tracker: %s\n", err);
		return 2;
	}
	peer.addr = e.tracker.addr;
	if (addr && cr_addr_parse(&peer.addr, addr)) {
		fprintf(stderr,
			"crystal tracker: --address '%s': expected IP:PORT\n",
			addr);
		rc = 2;
		goto out;
	}
	if (!peer.addr.family) {
		fprintf(stderr,
			"crystal tracker: %s has no tracker address: give "
			"[tracker] address, or --address\n",
			argv[optind]);
		rc = 2;
		goto out;
	}
	if ((bad = cr__addr_bindable(&peer.addr))) {
		char buf[CR_ADDR_STRLEN];

		fprintf(stderr,
			"crystal tracker: %s %s: %s; expected an address of "
			"this host\n",
			addr ? "--address" : "the file's tracker address",
			cr_addr_format(&peer.addr, buf, sizeof(buf)),
			bad == EADDRNOTAVAIL ? "no interface of this host has it"
			: bad == EAFNOSUPPORT
			    ? "this host has no IPv6"
			    : "this user may not bind its port (below 1024 "
			      "it takes root or CAP_NET_BIND_SERVICE)");
		rc = 2;
		goto out;
	}
	peer.is_tracker = true;
	if (seed)
		e.seed = seed; /* the experiment's id depends on it */
	algo = cr__algorithm_find("relay", err, sizeof(err));
	snprintf(idtext, sizeof(idtext), "experiment %s %llu", e.name,
		 (unsigned long long)e.seed);
	cfg.name = e.name;
	cfg.exp_id = cr_node_experiment_id(idtext);
	cfg.duration_ns = duration ? duration : e.duration_ns + 10 * CR_SEC;
	cfg.workers = 1;
	cfg.algo = algo;
	cfg.peers = &peer;
	cfg.npeers = 1;
	cfg.seed = e.seed;
	cfg.log_level = CR_LOG_INFO;
	cfg.log_dir = NULL;
	cfg.tracker.enabled = false;
	cfg.tracker.addr = peer.addr;
	cfg.tracker.reply_peers = e.tracker.reply_peers;
	cfg.tracker.probe = e.tracker.liveness == CR_LIVENESS_PROBE;
	cfg.tracker.interval_ns = e.tracker.interval_ns;
	cfg.tracker.timeout_ns = e.tracker.timeout_ns;
	cfg.tracker.max_sessions_per_peer =
		per_peer ? (uint32_t)per_peer : e.tracker.max_sessions_per_peer;
	cfg.tracker.max_peers_per_session =
		per_session ? (uint32_t)per_session
			    : e.tracker.max_peers_per_session;
	if (cr_node_create(&cfg, &n, err, sizeof(err))) {
		fprintf(stderr, "crystal tracker: %s\n", err);
		rc = 2;
		goto out;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (cr_node_start(n, err, sizeof(err))) {
		fprintf(stderr, "crystal tracker: %s\n", err);
		rc = 1;
		goto out;
	}
	fprintf(stderr, "crystal tracker: experiment %s, listening at %s\n",
		e.name, addr ? addr : "the file's tracker address");
	for (;;) {
		struct timespec ts = {0, 250 * 1000 * 1000};
		int sig;
		if (cr_node_wait(n, 0))
			break;
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGINT || sig == SIGTERM) {
			cr_node_stop(n, true);
			rc = sig == SIGINT ? 130 : 143;
			break;
		}
	}
	cr_node_join(n);
	cr_node_result(n, &r);
	fprintf(stderr,
		"crystal tracker: %llu registrations, %llu queries, %llu "
		"replies, %llu timed out, %llu departed; refused: %llu past "
		"max_sessions_per_peer (%u), %llu past max_peers_per_session "
		"(%u)\n",
		(unsigned long long)r.tracker.registrations,
		(unsigned long long)r.tracker.queries,
		(unsigned long long)r.tracker.replies,
		(unsigned long long)r.tracker.timed_out,
		(unsigned long long)r.tracker.departed,
		(unsigned long long)r.tracker.refused_sessions_per_peer,
		cfg.tracker.max_sessions_per_peer,
		(unsigned long long)r.tracker.refused_peers_per_session,
		cfg.tracker.max_peers_per_session);
out:
	cr_node_destroy(n);
	cr_experiment_free(&e);
	return rc;
}
