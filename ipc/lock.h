/*
 * lock.h — robust, process-shared mutexes kept in the control table.
 *
 * A lock whose holder died is handed to the next taker with EOWNERDEAD;
 * lock_acquire then runs the caller's repair function on the state the
 * lock guards *before* marking the mutex consistent, so nobody ever sees
 * the half-done work of a dead holder.
 */
#ifndef DSHM_IPC_LOCK_H
#define DSHM_IPC_LOCK_H

#include "layout.h"

/* Repairs the state guarded by a lock whose holder died; ctx is the caller's. */
typedef void (*lock_repair_fn)(void *ctx);

/* Initialises a lock in shared memory: once, by the table's creator. */
int lock_init(struct dshm_lock *lock);

/*
 * Takes the lock.  When its previous holder died, repair(ctx) runs first
 * (repair may be NULL when the lock guards nothing that can be left
 * half-done); a repairer that dies too leaves the lock owner-dead, and the
 * next taker repairs again.  Returns 0, or an errno value when the mutex
 * cannot be taken (ENOTRECOVERABLE: someone unlocked it unrepaired).
 */
int lock_acquire(struct dshm_lock *lock, lock_repair_fn repair, void *ctx);

void lock_release(struct dshm_lock *lock);

#endif /* DSHM_IPC_LOCK_H */
