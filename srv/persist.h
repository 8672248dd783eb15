/*
 * persist.h — dshmd --persist NAME: the frame arena and the workers'
 * undo areas live in one named POSIX shared-memory object,
 * /dev/shm/dshm-NAME, and the control table is kept when dshmd stops, so
 * that the next dshmd of that name takes both over and serves the same
 * bytes, even after the whole server was killed.
 */
#ifndef DSHM_SRV_PERSIST_H
#define DSHM_SRV_PERSIST_H

#include <stdbool.h>
#include <stddef.h>

#include "options.h"
#include "table.h"

struct persist_map {
	unsigned char *base;
	size_t size;
	bool fresh; /* made now (zero-filled), not found */
};

/*
 * Opens /dev/shm/dshm-NAME, or creates it with size bytes reserved up
 * front (posix_fallocate: a full /dev/shm is an error now, never a
 * SIGBUS later), and maps it.  With overcommit nothing is reserved: the
 * frames and undo areas are backed as they are used (ipc/frames.h), and
 * a full /dev/shm refuses those requests.  An object of another size is
 * refused.  Returns 0, or -1 with a message.
 */
int persist_open(const char *name, size_t size, bool overcommit, struct persist_map *pm,
		 char *err, size_t errlen);
void persist_unmap(struct persist_map *pm);
/* Removes the object (after a start that created it failed). */
void persist_unlink(const char *name);

/*
 * Takes over a kept table t, attached read-write and bound to the
 * object's arena and undo areas: checks that it was made with o's sizes,
 * repairs what dead holders of its locks left half-done, undoes writes
 * cut short, drops the attachments of connections that died with the old
 * server, resets the scoreboard, and runs the invariant check.  Returns
 * 0, or -1 with a message (nothing is removed then: the table and the
 * object stay, repaired as far as their locks go, for inspection).
 */
int persist_take_over(struct table *t, const struct options *o, char *err, size_t errlen);

#endif /* DSHM_SRV_PERSIST_H */
