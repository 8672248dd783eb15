/*
 * test_table.c — laying out the control table in memory: the header, the
 * alignment of every region, and binding an existing table.
 */
#include "helpers.h"

static void
test_format_fills_in_the_header(void **state)
{
	struct fixture *f = fixture_make(1000, 4096, 10);
	const struct table_header *h = f->t.hdr;

	(void)state;
	assert_true(atomic_load(&h->magic) == DSHM_TABLE_MAGIC);
	assert_int_equal(atomic_load(&h->creator_pid), getpid());
	assert_int_equal(h->layout_version, DSHM_LAYOUT_VERSION);
	assert_int_equal(h->header_size, sizeof(struct table_header));
	assert_int_equal(h->table_size, f->mem_size);
	assert_int_equal(h->frame_size, 4096);
	assert_int_equal(h->nframes, 1000);
	assert_int_equal(h->max_owners, 10);
	assert_int_equal(h->index_size, 32); /* the power of two >= 2 * max_owners */
	assert_int_equal(h->frames_free, 1000);
	assert_int_equal(h->chunks_free, h->nchunks - 1);
	assert_int_equal(f->t.frame_shift, 12);
	assert_int_equal(f->t.shmid, -1);
	assert_table_consistent(&f->t);
	fixture_free(f);
}

static void
test_every_region_starts_on_a_64_byte_boundary_inside_the_table(void **state)
{
	struct fixture *f = fixture_make(333, 64, 7);
	const struct table_header *h = f->t.hdr;
	const uint64_t offs[] = {h->off_owners, h->off_index, h->off_frame_owner,
				 h->off_frame_bits, h->off_chunks, h->off_chunk_bits,
				 h->off_workers};

	(void)state;
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		assert_int_equal(offs[i] % 64, 0);
		assert_true(offs[i] >= sizeof(struct table_header));
		assert_true(offs[i] <= h->table_size);
		if (i > 0)
			assert_true(offs[i] > offs[i - 1]);
	}
	assert_true(h->off_frame_owner + 333 * sizeof(uint32_t) <= h->off_frame_bits);
	assert_true(h->off_chunks + h->nchunks * PT_FANOUT * sizeof(uint32_t) <=
		    h->off_chunk_bits);
	assert_true(h->off_workers + sizeof(struct worker_slot) <= h->table_size);
	fixture_free(f);
}

static void
test_size_grows_with_frames_and_owners(void **state)
{
	struct table_params p = {.frame_size = 4096, .nframes = 1000, .max_owners = 10,
				 .nworkers = 1};
	size_t base = table_size(&p);

	(void)state;
	p.nframes = 100000;
	assert_true(table_size(&p) > base);
	p.nframes = 1000;
	p.max_owners = 1000;
	assert_true(table_size(&p) > base);
	p.max_owners = 10;
	assert_int_equal(table_size(&p), base);
}

static void
test_bind_accepts_a_formatted_table_and_finds_the_same_regions(void **state)
{
	struct fixture *f = fixture_make(100, 256, 4);
	struct table t2;

	(void)state;
	memset(&t2, 0, sizeof(t2));
	assert_true(table_bind(&t2, f->mem, f->mem_size, f->arena));
	assert_ptr_equal(t2.owners, f->t.owners);
	assert_ptr_equal(t2.index, f->t.index);
	assert_ptr_equal(t2.frame_owner, f->t.frame_owner);
	assert_ptr_equal(t2.chunks, f->t.chunks);
	assert_ptr_equal(t2.workers, f->t.workers);
	assert_int_equal(t2.frame_shift, 8);
	/* a second view works on the same table */
	assert_int_equal(procs_init(&t2, PROCS_ROOT, 1, 3), DSHM_SUCCESS);
	assert_int_equal(procs_read(&f->t, PROCS_ROOT, 1, 2, 0, NULL, 0), DSHM_SUCCESS);
	fixture_free(f);
}

static void
test_bind_rejects_what_is_not_a_table_of_this_layout(void **state)
{
	struct fixture *f = fixture_make(100, 256, 4);
	struct table_header *h = f->t.hdr;
	struct table t2;

	(void)state;
	assert_false(table_bind(&t2, f->mem, sizeof(*h) - 1, f->arena));
	assert_false(table_bind(&t2, f->mem, h->table_size - 1, f->arena));
	h->layout_version++;
	assert_false(table_bind(&t2, f->mem, f->mem_size, f->arena));
	h->layout_version--;
	h->frame_size = 96; /* not a power of two */
	assert_false(table_bind(&t2, f->mem, f->mem_size, f->arena));
	h->frame_size = 256;
	atomic_store(&h->magic, 0);
	assert_false(table_bind(&t2, f->mem, f->mem_size, f->arena));
	atomic_store(&h->magic, DSHM_TABLE_MAGIC);
	assert_true(table_bind(&t2, f->mem, f->mem_size, f->arena));
	fixture_free(f);
}

/* Pointers come from the header's offsets: one that is not what its sizes give is refused. */
static void
test_bind_rejects_offsets_and_counts_its_sizes_do_not_give(void **state)
{
	struct fixture *f = fixture_make(100, 256, 4);
	struct table_header *h = f->t.hdr;
	uint64_t *fields[] = {&h->off_owners, &h->off_index, &h->off_frame_owner,
			      &h->off_frame_bits, &h->off_chunks, &h->off_chunk_bits,
			      &h->off_workers, &h->off_segments, &h->off_attach, &h->nchunks};
	struct table t2;

	(void)state;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		*fields[i] += 64;
		assert_false(table_bind(&t2, f->mem, f->mem_size, f->arena));
		*fields[i] -= 64;
	}
	h->max_attach++;
	assert_false(table_bind(&t2, f->mem, f->mem_size, f->arena));
	h->max_attach--;
	h->max_owners++; /* the sizes then give other offsets */
	assert_false(table_bind(&t2, f->mem, f->mem_size, f->arena));
	h->max_owners--;
	assert_true(table_bind(&t2, f->mem, f->mem_size, f->arena));
	fixture_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_fills_in_the_header),
		cmocka_unit_test(test_every_region_starts_on_a_64_byte_boundary_inside_the_table),
		cmocka_unit_test(test_size_grows_with_frames_and_owners),
		cmocka_unit_test(test_bind_accepts_a_formatted_table_and_finds_the_same_regions),
		cmocka_unit_test(test_bind_rejects_what_is_not_a_table_of_this_layout),
		cmocka_unit_test(test_bind_rejects_offsets_and_counts_its_sizes_do_not_give),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
