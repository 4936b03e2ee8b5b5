/* crystal run: its options, one row each (opt.h).
 *
 * A row says how the option is read and checked, the --help lines that
 * explain it, what it does to an experiment file (the key it replaces, or
 * that it is refused there) and how summary.json's "parameters" reports
 * it.  The parser, --help, cr__run_override() and the parameters
 * (run-params.c) are all driven from here; what one option needs beyond
 * its row (--delay is halved into two access delays, --mesh changes
 * defaults) is in the code after the table.
 */
#include "../core/log.h"
#include "../core/units.h"
#include "../metrics/json.h"
#include "../scenario/mesh.h"
#include "opt.h"
#include "run.h"

#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define CMD "crystal run"
#define RUN(m) .off = offsetof(struct cr__run_opts, m)
#define EXP(type, m)                                                    \
	.exp_off = offsetof(type, m), .exp_width = sizeof(((type *)0)->m)
#define TOP(m) .file = CR__FILE_TOP, EXP(struct cr_experiment, m)
#define SESS(m) .file = CR__FILE_SESSIONS, EXP(struct cr_session_cfg, m)
#define CLASS(m) .file = CR__FILE_CLASSES, EXP(struct cr_peer_class, limits.m)
#define JSON(how, where, key) .json = how, .scope = where, .json_key = key
#define JFN(where, key, fn)                                             \
	.json = CR__JSON_FUNC, .scope = where, .json_key = key, .json_fn = fn

static int parse_param(const struct cr__opt *row, const char *arg, void *dst);
static int parse_playout(const struct cr__opt *row, const char *arg,
			 void *dst);
static int parse_trace(const struct cr__opt *row, const char *arg, void *dst);
static int parse_scale(const struct cr__opt *row, const char *arg, void *dst);
static int parse_spin(const struct cr__opt *row, const char *arg, void *dst);
static int parse_batch(const struct cr__opt *row, const char *arg, void *dst);
static int parse_level(const struct cr__opt *row, const char *arg, void *dst);
static int parse_coord(const struct cr__opt *row, const char *arg, void *dst);
/* given is a mask of 64 bits, one a row */
_Static_assert(CR__RUN_NROWS <= 64, "too many rows for cr__run_opts.given");
/* clang-format off */
const struct cr__opt cr__run_rows[CR__RUN_NROWS + 1] = {
    [CR__RUN_MESH] = {"mesh", 0, CR__OPT_FLAG, RUN(mesh),
	.section = "experiment:",
	.help = "the `mesh` experiment: the source and --peers peers, all\n"
		"born at 0 into session 1 and bootstrapped by a tracker\n"
		"(20 peers a reply) at the port after the last peer;\n"
		"a stream of 64KB/s in 1 s segments, for 20 s, played\n"
		"by vanilla, unless --rate, --duration and --algorithm\n"
		"say otherwise",
	.file = CR__FILE_OWN, JFN(CR__SCOPE_MESH, "mesh", cr__run_json_mesh)},
    [CR__RUN_PEERS] = {"peers", 0, CR__OPT_UINT, RUN(peers), 1, 1000000,
	"a whole number from 1 to 1000000", .arg = "N",
	.help = "(chains, mesh) peers besides the source (default 100)",
	.file = CR__FILE_REFUSED,
	JSON(CR__JSON_UINT, CR__SCOPE_BUILTIN, "receivers")},
    [CR__RUN_CHAIN] = {"chain-length", 0, CR__OPT_UINT, RUN(chain_len), 1,
	1000000, "a whole number from 1", .arg = "L",
	.help = "(chains) peers per chain (default 10)",
	.file = CR__FILE_REFUSED,
	JSON(CR__JSON_UINT, CR__SCOPE_CHAINS, "chain_length")},
    [CR__RUN_DURATION] = {"duration", 0, CR__OPT_TIME, RUN(duration_ns), 1, 0,
	"a positive time, such as 10, 2.5s or 500ms", .arg = "TIME",
	.help = "how long to run: 10, 2.5s, 500ms (default 10 s; mesh 20 s)",
	TOP(duration_ns), .exp_key = "duration",
	JSON(CR__JSON_SEC, CR__SCOPE_ALL, "configured_duration_s")},
    [CR__RUN_MSGSIZE] = {"message-size", 0, CR__OPT_SIZE, RUN(msg_size), 1,
	64u << 20, "1 byte to 64MiB: " CR_SIZE_FORMS, .arg = "SIZE",
	.help = "data message payload: 1024, 4KB, 40KiB (default 1024)",
	SESS(message_size), .exp_key = "message_size",
	JSON(CR__JSON_UINT, CR__SCOPE_BUILTIN, "message_size")},
    [CR__RUN_RATE] = {"rate", 0, CR__OPT_RATE, RUN(rate_Bps), .accepted =
	CR_RATE_FORMS, .arg = "RATE",
	.help = "source rate: 0 = as fast as the links take it (default;\n"
		"mesh 64KB/s), or 50000, 50KB/s, 2Mbit/s (1 KB = 1000 B)",
	SESS(rate_Bps), .exp_key = "rate",
	JSON(CR__JSON_UINT, CR__SCOPE_BUILTIN, "rate_Bps")},
    [CR__RUN_COUNT] = {"count", 0, CR__OPT_UINT, RUN(count), 0, UINT64_MAX / 2,
	"a whole number (0: no limit)", .arg = "N",
	.help = "(chains, mesh) the source stops after N messages\n"
		"(default: no limit)",
	.file = CR__FILE_REFUSED,
	JSON(CR__JSON_UINT, CR__SCOPE_BUILTIN, "count")},
    [CR__RUN_WARMUP] = {"warmup", 0, CR__OPT_TIME, RUN(warmup_ns), .accepted =
	CR_TIME_FORMS, .arg = "TIME",
	.help = "rates count only after this much time (default 0)",
	TOP(warmup_ns), .exp_key = "warmup",
	JSON(CR__JSON_SEC, CR__SCOPE_ALL, "warmup_s")},
    [CR__RUN_ALGO] = {"algorithm", 0, CR__OPT_STR, RUN(algorithm),
	.arg = "NAME|PATH",
	.help = "built-in algorithm, or a .so that defines\n"
		"`crystal_algorithm` (default relay; mesh vanilla)",
	.file = CR__FILE_OWN, .exp_key = "algorithm",
	JFN(CR__SCOPE_ALL, "algorithm", cr__run_json_algorithm)},
    [CR__RUN_PARAM] = {NULL, 'D', CR__OPT_FUNC, .parse = parse_param,
	.arg = "NAME=VALUE",
	.help = "a parameter for the algorithm (repeatable)",
	.file = CR__FILE_OWN, JFN(CR__SCOPE_ALL, "D", cr__run_json_params)},

    [CR__RUN_UPLOAD] = {"upload", 0, CR__OPT_RATE, RUN(lim.upload_Bps),
	.accepted = CR_RATE_FORMS, .arg = "RATE",
	.section = "links (every peer; rates as for --rate, 0 = unlimited):",
	.help = "each peer's upload limit",
	CLASS(upload_Bps), .exp_key = "upload",
	JSON(CR__JSON_UINT, CR__SCOPE_BUILTIN, "upload_Bps")},
    [CR__RUN_DOWNLOAD] = {"download", 0, CR__OPT_RATE, RUN(lim.download_Bps),
	.accepted = CR_RATE_FORMS, .arg = "RATE",
	.help = "each peer's download limit",
	CLASS(download_Bps), .exp_key = "download",
	JSON(CR__JSON_UINT, CR__SCOPE_BUILTIN, "download_Bps")},
    [CR__RUN_TOTAL] = {"total", 0, CR__OPT_RATE, RUN(lim.total_Bps),
	.accepted = CR_RATE_FORMS, .arg = "RATE",
	.help = "each peer's upload + download limit",
	CLASS(total_Bps), .exp_key = "total",
	JSON(CR__JSON_UINT, CR__SCOPE_BUILTIN, "total_Bps")},
    [CR__RUN_LINK_UP] = {"link-upload", 0, CR__OPT_RATE,
	RUN(lim.link_upload_Bps), .accepted = CR_RATE_FORMS, .arg = "RATE",
	.help = "each TCP connection's sending limit",
	CLASS(link_upload_Bps), .exp_key = "link_upload",
	JSON(CR__JSON_UINT, CR__SCOPE_BUILTIN, "link_upload_Bps")},
    [CR__RUN_LINK_DOWN] = {"link-download", 0, CR__OPT_RATE,
	RUN(lim.link_download_Bps), .accepted = CR_RATE_FORMS, .arg = "RATE",
	.help = "each TCP connection's receiving limit",
	CLASS(link_download_Bps), .exp_key = "link_download",
	JSON(CR__JSON_UINT, CR__SCOPE_BUILTIN, "link_download_Bps")},
    /* read whole into access_delay_ns, halved by cr__run_parse() */
    [CR__RUN_DELAY] = {"delay", 0, CR__OPT_TIME, RUN(lim.access_delay_ns),
	.accepted = CR_TIME_FORMS, .arg = "TIME",
	.help = "one-way delay of every link: 50ms (each peer's\n"
		"access delay is half of it)",
	CLASS(access_delay_ns), .exp_key = "delay",
	JFN(CR__SCOPE_BUILTIN, "delay_ms", cr__run_json_delay)},
    [CR__RUN_JITTER] = {"jitter", 0, CR__OPT_TIME, RUN(lim.jitter_ns),
	.accepted = CR_TIME_FORMS, .arg = "TIME",
	.help = "extra delay, uniform in [0, TIME]; TCP never reorders",
	CLASS(jitter_ns), .exp_key = "jitter",
	JSON(CR__JSON_MS, CR__SCOPE_BUILTIN, "jitter_ms")},
    [CR__RUN_LOSS] = {"loss", 0, CR__OPT_PROB, RUN(lim.loss), .accepted =
	"a probability from 0 to 1, such as 0.1", .arg = "P",
	.help = "UDP datagrams lost, 0..1 (0.1 = 10%)",
	CLASS(loss), .exp_key = "loss",
	JSON(CR__JSON_NUM, CR__SCOPE_BUILTIN, "loss")},
    [CR__RUN_MATRIX] = {"latency-matrix", 0, CR__OPT_STR, RUN(matrix_path),
	.arg = "FILE",
	.help = "one-way delays per pair of peers: lines\n"
		"`FROM TO DELAY` (e.g. 127.0.0.1:20001 127.0.0.1:20002 35ms)",
	TOP(matrix_path), .exp_key = "latency_matrix",
	JSON(CR__JSON_STR, CR__SCOPE_BUILTIN, "latency_matrix")},
    [CR__RUN_SRC_UP] = {"source-upload", 0, CR__OPT_RATE,
	RUN(source_upload_Bps), .accepted = CR_RATE_FORMS, .arg = "RATE",
	.help = "(chains, mesh) the source's own upload limit (default: as\n"
		"the peers')",
	.file = CR__FILE_REFUSED,
	JSON(CR__JSON_UINT, CR__SCOPE_BUILTIN, "source_upload_Bps")},
    [CR__RUN_SCALE_UP] = {"scale-upload", 0, CR__OPT_FUNC,
	.parse = parse_scale, .arg = "[CLASS=]F",
	.help = "(file) multiply every class's upload limit by F\n"
		"(0.75: a quarter less), or CLASS's only, which then\n"
		"takes no other factor (repeatable: --scale-upload 0.5\n"
		"--scale-upload source=1 scales all but the source)",
	.file = CR__FILE_OWN,
	JFN(CR__SCOPE_FILE, "scale_upload", cr__run_json_scale)},
    [CR__RUN_SEED] = {"seed", 0, CR__OPT_UINT, RUN(seed), 0, UINT64_MAX,
	"a whole number", .arg = "N",
	.help = "seed for jitter, loss and source data (default 1)",
	TOP(seed), .exp_key = "seed",
	JFN(CR__SCOPE_ALL, "seed", cr__run_json_seed)},
    [CR__RUN_BATCH] = {"batch", 0, CR__OPT_FUNC, RUN(batch_ns),
	.parse = parse_batch, .arg = "TIME",
	.help = "releases due within TIME of a wake-up leave with it,\n"
		"up to TIME early: fewer wake-ups and system calls for\n"
		"coarser timing (default 20us, at most 100ms)",
	TOP(batch_ns), .exp_key = "batch",
	JFN(CR__SCOPE_ALL, "batch_us", cr__run_json_batch)},
    [CR__RUN_BUSY] = {"busy-poll", 0, CR__OPT_FLAG, RUN(busy_poll),
	.help = "workers never sleep: no wake-up lateness, a whole\n"
		"core per worker",
	JSON(CR__JSON_BOOL, CR__SCOPE_ALL, "busy_poll")},
    [CR__RUN_SPIN] = {"spin", 0, CR__OPT_FUNC, RUN(spin_budget),
	.parse = parse_spin, .arg = "off|auto|N%",
	.help = "a worker wakes early for its next release and spins\n"
		"the rest, using at most N% of a core (auto: 20%);\n"
		"default off (measured: no better on a VM)",
	JFN(CR__SCOPE_ALL, "spin_budget_percent", cr__run_json_spin)},

    [CR__RUN_WORKERS] = {"workers", 0, CR__OPT_UINT, RUN(workers), 1, 256,
	"a whole number from 1 to 256", .arg = "M", .section = "placement:",
	.help = "event loops (threads); default one per core",
	TOP(workers), .exp_key = "workers",
	JFN(CR__SCOPE_ALL, "workers", cr__run_json_workers)},
    [CR__RUN_ALGO_THREADS] = {"algorithm-threads", 0, CR__OPT_UINT,
	RUN(algorithm_threads), 1, CR__RUN_POOL_MAX,
	"a whole number from 1 to 1024", .arg = "N",
	.help = "threads of the pool that runs the algorithm's work\n"
		"(cr_work_submit); default one per core",
	TOP(algorithm_threads), .exp_key = "algorithm_threads",
	JFN(CR__SCOPE_ALL, "algorithm_threads", cr__run_json_algo_threads)},
    [CR__RUN_IP] = {"ip", 0, CR__OPT_STR, RUN(ip), .arg = "ADDR",
	.help = "(chains, mesh) the peers' IP address (default 127.0.0.1)",
	.file = CR__FILE_REFUSED, JSON(CR__JSON_STR, CR__SCOPE_BUILTIN, "ip")},
    [CR__RUN_BASEPORT] = {"base-port", 0, CR__OPT_UINT, RUN(base_port), 1,
	65535, "a port from 1 to 65535", .arg = "P",
	.help = "(chains, mesh) the source's port; peers follow (default\n"
		"20000)",
	.file = CR__FILE_REFUSED,
	JSON(CR__JSON_UINT, CR__SCOPE_BUILTIN, "base_port")},

    [CR__RUN_OUT] = {"out", 0, CR__OPT_STR, RUN(out), .arg = "DIR",
	.section = "output:",
	.help = "run directory (default runs/<name>-<UTC time>)"},
    [CR__RUN_LOGLEVEL] = {"log-level", 0, CR__OPT_FUNC, RUN(log_level),
	.parse = parse_level, .arg = "LEVEL",
	.help = "error, warn, info, debug or trace (default info)"},
    [CR__RUN_TRACE] = {"trace", 0, CR__OPT_FUNC, .parse = parse_trace,
	.arg = "PEER",
	.help = "log this peer at trace level: every message in and\n"
		"out, segments played and missed; IP:port, or a\n"
		"pattern such as '127.0.0.1:2001*' (repeatable)"},
    [CR__RUN_QUIET] = {"quiet", 0, CR__OPT_FLAG, RUN(quiet),
	.help = "no status line and no summary on stdout"},
    [CR__RUN_PLAYOUT] = {"play-out", 0, CR__OPT_FUNC, .parse = parse_playout,
	.arg = "PEER=PATH",
	.help = "write what this peer plays, in playback order, to a\n"
		"file or FIFO: 127.0.0.1:20050=out.ts (repeatable; a\n"
		"FIFO's reader must open it for the run to start)"},

    [CR__RUN_MAXMSG] = {"max-message", 0, CR__OPT_SIZE, RUN(max_msg), 64,
	1u << 30, "64 bytes to 1GiB: " CR_SIZE_FORMS, .arg = "SIZE",
	.section = "limits:",
	.help = "largest payload accepted from the wire (default 16MiB)",
	TOP(max_message), .exp_key = "max_message"},
    [CR__RUN_QUEUE] = {"queue-limit", 0, CR__OPT_SIZE, RUN(queue_limit), 4096,
	0, "at least 4KiB (4096 bytes): " CR_SIZE_FORMS, .arg = "SIZE",
	.help = "bytes a peer may queue before it stops reading its\n"
		"inputs and TCP pushes back (default 256KiB)",
	TOP(queue_limit), .exp_key = "queue_limit",
	JFN(CR__SCOPE_ALL, "queue_limit", cr__run_json_queue)},
    [CR__RUN_TRK_PER_PEER] = {"tracker-max-sessions-per-peer", 0,
	CR__OPT_UINT, RUN(tracker_per_peer), 1, 65536,
	"a whole number from 1 to 65536", .arg = "N",
	.help = "(mesh, file) sessions one peer\n"
		"address may register in with the tracker in this\n"
		"node, 1 to 65536; past it a REGISTER is refused\n"
		"(default 16)",
	TOP(tracker.max_sessions_per_peer),
	.exp_key = "[tracker] max_sessions_per_peer"},
    [CR__RUN_TRK_PER_SESSION] = {"tracker-max-peers-per-session", 0,
	CR__OPT_UINT, RUN(tracker_per_session), 1, UINT32_MAX,
	"a whole number from 1 to 4294967295", .arg = "N",
	.help = "(mesh, file) peers one session may\n"
		"hold at that tracker, from 1 (default 65536)",
	TOP(tracker.max_peers_per_session),
	.exp_key = "[tracker] max_peers_per_session"},
    [CR__RUN_MAXCONNS] = {"max-connections", 0, CR__OPT_UINT, RUN(max_conns),
	0, UINT32_MAX, "a whole number (0: twice the experiment's peers, "
	"plus 64)", .arg = "N",
	.help = "connections a peer keeps: more incoming ones are\n"
		"closed at once (default 0: twice the experiment's\n"
		"peers, plus 64; the tracker is never capped)",
	TOP(max_connections), .exp_key = "max_connections"},
    [CR__RUN_IDLE] = {"idle-timeout", 0, CR__OPT_TIME, RUN(idle_timeout_ns),
	.accepted = CR_TIME_FORMS " (0: automatic)", .arg = "TIME",
	.help = "an incoming connection that sends nothing after its\n"
		"hello for this long is closed",
	TOP(idle_timeout_ns), .exp_key = "idle_timeout"},
    [CR__RUN_FRAMETIME] = {"frame-timeout", 0, CR__OPT_TIME,
	RUN(frame_timeout_ns), .accepted = CR_TIME_FORMS " (0: automatic)",
	.arg = "TIME",
	.help = "a frame begun must be finished within TIME, or its\n"
		"connection is closed (both default 0: 30 s, plus\n"
		"what the slowest link and the largest message add)",
	TOP(frame_timeout_ns), .exp_key = "frame_timeout"},
    [CR__RUN_PARTIAL] = {"partial-frames-limit", 0, CR__OPT_SIZE,
	RUN(partial_limit), .accepted = CR_SIZE_FORMS " (0: 256MiB)",
	.arg = "SIZE",
	.help = "bytes of unfinished frames the node holds;\n"
		"past it the connection with the largest is closed\n"
		"(default 256MiB)",
	TOP(partial_limit), .exp_key = "partial_frames_limit"},
    [CR__RUN_COORD] = {"coordinator", 0, CR__OPT_FUNC, RUN(coordinator),
	.parse = parse_coord, .arg = "IP:PORT",
	.section = "several hosts (an experiment file whose peers span hosts):",
	.help = "where the run's coordinator listens: the node that\n"
		"has this IP coordinates; every node must be given the\n"
		"same (default: the file's coordinator key, else the\n"
		"first peer's IP at port 19990)",
	.file = CR__FILE_OWN, .exp_key = "coordinator"},
    [CR__RUN_BARRIER] = {"barrier-timeout", 0, CR__OPT_TIME,
	RUN(barrier_timeout_ns), 1, 0,
	"a positive time, such as 60 or 90s", .arg = "TIME",
	.help = "how long the nodes wait for each other at the start\n"
		"before giving up, naming those that never came\n"
		"(default 60 s)",
	.file = CR__FILE_OWN},
    [CR__RUN_HELP] = {.name = "help", .short_name = 'h', .kind = CR__OPT_HELP},
};


static const struct cr__cmd run_cmd = {
	.name = CMD,
	.opts = cr__run_rows,
	.help_col = 23,
	.head =
	"usage: crystal run [options]\n"
	"\n"
	"Runs the built-in `chains` experiment: a source feeds chains of peers\n"
	"(10 per chain) that relay its stream, as in the Crystal paper's benchmark;\n"
	"with --mesh, the built-in `mesh`: a source and peers that find each other\n"
	"through a tracker, for any algorithm; with a file, that experiment.\n",
	.tail =
	"\n"
	"The run directory gets summary.json, per-second CSV files of the node, its\n"
	"workers and every peer, the input files and one log per worker\n"
	"(docs/run-directory.md).  Exit codes:\n"
	"0 done, 1 failed while running, 2 bad usage or input, 130/143 ended by\n"
	"SIGINT/SIGTERM (the summary is written, with \"interrupted\": true).\n",
};
/* clang-format on */

const char *cr__run_opt_name(enum cr__run_row row)
{
	static char buf[40];

	return cr__opt_label(&cr__run_rows[row], buf, sizeof(buf));
}

static int bad(const struct cr__opt *row, const char *val,
	       const char *accepted)
{
	char label[40];

	return cr__opt_bad(CMD, cr__opt_label(row, label, sizeof(label)), val,
			   accepted);
}

/* --- the options read by their own code ----------------------------------- */

/* -D NAME=VALUE: cut at the '=', kept in argv (cr_cli_run keeps a copy of
 * the line as typed). */
static int parse_param(const struct cr__opt *row, const char *arg, void *dst)
{
	struct cr__run_opts *o = dst;
	char *eq = strchr(arg, '=');

	if (!eq || eq == arg)
		return bad(row, arg, "NAME=VALUE");
	if (o->nparams == CR__RUN_MAX_PARAMS)
		return bad(row, arg, "at most 64 parameters");
	*eq = 0;
	o->params[o->nparams++] = (struct cr_node_param){arg, eq + 1};
	return 0;
}

/* --play-out IP:port=PATH, cut at the '=' as -D is. */
static int parse_playout(const struct cr__opt *row, const char *arg,
			 void *dst)
{
	static const char form[] = "IP:port=PATH, such as "
				   "127.0.0.1:20050=out.ts";
	struct cr__run_opts *o = dst;
	char *eq = strchr(arg, '=');

	if (!eq || !eq[1])
		return bad(row, arg, form);
	if (o->nplayout == CR__RUN_MAX_PLAYOUT)
		return bad(row, arg, "at most 16 of them");
	*eq = 0;
	if (cr_addr_parse(&o->playout[o->nplayout].addr, arg)) {
		*eq = '=';
		return bad(row, arg, form);
	}
	o->playout[o->nplayout++].path = eq + 1;
	return 0;
}

static int parse_trace(const struct cr__opt *row, const char *arg, void *dst)
{
	struct cr__run_opts *o = dst;

	if (!*arg)
		return bad(row, arg, "IP:port or a pattern of them");
	if (o->ntrace == CR__RUN_MAX_TRACE)
		return bad(row, arg, "at most 64 of them");
	o->trace[o->ntrace++] = arg;
	return 0;
}

/* --scale-upload's value, kept in o: 0, or exit status 2 (with the
 * message) for no factor, a class named twice, or two factors for every
 * class. */
static int parse_scale(const struct cr__opt *row, const char *arg, void *dst)
{
	struct cr__run_opts *o = dst;
	const char *eq = strchr(arg, '='), *num = eq ? eq + 1 : arg;
	struct cr__scale sc = {eq ? arg : NULL, eq ? (size_t)(eq - arg) : 0, 0};
	char *end;

	sc.factor = strtod(num, &end);
	if (end == num || *end ||
	    !(sc.factor > 0 && sc.factor <= CR__RUN_SCALE_MAX) ||
	    (eq && eq == arg))
		return bad(row, arg,
			   "a factor above 0 and at most 1000, such as 0.75, "
			   "or CLASS=FACTOR for one class");
	for (size_t i = 0; i < o->nscale; i++)
		if (o->scale[i].cls_len == sc.cls_len &&
		    (!sc.cls ||
		     !strncmp(o->scale[i].cls, sc.cls, sc.cls_len))) {
			fprintf(stderr,
				CMD ": --scale-upload '%s': %s%.*s is "
				    "scaled twice\n",
				arg, sc.cls ? "class " : "every class",
				(int)sc.cls_len, sc.cls ? sc.cls : "");
			return 2;
		}
	if (o->nscale == CR__RUN_MAX_SCALE)
		return bad(row, arg, "at most 64 of them");
	o->scale[o->nscale++] = sc;
	return 0;
}

/* --spin: "off" (0), "auto" (CR__SPIN_BUDGET) or N% of a core, 1 to
 * 100. */
static int parse_spin(const struct cr__opt *row, const char *arg, void *dst)
{
	double *budget = (double *)((char *)dst + row->off);
	char *end;
	double pct;

	if (!strcmp(arg, "auto")) {
		*budget = CR__SPIN_BUDGET;
		return 0;
	}
	if (!strcmp(arg, "off")) {
		*budget = 0;
		return 0;
	}
	pct = strtod(arg, &end);
	if (end == arg || strcmp(end, "%") || !(pct >= 1 && pct <= 100))
		return bad(row, arg,
			   "auto, off, or a share of a core from 1% to 100%");
	*budget = pct / 100;
	return 0;
}

/* --batch: a time, and one the shaper takes. */
static int parse_batch(const struct cr__opt *row, const char *arg, void *dst)
{
	int64_t *ns = (int64_t *)((char *)dst + row->off);

	if (cr_parse_time(arg, CR_SEC, ns))
		return bad(row, arg, CR_TIME_FORMS);
	if (*ns > CR__NODE_BATCH_MAX)
		return bad(row, arg, "a time from 0 to 100ms");
	return 0;
}

static int parse_level(const struct cr__opt *row, const char *arg, void *dst)
{
	int lvl = cr__log_level_parse(arg);

	if (lvl < 0)
		return bad(row, arg, "error, warn, info, debug or trace");
	*(int *)((char *)dst + row->off) = lvl;
	return 0;
}

static int parse_coord(const struct cr__opt *row, const char *arg, void *dst)
{
	cr_addr *a = (cr_addr *)((char *)dst + row->off);

	if (cr_addr_parse(a, arg) || !a->port)
		return bad(row, arg,
			   "IP:PORT, such as 10.0.0.1:19990 or [::1]:19990");
	return 0;
}

/* --- parsing -------------------------------------------------------------- */

static bool given(const struct cr__run_opts *o, enum cr__run_row row)
{
	return CR__RUN_GIVEN(o, row);
}

/* With a file: the options that only the built-ins take; 0 or 2. */
static int check_file_opts(const struct cr__run_opts *o)
{
	for (int i = 0; i < CR__RUN_NROWS; i++) {
		if (cr__run_rows[i].file != CR__FILE_REFUSED || !given(o, i))
			continue;
		fprintf(stderr,
			CMD ": %s applies to the built-in chains experiment, "
			    "not to %s (set it in the file)\n",
			cr__run_opt_name(i), o->file);
		return 2;
	}
	return 0; /* the file's values are checked when it is read */
}

/* The built-ins' options, together; 0 or exit status 2. */
static int check_builtin_opts(const struct cr__run_opts *o)
{
	if (!o->mesh && (o->tracker_per_peer || o->tracker_per_session)) {
		fprintf(stderr,
			CMD ": %s: the chains experiment has no tracker "
			    "(--mesh has one, as may an experiment file)\n",
			cr__run_opt_name(o->tracker_per_peer
						 ? CR__RUN_TRK_PER_PEER
						 : CR__RUN_TRK_PER_SESSION));
		return 2;
	}
	if (given(o, CR__RUN_COORD) || given(o, CR__RUN_BARRIER)) {
		fprintf(stderr,
			CMD ": %s applies to an experiment file whose peers "
			    "span hosts; the built-in chains and mesh run on "
			    "one\n",
			cr__run_opt_name(given(o, CR__RUN_COORD)
						 ? CR__RUN_COORD
						 : CR__RUN_BARRIER));
		return 2;
	}
	if (o->nscale) {
		fprintf(stderr,
			CMD ": --scale-upload scales the classes of an "
			    "experiment file; the built-in chains and mesh "
			    "take --upload and --source-upload\n");
		return 2;
	}
	if (o->warmup_ns >= o->duration_ns)
		return bad(&cr__run_rows[CR__RUN_WARMUP], "",
			   "less than --duration");
	if (o->msg_size > o->max_msg)
		return bad(&cr__run_rows[CR__RUN_MSGSIZE], "",
			   "no more than --max-message");
	return 0;
}

/* The operand (an experiment file) and the experiments' choice. */
static int check_experiment(int argc, char **argv, struct cr__run_opts *o)
{
	if (optind < argc)
		o->file = argv[optind++];
	if (optind < argc) {
		fprintf(stderr,
			CMD ": unexpected argument '%s' (see crystal run "
			    "--help)\n",
			argv[optind]);
		return 2;
	}
	if (o->file && o->mesh) {
		fprintf(stderr,
			CMD ": --mesh is a built-in experiment, %s is "
			    "another: give one or the other\n",
			o->file);
		return 2;
	}
	if (o->mesh && given(o, CR__RUN_CHAIN)) {
		fprintf(stderr, CMD ": --chain-length applies to the "
				    "chains experiment, not to --mesh\n");
		return 2;
	}
	return 0;
}

/* The options into o, checked together; 0 or exit status 2 (exits 0
 * after --help). */
int cr__run_parse(int argc, char **argv, struct cr__run_opts *o)
{
	int rc;

	*o = (struct cr__run_opts){
		.peers = 100,
		.chain_len = 10,
		.duration_ns = 10 * CR_SEC,
		.msg_size = 1024,
		.algorithm = "relay",
		.ip = "127.0.0.1",
		.base_port = 20000,
		.log_level = CR_LOG_INFO,
		.max_msg = 16u << 20,
		.queue_limit = CR__NODE_QUEUE_LIMIT,
		.barrier_timeout_ns = 60 * CR_SEC,
	};
	o->argc = argc;
	o->argv = argv;
	rc = cr__opt_parse(&run_cmd, argc, argv, o, &o->given);
	if (rc < 0)
		exit(0);
	if (rc || (rc = check_experiment(argc, argv, o)))
		return rc;
	/* a link's delay is the sum of both access delays */
	o->lim.access_delay_ns /= 2;
	if (o->mesh) {
		/* a stream that plays, long enough to see it, by an algorithm
		 * that builds a mesh (the relay would flood its cycles) */
		if (!given(o, CR__RUN_DURATION))
			o->duration_ns = CR_MESH_DURATION_NS;
		if (!given(o, CR__RUN_RATE))
			o->rate_Bps = CR_MESH_RATE_BPS;
		if (!given(o, CR__RUN_ALGO))
			o->algorithm = "vanilla";
	}
	if (o->file)
		return check_file_opts(o);
	return check_builtin_opts(o);
}

/* --- an experiment file's values ------------------------------------------ */

/* The option's value, at the row's offset in o, into the key at the row's
 * offset in obj. */
static void put(const struct cr__opt *row, const struct cr__run_opts *o,
		void *obj)
{
	const char *src = (const char *)o + row->off;
	char *dst = (char *)obj + row->exp_off;
	uint64_t v;

	if (row->kind == CR__OPT_STR) {
		snprintf(dst, row->exp_width, "%s", *(const char *const *)src);
		return;
	}
	if (row->kind == CR__OPT_PROB) {
		memcpy(dst, src, sizeof(double));
		return;
	}
	memcpy(&v, src, sizeof(v)); /* uint64_t, or int64_t for a time */
	if (row->exp_width == 4) {
		uint32_t x = (uint32_t)v;
		memcpy(dst, &x, sizeof(x));
	} else {
		memcpy(dst, &v, sizeof(v));
	}
}

/* The --scale-upload factor of a class: its own, or every class's, or 1. */
static double scale_of(const struct cr__run_opts *o, const char *cls)
{
	double f = 1;

	for (size_t i = 0; i < o->nscale; i++) {
		const struct cr__scale *sc = &o->scale[i];
		if (!sc->cls)
			f = sc->factor;
		else if (strlen(cls) == sc->cls_len &&
			 !strncmp(cls, sc->cls, sc->cls_len))
			return sc->factor;
	}
	return f;
}

/* Command-line options over the file's values: each given option that
 * replaces a key, then --scale-upload over the upload limits. */
void cr__run_override(const struct cr__run_opts *o, struct cr_experiment *e)
{
	for (int k = 0; k < CR__RUN_NROWS; k++) {
		const struct cr__opt *row = &cr__run_rows[k];

		if (!given(o, k))
			continue;
		if (row->file == CR__FILE_TOP)
			put(row, o, e);
		for (size_t i = 0; row->file == CR__FILE_SESSIONS &&
				   i < e->nsessions; i++)
			put(row, o, &e->sessions[i]);
		for (size_t i = 0; row->file == CR__FILE_CLASSES &&
				   i < e->nclasses; i++)
			put(row, o, &e->classes[i]);
	}
	for (size_t i = 0; i < e->nclasses; i++) {
		cr_link_limits *l = &e->classes[i].limits;
		/* unlimited stays unlimited; a limit never rounds to none */
		if (l->upload_Bps) {
			double up = (double)l->upload_Bps *
				    scale_of(o, e->classes[i].name);
			l->upload_Bps = up < 1 ? 1 : (uint64_t)llround(up);
		}
	}
}
