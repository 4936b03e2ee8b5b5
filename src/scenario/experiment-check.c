/* Experiment files: what only the whole file shows, checked after its last
 * line (see experiment.c for the other files of the reader): required keys
 * and sections, the warmup within the duration, sessions' sources among
 * the peers, the tracker's address and times.  Each error names the line
 * of the key or section at fault.
 */
#include "experiment-int.h"

#include <string.h>

static double seconds(int64_t ns)
{
	return (double)ns / CR_SEC;
}

static const struct sect *find_sect(struct loader *ld, enum kind k)
{
	for (size_t i = 0; i < ld->nsecs; i++)
		if (ld->secs[i].kind == k)
			return &ld->secs[i];
	return NULL;
}

static int check_required(struct loader *ld)
{
	char title[CR_NAME_MAX + 16];
	unsigned eof = ld->lineno ? ld->lineno : 1;

	for (size_t i = 0; i < ld->nsecs; i++) {
		const struct sect *s = &ld->secs[i];
		for (size_t k = 0; k < cr__exp_kinds[s->kind].nkeys; k++)
			if (cr__exp_kinds[s->kind].keys[k].required &&
			    !s->key_line[k])
				return cr__exp_fail_at(
				    ld, s->line, -CR_EINVAL,
				    "%s has no '%s', which is required",
				    cr__exp_sect_title(ld, s, title,
						       sizeof(title)),
				    cr__exp_kinds[s->kind].keys[k].name);
	}
	if (!find_sect(ld, K_EXPERIMENT))
		return cr__exp_fail_at(
		    ld, eof, -CR_EINVAL,
		    "no [experiment] section: it gives at least "
		    "the name and the duration");
	if (!ld->e->nclasses)
		return cr__exp_fail_at(
		    ld, eof, -CR_EINVAL,
		    "no [class NAME] section: the peers are in "
		    "classes, with a count and addresses");
	return 0;
}

static int finish_experiment(struct loader *ld)
{
	const struct sect *s = find_sect(ld, K_EXPERIMENT);
	const struct cr_experiment *e = ld->e;

	if (e->warmup_ns >= e->duration_ns)
		return cr__exp_fail_at(ld, s->key_line[EX_WARMUP], -CR_EINVAL,
				       "warmup (%g s) must be shorter than the "
				       "duration (%g s, line %u)",
				       seconds(e->warmup_ns),
				       seconds(e->duration_ns),
				       s->key_line[EX_DURATION]);
	return 0;
}

static int finish_sessions(struct loader *ld)
{
	const struct cr_experiment *e = ld->e;
	uint32_t max = e->max_message ? e->max_message : 16u << 20;
	char buf[CR_ADDR_STRLEN];
	size_t idx;

	for (size_t i = 0; i < ld->nsecs; i++) {
		const struct sect *s = &ld->secs[i];
		const struct cr_session_cfg *ss;

		/* only a session's index is one into e->sessions, which is
		 * NULL in a file without any */
		if (s->kind != K_SESSION)
			continue;
		ss = &e->sessions[s->index];
		if (cr_experiment_peer_index(e, &ss->source, &idx))
			return cr__exp_fail_at(
			    ld, s->key_line[SE_SOURCE], -CR_EINVAL,
			    "session %u: source %s is in no class; "
			    "every peer belongs to a [class NAME]",
			    ss->id,
			    cr_addr_format(&ss->source, buf, sizeof(buf)));
		if (ss->message_size > max)
			return cr__exp_fail_at(
			    ld,
			    s->key_line[SE_MSGSIZE] ? s->key_line[SE_MSGSIZE]
						    : s->line,
			    -CR_EINVAL,
			    "session %u: message_size %u is above "
			    "max_message (%u)",
			    ss->id, ss->message_size, max);
	}
	return 0;
}

/* Tracker keys that a tracker of mode none would ignore. */
static int tracker_unused(struct loader *ld, const struct sect *s,
			  bool mode_given)
{
	for (size_t k = TR_ADDRESS; k < TR__N; k++)
		if (s->key_line[k])
			return cr__exp_fail_at(
			    ld, s->key_line[k], -CR_EINVAL,
			    "the tracker's mode is none%s, so '%s' "
			    "has no use: set mode = inproc or "
			    "external, or remove it",
			    mode_given ? ""
				       : " (the default with a "
					 "topology file)",
			    cr__exp_kinds[K_TRACKER].keys[k].name);
	return 0;
}

static int finish_tracker(struct loader *ld)
{
	static const struct sect none = {.kind = K_TRACKER};
	const struct sect *s = find_sect(ld, K_TRACKER);
	struct cr_tracker_cfg *t = &ld->e->tracker;
	char buf[CR_ADDR_STRLEN];
	size_t idx;

	if (!s)
		s = &none;
	if (!s->key_line[TR_MODE])
		t->mode = ld->e->topology_path[0] ? CR_TRACKER_NONE
						  : CR_TRACKER_INPROC;
	if (t->mode == CR_TRACKER_NONE)
		return tracker_unused(ld, s, s->key_line[TR_MODE]);
	if (!s->key_line[TR_ADDRESS])
		return cr__exp_fail_at(
		    ld, s->line ? s->line : find_sect(ld, K_EXPERIMENT)->line,
		    -CR_EINVAL,
		    "the tracker is %s%s and needs an address: "
		    "add [tracker] address = IP:PORT, or mode = none",
		    cr__exp_kinds[K_TRACKER].keys[TR_MODE].words[t->mode],
		    s->key_line[TR_MODE] ? ""
					 : " (the default without a topology "
					   "file)");
	if (!cr_experiment_peer_index(ld->e, &t->addr, &idx))
		return cr__exp_fail_at(
		    ld, s->key_line[TR_ADDRESS], -CR_EINVAL,
		    "tracker address %s is a peer's (class %s); "
		    "the tracker needs its own",
		    cr_addr_format(&t->addr, buf, sizeof(buf)),
		    cr_experiment_class_of(ld->e, &t->addr)->name);
	if (t->timeout_ns <= t->interval_ns)
		return cr__exp_fail_at(
		    ld,
		    s->key_line[TR_TIMEOUT] ? s->key_line[TR_TIMEOUT]
					    : s->key_line[TR_INTERVAL],
		    -CR_EINVAL,
		    "timeout (%g s) must be longer than interval "
		    "(%g s)",
		    seconds(t->timeout_ns), seconds(t->interval_ns));
	return 0;
}

int cr_experiment_coordinator_check(const struct cr_experiment *e,
				    const cr_addr *a, char *err, size_t errlen)
{
	char buf[CR_ADDR_STRLEN];
	size_t idx;

	cr_addr_format(a, buf, sizeof(buf));
	if (!a->port) {
		snprintf(err, errlen, "coordinator %s: give it a port", buf);
		return -CR_EINVAL;
	}
	if (!cr_experiment_peer_index(e, a, &idx)) {
		snprintf(err, errlen,
			 "coordinator %s is the address of a peer (class %s): "
			 "give it a port of its own",
			 buf, cr_experiment_class_of(e, a)->name);
		return -CR_EINVAL;
	}
	if (e->tracker.mode != CR_TRACKER_NONE &&
	    cr_addr_eq(a, &e->tracker.addr)) {
		snprintf(err, errlen,
			 "coordinator %s is the tracker's address: give it a "
			 "port of its own",
			 buf);
		return -CR_EINVAL;
	}
	return 0;
}

/* The coordinator's address, as given or by default (the first peer's IP
 * at CR_COORD_PORT).  One given must be nobody else's; the default is
 * checked only when a run spans hosts (src/cli/run.c), so that a file run
 * on one host, which has no coordinator, is read as before. */
static int finish_coordinator(struct loader *ld)
{
	const struct sect *s = find_sect(ld, K_EXPERIMENT);
	struct cr_experiment *e = ld->e;
	char err[256];

	e->coordinator_given = s->key_line[EX_COORDINATOR] != 0;
	if (!e->coordinator_given) {
		e->coordinator = e->classes[0].addrs[0];
		e->coordinator.port = CR_COORD_PORT;
	}
	if (!e->coordinator_given ||
	    !cr_experiment_coordinator_check(e, &e->coordinator, err,
					     sizeof(err)))
		return 0;
	return cr__exp_fail_at(ld, s->key_line[EX_COORDINATOR], -CR_EINVAL,
			       "%s", err);
}

int cr__exp_finish(struct loader *ld)
{
	if (check_required(ld) || finish_experiment(ld) ||
	    cr__exp_finish_classes(ld) || finish_sessions(ld) ||
	    finish_tracker(ld) || finish_coordinator(ld))
		return ld->rc;
	return 0;
}
