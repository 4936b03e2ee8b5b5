/* Threads for algorithms: lengthy work on a thread pool, and the
 * synchronisation constructs for algorithms that keep threads of their own.
 *
 * An algorithm's callbacks run on its peer's worker, one at a time; a
 * callback that computes for long (decoding a network-coded generation,
 * say) holds up every other peer of that worker and makes their emulated
 * links late.  cr_work_submit moves such work to a pool of threads and
 * brings its result back to the worker, the shape of libuv's
 * uv_queue_work: the work function runs on a pool thread, then the done
 * callback runs on the peer's worker like any other callback.
 *
 * The pool is libuv's, one per process: its size is the command line's
 * --algorithm-threads (the experiment key algorithm_threads), by default
 * the number of cores.  An embedder that wants another size sets
 * UV_THREADPOOL_SIZE in the environment before the first node starts.
 *
 * The wrappers at the end (cr_mutex, cr_rwlock, cr_cond, cr_barrier,
 * cr_thread) are libuv's, so that an algorithm need not include uv.h; the
 * types are opaque storage large enough for libuv's own, used only through
 * these calls.
 */
#ifndef CRYSTAL_THREAD_H
#define CRYSTAL_THREAD_H

#include <stddef.h>
#include <stdint.h>

#include "message.h" /* cr_peer */

#ifdef __cplusplus
extern "C" {
#endif

/* --- work on the pool ------------------------------------------------------ */

typedef uint64_t cr_work_id;
/* Runs on a pool thread, concurrently with the peer's callbacks and with
 * other works: it may touch only what `arg` gives it, and must not call
 * any engine service (cr_send, cr_timer_start, cr_log, cr_state... or
 * cr_work_submit): those belong to the worker.  The engine aborts the
 * process with a message if a work function calls one of the services
 * that check (cr_work_submit, cr_work_cancel, cr_timer_start). */
typedef void (*cr_work_fn)(void *arg);
/* Runs on the peer's worker once the work is over, like any callback of
 * the peer: never concurrently with its others.  status is 0 when the
 * work function ran and the peer is still in the life that submitted it;
 * -CR_ECANCELED when the work was cancelled by cr_work_cancel (it never
 * ran) or when that life ended, by the peer's death or the run's end (it
 * may then have run, or not).  With -CR_ECANCELED the callback should
 * only free what arg holds: the peer is not alive, and services refuse. */
typedef void (*cr_work_done_fn)(cr_peer *p, void *arg, int status);

/* The most works one peer may have outstanding (submitted, done not yet
 * called): past it cr_work_submit refuses, so that a runaway algorithm
 * cannot queue without end. */
#define CR_WORK_PEER_MAX 64

/* Runs work(arg) on the pool, then done(p, arg, status) on p's worker.
 * Call it from one of p's callbacks.  On success *id (if id is not NULL)
 * names the work for cr_work_cancel (ids are never reused, never 0) and
 * done is called exactly once, always before the algorithm's destroy of
 * this life of the peer; done may be NULL when nothing is to follow.
 * A work still running when its peer dies or the run ends cannot be
 * stopped: the peer's end waits for it (without holding up the worker:
 * the peer stays "closing", is not born again meanwhile, and its destroy
 * comes once its running works have returned and their done were called).
 * Returns 0, or
 *   -CR_EINVAL  p or work is NULL, or p is not alive (or is ending)
 *   -CR_EAGAIN  p has CR_WORK_PEER_MAX works outstanding
 *   -CR_ENOMEM  out of memory
 *   -CR_EIO     the pool refused the work (the log says why)
 * On failure nothing is called. */
int cr_work_submit(cr_peer *p, cr_work_fn work, cr_work_done_fn done,
		   void *arg, cr_work_id *id);

/* Cancels a work that has not started: it will not run, and its done
 * comes later (never from inside this call) with -CR_ECANCELED.  Returns
 * 0, or
 *   -CR_ESTATE  it has started (or finished): it goes on, and its done
 *               comes as if cancel had not been called
 *   -CR_ENOENT  no work of p's with that id is outstanding (its done was
 *               called, or it was cancelled already)
 *   -CR_EINVAL  p is NULL */
int cr_work_cancel(cr_peer *p, cr_work_id id);

/* The thread CPU time p's work functions have used, over all its lives,
 * counted as each returns (CLOCK_THREAD_CPUTIME_ID around each): what
 * decoding cost the peer, off its worker.  Also in peers-final.csv. */
int64_t cr_work_cpu_ns(const cr_peer *p);

/* --- synchronisation for the algorithm's own threads ------------------------- */

/* Opaque storage for libuv's types (uv_mutex_t, uv_rwlock_t, uv_cond_t,
 * uv_barrier_t, uv_thread_t), large and aligned enough for them: the
 * engine checks that when it is built.  Use them only through these calls;
 * each must be initialised before use and destroyed after, and must not be
 * copied or moved while in use. */
typedef struct cr_mutex {
	uint64_t opaque[8];
} cr_mutex;
typedef struct cr_rwlock {
	uint64_t opaque[8];
} cr_rwlock;
typedef struct cr_cond {
	uint64_t opaque[8];
} cr_cond;
typedef struct cr_barrier {
	uint64_t opaque[16];
} cr_barrier;
typedef struct cr_thread {
	uint64_t opaque[2];
} cr_thread;

/* The init calls return 0, or -CR_ENOMEM, -CR_EAGAIN (no more of the
 * system's resources) or -CR_EINVAL; lock and unlock cannot fail (a misuse
 * the system reports, such as unlocking a mutex not held, aborts, as in
 * libuv). */
int cr_mutex_init(cr_mutex *m);
void cr_mutex_destroy(cr_mutex *m);
void cr_mutex_lock(cr_mutex *m);
/* 0, or -CR_EAGAIN when another thread holds it. */
int cr_mutex_trylock(cr_mutex *m);
void cr_mutex_unlock(cr_mutex *m);

int cr_rwlock_init(cr_rwlock *l);
void cr_rwlock_destroy(cr_rwlock *l);
void cr_rwlock_rdlock(cr_rwlock *l);
void cr_rwlock_rdunlock(cr_rwlock *l);
void cr_rwlock_wrlock(cr_rwlock *l);
void cr_rwlock_wrunlock(cr_rwlock *l);

int cr_cond_init(cr_cond *c);
void cr_cond_destroy(cr_cond *c);
void cr_cond_signal(cr_cond *c);
void cr_cond_broadcast(cr_cond *c);
/* Waits with m held (it is released while waiting, held again on return).
 * Wake-ups may be spurious: wait in a loop on the condition. */
void cr_cond_wait(cr_cond *c, cr_mutex *m);
/* The same for at most timeout_ns of the system's monotonic clock (not
 * experiment time): 0 when woken (or spuriously), -CR_ETIMEDOUT when the
 * time ran out; m is held again either way. */
int cr_cond_timedwait(cr_cond *c, cr_mutex *m, int64_t timeout_ns);

/* A barrier for `count` threads (at least 1): each cr_barrier_wait blocks
 * until count threads wait, then all go on, and the barrier serves again.
 * Returns 1 in exactly one of the threads of each round, 0 in the others. */
int cr_barrier_init(cr_barrier *b, unsigned count);
void cr_barrier_destroy(cr_barrier *b);
int cr_barrier_wait(cr_barrier *b);

/* A thread of the algorithm's own, running fn(arg).  Like a work
 * function, it must not call engine services.  Join every thread created
 * before its peer's destroy returns: the engine does not know of it. */
/* cr_thread_create returns 0, -CR_EAGAIN (no more threads) or -CR_ENOMEM;
 * cr_thread_join 0 or -CR_EINVAL (not a joinable thread). */
int cr_thread_create(cr_thread *t, void (*fn)(void *arg), void *arg);
int cr_thread_join(cr_thread *t);

#ifdef __cplusplus
}
#endif
#endif
