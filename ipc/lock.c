/*
 * lock.c — robust, process-shared mutexes with a repair hook.
 *
 * Invariant: a lock is marked consistent only after the state it guards
 * has been repaired, so a dead holder's half-done work is never visible.
 */
#include "lock.h"

#include <errno.h>
#include <pthread.h>
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
	return err;
}

int
lock_acquire(struct dshm_lock *lock, lock_repair_fn repair, void *ctx)
{
	int err = pthread_mutex_lock(&lock->mutex);

	if (err == EOWNERDEAD) {
		/* We hold the mutex; its previous holder died inside. */
		atomic_store(&lock->holder, self_pid());
		if (repair != NULL)
			repair(ctx);
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
