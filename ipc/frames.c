/*
 * frames.c — the frame allocator (see frames.h for its invariants).
 *
 * Free frames are found with libbsd's bitstring, starting at a rotating
 * hint so that a mostly full arena is not rescanned from frame 0 on every
 * allocation.
 */
#include "frames.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int64_t
find_clear(bitstr_t *bits, uint64_t nbits, uint64_t from)
{
	uint64_t start = from & ~(uint64_t)7;
	int v;

	if (start < nbits) {
		bit_ffc(bits + (start >> 3), (int)(nbits - start), &v);
		if (v >= 0)
			return (int64_t)(start + (uint64_t)v);
	}
	bit_ffc(bits, (int)nbits, &v);
	return v;
}

uint32_t
frames_take(struct table *t, uint32_t slot)
{
	struct table_header *h = t->hdr;
	int64_t f = find_clear(t->frame_bits, h->nframes, h->frame_hint);

	/* The caller checked frames_free, so f >= 0. */
	bit_set(t->frame_bits, f);
	atomic_store(&t->frame_owner[f], slot + 1);
	h->frames_free--;
	h->frame_hint = (uint64_t)f + 1 < h->nframes ? (uint64_t)f + 1 : 0;
	return (uint32_t)f;
}

void
frames_zero(struct table *t, uint64_t first, uint64_t count)
{
	unsigned char *p = table_frame(t, first);
	size_t len = (size_t)(count << t->frame_shift);
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t hi = ((uintptr_t)p + len) & ~(page - 1);

	/*
	 * Whole pages are punched out of the shared mapping, which zeroes
	 * them and returns their memory; the partial pages at either end
	 * (frames smaller than a page) are cleared by hand.
	 */
	if (hi > lo && madvise((void *)lo, hi - lo, MADV_REMOVE) == 0) {
		memset(p, 0, lo - (uintptr_t)p);
		memset((void *)hi, 0, (uintptr_t)p + len - hi);
	} else {
		memset(p, 0, len);
	}
}

void
frames_flush(struct table *t, struct frame_run *run)
{
	struct table_header *h = t->hdr;

	if (run->count == 0)
		return;
	frames_zero(t, run->first, run->count);
	for (uint64_t f = run->first; f < run->first + run->count; f++) {
		atomic_store(&t->frame_owner[f], 0);
		bit_clear(t->frame_bits, f);
	}
	h->frames_free += run->count;
	if (run->first < h->frame_hint)
		h->frame_hint = run->first;
	run->count = 0;
}

void
frames_put(struct table *t, struct frame_run *run, uint32_t frame)
{
	if (run->count > 0 && run->first + run->count == frame) {
		run->count++;
		return;
	}
	frames_flush(t, run);
	run->first = frame;
	run->count = 1;
}
