/* Hostile and hand-made input against a live node (ports 32000-32599).
 *
 * While a chain experiment streams a counted number of messages, raw
 * sockets from the test connect to its peers (a source, a chain head, a
 * middle peer) and send, one connection each: random bytes, a header with
 * bad magic, a bad version, an unknown type, a bad address family, a
 * length above the maximum, a frame before any hello, a second hello, a
 * hello with another experiment's tag, a hello for another experiment id,
 * a hello of the wrong length, and a truncated frame followed by EOF.
 * Every such connection is closed by the peer (recv returns 0 or
 * ECONNRESET); a tracker's answer that nobody asked for, from a
 * connection that is not the tracker, changes nothing; bad frames are counted
 * exactly; connections that had said hello depart exactly once; malformed UDP
 * datagrams are counted and dropped while a valid one gets through; and the
 * stream's counts stay exact: every message, once, in order, at every peer.
 *
 * A second test speaks the protocol from a raw socket correctly, and
 * checks that the peer's hello and the frames it relays are byte-exact.
 */
#include "seqchain.h"
#include "support.h"

#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define EXP_ID	0x00C0FFEE5EED1234ULL
#define MAX_MSG (64u * 1024u)

static bool sentinel_seen(void)
{
	return atomic_load(&sc.sentinels) >= 1;
}

/* Sends one kind of bad input to a peer; returns whether it said hello
 * first (and so should depart).  Fails the test if the peer keeps the
 * connection open. */
static bool attack(uint16_t port, size_t kind, uint16_t claim)
{
	const struct t_bad_kind *bk = &t_bad_kinds[kind];
	uint8_t theirs[T_HELLO_SIZE], buf[1024];
	size_t n, got = 0;
	int fd = t_tcp_connect(port);

	if (fd < 0)
		fail_msg("%s: cannot connect to %u", bk->name, port);
	if (bk->hello_first) {
		t_hello(buf, EXP_ID, claim, t_exp_tag(EXP_ID));
		assert_int_equal(t_send_all(fd, buf, T_HELLO_SIZE), 0);
	}
	n = t_bad_frame(kind, buf, EXP_ID, t_exp_tag(EXP_ID), claim, MAX_MSG);
	t_send_all(fd, buf, n); /* may fail: the peer may have closed */
	if (t_read_until_closed(fd, theirs, sizeof(theirs), &got))
		fail_msg("%s: peer %u kept the connection open", bk->name,
			 port);
	/* what came back first was the peer's own hello (unless a reset
	 * threw it away before it was read) */
	if (got >= T_HELLO_SIZE) {
		assert_int_equal(theirs[0], 0x43);
		assert_int_equal(theirs[1], 0x52);
		assert_int_equal(theirs[3], 1);
		assert_true(t_get64(theirs + T_HDR_SIZE) == EXP_ID);
		assert_int_equal(theirs[12] << 8 | theirs[13], port);
	}
	close(fd);
	return bk->hello_first;
}

/* Half a header, then EOF: the peer closes too, and nothing is counted. */
static bool truncated(uint16_t port, bool hello_first, uint16_t claim)
{
	uint8_t buf[T_HELLO_SIZE + T_HDR_SIZE];
	struct t_hdr h = t_hdr_make(SC_TYPE, 100, claim, t_exp_tag(EXP_ID));
	size_t n = 0, got;
	int fd = t_tcp_connect(port);

	assert_true(fd >= 0);
	if (hello_first) {
		t_hello(buf, EXP_ID, claim, t_exp_tag(EXP_ID));
		n = T_HELLO_SIZE;
	}
	t_hdr_put(buf + n, &h);
	n += T_HDR_SIZE / 2;
	assert_int_equal(t_send_all(fd, buf, n), 0);
	shutdown(fd, SHUT_WR);
	assert_int_equal(t_read_until_closed(fd, NULL, 0, &got), 0);
	close(fd);
	return hello_first;
}

/* A tracker's answer nobody asked for, from a connection that is not the
 * tracker: it must change nothing (the peers' bootstrap lists, which the
 * algorithm holds, stay as they were). */
static bool unsolicited_tracker_answer(uint16_t port, uint16_t claim)
{
	const uint16_t tag = t_exp_tag(EXP_ID);
	uint8_t buf[T_HELLO_SIZE + 2 * T_HDR_SIZE + 4 + 2 * 19];
	struct t_hdr h =
	    t_hdr_make(4 /* tracker peers */, 4 + 2 * 19, claim, tag);
	uint8_t *pl = buf + T_HELLO_SIZE + T_HDR_SIZE;
	size_t n, got;
	int fd = t_tcp_connect(port);

	assert_true(fd >= 0);
	t_hello(buf, EXP_ID, claim, tag);
	t_hdr_put(buf + T_HELLO_SIZE, &h);
	memset(pl, 0, 4 + 2 * 19);
	pl[1] = 1; /* session 1 */
	pl[3] = 2; /* two peers */
	for (int i = 0; i < 2; i++) {
		uint8_t *e = pl + 4 + 19 * i;
		uint16_t to = (uint16_t)(32001 + 5 * i);
		e[0] = 4;
		e[1] = (uint8_t)(to >> 8);
		e[2] = (uint8_t)to;
		e[3] = 127;
		e[6] = 1;
	}
	n = T_HELLO_SIZE + T_HDR_SIZE + 4 + 2 * 19;
	/* and a probe, as a tracker would send */
	h = t_hdr_make(6, 0, claim, tag);
	t_hdr_put(buf + n, &h);
	n += T_HDR_SIZE;
	assert_int_equal(t_send_all(fd, buf, n), 0);
	shutdown(fd, SHUT_WR);
	assert_int_equal(t_read_until_closed(fd, NULL, 0, &got), 0);
	close(fd);
	return true; /* it said hello: it departs */
}

static void udp_to(uint16_t port, const void *buf, size_t len)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(
	    sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)),
	    (ssize_t)len);
	close(fd);
}

static uint64_t bad_udp(uint16_t port)
{
	const uint16_t tag = t_exp_tag(EXP_ID);
	uint8_t b[T_HDR_SIZE + 64];
	struct t_hdr h;
	uint64_t n = 0;

	memset(b, 0x41, sizeof(b));
	udp_to(port, b, 10), n++; /* shorter than a header */
	h = t_hdr_make(SC_SENTINEL, 64, 32555, tag);
	t_hdr_put(b, &h);
	udp_to(port, b, T_HDR_SIZE + 10), n++; /* length says more */
	h.magic = 0x1234;
	t_hdr_put(b, &h);
	udp_to(port, b, T_HDR_SIZE + 64), n++; /* bad magic */
	t_hello(b, EXP_ID, 32555, tag);
	udp_to(port, b, T_HELLO_SIZE), n++; /* engine message over UDP */
	h = t_hdr_make(SC_SENTINEL, 0, 32555, (uint16_t)(tag + 1));
	t_hdr_put(b, &h);
	udp_to(port, b, T_HDR_SIZE), n++; /* another experiment */
	/* then a good one: once it has arrived, so have those before it */
	h = t_hdr_make(SC_SENTINEL, 0, 32555, tag);
	t_hdr_put(b, &h);
	udp_to(port, b, T_HDR_SIZE);
	return n;
}

static void hostile_input_while_streaming(void **state)
{
	/* two chains: 0 -> 1 -> 2 -> 3 and 0 -> 4 -> 5 -> 6 */
	const uint16_t targets[] = {32000, 32002, 32004};
	struct sc_cfg cfg = {
	    .base_port = 32000,
	    .receivers = 6,
	    .chain_len = 3,
	    .count = 1500,
	    .msg_size = 1000,
	    .rate_Bps = 1000000, /* a second and a half of stream */
	    .workers = 2,
	    .max_msg = MAX_MSG,
	    .exp_id = EXP_ID,
	    .hold = true,
	};
	uint64_t counted[3] = {0}, named[3] = {0}, udp_bad;
	const char *why;

	if (sc_start(&cfg))
		fail_msg("start: %s", sc.err);
	assert_true(sc_wait_for(sc_streaming));
	for (size_t k = 0; k < t_nbad_kinds; k++) {
		for (size_t t = 0; t < 3; t++) {
			uint16_t claim = (uint16_t)(32100 + 10 * k + t);
			named[t] += attack(targets[t], k, claim);
			counted[t] += t_bad_kinds[k].counted;
		}
	}
	for (size_t t = 0; t < 3; t++) {
		named[t] += unsolicited_tracker_answer(targets[t],
						       (uint16_t)(32310 + t));
		named[t] += truncated(targets[t], false, 32300);
		named[t] += truncated(targets[t], true, (uint16_t)(32301 + t));
	}
	udp_bad = bad_udp(32005);
	assert_true(sc_wait_for(sentinel_seen));
	atomic_store(&sc.may_stop, true);
	sc_finish();

	why = sc_verify();
	if (why)
		fail_msg("%s", why);
	for (size_t t = 0; t < 3; t++) {
		size_t i = targets[t] - cfg.base_port;
		const struct cr__peer_stats *ps =
		    cr_node_peer_stats(sc.node, i);
		assert_int_equal(ps->net.bad_frames, counted[t]);
		assert_int_equal(sc.st[i].departed, named[t]);
		assert_int_equal(ps->departures, named[t]);
	}
	assert_int_equal(cr_node_peer_stats(sc.node, 5)->net.bad_frames, udp_bad);
	assert_int_equal(sc.st[5].sentinels, 1);
	assert_int_equal(sc.res.bad_frames,
			 counted[0] + counted[1] + counted[2] + udp_bad);
	/* peers not attacked saw nothing of it */
	assert_int_equal(
	    sc.st[1].departed + sc.st[3].departed + sc.st[6].departed, 0);
	sc_cleanup();
}

/* --- speaking the protocol by hand ------------------------------------------
 */

static struct {
	uint64_t n;
	uint8_t type[8];
	uint16_t session[8];
	uint32_t len[8];
	int64_t created[8];
	cr_addr src[8], from[8];
	uint32_t sum[8];
	uint64_t departed;
	cr_addr departed_who;
} got;

static void hand_msg(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	const uint8_t *b = cr_msg_payload(m);
	uint64_t i = got.n++;
	uint32_t sum = 0;

	if (i >= 8)
		return;
	for (size_t k = 0; k < cr_msg_len(m); k++)
		sum = sum * 31 + b[k];
	got.type[i] = cr_msg_type(m);
	got.session[i] = cr_msg_session(m);
	got.len[i] = (uint32_t)cr_msg_len(m);
	got.created[i] = cr_msg_created_ns(m);
	got.src[i] = *cr_msg_source(m);
	got.from[i] = *from;
	got.sum[i] = sum;
	/* echo data back to whoever sent it, to test what we receive */
	if (cr_msg_type(m) >= CR_MSG_DATA_MIN)
		cr_send(p, from, m, CR_TCP);
}

static void hand_departed(cr_peer *p, const cr_addr *who)
{
	got.departed++;
	got.departed_who = *who;
	cr_experiment_stop(p);
}

static const cr_algorithm echo = {
    .api_version = CR_API_VERSION,
    .name = "echo",
    .process = hand_msg,
    .process_data = hand_msg,
    .peer_departed = hand_departed,
};

static uint32_t sum_of(const uint8_t *b, size_t n)
{
	uint32_t sum = 0;

	for (size_t k = 0; k < n; k++)
		sum = sum * 31 + b[k];
	return sum;
}

static void protocol_spoken_by_hand(void **state)
{
	const uint16_t port = 32500, me = 32501;
	const uint16_t tag = t_exp_tag(EXP_ID);
	const uint32_t lens[3] = {0, 333, 150000};
	struct cr_node_peer peer = {.addr = t_addr(port)};
	struct cr_node_config cfg = {
	    .name = "by-hand",
	    .exp_id = EXP_ID,
	    .duration_ns = 20 * CR_SEC,
	    .workers = 1,
	    .algo = &echo,
	    .peers = &peer,
	    .npeers = 1,
	    .log_level = CR_LOG_ERROR,
	};
	uint8_t hello[T_HELLO_SIZE], theirs[T_HELLO_SIZE];
	uint8_t *frames[3], *back;
	char err[256];
	cr_node *n;
	int fd;

	memset(&got, 0, sizeof(got));
	if (cr_node_create(&cfg, &n, err, sizeof(err)) ||
	    cr_node_start(n, err, sizeof(err)))
		fail_msg("%s", err);
	fd = t_tcp_connect(port);
	assert_true(fd >= 0);
	/* the peer's hello: exactly the documented bytes */
	assert_int_equal(t_read_exact(fd, theirs, sizeof(theirs)), 0);
	struct t_hdr h = t_hdr_make(1, 8, port, tag);
	t_hdr_put(hello, &h);
	assert_memory_equal(theirs, hello, 16);
	assert_memory_equal(theirs + 24, hello + 24, 16);
	assert_true(t_get64(theirs + T_HDR_SIZE) == EXP_ID);

	/* ours, a control frame, two data frames, a goodbye, one byte at a
	 * time for the first frames */
	t_hello(hello, EXP_ID, me, tag);
	for (size_t i = 0; i < sizeof(hello); i++)
		assert_int_equal(t_send_all(fd, hello + i, 1), 0);
	for (int f = 0; f < 3; f++) {
		struct t_hdr fh =
		    t_hdr_make(f == 0 ? 16 : (uint8_t)(200 + f), lens[f],
			       (uint16_t)(40000 + f), tag);
		fh.session = (uint16_t)(7 * f + 1);
		fh.created_ns = -1000 * f;
		frames[f] = malloc(T_HDR_SIZE + lens[f]);
		t_hdr_put(frames[f], &fh);
		for (uint32_t k = 0; k < lens[f]; k++)
			frames[f][T_HDR_SIZE + k] = t_pattern((uint64_t)f, k);
		if (f == 0) {
			for (size_t k = 0; k < T_HDR_SIZE; k++)
				assert_int_equal(
				    t_send_all(fd, frames[f] + k, 1), 0);
		} else {
			assert_int_equal(
			    t_send_all(fd, frames[f], T_HDR_SIZE + lens[f]), 0);
		}
	}
	/* the data frames come back: relayed unchanged, header and all */
	back = malloc(T_HDR_SIZE + lens[2]);
	for (int f = 1; f < 3; f++) {
		assert_int_equal(t_read_exact(fd, back, T_HDR_SIZE + lens[f]),
				 0);
		assert_memory_equal(back, frames[f], T_HDR_SIZE + lens[f]);
	}
	struct t_hdr bye = t_hdr_make(2, 0, me, tag);
	uint8_t byeb[T_HDR_SIZE];
	t_hdr_put(byeb, &bye);
	assert_int_equal(t_send_all(fd, byeb, sizeof(byeb)), 0);
	close(fd);
	while (!cr_node_wait(n, 100 * CR_MS))
		;
	cr_node_join(n);

	assert_int_equal(got.n, 3);
	cr_addr meaddr = t_addr(me);
	for (int f = 0; f < 3; f++) {
		cr_addr src = t_addr((uint16_t)(40000 + f));
		assert_int_equal(got.type[f], f == 0 ? 16 : 200 + f);
		assert_int_equal(got.session[f], 7 * f + 1);
		assert_int_equal(got.len[f], lens[f]);
		assert_true(got.created[f] == -1000 * f);
		assert_true(cr_addr_eq(&got.src[f], &src));
		assert_true(cr_addr_eq(&got.from[f], &meaddr));
		assert_int_equal(got.sum[f],
				 sum_of(frames[f] + T_HDR_SIZE, lens[f]));
		free(frames[f]);
	}
	free(back);
	/* it said goodbye and closed: gone, once */
	assert_int_equal(got.departed, 1);
	assert_true(cr_addr_eq(&got.departed_who, &meaddr));
	assert_int_equal(cr_node_peer_stats(n, 0)->net.bad_frames, 0);
	cr_node_destroy(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(hostile_input_while_streaming),
	    cmocka_unit_test(protocol_spoken_by_hand),
	};

	return cmocka_run_group_tests_name("frames", tests, NULL, NULL);
}
