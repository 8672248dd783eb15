/*
 * paging_checks.h — what the integration tests of the paging API do the
 * same way: connect or fail the test, fill a buffer with a pattern, read
 * back and compare, and ask the server how many frames are free.
 */
#ifndef DSHM_TESTS_PAGING_CHECKS_H
#define DSHM_TESTS_PAGING_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

/* dshm_connect(addr), failing the test when it cannot. */
int open_conn(const char *addr);

/* A byte pattern that differs at every offset and with every seed. */
void fill_pattern(unsigned char *b, size_t n, unsigned seed);

/* Whether a read of (pid, page, offset, size) returns exactly want. */
bool reads_back(int fd, int pid, int page, int offset, const void *want, int size);

/* Fails the test unless a read of (pid, page, offset, size) succeeds with exactly want. */
void expect_read(int fd, int pid, int page, int offset, const void *want, int size);

/* The same, for size zero bytes. */
void expect_zeros(int fd, int pid, int page, int offset, int size);

/* Fails the test unless that read fails with code and no bytes. */
void expect_read_error(int fd, int pid, int page, int offset, int size, int code);

/* Frames free in f's server, from a HELLO of its own. */
uint64_t frames_free(const struct fixture *f);

#endif /* DSHM_TESTS_PAGING_CHECKS_H */
