/* Data sources (src/engine/source.c) on loopback: a file source delivers
 * the file's bytes intact, in order, to every peer of a relay chain; a
 * looping file source starts over at the end; a standard-input source
 * delivers what is written into it, ending with a short last message.
 */
#include "../src/core/log.h"
#include "../src/engine/node.h"
#include "../src/scenario/chains.h"
#include "support.h"

#include <stdio.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define BASE 24500
#define MAXBYTES (1u << 20)

/* What each peer (by port) received, in order. */
struct got {
	uint8_t *buf;
	size_t len;
	size_t msgs;
	size_t ends;	  /* empty messages: the end of the stream */
	size_t end_after; /* bytes received before the (last) end */
};

static struct got got[65536];
static size_t want_bytes; /* the tail stops the run once it has these */
static bool want_end;	  /* ... and the end of the stream */

static void reset(void)
{
	for (size_t i = 0; i < 65536; i++)
		free(got[i].buf);
	memset(got, 0, sizeof(got));
}

static void cp_data(cr_peer *p, const cr_addr *from, cr_msg *m)
{
	const cr_addr *down;
	size_t n = cr_bootstrap_peers(p, &down);
	struct got *g = &got[cr_self(p)->port];

	if (!cr_is_self(p, from)) {
		size_t len = cr_msg_len(m);
		if (!len) {
			/* the end of a finite stream: after all of it */
			g->ends++;
			g->end_after = g->len;
			if (!n && want_bytes && g->len >= want_bytes)
				cr_experiment_stop(p);
			goto relay;
		}
		if (!g->buf)
			g->buf = malloc(MAXBYTES);
		if (g->len + len <= MAXBYTES)
			memcpy(g->buf + g->len, cr_msg_payload(m), len);
		g->len += len;
		g->msgs++;
		if (!n && want_bytes && g->len >= want_bytes && !want_end)
			cr_experiment_stop(p);
	}
relay:
	for (size_t i = 0; i < n; i++)
		cr_send(p, &down[i], m, CR_TCP);
}

static const cr_algorithm copier = {
	.api_version = CR_API_VERSION,
	.name = "copier",
	.process_data = cp_data,
};

static uint8_t *make_file(const char *path, size_t len)
{
	uint8_t *b = malloc(len);
	uint64_t x = 88172645463325252ull;
	int fd;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (uint8_t)x;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
	return b;
}

static void run_chain(int data, const char *path, uint32_t msg_size,
		      size_t receivers, int64_t duration)
{
	struct cr_chains ch;
	struct cr_node_config cfg = {0};
	struct cr__source_cfg src = {0};
	cr_addr base = t_addr(BASE);
	cr_node *n = NULL;
	char err[256];

	assert_int_equal(cr_chains_build(&ch, &base, receivers, receivers, err,
					 sizeof(err)),
			 0);
	src.peer_index = 0;
	src.session = 1;
	src.msg_size = msg_size;
	src.data = data;
	src.path = path;
	cfg.name = "test-source";
	cfg.duration_ns = duration;
	cfg.workers = 2;
	cfg.algo = &copier;
	cfg.peers = ch.peers;
	cfg.npeers = ch.npeers;
	cfg.sources = &src;
	cfg.nsources = 1;
	cfg.log_level = CR_LOG_WARN;
	assert_int_equal(cr_node_create(&cfg, &n, err, sizeof(err)), 0);
	if (cr_node_run(n, err, sizeof(err)))
		fail_msg("node: %s", err);
	cr_node_destroy(n);
	cr_chains_free(&ch);
}

/* 300,000 bytes in 1000-byte messages: the last is short; every peer of
 * a chain of 5 gets exactly the file. */
static void test_file_once(void **state)
{
	char dir[256], path[300];
	const size_t len = 300000 + 123;
	uint8_t *want;

	(void)state;
	reset();
	assert_int_equal(t_mkdtemp(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/stream.bin", dir);
	want = make_file(path, len);
	want_bytes = len;
	want_end = true;
	run_chain(1 /* file */, path, 1000, 5, 20 * CR_SEC);
	want_end = false;
	for (int i = 1; i <= 5; i++) {
		struct got *g = &got[BASE + i];
		assert_int_equal(g->len, len);
		assert_int_equal(g->msgs, 301);
		assert_memory_equal(g->buf, want, len);
		/* one empty message marks the end, after the last byte */
		assert_int_equal(g->ends, 1);
		assert_int_equal(g->end_after, len);
	}
	free(want);
	t_rm_rf(dir);
}

/* A looping file comes round again: past its end the stream goes on
 * with its beginning. */
static void test_file_loop(void **state)
{
	char dir[256], path[300];
	const size_t len = 10000;
	uint8_t *want;
	struct got *g = &got[BASE + 3];

	(void)state;
	reset();
	assert_int_equal(t_mkdtemp(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/loop.bin", dir);
	want = make_file(path, len);
	want_bytes = 3 * len + 500;
	run_chain(2 /* file, looping */, path, 1000, 3, 20 * CR_SEC);
	assert_true(g->len >= 3 * len);
	for (size_t off = 0; off + len <= g->len && off < 3 * len; off += len)
		assert_memory_equal(g->buf + off, want, len);
	free(want);
	t_rm_rf(dir);
}

/* Standard input: what a writer puts into it comes out at the far end,
 * in 512-byte messages and a short last one when the writer closes. */
static void test_stdin(void **state)
{
	const size_t len = 50000 + 77;
	uint8_t *want = malloc(len);
	int pfd[2], saved;
	pid_t pid;

	(void)state;
	reset();
	for (size_t i = 0; i < len; i++)
		want[i] = t_pattern(i / 512, i);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		/* in pieces, as a live stream arrives */
		for (size_t off = 0; off < len; off += 7000) {
			size_t n = len - off < 7000 ? len - off : 7000;
			if (write(pfd[1], want + off, n) != (ssize_t)n)
				_exit(1);
			usleep(20000);
		}
		_exit(0);
	}
	close(pfd[1]);
	saved = dup(0);
	dup2(pfd[0], 0);
	close(pfd[0]);
	want_bytes = len;
	run_chain(3 /* stdin */, NULL, 512, 2, 20 * CR_SEC);
	dup2(saved, 0);
	close(saved);
	assert_int_equal(t_wait(pid, 5000), 0);
	assert_int_equal(got[BASE + 2].len, len);
	assert_int_equal(got[BASE + 2].msgs, len / 512 + 1);
	assert_memory_equal(got[BASE + 2].buf, want, len);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_once),
		cmocka_unit_test(test_file_loop),
		cmocka_unit_test(test_stdin),
	};
	int failed = cmocka_run_group_tests_name("data sources", tests, NULL,
						 NULL);

	reset();
	return failed;
}
