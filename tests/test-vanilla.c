/* The vanilla pull mesh (algorithms/vanilla.c) on loopback, from an
 * experiment file and an events file:
 *
 * - one source (10 MB/s up) and 20 peers (1 MB/s up) born in the first
 *   second, a 64 KB/s stream in 1 s segments of 1 KiB messages: every peer
 *   plays, with a continuity of at least 0.99 from its first due segment;
 * - the same with 20 KB/s peer uploads (a source of 100 KB/s): the mesh
 *   cannot carry the stream and continuity falls well below;
 * - parameters out of range, or not of their type, refuse the run;
 * - a source that no peer is ever told of (the tracker was not up when it
 *   registered) finds the mesh by asking the tracker (cr_tracker_query),
 *   and every peer plays;
 *
 * The counts are what each peer's playback buffer reported to the engine
 * (cr_report_playback), read back from the node's results.
 */
#include "../src/engine/engine.h"
#include "../src/scenario/plan.h"
#include "support.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#define TRACKER 29000
#define SOURCE	29001
#define FIRST	29002
#define NPEERS	20

extern const cr_algorithm cr_vanilla_algorithm;

static struct cr__peer_stats got[65536];
static struct cr_node_result res;

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* Runs the experiment with the given uploads; fills got[] and returns
 * the lowest and the mean continuity over the 20 peers. */
static void run(const char *src_up, const char *peer_up, bool all_play,
		double *min_c, double *mean_c)
{
	char dir[256], exp_path[300], ev_path[300], err[1024];
	char ini[2048], events[4096];
	struct cr_experiment e;
	struct cr_plan pl;
	cr_node *n = NULL;
	size_t off;
	double sum = 0;
	bool keep = getenv("VANILLA_LOGS") != NULL;

	memset(got, 0, sizeof(got));
	assert_int_equal(t_mkdtemp(dir, sizeof(dir)), 0);
	snprintf(exp_path, sizeof(exp_path), "%s/v.ini", dir);
	snprintf(ev_path, sizeof(ev_path), "%s/v.events", dir);
	snprintf(ini, sizeof(ini),
		 "[experiment]\n"
		 "name = vanilla\n"
		 "duration = 12s\n"
		 "events = v.events\n"
		 "algorithm = vanilla\n"
		 "[algorithm]\n"
		 "startup_ms = 2000\n"
		 "[class src]\n"
		 "count = 1\n"
		 "addresses = 127.0.0.1:%d\n"
		 "upload = %s\n"
		 "[class peers]\n"
		 "count = %d\n"
		 "addresses = 127.0.0.1:%d-%d\n"
		 "upload = %s\n"
		 "[session 1]\n"
		 "source = 127.0.0.1:%d\n"
		 "rate = 64KB/s\n"
		 "message_size = 1KiB\n"
		 "segment = 1s\n"
		 "[tracker]\n"
		 "mode = inproc\n"
		 "address = 127.0.0.1:%d\n",
		 SOURCE, src_up, NPEERS, FIRST, FIRST + NPEERS - 1, peer_up,
		 SOURCE, TRACKER);
	write_file(exp_path, ini);
	off = (size_t)snprintf(events, sizeof(events),
			       "0 127.0.0.1:%d birth\n"
			       "0 127.0.0.1:%d deploy session=1\n",
			       SOURCE, SOURCE);
	for (int i = 0; i < NPEERS; i++) {
		double t = 0.05 + 0.045 * i;
		off += (size_t)snprintf(events + off, sizeof(events) - off,
					"%.3f 127.0.0.1:%d birth\n"
					"%.3f 127.0.0.1:%d join session=1\n",
					t, FIRST + i, t + 0.01, FIRST + i);
	}
	write_file(ev_path, events);
	if (cr_experiment_load(exp_path, &e, err, sizeof(err)))
		fail_msg("%s", err);
	if (cr_plan_build(&pl, &e, &cr_vanilla_algorithm, NULL, 0, err,
			  sizeof(err)))
		fail_msg("%s", err);
	pl.cfg.workers = 2;
	pl.cfg.log_level = CR_LOG_WARN;
	if (keep) { /* VANILLA_LOGS=1: the peers' logs, kept */
		pl.cfg.log_dir = dir;
		pl.cfg.log_level = CR_LOG_DEBUG;
		print_message("logs in %s\n", dir);
	}
	assert_int_equal(cr_node_create(&pl.cfg, &n, err, sizeof(err)), 0);
	if (cr_node_run(n, err, sizeof(err)))
		fail_msg("%s", err);
	cr_node_result(n, &res);
	/* peers by the experiment's order: the source class, then these */
	for (int i = 0; i < NPEERS; i++)
		got[FIRST + i] = *cr_node_peer_stats(n, 1 + (size_t)i);
	cr_node_destroy(n);
	cr_plan_free(&pl);
	cr_experiment_free(&e);
	if (!keep)
		t_rm_rf(dir);

	*min_c = 1;
	for (int i = 0; i < NPEERS; i++) {
		const struct cr__peer_stats *g = &got[FIRST + i];
		uint64_t due = g->play.played + g->play.missed;
		double c;

		if (!g->play_reported && all_play)
			fail_msg("peer %d never started playback", FIRST + i);
		if (all_play) /* ~9 s of playback after the startup */
			assert_true(due >= 5);
		c = due ? (double)g->play.played / (double)due : 0.0;
		print_message("  peer %d: played %llu missed %llu continuity "
			      "%.3f\n",
			      FIRST + i, (unsigned long long)g->play.played,
			      (unsigned long long)g->play.missed, c);
		sum += c;
		if (c < *min_c)
			*min_c = c;
	}
	*mean_c = sum / NPEERS;
}

static void test_enough_upload(void **state)
{
	double min_c, mean_c;

	(void)state;
	run("10MB/s", "1MB/s", true, &min_c, &mean_c);
	print_message("enough upload: continuity min %.3f mean %.3f\n", min_c,
		      mean_c);
	for (int i = 0; i < NPEERS; i++)
		assert_true(got[FIRST + i].play.played > 0);
	assert_true(min_c >= 0.99);
	/* the run's summary says the same */
	assert_int_equal(res.continuity.n, NPEERS);
	assert_true(res.continuity.min >= 0.99);
	assert_true(res.startup_delay_s.n == NPEERS &&
		    res.startup_delay_s.min >= 2.0);
}

static void test_starved(void **state)
{
	double min_c, mean_c;

	(void)state;
	run("100KB/s", "20KB/s", false, &min_c, &mean_c);
	print_message("starved: continuity min %.3f mean %.3f\n", min_c,
		      mean_c);
	assert_true(mean_c < 0.8);
	assert_true(res.continuity.mean < 0.8);
}

/* The example kept in examples/vanilla-50.ini, run as a user runs it:
 * 50 peers with ample bandwidth for 20 s; every peer plays, and the
 * continuity over peers is at least 0.99. */
static void test_example_50(void **state)
{
	char dir[64], out[128], path[1100], ini[1024], crystal[512];
	char *so = NULL, *se = NULL, *csv, *line;
	json_t *root, *c;
	json_error_t jerr;
	int rc, peers = 0;

	snprintf(crystal, sizeof(crystal), "%s/crystal", t_build_dir());
	snprintf(ini, sizeof(ini), "%s/examples/vanilla-50.ini", t_src_dir());
	assert_int_equal(t_mkdtemp(dir, sizeof(dir)), 0);
	snprintf(out, sizeof(out), "%s/run", dir);
	char *argv[] = {crystal, "run", ini, "--out", out, "--quiet", NULL};
	rc = t_run(argv, 120000, &so, &se);
	if (rc)
		fail_msg("crystal run exited %d: %s", rc, se ? se : "");
	snprintf(path, sizeof(path), "%s/summary.json", out);
	root = json_load_file(path, 0, &jerr);
	if (!root)
		fail_msg("%s: %s", path, jerr.text);
	c = json_object_get(root, "continuity");
	assert_non_null(c);
	print_message("vanilla-50: continuity mean %.4f over %lld peers\n",
		      json_number_value(json_object_get(c, "mean")),
		      (long long)json_integer_value(json_object_get(c, "peers")));
	assert_true(json_number_value(json_object_get(c, "mean")) >= 0.99);
	json_decref(root);
	/* every receiver played */
	snprintf(path, sizeof(path), "%s/peers-final.csv", out);
	csv = t_slurp(path);
	assert_non_null(csv);
	strtok(csv, "\n"); /* the header */
	while ((line = strtok(NULL, "\n"))) {
		char peer[64], cls[32];
		unsigned long long played;
		/* peer,class,session,alive_s,data_in,data_out,ctrl_in,ctrl_out,
		 * rate_Bps,played,... */
		if (sscanf(line, "%63[^,],%31[^,],%*[^,],%*[^,],%*[^,],%*[^,],"
				 "%*[^,],%*[^,],%*[^,],%llu",
			   peer, cls, &played) != 3)
			fail_msg("peers-final.csv: cannot read \"%s\"", line);
		if (!strcmp(cls, "source"))
			continue;
		if (!played)
			fail_msg("peer %s played nothing", peer);
		peers++;
	}
	assert_int_equal(peers, 50);
	free(csv);
	free(so);
	free(se);
	t_rm_rf(dir);
}

/* Peer i's value of `name` (cr_report_value); fails when it has none. */
static double peer_value(const cr_node *n, size_t i, const char *name)
{
	const struct cr__peer_stats *st = cr_node_peer_stats(n, i);

	for (uint32_t k = 0; k < n->nvalues; k++)
		if (!strcmp(n->value_names[k], name) &&
		    st->values_set & 1u << k)
			return st->values[k];
	fail_msg("peer %zu reported no %s", i, name);
	return 0;
}

/* The tracker comes up a second after the source: the source's
 * registration finds nobody to answer it, so the tracker never knows it,
 * never names it to a peer, and no peer ever contacts it.  Only its own
 * queries (below neighbours_min, every tracker_interval_ms) can bring it
 * neighbours; without them no data would leave it. */
static void test_source_asks_tracker(void **state)
{
	struct cr_node_peer peers[12] = {0};
	struct cr_node_event ev[12][2];
	struct cr__source_cfg src = {0};
	struct cr_node_config cfg = {0};
	struct cr_node_result r;
	cr_node *n = NULL;
	char err[256];

	(void)state;
	peers[0].addr = t_addr(29101); /* the source: born at 0, session 1 */
	peers[0].session = 1;
	peers[0].class_name = "source";
	for (int i = 1; i <= 10; i++) {
		peers[i].addr = t_addr((uint16_t)(29101 + i));
		ev[i][0] = (struct cr_node_event){1500 * CR_MS, CR_NEV_BIRTH, 0,
						  0};
		ev[i][1] = (struct cr_node_event){1510 * CR_MS, CR_NEV_JOIN, 1,
						  0};
		peers[i].events = ev[i];
		peers[i].nevents = 2;
	}
	peers[11].addr = t_addr(29100);
	peers[11].is_tracker = true;
	ev[11][0] = (struct cr_node_event){1000 * CR_MS, CR_NEV_BIRTH, 0, 0};
	peers[11].events = ev[11];
	peers[11].nevents = 1;
	src.peer_index = 0;
	src.session = 1;
	src.msg_size = 1024;
	src.rate_Bps = 64000;
	cfg.name = "vanilla-query";
	cfg.duration_ns = 12 * CR_SEC;
	cfg.workers = 2;
	cfg.algo = &cr_vanilla_algorithm;
	cfg.peers = peers;
	cfg.npeers = 12;
	cfg.sources = &src;
	cfg.nsources = 1;
	cfg.log_level = CR_LOG_ERROR;
	cfg.tracker.enabled = true;
	cfg.tracker.addr = t_addr(29100);
	cfg.tracker.reply_peers = 20;
	cfg.tracker.interval_ns = 5 * CR_SEC;
	cfg.tracker.timeout_ns = 15 * CR_SEC;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)), 0);
	if (cr_node_run(n, err, sizeof(err)))
		fail_msg("%s", err);
	cr_node_result(n, &r);
	/* the source asked, and took neighbours from an answer */
	assert_true(peer_value(n, 0, "tracker_queries") >= 1);
	assert_true(peer_value(n, 0, "neighbours_replaced") >= 1);
	/* and the stream reached every peer */
	assert_int_equal(r.continuity.n, 10);
	assert_true(r.continuity.min > 0);
	print_message("source found by its queries: continuity min %.3f mean "
		      "%.3f\n",
		      r.continuity.min, r.continuity.mean);
	cr_node_destroy(n);
}

/* Vanilla's parameters are typed: a value out of range, or not of its
 * type, refuses the run before any peer starts, naming the parameter and
 * what it takes; a duration takes a unit. */
static void test_bad_parameters(void **state)
{
	static const struct cr_node_param bad[][1] = {
		{{"window", "0"}},
		{{"neighbours_max", "65"}},
		{{"startup_ms", "soon"}},
		{{"playout_delay_ms", "-1"}},
	};
	static const char *const says[] = {
		"window' of algorithm 'vanilla' is a whole number from 2 to 4096",
		"neighbours_max' of algorithm 'vanilla' is a whole number",
		"startup_ms' of algorithm 'vanilla' is a duration",
		"playout_delay_ms' of algorithm 'vanilla' is a duration from 0ms",
	};
	struct cr_node_peer peers[2] = {0};
	struct cr_node_config cfg = {0};
	const struct cr_node_param good = {"startup_ms", "1.5s"};
	cr_node *n = NULL;
	char err[512];

	(void)state;
	peers[0].addr = t_addr(29201);
	peers[1].addr = t_addr(29202);
	cfg.name = "vanilla-params";
	cfg.duration_ns = CR_SEC;
	cfg.algo = &cr_vanilla_algorithm;
	cfg.peers = peers;
	cfg.npeers = 2;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.params = bad[i];
		cfg.nparams = 1;
		assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)),
				 -CR_EINVAL);
		assert_null(n);
		print_message("%s\n", err);
		assert_non_null(strstr(err, says[i]));
	}
	cfg.params = &good;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)), 0);
	cr_node_destroy(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_parameters),
		cmocka_unit_test(test_source_asks_tracker),
		cmocka_unit_test(test_enough_upload),
		cmocka_unit_test(test_starved),
		cmocka_unit_test(test_example_50),
	};

	return cmocka_run_group_tests_name("vanilla pull mesh", tests, NULL,
					   NULL);
}
