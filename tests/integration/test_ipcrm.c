/*
 * test_ipcrm.c — dshm-ipcrm ($DSHM_IPCRM): -m SHMID and -M KEY remove
 * segments through a live server, as ipcrm(1) does, and name each
 * failure in its words; --stale removes exactly what dead dshmd instances
 * left behind (control table, socket, pidfile) and never anything of a
 * live server or anything that is not dshm's; what a dshmd --persist NAME
 * kept (its table and /dev/shm/dshm-NAME) is reported as kept by --stale
 * and removed only by --persist NAME, never while a server uses it.
 *
 * Assumes root: the harness kills whole server process groups, and one
 * test runs dshm-ipcrm as uid 65534 (with setpriv) to be refused.  The
 * segment calls share one connection per process: each segment test
 * points it at its server first and detaches what it attached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
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

/* Fails, showing out, unless out contains needle. */
static void
expect_line(const char *out, const char *needle)
{
	if (strstr(out, needle) == NULL)
		fail_msg("dshm-ipcrm's output lacks \"%s\"; it was:\n%s", needle, out);
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

/* ---- --persist NAME ------------------------------------------------------- */

/* A dshmd --persist of this test's own: its name, arena, key and shmid. */
struct kept {
	char name[32];
	char object[64]; /* /dev/shm/dshm-NAME */
	key_t key;
	int shmid;
};

/* Starts the fixture's server with --persist and a name of this test's own. */
static void
start_persisted(struct fixture *f, struct kept *k, const char *tag)
{
	snprintf(k->name, sizeof(k->name), "t%d-%s", (int)getpid(), tag);
	snprintf(k->object, sizeof(k->object), "/dev/shm/dshm-%s", k->name);
	assert_int_equal(fixture_start(f, "--persist", k->name, NULL), 0);
	k->key = f->srv.key;
	k->shmid = f->srv.shmid;
	assert_true(file_exists(k->object));
}

/* A persisted server stopped cleanly: its table and its arena stay. */
static void
stop_persisted(struct fixture *f, struct kept *k, const char *tag)
{
	start_persisted(f, k, tag);
	assert_int_equal(server_stop(&f->srv), 0);
	assert_true(segment_exists(k->key));
	assert_true(file_exists(k->object));
}

/* The line --stale prints for a kept table. */
static void
kept_line(const struct kept *k, char *out, size_t len)
{
	snprintf(out, len, "kept: control table key 0x%08x shmid %d of --persist %s (use "
		 "--persist %s to remove it)\n", (unsigned)k->key, k->shmid, k->name, k->name);
}

/* fixture_teardown, then whatever /dev/shm/dshm-t<pid>-* a failed test left. */
static int
persist_teardown(void **state)
{
	char prefix[32], path[300];
	int rc = fixture_teardown(state);
	struct dirent *d;
	DIR *dir;

	snprintf(prefix, sizeof(prefix), "dshm-t%d-", (int)getpid());
	if ((dir = opendir("/dev/shm")) == NULL)
		return rc;
	while ((d = readdir(dir)) != NULL)
		if (strncmp(d->d_name, prefix, strlen(prefix)) == 0) {
			snprintf(path, sizeof(path), "/dev/shm/%s", d->d_name);
			unlink(path);
		}
	closedir(dir);
	return rc;
}

#define TEST_PERSIST(f) {#f, f, fixture_prepare_unix, persist_teardown, NULL}

static void
test_stale_keeps_a_stopped_persisted_instance(void **state)
{
	struct fixture *f = *state;
	struct server again = {0};
	char out[8192], want[300];
	bool took_over;
	struct kept k;

	stop_persisted(f, &k, "stop");
	assert_int_equal(ipcrm("--stale", out, sizeof(out)), 0);
	kept_line(&k, want, sizeof(want));
	expect_line(out, want);
	assert_true(segment_exists(k.key));
	assert_true(file_exists(k.object));
	/* The next dshmd of that name (on the same socket, so the same key) still takes it over. */
	assert_int_equal(server_start(&again, "--persist", k.name, "--unix", f->srv.unix_path,
				      NULL), 0);
	took_over = server_log_has(&again, "persist: took over the table");
	assert_int_equal(server_stop(&again), 0);
	server_destroy(&again);
	assert_true(took_over);
	snprintf(want, sizeof(want), "--persist %s", k.name);
	assert_int_equal(ipcrm(want, out, sizeof(out)), 0);
	assert_false(segment_exists(k.key));
	assert_false(file_exists(k.object));
}

static void
test_stale_keeps_a_crashed_persisted_instance_but_removes_its_socket(void **state)
{
	struct fixture *f = *state;
	char out[8192], want[300];
	struct kept k;

	start_persisted(f, &k, "crash");
	server_kill_group(&f->srv, SIGKILL);
	assert_true(server_wait_group_gone(&f->srv, HARNESS_STOP_MS));
	assert_true(file_exists(f->srv.unix_path));
	assert_int_equal(ipcrm("--stale", out, sizeof(out)), 0);
	kept_line(&k, want, sizeof(want));
	expect_line(out, want);
	snprintf(want, sizeof(want), "removed stale socket %s", f->srv.unix_path);
	expect_line(out, want);
	assert_false(file_exists(f->srv.unix_path));
	assert_true(segment_exists(k.key));
	assert_true(file_exists(k.object));
	snprintf(want, sizeof(want), "--persist %s", k.name);
	assert_int_equal(ipcrm(want, out, sizeof(out)), 0);
	assert_false(segment_exists(k.key));
	assert_false(file_exists(k.object));
}

static void
test_persist_dry_run_names_the_table_and_the_arena_and_removes_nothing(void **state)
{
	struct fixture *f = *state;
	char args[128], out[8192], want[300];
	struct kept k;

	stop_persisted(f, &k, "dry");
	snprintf(args, sizeof(args), "--stale --persist %s --dry-run", k.name);
	assert_int_equal(ipcrm(args, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "would remove stale control table key 0x%08x shmid %d of "
		 "--persist %s", (unsigned)k.key, k.shmid, k.name);
	expect_line(out, want);
	snprintf(want, sizeof(want), "would remove %s (the arena of --persist %s", k.object,
		 k.name);
	expect_line(out, want);
	assert_true(segment_exists(k.key));
	assert_true(file_exists(k.object));
}

static void
test_stale_with_persist_removes_the_kept_table_and_its_arena(void **state)
{
	struct fixture *f = *state;
	char args[128], out[8192], want[300];
	struct kept k;

	stop_persisted(f, &k, "rm");
	snprintf(args, sizeof(args), "--stale --persist %s", k.name);
	assert_int_equal(ipcrm(args, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "removed stale control table key 0x%08x shmid %d of "
		 "--persist %s", (unsigned)k.key, k.shmid, k.name);
	expect_line(out, want);
	snprintf(want, sizeof(want), "removed %s (the arena of --persist %s)", k.object, k.name);
	expect_line(out, want);
	assert_false(segment_exists(k.key));
	assert_false(file_exists(k.object));
	/* Again: nothing is left, and that is no failure. */
	assert_int_equal(ipcrm(args, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "nothing to remove for --persist %s", k.name);
	expect_line(out, want);
}

static void
test_persist_alone_removes_that_instance_only(void **state)
{
	struct fixture *f = *state;
	struct server other = {0};
	char args[128], out[8192];
	struct kept k;

	/* A crashed plain server: --stale would remove its table, --persist NAME must not. */
	assert_int_equal(server_start(&other, NULL), 0);
	server_kill_group(&other, SIGKILL);
	assert_true(server_wait_group_gone(&other, HARNESS_STOP_MS));
	stop_persisted(f, &k, "only");
	snprintf(args, sizeof(args), "--persist %s", k.name);
	assert_int_equal(ipcrm(args, out, sizeof(out)), 0);
	assert_false(segment_exists(k.key));
	assert_false(file_exists(k.object));
	assert_true(segment_exists(other.key));
	assert_true(file_exists(other.unix_path));
	server_destroy(&other);
}

static void
test_persist_refuses_a_running_instance(void **state)
{
	struct fixture *f = *state;
	char args[128], out[8192], want[300];
	struct kept k;
	int fd;

	start_persisted(f, &k, "live");
	snprintf(args, sizeof(args), "--stale --persist %s", k.name);
	assert_int_equal(ipcrm(args, out, sizeof(out)), 1);
	snprintf(want, sizeof(want), "dshm-ipcrm: not removing --persist %s: its control table "
		 "key 0x%08x shmid %d is in use", k.name, (unsigned)k.key, k.shmid);
	expect_line(out, want);
	assert_true(segment_exists(k.key));
	assert_true(file_exists(k.object));
	assert_true(file_exists(f->srv.unix_path));
	fd = dshm_connect(f->srv.unix_addr);
	assert_int_equal(handshake(&fd, NULL), 4096);
	close(fd);
	/* Plain --stale leaves it alone too. */
	assert_int_equal(ipcrm("--stale", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "left alone: control table key 0x%08x", (unsigned)k.key);
	expect_line(out, want);
	assert_true(file_exists(k.object));
	/* Stopped, it goes. */
	assert_int_equal(server_stop(&f->srv), 0);
	assert_int_equal(ipcrm(args, out, sizeof(out)), 0);
	assert_false(segment_exists(k.key));
	assert_false(file_exists(k.object));
}

static void
test_persist_removes_an_arena_whose_table_is_gone(void **state)
{
	struct fixture *f = *state;
	char args[128], out[8192], want[300];
	struct kept k;

	stop_persisted(f, &k, "orphan");
	assert_int_equal(shmctl(shmget(k.key, 0, 0), IPC_RMID, NULL), 0);
	assert_int_equal(ipcrm("--stale", out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "kept: %s has no control table (use --persist %s to remove "
		 "it)\n", k.object, k.name);
	expect_line(out, want);
	assert_true(file_exists(k.object));
	snprintf(args, sizeof(args), "--persist %s --dry-run", k.name);
	assert_int_equal(ipcrm(args, out, sizeof(out)), 0);
	assert_true(file_exists(k.object));
	snprintf(args, sizeof(args), "--persist %s", k.name);
	assert_int_equal(ipcrm(args, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "removed %s (the arena of --persist %s)", k.object, k.name);
	expect_line(out, want);
	assert_false(file_exists(k.object));
}

/* ---- -m and -M ------------------------------------------------------------ */

#define SEG_KEY 0x5e5e0001

/* Runs dshm-ipcrm --server (f's address) with args. */
static int
ipcrm_at(struct fixture *f, const char *args, char *out, size_t len)
{
	char all[512];

	snprintf(all, sizeof(all), "--server %s %s", f->addr, args);
	return ipcrm(all, out, len);
}

/* Points this process's segment calls at f's server and makes a segment at key. */
static int
make_segment(struct fixture *f, key_t key)
{
	int id;

	assert_int_equal(dshm_set_server(f->addr), 0);
	id = dshm_shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0600);
	assert_true(id >= 0);
	return id;
}

/* Whether segment id is gone: IPC_STAT says EINVAL. */
static bool
segment_gone(int id)
{
	struct shmid_ds ds;

	return dshm_shmctl(id, IPC_STAT, &ds) < 0 && errno == EINVAL;
}

static void
test_m_removes_a_segment_by_id(void **state)
{
	struct fixture *f = *state;
	int id = make_segment(f, SEG_KEY);
	char args[64], out[4096];

	snprintf(args, sizeof(args), "-m %d", id);
	assert_int_equal(ipcrm_at(f, args, out, sizeof(out)), 0);
	assert_string_equal(out, ""); /* silent, as ipcrm is */
	assert_true(segment_gone(id));
}

static void
test_M_removes_a_segment_by_key(void **state)
{
	struct fixture *f = *state;
	int id = make_segment(f, SEG_KEY);
	char args[64], out[4096];

	snprintf(args, sizeof(args), "-M 0x%08x", SEG_KEY);
	assert_int_equal(ipcrm_at(f, args, out, sizeof(out)), 0);
	assert_true(segment_gone(id));
	assert_int_equal(dshm_shmget(SEG_KEY, 0, 0), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_several_m_and_M_remove_them_all(void **state)
{
	struct fixture *f = *state;
	int a = make_segment(f, SEG_KEY), b = make_segment(f, SEG_KEY + 1);
	int c = make_segment(f, SEG_KEY + 2);
	char args[128], out[4096];

	snprintf(args, sizeof(args), "-m %d -M %d --shmem-id %d", a, SEG_KEY + 1, c);
	assert_int_equal(ipcrm_at(f, args, out, sizeof(out)), 0);
	assert_true(segment_gone(a));
	assert_true(segment_gone(b));
	assert_true(segment_gone(c));
}

static void
test_m_of_an_attached_segment_marks_it_dest_until_the_last_detach(void **state)
{
	struct fixture *f = *state;
	int id = make_segment(f, SEG_KEY);
	void *p = dshm_shmat(id, NULL, 0);
	struct shmid_ds ds;
	char args[64], out[4096];

	assert_true(p != (void *)-1);
	snprintf(args, sizeof(args), "-m %d", id);
	assert_int_equal(ipcrm_at(f, args, out, sizeof(out)), 0);
	assert_int_equal(dshm_shmctl(id, IPC_STAT, &ds), 0);
	assert_true(ds.shm_perm.mode & SHM_DEST);
	assert_int_equal(ds.shm_perm.__key, IPC_PRIVATE);
	assert_int_equal(dshm_shmdt(p), 0);
	assert_true(segment_gone(id));
}

static void
test_bad_id_or_key_fails_with_ipcrms_words(void **state)
{
	struct fixture *f = *state;
	int id = make_segment(f, SEG_KEY);
	char args[128], out[4096], want[128];

	assert_int_equal(ipcrm_at(f, "-m 123456", out, sizeof(out)), 1);
	expect_line(out, "dshm-ipcrm: invalid id (123456)\n");
	assert_int_equal(ipcrm_at(f, "-M 0x5e5e0bad", out, sizeof(out)), 1);
	expect_line(out, "dshm-ipcrm: key 0x5e5e0bad not found\n");
	assert_int_equal(ipcrm_at(f, "-M 0", out, sizeof(out)), 1);
	expect_line(out, "dshm-ipcrm: illegal key (0)\n");
	/* a bad one among good ones: the good ones go, the run fails */
	snprintf(args, sizeof(args), "-m 123456 -m %d", id);
	assert_int_equal(ipcrm_at(f, args, out, sizeof(out)), 1);
	expect_line(out, "dshm-ipcrm: invalid id (123456)\n");
	assert_true(segment_gone(id));
	snprintf(args, sizeof(args), "-m %d", id); /* already gone */
	assert_int_equal(ipcrm_at(f, args, out, sizeof(out)), 1);
	snprintf(want, sizeof(want), "dshm-ipcrm: invalid id (%d)\n", id);
	expect_line(out, want);
}

static void
test_another_users_segment_is_refused(void **state)
{
	struct fixture *f = *state;
	int id = make_segment(f, SEG_KEY);
	char args[512], out[4096], want[128];
	const char *bin = getenv("DSHM_IPCRM");

	/* over TCP the caller's stated uid counts: nobody is not the owner */
	snprintf(args, sizeof(args), "setpriv --reuid=65534 --regid=65534 --clear-groups %s "
		 "--server %s -m %d 2>&1", bin && bin[0] ? bin : "build/asan/dshm-ipcrm",
		 f->srv.tcp_addr, id);
	{
		FILE *p = popen(args, "r");
		size_t n;
		int st;

		assert_non_null(p);
		n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = '\0';
		st = pclose(p);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 1);
	}
	snprintf(want, sizeof(want), "dshm-ipcrm: permission denied for id (%d)\n", id);
	expect_line(out, want);
	assert_false(segment_gone(id));
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

static void
test_unreachable_server_fails(void **state)
{
	char out[4096];

	(void)state;
	assert_int_equal(ipcrm("--server unix:/nonexistent/dshm.sock -m 1", out, sizeof(out)), 1);
	expect_line(out, "dshm-ipcrm: cannot reach dshmd at unix:/nonexistent/dshm.sock");
}

static void
test_bad_usage_exits_2(void **state)
{
	char out[4096];

	(void)state;
	assert_int_equal(ipcrm("", out, sizeof(out)), 2);
	assert_int_equal(ipcrm("--bogus", out, sizeof(out)), 2);
	assert_int_equal(ipcrm("--stale extra", out, sizeof(out)), 2);
	assert_int_equal(ipcrm("-m", out, sizeof(out)), 2);
	assert_int_equal(ipcrm("-m twelve", out, sizeof(out)), 2);
	assert_int_equal(ipcrm("-M 0x1ffffffff", out, sizeof(out)), 2);
	assert_int_equal(ipcrm("--persist", out, sizeof(out)), 2);
	assert_int_equal(ipcrm("--persist a/b", out, sizeof(out)), 2);
	assert_int_equal(ipcrm("--persist .hidden", out, sizeof(out)), 2);
	assert_int_equal(ipcrm("--help", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "--dry-run"));
	assert_non_null(strstr(out, "-m, --shmem-id SHMID"));
	assert_non_null(strstr(out, "-M, --shmem-key KEY"));
	assert_non_null(strstr(out, "--server ADDR"));
	assert_non_null(strstr(out, "--persist NAME"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_ONE_BARE(test_dry_run_names_a_dead_servers_leftovers_and_removes_nothing),
		TEST_ONE_BARE(test_stale_removes_a_dead_servers_table_socket_and_pidfile),
		TEST_ONE_BARE(test_stale_leaves_a_live_server_alone),
		cmocka_unit_test(test_stale_leaves_segments_that_are_not_dshm_tables_alone),
		TEST_PERSIST(test_stale_keeps_a_stopped_persisted_instance),
		TEST_PERSIST(test_stale_keeps_a_crashed_persisted_instance_but_removes_its_socket),
		TEST_PERSIST(test_persist_dry_run_names_the_table_and_the_arena_and_removes_nothing),
		TEST_PERSIST(test_stale_with_persist_removes_the_kept_table_and_its_arena),
		TEST_PERSIST(test_persist_alone_removes_that_instance_only),
		TEST_PERSIST(test_persist_refuses_a_running_instance),
		TEST_PERSIST(test_persist_removes_an_arena_whose_table_is_gone),
		TEST_ONE(test_m_removes_a_segment_by_id),
		TEST_ONE(test_M_removes_a_segment_by_key),
		TEST_ONE(test_several_m_and_M_remove_them_all),
		TEST_ONE(test_m_of_an_attached_segment_marks_it_dest_until_the_last_detach),
		TEST_ONE(test_bad_id_or_key_fails_with_ipcrms_words),
		TEST_ONE(test_another_users_segment_is_refused),
		cmocka_unit_test(test_unreachable_server_fails),
		cmocka_unit_test(test_bad_usage_exits_2),
	};

	return cmocka_run_group_tests_name("ipcrm", tests, NULL, NULL);
}
