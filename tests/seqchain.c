/* A counted, checked stream down relay chains: see seqchain.h. */
#include "seqchain.h"
#include "support.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sc_run sc;

#define SAFETY_NS (20 * CR_SEC)

struct sc_local {
	size_t idx;
	const cr_addr *down;
	size_t ndown;
	bool tail_done;
	cr_timer_id wait_timer;
};

static void sc_error(struct sc_peer *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sc_error(struct sc_peer *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->errors++) {
		va_start(ap, fmt);
		vsnprintf(s->first_error, sizeof(s->first_error), fmt, ap);
		va_end(ap);
	}
}

static int sc_bootstrap(cr_peer *p)
{
	struct sc_local *l = cr_state(p);

	l->idx = (size_t)(cr_self(p)->port - sc.cfg.base_port);
	l->ndown = cr_bootstrap_peers(p, &l->down);
	return 0;
}

static void maybe_stop(cr_peer *p, void *arg)
{
	struct sc_local *l = cr_state(p);

	(void)arg;
	if (!atomic_load(&sc.may_stop))
		return;
	if (l->wait_timer)
		cr_timer_cancel(p, l->wait_timer);
	l->wait_timer = 0;
	cr_experiment_stop(p);
}

static void tail_complete(cr_peer *p, struct sc_local *l)
{
	l->tail_done = true;
	if (atomic_fetch_add(&sc.tails_done, 1) + 1 < sc.chains.nchains)
		return;
	/* every tail has everything */
	if (atomic_load(&sc.may_stop))
		cr_experiment_stop(p);
	else
		l->wait_timer =
		    cr_timer_start(p, 0, 5 * CR_MS, maybe_stop, NULL);
}

static void forward(cr_peer *p, struct sc_local *l, struct sc_peer *s,
		    cr_msg *m)
{
	for (size_t i = 0; i < l->ndown; i++) {
		int rc = cr_send(p, &l->down[i], m, CR_TCP);
		if (rc)
			sc_error(s, "cr_send: %s", cr_strerror(rc));
	}
}

static void at_source(cr_peer *p, struct sc_local *l, struct sc_peer *s,
		      cr_msg *gen)
{
	uint64_t seq = s->generated++;
	cr_msg *m;
	uint8_t *b;

	if (cr_msg_type(gen) != CR_MSG_DATA_MIN || cr_msg_session(gen) != 1 ||
	    cr_msg_len(gen) != sc.cfg.msg_size)
		sc_error(s,
			 "generated message %llu: type %u session %u "
			 "length %zu",
			 (unsigned long long)seq, cr_msg_type(gen),
			 cr_msg_session(gen), cr_msg_len(gen));
	if (cr_msg_created_ns(gen) < s->last_created_ns)
		sc_error(s, "generated message %llu created before the last",
			 (unsigned long long)seq);
	s->last_created_ns = cr_msg_created_ns(gen);
	if (!cr_is_self(p, cr_msg_source(gen)))
		sc_error(s, "generated message from another source");

	m = cr_msg_new(p, SC_TYPE, 1, sc.cfg.msg_size);
	if (!m) {
		sc_error(s, "cr_msg_new failed");
		return;
	}
	b = cr_msg_payload_mut(m);
	if (!b) {
		sc_error(s, "a new message is not writable");
		cr_msg_release(m);
		return;
	}
	for (uint32_t i = 8; i < sc.cfg.msg_size; i++)
		b[i] = t_pattern(seq, i);
	t_put64(b, seq);
	forward(p, l, s, m);
	if (l->ndown && cr_msg_payload_mut(m))
		sc_error(s, "a sent message is still writable");
	cr_msg_release(m);
}

static void sc_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	struct sc_local *l = cr_state(p);
	struct sc_peer *s = &sc.st[l->idx];
	const uint8_t *b = cr_msg_payload(m);
	uint64_t seq;

	if (cr_is_self(p, from) && cr_msg_len(m) == 0) {
		/* the end of the counted stream: after the last, once */
		if (s->generated != sc.cfg.count || s->ends++)
			sc_error(s, "end of stream after %llu messages",
				 (unsigned long long)s->generated);
		return;
	}
	if (cr_is_self(p, from)) {
		at_source(p, l, s, m);
		return;
	}
	if (!cr_addr_eq(from, &sc.up[l->idx])) {
		sc_error(s, "message from a peer that is not upstream");
		return;
	}
	if (!cr_addr_eq(cr_msg_source(m), &sc.chains.peers[0].addr))
		sc_error(s, "message whose source is not the source");
	if (cr_msg_payload_mut(m))
		sc_error(s, "a received message is writable");
	if (cr_msg_type(m) != SC_TYPE || cr_msg_session(m) != 1 ||
	    cr_msg_len(m) != sc.cfg.msg_size) {
		sc_error(s, "message %llu: type %u session %u length %zu",
			 (unsigned long long)s->next, cr_msg_type(m),
			 cr_msg_session(m), cr_msg_len(m));
		return;
	}
	seq = t_get64(b);
	if (seq != s->next)
		sc_error(s, "expected message %llu, got %llu",
			 (unsigned long long)s->next, (unsigned long long)seq);
	for (uint32_t i = 8; i < sc.cfg.msg_size; i++) {
		if (b[i] != t_pattern(seq, i)) {
			sc_error(s, "message %llu: byte %u differs",
				 (unsigned long long)seq, i);
			break;
		}
	}
	s->next = seq + 1;
	s->received++;
	s->bytes += cr_msg_len(m);
	forward(p, l, s, m);
	if (sc.chains.peers[l->idx].is_tail && s->received == sc.cfg.count &&
	    !l->tail_done)
		tail_complete(p, l);
}

static void sc_control(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	struct sc_local *l = cr_state(p);
	struct sc_peer *s = &sc.st[l->idx];

	if (cr_msg_type(m) == SC_SENTINEL) {
		s->sentinels++;
		atomic_fetch_add(&sc.sentinels, 1);
		return;
	}
	sc_error(s, "unexpected control message of type %u", cr_msg_type(m));
}

static void sc_departed(cr_peer *p, const cr_addr *who)
{
	struct sc_local *l = cr_state(p);
	struct sc_peer *s = &sc.st[l->idx];

	s->departed++;
	for (size_t i = 0; i < sc.chains.npeers; i++)
		if (cr_addr_eq(who, &sc.chains.peers[i].addr))
			s->departed_chain++;
}

const cr_algorithm sc_algorithm = {
    .api_version = CR_API_VERSION,
    .name = "seqchain",
    .description = "numbered messages down relay chains, checked",
    .state_size = sizeof(struct sc_local),
    .bootstrap = sc_bootstrap,
    .process = sc_control,
    .process_data = sc_data,
    .peer_departed = sc_departed,
};

int sc_start(const struct sc_cfg *cfg)
{
	struct cr_node_config nc;
	struct cr__source_cfg src;
	cr_addr base = t_addr(cfg->base_port);
	int rc;

	memset(&sc, 0, sizeof(sc));
	sc.cfg = *cfg;
	atomic_store(&sc.may_stop, !cfg->hold);
	if (cr_chains_build(&sc.chains, &base, cfg->receivers, cfg->chain_len,
			    sc.err, sizeof(sc.err)))
		return -1;
	sc.st = calloc(sc.chains.npeers, sizeof(*sc.st));
	sc.up = calloc(sc.chains.npeers, sizeof(*sc.up));
	if (!sc.st || !sc.up) {
		snprintf(sc.err, sizeof(sc.err), "out of memory");
		return -1;
	}
	for (size_t i = 0; i < sc.chains.npeers; i++)
		for (size_t k = 0; k < sc.chains.peers[i].nboot; k++)
			sc.up[sc.chains.peers[i].boot[k].port -
			      cfg->base_port] = sc.chains.peers[i].addr;

	memset(&src, 0, sizeof(src));
	src.peer_index = 0;
	src.session = 1;
	src.msg_size = cfg->msg_size;
	src.rate_Bps = cfg->rate_Bps;
	src.count = cfg->count;

	memset(&nc, 0, sizeof(nc));
	nc.name = "seqchain";
	nc.exp_id = cfg->exp_id;
	nc.duration_ns = SAFETY_NS;
	nc.workers = cfg->workers;
	nc.algo = cfg->algo ? cfg->algo : &sc_algorithm;
	nc.params = cfg->params;
	nc.nparams = cfg->nparams;
	nc.peers = sc.chains.peers;
	nc.npeers = sc.chains.npeers;
	nc.sources = &src;
	nc.nsources = 1;
	nc.max_msg_bytes = cfg->max_msg;
	nc.queue_limit = cfg->queue_limit;
	nc.log_level = cfg->log_dir ? cfg->log_level : CR_LOG_ERROR;
	nc.log_dir = cfg->log_dir;
	nc.max_conns = cfg->max_conns;
	nc.idle_timeout_ns = cfg->idle_timeout_ns;
	nc.frame_timeout_ns = cfg->frame_timeout_ns;
	nc.partial_limit = cfg->partial_limit;
	nc.stats_interval_ns = 10 * CR_MS;
	rc = cr_node_create(&nc, &sc.node, sc.err, sizeof(sc.err));
	if (rc)
		return -1;
	rc = cr_node_start(sc.node, sc.err, sizeof(sc.err));
	return rc ? -1 : 0;
}

void sc_finish(void)
{
	while (!cr_node_wait(sc.node, 100 * CR_MS))
		;
	cr_node_join(sc.node);
	cr_node_result(sc.node, &sc.res);
}

const char *sc_verify(void)
{
	static char why[1024];
	const uint64_t count = sc.cfg.count, size = sc.cfg.msg_size;
	uint64_t switched = 0;

#define WRONG(...)                                                             \
	do {                                                                   \
		snprintf(why, sizeof(why), __VA_ARGS__);                       \
		return why;                                                    \
	} while (0)
	for (size_t i = 0; i < sc.chains.npeers; i++) {
		const struct sc_peer *s = &sc.st[i];
		const struct cr__peer_stats *ps =
		    cr_node_peer_stats(sc.node, i);
		uint64_t ndown = sc.chains.peers[i].nboot;

		if (s->errors)
			WRONG("peer %zu: %llu errors, the first: %s", i,
			      (unsigned long long)s->errors, s->first_error);
		if (s->departed_chain)
			WRONG("peer %zu: a peer of the chains departed", i);
		if (ps->data_msgs_out != count * ndown ||
		    ps->data_bytes_out != count * ndown * size)
			WRONG("peer %zu sent %llu messages (%llu bytes), "
			      "expected %llu",
			      i, (unsigned long long)ps->data_msgs_out,
			      (unsigned long long)ps->data_bytes_out,
			      (unsigned long long)(count * ndown));
		switched += ps->data_msgs_in + ps->ctrl_msgs_in;
		if (ps->ctrl_msgs_in != s->sentinels)
			WRONG("peer %zu: %llu control messages in, %llu seen",
			      i, (unsigned long long)ps->ctrl_msgs_in,
			      (unsigned long long)s->sentinels);
		if (i == 0) {
			if (ps->data_msgs_in)
				WRONG("the source received data");
			if (s->generated == count && s->ends != 1)
				WRONG("the source saw %llu ends of its stream",
				      (unsigned long long)s->ends);
			if (s->generated != count)
				WRONG("the source generated %llu of %llu",
				      (unsigned long long)s->generated,
				      (unsigned long long)count);
			continue;
		}
		if (s->received != count || s->bytes != count * size ||
		    s->next != count)
			WRONG("peer %zu received %llu messages (%llu bytes), "
			      "expected %llu",
			      i, (unsigned long long)s->received,
			      (unsigned long long)s->bytes,
			      (unsigned long long)count);
		if (ps->data_msgs_in != count ||
		    ps->data_bytes_in != count * size)
			WRONG("peer %zu: the engine counted %llu messages in "
			      "(%llu bytes), expected %llu",
			      i, (unsigned long long)ps->data_msgs_in,
			      (unsigned long long)ps->data_bytes_in,
			      (unsigned long long)count);
	}
	if (atomic_load(&sc.tails_done) != sc.chains.nchains)
		WRONG("%zu of %zu tails complete", atomic_load(&sc.tails_done),
		      sc.chains.nchains);
	if (sc.res.messages_switched != switched)
		WRONG("%llu messages switched, expected %llu",
		      (unsigned long long)sc.res.messages_switched,
		      (unsigned long long)switched);
	if (sc.res.interrupted)
		WRONG("the experiment says it was interrupted");
#undef WRONG
	return NULL;
}

void sc_cleanup(void)
{
	cr_node_destroy(sc.node);
	cr_chains_free(&sc.chains);
	free(sc.st);
	free(sc.up);
	memset(&sc, 0, sizeof(sc));
}

bool sc_wait_for(bool (*cond)(void))
{
	for (int i = 0; i < 2000; i++) {
		if (cond())
			return true;
		if (cr_node_wait(sc.node, 10 * CR_MS))
			return cond();
	}
	return false;
}

bool sc_streaming(void)
{
	int64_t now;
	uint64_t bytes, up;

	cr_node_live(sc.node, &now, &bytes, &up);
	return bytes > 0;
}
