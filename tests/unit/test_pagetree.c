/*
 * test_pagetree.c — page trees: every page maps to its own frame at every
 * height, growth keeps what was mapped, truncation frees exactly the pages
 * from keep on (zeroed), and the chunk pool survives its worst cases.
 */
#include "helpers.h"

/* Creates an owner with no pages and returns its slot. */
static uint32_t
new_owner(struct fixture *f, int64_t id)
{
	int64_t slot;

	assert_int_equal(owners_create(&f->t, OWNER_PROCESS, id, 0, 0), DSHM_SUCCESS);
	slot = slot_of(&f->t, id);
	assert_true(slot >= 0);
	return (uint32_t)slot;
}

/* What owners_grow does, without its locks and checks. */
static void
grow(struct fixture *f, uint32_t slot, uint32_t add)
{
	struct owner *o = &f->t.owners[slot];

	pagetree_grow(&f->t, slot, add);
	atomic_store(&o->npages, atomic_load(&o->npages) + add);
}

static void
truncate_to(struct fixture *f, uint32_t slot, uint32_t keep)
{
	pagetree_truncate(&f->t, slot, keep);
	atomic_store(&f->t.owners[slot].npages, keep);
}

/* Every page below npages maps to a distinct frame of slot. */
static void
assert_pages_map_distinct_frames(struct fixture *f, uint32_t slot)
{
	const struct owner *o = &f->t.owners[slot];
	uint64_t npages = atomic_load(&o->npages);
	bitstr_t *seen = calloc(1, bitstr_size(f->p.nframes));

	assert_non_null(seen);
	for (uint64_t p = 0; p < npages; p++) {
		uint32_t fr = pagetree_frame(&f->t, o, p);

		assert_true(fr < f->p.nframes);
		if (bit_test(seen, fr))
			fail_msg("page %llu maps frame %u, already mapped", (unsigned long long)p, fr);
		bit_set(seen, fr);
		assert_int_equal(atomic_load(&f->t.frame_owner[fr]), slot + 1);
	}
	free(seen);
}

static void
test_tree_of_one_leaf_maps_each_page_to_its_own_frame(void **state)
{
	struct fixture *f = fixture_make(64, 64, 4);
	uint32_t s = new_owner(f, 1);

	(void)state;
	grow(f, s, 64);
	assert_int_equal(f->t.owners[s].height, 1);
	assert_int_equal(f->t.hdr->frames_free, 0);
	assert_pages_map_distinct_frames(f, s);
	assert_table_consistent(&f->t);
	fixture_free(f);
}

static void
test_tree_of_height_two_maps_more_than_64_pages(void **state)
{
	struct fixture *f = fixture_make(200, 64, 4);
	uint32_t s = new_owner(f, 1);

	(void)state;
	grow(f, s, 65);
	assert_int_equal(f->t.owners[s].height, 2);
	assert_pages_map_distinct_frames(f, s);
	assert_table_consistent(&f->t);
	grow(f, s, 135);
	assert_int_equal(f->t.owners[s].height, 2);
	assert_int_equal(f->t.hdr->frames_free, 0);
	assert_pages_map_distinct_frames(f, s);
	assert_table_consistent(&f->t);
	fixture_free(f);
}

static void
test_tree_of_height_three_maps_more_than_4096_pages(void **state)
{
	struct fixture *f = fixture_make(4096 + 100, 64, 4);
	uint32_t s = new_owner(f, 1);

	(void)state;
	grow(f, s, 4096);
	assert_int_equal(f->t.owners[s].height, 2);
	grow(f, s, 1);
	assert_int_equal(f->t.owners[s].height, 3);
	grow(f, s, 99);
	assert_pages_map_distinct_frames(f, s);
	assert_table_consistent(&f->t);
	fixture_free(f);
}

static void
test_growing_keeps_the_frames_already_mapped(void **state)
{
	struct fixture *f = fixture_make(5000, 64, 4);
	uint32_t s = new_owner(f, 7);
	uint32_t before[10];

	(void)state;
	grow(f, s, 10);
	for (uint64_t p = 0; p < 10; p++)
		before[p] = pagetree_frame(&f->t, &f->t.owners[s], p);
	grow(f, s, 4990); /* raises the tree twice */
	assert_int_equal(f->t.owners[s].height, 3);
	for (uint64_t p = 0; p < 10; p++)
		assert_int_equal(pagetree_frame(&f->t, &f->t.owners[s], p), before[p]);
	assert_pages_map_distinct_frames(f, s);
	assert_table_consistent(&f->t);
	fixture_free(f);
}

struct tally {
	uint64_t pages, chunks, next_page;
	bool in_order;
};

static void
tally_page(void *ctx, uint64_t page, uint32_t frame)
{
	struct tally *t = ctx;

	(void)frame;
	t->in_order &= page == t->next_page;
	t->next_page = page + 1;
	t->pages++;
}

static void
tally_chunk(void *ctx, uint32_t chunk)
{
	struct tally *t = ctx;

	(void)chunk;
	t->chunks++;
}

static void
test_visit_reports_pages_in_order_and_every_chunk(void **state)
{
	struct fixture *f = fixture_make(4097, 64, 4);
	uint32_t s = new_owner(f, 1);
	struct tally tally = {0, 0, 0, true};
	struct pagetree_visitor v = {tally_page, tally_chunk, &tally};
	uint64_t chunks_before = f->t.hdr->chunks_free;

	(void)state;
	grow(f, s, 4097);
	pagetree_visit(&f->t, &f->t.owners[s], &v);
	assert_true(tally.in_order);
	assert_int_equal(tally.pages, 4097);
	/* 65 leaves, 2 chunks at level 2, the root at level 3 */
	assert_int_equal(tally.chunks, 65 + 2 + 1);
	assert_int_equal(chunks_before - f->t.hdr->chunks_free, 68);
	fixture_free(f);
}

/* Puts a distinct byte in every page of slot (at its first and last byte). */
static void
mark_pages(struct fixture *f, uint32_t slot)
{
	const struct owner *o = &f->t.owners[slot];

	for (uint64_t p = 0; p < atomic_load(&o->npages); p++) {
		unsigned char *b = table_frame(&f->t, pagetree_frame(&f->t, o, p));

		b[0] = (unsigned char)(p + 1);
		b[f->p.frame_size - 1] = (unsigned char)(p + 1);
	}
}

static void
check_truncation(uint32_t npages, uint32_t keep)
{
	struct fixture *f = fixture_make(npages + 10, 64, 4);
	uint32_t s = new_owner(f, 1);
	uint32_t *frame = calloc(npages, sizeof(*frame));

	assert_non_null(frame);
	grow(f, s, npages);
	mark_pages(f, s);
	for (uint64_t p = 0; p < npages; p++)
		frame[p] = pagetree_frame(&f->t, &f->t.owners[s], p);
	truncate_to(f, s, keep);
	assert_int_equal(f->t.hdr->frames_free, npages + 10 - keep);
	for (uint64_t p = 0; p < npages; p++) {
		if (p < keep) {
			assert_int_equal(pagetree_frame(&f->t, &f->t.owners[s], p), frame[p]);
			assert_int_equal(atomic_load(&f->t.frame_owner[frame[p]]), s + 1);
			assert_int_equal(table_frame(&f->t, frame[p])[0], (unsigned char)(p + 1));
		} else {
			assert_int_equal(atomic_load(&f->t.frame_owner[frame[p]]), 0);
			assert_false(bit_test(f->t.frame_bits, frame[p]));
			assert_true(frame_is_zero(&f->t, frame[p]));
		}
	}
	assert_table_consistent(&f->t);
	free(frame);
	fixture_free(f);
}

static void
test_truncate_frees_exactly_the_pages_from_keep_on(void **state)
{
	(void)state;
	check_truncation(50, 20);     /* inside one leaf */
	check_truncation(200, 70);    /* height 2, keep in the second leaf */
	check_truncation(200, 64);    /* keep on a leaf boundary */
	check_truncation(200, 1);
	check_truncation(5000, 4097); /* height 3 */
	check_truncation(5000, 4096);
	check_truncation(5000, 100);
}

static void
test_truncate_to_zero_empties_the_tree_and_returns_its_chunks(void **state)
{
	struct fixture *f = fixture_make(5000, 64, 4);
	uint32_t s = new_owner(f, 1);
	uint64_t chunks_free = f->t.hdr->chunks_free;

	(void)state;
	grow(f, s, 4500);
	truncate_to(f, s, 0);
	assert_int_equal(f->t.owners[s].root, CHUNK_NULL);
	assert_int_equal(f->t.owners[s].height, 0);
	assert_int_equal(f->t.hdr->chunks_free, chunks_free);
	assert_int_equal(f->t.hdr->frames_free, 5000);
	assert_table_consistent(&f->t);
	fixture_free(f);
}

static void
test_truncate_cleans_up_a_grow_that_never_updated_npages(void **state)
{
	struct fixture *f = fixture_make(300, 64, 4);
	uint32_t s = new_owner(f, 1);
	uint64_t chunks_free;

	(void)state;
	grow(f, s, 30);
	chunks_free = f->t.hdr->chunks_free;
	pagetree_grow(&f->t, s, 200); /* npages stays 30, as if the grower died */
	assert_int_equal(f->t.hdr->frames_free, 70);
	pagetree_truncate(&f->t, s, 30);
	assert_int_equal(f->t.hdr->frames_free, 270);
	/* the tree keeps its new height, but no chunk beyond what 30 pages need */
	assert_int_equal(f->t.owners[s].height, 2);
	assert_int_equal(chunks_free - f->t.hdr->chunks_free, 1);
	assert_pages_map_distinct_frames(f, s);
	assert_table_consistent(&f->t);
	fixture_free(f);
}

static void
test_freed_pages_are_zero_when_grown_again(void **state)
{
	struct fixture *f = fixture_make(128, 64, 4);
	uint32_t s = new_owner(f, 1);

	(void)state;
	grow(f, s, 128);
	mark_pages(f, s);
	truncate_to(f, s, 0);
	grow(f, s, 128);
	for (uint64_t p = 0; p < 128; p++)
		assert_true(frame_is_zero(&f->t, pagetree_frame(&f->t, &f->t.owners[s], p)));
	assert_table_consistent(&f->t);
	fixture_free(f);
}

/*
 * The chunk pool is sized for the worst case.  Fill the arena in shapes
 * that use the most chunks per frame; chunk_take running dry would index
 * bit -1 (caught by the sanitizers), and the checker counts what is left.
 */
static void
fill_with_owners(uint64_t nframes, uint32_t max_owners, uint32_t pages_each)
{
	struct fixture *f = fixture_make(nframes, 64, max_owners);
	uint32_t n = 0;

	while (n + 1 < max_owners && f->t.hdr->frames_free >= (uint64_t)pages_each + 1) {
		assert_int_equal(owners_create(&f->t, OWNER_PROCESS, n, pages_each, 0), DSHM_SUCCESS);
		n++;
	}
	/* the last owner takes the rest */
	assert_int_equal(owners_create(&f->t, OWNER_PROCESS, n, (uint32_t)f->t.hdr->frames_free, 0),
			 DSHM_SUCCESS);
	assert_int_equal(f->t.hdr->frames_free, 0);
	assert_true(f->t.hdr->chunks_free < f->t.hdr->nchunks);
	assert_table_consistent(&f->t);
	fixture_free(f);
}

static void
test_chunk_pool_never_runs_out_in_worst_cases(void **state)
{
	(void)state;
	fill_with_owners(4096, 64, 1);      /* many owners of one page, one of the rest */
	fill_with_owners(4096, 4096, 1);    /* every frame its own owner */
	fill_with_owners(65 * 60, 61, 65);  /* height 2 with one page in the second leaf */
	fill_with_owners(4097 * 3, 4, 4097); /* height 3, barely */
	fill_with_owners(300000, 70, 4097);
	fill_with_owners(10000, 200, 65);
}

static void
test_chunk_pool_survives_many_owners_grown_a_page_at_a_time(void **state)
{
	struct fixture *f = fixture_make(5000, 64, 40);
	uint32_t slots[40];

	(void)state;
	for (int64_t i = 0; i < 40; i++)
		slots[i] = new_owner(f, i);
	/* round robin: every tree grows in step, so none shares a chunk */
	for (uint32_t round = 0; f->t.hdr->frames_free > 0; round++)
		for (int i = 0; i < 40 && f->t.hdr->frames_free > 0; i++)
			grow(f, slots[i], 1);
	assert_table_consistent(&f->t);
	for (int i = 0; i < 40; i++)
		assert_pages_map_distinct_frames(f, slots[i]);
	fixture_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_of_one_leaf_maps_each_page_to_its_own_frame),
		cmocka_unit_test(test_tree_of_height_two_maps_more_than_64_pages),
		cmocka_unit_test(test_tree_of_height_three_maps_more_than_4096_pages),
		cmocka_unit_test(test_growing_keeps_the_frames_already_mapped),
		cmocka_unit_test(test_visit_reports_pages_in_order_and_every_chunk),
		cmocka_unit_test(test_truncate_frees_exactly_the_pages_from_keep_on),
		cmocka_unit_test(test_truncate_to_zero_empties_the_tree_and_returns_its_chunks),
		cmocka_unit_test(test_truncate_cleans_up_a_grow_that_never_updated_npages),
		cmocka_unit_test(test_freed_pages_are_zero_when_grown_again),
		cmocka_unit_test(test_chunk_pool_never_runs_out_in_worst_cases),
		cmocka_unit_test(test_chunk_pool_survives_many_owners_grown_a_page_at_a_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
