/* Events generation (src/scenario/gen.c and `crystal gen-events`):
 *   - the same seed and parameters give the same bytes, another seed other
 *     bytes; changing the lifetimes leaves births, classes and joins alone;
 *   - the events are well formed: sorted by time, nothing past the end,
 *     per peer birth <= join <= leave < end and die = leave + die-after,
 *     the source's birth and deploy first and its terminate last, and the
 *     file says exactly what the events say;
 *   - the draws follow their distributions, over 20,000 peers: Poisson
 *     births (gaps of mean 1/λ and variance 1/λ²), flash-crowd births
 *     (uniform), Weibull join delays and lifetimes, log-normal lifetimes,
 *     and class fractions;
 *   - bad parameters are refused with the option named;
 *   - the command ($BUILD/crystal) writes what the library draws, to a
 *     file or stdout, documents every option, and exits 2 on bad options
 *     naming them, leaving no file;
 *   - with an experiment (in memory, then files through the command):
 *     peers take its classes' addresses, never a source's or the
 *     tracker's, a full class passes its peers on, and the events reader
 *     (cr_events_load) takes what the command writes.
 *
 * Each statistic is checked against its closed form within 5 standard
 * errors, the standard errors also from closed forms (raw moments up to the
 * fourth), so a right distribution passes for any seed but about one in a
 * million, and a wrong one fails: a swapped shape and scale, or a rate or
 * scale off by more than about 4% (5 / sqrt(20000) is 3.5% of a mean whose
 * standard deviation equals it, as the birth gaps' does).
 * CRYSTAL_TEST_SEED=N draws with seed N instead, to check exactly that.
 */
#include "../src/scenario/gen.h"
#include "support.h"

#include <gsl/gsl_sf_gamma.h>

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define N_STAT	20000
#define LONG_NS (1000000 * CR_SEC) /* long enough that nothing is cut */

static uint64_t seed_base = 1;

/* --- helpers -------------------------------------------------------------- */

static struct cr_gen_params params(uint64_t peers, int64_t duration_ns)
{
	struct cr_gen_params p;

	cr_gen_defaults(&p);
	p.peers = peers;
	p.duration_ns = duration_ns;
	p.seed = seed_base;
	return p;
}

static void generate(const struct cr_gen_params *p, struct cr_gen_result *r)
{
	char err[512];
	int rc = cr_gen_events(p, r, err, sizeof(err));

	if (rc)
		print_message("cr_gen_events: %s\n", err);
	assert_int_equal(rc, 0);
}

static char *written(const struct cr_gen_params *p,
		     const struct cr_gen_result *r, const char *command)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(cr_gen_write(f, p, r, command), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* Per peer (index = port - source port - 1), the time of each kind of
 * event, or -1. */
struct timeline {
	int64_t birth, join, leave, die;
	char cls[CR_NAME_MAX];
};

static struct timeline *timelines(const struct cr_gen_result *r)
{
	struct timeline *t = malloc(r->peers * sizeof(*t));

	assert_non_null(t);
	for (size_t i = 0; i < r->peers; i++)
		t[i] = (struct timeline){-1, -1, -1, -1, ""};
	for (size_t i = 0; i < r->nevents; i++) {
		const struct cr_event *e = &r->events[i];
		size_t k;

		if (cr_addr_eq(&e->peer, &r->source))
			continue;
		assert_true(e->peer.port > r->source.port);
		k = e->peer.port - r->source.port - 1u;
		assert_true(k < r->peers);
		switch (e->type) {
		case CR_EV_BIRTH:
			assert_int_equal(t[k].birth, -1);
			t[k].birth = e->time_ns;
			strcpy(t[k].cls, e->class_name);
			break;
		case CR_EV_JOIN:
			assert_int_equal(t[k].join, -1);
			t[k].join = e->time_ns;
			break;
		case CR_EV_LEAVE:
			assert_int_equal(t[k].leave, -1);
			t[k].leave = e->time_ns;
			break;
		case CR_EV_DIE:
			assert_int_equal(t[k].die, -1);
			t[k].die = e->time_ns;
			break;
		default:
			fail_msg("a peer's event of type %d", e->type);
		}
	}
	return t;
}

/* Sample mean and variance against the closed forms of a distribution
 * given by its raw moments m[1..4] (m[k] = E[X^k]), each within 5 standard
 * errors: sqrt(Var/n) for the mean, sqrt((μ4 - Var²)/n) for the variance. */
static void check_moments(const char *what, const double *x, size_t n,
			  const double m[5])
{
	double mean = m[1], var = m[2] - m[1] * m[1];
	double mu4 =
	    m[4] - 4 * m[1] * m[3] + 6 * m[1] * m[1] * m[2] - 3 * pow(m[1], 4);
	double se_mean = sqrt(var / (double)n);
	double se_var = sqrt((mu4 - var * var) / (double)n);
	double s = 0, ss = 0, smean, svar;

	for (size_t i = 0; i < n; i++)
		s += x[i];
	smean = s / (double)n;
	for (size_t i = 0; i < n; i++)
		ss += (x[i] - smean) * (x[i] - smean);
	svar = ss / (double)(n - 1);
	print_message("%-24s mean %.5g (expected %.5g, z %+.2f), variance "
		      "%.5g (expected %.5g, z %+.2f)\n",
		      what, smean, mean, (smean - mean) / se_mean, svar, var,
		      (svar - var) / se_var);
	assert_true(fabs(smean - mean) <= 5 * se_mean);
	assert_true(fabs(svar - var) <= 5 * se_var);
}

static void weibull_moments(double k, double scale, double m[5])
{
	for (int j = 1; j <= 4; j++)
		m[j] = pow(scale, j) * gsl_sf_gamma(1 + j / k);
}

static void lognormal_moments(double mu, double sigma, double m[5])
{
	for (int j = 1; j <= 4; j++)
		m[j] = exp(j * mu + j * j * sigma * sigma / 2);
}

static double secs(int64_t ns)
{
	return (double)ns / 1e9;
}

/* --- determinism ---------------------------------------------------------- */

static void same_seed_same_bytes(void **state)
{
	struct cr_gen_params p = params(2000, 600 * CR_SEC);
	struct cr_gen_class cls[] = {{"dsl", 0.7}, {"lan", 0.3}};
	struct cr_gen_result a, b, c;
	char *ta, *tb, *tc;

	p.lifetime = (struct cr_gen_lifetime){.kind = CR_GEN_LIFE_WEIBULL,
					      .shape = 0.6,
					      .scale_ns = 120 * CR_SEC};
	p.classes = cls;
	p.nclasses = 2;
	generate(&p, &a);
	generate(&p, &b);
	ta = written(&p, &a, "crystal gen-events ...");
	tb = written(&p, &b, "crystal gen-events ...");
	assert_string_equal(ta, tb);

	p.seed = seed_base + 1;
	generate(&p, &c);
	tc = written(&p, &c, "crystal gen-events ...");
	assert_true(strcmp(ta, tc) != 0);
	/* not just the header's seed: the events differ too */
	assert_true(a.nevents != c.nevents ||
		    memcmp(a.events, c.events, a.nevents * sizeof(*a.events)));
	free(ta);
	free(tb);
	free(tc);
	cr_gen_result_free(&a);
	cr_gen_result_free(&b);
	cr_gen_result_free(&c);
}

static void lifetimes_leave_the_rest_alone(void **state)
{
	struct cr_gen_params p = params(1000, 3600 * CR_SEC);
	struct cr_gen_class cls[] = {{"a", 0.5}, {"b", 0.5}};
	struct cr_gen_result a, b;
	struct timeline *ta, *tb;

	p.classes = cls;
	p.nclasses = 2;
	generate(&p, &a);
	p.lifetime = (struct cr_gen_lifetime){
	    .kind = CR_GEN_LIFE_LOGNORMAL, .mu = 4, .sigma = 1};
	generate(&p, &b);
	ta = timelines(&a);
	tb = timelines(&b);
	assert_int_equal(a.left, 0);
	assert_true(b.left > 0);
	for (size_t i = 0; i < a.peers; i++) {
		assert_int_equal(ta[i].birth, tb[i].birth);
		assert_int_equal(ta[i].join, tb[i].join);
		assert_string_equal(ta[i].cls, tb[i].cls);
	}
	free(ta);
	free(tb);
	cr_gen_result_free(&a);
	cr_gen_result_free(&b);
}

/* --- well-formed events --------------------------------------------------- */

static void check_well_formed(const struct cr_gen_params *p,
			      const struct cr_gen_result *r)
{
	struct timeline *t = timelines(r);
	const struct cr_event *ev = r->events;
	uint64_t born = 0, joined = 0, left = 0, died = 0;

	assert_true(r->nevents >= 3);
	assert_true(cr_addr_eq(&ev[0].peer, &r->source));
	assert_int_equal(ev[0].type, CR_EV_BIRTH);
	assert_int_equal(ev[0].time_ns, 0);
	assert_true(cr_addr_eq(&ev[1].peer, &r->source));
	assert_int_equal(ev[1].type, CR_EV_DEPLOY);
	assert_int_equal(ev[1].time_ns, 0);
	assert_int_equal(ev[1].session, r->session);
	assert_true(cr_addr_eq(&ev[r->nevents - 1].peer, &r->source));
	assert_int_equal(ev[r->nevents - 1].type, CR_EV_TERMINATE);
	assert_int_equal(ev[r->nevents - 1].time_ns, r->duration_ns);
	for (size_t i = 0; i < r->nevents; i++) {
		assert_true(ev[i].time_ns >= 0);
		assert_true(ev[i].time_ns <= r->duration_ns);
		assert_int_equal(ev[i].time_ns % 1000, 0);
		if (i)
			assert_true(ev[i].time_ns >= ev[i - 1].time_ns);
		if (ev[i].type == CR_EV_JOIN) {
			assert_true(ev[i].has_source);
			assert_true(cr_addr_eq(&ev[i].source, &r->source));
			assert_int_equal(ev[i].session, r->session);
		}
	}
	for (size_t i = 0; i < r->peers; i++) {
		if (t[i].birth < 0) {
			assert_int_equal(t[i].join, -1);
			continue;
		}
		born++;
		if (t[i].join < 0) {
			assert_int_equal(t[i].leave, -1);
			continue;
		}
		joined++;
		assert_true(t[i].join >= t[i].birth);
		if (t[i].leave < 0) {
			assert_int_equal(t[i].die, -1);
			continue;
		}
		left++;
		assert_true(t[i].leave >= t[i].join);
		assert_true(t[i].leave < r->duration_ns);
		if (t[i].die < 0) {
			assert_true(t[i].leave + p->die_after_ns >
				    r->duration_ns);
			continue;
		}
		died++;
		assert_int_equal(t[i].die, t[i].leave + p->die_after_ns);
	}
	assert_int_equal(born, r->born);
	assert_int_equal(joined, r->joined);
	assert_int_equal(left, r->left);
	assert_int_equal(died, r->died);
	free(t);
}

static void events_well_formed(void **state)
{
	struct cr_gen_params p = params(500, 600 * CR_SEC);
	struct cr_gen_result r;

	p.lifetime = (struct cr_gen_lifetime){.kind = CR_GEN_LIFE_WEIBULL,
					      .shape = 0.6,
					      .scale_ns = 100 * CR_SEC};
	p.die_after_ns = 120 * CR_SEC;
	generate(&p, &r);
	check_well_formed(&p, &r);
	/* the default rate bears every peer in the first half */
	assert_true(fabs(r.arrival_per_s - 500 / 300.0) < 1e-12);
	assert_int_equal(r.born, 500);
	assert_true(r.left > 0 && r.died < r.left);
	cr_gen_result_free(&r);

	/* a flash crowd, lifetimes that reach past the end */
	p = params(300, 60 * CR_SEC);
	p.flash_crowd_ns = 10 * CR_SEC;
	p.lifetime = (struct cr_gen_lifetime){
	    .kind = CR_GEN_LIFE_LOGNORMAL, .mu = 3.5, .sigma = 1};
	generate(&p, &r);
	check_well_formed(&p, &r);
	assert_true(r.left > 0 && r.left < r.joined);
	cr_gen_result_free(&r);

	/* births past the end are left out */
	p = params(100, 10 * CR_SEC);
	p.arrival_per_s = 1;
	generate(&p, &r);
	check_well_formed(&p, &r);
	assert_true(r.born < 30);
	cr_gen_result_free(&r);
}

/* Reads the written lines back: the file says what the events say. */
static void file_matches_events(void **state)
{
	struct cr_gen_params p = params(200, 120 * CR_SEC);
	struct cr_gen_class cls[] = {{"x", 0.5}, {"y", 0.5}};
	struct cr_gen_result r;
	char *text, *line, *save = NULL;
	size_t i = 0;

	p.classes = cls;
	p.nclasses = 2;
	p.rate_Bps = 64000;
	p.lifetime = (struct cr_gen_lifetime){
	    .kind = CR_GEN_LIFE_WEIBULL, .shape = 1, .scale_ns = 30 * CR_SEC};
	generate(&p, &r);
	text = written(&p, &r, "crystal gen-events --peers 200");
	assert_non_null(
	    strstr(text, "# command: crystal gen-events --peers 200\n"));
	assert_non_null(strstr(text, "# seed: "));
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		const struct cr_event *e = &r.events[i];
		char addr[CR_ADDR_STRLEN], want[256], *rest;
		long long sec, us;
		int n = 0;

		if (line[0] == '#')
			continue;
		assert_true(i < r.nevents);
		assert_int_equal(
		    sscanf(line, "%lld.%6lld %47s %n", &sec, &us, addr, &n), 3);
		assert_int_equal(sec * CR_SEC + us * 1000, e->time_ns);
		assert_string_equal(
		    addr, cr_addr_format(&e->peer, want, sizeof(want)));
		rest = line + n;
		switch (e->type) {
		case CR_EV_BIRTH:
			if (e->class_name[0])
				snprintf(want, sizeof(want), "birth class=%s",
					 e->class_name);
			else
				snprintf(want, sizeof(want), "birth");
			break;
		case CR_EV_JOIN:
			snprintf(want, sizeof(want),
				 "join session=1 source=127.0.0.1:20000");
			break;
		case CR_EV_LEAVE:
			snprintf(want, sizeof(want), "leave session=1");
			break;
		case CR_EV_DIE:
			snprintf(want, sizeof(want), "die");
			break;
		case CR_EV_DEPLOY:
			snprintf(want, sizeof(want),
				 "deploy session=1 rate=64000");
			break;
		case CR_EV_TERMINATE:
			snprintf(want, sizeof(want), "terminate session=1");
			break;
		}
		assert_string_equal(rest, want);
		i++;
	}
	assert_int_equal(i, r.nevents);
	free(text);
	cr_gen_result_free(&r);
}

/* --- distributions -------------------------------------------------------- */

static void poisson_births(void **state)
{
	const double lambda = 2;
	struct cr_gen_params p = params(N_STAT, LONG_NS);
	struct cr_gen_result r;
	struct timeline *t;
	double *gap = malloc(N_STAT * sizeof(*gap)), m[5];

	p.arrival_per_s = lambda;
	generate(&p, &r);
	assert_int_equal(r.born, N_STAT);
	t = timelines(&r);
	/* peers are numbered in birth order; the first gap starts at 0 */
	for (size_t i = 0; i < N_STAT; i++)
		gap[i] = secs(t[i].birth - (i ? t[i - 1].birth : 0));
	/* exponential: E[X^k] = k! / λ^k */
	m[1] = 1 / lambda;
	m[2] = 2 / pow(lambda, 2);
	m[3] = 6 / pow(lambda, 3);
	m[4] = 24 / pow(lambda, 4);
	check_moments("birth gaps, λ 2/s", gap, N_STAT, m);
	free(t);
	free(gap);
	cr_gen_result_free(&r);
}

static void flash_crowd_births(void **state)
{
	const double span = 100;
	struct cr_gen_params p = params(N_STAT, 1000 * CR_SEC);
	struct cr_gen_result r;
	struct timeline *t;
	double *b = malloc(N_STAT * sizeof(*b)), m[5];

	p.flash_crowd_ns = (int64_t)(span * CR_SEC);
	generate(&p, &r);
	assert_int_equal(r.born, N_STAT);
	t = timelines(&r);
	for (size_t i = 0; i < N_STAT; i++) {
		b[i] = secs(t[i].birth);
		assert_true(b[i] >= 0 && b[i] <= span);
		if (i)
			assert_true(t[i].birth >= t[i - 1].birth);
	}
	/* uniform on [0, F): E[X^k] = F^k / (k + 1) */
	for (int k = 1; k <= 4; k++)
		m[k] = pow(span, k) / (k + 1);
	check_moments("flash crowd in 100 s", b, N_STAT, m);
	free(t);
	free(b);
	cr_gen_result_free(&r);
}

static void check_joins(double k, double scale)
{
	struct cr_gen_params p = params(N_STAT, LONG_NS);
	struct cr_gen_result r;
	struct timeline *t;
	double *d = malloc(N_STAT * sizeof(*d)), m[5];
	char what[64];

	p.arrival_per_s = 2;
	p.join_shape = k;
	p.join_scale_ns = (int64_t)(scale * CR_SEC);
	generate(&p, &r);
	assert_int_equal(r.joined, N_STAT);
	t = timelines(&r);
	for (size_t i = 0; i < N_STAT; i++)
		d[i] = secs(t[i].join - t[i].birth);
	weibull_moments(k, scale, m);
	snprintf(what, sizeof(what), "joins, k %g λ %g s", k, scale);
	check_moments(what, d, N_STAT, m);
	free(t);
	free(d);
	cr_gen_result_free(&r);
}

static void weibull_joins(void **state)
{
	check_joins(1.5, 2); /* the defaults */
	check_joins(0.8, 10);
}

static void check_lifetimes(const struct cr_gen_lifetime *l, const double m[5],
			    const char *what)
{
	struct cr_gen_params p = params(N_STAT, LONG_NS);
	struct cr_gen_result r;
	struct timeline *t;
	double *life = malloc(N_STAT * sizeof(*life));

	p.arrival_per_s = 2;
	p.lifetime = *l;
	generate(&p, &r);
	assert_int_equal(r.left, N_STAT);
	assert_int_equal(r.died, N_STAT);
	t = timelines(&r);
	for (size_t i = 0; i < N_STAT; i++)
		life[i] = secs(t[i].leave - t[i].join);
	check_moments(what, life, N_STAT, m);
	free(t);
	free(life);
	cr_gen_result_free(&r);
}

static void weibull_lifetimes(void **state)
{
	struct cr_gen_lifetime l;
	double m[5];

	assert_int_equal(cr_gen_parse_lifetime("weibull:0.7,30", &l), 0);
	weibull_moments(0.7, 30, m);
	check_lifetimes(&l, m, "lifetimes, Weibull 0.7 30");
	assert_int_equal(cr_gen_parse_lifetime("weibull:2,5m", &l), -CR_EINVAL);
	assert_int_equal(cr_gen_parse_lifetime("weibull:2,500ms", &l), 0);
	weibull_moments(2, 0.5, m);
	check_lifetimes(&l, m, "lifetimes, Weibull 2 0.5");
}

static void lognormal_lifetimes(void **state)
{
	struct cr_gen_lifetime l;
	double m[5];

	assert_int_equal(cr_gen_parse_lifetime("lognormal:3,0.5", &l), 0);
	lognormal_moments(3, 0.5, m);
	check_lifetimes(&l, m, "lifetimes, log-normal 3 0.5");
	assert_int_equal(cr_gen_parse_lifetime("lognormal:-1,0.25", &l), 0);
	lognormal_moments(-1, 0.25, m);
	check_lifetimes(&l, m, "lifetimes, log-normal -1 0.25");
}

static void class_fractions(void **state)
{
	struct cr_gen_class cls[] = {
	    {"dsl", 0.5}, {"cable", 0.3}, {"lan", 0.2}};
	struct cr_gen_params p = params(N_STAT, 3600 * CR_SEC);
	struct cr_gen_result r;
	struct timeline *t;
	uint64_t count[3] = {0};

	p.classes = cls;
	p.nclasses = 3;
	generate(&p, &r);
	t = timelines(&r);
	for (size_t i = 0; i < N_STAT; i++) {
		size_t c = 0;
		while (c < 3 && strcmp(t[i].cls, cls[c].name))
			c++;
		assert_true(c < 3);
		count[c]++;
	}
	assert_int_equal(r.nclasses, 3);
	for (size_t c = 0; c < 3; c++) {
		double f = cls[c].fraction, want = N_STAT * f;
		double se = sqrt(N_STAT * f * (1 - f));

		print_message(
		    "class %-6s %llu peers (expected %.0f, z %+.2f)\n",
		    cls[c].name, (unsigned long long)count[c], want,
		    ((double)count[c] - want) / se);
		assert_true(fabs((double)count[c] - want) <= 5 * se);
		assert_int_equal(r.classes[c].peers, count[c]);
	}
	free(t);
	cr_gen_result_free(&r);
}

/* --- bad parameters ------------------------------------------------------- */

static void expect_bad(const struct cr_gen_params *p, const char *option)
{
	struct cr_gen_result r;
	char err[512];

	assert_int_equal(cr_gen_events(p, &r, err, sizeof(err)), -CR_EINVAL);
	if (!strstr(err, option))
		fail_msg("'%s' does not name %s", err, option);
	assert_int_equal(r.nevents, 0);
	cr_gen_result_free(&r);
}

static void bad_parameters(void **state)
{
	struct cr_gen_class sum09[] = {{"a", 0.5}, {"b", 0.4}};
	struct cr_gen_class twice[] = {{"a", 0.5}, {"a", 0.5}};
	struct cr_gen_class spaced[] = {{"a b", 1}};
	struct cr_gen_class quoted[] = {{"it's", 1}};
	struct cr_gen_class near1[] = {{"a", 0.1}, {"b", 0.2}, {"c", 0.7}};
	struct cr_gen_params p;
	struct cr_gen_result r;
	struct cr_gen_lifetime l;
	char err[512];

	p = params(10, 60 * CR_SEC);
	p.join_shape = 0;
	expect_bad(&p, "--join-shape");
	p = params(10, 60 * CR_SEC);
	p.join_scale_ns = 0;
	expect_bad(&p, "--join-scale");
	p = params(10, 60 * CR_SEC);
	p.arrival_per_s = -1;
	expect_bad(&p, "--arrival-rate");
	p = params(10, 60 * CR_SEC);
	p.flash_crowd_ns = 61 * CR_SEC;
	expect_bad(&p, "--flash-crowd");
	p = params(10, 60 * CR_SEC);
	p.die_after_ns = -1;
	expect_bad(&p, "--die-after");
	p = params(10, 60 * CR_SEC);
	p.lifetime = (struct cr_gen_lifetime){
	    .kind = CR_GEN_LIFE_LOGNORMAL, .mu = 1, .sigma = 0};
	expect_bad(&p, "--lifetime");
	p = params(10, 0);
	expect_bad(&p, "--duration");
	p = params(0, 60 * CR_SEC);
	expect_bad(&p, "--peers");
	p = params(45536, 60 * CR_SEC); /* ports 20001..65536 */
	expect_bad(&p, "--peers");
	p.peers = 45535;
	generate(&p, &r);
	cr_gen_result_free(&r);

	p = params(10, 60 * CR_SEC);
	p.classes = sum09;
	p.nclasses = 2;
	expect_bad(&p, "--class");
	p.classes = twice;
	expect_bad(&p, "--class");
	p.classes = spaced;
	p.nclasses = 1;
	expect_bad(&p, "--class");
	p.classes = quoted;
	expect_bad(&p, "--class");
	/* 0.1 + 0.2 + 0.7 is not exactly 1 in binary: within 1e-9 it is */
	p.classes = near1;
	p.nclasses = 3;
	assert_int_equal(cr_gen_events(&p, &r, err, sizeof(err)), 0);
	cr_gen_result_free(&r);

	assert_int_equal(cr_gen_parse_lifetime("none", &l), 0);
	assert_int_equal(l.kind, CR_GEN_LIFE_NONE);
	assert_int_equal(cr_gen_parse_lifetime("weibull:0,3", &l), -CR_EINVAL);
	assert_int_equal(cr_gen_parse_lifetime("weibull:1,-3", &l), -CR_EINVAL);
	assert_int_equal(cr_gen_parse_lifetime("weibull:1", &l), -CR_EINVAL);
	assert_int_equal(cr_gen_parse_lifetime("weibull:1,2,3", &l),
			 -CR_EINVAL);
	assert_int_equal(cr_gen_parse_lifetime("lognormal:1,0", &l),
			 -CR_EINVAL);
	assert_int_equal(cr_gen_parse_lifetime("lognormal:x,1", &l),
			 -CR_EINVAL);
	assert_int_equal(cr_gen_parse_lifetime("lognormal:nan,1", &l),
			 -CR_EINVAL);
	assert_int_equal(cr_gen_parse_lifetime("gamma:1,2", &l), -CR_EINVAL);
	assert_int_equal(cr_gen_parse_lifetime("", &l), -CR_EINVAL);
}

/* --- the command ---------------------------------------------------------- */

static char crystal[512];

static int run(char **out, char **err, ...)
{
	char *argv[64];
	va_list ap;
	int n = 0;

	argv[n++] = crystal;
	argv[n++] = "gen-events";
	va_start(ap, err);
	while ((argv[n] = va_arg(ap, char *)) && n < 62)
		n++;
	va_end(ap);
	argv[n] = NULL;
	return t_run(argv, 60000, out, err);
}

static int cli_setup(void **state)
{
	snprintf(crystal, sizeof(crystal), "%s/crystal", t_build_dir());
	if (access(crystal, X_OK)) {
		fprintf(stderr, "no %s: build it first (make)\n", crystal);
		return -1;
	}
	return 0;
}

static void cli_same_bytes(void **state)
{
	struct cr_gen_class cls[] = {{"a", 0.25}, {"b", 0.75}};
	struct cr_gen_params p = params(500, 600 * CR_SEC);
	struct cr_gen_result r;
	char *o1, *o2, *o3, *e1, *lib;

	assert_int_equal(run(&o1, &e1, "--peers", "500", "--duration", "600",
			     "--seed", "7", "--lifetime", "weibull:0.6,120",
			     "--class", "a=0.25", "--class", "b=0.75", "-o",
			     "-", NULL),
			 0);
	assert_int_equal(run(&o2, NULL, "--peers", "500", "--duration", "600",
			     "--seed", "7", "--lifetime", "weibull:0.6,120",
			     "--class", "a=0.25", "--class", "b=0.75", "-o",
			     "-", NULL),
			 0);
	assert_int_equal(run(&o3, NULL, "--peers", "500", "--duration", "600",
			     "--seed", "8", "--lifetime", "weibull:0.6,120",
			     "--class", "a=0.25", "--class", "b=0.75", "-o",
			     "-", NULL),
			 0);
	assert_non_null(o1);
	assert_string_equal(e1, "");
	assert_string_equal(o1, o2);
	assert_true(strcmp(o1, o3) != 0);

	/* the command writes exactly what the library draws */
	p.seed = 7;
	p.lifetime = (struct cr_gen_lifetime){.kind = CR_GEN_LIFE_WEIBULL,
					      .shape = 0.6,
					      .scale_ns = 120 * CR_SEC};
	p.classes = cls;
	p.nclasses = 2;
	generate(&p, &r);
	lib = written(&p, &r,
		      "crystal gen-events --peers 500 --duration 600 --seed 7 "
		      "--lifetime weibull:0.6,120 --class a=0.25 --class "
		      "b=0.75 -o -");
	assert_string_equal(o1, lib);
	free(lib);
	cr_gen_result_free(&r);
	free(o1);
	free(o2);
	free(o3);
	free(e1);
}

static void cli_help(void **state)
{
	static const char *const options[] = {
	    "--peers",	     "--duration",   "--seed",	     "--arrival-rate",
	    "--flash-crowd", "--join-shape", "--join-scale", "--lifetime",
	    "--die-after",   "--class",	     "--experiment", "--session",
	    "--rate",	     "--ip",	     "--base-port",  "--out",
	};
	char *argv[] = {crystal, "--help", NULL}, *out, *err;

	assert_int_equal(run(&out, &err, "--help", NULL), 0);
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		if (!strstr(out, options[i]))
			fail_msg("--help does not mention %s", options[i]);
	assert_string_equal(err, "");
	free(out);
	free(err);
	/* and crystal's own list of commands names it */
	assert_int_equal(t_run(argv, 30000, &out, NULL), 0);
	assert_non_null(strstr(out, "gen-events"));
	free(out);
}

static void cli_writes_file(void **state)
{
	char dir[64], path[128], tmp[160], *out, *text, *want;

	assert_int_equal(t_mkdtemp(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/it's events", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(run(&out, NULL, "--peers", "50", "--duration", "60",
			     "--flash-crowd", "10", "--rate", "64KB/s",
			     "--class", "dsl.2=1", "-o", path, NULL),
			 0);
	assert_string_equal(out, "");
	free(out);
	assert_false(t_exists(tmp));
	text = t_slurp(path);
	assert_non_null(text);
	/* the header quotes what a shell would need quoted */
	assert_true(asprintf(&want,
			     "# command: crystal gen-events --peers 50 "
			     "--duration 60 --flash-crowd 10 --rate 64KB/s "
			     "--class dsl.2=1 -o '%s/it'\\''s events'\n",
			     dir) > 0);
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, "# seed: 1\n"));
	assert_non_null(strstr(text, " deploy session=1 rate=64000\n"));
	assert_non_null(strstr(text, " birth class=dsl.2\n"));
	assert_non_null(
	    strstr(text, "60.000000 127.0.0.1:20000 terminate session=1\n"));
	free(want);
	free(text);
	t_rm_rf(dir);
}

static void cli_bad_options(void **state)
{
	static const struct {
		const char *args[8];
		const char *names;
	} cases[] = {
	    {{"--peers", "0", "--duration", "60"}, "--peers"},
	    {{"--peers", "10"}, "--duration"},
	    {{"--duration", "60"}, "--peers"},
	    {{"--peers", "10", "--duration", "-1"}, "--duration"},
	    {{"--peers", "10", "--duration", "60", "--arrival-rate", "-1"},
	     "--arrival-rate"},
	    {{"--peers", "10", "--duration", "60", "--arrival-rate", "0"},
	     "--arrival-rate"},
	    {{"--peers", "10", "--duration", "60", "--join-shape", "0"},
	     "--join-shape"},
	    {{"--peers", "10", "--duration", "60", "--join-shape", "-2"},
	     "--join-shape"},
	    {{"--peers", "10", "--duration", "60", "--join-scale", "0"},
	     "--join-scale"},
	    {{"--peers", "10", "--duration", "60", "--lifetime", "weibull:0,3"},
	     "--lifetime"},
	    {{"--peers", "10", "--duration", "60", "--lifetime", "pareto:1,2"},
	     "--lifetime"},
	    {{"--peers", "10", "--duration", "60", "--class", "a=0.5",
	      "--class", "b=0.4"},
	     "--class"},
	    {{"--peers", "10", "--duration", "60", "--class", "a"}, "--class"},
	    {{"--peers", "10", "--duration", "60", "--class", "a=1.5"},
	     "--class"},
	    {{"--peers", "10", "--duration", "60", "--flash-crowd", "61"},
	     "--flash-crowd"},
	    {{"--peers", "10", "--duration", "60", "--flash-crowd", "5",
	      "--arrival-rate", "1"},
	     "--flash-crowd"},
	    {{"--peers", "10", "--duration", "60", "--die-after", "soon"},
	     "--die-after"},
	    {{"--peers", "10", "--duration", "60", "--seed", "-3"}, "--seed"},
	    {{"--peers", "10", "--duration", "60", "--rate", "fast"}, "--rate"},
	    {{"--peers", "10", "--duration", "60", "--ip", "localhost"},
	     "--ip"},
	    {{"--peers", "50000", "--duration", "60"}, "--peers"},
	    {{"--peers", "10", "--duration", "60", "--base-port", "65530"},
	     "--peers"},
	    {{"--peers", "10", "--duration", "60", "--session", "0"},
	     "--session"},
	    {{"--peers", "10", "--duration", "60", "--colour"}, "--colour"},
	    {{"--peers", "10", "--duration", "60", "extra"}, "extra"},
	    {{"--peers", "10", "--duration", "60", "--lifetime"}, "--lifetime"},
	    {{"--experiment", "x.ini", "--ip", "10.0.0.1"}, "--ip"},
	};
	char dir[64], path[128];

	assert_int_equal(t_mkdtemp(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/events.txt", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[16], *out, *err;
		int n = 0, rc;

		argv[n++] = crystal;
		argv[n++] = "gen-events";
		argv[n++] = "-o";
		argv[n++] = path;
		for (int k = 0; k < 8 && cases[i].args[k]; k++)
			argv[n++] = (char *)cases[i].args[k];
		argv[n] = NULL;
		rc = t_run(argv, 30000, &out, &err);
		if (rc != 2 || !err || !strstr(err, cases[i].names))
			fail_msg("case %zu (%s): status %d, stderr '%s'", i,
				 cases[i].names, rc, err ? err : "");
		assert_string_equal(out, "");
		assert_false(t_exists(path));
		free(out);
		free(err);
	}
	t_rm_rf(dir);
}

/* --- with an experiment --------------------------------------------------- */

/* Classes "dsl" (10.0.0.1:30000..30019, the source first) and "lan"
 * (10.0.0.2:30000..30004, the tracker last); session 7. */
static struct cr_experiment *experiment(void)
{
	struct cr_experiment *e = calloc(1, sizeof(*e));
	static const struct {
		const char *name, *ip;
		size_t n;
	} cl[] = {{"dsl", "10.0.0.1", 20}, {"lan", "10.0.0.2", 5}};

	assert_non_null(e);
	snprintf(e->path, sizeof(e->path), "test.ini");
	e->duration_ns = 300 * CR_SEC;
	e->classes = calloc(2, sizeof(*e->classes));
	e->nclasses = 2;
	for (size_t c = 0; c < 2; c++) {
		snprintf(e->classes[c].name, CR_NAME_MAX, "%s", cl[c].name);
		e->classes[c].count = cl[c].n;
		e->classes[c].addrs = calloc(cl[c].n, sizeof(cr_addr));
		for (size_t i = 0; i < cl[c].n; i++) {
			char text[64];
			snprintf(text, sizeof(text), "%s:%zu", cl[c].ip,
				 30000 + i);
			assert_int_equal(
			    cr_addr_parse(&e->classes[c].addrs[i], text), 0);
		}
	}
	e->sessions = calloc(1, sizeof(*e->sessions));
	e->nsessions = 1;
	e->sessions[0].id = 7;
	e->sessions[0].source = e->classes[0].addrs[0];
	e->tracker.mode = CR_TRACKER_INPROC;
	e->tracker.addr = e->classes[1].addrs[4];
	return e;
}

static void experiment_gone(struct cr_experiment *e)
{
	for (size_t c = 0; c < e->nclasses; c++)
		free(e->classes[c].addrs);
	free(e->classes);
	free(e->sessions);
	free(e);
}

static const char *class_of(const struct cr_experiment *e, const cr_addr *a)
{
	for (size_t c = 0; c < e->nclasses; c++)
		for (size_t i = 0; i < e->classes[c].count; i++)
			if (cr_addr_eq(&e->classes[c].addrs[i], a))
				return e->classes[c].name;
	return NULL;
}

static void check_experiment_events(const struct cr_experiment *e,
				    const struct cr_gen_result *r)
{
	cr_addr seen[64];
	size_t nseen = 0;

	assert_int_equal(r->session, 7);
	assert_true(cr_addr_eq(&r->source, &e->sessions[0].source));
	for (size_t i = 0; i < r->nevents; i++) {
		const struct cr_event *ev = &r->events[i];
		const char *cls = class_of(e, &ev->peer);

		assert_non_null(cls);
		if (ev->type == CR_EV_DEPLOY || ev->type == CR_EV_TERMINATE) {
			assert_true(cr_addr_eq(&ev->peer, &r->source));
			assert_int_equal(ev->session, 7);
			continue;
		}
		if (cr_addr_eq(&ev->peer, &r->source))
			continue;
		assert_false(cr_addr_eq(&ev->peer, &e->tracker.addr));
		if (ev->type != CR_EV_BIRTH)
			continue;
		/* a birth names the class that holds the address */
		assert_string_equal(ev->class_name, cls);
		for (size_t k = 0; k < nseen; k++)
			assert_false(cr_addr_eq(&seen[k], &ev->peer));
		seen[nseen++] = ev->peer;
	}
}

static void experiment_addresses(void **state)
{
	struct cr_experiment *e = experiment();
	struct cr_gen_class lan_heavy[] = {{"lan", 0.9}, {"dsl", 0.1}};
	struct cr_gen_class nosuch[] = {{"fibre", 1}};
	struct cr_gen_params p;
	struct cr_gen_result r;

	/* every address but the source's and the tracker's, by default, over
	 * the experiment's duration */
	p = params(0, 0);
	p.exp = e;
	generate(&p, &r);
	assert_int_equal(r.peers, 19 + 4);
	assert_int_equal(r.duration_ns, 300 * CR_SEC);
	assert_int_equal(r.nclasses, 2);
	assert_int_equal(r.classes[0].peers, 19);
	assert_int_equal(r.classes[1].peers, 4);
	check_experiment_events(e, &r);
	cr_gen_result_free(&r);

	/* fewer peers: drawn without replacement, no class overflows */
	for (uint64_t s = 1; s <= 50; s++) {
		p = params(20, 0);
		p.exp = e;
		p.seed = s;
		generate(&p, &r);
		assert_int_equal(r.moved, 0);
		assert_true(r.classes[0].peers <= 19 &&
			    r.classes[1].peers <= 4);
		assert_int_equal(r.classes[0].peers + r.classes[1].peers, 20);
		check_experiment_events(e, &r);
		cr_gen_result_free(&r);
	}

	/* lan is full after 4: its other peers go to dsl */
	p = params(20, 0);
	p.exp = e;
	p.classes = lan_heavy;
	p.nclasses = 2;
	generate(&p, &r);
	assert_int_equal(r.classes[0].peers, 4);
	assert_int_equal(r.classes[1].peers, 16);
	assert_true(r.moved > 0);
	check_experiment_events(e, &r);
	cr_gen_result_free(&r);

	p = params(24, 0);
	p.exp = e;
	expect_bad(&p, "--peers");
	p = params(5, 0);
	p.exp = e;
	p.classes = lan_heavy + 1; /* dsl alone, fraction 0.1 */
	p.nclasses = 1;
	expect_bad(&p, "--class");
	p.classes = nosuch;
	expect_bad(&p, "--class fibre");
	p.classes = NULL;
	p.nclasses = 0;
	p.session = 9;
	expect_bad(&p, "--session 9");
	p.session = 7;
	generate(&p, &r);
	cr_gen_result_free(&r);
	experiment_gone(e);
}

/* Through the command, with experiment files read by cr_experiment_load. */

static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Loads events through the events reader, checked against the experiment,
 * and compares them with the file's lines. */
static void check_loads(const char *exp_path, const char *events_path)
{
	struct cr_experiment e;
	struct cr_event *ev;
	char err[512], *text, *line, *save = NULL;
	size_t n, lines = 0;
	int rc;

	rc = cr_experiment_load(exp_path, &e, err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	rc = cr_events_load(events_path, &e, &ev, &n, err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
	text = t_slurp(events_path);
	assert_non_null(text);
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char addr[CR_ADDR_STRLEN];
		long long sec, us;

		if (line[0] == '#')
			continue;
		assert_true(lines < n);
		assert_int_equal(
		    sscanf(line, "%lld.%6lld %47s", &sec, &us, addr), 3);
		assert_int_equal(ev[lines].time_ns, sec * CR_SEC + us * 1000);
		lines++;
	}
	assert_int_equal(lines, n);
	free(text);
	free(ev);
	cr_experiment_free(&e);
}

static const char churn_ini[] = "[experiment]\n"
				"name = churn\n"
				"duration = 40s\n"
				"events = churn.events\n"
				"\n"
				"[class source]\n"
				"count = 1\n"
				"addresses = 127.0.0.1:21000\n"
				"\n"
				"[class dsl]\n"
				"count = 20\n"
				"addresses = 127.0.0.1:21001-21020\n"
				"\n"
				"[class cable]\n"
				"count = 10\n"
				"addresses = 127.0.0.1:21021-21030\n"
				"\n"
				"[session 3]\n"
				"source = 127.0.0.1:21000\n"
				"rate = 50KB/s\n"
				"\n"
				"[tracker]\n"
				"mode = inproc\n"
				"address = 127.0.0.1:20999\n";

static void cli_experiment(void **state)
{
	char dir[64], ini[128], events[128], *out, *err, *text;

	/* a file that cannot be read is bad input, named */
	assert_int_equal(run(&out, &err, "--experiment",
			     "/nonexistent/experiment.ini", NULL),
			 2);
	assert_non_null(strstr(err, "--experiment"));
	assert_non_null(strstr(err, "/nonexistent/experiment.ini"));
	assert_string_equal(out, "");
	free(out);
	free(err);

	assert_int_equal(t_mkdtemp(dir, sizeof(dir)), 0);
	snprintf(ini, sizeof(ini), "%s/churn.ini", dir);
	snprintf(events, sizeof(events), "%s/churn.events", dir);
	put_file(ini, churn_ini);

	/* the experiment names the events file not written yet: refused
	 * options leave none behind */
	assert_int_equal(run(&out, &err, "--experiment", ini, "--peers", "31",
			     "-o", events, NULL),
			 2);
	assert_non_null(strstr(err, "--peers 31"));
	assert_false(t_exists(events));
	free(out);
	free(err);

	/* every address but the source's, the experiment's duration and
	 * session, and the events reader takes the result */
	assert_int_equal(run(&out, &err, "--experiment", ini, "--lifetime",
			     "weibull:0.8,10", "--die-after", "500ms", "-o",
			     events, NULL),
			 0);
	assert_string_equal(err, "");
	free(out);
	free(err);
	text = t_slurp(events);
	assert_non_null(text);
	assert_non_null(strstr(text,
			       "# session 3 from 127.0.0.1:21000: "
			       "deploy at 0, terminate at the end (40 s)\n"));
	assert_non_null(strstr(text, "# peers: 30;"));
	assert_non_null(
	    strstr(text, "0.000000 127.0.0.1:21000 deploy session=3\n"));
	assert_non_null(
	    strstr(text, "40.000000 127.0.0.1:21000 terminate session=3\n"));
	assert_null(strstr(text, "127.0.0.1:21000 birth class"));
	free(text);
	check_loads(ini, events);

	/* fractions that overfill cable: a warning, and still good events */
	assert_int_equal(run(&out, &err, "--experiment", ini, "--class",
			     "dsl=0.2", "--class", "cable=0.8", "--flash-crowd",
			     "5", "--seed", "3", "-o", events, NULL),
			 0);
	assert_non_null(strstr(err, "warning"));
	free(out);
	free(err);
	check_loads(ini, events);

	/* a class the file has not */
	assert_int_equal(run(&out, &err, "--experiment", ini, "--class",
			     "fibre=1", "-o", events, NULL),
			 2);
	assert_non_null(strstr(err, "--class fibre"));
	assert_non_null(strstr(err, "source, dsl, cable"));
	free(out);
	free(err);
	t_rm_rf(dir);
}

/* Without an experiment file the addresses run on from the source's: an
 * experiment with those addresses takes the events as they are. */
static void cli_events_fit_experiment(void **state)
{
	char dir[64], ini[128], events[128], *out, *err;

	assert_int_equal(t_mkdtemp(dir, sizeof(dir)), 0);
	snprintf(ini, sizeof(ini), "%s/exp.ini", dir);
	snprintf(events, sizeof(events), "%s/exp.events", dir);
	put_file(ini, "[experiment]\n"
		      "name = plain\n"
		      "duration = 120\n"
		      "[class src]\n"
		      "count = 1\n"
		      "addresses = 127.0.0.1:20000\n"
		      "[class peers]\n"
		      "count = 200\n"
		      "addresses = 127.0.0.1:20001-20200\n"
		      "[session 1]\n"
		      "source = 127.0.0.1:20000\n"
		      "[tracker]\n"
		      "mode = none\n");
	assert_int_equal(run(&out, &err, "--peers", "200", "--duration", "120",
			     "--class", "peers=1", "--lifetime",
			     "lognormal:3,1", "--rate", "64000", "-o", events,
			     NULL),
			 0);
	assert_string_equal(err, "");
	free(out);
	free(err);
	check_loads(ini, events);
	t_rm_rf(dir);
}

int main(void)
{
	const char *s = getenv("CRYSTAL_TEST_SEED");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(same_seed_same_bytes),
	    cmocka_unit_test(lifetimes_leave_the_rest_alone),
	    cmocka_unit_test(events_well_formed),
	    cmocka_unit_test(file_matches_events),
	    cmocka_unit_test(poisson_births),
	    cmocka_unit_test(flash_crowd_births),
	    cmocka_unit_test(weibull_joins),
	    cmocka_unit_test(weibull_lifetimes),
	    cmocka_unit_test(lognormal_lifetimes),
	    cmocka_unit_test(class_fractions),
	    cmocka_unit_test(bad_parameters),
	    cmocka_unit_test_setup(cli_help, cli_setup),
	    cmocka_unit_test_setup(cli_same_bytes, cli_setup),
	    cmocka_unit_test_setup(cli_writes_file, cli_setup),
	    cmocka_unit_test_setup(cli_bad_options, cli_setup),
	    cmocka_unit_test(experiment_addresses),
	    cmocka_unit_test_setup(cli_events_fit_experiment, cli_setup),
	    cmocka_unit_test_setup(cli_experiment, cli_setup),
	};

	if (s && *s)
		seed_base = strtoull(s, NULL, 10);
	return cmocka_run_group_tests_name("gen", tests, NULL, NULL);
}
