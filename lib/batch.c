/*
 * batch.c — dshm_batch: many paging reads and writes in flight on one
 * blocking connection, built on the codec of pipeline.c.
 *
 * Invariants: at most BATCH_MAX_OPS requests and BATCH_MAX_REPLY bytes of
 * replies are outstanding.  dshmd stops reading a connection whose
 * unsent replies pass 4 MiB, so a client that sent without bound while
 * not reading could block both ends; with replies bounded well below
 * that, the server always keeps reading and every send completes.
 * A write's data go from the caller's buffer to the socket, and a read's
 * from the socket to the caller's buffer, without a copy in between.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "client.h"
#include "dshm.h"

#define BATCH_MAX_OPS 256
#define BATCH_MAX_REPLY (1u << 20)

/* An op of the window: its request's head, kept until the reply came. */
struct slot {
	unsigned char head[DSHM_REQUEST_HEAD_LEN];
	uint32_t id;
	bool sent; /* false: refused here, so no reply will come for it */
};

static size_t
reply_bytes(const struct dshm_op *op)
{
	return op->kind == DSHM_OP_READ ? (size_t)op->size : 0;
}

/*
 * Encodes op's head into s.  The data stay in op->buffer and go out from
 * there, so the buffer is needed whenever there are data, a read's too.
 */
static int
encode(const struct dshm_op *op, struct slot *s)
{
	size_t len;

	if (op->size > 0 && op->buffer == NULL)
		return DSHM_BAD_REQUEST;
	s->id = client_new_id();
	return dshm_op_encode_head(op, s->id, s->head, sizeof(s->head), &len);
}

/*
 * Receives the reply to op: its header, then a read's bytes straight into
 * op->buffer (the header alone tells how many).  Returns the op's status,
 * or DSHM_DISCONNECTED_SERVER / DSHM_VERSION_MISMATCH when the stream is
 * lost.
 */
static int
receive(int fd, const struct dshm_op *op, uint32_t id, int64_t deadline)
{
	unsigned char head[DSHM_REPLY_HEAD_LEN];
	struct dshm_reply rep;
	ssize_t n;
	int status;

	if (!client_recv(fd, head, sizeof(head), deadline))
		return DSHM_DISCONNECTED_SERVER;
	if ((n = dshm_reply_parse(head, sizeof(head), &rep)) < 0)
		return (int)n;
	status = dshm_reply_check(op, id, &rep);
	if (status == DSHM_DISCONNECTED_SERVER || status == DSHM_VERSION_MISMATCH)
		return status;
	if (rep.data_len > 0 && !client_recv(fd, op->buffer, rep.data_len, deadline))
		return DSHM_DISCONNECTED_SERVER;
	return status;
}

int
dshm_batch(int server_socket, struct dshm_op *ops, int n)
{
	struct slot window[BATCH_MAX_OPS];
	struct iovec iov[2 * BATCH_MAX_OPS];
	int sent = 0, done = 0, rc = DSHM_SUCCESS;
	size_t pending = 0; /* reply bytes outstanding */
	int64_t deadline;

	if (server_socket < 0)
		return DSHM_DISCONNECTED_CLIENT;
	if (n < 0 || (n > 0 && ops == NULL))
		return DSHM_BAD_REQUEST;
	client_lock_socket(server_socket);
	deadline = client_deadline();
	while (done < n && rc == DSHM_SUCCESS) {
		int niov = 0;

		/*
		 * Encode while the window has room (one op always fits, however
		 * large), then send all of them with one call.
		 */
		while (sent < n && sent - done < BATCH_MAX_OPS &&
		       (sent == done || pending + reply_bytes(&ops[sent]) <= BATCH_MAX_REPLY)) {
			struct slot *s = &window[sent % BATCH_MAX_OPS];
			struct dshm_op *op = &ops[sent];
			int bad = encode(op, s);

			if (bad != DSHM_SUCCESS) {
				/* Refused here: it never reaches the server, the others go on. */
				op->status = bad;
				if (sent == done)
					done++;
				else
					s->sent = false;
				sent++;
				continue;
			}
			s->sent = true;
			iov[niov++] = (struct iovec){s->head, DSHM_REQUEST_HEAD_LEN};
			if (op->kind == DSHM_OP_WRITE && op->size > 0)
				iov[niov++] = (struct iovec){op->buffer, (size_t)op->size};
			pending += reply_bytes(op);
			sent++;
		}
		if (niov > 0 && !client_send(server_socket, iov, niov, deadline)) {
			rc = DSHM_DISCONNECTED_SERVER;
			break;
		}
		/* Then take the oldest reply. */
		while (done < sent && rc == DSHM_SUCCESS) {
			struct slot *s = &window[done % BATCH_MAX_OPS];
			struct dshm_op *op = &ops[done];

			if (!s->sent) {
				done++;
				continue;
			}
			op->status = receive(server_socket, op, s->id, deadline);
			if (op->status == DSHM_DISCONNECTED_SERVER ||
			    op->status == DSHM_VERSION_MISMATCH) {
				rc = op->status;
				break;
			}
			pending -= reply_bytes(op);
			done++;
			/* The timeout bounds a wait for progress, not the whole batch. */
			deadline = client_deadline();
			break; /* one reply makes room: go back to sending */
		}
	}
	if (rc != DSHM_SUCCESS) {
		shutdown(server_socket, SHUT_RDWR); /* out of step for good */
		for (int i = done; i < n; i++)
			if (i >= sent || window[i % BATCH_MAX_OPS].sent)
				ops[i].status = rc;
	}
	client_unlock_socket(server_socket);
	return rc;
}
