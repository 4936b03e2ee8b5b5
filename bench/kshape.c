// SPDX-License-Identifier: MIT
/*
 * kshape - goodput and one-way delay through the kernel's shaper, the
 * reference that Crystal's own link emulation is compared with.
 *
 * bench/run.sh runs the receiver in one network namespace and the sender in
 * another, joined by a veth pair whose sending end carries a tc qdisc (tbf
 * for one link; htb with one class per connection for many; netem for
 * delay where the kernel has it).  This program only moves bytes and
 * measures; it knows nothing of namespaces or tc.
 *
 *   kshape recv --port P [--bind IP] --conns N --warmup S --seconds S
 *               [--mode rate|delay] [--size B] [--expect NS]
 *               [--rate BPS]
 *   kshape send --connect IP --port P --conns N --seconds S
 *               [--mode rate|delay] [--size B] [--interval NS]
 *               [--bind IP] [--sport-base P]
 *   kshape timer --seconds S [--interval NS]
 *
 * rate mode: the sender writes as fast as the connections take it; the
 * receiver counts payload bytes (goodput, as iperf3 reports it) per
 * connection over the window [warmup, warmup + seconds] after the last
 * connection was accepted: bytes after its first read in the window over
 * the time to its last read.  It also reports the bytes the link carried
 * over the same reads, headers included (the unit the shaper's rate is
 * defined in): the payload plus, for each segment received (TCP_INFO's
 * segment count), its Ethernet, IP and TCP headers.  With --rate, the errors
 * against it, per connection: the mean of their sizes and the worst.
 *
 * delay mode: every connection carries --size byte records, one every
 * --interval ns (each connection with its own phase), each starting with
 * its CLOCK_MONOTONIC send time (both namespaces share the clock); delay
 * error = arrival - send - --expect.
 *
 * The receiver prints one line of key=value pairs and closes; the sender
 * then stops.
 *
 * timer: the machine's own wake-up latency, which bounds any emulation that
 * releases messages on timers: a lone timerfd armed for an absolute
 * deadline about every --interval ns (at a random point of each interval),
 * for --seconds; prints how late each wake-up came (p50, p99, max).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/tcp.h> /* tcp_info with tcpi_segs_in */
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
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

#define SEC  1000000000LL
#define IOSZ (64 * 1024)

struct conn {
	int fd;
	uint64_t bytes, b0, b1;
	uint32_t s0, s1; /* segments received */
	int64_t t0, t1;
	uint64_t reads_in_window;
	/* delay mode */
	uint32_t have;
	int64_t next_ns; /* sender: next record */
	uint8_t rec[256];
};

static struct {
	bool recv;
	int conns;
	double warmup, seconds;
	bool delay;
	uint32_t size;
	int64_t interval, expect;
	double rate; /* recv: the configured rate, for the errors */
	const char *bind_ip, *connect_ip;
	int port, sport_base;
} O = {.conns = 1,
       .warmup = 1,
       .seconds = 3,
       .size = 64,
       .interval = 5000000,
       .port = 5201};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "kshape: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		die("fcntl");
}

static struct sockaddr_in sin_of(const char *ip, int port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		fprintf(stderr, "kshape: bad address '%s'\n", ip);
		exit(2);
	}
	return a;
}

static void raise_nofile(int need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)need) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Segments received so far on a connection. */
static uint32_t segs_in(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return 0;
	return ti.tcpi_segs_in;
}

/* Bytes of headers a data segment carries on the veth: Ethernet, IPv4 and
 * TCP, with the timestamp option when the connection has it. */
static uint32_t seg_overhead(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len);
	return 14 + 20 + 20 +
	       ((ti.tcpi_options & TCPI_OPT_TIMESTAMPS) ? 12 : 0);
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

static size_t rank(size_t n, double q)
{
	size_t k = (size_t)ceil(q * (double)n);

	return k < 1 ? 0 : k - 1;
}

/* --- receiver --------------------------------------------------------------
 */

static int run_recv(void)
{
	struct sockaddr_in a =
	    sin_of(O.bind_ip ? O.bind_ip : "0.0.0.0", O.port);
	int one = 1, lfd, ep;
	struct conn *c = calloc((size_t)O.conns, sizeof(*c));
	int64_t *samples = NULL;
	size_t nsamples = 0, cap = 0, early = 0;
	static uint8_t buf[IOSZ];

	raise_nofile(O.conns + 64);
	if (!c)
		die("calloc");
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("bind");
	if (listen(lfd, 4096) < 0)
		die("listen");
	/* ready: the script starts the sender once this line is out */
	printf("listening\n");
	fflush(stdout);
	for (int i = 0; i < O.conns; i++) {
		c[i].fd = accept(lfd, NULL, NULL);
		if (c[i].fd < 0)
			die("accept");
		nonblock(c[i].fd);
	}
	close(lfd);
	int64_t start = now_ns();
	int64_t w_from = start + (int64_t)(O.warmup * 1e9);
	int64_t w_to = w_from + (int64_t)(O.seconds * 1e9);
	if (O.delay) {
		cap = (size_t)((double)O.conns *
			       ((double)(w_to - w_from) / (double)O.interval +
				2)) +
		      16;
		samples = malloc(cap * sizeof(*samples));
		if (!samples)
			die("malloc");
	}
	ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	for (int i = 0; i < O.conns; i++) {
		struct epoll_event ev = {.events = EPOLLIN,
					 .data.u32 = (uint32_t)i};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev) < 0)
			die("epoll_ctl");
	}
	for (;;) {
		struct epoll_event evs[256];
		int64_t t = now_ns();
		if (t >= w_to)
			break;
		int to = (int)((w_to - t) / 1000000) + 1;
		int n = epoll_wait(ep, evs, 256, to);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int k = 0; k < n; k++) {
			struct conn *x = &c[evs[k].data.u32];
			ssize_t r = read(x->fd, buf, sizeof(buf));
			int64_t at;
			if (r <= 0) {
				if (r < 0 &&
				    (errno == EAGAIN || errno == EINTR))
					continue;
				epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
				continue;
			}
			at = now_ns();
			x->bytes += (uint64_t)r;
			if (at >= w_from && at <= w_to) {
				uint32_t sg = O.delay ? 0 : segs_in(x->fd);
				if (!x->reads_in_window++) {
					x->t0 = at;
					x->b0 = x->bytes;
					x->s0 = sg;
				}
				x->t1 = at;
				x->b1 = x->bytes;
				x->s1 = sg;
			}
			if (!O.delay)
				continue;
			for (ssize_t off = 0; off < r;) {
				uint32_t take = O.size - x->have;
				if ((ssize_t)take > r - off)
					take = (uint32_t)(r - off);
				memcpy(x->rec + x->have, buf + off, take);
				x->have += take;
				off += take;
				if (x->have < O.size)
					continue;
				x->have = 0;
				int64_t sent;
				memcpy(&sent, x->rec, 8);
				if (sent < w_from || sent > w_to)
					continue;
				int64_t e = at - sent - O.expect;
				if (e < 0)
					early++;
				if (nsamples < cap)
					samples[nsamples++] = e;
			}
		}
	}
	printf("kshape mode=%s conns=%d window_s=%.3f",
	       O.delay ? "delay" : "rate", O.conns, O.seconds);
	if (!O.delay) {
		double *g = malloc((size_t)O.conns * sizeof(*g));
		double total = 0, wtotal = 0;
		double gerr = 0, gworst = 0, werr = 0, wworst = 0;
		uint32_t hdr = seg_overhead(c[0].fd);
		int judged = 0;
		for (int i = 0; i < O.conns; i++) {
			struct conn *x = &c[i];
			double span = (double)(x->t1 - x->t0) / 1e9, w = 0;
			g[i] = 0;
			if (x->reads_in_window >= 3 && span > 0) {
				g[i] = (double)(x->b1 - x->b0) / span;
				w = ((double)(x->b1 - x->b0) +
				     (double)(x->s1 - x->s0) * hdr) /
				    span;
				judged++;
			}
			total += g[i];
			wtotal += w;
			if (O.rate > 0) {
				double e = g[i] / O.rate - 1,
				       f = w / O.rate - 1;
				gerr += fabs(e);
				werr += fabs(f);
				if (fabs(e) > fabs(gworst))
					gworst = e;
				if (fabs(f) > fabs(wworst))
					wworst = f;
			}
		}
		qsort(g, (size_t)O.conns, sizeof(*g), cmpd);
		printf(" conns_measured=%d goodput_mean_Bps=%.1f "
		       "goodput_min_Bps=%.1f"
		       " goodput_p50_Bps=%.1f goodput_max_Bps=%.1f"
		       " wire_mean_Bps=%.1f header_bytes=%u",
		       judged, total / O.conns, g[0],
		       g[rank((size_t)O.conns, 0.5)], g[O.conns - 1],
		       wtotal / O.conns, hdr);
		if (O.rate > 0)
			printf(
			    " goodput_err_mean_pct=%.4f "
			    "goodput_err_worst_pct=%.4f"
			    " wire_err_mean_pct=%.4f wire_err_worst_pct=%.4f",
			    100 * gerr / O.conns, 100 * gworst,
			    100 * werr / O.conns, 100 * wworst);
		printf("\n");
		free(g);
	} else {
		double mean = 0;
		qsort(samples, nsamples, sizeof(*samples), cmp64);
		for (size_t i = 0; i < nsamples; i++)
			mean += (double)samples[i];
		mean = nsamples ? mean / (double)nsamples : 0;
		printf(
		    " samples=%zu early=%zu delay_err_min_us=%.1f"
		    " delay_err_mean_us=%.1f delay_err_p50_us=%.1f"
		    " delay_err_p99_us=%.1f delay_err_max_us=%.1f\n",
		    nsamples, early, nsamples ? (double)samples[0] / 1e3 : 0,
		    mean / 1e3,
		    nsamples ? (double)samples[rank(nsamples, 0.5)] / 1e3 : 0,
		    nsamples ? (double)samples[rank(nsamples, 0.99)] / 1e3 : 0,
		    nsamples ? (double)samples[nsamples - 1] / 1e3 : 0);
	}
	fflush(stdout);
	for (int i = 0; i < O.conns; i++)
		close(c[i].fd);
	free(samples);
	free(c);
	return 0;
}

/* --- sender ----------------------------------------------------------------
 */

static int run_send(void)
{
	struct sockaddr_in to = sin_of(O.connect_ip, O.port);
	struct conn *c = calloc((size_t)O.conns, sizeof(*c));
	static uint8_t buf[IOSZ];
	int ep, one = 1, tfd = -1, open_conns = O.conns;
	int64_t end = now_ns() + (int64_t)(O.seconds * 1e9);

	signal(SIGPIPE, SIG_IGN);
	raise_nofile(O.conns + 64);
	if (!c)
		die("calloc");
	memset(buf, 0x5a, sizeof(buf));
	ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	for (int i = 0; i < O.conns; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (O.delay)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
		if (O.bind_ip || O.sport_base) {
			struct sockaddr_in me =
			    sin_of(O.bind_ip ? O.bind_ip : "0.0.0.0",
				   O.sport_base ? O.sport_base + i : 0);
			if (bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0)
				die("bind");
		}
		if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0)
			die("connect");
		nonblock(fd);
		c[i].fd = fd;
		if (!O.delay) {
			struct epoll_event ev = {.events = EPOLLOUT,
						 .data.u32 = (uint32_t)i};
			if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
				die("epoll_ctl");
		}
	}
	if (O.delay) {
		/* a 1 ms tick; each connection sends when its time has come */
		struct itimerspec its = {{0, 1000000}, {0, 1000000}};
		int64_t t = now_ns();
		tfd = timerfd_create(CLOCK_MONOTONIC, 0);
		if (tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0)
			die("timerfd");
		for (int i = 0; i < O.conns; i++)
			c[i].next_ns =
			    t + (int64_t)(((uint64_t)i * 2654435761u) %
					  (uint64_t)O.interval);
	}
	while (open_conns > 0 && now_ns() < end) {
		if (O.delay) {
			uint64_t ticks;
			if (read(tfd, &ticks, sizeof(ticks)) < 0 &&
			    errno != EINTR)
				die("read timerfd");
			int64_t t = now_ns();
			for (int i = 0; i < O.conns; i++) {
				struct conn *x = &c[i];
				if (x->fd < 0 || x->next_ns > t)
					continue;
				x->next_ns += O.interval;
				if (x->next_ns <= t)
					x->next_ns = t + O.interval;
				memset(buf, 0, O.size);
				memcpy(buf, &t, 8);
				ssize_t w = write(x->fd, buf, O.size);
				if (w < 0 && errno != EAGAIN) {
					close(x->fd);
					x->fd = -1;
					open_conns--;
				}
			}
			continue;
		}
		struct epoll_event evs[256];
		int n = epoll_wait(ep, evs, 256, 100);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int k = 0; k < n; k++) {
			struct conn *x = &c[evs[k].data.u32];
			if (x->fd < 0)
				continue;
			ssize_t w = write(x->fd, buf, 16384);
			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
				close(x->fd);
				x->fd = -1;
				open_conns--;
			}
		}
	}
	for (int i = 0; i < O.conns; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
	free(c);
	return 0;
}

/* --- timer ---------------------------------------------------------------- */

static int run_timer(void)
{
	int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
	int64_t end = now_ns() + (int64_t)(O.seconds * 1e9), next = now_ns();
	size_t n = 0, cap = (size_t)(O.seconds * 1e9 / (double)O.interval) + 16;
	int64_t *late = malloc(cap * sizeof(*late));
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	if (tfd < 0 || !late)
		die("timerfd_create");
	while (n < cap) {
		struct itimerspec its = {{0, 0}, {0, 0}};
		uint64_t ticks;
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		next += O.interval / 2 + (int64_t)(rng % (uint64_t)O.interval);
		if (next >= end)
			break;
		its.it_value.tv_sec = next / SEC;
		its.it_value.tv_nsec = next % SEC;
		if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
			die("timerfd_settime");
		if (read(tfd, &ticks, sizeof(ticks)) < 0 && errno != EINTR)
			die("read timerfd");
		late[n++] = now_ns() - next;
	}
	qsort(late, n, sizeof(*late), cmp64);
	printf("kshape mode=timer samples=%zu late_p50_us=%.1f late_p99_us=%.1f"
	       " late_max_us=%.1f\n",
	       n, n ? (double)late[rank(n, 0.5)] / 1e3 : 0,
	       n ? (double)late[rank(n, 0.99)] / 1e3 : 0,
	       n ? (double)late[n - 1] / 1e3 : 0);
	free(late);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"port", required_argument, NULL, 'p'},
	    {"bind", required_argument, NULL, 'b'},
	    {"connect", required_argument, NULL, 'c'},
	    {"sport-base", required_argument, NULL, 'P'},
	    {"conns", required_argument, NULL, 'n'},
	    {"warmup", required_argument, NULL, 'w'},
	    {"seconds", required_argument, NULL, 't'},
	    {"mode", required_argument, NULL, 'm'},
	    {"size", required_argument, NULL, 's'},
	    {"interval", required_argument, NULL, 'i'},
	    {"expect", required_argument, NULL, 'e'},
	    {"rate", required_argument, NULL, 'r'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	if (argc < 2 || (strcmp(argv[1], "recv") && strcmp(argv[1], "send") &&
			 strcmp(argv[1], "timer"))) {
		fprintf(stderr, "usage: kshape recv|send|timer [options] (see "
				"the source)\n");
		return 2;
	}
	O.recv = !strcmp(argv[1], "recv");
	bool timer = !strcmp(argv[1], "timer");
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			O.port = atoi(optarg);
			break;
		case 'b':
			O.bind_ip = optarg;
			break;
		case 'c':
			O.connect_ip = optarg;
			break;
		case 'P':
			O.sport_base = atoi(optarg);
			break;
		case 'n':
			O.conns = atoi(optarg);
			break;
		case 'w':
			O.warmup = atof(optarg);
			break;
		case 't':
			O.seconds = atof(optarg);
			break;
		case 'm':
			O.delay = !strcmp(optarg, "delay");
			break;
		case 's':
			O.size = (uint32_t)atoi(optarg);
			break;
		case 'i':
			O.interval = atoll(optarg);
			break;
		case 'e':
			O.expect = atoll(optarg);
			break;
		case 'r':
			O.rate = atof(optarg);
			break;
		default:
			return 2;
		}
	}
	if (timer)
		return O.interval > 0 && O.seconds > 0 ? run_timer() : 2;
	if (O.conns < 1 || O.size < 16 || O.size > 256 || O.interval <= 0 ||
	    O.port <= 0 || (!O.recv && !O.connect_ip)) {
		fprintf(stderr, "kshape: bad options\n");
		return 2;
	}
	return O.recv ? run_recv() : run_send();
}
