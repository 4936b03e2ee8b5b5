/* Files of one record a line: the events, topology and latency matrix
 * files of src/scenario all read through this.
 *
 * A line's fields are separated by blanks, `#` starts a comment that runs
 * to the end of the line, and a line without a field is skipped; a CR
 * before the line break is a blank like any other, and the last line needs
 * no break.  Lines are counted from 1, blank ones too, so that every error
 * names the line a person sees in an editor.  What would be read wrong is
 * refused, not passed on: a line longer than the format takes (a bound on
 * what a binary file costs), a NUL byte (which would hide the rest of the
 * line).  The format says where those bounds are and what the messages
 * say; the latency matrix keeps rules of its own (matrix.c).
 */
#include "lines.h"

#include <crystal/error.h>

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* Longer than any sensible line. */
const struct cr__lines_format cr__lines_default = {
    .max_len = 1u << 20,
    .break_counts = true,
    .too_long = "the line is longer than 1048576 bytes",
    .blanks = " \t\r\n\v\f",
    .nul = "a NUL byte: this file is text",
};

int cr__lines_fail(struct cr__lines *l, unsigned line, int rc, const char *fmt,
		   ...)
{
	va_list ap;
	int n = snprintf(l->err, l->errlen, "%s:%u: ", l->path, line);

	if (n >= 0 && (size_t)n < l->errlen) {
		va_start(ap, fmt);
		vsnprintf(l->err + n, l->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int cr__lines_open(struct cr__lines *l, const char *path,
		   const struct cr__lines_format *fmt, char *err, size_t errlen)
{
	*l = (struct cr__lines){
	    .path = path,
	    .fmt = fmt ? fmt : &cr__lines_default,
	    .err = err,
	    .errlen = errlen,
	};
	l->f = fopen(path, "r");
	if (!l->f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -CR_ENOENT;
	}
	return 0;
}

void cr__lines_close(struct cr__lines *l)
{
	if (l->f)
		fclose(l->f);
	free(l->buf);
	free(l->tok);
	l->f = NULL;
	l->buf = NULL;
	l->tok = NULL;
}

/* The line of len bytes just read, against the format's bounds. */
static int check(struct cr__lines *l, size_t len)
{
	const struct cr__lines_format *fmt = l->fmt;
	bool has_break = l->buf[len - 1] == '\n';
	size_t counted = fmt->break_counts ? len : len - has_break;
	bool has_nul = strlen(l->buf) < len;

	if (counted > fmt->max_len || (has_nul && has_break && !fmt->nul))
		return cr__lines_fail(l, l->lineno, -CR_EINVAL, "%s",
				      fmt->too_long);
	if (has_nul && fmt->nul)
		return cr__lines_fail(l, l->lineno, -CR_EINVAL, "%s", fmt->nul);
	return 0;
}

static int add_field(struct cr__lines *l, char *t)
{
	if (l->ntok == l->tokcap) {
		size_t c = l->tokcap ? l->tokcap * 2 : 16;
		char **nt = realloc(l->tok, c * sizeof(*nt));

		if (!nt)
			return cr__lines_fail(l, l->lineno, -CR_ENOMEM,
					      "out of memory");
		l->tok = nt;
		l->tokcap = c;
	}
	l->tok[l->ntok++] = t;
	return 0;
}

/* The line's fields, up to its comment. */
static int split(struct cr__lines *l)
{
	const char *blanks = l->fmt->blanks;
	char *save = NULL, *hash;
	int rc;

	if ((hash = strchr(l->buf, '#')))
		*hash = 0;
	l->ntok = 0;
	for (char *t = strtok_r(l->buf, blanks, &save); t;
	     t = strtok_r(NULL, blanks, &save))
		if ((rc = add_field(l, t)))
			return rc;
	return 0;
}

int cr__lines_next(struct cr__lines *l)
{
	ssize_t len;
	int rc;

	for (;;) {
		errno = 0;
		len = getline(&l->buf, &l->cap, l->f);
		if (len < 0 && (!errno || l->fmt->errors_end))
			return 0;
		if (len < 0)
			return cr__lines_fail(l, l->lineno + 1, -CR_EIO,
					      "cannot read: %s",
					      strerror(errno));
		l->lineno++;
		if ((rc = check(l, (size_t)len)) || (rc = split(l)))
			return rc;
		if (l->ntok)
			return 1;
	}
}
