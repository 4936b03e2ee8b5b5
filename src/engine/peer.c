/* Peers: dispatch of incoming messages and the engine services an
 * algorithm calls (send, remove_peer, timers, logging; parameters are
 * params.c's).
 *
 * Every function here runs on the peer's worker thread.
 */
#include "engine.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A traced peer's message, in or out. */
static void trace_msg(const struct cr_peer *p, const char *dir,
		      const cr_addr *other, const struct cr_msg *m)
{
	char t[CR_ADDR_STRLEN];

	cr__plog(p, CR_LOG_TRACE, "%s%s type %u session %u %u B %s %s", dir,
		 m->type >= CR_MSG_DATA_MIN ? "data" : "control", m->type,
		 m->session, (unsigned)m->len, *dir == 'i' ? "from" : "to",
		 cr_addr_format(other, t, sizeof(t)));
}

static void peer_dispatch(struct cr_peer *p, const cr_addr *from,
			  struct cr_msg *m)
{
	if (!p->ep.alive)
		return;
	if (m->type < CR_MSG_CONTROL_MIN) {
		p->st.tracker_bytes_in += m->len;
		cr__tracker_handle(p, from, m);
		return;
	}
	if (p->tracker)
		return; /* the tracker runs no algorithm */
	p->w->msgs_switched++;
	if (p->log_level >= CR_LOG_TRACE)
		trace_msg(p, "in ", from, m);
	if (m->type >= CR_MSG_DATA_MIN) {
		p->st.data_msgs_in++;
		p->st.data_bytes_in += m->len;
		if (p->algo->process_data)
			p->algo->process_data(p, from, m);
	} else {
		p->st.ctrl_msgs_in++;
		p->st.ctrl_bytes_in += m->len;
		if (p->algo->process)
			p->algo->process(p, from, m);
	}
}

/* A message left the peer's link: written whole to its TCP connection, or
 * sent as a datagram.  Counts it as the algorithm's or the tracker's. */
static void peer_sent(struct cr_peer *p, const struct cr_msg *m)
{
	if (m->type >= CR_MSG_DATA_MIN) {
		p->st.data_msgs_out++;
		p->st.data_bytes_out += m->len;
	} else if (m->type >= CR_MSG_CONTROL_MIN) {
		p->st.ctrl_msgs_out++;
		p->st.ctrl_bytes_out += m->len;
	} else if (m->type != CR__T_HELLO && m->type != CR__T_GOODBYE) {
		p->st.tracker_bytes_out += m->len;
	}
}

/* The endpoint's backlog fell below half the queue limit on every
 * connection: a source that waited for that produces again. */
static void peer_backlog(struct cr_peer *p, bool full)
{
	if (!full && p->source && p->source->waiting_drain)
		cr__source_drained(p->source);
}

static void peer_departed(struct cr_peer *p, const cr_addr *who)
{
	char t[CR_ADDR_STRLEN];

	/* Once the experiment has ended, workers close their peers'
	 * connections one after another: that is no departure. */
	if (!p->ep.alive || p->w->stopping || atomic_load(&p->node->ended))
		return;
	p->st.departures++;
	cr__plog(p, CR_LOG_INFO, "neighbour %s lost",
		 cr_addr_format(who, t, sizeof(t)));
	if (p->tracker) {
		cr__tracker_departed(p, who);
		return;
	}
	if (cr_addr_eq(who, &p->node->cfg.tracker.addr) &&
	    p->node->cfg.tracker.enabled)
		return; /* the tracker is no neighbour of the algorithm */
	if (p->algo->peer_departed)
		p->algo->peer_departed(p, who);
}

/* --- what the network reports ------------------------------------------------ */

static struct cr_peer *peer_of(const struct cr__ep *ep)
{
	return cr__container_of(ep, struct cr_peer, ep);
}

static void net_frame(struct cr__ep *ep, const cr_addr *from,
		      struct cr_msg *m)
{
	peer_dispatch(peer_of(ep), from, m);
}

static void net_sent(struct cr__ep *ep, const struct cr_msg *m)
{
	peer_sent(peer_of(ep), m);
}

static void net_departed(struct cr__ep *ep, const cr_addr *who)
{
	peer_departed(peer_of(ep), who);
}

static void net_backlog(struct cr__ep *ep, bool full)
{
	peer_backlog(peer_of(ep), full);
}

static void net_log(const struct cr__ep *ep, int level, const char *fmt,
		    va_list ap)
{
	const struct cr_peer *p = peer_of(ep);

	if (level <= p->log_level)
		cr__log_write(&p->w->log, level, &p->addr, fmt, ap);
}

const struct cr__net_ops cr__peer_net_ops = {
	.frame = net_frame,
	.sent = net_sent,
	.departed = net_departed,
	.backlog = net_backlog,
	.log = net_log,
	.rearm = cr__worker_net_rearm,
};

/* --- public services -------------------------------------------------------- */

cr_msg *cr_msg_new(cr_peer *p, uint8_t type, uint16_t session,
		   size_t payload_len)
{
	struct cr__node *n = p->node;

	if (type < CR_MSG_CONTROL_MIN || payload_len > n->max_msg)
		return NULL;
	return cr__msg_new_local(&p->w->net.pool, type, session,
				 (uint32_t)payload_len, &p->addr,
				 cr__clock_now(&n->clock), n->exp_tag);
}

size_t cr_queued_bytes(const cr_peer *p)
{
	return p->ep.out_bytes;
}

size_t cr_upload_queued(const cr_peer *p)
{
	return cr__tp_upload_queued(&p->ep);
}

int cr_send(cr_peer *p, const cr_addr *to, cr_msg *m, cr_proto proto)
{
	int err;

	if (!p || !to || !m || !p->ep.alive ||
	    (to->family != 4 && to->family != 6) ||
	    (proto != CR_TCP && proto != CR_UDP))
		return -CR_EINVAL;
	if (m->len > p->node->max_msg)
		return -CR_EMSGSIZE;
	m->mflags &= (uint8_t)~CR__MSG_WRITABLE;
	err = cr__tp_send(&p->ep, to, m, proto);
	if (err)
		return err; /* refused: not sent, not counted */
	if (p->log_level >= CR_LOG_TRACE)
		trace_msg(p, proto == CR_UDP ? "out udp " : "out ", to, m);
	/* what left the link is counted as it leaves (peer_sent) */
	if (m->type >= CR_MSG_DATA_MIN) {
		p->st.data_msgs_offered++;
		p->st.data_bytes_offered += m->len;
	}
	return 0;
}

int cr_remove_peer(cr_peer *p, const cr_addr *who)
{
	return cr__tp_disconnect(&p->ep, who);
}

void cr_link_get(const cr_peer *p, cr_link_limits *out)
{
	*out = p->ep.lim;
}

int cr_link_set(cr_peer *p, const cr_link_limits *l)
{
	return cr__tp_link_set(&p->ep, l);
}

int cr_link_set_connection(cr_peer *p, const cr_addr *to, uint64_t upload_Bps,
			   uint64_t download_Bps)
{
	return cr__tp_link_set_connection(&p->ep, to, upload_Bps,
					  download_Bps);
}

const cr_addr *cr_self(const cr_peer *p)
{
	return &p->addr;
}

bool cr_is_self(const cr_peer *p, const cr_addr *a)
{
	return cr_addr_eq(&p->addr, a);
}

void *cr_state(cr_peer *p)
{
	return p->state;
}

size_t cr_bootstrap_peers(const cr_peer *p, const cr_addr **out)
{
	*out = p->boot;
	return p->nboot;
}

cr_rand *cr_peer_rand(cr_peer *p)
{
	return &p->rand;
}

int64_t cr_now(const cr_peer *p)
{
	return cr__clock_now(&p->node->clock);
}

cr_timer_id cr_timer_start(cr_peer *p, int64_t delay_ns, int64_t period_ns,
			   cr_timer_cb cb, void *arg)
{
	int64_t now = cr__clock_now(&p->node->clock);

	if (!p->ep.alive || !cb)
		return 0;
	if (delay_ns < 0)
		delay_ns = 0;
	/* the largest delays mean never: saturate rather than overflow */
	return cr__worker_timer_user(p->w, p,
				     now > 0 && delay_ns > INT64_MAX - now
					     ? INT64_MAX
					     : now + delay_ns,
				     period_ns, cb, arg);
}

int cr_timer_cancel(cr_peer *p, cr_timer_id id)
{
	return cr__timer_cancel(&p->w->net.timers, id);
}

void cr_vlog(const cr_peer *p, int level, const char *fmt, va_list ap)
{
	if (level <= p->log_level)
		cr__log_write(&p->w->log, level, &p->addr, fmt, ap);
}

void cr__plog(const struct cr_peer *p, int level, const char *fmt, ...)
{
	va_list ap;

	if (level > p->log_level)
		return;
	va_start(ap, fmt);
	cr__log_write(&p->w->log, level, &p->addr, fmt, ap);
	va_end(ap);
}

void cr_log(const cr_peer *p, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cr_vlog(p, level, fmt, ap);
	va_end(ap);
}

int cr_session_info_get(const cr_peer *p, uint16_t session,
			cr_session_info *out)
{
	const struct cr__node *n = p->node;

	for (size_t i = 0; i < n->nsources; i++) {
		const struct cr__source_cfg *c = &n->sources[i].cfg;
		if (c->session != session)
			continue;
		out->session = session;
		out->source = n->peers[c->peer_index].addr;
		out->rate_Bps = c->rate_Bps;
		out->message_size = c->msg_size;
		out->segment_ns = c->segment_ns ? c->segment_ns : CR_SEC;
		out->start_ns = atomic_load_explicit(&n->sources[i].pub_start_ns,
						     memory_order_relaxed);
		if (out->start_ns < 0 && !c->on_deploy && n->peers[c->peer_index].remote)
			out->start_ns = c->start_ns; /* as planned, elsewhere */
		return 0;
	}
	return -CR_ENOENT;
}

void cr_report_playback(cr_peer *p, const cr_playback_report *r)
{
	p->st.play_reported = true;
	p->st.play = *r;
}

/* --- the algorithm's own results ------------------------------------------ */

static bool value_name_ok(const char *name)
{
	size_t n = 0;

	if (!((*name >= 'a' && *name <= 'z') || (*name >= 'A' && *name <= 'Z')))
		return false;
	for (; name[n]; n++)
		if (n == CR_REPORT_NAME_MAX ||
		    !((name[n] >= 'a' && name[n] <= 'z') ||
		      (name[n] >= 'A' && name[n] <= 'Z') ||
		      (name[n] >= '0' && name[n] <= '9') || name[n] == '_'))
			return false;
	return true;
}

/* The index of a value's name in the node's table, added if new: shared
 * by every worker, so a new name is added under the lock, and looked up
 * without it. */
static int value_index(struct cr__node *n, const char *name)
{
	uint32_t k = atomic_load_explicit(&n->nvalues, memory_order_acquire);
	int found = -CR_ENOSPC;

	for (uint32_t i = 0; i < k; i++)
		if (!strcmp(n->value_names[i], name))
			return (int)i;
	pthread_mutex_lock(&n->values_lock);
	k = atomic_load_explicit(&n->nvalues, memory_order_relaxed);
	for (uint32_t i = 0; i < k && found < 0; i++)
		if (!strcmp(n->value_names[i], name))
			found = (int)i;
	if (found < 0 && k < CR_REPORT_VALUES_MAX) {
		strcpy(n->value_names[k], name);
		atomic_store_explicit(&n->nvalues, k + 1, memory_order_release);
		found = (int)k;
	}
	pthread_mutex_unlock(&n->values_lock);
	return found;
}

static int report_value(cr_peer *p, const char *name, double v, bool add)
{
	int k;

	if (!p || !name || !isfinite(v) || !value_name_ok(name))
		return -CR_EINVAL;
	k = value_index(p->node, name);
	if (k < 0) {
		/* said once a run: the algorithm may well ask again and again */
		if (!atomic_exchange(&p->node->values_full_said, true))
			cr__plog(p, CR_LOG_WARN,
				 "value '%s' not reported: an experiment takes "
				 "at most %d names",
				 name, CR_REPORT_VALUES_MAX);
		return k;
	}
	if (add && p->st.values_set & 1u << k)
		v += p->st.values[k];
	if (!isfinite(v))
		return -CR_EINVAL;
	p->st.values[k] = v;
	p->st.values_set |= 1u << k;
	return 0;
}

int cr_report_value(cr_peer *p, const char *name, double v)
{
	return report_value(p, name, v, false);
}

int cr_report_add(cr_peer *p, const char *name, double delta)
{
	return report_value(p, name, delta, true);
}

bool cr_plays_out(const cr_peer *p)
{
	return p && p->playout_fd >= 0;
}

void cr_play_out(cr_peer *p, uint16_t session, const void *data, size_t len)
{
	const uint8_t *b = data;

	if (!p || p->playout_fd < 0)
		return;
	while (len) {
		ssize_t w = write(p->playout_fd, b, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			cr__plog(p, CR_LOG_ERROR,
				 "play-out of session %u stops: %s", session,
				 strerror(errno));
			close(p->playout_fd);
			p->playout_fd = -1;
			return;
		}
		b += w;
		len -= (size_t)w;
	}
}

void cr_experiment_stop(cr_peer *p)
{
	cr_node_stop(p->node, false);
}
