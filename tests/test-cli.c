/* The command line, run as a separate process ($BUILD/crystal, ports
 * 32600-32799 and, for a small mesh, 29100-29109, below the kernel's
 * ephemeral range):
 *   - `crystal run --duration 1 --peers 20 --out DIR --quiet` exits 0,
 *     prints nothing, and writes DIR/summary.json with every required key;
 *   - bad options exit 2 with a message naming the option, and start
 *     nothing (no run directory): --peers 0, --duration -1, --rate fast,
 *     --message-size 1XB, an unknown option, -D without '=', a missing
 *     value, an unknown --algorithm (the message names the built-ins),
 *     an --ip this host does not have, a tracker limit out of range or
 *     given to the chains, which have no tracker; `crystal tracker` lists
 *     its limits in --help and refuses bad ones the same way;
 *   - an experiment file with a class, or a tracker in the node, at an
 *     address this host does not have spans hosts: with no other node it
 *     exits 2 after the barrier timeout naming the IPs nobody came for
 *     (crystal tracker exits 2 for an --address it does not have);
 *   - an experiment that cannot have its descriptors (--peers 12000) exits
 *     2 naming needed and available descriptors, before starting anything;
 *   - SIGINT ends a 30 s run early with status 130 and a summary that says
 *     "interrupted": true;
 *   - `crystal run --mesh` runs the pingpong plugin and Vanilla on a mesh of
 *     peers that find each other through a tracker: pings are answered,
 *     data moves and every peer plays, and the summary records the mesh
 *     and its tracker (--tracker-max-sessions-per-peer reaches it);
 *   - values an algorithm reports (cr_report_value) reach summary.json,
 *     peers-final.csv and crystal report with exact summaries;
 *   - `crystal algorithms PATH` lists a plugin's parameters, says when it
 *     declares none, and exits 2 naming a path that does not load.
 *   - command.txt, run again, runs the same experiment (-D values and all);
 *   - events past the end of the run are not run, and not refused: with
 *     --duration shorter than the file's, and past the file's own end;
 *   - a --duration within the file's warm-up is refused naming --warmup;
 *   - --scale-upload scales the classes' upload limits, which reach the
 *     links and the summary, and refuses bad factors and unknown classes.
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
	    "held_off",
	    "held_off_ms",
	    "cpu_wait_percent",
	    "late_while_held_off_percent",
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
	/* busy polling never sleeps, so it never spins */
	assert_true(num_in(json, "spin_budget_percent") == 0);
	free(json);
	free(so);
	free(se);
}

/* --spin reaches the workers and the summary: the budget used, the CPU
 * spent spinning and how early the workers asked to wake; without it the
 * workers never spin, and their wake-ups are measured all the same. */
static void run_spin(void **state)
{
	char out[128], path[160], *so, *se, *json;
	int rc;

	(void)state;
	snprintf(out, sizeof(out), "%s/spin", dir);
	char *argv[] = {crystal,   "run",	   "--duration", "1.5",
			"--peers", "4",		   "--delay",	 "10ms",
			"--rate",  "100KB/s",	   "--spin",	 "35%",
			"--out",   out,		   "--base-port", "32720",
			"--quiet", NULL};
	rc = t_run(argv, 60000, &so, &se);
	if (rc != 0)
		fail_msg("exit status %d; stderr: %s", rc, se ? se : "");
	snprintf(path, sizeof(path), "%s/summary.json", out);
	json = t_slurp(path);
	assert_non_null(json);
	assert_true(num_in(json, "spin_budget_percent") == 35);
	assert_true(num_in(json, "wake_lead_mean_us") > 0);
	assert_true(num_in(json, "spin_cpu_percent") >= 0);
	free(json);
	free(so);
	free(se);

	snprintf(out, sizeof(out), "%s/nospin", dir);
	char *plain[] = {crystal,   "run",     "--duration", "1.5",
			 "--peers", "4",       "--delay",    "10ms",
			 "--rate",  "100KB/s", "--out",      out,
			 "--base-port", "32730", "--quiet",  NULL};
	rc = t_run(plain, 60000, &so, &se);
	if (rc != 0)
		fail_msg("exit status %d; stderr: %s", rc, se ? se : "");
	snprintf(path, sizeof(path), "%s/summary.json", out);
	json = t_slurp(path);
	assert_non_null(json);
	assert_true(num_in(json, "spin_budget_percent") == 0);
	assert_true(num_in(json, "spin_cpu_percent") == 0);
	assert_true(num_in(json, "wake_lead_mean_us") == 0);
	assert_true(num_in(json, "wakeups") > 0);
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
	    {{"--spin", "200%"}, "--spin"},
	    {{"--spin", "0%"}, "--spin"},
	    {{"--spin", "often"}, "--spin"},
	    {{"--spin", "20"}, "--spin"},
	    {{"--bogus"}, "--bogus"},
	    {{"-D", "noequals"}, "-D"},
	    {{"--peers"}, "--peers"}, /* no value */
	    {{"--algorithm", "no-such-algo"}, "relay"},
	    {{"--algorithm", "no-such-algo"}, "no-such-algo"},
	    {{"stray"}, "stray"},
	    {{"--mesh", "--chain-length", "5"}, "--chain-length"},
	    {{"--mesh", "x.ini"}, "--mesh"},
	    /* a run spanning hosts: IP:PORT, a positive time, and only
	     * for an experiment file */
	    {{"--coordinator", "here"}, "--coordinator 'here': expected IP:PORT"},
	    {{"--coordinator", "10.0.0.1"}, "--coordinator '10.0.0.1'"},
	    {{"--barrier-timeout", "0"}, "--barrier-timeout"},
	    {{"--coordinator", "127.0.0.1:19990"}, "span hosts"},
	    {{"--barrier-timeout", "5"}, "--barrier-timeout applies"},
	    /* addresses that bind() alone would refuse, once started
	     * (192.0.2.0/24 is for documentation: no host has it) */
	    {{"--ip", "192.0.2.1"}, "--ip '192.0.2.1': no interface"},
	    {{"--ip", "192.0.2.1", "--mesh"}, "--ip '192.0.2.1'"},
	    {{"--ip", "2001:db8::1"}, "--ip '2001:db8::1'"},
	    {{"--mesh", "--tracker-max-sessions-per-peer", "0"},
	     "--tracker-max-sessions-per-peer"},
	    {{"--mesh", "--tracker-max-sessions-per-peer", "65537"},
	     "--tracker-max-sessions-per-peer"},
	    {{"--mesh", "--tracker-max-peers-per-session", "some"},
	     "--tracker-max-peers-per-session"},
	    /* the chains have no tracker */
	    {{"--tracker-max-peers-per-session", "10"},
	     "--tracker-max-peers-per-session"},
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

/* An experiment file whose classes, or whose tracker in this node, are at
 * addresses this host does not have (198.51.100.0/24 is for documentation;
 * 192.0.2.0/24 may be a test machine's own) spans hosts: this node runs its own
 * peers and waits at the start barrier for the nodes of the others; when
 * none comes it exits 2 naming the IPs no node came for, and its run
 * directory has no summary.json but not-started.txt, saying why. */
static void foreign_addresses_in_a_file_exit_2(void **state)
{
	static const struct {
		const char *text, *named;
	} cases[] = {
	    {"[experiment]\nname = f\nduration = 1\n"
	     "[tracker]\naddress = 127.0.0.1:32799\n"
	     "[class a]\ncount = 2\naddresses = 127.0.0.1:32790-32791\n"
	     "[class far]\ncount = 2\n"
	     "addresses = 198.51.100.1-198.51.100.2:9000\n",
	     "no node came within 1 s for 198.51.100.1, 198.51.100.2"},
	    {"[experiment]\nname = f\nduration = 1\n"
	     "[tracker]\naddress = 198.51.100.1:32799\n"
	     "[class a]\ncount = 2\naddresses = 127.0.0.1:32790-32791\n",
	     "no node came within 1 s for 198.51.100.1"},
	};
	char ini[160], out[128], ours[160], path[256], *so, *se;
	int rc;

	snprintf(ini, sizeof(ini), "%s/foreign.ini", dir);
	snprintf(out, sizeof(out), "%s/foreign", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *f = fopen(ini, "w");
		char *argv[] = {crystal, "run", ini, "--out", out, "--quiet",
				"--barrier-timeout", "1", NULL};

		assert_non_null(f);
		fputs(cases[i].text, f);
		assert_int_equal(fclose(f), 0);
		rc = t_run(argv, 30000, &so, &se);
		if (rc != 2 || !se || !strstr(se, cases[i].named))
			fail_msg("case %zu: exit status %d, expected 2 and "
				 "'%s': %s",
				 i, rc, cases[i].named, se ? se : "");
		/* the run directory of this node, named by its IP */
		snprintf(ours, sizeof(ours), "%s/127.0.0.1", out);
		snprintf(path, sizeof(path), "%s/summary.json", ours);
		assert_false(t_exists(path));
		snprintf(path, sizeof(path), "%s/not-started.txt", ours);
		assert_true(t_exists(path));
		t_rm_rf(out);
		free(so);
		free(se);
	}
	char *tracker[] = {crystal, "tracker", ini, "--address",
			   "192.0.2.1:9000", "--duration", "1", NULL};
	rc = t_run(tracker, 30000, &so, &se);
	if (rc != 2 || !se || !strstr(se, "--address 192.0.2.1:9000: no "
					  "interface"))
		fail_msg("crystal tracker: exit status %d, expected 2: %s", rc,
			 se ? se : "");
	free(so);
	free(se);
}

/* crystal tracker: its limits in --help, and bad values refused before
 * the file is read. */
static void tracker_limits_options(void **state)
{
	static const char *const cases[][2] = {
	    {"--max-sessions-per-peer", "0"},
	    {"--max-sessions-per-peer", "65537"},
	    {"--max-peers-per-session", "0"},
	    {"--max-peers-per-session", "-3"},
	};
	char *help[] = {crystal, "tracker", "--help", NULL}, *so, *se;

	(void)state;
	assert_int_equal(t_run(help, 30000, &so, &se), 0);
	assert_non_null(strstr(so, "--max-sessions-per-peer N"));
	assert_non_null(strstr(so, "--max-peers-per-session N"));
	free(so);
	free(se);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = {crystal,	  "tracker", "none.ini",
				(char *)cases[i][0], (char *)cases[i][1], NULL};
		assert_int_equal(t_run(argv, 30000, &so, &se), 2);
		if (!se || !strstr(se, cases[i][0]))
			fail_msg("%s %s: the message does not name it: %s",
				 cases[i][0], cases[i][1], se ? se : "(none)");
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

/* Waits for the run `pid` to answer on its first peer's port (10 s at
 * most); fails the test, the run killed, if it never does. */
static void wait_until_up(pid_t pid, uint16_t port)
{
	for (int i = 0; i < 1000; i++) {
		int fd = t_tcp_connect(port);
		if (fd >= 0) {
			close(fd);
			return;
		}
		usleep(10000);
	}
	kill(pid, SIGKILL);
	t_wait(pid, 5000);
	fail_msg("the run never opened its ports");
}

static void sigint_ends_the_run_early(void **state)
{
	char out[128], errp[160], path[160], *json;
	pid_t pid;
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
	wait_until_up(pid, 32650);
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

/* A run whose process is stopped for 300 ms (SIGSTOP, as a machine busy
 * with other work would hold it) counts its workers held off their cores:
 * the releases due meanwhile leave late, the verdict says degraded, and
 * the cause names the other work, on stderr and in summary.json; the
 * seconds of workers.csv say when.  The
 * links' 100 ms delay keeps two frames a link in flight, whose releases
 * the stop makes late: 4-5% of a run's 490. */
static void stopped_run_is_held_off(void **state)
{
	char out[128], errp[160], path[160], *json, *se;
	pid_t pid;
	int rc;

	(void)state;
	snprintf(out, sizeof(out), "%s/held", dir);
	snprintf(errp, sizeof(errp), "%s/stderr", dir);
	char *argv[] = {crystal,	"run",	     "--duration", "3",
			"--peers",	"10",	     "--rate",	   "20KB/s",
			"--delay",	"100ms",     "--out",	   out,
			"--base-port", "32750",	     "--quiet",	   NULL};
	pid = t_spawn(argv, NULL, errp);
	assert_true(pid > 0);
	wait_until_up(pid, 32750);
	/* the chains are streaming once node.csv has its first second with
	 * data in it: every worker then has releases due within the stop */
	snprintf(path, sizeof(path), "%s/node.csv", out);
	for (int i = 0; i < 500; i++) {
		struct t_csv c;
		bool streaming = false;

		if (t_csv_load(&c, path) == 0) {
			streaming = t_csv_rows(&c) &&
				    t_csv_num(&c, 0, "data_bytes_in") > 0;
			t_csv_free(&c);
		}
		if (streaming)
			break;
		usleep(10000);
	}
	kill(pid, SIGSTOP);
	usleep(300000);
	kill(pid, SIGCONT);
	rc = t_wait(pid, 30000);
	se = t_slurp(errp);
	if (rc != 0)
		fail_msg("exit status %d; stderr: %s", rc, se ? se : "");
	snprintf(path, sizeof(path), "%s/summary.json", out);
	json = t_slurp(path);
	assert_non_null(json);
	/* the worker that had a deadline in the stop waited it out */
	if (num_in(json, "held_off") < 1 || num_in(json, "held_off_ms") < 200)
		fail_msg("the stop was not counted as held off:\n%s", json);
	assert_true(num_in(json, "late_while_held_off_percent") > 0);
	assert_true(num_in(json, "late_while_held_off_percent") <= 100);
	assert_true(num_in(json, "cpu_wait_percent") >= 0);
	assert_int_equal(strncmp(value_in(json, "fidelity"), "\"degraded\"", 10),
			 0);
	assert_int_equal(strncmp(value_in(json, "fidelity_cause"),
				 "\"other work held the workers off their "
				 "cores: ",
				 43),
			 0);
	assert_non_null(se);
	assert_non_null(strstr(se, "see summary.json): other work held the "
				   "workers off their cores: "));
	/* and workers.csv says when: the seconds' held-off times add up to
	 * the run's */
	{
		struct t_csv c;
		double sum = 0;

		snprintf(path, sizeof(path), "%s/workers.csv", out);
		assert_int_equal(t_csv_load(&c, path), 0);
		assert_true(t_csv_col(&c, "held_off_ms") >= 0);
		for (size_t i = 0; i < t_csv_rows(&c); i++)
			sum += t_csv_num(&c, i, "held_off_ms");
		t_csv_free(&c);
		assert_true(sum >= 200);
		assert_true(sum <= num_in(json, "held_off_ms") + 1);
	}
	free(json);
	free(se);
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

/* A small Vanilla mesh: the [experiment] section, open for more keys,
 * then the rest. */
static const char MESH_HEAD[] =
	"[experiment]\n"
	"name = cli-mesh\n"
	"algorithm = vanilla\n";
static const char MESH[] =
	"[class source]\n"
	"count = 1\n"
	"addresses = 127.0.0.1:29100\n"
	"upload = 1MB/s\n"
	"[class peers]\n"
	"count = 4\n"
	"addresses = 127.0.0.1:29101-29104\n"
	"upload = 200KB/s\n"
	"[session 1]\n"
	"source = 127.0.0.1:29100\n"
	"rate = 32KB/s\n"
	"[tracker]\n"
	"mode = inproc\n"
	"address = 127.0.0.1:29109\n";

/* Writes the mesh into the test's directory as mesh.ini, with these keys
 * of [experiment]. */
static void write_mesh(char *ini, size_t len, const char *keys)
{
	FILE *f;

	snprintf(ini, len, "%s/mesh.ini", dir);
	f = fopen(ini, "w");
	assert_non_null(f);
	fputs(MESH_HEAD, f);
	fputs(keys, f);
	fputs(MESH, f);
	fclose(f);
}

/* summary.json's "parameters" of a run directory (json_decref it). */
static json_t *parameters_of(const char *run)
{
	char path[256];
	json_error_t e;
	json_t *root, *p;

	snprintf(path, sizeof(path), "%s/summary.json", run);
	root = json_load_file(path, 0, &e);
	if (!root)
		fail_msg("%s: %s", path, e.text);
	p = json_incref(json_object_get(root, "parameters"));
	json_decref(root);
	assert_non_null(p);
	return p;
}

/* command.txt's first line run again (by sh, with this build's binary
 * for `crystal`) runs the same experiment: the same parameters, -D values
 * included. */
static void command_txt_replays(void **state)
{
	char ini[128], out[128], path[160], *cmd, *so, *se;
	json_t *first, *again;
	int rc;

	(void)state;
	write_mesh(ini, sizeof(ini), "duration = 10s\n");
	snprintf(out, sizeof(out), "%s/first", dir);
	char *argv[] = {crystal, "run",	 ini,	     "--duration", "1.5",
			"-D",	 "neighbours_max=6", "--out",  out,
			"-D",	 "startup_ms=500",   "--quiet", NULL};
	rc = t_run(argv, 60000, &so, &se);
	if (rc)
		fail_msg("exit status %d: %s", rc, se ? se : "");
	free(so);
	free(se);
	first = parameters_of(out);
	assert_string_equal(
		json_string_value(json_object_get(first, "D.neighbours_max")),
		"6");

	snprintf(path, sizeof(path), "%s/command.txt", out);
	char *text = t_slurp(path);
	assert_non_null(text);
	*strchr(text, '\n') = 0;
	if (strncmp(text, "crystal run ", 12))
		fail_msg("command.txt begins '%s'", text);
	assert_non_null(strstr(text, "-D neighbours_max=6"));
	assert_non_null(strstr(text, "-D startup_ms=500"));
	cmd = malloc(strlen(text) + strlen(crystal) + 16);
	assert_non_null(cmd);
	sprintf(cmd, "exec '%s'%s", crystal, text + strlen("crystal"));
	char *sh[] = {"/bin/sh", "-c", cmd, NULL};
	rc = t_run(sh, 60000, &so, &se);
	if (rc)
		fail_msg("%s: exit status %d: %s", cmd, rc, se ? se : "");
	again = parameters_of(out);
	if (!json_equal(first, again)) {
		char *a = json_dumps(first, JSON_SORT_KEYS);
		char *b = json_dumps(again, JSON_SORT_KEYS);
		fail_msg("parameters differ:\n%s\n%s", a, b);
	}
	json_decref(first);
	json_decref(again);
	free(cmd);
	free(text);
	free(so);
	free(se);
}

/* Runs argv (ending in NULL) expecting exit 0 and a summary in out that
 * says how many events were skipped; returns stderr. */
static char *run_skipping(char **argv, const char *out, unsigned skipped)
{
	char path[160], *so, *se, *json;
	int rc = t_run(argv, 60000, &so, &se);

	if (rc)
		fail_msg("exit status %d: %s", rc, se ? se : "");
	snprintf(path, sizeof(path), "%s/summary.json", out);
	json = t_slurp(path);
	assert_non_null(json);
	if (num_in(json, "events_skipped") != skipped)
		fail_msg("events_skipped %s, expected %u",
			 value_in(json, "events_skipped"), skipped);
	free(json);
	free(so);
	return se;
}

/* A run shorter than its events file runs the events of its time and
 * leaves the rest, says so once on stderr and counts them in the summary:
 * --duration shorter than the file's, and a file whose events go past its
 * own duration. */
static void events_after_the_end_are_skipped(void **state)
{
	char ini[512], out[128], evp[160], *se;
	FILE *f;

	(void)state;
	snprintf(ini, sizeof(ini), "%s/examples/churn.ini", t_src_dir());
	snprintf(out, sizeof(out), "%s/short", dir);
	char *shorter[] = {crystal, "run", ini, "--duration", "3", "--out",
			   out, "--quiet", NULL};
	se = run_skipping(shorter, out, 57);
	assert_non_null(strstr(se, "churn.events: 57 events after the end of "
				   "the run (3 s) not run, from line 23"));
	assert_null(strstr(strstr(se, "not run") + 1, "not run")); /* once */
	free(se);

	write_mesh(ini, sizeof(ini), "duration = 1s\nevents = mesh.events\n");
	snprintf(evp, sizeof(evp), "%s/mesh.events", dir);
	f = fopen(evp, "w");
	assert_non_null(f);
	fputs("0 127.0.0.1:29100 birth\n"
	      "0 127.0.0.1:29100 deploy session=1\n"
	      "0.2 127.0.0.1:29101 birth\n"
	      "0.5 127.0.0.1:29101 join session=1\n"
	      "30s 127.0.0.1:29101 die\n",
	      f);
	fclose(f);
	snprintf(out, sizeof(out), "%s/own", dir);
	char *own[] = {crystal, "run", ini, "--out", out, "--quiet", NULL};
	se = run_skipping(own, out, 1);
	assert_non_null(strstr(se, "1 event after the end of the run (1 s) "
				   "not run, from line 5 (30 s)"));
	free(se);
}

/* A --duration that the file's warm-up does not fit in is refused with
 * the way out: a --warmup of its own. */
static void duration_below_the_files_warmup(void **state)
{
	char ini[128], out[128], *so, *se;
	int rc;

	(void)state;
	write_mesh(ini, sizeof(ini), "duration = 10s\nwarmup = 5s\n");
	snprintf(out, sizeof(out), "%s/never", dir);
	char *argv[] = {crystal, "run", ini, "--duration", "3", "--out",
			out, "--quiet", NULL};
	rc = t_run(argv, 30000, &so, &se);
	assert_int_equal(rc, 2);
	assert_non_null(se);
	if (!strstr(se, "--duration 3 s") || !strstr(se, "--warmup 0"))
		fail_msg("the message names neither --duration nor --warmup: "
			 "%s",
			 se);
	assert_false(t_exists(out));
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
	char *args[] = {"run",
			"--mesh",
			"--peers",
			"5",
			"--duration",
			"2",
			"--algorithm",
			so_path,
			"--base-port",
			"32661",
			"--out",
			out,
			"--tracker-max-sessions-per-peer",
			"4",
			"--quiet",
			NULL};
	root = run_ok(args, out);
	/* the tracker: every peer registered once, nothing refused */
	assert_true(jnum(root, "tracker.registrations") == 6);
	assert_true(jnum(root, "tracker.refused_sessions_per_peer") == 0);
	assert_true(jnum(root, "tracker.refused_peers_per_session") == 0);
	assert_true(jnum(root, "tracker.max_sessions_per_peer") == 4);
	assert_true(jnum(root, "tracker.max_peers_per_session") == 65536);
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

/* The relay from a 200 KB/s source to one peer (a topology file). */
static const char SCALED[] =
	"[experiment]\n"
	"name = cli-scaled\n"
	"duration = 2s\n"
	"algorithm = relay\n"
	"topology = scaled.topology\n"
	"[class source]\n"
	"count = 1\n"
	"addresses = 127.0.0.1:29110\n"
	"upload = 200KB/s\n"
	"[class sink]\n"
	"count = 1\n"
	"addresses = 127.0.0.1:29111\n"
	"upload = 300KB/s\n"
	"[session 1]\n"
	"source = 127.0.0.1:29110\n";

/* --scale-upload: every class's upload, a class's own over it; the
 * limits reach the link (the source's data_bytes_out stays within the
 * scaled limit, where the file's would carry twice as much) and the
 * summary records the factors and the limits used; bad values and
 * unknown classes are refused naming the option. */
static void scale_upload(void **state)
{
	static const char *const bad_values[] = {"0",	  "-0.5", "abc", "=2",
						 "sink=", "1e9",  "nan", "0.5x"};
	char ini[128], top[128], out[128], *so, *se;
	json_t *p;
	struct t_csv c;
	FILE *f;
	int rc;

	(void)state;
	snprintf(ini, sizeof(ini), "%s/scaled.ini", dir);
	snprintf(top, sizeof(top), "%s/scaled.topology", dir);
	f = fopen(ini, "w");
	assert_non_null(f);
	fputs(SCALED, f);
	fclose(f);
	f = fopen(top, "w");
	assert_non_null(f);
	fputs("127.0.0.1:29110 127.0.0.1:29111\n", f);
	fclose(f);
	snprintf(out, sizeof(out), "%s/never", dir);
	for (size_t i = 0; i < sizeof(bad_values) / sizeof(*bad_values); i++) {
		char *argv[] = {crystal,	  "run", ini, "--scale-upload",
				(char *)bad_values[i], "--out", out, NULL};
		rc = t_run(argv, 30000, &so, &se);
		if (rc != 2 || !se || !strstr(se, "--scale-upload"))
			fail_msg("--scale-upload %s: exit %d: %s", bad_values[i],
				 rc, se ? se : "");
		assert_false(t_exists(out));
		free(so);
		free(se);
	}
	char *unknown[] = {crystal, "run", ini, "--scale-upload", "fibre=0.5",
			   "--out", out, NULL};
	rc = t_run(unknown, 30000, &so, &se);
	assert_int_equal(rc, 2);
	assert_non_null(strstr(se, "--scale-upload fibre=0.5"));
	assert_non_null(strstr(se, "its classes: source, sink"));
	free(so);
	free(se);
	char *twice[] = {crystal, "run",	    ini,	"--scale-upload",
			 "sink=0.5", "--scale-upload", "sink=2", "--out",
			 out,	     NULL};
	rc = t_run(twice, 30000, &so, &se);
	assert_int_equal(rc, 2);
	assert_non_null(strstr(se, "--scale-upload"));
	free(so);
	free(se);
	char *chains[] = {crystal, "run", "--scale-upload", "0.5", "--out",
			  out,	   NULL};
	rc = t_run(chains, 30000, &so, &se);
	assert_int_equal(rc, 2);
	assert_non_null(strstr(se, "--scale-upload"));
	assert_false(t_exists(out));
	free(so);
	free(se);

	snprintf(out, sizeof(out), "%s/scaled", dir);
	char *argv[] = {crystal,	  "run",	    ini,
			"--scale-upload", "0.5",	    "--scale-upload",
			"sink=1",	  "--out",	    out,
			"--quiet",	  NULL};
	rc = t_run(argv, 60000, &so, &se);
	if (rc)
		fail_msg("exit status %d: %s", rc, se ? se : "");
	free(so);
	free(se);
	p = parameters_of(out);
	assert_true(json_number_value(json_object_get(p, "scale_upload")) ==
		    0.5);
	assert_true(json_number_value(
			    json_object_get(p, "scale_upload.sink")) == 1);
	assert_int_equal(
		json_integer_value(json_object_get(p, "upload_Bps.source")),
		100000);
	assert_int_equal(
		json_integer_value(json_object_get(p, "upload_Bps.sink")),
		300000);
	json_decref(p);
	char path[160];
	snprintf(path, sizeof(path), "%s/peers-final.csv", out);
	assert_int_equal(t_csv_load(&c, path), 0);
	for (size_t r = 0; r < t_csv_rows(&c); r++) {
		double alive, sent, cap;
		if (strcmp(t_csv_field(&c, r, t_csv_col(&c, "class")),
			   "source"))
			continue;
		alive = t_csv_num(&c, r, "alive_s");
		sent = t_csv_num(&c, r, "data_bytes_out");
		/* payload of whole 1064-byte frames, a few frames of slack */
		cap = 100000 * alive * 1024 / 1064 + 8 * 1024;
		if (!(sent > 0 && sent <= cap))
			fail_msg("the source sent %.0f bytes in %.3f s through "
				 "an upload scaled to 100 KB/s (at most %.0f)",
				 sent, alive, cap);
	}
	t_csv_free(&c);
}

/* The limits on what a remote may hold: their defaults, from the command
 * line, from a file and the command line over it, all as summary.json's
 * "limits" reports them; and bad values refused, naming the option or key. */
static void limits_from_options_and_file(void **state)
{
	char ini[128], out[128], *so, *se;
	json_t *r;
	int rc;

	(void)state;
	snprintf(out, sizeof(out), "%s/defaults", dir);
	char *defaults[] = {"run",	   "--peers", "2",    "--duration",
			    "0.5",	   "--base-port", "29120", "--quiet",
			    "--out",	   out,	      NULL};
	r = run_ok(defaults, out);
	assert_true(jnum(r, "limits.max_connections") == 2 * 3 + 64);
	assert_true(jnum(r, "limits.idle_timeout_s") == 30);
	assert_true(jnum(r, "limits.frame_timeout_s") == 30);
	assert_true(jnum(r, "limits.partial_frames_limit") == 256 << 20);
	assert_true(jnum(r, "limits.max_message") == 16 << 20);
	assert_true(jnum(r, "limits.idle_closed") == 0);
	json_decref(r);

	snprintf(out, sizeof(out), "%s/options", dir);
	char *options[] = {"run",	 "--peers",
			   "2",		 "--duration",
			   "0.5",	 "--base-port",
			   "29120",	 "--max-connections",
			   "77",	 "--idle-timeout",
			   "5",		 "--frame-timeout",
			   "7500ms",	 "--partial-frames-limit",
			   "1MiB",	 "--quiet",
			   "--out",	 out,
			   NULL};
	r = run_ok(options, out);
	assert_true(jnum(r, "limits.max_connections") == 77);
	assert_true(jnum(r, "limits.idle_timeout_s") == 5);
	assert_true(jnum(r, "limits.frame_timeout_s") == 7.5);
	assert_true(jnum(r, "limits.partial_frames_limit") == 1 << 20);
	json_decref(r);

	write_mesh(ini, sizeof(ini),
		   "duration = 1s\n"
		   "max_connections = 50\n"
		   "idle_timeout = 4s\n"
		   "frame_timeout = 6s\n"
		   "partial_frames_limit = 2MiB\n");
	snprintf(out, sizeof(out), "%s/file", dir);
	char *file[] = {"run", ini, "--quiet", "--out", out, NULL};
	r = run_ok(file, out);
	assert_true(jnum(r, "limits.max_connections") == 50);
	assert_true(jnum(r, "limits.idle_timeout_s") == 4);
	assert_true(jnum(r, "limits.frame_timeout_s") == 6);
	assert_true(jnum(r, "limits.partial_frames_limit") == 2 << 20);
	json_decref(r);
	snprintf(out, sizeof(out), "%s/over", dir);
	char *over[] = {"run",	   ini,	  "--max-connections", "60",
			"--idle-timeout", "9s", "--quiet", "--out", out, NULL};
	r = run_ok(over, out);
	assert_true(jnum(r, "limits.max_connections") == 60);
	assert_true(jnum(r, "limits.idle_timeout_s") == 9);
	assert_true(jnum(r, "limits.frame_timeout_s") == 6);
	json_decref(r);

	static const char *const bad[][2] = {
	    {"--max-connections", "-1"},
	    {"--max-connections", "many"},
	    {"--idle-timeout", "soon"},
	    {"--frame-timeout", "-2s"},
	    {"--partial-frames-limit", "1.5"},
	};
	snprintf(out, sizeof(out), "%s/never", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = {crystal,	 "run", (char *)bad[i][0],
				(char *)bad[i][1], "--out", out,
				NULL};
		rc = t_run(argv, 30000, &so, &se);
		if (rc != 2 || !se || !strstr(se, bad[i][0]))
			fail_msg("%s %s: exit %d: %s", bad[i][0], bad[i][1], rc,
				 se ? se : "");
		assert_false(t_exists(out));
		free(so);
		free(se);
	}
	write_mesh(ini, sizeof(ini), "duration = 1s\nidle_timeout = soon\n");
	char *badfile[] = {crystal, "run", ini, "--out", out, NULL};
	rc = t_run(badfile, 30000, &so, &se);
	assert_int_equal(rc, 2);
	assert_non_null(se);
	assert_non_null(strstr(se, "idle_timeout"));
	assert_false(t_exists(out));
	free(so);
	free(se);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(run_writes_summary, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(run_batch_and_busy_poll, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(run_spin, setup, teardown),
	    cmocka_unit_test_setup_teardown(foreign_addresses_in_a_file_exit_2,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_options_exit_2, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(tracker_limits_options, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(too_many_peers_for_the_descriptors,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(stopped_run_is_held_off, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(sigint_ends_the_run_early, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(run_mesh_pingpong, setup, teardown),
	    cmocka_unit_test_setup_teardown(run_mesh_vanilla, setup, teardown),
	    cmocka_unit_test_setup_teardown(reported_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(algorithms_lists_a_plugin, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(command_txt_replays, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(events_after_the_end_are_skipped,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(duration_below_the_files_warmup,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(scale_upload, setup, teardown),
	    cmocka_unit_test_setup_teardown(limits_from_options_and_file, setup,
					    teardown),
	};

	return cmocka_run_group_tests_name("cli", tests, group_setup,
					   group_teardown);
}
