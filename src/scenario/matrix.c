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
#include "../core/units.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
static int pairs_add(struct pairs *t, const struct entry *v, size_t n,
		     size_t k)
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

int cr_matrix_load(const char *path, struct cr_latency **out, size_t *n,
		   char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	struct pairs pairs = {0};
	struct entry *v = NULL;
	size_t nv = 0, cap = 0, lineno = 0;
	char line[1024];
	int e = 0;

	*out = NULL;
	*n = 0;
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -CR_ENOENT;
	}
	while (fgets(line, sizeof(line), f)) {
		char *tok[4], *save = NULL, *hash;
		struct entry en = {0};
		int nt = 0;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%zu: line too long", path,
				 lineno);
			e = -CR_EINVAL;
			goto out;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		for (char *t = strtok_r(line, " \t\r\n", &save); t && nt < 4;
		     t = strtok_r(NULL, " \t\r\n", &save))
			tok[nt++] = t;
		if (!nt)
			continue;
		if (nt != 3) {
			snprintf(err, errlen,
				 "%s:%zu: expected `FROM TO DELAY`, e.g. "
				 "127.0.0.1:20001 127.0.0.1:20002 35ms",
				 path, lineno);
			e = -CR_EINVAL;
			goto out;
		}
		if (cr_addr_parse(&en.l.from, tok[0]) ||
		    cr_addr_parse(&en.l.to, tok[1])) {
			snprintf(err, errlen,
				 "%s:%zu: '%s': expected a peer address such "
				 "as 127.0.0.1:20001 or [::1]:20001",
				 path, lineno,
				 cr_addr_parse(&en.l.from, tok[0]) ? tok[0]
								    : tok[1]);
			e = -CR_EINVAL;
			goto out;
		}
		if (cr_parse_time(tok[2], CR_MS, &en.l.delay_ns)) {
			snprintf(err, errlen,
				 "%s:%zu: delay '%s': expected %s (a bare "
				 "number is in ms)",
				 path, lineno, tok[2], CR_TIME_FORMS);
			e = -CR_EINVAL;
			goto out;
		}
		en.explicit_ = true;
		if (nv && pairs_find(&pairs, v, &en.l.from, &en.l.to) !=
			      (size_t)-1) {
			snprintf(err, errlen, "%s:%zu: %s -> %s is already set",
				 path, lineno, tok[0], tok[1]);
			e = -CR_EINVAL;
			goto out;
		}
		if ((e = push(&v, &nv, &cap, en)) ||
		    (e = pairs_add(&pairs, v, nv, nv - 1)))
			goto nomem;
	}
	/* the reverse of every pair, unless given (a pair of one peer with
	 * itself is its own reverse) */
	for (size_t i = 0, m = nv; i < m; i++) {
		struct entry r = {{v[i].l.to, v[i].l.from, v[i].l.delay_ns},
				  false};

		if (pairs_find(&pairs, v, &r.l.from, &r.l.to) != (size_t)-1)
			continue;
		if ((e = push(&v, &nv, &cap, r)) ||
		    (e = pairs_add(&pairs, v, nv, nv - 1)))
			goto nomem;
	}
	*out = malloc((nv ? nv : 1) * sizeof(**out));
	if (!*out)
		goto nomem;
	for (size_t i = 0; i < nv; i++)
		(*out)[i] = v[i].l;
	*n = nv;
	goto out;
nomem:
	snprintf(err, errlen, "%s: out of memory", path);
	e = -CR_ENOMEM;
out:
	free(pairs.slot);
	free(v);
	fclose(f);
	return e;
}
