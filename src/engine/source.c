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
 * Data comes from a seeded xorshift generator; files and stdin plug in at
 * fill_payload().
 */
#include "../internal.h"
#include "../node.h"

#include <string.h>

#define RATE_TICK_MIN (1 * CR_MS)
#define RATE_TICK_MAX (20 * CR_MS)
#define FAST_BATCH 256
#define FAST_IDLE_BACKOFF (10 * CR_MS)

static uint64_t next_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void fill_payload(struct cr__source *s, uint8_t *p, size_t len)
{
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t r = next_rand(&s->rng);
		memcpy(p + i, &r, 8);
	}
	if (i < len) {
		uint64_t r = next_rand(&s->rng);
		memcpy(p + i, &r, len - i);
	}
}

/* Produces up to n messages; returns how many. */
static uint64_t produce(struct cr__source *s, uint64_t n)
{
	struct cr_peer *p = s->p;
	uint64_t made = 0;

	for (; made < n && p->alive && !s->done; made++) {
		struct cr_msg *m = cr_msg_new(p, CR_MSG_DATA_MIN,
					      s->cfg.session, s->cfg.msg_size);
		if (!m)
			break;
		fill_payload(s, cr_msg_payload_mut(m), s->cfg.msg_size);
		s->produced++;
		if (p->algo->process_data)
			p->algo->process_data(p, &p->addr, m);
		cr_msg_release(m);
		if (s->cfg.count && s->produced >= s->cfg.count)
			s->done = true;
	}
	return made;
}

static void rate_tick(void *ctx, void *arg)
{
	struct cr__source *s = ctx;
	int64_t elapsed = cr__clock_now(&s->p->node->clock) - s->cfg.start_ns;
	unsigned __int128 due;

	CR__UNUSED(arg);
	if (s->done)
		goto stop;
	due = (unsigned __int128)elapsed * s->cfg.rate_Bps /
	      ((unsigned __int128)CR_SEC * s->cfg.msg_size);
	if (due > s->produced)
		produce(s, (uint64_t)(due - s->produced));
	if (!s->done)
		return;
stop:
	cr__timer_cancel(&s->p->w->timers, s->timer);
	s->timer = 0;
}

static void fast_tick(void *ctx, void *arg)
{
	struct cr__source *s = ctx;
	struct cr_peer *p = s->p;
	size_t before = p->out_bytes;
	uint64_t made;

	CR__UNUSED(arg);
	s->timer = 0;
	if (s->done || !p->alive)
		return;
	made = 0;
	while (made < FAST_BATCH && !p->nfull && !s->done)
		made += produce(s, 1);
	if (s->done)
		return;
	if (p->nfull) {
		s->waiting_drain = true;
		return;
	}
	/* Nothing was queued (nobody to send to yet): do not spin. */
	s->timer = cr__worker_timer(p->w,
				    cr__clock_now(&p->node->clock) +
					    (p->out_bytes == before
						     ? FAST_IDLE_BACKOFF
						     : 0),
				    0, fast_tick, s, NULL, p);
}

void cr__source_start(struct cr_peer *p, struct cr__source *s)
{
	int64_t now = cr__clock_now(&p->node->clock);

	s->p = p;
	s->rng = (p->node->seed * 0x9e3779b97f4a7c15ull) ^
		 ((uint64_t)p->index << 17) ^ s->cfg.session;
	if (!s->rng)
		s->rng = 1;
	s->cfg.start_ns = now;
	cr__logf(&p->w->log, CR_LOG_INFO, &p->addr,
		 "source of session %u starts: %u-byte messages, %s",
		 s->cfg.session, s->cfg.msg_size,
		 s->cfg.rate_Bps ? "at a set rate" : "as fast as links take");
	if (s->cfg.rate_Bps) {
		int64_t tick = (int64_t)((unsigned __int128)s->cfg.msg_size *
					 CR_SEC / s->cfg.rate_Bps);
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
		cr__timer_cancel(&s->p->w->timers, s->timer);
	s->timer = 0;
	s->done = true;
}
