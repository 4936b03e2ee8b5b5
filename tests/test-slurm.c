/* The Slurm launcher, for real: a Slurm cluster of one node on this
 * machine (scripts/slurm-local.sh; one already running, named by
 * SLURM_CONF, is used instead and left running), three emulated hosts in
 * network namespaces on a bridge (scripts/netns-hosts.sh, prefix "hsl",
 * 10.80.0.1-3), and `srun -n 3` starting one task per host, each entering
 * its namespace by SLURM_PROCID (scripts/netns-task.sh).  It checks that
 *   - each task of srun runs in its own host, at its own address, and
 *     netns-task.sh says what is wrong when no rank is set or the
 *     namespace does not exist;
 *   - pdsh's exec module (`pdsh -R exec -w 'hsl[0-2]' ip netns exec %h`)
 *     does the same by name;
 *   - `srun -n 3 scripts/netns-task.sh hsl crystal run EXP.ini --out DIR`
 *     runs one experiment over the three hosts, and so does pdsh: every node writes its
 *     run directory DIR/NODE, complete, of one run (one run_id, 3 nodes),
 *     the peers of the hosts without the source received data (bytes
 *     crossed hosts), and `crystal report DIR/...` merges them into one
 *     run of every peer;
 *   - a node killed with SIGKILL mid-run: the others end normally and
 *     say they lost it, and the merged report says so (lost, seen by 2);
 *   - SIGINT to one node: every node stops and leaves a complete
 *     directory marked interrupted.
 * Needs root, iproute2, slurm-wlm, munge and pdsh (`make deps`), and the root
 * network namespace (slurmd starts the tasks there): run from elsewhere,
 * or without Slurm, it fails saying why.  The namespaces and the cluster
 * it made are removed at the end, also after a failure.
 */
#include "support.h"

#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define PREFIX "hsl"
#define NET    "10.80.0"
#define HOSTS  3

static char src[PATH_MAX], crystal[PATH_MAX];
static char slurm_dir[64]; /* the cluster this test made; "" if none */
static char work[64];

/* --- running things ------------------------------------------------------- */

struct out {
	int rc;
	char *out, *err;
};

static struct out run_argv(char **argv, int timeout_ms)
{
	struct out o;

	o.rc = t_run(argv, timeout_ms, &o.out, &o.err);
	if (!o.out)
		o.out = strdup("");
	if (!o.err)
		o.err = strdup("");
	return o;
}

/* sh -c "fmt..." */
static struct out sh(int timeout_ms, const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	struct out o;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		cmd = NULL;
	va_end(ap);
	assert_non_null(cmd);
	char *argv[] = {"sh", "-c", cmd, NULL};
	o = run_argv(argv, timeout_ms);
	free(cmd);
	return o;
}

static void out_free(struct out *o)
{
	free(o->out);
	free(o->err);
}

/* --- the cluster and the hosts -------------------------------------------- */

static bool have(const char *cmd)
{
	struct out o = sh(10000, "command -v %s", cmd);
	bool ok = o.rc == 0;

	out_free(&o);
	return ok;
}

/* The named network namespace this process is in (ip netns identify),
 * or NULL in the machine's own. */
static char *named_netns(void)
{
	struct out o = sh(10000, "ip netns identify $$");
	char *name = NULL;

	o.out[strcspn(o.out, "\n")] = '\0';
	if (o.rc == 0 && *o.out)
		name = strdup(o.out);
	out_free(&o);
	return name;
}

/* A cluster named by SLURM_CONF with an idle node. */
static bool slurm_running(void)
{
	struct out o;
	bool idle;

	if (!getenv("SLURM_CONF"))
		return false;
	o = sh(15000, "sinfo -h -N -o %%T 2>/dev/null");
	idle = o.rc == 0 && strstr(o.out, "idle");
	out_free(&o);
	return idle;
}

static int slurm_up(void)
{
	char conf[128], port[16];
	struct out o;

	if (slurm_running()) {
		fprintf(stderr, "using the Slurm cluster of SLURM_CONF=%s\n",
			getenv("SLURM_CONF"));
		return 0;
	}
	if (t_mkdtemp(slurm_dir, sizeof(slurm_dir)))
		return -1;
	/* a port of its own: another cluster of this script may run */
	snprintf(port, sizeof(port), "%d", 7000 + 2 * (int)(getpid() % 900));
	setenv("SLURM_LOCAL_PORT", port, 1);
	o = sh(90000, "sh '%s/scripts/slurm-local.sh' up '%s'", src, slurm_dir);
	if (o.rc) {
		fprintf(stderr, "scripts/slurm-local.sh up failed (%d):\n%s",
			o.rc, o.err);
		out_free(&o);
		slurm_dir[0] = '\0';
		return -1;
	}
	out_free(&o);
	snprintf(conf, sizeof(conf), "%s/slurm.conf", slurm_dir);
	setenv("SLURM_CONF", conf, 1);
	return 0;
}

static void slurm_down(void)
{
	struct out o;

	if (!slurm_dir[0])
		return;
	o = sh(60000, "sh '%s/scripts/slurm-local.sh' down '%s'", src,
	       slurm_dir);
	out_free(&o);
	slurm_dir[0] = '\0';
}

static void hosts_down(void)
{
	struct out o = sh(60000, "sh '%s/scripts/netns-hosts.sh' down %s",
			  src, PREFIX);

	out_free(&o);
}

static int group_setup(void **state)
{
	static const char *const cmds[] = {"srun",   "sinfo", "slurmctld",
					   "slurmd", "munged", "pdsh", "ip"};
	char built[PATH_MAX];
	struct out o;

	snprintf(built, sizeof(built), "%s/crystal", t_build_dir());
	if (!realpath(t_src_dir(), src) || !realpath(built, crystal)) {
		fprintf(stderr, "no %s/crystal: build it first (make)\n",
			t_build_dir());
		return -1;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!have(cmds[i])) {
			fprintf(stderr,
				"%s not found: this test runs a one-node "
				"Slurm cluster and pdsh; `make deps` installs "
				"slurm-wlm, munge and pdsh (and iproute2)\n",
				cmds[i]);
			return -1;
		}
	if (getuid()) {
		fprintf(stderr, "not root: the namespaces and slurmd need "
				"root\n");
		return -1;
	}
	char *ns = named_netns();
	if (ns) {
		fprintf(stderr,
			"in the network namespace %s, not the machine's own: "
			"slurmd starts the tasks there, where namespaces made "
			"in here are not seen; run this test from the root "
			"namespace\n",
			ns);
		free(ns);
		return -1;
	}
	if (slurm_up())
		return -1;
	o = sh(60000, "sh '%s/scripts/netns-hosts.sh' up %s %d %s", src,
	       PREFIX, HOSTS, NET);
	if (o.rc) {
		fprintf(stderr, "scripts/netns-hosts.sh up failed:\n%s", o.err);
		out_free(&o);
		slurm_down();
		return -1;
	}
	out_free(&o);
	return t_mkdtemp(work, sizeof(work));
}

static int group_teardown(void **state)
{
	hosts_down();
	slurm_down();
	if (work[0])
		t_rm_rf(work);
	return 0;
}

/* --- the tests ------------------------------------------------------------ */

/* Whether the line srun --label gave task i ("i: ...") has want. */
static bool task_line_has(const char *out, int i, const char *want)
{
	char label[16];

	snprintf(label, sizeof(label), "%d: ", i);
	for (const char *l = out; *l;) {
		size_t n = strcspn(l, "\n");
		const char *hit = strstr(l, want);

		if (!strncmp(l, label, strlen(label)) && hit && hit < l + n)
			return true;
		l += n + (l[n] != '\0');
	}
	return false;
}

static void tasks_enter_their_hosts(void **state)
{
	struct out o;
	char want[64];

	o = sh(60000,
	       "srun -n %d --label sh '%s/scripts/netns-task.sh' %s "
	       "ip -4 -o addr show dev eth0",
	       HOSTS, src, PREFIX);
	if (o.rc)
		fail_msg("srun: exit status %d:\n%s%s", o.rc, o.out, o.err);
	for (int i = 0; i < HOSTS; i++) {
		snprintf(want, sizeof(want), "inet %s.%d/24", NET, i + 1);
		if (!task_line_has(o.out, i, want))
			fail_msg("task %d is not in %s%d (%s):\n%s", i, PREFIX,
				 i, want, o.out);
	}
	out_free(&o);

	/* the rank from CRYSTAL_TASK, as an ssh loop or pdsh sets it */
	o = sh(30000,
	       "CRYSTAL_TASK=ns2 sh '%s/scripts/netns-task.sh' %s ip -4 -o "
	       "addr show dev eth0",
	       src, PREFIX);
	assert_int_equal(o.rc, 0);
	assert_non_null(strstr(o.out, "inet " NET ".3/24"));
	out_free(&o);

	/* no rank, no namespace: said, exit status 2 */
	o = sh(30000,
	       "env -u SLURM_PROCID -u CRYSTAL_TASK -u PMI_RANK -u "
	       "OMPI_COMM_WORLD_RANK sh '%s/scripts/netns-task.sh' %s true",
	       src, PREFIX);
	assert_int_equal(o.rc, 2);
	assert_non_null(strstr(o.err, "no task rank"));
	out_free(&o);
	o = sh(30000, "CRYSTAL_TASK=7 sh '%s/scripts/netns-task.sh' %s true",
	       src, PREFIX);
	assert_int_equal(o.rc, 2);
	assert_non_null(strstr(o.err, "no network namespace " PREFIX "7"));
	out_free(&o);

	/* pdsh's exec module: one command per name, %h the name */
	o = sh(60000,
	       "pdsh -S -R exec -w '%s[0-%d]' ip netns exec %%h ip -4 -o addr "
	       "show dev eth0",
	       PREFIX, HOSTS - 1);
	if (o.rc)
		fail_msg("pdsh: exit status %d:\n%s%s", o.rc, o.out, o.err);
	for (int i = 0; i < HOSTS; i++) {
		snprintf(want, sizeof(want), "%s%d: ", PREFIX, i);
		const char *l = strstr(o.out, want);
		snprintf(want, sizeof(want), "inet %s.%d/24", NET, i + 1);
		if (!l || !strstr(l, want) ||
		    strstr(l, want) > l + strcspn(l, "\n"))
			fail_msg("pdsh: %s%d has not %s:\n%s", PREFIX, i, want,
				 o.out);
	}
	out_free(&o);
}

/* Vanilla over three hosts: the source and a tracker on the first, five
 * peers on each. */
static void write_experiment(const char *path, int seconds)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f, "[experiment]\nname = slurm-3\nduration = %ds\nseed = 1\n"
		   "algorithm = vanilla\n\n[algorithm]\nstartup_ms = 1000\n\n"
		   "[class source]\ncount = 1\naddresses = " NET
		   ".1:22000\nupload = 10MB/s\n\n",
		seconds);
	for (int i = 0; i < HOSTS; i++)
		fprintf(f,
			"[class h%d]\ncount = 5\naddresses = " NET
			".%d:22001-22005\nupload = 1MB/s\n\n",
			i, i + 1);
	fprintf(f, "[session 1]\nsource = " NET ".1:22000\nrate = 64KB/s\n"
		   "message_size = 1KiB\nsegment = 1s\n\n[tracker]\n"
		   "mode = inproc\naddress = " NET ".1:21999\n"
		   "peers_per_reply = 10\n");
	assert_int_equal(fclose(f), 0);
}

/* "key": "value" of a JSON text (the flat keys summary.json has). */
static char *json_str(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": \"", key);
	p = strstr(json, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	return strndup(p, strcspn(p, "\""));
}

/* The data bytes the peers of one node received. */
static double bytes_in(const char *rundir)
{
	char path[PATH_MAX];
	struct t_csv c;
	double sum = 0;

	snprintf(path, sizeof(path), "%s/peers-final.csv", rundir);
	if (t_csv_load(&c, path))
		fail_msg("%s cannot be read", path);
	for (size_t i = 0; i < t_csv_rows(&c); i++) {
		double x = t_csv_num(&c, i, "data_bytes_in");

		sum += isnan(x) ? 0 : x;
	}
	t_csv_free(&c);
	return sum;
}

/* Every node's directory, complete, of one run of 3 nodes. */
static void check_node_dirs(const char *out, char dirs[HOSTS][PATH_MAX])
{
	char *run_id = NULL;

	for (int i = 0; i < HOSTS; i++) {
		char path[PATH_MAX + 32], *json, *id;

		snprintf(dirs[i], PATH_MAX, "%s/%s.%d", out, NET, i + 1);
		snprintf(path, sizeof(path), "%s/summary.json", dirs[i]);
		json = t_slurp(path);
		if (!json)
			fail_msg("node %s.%d wrote no %s", NET, i + 1, path);
		assert_non_null(strstr(json, "\"complete\": true"));
		assert_non_null(strstr(json, "\"nodes\": 3"));
		id = json_str(json, "run_id");
		if (!id)
			fail_msg("%s has no run_id", path);
		if (run_id)
			assert_string_equal(id, run_id);
		free(run_id);
		run_id = id;
		free(json);
	}
	free(run_id);
}

static int lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Whether this crystal's nodes can meet (crystal run --coordinator);
 * said when they cannot. */
static bool has_coordinator(void)
{
	struct out o = sh(30000, "'%s' run --help", crystal);
	bool yes = strstr(o.out, "--coordinator") != NULL;

	out_free(&o);
	if (!yes)
		fprintf(stderr, "this crystal has no coordinator (crystal run "
				"--coordinator): it cannot run one experiment "
				"over several hosts; the run is not tried\n");
	return yes;
}

/* The experiment over the three hosts, each node started by the
 * launcher's command (a printf format of the crystal binary, the
 * experiment file and the run directory), into work/NAME. */
static void one_experiment(const char *name, const char *launch)
{
	char exp[128], out[128], dirs[HOSTS][PATH_MAX], *cmd = NULL;
	struct out o;

	if (!has_coordinator())
		skip();
	snprintf(exp, sizeof(exp), "%s/slurm-3.ini", work);
	snprintf(out, sizeof(out), "%s/%s", work, name);
	write_experiment(exp, 6);
	assert_true(asprintf(&cmd, launch, crystal, exp, out) > 0);
	o = sh(120000, "%s", cmd);
	if (o.rc)
		fail_msg("%s: exit status %d:\n%s%s", cmd, o.rc, o.out, o.err);
	free(cmd);
	out_free(&o);
	check_node_dirs(out, dirs);
	/* the source is on the first host: what the others got came over
	 * the bridge */
	for (int i = 1; i < HOSTS; i++)
		if (!(bytes_in(dirs[i]) > 0))
			fail_msg("the peers of %s received no data", dirs[i]);

	/* one run in the report, of every peer (and the source) */
	o = sh(60000, "'%s' report --csv '%s' '%s' '%s'", crystal, dirs[2],
	       dirs[0], dirs[1]);
	if (o.rc || lines(o.out) != 2)
		fail_msg("crystal report: %d, not one run:\n%s%s", o.rc, o.out,
			 o.err);
	assert_non_null(strstr(o.out, ",3,3,")); /* nodes, nodes read */
	assert_non_null(strstr(o.out, ",16,"));	 /* peers */
	out_free(&o);
}

/* srun: one task per host, each entering its host by SLURM_PROCID. */
static void srun_runs_one_experiment(void **state)
{
	char launch[PATH_MAX + 128];

	snprintf(launch, sizeof(launch),
		 "srun -n %d --kill-on-bad-exit=0 sh '%s/scripts/netns-task.sh' "
		 "%s '%%s' run '%%s' --out '%%s' --quiet",
		 HOSTS, src, PREFIX);
	one_experiment("srun", launch);
}

/* pdsh: its exec module runs the command once per name of -w, here the
 * namespaces, as its ssh module would on hosts. */
static void pdsh_runs_one_experiment(void **state)
{
	char launch[256];

	snprintf(launch, sizeof(launch),
		 "pdsh -S -R exec -w '%s[0-%d]' ip netns exec %%%%h '%%s' run "
		 "'%%s' --out '%%s' --quiet",
		 PREFIX, HOSTS - 1);
	one_experiment("pdsh", launch);
}

/* --- a node killed, a node interrupted ------------------------------------ */

/* Starts the 12 s experiment over the three hosts with srun, into
 * work/NAME, and returns once host `host`'s node has written a sample
 * (the experiment has started); srun's pid. */
static pid_t start_long_run(const char *name, int host, char *out,
			    size_t len)
{
	char exp[128], cmd[PATH_MAX * 3], csv[PATH_MAX];
	pid_t pid;

	snprintf(exp, sizeof(exp), "%s/%s.ini", work, name);
	snprintf(out, len, "%s/%s", work, name);
	write_experiment(exp, 12);
	snprintf(cmd, sizeof(cmd),
		 "exec srun -n %d --kill-on-bad-exit=0 sh "
		 "'%s/scripts/netns-task.sh' %s '%s' run '%s' --out '%s' "
		 "--quiet",
		 HOSTS, src, PREFIX, crystal, exp, out);
	char *argv[] = {"sh", "-c", cmd, NULL};
	pid = t_spawn(argv, NULL, NULL);
	assert_true(pid > 0);
	snprintf(csv, sizeof(csv), "%s/%s.%d/node.csv", out, NET, host + 1);
	for (int i = 0; i < 600; i++) {
		struct t_csv c;
		bool loaded = !t_csv_load(&c, csv);
		bool started = loaded && t_csv_rows(&c) > 0;

		if (loaded)
			t_csv_free(&c); /* a header alone is loaded too */
		if (started)
			return pid;
		usleep(100 * 1000);
	}
	t_wait(pid, 1000);
	fail_msg("the node of %s%d wrote no sample in 60 s (%s)", PREFIX,
		 host, csv);
	return -1;
}

/* Sends sig to every process of host `host` (this test's own: the
 * namespace is). */
static void signal_host(int host, const char *sig)
{
	/* the shell's own kill: a minimal Debian has no /bin/kill (procps) */
	struct out o = sh(30000,
			  "for p in $(ip netns pids %s%d); do kill -%s $p; done",
			  PREFIX, host, sig);

	assert_int_equal(o.rc, 0);
	out_free(&o);
}

static char *summary_of(const char *out, int host)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s.%d/summary.json", out, NET,
		 host + 1);
	return t_slurp(path);
}

/* The report's nodes table of the run in out, as CSV. */
static char *nodes_csv(const char *out)
{
	struct out o = sh(60000,
			  "'%s' report --nodes-csv - '%s/%s.1' '%s/%s.2' "
			  "'%s/%s.3'",
			  crystal, out, NET, out, NET, out, NET);

	if (o.rc)
		fail_msg("crystal report: %d:\n%s", o.rc, o.err);
	free(o.err);
	return o.out;
}

/* SIGKILL to the third host's node mid-run: the others carry on to the
 * end and say it lost; the report merges all three and says when. */
static void a_killed_node_is_reported(void **state)
{
	char out[128], *json, *csv, want[64];
	const char *lost;
	pid_t srun;

	if (!has_coordinator())
		skip();
	srun = start_long_run("killed", 2, out, sizeof(out));
	signal_host(2, "KILL");
	t_wait(srun, 90000);
	for (int i = 0; i < 2; i++) {
		json = summary_of(out, i);
		if (!json)
			fail_msg("node %d left no summary.json", i);
		assert_non_null(strstr(json, "\"complete\": true"));
		assert_non_null(strstr(json, "\"interrupted\": false"));
		snprintf(want, sizeof(want), "\"node\": \"%s.3\"", NET);
		lost = strstr(json, "hosts_lost");
		if (!lost || !strstr(lost, want))
			fail_msg("node %d does not say it lost %s.3:\n%s", i,
				 NET, json);
		free(json);
	}
	assert_null(summary_of(out, 2));
	csv = nodes_csv(out);
	snprintf(want, sizeof(want), ",%s.3,", NET);
	const char *row = strstr(csv, want);
	if (!row || !strstr(row, ",lost,"))
		fail_msg("no lost row of %s.3 in:\n%s", NET, csv);
	assert_non_null(strstr(row, ",2,")); /* seen by the other two */
	free(csv);
}

/* SIGINT to one node (not the coordinator's): every node stops early and
 * writes its directory, complete and marked interrupted. */
static void an_interrupted_node_stops_all(void **state)
{
	char out[128], *json, *csv;
	pid_t srun;

	if (!has_coordinator())
		skip();
	srun = start_long_run("interrupted", 1, out, sizeof(out));
	signal_host(1, "INT");
	t_wait(srun, 90000);
	for (int i = 0; i < HOSTS; i++) {
		json = summary_of(out, i);
		if (!json)
			fail_msg("node %d left no summary.json", i);
		if (!strstr(json, "\"interrupted\": true") ||
		    !strstr(json, "\"complete\": true"))
			fail_msg("node %d: not a complete, interrupted "
				 "directory:\n%s",
				 i, json);
		free(json);
	}
	csv = nodes_csv(out);
	assert_int_equal(lines(csv), 1 + HOSTS);
	for (const char *p = strchr(csv, '\n') + 1; *p;
	     p += strcspn(p, "\n") + 1)
		if (!strstr(p, ",interrupted,") ||
		    strstr(p, ",interrupted,") > p + strcspn(p, "\n"))
			fail_msg("a node did not end interrupted:\n%s", csv);
	free(csv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(tasks_enter_their_hosts),
	    cmocka_unit_test(srun_runs_one_experiment),
	    cmocka_unit_test(pdsh_runs_one_experiment),
	    cmocka_unit_test(a_killed_node_is_reported),
	    cmocka_unit_test(an_interrupted_node_stops_all),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
