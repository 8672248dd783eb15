/*
 * helpers.h — fixtures and checks shared by the ipc/ unit tests.
 *
 * Header only, since every test_*.c is linked alone: a fixture lays out a
 * control table and a frame arena in MAP_SHARED anonymous memory (so that
 * forked children share them), and table_problem() checks every invariant
 * the allocator promises with ipc/check.c, which shares no code with the
 * allocator it checks.
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

#include "check.h"
#include "dshm.h"
#include "owners.h"
#include "pagetree.h"
#include "procs.h"
#include "segfile.h"
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
	/* The bytes of segments the test left are in files of their own. */
	segfile_forget(&f->t);
	segfile_remove(f->p.key, f->t.hdr->instance, false, false);
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

	if (owners_find_locked(t, OWNER_PROCESS, id, &slot) != DSHM_SUCCESS)
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

/* Keeps the first violation check_table reports. */
struct first_problem {
	char *why;
	size_t len;
	bool seen;
};

static inline void
keep_first_problem(void *ctx, const char *msg)
{
	struct first_problem *p = ctx;

	if (!p->seen)
		snprintf(p->why, p->len, "%s", msg);
	p->seen = true;
}

/*
 * Checks every invariant of the allocator (ipc/check.c), and what holds
 * only when no one is at work on the table: no journal open, the alloc
 * lock free, and (when zeroes) every free frame reading as zeros.
 * Returns NULL when the table is consistent, else a description of the
 * first problem (in why).
 */
static inline const char *
table_problem_ex(const struct table *t, bool zeroes, char *why, size_t len)
{
	const struct table_header *h = t->hdr;
	struct first_problem p = {.why = why, .len = len};
	int n;

	if (h->journal.op != JOURNAL_NONE)
		keep_first_problem(&p, "a journal op is still open");
	if (atomic_load(&h->alloc_lock.holder) != 0)
		keep_first_problem(&p, "the alloc lock is still held");
	n = check_table(t, keep_first_problem, &p);
	assert_true(n >= 0);
	for (uint64_t f = 0; zeroes && !p.seen && f < h->nframes; f++)
		if (!bit_test(t->frame_bits, f) && !frame_is_zero(t, f)) {
			char msg[64];

			snprintf(msg, sizeof(msg), "free frame %llu is not zero",
				 (unsigned long long)f);
			keep_first_problem(&p, msg);
		}
	return p.seen ? why : NULL;
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
