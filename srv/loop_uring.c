/*
 * loop_uring.c — the worker's completion loop (--io uring): one io_uring
 * per worker carries every accept, receive and send, so a pass of the
 * loop costs one io_uring_enter for all its connections instead of an
 * epoll_wait plus a recv and a send for each.
 *
 * - Receives take buffers from a ring the worker provides (one group of
 *   RECV_BUFS buffers of RECV_BUF bytes), so an idle connection holds no
 *   receive buffer; the bytes are appended to the connection's input
 *   (conn_take) and the buffer goes straight back.  A connection has one
 *   multishot receive, armed while it wants input and cancelled once it
 *   holds its first request and a receive more (conn_wants_input), so a
 *   client cannot make the server buffer more than that.
 * - Replies are sent by one IORING_OP_SEND of the connection's output;
 *   while it is in flight the connection serves nothing, so the buffer
 *   under the send never moves.  Reads served in place are settled into
 *   the buffer right after serving (gather.h: nothing may point into the
 *   arena while the worker waits).  A reply carrying a descriptor
 *   (SHM_MAP) goes with sendmsg at once, and a POLLOUT wait if the socket
 *   is full.
 * - A closed connection's socket is shut down and closed at once; its
 *   memory is freed when its last operation has completed.
 */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "worker_loop.h"

#define RING_ENTRIES 1024
#define RECV_BUFS 256
#define RECV_BUF (16u << 10)
#define RECV_GROUP 1

/* What an operation is, in the low bits of its user_data (conns are 16-byte aligned). */
enum tag {
	TAG_RECV = 1,
	TAG_SEND = 2,
	TAG_POLLOUT = 3,
	TAG_ACCEPT = 4, /* the listener's index in the high bits */
	TAG_SIGNAL = 5,
	TAG_IGNORE = 6, /* a cancellation's own completion */
};
#define TAG_MASK 7u

struct uring_loop {
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	unsigned char *bufs;
	uint32_t busy_poll_us;
	bool accepting[2]; /* an accept is armed on listener k */
	bool watching;     /* the worker takes connections */
	struct conn *touched;
};

static struct uring_loop *
loop_of(struct worker *w)
{
	return w->loop;
}

/* An SQE, submitting what is queued first when the ring is full. */
static struct io_uring_sqe *
sqe_get(struct uring_loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (sqe == NULL) {
		io_uring_submit(&l->ring);
		sqe = io_uring_get_sqe(&l->ring);
	}
	return sqe;
}

static void
arm_accept(struct worker *w, int k)
{
	struct uring_loop *l = loop_of(w);
	struct io_uring_sqe *sqe;

	if (l->accepting[k] || w->listeners[k].fd < 0 || (sqe = sqe_get(l)) == NULL)
		return;
	/*
	 * A poll, and accept4 once it fires, not an accept operation: a
	 * worker killed with an accept armed would have the kernel take
	 * connections into its dying ring and drop them; a poll takes none.
	 */
	io_uring_prep_poll_add(sqe, w->listeners[k].fd, POLLIN);
	io_uring_sqe_set_data64(sqe, (uint64_t)k << 3 | TAG_ACCEPT);
	l->accepting[k] = true;
}

static void
watch_listeners(struct worker *w, bool on)
{
	struct uring_loop *l = loop_of(w);

	l->watching = on;
	for (int k = 0; k < 2; k++) {
		struct io_uring_sqe *sqe;

		if (on)
			arm_accept(w, k);
		else if (l->accepting[k] && (sqe = sqe_get(l)) != NULL) {
			/* Others share the socket: the accept armed here must go, not linger. */
			io_uring_prep_cancel64(sqe, (uint64_t)k << 3 | TAG_ACCEPT, 0);
			io_uring_sqe_set_data64(sqe, TAG_IGNORE);
		}
	}
	if (!on)
		io_uring_submit(&l->ring);
}

/*
 * One multishot receive per connection, armed while it wants input: it
 * stays armed across requests (no poll to set up again for each), and
 * is cancelled when the connection has buffered enough (conn_wants_input).
 */
static void
arm_recv(struct uring_loop *l, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->recv_armed || (sqe = sqe_get(l)) == NULL)
		return;
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	io_uring_sqe_set_flags(sqe, IOSQE_BUFFER_SELECT);
	sqe->buf_group = RECV_GROUP;
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | TAG_RECV);
	c->recv_armed = true;
	c->recv_stopping = false;
	c->inflight++;
}

static void
stop_recv(struct uring_loop *l, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (!c->recv_armed || c->recv_stopping || (sqe = sqe_get(l)) == NULL)
		return;
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)c | TAG_RECV, 0);
	io_uring_sqe_set_data64(sqe, TAG_IGNORE);
	c->recv_stopping = true;
}

static void
arm_send(struct uring_loop *l, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->send_armed || (sqe = sqe_get(l)) == NULL)
		return;
	io_uring_prep_send(sqe, c->fd, c->out.data + c->out.start, buf_len(&c->out), MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | TAG_SEND);
	c->send_armed = true;
	c->inflight++;
}

static void
arm_pollout(struct uring_loop *l, struct conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->poll_armed || (sqe = sqe_get(l)) == NULL)
		return;
	io_uring_prep_poll_add(sqe, c->fd, POLLOUT);
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | TAG_POLLOUT);
	c->poll_armed = true;
	c->inflight++;
}

/* Puts c on the list of connections to look at once this batch of completions is taken. */
static void
touch(struct uring_loop *l, struct conn *c)
{
	if (c->touched)
		return;
	c->touched = true;
	c->next_touched = l->touched;
	l->touched = c;
}

static bool
forget(struct worker *w, struct conn *c)
{
	(void)w;
	/* Wakes whatever is armed on it: the operations complete, holding the socket till then. */
	shutdown(c->fd, SHUT_RDWR);
	close(c->fd);
	c->fd = -1;
	return c->inflight > 0;
}

static const struct loop_ops uring_ops = {watch_listeners, forget};

/* One of c's operations completed: a closed c is freed with its last one. */
static bool
op_done(struct conn *c)
{
	c->inflight--;
	if (c->zombie && c->inflight == 0) {
		conn_free_buffers(c);
		free(c);
		return false;
	}
	return !c->zombie;
}

/* Gives a receive buffer back to the ring. */
static void
recycle(struct uring_loop *l, unsigned bid)
{
	io_uring_buf_ring_add(l->br, l->bufs + (size_t)bid * RECV_BUF, RECV_BUF, (unsigned short)bid,
			      io_uring_buf_ring_mask(RECV_BUFS), 0);
	io_uring_buf_ring_advance(l->br, 1);
}

static void
on_recv(struct worker *w, struct conn *c, const struct io_uring_cqe *cqe, struct conn_stats *st)
{
	struct uring_loop *l = loop_of(w);
	bool has_buf = (cqe->flags & IORING_CQE_F_BUFFER) != 0;
	unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	bool alive = !c->zombie;

	/* Without F_MORE the multishot receive is over (cancelled, out of buffers, or done). */
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		c->recv_armed = false;
		alive = op_done(c);
	}
	if (alive && cqe->res > 0 && has_buf) {
		c->progress_ms = clock_now_ms(); /* bytes moving: not stalled, even mid-request */
		if (!conn_take(c, l->bufs + (size_t)bid * RECV_BUF, (size_t)cqe->res, st))
			c->closing = true;
	} else if (alive && cqe->res == 0) {
		c->eof = true;
	} else if (alive && cqe->res < 0 && cqe->res != -ENOBUFS && cqe->res != -EINTR &&
		   cqe->res != -EAGAIN && cqe->res != -ECANCELED) {
		c->eof = c->closing = true; /* reset or failed: nothing more comes */
		buf_consume(&c->out, buf_len(&c->out));
	}
	if (has_buf)
		recycle(l, bid);
	if (alive)
		touch(l, c);
}

static void
on_send(struct worker *w, struct conn *c, const struct io_uring_cqe *cqe, struct conn_stats *st)
{
	c->send_armed = false;
	if (!op_done(c))
		return;
	if (cqe->res > 0) {
		c->progress_ms = clock_now_ms();
		buf_consume(&c->out, (size_t)cqe->res);
		st->bytes_out += (uint64_t)cqe->res;
		buf_trim(&c->out, 4 * CONN_READ_CHUNK);
	} else if (cqe->res != -EAGAIN && cqe->res != -EINTR) {
		/* The client is gone: what waits for it is dropped with it. */
		c->eof = c->closing = true;
		buf_consume(&c->out, buf_len(&c->out));
	}
	touch(loop_of(w), c);
}

/*
 * A turn of c, once its completions are taken: serve what it has (unless
 * a send is in flight), put its replies on the way, and ask for more
 * input while it wants some.  Closes it when it is done or broken.
 */
static void
turn(struct worker *w, struct conn *c)
{
	struct uring_loop *l = loop_of(w);
	struct conn_stats st = {0, 0, 0};
	bool more = false, ok = true, idle_out = !c->send_armed && !c->poll_armed;

	if (idle_out) {
		more = worker_serve(w, c, &st);
		/* Nothing may point into the arena while the worker waits. */
		ok = conn_settle(c);
	}
	if (ok && idle_out && buf_len(&c->out) > 0) {
		if (c->nfds > 0) {
			/* Descriptors go with sendmsg, each with its reply's first byte. */
			ok = conn_flush(c, &st);
			if (ok && buf_len(&c->out) > 0)
				arm_pollout(l, c);
		} else
			arm_send(l, c);
	}
	idle_out = !c->send_armed && !c->poll_armed;
	if (ok && idle_out && !more && conn_can_serve(c) && conn_has_request(c))
		more = true;
	if (!ok || (idle_out && !more && worker_conn_finished(c))) {
		worker_after_turn(w, c, &st, false);
		worker_close_conn(w, c);
		return;
	}
	worker_after_turn(w, c, &st, more && idle_out);
	if (conn_wants_input(c, RECV_BUF))
		arm_recv(l, c);
	else
		stop_recv(l, c);
}

/* Listener k is readable: one connection is taken (the others wake the other workers too). */
static void
on_accept(struct worker *w, int k, int res)
{
	struct uring_loop *l = loop_of(w);
	struct conn *c;
	int fd;

	l->accepting[k] = false;
	if (res > 0 && !w->stopping && w->listeners[k].fd >= 0) {
		fd = accept4(w->listeners[k].fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				worker_accept_failed(w, errno);
		} else if ((c = worker_accepted(w, &w->listeners[k], fd)) != NULL)
			arm_recv(l, c);
	}
	if (l->watching && !w->stopping && !w->full && !w->accept_paused)
		arm_accept(w, k);
}

static void
arm_signal(struct worker *w)
{
	struct io_uring_sqe *sqe = sqe_get(loop_of(w));

	if (sqe == NULL)
		return;
	io_uring_prep_poll_add(sqe, w->sig.fd, POLLIN);
	io_uring_sqe_set_data64(sqe, TAG_SIGNAL);
}

/* Takes every completion there is; returns whether SIGTERM or SIGINT came. */
static bool
take_completions(struct worker *w)
{
	struct uring_loop *l = loop_of(w);
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	bool stop = false;

	io_uring_for_each_cqe(&l->ring, head, cqe) {
		uint64_t data = io_uring_cqe_get_data64(cqe);
		struct conn *c = (struct conn *)(uintptr_t)(data & ~(uint64_t)TAG_MASK);
		struct conn_stats st = {0, 0, 0};

		seen++;
		switch (data & TAG_MASK) {
		case TAG_RECV:
			on_recv(w, c, cqe, &st);
			break;
		case TAG_SEND:
			on_send(w, c, cqe, &st);
			break;
		case TAG_POLLOUT:
			c->poll_armed = false;
			if (op_done(c)) {
				if (!conn_flush(c, &st))
					c->eof = c->closing = true;
				else if (buf_len(&c->out) > 0)
					arm_pollout(l, c);
				touch(l, c);
			}
			break;
		case TAG_ACCEPT:
			on_accept(w, (int)(data >> 3), cqe->res);
			break;
		case TAG_SIGNAL: {
			struct signalfd_siginfo si;

			while (read(w->sig.fd, &si, sizeof(si)) == sizeof(si))
				stop = true;
			if (!stop)
				arm_signal(w);
			break;
		}
		default:
			break;
		}
		/* Bytes are counted as they move; the turn counts the requests. */
		if ((data & TAG_MASK) <= TAG_POLLOUT && (st.bytes_in || st.bytes_out)) {
			if (st.bytes_in)
				atomic_fetch_add(&w->slot->bytes_in, st.bytes_in);
			if (st.bytes_out)
				atomic_fetch_add(&w->slot->bytes_out, st.bytes_out);
		}
	}
	io_uring_cq_advance(&l->ring, seen);
	return stop;
}

/* Submits what is queued and waits up to timeout_ms for a completion; busy-polls first if asked. */
static void
submit_and_wait(struct worker *w, int timeout_ms)
{
	static unsigned misses;
	struct uring_loop *l = loop_of(w);
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = {timeout_ms / 1000, (long long)(timeout_ms % 1000) * 1000000};

	if (timeout_ms == 0) {
		io_uring_submit_and_get_events(&l->ring);
		return;
	}
	if (l->busy_poll_us > 0 && misses < 64) {
		int64_t until = clock_now_us() + l->busy_poll_us;

		do {
			io_uring_submit_and_get_events(&l->ring);
			if (io_uring_cq_ready(&l->ring) > 0) {
				misses = 0;
				return;
			}
		} while (clock_now_us() < until);
		misses++;
	}
	io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL);
	if (io_uring_cq_ready(&l->ring) > 0 && misses > 0)
		misses--;
}

/*
 * Sets the ring up: single issuer with deferred task work where the
 * kernel has them (fewer interruptions), else a plain ring; and the
 * receive buffers.  Returns 0 or a negative errno.
 */
static int
ring_setup(struct uring_loop *l)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			 IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
		.cq_entries = 4 * RING_ENTRIES,
	};
	struct io_uring_buf_reg reg = {.ring_entries = RECV_BUFS, .bgid = RECV_GROUP};
	size_t ring_bytes = RECV_BUFS * sizeof(struct io_uring_buf);
	int rc;

	if ((rc = io_uring_queue_init_params(RING_ENTRIES, &l->ring, &p)) < 0) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = 4 * RING_ENTRIES;
		if ((rc = io_uring_queue_init_params(RING_ENTRIES, &l->ring, &p)) < 0)
			return rc;
	}
	l->br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	l->bufs = mmap(NULL, (size_t)RECV_BUFS * RECV_BUF, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (l->br == MAP_FAILED || l->bufs == MAP_FAILED)
		return -ENOMEM;
	io_uring_buf_ring_init(l->br);
	reg.ring_addr = (uint64_t)(uintptr_t)l->br;
	if ((rc = io_uring_register_buf_ring(&l->ring, &reg, 0)) < 0)
		return rc;
	for (unsigned i = 0; i < RECV_BUFS; i++)
		io_uring_buf_ring_add(l->br, l->bufs + (size_t)i * RECV_BUF, RECV_BUF,
				      (unsigned short)i, io_uring_buf_ring_mask(RECV_BUFS), (int)i);
	io_uring_buf_ring_advance(l->br, RECV_BUFS);
	/* Each io_uring_enter then finds the ring without looking its descriptor up. */
	io_uring_register_ring_fd(&l->ring);
	return 0;
}

bool
loop_uring_available(char *why, size_t len)
{
	struct uring_loop l;
	int rc;

	memset(&l, 0, sizeof(l));
	if ((rc = ring_setup(&l)) < 0) {
		snprintf(why, len, "%s", strerror(-rc));
		if (l.ring.ring_fd > 0)
			io_uring_queue_exit(&l.ring);
	} else
		io_uring_queue_exit(&l.ring);
	if (l.br != NULL && l.br != MAP_FAILED)
		munmap(l.br, RECV_BUFS * sizeof(struct io_uring_buf));
	if (l.bufs != NULL && l.bufs != MAP_FAILED)
		munmap(l.bufs, (size_t)RECV_BUFS * RECV_BUF);
	return rc >= 0;
}

void
loop_uring_run(const struct worker_args *a)
{
	static struct worker w;
	static struct uring_loop l;
	int rc;

	if ((rc = ring_setup(&l)) < 0) {
		/* The master found io_uring working; this worker cannot have it: serve anyway. */
		log_warn("worker %d: io_uring: %s; serving with epoll", a->index, strerror(-rc));
		loop_epoll_run(a);
	}
	worker_setup(&w, a, &uring_ops);
	w.loop = &l;
	l.busy_poll_us = a->busy_poll_us;
	arm_signal(&w);
	watch_listeners(&w, true);
	worker_ready(&w);
	for (;;) {
		bool stop;

		submit_and_wait(&w, worker_timeout_ms(&w));
		stop = take_completions(&w);
		/* Connections that used up their budget get another turn too. */
		for (struct conn *c = w.ready, *next; c; c = next) {
			next = c->next_ready;
			c->ready = false;
			c->next_ready = NULL;
			touch(&l, c);
		}
		w.ready = NULL;
		while (l.touched != NULL) {
			struct conn *c = l.touched;

			l.touched = c->next_touched;
			c->touched = false;
			c->next_touched = NULL;
			if (!c->zombie)
				turn(&w, c);
		}
		/* Stopping closes connections, so it waits until no completion refers to them. */
		if (stop)
			worker_begin_stop(&w);
		worker_tick(&w);
		if (w.stopping)
			worker_stop_step(&w);
	}
}
