/* crystal report: which run directories are the nodes of one run.
 *
 * A run that spanned hosts leaves one directory per node, gathered from
 * wherever they were written.  report-runs.c reads each one's
 * summary.json and asks here which run it joins (docs/reports.md,
 * "Runs of several nodes"):
 *
 *   - with a "run_id": the run of the same run_id and experiment_id;
 *     two runs of one experiment are two runs;
 *   - without one (a crystal that had no coordinator, or nodes started by
 *     hand): the first run of the same experiment_id that has no
 *     directory of the same node yet: a node is its host name and its
 *     identity (the IPs of its peers: summary.json's "node", or else the
 *     peers of its CSV files), so that namespaces of one machine (one
 *     host name) are told apart;
 *   - a directory without summary.json (its node was killed hard): the run
 *     whose other nodes say they lost its node.
 */
#include "report.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* --- node identities ------------------------------------------------------ */

struct ips {
	char **v;
	size_t n, cap;
};

static int ips_add(struct ips *s, const char *ip, size_t len)
{
	char **v;

	if (!len)
		return 0;
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->v[i]) == len && !memcmp(s->v[i], ip, len))
			return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 8;

		v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return -1;
		s->v = v;
		s->cap = cap;
	}
	if (!(s->v[s->n] = strndup(ip, len)))
		return -1;
	s->n++;
	return 0;
}

static void ips_free(struct ips *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

/* The IPs sorted and comma-joined; NULL when there are none. */
static char *ips_join(struct ips *s)
{
	size_t len = 1;
	char *out;

	if (!s->n)
		return NULL;
	qsort(s->v, s->n, sizeof(*s->v), rp_cmp_str);
	for (size_t i = 0; i < s->n; i++)
		len += strlen(s->v[i]) + 1;
	out = malloc(len);
	if (!out)
		return NULL;
	*out = '\0';
	for (size_t i = 0; i < s->n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, s->v[i]);
	}
	return out;
}

char *rp_node_canon(const char *node)
{
	struct ips s = {0};
	const char *p = node;
	char *out = NULL;

	if (!node)
		return NULL;
	while (*p) {
		size_t n = strcspn(p, ",");
		const char *a = p, *b = p + n;

		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (ips_add(&s, a, (size_t)(b - a)))
			goto out;
		p += n + (p[n] == ',');
	}
	out = ips_join(&s);
out:
	ips_free(&s);
	return out;
}

bool rp_node_same(const char *a, const char *b)
{
	char *x, *y;
	bool same;

	if (!a || !b)
		return false;
	if (!strcmp(a, b))
		return true;
	x = rp_node_canon(a);
	y = rp_node_canon(b);
	same = x && y && !strcmp(x, y);
	free(x);
	free(y);
	return same;
}

/* The IP of a peer named "IP:port" or "[IPv6]:port". */
static int add_peer_ip(struct ips *s, const char *peer)
{
	const char *colon;

	if (*peer == '[') {
		const char *end = strchr(peer, ']');

		return end ? ips_add(s, peer + 1, (size_t)(end - peer - 1)) : 0;
	}
	colon = strrchr(peer, ':');
	return ips_add(s, peer, colon ? (size_t)(colon - peer) : strlen(peer));
}

static bool has_file(const char *dir, const char *name, char *path,
		     size_t len)
{
	struct stat st;

	snprintf(path, len, "%s/%s", dir, name);
	return !stat(path, &st);
}

char *rp_node_of_csv(const char *dir)
{
	struct ips s = {0};
	struct rp_csv c;
	char path[4096], *out = NULL;
	int col, rc;

	if (!has_file(dir, "peers-final.csv", path, sizeof(path)) &&
	    !has_file(dir, "peers.csv", path, sizeof(path)))
		return NULL;
	if (rp_csv_open(&c, path))
		return NULL;
	col = rp_csv_col(&c, "peer");
	while (col >= 0 && (rc = rp_csv_next(&c)) == 1) {
		const char *peer = rp_csv_field(&c, col);

		if (peer && add_peer_ip(&s, peer))
			goto out;
	}
	out = ips_join(&s);
out:
	rp_csv_close(&c);
	ips_free(&s);
	return out;
}

/* --- which run ------------------------------------------------------------ */

static bool str_eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* Whether h and k are the same node: the same identity on the same host
 * (namespaces of one machine share a host name and differ in their IPs;
 * two machines may both have peers on 127.0.0.1).  Where one of them is
 * not known, the other decides; with neither, they are not the same. */
static bool same_node(const struct rp_host *h, const struct rp_host *k)
{
	bool hosts = h->sum.host && k->sum.host;

	if (hosts && strcmp(h->sum.host, k->sum.host))
		return false;
	if (h->node && k->node)
		return rp_node_same(h->node, k->node);
	return hosts;
}

static const struct rp_host *node_in(const struct rp_run *r,
				     const struct rp_host *h)
{
	for (size_t i = 0; i < r->nhosts; i++)
		if (same_node(&r->hosts[i], h))
			return &r->hosts[i];
	return NULL;
}

/* With a run_id: the run of that run_id and experiment_id.  A node given
 * twice (gathered twice into two places) is left out. */
static struct rp_run *by_run_id(struct rp_ctx *ctx, struct rp_run *runs,
				size_t nruns, const struct rp_host *h,
				bool *drop)
{
	const struct rp_summary *s = &h->sum;

	for (size_t i = 0; i < nruns; i++) {
		const struct rp_summary *first = &runs[i].hosts[0].sum;
		const struct rp_host *twin;

		if (!str_eq(first->run_id, s->run_id) ||
		    !str_eq(first->experiment_id, s->experiment_id))
			continue;
		twin = node_in(&runs[i], h);
		if (!twin)
			return &runs[i];
		rp_problem(ctx,
			   "%s: node %s of run %s again (%s has it already): "
			   "left out",
			   h->dir, h->node ? h->node : s->host, s->run_id,
			   twin->dir);
		*drop = true;
		return NULL;
	}
	return NULL;
}

struct rp_run *rp_run_for(struct rp_ctx *ctx, struct rp_run *runs,
			  size_t nruns, const struct rp_host *h, bool *drop)
{
	const struct rp_summary *s = &h->sum;

	*drop = false;
	if (s->run_id)
		return by_run_id(ctx, runs, nruns, h, drop);
	if (!s->experiment_id || (!h->node && !s->host))
		return NULL;
	for (size_t i = 0; i < nruns; i++) {
		const struct rp_summary *first = &runs[i].hosts[0].sum;

		if (first->run_id || !str_eq(first->experiment_id,
					     s->experiment_id))
			continue;
		if (!node_in(&runs[i], h))
			return &runs[i];
	}
	return NULL;
}

static bool run_lost(const struct rp_run *r, const char *node)
{
	for (size_t i = 0; i < r->nhosts; i++)
		for (size_t k = 0; k < r->hosts[i].sum.nlost; k++)
			if (rp_node_same(r->hosts[i].sum.lost[k].node, node))
				return true;
	return false;
}

struct rp_run *rp_run_of_lost(struct rp_run *runs, size_t nruns,
			      const struct rp_host *h)
{
	if (!h->node)
		return NULL;
	for (size_t i = 0; i < nruns; i++)
		if (run_lost(&runs[i], h->node) && !node_in(&runs[i], h))
			return &runs[i];
	return NULL;
}

/* --- nodes without a directory ------------------------------------------- */

/* The lost nodes of the run that have no directory, into f. */
static size_t name_absent(FILE *f, const struct rp_run *r)
{
	const char *seen[64];
	size_t nseen = 0;

	for (size_t i = 0; i < r->nhosts; i++)
		for (size_t k = 0; k < r->hosts[i].sum.nlost; k++) {
			const struct rp_lost *l = &r->hosts[i].sum.lost[k];
			struct rp_host probe = {.node = l->node};
			bool named = false;

			if (!l->node || node_in(r, &probe))
				continue;
			for (size_t j = 0; j < nseen; j++)
				named = named || rp_node_same(seen[j], l->node);
			if (named || nseen == 64)
				continue;
			fprintf(f, "%s%s", nseen ? ", " : "", l->node);
			seen[nseen++] = l->node;
		}
	return nseen;
}

void rp_check_nodes(struct rp_ctx *ctx, struct rp_run *r)
{
	const struct rp_summary *first = &r->hosts[0].sum;
	char *names = NULL;
	size_t len = 0, named = 0;
	FILE *f;

	r->nodes = 0;
	for (size_t i = 0; i < r->nhosts; i++) {
		double n = r->hosts[i].sum.nodes;

		if (n >= 1 && n < 1e6 && (size_t)n > r->nodes)
			r->nodes = (size_t)n;
	}
	if (r->nodes <= r->nhosts)
		return;
	f = open_memstream(&names, &len);
	if (f) {
		named = name_absent(f, r);
		fclose(f);
	}
	rp_problem(ctx,
		   "run %s of %s: %zu nodes ran and only %zu of their "
		   "directories were given%s%s%s: its figures are those of "
		   "these nodes (gather the others: docs/many-hosts.md)",
		   first->run_id ? first->run_id : "(no run_id)",
		   first->experiment ? first->experiment : "(no name)",
		   r->nodes, r->nhosts, named ? " (missing: " : "",
		   named ? names : "",
		   !named			 ? ""
		   : named < r->nodes - r->nhosts ? ", and others)"
						  : ")");
	free(names);
}
