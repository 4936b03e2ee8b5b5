/* What the fuzz targets share (see docs/testing.md).
 *
 * Each fuzz-*.c is a libFuzzer target: LLVMFuzzerTestOneInput gets one
 * input and hands it to a reader of Crystal's, then checks what the reader
 * promises of its result.  A broken promise aborts, which libFuzzer reports
 * as a crash with the input that caused it; AddressSanitizer, UBSan and
 * LeakSanitizer do the same for memory errors, undefined behaviour and
 * leaks.
 *
 * The readers of events, topology and matrix files read from a path: the
 * input goes to a memory file (memfd) and its /proc/self/fd path, so that
 * no input touches the disk.
 */
#ifndef CRYSTAL_FUZZ_H
#define CRYSTAL_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* A promise of the reader's: abort with where and what when it fails. */
#define FZ_CHECK(cond)                                                         \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: broken: %s\n", __FILE__,       \
				__LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* A file in memory, rewritten for each input. */
struct fz_memfile {
	int fd;
	char path[64]; /* /proc/self/fd/N */
};

/* Makes the file once (aborts when it cannot). */
void fz_memfile_open(struct fz_memfile *m, const char *name);
/* The file now holds exactly these bytes. */
void fz_memfile_set(struct fz_memfile *m, const uint8_t *data, size_t size);

struct cr_experiment;
/* The experiment that events and topology inputs are read against:
 * classes of IPv4 ports, IPv4 addresses and IPv6 ports, three sessions,
 * the addresses of examples/churn.ini and examples/relay-chains.ini among
 * them.  Loaded once; aborts if it does not load. */
const struct cr_experiment *fz_experiment(void);

/* err after a failed load: "PATH:LINE: ..." or "PATH: ...". */
bool fz_err_names(const char *err, const char *path);

#endif
