/* crystal run: builds the experiment from options, checks that it fits,
 * runs it with a live status line, and writes the run directory.
 *
 * Signals: SIGINT and SIGTERM are blocked in every thread and taken here
 * with sigtimedwait, so a Ctrl-C ends the experiment cleanly and the
 * summary is still written, marked interrupted.
 */
#include "../builtins/registry.h"
#include "../core/units.h"
#include "../metrics/json.h"
#include "../node.h"
#include "../scenario/chains.h"
#include "../scenario/matrix.h"
#include "../scenario/mesh.h"
#include "../scenario/plan.h"
#include "cli.h"
#include "rundir.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_PARAMS 64
#define MAX_TRACE 64
#define MAX_PLAYOUT 16
#define MAX_SCALE 64
#define SCALE_MAX 1000.0 /* the largest --scale-upload factor */

/* --scale-upload [CLASS=]FACTOR: cls (cls_len bytes of the argument) is
 * NULL for every class. */
struct scale {
	const char *cls;
	size_t cls_len;
	double factor;
};

struct run_opts {
	uint64_t peers;
	uint64_t chain_len;
	int64_t duration_ns;
	uint64_t msg_size;
	uint64_t rate_Bps;
	uint64_t count;
	uint64_t workers;
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
	bool mesh; /* the built-in mesh, not the chains */
	cr_link_limits lim;
	uint64_t source_upload_Bps;
	const char *matrix_path;
	const char *file;      /* an experiment file, or NULL for chains */
	const struct cr_experiment *experiment; /* read from it */
	uint64_t given;	       /* options given, by bit (1 << (O_x - 256)) */
	size_t events_skipped; /* after the end of the run: not run */
	struct cr_node_param params[MAX_PARAMS];
	size_t nparams;
	const char *trace[MAX_TRACE]; /* --trace patterns */
	size_t ntrace;
	struct cr_node_playout playout[MAX_PLAYOUT];
	size_t nplayout;
	struct scale scale[MAX_SCALE]; /* --scale-upload */
	size_t nscale;
	int argc; /* the command line, for command.txt */
	char **argv;
};

static void run_usage(FILE *f)
{
	fputs("usage: crystal run [options]\n"
	      "\n"
	      "Runs the built-in `chains` experiment: a source feeds chains of peers\n"
	      "(10 per chain) that relay its stream, as in the Crystal paper's benchmark;\n"
	      "with --mesh, the built-in `mesh`: a source and peers that find each other\n"
	      "through a tracker, for any algorithm; with a file, that experiment.\n"
	      "\n"
	      "experiment:\n"
	      "  --mesh               the `mesh` experiment: the source and --peers peers, all\n"
	      "                       born at 0 into session 1 and bootstrapped by a tracker\n"
	      "                       (20 peers a reply) at the port after the last peer;\n"
	      "                       a stream of 64KB/s in 1 s segments, for 20 s, played\n"
	      "                       by vanilla, unless --rate, --duration and --algorithm\n"
	      "                       say otherwise\n"
	      "  --peers N            (chains, mesh) peers besides the source (default 100)\n"
	      "  --chain-length L     (chains) peers per chain (default 10)\n"
	      "  --duration TIME      how long to run: 10, 2.5s, 500ms (default 10 s; mesh 20 s)\n"
	      "  --message-size SIZE  data message payload: 1024, 4KB, 40KiB (default 1024)\n"
	      "  --rate RATE          source rate: 0 = as fast as the links take it (default;\n"
	      "                       mesh 64KB/s), or 50000, 50KB/s, 2Mbit/s (1 KB = 1000 B)\n"
	      "  --count N            (chains, mesh) the source stops after N messages\n"
	      "                       (default: no limit)\n"
	      "  --warmup TIME        rates count only after this much time (default 0)\n"
	      "  --algorithm NAME|PATH  built-in algorithm, or a .so that defines\n"
	      "                       `crystal_algorithm` (default relay; mesh vanilla)\n"
	      "  -D NAME=VALUE        a parameter for the algorithm (repeatable)\n"
	      "\n"
	      "links (every peer; rates as for --rate, 0 = unlimited):\n"
	      "  --upload RATE        each peer's upload limit\n"
	      "  --download RATE      each peer's download limit\n"
	      "  --total RATE         each peer's upload + download limit\n"
	      "  --link-upload RATE   each TCP connection's sending limit\n"
	      "  --link-download RATE each TCP connection's receiving limit\n"
	      "  --delay TIME         one-way delay of every link: 50ms (each peer's\n"
	      "                       access delay is half of it)\n"
	      "  --jitter TIME        extra delay, uniform in [0, TIME]; TCP never reorders\n"
	      "  --loss P             UDP datagrams lost, 0..1 (0.1 = 10%)\n"
	      "  --latency-matrix FILE  one-way delays per pair of peers: lines\n"
	      "                       `FROM TO DELAY` (e.g. 127.0.0.1:20001 127.0.0.1:20002 35ms)\n"
	      "  --source-upload RATE (chains, mesh) the source's own upload limit (default: as\n"
	      "                       the peers')\n"
	      "  --scale-upload [CLASS=]F  (file) multiply every class's upload limit by F\n"
	      "                       (0.75: a quarter less), or CLASS's only, which then\n"
	      "                       takes no other factor (repeatable: --scale-upload 0.5\n"
	      "                       --scale-upload source=1 scales all but the source)\n"
	      "  --seed N             seed for jitter, loss and source data (default 1)\n"
	      "  --batch TIME         releases due within TIME of a wake-up leave with it,\n"
	      "                       up to TIME early: fewer wake-ups and system calls for\n"
	      "                       coarser timing (default 20us, at most 100ms)\n"
	      "  --busy-poll          workers never sleep: no wake-up lateness, a whole\n"
	      "                       core per worker\n"
	      "  --spin off|auto|N%   a worker wakes early for its next release and spins\n"
	      "                       the rest, using at most N% of a core (auto: 20%);\n"
	      "                       default off (measured: no better on a VM)\n"
	      "\n"
	      "placement:\n"
	      "  --workers M          event loops (threads); default one per core\n"
	      "  --ip ADDR            (chains, mesh) the peers' IP address (default 127.0.0.1)\n"
	      "  --base-port P        (chains, mesh) the source's port; peers follow (default\n"
	      "                       20000)\n"
	      "\n"
	      "output:\n"
	      "  --out DIR            run directory (default runs/<name>-<UTC time>)\n"
	      "  --log-level LEVEL    error, warn, info, debug or trace (default info)\n"
	      "  --trace PEER         log this peer at trace level: every message in and\n"
	      "                       out, segments played and missed; IP:port, or a\n"
	      "                       pattern such as '127.0.0.1:2001*' (repeatable)\n"
	      "  --quiet              no status line and no summary on stdout\n"
	      "  --play-out PEER=PATH write what this peer plays, in playback order, to a\n"
	      "                       file or FIFO: 127.0.0.1:20050=out.ts (repeatable; a\n"
	      "                       FIFO's reader must open it for the run to start)\n"
	      "\n"
	      "limits:\n"
	      "  --max-message SIZE   largest payload accepted from the wire (default 16MiB)\n"
	      "  --queue-limit SIZE   bytes a peer may queue before it stops reading its\n"
	      "                       inputs and TCP pushes back (default 256KiB)\n"
	      "  --tracker-max-sessions-per-peer N  (mesh, file) sessions one peer\n"
	      "                       address may register in with the tracker in this\n"
	      "                       node, 1 to 65536; past it a REGISTER is refused\n"
	      "                       (default 16)\n"
	      "  --tracker-max-peers-per-session N  (mesh, file) peers one session may\n"
	      "                       hold at that tracker, from 1 (default 65536)\n"
	      "  --max-connections N  connections a peer keeps: more incoming ones are\n"
	      "                       closed at once (default 0: twice the experiment's\n"
	      "                       peers, plus 64; the tracker is never capped)\n"
	      "  --idle-timeout TIME  an incoming connection that sends nothing after its\n"
	      "                       hello for this long is closed\n"
	      "  --frame-timeout TIME a frame begun must be finished within TIME, or its\n"
	      "                       connection is closed (both default 0: 30 s, plus\n"
	      "                       what the slowest link and the largest message add)\n"
	      "  --partial-frames-limit SIZE  bytes of unfinished frames the node holds;\n"
	      "                       past it the connection with the largest is closed\n"
	      "                       (default 256MiB)\n"
	      "\n"
	      "The run directory gets summary.json, per-second CSV files of the node, its\n"
	      "workers and every peer, the input files and one log per worker\n"
	      "(docs/run-directory.md).  Exit codes:\n"
	      "0 done, 1 failed while running, 2 bad usage or input, 130/143 ended by\n"
	      "SIGINT/SIGTERM (the summary is written, with \"interrupted\": true).\n",
	      f);
}

static int bad(const char *opt, const char *val, const char *accepted)
{
	fprintf(stderr, "crystal run: %s '%s': expected %s\n", opt, val,
		accepted);
	return 2;
}

/* Why no peer can bind a here, for a message; NULL when one may (checked
 * before the run: a bind that fails once it has started exits 1). */
static const char *unbindable(const cr_addr *a)
{
	switch (cr__addr_bindable(a)) {
	case 0:
		return NULL;
	case EADDRNOTAVAIL:
		return "no interface of this host has that address";
	case EAFNOSUPPORT:
		return "this host has no IPv6";
	default:
		return "this user may not bind that port (below 1024 it takes "
		       "root or CAP_NET_BIND_SERVICE)";
	}
}

/* --ip and --base-port: the peers bind them here; 0 or exit status 2. */
static int check_base(const struct run_opts *o, const cr_addr *base)
{
	cr_addr ip = *base;
	const char *why;

	ip.port = 0;
	if ((why = unbindable(&ip))) {
		fprintf(stderr,
			"crystal run: --ip '%s': %s; expected an address of "
			"this host, such as 127.0.0.1 or ::1\n",
			o->ip, why);
		return 2;
	}
	if ((why = unbindable(base))) {
		fprintf(stderr,
			"crystal run: --base-port %u: %s; expected a port "
			"from 1024 to 65535\n",
			base->port, why);
		return 2;
	}
	return 0;
}

/* Every address an experiment file has the node bind (its classes', an
 * inproc tracker's) is this host's; 0 or exit status 2.  One trial per
 * IP of a class, at its lowest port. */
static int check_file_addrs(const struct run_opts *o,
			    const struct cr_experiment *e)
{
	char buf[CR_ADDR_STRLEN];
	const char *why;

	for (size_t k = 0; k < e->nclasses; k++) {
		const struct cr_peer_class *c = &e->classes[k];

		for (size_t i = 0; i < c->count; i++) {
			if (i && !memcmp(c->addrs[i].ip, c->addrs[i - 1].ip,
					 sizeof(c->addrs[i].ip)))
				continue;
			if (!(why = unbindable(&c->addrs[i])))
				continue;
			fprintf(stderr,
				"crystal run: %s:%u: class %s: %s: %s; a "
				"class's peers run on this host, at its own "
				"addresses\n",
				o->file, c->line, c->name,
				cr_addr_format(&c->addrs[i], buf, sizeof(buf)),
				why);
			return 2;
		}
	}
	if (e->tracker.mode == CR_TRACKER_INPROC &&
	    (why = unbindable(&e->tracker.addr))) {
		fprintf(stderr,
			"crystal run: %s: [tracker] address %s: %s; a tracker "
			"of mode inproc runs on this host (mode = external "
			"for one elsewhere)\n",
			o->file, cr_addr_format(&e->tracker.addr, buf, sizeof(buf)),
			why);
		return 2;
	}
	return 0;
}

/* --spin: "off" (0), "auto" (CR__SPIN_BUDGET) or N% of a core, 1 to
 * 100. */
static int parse_spin(const char *s, double *budget)
{
	char *end;
	double pct;

	if (!strcmp(s, "auto")) {
		*budget = CR__SPIN_BUDGET;
		return 0;
	}
	if (!strcmp(s, "off")) {
		*budget = 0;
		return 0;
	}
	pct = strtod(s, &end);
	if (end == s || strcmp(end, "%") || !(pct >= 1 && pct <= 100))
		return -1;
	*budget = pct / 100;
	return 0;
}

enum {
	O_PEERS = 256,
	O_CHAIN,
	O_DURATION,
	O_MSGSIZE,
	O_RATE,
	O_COUNT,
	O_WORKERS,
	O_ALGO,
	O_OUT,
	O_IP,
	O_BASEPORT,
	O_LOGLEVEL,
	O_MAXMSG,
	O_QUEUE,
	O_QUIET,
	O_HELP,
	O_UPLOAD,
	O_DOWNLOAD,
	O_TOTAL,
	O_LINK_UP,
	O_LINK_DOWN,
	O_DELAY,
	O_JITTER,
	O_LOSS,
	O_MATRIX,
	O_SEED,
	O_WARMUP,
	O_SRC_UP,
	O_TRACE,
	O_PLAYOUT,
	O_BATCH,
	O_BUSY,
	O_SPIN,
	O_MESH,
	O_SCALE_UP,
	O_TRK_PER_PEER,
	O_TRK_PER_SESSION,
	O_MAXCONNS,
	O_IDLE,
	O_FRAMETIME,
	O_PARTIAL,
};

static const struct option long_opts[] = {
	{"peers", required_argument, NULL, O_PEERS},
	{"chain-length", required_argument, NULL, O_CHAIN},
	{"duration", required_argument, NULL, O_DURATION},
	{"message-size", required_argument, NULL, O_MSGSIZE},
	{"rate", required_argument, NULL, O_RATE},
	{"count", required_argument, NULL, O_COUNT},
	{"workers", required_argument, NULL, O_WORKERS},
	{"algorithm", required_argument, NULL, O_ALGO},
	{"out", required_argument, NULL, O_OUT},
	{"ip", required_argument, NULL, O_IP},
	{"base-port", required_argument, NULL, O_BASEPORT},
	{"log-level", required_argument, NULL, O_LOGLEVEL},
	{"max-message", required_argument, NULL, O_MAXMSG},
	{"queue-limit", required_argument, NULL, O_QUEUE},
	{"max-connections", required_argument, NULL, O_MAXCONNS},
	{"idle-timeout", required_argument, NULL, O_IDLE},
	{"frame-timeout", required_argument, NULL, O_FRAMETIME},
	{"partial-frames-limit", required_argument, NULL, O_PARTIAL},
	{"quiet", no_argument, NULL, O_QUIET},
	{"help", no_argument, NULL, O_HELP},
	{"upload", required_argument, NULL, O_UPLOAD},
	{"download", required_argument, NULL, O_DOWNLOAD},
	{"total", required_argument, NULL, O_TOTAL},
	{"link-upload", required_argument, NULL, O_LINK_UP},
	{"link-download", required_argument, NULL, O_LINK_DOWN},
	{"delay", required_argument, NULL, O_DELAY},
	{"jitter", required_argument, NULL, O_JITTER},
	{"loss", required_argument, NULL, O_LOSS},
	{"latency-matrix", required_argument, NULL, O_MATRIX},
	{"seed", required_argument, NULL, O_SEED},
	{"warmup", required_argument, NULL, O_WARMUP},
	{"batch", required_argument, NULL, O_BATCH},
	{"busy-poll", no_argument, NULL, O_BUSY},
	{"spin", required_argument, NULL, O_SPIN},
	{"mesh", no_argument, NULL, O_MESH},
	{"source-upload", required_argument, NULL, O_SRC_UP},
	{"scale-upload", required_argument, NULL, O_SCALE_UP},
	{"trace", required_argument, NULL, O_TRACE},
	{"play-out", required_argument, NULL, O_PLAYOUT},
	{"tracker-max-sessions-per-peer", required_argument, NULL,
	 O_TRK_PER_PEER},
	{"tracker-max-peers-per-session", required_argument, NULL,
	 O_TRK_PER_SESSION},
	{NULL, 0, NULL, 0},
};

static const char *opt_name(int c)
{
	static char buf[40];

	for (const struct option *o = long_opts; o->name; o++) {
		if (o->val == c) {
			snprintf(buf, sizeof(buf), "--%s", o->name);
			return buf;
		}
	}
	return "option";
}

/* --scale-upload's value, kept in o: 0, or exit status 2 (with the
 * message) for no factor, a class named twice, or two factors for every
 * class. */
static int parse_scale(const char *arg, struct run_opts *o)
{
	const char *eq = strchr(arg, '='), *num = eq ? eq + 1 : arg;
	struct scale sc = {eq ? arg : NULL, eq ? (size_t)(eq - arg) : 0, 0};
	char *end;

	sc.factor = strtod(num, &end);
	if (end == num || *end || !(sc.factor > 0 && sc.factor <= SCALE_MAX) ||
	    (eq && eq == arg))
		return bad("--scale-upload", arg,
			   "a factor above 0 and at most 1000, such as 0.75, "
			   "or CLASS=FACTOR for one class");
	for (size_t i = 0; i < o->nscale; i++)
		if (o->scale[i].cls_len == sc.cls_len &&
		    (!sc.cls || !strncmp(o->scale[i].cls, sc.cls, sc.cls_len))) {
			fprintf(stderr,
				"crystal run: --scale-upload '%s': %s%.*s is "
				"scaled twice\n",
				arg, sc.cls ? "class " : "every class",
				(int)sc.cls_len, sc.cls ? sc.cls : "");
			return 2;
		}
	if (o->nscale == MAX_SCALE)
		return bad("--scale-upload", arg, "at most 64 of them");
	o->scale[o->nscale++] = sc;
	return 0;
}

static int parse_opts(int argc, char **argv, struct run_opts *o)
{
	int c, lvl;
	char *eq;

	*o = (struct run_opts){
		.peers = 100,
		.chain_len = 10,
		.duration_ns = 10 * CR_SEC,
		.msg_size = 1024,
		.algorithm = "relay",
		.ip = "127.0.0.1",
		.base_port = 20000,
		.log_level = CR_LOG_INFO,
		.max_msg = 16u << 20,
		.queue_limit = CR__DEFAULT_QUEUE_LIMIT,
	};
	o->argc = argc;
	o->argv = argv;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":D:h", long_opts, NULL)) != -1) {
		if (c >= 256 && c < 256 + 64)
			o->given |= 1ull << (c - 256);
		switch (c) {
		case O_PEERS:
			if (cr_parse_uint(optarg, 1000000, &o->peers) ||
			    !o->peers)
				return bad("--peers", optarg,
					   "a whole number from 1 to 1000000");
			break;
		case O_CHAIN:
			if (cr_parse_uint(optarg, 1000000, &o->chain_len) ||
			    !o->chain_len)
				return bad("--chain-length", optarg,
					   "a whole number from 1");
			break;
		case O_DURATION:
			if (cr_parse_time(optarg, CR_SEC, &o->duration_ns) ||
			    o->duration_ns <= 0)
				return bad("--duration", optarg,
					   "a positive time, such as 10, 2.5s "
					   "or 500ms");
			break;
		case O_MSGSIZE:
			if (cr_parse_size(optarg, &o->msg_size) ||
			    !o->msg_size || o->msg_size > (64u << 20))
				return bad("--message-size", optarg,
					   "1 byte to 64MiB: " CR_SIZE_FORMS);
			break;
		case O_RATE:
			if (cr_parse_rate(optarg, &o->rate_Bps))
				return bad("--rate", optarg, CR_RATE_FORMS);
			break;
		case O_COUNT:
			if (cr_parse_uint(optarg, UINT64_MAX / 2, &o->count))
				return bad("--count", optarg,
					   "a whole number (0: no limit)");
			break;
		case O_WORKERS:
			if (cr_parse_uint(optarg, 256, &o->workers) ||
			    !o->workers)
				return bad("--workers", optarg,
					   "a whole number from 1 to 256");
			break;
		case O_ALGO:
			o->algorithm = optarg;
			break;
		case O_OUT:
			o->out = optarg;
			break;
		case O_IP:
			o->ip = optarg;
			break;
		case O_BASEPORT:
			if (cr_parse_uint(optarg, 65535, &o->base_port) ||
			    !o->base_port)
				return bad("--base-port", optarg,
					   "a port from 1 to 65535");
			break;
		case O_LOGLEVEL:
			lvl = cr__log_level_parse(optarg);
			if (lvl < 0)
				return bad("--log-level", optarg,
					   "error, warn, info, debug or trace");
			o->log_level = lvl;
			break;
		case O_MAXMSG:
			if (cr_parse_size(optarg, &o->max_msg) ||
			    o->max_msg < 64 || o->max_msg > (1u << 30))
				return bad("--max-message", optarg,
					   "64 bytes to 1GiB: " CR_SIZE_FORMS);
			break;
		case O_QUEUE:
			if (cr_parse_size(optarg, &o->queue_limit) ||
			    o->queue_limit < 4096)
				return bad("--queue-limit", optarg,
					   "at least 4KiB (4096 bytes): " CR_SIZE_FORMS);
			break;
		case O_TRK_PER_PEER:
			if (cr_parse_uint(optarg, 65536, &o->tracker_per_peer) ||
			    !o->tracker_per_peer)
				return bad(opt_name(c), optarg,
					   "a whole number from 1 to 65536");
			break;
		case O_TRK_PER_SESSION:
			if (cr_parse_uint(optarg, UINT32_MAX,
					  &o->tracker_per_session) ||
			    !o->tracker_per_session)
				return bad(opt_name(c), optarg,
					   "a whole number from 1 to 4294967295");
			break;
		case O_MAXCONNS:
			if (cr_parse_uint(optarg, UINT32_MAX, &o->max_conns))
				return bad("--max-connections", optarg,
					   "a whole number (0: twice the "
					   "experiment's peers, plus 64)");
			break;
		case O_IDLE:
		case O_FRAMETIME:
			if (cr_parse_time(optarg, CR_SEC,
					  c == O_IDLE ? &o->idle_timeout_ns
						      : &o->frame_timeout_ns))
				return bad(opt_name(c), optarg,
					   CR_TIME_FORMS " (0: automatic)");
			break;
		case O_PARTIAL:
			if (cr_parse_size(optarg, &o->partial_limit))
				return bad("--partial-frames-limit", optarg,
					   CR_SIZE_FORMS " (0: 256MiB)");
			break;
		case O_QUIET:
			o->quiet = true;
			break;
		case O_UPLOAD:
		case O_DOWNLOAD:
		case O_TOTAL:
		case O_LINK_UP:
		case O_LINK_DOWN: {
			uint64_t *dst = c == O_UPLOAD	? &o->lim.upload_Bps
					: c == O_DOWNLOAD ? &o->lim.download_Bps
					: c == O_TOTAL	  ? &o->lim.total_Bps
					: c == O_LINK_UP  ? &o->lim.link_upload_Bps
							  : &o->lim.link_download_Bps;
			if (cr_parse_rate(optarg, dst))
				return bad(opt_name(c), optarg, CR_RATE_FORMS);
			break;
		}
		case O_DELAY:
			if (cr_parse_time(optarg, CR_SEC, &o->lim.access_delay_ns))
				return bad("--delay", optarg, CR_TIME_FORMS);
			/* a link's delay is the sum of both access delays */
			o->lim.access_delay_ns /= 2;
			break;
		case O_JITTER:
			if (cr_parse_time(optarg, CR_SEC, &o->lim.jitter_ns))
				return bad("--jitter", optarg, CR_TIME_FORMS);
			break;
		case O_LOSS: {
			char *end;
			double v = strtod(optarg, &end);
			if (end == optarg || *end || !(v >= 0 && v <= 1))
				return bad("--loss", optarg,
					   "a probability from 0 to 1, such as "
					   "0.1");
			o->lim.loss = v;
			break;
		}
		case O_MATRIX:
			o->matrix_path = optarg;
			break;
		case O_SRC_UP:
			if (cr_parse_rate(optarg, &o->source_upload_Bps))
				return bad("--source-upload", optarg,
					   CR_RATE_FORMS);
			break;
		case O_SCALE_UP:
			if (parse_scale(optarg, o))
				return 2;
			break;
		case O_WARMUP:
			if (cr_parse_time(optarg, CR_SEC, &o->warmup_ns))
				return bad("--warmup", optarg, CR_TIME_FORMS);
			break;
		case O_BUSY:
			o->busy_poll = true;
			break;
		case O_SPIN:
			if (parse_spin(optarg, &o->spin_budget))
				return bad("--spin", optarg,
					   "auto, off, or a share of a core "
					   "from 1% to 100%");
			break;
		case O_MESH:
			o->mesh = true;
			break;
		case O_BATCH:
			if (cr_parse_time(optarg, CR_SEC, &o->batch_ns))
				return bad("--batch", optarg, CR_TIME_FORMS);
			if (o->batch_ns > CR__SHAPE_BATCH_MAX)
				return bad("--batch", optarg,
					   "a time from 0 to 100ms");
			break;
		case O_SEED:
			if (cr_parse_uint(optarg, UINT64_MAX, &o->seed))
				return bad("--seed", optarg, "a whole number");
			break;
		case O_TRACE:
			if (!*optarg)
				return bad("--trace", optarg,
					   "IP:port or a pattern of them");
			if (o->ntrace == MAX_TRACE)
				return bad("--trace", optarg,
					   "at most 64 of them");
			o->trace[o->ntrace++] = optarg;
			break;
		case O_PLAYOUT:
			eq = strchr(optarg, '=');
			if (!eq || !eq[1])
				return bad("--play-out", optarg,
					   "IP:port=PATH, such as "
					   "127.0.0.1:20050=out.ts");
			if (o->nplayout == MAX_PLAYOUT)
				return bad("--play-out", optarg,
					   "at most 16 of them");
			*eq = 0;
			if (cr_addr_parse(&o->playout[o->nplayout].addr,
					  optarg)) {
				*eq = '=';
				return bad("--play-out", optarg,
					   "IP:port=PATH, such as "
					   "127.0.0.1:20050=out.ts");
			}
			o->playout[o->nplayout++].path = eq + 1;
			break;
		case 'D':
			eq = strchr(optarg, '=');
			if (!eq || eq == optarg)
				return bad("-D", optarg, "NAME=VALUE");
			if (o->nparams == MAX_PARAMS)
				return bad("-D", optarg,
					   "at most 64 parameters");
			*eq = 0;
			o->params[o->nparams++] =
				(struct cr_node_param){optarg, eq + 1};
			break;
		case 'h':
		case O_HELP:
			run_usage(stdout);
			exit(0);
		case ':':
			fprintf(stderr, "crystal run: %s needs a value\n",
				argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr,
				"crystal run: unknown option '%s' (see crystal "
				"run --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc)
		o->file = argv[optind++];
	if (optind < argc) {
		fprintf(stderr,
			"crystal run: unexpected argument '%s' (see crystal run "
			"--help)\n",
			argv[optind]);
		return 2;
	}
	if (o->file && o->mesh) {
		fprintf(stderr,
			"crystal run: --mesh is a built-in experiment, %s is "
			"another: give one or the other\n",
			o->file);
		return 2;
	}
	if (o->mesh && (o->given & (1ull << (O_CHAIN - 256)))) {
		fprintf(stderr, "crystal run: --chain-length applies to the "
				"chains experiment, not to --mesh\n");
		return 2;
	}
	if (o->mesh) {
		/* a stream that plays, long enough to see it, by an algorithm
		 * that builds a mesh (the relay would flood its cycles) */
		if (!(o->given & (1ull << (O_DURATION - 256))))
			o->duration_ns = CR_MESH_DURATION_NS;
		if (!(o->given & (1ull << (O_RATE - 256))))
			o->rate_Bps = CR_MESH_RATE_BPS;
		if (!(o->given & (1ull << (O_ALGO - 256))))
			o->algorithm = "vanilla";
	}
	if (o->file) {
		static const int chains_only[] = {O_PEERS, O_CHAIN, O_COUNT,
						  O_IP, O_BASEPORT, O_SRC_UP};
		for (size_t i = 0; i < sizeof(chains_only) / sizeof(int); i++)
			if (o->given & (1ull << (chains_only[i] - 256))) {
				fprintf(stderr,
					"crystal run: %s applies to the built-in "
					"chains experiment, not to %s (set it in "
					"the file)\n",
					opt_name(chains_only[i]), o->file);
				return 2;
			}
		return 0; /* the file's values are checked when it is read */
	}
	if (!o->mesh && (o->tracker_per_peer || o->tracker_per_session)) {
		fprintf(stderr,
			"crystal run: %s: the chains experiment has no tracker "
			"(--mesh has one, as may an experiment file)\n",
			opt_name(o->tracker_per_peer ? O_TRK_PER_PEER
						     : O_TRK_PER_SESSION));
		return 2;
	}
	if (o->nscale) {
		fprintf(stderr, "crystal run: --scale-upload scales the classes "
				"of an experiment file; the built-in chains "
				"and mesh take --upload and --source-upload\n");
		return 2;
	}
	if (o->warmup_ns >= o->duration_ns)
		return bad("--warmup", "", "less than --duration");
	if (o->msg_size > o->max_msg)
		return bad("--message-size", "", "no more than --max-message");
	return 0;
}

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

static void human_rate(double Bps, char *buf, size_t len)
{
	if (Bps >= 1e9)
		snprintf(buf, len, "%.2f GB/s", Bps / 1e9);
	else if (Bps >= 1e6)
		snprintf(buf, len, "%.2f MB/s", Bps / 1e6);
	else if (Bps >= 1e3)
		snprintf(buf, len, "%.2f KB/s", Bps / 1e3);
	else
		snprintf(buf, len, "%.0f B/s", Bps);
}

/* A distribution over peers: null when no peer counted. */
static void json_dist(struct cr_json *j, const char *key,
		      const struct cr_node_dist *d)
{
	if (!d->n) {
		cr_json_str(j, key, NULL);
		return;
	}
	cr_json_object(j, key);
	cr_json_uint(j, "peers", d->n);
	cr_json_num(j, "mean", d->mean);
	cr_json_num(j, "min", d->min);
	cr_json_num(j, "p5", d->p5);
	cr_json_num(j, "p50", d->p50);
	cr_json_num(j, "p95", d->p95);
	cr_json_close(j);
}

/* --scale-upload's factors, and each class's upload limit as the run used
 * it (0: unlimited). */
static void json_scale(struct cr_json *j, const struct run_opts *o)
{
	const struct cr_experiment *e = o->experiment;
	char key[300];

	for (size_t i = 0; i < o->nscale; i++) {
		const struct scale *sc = &o->scale[i];
		snprintf(key, sizeof(key), "scale_upload%s%.*s",
			 sc->cls ? "." : "", (int)sc->cls_len,
			 sc->cls ? sc->cls : "");
		cr_json_num(j, key, sc->factor);
	}
	for (size_t i = 0; e && i < e->nclasses; i++) {
		snprintf(key, sizeof(key), "upload_Bps.%s", e->classes[i].name);
		cr_json_uint(j, key, e->classes[i].limits.upload_Bps);
	}
}

/* What the tracker of this node did, and its limits as used. */
static void json_tracker(struct cr_json *j, const struct cr_node_tracker *tc,
			 const struct cr__tracker_stats *t)
{
	cr_json_object(j, "tracker");
	cr_json_uint(j, "registrations", t->registrations);
	cr_json_uint(j, "queries", t->queries);
	cr_json_uint(j, "replies", t->replies);
	cr_json_uint(j, "timed_out", t->timed_out);
	cr_json_uint(j, "departed", t->departed);
	cr_json_uint(j, "entries_max", t->entries_max);
	cr_json_uint(j, "refused_sessions_per_peer",
		     t->refused_sessions_per_peer);
	cr_json_uint(j, "refused_peers_per_session",
		     t->refused_peers_per_session);
	cr_json_uint(j, "max_sessions_per_peer",
		     tc->max_sessions_per_peer ? tc->max_sessions_per_peer
					       : CR__TRACKER_SESSIONS_PER_PEER);
	cr_json_uint(j, "max_peers_per_session",
		     tc->max_peers_per_session ? tc->max_peers_per_session
					       : CR__TRACKER_PEERS_PER_SESSION);
	cr_json_close(j);
}

/* What remotes may make a peer hold, and what that refused or closed. */
static void json_limits(struct cr_json *j, const struct cr_node_config *cfg,
			const struct cr_node_result *r)
{
	cr_json_object(j, "limits");
	cr_json_uint(j, "max_connections", r->max_conns);
	cr_json_num(j, "idle_timeout_s", (double)r->idle_timeout_ns / 1e9);
	cr_json_num(j, "frame_timeout_s", (double)r->frame_timeout_ns / 1e9);
	cr_json_uint(j, "partial_frames_limit", r->partial_limit);
	cr_json_uint(j, "max_message", cfg->max_msg_bytes ? cfg->max_msg_bytes
							  : 16u << 20);
	cr_json_uint(j, "connections_refused", r->limit_hits[CR__LIMIT_CONNS]);
	cr_json_uint(j, "idle_closed", r->limit_hits[CR__LIMIT_IDLE]);
	cr_json_uint(j, "frame_timeouts", r->limit_hits[CR__LIMIT_FRAME]);
	cr_json_uint(j, "partial_frames_closed",
		     r->limit_hits[CR__LIMIT_PARTIAL]);
	cr_json_uint(j, "partial_frames_peak", r->partial_peak);
	cr_json_uint(j, "bad_datagrams", r->bad_datagrams);
	cr_json_close(j);
}

static int write_summary(const char *dir, const struct run_opts *o,
			 const struct cr_node_config *cfg,
			 const cr_algorithm *algo,
			 const struct cr_node_result *r, const char *started_utc,
			 double cpu)
{
	char path[4096], tmp[4200], host[256] = "", id[32];
	struct rusage ru;
	struct cr_json j;
	FILE *f;

	snprintf(path, sizeof(path), "%s/summary.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "crystal run: cannot write %s: %s\n", tmp,
			strerror(errno));
		return -1;
	}
	getrusage(RUSAGE_SELF, &ru);

	gethostname(host, sizeof(host) - 1);
	snprintf(id, sizeof(id), "%016llx",
		 (unsigned long long)(cfg->exp_id
					      ? cfg->exp_id
					      : cr_node_experiment_id(cfg->name)));
	cr_json_begin(&j, f);
	cr_json_str(&j, "experiment", cfg->name);
	cr_json_str(&j, "experiment_id", id);
	cr_json_str(&j, "host", host);
	cr_json_str(&j, "experiment_file", o->file);
	cr_json_str(&j, "started_utc", started_utc);
	cr_json_bool(&j, "interrupted", r->interrupted);
	cr_json_uint(&j, "peers", r->peers);
	cr_json_num(&j, "duration_s", (double)r->elapsed_ns / 1e9);
	cr_json_num(&j, "measured_s", (double)r->measured_ns / 1e9);
	cr_json_num(&j, "cumulative_rate_Bps", r->cumulative_rate_Bps);
	cr_json_num(&j, "per_peer_rate_Bps", r->per_peer_rate_Bps);
	cr_json_num(&j, "min_peer_rate_Bps", r->min_peer_rate_Bps);
	cr_json_num(&j, "tail_rate_Bps", r->tail_rate_Bps);
	cr_json_num(&j, "tail_wire_rate_Bps", r->tail_wire_rate_Bps);
	cr_json_uint(&j, "messages_switched", r->messages_switched);
	cr_json_uint(&j, "data_bytes_received", r->data_bytes_in);
	cr_json_uint(&j, "bad_frames", r->bad_frames);
	json_limits(&j, cfg, r);
	json_dist(&j, "continuity", &r->continuity);
	json_dist(&j, "startup_delay_s", &r->startup_delay_s);
	json_dist(&j, "control_overhead", &r->control_overhead);
	json_dist(&j, "duplicate_ratio", &r->duplicate_ratio);
	json_dist(&j, "segment_latency_s", &r->segment_latency_s);
	/* the algorithm's own results (cr_report_value), by name */
	cr_json_object(&j, "values");
	for (size_t i = 0; i < r->nvalues; i++)
		json_dist(&j, r->values[i].name, &r->values[i].dist);
	cr_json_close(&j);
	cr_json_uint(&j, "births", r->births);
	cr_json_uint(&j, "deaths", r->deaths);
	cr_json_uint(&j, "failed_births", r->failed_births);
	cr_json_uint(&j, "events_skipped", o->events_skipped);
	cr_json_num(&j, "cpu_percent",
		    r->elapsed_ns > 0 ? 100.0 * cpu / ((double)r->elapsed_ns / 1e9)
				      : 0);
	cr_json_int(&j, "max_rss_kb", ru.ru_maxrss);
	cr_json_num(&j, "timer_lag_p50_us", (double)r->timer_lag_p50_ns / 1e3);
	cr_json_num(&j, "timer_lag_p99_us", (double)r->timer_lag_p99_ns / 1e3);
	cr_json_num(&j, "timer_lag_max_us", (double)r->timer_lag_max_ns / 1e3);
	cr_json_str(&j, "fidelity",
		    !r->shaped ? "unshaped" : r->degraded ? "degraded" : "ok");
	if (r->degraded)
		cr_json_str(&j, "fidelity_reason", r->degraded_reason);
	cr_json_object(&j, "link_fidelity");
	cr_json_uint(&j, "frames_released", r->late_samples);
	cr_json_num(&j, "release_late_mean_us", r->late_mean_ns / 1e3);
	cr_json_num(&j, "release_late_p50_us", (double)r->late_p50_ns / 1e3);
	cr_json_num(&j, "release_late_p99_us", (double)r->late_p99_ns / 1e3);
	cr_json_num(&j, "release_late_max_us", (double)r->late_max_ns / 1e3);
	cr_json_num(&j, "release_early_max_us", (double)r->early_max_ns / 1e3);
	cr_json_num(&j, "batch_us", (double)r->batch_ns / 1e3);
	cr_json_uint(&j, "shaped_writes", r->shaped_writes);
	cr_json_uint(&j, "wakeups", r->wakeups);
	cr_json_num(&j, "wake_late_p50_us", (double)r->wake_late_p50_ns / 1e3);
	cr_json_num(&j, "wake_late_p99_us", (double)r->wake_late_p99_ns / 1e3);
	cr_json_num(&j, "wake_late_max_us", (double)r->wake_late_max_ns / 1e3);
	cr_json_num(&j, "wake_lead_mean_us",
		    (double)r->wake_lead_mean_ns / 1e3);
	cr_json_num(&j, "spin_cpu_percent", 100 * r->spin_cores);
	cr_json_num(&j, "cores_contended_percent", 100 * r->contended_share);
	cr_json_uint(&j, "spin_misses", r->spin_misses);
	cr_json_num(&j, "frames_per_write",
		    r->shaped_writes ? (double)r->late_samples /
					       (double)r->shaped_writes
				     : 0);
	if (!o->file) {
		cr_json_num(&j, "configured_delay_ms",
			    2.0 * (double)o->lim.access_delay_ns / 1e6);
		cr_json_num(&j, "achieved_delay_mean_ms",
			    (2.0 * (double)o->lim.access_delay_ns +
			     r->late_mean_ns) /
				    1e6);
		cr_json_num(&j, "achieved_delay_worst_ms",
			    (2.0 * (double)o->lim.access_delay_ns +
			     (double)r->late_max_ns) /
				    1e6);
	}
	cr_json_uint(&j, "links_judged", r->fid_links);
	cr_json_num(&j, "rate_error_mean_percent", 100 * r->rate_err_mean);
	cr_json_num(&j, "rate_error_worst_percent", 100 * r->rate_err_worst);
	cr_json_str(&j, "rate_worst_link", r->rate_worst_link);
	cr_json_num(&j, "rate_worst_configured_Bps",
		    (double)r->rate_worst_configured_Bps);
	cr_json_num(&j, "rate_worst_achieved_Bps",
		    (double)r->rate_worst_configured_Bps *
			    (1 + r->rate_err_worst));
	cr_json_uint(&j, "download_resumes", r->rx_late_samples);
	cr_json_num(&j, "download_late_p50_us", (double)r->rx_late_p50_ns / 1e3);
	cr_json_num(&j, "download_late_p99_us", (double)r->rx_late_p99_ns / 1e3);
	cr_json_num(&j, "download_late_max_us", (double)r->rx_late_max_ns / 1e3);
	cr_json_uint(&j, "download_links_judged", r->fid_rx_links);
	cr_json_num(&j, "download_rate_error_mean_percent",
		    100 * r->rx_rate_err_mean);
	cr_json_num(&j, "download_rate_error_worst_percent",
		    100 * r->rx_rate_err_worst);
	cr_json_str(&j, "download_rate_worst_link", r->rx_rate_worst_link);
	cr_json_num(&j, "download_rate_worst_configured_Bps",
		    (double)r->rx_rate_worst_configured_Bps);
	cr_json_num(&j, "added_delay_worst_mean_us",
		    (double)r->added_delay_worst_mean_ns / 1e3);
	cr_json_str(&j, "added_delay_worst_link", r->added_delay_worst_link);
	cr_json_uint(&j, "queueing_samples", r->queueing_samples);
	cr_json_uint(&j, "frames_behind_full_socket", r->frames_after_full);
	cr_json_num(&j, "queueing_delay_mean_us", r->queueing_mean_ns / 1e3);
	cr_json_num(&j, "queueing_delay_p50_us",
		    (double)r->queueing_p50_ns / 1e3);
	cr_json_num(&j, "queueing_delay_p99_us",
		    (double)r->queueing_p99_ns / 1e3);
	cr_json_num(&j, "queueing_delay_max_us",
		    (double)r->queueing_max_ns / 1e3);
	cr_json_num(&j, "release_late_over_1ms_percent",
		    r->late_samples ? 100.0 * (double)r->late_over /
					      (double)r->late_samples
				    : 0);
	cr_json_num(&j, "download_late_over_1ms_percent",
		    r->rx_late_samples ? 100.0 * (double)r->rx_late_over /
						 (double)r->rx_late_samples
				       : 0);
	cr_json_uint(&j, "udp_lost", r->udp_lost);
	cr_json_uint(&j, "udp_dropped", r->udp_dropped);
	cr_json_uint(&j, "udp_rx_dropped", r->udp_rx_dropped);
	cr_json_uint(&j, "udp_rx_overflow", r->udp_rx_overflow);
	cr_json_close(&j);
	if (r->tracker_ran)
		json_tracker(&j, &cfg->tracker, &r->tracker);
	cr_json_object(&j, "parameters");
	cr_json_str(&j, "algorithm", algo->name);
	if (!o->file) {
		cr_json_uint(&j, "receivers", o->peers);
		if (!o->mesh)
			cr_json_uint(&j, "chain_length", o->chain_len);
	}
	if (o->mesh) {
		char tracker[CR_ADDR_STRLEN];

		cr_json_bool(&j, "mesh", true);
		cr_json_uint(&j, "session", CR_MESH_SESSION);
		cr_json_num(&j, "segment_s", 1.0);
		cr_json_str(&j, "tracker", cr_addr_format(&cfg->tracker.addr,
							 tracker,
							 sizeof(tracker)));
		cr_json_uint(&j, "tracker_peers_per_reply",
			     cfg->tracker.reply_peers);
	}
	cr_json_num(&j, "configured_duration_s", (double)o->duration_ns / 1e9);
	if (!o->file) {
		cr_json_uint(&j, "message_size", o->msg_size);
		cr_json_uint(&j, "rate_Bps", o->rate_Bps);
		cr_json_uint(&j, "count", o->count);
	}
	cr_json_int(&j, "workers", r->workers);
	if (!o->file) {
		cr_json_str(&j, "ip", o->ip);
		cr_json_uint(&j, "base_port", o->base_port);
	}
	cr_json_uint(&j, "queue_limit", cfg->queue_limit ? cfg->queue_limit
							 : CR__DEFAULT_QUEUE_LIMIT);
	cr_json_uint(&j, "seed", o->seed ? o->seed : 1);
	cr_json_num(&j, "warmup_s", (double)o->warmup_ns / 1e9);
	cr_json_num(&j, "batch_us", (double)r->batch_ns / 1e3);
	cr_json_bool(&j, "busy_poll", o->busy_poll);
	cr_json_num(&j, "spin_budget_percent", 100 * r->spin_budget);
	if (o->file) {
		/* links are per class: see the experiment file; the upload
		 * limits as this run used them */
		json_scale(&j, o);
		goto params;
	}
	cr_json_uint(&j, "upload_Bps", o->lim.upload_Bps);
	cr_json_uint(&j, "download_Bps", o->lim.download_Bps);
	cr_json_uint(&j, "total_Bps", o->lim.total_Bps);
	cr_json_uint(&j, "link_upload_Bps", o->lim.link_upload_Bps);
	cr_json_uint(&j, "link_download_Bps", o->lim.link_download_Bps);
	cr_json_uint(&j, "source_upload_Bps", o->source_upload_Bps);
	cr_json_num(&j, "delay_ms", 2.0 * (double)o->lim.access_delay_ns / 1e6);
	cr_json_num(&j, "jitter_ms", (double)o->lim.jitter_ns / 1e6);
	cr_json_num(&j, "loss", o->lim.loss);
	cr_json_str(&j, "latency_matrix", o->matrix_path);
params:
	for (size_t i = 0; i < cfg->nparams; i++) {
		char key[300];
		snprintf(key, sizeof(key), "D.%s", cfg->params[i].name);
		cr_json_str(&j, key, cfg->params[i].value);
	}
	cr_json_close(&j);
	cr_json_num(&j, "sample_interval_s",
		    (double)(cfg->sample_interval_ns ? cfg->sample_interval_ns
						     : CR_SEC) /
			    1e9);
	cr_json_bool(&j, "complete", true); /* the last key: written whole */
	cr_json_end(&j);
	if (fclose(f) || rename(tmp, path)) {
		fprintf(stderr, "crystal run: cannot write %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	return 0;
}

static void status_line(cr_node *n, const struct run_opts *o,
			const struct cr_node_csv *nc, double cpu_percent)
{
	int64_t now;
	uint64_t bytes, peers, alive;
	double cont;
	char rate[32], contin[32];

	cr_node_live(n, &now, &bytes, &peers);
	cr_node_live_stream(n, &alive, &cont);
	human_rate(now > 0 ? (double)bytes / ((double)now / 1e9) : 0, rate,
		   sizeof(rate));
	if (cont >= 0)
		snprintf(contin, sizeof(contin), "  continuity %.3f", cont);
	else
		contin[0] = 0;
	(void)nc;
	fprintf(stderr,
		"\r%6.1f / %.1f s  peers %llu/%llu  sessions %zu  %s%s  "
		"CPU %.0f%%  fidelity %s   ",
		(double)now / 1e9, (double)o->duration_ns / 1e9,
		(unsigned long long)alive, (unsigned long long)peers,
		o->experiment ? o->experiment->nsessions : (size_t)1, rate,
		contin, cpu_percent,
		cr_node_live_late_p99(n) > CR_FID_LATE_P99_NS ? "LATE" : "ok");
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
static int supervise(cr_node *n, const struct run_opts *o, bool live,
		     struct cr_node_csv *nc)
{
	sigset_t set;
	int64_t next_sample = CR_SEC;
	double cpu_percent = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
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
			return sig;
		}
		if (live)
			status_line(n, o, nc, cpu_percent);
	}
}

/* command.txt and the input files, into the run directory. */
static int write_inputs(const struct run_opts *o, const char *dir, char *err,
			size_t errlen)
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

/* Checks the descriptor budget, runs the node, writes the summary; the exit
 * status. */
static int execute(struct run_opts *o, struct cr_node_config *cfg,
		   const cr_algorithm *algo, const char *outdir,
		   const char *started)
{
	struct cr_node_fd_budget fds;
	struct cr_node_result res;
	cr_node *node = NULL;
	char err[512];
	struct cr_node_csv nc = {0};
	struct cr_node_csv_row last = {0};
	sigset_t set;
	bool live;
	double cpu0, cpu1;
	int rc, sig;

	cfg->log_dir = outdir;
	cfg->log_level = o->log_level;
	cfg->metrics_dir = outdir;
	cfg->trace = o->trace;
	cfg->ntrace = o->ntrace;
	cfg->playout = o->playout;
	cfg->nplayout = o->nplayout;
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
	rc = cr_node_create(cfg, &node, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "crystal run: %s\n", err);
		return 2;
	}
	if (mkdir_p(outdir)) {
		fprintf(stderr,
			"crystal run: the run directory %s cannot be made: %s "
			"(choose another with --out)\n",
			outdir, strerror(errno));
		rc = 2;
		goto out;
	}
	if (write_inputs(o, outdir, err, sizeof(err)) ||
	    cr_node_csv_open(&nc, outdir, err, sizeof(err))) {
		fprintf(stderr, "crystal run: %s\n", err);
		rc = 2;
		goto out;
	}

	/* Signals go to supervise(), never to a worker. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	cr__log_install_crash_handler();

	rc = cr_node_start(node, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "crystal run: %s\n", err);
		rc = 1;
		goto out;
	}
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
	{
		/* node.csv's last row: the counters as the workers ended,
		 * at the end's time; the CPU until then, not the closing */
		uint64_t peers;
		int64_t now;
		double cont;
		last.t_ns = res.elapsed_ns;
		cr_node_live(node, &now, &last.data_bytes_in, &peers);
		cr_node_live_stream(node, &last.peers_alive, &cont);
		cr_node_csv_final(&nc, &last);
	}
	if (cr_node_csv_close(&nc))
		fprintf(stderr, "crystal run: cannot write %s/node.csv: %s\n",
			outdir, strerror(errno));
	if (cr_node_metrics_error(node))
		fprintf(stderr, "crystal run: %s\n",
			cr_node_metrics_error(node));
	if (write_summary(outdir, o, cfg, algo, &res, started, cpu1 - cpu0)) {
		rc = 1;
		goto out;
	}
	if (res.degraded)
		fprintf(stderr,
			"crystal run: warning: emulation fidelity degraded: %s "
			"(the machine did not keep up; see summary.json)\n",
			res.degraded_reason);
	{
		uint64_t hits = 0;
		for (int k = 0; k < CR__LIMIT_N; k++)
			hits += res.limit_hits[k];
		if (hits)
			fprintf(stderr,
				"crystal run: warning: the limits on what a "
				"remote may hold refused or closed %llu "
				"connections (see \"limits\" in summary.json, "
				"and the worker logs)\n",
				(unsigned long long)hits);
	}
	if (!o->quiet) {
		char cum[32], per[32], tail[32];
		human_rate(res.cumulative_rate_Bps, cum, sizeof(cum));
		human_rate(res.per_peer_rate_Bps, per, sizeof(per));
		human_rate(res.tail_rate_Bps, tail, sizeof(tail));
		printf("%s: %llu peers, %.2f s%s\n"
		       "  cumulative rate %s, per peer %s, tails %s\n"
		       "  %llu messages switched, %llu bad frames\n"
		       "  results in %s/summary.json\n",
		       algo->name, (unsigned long long)res.peers,
		       (double)res.elapsed_ns / 1e9,
		       res.interrupted ? " (interrupted)" : "", cum, per, tail,
		       (unsigned long long)res.messages_switched,
		       (unsigned long long)res.bad_frames, outdir);
	}
	rc = sig == SIGINT ? 130 : sig == SIGTERM ? 143 : 0;
out:
	cr_node_destroy(node);
	return rc;
}

/* The run directory (--out, or runs/NAME-UTC) and the start time. */
static void run_dir(const struct run_opts *o, const char *name, char *dir,
		    size_t dirlen, char *started, size_t slen)
{
	time_t t0 = time(NULL);
	struct tm tm0;
	char stamp[32];

	gmtime_r(&t0, &tm0);
	strftime(started, slen, "%Y-%m-%dT%H:%M:%SZ", &tm0);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm0);
	if (o->out)
		snprintf(dir, dirlen, "%s", o->out);
	else
		snprintf(dir, dirlen, "runs/%s-%s", name, stamp);
}

#define GIVEN(o, opt) ((o)->given & (1ull << ((opt)-256)))

/* The --scale-upload factor of a class: its own, or every class's, or 1. */
static double scale_of(const struct run_opts *o, const char *cls)
{
	double f = 1;

	for (size_t i = 0; i < o->nscale; i++) {
		const struct scale *sc = &o->scale[i];
		if (!sc->cls)
			f = sc->factor;
		else if (strlen(cls) == sc->cls_len &&
			 !strncmp(cls, sc->cls, sc->cls_len))
			return sc->factor;
	}
	return f;
}

/* Every class --scale-upload names is one of the file's; 0 or exit 2. */
static int check_scale(const struct run_opts *o, const struct cr_experiment *e)
{
	for (size_t i = 0; i < o->nscale; i++) {
		const struct scale *sc = &o->scale[i];
		char names[512] = "";
		size_t k;

		if (!sc->cls)
			continue;
		for (k = 0; k < e->nclasses; k++)
			if (strlen(e->classes[k].name) == sc->cls_len &&
			    !strncmp(e->classes[k].name, sc->cls, sc->cls_len))
				break;
		if (k < e->nclasses)
			continue;
		for (k = 0; k < e->nclasses; k++)
			snprintf(names + strlen(names),
				 sizeof(names) - strlen(names), "%s%s",
				 k ? ", " : "", e->classes[k].name);
		fprintf(stderr,
			"crystal run: --scale-upload %.*s=%g: %s has no class "
			"'%.*s' (its classes: %s)\n",
			(int)sc->cls_len, sc->cls, sc->factor, o->file,
			(int)sc->cls_len, sc->cls, names);
		return 2;
	}
	return 0;
}

/* Command-line options over the file's values. */
static void override(const struct run_opts *o, struct cr_experiment *e)
{
	if (GIVEN(o, O_DURATION))
		e->duration_ns = o->duration_ns;
	if (GIVEN(o, O_WARMUP))
		e->warmup_ns = o->warmup_ns;
	if (GIVEN(o, O_BATCH))
		e->batch_ns = o->batch_ns;
	if (GIVEN(o, O_SEED))
		e->seed = o->seed;
	if (GIVEN(o, O_WORKERS))
		e->workers = (int)o->workers;
	if (GIVEN(o, O_QUEUE))
		e->queue_limit = o->queue_limit;
	if (GIVEN(o, O_MAXMSG))
		e->max_message = (uint32_t)o->max_msg;
	if (o->tracker_per_peer)
		e->tracker.max_sessions_per_peer = (uint32_t)o->tracker_per_peer;
	if (o->tracker_per_session)
		e->tracker.max_peers_per_session =
			(uint32_t)o->tracker_per_session;
	if (GIVEN(o, O_MAXCONNS))
		e->max_connections = (uint32_t)o->max_conns;
	if (GIVEN(o, O_IDLE))
		e->idle_timeout_ns = o->idle_timeout_ns;
	if (GIVEN(o, O_FRAMETIME))
		e->frame_timeout_ns = o->frame_timeout_ns;
	if (GIVEN(o, O_PARTIAL))
		e->partial_limit = o->partial_limit;
	if (GIVEN(o, O_MATRIX))
		snprintf(e->matrix_path, sizeof(e->matrix_path), "%s",
			 o->matrix_path);
	for (size_t i = 0; i < e->nsessions; i++) {
		if (GIVEN(o, O_MSGSIZE))
			e->sessions[i].message_size = (uint32_t)o->msg_size;
		if (GIVEN(o, O_RATE))
			e->sessions[i].rate_Bps = o->rate_Bps;
	}
	for (size_t i = 0; i < e->nclasses; i++) {
		cr_link_limits *l = &e->classes[i].limits;
		if (GIVEN(o, O_UPLOAD))
			l->upload_Bps = o->lim.upload_Bps;
		if (GIVEN(o, O_DOWNLOAD))
			l->download_Bps = o->lim.download_Bps;
		if (GIVEN(o, O_TOTAL))
			l->total_Bps = o->lim.total_Bps;
		if (GIVEN(o, O_LINK_UP))
			l->link_upload_Bps = o->lim.link_upload_Bps;
		if (GIVEN(o, O_LINK_DOWN))
			l->link_download_Bps = o->lim.link_download_Bps;
		if (GIVEN(o, O_DELAY))
			l->access_delay_ns = o->lim.access_delay_ns;
		if (GIVEN(o, O_JITTER))
			l->jitter_ns = o->lim.jitter_ns;
		if (GIVEN(o, O_LOSS))
			l->loss = o->lim.loss;
		/* unlimited stays unlimited; a limit never rounds to none */
		if (l->upload_Bps) {
			double up = (double)l->upload_Bps *
				    scale_of(o, e->classes[i].name);
			l->upload_Bps = up < 1 ? 1 : (uint64_t)llround(up);
		}
	}
}

/* Reads the experiment file and builds its plan; 0 or exit status 2. */
static int from_file(struct run_opts *o, struct cr_experiment *e,
		     struct cr_plan *pl, const cr_algorithm **algo)
{
	char err[1024];

	if (cr_experiment_load(o->file, e, err, sizeof(err))) {
		fprintf(stderr, "crystal run: %s\n", err);
		return 2;
	}
	if (check_scale(o, e))
		return 2;
	if ((o->tracker_per_peer || o->tracker_per_session) &&
	    (e->tracker.mode != CR_TRACKER_INPROC || e->topology_path[0])) {
		fprintf(stderr,
			"crystal run: %s applies to a tracker in this node, and "
			"%s has none%s\n",
			opt_name(o->tracker_per_peer ? O_TRK_PER_PEER
						     : O_TRK_PER_SESSION),
			o->file,
			e->tracker.mode == CR_TRACKER_EXTERNAL
				? ": give it to crystal tracker, or set it in "
				  "the file's [tracker]"
				: "");
		return 2;
	}
	override(o, e);
	if (e->warmup_ns >= e->duration_ns && GIVEN(o, O_DURATION) &&
	    !GIVEN(o, O_WARMUP)) {
		fprintf(stderr,
			"crystal run: --duration %g s is not longer than the "
			"warm-up of %s (%g s): give a shorter --warmup with "
			"it, such as --warmup 0\n",
			(double)e->duration_ns / 1e9, o->file,
			(double)e->warmup_ns / 1e9);
		return 2;
	}
	if (e->warmup_ns >= e->duration_ns) {
		fprintf(stderr, "crystal run: the warm-up (%.3f s) must be "
				"shorter than the duration (%.3f s)\n",
			(double)e->warmup_ns / 1e9, (double)e->duration_ns / 1e9);
		return 2;
	}
	*algo = cr__algorithm_find(GIVEN(o, O_ALGO) ? o->algorithm
				   : e->algorithm[0]	? e->algorithm
							: "relay",
				   err, sizeof(err));
	if (!*algo) {
		if (GIVEN(o, O_ALGO))
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

static int run_file(struct run_opts *o)
{
	struct cr_experiment e;
	struct cr_plan pl;
	const cr_algorithm *algo;
	char outdir[4096], started[32];
	int rc;

	rc = from_file(o, &e, &pl, &algo);
	if (!rc && (rc = check_file_addrs(o, &e)))
		cr_plan_free(&pl);
	if (rc) {
		cr_experiment_free(&e);
		return rc;
	}
	o->experiment = &e;
	pl.cfg.busy_poll = o->busy_poll; /* a property of the machine's use */
	pl.cfg.spin_budget = o->spin_budget;
	run_dir(o, e.name, outdir, sizeof(outdir), started, sizeof(started));
	rc = execute(o, &pl.cfg, algo, outdir, started);
	cr_plan_free(&pl);
	cr_experiment_free(&e);
	return rc;
}

/* The built-in mesh: the experiment made from the options, then planned
 * as an experiment file is (src/scenario/mesh.c). */
static int run_mesh(struct run_opts *o, const cr_algorithm *algo,
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
	run_dir(o, "mesh", outdir, sizeof(outdir), started, sizeof(started));
	rc = execute(o, &pl.cfg, algo, outdir, started);
	o->experiment = NULL;
	cr_plan_free(&pl);
	cr_experiment_free(&e);
	return rc;
}

static int run_cmd(int argc, char **argv, char **typed)
{
	struct run_opts o;
	struct cr_node_config cfg = {0};
	struct cr__source_cfg src = {0};
	struct cr_chains chains;
	const cr_algorithm *algo;
	cr_addr base;
	struct cr_latency *matrix = NULL;
	cr_link_limits source_lim;
	char err[512], outdir[4096], started[32], ipport[128], idtext[256];
	int rc;

	rc = parse_opts(argc, argv, &o);
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
	if (check_base(&o, &base))
		return 2;
	if (o.mesh)
		return run_mesh(&o, algo, &base, ipport);
	if (cr_chains_build(&chains, &base, o.peers, o.chain_len, err,
			    sizeof(err))) {
		fprintf(stderr, "crystal run: %s\n", err);
		return 2;
	}

	run_dir(&o, "chains", outdir, sizeof(outdir), started, sizeof(started));

	src.peer_index = 0;
	src.session = 1;
	src.msg_size = (uint32_t)o.msg_size;
	src.rate_Bps = o.rate_Bps;
	src.count = o.count;

	cfg.name = "chains";
	/* The hello names the experiment: runs that differ in what they are
	 * never take each other's connections. */
	snprintf(idtext, sizeof(idtext), "chains %s %llu %llu %llu", ipport,
		 (unsigned long long)o.peers, (unsigned long long)o.chain_len,
		 (unsigned long long)(o.seed ? o.seed : 1));
	cfg.exp_id = cr_node_experiment_id(idtext);
	cfg.duration_ns = o.duration_ns;
	cfg.workers = (int)o.workers;
	cfg.algo = algo;
	cfg.params = o.params;
	cfg.nparams = o.nparams;
	cfg.peers = chains.peers;
	cfg.npeers = chains.npeers;
	cfg.sources = &src;
	cfg.nsources = 1;
	cfg.max_msg_bytes = (uint32_t)o.max_msg;
	cfg.queue_limit = o.queue_limit;
	cfg.max_conns = (uint32_t)o.max_conns;
	cfg.idle_timeout_ns = o.idle_timeout_ns;
	cfg.frame_timeout_ns = o.frame_timeout_ns;
	cfg.partial_limit = o.partial_limit;
	if (o.source_upload_Bps) {
		source_lim = o.lim;
		source_lim.upload_Bps = o.source_upload_Bps;
		chains.peers[0].limits = &source_lim;
	}
	cfg.seed = o.seed ? o.seed : 1;
	cfg.warmup_ns = o.warmup_ns;
	cfg.batch_ns = o.batch_ns;
	cfg.busy_poll = o.busy_poll;
	cfg.spin_budget = o.spin_budget;
	cfg.limits = o.lim;
	if (o.matrix_path &&
	    cr_matrix_load(o.matrix_path, &matrix, &cfg.nmatrix, err,
			   sizeof(err))) {
		fprintf(stderr, "crystal run: --latency-matrix %s\n", err);
		cr_chains_free(&chains);
		return 2;
	}
	cfg.matrix = matrix;

	rc = execute(&o, &cfg, algo, outdir, started);
	cr_chains_free(&chains);
	free(matrix);
	return rc;
}

static void list_algorithm(const cr_algorithm *a)
{
	printf("%-12s %s\n", a->name, a->description ? a->description : "");
	if (!a->params || !a->params->name) {
		printf("    no parameters: it declares none, so crystal run "
		       "refuses every -D for it\n");
		return;
	}
	for (const cr_param_def *d = a->params; d->name; d++)
		printf("    -D %s=%s  %s\n", d->name,
		       d->default_value ? d->default_value : "",
		       d->help ? d->help : "(no description)");
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

int cr_cli_algorithms(int argc, char **argv)
{
	const cr_algorithm *const *all;
	size_t n = cr__algorithms(&all);
	char err[1024];
	int rc = 0;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs("usage: crystal algorithms [NAME|PATH...]\n"
		      "\n"
		      "Lists algorithms and the parameters they take (-D NAME=VALUE,\n"
		      "with its default): every built-in, or those named, a built-in's\n"
		      "name or the path of a shared object as --algorithm takes it\n"
		      "(./x.so).  Exit status 2 when one cannot be loaded.\n",
		      stdout);
		return 0;
	}
	if (argc < 2) {
		for (size_t i = 0; i < n; i++)
			list_algorithm(all[i]);
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		const cr_algorithm *a = cr__algorithm_find(argv[i], err,
							   sizeof(err));
		if (!a) {
			fprintf(stderr, "crystal algorithms: %s\n", err);
			rc = 2;
			continue;
		}
		list_algorithm(a);
	}
	return rc;
}
