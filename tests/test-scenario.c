/* The scenario files (src/scenario/experiment.c, events.c, topology.c,
 * matrix.c),
 * written into a temporary directory by each test:
 *   - valid files of each kind come back as exactly the values written,
 *     with the documented defaults and paths resolved against the file;
 *   - every class of bad input is refused with the exact FILE:LINE and the
 *     phrase that says what is wrong, and a failed load returns nothing;
 *   - a latency matrix makes every pair's way back, refuses each kind of
 *     bad line naming it, and loads the pairs of 600 peers in a moment;
 *   - events after the experiment's end are loaded, and the plan leaves
 *     them out and counts them;
 *   - random garbage, truncations and byte flips never crash a parser
 *     and, when refused, always name a line of the file;
 *   - a file without sessions loads; the loader from memory reads as the
 *     loader from a file does;
 *   - the files under examples/ load.
 */
#include "../src/core/units.h"
#include "../src/scenario/events.h"
#include "../src/scenario/matrix.h"
#include "../src/scenario/plan.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

static char dir[64];

static int setup(void **state)
{
	return t_mkdtemp(dir, sizeof(dir));
}

static int teardown(void **state)
{
	t_rm_rf(dir);
	return 0;
}

/* Writes len bytes of text to dir/name; the path goes into out. */
static void put_bytes(const char *name, const char *text, size_t len,
		      char out[256])
{
	FILE *f;

	snprintf(out, 256, "%s/%s", dir, name);
	f = fopen(out, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void put(const char *name, const char *text, char out[256])
{
	put_bytes(name, text, strlen(text), out);
}

/* err must be "PATH:LINE: ...phrase...". */
static void check_err(const char *what, const char *err, const char *path,
		      unsigned line, const char *phrase)
{
	char prefix[300];

	snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
	if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, phrase))
		fail_msg("%s:\n  expected  %s...%s\n  got       %s", what,
			 prefix, phrase, err);
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static cr_addr addr(const char *text)
{
	cr_addr a;

	assert_int_equal(cr_addr_parse(&a, text), 0);
	return a;
}

static void assert_addr(const cr_addr *a, const char *text)
{
	char buf[CR_ADDR_STRLEN];

	assert_string_equal(cr_addr_format(a, buf, sizeof(buf)), text);
}

/* --- experiment files: valid ---------------------------------------------- */

static const char full_exp[] = "; every section and key\n"
			       "[experiment]\n"
			       "name = full-1.0_x\n"
			       "duration = 2.5s\n"
			       "warmup = 500ms\n"
			       "seed = 42\n"
			       "workers = 3\n"
			       "algorithm = algo.so\n"
			       "events = e.events\n"
			       "topology = sub/t.topology\n"
			       "latency_matrix = %s/m.matrix\n"
			       "queue_limit = 64KiB\n"
			       "max_message = 1MiB\n"
			       "\n"
			       "[algorithm]\n"
			       "fanout = 3\n"
			       "mode = pull ; a comment after a value\n"
			       "\n"
			       "# classes\n"
			       "[class dsl]\n"
			       "count = 3\n"
			       "addresses = 127.0.0.1:20001-20010\n"
			       "upload = 50KB/s\n"
			       "download = 2Mbit/s\n"
			       "total = 100KB/s\n"
			       "link_upload = 10KB/s\n"
			       "link_download = 20000\n"
			       "delay = 20ms\n"
			       "jitter = 250us\n"
			       "loss = 0.01\n"
			       "[class lan]\n"
			       "count = 2\n"
			       "addresses = 127.0.1.1-127.0.1.250:9000\n"
			       "[class v6]\n"
			       "count = 2\n"
			       "addresses = [::1]:30001-30010\n"
			       "[session 7]\n"
			       "source = 127.0.0.1:20001\n"
			       "rate = 1.5MB/s\n"
			       "message_size = 4KiB\n"
			       "segment = 2s\n"
			       "data = file-loop:clip.bin\n"
			       "[session 8]\n"
			       "source = [::1]:30002\n"
			       "data = file:clip.bin\n"
			       "[tracker]\n"
			       "mode = external\n"
			       "address = 10.0.0.1:7000\n"
			       "peers_per_reply = 50\n"
			       "liveness = probe\n"
			       "interval = 2s\n"
			       "timeout = 6s\n"
			       "max_sessions_per_peer = 4\n"
			       "max_peers_per_session = 100000\n";

static void put_referenced_files(void)
{
	char p[256];

	put("algo.so", "", p);
	put("e.events", "", p);
	put("m.matrix", "", p);
	put("clip.bin", "0123456789", p);
	snprintf(p, sizeof(p), "%s/sub", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	put("sub/t.topology", "", p);
}

static void check_full_classes(const struct cr_experiment *e)
{
	const struct cr_peer_class *c = &e->classes[0];

	assert_int_equal(e->nclasses, 3);
	assert_int_equal(e->npeers, 7);
	assert_string_equal(c->name, "dsl");
	assert_int_equal(c->count, 3);
	assert_int_equal(c->first, 0);
	assert_int_equal(c->line, 20);
	assert_addr(&c->addrs[0], "127.0.0.1:20001");
	assert_addr(&c->addrs[2], "127.0.0.1:20003");
	assert_int_equal(c->limits.upload_Bps, 50000);
	assert_int_equal(c->limits.download_Bps, 250000);
	assert_int_equal(c->limits.total_Bps, 100000);
	assert_int_equal(c->limits.link_upload_Bps, 10000);
	assert_int_equal(c->limits.link_download_Bps, 20000);
	assert_int_equal(c->limits.access_delay_ns, 20 * CR_MS);
	assert_int_equal(c->limits.jitter_ns, 250 * CR_US);
	assert_true(c->limits.loss == 0.01);
	c = &e->classes[1];
	assert_string_equal(c->name, "lan");
	assert_int_equal(c->first, 3);
	assert_addr(&c->addrs[0], "127.0.1.1:9000");
	assert_addr(&c->addrs[1], "127.0.1.2:9000");
	assert_true(all_zero(&c->limits, sizeof(c->limits)));
	c = &e->classes[2];
	assert_int_equal(c->first, 5);
	assert_addr(&c->addrs[0], "[::1]:30001");
	assert_addr(&c->addrs[1], "[::1]:30002");
}

static void check_full_sessions(const struct cr_experiment *e)
{
	const struct cr_session_cfg *s = &e->sessions[0];
	char p[256];

	assert_int_equal(e->nsessions, 2);
	assert_int_equal(s->id, 7);
	assert_addr(&s->source, "127.0.0.1:20001");
	assert_int_equal(s->rate_Bps, 1500000);
	assert_int_equal(s->message_size, 4096);
	assert_int_equal(s->segment_ns, 2 * CR_SEC);
	assert_int_equal(s->data, CR_DATA_FILE_LOOP);
	snprintf(p, sizeof(p), "%s/clip.bin", dir);
	assert_string_equal(s->path, p);
	assert_int_equal(s->line, 37);
	s = &e->sessions[1];
	assert_int_equal(s->id, 8);
	assert_addr(&s->source, "[::1]:30002");
	assert_int_equal(s->rate_Bps, 0);
	assert_int_equal(s->message_size, 1024);
	assert_int_equal(s->segment_ns, CR_SEC);
	assert_int_equal(s->data, CR_DATA_FILE);
	assert_string_equal(s->path, p);
	assert_ptr_equal(cr_experiment_session(e, 8), s);
	assert_null(cr_experiment_session(e, 9));
}

static void check_full_lookups(const struct cr_experiment *e)
{
	cr_addr a = addr("127.0.1.2:9000");
	size_t idx;

	assert_int_equal(cr_experiment_peer_index(e, &a, &idx), 0);
	assert_int_equal(idx, 4);
	assert_ptr_equal(cr_experiment_class_of(e, &a), &e->classes[1]);
	a = addr("[::1]:30002");
	assert_int_equal(cr_experiment_peer_index(e, &a, &idx), 0);
	assert_int_equal(idx, 6);
	a = addr("127.0.0.1:20004"); /* in the range, past the count */
	assert_int_equal(cr_experiment_peer_index(e, &a, &idx), -CR_ENOENT);
	assert_null(cr_experiment_class_of(e, &a));
	assert_ptr_equal(cr_experiment_class(e, "v6"), &e->classes[2]);
	assert_null(cr_experiment_class(e, "fibre"));
}

static void test_experiment_full(void **state)
{
	struct cr_experiment e;
	char text[sizeof(full_exp) + 64], path[256], want[256], err[512];

	put_referenced_files();
	snprintf(text, sizeof(text), full_exp, dir);
	put("full.ini", text, path);
	assert_int_equal(cr_experiment_load(path, &e, err, sizeof(err)), 0);
	assert_string_equal(e.path, path);
	assert_string_equal(e.dir, dir);
	assert_string_equal(e.name, "full-1.0_x");
	assert_int_equal(e.duration_ns, 2500 * CR_MS);
	assert_int_equal(e.warmup_ns, 500 * CR_MS);
	assert_int_equal(e.seed, 42);
	assert_int_equal(e.workers, 3);
	snprintf(want, sizeof(want), "%s/algo.so", dir);
	assert_string_equal(e.algorithm, want);
	snprintf(want, sizeof(want), "%s/e.events", dir);
	assert_string_equal(e.events_path, want);
	snprintf(want, sizeof(want), "%s/sub/t.topology", dir);
	assert_string_equal(e.topology_path, want);
	snprintf(want, sizeof(want), "%s/m.matrix", dir);
	assert_string_equal(e.matrix_path, want);
	assert_int_equal(e.queue_limit, 65536);
	assert_int_equal(e.max_message, 1 << 20);
	assert_int_equal(e.nparams, 2);
	assert_string_equal(e.params[0].name, "fanout");
	assert_string_equal(e.params[0].value, "3");
	assert_string_equal(e.params[1].name, "mode");
	assert_string_equal(e.params[1].value, "pull");
	assert_int_equal(e.params[1].line, 17);
	check_full_classes(&e);
	check_full_sessions(&e);
	check_full_lookups(&e);
	assert_int_equal(e.tracker.mode, CR_TRACKER_EXTERNAL);
	assert_addr(&e.tracker.addr, "10.0.0.1:7000");
	assert_int_equal(e.tracker.reply_peers, 50);
	assert_int_equal(e.tracker.liveness, CR_LIVENESS_PROBE);
	assert_int_equal(e.tracker.interval_ns, 2 * CR_SEC);
	assert_int_equal(e.tracker.timeout_ns, 6 * CR_SEC);
	assert_int_equal(e.tracker.max_sessions_per_peer, 4);
	assert_int_equal(e.tracker.max_peers_per_session, 100000);
	cr_experiment_free(&e);
	assert_true(all_zero(&e, sizeof(e)));
	cr_experiment_free(&e); /* twice is harmless */
}

static void test_experiment_defaults(void **state)
{
	struct cr_experiment e;
	char path[256], err[512];

	put("min.ini",
	    "[experiment]\nname = m\nduration = 10\n"
	    "[tracker]\naddress = 127.0.0.1:19999\n"
	    "[class a]\ncount = 1\naddresses = 127.0.0.1:20000\n"
	    "[session 1]\nsource = 127.0.0.1:20000\n",
	    path);
	assert_int_equal(cr_experiment_load(path, &e, err, sizeof(err)), 0);
	assert_int_equal(e.duration_ns, 10 * CR_SEC); /* bare: seconds */
	assert_int_equal(e.warmup_ns, 0);
	assert_int_equal(e.seed, 1);
	assert_int_equal(e.workers, 0);
	assert_string_equal(e.algorithm, "");
	assert_string_equal(e.events_path, "");
	assert_int_equal(e.queue_limit, 0);
	assert_int_equal(e.max_message, 0);
	assert_int_equal(e.nparams, 0);
	assert_int_equal(e.sessions[0].message_size, 1024);
	assert_int_equal(e.sessions[0].segment_ns, CR_SEC);
	assert_int_equal(e.sessions[0].data, CR_DATA_RANDOM);
	assert_int_equal(e.sessions[0].rate_Bps, 0);
	/* no topology file: a tracker in this node */
	assert_int_equal(e.tracker.mode, CR_TRACKER_INPROC);
	assert_int_equal(e.tracker.reply_peers, 20);
	assert_int_equal(e.tracker.liveness, CR_LIVENESS_REPORT);
	assert_int_equal(e.tracker.interval_ns, 5 * CR_SEC);
	assert_int_equal(e.tracker.timeout_ns, 15 * CR_SEC);
	assert_int_equal(e.tracker.max_sessions_per_peer, 16);
	assert_int_equal(e.tracker.max_peers_per_session, 65536);
	cr_experiment_free(&e);

	/* a topology file: no tracker; a built-in algorithm by name */
	put("t.topology", "", path);
	put("topo.ini",
	    "\xEF\xBB\xBF[experiment]\nname = t\nduration = 1s\n"
	    "topology = t.topology\nalgorithm = relay\n"
	    "[class a]  \n  count = 1\naddresses = 127.0.0.1:20000\n",
	    path);
	assert_int_equal(cr_experiment_load(path, &e, err, sizeof(err)), 0);
	assert_int_equal(e.tracker.mode, CR_TRACKER_NONE);
	assert_string_equal(e.algorithm, "relay");
	assert_int_equal(e.classes[0].line, 6);
	cr_experiment_free(&e);
}

/* A file with no [session] is valid (peers that only take part, or a
 * topology of pings): the session checks must not index the NULL session
 * array (UBSan, clang: "applying zero offset to null pointer"). */
static void test_experiment_without_sessions(void **state)
{
	static const char text[] =
	    "[experiment]\nname = nosession\nduration = 5s\n"
	    "[tracker]\naddress = 127.0.0.1:19999\n"
	    "[class peers]\ncount = 3\naddresses = 127.0.0.1:20001-20003\n"
	    "[class more]\ncount = 1\naddresses = 127.0.0.1:20004\n";
	struct cr_experiment e;
	char path[256], err[512];

	put("nosession.ini", text, path);
	assert_int_equal(cr_experiment_load(path, &e, err, sizeof(err)), 0);
	assert_int_equal(e.nsessions, 0);
	assert_null(e.sessions);
	assert_int_equal(e.npeers, 4);
	cr_experiment_free(&e);
}

/* The loader from memory reads as the loader from a file: the same values,
 * the same errors (naming the path given), an empty text, and NUL bytes
 * refused. */
static void test_experiment_from_memory(void **state)
{
	static const char bad[] = "[experiment]\nname = x\nduration = 0\n";
	static const char nul[] = "[experiment]\nname = x\0y\n";
	struct cr_experiment a, b;
	char text[sizeof(full_exp) + 64], path[256], err[512], err2[512];

	put_referenced_files();
	snprintf(text, sizeof(text), full_exp, dir);
	put("full.ini", text, path);
	assert_int_equal(cr_experiment_load(path, &a, err, sizeof(err)), 0);
	assert_int_equal(cr_experiment_load_mem(path, text, strlen(text), &b,
						err, sizeof(err)),
			 0);
	assert_string_equal(a.name, b.name);
	assert_string_equal(a.dir, b.dir);
	assert_string_equal(a.events_path, b.events_path);
	assert_int_equal(a.npeers, b.npeers);
	assert_int_equal(a.nsessions, b.nsessions);
	assert_int_equal(a.nparams, b.nparams);
	assert_int_equal(a.duration_ns, b.duration_ns);
	for (size_t i = 0; i < a.nclasses; i++)
		assert_memory_equal(a.classes[i].addrs, b.classes[i].addrs,
				    a.classes[i].count * sizeof(cr_addr));
	cr_experiment_free(&a);
	cr_experiment_free(&b);

	put("bad.ini", bad, path);
	assert_int_equal(cr_experiment_load(path, &a, err, sizeof(err)),
			 -CR_EINVAL);
	assert_int_equal(cr_experiment_load_mem(path, bad, strlen(bad), &b,
						err2, sizeof(err2)),
			 -CR_EINVAL);
	assert_string_equal(err, err2);
	assert_true(all_zero(&b, sizeof(b)));

	assert_int_equal(
	    cr_experiment_load_mem("nul.ini", nul, sizeof(nul) - 1, &b, err,
				   sizeof(err)),
	    -CR_EINVAL);
	check_err("NUL", err, "nul.ini", 2, "a NUL byte");
	assert_int_equal(
	    cr_experiment_load_mem("empty.ini", "", 0, &b, err, sizeof(err)),
	    -CR_EINVAL);
	check_err("empty", err, "empty.ini", 1, "no [experiment] section");
}

static void test_experiment_ranges(void **state)
{
	struct cr_experiment e;
	char path[256], err[512];

	put("r.ini",
	    "[experiment]\nname = r\nduration = 1\n[tracker]\nmode = none\n"
	    "[class a]\ncount = 10\n"
	    "addresses = 127.0.0.250-127.0.1.10:9000\n"
	    "[class b]\ncount = 3\naddresses = [fd00::fe-fd00::1:0]:9000\n"
	    "[class c]\ncount = 2\naddresses = [::1-ffff::]:9000\n"
	    "[class d]\ncount = 1\naddresses = 127.0.0.2:5\n",
	    path);
	assert_int_equal(cr_experiment_load(path, &e, err, sizeof(err)), 0);
	assert_addr(&e.classes[0].addrs[5], "127.0.0.255:9000");
	assert_addr(&e.classes[0].addrs[6], "127.0.1.0:9000");
	assert_addr(&e.classes[0].addrs[9], "127.0.1.3:9000");
	assert_addr(&e.classes[1].addrs[1], "[fd00::ff]:9000");
	assert_addr(&e.classes[1].addrs[2], "[fd00::100]:9000");
	assert_addr(&e.classes[2].addrs[1], "[::2]:9000");
	assert_addr(&e.classes[3].addrs[0], "127.0.0.2:5");
	assert_int_equal(e.npeers, 16);
	cr_experiment_free(&e);
}

/* --- experiment files: errors --------------------------------------------- */

/* Ten valid lines that the cases below add to. */
#define BASE                                                                   \
	"[experiment]\n"                                                       \
	"name = t\n"                                                           \
	"duration = 10s\n"                                                     \
	"[tracker]\n"                                                          \
	"address = 127.0.0.1:19999\n"                                          \
	"[class a]\n"                                                          \
	"count = 10\n"                                                         \
	"addresses = 127.0.0.1:20001-20010\n"                                  \
	"[session 1]\n"                                                        \
	"source = 127.0.0.1:20001\n"

#define CLASS_B "[class b]\ncount = 1\naddresses = 127.0.0.2:1\n"

struct bad_case {
	const char *what;
	const char *text;
	unsigned line;
	const char *phrase;
};

static const struct bad_case bad_experiments[] = {
    {"unknown section", BASE "[clas b]\ncount = 1\n", 11,
     "unknown section [clas b]; accepted: [experiment], [algorithm], "
     "[class NAME], [session ID], [tracker]"},
    {"unknown empty section", BASE "[bogus]\n", 11, "unknown section [bogus]"},
    {"unknown key", BASE CLASS_B "upload_rate = 1\n", 14,
     "unknown key 'upload_rate' in [class b]; accepted: count, addresses, "
     "upload, download, total, link_upload, link_download, delay, "
     "jitter, loss"},
    {"unknown key in [experiment]", "[experiment]\nname = t\nlength = 1\n", 3,
     "unknown key 'length' in [experiment]; accepted: name, duration, "
     "warmup, batch, seed, workers, algorithm, events, topology, latency_matrix, "
     "queue_limit, max_message"},
    {"duplicate key", BASE "source = 127.0.0.1:20002\n", 11,
     "'source' is already set at line 10"},
    {"duplicate parameter", BASE "[algorithm]\nfanout = 1\nfanout = 2\n", 13,
     "parameter 'fanout' is already set at line 12"},
    {"bad rate", BASE "rate = 5 parsecs\n", 11,
     "rate '5 parsecs': expected " CR_RATE_FORMS},
    {"bad time", BASE "segment = 1 fortnight\n", 11,
     "segment '1 fortnight': expected " CR_TIME_FORMS},
    {"bad size", BASE "message_size = 1XB\n", 11,
     "message_size '1XB': expected " CR_SIZE_FORMS},
    {"comment with #", BASE "rate = 5KB/s # fast\n", 11,
     "(a comment after a value starts with ' ;', not '#')"},
    {"size out of range", BASE "message_size = 32MiB\n", 11,
     "message_size '32MiB' is out of range: expected 1 byte to 16MiB"},
    {"batch out of range", "[experiment]\nname = t\nduration = 1\nbatch = 1s\n",
     4, "batch '1s' is out of range: expected a time from 0 to 100ms"},
    {"duration 0", "[experiment]\nname = t\nduration = 0\n", 3,
     "duration '0' is out of range: expected a time above 0"},
    {"workers out of range", "[experiment]\nname = t\nworkers = 300\n", 3,
     "workers '300': expected a whole number from 0 to 256 (0: one per "
     "core)"},
    {"count 0", BASE "[class b]\ncount = 0\n", 12,
     "count '0': expected a whole number from 1 to 1000000"},
    {"too many peers in all",
     BASE "[class b]\ncount = 1000000\naddresses = 127.1.0.0-127.31.0.0:9\n",
     12,
     "class b: count 1000000 makes 1000010 peers with the classes before "
     "it; an experiment has at most 1000000"},
    {"loss out of range", BASE CLASS_B "loss = 1.5\n", 14,
     "loss '1.5': expected a probability from 0 to 1"},
    {"peers_per_reply 0",
     "[experiment]\nname = t\nduration = 1\n[tracker]\n"
     "peers_per_reply = 0\n",
     5, "peers_per_reply '0': expected a whole number from 1 to 1000"},
    {"max_sessions_per_peer 0",
     "[experiment]\nname = t\nduration = 1\n[tracker]\n"
     "max_sessions_per_peer = 0\n",
     5, "max_sessions_per_peer '0': expected a whole number from 1 to 65536"},
    {"max_sessions_per_peer past the sessions",
     "[experiment]\nname = t\nduration = 1\n[tracker]\n"
     "max_sessions_per_peer = 65537\n",
     5,
     "max_sessions_per_peer '65537': expected a whole number from 1 to "
     "65536"},
    {"max_peers_per_session 0",
     "[experiment]\nname = t\nduration = 1\n[tracker]\n"
     "max_peers_per_session = 0\n",
     5,
     "max_peers_per_session '0': expected a whole number from 1 to "
     "4294967295"},
    {"tracker given twice", BASE "[tracker]\n", 11,
     "section [tracker] is given twice, first at line 4"},
    {"range too small",
     "[experiment]\nname = t\nduration = 1\n[tracker]\nmode = none\n"
     "[class dsl]\ncount = 20\naddresses = 127.0.0.1:20001-20010\n",
     8, "class dsl: 127.0.0.1:20001-20010 holds 10 addresses, count is 20"},
    {"overlapping classes",
     BASE "[class b]\ncount = 5\naddresses = 127.0.0.1:20008-20020\n", 13,
     "class b overlaps class a (line 6): both hold 127.0.0.1:20008"},
    {"overlap across a port range and an IP range",
     BASE "[class c]\ncount = 5\naddresses = 127.0.0.1-127.0.0.5:20003\n", 13,
     "class c overlaps class a (line 6): both hold 127.0.0.1:20003"},
    {"session without a source", BASE "[session 2]\nrate = 1KB/s\n", 11,
     "[session 2] has no 'source', which is required"},
    {"source in no class", BASE "[session 2]\nsource = 127.0.0.9:1\n", 12,
     "session 2: source 127.0.0.9:1 is in no class"},
    {"source past the count", BASE "[session 2]\nsource = 127.0.0.1:20011\n",
     12, "session 2: source 127.0.0.1:20011 is in no class"},
    {"missing duration",
     "[experiment]\nname = t\n[tracker]\nmode = none\n" CLASS_B, 1,
     "[experiment] has no 'duration', which is required"},
    {"missing count", BASE "[class b]\naddresses = 127.0.0.2:1\n", 11,
     "[class b] has no 'count', which is required"},
    {"empty class section", BASE "[class b]\n", 11,
     "[class b] has no 'count', which is required"},
    {"missing data file", BASE "data = file:nope.bin\n", 11,
     "data 'file:nope.bin': "},
    {"data file without a path", BASE "data = file:\n", 11,
     "data 'file:': expected file:PATH or file-loop:PATH with a path"},
    {"data kind", BASE "data = tcp\n", 11,
     "data 'tcp': expected random, stdin, file:PATH or file-loop:PATH"},
    {"stdin twice",
     BASE "data = stdin\n[session 2]\nsource = 127.0.0.1:20002\n"
	  "data = stdin\n",
     14, "a session at line 9 reads stdin already, and only one may"},
    {"not INI", BASE "this is not ini\n", 11,
     "expected [section], key = value, or a comment"},
    {"header without ]", BASE "[class b\ncount = 1\n", 11,
     "expected [section], key = value, or a comment"},
    {"key outside any section", "seed = 3\n" BASE, 1,
     "'seed' is outside any section"},
    {"indented continuation", BASE "  127.0.0.1:20002\n", 11,
     "an indented line continues the value of 'source' above"},
    {"section given twice", BASE "[class a]\ncount = 1\n", 11,
     "section [class a] is given twice, first at line 6"},
    {"session given twice", BASE "[session 1]\n", 11,
     "section [session 1] is given twice, first at line 9"},
    {"warmup",
     "[experiment]\nname = t\nduration = 10\nwarmup = 10s\n[tracker]\n"
     "mode = none\n" CLASS_B,
     4, "warmup (10 s) must be shorter than the duration (10 s, line 3)"},
    {"tracker without an address",
     "[experiment]\nname = t\nduration = 1\n" CLASS_B, 1,
     "the tracker is inproc (the default without a topology file) and "
     "needs an address"},
    {"timeout not above interval",
     "[experiment]\nname = t\nduration = 1\n[tracker]\n"
     "address = 127.0.0.1:19999\ninterval = 20s\n" CLASS_B,
     6, "timeout (15 s) must be longer than interval (20 s)"},
    {"tracker keys unused",
     "[experiment]\nname = t\nduration = 1\n[tracker]\nmode = none\n"
     "liveness = probe\n" CLASS_B,
     6, "the tracker's mode is none, so 'liveness' has no use"},
    {"tracker limit unused",
     "[experiment]\nname = t\nduration = 1\n[tracker]\nmode = none\n"
     "max_peers_per_session = 5\n" CLASS_B,
     6, "the tracker's mode is none, so 'max_peers_per_session' has no use"},
    {"tracker mode",
     "[experiment]\nname = t\nduration = 1\n[tracker]\nmode = central\n", 5,
     "mode 'central': expected none, inproc or external"},
    {"tracker address is a peer's",
     "[experiment]\nname = t\nduration = 1\n[tracker]\n"
     "address = 127.0.0.2:1\n" CLASS_B,
     5, "tracker address 127.0.0.2:1 is a peer's (class b)"},
    {"not a range", BASE CLASS_B "[class c]\naddresses = 127.0.0.1\n", 15,
     "addresses '127.0.0.1': expected a range such as"},
    {"backwards range", BASE "[class c]\naddresses = 127.0.0.3:9-5\n", 12,
     "addresses '127.0.0.3:9-5': the range runs backwards"},
    {"IPs and ports", BASE "[class c]\naddresses = 127.0.0.3-127.0.0.4:1-5\n",
     12, "a range spans the IPs or the ports, not both"},
    {"message above max_message",
     "[experiment]\nname = t\nduration = 1\nmax_message = 1KiB\n"
     "[tracker]\nmode = none\n" CLASS_B
     "[session 1]\nsource = 127.0.0.2:1\nmessage_size = 2KiB\n",
     12, "session 1: message_size 2048 is above max_message (1024)"},
    {"no [experiment]", "[tracker]\nmode = none\n" CLASS_B, 5,
     "no [experiment] section"},
    {"no class", "[experiment]\nname = t\nduration = 1\n", 3,
     "no [class NAME] section"},
    {"empty file", "", 1, "no [experiment] section"},
    {"class name", BASE "[class d$l]\ncount = 1\n", 11,
     "class name 'd$l': expected letters, digits"},
    {"class without a name", BASE "[class]\n", 11,
     "[class] needs a name, as in [class dsl]"},
    {"session ID", BASE "[session 0]\nsource = 127.0.0.1:20001\n", 11,
     "session ID '0': expected a whole number from 1 to 65535"},
    {"experiment name", "[experiment]\nname = my run\n", 2,
     "name 'my run': expected letters, digits, '.', '_' and '-'"},
    {"algorithm name", "[experiment]\nalgorithm = r*lay\n", 2,
     "algorithm 'r*lay': expected an algorithm's name"},
    {"algorithm file", "[experiment]\nalgorithm = ./nope.so\n", 2,
     "nope.so: No such file or directory"},
    {"events is a directory", "[experiment]\nevents = .\n", 2,
     "is not a regular file"},
    {"long section name",
     BASE "[class aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n", 11,
     "characters; at most 49 are accepted"},
};

static void test_experiment_errors(void **state)
{
	struct cr_experiment e;
	char path[256], err[512];

	for (size_t i = 0;
	     i < sizeof(bad_experiments) / sizeof(bad_experiments[0]); i++) {
		const struct bad_case *c = &bad_experiments[i];
		int rc;

		put("bad.ini", c->text, path);
		memset(&e, 0xa5, sizeof(e));
		rc = cr_experiment_load(path, &e, err, sizeof(err));
		if (rc >= 0)
			fail_msg("%s: loaded", c->what);
		check_err(c->what, err, path, c->line, c->phrase);
		/* nothing partial comes back */
		assert_true(all_zero(&e, sizeof(e)));
	}
}

/* [experiment] coordinator: the default (the first peer's IP at 19990),
 * one given, and those refused: not an address, a peer's, the tracker's;
 * the default is not judged at load (a file run on one host has no
 * coordinator), cr_experiment_coordinator_check does that. */
static void test_experiment_coordinator(void **state)
{
	static const char *const bad[][2] = {
	    {"coordinator = somewhere", "coordinator 'somewhere': expected"},
	    {"coordinator = 10.0.0.2:7001", "is the address of a peer (class b)"},
	    {"coordinator = 10.0.0.1:7999", "is the tracker's address"},
	};
	struct cr_experiment e;
	char path[256], err[512], text[512];
	const char *rest =
	    "[tracker]\naddress = 10.0.0.1:7999\n"
	    "[class a]\ncount = 1\naddresses = 10.0.0.1:7000\n"
	    "[class b]\ncount = 2\naddresses = 10.0.0.2:7000-7001\n";
	cr_addr a;

	snprintf(text, sizeof(text), "[experiment]\nname = c\nduration = 1\n%s",
		 rest);
	put("coord.ini", text, path);
	assert_int_equal(cr_experiment_load(path, &e, err, sizeof(err)), 0);
	assert_false(e.coordinator_given);
	assert_addr(&e.coordinator, "10.0.0.1:19990");
	assert_int_equal(cr_experiment_coordinator_check(&e, &e.coordinator,
							 err, sizeof(err)),
			 0);
	a = addr("10.0.0.1:7000");
	assert_int_equal(cr_experiment_coordinator_check(&e, &a, err,
							 sizeof(err)),
			 -CR_EINVAL);
	assert_non_null(strstr(err, "is the address of a peer (class a)"));
	cr_experiment_free(&e);

	snprintf(text, sizeof(text),
		 "[experiment]\nname = c\nduration = 1\n"
		 "coordinator = 10.0.0.2:9000\n%s",
		 rest);
	put("coord.ini", text, path);
	assert_int_equal(cr_experiment_load(path, &e, err, sizeof(err)), 0);
	assert_true(e.coordinator_given);
	assert_addr(&e.coordinator, "10.0.0.2:9000");
	cr_experiment_free(&e);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
			 "[experiment]\nname = c\nduration = 1\n%s\n%s",
			 bad[i][0], rest);
		put("coord.ini", text, path);
		assert_true(cr_experiment_load(path, &e, err, sizeof(err)) < 0);
		check_err(bad[i][0], err, path, 4, bad[i][1]);
	}
}

static void test_experiment_io_errors(void **state)
{
	struct cr_experiment e;
	char path[256], err[512], text[512];
	static const char nul[] = "[experiment]\nname = t\x00x\nduration = 1\n";

	snprintf(path, sizeof(path), "%s/none.ini", dir);
	assert_int_equal(cr_experiment_load(path, &e, err, sizeof(err)),
			 -CR_ENOENT);
	assert_non_null(strstr(err, "none.ini: No such file or directory"));

	put_bytes("nul.ini", nul, sizeof(nul) - 1, path);
	assert_int_equal(cr_experiment_load(path, &e, err, sizeof(err)),
			 -CR_EINVAL);
	check_err("NUL byte", err, path, 2, "a NUL byte");

	/* inih's buffer holds 199 characters a line: longer ones are refused,
	 * not split */
	snprintf(text, sizeof(text), BASE "rate = %0300d\n", 7);
	put("long.ini", text, path);
	assert_int_equal(cr_experiment_load(path, &e, err, sizeof(err)),
			 -CR_EINVAL);
	check_err("long line", err, path, 11,
		  "the line is longer than 199 characters");
	snprintf(text, sizeof(text), BASE "rate = %0191d\n", 7); /* 198 */
	put("fits.ini", text, path);
	assert_int_equal(cr_experiment_load(path, &e, err, sizeof(err)), 0);
	assert_int_equal(e.sessions[0].rate_Bps, 7);
	cr_experiment_free(&e);

	/* a missing file named in the experiment is ENOENT */
	put("miss.ini", BASE "data = file:gone\n", path);
	assert_int_equal(cr_experiment_load(path, &e, err, sizeof(err)),
			 -CR_ENOENT);
}

/* --- events files --------------------------------------------------------- */

static const char events_exp[] =
    "[experiment]\nname = ev\nduration = 60s\n"
    "[tracker]\naddress = 127.0.0.1:19999\n"
    "[class src]\ncount = 1\naddresses = 127.0.0.1:20000\n"
    "[class dsl]\ncount = 10\naddresses = 127.0.0.1:20001-20010\n"
    "[class cable]\ncount = 5\naddresses = 127.0.1.1-127.0.1.5:9000\n"
    "[session 1]\nsource = 127.0.0.1:20000\n"
    "[session 2]\nsource = 127.0.0.1:20001\n";

static void load_events_exp(struct cr_experiment *e)
{
	char path[256], err[512];

	put("ev.ini", events_exp, path);
	assert_int_equal(cr_experiment_load(path, e, err, sizeof(err)), 0);
}

static const char good_events[] =
    "# TIME ADDRESS EVENT [key=value ...]\n"
    "0      127.0.0.1:20000  birth     class=src\n"
    "0      127.0.0.1:20000  deploy    session=1 rate=50KB/s\n"
    "0      127.0.0.1:20001  birth     class=dsl\n"
    "1.5s   127.0.0.1:20001  join      session=1 source=127.0.0.1:20000\n"
    "500ms  127.0.1.2:9000   birth\n"
    "2      127.0.1.2:9000   join      session=1\n"
    "1      127.0.0.1:20002  birth\n"
    "2      127.0.0.1:20002  join      session=2\n"
    "10s    127.0.0.1:20001  leave     session=1\n"
    "\n"
    "12s    127.0.0.1:20001  die\n"
    "20s    127.0.0.1:20001  birth\n"
    "21s    127.0.0.1:20001  join session=1\n"
    "2\t127.0.0.1:20003\tbirth   # a comment\n"
    "2\t127.0.0.1:20003\tjoin session=1\n"
    "59s    127.0.0.1:20000  terminate session=1\n"
    "60s    127.0.0.1:20001  die";

static void test_events_valid(void **state)
{
	static const unsigned order[] = {2,  3,	 4,  6,	 8,  5,	 7,  9,
					 15, 16, 10, 12, 13, 14, 17, 18};
	struct cr_experiment e;
	struct cr_event *ev;
	char path[256], err[512];
	size_t n;

	load_events_exp(&e);
	put("good.events", good_events, path);
	assert_int_equal(cr_events_load(path, &e, &ev, &n, err, sizeof(err)),
			 0);
	assert_int_equal(n, 16);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ev[i].line, order[i]);
	assert_int_equal(ev[0].type, CR_EV_BIRTH);
	assert_string_equal(ev[0].class_name, "src");
	assert_int_equal(ev[1].type, CR_EV_DEPLOY);
	assert_addr(&ev[1].peer, "127.0.0.1:20000");
	assert_int_equal(ev[1].session, 1);
	assert_int_equal(ev[1].rate_Bps, 50000);
	assert_string_equal(ev[2].class_name, "dsl");
	assert_int_equal(ev[3].time_ns, 500 * CR_MS);
	assert_string_equal(ev[3].class_name, "");
	assert_int_equal(ev[5].time_ns, 1500 * CR_MS);
	assert_true(ev[5].has_source);
	assert_addr(&ev[5].source, "127.0.0.1:20000");
	assert_false(ev[6].has_source);
	assert_int_equal(ev[7].session, 2);
	assert_int_equal(ev[12].type, CR_EV_BIRTH); /* born again */
	assert_int_equal(ev[14].type, CR_EV_TERMINATE);
	assert_int_equal(ev[15].time_ns, 60 * CR_SEC);
	assert_string_equal(cr_event_name(ev[15].type), "die");
	assert_string_equal(cr_event_name(CR_EV_LEAVE), "leave");
	free(ev);

	put("empty.events", "# nothing happens\n\n", path);
	assert_int_equal(cr_events_load(path, &e, &ev, &n, err, sizeof(err)),
			 0);
	assert_int_equal(n, 0);
	assert_null(ev);
	cr_experiment_free(&e);
}

#define A "127.0.0.1:20001"
#define S "127.0.0.1:20000" /* session 1's source */

static const struct bad_case bad_events[] = {
    {"too few fields", "0 " A "\n", 1,
     "expected TIME ADDRESS EVENT [key=value ...]"},
    {"bad time", "# c\nsoon " A " birth\n", 2,
     "time 'soon': expected " CR_TIME_FORMS},
    {"negative time", "-1 " A " birth\n", 1, "time '-1': expected"},
    {"bad address", "0 localhost:1 birth\n", 1,
     "'localhost:1': expected a peer address"},
    {"address in no class", "0 127.0.0.1:30000 birth\n", 1,
     "127.0.0.1:30000 is in no class of the experiment"},
    {"unknown event", "0 " A " born\n", 1,
     "unknown event 'born'; accepted: birth, die, join, leave, deploy, "
     "terminate"},
    {"unknown parameter", "0 " A " join session=1 speed=3\n", 1,
     "unknown parameter 'speed'; accepted: class, session, source, rate"},
    {"parameter twice", "0 " A " join session=1 session=1\n", 1,
     "'session' is given twice"},
    {"not key=value", "0 " A " join session\n", 1,
     "'session': expected key=value"},
    {"empty value", "0 " A " join session=\n", 1,
     "'session=': expected key=value"},
    {"parameter of another event", "0 " A " die session=1\n", 1,
     "die takes no 'session' (it takes no parameters)"},
    {"class on join", "0 " A " join class=dsl session=1\n", 1,
     "join takes no 'class' (it takes session and source)"},
    {"session missing", "0 " A " leave\n", 1, "leave needs session=ID"},
    {"session unknown", "0 " A " join session=7\n", 1,
     "session 7 is not in the experiment (no [session 7])"},
    {"session ID", "0 " A " join session=x\n", 1,
     "session 'x': expected an ID from 1 to 65535"},
    {"class unknown", "0 " A " birth class=fibre\n", 1,
     "class 'fibre' is not in the experiment"},
    {"class not the address's", "0 " A " birth class=cable\n", 1,
     A " is not in class cable (it is in class dsl)"},
    {"time backwards",
     "5 " A " birth\n2 127.0.0.1:20002 birth\n3 " A " join session=1\n", 3,
     A " join: at 3 s, before this peer's previous event (line 1, at 5 s)"},
    {"before birth", "1 " A " join session=1\n2 " A " birth\n", 1,
     A " join: before the peer's birth (line 2)"},
    {"die before birth", "1 " A " die\n2 " A " birth\n", 1,
     A " die: before the peer's birth (line 2)"},
    {"no birth at all", "0 127.0.0.1:20002 birth\n1 " A " join session=1\n", 2,
     A " join: before the peer's birth: it has none"},
    {"after death", "0 " A " birth\n1 " A " die\n2 " A " join session=1\n", 3,
     A " join: after the peer's death (line 2); only a new birth"},
    {"born twice", "0 " A " birth\n1 " A " birth\n", 2,
     A " birth: the peer is alive already (born at line 1)"},
    {"joined twice",
     "0 " A " birth\n0 " A " join session=1\n1 " A " join session=1\n", 3,
     A " join: already in session 1 (since line 2)"},
    {"leave without join", "0 " A " birth\n0 " A " leave session=1\n", 2,
     A " leave: not in session 1"},
    {"dying leaves every session",
     "0 " A " birth\n1 " A " join session=1\n2 " A " die\n3 " A " birth\n4 " A
     " leave session=1\n",
     5, A " leave: not in session 1"},
    {"deploy by another peer", "0 " A " deploy session=1\n", 1,
     A " is not the source of session 1 (127.0.0.1:20000 is)"},
    {"join with a wrong source",
     "0 " A " join session=1 source=127.0.0.1:20002\n", 1,
     "source 127.0.0.1:20002 is not session 1's source (127.0.0.1:20000)"},
    {"terminate without deploy", "0 " S " birth\n0 " S " terminate session=1\n",
     2, S " terminate: session 1 is not deployed by this peer"},
    {"deploy twice",
     "0 " S " birth\n0 " S " deploy session=1\n1 " S " deploy session=1\n", 3,
     "deploy: session 1 is deployed already (line 2)"},
    {"leave while deploying",
     "0 " S " birth\n0 " S " deploy session=1\n1 " S " leave session=1\n", 3,
     "leave: deploying session 1 (since line 2); terminate comes first"},
    {"rate 0", "0 127.0.0.1:20000 deploy session=1 rate=0\n", 1,
     "rate must be above 0"},
    {"bad rate", "0 127.0.0.1:20000 deploy session=1 rate=fast\n", 1,
     "rate 'fast': expected " CR_RATE_FORMS},
    {"NUL", "0 " A " birth\n1 " A "\0 die\n", 2, "a NUL byte"},
};

static void test_events_errors(void **state)
{
	struct cr_experiment e;
	struct cr_event *ev;
	char path[256], err[512];
	size_t n;

	load_events_exp(&e);
	for (size_t i = 0; i < sizeof(bad_events) / sizeof(bad_events[0]);
	     i++) {
		const struct bad_case *c = &bad_events[i];
		size_t len = strlen(c->text);

		if (!strcmp(c->what, "NUL"))
			len += strlen(c->text + len + 1) + 1;
		put_bytes("bad.events", c->text, len, path);
		ev = (struct cr_event *)1;
		n = 99;
		if (cr_events_load(path, &e, &ev, &n, err, sizeof(err)) >= 0)
			fail_msg("%s: loaded", c->what);
		check_err(c->what, err, path, c->line, c->phrase);
		assert_null(ev);
		assert_int_equal(n, 0);
	}
	snprintf(path, sizeof(path), "%s/none.events", dir);
	assert_int_equal(cr_events_load(path, &e, &ev, &n, err, sizeof(err)),
			 -CR_ENOENT);
	assert_non_null(strstr(err, "none.events: No such file"));
	cr_experiment_free(&e);
}

/* Events after the experiment's duration are read and checked like the
 * others, and the plan leaves them out, counting them: a run may be
 * shorter than the events file it uses. */
static void test_events_after_the_end(void **state)
{
	static const cr_algorithm none = {.api_version = CR_API_VERSION,
					  .name = "none"};
	struct cr_experiment e;
	struct cr_event *ev;
	struct cr_plan pl;
	char path[256], err[512];
	size_t n, idx;

	(void)state;
	load_events_exp(&e);
	put("late.events",
	    "0    " S " birth\n"
	    "0    " S " deploy session=1\n"
	    "1    " A " birth\n"
	    "60   " A " join session=1\n" /* at the end: run */
	    "75   " A " die\n"
	    "61   " S " terminate session=1\n",
	    path);
	assert_int_equal(cr_events_load(path, &e, &ev, &n, err, sizeof(err)),
			 0);
	assert_int_equal(n, 6);
	assert_int_equal(ev[4].time_ns, 61 * CR_SEC);
	free(ev);
	/* a bad line is refused wherever it is */
	put("late-bad.events", "0 " S " birth\n90 " A " join session=1\n",
	    path);
	assert_int_equal(cr_events_load(path, &e, &ev, &n, err, sizeof(err)),
			 -CR_EINVAL);
	check_err("late and bad", err, path, 2, "before the peer's birth");

	snprintf(e.events_path, sizeof(e.events_path), "%s/late.events", dir);
	if (cr_plan_build(&pl, &e, &none, NULL, 0, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(pl.nevents_file, 6);
	assert_int_equal(pl.events_skipped, 2);
	assert_int_equal(pl.skipped_line, 6); /* the earliest of them */
	assert_int_equal(pl.skipped_ns, 61 * CR_SEC);
	cr_addr a = addr(A), src = addr(S);
	assert_int_equal(cr_experiment_peer_index(&e, &a, &idx), 0);
	assert_int_equal(pl.peers[idx].nevents, 2); /* birth, join */
	assert_int_equal(pl.peers[idx].events[1].time_ns, 60 * CR_SEC);
	assert_int_equal(cr_experiment_peer_index(&e, &src, &idx), 0);
	assert_int_equal(pl.peers[idx].nevents, 2); /* birth, deploy */
	cr_plan_free(&pl);
	cr_experiment_free(&e);
}

/* --- topology files ------------------------------------------------------- */

static void test_topology_valid(void **state)
{
	struct cr_experiment e;
	struct cr_topology_entry *t;
	char path[256], err[512];
	size_t n;

	load_events_exp(&e);
	put("t.topology",
	    "# PEER NEIGHBOURS\n"
	    "127.0.0.1:20000 127.0.0.1:20001 127.0.1.1:9000\n"
	    "127.0.0.1:20001\t127.0.0.1:20002\n"
	    "\n"
	    "127.0.1.1:9000 127.0.1.2:9000 127.0.0.1:20000 # back to the "
	    "source\n",
	    path);
	assert_int_equal(cr_topology_load(path, &e, &t, &n, err, sizeof(err)),
			 0);
	assert_int_equal(n, 3);
	assert_addr(&t[0].peer, "127.0.0.1:20000");
	assert_int_equal(t[0].n, 2);
	assert_addr(&t[0].neighbours[0], "127.0.0.1:20001");
	assert_addr(&t[0].neighbours[1], "127.0.1.1:9000");
	assert_int_equal(t[0].line, 2);
	assert_int_equal(t[1].n, 1);
	assert_addr(&t[1].neighbours[0], "127.0.0.1:20002");
	assert_int_equal(t[2].line, 5);
	assert_int_equal(t[2].n, 2);
	assert_addr(&t[2].neighbours[1], "127.0.0.1:20000");
	cr_topology_free(t, n);
	cr_experiment_free(&e);
}

static const struct bad_case bad_topologies[] = {
    {"one field", "# x\n" A "\n", 2, "expected PEER NEIGHBOUR [NEIGHBOUR ...]"},
    {"listed twice", A " 127.0.0.1:20002\n\n" A " 127.0.0.1:20003\n", 3,
     A " is listed already, at line 1"},
    {"itself", A " 127.0.0.1:20002 " A "\n", 1,
     A " lists itself as a neighbour"},
    {"neighbour twice", A " 127.0.0.1:20002 127.0.0.1:20002\n", 1,
     A " lists 127.0.0.1:20002 twice"},
    {"bad address", A " 127.0.0.1\n", 1,
     "'127.0.0.1': expected a peer address"},
    {"peer in no class", "127.0.0.1:1 " A "\n", 1,
     "127.0.0.1:1 is in no class of the experiment"},
    {"neighbour in no class", A " 127.0.1.6:9000\n", 1,
     "127.0.1.6:9000 is in no class of the experiment"},
};

static void test_topology_errors(void **state)
{
	struct cr_experiment e;
	struct cr_topology_entry *t;
	char path[256], err[512];
	size_t n;

	load_events_exp(&e);
	for (size_t i = 0;
	     i < sizeof(bad_topologies) / sizeof(bad_topologies[0]); i++) {
		const struct bad_case *c = &bad_topologies[i];

		put("bad.topology", c->text, path);
		if (cr_topology_load(path, &e, &t, &n, err, sizeof(err)) >= 0)
			fail_msg("%s: loaded", c->what);
		check_err(c->what, err, path, c->line, c->phrase);
		assert_null(t);
		assert_int_equal(n, 0);
	}
	cr_experiment_free(&e);
}

/* --- fuzzing
 * ------------------------------------------------------------------ */

/* A fixed seed: a failure shows up again on the next run. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const char *const words[] = {
    "[",
    "]",
    "=",
    " ",
    "\t",
    ";",
    "#",
    ":",
    "-",
    "\n",
    "class",
    "session",
    "experiment",
    "tracker",
    "algorithm",
    "count",
    "addresses",
    "source",
    "rate",
    "data",
    "name",
    "duration",
    "mode",
    "birth",
    "die",
    "join",
    "leave",
    "deploy",
    "terminate",
    "session=1",
    "class=a",
    "rate=0",
    "10s",
    "5KB/s",
    "-3",
    "1e999",
    "127.0.0.1:20001",
    "127.0.0.1:20001-20010",
    "[::1]:1",
    "file:",
    "stdin",
    "inproc",
    "99999999999999999999",
};

/* A line of random words and bytes. */
static size_t garbage(char *out, size_t cap)
{
	size_t n = 0, k = 1 + next() % 8;

	for (size_t i = 0; i < k && n + 64 < cap; i++) {
		if (next() % 3) {
			const char *w =
			    words[next() % (sizeof(words) / sizeof(words[0]))];
			memcpy(out + n, w, strlen(w));
			n += strlen(w);
		} else {
			out[n++] = (char)(1 + next() % 255);
		}
	}
	out[n++] = '\n';
	return n;
}

/* One random change to text: a truncation, a garbage line put in, a line
 * taken out, or bytes overwritten. */
static size_t mutate(const char *text, char *out, size_t cap)
{
	size_t len = strlen(text), at = next() % (len + 1), n;
	const char *eol;

	switch (next() % 4) {
	case 0:
		memcpy(out, text, at);
		return at;
	case 1:
		while (at > 0 && text[at - 1] != '\n')
			at--;
		memcpy(out, text, at);
		n = at + garbage(out + at, cap - len);
		memcpy(out + n, text + at, len - at);
		return n + len - at;
	case 2:
		while (at > 0 && text[at - 1] != '\n')
			at--;
		eol = strchr(text + at, '\n');
		n = eol ? (size_t)(eol + 1 - text) : len;
		memcpy(out, text, at);
		memcpy(out + at, text + n, len - n);
		return at + len - n;
	default:
		memcpy(out, text, len);
		for (size_t i = 0, k = 1 + next() % 4; i < k && len; i++)
			out[next() % len] = (char)(next() % 256);
		return len;
	}
}

static unsigned count_lines(const char *b, size_t n)
{
	unsigned lines = 0;

	for (size_t i = 0; i < n; i++)
		lines += b[i] == '\n';
	if (n && b[n - 1] != '\n')
		lines++;
	return lines ? lines : 1;
}

/* A refusal must name this file and a line of it. */
static void check_fuzz_err(const char *err, const char *path, unsigned lines,
			   const char *buf, size_t n)
{
	size_t pl = strlen(path);
	char *end;
	unsigned long line;

	if (strncmp(err, path, pl) || err[pl] != ':')
		fail_msg("no file name: %s\n---\n%.*s", err, (int)n, buf);
	line = strtoul(err + pl + 1, &end, 10);
	if (end == err + pl + 1 || strncmp(end, ": ", 2) || line < 1 ||
	    line > lines || !end[2])
		fail_msg("no line of %u: %s\n---\n%.*s", lines, err, (int)n,
			 buf);
}

enum kind { EXPERIMENT, EVENTS, TOPOLOGY };

static int fuzz_load(enum kind k, const char *path,
		     const struct cr_experiment *e, char *err, size_t errlen)
{
	struct cr_experiment x;
	struct cr_event *ev;
	struct cr_topology_entry *t;
	size_t n;
	int rc;

	switch (k) {
	case EXPERIMENT:
		rc = cr_experiment_load(path, &x, err, errlen);
		if (rc)
			assert_true(all_zero(&x, sizeof(x)));
		cr_experiment_free(&x);
		return rc;
	case EVENTS:
		rc = cr_events_load(path, e, &ev, &n, err, errlen);
		free(ev);
		return rc;
	default:
		rc = cr_topology_load(path, e, &t, &n, err, errlen);
		cr_topology_free(t, n);
		return rc;
	}
}

static void fuzz(enum kind k, const char *valid, const struct cr_experiment *e,
		 int rounds)
{
	size_t cap = strlen(valid) + 1024;
	char *buf = malloc(cap), path[256], err[512];
	int refused = 0;

	assert_non_null(buf);
	for (int i = 0; i < rounds; i++) {
		size_t n = mutate(valid, buf, cap);

		put_bytes("fuzz", buf, n, path);
		err[0] = 0;
		if (fuzz_load(k, path, e, err, sizeof(err))) {
			check_fuzz_err(err, path, count_lines(buf, n), buf, n);
			refused++;
		}
	}
	/* most changes break a file: the loop reaches the error paths */
	assert_true(refused > rounds / 3);
	free(buf);
}

static void test_fuzz(void **state)
{
	struct cr_experiment e;
	char text[sizeof(full_exp) + 64];

	put_referenced_files();
	snprintf(text, sizeof(text), full_exp, dir);
	fuzz(EXPERIMENT, text, NULL, 3000);
	fuzz(EXPERIMENT, events_exp, NULL, 1000);
	load_events_exp(&e);
	fuzz(EVENTS, good_events, &e, 3000);
	fuzz(TOPOLOGY,
	     "127.0.0.1:20000 127.0.0.1:20001 127.0.1.1:9000\n"
	     "127.0.0.1:20001 127.0.0.1:20002\n"
	     "# comment\n"
	     "127.0.1.1:9000 127.0.1.2:9000 127.0.0.1:20000\n",
	     &e, 2000);
	cr_experiment_free(&e);
}

/* --- latency matrix files ------------------------------------------------- */

static const struct cr_latency *pair_in(const struct cr_latency *m, size_t n,
					const char *from, const char *to)
{
	cr_addr f = addr(from), t = addr(to);

	for (size_t i = 0; i < n; i++)
		if (cr_addr_eq(&m[i].from, &f) && cr_addr_eq(&m[i].to, &t))
			return &m[i];
	return NULL;
}

static void test_matrix(void **state)
{
	static const struct bad_case bad[] = {
	    {"fields", "# c\n127.0.0.1:1 127.0.0.1:2\n", 2,
	     "expected `FROM TO DELAY`"},
	    {"address", "127.0.0.1:1 localhost:2 3ms\n", 1,
	     "'localhost:2': expected a peer address"},
	    {"delay", "127.0.0.1:1 127.0.0.1:2 -3ms\n", 1,
	     "delay '-3ms': expected"},
	    {"twice", "127.0.0.1:1 127.0.0.1:2 3\n127.0.0.1:2 127.0.0.1:1 4\n"
		      "127.0.0.1:1 127.0.0.1:2 5\n",
	     3, "127.0.0.1:1 -> 127.0.0.1:2 is already set"},
	};
	struct cr_latency *m;
	char path[256], err[512];
	size_t n;

	put("good.matrix",
	    "# FROM TO DELAY\n"
	    "127.0.0.1:1  127.0.0.1:2  35ms\n"
	    "127.0.0.1:2  127.0.0.1:1  40   # the way back: bare ms\n"
	    "\n"
	    "[::1]:7 127.0.0.1:3 1.5s\n"
	    "127.0.0.1:4 127.0.0.1:4 1ms\n",
	    path);
	assert_int_equal(cr_matrix_load(path, &m, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 5); /* 4 lines, and [::1]:7's way back */
	assert_int_equal(pair_in(m, n, "127.0.0.1:1", "127.0.0.1:2")->delay_ns,
			 35 * CR_MS);
	assert_int_equal(pair_in(m, n, "127.0.0.1:2", "127.0.0.1:1")->delay_ns,
			 40 * CR_MS);
	assert_int_equal(pair_in(m, n, "127.0.0.1:3", "[::1]:7")->delay_ns,
			 1500 * CR_MS);
	assert_non_null(pair_in(m, n, "127.0.0.1:4", "127.0.0.1:4"));
	free(m);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put("bad.matrix", bad[i].text, path);
		m = (struct cr_latency *)1;
		if (cr_matrix_load(path, &m, &n, err, sizeof(err)) != -CR_EINVAL)
			fail_msg("%s: loaded", bad[i].what);
		check_err(bad[i].what, err, path, bad[i].line, bad[i].phrase);
		assert_null(m);
		assert_int_equal(n, 0);
	}
}

/* Every pair of 600 peers one way: 179,700 lines load in well under a
 * second (checking each line against every other took minutes), with
 * every way back made. */
static void test_matrix_large(void **state)
{
	enum { PEERS = 600 };
	struct cr_latency *m;
	struct timespec t0, t1;
	char path[256], err[512];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/large.matrix", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	for (int a = 0; a < PEERS; a++)
		for (int b = a + 1; b < PEERS; b++)
			fprintf(f, "127.0.%d.%d:%d 127.0.%d.%d:%d %dms\n", a / 256,
				a % 256, 1000 + a, b / 256, b % 256, 1000 + b,
				(a + b) % 97);
	assert_int_equal(fclose(f), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (cr_matrix_load(path, &m, &n, err, sizeof(err)))
		fail_msg("%s", err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(n, PEERS * (PEERS - 1));
	assert_int_equal(
	    pair_in(m, n, "127.0.2.87:1599", "127.0.0.5:1005")->delay_ns,
	    (599 + 5) % 97 * CR_MS);
	free(m);
	if (t1.tv_sec - t0.tv_sec > 20)
		fail_msg("%lld s to load", (long long)(t1.tv_sec - t0.tv_sec));
}

/* --- the examples --------------------------------------------------------- */

static void test_examples(void **state)
{
	struct cr_experiment e;
	struct cr_event *ev;
	struct cr_topology_entry *t;
	char path[512], err[512];
	size_t n;

	snprintf(path, sizeof(path), "%s/examples/relay-chains.ini",
		 t_src_dir());
	if (cr_experiment_load(path, &e, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(e.npeers, 101);
	assert_int_equal(e.tracker.mode, CR_TRACKER_NONE);
	if (cr_topology_load(e.topology_path, &e, &t, &n, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(n, 91); /* the source, and all but the 10 tails */
	assert_int_equal(t[0].n, 10);
	cr_topology_free(t, n);
	cr_experiment_free(&e);

	snprintf(path, sizeof(path), "%s/examples/churn.ini", t_src_dir());
	if (cr_experiment_load(path, &e, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(e.npeers, 31);
	if (cr_events_load(e.events_path, &e, &ev, &n, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(ev[0].type, CR_EV_BIRTH);
	assert_int_equal(ev[1].type, CR_EV_DEPLOY);
	assert_int_equal(ev[n - 1].type, CR_EV_TERMINATE);
	free(ev);
	cr_experiment_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_experiment_full, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_experiment_defaults, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_experiment_without_sessions,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_experiment_from_memory, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_experiment_ranges, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_experiment_errors, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_experiment_coordinator, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_experiment_io_errors, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_events_valid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events_errors, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_events_after_the_end, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_topology_valid, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_topology_errors, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_matrix, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_matrix_large, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fuzz, setup, teardown),
	    cmocka_unit_test(test_examples),
	};

	return cmocka_run_group_tests_name("scenario files", tests, NULL, NULL);
}
