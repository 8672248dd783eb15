/*
 * arena.c — maps the frame arena (see arena.h).
 *
 * MAP_NORESERVE: the arena is backed by shmem pages only once written, and
 * freed frames are punched out again (frames.c), so an idle server is small.
 */
#include "arena.h"

#include <sys/mman.h>

unsigned char *
arena_map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void
arena_unmap(unsigned char *arena, size_t size)
{
	if (arena != NULL)
		munmap(arena, size);
}
