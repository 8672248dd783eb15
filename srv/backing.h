/*
 * backing.h — how much memory this host can really back, so that dshmd
 * refuses at start an arena it could only promise (dshmd --overcommit
 * says the operator knows better).
 */
#ifndef DSHM_SRV_BACKING_H
#define DSHM_SRV_BACKING_H

#include <stddef.h>
#include <stdint.h>

/*
 * The bytes an arena can have backed: RAM and swap, or less when this
 * process's memory cgroup (or one above it) is limited; for a --persist
 * arena (persist_dir: its tmpfs, else NULL) also what that file system
 * has free, plus what the file named persist_file already holds there.
 * why says which bound it is, with its numbers.
 */
uint64_t backing_limit(const char *persist_dir, const char *persist_file, char *why,
		       size_t len);

#endif /* DSHM_SRV_BACKING_H */
