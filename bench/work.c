// SPDX-License-Identifier: MIT
/*
 * work - what running lengthy work on the thread pool (cr_work_submit)
 * buys a worker, against running it inside the peer's callback.
 *
 * One worker hosts --peers peers.  Each has a periodic timer every
 * --period-ms; at each tick it has a job of --work-ms of CPU (spinning on
 * its thread's CPU clock, as decoding a generation would).  Two modes:
 *
 *   inline  the job runs in the timer callback, on the worker;
 *   pool    the callback submits it (cr_work_submit) and its done records
 *           when it came back; a peer with CR_WORK_PEER_MAX jobs out skips
 *           the tick (counted).
 *
 * For each mode: the jobs done, how late the ticks ran against their due
 * times (p50, p99, max: what the worker's other peers would see of their
 * timers and links), the worker's timer lag p99 as the engine measures it,
 * and in pool mode the time from submit to done (p50, p99) and the CPU the
 * pool used (cr_work_cpu_ns).  A job that does not fit the period on the
 * worker (peers x work > period) makes the inline ticks ever later.
 *
 * Build: make -f bench/bench.mk build/bench/work
 * Run:   ip netns exec NS build/bench/work [--peers P] [--work-ms D]
 *        [--period-ms T] [--seconds S] [--threads N] [--port PORT]
 */
#include "engine/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SAMPLES 200000

static struct {
	int peers, work_ms, period_ms, seconds, threads, port;
	bool pool;
	int64_t *late, *rtt;
	size_t nlate, nrtt;
	uint64_t jobs, skipped;
	int64_t cpu_ns;
} b = {8, 2, 20, 3, 2, 27900, false, NULL, NULL, 0, 0, 0, 0, 0};

struct st {
	int64_t next_ns; /* the tick's due time */
};

static void spin_cpu_ms(int ms)
{
	struct timespec a, c;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	do
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c);
	while ((c.tv_sec - a.tv_sec) * 1000000000LL + (c.tv_nsec - a.tv_nsec) <
	       b.work_ms * 1000000LL);
}

static void job(void *arg)
{
	(void)arg;
	spin_cpu_ms(b.work_ms);
}

static void job_done(cr_peer *p, void *arg, int status)
{
	int64_t t0 = (int64_t)(intptr_t)arg;

	if (status)
		return;
	b.jobs++;
	if (b.nrtt < MAX_SAMPLES)
		b.rtt[b.nrtt++] = cr_now(p) - t0;
}

static void tick(cr_peer *p, void *arg)
{
	struct st *s = cr_state(p);
	int64_t now = cr_now(p);

	if (b.nlate < MAX_SAMPLES)
		b.late[b.nlate++] = now - s->next_ns;
	s->next_ns += (int64_t)b.period_ms * CR_MS;
	if (!b.pool) {
		spin_cpu_ms(b.work_ms);
		b.jobs++;
		return;
	}
	if (cr_work_submit(p, job, job_done, (void *)(intptr_t)now, NULL))
		b.skipped++;
}

static int boot(cr_peer *p)
{
	struct st *s = cr_state(p);
	/* spread over the period so that the peers' ticks do not coincide */
	int64_t first = (int64_t)(cr_self(p)->port - b.port) * b.period_ms *
			CR_MS / b.peers;

	s->next_ns = cr_now(p) + first;
	cr_timer_start(p, first, (int64_t)b.period_ms * CR_MS, tick, NULL);
	return 0;
}

static void destroy(cr_peer *p)
{
	b.cpu_ns += cr_work_cpu_ns(p);
}

static const cr_algorithm algo = {
    .api_version = CR_API_VERSION,
    .name = "work-bench",
    .state_size = sizeof(struct st),
    .bootstrap = boot,
    .destroy = destroy,
};

static int cmp64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, c = *(const int64_t *)y;

	return (a > c) - (a < c);
}

static double pct_ms(int64_t *v, size_t n, double q)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp64);
	return (double)v[(size_t)(q * (double)(n - 1))] / 1e6;
}

static int run(bool pool)
{
	struct cr_node_peer peers[256];
	struct cr_node_config cfg;
	struct cr_node_result r;
	cr_node *n;
	char err[256];

	memset(peers, 0, sizeof(peers));
	for (int i = 0; i < b.peers; i++) {
		peers[i].addr.family = 4;
		peers[i].addr.ip[0] = 127;
		peers[i].addr.ip[3] = 1;
		peers[i].addr.port = (uint16_t)(b.port + i);
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "work-bench";
	cfg.duration_ns = (int64_t)b.seconds * CR_SEC;
	cfg.workers = 1;
	cfg.algo = &algo;
	cfg.peers = peers;
	cfg.npeers = (size_t)b.peers;
	cfg.log_level = CR_LOG_ERROR;
	b.pool = pool;
	b.nlate = b.nrtt = 0;
	b.jobs = b.skipped = 0;
	b.cpu_ns = 0;
	if (cr_node_create(&cfg, &n, err, sizeof(err)) ||
	    cr_node_run(n, err, sizeof(err))) {
		fprintf(stderr, "work: %s\n", err);
		return 1;
	}
	cr_node_result(n, &r);
	cr_node_destroy(n);
	printf("%-6s %8llu %7llu %9.3f %9.3f %9.3f %9.3f", pool ? "pool" : "inline",
	       (unsigned long long)b.jobs, (unsigned long long)b.skipped,
	       pct_ms(b.late, b.nlate, 0.5), pct_ms(b.late, b.nlate, 0.99),
	       pct_ms(b.late, b.nlate, 1.0), (double)r.timer_lag_p99_ns / 1e6);
	if (pool)
		printf(" %9.3f %9.3f %8.3f\n", pct_ms(b.rtt, b.nrtt, 0.5),
		       pct_ms(b.rtt, b.nrtt, 0.99), (double)b.cpu_ns / 1e9);
	else
		printf(" %9s %9s %8s\n", "-", "-", "-");
	return 0;
}

static int arg_int(int argc, char **argv, int *i, int lo, int hi)
{
	const char *opt = argv[*i];
	char *end;
	long v;

	if (*i + 1 >= argc)
		goto bad;
	v = strtol(argv[++*i], &end, 10);
	if (*end || v < lo || v > hi)
		goto bad;
	return (int)v;
bad:
	fprintf(stderr, "work: %s takes a whole number from %d to %d\n", opt,
		lo, hi);
	exit(2);
}

int main(int argc, char **argv)
{
	char v[16];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--peers"))
			b.peers = arg_int(argc, argv, &i, 1, 256);
		else if (!strcmp(argv[i], "--work-ms"))
			b.work_ms = arg_int(argc, argv, &i, 0, 1000);
		else if (!strcmp(argv[i], "--period-ms"))
			b.period_ms = arg_int(argc, argv, &i, 1, 10000);
		else if (!strcmp(argv[i], "--seconds"))
			b.seconds = arg_int(argc, argv, &i, 1, 3600);
		else if (!strcmp(argv[i], "--threads"))
			b.threads = arg_int(argc, argv, &i, 1, 1024);
		else if (!strcmp(argv[i], "--port"))
			b.port = arg_int(argc, argv, &i, 1, 65000);
		else {
			fprintf(stderr, "usage: work [--peers P] [--work-ms D] "
					"[--period-ms T] [--seconds S] "
					"[--threads N] [--port PORT]\n");
			return 2;
		}
	}
	snprintf(v, sizeof(v), "%d", b.threads);
	setenv("UV_THREADPOOL_SIZE", v, 1);
	b.late = malloc(MAX_SAMPLES * sizeof(int64_t));
	b.rtt = malloc(MAX_SAMPLES * sizeof(int64_t));
	if (!b.late || !b.rtt)
		return 1;
	printf("%d peers on 1 worker, %d ms of CPU every %d ms each, %d s, "
	       "pool of %d\n",
	       b.peers, b.work_ms, b.period_ms, b.seconds, b.threads);
	printf("%-6s %8s %7s %9s %9s %9s %9s %9s %9s %8s\n", "mode", "jobs",
	       "skipped", "late_p50", "late_p99", "late_max", "lag_p99",
	       "rtt_p50", "rtt_p99", "pool_cpu");
	printf("%-6s %8s %7s %9s %9s %9s %9s %9s %9s %8s\n", "", "", "", "ms",
	       "ms", "ms", "ms", "ms", "ms", "s");
	if (run(false) || run(true))
		return 1;
	free(b.late);
	free(b.rtt);
	return 0;
}
