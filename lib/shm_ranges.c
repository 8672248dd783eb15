/*
 * shm_ranges.c — where this process's coherent attachments lie, for the
 * preload's mutex and condition variable calls (lib/preload/preload.c),
 * which ask on every call and must not block or allocate.
 *
 * Invariant: a slot's end is published after its start and cleared
 * before it is reused, so a reader that sees an end sees its start; the
 * table changes only under the segment calls' lock.
 */
#include <stdatomic.h>
#include <stdint.h>

#include "shm_internal.h"

#define RANGES 256 /* as many as the server lets one connection attach */

static struct {
	_Atomic uintptr_t start, end;
	_Atomic bool rdonly;
} ranges[RANGES];
static _Atomic int used; /* slots from here on have never been used: nothing to look at */

void
shm_range_add(const void *addr, size_t len, bool rdonly)
{
	for (int i = 0; i < RANGES; i++)
		if (atomic_load(&ranges[i].end) == 0) {
			atomic_store(&ranges[i].rdonly, rdonly);
			atomic_store(&ranges[i].start, (uintptr_t)addr);
			atomic_store(&ranges[i].end, (uintptr_t)addr + len);
			if (i >= atomic_load(&used))
				atomic_store(&used, i + 1);
			return;
		}
}

void
shm_range_del(const void *addr)
{
	for (int i = 0; i < RANGES; i++)
		if (atomic_load(&ranges[i].start) == (uintptr_t)addr && atomic_load(&ranges[i].end) != 0) {
			atomic_store(&ranges[i].end, 0);
			return;
		}
}

bool
shm_in_coherent(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	int n = atomic_load(&used);

	for (int i = 0; i < n; i++) {
		uintptr_t end = atomic_load(&ranges[i].end);

		if (end != 0 && a >= atomic_load(&ranges[i].start) && a < end)
			return true;
	}
	return false;
}

bool
shm_in_rdonly(const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;
	int n = atomic_load(&used);

	for (int i = 0; i < n; i++) {
		uintptr_t end = atomic_load(&ranges[i].end);

		if (end != 0 && atomic_load(&ranges[i].rdonly) && a < end &&
		    a + len > atomic_load(&ranges[i].start))
			return true;
	}
	return false;
}
