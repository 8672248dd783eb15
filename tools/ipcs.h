/*
 * ipcs.h — what the parts of dshm-ipcs share: its options, the control
 * table it found, and snapshots of the table's processes, segments and
 * workers.
 *
 * Invariants: the table is attached read-only and no part of dshm-ipcs
 * takes a lock in it; everything read from it is bounds-checked, since a
 * worker may change it (or have died half-way through a change) while we
 * look.  The arena is dshmd's anonymous memory: only --dump reads bytes,
 * and it asks the server for them.
 */
#ifndef DSHM_TOOLS_IPCS_H
#define DSHM_TOOLS_IPCS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "table.h"

/* Exit codes. */
enum {
	IPCS_OK = 0,
	IPCS_FAILED = 1, /* --check found violations; or --dump could not read */
	IPCS_USAGE = 2,
	IPCS_NO_TABLE = 3,
};

enum ipcs_color { COLOR_AUTO, COLOR_ALWAYS, COLOR_NEVER };

struct ipcs_opts {
	bool key_given;
	key_t key;
	const char *server; /* --server, else $DSHM_SERVER, else NULL */
	bool procs, workers, map, json, stats, check;
	bool prometheus; /* --stats in the Prometheus text format */
	bool dump;
	bool dump_segment; /* --dump shmid:N, else pid:N */
	int dump_pid;      /* N of pid:N */
	int dump_shmid;    /* N of shmid:N */
	enum ipcs_color color;
};

/* The control table found, and how. */
struct ipcs {
	struct table t;
	key_t key;
	int shmid;
	unsigned long nattch; /* before we attached */
	size_t seg_bytes;
	char source[240]; /* where the key came from, for messages */
};

/* A paging process, as read (without its lock) from its owner slot. */
struct ipcs_proc {
	uint32_t slot;
	int64_t pid;
	uint32_t uid; /* UINT32_MAX: unknown (a TCP client) */
	uint64_t pages;
	uint64_t frames; /* frames whose frame_owner is this slot */
	int64_t created;
};

/* A segment, as read (without its lock) from segments[slot]; nattch counted from the rows. */
struct ipcs_seg {
	uint32_t slot;
	int32_t shmid, key;
	uint32_t seq, mode; /* mode: permissions and SEG_MODE_* */
	uint32_t uid, gid, cuid, cgid;
	int32_t cpid, lpid;
	uint64_t segsz, pages, nattch, gen;
	int64_t atime, dtime, ctime;
};

/* ipcs_find.c: locates the table (by key, server address or default) and attaches it read-only. */
int ipcs_find(const struct ipcs_opts *o, struct ipcs *v);
void ipcs_release(struct ipcs *v);

/* ipcs_procs.c: snapshots, and the names of things. */
/* The paging processes, sorted by pid: malloc'd in *out (NULL when none); returns how many. */
size_t ipcs_procs(const struct table *t, struct ipcs_proc **out);
uint64_t ipcs_frames_used(const struct table *t);
uint32_t ipcs_workers_serving(const struct table *t);
const char *ipcs_worker_state(uint32_t state);
void ipcs_format_uptime(int64_t seconds, char *buf, size_t len);

/* ipcs_segs.c: the segments, sorted by shmid: malloc'd in *out (NULL when none); returns how many. */
size_t ipcs_segments(const struct table *t, struct ipcs_seg **out);
/* Attachment rows in use (of every segment). */
uint64_t ipcs_attachments(const struct table *t);
/* The user name of uid, else the number. */
void ipcs_user_name(uint32_t uid, char *buf, size_t len);
/* "dest", "locked", both or "" (as ipcs -m's status column). */
void ipcs_seg_status(uint32_t mode, char *buf, size_t len);

/* ipcs_print.c: the text reports. */
void ipcs_print_summary(FILE *f, const struct ipcs *v);
void ipcs_print_segments(FILE *f, const struct ipcs *v);
void ipcs_print_procs(FILE *f, const struct ipcs *v);
void ipcs_print_workers(FILE *f, const struct ipcs *v);

/* ipcs_map.c: the arena, one cell per frame or group of frames. */
void ipcs_print_map(FILE *f, const struct ipcs *v, bool color);

/* ipcs_json.c: summary, segments, processes and workers as one JSON document. */
void ipcs_print_json(FILE *f, const struct ipcs *v);

/* --stats --prometheus: the counters in the Prometheus text format. */
void ipcs_print_prometheus(FILE *out, const struct ipcs *v);

/* ipcs_dump.c: a process's or a segment's page table and its bytes (read through the server). */
int ipcs_dump(FILE *f, const struct ipcs *v, const struct ipcs_opts *o);

#endif /* DSHM_TOOLS_IPCS_H */
