/*
 * common.h — what the unmodified programs share: reading the key from
 * the command line, failing with a message, and bounded waiting.  Only
 * the C library and <sys/shm.h>: nothing of dshm.
 */
#ifndef DSHM_TESTS_PROGRAMS_COMMON_H
#define DSHM_TESTS_PROGRAMS_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Every wait gives up after this long: a failure shows as a wrong line, never a hang. */
#define WAIT_MS 20000

static inline void
die(const char *what)
{
	printf("FAILED: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	_exit(1);
}

static inline key_t
key_arg(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s KEY\n", argv[0]);
		exit(2);
	}
	return (key_t)strtoul(argv[1], NULL, 0);
}

static inline long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* errno's name, for lines that must read the same everywhere. */
static inline const char *
errno_name(int e)
{
	switch (e) {
	case 0: return "0";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case EINVAL: return "EINVAL";
	case ENOENT: return "ENOENT";
	case EEXIST: return "EEXIST";
	case EIDRM: return "EIDRM";
	default: return strerror(e);
	}
}

/* shm_nattch of id, or -1. */
static inline long
nattch(int id)
{
	struct shmid_ds ds;

	return shmctl(id, IPC_STAT, &ds) == 0 ? (long)ds.shm_nattch : -1;
}

/* Waits (bounded) until id's shm_nattch is n; returns what it last saw. */
static inline long
await_nattch(int id, long n)
{
	long long deadline = now_ms() + WAIT_MS;
	long seen;

	while ((seen = nattch(id)) != n && now_ms() < deadline)
		usleep(1000);
	return seen;
}

/* How a child ended, as one word: "exit N" or "signal N". */
static inline const char *
ended(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "status %#x", status);
	return buf;
}

/*
 * For the programs of two roles (x*.c), one on each host: role 0 makes
 * the segment, role 1 waits (bounded) until it exists and attaches it.
 */
static inline int
role_arg(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s KEY ROLE\n", argv[0]);
		exit(2);
	}
	return atoi(argv[2]);
}

static inline void *
role_attach(key_t key, size_t size, int role, int *idp)
{
	long long deadline = now_ms() + WAIT_MS;
	void *p;
	int id;

	if (role == 0)
		id = shmget(key, size, IPC_CREAT | IPC_EXCL | 0666);
	else
		while ((id = shmget(key, 0, 0)) < 0 && errno == ENOENT && now_ms() < deadline)
			usleep(1000);
	if (id < 0)
		die("shmget");
	if ((p = shmat(id, NULL, 0)) == (void *)-1)
		die("shmat");
	*idp = id;
	return p;
}

/* Waits (bounded) until the word at w holds at least v; returns what it last saw. */
static inline long
await_at_least(volatile long *w, long v)
{
	long long deadline = now_ms() + WAIT_MS;
	long seen;

	while ((seen = __atomic_load_n(w, __ATOMIC_ACQUIRE)) < v && now_ms() < deadline)
		;
	return seen;
}

#endif
