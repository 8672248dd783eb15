/*
 * fuzz_handler.c — libFuzzer target for the whole request handler: the
 * input is what up to FUZZ_MAX_CONNS clients send, and it goes through
 * srv/conn.c's conn_read (or, every other connection, conn_take, as the
 * io_uring loop receives), conn_serve and conn_flush (framing, length caps, swallowing
 * oversized bodies, pipelining, the per-wakeup budget) into dispatch and
 * dispatch_shm, against an in-process table and arena that start empty
 * for every input.
 *
 * Input: connections separated by FUZZ_CONN_SEP; each begins with one
 * selector byte (bits 0-1: the peer, see fuzz_peer; bits 2-4: how many
 * bytes arrive per recv; bit 5: close the connections before this one
 * first; bit 6: a TCP peer must authenticate; bit 7: the client reads
 * its replies only once the server holds CONN_OUT_HIGH bytes of them),
 * then the bytes that client sends.  The bytes go through a
 * socketpair, so conn_read sees them arrive in pieces as from a socket,
 * and the replies come back through it: conn_flush sends them (a read's
 * bytes straight from the arena, srv/gather.c) into a socket that takes
 * only so much at a time, so partial sends and their settling happen.
 * Connections are served one after another and stay open (their
 * attachments with them) until bit 5 or the end of the input closes them,
 * as srv/worker.c's close_conn does.
 *
 * Oracles besides the sanitizers: every request is answered once, in
 * order, naming it, as an independent reading of the stream says it must
 * be (a request cut off by the end of the stream gets nothing; a bad
 * magic or version, a failed OP_AUTH, or a body over CONN_AUTH_MAX_BODY
 * before authentication is answered and ends the connection; a body over
 * --max-data is answered TOO_LARGE and skipped); replies are well-formed;
 * every read returns the bytes last written there, or zeros (a shadow of
 * every process and segment, kept from the requests the server carried
 * out); no peer's uid or gid ever changes (IDENT states only a pid); the
 * table keeps its invariants after every connection's turn and once all
 * are closed (fuzz_common.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "fuzz_common.h"
#include "segs.h"

#define FUZZ_CONN_SEP "#CN#"
#define FUZZ_CONN_SEP_LEN 4
#define FUZZ_MAX_CONNS 8
#define FUZZ_MAX_ROUNDS 100000 /* serving turns per connection before we call it a hang */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fuzz_world world;
static bool world_ready;

/*
 * What the stream says the replies must be: opcode, id, status when the
 * framing fixes it (else 0), and in body the request's first byte.
 */
struct expect {
	struct fuzz_reply *r;
	size_t n, cap;
	size_t got; /* replies seen so far */
};

/*
 * The shadow: what the bytes of every paging process and segment must be,
 * from the requests the server said it carried out.  A read that returns
 * anything else (stale bytes of a freed owner, another owner's bytes, a
 * write lost or misplaced) is a finding.
 */
struct shadow_obj {
	uint8_t kind; /* OP_PROC_INIT for a process, OP_SHM_GET for a segment */
	int64_t id;
	size_t size;
	unsigned char *bytes;
};

static struct shadow_obj *shadow;
static size_t nshadow, shadow_cap;

struct fconn {
	struct conn c;
	int client; /* our end of the socketpair */
	bool open;
	bool lazy; /* reads its replies only once CONN_OUT_HIGH of them wait */
	bool taking; /* receives as the io_uring loop does: its own recv, then conn_take */
	struct peer peer0; /* the peer as accepted */
	struct expect ex;
	struct buf rx; /* replies read from the socket, the last perhaps partial */
};

static void
expect_add(struct expect *ex, uint8_t opcode, uint32_t id, int32_t status,
	   const unsigned char *req)
{
	if (ex->n == ex->cap) {
		ex->cap = ex->cap ? 2 * ex->cap : 64;
		ex->r = realloc(ex->r, ex->cap * sizeof(*ex->r));
		if (ex->r == NULL)
			abort();
	}
	ex->r[ex->n++] = (struct fuzz_reply){opcode, id, status, 0, req};
}

static struct shadow_obj *
shadow_find(uint8_t kind, int64_t id)
{
	for (size_t i = 0; i < nshadow; i++)
		if (shadow[i].kind == kind && shadow[i].id == id)
			return &shadow[i];
	return NULL;
}

static void
shadow_drop(struct shadow_obj *o)
{
	free(o->bytes);
	*o = shadow[--nshadow];
}

static void
shadow_clear(void)
{
	while (nshadow > 0)
		shadow_drop(&shadow[0]);
}

/* Grows (or makes) an object by add zero bytes. */
static struct shadow_obj *
shadow_grow(uint8_t kind, int64_t id, size_t add)
{
	struct shadow_obj *o = shadow_find(kind, id);

	if (o == NULL) {
		if (nshadow == shadow_cap) {
			shadow_cap = shadow_cap ? 2 * shadow_cap : 32;
			if ((shadow = realloc(shadow, shadow_cap * sizeof(*shadow))) == NULL)
				abort();
		}
		o = &shadow[nshadow++];
		*o = (struct shadow_obj){kind, id, 0, NULL};
	}
	if ((o->bytes = realloc(o->bytes, o->size + add + 1)) == NULL)
		abort();
	memset(o->bytes + o->size, 0, add);
	o->size += add;
	return o;
}

/* The shadow's bytes [off, off + len) of an object that must exist and hold them. */
static unsigned char *
shadow_range(uint8_t kind, int64_t id, uint64_t off, uint64_t len, const char *what)
{
	struct shadow_obj *o = shadow_find(kind, id);
	char msg[160];

	if (o == NULL || off > o->size || len > o->size - off) {
		snprintf(msg, sizeof(msg), "%s of %s %lld at %llu+%llu succeeded, but it holds %zu bytes",
			 what, kind == OP_PROC_INIT ? "process" : "segment", (long long)id,
			 (unsigned long long)off, (unsigned long long)len, o ? o->size : 0);
		fuzz_fail("shadow", msg);
	}
	return o->bytes + off;
}

static void
shadow_compare(const unsigned char *want, const unsigned char *got, uint64_t len,
	       const char *what, int64_t id, uint64_t off)
{
	char msg[160];

	for (uint64_t i = 0; i < len; i++)
		if (want[i] != got[i]) {
			snprintf(msg, sizeof(msg),
				 "%s %lld: byte %llu reads %#x, but %#x was the last written there",
				 what, (long long)id, (unsigned long long)(off + i), got[i], want[i]);
			fuzz_fail("shadow", msg);
		}
}

static int32_t
get_i32(const unsigned char *p)
{
	return (int32_t)proto_get_u32(p);
}

/*
 * A read of write notices: n pages of the range, ascending, each whole
 * and as last written (zeros past the segment's size).
 */
static void
shadow_changed_pages(int32_t shmid, uint64_t off, uint64_t len, const struct fuzz_reply *r)
{
	const uint64_t page = PROTO_SHM_NOTICE_PAGE;
	uint32_t n = proto_get_u32(r->body + 12);
	const unsigned char *list = r->body + PROTO_SHM_READ_REPLY_LEN, *bytes = list + 4 * (size_t)n;
	struct shadow_obj *o = shadow_find(OP_SHM_GET, shmid);
	static const unsigned char zero[PROTO_SHM_NOTICE_PAGE];

	if (r->len != PROTO_SHM_READ_REPLY_LEN + (uint64_t)n * (4 + page))
		fuzz_fail("shadow", "a read of write notices returned another size");
	for (uint32_t i = 0; i < n; i++) {
		uint64_t at = (uint64_t)proto_get_u32(list + 4 * i) * page, have;

		if (at < off || at >= off + len || (i > 0 && at <= (uint64_t)proto_get_u32(list + 4 * i - 4) * page))
			fuzz_fail("shadow", "a read of write notices named a page out of its range or order");
		have = o == NULL || at >= o->size ? 0 : o->size - at < page ? o->size - at : page;
		if (have > 0)
			shadow_compare(shadow_range(OP_SHM_GET, shmid, at, have, "a notices read"),
				       bytes + (size_t)i * page, have, "segment", shmid, at);
		shadow_compare(zero, bytes + (size_t)i * page + have, page - have, "segment", shmid,
			       at + have);
	}
}

/* What a request the server carried out (r: its reply) does to the shadow. */
static void
shadow_apply(const unsigned char *req, const struct fuzz_reply *r)
{
	const unsigned char *b = req + PROTO_HEADER_LEN;
	uint32_t fs = FUZZ_FRAME_SIZE;

	switch (r->opcode) {
	case OP_PROC_INIT:
		if (shadow_find(OP_PROC_INIT, get_i32(b)) != NULL)
			fuzz_fail("shadow", "a process was created twice");
		shadow_grow(OP_PROC_INIT, get_i32(b), (size_t)get_i32(b + 4) * fs);
		break;
	case OP_PROC_ASSIGN:
		if (shadow_find(OP_PROC_INIT, get_i32(b)) == NULL)
			fuzz_fail("shadow", "pages assigned to no process");
		shadow_grow(OP_PROC_INIT, get_i32(b), (size_t)get_i32(b + 4) * fs);
		break;
	case OP_PROC_FINALIZE: {
		struct shadow_obj *o = shadow_find(OP_PROC_INIT, get_i32(b));

		if (o == NULL)
			fuzz_fail("shadow", "no process was finalized");
		shadow_drop(o);
		break;
	}
	case OP_PROC_WRITE: {
		uint64_t pos = (uint64_t)get_i32(b + 4) * fs + (uint64_t)get_i32(b + 8);

		memcpy(shadow_range(OP_PROC_INIT, get_i32(b), pos, (uint64_t)get_i32(b + 12), "a write"),
		       b + 16, (size_t)get_i32(b + 12));
		break;
	}
	case OP_PROC_READ: {
		uint64_t pos = (uint64_t)get_i32(b + 4) * fs + (uint64_t)get_i32(b + 8);

		if (r->len != (uint32_t)get_i32(b + 12))
			fuzz_fail("shadow", "a read returned another size");
		shadow_compare(shadow_range(OP_PROC_INIT, get_i32(b), pos, r->len, "a read"), r->body,
			       r->len, "process", get_i32(b), pos);
		break;
	}
	case OP_SHM_GET:
		/* A new shmid is a new segment, of the size asked and all zeros. */
		if (get_i32(r->body) < 0)
			fuzz_fail("shadow", "shmget succeeded with a negative shmid");
		if (shadow_find(OP_SHM_GET, get_i32(r->body)) == NULL)
			shadow_grow(OP_SHM_GET, get_i32(r->body), (size_t)proto_get_u64(b + 8));
		break;
	case OP_SHM_WRITE: {
		uint32_t nruns = proto_get_u32(b + 4);
		const unsigned char *data = b + PROTO_SHM_WRITE_LEN + (size_t)nruns * PROTO_SHM_RUN_LEN;

		for (uint32_t i = 0; i < nruns; i++) {
			const unsigned char *run = b + PROTO_SHM_WRITE_LEN + (size_t)i * PROTO_SHM_RUN_LEN;
			uint64_t off = proto_get_u64(run), len = proto_get_u64(run + 8);

			memcpy(shadow_range(OP_SHM_GET, get_i32(b), off, len, "a segment write"), data,
			       (size_t)len);
			data += len;
		}
		break;
	}
	case OP_SHM_READ: {
		uint64_t off = proto_get_u64(b + 8), len = proto_get_u64(b + 16);

		if (proto_get_u32(r->body + 8) == 0) /* unchanged: no bytes */
			break;
		if (proto_get_u32(b + 4) & PROTO_SHM_READ_CHANGED) {
			shadow_changed_pages(get_i32(b), off, len, r);
			break;
		}
		if (r->len != PROTO_SHM_READ_REPLY_LEN + len)
			fuzz_fail("shadow", "a segment read returned another size");
		shadow_compare(shadow_range(OP_SHM_GET, get_i32(b), off, len, "a segment read"),
			       r->body + PROTO_SHM_READ_REPLY_LEN, len, "segment", get_i32(b), off);
		break;
	}
	default:
		break;
	}
}

/*
 * An independent reading of one client's stream (docs/PROTOCOL.md): the
 * replies the server owes it, in order.  Status 0 means "any".
 */
static void
expect_stream(struct expect *ex, const unsigned char *s, size_t len, bool must_auth)
{
	size_t pos = 0;

	while (len - pos >= PROTO_HEADER_LEN) {
		struct proto_header h;

		proto_get_header(s + pos, &h);
		if (h.magic != PROTO_MAGIC) {
			expect_add(ex, h.opcode, h.id, DSHM_BAD_REQUEST, NULL);
			return;
		}
		if (h.version != PROTO_VERSION) {
			expect_add(ex, h.opcode, h.id, DSHM_VERSION_MISMATCH, NULL);
			return;
		}
		/* --max-data caps the body, with room for the arguments. */
		if (h.len > (uint64_t)PROTO_MAX_BODY) {
			expect_add(ex, h.opcode, h.id, DSHM_TOO_LARGE, NULL);
			if (h.len >= len - pos - PROTO_HEADER_LEN)
				return;
			pos += PROTO_HEADER_LEN + h.len;
			continue;
		}
		/* Before it authenticates, a peer is refused anything large, and hung up on. */
		if (must_auth && h.len > CONN_AUTH_MAX_BODY) {
			expect_add(ex, h.opcode, h.id, DSHM_AUTH_REQUIRED, NULL);
			return;
		}
		if (h.len > len - pos - PROTO_HEADER_LEN)
			return; /* cut off: no reply */
		expect_add(ex, h.opcode, h.id, 0, s + pos);
		pos += PROTO_HEADER_LEN + h.len;
	}
}

static void
match_reply(void *ctx, const struct fuzz_reply *r)
{
	struct expect *ex = ctx;
	const struct fuzz_reply *e;
	char msg[160];

	if (ex->got == ex->n) {
		snprintf(msg, sizeof(msg), "reply %zu (opcode %u, id %u) to no request", ex->got,
			 r->opcode, r->id);
		fuzz_fail("framing", msg);
	}
	e = &ex->r[ex->got++];
	if (r->opcode != e->opcode || r->id != e->id || (e->status != 0 && r->status != e->status)) {
		snprintf(msg, sizeof(msg),
			 "reply %zu is opcode %u id %u status %d; the stream asks opcode %u id %u status %d",
			 ex->got - 1, r->opcode, r->id, r->status, e->opcode, e->id, e->status);
		fuzz_fail("framing", msg);
	}
	if (r->status == DSHM_SUCCESS && e->body != NULL)
		shadow_apply(e->body, r);
	/* A failed authentication is answered, then the connection is hung up: nothing more is owed. */
	if (r->opcode == OP_AUTH && r->status == DSHM_AUTH_FAILED)
		ex->n = ex->got;
}

/* The length of the complete replies at the front of p[0..len). */
static size_t
complete_replies(const unsigned char *p, size_t len)
{
	size_t n = 0;
	struct proto_header h;

	while (len - n >= PROTO_HEADER_LEN) {
		proto_get_header(p + n, &h);
		if (h.len > len - n - PROTO_HEADER_LEN)
			break;
		n += PROTO_HEADER_LEN + (size_t)h.len;
	}
	return n;
}

/* Reads what the socket holds into rx; returns how much came. */
static size_t
drain(struct fconn *f)
{
	size_t total = 0;

	for (;;) {
		unsigned char *at = buf_reserve(&f->rx, CONN_READ_CHUNK);
		ssize_t n;

		if (at == NULL)
			fuzz_fail("drain", "out of memory");
		n = recv(f->client, at, CONN_READ_CHUNK, 0);
		if (n <= 0)
			return total;
		f->rx.end += (size_t)n;
		total += (size_t)n;
	}
}

/*
 * The worker's flush, then the client's side: conn_flush sends the
 * replies, with the bytes of reads served in place straight from the
 * arena, into the socketpair, which takes only so much at a time (so
 * partial sends and their settling happen here as with a slow client);
 * what arrives is checked reply by reply.  A lazy client reads only once
 * the server stopped taking its requests for unread replies (or at the
 * end: all).
 */
static void
take_replies(struct fconn *f, bool all)
{
	struct conn_stats st = {0, 0, 0};

	for (int round = 0;; round++) {
		size_t got, n;

		if (round == FUZZ_MAX_ROUNDS)
			fuzz_fail("take_replies", "the replies never drain");
		if (!conn_flush(&f->c, &st))
			fuzz_fail("take_replies", "sending replies into the socketpair failed");
		if (f->lazy && !all && buf_len(&f->c.out) < CONN_OUT_HIGH)
			return;
		got = drain(f);
		n = complete_replies(f->rx.data + f->rx.start, buf_len(&f->rx));
		if (n > 0) {
			fuzz_parse_replies(f->rx.data + f->rx.start, n, match_reply, &f->ex);
			buf_consume(&f->rx, n);
		}
		if (buf_len(&f->c.out) == 0 && (got == 0 || !all))
			break;
	}
	if (all && buf_len(&f->rx) > 0)
		fuzz_fail("reply", "a partial reply at the end of the stream");
	buf_trim(&f->c.out, 4 * CONN_READ_CHUNK);
	buf_trim(&f->rx, 4 * CONN_READ_CHUNK);
}

/* One connection's turns, as srv/worker.c's service(): read, serve, serve again while more wait. */
/*
 * What arrived: through conn_read (the epoll loop's), or, for a
 * connection that is taking, as srv/loop_uring.c receives, into a buffer
 * of its own of 16 KiB, only while the connection wants input, and
 * handed over with conn_take.
 */
static bool
receive(struct fconn *f, struct conn_stats *st)
{
	if (!f->taking)
		return conn_read(&f->c, st);
	while (conn_wants_input(&f->c, 16 << 10)) {
		unsigned char b[16 << 10];
		ssize_t n = recv(f->c.fd, b, sizeof(b), 0);

		if (n > 0) {
			if (!conn_take(&f->c, b, (size_t)n, st))
				return false;
		} else if (n == 0) {
			f->c.eof = true;
			return true;
		} else
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
	}
	return true;
}

static void
service(struct fconn *f, struct conn_stats *st)
{
	for (int round = 0;; round++) {
		uint64_t in = st->bytes_in, served = st->requests;

		if (round == FUZZ_MAX_ROUNDS)
			fuzz_fail("service", "the connection never settles");
		if (!receive(f, st)) {
			f->c.closing = true;
			return;
		}
		while (conn_serve(&f->c, &world.t, st))
			take_replies(f, false);
		take_replies(f, false);
		while (conn_has_request(&f->c)) {
			conn_serve(&f->c, &world.t, st);
			take_replies(f, false);
			if (++round >= FUZZ_MAX_ROUNDS)
				fuzz_fail("service", "a request waits but is never served");
		}
		if (f->c.closing || f->c.eof || (st->bytes_in == in && st->requests == served))
			return;
	}
}

/* Sends the client's bytes in pieces of chunk, serving between them. */
static void
feed(struct fconn *f, const unsigned char *s, size_t len, size_t chunk)
{
	struct conn_stats st = {0, 0, 0};
	size_t pos = 0;

	while (pos < len && !f->c.closing) {
		size_t want = len - pos < chunk ? len - pos : chunk;
		ssize_t n = send(f->client, s + pos, want, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0)
			pos += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			break;
		service(f, &st);
	}
	shutdown(f->client, SHUT_WR);
	service(f, &st);
	take_replies(f, true);
	if (!f->c.eof && !f->c.closing)
		fuzz_fail("service", "the end of the stream was not seen");
}

/* The replies in the arena, of the connection being served: a worker's, shared by its connections. */
static struct conn_pending pending;

static void
open_conn(struct fconn *f, unsigned selector, uint64_t serial)
{
	int sv[2];

	memset(f, 0, sizeof(*f));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("fuzz: socketpair");
		abort();
	}
	f->c.kind = 3;
	f->c.fd = sv[0];
	f->c.pending = &pending; /* one for every connection, as a worker's */
	f->client = sv[1];
	fuzz_peer(&f->c.peer, selector & 3, selector & 0x40, serial);
	f->peer0 = f->c.peer;
	f->lazy = selector & 0x80;
	f->taking = serial % 2 == 0; /* every other connection receives as io_uring's loop does */
	f->open = true;
}

/* As close_conn: what the client left attached is detached. */
static void
close_conn(struct fconn *f)
{
	struct seg_conn k = {f->c.peer.worker, f->c.peer.serial};

	if (!f->open)
		return;
	segs_detach_conn(&world.t, &k);
	close(f->c.fd);
	close(f->client);
	conn_free_buffers(&f->c);
	buf_free(&f->rx);
	free(f->ex.r);
	f->open = false;
}

static void
check_conn_done(const struct fconn *f)
{
	char msg[160];

	/* A stream the server stopped reading (bad magic) owes nothing past that point. */
	if (f->ex.got != f->ex.n) {
		snprintf(msg, sizeof(msg), "%zu replies for the %zu requests the stream holds",
			 f->ex.got, f->ex.n);
		fuzz_fail("framing", msg);
	}
	/* IDENT never changes the ids (nobody can authenticate here), nor a pid the kernel gave. */
	if (f->c.peer.uid != f->peer0.uid || f->c.peer.gid != f->peer0.gid ||
	    (f->peer0.pid != 0 && f->c.peer.pid != f->peer0.pid))
		fuzz_fail("identity", "a peer's uid, gid or kernel-given pid changed");
}

static const size_t chunks[8] = {SIZE_MAX, 1, 2, 3, 7, 16, 100, 4096};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fconn conns[FUZZ_MAX_CONNS];
	size_t pos = 0, nconns = 0;

	if (!world_ready) {
		fuzz_world_init(&world);
		world_ready = true;
	} else {
		fuzz_world_reset(&world);
	}
	shadow_clear();
	while (pos < size && nconns < FUZZ_MAX_CONNS) {
		unsigned selector = data[pos++];
		const unsigned char *s = data + pos;
		const unsigned char *sep = memmem(s, size - pos, FUZZ_CONN_SEP, FUZZ_CONN_SEP_LEN);
		size_t len = sep != NULL ? (size_t)(sep - s) : size - pos;
		struct fconn *f = &conns[nconns];

		if (selector & 0x20)
			for (size_t i = 0; i < nconns; i++)
				close_conn(&conns[i]);
		open_conn(f, selector, ++nconns);
		expect_stream(&f->ex, s, len, f->c.peer.auth_required);
		feed(f, s, len, chunks[(selector >> 2) & 7]);
		check_conn_done(f);
		fuzz_check_idle(&world.t);
		pos += len + (sep != NULL ? FUZZ_CONN_SEP_LEN : 0);
	}
	for (size_t i = 0; i < nconns; i++)
		close_conn(&conns[i]);
	fuzz_check_idle(&world.t);
	fuzz_check_no_conns(&world.t);
	return 0;
}
