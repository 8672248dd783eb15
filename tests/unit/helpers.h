/*
 * helpers.h — fixtures and checks shared by the ipc/ unit tests.
 *
 * Header only, since every test_*.c is linked alone: a fixture lays out a
 * control table and a frame arena in MAP_SHARED anonymous memory (so that
 * forked children share them), and table_problem() checks every invariant
 * the allocator promises, independently of the code under test.
 */
#ifndef DSHM_TESTS_UNIT_HELPERS_H
#define DSHM_TESTS_UNIT_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four headers above first. */
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dshm.h"
#include "owners.h"
#include "pagetree.h"
#include "procs.h"
#include "table.h"

struct fixture {
	struct table t;
	struct table_params p;
	void *mem;
	size_t mem_size;
	unsigned char *arena;
	size_t arena_size;
};

static inline void *
shared_zeroed(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

/* A formatted table and an arena of nframes frames of frame_size bytes. */
static inline struct fixture *
fixture_make(uint64_t nframes, uint32_t frame_size, uint32_t max_owners)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->p.key = 0x64000001;
	f->p.frame_size = frame_size;
	f->p.nframes = nframes;
	f->p.max_owners = max_owners;
	f->p.nworkers = 1;
	f->mem_size = table_size(&f->p);
	f->mem = shared_zeroed(f->mem_size);
	f->arena_size = (size_t)nframes * frame_size;
	f->arena = shared_zeroed(f->arena_size);
	assert_int_equal(table_format(&f->t, f->mem, &f->p, f->arena), 0);
	return f;
}

static inline void
fixture_free(struct fixture *f)
{
	if (f == NULL)
		return;
	munmap(f->mem, f->mem_size);
	munmap(f->arena, f->arena_size);
	free(f);
}

/*
 * fork() for tests: the child gets the default action back for the
 * signals cmocka catches, so that a crash in a child kills that child
 * instead of running the rest of the suite in it.
 */
static inline pid_t
fork_child(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGILL, SIG_DFL);
		signal(SIGFPE, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
	}
	return pid;
}

/* The slot of paging process id, or -1; takes and drops its lock. */
static inline int64_t
slot_of(struct table *t, int64_t id)
{
	uint32_t slot;

	if (!owners_find_locked(t, OWNER_PROCESS, id, &slot))
		return -1;
	owners_unlock(t, slot);
	return slot;
}

static inline bool
frame_is_zero(const struct table *t, uint64_t frame)
{
	const unsigned char *p = table_frame(t, frame);

	for (uint32_t i = 0; i < t->hdr->frame_size; i++)
		if (p[i] != 0)
			return false;
	return true;
}

static inline void
fill_frame(const struct table *t, uint64_t frame, unsigned char byte)
{
	memset(table_frame(t, frame), byte, t->hdr->frame_size);
}

/* ---- the consistency checker ------------------------------------------ */

struct check {
	const struct table *t;
	bitstr_t *frames; /* reached by some tree */
	bitstr_t *chunks;
	uint32_t slot;
	uint64_t npages;
	uint64_t mapped;
	char *why;
	size_t len;
	bool bad;
};

static inline void check_fail(struct check *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static inline void
check_fail(struct check *c, const char *fmt, ...)
{
	va_list ap;

	if (c->bad)
		return; /* keep the first problem */
	va_start(ap, fmt);
	vsnprintf(c->why, c->len, fmt, ap);
	va_end(ap);
	c->bad = true;
}

static inline void
check_node(struct check *c, uint32_t node, uint32_t level, uint64_t base)
{
	const struct table *t = c->t;
	const struct table_header *h = t->hdr;
	const uint32_t *e;
	uint64_t step = (uint64_t)1 << (PT_SHIFT * (level - 1));

	if (node == CHUNK_NULL || node >= h->nchunks) {
		check_fail(c, "owner %u: chunk index %u out of range", c->slot, node);
		return;
	}
	if (bit_test(c->chunks, node)) {
		check_fail(c, "owner %u: chunk %u reached twice", c->slot, node);
		return;
	}
	bit_set(c->chunks, node);
	if (!bit_test(t->chunk_bits, node))
		check_fail(c, "owner %u: chunk %u in a tree but free in chunk_bits", c->slot, node);
	e = t->chunks + (uint64_t)node * PT_FANOUT;
	for (uint32_t i = 0; i < PT_FANOUT && !c->bad; i++) {
		uint64_t lo = base + i * step;

		if (e[i] == 0)
			continue;
		if (level > 1) {
			check_node(c, e[i], level - 1, lo);
			continue;
		}
		uint64_t frame = (uint64_t)e[i] - 1;

		if (lo >= c->npages)
			check_fail(c, "owner %u: page %llu mapped but npages is %llu", c->slot,
				   (unsigned long long)lo, (unsigned long long)c->npages);
		else if (frame >= h->nframes)
			check_fail(c, "owner %u: page %llu maps frame %llu out of range", c->slot,
				   (unsigned long long)lo, (unsigned long long)frame);
		else if (bit_test(c->frames, frame))
			check_fail(c, "frame %llu mapped twice", (unsigned long long)frame);
		else if (atomic_load(&t->frame_owner[frame]) != c->slot + 1)
			check_fail(c, "frame %llu of owner %u has frame_owner %u",
				   (unsigned long long)frame, c->slot,
				   atomic_load(&t->frame_owner[frame]));
		else if (!bit_test(t->frame_bits, frame))
			check_fail(c, "frame %llu of owner %u is clear in frame_bits",
				   (unsigned long long)frame, c->slot);
		if (frame < h->nframes)
			bit_set(c->frames, frame);
		c->mapped++;
	}
}

static inline void
check_owners(struct check *c, uint32_t *nused)
{
	const struct table *t = c->t;
	const struct table_header *h = t->hdr;

	*nused = 0;
	for (uint32_t s = 0; s < h->max_owners && !c->bad; s++) {
		const struct owner *o = &t->owners[s];
		uint32_t state = atomic_load(&o->state);

		c->slot = s;
		c->npages = atomic_load(&o->npages);
		c->mapped = 0;
		if (state == OWNER_FREE) {
			if (o->root != CHUNK_NULL || c->npages != 0)
				check_fail(c, "free owner %u has root %u, npages %llu", s, o->root,
					   (unsigned long long)c->npages);
			continue;
		}
		if (state != OWNER_USED) {
			check_fail(c, "owner %u has state %u", s, state);
			continue;
		}
		(*nused)++;
		if (o->root == CHUNK_NULL) {
			if (c->npages != 0)
				check_fail(c, "owner %u has %llu pages and no tree", s,
					   (unsigned long long)c->npages);
			continue;
		}
		if (o->height < 1 || o->height > PT_MAX_HEIGHT ||
		    ((uint64_t)1 << (PT_SHIFT * o->height)) < c->npages) {
			check_fail(c, "owner %u: height %u for %llu pages", s, o->height,
				   (unsigned long long)c->npages);
			continue;
		}
		if (c->npages == 0) {
			check_fail(c, "owner %u has no pages but a tree (root %u)", s, o->root);
			continue;
		}
		check_node(c, o->root, o->height, 0);
		if (!c->bad && c->mapped != c->npages)
			check_fail(c, "owner %u maps %llu pages, npages is %llu", s,
				   (unsigned long long)c->mapped, (unsigned long long)c->npages);
	}
}

static inline void
check_frames(struct check *c, bool zeroes)
{
	const struct table *t = c->t;
	const struct table_header *h = t->hdr;
	uint64_t nfree = 0;

	for (uint64_t f = 0; f < h->nframes && !c->bad; f++) {
		bool in_use = bit_test(t->frame_bits, f) != 0;
		uint32_t owner = atomic_load(&t->frame_owner[f]);

		if (in_use != (owner != 0))
			check_fail(c, "frame %llu: bit %d but frame_owner %u", (unsigned long long)f,
				   in_use, owner);
		else if (in_use && !bit_test(c->frames, f))
			check_fail(c, "frame %llu is in use (owner %u) but no tree maps it",
				   (unsigned long long)f, owner);
		else if (!in_use && zeroes && !frame_is_zero(t, f))
			check_fail(c, "free frame %llu is not zero", (unsigned long long)f);
		if (!in_use)
			nfree++;
	}
	if (!c->bad && nfree != h->frames_free)
		check_fail(c, "frames_free is %llu, %llu frames are free",
			   (unsigned long long)h->frames_free, (unsigned long long)nfree);
}

static inline void
check_chunks(struct check *c)
{
	const struct table *t = c->t;
	const struct table_header *h = t->hdr;
	uint64_t nfree = 0;

	if (!bit_test(t->chunk_bits, 0))
		check_fail(c, "the null chunk is marked free");
	for (uint64_t k = 1; k < h->nchunks && !c->bad; k++) {
		bool in_use = bit_test(t->chunk_bits, k) != 0;

		if (in_use != (bit_test(c->chunks, k) != 0)) {
			check_fail(c, "chunk %llu: %s in chunk_bits but %s", (unsigned long long)k,
				   in_use ? "set" : "clear", in_use ? "in no tree" : "in a tree");
			continue;
		}
		if (in_use)
			continue;
		nfree++;
		for (uint32_t i = 0; i < PT_FANOUT; i++)
			if (t->chunks[k * PT_FANOUT + i] != 0) {
				check_fail(c, "free chunk %llu is not zero", (unsigned long long)k);
				break;
			}
	}
	if (!c->bad && nfree != h->chunks_free)
		check_fail(c, "chunks_free is %llu, %llu chunks are free",
			   (unsigned long long)h->chunks_free, (unsigned long long)nfree);
}

/* Every USED owner once in the index, nothing else in it; tombs counted. */
static inline void
check_index(struct check *c)
{
	struct table *t = (struct table *)c->t;
	const struct table_header *h = t->hdr;
	uint32_t *seen = calloc(h->max_owners, sizeof(*seen));
	uint32_t tombs = 0;

	assert_non_null(seen);
	if (atomic_load(&h->index_gen) & 1)
		check_fail(c, "index_gen is odd (%u): a rebuild never ended",
			   atomic_load(&h->index_gen));
	for (uint32_t i = 0; i < h->index_size && !c->bad; i++) {
		uint32_t e = atomic_load(&t->index[i]);

		if (e == INDEX_EMPTY)
			continue;
		if (e == INDEX_TOMB) {
			tombs++;
			continue;
		}
		if (e - 1 >= h->max_owners)
			check_fail(c, "index entry %u holds slot %u, out of range", i, e - 1);
		else if (atomic_load(&t->owners[e - 1].state) != OWNER_USED)
			check_fail(c, "index entry %u names owner %u, which is not in use", i,
				   e - 1);
		else if (seen[e - 1]++ > 0)
			check_fail(c, "owner %u is in the index twice", e - 1);
	}
	if (!c->bad && tombs != h->index_tombs)
		check_fail(c, "index_tombs is %u, the index holds %u", h->index_tombs, tombs);
	for (uint32_t s = 0; s < h->max_owners && !c->bad; s++) {
		const struct owner *o = &t->owners[s];
		uint32_t found;

		if (atomic_load(&o->state) != OWNER_USED)
			continue;
		if (seen[s] != 1) {
			check_fail(c, "owner %u is not in the index", s);
		} else if (!owners_find_locked(t, atomic_load(&o->kind), atomic_load(&o->id),
					       &found)) {
			check_fail(c, "owner %u (id %lld) cannot be found", s,
				   (long long)atomic_load(&o->id));
		} else {
			owners_unlock(t, found);
			if (found != s)
				check_fail(c, "id %lld found at slot %u, lives at %u",
					   (long long)atomic_load(&o->id), found, s);
		}
	}
	free(seen);
}

/*
 * Checks every invariant of the allocator; returns NULL when the table is
 * consistent, else a description of the first problem (in why).  zeroes:
 * also check that every free frame reads as zeros.
 */
static inline const char *
table_problem_ex(const struct table *t, bool zeroes, char *why, size_t len)
{
	const struct table_header *h = t->hdr;
	struct check c = {.t = t, .why = why, .len = len};
	uint32_t nused = 0;

	c.frames = calloc(1, bitstr_size(h->nframes));
	c.chunks = calloc(1, bitstr_size(h->nchunks));
	assert_non_null(c.frames);
	assert_non_null(c.chunks);
	if (h->journal.op != JOURNAL_NONE)
		check_fail(&c, "journal op %u is still open", h->journal.op);
	if (atomic_load(&h->alloc_lock.holder) != 0)
		check_fail(&c, "alloc lock still held by %d", atomic_load(&h->alloc_lock.holder));
	check_owners(&c, &nused);
	if (!c.bad && nused != h->owners_used)
		check_fail(&c, "owners_used is %u, %u owners are in use", h->owners_used, nused);
	if (!c.bad)
		check_frames(&c, zeroes);
	if (!c.bad)
		check_chunks(&c);
	if (!c.bad)
		check_index(&c);
	free(c.frames);
	free(c.chunks);
	return c.bad ? why : NULL;
}

static inline const char *
table_problem(const struct table *t, char *why, size_t len)
{
	return table_problem_ex(t, true, why, len);
}

#define assert_table_consistent(t)                                                 \
	do {                                                                       \
		char why_[256];                                                    \
		const char *problem_ = table_problem((t), why_, sizeof(why_));     \
		if (problem_ != NULL)                                              \
			fail_msg("table inconsistent: %s", problem_);              \
	} while (0)

#endif /* DSHM_TESTS_UNIT_HELPERS_H */
