/*
 * xcount.c KEY ROLE — two processes on each of two hosts add 1 to two
 * counters 3000 times each: one with __atomic_fetch_add, one under a
 * process-shared robust pthread mutex, so both end at exactly 12000.
 * Role 0 makes the segment and the mutex, and reports once everyone is
 * done.
 */
#include <pthread.h>
#include <stdint.h>

#include "common.h"

#define PROCS 2
#define ROUNDS 3000

struct shared {
	long ready;
	uint64_t atomic_count;
	pthread_mutex_t lock;
	uint64_t locked_count;
	long done; /* processes finished, over both hosts */
};

static int
add(struct shared *s)
{
	for (int i = 0; i < ROUNDS; i++) {
		int rc;

		__atomic_fetch_add(&s->atomic_count, 1, __ATOMIC_SEQ_CST);
		if ((rc = pthread_mutex_lock(&s->lock)) != 0 && rc != EOWNERDEAD)
			return 3;
		s->locked_count++;
		pthread_mutex_unlock(&s->lock);
	}
	__atomic_fetch_add(&s->done, 1, __ATOMIC_SEQ_CST);
	return 0;
}

int
main(int argc, char **argv)
{
	key_t key = key_arg(argc, argv);
	int role = role_arg(argc, argv), id, status, failed = 0;
	struct shared *s = role_attach(key, sizeof(struct shared), role, &id);
	pid_t kids[PROCS];

	setvbuf(stdout, NULL, _IONBF, 0);
	if (role == 0) {
		pthread_mutexattr_t a;

		pthread_mutexattr_init(&a);
		pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
		if ((errno = pthread_mutex_init(&s->lock, &a)) != 0)
			die("pthread_mutex_init");
		__atomic_store_n(&s->ready, 1, __ATOMIC_RELEASE);
	} else if (await_at_least(&s->ready, 1) < 1)
		die("the segment was never made ready");
	for (int k = 0; k < PROCS; k++)
		if ((kids[k] = fork()) == 0)
			_exit(add(s));
	for (int k = 0; k < PROCS; k++) {
		waitpid(kids[k], &status, 0);
		failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	printf("role %d: %d processes, %d failed\n", role, PROCS, failed);
	if (role == 1) {
		shmdt(s);
		return 0;
	}
	await_at_least(&s->done, 2 * PROCS);
	printf("role 0: all %ld processes done: atomic %llu, under the mutex %llu\n",
	       __atomic_load_n(&s->done, __ATOMIC_ACQUIRE),
	       (unsigned long long)__atomic_load_n(&s->atomic_count, __ATOMIC_SEQ_CST),
	       (unsigned long long)s->locked_count);
	if (shmdt(s) != 0 || shmctl(id, IPC_RMID, NULL) != 0)
		die("shmdt/IPC_RMID");
	return 0;
}
