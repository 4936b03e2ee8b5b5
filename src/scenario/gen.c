/* Events-file generation (see gen.h and docs/generating-events.md).
 *
 * This file checks the parameters, works out where the peers go (the
 * classes and their addresses, the session and its source) and makes the
 * draws (gen-draw.c); gen-write.c writes the file.
 */
#include "gen-int.h"
#include "../core/units.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cr_gen_defaults(struct cr_gen_params *p)
{
	*p = (struct cr_gen_params){
	    .seed = 1,
	    .join_shape = 1.5,
	    .join_scale_ns = 2 * CR_SEC,
	    .die_after_ns = CR_SEC,
	};
	cr_addr_parse(&p->source, "127.0.0.1:20000");
}

static int parse_double(const char *text, const char *stop, double *out)
{
	char *end;

	*out = strtod(text, &end);
	if (end == text || end != stop || !isfinite(*out))
		return -CR_EINVAL;
	return 0;
}

int cr_gen_parse_lifetime(const char *text, struct cr_gen_lifetime *out)
{
	const char *comma, *args;
	bool weibull;
	double a, b;
	int64_t ns;

	memset(out, 0, sizeof(*out));
	if (!strcmp(text, "none"))
		return 0;
	weibull = !strncmp(text, "weibull:", 8);
	if (weibull)
		args = text + 8;
	else if (!strncmp(text, "lognormal:", 10))
		args = text + 10;
	else
		return -CR_EINVAL;
	comma = strchr(args, ',');
	if (!comma || parse_double(args, comma, &a))
		return -CR_EINVAL;
	if (weibull) {
		if (!(a > 0) || cr_parse_time(comma + 1, CR_SEC, &ns) ||
		    ns <= 0)
			return -CR_EINVAL;
		out->kind = CR_GEN_LIFE_WEIBULL;
		out->shape = a;
		out->scale_ns = ns;
		return 0;
	}
	if (parse_double(comma + 1, comma + 1 + strlen(comma + 1), &b) ||
	    !(b > 0))
		return -CR_EINVAL;
	out->kind = CR_GEN_LIFE_LOGNORMAL;
	out->mu = a;
	out->sigma = b;
	return 0;
}

/* --- checks --------------------------------------------------------------- */

/* What an experiment file takes as a class name, so that the labels of a
 * file made without one can still match its classes. */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	return n && n < CR_NAME_MAX &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789._-") == n;
}

static int check_times(const struct cr_gen_params *p, char *err, size_t errlen)
{
	const struct cr_gen_lifetime *l = &p->lifetime;

	if (!(p->arrival_per_s >= 0) || !isfinite(p->arrival_per_s)) {
		snprintf(err, errlen,
			 "--arrival-rate %g: expected a positive number of "
			 "births per second, such as 0.5",
			 p->arrival_per_s);
		return -CR_EINVAL;
	}
	if (p->flash_crowd_ns < 0 ||
	    (p->flash_crowd_ns && p->arrival_per_s > 0)) {
		snprintf(err, errlen,
			 "--flash-crowd: expected a positive time, and not "
			 "with --arrival-rate (births are one or the other)");
		return -CR_EINVAL;
	}
	if (!(p->join_shape > 0) || !isfinite(p->join_shape)) {
		snprintf(err, errlen,
			 "--join-shape %g: expected a Weibull shape above 0, "
			 "such as 1.5",
			 p->join_shape);
		return -CR_EINVAL;
	}
	if (p->join_scale_ns <= 0) {
		snprintf(err, errlen,
			 "--join-scale: expected a positive time, such as 2 "
			 "or 500ms");
		return -CR_EINVAL;
	}
	if (p->die_after_ns < 0) {
		snprintf(err, errlen,
			 "--die-after: expected a time of 0 or more, such as "
			 "1 or 500ms");
		return -CR_EINVAL;
	}
	if ((l->kind == CR_GEN_LIFE_WEIBULL &&
	     (!(l->shape > 0) || !isfinite(l->shape) || l->scale_ns <= 0)) ||
	    (l->kind == CR_GEN_LIFE_LOGNORMAL &&
	     (!isfinite(l->mu) || !(l->sigma > 0) || !isfinite(l->sigma))) ||
	    (unsigned)l->kind > CR_GEN_LIFE_LOGNORMAL) {
		snprintf(err, errlen, "--lifetime: expected %s",
			 CR_GEN_LIFETIME_FORMS);
		return -CR_EINVAL;
	}
	return 0;
}

static int check_classes(const struct cr_gen_params *p, char *err,
			 size_t errlen)
{
	double sum = 0;

	for (size_t i = 0; i < p->nclasses; i++) {
		const struct cr_gen_class *c = &p->classes[i];
		if (!c->name || !valid_name(c->name)) {
			snprintf(err, errlen,
				 "--class '%s': expected NAME=FRACTION, the "
				 "name 1 to %d letters, digits, '.', '_' or "
				 "'-'",
				 c->name ? c->name : "", CR_NAME_MAX - 1);
			return -CR_EINVAL;
		}
		if (!(c->fraction >= 0 && c->fraction <= 1)) {
			snprintf(err, errlen,
				 "--class %s=%g: expected a fraction from 0 "
				 "to 1",
				 c->name, c->fraction);
			return -CR_EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(p->classes[j].name, c->name)) {
				snprintf(err, errlen,
					 "--class %s: given twice; expected "
					 "each class once",
					 c->name);
				return -CR_EINVAL;
			}
		}
		sum += c->fraction;
	}
	if (p->nclasses && fabs(sum - 1) > 1e-9) {
		snprintf(err, errlen,
			 "--class: the fractions sum to %.12g; expected "
			 "fractions that sum to 1 (within 1e-9)",
			 sum);
		return -CR_EINVAL;
	}
	return 0;
}

/* --- where the peers go --------------------------------------------------- */

/* A session's source and the tracker are peers of their own kind: a class's
 * addresses go to the generated peers only when they are neither. */
static bool reserved(const struct cr_experiment *e, const cr_addr *a)
{
	for (size_t i = 0; i < e->nsessions; i++)
		if (cr_addr_eq(&e->sessions[i].source, a))
			return true;
	return e->tracker.mode != CR_TRACKER_NONE &&
	       cr_addr_eq(&e->tracker.addr, a);
}

static const struct cr_peer_class *exp_class(const struct cr_experiment *e,
					     const char *name)
{
	for (size_t i = 0; i < e->nclasses; i++)
		if (!strcmp(e->classes[i].name, name))
			return &e->classes[i];
	return NULL;
}

static void list_names(const struct cr_experiment *e, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = 0;
	for (size_t i = 0; i < e->nclasses && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%s",
				       i ? ", " : "", e->classes[i].name);
}

static int take_addrs(struct wclass *w, const struct cr_experiment *e,
		      const struct cr_peer_class *c)
{
	w->addrs = malloc((c->count ? c->count : 1) * sizeof(*w->addrs));
	if (!w->addrs)
		return -CR_ENOMEM;
	for (size_t i = 0; i < c->count; i++)
		if (!reserved(e, &c->addrs[i]))
			w->addrs[w->naddrs++] = c->addrs[i];
	return 0;
}

static int pick_session(const struct cr_gen_params *p, struct cr_gen_result *r,
			char *err, size_t errlen)
{
	const struct cr_experiment *e = p->exp;

	if (!e) {
		r->session = p->session ? p->session : 1;
		r->source = p->source;
		if (r->source.family != 4 && r->source.family != 6) {
			snprintf(err, errlen,
				 "--ip: expected an IPv4 or IPv6 address");
			return -CR_EINVAL;
		}
		return 0;
	}
	for (size_t i = 0; i < e->nsessions; i++) {
		if (!p->session || e->sessions[i].id == p->session) {
			r->session = e->sessions[i].id;
			r->source = e->sessions[i].source;
			return 0;
		}
	}
	if (!e->nsessions)
		snprintf(err, errlen,
			 "--experiment %s: it has no session; expected one "
			 "with a source",
			 e->path);
	else
		snprintf(err, errlen,
			 "--session %u: %s has no such session; expected "
			 "one of its sessions, the first being %u",
			 p->session, e->path, e->sessions[0].id);
	return -CR_EINVAL;
}

/* The classes peers are drawn into, and how many peers fit. */
static int set_classes(const struct cr_gen_params *p, struct wclass **out,
		       size_t *nout, uint64_t *capacity, char *err,
		       size_t errlen)
{
	const struct cr_experiment *e = p->exp;
	size_t n = p->nclasses ? p->nclasses : e ? e->nclasses : 0;
	struct wclass *w;
	char names[512];

	*out = NULL;
	*nout = 0;
	*capacity = UINT64_MAX;
	if (!n)
		return 0;
	w = calloc(n, sizeof(*w));
	if (!w)
		return -CR_ENOMEM;
	*out = w;
	*nout = n;
	for (size_t i = 0; i < n; i++) {
		const struct cr_peer_class *c;

		if (!e) {
			w[i].name = p->classes[i].name;
			w[i].weight = p->classes[i].fraction;
			continue;
		}
		c = p->nclasses ? exp_class(e, p->classes[i].name)
				: &e->classes[i];
		if (!c) {
			list_names(e, names, sizeof(names));
			snprintf(err, errlen,
				 "--class %s: %s has no such class; expected "
				 "one of %s",
				 p->classes[i].name, e->path, names);
			return -CR_EINVAL;
		}
		if (take_addrs(&w[i], e, c))
			return -CR_ENOMEM;
		w[i].name = c->name;
		w[i].weight =
		    p->nclasses ? p->classes[i].fraction : (double)w[i].naddrs;
	}
	if (!e)
		return 0;
	*capacity = 0;
	for (size_t i = 0; i < n; i++)
		if (w[i].weight > 0)
			*capacity += w[i].naddrs;
	return 0;
}

static int check_peers(const struct cr_gen_params *p, struct cr_gen_result *r,
		       uint64_t capacity, char *err, size_t errlen)
{
	r->peers = p->peers;
	if (p->exp) {
		if (!capacity) {
			snprintf(err, errlen,
				 "--experiment %s: its classes have no "
				 "address besides the sources' and the "
				 "tracker's; expected at least one for a peer",
				 p->exp->path);
			return -CR_EINVAL;
		}
		if (!r->peers)
			r->peers = capacity;
		if (r->peers > capacity) {
			snprintf(err, errlen,
				 "--peers %llu: the classes have %llu "
				 "addresses besides the sources' and the "
				 "tracker's; expected at most %llu peers",
				 (unsigned long long)r->peers,
				 (unsigned long long)capacity,
				 (unsigned long long)capacity);
			return -CR_EINVAL;
		}
		return 0;
	}
	if (!r->peers || r->peers > 65535u - r->source.port) {
		snprintf(err, errlen,
			 "--peers %llu: the peers take the ports after the "
			 "source's (%u); expected 1 to %u peers, or "
			 "--experiment FILE for addresses",
			 (unsigned long long)r->peers, r->source.port,
			 65535u - r->source.port);
		return -CR_EINVAL;
	}
	return 0;
}

int cr_gen_events(const struct cr_gen_params *p, struct cr_gen_result *r,
		  char *err, size_t errlen)
{
	struct wclass *w = NULL;
	size_t nw = 0;
	uint64_t capacity;
	int64_t duration_ns;
	int rc;

	memset(r, 0, sizeof(*r));
	snprintf(err, errlen, "out of memory");
	duration_ns =
	    p->duration_ns || !p->exp ? p->duration_ns : p->exp->duration_ns;
	/* whole microseconds, the file's precision */
	r->duration_ns = duration_ns - duration_ns % 1000;
	if (r->duration_ns <= 0) {
		snprintf(err, errlen,
			 "--duration: expected a positive time of at least "
			 "1us, such as 600, 2.5s or 500ms");
		return -CR_EINVAL;
	}
	if ((rc = check_times(p, err, errlen)) ||
	    (rc = check_classes(p, err, errlen)) ||
	    (rc = pick_session(p, r, err, errlen)) ||
	    (rc = set_classes(p, &w, &nw, &capacity, err, errlen)) ||
	    (rc = check_peers(p, r, capacity, err, errlen)))
		goto out;
	if (p->flash_crowd_ns > r->duration_ns) {
		snprintf(err, errlen,
			 "--flash-crowd: %g s is longer than --duration "
			 "(%g s); expected at most the duration",
			 (double)p->flash_crowd_ns / 1e9,
			 (double)r->duration_ns / 1e9);
		rc = -CR_EINVAL;
		goto out;
	}
	if (!p->flash_crowd_ns)
		r->arrival_per_s =
		    p->arrival_per_s > 0
			? p->arrival_per_s
			: (double)r->peers / ((double)r->duration_ns / 2e9);
	rc = cr__gen_draw(p, r, w, nw, capacity);
out:
	for (size_t i = 0; i < nw; i++)
		free(w[i].addrs);
	free(w);
	if (!rc)
		err[0] = 0;
	return rc;
}

void cr_gen_result_free(struct cr_gen_result *r)
{
	free(r->events);
	free(r->classes);
	memset(r, 0, sizeof(*r));
}
