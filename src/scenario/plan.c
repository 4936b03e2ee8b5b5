/* Turning an experiment into a node configuration.
 *
 * Peers: every address of every class, in the experiment's peer order,
 * with its class's link.  Lives: from the events file when there is one (a
 * peer with no events is never born); without one, every peer is born at 0
 * and joins the first session, and sources start at 0.  Bootstrap peers:
 * from the topology file when there is one; otherwise peers ask the tracker
 * at birth (in-process: one more peer, at the tracker's address).
 */
#include "plan.h"
#include "matrix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum cr_node_ev node_ev(enum cr_event_type t)
{
	switch (t) {
	case CR_EV_BIRTH:
		return CR_NEV_BIRTH;
	case CR_EV_DIE:
		return CR_NEV_DIE;
	case CR_EV_JOIN:
		return CR_NEV_JOIN;
	case CR_EV_LEAVE:
		return CR_NEV_LEAVE;
	case CR_EV_DEPLOY:
		return CR_NEV_DEPLOY;
	case CR_EV_TERMINATE:
		return CR_NEV_TERMINATE;
	}
	return CR_NEV_BIRTH;
}

/* Groups the file's events by peer (stable, so each peer's stay in time
 * order) and points every peer at its own.  Events after the duration are
 * left out and counted: a run may be shorter than its events file, when
 * --duration cuts it or the file was made for a longer one. */
static int place_events(struct cr_plan *pl, const struct cr_experiment *e,
			const struct cr_event *ev, size_t n, char *err,
			size_t errlen)
{
	size_t *count = calloc(e->npeers + 1, sizeof(*count));
	size_t *at = calloc(e->npeers + 1, sizeof(*at));
	int rc = 0;

	pl->events = malloc((n ? n : 1) * sizeof(*pl->events));
	if (!count || !at || !pl->events) {
		snprintf(err, errlen, "out of memory reading events");
		rc = -CR_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		size_t idx;
		if (cr_experiment_peer_index(e, &ev[i].peer, &idx)) {
			snprintf(err, errlen,
				 "%s:%u: the address is in no class",
				 e->events_path, ev[i].line);
			rc = -CR_EINVAL;
			goto out;
		}
		if (ev[i].time_ns > e->duration_ns) {
			/* sorted by time: the first is the earliest */
			if (!pl->events_skipped++) {
				pl->skipped_line = ev[i].line;
				pl->skipped_ns = ev[i].time_ns;
			}
			continue;
		}
		count[idx]++;
	}
	for (size_t i = 0, sum = 0; i < e->npeers; i++) {
		at[i] = sum;
		pl->peers[i].events = pl->events + sum;
		pl->peers[i].nevents = count[i];
		sum += count[i];
	}
	for (size_t i = 0; i < n; i++) {
		size_t idx;
		if (ev[i].time_ns > e->duration_ns)
			continue;
		cr_experiment_peer_index(e, &ev[i].peer, &idx);
		pl->events[at[idx]++] = (struct cr_node_event){
			ev[i].time_ns, (uint8_t)node_ev(ev[i].type),
			ev[i].session, ev[i].rate_Bps};
	}
out:
	free(count);
	free(at);
	return rc;
}

static int place_topology(struct cr_plan *pl, const struct cr_experiment *e,
			  const struct cr_topology_entry *t, size_t n,
			  char *err, size_t errlen)
{
	size_t total = 0, used = 0;

	for (size_t i = 0; i < n; i++)
		total += t[i].n;
	pl->boot = malloc((total ? total : 1) * sizeof(*pl->boot));
	if (!pl->boot) {
		snprintf(err, errlen, "out of memory reading the topology");
		return -CR_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		size_t idx;
		if (cr_experiment_peer_index(e, &t[i].peer, &idx)) {
			snprintf(err, errlen,
				 "%s:%u: the address is in no class",
				 e->topology_path, t[i].line);
			return -CR_EINVAL;
		}
		memcpy(pl->boot + used, t[i].neighbours,
		       t[i].n * sizeof(*pl->boot));
		pl->peers[idx].boot = pl->boot + used;
		pl->peers[idx].nboot = t[i].n;
		used += t[i].n;
	}
	/* the ends of the topology (named by others, naming none) are the
	 * tails whose rate the summary reports, as in the chains */
	for (size_t i = 0; i < total; i++) {
		size_t idx;
		if (!cr_experiment_peer_index(e, &pl->boot[i], &idx) &&
		    !pl->peers[idx].nboot)
			pl->peers[idx].is_tail = true;
	}
	return 0;
}

static int merge_params(struct cr_plan *pl, const struct cr_experiment *e,
			const struct cr_node_param *extra, size_t nextra)
{
	size_t n = 0;

	pl->params = calloc(e->nparams + nextra + 1, sizeof(*pl->params));
	if (!pl->params)
		return -CR_ENOMEM;
	for (size_t i = 0; i < e->nparams; i++) {
		bool overridden = false;
		for (size_t k = 0; k < nextra; k++)
			overridden |= !strcmp(extra[k].name, e->params[i].name);
		if (!overridden)
			pl->params[n++] = (struct cr_node_param){
				e->params[i].name, e->params[i].value};
	}
	for (size_t k = 0; k < nextra; k++)
		pl->params[n++] = extra[k];
	pl->cfg.params = pl->params;
	pl->cfg.nparams = n;
	return 0;
}

/* Every class's peers, in the experiment's order, and the in-process
 * tracker after them. */
static int place_peers(struct cr_plan *pl, const struct cr_experiment *e,
		       bool inproc, char *err, size_t errlen)
{
	struct cr_node_peer *t;

	for (size_t c = 0; c < e->nclasses; c++) {
		const struct cr_peer_class *pc = &e->classes[c];
		for (size_t i = 0; i < pc->count; i++) {
			struct cr_node_peer *p = &pl->peers[pc->first + i];
			p->addr = pc->addrs[i];
			p->limits = &pc->limits;
			p->class_name = pc->name;
			/* each host runs the peers whose IP is its own */
			p->remote = !cr_node_ip_is_local(&p->addr);
			if (e->nsessions)
				p->session = e->sessions[0].id;
		}
	}
	if (!inproc)
		return 0;
	if (cr_experiment_class_of(e, &e->tracker.addr)) {
		snprintf(err, errlen,
			 "%s: the tracker's address is a peer's: give it one "
			 "outside every class",
			 e->path);
		return -CR_EINVAL;
	}
	t = &pl->peers[e->npeers];
	t->addr = e->tracker.addr;
	t->is_tracker = true;
	t->remote = !cr_node_ip_is_local(&t->addr);
	return 0;
}

static int read_events(struct cr_plan *pl, const struct cr_experiment *e,
		       char *err, size_t errlen)
{
	struct cr_event *ev = NULL;
	size_t nev = 0;
	int rc;

	rc = cr_events_load(e->events_path, e, &ev, &nev, err, errlen);
	if (!rc)
		rc = place_events(pl, e, ev, nev, err, errlen);
	free(ev);
	if (rc)
		return rc;
	pl->has_events = true;
	pl->nevents_file = nev;
	/* the events decide when peers join */
	for (size_t i = 0; i < e->npeers; i++)
		pl->peers[i].session = 0;
	return 0;
}

static int read_topology(struct cr_plan *pl, const struct cr_experiment *e,
			 char *err, size_t errlen)
{
	struct cr_topology_entry *topo = NULL;
	size_t ntopo = 0;
	int rc;

	rc = cr_topology_load(e->topology_path, e, &topo, &ntopo, err, errlen);
	if (!rc)
		rc = place_topology(pl, e, topo, ntopo, err, errlen);
	cr_topology_free(topo, ntopo);
	return rc;
}

/* The files the experiment names: events, topology, latency matrix. */
static int read_files(struct cr_plan *pl, const struct cr_experiment *e,
		      char *err, size_t errlen)
{
	int rc;

	if (e->events_path[0] && (rc = read_events(pl, e, err, errlen)))
		return rc;
	if (e->topology_path[0] && (rc = read_topology(pl, e, err, errlen)))
		return rc;
	if (!e->matrix_path[0])
		return 0;
	rc = cr_matrix_load(e->matrix_path, &pl->matrix, &pl->cfg.nmatrix, err,
			    errlen);
	if (!rc)
		pl->cfg.matrix = pl->matrix;
	return rc;
}

static int place_sources(struct cr_plan *pl, const struct cr_experiment *e,
			 char *err, size_t errlen)
{
	for (size_t s = 0; s < e->nsessions; s++) {
		const struct cr_session_cfg *sc = &e->sessions[s];
		struct cr__source_cfg *src = &pl->sources[s];
		size_t idx;
		if (cr_experiment_peer_index(e, &sc->source, &idx)) {
			snprintf(err, errlen,
				 "%s:%u: session %u's source is in no class",
				 e->path, sc->line, sc->id);
			return -CR_EINVAL;
		}
		src->peer_index = (uint32_t)idx;
		src->session = sc->id;
		src->msg_size = sc->message_size;
		src->rate_Bps = sc->rate_Bps;
		src->on_deploy = pl->has_events;
		src->data = sc->data;
		src->path = sc->path;
		src->segment_ns = sc->segment_ns;
	}
	return 0;
}

/* With a topology file there is no tracker traffic at all. */
static void set_tracker(struct cr_node_config *cfg,
			const struct cr_experiment *e)
{
	if (e->tracker.mode == CR_TRACKER_NONE || e->topology_path[0])
		return;
	cfg->tracker.enabled = true;
	cfg->tracker.addr = e->tracker.addr;
	cfg->tracker.reply_peers = e->tracker.reply_peers;
	cfg->tracker.probe = e->tracker.liveness == CR_LIVENESS_PROBE;
	cfg->tracker.interval_ns = e->tracker.interval_ns;
	cfg->tracker.timeout_ns = e->tracker.timeout_ns;
	cfg->tracker.max_sessions_per_peer = e->tracker.max_sessions_per_peer;
	cfg->tracker.max_peers_per_session = e->tracker.max_peers_per_session;
}

static void set_config(struct cr_plan *pl, const struct cr_experiment *e,
		       const cr_algorithm *algo, size_t npeers)
{
	struct cr_node_config *cfg = &pl->cfg;

	snprintf(pl->idtext, sizeof(pl->idtext), "experiment %s %llu",
		 e->name, (unsigned long long)e->seed);
	cfg->name = e->name;
	cfg->exp_id = cr_node_experiment_id(pl->idtext);
	cfg->duration_ns = e->duration_ns;
	cfg->warmup_ns = e->warmup_ns;
	cfg->batch_ns = e->batch_ns;
	cfg->workers = e->workers;
	cfg->algo = algo;
	cfg->peers = pl->peers;
	cfg->npeers = npeers;
	cfg->sources = pl->sources;
	cfg->nsources = e->nsessions;
	cfg->seed = e->seed;
	cfg->queue_limit = e->queue_limit;
	cfg->max_msg_bytes = e->max_message;
	cfg->max_conns = e->max_connections;
	cfg->idle_timeout_ns = e->idle_timeout_ns;
	cfg->frame_timeout_ns = e->frame_timeout_ns;
	cfg->partial_limit = e->partial_limit;
	set_tracker(cfg, e);
}

int cr_plan_build(struct cr_plan *pl, const struct cr_experiment *e,
		  const cr_algorithm *algo,
		  const struct cr_node_param *extra_params, size_t nextra,
		  char *err, size_t errlen)
{
	/* with a topology file there is no tracker traffic at all */
	bool inproc = e->tracker.mode == CR_TRACKER_INPROC &&
		      !e->topology_path[0];
	size_t npeers = e->npeers + (inproc ? 1 : 0);
	int rc;

	memset(pl, 0, sizeof(*pl));
	pl->peers = calloc(npeers ? npeers : 1, sizeof(*pl->peers));
	pl->sources = calloc(e->nsessions ? e->nsessions : 1,
			     sizeof(*pl->sources));
	if (!pl->peers || !pl->sources) {
		snprintf(err, errlen, "out of memory");
		rc = -CR_ENOMEM;
		goto fail;
	}
	if ((rc = place_peers(pl, e, inproc, err, errlen)) ||
	    (rc = read_files(pl, e, err, errlen)) ||
	    (rc = place_sources(pl, e, err, errlen)))
		goto fail;
	rc = merge_params(pl, e, extra_params, nextra);
	if (rc) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	set_config(pl, e, algo, npeers);
	return 0;
fail:
	cr_plan_free(pl);
	return rc;
}

void cr_plan_free(struct cr_plan *pl)
{
	free(pl->peers);
	free(pl->events);
	free(pl->boot);
	free(pl->sources);
	free(pl->params);
	free(pl->matrix);
	memset(pl, 0, sizeof(*pl));
}
