/* TCP connections, the limits on what a remote may make a peer hold
 * (docs/wire-format.md#limits): connections per peer, the time an incoming
 * connection may stay silent after its hello, the time to finish a frame
 * once begun, and the node's bytes of unfinished frames.  The waits are
 * checked by a sweep of the loop's watch list, which holds only
 * connections that are waiting, and a large frame's buffer grows as its
 * bytes arrive (conn-rx.c), not to the length its header declares.
 */
#include "net-int.h"

#include <stdio.h>

static const char *const limit_what[CR__LIMIT_N] = {
	[CR__LIMIT_CONNS] = "refused over the cap on connections",
	[CR__LIMIT_IDLE] = "closed silent after their hello",
	[CR__LIMIT_FRAME] = "closed with a frame unfinished in time",
	[CR__LIMIT_PARTIAL] = "closed over the node's budget of partial frames",
};

void cr__limit_hit(struct cr__ep *ep, enum cr__limit k, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	/* a flood must not become a flood of log lines: the first is
	 * logged, the rest counted, and cr__limit_summary says how many */
	if (ep->st->limit_hits[k]++)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cr__ep_log(ep, CR_LOG_WARN, "%s (further connections %s are counted, "
		 "not logged)", msg, limit_what[k]);
}

void cr__limit_summary(struct cr__ep *ep)
{
	char line[512];
	size_t n = 0;
	bool more = false;

	for (int k = 0; k < CR__LIMIT_N; k++) {
		uint64_t hits = ep->st->limit_hits[k];
		if (!hits)
			continue;
		more |= hits > 1;
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%llu %s",
				      n ? ", " : "", (unsigned long long)hits,
				      limit_what[k]);
		if (n >= sizeof(line))
			break;
	}
	if (more)
		cr__ep_log(ep, CR_LOG_INFO, "limits: connections %s", line);
}

/* The watch: connections on the clock, in the order they began to wait,
 * so that the first of equals is the oldest. */
void cr__watch_add(struct cr__conn *c)
{
	struct cr__net *net = c->net;

	if (c->watched)
		return;
	c->watched = true;
	c->wait_since = 0;
	c->watch_next = NULL;
	c->watch_prev = net->watch_tail;
	if (net->watch_tail)
		net->watch_tail->watch_next = c;
	else
		net->watch = c;
	net->watch_tail = c;
}

void cr__watch_del(struct cr__conn *c)
{
	struct cr__net *net = c->net;

	if (!c->watched)
		return;
	if (c->watch_prev)
		c->watch_prev->watch_next = c->watch_next;
	else
		net->watch = c->watch_next;
	if (c->watch_next)
		c->watch_next->watch_prev = c->watch_prev;
	else
		net->watch_tail = c->watch_prev;
	c->watch_prev = c->watch_next = NULL;
	c->watched = false;
}

/* The loop's count of unfinished frames into the node's (kept in the
 * configuration every loop shares), and its peak. */
static void partial_publish(struct cr__net *net)
{
	struct cr__net_cfg *cfg = net->cfg;
	uint64_t now;

	if (net->partial_bytes == net->partial_published)
		return;
	now = atomic_fetch_add(&cfg->partial_bytes,
			       net->partial_bytes - net->partial_published) +
	      (net->partial_bytes - net->partial_published);
	net->partial_published = net->partial_bytes;
	for (uint64_t peak = atomic_load(&cfg->partial_peak);
	     now > peak &&
	     !atomic_compare_exchange_weak(&cfg->partial_peak, &peak, now);)
		;
}

void cr__partial_drop(struct cr__conn *c)
{
	if (!c->partial)
		return;
	c->net->partial_bytes -= c->partial;
	c->partial = 0;
	partial_publish(c->net);
}

/* Closes the watched connection with the largest unfinished frame (the
 * oldest of equals); false when there is none. */
static bool partial_evict(struct cr__net *net)
{
	struct cr__conn *v = NULL;

	for (struct cr__conn *c = net->watch; c; c = c->watch_next)
		if (c->partial && (!v || c->partial > v->partial))
			v = c;
	if (!v)
		return false;
	cr__limit_hit(v->ep, CR__LIMIT_PARTIAL,
		      "%s: closed with %u bytes of a frame unfinished, the "
		      "most while the node held more than its limit of %llu "
		      "bytes of unfinished frames",
		      v->remote_text, v->partial,
		      (unsigned long long)net->cfg->partial_limit);
	cr__conn_close(v, true, false, "unfinished frames over the limit");
	return true;
}

/* Counts the connection's unfinished frame against its loop's share of
 * the node's budget; over it, the largest goes.  Returns false when that
 * closed c itself. */
bool cr__partial_count(struct cr__conn *c)
{
	struct cr__net *net = c->net;

	if (c->rx_len == c->partial)
		return true;
	net->partial_bytes = net->partial_bytes - c->partial + c->rx_len;
	c->partial = c->rx_len;
	if (c->partial)
		cr__watch_add(c);
	while (net->partial_share && net->partial_bytes > net->partial_share &&
	       partial_evict(net))
		;
	partial_publish(net);
	return c->state != CR__CLOSED;
}

void cr__conn_sweep(struct cr__net *net)
{
	const struct cr__net_cfg *cfg = net->cfg;
	int64_t now = cr__clock_now(net->clock);
	struct cr__conn *c = net->watch, *next;

	for (; c; c = next) {
		bool partial = c->rx_len > 0;
		bool idle = !c->outgoing && c->hello_in && c->frames_in == 1 &&
			    !partial;
		uint64_t mark = c->frames_in << 1 | partial;
		int64_t limit = partial ? cfg->frame_timeout_ns
					: cfg->idle_timeout_ns;

		next = c->watch_next;
		if (!partial && !idle) {
			cr__watch_del(c);
			continue;
		}
		/* the clock runs from the first sweep that saw it waiting
		 * for this, while it was being read */
		if (!cr__conn_reading(c) || c->wait_mark != mark ||
		    !c->wait_since) {
			c->wait_mark = mark;
			c->wait_since = now;
			continue;
		}
		if (!limit || now - c->wait_since < limit)
			continue;
		if (partial)
			cr__limit_hit(c->ep, CR__LIMIT_FRAME,
				      "%s: a frame unfinished for %.1f s (%u "
				      "bytes of it arrived); closing",
				      c->remote_text,
				      (double)(now - c->wait_since) / 1e9,
				      c->rx_len);
		else
			cr__limit_hit(c->ep, CR__LIMIT_IDLE,
				      "%s sent nothing in %.1f s after its "
				      "hello; closing",
				      c->remote_text,
				      (double)(now - c->wait_since) / 1e9);
		cr__conn_close(c, true, false,
			       partial ? "frame unfinished" : "idle");
		/* a departure may have closed others: start over if the
		 * next one left the watch (its memory lives until the loop
		 * turns) */
		if (next && !next->watched)
			next = net->watch;
	}
}

