/* Message buffers and small value parsers.
 *
 * Slabs and messages (src/core/msg.c): a new message carries a correctly
 * encoded header and a writable payload; received frames are read-only;
 * retain/release counts; a slab is freed only when the last message in it
 * is released (and the pool's own reference is gone); free lists recycle
 * descriptors and standard slabs up to their bounds; a large message gets
 * a slab of its own, freed with it; payloads survive slab turnover.
 * Units (src/core/units.c): rates, times, sizes and whole numbers, good
 * and bad forms.  Addresses (src/core/addr.c): IPv4, IPv6 in brackets,
 * every class of malformed text, formatting, equality and hashing.
 */
#include "../src/core/units.h"
#include "../src/core/msg.h"
#include "../src/core/wire.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static cr__pool pool;

static int pool_setup(void **state)
{
	cr__pool_init(&pool);
	return 0;
}

static int pool_teardown(void **state)
{
	/* every test leaves nothing alive but the pool's own slabs */
	assert_int_equal(pool.msgs_live, 0);
	cr__pool_free(&pool);
	return 0;
}

static cr_msg *local(uint32_t len)
{
	cr_addr src = t_addr(30001);
	cr_msg *m = cr__msg_new_local(&pool, CR_MSG_DATA_MIN, 9, len, &src,
				      1234, 0x55AA);

	assert_non_null(m);
	return m;
}

/* --- messages ------------------------------------------------------------- */

static void new_message_has_encoded_header(void **state)
{
	cr_addr src = t_addr(30002);
	cr_msg *m = cr__msg_new_local(&pool, 201, 0xABCD, 100, &src,
				      -77 * CR_MS, 0x1234);
	struct cr__hdr h;
	const char *why;

	assert_non_null(m);
	assert_int_equal(cr_msg_type(m), 201);
	assert_int_equal(cr_msg_session(m), 0xABCD);
	assert_int_equal(cr_msg_len(m), 100);
	assert_true(cr_msg_created_ns(m) == -77 * CR_MS);
	assert_true(cr_addr_eq(cr_msg_source(m), &src));
	assert_ptr_equal(cr_msg_payload(m), m->frame + CR__HDR_SIZE);
	cr__hdr_decode(m->frame, &h);
	assert_int_equal(cr__hdr_check(&h, 1000, &why), 0);
	assert_int_equal(h.type, 201);
	assert_int_equal(h.session, 0xABCD);
	assert_int_equal(h.length, 100);
	assert_int_equal(h.family, 4);
	assert_int_equal(h.src_port, 30002);
	assert_int_equal(h.exp_tag, 0x1234);
	assert_true(h.created_ns == -77 * CR_MS);
	assert_memory_equal(h.src_ip, src.ip, 16);
	cr_msg_release(m);
}

static void payload_writable_only_when_made_here(void **state)
{
	cr_msg *m = local(64), *r;
	uint8_t *w = cr_msg_payload_mut(m);

	assert_non_null(w);
	assert_ptr_equal(w, cr_msg_payload(m));
	memset(w, 0x5C, 64);
	/* a frame that arrived from the network is shared: read-only */
	struct cr__hdr h;
	cr__hdr_decode(m->frame, &h);
	r = cr__msg_new_frame(&pool, m->slab, m->frame, &h);
	assert_non_null(r);
	assert_int_equal(cr_msg_len(r), 64);
	assert_null(cr_msg_payload_mut(r));
	assert_ptr_equal(cr_msg_payload(r), cr_msg_payload(m));
	/* sending clears the flag (cr_send does exactly this) */
	m->mflags &= (uint8_t)~CR__MSG_WRITABLE;
	assert_null(cr_msg_payload_mut(m));
	cr_msg_release(r);
	cr_msg_release(m);
}

static void retain_and_release_count(void **state)
{
	size_t live0 = pool.msgs_live;
	cr_msg *m = local(10);

	assert_int_equal(pool.msgs_live, live0 + 1);
	assert_int_equal(m->refs, 1);
	assert_ptr_equal(cr_msg_retain(m), m);
	assert_ptr_equal(cr_msg_retain(m), m);
	assert_int_equal(m->refs, 3);
	cr_msg_release(m);
	cr_msg_release(m);
	assert_int_equal(m->refs, 1);
	assert_int_equal(pool.msgs_live, live0 + 1);
	cr_msg_release(m);
	assert_int_equal(pool.msgs_live, live0);
	cr_msg_release(NULL); /* harmless */
}

static void descriptors_are_recycled(void **state)
{
	cr_msg *a = local(10), *b;
	size_t free0;

	cr_msg_release(a);
	free0 = pool.nfree_msgs;
	assert_true(free0 >= 1);
	b = local(10);
	assert_ptr_equal(a, b); /* the freed descriptor, reused */
	assert_int_equal(pool.nfree_msgs, free0 - 1);
	assert_int_equal(b->refs, 1);
	assert_non_null(cr_msg_payload_mut(b));
	cr_msg_release(b);
}

static void small_messages_share_a_slab(void **state)
{
	cr_msg *m[3];

	for (int i = 0; i < 3; i++)
		m[i] = local(100);
	assert_ptr_equal(m[0]->slab, m[1]->slab);
	assert_ptr_equal(m[1]->slab, m[2]->slab);
	assert_ptr_equal(m[0]->slab, pool.tx);
	/* the pool's reference and one per message */
	assert_int_equal(pool.tx->refs, 1 + 3);
	/* frames do not overlap, and start 8-byte aligned */
	for (int i = 0; i < 3; i++)
		assert_int_equal((uintptr_t)m[i]->frame % 8, 0);
	assert_true(m[1]->frame >= m[0]->frame + CR__HDR_SIZE + 100);
	assert_true(m[2]->frame >= m[1]->frame + CR__HDR_SIZE + 100);
	for (int i = 0; i < 3; i++)
		cr_msg_release(m[i]);
	assert_int_equal(pool.tx->refs, 1);
}

static void slab_freed_with_its_last_message(void **state)
{
	const uint32_t len = 4096 - CR__HDR_SIZE; /* 64 frames per slab */
	cr_msg *first[64], *next;
	struct cr__slab *s;
	size_t free0;

	for (int i = 0; i < 64; i++)
		first[i] = local(len);
	s = first[0]->slab;
	for (int i = 0; i < 64; i++)
		assert_ptr_equal(first[i]->slab, s);
	assert_int_equal(s->fill, s->size);
	/* the slab is full: the next message opens a new one, and the pool
	 * lets go of the old */
	next = local(len);
	assert_ptr_not_equal(next->slab, s);
	assert_int_equal(pool.slabs_live, 2);
	assert_int_equal(s->refs, 64);
	free0 = pool.nfree_slabs;
	for (int i = 0; i < 63; i++) {
		cr_msg_release(first[i]);
		assert_int_equal(pool.slabs_live, 2);
	}
	assert_int_equal(pool.nfree_slabs, free0);
	cr_msg_release(first[63]);
	assert_int_equal(pool.slabs_live, 1);
	/* a standard slab goes back to the free list, not to the system */
	assert_int_equal(pool.nfree_slabs, free0 + 1);
	assert_ptr_equal(pool.free_slabs, s);
	cr_msg_release(next);
}

static void slab_outlives_the_pools_reference(void **state)
{
	cr_msg *m = local(1000);
	struct cr__slab *s = m->slab;
	uint8_t *p = cr_msg_payload_mut(m);

	for (int i = 0; i < 1000; i++)
		p[i] = t_pattern(3, (size_t)i);
	/* churn through several slabs worth of other messages */
	for (int k = 0; k < 2000; k++)
		cr_msg_release(local(1000));
	assert_ptr_not_equal(pool.tx, s);
	assert_int_equal(s->refs, 1);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(((const uint8_t *)cr_msg_payload(m))[i],
				 t_pattern(3, (size_t)i));
	cr_msg_release(m);
}

static void large_message_gets_its_own_slab(void **state)
{
	/* frames up to a quarter slab come from the shared slab */
	uint32_t edge = CR__SLAB_SIZE / 4 - CR__HDR_SIZE;
	cr_msg *fits = local(edge), *big, *huge;
	size_t live, free0;

	assert_ptr_equal(fits->slab, pool.tx);
	big = local(edge + 1);
	assert_ptr_not_equal(big->slab, pool.tx);
	assert_int_equal(big->slab->refs, 1);
	assert_true(big->slab->size >= CR__HDR_SIZE + edge + 1);
	memset(cr_msg_payload_mut(big), 0xA5, edge + 1);
	/* bigger than a standard slab */
	huge = local(3 * CR__SLAB_SIZE);
	assert_true(huge->slab->size >= 3 * CR__SLAB_SIZE + CR__HDR_SIZE);
	memset(cr_msg_payload_mut(huge), 0x3C, 3 * CR__SLAB_SIZE);
	live = pool.slabs_live;
	free0 = pool.nfree_slabs;
	cr_msg_release(huge);
	assert_int_equal(pool.slabs_live, live - 1);
	/* an odd-sized slab is not kept */
	assert_int_equal(pool.nfree_slabs, free0);
	cr_msg_release(big);
	assert_int_equal(pool.slabs_live, live - 2);
	cr_msg_release(fits);
}

static void free_slabs_are_bounded(void **state)
{
	struct cr__slab *s[80];
	struct cr__slab *odd;

	for (int i = 0; i < 80; i++) {
		s[i] = cr__slab_get(&pool, 100);
		assert_non_null(s[i]);
		assert_int_equal(s[i]->size, CR__SLAB_SIZE);
		assert_int_equal(s[i]->refs, 1);
		assert_int_equal(s[i]->fill, 0);
	}
	assert_int_equal(pool.slabs_live, 80);
	for (int i = 0; i < 80; i++)
		cr__slab_unref(s[i]);
	assert_int_equal(pool.slabs_live, 0);
	assert_int_equal(pool.nfree_slabs, 64);
	/* a kept slab comes back for the next request */
	s[0] = cr__slab_get(&pool, CR__SLAB_SIZE);
	assert_int_equal(pool.nfree_slabs, 63);
	/* a request above the standard size never takes a kept one */
	odd = cr__slab_get(&pool, CR__SLAB_SIZE + 1);
	assert_int_equal(odd->size, CR__SLAB_SIZE + 1);
	assert_int_equal(pool.nfree_slabs, 63);
	cr__slab_ref(odd);
	cr__slab_unref(odd);
	assert_int_equal(pool.slabs_live, 2);
	cr__slab_unref(odd);
	cr__slab_unref(s[0]);
	assert_int_equal(pool.slabs_live, 0);
}

static void many_messages_many_references(void **state)
{
	enum { N = 5000 };
	static cr_msg *m[N];

	for (int i = 0; i < N; i++) {
		m[i] = local((uint32_t)(i % 3000));
		uint8_t *p = cr_msg_payload_mut(m[i]);
		for (int k = 0; k < i % 3000; k++)
			p[k] = t_pattern((uint64_t)i, (size_t)k);
		if (i % 2)
			cr_msg_retain(m[i]);
	}
	for (int i = 0; i < N; i++) {
		const uint8_t *p = cr_msg_payload(m[i]);
		assert_int_equal(cr_msg_len(m[i]), i % 3000);
		for (int k = 0; k < i % 3000; k++)
			assert_int_equal(p[k],
					 t_pattern((uint64_t)i, (size_t)k));
		cr_msg_release(m[i]);
	}
	for (int i = 1; i < N; i += 2)
		cr_msg_release(m[i]);
	assert_int_equal(pool.msgs_live, 0);
	assert_int_equal(pool.slabs_live, 1); /* the pool's tx slab */
}

/* --- units ---------------------------------------------------------------- */

static void rates(void **state)
{
	static const struct {
		const char *text;
		uint64_t Bps;
	} good[] = {
	    {"0", 0},
	    {"50000", 50000},
	    {"50KB/s", 50000},
	    {"50kB/s", 50000},
	    {"1.5MB/s", 1500000},
	    {"2GB/s", 2000000000},
	    {"400kbit/s", 50000},
	    {"400Kbit/s", 50000},
	    {"2Mbit/s", 250000},
	    {"1Gbit/s", 125000000},
	    {"8bit/s", 1},
	    {"100B/s", 100},
	    {" 10 KB/s", 10000},
	    {"10 ", 10},
	    {"0.5B/s", 1}, /* rounded */
	};
	static const char *const bad[] = {
	    "",	     "fast",	 "-1",	     "+5",    "5 KB", "5kb/s",
	    "5KBps", "KB/s",	 "1e400",    "nan",   "inf",  "5MB/s x",
	    "1e16",  "5 MB/s/s", "1..5MB/s", "5mb/s", "  ",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		assert_int_equal(cr_parse_rate(good[i].text, &v), 0);
		assert_int_equal(v, good[i].Bps);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		assert_int_equal(cr_parse_rate(bad[i], &v), -CR_EINVAL);
		assert_int_equal(v, 12345); /* untouched */
	}
	assert_int_equal(cr_parse_rate(NULL, &v), -CR_EINVAL);
}

static void times(void **state)
{
	static const struct {
		const char *text;
		double bare;
		int64_t ns;
	} good[] = {
	    {"10", CR_SEC, 10 * CR_SEC},
	    {"2.5s", CR_SEC, 2500 * CR_MS},
	    {"500ms", CR_SEC, 500 * CR_MS},
	    {"250us", CR_SEC, 250 * CR_US},
	    {"1000ns", CR_SEC, 1000},
	    {"1.5", CR_MS, 1500 * CR_US},
	    {"0", CR_SEC, 0},
	    {"0.000000001s", CR_SEC, 1},
	    {"30 s", CR_SEC, 30 * CR_SEC},
	};
	static const char *const bad[] = {
	    "",	     "-1",  "1m",  "1 h",    "s",   "ms",  "1sec",
	    "1e19s", "+1s", "1s1", "1.2.3s", "nan", "infs"};
	int64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = -1;
		assert_int_equal(cr_parse_time(good[i].text, good[i].bare, &v),
				 0);
		assert_true(v == good[i].ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = -7;
		assert_int_equal(cr_parse_time(bad[i], CR_SEC, &v), -CR_EINVAL);
		assert_true(v == -7);
	}
}

static void sizes(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} good[] = {
	    {"1024", 1024},
	    {"1KB", 1000},
	    {"1kB", 1000},
	    {"64KiB", 65536},
	    {"1MiB", 1048576},
	    {"2MB", 2000000},
	    {"1GiB", 1073741824ULL},
	    {"1.5KiB", 1536},
	    {"0.3KB", 300},
	    {"0", 0},
	    {"7B", 7},
	};
	static const char *const bad[] = {
	    "",	      "1XB",  "1.5", "1.0001KB", "-1", "1e16", "KB",
	    "1 KiBs", "1kib", "1mb", "1KB2",	 "+1", "0.5B",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 99;
		assert_int_equal(cr_parse_size(good[i].text, &v), 0);
		assert_int_equal(v, good[i].bytes);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 99;
		assert_int_equal(cr_parse_size(bad[i], &v), -CR_EINVAL);
		assert_int_equal(v, 99);
	}
}

static void whole_numbers(void **state)
{
	static const char *const bad[] = {"",	 "-1",	"+1",
					  " 1",	 "1x",	"x",
					  "1.0", "1e3", "99999999999999999999"};
	uint64_t v;

	assert_int_equal(cr_parse_uint("0", 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cr_parse_uint("42", 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(cr_parse_uint("100", 100, &v), 0);
	assert_int_equal(cr_parse_uint("101", 100, &v), -CR_EINVAL);
	assert_int_equal(cr_parse_uint("18446744073709551615", UINT64_MAX, &v),
			 0);
	assert_true(v == UINT64_MAX);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 5;
		assert_int_equal(cr_parse_uint(bad[i], UINT64_MAX, &v),
				 -CR_EINVAL);
		assert_int_equal(v, 5);
	}
	assert_int_equal(cr_parse_uint(NULL, 1, &v), -CR_EINVAL);
}

/* --- addresses ------------------------------------------------------------ */

static void addr_parse_ipv4(void **state)
{
	cr_addr a;
	const uint8_t zero[12] = {0};

	assert_int_equal(cr_addr_parse(&a, "1.2.3.4:5"), 0);
	assert_int_equal(a.family, 4);
	assert_int_equal(a.port, 5);
	assert_int_equal(a.ip[0], 1);
	assert_int_equal(a.ip[1], 2);
	assert_int_equal(a.ip[2], 3);
	assert_int_equal(a.ip[3], 4);
	assert_memory_equal(a.ip + 4, zero, 12);
	assert_int_equal(cr_addr_parse(&a, "255.255.255.255:65535"), 0);
	assert_int_equal(a.port, 65535);
	assert_int_equal(cr_addr_parse(&a, "127.0.0.1:080"), 0);
	assert_int_equal(a.port, 80);
}

static void addr_parse_ipv6(void **state)
{
	cr_addr a;
	uint8_t loop6[16] = {0};

	loop6[15] = 1;
	assert_int_equal(cr_addr_parse(&a, "[::1]:80"), 0);
	assert_int_equal(a.family, 6);
	assert_int_equal(a.port, 80);
	assert_memory_equal(a.ip, loop6, 16);
	assert_int_equal(cr_addr_parse(&a, "[2001:db8::ff00:42:8329]:443"), 0);
	assert_int_equal(a.ip[0], 0x20);
	assert_int_equal(a.ip[1], 0x01);
	assert_int_equal(a.ip[15], 0x29);
	assert_int_equal(a.port, 443);
	assert_int_equal(cr_addr_parse(&a, "[::ffff:1.2.3.4]:1"), 0);
	assert_int_equal(a.family, 6);
	assert_int_equal(a.ip[10], 0xff);
	assert_int_equal(a.ip[12], 1);
}

static void addr_parse_refuses_bad_forms(void **state)
{
	static const char *const bad[] = {
	    "",
	    "1.2.3.4",
	    "1.2.3.4:",
	    "1.2.3.4:0",
	    "1.2.3.4:65536",
	    "1.2.3.4:99999999999",
	    "1.2.3.4:-1",
	    "1.2.3.4:+1",
	    "1.2.3.4:80x",
	    "1.2.3.4:8 0",
	    "1.2.3.4: 80",
	    "256.1.1.1:80",
	    "1.2.3:80",
	    "1.2.3.4.5:80",
	    " 1.2.3.4:80",
	    "host:80",
	    ":80",
	    "::1:80",
	    "[::1]80",
	    "[::1]",
	    "[::1",
	    "[]:80",
	    "[1.2.3.4]:80",
	    "[::1]:0",
	    "[::1]:",
	    "[::g]:80",
	    "[::1]]:80",
	    "[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0001]:1",
	};
	cr_addr a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cr_addr_parse(&a, bad[i]), -CR_EINVAL);
	assert_int_equal(cr_addr_parse(&a, NULL), -CR_EINVAL);
}

static void addr_format_round_trip(void **state)
{
	static const char *const texts[] = {
	    "1.2.3.4:5", "127.0.0.1:31000",
	    "[::1]:80",	 "[2001:db8::1]:443",
	    "0.0.0.0:1", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
	};
	char buf[CR_ADDR_STRLEN];
	cr_addr a, b;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(cr_addr_parse(&a, texts[i]), 0);
		assert_ptr_equal(cr_addr_format(&a, buf, sizeof(buf)), buf);
		assert_string_equal(buf, texts[i]);
		assert_int_equal(cr_addr_parse(&b, buf), 0);
		assert_true(cr_addr_eq(&a, &b));
		assert_true(cr_addr_hash(&a) == cr_addr_hash(&b));
	}
	/* the longest form fits CR_ADDR_STRLEN exactly */
	assert_int_equal(strlen(texts[5]) + 1, CR_ADDR_STRLEN);
	/* compressed on output */
	assert_int_equal(cr_addr_parse(&a, "[2001:0db8:0:0:0:0:0:0001]:7"), 0);
	assert_string_equal(cr_addr_format(&a, buf, sizeof(buf)),
			    "[2001:db8::1]:7");
	/* no address */
	memset(&a, 0, sizeof(a));
	assert_string_equal(cr_addr_format(&a, buf, sizeof(buf)), "(none)");
	/* a short buffer is truncated, still terminated */
	assert_int_equal(cr_addr_parse(&a, "10.20.30.40:5000"), 0);
	char small[8];
	cr_addr_format(&a, small, sizeof(small));
	assert_string_equal(small, "10.20.3");
}

static void addr_equality_and_hash(void **state)
{
	cr_addr a, b;

	assert_int_equal(cr_addr_parse(&a, "10.0.0.1:100"), 0);
	b = a;
	assert_true(cr_addr_eq(&a, &b));
	b.port = 101;
	assert_false(cr_addr_eq(&a, &b));
	b = a;
	b.ip[3] = 2;
	assert_false(cr_addr_eq(&a, &b));
	assert_true(cr_addr_hash(&a) != cr_addr_hash(&b));
	/* an IPv4 address and an IPv6 one with the same leading bytes */
	b = a;
	b.family = 6;
	assert_false(cr_addr_eq(&a, &b));
	/* IPv4 ignores the unused tail */
	b = a;
	b.ip[8] = 0x99;
	assert_true(cr_addr_eq(&a, &b));
	assert_true(cr_addr_hash(&a) == cr_addr_hash(&b));
	/* ports next to each other hash apart */
	unsigned low_bits_same = 0;
	for (uint16_t p = 1; p < 1000; p++) {
		cr_addr x = t_addr(p), y = t_addr((uint16_t)(p + 1));
		low_bits_same +=
		    (cr_addr_hash(&x) & 0xFF) == (cr_addr_hash(&y) & 0xFF);
	}
	assert_true(low_bits_same < 30);
}

static void error_strings(void **state)
{
	for (int e = 0; e < CR__ECOUNT; e++) {
		assert_non_null(cr_strerror(e));
		assert_non_null(cr_strerror(-e));
		assert_string_equal(cr_strerror(e), cr_strerror(-e));
		assert_true(strlen(cr_strerror(e)) > 3);
	}
	assert_string_equal(cr_strerror(-CR_EPROTO), "protocol violation");
	assert_string_equal(cr_strerror(CR__ECOUNT), "unknown error");
	assert_string_equal(cr_strerror(-1000), "unknown error");
}

#define POOL_TEST(f)                                                           \
	cmocka_unit_test_setup_teardown(f, pool_setup, pool_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    POOL_TEST(new_message_has_encoded_header),
	    POOL_TEST(payload_writable_only_when_made_here),
	    POOL_TEST(retain_and_release_count),
	    POOL_TEST(descriptors_are_recycled),
	    POOL_TEST(small_messages_share_a_slab),
	    POOL_TEST(slab_freed_with_its_last_message),
	    POOL_TEST(slab_outlives_the_pools_reference),
	    POOL_TEST(large_message_gets_its_own_slab),
	    POOL_TEST(free_slabs_are_bounded),
	    POOL_TEST(many_messages_many_references),
	    cmocka_unit_test(rates),
	    cmocka_unit_test(times),
	    cmocka_unit_test(sizes),
	    cmocka_unit_test(whole_numbers),
	    cmocka_unit_test(addr_parse_ipv4),
	    cmocka_unit_test(addr_parse_ipv6),
	    cmocka_unit_test(addr_parse_refuses_bad_forms),
	    cmocka_unit_test(addr_format_round_trip),
	    cmocka_unit_test(addr_equality_and_hash),
	    cmocka_unit_test(error_strings),
	};

	return cmocka_run_group_tests_name("msg", tests, NULL, NULL);
}
