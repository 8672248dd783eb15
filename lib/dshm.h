/*
 * dshm.h — the public interface of libdshm, the client library of dshmd.
 *
 * Two APIs share one connection model:
 *  - the paging API (handshake, memory_init_process, memory_write,
 *    memory_read, memory_assign_pages, memory_finalize_process), with the
 *    exact signatures of the "Memoria" shared library it descends from;
 *  - dshm_batch, and a codec of requests and replies as bytes for programs
 *    that drive their own non-blocking socket, to keep many reads and
 *    writes in flight on one connection;
 *  - helpers to open connections and an optional logger.
 * Every call returns a status code from the list below; the library never
 * prints unless it is given a logger.
 */
#ifndef DSHM_H
#define DSHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "dshm_status.h"

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

/*
 * Why this thread's last attempt to connect failed, with the address and
 * the cause ("cannot connect to unix:/x.sock: No such file or directory
 * (is dshmd running?)", "bad address http://x: ...", or the uids of a
 * server not trusted); "" when it succeeded, or none was made.  The
 * segment calls connect on their first call and after a connection
 * broke, so after one fails this says whether connecting was the cause.
 */
const char *dshm_last_error(void);

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
 * (root's /run/dshm/dshm.sock; another user's $XDG_RUNTIME_DIR/dshm.sock,
 * else /tmp/dshm-UID/dshm.sock).  Before it sends anything it checks who
 * serves: over a Unix socket the server's uid (SO_PEERCRED), on a
 * loopback port the listening socket's owner, must be this process's
 * effective uid or root, or the uid (or user name) $DSHM_SERVER_UID
 * gives; another is DSHM_WRONG_SERVER, and dshm_last_error names both.
 * Over TCP it authenticates with the credential of dshm_set_auth or
 * $DSHM_AUTH_FILE when there is one.  Returns a connected socket
 * (close-on-exec, with the library's timeout applied),
 * DSHM_DISCONNECTED_SERVER (dshm_last_error says why), DSHM_BAD_ADDRESS
 * (addr is not an address, a port is outside 1..65535, a host does not
 * resolve), DSHM_WRONG_SERVER, DSHM_AUTH_FAILED, or DSHM_USER_LIMIT (the
 * credential's user holds its share of the server's connections).
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

/* The most bytes one read or write moves (a server's --max-data may be less). */
#define DSHM_MAX_DATA (16u << 20)

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
 * the following pages, up to DSHM_MAX_DATA bytes).  Returns DSHM_SUCCESS
 * when every reply arrived, else the connection's error, which the ops not
 * answered get as their status too.  It blocks until then (each wait
 * bounded by the timeout); an event-driven program uses the codec below.
 */
int dshm_batch(int server_socket, struct dshm_op *ops, int n);

/*
 * ---- requests and replies as bytes ----------------------------------
 *
 * For a program that drives the socket itself (non-blocking, from its own
 * event loop) and keeps many reads and writes in flight, as hiredis's
 * reader lets a Redis client do: these functions turn an op into the bytes
 * of its request and the bytes of a reply into a struct dshm_reply.  They
 * never touch a socket, allocate or block, and keep no state, so any
 * thread may call them; dshm_batch is built on them.
 *
 * What the caller must do:
 *  - Connect with dshm_connect (which authenticates where needed); then
 *    the socket may be made O_NONBLOCK.  While requests are in flight on
 *    it, no other call may use it (their replies would interleave); once
 *    none are, the blocking calls may (they work on O_NONBLOCK too).
 *  - Give each request an id (any 32-bit value, a counter will do) and
 *    remember each op and its id in the order sent.  The server answers
 *    every request once, in the order it received them, so the next reply
 *    always answers the oldest request not yet answered.  Check it with
 *    dshm_reply_check(that op, its id, reply): any answer other than the
 *    op's status means the stream is out of step, and the connection must
 *    be closed.  An op refused by an encoder is not sent and gets no reply.
 *  - Bound what is in flight.  dshmd stops reading a connection while 4
 *    MiB of its replies are unsent.  A program that reads whenever the
 *    socket is readable may keep any number of requests in flight: the
 *    server's pause shows only as EAGAIN on send, and it resumes as the
 *    replies are read.  A program that finishes its sends before it reads
 *    must keep the replies in flight below 4 MiB (a read's reply is
 *    DSHM_REPLY_HEAD_LEN + size bytes, a write's DSHM_REPLY_HEAD_LEN), or
 *    both ends wait for ever; dshm_batch keeps at most 256 ops and 1 MiB
 *    of replies in flight.
 *  - Many pages move in one op: a read or write runs on from (page,
 *    offset) into the following pages, up to DSHM_MAX_DATA bytes, and is
 *    atomic as a whole.  A server started with a smaller --max-data
 *    answers a larger op DSHM_TOO_LARGE and stays in step.
 */

#define DSHM_REQUEST_HEAD_LEN 32 /* a request before a write's data */
#define DSHM_REPLY_HEAD_LEN 16   /* a reply before a read's data */

/*
 * The bytes of op's request: DSHM_REQUEST_HEAD_LEN, plus size for a
 * write.  0 when op's kind, pid or size is one the encoders refuse.
 */
size_t dshm_op_request_size(const struct dshm_op *op);

/*
 * Encodes op's request, with id, into out[0..cap): the header, the
 * arguments and a write's size bytes copied from op->buffer; a read's
 * buffer is not used (dshm_reply_parse finds its bytes).  Checks op as
 * dshm_batch does: DSHM_BAD_REQUEST for a kind other than DSHM_OP_READ or
 * DSHM_OP_WRITE, a negative pid or size, or a write of size > 0 without a
 * buffer; DSHM_TOO_LARGE for size above DSHM_MAX_DATA.  DSHM_NO_MEMORY
 * when cap is less than dshm_op_request_size(op): nothing is written, so
 * the caller may send what it holds and encode again.  On DSHM_SUCCESS
 * *len is the bytes written.
 */
int dshm_op_encode(const struct dshm_op *op, uint32_t id, void *out, size_t cap, size_t *len);

/*
 * The same, but writes only the first DSHM_REQUEST_HEAD_LEN bytes (header
 * and arguments, which cap must hold) and never reads op->buffer: a
 * write's size bytes of data must follow them on the stream, placed there
 * by the caller (generated in place, or sent from their own buffer with
 * writev), so that they are not copied once more.
 */
int dshm_op_encode_head(const struct dshm_op *op, uint32_t id, void *out, size_t cap,
			size_t *len);

struct dshm_reply {
	uint32_t id;      /* the request's id */
	int kind;         /* DSHM_OP_READ, DSHM_OP_WRITE; 0 for any other request */
	int opcode;       /* the request's opcode on the wire (docs/PROTOCOL.md) */
	int status;       /* DSHM_SUCCESS or an error code */
	const void *data; /* a successful read's bytes, inside the parsed input; else NULL */
	size_t data_len;  /* bytes of data (the size asked for, on a successful read) */
};

/*
 * Parses the reply at the start of in[0..len).  Returns the reply's whole
 * length once in holds all of it (the caller consumes that many bytes),
 * with rep->data pointing into in: nothing is copied, and it stays valid
 * as long as those bytes do.  Returns 0 while the reply is incomplete;
 * once its DSHM_REPLY_HEAD_LEN header is in, rep is filled all the same
 * (data NULL), so a caller may receive a large read's data_len bytes
 * straight into a buffer of its own.  Returns DSHM_VERSION_MISMATCH when
 * the server speaks another version of the protocol, and
 * DSHM_DISCONNECTED_SERVER when the bytes are not a reply at all (bad
 * magic, a length above DSHM_MAX_DATA + 64, the protocol's cap): either
 * way the stream is lost.
 * (DSHM_BAD_REQUEST: rep is NULL.)
 */
ssize_t dshm_reply_parse(const void *in, size_t len, struct dshm_reply *rep);

/*
 * Whether rep, parsed (perhaps from its header alone), answers op sent
 * with id.  Returns rep->status, the op's outcome, when it does: same id
 * and kind, and data of exactly op->size bytes on a successful read, none
 * otherwise.  Returns DSHM_DISCONNECTED_SERVER when it does not (the
 * stream is out of step), DSHM_VERSION_MISMATCH when the server refused
 * the protocol's version.
 */
int dshm_reply_check(const struct dshm_op *op, uint32_t id, const struct dshm_reply *rep);

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

/*
 * A shmflg bit of dshm_shmat: a coherent attachment.  The mapping is the
 * segment's own memory, shared with dshmd and every process of its host
 * that attaches coherently, so every store is seen at once by every load,
 * as with the kernel's segments, and dshm_sync has nothing to do.  It
 * needs the server's Unix socket (the memory comes as a descriptor), or
 * through TCP a dshmd on this host named by $DSHM_LOCAL, which keeps
 * this host's copy coherent with the segment's home (docs/SEGMENTS.md,
 * "Across hosts"); else dshm_shmat fails with EIO.  dshm-run(1)
 * attaches this way.
 */
#define DSHM_SHM_COHERENT 04000000

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

/*
 * Reads or writes a byte range of a segment without attaching it: bytes
 * moved, or -1 with errno (EBUSY while other hosts hold pages of it).
 */
ssize_t dshm_read(int shmid, size_t offset, void *buf, size_t len);
ssize_t dshm_write(int shmid, size_t offset, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* DSHM_H */
