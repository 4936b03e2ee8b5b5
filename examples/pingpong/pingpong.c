/* pingpong: a small third-party algorithm that measures round-trip times.
 *
 * Every peer, at birth, starts a periodic timer.  On each tick it sends one
 * ping to each of its bootstrap peers (its neighbours), over TCP, UDP, or
 * the two in turn (-D proto=tcp|udp|alt).  A peer answers every ping with a
 * pong that echoes the ping's payload, over the transport the ping names;
 * the pinger takes the round-trip time from the echoed send time.  A peer
 * with no neighbours (the first to ask the tracker, or one whose
 * neighbours all left) asks the tracker for some on its next tick
 * (cr_tracker_query).  When a peer ends it logs what it measured and
 * reports it as values of its own (cr_report_value: pings, pongs,
 * rtt_mean_us, tracker_peers).  Data messages are ignored.
 *
 * Build and run (see README.md beside this file):
 *
 *	cc -std=gnu17 -Wall -Wextra -Werror -shared -fPIC -Iinclude \
 *		-o build/examples/pingpong.so examples/pingpong/pingpong.c
 *	./build/crystal run --algorithm ./build/examples/pingpong.so \
 *		--peers 20 --duration 3 --out /tmp/pp
 */
#include <crystal/crystal.h>

#include <stdlib.h>
#include <string.h>

enum { PING = 16, PONG = 17 }; /* control message types (16..127) */
enum { MODE_TCP, MODE_UDP, MODE_ALT };

/* Payload of a ping and its pong: sequence number, send time, transport. */
#define PP_LEN 17

/* Neighbours taken from the tracker's answers, at most. */
#define PP_ASK 8

struct pingpong {
	cr_addr *nb; /* neighbours: the bootstrap peers still here */
	size_t nnb;
	cr_timer_id timer;
	int mode;
	uint16_t session; /* the session it joined, to ask the tracker for */
	bool no_tracker;  /* the experiment has none: ask no more */
	uint64_t from_tracker; /* neighbours the tracker's answers gave */
	uint64_t rounds; /* ticks so far */
	uint64_t seq;	 /* pings sent, one per neighbour and tick */
	uint64_t pongs, answered, send_errors;
	int64_t rtt_min_ns, rtt_max_ns, rtt_sum_ns;
};

static const cr_param_def pp_params[] = {
	{"proto", "alt", "tcp, udp, or alt (TCP and UDP on alternate ticks)"},
	{"interval_ms", "100", "time between two rounds of pings, in ms"},
	{NULL, NULL, NULL},
};

/* Payloads are read and written byte by byte, big-endian: a received
 * payload has no particular alignment. */
static void put64(uint8_t *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static void tick(cr_peer *p, void *arg)
{
	struct pingpong *s = cr_state(p);
	cr_proto proto;

	(void)arg;
	/* nobody to ping: ask the tracker (its answer comes to pp_tracker;
	 * a query already out, or one too soon, is tried again next tick) */
	if (!s->nnb && !s->no_tracker &&
	    cr_tracker_query(p, s->session, PP_ASK) == -CR_ENOENT)
		s->no_tracker = true;
	if (s->mode == MODE_ALT)
		proto = s->rounds % 2 ? CR_UDP : CR_TCP;
	else
		proto = s->mode == MODE_UDP ? CR_UDP : CR_TCP;
	s->rounds++;
	for (size_t i = 0; i < s->nnb; i++) {
		cr_msg *m = cr_msg_new(p, PING, 0, PP_LEN);
		uint8_t *b;

		if (!m)
			return;
		/* writable only until it is sent */
		b = cr_msg_payload_mut(m);
		put64(b, s->seq++);
		put64(b + 8, (uint64_t)cr_now(p));
		b[16] = (uint8_t)proto;
		if (cr_send(p, &s->nb[i], m, proto))
			s->send_errors++;
		cr_msg_release(m); /* the engine holds its own reference */
	}
}

static int pp_bootstrap(cr_peer *p)
{
	struct pingpong *s = cr_state(p);
	const char *proto = cr_param(p, "proto");
	int64_t interval_ms = cr_param_int(p, "interval_ms", -1);
	const cr_addr *boot;

	if (!strcmp(proto, "tcp")) {
		s->mode = MODE_TCP;
	} else if (!strcmp(proto, "udp")) {
		s->mode = MODE_UDP;
	} else if (!strcmp(proto, "alt")) {
		s->mode = MODE_ALT;
	} else {
		cr_log(p, CR_LOG_ERROR, "-D proto=%s: expected tcp, udp or alt",
		       proto);
		cr_experiment_stop(p);
		return -CR_EINVAL;
	}
	if (interval_ms <= 0) {
		cr_log(p, CR_LOG_ERROR,
		       "-D interval_ms=%s: expected a whole number above 0",
		       cr_param(p, "interval_ms"));
		cr_experiment_stop(p);
		return -CR_EINVAL;
	}

	/* The bootstrap list belongs to the engine: keep a copy to edit,
	 * with room for what the tracker may add. */
	s->nnb = cr_bootstrap_peers(p, &boot);
	s->nb = malloc((s->nnb + PP_ASK) * sizeof(*s->nb));
	if (!s->nb)
		return -CR_ENOMEM;
	s->rtt_min_ns = INT64_MAX;
	if (s->nnb)
		memcpy(s->nb, boot, s->nnb * sizeof(*boot));
	/* even with no neighbours (a chain's tail): it answers, and asks
	 * the tracker, if there is one, for some */
	s->timer = cr_timer_start(p, interval_ms * CR_MS, interval_ms * CR_MS,
				  tick, NULL);
	return 0;
}

static void pp_join(cr_peer *p, uint16_t session)
{
	((struct pingpong *)cr_state(p))->session = session;
}

/* The tracker's answer to a query: the peers become neighbours (none when
 * it did not answer; the next tick asks again). */
static void pp_tracker(cr_peer *p, uint16_t session, const cr_addr *peers,
		       size_t n)
{
	struct pingpong *s = cr_state(p);

	(void)session;
	for (size_t i = 0; i < n && s->nnb < PP_ASK; i++) {
		s->nb[s->nnb++] = peers[i];
		s->from_tracker++;
	}
}

static void pp_process(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	struct pingpong *s = cr_state(p);
	const uint8_t *in = cr_msg_payload(m); /* borrowed: read, don't keep */
	cr_msg *pong;
	int64_t rtt;

	if (cr_msg_len(m) != PP_LEN)
		return;
	switch (cr_msg_type(m)) {
	case PING:
		pong = cr_msg_new(p, PONG, 0, PP_LEN);
		if (!pong)
			return;
		memcpy(cr_msg_payload_mut(pong), in, PP_LEN);
		if (cr_send(p, from, pong, in[16] == CR_UDP ? CR_UDP : CR_TCP))
			s->send_errors++;
		cr_msg_release(pong);
		s->answered++;
		break;
	case PONG:
		rtt = cr_now(p) - (int64_t)get64(in + 8);
		s->pongs++;
		s->rtt_sum_ns += rtt;
		if (rtt < s->rtt_min_ns)
			s->rtt_min_ns = rtt;
		if (rtt > s->rtt_max_ns)
			s->rtt_max_ns = rtt;
		break;
	}
}

static void pp_departed(cr_peer *p, const cr_addr *who)
{
	struct pingpong *s = cr_state(p);

	for (size_t i = 0; i < s->nnb; i++) {
		if (!cr_addr_eq(&s->nb[i], who))
			continue;
		s->nb[i] = s->nb[--s->nnb];
		return;
	}
}

static void pp_destroy(cr_peer *p)
{
	struct pingpong *s = cr_state(p);
	double mean = s->pongs ? (double)s->rtt_sum_ns / (double)s->pongs : 0;

	if (!s->pongs)
		s->rtt_min_ns = 0;
	cr_log(p, CR_LOG_INFO,
	       "pings %llu, pongs %llu, rtt min/mean/max %.1f/%.1f/%.1f us, "
	       "answered %llu, failed sends %llu",
	       (unsigned long long)s->seq, (unsigned long long)s->pongs,
	       (double)s->rtt_min_ns / 1e3, mean / 1e3,
	       (double)s->rtt_max_ns / 1e3, (unsigned long long)s->answered,
	       (unsigned long long)s->send_errors);
	/* summary.json and peers-final.csv get these, per peer: counts add
	 * up over the peer's lives, the mean is its last life's */
	cr_report_add(p, "pings", (double)s->seq);
	cr_report_add(p, "pongs", (double)s->pongs);
	cr_report_add(p, "tracker_peers", (double)s->from_tracker);
	if (s->pongs)
		cr_report_value(p, "rtt_mean_us", mean / 1e3);
	free(s->nb);
}

const cr_algorithm crystal_algorithm = {
	.api_version = CR_API_VERSION,
	.name = "pingpong",
	.description = "measures round-trip times to its neighbours",
	.state_size = sizeof(struct pingpong),
	.params = pp_params,
	.bootstrap = pp_bootstrap,
	.join_session = pp_join,
	.process = pp_process,
	.peer_departed = pp_departed,
	.destroy = pp_destroy,
	.tracker_peers = pp_tracker,
};
