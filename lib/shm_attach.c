/*
 * shm_attach.c — dshm_shmat, dshm_shmdt and dshm_sync: local mappings
 * that hold a segment's bytes, kept in step with the server at sync
 * points (release consistency).
 *
 * Invariants: the twin holds exactly the bytes this process last sent or
 * received, so the bytes that differ from it are this process's changes,
 * and only those are sent (two processes changing different bytes of one
 * page both land); a sync pulls after it pushes, so it ends with every
 * change published before it; an attachment is forgotten only once its
 * changes reached the server.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dshm.h"
#include "naming.h"
#include "shm_internal.h"

/* Bytes closer than this between two changes go in one run: a run costs 16 bytes of header. */
#define RUN_GAP 16

static struct attachment *
find(const void *addr)
{
	for (struct attachment *a = shm_attachments; a != NULL; a = a->next)
		if (a->addr == addr)
			return a;
	return NULL;
}

/* One SHM_ATTACH on l; retry: once more on a new connection if this one fails. */
static int
attach_request(struct shm_link *l, int32_t shmid, int flags, int32_t lpid, uint64_t *segsz,
	       uint64_t *gen, bool retry)
{
	unsigned char body[PROTO_SHM_ATTACH_LEN], reply[PROTO_SHM_ATTACH_REPLY_LEN];
	struct proto_request r = {.opcode = OP_SHM_ATTACH, .data_len = sizeof(body)};
	int rc;

	proto_put_u32(body, (uint32_t)shmid);
	proto_put_u32(body + 4, (uint32_t)(flags & (SHM_RDONLY | SHM_EXEC)));
	proto_put_u32(body + 8, (uint32_t)lpid);
	rc = retry ? shm_call(l, &r, body, reply, sizeof(reply), NULL)
		   : shm_call_once(l, &r, body, reply, sizeof(reply), NULL);
	if (rc == DSHM_SUCCESS) {
		*segsz = proto_get_u64(reply);
		*gen = proto_get_u64(reply + 8);
	}
	return rc;
}

static void
detach_request(struct shm_link *l, int32_t shmid, bool rdonly)
{
	unsigned char body[PROTO_SHM_DETACH_LEN];
	struct proto_request r = {.opcode = OP_SHM_DETACH, .data_len = sizeof(body)};

	proto_put_u32(body, (uint32_t)shmid);
	proto_put_u32(body + 4, rdonly);
	shm_call(l, &r, body, NULL, 0, NULL);
}

bool
shm_reattach_all(struct shm_link *l, int32_t lpid)
{
	for (struct attachment *a = shm_attachments; a != NULL; a = a->next) {
		uint64_t segsz, gen;
		int rc;

		if (a->link != l)
			continue;
		rc = attach_request(l, a->shmid, a->rdonly ? SHM_RDONLY : 0, lpid, &segsz, &gen,
				    false);

		/* A segment gone meanwhile stays mapped; its syncs fail with EINVAL. */
		if (rc == DSHM_DISCONNECTED_SERVER || rc == DSHM_DISCONNECTED_CLIENT ||
		    rc == DSHM_VERSION_MISMATCH)
			return false;
	}
	return true;
}

/*
 * One SHM_READ of [off, off + n) with flags, against the generation the
 * local bytes match; *got is the reply's length, at least its fixed part.
 */
static int
read_window(struct attachment *a, uint32_t flags, uint64_t off, uint64_t n, unsigned char *reply,
	    size_t cap, size_t *got)
{
	unsigned char body[PROTO_SHM_READ_LEN];
	struct proto_request r = {.opcode = OP_SHM_READ, .data_len = sizeof(body)};
	int rc;

	proto_put_u32(body, (uint32_t)a->shmid);
	proto_put_u32(body + 4, flags);
	proto_put_u64(body + 8, off);
	proto_put_u64(body + 16, n);
	proto_put_u64(body + 24, a->gen);
	rc = shm_call(a->link, &r, body, reply, cap, got);
	if (rc == DSHM_SUCCESS && *got < PROTO_SHM_READ_REPLY_LEN)
		return DSHM_DISCONNECTED_SERVER;
	return rc;
}

/*
 * Brings in the pages others changed since the generation the local
 * bytes match (the segment's write notices), into the data and the
 * twin, window by window: nothing when the segment is still at that
 * generation, and only the changed 4 KiB pages when it is not.
 */
static int
pull_changed(struct attachment *a)
{
	const uint64_t page = PROTO_SHM_NOTICE_PAGE;
	/* A window's reply holds its pages' numbers too: 4 bytes more per page. */
	uint64_t win = shm_max_data / (page + 4) * page;
	unsigned char *reply;
	uint64_t gen = a->gen;
	int rc = DSHM_SUCCESS;

	if (win > a->segsz)
		win = (a->segsz + page - 1) / page * page;
	if ((reply = malloc(PROTO_SHM_READ_REPLY_LEN + win / page * (page + 4))) == NULL)
		return DSHM_NO_MEMORY;
	for (uint64_t off = 0; off < a->segsz && rc == DSHM_SUCCESS; off += win) {
		uint64_t n = a->segsz - off < win ? a->segsz - off : win;
		size_t got;
		uint32_t count;

		rc = read_window(a, PROTO_SHM_READ_CHANGED, off, n, reply,
				 PROTO_SHM_READ_REPLY_LEN + (n + page - 1) / page * (page + 4), &got);
		if (rc != DSHM_SUCCESS)
			break;
		/* As pull: the first window's generation, at best what the bytes match. */
		if (off == 0)
			gen = proto_get_u64(reply);
		if (!proto_get_u32(reply + 8))
			break; /* unchanged since we last saw it */
		count = proto_get_u32(reply + 12);
		if (count > (n + page - 1) / page ||
		    got != PROTO_SHM_READ_REPLY_LEN + (size_t)count * (page + 4))
			return free(reply), DSHM_DISCONNECTED_SERVER;
		for (uint32_t i = 0; i < count; i++) {
			uint64_t at = (uint64_t)proto_get_u32(reply + PROTO_SHM_READ_REPLY_LEN + 4 * i) * page;
			const unsigned char *bytes =
				reply + PROTO_SHM_READ_REPLY_LEN + 4 * (size_t)count + (size_t)i * page;
			uint64_t len = a->segsz - at < page ? a->segsz - at : page;

			if (at < off || at >= off + n)
				return free(reply), DSHM_DISCONNECTED_SERVER;
			memcpy(a->lib + at, bytes, len);
			memcpy(a->lib + a->maplen + at, bytes, len);
		}
	}
	free(reply);
	if (rc == DSHM_SUCCESS)
		a->gen = gen;
	return rc;
}

/*
 * Brings the server's bytes into the data and the twin, window by
 * window; with only_if_changed, not at all when the segment's write
 * generation is still the one the local bytes match, and only the pages
 * others changed when a->pulled says the local bytes match a->gen.
 */
static int
pull(struct attachment *a, bool only_if_changed)
{
	size_t win = a->segsz < shm_max_data ? a->segsz : shm_max_data;
	unsigned char *reply = malloc(PROTO_SHM_READ_REPLY_LEN + win);
	uint64_t gen = a->gen;
	int rc = DSHM_SUCCESS;

	if (only_if_changed && a->pulled)
		return free(reply), pull_changed(a);
	if (reply == NULL)
		return DSHM_NO_MEMORY;
	for (uint64_t off = 0; off < a->segsz && rc == DSHM_SUCCESS;) {
		uint64_t n = a->segsz - off < win ? a->segsz - off : win;
		size_t got;

		rc = read_window(a, off == 0 && only_if_changed ? PROTO_SHM_READ_IF_CHANGED : 0, off, n,
				 reply, PROTO_SHM_READ_REPLY_LEN + n, &got);
		if (rc != DSHM_SUCCESS)
			break;
		/*
		 * The bytes match the first window's generation at best: a write
		 * between two windows leaves the first one older, and keeping
		 * the first generation makes the next sync read them again.
		 */
		if (off == 0)
			gen = proto_get_u64(reply);
		if (!proto_get_u32(reply + 8))
			break; /* unchanged since we last saw it */
		if (got != PROTO_SHM_READ_REPLY_LEN + n)
			return free(reply), DSHM_DISCONNECTED_SERVER;
		memcpy(a->lib + off, reply + PROTO_SHM_READ_REPLY_LEN, n);
		memcpy(a->lib + a->maplen + off, reply + PROTO_SHM_READ_REPLY_LEN, n);
		off += n;
	}
	free(reply);
	if (rc == DSHM_SUCCESS) {
		a->gen = gen;
		a->pulled = true;
	}
	return rc;
}

/* Sends one packed write of nruns runs; the twin takes the bytes sent. */
static int
send_runs(struct attachment *a, unsigned char *msg, size_t len, uint32_t nruns, bool *others)
{
	struct proto_request r = {.opcode = OP_SHM_WRITE, .data_len = (uint32_t)len};
	unsigned char reply[PROTO_SHM_WRITE_REPLY_LEN];
	const unsigned char *data = msg + PROTO_SHM_WRITE_LEN + (size_t)nruns * PROTO_SHM_RUN_LEN;
	int rc;

	proto_put_u32(msg, (uint32_t)a->shmid);
	proto_put_u32(msg + 4, nruns);
	proto_put_u64(msg + 8, a->gen);
	/*
	 * Never repeated: if the connection fails during the write, it may
	 * have landed, and someone may have written the same bytes since.
	 */
	rc = shm_call_once(a->link, &r, msg, reply, sizeof(reply), NULL);
	if (rc != DSHM_SUCCESS)
		return rc;
	for (uint32_t i = 0; i < nruns; i++) {
		const unsigned char *run = msg + PROTO_SHM_WRITE_LEN + (size_t)i * PROTO_SHM_RUN_LEN;
		uint64_t off = proto_get_u64(run), n = proto_get_u64(run + 8);

		memcpy(a->lib + a->maplen + off, data, n);
		data += n;
	}
	/* Nobody else wrote since our bytes matched gen: they match the new one. */
	if (proto_get_u32(reply + 8))
		*others = true;
	else if (!*others)
		a->gen = proto_get_u64(reply);
	return rc;
}

/* Runs gathered for one write: their headers and their bytes, kept apart until sent. */
struct batch {
	unsigned char *runs, *bytes, *msg;
	size_t runs_len, bytes_len;
	uint32_t nruns;
};

static int
flush_batch(struct attachment *a, struct batch *b, bool *others)
{
	size_t len = PROTO_SHM_WRITE_LEN + b->runs_len + b->bytes_len;
	unsigned char *msg;
	int rc;

	if (b->nruns == 0)
		return DSHM_SUCCESS;
	if ((msg = realloc(b->msg, len)) == NULL)
		return DSHM_NO_MEMORY;
	b->msg = msg;
	memcpy(msg + PROTO_SHM_WRITE_LEN, b->runs, b->runs_len);
	memcpy(msg + PROTO_SHM_WRITE_LEN + b->runs_len, b->bytes, b->bytes_len);
	rc = send_runs(a, msg, len, b->nruns, others);
	b->nruns = 0;
	b->runs_len = b->bytes_len = 0;
	return rc;
}

/*
 * Sends the bytes that differ from the twin, in runs packed into writes
 * of at most shm_max_data bytes.  Returns a DSHM_* status; *others
 * tells whether someone else wrote meanwhile (then a pull is due).
 */
static int
push(struct attachment *a, bool *others)
{
	const unsigned char *data = a->lib, *twin = a->lib + a->maplen;
	const size_t cap = shm_max_data, max_run = cap - PROTO_SHM_WRITE_LEN - PROTO_SHM_RUN_LEN;
	uint64_t i = 0, size = a->segsz;
	/* Runs are RUN_GAP equal bytes apart: a small segment needs small buffers. */
	size_t runs_cap = (size_t)(size / RUN_GAP + 1) * PROTO_SHM_RUN_LEN;
	size_t bytes_cap = size < cap ? (size_t)size : cap;
	struct batch b = {NULL, NULL, NULL, 0, 0, 0};
	int rc = DSHM_SUCCESS;

	if (runs_cap > cap)
		runs_cap = cap;
	b.runs = malloc(runs_cap);
	b.bytes = malloc(bytes_cap);

	if (b.runs == NULL || b.bytes == NULL)
		rc = DSHM_NO_MEMORY;
	while (rc == DSHM_SUCCESS && i < size) {
		uint64_t start, same = 0, n;

		/* Equal bytes are skipped a block at a time. */
		while (i + 64 <= size && memcmp(data + i, twin + i, 64) == 0)
			i += 64;
		while (i < size && data[i] == twin[i])
			i++;
		if (i >= size)
			break;
		/* A run ends at RUN_GAP equal bytes, which it does not include. */
		start = i;
		while (i < size && same < RUN_GAP) {
			same = data[i] == twin[i] ? same + 1 : 0;
			i++;
		}
		n = i - same - start;
		if (n > max_run) { /* longer than a write: the rest is another run */
			n = max_run;
			i = start + n;
		}
		if ((PROTO_SHM_WRITE_LEN + b.runs_len + PROTO_SHM_RUN_LEN + b.bytes_len + n > cap ||
		     b.runs_len + PROTO_SHM_RUN_LEN > runs_cap || b.bytes_len + n > bytes_cap) &&
		    (rc = flush_batch(a, &b, others)) != DSHM_SUCCESS)
			break;
		proto_put_u64(b.runs + b.runs_len, start);
		proto_put_u64(b.runs + b.runs_len + 8, n);
		b.runs_len += PROTO_SHM_RUN_LEN;
		memcpy(b.bytes + b.bytes_len, data + start, n);
		b.bytes_len += n;
		b.nruns++;
	}
	if (rc == DSHM_SUCCESS)
		rc = flush_batch(a, &b, others);
	free(b.runs);
	free(b.bytes);
	free(b.msg);
	return rc;
}

int
shm_sync_one(struct attachment *a, bool push_only)
{
	bool others = false;
	int rc = DSHM_SUCCESS;

	if (a->coherent)
		return DSHM_SUCCESS; /* its stores are everyone's already */
	if (!a->rdonly)
		rc = push(a, &others);
	if (rc == DSHM_SUCCESS && !push_only)
		rc = pull(a, true);
	return rc;
}

/*
 * At exit, what was not yet published is (the kernel's segments hold
 * every write), and everything is detached, as the kernel detaches at
 * exit: a parent that waited for us sees shm_nattch without us.  The
 * mappings stay, for atexit handlers that run after this one.  Only the
 * process that made the attachments does it, not a vfork child that
 * calls exit.
 */
static void
sync_at_exit(void)
{
	shm_lock();
	for (struct attachment *a = shm_attachments; a != NULL; a = a->next) {
		if (!shm_link_ours(a->link))
			continue;
		if (!a->rdonly)
			shm_sync_one(a, true);
		detach_request(a->link, a->shmid, a->rdonly);
	}
	shm_unlock();
}

static void *
fail_ptr(int err)
{
	errno = err;
	return (void *)-1;
}

/* shmat's errno for a refused attach: a user at its share of attachments is ENOMEM, as a full table. */
static int
attach_errno(int status)
{
	return status == DSHM_USER_LIMIT ? ENOMEM : shm_errno(status);
}

/*
 * Maps len bytes of fd where shmat's address and flags say: read-only
 * for SHM_RDONLY, at addr when given (replacing what is there only with
 * SHM_REMAP).  Returns the address, or (void *)-1 with shmat's errno.
 */
static void *
map_user(int fd, uintptr_t addr, size_t len, int shmflg)
{
	int prot = PROT_READ | (shmflg & SHM_RDONLY ? 0 : PROT_WRITE) | (shmflg & SHM_EXEC ? PROT_EXEC : 0);
	/*
	 * A coherent read-only attachment is a private mapping of the
	 * read-only descriptor: it shows the shared pages all the same (it
	 * never writes, so never copies one), and, unlike a shared mapping
	 * of a read-only descriptor, the kernel lets a userfaultfd watch it.
	 */
	int share = (shmflg & (SHM_RDONLY | DSHM_SHM_COHERENT)) == (SHM_RDONLY | DSHM_SHM_COHERENT)
			    ? MAP_PRIVATE
			    : MAP_SHARED;
	int flags = share | (addr ? (shmflg & SHM_REMAP ? MAP_FIXED : MAP_FIXED_NOREPLACE) : 0);
	void *user = mmap((void *)addr, len, prot, flags, fd, 0);

	if (user == MAP_FAILED)
		/* An address already in use is EINVAL, as shmat says it. */
		return fail_ptr(errno == EEXIST ? EINVAL : errno == EPERM ? EACCES : ENOMEM);
	if (addr && (uintptr_t)user != addr) { /* a kernel without MAP_FIXED_NOREPLACE */
		munmap(user, len);
		return fail_ptr(EINVAL);
	}
	return user;
}

/* Maps the caller's view and the library's view of a new memfd; returns the caller's. */
static void *
map_views(struct attachment *a, uintptr_t addr, int shmflg)
{
	int fd = memfd_create("dshm", MFD_CLOEXEC);
	void *user, *lib;

	if (fd < 0)
		return fail_ptr(ENOMEM);
	if (ftruncate(fd, (off_t)(2 * a->maplen)) < 0) {
		close(fd);
		return fail_ptr(ENOMEM);
	}
	if ((user = map_user(fd, addr, a->maplen, shmflg)) == (void *)-1) {
		close(fd);
		return user;
	}
	lib = mmap(NULL, 2 * a->maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (lib == MAP_FAILED) {
		munmap(user, a->maplen);
		return fail_ptr(ENOMEM);
	}
	a->addr = user;
	a->lib = lib;
	return user;
}

/* The pager's part of a coherent shmdt: the registration goes, and the descriptor. */
static void
pager_drop(struct attachment *a)
{
	if (!a->coherent)
		return;
	shm_range_del(a->addr);
	if (a->uffd >= 0 || a->pager_kind == PAGER_KIND_COPY)
		shm_pager_unregister(a->pager_kind, a->pager_id, a->addr);
	if (a->uffd >= 0)
		close(a->uffd);
	a->uffd = -1;
}

/* Takes a off the list of attachments. */
static void
unlink_attachment(struct attachment *a)
{
	struct attachment **p;

	for (p = &shm_attachments; *p != NULL && *p != a; p = &(*p)->next)
		;
	if (*p == a)
		*p = a->next;
}

/*
 * SHM_REMAP at [addr, addr + len): the attachments the new mapping
 * replaces are detached, as the kernel's remap detaches them, after
 * their changes are published (nothing is dropped).
 */
static void
detach_replaced(uintptr_t addr, size_t len)
{
	for (struct attachment *a = shm_attachments, *next; a != NULL; a = next) {
		uintptr_t start = (uintptr_t)a->addr;

		next = a->next;
		if (start >= addr + len || start + a->maplen <= addr)
			continue;
		shm_sync_one(a, true);
		pager_drop(a);
		detach_request(a->link, a->shmid, a->rdonly);
		unlink_attachment(a);
		shm_link_release(a->link);
		if (a->lib != NULL)
			munmap(a->lib, 2 * a->maplen);
		free(a);
	}
}

int
shm_pager_take(struct attachment *a)
{
	const char *server = a->pager_kind == PAGER_KIND_HOME ? shm_server_addr() : shm_local_addr();
	bool kernel_faults;
	int rc;

	a->uffd = -1;
	if (shm_pager_link(server) < 0)
		return a->pager_kind == PAGER_KIND_HOME ? DSHM_SUCCESS : DSHM_DISCONNECTED_SERVER;
	a->uffd = shm_uffd_register(a->addr, a->maplen, a->rdonly, &kernel_faults);
	if (a->uffd < 0 && a->pager_kind == PAGER_KIND_COPY)
		return DSHM_DISCONNECTED_SERVER;
	rc = shm_pager_register(a->pager_kind, a->pager_id, a->addr, a->maplen, a->rdonly, a->uffd);
	if (rc != DSHM_SUCCESS && a->uffd >= 0) {
		close(a->uffd);
		a->uffd = -1;
	}
	return a->pager_kind == PAGER_KIND_HOME ? DSHM_SUCCESS : rc;
}

/*
 * Another dshmd's segment (the server is reached over TCP): attached
 * there as a copied attachment would be, so shm_nattch counts it, and
 * mapped from this host's copy, which the pager of the dshmd on this
 * host keeps coherent with the segment's home.  With the lock held.
 */
/*
 * Where the home's pager takes hosts' pagers: the host we reach the home
 * at, and the port it names (OP_PEER_PORT).  False when it shares its
 * segments with no other host.
 */
static bool
peer_addr(struct shm_link *l, char *out, size_t len)
{
	struct proto_request r = {.opcode = OP_PEER_PORT};
	char host[256], port[16];
	unsigned char reply[4];
	const char *server = shm_server_addr();

	if (server == NULL || !naming_split_hostport(server, host, sizeof(host), port, sizeof(port)) ||
	    shm_call(l, &r, NULL, reply, sizeof(reply), NULL) != DSHM_SUCCESS ||
	    proto_get_u32(reply) == 0)
		return false;
	return snprintf(out, len, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
			proto_get_u32(reply)) < (int)len;
}

static void *
map_remote(struct attachment *a, struct shm_link *l, uintptr_t addr, int shmflg)
{
	long page = sysconf(_SC_PAGESIZE);
	char home[300];
	uint64_t gen;
	void *user;
	int rc, fd;

	if ((rc = attach_request(l, a->shmid, shmflg, 0, &a->segsz, &gen, true)) != DSHM_SUCCESS)
		return fail_ptr(attach_errno(rc));
	a->maplen = (a->segsz + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
	a->pager_kind = PAGER_KIND_COPY;
	if (!peer_addr(l, home, sizeof(home)) || shm_pager_link(shm_local_addr()) < 0 ||
	    shm_pager_host_map(home, a->shmid, a->segsz, a->rdonly, &a->pager_id, &fd) !=
		    DSHM_SUCCESS || fd < 0) {
		detach_request(l, a->shmid, a->rdonly);
		return fail_ptr(EIO);
	}
	if (addr && (shmflg & SHM_REMAP))
		detach_replaced(addr, a->maplen);
	user = map_user(fd, addr, a->maplen, shmflg);
	close(fd);
	if (user == (void *)-1) {
		int err = errno;

		shm_pager_unregister(a->pager_kind, a->pager_id, NULL);
		detach_request(l, a->shmid, a->rdonly);
		return fail_ptr(err);
	}
	a->addr = user;
	if (shm_pager_take(a) != DSHM_SUCCESS) {
		munmap(user, a->maplen);
		shm_pager_unregister(a->pager_kind, a->pager_id, NULL);
		detach_request(l, a->shmid, a->rdonly);
		return fail_ptr(EIO);
	}
	return user;
}

/*
 * A coherent attachment (DSHM_SHM_COHERENT): attached by SHM_MAP, whose
 * reply brings the segment's file, mapped here whole; through TCP, from
 * this host's copy (map_remote).  With the lock held.
 */
static void *
shmat_coherent(struct attachment *a, int shmid, uintptr_t addr, int shmflg)
{
	unsigned char body[PROTO_SHM_MAP_LEN], reply[PROTO_SHM_MAP_REPLY_LEN];
	struct proto_request r = {.opcode = OP_SHM_MAP, .data_len = sizeof(body)};
	struct shm_link *l = shm_link_current();
	long page = sysconf(_SC_PAGESIZE);
	void *user;
	int rc, fd;

	if (l == NULL)
		return fail_ptr(ENOMEM);
	proto_put_u32(body, (uint32_t)shmid);
	proto_put_u32(body + 4, (uint32_t)(shmflg & (SHM_RDONLY | SHM_EXEC)));
	proto_put_u32(body + 8, 0);
	a->shmid = shmid;
	a->rdonly = shmflg & SHM_RDONLY;
	a->coherent = true;
	a->uffd = -1;
	rc = shm_call_fd(l, &r, body, reply, sizeof(reply), &fd);
	if (rc == DSHM_NOT_LOCAL) {
		if ((user = map_remote(a, l, addr, shmflg)) == (void *)-1)
			return user;
	} else {
		if (rc != DSHM_SUCCESS)
			return fail_ptr(attach_errno(rc));
		a->segsz = proto_get_u64(reply);
		a->maplen = (a->segsz + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
		a->pager_kind = PAGER_KIND_HOME;
		a->pager_id = shmid;
		if (fd < 0) {
			/* A server that attached without sending the memory: not one that speaks SHM_MAP. */
			detach_request(l, shmid, a->rdonly);
			return fail_ptr(EIO);
		}
		if (addr && (shmflg & SHM_REMAP))
			detach_replaced(addr, a->maplen);
		/* Shared, unless a pager will watch a read-only mapping (see map_user). */
		if (shm_pager_link(shm_server_addr()) < 0)
			shmflg &= ~DSHM_SHM_COHERENT;
		user = map_user(fd, addr, a->maplen, shmflg);
		close(fd);
		if (user == (void *)-1) {
			int err = errno;

			detach_request(l, shmid, a->rdonly);
			return fail_ptr(err);
		}
		a->addr = user;
		shm_pager_take(a);
	}
	a->link = l;
	shm_link_hold(l);
	a->next = shm_attachments;
	shm_attachments = a;
	shm_range_add(user, a->maplen, a->rdonly);
	return user;
}

void *
dshm_shmat(int shmid, const void *shmaddr, int shmflg)
{
	static bool exit_hook;
	uintptr_t addr = (uintptr_t)shmaddr, lba = (uintptr_t)SHMLBA;
	long page = sysconf(_SC_PAGESIZE);
	struct attachment *a;
	uint64_t segsz, gen;
	struct shm_link *l;
	void *user;
	int rc;

	/* do_shmat()'s checks, in its order. */
	if (shmid < 0)
		return fail_ptr(EINVAL);
	if (addr) {
		if (addr & (lba - 1)) {
			if (!(shmflg & SHM_RND))
				return fail_ptr(EINVAL);
			addr &= ~(lba - 1);
			if (!addr && (shmflg & SHM_REMAP))
				return fail_ptr(EINVAL);
		}
	} else if (shmflg & SHM_REMAP)
		return fail_ptr(EINVAL);
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return fail_ptr(ENOMEM);
	shm_lock();
	if (!exit_hook)
		exit_hook = atexit(sync_at_exit) == 0;
	if (shmflg & DSHM_SHM_COHERENT) {
		user = shmat_coherent(a, shmid, addr, shmflg);
		shm_unlock();
		if (user == (void *)-1)
			free(a);
		return user;
	}
	if ((l = shm_link_current()) == NULL) {
		shm_unlock();
		free(a);
		return fail_ptr(ENOMEM);
	}
	if ((rc = attach_request(l, shmid, shmflg, 0, &segsz, &gen, true)) != DSHM_SUCCESS) {
		shm_unlock();
		free(a);
		return fail_ptr(attach_errno(rc));
	}
	a->shmid = shmid;
	a->segsz = segsz;
	a->rdonly = shmflg & SHM_RDONLY;
	a->maplen = (segsz + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page;
	a->gen = gen + 1; /* matches nothing: the first pull reads all */
	if (addr && (shmflg & SHM_REMAP))
		detach_replaced(addr, a->maplen);
	if ((user = map_views(a, addr, shmflg)) == (void *)-1) {
		int err = errno;

		detach_request(l, shmid, a->rdonly);
		shm_unlock();
		free(a);
		return fail_ptr(err);
	}
	/* Listed before the first pull: a reconnect during it attaches this one again too. */
	a->link = l;
	shm_link_hold(l);
	a->next = shm_attachments;
	shm_attachments = a;
	if ((rc = pull(a, false)) != DSHM_SUCCESS) {
		unlink_attachment(a);
		munmap(a->addr, a->maplen);
		munmap(a->lib, 2 * a->maplen);
		detach_request(l, shmid, a->rdonly);
		shm_link_release(l);
		shm_unlock();
		free(a);
		return fail_ptr(attach_errno(rc));
	}
	shm_unlock();
	return user;
}

/* Takes the lock and finds the attachment at addr; else releases it, EINVAL, NULL. */
static struct attachment *
lock_and_find(const void *addr)
{
	struct attachment *a;

	shm_lock();
	if ((a = find(addr)) == NULL) {
		shm_unlock();
		errno = EINVAL;
	}
	return a;
}

int
dshm_shmdt(const void *shmaddr)
{
	struct attachment *a;
	int rc;

	if ((a = lock_and_find(shmaddr)) == NULL)
		return -1;
	/*
	 * Changes the server could not take for now (it is unreachable, or
	 * memory ran out) keep the attachment, so a later shmdt publishes
	 * them.  Changes it refuses for good (the segment is gone, or, after
	 * a reconnect, its mode no longer lets us write) cannot be kept
	 * anywhere: the attachment goes, and the error says what was lost.
	 */
	rc = shm_sync_one(a, true);
	if (rc == DSHM_DISCONNECTED_SERVER || rc == DSHM_DISCONNECTED_CLIENT ||
	    rc == DSHM_NO_MEMORY) {
		shm_unlock();
		return shm_fail(rc);
	}
	pager_drop(a);
	detach_request(a->link, a->shmid, a->rdonly);
	unlink_attachment(a);
	shm_link_release(a->link);
	shm_unlock();
	munmap(a->addr, a->maplen);
	if (a->lib != NULL)
		munmap(a->lib, 2 * a->maplen);
	free(a);
	return rc == DSHM_SUCCESS || rc == DSHM_INVALID ? 0 : shm_fail(rc);
}

int
dshm_sync(const void *shmaddr)
{
	struct attachment *a;
	int rc;

	if ((a = lock_and_find(shmaddr)) == NULL)
		return -1;
	rc = shm_sync_one(a, false);
	shm_unlock();
	return rc == DSHM_SUCCESS ? 0 : shm_fail(rc);
}
