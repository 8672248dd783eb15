/*
 * gather.c — replies whose bytes are still in the arena (see gather.h).
 */
#include "gather.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "proto.h"
#include "reply.h"
#include "dshm.h"
#include "fault.h"

bool
gather_read(struct gather *g, struct table *t, uint32_t caller, struct buf *out, uint32_t id,
	    int64_t pid, int64_t page, int64_t offset, int64_t size)
{
	unsigned k;
	int rc;

	/*
	 * Room now for this reply and for every piece pending, so that
	 * settling them later never needs memory it might not get.
	 */
	if (buf_reserve(out, g->bytes + PROTO_HEADER_LEN + (size > 0 ? (size_t)size : 0)) == NULL)
		return false;
	rc = procs_read_pin(t, caller, &g->pin, pid, page, offset, size, g->piece + g->n, &k);
	if (rc != DSHM_SUCCESS)
		return reply_status(out, OP_PROC_READ, id, rc);
	g->t = t;
	reply_put_header(out->data + out->end, OP_PROC_READ, id, rc, (uint32_t)size);
	out->end += PROTO_HEADER_LEN;
	for (unsigned i = 0; i < k; i++) {
		g->at[g->n] = buf_len(out);
		g->bytes += g->piece[g->n].iov_len;
		g->n++;
	}
	return true;
}

static void
release(struct gather *g)
{
	g->n = 0;
	g->bytes = 0;
	if (g->pin.held)
		procs_unpin(g->t, &g->pin);
}

bool
gather_fits(const struct gather *g, int64_t pid, uint64_t pieces)
{
	return !g->pin.held || (g->pin.pid == pid && pieces <= GATHER_MAX - g->n);
}

bool
gather_settle(struct gather *g, struct buf *out)
{
	unsigned char *base;
	size_t shift = g->bytes, tail = buf_len(out);

	if (g->n == 0) {
		release(g);
		return true;
	}
	FAULT_POINT("read_pinned"); /* as in gather_send: a worker dying here holds the lock */
	/*
	 * gather_read kept this room, so this normally finds it at once; it
	 * is here so that a reply appended behind the pieces' back can never
	 * make the copy below run past the buffer.
	 */
	if (buf_reserve(out, g->bytes) == NULL) {
		out->end = out->start + g->at[0] - PROTO_HEADER_LEN; /* that reply's header */
		release(g);
		return false;
	}
	base = out->data + out->start; /* not empty: it holds the pieces' headers */

	/*
	 * From the last piece back, each stretch of the buffer after a piece
	 * moves up by the pieces before it and the piece is copied into the
	 * gap: every byte moves once, into room gather_read reserved.
	 */
	for (unsigned k = g->n; k-- > 0;) {
		memmove(base + g->at[k] + shift, base + g->at[k], tail - g->at[k]);
		shift -= g->piece[k].iov_len;
		memcpy(base + g->at[k] + shift, g->piece[k].iov_base, g->piece[k].iov_len);
		tail = g->at[k];
	}
	out->end += g->bytes;
	release(g);
	return true;
}

ssize_t
gather_send(struct gather *g, struct buf *out, int fd)
{
	struct iovec iov[2 * GATHER_MAX + 1];
	struct msghdr msg = {.msg_iov = iov};
	unsigned char *base = out->data ? out->data + out->start : NULL;
	size_t pos = 0, len = buf_len(out);
	ssize_t n;
	int saved;

	for (unsigned k = 0; k < g->n; k++) {
		if (g->at[k] > pos)
			iov[msg.msg_iovlen++] = (struct iovec){base + pos, g->at[k] - pos};
		pos = g->at[k];
		iov[msg.msg_iovlen++] = g->piece[k];
	}
	if (len > pos)
		iov[msg.msg_iovlen++] = (struct iovec){base + pos, len - pos};
	if (g->pin.held)
		FAULT_POINT("read_pinned"); /* a worker dying here holds a process's lock */
	n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	saved = errno;
	if (n >= 0 && (size_t)n == len + g->bytes) {
		buf_consume(out, len);
		release(g);
	} else {
		/* The socket took part or nothing: the rest waits as plain bytes. */
		if (!gather_settle(g, out)) {
			errno = ENOMEM;
			return -1;
		}
		if (n > 0)
			buf_consume(out, (size_t)n);
	}
	errno = saved;
	return n;
}

void
gather_drop(struct gather *g)
{
	release(g);
}
