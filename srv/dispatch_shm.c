/*
 * dispatch_shm.c — IDENT and the segment operations: decodes their
 * bodies (layouts in ipc/common/proto.h), calls ipc/segs.c with the peer's
 * identity, and encodes the replies.
 *
 * Invariant: a body whose length is not exactly its layout's (or whose
 * write runs do not add up to its data) is BAD_REQUEST and changes
 * nothing; every request gets exactly one reply.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "dispatch.h"
#include "dshm.h"
#include "reply.h"
#include "segfile.h"
#include "segs.h"

#define NOBODY 65534u

static struct seg_cred
cred_of(const struct peer *p)
{
	struct seg_cred c = {
		.pid = p->pid,
		.uid = p->cred && p->uid != UINT32_MAX ? p->uid : NOBODY,
		.gid = p->cred && p->uid != UINT32_MAX ? p->gid : NOBODY,
	};

	c.privileged = c.uid == 0;
	c.pid_kernel = p->pid_kernel;
	return c;
}

static int32_t
i32(const unsigned char *p)
{
	return (int32_t)proto_get_u32(p);
}

static bool
reply_ident(const struct proto_request *r, struct peer *p, struct buf *out)
{
	const unsigned char *b = r->data;
	unsigned char *at;

	if (r->data_len != PROTO_IDENT_LEN)
		return reply_status(out, r->opcode, r->id, DSHM_BAD_REQUEST);
	/*
	 * The ids are the kernel's or a credential's, never what the client
	 * says.  A pid the kernel did not give (TCP, another pid namespace)
	 * is taken as stated: it only labels shm_cpid and shm_lpid.
	 */
	if (p->pid == 0)
		p->pid = i32(b);
	if ((at = reply_begin(out, r->opcode, r->id, DSHM_SUCCESS, PROTO_IDENT_LEN)) == NULL)
		return false;
	proto_put_u32(at, (uint32_t)p->pid);
	proto_put_u32(at + 4, p->uid);
	proto_put_u32(at + 8, p->gid);
	return true;
}

static bool
reply_get(struct table *t, const struct proto_request *r, const struct peer *p, struct buf *out)
{
	const unsigned char *b = r->data;
	struct seg_cred c = cred_of(p);
	int32_t shmid = -1;
	unsigned char *at;
	int rc;

	if (r->data_len != PROTO_SHM_GET_LEN)
		return reply_status(out, r->opcode, r->id, DSHM_BAD_REQUEST);
	rc = segs_get(t, &c, i32(b), proto_get_u64(b + 8), i32(b + 4), &shmid);
	if (rc != DSHM_SUCCESS)
		return reply_status(out, r->opcode, r->id, rc);
	if ((at = reply_begin(out, r->opcode, r->id, rc, 4)) == NULL)
		return false;
	proto_put_u32(at, (uint32_t)shmid);
	return true;
}

static void
encode_stat(unsigned char *p, const struct seg_stat *s)
{
	proto_put_u32(p, (uint32_t)s->shmid);
	proto_put_u32(p + 4, (uint32_t)s->key);
	proto_put_u32(p + 8, s->seq);
	proto_put_u32(p + 12, s->mode);
	proto_put_u32(p + 16, s->uid);
	proto_put_u32(p + 20, s->gid);
	proto_put_u32(p + 24, s->cuid);
	proto_put_u32(p + 28, s->cgid);
	proto_put_u64(p + 32, s->segsz);
	proto_put_u64(p + 40, (uint64_t)s->atime);
	proto_put_u64(p + 48, (uint64_t)s->dtime);
	proto_put_u64(p + 56, (uint64_t)s->ctime);
	proto_put_u32(p + 64, (uint32_t)s->cpid);
	proto_put_u32(p + 68, (uint32_t)s->lpid);
	proto_put_u64(p + 72, s->nattch);
}

static void
encode_info(unsigned char *p, const struct seg_info *in)
{
	const uint64_t v[8] = {in->shmmax, in->shmmin, in->shmmni, in->shmseg,
			       in->shmall, in->used_ids, in->shm_tot, in->shm_rss};

	for (int i = 0; i < 8; i++)
		proto_put_u64(p + 8 * i, v[i]);
}

static bool
reply_ctl(struct table *t, const struct proto_request *r, const struct peer *p, struct buf *out)
{
	const unsigned char *b = r->data;
	struct seg_cred c = cred_of(p);
	unsigned char body[PROTO_SHM_CTL_REPLY_LEN] = {0}, *at;
	int32_t shmid, cmd, ret = 0;
	struct seg_stat st;
	struct seg_info info;
	int rc;

	if (r->data_len != PROTO_SHM_CTL_LEN)
		return reply_status(out, r->opcode, r->id, DSHM_BAD_REQUEST);
	shmid = i32(b);
	cmd = i32(b + 4);
	/* As shmctl(2): a negative id or command is EINVAL before anything else. */
	if (shmid < 0 || cmd < 0)
		return reply_status(out, r->opcode, r->id, DSHM_INVALID);
	switch (cmd) {
	case IPC_STAT:
	case SHM_STAT:
	case SHM_STAT_ANY:
		rc = segs_stat(t, &c, shmid, cmd != IPC_STAT, cmd == SHM_STAT_ANY, &st);
		if (rc == DSHM_SUCCESS) {
			encode_stat(body + 4, &st);
			ret = cmd == IPC_STAT ? 0 : st.shmid;
		}
		break;
	case IPC_INFO:
	case SHM_INFO:
		segs_info(t, sysconf(_SC_PAGESIZE), &info);
		encode_info(body + 4, &info);
		ret = info.maxidx;
		rc = DSHM_SUCCESS;
		break;
	case IPC_SET:
		rc = segs_set(t, &c, shmid, proto_get_u32(b + 8), proto_get_u32(b + 12),
			      proto_get_u32(b + 16));
		break;
	case IPC_RMID:
		rc = segs_rmid(t, &c, shmid);
		break;
	case SHM_LOCK:
	case SHM_UNLOCK:
		rc = segs_lock(t, &c, shmid, cmd == SHM_LOCK);
		break;
	default:
		rc = DSHM_INVALID;
		break;
	}
	if (rc != DSHM_SUCCESS)
		return reply_status(out, r->opcode, r->id, rc);
	proto_put_u32(body, (uint32_t)ret);
	if ((at = reply_begin(out, r->opcode, r->id, rc, sizeof(body))) == NULL)
		return false;
	memcpy(at, body, sizeof(body));
	return true;
}

static bool
reply_attach(struct table *t, const struct proto_request *r, const struct peer *p,
	     struct buf *out)
{
	const unsigned char *b = r->data;
	struct seg_cred c = cred_of(p);
	struct seg_conn k = {p->worker, p->serial};
	uint64_t segsz = 0, gen = 0;
	unsigned char *at;
	int32_t lpid;
	int rc;

	if (r->data_len != PROTO_SHM_ATTACH_LEN)
		return reply_status(out, r->opcode, r->id, DSHM_BAD_REQUEST);
	/* A forked child re-attaches what it inherited in its parent's name, as fork does. */
	lpid = i32(b + 8) > 0 ? i32(b + 8) : c.pid;
	rc = segs_attach(t, &c, &k, i32(b), i32(b + 4), lpid, &segsz, &gen);
	if (rc != DSHM_SUCCESS)
		return reply_status(out, r->opcode, r->id, rc);
	if ((at = reply_begin(out, r->opcode, r->id, rc, PROTO_SHM_ATTACH_REPLY_LEN)) ==
	    NULL)
		return false;
	proto_put_u64(at, segsz);
	proto_put_u64(at + 8, gen);
	return true;
}

/*
 * SHM_MAP: an attachment whose bytes the client maps itself, from the
 * segment's own file (ipc/segfile.h), so that it shares the pages with
 * dshmd and every other process of this host that maps them.  Only a
 * peer on the Unix socket can take a descriptor.  The file is opened
 * read-only for SHM_RDONLY, so the kernel refuses a writable mapping of
 * it, as it refuses a write to a read-only attachment.
 */
static bool
reply_map(struct table *t, const struct proto_request *r, struct peer *p, struct buf *out)
{
	const unsigned char *b = r->data;
	struct seg_cred c = cred_of(p);
	struct seg_conn k = {p->worker, p->serial};
	uint64_t segsz = 0, gen = 0;
	int32_t shmid, flags, lpid;
	unsigned char *at;
	int rc, fd;

	if (r->data_len != PROTO_SHM_MAP_LEN)
		return reply_status(out, r->opcode, r->id, DSHM_BAD_REQUEST);
	if (!p->local)
		return reply_status(out, r->opcode, r->id, DSHM_NOT_LOCAL);
	shmid = i32(b);
	flags = i32(b + 4);
	lpid = i32(b + 8) > 0 ? i32(b + 8) : c.pid;
	rc = segs_attach(t, &c, &k, shmid, flags, lpid, &segsz, &gen);
	if (rc != DSHM_SUCCESS)
		return reply_status(out, r->opcode, r->id, rc);
	/* Before the file leaves: from now on copied attachments pull every page. */
	if ((fd = segfile_open(t, shmid, (flags & SHM_RDONLY) != 0)) < 0 ||
	    segs_note_mapped(t, shmid) != DSHM_SUCCESS) {
		if (fd >= 0)
			close(fd);
		/* Out of descriptors, most likely: the attachment is undone. */
		segs_detach(t, &c, &k, shmid, (flags & SHM_RDONLY) != 0);
		return reply_status(out, r->opcode, r->id, DSHM_ERROR);
	}
	if ((at = reply_begin(out, r->opcode, r->id, rc, PROTO_SHM_MAP_REPLY_LEN)) ==
	    NULL) {
		close(fd);
		return false;
	}
	proto_put_u64(at, segsz);
	proto_put_u64(at + 8, gen);
	p->has_pass_fd = true;
	p->pass_fd = fd;
	p->pass_reply_len = PROTO_HEADER_LEN + PROTO_SHM_MAP_REPLY_LEN;
	return true;
}

static bool
reply_detach(struct table *t, const struct proto_request *r, const struct peer *p,
	     struct buf *out)
{
	struct seg_cred c = cred_of(p);
	struct seg_conn k = {p->worker, p->serial};
	int rc;

	if (r->data_len != PROTO_SHM_DETACH_LEN)
		return reply_status(out, r->opcode, r->id, DSHM_BAD_REQUEST);
	rc = segs_detach(t, &c, &k, i32(r->data), i32(r->data + 4) != 0);
	return reply_status(out, r->opcode, r->id, rc);
}

/*
 * SHM_READ with PROTO_SHM_READ_CHANGED: the pages of the range others
 * changed since the known generation, their numbers then their bytes.
 */
static bool
reply_read_changed(struct table *t, const struct proto_request *r, const struct peer *p,
		   struct buf *out, uint64_t len)
{
	const unsigned char *b = r->data;
	struct seg_cred c = cred_of(p);
	struct seg_conn k = {p->worker, p->serial};
	uint64_t most = (len + PROTO_SHM_NOTICE_PAGE - 1) / PROTO_SHM_NOTICE_PAGE, gen = 0;
	unsigned char *at, *list, *bytes;
	uint32_t n = 0, *pages = malloc((size_t)(most ? most : 1) * sizeof(*pages));
	bool changed = false;
	int rc;

	if (pages == NULL)
		return reply_status(out, r->opcode, r->id, DSHM_ERROR);
	if ((at = buf_reserve(out, PROTO_HEADER_LEN + PROTO_SHM_READ_REPLY_LEN +
					   most * (4 + PROTO_SHM_NOTICE_PAGE))) == NULL) {
		free(pages);
		return false;
	}
	list = at + PROTO_HEADER_LEN + PROTO_SHM_READ_REPLY_LEN;
	bytes = list + most * 4;
	rc = segs_read_changed(t, &c, &k, i32(b), proto_get_u64(b + 8), len, proto_get_u64(b + 24),
			       pages, bytes, &n, &gen, &changed);
	if (rc != DSHM_SUCCESS) {
		free(pages);
		return reply_status(out, r->opcode, r->id, rc);
	}
	/* The numbers in the wire's byte order, the bytes right after them. */
	for (uint32_t i = 0; i < n; i++)
		proto_put_u32(list + 4 * i, pages[i]);
	free(pages);
	memmove(list + 4 * (size_t)n, bytes, (size_t)n * PROTO_SHM_NOTICE_PAGE);
	len = 4 * (uint64_t)n + (uint64_t)n * PROTO_SHM_NOTICE_PAGE;
	reply_put_header(at, r->opcode, r->id, rc, (uint32_t)(PROTO_SHM_READ_REPLY_LEN + len));
	proto_put_u64(at + PROTO_HEADER_LEN, gen);
	proto_put_u32(at + PROTO_HEADER_LEN + 8, changed);
	proto_put_u32(at + PROTO_HEADER_LEN + 12, n);
	out->end += PROTO_HEADER_LEN + PROTO_SHM_READ_REPLY_LEN + len;
	return true;
}

static bool
reply_read(struct table *t, const struct proto_request *r, const struct peer *p,
	   struct buf *out)
{
	const unsigned char *b = r->data;
	struct seg_cred c = cred_of(p);
	struct seg_conn k = {p->worker, p->serial};
	uint64_t len, gen = 0;
	bool changed = false;
	unsigned char *at;
	int rc;

	if (r->data_len != PROTO_SHM_READ_LEN)
		return reply_status(out, r->opcode, r->id, DSHM_BAD_REQUEST);
	if ((len = proto_get_u64(b + 16)) > dispatch_config(p)->max_data)
		return reply_status(out, r->opcode, r->id, DSHM_TOO_LARGE);
	if (proto_get_u32(b + 4) & PROTO_SHM_READ_CHANGED)
		return reply_read_changed(t, r, p, out, len);
	if ((at = buf_reserve(out, PROTO_HEADER_LEN + PROTO_SHM_READ_REPLY_LEN + len)) == NULL)
		return false;
	rc = segs_read(t, &c, &k, i32(b), proto_get_u64(b + 8), len,
		       at + PROTO_HEADER_LEN + PROTO_SHM_READ_REPLY_LEN, proto_get_u64(b + 24),
		       proto_get_u32(b + 4) & PROTO_SHM_READ_IF_CHANGED, &gen, &changed);
	if (rc != DSHM_SUCCESS)
		return reply_status(out, r->opcode, r->id, rc);
	if (!changed)
		len = 0;
	reply_put_header(at, r->opcode, r->id, rc, (uint32_t)(PROTO_SHM_READ_REPLY_LEN + len));
	proto_put_u64(at + PROTO_HEADER_LEN, gen);
	proto_put_u32(at + PROTO_HEADER_LEN + 8, changed);
	proto_put_u32(at + PROTO_HEADER_LEN + 12, 0);
	out->end += PROTO_HEADER_LEN + PROTO_SHM_READ_REPLY_LEN + len;
	return true;
}

static bool
reply_write(struct table *t, const struct proto_request *r, const struct peer *p,
	    struct buf *out)
{
	const unsigned char *b = r->data;
	struct seg_cred c = cred_of(p);
	struct seg_conn k = {p->worker, p->serial};
	struct byte_run *runs;
	uint64_t gen = 0, total = 0, head;
	uint32_t nruns;
	bool others = false;
	unsigned char *at;
	int rc;

	if (r->data_len < PROTO_SHM_WRITE_LEN)
		return reply_status(out, r->opcode, r->id, DSHM_BAD_REQUEST);
	nruns = proto_get_u32(b + 4);
	head = PROTO_SHM_WRITE_LEN + (uint64_t)nruns * PROTO_SHM_RUN_LEN;
	if (head > r->data_len)
		return reply_status(out, r->opcode, r->id, DSHM_BAD_REQUEST);
	if ((runs = calloc(nruns ? nruns : 1, sizeof(*runs))) == NULL)
		return reply_status(out, r->opcode, r->id, DSHM_ERROR);
	for (uint32_t i = 0; i < nruns; i++) {
		runs[i].off = proto_get_u64(b + PROTO_SHM_WRITE_LEN + i * PROTO_SHM_RUN_LEN);
		runs[i].len = proto_get_u64(b + PROTO_SHM_WRITE_LEN + i * PROTO_SHM_RUN_LEN + 8);
		total += runs[i].len > r->data_len ? r->data_len + 1 : runs[i].len;
	}
	/* The runs must account for every data byte, no more and no fewer. */
	if (total != r->data_len - head)
		rc = DSHM_BAD_REQUEST;
	else
		rc = segs_write(t, &c, &k, i32(b), runs, nruns, b + head, proto_get_u64(b + 8), &gen,
				&others);
	free(runs);
	if (rc != DSHM_SUCCESS)
		return reply_status(out, r->opcode, r->id, rc);
	if ((at = reply_begin(out, r->opcode, r->id, rc, PROTO_SHM_WRITE_REPLY_LEN)) ==
	    NULL)
		return false;
	proto_put_u64(at, gen);
	proto_put_u32(at + 8, others);
	proto_put_u32(at + 12, 0);
	return true;
}

bool
dispatch_shm(struct table *t, const struct proto_request *r, struct peer *p, struct buf *out)
{
	switch (r->opcode) {
	case OP_IDENT:
		return reply_ident(r, p, out);
	case OP_SHM_GET:
		return reply_get(t, r, p, out);
	case OP_SHM_CTL:
		return reply_ctl(t, r, p, out);
	case OP_SHM_ATTACH:
		return reply_attach(t, r, p, out);
	case OP_SHM_DETACH:
		return reply_detach(t, r, p, out);
	case OP_SHM_MAP:
		return reply_map(t, r, p, out);
	case OP_PEER_PORT: {
		unsigned char *at;

		if (r->data_len != 0)
			return reply_status(out, r->opcode, r->id, DSHM_BAD_REQUEST);
		if ((at = reply_begin(out, r->opcode, r->id, DSHM_SUCCESS, 4)) == NULL)
			return false;
		proto_put_u32(at, dispatch_config(p)->peer_port);
		return true;
	}
	case OP_SHM_READ:
		return reply_read(t, r, p, out);
	case OP_SHM_WRITE:
		return reply_write(t, r, p, out);
	default:
		return reply_status(out, r->opcode, r->id, DSHM_BAD_REQUEST);
	}
}
