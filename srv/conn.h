/*
 * conn.h — one client connection inside a worker: its buffers and the
 * framing of requests and replies.
 *
 * Invariants: replies leave in the order requests arrived; a connection
 * whose stream cannot be trusted (bad magic, wrong version) is answered
 * once and then closed; a rejected oversized body is swallowed so the
 * stream stays in step; at most CONN_OUT_HIGH bytes of replies wait
 * before the connection stops taking requests.
 */
#ifndef DSHM_SRV_CONN_H
#define DSHM_SRV_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "dispatch.h"
#include "gather.h"

#define CONN_READ_CHUNK (64u << 10)
#define CONN_OUT_HIGH (4u << 20)
#define CONN_BUDGET 64 /* requests served per connection per wakeup, for fairness */
/*
 * Before it authenticates, a peer gets this long, and its requests may be
 * this large (an AUTH step is at most 100 bytes): it cannot hold a slot
 * or a big buffer without a credential.
 */
#define CONN_MAX_FDS 8 /* descriptors waiting to go with their replies (SHM_MAP) */
#define CONN_AUTH_SECONDS 10
#define CONN_AUTH_MAX_BODY 4096

/*
 * The replies of the connection being served whose bytes are still in
 * the arena (see gather.h), and that connection.  One per worker, which
 * each of its connections points to: a worker serves and flushes one
 * connection at a time, and the flush settles everything, so at most one
 * connection has pieces pending, and only between its conn_serve and its
 * conn_flush.
 */
struct conn_pending {
	struct gather g;
	struct conn *conn; /* whose pieces g holds; NULL: nobody's */
};

struct conn {
	int kind; /* SOURCE_CONN: first, so epoll data can be told apart */
	int fd;
	struct peer peer;
	struct conn_pending *pending; /* the worker's (see struct conn_pending) */
	struct buf in, out;
	uint64_t swallow;   /* body bytes still to discard after a rejected header */
	uint32_t events;    /* the epoll events now registered */
	bool eof;           /* the client will send nothing more */
	bool closing;       /* take no more requests; close once out is flushed */
	bool ready;         /* on the worker's ready list */
	int64_t progress_ms; /* when a byte last moved or a request was served */
	int64_t accepted_ms;
	uint32_t counted_uid; /* the user this connection counts for (ipc/usershare.h) */
	bool counted;
	struct conn *prev, *next;  /* all connections of the worker */
	struct conn *next_ready;   /* connections with complete requests left unserved */
	/*
	 * Descriptors to send, each with the first byte of its reply, which
	 * lies at offset at of the replies waiting in out; closed once sent.
	 */
	struct {
		size_t at;
		int fd;
	} fds[CONN_MAX_FDS];
	unsigned nfds;
	/* The io_uring loop's: operations in flight, and what they are. */
	unsigned inflight;
	bool recv_armed, send_armed, poll_armed;
	bool recv_stopping; /* its multishot receive is being cancelled */
	bool zombie;   /* closed: freed once its last operation completes */
	bool touched;  /* on the loop's list of connections to look at after this batch */
	struct conn *next_touched;
};

struct conn_stats {
	uint64_t requests, bytes_in, bytes_out;
};

/*
 * Reads what the socket has (until EAGAIN, or the buffer's need is met).
 * Returns false when the connection failed and must be closed now.
 */
bool conn_read(struct conn *c, struct conn_stats *st);

/*
 * Serves up to CONN_BUDGET complete requests.  Returns true if complete
 * requests are still waiting (budget used up), so the caller comes back.
 */
bool conn_serve(struct conn *c, struct table *t, struct conn_stats *st);

/*
 * Sends pending replies.  Returns false when the connection failed.
 * Reads served in place (see gather.h) keep their process locked from
 * conn_serve until this flush, which always releases it: every
 * conn_serve must be followed by conn_flush, conn_settle or
 * conn_free_buffers before the worker waits or serves another connection.
 */
bool conn_flush(struct conn *c, struct conn_stats *st);

/*
 * Copies replies still in the arena into c's buffer, releasing their
 * lock.  False when the buffer could not grow: the replies from the
 * first of them on are dropped, and c must be closed (see gather.h).
 */
bool conn_settle(struct conn *c);

/*
 * Takes n bytes that arrived for c (a loop that receives into buffers of
 * its own): discards what a rejected body still owes, appends the rest.
 * Returns false when the buffer cannot grow (c must be closed).
 */
bool conn_take(struct conn *c, const void *data, size_t n, struct conn_stats *st);

/*
 * Whether c takes more bytes now: it is not closing, its replies are
 * below the high mark, and it holds less than its first request and
 * ahead bytes more (a loop that receives ahead of serving asks this, so
 * a client cannot make it buffer more than that).
 */
bool conn_wants_input(const struct conn *c, size_t ahead);

/* Whether a whole request waits in the input buffer. */
bool conn_has_request(const struct conn *c);

/* Whether c may serve more requests now (its replies are below the high mark, room for fds). */
bool conn_can_serve(const struct conn *c);

void conn_free_buffers(struct conn *c);

#endif /* DSHM_SRV_CONN_H */
