/*
 * pipeline.c — the public codec of paging reads and writes as bytes
 * (dshm_op_encode, dshm_reply_parse...), for callers that own their socket.
 *
 * Invariants: an op is checked completely before a byte of out is
 * written, and nothing is written past cap; a reply's header is checked
 * (magic, version, length cap) before its length is trusted; a parsed
 * read's data are never copied: they stay where the caller's bytes are.
 */
#include <string.h>

#include "dshm.h"
#include "proto.h"

_Static_assert(DSHM_REQUEST_HEAD_LEN == PROTO_HEADER_LEN + 16, "read/write: header + 4 args");
_Static_assert(DSHM_REPLY_HEAD_LEN == PROTO_HEADER_LEN, "a reply is a header, then data");
_Static_assert(DSHM_MAX_DATA == PROTO_MAX_DATA, "one cap for the library and the protocol");

/* op's kind, pid and size, the checks that need no buffer. */
static int
check_op(const struct dshm_op *op)
{
	if ((op->kind != DSHM_OP_READ && op->kind != DSHM_OP_WRITE) || op->pid < 0 ||
	    op->size < 0)
		return DSHM_BAD_REQUEST;
	if ((uint32_t)op->size > DSHM_MAX_DATA)
		return DSHM_TOO_LARGE;
	return DSHM_SUCCESS;
}

static size_t
data_bytes(const struct dshm_op *op)
{
	return op->kind == DSHM_OP_WRITE ? (size_t)op->size : 0;
}

size_t
dshm_op_request_size(const struct dshm_op *op)
{
	if (op == NULL || check_op(op) != DSHM_SUCCESS)
		return 0;
	return DSHM_REQUEST_HEAD_LEN + data_bytes(op);
}

/* Writes header and arguments; the caller has checked op and the room. */
static void
put_head(const struct dshm_op *op, uint32_t id, unsigned char *out)
{
	struct proto_request r = {
		.opcode = op->kind == DSHM_OP_READ ? OP_PROC_READ : OP_PROC_WRITE,
		.id = id,
		.arg = {op->pid, op->page, op->offset, op->size},
		.data_len = (uint32_t)data_bytes(op),
	};

	proto_encode_request(out, &r);
}

int
dshm_op_encode_head(const struct dshm_op *op, uint32_t id, void *out, size_t cap, size_t *len)
{
	int rc;

	if (op == NULL || out == NULL || len == NULL)
		return DSHM_BAD_REQUEST;
	if ((rc = check_op(op)) != DSHM_SUCCESS)
		return rc;
	if (cap < DSHM_REQUEST_HEAD_LEN)
		return DSHM_NO_MEMORY;
	put_head(op, id, out);
	*len = DSHM_REQUEST_HEAD_LEN;
	return DSHM_SUCCESS;
}

int
dshm_op_encode(const struct dshm_op *op, uint32_t id, void *out, size_t cap, size_t *len)
{
	size_t data;
	int rc;

	if (op == NULL || out == NULL || len == NULL)
		return DSHM_BAD_REQUEST;
	if ((rc = check_op(op)) != DSHM_SUCCESS)
		return rc;
	data = data_bytes(op);
	if (data > 0 && op->buffer == NULL)
		return DSHM_BAD_REQUEST;
	if (cap < DSHM_REQUEST_HEAD_LEN + data)
		return DSHM_NO_MEMORY;
	put_head(op, id, out);
	if (data > 0)
		memcpy((unsigned char *)out + DSHM_REQUEST_HEAD_LEN, op->buffer, data);
	*len = DSHM_REQUEST_HEAD_LEN + data;
	return DSHM_SUCCESS;
}

static int
kind_of(uint8_t opcode)
{
	return opcode == OP_PROC_READ ? DSHM_OP_READ : opcode == OP_PROC_WRITE ? DSHM_OP_WRITE : 0;
}

ssize_t
dshm_reply_parse(const void *in, size_t len, struct dshm_reply *rep)
{
	struct proto_header h;

	if (rep == NULL || (in == NULL && len > 0))
		return DSHM_BAD_REQUEST;
	if (len < PROTO_HEADER_LEN)
		return 0;
	proto_get_header(in, &h);
	/* magic and version keep their offsets in every version; the rest may not. */
	if (h.magic != PROTO_MAGIC)
		return DSHM_DISCONNECTED_SERVER;
	if (h.version != PROTO_VERSION)
		return DSHM_VERSION_MISMATCH;
	if (h.len > PROTO_MAX_BODY)
		return DSHM_DISCONNECTED_SERVER;
	*rep = (struct dshm_reply){
		.id = h.id,
		.kind = kind_of(h.opcode),
		.opcode = h.opcode,
		.status = h.status,
		.data_len = h.len,
	};
	if (len - PROTO_HEADER_LEN < h.len)
		return 0;
	if (h.len > 0)
		rep->data = (const unsigned char *)in + PROTO_HEADER_LEN;
	return (ssize_t)(PROTO_HEADER_LEN + (size_t)h.len);
}

int
dshm_reply_check(const struct dshm_op *op, uint32_t id, const struct dshm_reply *rep)
{
	size_t want;

	if (op == NULL || rep == NULL)
		return DSHM_BAD_REQUEST;
	if (rep->status == DSHM_VERSION_MISMATCH)
		return DSHM_VERSION_MISMATCH;
	/* A successful read carries exactly the bytes asked for; everything else, none. */
	want = rep->status == DSHM_SUCCESS && op->kind == DSHM_OP_READ ? (size_t)op->size : 0;
	if (rep->id != id || rep->kind != op->kind || op->kind == 0 || rep->data_len != want)
		return DSHM_DISCONNECTED_SERVER;
	return rep->status;
}
