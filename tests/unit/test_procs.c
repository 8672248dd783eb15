/*
 * test_procs.c — the seed-000 paging semantics: one test per behaviour,
 * each checking the status code, the bytes, and that the table stays
 * consistent (a failed request allocates and writes nothing).
 */
#include "helpers.h"

#define FS 256u     /* frame size */
#define NFRAMES 64u
#define MAXPROCS 8u

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

static bool
all_zero(const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

static void
test_init_gives_pages_that_read_as_zero(void **state)
{
	struct table *t = T(state);
	unsigned char buf[3 * FS];

	assert_int_equal(procs_init(t, PROCS_ROOT, 10, 3), DSHM_SUCCESS);
	assert_int_equal(t->hdr->frames_free, NFRAMES - 3);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(procs_read(t, PROCS_ROOT, 10, 0, 0, buf, sizeof(buf)), DSHM_SUCCESS);
	assert_true(all_zero(buf, sizeof(buf)));
	assert_table_consistent(t);
}

static void
test_write_then_read_returns_the_bytes(void **state)
{
	struct table *t = T(state);
	unsigned char out[16];

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 2), DSHM_SUCCESS);
	assert_int_equal(procs_write(t, PROCS_ROOT, 1, 1, 100, "sixteen bytes!!", 16), DSHM_SUCCESS);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 1, 100, out, 16), DSHM_SUCCESS);
	assert_memory_equal(out, "sixteen bytes!!", 16);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 1, 99, out, 1), DSHM_SUCCESS);
	assert_int_equal(out[0], 0); /* the byte before is untouched */
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 1, 116, out, 1), DSHM_SUCCESS);
	assert_int_equal(out[0], 0); /* and the byte after */
	assert_table_consistent(t);
}

static void
test_write_crossing_pages_runs_on_into_the_following_pages(void **state)
{
	struct table *t = T(state);
	unsigned char in[2 * FS + 20], out[FS];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7 + 1);
	assert_int_equal(procs_init(t, PROCS_ROOT, 5, 4), DSHM_SUCCESS);
	/* from the last 10 bytes of page 0, through page 1, into page 2, page 3 too */
	assert_int_equal(procs_write(t, PROCS_ROOT, 5, 0, FS - 10, in, sizeof(in)), DSHM_SUCCESS);
	assert_int_equal(procs_read(t, PROCS_ROOT, 5, 0, FS - 10, out, 10), DSHM_SUCCESS);
	assert_memory_equal(out, in, 10);
	assert_int_equal(procs_read(t, PROCS_ROOT, 5, 1, 0, out, FS), DSHM_SUCCESS);
	assert_memory_equal(out, in + 10, FS);
	assert_int_equal(procs_read(t, PROCS_ROOT, 5, 2, 0, out, FS), DSHM_SUCCESS);
	assert_memory_equal(out, in + 10 + FS, FS);
	assert_int_equal(procs_read(t, PROCS_ROOT, 5, 3, 0, out, 10), DSHM_SUCCESS);
	assert_memory_equal(out, in + 10 + 2 * FS, 10);
	assert_int_equal(procs_read(t, PROCS_ROOT, 5, 3, 10, out, FS - 10), DSHM_SUCCESS);
	assert_true(all_zero(out, FS - 10));
	assert_table_consistent(t);
}

static void
test_write_up_to_the_last_byte_of_the_last_page_succeeds(void **state)
{
	struct table *t = T(state);
	unsigned char out[2];

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 2), DSHM_SUCCESS);
	assert_int_equal(procs_write(t, PROCS_ROOT, 1, 1, FS - 2, "xy", 2), DSHM_SUCCESS);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 1, FS - 2, out, 2), DSHM_SUCCESS);
	assert_memory_equal(out, "xy", 2);
	assert_int_equal(procs_write(t, PROCS_ROOT, 1, 0, 0, "", 0), DSHM_SUCCESS);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 1, FS - 1, out, 0), DSHM_SUCCESS);
}

static void
test_write_running_past_the_last_page_is_segmentation_fault_and_writes_nothing(void **state)
{
	struct table *t = T(state);
	unsigned char in[2 * FS + 1], out[2 * FS];

	memset(in, 0xab, sizeof(in));
	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 2), DSHM_SUCCESS);
	assert_int_equal(procs_write(t, PROCS_ROOT, 1, 1, FS - 4, in, 5), DSHM_SEGMENTATION_FAULT);
	assert_int_equal(procs_write(t, PROCS_ROOT, 1, 0, 0, in, 2 * FS + 1), DSHM_SEGMENTATION_FAULT);
	assert_int_equal(procs_write(t, PROCS_ROOT, 1, 0, 1, in, 2 * FS), DSHM_SEGMENTATION_FAULT);
	assert_int_equal(procs_write(t, PROCS_ROOT, 1, 0, 0, in, INT64_MAX), DSHM_SEGMENTATION_FAULT);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 0, 0, out, sizeof(out)), DSHM_SUCCESS);
	assert_true(all_zero(out, sizeof(out)));
	assert_table_consistent(t);
}

static void
test_read_running_past_the_last_page_is_segmentation_fault(void **state)
{
	struct table *t = T(state);
	unsigned char out[2 * FS + 1];

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 2), DSHM_SUCCESS);
	memset(out, 0x11, sizeof(out));
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 1, 1, out, FS), DSHM_SEGMENTATION_FAULT);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 0, 0, out, 2 * FS + 1), DSHM_SEGMENTATION_FAULT);
	assert_int_equal(out[0], 0x11); /* nothing was copied */
}

static void
test_page_at_or_beyond_npages_is_page_fault(void **state)
{
	struct table *t = T(state);
	unsigned char b[1] = {1};

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 2), DSHM_SUCCESS);
	assert_int_equal(procs_write(t, PROCS_ROOT, 1, 2, 0, b, 1), DSHM_PAGE_FAULT);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 2, 0, b, 1), DSHM_PAGE_FAULT);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, INT32_MAX, 0, b, 0), DSHM_PAGE_FAULT);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, INT64_MAX, 0, b, 1), DSHM_PAGE_FAULT);
	assert_int_equal(procs_write(t, PROCS_ROOT, 1, -1, 0, b, 1), DSHM_PAGE_FAULT);
	assert_table_consistent(t);
}

static void
test_process_with_no_pages_faults_on_every_page(void **state)
{
	struct table *t = T(state);
	unsigned char b[1];

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 0), DSHM_SUCCESS);
	assert_int_equal(t->hdr->frames_free, NFRAMES);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 0, 0, b, 0), DSHM_PAGE_FAULT);
	assert_table_consistent(t);
}

static void
test_offset_outside_the_frame_is_out_of_frame(void **state)
{
	struct table *t = T(state);
	unsigned char b[1] = {1};

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 2), DSHM_SUCCESS);
	assert_int_equal(procs_write(t, PROCS_ROOT, 1, 0, FS, b, 1), DSHM_OUT_OF_FRAME);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 0, FS, b, 1), DSHM_OUT_OF_FRAME);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 0, -1, b, 1), DSHM_OUT_OF_FRAME);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 0, INT64_MAX, b, 1), DSHM_OUT_OF_FRAME);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 0, FS - 1, b, 1), DSHM_SUCCESS);
}

static void
test_negative_size_is_bad_request(void **state)
{
	struct table *t = T(state);
	unsigned char b[1] = {1};

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 2), DSHM_SUCCESS);
	assert_int_equal(procs_write(t, PROCS_ROOT, 1, 0, 0, b, -1), DSHM_BAD_REQUEST);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 0, 0, b, INT64_MIN), DSHM_BAD_REQUEST);
}

static void
test_negative_pid_or_pages_is_bad_request(void **state)
{
	struct table *t = T(state);
	unsigned char b[1] = {1};

	assert_int_equal(procs_init(t, PROCS_ROOT, -1, 1), DSHM_BAD_REQUEST);
	assert_int_equal(procs_init(t, PROCS_ROOT, 1, -1), DSHM_BAD_REQUEST);
	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 1), DSHM_SUCCESS);
	assert_int_equal(procs_assign(t, PROCS_ROOT, 1, -1), DSHM_BAD_REQUEST);
	assert_int_equal(procs_assign(t, PROCS_ROOT, -1, 1), DSHM_BAD_REQUEST);
	assert_int_equal(procs_finalize(t, PROCS_ROOT, -1), DSHM_BAD_REQUEST);
	assert_int_equal(procs_write(t, PROCS_ROOT, -1, 0, 0, b, 1), DSHM_BAD_REQUEST);
	assert_int_equal(procs_read(t, PROCS_ROOT, -1, 0, 0, b, 1), DSHM_BAD_REQUEST);
	assert_int_equal(t->hdr->frames_free, NFRAMES - 1);
	assert_table_consistent(t);
}

static void
test_argument_errors_come_before_no_such_process(void **state)
{
	struct table *t = T(state);
	unsigned char b[1];

	/* the fixed order of procs.c: arguments, then the process, then the range */
	assert_int_equal(procs_read(t, PROCS_ROOT, 99, 0, 0, b, -1), DSHM_BAD_REQUEST);
	assert_int_equal(procs_read(t, PROCS_ROOT, 99, 0, FS, b, 1), DSHM_OUT_OF_FRAME);
	assert_int_equal(procs_read(t, PROCS_ROOT, 99, 5, 0, b, 1), DSHM_NO_SUCH_PROCESS);
	assert_int_equal(procs_init(t, PROCS_ROOT, 99, 1), DSHM_SUCCESS);
	assert_int_equal(procs_read(t, PROCS_ROOT, 99, 5, 0, b, FS * 9), DSHM_PAGE_FAULT);
}

static void
test_unknown_pid_is_no_such_process(void **state)
{
	struct table *t = T(state);
	unsigned char b[1] = {1};

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 1), DSHM_SUCCESS);
	assert_int_equal(procs_read(t, PROCS_ROOT, 2, 0, 0, b, 1), DSHM_NO_SUCH_PROCESS);
	assert_int_equal(procs_write(t, PROCS_ROOT, 2, 0, 0, b, 1), DSHM_NO_SUCH_PROCESS);
	assert_int_equal(procs_assign(t, PROCS_ROOT, 2, 1), DSHM_NO_SUCH_PROCESS);
	assert_int_equal(procs_finalize(t, PROCS_ROOT, 2), DSHM_NO_SUCH_PROCESS);
	assert_int_equal(t->hdr->frames_free, NFRAMES - 1);
	assert_table_consistent(t);
}

static void
test_init_of_an_existing_pid_is_process_exists_and_keeps_it(void **state)
{
	struct table *t = T(state);
	unsigned char out[4];

	assert_int_equal(procs_init(t, PROCS_ROOT, 3, 2), DSHM_SUCCESS);
	assert_int_equal(procs_write(t, PROCS_ROOT, 3, 1, 0, "keep", 4), DSHM_SUCCESS);
	assert_int_equal(procs_init(t, PROCS_ROOT, 3, 5), DSHM_PROCESS_EXISTS);
	assert_int_equal(procs_init(t, PROCS_ROOT, 3, 0), DSHM_PROCESS_EXISTS);
	assert_int_equal(t->hdr->frames_free, NFRAMES - 2);
	assert_int_equal(procs_read(t, PROCS_ROOT, 3, 1, 0, out, 4), DSHM_SUCCESS);
	assert_memory_equal(out, "keep", 4);
	assert_int_equal(procs_read(t, PROCS_ROOT, 3, 2, 0, out, 1), DSHM_PAGE_FAULT);
	assert_table_consistent(t);
}

static void
test_init_with_too_few_free_frames_is_no_space_and_allocates_nothing(void **state)
{
	struct table *t = T(state);

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, NFRAMES - 5), DSHM_SUCCESS);
	assert_int_equal(procs_init(t, PROCS_ROOT, 2, 6), DSHM_NO_SPACE);
	assert_int_equal(t->hdr->frames_free, 5);
	assert_int_equal(procs_read(t, PROCS_ROOT, 2, 0, 0, NULL, 0), DSHM_NO_SUCH_PROCESS);
	assert_int_equal(procs_init(t, PROCS_ROOT, 2, NFRAMES + 1), DSHM_NO_SPACE);
	assert_int_equal(procs_init(t, PROCS_ROOT, 2, INT64_MAX), DSHM_NO_SPACE);
	/* 2^32 + 1 pages must not wrap to 1 */
	assert_int_equal(procs_init(t, PROCS_ROOT, 2, (INT64_C(1) << 32) + 1), DSHM_NO_SPACE);
	assert_int_equal(t->hdr->frames_free, 5);
	assert_int_equal(t->hdr->owners_used, 1);
	assert_table_consistent(t);
	assert_int_equal(procs_init(t, PROCS_ROOT, 2, 5), DSHM_SUCCESS); /* exactly what is left */
	assert_int_equal(t->hdr->frames_free, 0);
	assert_table_consistent(t);
}

static void
test_assign_with_too_few_free_frames_is_no_space_and_allocates_nothing(void **state)
{
	struct table *t = T(state);
	unsigned char out[1];

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 10), DSHM_SUCCESS);
	assert_int_equal(procs_init(t, PROCS_ROOT, 2, NFRAMES - 12), DSHM_SUCCESS);
	assert_int_equal(procs_assign(t, PROCS_ROOT, 1, 3), DSHM_NO_SPACE);
	assert_int_equal(procs_assign(t, PROCS_ROOT, 1, NFRAMES + 1), DSHM_NO_SPACE);
	assert_int_equal(procs_assign(t, PROCS_ROOT, 1, INT64_MAX), DSHM_NO_SPACE);
	assert_int_equal(procs_assign(t, PROCS_ROOT, 1, (INT64_C(1) << 32) + 1), DSHM_NO_SPACE);
	assert_int_equal(t->hdr->frames_free, 2);
	assert_int_equal(atomic_load(&t->owners[slot_of(t, 1)].npages), 10);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 10, 0, out, 1), DSHM_PAGE_FAULT);
	assert_table_consistent(t);
}

static void
test_init_when_the_table_is_full_is_table_full(void **state)
{
	struct table *t = T(state);

	for (int64_t pid = 0; pid < MAXPROCS; pid++)
		assert_int_equal(procs_init(t, PROCS_ROOT, pid, 1), DSHM_SUCCESS);
	assert_int_equal(procs_init(t, PROCS_ROOT, 100, 1), DSHM_TABLE_FULL);
	assert_int_equal(procs_init(t, PROCS_ROOT, 101, 0), DSHM_TABLE_FULL);
	assert_int_equal(t->hdr->frames_free, NFRAMES - MAXPROCS);
	assert_int_equal(procs_read(t, PROCS_ROOT, 100, 0, 0, NULL, 0), DSHM_NO_SUCH_PROCESS);
	assert_table_consistent(t);
	/* a finalize makes room again */
	assert_int_equal(procs_finalize(t, PROCS_ROOT, 3), DSHM_SUCCESS);
	assert_int_equal(procs_init(t, PROCS_ROOT, 100, 1), DSHM_SUCCESS);
	assert_table_consistent(t);
}

static void
test_finalize_frees_every_frame_and_a_new_process_reads_zeros(void **state)
{
	struct table *t = T(state);
	unsigned char big[NFRAMES * FS];

	memset(big, 0xcd, sizeof(big));
	assert_int_equal(procs_init(t, PROCS_ROOT, 7, NFRAMES), DSHM_SUCCESS);
	assert_int_equal(procs_write(t, PROCS_ROOT, 7, 0, 0, big, sizeof(big)), DSHM_SUCCESS);
	assert_int_equal(t->hdr->frames_free, 0);
	assert_int_equal(procs_finalize(t, PROCS_ROOT, 7), DSHM_SUCCESS);
	assert_int_equal(t->hdr->frames_free, NFRAMES);
	assert_int_equal(procs_read(t, PROCS_ROOT, 7, 0, 0, big, 1), DSHM_NO_SUCH_PROCESS);
	assert_int_equal(procs_finalize(t, PROCS_ROOT, 7), DSHM_NO_SUCH_PROCESS);
	assert_table_consistent(t);
	/* the same frames, now someone else's: all zero */
	assert_int_equal(procs_init(t, PROCS_ROOT, 8, NFRAMES), DSHM_SUCCESS);
	assert_int_equal(procs_read(t, PROCS_ROOT, 8, 0, 0, big, sizeof(big)), DSHM_SUCCESS);
	assert_true(all_zero(big, sizeof(big)));
	assert_table_consistent(t);
}

static void
test_assign_adds_pages_that_read_zero_and_keeps_the_old_bytes(void **state)
{
	struct table *t = T(state);
	unsigned char junk[4 * FS], out[4 * FS];

	/* dirty every frame once, then free them all */
	memset(junk, 0x77, sizeof(junk));
	assert_int_equal(procs_init(t, PROCS_ROOT, 9, NFRAMES), DSHM_SUCCESS);
	for (int64_t p = 0; p < NFRAMES; p += 4)
		assert_int_equal(procs_write(t, PROCS_ROOT, 9, p, 0, junk, sizeof(junk)), DSHM_SUCCESS);
	assert_int_equal(procs_finalize(t, PROCS_ROOT, 9), DSHM_SUCCESS);

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 1), DSHM_SUCCESS);
	assert_int_equal(procs_write(t, PROCS_ROOT, 1, 0, FS - 3, "old", 3), DSHM_SUCCESS);
	assert_int_equal(procs_assign(t, PROCS_ROOT, 1, 3), DSHM_SUCCESS);
	assert_int_equal(t->hdr->frames_free, NFRAMES - 4);
	assert_int_equal(procs_read(t, PROCS_ROOT, 1, 0, 0, out, sizeof(out)), DSHM_SUCCESS);
	assert_true(all_zero(out, FS - 3));
	assert_memory_equal(out + FS - 3, "old", 3);
	assert_true(all_zero(out + FS, 3 * FS));
	/* the new pages are usable, across the old boundary too */
	assert_int_equal(procs_write(t, PROCS_ROOT, 1, 0, FS - 1, "xyz", 3), DSHM_SUCCESS);
	assert_int_equal(procs_assign(t, PROCS_ROOT, 1, 0), DSHM_SUCCESS);
	assert_table_consistent(t);
}

static void
test_pid_zero_is_a_valid_process(void **state)
{
	struct table *t = T(state);
	unsigned char out[4];

	assert_int_equal(procs_init(t, PROCS_ROOT, 0, 1), DSHM_SUCCESS);
	assert_int_equal(procs_write(t, PROCS_ROOT, 0, 0, 0, "zero", 4), DSHM_SUCCESS);
	assert_int_equal(procs_read(t, PROCS_ROOT, 0, 0, 0, out, 4), DSHM_SUCCESS);
	assert_memory_equal(out, "zero", 4);
	assert_int_equal(procs_assign(t, PROCS_ROOT, 0, 1), DSHM_SUCCESS);
	assert_int_equal(procs_init(t, PROCS_ROOT, 0, 1), DSHM_PROCESS_EXISTS);
	assert_table_consistent(t);
	assert_int_equal(procs_finalize(t, PROCS_ROOT, 0), DSHM_SUCCESS);
	assert_int_equal(procs_read(t, PROCS_ROOT, 0, 0, 0, out, 1), DSHM_NO_SUCH_PROCESS);
	assert_table_consistent(t);
}

static void
test_processes_do_not_see_each_others_bytes(void **state)
{
	struct table *t = T(state);
	unsigned char out[FS];

	assert_int_equal(procs_init(t, PROCS_ROOT, 1, 2), DSHM_SUCCESS);
	assert_int_equal(procs_init(t, PROCS_ROOT, 2, 2), DSHM_SUCCESS);
	memset(out, 0x31, sizeof(out));
	assert_int_equal(procs_write(t, PROCS_ROOT, 1, 0, 0, out, FS), DSHM_SUCCESS);
	assert_int_equal(procs_read(t, PROCS_ROOT, 2, 0, 0, out, FS), DSHM_SUCCESS);
	assert_true(all_zero(out, FS));
}

/*
 * Creating and finalizing many processes leaves tombstones in the owner
 * index and triggers its rebuilds; every live process must still be found,
 * with its own bytes, and the index must hold nothing but live owners.
 */
static void
test_many_processes_created_and_finalized_still_find_each_other(void **state)
{
	struct fixture *f = fixture_make(256, 64, 16);
	struct table *t = &f->t;
	int64_t live[16];
	int nlive = 0;
	uint64_t rng = 12345;

	(void)state;
	for (int round = 0; round < 3000; round++) {
		rng = rng * 6364136223846793005u + 1442695040888963407u;
		if (nlive < 16 && ((rng >> 33) % 3 != 0 || nlive == 0)) {
			int64_t pid = (int64_t)(round * 7919 % 100003);
			unsigned char tag[8];

			memcpy(tag, &pid, 8);
			assert_int_equal(procs_init(t, PROCS_ROOT, pid, 1 + (int64_t)(rng >> 40) % 8),
					 DSHM_SUCCESS);
			assert_int_equal(procs_write(t, PROCS_ROOT, pid, 0, 0, tag, 8), DSHM_SUCCESS);
			live[nlive++] = pid;
		} else {
			int victim = (int)((rng >> 20) % (uint64_t)nlive);

			assert_int_equal(procs_finalize(t, PROCS_ROOT, live[victim]), DSHM_SUCCESS);
			assert_int_equal(procs_read(t, PROCS_ROOT, live[victim], 0, 0, NULL, 0),
					 DSHM_NO_SUCH_PROCESS);
			live[victim] = live[--nlive];
		}
		for (int i = 0; i < nlive; i++) {
			unsigned char tag[8];

			assert_int_equal(procs_read(t, PROCS_ROOT, live[i], 0, 0, tag, 8), DSHM_SUCCESS);
			assert_memory_equal(tag, &live[i], 8);
		}
		if (round % 50 == 0)
			assert_table_consistent(t);
	}
	assert_table_consistent(t);
	fixture_free(f);
}

/* Regression: a rebuild started by a finalize put the finalized owner back in the index. */
static void
test_finalize_that_rebuilds_the_index_leaves_only_live_owners_in_it(void **state)
{
	struct table *t = T(state);
	uint32_t limit = t->hdr->index_size / 4;

	/* index_size is 16 for 8 owners: the 5th tombstone triggers a rebuild */
	assert_int_equal(limit, 4);
	for (int64_t pid = 0; pid <= limit; pid++)
		assert_int_equal(procs_init(t, PROCS_ROOT, pid, 1), DSHM_SUCCESS);
	for (int64_t pid = 0; pid <= limit; pid++) {
		assert_int_equal(procs_finalize(t, PROCS_ROOT, pid), DSHM_SUCCESS);
		assert_table_consistent(t);
	}
	assert_int_equal(t->hdr->index_tombs, 0);
	assert_int_equal(t->hdr->owners_used, 0);
	for (uint32_t i = 0; i < t->hdr->index_size; i++)
		assert_int_equal(atomic_load(&t->index[i]), INDEX_EMPTY);
}

/* Whether the process's lock is free (taken and given back at once if so). */
static bool
unlocked(struct table *t, int64_t pid)
{
	uint32_t slot;

	for (slot = 0; slot < t->hdr->max_owners; slot++)
		if (atomic_load(&t->owners[slot].state) == OWNER_USED &&
		    atomic_load(&t->owners[slot].id) == pid)
			break;
	assert_true(slot < t->hdr->max_owners);
	if (pthread_mutex_trylock(&t->owners[slot].lock.mutex) != 0)
		return false;
	pthread_mutex_unlock(&t->owners[slot].lock.mutex);
	return true;
}

/* Concatenates pieces, as the kernel does with a gathered send. */
static size_t
join(const struct iovec *piece, unsigned n, unsigned char *out)
{
	size_t len = 0;

	for (unsigned i = 0; i < n; i++) {
		memcpy(out + len, piece[i].iov_base, piece[i].iov_len);
		len += piece[i].iov_len;
	}
	return len;
}

static void
test_pinned_read_lists_one_piece_per_frame_and_holds_the_lock_until_unpinned(void **state)
{
	struct table *t = T(state);
	unsigned char in[2 * FS + 20], out[sizeof(in)];
	struct procs_pin pin = {.held = false};
	struct iovec piece[4];
	unsigned n;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 13 + 5);
	assert_int_equal(procs_init(t, PROCS_ROOT, 5, 4), DSHM_SUCCESS);
	assert_int_equal(procs_write(t, PROCS_ROOT, 5, 0, FS - 10, in, sizeof(in)), DSHM_SUCCESS);
	/* 10 bytes of page 0, pages 1 and 2 whole, 10 bytes of page 3. */
	assert_int_equal(procs_read_pieces(t, FS - 10, sizeof(in)), 4);
	assert_int_equal(procs_read_pin(t, PROCS_ROOT, &pin, 5, 0, FS - 10, sizeof(in), piece, &n),
			 DSHM_SUCCESS);
	assert_int_equal(n, 4);
	assert_int_equal(piece[0].iov_len, 10);
	assert_int_equal(piece[3].iov_len, 10);
	assert_int_equal(join(piece, n, out), sizeof(in));
	assert_memory_equal(out, in, sizeof(in));
	assert_true(pin.held);
	assert_false(unlocked(t, 5));
	/* A second read of the same process under the same pin. */
	assert_int_equal(procs_read_pin(t, PROCS_ROOT, &pin, 5, 1, 0, FS, piece, &n), DSHM_SUCCESS);
	assert_int_equal(n, 1);
	assert_memory_equal(piece[0].iov_base, in + 10, FS);
	/* An error under a held pin keeps it held: the pieces listed before stay valid. */
	assert_int_equal(procs_read_pin(t, PROCS_ROOT, &pin, 5, 4, 0, 1, piece, &n), DSHM_PAGE_FAULT);
	assert_int_equal(n, 0);
	assert_true(pin.held);
	assert_false(unlocked(t, 5));
	procs_unpin(t, &pin);
	assert_false(pin.held);
	assert_true(unlocked(t, 5));
	procs_unpin(t, &pin); /* unheld: nothing */
	assert_true(unlocked(t, 5));
}

static void
test_failed_pinned_read_holds_nothing(void **state)
{
	struct table *t = T(state);
	struct procs_pin pin = {.held = false};
	struct iovec piece[4];
	unsigned n;

	assert_int_equal(procs_init(t, PROCS_ROOT, 5, 2), DSHM_SUCCESS);
	assert_int_equal(procs_read_pin(t, PROCS_ROOT, &pin, 6, 0, 0, 1, piece, &n), DSHM_NO_SUCH_PROCESS);
	assert_int_equal(procs_read_pin(t, PROCS_ROOT, &pin, 5, 0, FS, 1, piece, &n), DSHM_OUT_OF_FRAME);
	assert_int_equal(procs_read_pin(t, PROCS_ROOT, &pin, 5, 2, 0, 1, piece, &n), DSHM_PAGE_FAULT);
	assert_int_equal(procs_read_pin(t, PROCS_ROOT, &pin, 5, 1, 1, FS, piece, &n),
			 DSHM_SEGMENTATION_FAULT);
	assert_int_equal(procs_read_pin(t, PROCS_ROOT, &pin, 5, 0, 0, -1, piece, &n), DSHM_BAD_REQUEST);
	assert_false(pin.held);
	assert_true(unlocked(t, 5));
	/* Another caller's process is refused, pinned or not. */
	assert_int_equal(procs_init(t, 1001, 7, 1), DSHM_SUCCESS);
	assert_int_equal(procs_read_pin(t, 1000, &pin, 7, 0, 0, 1, piece, &n), DSHM_NOT_PERMITTED);
	assert_false(pin.held);
	assert_true(unlocked(t, 7));
	/* A read of nothing pins too, with no pieces. */
	assert_int_equal(procs_read_pin(t, PROCS_ROOT, &pin, 5, 0, 0, 0, piece, &n), DSHM_SUCCESS);
	assert_int_equal(n, 0);
	assert_true(pin.held);
	procs_unpin(t, &pin);
	assert_true(unlocked(t, 5));
}

int
main(void)
{
#define T_(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T_(test_init_gives_pages_that_read_as_zero),
		T_(test_write_then_read_returns_the_bytes),
		T_(test_write_crossing_pages_runs_on_into_the_following_pages),
		T_(test_write_up_to_the_last_byte_of_the_last_page_succeeds),
		T_(test_write_running_past_the_last_page_is_segmentation_fault_and_writes_nothing),
		T_(test_read_running_past_the_last_page_is_segmentation_fault),
		T_(test_page_at_or_beyond_npages_is_page_fault),
		T_(test_process_with_no_pages_faults_on_every_page),
		T_(test_offset_outside_the_frame_is_out_of_frame),
		T_(test_negative_size_is_bad_request),
		T_(test_negative_pid_or_pages_is_bad_request),
		T_(test_argument_errors_come_before_no_such_process),
		T_(test_unknown_pid_is_no_such_process),
		T_(test_init_of_an_existing_pid_is_process_exists_and_keeps_it),
		T_(test_init_with_too_few_free_frames_is_no_space_and_allocates_nothing),
		T_(test_assign_with_too_few_free_frames_is_no_space_and_allocates_nothing),
		T_(test_init_when_the_table_is_full_is_table_full),
		T_(test_finalize_frees_every_frame_and_a_new_process_reads_zeros),
		T_(test_assign_adds_pages_that_read_zero_and_keeps_the_old_bytes),
		T_(test_pid_zero_is_a_valid_process),
		T_(test_processes_do_not_see_each_others_bytes),
		cmocka_unit_test(test_many_processes_created_and_finalized_still_find_each_other),
		T_(test_finalize_that_rebuilds_the_index_leaves_only_live_owners_in_it),
		T_(test_pinned_read_lists_one_piece_per_frame_and_holds_the_lock_until_unpinned),
		T_(test_failed_pinned_read_holds_nothing),
	};
#undef T_

	return cmocka_run_group_tests(tests, NULL, NULL);
}
