/*
 * server_checks.h — what the tests of dshmd as a program (test_server_*.c)
 * ask of a running server and its workers.
 */
#ifndef DSHM_TESTS_SERVER_CHECKS_H
#define DSHM_TESTS_SERVER_CHECKS_H

#include <stdbool.h>
#include <sys/types.h>

#include "harness.h"

#define MAX_WORKERS 16

/* One HELLO over each transport of s answers. */
bool serves(const struct server *s);

/* Whether pid is one of the n pids. */
bool contains_pid(const pid_t *pids, int n, pid_t pid);

/* Whether none of the n pids is alive. */
bool all_gone(const pid_t *pids, int n);

/* Whether the master of s has n live workers and none of them is old. */
bool workers_replaced(const struct server *s, int n, pid_t old);

#endif /* DSHM_TESTS_SERVER_CHECKS_H */
