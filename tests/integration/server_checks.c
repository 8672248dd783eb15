/*
 * server_checks.c — checks of a running dshmd for the test_server_* tests
 * (see server_checks.h).
 */
#include "server_checks.h"

/* One HELLO over each transport of s answers. */
bool
serves(const struct server *s)
{
	struct proto_hello h;

	return raw_hello(s->unix_addr, &h) && h.frame_size == 4096 &&
	       (s->tcp_addr[0] == '\0' || raw_hello(s->tcp_addr, &h));
}

bool
contains_pid(const pid_t *pids, int n, pid_t pid)
{
	for (int i = 0; i < n; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

bool
all_gone(const pid_t *pids, int n)
{
	for (int i = 0; i < n; i++)
		if (pid_alive(pids[i]))
			return false;
	return true;
}

/* Whether the master of s has n live workers and none of them is old. */
bool
workers_replaced(const struct server *s, int n, pid_t old)
{
	pid_t now[MAX_WORKERS];
	int k = server_workers(s, now, MAX_WORKERS);

	return k == n && !contains_pid(now, k, old);
}
