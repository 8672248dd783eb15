/*
 * pager.c — the pager process (see pager.h): its event loop, its
 * connections and their framing, and the requests of this host's
 * processes (registrations of their mappings, copies of other dshmds'
 * segments).  The two roles are pager_home.c and pager_host.c.
 *
 * Invariants: one thread, one epoll set; every connection reads whole
 * messages (the dshm header, then at most PAGER_MAX_BODY bytes of body)
 * and answers each request once; descriptors a process sends come with
 * the first byte of their request, and are taken in order.
 */
#include "pager.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "auth.h"
#include "clock.h"
#include "conn.h"
#include "dshm.h"
#include "log.h"
#include "pager_int.h"
#include "peercred.h"

#define PAGER_MAX_BODY (64u << 10)
#define SOURCE_UFFD 10
#define SOURCE_LISTEN_UNIX 20
#define SOURCE_LISTEN_PEER 21
#define SOURCE_SIGNAL 22

struct source {
	int kind;
	int fd;
};

struct table *pager_table;
static int epfd = -1;
static struct pconn *conns;
static uint64_t hosts_used; /* PC_HOST indexes in use */

static void close_pconn(struct pconn *c);

static void
watch(int fd, void *ptr, uint32_t events, int op)
{
	struct epoll_event e = {.events = events, .data.ptr = ptr};

	epoll_ctl(epfd, op, fd, &e);
}

/* Sends what c has queued; watches for room when the socket is full. */
static void
flush(struct pconn *c)
{
	while (buf_len(&c->out) > 0 && !c->dead) {
		ssize_t n = send(c->fd, c->out.data + c->out.start, buf_len(&c->out),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			watch(c->fd, c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
			return;
		}
		c->dead = true; /* closed at the end of this turn */
		return;
	}
	watch(c->fd, c, EPOLLIN, EPOLL_CTL_MOD);
}

/* Queues bytes as they are (the tail of a message sendmsg cut short). */
static void
pc_send2_raw(struct pconn *c, const void *a, size_t alen, const void *b, size_t blen)
{
	unsigned char *at = buf_reserve(&c->out, alen + blen);

	if (at == NULL) {
		c->dead = true;
		return;
	}
	memcpy(at, a, alen);
	if (blen)
		memcpy(at + alen, b, blen);
	c->out.end += alen + blen;
	flush(c);
}

void
pc_send2(struct pconn *c, uint8_t opcode, uint32_t id, int32_t status, const void *a,
	 size_t alen, const void *b, size_t blen)
{
	unsigned char *at;
	struct proto_header h = {PROTO_MAGIC, PROTO_VERSION, opcode, id, status,
				 (uint32_t)(alen + blen)};

	if (c == NULL || c->dead)
		return;
	if ((at = buf_reserve(&c->out, PROTO_HEADER_LEN + alen + blen)) == NULL) {
		c->dead = true;
		return;
	}
	proto_put_header(at, &h);
	if (alen)
		memcpy(at + PROTO_HEADER_LEN, a, alen);
	if (blen)
		memcpy(at + PROTO_HEADER_LEN + alen, b, blen);
	c->out.end += PROTO_HEADER_LEN + alen + blen;
	flush(c);
}

void
pc_send(struct pconn *c, uint8_t opcode, uint32_t id, int32_t status, const void *body, size_t len)
{
	pc_send2(c, opcode, id, status, body, len, NULL, 0);
}

uint32_t
pc_request(struct pconn *c, uint8_t opcode, const void *a, size_t alen, const void *b, size_t blen)
{
	uint32_t id = ++c->next_id;

	pc_send2(c, opcode, id, 0, a, alen, b, blen);
	return id;
}

void
pc_send_fd(struct pconn *c, uint8_t opcode, uint32_t id, const void *body, size_t len, int fd)
{
	unsigned char head[PROTO_HEADER_LEN];
	struct proto_header h = {PROTO_MAGIC, PROTO_VERSION, opcode, id, DSHM_SUCCESS, (uint32_t)len};
	struct iovec iov[2] = {{head, sizeof(head)}, {(void *)body, len}};
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2, .msg_control = u.space,
			     .msg_controllen = sizeof(u.space)};
	struct cmsghdr *cm;
	ssize_t n;

	/* Whatever waits is sent first: the descriptor must go with this reply's first byte. */
	flush(c);
	if (c->dead || buf_len(&c->out) > 0) {
		close(fd);
		c->dead = true;
		return;
	}
	proto_put_header(head, &h);
	memset(&u, 0, sizeof(u));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
	if (n < 0) {
		c->dead = true;
		return;
	}
	/* The rest (a client waits for it) goes as plain bytes. */
	if ((size_t)n < sizeof(head)) {
		pc_send2_raw(c, head + n, sizeof(head) - (size_t)n, body, len);
	} else if ((size_t)n < sizeof(head) + len) {
		pc_send2_raw(c, (const unsigned char *)body + (n - (ssize_t)sizeof(head)),
			     sizeof(head) + len - (size_t)n, NULL, 0);
	}
}

void
pc_watch_uffd(struct reg *r)
{
	r->kind = SOURCE_UFFD;
	if (r->uffd >= 0) {
		fcntl(r->uffd, F_SETFL, fcntl(r->uffd, F_GETFL) | O_NONBLOCK);
		watch(r->uffd, r, EPOLLIN, EPOLL_CTL_ADD);
	}
}

void
pc_forget_uffd(struct reg *r)
{
	if (r->uffd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, r->uffd, NULL);
		close(r->uffd);
	}
	r->uffd = -1;
}

static struct pconn *
add_pconn(int fd, int kind)
{
	struct pconn *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		close(fd);
		return NULL;
	}
	c->kind = kind;
	c->fd = fd;
	c->host = -1;
	c->peer.uid = c->peer.gid = 65534;
	c->next = conns;
	conns = c;
	watch(fd, c, EPOLLIN, EPOLL_CTL_ADD);
	return c;
}

struct pconn *
pc_connect_home(const char *addr)
{
	struct pconn *c;
	int fd;

	for (c = conns; c != NULL; c = c->next)
		if (c->kind == PC_HOME && !c->dead && strcmp(c->addr, addr) == 0)
			return c;
	/* Blocking, bounded by libdshm's timeout: it authenticates with --peer-auth's credential. */
	if ((fd = dshm_connect(addr)) < 0) {
		log_warn("pager: cannot reach the home dshmd at %s (%s)", addr, dshm_strerror(fd));
		return NULL;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if ((c = add_pconn(fd, PC_HOME)) == NULL)
		return NULL;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	log_info("pager: joined the home dshmd at %s", addr);
	return c;
}

struct pconn *
pager_host_conn(int host)
{
	for (struct pconn *c = conns; c != NULL; c = c->next)
		if (c->kind == PC_HOST && c->host == host && !c->dead)
			return c;
	return NULL;
}

/* A descriptor that came over c, in order; -1 when none waits. */
static int
take_fd(struct pconn *c)
{
	int fd;

	if (c->nfds == 0)
		return -1;
	fd = c->fds[0];
	memmove(c->fds, c->fds + 1, (c->nfds - 1) * sizeof(int));
	c->nfds--;
	return fd;
}

/* A request of a process of this host. */
static void
local_request(struct pconn *c, const struct proto_header *h, const unsigned char *b)
{
	struct reg *r;
	uint32_t kind;
	int32_t id;

	switch (h->opcode) {
	case OP_PAGER_REGISTER:
		if (h->len != PROTO_PAGER_REGISTER_LEN)
			break;
		kind = proto_get_u32(b);
		id = (int32_t)proto_get_u32(b + 4);
		if ((r = calloc(1, sizeof(*r))) == NULL) {
			pc_send(c, h->opcode, h->id, DSHM_NO_MEMORY, NULL, 0);
			return;
		}
		r->uffd = proto_get_u32(b + 28) ? take_fd(c) : -1;
		r->addr = proto_get_u64(b + 8);
		r->len = proto_get_u64(b + 16);
		r->rdonly = proto_get_u32(b + 24) != 0;
		r->link = c;
		pc_watch_uffd(r);
		if (kind == PAGER_KIND_HOME)
			home_register(c, id, r);
		else
			host_register(c, id, r);
		pc_send(c, h->opcode, h->id, DSHM_SUCCESS, NULL, 0);
		return;
	case OP_PAGER_UNREGISTER:
		if (h->len != PROTO_PAGER_UNREGISTER_LEN)
			break;
		if (proto_get_u32(b) == PAGER_KIND_HOME)
			home_unregister(c, (int32_t)proto_get_u32(b + 4), proto_get_u64(b + 8));
		else
			host_unregister(c, (int32_t)proto_get_u32(b + 4), proto_get_u64(b + 8));
		pc_send(c, h->opcode, h->id, DSHM_SUCCESS, NULL, 0);
		return;
	case OP_HOST_MAP:
		if (h->len < PROTO_HOST_MAP_LEN)
			break;
		host_map(c, b, h->len, h->id);
		return;
	default:
		break;
	}
	pc_send(c, h->opcode, h->id, DSHM_BAD_REQUEST, NULL, 0);
}

/* A message from another host's pager, to us as its home. */
static void
host_message(struct pconn *c, const struct proto_header *h, const unsigned char *b)
{
	struct proto_request r;
	struct buf out = {NULL, 0, 0, 0};

	if (h->status != 0) {
		home_recalled(c, h, b);
		return;
	}
	if (h->opcode == OP_AUTH || (c->peer.auth_required && h->opcode != OP_AUTH)) {
		if (proto_decode_request(h, b, &r) == DSHM_SUCCESS &&
		    dispatch_auth(&r, &c->peer, &out) && buf_len(&out) > 0) {
			unsigned char *at = buf_reserve(&c->out, buf_len(&out));

			if (at != NULL) {
				memcpy(at, out.data + out.start, buf_len(&out));
				c->out.end += buf_len(&out);
			}
			flush(c);
		} else if (c->peer.auth_required)
			pc_send(c, h->opcode, h->id, DSHM_AUTH_REQUIRED, NULL, 0);
		buf_free(&out);
		if (c->peer.hang_up)
			c->dead = true;
		return;
	}
	if (h->opcode == OP_HELLO) {
		unsigned char body[PROTO_HELLO_LEN];
		struct proto_hello hello = {pager_table->hdr->frame_size, PROTO_MAX_DATA,
					    pager_table->hdr->nframes, 0};

		proto_encode_hello(body, &hello);
		pc_send(c, h->opcode, h->id, DSHM_SUCCESS, body, sizeof(body));
		return;
	}
	home_request(c, h, b);
}

/* Reads what c has, descriptors included, and serves every whole message. */
static void
receive(struct pconn *c)
{
	for (;;) {
		union {
			struct cmsghdr h;
			char space[CMSG_SPACE(8 * sizeof(int))];
		} u;
		unsigned char *at = buf_reserve(&c->in, 16 << 10);
		struct iovec iov = {at, 16 << 10};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.space,
				     .msg_controllen = sizeof(u.space)};
		ssize_t n;

		if (at == NULL) {
			c->dead = true;
			return;
		}
		n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
				c->dead = true;
			break;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; cm->cmsg_type == SCM_RIGHTS && i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				/* Only this host's processes hand descriptors over. */
				if (c->kind == PC_LOCAL && c->nfds < 8)
					c->fds[c->nfds++] = fd;
				else
					close(fd);
			}
		}
		c->in.end += (size_t)n;
	}
	while (!c->dead && buf_len(&c->in) >= PROTO_HEADER_LEN) {
		struct proto_header h;
		const unsigned char *body = c->in.data + c->in.start + PROTO_HEADER_LEN;

		proto_get_header(c->in.data + c->in.start, &h);
		if (h.magic != PROTO_MAGIC || h.version != PROTO_VERSION || h.len > PAGER_MAX_BODY ||
		    (c->peer.auth_required && h.len > CONN_AUTH_MAX_BODY)) {
			c->dead = true; /* the stream cannot be trusted */
			break;
		}
		if (buf_len(&c->in) < PROTO_HEADER_LEN + h.len)
			break;
		if (c->kind == PC_LOCAL)
			local_request(c, &h, body);
		else if (c->kind == PC_HOST)
			host_message(c, &h, body);
		else if (h.status == 0)
			host_recall(c, &h, body);
		else
			host_reply(c, &h, body);
		buf_consume(&c->in, PROTO_HEADER_LEN + h.len);
	}
}

static void
close_pconn(struct pconn *c)
{
	struct pconn **p;

	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	while (c->nfds > 0)
		close(c->fds[--c->nfds]);
	if (c->kind == PC_LOCAL) {
		home_link_gone(c);
		host_link_gone(c);
	} else if (c->kind == PC_HOST) {
		home_host_gone(c);
		if (c->host >= 0)
			hosts_used &= ~(UINT64_C(1) << c->host);
	} else {
		log_warn("pager: lost the home dshmd at %s", c->addr);
		host_home_gone(c);
	}
	for (p = &conns; *p != NULL && *p != c; p = &(*p)->next)
		;
	if (*p == c)
		*p = c->next;
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

static void
accept_local(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct pconn *c;

	if (fd < 0 || (c = add_pconn(fd, PC_LOCAL)) == NULL)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		c->peer.uid = cred.uid;
		c->peer.gid = cred.gid;
		c->peer.pid = cred.pid;
		c->peer.cred = true;
	}
}

/* Another host's pager: identified by the kernel on loopback, else by --auth-file. */
static void
accept_peer(int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1, host;
	struct pconn *c;

	if (fd < 0)
		return;
	for (host = 0; host < MAX_HOSTS && (hosts_used & (UINT64_C(1) << host)); host++)
		;
	if (host == MAX_HOSTS) {
		log_warn("pager: %d hosts already: refusing one more", MAX_HOSTS);
		close(fd);
		return;
	}
	if ((c = add_pconn(fd, PC_HOST)) == NULL)
		return;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->host = host;
	hosts_used |= UINT64_C(1) << host;
	c->peer.cred = peercred_tcp(fd, &c->peer.uid, &c->peer.gid);
	if (!c->peer.cred) {
		c->peer.auth_required = auth_enabled();
		c->peer.cred = !c->peer.auth_required;
	}
}

static void
sweep_dead(void)
{
	for (struct pconn *c = conns, *next; c != NULL; c = next) {
		next = c->next;
		if (c->dead)
			close_pconn(c);
	}
}

void
pager_run(const struct pager_args *a)
{
	struct source lunix = {SOURCE_LISTEN_UNIX, a->unix_fd};
	struct source lpeer = {SOURCE_LISTEN_PEER, a->peer_fd};
	struct source sig = {SOURCE_SIGNAL, -1};
	struct epoll_event ev[64];
	int64_t next_check = 0;
	sigset_t set;

	pager_table = a->table;
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	setproctitle("pager");
	if (a->peer_auth != NULL && a->peer_auth[0] != '\0')
		setenv("DSHM_AUTH_FILE", a->peer_auth, 1);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sig.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 || sig.fd < 0) {
		log_error("pager: epoll_create1/signalfd: %s", strerror(errno));
		_exit(1);
	}
	watch(sig.fd, &sig, EPOLLIN, EPOLL_CTL_ADD);
	if (a->unix_fd >= 0)
		watch(a->unix_fd, &lunix, EPOLLIN, EPOLL_CTL_ADD);
	if (a->peer_fd >= 0)
		watch(a->peer_fd, &lpeer, EPOLLIN, EPOLL_CTL_ADD);
	for (;;) {
		int n = epoll_wait(epfd, ev, 64, 1000);

		for (int i = 0; i < n; i++) {
			int kind = *(int *)ev[i].data.ptr;

			if (kind == SOURCE_LISTEN_UNIX)
				accept_local(a->unix_fd);
			else if (kind == SOURCE_LISTEN_PEER)
				accept_peer(a->peer_fd);
			else if (kind == SOURCE_SIGNAL)
				_exit(0); /* the master stops us: processes' faults wait for the next pager */
			else if (kind == SOURCE_UFFD) {
				struct reg *r = ev[i].data.ptr;
				struct hseg *g = home_find_reg(r);
				struct hcopy *k = g == NULL ? host_find_reg(r) : NULL;
				uint64_t addr;
				bool write, wp;

				while (r->uffd >= 0 && uffd_next(r, &addr, &write, &wp)) {
					if (g != NULL)
						home_fault(g, r, addr, write, wp);
					else if (k != NULL)
						host_fault(k, r, addr, write, wp);
				}
			} else {
				struct pconn *c = ev[i].data.ptr;

				if (!c->dead && (ev[i].events & EPOLLOUT))
					flush(c);
				if (!c->dead && (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
					receive(c);
			}
		}
		sweep_dead();
		if (clock_now_ms() >= next_check) {
			next_check = clock_now_ms() + 1000;
			if (getppid() != a->master)
				_exit(0);
		}
	}
}
