/* Events-file generation: the file (see gen.h for what it holds).  A
 * header of comments says how the events were drawn, then one event a
 * line in the format of docs/events-format.md, which cr_events_load reads
 * back as the very events in memory.
 */
#include "gen.h"

#include <gsl/gsl_sf_gamma.h>

#include <math.h>
#include <stdio.h>

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
