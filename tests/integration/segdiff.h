/*
 * segdiff.h — the machinery of the differential test of the System V
 * calls (test_segments_diff.c): the two backends (the kernel's calls and
 * dshm's), the trace a scenario records what it observes into, the
 * recorded calls, and the children a scenario forks and steers.
 *
 * Invariant: a trace holds only what both backends must agree on (ids,
 * keys, pids and times as relations, never their values), so that two
 * traces are equal exactly when the behaviours are.
 */
#ifndef DSHM_TESTS_SEGDIFF_H
#define DSHM_TESTS_SEGDIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/types.h>

#define PAGE 4096u
#define NOBODY 65534
#define CHILD_MS 10000 /* how long a child may take to report and end */

/* One implementation of the System V calls. */
struct backend {
	const char *name;
	int (*get)(key_t key, size_t size, int shmflg);
	void *(*at)(int shmid, const void *shmaddr, int shmflg);
	int (*dt)(const void *shmaddr);
	int (*ctl)(int shmid, int cmd, struct shmid_ds *buf);
	int (*sync)(const void *shmaddr);
	/* In a forked child that changed its credentials, before its first call. */
	int (*child_init)(void);
};

extern const struct backend kernel_backend, dshm_backend;
extern const char *dshm_addr; /* the server of the test running now */

#define TRACE_LINES 160
#define TRACE_LINE 128

struct trace {
	char line[TRACE_LINES][TRACE_LINE];
	int n;
	key_t key;      /* the scenario's keys are key .. key + 3 */
	pid_t self;     /* the process recording */
	pid_t parent;   /* in a child: the scenario's process */
	pid_t child;    /* the latest child forked */
	int out_fd;     /* in a child: its lines go here; else -1 */
	int flushed;    /* lines already written to out_fd */
	int ids[32];    /* segments created, removed after the run */
	int nids;
	void *atts[32]; /* attachments held, detached after the run */
	int natts;
};

/*
 * A scenario's child records into its own copy of the trace and writes
 * its lines to a pipe (at child_ready and at its end); the parent appends
 * them, prefixed "child:", when it collects the child, and records how
 * the child ended.  Two more pipes let the parent hold the child at a
 * point (child_wait_go) and know that it got somewhere (child_ready).
 * Children end with _exit: they must not run the test binary's atexit
 * handlers, which stop servers.
 */
struct child {
	pid_t pid;
	int lines_fd;
	int go_fd;
	int ready_fd;
};

typedef void (*child_fn)(const struct backend *b, struct trace *tr, void *arg);

/* ---- the trace ---- */

/* Appends one line to the trace (printf format). */
void rec(struct trace *tr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* errno's name ("EINVAL"), as the trace records it. */
const char *errname(int e);
/* Records that p was attached (add) or detached, for the clean-up after the run. */
void track_att(struct trace *tr, void *p, bool add);
/* Records n bytes at p in hex (at most 24). */
void rec_bytes(struct trace *tr, const char *what, const void *p, size_t n);
/* Records whether n bytes at p are all zero, else where the first other one is. */
void rec_zero(struct trace *tr, const char *what, const void *p, size_t n);
/* Records whether ids a and b are the same. */
void rec_same_id(struct trace *tr, const char *what, int a, int b);

/* ---- calls through a backend, each recorded with its result and errno ---- */

int do_get(const struct backend *b, struct trace *tr, const char *what, key_t key, size_t size,
	   int flg);
void *do_at(const struct backend *b, struct trace *tr, const char *what, int id,
	    const void *addr, int flg);
int do_dt(const struct backend *b, struct trace *tr, const char *what, const void *p);
int do_ctl(const struct backend *b, struct trace *tr, const char *what, int id, int cmd,
	   struct shmid_ds *buf);
int do_sync(const struct backend *b, struct trace *tr, const char *what, const void *p);
/* IPC_STAT, recorded field by field; order names the times to compare ("c<=a"). */
int do_stat(const struct backend *b, struct trace *tr, const char *what, int id,
	    const char *order, struct shmid_ds *out);
/* nattch, or ULONG_MAX when IPC_STAT fails: for WAIT_UNTIL. */
unsigned long nattch_of(const struct backend *b, int id);

/* ---- children ---- */

/* In a child: writes the lines recorded since the last flush to the parent. */
void child_flush(struct trace *tr);
/* In a child: flushes, and tells the parent it got here. */
void child_ready(struct trace *tr);
/* In a child: waits until the parent says go. */
void child_wait_go(void);
/* Forks a child that runs fn(b, tr, arg) on its own copy of the trace. */
void child_spawn(const struct backend *b, struct trace *tr, struct child *c, child_fn fn,
		 void *arg);
/* Waits (bounded) until the child calls child_ready. */
void child_await_ready(struct trace *tr, struct child *c);
/* Lets a child held at child_wait_go go on. */
void child_go(struct child *c);
/* Lets the child go on, collects its lines (bounded) and how it ended. */
void child_finish(struct trace *tr, struct child *c);
/* Drops root for nobody, so that a segment's mode and owner count. */
bool become_nobody(const struct backend *b, struct trace *tr);
/* A page-aligned address with len free bytes after it (mapped, then unmapped). */
char *free_address(size_t len);

#endif /* DSHM_TESTS_SEGDIFF_H */
