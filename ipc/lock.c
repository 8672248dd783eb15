/*
 * lock.c — robust, process-shared mutexes with a repair hook and a
 * bounded wait.
 *
 * Invariants: a lock is marked consistent only after the state it guards
 * has been repaired, so a dead holder's half-done work is never visible;
 * a wait that times out has taken nothing and changed nothing; a repair
 * is never abandoned half-way for a timeout (its own waits are unbounded).
 */
#include "lock.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"

/*
 * The holder's pid, stamped on every acquire: glibc no longer caches
 * getpid(), and a system call per lock was most of a busy worker's.  A
 * forked child forgets the parent's.
 */
static pid_t my_pid;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void
forget_pid(void)
{
	my_pid = 0;
}

static void
watch_forks(void)
{
	pthread_atfork(NULL, NULL, forget_pid);
}

static int32_t
self_pid(void)
{
	if (my_pid == 0) {
		pthread_once(&pid_once, watch_forks);
		my_pid = getpid();
	}
	return (int32_t)my_pid;
}

static unsigned wait_ms;               /* 0: wait without bound */
static const struct dshm_lock *stuck;  /* the last lock whose wait timed out */
static uint32_t stuck_taken;           /* its taken count then: unchanged, it has not moved */
static unsigned repairing;             /* repairs under way in this process (they nest) */

static void (*alive_beat)(void *);
static void *alive_ctx;

void
lock_set_alive(void (*beat)(void *ctx), void *ctx)
{
	alive_beat = beat;
	alive_ctx = ctx;
}

void
lock_alive(void)
{
	if (alive_beat != NULL)
		alive_beat(alive_ctx);
}

void
lock_set_wait_ms(unsigned ms)
{
	wait_ms = ms;
	stuck = NULL;
}

/*
 * pthread_mutex_lock, or with a bound: the robust mutex's timed wait
 * takes a CLOCK_REALTIME deadline, so a jump of the wall clock can
 * lengthen or shorten one wait; the bound is a guard, not a timer.  An
 * uncontended lock is taken without reading the clock.  A lock nobody
 * has taken since our last wait for it timed out is held by the same
 * stopped or stuck holder: it gets a short wait, so that requests queued
 * behind it do not each cost the whole bound; once it moves, a busy lock
 * gets the whole bound again.
 */
static int
take(struct dshm_lock *lock)
{
	bool same = lock == stuck && atomic_load(&lock->taken) == stuck_taken;
	unsigned ms = same ? LOCK_STUCK_WAIT_MS : wait_ms;
	struct timespec until;
	int err;

	if (wait_ms == 0 || repairing > 0)
		return pthread_mutex_lock(&lock->mutex);
	if ((err = pthread_mutex_trylock(&lock->mutex)) != EBUSY)
		return err;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	err = pthread_mutex_timedlock(&lock->mutex, &until);
	/* Waiting is not being stopped: requests behind stuck locks must not look like silence. */
	lock_alive();
	if (err == ETIMEDOUT) {
		stuck = lock;
		stuck_taken = atomic_load(&lock->taken);
	}
	return err;
}

int
lock_init(struct dshm_lock *lock)
{
	pthread_mutexattr_t attr;
	int err;

	if ((err = pthread_mutexattr_init(&attr)) != 0)
		return err;
	if ((err = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED)) == 0 &&
	    (err = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST)) == 0)
		err = pthread_mutex_init(&lock->mutex, &attr);
	pthread_mutexattr_destroy(&attr);
	atomic_store(&lock->holder, 0);
	atomic_store(&lock->repairs, 0);
	atomic_store(&lock->taken, 0);
	return err;
}

int
lock_acquire(struct dshm_lock *lock, lock_repair_fn repair, void *ctx)
{
	int err = take(lock);

	if (err == 0 || err == EOWNERDEAD) {
		/* Only the holder writes it: a plain increment, no read-modify-write on the bus. */
		atomic_store_explicit(&lock->taken,
				      atomic_load_explicit(&lock->taken, memory_order_relaxed) + 1,
				      memory_order_relaxed);
		if (lock == stuck)
			stuck = NULL;
	}
	if (err == EOWNERDEAD) {
		/* We hold the mutex; its previous holder died inside. */
		atomic_store(&lock->holder, self_pid());
		if (repair != NULL) {
			repairing++;
			repair(ctx);
			repairing--;
		}
		atomic_fetch_add(&lock->repairs, 1);
		err = pthread_mutex_consistent(&lock->mutex);
		if (err != 0) {
			pthread_mutex_unlock(&lock->mutex);
			return err;
		}
		return 0;
	}
	if (err != 0)
		return err;
	atomic_store(&lock->holder, self_pid());
	return 0;
}

void
lock_release(struct dshm_lock *lock)
{
	FAULT_POINT("lock_release");
	atomic_store(&lock->holder, 0);
	pthread_mutex_unlock(&lock->mutex);
}
