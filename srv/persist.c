/*
 * persist.c — the named arena and the take-over of a kept table (see
 * persist.h).
 *
 * Invariant: nothing here removes data a previous server kept; the only
 * changes a take-over makes are the repairs every lock's next taker
 * makes anyway, and one that then finds something wrong refuses to
 * start and leaves the table and the arena for inspection.  An arena
 * is used only if it is dshmd's user's and closed to everyone else.
 */
#include "persist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "owners.h"
#include "segfile.h"
#include "segs.h"

static void
object_name(const char *name, char *out, size_t len)
{
	snprintf(out, len, "/dshm-%s", name);
}

static int
reserve(int fd, size_t size, const char *path, char *err, size_t errlen)
{
	int e = posix_fallocate(fd, 0, (off_t)size);

	if (e != 0) {
		snprintf(err, errlen, "posix_fallocate(/dev/shm%s, %zu bytes): %s%s", path, size,
			 strerror(e),
			 e == ENOSPC ? " (/dev/shm is too small: enlarge it, or lower --memory "
				       "or --workers)" : "");
		return -1;
	}
	return 0;
}

/* --overcommit: the object gets its size and no memory; what is used is backed then. */
static int
sized(int fd, size_t size, const char *path, char *err, size_t errlen)
{
	if (ftruncate(fd, (off_t)size) == 0)
		return 0;
	snprintf(err, errlen, "ftruncate(/dev/shm%s, %zu bytes): %s", path, size, strerror(errno));
	return -1;
}

int
persist_open(const char *name, size_t size, bool overcommit, struct persist_map *pm, char *err,
	     size_t errlen)
{
	char path[80];
	struct stat st;
	int fd;

	object_name(name, path, sizeof(path));
	*pm = (struct persist_map){NULL, size, false};
	/*
	 * Made by us (O_EXCL) or found; a found one must be ours and closed
	 * to everyone else, or someone could read or plant the arena's bytes.
	 */
	fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		pm->fresh = true;
	else if (errno == EEXIST)
		fd = shm_open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "shm_open(%s): %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "fstat(/dev/shm%s): %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!pm->fresh && (st.st_uid != geteuid() || (st.st_mode & 077) != 0)) {
		snprintf(err, errlen, "/dev/shm%s belongs to uid %u with mode %03o: dshmd uses only "
			 "an arena of its own user (uid %u) that nobody else can open", path,
			 (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777), (unsigned)geteuid());
		close(fd);
		return -1;
	}
	if (st.st_size == 0) {
		/* Ours, but never sized: a start that died right after making it. */
		pm->fresh = true;
		if (overcommit ? sized(fd, size, path, err, errlen) < 0
			       : reserve(fd, size, path, err, errlen) < 0) {
			close(fd);
			shm_unlink(path);
			return -1;
		}
	} else if ((size_t)st.st_size != size) {
		snprintf(err, errlen,
			 "/dev/shm%s holds %lld bytes, but --memory and --workers need %zu: start "
			 "with the sizes it was made with, or remove it (dshm-ipcrm --stale --persist %s)",
			 path, (long long)st.st_size, size, name);
		close(fd);
		return -1;
	}
	pm->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (pm->base == MAP_FAILED) {
		pm->base = NULL;
		snprintf(err, errlen, "mmap(/dev/shm%s, %zu bytes): %s", path, size, strerror(errno));
		return -1;
	}
	return 0;
}

void
persist_unmap(struct persist_map *pm)
{
	if (pm->base != NULL)
		munmap(pm->base, pm->size);
	pm->base = NULL;
}

void
persist_unlink(const char *name)
{
	char path[80];

	object_name(name, path, sizeof(path));
	shm_unlink(path);
}

static void
report_violation(void *ctx, const char *msg)
{
	(void)ctx;
	log_error("persisted table: %s", msg);
}

static bool
same_sizes(const struct table *t, const struct options *o, char *err, size_t errlen)
{
	const struct table_header *h = t->hdr;
	const char *what = NULL;
	unsigned long long had = 0, want = 0;

	if (h->frame_size != o->frame_size)
		what = "--frame-size", had = h->frame_size, want = o->frame_size;
	else if (h->nframes != o->memory / o->frame_size)
		what = "--memory (frames)", had = h->nframes, want = o->memory / o->frame_size;
	else if (h->max_owners != o->max_processes)
		what = "--max-processes", had = h->max_owners, want = o->max_processes;
	else if (h->nworkers != o->workers)
		what = "--workers", had = h->nworkers, want = o->workers;
	if (what == NULL)
		return true;
	snprintf(err, errlen,
		 "the table kept by --persist %s was made with %s %llu, not %llu: start with the "
		 "options it was made with, or remove it (dshm-ipcrm --stale --persist %s)",
		 o->persist, what, had, want, o->persist);
	return false;
}

int
persist_take_over(struct table *t, const struct options *o, char *err, size_t errlen)
{
	struct table_header *h = t->hdr;
	int bad;

	if (!same_sizes(t, o, err, errlen))
		return -1;
	/* Each segment's bytes are in a file of their own, kept with the table. */
	for (uint32_t s = 0; s < h->max_owners; s++) {
		int32_t shmid = (int32_t)atomic_load(&t->owners[s].id);
		char name[96];

		if (atomic_load(&t->owners[s].state) != OWNER_USED ||
		    atomic_load(&t->owners[s].kind) != OWNER_SEGMENT || segfile_exists(t, shmid))
			continue;
		segfile_name(t, shmid, name, sizeof(name));
		snprintf(err, errlen, "the table kept by --persist %s lists segment %d, whose bytes "
			 "(/dev/shm%s) are gone: not serving it; remove it (dshm-ipcrm --stale "
			 "--persist %s) to start afresh", o->persist, shmid, name, o->persist);
		return -1;
	}
	/* Locks whose holders died are repaired as they are taken: take each once. */
	owners_recover_all(t);
	/* Every connection died with the old server: so did its attachments. */
	for (uint32_t w = 0; w < h->nworkers; w++)
		segs_recover_worker(t, (int)w);
	if ((bad = check_table(t, report_violation, NULL)) != 0) {
		snprintf(err, errlen, "the table kept by --persist %s fails %d invariant check(s) "
			 "(logged above): not serving it", o->persist, bad);
		return -1;
	}
	for (uint32_t w = 0; w < h->nworkers; w++) {
		atomic_store(&t->workers[w].pid, 0);
		atomic_store(&t->workers[w].state, WORKER_EMPTY);
		atomic_store(&t->workers[w].conns_now, 0);
	}
	atomic_store(&h->creator_pid, (int64_t)getpid());
	h->started = time(NULL);
	return 0;
}
