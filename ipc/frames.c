/*
 * frames.c — the frame allocator (see frames.h for its invariants).
 *
 * Free frames are found with libbsd's bitstring, starting at a rotating
 * hint so that a mostly full arena is not rescanned from frame 0 on every
 * allocation.
 */
#include "frames.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lock.h"

#define POPULATE_PART ((uintptr_t)64 << 20) /* bytes backed between two beats */

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

/* Populates count frames from first: false when the kernel cannot back them. */
static bool
populate(struct table *t, uint64_t first, uint64_t count)
{
	static bool unsupported; /* a kernel before 5.14: frames are backed when first written */
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = (uintptr_t)table_frame(t, first) & ~(page - 1);
	uintptr_t hi = ((uintptr_t)table_frame(t, first) + (uintptr_t)(count << t->frame_shift) +
			page - 1) & ~(page - 1);

	if (unsupported || t->arena == NULL || count == 0)
		return true;
	/* In parts, with a beat between them: a large grow takes seconds, and the worker is alive. */
	for (uintptr_t at = lo; at < hi; at += POPULATE_PART) {
		size_t n = hi - at < POPULATE_PART ? hi - at : POPULATE_PART;

		if (madvise((void *)at, n, MADV_POPULATE_WRITE) != 0) {
			if (errno != EINVAL)
				return false;
			unsupported = true;
			return true;
		}
		lock_alive();
	}
	return true;
}

/* Populates the pending run, if any. */
static void
back_flush(struct table *t)
{
	if (t->back_count > 0 && !t->back_refused &&
	    !populate(t, t->back_first, t->back_count))
		t->back_refused = true;
	t->back_count = 0;
}

void
frames_back_begin(struct table *t)
{
	t->backing = true;
	t->back_refused = false;
	t->back_count = 0;
}

bool
frames_back_end(struct table *t)
{
	back_flush(t);
	t->backing = false;
	return !t->back_refused;
}

/* Adds frame f to the run to populate, populating the run before when f does not extend it. */
static void
back_frame(struct table *t, uint64_t f)
{
	if (t->back_count > 0 && f == t->back_first + t->back_count) {
		t->back_count++;
		return;
	}
	back_flush(t);
	t->back_first = f;
	t->back_count = 1;
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
	if (t->backing)
		back_frame(t, (uint64_t)f);
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
