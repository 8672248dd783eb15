/*
 * test_auth.c — --auth-file: a client the kernel cannot identify (TCP
 * from an address that is not loopback) must prove a credential before
 * anything else; it then acts as the credential's uid and gid, whatever
 * it says of itself.  A wrong key is refused and the connection closed;
 * dshmd refuses to listen beyond loopback without credentials, and
 * refuses a credentials file others can read.
 *
 * The test moves itself into a network namespace of its own and gives
 * one end of a veth pair 10.214.0.1: connections to it come from an
 * address that is not loopback, as a remote host's would.  It needs root and
 * ip(8); without them it is skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

static const unsigned char key[32] = "0123456789abcdef0123456789abcdef";
static const char key_hex[] = "3031323334353637383961626364656630313233343536373839616263646566";

static bool
ip(const char *args)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "ip %s >/dev/null 2>&1", args);
	return system(cmd) == 0;
}

/* A namespace of our own with 10.214.0.1 on an interface; false if this host cannot. */
static bool
own_network(void)
{
	static int done;

	if (done == 0)
		done = unshare(CLONE_NEWNET) == 0 && ip("link set lo up") &&
				       ip("link add dshm-a0 type veth peer name dshm-b0") &&
				       ip("addr add 10.214.0.1/24 dev dshm-a0") &&
				       ip("link set dshm-a0 up") && ip("link set dshm-b0 up")
			       ? 1
			       : -1;
	return done == 1;
}

/* Writes the credentials file into the fixture's scratch area; returns its path. */
static const char *
write_auth_file(mode_t mode)
{
	static char path[128];
	FILE *f;

	assert_true(scratch_dir(path, sizeof(path) - 16));
	strcat(path, "/auth");
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "# name uid gid key\nalice 65534 65534 %s\nbob 4242 4242 %s\n", key_hex,
		key_hex);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static void
start_authenticating(struct fixture *f)
{
	if (!own_network())
		skip();
	assert_int_equal(fixture_start(f, "--listen", "10.214.0.1:0", "--auth-file",
				       write_auth_file(0600), NULL),
			 0);
}

static void
test_an_unauthenticated_remote_client_gets_an_error_and_nothing_else(void **state)
{
	struct fixture *f = *state;
	int fd;

	start_authenticating(f);
	assert_int_equal(dshm_set_auth(NULL, NULL), DSHM_SUCCESS);
	fd = dshm_connect(f->srv.tcp_addr);
	assert_true(fd >= 0);
	assert_int_equal(handshake(&fd, NULL), DSHM_AUTH_REQUIRED);
	assert_int_equal(memory_init_process(fd, 1, 1, NULL), DSHM_AUTH_REQUIRED);
	close(fd);
	/* The Unix socket needs no credential: the kernel says who we are. */
	fd = dshm_connect(f->addr);
	assert_true(fd >= 0);
	assert_true(handshake(&fd, NULL) > 0);
	close(fd);
}

static void
test_a_wrong_key_is_refused(void **state)
{
	struct fixture *f = *state;
	unsigned char wrong[32];

	start_authenticating(f);
	memcpy(wrong, key, sizeof(wrong));
	wrong[31] ^= 1;
	assert_int_equal(dshm_set_auth("alice", wrong), DSHM_SUCCESS);
	assert_int_equal(dshm_connect(f->srv.tcp_addr), DSHM_AUTH_FAILED);
	assert_int_equal(dshm_set_auth("mallory", key), DSHM_SUCCESS);
	assert_int_equal(dshm_connect(f->srv.tcp_addr), DSHM_AUTH_FAILED);
	dshm_set_auth(NULL, NULL);
}

static void
test_an_authenticated_client_acts_as_its_credentials_uid(void **state)
{
	struct fixture *f = *state;
	int fd, id;

	start_authenticating(f);
	/* Root's private segment, made over the Unix socket. */
	assert_int_equal(dshm_set_server(f->addr), 0);
	id = dshm_shmget(0x5eaa0001, 4096, IPC_CREAT | 0600);
	assert_true(id >= 0);

	assert_int_equal(dshm_set_auth("alice", key), DSHM_SUCCESS);
	fd = dshm_connect(f->srv.tcp_addr);
	assert_true(fd >= 0);
	assert_true(handshake(&fd, NULL) > 0);
	assert_int_equal(memory_init_process(fd, 5, 1, NULL), DSHM_SUCCESS);
	close(fd);
	/* This process is root, but over TCP it is alice (65534): the mode keeps it out. */
	assert_int_equal(dshm_set_server(f->srv.tcp_addr), 0);
	errno = 0;
	assert_int_equal(dshm_shmget(0x5eaa0001, 0, 0600), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(dshm_set_server(f->addr), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
	dshm_set_auth(NULL, NULL);
}

static void
test_a_remote_user_gets_its_share_of_connections_once_it_proves_who_it_is(void **state)
{
	struct fixture *f = *state;
	int fds[3];

	if (!own_network())
		skip();
	assert_int_equal(fixture_start(f, "--listen", "10.214.0.1:0", "--auth-file",
				       write_auth_file(0600), "--max-connections-per-user", "2", NULL),
			 0);
	/* Unproven, a peer counts as nobody; proven, as bob (4242), whose share is 2. */
	assert_int_equal(dshm_set_auth("bob", key), DSHM_SUCCESS);
	for (int i = 0; i < 2; i++)
		assert_true((fds[i] = dshm_connect(f->srv.tcp_addr)) >= 0);
	assert_int_equal(dshm_connect(f->srv.tcp_addr), DSHM_USER_LIMIT);
	assert_non_null(strstr(dshm_last_error(), "share of connections"));
	/* Another user is not held to bob's share. */
	assert_int_equal(dshm_set_auth("alice", key), DSHM_SUCCESS);
	assert_true((fds[2] = dshm_connect(f->srv.tcp_addr)) >= 0);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	dshm_set_auth(NULL, NULL);
}

static void
test_no_listening_beyond_loopback_without_credentials(void **state)
{
	struct fixture *f = *state;
	struct server s = {0};

	(void)f;
	if (!own_network())
		skip();
	assert_int_equal(server_spawn(&s, "--listen", "10.214.0.1:0", NULL), 0);
	assert_int_equal(server_wait_exit(&s, HARNESS_STOP_MS), 2);
	assert_true(server_log_has(&s, "is not a loopback address: give --auth-file"));
	server_destroy(&s);
	/* Nor with a credentials file others can read. */
	assert_int_equal(server_spawn(&s, "--listen", "10.214.0.1:0", "--auth-file",
				      write_auth_file(0644), NULL),
			 0);
	assert_int_equal(server_wait_exit(&s, HARNESS_STOP_MS), 2);
	assert_true(server_log_has(&s, "readable by it alone"));
	server_destroy(&s);
}

static void
test_before_authenticating_a_peer_may_send_nothing_large_nor_linger(void **state)
{
	struct fixture *f = *state;
	unsigned char head[PROTO_HEADER_LEN];
	struct proto_header h;
	size_t got;
	int fd;

	start_authenticating(f);
	/* A header announcing a large body is answered at once, and the connection ends. */
	fd = raw_connect(f->srv.tcp_addr);
	assert_true(fd >= 0);
	raw_encode(head, OP_PROC_WRITE, 1, 1u << 20, NULL, 0);
	assert_true(raw_send(fd, head, sizeof(head)));
	assert_true(raw_reply(fd, &h, NULL, 0, &got));
	assert_int_equal(h.status, DSHM_AUTH_REQUIRED);
	assert_true(raw_wait_closed(fd, HARNESS_STOP_MS));
	close(fd);
	/* A peer that says nothing is let go after 10 s. */
	fd = raw_connect(f->srv.tcp_addr);
	assert_true(fd >= 0);
	assert_true(raw_wait_closed(fd, 15000));
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_ONE_BARE(test_an_unauthenticated_remote_client_gets_an_error_and_nothing_else),
		TEST_ONE_BARE(test_a_wrong_key_is_refused),
		TEST_ONE_BARE(test_an_authenticated_client_acts_as_its_credentials_uid),
		TEST_ONE_BARE(test_a_remote_user_gets_its_share_of_connections_once_it_proves_who_it_is),
		TEST_ONE_BARE(test_no_listening_beyond_loopback_without_credentials),
		TEST_ONE_BARE(test_before_authenticating_a_peer_may_send_nothing_large_nor_linger),
	};

	return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
