/*
 * segfile.c — segments' bytes in /dev/shm files (see segfile.h).
 *
 * Each process keeps one descriptor open, of the segment it used last,
 * so the many runs of one write cost one open(); segfile_sweep closes it
 * once its segment is gone, so a freed segment's memory is not held by
 * a worker that happens to have used it last.
 */
#include "segfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dshm_status.h"
#include "fault.h"

#define NAME_PREFIX "dshm.seg."

static void
name_of(key_t key, uint64_t instance, int32_t shmid, char *out, size_t len)
{
	snprintf(out, len, "/" NAME_PREFIX "%08x.%016llx.%d", (unsigned)key,
		 (unsigned long long)instance, shmid);
}

void
segfile_name(const struct table *t, int32_t shmid, char *out, size_t len)
{
	name_of(t->hdr->key, t->hdr->instance, shmid, out, len);
}

static uint64_t
page_rounded(uint64_t size)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	return (size + page - 1) / page * page;
}

static uint64_t
notice_pages(uint64_t size)
{
	return (size + SEGFILE_NOTICE_PAGE - 1) / SEGFILE_NOTICE_PAGE;
}

uint64_t
segfile_notices_at(uint64_t size)
{
	return page_rounded(size);
}

/* The whole file: the bytes, then a u64 per notice page. */
static uint64_t
file_size(uint64_t size)
{
	return segfile_notices_at(size) + page_rounded(notice_pages(size) * sizeof(uint64_t));
}

int
segfile_create(struct table *t, int32_t shmid, uint64_t size)
{
	char name[96];
	int fd, e;

	segfile_name(t, shmid, name, sizeof(name));
	fd = shm_open(name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == ENOSPC || errno == EMFILE || errno == ENFILE ? DSHM_NO_SPACE
									     : DSHM_ERROR;
	/* A file a dead creator left under this name is emptied first: it starts as zeros. */
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)file_size(size)) < 0) {
		close(fd);
		shm_unlink(name);
		return DSHM_ERROR;
	}
	e = posix_fallocate(fd, 0, (off_t)file_size(size));
	close(fd);
	if (e != 0) {
		shm_unlink(name);
		return e == ENOSPC ? DSHM_NO_SPACE : DSHM_ERROR;
	}
	return DSHM_SUCCESS;
}

void
segfile_unlink(struct table *t, int32_t shmid)
{
	char name[96];

	if (t->segfd >= 0 && t->segfd_id == shmid)
		segfile_forget(t);
	segfile_name(t, shmid, name, sizeof(name));
	shm_unlink(name);
}

int
segfile_open(const struct table *t, int32_t shmid, bool rdonly)
{
	char name[96];

	segfile_name(t, shmid, name, sizeof(name));
	return shm_open(name, (rdonly ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_CLOEXEC, 0);
}

bool
segfile_exists(const struct table *t, int32_t shmid)
{
	int fd = segfile_open(t, shmid, true);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

void
segfile_forget(struct table *t)
{
	if (t->segfd >= 0)
		close(t->segfd);
	t->segfd = -1;
	t->segfd_id = -1;
}

/* The kept descriptor of the segment in slot, opened if it is another's. */
static int
fd_of(struct table *t, uint32_t slot)
{
	int32_t shmid = (int32_t)atomic_load(&t->owners[slot].id);

	if (t->segfd >= 0 && t->segfd_id == shmid)
		return t->segfd;
	segfile_forget(t);
	t->segfd = segfile_open(t, shmid, false);
	/* A process that may only look (a tool of another user's group, say) reads. */
	if (t->segfd < 0 && (errno == EACCES || errno == EROFS))
		t->segfd = segfile_open(t, shmid, true);
	if (t->segfd >= 0)
		t->segfd_id = shmid;
	return t->segfd;
}

bool
segfile_copy(struct table *t, uint32_t slot, uint64_t pos, void *buf, uint64_t len,
	     bool to_file)
{
	unsigned char *b = buf;
	int fd = fd_of(t, slot);

	if (fd < 0)
		return false;
	while (len > 0) {
		/*
		 * A write crossing a page boundary goes in two pieces, up to the
		 * boundary and the rest, with the crash point between them.
		 */
		uint64_t n = len, to_boundary = 4096 - (pos & 4095);
		ssize_t done;

		if (to_file && b == (unsigned char *)buf && n > to_boundary)
			n = to_boundary;
		done = to_file ? pwrite(fd, b, (size_t)n, (off_t)pos)
			       : pread(fd, b, (size_t)n, (off_t)pos);
		if (done < 0 && errno == EINTR)
			continue;
		if (done <= 0)
			return false;
		b += done;
		pos += (uint64_t)done;
		len -= (uint64_t)done;
		if (to_file && len > 0)
			FAULT_POINT("write_copying"); /* between two pages of one write */
	}
	return true;
}

/* Notices are moved this many at a time. */
#define NOTICE_CHUNK 512

bool
segfile_stamp(struct table *t, uint32_t slot, uint64_t size, uint64_t pos, uint64_t len,
	      uint64_t gen)
{
	uint64_t stamps[NOTICE_CHUNK], first, last;
	int fd = fd_of(t, slot);

	if (fd < 0)
		return false;
	if (len == 0)
		return true;
	first = pos / SEGFILE_NOTICE_PAGE;
	last = (pos + len - 1) / SEGFILE_NOTICE_PAGE;
	for (size_t i = 0; i < NOTICE_CHUNK; i++)
		stamps[i] = gen;
	while (first <= last) {
		uint64_t n = last - first + 1 < NOTICE_CHUNK ? last - first + 1 : NOTICE_CHUNK;
		size_t bytes = (size_t)n * sizeof(uint64_t);
		off_t at = (off_t)(segfile_notices_at(size) + first * sizeof(uint64_t));

		if (pwrite(fd, stamps, bytes, at) != (ssize_t)bytes)
			return false;
		first += n;
	}
	return true;
}

int64_t
segfile_changed(struct table *t, uint32_t slot, uint64_t size, uint64_t pos, uint64_t len,
		uint64_t since, uint32_t *pages)
{
	uint64_t stamps[NOTICE_CHUNK], first, last;
	int64_t found = 0;
	int fd = fd_of(t, slot);

	if (fd < 0)
		return -1;
	if (len == 0)
		return 0;
	first = pos / SEGFILE_NOTICE_PAGE;
	last = (pos + len - 1) / SEGFILE_NOTICE_PAGE;
	while (first <= last) {
		uint64_t n = last - first + 1 < NOTICE_CHUNK ? last - first + 1 : NOTICE_CHUNK;
		size_t bytes = (size_t)n * sizeof(uint64_t);
		off_t at = (off_t)(segfile_notices_at(size) + first * sizeof(uint64_t));

		if (pread(fd, stamps, bytes, at) != (ssize_t)bytes)
			return -1;
		for (uint64_t i = 0; i < n; i++)
			if (stamps[i] > since)
				pages[found++] = (uint32_t)(first + i);
		first += n;
	}
	return found;
}

void
segfile_sweep(struct table *t)
{
	uint32_t slot;

	if (t->segfd < 0)
		return;
	slot = (uint32_t)t->segfd_id % t->hdr->max_owners;
	if (atomic_load(&t->owners[slot].state) != OWNER_USED ||
	    atomic_load(&t->owners[slot].kind) != OWNER_SEGMENT ||
	    atomic_load(&t->owners[slot].id) != t->segfd_id)
		segfile_forget(t);
}

unsigned
segfile_remove(key_t key, uint64_t instance, bool all, bool dry)
{
	char prefix[64], path[320];
	unsigned removed = 0;
	struct dirent *d;
	DIR *dir;

	/* "/dshm.seg.KEY." for every instance, "/dshm.seg.KEY.INSTANCE." for one. */
	if (all)
		snprintf(prefix, sizeof(prefix), NAME_PREFIX "%08x.", (unsigned)key);
	else
		snprintf(prefix, sizeof(prefix), NAME_PREFIX "%08x.%016llx.", (unsigned)key,
			 (unsigned long long)instance);
	if ((dir = opendir("/dev/shm")) == NULL)
		return 0;
	while ((d = readdir(dir)) != NULL) {
		if (strncmp(d->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(path, sizeof(path), "/%s", d->d_name);
		if (dry || shm_unlink(path) == 0)
			removed++;
	}
	closedir(dir);
	return removed;
}
