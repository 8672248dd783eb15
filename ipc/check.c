/*
 * check.c — the control table's consistency check (see check.h).
 *
 * Invariants kept: nothing shared is written and no lock is taken; the
 * header's geometry is read once and checked against the segment's size
 * before any region is touched; every index read from the table is
 * checked against that geometry before it is used, and every walk is
 * bounded (tree depth by PT_MAX_HEIGHT, chunks by a visited map).
 */
#include "check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owners.h"

/* A plain field of a table that may change under us, read exactly once. */
#define READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

struct checker {
	const struct table *t;
	/* geometry, read once */
	uint64_t nframes, nchunks;
	uint32_t max_owners, index_size, max_attach;
	/* what the trees reach: owner slot + 1 per frame and per chunk, 0 for none */
	uint32_t *frame_by;
	uint64_t *frame_page; /* the page that reached each frame */
	uint32_t *chunk_by;
	uint32_t *in_index; /* per owner: times the index names it */
	/* the owner being walked */
	uint32_t slot;
	int64_t id;
	uint64_t npages, mapped;
	void (*report)(void *ctx, const char *msg);
	void *ctx;
	int violations;
};

static void violation(struct checker *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
violation(struct checker *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	c->violations++;
	if (c->report == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->report(c->ctx, msg);
}

/* "owner 3 (pid 42)", "owner 4 (shmid 1028)": how a message names an owner slot. */
static const char *
owner_name(const struct checker *c, uint32_t slot, char *buf, size_t len)
{
	if (slot >= c->max_owners)
		snprintf(buf, len, "owner %u (out of range)", slot);
	else
		snprintf(buf, len, "owner %u (%s %lld)", slot,
			 atomic_load(&c->t->owners[slot].kind) == OWNER_SEGMENT ? "shmid" : "pid",
			 (long long)atomic_load(&c->t->owners[slot].id));
	return buf;
}

/* Whether the header describes regions that fit in the segment; reports why not. */
static bool
check_geometry(struct checker *c)
{
	const struct table_header *h = c->t->hdr;
	uint64_t size = READ_ONCE(h->table_size);
	struct {
		const char *name;
		uint64_t off, len;
	} r[] = {
		{"owners", h->off_owners, (uint64_t)h->max_owners * sizeof(struct owner)},
		{"index", h->off_index, (uint64_t)h->index_size * sizeof(uint32_t)},
		{"frame_owner", h->off_frame_owner, h->nframes * sizeof(uint32_t)},
		{"frame_bits", h->off_frame_bits, (h->nframes + 7) / 8},
		{"chunks", h->off_chunks, h->nchunks * PT_FANOUT * sizeof(uint32_t)},
		{"chunk_bits", h->off_chunk_bits, (h->nchunks + 7) / 8},
		{"workers", h->off_workers, (uint64_t)h->nworkers * sizeof(struct worker_slot)},
		{"segments", h->off_segments, (uint64_t)h->max_owners * sizeof(struct segment)},
		{"attach", h->off_attach, (uint64_t)h->max_attach * sizeof(struct attach_row)},
	};
	bool ok = true;

	c->nframes = h->nframes;
	c->nchunks = h->nchunks;
	c->max_owners = h->max_owners;
	c->index_size = h->index_size;
	c->max_attach = h->max_attach;
	if (atomic_load(&h->magic) != DSHM_TABLE_MAGIC || h->layout_version != DSHM_LAYOUT_VERSION) {
		violation(c, "header: magic %#llx, layout %u: not a dshm table of layout %d",
			  (unsigned long long)atomic_load(&h->magic), h->layout_version,
			  DSHM_LAYOUT_VERSION);
		return false;
	}
	if (c->nframes > INT32_MAX || c->nchunks == 0 || c->nchunks > UINT32_MAX ||
	    c->index_size == 0 || (c->index_size & (c->index_size - 1)) != 0) {
		violation(c, "header: nframes %llu, nchunks %llu, index_size %u out of range",
			  (unsigned long long)c->nframes, (unsigned long long)c->nchunks,
			  c->index_size);
		return false;
	}
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		if (r[i].off < sizeof(*h) || r[i].off > size || r[i].len > size - r[i].off) {
			violation(c, "header: region %s (offset %llu, %llu bytes) lies outside "
				  "the table's %llu bytes", r[i].name,
				  (unsigned long long)r[i].off, (unsigned long long)r[i].len,
				  (unsigned long long)size);
			ok = false;
		}
	return ok;
}

static void
check_leaf(struct checker *c, uint64_t page, uint32_t entry)
{
	const struct table *t = c->t;
	uint64_t frame = (uint64_t)entry - 1;
	char a[64], b[64];
	uint32_t fo;

	c->mapped++;
	if (page >= c->npages)
		violation(c, "%s: page %llu maps frame %llu but npages is %llu",
			  owner_name(c, c->slot, a, sizeof(a)), (unsigned long long)page,
			  (unsigned long long)frame, (unsigned long long)c->npages);
	if (frame >= c->nframes) {
		violation(c, "%s: page %llu maps frame %llu, beyond the %llu frames",
			  owner_name(c, c->slot, a, sizeof(a)), (unsigned long long)page,
			  (unsigned long long)frame, (unsigned long long)c->nframes);
		return;
	}
	if (c->frame_by[frame] != 0) {
		violation(c, "frame %llu is mapped twice: by %s page %llu and by %s page %llu",
			  (unsigned long long)frame, owner_name(c, c->frame_by[frame] - 1, a, sizeof(a)),
			  (unsigned long long)c->frame_page[frame], owner_name(c, c->slot, b, sizeof(b)),
			  (unsigned long long)page);
	} else {
		c->frame_by[frame] = c->slot + 1;
		c->frame_page[frame] = page;
	}
	fo = atomic_load(&t->frame_owner[frame]);
	if (fo != c->slot + 1) {
		if (fo == 0)
			violation(c, "%s: page %llu maps frame %llu, which frame_owner marks free",
				  owner_name(c, c->slot, a, sizeof(a)), (unsigned long long)page,
				  (unsigned long long)frame);
		else
			violation(c, "%s: page %llu maps frame %llu, which frame_owner gives to %s",
				  owner_name(c, c->slot, a, sizeof(a)), (unsigned long long)page,
				  (unsigned long long)frame, owner_name(c, fo - 1, b, sizeof(b)));
	}
}

static void
check_node(struct checker *c, uint32_t node, uint32_t level, uint64_t base)
{
	const struct table *t = c->t;
	uint64_t step = (uint64_t)1 << (PT_SHIFT * (level - 1));
	char a[64], b[64];

	if (node == CHUNK_NULL || node >= c->nchunks) {
		violation(c, "%s: tree links chunk %u, out of range (1 to %llu)",
			  owner_name(c, c->slot, a, sizeof(a)), node,
			  (unsigned long long)c->nchunks - 1);
		return;
	}
	if (c->chunk_by[node] == c->slot + 1) {
		violation(c, "%s: chunk %u is linked twice in its tree (a cycle or a shared subtree)",
			  owner_name(c, c->slot, a, sizeof(a)), node);
		return;
	}
	if (c->chunk_by[node] != 0) {
		violation(c, "chunk %u is linked twice: by %s and by %s", node,
			  owner_name(c, c->chunk_by[node] - 1, a, sizeof(a)),
			  owner_name(c, c->slot, b, sizeof(b)));
		return; /* also what keeps a cycle from looping */
	}
	c->chunk_by[node] = c->slot + 1;
	if (!bit_test(t->chunk_bits, node))
		violation(c, "%s: chunk %u is in its tree but free in chunk_bits",
			  owner_name(c, c->slot, a, sizeof(a)), node);
	for (uint32_t i = 0; i < PT_FANOUT; i++) {
		uint32_t e = READ_ONCE(t->chunks[(uint64_t)node * PT_FANOUT + i]);

		if (e == 0)
			continue;
		if (level == 1)
			check_leaf(c, base + i, e);
		else
			check_node(c, e, level - 1, base + i * step);
	}
}

static void
check_owner(struct checker *c, uint32_t s, uint32_t *nused)
{
	const struct owner *o = &c->t->owners[s];
	uint32_t state = atomic_load(&o->state);
	uint32_t root = READ_ONCE(o->root), height = READ_ONCE(o->height);
	char a[64];

	c->slot = s;
	c->id = atomic_load(&o->id);
	c->npages = atomic_load(&o->npages);
	c->mapped = 0;
	owner_name(c, s, a, sizeof(a));
	if (state == OWNER_FREE) {
		if (root != CHUNK_NULL || c->npages != 0)
			violation(c, "%s is free but has root %u and %llu pages", a, root,
				  (unsigned long long)c->npages);
		return;
	}
	if (state != OWNER_USED) {
		violation(c, "%s has state %u, neither free nor used", a, state);
		return;
	}
	(*nused)++;
	if (root == CHUNK_NULL) {
		if (c->npages != 0)
			violation(c, "%s has %llu pages and no tree", a,
				  (unsigned long long)c->npages);
		return;
	}
	if (height < 1 || height > PT_MAX_HEIGHT ||
	    ((uint64_t)1 << (PT_SHIFT * height)) < c->npages) {
		violation(c, "%s: a tree of height %u cannot map %llu pages", a, height,
			  (unsigned long long)c->npages);
		return;
	}
	if (c->npages == 0) {
		violation(c, "%s has no pages but a tree (root %u)", a, root);
		return;
	}
	check_node(c, root, height, 0);
	if (c->mapped != c->npages)
		violation(c, "%s: its tree maps %llu pages, npages is %llu", a,
			  (unsigned long long)c->mapped, (unsigned long long)c->npages);
}

static void
check_frames(struct checker *c)
{
	const struct table *t = c->t;
	uint64_t nfree = 0, frames_free = READ_ONCE(t->hdr->frames_free);
	char a[64];

	for (uint64_t f = 0; f < c->nframes; f++) {
		bool bit = bit_test(t->frame_bits, f) != 0;
		uint32_t fo = atomic_load(&t->frame_owner[f]);

		if (!bit)
			nfree++;
		if (bit != (fo != 0)) {
			violation(c, "frame %llu: frame_bits says %s but frame_owner is %u",
				  (unsigned long long)f, bit ? "used" : "free", fo);
			continue;
		}
		if (fo == 0)
			continue;
		if (fo - 1 >= c->max_owners) {
			violation(c, "frame %llu: frame_owner %u names no owner slot",
				  (unsigned long long)f, fo);
		} else if (atomic_load(&t->owners[fo - 1].state) != OWNER_USED) {
			violation(c, "frame %llu belongs to %s, which is not in use",
				  (unsigned long long)f, owner_name(c, fo - 1, a, sizeof(a)));
		} else if (c->frame_by[f] == 0) {
			violation(c, "frame %llu belongs to %s but no page maps it",
				  (unsigned long long)f, owner_name(c, fo - 1, a, sizeof(a)));
		}
	}
	if (nfree != frames_free)
		violation(c, "frames_free is %llu but %llu frames are free",
			  (unsigned long long)frames_free, (unsigned long long)nfree);
}

static void
check_chunks(struct checker *c)
{
	const struct table *t = c->t;
	uint64_t nfree = 0, chunks_free = READ_ONCE(t->hdr->chunks_free);

	if (!bit_test(t->chunk_bits, 0))
		violation(c, "chunk 0 (the null chunk) is marked free in chunk_bits");
	for (uint64_t k = 1; k < c->nchunks; k++) {
		bool bit = bit_test(t->chunk_bits, k) != 0;

		if (!bit) {
			nfree++;
			for (uint32_t i = 0; i < PT_FANOUT; i++)
				if (READ_ONCE(t->chunks[k * PT_FANOUT + i]) != 0) {
					violation(c, "chunk %llu is free but not zeroed (entry %u)",
						  (unsigned long long)k, i);
					break;
				}
		}
		if (bit && c->chunk_by[k] == 0)
			violation(c, "chunk %llu is used in chunk_bits but no tree links it",
				  (unsigned long long)k);
		/* the converse (linked but free) was reported during the walk */
	}
	if (nfree != chunks_free)
		violation(c, "chunks_free is %llu but %llu chunks are free",
			  (unsigned long long)chunks_free, (unsigned long long)nfree);
}

/* Whether probing for owner s from its hash reaches its entry before an empty one. */
static bool
index_reaches(const struct checker *c, uint32_t s)
{
	const struct owner *o = &c->t->owners[s];
	uint32_t mask = c->index_size - 1;
	uint32_t pos = owners_index_hash(atomic_load(&o->kind), atomic_load(&o->id)) & mask;

	for (uint32_t n = 0; n <= mask; n++, pos = (pos + 1) & mask) {
		uint32_t e = atomic_load(&c->t->index[pos]);

		if (e == INDEX_EMPTY)
			return false;
		if (e == s + 1)
			return true;
	}
	return false;
}

static void
check_index(struct checker *c)
{
	const struct table *t = c->t;
	const struct table_header *h = t->hdr;
	uint32_t tombs = 0, index_tombs = READ_ONCE(h->index_tombs);
	uint32_t gen = atomic_load(&h->index_gen);
	char a[64];

	if (gen & 1)
		violation(c, "index_gen is odd (%u): a rebuild is under way or never ended", gen);
	for (uint32_t i = 0; i < c->index_size; i++) {
		uint32_t e = atomic_load(&t->index[i]);

		if (e == INDEX_EMPTY)
			continue;
		if (e == INDEX_TOMB) {
			tombs++;
			continue;
		}
		if (e - 1 >= c->max_owners)
			violation(c, "index entry %u names slot %u, out of range", i, e - 1);
		else if (atomic_load(&t->owners[e - 1].state) != OWNER_USED)
			violation(c, "index entry %u names %s, which is not in use", i,
				  owner_name(c, e - 1, a, sizeof(a)));
		else if (c->in_index[e - 1]++ == 1)
			violation(c, "%s is in the index more than once",
				  owner_name(c, e - 1, a, sizeof(a)));
	}
	if (tombs != index_tombs)
		violation(c, "index_tombs is %u but the index holds %u tombstones", index_tombs,
			  tombs);
	for (uint32_t s = 0; s < c->max_owners; s++) {
		if (atomic_load(&t->owners[s].state) != OWNER_USED)
			continue;
		if (c->in_index[s] == 0)
			violation(c, "%s is in use but not in the index", owner_name(c, s, a, sizeof(a)));
		else if (!index_reaches(c, s))
			violation(c, "%s is in the index where a lookup of its id cannot reach it",
				  owner_name(c, s, a, sizeof(a)));
	}
}

/*
 * A segment's own fields: its shmid is seq * max_owners + slot, its size
 * fits in its pages, and a removed (SEG_MODE_DEST) segment has lost its key.
 */
static void
check_segment(struct checker *c, uint32_t s)
{
	const struct segment *g = &c->t->segments[s];
	uint64_t segsz = READ_ONCE(g->segsz), npages = atomic_load(&c->t->owners[s].npages);
	uint32_t seq = READ_ONCE(g->seq), mode = READ_ONCE(g->mode);
	int32_t key = READ_ONCE(g->key);
	int64_t id = atomic_load(&c->t->owners[s].id);
	uint32_t fs = READ_ONCE(c->t->hdr->frame_size);
	char a[64];

	owner_name(c, s, a, sizeof(a));
	if (id != (int64_t)seq * c->max_owners + s)
		violation(c, "%s: its shmid is not seq %u * %u + slot %u", a, seq, c->max_owners, s);
	if (segsz == 0 || segsz > npages * fs)
		violation(c, "%s: shm_segsz %llu does not fit in its %llu pages of %u bytes", a,
			  (unsigned long long)segsz, (unsigned long long)npages, fs);
	if ((mode & SEG_MODE_DEST) && key != 0)
		violation(c, "%s is removed (SHM_DEST) but keeps key 0x%08x", a, (unsigned)key);
}

/* Whether shmid names a live segment. */
static bool
live_segment(const struct checker *c, int32_t shmid)
{
	const struct owner *o;

	if (c->max_owners == 0)
		return false;
	o = &c->t->owners[(uint32_t)shmid % c->max_owners];
	return atomic_load(&o->state) == OWNER_USED && atomic_load(&o->kind) == OWNER_SEGMENT &&
	       atomic_load(&o->id) == shmid;
}

/* Every segment's fields, and every attachment row in use naming a live segment. */
static void
check_segments(struct checker *c)
{
	const struct table *t = c->t;

	for (uint32_t s = 0; s < c->max_owners; s++)
		if (atomic_load(&t->owners[s].state) == OWNER_USED &&
		    atomic_load(&t->owners[s].kind) == OWNER_SEGMENT)
			check_segment(c, s);
	for (uint32_t i = 0; i < c->max_attach; i++) {
		const struct attach_row *r = &t->attach[i];
		uint32_t state = atomic_load(&r->state);
		int32_t shmid = atomic_load(&r->shmid);

		if (state == 0 || shmid == -1) /* free, or being filled or freed */
			continue;
		if (shmid < 0 || !live_segment(c, shmid))
			violation(c, "attach row %u (worker %u) names shmid %d, which is no live "
				  "segment", i, state - 1, shmid);
	}
}

int
check_table(const struct table *t, void (*report)(void *ctx, const char *msg), void *ctx)
{
	struct checker c = {.t = t, .report = report, .ctx = ctx};
	uint32_t nused = 0, owners_used;

	if (!check_geometry(&c))
		return c.violations;
	c.frame_by = calloc(c.nframes ? c.nframes : 1, sizeof(*c.frame_by));
	c.frame_page = calloc(c.nframes ? c.nframes : 1, sizeof(*c.frame_page));
	c.chunk_by = calloc(c.nchunks, sizeof(*c.chunk_by));
	c.in_index = calloc(c.max_owners ? c.max_owners : 1, sizeof(*c.in_index));
	if (c.frame_by == NULL || c.frame_page == NULL || c.chunk_by == NULL ||
	    c.in_index == NULL) {
		c.violations = -1;
		goto out;
	}
	owners_used = READ_ONCE(t->hdr->owners_used);
	for (uint32_t s = 0; s < c.max_owners; s++)
		check_owner(&c, s, &nused);
	if (nused != owners_used)
		violation(&c, "owners_used is %u but %u owners are in use", owners_used, nused);
	check_frames(&c);
	check_chunks(&c);
	check_index(&c);
	check_segments(&c);
out:
	free(c.frame_by);
	free(c.frame_page);
	free(c.chunk_by);
	free(c.in_index);
	return c.violations;
}
