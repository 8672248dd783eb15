/*
 * test_server_gone.c — what clients see when a client breaks mid-request or the server
 * stops, dies or stops answering: the others go on, and every call
 * returns DISCONNECTED_SERVER in a bounded time.
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

/* ---- broken clients and a missing server -------------------------------- */

static uint64_t
conns_now(const struct server *s)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < s->table.hdr->nworkers; i++)
		sum += atomic_load(&s->table.workers[i].conns_now);
	return sum;
}

static void
test_client_disconnecting_mid_request_leaves_the_server_and_others_unaffected(void **state)
{
	struct fixture *f = *state;
	unsigned char data[4096], head[PROTO_HEADER_LEN + 16];
	pid_t before[MAX_WORKERS], after[MAX_WORKERS];
	int32_t args[4];
	int fd, raw, n;

	fill_pattern(data, sizeof(data), 2);
	assert_true(server_attach(&f->srv));
	n = server_workers(&f->srv, before, MAX_WORKERS);
	fd = open_conn(f->addr);
	assert_int_equal(memory_init_process(fd, 5, 2, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 5, 0, 0, 4096, 4096, data, NULL), DSHM_SUCCESS);

	/* Half a header. */
	args[0] = 5;
	args[1] = 0;
	args[2] = 0;
	args[3] = 4096;
	raw_encode(head, OP_PROC_WRITE, 1, 16 + 4096, args, 4);
	raw = raw_connect(f->addr);
	assert_true(raw >= 0);
	assert_true(raw_send(raw, head, 8));
	close(raw);
	/* A whole header, and half the body of a write over our bytes. */
	memset(data, 0xEE, sizeof(data));
	raw = raw_connect(f->addr);
	assert_true(raw >= 0);
	assert_true(raw_send(raw, head, sizeof(head)) && raw_send(raw, data, 2048));
	close(raw);
	/* The start of a 16 MiB write. */
	args[3] = (int32_t)PROTO_MAX_DATA;
	raw_encode(head, OP_PROC_WRITE, 2, 16 + PROTO_MAX_DATA, args, 4);
	raw = raw_connect(f->addr);
	assert_true(raw >= 0);
	assert_true(raw_send(raw, head, sizeof(head)) && raw_send(raw, data, sizeof(data)));
	close(raw);
	/* A large read whose reply nobody takes. */
	args[3] = 2 * 4096;
	raw_encode(head, OP_PROC_READ, 3, 16, args, 4);
	raw = raw_connect(f->addr);
	assert_true(raw >= 0);
	for (int i = 0; i < 64; i++)
		assert_true(raw_send(raw, head, sizeof(head)));
	close(raw);

	assert_true(WAIT_UNTIL(conns_now(&f->srv) == 1, HARNESS_STOP_MS));
	fill_pattern(data, sizeof(data), 2);
	assert_true(reads_back(fd, 5, 0, 0, data, 4096));
	assert_int_equal(handshake(&fd, NULL), 4096);
	close(fd);
	assert_int_equal(server_workers(&f->srv, after, MAX_WORKERS), n);
	for (int i = 0; i < n; i++)
		assert_true(contains_pid(after, n, before[i]));
	assert_false(server_log_has(&f->srv, "respawning"));
	assert_true(serves(&f->srv));
}

static void
expect_no_connection(const char *addr)
{
	int fd = dshm_connect(addr);

	if (fd >= 0)
		close(fd);
	assert_int_equal(fd, DSHM_DISCONNECTED_SERVER);
}

static void
expect_every_call_disconnected(int fd, const char *addr)
{
	unsigned char data[16] = {0};
	int none = -1;

	for (int round = 0; round < 3; round++) {
		t_read_response *r;

		assert_int_equal(handshake(&fd, NULL), DSHM_DISCONNECTED_SERVER);
		assert_int_equal(memory_init_process(fd, 1, 1, NULL), DSHM_DISCONNECTED_SERVER);
		assert_int_equal(memory_write(fd, 1, 0, 0, 16, 16, data, NULL),
				 DSHM_DISCONNECTED_SERVER);
		r = memory_read(fd, 1, 0, 0, 16, NULL);
		assert_non_null(r);
		assert_int_equal(r->exec_code, DSHM_DISCONNECTED_SERVER);
		assert_null(r->buffer);
		free(r);
		assert_int_equal(memory_assign_pages(fd, 1, 1, NULL), DSHM_DISCONNECTED_SERVER);
		assert_int_equal(memory_finalize_process(fd, 1, NULL), DSHM_DISCONNECTED_SERVER);
		expect_no_connection(addr);
		assert_int_equal(setenv("DSHM_SERVER", addr, 1), 0);
		none = -1;
		assert_int_equal(handshake(&none, NULL), DSHM_DISCONNECTED_SERVER);
		assert_int_equal(none, -1);
		unsetenv("DSHM_SERVER");
	}
}

static void
test_server_stopped_makes_every_call_return_disconnected_server(void **state)
{
	struct fixture *f = *state;
	int fd = open_conn(f->addr);
	int64_t t0;

	/* A SIGPIPE would kill the test: it must not come. */
	signal(SIGPIPE, SIG_DFL);
	/* A timeout no call may wait out: each must fail as soon as it finds the server gone. */
	dshm_set_timeout(60000);
	assert_int_equal(memory_init_process(fd, 1, 1, NULL), DSHM_SUCCESS);
	assert_int_equal(server_stop(&f->srv), 0);
	t0 = harness_now_ms();
	expect_every_call_disconnected(fd, f->addr);
	assert_true(harness_now_ms() - t0 < 30000);
	close(fd);
}

static void
test_server_killed_makes_every_call_return_disconnected_server(void **state)
{
	struct fixture *f = *state;
	int fd = open_conn(f->addr);
	int64_t t0;

	signal(SIGPIPE, SIG_DFL);
	/* A timeout no call may wait out: each must fail as soon as it finds the server gone. */
	dshm_set_timeout(60000);
	assert_int_equal(memory_init_process(fd, 1, 1, NULL), DSHM_SUCCESS);
	server_kill_group(&f->srv, SIGKILL);
	assert_int_equal(server_wait_exit(&f->srv, HARNESS_STOP_MS), 128 + SIGKILL);
	/* The workers hold the listening sockets too: wait until they are gone. */
	assert_true(server_wait_group_gone(&f->srv, HARNESS_STOP_MS));
	/* Unix: the socket file stays behind, and nobody listens on it. */
	t0 = harness_now_ms();
	expect_every_call_disconnected(fd, f->addr);
	assert_true(harness_now_ms() - t0 < 30000);
	close(fd);
}

static void
test_server_that_stops_answering_times_out_as_disconnected_server(void **state)
{
	struct fixture *f = *state;
	int fd = open_conn(f->addr);
	int64_t t0;
	int rc;

	dshm_set_timeout(300);
	assert_int_equal(handshake(&fd, NULL), 4096);
	server_kill_group(&f->srv, SIGSTOP);
	t0 = harness_now_ms();
	rc = handshake(&fd, NULL);
	server_kill_group(&f->srv, SIGCONT);
	assert_int_equal(rc, DSHM_DISCONNECTED_SERVER);
	assert_true(harness_now_ms() - t0 >= 250);
	assert_true(harness_now_ms() - t0 < 30000); /* the timeout worked: no hang */
	/* The stream is out of step for good, though the server is back: the socket is shut down. */
	assert_int_equal(handshake(&fd, NULL), DSHM_DISCONNECTED_SERVER);
	errno = 0;
	assert_int_equal(send(fd, "x", 1, MSG_NOSIGNAL), -1);
	assert_int_equal(errno, EPIPE);
	close(fd);
	dshm_set_timeout(0);
	fd = open_conn(f->addr);
	assert_int_equal(handshake(&fd, NULL), 4096);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_BOTH(test_client_disconnecting_mid_request_leaves_the_server_and_others_unaffected),
		TEST_BOTH(test_server_stopped_makes_every_call_return_disconnected_server),
		TEST_BOTH(test_server_killed_makes_every_call_return_disconnected_server),
		TEST_BOTH(test_server_that_stops_answering_times_out_as_disconnected_server),
	};

	return cmocka_run_group_tests_name("server gone", tests, NULL, NULL);
}
