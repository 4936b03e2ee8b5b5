/* Events-file generation (see gen.h and docs/generating-events.md).
 *
 * Four draws, each from its own mt19937 generator seeded from the one
 * seed and the draw's number: birth times, classes, join delays,
 * lifetimes.  Every peer gets one of each whether or not it is born within
 * the duration, so changing how long peers stay leaves the births, the
 * classes and the joins as they were, and an experiment can be compared
 * with and without churn on the same arrivals.
 *
 * Times are rounded to whole microseconds, the precision of the file, so
 * the events in memory are exactly the ones written.
 */
#include "gen.h"
#include "../core/units.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_sf_gamma.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum draw { D_BIRTH, D_CLASS, D_JOIN, D_LIFE, D_COUNT };

/* A class as peers are drawn into it. */
struct wclass {
	const char *name;
	double weight;
	cr_addr *addrs; /* NULL: the class only labels its peers */
	size_t naddrs;
	size_t used;
};

/* Per peer, in birth order. */
struct draws {
	double *birth_s;
	double *join_s; /* delay after birth */
	double *life_s; /* from join to leave; unused without lifetimes */
	int *cls;	/* index into the classes, -1 for none */
	cr_addr *addr;
};

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

/* --- the draws ------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void draw_births(gsl_rng *g, const struct cr_gen_params *p,
			struct cr_gen_result *r, double *birth_s)
{
	double t = 0, mean_gap;

	if (p->flash_crowd_ns) {
		/* Sorted, so that addresses follow the order of birth. */
		for (uint64_t i = 0; i < r->peers; i++)
			birth_s[i] =
			    gsl_ran_flat(g, 0, (double)p->flash_crowd_ns / 1e9);
		qsort(birth_s, r->peers, sizeof(*birth_s), cmp_double);
		return;
	}
	mean_gap = 1 / r->arrival_per_s;
	for (uint64_t i = 0; i < r->peers; i++) {
		t += gsl_ran_exponential(g, mean_gap);
		birth_s[i] = t;
	}
}

static void place(struct wclass *w, size_t c, struct draws *d, uint64_t i)
{
	d->cls[i] = (int)c;
	if (w[c].addrs)
		d->addr[i] = w[c].addrs[w[c].used];
	w[c].used++;
}

/* Without fractions, an experiment's addresses are drawn without
 * replacement: a shuffle of one slot per address, the first peers taking
 * the first slots.  Classes fill in proportion to their sizes, and none
 * overflows even when the peers take every address. */
static int shuffle_classes(gsl_rng *g, struct wclass *w, size_t nw,
			   struct cr_gen_result *r, struct draws *d,
			   uint64_t capacity)
{
	int *slot = malloc(capacity * sizeof(*slot));
	size_t k = 0;

	if (!slot)
		return -CR_ENOMEM;
	for (size_t c = 0; c < nw; c++)
		for (size_t i = 0; i < w[c].naddrs; i++)
			slot[k++] = (int)c;
	gsl_ran_shuffle(g, slot, capacity, sizeof(*slot));
	for (uint64_t i = 0; i < r->peers; i++)
		place(w, (size_t)slot[i], d, i);
	free(slot);
	return 0;
}

/* With fractions, each peer's class is an independent draw. */
static int draw_classes(gsl_rng *g, struct wclass *w, size_t nw,
			struct cr_gen_result *r, struct draws *d)
{
	double *weight = malloc(nw * sizeof(*weight));
	gsl_ran_discrete_t *table;
	int rc = 0;

	if (!weight)
		return -CR_ENOMEM;
	for (size_t i = 0; i < nw; i++)
		weight[i] = w[i].weight;
	table = gsl_ran_discrete_preproc(nw, weight);
	if (!table) {
		free(weight);
		return -CR_ENOMEM;
	}
	for (uint64_t i = 0; i < r->peers; i++) {
		size_t c = gsl_ran_discrete(g, table);
		bool moved = false;

		/* A full class is drawn no more: its peer goes to the others,
		 * in proportion to their weights.  set_classes() made sure
		 * that there is room somewhere. */
		while (w[c].addrs && w[c].used == w[c].naddrs) {
			weight[c] = 0;
			gsl_ran_discrete_free(table);
			table = gsl_ran_discrete_preproc(nw, weight);
			if (!table) {
				rc = -CR_ENOMEM;
				goto out;
			}
			c = gsl_ran_discrete(g, table);
			moved = true;
		}
		r->moved += moved;
		place(w, c, d, i);
	}
out:
	gsl_ran_discrete_free(table);
	free(weight);
	return rc;
}

static double draw_life(gsl_rng *g, const struct cr_gen_lifetime *l)
{
	if (l->kind == CR_GEN_LIFE_WEIBULL)
		/* GSL's Weibull takes the scale first, then the shape. */
		return gsl_ran_weibull(g, (double)l->scale_ns / 1e9, l->shape);
	return gsl_ran_lognormal(g, l->mu, l->sigma);
}

/* seconds -> nanoseconds, rounded to a microsecond; false past the end. */
static bool to_ns(double s, int64_t end_ns, int64_t *ns)
{
	double us = s * 1e6;
	int64_t end_us = end_ns / 1000;

	if (!(us < (double)end_us + 1))
		return false;
	*ns = (int64_t)llround(us) * 1000;
	return *ns <= end_ns;
}

/* seed and draw -> a 32-bit mt19937 seed (splitmix64's finaliser), so that
 * the four generators start far apart and every 64-bit seed counts. */
static unsigned long draw_seed(uint64_t seed, enum draw k)
{
	uint64_t z = seed + (uint64_t)(k + 1) * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (unsigned long)(z & 0xffffffffu);
}

/* --- the events ----------------------------------------------------------- */

static struct cr_event *push(struct cr_gen_result *r, int64_t t,
			     const cr_addr *a, enum cr_event_type type)
{
	struct cr_event *e = &r->events[r->nevents++];

	*e = (struct cr_event){.time_ns = t, .peer = *a, .type = type};
	if (type != CR_EV_BIRTH && type != CR_EV_DIE)
		e->session = r->session;
	return e;
}

static void peer_events(const struct cr_gen_params *p, struct cr_gen_result *r,
			const struct draws *d, const struct wclass *w,
			uint64_t i)
{
	int64_t end = r->duration_ns, tb, tj, tl;
	struct cr_event *e;

	if (!to_ns(d->birth_s[i], end, &tb))
		return;
	r->born++;
	e = push(r, tb, &d->addr[i], CR_EV_BIRTH);
	if (d->cls[i] >= 0)
		snprintf(e->class_name, sizeof(e->class_name), "%s",
			 w[d->cls[i]].name);
	if (!to_ns(d->birth_s[i] + d->join_s[i], end, &tj))
		return;
	r->joined++;
	e = push(r, tj, &d->addr[i], CR_EV_JOIN);
	e->has_source = true;
	e->source = r->source;
	if (p->lifetime.kind == CR_GEN_LIFE_NONE ||
	    !to_ns(d->birth_s[i] + d->join_s[i] + d->life_s[i], end, &tl) ||
	    tl == end)
		return;
	r->left++;
	push(r, tl, &d->addr[i], CR_EV_LEAVE);
	if (tl + p->die_after_ns > end)
		return;
	r->died++;
	push(r, tl + p->die_after_ns, &d->addr[i], CR_EV_DIE);
}

struct key {
	int64_t t;
	size_t i;
};

static int cmp_key(const void *a, const void *b)
{
	const struct key *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* By time; events of one time keep the order they were made in. */
static int sort_events(struct cr_gen_result *r)
{
	struct key *k = malloc((r->nevents ? r->nevents : 1) * sizeof(*k));
	struct cr_event *sorted =
	    malloc((r->nevents ? r->nevents : 1) * sizeof(*sorted));

	if (!k || !sorted) {
		free(k);
		free(sorted);
		return -CR_ENOMEM;
	}
	for (size_t i = 0; i < r->nevents; i++)
		k[i] = (struct key){r->events[i].time_ns, i};
	qsort(k, r->nevents, sizeof(*k), cmp_key);
	for (size_t i = 0; i < r->nevents; i++)
		sorted[i] = r->events[k[i].i];
	free(k);
	free(r->events);
	r->events = sorted;
	return 0;
}

static int make_events(const struct cr_gen_params *p, struct cr_gen_result *r,
		       const struct draws *d, const struct wclass *w)
{
	struct cr_event *e;

	r->events = malloc((3 + 4 * r->peers) * sizeof(*r->events));
	if (!r->events)
		return -CR_ENOMEM;
	push(r, 0, &r->source, CR_EV_BIRTH);
	e = push(r, 0, &r->source, CR_EV_DEPLOY);
	e->rate_Bps = p->rate_Bps;
	for (uint64_t i = 0; i < r->peers; i++)
		peer_events(p, r, d, w, i);
	push(r, r->duration_ns, &r->source, CR_EV_TERMINATE);
	return sort_events(r);
}

static int count_classes(struct cr_gen_result *r, const struct wclass *w,
			 size_t nw)
{
	if (!nw)
		return 0;
	r->classes = calloc(nw, sizeof(*r->classes));
	if (!r->classes)
		return -CR_ENOMEM;
	r->nclasses = nw;
	for (size_t i = 0; i < nw; i++) {
		snprintf(r->classes[i].name, sizeof(r->classes[i].name), "%s",
			 w[i].name);
		r->classes[i].weight = w[i].weight;
		r->classes[i].addrs = w[i].addrs ? w[i].naddrs : 0;
		r->classes[i].peers = w[i].used;
	}
	return 0;
}

static int draw_all(const struct cr_gen_params *p, struct cr_gen_result *r,
		    struct wclass *w, size_t nw, uint64_t capacity,
		    gsl_rng *const *g)
{
	struct draws d = {
	    .birth_s = malloc(r->peers * sizeof(double)),
	    .join_s = malloc(r->peers * sizeof(double)),
	    .life_s = calloc(r->peers, sizeof(double)),
	    .cls = malloc(r->peers * sizeof(int)),
	    .addr = calloc(r->peers, sizeof(cr_addr)),
	};
	double join_scale_s = (double)p->join_scale_ns / 1e9;
	int rc = -CR_ENOMEM;

	if (!d.birth_s || !d.join_s || !d.life_s || !d.cls || !d.addr)
		goto out;
	draw_births(g[D_BIRTH], p, r, d.birth_s);
	for (uint64_t i = 0; i < r->peers; i++) {
		d.cls[i] = -1;
		d.addr[i] = r->source;
		d.addr[i].port = (uint16_t)(r->source.port + 1 + i);
	}
	if (nw && p->exp && !p->nclasses)
		rc = shuffle_classes(g[D_CLASS], w, nw, r, &d, capacity);
	else if (nw)
		rc = draw_classes(g[D_CLASS], w, nw, r, &d);
	else
		rc = 0;
	if (rc)
		goto out;
	for (uint64_t i = 0; i < r->peers; i++)
		d.join_s[i] =
		    gsl_ran_weibull(g[D_JOIN], join_scale_s, p->join_shape);
	if (p->lifetime.kind != CR_GEN_LIFE_NONE)
		for (uint64_t i = 0; i < r->peers; i++)
			d.life_s[i] = draw_life(g[D_LIFE], &p->lifetime);
	rc = make_events(p, r, &d, w);
	if (!rc)
		rc = count_classes(r, w, nw);
out:
	free(d.birth_s);
	free(d.join_s);
	free(d.life_s);
	free(d.cls);
	free(d.addr);
	return rc;
}

int cr_gen_events(const struct cr_gen_params *p, struct cr_gen_result *r,
		  char *err, size_t errlen)
{
	gsl_rng *g[D_COUNT] = {NULL};
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
	rc = -CR_ENOMEM;
	for (int k = 0; k < D_COUNT; k++) {
		g[k] = gsl_rng_alloc(gsl_rng_mt19937);
		if (!g[k])
			goto out;
		gsl_rng_set(g[k], draw_seed(p->seed, (enum draw)k));
	}
	rc = draw_all(p, r, w, nw, capacity, g);
out:
	for (int k = 0; k < D_COUNT; k++)
		if (g[k])
			gsl_rng_free(g[k]);
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

/* --- the file ------------------------------------------------------------- */

static const char *const type_names[] = {
    [CR_EV_BIRTH] = "birth",   [CR_EV_DIE] = "die",
    [CR_EV_JOIN] = "join",     [CR_EV_LEAVE] = "leave",
    [CR_EV_DEPLOY] = "deploy", [CR_EV_TERMINATE] = "terminate",
};

static void write_event(FILE *f, const struct cr_event *e)
{
	char a[CR_ADDR_STRLEN];

	fprintf(f, "%lld.%06lld %s %s", (long long)(e->time_ns / CR_SEC),
		(long long)(e->time_ns % CR_SEC / 1000),
		cr_addr_format(&e->peer, a, sizeof(a)), type_names[e->type]);
	if (e->type == CR_EV_BIRTH && e->class_name[0])
		fprintf(f, " class=%s", e->class_name);
	if (e->type != CR_EV_BIRTH && e->type != CR_EV_DIE)
		fprintf(f, " session=%u", e->session);
	if (e->type == CR_EV_JOIN && e->has_source)
		fprintf(f, " source=%s",
			cr_addr_format(&e->source, a, sizeof(a)));
	if (e->type == CR_EV_DEPLOY && e->rate_Bps)
		fprintf(f, " rate=%llu", (unsigned long long)e->rate_Bps);
	fputc('\n', f);
}

static void write_lifetimes(FILE *f, const struct cr_gen_params *p)
{
	const struct cr_gen_lifetime *l = &p->lifetime;
	double k = l->shape, scale = (double)l->scale_ns / 1e9;

	if (l->kind == CR_GEN_LIFE_NONE) {
		fputs("# lifetimes: none; every peer stays to the end\n", f);
		return;
	}
	if (l->kind == CR_GEN_LIFE_WEIBULL)
		fprintf(f,
			"# lifetimes: Weibull, shape %g, scale %g s (mean %g "
			"s)",
			k, scale, scale * gsl_sf_gamma(1 + 1 / k));
	else
		fprintf(f,
			"# lifetimes: log-normal, mu %g, sigma %g of ln "
			"seconds (mean %g s)",
			l->mu, l->sigma, exp(l->mu + l->sigma * l->sigma / 2));
	fprintf(f, "; a peer leaving before the end dies %g s later\n",
		(double)p->die_after_ns / 1e9);
}

int cr_gen_write(FILE *f, const struct cr_gen_params *p,
		 const struct cr_gen_result *r, const char *command)
{
	double k = p->join_shape, scale = (double)p->join_scale_ns / 1e9;
	char src[CR_ADDR_STRLEN];

	fputs("# Crystal events: TIME ADDRESS EVENT [key=value ...], TIME in "
	      "seconds\n",
	      f);
	if (command)
		fprintf(f, "# command: %s\n", command);
	fprintf(f, "# seed: %llu\n", (unsigned long long)p->seed);
	fprintf(f,
		"# session %u from %s: deploy at 0, terminate at the end "
		"(%g s)\n",
		r->session, cr_addr_format(&r->source, src, sizeof(src)),
		(double)r->duration_ns / 1e9);
	if (p->flash_crowd_ns)
		fprintf(
		    f, "# births: flash crowd, uniform within the first %g s\n",
		    (double)p->flash_crowd_ns / 1e9);
	else
		fprintf(f,
			"# births: Poisson process, %g per second (mean gap "
			"%g s)\n",
			r->arrival_per_s, 1 / r->arrival_per_s);
	fprintf(f,
		"# joins: Weibull delay after birth, shape %g, scale %g s "
		"(mean %g s)\n",
		k, scale, scale * gsl_sf_gamma(1 + 1 / k));
	write_lifetimes(f, p);
	if (r->nclasses) {
		fputs("# classes:", f);
		for (size_t i = 0; i < r->nclasses; i++) {
			const struct cr_gen_class_count *c = &r->classes[i];
			if (p->nclasses)
				fprintf(f, "%s %s %g (%llu peers)",
					i ? "," : "", c->name, c->weight,
					(unsigned long long)c->peers);
			else
				fprintf(f, "%s %s %llu of %zu addresses",
					i ? "," : "", c->name,
					(unsigned long long)c->peers, c->addrs);
		}
		fputc('\n', f);
	}
	fprintf(f,
		"# peers: %llu; before the end %llu born, %llu joined, %llu "
		"left, %llu died\n",
		(unsigned long long)r->peers, (unsigned long long)r->born,
		(unsigned long long)r->joined, (unsigned long long)r->left,
		(unsigned long long)r->died);
	for (size_t i = 0; i < r->nevents; i++)
		write_event(f, &r->events[i]);
	return ferror(f) ? -CR_EIO : 0;
}
