/* Workers: one libuv loop and one thread each, owning a shard of the
 * node's peers.
 *
 * A worker wakes for three reasons: socket readiness (uv_poll), its timer
 * structure (a timerfd armed at the earliest deadline, so wake-ups have
 * nanosecond resolution rather than libuv's milliseconds), and its async
 * handle (the node asks it to stop).  Before each blocking poll the flush
 * hook writes out every connection that was given messages during the
 * iteration, so a burst of sends becomes one writev per connection.
 */
#include "../internal.h"
#include "../node.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#include <sys/timerfd.h>
#endif

/* --- connection map: (peer, remote address) -> connection -------------------- */

static size_t map_slot(const struct cr__worker *w, const struct cr_peer *p,
		       const cr_addr *a)
{
	uint64_t h = cr_addr_hash(a) ^ ((uint64_t)p->index * 0x9e3779b97f4a7c15ull);

	return (size_t)(h ^ (h >> 31)) & (w->map_cap - 1);
}

struct cr__conn *cr__conn_find(struct cr__worker *w, const struct cr_peer *p,
			       const cr_addr *remote)
{
	if (!w->map_cap)
		return NULL;
	for (struct cr__conn *c = w->map[map_slot(w, p, remote)]; c;
	     c = c->map_next)
		if (c->peer == p && cr_addr_eq(&c->remote, remote))
			return c;
	return NULL;
}

static void map_grow(struct cr__worker *w)
{
	size_t cap = w->map_cap ? w->map_cap * 2 : 256;
	struct cr__conn **map = calloc(cap, sizeof(*map));
	struct cr__conn **old = w->map;
	size_t oldcap = w->map_cap;

	if (!map)
		return; /* keep the old table; chains grow longer */
	w->map = map;
	w->map_cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		struct cr__conn *c = old[i], *next;
		for (; c; c = next) {
			size_t s = map_slot(w, c->peer, &c->remote);
			next = c->map_next;
			c->map_next = map[s];
			map[s] = c;
		}
	}
	free(old);
}

void cr__worker_map_add(struct cr__worker *w, struct cr__conn *c)
{
	size_t s;

	if (w->map_len + 1 > w->map_cap / 2 * 1 + w->map_cap / 4)
		map_grow(w);
	if (!w->map_cap)
		return;
	s = map_slot(w, c->peer, &c->remote);
	c->map_next = w->map[s];
	w->map[s] = c;
	c->in_map = true;
	w->map_len++;
}

void cr__worker_map_del(struct cr__worker *w, struct cr__conn *c)
{
	struct cr__conn **pp = &w->map[map_slot(w, c->peer, &c->remote)];

	for (; *pp; pp = &(*pp)->map_next) {
		if (*pp == c) {
			*pp = c->map_next;
			c->in_map = false;
			w->map_len--;
			return;
		}
	}
}

/* --- flushing ---------------------------------------------------------------- */

void cr__worker_mark_dirty(struct cr__conn *c)
{
	struct cr__worker *w = c->w;

	if (c->dirty)
		return;
	c->dirty = true;
	c->next_dirty = w->dirty;
	w->dirty = c;
}

static void flush_dirty(struct cr__worker *w)
{
	struct cr__conn *c;

	while ((c = w->dirty)) {
		w->dirty = c->next_dirty;
		c->dirty = false;
		if (c->state != CR__CLOSED && c->broken) {
			/* off the list already, so the close releases it */
			cr__conn_close(c, true, false, strerror(c->broken));
			continue;
		}
		if (c->state == CR__CLOSED)
			cr__conn_release(c);
		else if (!c->want_write)
			cr__conn_flush(c);
	}
}

/* --- timers ------------------------------------------------------------------ */

void cr__worker_rearm(struct cr__worker *w)
{
	int64_t next = cr__timers_next(&w->timers);

	if (next == w->armed_ns || w->stopping)
		return;
	w->armed_ns = next;
#ifdef __linux__
	if (w->timer_fd >= 0) {
		struct itimerspec its = {0};
		if (next != INT64_MAX) {
			int64_t abs = w->clock->origin_ns + next;
			if (abs <= 0)
				abs = 1;
			its.it_value.tv_sec = abs / CR_SEC;
			its.it_value.tv_nsec = abs % CR_SEC;
		}
		timerfd_settime(w->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
		return;
	}
#endif
	if (next == INT64_MAX) {
		uv_timer_stop(&w->timer_ms);
	} else {
		int64_t d = next - cr__clock_now(w->clock);
		uint64_t ms = d <= 0 ? 0 : (uint64_t)((d + CR_MS - 1) / CR_MS);
		uv_timer_start(&w->timer_ms, (uv_timer_cb)w->timer_ms.data, ms,
			       0);
	}
}

static void run_timers(struct cr__worker *w)
{
	w->armed_ns = INT64_MIN; /* force the rearm below */
	cr__timers_run(&w->timers, w->clock);
	cr__worker_rearm(w);
}

static void timerfd_cb(uv_poll_t *h, int status, int events)
{
	struct cr__worker *w = h->data;
	uint64_t expirations;

	CR__UNUSED(status);
	CR__UNUSED(events);
	if (read(w->timer_fd, &expirations, sizeof(expirations)) < 0 &&
	    errno != EAGAIN)
		return;
	run_timers(w);
}

static void timer_ms_cb(uv_timer_t *t)
{
	run_timers(t->loop->data);
}

uint64_t cr__worker_timer(struct cr__worker *w, int64_t due_ns,
			  int64_t period_ns, cr__timer_fn fn, void *ctx,
			  void *arg, const void *owner)
{
	uint64_t id = cr__timer_add(&w->timers, due_ns, period_ns, fn, ctx,
				    arg, owner);

	if (due_ns < w->armed_ns)
		cr__worker_rearm(w);
	return id;
}

uint64_t cr__worker_timer_user(struct cr__worker *w, struct cr_peer *p,
			       int64_t due_ns, int64_t period_ns,
			       cr_timer_cb cb, void *arg)
{
	uint64_t id = cr__timer_add_user(&w->timers, due_ns, period_ns, cb,
					 p, arg);

	if (due_ns < w->armed_ns)
		cr__worker_rearm(w);
	return id;
}

static void flush_hook_cb(uv_prepare_t *h)
{
	struct cr__worker *w = h->loop->data;

	flush_dirty(w);
	if (cr__timers_next(&w->timers) < w->armed_ns)
		cr__worker_rearm(w);
}

/* --- life cycle ------------------------------------------------------------- */

static void wake_cb(uv_async_t *h);

int cr__worker_setup(struct cr__worker *w)
{
	struct cr__node *n = w->node;
	char path[4096];
	int err, level = n->cfg.log_level;

	/* the peers filter their own lines; the log takes the most any
	 * of them lets through (trace for a traced peer) */
	for (size_t i = 0; i < w->npeers; i++)
		if (w->peers[i]->log_level > level)
			level = w->peers[i]->log_level;
	w->timer_fd = -1;
	w->armed_ns = INT64_MAX;
	w->clock = &n->clock;
	cr__timers_init(&w->timers);
	cr__pool_init(&w->pool);
	if (n->cfg.log_dir) {
		snprintf(path, sizeof(path), "%s/worker-%d.log",
			 n->cfg.log_dir, w->id);
		err = cr__log_open(&w->log, path, level, &n->clock);
	} else {
		err = cr__log_open(&w->log, NULL, level, &n->clock);
	}
	if (err) {
		snprintf(w->setup_msg, sizeof(w->setup_msg),
			 "worker %d: cannot open its log in %s: %s", w->id,
			 n->cfg.log_dir ? n->cfg.log_dir : "-",
			 cr_strerror(err));
		return err;
	}
	w->log.echo_stderr = true;
	if (uv_loop_init(&w->loop)) {
		snprintf(w->setup_msg, sizeof(w->setup_msg),
			 "worker %d: cannot create its event loop", w->id);
		return -CR_EIO;
	}
	w->loop.data = w;
	uv_async_init(&w->loop, &w->wake, wake_cb);
	uv_prepare_init(&w->loop, &w->flush_hook);
	uv_prepare_start(&w->flush_hook, flush_hook_cb);
#ifdef __linux__
	w->timer_fd = timerfd_create(CLOCK_MONOTONIC,
				     TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->timer_fd >= 0) {
		uv_poll_init(&w->loop, &w->timer_poll, w->timer_fd);
		w->timer_poll.data = w;
		uv_poll_start(&w->timer_poll, UV_READABLE, timerfd_cb);
	}
#endif
	uv_timer_init(&w->loop, &w->timer_ms);
	w->timer_ms.data = (void *)(uintptr_t)timer_ms_cb;

	/* peers born later open theirs at birth */
	for (size_t i = 0; i < w->npeers; i++) {
		if (!cr__peer_born_at_start(w->peers[i]))
			continue;
		err = cr__peer_open_sockets(w->peers[i], w->setup_msg,
					    sizeof(w->setup_msg));
		if (err)
			return err;
	}
	return 0;
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	CR__UNUSED(arg);
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Ends every peer of this worker and closes all handles, so uv_run returns. */
static void worker_shutdown(struct cr__worker *w)
{
	/* cr_node_stop may still be waking workers: let it finish before
	 * this one's wake handle closes */
	pthread_mutex_lock(&w->node->lock);
	pthread_mutex_unlock(&w->node->lock);
	w->stopping = true;
	/* the last row of every peer, as the experiment ends */
	cr__sampler_worker(w, w->node->end_ns);
	w->sampling = false;
	for (size_t i = 0; i < w->npeers; i++) {
		struct cr_peer *p = w->peers[i];
		if (p->alive)
			p->st.alive_ns +=
				cr__clock_now(&w->node->clock) - p->st.born_ns;
		if (p->source)
			cr__source_stop(p->source);
		if (p->tracker)
			cr__tracker_stop(p);
		else if (p->alive && p->booted && p->algo->destroy)
			p->algo->destroy(p);
		p->alive = false;
		cr__timers_cancel_owner(&w->timers, p);
		cr__peer_close_sockets(p, false);
	}
	flush_dirty(w);
	uv_walk(&w->loop, close_walk_cb, NULL);
}

static void wake_cb(uv_async_t *h)
{
	struct cr__worker *w = h->loop->data;

	if (atomic_load(&w->node->ended) && !w->stopping)
		worker_shutdown(w);
}

void cr__worker_teardown(struct cr__worker *w)
{
	/* connections fold their fidelity into the worker as they close */
	if (w->loop.data == w) {
		if (!w->stopping)
			worker_shutdown(w);
		uv_run(&w->loop, UV_RUN_DEFAULT);
		uv_loop_close(&w->loop);
		w->loop.data = NULL;
	}
	if (w->timer_fd >= 0)
		close(w->timer_fd);
	w->timer_fd = -1;
	w->lag = w->timers.lag;
	cr__timers_free(&w->timers);
	cr__pool_free(&w->pool);
	cr__log_close(&w->log);
	free(w->map);
	w->map = NULL;
	w->map_cap = w->map_len = 0;
}
