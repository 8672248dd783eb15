/*
 * procs.c — the seed-000 paging semantics on top of owners.c.
 *
 * Checks run in a fixed order, so each bad request gets one predictable
 * code: arguments first (BAD_REQUEST, OUT_OF_FRAME), then the process
 * (NO_SUCH_PROCESS, or BUSY when its lock stayed held past the worker's
 * bound: then nothing was done), then whether the caller may use it (NOT_PERMITTED),
 * then the range (PAGE_FAULT, SEGMENTATION_FAULT).
 *
 * Ownership: a process made by a caller the kernel vouched for belongs
 * to that uid; only that uid and root may grow, end, read or write it.
 * One made by an unvouched caller (a remote TCP client) belongs to
 * nobody in particular and is open to every caller, as before.
 */
#include "procs.h"

#include <assert.h>
#include <stdbool.h>

#include "dshm_status.h"
#include "owners.h"

/* Finds pid's slot, locked: DSHM_SUCCESS, else DSHM_NO_SUCH_PROCESS or DSHM_BUSY (nothing held). */
static int
find_locked(struct table *t, int64_t pid, uint32_t *slot)
{
	int rc = owners_find_locked(t, OWNER_PROCESS, pid, slot);

	return rc == DSHM_NOT_FOUND ? DSHM_NO_SUCH_PROCESS : rc;
}

static bool
may_use(const struct table *t, uint32_t caller, uint32_t slot)
{
	uint32_t owner = t->owners[slot].uid;

	return owner == PROCS_UNKNOWN || caller == PROCS_ROOT || caller == owner;
}

int
procs_init(struct table *t, uint32_t caller, int64_t pid, int64_t pages)
{
	if (pid < 0 || pages < 0)
		return DSHM_BAD_REQUEST;
	if ((uint64_t)pages > t->hdr->nframes || (uint64_t)pages > PROCS_MAX_PAGES)
		return DSHM_NO_SPACE;
	return owners_create(t, OWNER_PROCESS, pid, (uint32_t)pages, caller);
}

int
procs_assign(struct table *t, uint32_t caller, int64_t pid, int64_t pages)
{
	uint32_t slot;
	int rc;

	if (pid < 0 || pages < 0)
		return DSHM_BAD_REQUEST;
	if ((rc = find_locked(t, pid, &slot)) != DSHM_SUCCESS)
		return rc;
	if (!may_use(t, caller, slot))
		rc = DSHM_NOT_PERMITTED;
	else if ((uint64_t)pages > t->hdr->nframes ||
	    atomic_load(&t->owners[slot].npages) + (uint64_t)pages > PROCS_MAX_PAGES)
		rc = DSHM_NO_SPACE;
	else
		rc = owners_grow(t, slot, (uint32_t)pages);
	owners_unlock(t, slot);
	return rc;
}

int
procs_finalize(struct table *t, uint32_t caller, int64_t pid)
{
	uint32_t slot;
	int rc;

	if (pid < 0)
		return DSHM_BAD_REQUEST;
	if ((rc = find_locked(t, pid, &slot)) != DSHM_SUCCESS)
		return rc;
	if (!may_use(t, caller, slot)) {
		owners_unlock(t, slot);
		return DSHM_NOT_PERMITTED;
	}
	return owners_release(t, slot);
}

/* Checks the arguments every access takes, before looking the process up. */
static int
check_args(const struct table *t, int64_t pid, int64_t offset, int64_t size)
{
	if (pid < 0 || size < 0)
		return DSHM_BAD_REQUEST;
	if (offset < 0 || (uint64_t)offset >= t->hdr->frame_size)
		return DSHM_OUT_OF_FRAME;
	return DSHM_SUCCESS;
}

/* Checks the caller and the range against a locked process; sets *pos. */
static int
check_range(const struct table *t, uint32_t caller, uint32_t slot, int64_t page, int64_t offset,
	    int64_t size, uint64_t *pos)
{
	uint64_t npages;

	if (!may_use(t, caller, slot))
		return DSHM_NOT_PERMITTED;
	npages = atomic_load(&t->owners[slot].npages);
	if (page < 0 || (uint64_t)page >= npages)
		return DSHM_PAGE_FAULT;
	*pos = ((uint64_t)page << t->frame_shift) + (uint64_t)offset;
	/* 64-bit arithmetic: page < 2^31 and size < 2^63, no overflow. */
	if ((uint64_t)size > (npages << t->frame_shift) - *pos)
		return DSHM_SEGMENTATION_FAULT;
	return DSHM_SUCCESS;
}

/*
 * Finds and locks pid and checks the range; on success the lock is held.
 * A held pin already holds pid's lock: it is used, and kept on an error.
 */
static int
access_range(struct table *t, uint32_t caller, const struct procs_pin *pin, int64_t pid,
	     int64_t page, int64_t offset, int64_t size, uint32_t *slot, uint64_t *pos)
{
	bool pinned = pin != NULL && pin->held;
	int rc = check_args(t, pid, offset, size);

	if (rc != DSHM_SUCCESS)
		return rc;
	if (pinned) {
		assert(pin->pid == pid); /* a pin holds one process's lock, no other */
		*slot = pin->slot;
	} else if ((rc = find_locked(t, pid, slot)) != DSHM_SUCCESS) {
		return rc;
	}
	rc = check_range(t, caller, *slot, page, offset, size, pos);
	if (rc != DSHM_SUCCESS && !pinned)
		owners_unlock(t, *slot);
	return rc;
}

int
procs_write(struct table *t, uint32_t caller, int64_t pid, int64_t page, int64_t offset,
	    const void *buf, int64_t size)
{
	uint32_t slot;
	uint64_t pos;
	int rc = access_range(t, caller, NULL, pid, page, offset, size, &slot, &pos);

	if (rc != DSHM_SUCCESS)
		return rc;
	rc = owners_write(t, slot, pos, buf, (uint64_t)size);
	owners_unlock(t, slot);
	return rc;
}

int
procs_read(struct table *t, uint32_t caller, int64_t pid, int64_t page, int64_t offset,
	   void *buf, int64_t size)
{
	uint32_t slot;
	uint64_t pos;
	int rc = access_range(t, caller, NULL, pid, page, offset, size, &slot, &pos);

	if (rc != DSHM_SUCCESS)
		return rc;
	owners_copy(t, slot, pos, buf, (uint64_t)size, false);
	owners_unlock(t, slot);
	return DSHM_SUCCESS;
}

uint64_t
procs_read_pieces(const struct table *t, int64_t offset, int64_t size)
{
	uint64_t fsize = t->hdr->frame_size;

	if (offset < 0 || size <= 0)
		return 0;
	return ((uint64_t)offset % fsize + (uint64_t)size + fsize - 1) / fsize;
}

int
procs_read_pin(struct table *t, uint32_t caller, struct procs_pin *pin, int64_t pid,
	       int64_t page, int64_t offset, int64_t size, struct iovec *piece, unsigned *npieces)
{
	uint32_t slot;
	uint64_t pos;
	int rc = access_range(t, caller, pin, pid, page, offset, size, &slot, &pos);

	*npieces = 0;
	if (rc != DSHM_SUCCESS)
		return rc;
	*npieces = owners_locate(t, slot, pos, (uint64_t)size, piece);
	*pin = (struct procs_pin){.held = true, .pid = pid, .slot = slot};
	return DSHM_SUCCESS;
}

void
procs_unpin(struct table *t, struct procs_pin *pin)
{
	if (pin->held)
		owners_unlock(t, pin->slot);
	pin->held = false;
}
