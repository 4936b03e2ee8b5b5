/* Sources: the testing data source of the paper's §III.B.2.
 *
 * A source is a regular peer with a data generator.  What it generates is
 * handed to its own algorithm's process_data, with `from` its own address,
 * exactly as if it had arrived from the network; the algorithm then sends it
 * on.  So a relay needs no special case for the peer at the root.
 *
 * With a rate, messages are produced on a timer from the elapsed time (no
 * drift, no rounding build-up).  Without one, the source produces as fast as
 * its connections take the data: it stops while any connection's queue is
 * over the queue limit and resumes when they drain.
 *
 * Data comes from a seeded generator, a regular file (once, or looping), or
 * standard input (a live stream: messages go out as its bytes arrive, a
 * short last one at its end).
 */
#include "engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DATA_RANDOM 0
#define DATA_FILE 1
#define DATA_FILE_LOOP 2
#define DATA_STDIN 3
#define STDIN_RETRY (5 * CR_MS)

#define RATE_TICK_MIN (1 * CR_MS)
#define RATE_TICK_MAX (20 * CR_MS)
#define FAST_BATCH 256
#define FAST_IDLE_BACKOFF (10 * CR_MS)

static void fill_payload(struct cr__source *s, uint8_t *p, size_t len)
{
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t r = cr_rand_next(&s->rng);
		memcpy(p + i, &r, 8);
	}
	if (i < len) {
		uint64_t r = cr_rand_next(&s->rng);
		memcpy(p + i, &r, len - i);
	}
}

/* Reads up to len bytes of a file (rewinding a looped one at its end). */
static size_t file_read(struct cr__source *s, uint8_t *dst, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(s->fd, dst + got, len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0 && s->cfg.data == DATA_FILE_LOOP && s->bytes + got) {
			lseek(s->fd, 0, SEEK_SET);
			continue;
		}
		s->eof = true;
		break;
	}
	return got;
}

/* Takes what stdin has (never blocking); true when a message is ready:
 * a full one, or the last bytes at the end of the stream. */
static bool stdin_ready(struct cr__source *s)
{
	size_t want = s->cfg.msg_size;

	while (!s->eof && s->buf_len < want) {
		ssize_t r = read(s->fd, s->buf + s->buf_len, want - s->buf_len);
		if (r > 0)
			s->buf_len += (size_t)r;
		else if (r == 0)
			s->eof = true;
		else if (errno != EINTR)
			break; /* EAGAIN: nothing more for now */
	}
	return s->buf_len >= want || (s->eof && s->buf_len);
}

/* Shortens a message made here before it is sent (the last piece of a
 * file or stream). */
static void shorten(struct cr_msg *m, uint32_t len)
{
	uint8_t *l = m->frame + 8; /* the header's length field */

	m->len = len;
	l[0] = (uint8_t)(len >> 24);
	l[1] = (uint8_t)(len >> 16);
	l[2] = (uint8_t)(len >> 8);
	l[3] = (uint8_t)len;
}

/* Fills a new message with the next data; false when there is none now
 * (or ever: s->done). */
static bool fill(struct cr__source *s, struct cr_msg *m)
{
	uint8_t *pl = cr_msg_payload_mut(m);
	size_t len = s->cfg.msg_size, got;

	switch (s->cfg.data) {
	case DATA_FILE:
	case DATA_FILE_LOOP:
		got = file_read(s, pl, len);
		break;
	case DATA_STDIN:
		if (!stdin_ready(s)) {
			if (s->eof)
				s->done = true;
			return false;
		}
		got = s->buf_len < len ? s->buf_len : len;
		memcpy(pl, s->buf, got);
		memmove(s->buf, s->buf + got, s->buf_len - got);
		s->buf_len -= got;
		break;
	default:
		fill_payload(s, pl, len);
		got = len;
	}
	if (!got) {
		s->done = s->eof;
		return false;
	}
	if (got < len)
		shorten(m, (uint32_t)got);
	s->bytes += got;
	return true;
}

/* A finite stream ends with one empty data message to the source peer
 * itself, so that its algorithm knows the last byte has come (and can say
 * so to the peers downstream). */
static void end_of_stream(struct cr__source *s)
{
	struct cr_peer *p = s->p;
	struct cr_msg *m;

	if (!p->ep.alive || !p->algo->process_data)
		return;
	m = cr_msg_new(p, CR_MSG_DATA_MIN, s->cfg.session, 0);
	if (!m)
		return;
	p->algo->process_data(p, &p->addr, m);
	cr_msg_release(m);
}

/* Produces up to n messages; returns how many. */
static uint64_t produce(struct cr__source *s, uint64_t n)
{
	struct cr_peer *p = s->p;
	uint64_t made = 0;

	/* Nothing goes to an algorithm before its bootstrap (the peer may
	 * wait for the tracker): a paced source catches up after it, a fast
	 * one retries, stdin keeps its bytes in the pipe. */
	for (; made < n && p->ep.alive && p->booted && !s->done; made++) {
		struct cr_msg *m = cr_msg_new(p, CR_MSG_DATA_MIN,
					      s->cfg.session, s->cfg.msg_size);
		if (!m)
			break;
		if (!fill(s, m)) {
			cr_msg_release(m);
			if (s->done) {
				cr__plog(p, CR_LOG_INFO, "source of session %u: end of data "
					 "after %llu bytes",
					 s->cfg.session,
					 (unsigned long long)s->bytes);
				end_of_stream(s);
			}
			break;
		}
		s->produced++;
		if (p->algo->process_data)
			p->algo->process_data(p, &p->addr, m);
		cr_msg_release(m);
		if (s->cfg.count && s->produced >= s->cfg.count) {
			s->done = true;
			end_of_stream(s);
		}
	}
	return made;
}

static void rate_tick(void *ctx, void *arg)
{
	struct cr__source *s = ctx;
	int64_t elapsed = cr__clock_now(&s->p->node->clock) - s->start_ns;
	unsigned __int128 due;

	CR__UNUSED(arg);
	if (s->done)
		goto stop;
	due = (unsigned __int128)elapsed * s->rate_Bps /
	      ((unsigned __int128)CR_SEC * s->cfg.msg_size);
	if (due > s->produced)
		produce(s, (uint64_t)(due - s->produced));
	if (!s->done)
		return;
stop:
	cr__timer_cancel(&s->p->w->net.timers, s->timer);
	s->timer = 0;
}

static void fast_tick(void *ctx, void *arg)
{
	struct cr__source *s = ctx;
	struct cr_peer *p = s->p;
	size_t before = p->ep.out_bytes;
	uint64_t made;

	CR__UNUSED(arg);
	s->timer = 0;
	if (s->done || !p->ep.alive)
		return;
	made = 0;
	while (made < FAST_BATCH && !p->ep.nfull && !s->done) {
		if (!produce(s, 1)) {
			if (!s->done) /* a live stream with nothing yet */
				s->timer = cr__worker_timer(
					p->w,
					cr__clock_now(&p->node->clock) +
						STDIN_RETRY,
					0, fast_tick, s, NULL, p);
			return;
		}
		made++;
	}
	if (s->done)
		return;
	if (p->ep.nfull) {
		s->waiting_drain = true;
		return;
	}
	/* Nothing was queued (nobody to send to yet): do not spin. */
	s->timer = cr__worker_timer(p->w,
				    cr__clock_now(&p->node->clock) +
					    (p->ep.out_bytes == before
						     ? FAST_IDLE_BACKOFF
						     : 0),
				    0, fast_tick, s, NULL, p);
}

/* Opens the source's data; 0, or -1 with the reason logged. */
static int open_data(struct cr_peer *p, struct cr__source *s)
{
	if (s->fd >= 0 && s->cfg.data != DATA_STDIN)
		close(s->fd);
	s->fd = -1;
	s->eof = false;
	s->bytes = 0;
	switch (s->cfg.data) {
	case DATA_FILE:
	case DATA_FILE_LOOP:
		s->fd = open(s->cfg.path, O_RDONLY | O_CLOEXEC);
		break;
	case DATA_STDIN:
		s->fd = 0;
		fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
		if (!s->buf)
			s->buf = malloc(s->cfg.msg_size);
		if (!s->buf)
			return -1;
		s->buf_len = 0;
		break;
	default:
		return 0;
	}
	if (s->fd < 0) {
		cr__plog(p, CR_LOG_ERROR, "source of session %u: cannot open %s: %s",
			 s->cfg.session, s->cfg.path ? s->cfg.path : "stdin",
			 strerror(errno));
		return -1;
	}
	return 0;
}

void cr__source_start(struct cr_peer *p, struct cr__source *s)
{
	int64_t now = cr__clock_now(&p->node->clock);

	if (!s->rate_Bps)
		s->rate_Bps = s->cfg.rate_Bps;

	s->p = p;
	s->rng.s = (p->node->seed * 0x9e3779b97f4a7c15ull) ^
		   ((uint64_t)p->index << 17) ^ s->cfg.session;
	if (!s->rng.s)
		s->rng.s = 1;
	s->start_ns = now;
	atomic_store_explicit(&s->pub_start_ns, now, memory_order_relaxed);
	if (open_data(p, s)) {
		s->done = true;
		return;
	}
	cr__plog(p, CR_LOG_INFO, "source of session %u starts: %u-byte messages, %s",
		 s->cfg.session, s->cfg.msg_size,
		 s->rate_Bps ? "at a set rate" : "as fast as links take");
	if (s->rate_Bps) {
		int64_t tick = (int64_t)((unsigned __int128)s->cfg.msg_size *
					 CR_SEC / s->rate_Bps);
		if (tick < RATE_TICK_MIN)
			tick = RATE_TICK_MIN;
		if (tick > RATE_TICK_MAX)
			tick = RATE_TICK_MAX;
		s->timer = cr__worker_timer(p->w, now + tick, tick, rate_tick,
					    s, NULL, p);
	} else {
		s->timer = cr__worker_timer(p->w, now, 0, fast_tick, s, NULL,
					    p);
	}
}

void cr__source_drained(struct cr__source *s)
{
	struct cr_peer *p = s->p;

	s->waiting_drain = false;
	if (s->done || s->timer || p->w->stopping)
		return;
	s->timer = cr__worker_timer(p->w, cr__clock_now(&p->node->clock), 0,
				    fast_tick, s, NULL, p);
}

void cr__source_stop(struct cr__source *s)
{
	if (s->p && s->timer)
		cr__timer_cancel(&s->p->w->net.timers, s->timer);
	s->timer = 0;
	s->done = true;
	if (s->fd > 0)
		close(s->fd);
	s->fd = -1;
	free(s->buf);
	s->buf = NULL;
	s->buf_len = 0;
}
