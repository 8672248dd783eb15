/*
 * usershare.c — per-user connection counts in the scoreboard (see
 * usershare.h).
 *
 * A worker's rows form an open-addressed map from uid to count.  A row
 * keeps its uid once claimed, at zero too, until the worker's slot is
 * cleared: rows never become free again, so a probe for a uid stops at
 * the first free row and misses nothing.  Once no row is free, a new uid
 * takes over a row whose count is zero (a probe then scans them all, and
 * a uid that lost its row had nothing to count).
 */
#include "usershare.h"

#include "layout.h"

static uint32_t
first_row(uint32_t uid)
{
	/* Fibonacci hashing: neighbouring uids land far apart. */
	return (uint32_t)((uid * UINT32_C(2654435769)) >> 23) % WORKER_USER_ROWS;
}

/* The row of uid in s, or of the free row where it would go (NULL: none left). */
static struct user_conns *
find_row(struct worker_slot *s, uint32_t uid)
{
	uint32_t i = first_row(uid);

	for (uint32_t n = 0; n < WORKER_USER_ROWS; n++, i = (i + 1) % WORKER_USER_ROWS) {
		uint32_t key = atomic_load(&s->users[i].key);

		if (key == uid + 1 || key == 0)
			return &s->users[i];
	}
	return NULL;
}

uint32_t
usershare_count(const struct table *t, uint32_t uid)
{
	uint32_t total = 0;

	for (uint32_t w = 0; w < t->hdr->nworkers; w++) {
		struct user_conns *r = find_row(&t->workers[w], uid);

		if (r != NULL && atomic_load(&r->key) == uid + 1)
			total += atomic_load(&r->conns);
	}
	return total;
}

/* A row at zero to give a new uid when none is free; NULL when every user holds one. */
static struct user_conns *
idle_row(struct worker_slot *s)
{
	for (uint32_t i = 0; i < WORKER_USER_ROWS; i++)
		if (atomic_load(&s->users[i].conns) == 0)
			return &s->users[i];
	return NULL;
}

bool
usershare_add(struct worker_slot *s, uint32_t uid)
{
	struct user_conns *r = find_row(s, uid);

	if (r == NULL && (r = idle_row(s)) == NULL)
		return false;
	/* The count before the key: a reader finding the key reads a count that includes us. */
	atomic_fetch_add(&r->conns, 1);
	atomic_store(&r->key, uid + 1);
	return true;
}

void
usershare_remove(struct worker_slot *s, uint32_t uid)
{
	struct user_conns *r = find_row(s, uid);

	if (r != NULL && atomic_load(&r->key) == uid + 1 && atomic_load(&r->conns) > 0)
		atomic_fetch_sub(&r->conns, 1);
}

void
usershare_clear(struct worker_slot *s)
{
	for (uint32_t i = 0; i < WORKER_USER_ROWS; i++) {
		atomic_store(&s->users[i].key, 0);
		atomic_store(&s->users[i].conns, 0);
	}
}
