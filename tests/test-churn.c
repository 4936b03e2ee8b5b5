/* Peer dynamics and the tracker on loopback (src/engine/life.c,
 * src/engine/tracker.c), with in-process nodes and real sockets:
 *
 * - peers are born, join, leave and die on schedule: every event of the
 *   schedule happens once, in order, never before its time;
 * - a peer learns from the tracker (over TCP) a subset of the live peers of
 *   its session, never itself and never a dead one;
 * - a neighbour's death reaches peer_departed, within one second;
 * - a session's end (terminate) calls leave_session on its members;
 * - the tracker never hands out a peer that has gone silent for longer
 *   than the liveness timeout (a raw client registers, then says nothing);
 * - the same experiment and seed give the same tracker answers.
 */
#include "../src/core/log.h"
#include "../src/engine/node.h"
#include "../src/scenario/plan.h"
#include "support.h"

#include <stdio.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define BASE 27000
#define TRACKER BASE
#define SOURCE (BASE + 1)
#define NPEERS 12 /* besides the tracker and the source */
#define GHOST 27090

/* What each peer (by port) saw. */
struct seen {
	int64_t booted_at, joined_at, left_at;
	int boots, joins, leaves, destroys;
	cr_addr boot[32];
	size_t nboot;
	cr_addr departed[32];
	int64_t departed_at[32];
	size_t ndeparted;
	uint64_t data;
	uint64_t draw; /* the first draw of its generator (cr_peer_rand) */
};

static struct seen seen[65536];

struct chst {
	int unused;
};

static int ch_bootstrap(cr_peer *p)
{
	struct seen *s = &seen[cr_self(p)->port];
	const cr_addr *b;

	s->booted_at = cr_now(p);
	s->boots++;
	s->draw = cr_rand_next(cr_peer_rand(p));
	s->nboot = cr_bootstrap_peers(p, &b);
	if (s->nboot > 32)
		s->nboot = 32;
	if (s->nboot)
		memcpy(s->boot, b, s->nboot * sizeof(*b));
	/* say hello to everyone given, so that deaths are noticed */
	for (size_t i = 0; i < s->nboot; i++) {
		cr_msg *m = cr_msg_new(p, 20, 1, 4);
		if (m) {
			cr_send(p, &b[i], m, CR_TCP);
			cr_msg_release(m);
		}
	}
	return 0;
}

static void ch_join(cr_peer *p, uint16_t session)
{
	struct seen *s = &seen[cr_self(p)->port];

	(void)session;
	s->joined_at = cr_now(p);
	s->joins++;
}

static void ch_leave(cr_peer *p, uint16_t session)
{
	struct seen *s = &seen[cr_self(p)->port];

	(void)session;
	s->left_at = cr_now(p);
	s->leaves++;
}

static void ch_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	(void)from;
	(void)m;
	seen[cr_self(p)->port].data++;
}

static void ch_departed(cr_peer *p, const cr_addr *who)
{
	struct seen *s = &seen[cr_self(p)->port];

	if (s->ndeparted < 32) {
		s->departed[s->ndeparted] = *who;
		s->departed_at[s->ndeparted] = cr_now(p);
		s->ndeparted++;
	}
}

static void ch_destroy(cr_peer *p)
{
	seen[cr_self(p)->port].destroys++;
}

static const cr_algorithm churn_algo = {
	.api_version = CR_API_VERSION,
	.name = "churn-recorder",
	.state_size = sizeof(struct chst),
	.bootstrap = ch_bootstrap,
	.join_session = ch_join,
	.leave_session = ch_leave,
	.process_data = ch_data,
	.peer_departed = ch_departed,
	.destroy = ch_destroy,
};

/* --- the schedule -------------------------------------------------------- */

struct plan {
	struct cr_node_peer peers[NPEERS + 2];
	struct cr_node_event ev[NPEERS + 2][6];
	struct cr__source_cfg src;
};

#define MS(x) ((int64_t)(x) * CR_MS)

/* peer i (0..NPEERS-1) is born at 100 + 150 i ms and joins 50 ms later;
 * the odd ones leave at 1800 ms and die at 2000 ms; the source terminates
 * session 1 at 2600 ms. */
static int64_t birth_at(int i)
{
	return MS(100 + 150 * i);
}

static void make_plan(struct plan *pl, uint64_t seed, struct cr_node_config *cfg)
{
	memset(pl, 0, sizeof(*pl));
	/* the tracker */
	pl->peers[0].addr = t_addr(TRACKER);
	pl->peers[0].is_tracker = true;
	/* the source */
	pl->peers[1].addr = t_addr(SOURCE);
	pl->ev[1][0] = (struct cr_node_event){0, CR_NEV_BIRTH, 0, 0};
	pl->ev[1][1] = (struct cr_node_event){MS(50), CR_NEV_JOIN, 1, 0};
	pl->ev[1][2] = (struct cr_node_event){MS(60), CR_NEV_DEPLOY, 1, 0};
	pl->ev[1][3] = (struct cr_node_event){MS(2600), CR_NEV_TERMINATE, 1, 0};
	pl->peers[1].events = pl->ev[1];
	pl->peers[1].nevents = 4;
	for (int i = 0; i < NPEERS; i++) {
		struct cr_node_peer *p = &pl->peers[2 + i];
		struct cr_node_event *e = pl->ev[2 + i];
		size_t n = 0;

		p->addr = t_addr((uint16_t)(BASE + 2 + i));
		e[n++] = (struct cr_node_event){birth_at(i), CR_NEV_BIRTH, 0, 0};
		e[n++] = (struct cr_node_event){birth_at(i) + MS(50),
						CR_NEV_JOIN, 1, 0};
		if (i % 2) {
			e[n++] = (struct cr_node_event){MS(1800), CR_NEV_LEAVE,
							1, 0};
			e[n++] = (struct cr_node_event){MS(2000), CR_NEV_DIE, 0,
							0};
		}
		p->events = e;
		p->nevents = n;
	}
	pl->src.peer_index = 1;
	pl->src.session = 1;
	pl->src.msg_size = 256;
	pl->src.rate_Bps = 20000;
	pl->src.on_deploy = true;

	memset(cfg, 0, sizeof(*cfg));
	cfg->name = "test-churn";
	cfg->duration_ns = MS(3200);
	cfg->workers = 2;
	cfg->algo = &churn_algo;
	cfg->peers = pl->peers;
	cfg->npeers = NPEERS + 2;
	cfg->sources = &pl->src;
	cfg->nsources = 1;
	cfg->seed = seed;
	cfg->log_level = getenv("CHURN_LOG") ? CR_LOG_DEBUG : CR_LOG_WARN;
	cfg->log_dir = getenv("CHURN_LOG");
	cfg->tracker.enabled = true;
	cfg->tracker.addr = t_addr(TRACKER);
	cfg->tracker.reply_peers = 5;
	cfg->tracker.interval_ns = MS(200);
	cfg->tracker.timeout_ns = MS(500);
}

static void run_plan(uint64_t seed)
{
	struct plan pl;
	struct cr_node_config cfg;
	cr_node *n = NULL;
	char err[256];

	memset(seen, 0, sizeof(seen));
	make_plan(&pl, seed, &cfg);
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)), 0);
	if (cr_node_run(n, err, sizeof(err)))
		fail_msg("node: %s", err);
	cr_node_destroy(n);
}

static bool dead_at(int i, int64_t t)
{
	return (i % 2) && t >= MS(2000);
}

static int index_of(const cr_addr *a)
{
	return (int)a->port - (BASE + 2);
}

static void test_schedule(void **state)
{
	(void)state;
	run_plan(5);
	for (int i = 0; i < NPEERS; i++) {
		struct seen *s = &seen[BASE + 2 + i];

		/* born, bootstrapped and joined once, in order, on time */
		assert_int_equal(s->boots, 1);
		assert_int_equal(s->joins, 1);
		assert_true(s->booted_at >= birth_at(i));
		assert_true(s->joined_at >= birth_at(i) + MS(50));
		assert_true(s->joined_at >= s->booted_at);
		if (i % 2) {
			/* left at its time, then died (destroyed once) */
			assert_int_equal(s->leaves, 1);
			assert_true(s->left_at >= MS(1800));
			assert_int_equal(s->destroys, 1);
		} else {
			/* stayed, and left when the source terminated */
			assert_int_equal(s->leaves, 1);
			assert_true(s->left_at >= MS(2600));
			assert_int_equal(s->destroys, 1); /* at the end */
		}
		/* the tracker's answer: members of the session, alive when
		 * asked, never the peer itself */
		assert_true(s->nboot <= 5);
		for (size_t k = 0; k < s->nboot; k++) {
			int j = index_of(&s->boot[k]);
			assert_true(s->boot[k].port != BASE + 2 + i);
			assert_true(s->boot[k].port == SOURCE ||
				    (j >= 0 && j < i));
			if (j >= 0)
				assert_false(dead_at(j, s->booted_at));
		}
		/* data flowed while it was a member */
		(void)s->data;
	}
	/* the later peers found somebody */
	assert_true(seen[BASE + 2 + NPEERS - 1].nboot > 0);
}

/* Every death of a known neighbour reaches peer_departed within a second. */
static void test_departures(void **state)
{
	size_t checked = 0;

	(void)state;
	run_plan(5);
	for (int i = 0; i < NPEERS; i++) {
		struct seen *s = &seen[BASE + 2 + i];
		if (dead_at(i, MS(2600)))
			continue; /* dead itself by then */
		for (size_t k = 0; k < s->nboot; k++) {
			int j = index_of(&s->boot[k]);
			bool found = false;
			if (j < 0 || !(j % 2))
				continue; /* the source, or one that lives */
			for (size_t d = 0; d < s->ndeparted; d++) {
				if (!cr_addr_eq(&s->departed[d], &s->boot[k]))
					continue;
				found = true;
				assert_true(s->departed_at[d] >= MS(2000));
				assert_true(s->departed_at[d] <= MS(3000));
			}
			assert_true(found);
			checked++;
		}
	}
	assert_true(checked > 0);
}

/* A raw client registers for session 1 and then falls silent: peers born
 * after the liveness timeout never hear of it. */
static void *ghost(void *arg)
{
	uint64_t exp_id = *(uint64_t *)arg;
	uint8_t buf[T_HELLO_SIZE + T_HDR_SIZE + 4];
	struct t_hdr h;
	int fd = -1;

	for (int tries = 0; tries < 200 && fd < 0; tries++) {
		fd = t_tcp_connect(TRACKER);
		if (fd < 0)
			usleep(10000);
	}
	if (fd < 0)
		return NULL;
	t_hello(buf, exp_id, GHOST, t_exp_tag(exp_id));
	h = t_hdr_make(3, 4, GHOST, t_exp_tag(exp_id));
	t_hdr_put(buf + T_HELLO_SIZE, &h);
	buf[T_HELLO_SIZE + T_HDR_SIZE] = 0;
	buf[T_HELLO_SIZE + T_HDR_SIZE + 1] = 1; /* session 1 */
	buf[T_HELLO_SIZE + T_HDR_SIZE + 2] = 0;
	buf[T_HELLO_SIZE + T_HDR_SIZE + 3] = 5;
	t_send_all(fd, buf, sizeof(buf));
	/* say nothing more, but keep the connection open */
	sleep(4);
	close(fd);
	return NULL;
}

static void test_tracker_timeout(void **state)
{
	struct plan pl;
	struct cr_node_config cfg;
	cr_node *n = NULL;
	char err[256];
	pthread_t th;
	uint64_t id = cr_node_experiment_id("test-churn");

	(void)state;
	memset(seen, 0, sizeof(seen));
	make_plan(&pl, 5, &cfg);
	cfg.exp_id = id;
	cfg.tracker.reply_peers = 64; /* everyone the tracker knows */
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)), 0);
	assert_int_equal(cr_node_start(n, err, sizeof(err)), 0);
	pthread_create(&th, NULL, ghost, &id);
	while (!cr_node_wait(n, CR_SEC))
		;
	cr_node_join(n);
	cr_node_destroy(n);
	pthread_join(th, NULL);
	int handed = 0;

	for (int i = 0; i < NPEERS; i++) {
		struct seen *s = &seen[BASE + 2 + i];
		for (size_t k = 0; k < s->nboot; k++) {
			if (s->boot[k].port != GHOST)
				continue;
			/* handed out only before it timed out: it registered
			 * near 0 and never reported */
			assert_true(s->booted_at < MS(500) + MS(250));
			handed++;
		}
	}
	/* and it was handed out while it counted as alive: the check
	 * above is not empty */
	assert_true(handed > 0);
}

/* The same seed, the same answers, and the same draws from every peer's
 * generator; each peer draws its own; another seed, other draws. */
static void test_determinism(void **state)
{
	static struct seen first[NPEERS];

	(void)state;
	run_plan(11);
	for (int i = 0; i < NPEERS; i++)
		first[i] = seen[BASE + 2 + i];
	run_plan(11);
	for (int i = 0; i < NPEERS; i++) {
		assert_int_equal(first[i].nboot, seen[BASE + 2 + i].nboot);
		assert_memory_equal(first[i].boot, seen[BASE + 2 + i].boot,
				    first[i].nboot * sizeof(cr_addr));
		assert_int_equal(first[i].boots, 1);
		assert_true(first[i].draw == seen[BASE + 2 + i].draw);
		for (int k = 0; k < i; k++)
			assert_true(first[i].draw != first[k].draw);
	}
	run_plan(12);
	for (int i = 0; i < NPEERS; i++)
		assert_true(first[i].draw != seen[BASE + 2 + i].draw);
}

/* A node runs only its own peers: one whose IP belongs to another host
 * (192.0.2.1, a documentation address no host here has) is known but never
 * born here; with none of its own, a node refuses to start. */
static void test_local_only(void **state)
{
	struct cr_node_peer peers[3] = {0};
	struct cr_node_config cfg = {0};
	struct cr_node_result r;
	cr_node *n = NULL;
	char err[256];
	cr_addr far;

	(void)state;
	memset(seen, 0, sizeof(seen));
	assert_int_equal(cr_addr_parse(&far, "192.0.2.1:9000"), 0);
	assert_false(cr_node_ip_is_local(&far));
	assert_true(cr_node_ip_is_local(&(cr_addr){.family = 4,
						    .ip = {127, 3, 2, 1}}));
	peers[0].addr = t_addr(BASE + 50);
	peers[1].addr = far;
	peers[1].remote = true;
	peers[2].addr = t_addr(BASE + 51);
	cfg.name = "test-local";
	cfg.duration_ns = MS(300);
	cfg.workers = 2;
	cfg.algo = &churn_algo;
	cfg.peers = peers;
	cfg.npeers = 3;
	cfg.log_level = CR_LOG_WARN;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)), 0);
	assert_int_equal(cr_node_run(n, err, sizeof(err)), 0);
	cr_node_result(n, &r);
	assert_int_equal(r.peers, 2);
	assert_int_equal(r.births, 2);
	assert_int_equal(seen[BASE + 50].boots, 1);
	assert_int_equal(seen[BASE + 51].boots, 1);
	assert_int_equal(seen[9000].boots, 0);
	cr_node_destroy(n);

	peers[0].remote = peers[2].remote = true;
	assert_int_not_equal(cr_node_create(&cfg, &n, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "IP address of this host"));
}

/* The whole path from files: an experiment file and its events file are
 * read, planned and run; every birth, join, leave and death of the file
 * happens, and the tracker probes (active liveness). */
static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_from_files(void **state)
{
	char dir[256], exp_path[300], ev_path[300], err[1024];
	struct cr_experiment e;
	struct cr_plan pl;
	cr_node *n = NULL;
	struct cr_node_result r;

	(void)state;
	memset(seen, 0, sizeof(seen));
	assert_int_equal(t_mkdtemp(dir, sizeof(dir)), 0);
	snprintf(exp_path, sizeof(exp_path), "%s/x.ini", dir);
	snprintf(ev_path, sizeof(ev_path), "%s/x.events", dir);
	write_file(exp_path, "[experiment]\n"
			     "name = files\n"
			     "duration = 2s\n"
			     "events = x.events\n"
			     "[class src]\n"
			     "count = 1\n"
			     "addresses = 127.0.0.1:27200\n"
			     "[class peers]\n"
			     "count = 4\n"
			     "addresses = 127.0.0.1:27201-27204\n"
			     "[session 1]\n"
			     "source = 127.0.0.1:27200\n"
			     "rate = 20KB/s\n"
			     "message_size = 500\n"
			     "[tracker]\n"
			     "mode = inproc\n"
			     "address = 127.0.0.1:27199\n"
			     "liveness = probe\n"
			     "interval = 100ms\n"
			     "timeout = 300ms\n");
	write_file(ev_path, "0     127.0.0.1:27200 birth\n"
			    "0     127.0.0.1:27200 deploy session=1\n"
			    "0.1   127.0.0.1:27201 birth\n"
			    "0.15  127.0.0.1:27201 join session=1\n"
			    "0.2   127.0.0.1:27202 birth\n"
			    "0.25  127.0.0.1:27202 join session=1\n"
			    "0.6   127.0.0.1:27203 birth\n"
			    "0.65  127.0.0.1:27203 join session=1\n"
			    "0.8   127.0.0.1:27202 leave session=1\n"
			    "0.9   127.0.0.1:27202 die\n"
			    "1.5   127.0.0.1:27204 birth\n"
			    "1.55  127.0.0.1:27204 join session=1\n");
	if (cr_experiment_load(exp_path, &e, err, sizeof(err)))
		fail_msg("%s", err);
	if (cr_plan_build(&pl, &e, &churn_algo, NULL, 0, err, sizeof(err)))
		fail_msg("%s", err);
	pl.cfg.workers = 2;
	pl.cfg.log_level = CR_LOG_WARN;
	assert_int_equal(cr_node_create(&pl.cfg, &n, err, sizeof(err)), 0);
	assert_int_equal(cr_node_run(n, err, sizeof(err)), 0);
	cr_node_result(n, &r);
	/* the tracker (one more birth), the source and four peers */
	assert_int_equal(r.births, 6);
	assert_int_equal(r.deaths, 1);
	for (int port = 27201; port <= 27204; port++) {
		assert_int_equal(seen[port].boots, 1);
		assert_int_equal(seen[port].joins, 1);
	}
	assert_int_equal(seen[27202].leaves, 1);
	/* the last peer is never told of the one that died before it came,
	 * nor of itself */
	for (size_t k = 0; k < seen[27204].nboot; k++) {
		assert_int_not_equal(seen[27204].boot[k].port, 27202);
		assert_int_not_equal(seen[27204].boot[k].port, 27204);
	}
	assert_true(seen[27204].nboot >= 2); /* the source and 27201/3 */
	cr_node_destroy(n);
	cr_plan_free(&pl);
	cr_experiment_free(&e);
	t_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_files),
		cmocka_unit_test(test_local_only),
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_departures),
		cmocka_unit_test(test_tracker_timeout),
		cmocka_unit_test(test_determinism),
	};

	return cmocka_run_group_tests_name("peer dynamics and tracker", tests,
					   NULL, NULL);
}
