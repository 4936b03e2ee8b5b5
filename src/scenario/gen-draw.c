/* Events-file generation: the draws and the events they make (see gen.c).
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
#include "gen-int.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include <math.h>
#include <stdlib.h>

enum draw { D_BIRTH, D_CLASS, D_JOIN, D_LIFE, D_COUNT };

/* Per peer, in birth order. */
struct draws {
	double *birth_s;
	double *join_s; /* delay after birth */
	double *life_s; /* from join to leave; unused without lifetimes */
	int *cls;	/* index into the classes, -1 for none */
	cr_addr *addr;
};

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

int cr__gen_draw(const struct cr_gen_params *p, struct cr_gen_result *r,
		 struct wclass *w, size_t nw, uint64_t capacity)
{
	gsl_rng *g[D_COUNT] = {NULL};
	int rc = -CR_ENOMEM;

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
	return rc;
}
