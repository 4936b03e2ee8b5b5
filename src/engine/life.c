/* A peer's life: its birth (sockets opened, the tracker asked, the
 * algorithm bootstrapped), the sessions it joins and leaves, the events
 * of its life as the experiment plans them, and its end, the same
 * whether it dies during the run or the run ends around it.
 */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

static void join(struct cr_peer *p, uint16_t s);

void cr__peer_bootstrap(struct cr_peer *p)
{
	if (p->algo->bootstrap) {
		int e = p->algo->bootstrap(p);
		if (e)
			cr__plog(p, CR_LOG_WARN, "bootstrap returned %d (%s)", e,
				 cr_strerror(e));
	}
	p->booted = true;
	if (p->birth_session && p->ep.alive)
		join(p, p->birth_session);
}

bool cr__peer_born_at_start(const struct cr_peer *p)
{
	return !p->events ||
	       (p->nevents && p->events[0].type == CR_NEV_BIRTH &&
		p->events[0].time_ns <= 0);
}

static void peer_event(void *ctx, void *arg);

static void birth(void *ctx, void *arg)
{
	struct cr_peer *p = ctx;
	const struct cr_node_tracker *tc = &p->node->cfg.tracker;
	char err[256];

	CR__UNUSED(arg);
	if (p->ep.alive)
		return;
	if (cr__tp_closing(&p->ep) || cr__work_closing(p)) {
		/* reborn at the instant it died: its old sockets are still
		 * closing, or works of its last life still run (work.c); be
		 * born a moment later */
		cr__worker_timer(p->w, cr__clock_now(&p->node->clock) + CR_MS,
				 0, birth, p, NULL, p);
		return;
	}
	if (!cr__tp_is_open(&p->ep) && cr__tp_open(&p->ep, err, sizeof(err))) {
		p->st.failed_births++;
		cr__plog(p, CR_LOG_ERROR, "birth failed: %s", err);
		cr__tp_close(&p->ep, false);
		return;
	}
	p->ep.alive = true;
	p->work.closed = false;
	p->st.births++;
	p->st.born_ns = cr__clock_now(&p->node->clock);
	cr_rand_seed(&p->rand, p->node->seed ^ ((uint64_t)p->index << 20) ^
				    p->st.births);
	if (p->is_tracker_peer) {
		if (cr__tracker_start(p))
			cr__plog(p, CR_LOG_ERROR, "tracker: out of memory");
		return;
	}
	cr__plog(p, CR_LOG_INFO, "birth (%s)",
		 p->algo->name);
	/* A peer given no bootstrap peers asks the tracker, if there is one,
	 * and bootstraps when it answers. */
	if (tc->enabled && !p->nboot &&
	    !cr__tracker_register(p, p->register_session))
		return;
	cr__peer_bootstrap(p);
}

static bool in_session(const struct cr_peer *p, uint16_t s)
{
	for (size_t i = 0; i < p->nsessions; i++)
		if (p->sessions[i] == s)
			return true;
	return false;
}

static void join(struct cr_peer *p, uint16_t s)
{
	uint16_t *v;

	if (in_session(p, s))
		return;
	v = realloc(p->sessions, (p->nsessions + 1) * sizeof(*v));
	if (!v)
		return;
	p->sessions = v;
	p->sessions[p->nsessions++] = s;
	if (!p->join_ns)
		p->join_ns = cr__clock_now(&p->node->clock);
	cr__plog(p, CR_LOG_INFO, "join session %u", s);
	if (p->algo->join_session)
		p->algo->join_session(p, s);
}

static void leave(struct cr_peer *p, uint16_t s)
{
	for (size_t i = 0; i < p->nsessions; i++) {
		if (p->sessions[i] != s)
			continue;
		p->sessions[i] = p->sessions[--p->nsessions];
		cr__plog(p, CR_LOG_INFO, "leave session %u", s);
		if (p->algo->leave_session)
			p->algo->leave_session(p, s);
		return;
	}
}

/* What a life leaves behind once it ends in death: a new life asks the
 * tracker again, has no query out, and joins only what its own events say
 * (its events to come stay scheduled: they are owned by the node). */
static void forget_life(struct cr_peer *p)
{
	p->booted = false;
	p->tracker_wait = false;
	p->tracker_wait_timer = 0;
	/* a query out gets no answer: its timer goes with the others */
	p->query_wait = false;
	p->query_timer = 0;
	p->query_next_ns = 0;
	if (p->boot_from_tracker) {
		free(p->boot);
		p->boot = NULL;
		p->nboot = 0;
		p->boot_from_tracker = false;
	}
	p->birth_session = p->cfg_session;
}

void cr__peer_end_finish(struct cr_peer *p)
{
	if (p->work.destroy_due) {
		p->work.destroy_due = false;
		p->algo->destroy(p);
	}
	if (p->work.wipe_due) {
		p->work.wipe_due = false;
		if (p->algo->state_size)
			memset(p->state, 0, p->algo->state_size);
	}
}

void cr__peer_end(struct cr_peer *p, enum cr__peer_end how)
{
	bool alive = p->ep.alive;
	bool dies = how == CR__PEER_DIES;
	bool settled;

	if (dies) {
		if (!alive)
			return;
		cr__plog(p, CR_LOG_INFO, "die");
		p->st.deaths++;
	}
	if (alive)
		p->st.alive_ns += cr__clock_now(&p->node->clock) - p->st.born_ns;
	if (p->source)
		cr__source_stop(p->source);
	/* works not started are cancelled, their done called; the destroy
	 * (and a dead peer's wipe) waits for those still running */
	settled = cr__work_peer_end(p);
	if (!dies && p->tracker)
		cr__tracker_stop(p);
	else if (alive && p->booted && p->algo->destroy)
		p->work.destroy_due = true;
	if (settled && p->work.destroy_due) {
		p->work.destroy_due = false;
		p->algo->destroy(p);
	}
	p->ep.alive = false;
	if (dies)
		forget_life(p);
	cr__timers_cancel_owner(&p->w->net.timers, p);
	/* a death resets its sockets, no goodbye (neighbours learn it from
	 * TCP); at the run's end they close in order */
	cr__tp_close(&p->ep, dies);
	if (!dies) {
		cr__tp_ep_summary(&p->ep);
		return;
	}
	if (settled && p->algo->state_size)
		memset(p->state, 0, p->algo->state_size);
	else if (!settled)
		p->work.wipe_due = true;
	free(p->sessions);
	p->sessions = NULL;
	p->nsessions = 0;
}

static void peer_event(void *ctx, void *arg)
{
	struct cr_peer *p = ctx;
	const struct cr_node_event *e = arg;

	switch (e->type) {
	case CR_NEV_BIRTH:
		birth(p, NULL);
		break;
	case CR_NEV_DIE:
		cr__peer_end(p, CR__PEER_DIES);
		break;
	case CR_NEV_JOIN:
		if (!p->ep.alive)
			break;
		if (!p->booted)
			p->birth_session = e->session; /* joins once booted */
		else
			join(p, e->session);
		break;
	case CR_NEV_LEAVE:
		if (p->ep.alive && p->booted)
			leave(p, e->session);
		break;
	case CR_NEV_DEPLOY:
		if (p->ep.alive && p->source &&
		    p->source->cfg.session == e->session) {
			/* this deploy's rate, or the session's own */
			p->source->rate_Bps = e->rate_Bps ? e->rate_Bps
						 : p->source->cfg.rate_Bps;
			p->source->done = false;
			p->source->produced = 0;
			cr__source_start(p, p->source);
		}
		break;
	case CR_NEV_TERMINATE:
		if (p->source && p->source->cfg.session == e->session)
			cr__source_stop(p->source);
		break;
	}
}

/* A session's source stopped: every local member leaves it. */
static void session_end(void *ctx, void *arg)
{
	struct cr__worker *w = ctx;
	uint16_t s = (uint16_t)(uintptr_t)arg;

	for (size_t i = 0; i < w->npeers; i++)
		if (w->peers[i]->ep.alive && w->peers[i]->booted)
			leave(w->peers[i], s);
}

static void source_begin(void *ctx, void *arg)
{
	struct cr_peer *p = ctx;

	CR__UNUSED(arg);
	if (p->ep.alive && p->source)
		cr__source_start(p, p->source);
}

/* Every peer's events go into its worker's timers as the run starts: no
 * central server is asked while the experiment runs. */
void cr__life_schedule(struct cr__worker *w)
{
	struct cr__node *n = w->node;

	for (size_t i = 0; i < w->npeers; i++) {
		struct cr_peer *p = w->peers[i];
		if (!p->events) {
			cr__worker_timer(w, 0, 0, birth, p, NULL, NULL);
			continue;
		}
		for (size_t k = 0; k < p->nevents; k++) {
			const struct cr_node_event *e = &p->events[k];
			cr__worker_timer(w, e->time_ns, 0, peer_event, p,
					 (void *)e, NULL);
		}
	}
	/* a session ends for every member, wherever its source is */
	for (size_t i = 0; i < n->npeers; i++)
		for (size_t k = 0; k < n->peers[i].nevents; k++) {
			const struct cr_node_event *e = &n->peers[i].events[k];
			if (e->type == CR_NEV_TERMINATE)
				cr__worker_timer(w, e->time_ns, 0, session_end,
						 w,
						 (void *)(uintptr_t)e->session,
						 NULL);
		}
	for (size_t i = 0; i < w->npeers; i++)
		if (w->peers[i]->source && !w->peers[i]->source->cfg.on_deploy)
			cr__worker_timer(w, w->peers[i]->source->cfg.start_ns,
					 0, source_begin, w->peers[i], NULL,
					 w->peers[i]);
}
