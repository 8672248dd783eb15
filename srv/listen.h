/*
 * listen.h — dshmd's listening sockets: one TCP, one Unix, opened by the
 * master before it forks and shared by every worker (EPOLLEXCLUSIVE, no
 * SO_REUSEPORT: two servers can never silently share a port).
 *
 * A starting dshmd never disturbs a running one: a Unix socket that
 * answers a connect is left alone (start-up is refused); only a socket
 * file nobody answers on is replaced.
 */
#ifndef DSHM_SRV_LISTEN_H
#define DSHM_SRV_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/types.h>

#include "sockprobe.h"

/*
 * Opens a listening TCP socket at "HOST:PORT" (non-blocking, close-on-
 * exec); bound receives the address actually bound (port 0 resolved).
 * Returns the socket, or -1 with a message naming the failed call.
 */
int listen_tcp(const char *hostport, char *bound, size_t boundlen, char *err, size_t errlen);

/*
 * Opens a listening Unix socket at path (mode 0660, its group gid unless
 * that is (gid_t)-1), replacing a stale file.
 */
int listen_unix(const char *path, gid_t gid, char *err, size_t errlen);

#endif /* DSHM_SRV_LISTEN_H */
