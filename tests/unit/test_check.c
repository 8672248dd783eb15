/*
 * test_check.c — ipc/check.c, the lockless consistency check behind
 * dshm-ipcs --check and the unit tests' assert_table_consistent.
 *
 * A table built through the ordinary calls is clean; corruption is then
 * injected into a private copy of it (the original stays clean, as a live
 * server's would), and the check must count it and describe it in one
 * line, without crashing or looping on a table that makes no sense.
 * Segments get the same treatment: attachment rows naming dead segments,
 * sizes that overflow their frames, removed segments that keep a key.
 */
#include "helpers.h"
#include "segs.h"

#define FS 64u
#define NFRAMES 256u
#define MAXPROCS 8u

struct reports {
	int n;
	char lines[32][256];
};

static void
collect(void *ctx, const char *msg)
{
	struct reports *r = ctx;

	assert_null(strchr(msg, '\n'));
	if (r->n < 32)
		snprintf(r->lines[r->n], sizeof(r->lines[0]), "%s", msg);
	r->n++;
}

/* Whether some report contains needle. */
static bool
reported(const struct reports *r, const char *needle)
{
	for (int i = 0; i < r->n && i < 32; i++)
		if (strstr(r->lines[i], needle) != NULL)
			return true;
	return false;
}

static void
print_reports(const struct reports *r)
{
	for (int i = 0; i < r->n && i < 32; i++)
		print_message("  %s\n", r->lines[i]);
}

/* A fixture with processes 10 (5 pages), 20 (70 pages: a tree of height 2) and 30 (1 page). */
static int
setup(void **state)
{
	struct fixture *f = fixture_make(NFRAMES, FS, MAXPROCS);

	assert_int_equal(procs_init(&f->t, PROCS_ROOT, 10, 5), DSHM_SUCCESS);
	assert_int_equal(procs_init(&f->t, PROCS_ROOT, 20, 70), DSHM_SUCCESS);
	assert_int_equal(procs_init(&f->t, PROCS_ROOT, 99, 3), DSHM_SUCCESS);
	assert_int_equal(procs_init(&f->t, PROCS_ROOT, 30, 1), DSHM_SUCCESS);
	assert_int_equal(procs_finalize(&f->t, PROCS_ROOT, 99), DSHM_SUCCESS); /* leaves a tombstone */
	*state = f;
	return 0;
}

static uint32_t slot_of_kind(const struct table *t, uint32_t kind, int64_t id);

/* Root, over worker 0's connection 1. */
static const struct seg_cred ROOT = {.pid = 4242, .uid = 0, .gid = 0, .privileged = true};
static const struct seg_conn CONN = {.worker = 0, .serial = 1};

/* The shmids the segment fixture made: a keyed one, and a removed one still attached. */
static int32_t keyed_id, dest_id;

/* The process fixture, plus segment 0x5e5e0001 (4 frames) and an attached, removed one. */
static int
setup_segments(void **state)
{
	struct fixture *f;
	uint64_t segsz, gen;

	setup(state);
	f = *state;
	assert_int_equal(segs_get(&f->t, &ROOT, 0x5e5e0001, 3 * FS + 10, IPC_CREAT | 0600,
				  &keyed_id), DSHM_SUCCESS);
	assert_int_equal(segs_get(&f->t, &ROOT, 0x5e5e0002, FS, IPC_CREAT | 0600, &dest_id),
			 DSHM_SUCCESS);
	assert_int_equal(segs_attach(&f->t, &ROOT, &CONN, dest_id, 0, ROOT.pid, &segsz, &gen),
			 DSHM_SUCCESS);
	assert_int_equal(segs_rmid(&f->t, &ROOT, dest_id), DSHM_SUCCESS);
	assert_true(f->t.segments[slot_of_kind(&f->t, OWNER_SEGMENT, dest_id)].mode &
		    SEG_MODE_DEST);
	return 0;
}

/* The attachment row in use that names shmid. */
static struct attach_row *
row_of(struct table *t, int32_t shmid)
{
	for (uint32_t i = 0; i < t->hdr->max_attach; i++)
		if (atomic_load(&t->attach[i].state) != 0 && atomic_load(&t->attach[i].shmid) == shmid)
			return &t->attach[i];
	fail_msg("no attachment of shmid %d", shmid);
	return NULL;
}

static int
teardown(void **state)
{
	fixture_free(*state);
	return 0;
}

struct copy {
	struct table t;
	void *mem;
};

/* A private copy of the fixture's table, bound like an attached one. */
static struct copy *
copy_of(void **state)
{
	struct fixture *f = *state;
	struct copy *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->mem = aligned_alloc(64, (f->mem_size + 63) & ~(size_t)63);
	assert_non_null(c->mem);
	memcpy(c->mem, f->mem, f->mem_size);
	assert_true(table_bind(&c->t, c->mem, f->mem_size, f->arena));
	return c;
}

static void
copy_free(struct copy *c)
{
	free(c->mem);
	free(c);
}

/* The slot of the owner of kind with id. */
static uint32_t
slot_of_kind(const struct table *t, uint32_t kind, int64_t id)
{
	for (uint32_t s = 0; s < t->hdr->max_owners; s++)
		if (atomic_load(&t->owners[s].state) == OWNER_USED &&
		    atomic_load(&t->owners[s].kind) == kind && atomic_load(&t->owners[s].id) == id)
			return s;
	fail_msg("no owner of kind %u with id %lld", kind, (long long)id);
	return 0;
}

static uint32_t
slot_in(const struct table *t, int64_t id)
{
	return slot_of_kind(t, OWNER_PROCESS, id);
}

/* The leaf entry (frame + 1) that maps page of process id. */
static uint32_t *
leaf_of(struct table *t, int64_t id, uint64_t page)
{
	const struct owner *o = &t->owners[slot_in(t, id)];
	uint32_t node = o->root;

	for (uint32_t level = o->height; level > 1; level--)
		node = t->chunks[(uint64_t)node * PT_FANOUT +
				 ((page >> (PT_SHIFT * (level - 1))) & (PT_FANOUT - 1))];
	return &t->chunks[(uint64_t)node * PT_FANOUT + (page & (PT_FANOUT - 1))];
}

static int
check_copy(struct copy *c, struct reports *r)
{
	int n;

	memset(r, 0, sizeof(*r));
	n = check_table(&c->t, collect, r);
	print_reports(r);
	assert_int_equal(n, r->n);
	return n;
}

/* ---- clean tables ------------------------------------------------------ */

static void
test_fresh_table_has_no_violations(void **state)
{
	struct fixture *f = fixture_make(NFRAMES, FS, MAXPROCS);
	struct reports r = {0};

	(void)state;
	assert_int_equal(check_table(&f->t, collect, &r), 0);
	assert_int_equal(r.n, 0);
	fixture_free(f);
}

static void
test_table_with_processes_has_no_violations(void **state)
{
	struct fixture *f = *state;
	struct reports r = {0};

	assert_int_equal(procs_assign(&f->t, PROCS_ROOT, 10, 70), DSHM_SUCCESS);
	assert_int_equal(check_table(&f->t, collect, &r), 0);
	print_reports(&r);
	assert_int_equal(r.n, 0);
	assert_int_equal(check_table(&f->t, NULL, NULL), 0);
}

static void
test_unchanged_copy_has_no_violations(void **state)
{
	struct copy *c = copy_of(state);
	struct reports r;

	assert_int_equal(check_copy(c, &r), 0);
	copy_free(c);
}

/* ---- injected corruption ------------------------------------------------ */

static void
test_frame_mapped_by_two_owners_is_caught(void **state)
{
	struct copy *c = copy_of(state);
	struct reports r;
	uint32_t *a = leaf_of(&c->t, 10, 2), *b = leaf_of(&c->t, 30, 0);

	*b = *a; /* process 30's page 0 now maps process 10's page 2's frame */
	assert_true(check_copy(c, &r) >= 2);
	assert_true(reported(&r, "is mapped twice"));
	assert_true(reported(&r, "(pid 10) page 2"));
	assert_true(reported(&r, "(pid 30) page 0"));
	/* and the frame 30 lost is owned by it but mapped by nobody */
	assert_true(reported(&r, "but no page maps it"));
	copy_free(c);
	assert_table_consistent(&((struct fixture *)*state)->t); /* the original is untouched */
}

static void
test_page_pointing_at_another_owners_frame_is_caught(void **state)
{
	struct copy *c = copy_of(state);
	struct reports r;
	uint32_t frame = *leaf_of(&c->t, 20, 65) - 1;

	/* frame_owner says 10 owns it; 20's tree still maps it */
	atomic_store(&c->t.frame_owner[frame], slot_in(&c->t, 10) + 1);
	assert_true(check_copy(c, &r) >= 1);
	assert_true(reported(&r, "(pid 20): page 65 maps frame"));
	assert_true(reported(&r, "which frame_owner gives to owner"));
	assert_true(reported(&r, "(pid 10)"));
	copy_free(c);
}

static void
test_wrong_frames_free_is_caught(void **state)
{
	struct copy *c = copy_of(state);
	struct reports r;
	char want[64];

	snprintf(want, sizeof(want), "frames_free is %llu but %llu frames are free",
		 (unsigned long long)c->t.hdr->frames_free + 3,
		 (unsigned long long)c->t.hdr->frames_free);
	c->t.hdr->frames_free += 3;
	assert_int_equal(check_copy(c, &r), 1);
	assert_true(reported(&r, want));
	copy_free(c);
}

static void
test_frame_bit_disagreeing_with_frame_owner_is_caught(void **state)
{
	struct copy *c = copy_of(state);
	struct reports r;

	bit_set(c->t.frame_bits, NFRAMES - 1); /* used in the bitmap, owned by nobody */
	assert_true(check_copy(c, &r) >= 1);
	assert_true(reported(&r, "frame_bits says used but frame_owner is 0"));
	copy_free(c);
}

static void
test_wrong_npages_is_caught(void **state)
{
	struct copy *c = copy_of(state);
	struct reports r;

	atomic_store(&c->t.owners[slot_in(&c->t, 10)].npages, 4);
	assert_true(check_copy(c, &r) >= 1);
	assert_true(reported(&r, "page 4 maps frame"));
	assert_true(reported(&r, "its tree maps 5 pages, npages is 4"));
	copy_free(c);
}

static void
test_chunk_counts_and_bits_are_checked(void **state)
{
	struct copy *c = copy_of(state);
	struct table *t = &c->t;
	struct reports r;
	uint32_t root = t->owners[slot_in(t, 30)].root;

	bit_clear(t->chunk_bits, root);
	t->hdr->chunks_free = 0;
	assert_true(check_copy(c, &r) >= 2);
	assert_true(reported(&r, "is in its tree but free in chunk_bits"));
	assert_true(reported(&r, "chunks_free is 0"));
	copy_free(c);
}

static void
test_owners_used_and_index_are_checked(void **state)
{
	struct copy *c = copy_of(state);
	struct table *t = &c->t;
	struct reports r;
	uint32_t s = slot_in(t, 20);

	t->hdr->owners_used++;
	for (uint32_t i = 0; i < t->hdr->index_size; i++)
		if (atomic_load(&t->index[i]) == s + 1)
			atomic_store(&t->index[i], INDEX_EMPTY);
	t->hdr->index_tombs = 0;
	assert_true(check_copy(c, &r) >= 3);
	assert_true(reported(&r, "owners_used is 4 but 3 owners are in use"));
	assert_true(reported(&r, "(pid 20) is in use but not in the index"));
	assert_true(reported(&r, "index_tombs is 0 but the index holds 1"));
	copy_free(c);
}

static void
test_tree_linking_its_own_root_ends_and_is_caught(void **state)
{
	struct copy *c = copy_of(state);
	struct table *t = &c->t;
	struct reports r;
	const struct owner *o = &t->owners[slot_in(t, 20)];

	assert_int_equal(o->height, 2);
	t->chunks[(uint64_t)o->root * PT_FANOUT + 5] = o->root; /* a cycle */
	assert_true(check_copy(c, &r) >= 1);
	assert_true(reported(&r, "is linked twice"));
	copy_free(c);
}

static void
test_garbage_in_the_tree_stays_in_bounds(void **state)
{
	struct copy *c = copy_of(state);
	struct table *t = &c->t;
	struct reports r;
	struct owner *o = &t->owners[slot_in(t, 20)];

	t->chunks[(uint64_t)o->root * PT_FANOUT + 1] = UINT32_MAX - 1; /* chunk out of range */
	*leaf_of(t, 10, 0) = UINT32_MAX;                               /* frame out of range */
	t->owners[slot_in(t, 30)].height = 77;
	assert_true(check_copy(c, &r) >= 3);
	assert_true(reported(&r, "out of range"));
	assert_true(reported(&r, "beyond the 256 frames"));
	assert_true(reported(&r, "a tree of height 77"));
	copy_free(c);
}

static void
test_header_with_regions_outside_the_table_is_refused(void **state)
{
	struct copy *c = copy_of(state);
	struct reports r;

	c->t.hdr->off_chunks = c->t.hdr->table_size; /* the chunk pool would run past the end */
	assert_int_equal(check_copy(c, &r), 1);
	assert_true(reported(&r, "region chunks"));
	c->t.hdr->off_chunks = 0;
	c->t.hdr->nframes = UINT64_MAX;
	assert_true(check_copy(c, &r) >= 1);
	copy_free(c);
}

/* ---- segments ------------------------------------------------------------ */

static void
test_table_with_segments_and_a_removed_attached_one_has_no_violations(void **state)
{
	struct copy *c = copy_of(state);
	struct reports r;

	assert_int_equal(check_copy(c, &r), 0);
	copy_free(c);
	assert_table_consistent(&((struct fixture *)*state)->t);
}

static void
test_attach_row_being_filled_is_allowed(void **state)
{
	struct copy *c = copy_of(state);
	struct reports r;

	atomic_store(&row_of(&c->t, dest_id)->shmid, -1); /* taken, not yet (or no longer) filled */
	assert_int_equal(check_copy(c, &r), 0);
	copy_free(c);
}

static void
test_attach_row_naming_no_live_segment_is_caught(void **state)
{
	struct copy *c = copy_of(state);
	struct reports r;
	char want[96];

	atomic_store(&row_of(&c->t, dest_id)->shmid, keyed_id + 8 * 40); /* keyed_id's slot, later seq */
	snprintf(want, sizeof(want), "attach row 0 (worker 0) names shmid %d, which is no live segment",
		 keyed_id + 8 * 40);
	assert_int_equal(check_copy(c, &r), 1);
	assert_true(reported(&r, want));
	copy_free(c);
	assert_table_consistent(&((struct fixture *)*state)->t);
}

static void
test_segment_larger_than_its_frames_is_caught(void **state)
{
	struct copy *c = copy_of(state);
	struct reports r;
	uint32_t s = slot_of_kind(&c->t, OWNER_SEGMENT, keyed_id);
	char want[96];

	c->t.segments[s].segsz = 4 * FS + 1; /* it has 4 frames */
	snprintf(want, sizeof(want), "(shmid %d): shm_segsz %u does not fit in its 4 pages of %u bytes",
		 keyed_id, 4 * FS + 1, FS);
	assert_int_equal(check_copy(c, &r), 1);
	assert_true(reported(&r, want));
	copy_free(c);
}

static void
test_removed_segment_that_keeps_its_key_is_caught(void **state)
{
	struct copy *c = copy_of(state);
	struct reports r;

	c->t.segments[slot_of_kind(&c->t, OWNER_SEGMENT, dest_id)].key = 0x5e5e0002;
	assert_int_equal(check_copy(c, &r), 1);
	assert_true(reported(&r, "is removed (SHM_DEST) but keeps key 0x5e5e0002"));
	copy_free(c);
}

static void
test_shmid_that_does_not_match_its_slot_is_caught(void **state)
{
	struct copy *c = copy_of(state);
	struct reports r;

	c->t.segments[slot_of_kind(&c->t, OWNER_SEGMENT, keyed_id)].seq += 1;
	assert_true(check_copy(c, &r) >= 1);
	assert_true(reported(&r, "its shmid is not seq 2 * 8 + slot"));
	copy_free(c);
}

int
main(void)
{
#define T_(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
#define S_(name) cmocka_unit_test_setup_teardown(name, setup_segments, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_table_has_no_violations),
		T_(test_table_with_processes_has_no_violations),
		T_(test_unchanged_copy_has_no_violations),
		T_(test_frame_mapped_by_two_owners_is_caught),
		T_(test_page_pointing_at_another_owners_frame_is_caught),
		T_(test_wrong_frames_free_is_caught),
		T_(test_frame_bit_disagreeing_with_frame_owner_is_caught),
		T_(test_wrong_npages_is_caught),
		T_(test_chunk_counts_and_bits_are_checked),
		T_(test_owners_used_and_index_are_checked),
		T_(test_tree_linking_its_own_root_ends_and_is_caught),
		T_(test_garbage_in_the_tree_stays_in_bounds),
		T_(test_header_with_regions_outside_the_table_is_refused),
		S_(test_table_with_segments_and_a_removed_attached_one_has_no_violations),
		S_(test_attach_row_being_filled_is_allowed),
		S_(test_attach_row_naming_no_live_segment_is_caught),
		S_(test_segment_larger_than_its_frames_is_caught),
		S_(test_removed_segment_that_keeps_its_key_is_caught),
		S_(test_shmid_that_does_not_match_its_slot_is_caught),
	};
#undef T_
#undef S_

	return cmocka_run_group_tests(tests, NULL, NULL);
}
