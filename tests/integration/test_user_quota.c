/*
 * test_user_quota.c — one user cannot fill the control table for
 * everyone.  A process of uid 65534 (nobody) makes paging processes and
 * segments until refused: it gets exactly its --max-processes-per-user
 * share (DSHM_USER_LIMIT for init, ENOSPC for shmget), and never the
 * last slots, which stay root's; it attaches until refused: exactly its
 * --max-attachments-per-user (ENOMEM, as a full table), while root still
 * attaches.  Over the Unix socket and a loopback port alike.
 *
 * Needs root (to be another user than the one refused); skipped without.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

#define NOBODY 65534
#define PAGE 4096

struct job {
	const char *addr;
	int share;     /* what nobody must get before it is refused */
	int refusal;   /* the paging code of the refusal */
	int32_t first; /* nobody's pids start here (the transports use their own) */
};

static int
become_nobody(void)
{
	return setgid(NOBODY) == 0 && setuid(NOBODY) == 0 ? 0 : -1;
}

/* As nobody: share owners (processes, then one segment), then the refusal of each kind. */
static int
fill_slots(void *arg)
{
	const struct job *j = arg;
	int fd, id;

	if (become_nobody() != 0)
		return 10;
	fd = dshm_connect(j->addr);
	if (fd < 0 || handshake(&fd, NULL) <= 0)
		return 11;
	for (int i = 0; i < j->share - 1; i++)
		if (memory_init_process(fd, j->first + i, 1, NULL) != SUCCESS)
			return 20 + i;
	/* A segment takes a slot of the same share. */
	if (dshm_set_server(j->addr) != 0 || (id = dshm_shmget(IPC_PRIVATE, PAGE, 0600)) < 0)
		return 12;
	if (memory_init_process(fd, j->first + 100, 1, NULL) != j->refusal)
		return 13;
	errno = 0;
	if (dshm_shmget(IPC_PRIVATE, PAGE, 0600) != -1 || errno != ENOSPC)
		return 14;
	/* One given back makes room for one. */
	if (dshm_shmctl(id, IPC_RMID, NULL) != 0 ||
	    memory_init_process(fd, j->first + 100, 1, NULL) != SUCCESS)
		return 15;
	close(fd);
	return 0;
}

static void
nobody_fills(struct job *j)
{
	pid_t pid = fork_child(fill_slots, j);

	assert_true(pid > 0);
	assert_int_equal(wait_child(pid, HARNESS_STOP_MS * 2), 0);
}

/* Root still makes a process and a segment. */
static void
root_still_creates(const char *addr, int32_t pid)
{
	int fd = dshm_connect(addr), id;

	assert_true(fd >= 0);
	assert_true(handshake(&fd, NULL) > 0);
	assert_int_equal(memory_init_process(fd, pid, 1, NULL), SUCCESS);
	close(fd);
	assert_int_equal(dshm_set_server(addr), 0);
	assert_true((id = dshm_shmget(IPC_PRIVATE, PAGE, 0600)) >= 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

static void
test_one_user_owns_at_most_its_share_of_the_table(void **state)
{
	struct fixture *f = *state;
	struct job unix_job = {.share = 4, .refusal = DSHM_USER_LIMIT, .first = 1000};
	struct job tcp_job = {.share = 4, .refusal = DSHM_USER_LIMIT, .first = 2000};

	if (geteuid() != 0)
		skip();
	assert_int_equal(fixture_start(f, "--max-processes", "64", "--max-processes-per-user", "4",
				       NULL),
			 0);
	server_open_to_all(&f->srv);
	unix_job.addr = f->srv.unix_addr;
	nobody_fills(&unix_job);
	root_still_creates(f->srv.unix_addr, 1);
	/* Over TCP nobody is the same user: its share is already taken. */
	tcp_job.addr = f->srv.tcp_addr;
	tcp_job.share = 1;
	tcp_job.first = 1000 + 100; /* its pids from the Unix socket are its own */
	assert_int_equal(dshm_set_server(NULL), 0);
	{
		pid_t pid = fork_child(fill_slots, &tcp_job);

		/* share 1: the segment is refused at once, ENOSPC (exit 12) */
		assert_true(pid > 0);
		assert_int_equal(wait_child(pid, HARNESS_STOP_MS * 2), 12);
	}
	root_still_creates(f->srv.tcp_addr, 2);
	assert_int_equal(dshm_set_server(NULL), 0);
}

static void
test_the_last_slots_are_roots(void **state)
{
	struct fixture *f = *state;
	/* 64 slots, an eighth (8) kept: nobody gets 56 with no share of its own to stop it. */
	struct job j = {.share = 56, .refusal = DSHM_TABLE_FULL, .first = 1};

	if (geteuid() != 0)
		skip();
	assert_int_equal(fixture_start(f, "--max-processes", "64", "--max-processes-per-user",
				       "64", NULL),
			 0);
	server_open_to_all(&f->srv);
	j.addr = f->srv.tcp_addr;
	nobody_fills(&j);
	root_still_creates(f->srv.unix_addr, 500);
	assert_int_equal(dshm_set_server(NULL), 0);
}

/* As nobody: attaches root's open segment (shmid in arg's job.first) until refused. */
static int
fill_attachments(void *arg)
{
	const struct job *j = arg;
	void *at[64];

	if (become_nobody() != 0 || dshm_set_server(j->addr) != 0)
		return 10;
	for (int i = 0; i < j->share; i++)
		if ((at[i] = dshm_shmat(j->first, NULL, SHM_RDONLY)) == (void *)-1)
			return 20 + i;
	errno = 0;
	if (dshm_shmat(j->first, NULL, SHM_RDONLY) != (void *)-1 || errno != ENOMEM)
		return 11;
	if (dshm_shmdt(at[0]) != 0 || (at[0] = dshm_shmat(j->first, NULL, SHM_RDONLY)) == (void *)-1)
		return 12;
	for (int i = 0; i < j->share; i++)
		dshm_shmdt(at[i]);
	return 0;
}

static void
test_one_user_holds_at_most_its_share_of_attachments(void **state)
{
	struct fixture *f = *state;
	const char *addrs[2];
	void *mine;
	int id;

	if (geteuid() != 0)
		skip();
	assert_int_equal(fixture_start(f, "--max-attachments-per-user", "5", NULL), 0);
	server_open_to_all(&f->srv);
	addrs[0] = f->srv.unix_addr;
	addrs[1] = f->srv.tcp_addr;
	assert_int_equal(dshm_set_server(f->srv.unix_addr), 0);
	assert_true((id = dshm_shmget(IPC_PRIVATE, PAGE, 0644)) >= 0);
	for (int k = 0; k < 2; k++) {
		struct job j = {.addr = addrs[k], .share = 5, .first = id};
		pid_t pid = fork_child(fill_attachments, &j);

		assert_true(pid > 0);
		assert_int_equal(wait_child(pid, HARNESS_STOP_MS * 2), 0);
	}
	/* Root attaches whatever nobody holds. */
	assert_true((mine = dshm_shmat(id, NULL, 0)) != (void *)-1);
	assert_int_equal(dshm_shmdt(mine), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
	assert_int_equal(dshm_set_server(NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_ONE_BARE(test_one_user_owns_at_most_its_share_of_the_table),
		TEST_ONE_BARE(test_the_last_slots_are_roots),
		TEST_ONE_BARE(test_one_user_holds_at_most_its_share_of_attachments),
	};

	return cmocka_run_group_tests_name("per-user quotas", tests, NULL, NULL);
}
