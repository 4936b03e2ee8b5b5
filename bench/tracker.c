// SPDX-License-Identifier: MIT
/*
 * tracker - how long the tracker takes to answer N REGISTERs, for N from
 * 1,000 to 65,535: the per-message cost should not grow with N.
 *
 * Each measurement starts a node that runs only a tracker (one worker,
 * report liveness, the default 5 s interval and 15 s timeout, so nothing
 * expires), connects raw TCP clients over loopback that say hello as
 * peers of the experiment, and then times, from the first REGISTER
 * written to the last answer read:
 *
 *   sessions   one connection sends N REGISTERs, each for a session of its
 *              own (the flood of issue 12), with max_sessions_per_peer
 *              raised to 65536 so that every one is recorded and answered;
 *   limited    the same flood with the default limits: past
 *              max_sessions_per_peer the REGISTERs are refused (counted,
 *              not answered);
 *   peers      256 connections, each registering in N/256 sessions shared
 *              by all of them, so that each session ends with 256 peers and
 *              every answer past the first few carries 20 of them.
 *
 * After its REGISTERs every connection sends one QUERY for a session no
 * one uses; its answer (always sent, frames of one connection are handled
 * in order) marks the end of that connection's REGISTERs.  The clients
 * write and read at once (non-blocking sockets, poll), as a peer does, so
 * the tracker's answers never back up.
 *
 * Prints a table: N, the time to the last answer, µs per REGISTER, the
 * answers read, the tracker's own counts of registrations and refusals,
 * and the 99th percentile of its worker's timer lag over the run (how late
 * its timers fired while it was busy).  Best of --runs runs (default 3)
 * for each point, by time.
 *
 * Build: make -f bench/bench.mk build/bench/tracker
 * Run:   ip netns exec NS build/bench/tracker [--runs R] [--port P]
 */
#include "builtins/registry.h"
#include "core/log.h"
#include "core/wire.h"
#include "engine/node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MARK_SESSION 65535 /* the QUERY that ends a connection's REGISTERs */
#define FRAME	     (CR__HDR_SIZE + 4)

enum mode { M_SESSIONS, M_LIMITED, M_PEERS };
static const char *const mode_names[] = {"sessions", "limited", "peers"};

struct client {
	int fd;
	uint16_t port;
	uint8_t *out; /* hello, REGISTERs, QUERY */
	size_t out_len, out_off;
	uint8_t in[1 << 16];
	size_t in_len;
	uint64_t answers;
	bool hello_in, done;
};

struct result {
	size_t sent; /* REGISTERs */
	double seconds;
	uint64_t answers;
	struct cr_node_result r;
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void frame(uint8_t *out, uint8_t type, uint32_t len, uint16_t port,
		  uint16_t tag)
{
	struct cr__hdr h = {
	    .magic = CR__MAGIC,
	    .version = CR__VERSION,
	    .type = type,
	    .family = 4,
	    .length = len,
	    .src_port = port,
	    .exp_tag = tag,
	};

	h.src_ip[0] = 127;
	h.src_ip[3] = 1;
	cr__hdr_encode(out, &h);
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

/* A message of 4 bytes of payload: session, wanted. */
static size_t msg4(uint8_t *out, uint8_t type, uint16_t session, uint16_t port,
		   uint16_t tag)
{
	frame(out, type, 4, port, tag);
	put16(out + CR__HDR_SIZE, session);
	put16(out + CR__HDR_SIZE + 2, 0);
	return FRAME;
}

static int client_open(struct client *c, uint16_t tracker_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(tracker_port)};
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int tries = 0; tries < 200; tries++) {
		c->fd = socket(AF_INET, SOCK_STREAM, 0);
		if (c->fd < 0)
			return -1;
		if (!connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)))
			break;
		close(c->fd);
		c->fd = -1;
		usleep(10000);
	}
	if (c->fd < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fcntl(c->fd, F_SETFL, O_NONBLOCK);
}

/* Reads what has come; counts PEERS frames and notes the QUERY's. */
static int client_read(struct client *c)
{
	ssize_t r = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
	size_t off = 0;

	if (r == 0)
		return -1;
	if (r < 0)
		return errno == EAGAIN ? 0 : -1;
	c->in_len += (size_t)r;
	while (c->in_len - off >= CR__HDR_SIZE) {
		struct cr__hdr h;
		cr__hdr_decode(c->in + off, &h);
		if (c->in_len - off < CR__HDR_SIZE + h.length)
			break;
		if (h.type == 4) {
			const uint8_t *pl = c->in + off + CR__HDR_SIZE;
			if ((pl[0] << 8 | pl[1]) == MARK_SESSION)
				c->done = true;
			else
				c->answers++;
		}
		off += CR__HDR_SIZE + h.length;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return 0;
}

/* Writes and reads until every client has its QUERY's answer; 0 or -1. */
static int pump(struct client *cl, size_t nc)
{
	struct pollfd *pf = calloc(nc, sizeof(*pf));
	size_t left = nc;
	int rc = 0;

	if (!pf)
		return -1;
	while (left && !rc) {
		for (size_t i = 0; i < nc; i++) {
			pf[i].fd = cl[i].done ? -1 : cl[i].fd;
			pf[i].events = POLLIN;
			if (cl[i].out_off < cl[i].out_len)
				pf[i].events |= POLLOUT;
		}
		if (poll(pf, nc, 30000) <= 0) {
			fprintf(stderr, "tracker bench: no answer in 30 s\n");
			rc = -1;
			break;
		}
		for (size_t i = 0; i < nc && !rc; i++) {
			struct client *c = &cl[i];
			if (pf[i].revents & POLLOUT) {
				ssize_t w = write(c->fd, c->out + c->out_off,
						  c->out_len - c->out_off);
				if (w < 0 && errno != EAGAIN)
					rc = -1;
				else if (w > 0)
					c->out_off += (size_t)w;
			}
			if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				if (client_read(c))
					rc = -1;
				else if (c->done)
					left--;
			}
		}
	}
	free(pf);
	return rc;
}

/* One measurement; 0 or -1. */
static int measure(enum mode m, size_t n, uint16_t port, uint64_t seed,
		   struct result *res)
{
	static const char *name = "bench-tracker";
	struct cr_node_peer peer = {0};
	struct cr_node_config cfg = {0};
	size_t nc = m == M_PEERS ? 256 : 1, per = (n + nc - 1) / nc;
	uint64_t id = cr_node_experiment_id(name);
	uint16_t tag = (uint16_t)(id ^ id >> 16 ^ id >> 32 ^ id >> 48);
	struct client *cl = calloc(nc, sizeof(*cl));
	char err[256];
	cr_node *node = NULL;
	double t0;
	int rc = -1;

	if (!cl)
		return -1;
	peer.addr = (cr_addr){.family = 4, .port = port, .ip = {127, 0, 0, 1}};
	peer.is_tracker = true;
	cfg.name = name;
	cfg.exp_id = id;
	cfg.duration_ns = 600 * CR_SEC; /* stopped when done */
	cfg.workers = 1;
	cfg.algo = cr__algorithm_find("relay", err, sizeof(err));
	cfg.peers = &peer;
	cfg.npeers = 1;
	cfg.seed = seed;
	cfg.log_level = CR_LOG_ERROR;
	cfg.tracker.addr = peer.addr;
	cfg.tracker.reply_peers = 20;
	cfg.tracker.interval_ns = 5 * CR_SEC;
	cfg.tracker.timeout_ns = 15 * CR_SEC;
	if (m != M_LIMITED) {
		cfg.tracker.max_sessions_per_peer = 65536;
		cfg.tracker.max_peers_per_session = 65536;
	}
	if (cr_node_create(&cfg, &node, err, sizeof(err)) ||
	    cr_node_start(node, err, sizeof(err))) {
		fprintf(stderr, "tracker bench: %s\n", err);
		goto out;
	}
	for (size_t i = 0; i < nc; i++) {
		struct client *c = &cl[i];
		size_t k = m == M_PEERS ? per : n, off;

		c->port = (uint16_t)(port + 1 + i);
		c->out = malloc(CR__HDR_SIZE + 8 + (k + 1) * FRAME);
		if (!c->out || client_open(c, port)) {
			fprintf(stderr, "tracker bench: cannot connect: %s\n",
				strerror(errno));
			goto out;
		}
		frame(c->out, 1, 8, c->port, tag); /* hello */
		for (int b = 0; b < 8; b++)
			c->out[CR__HDR_SIZE + b] =
			    (uint8_t)(id >> (56 - 8 * b));
		off = CR__HDR_SIZE + 8;
		for (size_t s = 0; s < k; s++)
			off += msg4(c->out + off, 3, (uint16_t)s, c->port, tag);
		off += msg4(c->out + off, 7, MARK_SESSION, c->port, tag);
		c->out_len = off;
	}
	t0 = mono_s();
	if (pump(cl, nc))
		goto out;
	res->seconds = mono_s() - t0;
	res->sent = nc * (m == M_PEERS ? per : n);
	res->answers = 0;
	for (size_t i = 0; i < nc; i++)
		res->answers += cl[i].answers;
	rc = 0;
out:
	for (size_t i = 0; i < nc; i++) {
		if (cl[i].fd > 0)
			close(cl[i].fd);
		free(cl[i].out);
	}
	free(cl);
	if (node) {
		cr_node_stop(node, false);
		cr_node_join(node);
		cr_node_result(node, &res->r);
		cr_node_destroy(node);
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"runs", required_argument, NULL, 'r'},
	    {"port", required_argument, NULL, 'p'},
	    {NULL, 0, NULL, 0},
	};
	static const size_t sizes[] = {1000, 10000, 65535};
	int runs = 3, c;
	long port = 27000;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'r')
			runs = atoi(optarg);
		else if (c == 'p')
			port = atol(optarg);
		else
			return 2;
	}
	if (runs < 1 || port < 1 || port > 65535 - 300) {
		fprintf(stderr, "usage: tracker [--runs R] [--port P]\n");
		return 2;
	}
	printf("| mode | N | time to last answer | us per REGISTER | "
	       "answers | recorded | refused | timer lag p99 |\n"
	       "|---|---:|---:|---:|---:|---:|---:|---:|\n");
	for (int m = M_SESSIONS; m <= M_PEERS; m++)
		for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
			struct result best = {.seconds = -1}, r;
			for (int k = 0; k < runs; k++) {
				memset(&r, 0, sizeof(r));
				if (measure((enum mode)m, sizes[i],
					    (uint16_t)port, (uint64_t)k + 1,
					    &r))
					return 1;
				if (best.seconds < 0 ||
				    r.seconds < best.seconds)
					best = r;
			}
			printf(
			    "| %s | %zu | %.1f ms | %.2f | %llu | %llu | "
			    "%llu | %.2f ms |\n",
			    mode_names[m], best.sent, best.seconds * 1e3,
			    best.seconds * 1e6 / (double)best.sent,
			    (unsigned long long)best.answers,
			    (unsigned long long)best.r.tracker.registrations,
			    (unsigned long long)(best.r.tracker
						     .refused_sessions_per_peer +
						 best.r.tracker
						     .refused_peers_per_session),
			    (double)best.r.timer_lag_p99_ns / 1e6);
			fflush(stdout);
		}
	return 0;
}
