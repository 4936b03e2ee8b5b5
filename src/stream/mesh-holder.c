/* Holders (mesh.h): a pulling peer's guess of how soon a neighbour would
 * serve it, and small helpers for control messages.
 *
 * The guess starts from what the neighbour said of itself (its wait and
 * its rate) and adds what this peer has asked of it since; the other
 * peers that ask it are unknown until it speaks again.  So a holder that
 * says busy is believed for the wait it gives, or a doubling back-off,
 * whichever is longer: many peers hear the same map, and without the
 * back-off they would all ask it again at the same moment.
 */
#include "private.h"

#include <crystal/mesh.h>

#include <string.h>

#include "../core/bytes.h"

void cr_holder_heard(cr_holder *h, int64_t now_ns, int64_t wait_ns,
		     uint64_t rate_Bps)
{
	h->free_ns = now_ns + (wait_ns > 0 ? wait_ns : 0);
	h->rate_Bps = rate_Bps;
}

int64_t cr_holder_eta(const cr_holder *h, int64_t now_ns, uint32_t bytes)
{
	int64_t start = h->free_ns > now_ns ? h->free_ns : now_ns;

	if (!h->rate_Bps)
		return start;
	return start + (int64_t)((uint64_t)bytes * CR_SEC / h->rate_Bps);
}

void cr_holder_asked(cr_holder *h, int64_t now_ns, uint32_t bytes)
{
	h->free_ns = cr_holder_eta(h, now_ns, bytes);
}

void cr_holder_busy(cr_holder *h, int64_t now_ns, int64_t wait_ns,
		    int64_t first_ns, int64_t max_ns)
{
	h->backoff_ns = h->backoff_ns ? 2 * h->backoff_ns : first_ns;
	if (h->backoff_ns > max_ns)
		h->backoff_ns = max_ns;
	h->free_ns = now_ns + (wait_ns > h->backoff_ns ? wait_ns
						       : h->backoff_ns);
}

int cr_send_copy(cr_peer *p, const cr_addr *to, uint8_t type,
		 uint16_t session, const void *data, size_t len,
		 cr_proto proto)
{
	cr_msg *m;
	int err;

	if (len && !data)
		return -CR_EINVAL;
	m = cr_msg_new(p, type, session, len);
	if (!m)
		return -CR_ENOMEM;
	if (len)
		memcpy(cr_msg_payload_mut(m), data, len);
	err = cr_send(p, to, m, proto);
	cr_msg_release(m);
	return err;
}

int cr_send_item(cr_peer *p, const cr_addr *to, uint8_t type,
		 uint16_t session, uint64_t item, int64_t ns)
{
	int64_t ms = ns <= 0 ? 0 : ns / CR_MS;
	uint8_t b[12];

	cr__put32(b, (uint32_t)(item >> 32));
	cr__put32(b + 4, (uint32_t)item);
	cr__put32(b + 8, ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms);
	return cr_send_copy(p, to, type, session, b, sizeof(b), CR_TCP);
}

int cr_msg_item(cr_peer *p, const cr_msg *m, uint64_t *item, int64_t *ns)
{
	const uint8_t *b = cr_msg_payload(m);

	if (cr_msg_len(m) != 12) {
		cr_log(p, CR_LOG_WARN, "malformed message (type %u, %zu bytes) "
		       "ignored", cr_msg_type(m), cr_msg_len(m));
		return -CR_EINVAL;
	}
	*item = (uint64_t)cr__get32(b) << 32 | cr__get32(b + 4);
	*ns = (int64_t)cr__get32(b + 8) * CR_MS;
	return 0;
}
