/* The command line, run as a separate process ($BUILD/crystal, ports
 * 32600-32699, below the kernel's ephemeral range):
 *   - `crystal run --duration 1 --peers 20 --out DIR --quiet` exits 0,
 *     prints nothing, and writes DIR/summary.json with every required key;
 *   - bad options exit 2 with a message naming the option, and start
 *     nothing (no run directory): --peers 0, --duration -1, --rate fast,
 *     --message-size 1XB, an unknown option, -D without '=', a missing
 *     value, an unknown --algorithm (the message names the built-ins);
 *   - an experiment that cannot have its descriptors (--peers 12000) exits
 *     2 naming needed and available descriptors, before starting anything;
 *   - SIGINT ends a 30 s run early with status 130 and a summary that says
 *     "interrupted": true;
 *   - `crystal run --mesh` runs the pingpong plugin and Vanilla on a mesh of
 *     peers that find each other through a tracker: pings are answered,
 *     data moves and every peer plays, and the summary records the mesh;
 *   - values an algorithm reports (cr_report_value) reach summary.json,
 *     peers-final.csv and crystal report with exact summaries;
 *   - `crystal algorithms PATH` lists a plugin's parameters, says when it
 *     declares none, and exits 2 naming a path that does not load.
 */
#include "support.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

static char crystal[512];
static char bindir[64];
static char dir[64];

/* Runs a private copy of the binary, so that a rebuild of $BUILD while
 * the tests run cannot pull it away from under them. */
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
	char *argv[] = {"cp", built, crystal, NULL};
	return t_run(argv, 30000, NULL, NULL) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	t_rm_rf(bindir);
	return 0;
}

static int setup(void **state)
{
	return t_mkdtemp(dir, sizeof(dir));
}

static int teardown(void **state)
{
	t_rm_rf(dir);
	return 0;
}

/* The text of "key": in a JSON document, or NULL. */
static const char *key_in(const char *json, const char *key)
{
	char pat[128];

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	return strstr(json, pat);
}

/* The text of the value after "key": (spaces skipped); fails without it. */
static const char *value_in(const char *json, const char *key)
{
	const char *v = key_in(json, key);

	if (!v)
		fail_msg("summary.json has no \"%s\":\n%s", key, json);
	v += strlen(key) + 3;
	while (*v == ' ')
		v++;
	return v;
}

static void run_writes_summary(void **state)
{
	static const char *const keys[] = {
	    "peers",
	    "duration_s",
	    "cumulative_rate_Bps",
	    "per_peer_rate_Bps",
	    "min_peer_rate_Bps",
	    "tail_rate_Bps",
	    "messages_switched",
	    "cpu_percent",
	    "max_rss_kb",
	    "interrupted",
	    "parameters",
	};
	char out[128], path[160], *so, *se, *json;
	snprintf(out, sizeof(out), "%s/run", dir);
	char *argv[] = {crystal,       "run",	"--duration", "1",
			"--peers",     "20",	"--out",      out,
			"--base-port", "32600", "--quiet",    NULL};
	int rc = t_run(argv, 60000, &so, &se);

	if (rc != 0)
		fail_msg("exit status %d; stderr: %s", rc, se ? se : "");
	assert_non_null(so);
	assert_string_equal(so, ""); /* --quiet */
	snprintf(path, sizeof(path), "%s/summary.json", out);
	json = t_slurp(path);
	assert_non_null(json);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!key_in(json, keys[i]))
			fail_msg("summary.json has no \"%s\":\n%s", keys[i],
				 json);
	/* a run that ran its course */
	assert_int_equal(strncmp(value_in(json, "interrupted"), "false", 5), 0);
	assert_int_equal(*value_in(json, "parameters"), '{');
	/* data flowed */
	assert_true(strtod(value_in(json, "messages_switched"), NULL) > 0);
	free(json);
	free(so);
	free(se);
}

/* The number after "key": in a JSON document (the first such key). */
static double num_in(const char *json, const char *key)
{
	return strtod(value_in(json, key), NULL);
}

/* --batch and --busy-poll reach the engine and the summary says so. */
static void run_batch_and_busy_poll(void **state)
{
	char out[128], path[160], *so, *se, *json;

	(void)state;
	snprintf(out, sizeof(out), "%s/batch", dir);
	char *argv[] = {crystal,	 "run",	   "--duration",   "1.5",
			"--peers",	 "10",	   "--link-upload", "1MB/s",
			"--batch",	 "2ms",	   "--busy-poll",  "--out",
			out,		 "--base-port", "32640", "--quiet",
			NULL};
	int rc = t_run(argv, 60000, &so, &se);

	if (rc != 0)
		fail_msg("exit status %d; stderr: %s", rc, se ? se : "");
	snprintf(path, sizeof(path), "%s/summary.json", out);
	json = t_slurp(path);
	assert_non_null(json);
	assert_true(num_in(json, "batch_us") == 2000);
	assert_true(num_in(json, "frames_released") > 100);
	assert_true(num_in(json, "shaped_writes") > 0);
	assert_true(num_in(json, "frames_per_write") >= 1);
	assert_true(num_in(json, "release_early_max_us") <= 2000);
	assert_int_equal(strncmp(value_in(json, "busy_poll"), "true", 4), 0);
	free(json);
	free(so);
	free(se);
}

struct bad_opt {
	const char *args[4];
	const char *named; /* the message must contain this */
};

static void bad_options_exit_2(void **state)
{
	static const struct bad_opt cases[] = {
	    {{"--peers", "0"}, "--peers"},
	    {{"--peers", "many"}, "--peers"},
	    {{"--duration", "-1"}, "--duration"},
	    {{"--duration", "0"}, "--duration"},
	    {{"--rate", "fast"}, "--rate"},
	    {{"--message-size", "1XB"}, "--message-size"},
	    {{"--batch", "200ms"}, "--batch"},
	    {{"--batch", "-1ms"}, "--batch"},
	    {{"--batch", "soon"}, "--batch"},
	    {{"--bogus"}, "--bogus"},
	    {{"-D", "noequals"}, "-D"},
	    {{"--peers"}, "--peers"}, /* no value */
	    {{"--algorithm", "no-such-algo"}, "relay"},
	    {{"--algorithm", "no-such-algo"}, "no-such-algo"},
	    {{"stray"}, "stray"},
	    {{"--mesh", "--chain-length", "5"}, "--chain-length"},
	    {{"--mesh", "x.ini"}, "--mesh"},
	};
	char out[128];

	snprintf(out, sizeof(out), "%s/never", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[16], *so, *se;
		int n = 0, rc;

		argv[n++] = crystal;
		argv[n++] = "run";
		argv[n++] = "--out";
		argv[n++] = out;
		argv[n++] = "--base-port";
		argv[n++] = "32700";
		for (int k = 0; k < 4 && cases[i].args[k]; k++)
			argv[n++] = (char *)cases[i].args[k];
		argv[n] = NULL;
		rc = t_run(argv, 30000, &so, &se);
		if (rc != 2)
			fail_msg("%s %s: exit status %d, expected 2",
				 cases[i].args[0],
				 cases[i].args[1] ? cases[i].args[1] : "", rc);
		if (!se || !strstr(se, cases[i].named))
			fail_msg("%s %s: the message does not name '%s': %s",
				 cases[i].args[0],
				 cases[i].args[1] ? cases[i].args[1] : "",
				 cases[i].named, se ? se : "(none)");
		/* nothing was started */
		assert_false(t_exists(out));
		free(so);
		free(se);
	}
}

static void too_many_peers_for_the_descriptors(void **state)
{
	char out[128], *so, *se;
	snprintf(out, sizeof(out), "%s/big", dir);
	char *argv[] = {crystal, "run",		"--peers", "12000",   "--out",
			out,	 "--base-port", "32700",   "--quiet", NULL};
	int rc = t_run(argv, 30000, &so, &se);

	if (rc != 2)
		fail_msg("exit status %d, expected 2; stderr: %s", rc,
			 se ? se : "");
	assert_non_null(se);
	assert_non_null(strstr(se, "needs"));
	assert_non_null(strstr(se, "available"));
	/* the two numbers are there, and needed > available */
	const char *p = strstr(se, "needs");
	unsigned long long needed = 0, avail = 0;
	while (*p && (*p < '0' || *p > '9'))
		p++;
	needed = strtoull(p, (char **)&p, 10);
	p = strstr(p, "but");
	assert_non_null(p);
	while (*p && (*p < '0' || *p > '9'))
		p++;
	avail = strtoull(p, NULL, 10);
	assert_true(needed > 2 * 12000);
	assert_true(needed > avail);
	/* refused before starting anything */
	assert_false(t_exists(out));
	free(so);
	free(se);
}

static void sigint_ends_the_run_early(void **state)
{
	char out[128], errp[160], path[160], *json;
	pid_t pid;
	bool up = false;
	int rc;

	snprintf(out, sizeof(out), "%s/int", dir);
	snprintf(errp, sizeof(errp), "%s/stderr", dir);
	char *argv[] = {crystal,       "run",	"--duration", "30",
			"--peers",     "10",	"--out",      out,
			"--base-port", "32650", "--quiet",    NULL};
	pid = t_spawn(argv, NULL, errp);
	assert_true(pid > 0);
	/* running once the source's port answers (signals are blocked by
	 * then: they are taken by the supervisor, not by default action) */
	for (int i = 0; i < 1000 && !up; i++) {
		int fd = t_tcp_connect(32650);
		if (fd >= 0) {
			close(fd);
			up = true;
		} else {
			usleep(10000);
		}
	}
	if (!up) {
		kill(pid, SIGKILL);
		t_wait(pid, 5000);
		fail_msg("the run never opened its ports");
	}
	kill(pid, SIGINT);
	rc = t_wait(pid, 20000);
	if (rc != 130) {
		char *se = t_slurp(errp);
		fail_msg("exit status %d, expected 130; stderr: %s", rc,
			 se ? se : "");
	}
	snprintf(path, sizeof(path), "%s/summary.json", out);
	json = t_slurp(path);
	assert_non_null(json);
	assert_int_equal(strncmp(value_in(json, "interrupted"), "true", 4), 0);
	free(json);
}

/* --- values and plugins, from shared objects built here -------------------- */

/* Reports its index among the run's ports (-D base=the first port) and,
 * on even ports only, the same as "even". */
static const char values_source[] =
    "#include <crystal/crystal.h>\n"
    "static const cr_param_def params[] = {\n"
    "	{\"base\", \"0\", \"the first peer's port\"}, {0, 0, 0}};\n"
    "static int boot(cr_peer *p) {\n"
    "	int i = cr_self(p)->port - (int)cr_param_int(p, \"base\", 0);\n"
    "	cr_report_value(p, \"index\", i);\n"
    "	if (!(i % 2)) cr_report_value(p, \"even\", i);\n"
    "	return 0;\n"
    "}\n"
    "const cr_algorithm crystal_algorithm = {\n"
    "	.api_version = CR_API_VERSION, .name = \"values\",\n"
    "	.params = params, .bootstrap = boot };\n";

/* Runs crystal with argv (after the binary), expecting exit status 0, and
 * reads the run directory's summary.json. */
static json_t *run_ok(char *const args[], const char *out)
{
	char *argv[40], *so = NULL, *se = NULL, path[300];
	json_error_t jerr;
	json_t *root;
	int n = 0, rc;

	argv[n++] = crystal;
	for (; args[n - 1] && n < 39; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	rc = t_run(argv, 120000, &so, &se);
	if (rc != 0)
		fail_msg("exit status %d; stderr: %s", rc, se ? se : "");
	snprintf(path, sizeof(path), "%s/summary.json", out);
	root = json_load_file(path, 0, &jerr);
	if (!root)
		fail_msg("%s: %s", path, jerr.text);
	free(so);
	free(se);
	return root;
}

static double jnum(json_t *o, const char *path)
{
	char key[128], *dot;
	json_t *v = o;

	snprintf(key, sizeof(key), "%s", path);
	for (char *k = key; v && k; k = dot) {
		dot = strchr(k, '.');
		if (dot)
			*dot++ = 0;
		v = json_object_get(v, k);
	}
	if (!json_is_number(v))
		fail_msg("summary.json: no number at %s", path);
	return json_number_value(v);
}

static void reported_values(void **state)
{
	char out[128], so[256], csv_path[300], *csv, *rep = NULL, *err = NULL;
	json_t *root, *v;

	(void)state;
	assert_int_equal(t_build_so(dir, "values", values_source, so,
				    sizeof(so)),
			 0);
	snprintf(out, sizeof(out), "%s/values", dir);
	/* ten peers: the source and nine, ports 32685..32694 */
	char *args[] = {"run",	      "--peers",    "9",	   "--duration",
			"0.5",	      "--algorithm", so,	   "-D",
			"base=32685", "--base-port", "32685", "--out",
			out,	      "--quiet",     NULL};
	root = run_ok(args, out);
	v = json_object_get(root, "values");
	assert_true(json_is_object(v));
	assert_int_equal(json_object_size(v), 2);
	/* 0..9, nearest rank */
	assert_true(jnum(v, "index.peers") == 10);
	assert_true(jnum(v, "index.mean") == 4.5);
	assert_true(jnum(v, "index.min") == 0);
	assert_true(jnum(v, "index.p5") == 0);
	assert_true(jnum(v, "index.p50") == 5);
	assert_true(jnum(v, "index.p95") == 9);
	/* 0, 2, 4, 6, 8: the peers that reported it */
	assert_true(jnum(v, "even.peers") == 5);
	assert_true(jnum(v, "even.mean") == 4);
	assert_true(jnum(v, "even.p50") == 4);
	assert_true(jnum(v, "even.p95") == 8);
	json_decref(root);

	snprintf(csv_path, sizeof(csv_path), "%s/peers-final.csv", out);
	csv = t_slurp(csv_path);
	assert_non_null(csv);
	assert_non_null(strstr(csv, ",value.even,value.index\n"));
	assert_non_null(strstr(csv, "127.0.0.1:32686,"));
	free(csv);

	/* crystal report's table carries them */
	char *rargv[] = {crystal, "report", "--csv", out, NULL};
	assert_int_equal(t_run(rargv, 60000, &rep, &err), 0);
	assert_non_null(rep);
	assert_non_null(strstr(rep, "value.index_mean"));
	assert_non_null(strstr(rep, ",4.5,0,5,9")); /* mean, p5, p50, p95 */
	free(rep);
	free(err);
}

/* --- crystal algorithms ---------------------------------------------------- */

static const char bare_source[] =
    "#include <crystal/crystal.h>\n"
    "const cr_algorithm crystal_algorithm = {\n"
    "	.api_version = CR_API_VERSION, .name = \"bare\",\n"
    "	.description = \"does nothing\" };\n";

static void algorithms_lists_a_plugin(void **state)
{
	char so_path[512], bare[256], *so = NULL, *se = NULL;

	(void)state;
	snprintf(so_path, sizeof(so_path), "%s/examples/pingpong.so",
		 t_build_dir());
	char *argv[] = {crystal, "algorithms", so_path, NULL};
	assert_int_equal(t_run(argv, 30000, &so, &se), 0);
	assert_non_null(so);
	assert_non_null(strstr(so, "pingpong"));
	assert_non_null(strstr(so, "-D proto=alt"));
	assert_non_null(strstr(so, "-D interval_ms=100"));
	assert_null(strstr(so, "vanilla")); /* only what was asked */
	free(so);
	free(se);

	/* one that declares no parameters says so */
	assert_int_equal(t_build_so(dir, "bare", bare_source, bare,
				    sizeof(bare)),
			 0);
	char *bargv[] = {crystal, "algorithms", bare, NULL};
	assert_int_equal(t_run(bargv, 30000, &so, &se), 0);
	assert_non_null(strstr(so, "bare"));
	assert_non_null(strstr(so, "no parameters"));
	free(so);
	free(se);

	/* a path that does not load: exit 2, named */
	char *nargv[] = {crystal, "algorithms", "/nonexistent/x.so", NULL};
	assert_int_equal(t_run(nargv, 30000, &so, &se), 2);
	assert_non_null(se);
	assert_non_null(strstr(se, "/nonexistent/x.so"));
	free(so);
	free(se);

	/* and with nothing named, every built-in */
	char *aargv[] = {crystal, "algorithms", NULL};
	assert_int_equal(t_run(aargv, 30000, &so, &se), 0);
	assert_non_null(strstr(so, "relay"));
	assert_non_null(strstr(so, "vanilla"));
	free(so);
	free(se);
}

/* --- the built-in mesh ----------------------------------------------------- */

/* pingpong on a mesh: every peer, the first to register included (it asks
 * the tracker later), is answered. */
static void run_mesh_pingpong(void **state)
{
	char out[128], so_path[512];
	json_t *root, *params;

	(void)state;
	snprintf(out, sizeof(out), "%s/mesh-pp", dir);
	snprintf(so_path, sizeof(so_path), "%s/examples/pingpong.so",
		 t_build_dir());
	char *args[] = {"run",	     "--mesh",	"--peers",     "5",
			"--duration", "2",	"--algorithm", so_path,
			"--base-port", "32661", "--out",      out,
			"--quiet",   NULL};
	root = run_ok(args, out);
	params = json_object_get(root, "parameters");
	assert_non_null(params);
	assert_true(json_is_true(json_object_get(params, "mesh")));
	assert_true(jnum(params, "receivers") == 5);
	assert_string_equal(
	    json_string_value(json_object_get(params, "tracker")),
	    "127.0.0.1:32667");
	assert_true(jnum(params, "tracker_peers_per_reply") == 20);
	assert_string_equal(
	    json_string_value(json_object_get(params, "algorithm")),
	    "pingpong");
	assert_string_equal(json_string_value(json_object_get(root, "experiment")),
			    "mesh");
	assert_true(jnum(root, "peers") == 6);
	/* the values pingpong reports: every peer had its pings answered */
	assert_true(jnum(root, "values.pongs.peers") == 6);
	assert_true(jnum(root, "values.pongs.min") > 0);
	assert_true(jnum(root, "values.rtt_mean_us.peers") == 6);
	json_decref(root);
}

/* The mesh's defaults (Vanilla, a 64 KB/s stream): data moves and every
 * peer plays. */
static void run_mesh_vanilla(void **state)
{
	char out[128];
	json_t *root;

	(void)state;
	snprintf(out, sizeof(out), "%s/mesh-v", dir);
	char *args[] = {"run",	      "--mesh", "--peers", "15",
			"--duration", "10",	"--base-port", "32668",
			"--out",      out,	"--quiet", NULL};
	root = run_ok(args, out);
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(root, "parameters"), "algorithm")),
			    "vanilla");
	assert_true(jnum(root, "parameters.rate_Bps") == 64000);
	assert_true(jnum(root, "data_bytes_received") > 0);
	assert_true(jnum(root, "continuity.peers") == 15);
	assert_true(jnum(root, "continuity.min") > 0);
	assert_true(jnum(root, "continuity.mean") >= 0.9);
	/* Vanilla's own figures are there, for every peer and the source */
	assert_true(jnum(root, "values.tracker_queries.peers") == 16);
	assert_true(jnum(root, "values.neighbours.min") >= 1);
	json_decref(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(run_writes_summary, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(run_batch_and_busy_poll, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(bad_options_exit_2, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(too_many_peers_for_the_descriptors,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(sigint_ends_the_run_early, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(run_mesh_pingpong, setup, teardown),
	    cmocka_unit_test_setup_teardown(run_mesh_vanilla, setup, teardown),
	    cmocka_unit_test_setup_teardown(reported_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(algorithms_lists_a_plugin, setup,
					    teardown),
	};

	return cmocka_run_group_tests_name("cli", tests, group_setup,
					   group_teardown);
}
