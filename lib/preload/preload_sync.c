/*
 * preload_sync.c — pthread mutexes, condition variables and semaphores
 * that lie in a coherent attachment, under dshm-run.
 *
 * The kernel wakes a futex waiter only on its own host: a lock released
 * on another host, whose dshmd took the page over, would never wake a
 * thread asleep here.  So in a segment a blocking wait never sleeps for
 * good: a lock is tried, and tried again after a short nap (sched_yield,
 * then 50 µs); a condition wait releases the mutex, naps at most a
 * millisecond and takes the mutex back (a spurious wakeup, which POSIX
 * allows, so a program that re-checks its predicate stays correct); a
 * semaphore is tried likewise.  Everything else goes to the C library
 * untouched, as does everything outside a segment.  Within one host the
 * same objects still work with the library's own calls (it is one copy).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <time.h>

#include "shm_internal.h"

#define NAP_NS 50000L      /* between two tries of a lock held elsewhere */
#define COND_NAP_NS 1000000L /* the longest a condition wait sleeps before it returns */

static int (*real_lock)(pthread_mutex_t *);
static int (*real_trylock)(pthread_mutex_t *);
static int (*real_unlock)(pthread_mutex_t *);
static int (*real_timedlock)(pthread_mutex_t *, const struct timespec *);
static int (*real_cond_wait)(pthread_cond_t *, pthread_mutex_t *);
static int (*real_cond_timedwait)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
static int (*real_sem_wait)(sem_t *);
static int (*real_sem_timedwait)(sem_t *, const struct timespec *);
static int (*real_sem_trywait)(sem_t *);

static void
resolve(void)
{
	if (real_lock != NULL)
		return;
	real_trylock = dlsym(RTLD_NEXT, "pthread_mutex_trylock");
	real_unlock = dlsym(RTLD_NEXT, "pthread_mutex_unlock");
	real_timedlock = dlsym(RTLD_NEXT, "pthread_mutex_timedlock");
	real_cond_wait = dlsym(RTLD_NEXT, "pthread_cond_wait");
	real_cond_timedwait = dlsym(RTLD_NEXT, "pthread_cond_timedwait");
	real_sem_wait = dlsym(RTLD_NEXT, "sem_wait");
	real_sem_timedwait = dlsym(RTLD_NEXT, "sem_timedwait");
	real_sem_trywait = dlsym(RTLD_NEXT, "sem_trywait");
	__atomic_store_n(&real_lock, dlsym(RTLD_NEXT, "pthread_mutex_lock"), __ATOMIC_RELEASE);
}

static void
nap(unsigned tries, long ns)
{
	struct timespec ts = {0, ns};

	if (tries < 64)
		sched_yield();
	else
		nanosleep(&ts, NULL);
}

/* Whether abs (CLOCK_REALTIME, as the timed calls take it) has passed. */
static bool
passed(const struct timespec *abs)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return now.tv_sec > abs->tv_sec || (now.tv_sec == abs->tv_sec && now.tv_nsec >= abs->tv_nsec);
}

static int
poll_lock(pthread_mutex_t *m, const struct timespec *abs)
{
	for (unsigned tries = 0;; tries++) {
		int rc = real_trylock(m);

		if (rc != EBUSY)
			return rc; /* taken, EOWNERDEAD of a robust one, or an error */
		if (abs != NULL && passed(abs))
			return ETIMEDOUT;
		nap(tries, NAP_NS);
	}
}

int
pthread_mutex_lock(pthread_mutex_t *m)
{
	resolve();
	return shm_in_coherent(m) ? poll_lock(m, NULL) : real_lock(m);
}

int
pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abs)
{
	resolve();
	return shm_in_coherent(m) ? poll_lock(m, abs) : real_timedlock(m, abs);
}

static int
poll_cond_wait(pthread_mutex_t *m, const struct timespec *abs)
{
	struct timespec ts = {0, COND_NAP_NS};
	int rc;

	if ((rc = real_unlock(m)) != 0)
		return rc;
	nanosleep(&ts, NULL);
	rc = poll_lock(m, NULL);
	if (rc != 0 && rc != EOWNERDEAD)
		return rc;
	return abs != NULL && passed(abs) ? ETIMEDOUT : rc;
}

int
pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
	resolve();
	return shm_in_coherent(c) || shm_in_coherent(m) ? poll_cond_wait(m, NULL)
							  : real_cond_wait(c, m);
}

int
pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abs)
{
	resolve();
	return shm_in_coherent(c) || shm_in_coherent(m) ? poll_cond_wait(m, abs)
							  : real_cond_timedwait(c, m, abs);
}

static int
poll_sem(sem_t *s, const struct timespec *abs)
{
	for (unsigned tries = 0;; tries++) {
		if (real_sem_trywait(s) == 0)
			return 0;
		if (errno != EAGAIN)
			return -1;
		if (abs != NULL && passed(abs)) {
			errno = ETIMEDOUT;
			return -1;
		}
		nap(tries, NAP_NS);
	}
}

int
sem_wait(sem_t *s)
{
	resolve();
	return shm_in_coherent(s) ? poll_sem(s, NULL) : real_sem_wait(s);
}

int
sem_timedwait(sem_t *s, const struct timespec *abs)
{
	resolve();
	return shm_in_coherent(s) ? poll_sem(s, abs) : real_sem_timedwait(s, abs);
}
