/*
 * procs.h — paging processes, the seed-000 model: a process (pid >= 0)
 * owns npages pages, each one frame of the shared arena, and is read and
 * written at (page, offset) with ranges that run on into later pages.
 *
 * Every function returns a DSHM_* code (see <dshm.h>); DSHM_BUSY when a
 * lock it needed stayed held past the worker's wait bound, and then it
 * did nothing (try again).  Each read and write holds the process's lock
 * for its whole range, so it is atomic with respect to every other
 * request on that process, and validation is complete before any byte
 * moves: a failed write changes nothing.
 */
#ifndef DSHM_IPC_PROCS_H
#define DSHM_IPC_PROCS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "table.h"

/*
 * Every call names its caller: the uid the kernel vouched for (the
 * connection's, docs/SECURITY.md), PROCS_UNKNOWN when none did, or
 * PROCS_ROOT.  A process belongs to the caller that made it; another
 * caller's reads, writes, assigns and finalizes are DSHM_NOT_PERMITTED,
 * except root's (and anyone's on a process whose maker was unknown).
 */
#define PROCS_ROOT 0u
#define PROCS_UNKNOWN UINT32_MAX

int procs_init(struct table *t, uint32_t caller, int64_t pid, int64_t pages);
int procs_assign(struct table *t, uint32_t caller, int64_t pid, int64_t pages);
int procs_finalize(struct table *t, uint32_t caller, int64_t pid);
int procs_write(struct table *t, uint32_t caller, int64_t pid, int64_t page, int64_t offset,
		const void *buf, int64_t size);
int procs_read(struct table *t, uint32_t caller, int64_t pid, int64_t page, int64_t offset,
	       void *buf, int64_t size);

/*
 * A read served from the arena in place.  A pin is one process's lock,
 * held across several reads of that process so that their bytes can go
 * from the arena to a socket without a copy: while it is held nothing
 * can write, grow or end the process, so the pieces stay what they were
 * when read.  The caller must not take the process's lock any other way
 * while it holds the pin, and releases it with procs_unpin.
 */
struct procs_pin {
	bool held;
	int64_t pid;   /* the process pinned */
	uint32_t slot; /* its owner slot */
};

/* Pieces (frames) a read of size bytes at offset touches: room procs_read_pin needs. */
uint64_t procs_read_pieces(const struct table *t, int64_t offset, int64_t size);

/*
 * As procs_read, but instead of copying it lists where the bytes lie in
 * piece[] (*npieces of them) and leaves the process pinned.  pin must be
 * unheld or hold pid already.  On an error nothing more is held than
 * before.
 */
int procs_read_pin(struct table *t, uint32_t caller, struct procs_pin *pin, int64_t pid,
		   int64_t page, int64_t offset, int64_t size, struct iovec *piece,
		   unsigned *npieces);

/* Releases a held pin (nothing when unheld). */
void procs_unpin(struct table *t, struct procs_pin *pin);

/* The most pages one process may own: what a page tree of full height maps. */
#define PROCS_MAX_PAGES ((uint64_t)1 << (PT_SHIFT * PT_MAX_HEIGHT))

#endif /* DSHM_IPC_PROCS_H */
