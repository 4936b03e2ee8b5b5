/* Crystal: an emulation framework for peer-to-peer live streaming.
 *
 * The one header an algorithm includes.
 */
#ifndef CRYSTAL_CRYSTAL_H
#define CRYSTAL_CRYSTAL_H

#include "addr.h"
#include "algorithm.h"
#include "coding.h"
#include "error.h"
#include "link.h"
#include "message.h"
#include "stream.h"
#include "random.h"
#include "mesh.h"
#include "thread.h"
#include "units.h"

#endif
