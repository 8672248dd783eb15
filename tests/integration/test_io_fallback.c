/*
 * test_io_fallback.c — dshmd where io_uring is refused: a seccomp filter
 * (as a container's default profile may have) fails io_uring_setup with
 * ENOSYS in dshmd and everything it forks.  --io auto says why in its
 * log and serves on epoll; --io uring refuses to start and names the
 * cause; --io epoll does not ask.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

/*
 * The exec hook: io_uring_setup fails with ENOSYS from now on.  Only the
 * system call's number is looked at; dshmd runs on the test's own
 * architecture.
 */
static void
refuse_io_uring(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(filter) / sizeof(filter[0]), filter};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
		_exit(125);
}

static int
setup(void **state)
{
	server_set_exec_hook(refuse_io_uring);
	return fixture_prepare_unix(state);
}

static int
teardown(void **state)
{
	server_set_exec_hook(NULL);
	return fixture_teardown(state);
}

static void
test_auto_serves_on_epoll_and_says_why(void **state)
{
	struct fixture *f = *state;
	unsigned char page[4096];
	t_read_response *r;
	int fd;

	assert_int_equal(fixture_start(f, "--io", "auto", NULL), 0);
	assert_true(server_log_has(&f->srv, "io: epoll (io_uring is not available: "));
	/* It serves: a write and the read of it, through a worker on the epoll loop. */
	for (size_t i = 0; i < sizeof(page); i++)
		page[i] = (unsigned char)(i * 7);
	assert_true((fd = dshm_connect(f->addr)) >= 0);
	assert_int_equal(memory_init_process(fd, 4242, 1, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 4242, 0, 0, sizeof(page), sizeof(page), page, NULL),
			 DSHM_SUCCESS);
	assert_non_null(r = memory_read(fd, 4242, 0, 0, sizeof(page), NULL));
	assert_int_equal(r->exec_code, DSHM_SUCCESS);
	assert_memory_equal(r->buffer, page, sizeof(page));
	free(r->buffer);
	free(r);
	assert_int_equal(memory_finalize_process(fd, 4242, NULL), DSHM_SUCCESS);
	close(fd);
}

static void
test_uring_refuses_to_start_and_names_the_cause(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(server_spawn(&f->srv, "--io", "uring", NULL), 0);
	assert_int_not_equal(server_wait_exit(&f->srv, HARNESS_READY_MS), 0);
	assert_true(server_log_has(&f->srv, "--io uring: io_uring is not available here: "));
	assert_true(server_log_has(&f->srv, "seccomp"));
	assert_false(server_log_has(&f->srv, "ready: "));
}

static void
test_epoll_does_not_ask_for_io_uring(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(fixture_start(f, "--io", "epoll", NULL), 0);
	assert_true(server_log_has(&f->srv, "io: epoll (--io epoll)"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_auto_serves_on_epoll_and_says_why, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uring_refuses_to_start_and_names_the_cause, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_epoll_does_not_ask_for_io_uring, setup, teardown),
	};

	return cmocka_run_group_tests_name("io_uring refused", tests, NULL, NULL);
}
