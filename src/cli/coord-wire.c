/* crystal run across hosts: the control connection's frames, and the IP
 * sets that name the nodes (docs/wire-format.md#control-connection).
 *
 * A frame is a 4-byte header (type, a zero byte, the body's length,
 * big-endian) and at most CO_BODY_MAX bytes of body.  The reader keeps one
 * frame's worth of bytes per connection: a header with an unknown type, a
 * non-zero second byte or a length past the bound ends the connection
 * before its body is read, and every field of a body is read against what
 * is left of it, so nothing a remote sends is trusted for a length.
 */
#include "../core/clock.h"
#include "coord-int.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* --- writing ------------------------------------------------------------- */

void co_begin(struct co_out *o, enum co_type t)
{
	o->b[0] = (uint8_t)t;
	o->b[1] = 0;
	o->b[2] = o->b[3] = 0; /* the body's length, as put() adds to it */
	o->len = CO_HDR;
	o->over = false;
}

static void put(struct co_out *o, const void *p, size_t n)
{
	size_t body;

	if (o->over || o->len + n > sizeof(o->b)) {
		o->over = true;
		return;
	}
	memcpy(o->b + o->len, p, n);
	o->len += n;
	body = o->len - CO_HDR;
	o->b[2] = (uint8_t)(body >> 8);
	o->b[3] = (uint8_t)body;
}

void co_u8(struct co_out *o, uint8_t v)
{
	put(o, &v, 1);
}

void co_u16(struct co_out *o, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	put(o, b, 2);
}

void co_u32(struct co_out *o, uint32_t v)
{
	co_u16(o, (uint16_t)(v >> 16));
	co_u16(o, (uint16_t)v);
}

void co_u64(struct co_out *o, uint64_t v)
{
	co_u32(o, (uint32_t)(v >> 32));
	co_u32(o, (uint32_t)v);
}

void co_text(struct co_out *o, const char *s)
{
	size_t n = strlen(s);

	if (n >= CO_TEXT_MAX) {
		o->over = true;
		return;
	}
	co_u16(o, (uint16_t)n);
	put(o, s, n);
}

/* --- reading ------------------------------------------------------------- */

static const uint8_t *take(struct co_in *in, size_t n)
{
	const uint8_t *p = in->p;

	if (in->bad || in->left < n) {
		in->bad = true;
		return NULL;
	}
	in->p += n;
	in->left -= n;
	return p;
}

uint8_t co_get8(struct co_in *in)
{
	const uint8_t *p = take(in, 1);

	return p ? p[0] : 0;
}

uint16_t co_get16(struct co_in *in)
{
	const uint8_t *p = take(in, 2);

	return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

uint32_t co_get32(struct co_in *in)
{
	uint32_t hi = co_get16(in);

	return hi << 16 | co_get16(in);
}

uint64_t co_get64(struct co_in *in)
{
	uint64_t hi = co_get32(in);

	return hi << 32 | co_get32(in);
}

void co_gettext(struct co_in *in, char *buf, size_t cap)
{
	size_t n = co_get16(in);
	const uint8_t *p;

	buf[0] = 0;
	if (in->bad)
		return;
	if (n >= cap) {
		in->bad = true;
		return;
	}
	p = take(in, n);
	if (!p)
		return;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f) {
			in->bad = true;
			return;
		}
	}
	memcpy(buf, p, n);
	buf[n] = 0;
}

const char *co_type_name(int t)
{
	static const char *const names[CO__N] = {
		[CO_HELLO] = "HELLO",	  [CO_WELCOME] = "WELCOME",
		[CO_REFUSE] = "REFUSE",	  [CO_TIME] = "TIME",
		[CO_TIME_REPLY] = "TIME_REPLY", [CO_READY] = "READY",
		[CO_START] = "START",	  [CO_ABORT] = "ABORT",
		[CO_BEAT] = "BEAT",	  [CO_LOST] = "LOST",
		[CO_STOP] = "STOP",	  [CO_DONE] = "DONE",
	};

	return t > 0 && t < CO__N ? names[t] : "?";
}

/* --- connections ---------------------------------------------------------- */

struct co_conn *co_conn_new(struct cr__coord *co)
{
	struct co_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->co = co;
	c->next = co->conns;
	if (co->conns)
		co->conns->prev = c;
	co->conns = c;
	uv_tcp_init(&co->loop, &c->tcp);
	c->tcp.data = c;
	return c;
}

void co_conn_free_cb(uv_handle_t *h)
{
	struct co_conn *c = h->data;
	struct cr__coord *co = c->co;

	if (c->prev)
		c->prev->next = c->next;
	else
		co->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->node)
		c->node->conn = NULL;
	if (co->conn == c)
		co->conn = NULL;
	free(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct co_conn *c = h->data;

	(void)suggested;
	/* one frame at most is ever held: what completes one is taken out
	 * before the next read */
	*buf = uv_buf_init((char *)c->rx + c->rxlen,
			   (unsigned)(sizeof(c->rx) - c->rxlen));
}

/* The frames complete in c->rx, each to c->frame; false when the
 * connection ended (a bad header, or the handler closed it). */
static bool frames(struct co_conn *c)
{
	while (c->rxlen >= CO_HDR && !c->closing) {
		int type = c->rx[0];
		size_t len = (size_t)c->rx[2] << 8 | c->rx[3];
		struct co_in body;
		char why[128];

		if (type <= 0 || type >= CO__N || c->rx[1] || len > CO_BODY_MAX) {
			snprintf(why, sizeof(why),
				 "not a control frame (header %02x %02x %02x "
				 "%02x)",
				 c->rx[0], c->rx[1], c->rx[2], c->rx[3]);
			c->gone(c, why);
			return false;
		}
		if (c->rxlen < CO_HDR + len)
			return true;
		body = (struct co_in){c->rx + CO_HDR, len, false};
		if (!c->frame(c, type, &body))
			return false;
		c->rxlen -= CO_HDR + len;
		memmove(c->rx, c->rx + CO_HDR + len, c->rxlen);
	}
	return !c->closing;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct co_conn *c = s->data;

	(void)buf;
	if (c->closing)
		return;
	if (n < 0) {
		c->gone(c, n == UV_EOF ? "closed" : uv_strerror((int)n));
		return;
	}
	if (!n)
		return;
	c->rxlen += (size_t)n;
	c->last_rx_ns = cr__mono_ns();
	frames(c);
}

int co_conn_read(struct co_conn *c)
{
	c->tcp.data = c;
	c->last_rx_ns = cr__mono_ns();
	return uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

struct co_write {
	uv_write_t req;
	uint8_t b[CO_HDR + CO_BODY_MAX];
};

static void write_cb(uv_write_t *req, int status)
{
	(void)status; /* a broken connection shows at its read */
	free(req);
}

void co_conn_send(struct co_conn *c, const struct co_out *o)
{
	struct co_write *w;
	uv_buf_t buf;

	if (o->over || c->closing)
		return;
	w = malloc(sizeof(*w));
	if (!w)
		return; /* the heartbeats will tell whether it mattered */
	memcpy(w->b, o->b, o->len);
	buf = uv_buf_init((char *)w->b, (unsigned)o->len);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, write_cb))
		free(w);
}

struct co_shut {
	uv_shutdown_t req;
	void (*free_cb)(uv_handle_t *h);
};

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	struct co_shut *s = (struct co_shut *)req;

	(void)status;
	/* the control thread's last turn may have closed it already */
	if (!uv_is_closing((uv_handle_t *)req->handle))
		uv_close((uv_handle_t *)req->handle, s->free_cb);
	free(s);
}

void co_conn_close(struct co_conn *c, void (*free_cb)(uv_handle_t *h))
{
	struct co_shut *s;

	if (c->closing)
		return;
	c->closing = true;
	uv_read_stop((uv_stream_t *)&c->tcp);
	s = malloc(sizeof(*s));
	if (s) {
		s->free_cb = free_cb;
		if (!uv_shutdown(&s->req, (uv_stream_t *)&c->tcp, shutdown_cb))
			return;
		free(s);
	}
	uv_close((uv_handle_t *)&c->tcp, free_cb);
}

/* --- IP sets ------------------------------------------------------------- */

static int ip_cmp(const cr_addr *a, const cr_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->ip, b->ip, sizeof(a->ip));
}

static size_t lower_bound(const struct co_ipset *s, const cr_addr *a)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ip_cmp(&s->ip[mid], a) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int co_ipset_add(struct co_ipset *s, const cr_addr *a)
{
	cr_addr ip = *a;
	size_t k;
	cr_addr *v;

	ip.port = 0;
	ip.pad_ = 0;
	k = lower_bound(s, &ip);
	if (k < s->n && !ip_cmp(&s->ip[k], &ip))
		return 0;
	v = realloc(s->ip, (s->n + 1) * sizeof(*v));
	if (!v)
		return -1;
	s->ip = v;
	memmove(v + k + 1, v + k, (s->n - k) * sizeof(*v));
	v[k] = ip;
	s->n++;
	return 0;
}

bool co_ipset_has(const struct co_ipset *s, const cr_addr *a)
{
	cr_addr ip = *a;
	size_t k;

	ip.port = 0;
	ip.pad_ = 0;
	k = lower_bound(s, &ip);
	return k < s->n && !ip_cmp(&s->ip[k], &ip);
}

int co_ipset_text(const struct co_ipset *s, char *buf, size_t cap)
{
	size_t len = 0;

	if (!cap)
		return -1;
	buf[0] = 0;
	for (size_t i = 0; i < s->n; i++) {
		char t[INET6_ADDRSTRLEN];
		int af = s->ip[i].family == 6 ? AF_INET6 : AF_INET;
		int k;

		inet_ntop(af, s->ip[i].ip, t, sizeof(t));
		k = snprintf(buf + len, cap - len, "%s%s", i ? "," : "", t);
		if (k < 0 || (size_t)k >= cap - len)
			return -1;
		len += (size_t)k;
	}
	return 0;
}

int co_ipset_parse(struct co_ipset *s, const char *text)
{
	char one[INET6_ADDRSTRLEN + 1];

	s->ip = NULL;
	s->n = 0;
	while (*text) {
		size_t n = strcspn(text, ",");
		cr_addr a = {0};

		if (!n || n >= sizeof(one))
			goto bad;
		memcpy(one, text, n);
		one[n] = 0;
		if (inet_pton(AF_INET, one, a.ip) == 1)
			a.family = 4;
		else if (inet_pton(AF_INET6, one, a.ip) == 1)
			a.family = 6;
		else
			goto bad;
		if (co_ipset_add(s, &a))
			goto bad;
		text += n;
		if (*text == ',' && !*++text)
			goto bad; /* a trailing comma */
	}
	if (s->n)
		return 0;
bad:
	co_ipset_free(s);
	return -1;
}

void co_ipset_free(struct co_ipset *s)
{
	free(s->ip);
	s->ip = NULL;
	s->n = 0;
}
