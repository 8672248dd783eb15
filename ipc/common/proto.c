/*
 * proto.c — encoding and decoding of dshm's wire protocol (see proto.h).
 *
 * Invariant: nothing is decoded from a body before its length has been
 * checked against the opcode's exact size and the hard cap.
 */
#include "proto.h"

#include "dshm_status.h"

static void
put_u16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}


void
proto_put_header(unsigned char *out, const struct proto_header *h)
{
	put_u16(out, h->magic);
	out[2] = h->version;
	out[3] = h->opcode;
	proto_put_u32(out + 4, h->id);
	proto_put_u32(out + 8, (uint32_t)h->status);
	proto_put_u32(out + 12, h->len);
}

void
proto_get_header(const unsigned char *in, struct proto_header *h)
{
	h->magic = (uint16_t)(in[0] << 8 | in[1]);
	h->version = in[2];
	h->opcode = in[3];
	h->id = proto_get_u32(in + 4);
	h->status = (int32_t)proto_get_u32(in + 8);
	h->len = proto_get_u32(in + 12);
}

const char *
proto_opcode_name(uint8_t opcode)
{
	static const char *const names[OP_MAX_] = {
		[OP_HELLO] = "hello",
		[OP_PROC_INIT] = "proc_init",
		[OP_PROC_ASSIGN] = "proc_assign",
		[OP_PROC_FINALIZE] = "proc_finalize",
		[OP_PROC_WRITE] = "proc_write",
		[OP_PROC_READ] = "proc_read",
		[OP_STATS] = "stats",
		[OP_IDENT] = "ident",
		[OP_SHM_GET] = "shm_get",
		[OP_SHM_CTL] = "shm_ctl",
		[OP_SHM_ATTACH] = "shm_attach",
		[OP_SHM_DETACH] = "shm_detach",
		[OP_SHM_READ] = "shm_read",
		[OP_SHM_WRITE] = "shm_write",
		[OP_AUTH] = "auth",
		[OP_SHM_MAP] = "shm_map",
		[OP_PAGER_REGISTER] = "pager_register",
		[OP_PAGER_UNREGISTER] = "pager_unregister",
		[OP_HOST_MAP] = "host_map",
		[OP_COH_JOIN] = "coh_join",
		[OP_COH_FETCH] = "coh_fetch",
		[OP_COH_RELEASE] = "coh_release",
		[OP_COH_RECALL] = "coh_recall",
		[OP_PEER_PORT] = "peer_port",
	};

	return opcode < OP_MAX_ ? names[opcode] : NULL;
}

int
proto_args_len(uint8_t opcode)
{
	switch (opcode) {
	case OP_HELLO:
	case OP_STATS:
		return 0;
	case OP_PROC_FINALIZE:
		return 4;
	case OP_PROC_INIT:
	case OP_PROC_ASSIGN:
		return 8;
	case OP_PROC_WRITE:
	case OP_PROC_READ:
		return 16;
	default:
		if (proto_raw_body(opcode))
			return 0;
		return -1;
	}
}

int
proto_check_header(const struct proto_header *h)
{
	if (h->magic != PROTO_MAGIC)
		return DSHM_BAD_REQUEST;
	if (h->version != PROTO_VERSION)
		return DSHM_VERSION_MISMATCH;
	if (h->len > PROTO_MAX_BODY)
		return DSHM_TOO_LARGE;
	return DSHM_SUCCESS;
}

int
proto_decode_request(const struct proto_header *h, const unsigned char *body,
		     struct proto_request *r)
{
	int args = proto_args_len(h->opcode);

	r->opcode = h->opcode;
	r->id = h->id;
	r->data = NULL;
	r->data_len = 0;
	if (args < 0 || h->len < (uint32_t)args)
		return DSHM_BAD_REQUEST;
	for (int i = 0; i < 4; i++)
		r->arg[i] = i * 4 < args ? (int32_t)proto_get_u32(body + i * 4) : 0;
	if (proto_raw_body(h->opcode)) {
		r->data = body;
		r->data_len = h->len;
	} else if (h->opcode == OP_PROC_WRITE) {
		/* The declared size must be exactly the data that follows. */
		if (r->arg[3] < 0 || (uint32_t)r->arg[3] != h->len - (uint32_t)args)
			return DSHM_BAD_REQUEST;
		r->data = body + args;
		r->data_len = h->len - (uint32_t)args;
	} else if (h->len != (uint32_t)args) {
		return DSHM_BAD_REQUEST;
	}
	return DSHM_SUCCESS;
}

size_t
proto_encode_request(unsigned char *out, const struct proto_request *r)
{
	int args = proto_args_len(r->opcode);
	struct proto_header h = {
		.magic = PROTO_MAGIC,
		.version = PROTO_VERSION,
		.opcode = r->opcode,
		.id = r->id,
		.status = 0,
		.len = (uint32_t)(args < 0 ? 0 : args) + r->data_len,
	};

	proto_put_header(out, &h);
	for (int i = 0; i * 4 < args; i++)
		proto_put_u32(out + PROTO_HEADER_LEN + i * 4, (uint32_t)r->arg[i]);
	return PROTO_HEADER_LEN + (size_t)(args < 0 ? 0 : args);
}

void
proto_encode_hello(unsigned char *out, const struct proto_hello *hello)
{
	proto_put_u32(out, hello->frame_size);
	proto_put_u32(out + 4, hello->max_data);
	proto_put_u64(out + 8, hello->nframes);
	proto_put_u64(out + 16, hello->frames_free);
}

void
proto_decode_hello(const unsigned char *in, struct proto_hello *hello)
{
	hello->frame_size = proto_get_u32(in);
	hello->max_data = proto_get_u32(in + 4);
	hello->nframes = proto_get_u64(in + 8);
	hello->frames_free = proto_get_u64(in + 16);
}
