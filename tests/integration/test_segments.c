/*
 * test_segments.c — segments served by a real dshmd, beyond what the
 * kernel can be compared with: clients that die attached are detached
 * and a removed segment then goes with its frames; a worker that dies
 * takes its connections' attachments with it and the clients' unsynced
 * bytes still arrive; segments larger than one request sync whole; and
 * malformed segment requests are refused without closing the connection.
 *
 * (tests/integration/test_segments_diff.c compares the calls' results
 * with the kernel's; this file covers what the kernel has no counterpart
 * for.)  The System V-style calls keep one connection per process, so
 * every test first points them at its own server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

#define PAGE 4096


/* A stats counter of the server, or -1. */
static long long
server_counter(const struct fixture *f, const char *name)
{
	int fd = dshm_connect(f->addr);
	char *text = NULL;
	long long v = -1;
	size_t n = strlen(name);

	assert_true(fd >= 0);
	assert_int_equal(dshm_stats(fd, &text), DSHM_SUCCESS);
	for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			v = strtoll(p + n + 1, NULL, 10);
	free(text);
	close(fd);
	return v;
}

/* ---- clients that die attached -------------------------------------------- */

struct sleeper {
	const char *addr;
	int id;
	int ready[2];
};

/* Attaches, writes without syncing, says so, and waits to be killed. */
static int
sleeper_main(void *arg)
{
	struct sleeper *s = arg;
	char *p;

	close(s->ready[0]);
	if (dshm_set_server(s->addr) != 0 || (p = dshm_shmat(s->id, NULL, 0)) == (void *)-1)
		return 10;
	strcpy(p, "unsynced");
	if (write(s->ready[1], "", 1) != 1)
		return 11;
	for (;;)
		pause();
}

static pid_t
start_sleeper(struct sleeper *s, const char *addr, int id)
{
	pid_t pid;
	char c;

	*s = (struct sleeper){.addr = addr, .id = id};
	assert_int_equal(pipe(s->ready), 0);
	pid = fork_child(sleeper_main, s);
	assert_true(pid > 0);
	close(s->ready[1]);
	assert_int_equal(read(s->ready[0], &c, 1), 1);
	close(s->ready[0]);
	return pid;
}

static void
test_a_killed_client_is_detached_and_a_removed_segment_then_goes_with_its_frames(void **state)
{
	struct fixture *f = *state;
	struct sleeper s;
	struct shmid_ds ds;
	pid_t pid;
	int id;

	assert_true(fixture_use_for_segments(f));
	id = dshm_shmget(0x5e5e0001, 3 * PAGE, IPC_CREAT | 0600);
	assert_true(id >= 0);
	assert_int_equal(server_counter(f, "frames_used"), 3);
	pid = start_sleeper(&s, f->addr, id);
	assert_int_equal(segment_nattch(id), 1);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
	assert_int_equal(dshm_shmctl(id, IPC_STAT, &ds), 0);
	assert_true(ds.shm_perm.mode & SHM_DEST);
	assert_int_equal(ds.shm_perm.__key, IPC_PRIVATE);

	kill(pid, SIGKILL);
	assert_int_equal(wait_child(pid, HARNESS_STOP_MS), 128 + SIGKILL);
	/* Detached as the connection closes: the removed segment is freed. */
	assert_true(WAIT_UNTIL(dshm_shmctl(id, IPC_STAT, &ds) == -1 && errno == EINVAL, 2000));
	assert_int_equal(server_counter(f, "frames_used"), 0);
	assert_int_equal(ds.shm_nattch, 1); /* the last successful stat */
}

static void
test_a_client_that_exits_without_detaching_publishes_its_changes_first(void **state)
{
	struct fixture *f = *state;
	struct sleeper s;
	char got[16] = "";
	pid_t pid;
	int id;

	assert_true(fixture_use_for_segments(f));
	id = dshm_shmget(IPC_PRIVATE, PAGE, 0600);
	assert_true(id >= 0);
	pid = start_sleeper(&s, f->addr, id);
	/* SIGTERM's default action skips atexit: what was not synced is lost... */
	kill(pid, SIGTERM);
	assert_int_equal(wait_child(pid, HARNESS_STOP_MS), 128 + SIGTERM);
	assert_true(WAIT_UNTIL(segment_nattch(id) == 0, 2000));
	assert_int_equal(dshm_read(id, 0, got, sizeof(got)), sizeof(got));
	assert_string_equal(got, "");

	/* ...but a normal exit publishes it. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *p;

		if (dshm_set_server(f->addr) != 0 || (p = dshm_shmat(id, NULL, 0)) == (void *)-1)
			_exit(10);
		strcpy(p, "at exit");
		exit(0);
	}
	assert_int_equal(wait_child(pid, HARNESS_STOP_MS), 0);
	assert_int_equal(dshm_read(id, 0, got, sizeof(got)), sizeof(got));
	assert_string_equal(got, "at exit");
	assert_true(WAIT_UNTIL(segment_nattch(id) == 0, 2000));
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

/* ---- a worker that dies ---------------------------------------------------- */

static void
test_a_dead_workers_attachments_are_dropped_and_its_clients_reattach(void **state)
{
	struct fixture *f = *state;
	pid_t workers[8];
	char got[8] = "";
	char *p;
	int n, id;

	assert_int_equal(fixture_start(f, "--workers", "1", NULL), 0);
	assert_true(fixture_use_for_segments(f));
	id = dshm_shmget(IPC_PRIVATE, PAGE, 0600);
	assert_true(id >= 0);
	p = dshm_shmat(id, NULL, 0);
	assert_true(p != (void *)-1);
	assert_int_equal(segment_nattch(id), 1);
	strcpy(p, "kept");

	n = server_workers(&f->srv, workers, 8);
	assert_int_equal(n, 1);
	kill(workers[0], SIGKILL);
	assert_true(WAIT_UNTIL(server_workers(&f->srv, workers + 1, 1) == 1 &&
				       workers[1] != workers[0],
			       HARNESS_STOP_MS));
	/*
	 * The new worker dropped the dead one's rows; our next call finds
	 * the connection gone, opens another and attaches again, and the
	 * bytes written before the crash are published by the sync.  (An
	 * io_uring worker's sockets close only when the kernel has torn its
	 * ring down, a few milliseconds after its death: a repeatable call
	 * goes first there, so the sync, which is never repeated, is not
	 * sent into a connection nobody serves any more.)
	 */
	if (uring_loop())
		assert_int_equal(segment_nattch(id), 1);
	assert_int_equal(dshm_sync(p), 0);
	assert_int_equal(segment_nattch(id), 1);
	assert_int_equal(dshm_read(id, 0, got, 5), 5);
	assert_string_equal(got, "kept");
	/* A call that is never repeated does not fail either: the dead connection is seen first. */
	kill(workers[1], SIGKILL);
	assert_true(WAIT_UNTIL(server_workers(&f->srv, workers + 2, 1) == 1 &&
				       workers[2] != workers[1],
			       HARNESS_STOP_MS));
	if (uring_loop())
		assert_int_equal(segment_nattch(id), 1);
	n = dshm_shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
	assert_true(n >= 0);
	assert_int_equal(dshm_shmctl(n, IPC_RMID, NULL), 0);
	assert_int_equal(segment_nattch(id), 1);
	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(segment_nattch(id), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

/* ---- identity ------------------------------------------------------------ */

static void
test_over_the_unix_socket_ident_cannot_change_who_the_kernel_says_we_are(void **state)
{
	struct fixture *f = *state;
	unsigned char claim[PROTO_IDENT_LEN], reply[PROTO_IDENT_LEN];
	struct proto_header h;
	size_t got;
	int fd = raw_connect(f->addr);

	assert_true(fd >= 0);
	proto_put_u32(claim, 1);
	proto_put_u32(claim + 4, 4242);
	proto_put_u32(claim + 8, 4343);
	assert_true(raw_request(fd, OP_IDENT, 1, NULL, 0, claim, sizeof(claim)));
	assert_true(raw_reply(fd, &h, reply, sizeof(reply), &got));
	assert_int_equal(h.status, DSHM_SUCCESS);
	assert_int_equal(got, PROTO_IDENT_LEN);
	assert_int_equal(proto_get_u32(reply), (uint32_t)getpid());
	assert_int_equal(proto_get_u32(reply + 4), geteuid());
	assert_int_equal(proto_get_u32(reply + 8), getegid());
	close(fd);
}

/* In a child that became nobody: claims uid 0 in IDENT over loopback TCP. */
static int
claim_root_over_tcp(void *arg)
{
	const char *tcp = arg;
	unsigned char claim[PROTO_IDENT_LEN], reply[PROTO_IDENT_LEN];
	struct proto_header h;
	size_t got;
	int fd;

	if (setgid(65534) != 0 || setuid(65534) != 0 || (fd = raw_connect(tcp)) < 0)
		return 10;
	proto_put_u32(claim, (uint32_t)getpid());
	proto_put_u32(claim + 4, 0);
	proto_put_u32(claim + 8, 0);
	if (!raw_request(fd, OP_IDENT, 1, NULL, 0, claim, sizeof(claim)) ||
	    !raw_reply(fd, &h, reply, sizeof(reply), &got) || h.status != DSHM_SUCCESS)
		return 11;
	/* The kernel's answer (sock_diag) stands: nobody, whatever was claimed. */
	return proto_get_u32(reply + 4) == 65534 ? 0 : 12;
}

static void
test_over_loopback_tcp_the_kernel_says_who_the_client_is(void **state)
{
	struct fixture *f = *state;
	pid_t pid = fork_child(claim_root_over_tcp, f->srv.tcp_addr);

	assert_true(pid > 0);
	assert_int_equal(wait_child(pid, HARNESS_STOP_MS), 0);
}

/* As nobody: an attachment keeps writing after the mode takes write away, as the kernel's does. */
static int
attachment_outlives_mode(void *arg)
{
	const char *addr = arg;
	struct shmid_ds ds;
	char *p, got[8] = "";
	int id;

	if (setgid(65534) != 0 || setuid(65534) != 0 || dshm_set_server(addr) != 0)
		return 10;
	if ((id = dshm_shmget(IPC_PRIVATE, PAGE, 0600)) < 0 || (p = dshm_shmat(id, NULL, 0)) == (void *)-1)
		return 11;
	if (dshm_shmctl(id, IPC_STAT, &ds) != 0)
		return 12;
	ds.shm_perm.mode = 0400;
	if (dshm_shmctl(id, IPC_SET, &ds) != 0)
		return 13;
	strcpy(p, "later");
	if (dshm_sync(p) != 0 || dshm_read(id, 0, got, 6) != 6 || strcmp(got, "later") != 0)
		return 14;
	/* Without the attachment the mode decides: a new one may no longer write. */
	if (dshm_shmat(id, NULL, 0) != (void *)-1 || errno != EACCES)
		return 15;
	if (dshm_shmdt(p) != 0 || dshm_shmctl(id, IPC_RMID, NULL) != 0)
		return 16;
	return 0;
}

static void
test_an_attachment_keeps_writing_after_the_mode_takes_write_away(void **state)
{
	struct fixture *f = *state;
	pid_t pid;

	server_open_to_all(&f->srv);
	pid = fork_child(attachment_outlives_mode, (void *)f->addr);
	assert_true(pid > 0);
	assert_int_equal(wait_child(pid, HARNESS_STOP_MS), 0);
}

/* ---- a worker that dies in a write of several runs --------------------------- */

static void
test_a_crash_in_a_write_of_several_runs_undoes_every_run(void **state)
{
	struct fixture *f = *state;
	unsigned char body[PROTO_SHM_WRITE_LEN + 2 * PROTO_SHM_RUN_LEN + 1 + 2];
	struct proto_header h;
	size_t got;
	pid_t worker;
	char *p;
	int id, fd, rc;

	/* The worker dies the first time one write crosses from one frame to the next. */
	assert_int_equal(setenv("DSHM_FAULT", "write_copying", 1), 0);
	rc = fixture_start(f, "--workers", "1", NULL);
	unsetenv("DSHM_FAULT");
	assert_int_equal(rc, 0);
	assert_int_equal(server_workers(&f->srv, &worker, 1), 1);
	assert_true(fixture_use_for_segments(f));
	id = dshm_shmget(IPC_PRIVATE, 2 * PAGE, 0600);
	assert_true(id >= 0);
	p = dshm_shmat(id, NULL, 0);
	assert_true(p != (void *)-1);

	/* Run 1: byte 0 (one frame); run 2: the last byte of page 0 and the first of page 1. */
	fd = raw_connect(f->addr);
	assert_true(fd >= 0);
	memset(body, 0, sizeof(body));
	proto_put_u32(body, (uint32_t)id);
	proto_put_u32(body + 4, 2);
	proto_put_u64(body + PROTO_SHM_WRITE_LEN, 0);
	proto_put_u64(body + PROTO_SHM_WRITE_LEN + 8, 1);
	proto_put_u64(body + PROTO_SHM_WRITE_LEN + 16, PAGE - 1);
	proto_put_u64(body + PROTO_SHM_WRITE_LEN + 24, 2);
	memcpy(body + PROTO_SHM_WRITE_LEN + 2 * PROTO_SHM_RUN_LEN, "XYZ", 3);
	assert_true(raw_request(fd, OP_SHM_WRITE, 1, NULL, 0, body, sizeof(body)));
	if (raw_reply(fd, &h, body, sizeof(body), &got)) {
		close(fd);
		assert_int_equal(dshm_shmdt(p), 0);
		skip(); /* a dshmd built without fault points */
	}
	close(fd);
	assert_true(WAIT_UNTIL(server_workers(&f->srv, &worker, 1) == 1, HARNESS_STOP_MS));

	/* Run 1 landed before the death, run 2 half: both were undone; the write never happened. */
	assert_int_equal(dshm_sync(p), 0);
	assert_int_equal(p[0], 0);
	assert_int_equal(p[PAGE - 1], 0);
	assert_int_equal(p[PAGE], 0);
	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

/* ---- big segments ---------------------------------------------------------- */

static void
test_a_segment_larger_than_one_request_syncs_whole(void **state)
{
	struct fixture *f = *state;
	size_t size = (40u << 20) + 123; /* three windows of 16 MiB, the last one short */
	unsigned char *p, *got;
	pid_t pid;
	int id;

	assert_true(fixture_use_for_segments(f));
	id = dshm_shmget(IPC_PRIVATE, size, 0600);
	assert_true(id >= 0);
	p = dshm_shmat(id, NULL, 0);
	assert_true(p != (void *)-1);
	/* Changes spread over all three windows, and one run longer than a request. */
	for (size_t i = 0; i < size; i += 4093)
		p[i] = (unsigned char)(i * 7 + 1);
	memset(p + (8u << 20), 0x5a, 17u << 20);
	p[size - 1] = 0xee;
	assert_int_equal(dshm_sync(p), 0);

	got = malloc(size);
	assert_non_null(got);
	assert_int_equal(dshm_read(id, 0, got, size), (ssize_t)size);
	assert_memory_equal(got, p, size);

	/* And another process's change to the last window reaches us. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		unsigned char b = 0x77;

		/* The child inherited the attachment, and with it the server. */
		_exit(dshm_write(id, size - 2, &b, 1) == 1 ? 0 : 1);
	}
	assert_int_equal(wait_child(pid, HARNESS_STOP_MS), 0);
	assert_int_equal(dshm_sync(p), 0);
	assert_int_equal(p[size - 2], 0x77);
	assert_int_equal(p[size - 1], 0xee);
	free(got);
	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

/*
 * A sync brings in only the pages others changed (the segment's write
 * notices): one byte written elsewhere in 4 MiB costs a page, not the
 * segment; and this process's own changes still go out.
 */
static void
test_a_sync_brings_in_only_the_pages_others_changed(void **state)
{
	struct fixture *f = *state;
	size_t size = 4u << 20;
	unsigned char *p, b = 0x42;
	uint64_t before;
	pid_t pid;
	int id;

	assert_true(server_attach(&f->srv));
	assert_true(fixture_use_for_segments(f));
	assert_true((id = dshm_shmget(IPC_PRIVATE, size, 0600)) >= 0);
	p = dshm_shmat(id, NULL, 0);
	assert_true(p != (void *)-1);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(dshm_write(id, 3u << 20, &b, 1) == 1 ? 0 : 1);
	assert_int_equal(wait_child(pid, HARNESS_STOP_MS), 0);
	p[5] = 0x17;
	/* Only this process talks to this server: what it sends is the sync's reply. */
	before = server_bytes_out(&f->srv);
	assert_int_equal(dshm_sync(p), 0);
	assert_true(server_bytes_out(&f->srv) - before < 64u << 10);
	assert_int_equal(p[3u << 20], 0x42);
	assert_int_equal(p[5], 0x17);
	assert_int_equal(dshm_read(id, 5, &b, 1), 1);
	assert_int_equal(b, 0x17);
	/* Nothing changed since: a sync brings in nothing. */
	before = server_bytes_out(&f->srv);
	assert_int_equal(dshm_sync(p), 0);
	assert_true(server_bytes_out(&f->srv) - before < 4u << 10);
	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

/*
 * A coherent attachment's stores go to memory and bump no generation:
 * a copied attachment of the same segment still sees them at its next
 * sync, and the coherent one sees what the copied one published.
 */
static void
test_a_copied_attachment_sees_a_coherent_ones_stores_at_its_sync(void **state)
{
	struct fixture *f = *state;
	unsigned char *copied, *coherent;
	int id;

	assert_true(fixture_use_for_segments(f));
	assert_true((id = dshm_shmget(IPC_PRIVATE, 3 * 4096, 0600)) >= 0);
	copied = dshm_shmat(id, NULL, 0);
	assert_true(copied != (void *)-1);
	coherent = dshm_shmat(id, NULL, DSHM_SHM_COHERENT);
	assert_true(coherent != (void *)-1);
	coherent[2 * 4096 + 1] = 0x3c;
	copied[7] = 0x4d;
	assert_int_equal(dshm_sync(copied), 0);
	assert_int_equal(copied[2 * 4096 + 1], 0x3c);
	assert_int_equal(coherent[7], 0x4d);
	/* And again, with nothing written through the server in between. */
	coherent[4096] = 0x5e;
	assert_int_equal(dshm_sync(copied), 0);
	assert_int_equal(copied[4096], 0x5e);
	assert_int_equal(dshm_shmdt(coherent), 0);
	assert_int_equal(dshm_shmdt(copied), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

static void
test_byte_ranges_outside_the_segment_are_einval(void **state)
{
	struct fixture *f = *state;
	char b[8] = "1234567";
	int id;

	assert_true(fixture_use_for_segments(f));
	id = dshm_shmget(IPC_PRIVATE, 100, 0600);
	assert_true(id >= 0);
	assert_int_equal(dshm_write(id, 92, b, 8), 8);
	errno = 0;
	assert_int_equal(dshm_write(id, 93, b, 8), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(dshm_read(id, SIZE_MAX - 2, b, 8), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(dshm_read(id + 1, 0, b, 8), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

/* ---- malformed requests ---------------------------------------------------- */

static void
expect_status(int fd, uint8_t op, const void *body, uint32_t len, int32_t status)
{
	static uint32_t id = 100;
	struct proto_header h;
	static unsigned char reply[1 << 16];
	size_t got;

	assert_true(raw_request(fd, op, ++id, NULL, 0, body, len));
	assert_true(raw_reply(fd, &h, reply, sizeof(reply), &got));
	assert_int_equal(h.id, id);
	assert_int_equal(h.status, status);
}

static void
test_malformed_segment_requests_are_refused_and_the_connection_stays(void **state)
{
	struct fixture *f = *state;
	unsigned char b[64] = {0};
	int fd = raw_connect(f->addr);

	assert_true(fd >= 0);
	expect_status(fd, OP_SHM_GET, b, 15, DSHM_BAD_REQUEST);
	expect_status(fd, OP_SHM_CTL, b, 21, DSHM_BAD_REQUEST);
	expect_status(fd, OP_SHM_ATTACH, b, 0, DSHM_BAD_REQUEST);
	expect_status(fd, OP_IDENT, b, 4, DSHM_BAD_REQUEST);
	/* A write whose runs claim more runs than the body holds. */
	proto_put_u32(b + 4, 0xffffffffu);
	expect_status(fd, OP_SHM_WRITE, b, 32, DSHM_BAD_REQUEST);
	/* One run of 8 bytes, but 4 bytes of data. */
	proto_put_u32(b + 4, 1);
	proto_put_u64(b + 24, 8);
	expect_status(fd, OP_SHM_WRITE, b, 36, DSHM_BAD_REQUEST);
	/* A run of 2^64 - 1 bytes must not wrap the sum. */
	proto_put_u64(b + 24, UINT64_MAX);
	expect_status(fd, OP_SHM_WRITE, b, 36, DSHM_BAD_REQUEST);
	/* A read larger than any reply. */
	memset(b, 0, sizeof(b));
	proto_put_u64(b + 16, (uint64_t)PROTO_MAX_DATA + 1);
	expect_status(fd, OP_SHM_READ, b, PROTO_SHM_READ_LEN, DSHM_TOO_LARGE);
	/* No such segment, and an unknown command. */
	proto_put_u64(b + 16, 8);
	expect_status(fd, OP_SHM_READ, b, PROTO_SHM_READ_LEN, DSHM_INVALID);
	proto_put_u32(b + 4, 12345);
	expect_status(fd, OP_SHM_CTL, b, PROTO_SHM_CTL_LEN, DSHM_INVALID);
	/* Still served. */
	expect_status(fd, OP_STATS, NULL, 0, DSHM_SUCCESS);
	close(fd);
}

/* ---- a change of identity ----------------------------------------------------- */

struct ids_args {
	key_t key;
};

/*
 * As root: attaches, becomes nobody (seteuid), is refused what nobody
 * may not do, detaches what root attached, and is root again.
 */
static int
seteuid_main(void *arg)
{
	struct ids_args *a = arg;
	struct shmid_ds ds;
	char *p;
	int id;

	if ((id = dshm_shmget(a->key, 0, 0600)) < 0 || (p = dshm_shmat(id, NULL, 0)) == (void *)-1)
		return 10;
	if (setegid(65534) != 0 || seteuid(65534) != 0)
		return 11;
	/* The kernel checks the caller's ids of now: nobody may not read a 0600 segment of root's. */
	if (dshm_shmget(a->key, 0, 0400) != -1 || errno != EACCES)
		return 12;
	if (dshm_shmctl(id, IPC_STAT, &ds) != -1 || errno != EACCES)
		return 13;
	if (dshm_shmat(id, NULL, 0) != (void *)-1 || errno != EACCES)
		return 14;
	/* What root attached stays attached, and goes with shmdt, as the kernel's. */
	strcpy(p, "set as root");
	if (dshm_sync(p) != 0 || dshm_shmdt(p) != 0)
		return 15;
	if (seteuid(0) != 0 || setegid(0) != 0)
		return 16;
	if (dshm_shmctl(id, IPC_STAT, &ds) != 0 || ds.shm_nattch != 0)
		return 17;
	return 0;
}

static void
test_calls_after_seteuid_act_with_the_new_ids_and_old_attachments_stay(void **state)
{
	struct fixture *f = *state;
	struct ids_args a = {0x5e1d0001};
	char got[12] = "";
	int id;

	if (geteuid() != 0)
		skip();
	server_open_to_all(&f->srv); /* nobody must reach the Unix socket to be refused there */
	assert_true(fixture_use_for_segments(f));
	assert_true((id = dshm_shmget(a.key, PAGE, IPC_CREAT | IPC_EXCL | 0600)) >= 0);
	assert_int_equal(wait_child(fork_child(seteuid_main, &a), 10000), 0);
	assert_int_equal(dshm_read(id, 0, got, sizeof(got)), (ssize_t)sizeof(got));
	assert_string_equal(got, "set as root");
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_BOTH(test_a_killed_client_is_detached_and_a_removed_segment_then_goes_with_its_frames),
		TEST_BOTH(test_a_client_that_exits_without_detaching_publishes_its_changes_first),
		TEST_BOTH_BARE(test_a_dead_workers_attachments_are_dropped_and_its_clients_reattach),
		TEST_ONE(test_over_the_unix_socket_ident_cannot_change_who_the_kernel_says_we_are),
		TEST_ONE(test_over_loopback_tcp_the_kernel_says_who_the_client_is),
		TEST_BOTH(test_an_attachment_keeps_writing_after_the_mode_takes_write_away),
		TEST_BOTH_BARE(test_a_crash_in_a_write_of_several_runs_undoes_every_run),
		TEST_ONE(test_a_segment_larger_than_one_request_syncs_whole),
		TEST_BOTH(test_a_sync_brings_in_only_the_pages_others_changed),
		TEST_ONE(test_a_copied_attachment_sees_a_coherent_ones_stores_at_its_sync),
		TEST_ONE(test_byte_ranges_outside_the_segment_are_einval),
		TEST_BOTH(test_malformed_segment_requests_are_refused_and_the_connection_stays),
		TEST_BOTH(test_calls_after_seteuid_act_with_the_new_ids_and_old_attachments_stay),
	};

	return cmocka_run_group_tests_name("segments", tests, NULL, NULL);
}
