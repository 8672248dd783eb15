/*
 * owners.c — owner slots, the owner index, and the alloc lock's repair.
 *
 * Invariants: an owner is visible (state OWNER_USED, found through the
 * index) only once its page tree maps all its npages pages; every change
 * to the allocator is journaled first, so owners_repair can undo a grow
 * or finish a release that a dead worker left half-done; after a repair
 * the frame and chunk maps are exactly what the owners' trees reach.
 */
#include "owners.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "dshm_status.h"
#include "fault.h"
#include "frames.h"
#include "lock.h"
#include "pagetree.h"
#include "quota.h"
#include "segfile.h"

#define UNDO_KEEP_BYTES (1u << 20)

uint32_t
owners_index_hash(uint32_t kind, int64_t id)
{
	uint64_t x = (uint64_t)id ^ ((uint64_t)kind << 56);

	/* splitmix64's finaliser: every bit of the id reaches every bit of the hash */
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return (uint32_t)x;
}

static bool
owner_is(struct table *t, uint32_t slot, uint32_t kind, int64_t id)
{
	struct owner *o = &t->owners[slot];

	return atomic_load(&o->state) == OWNER_USED && atomic_load(&o->kind) == kind &&
	       atomic_load(&o->id) == id;
}

/* Probes the index; returns the position of (kind, id), or of the first free entry as ~pos. */
static int64_t
index_probe(struct table *t, uint32_t kind, int64_t id, bool want_free)
{
	uint32_t mask = t->hdr->index_size - 1;
	uint32_t pos = owners_index_hash(kind, id) & mask;
	int64_t free_pos = -1;

	for (uint32_t n = 0; n <= mask; n++, pos = (pos + 1) & mask) {
		uint32_t e = atomic_load_explicit(&t->index[pos], memory_order_acquire);

		if (e == INDEX_EMPTY)
			break;
		if (e == INDEX_TOMB) {
			if (free_pos < 0)
				free_pos = pos;
			continue;
		}
		if (e - 1 < t->hdr->max_owners && owner_is(t, e - 1, kind, id))
			return pos;
	}
	if (!want_free)
		return INT64_MIN;
	if (free_pos < 0)
		free_pos = pos;
	return ~free_pos;
}

int
owners_lock_status(int err)
{
	return err == ETIMEDOUT ? DSHM_BUSY : DSHM_ERROR;
}

/*
 * Lockless lookup; retries while the index is being rebuilt under it.
 * DSHM_SUCCESS (*slot set), DSHM_NOT_FOUND, or the status of an alloc
 * lock that could not be taken.
 */
static int
index_lookup(struct table *t, uint32_t kind, int64_t id, int64_t *slot)
{
	for (;;) {
		uint32_t gen = atomic_load_explicit(&t->hdr->index_gen, memory_order_acquire);
		int64_t pos;
		int err;

		if (gen & 1) {
			/*
			 * A rebuild is under way, or its maker died half-way: wait
			 * for the alloc lock, whose taker repairs a dead rebuild.
			 */
			if ((err = owners_alloc_lock(t)) != 0)
				return owners_lock_status(err);
			owners_alloc_unlock(t);
			continue;
		}
		pos = index_probe(t, kind, id, false);
		if (atomic_load_explicit(&t->hdr->index_gen, memory_order_acquire) == gen) {
			if (pos < 0)
				return DSHM_NOT_FOUND;
			*slot = (int64_t)atomic_load(&t->index[pos]) - 1;
			return DSHM_SUCCESS;
		}
	}
}

/* Rebuilds the index from the owners; requires the alloc lock. */
static void
index_rebuild(struct table *t)
{
	struct table_header *h = t->hdr;
	/* Odd while rebuilding, even after: also when a dead rebuilder left it odd. */
	uint32_t gen = atomic_load(&h->index_gen) | 1;

	atomic_store(&h->index_gen, gen);
	for (uint32_t i = 0; i < h->index_size; i++)
		atomic_store(&t->index[i], INDEX_EMPTY);
	h->index_tombs = 0;
	for (uint32_t s = 0; s < h->max_owners; s++) {
		struct owner *o = &t->owners[s];

		if (atomic_load(&o->state) != OWNER_USED)
			continue;
		int64_t pos = index_probe(t, atomic_load(&o->kind), atomic_load(&o->id), true);
		if (pos < 0)
			atomic_store(&t->index[~pos], s + 1);
	}
	atomic_store(&h->index_gen, gen + 1);
}

/*
 * Replaces a live owner's entry with a tombstone.  The caller rebuilds the
 * index when tombstones pile up, but only once the owner is no longer in
 * use: a rebuild re-inserts every owner still marked USED.
 */
static void
index_remove(struct table *t, uint32_t slot)
{
	struct owner *o = &t->owners[slot];
	int64_t pos = index_probe(t, atomic_load(&o->kind), atomic_load(&o->id), false);

	if (pos >= 0) {
		atomic_store(&t->index[pos], INDEX_TOMB);
		t->hdr->index_tombs++;
	}
}

int
owners_alloc_lock(struct table *t)
{
	return lock_acquire(&t->hdr->alloc_lock, owners_repair, t);
}

void
owners_alloc_unlock(struct table *t)
{
	lock_release(&t->hdr->alloc_lock);
}

/*
 * Worker w's undo area while a write is under way: the old bytes of every
 * range, back to back from the start (page-aligned, so they can be given
 * back), then the ranges themselves at the next 8-byte boundary.
 */
static unsigned char *
undo_area(const struct table *t, uint32_t w)
{
	return t->undo + (size_t)w * t->undo_each;
}

static size_t
undo_list_at(uint64_t len)
{
	return (size_t)((len + 7) & ~(uint64_t)7);
}

/* Whether len saved bytes and a list of nruns ranges fit in one undo area. */
static bool
undo_fits(const struct table *t, uint64_t len, uint32_t nruns)
{
	return len <= t->undo_each &&
	       nruns <= (t->undo_each - undo_list_at(len)) / sizeof(struct byte_run);
}

/* Copies the saved bytes of every range back (all were saved before any was written). */
static void
undo_restore(struct table *t, uint32_t slot, unsigned char *saved, const struct byte_run *list,
	     uint32_t nruns)
{
	for (uint32_t i = 0; i < nruns; i++) {
		owners_copy(t, slot, list[i].off, saved, list[i].len, true);
		saved += list[i].len;
	}
}

/* Whether a dead writer's list is one this owner can take back: each range inside, len in all. */
static bool
undo_list_sane(const struct byte_run *list, uint32_t nruns, uint64_t len, uint64_t limit)
{
	uint64_t sum = 0;

	for (uint32_t i = 0; i < nruns; i++) {
		if (list[i].off > limit || list[i].len > limit - list[i].off)
			return false;
		sum += list[i].len;
	}
	return sum == len;
}

/* Puts back the bytes that worker w saved before the write it died in. */
static void
undo_write(struct table *t, uint32_t slot, uint32_t w)
{
	struct owner *o = &t->owners[slot];
	struct undo_record *u;

	atomic_store(&o->undo_worker, 0);
	if (w >= t->hdr->nworkers || t->undo == NULL)
		return;
	u = &t->workers[w].undo;
	if (!atomic_load(&u->active) || u->owner != slot)
		return;
	/* An owner the alloc repair has just freed has no bytes left to restore. */
	uint64_t limit = (uint64_t)atomic_load(&o->npages) << t->frame_shift;

	if (atomic_load(&o->state) == OWNER_USED && undo_fits(t, u->len, u->nruns)) {
		unsigned char *saved = undo_area(t, w);
		const struct byte_run *list = (const void *)(saved + undo_list_at(u->len));

		if (undo_list_sane(list, u->nruns, u->len, limit))
			undo_restore(t, slot, saved, list, u->nruns);
	}
	atomic_store(&u->active, 0);
}

/*
 * An owner lock's repair.  A holder that died inside owners_grow or
 * owners_release held the alloc lock too, and left this owner half-grown
 * or half-freed: taking the alloc lock repairs that (lock order: owner,
 * then alloc) before the owner is looked at.  A holder that died inside
 * a write left an undo record: the old bytes go back.
 */
static void
owner_lock_repair_slot(struct table *t, uint32_t slot)
{
	uint32_t w = atomic_load(&t->owners[slot].undo_worker);

	if (owners_alloc_lock(t) == 0)
		owners_alloc_unlock(t);
	if (w != 0)
		undo_write(t, slot, w - 1);
}

struct repair_ctx {
	struct table *t;
	uint32_t slot;
};

static void
owner_lock_repair(void *ctx)
{
	struct repair_ctx *r = ctx;

	owner_lock_repair_slot(r->t, r->slot);
}

static int
owner_lock(struct table *t, uint32_t slot)
{
	struct repair_ctx r = {t, slot};

	return lock_acquire(&t->owners[slot].lock, owner_lock_repair, &r);
}

void
owners_recover_worker(struct table *t, int self)
{
	struct undo_record *u = &t->workers[self].undo;

	/*
	 * Our predecessor in this slot died in a write, and nobody has taken
	 * that owner's lock since: take it now, which undoes the write,
	 * before this undo area is used again.
	 */
	if (atomic_load(&u->active) && u->owner < t->hdr->max_owners &&
	    owner_lock(t, u->owner) == 0)
		owners_unlock(t, u->owner);
	atomic_store(&u->active, 0);
}

void
owners_recover_all(struct table *t)
{
	/* The alloc lock first: an owner's repair takes it too, and it is repaired once. */
	if (owners_alloc_lock(t) == 0)
		owners_alloc_unlock(t);
	for (uint32_t s = 0; s < t->hdr->max_owners; s++)
		if (owner_lock(t, s) == 0)
			owners_unlock(t, s);
	for (uint32_t w = 0; w < t->hdr->nworkers; w++)
		owners_recover_worker(t, (int)w);
}

int
owners_find_locked(struct table *t, uint32_t kind, int64_t id, uint32_t *slot)
{
	for (;;) {
		int64_t s = -1;
		int rc = index_lookup(t, kind, id, &s), err;

		if (rc != DSHM_SUCCESS)
			return rc;
		if (s < 0 || s >= t->hdr->max_owners)
			return DSHM_NOT_FOUND;
		if ((err = owner_lock(t, (uint32_t)s)) != 0)
			return owners_lock_status(err);
		if (owner_is(t, (uint32_t)s, kind, id)) {
			*slot = (uint32_t)s;
			return DSHM_SUCCESS;
		}
		/* Released (and perhaps reused) while we waited: look again. */
		lock_release(&t->owners[s].lock);
	}
}

void
owners_unlock(struct table *t, uint32_t slot)
{
	lock_release(&t->owners[slot].lock);
}

int64_t
owners_free_slot(struct table *t)
{
	for (uint32_t s = 0; s < t->hdr->max_owners; s++)
		if (atomic_load(&t->owners[s].state) == OWNER_FREE)
			return s;
	return -1;
}

static void
journal(struct table *t, uint32_t op, uint32_t slot, uint32_t old_npages)
{
	struct alloc_journal *j = &t->hdr->journal;

	j->owner = slot;
	j->old_npages = old_npages;
	j->old_root = t->owners[slot].root;
	j->old_height = t->owners[slot].height;
	atomic_thread_fence(memory_order_release);
	j->op = op;
}

bool
owners_create_locked(struct table *t, uint32_t slot, uint32_t kind, int64_t id,
		     uint32_t npages, uint32_t uid)
{
	struct table_header *h = t->hdr;
	struct owner *o = &t->owners[slot];
	int64_t pos = index_probe(t, kind, id, true);

	journal(t, JOURNAL_GROW, slot, 0);
	atomic_store(&o->kind, kind);
	atomic_store(&o->id, id);
	atomic_store(&o->npages, 0);
	atomic_store(&o->undo_worker, 0);
	o->root = CHUNK_NULL;
	o->height = 0;
	o->uid = uid;
	o->created = time(NULL);
	/* A process's frames are backed now (frames.h); a segment's only hold its place. */
	if (kind == OWNER_PROCESS)
		frames_back_begin(t);
	pagetree_grow(t, slot, npages);
	if (kind == OWNER_PROCESS && !frames_back_end(t)) {
		/* The host cannot back them: undone from the journal, as a dead creator's. */
		owners_repair(t);
		return false;
	}
	FAULT_POINT("create_grown");
	atomic_store(&o->npages, npages);
	atomic_store_explicit(&o->state, OWNER_USED, memory_order_release);
	/*
	 * Complete: close the journal before the index makes it visible, so
	 * that a repair never undoes an owner that someone may be using (it
	 * rebuilds the index, which then finishes the insertion).
	 */
	h->journal.op = JOURNAL_NONE;
	if (pos < 0) {
		if (atomic_load(&t->index[~pos]) == INDEX_TOMB)
			h->index_tombs--;
		atomic_store_explicit(&t->index[~pos], slot + 1, memory_order_release);
	}
	h->owners_used++;
	return true;
}

int
owners_create(struct table *t, uint32_t kind, int64_t id, uint32_t npages, uint32_t uid)
{
	int64_t s;
	int rc = DSHM_SUCCESS, err;

	if ((err = owners_alloc_lock(t)) != 0)
		return owners_lock_status(err);
	if (index_probe(t, kind, id, false) >= 0)
		rc = DSHM_PROCESS_EXISTS;
	else if (t->hdr->frames_free < npages)
		rc = DSHM_NO_SPACE;
	else if ((s = owners_free_slot(t)) < 0)
		rc = DSHM_TABLE_FULL;
	else if ((rc = quota_may_create(t, uid)) == DSHM_SUCCESS &&
		 !owners_create_locked(t, (uint32_t)s, kind, id, npages, uid))
		rc = DSHM_NO_SPACE;
	owners_alloc_unlock(t);
	return rc;
}

int
owners_grow(struct table *t, uint32_t slot, uint32_t add)
{
	struct owner *o = &t->owners[slot];
	int err;

	if ((err = owners_alloc_lock(t)) != 0)
		return owners_lock_status(err);
	if (t->hdr->frames_free < add) {
		owners_alloc_unlock(t);
		return DSHM_NO_SPACE;
	}
	journal(t, JOURNAL_GROW, slot, atomic_load(&o->npages));
	if (atomic_load(&o->kind) == OWNER_PROCESS)
		frames_back_begin(t);
	pagetree_grow(t, slot, add);
	if (atomic_load(&o->kind) == OWNER_PROCESS && !frames_back_end(t)) {
		owners_repair(t); /* the old pages only, as after a death here */
		owners_alloc_unlock(t);
		return DSHM_NO_SPACE;
	}
	FAULT_POINT("grow_grown");
	atomic_store(&o->npages, atomic_load(&o->npages) + add);
	t->hdr->journal.op = JOURNAL_NONE;
	owners_alloc_unlock(t);
	return DSHM_SUCCESS;
}

/* Empties slot's tree and frees the slot; requires the alloc lock. */
static void
release_slot(struct table *t, uint32_t slot)
{
	struct owner *o = &t->owners[slot];

	pagetree_truncate(t, slot, 0);
	FAULT_POINT("release_truncated");
	atomic_store(&o->npages, 0);
	atomic_store(&o->state, OWNER_FREE);
}

int
owners_release(struct table *t, uint32_t slot)
{
	int err = owners_alloc_lock(t);

	if (err == 0) {
		journal(t, JOURNAL_RELEASE, slot, 0);
		index_remove(t, slot);
		release_slot(t, slot);
		t->hdr->owners_used--;
		if (t->hdr->index_tombs > t->hdr->index_size / 4)
			index_rebuild(t);
		t->hdr->journal.op = JOURNAL_NONE;
		owners_alloc_unlock(t);
	}
	owners_unlock(t, slot);
	return err == 0 ? DSHM_SUCCESS : owners_lock_status(err);
}

/* Writes the ranges with nothing to undo them (no undo area: tools and tests). */
static bool
write_runs_bare(struct table *t, uint32_t slot, const struct byte_run *runs, uint32_t nruns,
		const unsigned char *d)
{
	for (uint32_t i = 0; i < nruns; i++) {
		if (!owners_copy(t, slot, runs[i].off, (void *)d, runs[i].len, true))
			return false;
		d += runs[i].len;
	}
	return true;
}

int
owners_write_runs(struct table *t, uint32_t slot, const struct byte_run *runs, uint32_t nruns,
		  const void *data)
{
	const unsigned char *d = data;
	unsigned char *saved, *p;
	struct byte_run *list;
	struct undo_record *u;
	uint64_t len = 0;
	bool ok = true;

	for (uint32_t i = 0; i < nruns; i++)
		len += runs[i].len;
	if (t->undo == NULL || t->self < 0 || !undo_fits(t, len, nruns))
		return write_runs_bare(t, slot, runs, nruns, d) ? DSHM_SUCCESS : DSHM_ERROR;
	u = &t->workers[t->self].undo;
	p = saved = undo_area(t, (uint32_t)t->self);
	list = (struct byte_run *)(saved + undo_list_at(len));
	/*
	 * The save's memory is backed before a byte moves: a host out of it
	 * refuses the write whole.  Once per worker for what stays backed,
	 * so small writes make no system call for it.
	 */
	size_t need = undo_list_at(len) + nruns * sizeof(*list);

	if (need > t->undo_backed) {
		if (madvise(saved, need, MADV_POPULATE_WRITE) != 0 && errno != EINVAL)
			return DSHM_NO_SPACE;
		t->undo_backed = need;
	}
	/* Every range is saved before any is written: the undo is of the whole write. */
	for (uint32_t i = 0; i < nruns; i++) {
		if (!owners_copy(t, slot, runs[i].off, p, runs[i].len, false))
			return DSHM_ERROR;
		p += runs[i].len;
		list[i] = runs[i];
	}
	u->owner = slot;
	u->nruns = nruns;
	u->len = len;
	atomic_store(&u->active, 1);
	atomic_store(&t->owners[slot].undo_worker, (uint32_t)t->self + 1);
	for (uint32_t i = 0; i < nruns && ok; i++) {
		if (i > 0)
			FAULT_POINT("write_between_runs");
		ok = owners_copy(t, slot, runs[i].off, (void *)d, runs[i].len, true);
		d += runs[i].len;
	}
	/* A write the segment's file refused part-way is undone here, as a crash would be. */
	if (!ok)
		undo_restore(t, slot, saved, list, nruns);
	atomic_store(&t->owners[slot].undo_worker, 0);
	atomic_store(&u->active, 0);
	/* Large saves give their memory back, so an idle worker stays small. */
	if (len >= UNDO_KEEP_BYTES) {
		madvise(saved, need, MADV_REMOVE);
		t->undo_backed = 0;
	}
	return ok ? DSHM_SUCCESS : DSHM_ERROR;
}

int
owners_write(struct table *t, uint32_t slot, uint64_t pos, const void *buf, uint64_t len)
{
	const struct byte_run run = {pos, len};

	return owners_write_runs(t, slot, &run, 1, buf);
}

bool
owners_copy(struct table *t, uint32_t slot, uint64_t pos, void *buf, uint64_t len,
	    bool to_owner)
{
	const struct owner *o = &t->owners[slot];
	uint64_t fsize = t->hdr->frame_size;
	unsigned char *b = buf;

	/* A segment's bytes are in its file; its frames only hold its place in the arena. */
	if (atomic_load(&o->kind) == OWNER_SEGMENT)
		return segfile_copy(t, slot, pos, buf, len, to_owner);
	while (len > 0) {
		uint64_t off = pos & (fsize - 1);
		uint64_t n = fsize - off < len ? fsize - off : len;
		unsigned char *f = table_frame(t, pagetree_frame(t, o, pos >> t->frame_shift)) + off;

		if (to_owner) {
			memcpy(f, b, n);
			if (n < len)
				FAULT_POINT("write_copying"); /* between two frames of one write */
		} else
			memcpy(b, f, n);
		b += n;
		pos += n;
		len -= n;
	}
	return true;
}

unsigned
owners_locate(struct table *t, uint32_t slot, uint64_t pos, uint64_t len, struct iovec *piece)
{
	const struct owner *o = &t->owners[slot];
	uint64_t fsize = t->hdr->frame_size;
	unsigned n = 0;

	while (len > 0) {
		uint64_t off = pos & (fsize - 1);
		uint64_t k = fsize - off < len ? fsize - off : len;

		piece[n].iov_base = table_frame(t, pagetree_frame(t, o, pos >> t->frame_shift)) + off;
		piece[n++].iov_len = (size_t)k;
		pos += k;
		len -= k;
	}
	return n;
}

/* ---- repair ---------------------------------------------------------- */

struct marks {
	bitstr_t *frames;
	bitstr_t *chunks;
	struct table *t;
	uint32_t slot;
};

static void
mark_page(void *ctx, uint64_t page, uint32_t frame)
{
	struct marks *m = ctx;

	(void)page;
	if (frame < m->t->hdr->nframes) {
		bit_set(m->frames, frame);
		atomic_store(&m->t->frame_owner[frame], m->slot + 1);
	}
}

static void
mark_chunk(void *ctx, uint32_t chunk)
{
	struct marks *m = ctx;

	bit_set(m->chunks, chunk);
}

void
owners_repair(void *table)
{
	struct table *t = table;
	struct table_header *h = t->hdr;
	struct alloc_journal *j = &h->journal;
	struct pagetree_visitor v = {mark_page, mark_chunk, NULL};
	struct frame_run run = {0, 0};
	struct marks m = {NULL, NULL, t, 0};

	/* 1. Undo the grow or finish the release that the dead holder began. */
	if (j->op != JOURNAL_NONE && j->owner < h->max_owners) {
		struct owner *o = &t->owners[j->owner];

		if (j->op == JOURNAL_RELEASE || atomic_load(&o->state) != OWNER_USED) {
			release_slot(t, j->owner);
		} else {
			/*
			 * Back to the tree as it was: chunks a raise put above the
			 * old root are then unreachable, and step 3 frees them.
			 */
			o->root = j->old_root;
			o->height = j->old_height;
			pagetree_truncate(t, j->owner, j->old_npages);
			atomic_store(&o->npages, j->old_npages);
		}
	}

	/* 2. Recompute which frames and chunks the trees reach. */
	m.frames = calloc(1, bitstr_size(h->nframes));
	m.chunks = calloc(1, bitstr_size(h->nchunks));
	if (m.frames == NULL || m.chunks == NULL)
		abort(); /* the mutex stays owner-dead: the next taker repairs */
	v.ctx = &m;
	for (uint64_t f = 0; f < h->nframes; f++)
		atomic_store(&t->frame_owner[f], 0);
	h->owners_used = 0;
	for (uint32_t s = 0; s < h->max_owners; s++) {
		if (atomic_load(&t->owners[s].state) != OWNER_USED)
			continue;
		h->owners_used++;
		m.slot = s;
		pagetree_visit(t, &t->owners[s], &v);
	}
	bit_set(m.chunks, 0);

	/*
	 * 3. Frames and chunks in use but reached by no tree were being taken
	 * or given back: clear them so that free memory stays zero.
	 */
	h->frames_free = 0;
	for (uint64_t f = 0; f < h->nframes; f++) {
		if (bit_test(m.frames, f))
			continue;
		if (bit_test(t->frame_bits, f)) {
			frames_put(t, &run, (uint32_t)f); /* zeroes, clears and counts it */
			continue;
		}
		h->frames_free++;
	}
	frames_flush(t, &run);
	h->chunks_free = 0;
	for (uint64_t c = 0; c < h->nchunks; c++) {
		if (bit_test(m.chunks, c))
			continue;
		if (bit_test(t->chunk_bits, c)) {
			memset(t->chunks + c * PT_FANOUT, 0, PT_FANOUT * sizeof(uint32_t));
			bit_clear(t->chunk_bits, c);
		}
		h->chunks_free++;
	}
	memcpy(t->frame_bits, m.frames, bitstr_size(h->nframes));
	memcpy(t->chunk_bits, m.chunks, bitstr_size(h->nchunks));
	h->frame_hint = 0;
	h->chunk_hint = 1;
	free(m.frames);
	free(m.chunks);

	/* 4. The index may hold a half-made insertion or removal. */
	index_rebuild(t);
	j->op = JOURNAL_NONE;
}
