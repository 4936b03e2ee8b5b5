/* The run directory (docs/run-directory.md), made by the real binary
 * ($BUILD/crystal) on loopback ports 23000-23099:
 *   - a Vanilla run of 12 peers stopped by SIGINT midway exits 130 and
 *     leaves a complete directory: summary.json marked interrupted and
 *     complete, command.txt, a byte copy of the experiment file, node.csv,
 *     workers.csv, peers.csv with a row for every peer at every sample
 *     time, and peers-final.csv with one row per peer whose byte counts
 *     add up to the summary's and agree with each peer's last sample;
 *   - `crystal log` tells a traced peer's story in time order: birth,
 *     session joined, neighbours, messages by type, segments played,
 *     samples; an untraced peer has no trace lines;
 *   - `crystal log` refuses bad usage and an unknown peer with status 2.
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

#define NPEERS 12 /* and the source */
#define MAX_TIMES 200

static char crystal[512];
static char dir[64];
static char run[128];
static char ini[128];

static const char EXPERIMENT[] =
	"; a small Vanilla mesh for the run-directory test\n"
	"[experiment]\n"
	"name = rundir\n"
	"duration = 60s\n"
	"seed = 7\n"
	"algorithm = vanilla\n"
	"[algorithm]\n"
	"startup_ms = 1000\n"
	"playout_delay_ms = 2000\n"
	"[class source]\n"
	"count = 1\n"
	"addresses = 127.0.0.1:23000\n"
	"upload = 4MB/s\n"
	"[class peers]\n"
	"count = 12\n"
	"addresses = 127.0.0.1:23001-23012\n"
	"upload = 1MB/s\n"
	"[session 1]\n"
	"source = 127.0.0.1:23000\n"
	"rate = 32KB/s\n"
	"message_size = 1KiB\n"
	"segment = 500ms\n"
	"[tracker]\n"
	"mode = inproc\n"
	"address = 127.0.0.1:23099\n"
	"peers_per_reply = 6\n";

/* Lines of a file, and how many; NULL when it cannot be read. */
static char **lines_of(const char *path, size_t *n)
{
	char *text = t_slurp(path), **v = NULL;
	size_t cap = 0;

	*n = 0;
	if (!text)
		return NULL;
	for (char *s = strtok(text, "\n"); s; s = strtok(NULL, "\n")) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			v = realloc(v, cap * sizeof(*v));
			assert_non_null(v);
		}
		v[(*n)++] = strdup(s);
	}
	free(text);
	return v;
}

static void free_lines(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Column k (0-based) of a CSV line, into out. */
static void column(const char *line, int k, char *out, size_t len)
{
	const char *s = line, *e;

	for (int i = 0; i < k && s; i++) {
		s = strchr(s, ',');
		if (s)
			s++;
	}
	assert_non_null(s);
	e = strchr(s, ',');
	if (!e)
		e = s + strlen(s);
	snprintf(out, len, "%.*s", (int)(e - s), s);
}

static int col_index(const char *header, const char *name)
{
	char c[64];

	for (int k = 0; k < 40; k++) {
		column(header, k, c, sizeof(c));
		if (!strcmp(c, name))
			return k;
		if (!strchr(header, ','))
			break;
	}
	fail_msg("no column %s in %s", name, header);
	return -1;
}

static unsigned long long json_uint(const char *json, const char *key)
{
	char pat[96];
	const char *v;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	v = strstr(json, pat);
	if (!v)
		fail_msg("summary.json has no %s", key);
	return strtoull(v + strlen(pat), NULL, 10);
}

static bool json_true(const char *json, const char *key)
{
	char pat[96];
	const char *v;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	v = strstr(json, pat);
	if (!v)
		fail_msg("summary.json has no %s", key);
	v += strlen(pat);
	while (*v == ' ')
		v++;
	return !strncmp(v, "true", 4);
}

/* Samples so far: rows of workers.csv, less the header. */
static size_t samples_written(void)
{
	char path[160];
	size_t n;
	char **v;

	snprintf(path, sizeof(path), "%s/workers.csv", run);
	v = lines_of(path, &n);
	free_lines(v, n);
	return n > 0 ? n - 1 : 0;
}

/* Segments the traced peer has played by its latest row of peers.csv. */
static unsigned long long traced_played(void)
{
	char path[160];
	unsigned long long played = 0;
	size_t n;
	char **v;

	snprintf(path, sizeof(path), "%s/peers.csv", run);
	v = lines_of(path, &n);
	for (size_t i = 1; v && i < n; i++) {
		char peer[64], c[32];
		column(v[i], col_index(v[0], "peer"), peer, sizeof(peer));
		if (strcmp(peer, "127.0.0.1:23005"))
			continue;
		column(v[i], col_index(v[0], "played"), c, sizeof(c));
		played = strtoull(c, NULL, 10);
	}
	free_lines(v, n);
	return played;
}

/* Runs the experiment once, stopping it with SIGINT after some samples
 * with data; every test reads the directory it leaves. */
static int group_setup(void **state)
{
	char built[512], errp[160], path[1200];
	pid_t pid;
	FILE *f;
	int rc;

	snprintf(built, sizeof(built), "%s/crystal", t_build_dir());
	if (access(built, X_OK)) {
		fprintf(stderr, "no %s: build it first (make)\n", built);
		return -1;
	}
	if (t_mkdtemp(dir, sizeof(dir)))
		return -1;
	snprintf(crystal, sizeof(crystal), "%s/crystal", dir);
	snprintf(path, sizeof(path), "cp '%s' '%s'", built, crystal);
	if (system(path))
		return -1;
	snprintf(ini, sizeof(ini), "%s/rundir.ini", dir);
	f = fopen(ini, "w");
	if (!f)
		return -1;
	fputs(EXPERIMENT, f);
	fclose(f);
	snprintf(run, sizeof(run), "%s/run", dir);
	snprintf(errp, sizeof(errp), "%s/stderr", dir);
	char *argv[] = {crystal, "run",	  ini,		   "--out",
			run,	 "--quiet", "--trace", "127.0.0.1:23005",
			NULL};
	pid = t_spawn(argv, NULL, errp);
	if (pid <= 0)
		return -1;
	/* midway: once the traced peer has played a few segments and several
	 * samples are written, however slowly the machine runs */
	for (int i = 0; i < 5000 && (samples_written() < 2 * 6 ||
				     traced_played() < 4); i++)
		usleep(10000);
	kill(pid, SIGINT);
	rc = t_wait(pid, 30000);
	if (rc != 130) {
		char *se = t_slurp(errp);
		fprintf(stderr, "crystal run exited %d, expected 130: %s\n", rc,
			se ? se : "");
		free(se);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	t_rm_rf(dir);
	return 0;
}

static void directory_is_complete(void **state)
{
	static const char *const files[] = {
		"summary.json", "command.txt", "node.csv",    "workers.csv",
		"peers.csv",	"peers-final.csv", "worker-0.log",
	};
	char path[200], *json, *a, *b;

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", run, files[i]);
		if (!t_exists(path))
			fail_msg("the run directory has no %s", files[i]);
	}
	snprintf(path, sizeof(path), "%s/summary.json", run);
	json = t_slurp(path);
	assert_non_null(json);
	assert_true(json_true(json, "interrupted"));
	assert_true(json_true(json, "complete"));
	assert_non_null(strstr(json, "\"experiment_id\":"));
	assert_non_null(strstr(json, "\"host\":"));
	free(json);
	/* the experiment file as used, byte for byte */
	snprintf(path, sizeof(path), "%s/inputs/rundir.ini", run);
	a = t_slurp(path);
	b = t_slurp(ini);
	assert_non_null(a);
	assert_non_null(b);
	assert_string_equal(a, b);
	free(a);
	free(b);
	snprintf(path, sizeof(path), "%s/command.txt", run);
	a = t_slurp(path);
	assert_non_null(a);
	assert_non_null(strstr(a, "--trace 127.0.0.1:23005"));
	free(a);
}

static void every_peer_at_every_sample(void **state)
{
	char path[200], t[32], peer[64], tv[MAX_TIMES][32];
	size_t n, nw, times = 0, count[MAX_TIMES];
	char **v, **w;

	snprintf(path, sizeof(path), "%s/peers.csv", run);
	v = lines_of(path, &n);
	assert_non_null(v);
	assert_string_equal(v[0], "time_s,peer,class,session,alive,"
				  "data_bytes_in,data_bytes_out,ctrl_bytes_in,"
				  "ctrl_bytes_out,buffer_segments,played,"
				  "missed,duplicate_bytes,segment_latency_s,"
				  "data_bytes_offered,tracker_bytes_in,"
				  "tracker_bytes_out");
	/* every sample time has all 13 peers, each once (alive all along;
	 * the workers append their blocks in any order) */
	for (size_t i = 1; i < n; i++) {
		size_t k;
		column(v[i], 0, t, sizeof(t));
		column(v[i], 1, peer, sizeof(peer));
		assert_non_null(strstr(peer, "127.0.0.1:230"));
		for (k = 0; k < times && strcmp(tv[k], t); k++)
			;
		if (k == times) {
			assert_true(times < MAX_TIMES);
			snprintf(tv[times], sizeof(tv[times]), "%s", t);
			count[times++] = 0;
		}
		count[k]++;
	}
	for (size_t k = 0; k < times; k++)
		if (count[k] != NPEERS + 1)
			fail_msg("%zu rows at time %s, expected %d", count[k],
				 tv[k], NPEERS + 1);
	assert_true(times >= 3);
	/* each worker every time: as many rows in workers.csv per time */
	snprintf(path, sizeof(path), "%s/workers.csv", run);
	w = lines_of(path, &nw);
	assert_non_null(w);
	assert_true(nw - 1 >= times);
	free_lines(w, nw);
	/* node.csv: a row a second, the peers alive */
	snprintf(path, sizeof(path), "%s/node.csv", run);
	w = lines_of(path, &nw);
	assert_non_null(w);
	assert_true(nw >= 3);
	column(w[nw - 1], 3, t, sizeof(t));
	assert_int_equal(strtoul(t, NULL, 10), NPEERS + 1);
	free_lines(w, nw);
	free_lines(v, n);
}

static void final_rows_add_up(void **state)
{
	char path[200], c[64], peer[64], *json;
	size_t n, ns;
	char **v, **s;
	unsigned long long sum = 0, played = 0;
	int in, pl, sin, speer;

	snprintf(path, sizeof(path), "%s/peers-final.csv", run);
	v = lines_of(path, &n);
	assert_non_null(v);
	assert_int_equal(n, 1 + NPEERS + 1);
	in = col_index(v[0], "data_bytes_in");
	pl = col_index(v[0], "played");
	snprintf(path, sizeof(path), "%s/peers.csv", run);
	s = lines_of(path, &ns);
	assert_non_null(s);
	sin = col_index(s[0], "data_bytes_in");
	speer = col_index(s[0], "peer");
	for (size_t i = 1; i < n; i++) {
		unsigned long long bytes;
		column(v[i], in, c, sizeof(c));
		bytes = strtoull(c, NULL, 10);
		sum += bytes;
		column(v[i], pl, c, sizeof(c));
		played += strtoull(c, NULL, 10);
		/* the peer's last sample says the same */
		column(v[i], 0, peer, sizeof(peer));
		for (size_t k = ns - 1; k > 0; k--) {
			char p2[64];
			column(s[k], speer, p2, sizeof(p2));
			if (strcmp(p2, peer))
				continue;
			column(s[k], sin, c, sizeof(c));
			assert_int_equal(strtoull(c, NULL, 10), bytes);
			break;
		}
	}
	snprintf(path, sizeof(path), "%s/summary.json", run);
	json = t_slurp(path);
	assert_non_null(json);
	assert_int_equal(sum, json_uint(json, "data_bytes_received"));
	assert_true(sum > 0);
	assert_true(played > 0); /* it ran long enough to play */
	free(json);
	free_lines(v, n);
	free_lines(s, ns);
}

static void log_tells_a_traced_peer_in_order(void **state)
{
	char *so = NULL, *se = NULL;
	char *argv[] = {crystal, "log", run, "--peer", "127.0.0.1:23005",
			NULL};
	int rc = t_run(argv, 30000, &so, &se);
	double last = -1;
	bool birth = false, joined = false, neighbour = false, data = false,
	     played = false, stat = false;

	if (rc)
		fail_msg("crystal log exited %d: %s", rc, se ? se : "");
	assert_non_null(so);
	for (char *l = strtok(so, "\n"); l; l = strtok(NULL, "\n")) {
		double t;
		char *end;
		if (strncmp(l, "  ", 2) || !strchr("0123456789", l[11]))
			continue; /* the heading and the tally */
		t = strtod(l, &end);
		assert_true(end != l);
		assert_true(t >= last); /* in time order */
		last = t;
		birth |= strstr(l, "INFO  birth") && !joined;
		joined |= strstr(l, "join session 1") != NULL;
		neighbour |= strstr(l, "neighbour 127.0.0.1:230") != NULL;
		data |= strstr(l, "TRACE in data type 128") != NULL;
		played |= strstr(l, "DEBUG segment") && strstr(l, "played");
		stat |= strstr(l, "STAT  data in") != NULL;
	}
	assert_true(birth);
	assert_true(joined);
	assert_true(neighbour);
	assert_true(data);
	assert_true(played);
	assert_true(stat);
	free(so);
	free(se);
}

static void untraced_peer_has_no_trace_lines(void **state)
{
	char *so = NULL, *se = NULL;
	char *argv[] = {crystal, "log", run, "--peer", "127.0.0.1:23006",
			NULL};
	int rc = t_run(argv, 30000, &so, &se);

	assert_int_equal(rc, 0);
	assert_non_null(so);
	assert_non_null(strstr(so, "INFO  birth"));
	assert_null(strstr(so, "TRACE"));
	assert_null(strstr(so, "DEBUG segment"));
	assert_non_null(strstr(so, "--trace 127.0.0.1:23006"));
	free(so);
	free(se);
}

static void log_refuses_bad_usage(void **state)
{
	char *so = NULL, *se = NULL;
	char *nopeer[] = {crystal, "log", run, NULL};
	char *unknown[] = {crystal, "log", run, "--peer", "10.9.9.9:1", NULL};
	char *nodir[] = {crystal, "log", "/nonexistent/run", "--peer",
			 "127.0.0.1:23005", NULL};
	char *level[] = {crystal, "log",     run,     "--peer",
			 "127.0.0.1:23005", "--level", "loud", NULL};

	assert_int_equal(t_run(nopeer, 10000, &so, &se), 2);
	assert_non_null(strstr(se, "--peer"));
	free(so), free(se);
	assert_int_equal(t_run(unknown, 10000, &so, &se), 2);
	assert_non_null(strstr(se, "10.9.9.9:1"));
	free(so), free(se);
	assert_int_equal(t_run(nodir, 10000, &so, &se), 2);
	assert_non_null(strstr(se, "/nonexistent/run"));
	free(so), free(se);
	assert_int_equal(t_run(level, 10000, &so, &se), 2);
	assert_non_null(strstr(se, "--level"));
	free(so), free(se);
}

/* The stopped run is one crystal report reads: a table that says it was
 * interrupted and counts all 13 peers, and a report with its plots. */
static void report_reads_the_stopped_run(void **state)
{
	char *so = NULL, *se = NULL, out[200], *html;
	char *csv[] = {crystal, "report", "--csv", run, NULL};
	char *rep[] = {crystal, "report", run, "--out", out, NULL};
	char *head, *row, c[16];
	int rc = t_run(csv, 60000, &so, &se);

	if (rc)
		fail_msg("crystal report --csv exited %d: %s", rc, se ? se : "");
	assert_non_null(so);
	head = strtok(so, "\n");
	row = strtok(NULL, "\n");
	assert_non_null(head);
	assert_non_null(row);
	column(row, col_index(head, "interrupted"), c, sizeof(c));
	assert_string_equal(c, "true");
	free(so);
	free(se);

	snprintf(out, sizeof(out), "%s/report.html", dir);
	so = se = NULL;
	rc = t_run(rep, 60000, &so, &se);
	if (rc)
		fail_msg("crystal report exited %d: %s", rc, se ? se : "");
	html = t_slurp(out);
	assert_non_null(html);
	assert_non_null(strstr(html, "<svg"));
	assert_non_null(strstr(html, "interrupted"));
	free(html);
	free(so);
	free(se);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(directory_is_complete),
		cmocka_unit_test(every_peer_at_every_sample),
		cmocka_unit_test(final_rows_add_up),
		cmocka_unit_test(log_tells_a_traced_peer_in_order),
		cmocka_unit_test(untraced_peer_has_no_trace_lines),
		cmocka_unit_test(log_refuses_bad_usage),
		cmocka_unit_test(report_reads_the_stopped_run),
	};
	return cmocka_run_group_tests_name("rundir", tests, group_setup,
					   group_teardown);
}
