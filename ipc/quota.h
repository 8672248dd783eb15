/*
 * quota.h — each user's share of the control table, so that one user
 * cannot fill it for everyone: paging processes and segments it owns
 * (dshmd --max-processes-per-user), attachments its connections hold
 * (--max-attachments-per-user), and the last slots and rows of each,
 * kept for root and dshmd's own user.
 *
 * A user's count is read off the table itself (the owners' and the
 * attachment rows' uids), so a dead worker leaves nothing to correct:
 * what its repair frees stops counting at once.
 */
#ifndef DSHM_IPC_QUOTA_H
#define DSHM_IPC_QUOTA_H

#include <stdint.h>

#include "table.h"

/* The shares as dshmd's options give them (0: the default of each). */
struct quota_params {
	uint32_t exempt_uid;
	uint32_t owners_per_user, attach_per_user;
};

/* Writes the shares, and the reserves they imply, into t's header. */
void quota_set(struct table *t, const struct quota_params *p);

/*
 * Whether uid may own one more process or segment: DSHM_SUCCESS,
 * DSHM_TABLE_FULL (only the reserve is left, and uid is not exempt) or
 * DSHM_USER_LIMIT (uid owns its share).  Requires the alloc lock.
 */
int quota_may_create(const struct table *t, uint32_t uid);

/*
 * Whether a connection of uid may hold one more attachment, given the
 * rows uid holds (mine) and the rows in use (used), which the caller
 * counted in its own pass over the rows: DSHM_SUCCESS, DSHM_ATTACH_FULL
 * (only the reserve is left) or DSHM_USER_LIMIT.  Rows are claimed
 * without a common lock, so workers attaching at the same moment may
 * pass a share by one each.
 */
int quota_may_attach(const struct table *t, uint32_t uid, uint32_t mine, uint32_t used);

#endif /* DSHM_IPC_QUOTA_H */
