/* Latency matrix files: one-way delays between pairs of peers.
 *
 *	# comment
 *	127.0.0.1:20001  127.0.0.1:20002  35ms
 *	127.0.0.1:20002  127.0.0.1:20001  40ms   # the way back, if different
 *
 * Each line sets the delay from the first peer to the second; the reverse
 * direction gets the same delay unless a line of its own sets it.  A bare
 * number is in milliseconds.  Pairs not listed use the peers' access delays.
 */
#include "matrix.h"
#include "../core/lines.h"
#include "../core/units.h"

#include <stdlib.h>
#include <string.h>

/* The lines as this reader has always taken them, which is not quite as
 * the events and topology files are: at most 1022 bytes besides the line
 * break, fields between spaces, tabs and CRs only, a NUL byte ending the
 * line as it ends a C string, and a read error ending the file. */
static const struct cr__lines_format matrix_lines = {
    .max_len = 1022,
    .too_long = "line too long",
    .blanks = " \t\r\n",
    .errors_end = true,
};

struct entry {
	struct cr_latency l;
	bool explicit_;
};

static int push(struct entry **v, size_t *n, size_t *cap, struct entry e)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		struct entry *nv = realloc(*v, c * sizeof(*nv));
		if (!nv)
			return -CR_ENOMEM;
		*v = nv;
		*cap = c;
	}
	(*v)[(*n)++] = e;
	return 0;
}

static bool same_pair(const struct cr_latency *a, const cr_addr *from,
		      const cr_addr *to)
{
	return cr_addr_eq(&a->from, from) && cr_addr_eq(&a->to, to);
}

/* The entries by pair, in an open-addressing table of entry indices + 1
 * (0: free), at most half full: a file of n lines costs O(n), where
 * comparing every pair with every other took minutes for the million
 * lines of a 1000-peer matrix. */
struct pairs {
	size_t *slot;
	size_t cap; /* a power of two */
};

static size_t pair_hash(const cr_addr *from, const cr_addr *to)
{
	uint64_t h = cr_addr_hash(from) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h ^ cr_addr_hash(to));
}

/* The index of the entry for (from, to), or (size_t)-1. */
static size_t pairs_find(const struct pairs *t, const struct entry *v,
			 const cr_addr *from, const cr_addr *to)
{
	size_t i = pair_hash(from, to) & (t->cap - 1);

	for (; t->slot[i]; i = (i + 1) & (t->cap - 1))
		if (same_pair(&v[t->slot[i] - 1].l, from, to))
			return t->slot[i] - 1;
	return (size_t)-1;
}

/* Adds entry k of v (n entries in all, k among them). */
static int pairs_add(struct pairs *t, const struct entry *v, size_t n, size_t k)
{
	size_t i;

	if (2 * n > t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 128;
		size_t *slot = calloc(cap, sizeof(*slot));

		if (!slot)
			return -CR_ENOMEM;
		free(t->slot);
		t->slot = slot;
		t->cap = cap;
		for (size_t j = 0; j < n; j++)
			if (j != k)
				pairs_add(t, v, 0, j);
	}
	i = pair_hash(&v[k].l.from, &v[k].l.to) & (t->cap - 1);
	while (t->slot[i])
		i = (i + 1) & (t->cap - 1);
	t->slot[i] = k + 1;
	return 0;
}

struct loader {
	struct cr__lines l;
	struct pairs pairs;
	struct entry *v;
	size_t nv, cap;
};

static int no_memory(struct loader *ld)
{
	snprintf(ld->l.err, ld->l.errlen, "%s: out of memory", ld->l.path);
	return -CR_ENOMEM;
}

static int add(struct loader *ld, struct entry en)
{
	if (push(&ld->v, &ld->nv, &ld->cap, en) ||
	    pairs_add(&ld->pairs, ld->v, ld->nv, ld->nv - 1))
		return no_memory(ld);
	return 0;
}

/* One line: `FROM TO DELAY`. */
static int parse_line(struct loader *ld)
{
	struct cr__lines *l = &ld->l;
	char **tok = l->tok;
	struct entry en = {.explicit_ = true};

	if (l->ntok != 3)
		return cr__lines_fail(l, l->lineno, -CR_EINVAL,
				      "expected `FROM TO DELAY`, e.g. "
				      "127.0.0.1:20001 127.0.0.1:20002 35ms");
	if (cr_addr_parse(&en.l.from, tok[0]) ||
	    cr_addr_parse(&en.l.to, tok[1]))
		return cr__lines_fail(
		    l, l->lineno, -CR_EINVAL,
		    "'%s': expected a peer address such as 127.0.0.1:20001 or "
		    "[::1]:20001",
		    cr_addr_parse(&en.l.from, tok[0]) ? tok[0] : tok[1]);
	if (cr_parse_time(tok[2], CR_MS, &en.l.delay_ns))
		return cr__lines_fail(l, l->lineno, -CR_EINVAL,
				      "delay '%s': expected %s (a bare number "
				      "is in ms)",
				      tok[2], CR_TIME_FORMS);
	if (ld->nv &&
	    pairs_find(&ld->pairs, ld->v, &en.l.from, &en.l.to) != (size_t)-1)
		return cr__lines_fail(l, l->lineno, -CR_EINVAL,
				      "%s -> %s is already set", tok[0],
				      tok[1]);
	return add(ld, en);
}

/* The way back of every pair, unless given (a pair of one peer with
 * itself is its own way back). */
static int add_reverses(struct loader *ld)
{
	for (size_t i = 0, m = ld->nv; i < m; i++) {
		const struct cr_latency *l = &ld->v[i].l;
		struct entry r = {{l->to, l->from, l->delay_ns}, false};

		if (pairs_find(&ld->pairs, ld->v, &r.l.from, &r.l.to) !=
		    (size_t)-1)
			continue;
		if (add(ld, r))
			return -CR_ENOMEM;
	}
	return 0;
}

int cr_matrix_load(const char *path, struct cr_latency **out, size_t *n,
		   char *err, size_t errlen)
{
	struct loader ld = {0};
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = cr__lines_open(&ld.l, path, &matrix_lines, err, errlen)))
		return rc;
	while ((rc = cr__lines_next(&ld.l)) > 0 && !(rc = parse_line(&ld)))
		;
	if (!rc)
		rc = add_reverses(&ld);
	if (rc)
		goto out;
	*out = malloc((ld.nv ? ld.nv : 1) * sizeof(**out));
	if (!*out) {
		rc = no_memory(&ld);
		goto out;
	}
	for (size_t i = 0; i < ld.nv; i++)
		(*out)[i] = ld.v[i].l;
	*n = ld.nv;
out:
	free(ld.pairs.slot);
	free(ld.v);
	cr__lines_close(&ld.l);
	return rc;
}
