/*
 * test_coherent.c — coherent attachments (DSHM_SHM_COHERENT) on a real
 * dshmd: the mapping is the segment's own memory, so a store is seen at
 * once by the server, by every other coherent attachment of the host and
 * by a forked child, with no sync; SHM_RDONLY is enforced by the kernel;
 * a removed segment lives on for those attached and its memory goes with
 * the last detach; and through TCP, which cannot carry the memory, the
 * attach fails with EIO and leaves nothing attached.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

#define PAGE 4096
#define WAIT_MS 10000


/* Files in /dev/shm whose names start with prefix. */
static int
count_files(const char *prefix)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

static void
test_a_store_is_seen_by_the_server_at_once_and_the_servers_writes_by_the_mapping(void **state)
{
	struct fixture *f = *state;
	char got[16] = "";
	char *p;
	int id;

	assert_true(fixture_use_for_segments(f));
	assert_true((id = dshm_shmget(IPC_PRIVATE, 3 * PAGE, 0600)) >= 0);
	p = dshm_shmat(id, NULL, DSHM_SHM_COHERENT);
	assert_true(p != (void *)-1);
	assert_int_equal(segment_nattch(id), 1);
	strcpy(p + PAGE + 10, "stored");
	/* No sync: the server reads the very page we wrote. */
	assert_int_equal(dshm_read(id, PAGE + 10, got, 7), 7);
	assert_string_equal(got, "stored");
	assert_int_equal(dshm_write(id, 2 * PAGE, "written", 8), 8);
	assert_string_equal(p + 2 * PAGE, "written");
	/* Nothing to do for a sync; it succeeds. */
	assert_int_equal(dshm_sync(p), 0);
	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(segment_nattch(id), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

struct peer_args {
	key_t key;
};

/* Another process: attaches by key, waits for the flag, answers through the same page. */
static int
spin_peer_main(void *arg)
{
	struct peer_args *a = arg;
	_Atomic int *flag;
	int64_t deadline;
	char *p;
	int id;

	/* Forked: the calls go to our parent's server, on a connection of our own. */
	if ((id = dshm_shmget(a->key, 0, 0)) < 0 ||
	    (p = dshm_shmat(id, NULL, DSHM_SHM_COHERENT)) == (void *)-1)
		return 10;
	flag = (_Atomic int *)(void *)p;
	deadline = harness_now_ms() + WAIT_MS;
	while (atomic_load(flag) != 1)
		if (harness_now_ms() > deadline)
			return 11;
	if (strcmp(p + 64, "ping") != 0)
		return 12;
	strcpy(p + 128, "pong");
	atomic_store(flag, 2);
	return dshm_shmdt(p) == 0 ? 0 : 13;
}

static void
test_two_processes_see_each_others_stores_without_a_sync(void **state)
{
	struct fixture *f = *state;
	struct peer_args a = {0x5ec0a001};
	_Atomic int *flag;
	int64_t deadline;
	pid_t pid;
	char *p;
	int id;

	assert_true(fixture_use_for_segments(f));
	assert_true((id = dshm_shmget(a.key, PAGE, IPC_CREAT | IPC_EXCL | 0600)) >= 0);
	p = dshm_shmat(id, NULL, DSHM_SHM_COHERENT);
	assert_true(p != (void *)-1);
	flag = (_Atomic int *)(void *)p;
	assert_true((pid = fork_child(spin_peer_main, &a)) > 0);
	/* The peer inherits our attachment, then attaches on its own: wait until it has. */
	assert_true(WAIT_UNTIL(segment_nattch(id) == 3, WAIT_MS));
	strcpy(p + 64, "ping");
	atomic_store(flag, 1);
	deadline = harness_now_ms() + WAIT_MS;
	while (atomic_load(flag) != 2 && harness_now_ms() < deadline)
		;
	assert_int_equal(atomic_load(flag), 2);
	assert_string_equal(p + 128, "pong");
	assert_int_equal(wait_child(pid, WAIT_MS), 0);
	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

static int
write_rdonly_main(void *arg)
{
	char *p = arg;

	signal(SIGSEGV, SIG_DFL); /* cmocka's handler would jump back into the runner */
	p[0] = 'x';
	return 0;
}

static void
test_a_write_to_a_read_only_coherent_attachment_is_sigsegv(void **state)
{
	struct fixture *f = *state;
	char *p;
	int id;

	assert_true(fixture_use_for_segments(f));
	assert_true((id = dshm_shmget(IPC_PRIVATE, PAGE, 0600)) >= 0);
	p = dshm_shmat(id, NULL, SHM_RDONLY | DSHM_SHM_COHERENT);
	assert_true(p != (void *)-1);
	assert_int_equal(wait_child(fork_child(write_rdonly_main, p), WAIT_MS), 128 + SIGSEGV);
	/* Not even mprotect can make it writable: the memory came read-only. */
	assert_int_equal(mprotect(p, PAGE, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

static int
child_store_main(void *arg)
{
	char *p = arg;

	strcpy(p, "from the child");
	return 0;
}

static void
test_a_forked_child_shares_the_pages_and_counts_in_nattch(void **state)
{
	struct fixture *f = *state;
	pid_t pid;
	char *p;
	int id;

	assert_true(fixture_use_for_segments(f));
	assert_true((id = dshm_shmget(IPC_PRIVATE, PAGE, 0600)) >= 0);
	p = dshm_shmat(id, NULL, DSHM_SHM_COHERENT);
	assert_true(p != (void *)-1);
	assert_true((pid = fork_child(child_store_main, p)) > 0);
	assert_int_equal(wait_child(pid, WAIT_MS), 0);
	assert_string_equal(p, "from the child");
	/* The child's exit detaches it (asynchronously, when its connection closes). */
	assert_true(WAIT_UNTIL(segment_nattch(id) == 1, WAIT_MS));
	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

static void
test_a_removed_segment_keeps_its_memory_until_the_last_detach(void **state)
{
	struct fixture *f = *state;
	char prefix[64], got[8] = "";
	char *p;
	int id, before;

	assert_true(fixture_use_for_segments(f));
	assert_true(server_attach(&f->srv));
	snprintf(prefix, sizeof(prefix), "dshm.seg.%08x.%016llx.", (unsigned)f->srv.table.hdr->key,
		 (unsigned long long)f->srv.table.hdr->instance);
	before = count_files(prefix);
	assert_true((id = dshm_shmget(IPC_PRIVATE, PAGE, 0600)) >= 0);
	assert_int_equal(count_files(prefix), before + 1);
	p = dshm_shmat(id, NULL, DSHM_SHM_COHERENT);
	assert_true(p != (void *)-1);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
	strcpy(p, "alive");
	assert_int_equal(dshm_read(id, 0, got, 6), 6);
	assert_string_equal(got, "alive");
	assert_int_equal(count_files(prefix), before + 1);
	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(count_files(prefix), before);
	assert_int_equal(dshm_shmctl(id, IPC_STAT, &(struct shmid_ds){0}), -1);
	assert_int_equal(errno, EINVAL);
}

struct doomed {
	int id;
	int go[2]; /* the child dies when a byte arrives */
};

static int
attach_and_die_main(void *arg)
{
	struct doomed *d = arg;
	char c;

	close(d->go[1]);
	if (dshm_shmat(d->id, NULL, DSHM_SHM_COHERENT) == (void *)-1)
		return 10;
	if (read(d->go[0], &c, 1) < 0)
		return 11;
	raise(SIGKILL); /* no handler runs: the server learns only from the closed socket */
	return 12;
}

static void
test_a_killed_attachers_attachments_are_gone_once_it_is_reaped(void **state)
{
	struct fixture *f = *state;
	struct doomed d;
	struct shmid_ds ds;
	pid_t pid;
	char *p;

	assert_true(fixture_use_for_segments(f));
	assert_true((d.id = dshm_shmget(IPC_PRIVATE, PAGE, 0600)) >= 0);
	p = dshm_shmat(d.id, NULL, DSHM_SHM_COHERENT);
	assert_true(p != (void *)-1);
	assert_int_equal(pipe(d.go), 0);
	/* The child inherits our attachment and makes one of its own. */
	assert_true((pid = fork_child(attach_and_die_main, &d)) > 0);
	close(d.go[0]);
	assert_true(WAIT_UNTIL(segment_nattch(d.id) == 3, WAIT_MS));
	/* Its last attacher will be the child: removed, the segment lives on for it. */
	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(dshm_shmctl(d.id, IPC_RMID, NULL), 0);
	assert_int_equal(segment_nattch(d.id), 2);
	assert_int_equal(write(d.go[1], "", 1), 1);
	assert_int_equal(wait_child(pid, WAIT_MS), 128 + SIGKILL);
	close(d.go[1]);
	/* Reaped: as with the kernel, the segment is gone already, not in a moment. */
	assert_int_equal(dshm_shmctl(d.id, IPC_STAT, &ds), -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_through_tcp_a_coherent_attach_is_eio_and_attaches_nothing(void **state)
{
	struct fixture *f = *state;
	int id;

	assert_int_equal(dshm_set_server(server_addr(&f->srv, TRANSPORT_TCP)), 0);
	assert_true((id = dshm_shmget(IPC_PRIVATE, PAGE, 0600)) >= 0);
	assert_true(dshm_shmat(id, NULL, DSHM_SHM_COHERENT) == (void *)-1);
	assert_int_equal(errno, EIO);
	assert_int_equal(segment_nattch(id), 0);
	/* A plain attachment still works there. */
	char *p = dshm_shmat(id, NULL, 0);
	assert_true(p != (void *)-1);
	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_ONE(test_a_store_is_seen_by_the_server_at_once_and_the_servers_writes_by_the_mapping),
		TEST_ONE(test_two_processes_see_each_others_stores_without_a_sync),
		TEST_ONE(test_a_write_to_a_read_only_coherent_attachment_is_sigsegv),
		TEST_ONE(test_a_forked_child_shares_the_pages_and_counts_in_nattch),
		TEST_ONE(test_a_removed_segment_keeps_its_memory_until_the_last_detach),
		TEST_ONE(test_a_killed_attachers_attachments_are_gone_once_it_is_reaped),
		TEST_ONE(test_through_tcp_a_coherent_attach_is_eio_and_attaches_nothing),
	};

	return cmocka_run_group_tests_name("coherent", tests, NULL, NULL);
}
