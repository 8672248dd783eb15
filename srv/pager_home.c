/*
 * pager_home.c — the pager as the home of this dshmd's segments: the
 * directory of every page other hosts share (IVY with a fixed manager
 * that also holds the data), single writer or many readers per page.
 *
 * This host ("host 0") maps the segment's file itself: a page it holds
 * writable has no protection; readable, it is write-protected in every
 * mapping of this host (UFFDIO_WRITEPROTECT); invalid, it is a hole in
 * the file (punched), so an access faults to us.  Another host that
 * takes a page writable leaves the home a copy (shadow), which comes
 * back if that host is lost.
 *
 * Invariants: a page has at most one writer among all hosts, and none
 * while any host reads it; while any page is on another host, the
 * segment is marked in the table (segs_set_remote), set before the page
 * leaves, so no worker copies bytes the file does not hold; the file holds a page's current bytes unless
 * another host holds it writable; one transition per page at a time,
 * the others wait in order (struct hpage's busy and waiting).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dshm.h"
#include "log.h"
#include "pager_int.h"
#include "segfile.h"
#include "segs.h"

static struct hseg *segs;

/* A recall sent and not yet answered: its reply names only its id. */
struct recall_wait {
	struct pconn *c;
	uint32_t id;
	struct hseg *g;
	uint32_t page;
	struct recall_wait *next;
};
static struct recall_wait *recalls;

static struct hseg *
find_seg(int32_t shmid)
{
	for (struct hseg *g = segs; g != NULL; g = g->next)
		if (g->shmid == shmid)
			return g;
	return NULL;
}

/* The segment of ours with this shmid, its file opened; NULL when there is none. */
static struct hseg *
open_seg(int32_t shmid)
{
	const struct seg_cred self = {.privileged = true};
	struct hseg *g = find_seg(shmid);
	uint64_t segsz;
	int fd;

	if (g != NULL)
		return g;
	/* The size from the table: the file holds the write notices after the bytes. */
	if (segs_access(pager_table, &self, shmid, false, &segsz) != DSHM_SUCCESS ||
	    (fd = segfile_open(pager_table, shmid, false)) < 0)
		return NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		close(fd);
		return NULL;
	}
	g->shmid = shmid;
	g->fd = fd;
	g->segsz = segsz;
	g->npages = (uint32_t)((g->segsz + PG - 1) / PG);
	g->next = segs;
	segs = g;
	return g;
}

struct hseg *
home_find_reg(const struct reg *r)
{
	for (struct hseg *g = segs; g != NULL; g = g->next)
		for (struct reg *x = g->regs; x != NULL; x = x->next)
			if (x == r)
				return g;
	return NULL;
}

/* Protects (or frees) page in every mapping of this host. */
static void
protect_all(struct hseg *g, uint32_t page, bool protect)
{
	for (struct reg *r = g->regs; r != NULL; r = r->next)
		uffd_wp(r, page, protect);
}

static bool
file_read(struct hseg *g, uint32_t page, unsigned char *data)
{
	ssize_t n = pread(g->fd, data, PG, (off_t)page * PG);

	if (n < 0)
		return false;
	if ((size_t)n < PG)
		memset(data + n, 0, PG - (size_t)n);
	return true;
}

static void
file_write(struct hseg *g, uint32_t page, const unsigned char *data)
{
	if (pwrite(g->fd, data, PG, (off_t)page * PG) != (ssize_t)PG)
		log_error("pager: pwrite(segment %d, page %u): %s", g->shmid, page, strerror(errno));
}

/* A hole at page: every mapping of this host loses it at once, and faults for it. */
static void
file_punch(struct hseg *g, uint32_t page)
{
	if (fallocate(g->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)page * PG, PG) < 0)
		log_error("pager: fallocate(PUNCH_HOLE, segment %d, page %u): %s", g->shmid, page,
			  strerror(errno));
}

/* ---- the table's mark: pages on other hosts ----------------------------- */

/*
 * Marks the segment in the table before its first page goes to another
 * host: the mark is set under the owner's lock, which a worker holds
 * while it copies bytes, so no copy reads or writes the file under a
 * page that has left.  False when the segment is gone.
 */
static bool
mark_remote(struct hseg *g)
{
	if (!g->remote && segs_set_remote(pager_table, g->shmid, true) != DSHM_SUCCESS)
		return false;
	g->remote = true;
	return true;
}

/* Counts page in or out of what other hosts hold; the mark goes with the last. */
static void
tally(struct hseg *g, uint32_t page)
{
	struct hpage *p = &g->pages[page];
	bool held = p->owner != 0 || p->readers != 0;

	if (held == p->counted)
		return;
	p->counted = held;
	if (held)
		g->held++;
	else if (--g->held == 0 && g->remote) {
		segs_set_remote(pager_table, g->shmid, false);
		g->remote = false;
	}
}

/* ---- this host's mappings --------------------------------------------- */

void
home_register(struct pconn *link, int32_t shmid, struct reg *r)
{
	struct hseg *g = open_seg(shmid);

	(void)link;
	if (g == NULL) {
		pc_forget_uffd(r);
		free(r);
		return;
	}
	r->next = g->regs;
	g->regs = r;
	if (r->uffd < 0) {
		g->uncontrolled++;
		return;
	}
	/* Pages readable here must be protected in the new mapping too (a fork's child, say). */
	for (uint32_t p = 0; g->pages != NULL && p < g->npages; p++)
		if (g->pages[p].home == PS_R)
			uffd_wp(r, p, true);
}

static void
drop_reg(struct hseg *g, struct reg *r)
{
	for (struct reg **p = &g->regs; *p != NULL; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
	if (r->uffd < 0 && g->uncontrolled > 0)
		g->uncontrolled--;
	/* Faults of its waiting on a page need no answer: the mapping is gone. */
	for (uint32_t p = 0; g->pages != NULL && p < g->npages; p++)
		for (struct op *o = g->pages[p].waiting; o != NULL; o = o->next)
			if (o->reg == r)
				o->reg = NULL;
	for (uint32_t p = 0; g->pages != NULL && p < g->npages; p++)
		if (g->pages[p].busy != NULL && g->pages[p].busy->reg == r)
			g->pages[p].busy->reg = NULL;
	pc_forget_uffd(r);
	free(r);
}

void
home_unregister(struct pconn *link, int32_t shmid, uint64_t addr)
{
	struct hseg *g = find_seg(shmid);

	for (struct reg *r = g != NULL ? g->regs : NULL; r != NULL; r = r->next)
		if (r->link == link && r->addr == addr) {
			drop_reg(g, r);
			return;
		}
}

void
home_link_gone(struct pconn *link)
{
	for (struct hseg *g = segs; g != NULL; g = g->next)
		for (struct reg *r = g->regs, *next; r != NULL; r = next) {
			next = r->next;
			if (r->link == link)
				drop_reg(g, r);
		}
}

/* ---- transitions ------------------------------------------------------ */

static void start(struct hseg *g, struct op *o);

/* The bytes of page as the home has them now (file, or the shadow while another host writes). */
static void
home_bytes(struct hseg *g, uint32_t page, unsigned char *data)
{
	struct hpage *p = &g->pages[page];

	if (p->home != PS_I || p->shadow == NULL)
		file_read(g, page, data);
	else
		memcpy(data, p->shadow, PG);
}

/* The page comes back into the file, readable or writable here. */
static void
refill(struct hseg *g, uint32_t page, const unsigned char *data, uint8_t state)
{
	struct hpage *p = &g->pages[page];

	/* Protected before it is filled: no mapping of this host may write a readable page. */
	if (state == PS_R)
		protect_all(g, page, true);
	file_write(g, page, data);
	p->home = state;
	free(p->shadow);
	p->shadow = NULL;
	if (state == PS_W)
		protect_all(g, page, false);
}

/* All recalls answered: the operation takes effect. */
static void
finish(struct hseg *g, struct op *o)
{
	struct hpage *p = &g->pages[o->page];
	unsigned char granted[4];

	switch (o->kind) {
	case OK_FETCH:
		if (o->from == NULL || o->from->dead)
			break;
		if (!mark_remote(g)) {
			pc_send(o->from, OP_COH_FETCH, o->id, DSHM_INVALID, NULL, 0);
			break;
		}
		/*
		 * This host's mappings are protected before the page is read:
		 * a store of theirs in between would be missing from the bytes
		 * sent, and seen here only.
		 */
		if (!o->write) {
			/* Readable everywhere it is read, writable nowhere. */
			if (o->have_data && p->home == PS_I)
				refill(g, o->page, o->data, PS_R);
			else if (p->home == PS_W) {
				protect_all(g, o->page, true);
				p->home = PS_R;
			}
			if (!o->have_data)
				home_bytes(g, o->page, o->data);
			p->readers |= UINT64_C(1) << o->from->host;
			proto_put_u32(granted, PS_R);
		} else {
			/* This host gives it up: protected, read, then punched; the shadow stays. */
			if (p->home != PS_I)
				protect_all(g, o->page, true);
			if (!o->have_data)
				home_bytes(g, o->page, o->data);
			if (p->home != PS_I) {
				file_punch(g, o->page);
				p->home = PS_I;
			}
			if (p->shadow == NULL)
				p->shadow = malloc(PG);
			if (p->shadow != NULL)
				memcpy(p->shadow, o->data, PG);
			p->readers = 0;
			p->owner = (uint8_t)(o->from->host + 1);
			proto_put_u32(granted, PS_W);
		}
		pc_send2(o->from, OP_COH_FETCH, o->id, DSHM_SUCCESS, granted, 4, o->data, PG);
		break;
	case OK_FAULT:
		if (p->home == PS_I) {
			if (!o->have_data)
				home_bytes(g, o->page, o->data);
			refill(g, o->page, o->data, o->write ? PS_W : PS_R);
		} else if (o->write) {
			p->home = PS_W;
			protect_all(g, o->page, false);
		}
		if (o->reg != NULL)
			uffd_wake(o->reg, o->page);
		break;
	case OK_RELEASE:
		if (o->have_data && p->home == PS_I)
			refill(g, o->page, o->data, p->readers ? PS_R : PS_W);
		if (p->home == PS_R && p->readers == 0 && p->owner == 0) {
			p->home = PS_W;
			protect_all(g, o->page, false);
		}
		if (o->from != NULL && !o->from->dead)
			pc_send(o->from, OP_COH_RELEASE, o->id, DSHM_SUCCESS, NULL, 0);
		break;
	default:
		break;
	}
	tally(g, o->page);
	p->busy = NULL;
	free(o);
	if ((o = p->waiting) != NULL) {
		p->waiting = o->next;
		o->next = NULL;
		start(g, o);
	}
}

static void
recall(struct hseg *g, struct op *o, int host, bool invalidate)
{
	unsigned char body[PROTO_COH_RECALL_LEN];
	struct pconn *c = pager_host_conn(host);
	struct recall_wait *w;

	if (c == NULL || (w = calloc(1, sizeof(*w))) == NULL)
		return; /* gone meanwhile: its pages were handed back when it went */
	proto_put_u32(body, (uint32_t)g->shmid);
	proto_put_u32(body + 4, o->page);
	proto_put_u32(body + 8, invalidate);
	*w = (struct recall_wait){c, pc_request(c, OP_COH_RECALL, body, sizeof(body), NULL, 0), g,
				  o->page, recalls};
	recalls = w;
	o->pending++;
}

/* Takes the wait for (c, id) off the list; NULL when there is none. */
static struct recall_wait *
take_wait(struct pconn *c, uint32_t id, bool any_id)
{
	for (struct recall_wait **p = &recalls, *w; (w = *p) != NULL; p = &w->next)
		if (w->c == c && (any_id || w->id == id)) {
			*p = w->next;
			return w;
		}
	return NULL;
}

/* A recall answered by c (had_write: with the page's bytes in data), or never to be. */
static void
recalled(struct recall_wait *w, bool had_write, const unsigned char *data)
{
	struct hpage *p = &w->g->pages[w->page];
	struct op *o = p->busy;
	uint64_t bit = UINT64_C(1) << w->c->host;

	if (o == NULL || o->pending == 0) {
		free(w);
		return;
	}
	if (had_write) {
		memcpy(o->data, data, PG);
		o->have_data = true;
	}
	if (p->owner == w->c->host + 1) {
		p->owner = 0;
		if (!o->write)
			p->readers |= bit; /* downgraded: it reads on */
	} else
		p->readers &= ~bit;
	tally(w->g, w->page);
	log_debug("home: seg %d page %u: recalled from host %d%s", w->g->shmid, w->page, w->c->host,
		  had_write ? " with its bytes" : "");
	if (--o->pending == 0)
		finish(w->g, o);
	free(w);
}

/* Begins o: sends the recalls it needs, or finishes at once. */
static void
start(struct hseg *g, struct op *o)
{
	struct hpage *p = &g->pages[o->page];
	int me = o->from != NULL ? o->from->host : -1;

	if (p->busy != NULL) {
		struct op **q = &p->waiting;

		while (*q != NULL)
			q = &(*q)->next;
		*q = o;
		return;
	}
	p->busy = o;
	o->pending = 0;
	log_debug("home: seg %d page %u: %s%s from %s (home %d owner %d readers %llx)", g->shmid,
		  o->page, o->kind == OK_FETCH ? "fetch" : o->kind == OK_FAULT ? "fault" : "release",
		  o->write ? " for writing" : "", o->from ? "a host" : "here", p->home, p->owner,
		  (unsigned long long)p->readers);
	if (o->kind == OK_FETCH || o->kind == OK_FAULT) {
		int owner = (int)p->owner - 1;

		if (owner >= 0 && owner != me)
			recall(g, o, owner, o->write);
		for (int h = 0; o->write && h < MAX_HOSTS; h++)
			if ((p->readers & (UINT64_C(1) << h)) && h != me)
				recall(g, o, h, true);
	}
	if (o->pending == 0)
		finish(g, o);
}

void
home_recalled(struct pconn *c, const struct proto_header *h, const unsigned char *b)
{
	struct recall_wait *w = h->opcode == OP_COH_RECALL ? take_wait(c, h->id, false) : NULL;

	if (w != NULL)
		recalled(w, h->status == DSHM_SUCCESS && h->len >= 4 + PG && proto_get_u32(b), b + 4);
}

void
home_fault(struct hseg *g, struct reg *r, uint64_t addr, bool write, bool wp)
{
	uint32_t page = (uint32_t)((addr - r->addr) / PG);
	struct op *o;

	if (page >= g->npages || g->pages == NULL) {
		/* Nobody else shares the segment: nothing was taken from this host. */
		if (wp)
			uffd_wp(r, page, false);
		else
			uffd_wake(r, page);
		return;
	}
	/* A stale protection where this host writes already: free it, no transition. */
	if (wp && g->pages[page].home == PS_W && g->pages[page].busy == NULL) {
		uffd_wp(r, page, false);
		return;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return;
	*o = (struct op){.kind = OK_FAULT, .page = page, .write = write || wp, .reg = r, .wp = wp};
	start(g, o);
}

/* ---- requests of other hosts ------------------------------------------ */

static bool
may(const struct pconn *c, int32_t shmid, uint32_t uid, uint32_t gid, bool write, uint64_t *segsz)
{
	/* A credential of root may ask for the hosts' own users; any other acts as itself. */
	struct seg_cred cred = {.pid = 0, .uid = c->peer.uid, .gid = c->peer.gid};

	if (c->peer.uid == 0) {
		cred.uid = uid;
		cred.gid = gid;
	}
	cred.privileged = cred.uid == 0;
	return segs_access(pager_table, &cred, shmid, write, segsz) == DSHM_SUCCESS;
}

void
home_request(struct pconn *c, const struct proto_header *h, const unsigned char *b)
{
	int32_t shmid = h->len >= 4 ? (int32_t)proto_get_u32(b) : -1;
	struct hseg *g = find_seg(shmid);
	unsigned char reply[8];
	uint64_t segsz;
	struct op *o;

	switch (h->opcode) {
	case OP_COH_JOIN:
		if (h->len != PROTO_COH_JOIN_LEN)
			break;
		if (!may(c, shmid, proto_get_u32(b + 4), proto_get_u32(b + 8),
			 proto_get_u32(b + 12) == 2, &segsz)) {
			pc_send(c, h->opcode, h->id, DSHM_ACCESS, NULL, 0);
			return;
		}
		if ((g = open_seg(shmid)) == NULL) {
			pc_send(c, h->opcode, h->id, DSHM_INVALID, NULL, 0);
			return;
		}
		/* A mapping here that the pager cannot protect forbids sharing the segment. */
		if (g->uncontrolled > 0) {
			log_warn("pager: segment %d is mapped here without a userfaultfd: it cannot be "
				 "shared with another host", shmid);
			pc_send(c, h->opcode, h->id, DSHM_ERROR, NULL, 0);
			return;
		}
		if (g->pages == NULL && (g->pages = calloc(g->npages, sizeof(*g->pages))) != NULL)
			for (uint32_t p = 0; p < g->npages; p++)
				g->pages[p].home = PS_W;
		if (g->pages == NULL) {
			pc_send(c, h->opcode, h->id, DSHM_ERROR, NULL, 0);
			return;
		}
		proto_put_u64(reply, segsz);
		pc_send(c, h->opcode, h->id, DSHM_SUCCESS, reply, 8);
		return;
	case OP_COH_FETCH:
	case OP_COH_RELEASE:
		if (g == NULL || g->pages == NULL || h->len < 12 || proto_get_u32(b + 4) >= g->npages) {
			pc_send(c, h->opcode, h->id, DSHM_INVALID, NULL, 0);
			return;
		}
		if ((o = calloc(1, sizeof(*o))) == NULL)
			break;
		o->kind = h->opcode == OP_COH_FETCH ? OK_FETCH : OK_RELEASE;
		o->page = proto_get_u32(b + 4);
		o->from = c;
		o->id = h->id;
		if (o->kind == OK_FETCH)
			o->write = proto_get_u32(b + 8) != 0;
		else {
			struct hpage *p = &g->pages[o->page];

			/* What it held goes; what it wrote comes back with it. */
			if (proto_get_u32(b + 8) && h->len >= PROTO_COH_RELEASE_LEN + PG &&
			    p->owner == c->host + 1) {
				memcpy(o->data, b + PROTO_COH_RELEASE_LEN, PG);
				o->have_data = true;
				p->owner = 0;
				/*
				 * A transition waits for this very host to give the page
				 * back: these are the bytes it will not have any more when
				 * the recall reaches it.
				 */
				if (p->busy != NULL && p->busy->pending > 0) {
					memcpy(p->busy->data, o->data, PG);
					p->busy->have_data = true;
				}
			}
			p->readers &= ~(UINT64_C(1) << c->host);
			tally(g, o->page);
		}
		start(g, o);
		return;
	default:
		break;
	}
	pc_send(c, h->opcode, h->id, DSHM_BAD_REQUEST, NULL, 0);
}

/*
 * A host is gone (its dshmd died, or the network): what it read is
 * simply forgotten; what it held writable returns to the home's last
 * copy, and every other host goes on.
 */
void
home_host_gone(struct pconn *c)
{
	uint64_t bit = UINT64_C(1) << c->host;

	struct recall_wait *rw;

	/* Recalls it will never answer: as if it had nothing to give (its writes are lost). */
	while ((rw = take_wait(c, 0, true)) != NULL)
		recalled(rw, false, NULL);
	for (struct hseg *g = segs; g != NULL; g = g->next)
		for (uint32_t page = 0; g->pages != NULL && page < g->npages; page++) {
			struct hpage *p = &g->pages[page];

			for (struct op *w = p->waiting; w != NULL; w = w->next)
				if (w->from == c)
					w->from = NULL;
			if (p->busy != NULL && p->busy->from == c)
				p->busy->from = NULL;
			p->readers &= ~bit;
			if (p->owner == c->host + 1) {
				unsigned char zero[PG];

				p->owner = 0;
				if (p->shadow == NULL)
					memset(zero, 0, PG);
				refill(g, page, p->shadow != NULL ? p->shadow : zero, PS_W);
				log_warn("pager: a host left holding page %u of segment %d writable: the "
					 "home's last copy stands", page, g->shmid);
			} else if (p->home == PS_R && p->readers == 0 && p->busy == NULL) {
				p->home = PS_W;
				protect_all(g, page, false);
			}
			tally(g, page);
		}
}
