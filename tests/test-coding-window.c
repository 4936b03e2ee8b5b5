/* The coding window (cr_codewin, include/crystal/coding.h,
 * src/stream/coding-window.c), alone and in running nodes (ports
 * 29200-29299):
 *   - random segments loaded into a source window, recoded by a middle
 *     window that holds them only in part, decoded by a receiver from the
 *     middle's blocks alone: byte for byte, the callback once per rank
 *     step and once at full rank, the counts adding up;
 *   - a dependent block (the same block twice) and a redundant one (after
 *     full rank) counted and reported;
 *   - the window sliding: blocks before the base or past the window late,
 *     a slot taken over by a later segment;
 *   - every class of malformed block refused and counted, bad configs and
 *     arguments refused;
 *   - decoding on the pool inside a node: byte for byte, a busy slot not
 *     coded from, the counts adding up; a window freed while a decode is
 *     out (the slot freed by its done); a peer that dies with decodes
 *     queued on a pool kept busy past its death (both checked for leaks
 *     and use after free under ASan in `make check SANITIZE=1`, and for
 *     races under TSan).
 * The pool has POOL threads (UV_THREADPOOL_SIZE, set before any node).
 */
#include "../src/core/msg.h"
#include "../src/engine/node.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define POOL	2
#define SESSION 7
#define TYPE	128

static cr__pool pool;
static const cr_addr nowhere = {.family = 4};

/* A message carrying the wire form of a coded block made by w. */
static cr_msg *coded_msg(cr_codewin *w, cr_rand *r, uint32_t s)
{
	size_t len = cr_coded_len(w->cfg.k, w->cfg.size);
	cr_msg *m = cr__msg_new_local(&pool, TYPE, SESSION, (uint32_t)len,
				      &nowhere, 0, 0);

	assert_non_null(m);
	assert_int_equal(cr_codewin_code(w, r, s, cr_msg_payload_mut(m), len),
			 (int)len);
	return m;
}

/* Puts a block of w's segment s into to; returns what put said. */
static int pass(cr_codewin *w, cr_rand *r, uint32_t s, cr_codewin *to)
{
	cr_msg *m = coded_msg(w, r, s);
	uint32_t seg = UINT32_MAX;
	int rc = cr_codewin_put(to, NULL, m, &seg);

	if (rc >= 0)
		assert_int_equal(seg, s);
	cr_msg_release(m);
	return rc;
}

/* What the callback heard, by segment. */
struct heard {
	uint32_t steps[16], last_rank[16], done[16];
};

static void heard_cb(cr_peer *p, uint32_t s, uint32_t rank, bool done,
		     void *arg)
{
	struct heard *h = arg;

	assert_null(p);
	assert_true(s < 16);
	assert_int_equal(rank, h->last_rank[s] + 1); /* one step at a time */
	h->last_rank[s] = rank;
	h->steps[s]++;
	h->done[s] += done;
}

static cr_codewin_config config(uint32_t k, uint32_t size, uint32_t window,
				uint32_t slots)
{
	return (cr_codewin_config){.session = SESSION,
				   .k = k,
				   .size = size,
				   .window = window,
				   .slots = slots};
}

static int setup(void **state)
{
	cr__pool_init(&pool);
	return 0;
}

static int teardown(void **state)
{
	assert_int_equal(pool.msgs_live, 0); /* every message released */
	cr__pool_free(&pool);
	return 0;
}

/* --- alone: encode, recode, decode -------------------------------------- */

#define CH_K	8
#define CH_SIZE 300
#define CH_SEGS 4

static void chain_byte_for_byte(void **state)
{
	static uint8_t data[CH_SEGS][CH_K * CH_SIZE], out[CH_K * CH_SIZE];
	cr_codewin src, mid, dst;
	cr_codewin_config c = config(CH_K, CH_SIZE, CH_SEGS, 0);
	struct heard h = {0};
	uint32_t innovative = 0, len = CH_K * CH_SIZE - 17; /* a short last */
	cr_rand r;

	cr_rand_seed(&r, 14);
	assert_int_equal(cr_codewin_init(&src, &c), 0);
	assert_int_equal(cr_codewin_init(&mid, &c), 0);
	c.progress = heard_cb;
	c.arg = &h;
	assert_int_equal(cr_codewin_init(&dst, &c), 0);
	for (uint32_t s = 0; s < CH_SEGS; s++) {
		cr_rand_fill(&r, data[s], len);
		assert_int_equal(cr_codewin_load(&src, s, data[s], len), 0);
		assert_int_equal(cr_codewin_rank(&src, s), CH_K);
		assert_true(cr_codewin_done(&src, s));
	}
	/* the middle takes one block at a time from the source, and the
	 * receiver one recoded block from the middle after each: the
	 * receiver never sees a block of the source's */
	for (uint32_t s = 0; s < CH_SEGS; s++) {
		for (int i = 0; !cr_codewin_done(&dst, s); i++) {
			assert_true(i < 40 * CH_K);
			if (!cr_codewin_done(&mid, s))
				pass(&src, &r, s, &mid);
			assert_true(cr_codewin_rank(&mid, s) > 0);
			innovative +=
			    pass(&mid, &r, s, &dst) == CR_CODEWIN_INNOVATIVE;
			assert_true(cr_codewin_rank(&dst, s) <=
				    cr_codewin_rank(&mid, s));
		}
		assert_int_equal(cr_codewin_read(&dst, s, out, len), 0);
		assert_memory_equal(out, data[s], len);
		assert_memory_equal(cr_codewin_data(&dst, s), data[s], len);
		assert_int_equal(h.steps[s], CH_K);
		assert_int_equal(h.done[s], 1);
	}
	assert_int_equal(innovative, CH_SEGS * CH_K);
	assert_int_equal(dst.stats.decoded, CH_SEGS);
	assert_int_equal(dst.stats.received, dst.stats.dependent + innovative);
	assert_int_equal(
	    dst.stats.redundant + dst.stats.late + dst.stats.malformed, 0);
	assert_true(mid.stats.code_ns > 0 && src.stats.code_ns > 0);
	assert_true(dst.stats.decode_ns > 0);
	/* a loaded segment is not read back: the source has it */
	assert_int_equal(cr_codewin_read(&src, 0, out, len), -CR_ENOENT);
	cr_codewin_free(&src);
	cr_codewin_free(&mid);
	cr_codewin_free(&dst);
	cr_codewin_free(&dst); /* a freed window may be freed again */
}

static void dependent_and_redundant(void **state)
{
	cr_codewin src, dst;
	cr_codewin_config c = config(2, 64, 4, 0);
	cr_codewin_stats sum = {0};
	uint8_t data[128];
	cr_msg *m;
	cr_rand r;

	cr_rand_seed(&r, 2);
	cr_rand_fill(&r, data, sizeof(data));
	assert_int_equal(cr_codewin_init(&src, &c), 0);
	assert_int_equal(cr_codewin_init(&dst, &c), 0);
	assert_int_equal(cr_codewin_load(&src, 1, data, sizeof(data)), 0);
	m = coded_msg(&src, &r, 1);
	assert_int_equal(cr_codewin_put(&dst, NULL, m, NULL),
			 CR_CODEWIN_INNOVATIVE);
	assert_int_equal(cr_codewin_put(&dst, NULL, m, NULL),
			 CR_CODEWIN_DEPENDENT); /* the same block again */
	cr_msg_release(m);
	assert_int_equal(dst.stats.dependent, 1);
	assert_int_equal(cr_codewin_rank(&dst, 1), 1);
	while (!cr_codewin_done(&dst, 1))
		pass(&src, &r, 1, &dst);
	assert_int_equal(pass(&src, &r, 1, &dst), CR_CODEWIN_REDUNDANT);
	assert_int_equal(dst.stats.redundant, 1);
	assert_int_equal(cr_codewin_rank(&dst, 1), 2); /* unchanged */
	cr_codewin_stats_add(&sum, &dst.stats);
	cr_codewin_stats_add(&sum, &dst.stats);
	assert_int_equal(sum.received, 2 * dst.stats.received);
	assert_int_equal(sum.redundant, 2);
	cr_codewin_free(&src);
	cr_codewin_free(&dst);
}

static void sliding(void **state)
{
	cr_codewin src, dst;
	cr_codewin_config c = config(4, 32, 4, 0);
	uint8_t data[128] = {1, 2, 3};
	cr_rand r;

	cr_rand_seed(&r, 3);
	c.slots = 16; /* the source keeps more than the receiver's window */
	assert_int_equal(cr_codewin_init(&src, &c), 0);
	c.slots = 0;
	assert_int_equal(cr_codewin_init(&dst, &c), 0);
	for (uint32_t s = 0; s < 16; s++)
		assert_int_equal(cr_codewin_load(&src, s, data, sizeof(data)),
				 0);
	assert_int_equal(pass(&src, &r, 4, &dst), CR_CODEWIN_LATE);
	cr_codewin_slide(&dst, 8);
	assert_int_equal(pass(&src, &r, 7, &dst), CR_CODEWIN_LATE);
	assert_int_equal(pass(&src, &r, 12, &dst), CR_CODEWIN_LATE);
	assert_int_equal(pass(&src, &r, 8, &dst), CR_CODEWIN_INNOVATIVE);
	assert_int_equal(cr_codewin_rank(&dst, 8), 1);
	assert_int_equal(dst.stats.late, 3);
	/* 12 takes over 8's slot once the window has passed 8 */
	cr_codewin_slide(&dst, 9);
	assert_int_equal(pass(&src, &r, 12, &dst), CR_CODEWIN_INNOVATIVE);
	assert_int_equal(cr_codewin_rank(&dst, 12), 1);
	assert_int_equal(cr_codewin_rank(&dst, 8), 0);
	assert_int_equal(cr_codewin_code(&dst, &r, 8, data, sizeof(data)),
			 -CR_ENOENT);
	assert_int_equal(dst.stats.received, 5);
	cr_codewin_free(&src);
	cr_codewin_free(&dst);
}

static void malformed_refused(void **state)
{
	cr_codewin src, dst;
	cr_codewin_config c = config(4, 32, 4, 0);
	size_t len = cr_coded_len(4, 32);
	uint8_t data[128] = {9}, buf[256];
	cr_msg *m, *bad;
	cr_rand r;

	cr_rand_seed(&r, 4);
	assert_int_equal(cr_codewin_init(&src, &c), 0);
	assert_int_equal(cr_codewin_init(&dst, &c), 0);
	assert_int_equal(cr_codewin_load(&src, 0, data, sizeof(data)), 0);
	m = coded_msg(&src, &r, 0);
	/* truncated, one byte too many, another session, k, size */
	for (int i = 0; i < 5; i++) {
		size_t n = len + (i == 1) - (i == 0);
		bad = cr__msg_new_local(&pool, TYPE, SESSION, (uint32_t)n,
					&nowhere, 0, 0);
		memset(cr_msg_payload_mut(bad), 0, n);
		memcpy(cr_msg_payload_mut(bad), cr_msg_payload(m),
		       n < len ? n : len);
		if (i == 2)
			((uint8_t *)cr_msg_payload_mut(bad))[1] ^= 1;
		if (i == 3)
			assert_int_equal(cr_coded_put(cr_msg_payload_mut(bad),
						      n, SESSION, 0, 3, 33,
						      NULL, NULL),
					 (int)cr_coded_len(3, 33));
		if (i == 4)
			((uint8_t *)cr_msg_payload_mut(bad))[11] ^= 1;
		assert_int_equal(cr_codewin_put(&dst, NULL, bad, NULL),
				 -CR_EINVAL);
		cr_msg_release(bad);
	}
	assert_int_equal(dst.stats.malformed, 5);
	assert_int_equal(dst.stats.received, 0);
	assert_int_equal(cr_codewin_rank(&dst, 0), 0);
	assert_int_equal(cr_codewin_put(&dst, NULL, NULL, NULL), -CR_EINVAL);
	assert_int_equal(cr_codewin_put(&dst, NULL, m, NULL),
			 CR_CODEWIN_INNOVATIVE); /* the good one still goes */
	cr_msg_release(m);
	/* coding: not held, rank 0, a short buffer; reading before done */
	assert_int_equal(cr_codewin_code(&dst, &r, 3, buf, sizeof(buf)),
			 -CR_ENOENT);
	assert_int_equal(cr_codewin_code(&dst, &r, 0, buf, len - 1),
			 -CR_EMSGSIZE);
	assert_int_equal(cr_codewin_read(&dst, 0, buf, 4), -CR_ENOENT);
	assert_null(cr_codewin_data(&dst, 0));
	assert_int_equal(cr_codewin_read(&dst, 0, NULL, 4), -CR_EINVAL);
	assert_int_equal(cr_codewin_load(&src, 1, data, 4 * 32 + 1),
			 -CR_EINVAL);
	cr_codewin_free(&src);
	cr_codewin_free(&dst);
}

static void bad_configs(void **state)
{
	const cr_codewin_config bad[] = {
	    config(0, 32, 4, 0),
	    config(CR_CODE_MAX_K + 1, 32, 4, 0),
	    config(4, 0, 4, 0),
	    config(4, CR_CODE_MAX_SIZE + 1, 4, 0),
	    config(4, 32, 0, 0),
	    config(4, 32, 8, 4), /* fewer slots than the window */
	    config(4, 32, 4, CR_CODEWIN_MAX + 1),
	};
	cr_codewin w;
	uint8_t b[8];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cr_codewin_init(&w, &bad[i]), -CR_EINVAL);
		cr_codewin_free(&w);
	}
	assert_int_equal(cr_codewin_init(&w, NULL), -CR_EINVAL);
	/* a window that failed to start refuses everything */
	assert_int_equal(cr_codewin_load(&w, 0, b, 1), -CR_EINVAL);
	assert_int_equal(cr_codewin_rank(&w, 0), 0);
	assert_false(cr_codewin_busy(&w, 0));
	cr_codewin_free(&w);
}

/* --- on the pool, in a node ----------------------------------------------- */

#define NP_K	    16
#define NP_SIZE	    4000
#define NP_SEGS	    6
#define NP_DIE_MS   100
#define NP_BLOCK_MS 600 /* the pool kept busy past the death */

static struct cr_node_peer npeers[1];
static struct cr_node_event evs[2];

enum np_mode { NP_DECODE, NP_FREE_BUSY, NP_DIE };

static struct {
	enum np_mode mode;
	uint8_t data[NP_SEGS][NP_K * NP_SIZE];
	uint32_t done[NP_SEGS], equal[NP_SEGS];
	uint32_t queued, busy_fresh, estate, ticks;
	uint32_t dones_after_destroy, calls;
	bool destroyed, freed;
	cr_codewin_stats stats;
} np;

struct np_peer {
	cr_codewin src, dst;
	cr_timer_id t;
};

static void np_progress(cr_peer *p, uint32_t s, uint32_t rank, bool done,
			void *arg)
{
	struct np_peer *v = arg;
	const uint8_t *d;

	np.calls++;
	if (np.destroyed)
		np.dones_after_destroy++;
	if (!done)
		return;
	np.done[s]++;
	d = cr_codewin_data(&v->dst, s);
	np.equal[s] += d && !memcmp(d, np.data[s], sizeof(np.data[s]));
}

/* Blocks of every segment not yet whole into the pool window. */
static void np_tick(cr_peer *p, void *arg)
{
	struct np_peer *v = cr_state(p);
	size_t len = cr_coded_len(NP_K, NP_SIZE);
	uint8_t buf[64];

	np.ticks++;
	for (uint32_t s = 0; s < NP_SEGS && v->dst.slot; s++) {
		cr_msg *m = cr_msg_new(p, TYPE, SESSION, len);
		bool fresh = !cr_codewin_rank(&v->dst, s) &&
			     !cr_codewin_busy(&v->dst, s);
		int rc;

		if (cr_codewin_done(&v->dst, s) || !m) {
			cr_msg_release(m);
			continue;
		}
		cr_codewin_code(&v->src, cr_peer_rand(p), s,
				cr_msg_payload_mut(m), len);
		rc = cr_codewin_put(&v->dst, p, m, NULL);
		cr_msg_release(m); /* the window holds its own reference */
		np.queued += rc == CR_CODEWIN_QUEUED;
		if (rc == CR_CODEWIN_QUEUED && fresh &&
		    cr_codewin_busy(&v->dst, s))
			np.busy_fresh++;
		if (cr_codewin_busy(&v->dst, s) &&
		    cr_codewin_code(&v->dst, cr_peer_rand(p), s, buf,
				    sizeof(buf)) == -CR_ESTATE)
			np.estate++;
	}
	if (np.mode == NP_FREE_BUSY && !np.freed && np.queued) {
		cr_codewin_free(&v->dst); /* with decodes out: done frees */
		np.freed = true;
	}
}

static void np_sleep(void *arg)
{
	struct timespec ts = {0, NP_BLOCK_MS * 1000000L};

	while (nanosleep(&ts, &ts))
		;
}

static int np_bootstrap(cr_peer *p)
{
	struct np_peer *v = cr_state(p);
	cr_codewin_config c = config(NP_K, NP_SIZE, NP_SEGS, 0);

	assert_int_equal(cr_codewin_init(&v->src, &c), 0);
	c.on_pool = true;
	c.progress = np_progress;
	c.arg = v;
	assert_int_equal(cr_codewin_init(&v->dst, &c), 0);
	for (uint32_t s = 0; s < NP_SEGS; s++)
		assert_int_equal(
		    cr_codewin_load(&v->src, s, np.data[s], sizeof(np.data[s])),
		    0);
	for (int i = 0; np.mode == NP_DIE && i < POOL; i++)
		assert_int_equal(cr_work_submit(p, np_sleep, NULL, NULL, NULL),
				 0);
	v->t = cr_timer_start(p, 5 * CR_MS, 5 * CR_MS, np_tick, NULL);
	return 0;
}

static void np_destroy(cr_peer *p)
{
	struct np_peer *v = cr_state(p);

	/* every done came before: no slot is busy now */
	for (uint32_t s = 0; s < NP_SEGS; s++)
		assert_false(cr_codewin_busy(&v->dst, s));
	np.stats = v->dst.stats;
	cr_codewin_free(&v->src);
	cr_codewin_free(&v->dst);
	np.destroyed = true;
}

static const cr_algorithm np_algo = {
    .api_version = CR_API_VERSION,
    .name = "codewin",
    .state_size = sizeof(struct np_peer),
    .bootstrap = np_bootstrap,
    .destroy = np_destroy,
};

static void np_run(enum np_mode mode, int64_t duration_ns)
{
	struct cr_node_config cfg;
	cr_node *node;
	char err[256];
	cr_rand r;

	memset(&np, 0, sizeof(np));
	np.mode = mode;
	cr_rand_seed(&r, 77);
	for (uint32_t s = 0; s < NP_SEGS; s++)
		cr_rand_fill(&r, np.data[s], sizeof(np.data[s]));
	memset(npeers, 0, sizeof(npeers));
	npeers[0].addr = t_addr(29200 + (uint16_t)mode);
	evs[0] = (struct cr_node_event){0, CR_NEV_BIRTH, 0, 0};
	evs[1] = (struct cr_node_event){NP_DIE_MS * CR_MS, CR_NEV_DIE, 0, 0};
	npeers[0].events = evs;
	npeers[0].nevents = mode == NP_DIE ? 2 : 1;
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "test-coding-window";
	cfg.duration_ns = duration_ns;
	cfg.workers = 1;
	cfg.algo = &np_algo;
	cfg.peers = npeers;
	cfg.npeers = 1;
	cfg.log_level = CR_LOG_ERROR;
	if (cr_node_create(&cfg, &node, err, sizeof(err)))
		fail_msg("create: %s", err);
	if (cr_node_run(node, err, sizeof(err)))
		fail_msg("run: %s", err);
	cr_node_destroy(node);
	assert_true(np.destroyed);
	assert_int_equal(np.dones_after_destroy, 0);
}

static void pool_byte_for_byte(void **state)
{
	uint64_t innovative = 0;

	np_run(NP_DECODE, 2 * CR_SEC);
	for (uint32_t s = 0; s < NP_SEGS; s++) {
		assert_int_equal(np.done[s], 1);
		assert_int_equal(np.equal[s], 1);
		innovative += NP_K;
	}
	assert_int_equal(np.stats.decoded, NP_SEGS);
	/* the first block of a segment goes out at once, and while it is
	 * out the segment is not coded from */
	assert_int_equal(np.busy_fresh, NP_SEGS);
	assert_true(np.estate >= NP_SEGS);
	assert_int_equal(np.stats.received, innovative + np.stats.dependent +
						np.stats.redundant +
						np.stats.late);
	assert_int_equal(np.stats.late + np.stats.malformed, 0);
	assert_true(np.stats.decode_ns > 0);
}

static void pool_freed_while_busy(void **state)
{
	np_run(NP_FREE_BUSY, 300 * CR_MS);
	assert_true(np.freed);
	assert_true(np.queued > 0);
	/* the window was gone when the decodes ended: nothing reported */
	assert_int_equal(np.calls, 0);
	assert_int_equal(np.stats.received, 0);
}

static void pool_peer_dies(void **state)
{
	np_run(NP_DIE, 400 * CR_MS);
	/* the decodes waited behind the sleepers, and the peer died first:
	 * their done came (cancelled) before destroy, and nothing decoded */
	assert_true(np.queued >= NP_SEGS);
	assert_int_equal(np.calls, 0);
	assert_int_equal(np.stats.decoded, 0);
	/* at most k gathered: the rest dependent */
	assert_int_equal(np.stats.received, np.queued + np.stats.dependent);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(chain_byte_for_byte, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(dependent_and_redundant, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(sliding, setup, teardown),
	    cmocka_unit_test_setup_teardown(malformed_refused, setup, teardown),
	    cmocka_unit_test(bad_configs),
	    cmocka_unit_test(pool_byte_for_byte),
	    cmocka_unit_test(pool_freed_while_busy),
	    cmocka_unit_test(pool_peer_dies),
	};

	setenv("UV_THREADPOOL_SIZE", "2", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
