/* R2, random push with random network coding (algorithms/r2.c), on
 * loopback: a source and 15 peers, a 32 KB/s stream of random bytes read
 * from a file, in 1 s segments.
 *
 * - every peer plays, and what it plays (its play-out file) is the
 *   source's bytes, segment by segment, in order: decoded in the callback,
 *   and again decoded on the work pool (decode_on_pool);
 * - a peer born late catches up and plays the stream's bytes;
 * - when a third of the peers die, the others' lost neighbours are
 *   replaced and they go on playing;
 * - a peer that sends malformed coded blocks (truncated, another k,
 *   another block size, another session) has every one refused and
 *   counted, and nobody's playback suffers;
 * - parameters out of range refuse the run before any peer starts.
 */
#include "../src/engine/engine.h"
#include "../src/scenario/plan.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TRACKER 29500
#define SOURCE	29501
#define FIRST	29502
#define NPEERS	15
#define RATE	32000 /* bytes a second: a segment */
#define EVIL	(FIRST + NPEERS - 1)

extern const cr_algorithm cr_r2_algorithm;

/* What a run left: each peer's stats, values and play-out. */
struct outcome {
	char dir[256];
	struct cr__peer_stats st[NPEERS];
	double malformed[NPEERS], lost[NPEERS], replaced[NPEERS];
	double dependent[NPEERS], received[NPEERS];
};

static struct outcome out;
static cr_algorithm evil_algorithm;

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Peer i's value of `name` (cr_report_value), 0 when it has none. */
static double value(const cr_node *n, size_t i, const char *name)
{
	const struct cr__peer_stats *st = cr_node_peer_stats(n, i);

	for (uint32_t k = 0; k < n->nvalues; k++)
		if (!strcmp(n->value_names[k], name) &&
		    st->values_set & 1u << k)
			return st->values[k];
	return 0;
}

/* The experiment: `params` lines in [algorithm], peers born in the first
 * second but for `late` (born at 5 s), and `events` added. */
static void run(const cr_algorithm *algo, const char *params, int late,
		const char *more_events)
{
	char path[400], err[1024], ini[2048], ev[4096];
	struct cr_node_playout po[NPEERS];
	static char paths[NPEERS][300];
	struct cr_experiment e;
	struct cr_plan pl;
	unsigned char *data;
	cr_node *n = NULL;
	size_t off;

	memset(&out, 0, sizeof(out));
	assert_int_equal(t_mkdtemp(out.dir, sizeof(out.dir)), 0);
	data = malloc(40 * RATE); /* longer than the run: it never ends */
	assert_non_null(data);
	for (size_t i = 0; i < 40 * RATE; i++)
		data[i] = (unsigned char)(rand() >> 7);
	snprintf(path, sizeof(path), "%s/data.bin", out.dir);
	write_file(path, data, 40 * RATE);
	free(data);
	snprintf(ini, sizeof(ini),
		 "[experiment]\nname = r2\nduration = 11s\nseed = 4\n"
		 "events = r2.events\nalgorithm = r2\n"
		 "[algorithm]\nstartup_ms = 1000\nplayout_delay_ms = 3000\n%s"
		 "[class src]\ncount = 1\naddresses = 127.0.0.1:%d\n"
		 "upload = 1MB/s\n"
		 "[class peers]\ncount = %d\naddresses = 127.0.0.1:%d-%d\n"
		 "upload = 200KB/s\ndownload = 1MB/s\ndelay = 10ms\n"
		 "[session 1]\nsource = 127.0.0.1:%d\nrate = %d\n"
		 "message_size = 1KiB\nsegment = 1s\ndata = file:data.bin\n"
		 "[tracker]\nmode = inproc\naddress = 127.0.0.1:%d\n"
		 "peers_per_reply = 10\n",
		 params, SOURCE, NPEERS, FIRST, FIRST + NPEERS - 1, SOURCE,
		 RATE, TRACKER);
	snprintf(path, sizeof(path), "%s/r2.ini", out.dir);
	write_file(path, ini, strlen(ini));
	off = (size_t)snprintf(ev, sizeof(ev),
			       "0 127.0.0.1:%d birth\n"
			       "0 127.0.0.1:%d deploy session=1\n",
			       SOURCE, SOURCE);
	for (int i = 0; i < NPEERS; i++) {
		double t = FIRST + i == late ? 5 : 0.05 + 0.05 * i;
		off += (size_t)snprintf(ev + off, sizeof(ev) - off,
					"%.3f 127.0.0.1:%d birth\n"
					"%.3f 127.0.0.1:%d join session=1\n",
					t, FIRST + i, t + 0.01, FIRST + i);
	}
	off += (size_t)snprintf(ev + off, sizeof(ev) - off, "%s", more_events);
	snprintf(path, sizeof(path), "%s/r2.events", out.dir);
	write_file(path, ev, off);
	snprintf(path, sizeof(path), "%s/r2.ini", out.dir);
	if (cr_experiment_load(path, &e, err, sizeof(err)))
		fail_msg("%s", err);
	if (cr_plan_build(&pl, &e, algo, NULL, 0, err, sizeof(err)))
		fail_msg("%s", err);
	for (int i = 0; i < NPEERS; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/play-%d", out.dir, i);
		po[i] = (struct cr_node_playout){t_addr((uint16_t)(FIRST + i)),
						 paths[i]};
	}
	pl.cfg.playout = po;
	pl.cfg.nplayout = NPEERS;
	pl.cfg.workers = 2;
	pl.cfg.log_level = CR_LOG_WARN;
	assert_int_equal(cr_node_create(&pl.cfg, &n, err, sizeof(err)), 0);
	if (cr_node_run(n, err, sizeof(err)))
		fail_msg("%s", err);
	for (int i = 0; i < NPEERS; i++) { /* after the source */
		out.st[i] = *cr_node_peer_stats(n, 1 + (size_t)i);
		out.malformed[i] = value(n, 1 + (size_t)i, "blocks_malformed");
		out.lost[i] = value(n, 1 + (size_t)i, "neighbours_lost");
		out.replaced[i] = value(n, 1 + (size_t)i, "neighbours_replaced");
		out.dependent[i] = value(n, 1 + (size_t)i, "blocks_dependent");
		out.received[i] = value(n, 1 + (size_t)i, "blocks_received");
	}
	cr_node_destroy(n);
	cr_plan_free(&pl);
	cr_experiment_free(&e);
}

/* Peer i played the source's bytes: its play-out is whole segments of the
 * input, each where it belongs, in order, one for every segment it played;
 * returns how many it played. */
static uint64_t check_bytes(int i)
{
	char path[400];
	char *in, *got;
	size_t glen, last = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/data.bin", out.dir);
	in = t_slurp(path);
	snprintf(path, sizeof(path), "%s/play-%d", out.dir, i);
	f = fopen(path, "rb");
	assert_non_null(in);
	assert_non_null(f);
	got = malloc(40 * RATE);
	glen = fread(got, 1, 40 * RATE, f);
	fclose(f);
	if (glen != out.st[i].play.played * RATE)
		fail_msg("peer %d played %llu segments but wrote %zu bytes", i,
			 (unsigned long long)out.st[i].play.played, glen);
	for (size_t o = 0; o < glen; o += RATE) {
		size_t s = last;
		while (s < 40 && memcmp(got + o, in + s * RATE, RATE))
			s++;
		if (s == 40 || (o && s <= last))
			fail_msg("peer %d: played segment %zu is not the "
				 "source's next", i, o / RATE);
		last = s;
	}
	free(in);
	free(got);
	return out.st[i].play.played;
}

static double continuity(int i)
{
	uint64_t due = out.st[i].play.played + out.st[i].play.missed;

	return due ? (double)out.st[i].play.played / (double)due : 0;
}

static void plays_the_bytes(const char *params)
{
	double dep = 0, recv = 0;

	run(&cr_r2_algorithm, params, 0, "");
	for (int i = 0; i < NPEERS; i++) {
		uint64_t played = check_bytes(i);
		print_message("  peer %d: played %llu continuity %.3f\n", i,
			      (unsigned long long)played, continuity(i));
		assert_true(played >= 4); /* ~7 s of playback */
		assert_true(continuity(i) >= 0.9);
		dep += out.dependent[i];
		recv += out.received[i];
	}
	print_message("dependent blocks: %.0f of %.0f\n", dep, recv);
	assert_true(recv > 0 && dep < recv);
	t_rm_rf(out.dir);
}

static void test_plays_inline(void **state)
{
	(void)state;
	plays_the_bytes("decode_on_pool = false\n");
}

static void test_plays_on_pool(void **state)
{
	(void)state;
	plays_the_bytes("decode_on_pool = true\n");
}

/* Born at 5 s, when the others have played for a second: it starts at the
 * shared playback point and plays the stream's bytes from there. */
static void test_late_joiner(void **state)
{
	const int late = NPEERS / 2;

	(void)state;
	run(&cr_r2_algorithm, "", FIRST + late, "");
	print_message("late peer: played %llu missed %llu\n",
		      (unsigned long long)out.st[late].play.played,
		      (unsigned long long)out.st[late].play.missed);
	assert_true(check_bytes(late) >= 3);
	assert_true(continuity(late) >= 0.75);
	t_rm_rf(out.dir);
}

/* Five peers die at 5 s: those who had them as neighbours take others
 * (candidates or the tracker's) and keep playing. */
static void test_dead_replaced(void **state)
{
	char ev[512];
	size_t off = 0;
	double lost = 0, replaced = 0;

	(void)state;
	for (int i = 0; i < 5; i++)
		off += (size_t)snprintf(ev + off, sizeof(ev) - off,
					"5 127.0.0.1:%d die\n", FIRST + i);
	run(&cr_r2_algorithm, "neighbours_min = 4\n", 0, ev);
	for (int i = 5; i < NPEERS; i++) {
		lost += out.lost[i];
		replaced += out.replaced[i];
		check_bytes(i);
		print_message("  peer %d: lost %.0f replaced %.0f continuity "
			      "%.3f\n",
			      i, out.lost[i], out.replaced[i], continuity(i));
		assert_true(continuity(i) >= 0.9);
	}
	assert_true(lost >= 1);
	assert_true(replaced >= 1);
	t_rm_rf(out.dir);
}

/* --- A peer that sends malformed coded blocks ------------------------------ */

static int bad_sent;

static void send_bad(cr_peer *p, const uint8_t *hdr, size_t len)
{
	uint8_t b[2048] = {0};

	memcpy(b, hdr, 12);
	for (int i = 0; i < NPEERS; i++) {
		cr_addr a = t_addr((uint16_t)(FIRST + i));
		if (cr_is_self(p, &a))
			continue;
		cr_msg *m = cr_msg_new(p, 128, 1, len);
		assert_non_null(m);
		memcpy(cr_msg_payload_mut(m), b, len);
		if (!cr_send(p, &a, m, CR_TCP))
			bad_sent++;
		cr_msg_release(m);
	}
}

/* Every 500 ms, to every other peer: a block cut short, one of k = 16, one
 * of another size, one of session 9 (the right shape otherwise: 32 blocks
 * of 1000 bytes). */
static void bad_tick(cr_peer *p, void *arg)
{
	static const uint8_t trunc[12] = {0, 1, 0, 32, 0, 0, 0, 5, 0, 0, 3, 232};
	static const uint8_t k16[12] = {0, 1, 0, 16, 0, 0, 0, 5, 0, 0, 3, 232};
	static const uint8_t size[12] = {0, 1, 0, 32, 0, 0, 0, 5, 0, 0, 3, 200};
	static const uint8_t sess[12] = {0, 9, 0, 32, 0, 0, 0, 5, 0, 0, 3, 232};

	(void)arg;
	send_bad(p, trunc, 12 + 32 + 500);
	send_bad(p, k16, 12 + 16 + 1000);
	send_bad(p, size, 12 + 32 + 968);
	send_bad(p, sess, 12 + 32 + 1000);
}

static int evil_bootstrap(cr_peer *p)
{
	cr_addr a = t_addr(EVIL);

	if (cr_is_self(p, &a))
		cr_timer_start(p, 3 * CR_SEC, 500 * CR_MS, bad_tick, NULL);
	return cr_r2_algorithm.bootstrap(p);
}

static void test_malformed_refused(void **state)
{
	double refused = 0;

	(void)state;
	evil_algorithm = cr_r2_algorithm;
	evil_algorithm.bootstrap = evil_bootstrap;
	bad_sent = 0;
	run(&evil_algorithm, "", 0, "");
	for (int i = 0; i < NPEERS - 1; i++) {
		print_message("  peer %d: refused %.0f continuity %.3f\n", i,
			      out.malformed[i], continuity(i));
		assert_true(out.malformed[i] > 0);
		assert_true(continuity(i) >= 0.9);
		check_bytes(i);
		refused += out.malformed[i];
	}
	print_message("malformed: %d sent, %.0f refused\n", bad_sent, refused);
	assert_true(refused <= bad_sent && refused >= 0.8 * bad_sent);
	t_rm_rf(out.dir);
}

/* Parameters out of range, or not of their type, refuse the run before any
 * peer starts, naming the parameter and what it takes. */
static void test_bad_parameters(void **state)
{
	static const struct cr_node_param bad[][1] = {
		{{"blocks_per_segment", "0"}},
		{{"blocks_per_segment", "256"}},
		{{"window", "65"}},
		{{"priority_share", "1.5"}},
		{{"decode_on_pool", "maybe"}},
		{{"playout_delay_ms", "-1"}},
	};
	static const char *const says[] = {
		"blocks_per_segment' of algorithm 'r2' is a whole number",
		"blocks_per_segment' of algorithm 'r2' is a whole number from 1",
		"window' of algorithm 'r2' is a whole number from 2 to 64",
		"priority_share' of algorithm 'r2'",
		"decode_on_pool' of algorithm 'r2'",
		"playout_delay_ms' of algorithm 'r2' is a duration from 0ms",
	};
	struct cr_node_peer peers[2] = {0};
	struct cr_node_config cfg = {0};
	const struct cr_node_param good = {"decode_on_pool", "true"};
	cr_node *n = NULL;
	char err[512];

	(void)state;
	peers[0].addr = t_addr(29601);
	peers[1].addr = t_addr(29602);
	cfg.name = "r2-params";
	cfg.duration_ns = CR_SEC;
	cfg.algo = &cr_r2_algorithm;
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
		cmocka_unit_test(test_plays_inline),
		cmocka_unit_test(test_plays_on_pool),
		cmocka_unit_test(test_late_joiner),
		cmocka_unit_test(test_dead_replaced),
		cmocka_unit_test(test_malformed_refused),
	};

	srand(7);
	return cmocka_run_group_tests_name("r2 network-coded push", tests,
					   NULL, NULL);
}
