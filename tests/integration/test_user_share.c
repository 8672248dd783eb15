/*
 * test_user_share.c — one user cannot take every connection.  A process
 * of uid 65534 (nobody) opens connections until dshmd closes one at once:
 * it gets exactly its --max-connections-per-user share, on the Unix
 * socket and on a loopback port alike (the server knows a loopback
 * peer's user), while root still connects; when it closes one, it may
 * open one again.  Without a share, the --reserved-connections are still
 * root's.
 *
 * Needs root (to be another user than the one refused); skipped without.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

#define NOBODY 65534
#define MAX_HOLD 16

struct hold {
	const char *addr;
	int want;        /* connections nobody must get before one is refused */
	int report[2];   /* the child: 'h' once it holds them, then its verdict */
	int go[2];       /* the parent: close them now */
};

/* As nobody: takes want connections, sees the next refused, holds them until told, then frees one. */
static int
holder(void *arg)
{
	struct hold *h = arg;
	int fds[MAX_HOLD], extra, rc = 0;
	char c;

	close(h->report[0]);
	close(h->go[1]);
	if (setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
		return 10;
	for (int i = 0; i < h->want; i++)
		if ((fds[i] = raw_connect(h->addr)) < 0 || !raw_hello_on(fds[i], NULL))
			return 20 + i; /* refused within the share */
	extra = raw_connect(h->addr);
	if (extra < 0 || !raw_wait_closed(extra, HARNESS_STOP_MS))
		return 11; /* one beyond the share was served */
	close(extra);
	if (write(h->report[1], "h", 1) != 1 || read(h->go[0], &c, 1) < 0) /* EOF: go */
		return 12;
	/* The ones held are still served, and one closed makes room for one. */
	for (int i = 0; i < h->want; i++)
		if (!raw_hello_on(fds[i], NULL))
			rc = 13;
	close(fds[0]);
	if (!WAIT_UNTIL(raw_hello(h->addr, NULL), HARNESS_STOP_MS))
		rc = 14;
	for (int i = 1; i < h->want; i++)
		close(fds[i]);
	return rc;
}

/* Runs holder as nobody against addr; while it holds its share, root connects. */
static void
nobody_gets_its_share(const char *addr, int want)
{
	struct hold h = {.addr = addr, .want = want};
	pid_t pid;
	char c = 0;

	assert_true(want <= MAX_HOLD);
	assert_int_equal(pipe(h.report), 0);
	assert_int_equal(pipe(h.go), 0);
	assert_true((pid = fork_child(holder, &h)) > 0);
	close(h.report[1]);
	close(h.go[0]);
	if (read(h.report[0], &c, 1) == 1 && c == 'h')
		assert_true(raw_hello(addr, NULL)); /* root, while nobody holds all it may */
	close(h.go[1]);
	close(h.report[0]);
	assert_int_equal(wait_child(pid, HARNESS_STOP_MS * 2), 0);
}

static void
test_one_user_gets_its_share_of_connections_and_root_gets_in(void **state)
{
	struct fixture *f = *state;

	if (geteuid() != 0)
		skip();
	assert_int_equal(fixture_start(f, "--workers", "2", "--max-connections", "40",
				       "--max-connections-per-user", "6", NULL),
			 0);
	server_open_to_all(&f->srv);
	nobody_gets_its_share(f->srv.unix_addr, 6);
	nobody_gets_its_share(f->srv.tcp_addr, 6);
}

static void
test_without_a_share_the_reserve_is_roots(void **state)
{
	struct fixture *f = *state;

	if (geteuid() != 0)
		skip();
	/* 10 connections, 4 of them reserved: nobody gets 6, over either transport. */
	assert_int_equal(fixture_start(f, "--workers", "2", "--max-connections", "10",
				       "--max-connections-per-user", "0", "--reserved-connections",
				       "4", NULL),
			 0);
	server_open_to_all(&f->srv);
	nobody_gets_its_share(f->srv.unix_addr, 6);
	nobody_gets_its_share(f->srv.tcp_addr, 6);
}

static void
test_the_default_share_is_a_quarter_of_the_connections(void **state)
{
	struct fixture *f = *state;

	if (geteuid() != 0)
		skip();
	assert_int_equal(fixture_start(f, "--max-connections", "32", NULL), 0);
	server_open_to_all(&f->srv);
	nobody_gets_its_share(f->srv.unix_addr, 8);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_ONE_BARE(test_one_user_gets_its_share_of_connections_and_root_gets_in),
		TEST_ONE_BARE(test_without_a_share_the_reserve_is_roots),
		TEST_ONE_BARE(test_the_default_share_is_a_quarter_of_the_connections),
	};

	return cmocka_run_group_tests_name("per-user connection shares", tests, NULL, NULL);
}
