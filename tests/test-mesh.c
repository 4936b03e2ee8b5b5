/* What an algorithm on a mesh needs beyond its bootstrap peers, through
 * in-process nodes on loopback (ports 28600-28699):
 *
 * - cr_tracker_query: the source, which registered before every other
 *   peer and so bootstrapped with none, asks the tracker later and hears
 *   of every peer born after it; so does an early peer; a second query
 *   while one is out is refused (-CR_EAGAIN); the answer comes once, to
 *   tracker_peers, for the session asked, never naming the asker;
 * - with a tracker that never answers, the query ends with an empty
 *   answer after the wait, and a peer that dies before it hears nothing
 *   (nor does its next life);
 * - without a tracker the query is -CR_ENOENT; an algorithm without
 *   tracker_peers, or a dead peer, -CR_EINVAL;
 * - the tracker ignores malformed QUERY frames, answers a good one with
 *   PEERS, and does not hand out the asker afterwards;
 * - cr_report_value / cr_report_add: values reach the node's results and
 *   peers-final.csv with exact summaries; bad names, NaN, infinities, a
 *   sum that overflows and a name past the limit are refused;
 * - a shared object built for API version 1 (whose cr_algorithm ends
 *   before tracker_peers) is loaded and run without reading past it.
 */
#include "../src/builtins/registry.h"
#include "../src/engine/engine.h"
#include "support.h"

#include <dlfcn.h>
#include <float.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define MS(x) ((int64_t)(x) * CR_MS)

/* --- a recorder: what each peer (by port) saw ----------------------------- */

struct seen {
	size_t nboot;
	cr_addr boot[32];
	int rc_query, rc_again; /* the query's, and an immediate second's */
	bool queried;
	int answers;		/* tracker_peers calls */
	uint16_t answer_session;
	size_t nanswer;
	cr_addr answer[32];
	int64_t answered_at;
};

static struct seen seen[65536];

/* Who queries, and when (experiment time); 0: nobody. */
static uint16_t query_port[4];
static int64_t query_at;

static void do_query(cr_peer *p, void *arg)
{
	struct seen *s = &seen[cr_self(p)->port];

	(void)arg;
	s->queried = true;
	s->rc_query = cr_tracker_query(p, 1, 0);
	s->rc_again = cr_tracker_query(p, 1, 0);
}

static int rec_bootstrap(cr_peer *p)
{
	struct seen *s = &seen[cr_self(p)->port];
	const cr_addr *b;

	s->nboot = cr_bootstrap_peers(p, &b);
	if (s->nboot > 32)
		s->nboot = 32;
	if (s->nboot) /* b may be NULL with none */
		memcpy(s->boot, b, s->nboot * sizeof(*b));
	for (size_t i = 0; i < 4; i++)
		if (query_port[i] == cr_self(p)->port)
			cr_timer_start(p, query_at - cr_now(p), 0, do_query,
				       NULL);
	return 0;
}

static void rec_tracker(cr_peer *p, uint16_t session, const cr_addr *peers,
			size_t n)
{
	struct seen *s = &seen[cr_self(p)->port];

	s->answers++;
	s->answer_session = session;
	s->answered_at = cr_now(p);
	s->nanswer = n < 32 ? n : 32;
	if (s->nanswer) /* peers is NULL with none */
		memcpy(s->answer, peers, s->nanswer * sizeof(*peers));
}

static const cr_algorithm recorder = {
	.api_version = CR_API_VERSION,
	.name = "query-recorder",
	.bootstrap = rec_bootstrap,
	.tracker_peers = rec_tracker,
};

static bool answered(const struct seen *s, uint16_t port)
{
	for (size_t i = 0; i < s->nanswer; i++)
		if (s->answer[i].port == port)
			return true;
	return false;
}

/* --- queries through a tracker in the node --------------------------------- */

#define TRACKER 28600
#define SOURCE	28601
#define FIRST	28602 /* an early peer, which queries too */
#define NLATE	5     /* peers born after the queriers' births */

struct plan {
	struct cr_node_peer peers[NLATE + 3];
	struct cr_node_event ev[NLATE + 3][4];
	struct cr_node_config cfg;
};

static void born(struct plan *pl, size_t i, uint16_t port, int64_t at)
{
	pl->peers[i].addr = t_addr(port);
	pl->ev[i][0] = (struct cr_node_event){at, CR_NEV_BIRTH, 0, 0};
	pl->ev[i][1] = (struct cr_node_event){at + MS(10), CR_NEV_JOIN, 1, 0};
	pl->peers[i].events = pl->ev[i];
	pl->peers[i].nevents = 2;
}

static void tracker_plan(struct plan *pl, const cr_algorithm *algo)
{
	memset(pl, 0, sizeof(*pl));
	pl->peers[0].addr = t_addr(TRACKER);
	pl->peers[0].is_tracker = true;
	born(pl, 1, SOURCE, 0);
	born(pl, 2, FIRST, MS(100));
	for (int i = 0; i < NLATE; i++)
		born(pl, 3 + (size_t)i, (uint16_t)(FIRST + 1 + i),
		     MS(500) + MS(50) * i);
	pl->cfg.name = "test-mesh";
	pl->cfg.duration_ns = MS(2500);
	pl->cfg.workers = 2;
	pl->cfg.algo = algo;
	pl->cfg.peers = pl->peers;
	pl->cfg.npeers = NLATE + 3;
	pl->cfg.log_level = CR_LOG_WARN;
	pl->cfg.tracker.enabled = true;
	pl->cfg.tracker.addr = t_addr(TRACKER);
	pl->cfg.tracker.reply_peers = 20;
	pl->cfg.tracker.interval_ns = CR_SEC;
	pl->cfg.tracker.timeout_ns = 3 * CR_SEC;
}

static void run_config(const struct cr_node_config *cfg)
{
	cr_node *n = NULL;
	char err[256];

	if (cr_node_create(cfg, &n, err, sizeof(err)))
		fail_msg("%s", err);
	if (cr_node_run(n, err, sizeof(err)))
		fail_msg("%s", err);
	cr_node_destroy(n);
}

/* The source registers first, so the tracker has nobody to give it; the
 * first peer is told of the source only.  Both ask again at 1.5 s, when
 * every peer has registered, and hear of all of them. */
static void test_query_finds_later_peers(void **state)
{
	struct plan pl;

	(void)state;
	memset(seen, 0, sizeof(seen));
	memset(query_port, 0, sizeof(query_port));
	query_port[0] = SOURCE;
	query_port[1] = FIRST;
	query_at = MS(1500);
	tracker_plan(&pl, &recorder);
	run_config(&pl.cfg);

	/* what they were born with */
	assert_int_equal(seen[SOURCE].nboot, 0);
	assert_int_equal(seen[FIRST].nboot, 1);
	assert_int_equal(seen[FIRST].boot[0].port, SOURCE);
	for (uint16_t port = SOURCE; port <= FIRST; port++) {
		const struct seen *s = &seen[port];

		assert_true(s->queried);
		assert_int_equal(s->rc_query, 0);
		/* one query at a time */
		assert_int_equal(s->rc_again, -CR_EAGAIN);
		assert_int_equal(s->answers, 1);
		assert_int_equal(s->answer_session, 1);
		assert_true(s->answered_at >= query_at);
		/* every other peer of session 1, never itself */
		assert_int_equal(s->nanswer, NLATE + 1);
		assert_false(answered(s, port));
		for (int i = 0; i < NLATE; i++)
			assert_true(answered(s, (uint16_t)(FIRST + 1 + i)));
		assert_true(answered(s, port == SOURCE ? FIRST : SOURCE));
	}
	/* nobody else asked, so nobody else heard */
	for (int i = 0; i < NLATE; i++)
		assert_int_equal(seen[FIRST + 1 + i].answers, 0);
}

/* --- a tracker that never answers ------------------------------------------ */

#define SILENT 28640 /* listens, never accepts, never answers */
#define STAYS  28641
#define DIES   28642

/* Both peers wait 2 s for the registration's answer, bootstrap with none
 * and query at once (2 s).  The one that stays hears an empty answer at
 * 4 s; the one that dies at 2.6 s (and is born again at 3 s) never hears
 * of its query. */
static void test_query_without_answer(void **state)
{
	struct cr_node_peer peers[2] = {0};
	struct cr_node_event ev[3];
	struct cr_node_config cfg = {0};
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(SILENT),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1, fd;

	(void)state;
	memset(seen, 0, sizeof(seen));
	memset(query_port, 0, sizeof(query_port));
	query_port[0] = STAYS;
	query_port[1] = DIES;
	query_at = 0; /* at bootstrap */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);

	peers[0].addr = t_addr(STAYS);
	peers[0].session = 1;
	peers[1].addr = t_addr(DIES);
	ev[0] = (struct cr_node_event){0, CR_NEV_BIRTH, 0, 0};
	ev[1] = (struct cr_node_event){MS(2600), CR_NEV_DIE, 0, 0};
	ev[2] = (struct cr_node_event){MS(3000), CR_NEV_BIRTH, 0, 0};
	peers[1].events = ev;
	peers[1].nevents = 3;
	cfg.name = "test-mesh-silent";
	cfg.duration_ns = MS(4800);
	cfg.workers = 2;
	cfg.algo = &recorder;
	cfg.peers = peers;
	cfg.npeers = 2;
	cfg.log_level = CR_LOG_ERROR;
	cfg.tracker.enabled = true;
	cfg.tracker.addr = t_addr(SILENT);
	cfg.tracker.reply_peers = 20;
	cfg.tracker.interval_ns = CR_SEC;
	cfg.tracker.timeout_ns = 3 * CR_SEC;
	run_config(&cfg);
	close(fd);

	assert_true(seen[STAYS].queried);
	assert_int_equal(seen[STAYS].rc_query, 0);
	assert_int_equal(seen[STAYS].answers, 1);
	assert_int_equal(seen[STAYS].nanswer, 0);
	assert_int_equal(seen[STAYS].answer_session, 1);
	/* the wait, and not before */
	assert_true(seen[STAYS].answered_at >= MS(2000) + MS(2000));
	assert_true(seen[DIES].queried);
	assert_int_equal(seen[DIES].rc_query, 0);
	assert_int_equal(seen[DIES].answers, 0);
}

/* --- no tracker, no callback ---------------------------------------------- */

static int rc_of[65536];

static int ask_at_boot(cr_peer *p)
{
	rc_of[cr_self(p)->port] = cr_tracker_query(p, 1, 5);
	return 0;
}

static void ignore_answer(cr_peer *p, uint16_t session, const cr_addr *peers,
			  size_t n)
{
	(void)p, (void)session, (void)peers, (void)n;
}

static const cr_algorithm asker = {
	.api_version = CR_API_VERSION,
	.name = "asker",
	.bootstrap = ask_at_boot,
	.tracker_peers = ignore_answer,
};

static const cr_algorithm deaf_asker = {
	.api_version = CR_API_VERSION,
	.name = "deaf-asker",
	.bootstrap = ask_at_boot,
};

static void test_query_refused(void **state)
{
	struct cr_node_peer peers[3] = {0};
	struct cr_node_config cfg = {0};

	(void)state;
	memset(rc_of, 0, sizeof(rc_of));
	/* chains-like: bootstrap lists, no tracker */
	peers[0].addr = t_addr(28660);
	peers[1].addr = t_addr(28661);
	cfg.name = "test-mesh-none";
	cfg.duration_ns = MS(300);
	cfg.workers = 1;
	cfg.algo = &asker;
	cfg.peers = peers;
	cfg.npeers = 2;
	cfg.log_level = CR_LOG_ERROR;
	run_config(&cfg);
	assert_int_equal(rc_of[28660], -CR_ENOENT);
	assert_int_equal(rc_of[28661], -CR_ENOENT);

	/* a tracker, but nothing to take its answer */
	peers[0].addr = t_addr(28662);
	peers[0].is_tracker = true;
	peers[1].addr = t_addr(28663);
	peers[2].addr = t_addr(28664);
	cfg.npeers = 3;
	cfg.algo = &deaf_asker;
	cfg.tracker.enabled = true;
	cfg.tracker.addr = t_addr(28662);
	cfg.tracker.reply_peers = 5;
	cfg.tracker.interval_ns = CR_SEC;
	cfg.tracker.timeout_ns = 3 * CR_SEC;
	run_config(&cfg);
	assert_int_equal(rc_of[28663], -CR_EINVAL);
	assert_int_equal(rc_of[28664], -CR_EINVAL);
	assert_int_equal(cr_tracker_query(NULL, 1, 0), -CR_EINVAL);
}

/* --- the tracker's side, spoken to raw -------------------------------------- */

#define RAW_TRACKER 28670
#define RAW_ASKER   28690
#define RAW_OTHER   28691

/* Reads one frame: its type and payload (up to cap); the payload length,
 * or -1. */
static long read_frame(int fd, uint8_t *type, uint8_t *pl, size_t cap)
{
	uint8_t h[T_HDR_SIZE];
	uint32_t len;

	if (t_read_exact(fd, h, sizeof(h)))
		return -1;
	*type = h[3];
	len = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 |
	      (uint32_t)h[10] << 8 | h[11];
	if (len > cap || (len && t_read_exact(fd, pl, len)))
		return -1;
	return (long)len;
}

/* A raw client of the tracker, saying hello as the peer at `port`; its
 * connection, or -1. */
static int raw_client(uint64_t id, uint16_t port)
{
	uint8_t hello[T_HELLO_SIZE];
	int fd = -1;

	for (int tries = 0; tries < 200 && fd < 0; tries++) {
		fd = t_tcp_connect(RAW_TRACKER);
		if (fd < 0)
			usleep(10000);
	}
	if (fd < 0)
		return -1;
	t_hello(hello, id, port, t_exp_tag(id));
	if (t_send_all(fd, hello, sizeof(hello))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_query(int fd, uint64_t id, uint16_t port, const uint8_t *pl,
		       uint32_t len)
{
	uint8_t buf[T_HDR_SIZE + 8];
	struct t_hdr h = t_hdr_make(7, len, port, t_exp_tag(id));

	t_hdr_put(buf, &h);
	memcpy(buf + T_HDR_SIZE, pl, len);
	assert_int_equal(t_send_all(fd, buf, T_HDR_SIZE + len), 0);
}

/* The PEERS answer to a good query: n and the ports. */
static size_t read_peers(int fd, uint16_t *ports, size_t cap)
{
	uint8_t type, pl[4 + 32 * 19];
	long len = read_frame(fd, &type, pl, sizeof(pl));
	size_t n;

	assert_true(len >= 4);
	assert_int_equal(type, 4); /* PEERS */
	assert_int_equal(pl[0] << 8 | pl[1], 1); /* session */
	n = (size_t)(pl[2] << 8 | pl[3]);
	assert_int_equal((size_t)len, 4 + n * 19);
	for (size_t i = 0; i < n && i < cap; i++)
		ports[i] = (uint16_t)(pl[4 + i * 19 + 1] << 8 |
				      pl[4 + i * 19 + 2]);
	return n;
}

static void test_raw_queries(void **state)
{
	struct cr_node_peer peers[4] = {0};
	struct cr_node_config cfg = {0};
	uint64_t id = cr_node_experiment_id("test-mesh-raw");
	static const uint8_t good[4] = {0, 1, 0, 2}, all[4] = {0, 1, 0, 0};
	uint8_t type, pl[64];
	uint16_t ports[32];
	cr_node *n = NULL;
	char err[256];
	size_t k;
	int a, b;

	(void)state;
	peers[0].addr = t_addr(RAW_TRACKER);
	peers[0].is_tracker = true;
	for (int i = 1; i < 4; i++) {
		peers[i].addr = t_addr((uint16_t)(RAW_TRACKER + i));
		peers[i].session = 1;
	}
	cfg.name = "test-mesh-raw";
	cfg.exp_id = id;
	cfg.duration_ns = 20 * CR_SEC; /* stopped when done */
	cfg.workers = 2;
	cfg.algo = &asker;
	cfg.peers = peers;
	cfg.npeers = 4;
	cfg.log_level = CR_LOG_ERROR;
	cfg.tracker.enabled = true;
	cfg.tracker.addr = t_addr(RAW_TRACKER);
	cfg.tracker.reply_peers = 20;
	cfg.tracker.interval_ns = CR_SEC;
	cfg.tracker.timeout_ns = 10 * CR_SEC;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)), 0);
	assert_int_equal(cr_node_start(n, err, sizeof(err)), 0);
	/* the peers register at birth; give them the time to */
	usleep(300000);

	a = raw_client(id, RAW_ASKER);
	assert_true(a >= 0);
	assert_true(read_frame(a, &type, pl, sizeof(pl)) == 8);
	assert_int_equal(type, 1); /* the tracker's hello */
	/* too short: ignored, and the connection stays */
	send_query(a, id, RAW_ASKER, good, 0);
	send_query(a, id, RAW_ASKER, good, 3);
	send_query(a, id, RAW_ASKER, good, 4);
	k = read_peers(a, ports, 32);
	assert_int_equal(k, 2); /* as many as it wanted */
	for (size_t i = 0; i < k; i++)
		assert_true(ports[i] > RAW_TRACKER && ports[i] < RAW_TRACKER + 4);

	/* another asker hears of the three peers, not of the first asker */
	b = raw_client(id, RAW_OTHER);
	assert_true(b >= 0);
	assert_true(read_frame(b, &type, pl, sizeof(pl)) == 8);
	send_query(b, id, RAW_OTHER, all, 4);
	k = read_peers(b, ports, 32);
	assert_int_equal(k, 3);
	for (size_t i = 0; i < k; i++)
		assert_int_not_equal(ports[i], RAW_ASKER);
	close(a);
	close(b);
	cr_node_stop(n, false);
	cr_node_join(n);
	cr_node_destroy(n);
}

/* --- the algorithm's own values ------------------------------------------- */

#define VBASE 28620
#define NV    10

static int bad_rc[65536]; /* refusals as expected: 0; else the call's line */

#define EXPECT(call, want)                                                     \
	do {                                                                   \
		if ((call) != (want) && !bad_rc[port])                         \
			bad_rc[port] = __LINE__;                               \
	} while (0)

static int val_bootstrap(cr_peer *p)
{
	uint16_t port = cr_self(p)->port;
	double idx = port - VBASE;
	char name[64];

	EXPECT(cr_report_value(p, "index", idx), 0);
	for (int i = 0; i < 3; i++)
		EXPECT(cr_report_add(p, "thrice", 1), 0);
	if (!(port % 2))
		EXPECT(cr_report_value(p, "even", idx), 0);
	EXPECT(cr_report_value(p, "index", idx), 0); /* set, not added */
	/* what is refused, and leaves no trace */
	EXPECT(cr_report_value(p, NULL, 1), -CR_EINVAL);
	EXPECT(cr_report_value(NULL, "index", 1), -CR_EINVAL);
	EXPECT(cr_report_value(p, "", 1), -CR_EINVAL);
	EXPECT(cr_report_value(p, "1st", 1), -CR_EINVAL);
	EXPECT(cr_report_value(p, "_x", 1), -CR_EINVAL);
	EXPECT(cr_report_value(p, "a-b", 1), -CR_EINVAL);
	EXPECT(cr_report_value(p, "a b", 1), -CR_EINVAL);
	EXPECT(cr_report_value(p, "a,b", 1), -CR_EINVAL);
	EXPECT(cr_report_value(p, "caf\xc3\xa9", 1), -CR_EINVAL);
	EXPECT(cr_report_value(p, "abcdefghijabcdefghijabcdefghij12", 1),
	       -CR_EINVAL); /* 32 characters */
	EXPECT(cr_report_value(p, "abcdefghijabcdefghijabcdefghij1", 1),
	       0); /* 31 */
	EXPECT(cr_report_value(p, "index", NAN), -CR_EINVAL);
	EXPECT(cr_report_add(p, "index", INFINITY), -CR_EINVAL);
	EXPECT(cr_report_value(p, "nan_only", -INFINITY), -CR_EINVAL);
	EXPECT(cr_report_value(p, "big", DBL_MAX), 0);
	EXPECT(cr_report_add(p, "big", DBL_MAX), -CR_EINVAL);
	/* up to the limit of names, over all peers: index, thrice, even,
	 * the 31-character one, big, and these */
	for (int i = 0; i < CR_REPORT_VALUES_MAX - 5; i++) {
		snprintf(name, sizeof(name), "n%02d", i);
		EXPECT(cr_report_value(p, name, i), 0);
	}
	EXPECT(cr_report_value(p, "one_too_many", 1), -CR_ENOSPC);
	EXPECT(cr_report_add(p, "one_too_many", 1), -CR_ENOSPC);
	return 0;
}

static const cr_algorithm valuer = {
	.api_version = CR_API_VERSION,
	.name = "valuer",
	.bootstrap = val_bootstrap,
};

static const struct cr_node_dist *dist_of(const struct cr_node_result *r,
					  const char *name)
{
	for (size_t i = 0; i < r->nvalues; i++)
		if (!strcmp(r->values[i].name, name))
			return &r->values[i].dist;
	fail_msg("no value '%s' in the results", name);
	return NULL;
}

/* The column `name` of a CSV header line, or -1. */
static int column(const char *header, const char *name)
{
	char *h = strdup(header), *save = NULL;
	int k = 0, found = -1;

	for (char *f = strtok_r(h, ",", &save); f && found < 0;
	     f = strtok_r(NULL, ",", &save), k++)
		if (!strcmp(f, name))
			found = k;
	free(h);
	return found;
}

/* Field k of a CSV line (no quoting in peers-final.csv), into buf. */
static const char *field(const char *line, int k, char *buf, size_t len)
{
	const char *p = line;

	for (; k > 0 && p; k--)
		p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL;
	assert_non_null(p);
	snprintf(buf, len, "%.*s", (int)strcspn(p, ",\n"), p);
	return buf;
}

static void test_values(void **state)
{
	struct cr_node_peer peers[NV] = {0};
	struct cr_node_config cfg = {0};
	struct cr_node_result r;
	const struct cr_node_dist *d;
	char dir[64], path[128], buf[64], *csv, *line, *save = NULL;
	cr_node *n = NULL;
	char err[256];
	int cidx, ceven, cthrice, rows = 0;

	(void)state;
	memset(bad_rc, 0, sizeof(bad_rc));
	assert_int_equal(t_mkdtemp(dir, sizeof(dir)), 0);
	for (int i = 0; i < NV; i++)
		peers[i].addr = t_addr((uint16_t)(VBASE + i));
	cfg.name = "test-mesh-values";
	cfg.duration_ns = MS(300);
	/* one worker: the peers bootstrap in order, so the first (even) takes
	 * every name the limit allows, "even" included, before any peer asks
	 * for one more */
	cfg.workers = 1;
	cfg.algo = &valuer;
	cfg.peers = peers;
	cfg.npeers = NV;
	cfg.log_level = CR_LOG_ERROR;
	cfg.metrics_dir = dir;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)), 0);
	assert_int_equal(cr_node_run(n, err, sizeof(err)), 0);
	cr_node_result(n, &r);
	cr_node_destroy(n);
	for (int i = 0; i < NV; i++)
		if (bad_rc[VBASE + i])
			fail_msg("peer %d: line %d did not return what it "
				 "should",
				 VBASE + i, bad_rc[VBASE + i]);

	/* every name that was taken, in byte order */
	assert_int_equal(r.nvalues, CR_REPORT_VALUES_MAX);
	for (size_t i = 1; i < r.nvalues; i++)
		assert_true(strcmp(r.values[i - 1].name, r.values[i].name) < 0);
	/* 0..9: nearest rank */
	d = dist_of(&r, "index");
	assert_int_equal(d->n, NV);
	assert_true(d->mean == 4.5 && d->min == 0 && d->p5 == 0 &&
		    d->p50 == 5 && d->p95 == 9);
	/* 0, 2, 4, 6, 8: only the peers that reported it */
	d = dist_of(&r, "even");
	assert_int_equal(d->n, NV / 2);
	assert_true(d->mean == 4 && d->min == 0 && d->p5 == 0 &&
		    d->p50 == 4 && d->p95 == 8);
	d = dist_of(&r, "thrice");
	assert_true(d->n == NV && d->min == 3 && d->mean == 3 && d->p95 == 3);
	/* the sum that overflowed left the value as it was */
	d = dist_of(&r, "big");
	assert_true(d->min == DBL_MAX && d->p95 == DBL_MAX);

	/* peers-final.csv: a column per name, empty where not reported */
	snprintf(path, sizeof(path), "%s/peers-final.csv", dir);
	csv = t_slurp(path);
	assert_non_null(csv);
	line = strtok_r(csv, "\n", &save);
	cidx = column(line, "value.index");
	ceven = column(line, "value.even");
	cthrice = column(line, "value.thrice");
	assert_true(cidx > 0 && ceven > 0 && cthrice > 0);
	assert_true(column(line, "value.one_too_many") < 0);
	/* after the fixed columns, which keep their places */
	assert_int_equal(column(line, "peer"), 0);
	assert_true(cidx > column(line, "duplicate_ratio"));
	while ((line = strtok_r(NULL, "\n", &save))) {
		int port = atoi(line + strlen("127.0.0.1:"));
		char want[16];

		snprintf(want, sizeof(want), "%d", port - VBASE);
		assert_string_equal(field(line, cidx, buf, sizeof(buf)), want);
		assert_string_equal(field(line, cthrice, buf, sizeof(buf)),
				    "3");
		assert_string_equal(field(line, ceven, buf, sizeof(buf)),
				    port % 2 ? "" : want);
		rows++;
	}
	assert_int_equal(rows, NV);
	free(csv);
	t_rm_rf(dir);
}

/* --- a shared object of API version 1 -------------------------------------- */

/* Its cr_algorithm as version 1 headers had it, followed in memory by a
 * pointer that would be taken for tracker_peers if the engine read past
 * the end of it. */
static const char v1_source[] =
    "#include <crystal/crystal.h>\n"
    "struct v1 {\n"
    "	int api_version; const char *name, *description;\n"
    "	size_t state_size; const cr_param_def *params;\n"
    "	int (*bootstrap)(cr_peer *);\n"
    "	void (*join_session)(cr_peer *, uint16_t);\n"
    "	void (*leave_session)(cr_peer *, uint16_t);\n"
    "	void (*process)(cr_peer *, const cr_addr *, cr_msg *);\n"
    "	void (*process_data)(cr_peer *, const cr_addr *, cr_msg *);\n"
    "	void (*peer_departed)(cr_peer *, const cr_addr *);\n"
    "	void (*destroy)(cr_peer *);\n"
    "};\n"
    "static int boots;\n"
    "static int boot(cr_peer *p) { (void)p; __sync_fetch_and_add(&boots, 1);"
    " return 0; }\n"
    "static void trap(void) { __builtin_trap(); }\n"
    "const struct { struct v1 a; void (*after)(void); } crystal_algorithm = {\n"
    "	{ .api_version = 1, .name = \"old\", .bootstrap = boot }, trap };\n"
    "int old_boots(void) { return boots; }\n";

static void test_api_version_1(void **state)
{
	char dir[64], path[128], err[512];
	struct cr_node_peer peers[2] = {0};
	struct cr_node_config cfg = {0};
	const cr_algorithm *a;
	cr_node *n = NULL;
	int (*boots)(void);
	void *h;

	(void)state;
	assert_int_equal(t_mkdtemp(dir, sizeof(dir)), 0);
	assert_int_equal(t_build_so(dir, "v1", v1_source, path, sizeof(path)),
			 0);
	a = cr__algorithm_find(path, err, sizeof(err));
	if (!a)
		fail_msg("%s", err);
	assert_int_equal(a->api_version, 1);
	assert_string_equal(a->name, "old");
	peers[0].addr = t_addr(28680);
	peers[1].addr = t_addr(28681);
	cfg.name = "test-mesh-v1";
	cfg.duration_ns = MS(200);
	cfg.workers = 1;
	cfg.algo = a;
	cfg.peers = peers;
	cfg.npeers = 2;
	cfg.log_level = CR_LOG_ERROR;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)), 0);
	/* the node's copy ends where version 1 did */
	assert_null(n->algo.tracker_peers);
	assert_int_equal(memcmp(&n->algo, a, CR__ALGO_V1_SIZE), 0);
	assert_int_equal(cr_node_run(n, err, sizeof(err)), 0);
	cr_node_destroy(n);
	/* and it ran: both peers bootstrapped */
	h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	assert_non_null(h);
	boots = (int (*)(void))dlsym(h, "old_boots");
	assert_non_null(boots);
	assert_int_equal(boots(), 2);
	dlclose(h);
	t_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_finds_later_peers),
		cmocka_unit_test(test_query_without_answer),
		cmocka_unit_test(test_query_refused),
		cmocka_unit_test(test_raw_queries),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_api_version_1),
	};

	return cmocka_run_group_tests_name("mesh: tracker queries, values",
					   tests, NULL, NULL);
}
