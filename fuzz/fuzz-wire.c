/* Fuzz target: the wire format (src/net/wire.c).
 *
 * The input is a byte stream as a connection delivers it.  Frames are
 * taken from it as the receiving side does (src/net/conn.c rx_parse):
 * decode a header, check it, and step over header and payload when both
 * are there.  For every header:
 *   - encoding the decoded header gives back the 40 bytes read, and
 *     decoding that gives the same fields;
 *   - a header the check accepts has the magic, the version, a known type,
 *     family 4 or 6 and a length within the maximum, and a hello's length
 *     is exactly its 8-byte payload; one it refuses comes with a reason;
 *   - the check does not depend on the maximum other than through the
 *     length: a smaller maximum that still holds the length agrees.
 * For an accepted hello, its payload (the experiment id) is read as the
 * receiver reads it, and the source address it claims is printed and, when
 * it has a port, parsed back to the same address: the log lines and
 * comparisons the receiver makes of a hostile claim are sound.
 *
 * Known limit: the receiver's own loop (partial frames, parking, the hello
 * timer) is in src/net/conn.c and is exercised against a live node by
 * tests/test-frames.c, not here.
 */
#include "../src/core/wire.h"
#include "fuzz.h"

#include <string.h>

#define MAX_LEN (1u << 20)

static void check_header(const uint8_t *raw, uint32_t max_len,
			 struct cr__hdr *h, int *rc)
{
	uint8_t again[CR__HDR_SIZE];
	struct cr__hdr h2;
	const char *why = NULL;

	cr__hdr_decode(raw, h);
	cr__hdr_encode(again, h);
	FZ_CHECK(!memcmp(again, raw, CR__HDR_SIZE));
	cr__hdr_decode(again, &h2);
	FZ_CHECK(!memcmp(&h2, h, sizeof(h2)));

	*rc = cr__hdr_check(h, max_len, &why);
	if (*rc) {
		FZ_CHECK(*rc == -CR_EPROTO);
		FZ_CHECK(why && *why);
		return;
	}
	FZ_CHECK(h->magic == CR__MAGIC);
	FZ_CHECK(h->version == CR__VERSION);
	FZ_CHECK(cr__type_known(h->type));
	FZ_CHECK(h->family == 4 || h->family == 6);
	FZ_CHECK(h->length <= max_len);
	FZ_CHECK(h->type != CR__T_HELLO || h->length == CR__HELLO_LEN);
	/* the same header under the tightest maximum that holds it */
	FZ_CHECK(cr__hdr_check(h, h->length, &why) == 0);
	if (h->length)
		FZ_CHECK(cr__hdr_check(h, h->length - 1, &why) == -CR_EPROTO);
}

/* What the receiver makes of an accepted hello. */
static void check_hello(const struct cr__hdr *h, const uint8_t *payload)
{
	char text[CR_ADDR_STRLEN];
	cr_addr from = {0}, back;
	uint64_t id = 0;

	for (int i = 0; i < CR__HELLO_LEN; i++)
		id = id << 8 | payload[i];
	(void)id;
	from.family = h->family;
	from.port = h->src_port;
	memcpy(from.ip, h->src_ip, 16);
	cr_addr_format(&from, text, sizeof(text));
	FZ_CHECK(memchr(text, 0, sizeof(text)));
	if (!from.port) /* port 0 is no peer's: it does not parse */
		FZ_CHECK(cr_addr_parse(&back, text) == -CR_EINVAL);
	else
		FZ_CHECK(cr_addr_parse(&back, text) == 0 &&
			 cr_addr_eq(&back, &from));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (size - off >= CR__HDR_SIZE) {
		struct cr__hdr h;
		uint64_t total;
		int rc;

		check_header(data + off, MAX_LEN, &h, &rc);
		if (rc)
			break; /* the receiver closes the connection */
		total = (uint64_t)CR__HDR_SIZE + h.length;
		if (size - off < total)
			break; /* it waits for the rest */
		if (h.type == CR__T_HELLO)
			check_hello(&h, data + off + CR__HDR_SIZE);
		off += (size_t)total;
	}
	return 0;
}
