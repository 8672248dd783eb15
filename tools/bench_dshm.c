/*
 * bench_dshm.c — dshm-bench's dshm backend: reads and writes go through
 * libdshm's public codec (dshm_op_encode_head, dshm_reply_parse), as an
 * event-driven client of the library would send them.
 *
 * Each connection owns one paging process, pid = pid_base + connection
 * index, holding keys x ceil(size / frame) pages; key k is the value at
 * page k * ceil(size / frame), offset 0, one op however many pages it
 * spans.  Setup: HELLO (checks the frame size), PROC_FINALIZE (a leftover
 * from an earlier run; its error is ignored), PROC_INIT.  Teardown:
 * PROC_FINALIZE.  The codec has no op for these, so they are encoded with
 * ipc/common/proto.h; every reply is parsed by dshm_reply_parse.  A write's
 * value is generated in place after its head and a read's is left where
 * it arrived, so the harness pays what it pays the other backends.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "dshm.h"
#include "proto.h"

enum { STEP_HELLO, STEP_CLEAN, STEP_INIT, NSTEPS };

static unsigned
pages_per_value(const struct bench_config *cfg)
{
	return (unsigned)((cfg->size + cfg->frame_size - 1) / cfg->frame_size);
}

static unsigned
nsetup(const struct bench_config *cfg)
{
	(void)cfg;
	return NSTEPS;
}

static unsigned
nteardown(const struct bench_config *cfg)
{
	(void)cfg;
	return 1;
}

static int32_t
pid_of(const struct bench_conn *c)
{
	return c->cfg->pid_base + (int32_t)c->index;
}

/* The read or write of slot s, as the library's op (its value is not in buffer). */
static struct dshm_op
op_of(const struct bench_conn *c, const struct bench_slot *s)
{
	return (struct dshm_op){
		.kind = s->op == BOP_WRITE ? DSHM_OP_WRITE : DSHM_OP_READ,
		.pid = pid_of(c),
		.page = (int)(s->key * pages_per_value(c->cfg)),
		.offset = 0,
		.size = (int)c->cfg->size,
	};
}

static uint8_t
setup_opcode(const struct bench_slot *s)
{
	if (s->op == BOP_SETUP)
		return s->key == STEP_HELLO ? OP_HELLO : s->key == STEP_CLEAN ? OP_PROC_FINALIZE
									      : OP_PROC_INIT;
	return OP_PROC_FINALIZE;
}

static size_t
encode_setup(struct bench_conn *c, const struct bench_slot *s, unsigned char *out)
{
	const struct bench_config *cfg = c->cfg;
	struct proto_request r = {.opcode = setup_opcode(s), .id = s->id};

	if (r.opcode != OP_HELLO)
		r.arg[0] = pid_of(c);
	if (r.opcode == OP_PROC_INIT)
		r.arg[1] = (int32_t)(cfg->keys * pages_per_value(cfg));
	return proto_encode_request(out, &r);
}

static size_t
encode(struct bench_conn *c, const struct bench_slot *s, unsigned char *out)
{
	struct dshm_op op;
	size_t n;
	int rc;

	if (s->op != BOP_READ && s->op != BOP_WRITE)
		return encode_setup(c, s, out);
	op = op_of(c, s);
	rc = dshm_op_encode_head(&op, s->id, out, DSHM_REQUEST_HEAD_LEN, &n);
	if (rc != DSHM_SUCCESS) {
		/* bench_main's checks keep pid, page and size in range: a bug. */
		fprintf(stderr, "dshm-bench: dshm: connection %u: %s\n", c->index, dshm_strerror(rc));
		abort();
	}
	if (op.kind == DSHM_OP_WRITE) {
		bench_fill(c, s->key, s->version, out + n);
		n += (size_t)op.size;
	}
	return n;
}

/* HELLO's reply: the server's frames must be the size the pages were laid out with. */
static bool
hello_ok(const struct bench_conn *c, const struct dshm_reply *rep)
{
	struct proto_hello hello;

	proto_decode_hello(rep->data, &hello);
	if (hello.frame_size == c->cfg->frame_size)
		return true;
	if (c->index == 0)
		fprintf(stderr, "dshm-bench: dshm: the server's frames are %u bytes, not %u "
				"(--frame-size)\n",
			hello.frame_size, c->cfg->frame_size);
	return false;
}

static ssize_t
parse(struct bench_conn *c, const struct bench_slot *s, const unsigned char *in, size_t len,
      const unsigned char **data, size_t *dlen, bool *ok)
{
	struct dshm_reply rep;
	ssize_t n = dshm_reply_parse(in, len, &rep);

	if (n <= 0)
		return n < 0 ? -1 : 0;
	if (s->op == BOP_READ || s->op == BOP_WRITE) {
		struct dshm_op op = op_of(c, s);
		int status = dshm_reply_check(&op, s->id, &rep);

		if (status == DSHM_DISCONNECTED_SERVER || status == DSHM_VERSION_MISMATCH)
			return -1;
		*ok = status == DSHM_SUCCESS;
		*data = rep.data; /* inside in: not copied */
		*dlen = rep.data_len;
		return n;
	}
	if (rep.id != s->id || rep.opcode != setup_opcode(s))
		return -1;
	*ok = rep.status == DSHM_SUCCESS;
	if (rep.opcode == OP_HELLO && *ok) {
		if (rep.data_len != PROTO_HELLO_LEN)
			return -1;
		*ok = hello_ok(c, &rep);
	}
	if (s->op == BOP_SETUP && s->key == STEP_CLEAN)
		*ok = true; /* usually DSHM_NO_SUCH_PROCESS */
	return n;
}

const struct bench_backend bench_dshm = {
	.name = "dshm",
	.req_overhead = DSHM_REQUEST_HEAD_LEN,
	.rep_overhead = DSHM_REPLY_HEAD_LEN + PROTO_HELLO_LEN,
	.nsetup = nsetup,
	.nteardown = nteardown,
	.encode = encode,
	.parse = parse,
};
