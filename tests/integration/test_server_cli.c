/*
 * test_server_cli.c — dshmd's command line: --help names every option, --version, and each malformed
 * option a usage error (exit 2) with a message.
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

/* ---- the command line ----------------------------------------------------- */

static void
test_help_exits_0_and_mentions_every_option(void **state)
{
	static const char *const options[] = {
		"--listen", "--unix", "--memory", "--frame-size", "--workers", "--key",
		"--max-processes", "--pidfile", "--log-level", "--help", "--version", "--persist",
		"--max-connections", "--max-connections-per-worker", "--idle-timeout", "--max-data",
		"--auth-file", "--unix-group",
	};
	struct server s;
	char *out, *err;

	(void)state;
	assert_int_equal(server_spawn(&s, "--help", NULL), 0);
	assert_int_equal(server_wait_exit(&s, HARNESS_STOP_MS), 0);
	out = server_stdout(&s);
	err = server_log(&s);
	assert_non_null(strstr(out, "usage: dshmd"));
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		if (strstr(out, options[i]) == NULL)
			fail_msg("--help does not mention %s", options[i]);
	assert_string_equal(err, "");
	free(out);
	free(err);
	server_destroy(&s);
}

static void
test_version_exits_0_and_prints_the_version(void **state)
{
	struct server s;
	char *out;

	(void)state;
	assert_int_equal(server_spawn(&s, "--version", NULL), 0);
	assert_int_equal(server_wait_exit(&s, HARNESS_STOP_MS), 0);
	out = server_stdout(&s);
	assert_string_equal(out, "dshmd " DSHM_VERSION "\n");
	free(out);
	server_destroy(&s);
}

/*
 * Runs dshmd with one bad option and checks the usage contract: exit 2,
 * one line on stderr that starts "dshmd: " and names what was wrong, and
 * nothing made (no socket, no segment at the key the path would give).
 */
static void
expect_usage_error(const char *opt, const char *value, const char *mention)
{
	struct server s;
	char *err;

	assert_int_equal(server_spawn(&s, opt, value, NULL), 0);
	assert_int_equal(server_wait_exit(&s, HARNESS_STOP_MS), 2);
	err = server_log(&s);
	if (count_occurrences(err, "\n") != 1 || strncmp(err, "dshmd: ", 7) != 0 ||
	    strstr(err, mention) == NULL)
		fail_msg("%s %s: expected one line naming '%s', got: %s", opt, value ? value : "",
			 mention, err);
	free(err);
	assert_false(file_exists(s.unix_path));
	assert_false(segment_exists(naming_key_for_socket(s.unix_path)));
	server_destroy(&s);
}

static void
test_memory_that_is_not_a_size_is_a_usage_error(void **state)
{
	(void)state;
	expect_usage_error("--memory", "abc", "--memory: 'abc'");
}

static void
test_frame_size_not_a_power_of_two_is_a_usage_error(void **state)
{
	(void)state;
	expect_usage_error("--frame-size", "100", "--frame-size: '100'");
}

static void
test_frame_size_below_64_is_a_usage_error(void **state)
{
	(void)state;
	expect_usage_error("--frame-size", "32", "--frame-size: '32'");
}

static void
test_zero_workers_is_a_usage_error(void **state)
{
	(void)state;
	expect_usage_error("--workers", "0", "--workers: '0'");
}

static void
test_listen_that_is_not_host_port_is_a_usage_error(void **state)
{
	(void)state;
	expect_usage_error("--listen", "nonsense", "--listen: 'nonsense'");
}

static void
test_key_0_is_a_usage_error(void **state)
{
	(void)state;
	expect_usage_error("--key", "0", "--key: '0'");
}

static void
test_unknown_option_is_a_usage_error(void **state)
{
	(void)state;
	expect_usage_error("--bogus", NULL, "'--bogus'");
}

static void
test_memory_smaller_than_a_frame_is_a_usage_error(void **state)
{
	(void)state;
	expect_usage_error("--memory", "1K", "--memory");
}

static void
test_unknown_log_level_is_a_usage_error(void **state)
{
	(void)state;
	expect_usage_error("--log-level", "loud", "--log-level: 'loud'");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_exits_0_and_mentions_every_option),
		cmocka_unit_test(test_version_exits_0_and_prints_the_version),
		cmocka_unit_test(test_memory_that_is_not_a_size_is_a_usage_error),
		cmocka_unit_test(test_frame_size_not_a_power_of_two_is_a_usage_error),
		cmocka_unit_test(test_frame_size_below_64_is_a_usage_error),
		cmocka_unit_test(test_zero_workers_is_a_usage_error),
		cmocka_unit_test(test_listen_that_is_not_host_port_is_a_usage_error),
		cmocka_unit_test(test_key_0_is_a_usage_error),
		cmocka_unit_test(test_unknown_option_is_a_usage_error),
		cmocka_unit_test(test_memory_smaller_than_a_frame_is_a_usage_error),
		cmocka_unit_test(test_unknown_log_level_is_a_usage_error),
	};

	return cmocka_run_group_tests_name("server cli", tests, NULL, NULL);
}
