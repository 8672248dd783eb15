/*
 * dshm.h — the public interface of libdshm, the client library of dshmd.
 *
 * Two APIs share one connection model:
 *  - the paging API (handshake, memory_init_process, memory_write,
 *    memory_read, memory_assign_pages, memory_finalize_process), with the
 *    exact signatures of the "Memoria" shared library it descends from;
 *  - helpers to open connections and an optional logger.
 * Every call returns a status code from the list below; the library never
 * prints unless it is given a logger.
 */
#ifndef DSHM_H
#define DSHM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

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

/*
 * The seed library's own names.  They are plain words that other code may
 * define too, so each is defined only when free; define DSHM_NO_SEED_NAMES
 * before including this header to get none of them.  The seed called -203
 * "ENOSPC", which <errno.h> already defines: here it is NO_SPACE.
 */
#ifndef DSHM_NO_SEED_NAMES
#ifndef SUCCESS
#define SUCCESS DSHM_SUCCESS
#endif
#ifndef DISCONNECTED_CLIENT
#define DISCONNECTED_CLIENT DSHM_DISCONNECTED_CLIENT
#endif
#ifndef DISCONNECTED_SERVER
#define DISCONNECTED_SERVER DSHM_DISCONNECTED_SERVER
#endif
#ifndef NO_SPACE
#define NO_SPACE DSHM_NO_SPACE
#endif
#ifndef OUT_OF_FRAME
#define OUT_OF_FRAME DSHM_OUT_OF_FRAME
#endif
#ifndef PAGE_FAULT
#define PAGE_FAULT DSHM_PAGE_FAULT
#endif
#ifndef SEGMENTATION_FAULT
#define SEGMENTATION_FAULT DSHM_SEGMENTATION_FAULT
#endif
#endif

/* A short English description of a status code ("no space", ...). */
const char *dshm_strerror(int code);

/* ---- logger --------------------------------------------------------- */

/*
 * A small logger in the spirit of so-commons' log.  Its names carry a dshm_
 * prefix so that a program may link so-commons too; the paging API's
 * parameter type t_log is a typedef of struct dshm_log.  A program that
 * includes so-commons' <commons/log.h> (which defines its own t_log) defines
 * DSHM_NO_T_LOG before including this header and passes a struct dshm_log *
 * (or NULL) to the paging calls.
 */
typedef enum {
	DSHM_LOG_TRACE,
	DSHM_LOG_DEBUG,
	DSHM_LOG_INFO,
	DSHM_LOG_WARNING,
	DSHM_LOG_ERROR
} dshm_log_level;

struct dshm_log;
#ifndef DSHM_NO_T_LOG
typedef struct dshm_log t_log;
#endif

/* file may be NULL (console only); NULL when memory or the file fails. */
struct dshm_log *dshm_log_create(const char *file, const char *program_name,
				 bool is_active_console, dshm_log_level level);
void dshm_log_destroy(struct dshm_log *logger);
/* Writes one line at the given level; NULL logger: does nothing. */
void dshm_log_message(struct dshm_log *logger, dshm_log_level level,
		      const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- connections ---------------------------------------------------- */

/*
 * Connects to a dshmd.  addr is "HOST:PORT", "[V6ADDR]:PORT", "unix:PATH",
 * or NULL for $DSHM_SERVER, and when that is unset the default Unix socket
 * ($XDG_RUNTIME_DIR/dshm.sock, else /tmp/dshm-UID.sock).  Over TCP it
 * authenticates with the credential of dshm_set_auth or $DSHM_AUTH_FILE
 * when there is one.  Returns a connected socket (close-on-exec, with the
 * library's timeout applied), DSHM_DISCONNECTED_SERVER, or
 * DSHM_AUTH_FAILED.
 */
int dshm_connect(const char *addr);

/*
 * The credential dshm_connect presents to a server that wants remote TCP
 * clients to authenticate (dshmd --auth-file): name and its 32-byte key.
 * Without one, $DSHM_AUTH_FILE names a file whose first line is "NAME
 * HEXKEY" (64 hex digits).  Connections over a Unix socket or loopback
 * TCP need none: the kernel tells the server who the client is.
 * name NULL forgets the credential.  Returns DSHM_SUCCESS or
 * DSHM_BAD_REQUEST (name longer than 64 bytes).
 */
int dshm_set_auth(const char *name, const unsigned char key[32]);

/*
 * Sets the timeout of every later call, in milliseconds (default 30000, or
 * $DSHM_TIMEOUT_MS).  A call that waits longer returns
 * DSHM_DISCONNECTED_SERVER and the socket is shut down: its stream can no
 * longer be trusted.  0 or less restores the default.
 */
void dshm_set_timeout(int milliseconds);

/*
 * The server's live counters: on success *text is a malloc'd,
 * NUL-terminated text of "name value" lines (the caller frees it): uptime,
 * frames used and free, processes, workers, connections (now, in all,
 * refused), requests in all and per operation, bytes in and out, and
 * errors per status code.  Returns DSHM_SUCCESS or an error code.
 */
int dshm_stats(int server_socket, char **text);

/* ---- the paging API (seed library "Memoria") ------------------------ */

typedef struct {
	int exec_code;   /* DSHM_SUCCESS or an error code */
	int buffer_size; /* bytes in buffer (0 on error) */
	void *buffer;    /* malloc'd, NULL on error; the caller frees it */
} t_read_response;

/*
 * Asks for the frame size.  Returns it (> 0) or an error code.  When
 * *server_socket is negative, handshake first connects with
 * dshm_connect(NULL) and stores the socket there.
 */
int handshake(int *server_socket, t_log *logger);

/* Creates process pid (>= 0) with pages zero-filled pages.  All or nothing. */
int memory_init_process(int server_socket, int pid, int pages, t_log *logger);

/*
 * Writes size bytes of buffer at (page, offset) of process pid; the bytes
 * run on into the following pages.  All or nothing: the whole range must
 * lie inside the process's pages.  size > buffer_size is DSHM_BAD_REQUEST.
 */
int memory_write(int server_socket, int pid, int page, int offset, int size,
		 int buffer_size, void *buffer, t_log *logger);

/*
 * Reads size bytes at (page, offset) of process pid.  Returns a response
 * carrying exec_code (and the bytes on success); NULL only when the client
 * runs out of memory.  Free buffer, then the response.
 */
t_read_response *memory_read(int server_socket, int pid, int page, int offset,
			     int size, t_log *logger);

/* Gives process pid pages more zero-filled pages.  All or nothing. */
int memory_assign_pages(int server_socket, int pid, int pages, t_log *logger);

/* Ends process pid and frees every one of its frames. */
int memory_finalize_process(int server_socket, int pid, t_log *logger);

/* ---- many requests in flight ------------------------------------------ */

enum dshm_op_kind {
	DSHM_OP_READ = 1,  /* memory_read's arguments; the bytes go to buffer */
	DSHM_OP_WRITE = 2, /* memory_write's arguments; the bytes come from buffer */
};

struct dshm_op {
	int kind;
	int pid, page, offset, size;
	void *buffer; /* size bytes */
	int status;   /* set by dshm_batch: DSHM_SUCCESS or an error code */
};

/*
 * Performs n reads and writes on one connection without waiting for each
 * reply before sending the next (pipelining: up to 256 requests and 1 MiB
 * of replies in flight), so n small operations cost about one round trip
 * instead of n.  The server carries them out in order; each op gets its
 * own status.  A read or write of many pages is one op (it runs on into
 * the following pages, up to 16 MiB).  Returns DSHM_SUCCESS when every
 * reply arrived, else the connection's error, which the ops not answered
 * get as their status too.
 */
int dshm_batch(int server_socket, struct dshm_op *ops, int n);

/* ---- System V-style shared segments --------------------------------- */

/*
 * These behave as Linux's shmget, shmat, shmdt and shmctl: the same
 * arguments, return values and errno, on segments that dshmd keeps (see
 * dshm(3) and docs/SEGMENTS.md for the few differences).  They share one
 * connection per process, opened on first use to dshm_set_server's
 * address, else $DSHM_SERVER, else the default Unix socket; a forked
 * child gets a connection of its own and keeps its parent's attachments,
 * as with the kernel.  Every call is safe from several threads.  When the
 * server cannot be reached a call fails with errno EIO.
 */
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/types.h>

/*
 * Chooses the server for the calls below ("HOST:PORT", "unix:PATH"; NULL
 * goes back to the default).  Closes the current connection, which
 * detaches nothing: call it before the first segment call.  Returns 0, or
 * -1 with errno EBUSY while this process has segments attached.
 */
int dshm_set_server(const char *addr);

int dshm_shmget(key_t key, size_t size, int shmflg);
void *dshm_shmat(int shmid, const void *shmaddr, int shmflg);
int dshm_shmdt(const void *shmaddr);
int dshm_shmctl(int shmid, int cmd, struct shmid_ds *buf);

/*
 * Publishes the bytes this process changed in the attachment at shmaddr
 * since its last sync (only those bytes: others' changes to the same page
 * are kept), then brings in what everyone else published.  dshm_shmdt
 * publishes too.  Returns 0, or -1 with errno (EINVAL: not an attachment).
 */
int dshm_sync(const void *shmaddr);

/* Reads or writes a byte range of a segment without attaching it: bytes moved, or -1 with errno. */
ssize_t dshm_read(int shmid, size_t offset, void *buf, size_t len);
ssize_t dshm_write(int shmid, size_t offset, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* DSHM_H */
