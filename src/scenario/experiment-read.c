/* Experiment files: the INI lines, sections and keys (see experiment.c for
 * the other files of the reader).
 *
 * inih reads the INI syntax; this file opens the sections it finds and
 * hands each key to its parser (experiment-keys.c).  Debian's inih passes no
 * line number to the handler and says nothing of a section without keys, so the
 * file reaches inih through our own reader: it counts lines, notes each
 * [section] header, and refuses what inih would otherwise take apart quietly (a
 * line longer than inih's buffer, which it would split in two; a NUL byte,
 * which would hide the rest of the line; an indented line, which it would glue
 * to the value above).  The first error ends the parse, and a failed load
 * returns nothing.
 */
#include "experiment-int.h"
#include "../core/units.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* inih keeps this many characters of a section name and drops the rest. */
#define INI_SECTION_MAX 49

/* --- helpers -------------------------------------------------------------- */

/* Makes room for one more element in *v, which holds n of them. */
static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 8;
	void *nv;

	if (n < *cap)
		return 0;
	nv = realloc(*v, c * size);
	if (!nv)
		return -CR_ENOMEM;
	*v = nv;
	*cap = c;
	return 0;
}

/* --- opening a section ---------------------------------------------------- */

/* The same section given twice: 0, or the line it was first at. */
static unsigned seen_before(struct loader *ld, enum kind k, const char *arg)
{
	for (size_t i = 0; i < ld->nsecs; i++) {
		const struct sect *s = &ld->secs[i];
		bool same = s->kind == k;
		uint64_t id;

		if (same && k == K_CLASS)
			same = !strcmp(ld->e->classes[s->index].name, arg);
		else if (same && k == K_SESSION)
			same = !cr_parse_uint(arg, 65535, &id) &&
			       ld->e->sessions[s->index].id == id;
		if (same)
			return s->line;
	}
	return 0;
}

static int add_class(struct loader *ld, unsigned line, const char *name,
		     size_t *index)
{
	struct cr_experiment *e = ld->e;

	if (!cr__exp_valid_name(name))
		return cr__exp_fail_at(ld, line, -CR_EINVAL,
				       "class name '%s': expected " NAME_FORMS,
				       name);
	if (grow((void **)&e->classes, &ld->cap_classes, e->nclasses,
		 sizeof(*e->classes)))
		return cr__exp_no_memory(ld);
	*index = e->nclasses++;
	memset(&e->classes[*index], 0, sizeof(e->classes[0]));
	strcpy(e->classes[*index].name, name);
	e->classes[*index].line = line;
	return 0;
}

static int add_session(struct loader *ld, unsigned line, const char *id,
		       size_t *index)
{
	struct cr_experiment *e = ld->e;
	struct cr_session_cfg *s;
	uint64_t v;

	if (cr_parse_uint(id, 65535, &v) || !v)
		return cr__exp_fail_at(
		    ld, line, -CR_EINVAL,
		    "session ID '%s': expected a whole number "
		    "from 1 to 65535",
		    id);
	if (grow((void **)&e->sessions, &ld->cap_sessions, e->nsessions,
		 sizeof(*e->sessions)))
		return cr__exp_no_memory(ld);
	*index = e->nsessions++;
	s = &e->sessions[*index];
	*s = (struct cr_session_cfg){
	    .id = (uint16_t)v,
	    .message_size = 1024,
	    .segment_ns = CR_SEC,
	    .data = CR_DATA_RANDOM,
	    .line = line,
	};
	return 0;
}

/* "class dsl" -> K_CLASS and "dsl". */
static int section_kind(struct loader *ld, unsigned line, char *name,
			enum kind *k, char **arg)
{
	char *end = name + strlen(name);

	while (end > name && isspace((unsigned char)end[-1]))
		*--end = 0;
	while (isspace((unsigned char)*name))
		name++;
	*arg = name + strcspn(name, " \t");
	if (**arg) {
		*(*arg)++ = 0;
		*arg += strspn(*arg, " \t");
	}
	for (size_t i = 0; i < sizeof(cr__exp_kinds) / sizeof(cr__exp_kinds[0]);
	     i++) {
		bool named = i == K_CLASS || i == K_SESSION;

		if (strcmp(name, cr__exp_kinds[i].name) ||
		    named != (**arg != 0))
			continue;
		*k = (enum kind)i;
		return 0;
	}
	if (!strcmp(name, "class") || !strcmp(name, "session"))
		return cr__exp_fail_at(ld, line, -CR_EINVAL,
				       "[%s] needs %s, as in [class dsl] or "
				       "[session 1]",
				       name,
				       name[0] == 'c' ? "a name" : "an ID");
	return cr__exp_fail_at(
	    ld, line, -CR_EINVAL,
	    "unknown section [%s%s%s]; accepted: [experiment], "
	    "[algorithm], [class NAME], [session ID], [tracker]",
	    name, **arg ? " " : "", *arg);
}

/* Starts section `title` (a header at `line`): keys go to it from now on. */
static int open_section(struct loader *ld, unsigned line, const char *title)
{
	char name[LINE_CAP], *arg;
	struct sect s = {.line = line};
	unsigned first;

	snprintf(name, sizeof(name), "%s", title);
	if (section_kind(ld, line, name, &s.kind, &arg))
		return ld->rc;
	first = seen_before(ld, s.kind, arg);
	if (first)
		return cr__exp_fail_at(
		    ld, line, -CR_EINVAL,
		    "section [%s%s%s] is given twice, first at line "
		    "%u",
		    cr__exp_kinds[s.kind].name, *arg ? " " : "", arg, first);
	if (s.kind == K_CLASS && add_class(ld, line, arg, &s.index))
		return ld->rc;
	if (s.kind == K_SESSION && add_session(ld, line, arg, &s.index))
		return ld->rc;
	if (grow((void **)&ld->secs, &ld->cap_secs, ld->nsecs,
		 sizeof(*ld->secs)))
		return cr__exp_no_memory(ld);
	ld->cur = ld->nsecs;
	ld->secs[ld->nsecs++] = s;
	return 0;
}

/* --- keys ----------------------------------------------------------------- */

static int add_param(struct loader *ld, const char *name, const char *v)
{
	struct cr_experiment *e = ld->e;
	struct cr_param_kv *p;

	if (!*name || strlen(name) >= CR_NAME_MAX)
		return cr__exp_fail(
		    ld, -CR_EINVAL,
		    "parameter name '%s': expected 1 to %d characters", name,
		    CR_NAME_MAX - 1);
	if (strlen(v) >= sizeof(p->value))
		return cr__exp_fail(
		    ld, -CR_EINVAL,
		    "parameter %s: the value is longer than %zu "
		    "characters",
		    name, sizeof(p->value) - 1);
	for (size_t i = 0; i < e->nparams; i++)
		if (!strcmp(e->params[i].name, name))
			return cr__exp_fail(
			    ld, -CR_EINVAL,
			    "parameter '%s' is already set at line %u", name,
			    e->params[i].line);
	if (grow((void **)&e->params, &ld->cap_params, e->nparams,
		 sizeof(*e->params)))
		return cr__exp_no_memory(ld);
	p = &e->params[e->nparams++];
	strcpy(p->name, name);
	strcpy(p->value, v);
	p->line = ld->lineno;
	return 0;
}

static int unknown_key(struct loader *ld, const struct sect *s,
		       const char *name)
{
	char title[CR_NAME_MAX + 16], accepted[256] = "";
	size_t n = cr__exp_kinds[s->kind].nkeys;

	for (size_t i = 0; i < n; i++)
		snprintf(accepted + strlen(accepted),
			 sizeof(accepted) - strlen(accepted), "%s%s",
			 i ? ", " : "", cr__exp_kinds[s->kind].keys[i].name);
	return cr__exp_fail(
	    ld, -CR_EINVAL, "unknown key '%s' in %s; accepted: %s", name,
	    cr__exp_sect_title(ld, s, title, sizeof(title)), accepted);
}

static int set_key(struct loader *ld, struct sect *s, const char *name,
		   const char *v)
{
	const struct key *keys = cr__exp_kinds[s->kind].keys;

	if (s->kind == K_ALGORITHM)
		return add_param(ld, name, v);
	for (size_t i = 0; i < cr__exp_kinds[s->kind].nkeys; i++) {
		if (strcmp(keys[i].name, name))
			continue;
		if (s->key_line[i])
			return cr__exp_fail(ld, -CR_EINVAL,
					    "'%s' is already set at line %u",
					    name, s->key_line[i]);
		s->key_line[i] = ld->lineno;
		ld->key = name;
		return keys[i].set(ld, s, &keys[i], v);
	}
	return unknown_key(ld, s, name);
}

/* inih's handler: returns nonzero to go on. */
int cr__exp_on_key(void *user, const char *section, const char *name,
		   const char *value)
{
	struct loader *ld = user;

	ld->hdr_keys++;
	if (ld->rc)
		return 0;
	if (ld->continued)
		return !cr__exp_fail(
		    ld, -CR_EINVAL,
		    "an indented line continues the value of '%s' "
		    "above; a value is one line: start this one at "
		    "the margin, or make it a comment",
		    ld->last_key);
	snprintf(ld->last_key, sizeof(ld->last_key), "%s", name);
	if (!ld->hdr_line)
		return !cr__exp_fail(
		    ld, -CR_EINVAL,
		    "'%s' is outside any section; keys go under a "
		    "[section] header such as [experiment]",
		    name);
	if (ld->cur == NO_SECT || ld->secs[ld->cur].line != ld->hdr_line)
		if (open_section(ld, ld->hdr_line, section))
			return 0;
	return !set_key(ld, &ld->secs[ld->cur], name, value);
}

/* --- the reader ----------------------------------------------------------- */

/* inih calls the handler only for keys: a section without any is opened
 * here, when the next header or the end of the file shows it was empty. */
static void end_header(struct loader *ld)
{
	if (!ld->rc && ld->hdr_line && !ld->hdr_keys)
		open_section(ld, ld->hdr_line, ld->hdr_name);
}

/* A header without its ']' is inih's error to report, and inih leaves the
 * keys after it in the section before: so does this. */
static void new_header(struct loader *ld, const char *s)
{
	size_t n = strcspn(s + 1, "]");

	if (s[1 + n] != ']')
		return;
	end_header(ld);
	ld->hdr_line = ld->lineno;
	ld->hdr_keys = 0;
	ld->last_key[0] = 0;
	snprintf(ld->hdr_name, sizeof(ld->hdr_name), "%.*s", (int)n, s + 1);
	if (n > INI_SECTION_MAX)
		cr__exp_fail(ld, -CR_EINVAL,
			     "a section name of %zu characters; at most %d are "
			     "accepted",
			     n, INI_SECTION_MAX);
}

/* Reads one line as fgets would: 1, or 0 at the end of the file, or a
 * negative error on what fgets would split (a line too long for buf) or
 * hide (a NUL byte). */
static int get_line(struct loader *ld, char *buf, int num)
{
	size_t n = 0;
	int c = 0;

	while (n + 1 < (size_t)num && (c = getc(ld->f)) != EOF) {
		buf[n++] = (char)c;
		if (c == '\n')
			break;
	}
	if (!n)
		return ferror(ld->f)
			   ? cr__exp_fail(ld, -CR_EINVAL, "cannot read: %s",
					  strerror(errno))
			   : 0;
	buf[n] = 0;
	ld->lineno++;
	if (buf[n - 1] != '\n' && c != EOF) {
		c = getc(ld->f);
		if (c != '\n' && c != EOF)
			return cr__exp_fail(
			    ld, -CR_EINVAL,
			    "the line is longer than %d characters, "
			    "the most the INI reader takes",
			    num - 1);
	}
	if (memchr(buf, 0, n))
		return cr__exp_fail(ld, -CR_EINVAL,
				    "a NUL byte: an experiment file is text");
	return 1;
}

char *cr__exp_read_line(char *buf, int num, void *user)
{
	struct loader *ld = user;
	char *s;

	if (ld->rc || get_line(ld, buf, num) <= 0) {
		end_header(ld);
		return NULL;
	}
	if (ld->lineno == 1 && !strncmp(buf, "\xEF\xBB\xBF", 3))
		memmove(buf, buf + 3, strlen(buf + 3) + 1);
	/* what inih will make of the line, by its own rules */
	for (s = buf; isspace((unsigned char)*s); s++)
		;
	ld->continued = false;
	if (!*s || *s == ';' || *s == '#')
		return buf;
	if (s > buf && ld->last_key[0])
		ld->continued = true;
	else if (*s == '[')
		new_header(ld, s);
	return ld->rc ? NULL : buf;
}
