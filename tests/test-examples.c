/* Every experiment in examples/ (*.ini), run briefly as a user runs it
 * ($BUILD/crystal run FILE --duration T --out DIR), shows what its header
 * comment promises: data moves (summary.json's cumulative rate and the
 * bytes in peers-final.csv), and where the example streams with playback,
 * peers play (continuity above 0, and some receiver played segments).
 *
 * Each example has a line in the table below with the time it needs to
 * show that (a Vanilla peer plays its first segment playout_delay_ms after
 * the source made it); an example missing from the table fails the test,
 * so a new one is run too.  The examples use their own fixed ports
 * (20000-22050, 127.0.0.5): the runs go one after another.
 */
#include "support.h"

#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

struct example {
	const char *file;
	const char *duration;
	const char *warmup; /* when the file's is longer than the run */
	bool plays;	    /* streams with playback */
};

static const struct example examples[] = {
	{"relay-chains.ini", "2", NULL, false},
	{"churn.ini", "10", NULL, true},
	{"vanilla-50.ini", "8", NULL, true},
	/* 500 peers: its 15 s playout delay, and a little */
	{"vanilla-500.ini", "18", "0", true},
	/* R2 with the same: a little more, for its decoding latency */
	{"r2-500.ini", "24", "0", true},
};
#define NEXAMPLES (sizeof(examples) / sizeof(examples[0]))

static char crystal[512];
static char dir[64];

static int group_setup(void **state)
{
	char built[512];

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
	return t_run(cp, 30000, NULL, NULL) ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	t_rm_rf(dir);
	return 0;
}

/* Every *.ini of examples/ has a line in the table. */
static void every_example_is_listed(void **state)
{
	char path[512];
	struct dirent *d;
	DIR *dp;
	size_t found = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/examples", t_src_dir());
	dp = opendir(path);
	assert_non_null(dp);
	while ((d = readdir(dp))) {
		size_t len = strlen(d->d_name), i;
		if (len < 4 || strcmp(d->d_name + len - 4, ".ini"))
			continue;
		for (i = 0; i < NEXAMPLES; i++)
			if (!strcmp(examples[i].file, d->d_name))
				break;
		if (i == NEXAMPLES)
			fail_msg("examples/%s is not run by this test: give it "
				 "a line in tests/test-examples.c",
				 d->d_name);
		found++;
	}
	closedir(dp);
	assert_int_equal(found, NEXAMPLES);
}

static double num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_number(v))
		fail_msg("summary.json: %s is not a number", key);
	return json_number_value(v);
}

static void run_example(const struct example *x)
{
	char ini[512], out[256], path[300], *se = NULL;
	double bytes_in = 0, played = 0;
	json_error_t jerr;
	json_t *root, *c;
	struct t_csv csv;
	int rc, n = 0;
	char *argv[12];

	snprintf(ini, sizeof(ini), "%s/examples/%s", t_src_dir(), x->file);
	snprintf(out, sizeof(out), "%s/%s", dir, x->file);
	argv[n++] = crystal;
	argv[n++] = "run";
	argv[n++] = ini;
	argv[n++] = "--duration";
	argv[n++] = (char *)x->duration;
	if (x->warmup) {
		argv[n++] = "--warmup";
		argv[n++] = (char *)x->warmup;
	}
	argv[n++] = "--out";
	argv[n++] = out;
	argv[n++] = "--quiet";
	argv[n] = NULL;
	rc = t_run(argv, 120000, NULL, &se);
	if (rc)
		fail_msg("%s: crystal run exited %d: %s", x->file, rc,
			 se ? se : "");
	free(se);

	snprintf(path, sizeof(path), "%s/summary.json", out);
	root = json_load_file(path, 0, &jerr);
	if (!root)
		fail_msg("%s: %s", path, jerr.text);
	if (!(num(root, "cumulative_rate_Bps") > 0))
		fail_msg("%s moves no data: cumulative rate %g B/s", x->file,
			 num(root, "cumulative_rate_Bps"));
	c = json_object_get(root, "continuity");
	if (x->plays) {
		if (!json_is_object(c) || !(num(c, "mean") > 0))
			fail_msg("%s: no peer plays (continuity %s)", x->file,
				 json_is_object(c) ? "0" : "null");
		print_message("%s: %.0f B/s, continuity %.3f over %g peers\n",
			      x->file, num(root, "cumulative_rate_Bps"),
			      num(c, "mean"), num(c, "peers"));
	} else {
		print_message("%s: %.0f B/s\n", x->file,
			      num(root, "cumulative_rate_Bps"));
	}
	json_decref(root);

	snprintf(path, sizeof(path), "%s/peers-final.csv", out);
	if (t_csv_load(&csv, path))
		fail_msg("cannot read %s", path);
	for (size_t r = 0; r < t_csv_rows(&csv); r++) {
		double b = t_csv_num(&csv, r, "data_bytes_in");
		double p = t_csv_num(&csv, r, "played");
		bytes_in += isnan(b) ? 0 : b;
		played += isnan(p) ? 0 : p;
	}
	t_csv_free(&csv);
	if (!(bytes_in > 0))
		fail_msg("%s: peers-final.csv says no peer received data",
			 x->file);
	if (x->plays && !(played > 0))
		fail_msg("%s: peers-final.csv says no peer played", x->file);
}

static void examples_move_data_and_play(void **state)
{
	(void)state;
	for (size_t i = 0; i < NEXAMPLES; i++)
		run_example(&examples[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_example_is_listed),
		cmocka_unit_test(examples_move_data_and_play),
	};

	return cmocka_run_group_tests_name("examples", tests, group_setup,
					   group_teardown);
}
