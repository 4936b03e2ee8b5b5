/* Hostile peers on loopback against the limits on what a remote may make a
 * peer hold (docs/wire-format.md#limits), while relay chains stream a
 * counted, checked stream beside them (ports 24000-24199).
 *
 * - Idle floods: hundreds of connections that say a valid hello and
 *   nothing more are closed after the idle time, counted exactly, logged
 *   once per peer (and summed up once at the end), and depart once each.
 * - Connections over a peer's cap are closed at once and counted; those
 *   under it stay.
 * - A frame begun and stalled, trickled a byte at a time, or a header cut
 *   short is closed after the frame time, and counted.
 * - Unfinished frames past the node's budget: the largest goes, each
 *   worker keeps its share, and the engine's peak stays under the budget.
 * - A flood of garbage datagrams at a peer's UDP port is counted, datagram
 *   for datagram, and the run goes on.
 * - Back-pressure with hundreds of idle connections held on every peer of a
 *   chain pushed as fast as it goes: every message arrives, once, in order.
 *
 * In every case the chains deliver every message, once, in order, and no
 * peer of the chains departs.  Garbage frames and hellos of another
 * experiment on TCP are tested in test-frames.c and test-conn.c.  The
 * tests assert what happened and how often, never how fast.
 */
#include "seqchain.h"
#include "support.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define EXP_ID 0x0BAD0C0FFEE51DE5ULL
#define CLAIM  41000 /* the hellos' made-up source ports */

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* A connection to a peer that has said a valid hello, as claim. */
static int hello_to(uint16_t port, uint16_t claim)
{
	uint8_t h[T_HELLO_SIZE];
	int fd = t_tcp_connect(port);

	assert_true(fd >= 0);
	t_hello(h, EXP_ID, claim, t_exp_tag(EXP_ID));
	assert_int_equal(t_send_all(fd, h, sizeof(h)), 0);
	return fd;
}

/* The header of a data frame of `len` bytes. */
static void frame_header(uint8_t *b, uint32_t len, uint16_t claim)
{
	struct t_hdr h = t_hdr_make(SC_TYPE, len, claim, t_exp_tag(EXP_ID));

	h.session = 1;
	t_hdr_put(b, &h);
}

/* Did the peer end this connection?  Reads what is there without waiting;
 * *hello: something came (the peer's hello). */
static bool ended(int fd, bool *hello)
{
	uint8_t buf[4096];

	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r > 0) {
			if (hello)
				*hello = true;
			continue;
		}
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return true;
		return false; /* EAGAIN: open */
	}
}

/* Closes (and sets to -1) those of fds the peer has ended; returns how
 * many of them are ended now. */
static size_t reap(int *fds, size_t n)
{
	size_t done = 0;

	for (size_t i = 0; i < n; i++) {
		if (fds[i] >= 0 && ended(fds[i], NULL)) {
			close(fds[i]);
			fds[i] = -1;
		}
		done += fds[i] < 0;
	}
	return done;
}

/* Reaps until `want` of fds have been ended by the peer, for 20 s at
 * most; returns how many were. */
static size_t wait_ended(int *fds, size_t n, size_t want)
{
	size_t done = reap(fds, n);

	for (int round = 0; round < 2000 && done < want; round++) {
		sleep_ms(10);
		done = reap(fds, n);
	}
	return done;
}

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Lines of the run's worker logs that hold both strings. */
static size_t log_lines(const char *dir, const char *a, const char *b)
{
	size_t count = 0;

	for (int w = 0; w < 4; w++) {
		char path[512], *text, *line, *save = NULL;
		snprintf(path, sizeof(path), "%s/worker-%d.log", dir, w);
		text = t_slurp(path);
		if (!text)
			continue;
		for (line = strtok_r(text, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			count += strstr(line, a) && strstr(line, b);
		free(text);
	}
	return count;
}

static const struct cr__peer_stats *stats(size_t i)
{
	return cr_node_peer_stats(sc.node, i);
}

static void verify_chains(void)
{
	const char *why = sc_verify();

	if (why)
		fail_msg("%s", why);
}

/* --- idle after the hello ---------------------------------------------------
 */

#define IDLE_PER_PEER 150

static void idle_flood_closed_counted_logged_once(void **state)
{
	/* two chains: 0 -> 1 -> 2 -> 3 and 0 -> 4 -> 5 -> 6 */
	const size_t targets[] = {0, 2, 5};
	struct sc_cfg cfg = {
	    .base_port = 24000,
	    .receivers = 6,
	    .chain_len = 3,
	    .count = 2000,
	    .msg_size = 1000,
	    .rate_Bps = 1000000,
	    .workers = 2,
	    .exp_id = EXP_ID,
	    .hold = true,
	    .max_conns = 1000,
	    .idle_timeout_ns = 300 * CR_MS,
	    .log_level = CR_LOG_INFO,
	};
	static int fds[3 * IDLE_PER_PEER];
	char dir[256], who[64], summary[96];
	size_t n = 0;

	(void)state;
	assert_int_equal(t_mkdtemp(dir, sizeof(dir)), 0);
	cfg.log_dir = dir;
	if (sc_start(&cfg))
		fail_msg("start: %s", sc.err);
	assert_true(sc_wait_for(sc_streaming));
	for (size_t k = 0; k < IDLE_PER_PEER; k++)
		for (size_t t = 0; t < 3; t++, n++)
			fds[n] = hello_to((uint16_t)(24000 + targets[t]),
					  (uint16_t)(CLAIM + n));
	/* every one of them is closed: the idle time has passed */
	assert_int_equal(wait_ended(fds, n, n), n);
	atomic_store(&sc.may_stop, true);
	sc_finish();
	verify_chains();
	for (size_t t = 0; t < 3; t++) {
		const struct cr__peer_stats *ps = stats(targets[t]);
		size_t i = targets[t];

		assert_int_equal(ps->net.limit_hits[CR__LIMIT_IDLE], IDLE_PER_PEER);
		assert_int_equal(ps->net.limit_hits[CR__LIMIT_CONNS], 0);
		assert_int_equal(ps->net.limit_hits[CR__LIMIT_FRAME], 0);
		/* they said hello: each is a neighbour that departs, once */
		assert_int_equal(sc.st[i].departed, IDLE_PER_PEER);
		assert_int_equal(ps->departures, IDLE_PER_PEER);
		assert_int_equal(ps->net.bad_frames, 0);
		/* one warning, then one line at the end with the count */
		snprintf(who, sizeof(who), "127.0.0.1:%zu WARN", 24000 + i);
		assert_int_equal(log_lines(dir, who, "after its hello"), 1);
		snprintf(who, sizeof(who), "127.0.0.1:%zu INFO", 24000 + i);
		snprintf(summary, sizeof(summary),
			 "limits: connections %d closed silent after their "
			 "hello",
			 IDLE_PER_PEER);
		assert_int_equal(log_lines(dir, who, summary), 1);
	}
	/* the chains' own connections are never idle */
	for (size_t i = 0; i < sc.chains.npeers; i++)
		if (i != 0 && i != 2 && i != 5)
			assert_int_equal(stats(i)->net.limit_hits[CR__LIMIT_IDLE],
					 0);
	assert_int_equal(sc.res.limit_hits[CR__LIMIT_IDLE], 3 * IDLE_PER_PEER);
	assert_true(sc.res.idle_timeout_ns == 300 * CR_MS);
	sc_cleanup();
	t_rm_rf(dir);
}

/* --- the cap on connections ------------------------------------------------
 */

static void connections_over_the_cap_closed_at_once(void **state)
{
	/* 0 -> 1 -> 2: peer 1 has two connections of its own */
	struct sc_cfg cfg = {
	    .base_port = 24020,
	    .receivers = 2,
	    .chain_len = 2,
	    .count = 1500,
	    .msg_size = 1000,
	    .rate_Bps = 1000000,
	    .workers = 1,
	    .exp_id = EXP_ID,
	    .hold = true,
	    .max_conns = 16,
	    .idle_timeout_ns = 60 * CR_SEC,
	};
	enum { TRY = 40, KEPT = 16 - 2 };
	int fds[TRY];
	bool hello[TRY] = {false};
	size_t refused = 0, kept = 0;

	(void)state;
	if (sc_start(&cfg))
		fail_msg("start: %s", sc.err);
	assert_true(sc_wait_for(sc_streaming));
	for (size_t k = 0; k < TRY; k++)
		fds[k] = hello_to(24021, (uint16_t)(CLAIM + k));
	/* the refused ones end without a word; the others get the peer's
	 * hello and stay */
	for (int round = 0; round < 2000 && refused + kept < TRY; round++) {
		refused = kept = 0;
		for (size_t k = 0; k < TRY; k++) {
			if (fds[k] < 0) {
				refused++;
				continue;
			}
			if (ended(fds[k], &hello[k])) {
				assert_false(hello[k]);
				close(fds[k]);
				fds[k] = -1;
				refused++;
			} else if (hello[k]) {
				kept++;
			}
		}
		sleep_ms(10);
	}
	assert_int_equal(refused, TRY - KEPT);
	assert_int_equal(kept, KEPT);
	/* the first ones were kept, in the order they came */
	for (size_t k = 0; k < KEPT; k++)
		assert_true(fds[k] >= 0);
	close_all(fds, TRY);
	atomic_store(&sc.may_stop, true);
	sc_finish();
	verify_chains();
	assert_int_equal(stats(1)->net.limit_hits[CR__LIMIT_CONNS], TRY - KEPT);
	assert_int_equal(sc.res.limit_hits[CR__LIMIT_CONNS], TRY - KEPT);
	/* only those that were kept had a name, and depart */
	assert_int_equal(sc.st[1].departed, KEPT);
	assert_int_equal(sc.res.max_conns, 16);
	sc_cleanup();
}

/* --- frames begun and not finished ------------------------------------------
 */

static void stalled_and_trickled_frames_closed(void **state)
{
	struct sc_cfg cfg = {
	    .base_port = 24040,
	    .receivers = 2,
	    .chain_len = 2,
	    .count = 1500,
	    .msg_size = 1000,
	    .rate_Bps = 1000000,
	    .workers = 1,
	    .max_msg = 1u << 20,
	    .exp_id = EXP_ID,
	    .hold = true,
	    .frame_timeout_ns = 400 * CR_MS,
	    .idle_timeout_ns = 60 * CR_SEC,
	};
	enum { STALL = 5, TRICKLE = 5, CUT = 2, ALL = STALL + TRICKLE + CUT };
	int fds[ALL];
	uint8_t buf[T_HDR_SIZE + 1000];
	size_t done = 0;

	(void)state;
	if (sc_start(&cfg))
		fail_msg("start: %s", sc.err);
	assert_true(sc_wait_for(sc_streaming));
	memset(buf, 0x5a, sizeof(buf));
	for (size_t k = 0; k < ALL; k++) {
		uint16_t claim = (uint16_t)(CLAIM + k);
		fds[k] = hello_to(24041, claim);
		frame_header(buf, 512 * 1024, claim);
		if (k <
		    STALL) /* a header and some of the frame, then nothing */
			assert_int_equal(t_send_all(fds[k], buf, sizeof(buf)),
					 0);
		else if (k < STALL + TRICKLE) /* the header, then a byte at a
					       * time */
			assert_int_equal(t_send_all(fds[k], buf, T_HDR_SIZE),
					 0);
		else /* half a header */
			assert_int_equal(
			    t_send_all(fds[k], buf, T_HDR_SIZE / 2), 0);
	}
	/* a byte every 50 ms on each trickle, until the peer has had enough
	 * of all of them */
	for (int round = 0; round < 400 && done < ALL; round++) {
		for (size_t k = STALL; k < STALL + TRICKLE; k++)
			if (fds[k] >= 0)
				send(fds[k], buf + T_HDR_SIZE, 1,
				     MSG_NOSIGNAL | MSG_DONTWAIT);
		sleep_ms(50);
		done = reap(fds, ALL);
	}
	assert_int_equal(done, ALL);
	atomic_store(&sc.may_stop, true);
	sc_finish();
	verify_chains();
	assert_int_equal(stats(1)->net.limit_hits[CR__LIMIT_FRAME], ALL);
	assert_int_equal(stats(1)->net.limit_hits[CR__LIMIT_IDLE], 0);
	assert_int_equal(sc.st[1].departed, ALL);
	assert_int_equal(stats(1)->net.bad_frames, 0);
	assert_int_equal(sc.res.limit_hits[CR__LIMIT_FRAME], ALL);
	sc_cleanup();
}

/* --- the node's budget of unfinished frames ---------------------------------
 */

static void unfinished_frames_stay_under_the_node_limit(void **state)
{
	/* 7 peers on 2 workers: 0..3 on the first, 4..6 on the second */
	struct sc_cfg cfg = {
	    .base_port = 24060,
	    .receivers = 6,
	    .chain_len = 3,
	    .count = 2000,
	    .msg_size = 1000,
	    .rate_Bps = 1000000,
	    .workers = 2,
	    .max_msg = 1u << 20,
	    .exp_id = EXP_ID,
	    .hold = true,
	    .partial_limit = 6u << 20, /* 3 MiB a worker */
	    .frame_timeout_ns = 60 * CR_SEC,
	    .idle_timeout_ns = 60 * CR_SEC,
	};
	/* a frame of 1 MiB, all of it but its last byte, five at peer 2 and
	 * five at peer 5: a worker holds two of them, not three */
	enum { EACH = 5, KEPT = 2, ALL = 2 * EACH, FRAME = 1u << 20 };
	uint8_t *frame = malloc(T_HDR_SIZE + FRAME);
	int fds[ALL];

	(void)state;
	assert_non_null(frame);
	memset(frame, 0x33, T_HDR_SIZE + FRAME);
	if (sc_start(&cfg))
		fail_msg("start: %s", sc.err);
	assert_true(sc_wait_for(sc_streaming));
	for (size_t k = 0; k < ALL; k++) {
		uint16_t claim = (uint16_t)(CLAIM + k);
		fds[k] = hello_to(k < EACH ? 24062 : 24065, claim);
		frame_header(frame, FRAME, claim);
		/* the peer may close it while this is on its way */
		t_send_all(fds[k], frame, T_HDR_SIZE + FRAME - 1);
	}
	assert_int_equal(wait_ended(fds, ALL, ALL - 2 * KEPT), ALL - 2 * KEPT);
	sleep_ms(300);
	assert_int_equal(reap(fds, ALL), ALL - 2 * KEPT); /* the others stay */
	close_all(fds, ALL);
	atomic_store(&sc.may_stop, true);
	sc_finish();
	verify_chains();
	assert_int_equal(stats(2)->net.limit_hits[CR__LIMIT_PARTIAL], EACH - KEPT);
	assert_int_equal(stats(5)->net.limit_hits[CR__LIMIT_PARTIAL], EACH - KEPT);
	assert_int_equal(sc.res.limit_hits[CR__LIMIT_PARTIAL], ALL - 2 * KEPT);
	assert_int_equal(sc.res.limit_hits[CR__LIMIT_FRAME], 0);
	/* it held whole frames but one byte, never more than its limit */
	assert_true(sc.res.partial_peak >= 2 * KEPT * (T_HDR_SIZE + FRAME - 1));
	assert_true(sc.res.partial_peak <= cfg.partial_limit);
	assert_int_equal(sc.res.partial_limit, cfg.partial_limit);
	sc_cleanup();
	free(frame);
}

/* --- garbage datagrams ------------------------------------------------------
 */

static int udp_sock(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	return fd;
}

static void udp_to(int fd, uint16_t port, const void *buf, size_t len)
{
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(
	    sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)),
	    (ssize_t)len);
}

static bool sentinel_seen(void)
{
	return atomic_load(&sc.sentinels) >= 1;
}

static void garbage_datagrams_counted(void **state)
{
	struct sc_cfg cfg = {
	    .base_port = 24080,
	    .receivers = 2,
	    .chain_len = 2,
	    .count = 1500,
	    .msg_size = 1000,
	    .rate_Bps = 1000000,
	    .workers = 1,
	    .exp_id = EXP_ID,
	    .hold = true,
	};
	enum { FLOOD = 3000 };
	const uint16_t tag = t_exp_tag(EXP_ID);
	uint64_t s = 0x9E3779B97F4A7C15ULL, sentinels = 0;
	uint8_t b[T_HDR_SIZE + 600];
	int fd = udp_sock();
	struct t_hdr h;

	(void)state;
	if (sc_start(&cfg))
		fail_msg("start: %s", sc.err);
	assert_true(sc_wait_for(sc_streaming));
	for (int i = 0; i < FLOOD; i++) {
		size_t len = 1 + (size_t)(s % 600);
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		for (size_t k = 0; k < sizeof(b); k++)
			b[k] = (uint8_t)(s >> (k % 8 * 8)) ^ (uint8_t)k;
		switch (i % 4) {
		case 0: /* random bytes (never the magic) */
			b[0] = 0x17;
			break;
		case 1: /* a header whose length says more */
			h = t_hdr_make(SC_SENTINEL, 600, 41999, tag);
			t_hdr_put(b, &h);
			len = T_HDR_SIZE + 10;
			break;
		case 2: /* another experiment */
			h = t_hdr_make(SC_SENTINEL, 0, 41999, tag ^ 1);
			t_hdr_put(b, &h);
			len = T_HDR_SIZE;
			break;
		case 3: /* a hello, which is TCP only */
			t_hello(b, EXP_ID, 41999, tag);
			len = T_HELLO_SIZE;
			break;
		}
		udp_to(fd, 24081, b, len);
		if (i % 50 == 49)
			sleep_ms(2); /* paced: the socket's buffer keeps up */
	}
	/* a good one, until it arrives: then the others have too */
	h = t_hdr_make(SC_SENTINEL, 0, 41999, tag);
	t_hdr_put(b, &h);
	for (int i = 0; i < 100 && !sentinel_seen(); i++) {
		udp_to(fd, 24081, b, T_HDR_SIZE);
		sentinels++;
		sleep_ms(50);
	}
	assert_true(sentinel_seen());
	close(fd);
	atomic_store(&sc.may_stop, true);
	sc_finish();
	verify_chains();
	/* every datagram is counted: bad, or dropped by the kernel at a full
	 * socket (a sentinel that got through is neither) */
	assert_int_equal(stats(1)->net.bad_datagrams + stats(1)->net.udp_rx_overflow,
			 FLOOD + sentinels - sc.st[1].sentinels);
	assert_int_equal(stats(1)->net.bad_frames, stats(1)->net.bad_datagrams);
	assert_int_equal(sc.res.bad_datagrams, stats(1)->net.bad_datagrams);
	assert_int_equal(sc.st[1].departed, 0);
	sc_cleanup();
}

/* --- back-pressure with idle connections held ----------------------------- */

static void backpressure_with_idle_connections_held(void **state)
{
	/* two chains of five pushed as fast as they go, through queues of
	 * 16 KiB so that every peer pauses and resumes all the time, while
	 * 100 idle connections wait on each of them */
	struct sc_cfg cfg = {
	    .base_port = 24100,
	    .receivers = 10,
	    .chain_len = 5,
	    .count = 20000,
	    .msg_size = 1000,
	    .workers = 2,
	    .queue_limit = 16384,
	    .exp_id = EXP_ID,
	    .hold = true,
	    .max_conns = 1000,
	    .idle_timeout_ns = 60 * CR_SEC,
	};
	enum { EACH = 100, PEERS = 11 };
	static int fds[EACH * PEERS];
	size_t n = 0;

	(void)state;
	if (sc_start(&cfg))
		fail_msg("start: %s", sc.err);
	for (size_t k = 0; k < EACH; k++)
		for (size_t i = 0; i < PEERS; i++, n++)
			fds[n] = hello_to((uint16_t)(24100 + i),
					  (uint16_t)(CLAIM + n));
	/* every tail has it all; the idle ones are all still there */
	while (atomic_load(&sc.tails_done) < sc.chains.nchains &&
	       !cr_node_wait(sc.node, 10 * CR_MS))
		;
	assert_int_equal(reap(fds, n), 0);
	close_all(fds, n);
	atomic_store(&sc.may_stop, true);
	sc_finish();
	verify_chains();
	for (int k = 0; k < CR__LIMIT_N; k++)
		assert_int_equal(sc.res.limit_hits[k], 0);
	sc_cleanup();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(idle_flood_closed_counted_logged_once),
	    cmocka_unit_test(connections_over_the_cap_closed_at_once),
	    cmocka_unit_test(stalled_and_trickled_frames_closed),
	    cmocka_unit_test(unfinished_frames_stay_under_the_node_limit),
	    cmocka_unit_test(garbage_datagrams_counted),
	    cmocka_unit_test(backpressure_with_idle_connections_held),
	};

	return cmocka_run_group_tests_name("hostile", tests, NULL, NULL);
}
