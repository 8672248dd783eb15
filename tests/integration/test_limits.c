/*
 * test_limits.c — the limits that keep one client from exhausting dshmd:
 * --max-connections (and its per-worker share) closes connections beyond
 * it at once while the others go on; --idle-timeout closes idle
 * connections; a connection stalled in the middle of a request, or one
 * that never reads its replies, is closed too (after the idle timeout
 * when it is shorter than the 30 s stall limit); one connection cannot
 * hold more than 256 attachments; --max-data caps every read and write
 * (and libdshm's segment calls follow the server's cap).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

static void
test_connections_beyond_the_limit_are_closed_and_the_others_go_on(void **state)
{
	struct fixture *f = *state;
	int fds[3], extra;

	assert_int_equal(fixture_start(f, "--max-connections", "3", NULL), 0);
	for (int i = 0; i < 3; i++) {
		fds[i] = raw_connect(f->addr);
		assert_true(fds[i] >= 0);
		assert_true(raw_hello_on(fds[i], NULL));
	}
	extra = raw_connect(f->addr);
	assert_true(extra >= 0);
	assert_true(raw_wait_closed(extra, HARNESS_STOP_MS));
	close(extra);
	for (int i = 0; i < 3; i++)
		assert_true(raw_hello_on(fds[i], NULL));
	/* Room again once one leaves. */
	close(fds[0]);
	assert_true(WAIT_UNTIL(raw_hello(f->addr, NULL), HARNESS_STOP_MS));
	close(fds[1]);
	close(fds[2]);
}

static void
test_an_idle_connection_is_closed_after_the_idle_timeout(void **state)
{
	struct fixture *f = *state;
	int fd;

	assert_int_equal(fixture_start(f, "--idle-timeout", "1", NULL), 0);
	fd = raw_connect(f->addr);
	assert_true(fd >= 0);
	assert_true(raw_hello_on(fd, NULL));
	assert_true(raw_wait_closed(fd, 5000));
	close(fd);
}

static void
test_a_sender_stalled_mid_request_is_closed(void **state)
{
	struct fixture *f = *state;
	unsigned char head[PROTO_HEADER_LEN + 4];
	int32_t arg = 1;
	int fd;

	assert_int_equal(fixture_start(f, "--idle-timeout", "1", NULL), 0);
	fd = raw_connect(f->addr);
	assert_true(fd >= 0);
	/* A header that promises 4 bytes of body, and 2 of them. */
	raw_encode(head, OP_PROC_FINALIZE, 1, 4, &arg, 1);
	assert_true(raw_send(fd, head, PROTO_HEADER_LEN + 2));
	assert_true(raw_wait_closed(fd, 5000));
	close(fd);
}

/* Whether the peer has shut the connection down, without reading what it sent. */
static bool
peer_hung_up(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLRDHUP};

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void
test_a_client_that_never_reads_its_replies_is_cut_off(void **state)
{
	struct fixture *f = *state;
	enum { SIZE = 1 << 20, PAGES = SIZE / 4096 };
	unsigned char req[PROTO_HEADER_LEN + 16];
	bool sent_all = true;
	int fd, ctl;

	assert_int_equal(fixture_start(f, "--idle-timeout", "1", NULL), 0);
	ctl = dshm_connect(f->addr);
	assert_true(ctl >= 0);
	assert_int_equal(memory_init_process(ctl, 9, PAGES, NULL), DSHM_SUCCESS);
	close(ctl);
	fd = raw_connect(f->addr);
	assert_true(fd >= 0);
	/* 64 reads of 1 MiB: far more replies than the server keeps for one client. */
	for (int i = 0; i < 64 && sent_all; i++) {
		int32_t args[4] = {9, 0, 0, SIZE};

		raw_encode(req, OP_PROC_READ, (uint32_t)i, 16, args, 4);
		sent_all = send(fd, req, sizeof(req), MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(req);
	}
	assert_true(WAIT_UNTIL(peer_hung_up(fd), 10000));
	close(fd);
	/* Everyone else is still served. */
	ctl = dshm_connect(f->addr);
	assert_true(ctl >= 0);
	assert_int_equal(memory_finalize_process(ctl, 9, NULL), DSHM_SUCCESS);
	close(ctl);
}

static void
test_a_worker_at_its_share_leaves_new_connections_to_the_others(void **state)
{
	struct fixture *f = *state;
	int fds[10];

	assert_int_equal(fixture_start(f, "--workers", "2", "--max-connections-per-worker", "5",
				       NULL),
			 0);
	for (int i = 0; i < 10; i++) {
		fds[i] = raw_connect(f->addr);
		assert_true(fds[i] >= 0);
		if (!raw_hello_on(fds[i], NULL))
			fail_msg("connection %d of 10 was refused with room left in a worker", i + 1);
	}
	for (int i = 0; i < 10; i++)
		close(fds[i]);
}

static void
test_an_idle_client_with_a_segment_attached_keeps_it(void **state)
{
	struct fixture *f = *state;
	struct shmid_ds ds;
	char *p;
	int id;

	assert_int_equal(fixture_start(f, "--idle-timeout", "1", NULL), 0);
	assert_int_equal(dshm_set_server(f->addr), 0);
	id = dshm_shmget(IPC_PRIVATE, 4096, 0600);
	assert_true(id >= 0);
	p = dshm_shmat(id, NULL, 0);
	assert_true(p != (void *)-1);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
	/* Quiet for longer than the idle timeout: nothing to wait for but time itself. */
	harness_nap_ms(2500);
	strcpy(p, "still here");
	assert_int_equal(dshm_sync(p), 0);
	assert_int_equal(dshm_shmctl(id, IPC_STAT, &ds), 0);
	assert_int_equal(ds.shm_nattch, 1);
	assert_int_equal(dshm_shmdt(p), 0);
}

static void
test_max_data_caps_every_read_and_write_and_the_library_follows_it(void **state)
{
	struct fixture *f = *state;
	enum { MAX = 64 << 10, SEG = 300 << 10 };
	unsigned char *buf = malloc(SEG), *got = malloc(SEG);
	struct proto_hello hello;
	t_read_response *r;
	unsigned char *p;
	int fd, id;

	assert_non_null(buf);
	assert_non_null(got);
	assert_int_equal(fixture_start(f, "--max-data", "64K", NULL), 0);
	assert_true(raw_hello(f->addr, &hello));
	assert_int_equal(hello.max_data, MAX);
	fd = dshm_connect(f->addr);
	assert_true(fd >= 0);
	assert_int_equal(memory_init_process(fd, 1, 20, NULL), DSHM_SUCCESS);
	memset(buf, 7, SEG);
	assert_int_equal(memory_write(fd, 1, 0, 0, MAX, MAX, buf, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 1, 0, 0, MAX + 1, MAX + 1, buf, NULL), DSHM_TOO_LARGE);
	r = memory_read(fd, 1, 0, 0, MAX + 1, NULL);
	assert_non_null(r);
	assert_int_equal(r->exec_code, DSHM_TOO_LARGE);
	free(r);
	close(fd);

	/* Segments larger than a request travel in the server's windows. */
	assert_int_equal(dshm_set_server(f->addr), 0);
	id = dshm_shmget(IPC_PRIVATE, SEG, 0600);
	assert_true(id >= 0);
	for (int i = 0; i < SEG; i++)
		buf[i] = (unsigned char)(i * 31 + 5);
	assert_int_equal(dshm_write(id, 0, buf, SEG), SEG);
	p = dshm_shmat(id, NULL, 0);
	assert_true(p != (void *)-1);
	assert_memory_equal(p, buf, SEG);
	memset(p + 1000, 0x42, 200 << 10);
	assert_int_equal(dshm_sync(p), 0);
	assert_int_equal(dshm_read(id, 0, got, SEG), SEG);
	assert_memory_equal(got, p, SEG);
	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
	free(buf);
	free(got);
}

static void
test_one_connection_holds_at_most_256_attachments(void **state)
{
	struct fixture *f = *state;
	static void *at[257];
	int id, n = 0;

	assert_int_equal(dshm_set_server(f->addr), 0);
	id = dshm_shmget(IPC_PRIVATE, 4096, 0600);
	assert_true(id >= 0);
	for (; n < 257; n++)
		if ((at[n] = dshm_shmat(id, NULL, SHM_RDONLY)) == (void *)-1)
			break;
	assert_int_equal(n, 256);
	assert_int_equal(errno, ENOMEM);
	for (int i = 0; i < n; i++)
		assert_int_equal(dshm_shmdt(at[i]), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_ONE_BARE(test_connections_beyond_the_limit_are_closed_and_the_others_go_on),
		TEST_ONE_BARE(test_an_idle_connection_is_closed_after_the_idle_timeout),
		TEST_ONE_BARE(test_a_sender_stalled_mid_request_is_closed),
		TEST_ONE_BARE(test_a_client_that_never_reads_its_replies_is_cut_off),
		TEST_ONE_BARE(test_a_worker_at_its_share_leaves_new_connections_to_the_others),
		TEST_ONE_BARE(test_an_idle_client_with_a_segment_attached_keeps_it),
		TEST_ONE_BARE(test_max_data_caps_every_read_and_write_and_the_library_follows_it),
		TEST_ONE(test_one_connection_holds_at_most_256_attachments),
	};

	return cmocka_run_group_tests_name("limits", tests, NULL, NULL);
}
