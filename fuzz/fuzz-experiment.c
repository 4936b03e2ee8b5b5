/* Fuzz target: experiment files (src/scenario/experiment.c).
 *
 * The input is the text of an experiment file, read from memory as if it
 * were DIR/fuzz.ini, where DIR holds a few files that path keys may name
 * (data.bin, e.events, t.topology, m.matrix).  A failed load leaves the
 * experiment all zero and names the file in its error; a loaded one keeps
 * every promise the loader makes to the planner:
 *   - the counts add up, each class's addresses ascend and start at its
 *     index among all peers, and every address looked up again gives its
 *     class and index (no two classes share one);
 *   - sessions have distinct IDs, a source in some class and a message
 *     size within the maximum;
 *   - the warm-up is shorter than the run, a tracker in a node has an
 *     address of its own and a timeout longer than its interval.
 */
#include "../src/scenario/experiment.h"
#include "fuzz.h"

#include <string.h>
#include <unistd.h>

/* Addresses looked up again per class: the first ones and the last. */
#define CHECK_ADDRS 256

static char dir[64];
static char path[128];

static void put(const char *name, const char *text)
{
	char p[192];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	FZ_CHECK(f);
	fputs(text, f);
	fclose(f);
}

static void remove_dir(void)
{
	static const char *const names[] = {"data.bin", "e.events",
					    "t.topology", "m.matrix"};
	char p[192];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/crystal-fuzz-XXXXXX",
		 tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	FZ_CHECK(mkdtemp(dir));
	put("data.bin", "0123456789");
	put("e.events", "");
	put("t.topology", "");
	put("m.matrix", "");
	snprintf(path, sizeof(path), "%s/fuzz.ini", dir);
	atexit(remove_dir);
	return 0;
}

static int cmp(const cr_addr *a, const cr_addr *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->ip, b->ip, a->family == 6 ? 16 : 4);
	return c ? c : (a->port > b->port) - (a->port < b->port);
}

static void check_class(const struct cr_experiment *e, size_t k, size_t first)
{
	const struct cr_peer_class *c = &e->classes[k];

	FZ_CHECK(c->count >= 1 && c->count <= CR_CLASS_MAX_PEERS);
	FZ_CHECK(c->first == first);
	FZ_CHECK(c->addrs);
	FZ_CHECK(cr_experiment_class(e, c->name) == c);
	for (size_t i = 0; i < c->count; i++) {
		size_t idx;

		if (i >= CHECK_ADDRS && i != c->count - 1)
			continue;
		FZ_CHECK(c->addrs[i].family == 4 || c->addrs[i].family == 6);
		FZ_CHECK(c->addrs[i].port != 0);
		if (i)
			FZ_CHECK(cmp(&c->addrs[i - 1], &c->addrs[i]) < 0);
		FZ_CHECK(cr_experiment_class_of(e, &c->addrs[i]) == c);
		FZ_CHECK(cr_experiment_peer_index(e, &c->addrs[i], &idx) == 0);
		FZ_CHECK(idx == first + i);
	}
}

static void check_loaded(const struct cr_experiment *e)
{
	uint32_t max = e->max_message ? e->max_message : 16u << 20;
	size_t total = 0, idx;

	FZ_CHECK(e->name[0] && strlen(e->name) < CR_NAME_MAX);
	FZ_CHECK(e->duration_ns > 0);
	FZ_CHECK(e->warmup_ns >= 0 && e->warmup_ns < e->duration_ns);
	FZ_CHECK(e->nclasses >= 1);
	for (size_t k = 0; k < e->nclasses; k++) {
		check_class(e, k, total);
		total += e->classes[k].count;
	}
	FZ_CHECK(total == e->npeers);
	for (size_t s = 0; s < e->nsessions; s++) {
		const struct cr_session_cfg *ss = &e->sessions[s];

		FZ_CHECK(ss->id >= 1);
		FZ_CHECK(cr_experiment_session(e, ss->id) == ss);
		FZ_CHECK(cr_experiment_peer_index(e, &ss->source, &idx) == 0);
		FZ_CHECK(ss->message_size >= 1 && ss->message_size <= max);
		FZ_CHECK(ss->segment_ns > 0);
	}
	if (e->tracker.mode != CR_TRACKER_NONE) {
		FZ_CHECK(!cr_experiment_class_of(e, &e->tracker.addr));
		FZ_CHECK(e->tracker.timeout_ns > e->tracker.interval_ns);
		FZ_CHECK(e->tracker.reply_peers >= 1);
	}
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_experiment e;
	char err[1024];
	int rc;

	memset(&e, 0xA5, sizeof(e));
	rc = cr_experiment_load_mem(path, (const char *)data, size, &e, err,
				    sizeof(err));
	if (rc) {
		FZ_CHECK(rc < 0);
		FZ_CHECK(fz_err_names(err, path));
		FZ_CHECK(all_zero(&e, sizeof(e)));
		return 0;
	}
	FZ_CHECK(err[0] == 0);
	check_loaded(&e);
	cr_experiment_free(&e);
	FZ_CHECK(all_zero(&e, sizeof(e)));
	cr_experiment_free(&e); /* safe twice */
	return 0;
}
