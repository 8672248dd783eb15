/*
 * listener_owner.h — the owner of the TCP listener behind a loopback
 * connection (see listener_owner.c).
 */
#ifndef DSHM_LIB_LISTENER_OWNER_H
#define DSHM_LIB_LISTENER_OWNER_H

#include <stdbool.h>

/*
 * For a connected TCP socket fd whose peer is a loopback address: 1 and
 * the uid of the socket listening there in *uid; 0 when the peer is not
 * on loopback (nothing can be told); -1 when no listener was found (it
 * went meanwhile, or /proc is not there).
 */
int listener_owner(int fd, long *uid);

#endif /* DSHM_LIB_LISTENER_OWNER_H */
