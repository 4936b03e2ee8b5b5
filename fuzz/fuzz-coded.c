/* Fuzz target: a network-coded block as it comes off the wire
 * (include/crystal/coding.h, src/stream/coding.c).
 *
 * The input is one data message's payload, whatever a peer sent.  The
 * reader's promises checked here:
 *   - cr_coded_get() accepts exactly the inputs that are one whole coded
 *     block: a 12-byte header with k and size in range, then k
 *     coefficients and size payload bytes, nothing after; anything else is
 *     -CR_EINVAL;
 *   - for one it accepts, the fields point into the input where the
 *     format says, and cr_coded_put() of the same fields writes the same
 *     header back;
 *   - a decoder of its shape takes it (innovative unless its coefficients
 *     are all zero), takes it again as dependent with the rank unchanged,
 *     and recodes a block that its own decoder finds dependent too;
 *   - a decoder of another shape refuses it with -CR_EINVAL and stays at
 *     rank 0.
 */
#include "fuzz.h"

#include <crystal/coding.h>
#include <crystal/error.h>

#include <string.h>

/* Decoders are made only for blocks this small, so that an input of a few
 * bytes cannot ask for 256 MiB. */
#define MAX_DECODE (64u << 10)

static void check_shape(const uint8_t *data, size_t len,
			const cr_coded_hdr *h)
{
	uint8_t hdr[CR_CODED_HDR_SIZE + CR_CODE_MAX_K];
	uint8_t *coeffs, *payload;
	int n;

	FZ_CHECK(h->k >= 1 && h->k <= CR_CODE_MAX_K);
	FZ_CHECK(h->size >= 1 && h->size <= CR_CODE_MAX_SIZE);
	FZ_CHECK(cr_coded_len(h->k, h->size) == len);
	FZ_CHECK(h->coeffs == data + CR_CODED_HDR_SIZE);
	FZ_CHECK(h->payload == data + CR_CODED_HDR_SIZE + h->k);
	/* the header alone: a buffer too short for the whole block is
	 * refused, so put it into one of the block's length */
	{
		uint8_t *whole = malloc(len);

		FZ_CHECK(whole);
		n = cr_coded_put(whole, len, h->session, h->segment, h->k,
				 h->size, &coeffs, &payload);
		FZ_CHECK(n == (int)len);
		FZ_CHECK(!memcmp(whole, data, CR_CODED_HDR_SIZE));
		FZ_CHECK(coeffs == whole + CR_CODED_HDR_SIZE);
		FZ_CHECK(payload == whole + CR_CODED_HDR_SIZE + h->k);
		free(whole);
	}
	n = cr_coded_put(hdr, CR_CODED_HDR_SIZE, h->session, h->segment,
			 h->k, h->size, NULL, NULL);
	FZ_CHECK(n == -CR_EMSGSIZE);
}

static void check_decode(const cr_coded_hdr *h)
{
	cr_decoder *d, *other, *again;
	uint8_t coeffs[CR_CODE_MAX_K], *payload;
	bool zero = true;
	cr_rand r;
	int rc;

	if ((size_t)h->k * (h->k + h->size) > MAX_DECODE)
		return;
	for (uint32_t i = 0; i < h->k; i++)
		zero &= !h->coeffs[i];
	FZ_CHECK(!cr_decoder_new(h->k, h->size, &d));
	rc = cr_decoder_add_coded(d, h);
	FZ_CHECK(rc == (zero ? CR_CODE_DEPENDENT : CR_CODE_INNOVATIVE));
	FZ_CHECK(cr_decoder_rank(d) == (zero ? 0u : 1u));
	FZ_CHECK(cr_decoder_add_coded(d, h) == CR_CODE_DEPENDENT);
	FZ_CHECK(cr_decoder_rank(d) == (zero ? 0u : 1u));
	if (!zero) {
		payload = malloc(h->size);
		FZ_CHECK(payload);
		cr_rand_seed(&r, h->segment);
		FZ_CHECK(!cr_decoder_recode(d, &r, coeffs, payload));
		FZ_CHECK(cr_decoder_add(d, coeffs, payload) ==
			 CR_CODE_DEPENDENT);
		free(payload);
	}
	FZ_CHECK(!cr_decoder_new(h->k, h->size + 1, &other));
	FZ_CHECK(cr_decoder_add_coded(other, h) == -CR_EINVAL);
	FZ_CHECK(cr_decoder_rank(other) == 0);
	cr_decoder_free(other);
	if (h->k < CR_CODE_MAX_K) {
		FZ_CHECK(!cr_decoder_new(h->k + 1, h->size, &again));
		FZ_CHECK(cr_decoder_add_coded(again, h) == -CR_EINVAL);
		cr_decoder_free(again);
	}
	cr_decoder_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	cr_coded_hdr h;
	int rc;

	memset(&h, 0xa5, sizeof(h));
	rc = cr_coded_get(data, len, &h);
	if (rc) {
		FZ_CHECK(rc == -CR_EINVAL);
		return 0;
	}
	check_shape(data, len, &h);
	check_decode(&h);
	return 0;
}
