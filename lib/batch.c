/*
 * batch.c — dshm_batch: many paging reads and writes in flight on one
 * connection.
 *
 * Invariant: at most BATCH_MAX_OPS requests and BATCH_MAX_REPLY bytes of
 * replies are outstanding.  dshmd stops reading a connection whose
 * unsent replies pass 4 MiB, so a client that sent without bound while
 * not reading could block both ends; with replies bounded well below
 * that, the server always keeps reading and every send completes.
 */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "client.h"
#include "dshm.h"

#define BATCH_MAX_OPS 256
#define BATCH_MAX_REPLY (1u << 20)

/* The request of op, checked as memory_read and memory_write check theirs. */
static int
build(const struct dshm_op *op, struct proto_request *r)
{
	if ((op->kind != DSHM_OP_READ && op->kind != DSHM_OP_WRITE) || op->pid < 0 ||
	    op->size < 0 || (op->size > 0 && op->buffer == NULL))
		return DSHM_BAD_REQUEST;
	if ((uint32_t)op->size > PROTO_MAX_DATA)
		return DSHM_TOO_LARGE;
	*r = (struct proto_request){
		.opcode = op->kind == DSHM_OP_READ ? OP_PROC_READ : OP_PROC_WRITE,
		.arg = {op->pid, op->page, op->offset, op->size},
		.data_len = op->kind == DSHM_OP_WRITE ? (uint32_t)op->size : 0,
	};
	return DSHM_SUCCESS;
}

static size_t
reply_bytes(const struct dshm_op *op)
{
	return op->kind == DSHM_OP_READ ? (size_t)op->size : 0;
}

int
dshm_batch(int server_socket, struct dshm_op *ops, int n)
{
	struct proto_request inflight[BATCH_MAX_OPS];
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
		/* Send while the window has room (one op always fits, however large). */
		while (sent < n && sent - done < BATCH_MAX_OPS &&
		       (sent == done || pending + reply_bytes(&ops[sent]) <= BATCH_MAX_REPLY)) {
			struct proto_request *r = &inflight[sent % BATCH_MAX_OPS];
			int bad = build(&ops[sent], r);

			if (bad != DSHM_SUCCESS) {
				/* Refused here: it never reaches the server, the others go on. */
				ops[sent].status = bad;
				if (sent == done)
					done++;
				else
					r->opcode = 0; /* a hole: no reply will come for it */
				sent++;
				continue;
			}
			if (!client_send_request(server_socket, r, ops[sent].buffer, deadline)) {
				rc = DSHM_DISCONNECTED_SERVER;
				break;
			}
			pending += reply_bytes(&ops[sent]);
			sent++;
		}
		/* Then take the oldest reply. */
		while (done < sent && rc == DSHM_SUCCESS) {
			struct proto_request *r = &inflight[done % BATCH_MAX_OPS];
			struct dshm_op *op = &ops[done];

			if (r->opcode == 0) {
				done++;
				continue;
			}
			op->status = client_recv_reply(server_socket, r, op->buffer,
						       reply_bytes(op), NULL, deadline);
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
			if (i >= sent || inflight[i % BATCH_MAX_OPS].opcode != 0)
				ops[i].status = rc;
	}
	client_unlock_socket(server_socket);
	return rc;
}
