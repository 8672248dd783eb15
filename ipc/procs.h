/*
 * procs.h — paging processes, the seed-000 model: a process (pid >= 0)
 * owns npages pages, each one frame of the shared arena, and is read and
 * written at (page, offset) with ranges that run on into later pages.
 *
 * Every function returns a DSHM_* code (see <dshm.h>).  Each read and
 * write holds the process's lock for its whole range, so it is atomic
 * with respect to every other request on that process, and validation is
 * complete before any byte moves: a failed write changes nothing.
 */
#ifndef DSHM_IPC_PROCS_H
#define DSHM_IPC_PROCS_H

#include <stdint.h>

#include "table.h"

int procs_init(struct table *t, int64_t pid, int64_t pages, uint32_t uid);
int procs_assign(struct table *t, int64_t pid, int64_t pages);
int procs_finalize(struct table *t, int64_t pid);
int procs_write(struct table *t, int64_t pid, int64_t page, int64_t offset,
		const void *buf, int64_t size);
int procs_read(struct table *t, int64_t pid, int64_t page, int64_t offset,
	       void *buf, int64_t size);

/* The most pages one process may own: what a page tree of full height maps. */
#define PROCS_MAX_PAGES ((uint64_t)1 << (PT_SHIFT * PT_MAX_HEIGHT))

#endif /* DSHM_IPC_PROCS_H */
