/*
 * segs.h — System V-style segments on top of owners.c: shmget, shmctl,
 * attachments and byte access with the kernel's rules (ipc/shm.c of
 * Linux is the reference): the same checks in the same order, so the
 * same bad call gets the same error.
 *
 * A segment is an owner of kind OWNER_SEGMENT whose id is its shmid;
 * shmid = seq * max_owners + slot, so an id is not reused until its slot
 * has held INT32_MAX / max_owners other segments.  Every function returns
 * a DSHM_* code (DSHM_INVALID for EINVAL, and so on; see <dshm.h>);
 * DSHM_BUSY (EAGAIN) when a lock stayed held past the worker's wait
 * bound, and then nothing was done.
 */
#ifndef DSHM_IPC_SEGS_H
#define DSHM_IPC_SEGS_H

#include <stdbool.h>
#include <stdint.h>

#include "owners.h"
#include "table.h"

/* Attachments one connection may hold at once (a process's shmat calls). */
#define SEGS_ATTACH_PER_CONN 256

/* Who asks: from SO_PEERCRED over a Unix socket, as stated by the client over TCP. */
struct seg_cred {
	int32_t pid;
	uint32_t uid, gid;
	bool privileged; /* uid 0: the kernel's CAP_IPC_OWNER */
	bool pid_kernel; /* pid is the kernel's word for the caller (Unix socket), not the caller's */
};

/* Where an attachment lives: the serving worker and its connection. */
struct seg_conn {
	int worker; /* t->self */
	uint64_t serial;
};

/* shmid_ds as the wire carries it. */
struct seg_stat {
	int32_t shmid;
	int32_t key;
	uint32_t seq;
	uint32_t mode;
	uint32_t uid, gid, cuid, cgid;
	uint64_t segsz;
	int64_t atime, dtime, ctime;
	int32_t cpid, lpid;
	uint64_t nattch;
};

/* IPC_INFO and SHM_INFO together; maxidx is their return value. */
struct seg_info {
	uint64_t shmmax, shmmin, shmmni, shmseg, shmall; /* shmall in pages of page_size */
	uint64_t used_ids, shm_tot, shm_rss;              /* shm_tot, shm_rss: pages */
	int32_t maxidx;
};

int segs_get(struct table *t, const struct seg_cred *c, int32_t key, uint64_t size, int flags,
	     int32_t *shmid);

/* IPC_STAT (by_index false), or SHM_STAT / SHM_STAT_ANY (shmid is a slot; any: no read check). */
int segs_stat(struct table *t, const struct seg_cred *c, int32_t shmid, bool by_index, bool any,
	      struct seg_stat *out);
int segs_set(struct table *t, const struct seg_cred *c, int32_t shmid, uint32_t uid,
	     uint32_t gid, uint32_t mode);
int segs_rmid(struct table *t, const struct seg_cred *c, int32_t shmid);
int segs_lock(struct table *t, const struct seg_cred *c, int32_t shmid, bool lock);
void segs_info(struct table *t, long page_size, struct seg_info *out);

/*
 * Attaches shmid for connection k (flags: SHM_RDONLY, SHM_EXEC), with
 * shm_lpid set to lpid (the caller's pid, or a forking parent's).
 * Returns the segment's size and write generation.
 */
int segs_attach(struct table *t, const struct seg_cred *c, const struct seg_conn *k,
		int32_t shmid, int flags, int32_t lpid, uint64_t *segsz, uint64_t *gen);
int segs_detach(struct table *t, const struct seg_cred *c, const struct seg_conn *k,
		int32_t shmid, bool rdonly);

/*
 * Whether c may map segment shmid, read-only or read-write (shmat's
 * check), and its size: for another host's pager, which asks on behalf
 * of a process there.
 */
int segs_access(struct table *t, const struct seg_cred *c, int32_t shmid, bool write,
		uint64_t *segsz);

/* Marks segment shmid's file as handed to a coherent attachment (SEG_SHARED_MAPPED). */
int segs_note_mapped(struct table *t, int32_t shmid);

/*
 * Marks segment shmid as having pages on other hosts (remote), or not:
 * the home's pager, before it hands a page out and after the last one
 * came back.  While marked, segs_read and segs_write return
 * DSHM_HELD_REMOTELY: the home's file lacks what other hosts write.
 */
int segs_set_remote(struct table *t, int32_t shmid, bool remote);

/* How many attachments connection k holds. */
uint32_t segs_conn_attachments(const struct table *t, const struct seg_conn *k);

/*
 * Detaches everything connection k had attached, as the kernel does at
 * exit.  False when a segment's lock stayed held past the worker's bound:
 * its rows stay, and the caller calls again later.
 */
bool segs_detach_conn(struct table *t, const struct seg_conn *k);

/* Called as worker self starts: detaches what its dead predecessor's connections had. */
void segs_recover_worker(struct table *t, int self);

/*
 * Reads len bytes at off.  Allowed to a connection that has shmid
 * attached, else by the segment's read permission.  *gen is the write
 * generation the bytes belong to; when only_if_changed and it equals
 * known_gen, nothing is copied and *changed is false.
 */
int segs_read(struct table *t, const struct seg_cred *c, const struct seg_conn *k,
	      int32_t shmid, uint64_t off, uint64_t len, void *buf, uint64_t known_gen,
	      bool only_if_changed, uint64_t *gen, bool *changed);

/*
 * The write notices of [off, off + len) (off a multiple of
 * SEGFILE_NOTICE_PAGE): the numbers of the pages that changed after
 * generation known_gen go to pages (room for one per page of the range),
 * each page's bytes whole to buf (room for as many pages), *npages how
 * many; none, and *changed false, when the segment is still at
 * known_gen.  A segment whose file was ever mapped (SEG_SHARED_MAPPED)
 * names every page, changed.  *gen is the generation the bytes belong
 * to.  Allowed as segs_read is.
 */
int segs_read_changed(struct table *t, const struct seg_cred *c, const struct seg_conn *k,
		      int32_t shmid, uint64_t off, uint64_t len, uint64_t known_gen, uint32_t *pages,
		      void *buf, uint32_t *npages, uint64_t *gen, bool *changed);

/*
 * Writes nruns ranges (their bytes back to back in data), all checked
 * before any byte moves, under one hold of the segment's lock, all or
 * none of them (owners_write_runs), even when the worker dies part-way.  Allowed
 * to a connection that has shmid attached read-write, else by write
 * permission.  *others is true when someone wrote since base_gen (so the
 * writer must read to be current); *gen is the generation after.
 */
int segs_write(struct table *t, const struct seg_cred *c, const struct seg_conn *k,
	       int32_t shmid, const struct byte_run *runs, uint32_t nruns,
	       const unsigned char *data, uint64_t base_gen, uint64_t *gen, bool *others);

/*
 * Frees the removed segments whose last detach met a busy lock and left
 * them whole (nobody can look them up again); called by each worker's
 * sweep.  Nothing to do, and no scan, unless one was left.
 */
void segs_release_orphans(struct table *t);

#endif /* DSHM_IPC_SEGS_H */
