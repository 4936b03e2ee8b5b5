/* The sockets transport: the transport interface (transport.h) over real
 * TCP and UDP sockets and the user-space shaper.  Each entry is the socket
 * layer's own function; this file only binds them into the table.
 */
#include "net-int.h"
#include "transport.h"

static bool sock_is_open(const struct cr__ep *ep)
{
	return ep->listen_fd >= 0;
}

/* Its uv handles close with the loop's next turn: until then a peer born
 * again at the same address cannot bind it. */
static bool sock_closing(const struct cr__ep *ep)
{
	return ep->listen_fd < 0 && ep->handles_open;
}

static int sock_send(struct cr__ep *ep, const cr_addr *to, struct cr_msg *m,
		     cr_proto proto)
{
	if (proto == CR_UDP)
		return cr__ep_send_udp(ep, to, m);
	return cr__ep_send_tcp(ep, to, m);
}

const struct cr__transport cr__transport_sockets = {
	.name = "sockets",
	.open = cr__ep_open,
	.close = cr__ep_close,
	.is_open = sock_is_open,
	.closing = sock_closing,
	.send = sock_send,
	.disconnect = cr__ep_disconnect,
	.drop_host = cr__ep_drop_host,
	.link_set = cr__ep_link_set,
	.link_set_connection = cr__ep_link_set_connection,
	.link_delay = cr__link_delay,
	.upload_queued = cr__shaper_upload_queued,
	.flush = cr__net_flush,
	.sweep = cr__conn_sweep,
	.fid_reset = cr__net_fid_reset,
	.ep_fid_reset = cr__ep_fid_reset,
	.ep_summary = cr__limit_summary,
	.free = cr__net_free,
};
