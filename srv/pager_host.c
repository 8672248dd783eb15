/*
 * pager_host.c — the pager as a host of other dshmds' segments: one copy
 * per segment for this whole host (a memfd every local process maps, so
 * they share its pages, futexes and all), kept coherent with the
 * segment's home page by page.
 *
 * A page is invalid here (a hole in the memfd: any access faults to us,
 * and we fetch it), readable (write-protected in every local mapping,
 * so a store faults and upgrades it), or writable (no protection: local
 * memory speed).  The home recalls pages: a writable one is protected
 * first, so no store is lost between reading it and sending it, then
 * downgraded or punched.
 *
 * Invariants: at most one fetch per page is on its way; faults on that
 * page wait behind it and are looked at again when it lands; a copy's
 * pages all go back to the home (released) when its last local mapping
 * goes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dshm.h"
#include "log.h"
#include "pager_int.h"

static struct hcopy *copies;
static int32_t next_copy = 1;

/* A request of ours to a home, not yet answered. */
struct hwait {
	struct pconn *c;
	uint32_t id;
	struct op *op;      /* a join (OK_JOIN) or a fault's fetch (OK_FAULT) */
	struct hcopy *copy; /* a fetch's */
	struct hwait *next;
};
static struct hwait *waits;

static void
add_wait(struct pconn *c, uint32_t id, struct op *op, struct hcopy *k)
{
	struct hwait *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return;
	*w = (struct hwait){c, id, op, k, waits};
	waits = w;
}

static struct hwait *
take_wait(struct pconn *c, uint32_t id)
{
	for (struct hwait **p = &waits, *w; (w = *p) != NULL; p = &w->next)
		if (w->c == c && w->id == id) {
			*p = w->next;
			return w;
		}
	return NULL;
}

struct hcopy *
host_find_reg(const struct reg *r)
{
	for (struct hcopy *k = copies; k != NULL; k = k->next)
		for (struct reg *x = k->regs; x != NULL; x = x->next)
			if (x == r)
				return k;
	return NULL;
}

static struct hcopy *
find_copy(int32_t id)
{
	for (struct hcopy *k = copies; k != NULL; k = k->next)
		if (k->id == id)
			return k;
	return NULL;
}

static void
protect_all(struct hcopy *k, uint32_t page, bool protect)
{
	for (struct reg *r = k->regs; r != NULL; r = r->next)
		uffd_wp(r, page, protect);
}

static void
punch(struct hcopy *k, uint32_t page)
{
	if (fallocate(k->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)page * PG, PG) < 0)
		log_error("pager: fallocate(PUNCH_HOLE): %s", strerror(errno));
	k->state[page] = PS_I;
}

/* A descriptor of k's memory for a process: read-only for a read-only attachment. */
static int
copy_fd(const struct hcopy *k, bool rdonly)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", k->memfd);
	return open(path, (rdonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
}

/* ---- a process asks for a copy ---------------------------------------- */

void
host_map(struct pconn *link, const unsigned char *b, size_t len, uint32_t id)
{
	uint32_t n = proto_get_u32(b + 16);
	unsigned char body[PROTO_COH_JOIN_LEN];
	struct pconn *home;
	struct op *o;

	if (n == 0 || n >= sizeof(((struct hcopy *)0)->addr) || len != PROTO_HOST_MAP_LEN + n ||
	    (o = calloc(1, sizeof(*o))) == NULL) {
		pc_send(link, OP_HOST_MAP, id, DSHM_BAD_REQUEST, NULL, 0);
		return;
	}
	o->kind = OK_JOIN;
	o->from = link;
	o->id = id;
	o->shmid = (int32_t)proto_get_u32(b);
	o->rdonly = proto_get_u32(b + 4) != 0;
	o->segsz = proto_get_u64(b + 8);
	memcpy(o->data, b + PROTO_HOST_MAP_LEN, n);
	o->data[n] = '\0';
	if ((home = pc_connect_home((const char *)o->data)) == NULL) {
		pc_send(link, OP_HOST_MAP, id, DSHM_DISCONNECTED_SERVER, NULL, 0);
		free(o);
		return;
	}
	/* The home checks the process's own ids, as shmat would. */
	proto_put_u32(body, (uint32_t)o->shmid);
	proto_put_u32(body + 4, link->peer.uid);
	proto_put_u32(body + 8, link->peer.gid);
	proto_put_u32(body + 12, o->rdonly ? 1 : 2);
	add_wait(home, pc_request(home, OP_COH_JOIN, body, sizeof(body), NULL, 0), o, NULL);
}

static struct hcopy *
new_copy(struct pconn *home, const char *addr, int32_t shmid, uint64_t segsz)
{
	struct hcopy *k = calloc(1, sizeof(*k));
	uint64_t len = (segsz + PG - 1) / PG * PG;

	if (k == NULL)
		return NULL;
	k->npages = (uint32_t)(len / PG);
	k->memfd = memfd_create("dshm-copy", MFD_CLOEXEC);
	k->state = calloc(k->npages ? k->npages : 1, 1);
	k->fetch = calloc(k->npages ? k->npages : 1, sizeof(*k->fetch));
	if (k->memfd < 0 || k->state == NULL || k->fetch == NULL || ftruncate(k->memfd, (off_t)len) < 0) {
		if (k->memfd >= 0)
			close(k->memfd);
		free(k->state);
		free(k->fetch);
		free(k);
		return NULL;
	}
	k->id = next_copy++;
	k->home = home;
	strlcpy(k->addr, addr, sizeof(k->addr)); /* host_map checked its length */
	k->shmid = shmid;
	k->segsz = segsz;
	k->next = copies;
	copies = k;
	return k;
}

static void
joined(struct hwait *w, const struct proto_header *h, const unsigned char *b)
{
	struct op *o = w->op;
	struct hcopy *k = NULL;
	unsigned char reply[4];
	int fd;

	if (o->from == NULL) /* the process went meanwhile */
		goto done;
	if (h->status != DSHM_SUCCESS || h->len != 8) {
		pc_send(o->from, OP_HOST_MAP, o->id, h->status == DSHM_SUCCESS ? DSHM_ERROR : h->status,
			NULL, 0);
		goto done;
	}
	/* One copy per segment for the whole host. */
	for (k = copies; k != NULL; k = k->next)
		if (k->home == w->c && k->shmid == o->shmid)
			break;
	if (k == NULL && (k = new_copy(w->c, (const char *)o->data, o->shmid, proto_get_u64(b))) == NULL) {
		pc_send(o->from, OP_HOST_MAP, o->id, DSHM_NO_MEMORY, NULL, 0);
		goto done;
	}
	if ((fd = copy_fd(k, o->rdonly)) < 0) {
		pc_send(o->from, OP_HOST_MAP, o->id, DSHM_ERROR, NULL, 0);
		goto done;
	}
	proto_put_u32(reply, (uint32_t)k->id);
	pc_send_fd(o->from, OP_HOST_MAP, o->id, reply, sizeof(reply), fd);
done:
	free(o);
}

/* ---- local mappings ------------------------------------------------------ */

void
host_register(struct pconn *link, int32_t id, struct reg *r)
{
	struct hcopy *k = find_copy(id);

	(void)link;
	if (k == NULL || r->uffd < 0) {
		/* A copy's pages come only through us: a mapping we cannot control stays empty. */
		pc_forget_uffd(r);
		free(r);
		return;
	}
	r->next = k->regs;
	k->regs = r;
	for (uint32_t p = 0; p < k->npages; p++)
		if (k->state[p] == PS_R)
			uffd_wp(r, p, true);
}

/* k's last mapping went: its pages go back to the home, and it goes. */
static void
release_copy(struct hcopy *k)
{
	unsigned char body[PROTO_COH_RELEASE_LEN], data[PG];

	for (uint32_t p = 0; k->home != NULL && p < k->npages; p++) {
		if (k->state[p] == PS_I || k->fetch[p] != NULL)
			continue;
		proto_put_u32(body, (uint32_t)k->shmid);
		proto_put_u32(body + 4, p);
		proto_put_u32(body + 8, k->state[p] == PS_W);
		if (k->state[p] == PS_W && pread(k->memfd, data, PG, (off_t)p * PG) == (ssize_t)PG)
			pc_request(k->home, OP_COH_RELEASE, body, sizeof(body), data, PG);
		else {
			proto_put_u32(body + 8, 0);
			pc_request(k->home, OP_COH_RELEASE, body, sizeof(body), NULL, 0);
		}
	}
	for (struct hcopy **q = &copies; *q != NULL; q = &(*q)->next)
		if (*q == k) {
			*q = k->next;
			break;
		}
	for (struct hwait *w = waits; w != NULL; w = w->next)
		if (w->copy == k)
			w->copy = NULL;
	for (uint32_t p = 0; p < k->npages; p++)
		for (struct op *o = k->fetch[p], *next; o != NULL; o = next) {
			next = o->next;
			free(o);
		}
	close(k->memfd);
	free(k->state);
	free(k->fetch);
	free(k);
}

static void
drop_reg(struct hcopy *k, struct reg *r)
{
	for (struct reg **p = &k->regs; *p != NULL; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	for (uint32_t p = 0; p < k->npages; p++)
		for (struct op *o = k->fetch[p]; o != NULL; o = o->next)
			if (o->reg == r)
				o->reg = NULL;
	pc_forget_uffd(r);
	free(r);
	if (k->regs == NULL)
		release_copy(k);
}

void
host_unregister(struct pconn *link, int32_t id, uint64_t addr)
{
	struct hcopy *k = find_copy(id);

	for (struct reg *r = k != NULL ? k->regs : NULL; r != NULL; r = r->next)
		if (r->link == link && (r->addr == addr || addr == 0)) {
			drop_reg(k, r);
			return;
		}
	/* A copy nobody registered (its mapping failed): it goes with its last user. */
	if (k != NULL && k->regs == NULL && addr == 0)
		release_copy(k);
}

void
host_link_gone(struct pconn *link)
{
	for (struct hcopy *k = copies, *next; k != NULL; k = next) {
		int32_t id = k->id;

		next = k->next;
		for (struct reg *r = k->regs, *rn; r != NULL; r = rn) {
			rn = r->next;
			if (r->link != link)
				continue;
			drop_reg(k, r);
			if (find_copy(id) == NULL)
				break; /* released with its last mapping: k is gone */
		}
	}
	for (struct hwait *w = waits; w != NULL; w = w->next)
		if (w->op != NULL && w->op->kind == OK_JOIN && w->op->from == link)
			w->op->from = NULL;
}

/* ---- faults and fetches ------------------------------------------------ */

static void
fetch(struct hcopy *k, struct op *o)
{
	unsigned char body[PROTO_COH_FETCH_LEN];

	k->fetch[o->page] = o;
	log_debug("host: copy %d page %u: fetch%s", k->id, o->page, o->write ? " for writing" : "");
	if (k->home == NULL)
		return; /* the home is gone: the fault waits (docs/SEGMENTS.md) */
	proto_put_u32(body, (uint32_t)k->shmid);
	proto_put_u32(body + 4, o->page);
	proto_put_u32(body + 8, o->write);
	add_wait(k->home, pc_request(k->home, OP_COH_FETCH, body, sizeof(body), NULL, 0), o, k);
}

void
host_fault(struct hcopy *k, struct reg *r, uint64_t addr, bool write, bool wp)
{
	uint32_t page = (uint32_t)((addr - r->addr) / PG);
	bool want_write = write || wp;
	struct op *o;

	if (page >= k->npages)
		return;
	if (k->fetch[page] != NULL) {
		/* One fetch at a time: this fault is looked at again when it lands. */
		if ((o = calloc(1, sizeof(*o))) == NULL)
			return;
		*o = (struct op){.kind = OK_FAULT, .page = page, .write = want_write, .reg = r, .wp = wp};
		o->next = k->fetch[page]->next;
		k->fetch[page]->next = o;
		return;
	}
	if (k->state[page] == PS_W || (k->state[page] == PS_R && !want_write)) {
		/* Held as needed already: a stale protection, or a fill another mapping raced. */
		if (wp)
			uffd_wp(r, page, false);
		else
			uffd_wake(r, page);
		return;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return;
	*o = (struct op){.kind = OK_FAULT, .page = page, .write = want_write, .reg = r, .wp = wp};
	fetch(k, o);
}

/* A fetch landed: the page is installed, and the faults behind it looked at again. */
static void
fetched(struct hwait *w, const struct proto_header *h, const unsigned char *b)
{
	struct hcopy *k = w->copy;
	struct op *o = w->op, *queued;
	uint32_t page = o->page;
	uint32_t granted;

	if (k == NULL) { /* the copy was released meanwhile */
		for (struct op *q = o, *next; q != NULL; q = next) {
			next = q->next;
			free(q);
		}
		return;
	}
	k->fetch[page] = NULL;
	queued = o->next;
	log_debug("host: copy %d page %u: fetched (status %d, %s)", k->id, page, h->status,
		  h->len == 4 + PG && proto_get_u32(b) == PS_W ? "writable" : "readable");
	if (h->status != DSHM_SUCCESS || h->len != 4 + PG) {
		/* The home refuses (the segment is gone there): the page reads as zeros here. */
		static const unsigned char zero[PG];

		log_warn("pager: the home refused page %u of segment %d: %s", page, k->shmid,
			 dshm_strerror(h->status));
		if (k->state[page] == PS_I && o->reg != NULL)
			uffd_copy(o->reg, page, zero, true);
		k->state[page] = k->state[page] == PS_I ? PS_R : k->state[page];
	} else {
		granted = proto_get_u32(b);
		if (k->state[page] == PS_I) {
			/* Readable: every mapping protected before the page exists here. */
			if (granted == PS_R)
				protect_all(k, page, true);
			/*
			 * Into the copy itself, then the faulting thread woken, for a
			 * read-only (private) mapping: a fill there would be its own.
			 */
			if (o->reg != NULL && !o->reg->rdonly)
				uffd_copy(o->reg, page, b + 4, granted == PS_R);
			else if (pwrite(k->memfd, b + 4, PG, (off_t)page * PG) != (ssize_t)PG)
				log_error("pager: pwrite(copy): %s", strerror(errno));
			else if (o->reg != NULL)
				uffd_wake(o->reg, page);
		} else if (granted == PS_W && o->reg != NULL)
			uffd_wp(o->reg, page, false); /* upgraded: the page here is current */
		k->state[page] = granted == PS_W ? PS_W : PS_R;
	}
	free(o);
	/* The faults that waited: the page is here now, as they may need it or not. */
	while (queued != NULL) {
		struct op *next = queued->next;

		if (queued->reg != NULL)
			host_fault(k, queued->reg, queued->reg->addr + (uint64_t)page * PG, queued->write,
				   queued->wp);
		free(queued);
		queued = next;
	}
}

void
host_reply(struct pconn *c, const struct proto_header *h, const unsigned char *b)
{
	struct hwait *w = take_wait(c, h->id);

	if (w == NULL)
		return; /* a release's answer, or one nobody waits for any more */
	if (w->op->kind == OK_JOIN)
		joined(w, h, b);
	else
		fetched(w, h, b);
	free(w);
}

/* The home takes a page back (invalidate) or leaves it readable here (downgrade). */
void
host_recall(struct pconn *c, const struct proto_header *h, const unsigned char *b)
{
	unsigned char had[4], data[PG];
	struct hcopy *k;
	uint32_t page;
	bool invalidate;

	if (h->opcode != OP_COH_RECALL || h->len != PROTO_COH_RECALL_LEN) {
		pc_send(c, h->opcode, h->id, DSHM_BAD_REQUEST, NULL, 0);
		return;
	}
	page = proto_get_u32(b + 4);
	invalidate = proto_get_u32(b + 8) != 0;
	log_debug("host: recall of page %u (%s)", page, invalidate ? "invalidate" : "downgrade");
	for (k = copies; k != NULL; k = k->next)
		if (k->home == c && k->shmid == (int32_t)proto_get_u32(b))
			break;
	proto_put_u32(had, 0);
	if (k == NULL || page >= k->npages || k->state[page] == PS_I) {
		pc_send(c, h->opcode, h->id, DSHM_SUCCESS, had, 4);
		return;
	}
	if (k->state[page] == PS_W) {
		/* No store may slip in between the read and the handing over. */
		protect_all(k, page, true);
		if (pread(k->memfd, data, PG, (off_t)page * PG) == (ssize_t)PG)
			proto_put_u32(had, 1);
		k->state[page] = PS_R;
	}
	if (invalidate)
		punch(k, page);
	pc_send2(c, h->opcode, h->id, DSHM_SUCCESS, had, 4, data, proto_get_u32(had) ? PG : 0);
}

/*
 * The home is gone: every page here is stale now (what was written here
 * and not yet handed back is lost, as for a host that dies).  Pages are
 * punched; faults wait until the home can be reached again.
 */
void
host_home_gone(struct pconn *c)
{
	for (struct hwait **p = &waits, *w; (w = *p) != NULL;) {
		if (w->c != c) {
			p = &w->next;
			continue;
		}
		*p = w->next;
		if (w->op->kind == OK_JOIN) {
			if (w->op->from != NULL)
				pc_send(w->op->from, OP_HOST_MAP, w->op->id, DSHM_DISCONNECTED_SERVER, NULL, 0);
			free(w->op);
		}
		/* A fetch stays on its page: the fault behind it waits. */
		free(w);
	}
	for (struct hcopy *k = copies; k != NULL; k = k->next) {
		if (k->home != c)
			continue;
		k->home = NULL;
		for (uint32_t p = 0; p < k->npages; p++)
			if (k->state[p] != PS_I) {
				protect_all(k, p, true);
				punch(k, p);
			}
	}
}
