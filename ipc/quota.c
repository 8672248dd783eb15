/*
 * quota.c — per-user shares of the control table (see quota.h).
 *
 * Invariant: root and the header's exempt_uid are never refused by a
 * share or a reserve; everyone else stops at its share, and before the
 * reserved last slots and rows.
 */
#include "quota.h"

#include "dshm_status.h"
#include "layout.h"

#define OWNERS_RESERVED_MAX 16
#define ATTACH_RESERVED_MAX 64

/* An eighth of n, at most cap: what is kept for root. */
static uint32_t
reserve_of(uint32_t n, uint32_t cap)
{
	return n / 8 < cap ? n / 8 : cap;
}

/* A quarter of n, at least 1: one user's share by default. */
static uint32_t
quarter_of(uint32_t n)
{
	return n / 4 > 0 ? n / 4 : 1;
}

void
quota_set(struct table *t, const struct quota_params *p)
{
	struct table_header *h = t->hdr;

	h->exempt_uid = p->exempt_uid;
	h->owners_per_user = p->owners_per_user ? p->owners_per_user : quarter_of(h->max_owners);
	h->attach_per_user = p->attach_per_user ? p->attach_per_user : quarter_of(h->max_attach);
	h->owners_reserved = reserve_of(h->max_owners, OWNERS_RESERVED_MAX);
	h->attach_reserved = reserve_of(h->max_attach, ATTACH_RESERVED_MAX);
}

static bool
exempt(const struct table *t, uint32_t uid)
{
	return uid == 0 || uid == t->hdr->exempt_uid;
}

int
quota_may_create(const struct table *t, uint32_t uid)
{
	const struct table_header *h = t->hdr;
	uint32_t mine = 0;

	if (exempt(t, uid))
		return DSHM_SUCCESS;
	if (h->owners_used + h->owners_reserved >= h->max_owners)
		return DSHM_TABLE_FULL;
	for (uint32_t s = 0; s < h->max_owners; s++)
		if (atomic_load(&t->owners[s].state) == OWNER_USED && t->owners[s].uid == uid)
			mine++;
	return h->owners_per_user != 0 && mine >= h->owners_per_user ? DSHM_USER_LIMIT
								      : DSHM_SUCCESS;
}

int
quota_may_attach(const struct table *t, uint32_t uid, uint32_t mine, uint32_t used)
{
	const struct table_header *h = t->hdr;

	if (exempt(t, uid))
		return DSHM_SUCCESS;
	if (used + h->attach_reserved >= h->max_attach)
		return DSHM_ATTACH_FULL;
	return h->attach_per_user != 0 && mine >= h->attach_per_user ? DSHM_USER_LIMIT
								      : DSHM_SUCCESS;
}
