// SPDX-License-Identifier: MIT
/*
 * raw_relay - physical baseline for relaying bytes over loopback TCP.
 *
 * Crystal's relay benchmarks report their rates as a ratio to this number,
 * so it has to bound what is physically possible on the machine: no
 * framing, no scheduling, no copies beyond the socket calls themselves.
 *
 * Topology: --hops N receiving hops arranged in chains of --chain L, so
 * K = ceil(N / L) chains.  A source feeds each chain head over its own TCP
 * connection; every hop reads from upstream and writes what it read
 * downstream, and the chain tail reads and discards.
 *
 * --threads T busy-polling threads each own a contiguous slice of the
 * pumps (sources and hops, in chain order) and loop over them doing
 * non-blocking reads and writes of --io-size bytes.  Bytes received by
 * every hop are counted over --seconds after a short warm-up.
 *
 * Build: cc -std=gnu17 -O2 -pthread raw_relay.c -o raw_relay
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WARMUP_SECONDS 0.5

enum phase { WARMUP, MEASURE, STOP };

/*
 * One pump moves bytes from @in to @out.  A source has no @in and writes
 * the shared pattern buffer forever; a tail has no @out and discards.
 * @buf[@off..@len) is still to be written; reading waits until it drains,
 * which keeps memory bounded at one buffer per hop.
 */
struct pump {
	int in;
	int out;
	char *buf;
	size_t off;
	size_t len;
};

struct worker {
	pthread_t tid;
	struct pump *pumps;
	size_t npumps;
	uint64_t rx;
};

static size_t io_size = 65536;
static _Atomic int phase = WARMUP;

static void die(const char *what)
{
	fprintf(stderr, "raw_relay: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: raw_relay [--hops N] [--chain L] [--threads T]\n"
		"                 [--io-size BYTES] [--seconds S]\n"
		"  --hops N         receiving hops in total (default 100)\n"
		"  --chain L        hops per chain (default 10)\n"
		"  --threads T      busy-polling threads, at most N + chains (default 2)\n"
		"  --io-size BYTES  bytes per read/write, 1..16777216 (default 65536)\n"
		"  --seconds S      measurement window, may be fractional (default 3)\n");
	exit(2);
}

static long parse_long(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		usage();
	return v;
}

static void set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		die("fcntl");
}

/*
 * Connect a fresh socket to @listener and accept it.  The connect is
 * blocking and the accept follows at once, so the accepted socket is the
 * peer of the one just connected.
 */
static void tcp_pair(int listener, const struct sockaddr_in *addr,
		     int *wfd, int *rfd)
{
	int one = 1;
	int c, a;

	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0)
		die("socket");
	if (connect(c, (const struct sockaddr *)addr, sizeof(*addr)) < 0)
		die("connect");
	a = accept(listener, NULL, NULL);
	if (a < 0)
		die("accept");

	/* A relay forwards what it has at once; do not let Nagle batch it. */
	if (setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		die("setsockopt");
	set_nonblock(c);
	set_nonblock(a);
	*wfd = c;
	*rfd = a;
}

/* One non-blocking step of @p; returns the bytes it received. */
static size_t pump_step(struct pump *p)
{
	size_t got = 0;
	ssize_t n;

	if (p->off == p->len) {
		if (p->in < 0) {
			/* Source: the pattern buffer is always full. */
			p->off = 0;
		} else {
			n = recv(p->in, p->buf, io_size, 0);
			if (n == 0) {
				errno = ECONNRESET;
				die("recv");
			}
			if (n < 0) {
				if (errno != EAGAIN && errno != EWOULDBLOCK &&
				    errno != EINTR)
					die("recv");
				return 0;
			}
			got = (size_t)n;
			p->off = 0;
			p->len = p->out < 0 ? 0 : got;
		}
	}

	if (p->off == p->len)
		return got;

	n = send(p->out, p->buf + p->off, p->len - p->off, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			die("send");
		return got;
	}
	p->off += (size_t)n;
	return got;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t rx = 0;
	int ph;

	while ((ph = atomic_load_explicit(&phase, memory_order_relaxed)) != STOP) {
		/* Only bytes moved inside the window count. */
		if (ph == WARMUP)
			rx = 0;
		for (size_t i = 0; i < w->npumps; i++)
			rx += pump_step(&w->pumps[i]);
	}
	w->rx = rx;
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_for(double seconds)
{
	struct timespec ts;

	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* 1,000 hops need about 2,000 sockets; the default soft limit is often 1,024. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

int main(int argc, char **argv)
{
	long hops = 100, chain = 10, threads = 2;
	double seconds = 3;
	struct sockaddr_in addr;
	socklen_t addrlen = sizeof(addr);
	struct pump *pumps;
	struct worker *workers;
	size_t npumps, chains, k = 0;
	char *pattern;
	uint64_t total = 0;
	double start, elapsed;
	int listener;

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		const char *val = i + 1 < argc ? argv[++i] : NULL;
		char *end;

		if (!val)
			usage();
		if (!strcmp(opt, "--hops")) {
			hops = parse_long(val, 1, 1000000);
		} else if (!strcmp(opt, "--chain")) {
			chain = parse_long(val, 1, 1000000);
		} else if (!strcmp(opt, "--threads")) {
			threads = parse_long(val, 1, 4096);
		} else if (!strcmp(opt, "--io-size")) {
			io_size = (size_t)parse_long(val, 1, 16 << 20);
		} else if (!strcmp(opt, "--seconds")) {
			errno = 0;
			seconds = strtod(val, &end);
			if (errno || end == val || *end || !isfinite(seconds) ||
			    seconds <= 0 || seconds > 86400)
				usage();
		} else {
			usage();
		}
	}

	chains = (size_t)((hops + chain - 1) / chain);
	npumps = (size_t)hops + chains;
	if ((size_t)threads > npumps)
		usage();

	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	pumps = calloc(npumps, sizeof(*pumps));
	workers = calloc((size_t)threads, sizeof(*workers));
	pattern = malloc(io_size);
	if (!pumps || !workers || !pattern)
		die("malloc");
	memset(pattern, 0x5a, io_size);

	/*
	 * One listener on a kernel-chosen port serves every connection; it
	 * is closed once all are accepted so it costs a single descriptor.
	 */
	listener = socket(AF_INET, SOCK_STREAM, 0);
	if (listener < 0)
		die("socket");
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("bind");
	if (listen(listener, 16) < 0)
		die("listen");
	if (getsockname(listener, (struct sockaddr *)&addr, &addrlen) < 0)
		die("getsockname");

	/*
	 * Lay pumps out in chain order (source, hop 1, ..., tail) so that a
	 * thread's contiguous slice keeps neighbouring hops together.
	 */
	for (size_t c = 0; c < chains; c++) {
		size_t len = (size_t)hops - c * (size_t)chain;
		int wfd, rfd;

		if (len > (size_t)chain)
			len = (size_t)chain;

		pumps[k] = (struct pump){ .in = -1, .buf = pattern,
					  .off = io_size, .len = io_size };
		for (size_t h = 0; h < len; h++) {
			tcp_pair(listener, &addr, &wfd, &rfd);
			pumps[k++].out = wfd;
			pumps[k] = (struct pump){ .in = rfd, .out = -1 };
			pumps[k].buf = malloc(io_size);
			if (!pumps[k].buf)
				die("malloc");
		}
		k++;
	}
	close(listener);

	for (long t = 0; t < threads; t++) {
		size_t lo = npumps * (size_t)t / (size_t)threads;
		size_t hi = npumps * (size_t)(t + 1) / (size_t)threads;

		workers[t].pumps = pumps + lo;
		workers[t].npumps = hi - lo;
		errno = pthread_create(&workers[t].tid, NULL, worker_main,
				       &workers[t]);
		if (errno)
			die("pthread_create");
	}

	sleep_for(WARMUP_SECONDS);
	start = now();
	atomic_store(&phase, MEASURE);
	sleep_for(seconds);
	atomic_store(&phase, STOP);
	elapsed = now() - start;

	for (long t = 0; t < threads; t++) {
		pthread_join(workers[t].tid, NULL);
		total += workers[t].rx;
	}
	for (size_t i = 0; i < npumps; i++) {
		if (pumps[i].in >= 0) {
			close(pumps[i].in);
			free(pumps[i].buf);
		}
		if (pumps[i].out >= 0)
			close(pumps[i].out);
	}
	free(pattern);
	free(workers);
	free(pumps);

	printf("raw_relay hops=%ld chain=%ld io_size=%zu threads=%ld "
	       "seconds=%g cumulative_Bps=%.0f per_hop_Bps=%.0f\n",
	       hops, chain, io_size, threads, seconds,
	       total / elapsed, total / elapsed / hops);
	return 0;
}
