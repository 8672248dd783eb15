/*
 * test_recovery.c — a worker that dies in the middle of changing the
 * shared table (killed at one of ipc/'s fault points, see ipc/common/fault.h)
 * leaves nothing half-done that a client could see: the master respawns
 * it, and the next worker to take the lock repairs what the dead one held.
 *
 * The fault points exist in the sanitizer build (DSHM_FAULT_INJECTION);
 * against a dshmd without them these tests are skipped.  Each server runs
 * one worker, so that the fault's pass count (per process) is predictable,
 * and 16 frames, so that a lost frame shows.  Assumes root: the scoreboard
 * is read by attaching dshmd's control table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"
#include "paging_checks.h"

#define NFRAMES 16

/* Starts the fixture's server with one worker, 16 frames and DSHM_FAULT=fault. */
static pid_t
start_with_fault(struct fixture *f, const char *fault)
{
	pid_t worker;
	int rc;

	assert_int_equal(setenv("DSHM_FAULT", fault, 1), 0);
	rc = fixture_start(f, "--workers", "1", "--memory", "64K", NULL);
	unsetenv("DSHM_FAULT");
	assert_int_equal(rc, 0);
	assert_int_equal(server_workers(&f->srv, &worker, 1), 1);
	assert_true(server_attach(&f->srv));
	return worker;
}

/* The call that should have hit the fault point got rc: skip when it did not crash. */
static void
expect_crashed(struct fixture *f, int rc, pid_t worker)
{
	char want[64];
	pid_t now;

	if (rc != DSHM_DISCONNECTED_SERVER) {
		if (pid_alive(worker))
			skip(); /* a dshmd built without fault points */
		fail_msg("the call returned %d", rc);
	}
	snprintf(want, sizeof(want), "(pid %d) was killed by signal 9", (int)worker);
	assert_true(server_wait_log(&f->srv, want, HARNESS_STOP_MS));
	assert_true(WAIT_UNTIL(server_workers(&f->srv, &now, 1) == 1 && now != worker,
			       HARNESS_STOP_MS));
}

static void
test_worker_killed_inside_a_create_leaves_no_process_and_loses_no_frame(void **state)
{
	struct fixture *f = *state;
	pid_t worker = start_with_fault(f, "create_grown:2");
	int fd = open_conn(f->addr);

	assert_int_equal(memory_init_process(fd, 2, 1, NULL), DSHM_SUCCESS);
	/* The second create dies holding the alloc lock, its frames taken. */
	expect_crashed(f, memory_init_process(fd, 1, 5, NULL), worker);
	close(fd);

	fd = open_conn(f->addr);
	expect_read_error(fd, 1, 0, 0, 1, DSHM_NO_SUCH_PROCESS);
	/* The next taker of the alloc lock repairs: the 5 frames come back, zeroed. */
	assert_int_equal(memory_finalize_process(fd, 2, NULL), DSHM_SUCCESS);
	assert_int_equal(atomic_load(&f->srv.table.hdr->alloc_lock.repairs), 1);
	assert_int_equal(frames_free(f), NFRAMES);
	assert_int_equal(memory_init_process(fd, 3, NFRAMES, NULL), DSHM_SUCCESS);
	expect_zeros(fd, 3, 0, 0, NFRAMES * 4096);
	expect_read_error(fd, 1, 0, 0, 1, DSHM_NO_SUCH_PROCESS);
	close(fd);
}

static void
test_worker_killed_inside_a_grow_keeps_the_old_pages_and_loses_no_frame(void **state)
{
	struct fixture *f = *state;
	unsigned char data[2 * 4096];
	pid_t worker = start_with_fault(f, "grow_grown");
	int fd = open_conn(f->addr);

	fill_pattern(data, sizeof(data), 1);
	assert_int_equal(memory_init_process(fd, 1, 2, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 1, 0, 0, (int)sizeof(data), (int)sizeof(data), data,
				      NULL),
			 DSHM_SUCCESS);
	/* Dies holding the process's lock and the alloc lock, 3 frames taken. */
	expect_crashed(f, memory_assign_pages(fd, 1, 3, NULL), worker);
	close(fd);

	fd = open_conn(f->addr);
	expect_read(fd, 1, 0, 0, data, (int)sizeof(data));
	expect_read_error(fd, 1, 2, 0, 1, DSHM_PAGE_FAULT);
	assert_int_equal(memory_init_process(fd, 2, NFRAMES - 2, NULL), DSHM_SUCCESS);
	assert_int_equal(atomic_load(&f->srv.table.hdr->alloc_lock.repairs), 1);
	assert_int_equal(frames_free(f), 0);
	expect_zeros(fd, 2, 0, 0, (NFRAMES - 2) * 4096);
	expect_read(fd, 1, 0, 0, data, (int)sizeof(data));
	close(fd);
}

static void
test_worker_killed_inside_a_finalize_finishes_the_release(void **state)
{
	struct fixture *f = *state;
	unsigned char data[4 * 4096];
	/* The repair passes the same point: the respawned worker must not die there too. */
	pid_t worker = start_with_fault(f, "release_truncated:2");
	int fd = open_conn(f->addr);

	fill_pattern(data, sizeof(data), 2);
	assert_int_equal(memory_init_process(fd, 2, 1, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_init_process(fd, 1, 4, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 1, 0, 0, (int)sizeof(data), (int)sizeof(data), data,
				      NULL),
			 DSHM_SUCCESS);
	assert_int_equal(memory_finalize_process(fd, 2, NULL), DSHM_SUCCESS);
	expect_crashed(f, memory_finalize_process(fd, 1, NULL), worker);
	close(fd);

	fd = open_conn(f->addr);
	expect_read_error(fd, 1, 0, 0, 1, DSHM_NO_SUCH_PROCESS);
	/* The same pid again, over every frame: the release was finished, nothing leaks through. */
	assert_int_equal(memory_init_process(fd, 1, NFRAMES, NULL), DSHM_SUCCESS);
	assert_int_equal(atomic_load(&f->srv.table.hdr->alloc_lock.repairs), 1);
	expect_zeros(fd, 1, 0, 0, NFRAMES * 4096);
	close(fd);
}

static void
test_worker_killed_holding_a_process_lock_does_not_block_that_process(void **state)
{
	struct fixture *f = *state;
	unsigned char data[100];
	pid_t worker = start_with_fault(f, "lock_release:10");
	int fd = open_conn(f->addr);
	int rc = DSHM_SUCCESS, round;

	/*
	 * The worker dies at its 10th lock release: inside one of these
	 * writes, holding the process's lock, its bytes already copied.  How
	 * many releases come before is ipc/'s business, so write until then.
	 */
	assert_int_equal(memory_init_process(fd, 1, 1, NULL), DSHM_SUCCESS);
	for (round = 0; round < 20; round++) {
		fill_pattern(data, sizeof(data), (unsigned)round);
		if ((rc = memory_write(fd, 1, 0, 10, 100, 100, data, NULL)) != DSHM_SUCCESS)
			break;
	}
	expect_crashed(f, rc, worker);
	close(fd);

	/* The respawned worker (fewer than 10 releases here) takes the lock over. */
	fd = open_conn(f->addr);
	expect_read(fd, 1, 0, 10, data, 100);
	fill_pattern(data, sizeof(data), 99);
	assert_int_equal(memory_write(fd, 1, 0, 10, 100, 100, data, NULL), DSHM_SUCCESS);
	expect_read(fd, 1, 0, 10, data, 100);
	close(fd);
}

static void
test_worker_killed_sending_a_read_from_the_arena_does_not_block_that_process(void **state)
{
	struct fixture *f = *state;
	unsigned char data[3 * 4096], more[3 * 4096];
	pid_t worker = start_with_fault(f, "read_pinned:3");
	int fd = open_conn(f->addr);
	t_read_response *r;

	/*
	 * A read's bytes go from the arena to the socket while the process's
	 * lock keeps them still; this worker dies at its third such send,
	 * holding that lock.
	 */
	fill_pattern(data, sizeof(data), 7);
	assert_int_equal(memory_init_process(fd, 1, 3, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 1, 0, 0, (int)sizeof(data), (int)sizeof(data), data, NULL),
			 DSHM_SUCCESS);
	expect_read(fd, 1, 0, 0, data, (int)sizeof(data));
	expect_read(fd, 1, 1, 10, data + 4096 + 10, 100);
	r = memory_read(fd, 1, 0, 0, (int)sizeof(data), NULL);
	assert_non_null(r);
	expect_crashed(f, r->exec_code, worker);
	free(r->buffer);
	free(r);
	close(fd);

	/* Its successor takes the lock over (two reads before its own third). */
	fd = open_conn(f->addr);
	fill_pattern(more, sizeof(more), 8);
	assert_int_equal(memory_write(fd, 1, 0, 0, (int)sizeof(more), (int)sizeof(more), more, NULL),
			 DSHM_SUCCESS);
	expect_read(fd, 1, 0, 0, more, (int)sizeof(more));
	assert_int_equal(frames_free(f), NFRAMES - 3);
	close(fd);
}

static void
test_worker_killed_in_the_middle_of_a_write_leaves_the_old_bytes_whole(void **state)
{
	struct fixture *f = *state;
	unsigned char old[3 * 4096], new[3 * 4096];
	pid_t worker = start_with_fault(f, "write_copying");
	int fd = open_conn(f->addr);

	fill_pattern(old, sizeof(old), 3);
	fill_pattern(new, sizeof(new), 4);
	assert_int_equal(memory_init_process(fd, 1, 3, NULL), DSHM_SUCCESS);
	/* Page by page: a write inside one frame does not pass the fault point. */
	for (int p = 0; p < 3; p++)
		assert_int_equal(memory_write(fd, 1, p, 0, 4096, 4096, old + p * 4096, NULL),
				 DSHM_SUCCESS);
	/* Dies after its first frame: the client is told the server is gone. */
	expect_crashed(f, memory_write(fd, 1, 0, 0, (int)sizeof(new), (int)sizeof(new), new,
				       NULL),
		       worker);
	close(fd);

	/* Not acknowledged, so not there at all: the old bytes, every one of them. */
	fd = open_conn(f->addr);
	expect_read(fd, 1, 0, 0, old, (int)sizeof(old));
	/* The respawned worker has the fault point too: page by page again. */
	for (int p = 0; p < 3; p++)
		assert_int_equal(memory_write(fd, 1, p, 0, 4096, 4096, new + p * 4096, NULL),
				 DSHM_SUCCESS);
	expect_read(fd, 1, 0, 0, new, (int)sizeof(new));
	assert_int_equal(frames_free(f), NFRAMES - 3);
	close(fd);
}

/*
 * In the style of PostgreSQL's 017_shm.pl: after a crash of the whole
 * server, a process still attached to its table (as an orphaned worker
 * would be; here the test itself) makes a restart on that key refuse;
 * once it detaches, the restart removes the stale table and serves.
 */
static void
test_process_still_attached_after_a_crash_makes_a_restart_refuse_until_it_is_gone(void **state)
{
	struct fixture *f = *state;
	struct server again;
	char key[16];

	assert_int_equal(fixture_start(f, "--workers", "1", NULL), 0);
	snprintf(key, sizeof(key), "0x%08x", (unsigned)f->srv.key);
	assert_true(server_attach(&f->srv));
	server_kill_group(&f->srv, SIGKILL);
	assert_true(server_wait_group_gone(&f->srv, HARNESS_STOP_MS));

	assert_int_equal(server_spawn(&again, "--key", key, NULL), 0);
	if (server_wait_exit(&again, HARNESS_STOP_MS) != 3) {
		server_print_log(&again);
		fail_msg("a restart beside an attached process did not refuse with exit 3");
	}
	assert_true(server_log_has(&again, "is attached by 1 process(es)"));
	assert_true(segment_exists(f->srv.key));
	server_destroy(&again);

	server_detach(&f->srv);
	assert_int_equal(server_start(&again, "--key", key, NULL), 0);
	assert_true(server_log_has(&again, "removing the stale control table"));
	assert_int_equal(server_stop(&again), 0);
	assert_false(segment_exists(f->srv.key));
	server_destroy(&again);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_ONE_BARE(test_worker_killed_inside_a_create_leaves_no_process_and_loses_no_frame),
		TEST_ONE_BARE(test_worker_killed_inside_a_grow_keeps_the_old_pages_and_loses_no_frame),
		TEST_ONE_BARE(test_worker_killed_inside_a_finalize_finishes_the_release),
		TEST_ONE_BARE(test_worker_killed_holding_a_process_lock_does_not_block_that_process),
		TEST_ONE_BARE(test_worker_killed_sending_a_read_from_the_arena_does_not_block_that_process),
		TEST_ONE_BARE(test_worker_killed_in_the_middle_of_a_write_leaves_the_old_bytes_whole),
		TEST_ONE_BARE(test_process_still_attached_after_a_crash_makes_a_restart_refuse_until_it_is_gone),
	};

	return cmocka_run_group_tests_name("recovery", tests, NULL, NULL);
}
