/*
 * test_owners.c — owner slots and the index: creation and its failures,
 * finding with the owner's lock held, growth, release, and copies between
 * an owner's pages and a buffer.
 */
#include "helpers.h"

#define FS 128u
#define NFRAMES 64u
#define MAXOWNERS 4u

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

static struct table *
T(void **state)
{
	return &((struct fixture *)*state)->t;
}

static void
test_find_locked_returns_the_slot_with_its_lock_held(void **state)
{
	struct table *t = T(state);
	uint32_t slot = 99;

	assert_int_equal(owners_create(t, OWNER_PROCESS, 77, 2, 1000), DSHM_SUCCESS);
	assert_int_equal(owners_find_locked(t, OWNER_PROCESS, 77, &slot), DSHM_SUCCESS);
	assert_true(slot < MAXOWNERS);
	assert_int_equal(atomic_load(&t->owners[slot].lock.holder), getpid());
	assert_int_equal(atomic_load(&t->owners[slot].npages), 2);
	assert_int_equal(t->owners[slot].uid, 1000);
	owners_unlock(t, slot);
	assert_int_equal(atomic_load(&t->owners[slot].lock.holder), 0);
}

static void
test_find_of_an_unknown_id_returns_false_and_holds_nothing(void **state)
{
	struct table *t = T(state);
	uint32_t slot = 99;

	assert_int_equal(owners_create(t, OWNER_PROCESS, 1, 1, 0), DSHM_SUCCESS);
	assert_int_equal(owners_find_locked(t, OWNER_PROCESS, 2, &slot), DSHM_NOT_FOUND);
	assert_int_equal(owners_find_locked(t, OWNER_PROCESS + 1, 1, &slot), DSHM_NOT_FOUND); /* another kind */
	assert_int_equal(slot, 99);
	for (uint32_t s = 0; s < MAXOWNERS; s++)
		assert_int_equal(atomic_load(&t->owners[s].lock.holder), 0);
}

static void
test_ids_at_the_extremes_are_distinct_owners(void **state)
{
	struct table *t = T(state);
	static const int64_t ids[] = {0, INT64_MAX, INT64_MIN, -1};
	int64_t slots[4];

	for (int i = 0; i < 4; i++)
		assert_int_equal(owners_create(t, OWNER_PROCESS, ids[i], 1, 0), DSHM_SUCCESS);
	for (int i = 0; i < 4; i++) {
		slots[i] = slot_of(t, ids[i]);
		assert_true(slots[i] >= 0);
		assert_int_equal(atomic_load(&t->owners[slots[i]].id), ids[i]);
		for (int j = 0; j < i; j++)
			assert_int_not_equal(slots[i], slots[j]);
	}
	assert_table_consistent(t);
}

static void
test_create_fails_in_order_exists_then_no_space_then_table_full(void **state)
{
	struct table *t = T(state);

	for (int64_t id = 0; id < MAXOWNERS; id++)
		assert_int_equal(owners_create(t, OWNER_PROCESS, id, 4, 0), DSHM_SUCCESS);
	assert_int_equal(owners_create(t, OWNER_PROCESS, 2, 1000, 0), DSHM_PROCESS_EXISTS);
	assert_int_equal(owners_create(t, OWNER_PROCESS, 9, NFRAMES, 0), DSHM_NO_SPACE);
	assert_int_equal(owners_create(t, OWNER_PROCESS, 9, 1, 0), DSHM_TABLE_FULL);
	assert_int_equal(t->hdr->frames_free, NFRAMES - 4 * MAXOWNERS);
	assert_int_equal(t->hdr->owners_used, MAXOWNERS);
	assert_table_consistent(t);
}

static void
test_grow_adds_pages_or_allocates_nothing(void **state)
{
	struct table *t = T(state);
	uint32_t slot;

	assert_int_equal(owners_create(t, OWNER_PROCESS, 5, 10, 0), DSHM_SUCCESS);
	assert_int_equal(owners_find_locked(t, OWNER_PROCESS, 5, &slot), DSHM_SUCCESS);
	assert_int_equal(owners_grow(t, slot, NFRAMES - 10 + 1), DSHM_NO_SPACE);
	assert_int_equal(atomic_load(&t->owners[slot].npages), 10);
	assert_int_equal(t->hdr->frames_free, NFRAMES - 10);
	assert_int_equal(owners_grow(t, slot, NFRAMES - 10), DSHM_SUCCESS);
	assert_int_equal(atomic_load(&t->owners[slot].npages), NFRAMES);
	assert_int_equal(t->hdr->frames_free, 0);
	assert_int_equal(owners_grow(t, slot, 0), DSHM_SUCCESS);
	owners_unlock(t, slot);
	assert_table_consistent(t);
}

static void
test_release_frees_the_frames_the_slot_and_the_lock(void **state)
{
	struct table *t = T(state);
	uint32_t slot;

	assert_int_equal(owners_create(t, OWNER_PROCESS, 5, 20, 0), DSHM_SUCCESS);
	assert_int_equal(owners_find_locked(t, OWNER_PROCESS, 5, &slot), DSHM_SUCCESS);
	owners_release(t, slot);
	assert_int_equal(atomic_load(&t->owners[slot].lock.holder), 0);
	assert_int_equal(atomic_load(&t->owners[slot].state), OWNER_FREE);
	assert_int_equal(t->hdr->frames_free, NFRAMES);
	assert_int_equal(t->hdr->owners_used, 0);
	assert_int_equal(slot_of(t, 5), -1);
	assert_table_consistent(t);
	/* the slot is reused */
	for (int64_t id = 10; id < 10 + MAXOWNERS; id++)
		assert_int_equal(owners_create(t, OWNER_PROCESS, id, 1, 0), DSHM_SUCCESS);
	assert_table_consistent(t);
}

static void
test_copy_moves_bytes_across_frame_boundaries(void **state)
{
	struct table *t = T(state);
	unsigned char in[3 * FS], out[3 * FS];
	uint32_t slot;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i ^ 0x5a);
	assert_int_equal(owners_create(t, OWNER_PROCESS, 1, 4, 0), DSHM_SUCCESS);
	assert_int_equal(owners_find_locked(t, OWNER_PROCESS, 1, &slot), DSHM_SUCCESS);
	owners_copy(t, slot, FS / 2, in, sizeof(in), true);
	memset(out, 0, sizeof(out));
	owners_copy(t, slot, FS / 2, out, sizeof(out), false);
	assert_memory_equal(out, in, sizeof(in));
	/* the bytes landed in each page's own frame, at the right offsets */
	assert_int_equal(table_frame(t, pagetree_frame(t, &t->owners[slot], 0))[FS / 2], in[0]);
	assert_int_equal(table_frame(t, pagetree_frame(t, &t->owners[slot], 1))[0], in[FS / 2]);
	assert_int_equal(table_frame(t, pagetree_frame(t, &t->owners[slot], 3))[FS / 2 - 1],
			 in[sizeof(in) - 1]);
	assert_int_equal(table_frame(t, pagetree_frame(t, &t->owners[slot], 0))[FS / 2 - 1], 0);
	assert_int_equal(table_frame(t, pagetree_frame(t, &t->owners[slot], 3))[FS / 2], 0);
	owners_unlock(t, slot);
}

static void
test_repair_of_a_healthy_table_changes_nothing(void **state)
{
	struct table *t = T(state);
	unsigned char b[4] = "abcd";
	uint32_t slot;

	assert_int_equal(owners_create(t, OWNER_PROCESS, 1, 7, 0), DSHM_SUCCESS);
	assert_int_equal(owners_create(t, OWNER_PROCESS, 2, 15, 0), DSHM_SUCCESS);
	assert_int_equal(owners_find_locked(t, OWNER_PROCESS, 2, &slot), DSHM_SUCCESS);
	owners_copy(t, slot, 3, b, 4, true);
	owners_unlock(t, slot);
	owners_repair(t);
	assert_int_equal(t->hdr->frames_free, NFRAMES - 7 - 15);
	assert_int_equal(t->hdr->owners_used, 2);
	assert_int_equal(owners_find_locked(t, OWNER_PROCESS, 2, &slot), DSHM_SUCCESS);
	memset(b, 0, 4);
	owners_copy(t, slot, 3, b, 4, false);
	owners_unlock(t, slot);
	assert_memory_equal(b, "abcd", 4);
	assert_table_consistent(t);
}

int
main(void)
{
#define T_(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T_(test_find_locked_returns_the_slot_with_its_lock_held),
		T_(test_find_of_an_unknown_id_returns_false_and_holds_nothing),
		T_(test_ids_at_the_extremes_are_distinct_owners),
		T_(test_create_fails_in_order_exists_then_no_space_then_table_full),
		T_(test_grow_adds_pages_or_allocates_nothing),
		T_(test_release_frees_the_frames_the_slot_and_the_lock),
		T_(test_copy_moves_bytes_across_frame_boundaries),
		T_(test_repair_of_a_healthy_table_changes_nothing),
	};
#undef T_

	return cmocka_run_group_tests(tests, NULL, NULL);
}
