/*
 * worker.c — the worker's event loop.
 *
 * Every socket is non-blocking and level-triggered in one epoll set.  The
 * listening sockets are shared by all workers with EPOLLEXCLUSIVE, so a
 * new connection wakes one worker, and no connection is ever queued to a
 * worker that has died (as it could be with SO_REUSEPORT).  SIGTERM
 * arrives through a signalfd: the worker stops accepting, serves the
 * requests it already holds, flushes replies (for at most STOP_GRACE_MS),
 * and exits 0.
 */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "log.h"
#include "auth.h"
#include "options.h"
#include "owners.h"
#include "peercred.h"
#include "segfile.h"
#include "segs.h"

#define SOURCE_LISTEN 1
#define SOURCE_SIGNAL 2
#define SOURCE_CONN 3
#define STOP_GRACE_MS 3000

struct source {
	int kind;
	int fd;
};

struct worker {
	struct table *t;
	struct worker_slot *slot;
	int epfd;
	struct source listeners[2];
	struct source sig;
	struct conn *conns;
	struct conn *ready;
	bool stopping;
	int64_t stop_deadline_ms;
	pid_t master;
	uint64_t conn_serial; /* numbers this worker's connections, for their attachments */
	const struct worker_args *limits; /* max_conns, max_conns_per_worker, idle_timeout */
	int64_t next_sweep_ms;            /* when timeouts are next looked at */
	bool accept_paused; /* out of descriptors: accept again after a pause */
	bool full;          /* at its connection share: not accepting */
	int64_t accept_resume_ms;
};

/* The bytes a turn moved (its requests are counted as soon as they are served). */
static void
add_bytes(struct worker *w, const struct conn_stats *st)
{
	if (st->bytes_in)
		atomic_fetch_add(&w->slot->bytes_in, st->bytes_in);
	if (st->bytes_out)
		atomic_fetch_add(&w->slot->bytes_out, st->bytes_out);
}

static void set_full(struct worker *w, bool full);

static void
close_conn(struct worker *w, struct conn *c)
{
	struct seg_conn k = {c->peer.worker, c->peer.serial};

	epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	/* What the client left attached is detached, as the kernel does at exit. */
	segs_detach_conn(w->t, &k);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->ready) {
		for (struct conn **p = &w->ready; *p; p = &(*p)->next_ready)
			if (*p == c) {
				*p = c->next_ready;
				break;
			}
	}
	conn_free_buffers(c);
	free(c);
	atomic_fetch_sub(&w->slot->conns_now, 1);
	if (w->full && atomic_load(&w->slot->conns_now) < w->limits->max_conns_per_worker)
		set_full(w, false);
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

		epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &e);
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
	more = ok && conn_serve(c, w->t, &st);
	/*
	 * Requests are counted before their replies leave: a client that has
	 * its reply finds its request in the scoreboard (dshm-ipcs, tests).
	 */
	if (st.requests)
		atomic_fetch_add(&w->slot->requests, st.requests);
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
	add_bytes(w, &st);
	if (st.requests || st.bytes_in || st.bytes_out)
		c->progress_ms = clock_now_ms();
	if (st.requests)
		atomic_store(&w->slot->last_activity, (int64_t)time(NULL));
	if (!ok || ((c->closing || c->eof) && !more && buf_len(&c->out) == 0 &&
		    !conn_has_request(c))) {
		close_conn(w, c);
		return;
	}
	if (more && !c->ready) {
		c->ready = true;
		c->next_ready = w->ready;
		w->ready = c;
	}
	update_events(w, c);
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

	epoll_ctl(w->epfd, EPOLL_CTL_DEL, l->fd, NULL);
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, l->fd, &e);
}

/*
 * Who the peer is.  On the Unix socket the kernel says, and that is final
 * (IDENT cannot change it): the ids even when the pid is 0 (a peer in
 * another pid namespace), and nobody when the kernel will not say.  On
 * loopback TCP the kernel says too (sock_diag: the uid, and that user's
 * primary group).  Any other TCP peer proves a credential of
 * --auth-file, or is nobody.
 */
static void
set_identity(struct conn *c, bool unix_socket)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int one = 1;

	if (!unix_socket) {
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* A loopback client is on this host: the kernel knows whose it is. */
		c->peer.cred = peercred_tcp(c->fd, &c->peer.uid, &c->peer.gid);
		if (c->peer.cred)
			return;
		/*
		 * Anyone else proves who it is first, when dshmd has credentials;
		 * without them (a loopback listener) it is nobody, never what it
		 * says it is.
		 */
		c->peer.auth_required = auth_enabled();
		c->peer.cred = !c->peer.auth_required;
		c->peer.uid = c->peer.gid = 65534;
		return;
	}
	c->peer.cred = true;
	c->peer.local = true;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		c->peer.uid = cred.uid;
		c->peer.gid = cred.gid;
		c->peer.pid = cred.pid;
		c->peer.pid_kernel = cred.pid > 0; /* 0: a peer in a pid namespace we cannot see */
	} else {
		c->peer.uid = c->peer.gid = 65534;
	}
}

static void watch_listeners(struct worker *w);

/*
 * A worker at --max-connections-per-worker takes its listeners out of its
 * epoll set, so the exclusive wake-ups go to workers with room; they come
 * back when it closes a connection.
 */
static void
set_full(struct worker *w, bool full)
{
	if (full == w->full || w->stopping)
		return;
	w->full = full;
	if (w->accept_paused)
		return; /* the pause's end watches them again, and checks full */
	if (full) {
		for (int k = 0; k < 2; k++)
			if (w->listeners[k].fd >= 0)
				epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listeners[k].fd, NULL);
	} else
		watch_listeners(w);
}

/* Whether one more connection would pass --max-connections or its per-worker share. */
static bool
over_limit(const struct worker *w)
{
	uint64_t total = 0;

	if (atomic_load(&w->slot->conns_now) >= w->limits->max_conns_per_worker)
		return true;
	for (uint32_t i = 0; i < w->t->hdr->nworkers; i++)
		total += atomic_load(&w->t->workers[i].conns_now);
	return total >= w->limits->max_conns;
}

/*
 * Closes connections that stopped moving: one with a request half
 * received or replies it does not read after CONN_STALL_SECONDS (or the
 * idle timeout, when shorter), so a slow sender or a client that never
 * reads cannot hold memory for ever; an idle one after --idle-timeout.
 */
static void
sweep_timeouts(struct worker *w)
{
	int64_t now = clock_now_ms();

	w->next_sweep_ms = now + 1000;
	/* A freed segment's memory is not kept by the descriptor this worker used last. */
	segfile_sweep(w->t);
	for (struct conn *c = w->conns, *next; c; c = next) {
		bool pending = buf_len(&c->in) > 0 || buf_len(&c->out) > 0;
		int64_t idle = (int64_t)w->limits->idle_timeout;
		int64_t limit = !pending ? idle : idle > 0 && idle < CONN_STALL_SECONDS ? idle
										 : CONN_STALL_SECONDS;
		struct seg_conn k = {c->peer.worker, c->peer.serial};

		next = c->next;
		if (c->peer.auth_required && now - c->accepted_ms > CONN_AUTH_SECONDS * 1000) {
			log_debug("closing a connection that did not authenticate in %d s",
				  CONN_AUTH_SECONDS);
			close_conn(w, c);
			continue;
		}
		if (limit <= 0 || now - c->progress_ms <= limit * 1000)
			continue;
		/* An idle client with segments attached keeps them: it is only quiet. */
		if (!pending && segs_conn_attachments(w->t, &k) > 0)
			continue;
		log_debug("closing a connection %s for %lld s", pending ? "stalled" : "idle",
			  (long long)(now - c->progress_ms) / 1000);
		close_conn(w, c);
	}
}

/* Accepts one connection: the others wake the next worker in turn. */
static void
accept_one(struct worker *w, struct source *l)
{
	int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct conn *c;

	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Leave the backlog alone for a while instead of spinning on it. */
			log_warn("accept4: %s; pausing accepts for 100 ms", strerror(errno));
			atomic_fetch_add(&w->slot->conns_refused, 1);
			w->accept_paused = true;
			w->accept_resume_ms = clock_now_ms() + 100;
			for (int k = 0; k < 2; k++)
				if (w->listeners[k].fd >= 0)
					epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listeners[k].fd, NULL);
		}
		return;
	}
	if (over_limit(w)) {
		/* Accepted and closed at once: the client learns now, not at a timeout. */
		close(fd);
		atomic_fetch_add(&w->slot->conns_refused, 1);
		rearm_listener(w, l);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	rearm_listener(w, l);
	c->progress_ms = c->accepted_ms = clock_now_ms();
	c->kind = SOURCE_CONN;
	c->fd = fd;
	c->peer.uid = UINT32_MAX;
	c->peer.gid = UINT32_MAX;
	c->peer.worker = w->t->self;
	c->peer.serial = ++w->conn_serial;
	set_identity(c, l == &w->listeners[1]);
	c->events = EPOLLIN;
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		close(fd);
		free(c);
		return;
	}
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	atomic_fetch_add(&w->slot->conns_now, 1);
	atomic_fetch_add(&w->slot->conns_total, 1);
	/* At its share: it leaves the listeners to the other workers until one closes. */
	if (atomic_load(&w->slot->conns_now) >= w->limits->max_conns_per_worker)
		set_full(w, true);
}

static void
watch_listeners(struct worker *w)
{
	for (int k = 0; k < 2; k++) {
		struct epoll_event e = {.events = EPOLLIN | EPOLLEXCLUSIVE,
					.data.ptr = &w->listeners[k]};

		if (w->listeners[k].fd >= 0 && epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->listeners[k].fd, &e) < 0)
			log_error("epoll_ctl(listening socket): %s", strerror(errno));
	}
}

static void
begin_stop(struct worker *w)
{
	if (w->stopping)
		return;
	w->stopping = true;
	w->stop_deadline_ms = clock_now_ms() + STOP_GRACE_MS;
	atomic_store(&w->slot->state, WORKER_STOPPING);
	for (int k = 0; k < 2; k++)
		if (w->listeners[k].fd >= 0) {
			/* Others share the socket, so it leaves our epoll set explicitly. */
			epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listeners[k].fd, NULL);
			close(w->listeners[k].fd);
			w->listeners[k].fd = -1;
		}
	/* Requests already received are served; nothing more is read after them. */
	for (struct conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		c->closing = c->closing || (!conn_has_request(c) && buf_len(&c->in) == 0);
		if (c->closing && buf_len(&c->out) == 0)
			close_conn(w, c);
	}
}

static void
setup(struct worker *w, const struct worker_args *a)
{
	sigset_t set;

	memset(w, 0, sizeof(*w));
	w->t = a->table;
	w->limits = a;
	dispatch_max_data = a->max_data;
	w->t->self = a->index - 1;
	w->slot = &a->table->workers[a->index - 1];
	dispatch_count_into(w->slot);
	/* A write our dead predecessor left half-done is undone before we write. */
	owners_recover_worker(w->t, w->t->self);
	/* Its connections died with it: what they had attached is detached. */
	segs_recover_worker(w->t, w->t->self);
	w->master = a->master;
	/* Exit with the master: it is the one that cleans up. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	setproctitle("worker %d", a->index);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	w->sig.kind = SOURCE_SIGNAL;
	w->sig.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0 || w->sig.fd < 0) {
		log_error("worker %d: epoll_create1/signalfd: %s", a->index, strerror(errno));
		_exit(1);
	}
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = &w->sig};
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->sig.fd, &e);
	for (int k = 0; k < 2; k++) {
		w->listeners[k].kind = SOURCE_LISTEN;
		w->listeners[k].fd = a->listen_fds[k];
	}
	watch_listeners(w);

	atomic_store(&w->slot->pid, (int32_t)getpid());
	atomic_store(&w->slot->conns_now, 0);
	atomic_store(&w->slot->started, (int64_t)time(NULL));
	atomic_store(&w->slot->last_activity, (int64_t)time(NULL));
	atomic_store(&w->slot->state, WORKER_SERVING);
	if (getppid() != a->master) /* the master died before PDEATHSIG was set */
		begin_stop(w);
}

void
worker_run(const struct worker_args *a)
{
	struct epoll_event ev[64];
	struct worker w;

	setup(&w, a);
	for (;;) {
		int timeout = w.ready ? 0 : w.stopping || w.accept_paused ? 50 : 1000;
		int n = epoll_wait(w.epfd, ev, 64, timeout);
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
					close_conn(&w, c);
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
			begin_stop(&w);
		if (w.accept_paused && clock_now_ms() >= w.accept_resume_ms) {
			w.accept_paused = false;
			if (!w.stopping && !w.full)
				watch_listeners(&w);
		}
		/*
		 * Once a second, not per wakeup: PR_SET_PDEATHSIG already stops
		 * us when the master dies, so this is only a second line of
		 * defence, not worth a system call per request.
		 */
		if (!w.stopping && clock_now_ms() >= w.next_sweep_ms) {
			if (getppid() != w.master)
				begin_stop(&w);
			else
				sweep_timeouts(&w);
		}
		if (w.stopping) {
			/* Idle connections go at once; busy ones when done or at the deadline. */
			for (struct conn *c = w.conns, *next; c; c = next) {
				next = c->next;
				if (buf_len(&c->out) == 0 && !conn_has_request(c) && buf_len(&c->in) == 0)
					close_conn(&w, c);
			}
			if (w.conns == NULL || clock_now_ms() >= w.stop_deadline_ms) {
				atomic_store(&w.slot->state, WORKER_EMPTY);
				_exit(0);
			}
		}
	}
}
