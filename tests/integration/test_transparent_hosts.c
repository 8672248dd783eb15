/*
 * test_transparent_hosts.c — the unmodified programs across two hosts:
 * the test makes two network namespaces joined by a veth pair
 * (10.215.0.1 and 10.215.0.2), runs the segments' home dshmd on the
 * first (--peer-listen, --auth-file) and another dshmd on the second
 * (--peer-auth: the host of copies of the home's segments), and runs
 * each program under dshm-run: the two-role programs (tests/programs/x*)
 * with role 0 on the first host, over its Unix socket, and role 1 on
 * the second, over TCP to the home; the one-host programs on the second
 * host only, over TCP, where all their processes share that host's
 * copy.  What they print must be what they print on the kernel's
 * segments (both roles on one host there).  Last, the second host is
 * lost while it holds a page writable.
 *
 * The test process moves itself into a namespace of its own first, so
 * nothing it does touches the machine's network.  It needs root (network
 * namespaces, and userfaultfds that take the kernel's own faults) and
 * ip(8); without them it is skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

#define PROGRAM_MS 120000

struct hosts {
	bool ready;
	pid_t keeper;      /* holds host B's namespace */
	int ns_a, ns_b;    /* /proc/.../ns/net of each host */
	struct server a, b;
	char client_auth[160], dir[96];
};

static struct hosts H;

static bool
ip(const char *args)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "ip %s >/dev/null 2>&1", args);
	return system(cmd) == 0;
}

/* Host B's keeper: a namespace of its own, configured, held until the group is done. */
static int
keeper_main(void *arg)
{
	int *go = arg;
	char c;

	close(go[1]);
	if (unshare(CLONE_NEWNET) != 0)
		return 10;
	if (read(go[0], &c, 1) != 1) /* the veth end has been moved in */
		return 11;
	if (!ip("link set lo up") || !ip("addr add 10.215.0.2/24 dev dshm-tb") ||
	    !ip("link set dshm-tb up"))
		return 12;
	for (;;)
		pause();
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static int
setup_hosts(void **state)
{
	static const char hex[] = "7472616e73706172656e7420686f7374732074657374206b6579206f66206473";
	char path[128], server_auth[160], text[200], nspath[64];
	struct stat mine, theirs;
	int go[2];

	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0 || !ip("link set lo up") ||
	    !ip("link add dshm-ta type veth peer name dshm-tb"))
		return 0; /* not root, or no ip(8), or no veth: the tests skip */
	if (!ip("addr add 10.215.0.1/24 dev dshm-ta") || !ip("link set dshm-ta up"))
		return -1;
	if (pipe(go) != 0 || (H.keeper = fork_child(keeper_main, go)) <= 0)
		return -1;
	close(go[0]);
	snprintf(path, sizeof(path), "link set dshm-tb netns %d", (int)H.keeper);
	/* The keeper has its namespace once /proc shows another one than ours. */
	snprintf(nspath, sizeof(nspath), "/proc/%d/ns/net", (int)H.keeper);
	if (stat("/proc/self/ns/net", &mine) != 0 ||
	    !WAIT_UNTIL(stat(nspath, &theirs) == 0 && theirs.st_ino != mine.st_ino, 5000) ||
	    (H.ns_a = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0 ||
	    (H.ns_b = open(nspath, O_RDONLY | O_CLOEXEC)) < 0 || !ip(path) || write(go[1], "", 1) != 1)
		return -1;
	close(go[1]);
	if (!scratch_dir(H.dir, sizeof(H.dir)))
		return -1;
	/* The home's credentials (root, so its pager may ask for each process's own ids). */
	snprintf(server_auth, sizeof(server_auth), "%s/server-auth", H.dir);
	snprintf(H.client_auth, sizeof(H.client_auth), "%s/client-auth", H.dir);
	snprintf(text, sizeof(text), "hosts 0 0 %s\n", hex);
	write_file(server_auth, text, 0600);
	snprintf(text, sizeof(text), "hosts %s\n", hex);
	write_file(H.client_auth, text, 0600);
	if (server_start(&H.a, "--listen", "10.215.0.1:0", "--peer-listen", "10.215.0.1:0",
			 "--auth-file", server_auth, NULL) != 0)
		return -1;
	/* Host B's dshmd is started from inside its namespace. */
	if (setns(H.ns_b, CLONE_NEWNET) != 0)
		return -1;
	int rc = server_start(&H.b, "--listen", "none", "--peer-auth", H.client_auth, NULL);

	if (setns(H.ns_a, CLONE_NEWNET) != 0 || rc != 0)
		return -1;
	H.ready = true;
	return 0;
}

static int
teardown_hosts(void **state)
{
	int rc = 0;

	(void)state;
	if (H.keeper > 0) {
		kill(H.keeper, SIGKILL);
		wait_child(H.keeper, HARNESS_STOP_MS);
	}
	for (int k = 0; k < 2; k++) {
		struct server *s = k == 0 ? &H.a : &H.b;
		char *log;

		if (s->pid <= 0)
			continue;
		if (server_stop(s) != 0)
			rc = -1;
		log = server_log(s);
		if (strstr(log, "Sanitizer") != NULL || strstr(log, "runtime error") != NULL)
			rc = -1;
		free(log);
		if (rc != 0)
			server_print_log(s);
		server_destroy(s);
	}
	return rc;
}

static const char *
env_path(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || v[0] == '\0')
		fail_msg("$%s is not set (tests/run-tests.sh sets it)", name);
	return v;
}

struct outcome {
	char *out;
	int status;
};

/*
 * Runs program name with its key and role (role < 0: none), on the
 * kernel (host < 0) or under dshm-run on host 0 (the home, its Unix
 * socket) or host 1 (over TCP to the home, with this host's dshmd for
 * the copies).  Returns the pid; the output goes to a file of its own.
 */
static pid_t
start(const char *name, key_t key, int role, int host, char *out, size_t outlen)
{
	static char keyarg[16], rolearg[16], prog[512], local[140], auth[200];
	static int serial;
	const char *argv[10];
	const char *env[4] = {NULL};
	int n = 0;

	snprintf(prog, sizeof(prog), "%s/%s", env_path("DSHM_PROGRAMS"), name);
	snprintf(keyarg, sizeof(keyarg), "%#x", (unsigned)key);
	snprintf(out, outlen, "%s/%s.%d.out", H.dir, name, serial++);
	if (host >= 0) {
		argv[n++] = env_path("DSHM_RUN");
		argv[n++] = "--server";
		if (host == 0)
			argv[n++] = H.a.unix_addr;
		else {
			argv[n++] = H.a.tcp_addr;
			snprintf(local, sizeof(local), "DSHM_LOCAL=%s", H.b.unix_addr);
			snprintf(auth, sizeof(auth), "DSHM_AUTH_FILE=%s", H.client_auth);
			env[0] = local;
			env[1] = auth;
		}
	}
	argv[n++] = prog;
	argv[n++] = keyarg;
	if (role >= 0) {
		snprintf(rolearg, sizeof(rolearg), "%d", role);
		argv[n++] = rolearg;
	}
	argv[n] = NULL;
	/* spawn_program copies nothing: argv and env must outlive the fork only, which they do. */
	return spawn_program(argv, env, host == 1 ? H.ns_b : -1, out);
}

static struct outcome
finish(pid_t pid, const char *out)
{
	struct outcome o;

	o.status = wait_child(pid, PROGRAM_MS);
	o.out = read_whole_file(out);
	assert_non_null(o.out);
	return o;
}

static void
must_match(const char *what, struct outcome *kernel, struct outcome *dshm, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(kernel[i].out, dshm[i].out) != 0 || kernel[i].status != dshm[i].status) {
			for (int k = 0; k < n; k++)
				print_error("--- %s, part %d: kernel (status %d):\n%s--- dshm (status %d):\n%s",
					    what, k, kernel[k].status, kernel[k].out, dshm[k].status,
					    dshm[k].out);
			fail_msg("%s: the outputs differ", what);
		}
	for (int i = 0; i < n; i++) {
		assert_int_equal(kernel[i].status, 0);
		assert_null(strstr(kernel[i].out, "FAILED"));
		free(kernel[i].out);
		free(dshm[i].out);
	}
}

/* A two-role program: both roles at once, on the kernel, then across the two hosts. */
static void
two_hosts(const char *name, int index)
{
	key_t key = (key_t)(0x7e000000u | ((uint32_t)getpid() & 0xffffu) << 8 | (uint32_t)index);
	struct outcome kernel[2], dshm[2];
	char out0[160], out1[160];
	pid_t p0, p1;

	if (!H.ready)
		skip();
	p0 = start(name, key, 0, -1, out0, sizeof(out0));
	p1 = start(name, key, 1, -1, out1, sizeof(out1));
	kernel[0] = finish(p0, out0);
	kernel[1] = finish(p1, out1);
	p0 = start(name, key, 0, 0, out0, sizeof(out0));
	p1 = start(name, key, 1, 1, out1, sizeof(out1));
	dshm[0] = finish(p0, out0);
	dshm[1] = finish(p1, out1);
	must_match(name, kernel, dshm, 2);
}

/* A one-host program on the second host, over TCP: its processes share that host's copy. */
static void
remote_host(const char *name, int index)
{
	key_t key = (key_t)(0x7e800000u | ((uint32_t)getpid() & 0xffffu) << 8 | (uint32_t)index);
	struct outcome kernel, dshm;
	char out[160];

	if (!H.ready)
		skip();
	kernel = finish(start(name, key, -1, -1, out, sizeof(out)), out);
	dshm = finish(start(name, key, -1, 1, out, sizeof(out)), out);
	must_match(name, &kernel, &dshm, 1);
}

static void
test_a_ring_between_two_hosts_passes_every_item_in_order(void **state)
{
	(void)state;
	two_hosts("xring", 1);
}

static void
test_counters_on_two_hosts_end_at_the_exact_sum(void **state)
{
	(void)state;
	two_hosts("xcount", 2);
}

static void
test_the_kernel_reads_into_and_writes_from_pages_of_the_other_host(void **state)
{
	(void)state;
	two_hosts("xfiles", 3);
}

static void
test_a_ring_within_the_remote_host_over_tcp(void **state)
{
	(void)state;
	remote_host("ring", 4);
}

static void
test_counters_and_a_robust_mutex_within_the_remote_host_over_tcp(void **state)
{
	(void)state;
	remote_host("counters", 5);
}

static void
test_fork_exec_and_exit_on_the_remote_host_over_tcp(void **state)
{
	(void)state;
	remote_host("fork_exec", 6);
}

static void
test_read_only_attachments_on_the_remote_host_over_tcp(void **state)
{
	(void)state;
	remote_host("rdonly", 7);
}

static void
test_system_calls_on_the_remote_host_over_tcp(void **state)
{
	(void)state;
	remote_host("files", 8);
}

/*
 * A segment at key made and attached on the home's host, "the home's
 * copy" in its first page, and host B's xhold then holding that page
 * writable with its own line in it.  Returns the attachment; *id and
 * *holder are the segment and xhold's pid.
 */
static char *
held_by_host_b(key_t key, int *id, pid_t *holder)
{
	char out[160], *p, *text = NULL;

	assert_int_equal(dshm_set_server(H.a.unix_addr), 0);
	assert_true((*id = dshm_shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0666)) >= 0);
	p = dshm_shmat(*id, NULL, DSHM_SHM_COHERENT);
	assert_true(p != (void *)-1);
	strcpy(p, "the home's copy");
	assert_true((*holder = start("xhold", key, 1, 1, out, sizeof(out))) > 0);
	assert_true(WAIT_UNTIL((free(text), text = read_whole_file(out)) != NULL &&
				       strstr(text, "written") != NULL,
			       PROGRAM_MS));
	free(text);
	return p;
}

/*
 * While host B holds a page, the home's byte path (dshm_read, dshm_write,
 * a copied attachment) is refused with EBUSY rather than reading the
 * hole the page left in the home's file; when B's process is gone, its
 * bytes are home and the byte path serves them.
 */
static void
test_the_byte_path_waits_while_another_host_holds_pages(void **state)
{
	static const char mine[] = "written by the host that is lost";
	key_t key = (key_t)(0x7e500000u | ((uint32_t)getpid() & 0xffffu) << 8);
	char buf[sizeof(mine)], *p;
	pid_t holder;
	int id;

	(void)state;
	if (!H.ready)
		skip();
	p = held_by_host_b(key, &id, &holder);
	errno = 0;
	assert_int_equal(dshm_read(id, 0, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EBUSY);
	errno = 0;
	assert_int_equal(dshm_write(id, 0, "x", 1), -1);
	assert_int_equal(errno, EBUSY);
	errno = 0;
	assert_true(dshm_shmat(id, NULL, 0) == (void *)-1);
	assert_int_equal(errno, EBUSY);
	/* The coherent attachment sees the host's bytes all along. */
	assert_string_equal(p, mine);
	/* Its process gone, host B gives the pages back, with its bytes. */
	kill(holder, SIGKILL);
	assert_int_equal(wait_child(holder, HARNESS_STOP_MS), 128 + SIGKILL);
	assert_true(WAIT_UNTIL(dshm_read(id, 0, buf, sizeof(buf)) == (ssize_t)sizeof(buf), PROGRAM_MS));
	assert_string_equal(buf, mine);
	assert_int_equal(dshm_write(id, 0, "W", 1), 1);
	assert_int_equal(p[0], 'W');
	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

/*
 * Host B dies holding a page writable: what it wrote is lost, the home's
 * last copy stands, and the home's host goes on with the segment.
 */
static void
test_a_lost_host_loses_only_its_own_stores(void **state)
{
	key_t key = (key_t)(0x7e400000u | ((uint32_t)getpid() & 0xffffu) << 8);
	char *p;
	pid_t holder;
	int id;

	(void)state;
	if (!H.ready)
		skip();
	p = held_by_host_b(key, &id, &holder);
	/* Host B is lost: its dshmd and its process, all at once. */
	server_kill_group(&H.b, SIGKILL);
	kill(holder, SIGKILL);
	assert_int_equal(wait_child(holder, HARNESS_STOP_MS), 128 + SIGKILL);
	/* The home's host reads its own last copy, and writes on. */
	assert_true(WAIT_UNTIL(strcmp(p, "the home's copy") == 0, HARNESS_STOP_MS));
	strcpy(p, "and goes on");
	assert_string_equal(p, "and goes on");
	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
	/* Host B comes back, for whatever runs after. */
	server_destroy(&H.b);
	assert_int_equal(setns(H.ns_b, CLONE_NEWNET), 0);
	int rc = server_start(&H.b, "--listen", "none", "--peer-auth", H.client_auth, NULL);

	assert_int_equal(setns(H.ns_a, CLONE_NEWNET), 0);
	assert_int_equal(rc, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_ring_between_two_hosts_passes_every_item_in_order),
		cmocka_unit_test(test_counters_on_two_hosts_end_at_the_exact_sum),
		cmocka_unit_test(test_the_kernel_reads_into_and_writes_from_pages_of_the_other_host),
		cmocka_unit_test(test_a_ring_within_the_remote_host_over_tcp),
		cmocka_unit_test(test_counters_and_a_robust_mutex_within_the_remote_host_over_tcp),
		cmocka_unit_test(test_fork_exec_and_exit_on_the_remote_host_over_tcp),
		cmocka_unit_test(test_read_only_attachments_on_the_remote_host_over_tcp),
		cmocka_unit_test(test_system_calls_on_the_remote_host_over_tcp),
		cmocka_unit_test(test_the_byte_path_waits_while_another_host_holds_pages),
		cmocka_unit_test(test_a_lost_host_loses_only_its_own_stores),
	};

	return cmocka_run_group_tests_name("transparent across hosts", tests, setup_hosts,
					   teardown_hosts);
}
