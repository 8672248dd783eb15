/*
 * table.c — sizing, creating, attaching and classifying the control table.
 *
 * Invariants: every region starts on a 64-byte boundary; the header's
 * creator_pid is stored first and its magic last (with release order), so
 * a table is valid exactly when its magic and layout version match; the
 * chunk pool is sized for the worst case, so growing a page tree never
 * fails once enough frames are free.
 */
#include "table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#include "lock.h"

#ifndef DSHM_VERSION
#define DSHM_VERSION "unknown"
#endif

#define ALIGN64(x) (((x) + 63) & ~(uint64_t)63)

struct layout {
	uint64_t off_owners, off_index, off_frame_owner, off_frame_bits;
	uint64_t off_chunks, off_chunk_bits, off_workers, off_segments, off_attach, size;
	uint64_t nchunks;
	uint32_t index_size, max_attach;
};

/*
 * Chunks needed in the worst case.  At tree level l (leaves are level 1)
 * an owner of p pages needs ceil(p / FANOUT^l) <= p / FANOUT^l + 1 nodes,
 * and only owners with more than FANOUT^(l-1) pages reach level l >= 2.
 */
static uint64_t
chunks_needed(uint64_t nframes, uint32_t max_owners)
{
	uint64_t total = 1; /* chunk 0, the null chunk */
	uint64_t span = 1;  /* FANOUT^(l-1) */

	for (int l = 1; l <= PT_MAX_HEIGHT; l++) {
		uint64_t tall = l == 1 ? max_owners : nframes / (span + 1) + 1;

		if (tall > max_owners)
			tall = max_owners;
		span *= PT_FANOUT;
		total += nframes / span + tall;
	}
	return total;
}

static void
compute_layout(const struct table_params *p, struct layout *l)
{
	uint64_t off = ALIGN64(sizeof(struct table_header));

	l->index_size = 1;
	while (l->index_size < 2u * p->max_owners)
		l->index_size <<= 1;
	l->nchunks = chunks_needed(p->nframes, p->max_owners);

	l->off_owners = off;
	off = ALIGN64(off + (uint64_t)p->max_owners * sizeof(struct owner));
	l->off_index = off;
	off = ALIGN64(off + (uint64_t)l->index_size * sizeof(uint32_t));
	l->off_frame_owner = off;
	off = ALIGN64(off + p->nframes * sizeof(uint32_t));
	l->off_frame_bits = off;
	off = ALIGN64(off + bitstr_size(p->nframes));
	l->off_chunks = off;
	off = ALIGN64(off + l->nchunks * PT_FANOUT * sizeof(uint32_t));
	l->off_chunk_bits = off;
	off = ALIGN64(off + bitstr_size(l->nchunks));
	l->off_workers = off;
	off = ALIGN64(off + (uint64_t)p->nworkers * sizeof(struct worker_slot));
	l->off_segments = off;
	off = ALIGN64(off + (uint64_t)p->max_owners * sizeof(struct segment));
	l->max_attach = TABLE_ATTACH_PER_OWNER * p->max_owners;
	l->off_attach = off;
	off = ALIGN64(off + (uint64_t)l->max_attach * sizeof(struct attach_row));
	l->size = off;
}

size_t
table_size(const struct table_params *p)
{
	struct layout l;

	compute_layout(p, &l);
	return (size_t)l.size;
}

static void
bind_pointers(struct table *t, void *mem, unsigned char *arena)
{
	unsigned char *base = mem;
	struct table_header *h = mem;

	t->hdr = h;
	t->owners = (struct owner *)(base + h->off_owners);
	t->index = (_Atomic uint32_t *)(base + h->off_index);
	t->frame_owner = (_Atomic uint32_t *)(base + h->off_frame_owner);
	t->frame_bits = (bitstr_t *)(base + h->off_frame_bits);
	t->chunks = (uint32_t *)(base + h->off_chunks);
	t->chunk_bits = (bitstr_t *)(base + h->off_chunk_bits);
	t->workers = (struct worker_slot *)(base + h->off_workers);
	t->segments = (struct segment *)(base + h->off_segments);
	t->attach = (struct attach_row *)(base + h->off_attach);
	t->arena = arena;
	t->frame_shift = (unsigned)__builtin_ctz(h->frame_size);
	t->undo = NULL;
	t->undo_each = 0;
	t->self = -1;
	t->segfd = -1;
	t->segfd_id = -1;
}

int
table_format(struct table *t, void *mem, const struct table_params *p,
	     unsigned char *arena)
{
	struct table_header *h = mem;
	struct layout l;
	int err;

	compute_layout(p, &l);
	atomic_store(&h->creator_pid, (int64_t)getpid());
	h->layout_version = DSHM_LAYOUT_VERSION;
	h->header_size = sizeof(*h);
	h->table_size = l.size;
	h->key = (int32_t)p->key;
	h->frame_size = p->frame_size;
	h->nframes = p->nframes;
	h->max_owners = p->max_owners;
	h->index_size = l.index_size;
	h->nworkers = p->nworkers;
	h->nchunks = l.nchunks;
	h->off_owners = l.off_owners;
	h->off_index = l.off_index;
	h->off_frame_owner = l.off_frame_owner;
	h->off_frame_bits = l.off_frame_bits;
	h->off_chunks = l.off_chunks;
	h->off_chunk_bits = l.off_chunk_bits;
	h->off_workers = l.off_workers;
	h->off_segments = l.off_segments;
	h->off_attach = l.off_attach;
	h->max_attach = l.max_attach;
	h->started = time(NULL);
	h->instance = (uint64_t)arc4random() << 32 | arc4random();
	snprintf(h->version, sizeof(h->version), "%s", DSHM_VERSION);
	/* A path that does not fit is not recorded: a cut one would name another file. */
	if (p->unix_path != NULL && strlen(p->unix_path) < sizeof(h->unix_path))
		strcpy(h->unix_path, p->unix_path);
	if (p->pidfile != NULL && strlen(p->pidfile) < sizeof(h->pidfile))
		strcpy(h->pidfile, p->pidfile);
	if (p->persist != NULL && strlen(p->persist) < sizeof(h->persist))
		strcpy(h->persist, p->persist);
	h->frames_free = p->nframes;
	h->chunks_free = l.nchunks - 1;
	h->chunk_hint = 1;

	bind_pointers(t, mem, arena);
	t->shmid = -1;
	bit_set(t->chunk_bits, 0); /* the null chunk is never free */
	for (uint32_t i = 0; i < l.max_attach; i++)
		atomic_store(&t->attach[i].shmid, -1);
	if ((err = lock_init(&h->alloc_lock)) != 0)
		return err;
	for (uint32_t i = 0; i < p->max_owners; i++)
		if ((err = lock_init(&t->owners[i].lock)) != 0)
			return err;
	atomic_store_explicit(&h->magic, DSHM_TABLE_MAGIC, memory_order_release);
	return 0;
}

/*
 * Whether every size and offset in the header is the one its own
 * parameters give: pointers are computed from these offsets, so a header
 * damaged or made by anything else must never be trusted with them.
 */
static bool
layout_matches(const struct table_header *h)
{
	struct table_params p = {
		.frame_size = h->frame_size,
		.nframes = h->nframes,
		.max_owners = h->max_owners,
		.nworkers = h->nworkers,
	};
	struct layout l;

	if (h->nframes == 0 || h->nframes > INT32_MAX || h->max_owners == 0 ||
	    h->max_owners > (1u << 20) || h->nworkers == 0 || h->nworkers > 4096)
		return false;
	compute_layout(&p, &l);
	return l.size == h->table_size && l.index_size == h->index_size &&
	       l.nchunks == h->nchunks && l.max_attach == h->max_attach &&
	       l.off_owners == h->off_owners && l.off_index == h->off_index &&
	       l.off_frame_owner == h->off_frame_owner && l.off_frame_bits == h->off_frame_bits &&
	       l.off_chunks == h->off_chunks && l.off_chunk_bits == h->off_chunk_bits &&
	       l.off_workers == h->off_workers && l.off_segments == h->off_segments &&
	       l.off_attach == h->off_attach;
}

bool
table_bind(struct table *t, void *mem, size_t mem_size, unsigned char *arena)
{
	struct table_header *h = mem;

	if (mem_size < sizeof(*h) ||
	    atomic_load_explicit(&h->magic, memory_order_acquire) != DSHM_TABLE_MAGIC ||
	    h->layout_version != DSHM_LAYOUT_VERSION || h->header_size != sizeof(*h) ||
	    h->table_size > mem_size || h->frame_size == 0 ||
	    (h->frame_size & (h->frame_size - 1)) != 0 || !layout_matches(h))
		return false;
	bind_pointers(t, mem, arena);
	return true;
}

/* The hint appended to a failed shmget, naming the kernel limit involved. */
static const char *
shmget_hint(int err)
{
	switch (err) {
	case EINVAL:
		return " (the size is above kernel.shmmax, or a segment of another size holds the key)";
	case ENOSPC:
		return " (kernel.shmmni segments or kernel.shmall pages are in use: raise them, "
		       "or remove stale segments with dshm-ipcrm --stale or ipcrm)";
	case ENOMEM:
		return " (no memory for the segment)";
	case EACCES:
		return " (the segment at this key belongs to another user)";
	default:
		return "";
	}
}

enum table_found
table_probe(key_t key, struct table_probe *probe, char *err, size_t errlen)
{
	struct shmid_ds ds;
	struct table_header *h;
	enum table_found found;
	int id;

	memset(probe, 0, sizeof(*probe));
	probe->shmid = -1;
	id = shmget(key, 0, 0);
	if (id < 0) {
		if (errno == ENOENT)
			return TABLE_ABSENT;
		if (errno == EACCES)
			return TABLE_FOREIGN;
		snprintf(err, errlen, "shmget(key 0x%08x): %s", (unsigned)key, strerror(errno));
		return TABLE_ERROR;
	}
	probe->shmid = id;
	if (shmctl(id, IPC_STAT, &ds) < 0) {
		if (errno == EACCES)
			return TABLE_FOREIGN;
		snprintf(err, errlen, "shmctl(shmid %d, IPC_STAT): %s", id, strerror(errno));
		return TABLE_ERROR;
	}
	/* nattch is read before we attach, so our own look does not count. */
	probe->nattch = ds.shm_nattch;
	probe->last_pid = ds.shm_lpid;
	if (ds.shm_perm.uid != geteuid() || ds.shm_segsz < sizeof(*h))
		return TABLE_FOREIGN;
	h = shmat(id, NULL, SHM_RDONLY);
	if (h == (void *)-1)
		return errno == EACCES ? TABLE_FOREIGN : TABLE_ERROR;
	if (atomic_load(&h->magic) != DSHM_TABLE_MAGIC) {
		found = TABLE_FOREIGN;
	} else {
		probe->creator_pid = (pid_t)atomic_load(&h->creator_pid);
		if (h->layout_version == DSHM_LAYOUT_VERSION && ds.shm_segsz >= sizeof(*h))
			memcpy(probe->persist, h->persist, sizeof(probe->persist) - 1);
		found = probe->nattch == 0 ? TABLE_STALE : TABLE_IN_USE;
	}
	shmdt(h);
	return found;
}

int
table_create(struct table *t, const struct table_params *p, unsigned char *arena,
	     char *err, size_t errlen)
{
	size_t size = table_size(p);
	void *mem;
	int id, e;

	id = shmget(p->key, size, IPC_CREAT | IPC_EXCL | 0600);
	if (id < 0) {
		e = errno;
		snprintf(err, errlen, "shmget(key 0x%08x, %zu bytes, IPC_CREAT|IPC_EXCL): %s%s",
			 (unsigned)p->key, size, strerror(e), shmget_hint(e));
		return -1;
	}
	mem = shmat(id, NULL, 0);
	if (mem == (void *)-1) {
		e = errno;
		shmctl(id, IPC_RMID, NULL);
		snprintf(err, errlen, "shmat(shmid %d): %s", id, strerror(e));
		return -1;
	}
	if ((e = table_format(t, mem, p, arena)) != 0) {
		shmdt(mem);
		shmctl(id, IPC_RMID, NULL);
		snprintf(err, errlen, "pthread_mutex_init (robust, process-shared): %s", strerror(e));
		return -1;
	}
	t->shmid = id;
	return 0;
}

int
table_attach(struct table *t, key_t key, bool readonly, char *err, size_t errlen)
{
	struct shmid_ds ds;
	void *mem;
	int id;

	if ((id = shmget(key, 0, 0)) < 0) {
		snprintf(err, errlen, "shmget(key 0x%08x): %s", (unsigned)key, strerror(errno));
		return -1;
	}
	if (shmctl(id, IPC_STAT, &ds) < 0) {
		snprintf(err, errlen, "shmctl(shmid %d, IPC_STAT): %s", id, strerror(errno));
		return -1;
	}
	if ((mem = shmat(id, NULL, readonly ? SHM_RDONLY : 0)) == (void *)-1) {
		snprintf(err, errlen, "shmat(shmid %d): %s", id, strerror(errno));
		return -1;
	}
	if (!table_bind(t, mem, ds.shm_segsz, NULL)) {
		shmdt(mem);
		snprintf(err, errlen, "shmid %d at key 0x%08x is not a dshm table of layout %d",
			 id, (unsigned)key, DSHM_LAYOUT_VERSION);
		return -1;
	}
	t->shmid = id;
	return 0;
}

void
table_detach(struct table *t)
{
	/* A table never bound (hdr NULL) has no descriptor of its own. */
	if (t->hdr != NULL && t->segfd >= 0)
		close(t->segfd);
	t->segfd = -1;
	if (t->hdr != NULL && t->shmid >= 0)
		shmdt(t->hdr);
	t->hdr = NULL;
}

int
table_remove(int shmid)
{
	return shmctl(shmid, IPC_RMID, NULL);
}
