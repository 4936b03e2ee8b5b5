/* Threads below the engine: which thread is not a worker, for the engine's
 * guard against services called off the worker (work.c).  The
 * synchronisation wrappers of include/crystal/thread.h are in thread.c.
 */
#ifndef CRYSTAL_CORE_THREAD_H
#define CRYSTAL_CORE_THREAD_H

#include "common.h"

/* True on a thread running an algorithm's work function (cr_work_submit)
 * or one of its own threads (cr_thread_create): engine services must not
 * be called there. */
extern _Thread_local bool cr__off_worker;

#endif
