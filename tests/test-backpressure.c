/* Back-pressure and what must still be read: a source whose queues stay
 * over the queue limit (so it stops reading its inputs) still reads what
 * its downstream peers send back first, their hellos, so that no
 * connection is taken for silent and closed.  A regression test: this
 * once closed every connection of a busy source after the hello timeout.
 *
 * And cr_queued_bytes: a peer behind a 20 KB/s upload that queues 40
 * messages of 1000 bytes sees exactly their frames queued, and nothing
 * once the other peer has all of them.  cr_upload_queued: behind the same
 * link with a 5 s delay, all of them at first; none once the link has
 * passed them (after about 2 s) though none has been written yet (they
 * wait out the delay, and cr_queued_bytes still counts them); nothing at
 * the end.
 */
#include "../src/core/log.h"
#include "../src/engine/node.h"
#include "../src/scenario/chains.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

extern const cr_algorithm cr_relay_algorithm;

static void test_busy_source_reads_hellos(void **state)
{
	struct cr_chains ch;
	struct cr_node_config cfg = {0};
	struct cr__source_cfg src = {0};
	struct cr_node_result r;
	cr_addr base = t_addr(25500);
	cr_node *n = NULL;
	char err[256];

	(void)state;
	/* 10 chains of 10: the source feeds 10 heads as fast as they take */
	assert_int_equal(cr_chains_build(&ch, &base, 100, 10, err, sizeof(err)),
			 0);
	src.session = 1;
	src.msg_size = 1024;
	cfg.name = "test-backpressure";
	cfg.duration_ns = 2 * CR_SEC;
	cfg.workers = 1;
	cfg.algo = &cr_relay_algorithm;
	cfg.peers = ch.peers;
	cfg.npeers = ch.npeers;
	cfg.sources = &src;
	cfg.nsources = 1;
	cfg.hello_timeout_ns = 500 * CR_MS;
	cfg.log_level = CR_LOG_ERROR;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)), 0);
	assert_int_equal(cr_node_run(n, err, sizeof(err)), 0);
	cr_node_result(n, &r);
	assert_int_equal(r.bad_frames, 0);
	for (size_t i = 0; i < ch.npeers; i++)
		assert_int_equal(cr_node_peer_stats(n, i)->departures, 0);
	/* and the stream reached every tail */
	for (size_t i = 1; i < ch.npeers; i++)
		assert_true(cr_node_peer_stats(n, i)->data_msgs_in > 0);
	cr_node_destroy(n);
	cr_chains_free(&ch);
}

/* --- cr_queued_bytes ------------------------------------------------------ */

#define QB_MSGS 40
#define QB_LEN	1000
#define QB_HDR	40 /* a frame's header (docs/wire-format.md) */

static struct {
	size_t after_send;   /* right after the 40 sends */
	size_t at_end;	     /* when the receiver had them all */
	uint64_t got, bytes; /* at the receiver */
	bool sent;
} qb;

static void qb_send(cr_peer *p, int n)
{
	const cr_addr *boot;

	cr_bootstrap_peers(p, &boot);
	for (int i = 0; i < n; i++) {
		cr_msg *m = cr_msg_new(p, CR_MSG_DATA_MIN, 1, QB_LEN);
		memset(cr_msg_payload_mut(m), i, QB_LEN);
		assert_int_equal(cr_send(p, &boot[0], m, CR_TCP), 0);
		cr_msg_release(m);
	}
}

static void qb_watch(cr_peer *p, void *arg)
{
	(void)arg;
	if (qb.got == QB_MSGS + 1) {
		qb.at_end = cr_queued_bytes(p);
		cr_experiment_stop(p);
	}
}

static void qb_first(cr_peer *p, void *arg)
{
	(void)arg;
	qb_send(p, 1); /* opens the connection; its hello goes too */
}

static int qb_boot(cr_peer *p)
{
	const cr_addr *boot;

	if (cr_bootstrap_peers(p, &boot)) { /* the sender */
		assert_int_equal(cr_queued_bytes(p), 0);
		cr_timer_start(p, 10 * CR_MS, 0, qb_first, NULL);
	}
	return 0;
}

/* The receiver has the first message: the connection is up. */
static void qb_ready(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	(void)m;
	if (qb.sent)
		return;
	qb.sent = true;
	qb_send(p, QB_MSGS);
	qb.after_send = cr_queued_bytes(p);
	cr_timer_start(p, 20 * CR_MS, 20 * CR_MS, qb_watch, NULL);
}

static void qb_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	const cr_addr *boot;
	cr_msg *r;

	if (cr_is_self(p, from) || cr_bootstrap_peers(p, &boot))
		return;
	qb.bytes += cr_msg_len(m);
	if (++qb.got == 1) { /* tell the sender */
		r = cr_msg_new(p, 16, 1, 0);
		cr_send(p, from, r, CR_TCP);
		cr_msg_release(r);
	}
}

static const cr_algorithm qb_algo = {
    .api_version = CR_API_VERSION,
    .name = "queued",
    .bootstrap = qb_boot,
    .process = qb_ready,
    .process_data = qb_data,
};

static void test_queued_bytes(void **state)
{
	cr_addr a = t_addr(25600), b = t_addr(25601);
	struct cr_node_peer peers[2] = {{.addr = a, .boot = &b, .nboot = 1},
					{.addr = b}};
	cr_link_limits slow = {.upload_Bps = 20000};
	struct cr_node_config cfg = {0};
	cr_node *n = NULL;
	char err[256];

	(void)state;
	peers[0].limits = &slow;
	cfg.name = "test-queued";
	cfg.duration_ns = 20 * CR_SEC;
	cfg.workers = 1;
	cfg.algo = &qb_algo;
	cfg.peers = peers;
	cfg.npeers = 2;
	cfg.log_level = CR_LOG_ERROR;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)), 0);
	assert_int_equal(cr_node_run(n, err, sizeof(err)), 0);
	cr_node_destroy(n);
	assert_true(qb.sent);
	assert_int_equal(qb.after_send, QB_MSGS * (QB_HDR + QB_LEN));
	assert_int_equal(qb.got, QB_MSGS + 1);
	assert_int_equal(qb.bytes, (QB_MSGS + 1) * QB_LEN);
	assert_int_equal(qb.at_end, 0);
}

/* --- cr_upload_queued ------------------------------------------------------ */

#define UQ_DELAY (5 * CR_SEC)

static struct {
	size_t up_after_send, q_after_send; /* right after the 40 sends */
	size_t up_passed, q_passed;	    /* 3 s later */
	size_t up_end, q_end;		    /* when the receiver had them all */
	uint64_t got;
	bool sent;
} uq;

static void uq_watch(cr_peer *p, void *arg)
{
	(void)arg;
	if (uq.got == QB_MSGS) {
		uq.up_end = cr_upload_queued(p);
		uq.q_end = cr_queued_bytes(p);
		cr_experiment_stop(p);
	}
}

static void uq_passed(cr_peer *p, void *arg)
{
	(void)arg;
	uq.up_passed = cr_upload_queued(p);
	uq.q_passed = cr_queued_bytes(p);
	cr_timer_start(p, 50 * CR_MS, 50 * CR_MS, uq_watch, NULL);
}

static void uq_first(cr_peer *p, void *arg)
{
	(void)arg;
	assert_int_equal(cr_upload_queued(p), 0);
	qb_send(p, QB_MSGS);
	uq.up_after_send = cr_upload_queued(p);
	uq.q_after_send = cr_queued_bytes(p);
	uq.sent = true;
	cr_timer_start(p, 3 * CR_SEC, 0, uq_passed, NULL);
}

static int uq_boot(cr_peer *p)
{
	const cr_addr *boot;

	if (cr_bootstrap_peers(p, &boot)) /* the sender */
		cr_timer_start(p, 10 * CR_MS, 0, uq_first, NULL);
	return 0;
}

static void uq_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	const cr_addr *boot;

	(void)m;
	if (!cr_is_self(p, from) && !cr_bootstrap_peers(p, &boot))
		uq.got++;
}

static const cr_algorithm uq_algo = {
    .api_version = CR_API_VERSION,
    .name = "upload-queued",
    .bootstrap = uq_boot,
    .process_data = uq_data,
};

static void test_upload_queued(void **state)
{
	cr_addr a = t_addr(25610), b = t_addr(25611);
	struct cr_node_peer peers[2] = {{.addr = a, .boot = &b, .nboot = 1},
					{.addr = b}};
	cr_link_limits slow = {.upload_Bps = 20000,
			       .access_delay_ns = UQ_DELAY};
	struct cr_node_config cfg = {0};
	size_t all = QB_MSGS * (QB_HDR + QB_LEN);
	cr_node *n = NULL;
	char err[256];

	(void)state;
	peers[0].limits = &slow;
	cfg.name = "test-upload-queued";
	cfg.duration_ns = 30 * CR_SEC;
	cfg.workers = 1;
	cfg.algo = &uq_algo;
	cfg.peers = peers;
	cfg.npeers = 2;
	cfg.log_level = CR_LOG_ERROR;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)), 0);
	assert_int_equal(cr_node_run(n, err, sizeof(err)), 0);
	cr_node_destroy(n);
	assert_true(uq.sent);
	assert_int_equal(uq.got, QB_MSGS);
	/* all queued (after the connection's hello); the link has begun the
	 * first frame, at most */
	assert_true(uq.q_after_send >= all);
	assert_true(uq.q_after_send < all + QB_HDR + QB_LEN);
	assert_true(uq.up_after_send <= uq.q_after_send);
	assert_true(uq.up_after_send + 2 * (QB_HDR + QB_LEN) >= uq.q_after_send);
	/* through the link, all waiting out the delay */
	assert_int_equal(uq.up_passed, 0);
	assert_int_equal(uq.q_passed, uq.q_after_send);
	assert_int_equal(uq.up_end, 0);
	assert_int_equal(uq.q_end, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_busy_source_reads_hellos),
		cmocka_unit_test(test_queued_bytes),
		cmocka_unit_test(test_upload_queued),
	};

	return cmocka_run_group_tests_name("back-pressure", tests, NULL, NULL);
}
