/* Readiness of TCP connections: when a connection's socket can be read or
 * written, and reading again what was left unread.
 *
 * On Linux a loop's connections share one epoll set of their own, in
 * edge-triggered mode, watched through a single poll handle of the libuv
 * loop.  Each socket is added once, for reading and writing, and never
 * changed: a connection remembers that its socket has bytes (rd_ready)
 * and reads them when it may.  Stopping and resuming reading, which the
 * download link does every few milliseconds on every busy connection,
 * costs no system call.  (A libuv poll handle per connection, started and
 * stopped with the interest, costs three epoll_ctl calls for each pause of
 * the download link, a deletion and an insertion among them: at 500 peers
 * that was 100,000 calls a second and a fifth of the process's CPU.)
 *
 * A connection whose socket still has bytes when its turn ends (it read
 * READS_PER_WAKE times), or whose reading resumes while bytes wait, joins
 * the loop's ready list; cr__rd_run reads those before the loop polls,
 * and an idle handle keeps the poll from sleeping while any are left.
 *
 * A closed connection is freed only by the next cr__rd_run after the one
 * that may still find it on the ready list, so every pointer to it taken
 * during a turn of the loop (an event, the ready list, a caller's) stays
 * valid for the turn.  Its descriptor closes when it is freed: closing
 * removes it from the epoll set, and its number is not reused before.
 *
 * Elsewhere (or built with -DCR_NET_UV_POLL) each connection has a libuv
 * poll handle, level-triggered, started with what it waits for.
 */
#include "net-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#if CR__NET_EPOLL
#include <sys/epoll.h>

#define EVENTS_PER_CALL 256

/* May the connection be read now? */
static bool may_read(const struct cr__conn *c)
{
	return c->rd_ready && cr__conn_reading(c);
}

static void ready_push(struct cr__conn *c)
{
	struct cr__net *net = c->net;

	if (c->in_ready)
		return;
	c->in_ready = true;
	c->ready_next = net->ready;
	net->ready = c;
	if (!uv_is_active((uv_handle_t *)&net->rd_idle) &&
	    !uv_is_closing((uv_handle_t *)&net->rd_idle))
		uv_idle_start(&net->rd_idle, (uv_idle_cb)net->rd_idle.data);
}

/* Reads what the socket holds, for one turn; what is left waits its
 * next turn on the ready list. */
static void read_turn(struct cr__conn *c)
{
	cr__conn_read(c);
	if (c->state != CR__CLOSED && may_read(c))
		ready_push(c);
}

static void conn_events(struct cr__conn *c, uint32_t ev)
{
	if (c->state == CR__CLOSED)
		return;
	if (ev & EPOLLERR) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		cr__conn_close(c, true, false,
			       err ? strerror(err) : "socket error");
		return;
	}
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
		c->rd_ready = true;
	if (ev & (EPOLLRDHUP | EPOLLHUP))
		c->rd_hup = true;
	if (ev & EPOLLOUT)
		cr__conn_writable(c);
	if (c->state != CR__CLOSED && may_read(c) && !c->in_ready)
		read_turn(c);
}

static void rd_poll_cb(uv_poll_t *h, int status, int events)
{
	struct cr__net *net = h->data;
	struct epoll_event ev[EVENTS_PER_CALL];
	int n;

	CR__UNUSED(status);
	CR__UNUSED(events);
	do
		n = epoll_wait(net->rd_fd, ev, EVENTS_PER_CALL, 0);
	while (n < 0 && errno == EINTR);
	/* more than a call's worth: the set stays readable, and the loop
	 * comes back for the rest in its next turn */
	for (int i = 0; i < n; i++)
		conn_events(ev[i].data.ptr, ev[i].events);
}

static void rd_idle_cb(uv_idle_t *h)
{
	CR__UNUSED(h); /* its work is cr__rd_run's, before the poll */
}

static int rd_open(struct cr__net *net)
{
	net->rd_fd = epoll_create1(EPOLL_CLOEXEC);
	if (net->rd_fd < 0)
		return errno == EMFILE || errno == ENFILE ? -CR_EMFILE
							  : -CR_ENOMEM;
	if (uv_poll_init(&net->loop, &net->rd_poll, net->rd_fd)) {
		close(net->rd_fd);
		return -CR_EIO;
	}
	net->rd_poll.data = net;
	cr__poll_start(net, &net->rd_poll, UV_READABLE, rd_poll_cb);
	uv_idle_init(&net->loop, &net->rd_idle);
	net->rd_idle.data = (void *)(uintptr_t)rd_idle_cb;
	net->rd_open = true;
	return 0;
}

int cr__rd_watch(struct cr__conn *c)
{
	struct cr__net *net = c->net;
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = c,
	};
	int err;

	if (!net->rd_open && (err = rd_open(net)))
		return err;
	if (epoll_ctl(net->rd_fd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		return errno == ENOMEM || errno == ENOSPC ? -CR_ENOMEM
							  : -CR_EIO;
	return 0;
}

void cr__conn_update_poll(struct cr__conn *c)
{
	if (c->state != CR__CLOSED && may_read(c))
		ready_push(c);
}

void cr__rd_forget(struct cr__conn *c)
{
	CR__UNUSED(c); /* it is freed, and its descriptor closed, later */
}

void cr__conn_release(struct cr__conn *c)
{
	struct cr__net *net = c->net;

	c->grave_next = net->grave;
	net->grave = c;
}

static void free_list(struct cr__conn *c)
{
	while (c) {
		struct cr__conn *next = c->grave_next;
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		c = next;
	}
}

void cr__rd_run(struct cr__net *net)
{
	struct cr__conn *c = net->ready, *next;
	/* closed before this turn: the list below is the last that may
	 * hold them */
	struct cr__conn *grave = net->grave;

	net->grave = NULL;
	net->ready = NULL;
	for (; c; c = next) {
		next = c->ready_next;
		c->in_ready = false;
		if (c->state != CR__CLOSED && may_read(c))
			read_turn(c);
	}
	free_list(grave);
	if (!net->ready && net->rd_open)
		uv_idle_stop(&net->rd_idle);
}

void cr__rd_free(struct cr__net *net)
{
	free_list(net->grave);
	net->grave = NULL;
	if (net->rd_open)
		close(net->rd_fd);
	net->rd_open = false;
}

#else /* a libuv poll handle per connection */

static void conn_poll_cb(uv_poll_t *h, int status, int events)
{
	struct cr__conn *c = h->data;

	if (c->state == CR__CLOSED)
		return;
	if (status < 0) {
		/* libuv reports a socket error as EBADF: ask the socket */
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		cr__conn_close(c, true, false,
			       err ? strerror(err) : uv_strerror(status));
		return;
	}
	if (events & UV_WRITABLE)
		cr__conn_writable(c);
	if (c->state == CR__OPEN && (events & UV_READABLE))
		cr__conn_read(c);
}

int cr__rd_watch(struct cr__conn *c)
{
	if (uv_poll_init_socket(&c->net->loop, &c->poll, c->fd))
		return -CR_EIO;
	c->poll.data = c;
	return 0;
}

void cr__conn_update_poll(struct cr__conn *c)
{
	int ev = 0;

	if (c->state == CR__CLOSED)
		return;
	if (c->state == CR__CONNECTING) {
		ev = UV_WRITABLE;
	} else {
		if (!c->paused && !c->rx_blocked)
			ev |= UV_READABLE;
		if (c->want_write)
			ev |= UV_WRITABLE;
	}
	if (ev == c->poll_events)
		return;
	c->poll_events = ev;
	if (ev)
		cr__poll_start(c->net, &c->poll, ev, conn_poll_cb);
	else
		cr__poll_stop(c->net, &c->poll);
}

void cr__rd_forget(struct cr__conn *c)
{
	if (c->poll_events)
		cr__poll_stop(c->net, &c->poll);
	c->poll_events = 0;
}

/* The descriptor is closed with the poll handle, not before: libuv's
 * uv_close() of a poll handle takes the descriptor's number out of the
 * loop's epoll set and drops its pending events, so a number closed
 * earlier and reused meanwhile by a new connection of the same loop would
 * lose that connection its events, silently. */
static void conn_free_cb(uv_handle_t *h)
{
	struct cr__conn *c = h->data;

	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

void cr__conn_release(struct cr__conn *c)
{
	uv_close((uv_handle_t *)&c->poll, conn_free_cb);
}

void cr__rd_run(struct cr__net *net)
{
	CR__UNUSED(net);
}

void cr__rd_free(struct cr__net *net)
{
	CR__UNUSED(net);
}

#endif
