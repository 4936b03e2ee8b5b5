/* A run spanning hosts, with real processes of $BUILD/crystal in three
 * network namespaces joined by a bridge (scripts/netns-hosts.sh, made and
 * removed here; run from the root namespace, as root: elsewhere the tests
 * are skipped).  Every node is started with the same command, as srun
 * starts its tasks, each in its own namespace: 10.79.0.1 (the source and
 * the coordinator), 10.79.0.2 and 10.79.0.3, two chains of relays through
 * all three.
 *   - the three start together: exit 0, one run id, three nodes, the
 *     coordinator's address, time 0 at one instant (the nodes' start
 *     instants within their measured uncertainty, and a margin for a
 *     loaded machine's wake-ups), no host lost, and the stream crosses
 *     both hops to the last node's peers;
 *   - with one node never started, the others exit 2 at the barrier
 *     timeout naming its IP, leaving run directories without summary.json
 *     and with not-started.txt;
 *   - SIGKILL of the middle node: the others finish with status 0,
 *     hosts_lost names it at about the time it died, and each peer that
 *     streamed from it heard it depart exactly once;
 *   - a node frozen (SIGSTOP) is lost after three silent seconds: the
 *     others are told, and its neighbours hear its peers depart once,
 *     through the coordinator's LOST, although their connections stayed
 *     up;
 *   - SIGINT to one node stops all three, each with status 130 and a
 *     complete summary.json marked interrupted;
 *   - garbage, an oversized frame, a wrong experiment id, IPs outside the
 *     plan or already claimed, a second HELLO on the coordinator's port
 *     are refused, each on its own connection, and the run goes on, with
 *     its last node come 3.5 s after the others and no node lost.
 */
#include "support.h"
#include "../src/engine/node.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#define NODES 3
#define NET "10.79.0"
#define SEED 7

static char crystal[512];
static char bindir[64];
static char dir[64];
static char prefix[32];
static bool have_hosts;

static int group_setup(void **state)
{
	char built[512];

	snprintf(built, sizeof(built), "%s/crystal", t_build_dir());
	if (access(built, X_OK)) {
		fprintf(stderr, "no %s: build it first (make)\n", built);
		return -1;
	}
	if (t_mkdtemp(bindir, sizeof(bindir)))
		return -1;
	snprintf(crystal, sizeof(crystal), "%s/crystal", bindir);
	char *cp[] = {"cp", built, crystal, NULL};
	if (t_run(cp, 30000, NULL, NULL))
		return -1;
	snprintf(prefix, sizeof(prefix), "crh%d-", (int)getpid());
	if (geteuid() != 0)
		return 0; /* no namespaces: every test is skipped */
	char *up[] = {"sh", "scripts/netns-hosts.sh", "up", prefix, "3", NET,
		      NULL};
	char *se = NULL;
	int rc = t_run(up, 30000, NULL, &se);
	if (rc)
		fprintf(stderr, "no namespaces (%d): %s\n", rc, se ? se : "");
	free(se);
	have_hosts = rc == 0;
	return 0;
}

static int group_teardown(void **state)
{
	char *down[] = {"sh", "scripts/netns-hosts.sh", "down", prefix, NULL};

	if (have_hosts)
		t_run(down, 30000, NULL, NULL);
	t_rm_rf(bindir);
	return 0;
}

/* The experiment: the source on host 0, two chains of relays through
 * hosts 1 and 2, a stream of 200 KB/s. */
static int setup(void **state)
{
	char path[160];
	FILE *f;

	if (!have_hosts)
		return 0;
	if (t_mkdtemp(dir, sizeof(dir)))
		return -1;
	snprintf(path, sizeof(path), "%s/hosts.ini", dir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "[experiment]\nname = hosts\nduration = 30s\nseed = %d\n"
		   "algorithm = relay\ntopology = hosts.topology\n"
		   "[class source]\ncount = 1\naddresses = " NET ".1:20000\n"
		   "[class h1]\ncount = 2\naddresses = " NET ".2:20001-20002\n"
		   "[class h2]\ncount = 2\naddresses = " NET ".3:20001-20002\n"
		   "[session 1]\nsource = " NET ".1:20000\nrate = 200KB/s\n"
		   "message_size = 1KiB\n",
		SEED);
	if (fclose(f))
		return -1;
	snprintf(path, sizeof(path), "%s/hosts.topology", dir);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(NET ".1:20000 " NET ".2:20001 " NET ".2:20002\n" NET
		  ".2:20001 " NET ".3:20001\n" NET ".2:20002 " NET ".3:20002\n",
	      f);
	return fclose(f) ? -1 : 0;
}

static int teardown(void **state)
{
	if (have_hosts)
		t_rm_rf(dir);
	return 0;
}

#define NEED_HOSTS()                                                           \
	do {                                                                   \
		if (!have_hosts)                                               \
			skip();                                                \
	} while (0)

/* --- the nodes ------------------------------------------------------------- */

struct node {
	pid_t pid;
	char err[160]; /* its stderr */
	char out[160]; /* its run directory */
};

/* Starts node i (in namespace i) with the same command as every node:
 * `crystal run hosts.ini --out DIR/run --quiet` and the extra arguments,
 * each a string, up to NULL. */
static void start_node(struct node *n, int i, ...)
{
	char ns[48], ini[160], out[160], out_path[160];
	char *argv[24] = {"ip", "netns", "exec", ns, crystal, "run", ini,
			  "--out", out, "--quiet"};
	int k = 10;
	va_list ap;

	snprintf(ns, sizeof(ns), "%s%d", prefix, i);
	snprintf(ini, sizeof(ini), "%s/hosts.ini", dir);
	snprintf(out, sizeof(out), "%s/run", dir);
	va_start(ap, i);
	for (char *a; (a = va_arg(ap, char *)) && k < 23;)
		argv[k++] = a;
	va_end(ap);
	argv[k] = NULL;
	snprintf(n->err, sizeof(n->err), "%s/node%d.err", dir, i);
	snprintf(out_path, sizeof(out_path), "%s/node%d.out", dir, i);
	snprintf(n->out, sizeof(n->out), "%s/run/" NET ".%d", dir, i + 1);
	n->pid = t_spawn(argv, out_path, n->err);
	assert_true(n->pid > 0);
}

/* Waits for a node's exit status; fails naming its stderr. */
static void expect_exit(struct node *n, int status, int timeout_ms)
{
	int rc = t_wait(n->pid, timeout_ms);
	char *err;

	n->pid = 0;
	if (rc == status)
		return;
	err = t_slurp(n->err);
	fail_msg("%s: exit status %d, expected %d; stderr:\n%s", n->out, rc,
		 status, err ? err : "");
}

static json_t *summary(const struct node *n)
{
	char path[200];
	json_error_t e;
	json_t *j;

	snprintf(path, sizeof(path), "%s/summary.json", n->out);
	j = json_load_file(path, 0, &e);
	if (!j)
		fail_msg("%s: %s", path, e.text);
	return j;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Lines of node n's worker logs that contain text. */
static int log_count(const struct node *n, const char *text)
{
	int count = 0;

	for (int w = 0; w < 16; w++) {
		char path[200];
		char *log;

		snprintf(path, sizeof(path), "%s/worker-%d.log", n->out, w);
		log = t_slurp(path);
		if (!log)
			continue;
		for (char *p = log; (p = strstr(p, text)); p++)
			count++;
		free(log);
	}
	return count;
}

/* The summary's hosts_lost: exactly one, node `who`, lost between lo and
 * hi seconds. */
static void expect_lost(const struct node *n, const char *who, double lo,
			double hi)
{
	json_t *s = summary(n), *lost = json_object_get(s, "hosts_lost");
	json_t *l = json_array_get(lost, 0);
	double at;

	if (json_array_size(lost) != 1)
		fail_msg("%s: hosts_lost has %zu entries, expected 1", n->out,
			 json_array_size(lost));
	assert_string_equal(json_string_value(json_object_get(l, "node")), who);
	assert_non_null(json_string_value(json_object_get(l, "host")));
	at = json_number_value(json_object_get(l, "at_s"));
	if (at < lo || at > hi)
		fail_msg("%s: %s lost at %.3f s, expected %g..%g s", n->out,
			 who, at, lo, hi);
	json_decref(s);
}

/* --- the tests ------------------------------------------------------------- */

static void three_nodes_start_together_and_stream(void **state)
{
	struct node n[NODES];
	json_t *s[NODES];
	int64_t start0;
	double unc0;

	NEED_HOSTS();
	for (int i = 0; i < NODES; i++)
		start_node(&n[i], i, "--duration", "3", NULL);
	for (int i = 0; i < NODES; i++)
		expect_exit(&n[i], 0, 60000);
	for (int i = 0; i < NODES; i++) {
		char id[16];
		s[i] = summary(&n[i]);
		snprintf(id, sizeof(id), NET ".%d", i + 1);
		assert_string_equal(
			json_string_value(json_object_get(s[i], "node")), id);
		assert_int_equal(json_integer_value(json_object_get(s[i], "nodes")),
				 NODES);
		assert_string_equal(json_string_value(
					    json_object_get(s[i], "coordinator")),
				    NET ".1:19990");
		assert_int_equal(strlen(json_string_value(
					 json_object_get(s[i], "run_id"))),
				 16);
		assert_string_equal(
			json_string_value(json_object_get(s[i], "run_id")),
			json_string_value(json_object_get(s[0], "run_id")));
		assert_int_equal(
			json_array_size(json_object_get(s[i], "hosts_lost")), 0);
		assert_false(json_is_true(json_object_get(s[i], "interrupted")));
	}
	/* the coordinator's own clock: 0 and 0 */
	json_t *c0 = json_object_get(s[0], "clock");
	assert_true(json_number_value(json_object_get(c0, "offset_us")) == 0);
	assert_true(json_number_value(json_object_get(c0, "uncertainty_us")) ==
		    0);
	/* time 0 at one instant: within the uncertainties, and 50 ms for
	 * a busy machine's wake-up (benchmarks measure it; here it is only
	 * the same start) */
	start0 = json_integer_value(json_object_get(s[0], "start_unix_ns"));
	unc0 = 0;
	assert_true(start0 > 0);
	for (int i = 1; i < NODES; i++) {
		json_t *c = json_object_get(s[i], "clock");
		double unc = json_number_value(
			json_object_get(c, "uncertainty_us"));
		int64_t d = json_integer_value(json_object_get(
				    s[i], "start_unix_ns")) -
			    start0;
		assert_true(unc >= 0);
		if (llabs(d) > (int64_t)((unc + unc0) * 1000) + 50000000)
			fail_msg("node %d started %lld ns from the coordinator",
				 i, (long long)d);
	}
	/* bytes crossed both hops: the last node's peers received */
	struct t_csv csv;
	char path[200];
	snprintf(path, sizeof(path), "%s/peers-final.csv", n[2].out);
	assert_int_equal(t_csv_load(&csv, path), 0);
	assert_int_equal(t_csv_rows(&csv), 2);
	for (size_t r = 0; r < 2; r++)
		if (!(t_csv_num(&csv, r, "data_bytes_in") > 100000))
			fail_msg("peer %zu of the last node received %.0f bytes",
				 r, t_csv_num(&csv, r, "data_bytes_in"));
	t_csv_free(&csv);
	for (int i = 0; i < NODES; i++)
		json_decref(s[i]);
}

static void barrier_timeout_names_the_missing_node(void **state)
{
	struct node n[2];
	char path[200], *err;

	NEED_HOSTS();
	for (int i = 0; i < 2; i++)
		start_node(&n[i], i, "--barrier-timeout", "2", NULL);
	for (int i = 0; i < 2; i++) {
		expect_exit(&n[i], 2, 30000);
		err = t_slurp(n[i].err);
		assert_non_null(err);
		if (!strstr(err, "did not start") ||
		    !strstr(err, "for " NET ".3"))
			fail_msg("node %d does not name " NET ".3:\n%s", i, err);
		free(err);
		snprintf(path, sizeof(path), "%s/summary.json", n[i].out);
		assert_false(t_exists(path));
		snprintf(path, sizeof(path), "%s/not-started.txt", n[i].out);
		assert_true(t_exists(path));
	}
}

static void a_killed_node_is_lost_and_departs_once(void **state)
{
	struct node n[NODES];

	NEED_HOSTS();
	for (int i = 0; i < NODES; i++)
		start_node(&n[i], i, "--duration", "6", NULL);
	sleep_ms(3000); /* about 1.5 s into the run, after the barrier */
	assert_int_equal(kill(n[1].pid, SIGKILL), 0);
	expect_exit(&n[1], 128 + SIGKILL, 10000);
	expect_exit(&n[0], 0, 30000);
	expect_exit(&n[2], 0, 30000);
	expect_lost(&n[0], NET ".2", 0.2, 5.5);
	expect_lost(&n[2], NET ".2", 0.2, 5.5);
	/* the tails streamed from it: each heard its upstream go, once */
	assert_int_equal(log_count(&n[2], "neighbour " NET ".2:20001 lost"), 1);
	assert_int_equal(log_count(&n[2], "neighbour " NET ".2:20002 lost"), 1);
}

static void a_frozen_node_is_lost_after_silence(void **state)
{
	struct node n[NODES];

	NEED_HOSTS();
	for (int i = 0; i < NODES; i++)
		start_node(&n[i], i, "--duration", "8", NULL);
	sleep_ms(2500);
	/* its sockets stay open: only the silence tells */
	assert_int_equal(kill(n[1].pid, SIGSTOP), 0);
	expect_exit(&n[0], 0, 40000);
	expect_exit(&n[2], 0, 40000);
	kill(n[1].pid, SIGKILL);
	expect_exit(&n[1], 128 + SIGKILL, 10000);
	/* frozen at about 1 s, silent for 3 s: lost at about 4 s */
	expect_lost(&n[0], NET ".2", 2.5, 7.9);
	expect_lost(&n[2], NET ".2", 2.5, 7.9);
	assert_int_equal(log_count(&n[2], "neighbour " NET ".2:20001 lost"), 1);
	assert_int_equal(log_count(&n[2], "neighbour " NET ".2:20002 lost"), 1);
}

static void sigint_to_one_node_stops_all(void **state)
{
	struct node n[NODES];

	NEED_HOSTS();
	for (int i = 0; i < NODES; i++)
		start_node(&n[i], i, NULL); /* the file's 30 s */
	sleep_ms(3000);
	assert_int_equal(kill(n[2].pid, SIGINT), 0);
	for (int i = 0; i < NODES; i++)
		expect_exit(&n[i], 130, 20000);
	for (int i = 0; i < NODES; i++) {
		json_t *s = summary(&n[i]);
		assert_true(json_is_true(json_object_get(s, "interrupted")));
		assert_true(json_is_true(json_object_get(s, "complete")));
		assert_true(json_number_value(json_object_get(s, "duration_s")) <
			    20);
		assert_int_equal(
			json_array_size(json_object_get(s, "hosts_lost")), 0);
		json_decref(s);
	}
}

/* --- the coordinator's port, by hand ---------------------------------------- */

/* A connection to the coordinator from inside the namespace the caller
 * entered, retried for up to 10 s (the coordinator may not listen yet). */
static int coord_connect(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(19990)};
	struct timeval tv = {10, 0};

	inet_pton(AF_INET, NET ".1", &sa.sin_addr);
	for (int tries = 0; tries < 100; tries++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return -1;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			return fd;
		close(fd);
		sleep_ms(100);
	}
	return -1;
}

/* A HELLO encoded by hand (docs/wire-format.md#control-connection). */
static size_t hello(uint8_t *b, uint64_t exp_id, const char *identity)
{
	size_t n = 4, il = strlen(identity);

	b[n++] = 1; /* version */
	t_put64(b + n, exp_id);
	n += 8;
	memset(b + n, 0, 8); /* pid, peers */
	n += 8;
	b[n++] = (uint8_t)(il >> 8);
	b[n++] = (uint8_t)il;
	memcpy(b + n, identity, il);
	n += il;
	b[n++] = 0;
	b[n++] = 5;
	memcpy(b + n, "probe", 5);
	n += 5;
	b[0] = 1; /* HELLO */
	b[1] = 0;
	b[2] = (uint8_t)((n - 4) >> 8);
	b[3] = (uint8_t)(n - 4);
	return n;
}

/* Sends what, then reads until the coordinator closes: 0 when it did, and
 * (when want is not NULL) it first answered REFUSE with want in its
 * text. */
static int refused(const void *what, size_t len, const char *want)
{
	uint8_t got[4096];
	size_t n = 0;
	int fd = coord_connect();

	if (fd < 0 || t_send_all(fd, what, len))
		return 1;
	if (t_read_until_closed(fd, got, sizeof(got) - 1, &n))
		return 2;
	close(fd);
	got[n] = 0;
	if (!want)
		return 0;
	if (n < 6 || got[0] != 3)
		return 3;
	return strstr((const char *)got + 6, want) ? 0 : 4;
}

/* The probe, in host 1's namespace: each malformed or unwelcome greeting
 * gets its own connection closed; 0, or which one was not. */
static int probe(uint64_t exp_id)
{
	static const uint8_t big[4] = {1, 0, 0xff, 0xff};
	static const char junk[] = "GET / HTTP/1.0\r\n\r\n";
	uint8_t b[512];
	char ns[80];
	int fd;

	snprintf(ns, sizeof(ns), "/run/netns/%s1", prefix);
	fd = open(ns, O_RDONLY);
	if (fd < 0 || setns(fd, CLONE_NEWNET))
		return 10;
	if (refused(junk, sizeof(junk) - 1, NULL))
		return 11;
	if (refused(big, sizeof(big), NULL))
		return 12;
	if (refused(b, hello(b, exp_id ^ 1, NET ".2"), "experiment id"))
		return 13;
	if (refused(b, hello(b, exp_id, NET ".9"), "no IP of the experiment"))
		return 14;
	if (refused(b, hello(b, exp_id, "10.79.0.2;rm"), "not a list of IPs"))
		return 15;
	/* the coordinator's own node said hello long ago */
	sleep_ms(500);
	if (refused(b, hello(b, exp_id, NET ".1"), "already node"))
		return 16;
	return 0;
}

static void garbage_on_the_coordinators_port_is_refused(void **state)
{
	char idtext[64];
	struct node n[NODES];
	uint64_t exp_id;
	pid_t child;
	int rc;

	NEED_HOSTS();
	snprintf(idtext, sizeof(idtext), "experiment hosts %d", SEED);
	exp_id = cr_node_experiment_id(idtext);
	start_node(&n[0], 0, "--duration", "2", NULL);
	start_node(&n[1], 1, "--duration", "2", NULL);
	child = fork();
	assert_true(child >= 0);
	if (!child)
		_exit(probe(exp_id));
	rc = t_wait(child, 30000);
	if (rc)
		fail_msg("probe %d was not refused as it should be", rc);
	/* the third node comes last, more than the 3 s of silence that
	 * loses a node after the start: the others waited without
	 * heartbeats, and the run starts and ends as ever, losing none */
	sleep_ms(3500);
	start_node(&n[2], 2, "--duration", "2", NULL);
	for (int i = 0; i < NODES; i++)
		expect_exit(&n[i], 0, 60000);
	for (int i = 0; i < NODES; i++) {
		json_t *s = summary(&n[i]);
		assert_int_equal(json_integer_value(json_object_get(s, "nodes")),
				 NODES);
		assert_int_equal(
			json_array_size(json_object_get(s, "hosts_lost")), 0);
		json_decref(s);
	}
	char *err = t_slurp(n[0].err);
	assert_non_null(err);
	assert_non_null(strstr(err, "not a control frame"));
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		three_nodes_start_together_and_stream, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		barrier_timeout_names_the_missing_node, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		a_killed_node_is_lost_and_departs_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_frozen_node_is_lost_after_silence,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(sigint_to_one_node_stops_all, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		garbage_on_the_coordinators_port_is_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
