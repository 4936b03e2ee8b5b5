/* Events files: timed peer dynamics, the paper's log-driven facility
 * (§III.B.3).  One event a line:
 *
 *	# TIME  ADDRESS          EVENT   [key=value ...]
 *	0       127.0.0.1:20000  birth   class=source
 *	0       127.0.0.1:20000  deploy  session=1 rate=50KB/s
 *	1.5s    127.0.0.1:20001  birth   class=dsl
 *	2s      127.0.0.1:20001  join    session=1
 *
 * The format and the rules of a peer's life are in docs/events-format.md.
 * Each line is checked on its own first (fields, units, addresses and
 * sessions against the experiment), then every peer's events in file
 * order (time order, birth and death, sessions joined and deployed).
 * The lines themselves are read by src/core/lines.c, as the topology's
 * and the latency matrix's are.
 */
#include "events.h"
#include "../core/lines.h"
#include "../core/units.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADDR_FORMS "a peer address such as 127.0.0.1:20001 or [::1]:20001"
#define EVENT_FORM                                                             \
	"expected TIME ADDRESS EVENT [key=value ...], e.g. 5s "                \
	"127.0.0.1:20001 join session=1"

/* --- one line ------------------------------------------------------------- */

static const char *const event_names[] = {
    [CR_EV_BIRTH] = "birth",   [CR_EV_DIE] = "die",
    [CR_EV_JOIN] = "join",     [CR_EV_LEAVE] = "leave",
    [CR_EV_DEPLOY] = "deploy", [CR_EV_TERMINATE] = "terminate",
};
#define NEVENTS (sizeof(event_names) / sizeof(event_names[0]))

const char *cr_event_name(enum cr_event_type t)
{
	return (unsigned)t < NEVENTS ? event_names[t] : "unknown";
}

enum { P_CLASS, P_SESSION, P_SOURCE, P_RATE, P__N };

#define EV(t) (1u << (t))
#define SESSION_EVENTS                                                         \
	(EV(CR_EV_JOIN) | EV(CR_EV_LEAVE) | EV(CR_EV_DEPLOY) |                 \
	 EV(CR_EV_TERMINATE))

static const struct {
	const char *name;
	unsigned events; /* the events that take it */
} params[P__N] = {
    [P_CLASS] = {"class", EV(CR_EV_BIRTH)},
    [P_SESSION] = {"session", SESSION_EVENTS},
    [P_SOURCE] = {"source", EV(CR_EV_JOIN)},
    [P_RATE] = {"rate", EV(CR_EV_DEPLOY)},
};

struct loader {
	const struct cr_experiment *e;
	struct cr__lines l;
	struct cr_event *ev;
	size_t n, cap;
};

static int fail(struct loader *ld, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct loader *ld, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cr__lines_fail(&ld->l, ld->l.lineno, -CR_EINVAL, "%s", msg);
}

static const char *addr_str(const cr_addr *a, char buf[CR_ADDR_STRLEN])
{
	return cr_addr_format(a, buf, CR_ADDR_STRLEN);
}

/* "join takes session and source", for a parameter in the wrong place. */
static int not_taken(struct loader *ld, enum cr_event_type t, const char *p)
{
	char list[64] = "";
	size_t n = 0;

	for (size_t i = 0; i < P__N; i++)
		if (params[i].events & EV(t))
			snprintf(list + strlen(list),
				 sizeof(list) - strlen(list), "%s%s",
				 n++ ? " and " : "", params[i].name);
	return fail(ld, "%s takes no '%s' (it takes %s)", cr_event_name(t), p,
		    n ? list : "no parameters");
}

static int parse_session(struct loader *ld, const char *v, struct cr_event *ev)
{
	uint64_t id;

	if (cr_parse_uint(v, 65535, &id) || !id)
		return fail(ld, "session '%s': expected an ID from 1 to 65535",
			    v);
	if (!cr_experiment_session(ld->e, (uint16_t)id))
		return fail(ld,
			    "session %llu is not in the experiment (no "
			    "[session %llu])",
			    (unsigned long long)id, (unsigned long long)id);
	ev->session = (uint16_t)id;
	return 0;
}

static int parse_class(struct loader *ld, const char *v, struct cr_event *ev)
{
	const struct cr_peer_class *c = cr_experiment_class(ld->e, v);
	char buf[CR_ADDR_STRLEN];

	if (!c)
		return fail(ld,
			    "class '%s' is not in the experiment (no "
			    "[class %s])",
			    v, v);
	if (c != cr_experiment_class_of(ld->e, &ev->peer))
		return fail(ld, "%s is not in class %s (it is in class %s)",
			    addr_str(&ev->peer, buf), v,
			    cr_experiment_class_of(ld->e, &ev->peer)->name);
	snprintf(ev->class_name, sizeof(ev->class_name), "%s", v);
	return 0;
}

static int parse_param(struct loader *ld, size_t p, const char *v,
		       struct cr_event *ev)
{
	switch (p) {
	case P_CLASS:
		return parse_class(ld, v, ev);
	case P_SESSION:
		return parse_session(ld, v, ev);
	case P_SOURCE:
		if (cr_addr_parse(&ev->source, v))
			return fail(ld, "source '%s': expected " ADDR_FORMS, v);
		ev->has_source = true;
		return 0;
	default:
		if (cr_parse_rate(v, &ev->rate_Bps))
			return fail(ld, "rate '%s': expected " CR_RATE_FORMS,
				    v);
		if (!ev->rate_Bps)
			return fail(ld, "rate must be above 0; without rate= "
					"the session's own rate applies");
		return 0;
	}
}

/* The key=value fields after the event's name. */
static int parse_params(struct loader *ld, char **tok, size_t n,
			struct cr_event *ev)
{
	bool given[P__N] = {false};

	for (size_t i = 0; i < n; i++) {
		char *eq = strchr(tok[i], '=');
		size_t p;

		if (!eq || eq == tok[i] || !eq[1])
			return fail(ld, "'%s': expected key=value", tok[i]);
		*eq = 0;
		for (p = 0; p < P__N && strcmp(params[p].name, tok[i]); p++)
			;
		if (p == P__N)
			return fail(ld,
				    "unknown parameter '%s'; accepted: "
				    "class, session, source, rate",
				    tok[i]);
		if (given[p])
			return fail(ld, "'%s' is given twice", tok[i]);
		if (!(params[p].events & EV(ev->type)))
			return not_taken(ld, ev->type, tok[i]);
		given[p] = true;
		if (parse_param(ld, p, eq + 1, ev))
			return -CR_EINVAL;
	}
	if ((SESSION_EVENTS & EV(ev->type)) && !given[P_SESSION])
		return fail(ld, "%s needs session=ID", cr_event_name(ev->type));
	return 0;
}

/* Checks that need the session: who may deploy it, whose it is. */
static int check_source(struct loader *ld, const struct cr_event *ev)
{
	const struct cr_session_cfg *s;
	char a[CR_ADDR_STRLEN], b[CR_ADDR_STRLEN];

	if (!ev->session)
		return 0;
	s = cr_experiment_session(ld->e, ev->session);
	if (ev->type == CR_EV_DEPLOY && !cr_addr_eq(&ev->peer, &s->source))
		return fail(ld,
			    "%s is not the source of session %u (%s is); only "
			    "the source deploys",
			    addr_str(&ev->peer, a), ev->session,
			    addr_str(&s->source, b));
	if (ev->has_source && !cr_addr_eq(&ev->source, &s->source))
		return fail(ld, "source %s is not session %u's source (%s)",
			    addr_str(&ev->source, a), ev->session,
			    addr_str(&s->source, b));
	return 0;
}

static int parse_event(struct loader *ld, struct cr_event *ev)
{
	char **tok = ld->l.tok;
	char buf[CR_ADDR_STRLEN];
	size_t t;

	*ev = (struct cr_event){.line = ld->l.lineno};
	if (ld->l.ntok < 3)
		return fail(ld, EVENT_FORM);
	if (cr_parse_time(tok[0], CR_SEC, &ev->time_ns))
		return fail(ld,
			    "time '%s': expected %s (a bare number is in "
			    "seconds)",
			    tok[0], CR_TIME_FORMS);
	if (cr_addr_parse(&ev->peer, tok[1]))
		return fail(ld, "'%s': expected " ADDR_FORMS, tok[1]);
	if (!cr_experiment_class_of(ld->e, &ev->peer))
		return fail(ld, "%s is in no class of the experiment",
			    addr_str(&ev->peer, buf));
	for (t = 0; t < NEVENTS && strcmp(tok[2], event_names[t]); t++)
		;
	if (t == NEVENTS)
		return fail(ld,
			    "unknown event '%s'; accepted: birth, die, "
			    "join, leave, deploy, terminate",
			    tok[2]);
	ev->type = (enum cr_event_type)t;
	if (parse_params(ld, tok + 3, ld->l.ntok - 3, ev))
		return -CR_EINVAL;
	return check_source(ld, ev);
}

static int read_events(struct loader *ld)
{
	int r;

	while ((r = cr__lines_next(&ld->l)) > 0) {
		if (ld->n == ld->cap) {
			size_t c = ld->cap ? ld->cap * 2 : 64;
			struct cr_event *nv = realloc(ld->ev, c * sizeof(*nv));
			if (!nv)
				return cr__lines_fail(&ld->l, ld->l.lineno,
						      -CR_ENOMEM,
						      "out of memory");
			ld->ev = nv;
			ld->cap = c;
		}
		if ((r = parse_event(ld, &ld->ev[ld->n])))
			return r;
		ld->n++;
	}
	return r;
}

/* --- each peer's life
 * --------------------------------------------------------- */

/* A session a peer is in, or is the source of. */
struct member {
	uint16_t session;
	unsigned joined;   /* the line it joined at; 0: not in */
	unsigned deployed; /* the line it deployed at; 0: not deploying */
};

enum life { UNBORN, ALIVE, DEAD };

struct peer {
	enum life life;
	unsigned first_birth; /* the line of its first birth; 0: none */
	unsigned born, died;  /* lines of the latest birth and death */
	unsigned last_line;   /* of the peer's previous event */
	int64_t last_ns;
	struct member *m;
	size_t nm, cap;
};

static int lfail(struct loader *ld, const struct cr_event *ev, const char *fmt,
		 ...) __attribute__((format(printf, 3, 4)));

static int lfail(struct loader *ld, const struct cr_event *ev, const char *fmt,
		 ...)
{
	char msg[512], buf[CR_ADDR_STRLEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cr__lines_fail(&ld->l, ev->line, -CR_EINVAL, "%s %s: %s",
			      addr_str(&ev->peer, buf), cr_event_name(ev->type),
			      msg);
}

static struct member *member(struct peer *p, uint16_t session, bool add)
{
	for (size_t i = 0; i < p->nm; i++)
		if (p->m[i].session == session)
			return &p->m[i];
	if (!add)
		return NULL;
	if (p->nm == p->cap) {
		size_t c = p->cap ? p->cap * 2 : 4;
		struct member *nm = realloc(p->m, c * sizeof(*nm));
		if (!nm)
			return NULL;
		p->m = nm;
		p->cap = c;
	}
	p->m[p->nm] = (struct member){.session = session};
	return &p->m[p->nm++];
}

static int birth_or_die(struct loader *ld, struct peer *p,
			const struct cr_event *ev)
{
	if (ev->type == CR_EV_BIRTH && p->life == ALIVE)
		return lfail(ld, ev,
			     "the peer is alive already (born at line "
			     "%u)",
			     p->born);
	p->life = ev->type == CR_EV_BIRTH ? ALIVE : DEAD;
	if (ev->type == CR_EV_BIRTH) {
		p->born = ev->line;
	} else {
		p->died = ev->line;
		p->nm = 0; /* a peer that dies leaves every session */
	}
	return 0;
}

static int join_or_leave(struct loader *ld, struct peer *p,
			 const struct cr_event *ev)
{
	struct member *m = member(p, ev->session, ev->type == CR_EV_JOIN);

	if (!m && ev->type == CR_EV_JOIN)
		return cr__lines_fail(&ld->l, ev->line, -CR_ENOMEM,
				      "out of memory");
	if (ev->type == CR_EV_JOIN) {
		if (m->joined)
			return lfail(ld, ev,
				     "already in session %u (since line %u)",
				     ev->session, m->joined);
		m->joined = ev->line;
		return 0;
	}
	if (!m || !m->joined)
		return lfail(ld, ev, "not in session %u", ev->session);
	if (m->deployed)
		return lfail(ld, ev,
			     "deploying session %u (since line %u); terminate "
			     "comes first",
			     ev->session, m->deployed);
	m->joined = 0;
	return 0;
}

/* The source deploys its session, and is in it from then on; terminate
 * ends that, and the source leaves the session with it. */
static int deploy_or_terminate(struct loader *ld, struct peer *p,
			       const struct cr_event *ev)
{
	struct member *m = member(p, ev->session, ev->type == CR_EV_DEPLOY);

	if (!m && ev->type == CR_EV_DEPLOY)
		return cr__lines_fail(&ld->l, ev->line, -CR_ENOMEM,
				      "out of memory");
	if (ev->type == CR_EV_DEPLOY) {
		if (m->deployed)
			return lfail(ld, ev,
				     "session %u is deployed already (line %u)",
				     ev->session, m->deployed);
		m->deployed = ev->line;
		if (!m->joined)
			m->joined = ev->line;
		return 0;
	}
	if (!m || !m->deployed)
		return lfail(ld, ev, "session %u is not deployed by this peer",
			     ev->session);
	m->deployed = 0;
	m->joined = 0;
	return 0;
}

static int live(struct loader *ld, struct peer *p, const struct cr_event *ev)
{
	if (p->last_line && ev->time_ns < p->last_ns)
		return lfail(ld, ev,
			     "at %g s, before this peer's previous event "
			     "(line %u, at %g s); one peer's events go "
			     "forward in time",
			     (double)ev->time_ns / CR_SEC, p->last_line,
			     (double)p->last_ns / CR_SEC);
	p->last_line = ev->line;
	p->last_ns = ev->time_ns;
	if (ev->type != CR_EV_BIRTH && p->life == UNBORN && p->first_birth)
		return lfail(ld, ev, "before the peer's birth (line %u)",
			     p->first_birth);
	if (ev->type != CR_EV_BIRTH && p->life == UNBORN)
		return lfail(ld, ev,
			     "before the peer's birth: it has none, and a "
			     "peer takes part only from a birth");
	if (ev->type != CR_EV_BIRTH && p->life == DEAD)
		return lfail(ld, ev,
			     "after the peer's death (line %u); only a new "
			     "birth may follow",
			     p->died);
	switch (ev->type) {
	case CR_EV_BIRTH:
	case CR_EV_DIE:
		return birth_or_die(ld, p, ev);
	case CR_EV_JOIN:
	case CR_EV_LEAVE:
		return join_or_leave(ld, p, ev);
	default:
		return deploy_or_terminate(ld, p, ev);
	}
}

/* Every peer's events, in file order.  With an events file a peer takes
 * part only from a birth: one without any never does. */
static int check_lives(struct loader *ld)
{
	struct peer *peers =
	    calloc(ld->e->npeers ? ld->e->npeers : 1, sizeof(*peers));
	size_t idx;
	int rc = 0;

	if (!peers)
		return cr__lines_fail(&ld->l, 1, -CR_ENOMEM, "out of memory");
	for (size_t i = 0; i < ld->n; i++) {
		cr_experiment_peer_index(ld->e, &ld->ev[i].peer, &idx);
		if (ld->ev[i].type == CR_EV_BIRTH && !peers[idx].first_birth)
			peers[idx].first_birth = ld->ev[i].line;
	}
	for (size_t i = 0; i < ld->n && !rc; i++) {
		cr_experiment_peer_index(ld->e, &ld->ev[i].peer, &idx);
		rc = live(ld, &peers[idx], &ld->ev[i]);
	}
	for (size_t i = 0; i < ld->e->npeers; i++)
		free(peers[i].m);
	free(peers);
	return rc;
}

/* --- the public call
 * ----------------------------------------------------------- */

static int by_time(const void *a, const void *b)
{
	const struct cr_event *x = a, *y = b;

	if (x->time_ns != y->time_ns)
		return x->time_ns < y->time_ns ? -1 : 1;
	return (x->line > y->line) - (x->line < y->line);
}

int cr_events_load(const char *path, const struct cr_experiment *e,
		   struct cr_event **out, size_t *n, char *err, size_t errlen)
{
	struct loader ld = {.e = e};
	char scratch[1];
	int rc;

	*out = NULL;
	*n = 0;
	if (!err || !errlen) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	if ((rc = cr__lines_open(&ld.l, path, NULL, err, errlen)))
		return rc;
	rc = read_events(&ld);
	if (!rc)
		rc = check_lives(&ld);
	cr__lines_close(&ld.l);
	if (rc) {
		free(ld.ev);
		return rc;
	}
	/* line numbers are unique, so this order is a stable sort */
	if (ld.n)
		qsort(ld.ev, ld.n, sizeof(*ld.ev), by_time);
	*out = ld.ev;
	*n = ld.n;
	return 0;
}
