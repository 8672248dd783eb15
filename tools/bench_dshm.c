/*
 * bench_dshm.c — dshm-bench's dshm backend: dshm's own wire protocol,
 * encoded with ipc/proto.h's codec (the one libdshm uses).
 *
 * Each connection owns one paging process, pid = pid_base + connection
 * index, holding keys x ceil(size / frame) pages; key k is the value at
 * page k * ceil(size / frame), offset 0.  Setup: HELLO (checks the frame
 * size), PROC_FINALIZE (a leftover from an earlier run; its error is
 * ignored), PROC_INIT.  Teardown: PROC_FINALIZE.
 */
#include <stdio.h>

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

static uint8_t
opcode_of(const struct bench_slot *s)
{
	switch (s->op) {
	case BOP_READ:
		return OP_PROC_READ;
	case BOP_WRITE:
		return OP_PROC_WRITE;
	case BOP_SETUP:
		return s->key == STEP_HELLO ? OP_HELLO : s->key == STEP_CLEAN ? OP_PROC_FINALIZE
									      : OP_PROC_INIT;
	default:
		return OP_PROC_FINALIZE;
	}
}

static size_t
encode(struct bench_conn *c, const struct bench_slot *s, unsigned char *out)
{
	const struct bench_config *cfg = c->cfg;
	int32_t pid = cfg->pid_base + (int32_t)c->index;
	struct proto_request r = {.opcode = opcode_of(s), .id = s->id};
	size_t n;

	switch (r.opcode) {
	case OP_PROC_INIT:
		r.arg[0] = pid;
		r.arg[1] = (int32_t)(cfg->keys * pages_per_value(cfg));
		break;
	case OP_PROC_FINALIZE:
		r.arg[0] = pid;
		break;
	case OP_PROC_READ:
	case OP_PROC_WRITE:
		r.arg[0] = pid;
		r.arg[1] = (int32_t)(s->key * pages_per_value(cfg));
		r.arg[2] = 0;
		r.arg[3] = (int32_t)cfg->size;
		if (r.opcode == OP_PROC_WRITE)
			r.data_len = (uint32_t)cfg->size;
		break;
	default:
		break;
	}
	n = proto_encode_request(out, &r);
	if (r.opcode == OP_PROC_WRITE) {
		bench_fill(c, s->key, s->version, out + n);
		n += cfg->size;
	}
	return n;
}

static ssize_t
parse(struct bench_conn *c, const struct bench_slot *s, const unsigned char *in, size_t len,
      const unsigned char **data, size_t *dlen, bool *ok)
{
	struct proto_header h;
	uint8_t op = opcode_of(s);

	if (len < PROTO_HEADER_LEN)
		return 0;
	proto_get_header(in, &h);
	if (h.magic != PROTO_MAGIC || h.id != s->id || h.opcode != op || h.len > PROTO_MAX_BODY)
		return -1;
	if (len - PROTO_HEADER_LEN < h.len)
		return 0;
	*ok = h.status == DSHM_SUCCESS;
	*data = in + PROTO_HEADER_LEN;
	*dlen = h.len;
	if (op == OP_HELLO && *ok) {
		struct proto_hello hello;

		if (h.len != PROTO_HELLO_LEN)
			return -1;
		proto_decode_hello(*data, &hello);
		if (hello.frame_size != c->cfg->frame_size) {
			if (c->index == 0)
				fprintf(stderr, "dshm-bench: dshm: the server's frames are %u bytes, not %u "
						"(--frame-size)\n",
					hello.frame_size, c->cfg->frame_size);
			*ok = false;
		}
	}
	if (s->op == BOP_SETUP && s->key == STEP_CLEAN)
		*ok = true; /* usually DSHM_NO_SUCH_PROCESS */
	return (ssize_t)(PROTO_HEADER_LEN + h.len);
}

const struct bench_backend bench_dshm = {
	.name = "dshm",
	.req_overhead = PROTO_HEADER_LEN + 16,
	.rep_overhead = PROTO_HEADER_LEN + PROTO_HELLO_LEN,
	.nsetup = nsetup,
	.nteardown = nteardown,
	.encode = encode,
	.parse = parse,
};
