/* Kept while src/cli and src/scenario move to src/engine/node.h (the
 * node's embedding interface) and src/core/log.h (log levels, the crash
 * handler), which are all they take from here. */
#ifndef CRYSTAL_NODE_H
#define CRYSTAL_NODE_H

#include "core/log.h"
#include "engine/node.h"

#endif
