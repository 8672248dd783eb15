/*
 * test_server_workers.c — dshmd's workers under the master: their titles, a killed worker
 * respawned (with a back-off when it keeps dying), workers that exit
 * with the master.
 *
 * These tests assume root (or at least one user for test and server):
 * they attach dshmd's control table read-only for its scoreboard, probe
 * its key with shmget, and signal its master and workers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"
#include "paging_checks.h"
#include "server_checks.h"
#include "naming.h"

/* ---- workers ------------------------------------------------------------ */

/* Whether a command line (NULs made spaces) begins with the title want, as a whole word. */
static bool
title_is(const char *cmdline, const char *want)
{
	size_t n = strlen(want);

	return strncmp(cmdline, want, n) == 0 && (cmdline[n] == ' ' || cmdline[n] == '\0');
}

static void
test_process_titles_name_the_master_and_each_worker(void **state)
{
	struct fixture *f = *state;
	pid_t pids[MAX_WORKERS];
	char title[256];
	bool seen[3] = {false, false, false};
	int n = server_workers(&f->srv, pids, MAX_WORKERS);

	assert_true(proc_cmdline(f->srv.pid, title, sizeof(title)));
	assert_true(title_is(title, "dshmd: master"));
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++) {
		assert_true(proc_cmdline(pids[i], title, sizeof(title)));
		if (title_is(title, "dshmd: worker 1"))
			seen[1] = true;
		else if (title_is(title, "dshmd: worker 2"))
			seen[2] = true;
		else
			fail_msg("worker %d has the title '%s'", (int)pids[i], title);
	}
	assert_true(seen[1] && seen[2]);
}

/* The index of the worker slot that holds exactly one connection, or -1. */
static int
slot_with_one_conn(const struct server *s)
{
	int found = -1;

	for (uint32_t i = 0; i < s->table.hdr->nworkers; i++) {
		uint64_t c = atomic_load(&s->table.workers[i].conns_now);

		if (c == 1 && found < 0)
			found = (int)i;
		else if (c != 0)
			return -1;
	}
	return found;
}

static void
test_killed_worker_is_respawned_and_clients_keep_working(void **state)
{
	struct fixture *f = *state;
	unsigned char data[5000];
	pid_t pids[MAX_WORKERS], held, other;
	char want[96];
	int fd, slot, fd2;

	fill_pattern(data, sizeof(data), 1);
	assert_true(server_attach(&f->srv));
	fd = open_conn(f->srv.unix_addr);
	assert_int_equal(memory_init_process(fd, 7, 2, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 7, 0, 100, 5000, 5000, data, NULL), DSHM_SUCCESS);
	slot = slot_with_one_conn(&f->srv);
	assert_true(slot >= 0);
	held = atomic_load(&f->srv.table.workers[slot].pid);
	assert_int_equal(server_workers(&f->srv, pids, MAX_WORKERS), 2);
	assert_true(contains_pid(pids, 2, held));
	other = pids[0] == held ? pids[1] : pids[0];

	/* Kill the worker that does not hold our connection. */
	assert_int_equal(kill(other, SIGKILL), 0);
	snprintf(want, sizeof(want), "(pid %d) was killed by signal 9", (int)other);
	assert_true(server_wait_log(&f->srv, want, HARNESS_STOP_MS));
	assert_true(WAIT_UNTIL(workers_replaced(&f->srv, 2, other), HARNESS_STOP_MS));
	assert_true(reads_back(fd, 7, 0, 100, data, 5000));
	assert_int_equal(atomic_load(&f->srv.table.workers[1 - slot].respawns), 1);

	/* Then the one that does: that client is cut off, a new one carries on. */
	assert_int_equal(kill(held, SIGKILL), 0);
	snprintf(want, sizeof(want), "(pid %d) was killed by signal 9", (int)held);
	assert_true(server_wait_log(&f->srv, want, HARNESS_STOP_MS));
	assert_true(WAIT_UNTIL(workers_replaced(&f->srv, 2, held), HARNESS_STOP_MS));
	assert_int_equal(handshake(&fd, NULL), DSHM_DISCONNECTED_SERVER);
	close(fd);
	fd = open_conn(f->srv.unix_addr);
	fd2 = open_conn(f->srv.tcp_addr);
	assert_true(reads_back(fd, 7, 0, 100, data, 5000));
	assert_true(reads_back(fd2, 7, 0, 100, data, 5000));
	assert_int_equal(memory_finalize_process(fd2, 7, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_init_process(fd, 7, 1, NULL), DSHM_SUCCESS);
	close(fd);
	close(fd2);
	assert_true(server_log_has(&f->srv, "respawning it"));
}

static void
test_worker_dying_again_right_after_its_respawn_is_respawned_after_a_back_off(void **state)
{
	struct fixture *f = *state;
	pid_t first, second;
	char want[200];

	assert_int_equal(fixture_start(f, "--workers", "1", NULL), 0);
	assert_int_equal(server_workers(&f->srv, &first, 1), 1);
	assert_int_equal(kill(first, SIGKILL), 0);
	snprintf(want, sizeof(want), "worker 1 (pid %d) was killed by signal 9 (Killed); "
		 "respawning it", (int)first);
	assert_true(server_wait_log(&f->srv, want, HARNESS_STOP_MS));
	assert_true(WAIT_UNTIL(workers_replaced(&f->srv, 1, first), HARNESS_STOP_MS));
	assert_int_equal(server_workers(&f->srv, &second, 1), 1);

	/* Dead again within a second of starting: the next one waits a little. */
	assert_int_equal(kill(second, SIGKILL), 0);
	snprintf(want, sizeof(want), "worker 1 (pid %d) was killed by signal 9 (Killed); it died "
		 "2 times in a row within a second of starting, so it is respawned in 50 ms",
		 (int)second);
	if (!server_wait_log(&f->srv, want, HARNESS_STOP_MS)) {
		server_print_log(&f->srv);
		fail_msg("the log does not say '%s'", want);
	}
	assert_true(WAIT_UNTIL(workers_replaced(&f->srv, 1, second), HARNESS_STOP_MS));
	assert_true(serves(&f->srv));
}

static void
test_workers_exit_when_the_master_is_killed(void **state)
{
	struct fixture *f = *state;
	pid_t pids[MAX_WORKERS];
	int n, fd;

	fd = open_conn(f->srv.tcp_addr);
	assert_int_equal(handshake(&fd, NULL), 4096); /* an idle client does not hold them */
	n = server_workers(&f->srv, pids, MAX_WORKERS);
	assert_int_equal(n, 2);
	server_kill(&f->srv, SIGKILL);
	assert_int_equal(server_wait_exit(&f->srv, HARNESS_STOP_MS), 128 + SIGKILL);
	assert_true(WAIT_UNTIL(all_gone(pids, n), HARNESS_STOP_MS));
	assert_int_equal(handshake(&fd, NULL), DSHM_DISCONNECTED_SERVER);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_ONE(test_process_titles_name_the_master_and_each_worker),
		TEST_ONE(test_killed_worker_is_respawned_and_clients_keep_working),
		TEST_ONE_BARE(test_worker_dying_again_right_after_its_respawn_is_respawned_after_a_back_off),
		TEST_ONE(test_workers_exit_when_the_master_is_killed),
	};

	return cmocka_run_group_tests_name("server workers", tests, NULL, NULL);
}
