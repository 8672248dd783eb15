/*
 * lock.h — robust, process-shared mutexes kept in the control table.
 *
 * A lock whose holder died is handed to the next taker with EOWNERDEAD;
 * lock_acquire then runs the caller's repair function on the state the
 * lock guards *before* marking the mutex consistent, so nobody ever sees
 * the half-done work of a dead holder.
 *
 * A holder that is alive but stopped (SIGSTOP, a debugger, a frozen
 * cgroup) still holds its locks: a worker sets a wait bound
 * (lock_set_wait_ms), so that such a lock costs its requests a timeout
 * (ETIMEDOUT, nothing taken) instead of its event loop; the master kills
 * a worker that stops answering, and the repair then runs as for any
 * death.  Tools and tests keep the default: they wait as long as it takes.
 */
#ifndef DSHM_IPC_LOCK_H
#define DSHM_IPC_LOCK_H

#include "layout.h"

/* Repairs the state guarded by a lock whose holder died; ctx is the caller's. */
typedef void (*lock_repair_fn)(void *ctx);

/* Initialises a lock in shared memory: once, by the table's creator. */
int lock_init(struct dshm_lock *lock);

/*
 * How long this process's lock_acquire waits for a lock another holds,
 * in milliseconds; 0 (the default): without bound.  A lock that already
 * made this process wait the whole bound and was taken by nobody since
 * is waited on for LOCK_STUCK_WAIT_MS only, so that requests queued
 * behind one stopped holder do not each cost the whole bound.
 */
void lock_set_wait_ms(unsigned ms);

/*
 * The beat this process gives while it waits on a lock or works long
 * under one (each bounded wait that ends, each part of a large grow being
 * backed), so that a master watching heartbeats does not take a worker
 * that is busy waiting for one that is stopped.  beat(ctx) must be cheap;
 * NULL: none (tools, tests).
 */
void lock_set_alive(void (*beat)(void *ctx), void *ctx);

/* Gives that beat now (nothing when none is set). */
void lock_alive(void);
#define LOCK_STUCK_WAIT_MS 10

/*
 * Takes the lock.  When its previous holder died, repair(ctx) runs first
 * (repair may be NULL when the lock guards nothing that can be left
 * half-done); a repairer that dies too leaves the lock owner-dead, and the
 * next taker repairs again.  A repair, once begun, is finished: the locks
 * it takes are waited for without bound (a stopped holder of one of them
 * is killed by the master).  Returns 0, or an errno value when the mutex
 * was not taken: ETIMEDOUT when the wait bound passed (nothing was done),
 * ENOTRECOVERABLE when someone unlocked it unrepaired.
 */
int lock_acquire(struct dshm_lock *lock, lock_repair_fn repair, void *ctx);

void lock_release(struct dshm_lock *lock);

#endif /* DSHM_IPC_LOCK_H */
