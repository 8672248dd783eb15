/*
 * peercred.h — the identity of a loopback TCP peer, from the kernel.
 */
#ifndef DSHM_SRV_PEERCRED_H
#define DSHM_SRV_PEERCRED_H

#include <stdbool.h>
#include <stdint.h>

/*
 * For a TCP connection fd from a loopback address: the uid that owns the
 * client's socket (asked with sock_diag) and that user's primary gid.
 * False when the peer is not on loopback or the kernel would not say.
 */
bool peercred_tcp(int fd, uint32_t *uid, uint32_t *gid);

/* Whether the TCP socket fd is bound to a loopback address (127.0.0.0/8, ::1). */
bool peercred_bound_to_loopback(int fd);

#endif /* DSHM_SRV_PEERCRED_H */
