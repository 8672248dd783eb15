/*
 * test_connect_errors.c — a connection that fails says why: a malformed
 * address is DSHM_BAD_ADDRESS (EINVAL for the segment calls), not a
 * server gone; every failure leaves dshm_last_error naming the address
 * and the cause; a connection that works clears it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

static void
expect_error(const char *needle)
{
	if (strstr(dshm_last_error(), needle) == NULL)
		fail_msg("dshm_last_error() is \"%s\", without \"%s\"", dshm_last_error(), needle);
}

static void
test_malformed_addresses_are_bad_addresses(void **state)
{
	static const char *const bad[] = {"http://x", "127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:", "nohostport",
					  "unix:"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = dshm_connect(bad[i]);

		if (rc != DSHM_BAD_ADDRESS)
			fail_msg("dshm_connect(\"%s\") is %d: %s", bad[i], rc, dshm_last_error());
		expect_error("bad address");
		expect_error(bad[i]);
	}
	expect_error("a Unix socket's path"); /* "unix:" was the last */
	assert_int_equal(dshm_connect("127.0.0.1:65536"), DSHM_BAD_ADDRESS);
	expect_error("the port is not a number from 1 to 65535");
	assert_non_null(strstr(dshm_strerror(DSHM_BAD_ADDRESS), "bad server address"));
	/* The segment calls: EINVAL, and the same text. */
	assert_int_equal(dshm_set_server("http://x"), 0);
	errno = 0;
	assert_int_equal(dshm_shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600), -1);
	assert_int_equal(errno, EINVAL);
	expect_error("bad address http://x");
	assert_int_equal(dshm_set_server(NULL), 0);
}

static void
test_no_server_there_names_the_path_and_the_errno(void **state)
{
	int fd = -1;

	(void)state;
	assert_int_equal(dshm_connect("unix:/nonexistent/dir/dshm.sock"), DSHM_DISCONNECTED_SERVER);
	expect_error("cannot connect to unix:/nonexistent/dir/dshm.sock: No such file or directory "
		     "(is dshmd running?)");
	/* handshake connects to $DSHM_SERVER the same way. */
	assert_int_equal(setenv("DSHM_SERVER", "unix:/nonexistent/dir/other.sock", 1), 0);
	assert_int_equal(handshake(&fd, NULL), DSHM_DISCONNECTED_SERVER);
	assert_int_equal(unsetenv("DSHM_SERVER"), 0);
	expect_error("unix:/nonexistent/dir/other.sock");
	expect_error("the address is $DSHM_SERVER's");
}

static void
test_a_refused_port_names_the_address(void **state)
{
	struct fixture *f = *state;
	char addr[64];

	/* A port of the fixture's that nobody listens on any more: the server is stopped. */
	snprintf(addr, sizeof(addr), "%s", f->srv.tcp_addr);
	assert_int_equal(server_stop(&f->srv), 0);
	assert_int_equal(dshm_connect(addr), DSHM_DISCONNECTED_SERVER);
	expect_error("cannot connect to ");
	expect_error(addr);
	expect_error("Connection refused");
}

static void
test_a_connection_that_works_clears_the_error(void **state)
{
	struct fixture *f = *state;
	int fd;

	assert_int_equal(dshm_connect("http://x"), DSHM_BAD_ADDRESS);
	assert_true((fd = dshm_connect(f->addr)) >= 0);
	assert_string_equal(dshm_last_error(), "");
	close(fd);
}

/* A socket this user may not open: the errno says so. */
static int
as_nobody(void *arg)
{
	const char *addr = arg;

	if (setgid(65534) != 0 || setuid(65534) != 0)
		return 10;
	if (dshm_connect(addr) != DSHM_DISCONNECTED_SERVER)
		return 11;
	return strstr(dshm_last_error(), "Permission denied") != NULL ? 0 : 12;
}

static void
test_a_socket_this_user_may_not_open_says_permission_denied(void **state)
{
	struct fixture *f = *state;
	char addr[140];
	pid_t pid;

	if (geteuid() != 0)
		skip();
	/* The fixture's socket: mode 0660, root's group; nobody is neither. */
	snprintf(addr, sizeof(addr), "%s", f->srv.unix_addr);
	assert_true((pid = fork_child(as_nobody, addr)) > 0);
	assert_int_equal(wait_child(pid, HARNESS_STOP_MS), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malformed_addresses_are_bad_addresses),
		cmocka_unit_test(test_no_server_there_names_the_path_and_the_errno),
		TEST_ONE(test_a_refused_port_names_the_address),
		TEST_ONE(test_a_connection_that_works_clears_the_error),
		TEST_ONE(test_a_socket_this_user_may_not_open_says_permission_denied),
	};

	return cmocka_run_group_tests_name("connect errors", tests, NULL, NULL);
}
