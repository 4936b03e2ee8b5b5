/* In-process nodes on loopback with real sockets (ports 31000-31999):
 *   - chains of relaying peers (tests/seqchain.c): every numbered message
 *     reaches every peer once, in order, byte-exact, and the engine's
 *     counters agree exactly: fast and rate-paced sources, large messages,
 *     one worker, queues small enough to pause peers over and over, 400
 *     peers; and the built-in relay, stopped once every byte is counted;
 *   - a run stopped from outside says it was interrupted and reports no
 *     departures; two experiments run side by side in one process, and a
 *     link between them is refused without delivering anything;
 *   - the node's life: a port already taken fails the start cleanly, bad
 *     configurations are refused with a reason, and peers that stop the
 *     experiment the moment they are born still end every worker;
 *   - UDP: a ping-pong of control and data datagrams with exact counts;
 *     refused sends (too large for UDP, no such transport, no address)
 *     are neither sent nor counted;
 *   - peer_departed is called exactly once when a neighbour goes: removed
 *     over one connection or two (simultaneous connects), or refused;
 *   - peer timers (periodic, one-shot, cancelled, "never") and parameters
 *     through the algorithm API;
 *   - a third-party algorithm built here as a shared object loads through
 *     the registry and runs; broken ones are refused with a reason;
 *   - the descriptor budget says no to an experiment that cannot fit.
 * Every run has a safety duration; assertions are on what arrived.
 */
#include "../src/builtins/registry.h"
#include "seqchain.h"
#include "support.h"

#include <dlfcn.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define SAFETY_NS (20 * CR_SEC)

static void run_chain(const struct sc_cfg *cfg)
{
	const char *why;

	if (sc_start(cfg))
		fail_msg("start: %s", sc.err);
	sc_finish();
	why = sc_verify();
	if (why)
		fail_msg("%s", why);
	assert_int_equal(sc.res.bad_frames, 0);
	sc_cleanup();
}

static void small_node(const cr_algorithm *algo, size_t n,
		       const struct cr_node_param *params, size_t nparams);
static void peer_at(size_t i, uint16_t port, size_t nboot, ...);
static cr_node *node;

/* --- chains ------------------------------------------------------------------
 */

static void chains_fast_source(void **state)
{
	struct sc_cfg cfg = {
	    .base_port = 31000,
	    .receivers = 20,
	    .chain_len = 5,
	    .count = 3000,
	    .msg_size = 1000,
	    .workers = 2,
	};

	run_chain(&cfg);
}

static void chains_paced_source(void **state)
{
	struct sc_cfg cfg = {
	    .base_port = 31030,
	    .receivers = 9,
	    .chain_len = 3,
	    .count = 400,
	    .msg_size = 1234,
	    .rate_Bps = 2000000, /* about a quarter of a second */
	    .workers = 2,
	};

	run_chain(&cfg);
}

static void chains_large_messages(void **state)
{
	/* frames larger than half a receive slab, relayed from their own */
	struct sc_cfg cfg = {
	    .base_port = 31050,
	    .receivers = 4,
	    .chain_len = 2,
	    .count = 60,
	    .msg_size = 200000,
	    .workers = 2,
	};

	run_chain(&cfg);
}

static void chains_one_worker(void **state)
{
	/* every peer on one loop: sends to a local peer go through sockets
	 * all the same */
	struct sc_cfg cfg = {
	    .base_port = 31070,
	    .receivers = 12,
	    .chain_len = 12,
	    .count = 1500,
	    .msg_size = 100,
	    .workers = 1,
	};

	run_chain(&cfg);
}

static void chains_under_backpressure(void **state)
{
	/* queues of a few frames: peers pause reading and the source waits
	 * for them to drain, over and over; nothing is lost or reordered */
	struct sc_cfg cfg = {
	    .base_port = 31090,
	    .receivers = 8,
	    .chain_len = 4,
	    .count = 3000,
	    .msg_size = 1500,
	    .queue_limit = 4096,
	    .workers = 2,
	};

	run_chain(&cfg);
}

static void chains_of_many_peers(void **state)
{
	/* 400 peers: the connection tables grow many times over */
	struct sc_cfg cfg = {
	    .base_port = 31600,
	    .receivers = 400,
	    .chain_len = 25,
	    .count = 100,
	    .msg_size = 256,
	    .workers = 2,
	};

	run_chain(&cfg);
}

/* Polls a running relay node until `want` data bytes have been counted
 * (or the node ends), then stops it. */
static bool relay_until(cr_node *n, uint64_t want, bool interrupt)
{
	bool reached = false;

	while (!cr_node_wait(n, 10 * CR_MS)) {
		int64_t now;
		uint64_t bytes, up;
		cr_node_live(n, &now, &bytes, &up);
		if (bytes >= want && !reached) {
			reached = true;
			cr_node_stop(n, interrupt);
		}
	}
	cr_node_join(n);
	return reached;
}

static void builtin_relay_delivers_every_byte(void **state)
{
	char err[256];
	const cr_algorithm *relay =
	    cr__algorithm_find("relay", err, sizeof(err));
	struct sc_cfg cfg = {
	    .base_port = 31100,
	    .receivers = 15,
	    .chain_len = 5,
	    .count = 2000,
	    .msg_size = 700,
	    .workers = 2,
	};
	const uint64_t want = cfg.count * cfg.msg_size * cfg.receivers;

	assert_non_null(relay);
	cfg.algo = relay;
	if (sc_start(&cfg))
		fail_msg("start: %s", sc.err);
	/* the relay never stops by itself: stop once every byte is counted */
	assert_true(relay_until(sc.node, want, false));
	sc_finish();
	for (size_t i = 1; i < sc.chains.npeers; i++) {
		const struct cr__peer_stats *ps =
		    cr_node_peer_stats(sc.node, i);
		assert_int_equal(ps->data_msgs_in, cfg.count);
		assert_int_equal(ps->data_bytes_in, cfg.count * cfg.msg_size);
		assert_int_equal(ps->data_msgs_out,
				 cfg.count * sc.chains.peers[i].nboot);
		assert_int_equal(ps->ctrl_msgs_in, 0);
	}
	assert_int_equal(cr_node_peer_stats(sc.node, 0)->data_msgs_out,
			 cfg.count * sc.chains.nchains);
	assert_int_equal(sc.res.data_bytes_in, want);
	assert_int_equal(sc.res.messages_switched, cfg.count * cfg.receivers);
	assert_int_equal(sc.res.bad_frames, 0);
	assert_false(sc.res.interrupted);
	sc_cleanup();
}

static void interrupted_run_reports_no_departures(void **state)
{
	/* an endless stream stopped from outside: every peer's connections
	 * close as the workers end, and none of that is a departure */
	char err[256];
	struct sc_cfg cfg = {
	    .base_port = 31140,
	    .receivers = 30,
	    .chain_len = 3,
	    .count = 0, /* no end */
	    .msg_size = 1000,
	    .workers = 2,
	};

	cfg.algo = cr__algorithm_find("relay", err, sizeof(err));
	if (sc_start(&cfg))
		fail_msg("start: %s", sc.err);
	assert_true(relay_until(sc.node, 5u << 20, true));
	sc_finish();
	assert_true(sc.res.interrupted);
	for (size_t i = 0; i < sc.chains.npeers; i++)
		assert_int_equal(cr_node_peer_stats(sc.node, i)->departures, 0);
	assert_int_equal(sc.res.bad_frames, 0);
	sc_cleanup();
}

/* Two experiments at once in one process, and a link between them. */
static void two_experiments_side_by_side(void **state)
{
	const cr_algorithm *relay;
	struct cr_chains ch[2];
	struct cr__source_cfg src = {
	    .session = 1, .msg_size = 800, .count = 1500};
	cr_node *n[2];
	char err[256];
	const uint64_t want = 1500ULL * 800 * 6;

	relay = cr__algorithm_find("relay", err, sizeof(err));
	for (int k = 0; k < 2; k++) {
		cr_addr base = t_addr((uint16_t)(31160 + 10 * k));
		struct cr_node_config cfg = {
		    .name = k ? "second" : "first",
		    .duration_ns = SAFETY_NS,
		    .workers = 2,
		    .algo = relay,
		    .sources = &src,
		    .nsources = 1,
		    .log_level = CR_LOG_ERROR,
		    .stats_interval_ns = 10 * CR_MS,
		};
		assert_int_equal(
		    cr_chains_build(&ch[k], &base, 6, 3, err, sizeof(err)), 0);
		cfg.peers = ch[k].peers;
		cfg.npeers = ch[k].npeers;
		if (cr_node_create(&cfg, &n[k], err, sizeof(err)))
			fail_msg("create: %s", err);
	}
	for (int k = 0; k < 2; k++)
		if (cr_node_start(n[k], err, sizeof(err)))
			fail_msg("start: %s", err);
	assert_true(relay_until(n[0], want, false));
	assert_true(relay_until(n[1], want, false));
	for (int k = 0; k < 2; k++) {
		for (size_t i = 1; i < ch[k].npeers; i++) {
			const struct cr__peer_stats *ps =
			    cr_node_peer_stats(n[k], i);
			assert_int_equal(ps->data_msgs_in, 1500);
			assert_int_equal(ps->data_bytes_in, 1500 * 800);
			assert_int_equal(ps->net.bad_frames, 0);
		}
		cr_node_destroy(n[k]);
		cr_chains_free(&ch[k]);
	}
}

/* Forwards data to its first bootstrap peer; counts departures. */
static atomic_uint_fast64_t fwd_departed, fwd_received;

static void fwd_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	const cr_addr *boot;

	if (cr_is_self(p, from) && cr_msg_len(m) == 0)
		return; /* the end of the source's stream */
	if (!cr_is_self(p, from))
		atomic_fetch_add(&fwd_received, 1);
	if (cr_bootstrap_peers(p, &boot))
		cr_send(p, &boot[0], m, CR_TCP);
}

static void fwd_gone(cr_peer *p, const cr_addr *who)
{
	atomic_fetch_add(&fwd_departed, 1);
}

static const cr_algorithm forwarder = {
    .api_version = CR_API_VERSION,
    .name = "forwarder",
    .process = fwd_data,
    .process_data = fwd_data,
    .peer_departed = fwd_gone,
};

static void experiments_do_not_mix(void **state)
{
	/* a peer of one experiment given a peer of another as its next hop:
	 * the hellos disagree, the link is refused, nothing is delivered */
	struct cr_node_peer a[2], b[1];
	cr_addr a_boot = t_addr(31191);
	cr_addr b_addr = t_addr(31195);
	struct cr__source_cfg src = {
	    .session = 1, .msg_size = 100, .count = 50};
	cr_node *na = NULL, *nb = NULL;
	char err[256];

	atomic_store(&fwd_departed, 0);
	atomic_store(&fwd_received, 0);
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	a[0].addr = t_addr(31190);
	a[0].boot = &a_boot;
	a[0].nboot = 1;
	a[1].addr = t_addr(31191);
	a[1].boot = &b_addr; /* the other experiment's peer */
	a[1].nboot = 1;
	b[0].addr = b_addr;
	struct cr_node_config ca = {
	    .name = "mine",
	    .duration_ns = SAFETY_NS,
	    .workers = 1,
	    .algo = &forwarder,
	    .peers = a,
	    .npeers = 2,
	    .sources = &src,
	    .nsources = 1,
	    .log_level = CR_LOG_ERROR,
	};
	struct cr_node_config cb = ca;
	cb.name = "theirs";
	cb.peers = b;
	cb.npeers = 1;
	cb.sources = NULL;
	cb.nsources = 0;
	if (cr_node_create(&ca, &na, err, sizeof(err)) ||
	    cr_node_create(&cb, &nb, err, sizeof(err)))
		fail_msg("create: %s", err);
	if (cr_node_start(nb, err, sizeof(err)) ||
	    cr_node_start(na, err, sizeof(err)))
		fail_msg("start: %s", err);
	/* the link to the other experiment ends: a departure */
	for (int i = 0; i < 2000 && !atomic_load(&fwd_departed); i++)
		cr_node_wait(na, 10 * CR_MS);
	cr_node_stop(na, false);
	cr_node_stop(nb, false);
	cr_node_join(na);
	cr_node_join(nb);
	assert_int_equal(atomic_load(&fwd_departed), 1);
	/* within the experiment: all of it; across: nothing */
	assert_int_equal(cr_node_peer_stats(na, 1)->data_msgs_in, 50);
	assert_int_equal(cr_node_peer_stats(nb, 0)->data_msgs_in, 0);
	assert_int_equal(cr_node_peer_stats(nb, 0)->ctrl_msgs_in, 0);
	/* one side or both saw the other's hello and refused it */
	assert_true(cr_node_peer_stats(na, 1)->net.bad_frames +
			cr_node_peer_stats(nb, 0)->net.bad_frames >=
		    1);
	cr_node_destroy(na);
	cr_node_destroy(nb);
}

static void start_fails_cleanly_when_a_port_is_taken(void **state)
{
	struct sockaddr_in sa;
	struct cr_node_config cfg;
	struct cr_node_peer ps[3];
	char err[256] = "";
	cr_node *n;
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(31232);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	memset(ps, 0, sizeof(ps));
	for (int i = 0; i < 3; i++)
		ps[i].addr = t_addr((uint16_t)(31230 + i));
	memset(&cfg, 0, sizeof(cfg));
	cfg.algo = &sc_algorithm;
	cfg.peers = ps;
	cfg.npeers = 3;
	cfg.workers = 2;
	cfg.duration_ns = SAFETY_NS;
	cfg.log_level = CR_LOG_ERROR;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)), 0);
	assert_int_equal(cr_node_start(n, err, sizeof(err)), -CR_EADDRINUSE);
	assert_non_null(strstr(err, "127.0.0.1:31232"));
	cr_node_destroy(n);
	close(fd);
	/* nothing was left running: the other peers' ports are closed */
	assert_int_equal(t_tcp_connect(31230), -1);
	assert_int_equal(t_tcp_connect(31231), -1);
}

static int stop_now(cr_peer *p)
{
	cr_experiment_stop(p);
	return 0;
}

static const cr_algorithm stopper = {
    .api_version = CR_API_VERSION,
    .name = "stopper",
    .bootstrap = stop_now,
};

static void stopped_at_birth_ends_every_worker(void **state)
{
	/* a peer that ends the experiment the moment it is born, before
	 * the node has finished starting: every worker must still be woken
	 * (if one is not, this test never returns) */
	for (int round = 0; round < 30; round++) {
		for (size_t i = 0; i < 4; i++)
			peer_at(i, (uint16_t)(31220 + i), 0);
		small_node(&stopper, 4, NULL, 0);
		cr_node_destroy(node);
	}
}

static void create_refuses_bad_configs(void **state)
{
	struct cr_node_peer ps[1];
	struct cr__source_cfg src;
	struct cr_node_config cfg;
	cr_algorithm old = sc_algorithm;
	char err[256];
	cr_node *n = NULL;

	memset(ps, 0, sizeof(ps));
	ps[0].addr = t_addr(31210);
	memset(&cfg, 0, sizeof(cfg));
	cfg.algo = &sc_algorithm;
	cfg.peers = ps;
	cfg.npeers = 1;

	cfg.npeers = 0;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)),
			 -CR_EINVAL);
	assert_null(n);
	n = (cr_node *)(uintptr_t)1; /* must be reset on failure */
	assert_non_null(strstr(err, "no peers"));
	cfg.npeers = 1;

	cfg.algo = NULL;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)),
			 -CR_EINVAL);
	old.api_version = CR_API_VERSION + 1;
	cfg.algo = &old;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)),
			 -CR_EINVAL);
	assert_non_null(strstr(err, "API version"));
	cfg.algo = &sc_algorithm;

	memset(&src, 0, sizeof(src));
	src.peer_index = 1; /* there is only peer 0 */
	src.msg_size = 100;
	cfg.sources = &src;
	cfg.nsources = 1;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)),
			 -CR_EINVAL);
	assert_null(n);
	assert_non_null(strstr(err, "source"));
	src.peer_index = 0;
	src.msg_size = 0;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)),
			 -CR_EINVAL);
	src.msg_size = 2000;
	cfg.max_msg_bytes = 1000;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)),
			 -CR_EINVAL);
	/* and a good one, created and destroyed without running */
	src.msg_size = 1000;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)), 0);
	assert_non_null(n);
	cr_node_destroy(n);
}

/* --- a node of a few peers with an algorithm of the test's own -------------
 */

static struct cr_node_peer npeers[4];
static cr_addr boots[4][2];

static void small_node(const cr_algorithm *algo, size_t n,
		       const struct cr_node_param *params, size_t nparams)
{
	struct cr_node_config cfg;
	char err[256];

	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "test";
	cfg.duration_ns = SAFETY_NS;
	cfg.workers = (int)n;
	cfg.algo = algo;
	cfg.peers = npeers;
	cfg.npeers = n;
	cfg.params = params;
	cfg.nparams = nparams;
	cfg.log_level = CR_LOG_ERROR;
	if (cr_node_create(&cfg, &node, err, sizeof(err)))
		fail_msg("create: %s", err);
	if (cr_node_run(node, err, sizeof(err)))
		fail_msg("run: %s", err);
}

static void peer_at(size_t i, uint16_t port, size_t nboot, ...)
{
	va_list ap;

	memset(&npeers[i], 0, sizeof(npeers[i]));
	npeers[i].addr = t_addr(port);
	va_start(ap, nboot);
	for (size_t k = 0; k < nboot; k++)
		boots[i][k] = t_addr((uint16_t)va_arg(ap, int));
	va_end(ap);
	npeers[i].boot = boots[i];
	npeers[i].nboot = nboot;
}

/* --- UDP ping-pong
 * ------------------------------------------------------------ */

#define PING	 20  /* control */
#define PONG	 150 /* data */
#define PING_LEN 100
#define PONG_LEN 200
#define ROUNDS	 500

static struct {
	uint64_t pings, pongs, errors;
	int rc_oversize, rc_badproto, rc_null, rc_noaddr_udp, rc_noaddr_tcp;
	bool new_too_big, new_engine_type;
	char err[128];
} pp[2];

static void pp_error(int who, const char *what)
{
	if (!pp[who].errors++)
		snprintf(pp[who].err, sizeof(pp[who].err), "%s", what);
}

static void send_numbered(cr_peer *p, const cr_addr *to, uint8_t type,
			  size_t len, uint64_t seq, int who)
{
	cr_msg *m = cr_msg_new(p, type, 5, len);
	uint8_t *b = m ? cr_msg_payload_mut(m) : NULL;

	if (!b) {
		pp_error(who, "cannot make a message");
		return;
	}
	for (size_t i = 8; i < len; i++)
		b[i] = t_pattern(seq, i);
	t_put64(b, seq);
	if (cr_send(p, to, m, CR_UDP))
		pp_error(who, "cr_send over UDP failed");
	cr_msg_release(m);
}

static bool numbered_ok(cr_msg *m, size_t len, uint64_t seq)
{
	const uint8_t *b = cr_msg_payload(m);

	if (cr_msg_len(m) != len || cr_msg_session(m) != 5 || t_get64(b) != seq)
		return false;
	for (size_t i = 8; i < len; i++)
		if (b[i] != t_pattern(seq, i))
			return false;
	return true;
}

static int pp_bootstrap(cr_peer *p)
{
	const cr_addr *boot;
	cr_msg *big;

	if (!cr_bootstrap_peers(p, &boot))
		return 0; /* the ponger waits */
	/* refused sends: too large for a datagram, no such transport */
	big = cr_msg_new(p, PING, 5, 70000);
	pp[0].rc_oversize = cr_send(p, &boot[0], big, CR_UDP);
	pp[0].rc_badproto = cr_send(p, &boot[0], big, (cr_proto)7);
	pp[0].rc_null = cr_send(p, NULL, big, CR_UDP);
	cr_msg_release(big);
	/* an address of no family is no address */
	cr_addr none;
	memset(&none, 0, sizeof(none));
	none.port = 31201;
	big = cr_msg_new(p, PING, 5, 10);
	pp[0].rc_noaddr_udp = cr_send(p, &none, big, CR_UDP);
	pp[0].rc_noaddr_tcp = cr_send(p, &none, big, CR_TCP);
	cr_msg_release(big);
	/* messages the engine will not make */
	pp[0].new_too_big = cr_msg_new(p, PING, 5, (16u << 20) + 1) == NULL;
	pp[0].new_engine_type = cr_msg_new(p, 2, 5, 10) == NULL;
	send_numbered(p, &boot[0], PING, PING_LEN, 0, 0);
	return 0;
}

static void pp_control(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	cr_addr a = t_addr(31200);

	/* at the ponger: a ping from the pinger's own address */
	if (cr_msg_type(m) != PING || !cr_addr_eq(from, &a) ||
	    !cr_addr_eq(cr_msg_source(m), &a) ||
	    !numbered_ok(m, PING_LEN, pp[1].pings)) {
		pp_error(1, "unexpected ping");
		return;
	}
	send_numbered(p, from, PONG, PONG_LEN, pp[1].pings, 1);
	pp[1].pings++;
}

static void pp_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	cr_addr b = t_addr(31201);

	if (cr_msg_type(m) != PONG || !cr_addr_eq(from, &b) ||
	    !numbered_ok(m, PONG_LEN, pp[0].pongs)) {
		pp_error(0, "unexpected pong");
		return;
	}
	if (++pp[0].pongs < ROUNDS)
		send_numbered(p, from, PING, PING_LEN, pp[0].pongs, 0);
	else
		cr_experiment_stop(p);
}

static const cr_algorithm pingpong = {
    .api_version = CR_API_VERSION,
    .name = "udp-pingpong",
    .bootstrap = pp_bootstrap,
    .process = pp_control,
    .process_data = pp_data,
};

static void udp_ping_pong_exact(void **state)
{
	const struct cr__peer_stats *a, *b;

	memset(pp, 0, sizeof(pp));
	peer_at(0, 31200, 1, 31201);
	peer_at(1, 31201, 0);
	small_node(&pingpong, 2, NULL, 0);
	if (pp[0].errors)
		fail_msg("pinger: %s", pp[0].err);
	if (pp[1].errors)
		fail_msg("ponger: %s", pp[1].err);
	assert_int_equal(pp[0].rc_oversize, -CR_EMSGSIZE);
	assert_int_equal(pp[0].rc_badproto, -CR_EINVAL);
	assert_int_equal(pp[0].rc_null, -CR_EINVAL);
	assert_int_equal(pp[0].rc_noaddr_udp, -CR_EINVAL);
	assert_int_equal(pp[0].rc_noaddr_tcp, -CR_EINVAL);
	assert_true(pp[0].new_too_big);
	assert_true(pp[0].new_engine_type);
	assert_int_equal(pp[0].pongs, ROUNDS);
	assert_int_equal(pp[1].pings, ROUNDS);
	a = cr_node_peer_stats(node, 0);
	b = cr_node_peer_stats(node, 1);
	/* refused sends are not counted as sent */
	assert_int_equal(a->ctrl_msgs_out, ROUNDS);
	assert_int_equal(a->ctrl_bytes_out, ROUNDS * PING_LEN);
	assert_int_equal(a->data_msgs_in, ROUNDS);
	assert_int_equal(a->data_bytes_in, ROUNDS * PONG_LEN);
	assert_int_equal(b->ctrl_msgs_in, ROUNDS);
	assert_int_equal(b->ctrl_bytes_in, ROUNDS * PING_LEN);
	assert_int_equal(b->data_msgs_out, ROUNDS);
	assert_int_equal(b->data_bytes_out, ROUNDS * PONG_LEN);
	assert_int_equal(a->net.udp_dropped + b->net.udp_dropped, 0);
	assert_int_equal(a->net.bad_frames + b->net.bad_frames, 0);
	cr_node_destroy(node);
}

/* --- messages kept past their callback
 * ------------------------------------------ */

#define HOARD	  3000
#define HOARD_LEN 1000

static struct {
	cr_msg *kept[HOARD];
	uint64_t made, kept_n, checked, seen, errors;
} hd;

static bool hoard_ok(cr_msg *m, uint64_t seq)
{
	const uint8_t *b = cr_msg_payload(m);

	if (cr_msg_len(m) != HOARD_LEN || t_get64(b) != seq)
		return false;
	for (size_t i = 8; i < HOARD_LEN; i++)
		if (b[i] != t_pattern(seq, i))
			return false;
	return true;
}

static void hoard_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	const cr_addr *boot;
	size_t nb = cr_bootstrap_peers(p, &boot);

	if (cr_is_self(p, from) && cr_msg_len(m) == 0)
		return; /* the end of the source's stream */
	if (cr_is_self(p, from)) { /* the source: number them */
		cr_msg *n = cr_msg_new(p, CR_MSG_DATA_MIN, 1, HOARD_LEN);
		uint8_t *b = cr_msg_payload_mut(n);
		for (size_t i = 8; i < HOARD_LEN; i++)
			b[i] = t_pattern(hd.made, i);
		t_put64(b, hd.made++);
		cr_send(p, &boot[0], n, CR_TCP);
		cr_msg_release(n);
		return;
	}
	if (nb) { /* the middle: keep everything, then pass it all on */
		hd.kept[hd.kept_n++] = cr_msg_retain(m);
		if (hd.kept_n < HOARD)
			return;
		for (uint64_t k = 0; k < HOARD; k++) {
			hd.checked += hoard_ok(hd.kept[k], k);
			cr_send(p, &boot[0], hd.kept[k], CR_TCP);
			cr_msg_release(hd.kept[k]);
		}
		return;
	}
	/* the end */
	if (!hoard_ok(m, hd.seen))
		hd.errors++;
	if (++hd.seen == HOARD)
		cr_experiment_stop(p);
}

static const cr_algorithm hoarder = {
    .api_version = CR_API_VERSION,
    .name = "hoarder",
    .process_data = hoard_data,
};

static void messages_kept_past_their_callback(void **state)
{
	/* a borrowed message retained by the algorithm outlives the receive
	 * buffers it arrived in, many times over, intact */
	struct cr__source_cfg src = {
	    .session = 1, .msg_size = 100, .count = HOARD};
	struct cr_node_config cfg;
	char err[256];

	memset(&hd, 0, sizeof(hd));
	peer_at(0, 31260, 1, 31261);
	peer_at(1, 31261, 1, 31262);
	peer_at(2, 31262, 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.duration_ns = SAFETY_NS;
	cfg.workers = 2;
	cfg.algo = &hoarder;
	cfg.peers = npeers;
	cfg.npeers = 3;
	cfg.sources = &src;
	cfg.nsources = 1;
	cfg.log_level = CR_LOG_ERROR;
	if (cr_node_create(&cfg, &node, err, sizeof(err)) ||
	    cr_node_run(node, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(hd.kept_n, HOARD);
	assert_int_equal(hd.checked, HOARD);
	assert_int_equal(hd.seen, HOARD);
	assert_int_equal(hd.errors, 0);
	cr_node_destroy(node);
}

/* --- departures
 * ----------------------------------------------------------------- */

enum dep_mode { ONE_CONNECTION, TWO_CONNECTIONS, REFUSED };
enum { T_HI = 30, T_BACK = 31, T_AGAIN = 32, T_REPLY = 33, T_ACK = 34 };
#define K 20

static enum dep_mode dep_mode;
static uint16_t dep_first; /* the port of peer 0 */
static struct dep_peer {
	uint64_t in[64]; /* messages in, by type */
	uint64_t departed;
	cr_addr who;
	int rc_remove, rc_remove_again, rc_send_dead;
	bool removed;
	uint64_t out_of_order;
} dp[2];

static int dep_index(cr_peer *p)
{
	return cr_self(p)->port == dep_first ? 0 : 1;
}

static void dep_send(cr_peer *p, const cr_addr *to, uint8_t type, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		cr_msg *m = cr_msg_new(p, type, 0, 8);
		t_put64(cr_msg_payload_mut(m), i);
		cr_send(p, to, m, CR_TCP);
		cr_msg_release(m);
	}
}

static int dep_bootstrap(cr_peer *p)
{
	const cr_addr *boot;
	size_t nb = cr_bootstrap_peers(p, &boot);
	struct dep_peer *d = &dp[dep_index(p)];

	if (dep_mode == REFUSED && dep_index(p) == 0) {
		cr_msg *m = cr_msg_new(p, T_HI, 0, 8);
		memset(cr_msg_payload_mut(m), 0, 8);
		d->rc_send_dead = cr_send(p, &boot[1], m, CR_TCP);
		cr_msg_release(m);
		if (d->rc_send_dead) /* refused at once: no departure to wait
					for */
			dep_send(p, &boot[0], T_AGAIN, 1);
		return 0;
	}
	if (nb && (dep_index(p) == 0 || dep_mode == TWO_CONNECTIONS))
		dep_send(p, &boot[0], T_HI, K);
	return 0;
}

static void dep_maybe_remove(cr_peer *p, const cr_addr *b)
{
	struct dep_peer *d = &dp[0];
	bool ready = dep_mode == ONE_CONNECTION
			 ? d->in[T_BACK] == K
			 : d->in[T_HI] == K && d->in[T_ACK] == 1;

	if (!ready || d->removed)
		return;
	d->removed = true;
	d->rc_remove = cr_remove_peer(p, b);
	d->rc_remove_again = cr_remove_peer(p, b);
}

static void dep_control(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	int me = dep_index(p);
	struct dep_peer *d = &dp[me];
	uint8_t t = cr_msg_type(m);

	if (t < 64) {
		if (t <= T_BACK && t_get64(cr_msg_payload(m)) != d->in[t])
			d->out_of_order++;
		d->in[t]++;
	}
	switch (t) {
	case T_HI:
		if (me == 1 && d->in[T_HI] == K)
			dep_send(p, from,
				 dep_mode == ONE_CONNECTION ? T_BACK : T_ACK,
				 dep_mode == ONE_CONNECTION ? K : 1);
		if (me == 0)
			dep_maybe_remove(p, from);
		break;
	case T_BACK:
	case T_ACK:
		dep_maybe_remove(p, from);
		break;
	case T_AGAIN: /* at 0: answer */
		dep_send(p, from, T_REPLY, 1);
		break;
	case T_REPLY: /* the round after the departure is over */
		cr_experiment_stop(p);
		break;
	}
}

static void dep_departed(cr_peer *p, const cr_addr *who)
{
	struct dep_peer *d = &dp[dep_index(p)];
	const cr_addr *boot;

	d->departed++;
	d->who = *who;
	if (d->departed > 1)
		return;
	if (dep_mode == REFUSED) {
		/* go on with the live neighbour; stop after its answer */
		cr_bootstrap_peers(p, &boot);
		dep_send(p, &boot[0], T_AGAIN, 1);
	} else {
		/* contact the one that left us, over a new connection */
		dep_send(p, who, T_AGAIN, 1);
	}
}

static const cr_algorithm departures = {
    .api_version = CR_API_VERSION,
    .name = "departures",
    .bootstrap = dep_bootstrap,
    .process = dep_control,
    .peer_departed = dep_departed,
};

static void removed_neighbour_departs_once(enum dep_mode mode)
{
	cr_addr a = t_addr(31300);

	memset(dp, 0, sizeof(dp));
	dep_mode = mode;
	dep_first = 31300;
	peer_at(0, 31300, 1, 31301);
	if (mode == TWO_CONNECTIONS)
		peer_at(1, 31301, 1, 31300);
	else
		peer_at(1, 31301, 0);
	small_node(&departures, 2, NULL, 0);
	assert_true(dp[0].removed);
	assert_int_equal(dp[0].rc_remove, 0);
	assert_int_equal(dp[0].rc_remove_again, -CR_ENOTCONN);
	assert_int_equal(dp[0].in[mode == ONE_CONNECTION ? T_BACK : T_HI], K);
	assert_int_equal(dp[1].in[T_HI], K);
	assert_int_equal(dp[0].out_of_order + dp[1].out_of_order, 0);
	/* the one removed sees it once; the remover, never */
	assert_int_equal(dp[1].departed, 1);
	assert_true(cr_addr_eq(&dp[1].who, &a));
	assert_int_equal(dp[0].departed, 0);
	/* and they spoke again afterwards */
	assert_int_equal(dp[0].in[T_AGAIN], 1);
	assert_int_equal(dp[1].in[T_REPLY], 1);
	assert_int_equal(cr_node_peer_stats(node, 1)->departures, 1);
	cr_node_destroy(node);
}

static void departure_over_one_connection(void **state)
{
	removed_neighbour_departs_once(ONE_CONNECTION);
}

static void departure_over_two_connections(void **state)
{
	removed_neighbour_departs_once(TWO_CONNECTIONS);
}

static void refused_connection_departs_once(void **state)
{
	cr_addr dead = t_addr(31399);

	memset(dp, 0, sizeof(dp));
	dep_mode = REFUSED;
	dep_first = 31310;
	peer_at(0, 31310, 2, 31311, 31399);
	peer_at(1, 31311, 0);
	small_node(&departures, 2, NULL, 0);
	/* refused at connect() or later: never both, never twice */
	if (dp[0].rc_send_dead == 0) {
		assert_int_equal(dp[0].departed, 1);
		assert_true(cr_addr_eq(&dp[0].who, &dead));
	} else {
		assert_int_equal(dp[0].rc_send_dead, -CR_EIO);
		assert_int_equal(dp[0].departed, 0);
	}
	assert_int_equal(dp[1].in[T_AGAIN], 1);
	assert_int_equal(dp[0].in[T_REPLY], 1);
	assert_int_equal(dp[1].departed, 0);
	cr_node_destroy(node);
}

/* --- timers and parameters
 * ------------------------------------------------------ */

#define PERIOD (2 * CR_MS)

static struct {
	int periodic, oneshot, cancelled_fired;
	int rc_cancel_self, rc_cancel_again, rc_cancel_pending, rc_cancel_fired;
	int64_t start_ns, early;
	cr_timer_id periodic_id, oneshot_id, far_id;
	int rc_cancel_far, rc_cancel_zero;
	int64_t alpha;
	double gamma;
	const char *beta, *missing;
	int64_t fallback;
} tm;

static void tm_stop(cr_peer *p, void *arg)
{
	cr_experiment_stop(p);
}

static void tm_cancelled(cr_peer *p, void *arg)
{
	tm.cancelled_fired++;
}

static void tm_oneshot(cr_peer *p, void *arg)
{
	tm.oneshot++;
	if (arg != &tm)
		tm.early++;
}

static void tm_periodic(cr_peer *p, void *arg)
{
	tm.periodic++;
	/* never early: the k-th firing is at or after start + k periods */
	if (cr_now(p) < tm.start_ns + tm.periodic * PERIOD)
		tm.early++;
	if (tm.periodic == 5) {
		tm.rc_cancel_self = cr_timer_cancel(p, tm.periodic_id);
		tm.rc_cancel_again = cr_timer_cancel(p, tm.periodic_id);
		tm.rc_cancel_fired = cr_timer_cancel(p, tm.oneshot_id);
		tm.rc_cancel_far = cr_timer_cancel(p, tm.far_id);
		cr_timer_start(p, 20 * CR_MS, 0, tm_stop, NULL);
	}
}

static int tm_bootstrap(cr_peer *p)
{
	cr_timer_id never;

	tm.alpha = cr_param_int(p, "alpha", -1);
	tm.gamma = cr_param_double(p, "gamma", -1);
	tm.beta = cr_param(p, "beta");
	tm.missing = cr_param(p, "nope");
	tm.fallback = cr_param_int(p, "beta", 99); /* not a number */
	tm.start_ns = cr_now(p);
	tm.periodic_id = cr_timer_start(p, PERIOD, PERIOD, tm_periodic, NULL);
	tm.oneshot_id = cr_timer_start(p, 1 * CR_MS, 0, tm_oneshot, &tm);
	never = cr_timer_start(p, 5 * CR_MS, 0, tm_cancelled, NULL);
	tm.rc_cancel_pending = cr_timer_cancel(p, never);
	/* "never" spelled as the largest delay, and a period as long */
	tm.far_id = cr_timer_start(p, INT64_MAX, 0, tm_cancelled, NULL);
	cr_timer_start(p, 0, INT64_MAX, tm_oneshot, &tm);
	tm.rc_cancel_zero = cr_timer_cancel(p, 0);
	return 0;
}

static const cr_param_def tm_params[] = {
    {"alpha", "1", "an integer"},
    {"beta", "text", "a string"},
    {"gamma", "0.5", "a real number"},
    {NULL, NULL, NULL},
};

static const cr_algorithm timers_algo = {
    .api_version = CR_API_VERSION,
    .name = "timers",
    .params = tm_params,
    .bootstrap = tm_bootstrap,
};

static void peer_timers_and_parameters(void **state)
{
	const struct cr_node_param params[] = {{"alpha", "42"},
					       {"gamma", "2.25"}};

	memset(&tm, 0, sizeof(tm));
	peer_at(0, 31400, 0);
	small_node(&timers_algo, 1, params, 2);
	assert_int_equal(tm.periodic, 5);
	assert_int_equal(tm.early, 0);
	assert_int_equal(tm.oneshot, 2); /* and the one with a vast period */
	assert_true(tm.far_id != 0);
	assert_int_equal(tm.rc_cancel_far, 0);
	assert_int_equal(tm.rc_cancel_zero, -CR_ENOENT);
	assert_int_equal(tm.cancelled_fired, 0);
	assert_int_equal(tm.rc_cancel_pending, 0);
	assert_int_equal(tm.rc_cancel_self, 0);
	assert_int_equal(tm.rc_cancel_again, -CR_ENOENT);
	assert_int_equal(tm.rc_cancel_fired, -CR_ENOENT);
	assert_true(tm.periodic_id != tm.oneshot_id);
	assert_int_equal(tm.alpha, 42);
	assert_true(tm.gamma == 2.25);
	assert_non_null(tm.beta);
	assert_null(tm.missing);
	assert_int_equal(tm.fallback, 99);
	cr_node_destroy(node);
}

static void unknown_parameter_is_refused(void **state)
{
	const struct cr_node_param params[] = {{"alpah", "42"}};
	struct cr_node_config cfg;
	char err[256] = "";
	cr_node *n = NULL;

	peer_at(0, 31401, 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.algo = &timers_algo;
	cfg.peers = npeers;
	cfg.npeers = 1;
	cfg.params = params;
	cfg.nparams = 1;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)),
			 -CR_EINVAL);
	assert_null(n);
	assert_non_null(strstr(err, "alpah"));
	assert_non_null(strstr(err, "alpha")); /* what it accepts */
}

/* --- a third-party algorithm as a shared object
 * ------------------------------- */

static const char dso_source[] =
    "#include <crystal/crystal.h>\n"
    "unsigned long dso_completed;\n"
    "struct st { const cr_addr *down; size_t ndown; uint64_t got; };\n"
    "static const cr_param_def params[] = {\n"
    "	{\"expect\", \"0\", \"messages the tail waits for\"},\n"
    "	{NULL, NULL, NULL},\n"
    "};\n"
    "static int boot(cr_peer *p)\n"
    "{\n"
    "	struct st *s = cr_state(p);\n"
    "	s->ndown = cr_bootstrap_peers(p, &s->down);\n"
    "	return 0;\n"
    "}\n"
    "static void data(cr_peer *p, const cr_addr *from, cr_msg *m)\n"
    "{\n"
    "	struct st *s = cr_state(p);\n"
    "	if (cr_is_self(p, from) && cr_msg_len(m) == 0)\n"
    "		return;\n"
    "	for (size_t i = 0; i < s->ndown; i++)\n"
    "		cr_send(p, &s->down[i], m, CR_TCP);\n"
    "	if (cr_is_self(p, from) || s->ndown)\n"
    "		return;\n"
    "	if (++s->got == (uint64_t)cr_param_int(p, \"expect\", 0)) {\n"
    "		dso_completed++;\n"
    "		cr_experiment_stop(p);\n"
    "	}\n"
    "}\n"
    "const cr_algorithm crystal_algorithm = {\n"
    "	.api_version = CR_API_VERSION,\n"
    "	.name = \"dso-relay\",\n"
    "	.state_size = sizeof(struct st),\n"
    "	.params = params,\n"
    "	.bootstrap = boot,\n"
    "	.process_data = data,\n"
    "};\n";

static char dso_dir[64];

static int build_so(const char *name, const char *source, char *path,
		    size_t len)
{
	return t_build_so(dso_dir, name, source, path, len);
}

static int dso_setup(void **state)
{
	return t_mkdtemp(dso_dir, sizeof(dso_dir));
}

static int dso_teardown(void **state)
{
	t_rm_rf(dso_dir);
	return 0;
}

static void shared_object_algorithm_runs(void **state)
{
	char path[256], err[512] = "";
	const cr_algorithm *a;
	const struct cr_node_param params[] = {{"expect", "1200"}};
	struct sc_cfg cfg = {
	    .base_port = 31500,
	    .receivers = 6,
	    .chain_len = 6, /* one chain, one tail */
	    .count = 1200,
	    .msg_size = 512,
	    .workers = 2,
	    .params = params,
	    .nparams = 1,
	};
	unsigned long *completed;
	void *h;

	assert_int_equal(build_so("dso_relay", dso_source, path, sizeof(path)),
			 0);
	a = cr__algorithm_find(path, err, sizeof(err));
	if (!a)
		fail_msg("%s", err);
	assert_string_equal(a->name, "dso-relay");
	assert_int_equal(a->api_version, CR_API_VERSION);
	cfg.algo = a;
	if (sc_start(&cfg))
		fail_msg("start: %s", sc.err);
	sc_finish();
	/* the algorithm ended the experiment itself, once */
	h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	assert_non_null(h);
	completed = dlsym(h, "dso_completed");
	assert_non_null(completed);
	assert_int_equal(*completed, 1);
	dlclose(h);
	for (size_t i = 1; i < sc.chains.npeers; i++) {
		const struct cr__peer_stats *ps =
		    cr_node_peer_stats(sc.node, i);
		assert_int_equal(ps->data_msgs_in, cfg.count);
		assert_int_equal(ps->data_bytes_in, cfg.count * cfg.msg_size);
	}
	assert_int_equal(cr_node_peer_stats(sc.node, 0)->data_msgs_out,
			 cfg.count);
	sc_cleanup();
}

static void broken_shared_objects_are_refused(void **state)
{
	char path[256], err[512];

	assert_int_equal(build_so("nosym", "int not_an_algorithm = 1;\n", path,
				  sizeof(path)),
			 0);
	err[0] = 0;
	assert_null(cr__algorithm_find(path, err, sizeof(err)));
	assert_non_null(strstr(err, "crystal_algorithm"));
	assert_non_null(strstr(err, path));

	assert_int_equal(
	    build_so("oldapi",
		     "#include <crystal/crystal.h>\n"
		     "const cr_algorithm crystal_algorithm = {\n"
		     "	.api_version = 99, .name = \"old\" };\n",
		     path, sizeof(path)),
	    0);
	err[0] = 0;
	assert_null(cr__algorithm_find(path, err, sizeof(err)));
	assert_non_null(strstr(err, "API version"));

	err[0] = 0;
	assert_null(
	    cr__algorithm_find("/nonexistent/algo.so", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/algo.so"));

	err[0] = 0;
	assert_null(cr__algorithm_find("no-such-algorithm", err, sizeof(err)));
	assert_non_null(strstr(err, "no-such-algorithm"));
	assert_non_null(strstr(err, "relay")); /* names the built-ins */
}

/* --- descriptors
 * ---------------------------------------------------------------- */

static void descriptor_budget(void **state)
{
	struct cr_node_config cfg;
	struct cr_node_fd_budget b;
	struct cr_chains ch;
	cr_addr base = t_addr(1000);
	char err[256];

	/* 30,000 peers cannot fit in a 20,000-descriptor process */
	assert_int_equal(
	    cr_chains_build(&ch, &base, 30000, 10, err, sizeof(err)), 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.algo = &sc_algorithm;
	cfg.peers = ch.peers;
	cfg.npeers = ch.npeers;
	cfg.workers = 2;
	cr_node_fd_budget(&cfg, &b);
	/* a listener and a UDP socket each, two per local connection */
	assert_true(b.needed >= 2 * 30001 + 2 * 30000);
	assert_true(b.needed > b.available);
	assert_true(b.available <= b.limit);
	cr_chains_free(&ch);

	/* twenty fit */
	assert_int_equal(cr_chains_build(&ch, &base, 20, 10, err, sizeof(err)),
			 0);
	cfg.peers = ch.peers;
	cfg.npeers = ch.npeers;
	cr_node_fd_budget(&cfg, &b);
	assert_true(b.needed >= 2 * 21 + 2 * 20);
	assert_true(b.needed <= b.available);
	cr_chains_free(&ch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(chains_fast_source),
	    cmocka_unit_test(chains_paced_source),
	    cmocka_unit_test(chains_large_messages),
	    cmocka_unit_test(chains_one_worker),
	    cmocka_unit_test(chains_under_backpressure),
	    cmocka_unit_test(chains_of_many_peers),
	    cmocka_unit_test(builtin_relay_delivers_every_byte),
	    cmocka_unit_test(interrupted_run_reports_no_departures),
	    cmocka_unit_test(two_experiments_side_by_side),
	    cmocka_unit_test(experiments_do_not_mix),
	    cmocka_unit_test(start_fails_cleanly_when_a_port_is_taken),
	    cmocka_unit_test(stopped_at_birth_ends_every_worker),
	    cmocka_unit_test(create_refuses_bad_configs),
	    cmocka_unit_test(udp_ping_pong_exact),
	    cmocka_unit_test(messages_kept_past_their_callback),
	    cmocka_unit_test(departure_over_one_connection),
	    cmocka_unit_test(departure_over_two_connections),
	    cmocka_unit_test(refused_connection_departs_once),
	    cmocka_unit_test(peer_timers_and_parameters),
	    cmocka_unit_test(unknown_parameter_is_refused),
	    cmocka_unit_test_setup_teardown(shared_object_algorithm_runs,
					    dso_setup, dso_teardown),
	    cmocka_unit_test_setup_teardown(broken_shared_objects_are_refused,
					    dso_setup, dso_teardown),
	    cmocka_unit_test(descriptor_budget),
	};

	return cmocka_run_group_tests_name("relay", tests, NULL, NULL);
}
