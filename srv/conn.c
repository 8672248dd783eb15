/*
 * conn.c — request framing and reply buffering (see conn.h).
 *
 * Validate at the edge: a header is checked (magic, version, length cap)
 * before any of its body is buffered, and a body is decoded only once it
 * is complete.  A paging read served in place keeps its process locked
 * from conn_serve until the conn_flush that follows it; every reply
 * appended meanwhile goes after a settle (answer,
 * dispatch_gathered), so the room kept for the pieces stays theirs.
 */
#include "conn.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dshm.h"
#include "gather.h"

bool
conn_settle(struct conn *c)
{
	/* c stays the pending one: conn_serve may pin again after this, and its flush must know. */
	return c->pending->conn != c || gather_settle(&c->pending->g, &c->out);
}

/*
 * Appends a reply with no body, after the pieces pending: they are
 * settled first, since a reply appended behind their back would take the
 * room kept for them.
 */
static bool
answer(struct conn *c, uint8_t opcode, uint32_t id, int32_t status)
{
	return conn_settle(c) && reply_status(&c->out, opcode, id, status);
}

/* Replies waiting: the buffer's bytes and the pieces still in the arena. */
static size_t
out_len(const struct conn *c)
{
	return buf_len(&c->out) + (c->pending->conn == c ? c->pending->g.bytes : 0);
}

/* proto_check_header, with the body capped by --max-data rather than the protocol's most. */
static int
check_header(const struct conn *c, const struct proto_header *h)
{
	int rc = proto_check_header(h);

	if (rc == DSHM_SUCCESS &&
	    h->len > dispatch_config(&c->peer)->max_data + (PROTO_MAX_BODY - PROTO_MAX_DATA))
		rc = DSHM_TOO_LARGE;
	return rc;
}

/* A peer that has yet to authenticate sends nothing large: its header is answered at once. */
static bool
refused_before_auth(const struct conn *c, const struct proto_header *h)
{
	return c->peer.auth_required && h->len > CONN_AUTH_MAX_BODY;
}

bool
conn_can_serve(const struct conn *c)
{
	return out_len(c) < CONN_OUT_HIGH && c->nfds < CONN_MAX_FDS;
}

/* Queues the descriptor the reply just appended carries (see struct peer). */
static void
take_pass_fd(struct conn *c)
{
	c->peer.has_pass_fd = false;
	c->fds[c->nfds].at = buf_len(&c->out) - c->peer.pass_reply_len;
	c->fds[c->nfds].fd = c->peer.pass_fd;
	c->nfds++;
}

bool
conn_has_request(const struct conn *c)
{
	struct proto_header h;

	if (c->closing || buf_len(&c->in) < PROTO_HEADER_LEN)
		return false;
	proto_get_header(c->in.data + c->in.start, &h);
	return check_header(c, &h) != DSHM_SUCCESS || refused_before_auth(c, &h) ||
	       buf_len(&c->in) >= PROTO_HEADER_LEN + (size_t)h.len;
}

bool
conn_read(struct conn *c, struct conn_stats *st)
{
	while (!c->eof && !c->closing) {
		size_t want = CONN_READ_CHUNK;
		struct proto_header h;
		unsigned char *at;
		ssize_t n;

		/* A large request gets room for all of itself at once. */
		if (c->swallow == 0 && buf_len(&c->in) >= PROTO_HEADER_LEN) {
			proto_get_header(c->in.data + c->in.start, &h);
			if (check_header(c, &h) == DSHM_SUCCESS) {
				size_t need = PROTO_HEADER_LEN + (size_t)h.len;

				if (refused_before_auth(c, &h))
					return true; /* answered without its body */

				if (buf_len(&c->in) >= need)
					return true; /* serve it before reading more */
				if (need - buf_len(&c->in) > want)
					want = need - buf_len(&c->in);
			}
		}
		if ((at = buf_reserve(&c->in, want)) == NULL)
			return false;
		size_t room = c->in.cap - c->in.end;

		n = recv(c->fd, at, room, 0);
		if (n > 0) {
			c->in.end += (size_t)n;
			st->bytes_in += (uint64_t)n;
			/* Swallowed bytes are dropped as they come. */
			if (c->swallow > 0) {
				size_t drop = buf_len(&c->in) < c->swallow ? buf_len(&c->in) : c->swallow;

				buf_consume(&c->in, drop);
				c->swallow -= drop;
			}
			/*
			 * A short read took all there was: asking again would only
			 * return EAGAIN, a system call per request for nothing.  The
			 * socket is level-triggered, so what arrives later is
			 * announced again.
			 */
			if ((size_t)n < room)
				return true;
			continue;
		}
		if (n == 0) {
			c->eof = true;
			return true;
		}
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK;
	}
	return true;
}

bool
conn_take(struct conn *c, const void *data, size_t n, struct conn_stats *st)
{
	const unsigned char *p = data;
	unsigned char *at;

	st->bytes_in += n;
	if (c->swallow > 0) {
		size_t drop = n < c->swallow ? n : (size_t)c->swallow;

		p += drop;
		n -= drop;
		c->swallow -= drop;
	}
	if (n == 0)
		return true;
	if ((at = buf_reserve(&c->in, n)) == NULL)
		return false;
	memcpy(at, p, n);
	c->in.end += n;
	return true;
}

bool
conn_wants_input(const struct conn *c, size_t ahead)
{
	size_t first = 0;

	if (c->closing || c->eof || !conn_can_serve(c))
		return false;
	/* The first request's whole length when its header is in (one being swallowed: none). */
	if (c->swallow == 0 && buf_len(&c->in) >= PROTO_HEADER_LEN) {
		struct proto_header h;

		proto_get_header(c->in.data + c->in.start, &h);
		if (check_header(c, &h) == DSHM_SUCCESS && !refused_before_auth(c, &h))
			first = PROTO_HEADER_LEN + (size_t)h.len;
	}
	return buf_len(&c->in) < first + ahead;
}

bool
conn_serve(struct conn *c, struct table *t, struct conn_stats *st)
{
	/* Every conn_serve is followed by a flush that settles: nobody else's pieces wait. */
	assert(c->pending->conn == NULL || c->pending->conn == c || !c->pending->g.pin.held);
	c->pending->conn = c;
	for (int served = 0; !c->closing; served++) {
		struct proto_header h;
		struct proto_request r;
		int rc;

		if (!conn_can_serve(c))
			return false; /* resumes once replies (and descriptors) drain */
		if (buf_len(&c->in) < PROTO_HEADER_LEN)
			break;
		if (served == CONN_BUDGET)
			return true;
		proto_get_header(c->in.data + c->in.start, &h);
		rc = check_header(c, &h);
		if (rc == DSHM_BAD_REQUEST || rc == DSHM_VERSION_MISMATCH) {
			/* The stream cannot be trusted past this header: answer, then close. */
			answer(c, h.opcode, h.id, rc);
			c->closing = true;
			break;
		}
		if (rc == DSHM_TOO_LARGE) {
			if (!answer(c, h.opcode, h.id, rc))
				return c->closing = true, false;
			buf_consume(&c->in, PROTO_HEADER_LEN);
			c->swallow = h.len;
			size_t drop = buf_len(&c->in) < c->swallow ? buf_len(&c->in) : c->swallow;
			buf_consume(&c->in, drop);
			c->swallow -= drop;
			st->requests++;
			continue;
		}
		if (refused_before_auth(c, &h)) {
			/* Its body is never buffered: the answer, then the end. */
			answer(c, h.opcode, h.id, DSHM_AUTH_REQUIRED);
			c->closing = true;
			break;
		}
		if (buf_len(&c->in) < PROTO_HEADER_LEN + (size_t)h.len)
			break;
		rc = proto_decode_request(&h, c->in.data + c->in.start + PROTO_HEADER_LEN, &r);
		if (rc != DSHM_SUCCESS ? !answer(c, h.opcode, h.id, rc)
				       : !dispatch_gathered(t, &r, &c->peer, &c->out, &c->pending->g)) {
			c->closing = true; /* out of memory for the reply */
			break;
		}
		if (c->peer.has_pass_fd)
			take_pass_fd(c);
		if (c->peer.hang_up) {
			/* A failed authentication: its reply goes, then the connection. */
			buf_consume(&c->in, PROTO_HEADER_LEN + (size_t)h.len);
			st->requests++;
			c->closing = true;
			break;
		}
		buf_consume(&c->in, PROTO_HEADER_LEN + (size_t)h.len);
		st->requests++;
	}
	buf_trim(&c->in, 4 * CONN_READ_CHUNK);
	return false;
}

/*
 * Sends up to the next descriptor's reply, or that reply's bytes with
 * the descriptor: the kernel hands it over with the first byte, and
 * stops the peer's read there, so it reaches the read of its own reply.
 */
static ssize_t
send_with_fds(struct conn *c)
{
	size_t len = buf_len(&c->out);
	ssize_t n;

	if (c->fds[0].at > 0) {
		n = send(c->fd, c->out.data + c->out.start, c->fds[0].at, MSG_NOSIGNAL);
	} else {
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(sizeof(int))];
		} u;
		struct iovec iov = {c->out.data + c->out.start,
				    c->nfds > 1 ? c->fds[1].at : len};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.space,
				     .msg_controllen = sizeof(u.space)};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

		memset(&u, 0, sizeof(u));
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &c->fds[0].fd, sizeof(int));
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n > 0) {
			close(c->fds[0].fd);
			memmove(&c->fds[0], &c->fds[1], (c->nfds - 1) * sizeof(c->fds[0]));
			c->nfds--;
		}
	}
	if (n > 0) {
		buf_consume(&c->out, (size_t)n);
		for (unsigned i = 0; i < c->nfds; i++)
			c->fds[i].at -= c->fds[i].at >= (size_t)n ? (size_t)n : c->fds[i].at;
	}
	return n;
}

bool
conn_flush(struct conn *c, struct conn_stats *st)
{
	/* Descriptors are placed by byte: every reply goes through the buffer then. */
	if (c->nfds > 0 && !conn_settle(c))
		return false;
	while (out_len(c) > 0) {
		ssize_t n;

		if (c->nfds > 0) {
			n = send_with_fds(c);
		} else if (c->pending->conn == c && c->pending->g.pin.held) {
			/* One sendmsg for the buffer and the arena's pieces; it settles the rest. */
			n = gather_send(&c->pending->g, &c->out, c->fd);
			c->pending->conn = NULL;
		} else {
			n = send(c->fd, c->out.data + c->out.start, buf_len(&c->out), MSG_NOSIGNAL);
			if (n > 0)
				buf_consume(&c->out, (size_t)n);
		}

		if (n > 0) {
			st->bytes_out += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
	}
	/* gather_send released any pin above; this only makes sure (nothing to copy, cannot fail). */
	conn_settle(c);
	buf_trim(&c->out, 4 * CONN_READ_CHUNK);
	return true;
}

void
conn_free_buffers(struct conn *c)
{
	if (c->pending->conn == c) {
		gather_drop(&c->pending->g);
		c->pending->conn = NULL;
	}
	buf_free(&c->in);
	buf_free(&c->out);
	while (c->nfds > 0)
		close(c->fds[--c->nfds].fd);
}
