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

int cr_matrix_load(const char *path, struct cr_latency **out, size_t *n,
		   char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
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
		for (size_t i = 0; i < nv; i++) {
			if (v[i].explicit_ &&
			    same_pair(&v[i].l, &en.l.from, &en.l.to)) {
				snprintf(err, errlen,
					 "%s:%zu: %s -> %s is already set",
					 path, lineno, tok[0], tok[1]);
				e = -CR_EINVAL;
				goto out;
			}
		}
		if ((e = push(&v, &nv, &cap, en)))
			goto nomem;
	}
	/* the reverse of every pair, unless given */
	for (size_t i = 0, m = nv; i < m; i++) {
		bool have = false;
		for (size_t j = 0; j < m && !have; j++)
			have = same_pair(&v[j].l, &v[i].l.to, &v[i].l.from);
		if (!have) {
			struct entry r = {{v[i].l.to, v[i].l.from,
					   v[i].l.delay_ns},
					  false};
			if ((e = push(&v, &nv, &cap, r)))
				goto nomem;
		}
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
	free(v);
	fclose(f);
	return e;
}
