/* What the run directory's counters say (docs/run-directory.md), from runs
 * of the real binary ($BUILD/crystal) on loopback ports 28000-28099 (below
 * the kernel's ephemeral range):
 *   - through an upload limit slower than the source's rate, a peer's
 *     data_bytes_out in peers-final.csv (what left its link) stays within
 *     the limit, while data_bytes_offered (what its algorithm handed to
 *     cr_send) is larger;
 *   - a peer's messages to and from the tracker are counted as
 *     tracker_bytes_in and tracker_bytes_out, never as the algorithm's
 *     control bytes, on either side;
 *   - node.csv: every row well-formed, times strictly increasing, CPU
 *     within what the machine's cores can give, the data rate within what
 *     the links can carry (no last row over a near-empty interval).
 */
#include "support.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* The shaped chain: source -> peer -> peer, every upload UPLOAD_BPS, the
 * source producing twice that. */
#define UPLOAD_BPS 100000.0
#define MSG 1024.0
#define FRAME (MSG + 40.0)

static char crystal[512];
static char dir[64];
static char chain[128]; /* the shaped chain's run directory */

static int group_setup(void **state)
{
	char built[512], *se = NULL;
	int rc;

	(void)state;
	snprintf(built, sizeof(built), "%s/crystal", t_build_dir());
	if (access(built, X_OK)) {
		fprintf(stderr, "no %s: build it first (make)\n", built);
		return -1;
	}
	if (t_mkdtemp(dir, sizeof(dir)))
		return -1;
	snprintf(crystal, sizeof(crystal), "%s/crystal", dir);
	char *cp[] = {"cp", built, crystal, NULL};
	if (t_run(cp, 30000, NULL, NULL))
		return -1;
	snprintf(chain, sizeof(chain), "%s/chain", dir);
	char *argv[] = {crystal,	  "run",      "--peers",  "2",
			"--chain-length", "2",	      "--rate",	  "200KB/s",
			"--upload",	  "100KB/s",  "--duration", "3",
			"--base-port",	  "28000",    "--out",	  chain,
			"--quiet",	  NULL};
	rc = t_run(argv, 60000, NULL, &se);
	if (rc)
		fprintf(stderr, "crystal run exited %d: %s\n", rc,
			se ? se : "");
	free(se);
	return rc ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	t_rm_rf(dir);
	return 0;
}

static void load(struct t_csv *c, const char *run, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", run, name);
	if (t_csv_load(c, path))
		fail_msg("cannot read %s", path);
}

/* The row of peers-final.csv (or -1) of the peer at 127.0.0.1:port. */
static long row_of(const struct t_csv *c, unsigned port)
{
	char name[32];

	snprintf(name, sizeof(name), "127.0.0.1:%u", port);
	for (size_t i = 0; i < t_csv_rows(c); i++)
		if (!strcmp(t_csv_field(c, i, t_csv_col(c, "peer")), name))
			return (long)i;
	return -1;
}

/* Each peer's data_bytes_out is at most what its upload carries in its
 * time alive (payload of whole frames, a few frames of slack); what the
 * source offered is far more, and no peer got more than left its
 * upstream. */
static void out_is_what_left_the_link(void **state)
{
	struct t_csv c;
	long src, mid, tail;

	(void)state;
	load(&c, chain, "peers-final.csv");
	assert_int_equal(t_csv_rows(&c), 3);
	src = row_of(&c, 28000);
	mid = row_of(&c, 28001);
	tail = row_of(&c, 28002);
	assert_true(src >= 0 && mid >= 0 && tail >= 0);
	for (long r = 0; r < 3; r++) {
		double alive = t_csv_num(&c, (size_t)r, "alive_s");
		double out = t_csv_num(&c, (size_t)r, "data_bytes_out");
		double cap = UPLOAD_BPS * alive * MSG / FRAME + 8 * MSG;

		assert_false(isnan(out));
		if (out > cap)
			fail_msg("peer %s: data_bytes_out %.0f over its "
				 "link's %.0f in %.3f s",
				 t_csv_field(&c, (size_t)r, 0), out, cap, alive);
	}
	double out = t_csv_num(&c, (size_t)src, "data_bytes_out");
	double offered = t_csv_num(&c, (size_t)src, "data_bytes_offered");
	if (!(offered > 1.5 * out))
		fail_msg("the source offered %.0f bytes and %.0f left its link: "
			 "expected the offer well above",
			 offered, out);
	assert_true(out > 0);
	assert_true(t_csv_num(&c, (size_t)mid, "data_bytes_in") <= out);
	assert_true(t_csv_num(&c, (size_t)tail, "data_bytes_in") <=
		    t_csv_num(&c, (size_t)mid, "data_bytes_out"));
	/* the relay offers on what it gets, all of it */
	assert_true(t_csv_num(&c, (size_t)mid, "data_bytes_offered") ==
		    t_csv_num(&c, (size_t)mid, "data_bytes_in"));
	t_csv_free(&c);

	/* peers.csv has the columns too, and its last rows say the same */
	load(&c, chain, "peers.csv");
	assert_true(t_csv_col(&c, "data_bytes_offered") >= 0);
	assert_true(t_csv_col(&c, "tracker_bytes_in") >= 0);
	assert_true(t_csv_col(&c, "tracker_bytes_out") >= 0);
	t_csv_free(&c);
}

static const char TRACKER_EXPERIMENT[] =
	"[experiment]\n"
	"name = counters-tracker\n"
	"duration = 2s\n"
	"algorithm = relay\n"
	"[class source]\n"
	"count = 1\n"
	"addresses = 127.0.0.1:28050\n"
	"[class peers]\n"
	"count = 3\n"
	"addresses = 127.0.0.1:28051-28053\n"
	"[session 1]\n"
	"source = 127.0.0.1:28050\n"
	"rate = 20KB/s\n"
	"[tracker]\n"
	"mode = inproc\n"
	"address = 127.0.0.1:28099\n"
	"peers_per_reply = 3\n"
	"interval = 200ms\n";

/* The relay sends no control message of its own: every peer's control
 * counters stay 0, in and out, though each registered with the tracker
 * (4 bytes out) and had its answer (at least 4 bytes in). */
static void tracker_traffic_is_not_control(void **state)
{
	char ini[128], run[128], *se = NULL;
	struct t_csv c;
	FILE *f;
	int rc;

	(void)state;
	snprintf(ini, sizeof(ini), "%s/tracker.ini", dir);
	snprintf(run, sizeof(run), "%s/tracker", dir);
	f = fopen(ini, "w");
	assert_non_null(f);
	fputs(TRACKER_EXPERIMENT, f);
	fclose(f);
	char *argv[] = {crystal, "run", ini, "--out", run, "--quiet", NULL};
	rc = t_run(argv, 60000, NULL, &se);
	if (rc)
		fail_msg("crystal run exited %d: %s", rc, se ? se : "");
	free(se);
	load(&c, run, "peers-final.csv");
	assert_int_equal(t_csv_rows(&c), 4);
	for (size_t r = 0; r < 4; r++) {
		const char *peer = t_csv_field(&c, r, 0);
		if (t_csv_num(&c, r, "ctrl_bytes_in") != 0 ||
		    t_csv_num(&c, r, "ctrl_bytes_out") != 0)
			fail_msg("%s: control in %s, out %s: the tracker's "
				 "messages are no control of the algorithm's",
				 peer,
				 t_csv_field(&c, r, t_csv_col(&c, "ctrl_bytes_in")),
				 t_csv_field(&c, r,
					     t_csv_col(&c, "ctrl_bytes_out")));
		/* REGISTER has 4 bytes, the reports none */
		if (t_csv_num(&c, r, "tracker_bytes_out") != 4)
			fail_msg("%s: tracker_bytes_out %g, expected 4", peer,
				 t_csv_num(&c, r, "tracker_bytes_out"));
		if (!(t_csv_num(&c, r, "tracker_bytes_in") >= 4))
			fail_msg("%s: tracker_bytes_in %g, expected the "
				 "answer's 4 bytes or more",
				 peer, t_csv_num(&c, r, "tracker_bytes_in"));
	}
	t_csv_free(&c);
}

/* node.csv of the shaped chain: a plausible row every sample. */
static void node_rows_are_plausible(void **state)
{
	static const char *const cols[] = {"time_s",	  "cpu_percent",
					   "rss_bytes",	  "peers_alive",
					   "data_bytes_in", "data_rate_Bps"};
	double cores = (double)sysconf(_SC_NPROCESSORS_ONLN);
	double last_t = -1, last_bytes = 0;
	struct t_csv c;

	(void)state;
	load(&c, chain, "node.csv");
	assert_true(t_csv_rows(&c) >= 2);
	for (size_t k = 0; k < 6; k++)
		assert_int_equal(t_csv_col(&c, cols[k]), (int)k);
	for (size_t r = 0; r < t_csv_rows(&c); r++) {
		double v[6];
		for (size_t k = 0; k < 6; k++) {
			v[k] = t_csv_num(&c, r, cols[k]);
			if (isnan(v[k]) || v[k] < 0)
				fail_msg("node.csv row %zu: %s is '%s'", r + 1,
					 cols[k],
					 t_csv_field(&c, r, (int)k)
					     ? t_csv_field(&c, r, (int)k)
					     : "(missing)");
		}
		assert_int_equal(c.nfields[r + 1], 6);
		if (!(v[0] > last_t))
			fail_msg("node.csv row %zu: time %.3f s after %.3f s",
				 r + 1, v[0], last_t);
		if (v[1] > 100 * cores + 50)
			fail_msg("node.csv row %zu at %.3f s: CPU %.1f%% with "
				 "%.0f cores",
				 r + 1, v[0], v[1], cores);
		/* two receivers, each behind a 100 KB/s upload */
		if (v[5] > 1.3 * 2 * UPLOAD_BPS)
			fail_msg("node.csv row %zu at %.3f s: %.0f B/s received "
				 "through links of 2 x %.0f B/s",
				 r + 1, v[0], v[5], UPLOAD_BPS);
		assert_true(v[4] >= last_bytes);
		assert_int_equal(v[3], 3);
		last_t = v[0];
		last_bytes = v[4];
	}
	assert_true(last_bytes > 0);
	t_csv_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(out_is_what_left_the_link),
		cmocka_unit_test(tracker_traffic_is_not_control),
		cmocka_unit_test(node_rows_are_plausible),
	};

	return cmocka_run_group_tests_name("counters", tests, group_setup,
					   group_teardown);
}
