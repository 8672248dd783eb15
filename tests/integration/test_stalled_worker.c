/*
 * test_stalled_worker.c — a worker stopped (SIGSTOP) while it holds a
 * process's lock freezes nothing else (issue 15, item 4): a request that
 * needs that lock is answered DSHM_BUSY after the workers' wait bound,
 * and every other request (HELLO, another pid, a new pid) is served; the
 * master kills a worker silent past --worker-stall and respawns it, and
 * the write it was stopped in is undone whole.  A segment call that
 * meets such a lock waits it out (libdshm asks again while the server
 * says busy), as the kernel's calls wait for a lock.
 *
 * The clients are an unprivileged user's (uid 65534): one streams 16 MiB
 * writes to pid 500, and the test stops the worker serving them at a
 * moment the lock's holder field names it (the stop is retried until it
 * lands inside a write).  Anything stopped is continued or killed before
 * the server stops.  Assumes root: the scoreboard is read by attaching
 * dshmd's control table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

#define NOBODY 65534
#define BIG_PID 500
#define BIG (16 << 20)
#define CATCH_MS 60000 /* how long the test may take to stop the worker inside a write */
#define SEG_KEY 0x5ea1500

static pid_t stopped_worker; /* continued by the teardown if a test fails with it stopped */
static pid_t writer;         /* the streaming client, killed by the teardown */

static int
as_nobody(void)
{
	return setgid(NOBODY) == 0 && setuid(NOBODY) == 0 ? 0 : -1;
}

/* The client: makes pid 500 and writes all of it, one byte value per write, until cut off. */
static int
write_stream(void *arg)
{
	const char *addr = arg;
	unsigned char *buf = malloc(BIG);
	int fd;

	if (buf == NULL || as_nobody() != 0 || (fd = dshm_connect(addr)) < 0)
		return 10;
	if (memory_init_process(fd, BIG_PID, BIG / 4096, NULL) != DSHM_SUCCESS)
		return 11;
	for (unsigned round = 0;; round++) {
		int rc;

		memset(buf, (int)(round % 255) + 1, BIG);
		rc = memory_write(fd, BIG_PID, 0, 0, BIG, BIG, buf, NULL);
		if (rc == DSHM_DISCONNECTED_SERVER)
			return 0; /* its worker was killed */
		if (rc != DSHM_SUCCESS)
			return 12;
	}
}

/* The owner slot of the first owner of kind (pid 500, or the segment at SEG_KEY); -1 before. */
static int64_t
owner_slot(const struct fixture *f, uint32_t kind)
{
	const struct table *t = &f->srv.table;

	for (uint32_t s = 0; s < t->hdr->max_owners; s++)
		if (atomic_load(&t->owners[s].state) == OWNER_USED &&
		    atomic_load(&t->owners[s].kind) == kind &&
		    (kind != OWNER_PROCESS || atomic_load(&t->owners[s].id) == BIG_PID))
			return s;
	return -1;
}

static int64_t
big_slot(const struct fixture *f)
{
	return owner_slot(f, OWNER_PROCESS);
}

/* The other client: makes the segment at SEG_KEY and writes all of it, over and over. */
static int
write_segment_stream(void *arg)
{
	const char *addr = arg;
	unsigned char *buf = malloc(BIG);
	int id;

	if (buf == NULL || as_nobody() != 0 || dshm_set_server(addr) != 0 ||
	    (id = dshm_shmget(SEG_KEY, BIG, IPC_CREAT | 0666)) < 0)
		return 10;
	for (unsigned round = 0;; round++) {
		memset(buf, (int)(round % 255) + 1, BIG);
		if (dshm_write(id, 0, buf, BIG) != BIG)
			return 0; /* its worker was killed: the write failed with EIO */
	}
}

/* Whether pid is stopped (state T in /proc/PID/stat). */
static bool
is_stopped(pid_t pid)
{
	char path[64], *text, *p;
	bool stopped;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((text = read_whole_file(path)) == NULL)
		return false;
	p = strrchr(text, ')');
	stopped = p != NULL && p[1] == ' ' && p[2] == 'T';
	free(text);
	return stopped;
}

/*
 * Starts the writer, then stops the worker that holds pid 500's lock, at
 * a moment it holds it (the holder field is stamped inside the lock, so
 * a stopped worker it names holds the mutex).  Returns that worker.
 */
static pid_t
stop_worker_holding(struct fixture *f, uint32_t kind)
{
	int64_t deadline = harness_now_ms() + CATCH_MS, slot;
	struct dshm_lock *lock;

	server_open_to_all(&f->srv);
	assert_true(server_attach(&f->srv));
	writer = fork_child(kind == OWNER_PROCESS ? write_stream : write_segment_stream,
			    (void *)f->srv.unix_addr);
	assert_true(writer > 0);
	assert_true(WAIT_UNTIL((slot = owner_slot(f, kind)) >= 0, HARNESS_READY_MS));
	lock = &f->srv.table.owners[slot].lock;
	while (harness_now_ms() < deadline) {
		pid_t h = atomic_load(&lock->holder);

		if (h <= 0 || h == getpid()) {
			harness_nap_ms(1);
			continue;
		}
		assert_int_equal(kill(h, SIGSTOP), 0);
		stopped_worker = h;
		assert_true(WAIT_UNTIL(is_stopped(h), HARNESS_STOP_MS));
		if (atomic_load(&lock->holder) == h)
			return h;
		kill(h, SIGCONT);
		stopped_worker = 0;
	}
	fail_msg("the worker was never stopped inside a write");
	return 0;
}

static pid_t
stop_worker_holding_the_lock(struct fixture *f)
{
	return stop_worker_holding(f, OWNER_PROCESS);
}

/*
 * pid 500 reads whole: every byte of one write (or all zeros: none), never
 * a mix.  DSHM_BUSY says "try again", and is tried again (a worker that
 * timed out on the lock waits only briefly until the lock moves, and a
 * continued holder may still be finishing its write).
 */
static void
expect_whole(const char *addr)
{
	int64_t deadline = harness_now_ms() + 30000;
	int fd = dshm_connect(addr);
	t_read_response *r;
	unsigned char *b;

	assert_true(fd >= 0);
	for (;;) {
		r = memory_read(fd, BIG_PID, 0, 0, BIG, NULL);
		assert_non_null(r);
		if (r->exec_code != DSHM_BUSY || harness_now_ms() > deadline)
			break;
		free(r);
		harness_nap_ms(10);
	}
	assert_int_equal(r->exec_code, DSHM_SUCCESS);
	assert_int_equal(r->buffer_size, BIG);
	b = r->buffer;
	for (size_t i = 1; i < BIG; i++)
		if (b[i] != b[0])
			fail_msg("pid %d is torn: byte %zu is %u, byte 0 is %u", BIG_PID, i, b[i], b[0]);
	free(r->buffer);
	free(r);
	close(fd);
}

/*
 * What other clients of the same unprivileged user get while the worker
 * is stopped: busy for pid 500, within a bound, and everything else.
 */
static int
others_are_served(void *arg)
{
	const char *addr = arg;
	struct proto_hello h;
	t_read_response *r;
	int fd, rc = 0;

	if (as_nobody() != 0)
		return 10;
	/* A wait without bound would outlast this timeout and show as a disconnect, not as busy. */
	dshm_set_timeout(10000);
	if ((fd = dshm_connect(addr)) < 0)
		return 11;
	r = memory_read(fd, BIG_PID, 0, 0, 4096, NULL);
	if (r == NULL || r->exec_code != DSHM_BUSY)
		rc = 12;
	if (r != NULL)
		free(r->buffer);
	free(r);
	/* The connection still works after a busy answer: the same one makes and uses a new pid. */
	if (rc == 0 && (memory_init_process(fd, 501, 2, NULL) != DSHM_SUCCESS ||
			memory_write(fd, 501, 1, 10, 5, 5, "hello", NULL) != DSHM_SUCCESS))
		rc = 14;
	r = rc == 0 ? memory_read(fd, 501, 1, 10, 5, NULL) : NULL;
	if (rc == 0 && (r == NULL || r->exec_code != DSHM_SUCCESS || memcmp(r->buffer, "hello", 5)))
		rc = 15;
	if (r != NULL)
		free(r->buffer);
	free(r);
	if (rc == 0 && !raw_hello(addr, &h))
		rc = 16;
	if (rc == 0 && memory_finalize_process(fd, 501, NULL) != DSHM_SUCCESS)
		rc = 17;
	close(fd);
	return rc;
}

static void
end_writer(void)
{
	if (writer > 0) {
		kill(writer, SIGKILL);
		wait_child(writer, HARNESS_STOP_MS);
		writer = 0;
	}
}

static void
test_a_stopped_worker_holding_a_lock_costs_its_requests_busy_and_nothing_else(void **state)
{
	struct fixture *f = *state;
	pid_t worker, checker;

	/* No stall watch here: the stopped worker stays stopped until the test continues it. */
	assert_int_equal(fixture_start(f, "--workers", "2", "--worker-stall", "0", NULL), 0);
	worker = stop_worker_holding_the_lock(f);
	checker = fork_child(others_are_served, (void *)f->srv.unix_addr);
	assert_true(checker > 0);
	assert_int_equal(wait_child(checker, 30000), 0);
	assert_true(pid_alive(worker));

	/* Continued, it finishes its write; the stream goes on, and every read is whole. */
	assert_int_equal(kill(worker, SIGCONT), 0);
	stopped_worker = 0;
	expect_whole(f->srv.unix_addr);
	end_writer();
	expect_whole(f->srv.unix_addr);
}

static void
test_the_master_kills_a_stopped_worker_and_its_write_is_undone(void **state)
{
	struct fixture *f = *state;
	char want[96];
	pid_t worker, now[2];
	int64_t slot;

	assert_int_equal(fixture_start(f, "--workers", "2", "--worker-stall", "2", NULL), 0);
	worker = stop_worker_holding_the_lock(f);
	slot = big_slot(f);
	snprintf(want, sizeof(want), "(pid %d) stopped answering for", (int)worker);
	assert_true(server_wait_log(&f->srv, want, 30000));
	snprintf(want, sizeof(want), "(pid %d) was killed by signal 9", (int)worker);
	assert_true(server_wait_log(&f->srv, want, HARNESS_STOP_MS));
	stopped_worker = 0;
	/* Its client was cut off with it; a new worker takes its place. */
	assert_int_equal(wait_child(writer, HARNESS_STOP_MS), 0);
	writer = 0;
	assert_true(WAIT_UNTIL(server_workers(&f->srv, now, 2) == 2 && now[0] != worker &&
				       now[1] != worker,
			       HARNESS_STOP_MS));

	/* The half-done write was put back by whoever took the lock next. */
	expect_whole(f->srv.unix_addr);
	assert_true(atomic_load(&f->srv.table.owners[slot].lock.repairs) >= 1);
}

/*
 * As nobody: reads the whole segment while a stopped worker holds its
 * lock.  The library asks again while the server answers busy, as the
 * kernel's call would wait for the lock, until the master has killed the
 * stopped worker; the bytes are then one write's, whole.
 */
static int
read_segment_through_the_stall(void *arg)
{
	const char *addr = arg;
	unsigned char *b = malloc(BIG);
	int id;

	if (b == NULL || as_nobody() != 0 || dshm_set_server(addr) != 0 ||
	    (id = dshm_shmget(SEG_KEY, 0, 0)) < 0)
		return 10;
	errno = 0;
	if (dshm_read(id, 0, b, BIG) != BIG)
		return errno == EAGAIN ? 11 : 12;
	for (size_t i = 1; i < BIG; i++)
		if (b[i] != b[0])
			return 13;
	free(b);
	return 0;
}

static void
test_a_segment_call_waits_out_a_stopped_worker_as_the_kernel_waits_for_a_lock(void **state)
{
	struct fixture *f = *state;
	pid_t worker, reader;
	char want[96];

	assert_int_equal(fixture_start(f, "--workers", "2", "--worker-stall", "2", NULL), 0);
	worker = stop_worker_holding(f, OWNER_SEGMENT);
	reader = fork_child(read_segment_through_the_stall, (void *)f->srv.unix_addr);
	assert_true(reader > 0);
	assert_int_equal(wait_child(reader, 60000), 0);
	/* It got its bytes only once the stopped worker was gone. */
	snprintf(want, sizeof(want), "(pid %d) was killed by signal 9", (int)worker);
	assert_true(server_log_has(&f->srv, want));
	stopped_worker = 0;
	end_writer();
}

/* Whatever a failed test left stopped or running goes before the server stops. */
static int
teardown(void **state)
{
	if (stopped_worker > 0) {
		kill(stopped_worker, SIGCONT);
		stopped_worker = 0;
	}
	end_writer();
	return fixture_teardown(state);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		{"test_a_stopped_worker_holding_a_lock_costs_its_requests_busy_and_nothing_else",
		 test_a_stopped_worker_holding_a_lock_costs_its_requests_busy_and_nothing_else,
		 fixture_prepare_unix, teardown, NULL},
		{"test_the_master_kills_a_stopped_worker_and_its_write_is_undone",
		 test_the_master_kills_a_stopped_worker_and_its_write_is_undone,
		 fixture_prepare_unix, teardown, NULL},
		{"test_a_segment_call_waits_out_a_stopped_worker_as_the_kernel_waits_for_a_lock",
		 test_a_segment_call_waits_out_a_stopped_worker_as_the_kernel_waits_for_a_lock,
		 fixture_prepare_unix, teardown, NULL},
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
