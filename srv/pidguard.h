/*
 * pidguard.h — opening the pidfile safely before libbsd's pidfile_open
 * (see pidguard.c).
 */
#ifndef DSHM_SRV_PIDGUARD_H
#define DSHM_SRV_PIDGUARD_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Opens the pidfile at path without following a symlink, creating it if
 * missing; it must be a regular file of dshmd's own user, in a directory
 * where nobody else may swap it (not world-writable, or sticky).
 * Returns the descriptor, or -1 with why in err.
 */
int pidfile_guard(const char *path, char *err, size_t errlen);

/* Whether two descriptors are of one file. */
bool same_file(int a, int b);

#endif /* DSHM_SRV_PIDGUARD_H */
