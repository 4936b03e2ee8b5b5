/* Experiment files: the INI description of a whole run (the format, key by
 * key, is in docs/experiment-format.md).
 *
 * The reader is five files, by what each knows of the file:
 *   experiment.c        this one: the entry points, errors, freeing;
 *   experiment-read.c   the INI lines through inih, sections and keys;
 *   experiment-keys.c   the table of every section's keys and the
 *                       parsers of their values;
 *   experiment-addr.c   the classes' address ranges and the lookups of a
 *                       peer's class and index;
 *   experiment-check.c  after the last line: required keys, and what only
 *                       the whole file shows.
 * What they share is in experiment-int.h.  The first error ends the parse,
 * and a failed load returns nothing.
 */
#include "experiment-int.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- errors --------------------------------------------------------------- */

static int vfail_at(struct loader *ld, unsigned line, int rc, const char *fmt,
		    va_list ap)
{
	int n;

	if (ld->rc)
		return ld->rc;
	n = snprintf(ld->err, ld->errlen, "%s:%u: ", ld->e->path, line);
	if (n >= 0 && (size_t)n < ld->errlen)
		vsnprintf(ld->err + n, ld->errlen - (size_t)n, fmt, ap);
	ld->rc = rc;
	ld->err_line = line;
	return rc;
}

int cr__exp_fail_at(struct loader *ld, unsigned line, int rc, const char *fmt,
		    ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = vfail_at(ld, line, rc, fmt, ap);
	va_end(ap);
	return rc;
}

int cr__exp_fail(struct loader *ld, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	rc = vfail_at(ld, ld->lineno, rc, fmt, ap);
	va_end(ap);
	return rc;
}

int cr__exp_no_memory(struct loader *ld)
{
	return cr__exp_fail(ld, -CR_ENOMEM, "out of memory");
}

/* --- the public calls ----------------------------------------------------- */

static int init(struct cr_experiment *e, const char *path, char *err,
		size_t errlen)
{
	const char *slash = strrchr(path, '/');

	*e = (struct cr_experiment){
	    .seed = 1,
	    .tracker = {.reply_peers = 20,
			.interval_ns = 5 * CR_SEC,
			.timeout_ns = 15 * CR_SEC,
			.max_sessions_per_peer = CR__TRACKER_SESSIONS_PER_PEER,
			.max_peers_per_session = CR__TRACKER_PEERS_PER_SESSION},
	};
	if (strlen(path) >= CR_PATH_MAX) {
		snprintf(err, errlen, "%.64s...: the path is too long", path);
		return -CR_EINVAL;
	}
	strcpy(e->path, path);
	if (!slash)
		strcpy(e->dir, ".");
	else if (slash == path)
		strcpy(e->dir, "/");
	else
		snprintf(e->dir, sizeof(e->dir), "%.*s", (int)(slash - path),
			 path);
	return 0;
}

/* Reads the experiment from f, once init has set out up. */
static int load_stream(FILE *f, struct cr_experiment *out, char *err,
		       size_t errlen)
{
	struct loader ld = {.e = out, .cur = NO_SECT, .f = f};
	int r;

	ld.err = err;
	ld.errlen = errlen;
	r = ini_parse_stream(cr__exp_read_line, &ld, cr__exp_on_key, &ld);
	/* inih's own complaint (a line that is neither a header nor a key)
	 * counts when it comes first */
	if (r > 0 && (!ld.rc || (unsigned)r < ld.err_line)) {
		ld.rc = 0;
		cr__exp_fail_at(&ld, (unsigned)r, -CR_EINVAL,
				"expected [section], key = value, or a comment "
				"(';' or '#' first on the line)");
	} else if (r < 0 && !ld.rc) {
		cr__exp_fail(&ld, -CR_ENOMEM, "out of memory");
	}
	if (!ld.rc)
		cr__exp_finish(&ld);
	free(ld.secs);
	if (ld.rc)
		cr_experiment_free(out);
	return ld.rc;
}

/* The file at path, or (text non-NULL) its len bytes in memory. */
static int load(const char *path, const char *text, size_t len,
		struct cr_experiment *out, char *err, size_t errlen)
{
	char scratch[1];
	FILE *f;
	int r;

	if (!err || !errlen) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = 0;
	if ((r = init(out, path, err, errlen))) {
		memset(out, 0, sizeof(*out));
		return r;
	}
	if (!text)
		f = fopen(path, "r");
	else if (len)
		f = fmemopen((void *)text, len, "r");
	else /* fmemopen takes no empty buffer: /dev/null is as empty */
		f = fopen("/dev/null", "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		memset(out, 0, sizeof(*out));
		return text ? -CR_ENOMEM : -CR_ENOENT;
	}
	r = load_stream(f, out, err, errlen);
	fclose(f);
	return r;
}

int cr_experiment_load(const char *path, struct cr_experiment *out, char *err,
		       size_t errlen)
{
	return load(path, NULL, 0, out, err, errlen);
}

int cr_experiment_load_mem(const char *path, const char *text, size_t len,
			   struct cr_experiment *out, char *err, size_t errlen)
{
	return load(path, text ? text : "", len, out, err, errlen);
}

void cr_experiment_free(struct cr_experiment *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->nclasses; i++)
		free(e->classes[i].addrs);
	free(e->classes);
	free(e->sessions);
	free(e->params);
	memset(e, 0, sizeof(*e));
}

const struct cr_session_cfg *
cr_experiment_session(const struct cr_experiment *e, uint16_t id)
{
	for (size_t i = 0; i < e->nsessions; i++)
		if (e->sessions[i].id == id)
			return &e->sessions[i];
	return NULL;
}
