/*
 * reply.h — reply encoding: the header of every reply the workers send,
 * and the counting of each reply (by opcode, and by code when an error)
 * in the worker's scoreboard row.  Below the dispatcher and everything
 * it calls (gather, the segment and AUTH handlers, the connection), so
 * none of them calls back up into dispatch.c to answer.
 */
#ifndef DSHM_SRV_REPLY_H
#define DSHM_SRV_REPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "table.h"

/* Counts every reply from now on in slot (this worker's scoreboard row). */
void reply_count_into(struct worker_slot *slot);

/* Writes a reply header at at (counting the reply); the caller moves out->end. */
void reply_put_header(unsigned char *at, uint8_t opcode, uint32_t id, int32_t status,
		      uint32_t len);

/* Appends a reply header with status and len body bytes to follow; NULL if out cannot grow. */
unsigned char *reply_begin(struct buf *out, uint8_t opcode, uint32_t id, int32_t status,
			   uint32_t len);

/* Appends a reply with no body (an error, or a bare success); false if out cannot grow. */
bool reply_status(struct buf *out, uint8_t opcode, uint32_t id, int32_t status);

#endif /* DSHM_SRV_REPLY_H */
