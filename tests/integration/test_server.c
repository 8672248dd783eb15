/*
 * test_server.c — dshmd as a program: its command line, start-up and
 * refusals, signals, worker supervision, concurrency, and what clients
 * see when connections or the server go away.
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
#include "naming.h"

#define MAX_WORKERS 16

/* One HELLO over each transport of s answers. */
static bool
serves(const struct server *s)
{
	struct proto_hello h;

	return raw_hello(s->unix_addr, &h) && h.frame_size == 4096 &&
	       (s->tcp_addr[0] == '\0' || raw_hello(s->tcp_addr, &h));
}

static bool
contains_pid(const pid_t *pids, int n, pid_t pid)
{
	for (int i = 0; i < n; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

static bool
all_gone(const pid_t *pids, int n)
{
	for (int i = 0; i < n; i++)
		if (pid_alive(pids[i]))
			return false;
	return true;
}

/* Whether the master of s has n live workers and none of them is old. */
static bool
workers_replaced(const struct server *s, int n, pid_t old)
{
	pid_t now[MAX_WORKERS];
	int k = server_workers(s, now, MAX_WORKERS);

	return k == n && !contains_pid(now, k, old);
}

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

/* ---- workers ------------------------------------------------------------ */

/* Whether a command line (NULs made spaces) begins with the title want, as a whole word. */
static bool
title_is(const char *cmdline, const char *want)
{
	size_t n = strlen(want);

	return strncmp(cmdline, want, n) == 0 && (cmdline[n] == ' ' || cmdline[n] == '\0');
}

static void
test_process_titles_name_the_master_and_each_worker(void **state)
{
	struct fixture *f = *state;
	pid_t pids[MAX_WORKERS];
	char title[256];
	bool seen[3] = {false, false, false};
	int n = server_workers(&f->srv, pids, MAX_WORKERS);

	assert_true(proc_cmdline(f->srv.pid, title, sizeof(title)));
	assert_true(title_is(title, "dshmd: master"));
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++) {
		assert_true(proc_cmdline(pids[i], title, sizeof(title)));
		if (title_is(title, "dshmd: worker 1"))
			seen[1] = true;
		else if (title_is(title, "dshmd: worker 2"))
			seen[2] = true;
		else
			fail_msg("worker %d has the title '%s'", (int)pids[i], title);
	}
	assert_true(seen[1] && seen[2]);
}

/* The index of the worker slot that holds exactly one connection, or -1. */
static int
slot_with_one_conn(const struct server *s)
{
	int found = -1;

	for (uint32_t i = 0; i < s->table.hdr->nworkers; i++) {
		uint64_t c = atomic_load(&s->table.workers[i].conns_now);

		if (c == 1 && found < 0)
			found = (int)i;
		else if (c != 0)
			return -1;
	}
	return found;
}

static void
test_killed_worker_is_respawned_and_clients_keep_working(void **state)
{
	struct fixture *f = *state;
	unsigned char data[5000];
	pid_t pids[MAX_WORKERS], held, other;
	char want[96];
	int fd, slot, fd2;

	fill_pattern(data, sizeof(data), 1);
	assert_true(server_attach(&f->srv));
	fd = open_conn(f->srv.unix_addr);
	assert_int_equal(memory_init_process(fd, 7, 2, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 7, 0, 100, 5000, 5000, data, NULL), DSHM_SUCCESS);
	slot = slot_with_one_conn(&f->srv);
	assert_true(slot >= 0);
	held = atomic_load(&f->srv.table.workers[slot].pid);
	assert_int_equal(server_workers(&f->srv, pids, MAX_WORKERS), 2);
	assert_true(contains_pid(pids, 2, held));
	other = pids[0] == held ? pids[1] : pids[0];

	/* Kill the worker that does not hold our connection. */
	assert_int_equal(kill(other, SIGKILL), 0);
	snprintf(want, sizeof(want), "(pid %d) was killed by signal 9", (int)other);
	assert_true(server_wait_log(&f->srv, want, HARNESS_STOP_MS));
	assert_true(WAIT_UNTIL(workers_replaced(&f->srv, 2, other), HARNESS_STOP_MS));
	assert_true(reads_back(fd, 7, 0, 100, data, 5000));
	assert_int_equal(atomic_load(&f->srv.table.workers[1 - slot].respawns), 1);

	/* Then the one that does: that client is cut off, a new one carries on. */
	assert_int_equal(kill(held, SIGKILL), 0);
	snprintf(want, sizeof(want), "(pid %d) was killed by signal 9", (int)held);
	assert_true(server_wait_log(&f->srv, want, HARNESS_STOP_MS));
	assert_true(WAIT_UNTIL(workers_replaced(&f->srv, 2, held), HARNESS_STOP_MS));
	assert_int_equal(handshake(&fd, NULL), DSHM_DISCONNECTED_SERVER);
	close(fd);
	fd = open_conn(f->srv.unix_addr);
	fd2 = open_conn(f->srv.tcp_addr);
	assert_true(reads_back(fd, 7, 0, 100, data, 5000));
	assert_true(reads_back(fd2, 7, 0, 100, data, 5000));
	assert_int_equal(memory_finalize_process(fd2, 7, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_init_process(fd, 7, 1, NULL), DSHM_SUCCESS);
	close(fd);
	close(fd2);
	assert_true(server_log_has(&f->srv, "respawning it"));
}

static void
test_worker_dying_again_right_after_its_respawn_is_respawned_after_a_back_off(void **state)
{
	struct fixture *f = *state;
	pid_t first, second;
	char want[200];

	assert_int_equal(fixture_start(f, "--workers", "1", NULL), 0);
	assert_int_equal(server_workers(&f->srv, &first, 1), 1);
	assert_int_equal(kill(first, SIGKILL), 0);
	snprintf(want, sizeof(want), "worker 1 (pid %d) was killed by signal 9 (Killed); "
		 "respawning it", (int)first);
	assert_true(server_wait_log(&f->srv, want, HARNESS_STOP_MS));
	assert_true(WAIT_UNTIL(workers_replaced(&f->srv, 1, first), HARNESS_STOP_MS));
	assert_int_equal(server_workers(&f->srv, &second, 1), 1);

	/* Dead again within a second of starting: the next one waits a little. */
	assert_int_equal(kill(second, SIGKILL), 0);
	snprintf(want, sizeof(want), "worker 1 (pid %d) was killed by signal 9 (Killed); it died "
		 "2 times in a row within a second of starting, so it is respawned in 50 ms",
		 (int)second);
	if (!server_wait_log(&f->srv, want, HARNESS_STOP_MS)) {
		server_print_log(&f->srv);
		fail_msg("the log does not say '%s'", want);
	}
	assert_true(WAIT_UNTIL(workers_replaced(&f->srv, 1, second), HARNESS_STOP_MS));
	assert_true(serves(&f->srv));
}

static void
test_workers_exit_when_the_master_is_killed(void **state)
{
	struct fixture *f = *state;
	pid_t pids[MAX_WORKERS];
	int n, fd;

	fd = open_conn(f->srv.tcp_addr);
	assert_int_equal(handshake(&fd, NULL), 4096); /* an idle client does not hold them */
	n = server_workers(&f->srv, pids, MAX_WORKERS);
	assert_int_equal(n, 2);
	server_kill(&f->srv, SIGKILL);
	assert_int_equal(server_wait_exit(&f->srv, HARNESS_STOP_MS), 128 + SIGKILL);
	assert_true(WAIT_UNTIL(all_gone(pids, n), HARNESS_STOP_MS));
	assert_int_equal(handshake(&fd, NULL), DSHM_DISCONNECTED_SERVER);
	close(fd);
}

/* ---- concurrency -------------------------------------------------------- */

struct client_job {
	const struct server *srv;
	int index;
	int rounds;
};

/* A client process: its own paging process, written and read back many times. */
static int
many_requests(void *arg)
{
	const struct client_job *j = arg;
	unsigned char data[3000];
	int pid = 100 + j->index;
	int fd = dshm_connect(j->index % 2 ? j->srv->tcp_addr : j->srv->unix_addr);

	if (fd < 0 || handshake(&fd, NULL) != 4096)
		return 1;
	if (memory_init_process(fd, pid, 4, NULL) != DSHM_SUCCESS)
		return 2;
	for (int r = 0; r < j->rounds; r++) {
		int page = r % 3, offset = (r * 97) % 4096, size = 1 + (r * 13) % 3000;

		fill_pattern(data, (size_t)size, (unsigned)(j->index * 1000 + r));
		if (memory_write(fd, pid, page, offset, size, size, data, NULL) != DSHM_SUCCESS)
			return 3;
		if (!reads_back(fd, pid, page, offset, data, size))
			return 4;
	}
	if (memory_finalize_process(fd, pid, NULL) != DSHM_SUCCESS)
		return 5;
	close(fd);
	return 0;
}

/* Idle workers take new connections in turn: no one worker gets them all. */
static void
test_connections_are_spread_over_the_workers(void **state)
{
	struct fixture *f = *state;
	int fds[8];

	/*
	 * Which worker the kernel wakes for a new connection is its choice,
	 * and on a busy machine one may take nearly all; a worker at its share
	 * leaves the rest to the other, so with a share of 4 the 8 split
	 * exactly, over both transports, and each is served by whichever
	 * worker took it.
	 */
	assert_int_equal(fixture_start(f, "--workers", "2", "--max-connections-per-worker", "4",
				       NULL),
			 0);
	assert_true(server_attach(&f->srv));
	for (int i = 0; i < 8; i++) {
		fds[i] = open_conn(i % 2 ? f->srv.tcp_addr : f->srv.unix_addr);
		assert_int_equal(handshake(&fds[i], NULL), 4096); /* accepted and served */
	}
	for (int w = 0; w < 2; w++) {
		uint64_t now = atomic_load(&f->srv.table.workers[w].conns_now);

		if (now != 4)
			fail_msg("worker %d holds %llu of 8 connections", w + 1,
				 (unsigned long long)now);
	}
	for (int i = 0; i < 8; i++)
		close(fds[i]);
}

static void
test_many_concurrent_clients_all_succeed_with_the_right_data(void **state)
{
	struct fixture *f = *state;
	struct client_job jobs[8];
	pid_t kids[8];
	uint64_t before;

	assert_true(server_attach(&f->srv));
	before = server_requests(&f->srv);
	for (int i = 0; i < 8; i++) {
		jobs[i] = (struct client_job){&f->srv, i, 150};
		kids[i] = fork_child(many_requests, &jobs[i]);
		assert_true(kids[i] > 0);
	}
	for (int i = 0; i < 8; i++) {
		int rc = wait_child(kids[i], 60000);

		if (rc != 0)
			fail_msg("client %d ended with %d", i, rc);
	}
	/* handshake, init, 2 per round, finalize; a worker counts just after it replies */
	assert_true(WAIT_UNTIL(server_requests(&f->srv) - before >= 8 * (3 + 2 * 150),
			       HARNESS_STOP_MS));
	for (int p = 100; p < 108; p++) {
		int fd = open_conn(f->srv.unix_addr);

		assert_int_equal(memory_finalize_process(fd, p, NULL), DSHM_NO_SUCH_PROCESS);
		close(fd);
	}
}

/*
 * A client process that creates, grows, writes, reads and ends the same
 * few pids as its siblings.  Each pid's pages only ever hold the byte
 * pid or zeros, so a read that shows any other byte saw another process's
 * frames.  Every reply must be one that some interleaving explains.
 */
static int
same_pids_churn(void *arg)
{
	const struct client_job *j = arg;
	unsigned char data[3 * 4096];
	unsigned seed = (unsigned)j->index * 2654435761u + 1;
	int fd = dshm_connect(j->index % 2 ? j->srv->tcp_addr : j->srv->unix_addr);

	if (fd < 0)
		return 1;
	for (int r = 0; r < j->rounds; r++) {
		int pid, op, rc;

		seed = seed * 1103515245u + 12345u;
		pid = 1 + (int)((seed >> 8) % 4);
		op = (int)((seed >> 16) % 5);
		switch (op) {
		case 0:
			rc = memory_init_process(fd, pid, 1 + (int)((seed >> 4) % 3), NULL);
			if (rc != DSHM_SUCCESS && rc != DSHM_PROCESS_EXISTS)
				return 10;
			break;
		case 1:
			rc = memory_assign_pages(fd, pid, 1, NULL);
			if (rc != DSHM_SUCCESS && rc != DSHM_NO_SUCH_PROCESS)
				return 11;
			break;
		case 2:
			memset(data, pid, sizeof(data));
			rc = memory_write(fd, pid, 0, 100, 2 * 4096, 2 * 4096, data, NULL);
			if (rc != DSHM_SUCCESS && rc != DSHM_NO_SUCH_PROCESS &&
			    rc != DSHM_SEGMENTATION_FAULT)
				return 12;
			break;
		case 3: {
			t_read_response *resp = memory_read(fd, pid, 0, 0, 3 * 4096, NULL);

			if (resp == NULL)
				return 13;
			rc = resp->exec_code;
			if (rc == DSHM_SUCCESS) {
				const unsigned char *b = resp->buffer;

				for (int i = 0; i < 3 * 4096; i++)
					if (b[i] != 0 && b[i] != pid)
						return 14; /* another process's bytes */
			} else if (rc != DSHM_NO_SUCH_PROCESS && rc != DSHM_SEGMENTATION_FAULT) {
				return 15;
			}
			free(resp->buffer);
			free(resp);
			break;
		}
		default:
			rc = memory_finalize_process(fd, pid, NULL);
			if (rc != DSHM_SUCCESS && rc != DSHM_NO_SUCH_PROCESS)
				return 16;
			break;
		}
	}
	close(fd);
	return 0;
}

static void
test_concurrent_work_on_the_same_pids_keeps_processes_apart_and_loses_no_frame(void **state)
{
	struct fixture *f = *state;
	struct client_job jobs[6];
	struct proto_hello h;
	pid_t kids[6];
	int fd;

	/* A small table, so that its index is rebuilt under the clients' feet. */
	assert_int_equal(fixture_start(f, "--max-processes", "6", NULL), 0);
	for (int i = 0; i < 6; i++) {
		jobs[i] = (struct client_job){&f->srv, i, 2000};
		kids[i] = fork_child(same_pids_churn, &jobs[i]);
		assert_true(kids[i] > 0);
	}
	for (int i = 0; i < 6; i++) {
		int rc = wait_child(kids[i], 60000);

		if (rc != 0)
			fail_msg("client %d ended with %d", i, rc);
	}
	fd = open_conn(f->srv.unix_addr);
	for (int pid = 1; pid <= 4; pid++) {
		int rc = memory_finalize_process(fd, pid, NULL);

		assert_true(rc == DSHM_SUCCESS || rc == DSHM_NO_SUCH_PROCESS);
	}
	close(fd);
	assert_true(raw_hello(f->srv.unix_addr, &h));
	assert_int_equal(h.frames_free, h.nframes);
}

struct thread_job {
	int fd;
	int pid;
	int rounds;
	int result;
};

static void *
thread_client(void *arg)
{
	struct thread_job *j = arg;
	unsigned char data[1500];

	j->result = 1;
	if (memory_init_process(j->fd, j->pid, 1, NULL) != DSHM_SUCCESS)
		return NULL;
	for (int r = 0; r < j->rounds; r++) {
		fill_pattern(data, sizeof(data), (unsigned)(j->pid * 1000 + r));
		if (memory_write(j->fd, j->pid, 0, r % 2000, 1500, 1500, data, NULL) != DSHM_SUCCESS ||
		    !reads_back(j->fd, j->pid, 0, r % 2000, data, 1500)) {
			j->result = 2;
			return NULL;
		}
	}
	j->result = 0;
	return NULL;
}

static void
test_threads_sharing_one_connection_each_get_their_own_replies(void **state)
{
	struct fixture *f = *state;
	struct thread_job jobs[4];
	pthread_t threads[4];
	int fd = open_conn(f->addr);

	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct thread_job){fd, 10 + i, 200, -1};
		assert_int_equal(pthread_create(&threads[i], NULL, thread_client, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		if (jobs[i].result != 0)
			fail_msg("thread %d ended with %d", i, jobs[i].result);
	}
	assert_int_equal(handshake(&fd, NULL), 4096);
	close(fd);
}

static void
test_hundreds_of_open_connections_are_all_served(void **state)
{
	struct fixture *f = *state;
	enum { N = 300 };
	int fds[N];

	for (int i = 0; i < N; i++) {
		fds[i] = raw_connect(i % 2 ? f->srv.tcp_addr : f->srv.unix_addr);
		assert_true(fds[i] >= 0);
	}
	/* Every connection asks; only then does any read its answer. */
	for (int i = 0; i < N; i++)
		assert_true(raw_request(fds[i], OP_HELLO, (uint32_t)i, NULL, 0, NULL, 0));
	for (int i = N - 1; i >= 0; i--) {
		unsigned char body[PROTO_HELLO_LEN];
		struct proto_header h;
		size_t len;

		assert_true(raw_reply(fds[i], &h, body, sizeof(body), &len));
		assert_int_equal(h.id, i);
		assert_int_equal(h.status, DSHM_SUCCESS);
		close(fds[i]);
	}
	assert_true(serves(&f->srv));
}

#define ATOMIC_SIZE (2 * 4096) /* from the middle of page 0 to the middle of page 2 */

/* Writes whole buffers of one byte value each, over and over. */
static int
uniform_writer(void *arg)
{
	const struct client_job *j = arg;
	unsigned char *data = malloc(ATOMIC_SIZE);
	int fd = dshm_connect(j->index % 2 ? j->srv->tcp_addr : j->srv->unix_addr);

	if (fd < 0 || data == NULL)
		return 1;
	for (int r = 0; r < j->rounds; r++) {
		memset(data, 1 + j->index * 50 + r % 50, ATOMIC_SIZE);
		if (memory_write(fd, 1, 0, 2048, ATOMIC_SIZE, ATOMIC_SIZE, data, NULL) != DSHM_SUCCESS)
			return 2;
	}
	free(data);
	close(fd);
	return 0;
}

/* Reads the range over and over; every read must hold one byte value throughout. */
static int
uniform_reader(void *arg)
{
	const struct client_job *j = arg;
	int fd = dshm_connect(j->index % 2 ? j->srv->tcp_addr : j->srv->unix_addr);

	if (fd < 0)
		return 1;
	for (int r = 0; r < j->rounds; r++) {
		t_read_response *resp = memory_read(fd, 1, 0, 2048, ATOMIC_SIZE, NULL);
		const unsigned char *b;

		if (resp == NULL || resp->exec_code != DSHM_SUCCESS)
			return 2;
		b = resp->buffer;
		for (int i = 1; i < ATOMIC_SIZE; i++)
			if (b[i] != b[0])
				return 3; /* a torn read */
		free(resp->buffer);
		free(resp);
	}
	close(fd);
	return 0;
}

static void
test_concurrent_writes_spanning_3_pages_are_seen_whole(void **state)
{
	struct fixture *f = *state;
	struct client_job jobs[6];
	pid_t kids[6];
	int fd = open_conn(f->srv.unix_addr);

	assert_int_equal(memory_init_process(fd, 1, 3, NULL), DSHM_SUCCESS);
	for (int i = 0; i < 6; i++) {
		jobs[i] = (struct client_job){&f->srv, i, 300};
		kids[i] = fork_child(i < 3 ? uniform_writer : uniform_reader, &jobs[i]);
		assert_true(kids[i] > 0);
	}
	for (int i = 0; i < 6; i++) {
		int rc = wait_child(kids[i], 60000);

		if (rc != 0)
			fail_msg("%s %d ended with %d", i < 3 ? "writer" : "reader", i, rc);
	}
	close(fd);
}

/* ---- broken clients and a missing server -------------------------------- */

static uint64_t
conns_now(const struct server *s)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < s->table.hdr->nworkers; i++)
		sum += atomic_load(&s->table.workers[i].conns_now);
	return sum;
}

static void
test_client_disconnecting_mid_request_leaves_the_server_and_others_unaffected(void **state)
{
	struct fixture *f = *state;
	unsigned char data[4096], head[PROTO_HEADER_LEN + 16];
	pid_t before[MAX_WORKERS], after[MAX_WORKERS];
	int32_t args[4];
	int fd, raw, n;

	fill_pattern(data, sizeof(data), 2);
	assert_true(server_attach(&f->srv));
	n = server_workers(&f->srv, before, MAX_WORKERS);
	fd = open_conn(f->addr);
	assert_int_equal(memory_init_process(fd, 5, 2, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_write(fd, 5, 0, 0, 4096, 4096, data, NULL), DSHM_SUCCESS);

	/* Half a header. */
	args[0] = 5;
	args[1] = 0;
	args[2] = 0;
	args[3] = 4096;
	raw_encode(head, OP_PROC_WRITE, 1, 16 + 4096, args, 4);
	raw = raw_connect(f->addr);
	assert_true(raw >= 0);
	assert_true(raw_send(raw, head, 8));
	close(raw);
	/* A whole header, and half the body of a write over our bytes. */
	memset(data, 0xEE, sizeof(data));
	raw = raw_connect(f->addr);
	assert_true(raw >= 0);
	assert_true(raw_send(raw, head, sizeof(head)) && raw_send(raw, data, 2048));
	close(raw);
	/* The start of a 16 MiB write. */
	args[3] = (int32_t)PROTO_MAX_DATA;
	raw_encode(head, OP_PROC_WRITE, 2, 16 + PROTO_MAX_DATA, args, 4);
	raw = raw_connect(f->addr);
	assert_true(raw >= 0);
	assert_true(raw_send(raw, head, sizeof(head)) && raw_send(raw, data, sizeof(data)));
	close(raw);
	/* A large read whose reply nobody takes. */
	args[3] = 2 * 4096;
	raw_encode(head, OP_PROC_READ, 3, 16, args, 4);
	raw = raw_connect(f->addr);
	assert_true(raw >= 0);
	for (int i = 0; i < 64; i++)
		assert_true(raw_send(raw, head, sizeof(head)));
	close(raw);

	assert_true(WAIT_UNTIL(conns_now(&f->srv) == 1, HARNESS_STOP_MS));
	fill_pattern(data, sizeof(data), 2);
	assert_true(reads_back(fd, 5, 0, 0, data, 4096));
	assert_int_equal(handshake(&fd, NULL), 4096);
	close(fd);
	assert_int_equal(server_workers(&f->srv, after, MAX_WORKERS), n);
	for (int i = 0; i < n; i++)
		assert_true(contains_pid(after, n, before[i]));
	assert_false(server_log_has(&f->srv, "respawning"));
	assert_true(serves(&f->srv));
}

static void
expect_no_connection(const char *addr)
{
	int fd = dshm_connect(addr);

	if (fd >= 0)
		close(fd);
	assert_int_equal(fd, DSHM_DISCONNECTED_SERVER);
}

static void
expect_every_call_disconnected(int fd, const char *addr)
{
	unsigned char data[16] = {0};
	int none = -1;

	for (int round = 0; round < 3; round++) {
		t_read_response *r;

		assert_int_equal(handshake(&fd, NULL), DSHM_DISCONNECTED_SERVER);
		assert_int_equal(memory_init_process(fd, 1, 1, NULL), DSHM_DISCONNECTED_SERVER);
		assert_int_equal(memory_write(fd, 1, 0, 0, 16, 16, data, NULL),
				 DSHM_DISCONNECTED_SERVER);
		r = memory_read(fd, 1, 0, 0, 16, NULL);
		assert_non_null(r);
		assert_int_equal(r->exec_code, DSHM_DISCONNECTED_SERVER);
		assert_null(r->buffer);
		free(r);
		assert_int_equal(memory_assign_pages(fd, 1, 1, NULL), DSHM_DISCONNECTED_SERVER);
		assert_int_equal(memory_finalize_process(fd, 1, NULL), DSHM_DISCONNECTED_SERVER);
		expect_no_connection(addr);
		assert_int_equal(setenv("DSHM_SERVER", addr, 1), 0);
		none = -1;
		assert_int_equal(handshake(&none, NULL), DSHM_DISCONNECTED_SERVER);
		assert_int_equal(none, -1);
		unsetenv("DSHM_SERVER");
	}
}

static void
test_server_stopped_makes_every_call_return_disconnected_server(void **state)
{
	struct fixture *f = *state;
	int fd = open_conn(f->addr);
	int64_t t0;

	/* A SIGPIPE would kill the test: it must not come. */
	signal(SIGPIPE, SIG_DFL);
	/* A timeout no call may wait out: each must fail as soon as it finds the server gone. */
	dshm_set_timeout(60000);
	assert_int_equal(memory_init_process(fd, 1, 1, NULL), DSHM_SUCCESS);
	assert_int_equal(server_stop(&f->srv), 0);
	t0 = harness_now_ms();
	expect_every_call_disconnected(fd, f->addr);
	assert_true(harness_now_ms() - t0 < 30000);
	close(fd);
}

static void
test_server_killed_makes_every_call_return_disconnected_server(void **state)
{
	struct fixture *f = *state;
	int fd = open_conn(f->addr);
	int64_t t0;

	signal(SIGPIPE, SIG_DFL);
	/* A timeout no call may wait out: each must fail as soon as it finds the server gone. */
	dshm_set_timeout(60000);
	assert_int_equal(memory_init_process(fd, 1, 1, NULL), DSHM_SUCCESS);
	server_kill_group(&f->srv, SIGKILL);
	assert_int_equal(server_wait_exit(&f->srv, HARNESS_STOP_MS), 128 + SIGKILL);
	/* The workers hold the listening sockets too: wait until they are gone. */
	assert_true(server_wait_group_gone(&f->srv, HARNESS_STOP_MS));
	/* Unix: the socket file stays behind, and nobody listens on it. */
	t0 = harness_now_ms();
	expect_every_call_disconnected(fd, f->addr);
	assert_true(harness_now_ms() - t0 < 30000);
	close(fd);
}

static void
test_server_that_stops_answering_times_out_as_disconnected_server(void **state)
{
	struct fixture *f = *state;
	int fd = open_conn(f->addr);
	int64_t t0;
	int rc;

	dshm_set_timeout(300);
	assert_int_equal(handshake(&fd, NULL), 4096);
	server_kill_group(&f->srv, SIGSTOP);
	t0 = harness_now_ms();
	rc = handshake(&fd, NULL);
	server_kill_group(&f->srv, SIGCONT);
	assert_int_equal(rc, DSHM_DISCONNECTED_SERVER);
	assert_true(harness_now_ms() - t0 >= 250);
	assert_true(harness_now_ms() - t0 < 30000); /* the timeout worked: no hang */
	/* The stream is out of step for good, though the server is back: the socket is shut down. */
	assert_int_equal(handshake(&fd, NULL), DSHM_DISCONNECTED_SERVER);
	errno = 0;
	assert_int_equal(send(fd, "x", 1, MSG_NOSIGNAL), -1);
	assert_int_equal(errno, EPIPE);
	close(fd);
	dshm_set_timeout(0);
	fd = open_conn(f->addr);
	assert_int_equal(handshake(&fd, NULL), 4096);
	close(fd);
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
		TEST_ONE(test_process_titles_name_the_master_and_each_worker),
		TEST_ONE(test_killed_worker_is_respawned_and_clients_keep_working),
		TEST_ONE_BARE(test_worker_dying_again_right_after_its_respawn_is_respawned_after_a_back_off),
		TEST_ONE(test_workers_exit_when_the_master_is_killed),
		TEST_ONE_BARE(test_connections_are_spread_over_the_workers),
		TEST_ONE_BARE(test_unix_group_lets_that_group_connect_and_nobody_else),
		TEST_ONE(test_many_concurrent_clients_all_succeed_with_the_right_data),
		TEST_ONE(test_concurrent_writes_spanning_3_pages_are_seen_whole),
		TEST_ONE_BARE(test_concurrent_work_on_the_same_pids_keeps_processes_apart_and_loses_no_frame),
		TEST_BOTH(test_threads_sharing_one_connection_each_get_their_own_replies),
		TEST_ONE(test_hundreds_of_open_connections_are_all_served),
		TEST_BOTH(test_client_disconnecting_mid_request_leaves_the_server_and_others_unaffected),
		TEST_BOTH(test_server_stopped_makes_every_call_return_disconnected_server),
		TEST_BOTH(test_server_killed_makes_every_call_return_disconnected_server),
		TEST_BOTH(test_server_that_stops_answering_times_out_as_disconnected_server),
	};

	return cmocka_run_group_tests_name("server", tests, NULL, NULL);
}
