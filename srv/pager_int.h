/*
 * pager_int.h — what the pager's files share: its connections, the
 * registrations of this host's mappings, and the two roles (home of this
 * dshmd's segments, pager_home.c; host of copies of other dshmds',
 * pager_host.c), over the event loop and framing of pager.c.
 *
 * Invariants: the pager is one thread, so nothing here is locked; a page
 * changes hands only through one transition at a time (its busy
 * operation), others wait behind it in order; pages move in
 * PROTO_COH_PAGE units, whatever the frame size.
 */
#ifndef DSHM_SRV_PAGER_INT_H
#define DSHM_SRV_PAGER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "dispatch.h"
#include "proto.h"
#include "table.h"

#define PG PROTO_COH_PAGE
#define MAX_HOSTS 64 /* hosts a home tracks (a bit each in a page's readers) */

/* A page's state on one host. */
enum page_state {
	PS_I = 0, /* invalid: not here (a hole in the host's file) */
	PS_R = 1, /* readable here, write-protected in every mapping */
	PS_W = 2, /* writable here, and nowhere else */
};

enum pconn_kind {
	PC_LOCAL = 1, /* a process of this host (the pager's Unix socket) */
	PC_HOST = 2,  /* another host's pager, connected to us as a home */
	PC_HOME = 3,  /* our session with another dshmd, the home of segments we copy */
};

struct pconn {
	int kind; /* first: epoll data tells sources apart by it */
	int fd;
	struct buf in, out;
	int fds[8]; /* descriptors received, in order, not yet taken by a request */
	unsigned nfds;
	struct peer peer;
	bool dead;          /* closed: freed once nothing refers to it */
	uint32_t next_id;   /* of the requests we send on it */
	int host;           /* PC_HOST: our index for it (0 .. MAX_HOSTS - 1) */
	char addr[256];     /* PC_HOME: the home's address */
	struct pconn *next;
};

/* A mapping of this host's, handed to the pager with its userfaultfd. */
struct reg {
	int kind; /* first: SOURCE_UFFD */
	int uffd; /* -1: one the pager cannot control */
	uint64_t addr, len;
	bool rdonly;
	struct pconn *link; /* the process's link: the registration goes with it */
	struct reg *next;   /* of its segment or copy */
};

struct op;

/* A segment of ours that this host's processes map (the home's directory once others join). */
struct hseg {
	int32_t shmid;
	uint64_t segsz;
	uint32_t npages;
	int fd; /* the segment's file */
	struct reg *regs;
	unsigned uncontrolled; /* mappings registered without a userfaultfd */
	struct hpage *pages;   /* NULL until another host joins */
	uint32_t held;         /* pages other hosts hold (struct hpage's counted) */
	bool remote;           /* the table's mark (segs_set_remote) is set */
	struct hseg *next;
};

struct hpage {
	uint8_t home;          /* this host's state: W until another host takes the page */
	uint8_t owner;         /* host index + 1 holding it writable; 0: none */
	uint64_t readers;      /* hosts holding it readable */
	unsigned char *shadow; /* the home's last copy while another host holds it writable */
	bool counted;          /* in struct hseg's held: another host holds it */
	struct op *busy, *waiting;
};

/* This host's copy of another dshmd's segment. */
struct hcopy {
	int32_t id;
	struct pconn *home;
	char addr[256];
	int32_t shmid; /* at the home */
	uint64_t segsz;
	uint32_t npages;
	int memfd;
	uint8_t *state;     /* per page */
	struct op **fetch;  /* per page: the fetch under way, faults waiting on it */
	struct reg *regs;
	struct hcopy *next;
};

/* What waits on a page: a fetch from another host, a fault of this host's, a release. */
enum op_kind {
	OK_FETCH = 1,   /* home: another host asks for a page */
	OK_FAULT = 2,   /* home or host: a fault of a mapping here */
	OK_RELEASE = 3, /* home: another host gives a page back */
	OK_JOIN = 4,    /* host: a process asked for a copy (HOST_MAP), the home was asked */
};

struct op {
	enum op_kind kind;
	uint32_t page;
	bool write;
	struct pconn *from; /* OK_FETCH, OK_RELEASE: the host; OK_JOIN: the local link */
	uint32_t id;        /* its request's id, to reply to */
	struct reg *reg;    /* OK_FAULT */
	bool wp;            /* OK_FAULT: a write-protect fault (else missing) */
	unsigned pending;   /* recalls still awaited */
	bool have_data;
	unsigned char data[PG];
	/* OK_JOIN */
	int32_t shmid;
	uint64_t segsz;
	bool rdonly;
	struct op *next;
};

/* pager.c: the connections. */
extern struct table *pager_table;
void pc_send(struct pconn *c, uint8_t opcode, uint32_t id, int32_t status, const void *body,
	     size_t len);
void pc_send2(struct pconn *c, uint8_t opcode, uint32_t id, int32_t status, const void *a,
	      size_t alen, const void *b, size_t blen);
/* Sends a request on c; returns its id. */
uint32_t pc_request(struct pconn *c, uint8_t opcode, const void *a, size_t alen, const void *b,
		    size_t blen);
/* A reply carrying a descriptor (closed here once queued). */
void pc_send_fd(struct pconn *c, uint8_t opcode, uint32_t id, const void *body, size_t len,
		int fd);
void pc_watch_uffd(struct reg *r);
void pc_forget_uffd(struct reg *r);
struct pconn *pc_connect_home(const char *addr);
/* The connection of host index host (PC_HOST); NULL when it is gone. */
struct pconn *pager_host_conn(int host);

/* pager_uffd.c: the kernel's side of a registration. */
int uffd_wp(const struct reg *r, uint32_t page, bool protect);
int uffd_wake(const struct reg *r, uint32_t page);
int uffd_copy(const struct reg *r, uint32_t page, const void *data, bool protect);
/* Reads one fault from r's descriptor: false when none is pending. */
bool uffd_next(const struct reg *r, uint64_t *addr, bool *write, bool *wp);

/* pager_home.c */
void home_register(struct pconn *link, int32_t shmid, struct reg *r);
void home_unregister(struct pconn *link, int32_t shmid, uint64_t addr);
void home_request(struct pconn *c, const struct proto_header *h, const unsigned char *body);
void home_recalled(struct pconn *c, const struct proto_header *h, const unsigned char *body);
void home_fault(struct hseg *g, struct reg *r, uint64_t addr, bool write, bool wp);
void home_host_gone(struct pconn *c);
void home_link_gone(struct pconn *link);
struct hseg *home_find_reg(const struct reg *r);

/* pager_host.c */
void host_map(struct pconn *link, const unsigned char *body, size_t len, uint32_t id);
void host_register(struct pconn *link, int32_t copy, struct reg *r);
void host_unregister(struct pconn *link, int32_t copy, uint64_t addr);
void host_reply(struct pconn *c, const struct proto_header *h, const unsigned char *body);
void host_recall(struct pconn *c, const struct proto_header *h, const unsigned char *body);
void host_fault(struct hcopy *k, struct reg *r, uint64_t addr, bool write, bool wp);
void host_home_gone(struct pconn *c);
void host_link_gone(struct pconn *link);
struct hcopy *host_find_reg(const struct reg *r);

#endif /* DSHM_SRV_PAGER_INT_H */
