/*
 * owners.h — owners of frames (paging processes and segments): their slots, the index
 * that finds them by (kind, id), their creation, growth and release, and
 * copies between their pages and a buffer.
 *
 * Lock order: an owner's lock before the alloc lock.  A read or write of
 * an owner's bytes holds only that owner's lock, so unrelated owners never
 * wait for each other.
 */
#ifndef DSHM_IPC_OWNERS_H
#define DSHM_IPC_OWNERS_H

#include <stdbool.h>
#include <sys/uio.h>

#include "proto.h"
#include "table.h"

/* One byte range of a write. */
struct byte_run {
	uint64_t off, len;
};

/*
 * Bytes of each worker's undo area: the bytes a write replaces and the
 * list of its ranges, which together never exceed a request's body;
 * rounded to 64 KiB so each area starts on a page.
 */
#define OWNERS_UNDO_EACH ((size_t)PROTO_MAX_BODY + (64u << 10) - PROTO_MAX_BODY % (64u << 10))

/*
 * Finds the owner (kind, id) and returns DSHM_SUCCESS with its lock held;
 * else nothing is held: DSHM_NOT_FOUND when there is none, DSHM_BUSY when
 * a lock stayed held past this process's wait bound (lock.h).
 */
int owners_find_locked(struct table *t, uint32_t kind, int64_t id, uint32_t *slot);

/* What a lock_acquire error means to a client: DSHM_BUSY for a timeout, else DSHM_ERROR. */
int owners_lock_status(int err);

void owners_unlock(struct table *t, uint32_t slot);

/*
 * Creates owner (kind, id) with npages zero-filled pages.  Returns
 * DSHM_SUCCESS, DSHM_PROCESS_EXISTS, DSHM_TABLE_FULL, DSHM_NO_SPACE or
 * DSHM_BUSY; on failure nothing is allocated.
 */
int owners_create(struct table *t, uint32_t kind, int64_t id, uint32_t npages, uint32_t uid);

/* A free owner slot, or -1; requires the alloc lock. */
int64_t owners_free_slot(struct table *t);

/*
 * Creates owner (kind, id) in free slot with npages zero-filled pages;
 * requires the alloc lock, and that (kind, id) is new and npages frames
 * are free.  A paging process's frames are backed at once (frames.h):
 * false when the host could not back them, and then nothing changed.
 */
bool owners_create_locked(struct table *t, uint32_t slot, uint32_t kind, int64_t id,
			  uint32_t npages, uint32_t uid);

/* Adds pages to a locked owner: DSHM_SUCCESS, or DSHM_NO_SPACE or DSHM_BUSY (nothing allocated). */
int owners_grow(struct table *t, uint32_t slot, uint32_t add);

/*
 * Frees a locked owner and all its frames, then releases its lock:
 * DSHM_SUCCESS, or DSHM_BUSY when the alloc lock could not be taken in
 * time (then the owner is as it was, only unlocked).
 */
int owners_release(struct table *t, uint32_t slot);

/*
 * Copies len bytes at byte offset pos of a locked owner's pages to
 * (to_owner false) or from (to_owner true) buf.  The range was checked.
 * A paging process's bytes are in the arena, and the copy cannot fail;
 * a segment's are in its file (segfile.h), and false says the file
 * could not be read or written.
 */
bool owners_copy(struct table *t, uint32_t slot, uint64_t pos, void *buf, uint64_t len,
		 bool to_owner);

/*
 * Lists where len bytes at byte offset pos of a locked owner lie in the
 * arena, one piece per frame, into piece[] (room for as many frames as
 * the range touches; the range was checked); returns the pieces used.
 * The pointers stay valid only while the owner's lock is held.
 */
unsigned owners_locate(struct table *t, uint32_t slot, uint64_t pos, uint64_t len,
		       struct iovec *piece);

/*
 * Writes nruns ranges of a locked owner (each range checked), their bytes
 * back to back in data, all of them or none: when this process is a
 * worker with an undo area big enough, the old bytes of every range are
 * saved first, so that a crash in the middle of any range is undone, for
 * all ranges, by whoever takes the owner's lock next.  Returns
 * DSHM_SUCCESS; DSHM_NO_SPACE when the host cannot back the undo area's
 * save; DSHM_ERROR when a segment's file refused a write.  On failure
 * nothing changed.
 */
int owners_write_runs(struct table *t, uint32_t slot, const struct byte_run *runs,
		       uint32_t nruns, const void *data);

/* owners_write_runs of one range: len bytes of buf at byte offset pos. */
int owners_write(struct table *t, uint32_t slot, uint64_t pos, const void *buf, uint64_t len);

/*
 * Called by a worker as it starts in slot self: undoes a write its dead
 * predecessor left in that slot's undo area, before the area is reused.
 */
void owners_recover_worker(struct table *t, int self);

/*
 * Takes and releases every lock of the table once, so that whatever dead
 * holders left half-done (a grow, a release, a write) is repaired now:
 * for a table taken over from a dshmd that died as a whole.
 */
void owners_recover_all(struct table *t);

/* Where probing for owner (kind, id) starts in the owner index, before masking. */
uint32_t owners_index_hash(uint32_t kind, int64_t id);

/* Takes the alloc lock, repairing the allocator if its holder died. */
int owners_alloc_lock(struct table *t);
void owners_alloc_unlock(struct table *t);

/*
 * Rebuilds the allocator (frame and chunk maps, counts, index) from the
 * owners' page trees after finishing or undoing the journaled operation.
 * This is the alloc lock's repair; exported for tests.
 */
void owners_repair(void *table);

#endif /* DSHM_IPC_OWNERS_H */
