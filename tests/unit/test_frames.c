/*
 * test_frames.c — the frame allocator: taking until full, freeing in runs,
 * and the promise that a freed frame reads as zeros without disturbing its
 * neighbours, for frames smaller than, equal to and larger than a page.
 */
#include "helpers.h"

#include <sys/mman.h>
#include <unistd.h>

#define SLOT 3

static void
take_all(struct fixture *f)
{
	for (uint64_t i = 0; i < f->p.nframes; i++)
		(void)frames_take(&f->t, SLOT);
}

static void
test_take_until_full_hands_out_every_frame_once(void **state)
{
	struct fixture *f = fixture_make(200, 64, 8);
	struct table *t = &f->t;
	bitstr_t *seen = calloc(1, bitstr_size(200));

	(void)state;
	for (uint64_t i = 0; i < 200; i++) {
		uint32_t fr = frames_take(t, SLOT);

		assert_true(fr < 200);
		assert_false(bit_test(seen, fr));
		bit_set(seen, fr);
		assert_true(bit_test(t->frame_bits, fr));
		assert_int_equal(atomic_load(&t->frame_owner[fr]), SLOT + 1);
		assert_int_equal(t->hdr->frames_free, 200 - i - 1);
	}
	assert_int_equal(t->hdr->frames_free, 0);
	free(seen);
	fixture_free(f);
}

static void
test_put_and_flush_free_exactly_the_frames_given(void **state)
{
	struct fixture *f = fixture_make(100, 64, 8);
	struct table *t = &f->t;
	struct frame_run run = {0, 0};
	static const uint32_t freed[] = {5, 6, 7, 40, 99, 0, 1};

	(void)state;
	take_all(f);
	for (size_t i = 0; i < sizeof(freed) / sizeof(freed[0]); i++)
		frames_put(t, &run, freed[i]);
	frames_flush(t, &run);
	assert_int_equal(run.count, 0);
	assert_int_equal(t->hdr->frames_free, 7);
	for (uint32_t fr = 0; fr < 100; fr++) {
		bool is_freed = false;

		for (size_t i = 0; i < sizeof(freed) / sizeof(freed[0]); i++)
			is_freed |= freed[i] == fr;
		assert_int_equal(bit_test(t->frame_bits, fr) ? 1 : 0, is_freed ? 0 : 1);
		assert_int_equal(atomic_load(&t->frame_owner[fr]), is_freed ? 0 : SLOT + 1);
	}
	fixture_free(f);
}

static void
test_put_of_adjacent_frames_waits_for_flush(void **state)
{
	struct fixture *f = fixture_make(16, 64, 8);
	struct table *t = &f->t;
	struct frame_run run = {0, 0};

	(void)state;
	take_all(f);
	frames_put(t, &run, 4);
	frames_put(t, &run, 5);
	assert_int_equal(run.first, 4);
	assert_int_equal(run.count, 2);
	assert_int_equal(t->hdr->frames_free, 0); /* still pending */
	frames_put(t, &run, 9);                   /* not adjacent: the run of 4-5 is flushed */
	assert_int_equal(t->hdr->frames_free, 2);
	assert_false(bit_test(t->frame_bits, 4));
	assert_false(bit_test(t->frame_bits, 5));
	assert_true(bit_test(t->frame_bits, 9));
	frames_flush(t, &run);
	assert_int_equal(t->hdr->frames_free, 3);
	assert_false(bit_test(t->frame_bits, 9));
	fixture_free(f);
}

static void
test_take_after_free_finds_the_freed_frame(void **state)
{
	struct fixture *f = fixture_make(70, 64, 8);
	struct table *t = &f->t;
	struct frame_run run = {0, 0};

	(void)state;
	take_all(f);
	frames_put(t, &run, 0);
	frames_flush(t, &run);
	assert_int_equal(frames_take(t, 1), 0);
	assert_int_equal(atomic_load(&t->frame_owner[0]), 2);
	frames_put(t, &run, 69);
	frames_flush(t, &run);
	assert_int_equal(frames_take(t, 1), 69);
	frames_put(t, &run, 33);
	frames_flush(t, &run);
	assert_int_equal(frames_take(t, 1), 33);
	assert_int_equal(t->hdr->frames_free, 0);
	fixture_free(f);
}

/*
 * Fills every frame, frees a long run, a short run and single frames, and
 * checks that the freed frames read as zero and that every other frame
 * kept its bytes: madvise must never punch a neighbour's page.
 */
static void
check_freed_frames_read_zero(uint32_t frame_size, uint64_t nframes, uint64_t run_first,
			     uint64_t run_count)
{
	struct fixture *f = fixture_make(nframes, frame_size, 8);
	struct table *t = &f->t;
	struct frame_run run = {0, 0};
	bitstr_t *freed = calloc(1, bitstr_size(nframes));
	uint64_t singles[] = {1, run_first + run_count + 2, nframes - 1};

	take_all(f);
	for (uint64_t i = 0; i < nframes; i++)
		fill_frame(t, i, (unsigned char)(0xa0 + i % 7));
	for (uint64_t i = run_first; i < run_first + run_count; i++) {
		frames_put(t, &run, (uint32_t)i);
		bit_set(freed, i);
	}
	for (size_t i = 0; i < 3; i++) {
		frames_put(t, &run, (uint32_t)singles[i]);
		bit_set(freed, singles[i]);
	}
	frames_flush(t, &run);
	assert_int_equal(t->hdr->frames_free, run_count + 3);
	for (uint64_t i = 0; i < nframes; i++) {
		const unsigned char *p = table_frame(t, i);

		if (bit_test(freed, i)) {
			assert_true(frame_is_zero(t, i));
			continue;
		}
		for (uint32_t b = 0; b < frame_size; b++)
			if (p[b] != (unsigned char)(0xa0 + i % 7))
				fail_msg("frame %llu byte %u lost its contents",
					 (unsigned long long)i, b);
	}
	free(freed);
	fixture_free(f);
}

static void
test_freed_frames_read_zero_with_frames_smaller_than_a_page(void **state)
{
	long page = sysconf(_SC_PAGESIZE);

	(void)state;
	/* 64-byte frames: the run starts and ends inside pages, spans whole pages between */
	check_freed_frames_read_zero(64, (uint64_t)page / 64 * 4, 10, (uint64_t)page / 64 * 2 + 7);
	/* a run within one page */
	check_freed_frames_read_zero(64, (uint64_t)page / 64 * 2, 3, 5);
	/* a run of exactly one page, page-aligned */
	check_freed_frames_read_zero(64, (uint64_t)page / 64 * 3, (uint64_t)page / 64,
				     (uint64_t)page / 64);
}

static void
test_freed_frames_read_zero_with_page_sized_frames(void **state)
{
	(void)state;
	check_freed_frames_read_zero((uint32_t)sysconf(_SC_PAGESIZE), 32, 4, 9);
}

static void
test_freed_frames_read_zero_with_frames_larger_than_a_page(void **state)
{
	(void)state;
	check_freed_frames_read_zero(8192, 24, 5, 6);
	check_freed_frames_read_zero(1u << 16, 10, 2, 3);
}

/* Freed frames give their memory back: their pages are no longer resident. */
static void
test_freed_frames_give_their_memory_back_to_the_kernel(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	struct fixture *f = fixture_make(64, (uint32_t)page, 4);
	struct table *t = &f->t;
	struct frame_run run = {0, 0};
	unsigned char vec[16];
	uint32_t fr[16];

	(void)state;
	for (int i = 0; i < 16; i++) {
		fr[i] = frames_take(t, 0);
		fill_frame(t, fr[i], 0x77);
	}
	assert_int_equal(mincore(table_frame(t, fr[0]), 16 * (size_t)page, vec), 0);
	for (int i = 0; i < 16; i++)
		assert_true(vec[i] & 1);
	for (int i = 0; i < 16; i++)
		frames_put(t, &run, fr[i]);
	frames_flush(t, &run);
	assert_int_equal(mincore(table_frame(t, fr[0]), 16 * (size_t)page, vec), 0);
	for (int i = 0; i < 16; i++)
		assert_false(vec[i] & 1);
	fixture_free(f);
}

static void
test_frames_zero_clears_an_unaligned_range_only(void **state)
{
	struct fixture *f = fixture_make(256, 64, 8);
	struct table *t = &f->t;

	(void)state;
	for (uint64_t i = 0; i < 256; i++)
		fill_frame(t, i, 0x5a);
	frames_zero(t, 7, 130);
	for (uint64_t i = 0; i < 256; i++) {
		if (i >= 7 && i < 137)
			assert_true(frame_is_zero(t, i));
		else
			assert_int_equal(table_frame(t, i)[0], 0x5a);
	}
	assert_int_equal(table_frame(t, 6)[63], 0x5a);
	assert_int_equal(table_frame(t, 137)[0], 0x5a);
	fixture_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_until_full_hands_out_every_frame_once),
		cmocka_unit_test(test_put_and_flush_free_exactly_the_frames_given),
		cmocka_unit_test(test_put_of_adjacent_frames_waits_for_flush),
		cmocka_unit_test(test_take_after_free_finds_the_freed_frame),
		cmocka_unit_test(test_freed_frames_read_zero_with_frames_smaller_than_a_page),
		cmocka_unit_test(test_freed_frames_read_zero_with_page_sized_frames),
		cmocka_unit_test(test_freed_frames_read_zero_with_frames_larger_than_a_page),
		cmocka_unit_test(test_frames_zero_clears_an_unaligned_range_only),
		cmocka_unit_test(test_freed_frames_give_their_memory_back_to_the_kernel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
