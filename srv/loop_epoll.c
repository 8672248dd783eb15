/*
 * loop_epoll.c — the worker's readiness loop (--io epoll): every socket
 * is non-blocking and level-triggered in one epoll set; a ready
 * connection is read, served and flushed with recv and send (or sendmsg,
 * for reads sent from the arena) in one turn.
 *
 * The listening sockets are shared by all workers with EPOLLEXCLUSIVE,
 * so a new connection wakes one worker, and no connection is ever queued
 * to a worker that has died (as it could be with SO_REUSEPORT).
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "worker_loop.h"

struct epoll_loop {
	int epfd;
	uint32_t busy_poll_us;
};

static int
epfd_of(const struct worker *w)
{
	return ((const struct epoll_loop *)w->loop)->epfd;
}

/* Registers the events c needs now: input while it takes requests, output while replies wait. */
static void
update_events(struct worker *w, struct conn *c)
{
	uint32_t ev = 0;

	if (!c->closing && !c->eof && buf_len(&c->out) < CONN_OUT_HIGH)
		ev |= EPOLLIN;
	if (buf_len(&c->out) > 0)
		ev |= EPOLLOUT;
	if (ev != c->events) {
		struct epoll_event e = {.events = ev, .data.ptr = c};

		epoll_ctl(epfd_of(w), EPOLL_CTL_MOD, c->fd, &e);
		c->events = ev;
	}
}

/* Reads, serves and flushes c; closes it when it is finished or broken. */
static void
service(struct worker *w, struct conn *c, bool readable)
{
	struct conn_stats st = {0, 0, 0};
	bool more, ok = true;

	if (readable)
		ok = conn_read(c, &st);
	more = ok && worker_serve(w, c, &st);
	/* Always right after serving: the flush releases the lock of reads served in place. */
	if (ok)
		ok = conn_flush(c, &st);
	/*
	 * conn_serve holds requests back while replies are above the high
	 * mark; once the flush brought them below it, those requests (already
	 * read, so no EPOLLIN will announce them) need another turn.
	 */
	if (ok && !more && conn_can_serve(c) && conn_has_request(c))
		more = true;
	if (!ok || (worker_conn_finished(c) && !more)) {
		worker_after_turn(w, c, &st, false);
		worker_close_conn(w, c);
		return;
	}
	worker_after_turn(w, c, &st, more);
	update_events(w, c);
}

static bool
forget(struct worker *w, struct conn *c)
{
	epoll_ctl(epfd_of(w), EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	return false;
}

static void
watch_listeners(struct worker *w, bool on)
{
	for (int k = 0; k < 2; k++) {
		struct epoll_event e = {.events = EPOLLIN | EPOLLEXCLUSIVE,
					.data.ptr = &w->listeners[k]};

		if (w->listeners[k].fd < 0)
			continue;
		/* Others share the socket, so it leaves our set explicitly. */
		if (!on)
			epoll_ctl(epfd_of(w), EPOLL_CTL_DEL, w->listeners[k].fd, NULL);
		else if (epoll_ctl(epfd_of(w), EPOLL_CTL_ADD, w->listeners[k].fd, &e) < 0 &&
			 errno != EEXIST)
			log_error("epoll_ctl(listening socket): %s", strerror(errno));
	}
}

/*
 * Moves this worker to the back of the listening socket's queue of
 * exclusive waiters.  The kernel wakes the first idle waiter in that
 * queue, so without this one idle worker would take every connection;
 * with it, idle workers take turns.
 */
static void
rearm_listener(struct worker *w, struct source *l)
{
	struct epoll_event e = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = l};

	epoll_ctl(epfd_of(w), EPOLL_CTL_DEL, l->fd, NULL);
	epoll_ctl(epfd_of(w), EPOLL_CTL_ADD, l->fd, &e);
}

/* Accepts one connection: the others wake the next worker in turn. */
static void
accept_one(struct worker *w, struct source *l)
{
	int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct conn *c;

	if (fd < 0) {
		worker_accept_failed(w, errno);
		return;
	}
	if (!w->full && !w->accept_paused)
		rearm_listener(w, l);
	if ((c = worker_accepted(w, l, fd)) == NULL)
		return;
	c->events = EPOLLIN;
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
	if (epoll_ctl(epfd_of(w), EPOLL_CTL_ADD, fd, &e) < 0)
		worker_close_conn(w, c);
}

static const struct loop_ops epoll_ops = {watch_listeners, forget};

/*
 * Waits for events: with --busy-poll, first spins for up to that long
 * asking without sleeping, and only then sleeps.  The spin backs off
 * while it finds nothing, so an idle worker does not burn a CPU.
 */
static int
wait_events(struct worker *w, struct epoll_event *ev, int max, int timeout)
{
	static unsigned misses;
	struct epoll_loop *l = w->loop;

	if (l->busy_poll_us > 0 && timeout != 0 && misses < 64) {
		int64_t until = clock_now_us() + l->busy_poll_us;

		do {
			int n = epoll_wait(l->epfd, ev, max, 0);

			if (n != 0) {
				misses = 0;
				return n;
			}
		} while (clock_now_us() < until);
		misses++;
	}
	int n = epoll_wait(l->epfd, ev, max, timeout);

	/* Woken soon after a miss: a client is active again, spin next time. */
	if (n > 0)
		misses = misses > 0 ? misses - 1 : 0;
	return n;
}

void
loop_epoll_run(const struct worker_args *a)
{
	static struct worker w;
	static struct epoll_loop l;
	struct epoll_event ev[64];

	worker_setup(&w, a, &epoll_ops);
	w.loop = &l;
	l.busy_poll_us = a->busy_poll_us;
	if ((l.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		log_error("worker %d: epoll_create1: %s", a->index, strerror(errno));
		_exit(1);
	}
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = &w.sig};
	epoll_ctl(l.epfd, EPOLL_CTL_ADD, w.sig.fd, &e);
	watch_listeners(&w, true);
	worker_ready(&w);
	for (;;) {
		int n = wait_events(&w, ev, 64, worker_timeout_ms(&w));
		struct conn *turn;
		bool stop = false;

		for (int i = 0; i < n; i++) {
			struct source *s = ev[i].data.ptr;

			if (s->kind == SOURCE_LISTEN) {
				if (!w.stopping)
					accept_one(&w, s);
			} else if (s->kind == SOURCE_SIGNAL) {
				struct signalfd_siginfo si;

				while (read(w.sig.fd, &si, sizeof(si)) == sizeof(si))
					stop = true;
			} else {
				struct conn *c = (struct conn *)s;

				if ((ev[i].events & (EPOLLERR)) != 0 && !(ev[i].events & EPOLLIN))
					worker_close_conn(&w, c);
				else
					service(&w, c, (ev[i].events & (EPOLLIN | EPOLLHUP)) != 0);
			}
		}
		/* Connections that used up their budget get another turn. */
		turn = w.ready;
		w.ready = NULL;
		for (struct conn *c = turn, *next; c; c = next) {
			next = c->next_ready;
			c->ready = false;
			c->next_ready = NULL;
			service(&w, c, false);
		}
		/* Stopping closes connections, so it waits until no event refers to them. */
		if (stop)
			worker_begin_stop(&w);
		worker_tick(&w);
		if (w.stopping)
			worker_stop_step(&w);
	}
}
