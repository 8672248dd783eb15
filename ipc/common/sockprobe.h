/*
 * sockprobe.h — whether a Unix socket path is served: dshmd asks before it
 * binds (never unlinking a socket someone answers on), and dshm-ipcrm
 * before it removes a dead server's socket.
 */
#ifndef DSHM_IPC_SOCKPROBE_H
#define DSHM_IPC_SOCKPROBE_H

enum unix_state { UNIX_FREE, UNIX_STALE, UNIX_LIVE, UNIX_NOT_SOCKET };

/*
 * What is at path now: nothing, a socket file nobody answers on (stale),
 * a served socket (live; also when it cannot tell), or another file.
 */
enum unix_state sockprobe_unix(const char *path);

#endif /* DSHM_IPC_SOCKPROBE_H */
