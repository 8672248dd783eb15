/*
 * test_server_start.c — dshmd starting and stopping: the ready line and sd_notify, signals, what a
 * stop leaves behind (nothing), and the refusals when a socket, key, port
 * or pidfile is held by another server; who may connect to the socket.
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

/* ---- start-up ----------------------------------------------------------- */

static void
test_ready_line_names_key_shmid_socket_port_and_workers(void **state)
{
	struct fixture *f = *state;
	pid_t pids[MAX_WORKERS];
	char *log, line[512];

	assert_int_equal(fixture_start(f, "--workers", "3", NULL), 0);
	assert_int_equal(f->srv.key, naming_key_for_socket(f->srv.unix_path));
	assert_int_equal(shmget(f->srv.key, 0, 0), f->srv.shmid);
	assert_true(f->srv.port > 0);
	assert_int_equal(f->srv.workers, 3);
	assert_int_equal(server_workers(&f->srv, pids, MAX_WORKERS), 3);
	snprintf(line, sizeof(line), "info: ready: key 0x%08x shmid %d unix %s tcp 127.0.0.1:%d "
		 "workers 3 frames 16384 x 4096 bytes", (unsigned)f->srv.key, f->srv.shmid,
		 f->srv.unix_path, f->srv.port);
	log = server_log(&f->srv);
	assert_int_equal(count_occurrences(log, line), 1);
	free(log);
	assert_true(serves(&f->srv));
}

/* dshmd tells systemd it is ready through $NOTIFY_SOCKET, once serving. */
static void
test_ready_is_notified_to_the_notify_socket(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char dir[112], buf[256];
	struct pollfd p;
	ssize_t n = -1;
	int fd;

	assert_true(scratch_dir(dir, sizeof(dir)));
	assert_true(strlen(dir) + sizeof("/notify") <= sizeof(sun.sun_path));
	memcpy(sun.sun_path, dir, strlen(dir));
	memcpy(sun.sun_path + strlen(dir), "/notify", sizeof("/notify"));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	setenv("NOTIFY_SOCKET", sun.sun_path, 1);
	assert_int_equal(fixture_start(f, NULL), 0);
	unsetenv("NOTIFY_SOCKET");
	p = (struct pollfd){.fd = fd, .events = POLLIN};
	if (poll(&p, 1, HARNESS_READY_MS) == 1)
		n = recv(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "READY=1"));
	assert_true(serves(&f->srv));
	close(fd);
	remove_tree(dir);
}

static void
test_listen_none_serves_the_unix_socket_only(void **state)
{
	struct fixture *f = *state;
	int fd;

	assert_int_equal(fixture_start(f, "--listen", "none", NULL), 0);
	assert_string_equal(f->srv.tcp_addr, "");
	assert_true(server_log_has(&f->srv, " tcp none workers 2 "));
	fd = open_conn(f->srv.unix_addr);
	assert_int_equal(handshake(&fd, NULL), 4096);
	close(fd);
}

static void
test_sigterm_exits_0_within_5_s_with_idle_clients_and_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	char dir[128], pidfile[160], *text;
	pid_t pids[MAX_WORKERS];
	int fds[4], n;

	/* The pidfile lives in a directory of its own, outside the server's. */
	assert_true(scratch_dir(dir, sizeof(dir)));
	snprintf(pidfile, sizeof(pidfile), "%s/dshmd.pid", dir);
	assert_int_equal(fixture_start(f, "--pidfile", pidfile, NULL), 0);
	text = read_whole_file(pidfile);
	assert_non_null(text);
	assert_int_equal(atoi(text), f->srv.pid);
	free(text);

	for (int i = 0; i < 4; i++) {
		fds[i] = open_conn(i % 2 ? f->srv.tcp_addr : f->srv.unix_addr);
		assert_int_equal(handshake(&fds[i], NULL), 4096);
	}
	n = server_workers(&f->srv, pids, MAX_WORKERS);
	assert_int_equal(n, 2);

	/* server_stop fails unless the stop was clean and within its bound. */
	assert_int_equal(server_stop(&f->srv), 0);
	errno = 0;
	assert_int_equal(shmget(f->srv.key, 0, 0), -1);
	assert_int_equal(errno, ENOENT);
	assert_false(file_exists(f->srv.unix_path));
	assert_false(file_exists(pidfile));
	assert_true(WAIT_UNTIL(all_gone(pids, n), HARNESS_STOP_MS));
	assert_true(server_log_has(&f->srv, "info: stopping on SIGTERM"));
	assert_true(server_log_has(&f->srv, "info: stopped"));
	for (int i = 0; i < 4; i++) {
		assert_int_equal(memory_init_process(fds[i], 1, 1, NULL), DSHM_DISCONNECTED_SERVER);
		close(fds[i]);
	}
	remove_tree(dir);
}

static void
test_sigint_exits_0_and_leaves_nothing(void **state)
{
	struct fixture *f = *state;

	server_kill(&f->srv, SIGINT);
	assert_int_equal(server_wait_exit(&f->srv, HARNESS_STOP_MS), 0);
	assert_false(segment_exists(f->srv.key));
	assert_false(file_exists(f->srv.unix_path));
	assert_true(server_log_has(&f->srv, "info: stopping on SIGINT"));
}

static void
test_sigterm_with_a_half_sent_request_still_exits_0_within_5_s(void **state)
{
	struct fixture *f = *state;
	unsigned char head[PROTO_HEADER_LEN + 16];
	int32_t args[4] = {1, 0, 0, 100};
	int fd = raw_connect(f->srv.unix_addr);

	assert_true(fd >= 0);
	assert_true(server_attach(&f->srv));
	raw_encode(head, OP_PROC_WRITE, 1, 16 + 100, args, 4);
	/* The header and arguments of a write, and none of its data. */
	assert_true(raw_send(fd, head, sizeof(head)));
	assert_true(WAIT_UNTIL(server_bytes_in(&f->srv) == sizeof(head), HARNESS_STOP_MS));
	/* server_stop fails unless the stop was clean and within its bound. */
	assert_int_equal(server_stop(&f->srv), 0);
	assert_false(segment_exists(f->srv.key));
	close(fd);
}

static void
test_second_dshmd_on_the_same_unix_path_refuses_and_the_first_keeps_serving(void **state)
{
	struct fixture *f = *state;
	struct server second;
	char want[200];

	assert_int_equal(server_spawn(&second, "--unix", f->srv.unix_path, NULL), 0);
	assert_int_equal(server_wait_exit(&second, HARNESS_STOP_MS), 3);
	snprintf(want, sizeof(want), "a server already answers on %s", f->srv.unix_path);
	assert_true(server_log_has(&second, want));
	server_destroy(&second);

	assert_true(file_exists(f->srv.unix_path));
	assert_int_equal(shmget(f->srv.key, 0, 0), f->srv.shmid);
	assert_true(serves(&f->srv));
}

static void
test_second_dshmd_on_the_same_key_refuses_and_names_the_key_and_shmid(void **state)
{
	struct fixture *f = *state;
	struct server second;
	char key[16], want[64];

	snprintf(key, sizeof(key), "0x%08x", (unsigned)f->srv.key);
	assert_int_equal(server_spawn(&second, "--key", key, NULL), 0);
	assert_int_equal(server_wait_exit(&second, HARNESS_STOP_MS), 3);
	snprintf(want, sizeof(want), "key %s (shmid %d", key, f->srv.shmid);
	if (!server_log_has(&second, want)) {
		server_print_log(&second);
		fail_msg("the refusal does not name '%s'", want);
	}
	assert_false(file_exists(second.unix_path));
	server_destroy(&second);

	assert_int_equal(shmget(f->srv.key, 0, 0), f->srv.shmid);
	assert_true(serves(&f->srv));
}

static void
test_dshmd_on_a_served_tcp_port_refuses_and_leaves_the_first_alone(void **state)
{
	struct fixture *f = *state;
	struct server second;
	char want[160];

	assert_int_equal(server_spawn(&second, "--listen", f->srv.tcp_addr, NULL), 0);
	assert_int_equal(server_wait_exit(&second, HARNESS_STOP_MS), 3);
	snprintf(want, sizeof(want), "bind/listen(%s): Address already in use", f->srv.tcp_addr);
	if (!server_log_has(&second, want)) {
		server_print_log(&second);
		fail_msg("the refusal does not say '%s'", want);
	}
	/* It removed everything it had made. */
	assert_false(segment_exists(naming_key_for_socket(second.unix_path)));
	assert_false(file_exists(second.unix_path));
	server_destroy(&second);

	assert_true(serves(&f->srv));
	assert_int_equal(shmget(f->srv.key, 0, 0), f->srv.shmid);
}

static void
test_pidfile_held_by_a_running_dshmd_refuses_a_second(void **state)
{
	struct fixture *f = *state;
	struct server second;
	char dir[128], pidfile[160], want[256], *text;

	assert_true(scratch_dir(dir, sizeof(dir)));
	snprintf(pidfile, sizeof(pidfile), "%s/dshmd.pid", dir);
	assert_int_equal(fixture_start(f, "--pidfile", pidfile, NULL), 0);
	assert_int_equal(server_spawn(&second, "--pidfile", pidfile, NULL), 0);
	assert_int_equal(server_wait_exit(&second, HARNESS_STOP_MS), 3);
	snprintf(want, sizeof(want), "pidfile %s is held by a running dshmd (pid %d)", pidfile,
		 (int)f->srv.pid);
	assert_true(server_log_has(&second, want));
	server_destroy(&second);

	text = read_whole_file(pidfile);
	assert_non_null(text);
	assert_int_equal(atoi(text), f->srv.pid);
	free(text);
	assert_true(serves(&f->srv));
	assert_int_equal(server_stop(&f->srv), 0);
	assert_false(file_exists(pidfile));
	remove_tree(dir);
}

static void
test_stale_socket_file_is_replaced(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char dir[128];
	int fd;

	assert_true(scratch_dir(dir, sizeof(dir)));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%.90s/stale.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd); /* the file stays, and nobody listens on it */
	assert_true(file_exists(sun.sun_path));

	assert_int_equal(fixture_start(f, "--unix", sun.sun_path, NULL), 0);
	assert_true(serves(&f->srv));
	assert_int_equal(server_stop(&f->srv), 0);
	assert_false(file_exists(sun.sun_path));
	remove_tree(dir);
}

static void
test_unix_path_that_is_not_a_socket_refuses_and_is_kept(void **state)
{
	struct server s;
	char dir[128], path[160], *text;
	FILE *file;

	(void)state;
	assert_true(scratch_dir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/plain-file", dir);
	file = fopen(path, "w");
	assert_non_null(file);
	fputs("keep me\n", file);
	fclose(file);

	assert_int_equal(server_spawn(&s, "--unix", path, NULL), 0);
	assert_int_equal(server_wait_exit(&s, HARNESS_STOP_MS), 3);
	assert_true(server_log_has(&s, "exists and is not a socket"));
	text = read_whole_file(path);
	assert_non_null(text);
	assert_string_equal(text, "keep me\n");
	free(text);
	server_destroy(&s);
	remove_tree(dir);
}

static void
test_after_kill_9_of_master_and_workers_a_new_dshmd_removes_the_stale_segment(void **state)
{
	struct fixture *f = *state;
	struct server first;
	struct shmid_ds ds;
	pid_t pids[MAX_WORKERS];
	char want[128];
	int n, fd;

	assert_int_equal(server_start(&first, NULL), 0);
	n = server_workers(&first, pids, MAX_WORKERS);
	assert_int_equal(n, 2);
	server_kill_group(&first, SIGKILL);
	assert_int_equal(server_wait_exit(&first, HARNESS_STOP_MS), 128 + SIGKILL);
	assert_true(WAIT_UNTIL(all_gone(pids, n), HARNESS_STOP_MS));
	/* What a crash leaves: the segment, attached by nobody, and the socket file. */
	assert_int_equal(shmctl(first.shmid, IPC_STAT, &ds), 0);
	assert_int_equal(ds.shm_nattch, 0);
	assert_true(file_exists(first.unix_path));

	assert_int_equal(fixture_start(f, "--unix", first.unix_path, NULL), 0);
	assert_int_equal(f->srv.key, first.key);
	assert_int_not_equal(f->srv.shmid, first.shmid);
	snprintf(want, sizeof(want), "removing the stale control table at key 0x%08x (shmid %d, "
		 "made by pid %d, nobody attached)", (unsigned)first.key, first.shmid,
		 (int)first.pid);
	if (!server_log_has(&f->srv, want)) {
		server_print_log(&f->srv);
		fail_msg("the log does not say '%s'", want);
	}
	errno = 0;
	assert_int_equal(shmctl(first.shmid, IPC_STAT, &ds), -1);
	assert_true(serves(&f->srv));
	fd = open_conn(f->srv.unix_addr);
	assert_int_equal(memory_init_process(fd, 1, 1, NULL), DSHM_SUCCESS);
	close(fd);
	assert_int_equal(server_stop(&f->srv), 0);
	server_destroy(&first);
}

/* In a child with the given ids: whether it may connect to the socket. */
struct as_ids {
	const char *path;
	gid_t gid;
	uid_t uid;
};

static int
connect_as(void *arg)
{
	const struct as_ids *a = arg;
	int fd;

	if (setgroups(0, NULL) != 0 || setgid(a->gid) != 0 || setuid(a->uid) != 0)
		return 10;
	fd = raw_connect(a->path);
	if (fd < 0)
		return 1;
	close(fd);
	return 0;
}

static void
test_unix_group_lets_that_group_connect_and_nobody_else(void **state)
{
	struct fixture *f = *state;
	struct as_ids member, stranger;
	char dir[sizeof(f->srv.dir)], *slash;
	struct stat st;

	assert_int_equal(fixture_start(f, "--unix-group", "65534", NULL), 0);
	assert_int_equal(stat(f->srv.unix_path, &st), 0);
	assert_int_equal(st.st_gid, 65534);
	assert_int_equal(st.st_mode & 0777, 0660);
	/* The directories may be passed through; the socket's own mode decides. */
	snprintf(dir, sizeof(dir), "%s", f->srv.dir);
	assert_int_equal(chmod(dir, 0711), 0);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		chmod(dir, 0711);
	}
	member = (struct as_ids){f->srv.unix_addr, 65534, 4321};
	stranger = (struct as_ids){f->srv.unix_addr, 4321, 4321};
	assert_int_equal(wait_child(fork_child(connect_as, &member), HARNESS_STOP_MS), 0);
	assert_int_equal(wait_child(fork_child(connect_as, &stranger), HARNESS_STOP_MS), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_ONE_BARE(test_ready_line_names_key_shmid_socket_port_and_workers),
		TEST_ONE_BARE(test_ready_is_notified_to_the_notify_socket),
		TEST_ONE_BARE(test_listen_none_serves_the_unix_socket_only),
		TEST_ONE_BARE(test_sigterm_exits_0_within_5_s_with_idle_clients_and_leaves_nothing),
		TEST_ONE(test_sigint_exits_0_and_leaves_nothing),
		TEST_ONE(test_sigterm_with_a_half_sent_request_still_exits_0_within_5_s),
		TEST_ONE(test_second_dshmd_on_the_same_unix_path_refuses_and_the_first_keeps_serving),
		TEST_ONE(test_second_dshmd_on_the_same_key_refuses_and_names_the_key_and_shmid),
		TEST_ONE(test_dshmd_on_a_served_tcp_port_refuses_and_leaves_the_first_alone),
		TEST_ONE_BARE(test_pidfile_held_by_a_running_dshmd_refuses_a_second),
		TEST_ONE_BARE(test_stale_socket_file_is_replaced),
		cmocka_unit_test(test_unix_path_that_is_not_a_socket_refuses_and_is_kept),
		TEST_ONE_BARE(test_after_kill_9_of_master_and_workers_a_new_dshmd_removes_the_stale_segment),
		TEST_ONE_BARE(test_unix_group_lets_that_group_connect_and_nobody_else),
	};

	return cmocka_run_group_tests_name("server start", tests, NULL, NULL);
}
