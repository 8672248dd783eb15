/*
 * check.h — a lockless consistency check of the control table, for the
 * tools (dshm-ipcs --check) and the unit tests.
 *
 * It reads only: it takes no lock and writes nothing shared, so it works
 * on a read-only attachment of a live table that changes under it, and on
 * a corrupt copy (every index is bounds-checked, every loop is bounded).
 */
#ifndef DSHM_IPC_CHECK_H
#define DSHM_IPC_CHECK_H

#include "table.h"

/*
 * Checks the allocator's invariants: each frame owned at most once,
 * frame_bits agreeing with frame_owner, frames_free, every used owner's
 * tree mapping exactly npages pages to frames that owner owns, chunk bits
 * agreeing with the chunks the trees reach, chunks_free, owners_used and
 * the owner index; and the segments': each shmid matching its slot and
 * seq, shm_segsz fitting in the segment's pages, a removed (SHM_DEST)
 * segment keyless, every attachment row in use naming a live segment (or
 * shmid -1 while it is filled).  Calls report once per violation with a
 * one-line description (no newline); report may be NULL.  Returns the number of
 * violations, or -1 when it could not allocate its working memory.
 *
 * On a live table a check can see a change half-made by a worker; a
 * violation that persists across a second check is real.
 */
int check_table(const struct table *t, void (*report)(void *ctx, const char *msg), void *ctx);

#endif /* DSHM_IPC_CHECK_H */
