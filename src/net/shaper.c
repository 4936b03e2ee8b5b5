/* Link emulation: bandwidth, delay, jitter and loss in user space.
 *
 * Every rate limit is a bucket with a next-free time: n bytes through a
 * bucket of b bytes/s move it on by n/b (the paper's rule, in nanoseconds).
 * Sending, a peer's connections with unstamped messages take turns (round
 * robin) at the peer's upload and total buckets and at their own link
 * bucket; a message is stamped when all of them are free, with release time
 *
 *	end of transmission + link delay (+ jitter, never reordering TCP),
 *
 * and the connection's flush writes it when that time comes: at each wake-up
 * every release due within the worker's batch window (20 us unless the
 * node sets it wider) leaves, those of one connection in one writev.  Only
 * what may start within the window is stamped, so a stamped message is one
 * "on the wire".
 * Receiving, a connection reads only while its download buckets allow, as
 * much as about 2 ms of the rate; otherwise the socket stays unread and TCP
 * flow control pushes back on the sender, as a real access link does.
 *
 * UDP datagrams share the sending round robin (as one more flow); after the
 * buckets they wait in a per-peer delay heap.  Received datagrams over the
 * download limit wait in a bounded queue and are dropped past it.
 *
 * Fidelity: every write of a stamped frame records how late it was against
 * its release time, and each link compares its intended schedule (first to
 * last release) with what happened (first to last write).
 */
#include "../core/heap.h"
#include "net-int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int64_t cost(uint64_t rate, uint32_t n)
{
	return rate ? (int64_t)((unsigned __int128)n * CR_SEC / rate) : 0;
}

/* When a bucket can next pass a message; never earlier than `floor`. */
static int64_t ready(const struct cr__bucket *b, int64_t floor)
{
	return b->rate_Bps && b->next_ns > floor ? b->next_ns : floor;
}

/* Passes n bytes starting at `start`; returns when they are through. */
static int64_t take(struct cr__bucket *b, int64_t start, uint32_t n)
{
	if (!b->rate_Bps)
		return start;
	b->next_ns = start + cost(b->rate_Bps, n);
	return b->next_ns;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static int64_t jitter(struct cr__ep *ep)
{
	if (ep->lim.jitter_ns <= 0)
		return 0;
	return (int64_t)(cr_rand_unit(&ep->rng) * (double)ep->lim.jitter_ns);
}

/* Whether a release (or a read) due at `due` fell in the last stretch
 * its worker was held off its core: late for want of a core, not for the
 * worker's own load. */
static bool due_while_held(const struct cr__net *net, int64_t due)
{
	return due >= net->held_from && due <= net->held_to;
}

/* A stamped frame (or datagram) due at `release` is written at `now`:
 * how late, or how early within the batch window. */
static void note_written(struct cr__net *net, int64_t release, int64_t now)
{
	cr__hist_add(&net->late, now - release);
	if (now - release > CR_FID_LATE_P99_NS) {
		net->late_over++;
		net->late_held += due_while_held(net, release);
	}
	if (release - now > net->early_max)
		net->early_max = release - now;
}

static int64_t now_of(const struct cr__ep *ep)
{
	return cr__net_now(ep->net);
}

/* --- configuration ------------------------------------------------------- */

static bool limits_shape(const cr_link_limits *l)
{
	return l->upload_Bps || l->download_Bps || l->total_Bps ||
	       l->link_upload_Bps || l->link_download_Bps ||
	       l->access_delay_ns || l->jitter_ns || l->loss > 0;
}

void cr__shaper_ep_init(struct cr__ep *ep, const cr_link_limits *l)
{
	ep->lim = *l;
	ep->shaped = limits_shape(l);
	ep->up.rate_Bps = l->upload_Bps;
	ep->down.rate_Bps = l->download_Bps;
	ep->total.rate_Bps = l->total_Bps;
	ep->pump_at = INT64_MAX;
	ep->rng.s = ep->net->cfg->seed ^ (0x9e3779b97f4a7c15ull * (ep->index + 1));
	if (!ep->rng.s)
		ep->rng.s = 1;
}

bool cr__conn_shaped(const struct cr__conn *c)
{
	return c->ep->shaped || c->up.rate_Bps || c->down.rate_Bps;
}

/* Unshaped, the link is the socket: everything not yet written.  Shaped,
 * what no bucket has passed yet, and the rest of the frame in the upload
 * bucket now; what is through waits out its delay, or for its reader. */
size_t cr__shaper_upload_queued(const struct cr__ep *ep)
{
	const struct cr__bucket *b = ep->up.rate_Bps ? &ep->up : &ep->total;
	int64_t left = b->next_ns - now_of(ep);

	if (!ep->shaped)
		return ep->out_bytes;
	if (!b->rate_Bps || left <= 0)
		return ep->up_bytes;
	return ep->up_bytes +
	       (size_t)((unsigned __int128)left * b->rate_Bps / CR_SEC);
}

int64_t cr__link_delay(const struct cr__ep *ep, const cr_addr *to)
{
	const struct cr__net_cfg *cfg = ep->net->cfg;
	int64_t d = 0;

	if (cfg->link_delay(cfg->delay_ctx, &ep->addr, to, &d))
		return d;
	return ep->lim.access_delay_ns + d;
}

void cr__shaper_conn_init(struct cr__conn *c)
{
	struct cr__ep *ep = c->ep;

	c->up.rate_Bps = ep->lim.link_upload_Bps;
	c->down.rate_Bps = ep->lim.link_download_Bps;
	c->delay_ns = c->outgoing ? cr__link_delay(ep, &c->remote)
				  : ep->lim.access_delay_ns;
	c->tx_at = INT64_MAX;
}

/* --- sending: the round robin ------------------------------------------- */

static void rr_add(struct cr__conn *c)
{
	struct cr__ep *ep = c->ep;

	if (c->backlogged)
		return;
	c->backlogged = true;
	if (!ep->rr) {
		c->rr_next = c->rr_prev = c;
		ep->rr = c;
		return;
	}
	/* join just before the cursor: last in this round */
	c->rr_next = ep->rr;
	c->rr_prev = ep->rr->rr_prev;
	c->rr_prev->rr_next = c;
	ep->rr->rr_prev = c;
}

static void rr_del(struct cr__conn *c)
{
	struct cr__ep *ep = c->ep;

	if (!c->backlogged)
		return;
	c->backlogged = false;
	if (c->rr_next == c) {
		ep->rr = NULL;
	} else {
		c->rr_prev->rr_next = c->rr_next;
		c->rr_next->rr_prev = c->rr_prev;
		if (ep->rr == c)
			ep->rr = c->rr_next;
	}
	c->rr_next = c->rr_prev = NULL;
}

static void tx_cb(void *ctx, void *arg)
{
	struct cr__conn *c = arg;

	CR__UNUSED(ctx);
	c->tx_timer = 0;
	c->tx_at = INT64_MAX;
	cr__conn_flush(c);
}

/* Wakes the connection's flush at `at` (the earliest pending release). */
void cr__shaper_arm_tx(struct cr__conn *c, int64_t at)
{
	struct cr__net *net = c->net;

	if (c->tx_timer && c->tx_at <= at)
		return;
	if (c->tx_timer)
		cr__timer_cancel(&net->timers, c->tx_timer);
	c->tx_at = at;
	c->tx_timer = cr__net_timer(net, at, 0, tx_cb, c->ep, c, c->ep->owner);
}

static void stamp_conn(struct cr__conn *c, int64_t start, int64_t now)
{
	struct cr__ep *ep = c->ep;
	struct cr__qent *e = cr__qent_at(c, c->nstamped);
	uint32_t n = CR__HDR_SIZE + e->m->len;
	int64_t end, release;
	uint64_t tight = 0;

	/* Until stamped, release_ns holds when the message was queued: it
	 * cannot start before that, however far a bucket may catch up. */
	start = max64(start, e->release_ns);
	cr__hist_add(&c->net->queueing, start - e->release_ns);
	end = start;

	end = max64(end, take(&ep->up, start, n));
	end = max64(end, take(&ep->total, start, n));
	end = max64(end, take(&c->up, start, n));
	release = end + c->delay_ns + jitter(ep);
	if (release < c->last_release_ns)
		release = c->last_release_ns; /* TCP never reorders */
	c->last_release_ns = release;
	e->release_ns = release;
	c->nstamped++;
	c->q_unstamped -= n;
	ep->up_bytes -= n;
	if (c->nstamped == c->q.len)
		rr_del(c);

	tight = ep->up.rate_Bps;
	if (ep->total.rate_Bps && (!tight || ep->total.rate_Bps < tight))
		tight = ep->total.rate_Bps;
	if (c->up.rate_Bps && (!tight || c->up.rate_Bps < tight))
		tight = c->up.rate_Bps;
	if (tight && (!c->fid.rate_Bps || tight < c->fid.rate_Bps))
		c->fid.rate_Bps = tight;

	if (release <= now + c->net->batch_ns)
		cr__net_mark_dirty(c);
	else
		cr__shaper_arm_tx(c, release);
}

/* --- sending: UDP ---------------------------------------------------------- */

struct udp_flight {
	int64_t release_ns;
	uint64_t seq;
	struct cr_msg *m;
	cr_addr to;
};

/* The delay heap of datagrams that passed the buckets, per peer.  Kept in
 * the peer's udp heap arrays (see peer_udp_heap). */
struct cr__udp_heap {
	struct udp_flight *v;
	uint32_t len, cap;
	uint64_t seq;
	uint64_t timer;
	int64_t timer_at;
};

static bool flight_before(const struct cr__udp_heap *h,
			  const struct udp_flight *a,
			  const struct udp_flight *b)
{
	CR__UNUSED(h);
	return a->release_ns < b->release_ns ||
	       (a->release_ns == b->release_ns && a->seq < b->seq);
}

static void flight_place(struct cr__udp_heap *h, struct udp_flight *v,
			 uint32_t pos, struct udp_flight f)
{
	CR__UNUSED(h);
	v[pos] = f;
}

CR__HEAP_DEFINE(fheap, struct cr__udp_heap, struct udp_flight, flight_before,
		flight_place)

static int heap_push(struct cr__udp_heap *h, struct udp_flight f)
{
	if (h->len == h->cap) {
		uint32_t cap = h->cap ? h->cap * 2 : 16;
		struct udp_flight *v = realloc(h->v, cap * sizeof(*v));
		if (!v)
			return -CR_ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	f.seq = h->seq++;
	h->v[h->len++] = f;
	fheap_up(h, h->v, h->len - 1);
	return 0;
}

static struct udp_flight heap_pop(struct cr__udp_heap *h)
{
	struct udp_flight top = h->v[0];

	fheap_remove(h, h->v, &h->len, 0);
	return top;
}

static void udp_flight_cb(void *ctx, void *arg);

static void udp_heap_arm(struct cr__ep *ep)
{
	struct cr__udp_heap *h = ep->udp_heap;

	if (!h || !h->len)
		return;
	if (h->timer && h->timer_at <= h->v[0].release_ns)
		return;
	if (h->timer)
		cr__timer_cancel(&ep->net->timers, h->timer);
	h->timer_at = h->v[0].release_ns;
	h->timer = cr__net_timer(ep->net, h->timer_at, 0, udp_flight_cb, ep,
				    NULL, ep->owner);
}

static void udp_flight_cb(void *ctx, void *arg)
{
	struct cr__ep *ep = ctx;
	struct cr__udp_heap *h = ep->udp_heap;
	int64_t now = now_of(ep);

	CR__UNUSED(arg);
	h->timer = 0;
	while (h->len && h->v[0].release_ns <= now + ep->net->batch_ns) {
		struct udp_flight f = heap_pop(h);
		note_written(ep->net, f.release_ns, now);
		ep->net->shaped_writes++;
		cr__udp_send_now(ep, &f.to, f.m);
		cr_msg_release(f.m);
	}
	udp_heap_arm(ep);
}

static void stamp_udp(struct cr__ep *ep, int64_t start, int64_t now)
{
	struct cr__ring *q = &ep->udp_wait;
	struct cr__udp_out o = *cr__ring_at(q, struct cr__udp_out, 0);
	uint32_t n = CR__HDR_SIZE + o.m->len;
	int64_t end;

	start = max64(start, o.queued_ns);
	cr__hist_add(&ep->net->queueing, start - o.queued_ns);
	end = start;

	cr__ring_shift(q);
	end = max64(end, take(&ep->up, start, n));
	end = max64(end, take(&ep->total, start, n));
	if (ep->lim.loss > 0 && cr_rand_unit(&ep->rng) < ep->lim.loss) {
		/* it used the uplink, then the network lost it */
		ep->st->udp_lost++;
		cr_msg_release(o.m);
		return;
	}
	if (!ep->udp_heap) {
		ep->udp_heap = calloc(1, sizeof(*ep->udp_heap));
		if (!ep->udp_heap) {
			ep->st->udp_dropped++;
			cr_msg_release(o.m);
			return;
		}
	}
	if (heap_push(ep->udp_heap,
		      (struct udp_flight){end + cr__link_delay(ep, &o.to) +
						  jitter(ep),
					  0, o.m, o.to})) {
		ep->st->udp_dropped++;
		cr_msg_release(o.m);
		return;
	}
	CR__UNUSED(now);
	udp_heap_arm(ep);
}

/* --- the pump ------------------------------------------------------------- */

static void pump(struct cr__ep *ep);

static void pump_cb(void *ctx, void *arg)
{
	struct cr__ep *ep = ctx;

	CR__UNUSED(arg);
	ep->pump_timer = 0;
	ep->pump_at = INT64_MAX;
	pump(ep);
}

static void pump_at(struct cr__ep *ep, int64_t at)
{
	if (ep->pump_timer && ep->pump_at <= at)
		return;
	if (ep->pump_timer)
		cr__timer_cancel(&ep->net->timers, ep->pump_timer);
	ep->pump_at = at;
	ep->pump_timer = cr__net_timer(ep->net, at, 0, pump_cb, ep, NULL, ep->owner);
}

/* Stamps every message whose turn has come, in round robin over the
 * connections (and UDP), then sleeps until the next turn. */
static void pump(struct cr__ep *ep)
{
	int64_t now = now_of(ep);
	/* what may start within the batch window is stamped now, so that
	 * it can leave with this wake-up's writes */
	int64_t horizon = now + ep->net->batch_ns;

	for (;;) {
		int64_t floor = now - CR__SHAPE_CATCHUP;
		int64_t pstart = max64(ready(&ep->up, floor),
				       ready(&ep->total, floor));
		int64_t wait = INT64_MAX;
		struct cr__conn *pick = NULL, *c = ep->rr;

		if (pstart > horizon) {
			pump_at(ep, pstart);
			return;
		}
		for (; c; c = c->rr_next == ep->rr ? NULL : c->rr_next) {
			int64_t cs = ready(&c->up, floor);
			if (c->state != CR__OPEN)
				continue; /* its turn comes once connected */
			if (cs <= horizon) {
				pick = c;
				break;
			}
			if (cs < wait)
				wait = cs;
		}
		if (ep->udp_wait.len && (ep->udp_turn || !pick)) {
			ep->udp_turn = false;
			stamp_udp(ep, pstart, now);
			continue;
		}
		if (!pick) {
			if (wait != INT64_MAX)
				pump_at(ep, wait);
			return;
		}
		ep->udp_turn = true;
		ep->rr = pick->rr_next; /* the next turn goes to the next one */
		stamp_conn(pick, max64(pstart, ready(&pick->up, floor)), now);
	}
}

void cr__shaper_enqueue(struct cr__conn *c)
{
	rr_add(c);
	pump(c->ep);
}

void cr__shaper_connected(struct cr__conn *c)
{
	if (c->backlogged)
		pump(c->ep);
}

int cr__shaper_udp_send(struct cr__ep *ep, const cr_addr *to,
			struct cr_msg *m)
{
	struct cr__ring *q = &ep->udp_wait;

	if (cr__udpq_push(q, to, m)) {
		ep->st->udp_dropped++;
		return 0;
	}
	cr__ring_at(q, struct cr__udp_out, q->len - 1)->queued_ns = now_of(ep);
	pump(ep);
	return 0;
}

/* --- writes: fidelity ---------------------------------------------------- */

void cr__shaper_written(struct cr__conn *c, const struct cr__qent *e,
			uint32_t bytes, int64_t now, bool after_full)
{
	struct cr__link_fid *f = &c->fid;

	if (!e->release_ns)
		return;
	if (after_full) {
		c->net->frames_after_full++;
		cr__hist_add(&c->net->queueing, now - e->release_ns);
	} else {
		note_written(c->net, e->release_ns, now);
		f->late_sum_ns += (double)max64(now - e->release_ns, 0);
	}
	if (!f->msgs) {
		f->first_release_ns = e->release_ns;
		f->first_write_ns = now;
	}
	f->last_release_ns = e->release_ns;
	f->last_write_ns = now;
	f->bytes += bytes;
	f->msgs++;
}

/* Links shorter than this say nothing about their rate. */
#define FID_MIN_SPAN (200 * CR_MS)

/* "sender -> receiver"; this end receives or sends. */
static void link_name(const struct cr__conn *c, bool receiving, char *out,
		      size_t len)
{
	char a[CR_ADDR_STRLEN], b[CR_ADDR_STRLEN];

	cr_addr_format(&c->ep->addr, a, sizeof(a));
	cr_addr_format(&c->remote, b, sizeof(b));
	snprintf(out, len, "%s -> %s", receiving ? b : a, receiving ? a : b);
}

/* The receiving side: what the download buckets' waits cost in time. */
static void fid_fold_rx(struct cr__conn *c)
{
	struct cr__link_fid *f = &c->fid;
	struct cr__net *net = c->net;
	int64_t span = f->rx_last_wait_ns - f->rx_first_wait_ns;
	double err;

	if (f->rx_waits < 3 || span < FID_MIN_SPAN)
		return;
	/* reading that resumed late beyond the catch-up lost that much of
	 * the link's time: achieved / configured - 1 */
	err = -(double)f->rx_lost_ns / (double)span;
	net->fid_rx_links++;
	net->fid_rx_err_sum += fabs(err);
	if (fabs(err) > fabs(net->fid_rx_err_worst) || net->fid_rx_links == 1) {
		net->fid_rx_err_worst = err;
		net->fid_rx_worst_rate = f->rx_rate_Bps;
		link_name(c, true, net->fid_rx_worst_link,
			  sizeof(net->fid_rx_worst_link));
	}
}

static void fid_fold(struct cr__conn *c)
{
	struct cr__link_fid *f = &c->fid;
	struct cr__net *net = c->net;
	int64_t intended = f->last_release_ns - f->first_release_ns;
	int64_t actual = f->last_write_ns - f->first_write_ns;
	double err;

	fid_fold_rx(c);
	if (f->msgs >= 3 && f->late_sum_ns / (double)f->msgs >
				    net->fid_late_worst_ns) {
		net->fid_late_worst_ns = f->late_sum_ns / (double)f->msgs;
		link_name(c, false, net->fid_late_worst_link,
			  sizeof(net->fid_late_worst_link));
	}
	if (f->msgs < 3 || intended < FID_MIN_SPAN || actual <= 0) {
		memset(f, 0, sizeof(*f));
		return;
	}
	/* achieved / configured - 1: bytes over the actual span against
	 * bytes over the intended one */
	err = (double)intended / (double)actual - 1.0;
	net->fid_links++;
	net->fid_err_sum += fabs(err);
	if (fabs(err) > fabs(net->fid_err_worst) || net->fid_links == 1) {
		net->fid_err_worst = err;
		net->fid_worst_rate = (uint64_t)((double)f->bytes * 1e9 /
					       (double)intended);
		link_name(c, false, net->fid_worst_link,
			  sizeof(net->fid_worst_link));
	}
	memset(f, 0, sizeof(*f));
}

void cr__shaper_conn_close(struct cr__conn *c)
{
	rr_del(c);
	if (c->tx_timer)
		cr__timer_cancel(&c->net->timers, c->tx_timer);
	if (c->rx_timer)
		cr__timer_cancel(&c->net->timers, c->rx_timer);
	c->tx_timer = c->rx_timer = 0;
	c->nstamped = 0;
	fid_fold(c);
}

/* --- receiving ------------------------------------------------------------- */

static void rx_cb(void *ctx, void *arg)
{
	struct cr__conn *c = arg;
	struct cr__link_fid *f = &c->fid;
	int64_t now = cr__clock_now(c->net->clock), late = now - c->rx_due;

	CR__UNUSED(ctx);
	/* the download link's release: reading resumes now */
	cr__hist_add(&c->net->rx_late, late);
	if (late > CR_FID_LATE_P99_NS) {
		c->net->rx_late_over++;
		c->net->rx_late_held += due_while_held(c->net, c->rx_due);
	}
	if (!f->rx_waits++)
		f->rx_first_wait_ns = c->rx_due;
	f->rx_last_wait_ns = now;
	if (late > CR__SHAPE_RX_CATCHUP)
		f->rx_lost_ns += late - CR__SHAPE_RX_CATCHUP;
	c->rx_timer = 0;
	c->rx_blocked = false;
	cr__conn_reading_changed(c);
}

uint32_t cr__shaper_rx_allow(struct cr__conn *c, int64_t now)
{
	struct cr__ep *ep = c->ep;
	int64_t floor = now - CR__SHAPE_RX_CATCHUP, at;
	uint64_t rate = 0;
	uint32_t allow;

	if (!ep->down.rate_Bps && !ep->total.rate_Bps && !c->down.rate_Bps)
		return UINT32_MAX;
	at = max64(ready(&ep->down, floor), ready(&ep->total, floor));
	at = max64(at, ready(&c->down, floor));
	for (const struct cr__bucket *b = &ep->down; b;
	     b = b == &ep->down ? &ep->total : b == &ep->total ? &c->down : NULL)
		if (b->rate_Bps && (!rate || b->rate_Bps < rate))
			rate = b->rate_Bps;
	if (!c->fid.rx_rate_Bps || rate < c->fid.rx_rate_Bps)
		c->fid.rx_rate_Bps = rate;
	if (at > now) {
		c->rx_blocked = true;
		cr__conn_reading_changed(c);
		if (!c->rx_timer) {
			c->rx_due = at;
			c->rx_timer = cr__net_timer(c->net, at, 0, rx_cb,
						       ep, c, ep->owner);
		}
		return 0;
	}
	/* about 2 ms of the rate at a time, at least a small frame */
	allow = (uint32_t)(rate / 500);
	if (allow < 2048)
		allow = 2048;
	if (allow > CR__READ_SIZE)
		allow = CR__READ_SIZE;
	return allow;
}

void cr__shaper_rx_took(struct cr__conn *c, uint32_t n, int64_t now)
{
	struct cr__ep *ep = c->ep;
	int64_t floor = now - CR__SHAPE_RX_CATCHUP;

	take(&ep->down, ready(&ep->down, floor), n);
	take(&ep->total, ready(&ep->total, floor), n);
	take(&c->down, ready(&c->down, floor), n);
}

static void udp_rx_cb(void *ctx, void *arg);

/* Dispatches waiting datagrams while the download buckets allow. */
static void udp_rx_drain(struct cr__ep *ep)
{
	struct cr__ring *q = &ep->udp_rx;
	int64_t now = now_of(ep);

	while (q->len && ep->alive) {
		int64_t floor = now - CR__SHAPE_RX_CATCHUP;
		int64_t at = max64(ready(&ep->down, floor),
				   ready(&ep->total, floor));
		struct cr__udp_out o;

		if (at > now) {
			if (!ep->udp_rx_timer) {
				ep->udp_rx_due = at;
				ep->udp_rx_timer = cr__net_timer(
					ep->net, at, 0, udp_rx_cb, ep, NULL, ep->owner);
			}
			return;
		}
		o = *cr__ring_at(q, struct cr__udp_out, 0);
		cr__ring_shift(q);
		take(&ep->down, at, CR__HDR_SIZE + o.m->len);
		take(&ep->total, at, CR__HDR_SIZE + o.m->len);
		cr__ep_frame(ep, &o.to, o.m);
		cr_msg_release(o.m);
	}
}

static void udp_rx_cb(void *ctx, void *arg)
{
	struct cr__ep *ep = ctx;

	CR__UNUSED(arg);
	cr__hist_add(&ep->net->rx_late, now_of(ep) - ep->udp_rx_due);
	if (now_of(ep) - ep->udp_rx_due > CR_FID_LATE_P99_NS) {
		ep->net->rx_late_over++;
		ep->net->rx_late_held += due_while_held(ep->net, ep->udp_rx_due);
	}
	ep->udp_rx_timer = 0;
	udp_rx_drain(ep);
}

void cr__shaper_udp_received(struct cr__ep *ep, const cr_addr *from,
			     struct cr_msg *m)
{
	if (!ep->down.rate_Bps && !ep->total.rate_Bps) {
		cr__ep_frame(ep, from, m);
		return;
	}
	if (ep->udp_rx.len >= CR__UDP_RX_QUEUE ||
	    cr__udpq_push(&ep->udp_rx, from, m)) {
		ep->st->udp_rx_dropped++;
		return;
	}
	udp_rx_drain(ep);
}

void cr__shaper_ep_close(struct cr__ep *ep)
{
	struct cr__udp_heap *h = ep->udp_heap;

	if (ep->pump_timer)
		cr__timer_cancel(&ep->net->timers, ep->pump_timer);
	if (ep->udp_rx_timer)
		cr__timer_cancel(&ep->net->timers, ep->udp_rx_timer);
	ep->pump_timer = ep->udp_rx_timer = 0;
	cr__udpq_drop(&ep->udp_wait);
	cr__udpq_drop(&ep->udp_rx);
	if (h) {
		if (h->timer)
			cr__timer_cancel(&ep->net->timers, h->timer);
		while (h->len)
			cr_msg_release(heap_pop(h).m);
		free(h->v);
		free(h);
		ep->udp_heap = NULL;
	}
}

/* --- the algorithm's view (cr_link_set) ------------------------------------ */

int cr__ep_link_set(struct cr__ep *ep, const cr_link_limits *l)
{
	if (l->access_delay_ns < 0 || l->jitter_ns < 0 || !(l->loss >= 0) ||
	    l->loss > 1)
		return -CR_EINVAL;
	ep->lim = *l;
	ep->shaped = ep->shaped || limits_shape(l);
	ep->up.rate_Bps = l->upload_Bps;
	ep->down.rate_Bps = l->download_Bps;
	ep->total.rate_Bps = l->total_Bps;
	for (struct cr__conn *c = ep->conns; c; c = c->peer_next) {
		c->up.rate_Bps = l->link_upload_Bps;
		c->down.rate_Bps = l->link_download_Bps;
		if (c->hello_in || c->outgoing)
			c->delay_ns = cr__link_delay(ep, &c->remote);
	}
	if (ep->rr)
		pump(ep);
	return 0;
}

int cr__ep_link_set_connection(struct cr__ep *ep, const cr_addr *to,
			       uint64_t upload_Bps, uint64_t download_Bps)
{
	int found = -CR_ENOTCONN;

	for (struct cr__conn *c = ep->conns; c; c = c->peer_next) {
		if ((c->hello_in || c->outgoing) &&
		    cr_addr_eq(&c->remote, to)) {
			c->up.rate_Bps = upload_Bps;
			c->down.rate_Bps = download_Bps;
			found = 0;
		}
	}
	if (!found && ep->rr)
		pump(ep);
	return found;
}
