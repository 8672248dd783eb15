/*
 * reply.c — reply headers and their counting (see reply.h).
 *
 * Invariant: every reply header a worker writes goes through
 * reply_put_header, so the scoreboard counts each reply once, by opcode,
 * and each error by its code.
 */
#include "reply.h"

#include "proto.h"

/* This worker's scoreboard row, where every reply is counted (NULL: not counted). */
static struct worker_slot *counters;

void
reply_count_into(struct worker_slot *slot)
{
	counters = slot;
}

void
reply_put_header(unsigned char *at, uint8_t opcode, uint32_t id, int32_t status, uint32_t len)
{
	if (counters != NULL) {
		atomic_fetch_add_explicit(&counters->op_requests[opcode < STATS_OPS ? opcode : 0], 1,
					  memory_order_relaxed);
		if (status <= -200 && status > -200 - STATS_ERRORS)
			atomic_fetch_add_explicit(&counters->errors[-200 - status], 1,
						  memory_order_relaxed);
	}

	struct proto_header h = {
		.magic = PROTO_MAGIC,
		.version = PROTO_VERSION,
		.opcode = opcode,
		.id = id,
		.status = status,
		.len = len,
	};

	proto_put_header(at, &h);
}

unsigned char *
reply_begin(struct buf *out, uint8_t opcode, uint32_t id, int32_t status, uint32_t len)
{
	unsigned char *at = buf_reserve(out, PROTO_HEADER_LEN + (size_t)len);

	if (at == NULL)
		return NULL;
	reply_put_header(at, opcode, id, status, len);
	out->end += PROTO_HEADER_LEN + (size_t)len;
	return at + PROTO_HEADER_LEN;
}

bool
reply_status(struct buf *out, uint8_t opcode, uint32_t id, int32_t status)
{
	return reply_begin(out, opcode, id, status, 0) != NULL;
}
