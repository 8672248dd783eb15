/*
 * layout.h — the layout of dshm's control table, a System V segment that
 * dshmd's master creates and its workers (and the tools) attach.
 *
 * Invariants: the table holds no pointers, only indices and byte offsets
 * from its own start, so any process may attach it at any address; the
 * header's creator_pid is written before its magic, and magic last of all,
 * so a reader that sees the magic sees a complete header; a change to any
 * structure here bumps DSHM_LAYOUT_VERSION.
 */
#ifndef DSHM_IPC_LAYOUT_H
#define DSHM_IPC_LAYOUT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define DSHM_TABLE_MAGIC UINT64_C(0x4453484d5441424c) /* "DSHMTABL" */
#define DSHM_LAYOUT_VERSION 7

/* Page trees: FANOUT entries a chunk, at most PT_MAX_HEIGHT levels. */
#define PT_SHIFT 6
#define PT_FANOUT (1u << PT_SHIFT)
#define PT_MAX_HEIGHT 5
#define CHUNK_NULL 0u /* chunk 0 is never handed out: it means "none" */

/*
 * A robust, process-shared mutex and the PID of its holder.  The holder
 * field is advisory (for the tools and the logs); the mutex itself is
 * what the kernel's robust-futex list recovers when a holder dies.
 */
struct dshm_lock {
	pthread_mutex_t mutex;
	_Atomic int32_t holder;
	_Atomic uint32_t repairs; /* times this lock was recovered from a dead holder */
	/*
	 * Times it was taken (bumped by each holder, wrapping): a waiter that
	 * timed out knows, at its next wait, whether the lock moved since.
	 */
	_Atomic uint32_t taken;
	uint32_t pad;
};

enum owner_state {
	OWNER_FREE = 0, /* never used since the index was last rebuilt */
	OWNER_USED = 1,
};

enum owner_kind {
	OWNER_PROCESS = 1, /* a paging process of the seed-000 API; id: its pid */
	OWNER_SEGMENT = 2, /* a System V-style segment; id: its shmid */
};

/*
 * An owner of frames: a paging process.  lock serialises every access to
 * the owner's bytes (so each read and write is atomic as a whole); the
 * structural fields (state, npages, root, height) change only while both
 * lock and the table's alloc_lock are held, so holding either one is
 * enough to read them.
 */
struct owner {
	struct dshm_lock lock;
	_Atomic uint32_t state;
	_Atomic uint32_t kind;
	_Atomic int64_t id; /* the pid of a paging process */
	_Atomic uint32_t npages;
	uint32_t root;   /* chunk index of the page tree's root, CHUNK_NULL when empty */
	uint32_t height; /* levels in the page tree: a tree of height h maps FANOUT^h pages */
	uint32_t uid;    /* the creator's uid, when the transport tells it */
	int64_t created; /* time(NULL) at creation */
	_Atomic uint32_t undo_worker; /* worker index + 1 while its write to this owner is under way */
};

/*
 * What a segment has besides its owner slot (segments[slot] beside
 * owners[slot]): the kernel's shmid_ds, kept as the kernel keeps it.
 * seq outlives the segment: the next one in the slot gets seq + 1, so its
 * shmid differs.  key and mode change under both the owner's lock and
 * alloc_lock (shmget scans keys under alloc_lock alone); the rest change
 * under the owner's lock.
 */
#define SEG_MODE_DEST 01000   /* SHM_DEST: removed, goes when the last attachment does */
#define SEG_MODE_LOCKED 02000 /* SHM_LOCKED: SHM_LOCK was asked (memory is never swapped anyway) */

/*
 * SEG_SHARED_HOSTS: other hosts hold copies of some of its pages (the
 * home's pager sets it, under the owner's lock, before it hands a page
 * out, and clears it when the last comes back): its bytes are then only
 * right through coherent attachments, and segs_read and segs_write
 * refuse.  SEG_SHARED_MAPPED: its file was handed to a coherent
 * attachment (or to another host) once; stores to memory bump no
 * generation and stamp no write notice, so from then on a copied
 * attachment's pull takes every page.  It stays until the segment goes.
 */
#define SEG_SHARED_HOSTS 1u
#define SEG_SHARED_MAPPED 2u

struct segment {
	int32_t key;     /* IPC_PRIVATE (0) once removed */
	uint32_t seq;
	uint64_t segsz;  /* bytes asked for; the owner has that rounded up to frames */
	uint32_t mode;   /* low 9 bits: permissions; SEG_MODE_* */
	uint32_t uid, gid, cuid, cgid;
	int32_t cpid, lpid;
	_Atomic uint32_t shared; /* SEG_SHARED_* */
	int64_t atime, dtime, ctime;
	_Atomic uint64_t gen; /* bumped by every write: a reader that saw gen g knows whether it changed */
};

/*
 * An attachment of a segment by a client connection.  state is 0 when
 * the row is free, else the index + 1 of the worker serving the
 * connection; a worker claims a free row with a compare-and-swap and
 * writes the rest while it holds the segment's lock, so a row whose
 * shmid is that segment's is complete for whoever holds the lock.
 * A segment's nattch is the number of its rows; a worker that dies
 * leaves rows its successor removes as it starts.
 */
struct attach_row {
	_Atomic uint32_t state;
	_Atomic int32_t shmid; /* -1 while being filled or freed */
	uint64_t conn;         /* the worker's serial number of the connection */
	int32_t pid;           /* the attached process, for shm_lpid at detach */
	uint32_t flags;        /* ATTACH_RDONLY, ATTACH_PID_KERNEL */
	uint32_t uid;          /* the attaching connection's user, for its share (ipc/quota.h) */
	uint32_t pad;
};
#define ATTACH_RDONLY 1u
#define ATTACH_PID_KERNEL 2u /* pid came from the kernel (SO_PEERCRED), not from the client */

/*
 * The owner index: an open-addressing hash of (kind, id) to owner slot.
 * An entry is INDEX_EMPTY, INDEX_TOMB (deleted: probing goes on), or
 * slot + 1.  Entries change only under alloc_lock; lookups read them
 * without a lock and confirm the owner under its own lock.  index_gen is
 * odd while the index is being rebuilt, so a lockless reader that saw a
 * rebuild retries.
 */
#define INDEX_EMPTY 0u
#define INDEX_TOMB UINT32_MAX

/*
 * What the holder of alloc_lock is doing to an owner's structure, written
 * before it starts and cleared when it is done, so that whoever recovers
 * alloc_lock from a dead holder can finish or undo it.
 */
enum journal_op {
	JOURNAL_NONE = 0,
	JOURNAL_GROW = 1,    /* owner grows from old_npages; undo: old root and height, truncate */
	JOURNAL_RELEASE = 2, /* owner is being freed; redo: free it whole */
};

struct alloc_journal {
	uint32_t op;
	uint32_t owner;
	uint32_t old_npages;
	uint32_t old_root;   /* the tree before a grow: raising its height */
	uint32_t old_height; /* replaces the root, so undoing restores both */
	uint32_t pad;
};

enum worker_state {
	WORKER_EMPTY = 0,
	WORKER_STARTING = 1,
	WORKER_SERVING = 2,
	WORKER_STOPPING = 3,
};

/*
 * A write in progress: before a worker overwrites nruns ranges of an
 * owner (len bytes in all), it saves their bytes in its undo area
 * (outside this table, owners.c says how) and sets active; the owner's
 * undo_worker points here.  Whoever recovers the owner's lock from a dead
 * writer copies every saved range back, so a write of any number of
 * ranges takes effect whole or not at all.
 */
struct undo_record {
	_Atomic uint32_t active;
	uint32_t owner;
	uint32_t nruns;
	uint32_t unused;
	uint64_t len;
};

#define STATS_OPS 32    /* requests counted per opcode below this (0: any other) */
#define STATS_ERRORS 32  /* errors counted per status code -200 .. -231 */

/*
 * How many connections one user has on one worker: key is the uid + 1
 * (0: a free row).  A worker's rows are written by that worker only, so
 * a dead worker's count goes with its slot; every worker reads all rows
 * to know a user's share of the whole server (ipc/usershare.h).
 */
#define WORKER_USER_ROWS 512

struct user_conns {
	_Atomic uint32_t key;
	_Atomic uint32_t conns;
};

/* A worker's row in the scoreboard: written only by that worker (respawns and heartbeat_ms's reset by the master). */
struct worker_slot {
	_Atomic int32_t pid;
	_Atomic uint32_t state;
	_Atomic uint64_t conns_now;
	_Atomic uint64_t conns_total;
	_Atomic uint64_t requests;
	_Atomic uint64_t bytes_in;
	_Atomic uint64_t bytes_out;
	_Atomic int64_t started;       /* time(NULL) */
	_Atomic int64_t last_activity; /* time(NULL) */
	_Atomic uint64_t respawns;     /* written by the master */
	_Atomic uint64_t conns_refused; /* accept failures (out of descriptors or memory) */
	/*
	 * clock_now_ms() (CLOCK_MONOTONIC) at the worker's last turn of its
	 * event loop, which takes one at least every 250 ms even when idle:
	 * the master kills a serving worker silent past --worker-stall.
	 */
	_Atomic int64_t heartbeat_ms;
	_Atomic uint64_t op_requests[STATS_OPS];
	_Atomic uint64_t errors[STATS_ERRORS];
	struct undo_record undo;
	struct user_conns users[WORKER_USER_ROWS];
};

struct table_header {
	_Atomic int64_t creator_pid; /* first field, written first */
	_Atomic uint64_t magic;      /* written last */
	uint32_t layout_version;
	uint32_t header_size;
	uint64_t table_size; /* bytes in the whole segment */
	int32_t key;
	uint32_t frame_size;
	uint64_t nframes;
	uint32_t max_owners;
	uint32_t index_size; /* entries in the owner index, a power of two */
	uint32_t nworkers;
	uint32_t pad0;
	uint64_t nchunks; /* page-tree chunks, chunk 0 included */
	uint32_t max_attach; /* rows in the attachment table */
	uint32_t pad2;
	/*
	 * Each user's share of the table (ipc/quota.h), written by the master
	 * at every start: 0 in a per-user field means no share.  Root and
	 * exempt_uid (dshmd's own user) are held to none, and only they may
	 * take the last reserved slots or rows.
	 */
	uint32_t exempt_uid;
	uint32_t owners_per_user;
	uint32_t owners_reserved;
	uint32_t attach_per_user;
	uint32_t attach_reserved;
	uint32_t pad3;

	/* byte offsets from the start of the segment */
	uint64_t off_owners;
	uint64_t off_index;
	uint64_t off_frame_owner;
	uint64_t off_frame_bits;
	uint64_t off_chunks;
	uint64_t off_chunk_bits;
	uint64_t off_workers;
	uint64_t off_segments;
	uint64_t off_attach;

	int64_t started; /* time(NULL) when the table was created */
	/*
	 * A random number drawn when the table was made: with the key it
	 * names the files that hold the segments' bytes (ipc/segfile.h), so
	 * the files of two tables at one key never mix.
	 */
	uint64_t instance;
	char version[32];
	/* What else the server made ("" when none), for dshm-ipcrm --stale to clean up. */
	char unix_path[108];
	char pidfile[256];
	/*
	 * The --persist name ("" when none): such a table and its named arena
	 * outlive the server, and the next dshmd of that name takes them over.
	 */
	char persist[64];

	/*
	 * alloc_lock guards the frame allocator (frame_owner, frame_bits,
	 * frames_free, frame_hint), the chunk pool, the owner index and
	 * owners_used, and journal.  Reads and writes of bytes never take it.
	 */
	struct dshm_lock alloc_lock;
	struct alloc_journal journal;
	uint64_t frames_free;
	uint64_t frame_hint;
	uint64_t chunks_free;
	uint64_t chunk_hint;
	uint32_t owners_used;
	uint32_t index_tombs;
	_Atomic uint32_t index_gen;
	/*
	 * Set when a removed segment's last detach could not free it (a lock
	 * stayed held past a worker's bound): the workers' sweep frees it then
	 * (segs_release_orphans), since nobody may look it up again.
	 */
	_Atomic uint32_t releases_pending;
};

#endif /* DSHM_IPC_LAYOUT_H */
