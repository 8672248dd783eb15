/*
 * usershare.h — each user's connections to the whole server, counted in
 * the scoreboard so that one user cannot take every connection
 * (dshmd --max-connections-per-user).
 *
 * Invariant: a worker's rows count exactly the connections it has open,
 * by the uid each was admitted as; only that worker writes them, and a
 * worker starting in a slot clears them, so a dead worker's connections
 * stop counting when it does.
 */
#ifndef DSHM_IPC_USERSHARE_H
#define DSHM_IPC_USERSHARE_H

#include <stdbool.h>
#include <stdint.h>

#include "table.h"

/* The connections uid has open on all workers of t together. */
uint32_t usershare_count(const struct table *t, uint32_t uid);

/*
 * Counts one more connection of uid on worker slot s; false when s has no
 * row left for a new user (WORKER_USER_ROWS users with connections open
 * on one worker at once).
 */
bool usershare_add(struct worker_slot *s, uint32_t uid);

/* Counts one connection of uid fewer on worker slot s. */
void usershare_remove(struct worker_slot *s, uint32_t uid);

/* Forgets every count of slot s: its worker starts with no connection. */
void usershare_clear(struct worker_slot *s);

#endif /* DSHM_IPC_USERSHARE_H */
