/*
 * test_batch.c — dshm_batch keeps many paging reads and writes in flight
 * on one connection: every op gets its own status in order, ops on one
 * process take effect in the order given, an op refused by the library
 * or the server does not disturb the others, and far more replies than
 * the server buffers (16 MiB of 1 MiB reads) flow without a deadlock.
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
#include "paging_checks.h"

#define PAGE 4096
#define NPAGES 1000

static void
test_a_thousand_writes_then_reads_in_one_batch_each(void **state)
{
	struct fixture *f = *state;
	int fd = dshm_connect(f->addr);
	struct dshm_op *ops = calloc(NPAGES, sizeof(*ops));
	unsigned char *out = malloc((size_t)NPAGES * PAGE), *in = calloc(NPAGES, PAGE);

	assert_true(fd >= 0);
	assert_non_null(ops);
	assert_non_null(out);
	assert_non_null(in);
	assert_int_equal(memory_init_process(fd, 1, NPAGES, NULL), DSHM_SUCCESS);
	for (int i = 0; i < NPAGES; i++) {
		fill_pattern(out + (size_t)i * PAGE, PAGE, (unsigned)i);
		ops[i] = (struct dshm_op){DSHM_OP_WRITE, 1, i, 0, PAGE, out + (size_t)i * PAGE, 0};
	}
	assert_int_equal(dshm_batch(fd, ops, NPAGES), DSHM_SUCCESS);
	for (int i = 0; i < NPAGES; i++) {
		assert_int_equal(ops[i].status, DSHM_SUCCESS);
		ops[i] = (struct dshm_op){DSHM_OP_READ, 1, i, 0, PAGE, in + (size_t)i * PAGE, 0};
	}
	assert_int_equal(dshm_batch(fd, ops, NPAGES), DSHM_SUCCESS);
	for (int i = 0; i < NPAGES; i++)
		assert_int_equal(ops[i].status, DSHM_SUCCESS);
	assert_memory_equal(in, out, (size_t)NPAGES * PAGE);
	free(ops);
	free(out);
	free(in);
	close(fd);
}

static void
test_each_op_has_its_own_status_and_order_holds(void **state)
{
	struct fixture *f = *state;
	int fd = dshm_connect(f->addr);
	char a[8] = "first", b[8] = "second", got[8] = "", got2[8] = "";
	struct dshm_op ops[] = {
		{DSHM_OP_WRITE, 2, 0, 0, 6, a, 0},
		{DSHM_OP_READ, 2, 0, 0, 6, got, 0},    /* sees the write before it */
		{DSHM_OP_WRITE, 99, 0, 0, 6, b, 0},    /* no such process */
		{DSHM_OP_WRITE, 2, 0, 0, -1, b, 0},    /* refused by the library */
		{7, 2, 0, 0, 1, b, 0},                 /* not an op */
		{DSHM_OP_WRITE, 2, 0, 0, 7, b, 0},
		{DSHM_OP_READ, 2, 1, 0, 4, got2, 0},   /* page fault */
		{DSHM_OP_READ, 2, 0, 0, 7, got2, 0},
	};
	int n = (int)(sizeof(ops) / sizeof(ops[0]));

	assert_true(fd >= 0);
	assert_int_equal(memory_init_process(fd, 2, 1, NULL), DSHM_SUCCESS);
	assert_int_equal(dshm_batch(fd, ops, n), DSHM_SUCCESS);
	assert_int_equal(ops[0].status, DSHM_SUCCESS);
	assert_int_equal(ops[1].status, DSHM_SUCCESS);
	assert_string_equal(got, "first");
	assert_int_equal(ops[2].status, DSHM_NO_SUCH_PROCESS);
	assert_int_equal(ops[3].status, DSHM_BAD_REQUEST);
	assert_int_equal(ops[4].status, DSHM_BAD_REQUEST);
	assert_int_equal(ops[5].status, DSHM_SUCCESS);
	assert_int_equal(ops[6].status, DSHM_PAGE_FAULT);
	assert_int_equal(ops[7].status, DSHM_SUCCESS);
	assert_string_equal(got2, "second");
	/* The connection is still in step: an ordinary call works. */
	assert_int_equal(memory_finalize_process(fd, 2, NULL), DSHM_SUCCESS);
	assert_int_equal(dshm_batch(-1, ops, n), DSHM_DISCONNECTED_CLIENT);
	close(fd);
}

static void
test_more_replies_than_the_server_buffers_flow_without_a_deadlock(void **state)
{
	struct fixture *f = *state;
	enum { SIZE = 1 << 20, N = 40, PAGES = SIZE / PAGE };
	int fd = dshm_connect(f->addr);
	unsigned char *src = malloc(SIZE), *dst = malloc((size_t)N * SIZE);
	struct dshm_op ops[N];

	assert_true(fd >= 0);
	assert_non_null(src);
	assert_non_null(dst);
	fill_pattern(src, SIZE, 3);
	assert_int_equal(memory_init_process(fd, 3, PAGES, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 3, 0, 0, SIZE, SIZE, src, NULL), DSHM_SUCCESS);
	for (int i = 0; i < N; i++)
		ops[i] = (struct dshm_op){DSHM_OP_READ, 3, 0, 0, SIZE, dst + (size_t)i * SIZE, 0};
	assert_int_equal(dshm_batch(fd, ops, N), DSHM_SUCCESS);
	for (int i = 0; i < N; i++) {
		assert_int_equal(ops[i].status, DSHM_SUCCESS);
		assert_memory_equal(dst + (size_t)i * SIZE, src, SIZE);
	}
	free(src);
	free(dst);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_BOTH(test_a_thousand_writes_then_reads_in_one_batch_each),
		TEST_BOTH(test_each_op_has_its_own_status_and_order_holds),
		TEST_ONE(test_more_replies_than_the_server_buffers_flow_without_a_deadlock),
	};

	return cmocka_run_group_tests_name("batch", tests, NULL, NULL);
}
