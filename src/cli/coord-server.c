/* crystal run across hosts: the coordinator, a listener inside the crystal
 * run of the node that owns the coordinator's IP.
 *
 * It admits the nodes of one experiment (its id in their HELLO) whose
 * identities are sets of the plan's IPs that no other node has claimed,
 * answers their clock samples, and once every IP of the plan belongs to a
 * node that said READY, tells all of them START: a run id and an instant
 * CO_START_AFTER_NS after the last READY, on its own clock.  Past the
 * barrier timeout it tells those that came why the run is not starting,
 * naming the IPs no node came for.  Then it watches the nodes: a node
 * whose connection ends without DONE, or that is silent for
 * CO_SILENCE_NS, is lost, and the others are told (LOST); a STOP from one
 * is relayed to all.  Anything malformed ends that connection alone, with
 * an error naming who sent it; the run goes on.
 */
#include "../core/clock.h"
#include "coord-int.h"

#include <crystal/random.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("crystal run: coordinator: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static struct co_server *srv(struct co_conn *c)
{
	return &c->co->srv;
}

/* The live node that holds ip (said hello, not lost or gone). */
static struct co_node *holder(struct co_server *s, const cr_addr *ip)
{
	for (struct co_node *n = s->nodes; n; n = n->next)
		if (!n->lost && (n->conn || s->started) &&
		    co_ipset_has(&n->ips, ip))
			return n;
	return NULL;
}

static void drop(struct co_conn *c);

/* Refuses what c sent: logged, told to it, and its connection closed. */
static bool refuse(struct co_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static bool refuse(struct co_conn *c, const char *fmt, ...)
{
	struct co_out o;
	char why[CO_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	say("refused %s: %s", c->peer, why);
	co_begin(&o, CO_REFUSE);
	co_text(&o, why);
	co_conn_send(c, &o);
	drop(c);
	return false;
}

/* Is every IP of the node's free and the plan's?  NULL, or why not. */
static const char *claimable(struct co_server *s, const struct cr__coord *co,
			     const struct co_ipset *ips, char *why, size_t len)
{
	char t[64];

	for (size_t i = 0; i < ips->n; i++) {
		struct co_ipset one = {(cr_addr *)&ips->ip[i], 1};
		const struct co_node *h;

		co_ipset_text(&one, t, sizeof(t));
		if (!co_ipset_has(&co->plan, &ips->ip[i])) {
			snprintf(why, len,
				 "%s is no IP of the experiment's peers", t);
			return why;
		}
		h = holder(s, &ips->ip[i]);
		if (h) {
			snprintf(why, len,
				 "%s is already node %.300s's (host %.200s, pid %u)",
				 t, h->identity, h->host, h->pid);
			return why;
		}
	}
	return NULL;
}

static bool on_hello(struct co_conn *c, struct co_in *in)
{
	struct cr__coord *co = c->co;
	struct co_server *s = srv(c);
	struct co_node *n;
	struct co_out o;
	char why[CO_TEXT_MAX + 128];
	uint8_t version = co_get8(in);
	uint64_t id = co_get64(in);

	n = calloc(1, sizeof(*n));
	if (!n)
		return refuse(c, "out of memory");
	n->pid = co_get32(in);
	n->peers = co_get32(in);
	co_gettext(in, n->identity, sizeof(n->identity));
	co_gettext(in, n->host, sizeof(n->host));
	if (in->bad || in->left || version != CO_VERSION) {
		free(n);
		return refuse(c, in->bad || in->left
					 ? "malformed HELLO"
					 : "control protocol version %u, this "
					   "crystal speaks %u",
			      version, CO_VERSION);
	}
	if (id != co->exp_id) {
		free(n);
		return refuse(c,
			      "experiment id %016llx is not this run's "
			      "(%016llx): every node must run the same files",
			      (unsigned long long)id,
			      (unsigned long long)co->exp_id);
	}
	if (s->started || s->aborted) {
		free(n);
		return refuse(c, "node %s: the run has %s", n->identity,
			      s->started ? "started without it" : "ended");
	}
	if (co_ipset_parse(&n->ips, n->identity) ||
	    claimable(s, co, &n->ips, why, sizeof(why))) {
		const char *w = n->ips.n ? why : "not a list of IPs";
		char idt[CO_TEXT_MAX];

		snprintf(idt, sizeof(idt), "%s", n->identity);
		co_ipset_free(&n->ips);
		free(n);
		return refuse(c, "node '%s': %s", idt, w);
	}
	n->conn = c;
	c->node = n;
	n->next = s->nodes;
	s->nodes = n;
	say("node %s (host %s, pid %u, %u peers) came from %s", n->identity,
	    n->host, n->pid, n->peers, c->peer);
	co_begin(&o, CO_WELCOME);
	co_conn_send(c, &o);
	return true;
}

/* Every IP of the plan is a ready node's. */
static bool all_ready(struct co_server *s, const struct cr__coord *co)
{
	for (size_t i = 0; i < co->plan.n; i++) {
		const struct co_node *h = holder(s, &co->plan.ip[i]);
		if (!h || !h->ready)
			return false;
	}
	return true;
}

static void send_start(struct cr__coord *co)
{
	struct co_server *s = &co->srv;
	cr_rand r;
	struct co_out o;

	cr_rand_seed(&r, (uint64_t)cr__unix_ns() ^ (uint64_t)getpid() << 40 ^
				 co->exp_id);
	s->run_id = cr_rand_next(&r);
	s->start_unix_ns = cr__unix_ns() + CO_START_AFTER_NS;
	s->started = true;
	s->nnodes = 0;
	for (struct co_node *n = s->nodes; n; n = n->next)
		s->nnodes += n->conn && n->ready;
	co_begin(&o, CO_START);
	co_u64(&o, s->run_id);
	co_u64(&o, (uint64_t)s->start_unix_ns);
	co_u32(&o, s->nnodes);
	co_text(&o, co->identity);
	co_text(&o, co->host);
	for (struct co_node *n = s->nodes; n; n = n->next) {
		if (!n->conn || !n->ready)
			continue;
		co_conn_send(n->conn, &o);
		/* heartbeats begin now: a node's silence counts from here,
		 * not from its READY, however long the others took */
		n->conn->last_rx_ns = cr__mono_ns();
	}
	say("%u nodes ready: run %016llx starts in %lld ms", s->nnodes,
	    (unsigned long long)s->run_id,
	    (long long)(CO_START_AFTER_NS / CR_MS));
}

static bool on_ready(struct co_conn *c, struct co_in *in)
{
	struct co_node *n = c->node;

	n->offset_ns = (int64_t)co_get64(in);
	n->uncertainty_ns = (int64_t)co_get64(in);
	if (in->bad || in->left)
		return refuse(c, "malformed READY");
	n->ready = true;
	say("node %s ready: clock offset %+.0f us (+-%.0f us)", n->identity,
	    (double)n->offset_ns / 1e3, (double)n->uncertainty_ns / 1e3);
	if (all_ready(&c->co->srv, c->co))
		send_start(c->co);
	return true;
}

static bool on_time(struct co_conn *c, struct co_in *in)
{
	uint64_t t0 = co_get64(in);
	struct co_out o;

	if (in->bad || in->left)
		return refuse(c, "malformed TIME");
	co_begin(&o, CO_TIME_REPLY);
	co_u64(&o, t0);
	co_u64(&o, (uint64_t)cr__unix_ns());
	co_conn_send(c, &o);
	return true;
}

/* A frame from a node.  Before its HELLO only a HELLO; after it, what a
 * node sends, each once the barrier allows it. */
static bool node_frame(struct co_conn *c, int type, struct co_in *in)
{
	struct co_node *n = c->node;

	if (!n) {
		if (type != CO_HELLO)
			return refuse(c, "%s before HELLO", co_type_name(type));
		return on_hello(c, in);
	}
	switch (type) {
	case CO_TIME:
		return on_time(c, in);
	case CO_READY:
		if (n->ready || srv(c)->started)
			return refuse(c, "node %s: READY twice", n->identity);
		return on_ready(c, in);
	case CO_BEAT:
		return true;
	case CO_STOP:
		co_server_stop(c->co, co_get8(in), n);
		return true;
	case CO_DONE:
		n->done = true;
		return true;
	default:
		return refuse(c, "node %s: unexpected %s", n->identity,
			      co_type_name(type));
	}
}

/* Tells every other live node that n was lost. */
static void relay_lost(struct cr__coord *co, struct co_node *n)
{
	struct co_server *s = &co->srv;
	int64_t at = cr__unix_ns() - s->start_unix_ns;
	struct co_out o;

	n->lost = true;
	say("node %s (host %s) lost at %.3f s", n->identity, n->host,
	    (double)at / 1e9);
	co_begin(&o, CO_LOST);
	co_u64(&o, (uint64_t)at);
	co_text(&o, n->identity);
	co_text(&o, n->host);
	for (struct co_node *m = s->nodes; m; m = m->next)
		if (m != n && m->conn && !m->lost)
			co_conn_send(m->conn, &o);
}

/* Closes c; its node, if it had one, is gone: lost to the others after
 * the start (unless it said DONE), and before it, its IPs are free for
 * another HELLO. */
static void drop(struct co_conn *c)
{
	struct co_node *n = c->node;
	struct co_server *s = srv(c);

	if (n) {
		if (s->started && !n->done && !n->lost)
			relay_lost(c->co, n);
		n->lost = !s->started || n->lost;
		n->conn = NULL;
		c->node = NULL;
	}
	co_conn_close(c, co_conn_free_cb);
}

static void node_gone(struct co_conn *c, const char *why)
{
	struct co_node *n = c->node;
	struct co_server *s = srv(c);

	if (!n)
		say("connection from %s ends: %s", c->peer, why);
	else if (!s->started && !s->aborted)
		say("node %s left before the start (%s): waiting for its "
		    "IPs again",
		    n->identity, why);
	drop(c);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct cr__coord *co = l->data;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	struct co_conn *c;
	cr_addr a;

	if (status < 0)
		return;
	c = co_conn_new(co);
	if (!c)
		return;
	c->frame = node_frame;
	c->gone = node_gone;
	if (uv_accept(l, (uv_stream_t *)&c->tcp)) {
		uv_close((uv_handle_t *)&c->tcp, co_conn_free_cb);
		return;
	}
	snprintf(c->peer, sizeof(c->peer), "?");
	if (!uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len)) {
		cr__addr_from_sockaddr(&a, (struct sockaddr *)&ss);
		cr_addr_format(&a, c->peer, sizeof(c->peer));
	}
	uv_tcp_nodelay(&c->tcp, 1);
	if (co_conn_read(c))
		co_conn_close(c, co_conn_free_cb);
}

int co_server_open(struct cr__coord *co, char *err, size_t errlen)
{
	struct co_server *s = &co->srv;
	struct sockaddr_storage ss;
	socklen_t len;
	int e;

	uv_tcp_init(&co->loop, &s->listener);
	s->listener.data = co;
	s->listening = true;
	cr__sockaddr_from(&co->at, &ss, &len);
	e = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
	if (!e)
		e = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
	if (e) {
		snprintf(err, errlen,
			 "the coordinator cannot listen at %s: %s (set "
			 "another with [experiment] coordinator = IP:PORT "
			 "or --coordinator)",
			 co->at_text, uv_strerror(e));
		return -1;
	}
	return 0;
}

/* The IPs no ready node holds, as "a, b (said hello, not ready)". */
static void missing(struct cr__coord *co, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = 0;
	for (size_t i = 0; i < co->plan.n && len < cap; i++) {
		const struct co_node *h = holder(&co->srv, &co->plan.ip[i]);
		struct co_ipset one = {&co->plan.ip[i], 1};
		char t[64];
		int k;

		if (h && h->ready)
			continue;
		co_ipset_text(&one, t, sizeof(t));
		k = snprintf(buf + len, cap - len, "%s%s%s", len ? ", " : "",
			     t, h ? " (said hello, never ready)" : "");
		if (k > 0)
			len += (size_t)k;
	}
}

void co_server_abort(struct cr__coord *co, const char *why)
{
	struct co_server *s = &co->srv;
	struct co_out o;
	char text[CO_TEXT_MAX];

	if (s->started || s->aborted)
		return;
	s->aborted = true;
	if (why) {
		snprintf(text, sizeof(text), "%s", why);
	} else {
		char miss[CO_TEXT_MAX - 128];
		missing(co, miss, sizeof(miss));
		snprintf(text, sizeof(text),
			 "no node came within %.0f s for %s",
			 (double)co->barrier_ns / 1e9, miss);
	}
	say("the run does not start: %s", text);
	co_begin(&o, CO_ABORT);
	co_text(&o, text);
	for (struct co_node *n = s->nodes; n; n = n->next)
		if (n->conn)
			co_conn_send(n->conn, &o);
	co_fail(co, 2, "the run did not start: %s", text);
}

void co_server_tick(struct cr__coord *co)
{
	struct co_server *s = &co->srv;
	int64_t now = cr__mono_ns();
	struct co_out o;

	if (!s->started)
		return;
	co_begin(&o, CO_BEAT);
	for (struct co_node *n = s->nodes; n; n = n->next) {
		if (!n->conn || n->lost || n->done)
			continue;
		if (now - n->conn->last_rx_ns > CO_SILENCE_NS) {
			say("node %s silent for %lld s", n->identity,
			    (long long)(CO_SILENCE_NS / CR_SEC));
			drop(n->conn);
			continue;
		}
		co_conn_send(n->conn, &o);
	}
}

void co_server_stop(struct cr__coord *co, int sig, const struct co_node *from)
{
	struct co_server *s = &co->srv;
	struct co_out o;
	char why[CO_TEXT_MAX + 64];

	if (!s->started) {
		snprintf(why, sizeof(why),
			 "node %s was stopped by signal %d before the start",
			 from ? from->identity : co->identity, sig);
		co_server_abort(co, why);
		return;
	}
	say("node %s stopped by signal %d: stopping every node",
	    from ? from->identity : co->identity, sig);
	co_begin(&o, CO_STOP);
	co_u8(&o, (uint8_t)sig);
	for (struct co_node *n = s->nodes; n; n = n->next)
		if (n != from && n->conn && !n->lost)
			co_conn_send(n->conn, &o);
}

void co_server_close(struct cr__coord *co)
{
	struct co_server *s = &co->srv;
	struct co_out o;

	co_begin(&o, CO_DONE);
	for (struct co_node *n = s->nodes; n; n = n->next) {
		struct co_conn *c = n->conn;
		if (!c)
			continue;
		co_conn_send(c, &o);
		n->conn = NULL;
		c->node = NULL;
		co_conn_close(c, co_conn_free_cb);
	}
	if (s->listening && !uv_is_closing((uv_handle_t *)&s->listener))
		uv_close((uv_handle_t *)&s->listener, NULL);
	s->listening = false;
}
