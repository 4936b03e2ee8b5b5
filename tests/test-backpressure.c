/* Back-pressure and what must still be read: a source whose queues stay
 * over the queue limit (so it stops reading its inputs) still reads what
 * its downstream peers send back first, their hellos, so that no
 * connection is taken for silent and closed.  A regression test: this
 * once closed every connection of a busy source after the hello timeout.
 */
#include "../src/node.h"
#include "../src/scenario/chains.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_busy_source_reads_hellos),
	};

	return cmocka_run_group_tests_name("back-pressure", tests, NULL, NULL);
}
