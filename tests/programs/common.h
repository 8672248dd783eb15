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

#endif
