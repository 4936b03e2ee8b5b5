/* Fuzz target: latency matrix files (src/scenario/matrix.c).
 *
 * The input is a matrix file.  A failed load returns nothing and names the
 * file; a loaded one keeps the loader's promises: no pair twice, every
 * pair's reverse present (given, or taken from the pair), delays not
 * negative, and no more pairs than twice the lines of the file.
 */
#include "../src/scenario/matrix.h"
#include "fuzz.h"

#include <string.h>

static struct fz_memfile file;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_memfile_open(&file, "fuzz.matrix");
	return 0;
}

static bool same(const struct cr_latency *l, const cr_addr *from,
		 const cr_addr *to)
{
	return cr_addr_eq(&l->from, from) && cr_addr_eq(&l->to, to);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cr_latency *m = (struct cr_latency *)&file;
	char err[1024];
	size_t n = 99, lines = 1;
	int rc;

	fz_memfile_set(&file, data, size);
	rc = cr_matrix_load(file.path, &m, &n, err, sizeof(err));
	if (rc) {
		FZ_CHECK(rc < 0);
		FZ_CHECK(!m && n == 0);
		FZ_CHECK(fz_err_names(err, file.path));
		return 0;
	}
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	FZ_CHECK(m);
	FZ_CHECK(n <= 2 * lines);
	for (size_t i = 0; i < n; i++) {
		bool reverse = false;

		FZ_CHECK(m[i].delay_ns >= 0);
		FZ_CHECK(m[i].from.port && m[i].to.port);
		for (size_t j = 0; j < n; j++) {
			FZ_CHECK(j == i || !same(&m[j], &m[i].from, &m[i].to));
			reverse = reverse || same(&m[j], &m[i].to, &m[i].from);
		}
		FZ_CHECK(reverse);
	}
	free(m);
	return 0;
}
