/*
 * ipcs_dump.c — dshm-ipcs --dump pid:N and --dump shmid:N: a process's or
 * a segment's page table, from the control table, and its bytes as a hex
 * dump, from the server.
 *
 * The arena is anonymous memory of dshmd's, out of reach of any other
 * process, so the bytes are read through libdshm like any client's: a
 * process's with memory_read, a segment's with dshm_read (each read is
 * atomic per page, not across the whole dump).  The page table is
 * read without a lock and every step of its walk is bounds-checked; runs
 * of identical 16-byte lines are shown once, then '*', as hexdump -C does.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dshm.h"
#include "ipcs.h"

/* The frame of page in a tree, or -1 when the walk leaves the table's bounds. */
static int64_t
frame_of(const struct table *t, uint32_t root, uint32_t height, uint64_t page)
{
	uint32_t node = root;

	if (height < 1 || height > PT_MAX_HEIGHT)
		return -1;
	for (uint32_t level = height; level >= 1; level--) {
		uint32_t e;

		if (node == CHUNK_NULL || node >= t->hdr->nchunks)
			return -1;
		e = __atomic_load_n(&t->chunks[(uint64_t)node * PT_FANOUT +
					       ((page >> (PT_SHIFT * (level - 1))) & (PT_FANOUT - 1))],
				    __ATOMIC_RELAXED);
		if (level == 1)
			return e == 0 || e - 1 >= t->hdr->nframes ? -1 : (int64_t)e - 1;
		node = e;
	}
	return -1;
}

struct hex {
	FILE *f;
	unsigned char prev[16];
	bool have_prev, starred;
};

static void
hex_line(struct hex *h, uint64_t off, const unsigned char *b, size_t n)
{
	if (n == 16 && h->have_prev && memcmp(b, h->prev, 16) == 0) {
		if (!h->starred)
			fputs("*\n", h->f);
		h->starred = true;
		return;
	}
	h->starred = false;
	h->have_prev = n == 16;
	memcpy(h->prev, b, n);
	fprintf(h->f, "%08llx  ", (unsigned long long)off);
	for (size_t i = 0; i < 16; i++) {
		if (i < n)
			fprintf(h->f, "%02x ", b[i]);
		else
			fputs("   ", h->f);
		if (i == 7)
			fputc(' ', h->f);
	}
	fputs(" |", h->f);
	for (size_t i = 0; i < n; i++)
		fputc(isprint(b[i]) ? b[i] : '.', h->f);
	fputs("|\n", h->f);
}

/* The slot of the owner of kind with id (a pid or a shmid), or -1. */
static int64_t
find_owner(const struct table *t, uint32_t kind, int64_t id)
{
	for (uint32_t s = 0; s < t->hdr->max_owners; s++) {
		const struct owner *o = &t->owners[s];

		if (atomic_load(&o->state) == OWNER_USED && atomic_load(&o->kind) == kind &&
		    atomic_load(&o->id) == id)
			return s;
	}
	return -1;
}

static void
print_page_table(FILE *f, const struct table *t, const struct owner *o, uint64_t npages)
{
	uint32_t root = __atomic_load_n(&o->root, __ATOMIC_RELAXED);
	uint32_t height = __atomic_load_n(&o->height, __ATOMIC_RELAXED);

	fprintf(f, "%-10s %s\n", "page", "frame");
	for (uint64_t p = 0; p < npages; p++) {
		int64_t fr = frame_of(t, root, height, p);

		if (fr < 0)
			fprintf(f, "%-10llu ?\n", (unsigned long long)p);
		else
			fprintf(f, "%-10llu %lld\n", (unsigned long long)p, (long long)fr);
	}
}

static int
dump_process(FILE *f, const struct ipcs *v, const struct ipcs_opts *o)
{
	const struct table *t = &v->t;
	uint32_t fs = t->hdr->frame_size;
	int64_t slot = find_owner(t, OWNER_PROCESS, o->dump_pid);
	uint64_t npages;
	struct hex hex = {.f = f};
	int fd, server_fs;

	if (slot < 0) {
		fprintf(stderr, "dshm-ipcs: --dump: no paging process %d in the table\n",
			o->dump_pid);
		return IPCS_FAILED;
	}
	npages = atomic_load(&t->owners[slot].npages);
	fprintf(f, "------ process %d: %llu page%s of %u bytes ------\n", o->dump_pid,
		(unsigned long long)npages, npages == 1 ? "" : "s", fs);
	print_page_table(f, t, &t->owners[slot], npages);

	fd = dshm_connect(o->server);
	if (fd < 0) {
		fprintf(stderr, "dshm-ipcs: --dump: cannot connect to %s to read the pages "
			"(the arena is dshmd's own memory; give --server ADDR)\n",
			o->server != NULL ? o->server : "the default socket");
		return IPCS_FAILED;
	}
	server_fs = handshake(&fd, NULL);
	if (server_fs != (int)fs) {
		fprintf(stderr, "dshm-ipcs: --dump: the server at %s %s (frame size %d, the "
			"table's is %u): is it the server of key 0x%08x?\n",
			o->server != NULL ? o->server : "the default socket",
			server_fs < 0 ? dshm_strerror(server_fs) : "differs", server_fs, fs,
			(unsigned)v->key);
		close(fd);
		return IPCS_FAILED;
	}
	fprintf(f, "\n------ contents ------\n");
	for (uint64_t p = 0; p < npages; p++) {
		t_read_response *r = memory_read(fd, o->dump_pid, (int)p, 0, (int)fs, NULL);

		if (r == NULL || r->exec_code != DSHM_SUCCESS || r->buffer_size != (int)fs) {
			fprintf(stderr, "dshm-ipcs: --dump: reading page %llu of process %d: %s\n",
				(unsigned long long)p, o->dump_pid,
				r == NULL ? "out of memory" : dshm_strerror(r->exec_code));
			if (r != NULL)
				free(r->buffer);
			free(r);
			close(fd);
			return IPCS_FAILED;
		}
		for (uint32_t i = 0; i < fs; i += 16)
			hex_line(&hex, p * fs + i, (unsigned char *)r->buffer + i,
				 fs - i < 16 ? fs - i : 16);
		free(r->buffer);
		free(r);
	}
	fprintf(f, "%08llx\n", (unsigned long long)(npages * fs));
	close(fd);
	return IPCS_OK;
}

static const char *
server_name(const struct ipcs_opts *o)
{
	return o->server != NULL ? o->server : "the default socket";
}

/*
 * Chooses the server for dshm_read and checks, with IPC_STAT, that the
 * segment it has under shmid is the one in the table (same key and size).
 */
static bool
same_segment_at_server(const struct ipcs *v, const struct ipcs_opts *o, int32_t key,
		       uint64_t segsz)
{
	struct shmid_ds ds;

	if (dshm_set_server(o->server) < 0 || dshm_shmctl(o->dump_shmid, IPC_STAT, &ds) < 0) {
		int err = errno;

		fprintf(stderr, "dshm-ipcs: --dump: asking %s for segment %d: %s%s\n", server_name(o),
			o->dump_shmid,
			dshm_last_error()[0] != '\0' ? dshm_last_error() : strerror(err),
			err == EIO ? " (the arena is dshmd's own memory; give --server ADDR)" : "");
		return false;
	}
	if (ds.shm_perm.__key != key || ds.shm_segsz != segsz) {
		fprintf(stderr, "dshm-ipcs: --dump: the server at %s has segment %d with key "
			"0x%08x and %zu bytes, the table 0x%08x and %llu: is it the server of key "
			"0x%08x?\n", server_name(o), o->dump_shmid, (unsigned)ds.shm_perm.__key,
			(size_t)ds.shm_segsz, (unsigned)key, (unsigned long long)segsz,
			(unsigned)v->key);
		return false;
	}
	return true;
}

/* Reads segsz bytes of the segment, a frame at a time, into the hex dump. */
static int
dump_segment_bytes(struct hex *hex, int32_t shmid, uint64_t segsz, uint32_t fs)
{
	unsigned char *buf = malloc(fs);

	if (buf == NULL) {
		fprintf(stderr, "dshm-ipcs: --dump: out of memory\n");
		return IPCS_FAILED;
	}
	for (uint64_t off = 0; off < segsz; off += fs) {
		size_t want = segsz - off < fs ? (size_t)(segsz - off) : fs;
		ssize_t got = dshm_read(shmid, off, buf, want);

		if (got != (ssize_t)want) {
			fprintf(stderr, "dshm-ipcs: --dump: reading bytes %llu to %llu of segment "
				"%d: %s\n", (unsigned long long)off,
				(unsigned long long)(off + want), shmid,
				got < 0 ? strerror(errno) : "short read");
			free(buf);
			return IPCS_FAILED;
		}
		for (size_t i = 0; i < want; i += 16)
			hex_line(hex, off + i, buf + i, want - i < 16 ? want - i : 16);
	}
	free(buf);
	return IPCS_OK;
}

static int
dump_segment(FILE *f, const struct ipcs *v, const struct ipcs_opts *o)
{
	const struct table *t = &v->t;
	uint32_t fs = t->hdr->frame_size;
	int64_t slot = find_owner(t, OWNER_SEGMENT, o->dump_shmid);
	const struct segment *g;
	struct hex hex = {.f = f};
	uint64_t npages, segsz;
	int32_t key;
	int rc;

	if (slot < 0) {
		fprintf(stderr, "dshm-ipcs: --dump: no segment with shmid %d in the table\n",
			o->dump_shmid);
		return IPCS_FAILED;
	}
	g = &t->segments[slot];
	npages = atomic_load(&t->owners[slot].npages);
	segsz = __atomic_load_n(&g->segsz, __ATOMIC_RELAXED);
	key = __atomic_load_n(&g->key, __ATOMIC_RELAXED);
	fprintf(f, "------ segment %d, key 0x%08x: %llu bytes in %llu page%s of %u bytes ------\n",
		o->dump_shmid, (unsigned)key, (unsigned long long)segsz,
		(unsigned long long)npages, npages == 1 ? "" : "s", fs);
	print_page_table(f, t, &t->owners[slot], npages);
	fflush(f);
	if (!same_segment_at_server(v, o, key, segsz))
		return IPCS_FAILED;
	fprintf(f, "\n------ contents ------\n");
	if ((rc = dump_segment_bytes(&hex, o->dump_shmid, segsz, fs)) == IPCS_OK)
		fprintf(f, "%08llx\n", (unsigned long long)segsz);
	return rc;
}

int
ipcs_dump(FILE *f, const struct ipcs *v, const struct ipcs_opts *o)
{
	return o->dump_segment ? dump_segment(f, v, o) : dump_process(f, v, o);
}
