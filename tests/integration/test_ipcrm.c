/*
 * test_ipcrm.c — dshm-ipcrm --stale ($DSHM_IPCRM) removes exactly what
 * dead dshmd instances left behind (control table, socket, pidfile) and
 * never anything of a live server or anything that is not dshm's.
 *
 * Assumes root: the harness kills whole server process groups.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

/* Runs dshm-ipcrm with args; returns its exit status and its output in out. */
static int
ipcrm(const char *args, char *out, size_t len)
{
	const char *bin = getenv("DSHM_IPCRM");
	char cmd[512];
	size_t n = 0;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", bin && bin[0] ? bin : "build/asan/dshm-ipcrm",
		 args);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (n + 1 < len && fgets(out + n, (int)(len - n), p) != NULL)
		n += strlen(out + n);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Starts a server with a pidfile in its directory, then kills it whole with SIGKILL. */
static void
crash_a_server(struct fixture *f, char *pidfile, size_t len)
{
	assert_int_equal(fixture_start(f, NULL), 0);
	snprintf(pidfile, len, "%s/dshmd.pid", f->srv.dir);
	server_stop(&f->srv);
	assert_int_equal(fixture_start(f, "--pidfile", pidfile, NULL), 0);
	assert_true(file_exists(pidfile));
	server_kill_group(&f->srv, SIGKILL);
	assert_true(server_wait_group_gone(&f->srv, HARNESS_STOP_MS));
	assert_true(segment_exists(f->srv.key));
	assert_true(file_exists(f->srv.unix_path));
}

static void
test_dry_run_names_a_dead_servers_leftovers_and_removes_nothing(void **state)
{
	struct fixture *f = *state;
	char pidfile[160], out[8192], want[200];

	crash_a_server(f, pidfile, sizeof(pidfile));
	assert_int_equal(ipcrm("--stale --dry-run", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "would remove stale control table key 0x%08x",
		 (unsigned)f->srv.key);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), "would remove stale socket %s", f->srv.unix_path);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), "would remove stale pidfile %s", pidfile);
	assert_non_null(strstr(out, want));
	assert_true(segment_exists(f->srv.key));
	assert_true(file_exists(f->srv.unix_path));
	assert_true(file_exists(pidfile));
}

static void
test_stale_removes_a_dead_servers_table_socket_and_pidfile(void **state)
{
	struct fixture *f = *state;
	char pidfile[160], out[8192], want[200];

	crash_a_server(f, pidfile, sizeof(pidfile));
	assert_int_equal(ipcrm("--stale", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "removed stale control table key 0x%08x",
		 (unsigned)f->srv.key);
	assert_non_null(strstr(out, want));
	assert_false(segment_exists(f->srv.key));
	assert_false(file_exists(f->srv.unix_path));
	assert_false(file_exists(pidfile));
	/* Nothing of it is left to find. */
	assert_int_equal(ipcrm("--stale", out, sizeof(out)), 0);
	assert_null(strstr(out, want));
}

static void
test_stale_leaves_a_live_server_alone(void **state)
{
	struct fixture *f = *state;
	char pidfile[160], out[8192], want[200];
	int fd;

	assert_int_equal(fixture_start(f, NULL), 0);
	snprintf(pidfile, sizeof(pidfile), "%s/dshmd.pid", f->srv.dir);
	server_stop(&f->srv);
	assert_int_equal(fixture_start(f, "--pidfile", pidfile, NULL), 0);
	assert_int_equal(ipcrm("--stale", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "left alone: control table key 0x%08x", (unsigned)f->srv.key);
	assert_non_null(strstr(out, want));
	assert_true(segment_exists(f->srv.key));
	assert_true(file_exists(f->srv.unix_path));
	assert_true(file_exists(pidfile));
	fd = dshm_connect(f->srv.unix_addr);
	assert_int_equal(handshake(&fd, NULL), 4096);
	close(fd);
}

static void
test_stale_leaves_segments_that_are_not_dshm_tables_alone(void **state)
{
	char out[8192];
	key_t key = (key_t)(0x5a000000 | (getpid() & 0xffffff));
	int id = shmget(key, 64, IPC_CREAT | IPC_EXCL | 0600);

	(void)state;
	assert_true(id >= 0);
	assert_int_equal(ipcrm("--stale", out, sizeof(out)), 0);
	assert_int_equal(shmget(key, 0, 0), id);
	shmctl(id, IPC_RMID, NULL);
}

static void
test_bad_usage_exits_2(void **state)
{
	char out[4096];

	(void)state;
	assert_int_equal(ipcrm("", out, sizeof(out)), 2);
	assert_int_equal(ipcrm("--bogus", out, sizeof(out)), 2);
	assert_int_equal(ipcrm("--stale extra", out, sizeof(out)), 2);
	assert_int_equal(ipcrm("--help", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "--dry-run"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_ONE_BARE(test_dry_run_names_a_dead_servers_leftovers_and_removes_nothing),
		TEST_ONE_BARE(test_stale_removes_a_dead_servers_table_socket_and_pidfile),
		TEST_ONE_BARE(test_stale_leaves_a_live_server_alone),
		cmocka_unit_test(test_stale_leaves_segments_that_are_not_dshm_tables_alone),
		cmocka_unit_test(test_bad_usage_exits_2),
	};

	return cmocka_run_group_tests_name("ipcrm", tests, NULL, NULL);
}
