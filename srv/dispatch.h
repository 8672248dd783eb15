/*
 * dispatch.h — turns one decoded request into calls on the shared tables
 * and appends its reply to a connection's output.  Nothing here knows
 * about sockets; nothing here lays out shared memory.
 */
#ifndef DSHM_SRV_DISPATCH_H
#define DSHM_SRV_DISPATCH_H

#include <stdint.h>

#include "buf.h"
#include "proto.h"
#include "table.h"

/* Who sent the request, as far as the transport tells. */
struct peer {
	uint32_t uid; /* UINT32_MAX when unknown (TCP) */
};

/*
 * Executes r and appends its reply to out.  Returns false only when out
 * cannot grow (the connection must then be closed).
 */
bool dispatch(struct table *t, const struct proto_request *r, const struct peer *p,
	      struct buf *out);

/* Counts every reply from now on in slot (this worker's scoreboard row). */
void dispatch_count_into(struct worker_slot *slot);

/* Appends a reply with no body (an error, or a bare success). */
bool dispatch_reply_status(struct buf *out, uint8_t opcode, uint32_t id, int32_t status);

#endif /* DSHM_SRV_DISPATCH_H */
