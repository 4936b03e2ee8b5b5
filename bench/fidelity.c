// SPDX-License-Identifier: MIT
/*
 * fidelity - how exactly Crystal's link emulation keeps the rates and
 * delays it is configured with, measured at the receivers, in-process.
 *
 * --links N sender/receiver pairs run at once in one node, each pair on its
 * own TCP connection over loopback.  Every sender's connection is limited to
 * --rate bytes/s (cr_link_limits.link_upload_Bps) and the link between the
 * two has a one-way delay of --delay (half of it the sender's access delay,
 * half the receiver's, as `crystal run --delay` sets it).
 *
 * --mode rate: every sender has a source that produces --message-size byte
 *   messages as fast as its link takes them.  Each receiver counts frame
 *   bytes (40-byte header + payload, the unit the limit is defined in) over
 *   the window [--warmup, --warmup + --seconds]: its rate is the bytes that
 *   arrived after its first arrival in the window over the time to its last
 *   one.  Rate error = measured / configured - 1, per link.
 *
 * --mode delay: every sender sends small probes (--probe-size bytes of
 *   payload) far below its link rate (at most a tenth of it), so that they
 *   never queue; each sender has its own phase, as independent senders do.
 *   Delay error = arrival - creation - (configured delay + the probe's
 *   transmission time at the link rate), per probe created in the window.
 *   A real link also takes frame/rate to transmit a frame; the emulation
 *   adds that time by design, so it is part of what is expected.
 *
 * --busy-poll: the node's workers never sleep (cr_node_config.busy_poll).
 *
 * Prints one line of key=value pairs.  Also reports the engine's own view of
 * its fidelity (summary.json's fidelity fields) and the process's CPU.
 *
 * Build (bench/run.sh does it):
 *   cc -std=gnu17 -O2 -D_GNU_SOURCE -Iinclude -Isrc bench/fidelity.c \
 *      build/libcrystal.a -luv -lpthread -ldl -lm -o build/bench/fidelity
 */
#include "core/log.h"
#include "core/wire.h"
#include "engine/node.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum mode { MODE_RATE, MODE_DELAY };

struct link_rec {
	uint64_t bytes; /* frame bytes received */
	uint64_t b0, b1;
	int64_t t0, t1;
	uint64_t in_window;
};

/* One measurement per process: the run's settings and what the receivers
 * saw.  A receiver's record is written only by its own worker; the delay
 * samples, from both workers, through an atomic index. */
static struct {
	size_t links;
	uint64_t rate;
	int64_t delay;
	enum mode mode;
	uint32_t msg;
	uint32_t probe;
	int64_t interval; /* between probes of one sender */
	int64_t warmup, window;
	int64_t expect; /* delay mode: configured delay + transmission */
	uint16_t base;
	int workers;
	uint64_t seed;
	bool busy_poll;
	struct link_rec *rec;
	int64_t *samples;
	size_t cap;
	_Atomic size_t nsamples;
	_Atomic uint64_t early; /* probes that arrived before they were due */
} B;

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Pair i: the sender at base + 2i, the receiver at base + 2i + 1. */
static size_t link_of(const cr_peer *p)
{
	return (size_t)(cr_self(p)->port - B.base) / 2;
}

static bool is_sender(const cr_peer *p)
{
	return (cr_self(p)->port - B.base) % 2 == 0;
}

static void probe_cb(cr_peer *p, void *arg)
{
	const cr_addr *down;
	cr_msg *m;

	(void)arg;
	if (cr_bootstrap_peers(p, &down) < 1)
		return;
	m = cr_msg_new(p, CR_MSG_DATA_MIN, 0, B.probe);
	if (!m)
		return;
	memset(cr_msg_payload_mut(m), 0, B.probe);
	cr_send(p, &down[0], m, CR_TCP);
	cr_msg_release(m);
}

static int fid_bootstrap(cr_peer *p)
{
	if (B.mode == MODE_DELAY && is_sender(p)) {
		/* the first probe opens the connection, long before the
		 * window; each sender has its own phase */
		int64_t phase =
		    (int64_t)(mix(B.seed ^ link_of(p)) % (uint64_t)B.interval);
		cr_timer_start(p, 100 * CR_MS + phase, B.interval, probe_cb,
			       NULL);
	}
	return 0;
}

static void fid_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	int64_t now = cr_now(p);

	if (cr_is_self(p, from)) {
		/* a sender's own source: onto its link */
		const cr_addr *down;
		if (cr_bootstrap_peers(p, &down) >= 1)
			cr_send(p, &down[0], m, CR_TCP);
		return;
	}
	if (B.mode == MODE_RATE) {
		struct link_rec *r = &B.rec[link_of(p)];
		r->bytes += cr_msg_len(m) + CR__HDR_SIZE;
		if (now >= B.warmup && now <= B.warmup + B.window) {
			if (!r->in_window++) {
				r->t0 = now;
				r->b0 = r->bytes;
			}
			r->t1 = now;
			r->b1 = r->bytes;
		}
		return;
	}
	int64_t created = cr_msg_created_ns(m);
	if (created < B.warmup || created > B.warmup + B.window)
		return;
	int64_t err = now - created - B.expect;
	if (err < 0)
		atomic_fetch_add(&B.early, 1);
	size_t i = atomic_fetch_add(&B.nsamples, 1);
	if (i < B.cap)
		B.samples[i] = err;
}

static const cr_algorithm fid_algo = {
    .api_version = CR_API_VERSION,
    .name = "fidelity",
    .bootstrap = fid_bootstrap,
    .process_data = fid_data,
};

/* --- options ------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: fidelity [options]\n"
	    "  --links N          sender/receiver pairs at once (default 1)\n"
	    "  --rate BPS         each link's rate, bytes/s (default 1000000)\n"
	    "  --delay NS         each link's one-way delay, ns (default 0)\n"
	    "  --mode rate|delay  saturate the links, or probe their delay\n"
	    "  --message-size B   rate mode: payload bytes (default 1024)\n"
	    "  --probe-size B     delay mode: payload bytes (default 64)\n"
	    "  --probe-interval NS  delay mode: least time between one\n"
	    "                     sender's probes (default 5 ms; never less\n"
	    "                     than 10 x a probe's time at the link rate)\n"
	    "  --warmup S         seconds before the window (default 1)\n"
	    "  --seconds S        the window, seconds (default 3)\n"
	    "  --base-port P      first port (default 28000)\n"
	    "  --workers W        event loops (default 2)\n"
	    "  --queue-limit B    bytes a peer queues (default: the engine's;\n"
	    "                     64 KB in rate mode with more than one link)\n"
	    "  --seed N           phases of the probes (default 1)\n");
}

static double num(const char *opt, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0)) {
		fprintf(stderr, "fidelity: %s: not a number: '%s'\n", opt, s);
		exit(2);
	}
	return v;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank quantile of sorted values. */
static int64_t q64(const int64_t *v, size_t n, double q)
{
	size_t k = (size_t)ceil(q * (double)n);

	if (!n)
		return 0;
	if (k < 1)
		k = 1;
	return v[k - 1];
}

static double qd(const double *v, size_t n, double q)
{
	size_t k = (size_t)ceil(q * (double)n);

	if (!n)
		return 0;
	if (k < 1)
		k = 1;
	return v[k - 1];
}

static double tv_s(struct timeval t)
{
	return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"links", required_argument, NULL, 'n'},
	    {"rate", required_argument, NULL, 'r'},
	    {"delay", required_argument, NULL, 'd'},
	    {"mode", required_argument, NULL, 'm'},
	    {"message-size", required_argument, NULL, 's'},
	    {"probe-size", required_argument, NULL, 'p'},
	    {"probe-interval", required_argument, NULL, 'i'},
	    {"warmup", required_argument, NULL, 'w'},
	    {"seconds", required_argument, NULL, 't'},
	    {"base-port", required_argument, NULL, 'b'},
	    {"workers", required_argument, NULL, 'W'},
	    {"queue-limit", required_argument, NULL, 'q'},
	    {"seed", required_argument, NULL, 'S'},
	    {"busy-poll", no_argument, NULL, 'B'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int64_t min_interval = 5 * CR_MS;
	size_t queue_limit = 0;
	int c;

	B.links = 1;
	B.rate = 1000000;
	B.msg = 1024;
	B.probe = 64;
	B.warmup = 1 * CR_SEC;
	B.window = 3 * CR_SEC;
	B.base = 28000;
	B.workers = 2;
	B.seed = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			B.links = (size_t)num("--links", optarg);
			break;
		case 'r':
			B.rate = (uint64_t)num("--rate", optarg);
			break;
		case 'd':
			B.delay = (int64_t)num("--delay", optarg);
			break;
		case 'm':
			if (!strcmp(optarg, "rate"))
				B.mode = MODE_RATE;
			else if (!strcmp(optarg, "delay"))
				B.mode = MODE_DELAY;
			else {
				fprintf(stderr,
					"fidelity: --mode rate or delay\n");
				return 2;
			}
			break;
		case 's':
			B.msg = (uint32_t)num("--message-size", optarg);
			break;
		case 'p':
			B.probe = (uint32_t)num("--probe-size", optarg);
			break;
		case 'i':
			min_interval = (int64_t)num("--probe-interval", optarg);
			break;
		case 'w':
			B.warmup = (int64_t)(num("--warmup", optarg) * 1e9);
			break;
		case 't':
			B.window = (int64_t)(num("--seconds", optarg) * 1e9);
			break;
		case 'b':
			B.base = (uint16_t)num("--base-port", optarg);
			break;
		case 'W':
			B.workers = (int)num("--workers", optarg);
			break;
		case 'q':
			queue_limit = (size_t)num("--queue-limit", optarg);
			break;
		case 'S':
			B.seed = (uint64_t)num("--seed", optarg);
			break;
		case 'B':
			B.busy_poll = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || !B.links || !B.rate || !B.msg || !B.probe ||
	    B.window <= 0 || B.workers < 1 ||
	    (uint64_t)B.base + 2 * B.links > 65535) {
		usage(stderr);
		return 2;
	}

	uint32_t pframe = B.probe + CR__HDR_SIZE;
	int64_t tx = (int64_t)((unsigned __int128)pframe * CR_SEC / B.rate);
	B.interval = 10 * tx > min_interval ? 10 * tx : min_interval;
	B.expect = B.delay + tx;
	if (B.mode == MODE_RATE && B.links > 1 && !queue_limit)
		queue_limit = 64 << 10;

	size_t npeers = 2 * B.links;
	struct cr_node_peer *peers = calloc(npeers, sizeof(*peers));
	cr_link_limits *lim = calloc(npeers, sizeof(*lim));
	cr_addr *boot = calloc(B.links, sizeof(*boot));
	struct cr__source_cfg *src = calloc(B.links, sizeof(*src));
	B.rec = calloc(B.links, sizeof(*B.rec));
	if (B.mode == MODE_DELAY) {
		double per = (double)B.window / (double)B.interval + 2;
		B.cap = (size_t)(per * (double)B.links) + 16;
		B.samples = malloc(B.cap * sizeof(*B.samples));
	}
	if (!peers || !lim || !boot || !src || !B.rec ||
	    (B.mode == MODE_DELAY && !B.samples)) {
		fprintf(stderr, "fidelity: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < npeers; i++) {
		cr_addr *a = &peers[i].addr;
		a->family = 4;
		a->ip[0] = 127;
		a->ip[3] = 1;
		a->port = (uint16_t)(B.base + i);
		peers[i].limits = &lim[i];
	}
	for (size_t i = 0; i < B.links; i++) {
		size_t s = 2 * i, r = s + 1;
		lim[s].link_upload_Bps = B.rate;
		lim[s].access_delay_ns = B.delay / 2;
		lim[r].access_delay_ns = B.delay - B.delay / 2;
		boot[i] = peers[r].addr;
		peers[s].boot = &boot[i];
		peers[s].nboot = 1;
		src[i].peer_index = (uint32_t)s;
		src[i].session = (uint16_t)(1 + i % 65000);
		src[i].msg_size = B.msg;
	}

	struct cr_node_config cfg = {0};
	cfg.name = "bench-fidelity";
	cfg.duration_ns = B.warmup + B.window + 300 * CR_MS;
	/* the engine judges its own fidelity over the same window as the
	 * receivers: set-up and the first fill of the links are not it */
	cfg.warmup_ns = B.warmup;
	cfg.workers = B.workers;
	cfg.algo = &fid_algo;
	cfg.peers = peers;
	cfg.npeers = npeers;
	cfg.sources = src;
	cfg.nsources = B.mode == MODE_RATE ? B.links : 0;
	cfg.queue_limit = queue_limit;
	cfg.seed = B.seed;
	cfg.busy_poll = B.busy_poll;
	cfg.log_level = CR_LOG_ERROR;

	struct cr_node_fd_budget fb;
	cr_node_fd_budget(&cfg, &fb);
	if (fb.needed > fb.available) {
		fprintf(stderr,
			"fidelity: %zu links need %" PRIu64
			" descriptors, %" PRIu64 " are available\n",
			B.links, fb.needed, fb.available);
		return 3;
	}

	char err[256];
	cr_node *n = NULL;
	if (cr_node_create(&cfg, &n, err, sizeof(err))) {
		fprintf(stderr, "fidelity: %s\n", err);
		return 1;
	}
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	double w0 = mono_s();
	if (cr_node_run(n, err, sizeof(err))) {
		fprintf(stderr, "fidelity: %s\n", err);
		return 1;
	}
	double wall = mono_s() - w0;
	getrusage(RUSAGE_SELF, &ru1);
	double cpu = 100.0 *
		     (tv_s(ru1.ru_utime) - tv_s(ru0.ru_utime) +
		      tv_s(ru1.ru_stime) - tv_s(ru0.ru_stime)) /
		     wall;
	struct cr_node_result res;
	cr_node_result(n, &res);

	printf("fidelity mode=%s links=%zu rate_Bps=%" PRIu64
	       " delay_ns=%" PRId64 " size=%u window_s=%.3f",
	       B.mode == MODE_RATE ? "rate" : "delay", B.links, B.rate, B.delay,
	       B.mode == MODE_RATE ? B.msg : B.probe, (double)B.window / 1e9);
	if (B.mode == MODE_RATE) {
		double *e = malloc(B.links * sizeof(*e));
		double sum_abs = 0, worst = 0, total = 0;
		size_t judged = 0;
		for (size_t i = 0; i < B.links; i++) {
			struct link_rec *r = &B.rec[i];
			double got = 0;
			if (r->in_window >= 3 && r->t1 > r->t0) {
				got = (double)(r->b1 - r->b0) * 1e9 /
				      (double)(r->t1 - r->t0);
				judged++;
			}
			total += got;
			e[i] = got / (double)B.rate - 1; /* -1: nothing came */
			sum_abs += fabs(e[i]);
			if (fabs(e[i]) > fabs(worst))
				worst = e[i];
		}
		for (size_t i = 0; i < B.links; i++)
			e[i] = fabs(e[i]);
		qsort(e, B.links, sizeof(*e), cmpd);
		printf(" links_measured=%zu measured_mean_Bps=%.1f"
		       " rate_err_mean_pct=%.4f rate_err_worst_pct=%.4f"
		       " rate_err_p50_pct=%.4f rate_err_p99_pct=%.4f",
		       judged, total / (double)B.links,
		       100 * sum_abs / (double)B.links, 100 * worst,
		       100 * qd(e, B.links, 0.5), 100 * qd(e, B.links, 0.99));
		free(e);
	} else {
		size_t ns = atomic_load(&B.nsamples);
		if (ns > B.cap)
			ns = B.cap;
		qsort(B.samples, ns, sizeof(*B.samples), cmp64);
		double mean = 0;
		for (size_t i = 0; i < ns; i++)
			mean += (double)B.samples[i];
		mean = ns ? mean / (double)ns : 0;
		printf(" expected_ns=%" PRId64 " probe_interval_ns=%" PRId64
		       " samples=%zu early=%" PRIu64
		       " delay_err_min_us=%.1f delay_err_mean_us=%.1f"
		       " delay_err_p50_us=%.1f delay_err_p99_us=%.1f"
		       " delay_err_max_us=%.1f",
		       B.expect, B.interval, ns, atomic_load(&B.early),
		       ns ? (double)B.samples[0] / 1e3 : 0, mean / 1e3,
		       (double)q64(B.samples, ns, 0.5) / 1e3,
		       (double)q64(B.samples, ns, 0.99) / 1e3,
		       ns ? (double)B.samples[ns - 1] / 1e3 : 0);
	}
	printf(
	    " cpu_percent=%.1f engine_fidelity=%s engine_timer_lag_p99_us=%.1f"
	    " engine_release_late_p99_us=%.1f engine_rate_err_mean_pct=%.4f"
	    " engine_rate_err_worst_pct=%.4f\n",
	    cpu,
	    !res.shaped	   ? "unshaped"
	    : res.degraded ? "degraded"
			   : "ok",
	    (double)res.timer_lag_p99_ns / 1e3, (double)res.late_p99_ns / 1e3,
	    100 * res.rate_err_mean, 100 * res.rate_err_worst);
	if (res.degraded)
		printf("fidelity_reason %s\n", res.degraded_reason);
	cr_node_destroy(n);
	free(peers);
	free(lim);
	free(boot);
	free(src);
	free(B.rec);
	free(B.samples);
	return 0;
}
