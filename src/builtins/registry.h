/* Finding algorithms by name (the built-ins: relay, vanilla) or by a
 * shared object's path. */
#ifndef CRYSTAL_REGISTRY_H
#define CRYSTAL_REGISTRY_H

#include <crystal/algorithm.h>

size_t cr__algorithms(const cr_algorithm *const **out);
const cr_algorithm *cr__algorithm_find(const char *name, char *err,
				       size_t errlen);

#endif
