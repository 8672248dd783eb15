/*
 * dispatch.h — turns one decoded request into calls on the shared tables
 * and appends its reply to a connection's output.  Nothing here knows
 * about sockets; nothing here lays out shared memory.
 */
#ifndef DSHM_SRV_DISPATCH_H
#define DSHM_SRV_DISPATCH_H

#include <stdint.h>

#include "buf.h"
#include "reply.h"
#include "proto.h"
#include "table.h"

/*
 * Who sent the request.  Over a Unix socket (SO_PEERCRED) and loopback
 * TCP (sock_diag) the kernel tells, at accept, and IDENT cannot change
 * the ids; from a remote TCP peer they are what the client stated in
 * IDENT, and until then nobody (uid and gid 65534, pid 0) for the
 * segment operations.
 */
/* What the worker serving a peer was configured with (NULL in a peer: the defaults). */
struct serve_config {
	/* The largest read or write taken (--max-data); a body may be 64 bytes more. */
	uint32_t max_data;
	/* Where this server's pager takes other hosts' pagers (--peer-listen); 0: none. */
	uint32_t peer_port;
};

struct peer {
	uint32_t uid; /* UINT32_MAX when unknown (TCP before IDENT) */
	uint32_t gid;
	int32_t pid;
	bool cred;    /* uid and gid from the kernel */
	bool pid_kernel; /* pid from the kernel too (SO_PEERCRED), so it names a live process */
	int worker;   /* the serving worker's index (t->self) */
	const struct serve_config *config; /* the serving worker's, or NULL (see dispatch_config) */
	uint64_t serial; /* the connection's number within its worker */
	/*
	 * --auth-file: a peer the kernel cannot identify must authenticate
	 * (OP_AUTH) before anything else; its challenge waits here.
	 */
	bool auth_required;
	bool challenged;
	/*
	 * Whether the connection may go on as user uid (an AUTH proved it):
	 * false when that user holds its share of the server's connections.
	 * Set by the worker, with its ctx; NULL admits anyone.
	 */
	bool (*admit_as)(void *ctx, struct peer *p, uint32_t uid);
	void *admit_ctx;
	bool hang_up; /* close the connection once this reply is sent */
	bool local;   /* over the Unix socket: on this host, and able to take descriptors */
	/*
	 * A descriptor the reply just appended carries (SHM_MAP), and that
	 * reply's length: the connection sends it with the reply's first
	 * byte, then closes it.
	 */
	bool has_pass_fd;
	int pass_fd;
	uint32_t pass_reply_len;
	uint8_t auth_name_len;
	char auth_name[PROTO_AUTH_NAME_MAX];
	unsigned char nonce[PROTO_AUTH_NONCE_LEN];
};

/* p's configuration: its worker's, or PROTO_MAX_DATA and no peer port. */
const struct serve_config *dispatch_config(const struct peer *p);


/*
 * Executes r and appends its reply to out.  Returns false only when out
 * cannot grow (the connection must then be closed).
 */
bool dispatch(struct table *t, const struct proto_request *r, struct peer *p,
	      struct buf *out);

struct gather;

/*
 * As dispatch, but a paging read is answered in place (see gather.h):
 * its bytes stay in the arena, listed in g, until the connection's
 * flush sends them.  Any other request first settles what g holds,
 * since it may need the pinned process's lock.
 */
bool dispatch_gathered(struct table *t, const struct proto_request *r, struct peer *p,
		       struct buf *out, struct gather *g);

/* OP_AUTH (dispatch_auth.c); same contract as dispatch. */
bool dispatch_auth(const struct proto_request *r, struct peer *p, struct buf *out);

/* The segment operations and IDENT (dispatch_shm.c); same contract as dispatch. */
bool dispatch_shm(struct table *t, const struct proto_request *r, struct peer *p,
		  struct buf *out);

#endif /* DSHM_SRV_DISPATCH_H */
