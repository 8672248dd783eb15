/*
 * frames.h — the frame allocator: which frames of the arena are free,
 * and which owner holds each of the others.
 *
 * Every function here requires the table's alloc_lock.  Invariant: a
 * frame is free exactly when its bit in frame_bits is clear and its
 * frame_owner is 0, frames_free counts those frames, and every free
 * frame reads as zeros (frames are zeroed when freed, never when
 * allocated, so allocation touches no memory).
 */
#ifndef DSHM_IPC_FRAMES_H
#define DSHM_IPC_FRAMES_H

#include "table.h"

/* Takes one free frame for owner slot; the caller checked frames_free. */
uint32_t frames_take(struct table *t, uint32_t slot);

/*
 * A paging process's frames are backed by memory when they are given,
 * not at their first write: between frames_back_begin and
 * frames_back_end every frame taken is populated (MADV_POPULATE_WRITE,
 * runs of adjacent frames at once), so that a host that cannot back them
 * refuses now, while the grow can still be undone, instead of killing a
 * worker with SIGBUS later.  frames_back_end returns false when the
 * kernel refused any (the caller then undoes the grow).
 */
void frames_back_begin(struct table *t);
bool frames_back_end(struct table *t);

/*
 * Frees frames, zeroing them first.  Calls accumulate runs of adjacent
 * frames so that a run is zeroed with one madvise; frames_flush ends the
 * current run and must follow the last frames_put.
 */
struct frame_run {
	uint64_t first;
	uint64_t count;
};
void frames_put(struct table *t, struct frame_run *run, uint32_t frame);
void frames_flush(struct table *t, struct frame_run *run);

/* Zeroes count frames from first and gives their memory back to the kernel. */
void frames_zero(struct table *t, uint64_t first, uint64_t count);

#endif /* DSHM_IPC_FRAMES_H */
