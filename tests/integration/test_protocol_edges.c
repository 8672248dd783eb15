/*
 * test_protocol_edges.c — every edge docs/PROTOCOL.md states for the
 * paging requests, checked with raw requests as a client written from
 * that document alone would send them: HELLO is optional; PROC_ASSIGN
 * adds pages; offsets, ranges into following pages, all-or-nothing;
 * codes -204 to -209; another user's process (-218); processes outlive
 * their connection; --max-data caps writes and reads (-210) and HELLO
 * says so; INIT with 0 pages; a READ of 0 bytes; a request whose status
 * field is not 0; STATS' first line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

#define FS 4096

/* One request, its reply's status; the reply's body in body when it fits. */
static int32_t
ask(int fd, uint8_t op, const int32_t *args, int nargs, const void *data, uint32_t len,
    void *body, size_t cap, size_t *got)
{
	struct proto_header h;
	size_t n = 0;

	assert_true(raw_request(fd, op, 77, args, nargs, data, len));
	assert_true(raw_reply(fd, &h, body, cap, got != NULL ? got : &n));
	assert_int_equal(h.id, 77);
	assert_int_equal(h.opcode, op);
	return h.status;
}

static int32_t
init(int fd, int32_t pid, int32_t pages)
{
	return ask(fd, OP_PROC_INIT, (int32_t[]){pid, pages}, 2, NULL, 0, NULL, 0, NULL);
}

static int32_t
write_at(int fd, int32_t pid, int32_t page, int32_t off, const void *p, int32_t size)
{
	return ask(fd, OP_PROC_WRITE, (int32_t[]){pid, page, off, size}, 4, p, (uint32_t)size, NULL,
		   0, NULL);
}

static int32_t
read_at(int fd, int32_t pid, int32_t page, int32_t off, void *p, int32_t size, size_t *got)
{
	return ask(fd, OP_PROC_READ, (int32_t[]){pid, page, off, size}, 4, NULL, 0, p, (size_t)size,
		   got);
}

static int
open_raw(const struct fixture *f)
{
	int fd = raw_connect(f->addr);

	assert_true(fd >= 0);
	return fd;
}

static void
test_hello_is_optional_and_assign_adds_pages(void **state)
{
	struct fixture *f = *state;
	int fd = open_raw(f);
	char b[8];

	/* No HELLO first: the first request is served. */
	assert_int_equal(init(fd, 1, 2), DSHM_SUCCESS);
	assert_int_equal(ask(fd, OP_PROC_ASSIGN, (int32_t[]){1, 3}, 2, NULL, 0, NULL, 0, NULL),
			 DSHM_SUCCESS);
	/* 2 + 3 pages: page 4 is the last. */
	assert_int_equal(read_at(fd, 1, 4, 0, b, 8, NULL), DSHM_SUCCESS);
	assert_int_equal(read_at(fd, 1, 5, 0, b, 8, NULL), DSHM_PAGE_FAULT);
	assert_int_equal(ask(fd, OP_PROC_ASSIGN, (int32_t[]){1, -1}, 2, NULL, 0, NULL, 0, NULL),
			 DSHM_BAD_REQUEST);
	close(fd);
}

static void
test_offsets_ranges_and_all_or_nothing(void **state)
{
	struct fixture *f = *state;
	int fd = open_raw(f);
	unsigned char data[300], back[300], zero[300] = {0};

	memset(data, 0x5a, sizeof(data));
	assert_int_equal(init(fd, 2, 3), DSHM_SUCCESS);
	/* offset must lie inside a frame: 0 <= offset < frame size */
	assert_int_equal(write_at(fd, 2, 0, FS, data, 1), DSHM_OUT_OF_FRAME);
	assert_int_equal(write_at(fd, 2, 0, -1, data, 1), DSHM_OUT_OF_FRAME);
	/* a range runs on into the following pages */
	assert_int_equal(write_at(fd, 2, 0, FS - 100, data, 300), DSHM_SUCCESS);
	assert_int_equal(read_at(fd, 2, 1, 0, back, 200, NULL), DSHM_SUCCESS);
	assert_memory_equal(back, data, 200);
	/* past the last page: -206, and nothing of it is written */
	assert_int_equal(write_at(fd, 2, 2, FS - 100, data, 300), DSHM_SEGMENTATION_FAULT);
	assert_int_equal(read_at(fd, 2, 2, FS - 100, back, 100, NULL), DSHM_SUCCESS);
	assert_memory_equal(back, zero, 100);
	assert_int_equal(read_at(fd, 2, 2, FS - 100, back, 300, NULL), DSHM_SEGMENTATION_FAULT);
	/* a page that is not the process's, a pid that does not exist, one that does */
	assert_int_equal(write_at(fd, 2, 3, 0, data, 1), DSHM_PAGE_FAULT);
	assert_int_equal(write_at(fd, 2, -1, 0, data, 1), DSHM_PAGE_FAULT);
	assert_int_equal(write_at(fd, 99, 0, 0, data, 1), DSHM_NO_SUCH_PROCESS);
	assert_int_equal(init(fd, 2, 1), DSHM_PROCESS_EXISTS);
	/* negative pids and counts */
	assert_int_equal(init(fd, -3, 1), DSHM_BAD_REQUEST);
	assert_int_equal(init(fd, 3, -1), DSHM_BAD_REQUEST);
	assert_int_equal(read_at(fd, -2, 0, 0, back, 1, NULL), DSHM_BAD_REQUEST);
	assert_int_equal(ask(fd, OP_PROC_FINALIZE, (int32_t[]){-2}, 1, NULL, 0, NULL, 0, NULL),
			 DSHM_BAD_REQUEST);
	close(fd);
}

static void
test_zero_pages_zero_bytes_and_the_status_field(void **state)
{
	struct fixture *f = *state;
	unsigned char head[PROTO_HEADER_LEN + 8], body[8];
	struct proto_header h;
	size_t got = 99;
	int fd = open_raw(f);

	/* INIT with 0 pages makes a process with no page; ASSIGN gives it some. */
	assert_int_equal(init(fd, 4, 0), DSHM_SUCCESS);
	assert_int_equal(read_at(fd, 4, 0, 0, body, 1, NULL), DSHM_PAGE_FAULT);
	assert_int_equal(init(fd, 4, 0), DSHM_PROCESS_EXISTS);
	assert_int_equal(ask(fd, OP_PROC_ASSIGN, (int32_t[]){4, 1}, 2, NULL, 0, NULL, 0, NULL),
			 DSHM_SUCCESS);
	/* A READ of 0 bytes succeeds with an empty body. */
	assert_int_equal(read_at(fd, 4, 0, 0, body, 0, &got), DSHM_SUCCESS);
	assert_int_equal(got, 0);
	/* A request's status field is not looked at: this INIT is served. */
	raw_encode(head, OP_PROC_INIT, 5, 8, (int32_t[]){5, 1}, 2);
	head[8] = 0xff;
	head[11] = 0x01;
	assert_true(raw_send(fd, head, sizeof(head)));
	assert_true(raw_reply(fd, &h, body, sizeof(body), &got));
	assert_int_equal(h.status, DSHM_SUCCESS);
	assert_int_equal(init(fd, 5, 1), DSHM_PROCESS_EXISTS);
	close(fd);
}

static void
test_processes_outlive_their_connection_and_stats_starts_with_the_version(void **state)
{
	struct fixture *f = *state;
	char text[8192];
	size_t got;
	int fd = open_raw(f);

	assert_int_equal(init(fd, 6, 1), DSHM_SUCCESS);
	assert_int_equal(write_at(fd, 6, 0, 0, "kept", 4), DSHM_SUCCESS);
	close(fd);
	fd = open_raw(f);
	assert_int_equal(read_at(fd, 6, 0, 0, text, 4, NULL), DSHM_SUCCESS);
	assert_memory_equal(text, "kept", 4);
	assert_int_equal(ask(fd, OP_STATS, NULL, 0, NULL, 0, text, sizeof(text) - 1, &got),
			 DSHM_SUCCESS);
	text[got] = '\0';
	assert_true(strncmp(text, "version ", 8) == 0);
	close(fd);
}

/* As nobody: another user's process is refused, -218, for reads, writes and finalize. */
static int
as_nobody(void *arg)
{
	const char *addr = arg;
	char b[4] = "x";
	int fd;

	if (setgid(65534) != 0 || setuid(65534) != 0 || (fd = raw_connect(addr)) < 0)
		return 10;
	if (read_at(fd, 7, 0, 0, b, 1, NULL) != DSHM_NOT_PERMITTED)
		return 11;
	if (write_at(fd, 7, 0, 0, b, 1) != DSHM_NOT_PERMITTED)
		return 12;
	if (ask(fd, OP_PROC_FINALIZE, (int32_t[]){7}, 1, NULL, 0, NULL, 0, NULL) !=
	    DSHM_NOT_PERMITTED)
		return 13;
	if (ask(fd, OP_PROC_ASSIGN, (int32_t[]){7, 1}, 2, NULL, 0, NULL, 0, NULL) !=
	    DSHM_NOT_PERMITTED)
		return 14;
	close(fd);
	return 0;
}

static void
test_another_users_process_is_refused(void **state)
{
	struct fixture *f = *state;
	int fd;
	pid_t pid;

	if (geteuid() != 0)
		skip();
	server_open_to_all(&f->srv);
	fd = open_raw(f);
	assert_int_equal(init(fd, 7, 1), DSHM_SUCCESS);
	assert_true((pid = fork_child(as_nobody, (void *)f->srv.unix_addr)) > 0);
	assert_int_equal(wait_child(pid, HARNESS_STOP_MS), 0);
	close(fd);
}

static void
test_max_data_caps_writes_and_reads_and_hello_says_it(void **state)
{
	struct fixture *f = *state;
	unsigned char body[PROTO_HELLO_LEN];
	unsigned char *big = calloc(1, (64u << 10) + 1);
	size_t got;
	int fd;

	assert_non_null(big);
	assert_int_equal(fixture_start(f, "--max-data", "64K", NULL), 0);
	fd = open_raw(f);
	assert_int_equal(ask(fd, OP_HELLO, NULL, 0, NULL, 0, body, sizeof(body), &got),
			 DSHM_SUCCESS);
	assert_int_equal(proto_get_u32(body + 4), 64u << 10);
	assert_int_equal(init(fd, 8, 20), DSHM_SUCCESS);
	assert_int_equal(write_at(fd, 8, 0, 0, big, 64 << 10), DSHM_SUCCESS);
	/* One byte more, either way: -210, and the connection goes on. */
	assert_int_equal(write_at(fd, 8, 0, 0, big, (64 << 10) + 1), DSHM_TOO_LARGE);
	assert_int_equal(read_at(fd, 8, 0, 0, big, (64 << 10) + 1, NULL), DSHM_TOO_LARGE);
	assert_int_equal(read_at(fd, 8, 0, 0, big, 1, NULL), DSHM_SUCCESS);
	free(big);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_BOTH(test_hello_is_optional_and_assign_adds_pages),
		TEST_BOTH(test_offsets_ranges_and_all_or_nothing),
		TEST_BOTH(test_zero_pages_zero_bytes_and_the_status_field),
		TEST_BOTH(test_processes_outlive_their_connection_and_stats_starts_with_the_version),
		TEST_ONE(test_another_users_process_is_refused),
		TEST_ONE_BARE(test_max_data_caps_writes_and_reads_and_hello_says_it),
	};

	return cmocka_run_group_tests_name("protocol edges", tests, NULL, NULL);
}
