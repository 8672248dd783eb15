/*
 * arena.h — the frame arena: one MAP_SHARED|MAP_ANONYMOUS mapping made by
 * the master before it forks, so every worker sees the same bytes at the
 * same address.  It holds frames only; the tables live in the control table.
 */
#ifndef DSHM_IPC_ARENA_H
#define DSHM_IPC_ARENA_H

#include <stddef.h>

/* Maps size bytes (zero-filled); NULL with errno set on failure. */
unsigned char *arena_map(size_t size);
void arena_unmap(unsigned char *arena, size_t size);

#endif /* DSHM_IPC_ARENA_H */
