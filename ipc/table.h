/*
 * table.h — the control table: sizing, creating, attaching, classifying
 * a segment found at our key, and removing it.
 *
 * struct table is a process-local view: pointers computed from the
 * offsets in the shared header, valid only in the process that made them.
 */
#ifndef DSHM_IPC_TABLE_H
#define DSHM_IPC_TABLE_H

#include <bsd/bitstring.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "layout.h"

/* Attachments the table holds per owner slot (a segment attached this many times on average). */
#define TABLE_ATTACH_PER_OWNER 4

struct table_params {
	key_t key;
	uint32_t frame_size; /* a power of two */
	uint64_t nframes;
	uint32_t max_owners;
	uint32_t nworkers;
	const char *unix_path; /* recorded in the header; NULL: none */
	const char *pidfile;   /* likewise */
	const char *persist;   /* the --persist name; NULL: none */
};

struct table {
	struct table_header *hdr;
	int shmid;              /* -1 when the table is not a System V segment */
	struct owner *owners;
	_Atomic uint32_t *index;
	_Atomic uint32_t *frame_owner; /* per frame: 0 free, else owner slot + 1 */
	bitstr_t *frame_bits;          /* per frame: set when in use */
	uint32_t *chunks;              /* nchunks * PT_FANOUT entries */
	bitstr_t *chunk_bits;          /* per chunk: set when in use */
	struct worker_slot *workers;
	struct segment *segments;   /* max_owners, beside owners */
	struct attach_row *attach;  /* max_attach */
	unsigned char *arena; /* the frames, frame_size bytes each */
	unsigned frame_shift;
	/*
	 * Write-undo areas, undo_each bytes per worker, in a shared mapping
	 * of the master's (NULL: writes are not undoable, as in tools), and
	 * the worker this process is (-1: none).
	 */
	unsigned char *undo;
	size_t undo_each;
	size_t undo_backed; /* bytes from the start of this worker's undo area known backed */
	int self;
	/* The descriptor of the segment file this process used last (segfile.c), or -1. */
	int segfd;
	int32_t segfd_id;
	/*
	 * While a paging process grows (frames.h, frames_back_begin): the run
	 * of frames taken and not yet backed, and whether the kernel refused
	 * to back one.
	 */
	bool backing, back_refused;
	uint64_t back_first, back_count;
};

/* Bytes a table with these parameters needs. */
size_t table_size(const struct table_params *p);

/*
 * Lays out and initialises a table in mem (table_size(p) bytes, zeroed,
 * shared with whoever will use it) and binds t to it and to arena.
 * Returns 0 or an errno value.
 */
int table_format(struct table *t, void *mem, const struct table_params *p,
		 unsigned char *arena);

/* Binds t to an already formatted table at mem; false if the header is not a valid one. */
bool table_bind(struct table *t, void *mem, size_t mem_size, unsigned char *arena);

enum table_found {
	TABLE_ABSENT,  /* nothing at the key */
	TABLE_STALE,   /* a dshm table of our uid that nobody is attached to */
	TABLE_IN_USE,  /* a dshm table that some process is attached to */
	TABLE_FOREIGN, /* something that is not ours */
	TABLE_ERROR,   /* the kernel would not tell (message in err) */
};

struct table_probe {
	int shmid;
	unsigned long nattch;
	pid_t creator_pid; /* from the table's header, 0 if unreadable */
	pid_t last_pid;    /* shm_lpid: the last process to attach or detach */
	char persist[64];  /* the header's --persist name ("" when none or unreadable) */
};

/* Looks at what is at key without changing anything. */
enum table_found table_probe(key_t key, struct table_probe *probe,
			     char *err, size_t errlen);

/*
 * Creates the table as a new System V segment at p->key (IPC_CREAT |
 * IPC_EXCL, mode 0600), attaches it and formats it.  Returns 0, or -1 with
 * a message naming the failed call and the kernel limit that applies.
 */
int table_create(struct table *t, const struct table_params *p,
		 unsigned char *arena, char *err, size_t errlen);

/*
 * Attaches the table at key (read-only when readonly) without changing it.
 * Returns 0 or -1 with a message.
 */
int table_attach(struct table *t, key_t key, bool readonly, char *err, size_t errlen);

void table_detach(struct table *t);

/* Marks the segment for removal (IPC_RMID). */
int table_remove(int shmid);

/* The address of frame f in the arena. */
static inline unsigned char *
table_frame(const struct table *t, uint64_t f)
{
	return t->arena + (f << t->frame_shift);
}

#endif /* DSHM_IPC_TABLE_H */
