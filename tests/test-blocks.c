/* The mesh building blocks (include/crystal/mesh.h) and typed algorithm
 * parameters (cr_param_spec):
 *
 * - the request table: one request per item, timeouts, a peer's requests
 *   forgotten, items slid out of the window dropped;
 * - the segmenter: bytes in messages of any size cut into whole blocks,
 *   the end marked, into a playback buffer;
 * - parts: ranges, what a buffer holds, buffer maps of parts;
 * - the neighbour set and the uploader, inside a running node (they call
 *   the engine): add, full, candidates, removal, offers, refill; jobs sent
 *   by rank and deadline, refused when they could not leave in time,
 *   dropped when they would arrive late, forgotten, and the idle callback;
 * - typed parameters: defaults, -D values of every type read back with one
 *   call, values out of range or of the wrong type refused before the run
 *   with the parameter named, bad declarations refused, and an algorithm
 *   built for version 2 read without its (absent) table.
 *
 * Nothing here asserts on timing: orders and counts only.
 */
#include "../src/engine/engine.h"
#include "support.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* --- request table ------------------------------------------------------- */

static int expired_seen;

static void count_expired(const cr_req *r, void *arg)
{
	(void)r;
	(void)arg;
	expired_seen++;
}

static void test_reqtab(void **state)
{
	cr_addr a = t_addr(1000), b = t_addr(1001);
	cr_reqtab t;

	(void)state;
	assert_int_equal(cr_reqtab_init(&t, 0), -CR_EINVAL);
	assert_int_equal(cr_reqtab_init(&t, 4), 0);
	assert_int_equal(cr_reqtab_add(&t, 7, &a, 100, 0), -CR_EINVAL);
	assert_int_equal(cr_reqtab_add(&t, 7, &a, 100, 50), 0);
	/* one request per item: a second, to anyone, is refused */
	assert_int_equal(cr_reqtab_add(&t, 7, &b, 110, 50), -CR_ESTATE);
	assert_int_equal(cr_reqtab_add(&t, 8, &b, 100, 500), 0);
	assert_int_equal(cr_reqtab_add(&t, 9, &a, 100, 500), 0);
	assert_int_equal(cr_reqtab_add(&t, 10, &a, 100, 500), 0);
	assert_int_equal(cr_reqtab_add(&t, 11, &a, 100, 500), -CR_ENOSPC);
	assert_int_equal(cr_reqtab_count(&t, &a), 3);
	assert_int_equal(cr_reqtab_count(&t, &b), 1);
	assert_true(cr_addr_eq(&cr_reqtab_find(&t, 7)->to, &a));
	assert_int_equal(cr_reqtab_find(&t, 7)->expires_ns, 150);
	/* item 7 is due at 150: at 149 nothing expires, at 150 it does */
	expired_seen = 0;
	assert_int_equal(cr_reqtab_expire(&t, 149, count_expired, NULL), 0);
	assert_int_equal(cr_reqtab_expire(&t, 150, count_expired, NULL), 1);
	assert_int_equal(expired_seen, 1);
	assert_null(cr_reqtab_find(&t, 7));
	/* answered */
	assert_true(cr_reqtab_done(&t, 9));
	assert_false(cr_reqtab_done(&t, 9));
	/* a departed peer's requests, and items below a cut */
	assert_int_equal(cr_reqtab_add(&t, 3, &a, 100, 500), 0);
	assert_int_equal(cr_reqtab_drop_below(&t, 4), 1);
	assert_null(cr_reqtab_find(&t, 3));
	assert_int_equal(cr_reqtab_forget(&t, &a), 1); /* 10 */
	assert_int_equal(t.n, 1);
	assert_non_null(cr_reqtab_find(&t, 8));
	assert_int_equal(t.sent, 5);
	assert_int_equal(t.expired, 1);
	assert_int_equal(t.answered, 1);
	/* after an answer, the item may be asked again */
	assert_true(cr_reqtab_done(&t, 8));
	assert_int_equal(cr_reqtab_add(&t, 8, &a, 200, 5), 0);
	cr_reqtab_free(&t);
}

/* --- segmenter ----------------------------------------------------------- */

struct cut {
	uint32_t seg[64], off[64], len[64];
	bool last[64];
	uint8_t data[4096];
	size_t n, bytes;
};

static int record(void *arg, uint32_t segment, uint32_t offset,
		  const void *block, uint32_t len, bool last)
{
	struct cut *c = arg;

	assert_true(c->n < 64);
	c->seg[c->n] = segment;
	c->off[c->n] = offset;
	c->len[c->n] = len;
	c->last[c->n] = last;
	memcpy(c->data + c->bytes, block, len);
	c->bytes += len;
	c->n++;
	return 0;
}

static int refuse(void *arg, uint32_t segment, uint32_t offset,
		  const void *block, uint32_t len, bool last)
{
	(void)arg, (void)segment, (void)offset, (void)block, (void)len,
		(void)last;
	return -CR_ENOSPC;
}

/* 1,000 B/s in 100 ms segments of 100 bytes, blocks of 30: each segment
 * is blocks of 30, 30, 30, 10. */
static void stream_100(cr_stream *st)
{
	assert_int_equal(cr_stream_init(st, 1, 1000, 100 * CR_MS, 30), 0);
	assert_int_equal(st->segment_bytes, 100);
}

static void test_segmenter(void **state)
{
	uint8_t bytes[250];
	cr_segmenter sg;
	cr_stream st;
	struct cut c = {0};

	(void)state;
	stream_100(&st);
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i * 7);
	assert_int_equal(cr_segmenter_init(&sg, &st), 0);
	assert_int_equal(cr_segmenter_end(&sg, record, &c), -CR_ESTATE);
	/* fed in pieces of 7 and 13: only whole blocks come out */
	for (size_t at = 0, k = 0; at < sizeof(bytes); k++) {
		size_t n = k % 2 ? 13 : 7;
		if (n > sizeof(bytes) - at)
			n = sizeof(bytes) - at;
		assert_int_equal(cr_segmenter_feed(&sg, bytes + at, n, record,
						   &c),
				 0);
		at += n;
	}
	/* 250 bytes: segments 0 and 1 whole (4 blocks each), then 30 + 20 */
	assert_int_equal(c.n, 9);
	assert_int_equal(c.seg[3], 0);
	assert_int_equal(c.off[3], 90);
	assert_int_equal(c.len[3], 10);
	assert_int_equal(c.seg[8], 2);
	assert_int_equal(c.off[8], 0);
	assert_int_equal(c.len[8], 30);
	assert_false(c.last[8]);
	assert_int_equal(cr_segmenter_end(&sg, record, &c), 0);
	assert_int_equal(c.n, 10);
	assert_true(c.last[9]);
	assert_int_equal(c.seg[9], 2);
	assert_int_equal(c.off[9], 30);
	assert_int_equal(c.len[9], 20);
	assert_int_equal(c.bytes, sizeof(bytes));
	assert_memory_equal(c.data, bytes, sizeof(bytes));
	/* nothing after the end */
	assert_int_equal(cr_segmenter_feed(&sg, bytes, 1, record, &c),
			 -CR_ESTATE);
	assert_int_equal(cr_segmenter_end(&sg, record, &c), -CR_ESTATE);
	cr_segmenter_free(&sg);

	/* a stream ending on a block boundary: an empty last block says
	 * where; the callback's error stops the feed */
	memset(&c, 0, sizeof(c));
	assert_int_equal(cr_segmenter_init(&sg, &st), 0);
	assert_int_equal(cr_segmenter_feed(&sg, bytes, 60, record, &c), 0);
	assert_int_equal(cr_segmenter_end(&sg, record, &c), 0);
	assert_int_equal(c.n, 3);
	assert_true(c.last[2] && c.len[2] == 0 && c.off[2] == 60);
	cr_segmenter_free(&sg);
	assert_int_equal(cr_segmenter_init(&sg, &st), 0);
	assert_int_equal(cr_segmenter_feed(&sg, bytes, 60, refuse, NULL),
			 -CR_ENOSPC);
	cr_segmenter_free(&sg);
}

static cr_playbuf *new_buffer(const cr_stream *st, uint32_t window)
{
	cr_playbuf_config cfg;
	cr_playbuf *pb;

	cr_playbuf_config_init(&cfg, st);
	cfg.window = window;
	cfg.history = 1;
	cfg.keep_data = true;
	assert_int_equal(cr_playbuf_new(&cfg, &pb), 0);
	assert_int_equal(cr_playbuf_begin(pb, 0, 0), 0);
	return pb;
}

/* --- parts --------------------------------------------------------------- */

static void test_parts(void **state)
{
	uint8_t bytes[100] = {0};
	cr_stream st;
	cr_parts pp;
	cr_playbuf *pb;
	cr_bufmap bm;
	uint32_t off, len;

	(void)state;
	stream_100(&st);
	assert_int_equal(cr_parts_init(&pp, &st, 0, 4), -CR_EINVAL);
	assert_int_equal(cr_parts_init(&pp, &st, 1, CR_BUFMAP_MAX + 1),
			 -CR_EINVAL);
	/* parts of two blocks: 60 + 40 bytes */
	assert_int_equal(cr_parts_init(&pp, &st, 2, 4), 0);
	assert_int_equal(pp.part_bytes, 60);
	assert_int_equal(pp.nparts, 2);
	assert_int_equal(cr_parts_key(&pp, 3, 1), 7);
	assert_int_equal(cr_parts_key_at(&pp, 3, 90), 7);
	/* a window too wide for a map of parts: the parts grow */
	assert_int_equal(cr_parts_init(&pp, &st, 1, CR_BUFMAP_MAX), 0);
	assert_true((uint64_t)CR_BUFMAP_MAX * pp.nparts <= CR_BUFMAP_MAX);
	assert_int_equal(pp.nparts, 1);

	assert_int_equal(cr_parts_init(&pp, &st, 2, 4), 0);
	pb = new_buffer(&st, 4);
	assert_true(cr_parts_range(&pp, pb, 1, &off, &len));
	assert_int_equal(off, 60);
	assert_int_equal(len, 40);
	assert_false(cr_parts_held(&pp, pb, 0));
	assert_int_equal(cr_playbuf_add(pb, 0, 0, bytes, 30, 0), CR_PB_NEW);
	assert_false(cr_parts_held(&pp, pb, 0)); /* half of it */
	assert_int_equal(cr_playbuf_add(pb, 0, 30, bytes, 30, 0), CR_PB_NEW);
	assert_true(cr_parts_held(&pp, pb, 0));
	assert_int_equal(cr_playbuf_add(pb, 1, 90, bytes, 10, 0), CR_PB_NEW);
	assert_int_equal(cr_playbuf_add(pb, 1, 60, bytes, 30, 0), CR_PB_NEW);
	cr_parts_map(&pp, pb, &bm);
	assert_int_equal(bm.base, 0);
	assert_int_equal(bm.count, 8);
	assert_true(cr_bufmap_has(&bm, 0));
	assert_false(cr_bufmap_has(&bm, 1));
	assert_false(cr_bufmap_has(&bm, 2));
	assert_true(cr_bufmap_has(&bm, 3));
	assert_int_equal(cr_bufmap_held(&bm), 2);
	/* a stream that ends in segment 1 after 50 bytes: its part 1 does
	 * not exist */
	assert_int_equal(cr_playbuf_end(pb, 1, 50), 0);
	assert_false(cr_parts_range(&pp, pb, 3, &off, &len));
	assert_false(cr_parts_held(&pp, pb, 3));
	cr_playbuf_free(pb);
}

/* --- holder and seeder --------------------------------------------------- */

static void test_holder(void **state)
{
	cr_holder h = {0};

	(void)state;
	/* it said: 200 ms of queue, 10 KB/s; 1,000 bytes take 100 ms more */
	cr_holder_heard(&h, 1000 * CR_MS, 200 * CR_MS, 10000);
	assert_int_equal(cr_holder_eta(&h, 1000 * CR_MS, 1000), 1300 * CR_MS);
	/* once its queue has run out, from now */
	assert_int_equal(cr_holder_eta(&h, 2000 * CR_MS, 1000), 2100 * CR_MS);
	/* what this peer asks comes after what it had */
	cr_holder_asked(&h, 1000 * CR_MS, 1000);
	assert_int_equal(cr_holder_eta(&h, 1000 * CR_MS, 1000), 1400 * CR_MS);
	/* busy: its wait, or a back-off from 100 ms doubling to 400 ms */
	cr_holder_busy(&h, 0, 50 * CR_MS, 100 * CR_MS, 400 * CR_MS);
	assert_int_equal(h.free_ns, 100 * CR_MS);
	cr_holder_busy(&h, 0, 50 * CR_MS, 100 * CR_MS, 400 * CR_MS);
	assert_int_equal(h.free_ns, 200 * CR_MS);
	cr_holder_busy(&h, 0, 0, 100 * CR_MS, 400 * CR_MS);
	cr_holder_busy(&h, 0, 0, 100 * CR_MS, 400 * CR_MS);
	assert_int_equal(h.free_ns, 400 * CR_MS);
	cr_holder_busy(&h, 0, 900 * CR_MS, 100 * CR_MS, 400 * CR_MS);
	assert_int_equal(h.free_ns, 900 * CR_MS); /* its wait is longer */
	cr_holder_delivered(&h);
	cr_holder_busy(&h, 0, 0, 100 * CR_MS, 400 * CR_MS);
	assert_int_equal(h.free_ns, 100 * CR_MS);
	/* no rate: no time of its own */
	cr_holder_heard(&h, 0, -5, 0);
	assert_int_equal(cr_holder_eta(&h, 10, 1 << 20), 10);
}

static void test_seeder(void **state)
{
	uint8_t bytes[100] = {0};
	cr_seeder sd;
	cr_stream st;
	cr_parts pp;
	cr_playbuf *pb;
	uint64_t key = 0;

	(void)state;
	stream_100(&st);
	assert_int_equal(cr_parts_init(&pp, &st, 2, 4), 0); /* 2 parts */
	pb = new_buffer(&st, 4);
	assert_int_equal(cr_seeder_init(&sd, 0), -CR_EINVAL);
	assert_int_equal(cr_seeder_init(&sd, 8), 0);
	assert_false(cr_seeder_next(&sd, &pp, pb, 3, &key)); /* none held */
	/* segment 0 whole, segment 1's first part */
	assert_int_equal(cr_playbuf_add(pb, 0, 0, bytes, 100, 0),
			 CR_PB_COMPLETE);
	assert_int_equal(cr_playbuf_add(pb, 1, 0, bytes, 60, 0), CR_PB_NEW);
	assert_true(cr_seeder_next(&sd, &pp, pb, 3, &key));
	assert_int_equal(key, 0);
	cr_seeder_pushed(&sd, &pp, 0);
	assert_true(cr_seeder_next(&sd, &pp, pb, 3, &key));
	assert_int_equal(key, 1);
	cr_seeder_pushed(&sd, &pp, 1);
	assert_true(cr_seeder_next(&sd, &pp, pb, 3, &key));
	assert_int_equal(key, 2); /* 3, half held, is not offered */
	cr_seeder_pushed(&sd, &pp, 2);
	/* all held pushed once: the earliest again, up to `most` times */
	assert_true(cr_seeder_next(&sd, &pp, pb, 3, &key));
	assert_int_equal(key, 0);
	assert_false(cr_seeder_next(&sd, &pp, pb, 1, &key));
	for (int i = 0; i < 2; i++)
		for (uint64_t k = 0; k < 3; k++)
			cr_seeder_pushed(&sd, &pp, k);
	assert_false(cr_seeder_next(&sd, &pp, pb, 3, &key));
	/* a slot reused by a later segment counts from zero: item 8 is
	 * segment 4, in the slot of item 0 */
	cr_seeder_pushed(&sd, &pp, 8);
	assert_true(cr_seeder_next(&sd, &pp, pb, 3, &key));
	assert_int_equal(key, 0);
	cr_seeder_free(&sd);
	cr_playbuf_free(pb);
}

/* --- neighbour set, uploader and segmenter, in a node -------------------- */

#define NB_PEERS  6
#define BASE_PORT 29400

/* What peer 0 saw; the checks run on its worker, so they record the first
 * failure here rather than assert there. */
static struct {
	char failed[256];
	/* the uploaders of peers 0 and 2: the order jobs were sent in */
	uint64_t sent[16], sent2[16];
	int nsent, nsent2, late, failed_sends, idle_calls;
	bool idle_armed, idle_pushed;
	uint64_t late_key;
	/* item messages peer 1 read, and those it refused */
	uint64_t item[4];
	int64_t item_ns[4];
	int nitems, bad_items;
} g;

#define CHECK(c)                                                             \
	do {                                                                 \
		if (!(c) && !g.failed[0])                                    \
			snprintf(g.failed, sizeof(g.failed), "line %d: %s",  \
				 __LINE__, #c);                              \
	} while (0)

struct tst {
	cr_nbset s;
	cr_uploader up;
	uint64_t sent[16];
	int nsent;
};

static bool cand_has(const cr_nbset *s, const cr_addr *a)
{
	for (size_t i = 0; i < s->ncand; i++)
		if (cr_addr_eq(&s->cand[i], a))
			return true;
	return false;
}

static void check_nbset(cr_peer *p, cr_nbset *s)
{
	cr_addr a[NB_PEERS];
	cr_nbset_config c = {.min = 2, .max = 3, .candidates = 2,
			     .data_size = sizeof(int)};

	for (int i = 0; i < NB_PEERS; i++)
		a[i] = t_addr((uint16_t)(BASE_PORT + i));
	CHECK(cr_nbset_init(s, &(cr_nbset_config){.min = 3, .max = 2}) ==
	      -CR_EINVAL);
	CHECK(cr_nbset_init(s, &c) == 0);
	CHECK(cr_nbset_add(s, p, &a[0]) == -CR_EINVAL); /* itself */
	CHECK(cr_nbset_add(s, p, &a[1]) == 0);
	*(int *)cr_nbset_data(s, 0) = 11;
	CHECK(cr_nbset_add(s, p, &a[1]) == 0); /* already */
	CHECK(cr_nbset_add(s, p, &a[2]) == 1);
	*(int *)cr_nbset_data(s, 1) = 22;
	CHECK(cr_nbset_add(s, p, &a[3]) == 2);
	CHECK(*(int *)cr_nbset_data(s, 2) == 0); /* zeroed */
	/* full: candidates, two at most */
	CHECK(cr_nbset_add(s, p, &a[4]) == -CR_ENOSPC);
	CHECK(cr_nbset_add(s, p, &a[5]) == -CR_ENOSPC);
	CHECK(s->ncand == 2);
	/* the first leaves: the last takes its place, with its data */
	CHECK(cr_nbset_remove(s, &a[1]) == 0);
	CHECK(cr_nbset_remove(s, &a[1]) == -CR_ENOENT);
	CHECK(cr_nbset_size(s) == 2 && cr_nbset_find(s, &a[1]) == -1);
	CHECK(cr_nbset_find(s, &a[3]) == 0 && cr_nbset_find(s, &a[2]) == 1);
	CHECK(*(int *)cr_nbset_data(s, 1) == 22);
	/* at min, refill takes none; below, the oldest candidate first */
	CHECK(cr_nbset_refill(s, p) == 0);
	CHECK(cr_nbset_remove(s, &a[2]) == 0);
	CHECK(cr_nbset_refill(s, p) == 1);
	CHECK(cr_nbset_find(s, &a[4]) == 1 && s->ncand == 1);
	/* a candidate that leaves is forgotten too */
	CHECK(cr_nbset_remove(s, &a[5]) == 0 && s->ncand == 0);
	CHECK(cr_nbset_random(s, p) >= 0 && cr_nbset_random(s, p) < 2);
	/* below min with no candidates and no tracker: nothing to ask */
	CHECK(cr_nbset_remove(s, &a[4]) == 0 && cr_nbset_refill(s, p) == 0);
	CHECK(s->queries == 0);
	cr_nbset_free(s);

	/* an offer: neighbours up to min, itself skipped, the rest
	 * candidates; a higher ceiling takes more */
	CHECK(cr_nbset_init(s, &c) == 0);
	CHECK(cr_nbset_random(s, p) == -1);
	CHECK(cr_nbset_offer(s, p, a, NB_PEERS) == 2);
	CHECK(cr_nbset_size(s) == 2 && s->ncand == 2);
	CHECK(cr_nbset_find(s, &a[0]) == -1);
	CHECK(cr_nbset_set_max(s, 0) == -CR_EINVAL);
	CHECK(cr_nbset_set_max(s, 5) == 0);
	for (int i = 1; i < NB_PEERS; i++)
		CHECK(cr_nbset_add(s, p, &a[i]) >= 0);
	CHECK(cr_nbset_size(s) == 5 && s->ncand == 0);
	cr_nbset_free(s);

	/* a neighbour departs: the oldest candidate takes its place; a
	 * candidate that departs is forgotten; with none left, nobody */
	CHECK(cr_nbset_init(s, &c) == 0);
	for (int i = 1; i < NB_PEERS; i++)
		cr_nbset_add(s, p, &a[i]);
	CHECK(cr_nbset_size(s) == 3 && s->ncand == 2);
	CHECK(cr_nbset_depart(s, p, &a[2]) == 2);
	CHECK(cr_nbset_find(s, &a[4]) >= 0 && cr_nbset_size(s) == 3);
	CHECK(cr_nbset_depart(s, p, &a[5]) == 0 && s->ncand == 0);
	CHECK(cr_nbset_depart(s, p, &a[1]) == 1 && cr_nbset_size(s) == 2);
	CHECK(cr_nbset_depart(s, p, &a[1]) == 0);
	cr_nbset_free(s);

	/* the peer's bootstrap list offered: the same as offering it */
	const cr_addr *boot;
	CHECK(cr_bootstrap_peers(p, &boot) == 4);
	CHECK(cr_nbset_init(s, &c) == 0);
	CHECK(cr_nbset_offer_bootstrap(s, p) == 2); /* min; two candidates */
	CHECK(cr_nbset_size(s) == 2 && s->ncand == 2);
	for (size_t i = 0; i < 4; i++)
		CHECK(cr_nbset_find(s, &boot[i]) >= 0 ||
		      cand_has(s, &boot[i]));
	cr_nbset_free(s);
}

static int up_send(cr_peer *p, const cr_upload_job *j, void *arg)
{
	static const uint8_t zeros[10000];
	struct tst *t = arg;
	int err;

	if (j->bytes > sizeof(zeros))
		return -CR_EINVAL;
	err = cr_send_copy(p, &j->to, 20, 1, zeros, j->bytes, CR_TCP);
	if (!err && t->nsent < 16)
		t->sent[t->nsent++] = j->key;
	return err;
}

static void up_drop(cr_peer *p, const cr_upload_job *j, int why, void *arg)
{
	(void)p, (void)arg;
	if (why == CR_UPLOAD_LATE) {
		g.late++;
		g.late_key = j->key;
	} else {
		g.failed_sends++;
	}
}

/* Once armed and the queue dry: one more job (key 99), then nothing. */
static bool up_idle(cr_peer *p, void *arg)
{
	struct tst *t = arg;
	cr_upload_job j = {.to = t_addr(BASE_PORT + 1), .key = 99,
			   .bytes = 100, .deadline_ns = INT64_MAX};

	g.idle_calls++;
	if (!g.idle_armed || g.idle_pushed)
		return false;
	g.idle_pushed = true;
	return cr_uploader_push(&t->up, p, &j) == 0;
}

static int push(cr_uploader *u, cr_peer *p, uint64_t key, uint32_t bytes,
		uint32_t rank, int64_t deadline_ns)
{
	cr_upload_job j = {.to = t_addr(BASE_PORT + 1), .key = key,
			   .bytes = bytes, .rank = rank,
			   .deadline_ns = deadline_ns};

	return cr_uploader_push(u, p, &j);
}

/* At 10 KB/s: job 1 (10 KB) leaves at once and holds the link 1 s, so
 * job 2 (10 KB due in 1.5 s) is refused.  Jobs 5, 3, 4 (rank 1) wait and
 * go by deadline after 6 (rank 0, due last); 7 (10 KB, due at 2.5 s)
 * fits, and so does 8 (10 KB, due at 2.4 s), which goes before it: then
 * 7 would arrive late, and is dropped instead of sent. */
static void check_uploader(cr_peer *p, struct tst *t)
{
	const int64_t now = cr_now(p);
	cr_addr other = t_addr(BASE_PORT + 2);
	cr_link_limits l;
	cr_uploader_config c = {.lead_ns = 10 * CR_MS, .max_jobs = 8,
				.send = up_send, .drop = up_drop,
				.idle = up_idle, .arg = t};
	cr_upload_job j = {.to = other, .key = 9, .bytes = 10,
			   .deadline_ns = INT64_MAX};

	cr_link_get(p, &l);
	l.upload_Bps = 10000;
	CHECK(cr_link_set(p, &l) == 0);
	CHECK(cr_uploader_init(&t->up, &(cr_uploader_config){0}) ==
	      -CR_EINVAL);
	CHECK(cr_uploader_init(&t->up, &c) == 0);
	CHECK(cr_uploader_rate(&t->up, p) == 10000);
	CHECK(push(&t->up, p, 1, 10000, 0, now + 60 * CR_SEC) == 0);
	CHECK(t->nsent == 1 && t->up.n == 0);
	CHECK(push(&t->up, p, 2, 10000, 0, now + 1500 * CR_MS) == -CR_EAGAIN);
	CHECK(push(&t->up, p, 5, 1000, 1, now + 50 * CR_SEC) == 0);
	CHECK(push(&t->up, p, 3, 1000, 1, now + 30 * CR_SEC) == 0);
	CHECK(push(&t->up, p, 4, 1000, 1, now + 40 * CR_SEC) == 0);
	CHECK(push(&t->up, p, 6, 1000, 0, now + 59 * CR_SEC) == 0);
	CHECK(push(&t->up, p, 7, 10000, 0, now + 2500 * CR_MS) == 0);
	CHECK(push(&t->up, p, 8, 10000, 0, now + 2400 * CR_MS) == 0);
	CHECK(t->up.n == 6 && t->nsent == 1);
	/* a job for a peer that left is forgotten */
	CHECK(cr_uploader_push(&t->up, p, &j) == 0);
	CHECK(cr_uploader_forget(&t->up, &other) == 1);
	/* full at max_jobs: two fillers (rank 9) fit, a third does not */
	CHECK(push(&t->up, p, 10, 10, 9, INT64_MAX) == 0);
	CHECK(push(&t->up, p, 10, 10, 9, INT64_MAX) == 0);
	CHECK(push(&t->up, p, 11, 10, 9, INT64_MAX) == -CR_ENOSPC);
	CHECK(t->up.refused == 2);
	CHECK(cr_uploader_wait_ns(&t->up, p) > 2 * CR_SEC);
	g.idle_armed = true;
}

/* 1,000 B/s in 100 ms segments, blocks of 30, without cmocka's asserts
 * (this runs on a worker). */
static void check_to_playbuf(cr_peer *p)
{
	uint8_t bytes[130];
	cr_playbuf_config cfg;
	cr_segmenter sg;
	cr_playbuf *pb = NULL;
	cr_stream st;
	uint32_t last = 0;
	cr_msg *m;

	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i + 1);
	CHECK(cr_stream_init(&st, 1, 1000, 100 * CR_MS, 30) == 0);
	cr_playbuf_config_init(&cfg, &st);
	cfg.window = 4;
	cfg.history = 1;
	cfg.keep_data = true;
	CHECK(cr_playbuf_new(&cfg, &pb) == 0 && pb);
	if (!pb)
		return;
	CHECK(cr_playbuf_begin(pb, 0, cr_now(p)) == 0);
	CHECK(cr_segmenter_init(&sg, &st) == 0);
	m = cr_msg_new(p, 128, 1, sizeof(bytes));
	memcpy(cr_msg_payload_mut(m), bytes, sizeof(bytes));
	CHECK(cr_segmenter_to_playbuf(&sg, pb, m, cr_now(p)) == 0);
	cr_msg_release(m);
	CHECK(cr_playbuf_has_range(pb, 0, 0, 100));
	CHECK(cr_playbuf_has_range(pb, 1, 0, 30));
	CHECK(cr_playbuf_data(pb, 0) &&
	      !memcmp(cr_playbuf_data(pb, 0), bytes, 100));
	CHECK(!cr_playbuf_data(pb, 1)); /* not whole yet */
	CHECK(!cr_playbuf_ended(pb, NULL));
	/* an empty message ends the stream: segment 1 is 30 bytes long */
	m = cr_msg_new(p, 128, 1, 0);
	CHECK(cr_segmenter_to_playbuf(&sg, pb, m, cr_now(p)) == 0);
	CHECK(cr_segmenter_to_playbuf(&sg, pb, m, cr_now(p)) == -CR_ESTATE);
	cr_msg_release(m);
	CHECK(cr_playbuf_ended(pb, &last) && last == 1);
	CHECK(cr_playbuf_segment_size(pb, 1) == 30);
	CHECK(cr_playbuf_data(pb, 1) &&
	      !memcmp(cr_playbuf_data(pb, 1), bytes + 100, 30));
	cr_segmenter_free(&sg);
	cr_playbuf_free(pb);
}

/* With urgent_ns (5 s): after 20 (which holds the link 1 s), the jobs
 * due within 5 s earliest first (24, 23), then the rest latest first
 * (21, 22). */
static void check_urgent(cr_peer *p, struct tst *t)
{
	const int64_t now = cr_now(p);
	cr_link_limits l;
	cr_uploader_config c = {.lead_ns = 10 * CR_MS, .max_jobs = 8,
				.urgent_ns = 5 * CR_SEC, .send = up_send,
				.arg = t};

	cr_link_get(p, &l);
	l.upload_Bps = 10000;
	CHECK(cr_link_set(p, &l) == 0);
	CHECK(cr_uploader_init(&t->up, &c) == 0);
	CHECK(push(&t->up, p, 20, 10000, 0, INT64_MAX) == 0);
	CHECK(push(&t->up, p, 21, 1000, 0, now + 50 * CR_SEC) == 0);
	CHECK(push(&t->up, p, 22, 1000, 0, now + 40 * CR_SEC) == 0);
	CHECK(push(&t->up, p, 23, 1000, 0, now + 4 * CR_SEC) == 0);
	CHECK(push(&t->up, p, 24, 1000, 0, now + 3 * CR_SEC) == 0);
}

/* Item messages (type 21): peer 0 sends four, one of them 11 bytes. */
static void send_items(cr_peer *p)
{
	cr_addr to = t_addr(BASE_PORT + 1);

	CHECK(cr_send_item(p, &to, 21, 1, 0x0102030405060708ull,
			   1234 * CR_MS) == 0);
	CHECK(cr_send_item(p, &to, 21, 1, 7, -5 * CR_MS) == 0);
	CHECK(cr_send_copy(p, &to, 21, 1, "short item!", 11, CR_TCP) == 0);
	CHECK(cr_send_item(p, &to, 21, 1, UINT64_MAX, INT64_MAX) == 0);
}

static int tst_bootstrap(cr_peer *p)
{
	struct tst *t = cr_state(p);
	cr_addr first = t_addr(BASE_PORT), third = t_addr(BASE_PORT + 2);

	if (cr_addr_eq(cr_self(p), &third))
		check_urgent(p, t);
	if (!cr_addr_eq(cr_self(p), &first))
		return 0;
	check_nbset(p, &t->s);
	send_items(p);
	check_to_playbuf(p);
	check_uploader(p, t);
	return 0;
}

static void tst_process(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	(void)from;
	if (cr_msg_type(m) != 21 || g.nitems == 4)
		return;
	if (cr_msg_item(p, m, &g.item[g.nitems], &g.item_ns[g.nitems]))
		g.bad_items++;
	else
		g.nitems++;
}

static void tst_destroy(cr_peer *p)
{
	struct tst *t = cr_state(p);
	cr_addr first = t_addr(BASE_PORT);
	bool is_first = cr_addr_eq(cr_self(p), &first);

	if (!t->up.q)
		return;
	memcpy(is_first ? g.sent : g.sent2, t->sent, sizeof(t->sent));
	*(is_first ? &g.nsent : &g.nsent2) = t->nsent;
	cr_uploader_free(&t->up, p);
}

static const cr_algorithm tester = {
	.api_version = CR_API_VERSION,
	.name = "blocks",
	.state_size = sizeof(struct tst),
	.bootstrap = tst_bootstrap,
	.process = tst_process,
	.destroy = tst_destroy,
};

/* Creates (and runs, when that succeeds) a node of NB_PEERS peers of
 * algorithm a; returns what cr_node_create returned. */
static int run_node(const cr_algorithm *a, int64_t duration_ns,
		    const struct cr_node_param *params, size_t nparams,
		    char *err, size_t errlen)
{
	struct cr_node_peer peers[NB_PEERS] = {0};
	struct cr_node_config cfg = {0};
	cr_addr boot[NB_PEERS];
	cr_node *n = NULL;
	int e;

	for (int i = 0; i < NB_PEERS; i++)
		peers[i].addr = boot[i] = t_addr((uint16_t)(BASE_PORT + i));
	peers[0].boot = boot + 2; /* for check_nbset: four, not itself */
	peers[0].nboot = NB_PEERS - 2;
	cfg.name = "blocks";
	cfg.duration_ns = duration_ns;
	cfg.workers = 1;
	cfg.algo = a;
	cfg.peers = peers;
	cfg.npeers = NB_PEERS;
	cfg.params = params;
	cfg.nparams = nparams;
	cfg.log_level = CR_LOG_ERROR;
	*err = 0;
	e = cr_node_create(&cfg, &n, err, errlen);
	if (e)
		return e;
	if (cr_node_run(n, err, errlen))
		fail_msg("%s", err);
	cr_node_destroy(n);
	return 0;
}

static void test_in_node(void **state)
{
	char err[256];

	(void)state;
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_node(&tester, 4 * CR_SEC, NULL, 0, err,
				  sizeof(err)),
			 0);
	if (g.failed[0])
		fail_msg("%s", g.failed);
	print_message("sent:");
	for (int i = 0; i < g.nsent; i++)
		print_message(" %llu", (unsigned long long)g.sent[i]);
	print_message("; late %d (key %llu); idle calls %d\n", g.late,
		      (unsigned long long)g.late_key, g.idle_calls);
	/* 1 at once; 8 before 7, which is dropped as late; 6 by rank; 3, 4,
	 * 5 by deadline; the fillers; the idle callback's 99 last */
	assert_int_equal(g.nsent, 9);
	const uint64_t want[] = {1, 8, 6, 3, 4, 5, 10, 10, 99};
	for (int i = 0; i < 9; i++)
		assert_int_equal(g.sent[i], want[i]);
	assert_int_equal(g.late, 1);
	assert_int_equal(g.late_key, 7);
	assert_int_equal(g.failed_sends, 0);
	assert_true(g.idle_pushed);
	/* the items as sent, times in ms (none below 0, clamped above); the
	 * short one refused */
	assert_int_equal(g.nitems, 3);
	assert_int_equal(g.bad_items, 1);
	assert_true(g.item[0] == 0x0102030405060708ull);
	assert_int_equal(g.item_ns[0], 1234 * CR_MS);
	assert_true(g.item[1] == 7 && g.item_ns[1] == 0);
	assert_true(g.item[2] == UINT64_MAX);
	assert_int_equal(g.item_ns[2], (int64_t)UINT32_MAX * CR_MS);
	assert_int_equal(g.nsent2, 5);
	const uint64_t want2[] = {20, 24, 23, 21, 22};
	for (int i = 0; i < 5; i++)
		assert_int_equal(g.sent2[i], want2[i]);
}

/* --- typed parameters ---------------------------------------------------- */

struct tparams {
	int64_t count;
	double ratio;
	int64_t wait_ns;
	bool on;
};

static const cr_param_spec tspecs[] = {
	CR_PARAM_INT_AT(struct tparams, count, "count", 3, 1, 10,
			"a whole number"),
	CR_PARAM_DOUBLE_AT(struct tparams, ratio, "ratio", 0.5, 0, 1,
			   "a fraction"),
	CR_PARAM_DURATION_AT(struct tparams, wait_ns, "wait", 250 * CR_MS,
			     CR_MS, 10 * CR_SEC, "a time"),
	CR_PARAM_BOOL_AT(struct tparams, on, "on", false, "a switch"),
	{0},
};

static struct {
	struct tparams got;
	double wait_value, none;
	char wait_text[32];
	int load;
} tp;

static int tp_bootstrap(cr_peer *p)
{
	const char *w = cr_param(p, "wait");
	cr_addr first = t_addr(BASE_PORT);

	if (!cr_addr_eq(cr_self(p), &first))
		return 0;
	memset(&tp.got, 0xee, sizeof(tp.got));
	tp.load = cr_params_load(p, &tp.got);
	tp.wait_value = cr_param_value(p, "wait");
	tp.none = cr_param_value(p, "nothing");
	snprintf(tp.wait_text, sizeof(tp.wait_text), "%s", w ? w : "");
	return 0;
}

static const cr_algorithm typed = {
	.api_version = CR_API_VERSION,
	.name = "typed",
	.bootstrap = tp_bootstrap,
	.param_specs = tspecs,
};

static void test_params_read(void **state)
{
	const struct cr_node_param given[] = {
		{"count", "7"}, {"ratio", "0.25"}, {"wait", "1.5s"}, {"on", "yes"}};
	char err[256];

	(void)state;
	/* the defaults */
	memset(&tp, 0, sizeof(tp));
	assert_int_equal(run_node(&typed, 100 * CR_MS, NULL, 0, err,
				  sizeof(err)),
			 0);
	assert_int_equal(tp.load, 0);
	assert_int_equal(tp.got.count, 3);
	assert_true(tp.got.ratio == 0.5);
	assert_int_equal(tp.got.wait_ns, 250 * CR_MS);
	assert_false(tp.got.on);
	assert_string_equal(tp.wait_text, "250ms");
	assert_true(tp.wait_value == 250 * CR_MS);
	assert_true(isnan(tp.none));
	/* given, one of each type */
	memset(&tp, 0, sizeof(tp));
	assert_int_equal(run_node(&typed, 100 * CR_MS, given, 4, err,
				  sizeof(err)),
			 0);
	assert_int_equal(tp.got.count, 7);
	assert_true(tp.got.ratio == 0.25);
	assert_int_equal(tp.got.wait_ns, 1500 * CR_MS);
	assert_true(tp.got.on);
	assert_string_equal(tp.wait_text, "1.5s");
	/* a bare duration is in milliseconds; other units */
	const struct cr_node_param bare[] = {{"wait", "20"}, {"on", "OFF"}};
	assert_int_equal(run_node(&typed, 100 * CR_MS, bare, 2, err,
				  sizeof(err)),
			 0);
	assert_int_equal(tp.got.wait_ns, 20 * CR_MS);
	assert_false(tp.got.on);
	const struct cr_node_param us[] = {{"wait", "2500us"}};
	assert_int_equal(run_node(&typed, 100 * CR_MS, us, 1, err,
				  sizeof(err)),
			 0);
	assert_int_equal(tp.got.wait_ns, 2500 * CR_US);
}

/* Every bad value refuses the run, before it starts, naming the
 * parameter and what it takes. */
static void test_params_refused(void **state)
{
	static const struct {
		const char *name, *value, *says;
	} bad[] = {
		{"count", "0", "a whole number from 1 to 10"},
		{"count", "11", "a whole number from 1 to 10"},
		{"count", "2.5", "a whole number"},
		{"count", "", "count"},
		{"ratio", "1.5", "a number from 0 to 1"},
		{"ratio", "nan", "ratio"},
		{"ratio", "0.5x", "ratio"},
		{"wait", "0", "a duration from 1ms to 10s"},
		{"wait", "11s", "a duration from 1ms to 10s"},
		{"wait", "5 parsecs", "with a unit"},
		{"on", "maybe", "true or false"},
		{"nothing", "1", "has no parameter 'nothing'"},
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct cr_node_param given = {bad[i].name, bad[i].value};
		memset(&tp, 0, sizeof(tp));
		assert_int_equal(run_node(&typed, 100 * CR_MS, &given, 1, err,
					  sizeof(err)),
				 -CR_EINVAL);
		print_message("-D %s=%s: %s\n", bad[i].name, bad[i].value, err);
		assert_non_null(strstr(err, bad[i].name));
		assert_non_null(strstr(err, bad[i].says));
		assert_int_equal(tp.load, 0); /* nothing ran */
		assert_int_equal(tp.got.count, 0);
	}
}

/* A declaration the engine cannot honour, and an algorithm built for
 * version 2, whose struct ends before param_specs. */
static void test_params_declared(void **state)
{
	static const cr_param_spec wrong[] = {
		CR_PARAM_INT_AT(struct tparams, count, "count", 30, 1, 10, ""),
		{0},
	};
	cr_algorithm bad = typed, *v2;
	const struct cr_node_param given = {"count", "5"};
	char err[256];

	(void)state;
	bad.param_specs = wrong;
	assert_int_equal(run_node(&bad, 100 * CR_MS, NULL, 0, err,
				  sizeof(err)),
			 -CR_EINVAL);
	assert_non_null(strstr(err, "count"));
	/* version 2: what lies past its end is never read */
	v2 = malloc(sizeof(*v2));
	assert_non_null(v2);
	memset(v2, 0xab, sizeof(*v2));
	memcpy(v2, &tester, CR__ALGO_V2_SIZE);
	v2->api_version = 2;
	memset(&g, 0, sizeof(g));
	assert_int_equal(run_node(v2, 100 * CR_MS, NULL, 0, err, sizeof(err)),
			 0);
	assert_int_equal(run_node(v2, 100 * CR_MS, &given, 1, err,
				  sizeof(err)),
			 -CR_EINVAL);
	assert_non_null(strstr(err, "has no parameter"));
	free(v2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reqtab),
		cmocka_unit_test(test_segmenter),
		cmocka_unit_test(test_parts),
		cmocka_unit_test(test_holder),
		cmocka_unit_test(test_seeder),
		cmocka_unit_test(test_in_node),
		cmocka_unit_test(test_params_read),
		cmocka_unit_test(test_params_refused),
		cmocka_unit_test(test_params_declared),
	};

	return cmocka_run_group_tests_name("mesh building blocks", tests, NULL,
					   NULL);
}
