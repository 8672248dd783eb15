/*
 * dshm_status.h — the status codes of every reply and every libdshm call,
 * shared by dshmd (which answers with them), libdshm (which returns them)
 * and <dshm.h> (which includes this file, installed beside it).
 *
 * Invariant: a code's number never changes once released; new codes take
 * the next number down.
 */
#ifndef DSHM_STATUS_H
#define DSHM_STATUS_H

/*
 * Status codes.  SUCCESS, DISCONNECTED_SERVER and -203 come from the seed
 * library; the others belong to the same family.  The server never returns
 * DISCONNECTED_SERVER or DISCONNECTED_CLIENT: the library does, when the
 * connection fails.
 */
#define DSHM_SUCCESS 1
#define DSHM_ERROR (-200)               /* unspecified server-side failure */
#define DSHM_DISCONNECTED_CLIENT (-201) /* the client side of the socket is unusable */
#define DSHM_DISCONNECTED_SERVER (-202) /* the server is gone or timed out */
#define DSHM_NO_SPACE (-203)            /* not enough free frames: nothing allocated */
#define DSHM_OUT_OF_FRAME (-204)        /* offset is not inside a frame (0 <= offset < frame size) */
#define DSHM_PAGE_FAULT (-205)          /* the page is not one of the process's pages */
#define DSHM_SEGMENTATION_FAULT (-206)  /* the range runs past the process's last page */
#define DSHM_NO_SUCH_PROCESS (-207)     /* no process with that pid */
#define DSHM_PROCESS_EXISTS (-208)      /* memory_init_process of a pid that exists */
#define DSHM_BAD_REQUEST (-209)         /* an argument is out of range (negative size, size > buffer_size...) */
#define DSHM_TOO_LARGE (-210)           /* the request or reply exceeds the server's size cap */
#define DSHM_VERSION_MISMATCH (-211)    /* client and server speak different protocol versions */
#define DSHM_TABLE_FULL (-212)          /* the server's process table is full */
#define DSHM_NO_MEMORY (-213)           /* the client could not allocate memory */
/* The System V-style calls' errors travel as these; the calls turn them into errno. */
#define DSHM_NOT_FOUND (-214)           /* ENOENT: no segment has that key */
#define DSHM_EXISTS (-215)              /* EEXIST: IPC_CREAT|IPC_EXCL of a key in use */
#define DSHM_INVALID (-216)             /* EINVAL: bad id, size, command or address */
#define DSHM_ACCESS (-217)              /* EACCES: the segment's mode does not allow it */
#define DSHM_NOT_PERMITTED (-218)       /* EPERM; or another uid's paging process */
#define DSHM_REMOVED (-219)             /* EIDRM: the segment was removed */
#define DSHM_ATTACH_FULL (-220)         /* ENOMEM: the server's attachment table is full */
#define DSHM_AUTH_REQUIRED (-221)       /* this server wants remote clients to authenticate first */
#define DSHM_AUTH_FAILED (-222)         /* unknown name or wrong key (the server then hangs up) */
#define DSHM_NOT_LOCAL (-223)           /* a mapping of the server's memory needs its Unix socket */
#define DSHM_HELD_REMOTELY (-224)       /* EBUSY: other hosts hold the segment's pages: map it coherently */
#define DSHM_WRONG_SERVER (-225)        /* EACCES: the server (Unix socket, loopback port) runs as a user not trusted */
#define DSHM_BAD_ADDRESS (-226)         /* EINVAL: the address is not one (or names no host) */
/*
 * EAGAIN: a lock the request needed stayed held past the server's bound
 * (its holder, a worker, is stopped or slow); nothing was done: try again.
 * The server kills a worker that stops answering (dshmd --worker-stall).
 * The segment calls ask again themselves for as long as the library's
 * timeout, as the kernel's calls wait for a lock, and only then fail.
 */
#define DSHM_BUSY (-227)
#define DSHM_USER_LIMIT (-228)          /* this user holds its share of the server (connections, slots, attachments) */

#endif /* DSHM_STATUS_H */
