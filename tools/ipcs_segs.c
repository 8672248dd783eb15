/*
 * ipcs_segs.c — snapshots of the table's System V-style segments, read
 * without locks: each segment's shmid_ds (segments[slot] beside its owner
 * slot) with nattch counted from the attachment rows, as dshmd counts it;
 * and the names dshm-ipcs gives to a segment's owner and status.
 *
 * Like every snapshot of a live table it is a moment's view: a segment
 * may come, go or be attached between two reads.  Segments come sorted
 * by shmid.
 */
#include <pwd.h>
#include <stdlib.h>

#include "ipcs.h"

/* A plain field of a table that may change under us, read exactly once. */
#define READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

static int
by_shmid(const void *a, const void *b)
{
	const struct ipcs_seg *x = a, *y = b;

	return (x->shmid > y->shmid) - (x->shmid < y->shmid);
}

static void
read_segment(const struct table *t, uint32_t s, struct ipcs_seg *out)
{
	const struct segment *g = &t->segments[s];

	*out = (struct ipcs_seg){
		.slot = s,
		.shmid = (int32_t)atomic_load(&t->owners[s].id),
		.key = READ_ONCE(g->key),
		.seq = READ_ONCE(g->seq),
		.mode = READ_ONCE(g->mode),
		.uid = READ_ONCE(g->uid),
		.gid = READ_ONCE(g->gid),
		.cuid = READ_ONCE(g->cuid),
		.cgid = READ_ONCE(g->cgid),
		.cpid = READ_ONCE(g->cpid),
		.lpid = READ_ONCE(g->lpid),
		.segsz = READ_ONCE(g->segsz),
		.pages = atomic_load(&t->owners[s].npages),
		.gen = atomic_load(&g->gen),
		.atime = READ_ONCE(g->atime),
		.dtime = READ_ONCE(g->dtime),
		.ctime = READ_ONCE(g->ctime),
	};
}

/* Adds each used attachment row to the nattch of the segment it names (at[slot]: index + 1). */
static void
count_attachments(const struct table *t, const uint32_t *at, struct ipcs_seg *g)
{
	uint32_t max = t->hdr->max_owners;

	for (uint32_t i = 0; i < t->hdr->max_attach; i++) {
		const struct attach_row *r = &t->attach[i];
		int32_t shmid;
		uint32_t k;

		if (atomic_load(&r->state) == 0 || (shmid = atomic_load(&r->shmid)) < 0)
			continue;
		k = at[(uint32_t)shmid % max];
		if (k != 0 && g[k - 1].shmid == shmid)
			g[k - 1].nattch++;
	}
}

size_t
ipcs_segments(const struct table *t, struct ipcs_seg **out)
{
	uint32_t max = t->hdr->max_owners, n = 0;
	struct ipcs_seg *g;
	uint32_t *at;

	*out = NULL;
	g = calloc(max ? max : 1, sizeof(*g));
	at = calloc(max ? max : 1, sizeof(*at)); /* slot -> index in g, + 1 */
	if (g == NULL || at == NULL) {
		free(g);
		free(at);
		return 0;
	}
	for (uint32_t s = 0; s < max; s++) {
		if (atomic_load(&t->owners[s].state) != OWNER_USED ||
		    atomic_load(&t->owners[s].kind) != OWNER_SEGMENT)
			continue;
		read_segment(t, s, &g[n]);
		at[s] = ++n;
	}
	count_attachments(t, at, g);
	free(at);
	if (n == 0) {
		free(g);
		return 0;
	}
	qsort(g, n, sizeof(*g), by_shmid);
	*out = g;
	return n;
}

uint64_t
ipcs_attachments(const struct table *t)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < t->hdr->max_attach; i++)
		if (atomic_load(&t->attach[i].state) != 0)
			n++;
	return n;
}

void
ipcs_user_name(uint32_t uid, char *buf, size_t len)
{
	struct passwd pw, *found = NULL;
	char scratch[1024];

	if (getpwuid_r((uid_t)uid, &pw, scratch, sizeof(scratch), &found) == 0 && found != NULL)
		snprintf(buf, len, "%s", pw.pw_name);
	else
		snprintf(buf, len, "%u", uid);
}

void
ipcs_seg_status(uint32_t mode, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", (mode & SEG_MODE_DEST) ? "dest" : "",
		 (mode & SEG_MODE_DEST) && (mode & SEG_MODE_LOCKED) ? " " : "",
		 (mode & SEG_MODE_LOCKED) ? "locked" : "");
}
