/* crystal run across hosts: every node's side of the supervision
 * (coord.h), on a control thread with its own libuv loop.
 *
 * The node connects to the coordinator (again every CO_RETRY_NS until the
 * barrier's time is up: the nodes of a run start in any order), says
 * HELLO, takes CO_SAMPLES samples of the coordinator's clock and keeps
 * the one of the shortest round trip (offset = t1 - (t0 + t2) / 2, known
 * to half that round trip), says READY, and waits for START.  The START
 * instant, on the coordinator's clock, becomes an instant of this host's
 * monotonic clock, which the node's start waits for: experiment time 0
 * is then the same instant on every node, within the offsets'
 * uncertainty.  During the run it exchanges heartbeats with the
 * coordinator, hands the node the hosts the coordinator says were lost,
 * stops it when another node stopped by a signal, and takes the
 * coordinator itself for lost when its connection ends without DONE or
 * stays silent.
 */
#include "../core/clock.h"
#include "../core/units.h"
#include "coord-int.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 100
#define GRACE_NS (2 * CR_SEC) /* a node waits this past the barrier for
				 the coordinator's word on it */
#define CLOSE_WAIT_NS (2 * CR_SEC) /* the last writes, at the end */

void co_fail(struct cr__coord *co, int status, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&co->lock);
	if (co->phase == CO_WAITING) {
		va_start(ap, fmt);
		vsnprintf(co->fail, sizeof(co->fail), fmt, ap);
		va_end(ap);
		co->fail_status = status;
		co->phase = CO_FAILED;
		pthread_cond_broadcast(&co->cond);
	}
	pthread_mutex_unlock(&co->lock);
}

void co_lost(struct cr__coord *co, const char *identity, const char *host,
	     int64_t at_ns)
{
	struct cr_result_lost *l;
	struct co_ipset ips;
	cr_node *node;

	pthread_mutex_lock(&co->lock);
	for (size_t i = 0; i < co->nlost; i++)
		if (!strcmp(co->lost[i].node, identity))
			goto out;
	if (co->ended || co->phase != CO_STARTED)
		goto out;
	l = realloc(co->lost, (co->nlost + 1) * sizeof(*l));
	if (!l)
		goto out;
	co->lost = l;
	l[co->nlost] = (struct cr_result_lost){strdup(identity), strdup(host),
					       at_ns};
	if (!l[co->nlost].node || !l[co->nlost].host) {
		free((char *)l[co->nlost].node);
		free((char *)l[co->nlost].host);
		goto out;
	}
	co->nlost++;
	node = co->node;
	pthread_mutex_unlock(&co->lock);
	fprintf(stderr,
		"crystal run: node %s (host %s) lost at %.3f s: the peers "
		"here hear its peers depart\n",
		identity, host, (double)at_ns / 1e9);
	if (!co_ipset_parse(&ips, identity)) {
		cr_node_hosts_lost(node, ips.ip, ips.n);
		co_ipset_free(&ips);
	}
	return;
out:
	pthread_mutex_unlock(&co->lock);
}

/* --- the connection to the coordinator ------------------------------------ */

static void send_hello(struct cr__coord *co)
{
	struct co_out o;

	co_begin(&o, CO_HELLO);
	co_u8(&o, CO_VERSION);
	co_u64(&o, co->exp_id);
	co_u32(&o, (uint32_t)getpid());
	co_u32(&o, co->npeers);
	co_text(&o, co->identity);
	co_text(&o, co->host);
	co_conn_send(co->conn, &o);
}

static void send_time(struct cr__coord *co)
{
	struct co_out o;

	co_begin(&o, CO_TIME);
	co_u64(&o, (uint64_t)cr__unix_ns());
	co_conn_send(co->conn, &o);
}

/* READY, once the clock is sampled and the node's sockets are all open
 * (its start is waiting in cr__coord_start_at). */
static void maybe_ready(struct cr__coord *co)
{
	struct co_out o;
	bool node_ready;

	pthread_mutex_lock(&co->lock);
	node_ready = co->node_ready;
	pthread_mutex_unlock(&co->lock);
	if (!node_ready || co->samples < CO_SAMPLES || co->ready_sent ||
	    !co->conn)
		return;
	co_begin(&o, CO_READY);
	co_u64(&o, (uint64_t)co->offset_ns);
	co_u64(&o, (uint64_t)co->uncertainty_ns);
	co_conn_send(co->conn, &o);
	co->ready_sent = true;
}

/* A clock sample: the next, or READY after the last.  The coordinator's
 * own node measures its own clock: 0 and 0, by definition. */
static bool on_time_reply(struct cr__coord *co, struct co_in *in)
{
	int64_t t2 = cr__unix_ns();
	int64_t t0 = (int64_t)co_get64(in), t1 = (int64_t)co_get64(in);
	int64_t rtt = t2 - t0;

	if (in->bad || in->left || rtt < 0 || co->samples >= CO_SAMPLES)
		return false;
	if (co->samples == 0 || rtt < co->best_rtt_ns) {
		co->best_rtt_ns = rtt;
		co->offset_ns = t1 - t0 - rtt / 2;
		co->uncertainty_ns = rtt / 2;
	}
	if (++co->samples < CO_SAMPLES) {
		send_time(co);
		return true;
	}
	if (co->is_coordinator)
		co->offset_ns = co->uncertainty_ns = 0;
	maybe_ready(co);
	return true;
}

/* START: the coordinator's instant, made this host's monotonic one. */
static bool on_start(struct cr__coord *co, struct co_in *in)
{
	uint64_t run_id = co_get64(in);
	int64_t at = (int64_t)co_get64(in);
	uint32_t nodes = co_get32(in);
	char id[CO_TEXT_MAX], host[CO_TEXT_MAX];

	co_gettext(in, id, sizeof(id));
	co_gettext(in, host, sizeof(host));
	if (in->bad || in->left || !co->ready_sent)
		return false;
	pthread_mutex_lock(&co->lock);
	if (co->phase == CO_WAITING) {
		int64_t local = at - co->offset_ns;
		co->origin_ns = cr__mono_ns() + (local - cr__unix_ns());
		co->run_id = run_id;
		co->nodes = nodes;
		snprintf(co->run_id_text, sizeof(co->run_id_text), "%016llx",
			 (unsigned long long)run_id);
		snprintf(co->coord_identity, sizeof(co->coord_identity), "%s",
			 id);
		snprintf(co->coord_host, sizeof(co->coord_host), "%s", host);
		co->phase = CO_STARTED;
		pthread_cond_broadcast(&co->cond);
	}
	pthread_mutex_unlock(&co->lock);
	return true;
}

static bool on_lost(struct cr__coord *co, struct co_in *in)
{
	int64_t at = (int64_t)co_get64(in);
	char id[CO_TEXT_MAX], host[CO_TEXT_MAX];

	co_gettext(in, id, sizeof(id));
	co_gettext(in, host, sizeof(host));
	if (in->bad || in->left)
		return false;
	co_lost(co, id, host, at);
	return true;
}

static bool on_stop(struct cr__coord *co, struct co_in *in)
{
	int sig = co_get8(in);
	cr_node *node;

	if (in->bad || in->left)
		return false;
	pthread_mutex_lock(&co->lock);
	if (!co->stopped_by && !co->stop_req)
		co->stopped_by = sig;
	node = co->phase == CO_STARTED ? co->node : NULL;
	pthread_mutex_unlock(&co->lock);
	fprintf(stderr, "crystal run: another node stopped by signal %d: "
			"stopping\n",
		sig);
	if (node)
		cr_node_stop(node, true);
	return true;
}

/* A frame from the coordinator; false ends the connection (malformed,
 * or out of turn). */
static bool client_frame(struct co_conn *c, int type, struct co_in *in)
{
	struct cr__coord *co = c->co;
	char text[CO_TEXT_MAX];
	bool ok = true;

	switch (type) {
	case CO_WELCOME:
		ok = !co->welcomed;
		co->welcomed = true;
		if (ok)
			send_time(co);
		break;
	case CO_TIME_REPLY:
		ok = co->welcomed && on_time_reply(co, in);
		break;
	case CO_REFUSE:
	case CO_ABORT:
		co_gettext(in, text, sizeof(text));
		co_fail(co, 2, type == CO_REFUSE ? "the coordinator at %s "
						   "refused this node: %s"
						 : "the run did not start: %s",
			type == CO_REFUSE ? co->at_text : text, text);
		break;
	case CO_START:
		ok = on_start(co, in);
		break;
	case CO_BEAT:
		break;
	case CO_LOST:
		ok = on_lost(co, in);
		break;
	case CO_STOP:
		ok = on_stop(co, in);
		break;
	case CO_DONE:
		co->coord_done = true;
		break;
	default:
		ok = false;
	}
	if (!ok)
		c->gone(c, "a malformed or unexpected frame");
	return ok && !c->closing;
}

/* The connection to the coordinator ended: before the start, the node
 * tries again (until the barrier's time is up); after it, the
 * coordinator is lost unless it said DONE. */
static void client_gone(struct co_conn *c, const char *why)
{
	struct cr__coord *co = c->co;
	int64_t at;
	bool started;

	co->conn = NULL;
	co_conn_close(c, co_conn_free_cb);
	pthread_mutex_lock(&co->lock);
	started = co->phase == CO_STARTED;
	at = started && co->node ? cr_node_now(co->node) : 0;
	pthread_mutex_unlock(&co->lock);
	if (!started) {
		co->welcomed = co->ready_sent = false;
		co->samples = 0;
		co->next_connect_ns = cr__mono_ns() + CO_RETRY_NS;
		return;
	}
	if (co->coord_done)
		return;
	fprintf(stderr, "crystal run: the coordinator at %s: %s\n",
		co->at_text, why);
	co_lost(co, co->coord_identity, co->coord_host, at);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct co_conn *c = req->data;
	struct cr__coord *co = c->co;

	free(req);
	if (status < 0 || c->closing) {
		co->connecting = false;
		if (co->conn == c)
			co->conn = NULL;
		if (!c->closing)
			co_conn_close(c, co_conn_free_cb);
		co->next_connect_ns = cr__mono_ns() + CO_RETRY_NS;
		return;
	}
	co->connecting = false;
	uv_tcp_nodelay(&c->tcp, 1);
	if (co_conn_read(c)) {
		client_gone(c, "cannot read");
		return;
	}
	send_hello(co);
}

static void try_connect(struct cr__coord *co)
{
	struct sockaddr_storage ss;
	socklen_t len;
	uv_connect_t *req;
	struct co_conn *c;

	c = co_conn_new(co);
	req = malloc(sizeof(*req));
	if (!c || !req) {
		free(req);
		if (c)
			uv_close((uv_handle_t *)&c->tcp, co_conn_free_cb);
		co->next_connect_ns = cr__mono_ns() + CO_RETRY_NS;
		return;
	}
	c->frame = client_frame;
	c->gone = client_gone;
	snprintf(c->peer, sizeof(c->peer), "%s", co->at_text);
	cr__sockaddr_from(&co->at, &ss, &len);
	req->data = c;
	co->conn = c;
	co->connecting = true;
	if (uv_tcp_connect(req, &c->tcp, (struct sockaddr *)&ss,
			   connect_cb)) {
		free(req);
		co->connecting = false;
		co->conn = NULL;
		co_conn_close(c, co_conn_free_cb);
		co->next_connect_ns = cr__mono_ns() + CO_RETRY_NS;
	}
}

/* --- the control thread ----------------------------------------------------- */

static void begin_close(struct cr__coord *co)
{
	struct co_out o;

	co->closing_all = true;
	co->close_by_ns = cr__mono_ns() + CLOSE_WAIT_NS;
	if (co->conn) {
		co_begin(&o, CO_DONE);
		co_conn_send(co->conn, &o);
		co_conn_close(co->conn, co_conn_free_cb);
		co->conn = NULL;
	}
	if (co->is_coordinator)
		co_server_close(co);
}

/* What the main thread asked for: a stop to tell the others of, the
 * end. */
static void requests(struct cr__coord *co)
{
	struct co_out o;
	bool close;
	int sig = 0;

	pthread_mutex_lock(&co->lock);
	if (co->stop_req && !co->stop_sent) {
		sig = co->stop_req;
		co->stop_sent = true;
	}
	close = co->close_req;
	pthread_mutex_unlock(&co->lock);
	if (sig && co->is_coordinator) {
		co_server_stop(co, sig, NULL);
	} else if (sig && co->conn && co->welcomed) {
		co_begin(&o, CO_STOP);
		co_u8(&o, (uint8_t)sig);
		co_conn_send(co->conn, &o);
	}
	if (!close)
		maybe_ready(co);
	if (close && !co->closing_all)
		begin_close(co);
}

/* The last turns: once every connection is closed (its last frames
 * written), or CLOSE_WAIT_NS has passed, the loop's handles close. */
static void finish(struct cr__coord *co, int64_t now)
{
	if (co->conns && now < co->close_by_ns)
		return;
	for (struct co_conn *c = co->conns; c; c = c->next)
		if (!uv_is_closing((uv_handle_t *)&c->tcp))
			uv_close((uv_handle_t *)&c->tcp, co_conn_free_cb);
	uv_close((uv_handle_t *)&co->tick, NULL);
	uv_close((uv_handle_t *)&co->wake, NULL);
}

/* Before the start: connect, and give up when the barrier's time is up
 * (the coordinator names the missing nodes; a node that never heard from
 * it says so itself). */
static void waiting(struct cr__coord *co, int64_t now)
{
	int64_t waited = now - co->opened_ns;

	if (co->is_coordinator && waited > co->barrier_ns)
		co_server_abort(co, NULL);
	if (waited > co->barrier_ns + GRACE_NS)
		co_fail(co, 2,
			"no start from the coordinator at %s within %.0f s: "
			"%s",
			co->at_text, (double)co->barrier_ns / 1e9,
			co->welcomed ? "it never said START"
				     : "it never answered (is a node running "
				       "on the host that owns its IP?)");
	if (!co->conn && !co->connecting && now >= co->next_connect_ns)
		try_connect(co);
}

static void beat(struct cr__coord *co, int64_t now)
{
	struct co_out o;

	if (now < co->next_beat_ns)
		return;
	co->next_beat_ns = now + CO_BEAT_NS;
	if (co->is_coordinator)
		co_server_tick(co);
	if (!co->conn || co->coord_done)
		return;
	if (now - co->conn->last_rx_ns > CO_SILENCE_NS) {
		co->conn->gone(co->conn, "silent for 3 s");
		return;
	}
	co_begin(&o, CO_BEAT);
	co_conn_send(co->conn, &o);
}

static void tick_cb(uv_timer_t *t)
{
	struct cr__coord *co = t->data;
	int64_t now = cr__mono_ns();
	enum co_phase phase;

	requests(co);
	if (co->closing_all) {
		finish(co, now);
		return;
	}
	pthread_mutex_lock(&co->lock);
	phase = co->phase;
	pthread_mutex_unlock(&co->lock);
	if (phase == CO_WAITING)
		waiting(co, now);
	else if (phase == CO_STARTED)
		beat(co, now);
}

static void wake_cb(uv_async_t *h)
{
	requests(h->data);
}

static void *thread_main(void *arg)
{
	struct cr__coord *co = arg;

#ifdef __linux__
	pthread_setname_np(pthread_self(), "crystal-ctl");
#endif
	uv_run(&co->loop, UV_RUN_DEFAULT);
	return NULL;
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	struct cr__coord *co = arg;

	if (uv_is_closing(h))
		return;
	if (h->type == UV_TCP && h != (uv_handle_t *)&co->srv.listener)
		uv_close(h, co_conn_free_cb);
	else
		uv_close(h, NULL);
}

/* --- the run's interface ---------------------------------------------------- */

bool cr__coord_needed(const struct cr_node_config *cfg)
{
	for (size_t i = 0; i < cfg->npeers; i++)
		if (cfg->peers[i].remote)
			return true;
	return false;
}

/* The plan's IPs and this node's; its identity; is it the coordinator? */
static int identify(struct cr__coord *co, const struct cr_node_config *cfg,
		    char *err, size_t errlen)
{
	char ip[CO_TEXT_MAX];

	for (size_t i = 0; i < cfg->npeers; i++) {
		const struct cr_node_peer *p = &cfg->peers[i];
		if (co_ipset_add(&co->plan, &p->addr) ||
		    (!p->remote && co_ipset_add(&co->own, &p->addr))) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		co->npeers += !p->remote && !p->is_tracker;
	}
	if (co_ipset_text(&co->own, co->identity, sizeof(co->identity))) {
		snprintf(err, errlen,
			 "this node has too many IPs to name it in %d bytes",
			 CO_TEXT_MAX);
		return -1;
	}
	if (!co_ipset_has(&co->plan, &co->at)) {
		struct co_ipset one = {&co->at, 1};
		co_ipset_text(&one, ip, sizeof(ip));
		snprintf(err, errlen,
			 "the coordinator's IP %s is none of the experiment's "
			 "peers': the coordinator runs in the node that has "
			 "its IP (set [experiment] coordinator or "
			 "--coordinator to IP:PORT of one of them)",
			 ip);
		return -1;
	}
	co->is_coordinator = co_ipset_has(&co->own, &co->at);
	return 0;
}

static int loop_open(struct cr__coord *co, char *err, size_t errlen)
{
	int e = uv_loop_init(&co->loop);

	if (e) {
		snprintf(err, errlen, "cannot make the control loop: %s",
			 uv_strerror(e));
		return -1;
	}
	co->loop_open = true;
	uv_async_init(&co->loop, &co->wake, wake_cb);
	co->wake.data = co;
	uv_timer_init(&co->loop, &co->tick);
	co->tick.data = co;
	uv_timer_start(&co->tick, tick_cb, 0, TICK_MS);
	if (co->is_coordinator && co_server_open(co, err, errlen))
		return -1;
	if (pthread_create(&co->thread, NULL, thread_main, co)) {
		snprintf(err, errlen, "cannot start the control thread");
		return -1;
	}
	co->thread_running = true;
	return 0;
}

int cr__coord_open(struct cr__coord **out, const struct cr_node_config *cfg,
		   const cr_addr *at, int64_t barrier_ns, char *err,
		   size_t errlen)
{
	struct cr__coord *co = calloc(1, sizeof(*co));

	*out = co;
	if (!co) {
		snprintf(err, errlen, "out of memory");
		return 2;
	}
	pthread_mutex_init(&co->lock, NULL);
	pthread_cond_init(&co->cond, NULL);
	co->at = *at;
	cr_addr_format(at, co->at_text, sizeof(co->at_text));
	co->exp_id = cfg->exp_id; /* a file's plan always sets it */
	co->barrier_ns = barrier_ns;
	co->opened_ns = cr__mono_ns();
	gethostname(co->host, sizeof(co->host) - 1);
	if (identify(co, cfg, err, errlen) || loop_open(co, err, errlen))
		return 2;
	return 0;
}

const char *cr__coord_identity(const struct cr__coord *c)
{
	return c->identity;
}

void cr__coord_attach(struct cr__coord *c, cr_node *n)
{
	pthread_mutex_lock(&c->lock);
	c->node = n;
	pthread_mutex_unlock(&c->lock);
}

/* A stop signal while the run waits for its start: 0, or the signal. */
static int pending_signal(void)
{
	struct timespec zero = {0, 0};
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sig = sigtimedwait(&set, NULL, &zero);
	return sig > 0 ? sig : 0;
}

int cr__coord_start_at(void *ctx, int64_t *origin_ns, char *err,
		       size_t errlen)
{
	struct cr__coord *co = ctx;
	enum co_phase phase;
	int sig;

	pthread_mutex_lock(&co->lock);
	co->node_ready = true; /* READY may go */
	pthread_mutex_unlock(&co->lock);
	uv_async_send(&co->wake);
	pthread_mutex_lock(&co->lock);
	while ((phase = co->phase) == CO_WAITING) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * CR_MS;
		if (ts.tv_nsec >= CR_SEC) {
			ts.tv_sec++;
			ts.tv_nsec -= CR_SEC;
		}
		pthread_cond_timedwait(&co->cond, &co->lock, &ts);
		if (co->phase != CO_WAITING)
			continue;
		pthread_mutex_unlock(&co->lock);
		sig = pending_signal();
		if (sig) {
			/* the others are told, and do not start either */
			cr__coord_stop(co, sig);
			co_fail(co, 128 + sig,
				"interrupted by signal %d before the start", sig);
		}
		pthread_mutex_lock(&co->lock);
	}
	*origin_ns = co->origin_ns;
	if (phase == CO_FAILED)
		snprintf(err, errlen, "%s", co->fail);
	pthread_mutex_unlock(&co->lock);
	return phase == CO_STARTED ? 0 : -CR_EINVAL;
}

int cr__coord_start_status(struct cr__coord *c)
{
	int status;

	pthread_mutex_lock(&c->lock);
	status = c->fail_status ? c->fail_status : 1;
	pthread_mutex_unlock(&c->lock);
	return status;
}

void cr__coord_stop(struct cr__coord *c, int sig)
{
	pthread_mutex_lock(&c->lock);
	if (!c->stop_req && !c->stopped_by)
		c->stop_req = sig;
	pthread_mutex_unlock(&c->lock);
	uv_async_send(&c->wake);
}

int cr__coord_stopped_by(struct cr__coord *c)
{
	int sig;

	pthread_mutex_lock(&c->lock);
	sig = c->stopped_by;
	pthread_mutex_unlock(&c->lock);
	return sig;
}

void cr__coord_close(struct cr__coord *c, struct cr_result_hosts *h)
{
	pthread_mutex_lock(&c->lock);
	c->ended = true;
	c->close_req = true;
	pthread_mutex_unlock(&c->lock);
	if (c->thread_running) {
		uv_async_send(&c->wake);
		pthread_join(c->thread, NULL);
		c->thread_running = false;
	}
	if (!h)
		return;
	*h = (struct cr_result_hosts){
		.run_id = c->run_id_text,
		.node = c->identity,
		.nodes = c->nodes,
		.coordinator = c->at_text,
		.clock_offset_ns = c->offset_ns,
		.clock_uncertainty_ns = c->uncertainty_ns,
		.start_unix_ns = c->node ? cr_node_start_unix_ns(c->node) : 0,
		.lost = c->lost,
		.nlost = c->nlost,
	};
}

void cr__coord_free(struct cr__coord *c)
{
	struct co_node *n, *next;

	if (!c)
		return;
	cr__coord_close(c, NULL);
	if (c->loop_open) {
		/* a start that failed before the thread ran: its handles */
		uv_walk(&c->loop, close_walk_cb, c);
		uv_run(&c->loop, UV_RUN_DEFAULT);
		uv_loop_close(&c->loop);
	}
	for (n = c->srv.nodes; n; n = next) {
		next = n->next;
		co_ipset_free(&n->ips);
		free(n);
	}
	for (size_t i = 0; i < c->nlost; i++) {
		free((char *)c->lost[i].node);
		free((char *)c->lost[i].host);
	}
	free(c->lost);
	co_ipset_free(&c->plan);
	co_ipset_free(&c->own);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c);
}
