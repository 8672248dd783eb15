/*
 * test_segments_netns.c — two hosts share a segment: the test makes two
 * network namespaces joined by a veth pair (10.213.0.1 and 10.213.0.2),
 * runs dshmd and one client in the first and another client in the
 * second, and each client sees the other's writes after a sync.  The
 * addresses are not loopback, so dshmd runs with --auth-file and the
 * clients authenticate with the credential named by $DSHM_AUTH_FILE.
 *
 * The test process moves itself into a namespace of its own before
 * anything else, so nothing it does touches the machine's network.  It
 * needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and ip(8) from iproute2;
 * without them it is skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sched.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

#define KEY 0x5e0a0b01
#define SIZE 8192

/* Runs ip(8) with the given arguments; true when it succeeded. */
static bool
ip(const char *args)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "ip %s >/dev/null 2>&1", args);
	return system(cmd) == 0;
}

struct host_b {
	const char *addr;
	int to_b[2], to_a[2];
};

static bool
await(int fd, char want)
{
	char c;

	return read(fd, &c, 1) == 1 && c == want;
}

static bool
tell(int fd, char c)
{
	return write(fd, &c, 1) == 1;
}

/* The second host: its own namespace, reached only through the veth pair. */
static int
host_b_main(void *arg)
{
	struct host_b *h = arg;
	char *p;
	int id;

	close(h->to_b[1]);
	close(h->to_a[0]);
	if (unshare(CLONE_NEWNET) != 0 || !tell(h->to_a[1], 'n') || !await(h->to_b[0], 'm'))
		return 10;
	if (!ip("link set lo up") || !ip("addr add 10.213.0.2/24 dev dshm-b") ||
	    !ip("link set dshm-b up"))
		return 11;
	if (!await(h->to_b[0], 'g') || dshm_set_server(h->addr) != 0)
		return 12;
	/* The link may take a moment to carry traffic after it comes up. */
	if (!WAIT_UNTIL((id = dshm_shmget(KEY, 0, 0)) >= 0, 5000))
		return 13;
	if ((p = dshm_shmat(id, NULL, 0)) == (void *)-1 || strcmp(p, "hello from A") != 0)
		return 14;
	strcpy(p + 4096, "hello from B");
	if (dshm_sync(p) != 0 || !tell(h->to_a[1], 'd') || !await(h->to_b[0], 'e'))
		return 15;
	if (dshm_sync(p) != 0 || strcmp(p, "A again") != 0 || strcmp(p + 4096, "hello from B") != 0)
		return 16;
	if (dshm_shmdt(p) != 0 || !tell(h->to_a[1], 'f'))
		return 17;
	/* Our namespace, and the veth pair with it, lives until host A is done. */
	return await(h->to_b[0], 'q') ? 0 : 18;
}

/* The server's credentials file (uid 0 for the key) and the client's ("NAME HEXKEY"). */
static void
write_credentials(char *server_file, char *client_file)
{
	static const char hex[] = "6b6579206f66207468652074776f2d686f7374207465737420666f7220647368";
	char dir[96];
	FILE *f;

	assert_true(scratch_dir(dir, sizeof(dir)));
	snprintf(server_file, 128, "%s/server-auth", dir);
	snprintf(client_file, 128, "%s/client-auth", dir);
	assert_non_null(f = fopen(server_file, "w"));
	fprintf(f, "hosts 0 0 %s\n", hex);
	fclose(f);
	assert_int_equal(chmod(server_file, 0600), 0);
	assert_non_null(f = fopen(client_file, "w"));
	fprintf(f, "hosts %s\n", hex);
	fclose(f);
}

static void
test_two_hosts_share_a_segment(void **state)
{
	struct fixture *f = *state;
	char server_file[128], client_file[128];
	struct host_b h;
	char cmd[64], *p;
	pid_t pid;
	int id;

	if (unshare(CLONE_NEWNET) != 0 || !ip("link set lo up") ||
	    !ip("link add dshm-a type veth peer name dshm-b"))
		skip(); /* not root, or no ip(8), or no veth */
	assert_true(ip("addr add 10.213.0.1/24 dev dshm-a"));
	assert_true(ip("link set dshm-a up"));
	/*
	 * 10.213.0.1 is no loopback address: dshmd wants its clients to
	 * authenticate, and both find their credential in $DSHM_AUTH_FILE.
	 */
	write_credentials(server_file, client_file);
	assert_int_equal(setenv("DSHM_AUTH_FILE", client_file, 1), 0);
	assert_int_equal(fixture_start(f, "--listen", "10.213.0.1:0", "--auth-file", server_file,
				       NULL),
			 0);
	assert_true(strncmp(f->srv.tcp_addr, "10.213.0.1:", 11) == 0);

	h.addr = f->srv.tcp_addr;
	assert_int_equal(pipe(h.to_b), 0);
	assert_int_equal(pipe(h.to_a), 0);
	pid = fork_child(host_b_main, &h);
	assert_true(pid > 0);
	close(h.to_b[0]);
	close(h.to_a[1]);
	assert_true(await(h.to_a[0], 'n'));
	snprintf(cmd, sizeof(cmd), "link set dshm-b netns %d", (int)pid);
	assert_true(ip(cmd));
	assert_true(tell(h.to_b[1], 'm'));

	assert_int_equal(dshm_set_server(f->srv.tcp_addr), 0);
	id = dshm_shmget(KEY, SIZE, IPC_CREAT | 0600);
	assert_true(id >= 0);
	p = dshm_shmat(id, NULL, 0);
	assert_true(p != (void *)-1);
	strcpy(p, "hello from A");
	assert_int_equal(dshm_sync(p), 0);
	assert_true(tell(h.to_b[1], 'g'));

	assert_true(await(h.to_a[0], 'd'));
	assert_int_equal(dshm_sync(p), 0);
	assert_string_equal(p + 4096, "hello from B");
	strcpy(p, "A again");
	assert_int_equal(dshm_sync(p), 0);
	assert_true(tell(h.to_b[1], 'e'));
	assert_true(await(h.to_a[0], 'f'));

	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
	assert_true(tell(h.to_b[1], 'q'));
	assert_int_equal(wait_child(pid, HARNESS_STOP_MS), 0);
	close(h.to_b[1]);
	close(h.to_a[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_ONE_BARE(test_two_hosts_share_a_segment),
	};

	return cmocka_run_group_tests_name("segments across namespaces", tests, NULL, NULL);
}
