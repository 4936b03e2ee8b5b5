/* Topology files: for each peer, a few peers alive at its birth, handed to
 * its algorithm as bootstrap peers instead of asking a tracker (the
 * paper's §III.B.4).  One peer a line:
 *
 *	# PEER           NEIGHBOUR        [NEIGHBOUR ...]
 *	127.0.0.1:20000  127.0.0.1:20001  127.0.0.1:20011
 *	127.0.0.1:20001  127.0.0.1:20002
 *
 * Every address must be in a class of the experiment; a peer has at most
 * one line and is not its own neighbour.  See docs/topology-format.md.
 */
#include "events.h"
#include "../core/lines.h"

#include <stdlib.h>
#include <string.h>

#define ADDR_FORMS "a peer address such as 127.0.0.1:20001 or [::1]:20001"

struct loader {
	const struct cr_experiment *e;
	struct cr__lines l;
	struct cr_topology_entry *t;
	size_t n, cap;
	unsigned *line_of; /* by peer index: the line listing it; 0: none */
};

/* One field as an address of the experiment's; its peer index in *idx. */
static int peer_at(struct loader *ld, const char *text, cr_addr *a, size_t *idx)
{
	if (cr_addr_parse(a, text))
		return cr__lines_fail(&ld->l, ld->l.lineno, -CR_EINVAL,
				      "'%s': expected " ADDR_FORMS, text);
	if (cr_experiment_peer_index(ld->e, a, idx))
		return cr__lines_fail(&ld->l, ld->l.lineno, -CR_EINVAL,
				      "%s is in no class of the experiment",
				      text);
	return 0;
}

static int neighbours(struct loader *ld, struct cr_topology_entry *en)
{
	char **tok = ld->l.tok;
	size_t idx;

	for (size_t i = 1; i < ld->l.ntok; i++) {
		cr_addr *a = &en->neighbours[en->n];
		if (peer_at(ld, tok[i], a, &idx))
			return -CR_EINVAL;
		if (cr_addr_eq(a, &en->peer))
			return cr__lines_fail(&ld->l, ld->l.lineno, -CR_EINVAL,
					      "%s lists itself as a neighbour",
					      tok[0]);
		for (size_t j = 0; j < en->n; j++)
			if (cr_addr_eq(a, &en->neighbours[j]))
				return cr__lines_fail(
				    &ld->l, ld->l.lineno, -CR_EINVAL,
				    "%s lists %s twice", tok[0], tok[i]);
		en->n++;
	}
	return 0;
}

static int parse_entry(struct loader *ld, struct cr_topology_entry *en)
{
	size_t idx;

	*en = (struct cr_topology_entry){.line = ld->l.lineno};
	if (ld->l.ntok < 2)
		return cr__lines_fail(
		    &ld->l, ld->l.lineno, -CR_EINVAL,
		    "expected PEER NEIGHBOUR [NEIGHBOUR ...], "
		    "e.g. 127.0.0.1:20001 127.0.0.1:20002");
	if (peer_at(ld, ld->l.tok[0], &en->peer, &idx))
		return -CR_EINVAL;
	if (ld->line_of[idx])
		return cr__lines_fail(&ld->l, ld->l.lineno, -CR_EINVAL,
				      "%s is listed already, at line %u",
				      ld->l.tok[0], ld->line_of[idx]);
	ld->line_of[idx] = ld->l.lineno;
	en->neighbours = malloc((ld->l.ntok - 1) * sizeof(*en->neighbours));
	if (!en->neighbours)
		return cr__lines_fail(&ld->l, ld->l.lineno, -CR_ENOMEM,
				      "out of memory");
	return neighbours(ld, en);
}

static int read_entries(struct loader *ld)
{
	int r;

	while ((r = cr__lines_next(&ld->l)) > 0) {
		if (ld->n == ld->cap) {
			size_t c = ld->cap ? ld->cap * 2 : 64;
			struct cr_topology_entry *nt =
			    realloc(ld->t, c * sizeof(*nt));
			if (!nt)
				return cr__lines_fail(&ld->l, ld->l.lineno,
						      -CR_ENOMEM,
						      "out of memory");
			ld->t = nt;
			ld->cap = c;
		}
		/* counted before parsing, so that a failure frees its list */
		r = parse_entry(ld, &ld->t[ld->n++]);
		if (r)
			return r;
	}
	return r;
}

int cr_topology_load(const char *path, const struct cr_experiment *e,
		     struct cr_topology_entry **out, size_t *n, char *err,
		     size_t errlen)
{
	struct loader ld = {.e = e};
	char scratch[1];
	int rc;

	*out = NULL;
	*n = 0;
	if (!err || !errlen) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	ld.line_of = calloc(e->npeers ? e->npeers : 1, sizeof(*ld.line_of));
	if (!ld.line_of) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -CR_ENOMEM;
	}
	rc = cr__lines_open(&ld.l, path, NULL, err, errlen);
	if (!rc)
		rc = read_entries(&ld);
	cr__lines_close(&ld.l);
	free(ld.line_of);
	if (rc) {
		cr_topology_free(ld.t, ld.n);
		return rc;
	}
	*out = ld.t;
	*n = ld.n;
	return 0;
}

void cr_topology_free(struct cr_topology_entry *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++)
		free(t[i].neighbours);
	free(t);
}
