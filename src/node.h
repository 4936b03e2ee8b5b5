/* Kept while src/cli and src/scenario move to src/engine/node.h (the
 * node's embedding interface); it gives them what it always gave. */
#ifndef CRYSTAL_NODE_H
#define CRYSTAL_NODE_H

#include "engine/engine.h"

#endif
