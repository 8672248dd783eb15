/*
 * worker.c — a worker process: its start, and what its event loop
 * (loop_epoll.c or loop_uring.c, chosen by --io) does the same way
 * whichever it is: connection limits, identities, timeouts, the
 * accounting of requests and bytes, closing, and stopping.
 *
 * SIGTERM arrives through a signalfd: the worker stops accepting, serves
 * the requests it already holds, flushes replies (for at most
 * STOP_GRACE_MS), and exits 0.
 *
 * No wait may stop the loop: a lock is waited for only a bound
 * (lock_set_wait_ms; a request that times out is answered DSHM_BUSY),
 * and the loop stamps a heartbeat every turn and at least every
 * WORKER_BEAT_MS, which the master watches (--worker-stall).
 */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "clock.h"
#include "lock.h"
#include "log.h"
#include "options.h"
#include "owners.h"
#include "peercred.h"
#include "segfile.h"
#include "segs.h"
#include "usershare.h"
#include "worker_loop.h"

/* Requests are counted as soon as they are served: a client that has its reply finds its request counted. */
bool
worker_serve(struct worker *w, struct conn *c, struct conn_stats *st)
{
	uint64_t before = st->requests;
	bool more = conn_serve(c, w->t, st);

	if (st->requests > before)
		atomic_fetch_add(&w->slot->requests, st->requests - before);
	return more;
}

bool
worker_conn_finished(const struct conn *c)
{
	return (c->closing || c->eof) && buf_len(&c->out) == 0 && !conn_has_request(c);
}

void
worker_after_turn(struct worker *w, struct conn *c, const struct conn_stats *st, bool more)
{
	if (st->bytes_in)
		atomic_fetch_add(&w->slot->bytes_in, st->bytes_in);
	if (st->bytes_out)
		atomic_fetch_add(&w->slot->bytes_out, st->bytes_out);
	if (st->requests || st->bytes_in || st->bytes_out) {
		c->progress_ms = clock_now_ms();
		/* A turn that answered (DSHM_BUSY included) is a beat: busy waits do not add up to silence. */
		atomic_store(&w->slot->heartbeat_ms, c->progress_ms);
	}
	if (st->requests)
		atomic_store(&w->slot->last_activity, (int64_t)time(NULL));
	if (more && !c->ready) {
		c->ready = true;
		c->next_ready = w->ready;
		w->ready = c;
	}
}

static void set_full(struct worker *w, bool full);

/* A closed connection whose rows stay (a segment's lock was busy): the sweep retries. */
static void
remember_undetached(struct worker *w, uint64_t serial)
{
	if (w->n_undetached == w->cap_undetached) {
		unsigned cap = w->cap_undetached ? 2 * w->cap_undetached : 16;
		uint64_t *p = realloc(w->undetached, cap * sizeof(*p));

		if (p == NULL) {
			/* Its rows stay until this worker is replaced, whose start drops them. */
			log_warn("out of memory: the attachments of a closed connection stay until "
				 "this worker restarts");
			return;
		}
		w->undetached = p;
		w->cap_undetached = cap;
	}
	w->undetached[w->n_undetached++] = serial;
}

/* Detaches what closed connections still had, where the locks are free now. */
static void
retry_undetached(struct worker *w)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < w->n_undetached; i++) {
		struct seg_conn k = {w->t->self, w->undetached[i]};

		if (!segs_detach_conn(w->t, &k))
			w->undetached[kept++] = k.serial;
	}
	w->n_undetached = kept;
}

void
worker_close_conn(struct worker *w, struct conn *c)
{
	struct seg_conn k = {c->peer.worker, c->peer.serial};
	bool deferred = w->ops->forget(w, c);

	/* What the client left attached is detached, as the kernel does at exit. */
	if (!segs_detach_conn(w->t, &k))
		remember_undetached(w, k.serial);
	if (c->counted)
		usershare_remove(w->slot, c->counted_uid);
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
	if (deferred)
		c->zombie = true;
	else {
		conn_free_buffers(c);
		free(c);
	}
	atomic_fetch_sub(&w->slot->conns_now, 1);
	if (w->full && atomic_load(&w->slot->conns_now) < w->limits->max_conns_per_worker)
		set_full(w, false);
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

/*
 * A worker at --max-connections-per-worker stops taking connections, so
 * the listening sockets' wake-ups go to workers with room; it takes them
 * again when it closes a connection.
 */
static void
set_full(struct worker *w, bool full)
{
	if (full == w->full || w->stopping)
		return;
	w->full = full;
	if (w->accept_paused)
		return; /* the pause's end watches them again, and checks full */
	w->ops->watch_listeners(w, !full);
}

/* The connections of all workers together. */
static uint64_t
conns_total(const struct worker *w)
{
	uint64_t total = 0;

	for (uint32_t i = 0; i < w->t->hdr->nworkers; i++)
		total += atomic_load(&w->t->workers[i].conns_now);
	return total;
}

/* Whether one more connection would pass --max-connections or its per-worker share. */
static bool
over_limit(const struct worker *w)
{
	if (atomic_load(&w->slot->conns_now) >= w->limits->max_conns_per_worker)
		return true;
	return conns_total(w) >= w->limits->max_conns;
}

/* Root and the user dshmd runs as: never held to a share, and theirs is the reserve. */
static bool
exempt(uint32_t uid)
{
	return uid == 0 || uid == (uint32_t)geteuid();
}

/*
 * Whether a connection of uid, already counted in conns_now, may stay:
 * another user's may not take the reserved connections, nor more than
 * its share.  (Checked after the kernel said who the peer is.)
 */
static bool
user_may_connect(const struct worker *w, uint32_t uid, bool counted_in_total)
{
	uint32_t share = w->limits->max_conns_per_user;
	uint64_t total = conns_total(w) - (counted_in_total ? 1 : 0);

	if (exempt(uid))
		return true;
	if (total + w->limits->reserved_conns >= w->limits->max_conns)
		return false;
	return share == 0 || usershare_count(w->t, uid) < share;
}

/* peer.admit_as: a remote peer that proved another user's credential moves to that user's count. */
static bool
admit_as(void *ctx, struct peer *p, uint32_t uid)
{
	struct conn *c = (struct conn *)((char *)p - offsetof(struct conn, peer));
	struct worker *w = ctx;

	if (c->counted && c->counted_uid == uid)
		return true;
	if (!exempt(uid) && w->limits->max_conns_per_user != 0 &&
	    usershare_count(w->t, uid) >= w->limits->max_conns_per_user) {
		log_warn("a remote client authenticated as uid %u, which holds its share of %u "
			 "connections; refused", uid, w->limits->max_conns_per_user);
		return false;
	}
	bool counted = usershare_add(w->slot, uid);

	/* No row left for a new user: only root and dshmd's own user go on, uncounted. */
	if (!counted && !exempt(uid))
		return false;
	if (c->counted)
		usershare_remove(w->slot, c->counted_uid);
	c->counted_uid = uid;
	c->counted = counted;
	return true;
}

void
worker_accept_failed(struct worker *w, int err)
{
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
		return;
	/* Leave the backlog alone for a while instead of spinning on it. */
	log_warn("accept4: %s; pausing accepts for 100 ms", strerror(err));
	atomic_fetch_add(&w->slot->conns_refused, 1);
	w->accept_paused = true;
	w->accept_resume_ms = clock_now_ms() + 100;
	w->ops->watch_listeners(w, false);
}

struct conn *
worker_accepted(struct worker *w, struct source *l, int fd)
{
	struct conn *c;

	if (over_limit(w)) {
		/* Accepted and closed at once: the client learns now, not at a timeout. */
		close(fd);
		atomic_fetch_add(&w->slot->conns_refused, 1);
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return NULL;
	}
	c->progress_ms = c->accepted_ms = clock_now_ms();
	c->kind = SOURCE_CONN;
	c->fd = fd;
	c->peer.uid = UINT32_MAX;
	c->peer.gid = UINT32_MAX;
	c->peer.worker = w->t->self;
	c->peer.serial = ++w->conn_serial;
	set_identity(c, l == &w->listeners[1]);
	/* The limits that depend on who the peer is, now that the kernel has said. */
	if (!user_may_connect(w, c->peer.uid, false)) {
		log_debug("connection of uid %u refused: its share of connections, or the reserve",
			  c->peer.uid);
		close(fd);
		free(c);
		atomic_fetch_add(&w->slot->conns_refused, 1);
		return NULL;
	}
	/* Counted, unless every row holds a user's live connections; root gets in even then. */
	c->counted = usershare_add(w->slot, c->peer.uid);
	c->counted_uid = c->peer.uid;
	if (!c->counted && !exempt(c->peer.uid)) {
		log_warn("connection of uid %u refused: %d users hold connections on this worker",
			 c->peer.uid, WORKER_USER_ROWS);
		close(fd);
		free(c);
		atomic_fetch_add(&w->slot->conns_refused, 1);
		return NULL;
	}
	c->peer.admit_as = admit_as;
	c->peer.config = &w->config;
	c->pending = &w->pending;
	c->peer.admit_ctx = w;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	atomic_fetch_add(&w->slot->conns_now, 1);
	atomic_fetch_add(&w->slot->conns_total, 1);
	/* At its share: it leaves the listeners to the other workers until one closes. */
	if (atomic_load(&w->slot->conns_now) >= w->limits->max_conns_per_worker)
		set_full(w, true);
	return c;
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

	/* A freed segment's memory is not kept by the descriptor this worker used last. */
	segfile_sweep(w->t);
	retry_undetached(w);
	segs_release_orphans(w->t);
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
			worker_close_conn(w, c);
			continue;
		}
		if (limit <= 0 || now - c->progress_ms <= limit * 1000)
			continue;
		/* An idle client with segments attached keeps them: it is only quiet. */
		if (!pending && segs_conn_attachments(w->t, &k) > 0)
			continue;
		log_debug("closing a connection %s for %lld s", pending ? "stalled" : "idle",
			  (long long)(now - c->progress_ms) / 1000);
		worker_close_conn(w, c);
	}
}

void
worker_tick(struct worker *w)
{
	int64_t now = clock_now_ms();

	atomic_store(&w->slot->heartbeat_ms, now);
	if (w->accept_paused && now >= w->accept_resume_ms) {
		w->accept_paused = false;
		if (!w->stopping && !w->full)
			w->ops->watch_listeners(w, true);
	}
	/*
	 * Once a second, not per wakeup: PR_SET_PDEATHSIG already stops us
	 * when the master dies, so this is only a second line of defence,
	 * not worth a system call per request.
	 */
	if (!w->stopping && now >= w->next_sweep_ms) {
		w->next_sweep_ms = now + 1000;
		if (getppid() != w->master)
			worker_begin_stop(w);
		else
			sweep_timeouts(w);
	}
}

int
worker_timeout_ms(const struct worker *w)
{
	return w->ready ? 0 : w->stopping || w->accept_paused ? 50 : WORKER_BEAT_MS;
}

void
worker_begin_stop(struct worker *w)
{
	if (w->stopping)
		return;
	w->stopping = true;
	w->stop_deadline_ms = clock_now_ms() + STOP_GRACE_MS;
	atomic_store(&w->slot->state, WORKER_STOPPING);
	w->ops->watch_listeners(w, false);
	for (int k = 0; k < 2; k++)
		if (w->listeners[k].fd >= 0) {
			close(w->listeners[k].fd);
			w->listeners[k].fd = -1;
		}
	/* Requests already received are served; nothing more is read after them. */
	for (struct conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		c->closing = c->closing || (!conn_has_request(c) && buf_len(&c->in) == 0);
		if (c->closing && buf_len(&c->out) == 0)
			worker_close_conn(w, c);
	}
}

void
worker_stop_step(struct worker *w)
{
	/* Idle connections go at once; busy ones when done or at the deadline. */
	for (struct conn *c = w->conns, *next; c; c = next) {
		next = c->next;
		if (buf_len(&c->out) == 0 && !conn_has_request(c) && buf_len(&c->in) == 0)
			worker_close_conn(w, c);
	}
	if (w->conns == NULL || clock_now_ms() >= w->stop_deadline_ms) {
		atomic_store(&w->slot->state, WORKER_EMPTY);
		_exit(0);
	}
}

/* The heartbeat given while waiting on a lock or backing a large grow (lock_set_alive). */
static void
beat(void *slot)
{
	atomic_store(&((struct worker_slot *)slot)->heartbeat_ms, clock_now_ms());
}

void
worker_setup(struct worker *w, const struct worker_args *a, const struct loop_ops *ops)
{
	sigset_t set;

	memset(w, 0, sizeof(*w));
	w->t = a->table;
	w->limits = a;
	w->ops = ops;
	w->config = (struct serve_config){a->max_data, a->peer_port};
	w->t->self = a->index - 1;
	w->slot = &a->table->workers[a->index - 1];
	reply_count_into(w->slot);
	/* A write our dead predecessor left half-done is undone before we write. */
	owners_recover_worker(w->t, w->t->self);
	/* Its connections died with it: what they had attached is detached. */
	segs_recover_worker(w->t, w->t->self);
	/*
	 * Recovery waited as long as it took (a stopped holder is killed by
	 * the master); from here on a request waits only the bound, and a
	 * lock still held then is answered DSHM_BUSY.
	 */
	lock_set_wait_ms(a->lock_wait_ms);
	lock_set_alive(beat, w->slot);
	w->master = a->master;
	/* Exit with the master: it is the one that cleans up. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	setproctitle("worker %d", a->index);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	w->sig.kind = SOURCE_SIGNAL;
	w->sig.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (w->sig.fd < 0) {
		log_error("worker %d: signalfd: %s", a->index, strerror(errno));
		_exit(1);
	}
	for (int k = 0; k < 2; k++) {
		w->listeners[k].kind = SOURCE_LISTEN;
		w->listeners[k].fd = a->listen_fds[k];
	}
}

void
worker_ready(struct worker *w)
{
	atomic_store(&w->slot->pid, (int32_t)getpid());
	atomic_store(&w->slot->conns_now, 0);
	usershare_clear(w->slot);
	atomic_store(&w->slot->started, (int64_t)time(NULL));
	atomic_store(&w->slot->last_activity, (int64_t)time(NULL));
	/* The first beat before the master may watch it (it watches serving workers). */
	atomic_store(&w->slot->heartbeat_ms, clock_now_ms());
	atomic_store(&w->slot->state, WORKER_SERVING);
	if (getppid() != w->master) /* the master died before PDEATHSIG was set */
		worker_begin_stop(w);
}

void
worker_run(const struct worker_args *a)
{
	if (a->io == WORKER_IO_URING)
		loop_uring_run(a);
	loop_epoll_run(a);
}
