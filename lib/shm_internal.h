/*
 * shm_internal.h — what the System V-style calls of libdshm share: the
 * process's one connection, the lock that serialises every call on it,
 * and the list of attachments.
 *
 * Invariants: everything here is touched only with shm_lock held; a
 * connection belongs to the process that opened it (a forked child opens
 * its own, and re-attaches what it inherited, before fork returns); an
 * attachment's requests go on the connection it was made on.
 */
#ifndef DSHM_LIB_SHM_INTERNAL_H
#define DSHM_LIB_SHM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

/* A connection of the calls, and the ids it carries (shm_conn.c). */
struct shm_link;

/*
 * An attachment: the caller's view of the segment at addr, and the
 * library's read-write view of the same memory (lib), which holds the
 * data in its first maplen bytes and the twin (the bytes as of the last
 * sync) in the next maplen.  Both views map one memfd MAP_SHARED, so a
 * forked child shares them with its parent, as it would a kernel segment.
 */
struct attachment {
	unsigned char *addr;
	size_t maplen;
	/*
	 * Coherent (DSHM_SHM_COHERENT): addr maps the segment's own file
	 * (pager_kind PAGER_KIND_HOME) or this host's copy of another
	 * dshmd's segment (PAGER_KIND_COPY, number pager_id); lib and gen
	 * are unused.  uffd is the userfaultfd the pager was given (-1:
	 * none), kept open so that pages never fill with zeros behind the
	 * pager's back.
	 */
	bool coherent;
	uint32_t pager_kind;
	int32_t pager_id;
	int uffd;
	unsigned char *lib;
	int32_t shmid;
	uint64_t segsz;
	bool rdonly;
	uint64_t gen; /* the write generation the local bytes are known to match */
	bool pulled;  /* gen is real: a whole pull happened, later ones take write notices */
	struct shm_link *link; /* the connection it was made on: its syncs and detach go there */
	struct attachment *next;
};

extern struct attachment *shm_attachments;

/* The largest read or write the server takes (its HELLO's max_data); valid once connected. */
extern uint32_t shm_max_data;

/* Takes the lock (and sets up the fork handlers on first use). */
void shm_lock(void);
void shm_unlock(void);

/*
 * The connection of the process's present effective ids (a new one after
 * setuid or seteuid), made if there is none (not yet connected); NULL
 * when memory ran out.  With the lock held.
 */
struct shm_link *shm_link_current(void);

/* Whether l is open and was opened by this process (not by the parent of a vfork child). */
bool shm_link_ours(const struct shm_link *l);

/* Counts an attachment made on l; its release lets l go once nothing needs it. */
void shm_link_hold(struct shm_link *l);
void shm_link_release(struct shm_link *l);

/*
 * The present ids' connection, opened (and its attachments re-attached)
 * if need be; with the lock held.  Returns the socket, or -1 with errno
 * EIO.
 */
int shm_conn(void);

/* The status of a connection shm_conn or a call could not open (errno says): EACCES, a server not trusted. */
int shm_conn_error(void);

/*
 * One request on connection l (NULL: the present ids' one), with the
 * lock held.  A failed exchange closes the connection, so the next call
 * opens a new one.  Returns a DSHM_* status.
 */
int shm_call_once(struct shm_link *l, struct proto_request *r, const void *data, void *body,
		  size_t body_cap, size_t *body_len);

/* shm_call_once for a reply that carries a descriptor, which goes to *passed (-1: none). */
int shm_call_fd(struct shm_link *l, struct proto_request *r, const void *data, void *body,
		size_t body_cap, int *passed);

/*
 * The same, for a request that may be repeated (the same result whether
 * or not the first try was carried out): when the connection fails, it
 * is tried once more on a new one.
 */
int shm_call(struct shm_link *l, struct proto_request *r, const void *data, void *body,
	     size_t body_cap, size_t *body_len);

/*
 * The pager of this host's dshmd (shm_pager.c), with the lock held: the
 * link to the pager beside the Unix server addr (NULL: the default
 * socket), opened if need be (-1 with errno when there is none); a
 * userfaultfd registered (missing and write-protect faults) on
 * [addr, addr + len), *kernel_faults telling whether faults taken by
 * the kernel reach it too; the registration of such a descriptor (-1:
 * a mapping the pager cannot control) or its end; and this host's copy
 * of another dshmd's segment.
 */
int shm_pager_link(const char *addr);
void shm_pager_forget(void);
int shm_uffd_register(void *addr, size_t len, bool rdonly, bool *kernel_faults);
int shm_pager_register(uint32_t kind, int32_t id, void *addr, size_t len, bool rdonly, int uffd);
void shm_pager_unregister(uint32_t kind, int32_t id, void *addr);
int shm_pager_host_map(const char *home, int32_t shmid, uint64_t segsz, bool rdonly,
		       int32_t *copy, int *memfd);

/* The server the calls use (dshm_set_server's, $DSHM_SERVER, or NULL for the default). */
const char *shm_server_addr(void);

/* The dshmd of this host, whose pager keeps copies of other dshmds' segments: $DSHM_LOCAL, else NULL (the default socket). */
const char *shm_local_addr(void);

/*
 * Whether p lies in a coherent attachment of this process: a lock-free
 * look at a table of ranges (for the preload's mutex calls, which must
 * not take the lock of these calls).  shm_range_add and shm_range_del
 * keep the table, with the lock held.
 */
bool shm_in_coherent(const void *p);
void shm_range_add(const void *addr, size_t len, bool rdonly);
void shm_range_del(const void *addr);
/* Whether [p, p + len) overlaps a read-only coherent attachment. */
bool shm_in_rdonly(const void *p, size_t len);

/* errno for a DSHM_* status. */
int shm_errno(int status);

/* Sets errno from status and returns -1. */
int shm_fail(int status);

/*
 * Re-attaches every attachment made on l, on its new connection,
 * shm_lpid being lpid (0: us).  False when the connection failed on the
 * way (a segment gone meanwhile is no failure: its syncs will say
 * EINVAL).
 */
bool shm_reattach_all(struct shm_link *l, int32_t lpid);

/*
 * Hands a coherent attachment's mapping to the pager (a new userfaultfd
 * registered on it).  Returns a DSHM_* status: a mapping of this host's
 * copy cannot do without (its pages come only through the pager); the
 * segment's own file can, and is then registered as one the pager does
 * not control (no other host may share the segment while it is mapped).
 */
int shm_pager_take(struct attachment *a);

/* Publishes a's local changes; pulls others' unless push_only.  Returns a DSHM_* status. */
int shm_sync_one(struct attachment *a, bool push_only);

#endif /* DSHM_LIB_SHM_INTERNAL_H */
