/* Kept while the files that include it move to the per-module headers:
 * the headers of src/core, src/net/net.h, src/engine/engine.h. */
#ifndef CRYSTAL_INTERNAL_H
#define CRYSTAL_INTERNAL_H

#include "engine/engine.h"

#endif
