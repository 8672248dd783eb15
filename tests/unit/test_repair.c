/*
 * test_repair.c — recovery from a dead holder of the alloc lock or of an
 * owner's lock.
 *
 * First the alloc lock's repair (owners_repair) on states laid out by
 * hand, as a holder that died at a given step would leave them; then real
 * deaths: children (fork) that die at the named crash points of
 * ipc/owners.c, or kill themselves while holding a lock, and, in the
 * manner of glibc's tst-robust8, children that run random requests
 * concurrently and die at random.  After every scenario the parent must
 * find a consistent table (helpers.h) through the ordinary calls.
 */
#include "helpers.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define FS 64u
#define NFRAMES 512u
#define MAXPROCS 16u

static int
setup(void **state)
{
	*state = fixture_make(NFRAMES, FS, MAXPROCS);
	return 0;
}

static int
teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

static struct table *
T(void **state)
{
	return &((struct fixture *)*state)->t;
}

/* Fills pages [first, first + n) of pid with byte. */
static void
fill_pages(struct table *t, int64_t pid, int64_t first, int64_t n, unsigned char byte)
{
	unsigned char buf[FS];

	memset(buf, byte, sizeof(buf));
	for (int64_t p = first; p < first + n; p++)
		assert_int_equal(procs_write(t, PROCS_ROOT, pid, p, 0, buf, FS), DSHM_SUCCESS);
}

static void
assert_pages_hold(struct table *t, int64_t pid, int64_t npages, unsigned char byte)
{
	unsigned char buf[FS];

	for (int64_t p = 0; p < npages; p++) {
		assert_int_equal(procs_read(t, PROCS_ROOT, pid, p, 0, buf, FS), DSHM_SUCCESS);
		for (uint32_t i = 0; i < FS; i++)
			if (buf[i] != byte)
				fail_msg("pid %lld page %lld byte %u is 0x%02x, not 0x%02x",
					 (long long)pid, (long long)p, i, buf[i], byte);
	}
}

/* Frames mapped by slot's pages [from, to). */
static void
frames_of(struct table *t, uint32_t slot, uint64_t from, uint64_t to, uint32_t *out)
{
	for (uint64_t p = from; p < to; p++)
		out[p - from] = pagetree_frame(t, &t->owners[slot], p);
}

static void
open_journal(struct table *t, uint32_t op, uint32_t slot, uint32_t old_npages)
{
	t->hdr->journal.owner = slot;
	t->hdr->journal.old_npages = old_npages;
	t->hdr->journal.old_root = t->owners[slot].root;
	t->hdr->journal.old_height = t->owners[slot].height;
	t->hdr->journal.op = op;
}

/* ---- the repair, on states laid out by hand ---------------------------- */

static void
test_repair_undoes_a_grow_that_died_after_mapping_its_pages(void **state)
{
	struct table *t = T(state);
	uint32_t s, extra[100];

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 10), DSHM_SUCCESS);
	fill_pages(t, 1, 0, 10, 0x11);
	s = (uint32_t)slot_of(t, 1);
	/* owners_grow died after pagetree_grow, before npages was updated */
	open_journal(t, JOURNAL_GROW, s, 10);
	pagetree_grow(t, s, 100); /* raises the tree to height 2 */
	frames_of(t, s, 10, 110, extra);
	for (int i = 0; i < 100; i++)
		fill_frame(t, extra[i], 0xee); /* as if they had been written */

	owners_repair(t);

	assert_int_equal(atomic_load(&t->owners[s].npages), 10);
	assert_int_equal(t->hdr->frames_free, NFRAMES - 10);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(atomic_load(&t->frame_owner[extra[i]]), 0);
		assert_true(frame_is_zero(t, extra[i]));
	}
	assert_pages_hold(t, 1, 10, 0x11);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 10, 0, NULL, 0), DSHM_PAGE_FAULT);
	assert_table_consistent(t);
}

static void
test_repair_undoes_a_grow_that_died_after_updating_npages(void **state)
{
	struct table *t = T(state);
	uint32_t s;

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 70), DSHM_SUCCESS);
	fill_pages(t, 1, 0, 70, 0x22);
	s = (uint32_t)slot_of(t, 1);
	/* died after npages, before the journal was closed */
	open_journal(t, JOURNAL_GROW, s, 70);
	pagetree_grow(t, s, NFRAMES - 70);
	atomic_store(&t->owners[s].npages, NFRAMES);
	assert_int_equal(t->hdr->frames_free, 0);

	owners_repair(t);

	assert_int_equal(atomic_load(&t->owners[s].npages), 70);
	assert_int_equal(t->hdr->frames_free, NFRAMES - 70);
	assert_pages_hold(t, 1, 70, 0x22);
	assert_table_consistent(t);
}

/*
 * Regression: raise_height publishes a new root and the new height with
 * two stores; the journal keeps the old root and height so that the repair
 * restores a tree torn between them.
 */
static void
test_repair_undoes_a_grow_that_died_between_new_root_and_new_height(void **state)
{
	struct table *t = T(state);
	struct owner *o;
	uint32_t s, c = 1;

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 64), DSHM_SUCCESS);
	fill_pages(t, 1, 0, 64, 0x19);
	s = (uint32_t)slot_of(t, 1);
	o = &t->owners[s];
	/* owners_grow(1 page) died in raise_height: root replaced, height not raised yet */
	open_journal(t, JOURNAL_GROW, s, 64);
	while (bit_test(t->chunk_bits, c))
		c++;
	bit_set(t->chunk_bits, c);
	t->hdr->chunks_free--;
	t->chunks[c * PT_FANOUT] = o->root;
	o->root = c;

	owners_repair(t);

	assert_table_consistent(t);
	assert_pages_hold(t, 1, 64, 0x19);
}

static void
test_repair_undoes_a_create_that_died_before_the_owner_was_visible(void **state)
{
	struct table *t = T(state);
	struct owner *o = &t->owners[1];
	uint32_t frames[20];

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 3), DSHM_SUCCESS); /* slot 0 */
	/* owners_create of pid 2 died at "create_grown" in slot 1 */
	open_journal(t, JOURNAL_GROW, 1, 0);
	atomic_store(&o->kind, OWNER_PROCESS);
	atomic_store(&o->id, 2);
	pagetree_grow(t, 1, 20);
	frames_of(t, 1, 0, 20, frames);
	for (int i = 0; i < 20; i++)
		fill_frame(t, frames[i], 0xee);

	owners_repair(t);

	assert_int_equal(atomic_load(&o->state), OWNER_FREE);
	assert_int_equal(o->root, CHUNK_NULL);
	assert_int_equal(t->hdr->frames_free, NFRAMES - 3);
	assert_int_equal(t->hdr->owners_used, 1);
	for (int i = 0; i < 20; i++)
		assert_true(frame_is_zero(t, frames[i]));
	assert_int_equal(procs_read(t, PROCS_ROOT, 2, 0, 0, NULL, 0), DSHM_NO_SUCH_PROCESS);
	assert_table_consistent(t);
	assert_int_equal(procs_init(t, PROCS_ROOT, 2, 20), DSHM_SUCCESS); /* the pid is free again */
	assert_pages_hold(t, 2, 20, 0);
	assert_table_consistent(t);
}

static void
test_repair_finishes_a_release_that_died_half_way(void **state)
{
	struct table *t = T(state);
	uint32_t s, frames[150];

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 150), DSHM_SUCCESS);
	assert_int_equal(procs_init(t, PROCS_ROOT, 2, 5), DSHM_SUCCESS);
	fill_pages(t, 1, 0, 150, 0x33);
	fill_pages(t, 2, 0, 5, 0x44);
	s = (uint32_t)slot_of(t, 1);
	frames_of(t, s, 0, 150, frames);
	/* owners_release died in the middle of the truncation */
	open_journal(t, JOURNAL_RELEASE, s, 0);
	pagetree_truncate(t, s, 70);

	owners_repair(t);

	assert_int_equal(atomic_load(&t->owners[s].state), OWNER_FREE);
	assert_int_equal(t->hdr->frames_free, NFRAMES - 5);
	for (int i = 0; i < 150; i++)
		assert_true(frame_is_zero(t, frames[i]));
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 0, 0, NULL, 0), DSHM_NO_SUCH_PROCESS);
	assert_pages_hold(t, 2, 5, 0x44);
	assert_table_consistent(t);
}

static void
test_repair_finishes_a_release_that_died_before_freeing_anything(void **state)
{
	struct table *t = T(state);
	uint32_t s;

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 100), DSHM_SUCCESS);
	fill_pages(t, 1, 0, 100, 0x55);
	s = (uint32_t)slot_of(t, 1);
	open_journal(t, JOURNAL_RELEASE, s, 0);

	owners_repair(t);

	assert_int_equal(t->hdr->frames_free, NFRAMES);
	assert_int_equal(t->hdr->owners_used, 0);
	assert_int_equal(procs_finalize(t, PROCS_ROOT, 1), DSHM_NO_SUCH_PROCESS);
	assert_table_consistent(t);
}

static void
test_repair_frees_a_frame_taken_but_never_mapped(void **state)
{
	struct table *t = T(state);
	uint32_t s, f;

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 4), DSHM_SUCCESS);
	s = (uint32_t)slot_of(t, 1);
	/* pagetree_grow died between frames_take and storing the leaf entry */
	open_journal(t, JOURNAL_GROW, s, 4);
	f = frames_take(t, s);
	fill_frame(t, f, 0xee);
	assert_non_null(table_problem(t, (char[128]){0}, 128)); /* the checker sees it */

	owners_repair(t);

	assert_false(bit_test(t->frame_bits, f));
	assert_int_equal(atomic_load(&t->frame_owner[f]), 0);
	assert_true(frame_is_zero(t, f));
	assert_int_equal(t->hdr->frames_free, NFRAMES - 4);
	assert_table_consistent(t);
}

static void
test_repair_frees_a_chunk_taken_but_never_linked(void **state)
{
	struct table *t = T(state);
	uint32_t c = 7;

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 4), DSHM_SUCCESS);
	assert_false(bit_test(t->chunk_bits, c));
	/* a chunk_take whose caller died before linking it, half filled */
	bit_set(t->chunk_bits, c);
	t->hdr->chunks_free--;
	t->chunks[c * PT_FANOUT + 3] = 12345;

	owners_repair(t);

	assert_false(bit_test(t->chunk_bits, c));
	assert_int_equal(t->chunks[c * PT_FANOUT + 3], 0);
	assert_table_consistent(t);
}

static void
test_repair_recounts_counters_a_dead_holder_left_wrong(void **state)
{
	struct table *t = T(state);

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 4), DSHM_SUCCESS);
	assert_int_equal(procs_init(t, PROCS_ROOT, 2, 6), DSHM_SUCCESS);
	t->hdr->frames_free = 3;
	t->hdr->chunks_free = 0;
	t->hdr->owners_used = 9;

	owners_repair(t);

	assert_int_equal(t->hdr->frames_free, NFRAMES - 10);
	assert_int_equal(t->hdr->owners_used, 2);
	assert_table_consistent(t);
}

static void
test_checker_notices_a_frame_that_is_not_zero(void **state)
{
	struct table *t = T(state);
	char why[128];

	assert_null(table_problem(t, why, sizeof(why)));
	table_frame(t, 17)[5] = 1;
	assert_non_null(table_problem(t, why, sizeof(why)));
	assert_non_null(strstr(why, "not zero"));
	table_frame(t, 17)[5] = 0;
}

/* ---- real deaths ------------------------------------------------------- */

/* The crash points exist only in builds with DSHM_FAULT_INJECTION (build/asan). */
#ifdef DSHM_FAULT_INJECTION
#define NEEDS_CRASH_POINTS() ((void)0)
#else
#define NEEDS_CRASH_POINTS() skip()
#endif

/*
 * Runs fn(t, arg) in a child, with $DSHM_FAULT set to fault (or unset),
 * and returns its wait status.  The child leaves with _exit(0) when fn
 * returns, so a crash point or a SIGKILL is the only other way out.
 */
static int
in_child(struct table *t, const char *fault, void (*fn)(struct table *, int64_t), int64_t arg)
{
	int status;
	pid_t pid = fork_child();

	if (pid == 0) {
		if (fault != NULL)
			setenv("DSHM_FAULT", fault, 1);
		fn(t, arg);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void
assert_killed(int status)
{
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		fail_msg("the child was not killed by SIGKILL (status 0x%x)", status);
}

/* Takes the alloc lock as an ordinary caller would: repairs a dead holder's work. */
static void
recover(struct table *t)
{
	assert_int_equal(owners_alloc_lock(t), 0);
	owners_alloc_unlock(t);
}

static void
child_init_40(struct table *t, int64_t pid)
{
	procs_init(t, PROCS_ROOT, pid, 40);
}

static void
child_assign_100(struct table *t, int64_t pid)
{
	procs_assign(t, PROCS_ROOT, pid, 100);
}

static void
child_finalize(struct table *t, int64_t pid)
{
	procs_finalize(t, PROCS_ROOT, pid);
}

static void
child_write_all(struct table *t, int64_t pid)
{
	unsigned char buf[2 * FS];

	memset(buf, 0x99, sizeof(buf));
	procs_write(t, PROCS_ROOT, pid, 0, 0, buf, sizeof(buf));
}

static void
test_create_killed_after_mapping_leaves_no_process_and_no_frames(void **state)
{
	struct table *t = T(state);

	NEEDS_CRASH_POINTS();
	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 5), DSHM_SUCCESS);
	assert_killed(in_child(t, "create_grown", child_init_40, 2));
	assert_int_equal(procs_read(t, PROCS_ROOT, 2, 0, 0, NULL, 0), DSHM_NO_SUCH_PROCESS);
	recover(t);
	assert_int_equal(atomic_load(&t->hdr->alloc_lock.repairs), 1);
	assert_int_equal(t->hdr->frames_free, NFRAMES - 5);
	assert_table_consistent(t);
	assert_int_equal(procs_init(t, PROCS_ROOT, 2, 40), DSHM_SUCCESS);
	assert_pages_hold(t, 2, 40, 0);
	assert_table_consistent(t);
}

static void
test_grow_killed_after_mapping_keeps_the_old_pages_only(void **state)
{
	struct table *t = T(state);

	NEEDS_CRASH_POINTS();
	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 30), DSHM_SUCCESS);
	fill_pages(t, 1, 0, 30, 0x61);
	assert_killed(in_child(t, "grow_grown", child_assign_100, 1));
	/* the owner lock died with the child, and is taken again */
	assert_pages_hold(t, 1, 30, 0x61);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 30, 0, NULL, 0), DSHM_PAGE_FAULT);
	recover(t);
	assert_int_equal(t->hdr->frames_free, NFRAMES - 30);
	assert_table_consistent(t);
	assert_int_equal(procs_assign(t, PROCS_ROOT, 1, 100), DSHM_SUCCESS);
	assert_pages_hold(t, 1, 30, 0x61);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 129, 0, NULL, 0), DSHM_SUCCESS);
	assert_table_consistent(t);
}

static void
test_release_killed_after_truncating_is_finished_by_the_next_taker(void **state)
{
	struct table *t = T(state);

	NEEDS_CRASH_POINTS();
	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 200), DSHM_SUCCESS);
	assert_int_equal(procs_init(t, PROCS_ROOT, 2, 3), DSHM_SUCCESS);
	fill_pages(t, 1, 0, 200, 0x71);
	assert_killed(in_child(t, "release_truncated", child_finalize, 1));
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 0, 0, NULL, 0), DSHM_NO_SUCH_PROCESS);
	recover(t);
	assert_int_equal(t->hdr->frames_free, NFRAMES - 3);
	assert_table_consistent(t);
	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 200), DSHM_SUCCESS);
	assert_pages_hold(t, 1, 200, 0);
	assert_table_consistent(t);
}

static void
test_death_while_releasing_a_lock_after_finished_work_keeps_the_work(void **state)
{
	struct table *t = T(state);

	NEEDS_CRASH_POINTS();
	/* the first lock_release of procs_init is the alloc lock's */
	assert_killed(in_child(t, "lock_release:1", child_init_40, 4));
	assert_int_equal(procs_read(t, PROCS_ROOT, 4, 39, 0, NULL, 0), DSHM_SUCCESS);
	recover(t);
	assert_table_consistent(t);
	/* procs_finalize releases the alloc lock, then the owner's */
	assert_killed(in_child(t, "lock_release:2", child_finalize, 4));
	assert_int_equal(procs_read(t, PROCS_ROOT, 4, 0, 0, NULL, 0), DSHM_NO_SUCH_PROCESS);
	assert_int_equal(t->hdr->frames_free, NFRAMES);
	recover(t);
	assert_table_consistent(t);
}

static void
test_death_holding_an_owner_lock_after_a_write_keeps_the_bytes(void **state)
{
	struct table *t = T(state);

	NEEDS_CRASH_POINTS();
	assert_int_equal(procs_init(t, PROCS_ROOT, 3, 2), DSHM_SUCCESS);
	assert_killed(in_child(t, "lock_release", child_write_all, 3));
	assert_pages_hold(t, 3, 2, 0x99);
	assert_int_equal(procs_finalize(t, PROCS_ROOT, 3), DSHM_SUCCESS);
	assert_table_consistent(t);
}

static void
child_die_holding_alloc_lock_mid_grow(struct table *t, int64_t pid)
{
	uint32_t slot;

	if (owners_find_locked(t, OWNER_PROCESS, pid, &slot) != DSHM_SUCCESS ||
	    owners_alloc_lock(t) != 0)
		_exit(1);
	open_journal(t, JOURNAL_GROW, slot, atomic_load(&t->owners[slot].npages));
	pagetree_grow(t, slot, 300);
	kill(getpid(), SIGKILL);
}

static void
test_alloc_lock_of_a_dead_holder_is_repaired_once_by_the_next_taker(void **state)
{
	struct table *t = T(state);

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 8), DSHM_SUCCESS);
	assert_killed(in_child(t, NULL, child_die_holding_alloc_lock_mid_grow, 1));
	assert_int_equal(t->hdr->frames_free, NFRAMES - 308);
	assert_int_equal(procs_init(t, PROCS_ROOT, 2, 1), DSHM_SUCCESS); /* repairs first */
	assert_int_equal(atomic_load(&t->hdr->alloc_lock.repairs), 1);
	assert_int_equal(t->hdr->frames_free, NFRAMES - 9);
	recover(t);
	assert_int_equal(atomic_load(&t->hdr->alloc_lock.repairs), 1);
	assert_table_consistent(t);
}

static void
child_die_mid_index_rebuild(struct table *t, int64_t unused)
{
	(void)unused;
	if (owners_alloc_lock(t) != 0)
		_exit(1);
	/* index_rebuild died after emptying the index */
	atomic_fetch_add(&t->hdr->index_gen, 1);
	for (uint32_t i = 0; i < t->hdr->index_size; i++)
		atomic_store(&t->index[i], INDEX_EMPTY);
	kill(getpid(), SIGKILL);
}

static void
child_read_pid_1(struct table *t, int64_t unused)
{
	unsigned char b[1];

	(void)unused;
	alarm(5); /* a lookup that never ends fails the test instead of hanging it */
	_exit(procs_read(t, PROCS_ROOT, 1, 0, 0, b, 1) == DSHM_SUCCESS && b[0] == 0x5e ? 0 : 2);
}

/* Regression: lookups spun for ever after a rebuild of the index died half-way. */
static void
test_lookup_after_an_index_rebuild_died_half_way_finds_every_process(void **state)
{
	struct table *t = T(state);
	int status;

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 1), DSHM_SUCCESS);
	assert_int_equal(procs_write(t, PROCS_ROOT, 1, 0, 0, "\x5e", 1), DSHM_SUCCESS);
	assert_int_equal(procs_init(t, PROCS_ROOT, 2, 1), DSHM_SUCCESS);
	assert_killed(in_child(t, NULL, child_die_mid_index_rebuild, 0));
	/* nobody takes the alloc lock: the lookup itself must get the index repaired */
	status = in_child(t, NULL, child_read_pid_1, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("reading pid 1 after the dead rebuild failed (status 0x%x)", status);
	assert_int_equal(atomic_load(&t->hdr->index_gen) & 1, 0);
	assert_int_equal(procs_read(t, PROCS_ROOT, 2, 0, 0, NULL, 0), DSHM_SUCCESS);
	assert_table_consistent(t);
}

/*
 * A process that looked a pid up and waits for its lock while the lock's
 * holder dies half-way through finalizing it: child A takes the lock and
 * dies at "release_truncated" when told to; child B, already waiting,
 * then runs request(t, pid) and exits with 0 when it got want.
 */
static void
race_with_dead_releaser(struct table *t, int64_t pid, int (*request)(struct table *, int64_t),
			int want)
{
	int go[2], held[2], status;
	pid_t a, b;
	uint32_t slot;
	char c = 0;

	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(held), 0);
	a = fork_child();
	if (a == 0) {
		if (owners_find_locked(t, OWNER_PROCESS, pid, &slot) != DSHM_SUCCESS)
			_exit(1);
		setenv("DSHM_FAULT", "release_truncated", 1);
		close(go[1]);
		if (write(held[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		owners_release(t, slot);
		_exit(1);
	}
	close(go[0]);
	close(held[1]);
	assert_int_equal(read(held[0], &c, 1), 1); /* A holds the lock */
	close(held[0]);
	b = fork_child();
	if (b == 0) {
		alarm(10);
		_exit(request(t, pid) == want ? 0 : 2);
	}
	/*
	 * Give B time to look pid up and block on its lock.  Should B be later
	 * than that, it finds no pid and passes without testing the race.
	 */
	usleep(200 * 1000);
	assert_int_equal(write(go[1], &c, 1), 1);
	close(go[1]);
	assert_int_equal(waitpid(a, &status, 0), a);
	assert_killed(status);
	assert_int_equal(waitpid(b, &status, 0), b);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the waiting request did not get %d (status 0x%x)", want, status);
}

static int
read_last_page(struct table *t, int64_t pid)
{
	unsigned char buf[FS];

	return procs_read(t, PROCS_ROOT, pid, 199, 0, buf, FS);
}

static int
assign_ten(struct table *t, int64_t pid)
{
	return procs_assign(t, PROCS_ROOT, pid, 10);
}

/* Regression: the waiter read through a half-freed page tree. */
static void
test_read_waiting_on_a_dead_releaser_finds_no_process(void **state)
{
	struct table *t = T(state);

	NEEDS_CRASH_POINTS();
	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 200), DSHM_SUCCESS);
	race_with_dead_releaser(t, 1, read_last_page, DSHM_NO_SUCH_PROCESS);
	recover(t);
	assert_int_equal(t->hdr->frames_free, NFRAMES);
	assert_table_consistent(t);
}

/* Regression: the waiter grew an owner that the repair had just freed, leaking frames. */
static void
test_assign_waiting_on_a_dead_releaser_finds_no_process(void **state)
{
	struct table *t = T(state);

	NEEDS_CRASH_POINTS();
	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 200), DSHM_SUCCESS);
	race_with_dead_releaser(t, 1, assign_ten, DSHM_NO_SUCH_PROCESS);
	recover(t);
	assert_int_equal(t->hdr->frames_free, NFRAMES);
	assert_table_consistent(t);
}

/* ---- random deaths, in the manner of glibc's tst-robust8 --------------- */

#define RANDOM_PIDS 12
#define RANDOM_ROUNDS 80
#define RANDOM_CHILDREN 4
#define RANDOM_OPS 80

static uint32_t
next_random(uint64_t *rng)
{
	*rng = *rng * 6364136223846793005u + 1442695040888963407u;
	return (uint32_t)(*rng >> 33);
}

/* One child: random requests, and death at a crash point or by its own hand. */
static void
random_child(struct table *t, uint64_t seed)
{
	static const char *points[] = {"create_grown", "grow_grown", "release_truncated",
				       "lock_release"};
	uint64_t rng = seed;
	unsigned char buf[3 * FS];
	char spec[64];

	if (next_random(&rng) % 4 != 0) {
		snprintf(spec, sizeof(spec), "%s:%u", points[next_random(&rng) % 4],
			 1 + next_random(&rng) % 12);
		setenv("DSHM_FAULT", spec, 1);
	}
	memset(buf, (int)(seed & 0xff), sizeof(buf));
	for (int i = 0; i < RANDOM_OPS; i++) {
		int64_t pid = next_random(&rng) % RANDOM_PIDS;
		uint32_t r = next_random(&rng), slot;

		switch (r % 7) {
		case 0:
		case 1:
			procs_init(t, PROCS_ROOT, pid, r / 7 % 40);
			break;
		case 2:
			procs_assign(t, PROCS_ROOT, pid, r / 7 % 20);
			break;
		case 3:
			procs_finalize(t, PROCS_ROOT, pid);
			break;
		case 4:
			procs_write(t, PROCS_ROOT, pid, r / 7 % 4, r / 29 % FS, buf, r / 31 % sizeof(buf));
			break;
		case 5:
			procs_read(t, PROCS_ROOT, pid, r / 7 % 4, r / 29 % FS, buf, r / 31 % sizeof(buf));
			break;
		case 6:
			/* die while holding a lock: an owner's, or the alloc lock, or both */
			if (r / 7 % 24 != 0)
				break;
			if (owners_find_locked(t, OWNER_PROCESS, pid, &slot) == DSHM_SUCCESS && r % 3 == 0)
				kill(getpid(), SIGKILL);
			if (owners_alloc_lock(t) == 0)
				kill(getpid(), SIGKILL);
			_exit(3);
		}
	}
	_exit(0);
}

static void
test_children_dying_at_random_points_never_corrupt_the_table(void **state)
{
	struct table *t = T(state);
	unsigned killed = 0, finished = 0;

	for (unsigned round = 0; round < RANDOM_ROUNDS; round++) {
		pid_t kids[RANDOM_CHILDREN];

		for (unsigned k = 0; k < RANDOM_CHILDREN; k++) {
			kids[k] = fork_child();
			if (kids[k] == 0)
				random_child(t, 0x9e3779b97f4a7c15u * (round * RANDOM_CHILDREN + k + 1));
		}
		for (unsigned k = 0; k < RANDOM_CHILDREN; k++) {
			int status;

			assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
			if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
				killed++;
			else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				finished++;
			else
				fail_msg("round %u child %u: unexpected status 0x%x", round, k, status);
		}
		recover(t);
		assert_table_consistent(t);
		/* every process that exists is whole: each of its pages can be read */
		for (int64_t pid = 0; pid < RANDOM_PIDS; pid++) {
			int64_t slot = slot_of(t, pid);

			if (slot < 0)
				continue;
			uint32_t n = atomic_load(&t->owners[slot].npages);
			if (n > 0)
				assert_int_equal(procs_read(t, PROCS_ROOT, pid, n - 1, FS - 1, NULL, 0),
						 DSHM_SUCCESS);
		}
	}
	/* the scenario must have exercised both outcomes */
	assert_true(killed > RANDOM_ROUNDS);
	assert_true(finished > 0);
	print_message("%u children killed, %u finished, %u repairs\n", killed, finished,
		      atomic_load(&t->hdr->alloc_lock.repairs));
	assert_true(atomic_load(&t->hdr->alloc_lock.repairs) > 0);
}

/* ---- writes that die half-way ------------------------------------------ */

static unsigned char *
give_undo_area(struct table *t, size_t each)
{
	unsigned char *u = mmap(NULL, each, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				-1, 0);

	assert_true(u != MAP_FAILED);
	t->undo = u;
	t->undo_each = each;
	return u;
}

static void
take_undo_area(struct table *t)
{
	munmap(t->undo, t->undo_each);
	t->undo = NULL;
	t->undo_each = 0;
}

/* As worker 0, overwrites pages 0-3 of pid with 0x99: dies between two frames. */
static void
child_write_4_pages(struct table *t, int64_t pid)
{
	unsigned char buf[4 * FS];

	t->self = 0;
	memset(buf, 0x99, sizeof(buf));
	procs_write(t, PROCS_ROOT, pid, 0, 0, buf, sizeof(buf));
}

static void
test_write_killed_between_frames_is_undone_by_the_next_taker_of_its_lock(void **state)
{
	struct table *t = T(state);

	NEEDS_CRASH_POINTS();
	give_undo_area(t, 5 * FS); /* 4 pages' bytes and the list of ranges */
	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 4), DSHM_SUCCESS);
	fill_pages(t, 1, 0, 4, 0x31);
	assert_killed(in_child(t, "write_copying", child_write_4_pages, 1));
	assert_true(atomic_load(&t->workers[0].undo.active));

	/* A reader recovers the lock: the half-done write is rolled back whole. */
	assert_pages_hold(t, 1, 4, 0x31);
	assert_false(atomic_load(&t->workers[0].undo.active));
	assert_int_equal(atomic_load(&t->owners[slot_of(t, 1)].undo_worker), 0);
	assert_table_consistent(t);
	take_undo_area(t);
}

static void
test_worker_restarting_in_a_dead_writers_slot_undoes_the_write_first(void **state)
{
	struct table *t = T(state);

	NEEDS_CRASH_POINTS();
	give_undo_area(t, 5 * FS); /* 4 pages' bytes and the list of ranges */
	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 4), DSHM_SUCCESS);
	fill_pages(t, 1, 0, 4, 0x42);
	assert_killed(in_child(t, "write_copying", child_write_4_pages, 1));

	owners_recover_worker(t, 0);
	assert_false(atomic_load(&t->workers[0].undo.active));
	assert_int_equal(atomic_load(&t->owners[slot_of(t, 1)].lock.repairs), 1);
	assert_pages_hold(t, 1, 4, 0x42);
	assert_table_consistent(t);
	take_undo_area(t);
}

/* As worker 0, writes 0x99 over pages 0 and 2 of pid as two ranges: dies between them. */
static void
child_write_2_runs(struct table *t, int64_t pid)
{
	const struct byte_run runs[2] = {{0, FS}, {2 * FS, FS}};
	unsigned char buf[2 * FS];
	uint32_t slot;

	t->self = 0;
	memset(buf, 0x99, sizeof(buf));
	if (owners_find_locked(t, OWNER_PROCESS, pid, &slot) == DSHM_SUCCESS)
		owners_write_runs(t, slot, runs, 2, buf);
}

static void
test_write_of_two_ranges_killed_between_them_is_undone_whole(void **state)
{
	struct table *t = T(state);

	NEEDS_CRASH_POINTS();
	give_undo_area(t, 4 * FS);
	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 4), DSHM_SUCCESS);
	fill_pages(t, 1, 0, 4, 0x27);
	assert_killed(in_child(t, "write_between_runs", child_write_2_runs, 1));
	assert_true(atomic_load(&t->workers[0].undo.active));
	assert_int_equal(t->workers[0].undo.nruns, 2);

	/* The first range was written whole before the death: it goes back too. */
	assert_pages_hold(t, 1, 4, 0x27);
	assert_false(atomic_load(&t->workers[0].undo.active));
	assert_table_consistent(t);
	take_undo_area(t);
}

static void
test_write_that_completes_leaves_no_undo_record(void **state)
{
	struct table *t = T(state);
	unsigned char buf[2 * FS];

	give_undo_area(t, 5 * FS); /* 4 pages' bytes and the list of ranges */
	t->self = 0;
	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 2), DSHM_SUCCESS);
	memset(buf, 0x55, sizeof(buf));
	assert_int_equal(procs_write(t, PROCS_ROOT, 1, 0, 0, buf, sizeof(buf)), DSHM_SUCCESS);
	assert_false(atomic_load(&t->workers[0].undo.active));
	assert_int_equal(atomic_load(&t->owners[slot_of(t, 1)].undo_worker), 0);
	assert_pages_hold(t, 1, 2, 0x55);
	t->self = -1;
	take_undo_area(t);
}

int
main(void)
{
#define T_(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T_(test_repair_undoes_a_grow_that_died_after_mapping_its_pages),
		T_(test_repair_undoes_a_grow_that_died_after_updating_npages),
		T_(test_repair_undoes_a_grow_that_died_between_new_root_and_new_height),
		T_(test_repair_undoes_a_create_that_died_before_the_owner_was_visible),
		T_(test_repair_finishes_a_release_that_died_half_way),
		T_(test_repair_finishes_a_release_that_died_before_freeing_anything),
		T_(test_repair_frees_a_frame_taken_but_never_mapped),
		T_(test_repair_frees_a_chunk_taken_but_never_linked),
		T_(test_repair_recounts_counters_a_dead_holder_left_wrong),
		T_(test_checker_notices_a_frame_that_is_not_zero),
		T_(test_create_killed_after_mapping_leaves_no_process_and_no_frames),
		T_(test_grow_killed_after_mapping_keeps_the_old_pages_only),
		T_(test_release_killed_after_truncating_is_finished_by_the_next_taker),
		T_(test_death_while_releasing_a_lock_after_finished_work_keeps_the_work),
		T_(test_death_holding_an_owner_lock_after_a_write_keeps_the_bytes),
		T_(test_alloc_lock_of_a_dead_holder_is_repaired_once_by_the_next_taker),
		T_(test_lookup_after_an_index_rebuild_died_half_way_finds_every_process),
		T_(test_read_waiting_on_a_dead_releaser_finds_no_process),
		T_(test_assign_waiting_on_a_dead_releaser_finds_no_process),
		T_(test_children_dying_at_random_points_never_corrupt_the_table),
		T_(test_write_killed_between_frames_is_undone_by_the_next_taker_of_its_lock),
		T_(test_worker_restarting_in_a_dead_writers_slot_undoes_the_write_first),
		T_(test_write_of_two_ranges_killed_between_them_is_undone_whole),
		T_(test_write_that_completes_leaves_no_undo_record),
	};
#undef T_

	return cmocka_run_group_tests(tests, NULL, NULL);
}
