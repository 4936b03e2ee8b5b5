/* Experiment files: the addresses of the classes (see experiment.c for the
 * other files of the reader).
 *
 * A class's addresses are a range, of ports on one IP or of IPs at one
 * port; after the last line each class takes the first `count` of its
 * range, and no two classes may share an address.  The lookups of a
 * peer's class and index search the classes' sorted addresses.
 */
#include "experiment-int.h"

#include <stdlib.h>
#include <string.h>

#define RANGE_FORMS                                                            \
	"a range such as 127.0.0.1:20001-20500 (ports on one IP), "            \
	"127.0.1.1-127.0.1.250:9000 (IPs, one port), [::1]:20001-20010 or "    \
	"[fd00::1-fd00::ff]:9000"

/* --- address ranges ------------------------------------------------------- */

static int addr_cmp(const cr_addr *a, const cr_addr *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->ip, b->ip, a->family == 6 ? 16 : 4);
	if (c)
		return c;
	return (a->port > b->port) - (a->port < b->port);
}

/* Addresses from a to b, both included, saturated at UINT64_MAX. */
static uint64_t ip_span(const cr_addr *a, const cr_addr *b)
{
	size_t n = a->family == 6 ? 16 : 4;
	uint8_t d[16];
	uint64_t v = 0;
	int borrow = 0;

	for (size_t i = n; i-- > 0;) {
		int x = b->ip[i] - a->ip[i] - borrow;
		borrow = x < 0;
		d[i] = (uint8_t)(x + (borrow ? 256 : 0));
	}
	for (size_t i = 0; i < n; i++) {
		if (v >> 56)
			return UINT64_MAX;
		v = v << 8 | d[i];
	}
	return v == UINT64_MAX ? v : v + 1;
}

static void ip_add(cr_addr *a, uint64_t k)
{
	size_t n = a->family == 6 ? 16 : 4;

	for (size_t i = n; i-- > 0 && k;) {
		unsigned x = a->ip[i] + (unsigned)(k & 0xff);
		a->ip[i] = (uint8_t)x;
		k = (k >> 8) + (x >> 8);
	}
}

/* Splits "HOST:PORTS" or "[HOST]:PORTS" into its two parts. */
static bool range_split(const char *t, char *host, char *ports, size_t cap)
{
	const char *end, *p;

	if (t[0] == '[') {
		end = strchr(t, ']');
		if (!end || end[1] != ':')
			return false;
		t++;
		p = end + 2;
	} else {
		end = strrchr(t, ':');
		if (!end)
			return false;
		p = end + 1;
	}
	if ((size_t)(end - t) >= cap || strlen(p) >= cap)
		return false;
	memcpy(host, t, (size_t)(end - t));
	host[end - t] = 0;
	strcpy(ports, p);
	return true;
}

static int parse_end(cr_addr *a, bool v6, const char *host, const char *port)
{
	char buf[LINE_CAP];

	snprintf(buf, sizeof(buf), v6 ? "[%s]:%s" : "%s:%s", host, port);
	return cr_addr_parse(a, buf);
}

/* Parses a range; NULL, or what is wrong with it. */
const char *cr__exp_range_parse(const char *t, struct range *r)
{
	char host[LINE_CAP], ports[LINE_CAP], *hi_ip, *hi_port;
	bool v6 = t[0] == '[';
	cr_addr last;

	if (!range_split(t, host, ports, sizeof(host)))
		return "expected " RANGE_FORMS;
	hi_ip = strchr(host, '-');
	hi_port = strchr(ports, '-');
	if (hi_ip && hi_port)
		return "a range spans the IPs or the ports, not both";
	if (hi_ip)
		*hi_ip++ = 0;
	if (hi_port)
		*hi_port++ = 0;
	if (parse_end(&r->first, v6, host, ports))
		return "expected " RANGE_FORMS;
	r->size = 1;
	r->by_ip = hi_ip != NULL;
	if (hi_ip) {
		if (parse_end(&last, v6, hi_ip, ports))
			return "expected " RANGE_FORMS;
		if (addr_cmp(&last, &r->first) < 0)
			return "the range runs backwards";
		r->size = ip_span(&r->first, &last);
	} else if (hi_port) {
		if (parse_end(&last, v6, host, hi_port))
			return "expected " RANGE_FORMS;
		if (last.port < r->first.port)
			return "the range runs backwards";
		r->size = (uint64_t)(last.port - r->first.port) + 1;
	}
	return NULL;
}

/* --- the classes' addresses, after the last line ------------------------- */

/* The first `count` addresses of the class's range. */
static int expand_class(struct loader *ld, const struct sect *s)
{
	struct cr_peer_class *c = &ld->e->classes[s->index];

	if (s->range.size < c->count)
		return cr__exp_fail_at(
		    ld, s->key_line[CL_ADDRESSES], -CR_EINVAL,
		    "class %s: %s holds %llu addresses, count is %zu", c->name,
		    s->range_text, (unsigned long long)s->range.size, c->count);
	if (c->count > CR_EXPERIMENT_MAX_PEERS - ld->e->npeers)
		return cr__exp_fail_at(
		    ld, s->key_line[CL_COUNT], -CR_EINVAL,
		    "class %s: count %zu makes %zu peers with the "
		    "classes before it; an experiment has at most "
		    "%d",
		    c->name, c->count, ld->e->npeers + c->count,
		    CR_EXPERIMENT_MAX_PEERS);
	c->addrs = malloc(c->count * sizeof(*c->addrs));
	if (!c->addrs)
		return cr__exp_fail_at(ld, s->line, -CR_ENOMEM,
				       "out of memory");
	for (size_t i = 0; i < c->count; i++) {
		c->addrs[i] = s->range.first;
		if (s->range.by_ip)
			ip_add(&c->addrs[i], i);
		else
			c->addrs[i].port = (uint16_t)(s->range.first.port + i);
	}
	c->first = ld->e->npeers;
	ld->e->npeers += c->count;
	return 0;
}

/* A class's addresses are one IP with a span of ports, or a span of IPs
 * with one port: a rectangle in (IP, port) with one side a single value.
 * Two classes share an address if and only if their rectangles meet, and
 * the lowest shared one has the higher low IP and the higher low port. */
static bool classes_meet(const struct cr_peer_class *a,
			 const struct cr_peer_class *b, cr_addr *shared)
{
	const cr_addr *alo = &a->addrs[0], *ahi = &a->addrs[a->count - 1];
	const cr_addr *blo = &b->addrs[0], *bhi = &b->addrs[b->count - 1];
	size_t n = alo->family == 6 ? 16 : 4;

	if (alo->family != blo->family || memcmp(ahi->ip, blo->ip, n) < 0 ||
	    memcmp(bhi->ip, alo->ip, n) < 0 || ahi->port < blo->port ||
	    bhi->port < alo->port)
		return false;
	*shared = memcmp(alo->ip, blo->ip, n) >= 0 ? *alo : *blo;
	shared->port = alo->port > blo->port ? alo->port : blo->port;
	return true;
}

int cr__exp_finish_classes(struct loader *ld)
{
	const struct cr_experiment *e = ld->e;
	char buf[CR_ADDR_STRLEN];
	cr_addr shared;
	size_t j = 0;

	for (size_t i = 0; i < ld->nsecs; i++)
		if (ld->secs[i].kind == K_CLASS &&
		    expand_class(ld, &ld->secs[i]))
			return ld->rc;
	for (size_t i = 0; i < ld->nsecs; i++) {
		const struct sect *s = &ld->secs[i];
		if (s->kind != K_CLASS)
			continue;
		for (j = 0; j < s->index; j++)
			if (classes_meet(&e->classes[j], &e->classes[s->index],
					 &shared))
				return cr__exp_fail_at(
				    ld, s->key_line[CL_ADDRESSES], -CR_EINVAL,
				    "class %s overlaps class %s (line %u): "
				    "both hold %s",
				    e->classes[s->index].name,
				    e->classes[j].name, e->classes[j].line,
				    cr_addr_format(&shared, buf, sizeof(buf)));
	}
	return 0;
}

/* --- lookups -------------------------------------------------------------- */

static bool class_find(const struct cr_peer_class *c, const cr_addr *a,
		       size_t *pos)
{
	size_t lo = 0, hi = c->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = addr_cmp(&c->addrs[mid], a);
		if (!r) {
			*pos = mid;
			return true;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

const struct cr_peer_class *
cr_experiment_class_of(const struct cr_experiment *e, const cr_addr *a)
{
	size_t pos;

	for (size_t i = 0; i < e->nclasses; i++)
		if (e->classes[i].addrs && class_find(&e->classes[i], a, &pos))
			return &e->classes[i];
	return NULL;
}

int cr_experiment_peer_index(const struct cr_experiment *e, const cr_addr *a,
			     size_t *index)
{
	const struct cr_peer_class *c = cr_experiment_class_of(e, a);
	size_t pos = 0;

	if (!c)
		return -CR_ENOENT;
	class_find(c, a, &pos);
	*index = c->first + pos;
	return 0;
}

const struct cr_peer_class *cr_experiment_class(const struct cr_experiment *e,
						const char *name)
{
	for (size_t i = 0; i < e->nclasses; i++)
		if (!strcmp(e->classes[i].name, name))
			return &e->classes[i];
	return NULL;
}
