/*
 * test_segs.c — ipc/segs.c and ipc/segfile.c: a segment's bytes live in
 * a /dev/shm file of its own, made zero-filled by shmget and removed when
 * the segment is freed; reads and writes go to it, through the undo area
 * when the caller is a worker; and an attachment whose process the
 * kernel named and that is gone does not count, so a removed segment
 * whose last attacher died is gone as soon as that process is.
 */
#include "helpers.h"
#include "segs.h"

#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define FS 4096u
#define NFRAMES 64u
#define MAXOWNERS 8u

static const struct seg_cred ROOT = {.pid = 4242, .uid = 0, .gid = 0, .privileged = true};

static int
setup(void **state)
{
	*state = fixture_make(NFRAMES, FS, MAXOWNERS);
	return 0;
}

static int
teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

/* The size of segment shmid's file, or -1 when there is none. */
static off_t
file_size(const struct table *t, int32_t shmid)
{
	char name[96], path[128];
	struct stat st;

	segfile_name(t, shmid, name, sizeof(name));
	snprintf(path, sizeof(path), "/dev/shm%s", name);
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* A pid that was a process of ours and is no more. */
static pid_t
dead_pid(void)
{
	pid_t pid = fork_child();

	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

static void
test_a_segment_has_a_zeroed_file_from_shmget_until_it_is_freed(void **state)
{
	struct fixture *f = *state;
	unsigned char got[100], zero[100] = {0};
	int32_t id;
	uint64_t gen;
	bool changed;

	assert_int_equal(segs_get(&f->t, &ROOT, IPC_PRIVATE, 5000, 0600, &id), DSHM_SUCCESS);
	/* Whole pages of bytes, then a page of write notices (two u64 here). */
	assert_int_equal(file_size(&f->t, id), 8192 + 4096);
	assert_int_equal(segfile_notices_at(5000), 8192);
	assert_int_equal(segs_read(&f->t, &ROOT, &(struct seg_conn){0, 1}, id, 4000, sizeof(got),
				   got, 0, false, &gen, &changed),
			 DSHM_SUCCESS);
	assert_memory_equal(got, zero, sizeof(got));
	assert_int_equal(segs_rmid(&f->t, &ROOT, id), DSHM_SUCCESS);
	assert_int_equal(file_size(&f->t, id), -1);
	assert_table_consistent(&f->t);
}

static void
test_a_write_lands_in_the_file_and_reads_back(void **state)
{
	struct fixture *f = *state;
	const struct seg_conn k = {0, 1};
	const struct byte_run runs[2] = {{10, 3}, {FS - 2, 5}}; /* the second crosses a page */
	unsigned char got[FS + 8];
	uint64_t gen, after;
	bool others, changed;
	int32_t id;
	char name[96];
	int fd;

	assert_int_equal(segs_get(&f->t, &ROOT, 0x5e6e0001, 2 * FS, IPC_CREAT | 0600, &id),
			 DSHM_SUCCESS);
	assert_int_equal(segs_write(&f->t, &ROOT, &k, id, runs, 2,
				    (const unsigned char *)"abcHELLO", 0, &after, &others),
			 DSHM_SUCCESS);
	assert_int_equal(segs_read(&f->t, &ROOT, &k, id, 0, sizeof(got), got, 0, false, &gen,
				   &changed),
			 DSHM_SUCCESS);
	assert_int_equal(gen, after);
	assert_memory_equal(got + 10, "abc", 3);
	assert_memory_equal(got + FS - 2, "HELLO", 5);
	/* The very bytes are in the file, for anyone who maps it. */
	segfile_name(&f->t, id, name, sizeof(name));
	assert_true((fd = shm_open(name, O_RDONLY, 0)) >= 0);
	assert_int_equal(pread(fd, got, 5, FS - 2), 5);
	close(fd);
	assert_memory_equal(got, "HELLO", 5);
}

static void
test_attachments_of_a_dead_process_the_kernel_named_do_not_count(void **state)
{
	struct fixture *f = *state;
	struct seg_cred gone = ROOT, stated = ROOT;
	struct seg_stat st;
	uint64_t segsz, gen;
	int32_t id;

	gone.pid = stated.pid = dead_pid();
	gone.pid_kernel = true;
	assert_int_equal(segs_get(&f->t, &ROOT, IPC_PRIVATE, FS, 0600, &id), DSHM_SUCCESS);
	assert_int_equal(segs_attach(&f->t, &gone, &(struct seg_conn){0, 1}, id, 0, gone.pid,
				     &segsz, &gen),
			 DSHM_SUCCESS);
	/* A pid the client stated proves nothing: its attachment counts until its connection goes. */
	assert_int_equal(segs_attach(&f->t, &stated, &(struct seg_conn){0, 2}, id, 0, stated.pid,
				     &segsz, &gen),
			 DSHM_SUCCESS);
	assert_int_equal(segs_stat(&f->t, &ROOT, id, false, false, &st), DSHM_SUCCESS);
	assert_int_equal(st.nattch, 1);
	/* The dead one is detached as its exit would have: the stat shows its detach. */
	assert_true(st.dtime != 0);
	assert_int_equal(st.lpid, gone.pid);
	segs_detach_conn(&f->t, &(struct seg_conn){0, 2});
	assert_int_equal(segs_stat(&f->t, &ROOT, id, false, false, &st), DSHM_SUCCESS);
	assert_int_equal(st.nattch, 0);
	segs_detach_conn(&f->t, &(struct seg_conn){0, 1});
	assert_int_equal(segs_rmid(&f->t, &ROOT, id), DSHM_SUCCESS);
	assert_table_consistent(&f->t);
}

static void
test_a_removed_segment_whose_last_attacher_died_is_gone(void **state)
{
	struct fixture *f = *state;
	struct seg_cred gone = ROOT;
	struct seg_stat st;
	uint64_t segsz, gen, used;
	int32_t id;

	gone.pid = dead_pid();
	gone.pid_kernel = true;
	used = f->t.hdr->nframes - f->t.hdr->frames_free;
	assert_int_equal(segs_get(&f->t, &ROOT, IPC_PRIVATE, 3 * FS, 0600, &id), DSHM_SUCCESS);
	assert_int_equal(segs_attach(&f->t, &ROOT, &(struct seg_conn){0, 1}, id, 0, ROOT.pid,
				     &segsz, &gen),
			 DSHM_SUCCESS);
	assert_int_equal(segs_attach(&f->t, &gone, &(struct seg_conn){0, 2}, id, 0, gone.pid,
				     &segsz, &gen),
			 DSHM_SUCCESS);
	assert_int_equal(segs_rmid(&f->t, &ROOT, id), DSHM_SUCCESS);
	/* Our detach leaves only the dead process's row: the segment goes with ours. */
	assert_int_equal(segs_detach(&f->t, &ROOT, &(struct seg_conn){0, 1}, id, false),
			 DSHM_SUCCESS);
	assert_int_equal(segs_stat(&f->t, &ROOT, id, false, false, &st), DSHM_INVALID);
	assert_int_equal(file_size(&f->t, id), -1);
	assert_int_equal(f->t.hdr->nframes - f->t.hdr->frames_free, used);
	/* Its worker, seeing the connection close at last, finds nothing to do. */
	segs_detach_conn(&f->t, &(struct seg_conn){0, 2});
	assert_table_consistent(&f->t);
}

static void
test_the_files_of_a_table_go_with_segfile_remove(void **state)
{
	struct fixture *f = *state;
	int32_t a, b;

	assert_int_equal(segs_get(&f->t, &ROOT, IPC_PRIVATE, FS, 0600, &a), DSHM_SUCCESS);
	assert_int_equal(segs_get(&f->t, &ROOT, IPC_PRIVATE, FS, 0600, &b), DSHM_SUCCESS);
	assert_int_equal(segfile_remove(f->p.key, f->t.hdr->instance, false, true), 2);
	assert_int_equal(file_size(&f->t, a), FS + 4096); /* a dry run removes nothing */
	segfile_forget(&f->t);
	assert_int_equal(segfile_remove(f->p.key, 0, true, false), 2);
	assert_int_equal(file_size(&f->t, a), -1);
	assert_int_equal(file_size(&f->t, b), -1);
}

/*
 * Write notices: after generation g, only the 4 KiB pages written since
 * come back, whole, with their numbers; nothing while the segment is
 * still at g.
 */
static void
test_write_notices_name_only_the_pages_changed_since_a_generation(void **state)
{
	struct fixture *f = *state;
	const struct seg_conn k = {0, 1};
	const struct byte_run runs[2] = {{4095, 2}, {3 * 4096 + 10, 1}}; /* pages 0, 1 and 3 */
	unsigned char bytes[4 * 4096];
	uint32_t pages[4], n;
	uint64_t gen, base, after;
	bool others, changed;
	int32_t id;

	assert_int_equal(segs_get(&f->t, &ROOT, IPC_PRIVATE, 4 * 4096 - 100, 0600, &id), DSHM_SUCCESS);
	assert_int_equal(segs_read_changed(&f->t, &ROOT, &k, id, 0, 4 * 4096 - 100, 0, pages, bytes,
					   &n, &base, &changed),
			 DSHM_SUCCESS);
	assert_int_equal(n, 0); /* nothing written yet */
	assert_int_equal(segs_write(&f->t, &ROOT, &k, id, runs, 2, (const unsigned char *)"abc",
				    base, &after, &others),
			 DSHM_SUCCESS);
	assert_int_equal(segs_read_changed(&f->t, &ROOT, &k, id, 0, 4 * 4096 - 100, base, pages,
					   bytes, &n, &gen, &changed),
			 DSHM_SUCCESS);
	assert_int_equal(gen, after);
	assert_int_equal(n, 3);
	assert_int_equal(pages[0], 0);
	assert_int_equal(pages[1], 1);
	assert_int_equal(pages[2], 3);
	assert_int_equal(bytes[4095], 'a');
	assert_int_equal(bytes[4096], 'b');
	assert_int_equal(bytes[2 * 4096 + 10], 'c');
	/* A window names only its own pages; at the current generation, none. */
	assert_int_equal(segs_read_changed(&f->t, &ROOT, &k, id, 2 * 4096, 4096, base, pages, bytes,
					   &n, &gen, &changed),
			 DSHM_SUCCESS);
	assert_int_equal(n, 0);
	assert_int_equal(segs_read_changed(&f->t, &ROOT, &k, id, 0, 4 * 4096 - 100, after, pages,
					   bytes, &n, &gen, &changed),
			 DSHM_SUCCESS);
	assert_int_equal(n, 0);
	/* A window starts on a notice page. */
	assert_int_equal(segs_read_changed(&f->t, &ROOT, &k, id, 100, 4096, base, pages, bytes, &n,
					   &gen, &changed),
			 DSHM_INVALID);
	/* Once its file was mapped, stores leave no notice: every page comes, changed. */
	assert_int_equal(segs_note_mapped(&f->t, id), DSHM_SUCCESS);
	assert_int_equal(segs_read_changed(&f->t, &ROOT, &k, id, 0, 4 * 4096 - 100, after, pages,
					   bytes, &n, &gen, &changed),
			 DSHM_SUCCESS);
	assert_true(changed);
	assert_int_equal(n, 4);
	assert_int_equal(pages[3], 3);
}

/* A segment whose pages other hosts hold: no byte moves through the file until the mark goes. */
static void
test_a_segment_marked_remote_refuses_reads_and_writes(void **state)
{
	struct fixture *f = *state;
	const struct seg_conn k = {0, 1};
	const struct byte_run run = {0, 3};
	unsigned char got[3];
	uint64_t gen, after;
	bool others, changed;
	int32_t id;

	assert_int_equal(segs_get(&f->t, &ROOT, IPC_PRIVATE, FS, 0600, &id), DSHM_SUCCESS);
	assert_int_equal(segs_set_remote(&f->t, id, true), DSHM_SUCCESS);
	assert_int_equal(segs_read(&f->t, &ROOT, &k, id, 0, 3, got, 0, false, &gen, &changed),
			 DSHM_HELD_REMOTELY);
	assert_int_equal(segs_write(&f->t, &ROOT, &k, id, &run, 1, (const unsigned char *)"abc", 0,
				    &after, &others),
			 DSHM_HELD_REMOTELY);
	assert_int_equal(segs_set_remote(&f->t, id, false), DSHM_SUCCESS);
	assert_int_equal(segs_write(&f->t, &ROOT, &k, id, &run, 1, (const unsigned char *)"abc", 0,
				    &after, &others),
			 DSHM_SUCCESS);
	assert_int_equal(segs_read(&f->t, &ROOT, &k, id, 0, 3, got, 0, false, &gen, &changed),
			 DSHM_SUCCESS);
	assert_memory_equal(got, "abc", 3);
	assert_int_equal(segs_set_remote(&f->t, id + 1, true), DSHM_INVALID);
}

static void
test_a_removed_segment_left_whole_by_a_busy_release_is_freed_by_the_sweep(void **state)
{
	struct fixture *f = *state;
	uint32_t slot;
	int32_t id;

	assert_int_equal(segs_get(&f->t, &ROOT, IPC_PRIVATE, FS, 0600, &id), DSHM_SUCCESS);
	slot = (uint32_t)id % MAXOWNERS;
	/* As a last detach leaves it when its release meets a busy lock: removed, unattached, whole. */
	f->t.segments[slot].mode |= SEG_MODE_DEST;
	assert_int_equal(file_size(&f->t, id), 2 * FS);
	segs_release_orphans(&f->t); /* nothing pending: no scan, nothing freed */
	assert_int_equal(atomic_load(&f->t.owners[slot].state), OWNER_USED);
	atomic_store(&f->t.hdr->releases_pending, 1);
	segs_release_orphans(&f->t);
	assert_int_equal(atomic_load(&f->t.owners[slot].state), OWNER_FREE);
	assert_int_equal(file_size(&f->t, id), -1);
	assert_int_equal(atomic_load(&f->t.hdr->releases_pending), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_segment_has_a_zeroed_file_from_shmget_until_it_is_freed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_write_lands_in_the_file_and_reads_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attachments_of_a_dead_process_the_kernel_named_do_not_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_removed_segment_whose_last_attacher_died_is_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_files_of_a_table_go_with_segfile_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_segment_marked_remote_refuses_reads_and_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_notices_name_only_the_pages_changed_since_a_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_removed_segment_left_whole_by_a_busy_release_is_freed_by_the_sweep, setup, teardown),
	};

	return cmocka_run_group_tests_name("segs", tests, NULL, NULL);
}
