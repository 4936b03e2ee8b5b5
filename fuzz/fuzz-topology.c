/* Fuzz target: topology files (src/scenario/topology.c).
 *
 * The input is a topology file, read against the fixed experiment of
 * fuzz.c.  A failed load returns nothing and names the file; a loaded one
 * keeps the loader's promises: entries in file order (line numbers
 * ascend), each peer and each neighbour in a class of the experiment, a
 * peer on one line at most, never its own neighbour, no neighbour twice,
 * and at least one neighbour a line.
 */
#include "../src/scenario/events.h"
#include "fuzz.h"

#include <string.h>

static struct fz_memfile file;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fz_memfile_open(&file, "fuzz.topology");
	fz_experiment();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cr_experiment *e = fz_experiment();
	struct cr_topology_entry *t = (struct cr_topology_entry *)&file;
	bool *listed;
	char err[1024];
	size_t n = 99, idx;
	int rc;

	fz_memfile_set(&file, data, size);
	rc = cr_topology_load(file.path, e, &t, &n, err, sizeof(err));
	if (rc) {
		FZ_CHECK(rc < 0);
		FZ_CHECK(!t && n == 0);
		FZ_CHECK(fz_err_names(err, file.path));
		return 0;
	}
	listed = calloc(e->npeers, sizeof(*listed));
	FZ_CHECK(listed);
	for (size_t i = 0; i < n; i++) {
		const struct cr_topology_entry *en = &t[i];

		FZ_CHECK(!i || t[i - 1].line < en->line);
		FZ_CHECK(cr_experiment_peer_index(e, &en->peer, &idx) == 0);
		FZ_CHECK(!listed[idx]);
		listed[idx] = true;
		FZ_CHECK(en->n >= 1);
		for (size_t j = 0; j < en->n; j++) {
			FZ_CHECK(cr_experiment_peer_index(e, &en->neighbours[j],
							  &idx) == 0);
			FZ_CHECK(!cr_addr_eq(&en->neighbours[j], &en->peer));
			for (size_t k = 0; k < j; k++)
				FZ_CHECK(!cr_addr_eq(&en->neighbours[k],
						     &en->neighbours[j]));
		}
	}
	free(listed);
	cr_topology_free(t, n);
	return 0;
}
