/*
 * worker.h — a worker process: an event loop (epoll or io_uring) serving
 * many connections against the shared arena and table it inherited from
 * the master.
 */
#ifndef DSHM_SRV_WORKER_H
#define DSHM_SRV_WORKER_H

#include "table.h"

enum worker_io {
	WORKER_IO_EPOLL = 1, /* readiness: epoll_wait, then recv and send per connection */
	WORKER_IO_URING = 2, /* completions: receives and sends batched in one io_uring */
};

struct worker_args {
	struct table *table;
	int index;         /* 1-based, as in "dshmd: worker 2" */
	int listen_fds[2]; /* -1 where a transport is off */
	pid_t master;
	uint32_t max_conns;            /* all workers together */
	uint32_t max_conns_per_worker;
	uint32_t max_conns_per_user;   /* 0: no share; root and dshmd's user are exempt */
	uint32_t reserved_conns;       /* the last ones of max_conns, for root and dshmd's user */
	uint32_t idle_timeout;         /* seconds; 0: never */
	uint32_t max_data;             /* --max-data */
	enum worker_io io;             /* --io, as the master resolved it */
	uint32_t busy_poll_us;         /* --busy-poll: spin this long before sleeping; 0: never */
	uint32_t peer_port;            /* the pager's --peer-listen port, 0: none (OP_PEER_PORT) */
	uint32_t lock_wait_ms;         /* how long a request waits for a lock (lock_set_wait_ms) */
};

/* Runs the worker until it is told to stop or its master dies; never returns. */
void worker_run(const struct worker_args *a) __attribute__((noreturn));

#endif /* DSHM_SRV_WORKER_H */
