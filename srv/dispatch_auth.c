/*
 * dispatch_auth.c — OP_AUTH, the challenge-response of --auth-file (see
 * auth.h): step 1 names a credential and gets a fresh nonce; step 2
 * returns HMAC-SHA256(key, context || nonce || name).  Success makes the
 * connection act as the credential's uid and gid; failure is answered
 * and the connection closed, so each guess costs a new connection.
 *
 * Invariant: a nonce answers one proof only, right after it was given.
 */
#include <string.h>

#include "auth.h"
#include "dispatch.h"
#include "dshm.h"
#include "reply.h"

static bool
fail(const struct proto_request *r, struct peer *p, struct buf *out, int status)
{
	p->challenged = false;
	p->hang_up = true;
	return reply_status(out, r->opcode, r->id, status);
}

bool
dispatch_auth(const struct proto_request *r, struct peer *p, struct buf *out)
{
	const unsigned char *b = r->data;
	unsigned char *at;
	uint32_t uid, gid;

	if (!auth_enabled() || r->data_len < 4)
		return reply_status(out, r->opcode, r->id, DSHM_BAD_REQUEST);
	switch (proto_get_u32(b)) {
	case PROTO_AUTH_CHALLENGE:
		if (r->data_len - 4 > PROTO_AUTH_NAME_MAX)
			return reply_status(out, r->opcode, r->id, DSHM_BAD_REQUEST);
		p->auth_name_len = (uint8_t)(r->data_len - 4);
		memcpy(p->auth_name, b + 4, p->auth_name_len);
		auth_challenge(p->nonce);
		p->challenged = true;
		if ((at = reply_begin(out, r->opcode, r->id, DSHM_SUCCESS,
					       PROTO_AUTH_NONCE_LEN)) == NULL)
			return false;
		memcpy(at, p->nonce, PROTO_AUTH_NONCE_LEN);
		return true;
	case PROTO_AUTH_PROVE:
		if (!p->challenged || r->data_len != 4 + PROTO_AUTH_MAC_LEN)
			return fail(r, p, out, DSHM_AUTH_FAILED);
		p->challenged = false;
		if (!auth_verify(p->auth_name, p->auth_name_len, p->nonce, b + 4, &uid, &gid))
			return fail(r, p, out, DSHM_AUTH_FAILED);
		/* Its user's share of connections holds for a remote peer too. */
		if (p->admit_as != NULL && !p->admit_as(p->admit_ctx, p, uid))
			return fail(r, p, out, DSHM_USER_LIMIT);
		/* From now on the credential's ids are the peer's, whatever IDENT says. */
		p->uid = uid;
		p->gid = gid;
		p->cred = true;
		p->auth_required = false;
		if ((at = reply_begin(out, r->opcode, r->id, DSHM_SUCCESS, 8)) == NULL)
			return false;
		proto_put_u32(at, uid);
		proto_put_u32(at + 4, gid);
		return true;
	default:
		return reply_status(out, r->opcode, r->id, DSHM_BAD_REQUEST);
	}
}
