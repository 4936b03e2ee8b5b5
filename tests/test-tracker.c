/* The tracker's tables and limits (src/engine/tracker.c), against an
 * in-process tracker over real sockets on loopback (ports 22200-22499),
 * spoken to by raw clients that write their hello and frames by hand:
 *
 * - a REGISTER flood: one connection registers 65,535 distinct sessions.
 *   The tracker records max_sessions_per_peer of them (16 by default) and
 *   answers those only; it refuses the rest, counts every refusal exactly,
 *   logs the first as a warning and the count once at the end, never a
 *   line per refusal.  A REGISTER that refreshes an entry it has is still
 *   answered.  Meanwhile an honest client, and a peer born after the
 *   flood, get the right PEERS (the live peers of their session, the
 *   flooder never among them), the flooder's entries leave with its
 *   connection, and the run ends normally;
 * - max_peers_per_session: a full session refuses a new member (counted,
 *   logged once, not answered) but still answers queries about it, and
 *   takes one again once a member has left;
 * - after many registrations and expiries, every answer is a random subset
 *   of the live peers of the session asked, of the size asked (at most
 *   peers_per_reply), never the asker, never a peer that timed out, and
 *   over many answers every live peer comes up; a REGISTER refreshes its
 *   own session only, a REPORT all of the sender's;
 * - with active liveness, a peer registered in three sessions gets one
 *   PROBE an interval, not three, and its REPORTs keep all three alive.
 *
 * How fast the tracker answers a flood is measured by bench/tracker.c, not
 * here.
 */
#include "../src/core/log.h"
#include "../src/engine/node.h"
#include "support.h"

#include <dirent.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define MS(x) ((int64_t)(x)*CR_MS)

enum { T_REGISTER = 3, T_PEERS = 4, T_REPORT = 5, T_QUERY = 7 };

/* --- raw clients ------------------------------------------------------------
 */

struct raw {
	int fd;
	uint16_t port; /* the address its hello names */
	uint64_t id;
};

/* Connects to the tracker as the peer at `port` and reads its hello. */
static struct raw raw_open(uint64_t id, uint16_t tracker, uint16_t port)
{
	uint8_t hello[T_HELLO_SIZE], got[T_HELLO_SIZE];
	struct raw r = {-1, port, id};

	for (int tries = 0; tries < 200 && r.fd < 0; tries++) {
		r.fd = t_tcp_connect(tracker);
		if (r.fd < 0)
			usleep(10000);
	}
	assert_true(r.fd >= 0);
	t_hello(hello, id, port, t_exp_tag(id));
	assert_int_equal(t_send_all(r.fd, hello, sizeof(hello)), 0);
	assert_int_equal(t_read_exact(r.fd, got, sizeof(got)), 0);
	assert_int_equal(got[3], 1); /* the tracker's hello */
	return r;
}

/* A frame of type with a 4-byte payload (session, wanted) into out; its
 * length.  REPORT has no payload. */
static size_t put_msg(uint8_t *out, const struct raw *r, uint8_t type,
		      uint16_t session, uint16_t wanted)
{
	uint32_t len = type == T_REPORT ? 0 : 4;
	struct t_hdr h = t_hdr_make(type, len, r->port, t_exp_tag(r->id));

	t_hdr_put(out, &h);
	if (len) {
		out[T_HDR_SIZE] = (uint8_t)(session >> 8);
		out[T_HDR_SIZE + 1] = (uint8_t)session;
		out[T_HDR_SIZE + 2] = (uint8_t)(wanted >> 8);
		out[T_HDR_SIZE + 3] = (uint8_t)wanted;
	}
	return T_HDR_SIZE + len;
}

static void send_msg(const struct raw *r, uint8_t type, uint16_t session,
		     uint16_t wanted)
{
	uint8_t buf[T_HDR_SIZE + 4];
	size_t n = put_msg(buf, r, type, session, wanted);

	assert_int_equal(t_send_all(r->fd, buf, n), 0);
}

/* A PEERS answer: its session and the ports it names. */
struct answer {
	uint16_t session;
	size_t n;
	uint16_t ports[64];
};

/* Reads the next frame, which must be a well-formed PEERS. */
static void read_peers(const struct raw *r, struct answer *a)
{
	uint8_t h[T_HDR_SIZE], pl[4 + 64 * 19];
	uint32_t len;

	assert_int_equal(t_read_exact(r->fd, h, sizeof(h)), 0);
	assert_int_equal(h[3], T_PEERS);
	len = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 |
	      (uint32_t)h[10] << 8 | h[11];
	assert_true(len >= 4 && len <= sizeof(pl));
	assert_int_equal(t_read_exact(r->fd, pl, len), 0);
	a->session = (uint16_t)(pl[0] << 8 | pl[1]);
	a->n = (size_t)(pl[2] << 8 | pl[3]);
	assert_int_equal(len, 4 + a->n * 19);
	for (size_t i = 0; i < a->n; i++) {
		const uint8_t *e = pl + 4 + i * 19;
		assert_int_equal(e[0], 4);
		assert_int_equal(e[3], 127);
		a->ports[i] = (uint16_t)(e[1] << 8 | e[2]);
	}
}

/* Nothing more to read within ms milliseconds. */
static bool quiet_for(const struct raw *r, int ms)
{
	struct pollfd pf = {.fd = r->fd, .events = POLLIN};

	return poll(&pf, 1, ms) == 0;
}

/* Sends a QUERY and reads its answer. */
static void query(const struct raw *r, uint16_t session, uint16_t wanted,
		  struct answer *a)
{
	send_msg(r, T_QUERY, session, wanted);
	read_peers(r, a);
	assert_int_equal(a->session, session);
}

static bool names(const struct answer *a, uint16_t port)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->ports[i] == port)
			return true;
	return false;
}

/* The answer names exactly these ports, each once. */
static void assert_names_exactly(const struct answer *a, const uint16_t *ports,
				 size_t n)
{
	assert_int_equal(a->n, n);
	for (size_t i = 0; i < n; i++) {
		assert_true(names(a, ports[i]));
		for (size_t j = i + 1; j < n; j++)
			assert_int_not_equal(a->ports[i], a->ports[j]);
	}
}

/* --- a node with a tracker, and a recorder for its peers
 * ---------------------- */

static struct {
	size_t nboot;
	uint16_t boot[32];
	bool booted;
} seen[65536];

static int rec_bootstrap(cr_peer *p)
{
	uint16_t port = cr_self(p)->port;
	const cr_addr *b;
	size_t n = cr_bootstrap_peers(p, &b);

	seen[port].booted = true;
	seen[port].nboot = n < 32 ? n : 32;
	for (size_t i = 0; i < seen[port].nboot; i++)
		seen[port].boot[i] = b[i].port;
	return 0;
}

static const cr_algorithm recorder = {
    .api_version = CR_API_VERSION,
    .name = "tracker-recorder",
    .bootstrap = rec_bootstrap,
};

struct node_plan {
	struct cr_node_peer peers[8];
	struct cr_node_event ev[8][2];
	struct cr_node_config cfg;
	char logdir[64];
};

/* A tracker at `tracker`, and peers of session 1 at the ports after it,
 * born at the given times (-1: at 0). */
static void plan_node(struct node_plan *pl, const char *name, uint16_t tracker,
		      const int64_t *born, size_t npeers)
{
	memset(pl, 0, sizeof(*pl));
	assert_true(npeers < 8);
	pl->peers[0].addr = t_addr(tracker);
	pl->peers[0].is_tracker = true;
	for (size_t i = 0; i < npeers; i++) {
		struct cr_node_peer *p = &pl->peers[i + 1];
		p->addr = t_addr((uint16_t)(tracker + 1 + i));
		p->session = 1;
		if (born[i] > 0) {
			pl->ev[i][0] =
			    (struct cr_node_event){born[i], CR_NEV_BIRTH, 0, 0};
			p->events = pl->ev[i];
			p->nevents = 1;
		}
	}
	assert_int_equal(t_mkdtemp(pl->logdir, sizeof(pl->logdir)), 0);
	pl->cfg.name = name;
	pl->cfg.exp_id = cr_node_experiment_id(name);
	pl->cfg.duration_ns = 60 * CR_SEC; /* stopped when done */
	pl->cfg.workers = 2;
	pl->cfg.algo = &recorder;
	pl->cfg.peers = pl->peers;
	pl->cfg.npeers = npeers + 1;
	pl->cfg.log_level = CR_LOG_INFO;
	pl->cfg.log_dir = pl->logdir;
	pl->cfg.tracker.enabled = true;
	pl->cfg.tracker.addr = t_addr(tracker);
	pl->cfg.tracker.reply_peers = 20;
	pl->cfg.tracker.interval_ns = CR_SEC;
	pl->cfg.tracker.timeout_ns = 30 * CR_SEC;
}

static cr_node *start(const struct node_plan *pl)
{
	cr_node *n = NULL;
	char err[256];

	if (cr_node_create(&pl->cfg, &n, err, sizeof(err)))
		fail_msg("%s", err);
	if (cr_node_start(n, err, sizeof(err)))
		fail_msg("%s", err);
	return n;
}

static void stop(cr_node *n, struct cr_node_result *r)
{
	cr_node_stop(n, false);
	cr_node_join(n);
	cr_node_result(n, r);
	cr_node_destroy(n);
}

/* Every worker's log, concatenated (malloc'd). */
static char *logs(const char *dir)
{
	char path[256], *all = calloc(1, 1);
	size_t len = 0;

	for (int w = 0; w < 8; w++) {
		char *s;
		snprintf(path, sizeof(path), "%s/worker-%d.log", dir, w);
		s = t_slurp(path);
		if (!s)
			continue;
		all = realloc(all, len + strlen(s) + 1);
		memcpy(all + len, s, strlen(s) + 1);
		len += strlen(s);
		free(s);
	}
	return all;
}

/* Lines of text that contain every one of the words. */
static int lines_with(const char *text, const char *a, const char *b)
{
	int n = 0;

	for (const char *l = text; *l;) {
		const char *end = strchr(l, '\n');
		size_t len = end ? (size_t)(end - l) : strlen(l);
		char *line = strndup(l, len);
		n += strstr(line, a) && (!b || strstr(line, b));
		free(line);
		l += len + (end ? 1 : 0);
	}
	return n;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- a REGISTER flood over one connection
 * -------------------------------------- */

#define FL_TRACKER 22200 /* peers 22201..22203, 22204 born late */
#define FL_LATE	   22204
#define FLOODER	   22250
#define HONEST	   22251
#define FLOOD	   65535 /* REGISTERs, each for its own session, never 1 */

static void test_register_flood(void **state)
{
	static const int64_t born[4] = {-1, -1, -1, MS(2000)};
	static const uint16_t ones[3] = {FL_TRACKER + 1, FL_TRACKER + 2,
					 FL_TRACKER + 3};
	static const uint16_t late[4] = {FL_TRACKER + 1, FL_TRACKER + 2,
					 FL_TRACKER + 3, HONEST};
	struct node_plan pl;
	struct cr_node_result r;
	struct answer a;
	struct raw fl, ho;
	uint8_t *buf;
	size_t len = 0;
	char *log, who[64];
	cr_node *n;

	(void)state;
	memset(seen, 0, sizeof(seen));
	plan_node(&pl, "test-tracker-flood", FL_TRACKER, born, 4);
	n = start(&pl);
	usleep(300000); /* the peers born at 0 register */

	/* 65,535 REGISTERs for sessions 2..65535 and 0, in one write, then a
	 * QUERY: frames of one connection are handled in order, so its
	 * answer comes after every REGISTER has been */
	fl = raw_open(pl.cfg.exp_id, FL_TRACKER, FLOODER);
	buf = malloc((size_t)(FLOOD + 1) * (T_HDR_SIZE + 4));
	assert_non_null(buf);
	for (uint32_t i = 0; i < FLOOD; i++)
		len +=
		    put_msg(buf + len, &fl, T_REGISTER, (uint16_t)(i + 2), 0);
	len += put_msg(buf + len, &fl, T_QUERY, 1, 0);
	assert_int_equal(t_send_all(fl.fd, buf, len), 0);
	free(buf);
	/* answers for the first 16 sessions only, each empty (nobody else
	 * is in them), then the query's: the three peers of session 1 */
	for (uint16_t s = 2; s < 2 + CR__TRACKER_SESSIONS_PER_PEER; s++) {
		read_peers(&fl, &a);
		assert_int_equal(a.session, s);
		assert_int_equal(a.n, 0);
	}
	read_peers(&fl, &a);
	assert_int_equal(a.session, 1);
	assert_names_exactly(&a, ones, 3);

	/* a refresh of a session it has is answered; one more is refused
	 * (no answer: the next frame is the query's) */
	send_msg(&fl, T_REGISTER, 2, 0);
	read_peers(&fl, &a);
	assert_int_equal(a.session, 2);
	send_msg(&fl, T_REGISTER, 1, 0);
	query(&fl, 3, 0, &a);
	assert_int_equal(a.n, 0);

	/* an honest peer registering now gets the peers of its session, not
	 * the flooder; a query about the flooder's sessions names it */
	ho = raw_open(pl.cfg.exp_id, FL_TRACKER, HONEST);
	send_msg(&ho, T_REGISTER, 1, 0);
	read_peers(&ho, &a);
	assert_int_equal(a.session, 1);
	assert_names_exactly(&a, ones, 3);
	query(&ho, 17, 0, &a);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.ports[0], FLOODER);
	query(&ho, 18, 0, &a); /* refused: not recorded */
	assert_int_equal(a.n, 0);

	/* the flooder's connection closes: its 16 entries go with it */
	close(fl.fd);
	for (int i = 0; i < 200; i++) {
		query(&ho, 17, 0, &a);
		if (!a.n)
			break;
		usleep(10000);
	}
	assert_int_equal(a.n, 0);

	/* the peer born after the flood bootstraps with session 1's peers */
	while (cr_node_now(n) < MS(2300))
		usleep(20000);
	assert_true(seen[FL_LATE].booted);
	assert_int_equal(seen[FL_LATE].nboot, 4);
	for (size_t i = 0; i < 4; i++) {
		bool found = false;
		for (size_t j = 0; j < 4; j++)
			found |= seen[FL_LATE].boot[j] == late[i];
		assert_true(found);
	}
	close(ho.fd);
	stop(n, &r);

	/* every refusal counted, none recorded */
	assert_true(r.tracker_ran);
	assert_int_equal(r.tracker.refused_sessions_per_peer,
			 FLOOD - CR__TRACKER_SESSIONS_PER_PEER + 1);
	assert_int_equal(r.tracker.refused_peers_per_session, 0);
	/* 3 peers at 0, 16 + 1 refresh of the flooder, the honest, the late */
	assert_int_equal(r.tracker.registrations, 3 + 16 + 1 + 1 + 1);
	assert_int_equal(r.tracker.entries_max, 3 + 16 + 1);
	assert_true(r.tracker.departed >= 16);
	assert_int_equal(r.tracker.timed_out, 0);
	assert_false(r.interrupted);

	/* logged: the first refusal, and the count when it left; nothing
	 * else names the flooder at warning level */
	log = logs(pl.logdir);
	snprintf(who, sizeof(who), "127.0.0.1:%u", FLOODER);
	assert_int_equal(lines_with(log, "WARN", who), 2);
	assert_int_equal(lines_with(log, who, "is registered in 16 sessions"),
			 1);
	assert_int_equal(lines_with(log, who, "65520 REGISTERs refused"), 1);
	assert_int_equal(lines_with(log, "INFO",
				    "65520 refused (65520 past "
				    "max_sessions_per_peer, 0 "
				    "past max_peers_per_session)"),
			 1);
	free(log);
	t_rm_rf(pl.logdir);
}

/* --- a full session
 * ------------------------------------------------------------- */

#define FS_TRACKER 22300
#define FS_CLIENT  22310 /* clients 22310..22314 */
#define FS_SESSION 7

static void test_session_limit(void **state)
{
	struct node_plan pl;
	struct cr_node_result r;
	struct answer a;
	struct raw c[5];
	char *log;
	cr_node *n;

	(void)state;
	plan_node(&pl, "test-tracker-session", FS_TRACKER, NULL, 0);
	pl.cfg.tracker.max_peers_per_session = 3;
	n = start(&pl);
	for (int i = 0; i < 5; i++)
		c[i] = raw_open(pl.cfg.exp_id, FS_TRACKER,
				(uint16_t)(FS_CLIENT + i));
	/* the first three are recorded, each told of those before it */
	for (int i = 0; i < 3; i++) {
		send_msg(&c[i], T_REGISTER, FS_SESSION, 0);
		read_peers(&c[i], &a);
		assert_int_equal(a.n, (size_t)i);
	}
	/* the fourth and fifth are refused, and not answered */
	send_msg(&c[3], T_REGISTER, FS_SESSION, 0);
	send_msg(&c[4], T_REGISTER, FS_SESSION, 0);
	assert_true(quiet_for(&c[3], 200));
	/* ... but may ask about the session, and hear of its three */
	query(&c[3], FS_SESSION, 0, &a);
	{
		const uint16_t three[3] = {FS_CLIENT, FS_CLIENT + 1,
					   FS_CLIENT + 2};
		assert_names_exactly(&a, three, 3);
	}
	/* the session has room again once one has left */
	close(c[0].fd);
	for (int i = 0; i < 200; i++) {
		query(&c[3], FS_SESSION, 0, &a);
		if (a.n == 2)
			break;
		usleep(10000);
	}
	assert_int_equal(a.n, 2);
	send_msg(&c[3], T_REGISTER, FS_SESSION, 0);
	read_peers(&c[3], &a);
	assert_int_equal(a.n, 2);
	assert_false(names(&a, FS_CLIENT));
	query(&c[4], FS_SESSION, 0, &a);
	assert_int_equal(a.n, 3);
	assert_true(names(&a, FS_CLIENT + 3));
	for (int i = 1; i < 5; i++)
		close(c[i].fd);
	stop(n, &r);

	assert_int_equal(r.tracker.refused_peers_per_session, 2);
	assert_int_equal(r.tracker.refused_sessions_per_peer, 0);
	assert_int_equal(r.tracker.registrations, 4);
	log = logs(pl.logdir);
	assert_int_equal(lines_with(log, "WARN", "session 7 holds 3 peers"), 1);
	assert_int_equal(lines_with(log, "WARN",
				    "session 7: 2 REGISTERs "
				    "refused in all"),
			 1);
	free(log);
	t_rm_rf(pl.logdir);
}

/* --- random subsets of live peers, after registrations and expiries
 * ------------ */

#define RS_TRACKER 22400
#define RS_CLIENT  22410 /* clients 22410..22457 */
#define RS_N	   48
#define RS_ASKER   22490
#define RS_SHARED  20 /* every client registers here, and in 10 + i % 3 */
#define RS_DRAWS   300

/* Client i: even ones REPORT, so both their entries stay; i % 4 == 1
 * re-REGISTERs the shared session only, so that entry stays and its other
 * one times out; i % 4 == 3 says nothing, and both time out. */
static bool live_in(int i, uint16_t session)
{
	if (i % 2 == 0)
		return session == RS_SHARED || session == 10 + i % 3;
	return i % 4 == 1 && session == RS_SHARED;
}

static void keep_alive(struct raw *c, int64_t *last)
{
	if (mono_ms() - *last < 100)
		return;
	*last = mono_ms();
	for (int i = 0; i < RS_N; i++)
		if (i % 2 == 0)
			send_msg(&c[i], T_REPORT, 0, 0);
		else if (i % 4 == 1)
			send_msg(&c[i], T_REGISTER, RS_SHARED, 0);
}

static void test_random_live_subsets(void **state)
{
	struct node_plan pl;
	struct cr_node_result r;
	struct answer a;
	struct raw c[RS_N], asker, member;
	int counts[RS_N] = {0}, distinct = 0;
	uint16_t first[64];
	size_t nfirst = 0;
	int64_t last = 0, until;
	cr_node *n;

	(void)state;
	plan_node(&pl, "test-tracker-subsets", RS_TRACKER, NULL, 0);
	pl.cfg.log_level = CR_LOG_WARN;
	pl.cfg.tracker.interval_ns = MS(200);
	pl.cfg.tracker.timeout_ns = CR_SEC;
	n = start(&pl);
	for (int i = 0; i < RS_N; i++) {
		c[i] = raw_open(pl.cfg.exp_id, RS_TRACKER,
				(uint16_t)(RS_CLIENT + i));
		send_msg(&c[i], T_REGISTER, (uint16_t)(10 + i % 3), 0);
		send_msg(&c[i], T_REGISTER, RS_SHARED, 0);
	}
	/* the silent ones time out: 1 s, and a tick of 200 ms after it */
	until = mono_ms() + 2000;
	while (mono_ms() < until) {
		keep_alive(c, &last);
		usleep(20000);
	}
	asker = raw_open(pl.cfg.exp_id, RS_TRACKER, RS_ASKER);

	/* each session's live members, all of them when they fit */
	for (uint16_t s = 10; s < 13; s++) {
		uint16_t want[RS_N];
		size_t k = 0;
		for (int i = 0; i < RS_N; i++)
			if (live_in(i, s))
				want[k++] = (uint16_t)(RS_CLIENT + i);
		keep_alive(c, &last);
		query(&asker, s, 0, &a);
		assert_names_exactly(&a, want, k);
	}
	query(&asker, 13, 0, &a); /* nobody's */
	assert_int_equal(a.n, 0);

	/* the shared session: 36 live, answers of 5 drawn at random */
	for (int d = 0; d < RS_DRAWS; d++) {
		keep_alive(c, &last);
		query(&asker, RS_SHARED, 5, &a);
		assert_int_equal(a.n, 5);
		for (size_t i = 0; i < a.n; i++) {
			int k = a.ports[i] - RS_CLIENT;
			assert_true(k >= 0 && k < RS_N);
			assert_true(live_in(k, RS_SHARED));
			for (size_t j = i + 1; j < a.n; j++)
				assert_int_not_equal(a.ports[i], a.ports[j]);
			counts[k]++;
		}
		if (!d) {
			memcpy(first, a.ports, a.n * sizeof(*first));
			nfirst = a.n;
		} else {
			bool same = true;
			for (size_t i = 0; i < nfirst; i++)
				same &= names(&a, first[i]);
			distinct += !same;
		}
	}
	/* every live one came up, about as often as the others: 300 draws
	 * of 5 among 36 give each 41.7 on average */
	for (int i = 0; i < RS_N; i++)
		if (live_in(i, RS_SHARED)) {
			assert_true(counts[i] >= 15);
			assert_true(counts[i] <= 80);
		}
	assert_true(distinct > RS_DRAWS / 2);
	/* as many as it wants, up to peers_per_reply */
	keep_alive(c, &last);
	query(&asker, RS_SHARED, 0, &a);
	assert_int_equal(a.n, 20);
	query(&asker, RS_SHARED, 1000, &a);
	assert_int_equal(a.n, 20);

	/* a member never hears of itself, even when it wants them all (its
	 * registrations' answers come first) */
	member = c[0];
	read_peers(&member, &a);
	assert_int_equal(a.session, 10);
	read_peers(&member, &a);
	assert_int_equal(a.session, RS_SHARED);
	for (int d = 0; d < 50; d++) {
		keep_alive(c, &last);
		query(&member, 10, 1000, &a);
		assert_int_equal(a.n, 7); /* the 8 live of session 10 but it */
		assert_false(names(&a, RS_CLIENT));
	}
	for (int i = 0; i < RS_N; i++)
		close(c[i].fd);
	close(asker.fd);
	stop(n, &r);

	/* 12 clients lost one entry, 12 both */
	assert_int_equal(r.tracker.timed_out, 12 * 1 + 12 * 2);
	assert_int_equal(r.tracker.refused_sessions_per_peer, 0);
	assert_int_equal(r.tracker.entries_max, 2 * RS_N);
	t_rm_rf(pl.logdir);
}

/* --- active liveness: one PROBE per peer, whatever its sessions
 * ---------------- */

#define PR_TRACKER 22480
#define PR_CLIENT  22481
#define PR_ASKER   22482

/* Reads the next frame, if one comes within ms; its type, or -1. */
static int next_frame(const struct raw *r, int ms)
{
	struct pollfd pf = {.fd = r->fd, .events = POLLIN};
	uint8_t h[T_HDR_SIZE], pl[1024];
	uint32_t len;

	if (poll(&pf, 1, ms) != 1 || t_read_exact(r->fd, h, sizeof(h)))
		return -1;
	len = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 |
	      (uint32_t)h[10] << 8 | h[11];
	assert_true(len <= sizeof(pl));
	if (len)
		assert_int_equal(t_read_exact(r->fd, pl, len), 0);
	return h[3];
}

static void test_probe_per_peer(void **state)
{
	struct node_plan pl;
	struct cr_node_result r;
	struct answer a;
	struct raw c, asker;
	int probes = 0;
	int64_t until;
	cr_node *n;

	(void)state;
	plan_node(&pl, "test-tracker-probe", PR_TRACKER, NULL, 0);
	pl.cfg.log_level = CR_LOG_WARN;
	pl.cfg.tracker.probe = true;
	pl.cfg.tracker.interval_ns = MS(200);
	pl.cfg.tracker.timeout_ns = CR_SEC;
	n = start(&pl);
	c = raw_open(pl.cfg.exp_id, PR_TRACKER, PR_CLIENT);
	for (uint16_t s = 1; s <= 3; s++) {
		send_msg(&c, T_REGISTER, s, 0);
		read_peers(&c, &a);
		assert_int_equal(a.session, s);
	}
	/* 2 s: about 10 intervals, one PROBE each, each answered */
	until = mono_ms() + 2000;
	while (mono_ms() < until) {
		int type = next_frame(&c, 50);
		if (type < 0)
			continue;
		assert_int_equal(type, 6); /* PROBE: nothing else comes */
		probes++;
		send_msg(&c, T_REPORT, 0, 0);
	}
	assert_true(probes >= 5);
	assert_true(probes <= 12);
	/* the REPORTs kept it alive in all three sessions */
	asker = raw_open(pl.cfg.exp_id, PR_TRACKER, PR_ASKER);
	for (uint16_t s = 1; s <= 3; s++) {
		query(&asker, s, 0, &a);
		assert_int_equal(a.n, 1);
		assert_int_equal(a.ports[0], PR_CLIENT);
	}
	close(c.fd);
	close(asker.fd);
	stop(n, &r);
	assert_int_equal(r.tracker.timed_out, 0);
	t_rm_rf(pl.logdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_register_flood),
	    cmocka_unit_test(test_session_limit),
	    cmocka_unit_test(test_random_live_subsets),
	    cmocka_unit_test(test_probe_per_peer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
