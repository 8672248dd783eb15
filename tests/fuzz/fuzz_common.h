/*
 * fuzz_common.h — the world the libFuzzer targets run requests against: a
 * control table, a frame arena and worker 0's undo area in shared
 * anonymous memory (as tests/unit/helpers.h lays them out), and the
 * oracles that turn a silent misbehaviour into an abort(): the table's
 * invariants (ipc/check.c and what must hold between requests) and the
 * well-formedness of a reply stream.
 *
 * Header only: each target is one translation unit linked against the
 * server's objects (tests/fuzz/README.md).
 */
#ifndef DSHM_TESTS_FUZZ_COMMON_H
#define DSHM_TESTS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "auth.h"
#include "check.h"
#include "dispatch.h"
#include "dshm.h"
#include "owners.h"
#include "segfile.h"
#include "proto.h"
#include "table.h"

/* A small world: 64 frames of 256 bytes, 16 owners, one worker. */
#define FUZZ_NFRAMES 64
#define FUZZ_FRAME_SIZE 256
#define FUZZ_MAX_OWNERS 16

struct fuzz_world {
	struct table t;
	struct table_params p;
	void *mem;
	size_t mem_size;
	unsigned char *arena;
	size_t arena_size;
	unsigned char *undo;
	size_t undo_size;
};

static inline void *
fuzz_map(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		perror("fuzz: mmap");
		abort();
	}
	return p;
}

__attribute__((noreturn)) static inline void
fuzz_fail(const char *what, const char *msg)
{
	fprintf(stderr, "FUZZ FINDING: %s: %s\n", what, msg);
	abort();
}

/* (Re)formats the table and clears the arena: every input starts from an empty server. */
static inline void
fuzz_world_reset(struct fuzz_world *w)
{
	/* The last input's segments leave their files behind: they go first. */
	if (w->t.hdr != NULL) {
		segfile_forget(&w->t);
		segfile_remove(w->p.key, w->t.hdr->instance, false, false);
	}
	memset(w->mem, 0, w->mem_size);
	memset(w->arena, 0, w->arena_size);
	if (table_format(&w->t, w->mem, &w->p, w->arena) != 0)
		fuzz_fail("setup", "table_format failed");
	/* As a worker sets itself up (srv/worker.c): slot 0, writes undoable. */
	w->t.self = 0;
	w->t.undo = w->undo;
	w->t.undo_each = PROTO_MAX_DATA;
	reply_count_into(&w->t.workers[0]);
}

/*
 * Loads an --auth-file with one credential, so that OP_AUTH runs its
 * challenge and its checks (nobody can answer the challenge: the nonce is
 * random, so what follows a proof is not reached here).
 */
static inline void
fuzz_auth_file(void)
{
	char path[] = "/tmp/dshm-fuzz-auth.XXXXXX", err[256];
	int fd = mkstemp(path);
	static const char line[] =
		"fuzz 1000 1000 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";

	if (fd < 0 || write(fd, line, sizeof(line) - 1) != (ssize_t)(sizeof(line) - 1))
		fuzz_fail("setup", "could not write the auth file");
	close(fd);
	if (auth_load(path, err, sizeof(err)) < 0)
		fuzz_fail("setup", err);
	unlink(path);
}

#define FUZZ_KEY 0x64000fff

/* At exit: the files of the last input's segments. */
static inline void
fuzz_world_cleanup(void)
{
	segfile_remove(FUZZ_KEY, 0, true, false);
}

static inline void
fuzz_world_init(struct fuzz_world *w)
{
	memset(w, 0, sizeof(*w));
	w->p.key = FUZZ_KEY;
	w->p.frame_size = FUZZ_FRAME_SIZE;
	w->p.nframes = FUZZ_NFRAMES;
	w->p.max_owners = FUZZ_MAX_OWNERS;
	w->p.nworkers = 1;
	w->mem_size = table_size(&w->p);
	w->mem = fuzz_map(w->mem_size);
	w->arena_size = (size_t)FUZZ_NFRAMES * FUZZ_FRAME_SIZE;
	w->arena = fuzz_map(w->arena_size);
	/* One worker's undo area, as the master maps it: untouched pages cost nothing. */
	w->undo_size = PROTO_MAX_DATA;
	w->undo = fuzz_map(w->undo_size);
	segfile_remove(w->p.key, 0, true, false); /* an earlier run's, killed */
	atexit(fuzz_world_cleanup);
	fuzz_world_reset(w);
	fuzz_auth_file();
}

static inline void
fuzz_report(void *ctx, const char *msg)
{
	fuzz_fail((const char *)ctx, msg);
}

/*
 * What must hold whenever no request is being served: ipc/check.c's
 * invariants, no journal open, no lock held, no write half-done, and every
 * free frame reading as zeros.  Aborts on the first violation.
 */
static inline void
fuzz_check_idle(const struct table *t)
{
	const struct table_header *h = t->hdr;
	char msg[128];

	if (check_table(t, fuzz_report, (void *)"check_table") < 0)
		fuzz_fail("check_table", "could not allocate");
	if (h->journal.op != JOURNAL_NONE)
		fuzz_fail("idle table", "a journal op is still open");
	if (atomic_load(&h->alloc_lock.holder) != 0)
		fuzz_fail("idle table", "the alloc lock is still held");
	for (uint32_t s = 0; s < h->max_owners; s++) {
		if (atomic_load(&t->owners[s].lock.holder) != 0) {
			snprintf(msg, sizeof(msg), "owner %u's lock is still held", s);
			fuzz_fail("idle table", msg);
		}
		if (atomic_load(&t->owners[s].undo_worker) != 0) {
			snprintf(msg, sizeof(msg), "owner %u has a write under way", s);
			fuzz_fail("idle table", msg);
		}
	}
	if (atomic_load(&t->workers[0].undo.active) != 0)
		fuzz_fail("idle table", "worker 0's undo record is still active");
	for (uint64_t f = 0; f < h->nframes; f++) {
		const unsigned char *p = table_frame(t, f);

		if (bit_test(t->frame_bits, f))
			continue;
		for (uint32_t i = 0; i < h->frame_size; i++)
			if (p[i] != 0) {
				snprintf(msg, sizeof(msg), "free frame %llu is not zero",
					 (unsigned long long)f);
				fuzz_fail("idle table", msg);
			}
	}
}

/*
 * What must hold once every connection is closed: every attachment row
 * free (state 0, shmid -1, since count_rows counts rows by shmid), and no removed (SHM_DEST) segment left behind, since it goes with
 * its last attachment.
 */
static inline void
fuzz_check_no_conns(const struct table *t)
{
	char msg[128];

	for (uint32_t i = 0; i < t->hdr->max_attach; i++)
		if (atomic_load(&t->attach[i].state) != 0 || atomic_load(&t->attach[i].shmid) != -1) {
			snprintf(msg, sizeof(msg), "attachment row %u (shmid %d) outlives its connection",
				 i, (int)atomic_load(&t->attach[i].shmid));
			fuzz_fail("no connections", msg);
		}
	for (uint32_t s = 0; s < t->hdr->max_owners; s++)
		if (atomic_load(&t->owners[s].state) == OWNER_USED &&
		    atomic_load(&t->owners[s].kind) == OWNER_SEGMENT &&
		    (t->segments[s].mode & SEG_MODE_DEST)) {
			snprintf(msg, sizeof(msg), "removed segment in slot %u outlives its last attachment",
				 s);
			fuzz_fail("no connections", msg);
		}
}

/* One reply, as read back from a connection's output. */
struct fuzz_reply {
	uint8_t opcode;
	uint32_t id;
	int32_t status;
	uint32_t len;
	const unsigned char *body; /* len bytes */
};

/*
 * The success reply body length of opcode: exact (>= 0), at least
 * -(n + 1) (variable, n minimum), or INT32_MIN when a success reply is
 * impossible.
 */
static inline int64_t
fuzz_success_len(uint8_t opcode)
{
	switch (opcode) {
	case OP_HELLO:
		return PROTO_HELLO_LEN;
	case OP_PROC_INIT:
	case OP_PROC_ASSIGN:
	case OP_PROC_FINALIZE:
	case OP_PROC_WRITE:
	case OP_SHM_DETACH:
		return 0;
	case OP_PROC_READ:
	case OP_STATS:
		return -1;
	case OP_IDENT:
		return PROTO_IDENT_LEN;
	case OP_SHM_GET:
		return 4;
	case OP_SHM_CTL:
		return PROTO_SHM_CTL_REPLY_LEN;
	case OP_SHM_ATTACH:
		return PROTO_SHM_ATTACH_REPLY_LEN;
	case OP_SHM_MAP:
		return PROTO_SHM_MAP_REPLY_LEN;
	case OP_PEER_PORT:
		return 4;
	case OP_SHM_READ:
		return -(PROTO_SHM_READ_REPLY_LEN + 1);
	case OP_SHM_WRITE:
		return PROTO_SHM_WRITE_REPLY_LEN;
	case OP_AUTH:
		return -(8 + 1); /* a nonce, or the proven uid and gid */
	default:
		return INT32_MIN;
	}
}

/*
 * Parses the replies in out[0, len), checks each one's framing (magic,
 * version, a status the server may send, an error with an empty body, a
 * success body of its opcode's length) and calls seen for each.  The
 * buffer must hold whole replies only.
 */
static inline void
fuzz_parse_replies(const unsigned char *out, size_t len,
		   void (*seen)(void *ctx, const struct fuzz_reply *r), void *ctx)
{
	char msg[160];

	while (len > 0) {
		struct proto_header h;
		struct fuzz_reply r;
		int64_t want;

		if (len < PROTO_HEADER_LEN)
			fuzz_fail("reply", "a partial header in the output");
		proto_get_header(out, &h);
		if (h.magic != PROTO_MAGIC || h.version != PROTO_VERSION)
			fuzz_fail("reply", "bad magic or version");
		if (h.len > len - PROTO_HEADER_LEN)
			fuzz_fail("reply", "body runs past the output");
		if (h.status != DSHM_SUCCESS &&
		    (h.status > DSHM_ERROR || h.status <= DSHM_ERROR - STATS_ERRORS ||
		     h.status == DSHM_DISCONNECTED_CLIENT || h.status == DSHM_DISCONNECTED_SERVER ||
		     h.status == DSHM_NO_MEMORY)) {
			snprintf(msg, sizeof(msg), "opcode %u: status %d is not one the server sends",
				 h.opcode, h.status);
			fuzz_fail("reply", msg);
		}
		want = h.status == DSHM_SUCCESS ? fuzz_success_len(h.opcode) : 0;
		if (want == INT32_MIN || (want >= 0 && h.len != (uint64_t)want) ||
		    (want < 0 && h.len < (uint64_t)(-want - 1))) {
			snprintf(msg, sizeof(msg), "opcode %u status %d: body of %u bytes", h.opcode,
				 h.status, h.len);
			fuzz_fail("reply", msg);
		}
		r = (struct fuzz_reply){h.opcode, h.id, h.status, h.len, out + PROTO_HEADER_LEN};
		if (seen != NULL)
			seen(ctx, &r);
		out += PROTO_HEADER_LEN + (size_t)h.len;
		len -= PROTO_HEADER_LEN + (size_t)h.len;
	}
}

/*
 * The peers a request may come from (kind: the low two bits of a
 * selector); must_auth: the server has an --auth-file, so a peer the
 * kernel cannot identify must authenticate first (as srv/worker.c sets it).
 */
static inline void
fuzz_peer(struct peer *p, unsigned kind, bool must_auth, uint64_t serial)
{
	static const struct peer peers[4] = {
		{.uid = 0, .gid = 0, .pid = 4200, .cred = true, .local = true},       /* root over Unix */
		{.uid = 1000, .gid = 1000, .pid = 4201, .cred = true, .local = true}, /* a user over Unix */
		{.uid = UINT32_MAX, .gid = UINT32_MAX, .pid = 0},                     /* TCP before IDENT */
		{.uid = 1001, .gid = 1000, .pid = 4203, .cred = true, .local = true}, /* the user's group-mate */
	};

	*p = peers[kind & 3];
	p->auth_required = must_auth && !p->cred;
	p->worker = 0;
	p->serial = serial;
}

#endif /* DSHM_TESTS_FUZZ_COMMON_H */
