/*
 * client.c — exchanging one request and reply with dshmd (connect.c
 * makes the connection).
 *
 * Invariants: nothing here raises SIGPIPE (MSG_NOSIGNAL); no call waits
 * longer than the timeout; a socket whose exchange failed part-way is
 * shut down, so every later call on it fails at once with
 * DSHM_DISCONNECTED_SERVER instead of reading a stale reply.
 */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "dshm.h"

#define DEFAULT_TIMEOUT_MS 30000
#define STRIPES 64

static _Atomic int timeout_ms;     /* 0: not yet read from the environment */
static _Atomic uint32_t next_id = 1;
/* Calls on one socket are serialised by the stripe of its descriptor. */
static pthread_mutex_t stripes[STRIPES] = {[0 ... STRIPES - 1] = PTHREAD_MUTEX_INITIALIZER};

void
dshm_set_timeout(int milliseconds)
{
	atomic_store(&timeout_ms, milliseconds > 0 ? milliseconds : -1);
}

int
client_timeout(void)
{
	int t = atomic_load(&timeout_ms);

	if (t == 0) {
		const char *env = getenv("DSHM_TIMEOUT_MS");
		long v = env != NULL ? strtol(env, NULL, 10) : 0;

		t = v > 0 && v < INT32_MAX ? (int)v : -1;
		atomic_store(&timeout_ms, t);
	}
	return t > 0 ? t : DEFAULT_TIMEOUT_MS;
}

/* Waits until fd is ready for events or the deadline passes. */
bool
client_wait_ready(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int64_t left = deadline - clock_now_ms();
		int n;

		if (left <= 0)
			return false;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return (p.revents & (events | POLLHUP | POLLERR)) != 0;
		if (n < 0 && errno != EINTR)
			return false;
	}
}

bool
client_send(int fd, struct iovec *iov, int iovcnt, int64_t deadline)
{
	while (iovcnt > 0) {
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
		ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == EAGAIN || errno == EWOULDBLOCK) && client_wait_ready(fd, POLLOUT, deadline))
				continue;
			return false;
		}
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return true;
}

/* Keeps the descriptor a control message carries (the last one, should there be several). */
static void
take_fds(struct msghdr *msg, int *passed)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		size_t n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*passed >= 0)
				close(*passed);
			*passed = fd;
		}
	}
}

/*
 * Receives exactly len bytes; a descriptor that comes with them goes to
 * *passed (-1: none) when passed is not NULL.
 */
static bool
recv_with_fd(int fd, void *buf, size_t len, int64_t deadline, int *passed)
{
	unsigned char *p = buf;

	while (len > 0) {
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(4 * sizeof(int))];
		} u;
		struct iovec iov = {p, len};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n;

		if (passed != NULL) {
			msg.msg_control = u.space;
			msg.msg_controllen = sizeof(u.space);
		}
		n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n > 0) {
			if (passed != NULL)
				take_fds(&msg, passed);
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return false;
		if (errno == EINTR)
			continue;
		if ((errno == EAGAIN || errno == EWOULDBLOCK) && client_wait_ready(fd, POLLIN, deadline))
			continue;
		return false;
	}
	return true;
}

bool
client_recv(int fd, void *buf, size_t len, int64_t deadline)
{
	return recv_with_fd(fd, buf, len, deadline, NULL);
}

int64_t
client_deadline(void)
{
	return clock_now_ms() + client_timeout();
}

uint32_t
client_new_id(void)
{
	return atomic_fetch_add(&next_id, 1);
}

/* Sends r (its id assigned here) and its data. */
static bool
send_request(int fd, struct proto_request *r, const void *data, int64_t deadline)
{
	unsigned char head[PROTO_HEADER_LEN + 16];
	struct iovec iov[2];
	size_t n;

	r->id = client_new_id();
	n = proto_encode_request(head, r);
	iov[0] = (struct iovec){head, n};
	iov[1] = (struct iovec){(void *)data, r->data_len};
	return client_send(fd, iov, r->data_len > 0 ? 2 : 1, deadline);
}

/*
 * Receives the reply to r, with client_call's rules for its body; a
 * descriptor sent with its first byte goes to *passed when passed is not
 * NULL (else it is closed).
 */
static int
recv_reply(int fd, const struct proto_request *r, void *body, size_t body_cap, size_t *body_len,
	   int64_t deadline, int *passed)
{
	unsigned char rhead[PROTO_HEADER_LEN];
	struct proto_header h;

	if (!recv_with_fd(fd, rhead, sizeof(rhead), deadline, passed))
		return DSHM_DISCONNECTED_SERVER;
	proto_get_header(rhead, &h);
	if (h.magic != PROTO_MAGIC)
		return DSHM_DISCONNECTED_SERVER;
	if (h.version != PROTO_VERSION || h.status == DSHM_VERSION_MISMATCH)
		return DSHM_VERSION_MISMATCH;
	/*
	 * A successful reply carries exactly the body asked for (at most
	 * body_cap bytes when the caller takes a length back); errors carry none.
	 */
	if (h.id != r->id || h.opcode != r->opcode ||
	    (h.status != DSHM_SUCCESS ? h.len != 0
				      : body_len != NULL ? h.len > body_cap : h.len != body_cap))
		return DSHM_DISCONNECTED_SERVER;
	if (h.len > 0 && !client_recv(fd, body, h.len, deadline))
		return DSHM_DISCONNECTED_SERVER;
	if (body_len != NULL)
		*body_len = h.len;
	return h.status;
}

static int
exchange(int fd, struct proto_request *r, const void *data, void *body, size_t body_cap,
	 size_t *body_len, int *passed)
{
	int64_t deadline = client_deadline();

	if (!send_request(fd, r, data, deadline))
		return DSHM_DISCONNECTED_SERVER;
	return recv_reply(fd, r, body, body_cap, body_len, deadline, passed);
}

int
client_call_fd(int fd, struct proto_request *r, const void *data, void *body, size_t body_cap,
	       size_t *body_len, int *passed)
{
	int rc;

	if (passed != NULL)
		*passed = -1;
	if (fd < 0)
		return DSHM_DISCONNECTED_CLIENT;
	rc = exchange(fd, r, data, body, body_cap, body_len, passed);
	if (rc == DSHM_DISCONNECTED_SERVER || rc == DSHM_VERSION_MISMATCH)
		shutdown(fd, SHUT_RDWR); /* out of step for good */
	/* A descriptor belongs to a successful reply only. */
	if (passed != NULL && rc != DSHM_SUCCESS && *passed >= 0) {
		close(*passed);
		*passed = -1;
	}
	return rc;
}

int
client_recv_reply(int fd, const struct proto_request *r, void *body, size_t body_cap,
		  size_t *body_len, int *passed)
{
	int rc;

	if (passed != NULL)
		*passed = -1;
	rc = recv_reply(fd, r, body, body_cap, body_len, client_deadline(), passed);
	if (rc == DSHM_DISCONNECTED_SERVER || rc == DSHM_VERSION_MISMATCH)
		shutdown(fd, SHUT_RDWR);
	if (passed != NULL && rc != DSHM_SUCCESS && *passed >= 0) {
		close(*passed);
		*passed = -1;
	}
	return rc;
}

int
client_call_unlocked(int fd, struct proto_request *r, const void *data, void *body,
		     size_t body_cap, size_t *body_len)
{
	return client_call_fd(fd, r, data, body, body_cap, body_len, NULL);
}

void
client_lock_socket(int fd)
{
	pthread_mutex_lock(&stripes[fd % STRIPES]);
}

void
client_unlock_socket(int fd)
{
	pthread_mutex_unlock(&stripes[fd % STRIPES]);
}

int
client_call(int fd, struct proto_request *r, const void *data, void *body, size_t body_cap,
	    size_t *body_len)
{
	pthread_mutex_t *m;
	int rc;

	if (fd < 0)
		return DSHM_DISCONNECTED_CLIENT;
	m = &stripes[fd % STRIPES];
	pthread_mutex_lock(m);
	rc = exchange(fd, r, data, body, body_cap, body_len, NULL);
	if (rc == DSHM_DISCONNECTED_SERVER || rc == DSHM_VERSION_MISMATCH)
		shutdown(fd, SHUT_RDWR); /* out of step for good */
	pthread_mutex_unlock(m);
	return rc;
}
