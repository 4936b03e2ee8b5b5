/* The node while it runs: its parameters as the algorithm reads them,
 * how an embedder stops it, waits for it and joins it, and the live
 * counters it may read meanwhile.  Creation is in node-create.c, the
 * start in start.c, a peer's life in life.c, the results in results.c.
 */
#include "engine.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *cr__node_param(const struct cr__node *n, const char *name)
{
	for (size_t i = 0; i < n->nparams; i++)
		if (!strcmp(n->params[i].name, name))
			return n->params[i].value;
	return NULL;
}

void cr_node_stop(cr_node *n, bool interrupted)
{
	bool was = false;

	pthread_mutex_lock(&n->lock);
	if (atomic_compare_exchange_strong(&n->ended, &was, true)) {
		n->end_ns = cr__clock_now(&n->clock);
		atomic_store(&n->interrupted, interrupted);
		/* Once, and under the lock: a worker that has seen the end
		 * takes the lock before it closes its wake handle, so no
		 * wake is ever sent to a closed one (a later stop, from a
		 * peer on another worker, sends none). */
		for (int i = 0; i < n->nworkers_started; i++)
			uv_async_send(&n->workers[i].wake);
	}
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

int cr_node_hosts_lost(cr_node *n, const cr_addr *ips, size_t nips)
{
	int e = 0;

	pthread_mutex_lock(&n->lock);
	if (n->nlost + nips > n->lost_cap) {
		size_t cap = (n->nlost + nips) * 2;
		cr_addr *a = realloc(n->lost, cap * sizeof(*a));
		if (!a) {
			e = -CR_ENOMEM;
			goto out;
		}
		n->lost = a;
		n->lost_cap = cap;
	}
	memcpy(n->lost + n->nlost, ips, nips * sizeof(*ips));
	n->nlost += nips;
	/* as cr_node_stop: under the lock, and only while the workers run */
	if (!atomic_load(&n->ended))
		for (int i = 0; i < n->nworkers_started; i++)
			uv_async_send(&n->workers[i].wake);
out:
	pthread_mutex_unlock(&n->lock);
	return e;
}

bool cr_node_wait(cr_node *n, int64_t timeout_ns)
{
	int64_t now = cr__clock_now(&n->clock);
	int64_t until = now + timeout_ns;
	bool ended;

	if (n->cfg.duration_ns > 0 && until > n->cfg.duration_ns)
		until = n->cfg.duration_ns;
	pthread_mutex_lock(&n->lock);
	while (!atomic_load(&n->ended) && cr__clock_now(&n->clock) < until) {
		int64_t abs = n->clock.origin_ns + until;
		struct timespec ts = {abs / CR_SEC, abs % CR_SEC};
		pthread_cond_timedwait(&n->cond, &n->lock, &ts);
	}
	ended = atomic_load(&n->ended);
	pthread_mutex_unlock(&n->lock);
	if (!ended && n->cfg.duration_ns > 0 &&
	    cr__clock_now(&n->clock) >= n->cfg.duration_ns) {
		cr_node_stop(n, false);
		ended = true;
	}
	return ended;
}

void cr_node_join(cr_node *n)
{
	if (n->joined)
		return;
	if (!atomic_load(&n->ended))
		cr_node_stop(n, false);
	for (int i = 0; i < n->nworkers_started; i++)
		pthread_join(n->workers[i].thread, NULL);
	n->joined = true;
	cr__sampler_close(n, n->metrics_err, sizeof(n->metrics_err));
}

const char *cr_node_metrics_error(const cr_node *n)
{
	return n->metrics_err[0] ? n->metrics_err : NULL;
}

int cr_node_run(cr_node *n, char *err, size_t errlen)
{
	int e = cr_node_start(n, err, errlen);

	if (e)
		return e;
	while (!cr_node_wait(n, CR_SEC))
		;
	cr_node_join(n);
	return 0;
}

int64_t cr_node_now(const cr_node *n)
{
	return cr__clock_now(&n->clock);
}

void cr_node_live(const cr_node *n, int64_t *now_ns, uint64_t *data_bytes_in,
		  uint64_t *peers_up)
{
	uint64_t bytes = 0;

	for (int i = 0; i < n->nworkers_started; i++)
		bytes += atomic_load_explicit(&n->workers[i].pub_data_bytes_in,
					      memory_order_relaxed);
	*now_ns = cr__clock_now(&n->clock);
	*data_bytes_in = bytes;
	*peers_up = n->npeers;
}

int64_t cr_node_live_since(const cr_node *n)
{
	int64_t oldest = INT64_MAX;

	for (int i = 0; i < n->nworkers_started; i++) {
		int64_t t = atomic_load_explicit(&n->workers[i].pub_stats_ns,
						 memory_order_acquire);
		if (t < oldest)
			oldest = t;
	}
	return oldest == INT64_MAX ? 0 : oldest;
}

int64_t cr_node_live_late_p99(const cr_node *n)
{
	int64_t m = 0;

	for (int i = 0; i < n->nworkers_started; i++) {
		int64_t x = atomic_load_explicit(&n->workers[i].pub_late_p99,
						 memory_order_relaxed);
		if (x > m)
			m = x;
	}
	return m;
}

int64_t cr_node_live_held(const cr_node *n)
{
	int64_t sum = 0;

	for (int i = 0; i < n->nworkers_started; i++)
		sum += atomic_load_explicit(&n->workers[i].pub_held_ns,
					    memory_order_relaxed);
	return sum;
}

void cr_node_live_stream(const cr_node *n, uint64_t *peers_alive,
			 double *continuity)
{
	uint64_t alive = 0, played = 0, due = 0;

	for (int i = 0; i < n->nworkers_started; i++) {
		const struct cr__worker *w = &n->workers[i];
		alive += atomic_load_explicit(&w->pub_alive,
					      memory_order_relaxed);
		played += atomic_load_explicit(&w->pub_played,
					       memory_order_relaxed);
		due += atomic_load_explicit(&w->pub_due, memory_order_relaxed);
	}
	*peers_alive = alive;
	*continuity = due ? (double)played / (double)due : -1;
}
