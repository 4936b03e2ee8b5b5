/* crystal report: CSV records, RFC 4180 (quoted fields, "" for a quote,
 * line breaks inside quotes), read one record at a time so that a long
 * peers.csv is never held whole.  Debian's libcsv ships no pkg-config
 * file, so the build could not find it the way it finds every other
 * library; this reader is the few lines our files need.
 *
 * A file a killed run left behind may end inside its last record: that
 * record is reported as cut, never returned half.
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * size);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

static int put_char(struct rp_csv *c, char ch)
{
	if (grow((void **)&c->text, &c->text_cap, c->text_len + 1, 1))
		return -1;
	c->text[c->text_len++] = ch;
	return 0;
}

static int end_field(struct rp_csv *c, size_t start)
{
	if (put_char(c, '\0'))
		return -1;
	if (grow((void **)&c->start, &c->fields_cap, c->nfields + 1,
		 sizeof(*c->start)))
		return -1;
	c->start[c->nfields++] = start;
	return 0;
}

/* One line without its line break; false at the end of the file.  *cut:
 * the line had no line break (the file ends inside it). */
static bool read_line(struct rp_csv *c, size_t *len, bool *cut)
{
	ssize_t n = getline(&c->line, &c->line_cap, c->f);

	if (n <= 0)
		return false;
	c->lines++;
	*cut = c->line[n - 1] != '\n';
	if (!*cut)
		n--;
	if (n > 0 && c->line[n - 1] == '\r')
		n--;
	*len = (size_t)n;
	return true;
}

int rp_csv_next(struct rp_csv *c)
{
	size_t len, start = 0;
	bool cut, quoted = false;

	c->text_len = 0;
	c->nfields = 0;
	if (!read_line(c, &len, &cut))
		return 0;
	c->line_no = c->lines;
	for (;;) {
		for (size_t i = 0; i < len; i++) {
			char ch = c->line[i];

			if (quoted && ch == '"' && i + 1 < len &&
			    c->line[i + 1] == '"') {
				i++;
			} else if (ch == '"') {
				quoted = !quoted;
				continue;
			} else if (ch == ',' && !quoted) {
				if (end_field(c, start))
					return -1;
				start = c->text_len;
				continue;
			}
			if (put_char(c, ch))
				return -1;
		}
		if (cut)
			return -1;
		if (!quoted)
			break;
		/* a line break inside quotes belongs to the field */
		if (put_char(c, '\n') || !read_line(c, &len, &cut))
			return -1;
	}
	return end_field(c, start) ? -1 : 1;
}

int rp_csv_open(struct rp_csv *c, const char *path)
{
	memset(c, 0, sizeof(*c));
	c->f = fopen(path, "r");
	if (!c->f)
		return -1;
	if (rp_csv_next(c) != 1 || (c->nfields == 1 && !c->text[0])) {
		rp_csv_close(c);
		return -2;
	}
	c->names = calloc(c->nfields, sizeof(*c->names));
	if (!c->names) {
		rp_csv_close(c);
		errno = ENOMEM;
		return -1;
	}
	c->ncols = c->nfields;
	for (size_t i = 0; i < c->ncols; i++) {
		c->names[i] = strdup(c->text + c->start[i]);
		if (!c->names[i]) {
			rp_csv_close(c);
			errno = ENOMEM;
			return -1;
		}
	}
	return 0;
}

int rp_csv_col(const struct rp_csv *c, const char *name)
{
	for (size_t i = 0; i < c->ncols; i++)
		if (!strcmp(c->names[i], name))
			return (int)i;
	return -1;
}

const char *rp_csv_field(const struct rp_csv *c, int col)
{
	if (col < 0 || (size_t)col >= c->nfields)
		return NULL;
	return c->text + c->start[col];
}

void rp_csv_close(struct rp_csv *c)
{
	if (c->f)
		fclose(c->f);
	for (size_t i = 0; c->names && i < c->ncols; i++)
		free(c->names[i]);
	free(c->names);
	free(c->line);
	free(c->text);
	free(c->start);
	memset(c, 0, sizeof(*c));
}

bool rp_parse_num(const char *s, double *out)
{
	char *end;

	if (!s || !*s) {
		*out = NAN;
		return true;
	}
	errno = 0;
	*out = strtod(s, &end);
	while (*end == ' ')
		end++;
	return end != s && !*end && errno != ERANGE && isfinite(*out);
}
