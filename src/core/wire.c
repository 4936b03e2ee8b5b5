/* The wire format: encoding, decoding and validating frame headers.
 * The layout is documented in wire.h and docs/wire-format.md.
 */
#include "bytes.h"
#include "wire.h"

#include <string.h>

void cr__hdr_encode(uint8_t *out, const struct cr__hdr *h)
{
	uint64_t created = (uint64_t)h->created_ns;

	cr__put16(out, h->magic);
	out[2] = h->version;
	out[3] = h->type;
	out[4] = h->flags;
	out[5] = h->family;
	cr__put16(out + 6, h->session);
	cr__put32(out + 8, h->length);
	cr__put16(out + 12, h->src_port);
	cr__put16(out + 14, h->exp_tag);
	cr__put32(out + 16, (uint32_t)(created >> 32));
	cr__put32(out + 20, (uint32_t)created);
	memcpy(out + 24, h->src_ip, 16);
}

void cr__hdr_decode(const uint8_t *in, struct cr__hdr *h)
{
	h->magic = cr__get16(in);
	h->version = in[2];
	h->type = in[3];
	h->flags = in[4];
	h->family = in[5];
	h->session = cr__get16(in + 6);
	h->length = cr__get32(in + 8);
	h->src_port = cr__get16(in + 12);
	h->exp_tag = cr__get16(in + 14);
	h->created_ns =
		(int64_t)((uint64_t)cr__get32(in + 16) << 32 | cr__get32(in + 20));
	memcpy(h->src_ip, in + 24, 16);
}

bool cr__type_known(uint8_t type)
{
	return (type >= CR__T_HELLO && type <= CR__T_TRACKER_QUERY) ||
	       type >= CR_MSG_CONTROL_MIN;
}

int cr__hdr_check(const struct cr__hdr *h, uint32_t max_len,
		  const char **reason)
{
	if (h->magic != CR__MAGIC) {
		*reason = "bad magic";
		return -CR_EPROTO;
	}
	if (h->version != CR__VERSION) {
		*reason = "unsupported version";
		return -CR_EPROTO;
	}
	if (!cr__type_known(h->type)) {
		*reason = "unknown message type";
		return -CR_EPROTO;
	}
	if (h->family != 4 && h->family != 6) {
		*reason = "bad address family";
		return -CR_EPROTO;
	}
	if (h->length > max_len) {
		*reason = "length above the maximum";
		return -CR_EPROTO;
	}
	if (h->type == CR__T_HELLO && h->length != CR__HELLO_LEN) {
		*reason = "malformed hello";
		return -CR_EPROTO;
	}
	return 0;
}
