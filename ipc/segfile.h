/*
 * segfile.h — where a segment's bytes live: one file per segment in
 * /dev/shm (POSIX shared memory), named after the control table's key,
 * its instance number and the shmid, and reserved in full when the
 * segment is made.  dshmd's workers read and write it; a client on this
 * host that attaches transparently maps the same file (its descriptor
 * comes over the Unix socket), so it shares the very pages dshmd and
 * every other attacher on the host use.
 *
 * After the bytes (from the next page on), the file keeps the segment's
 * write notices: for each 4 KiB page, the write generation that last
 * changed it, so a copied attachment's sync brings in only the pages
 * others changed (docs/SEGMENTS.md).
 *
 * Invariants: a segment's file exists from before its shmid is handed
 * out until after its slot is freed; a page's notice is stamped before
 * its bytes change, so no change goes unnoticed (a crash can leave a
 * notice of a change undone, which costs a copy only); the bytes are never read or written
 * through the arena (the segment's frames there only count its size
 * against --memory and show in dshm-ipcs --map); a file of this
 * instance whose shmid names no live segment is an orphan, removed when
 * the server stops.
 */
#ifndef DSHM_IPC_SEGFILE_H
#define DSHM_IPC_SEGFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "table.h"

/* The file's name for shm_open ("/dshm.seg.KEY.INSTANCE.SHMID"). */
void segfile_name(const struct table *t, int32_t shmid, char *out, size_t len);

/*
 * Makes the file of a new segment, size bytes rounded up to whole pages
 * and its notices after them, zero-filled and reserved (posix_fallocate: a full /dev/shm is ENOSPC
 * now, never a SIGBUS in a client later).  A file left with that name by
 * a creation cut short is reused.  Returns DSHM_SUCCESS, DSHM_NO_SPACE
 * (no room in /dev/shm) or DSHM_ERROR.
 */
int segfile_create(struct table *t, int32_t shmid, uint64_t size);

/* The page unit of write notices (whatever the frame size or the host's pages). */
#define SEGFILE_NOTICE_PAGE 4096u

/* Where the notices of a segment of size bytes begin in its file. */
uint64_t segfile_notices_at(uint64_t size);

/*
 * Stamps generation gen as the last change of every notice page that
 * [pos, pos + len) touches, in the segment in slot (size bytes; locked
 * by the caller).  False when the file could not be written.
 */
bool segfile_stamp(struct table *t, uint32_t slot, uint64_t size, uint64_t pos, uint64_t len,
		   uint64_t gen);

/*
 * The notice pages of [pos, pos + len) changed after generation since:
 * their numbers go to pages (room for one per page of the range), in
 * order.  Returns how many, or -1 when the file could not be read.
 */
int64_t segfile_changed(struct table *t, uint32_t slot, uint64_t size, uint64_t pos, uint64_t len,
			uint64_t since, uint32_t *pages);

/* Removes the file of a segment that was freed. */
void segfile_unlink(struct table *t, int32_t shmid);

/*
 * A new descriptor of segment shmid's file (O_CLOEXEC), read-only or
 * read-write, for a client to map; -1 with errno set.
 */
int segfile_open(const struct table *t, int32_t shmid, bool rdonly);

/*
 * Copies len bytes at offset pos of the segment in slot (locked by the
 * caller; the range was checked) to (to_file true) or from buf.  False
 * when the file could not be read or written (the error is logged by the
 * caller; nothing is half-copied that the undo record does not cover).
 */
bool segfile_copy(struct table *t, uint32_t slot, uint64_t pos, void *buf, uint64_t len,
		  bool to_file);

/*
 * Closes the descriptor this process keeps of a segment that was freed
 * since (so its memory goes back): called now and then by workers.
 */
void segfile_sweep(struct table *t);

/* Closes the descriptor this process keeps, whatever it is. */
void segfile_forget(struct table *t);

/*
 * Removes every segment file of the table at key: of instance only, or
 * of every instance when all.  For a server that stops (its own
 * instance) and for the cleanup of a stale table (all).  Returns how
 * many files it removed (with dry, how many it would remove).
 */
unsigned segfile_remove(key_t key, uint64_t instance, bool all, bool dry);

/* Whether segment shmid's file exists (a kept table's take-over checks each one). */
bool segfile_exists(const struct table *t, int32_t shmid);

#endif /* DSHM_IPC_SEGFILE_H */
