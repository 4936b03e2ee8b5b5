/* The request table of mesh.h: what a pulling peer has asked for, of whom
 * and until when.  One request per item at a time is the point of it: a
 * part asked of two neighbours at once comes twice, and one of the two
 * uploads is wasted.  The requests sit in a dense array, removed by moving
 * the last into the hole; every lookup is linear.  That is right for the
 * few hundred requests a peer has out (its neighbours times what it asks
 * of each); a table of thousands would want a hash index.
 */
#include "private.h"

#include <crystal/mesh.h>

#include <stdlib.h>
#include <string.h>

int cr_reqtab_init(cr_reqtab *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	if (!max)
		return -CR_EINVAL;
	t->r = calloc(max, sizeof(*t->r));
	if (!t->r)
		return -CR_ENOMEM;
	t->max = max;
	return 0;
}

void cr_reqtab_free(cr_reqtab *t)
{
	free(t->r);
	t->r = NULL;
	t->n = t->max = 0;
}

static cr_req *find(const cr_reqtab *t, uint64_t key)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->r[i].key == key)
			return &t->r[i];
	return NULL;
}

int cr_reqtab_add(cr_reqtab *t, uint64_t key, const cr_addr *to,
		  int64_t now_ns, int64_t timeout_ns)
{
	if (!to || timeout_ns <= 0)
		return -CR_EINVAL;
	if (find(t, key))
		return -CR_ESTATE;
	if (t->n == t->max)
		return -CR_ENOSPC;
	t->r[t->n++] = (cr_req){.key = key,
				.to = *to,
				.sent_ns = now_ns,
				.expires_ns = now_ns + timeout_ns};
	t->sent++;
	return 0;
}

const cr_req *cr_reqtab_find(const cr_reqtab *t, uint64_t key)
{
	return find(t, key);
}

static void remove_at(cr_reqtab *t, size_t i)
{
	t->r[i] = t->r[--t->n];
}

bool cr_reqtab_done(cr_reqtab *t, uint64_t key)
{
	cr_req *r = find(t, key);

	if (!r)
		return false;
	remove_at(t, (size_t)(r - t->r));
	t->answered++;
	return true;
}

size_t cr_reqtab_count(const cr_reqtab *t, const cr_addr *to)
{
	size_t k = 0;

	for (size_t i = 0; i < t->n; i++)
		k += cr_addr_eq(&t->r[i].to, to);
	return k;
}

/* Removes the requests `gone` says are over, calling cb (may be NULL) with
 * each before it goes; returns how many. */
static size_t remove_if(cr_reqtab *t, bool (*gone)(const cr_req *r,
						   const void *what),
			const void *what, cr_reqtab_cb cb, void *arg)
{
	size_t k = 0;

	for (size_t i = 0; i < t->n;) {
		if (!gone(&t->r[i], what)) {
			i++;
			continue;
		}
		if (cb)
			cb(&t->r[i], arg);
		remove_at(t, i);
		k++;
	}
	return k;
}

static bool expired(const cr_req *r, const void *now_ns)
{
	return r->expires_ns <= *(const int64_t *)now_ns;
}

static bool to_peer(const cr_req *r, const void *to)
{
	return cr_addr_eq(&r->to, to);
}

static bool below(const cr_req *r, const void *key)
{
	return r->key < *(const uint64_t *)key;
}

size_t cr_reqtab_expire(cr_reqtab *t, int64_t now_ns, cr_reqtab_cb cb,
			void *arg)
{
	size_t k = remove_if(t, expired, &now_ns, cb, arg);

	t->expired += k;
	return k;
}

size_t cr_reqtab_forget(cr_reqtab *t, const cr_addr *to)
{
	size_t k = remove_if(t, to_peer, to, NULL, NULL);

	t->forgotten += k;
	return k;
}

size_t cr_reqtab_drop_below(cr_reqtab *t, uint64_t key)
{
	size_t k = remove_if(t, below, &key, NULL, NULL);

	t->forgotten += k;
	return k;
}
