/*
 * shm_internal.h — what the System V-style calls of libdshm share: the
 * process's one connection, the lock that serialises every call on it,
 * and the list of attachments.
 *
 * Invariants: everything here is touched only with shm_lock held; the
 * connection belongs to the process that opened it (a forked child opens
 * its own, and re-attaches what it inherited, before fork returns).
 */
#ifndef DSHM_LIB_SHM_INTERNAL_H
#define DSHM_LIB_SHM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

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
	/* Coherent (DSHM_SHM_COHERENT): addr maps the segment's own file; lib and gen are unused. */
	bool coherent;
	unsigned char *lib;
	int32_t shmid;
	uint64_t segsz;
	bool rdonly;
	uint64_t gen; /* the write generation the local bytes are known to match */
	struct attachment *next;
};

extern struct attachment *shm_attachments;

/* The largest read or write the server takes (its HELLO's max_data); valid once connected. */
extern uint32_t shm_max_data;

/* Takes the lock (and sets up the fork handlers on first use). */
void shm_lock(void);
void shm_unlock(void);

/*
 * The connection, opened (and the attachments re-attached) if there is
 * none; with the lock held.  Returns the socket, or -1 with errno EIO.
 */
int shm_conn(void);

/*
 * One request on the connection, with the lock held.  A failed exchange
 * closes the connection, so the next call opens a new one.  Returns a
 * DSHM_* status.
 */
int shm_call_once(struct proto_request *r, const void *data, void *body, size_t body_cap,
		  size_t *body_len);

/* shm_call_once for a reply that carries a descriptor, which goes to *passed (-1: none). */
int shm_call_fd(struct proto_request *r, const void *data, void *body, size_t body_cap,
		int *passed);

/*
 * The same, for a request that may be repeated (the same result whether
 * or not the first try was carried out): when the connection fails, it
 * is tried once more on a new one.
 */
int shm_call(struct proto_request *r, const void *data, void *body, size_t body_cap,
	     size_t *body_len);

/* errno for a DSHM_* status. */
int shm_errno(int status);

/* Sets errno from status and returns -1. */
int shm_fail(int status);

/*
 * Re-attaches every attachment on a new connection, shm_lpid being lpid
 * (0: us).  False when the connection failed on the way (a segment gone
 * meanwhile is no failure: its syncs will say EINVAL).
 */
bool shm_reattach_all(int32_t lpid);

/* Publishes a's local changes; pulls others' unless push_only.  Returns a DSHM_* status. */
int shm_sync_one(struct attachment *a, bool push_only);

#endif /* DSHM_LIB_SHM_INTERNAL_H */
