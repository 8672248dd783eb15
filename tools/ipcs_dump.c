/*
 * ipcs_dump.c — dshm-ipcs --dump pid:N: a process's page table, from the
 * control table, and its bytes as a hex dump, from the server.
 *
 * The arena is anonymous memory of dshmd's, out of reach of any other
 * process, so the bytes are read through libdshm like any client's (each
 * read is atomic per page, not across the whole dump).  The page table is
 * read without a lock and every step of its walk is bounds-checked; runs
 * of identical 16-byte lines are shown once, then '*', as hexdump -C does.
 */
#include <ctype.h>
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

/* The owner slot of paging process pid, or -1. */
static int64_t
find_process(const struct table *t, int pid)
{
	for (uint32_t s = 0; s < t->hdr->max_owners; s++) {
		const struct owner *o = &t->owners[s];

		if (atomic_load(&o->state) == OWNER_USED &&
		    atomic_load(&o->kind) == OWNER_PROCESS && atomic_load(&o->id) == pid)
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

int
ipcs_dump(FILE *f, const struct ipcs *v, const struct ipcs_opts *o)
{
	const struct table *t = &v->t;
	uint32_t fs = t->hdr->frame_size;
	int64_t slot = find_process(t, o->dump_pid);
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
