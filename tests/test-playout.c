/* Real media through the mesh, with the real binary ($BUILD/crystal) on
 * loopback ports 23100-23199:
 *   - Debian's ffmpeg makes a short MPEG transport stream (video and
 *     audio); `crystal run` streams it from its standard input through 50
 *     Vanilla peers with ample bandwidth, and a far peer writes what it
 *     plays to a file (`--play-out IP:port=PATH`);
 *   - the file is byte for byte the input, the end of the stream
 *     included, and ffprobe reads it as the same streams;
 *   - the same through 50 R2 peers, whose playback buffers keep data only
 *     for a peer that plays out (cr_plays_out): the one that does plays
 *     the input byte for byte.  R2 does not pass the stream's end on, so
 *     its input is cut to whole segments (two of 47,000 bytes, 500
 *     transport packets) and its segments are made that size;
 *   - a play-out for an address that is no peer, or a path that cannot be
 *     written, is refused before anything runs (status 2, the option and
 *     the path named).
 */
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static char crystal[512];
static char dir[64];

static const char EXPERIMENT[] =
	"; 50 Vanilla peers play a media stream read from stdin\n"
	"[experiment]\n"
	"name = playout\n"
	"duration = 14s\n"
	"seed = 3\n"
	"algorithm = vanilla\n"
	"[algorithm]\n"
	"startup_ms = 1500\n"
	"window = 40\n"
	"[class source]\n"
	"count = 1\n"
	"addresses = 127.0.0.1:23100\n"
	"upload = 4MB/s\n"
	"[class peers]\n"
	"count = 50\n"
	"addresses = 127.0.0.1:23101-23150\n"
	"upload = 1MB/s\n"
	"[session 1]\n"
	"source = 127.0.0.1:23100\n"
	"rate = 96KB/s\n"
	"message_size = 1KiB\n"
	"segment = 500ms\n"
	"data = stdin\n"
	"[tracker]\n"
	"mode = inproc\n"
	"address = 127.0.0.1:23199\n"
	"peers_per_reply = 8\n";

/* The same stream through R2: 8 blocks a segment, a window of 20
 * half-second segments over the 6 s playout delay; segments of 47,000
 * bytes (the rate below), and the first two of them the input. */
#define R2_INPUT 94000
static const char R2_SETTINGS[] = "algorithm = r2\n"
				  "[algorithm]\n"
				  "startup_ms = 1500\n"
				  "window = 20\n"
				  "blocks_per_segment = 8\n"
				  "playout_delay_ms = 6000\n";
static const char R2_SESSION[] = "[session 1]\n"
				 "source = 127.0.0.1:23100\n"
				 "rate = 94KB/s\n";

static int sh(const char *cmd)
{
	int rc = system(cmd);

	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int group_setup(void **state)
{
	char built[512], cmd[1400];
	FILE *f;

	snprintf(built, sizeof(built), "%s/crystal", t_build_dir());
	if (access(built, X_OK)) {
		fprintf(stderr, "no %s: build it first (make)\n", built);
		return -1;
	}
	if (sh("command -v ffmpeg >/dev/null && command -v ffprobe "
	       ">/dev/null")) {
		fprintf(stderr, "ffmpeg and ffprobe are needed: make deps\n");
		return -1;
	}
	if (t_mkdtemp(dir, sizeof(dir)))
		return -1;
	snprintf(crystal, sizeof(crystal), "%s/crystal", dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", built, crystal);
	if (sh(cmd))
		return -1;
	snprintf(cmd, sizeof(cmd), "%s/playout.ini", dir);
	f = fopen(cmd, "w");
	if (!f)
		return -1;
	fputs(EXPERIMENT, f);
	fclose(f);
	/* the R2 file: Vanilla's settings replaced */
	snprintf(cmd, sizeof(cmd), "%s/playout-r2.ini", dir);
	f = fopen(cmd, "w");
	if (!f)
		return -1;
	{
		const char *from = strstr(EXPERIMENT, "algorithm = vanilla");
		const char *to = strstr(EXPERIMENT, "[class source]");
		const char *sess = strstr(EXPERIMENT, "[session 1]");
		const char *rest = strstr(sess, "message_size");
		fwrite(EXPERIMENT, 1, (size_t)(from - EXPERIMENT), f);
		fputs(R2_SETTINGS, f);
		fwrite(to, 1, (size_t)(sess - to), f);
		fputs(R2_SESSION, f);
		fputs(rest, f);
	}
	fclose(f);
	/* 4 s of test pattern and tone: about 110 KB, which no segment
	 * size divides, so the last segment is short */
	snprintf(cmd, sizeof(cmd),
		 "ffmpeg -nostdin -hide_banner -loglevel error -y "
		 "-f lavfi -i testsrc=duration=4:size=160x120:rate=10 "
		 "-f lavfi -i sine=frequency=440:duration=4 "
		 "-c:v mpeg2video -b:v 150k -c:a mp2 -b:a 64k "
		 "-f mpegts '%s/clip.ts'",
		 dir);
	if (sh(cmd)) {
		fprintf(stderr, "ffmpeg could not make the test clip\n");
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "head -c %d '%s/clip.ts' > '%s/clip-r2.ts'",
		 R2_INPUT, dir, dir);
	return sh(cmd) ? -1 : 0;
}

static int group_teardown(void **state)
{
	t_rm_rf(dir);
	return 0;
}

/* ffprobe's list of streams (codec and type), one per line. */
static char *probe(const char *path)
{
	char cmd[700], out[300];

	snprintf(out, sizeof(out), "%s/probe.txt", dir);
	snprintf(cmd, sizeof(cmd),
		 "ffprobe -v error -show_entries stream=codec_name,codec_type "
		 "-of csv=p=0 '%s' > '%s'",
		 path, out);
	if (sh(cmd))
		return NULL;
	return t_slurp(out);
}

/* Streams `input` through the experiment `ini` of the test's directory;
 * the last peer plays out to played-<ini>.ts, which must be the input. */
static void plays_the_input(const char *ini, const char *input)
{
	char cmd[1600], clip[200], out[200], errp[200];
	char *want, *got, *pw, *pg;
	size_t wlen = 0, glen = 0;
	FILE *f;
	int rc;

	snprintf(clip, sizeof(clip), "%s/%s", dir, input);
	snprintf(out, sizeof(out), "%s/played-%s.ts", dir, ini);
	snprintf(errp, sizeof(errp), "%s/stderr", dir);
	/* the last peer: its neighbours are whoever the tracker gave it */
	snprintf(cmd, sizeof(cmd),
		 "'%s' run '%s/%s' --out '%s/run-%s' --quiet "
		 "--play-out 127.0.0.1:23150='%s' < '%s' 2> '%s'",
		 crystal, dir, ini, dir, ini, out, clip, errp);
	rc = sh(cmd);
	if (rc) {
		char *se = t_slurp(errp);
		fail_msg("crystal run exited %d: %s", rc, se ? se : "");
	}
	/* byte for byte, to the end */
	f = fopen(clip, "rb");
	assert_non_null(f);
	want = malloc(1 << 20);
	wlen = fread(want, 1, 1 << 20, f);
	fclose(f);
	f = fopen(out, "rb");
	assert_non_null(f);
	got = malloc(1 << 20);
	glen = fread(got, 1, 1 << 20, f);
	fclose(f);
	assert_true(wlen >= R2_INPUT);
	if (glen != wlen)
		fail_msg("played %zu bytes of %zu", glen, wlen);
	assert_memory_equal(got, want, wlen);
	free(want);
	free(got);
	/* and ffprobe sees the same streams */
	pw = probe(clip);
	pg = probe(out);
	assert_non_null(pw);
	assert_non_null(pg);
	assert_non_null(strstr(pw, "mpeg2video,video"));
	assert_non_null(strstr(pw, "mp2,audio"));
	assert_string_equal(pg, pw);
	free(pw);
	free(pg);
}

static void far_peer_plays_the_input(void **state)
{
	plays_the_input("playout.ini", "clip.ts");
}

static void far_r2_peer_plays_the_input(void **state)
{
	plays_the_input("playout-r2.ini", "clip-r2.ts");
}

static void bad_play_out_refused(void **state)
{
	char ini[200], out[200], bad1[260], bad2[300], *so, *se;

	snprintf(ini, sizeof(ini), "%s/playout.ini", dir);
	snprintf(out, sizeof(out), "%s/bad", dir);
	snprintf(bad1, sizeof(bad1), "10.1.2.3:9=%s/x.ts", dir);
	snprintf(bad2, sizeof(bad2), "127.0.0.1:23150=%s/no/such/dir/x.ts",
		 dir);
	char *noeq[] = {crystal, "run", ini, "--out", out,
			"--play-out", "127.0.0.1:23150", NULL};
	char *nopeer[] = {crystal, "run", ini, "--out", out,
			  "--play-out", bad1, NULL};
	char *nodir[] = {crystal, "run", ini, "--out", out,
			 "--play-out", bad2, NULL};

	assert_int_equal(t_run(noeq, 20000, &so, &se), 2);
	assert_non_null(strstr(se, "--play-out"));
	free(so), free(se);
	assert_int_equal(t_run(nopeer, 20000, &so, &se), 2);
	assert_non_null(strstr(se, "--play-out 10.1.2.3:9"));
	free(so), free(se);
	assert_int_equal(t_run(nodir, 20000, &so, &se), 2);
	assert_non_null(strstr(se, "no/such/dir/x.ts"));
	free(so), free(se);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(far_peer_plays_the_input),
		cmocka_unit_test(far_r2_peer_plays_the_input),
		cmocka_unit_test(bad_play_out_refused),
	};
	return cmocka_run_group_tests_name("playout", tests, group_setup,
					   group_teardown);
}
