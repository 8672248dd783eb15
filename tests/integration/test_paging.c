/*
 * test_paging.c — the seed-000 paging semantics, through libdshm, against
 * a real dshmd, over its Unix socket and over TCP.
 *
 * Each test gets a fresh server (see harness.h), so pids never collide
 * between tests and "nothing was allocated" can be read off the frame
 * count that HELLO reports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"
#include "paging_checks.h"

#define MIB (1u << 20)

/* ---- handshake ---------------------------------------------------------- */

static void
test_handshake_returns_the_frame_size(void **state)
{
	struct fixture *f = *state;
	int fd = open_conn(f->addr);

	assert_int_equal(handshake(&fd, NULL), 4096);
	assert_int_equal(handshake(&fd, NULL), 4096); /* and again on the same socket */
	close(fd);
}

static void
test_handshake_returns_a_frame_size_of_256(void **state)
{
	struct fixture *f = *state;
	int fd;

	assert_int_equal(fixture_start(f, "--frame-size", "256", NULL), 0);
	fd = open_conn(f->addr);
	assert_int_equal(handshake(&fd, NULL), 256);
	close(fd);
}

static void
test_handshake_connects_through_dshm_server_when_the_socket_is_negative(void **state)
{
	struct fixture *f = *state;
	int fd = -1;

	assert_int_equal(setenv("DSHM_SERVER", f->addr, 1), 0);
	assert_int_equal(handshake(&fd, NULL), 4096);
	unsetenv("DSHM_SERVER");
	assert_true(fd >= 0);
	assert_int_equal(memory_init_process(fd, 1, 1, NULL), DSHM_SUCCESS);
	close(fd);
}

/* ---- init, write, read -------------------------------------------------- */

static void
test_init_process_pages_read_as_zeros(void **state)
{
	struct fixture *f = *state;
	int fd = open_conn(f->addr);

	assert_int_equal(memory_init_process(fd, 10, 3, NULL), DSHM_SUCCESS);
	expect_zeros(fd, 10, 0, 0, 3 * 4096);
	for (int page = 0; page < 3; page++)
		expect_zeros(fd, 10, page, 0, 4096);
	close(fd);
}

static void
test_write_then_read_returns_the_bytes(void **state)
{
	struct fixture *f = *state;
	unsigned char data[100];
	int fd = open_conn(f->addr);

	fill_pattern(data, sizeof(data), 1);
	assert_int_equal(memory_init_process(fd, 11, 2, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 11, 1, 37, 100, 100, data, NULL), DSHM_SUCCESS);
	expect_read(fd, 11, 1, 37, data, 100);
	/* The bytes around it are untouched. */
	expect_zeros(fd, 11, 1, 0, 37);
	expect_zeros(fd, 11, 1, 137, 4096 - 137);
	expect_zeros(fd, 11, 0, 0, 4096);
	close(fd);
}

static void
test_write_crossing_pages_lands_on_each_page(void **state)
{
	struct fixture *f = *state;
	unsigned char data[4096 + 200];
	int fd = open_conn(f->addr);

	fill_pattern(data, sizeof(data), 2);
	assert_int_equal(memory_init_process(fd, 12, 3, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 12, 0, 4096 - 100, (int)sizeof(data), (int)sizeof(data),
				      data, NULL),
			 DSHM_SUCCESS);
	expect_read(fd, 12, 0, 4096 - 100, data, 100);
	expect_read(fd, 12, 1, 0, data + 100, 4096);
	expect_read(fd, 12, 2, 0, data + 4196, 100);
	expect_read(fd, 12, 0, 4096 - 100, data, (int)sizeof(data));
	expect_zeros(fd, 12, 2, 100, 4096 - 100);
	close(fd);
}

static void
test_crossing_pages_with_256_byte_frames(void **state)
{
	struct fixture *f = *state;
	unsigned char data[600];
	int fd;

	assert_int_equal(fixture_start(f, "--frame-size", "256", NULL), 0);
	fd = open_conn(f->addr);
	fill_pattern(data, sizeof(data), 3);
	assert_int_equal(memory_init_process(fd, 13, 4, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 13, 0, 100, 600, 600, data, NULL), DSHM_SUCCESS);
	expect_read(fd, 13, 0, 100, data, 156);
	expect_read(fd, 13, 1, 0, data + 156, 256);
	expect_read(fd, 13, 2, 0, data + 412, 188);
	expect_zeros(fd, 13, 3, 0, 256);
	assert_int_equal(memory_write(fd, 13, 0, 256, 1, 1, data, NULL), DSHM_OUT_OF_FRAME);
	assert_int_equal(memory_write(fd, 13, 3, 200, 57, 57, data, NULL),
			 DSHM_SEGMENTATION_FAULT);
	close(fd);
}

static void
test_write_up_to_the_last_byte_succeeds(void **state)
{
	struct fixture *f = *state;
	unsigned char data[20];
	int fd = open_conn(f->addr);

	fill_pattern(data, sizeof(data), 4);
	assert_int_equal(memory_init_process(fd, 14, 2, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 14, 1, 4096 - 20, 20, 20, data, NULL), DSHM_SUCCESS);
	expect_read(fd, 14, 1, 4096 - 20, data, 20);
	assert_int_equal(memory_write(fd, 14, 1, 4095, 1, 1, data, NULL), DSHM_SUCCESS);
	expect_read(fd, 14, 1, 4095, data, 1);
	close(fd);
}

static void
test_write_past_the_last_page_is_a_segmentation_fault_and_writes_nothing(void **state)
{
	struct fixture *f = *state;
	unsigned char *data = malloc(2 * 4096);
	int fd = open_conn(f->addr);

	assert_non_null(data);
	fill_pattern(data, 2 * 4096, 5);
	assert_int_equal(memory_init_process(fd, 15, 2, NULL), DSHM_SUCCESS);
	/* One byte too many, starting on the last page. */
	assert_int_equal(memory_write(fd, 15, 1, 4096 - 10, 11, 11, data, NULL),
			 DSHM_SEGMENTATION_FAULT);
	/* From the middle of the first page, running one page too far. */
	assert_int_equal(memory_write(fd, 15, 0, 10, 2 * 4096, 2 * 4096, data, NULL),
			 DSHM_SEGMENTATION_FAULT);
	expect_zeros(fd, 15, 0, 0, 2 * 4096);
	close(fd);
	free(data);
}

static void
test_read_past_the_last_page_is_a_segmentation_fault(void **state)
{
	struct fixture *f = *state;
	int fd = open_conn(f->addr);

	assert_int_equal(memory_init_process(fd, 16, 2, NULL), DSHM_SUCCESS);
	expect_read_error(fd, 16, 1, 4096 - 10, 11, DSHM_SEGMENTATION_FAULT);
	expect_read_error(fd, 16, 0, 1, 2 * 4096, DSHM_SEGMENTATION_FAULT);
	expect_zeros(fd, 16, 0, 0, 2 * 4096); /* the exact range is fine */
	close(fd);
}

static void
test_page_outside_the_process_is_a_page_fault(void **state)
{
	struct fixture *f = *state;
	unsigned char data[8] = "abcdefg";
	int fd = open_conn(f->addr);

	assert_int_equal(memory_init_process(fd, 17, 2, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 17, 2, 0, 8, 8, data, NULL), DSHM_PAGE_FAULT);
	assert_int_equal(memory_write(fd, 17, -1, 0, 8, 8, data, NULL), DSHM_PAGE_FAULT);
	assert_int_equal(memory_write(fd, 17, INT_MAX, 0, 8, 8, data, NULL), DSHM_PAGE_FAULT);
	expect_read_error(fd, 17, 2, 0, 8, DSHM_PAGE_FAULT);
	expect_read_error(fd, 17, -1, 0, 8, DSHM_PAGE_FAULT);
	close(fd);
}

static void
test_offset_outside_the_frame_is_out_of_frame(void **state)
{
	struct fixture *f = *state;
	unsigned char data[8] = "abcdefg";
	int fd = open_conn(f->addr);

	assert_int_equal(memory_init_process(fd, 18, 2, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 18, 0, 4096, 8, 8, data, NULL), DSHM_OUT_OF_FRAME);
	assert_int_equal(memory_write(fd, 18, 0, -1, 8, 8, data, NULL), DSHM_OUT_OF_FRAME);
	expect_read_error(fd, 18, 0, 4096, 8, DSHM_OUT_OF_FRAME);
	expect_read_error(fd, 18, 1, -5, 8, DSHM_OUT_OF_FRAME);
	expect_zeros(fd, 18, 0, 0, 2 * 4096);
	close(fd);
}

static void
test_size_above_buffer_size_is_a_bad_request(void **state)
{
	struct fixture *f = *state;
	unsigned char data[16];
	int fd = open_conn(f->addr);

	fill_pattern(data, sizeof(data), 6);
	assert_int_equal(memory_init_process(fd, 19, 1, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 19, 0, 0, 16, 8, data, NULL), DSHM_BAD_REQUEST);
	assert_int_equal(memory_write(fd, 19, 0, 0, -1, 8, data, NULL), DSHM_BAD_REQUEST);
	assert_int_equal(memory_write(fd, 19, 0, 0, 8, 8, NULL, NULL), DSHM_BAD_REQUEST);
	expect_read_error(fd, 19, 0, 0, -1, DSHM_BAD_REQUEST);
	expect_zeros(fd, 19, 0, 0, 4096);
	/* The connection is still in step. */
	assert_int_equal(memory_write(fd, 19, 0, 0, 8, 16, data, NULL), DSHM_SUCCESS);
	expect_read(fd, 19, 0, 0, data, 8);
	close(fd);
}

static void
test_more_than_16_mib_is_too_large(void **state)
{
	struct fixture *f = *state;
	int fd = open_conn(f->addr);
	int big = (int)PROTO_MAX_DATA + 1;
	unsigned char byte = 1;

	assert_int_equal(memory_init_process(fd, 20, 1, NULL), DSHM_SUCCESS);
	expect_read_error(fd, 20, 0, 0, big, DSHM_TOO_LARGE);
	/* buffer_size says big, but nothing is sent: the check comes first. */
	assert_int_equal(memory_write(fd, 20, 0, 0, big, big, &byte, NULL), DSHM_TOO_LARGE);
	assert_int_equal(handshake(&fd, NULL), 4096);
	close(fd);
}

static void
test_unknown_pid_is_no_such_process(void **state)
{
	struct fixture *f = *state;
	unsigned char data[4] = "abc";
	int fd = open_conn(f->addr);

	assert_int_equal(memory_init_process(fd, 21, 1, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 999, 0, 0, 4, 4, data, NULL), DSHM_NO_SUCH_PROCESS);
	expect_read_error(fd, 999, 0, 0, 4, DSHM_NO_SUCH_PROCESS);
	assert_int_equal(memory_assign_pages(fd, 999, 1, NULL), DSHM_NO_SUCH_PROCESS);
	assert_int_equal(memory_finalize_process(fd, 999, NULL), DSHM_NO_SUCH_PROCESS);
	close(fd);
}

static void
test_init_of_an_existing_pid_is_process_exists_and_changes_nothing(void **state)
{
	struct fixture *f = *state;
	unsigned char data[64];
	uint64_t before;
	int fd = open_conn(f->addr);

	fill_pattern(data, sizeof(data), 7);
	assert_int_equal(memory_init_process(fd, 22, 5, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 22, 4, 0, 64, 64, data, NULL), DSHM_SUCCESS);
	before = frames_free(f);
	assert_int_equal(memory_init_process(fd, 22, 3, NULL), DSHM_PROCESS_EXISTS);
	assert_int_equal(memory_init_process(fd, 22, 5, NULL), DSHM_PROCESS_EXISTS);
	assert_int_equal(frames_free(f), before);
	expect_read(fd, 22, 4, 0, data, 64);
	expect_read_error(fd, 22, 5, 0, 1, DSHM_PAGE_FAULT);
	close(fd);
}

static void
test_process_with_zero_pages_has_no_page(void **state)
{
	struct fixture *f = *state;
	unsigned char byte = 9;
	int fd = open_conn(f->addr);

	assert_int_equal(memory_init_process(fd, 23, 0, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 23, 0, 0, 1, 1, &byte, NULL), DSHM_PAGE_FAULT);
	assert_int_equal(memory_assign_pages(fd, 23, 1, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 23, 0, 0, 1, 1, &byte, NULL), DSHM_SUCCESS);
	expect_read(fd, 23, 0, 0, &byte, 1);
	close(fd);
}

static void
test_zero_byte_write_and_read_succeed(void **state)
{
	struct fixture *f = *state;
	unsigned char byte = 0;
	t_read_response *r;
	int fd = open_conn(f->addr);

	assert_int_equal(memory_init_process(fd, 24, 1, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 24, 0, 100, 0, 1, &byte, NULL), DSHM_SUCCESS);
	r = memory_read(fd, 24, 0, 100, 0, NULL);
	assert_non_null(r);
	assert_int_equal(r->exec_code, DSHM_SUCCESS);
	assert_int_equal(r->buffer_size, 0);
	free(r->buffer);
	free(r);
	close(fd);
}

/* ---- space -------------------------------------------------------------- */

static void
test_no_space_is_minus_203_and_allocates_nothing(void **state)
{
	struct fixture *f = *state;
	unsigned char *data = malloc(12 * 4096);
	int fd;

	assert_non_null(data);
	/* 64 KiB of 4 KiB frames: 16 frames in all. */
	assert_int_equal(fixture_start(f, "--memory", "64K", NULL), 0);
	fd = open_conn(f->addr);
	assert_int_equal(frames_free(f), 16);
	assert_int_equal(memory_init_process(fd, 1, 4, NULL), DSHM_SUCCESS);

	assert_int_equal(memory_init_process(fd, 2, 13, NULL), -203);
	assert_int_equal(memory_init_process(fd, 2, INT_MAX, NULL), -203);
	assert_int_equal(frames_free(f), 12);
	assert_int_equal(memory_finalize_process(fd, 2, NULL), DSHM_NO_SUCH_PROCESS);

	/* What remains is still fully usable. */
	assert_int_equal(memory_init_process(fd, 2, 12, NULL), DSHM_SUCCESS);
	assert_int_equal(frames_free(f), 0);
	fill_pattern(data, 12 * 4096, 8);
	assert_int_equal(memory_write(fd, 2, 0, 0, 12 * 4096, 12 * 4096, data, NULL),
			 DSHM_SUCCESS);
	expect_read(fd, 2, 0, 0, data, 12 * 4096);

	assert_int_equal(memory_init_process(fd, 3, 1, NULL), -203);
	assert_int_equal(memory_assign_pages(fd, 1, 1, NULL), -203);
	expect_read_error(fd, 1, 4, 0, 1, DSHM_PAGE_FAULT);
	expect_zeros(fd, 1, 0, 0, 4 * 4096);
	close(fd);
	free(data);
}

static void
test_assign_pages_past_the_free_frames_is_no_space_and_allocates_nothing(void **state)
{
	struct fixture *f = *state;
	unsigned char data[32];
	int fd;

	assert_int_equal(fixture_start(f, "--memory", "64K", NULL), 0);
	fd = open_conn(f->addr);
	fill_pattern(data, sizeof(data), 9);
	assert_int_equal(memory_init_process(fd, 1, 2, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 1, 1, 0, 32, 32, data, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_assign_pages(fd, 1, 15, NULL), DSHM_NO_SPACE);
	assert_int_equal(memory_assign_pages(fd, 1, INT_MAX, NULL), DSHM_NO_SPACE);
	assert_int_equal(frames_free(f), 14);
	expect_read_error(fd, 1, 2, 0, 1, DSHM_PAGE_FAULT);
	expect_read(fd, 1, 1, 0, data, 32);
	assert_int_equal(memory_assign_pages(fd, 1, 14, NULL), DSHM_SUCCESS);
	assert_int_equal(frames_free(f), 0);
	expect_zeros(fd, 1, 2, 0, 14 * 4096);
	close(fd);
}

static void
test_assign_pages_adds_zeroed_pages_and_keeps_the_old_ones(void **state)
{
	struct fixture *f = *state;
	unsigned char data[300];
	int fd = open_conn(f->addr);

	fill_pattern(data, sizeof(data), 10);
	assert_int_equal(memory_init_process(fd, 30, 1, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 30, 0, 0, 300, 300, data, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 30, 1, 0, 1, 1, data, NULL), DSHM_PAGE_FAULT);
	assert_int_equal(memory_write(fd, 30, 0, 4000, 200, 200, data, NULL),
			 DSHM_SEGMENTATION_FAULT);

	assert_int_equal(memory_assign_pages(fd, 30, 2, NULL), DSHM_SUCCESS);
	expect_read(fd, 30, 0, 0, data, 300);
	expect_zeros(fd, 30, 1, 0, 2 * 4096);
	assert_int_equal(memory_write(fd, 30, 0, 4000, 200, 200, data, NULL), DSHM_SUCCESS);
	expect_read(fd, 30, 0, 4000, data, 200);
	assert_int_equal(memory_write(fd, 30, 2, 4000, 96, 96, data, NULL), DSHM_SUCCESS);
	expect_read_error(fd, 30, 3, 0, 1, DSHM_PAGE_FAULT);
	close(fd);
}

static void
test_finalize_then_reuse_reads_zeros(void **state)
{
	struct fixture *f = *state;
	size_t all = 16 * 4096;
	unsigned char *data = malloc(all);
	int fd;

	assert_non_null(data);
	assert_int_equal(fixture_start(f, "--memory", "64K", NULL), 0);
	fd = open_conn(f->addr);
	memset(data, 0xAB, all);
	/* Every frame of the arena gets dirty, then comes back. */
	assert_int_equal(memory_init_process(fd, 40, 16, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 40, 0, 0, (int)all, (int)all, data, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_finalize_process(fd, 40, NULL), DSHM_SUCCESS);
	assert_int_equal(frames_free(f), 16);
	assert_int_equal(memory_write(fd, 40, 0, 0, 1, 1, data, NULL), DSHM_NO_SUCH_PROCESS);
	assert_int_equal(memory_finalize_process(fd, 40, NULL), DSHM_NO_SUCH_PROCESS);

	/* The same pid again, and another one: both see only zeros. */
	assert_int_equal(memory_init_process(fd, 40, 8, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_init_process(fd, 41, 8, NULL), DSHM_SUCCESS);
	expect_zeros(fd, 40, 0, 0, 8 * 4096);
	expect_zeros(fd, 41, 0, 0, 8 * 4096);
	close(fd);
	free(data);
}

static void
test_finalize_then_reuse_reads_zeros_with_256_byte_frames(void **state)
{
	struct fixture *f = *state;
	unsigned char data[64 * 256];
	int fd;

	/* Frames smaller than a memory page are cleared by hand, not by madvise. */
	assert_int_equal(fixture_start(f, "--frame-size", "256", "--memory", "16K", NULL), 0);
	fd = open_conn(f->addr);
	memset(data, 0xCD, sizeof(data));
	assert_int_equal(memory_init_process(fd, 1, 64, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 1, 0, 0, (int)sizeof(data), (int)sizeof(data), data,
				      NULL),
			 DSHM_SUCCESS);
	assert_int_equal(memory_finalize_process(fd, 1, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_init_process(fd, 2, 3, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_init_process(fd, 3, 61, NULL), DSHM_SUCCESS);
	expect_zeros(fd, 2, 0, 0, 3 * 256);
	expect_zeros(fd, 3, 0, 0, 61 * 256);
	close(fd);
}

static void
test_process_table_full_is_table_full_and_a_finalized_slot_is_reused(void **state)
{
	struct fixture *f = *state;
	unsigned char data[16];
	int fd;

	assert_int_equal(fixture_start(f, "--max-processes", "4", NULL), 0);
	fd = open_conn(f->addr);
	fill_pattern(data, sizeof(data), 14);
	for (int pid = 1; pid <= 4; pid++)
		assert_int_equal(memory_init_process(fd, pid, 1, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_init_process(fd, 5, 1, NULL), DSHM_TABLE_FULL);
	assert_int_equal(memory_init_process(fd, 5, 0, NULL), DSHM_TABLE_FULL);
	expect_read_error(fd, 5, 0, 0, 1, DSHM_NO_SUCH_PROCESS);
	assert_int_equal(frames_free(f), 16384 - 4);
	assert_int_equal(memory_finalize_process(fd, 2, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_init_process(fd, 5, 1, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 5, 0, 0, 16, 16, data, NULL), DSHM_SUCCESS);
	expect_read(fd, 5, 0, 0, data, 16);
	expect_zeros(fd, 4, 0, 0, 4096);
	expect_read_error(fd, 2, 0, 0, 1, DSHM_NO_SUCH_PROCESS);
	close(fd);
}

static void
test_many_processes_created_and_finalized_stay_findable(void **state)
{
	struct fixture *f = *state;
	unsigned char mark[8];
	int fd;

	/* A small table, so that its index fills with deleted entries and is rebuilt. */
	assert_int_equal(fixture_start(f, "--max-processes", "4", NULL), 0);
	fd = open_conn(f->addr);
	for (int round = 0; round < 200; round++) {
		int pid = 1000 + round * 7;

		fill_pattern(mark, sizeof(mark), (unsigned)round);
		assert_int_equal(memory_init_process(fd, pid, 1, NULL), DSHM_SUCCESS);
		assert_int_equal(memory_write(fd, pid, 0, round, 8, 8, mark, NULL), DSHM_SUCCESS);
		if (round >= 3) {
			int old = round - 3, old_pid = 1000 + old * 7;

			fill_pattern(mark, sizeof(mark), (unsigned)old);
			expect_read(fd, old_pid, 0, old, mark, 8);
			assert_int_equal(memory_finalize_process(fd, old_pid, NULL), DSHM_SUCCESS);
			expect_read_error(fd, old_pid, 0, 0, 1, DSHM_NO_SUCH_PROCESS);
		}
	}
	for (int round = 197; round < 200; round++) {
		fill_pattern(mark, sizeof(mark), (unsigned)round);
		expect_read(fd, 1000 + round * 7, 0, round, mark, 8);
	}
	assert_int_equal(frames_free(f), 16384 - 3);
	close(fd);
}

static void
test_growth_across_page_table_levels_keeps_the_data(void **state)
{
	struct fixture *f = *state;
	static const int pages[] = {0, 63, 64, 4095, 4096};
	unsigned char mark[16];
	int fd = open_conn(f->addr);

	assert_int_equal(memory_init_process(fd, 80, 1, NULL), DSHM_SUCCESS);
	/* 1 page, then 64 (a full leaf), 65 (two levels), 4097 (three levels). */
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		if (i > 0)
			assert_int_equal(memory_assign_pages(fd, 80, pages[i] - pages[i - 1], NULL),
					 DSHM_SUCCESS);
		expect_zeros(fd, 80, pages[i], 0, 4096);
		fill_pattern(mark, sizeof(mark), (unsigned)pages[i]);
		assert_int_equal(memory_write(fd, 80, pages[i], 4080, 16, 16, mark, NULL),
				 DSHM_SUCCESS);
		for (size_t k = 0; k <= i; k++) {
			fill_pattern(mark, sizeof(mark), (unsigned)pages[k]);
			expect_read(fd, 80, pages[k], 4080, mark, 16);
		}
	}
	expect_read_error(fd, 80, 4097, 0, 1, DSHM_PAGE_FAULT);
	assert_int_equal(frames_free(f), 16384 - 4097);
	assert_int_equal(memory_finalize_process(fd, 80, NULL), DSHM_SUCCESS);
	assert_int_equal(frames_free(f), 16384);
	close(fd);
}

static void
test_fragmented_frames_serve_each_process_its_own_bytes(void **state)
{
	struct fixture *f = *state;
	size_t size8 = 8 * 4096, size32 = 32 * 4096;
	unsigned char *data = malloc(size32);
	int fd;

	assert_non_null(data);
	/* 64 frames: eight processes take them all, the even ones give theirs back. */
	assert_int_equal(fixture_start(f, "--memory", "256K", NULL), 0);
	fd = open_conn(f->addr);
	for (int pid = 1; pid <= 8; pid++) {
		fill_pattern(data, size8, (unsigned)pid);
		assert_int_equal(memory_init_process(fd, pid, 8, NULL), DSHM_SUCCESS);
		assert_int_equal(memory_write(fd, pid, 0, 0, (int)size8, (int)size8, data, NULL),
				 DSHM_SUCCESS);
	}
	for (int pid = 2; pid <= 8; pid += 2)
		assert_int_equal(memory_finalize_process(fd, pid, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_init_process(fd, 9, 32, NULL), DSHM_SUCCESS);
	assert_int_equal(frames_free(f), 0);
	expect_zeros(fd, 9, 0, 0, (int)size32);
	fill_pattern(data, size32, 9);
	assert_int_equal(memory_write(fd, 9, 0, 0, (int)size32, (int)size32, data, NULL),
			 DSHM_SUCCESS);
	expect_read(fd, 9, 0, 0, data, (int)size32);
	for (int pid = 1; pid <= 8; pid += 2) {
		fill_pattern(data, size8, (unsigned)pid);
		expect_read(fd, pid, 0, 0, data, (int)size8);
	}
	close(fd);
	free(data);
}

/* ---- connections and sizes ---------------------------------------------- */

static void
test_process_made_over_one_connection_is_seen_over_another(void **state)
{
	struct fixture *f = *state;
	unsigned char a[200], b[200];
	int u1 = open_conn(f->srv.unix_addr);
	int u2 = open_conn(f->srv.unix_addr);
	int t1 = open_conn(f->srv.tcp_addr);

	fill_pattern(a, sizeof(a), 11);
	fill_pattern(b, sizeof(b), 12);
	assert_int_equal(memory_init_process(u1, 50, 2, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(u1, 50, 0, 4000, 200, 200, a, NULL), DSHM_SUCCESS);
	expect_read(u2, 50, 0, 4000, a, 200);
	expect_read(t1, 50, 0, 4000, a, 200);
	assert_int_equal(memory_write(t1, 50, 1, 0, 200, 200, b, NULL), DSHM_SUCCESS);
	expect_read(u1, 50, 1, 0, b, 200);
	assert_int_equal(memory_assign_pages(u2, 50, 1, NULL), DSHM_SUCCESS);
	expect_zeros(t1, 50, 2, 0, 4096);
	assert_int_equal(memory_init_process(t1, 50, 1, NULL), DSHM_PROCESS_EXISTS);
	assert_int_equal(memory_finalize_process(t1, 50, NULL), DSHM_SUCCESS);
	expect_read_error(u1, 50, 0, 0, 1, DSHM_NO_SUCH_PROCESS);
	close(u1);
	close(u2);
	close(t1);
}

static void
test_16_mib_write_and_read_in_one_call(void **state)
{
	struct fixture *f = *state;
	int size = (int)PROTO_MAX_DATA;
	unsigned char *data = malloc((size_t)size);
	t_read_response *r;
	int fd = open_conn(f->addr);

	assert_non_null(data);
	fill_pattern(data, (size_t)size, 13);
	assert_int_equal(memory_init_process(fd, 60, size / 4096 + 1, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 60, 0, 1, size, size, data, NULL), DSHM_SUCCESS);
	r = memory_read(fd, 60, 0, 1, size, NULL);
	assert_non_null(r);
	assert_int_equal(r->exec_code, DSHM_SUCCESS);
	assert_int_equal(r->buffer_size, size);
	assert_true(memcmp(r->buffer, data, (size_t)size) == 0);
	free(r->buffer);
	free(r);
	/* The connection is in step after the big exchange. */
	expect_read(fd, 60, 4096, 0, data + 4095 * 4096 + 4095, 1);
	close(fd);
	free(data);
}

static void
test_read_errors_come_back_in_exec_code(void **state)
{
	struct fixture *f = *state;
	int fd = open_conn(f->addr);

	assert_int_equal(memory_init_process(fd, 70, 1, NULL), DSHM_SUCCESS);
	expect_read_error(fd, 71, 0, 0, 1, DSHM_NO_SUCH_PROCESS);
	expect_read_error(fd, 70, 1, 0, 1, DSHM_PAGE_FAULT);
	expect_read_error(fd, 70, 0, 4096, 1, DSHM_OUT_OF_FRAME);
	expect_read_error(fd, 70, 0, 1, 4096, DSHM_SEGMENTATION_FAULT);
	expect_read_error(fd, 70, 0, 0, -1, DSHM_BAD_REQUEST);
	expect_read_error(fd, -1, 0, 0, 1, DSHM_BAD_REQUEST);
	expect_read_error(fd, 70, 0, 0, INT_MAX, DSHM_TOO_LARGE);
	expect_zeros(fd, 70, 0, 0, 4096);
	close(fd);
}

/* ---- the logger --------------------------------------------------------- */

static void
test_logger_writes_a_line_per_call_at_its_level(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 16], quiet_path[PATH_MAX + 16], prefix[64];
	unsigned char data[8] = "1234567";
	struct dshm_log *log, *quiet;
	t_read_response *r;
	char *text;
	int fd = open_conn(f->addr);

	snprintf(path, sizeof(path), "%s/client.log", f->srv.dir);
	snprintf(quiet_path, sizeof(quiet_path), "%s/quiet.log", f->srv.dir);
	log = dshm_log_create(path, "paging-test", false, DSHM_LOG_DEBUG);
	quiet = dshm_log_create(quiet_path, "paging-test", false, DSHM_LOG_WARNING);
	assert_non_null(log);
	assert_non_null(quiet);

	assert_int_equal(handshake(&fd, log), 4096);
	assert_int_equal(memory_init_process(fd, 42, 2, log), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 42, 0, 0, 8, 8, data, log), DSHM_SUCCESS);
	r = memory_read(fd, 42, 0, 0, 8, log);
	assert_non_null(r);
	free(r->buffer);
	free(r);
	assert_int_equal(memory_write(fd, 42, 5, 0, 8, 8, data, log), DSHM_PAGE_FAULT);
	assert_int_equal(memory_init_process(fd, 42, 2, quiet), DSHM_PROCESS_EXISTS);
	assert_int_equal(memory_finalize_process(fd, 42, quiet), DSHM_SUCCESS);
	dshm_log_destroy(log);
	dshm_log_destroy(quiet);

	snprintf(prefix, sizeof(prefix), "paging-test/(%d): ", (int)getpid());
	text = read_whole_file(path);
	assert_non_null(text);
	assert_int_equal(count_occurrences(text, "\n"), 5);
	assert_int_equal(count_occurrences(text, prefix), 5);
	assert_non_null(strstr(text, "[INFO]"));
	assert_non_null(strstr(text, "handshake: frame size 4096"));
	assert_non_null(strstr(text, "[DEBUG]"));
	assert_non_null(strstr(text, "memory_init_process(pid 42, 2): success"));
	assert_non_null(strstr(text, "memory_write(pid 42, page 0, offset 0, 8 bytes): success"));
	assert_non_null(strstr(text, "memory_read(pid 42, page 0, offset 0, 8 bytes): success"));
	assert_non_null(strstr(text, "[WARNING]"));
	assert_non_null(strstr(text, "memory_write(pid 42, page 5, offset 0, 8 bytes): page not "
				     "owned by the process"));
	free(text);

	/* A logger at WARNING keeps the failure and drops the success. */
	text = read_whole_file(quiet_path);
	assert_non_null(text);
	assert_int_equal(count_occurrences(text, "\n"), 1);
	assert_non_null(strstr(text, "[WARNING]"));
	assert_non_null(strstr(text, "memory_init_process(pid 42, 2): process already exists"));
	free(text);
	close(fd);
}

static void
test_null_logger_is_silent_and_harmless(void **state)
{
	(void)state;
	dshm_log_message(NULL, DSHM_LOG_ERROR, "nothing %d", 1);
	dshm_log_destroy(NULL);
	assert_null(dshm_log_create("/nonexistent-dir/x.log", "t", false, DSHM_LOG_INFO));
}

/* As nobody: another user's process is off limits, its own is not. */
static int
nobody_uses_processes(void *arg)
{
	const char *addr = arg;
	t_read_response *r;
	char buf[4] = "abc";
	int fd, rc = 0;

	if (setgid(65534) != 0 || setuid(65534) != 0 || (fd = dshm_connect(addr)) < 0)
		return 10;
	r = memory_read(fd, 700, 0, 0, 4, NULL);
	if (r == NULL || r->exec_code != DSHM_NOT_PERMITTED || r->buffer != NULL)
		rc = 11;
	free(r);
	if (memory_write(fd, 700, 0, 0, 4, 4, buf, NULL) != DSHM_NOT_PERMITTED ||
	    memory_assign_pages(fd, 700, 1, NULL) != DSHM_NOT_PERMITTED ||
	    memory_finalize_process(fd, 700, NULL) != DSHM_NOT_PERMITTED)
		rc = 12;
	if (memory_init_process(fd, 701, 1, NULL) != DSHM_SUCCESS ||
	    memory_write(fd, 701, 0, 0, 4, 4, buf, NULL) != DSHM_SUCCESS)
		rc = 13;
	close(fd);
	return rc;
}

static void
test_a_process_belongs_to_the_uid_that_made_it(void **state)
{
	struct fixture *f = *state;
	int fd = dshm_connect(f->addr);
	t_read_response *r;
	pid_t child;

	assert_true(fd >= 0);
	server_open_to_all(&f->srv);
	assert_int_equal(memory_init_process(fd, 700, 1, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 700, 0, 0, 4, 4, "root", NULL), DSHM_SUCCESS);
	child = fork_child(nobody_uses_processes, (void *)f->addr);
	assert_true(child > 0);
	assert_int_equal(wait_child(child, HARNESS_STOP_MS), 0);
	/* Root may use both. */
	r = memory_read(fd, 701, 0, 0, 4, NULL);
	assert_non_null(r);
	assert_int_equal(r->exec_code, DSHM_SUCCESS);
	assert_memory_equal(r->buffer, "abc", 4);
	free(r->buffer);
	free(r);
	assert_int_equal(memory_finalize_process(fd, 701, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_finalize_process(fd, 700, NULL), DSHM_SUCCESS);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_BOTH(test_handshake_returns_the_frame_size),
		TEST_BOTH(test_a_process_belongs_to_the_uid_that_made_it),
		TEST_BOTH_BARE(test_handshake_returns_a_frame_size_of_256),
		TEST_BOTH(test_handshake_connects_through_dshm_server_when_the_socket_is_negative),
		TEST_BOTH(test_init_process_pages_read_as_zeros),
		TEST_BOTH(test_write_then_read_returns_the_bytes),
		TEST_BOTH(test_write_crossing_pages_lands_on_each_page),
		TEST_BOTH_BARE(test_crossing_pages_with_256_byte_frames),
		TEST_BOTH(test_write_up_to_the_last_byte_succeeds),
		TEST_BOTH(test_write_past_the_last_page_is_a_segmentation_fault_and_writes_nothing),
		TEST_BOTH(test_read_past_the_last_page_is_a_segmentation_fault),
		TEST_BOTH(test_page_outside_the_process_is_a_page_fault),
		TEST_BOTH(test_offset_outside_the_frame_is_out_of_frame),
		TEST_BOTH(test_size_above_buffer_size_is_a_bad_request),
		TEST_BOTH(test_more_than_16_mib_is_too_large),
		TEST_BOTH(test_unknown_pid_is_no_such_process),
		TEST_BOTH(test_init_of_an_existing_pid_is_process_exists_and_changes_nothing),
		TEST_BOTH(test_process_with_zero_pages_has_no_page),
		TEST_BOTH(test_zero_byte_write_and_read_succeed),
		TEST_BOTH_BARE(test_no_space_is_minus_203_and_allocates_nothing),
		TEST_BOTH_BARE(test_assign_pages_past_the_free_frames_is_no_space_and_allocates_nothing),
		TEST_BOTH(test_assign_pages_adds_zeroed_pages_and_keeps_the_old_ones),
		TEST_BOTH_BARE(test_finalize_then_reuse_reads_zeros),
		TEST_ONE_BARE(test_finalize_then_reuse_reads_zeros_with_256_byte_frames),
		TEST_BOTH_BARE(test_process_table_full_is_table_full_and_a_finalized_slot_is_reused),
		TEST_ONE_BARE(test_many_processes_created_and_finalized_stay_findable),
		TEST_BOTH(test_growth_across_page_table_levels_keeps_the_data),
		TEST_BOTH_BARE(test_fragmented_frames_serve_each_process_its_own_bytes),
		TEST_ONE(test_process_made_over_one_connection_is_seen_over_another),
		TEST_BOTH(test_16_mib_write_and_read_in_one_call),
		TEST_BOTH(test_read_errors_come_back_in_exec_code),
		TEST_ONE(test_logger_writes_a_line_per_call_at_its_level),
		cmocka_unit_test(test_null_logger_is_silent_and_harmless),
	};

	return cmocka_run_group_tests_name("paging", tests, NULL, NULL);
}
