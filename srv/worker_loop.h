/*
 * worker_loop.h — what a worker's event loop (loop_epoll.c, loop_uring.c)
 * shares with the rest of the worker (worker.c): the worker's state, and
 * the steps every loop takes the same way — accepting under the limits,
 * serving a connection's requests, closing a connection, the timeouts,
 * and stopping.
 *
 * Invariant: a loop owns how bytes move between sockets and buffers and
 * how it waits; everything the connections' clients can observe (limits,
 * identities, timeouts, the order of replies, stopping) is decided here,
 * once, so both loops behave alike.
 */
#ifndef DSHM_SRV_WORKER_LOOP_H
#define DSHM_SRV_WORKER_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "worker.h"

#define SOURCE_LISTEN 1
#define SOURCE_SIGNAL 2
#define SOURCE_CONN 3
#define STOP_GRACE_MS 3000
/*
 * The longest a loop sleeps: each turn stamps the worker's heartbeat
 * (worker_slot.heartbeat_ms), so an idle worker still beats this often.
 */
#define WORKER_BEAT_MS 250

struct source {
	int kind;
	int fd;
};

struct worker;

/* What a loop does where the common steps need it. */
struct loop_ops {
	/* Starts or stops taking connections from the listening sockets. */
	void (*watch_listeners)(struct worker *w, bool on);
	/*
	 * c is being closed: the loop closes its socket and forgets it.
	 * Returns true when operations of the loop still use c's memory, so
	 * the loop frees c itself once they are done (conn_free_buffers,
	 * free); false lets worker_close_conn free it at once.
	 */
	bool (*forget)(struct worker *w, struct conn *c);
};

struct worker {
	struct table *t;
	struct worker_slot *slot;
	const struct loop_ops *ops;
	void *loop; /* the loop's own state */
	struct source listeners[2];
	struct source sig;
	struct conn *conns;
	struct conn *ready;
	bool stopping;
	int64_t stop_deadline_ms;
	pid_t master;
	uint64_t conn_serial; /* numbers this worker's connections, for their attachments */
	const struct worker_args *limits; /* max_conns, max_conns_per_worker, idle_timeout */
	struct serve_config config;        /* what its connections are served with (--max-data) */
	struct conn_pending pending;       /* the replies still in the arena, of one connection */
	int64_t next_sweep_ms;            /* when timeouts are next looked at */
	bool accept_paused; /* out of descriptors: accept again after a pause */
	bool full;          /* at its connection share: not accepting */
	int64_t accept_resume_ms;
	/*
	 * Closed connections whose attachments could not all be detached
	 * (a segment's lock stayed held past the wait bound): the sweep
	 * tries again until they are.
	 */
	uint64_t *undetached;
	unsigned n_undetached, cap_undetached;
};

/* The common part of a worker's start: the table, its slot, recovery, the signalfd. */
void worker_setup(struct worker *w, const struct worker_args *a, const struct loop_ops *ops);

/* Marks the worker serving (after the loop is set up), or stopping if the master is gone. */
void worker_ready(struct worker *w);

/*
 * A connection the listener l gave (fd): refused and closed when it
 * would pass the limits, else made into a conn (identified, counted,
 * listed) that the caller starts watching.  NULL when refused.
 */
struct conn *worker_accepted(struct worker *w, struct source *l, int fd);

/* accept4 failed with err: pauses accepting for a while when out of descriptors or memory. */
void worker_accept_failed(struct worker *w, int err);

/* Closes c: what its client attached is detached, and c is freed. */
void worker_close_conn(struct worker *w, struct conn *c);

/*
 * Serves what c has buffered and accounts for it: conn_serve, the
 * requests counted at once.  Returns true when complete requests remain
 * (c goes on the ready list for another turn).
 */
bool worker_serve(struct worker *w, struct conn *c, struct conn_stats *st);

/* After a turn of c: its bytes counted, its progress stamped, the ready list updated. */
void worker_after_turn(struct worker *w, struct conn *c, const struct conn_stats *st, bool more);

/* Whether c is done (closing or at end of stream, nothing left to serve or send). */
bool worker_conn_finished(const struct conn *c);

/*
 * After every turn of the loop: the heartbeat; once a second, the
 * master's presence, the timeouts, the accept pause.
 */
void worker_tick(struct worker *w);

/* SIGTERM or SIGINT: stop accepting, serve what was received, then exit. */
void worker_begin_stop(struct worker *w);

/* While stopping: closes idle connections; exits the process once all are gone or time is up. */
void worker_stop_step(struct worker *w);

/* How long a loop may sleep now, in milliseconds. */
int worker_timeout_ms(const struct worker *w);

/* The epoll and io_uring loops: each sets the worker up (worker_setup) and never returns. */
void loop_epoll_run(const struct worker_args *a) __attribute__((noreturn));
void loop_uring_run(const struct worker_args *a) __attribute__((noreturn));

/* Whether an io_uring loop can run here (probed once, in the master, at start). */
bool loop_uring_available(char *why, size_t len);

#endif /* DSHM_SRV_WORKER_LOOP_H */
