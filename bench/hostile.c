/* SPDX-License-Identifier: MIT
 *
 * bench/hostile.c - a hostile client for bench/hostile.sh and bench/soak.sh:
 * it opens many TCP connections to a node's peers and misbehaves on each in
 * one of the ways docs/wire-format.md#limits describes, then holds them
 * until it is told to stop.
 *
 *   idle     a valid hello, then nothing
 *   trickle  a valid hello, the header of a large frame, then one byte of
 *            it a second
 *   stall    a valid hello, the header of a large frame and all of it but
 *            its last byte, then nothing
 *   udp      garbage datagrams at the peers' UDP ports, as fast as it can
 *            (--rate per second at most)
 *
 * It speaks the wire format by hand (no Crystal code), so that the same
 * program measures any build.  The hello must name the run's experiment:
 * --id-text is the text Crystal derives the id from (crystal run: "chains
 * IP:PORT PEERS CHAIN_LENGTH SEED"), or --id the id in hex.  The targets are
 * COUNT ports from FIRST, STRIDE apart (default 1), taken in turn.  Every
 * connection is set up first (its hello and header); the stalled frames'
 * bytes then go out as the peers take them, so that a peer that does not
 * read holds back only its own.  At the end it prints one line:
 * connections opened, closed by the peer, bytes sent.
 *
 *   hostile --ports 28000:51 --conns 2000 --mode idle \
 *           --id-text "chains 127.0.0.1:28000 50 10 1" --seconds 12
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HDR 40

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h ? h : 1;
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void put64(uint8_t *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* A frame header from 127.0.0.1:claim (docs/wire-format.md). */
static void header(uint8_t *b, uint8_t type, uint32_t len, uint16_t claim,
		   uint64_t id)
{
	memset(b, 0, HDR);
	put16(b, 0x4352);
	b[2] = 1;
	b[3] = type;
	b[5] = 4;
	put32(b + 8, len);
	put16(b + 12, claim);
	put16(b + 14, (uint16_t)(id ^ id >> 16 ^ id >> 32 ^ id >> 48));
	b[24] = 127;
	b[27] = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int send_all(int fd, const uint8_t *b, size_t n, uint64_t *sent)
{
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
		*sent += (uint64_t)w;
	}
	return 0;
}

static int tcp_to(const char *ip, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(port)};
	struct timeval tv = {5, 0};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, ip, &sa.sin_addr);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void udp_flood(const char *ip, uint16_t first, unsigned nports,
		      unsigned stride, double rate, double seconds)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	uint8_t junk[512];
	uint64_t sent = 0, s = 0x9E3779B97F4A7C15ull;
	double t0 = now_s();
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, ip, &sa.sin_addr);
	for (size_t i = 0; i < sizeof(junk); i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		junk[i] = (uint8_t)s;
	}
	junk[0] = 0x17; /* never the magic */
	while (!stop && (seconds <= 0 || now_s() - t0 < seconds)) {
		sa.sin_port = htons((uint16_t)(first + sent % nports * stride));
		if (sendto(fd, junk, 64 + sent % 400, 0, (struct sockaddr *)&sa,
			   sizeof(sa)) > 0)
			sent++;
		if (rate > 0 && (double)sent > rate * (now_s() - t0)) {
			struct timespec d = {0, 1000000};
			nanosleep(&d, NULL);
		}
	}
	printf("datagrams %llu\n", (unsigned long long)sent);
}

static void usage(void)
{
	fputs(
	    "usage: hostile --ports FIRST:COUNT[:STRIDE]\n"
	    "               --mode idle|trickle|stall|udp\n"
	    "               (--id-text TEXT | --id HEX) [--conns N] [--ip IP]\n"
	    "               [--claim-base PORT] [--size BYTES] [--seconds S]\n"
	    "               [--rate N]\n",
	    stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *ip = "127.0.0.1", *mode = NULL, *idtext = NULL;
	unsigned first = 0, nports = 0, stride = 1, conns = 0, claim = 60000;
	uint32_t size = 16u << 20;
	double seconds = 0, rate = 0;
	uint64_t id = 0, sent = 0;
	unsigned opened = 0, closed = 0;
	struct pollfd *pf;
	uint32_t *left; /* stall: bytes of the frame still to send */
	struct rlimit rl;
	uint8_t *buf;

	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--ports")) {
			if (sscanf(v, "%u:%u:%u", &first, &nports, &stride) <
				2 ||
			    !stride)
				usage();
		} else if (!strcmp(k, "--mode")) {
			mode = v;
		} else if (!strcmp(k, "--id-text")) {
			idtext = v;
		} else if (!strcmp(k, "--id")) {
			id = strtoull(v, NULL, 16);
		} else if (!strcmp(k, "--conns")) {
			conns = (unsigned)atoi(v);
		} else if (!strcmp(k, "--ip")) {
			ip = v;
		} else if (!strcmp(k, "--claim-base")) {
			claim = (unsigned)atoi(v);
		} else if (!strcmp(k, "--size")) {
			size = (uint32_t)strtoul(v, NULL, 10);
		} else if (!strcmp(k, "--seconds")) {
			seconds = atof(v);
		} else if (!strcmp(k, "--rate")) {
			rate = atof(v);
		} else {
			usage();
		}
	}
	if (!mode || !nports || (!idtext && !id) || size < 2)
		usage();
	if (idtext)
		id = fnv1a(idtext);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(mode, "udp")) {
		udp_flood(ip, (uint16_t)first, nports, stride, rate, seconds);
		return 0;
	}
	if (strcmp(mode, "idle") && strcmp(mode, "trickle") &&
	    strcmp(mode, "stall"))
		usage();
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	pf = calloc(conns ? conns : 1, sizeof(*pf));
	left = calloc(conns ? conns : 1, sizeof(*left));
	buf = malloc(65536);
	if (!pf || !left || !buf)
		return 1;
	memset(buf, 0x5a, 65536);
	for (unsigned i = 0; i < conns; i++)
		pf[i].fd = -1;
	for (unsigned i = 0; i < conns && !stop; i++) {
		uint16_t port = (uint16_t)(first + i % nports * stride);
		uint16_t me = (uint16_t)(claim + i);
		uint8_t h[HDR + 8];
		int fd = tcp_to(ip, port);

		if (fd < 0)
			continue;
		opened++;
		pf[i].fd = fd;
		pf[i].events = POLLIN;
		header(h, 1, 8, me, id);
		put64(h + HDR, id);
		if (send_all(fd, h, sizeof(h), &sent))
			continue;
		if (!strcmp(mode, "idle"))
			continue;
		header(h, 128, size, me, id);
		put16(h + 6, 1); /* session 1 */
		if (send_all(fd, h, HDR, &sent))
			continue;
		if (!strcmp(mode, "stall")) {
			left[i] = size - 1;
			pf[i].events |= POLLOUT;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}
	/* hold them; trickle a byte a second on each */
	for (double t0 = now_s(), tick = t0 + 1;
	     !stop && (seconds <= 0 || now_s() - t0 < seconds);) {
		int r = poll(pf, conns, 200);
		for (unsigned i = 0; r > 0 && i < conns; i++) {
			uint8_t junk[4096];
			ssize_t n;

			if (pf[i].fd < 0 || !pf[i].revents)
				continue;
			while ((pf[i].revents & POLLOUT) && left[i]) {
				ssize_t w =
				    send(pf[i].fd, buf,
					 left[i] < 65536 ? left[i] : 65536,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
				if (w <= 0)
					break;
				left[i] -= (uint32_t)w;
				sent += (uint64_t)w;
				if (!left[i])
					pf[i].events = POLLIN;
			}
			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = recv(pf[i].fd, junk, sizeof(junk), MSG_DONTWAIT);
			if (n > 0 ||
			    (n < 0 && (errno == EAGAIN || errno == EINTR)))
				continue;
			close(pf[i].fd);
			pf[i].fd = -1;
			closed++;
		}
		if (!strcmp(mode, "trickle") && now_s() >= tick) {
			tick += 1;
			for (unsigned i = 0; i < conns; i++)
				if (pf[i].fd >= 0)
					send(pf[i].fd, buf, 1,
					     MSG_NOSIGNAL | MSG_DONTWAIT);
			sent += conns - closed;
		}
	}
	printf("opened %u closed %u sent %llu\n", opened, closed,
	       (unsigned long long)sent);
	return 0;
}
