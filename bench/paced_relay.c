// SPDX-License-Identifier: MIT
/*
 * paced_relay - the CPU floor of relaying paced streams one frame per
 * system call: the baseline of the Fig. 6 and Fig. 7 benchmarks.
 *
 * --hops N relays in chains of --chain L over loopback TCP (TCP_NODELAY),
 * as Crystal's chains experiment has them.  Each chain's source writes one
 * --frame byte frame every frame/--rate seconds (a periodic timerfd; the
 * chains' timers are spread over one period, as independent streams are),
 * and every hop reads what arrives and writes it on at once; the tail
 * discards it.  A link limited to the rate carries one frame per write at
 * that spacing: this is what such relaying costs in system calls alone
 * (epoll_wait, read, write), with no framing, no shaping arithmetic and no
 * timer per link.  --threads T threads each own a contiguous share of the
 * chains, with one epoll each.
 *
 * Counts over --seconds after a warm-up of 0.5 s and prints one line: the
 * mean and the slowest chain's tail rate, the frames relayed per second
 * (over all hops) and the process's CPU time over the wall time (100 = one
 * core).  Each link costs two descriptors, each chain one more.
 *
 * Build: cc -std=gnu17 -O2 -pthread paced_relay.c -o paced_relay
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define IOSZ (64 * 1024)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "paced_relay: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A connected pair over loopback TCP: *w writes, *r reads. */
static void tcp_pair(int *w, int *r)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(l, 1) < 0 || getsockname(l, (struct sockaddr *)&a, &al) < 0)
		die("listen");
	*w = socket(AF_INET, SOCK_STREAM, 0);
	if (*w < 0 || connect(*w, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	*r = accept(l, NULL, NULL);
	if (*r < 0)
		die("accept");
	close(l);
	setsockopt(*w, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(*r, F_SETFL, O_NONBLOCK);
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

struct chain {
	int tfd;    /* the source's timer */
	int *w, *r; /* link i: w[i] -> r[i]; hop i reads r[i] */
	int hops;
	_Atomic uint64_t tail_bytes;
};

struct thread {
	pthread_t tid;
	struct chain *chains;
	int nchains;
	int ep;
};

static struct {
	int frame;
	double start, end;
	_Atomic int stop;
} G;

/* epoll data: chain index << 16 | hop, hop 0xffff = the chain's timer */
static void *run(void *arg)
{
	struct thread *t = arg;
	static _Thread_local char buf[IOSZ];

	memset(buf, 0x5a, sizeof(buf));
	while (!atomic_load(&G.stop)) {
		struct epoll_event evs[256];
		int n = epoll_wait(t->ep, evs, 256, 50);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int k = 0; k < n; k++) {
			struct chain *c = &t->chains[evs[k].data.u32 >> 16];
			uint32_t i = evs[k].data.u32 & 0xffff;
			if (i == 0xffff) {
				uint64_t ticks;
				if (read(c->tfd, &ticks, sizeof(ticks)) !=
				    sizeof(ticks))
					continue;
				for (uint64_t j = 0; j < ticks; j++)
					if (write(c->w[0], buf,
						  (size_t)G.frame) < 0)
						die("write");
				continue;
			}
			ssize_t r = read(c->r[i], buf, sizeof(buf));
			if (r <= 0)
				continue;
			if ((int)i == c->hops - 1)
				atomic_fetch_add_explicit(&c->tail_bytes,
							  (uint64_t)r,
							  memory_order_relaxed);
			else if (write(c->w[i + 1], buf, (size_t)r) < 0)
				die("write");
		}
	}
	return NULL;
}

/* The bytes all tails received, and hop-weighted (frames relayed); with
 * `before`, the slowest chain's tail rate since then. */
static uint64_t tails(struct chain *ch, int k, double *min_Bps, double wall,
		      const uint64_t *before, uint64_t *hop_bytes)
{
	uint64_t sum = 0;

	*hop_bytes = 0;
	for (int i = 0; i < k; i++) {
		uint64_t b = atomic_load_explicit(&ch[i].tail_bytes,
						  memory_order_relaxed);
		*hop_bytes += b * (uint64_t)ch[i].hops;
		if (before) {
			double r = (double)(b - before[i]) / wall;
			if (i == 0 || r < *min_Bps)
				*min_Bps = r;
		}
		sum += b;
	}
	return sum;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"hops", required_argument, NULL, 'n'},
	    {"chain", required_argument, NULL, 'l'},
	    {"threads", required_argument, NULL, 't'},
	    {"rate", required_argument, NULL, 'r'},
	    {"frame", required_argument, NULL, 'f'},
	    {"seconds", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	int hops = 10, chain_len = 10, nthreads = 1, c;
	double rate = 1.7e6, seconds = 3;

	G.frame = 1064;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			hops = atoi(optarg);
			break;
		case 'l':
			chain_len = atoi(optarg);
			break;
		case 't':
			nthreads = atoi(optarg);
			break;
		case 'r':
			rate = atof(optarg);
			break;
		case 'f':
			G.frame = atoi(optarg);
			break;
		case 's':
			seconds = atof(optarg);
			break;
		default:
			return 2;
		}
	}
	if (hops < 1 || chain_len < 1 || chain_len > 0xfffe || nthreads < 1 ||
	    !(rate > 0) || G.frame < 1 || G.frame > IOSZ || !(seconds > 0)) {
		fprintf(stderr,
			"usage: paced_relay --hops N --chain L --threads T "
			"--rate BPS --frame B --seconds S\n");
		return 2;
	}
	int k = (hops + chain_len - 1) / chain_len;
	if (nthreads > k)
		nthreads = k;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct chain *ch = calloc((size_t)k, sizeof(*ch));
	struct thread *th = calloc((size_t)nthreads, sizeof(*th));
	uint64_t *before = calloc((size_t)k, sizeof(*before));
	if (!ch || !th || !before)
		die("calloc");
	int64_t period = (int64_t)((double)G.frame * 1e9 / rate);
	if (period < 1)
		period = 1;
	for (int i = 0; i < k; i++) {
		struct chain *x = &ch[i];
		x->hops = i == k - 1 ? hops - i * chain_len : chain_len;
		x->w = calloc((size_t)x->hops, sizeof(int));
		x->r = calloc((size_t)x->hops, sizeof(int));
		if (!x->w || !x->r)
			die("calloc");
		for (int j = 0; j < x->hops; j++)
			tcp_pair(&x->w[j], &x->r[j]);
		x->tfd = timerfd_create(CLOCK_MONOTONIC, 0);
		if (x->tfd < 0)
			die("timerfd_create");
	}
	for (int t = 0; t < nthreads; t++) {
		struct thread *x = &th[t];
		int from = t * k / nthreads, to = (t + 1) * k / nthreads;
		x->chains = &ch[from];
		x->nchains = to - from;
		x->ep = epoll_create1(0);
		if (x->ep < 0)
			die("epoll_create1");
		for (int i = 0; i < x->nchains; i++) {
			struct chain *y = &x->chains[i];
			struct epoll_event ev = {.events = EPOLLIN,
						 .data.u32 = (uint32_t)i << 16 |
							     0xffff};
			if (epoll_ctl(x->ep, EPOLL_CTL_ADD, y->tfd, &ev) < 0)
				die("epoll_ctl");
			for (int j = 0; j < y->hops; j++) {
				ev.data.u32 = (uint32_t)i << 16 | (uint32_t)j;
				if (epoll_ctl(x->ep, EPOLL_CTL_ADD, y->r[j],
					      &ev) < 0)
					die("epoll_ctl");
			}
		}
	}
	/* the chains' sources tick out of phase, spread over one period */
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t base = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec + 1000000;
	for (int i = 0; i < k; i++) {
		int64_t first = base + period * i / k;
		struct itimerspec its = {
		    {period / 1000000000, period % 1000000000},
		    {first / 1000000000, first % 1000000000}};
		if (timerfd_settime(ch[i].tfd, TFD_TIMER_ABSTIME, &its, NULL) <
		    0)
			die("timerfd_settime");
	}
	for (int t = 0; t < nthreads; t++)
		if (pthread_create(&th[t].tid, NULL, run, &th[t]))
			die("pthread_create");

	/* a warm-up of 0.5 s, then count over the given seconds */
	struct timespec ws = {0, 500000000};
	nanosleep(&ws, NULL);
	double c0 = cpu_s(), t0 = now_s(), min_Bps = 0;
	uint64_t hb0, hb1;
	for (int i = 0; i < k; i++)
		before[i] = atomic_load(&ch[i].tail_bytes);
	uint64_t sum0 = tails(ch, k, NULL, 0, NULL, &hb0);
	ws.tv_sec = (time_t)seconds;
	ws.tv_nsec = (long)((seconds - (double)ws.tv_sec) * 1e9);
	nanosleep(&ws, NULL);
	double wall = now_s() - t0, cpu = cpu_s() - c0;
	uint64_t sum1 = tails(ch, k, &min_Bps, wall, before, &hb1);
	atomic_store(&G.stop, 1);
	for (int t = 0; t < nthreads; t++)
		pthread_join(th[t].tid, NULL);
	printf(
	    "paced_relay hops=%d chains=%d threads=%d rate_Bps=%.0f frame=%d "
	    "seconds=%.3f tail_mean_Bps=%.1f tail_min_Bps=%.1f "
	    "frames_per_s=%.1f cpu_percent=%.2f\n",
	    hops, k, nthreads, rate, G.frame, wall,
	    (double)(sum1 - sum0) / wall / k, min_Bps,
	    (double)(hb1 - hb0) / wall / G.frame, 100 * cpu / wall);
	return 0;
}
