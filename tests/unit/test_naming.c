/*
 * test_naming.c — the names every dshm program must agree on: HOST:PORT
 * parsing, the System V key of a socket path, the default socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "naming.h"

static bool
split(const char *addr, char *host, char *port)
{
	return naming_split_hostport(addr, host, 64, port, 16);
}

static void
test_split_accepts_ipv4_and_port(void **state)
{
	char host[64], port[16];

	(void)state;
	assert_true(split("127.0.0.1:8080", host, port));
	assert_string_equal(host, "127.0.0.1");
	assert_string_equal(port, "8080");
}

static void
test_split_accepts_bracketed_ipv6_and_strips_brackets(void **state)
{
	char host[64], port[16];

	(void)state;
	assert_true(split("[::1]:9", host, port));
	assert_string_equal(host, "::1");
	assert_string_equal(port, "9");
	assert_true(split("[fe80::1%eth0]:65535", host, port));
	assert_string_equal(host, "fe80::1%eth0");
	assert_string_equal(port, "65535");
}

static void
test_split_accepts_host_name(void **state)
{
	char host[64], port[16];

	(void)state;
	assert_true(split("localhost:1", host, port));
	assert_string_equal(host, "localhost");
	assert_string_equal(port, "1");
}

static void
test_split_rejects_missing_port(void **state)
{
	char host[64], port[16];

	(void)state;
	assert_false(split("127.0.0.1", host, port));
	assert_false(split("127.0.0.1:", host, port));
	assert_false(split("[::1]", host, port));
	assert_false(split("[::1]:", host, port));
	assert_false(split("", host, port));
}

static void
test_split_rejects_empty_host(void **state)
{
	char host[64], port[16];

	(void)state;
	assert_false(split(":80", host, port));
	assert_false(split("[]:80", host, port));
}

static void
test_split_rejects_unbracketed_ipv6(void **state)
{
	char host[64], port[16];

	(void)state;
	assert_false(split("::1:80", host, port));
	assert_false(split("fe80::1:80", host, port));
	assert_false(split("[::1:80", host, port)); /* no closing bracket */
	assert_false(split("[::1]80", host, port)); /* no colon after it */
}

static void
test_split_rejects_non_digit_port(void **state)
{
	char host[64], port[16];

	(void)state;
	assert_false(split("localhost:http", host, port));
	assert_false(split("localhost:80a", host, port));
	assert_false(split("localhost:-1", host, port));
	assert_false(split("localhost: 80", host, port));
	assert_false(split("[::1]:8x", host, port));
}

static void
test_split_rejects_parts_that_do_not_fit(void **state)
{
	char host[8], port[4];

	(void)state;
	assert_true(naming_split_hostport("1234567:123", host, sizeof(host), port, sizeof(port)));
	assert_string_equal(host, "1234567");
	assert_string_equal(port, "123");
	assert_false(naming_split_hostport("12345678:1", host, sizeof(host), port, sizeof(port)));
	assert_false(naming_split_hostport("h:1234", host, sizeof(host), port, sizeof(port)));
	assert_false(naming_split_hostport("[1:2:3:4:5]:1", host, sizeof(host), port,
					   sizeof(port)));
}

/* FNV-1a of the path, folded to 24 bits, with 0x64 on top: what naming.c promises. */
static key_t
expected_key(const char *abs)
{
	uint32_t h = 2166136261u;

	for (const char *p = abs; *p != '\0'; p++) {
		h ^= (unsigned char)*p;
		h *= 16777619u;
	}
	h = (h ^ (h >> 24)) & 0x00ffffffu;
	return (key_t)(0x64000000u | (h == 0 ? 1 : h));
}

static void
test_key_is_stable_across_calls_and_builds(void **state)
{
	const char *path = "/run/user/1000/dshm.sock";

	(void)state;
	assert_int_equal(naming_key_for_socket(path), naming_key_for_socket(path));
	assert_int_equal(naming_key_for_socket(path), expected_key(path));
	assert_int_equal(naming_key_for_socket("/tmp/dshm-0.sock"), expected_key("/tmp/dshm-0.sock"));
}

static void
test_key_has_0x64_in_top_byte_and_is_never_ipc_private(void **state)
{
	static const char *paths[] = {"/", "/a", "/tmp/dshm-1000.sock", "/x/y/z", "/tmp/dshm.sock"};

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		key_t k = naming_key_for_socket(paths[i]);

		assert_int_equal(((uint32_t)k >> 24), 0x64);
		assert_int_not_equal(k, IPC_PRIVATE);
		assert_int_not_equal((uint32_t)k & 0x00ffffffu, 0);
	}
}

static void
test_key_differs_for_different_paths(void **state)
{
	(void)state;
	assert_int_not_equal(naming_key_for_socket("/tmp/a.sock"), naming_key_for_socket("/tmp/b.sock"));
	assert_int_not_equal(naming_key_for_socket("/tmp/a.sock"), naming_key_for_socket("/tmp/a.soc"));
}

static void
test_key_of_relative_path_is_key_of_its_absolute_path(void **state)
{
	char old[PATH_MAX], dir[] = "/tmp/dshm-naming.XXXXXX", abs[PATH_MAX + 32], cwd[PATH_MAX];

	(void)state;
	assert_non_null(getcwd(old, sizeof(old)));
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chdir(dir), 0);
	assert_non_null(getcwd(cwd, sizeof(cwd))); /* /tmp may be a symlink */
	snprintf(abs, sizeof(abs), "%s/dshm.sock", cwd);
	assert_int_equal(naming_key_for_socket("dshm.sock"), naming_key_for_socket(abs));
	assert_int_equal(naming_key_for_socket("dshm.sock"), expected_key(abs));
	/* regression: "./x" and "x" are one socket, so they have one key */
	assert_int_equal(naming_key_for_socket("./dshm.sock"), naming_key_for_socket(abs));
	snprintf(abs, sizeof(abs), "%s/sub/s", cwd);
	assert_int_equal(naming_key_for_socket("sub/s"), naming_key_for_socket(abs));
	assert_int_equal(chdir(old), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_default_socket_of_root_is_in_run_whatever_xdg_says(void **state)
{
	char out[128];

	(void)state;
	assert_true(naming_default_socket_for(0, "/run/user/0", out, sizeof(out)));
	assert_string_equal(out, "/run/dshm/dshm.sock");
	assert_true(naming_default_socket_for(0, NULL, out, sizeof(out)));
	assert_string_equal(out, "/run/dshm/dshm.sock");
}

static void
test_default_socket_of_a_user_honours_xdg_runtime_dir(void **state)
{
	char out[128];

	(void)state;
	assert_true(naming_default_socket_for(4242, "/run/user/4242", out, sizeof(out)));
	assert_string_equal(out, "/run/user/4242/dshm.sock");
}

static void
test_default_socket_of_a_user_without_xdg_is_in_a_directory_of_its_own(void **state)
{
	char out[128];

	(void)state;
	assert_true(naming_default_socket_for(4242, NULL, out, sizeof(out)));
	assert_string_equal(out, "/tmp/dshm-4242/dshm.sock");
	/* an empty or relative XDG_RUNTIME_DIR is ignored */
	assert_true(naming_default_socket_for(4242, "", out, sizeof(out)));
	assert_string_equal(out, "/tmp/dshm-4242/dshm.sock");
	assert_true(naming_default_socket_for(4242, "run/user", out, sizeof(out)));
	assert_string_equal(out, "/tmp/dshm-4242/dshm.sock");
}

static void
test_default_socket_that_does_not_fit_is_refused(void **state)
{
	char out[32];

	(void)state;
	/* "/run/user/4242/dshm.sock" is 24 characters: 24 bytes leave no room for the NUL */
	assert_false(naming_default_socket_for(4242, "/run/user/4242", out, 24));
	assert_true(naming_default_socket_for(4242, "/run/user/4242", out, 25));
	assert_string_equal(out, "/run/user/4242/dshm.sock");
}

/*
 * The private directory of a default socket: made when missing; refused
 * when another user's, writable by others, or a symlink; other
 * directories are not its business.
 */
static void
test_a_default_sockets_directory_must_be_our_own(void **state)
{
	char dir[64], sock[96], err[256], target[64];

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/dshm-%u", (unsigned)geteuid());
	snprintf(sock, sizeof(sock), "%s/dshm.sock", dir);
	if (rmdir(dir) != 0 && errno != ENOENT)
		skip(); /* a server of this user is using it */
	assert_true(naming_private_dir(sock, err, sizeof(err)));
	assert_int_equal(access(dir, F_OK), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	assert_false(naming_private_dir(sock, err, sizeof(err)));
	assert_non_null(strstr(err, "writable by nobody else"));
	assert_int_equal(rmdir(dir), 0);
	snprintf(target, sizeof(target), "/tmp");
	assert_int_equal(symlink(target, dir), 0);
	assert_false(naming_private_dir(sock, err, sizeof(err)));
	assert_non_null(strstr(err, "a symlink"));
	assert_int_equal(unlink(dir), 0);
	assert_true(naming_private_dir("/somewhere/else/dshm.sock", err, sizeof(err)));
}

/* Another user made a user's /tmp/dshm-UID first: that user's dshmd will not use it. */
static void
test_a_default_sockets_directory_made_by_another_user_is_refused(void **state)
{
	const uid_t victim = 65534;
	char dir[64], sock[96];
	pid_t pid;
	int status;

	(void)state;
	if (geteuid() != 0)
		skip(); /* making a directory for another uid takes root */
	snprintf(dir, sizeof(dir), "/tmp/dshm-%u", (unsigned)victim);
	snprintf(sock, sizeof(sock), "%s/dshm.sock", dir);
	if (mkdir(dir, 0700) != 0)
		skip(); /* it exists: somebody's, not ours to play with */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256];

		if (setuid(victim) != 0)
			_exit(2);
		_exit(!naming_private_dir(sock, err, sizeof(err)) && strstr(err, "uid 0") != NULL ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(rmdir(dir), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_keys_parse_as_the_tools_and_dshmd_take_them(void **state)
{
	key_t k;

	(void)state;
	assert_true(naming_parse_key("0x5eed0001", &k));
	assert_int_equal(k, 0x5eed0001);
	assert_true(naming_parse_key("1234", &k));
	assert_int_equal(k, 1234);
	/* All 32 bits, as unsigned hex or as the negative number ipcs prints for it. */
	assert_true(naming_parse_key("0xffffffff", &k));
	assert_int_equal(k, -1);
	assert_true(naming_parse_key("-2", &k));
	assert_int_equal(k, -2);
	assert_true(naming_parse_key("0", &k)); /* IPC_PRIVATE: the caller decides */
	assert_int_equal(k, 0);
	assert_false(naming_parse_key("0x100000000", &k));
	assert_false(naming_parse_key("-2147483649", &k));
	assert_false(naming_parse_key("12abc", &k));
	assert_false(naming_parse_key("", &k));
	assert_false(naming_parse_key("key", &k));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_accepts_ipv4_and_port),
		cmocka_unit_test(test_split_accepts_bracketed_ipv6_and_strips_brackets),
		cmocka_unit_test(test_split_accepts_host_name),
		cmocka_unit_test(test_split_rejects_missing_port),
		cmocka_unit_test(test_split_rejects_empty_host),
		cmocka_unit_test(test_split_rejects_unbracketed_ipv6),
		cmocka_unit_test(test_split_rejects_non_digit_port),
		cmocka_unit_test(test_split_rejects_parts_that_do_not_fit),
		cmocka_unit_test(test_key_is_stable_across_calls_and_builds),
		cmocka_unit_test(test_key_has_0x64_in_top_byte_and_is_never_ipc_private),
		cmocka_unit_test(test_key_differs_for_different_paths),
		cmocka_unit_test(test_key_of_relative_path_is_key_of_its_absolute_path),
		cmocka_unit_test(test_default_socket_of_root_is_in_run_whatever_xdg_says),
		cmocka_unit_test(test_default_socket_of_a_user_honours_xdg_runtime_dir),
		cmocka_unit_test(test_default_socket_of_a_user_without_xdg_is_in_a_directory_of_its_own),
		cmocka_unit_test(test_default_socket_that_does_not_fit_is_refused),
		cmocka_unit_test(test_a_default_sockets_directory_must_be_our_own),
		cmocka_unit_test(test_a_default_sockets_directory_made_by_another_user_is_refused),
		cmocka_unit_test(test_keys_parse_as_the_tools_and_dshmd_take_them),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
