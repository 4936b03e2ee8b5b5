/* The synchronisation wrappers of include/crystal/thread.h, on libuv's:
 * mutexes, read-write locks, conditions, barriers and threads for
 * algorithms that keep threads of their own, without including uv.h.
 * The public types are opaque storage; each call casts to libuv's type,
 * whose size and alignment are checked here against it.
 */
#include "thread.h"

#include <stdlib.h>
#include <uv.h>

_Thread_local bool cr__off_worker;

#define FITS(pub, uvt)                                                    \
	_Static_assert(sizeof(pub) >= sizeof(uvt) &&                      \
			       _Alignof(pub) >= _Alignof(uvt),            \
		       #pub " is too small for " #uvt)
FITS(cr_mutex, uv_mutex_t);
FITS(cr_rwlock, uv_rwlock_t);
FITS(cr_cond, uv_cond_t);
FITS(cr_barrier, uv_barrier_t);
FITS(cr_thread, uv_thread_t);

#define MUTEX(m) ((uv_mutex_t *)(void *)(m)->opaque)
#define RWLOCK(l) ((uv_rwlock_t *)(void *)(l)->opaque)
#define COND(c) ((uv_cond_t *)(void *)(c)->opaque)
#define BARRIER(b) ((uv_barrier_t *)(void *)(b)->opaque)
#define THREAD(t) ((uv_thread_t *)(void *)(t)->opaque)

/* libuv's error (a negative errno) as Crystal's. */
static int cr_err(int e)
{
	switch (e) {
	case 0:
		return 0;
	case UV_ENOMEM:
		return -CR_ENOMEM;
	case UV_EAGAIN:
	case UV_EBUSY:
		return -CR_EAGAIN;
	case UV_ETIMEDOUT:
		return -CR_ETIMEDOUT;
	default:
		return -CR_EINVAL;
	}
}

int cr_mutex_init(cr_mutex *m)
{
	return m ? cr_err(uv_mutex_init(MUTEX(m))) : -CR_EINVAL;
}

void cr_mutex_destroy(cr_mutex *m)
{
	uv_mutex_destroy(MUTEX(m));
}

void cr_mutex_lock(cr_mutex *m)
{
	uv_mutex_lock(MUTEX(m));
}

int cr_mutex_trylock(cr_mutex *m)
{
	return cr_err(uv_mutex_trylock(MUTEX(m)));
}

void cr_mutex_unlock(cr_mutex *m)
{
	uv_mutex_unlock(MUTEX(m));
}

int cr_rwlock_init(cr_rwlock *l)
{
	return l ? cr_err(uv_rwlock_init(RWLOCK(l))) : -CR_EINVAL;
}

void cr_rwlock_destroy(cr_rwlock *l)
{
	uv_rwlock_destroy(RWLOCK(l));
}

void cr_rwlock_rdlock(cr_rwlock *l)
{
	uv_rwlock_rdlock(RWLOCK(l));
}

void cr_rwlock_rdunlock(cr_rwlock *l)
{
	uv_rwlock_rdunlock(RWLOCK(l));
}

void cr_rwlock_wrlock(cr_rwlock *l)
{
	uv_rwlock_wrlock(RWLOCK(l));
}

void cr_rwlock_wrunlock(cr_rwlock *l)
{
	uv_rwlock_wrunlock(RWLOCK(l));
}

int cr_cond_init(cr_cond *c)
{
	return c ? cr_err(uv_cond_init(COND(c))) : -CR_EINVAL;
}

void cr_cond_destroy(cr_cond *c)
{
	uv_cond_destroy(COND(c));
}

void cr_cond_signal(cr_cond *c)
{
	uv_cond_signal(COND(c));
}

void cr_cond_broadcast(cr_cond *c)
{
	uv_cond_broadcast(COND(c));
}

void cr_cond_wait(cr_cond *c, cr_mutex *m)
{
	uv_cond_wait(COND(c), MUTEX(m));
}

int cr_cond_timedwait(cr_cond *c, cr_mutex *m, int64_t timeout_ns)
{
	if (timeout_ns < 0)
		timeout_ns = 0;
	return cr_err(uv_cond_timedwait(COND(c), MUTEX(m),
					(uint64_t)timeout_ns));
}

int cr_barrier_init(cr_barrier *b, unsigned count)
{
	if (!b || !count)
		return -CR_EINVAL;
	return cr_err(uv_barrier_init(BARRIER(b), count));
}

void cr_barrier_destroy(cr_barrier *b)
{
	uv_barrier_destroy(BARRIER(b));
}

int cr_barrier_wait(cr_barrier *b)
{
	return uv_barrier_wait(BARRIER(b)) > 0;
}

/* A thread of the algorithm's: marked off the worker, so that the engine's
 * guard catches a service called from it. */
struct start {
	void (*fn)(void *arg);
	void *arg;
};

static void thread_main(void *arg)
{
	struct start s = *(struct start *)arg;

	free(arg);
	cr__off_worker = true;
	s.fn(s.arg);
}

int cr_thread_create(cr_thread *t, void (*fn)(void *arg), void *arg)
{
	struct start *s;
	int e;

	if (!t || !fn)
		return -CR_EINVAL;
	s = malloc(sizeof(*s));
	if (!s)
		return -CR_ENOMEM;
	s->fn = fn;
	s->arg = arg;
	e = uv_thread_create(THREAD(t), thread_main, s);
	if (e)
		free(s);
	return cr_err(e);
}

int cr_thread_join(cr_thread *t)
{
	return t ? cr_err(uv_thread_join(THREAD(t))) : -CR_EINVAL;
}
