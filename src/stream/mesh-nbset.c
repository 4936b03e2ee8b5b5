/* The neighbour set of mesh.h: the peers a peer trades with, kept between
 * a floor and a ceiling.  Neighbours sit in a dense array (their
 * protocol data beside them, moved along when one leaves), candidates in a
 * second array; both are searched linearly, which at tens of entries is
 * cheaper than any index.  The tracker is asked through the engine's
 * cr_tracker_query; its answer comes back to the protocol's tracker_peers
 * callback, which hands it to cr_nbset_offer.
 */
#include "private.h"

#include <crystal/mesh.h>

#include <stdlib.h>
#include <string.h>

int cr_nbset_init(cr_nbset *s, const cr_nbset_config *cfg)
{
	memset(s, 0, sizeof(*s));
	if (!cfg || !cfg->max || cfg->max > CR_NBSET_MAX || cfg->min > cfg->max)
		return -CR_EINVAL;
	s->cfg = *cfg;
	s->addr = calloc(cfg->max, sizeof(*s->addr));
	s->data = calloc(cfg->max, cfg->data_size ? cfg->data_size : 1);
	s->cand = calloc(cfg->candidates ? cfg->candidates : 1,
			 sizeof(*s->cand));
	if (!s->addr || !s->data || !s->cand) {
		cr_nbset_free(s);
		return -CR_ENOMEM;
	}
	return 0;
}

void cr_nbset_free(cr_nbset *s)
{
	free(s->addr);
	free(s->data);
	free(s->cand);
	s->addr = NULL;
	s->data = NULL;
	s->cand = NULL;
	s->n = s->ncand = 0;
}

int cr_nbset_set_max(cr_nbset *s, size_t max)
{
	/* the arrays were sized for the first max */
	if (!max || max > CR_NBSET_MAX || !s->addr)
		return -CR_EINVAL;
	if (max > s->cfg.max) {
		cr_addr *a = realloc(s->addr, max * sizeof(*a));
		unsigned char *d;
		size_t ds = s->cfg.data_size ? s->cfg.data_size : 1;
		if (!a)
			return -CR_ENOMEM;
		s->addr = a;
		d = realloc(s->data, max * ds);
		if (!d)
			return -CR_ENOMEM;
		s->data = d;
	}
	s->cfg.max = max;
	if (s->cfg.min > max)
		s->cfg.min = max;
	return 0;
}

int cr_nbset_find(const cr_nbset *s, const cr_addr *a)
{
	for (size_t i = 0; i < s->n; i++)
		if (cr_addr_eq(&s->addr[i], a))
			return (int)i;
	return -1;
}

static int cand_find(const cr_nbset *s, const cr_addr *a)
{
	for (size_t i = 0; i < s->ncand; i++)
		if (cr_addr_eq(&s->cand[i], a))
			return (int)i;
	return -1;
}

/* Candidates keep their order: the oldest is promoted first. */
static void cand_del(cr_nbset *s, size_t i)
{
	memmove(&s->cand[i], &s->cand[i + 1],
		(s->ncand - i - 1) * sizeof(*s->cand));
	s->ncand--;
}

static void cand_add(cr_nbset *s, const cr_addr *a)
{
	if (s->ncand < s->cfg.candidates && cand_find(s, a) < 0)
		s->cand[s->ncand++] = *a;
}

/* Appends a (not a neighbour, not self, room checked). */
static int append(cr_nbset *s, const cr_addr *a)
{
	int c = cand_find(s, a);

	if (c >= 0)
		cand_del(s, (size_t)c);
	s->addr[s->n] = *a;
	memset(cr_nbset_data(s, s->n), 0, s->cfg.data_size);
	return (int)s->n++;
}

int cr_nbset_add(cr_nbset *s, cr_peer *p, const cr_addr *a)
{
	int i;

	if (cr_is_self(p, a))
		return -CR_EINVAL;
	i = cr_nbset_find(s, a);
	if (i >= 0)
		return i;
	if (s->n >= s->cfg.max) {
		cand_add(s, a);
		return -CR_ENOSPC;
	}
	return append(s, a);
}

int cr_nbset_remove(cr_nbset *s, const cr_addr *a)
{
	int i = cr_nbset_find(s, a), c = cand_find(s, a);

	if (c >= 0)
		cand_del(s, (size_t)c);
	if (i < 0)
		return c >= 0 ? 0 : -CR_ENOENT;
	s->n--;
	if ((size_t)i != s->n) {
		s->addr[i] = s->addr[s->n];
		memcpy(cr_nbset_data(s, (size_t)i), cr_nbset_data(s, s->n),
		       s->cfg.data_size);
	}
	return 0;
}

size_t cr_nbset_offer(cr_nbset *s, cr_peer *p, const cr_addr *peers,
		      size_t n)
{
	size_t added = 0, *order;

	if (!n)
		return 0;
	order = malloc(n * sizeof(*order));
	if (!order) /* take them in their order */
		return 0;
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)cr_rand_below(cr_peer_rand(p), (uint32_t)i), t;
		t = order[i - 1];
		order[i - 1] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < n; i++) {
		const cr_addr *a = &peers[order[i]];
		if (cr_is_self(p, a) || cr_nbset_find(s, a) >= 0)
			continue;
		if (s->n < s->cfg.min) {
			append(s, a);
			added++;
		} else {
			cand_add(s, a);
		}
	}
	free(order);
	return added;
}

static void ask_tracker(cr_nbset *s, cr_peer *p)
{
	int64_t now = cr_now(p);
	int err;

	if (s->no_tracker || !s->cfg.tracker_interval_ns ||
	    now < s->next_query_ns)
		return;
	err = cr_tracker_query(p, s->cfg.session, 0);
	if (!err) {
		s->queries++;
		s->next_query_ns = now + s->cfg.tracker_interval_ns;
	} else if (err != -CR_EAGAIN) {
		/* no tracker (a topology file): nobody to ask */
		cr_log(p, CR_LOG_DEBUG, "no tracker query: %s",
		       cr_strerror(err));
		s->no_tracker = true;
	}
}

/* The oldest candidate leaves the candidates, and becomes a neighbour
 * unless it is the peer itself or one already (room checked). */
static bool promote(cr_nbset *s, cr_peer *p)
{
	cr_addr a = s->cand[0];

	cand_del(s, 0);
	if (cr_is_self(p, &a) || cr_nbset_find(s, &a) >= 0)
		return false;
	append(s, &a);
	return true;
}

size_t cr_nbset_refill(cr_nbset *s, cr_peer *p)
{
	size_t added = 0;

	while (s->n < s->cfg.min && s->ncand)
		added += promote(s, p);
	if (s->n < s->cfg.min)
		ask_tracker(s, p);
	return added;
}

size_t cr_nbset_offer_bootstrap(cr_nbset *s, cr_peer *p)
{
	const cr_addr *boot;
	size_t n = cr_bootstrap_peers(p, &boot);

	return cr_nbset_offer(s, p, boot, n);
}

int cr_nbset_depart(cr_nbset *s, cr_peer *p, const cr_addr *a)
{
	if (cr_nbset_find(s, a) < 0) {
		cr_nbset_remove(s, a); /* a candidate, perhaps */
		return 0;
	}
	cr_nbset_remove(s, a);
	while (s->ncand)
		if (promote(s, p))
			return 2;
	return 1;
}

int cr_nbset_random(const cr_nbset *s, cr_peer *p)
{
	if (!s->n)
		return -1;
	return (int)cr_rand_below(cr_peer_rand(p), (uint32_t)s->n);
}
