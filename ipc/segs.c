/*
 * segs.c — System V-style segments (see segs.h).
 *
 * Invariants: a segment's shmid_ds fields change only while its owner
 * lock is held, and its key and mode under alloc_lock too (shmget looks
 * keys up under alloc_lock alone); nattch is not stored but counted from
 * the attachment rows that name the segment, under its lock, so a worker
 * that dies half-way through an attach or detach can never leave a count
 * that disagrees with the rows.  A segment marked SEG_MODE_DEST is freed
 * by whoever removes its last row.
 */
#include "segs.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <time.h>

#include "dshm_status.h"
#include "owners.h"
#include "quota.h"
#include "segfile.h"

/* The kernel's names for "read (write, execute) by anyone" (include/linux/stat.h). */
#define S_IRUGO (S_IRUSR | S_IRGRP | S_IROTH)
#define S_IWUGO (S_IWUSR | S_IWGRP | S_IWOTH)
#define S_IXUGO (S_IXUSR | S_IXGRP | S_IXOTH)

static uint32_t
seq_limit(const struct table *t)
{
	return (uint32_t)(INT32_MAX / t->hdr->max_owners);
}

/* The kernel's ipcperms(): the owner, group or other bits that apply must grant all of flag's. */
static bool
perm_ok(const struct segment *g, const struct seg_cred *c, int flag)
{
	int requested = (flag >> 6) | (flag >> 3) | flag;
	int granted = (int)g->mode;

	if (c->uid == g->cuid || c->uid == g->uid)
		granted >>= 6;
	else if (c->gid == g->cgid || c->gid == g->gid)
		granted >>= 3;
	return !(requested & ~granted & 0007) || c->privileged;
}

/* What IPC_SET, IPC_RMID and SHM_LOCK ask: owner, creator or privileged. */
static bool
is_owner(const struct segment *g, const struct seg_cred *c)
{
	return c->uid == g->cuid || c->uid == g->uid || c->privileged;
}

/*
 * Frees the locked segment in slot, then its file.  Unlocks.  DSHM_BUSY
 * when the alloc lock stayed held: then the segment and its file stay,
 * and whoever finds it next (find_locked) frees it.
 */
static int
release(struct table *t, uint32_t slot)
{
	int32_t shmid = (int32_t)atomic_load(&t->owners[slot].id);
	int rc = owners_release(t, slot);

	/* A crash between the two leaves a file no segment names: the server's stop removes it. */
	if (rc == DSHM_SUCCESS)
		segfile_unlink(t, shmid);
	/* Busy: kept whole, and freed by the sweep (segs_release_orphans), as nobody may find it. */
	else if (rc == DSHM_BUSY)
		atomic_store(&t->hdr->releases_pending, 1);
	return rc;
}

static uint64_t count_rows(struct table *t, uint32_t slot, int32_t shmid);
static void drop_row(struct table *t, uint32_t slot, uint32_t i);

/*
 * Finds segment shmid and returns DSHM_SUCCESS with its lock held; else
 * DSHM_INVALID (no such segment) or DSHM_BUSY (a lock stayed held past
 * the worker's bound), nothing held.  A removed segment whose every
 * attacher is dead is gone already, as with the kernel, even before the
 * workers of those attachers have seen their connections close: it is
 * freed here, and not found.
 */
static int
find_locked(struct table *t, int32_t shmid, uint32_t *slot)
{
	int rc;

	if (shmid < 0)
		return DSHM_INVALID;
	rc = owners_find_locked(t, OWNER_SEGMENT, shmid, slot);
	if (rc != DSHM_SUCCESS)
		return rc == DSHM_NOT_FOUND ? DSHM_INVALID : rc;
	if ((t->segments[*slot].mode & SEG_MODE_DEST) && count_rows(t, *slot, shmid) == 0) {
		release(t, *slot); /* if busy, the sweep frees it: gone all the same */
		return DSHM_INVALID;
	}
	return DSHM_SUCCESS;
}

/*
 * Whether row r belongs to a process the kernel named and that is gone.
 * Its connection is closed, and its worker would drop the row as soon as
 * it sees that; the row must go before anyone looks, or a parent that
 * reaped a killed child would see the child's attachments, which the
 * kernel drops before the parent can look.
 */
static bool
row_dead(const struct attach_row *r)
{
	return (r->flags & ATTACH_PID_KERNEL) && r->pid > 0 && kill(r->pid, 0) < 0 &&
	       errno == ESRCH;
}

/*
 * shmid's attachments (its segment is at slot, locked).  A row of a dead
 * process is dropped on the way, as its exit would have: the segment's
 * dtime and lpid say so, as the kernel's do once the parent can look.
 */
static uint64_t
count_rows(struct table *t, uint32_t slot, int32_t shmid)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < t->hdr->max_attach; i++) {
		if (atomic_load(&t->attach[i].shmid) != shmid)
			continue;
		if (row_dead(&t->attach[i]))
			drop_row(t, slot, i);
		else
			n++;
	}
	return n;
}

/* Finds the segment with key, or -1; requires the alloc lock. */
static int64_t
find_key(struct table *t, int32_t key)
{
	for (uint32_t s = 0; s < t->hdr->max_owners; s++)
		if (atomic_load(&t->owners[s].state) == OWNER_USED &&
		    atomic_load(&t->owners[s].kind) == OWNER_SEGMENT && t->segments[s].key == key)
			return s;
	return -1;
}

static uint64_t
frames_for(const struct table *t, uint64_t size)
{
	return (size + t->hdr->frame_size - 1) >> t->frame_shift;
}

/* newseg(): the checks and the creation; requires the alloc lock. */
static int
create(struct table *t, const struct seg_cred *c, int32_t key, uint64_t size, int flags,
       int32_t *shmid)
{
	uint64_t frames = frames_for(t, size);
	struct segment *g;
	int64_t s;
	uint32_t seq;
	int32_t id;
	int rc;

	if (size < 1 || size > (t->hdr->nframes << t->frame_shift))
		return DSHM_INVALID;
	if (frames > t->hdr->frames_free)
		return DSHM_NO_SPACE;
	if ((s = owners_free_slot(t)) < 0)
		return DSHM_NO_SPACE;
	/* One user's share, and the slots kept for root: shmget's ENOSPC, as SHMMNI's. */
	if ((rc = quota_may_create(t, c->uid)) != DSHM_SUCCESS)
		return rc == DSHM_TABLE_FULL ? DSHM_NO_SPACE : rc;
	g = &t->segments[s];
	seq = g->seq + 1 < seq_limit(t) ? g->seq + 1 : 0;
	id = (int32_t)(seq * t->hdr->max_owners + (uint32_t)s);
	/* The bytes' file first: nobody learns the shmid before it exists. */
	if ((rc = segfile_create(t, id, size)) != DSHM_SUCCESS)
		return rc;
	*g = (struct segment){
		.key = key,
		.seq = seq,
		.segsz = size,
		.mode = (uint32_t)flags & 0777,
		.uid = c->uid,
		.gid = c->gid,
		.cuid = c->uid,
		.cgid = c->gid,
		.cpid = c->pid,
		.ctime = time(NULL),
	};
	*shmid = id;
	(void)owners_create_locked(t, (uint32_t)s, OWNER_SEGMENT, *shmid, (uint32_t)frames, c->uid);
	return DSHM_SUCCESS;
}

int
segs_get(struct table *t, const struct seg_cred *c, int32_t key, uint64_t size, int flags,
	 int32_t *shmid)
{
	int64_t s;
	int rc;

	if ((rc = owners_alloc_lock(t)) != 0)
		return owners_lock_status(rc);
	if (key == IPC_PRIVATE)
		rc = create(t, c, key, size, flags, shmid);
	else if ((s = find_key(t, key)) < 0)
		rc = flags & IPC_CREAT ? create(t, c, key, size, flags, shmid) : DSHM_NOT_FOUND;
	else if ((flags & IPC_CREAT) && (flags & IPC_EXCL))
		rc = DSHM_EXISTS;
	else if (t->segments[s].segsz < size)
		rc = DSHM_INVALID;
	else if (!perm_ok(&t->segments[s], c, flags))
		rc = DSHM_ACCESS;
	else {
		*shmid = (int32_t)atomic_load(&t->owners[s].id);
		rc = DSHM_SUCCESS;
	}
	owners_alloc_unlock(t);
	return rc;
}

static void
fill_stat(struct table *t, uint32_t slot, struct seg_stat *out)
{
	const struct segment *g = &t->segments[slot];
	int32_t shmid = (int32_t)atomic_load(&t->owners[slot].id);
	uint64_t nattch = count_rows(t, slot, shmid); /* first: it may stamp a dead attacher's detach */

	*out = (struct seg_stat){
		.shmid = shmid,
		.key = g->key,
		.seq = g->seq,
		.mode = g->mode,
		.uid = g->uid,
		.gid = g->gid,
		.cuid = g->cuid,
		.cgid = g->cgid,
		.segsz = g->segsz,
		.atime = g->atime,
		.dtime = g->dtime,
		.ctime = g->ctime,
		.cpid = g->cpid,
		.lpid = g->lpid,
		.nattch = nattch,
	};
}

int
segs_stat(struct table *t, const struct seg_cred *c, int32_t shmid, bool by_index, bool any,
	  struct seg_stat *out)
{
	uint32_t slot;
	int rc = DSHM_SUCCESS;

	if (by_index) {
		/* SHM_STAT takes a slot (a whole id is cut to its slot, as the kernel does). */
		if (shmid >= 0)
			shmid = (int32_t)((uint32_t)shmid % t->hdr->max_owners);
		if (shmid < 0 ||
		    atomic_load(&t->owners[shmid].state) != OWNER_USED ||
		    atomic_load(&t->owners[shmid].kind) != OWNER_SEGMENT)
			return DSHM_INVALID;
		shmid = (int32_t)atomic_load(&t->owners[shmid].id);
	}
	if ((rc = find_locked(t, shmid, &slot)) != DSHM_SUCCESS)
		return rc;
	if (!any && !perm_ok(&t->segments[slot], c, S_IRUGO))
		rc = DSHM_ACCESS;
	else
		fill_stat(t, slot, out);
	owners_unlock(t, slot);
	return rc;
}

/*
 * Finds segment shmid for a change only its owner, creator or root may
 * make (shmctl_down() in the kernel): DSHM_SUCCESS with its lock held,
 * else DSHM_INVALID or DSHM_NOT_PERMITTED with nothing held.
 */
static int
find_owned_locked(struct table *t, const struct seg_cred *c, int32_t shmid, uint32_t *slot)
{
	int rc = find_locked(t, shmid, slot);

	if (rc != DSHM_SUCCESS)
		return rc;
	if (!is_owner(&t->segments[*slot], c)) {
		owners_unlock(t, *slot);
		return DSHM_NOT_PERMITTED;
	}
	return DSHM_SUCCESS;
}

int
segs_set(struct table *t, const struct seg_cred *c, int32_t shmid, uint32_t uid, uint32_t gid,
	 uint32_t mode)
{
	struct segment *g;
	uint32_t slot;
	int rc = find_owned_locked(t, c, shmid, &slot), err;

	if (rc != DSHM_SUCCESS)
		return rc;
	g = &t->segments[slot];
	if (uid == UINT32_MAX || gid == UINT32_MAX)
		rc = DSHM_INVALID; /* (uid_t)-1 is no user: the kernel's uid_valid() */
	else if ((err = owners_alloc_lock(t)) != 0)
		rc = owners_lock_status(err);
	else {
		g->uid = uid;
		g->gid = gid;
		g->mode = (g->mode & ~0777u) | (mode & 0777);
		g->ctime = time(NULL);
		owners_alloc_unlock(t);
	}
	owners_unlock(t, slot);
	return rc;
}

int
segs_rmid(struct table *t, const struct seg_cred *c, int32_t shmid)
{
	struct segment *g;
	uint32_t slot;
	int rc = find_owned_locked(t, c, shmid, &slot), err;

	if (rc != DSHM_SUCCESS)
		return rc;
	g = &t->segments[slot];
	if (count_rows(t, slot, shmid) == 0)
		return release(t, slot); /* unlocks */
	/* Still attached: it lives on, keyless, until the last detach. */
	if ((err = owners_alloc_lock(t)) != 0)
		rc = owners_lock_status(err);
	else {
		g->mode |= SEG_MODE_DEST;
		g->key = IPC_PRIVATE;
		owners_alloc_unlock(t);
	}
	owners_unlock(t, slot);
	return rc;
}

int
segs_lock(struct table *t, const struct seg_cred *c, int32_t shmid, bool lock)
{
	struct segment *g;
	uint32_t slot;
	int rc = find_owned_locked(t, c, shmid, &slot), err;

	if (rc != DSHM_SUCCESS)
		return rc;
	g = &t->segments[slot];
	if ((err = owners_alloc_lock(t)) != 0)
		rc = owners_lock_status(err);
	else {
		g->mode = lock ? g->mode | SEG_MODE_LOCKED : g->mode & ~SEG_MODE_LOCKED;
		owners_alloc_unlock(t);
	}
	owners_unlock(t, slot);
	return rc;
}

void
segs_info(struct table *t, long page_size, struct seg_info *out)
{
	uint64_t arena = t->hdr->nframes << t->frame_shift;

	*out = (struct seg_info){
		.shmmax = arena,
		.shmmin = 1,
		.shmmni = t->hdr->max_owners,
		.shmseg = t->hdr->max_owners,
		.shmall = arena / (uint64_t)page_size,
		.maxidx = 0,
	};
	/* A snapshot without locks, like the kernel's under its read lock only. */
	for (uint32_t s = 0; s < t->hdr->max_owners; s++) {
		if (atomic_load(&t->owners[s].state) != OWNER_USED ||
		    atomic_load(&t->owners[s].kind) != OWNER_SEGMENT)
			continue;
		uint64_t pages = (t->segments[s].segsz + (uint64_t)page_size - 1) / (uint64_t)page_size;

		out->used_ids++;
		out->shm_tot += pages;
		out->shm_rss += pages;
		out->maxidx = (int32_t)s;
	}
}

/* ---- attachments ------------------------------------------------------ */

/* Frees row i and stamps the segment's detach; requires the segment's lock. */
static void
drop_row(struct table *t, uint32_t slot, uint32_t i)
{
	struct attach_row *r = &t->attach[i];
	struct segment *g = &t->segments[slot];

	g->dtime = time(NULL);
	g->lpid = r->pid;
	atomic_store(&r->shmid, -1);
	atomic_store(&r->state, 0);
}

/*
 * After a detach: a removed segment goes with its last attachment
 * (or, when the alloc lock is busy, with the next find_locked).  Unlocks.
 */
static void
release_if_done(struct table *t, uint32_t slot, int32_t shmid)
{
	if ((t->segments[slot].mode & SEG_MODE_DEST) && count_rows(t, slot, shmid) == 0)
		release(t, slot);
	else
		owners_unlock(t, slot);
}

uint32_t
segs_conn_attachments(const struct table *t, const struct seg_conn *k)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < t->hdr->max_attach; i++)
		if (atomic_load(&t->attach[i].state) == (uint32_t)k->worker + 1 &&
		    t->attach[i].conn == k->serial)
			n++;
	return n;
}

int
segs_attach(struct table *t, const struct seg_cred *c, const struct seg_conn *k, int32_t shmid,
	    int flags, int32_t lpid, uint64_t *segsz, uint64_t *gen)
{
	int acc = (flags & SHM_RDONLY) ? S_IRUGO : S_IRUGO | S_IWUGO;
	struct segment *g;
	uint32_t slot;
	int rc;

	if (flags & SHM_EXEC)
		acc |= S_IXUGO;
	if ((rc = find_locked(t, shmid, &slot)) != DSHM_SUCCESS)
		return rc;
	g = &t->segments[slot];
	if (!perm_ok(g, c, acc)) {
		owners_unlock(t, slot);
		return DSHM_ACCESS;
	}
	/* One pass over the rows counts this connection's, this user's and all in use. */
	uint32_t conn_rows = 0, user_rows = 0, used = 0;

	for (uint32_t i = 0; i < t->hdr->max_attach; i++) {
		uint32_t state = atomic_load(&t->attach[i].state);

		if (state == 0)
			continue;
		used++;
		user_rows += t->attach[i].uid == c->uid;
		conn_rows += state == (uint32_t)k->worker + 1 && t->attach[i].conn == k->serial;
	}
	/* One connection may not take the whole table from everyone else. */
	if (conn_rows >= SEGS_ATTACH_PER_CONN) {
		owners_unlock(t, slot);
		return DSHM_ATTACH_FULL;
	}
	/* Nor one user the whole table (the kernel has no such limit to reach). */
	if ((rc = quota_may_attach(t, c->uid, user_rows, used)) != DSHM_SUCCESS) {
		owners_unlock(t, slot);
		return rc;
	}
	for (uint32_t i = 0; i < t->hdr->max_attach; i++) {
		struct attach_row *r = &t->attach[i];
		uint32_t free_state = 0;

		if (atomic_load(&r->state) != 0 ||
		    !atomic_compare_exchange_strong(&r->state, &free_state, (uint32_t)k->worker + 1))
			continue;
		r->conn = k->serial;
		r->uid = c->uid;
		r->pid = c->pid;
		r->flags = ((flags & SHM_RDONLY) ? ATTACH_RDONLY : 0) |
			   (c->pid_kernel ? ATTACH_PID_KERNEL : 0);
		atomic_store(&r->shmid, shmid);
		g->atime = time(NULL);
		g->lpid = lpid;
		*segsz = g->segsz;
		*gen = atomic_load(&g->gen);
		owners_unlock(t, slot);
		return DSHM_SUCCESS;
	}
	owners_unlock(t, slot);
	return DSHM_ATTACH_FULL;
}

int
segs_access(struct table *t, const struct seg_cred *c, int32_t shmid, bool write, uint64_t *segsz)
{
	uint32_t slot;
	int rc = DSHM_SUCCESS;

	if ((rc = find_locked(t, shmid, &slot)) != DSHM_SUCCESS)
		return rc;
	if (!perm_ok(&t->segments[slot], c, write ? S_IRUGO | S_IWUGO : S_IRUGO))
		rc = DSHM_ACCESS;
	else
		*segsz = t->segments[slot].segsz;
	owners_unlock(t, slot);
	return rc;
}

int
segs_note_mapped(struct table *t, int32_t shmid)
{
	uint32_t slot;
	int rc;

	if ((rc = find_locked(t, shmid, &slot)) != DSHM_SUCCESS)
		return rc;
	atomic_fetch_or(&t->segments[slot].shared, SEG_SHARED_MAPPED);
	owners_unlock(t, slot);
	return DSHM_SUCCESS;
}

int
segs_set_remote(struct table *t, int32_t shmid, bool remote)
{
	uint32_t slot;
	int rc;

	if ((rc = find_locked(t, shmid, &slot)) != DSHM_SUCCESS)
		return rc;
	if (remote)
		atomic_fetch_or(&t->segments[slot].shared, SEG_SHARED_HOSTS | SEG_SHARED_MAPPED);
	else
		atomic_fetch_and(&t->segments[slot].shared, ~SEG_SHARED_HOSTS);
	owners_unlock(t, slot);
	return DSHM_SUCCESS;
}

/* A row of connection k attaching shmid (preferring one with rdonly's flags), or -1. */
static int64_t
find_row(const struct table *t, const struct seg_conn *k, int32_t shmid, int rdonly)
{
	int64_t any = -1;

	for (uint32_t i = 0; i < t->hdr->max_attach; i++) {
		const struct attach_row *r = &t->attach[i];

		if (atomic_load(&r->state) != (uint32_t)k->worker + 1 || r->conn != k->serial ||
		    atomic_load(&r->shmid) != shmid)
			continue;
		if (rdonly < 0 || (r->flags & ATTACH_RDONLY) == (rdonly ? ATTACH_RDONLY : 0u))
			return i;
		any = i;
	}
	return any;
}

int
segs_detach(struct table *t, const struct seg_cred *c, const struct seg_conn *k, int32_t shmid,
	    bool rdonly)
{
	uint32_t slot;
	int rc;
	int64_t i;

	(void)c;
	if ((rc = find_locked(t, shmid, &slot)) != DSHM_SUCCESS)
		return rc;
	if ((i = find_row(t, k, shmid, rdonly)) < 0) {
		owners_unlock(t, slot);
		return DSHM_INVALID;
	}
	drop_row(t, slot, (uint32_t)i);
	release_if_done(t, slot, shmid);
	return DSHM_SUCCESS;
}

/*
 * Drops every row of worker w (and of connection serial unless all).
 * False when a segment's lock stayed held past the bound: that segment's
 * rows stay, for a later call to drop.
 */
static bool
drop_rows(struct table *t, int w, uint64_t serial, bool all)
{
	bool done = true;

	for (uint32_t i = 0; i < t->hdr->max_attach; i++) {
		struct attach_row *r = &t->attach[i];
		int32_t shmid;
		uint32_t slot;
		int rc = DSHM_INVALID;

		if (atomic_load(&r->state) != (uint32_t)w + 1 || (!all && r->conn != serial))
			continue;
		shmid = atomic_load(&r->shmid);
		if (shmid >= 0 && (rc = find_locked(t, shmid, &slot)) == DSHM_BUSY) {
			done = false;
			continue;
		}
		if (rc != DSHM_SUCCESS) {
			/* Half made, or its segment is gone: nothing counts it. */
			atomic_store(&r->shmid, -1);
			atomic_store(&r->state, 0);
			continue;
		}
		if (atomic_load(&r->shmid) == shmid) {
			drop_row(t, slot, i);
			release_if_done(t, slot, shmid);
		} else
			owners_unlock(t, slot);
	}
	return done;
}

bool
segs_detach_conn(struct table *t, const struct seg_conn *k)
{
	return drop_rows(t, k->worker, k->serial, false);
}

void
segs_recover_worker(struct table *t, int self)
{
	drop_rows(t, self, 0, true);
	/*
	 * A worker that died between freeing a removed segment's last row and
	 * freeing the segment left it with no attachment to free it: do it.
	 */
	for (uint32_t s = 0; s < t->hdr->max_owners; s++) {
		int32_t shmid;
		uint32_t slot;

		if (atomic_load(&t->owners[s].state) != OWNER_USED ||
		    atomic_load(&t->owners[s].kind) != OWNER_SEGMENT ||
		    !(t->segments[s].mode & SEG_MODE_DEST))
			continue;
		shmid = (int32_t)atomic_load(&t->owners[s].id);
		if (find_locked(t, shmid, &slot) == DSHM_SUCCESS)
			release_if_done(t, slot, shmid);
	}
}

/* ---- bytes ------------------------------------------------------------ */

/*
 * Whether the range lies inside the segment (no overflow), and inside the
 * frames it has: a create undone by a repair can leave a segment with
 * fewer pages than its size says, and its bytes must not be reached.
 */
static bool
in_range(const struct table *t, uint32_t slot, uint64_t off, uint64_t len)
{
	const struct segment *g = &t->segments[slot];
	uint64_t have = (uint64_t)atomic_load(&t->owners[slot].npages) << t->frame_shift;
	uint64_t size = g->segsz < have ? g->segsz : have;

	return off <= size && len <= size - off;
}

/* A read's checks, the segment locked at slot: its mode or an attachment, the range, the hosts. */
static int
may_read(struct table *t, const struct seg_cred *c, const struct seg_conn *k, uint32_t slot,
	 int32_t shmid, uint64_t off, uint64_t len)
{
	const struct segment *g = &t->segments[slot];

	/* The mode first: the attachment rows are scanned only when it says no. */
	if (!perm_ok(g, c, S_IRUGO) && find_row(t, k, shmid, -1) < 0)
		return DSHM_ACCESS;
	if (!in_range(t, slot, off, len))
		return DSHM_INVALID;
	if (atomic_load(&g->shared) & SEG_SHARED_HOSTS)
		return DSHM_HELD_REMOTELY;
	return DSHM_SUCCESS;
}

int
segs_read(struct table *t, const struct seg_cred *c, const struct seg_conn *k, int32_t shmid,
	  uint64_t off, uint64_t len, void *buf, uint64_t known_gen, bool only_if_changed,
	  uint64_t *gen, bool *changed)
{
	struct segment *g;
	uint32_t slot;
	int rc;

	if ((rc = find_locked(t, shmid, &slot)) != DSHM_SUCCESS)
		return rc;
	g = &t->segments[slot];
	if ((rc = may_read(t, c, k, slot, shmid, off, len)) == DSHM_SUCCESS) {
		*gen = atomic_load(&g->gen);
		*changed = !only_if_changed || *gen != known_gen;
		if (*changed && !owners_copy(t, slot, off, buf, len, false))
			rc = DSHM_ERROR;
	}
	owners_unlock(t, slot);
	return rc;
}

/* Lists every notice page of [off, off + len) as changed. */
static int64_t
all_pages(uint64_t off, uint64_t len, uint32_t *pages)
{
	int64_t n = 0;

	for (uint64_t p = off / SEGFILE_NOTICE_PAGE; len > 0 && p * SEGFILE_NOTICE_PAGE < off + len; p++)
		pages[n++] = (uint32_t)p;
	return n;
}

int
segs_read_changed(struct table *t, const struct seg_cred *c, const struct seg_conn *k,
		  int32_t shmid, uint64_t off, uint64_t len, uint64_t known_gen, uint32_t *pages,
		  void *buf, uint32_t *npages, uint64_t *gen, bool *changed)
{
	struct segment *g;
	uint32_t slot;
	int64_t n = 0;
	int rc;

	*npages = 0;
	if (off % SEGFILE_NOTICE_PAGE != 0)
		return DSHM_INVALID;
	if ((rc = find_locked(t, shmid, &slot)) != DSHM_SUCCESS)
		return rc;
	g = &t->segments[slot];
	rc = may_read(t, c, k, slot, shmid, off, len);
	if (rc == DSHM_SUCCESS && (atomic_load(&g->shared) & SEG_SHARED_MAPPED)) {
		/* Stores to memory leave no notice: every page may have changed. */
		*gen = atomic_load(&g->gen);
		*changed = true;
		n = all_pages(off, len, pages);
	} else if (rc == DSHM_SUCCESS && (*changed = (*gen = atomic_load(&g->gen)) != known_gen) &&
		   (n = segfile_changed(t, slot, g->segsz, off, len, known_gen, pages)) < 0)
		rc = DSHM_ERROR;
	/* Each changed page whole: the file holds a whole last page, zeros past the size. */
	for (int64_t i = 0; i < n && rc == DSHM_SUCCESS; i++)
		if (!owners_copy(t, slot, (uint64_t)pages[i] * SEGFILE_NOTICE_PAGE,
				 (unsigned char *)buf + i * SEGFILE_NOTICE_PAGE, SEGFILE_NOTICE_PAGE, false))
			rc = DSHM_ERROR;
	if (rc == DSHM_SUCCESS)
		*npages = (uint32_t)n;
	owners_unlock(t, slot);
	return rc;
}

/*
 * Whether connection k holds a read-write attachment of shmid: it may
 * write whatever the mode says now, as a kernel attachment may.  Scanned
 * only when the mode refuses, so a request whose caller may write anyway
 * costs no scan of the rows under the segment's lock.
 */
static bool
has_rw_row(const struct table *t, const struct seg_conn *k, int32_t shmid)
{
	int64_t i = find_row(t, k, shmid, 0);

	return i >= 0 && !(t->attach[i].flags & ATTACH_RDONLY);
}

int
segs_write(struct table *t, const struct seg_cred *c, const struct seg_conn *k, int32_t shmid,
	   const struct byte_run *runs, uint32_t nruns, const unsigned char *data,
	   uint64_t base_gen, uint64_t *gen, bool *others)
{
	struct segment *g;
	uint32_t slot;
	int rc = DSHM_SUCCESS;

	if ((rc = find_locked(t, shmid, &slot)) != DSHM_SUCCESS)
		return rc;
	g = &t->segments[slot];
	if (!perm_ok(g, c, S_IWUGO) && !has_rw_row(t, k, shmid)) {
		owners_unlock(t, slot);
		return DSHM_ACCESS;
	}
	for (uint32_t n = 0; n < nruns; n++)
		if (!in_range(t, slot, runs[n].off, runs[n].len))
			rc = DSHM_INVALID;
	if (rc == DSHM_SUCCESS && (atomic_load(&g->shared) & SEG_SHARED_HOSTS))
		rc = DSHM_HELD_REMOTELY;
	if (rc == DSHM_SUCCESS) {
		*others = atomic_load(&g->gen) != base_gen;
		/*
		 * The generation moves first: a worker that dies part-way leaves
		 * (once its undo has run) the old bytes under a generation nobody
		 * has seen, which costs the attachments a read, never a change.
		 */
		*gen = atomic_fetch_add(&g->gen, 1) + 1;
		/* The notices before the bytes: a change is never missed, at worst one is undone. */
		for (uint32_t n = 0; n < nruns && rc == DSHM_SUCCESS; n++)
			if (!segfile_stamp(t, slot, g->segsz, runs[n].off, runs[n].len, *gen))
				rc = DSHM_ERROR;
		/* All runs or none, across a crash too; a refusal of the file undoes them all. */
		if (rc == DSHM_SUCCESS)
			rc = owners_write_runs(t, slot, runs, nruns, data);
	}
	owners_unlock(t, slot);
	return rc;
}

void
segs_release_orphans(struct table *t)
{
	if (!atomic_exchange(&t->hdr->releases_pending, 0))
		return;
	/* find_locked frees a removed segment with no attachment left (or sets the flag again). */
	for (uint32_t s = 0; s < t->hdr->max_owners; s++) {
		uint32_t slot;

		if (atomic_load(&t->owners[s].state) != OWNER_USED ||
		    atomic_load(&t->owners[s].kind) != OWNER_SEGMENT ||
		    !(t->segments[s].mode & SEG_MODE_DEST))
			continue;
		if (find_locked(t, (int32_t)atomic_load(&t->owners[s].id), &slot) == DSHM_SUCCESS)
			owners_unlock(t, slot);
	}
}
