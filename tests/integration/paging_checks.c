/*
 * paging_checks.c — the paging tests' shared checks (see paging_checks.h).
 */
#include "paging_checks.h"

#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dshm.h"

int
open_conn(const char *addr)
{
	int fd = dshm_connect(addr);

	assert_true(fd >= 0);
	return fd;
}

void
fill_pattern(unsigned char *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(i * 7 + seed * 13 + (i >> 8));
}

bool
reads_back(int fd, int pid, int page, int offset, const void *want, int size)
{
	t_read_response *r = memory_read(fd, pid, page, offset, size, NULL);
	bool ok = r != NULL && r->exec_code == DSHM_SUCCESS && r->buffer_size == size &&
		  memcmp(r->buffer, want, (size_t)size) == 0;

	if (r != NULL)
		free(r->buffer);
	free(r);
	return ok;
}

void
expect_read(int fd, int pid, int page, int offset, const void *want, int size)
{
	t_read_response *r = memory_read(fd, pid, page, offset, size, NULL);

	assert_non_null(r);
	assert_int_equal(r->exec_code, DSHM_SUCCESS);
	assert_int_equal(r->buffer_size, size);
	assert_non_null(r->buffer);
	assert_memory_equal(r->buffer, want, (size_t)size);
	free(r->buffer);
	free(r);
}

void
expect_zeros(int fd, int pid, int page, int offset, int size)
{
	unsigned char *zeros = calloc(1, (size_t)size + 1);

	assert_non_null(zeros);
	expect_read(fd, pid, page, offset, zeros, size);
	free(zeros);
}

void
expect_read_error(int fd, int pid, int page, int offset, int size, int code)
{
	t_read_response *r = memory_read(fd, pid, page, offset, size, NULL);

	assert_non_null(r);
	assert_int_equal(r->exec_code, code);
	assert_int_equal(r->buffer_size, 0);
	assert_null(r->buffer);
	free(r);
}

uint64_t
frames_free(const struct fixture *f)
{
	struct proto_hello h;

	assert_true(raw_hello(f->addr, &h));
	return h.frames_free;
}
