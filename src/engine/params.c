/* An algorithm's parameters: the defaults it declares, the -D values the
 * run gives, and the services that read them (cr_param, cr_param_int,
 * cr_param_double, and for typed parameters cr_params_load and
 * cr_param_value).
 *
 * Every value is kept as text (what summary.json and cr_param show).  A
 * typed parameter (cr_algorithm.param_specs, API version 3) is parsed and
 * checked here once, when the node is created: a value not of its type or
 * outside its range refuses the run before anything starts, with a message
 * that names the parameter, what was given and what is accepted.  The
 * parsed values then sit in n->pvalues, read without parsing again.
 */
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const type_names[] = {
	[CR_PARAM_INT] = "a whole number",
	[CR_PARAM_DOUBLE] = "a number",
	[CR_PARAM_DURATION] = "a duration",
	[CR_PARAM_BOOL] = "true or false",
};

static int set_param(struct cr__node *n, const char *name, const char *value)
{
	struct cr__param *ps;

	for (size_t i = 0; i < n->nparams; i++) {
		if (!strcmp(n->params[i].name, name)) {
			char *v = strdup(value);
			if (!v)
				return -CR_ENOMEM;
			free(n->params[i].value);
			n->params[i].value = v;
			return 0;
		}
	}
	ps = realloc(n->params, (n->nparams + 1) * sizeof(*ps));
	if (!ps)
		return -CR_ENOMEM;
	n->params = ps;
	ps[n->nparams].name = strdup(name);
	ps[n->nparams].value = strdup(value);
	if (!ps[n->nparams].name || !ps[n->nparams].value) {
		free(ps[n->nparams].name);
		free(ps[n->nparams].value);
		return -CR_ENOMEM;
	}
	n->nparams++;
	return 0;
}

/* A duration in ns as text: in the largest unit that keeps it whole. */
static void format_ns(char *buf, size_t len, double ns)
{
	static const struct {
		double scale;
		const char *unit;
	} u[] = {{1e9, "s"}, {1e6, "ms"}, {1e3, "us"}, {1, "ns"}};

	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		if (ns == 0 || fmod(ns, u[i].scale) == 0 || i == 3) {
			snprintf(buf, len, "%.17g%s", ns / u[i].scale,
				 ns == 0 ? "ms" : u[i].unit);
			return;
		}
	}
}

static void format_value(char *buf, size_t len, cr_param_type t, double v)
{
	if (t == CR_PARAM_DURATION)
		format_ns(buf, len, v);
	else if (t == CR_PARAM_BOOL)
		snprintf(buf, len, "%s", v != 0 ? "true" : "false");
	else
		snprintf(buf, len, "%.17g", v);
}

static bool parse_bool(const char *s, double *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};

	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
			*out = !strcasecmp(s, yes[i]);
			return true;
		}
	}
	return false;
}

/* A duration: a number and a unit (ns, us, ms, s), or a bare number of
 * milliseconds; in ns. */
static bool parse_duration(const char *s, double *out)
{
	static const struct {
		const char *unit;
		double ns;
	} u[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"", 1e6}};
	char *end;
	double x = strtod(s, &end);

	if (end == s || !isfinite(x))
		return false;
	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		if (!strcmp(end, u[i].unit)) {
			*out = round(x * u[i].ns);
			return true;
		}
	}
	return false;
}

/* Parses s as a value of type t; false when it is not one. */
static bool parse_value(cr_param_type t, const char *s, double *out)
{
	char *end;

	if (!*s)
		return false;
	switch (t) {
	case CR_PARAM_INT: {
		long long x = strtoll(s, &end, 10);
		*out = (double)x;
		return !*end && fabs(*out) <= 9007199254740992.0;
	}
	case CR_PARAM_DOUBLE:
		*out = strtod(s, &end);
		return !*end && isfinite(*out);
	case CR_PARAM_DURATION:
		return parse_duration(s, out);
	case CR_PARAM_BOOL:
		return parse_bool(s, out);
	}
	return false;
}

/* "from 2 to 4096", in the parameter's own terms. */
static void format_range(char *buf, size_t len, const cr_param_spec *d)
{
	char lo[48], hi[48];

	if (d->type == CR_PARAM_BOOL) {
		snprintf(buf, len, "true or false");
		return;
	}
	format_value(lo, sizeof(lo), d->type, d->min);
	format_value(hi, sizeof(hi), d->type, d->max);
	snprintf(buf, len, "%s from %s to %s", type_names[d->type], lo, hi);
}

/* A declaration the engine cannot honour is the algorithm's mistake. */
static int check_spec(const struct cr__node *n, const cr_param_spec *d,
		      char *err, size_t errlen)
{
	if ((unsigned)d->type > CR_PARAM_BOOL || isnan(d->def) ||
	    (d->type != CR_PARAM_BOOL &&
	     (!(d->min <= d->max) || d->def < d->min || d->def > d->max))) {
		snprintf(err, errlen,
			 "algorithm '%s' declares parameter '%s' badly: an "
			 "unknown type, or a default outside its range",
			 n->algo.name, d->name);
		return -CR_EINVAL;
	}
	return 0;
}

/* Parses and checks one typed parameter's text into *out. */
static int check_value(const struct cr__node *n, const cr_param_spec *d,
		       double *out, char *err, size_t errlen)
{
	const char *s = cr__node_param(n, d->name);
	char range[160];

	if (s && parse_value(d->type, s, out) &&
	    (d->type == CR_PARAM_BOOL || (*out >= d->min && *out <= d->max))) {
		if (d->type == CR_PARAM_BOOL)
			*out = *out != 0;
		return 0;
	}
	format_range(range, sizeof(range), d);
	snprintf(err, errlen,
		 "-D %s=%s: parameter '%s' of algorithm '%s' is %s%s",
		 d->name, s ? s : "", d->name, n->algo.name, range,
		 d->type == CR_PARAM_DURATION
			 ? " (with a unit: ns, us, ms or s; a bare number is "
			   "in ms)"
			 : "");
	return -CR_EINVAL;
}

static bool declared(const struct cr__node *n, const char *name)
{
	for (const cr_param_def *d = n->algo.params; d && d->name; d++)
		if (!strcmp(d->name, name))
			return true;
	for (const cr_param_spec *d = n->algo.param_specs; d && d->name; d++)
		if (!strcmp(d->name, name))
			return true;
	return false;
}

static void append_name(char *names, size_t len, const char *name)
{
	size_t k = strlen(names);

	if (k + 1 < len)
		snprintf(names + k, len - k, "%s%s", k ? ", " : "", name);
}

/* "-D x: algorithm 'a' has no parameter 'x' (it accepts: ...)". */
static void unknown(const struct cr__node *n, const char *name, char *err,
		    size_t errlen)
{
	char names[512] = "";

	for (const cr_param_def *d = n->algo.params; d && d->name; d++)
		append_name(names, sizeof(names), d->name);
	for (const cr_param_spec *d = n->algo.param_specs; d && d->name; d++)
		append_name(names, sizeof(names), d->name);
	snprintf(err, errlen,
		 "-D %s: algorithm '%s' has no parameter '%s' (it accepts: %s)",
		 name, n->algo.name, name, *names ? names : "none");
}

static int set_defaults(struct cr__node *n, char *err, size_t errlen)
{
	char text[64];
	int e;

	for (const cr_param_def *d = n->algo.params; d && d->name; d++)
		if (d->default_value && set_param(n, d->name, d->default_value))
			return -CR_ENOMEM;
	for (const cr_param_spec *d = n->algo.param_specs; d && d->name; d++) {
		e = check_spec(n, d, err, errlen);
		if (e)
			return e;
		format_value(text, sizeof(text), d->type, d->def);
		if (set_param(n, d->name, text))
			return -CR_ENOMEM;
		n->npvalues++;
	}
	return 0;
}

int cr__params_init(struct cr__node *n, char *err, size_t errlen)
{
	size_t i = 0;
	int e;

	e = set_defaults(n, err, errlen);
	if (e)
		return e;
	for (size_t k = 0; k < n->cfg.nparams; k++) {
		const struct cr_node_param *p = &n->cfg.params[k];
		if (!declared(n, p->name)) {
			unknown(n, p->name, err, errlen);
			return -CR_EINVAL;
		}
		if (set_param(n, p->name, p->value))
			return -CR_ENOMEM;
	}
	if (!n->npvalues)
		return 0;
	n->pvalues = calloc(n->npvalues, sizeof(*n->pvalues));
	if (!n->pvalues)
		return -CR_ENOMEM;
	for (const cr_param_spec *d = n->algo.param_specs; d->name; d++, i++) {
		e = check_value(n, d, &n->pvalues[i], err, errlen);
		if (e)
			return e;
	}
	return 0;
}

void cr__params_free(struct cr__node *n)
{
	for (size_t i = 0; i < n->nparams; i++) {
		free(n->params[i].name);
		free(n->params[i].value);
	}
	free(n->params);
	free(n->pvalues);
	n->params = NULL;
	n->pvalues = NULL;
	n->nparams = n->npvalues = 0;
}

/* --- the services -------------------------------------------------------- */

int cr_param_spec_describe(const cr_param_spec *d, char *buf, size_t len)
{
	char range[160], def[48];

	format_range(range, sizeof(range), d);
	format_value(def, sizeof(def), d->type, d->def);
	return snprintf(buf, len, "%s, default %s", range, def);
}

const char *cr_param(const cr_peer *p, const char *name)
{
	return cr__node_param(p->node, name);
}

int64_t cr_param_int(const cr_peer *p, const char *name, int64_t fallback)
{
	const char *v = cr_param(p, name);
	char *end;
	long long x;

	if (!v || !*v)
		return fallback;
	x = strtoll(v, &end, 10);
	return *end ? fallback : x;
}

double cr_param_double(const cr_peer *p, const char *name, double fallback)
{
	const char *v = cr_param(p, name);
	char *end;
	double x;

	if (!v || !*v)
		return fallback;
	x = strtod(v, &end);
	return *end ? fallback : x;
}

double cr_param_value(const cr_peer *p, const char *name)
{
	const struct cr__node *n = p->node;
	size_t i = 0;

	if (!name || !n->pvalues)
		return NAN;
	for (const cr_param_spec *d = n->algo.param_specs; d->name; d++, i++)
		if (!strcmp(d->name, name))
			return n->pvalues[i];
	return NAN;
}

int cr_params_load(const cr_peer *p, void *dst)
{
	const struct cr__node *n = p->node;
	size_t i = 0;

	if (!dst || !n->pvalues)
		return -CR_EINVAL;
	for (const cr_param_spec *d = n->algo.param_specs; d->name; d++, i++) {
		char *at = (char *)dst + d->offset;
		double v = n->pvalues[i];
		if (d->type == CR_PARAM_DOUBLE) {
			memcpy(at, &v, sizeof(v));
		} else if (d->type == CR_PARAM_BOOL) {
			bool b = v != 0;
			memcpy(at, &b, sizeof(b));
		} else {
			int64_t x = (int64_t)v;
			memcpy(at, &x, sizeof(x));
		}
	}
	return 0;
}
