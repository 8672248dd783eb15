/*
 * dispatch.c — request execution (see dispatch.h).
 *
 * Invariant: a reply is appended for every request, in order; a read's
 * bytes are copied from the arena straight into the output buffer, or,
 * through dispatch_gathered, left in the arena under the process's lock
 * for the flush to send (see gather.h).
 */
#include "dispatch.h"

#include "dshm.h"
#include "gather.h"
#include "procs.h"
#include "stats.h"

const struct serve_config *
dispatch_config(const struct peer *p)
{
	static const struct serve_config defaults = {PROTO_MAX_DATA, 0};

	return p->config != NULL ? p->config : &defaults;
}

static bool
reply_hello(struct table *t, const struct peer *p, const struct proto_request *r,
	    struct buf *out)
{
	unsigned char *at = buf_reserve(out, PROTO_HEADER_LEN + PROTO_HELLO_LEN);
	struct proto_hello hello = {
		.frame_size = t->hdr->frame_size,
		.max_data = dispatch_config(p)->max_data,
		.nframes = t->hdr->nframes,
		.frames_free = t->hdr->frames_free, /* a snapshot, read without the lock */
	};

	if (at == NULL)
		return false;
	reply_put_header(at, r->opcode, r->id, DSHM_SUCCESS, PROTO_HELLO_LEN);
	proto_encode_hello(at + PROTO_HEADER_LEN, &hello);
	out->end += PROTO_HEADER_LEN + PROTO_HELLO_LEN;
	return true;
}

/* Who asks, for the paging processes' ownership (procs.h): the uid the kernel vouched for. */
static uint32_t
caller(const struct peer *p)
{
	return p->cred ? p->uid : PROCS_UNKNOWN;
}

static bool
reply_read(struct table *t, uint32_t who, const struct proto_request *r, struct buf *out)
{
	int32_t size = r->arg[3];
	unsigned char *at;
	int rc;

	if ((at = buf_reserve(out, PROTO_HEADER_LEN + (size_t)size)) == NULL)
		return false;
	rc = procs_read(t, who, r->arg[0], r->arg[1], r->arg[2], at + PROTO_HEADER_LEN, size);
	if (rc != DSHM_SUCCESS)
		size = 0;
	reply_put_header(at, r->opcode, r->id, rc, (uint32_t)size);
	out->end += PROTO_HEADER_LEN + (size_t)size;
	return true;
}

static bool
reply_stats(struct table *t, const struct proto_request *r, struct buf *out)
{
	/* Counters move while we format: room for them to grow, and a cap if they outgrow it. */
	size_t cap = stats_format(t, NULL, 0) + 256, len;
	unsigned char *at = buf_reserve(out, PROTO_HEADER_LEN + cap);

	if (at == NULL)
		return false;
	len = stats_format(t, (char *)at + PROTO_HEADER_LEN, cap);
	if (len > cap - 1)
		len = cap - 1;
	reply_put_header(at, r->opcode, r->id, DSHM_SUCCESS, (uint32_t)len);
	out->end += PROTO_HEADER_LEN + len;
	return true;
}

/*
 * The checks every paging request passes once, after decoding and before
 * any path serves it (copied or sent from the arena): who may ask, and
 * the sizes against this worker's --max-data.  DSHM_SUCCESS, or the code
 * to answer with.
 */
static int
admissible(const struct proto_request *r, const struct peer *p)
{
	uint32_t max = dispatch_config(p)->max_data;

	/* A peer that must authenticate gets an error for anything else. */
	if (p->auth_required && r->opcode != OP_AUTH)
		return DSHM_AUTH_REQUIRED;
	switch (r->opcode) {
	case OP_PROC_READ:
		if (r->arg[3] < 0)
			return DSHM_BAD_REQUEST;
		return (uint32_t)r->arg[3] > max ? DSHM_TOO_LARGE : DSHM_SUCCESS;
	case OP_PROC_WRITE:
		/* The body's cap leaves room for arguments; the data itself stops at max_data. */
		return r->data_len > max ? DSHM_TOO_LARGE : DSHM_SUCCESS;
	default:
		return DSHM_SUCCESS;
	}
}

/* dispatch, for a request that passed admissible. */
static bool
serve(struct table *t, const struct proto_request *r, struct peer *p, struct buf *out)
{
	int rc;

	if (r->opcode == OP_AUTH)
		return dispatch_auth(r, p, out);
	if (proto_raw_body(r->opcode))
		return dispatch_shm(t, r, p, out);
	switch (r->opcode) {
	case OP_HELLO:
		return reply_hello(t, p, r, out);
	case OP_PROC_READ:
		return reply_read(t, caller(p), r, out);
	case OP_STATS:
		return reply_stats(t, r, out);
	case OP_PROC_INIT:
		rc = procs_init(t, caller(p), r->arg[0], r->arg[1]);
		break;
	case OP_PROC_ASSIGN:
		rc = procs_assign(t, caller(p), r->arg[0], r->arg[1]);
		break;
	case OP_PROC_FINALIZE:
		rc = procs_finalize(t, caller(p), r->arg[0]);
		break;
	case OP_PROC_WRITE:
		rc = procs_write(t, caller(p), r->arg[0], r->arg[1], r->arg[2], r->data, r->data_len);
		break;
	default:
		rc = DSHM_BAD_REQUEST;
		break;
	}
	return reply_status(out, r->opcode, r->id, rc);
}

bool
dispatch(struct table *t, const struct proto_request *r, struct peer *p, struct buf *out)
{
	int rc = admissible(r, p);

	return rc == DSHM_SUCCESS ? serve(t, r, p, out) : reply_status(out, r->opcode, r->id, rc);
}

bool
dispatch_gathered(struct table *t, const struct proto_request *r, struct peer *p,
		  struct buf *out, struct gather *g)
{
	int64_t pid = r->arg[0], offset = r->arg[2], size = r->arg[3];
	uint64_t pieces;
	int rc = admissible(r, p);

	/* Only reads that fit one flush go in place; the rest as dispatch serves them. */
	if (rc != DSHM_SUCCESS)
		return gather_settle(g, out) && reply_status(out, r->opcode, r->id, rc);
	if (r->opcode != OP_PROC_READ || (pieces = procs_read_pieces(t, offset, size)) > GATHER_MAX)
		return gather_settle(g, out) && serve(t, r, p, out);
	if (!gather_fits(g, pid, pieces) && !gather_settle(g, out))
		return false;
	return gather_read(g, t, caller(p), out, r->id, pid, r->arg[1], offset, size);
}
