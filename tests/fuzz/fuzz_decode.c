/*
 * fuzz_decode.c — libFuzzer target for the request decoder: one request
 * (a 16-byte header, then its body) through proto_check_header and
 * proto_decode_request exactly as conn_serve calls them, then through the
 * dispatcher, which decodes the segment operations' bodies
 * (srv/dispatch_shm.c), against a small table that already holds a paging
 * process and two segments (one attached by this connection).
 *
 * Oracles besides the sanitizers: the header check and the decode agree
 * with a model of docs/PROTOCOL.md; a decoded request encodes back to the
 * same bytes; the dispatcher answers with exactly one well-formed reply
 * naming the request; the table keeps its invariants (fuzz_common.h).
 * The body lies in a buffer of exactly its length, so any over-read is an
 * ASan report.  The header's len field is replaced by the body's real
 * length (the server decodes only once len bytes are in).  The id's low
 * two bits choose the peer: root, uid 1000 or uid 1001 over Unix, or TCP;
 * bit 2 makes a TCP peer one that must authenticate (--auth-file).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include "fuzz_common.h"
#include "procs.h"
#include "segs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fuzz_world world;
static bool world_ready;

/* The model of proto_check_header (docs/PROTOCOL.md, "Errors and resynchronisation"). */
static int
expected_check(const struct proto_header *h)
{
	if (h->magic != PROTO_MAGIC)
		return DSHM_BAD_REQUEST;
	if (h->version != PROTO_VERSION)
		return DSHM_VERSION_MISMATCH;
	if (h->len > PROTO_MAX_BODY)
		return DSHM_TOO_LARGE;
	return DSHM_SUCCESS;
}

/* The model of proto_decode_request: whether a body of len bytes is acceptable. */
static int
expected_decode(uint8_t opcode, uint32_t len, const unsigned char *body)
{
	switch (opcode) {
	case OP_HELLO:
	case OP_STATS:
		return len == 0 ? DSHM_SUCCESS : DSHM_BAD_REQUEST;
	case OP_PROC_FINALIZE:
		return len == 4 ? DSHM_SUCCESS : DSHM_BAD_REQUEST;
	case OP_PROC_INIT:
	case OP_PROC_ASSIGN:
		return len == 8 ? DSHM_SUCCESS : DSHM_BAD_REQUEST;
	case OP_PROC_READ:
		return len == 16 ? DSHM_SUCCESS : DSHM_BAD_REQUEST;
	case OP_PROC_WRITE:
		return len >= 16 && proto_get_u32(body + 12) == len - 16 &&
				       (int32_t)proto_get_u32(body + 12) >= 0
			       ? DSHM_SUCCESS
			       : DSHM_BAD_REQUEST;
	default:
		return opcode >= OP_IDENT && opcode < OP_MAX_ ? DSHM_SUCCESS : DSHM_BAD_REQUEST;
	}
}

/* Checks what a successful decode produced against the bytes it came from. */
static void
check_decoded(const struct proto_header *h, const unsigned char *body,
	      const struct proto_request *r)
{
	int args = proto_args_len(h->opcode);
	unsigned char enc[PROTO_HEADER_LEN + 16];
	struct proto_header eh;
	size_t n;

	if (r->opcode != h->opcode || r->id != h->id)
		fuzz_fail("decode", "opcode or id not carried over");
	if (args < 0)
		fuzz_fail("decode", "an unknown opcode decoded");
	if (proto_raw_body(h->opcode)) {
		if (r->data != body || r->data_len != h->len)
			fuzz_fail("decode", "a segment operation's body is not passed whole");
		return;
	}
	if (h->opcode == OP_PROC_WRITE) {
		if (r->data != body + 16 || r->data_len != h->len - 16 ||
		    (uint32_t)r->arg[3] != r->data_len)
			fuzz_fail("decode", "a write's data is not the bytes after its arguments");
	} else if (r->data_len != 0 || (uint32_t)args != h->len) {
		fuzz_fail("decode", "a fixed-length request carries data");
	}
	/* Round trip: the codec the library uses gives back the same header and arguments. */
	n = proto_encode_request(enc, r);
	if (n != PROTO_HEADER_LEN + (size_t)args)
		fuzz_fail("encode", "wrong length");
	proto_get_header(enc, &eh);
	if (eh.magic != PROTO_MAGIC || eh.version != PROTO_VERSION || eh.opcode != h->opcode ||
	    eh.id != h->id || eh.status != 0 || eh.len != h->len)
		fuzz_fail("encode", "the header does not round-trip");
	if (memcmp(enc + PROTO_HEADER_LEN, body, (size_t)args) != 0)
		fuzz_fail("encode", "the arguments do not round-trip");
}

/* A paging process (pid 1, 4 pages), segment 17 (root's, 0600, attached here) and 18 (uid 1000's, 0666). */
static void
populate(struct table *t)
{
	struct seg_cred root = {.pid = 4200, .uid = 0, .gid = 0, .privileged = true};
	struct seg_cred user = {.pid = 4201, .uid = 1000, .gid = 1000};
	struct seg_conn k = {0, 1};
	uint64_t segsz, gen;
	int32_t a, b;

	if (procs_init(t, PROCS_ROOT, 1, 4) != DSHM_SUCCESS ||
	    procs_write(t, PROCS_ROOT, 1, 0, 0, "fuzz", 4) != DSHM_SUCCESS ||
	    segs_get(t, &root, 0x1234, 1000, IPC_CREAT | 0600, &a) != DSHM_SUCCESS ||
	    segs_get(t, &user, 0x5678, 600, IPC_CREAT | 0666, &b) != DSHM_SUCCESS ||
	    segs_attach(t, &root, &k, a, 0, root.pid, &segsz, &gen) != DSHM_SUCCESS)
		fuzz_fail("setup", "could not populate the table");
	if (a != 17 || b != 18)
		fuzz_fail("setup", "shmids are not the ones the seed corpus names");
}

static void
count_reply(void *ctx, const struct fuzz_reply *r)
{
	struct fuzz_reply *seen = ctx;

	if (seen->len != UINT32_MAX)
		fuzz_fail("dispatch", "more than one reply to one request");
	*seen = *r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_header h;
	struct proto_request r;
	unsigned char again[PROTO_HEADER_LEN];
	unsigned char *body;
	struct fuzz_reply seen = {.len = UINT32_MAX};
	struct buf out = {0};
	struct peer peer;
	struct seg_conn k = {0, 1};
	size_t n;
	int rc;

	if (size < PROTO_HEADER_LEN)
		return 0;
	proto_get_header(data, &h);
	proto_put_header(again, &h);
	if (memcmp(again, data, PROTO_HEADER_LEN) != 0)
		fuzz_fail("header", "does not round-trip");
	rc = proto_check_header(&h);
	if (rc != expected_check(&h))
		fuzz_fail("proto_check_header", "disagrees with the protocol");
	if (rc != DSHM_SUCCESS)
		return 0;

	n = size - PROTO_HEADER_LEN;
	if (n > PROTO_MAX_BODY)
		return 0;
	h.len = (uint32_t)n;
	/* Exactly the body's bytes: one byte more read is an ASan report. */
	if ((body = malloc(n)) == NULL && n > 0)
		abort();
	if (n > 0)
		memcpy(body, data + PROTO_HEADER_LEN, n);
	rc = proto_decode_request(&h, body, &r);
	if (rc != expected_decode(h.opcode, h.len, body))
		fuzz_fail("proto_decode_request", "disagrees with the protocol");
	if (rc != DSHM_SUCCESS) {
		free(body);
		return 0;
	}
	check_decoded(&h, body, &r);

	if (!world_ready) {
		fuzz_world_init(&world);
		world_ready = true;
	} else {
		fuzz_world_reset(&world);
	}
	populate(&world.t);
	fuzz_peer(&peer, h.id & 3, h.id & 4, 1);
	if (!dispatch(&world.t, &r, &peer, &out))
		fuzz_fail("dispatch", "could not append its reply");
	if (buf_len(&out) > 0)
		fuzz_parse_replies(out.data + out.start, buf_len(&out), count_reply, &seen);
	if (seen.len == UINT32_MAX || seen.opcode != h.opcode || seen.id != h.id)
		fuzz_fail("dispatch", "the reply does not name the request");
	fuzz_check_idle(&world.t);
	/* The connection closes: what it attached is detached. */
	segs_detach_conn(&world.t, &k);
	fuzz_check_no_conns(&world.t);
	fuzz_check_idle(&world.t);
	buf_free(&out);
	free(body);
	return 0;
}
