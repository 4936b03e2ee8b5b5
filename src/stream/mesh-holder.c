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
