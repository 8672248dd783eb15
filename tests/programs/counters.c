/*
 * counters.c — 4 processes add 1 to two counters 50000 times each: one
 * with __atomic_fetch_add, one under a process-shared pthread mutex, so
 * both end at exactly 200000.  Then a robust mutex whose owner exits
 * holding it is taken by the parent with EOWNERDEAD and made consistent.
 */
#include <pthread.h>
#include <stdint.h>

#include "common.h"

#define PROCS 4
#define ROUNDS 50000

struct shared {
	uint64_t atomic_count;
	pthread_mutex_t lock;
	uint64_t locked_count;
	pthread_mutex_t robust;
	int robust_value;
};

static void
init_mutex(pthread_mutex_t *m, int robust)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (robust)
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if ((errno = pthread_mutex_init(m, &a)) != 0)
		die("pthread_mutex_init");
	pthread_mutexattr_destroy(&a);
}

static int
add(struct shared *s)
{
	for (int i = 0; i < ROUNDS; i++) {
		__atomic_fetch_add(&s->atomic_count, 1, __ATOMIC_SEQ_CST);
		if (pthread_mutex_lock(&s->lock) != 0)
			return 3;
		s->locked_count++;
		pthread_mutex_unlock(&s->lock);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	key_t key = key_arg(argc, argv);
	struct shared *s;
	pid_t kids[PROCS], holder;
	int id, status, rc, failed = 0;
	char how[32];

	setvbuf(stdout, NULL, _IONBF, 0);
	if ((id = shmget(key, sizeof(*s), IPC_CREAT | IPC_EXCL | 0600)) < 0)
		die("shmget");
	if ((s = shmat(id, NULL, 0)) == (void *)-1)
		die("shmat");
	init_mutex(&s->lock, 0);
	init_mutex(&s->robust, 1);
	for (int k = 0; k < PROCS; k++)
		if ((kids[k] = fork()) == 0)
			_exit(add(s));
	for (int k = 0; k < PROCS; k++) {
		waitpid(kids[k], &status, 0);
		failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	printf("%d processes x %d: atomic %llu, under the mutex %llu, %d failed\n", PROCS, ROUNDS,
	       (unsigned long long)s->atomic_count, (unsigned long long)s->locked_count, failed);

	/* The robust mutex: its owner exits holding it. */
	if ((holder = fork()) == 0) {
		if (pthread_mutex_lock(&s->robust) != 0)
			_exit(3);
		s->robust_value = 41;
		_exit(0);
	}
	waitpid(holder, &status, 0);
	printf("holder %s\n", ended(status, how, sizeof(how)));
	rc = pthread_mutex_lock(&s->robust);
	printf("lock after the owner died: %s\n", rc == EOWNERDEAD ? "EOWNERDEAD" : strerror(rc));
	if (rc == EOWNERDEAD) {
		s->robust_value++;
		rc = pthread_mutex_consistent(&s->robust);
		printf("made consistent: %s, value %d\n", rc == 0 ? "yes" : strerror(rc),
		       s->robust_value);
	}
	pthread_mutex_unlock(&s->robust);
	printf("lock again: %s\n", (rc = pthread_mutex_lock(&s->robust)) == 0 ? "ok" : strerror(rc));
	pthread_mutex_unlock(&s->robust);
	if (shmdt(s) != 0 || shmctl(id, IPC_RMID, NULL) != 0)
		die("shmdt/IPC_RMID");
	return 0;
}
