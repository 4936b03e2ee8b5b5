/* Parsing of values with units, for the command line and experiment files:
 * rates (B/s, KB/s, MB/s, GB/s with 1 KB = 1000 B; kbit/s, Mbit/s, Gbit/s),
 * times (ns, us, ms, s; a bare number is in the caller's default unit) and
 * sizes (B, KB, MB, KiB, MiB).  Each returns 0 or -CR_EINVAL; the
 * accepted forms are in the *_FORMS strings, for error messages.
 */
#include "common.h"
#include "units.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct unit {
	const char *name;
	double factor;
};

static int parse_with(const char *text, const struct unit *units,
		      double bare_factor, double *out)
{
	char *end;
	double v;

	if (!text)
		return -CR_EINVAL;
	while (isspace((unsigned char)*text))
		text++;
	if (!*text || *text == '-' || *text == '+')
		return -CR_EINVAL;
	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text || !isfinite(v) || v < 0)
		return -CR_EINVAL;
	while (isspace((unsigned char)*end))
		end++;
	if (!*end) {
		*out = v * bare_factor;
		return 0;
	}
	for (const struct unit *u = units; u->name; u++) {
		if (!strcmp(end, u->name)) {
			*out = v * u->factor;
			return 0;
		}
	}
	return -CR_EINVAL;
}

static const struct unit rate_units[] = {
	{"B/s", 1},	  {"KB/s", 1e3},     {"kB/s", 1e3},
	{"MB/s", 1e6},	  {"GB/s", 1e9},     {"bit/s", 1.0 / 8},
	{"kbit/s", 1e3 / 8}, {"Kbit/s", 1e3 / 8}, {"Mbit/s", 1e6 / 8},
	{"Gbit/s", 1e9 / 8}, {NULL, 0},
};

int cr_parse_rate(const char *text, uint64_t *Bps)
{
	double v;

	if (parse_with(text, rate_units, 1, &v) || v > 1e15)
		return -CR_EINVAL;
	*Bps = (uint64_t)llround(v);
	return 0;
}

static const struct unit time_units[] = {
	{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {NULL, 0},
};

int cr_parse_time(const char *text, double bare_unit_ns, int64_t *ns)
{
	double v;

	if (parse_with(text, time_units, bare_unit_ns, &v) || v > 9e18)
		return -CR_EINVAL;
	*ns = (int64_t)llround(v);
	return 0;
}

static const struct unit size_units[] = {
	{"B", 1},	{"KB", 1e3},	  {"kB", 1e3},	    {"MB", 1e6},
	{"GB", 1e9},	{"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0},
	{NULL, 0},
};

int cr_parse_size(const char *text, uint64_t *bytes)
{
	double v;

	if (parse_with(text, size_units, 1, &v) || v > 1e15 ||
	    v != floor(v))
		return -CR_EINVAL;
	*bytes = (uint64_t)v;
	return 0;
}

int cr_parse_uint(const char *text, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!text || !isdigit((unsigned char)*text))
		return -CR_EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || *end || v > max)
		return -CR_EINVAL;
	*out = v;
	return 0;
}

/* A rate for people, in the decimal units cr_parse_rate reads: "1.50 MB/s",
 * "812 B/s".  Used by the live status line and the report's tables. */
void cr__human_rate(double Bps, char *buf, size_t len)
{
	if (Bps >= 1e9)
		snprintf(buf, len, "%.2f GB/s", Bps / 1e9);
	else if (Bps >= 1e6)
		snprintf(buf, len, "%.2f MB/s", Bps / 1e6);
	else if (Bps >= 1e3)
		snprintf(buf, len, "%.2f KB/s", Bps / 1e3);
	else
		snprintf(buf, len, "%.0f B/s", Bps);
}
