/* Command-line options from one table: the parser and --help (opt.h).
 *
 * getopt_long does the splitting of argv (permuting, "--opt=value", "--"):
 * its struct option array is made from the table, each long option
 * returning 256 + its row, so a row is found again without a switch.  A
 * value is then read by the row's kind, within its range, into the field
 * at its offset; a refused one gets "CMD: --opt 'value': expected ..."
 * and exit status 2, as every command has always said it.
 */
#include "../core/units.h"
#include "opt.h"

#include <crystal/units.h>

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 64 /* a row's bit in *given */

const char *cr__opt_label(const struct cr__opt *row, char *buf, size_t len)
{
	if (row->name)
		snprintf(buf, len, "--%s", row->name);
	else
		snprintf(buf, len, "-%c", row->short_name);
	return buf;
}

int cr__opt_bad(const char *cmd, const char *opt, const char *val,
		const char *accepted)
{
	fprintf(stderr, "%s: %s '%s': expected %s\n", cmd, opt, val, accepted);
	return 2;
}

static size_t count_rows(const struct cr__opt *opts)
{
	size_t n = 0;

	while (opts[n].name || opts[n].short_name)
		n++;
	return n;
}

/* A time within the row's range; 0 or -1. */
static int read_time(const struct cr__opt *row, const char *arg, int64_t *ns)
{
	if (cr_parse_time(arg, CR_SEC, ns))
		return -1;
	if (row->min && *ns < (int64_t)row->min)
		return -1;
	if (row->max && *ns > (int64_t)row->max)
		return -1;
	return 0;
}

/* A whole number, size or rate within the row's range; 0 or -1. */
static int read_uint(const struct cr__opt *row, const char *arg, uint64_t *v)
{
	switch (row->kind) {
	case CR__OPT_UINT:
		if (cr_parse_uint(arg, row->max, v))
			return -1;
		break;
	case CR__OPT_SIZE:
		if (cr_parse_size(arg, v) || (row->max && *v > row->max))
			return -1;
		break;
	default: /* CR__OPT_RATE */
		return cr_parse_rate(arg, v) ? -1 : 0;
	}
	return *v < row->min ? -1 : 0;
}

/* A number, or a probability (0 to 1) for a PROB row; 0 or -1. */
static int read_num(const struct cr__opt *row, const char *arg, double *p)
{
	char *end;
	double v = strtod(arg, &end);

	if (end == arg || *end)
		return -1;
	if (row->kind == CR__OPT_PROB && !(v >= 0 && v <= 1))
		return -1;
	*p = v;
	return 0;
}

/* One option's value into dst; 0 or exit status 2. */
static int read_value(const struct cr__cmd *cmd, const struct cr__opt *row,
		      const char *arg, void *dst)
{
	char *field = (char *)dst + row->off, label[64];
	uint64_t u;
	int64_t t;
	int rc = 0;

	switch (row->kind) {
	case CR__OPT_FLAG:
		*(bool *)field = true;
		return 0;
	case CR__OPT_STR:
		*(const char **)field = arg;
		return 0;
	case CR__OPT_FUNC:
		return row->parse(row, arg, dst);
	case CR__OPT_TIME:
		if (!(rc = read_time(row, arg, &t)))
			memcpy(field, &t, sizeof(t));
		break;
	case CR__OPT_PROB:
	case CR__OPT_NUM:
		rc = read_num(row, arg, (double *)field);
		break;
	default:
		if (!(rc = read_uint(row, arg, &u)))
			memcpy(field, &u, sizeof(u));
	}
	if (!rc)
		return 0;
	return cr__opt_bad(cmd->name, cr__opt_label(row, label, sizeof(label)),
			   arg, row->accepted);
}

/* getopt_long's view of the table, and the short options' string. */
static void getopt_table(const struct cr__opt *opts, size_t n,
			 struct option *lo, char *shorts)
{
	size_t k = 0, s = 0;

	shorts[s++] = ':';
	for (size_t i = 0; i < n; i++) {
		bool arg = opts[i].kind != CR__OPT_FLAG &&
			   opts[i].kind != CR__OPT_HELP;
		if (opts[i].short_name) {
			shorts[s++] = opts[i].short_name;
			if (arg)
				shorts[s++] = ':';
			if (arg && opts[i].optional)
				shorts[s++] = ':';
		}
		if (opts[i].name)
			lo[k++] = (struct option){
				opts[i].name,
				!arg		   ? no_argument
				: opts[i].optional ? optional_argument
						   : required_argument,
				NULL,
				256 + (int)i};
	}
	shorts[s] = 0;
	lo[k] = (struct option){NULL, 0, NULL, 0};
}

/* The row of getopt's answer c, or -1. */
static int row_of(const struct cr__opt *opts, size_t n, int c)
{
	if (c >= 256)
		return c - 256;
	for (size_t i = 0; i < n; i++)
		if (opts[i].short_name && opts[i].short_name == c)
			return (int)i;
	return -1;
}

/* A missing value or an unknown option: exit status 2. */
static int bad_option(const struct cr__cmd *cmd, int c, const char *text)
{
	if (cmd->usage_on_error) {
		fprintf(stderr, "%s: bad option '%s'\n\n", cmd->name, text);
		cr__opt_usage(cmd, stderr);
	} else if (c == ':') {
		fprintf(stderr, "%s: %s needs a value\n", cmd->name, text);
	} else {
		fprintf(stderr, "%s: unknown option '%s' (see %s --help)\n",
			cmd->name, text, cmd->name);
	}
	return 2;
}

int cr__opt_parse(const struct cr__cmd *cmd, int argc, char **argv,
		  void *dst, uint64_t *given)
{
	size_t n = count_rows(cmd->opts);
	struct option lo[MAX_ROWS + 1];
	char shorts[3 * MAX_ROWS + 2];
	int c, i, rc;

	if (n > MAX_ROWS)
		abort(); /* a table too long for *given: a bug, not input */
	getopt_table(cmd->opts, n, lo, shorts);
	*given = 0;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		i = row_of(cmd->opts, n, c);
		if (i < 0)
			return bad_option(cmd, c, argv[optind - 1]);
		*given |= 1ull << i;
		if (cmd->opts[i].kind == CR__OPT_HELP) {
			cr__opt_usage(cmd, stdout);
			return -1;
		}
		rc = read_value(cmd, &cmd->opts[i], optarg, dst);
		if (rc)
			return rc;
	}
	return 0;
}

/* One row of --help: "  --name ARG" (or "  -n, --name ARG") and its text
 * from help_col on, the text's further lines under it. */
static void usage_row(const struct cr__cmd *cmd, const struct cr__opt *row,
		      FILE *f)
{
	char label[64];
	const char *h = row->help, *nl;
	int len;

	if (row->name && row->short_name)
		snprintf(label, sizeof(label), "-%c, --%s", row->short_name,
			 row->name);
	else
		cr__opt_label(row, label, sizeof(label));
	len = fprintf(f, "  %s%s%s%s", label,
		      !row->arg	      ? ""
		      : row->optional ? "[="
				      : " ",
		      row->arg ? row->arg : "", row->optional ? "]" : "");
	fprintf(f, "%*s", len < cmd->help_col ? cmd->help_col - len : 2, "");
	while ((nl = strchr(h, '\n'))) {
		fprintf(f, "%.*s\n%*s", (int)(nl - h), h, cmd->help_col, "");
		h = nl + 1;
	}
	fprintf(f, "%s\n", h);
}

void cr__opt_usage(const struct cr__cmd *cmd, FILE *f)
{
	fputs(cmd->head, f);
	for (const struct cr__opt *row = cmd->opts;
	     row->name || row->short_name; row++) {
		if (row->section)
			fprintf(f, "\n%s\n", row->section);
		if (row->help)
			usage_row(cmd, row, f);
	}
	if (cmd->tail)
		fputs(cmd->tail, f);
}
