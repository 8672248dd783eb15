/*
 * gather.h — replies whose bytes are still in the arena.
 *
 * A paging read is answered without copying its bytes into the reply
 * buffer: its header goes into the buffer, and the frames it covers are
 * listed as pieces to be inserted at that point, while the process's
 * lock (a procs_pin) keeps them from changing.  The next flush sends
 * buffer and pieces with one sendmsg, so the only copy is the kernel's,
 * from the arena into the socket.
 *
 * Invariants: pieces exist only while the pin is held; whatever a send
 * leaves over is copied into the buffer (settled) before the pin is
 * released, so no reply ever points at memory the lock no longer
 * guards; the buffer always has room reserved for every piece, so
 * settling cannot fail.  The pin is held only between serving a
 * connection's requests and flushing its replies, never while waiting.
 */
#ifndef DSHM_SRV_GATHER_H
#define DSHM_SRV_GATHER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "buf.h"
#include "procs.h"

#define GATHER_MAX 64 /* pieces (frames) one flush carries: 256 KiB of 4 KiB frames */

struct gather {
	struct table *t;         /* whose lock the pin holds */
	struct procs_pin pin;
	unsigned n;              /* pieces pending */
	size_t bytes;            /* their total length */
	size_t at[GATHER_MAX];   /* piece k goes before this byte of the buffer (from its start) */
	struct iovec piece[GATHER_MAX];
};

/*
 * Answers a paging read of size bytes at (pid, page, offset) into out,
 * pinning pid when the read succeeds; the pin must be unheld or hold
 * pid.  The caller checked that GATHER_MAX - n pieces are enough.
 * Returns false when out cannot grow (nothing was added).
 */
bool gather_read(struct gather *g, struct table *t, uint32_t caller, struct buf *out,
		 uint32_t id, int64_t pid, int64_t page, int64_t offset, int64_t size);

/* Whether a read of pid over pieces frames may join what g holds (else settle first). */
bool gather_fits(const struct gather *g, int64_t pid, uint64_t pieces);

/*
 * Copies the pending pieces into out where they belong, and releases the
 * pin.  Every reply appended to out while pieces are pending must come
 * after a settle or through gather_read, which keep room for them; should
 * out still be short of room and unable to grow, the replies from the
 * first pending piece's on are dropped and false returned: the
 * connection must then be closed once what precedes them is sent.
 */
bool gather_settle(struct gather *g, struct buf *out);

/*
 * Sends out with its pieces in one sendmsg, consumes what went, settles
 * the rest and releases the pin.  Returns what sendmsg returned (errno
 * kept), or -1 with ENOMEM when the rest could not be settled.
 */
ssize_t gather_send(struct gather *g, struct buf *out, int fd);

/* Forgets the pieces and releases the pin: the replies are being thrown away. */
void gather_drop(struct gather *g);

#endif /* DSHM_SRV_GATHER_H */
