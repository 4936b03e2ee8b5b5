/* Pairwise latency matrix files. */
#ifndef CRYSTAL_MATRIX_H
#define CRYSTAL_MATRIX_H

#include "../engine/node.h"

/* Reads `FROM TO DELAY` lines (see matrix.c).  Returns 0, or -CR_EINVAL /
 * -CR_ENOENT / -CR_ENOMEM with err naming the file and line. */
int cr_matrix_load(const char *path, struct cr_latency **out, size_t *n,
		   char *err, size_t errlen);

#endif
