/* The wire format (src/net/wire.c): frame headers encode to the documented
 * big-endian layout byte for byte, decode back to every field, and
 * cr__hdr_check refuses each kind of malformed header (bad magic, version,
 * reserved type, family, length above the maximum, hello of the wrong
 * length) while accepting every well-formed one.  A randomized sweep compares
 * the check against the rules as the wire format states them.
 */
#include "../src/core/wire.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#define MAX_LEN (1u << 20)

static struct cr__hdr sample(void)
{
	struct cr__hdr h;

	memset(&h, 0, sizeof(h));
	h.magic = CR__MAGIC;
	h.version = CR__VERSION;
	h.type = 0xC7;
	h.flags = 0x5A;
	h.family = 6;
	h.session = 0xBEEF;
	h.length = 0x000A0B0C;
	h.src_port = 0xD431;
	h.exp_tag = 0x1357;
	h.created_ns = 0x0102030405060708LL;
	for (int i = 0; i < 16; i++)
		h.src_ip[i] = (uint8_t)(0xF0 + i);
	return h;
}

static void encode_matches_hand_computed_bytes(void **state)
{
	const uint8_t want[CR__HDR_SIZE] = {
	    0x43, 0x52,					    /* magic "CR" */
	    0x01,					    /* version */
	    0xC7,					    /* type */
	    0x5A,					    /* flags */
	    0x06,					    /* family */
	    0xBE, 0xEF,					    /* session */
	    0x00, 0x0A, 0x0B, 0x0C,			    /* length */
	    0xD4, 0x31,					    /* source port */
	    0x13, 0x57,					    /* experiment tag */
	    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* created */
	    0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, /* source ip */
	    0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF,
	};
	struct cr__hdr h = sample();
	uint8_t out[CR__HDR_SIZE + 4];

	memset(out, 0xEE, sizeof(out));
	cr__hdr_encode(out, &h);
	assert_memory_equal(out, want, CR__HDR_SIZE);
	/* nothing written past the header */
	for (size_t i = CR__HDR_SIZE; i < sizeof(out); i++)
		assert_int_equal(out[i], 0xEE);
}

static void decode_round_trip(void **state)
{
	struct cr__hdr h = sample(), d;
	uint8_t buf[CR__HDR_SIZE];

	cr__hdr_encode(buf, &h);
	memset(&d, 0x77, sizeof(d));
	cr__hdr_decode(buf, &d);
	assert_int_equal(d.magic, h.magic);
	assert_int_equal(d.version, h.version);
	assert_int_equal(d.type, h.type);
	assert_int_equal(d.flags, h.flags);
	assert_int_equal(d.family, h.family);
	assert_int_equal(d.session, h.session);
	assert_int_equal(d.length, h.length);
	assert_int_equal(d.src_port, h.src_port);
	assert_int_equal(d.exp_tag, h.exp_tag);
	assert_true(d.created_ns == h.created_ns);
	assert_memory_equal(d.src_ip, h.src_ip, 16);
}

static void extremes_round_trip(void **state)
{
	const int64_t times[] = {0,	      -1,
				 -5 * CR_SEC, INT64_MIN,
				 INT64_MAX,   (int64_t)0x8000000000000001ULL};
	struct cr__hdr h = sample(), d;
	uint8_t buf[CR__HDR_SIZE];

	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		h.created_ns = times[i];
		h.length = i % 2 ? UINT32_MAX : 0;
		h.session = i % 2 ? 0 : UINT16_MAX;
		h.src_port = i % 2 ? UINT16_MAX : 0;
		cr__hdr_encode(buf, &h);
		cr__hdr_decode(buf, &d);
		assert_true(d.created_ns == times[i]);
		assert_int_equal(d.length, h.length);
		assert_int_equal(d.session, h.session);
		assert_int_equal(d.src_port, h.src_port);
	}
}

/* The test's own encoder (tests/support.c) and the engine's agree. */
static void independent_encoder_agrees(void **state)
{
	struct t_hdr t = t_hdr_make(200, 12345, 31000, 0xABCD);
	struct cr__hdr d;
	uint8_t a[T_HDR_SIZE], b[CR__HDR_SIZE];

	t.flags = 3;
	t.session = 77;
	t.created_ns = -42;
	t_hdr_put(a, &t);
	cr__hdr_decode(a, &d);
	cr__hdr_encode(b, &d);
	assert_memory_equal(a, b, CR__HDR_SIZE);
	assert_int_equal(d.type, 200);
	assert_int_equal(d.length, 12345);
	assert_int_equal(d.src_port, 31000);
	assert_int_equal(d.exp_tag, 0xABCD);
	assert_int_equal(d.session, 77);
	assert_true(d.created_ns == -42);
	assert_int_equal(d.src_ip[0], 127);
	assert_int_equal(d.src_ip[3], 1);
}

static struct cr__hdr good(uint8_t type, uint32_t len)
{
	struct cr__hdr h = sample();

	h.type = type;
	h.length = len;
	h.family = 4;
	return h;
}

static void expect_refused(const struct cr__hdr *h, const char *what)
{
	const char *why = NULL;

	assert_int_equal(cr__hdr_check(h, MAX_LEN, &why), -CR_EPROTO);
	assert_non_null(why);
	assert_non_null(strstr(why, what));
}

static void expect_accepted(const struct cr__hdr *h)
{
	const char *why = NULL;

	assert_int_equal(cr__hdr_check(h, MAX_LEN, &why), 0);
}

static void accepts_well_formed(void **state)
{
	struct cr__hdr h;

	h = good(CR__T_HELLO, CR__HELLO_LEN);
	expect_accepted(&h);
	h = good(CR__T_GOODBYE, 0);
	expect_accepted(&h);
	for (unsigned t = CR_MSG_CONTROL_MIN; t <= 255; t++) {
		h = good((uint8_t)t, t % 3 ? 0 : MAX_LEN);
		expect_accepted(&h);
	}
	h = good(CR_MSG_DATA_MIN, 100);
	h.family = 6;
	expect_accepted(&h);
	/* flags, session and experiment tag are not the check's business */
	h.flags = 0xFF;
	h.session = 0xFFFF;
	h.exp_tag = 0;
	expect_accepted(&h);
}

static void refuses_bad_magic(void **state)
{
	const uint16_t bad[] = {0, 0x5243, 0x4353, 0x4351, 0xFFFF, 0x0043};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cr__hdr h = good(CR_MSG_DATA_MIN, 10);
		h.magic = bad[i];
		expect_refused(&h, "magic");
	}
}

static void refuses_bad_version(void **state)
{
	const uint8_t bad[] = {0, 2, 3, 0x81, 255};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cr__hdr h = good(CR_MSG_DATA_MIN, 10);
		h.version = bad[i];
		expect_refused(&h, "version");
	}
}

static void refuses_unknown_types(void **state)
{
	struct cr__hdr h = good(0, 0);

	/* the engine's own types are 1 .. CR__T_TRACKER_QUERY; the rest of
	 * 0..15 is reserved and refused */
	expect_refused(&h, "type");
	for (unsigned t = CR__T_TRACKER_QUERY + 1; t < CR_MSG_CONTROL_MIN;
	     t++) {
		h = good((uint8_t)t, 0);
		expect_refused(&h, "type");
		assert_false(cr__type_known((uint8_t)t));
	}
	for (unsigned t = CR__T_GOODBYE; t <= CR__T_TRACKER_QUERY; t++) {
		h = good((uint8_t)t, 4);
		expect_accepted(&h);
	}
	assert_false(cr__type_known(0));
	assert_true(cr__type_known(CR__T_HELLO));
	assert_true(cr__type_known(CR__T_GOODBYE));
	assert_true(cr__type_known(CR_MSG_CONTROL_MIN));
	assert_true(cr__type_known(255));
}

static void refuses_bad_family(void **state)
{
	const uint8_t bad[] = {0, 1, 2, 3, 5, 10, 46, 255};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cr__hdr h = good(CR_MSG_CONTROL_MIN, 10);
		h.family = bad[i];
		expect_refused(&h, "family");
	}
}

static void refuses_length_above_maximum(void **state)
{
	struct cr__hdr h = good(CR_MSG_DATA_MIN, MAX_LEN);
	const char *why;

	expect_accepted(&h);
	h.length = MAX_LEN + 1;
	expect_refused(&h, "length");
	h.length = UINT32_MAX;
	expect_refused(&h, "length");
	/* the bound is the caller's */
	h.length = 64;
	assert_int_equal(cr__hdr_check(&h, 64, &why), 0);
	assert_int_equal(cr__hdr_check(&h, 63, &why), -CR_EPROTO);
	h.length = 0;
	assert_int_equal(cr__hdr_check(&h, 0, &why), 0);
}

static void refuses_malformed_hello(void **state)
{
	const uint32_t bad[] = {0, 1, 7, 9, 16, 4096};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cr__hdr h = good(CR__T_HELLO, bad[i]);
		expect_refused(&h, "hello");
	}
}

/* The rules, restated from the wire format's description. */
static bool spec_ok(const struct cr__hdr *h, uint32_t max)
{
	bool type_ok =
	    (h->type >= 1 && h->type <= 7) || h->type >= 16;

	return h->magic == 0x4352 && h->version == 1 && type_ok &&
	       (h->family == 4 || h->family == 6) && h->length <= max &&
	       (h->type != 1 || h->length == 8);
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void random_headers_follow_the_rules(void **state)
{
	uint64_t s = 0x243F6A8885A308D3ULL;
	unsigned accepted = 0, refused = 0;

	for (int i = 0; i < 200000; i++) {
		uint8_t raw[CR__HDR_SIZE];
		struct cr__hdr h;
		const char *why = NULL;
		uint64_t r = rng_next(&s);
		int rc;

		for (int k = 0; k < CR__HDR_SIZE; k += 8) {
			uint64_t v = rng_next(&s);
			memcpy(raw + k, &v, 8);
		}
		cr__hdr_decode(raw, &h);
		/* bias towards headers that are nearly valid */
		if (r & 1)
			h.magic = CR__MAGIC;
		if (r & 2)
			h.version = CR__VERSION;
		if (r & 4)
			h.family = (r & 8) ? 4 : 6;
		if (r & 16)
			h.length %= 2 * MAX_LEN;
		if ((r & 0xE0) == 0x20)
			h.type = CR__T_HELLO;
		if ((r & 0x300) == 0x100)
			h.length = CR__HELLO_LEN;
		rc = cr__hdr_check(&h, MAX_LEN, &why);
		if (spec_ok(&h, MAX_LEN)) {
			assert_int_equal(rc, 0);
			accepted++;
		} else {
			assert_int_equal(rc, -CR_EPROTO);
			assert_non_null(why);
			refused++;
		}
	}
	/* the sweep reached both sides */
	assert_true(accepted > 1000);
	assert_true(refused > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(encode_matches_hand_computed_bytes),
	    cmocka_unit_test(decode_round_trip),
	    cmocka_unit_test(extremes_round_trip),
	    cmocka_unit_test(independent_encoder_agrees),
	    cmocka_unit_test(accepts_well_formed),
	    cmocka_unit_test(refuses_bad_magic),
	    cmocka_unit_test(refuses_bad_version),
	    cmocka_unit_test(refuses_unknown_types),
	    cmocka_unit_test(refuses_bad_family),
	    cmocka_unit_test(refuses_length_above_maximum),
	    cmocka_unit_test(refuses_malformed_hello),
	    cmocka_unit_test(random_headers_follow_the_rules),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
