/* A worker's network loop: the connection table, the flush list, timers
 * and the owner's log, shared by every connection of the loop.
 *
 * The table maps (endpoint, remote address) to the connection a send
 * uses.  The flush list holds the connections given messages during one
 * turn of the loop; the owner calls cr__net_flush before the loop sleeps,
 * so a burst of sends becomes one writev per connection.
 */
#include "net-int.h"

#include <stdlib.h>
#include <string.h>

/* --- connection table: (endpoint, remote address) -> connection ----------- */

static size_t map_slot(const struct cr__net *net, const struct cr__ep *ep,
		       const cr_addr *a)
{
	uint64_t h = cr_addr_hash(a) ^ ((uint64_t)ep->index * 0x9e3779b97f4a7c15ull);

	return (size_t)(h ^ (h >> 31)) & (net->map_cap - 1);
}

struct cr__conn *cr__conn_find(struct cr__net *net, const struct cr__ep *ep,
			       const cr_addr *remote)
{
	if (!net->map_cap)
		return NULL;
	for (struct cr__conn *c = net->map[map_slot(net, ep, remote)]; c;
	     c = c->map_next)
		if (c->ep == ep && cr_addr_eq(&c->remote, remote))
			return c;
	return NULL;
}

static void map_grow(struct cr__net *net)
{
	size_t cap = net->map_cap ? net->map_cap * 2 : 256;
	struct cr__conn **map = calloc(cap, sizeof(*map));
	struct cr__conn **old = net->map;
	size_t oldcap = net->map_cap;

	if (!map)
		return; /* keep the old table; chains grow longer */
	net->map = map;
	net->map_cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		struct cr__conn *c = old[i], *next;
		for (; c; c = next) {
			size_t s = map_slot(net, c->ep, &c->remote);
			next = c->map_next;
			c->map_next = map[s];
			map[s] = c;
		}
	}
	free(old);
}

void cr__net_map_add(struct cr__net *net, struct cr__conn *c)
{
	size_t s;

	if (net->map_len + 1 > net->map_cap / 2 * 1 + net->map_cap / 4)
		map_grow(net);
	if (!net->map_cap)
		return;
	s = map_slot(net, c->ep, &c->remote);
	c->map_next = net->map[s];
	net->map[s] = c;
	c->in_map = true;
	net->map_len++;
}

void cr__net_map_del(struct cr__net *net, struct cr__conn *c)
{
	struct cr__conn **pp = &net->map[map_slot(net, c->ep, &c->remote)];

	for (; *pp; pp = &(*pp)->map_next) {
		if (*pp == c) {
			*pp = c->map_next;
			c->in_map = false;
			net->map_len--;
			return;
		}
	}
}

void cr__net_free(struct cr__net *net)
{
	cr__rd_free(net);
	free(net->map);
	net->map = NULL;
	net->map_cap = net->map_len = 0;
}

/* --- flushing -------------------------------------------------------------- */

void cr__net_mark_dirty(struct cr__conn *c)
{
	struct cr__net *net = c->net;

	if (c->dirty)
		return;
	c->dirty = true;
	c->next_dirty = net->dirty;
	net->dirty = c;
}

void cr__net_flush(struct cr__net *net)
{
	struct cr__conn *c;

	cr__rd_run(net); /* what the sockets still hold first */
	while ((c = net->dirty)) {
		net->dirty = c->next_dirty;
		c->dirty = false;
		if (c->state != CR__CLOSED && c->broken) {
			/* off the list already, so the close releases it */
			cr__conn_close(c, true, false, strerror(c->broken));
			continue;
		}
		if (c->state == CR__CLOSED)
			cr__conn_release(c);
		else if (!c->want_write)
			cr__conn_flush(c);
	}
}

/* --- timers, log ------------------------------------------------------------ */

uint64_t cr__net_timer(struct cr__net *net, int64_t due_ns, int64_t period_ns,
		       cr__timer_fn fn, void *ctx, void *arg,
		       const void *owner)
{
	uint64_t id = cr__timer_add(&net->timers, due_ns, period_ns, fn, ctx,
				    arg, owner);

	if (due_ns < net->armed_ns)
		net->ops->rearm(net);
	return id;
}

void cr__ep_log(const struct cr__ep *ep, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ep->net->ops->log(ep, level, fmt, ap);
	va_end(ap);
}

/* --- sending ----------------------------------------------------------------- */

int cr__ep_send_tcp(struct cr__ep *ep, const cr_addr *to, struct cr_msg *m)
{
	struct cr__net *net = ep->net;
	struct cr__conn *c = cr__conn_find(net, ep, to);
	int err = c ? 0 : cr__conn_connect(ep, to, &c);

	if (err)
		return err;
	net->in_send = true;
	err = cr__conn_enqueue(c, m);
	net->in_send = false;
	return err;
}

int cr__ep_disconnect(struct cr__ep *ep, const cr_addr *who)
{
	struct cr__conn *c = ep->conns, *next;
	int found = 0;

	for (; c; c = next) {
		next = c->peer_next;
		if ((c->hello_in || c->outgoing) &&
		    cr_addr_eq(&c->remote, who)) {
			cr__conn_close(c, false, false, "removed");
			found = 1;
			next = ep->conns; /* the list changed: start over */
		}
	}
	return found ? 0 : -CR_ENOTCONN;
}

static bool same_ip(const cr_addr *a, const cr_addr *b)
{
	return a->family == b->family && !memcmp(a->ip, b->ip, sizeof(a->ip));
}

/* The connections go one by one, with notice: the remote is reported
 * departed by the close of its last one (cr__conn_close), so once, and
 * never again by a break of a connection that is already gone. */
int cr__ep_drop_host(struct cr__ep *ep, const cr_addr *ip)
{
	struct cr__conn *c = ep->conns, *next;
	int found = 0;

	for (; c; c = next) {
		next = c->peer_next;
		if ((c->hello_in || c->outgoing) && same_ip(&c->remote, ip)) {
			cr__conn_close(c, true, true, "host lost");
			found = 1;
			next = ep->conns; /* the list changed: start over */
		}
	}
	return found ? 0 : -CR_ENOTCONN;
}

/* --- fidelity ----------------------------------------------------------------- */

void cr__ep_fid_reset(struct cr__ep *ep)
{
	for (struct cr__conn *c = ep->conns; c; c = c->peer_next)
		memset(&c->fid, 0, sizeof(c->fid));
}

void cr__net_fid_reset(struct cr__net *net)
{
	cr__hist_reset(&net->late);
	cr__hist_reset(&net->rx_late);
	cr__hist_reset(&net->queueing);
	net->late_over = net->rx_late_over = 0;
	net->late_held = net->rx_late_held = 0;
	net->frames_after_full = 0;
	net->shaped_writes = 0;
	net->early_max = 0;
	net->fid_links = 0;
	net->fid_err_sum = 0;
	net->fid_err_worst = 0;
	net->fid_rx_links = 0;
	net->fid_rx_err_sum = 0;
	net->fid_rx_err_worst = 0;
	net->fid_late_worst_ns = 0;
	net->fid_late_worst_link[0] = 0;
	net->fid_rx_worst_link[0] = 0;
	net->fid_worst_link[0] = 0;
}
