/*
 * bench_baseline.c — dshm-bench's baseline: what the transport alone
 * costs.  A server in a child process (its own threads, one epoll loop
 * each, the listening socket shared with EPOLLEXCLUSIVE as dshmd shares
 * its own) answers each request with reply_len bytes and does nothing
 * else.  A process of its own, as every real server is: a thread of the
 * client's would share its address space, and on one CPU each round trip
 * would skip the two address-space switches that any client of another
 * process pays.  The
 * client side sends exactly the bytes dshm's protocol would (a read: 32
 * bytes out, 16 + size back; a write: 32 + size out, 16 back).  At depth 1
 * that is a ping-pong, at depth 16 a stream.
 *
 * Request: u32 total length, u32 reply length (big-endian), then padding
 * (or the value) up to the total length.  Replies are zeros: the baseline
 * checks framing and lengths, not contents.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "proto.h"

#define HDR 8
#define REQ_FIXED 32 /* dshm's header and read/write arguments */
#define REP_FIXED 16 /* dshm's reply header */
#define SCRATCH (256u << 10)
#define MAX_SERVER_THREADS 16

struct sconn {
	int fd;
	unsigned char hdr[HDR];
	unsigned hdr_have;
	uint64_t skip;    /* request bytes still to swallow */
	uint64_t pending; /* reply bytes still to send */
	bool want_out;
};

static int listen_fd = -1;
static char listen_path[256];
static pthread_t server_tid[MAX_SERVER_THREADS];
static unsigned nserver;
static int server_cpu = -1;
static unsigned char zeros[SCRATCH];

/* Sends what is pending; false when the connection is gone. */
static bool
flush(int epfd, struct sconn *s)
{
	while (s->pending) {
		size_t n = s->pending < sizeof(zeros) ? (size_t)s->pending : sizeof(zeros);
		ssize_t w = write(s->fd, zeros, n);

		if (w < 0) {
			if (errno == EAGAIN)
				break;
			return false;
		}
		s->pending -= (uint64_t)w;
	}
	bool want = s->pending != 0;

	if (want != s->want_out) {
		struct epoll_event e = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = s};

		epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &e);
		s->want_out = want;
	}
	return true;
}

/* Swallows the requests in buf and counts the reply bytes they ask for. */
static bool
consume(struct sconn *s, const unsigned char *buf, size_t n)
{
	size_t off = 0;

	while (off < n) {
		if (s->skip) {
			size_t take = n - off < s->skip ? n - off : (size_t)s->skip;

			s->skip -= take;
			off += take;
			continue;
		}
		size_t take = n - off < HDR - s->hdr_have ? n - off : HDR - s->hdr_have;

		memcpy(s->hdr + s->hdr_have, buf + off, take);
		s->hdr_have += (unsigned)take;
		off += take;
		if (s->hdr_have == HDR) {
			uint32_t total = proto_get_u32(s->hdr);

			if (total < HDR)
				return false;
			s->skip = total - HDR;
			s->pending += proto_get_u32(s->hdr + 4);
			s->hdr_have = 0;
		}
	}
	return true;
}

static void *
server_main(void *arg)
{
	(void)arg;
	bench_pin(server_cpu);
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	unsigned char *buf = malloc(SCRATCH);
	struct epoll_event le = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = NULL};

	if (epfd < 0 || !buf || epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &le) < 0) {
		fprintf(stderr, "dshm-bench: baseline server: %s\n", strerror(errno));
		free(buf);
		return NULL;
	}
	for (;;) {
		struct epoll_event ev[256];
		int n = epoll_wait(epfd, ev, 256, -1);

		for (int i = 0; i < n; i++) {
			struct sconn *s = ev[i].data.ptr;

			if (!s) {
				int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (fd < 0)
					continue;
				s = calloc(1, sizeof(*s));
				s->fd = fd;
				struct epoll_event e = {.events = EPOLLIN, .data.ptr = s};

				epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
				continue;
			}
			bool alive = true;

			if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				ssize_t r = read(s->fd, buf, SCRATCH);

				if (r == 0 || (r < 0 && errno != EAGAIN))
					alive = false;
				else if (r > 0)
					alive = consume(s, buf, (size_t)r);
			}
			if (alive)
				alive = flush(epfd, s);
			if (!alive) {
				epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
				close(s->fd);
				free(s);
			}
		}
	}
}

/*
 * The child: serves until its end of the pipe says the parent is done
 * (closed, or gone), then exits without joining its threads.
 */
static void
serve_child(int stop_fd)
{
	char c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (unsigned i = 0; i < nserver; i++)
		pthread_create(&server_tid[i], NULL, server_main, NULL);
	while (read(stop_fd, &c, 1) != 0 && (errno == EINTR || errno == EAGAIN))
		;
	_exit(0);
}

static pid_t server_pid = -1;
static int stop_fd = -1; /* the write end of the child's pipe: closing it stops the child */

/* Starts the server on addr with threads threads (pinned to cpu when >= 0); the bound address goes to bound. */
int
bench_baseline_start(const char *addr, unsigned threads, int cpu, char *bound, size_t boundlen)
{
	int pipefd[2];

	server_cpu = cpu;
	listen_fd = bench_listen(addr, bound, boundlen);
	if (listen_fd < 0)
		return -1;
	if (strncmp(addr, "unix:", 5) == 0)
		snprintf(listen_path, sizeof(listen_path), "%s", addr + 5);
	nserver = threads < 1 ? 1 : threads > MAX_SERVER_THREADS ? MAX_SERVER_THREADS : threads;
	if (pipe2(pipefd, O_CLOEXEC) < 0 || (server_pid = fork()) < 0) {
		fprintf(stderr, "dshm-bench: baseline server: %s\n", strerror(errno));
		return -1;
	}
	if (server_pid == 0) {
		close(pipefd[1]);
		serve_child(pipefd[0]);
	}
	close(pipefd[0]);
	stop_fd = pipefd[1];
	/* The child listens; the parent only connects. */
	close(listen_fd);
	listen_fd = -1;
	return 0;
}

void
bench_baseline_stop(void)
{
	if (stop_fd >= 0)
		close(stop_fd);
	stop_fd = -1;
	if (server_pid > 0)
		waitpid(server_pid, NULL, 0);
	server_pid = -1;
	nserver = 0;
	if (listen_path[0])
		unlink(listen_path);
	listen_path[0] = '\0';
}

static size_t
encode(struct bench_conn *c, const struct bench_slot *s, unsigned char *out)
{
	size_t size = c->cfg->size;
	bool write = s->op == BOP_WRITE;
	uint32_t total = (uint32_t)(REQ_FIXED + (write ? size : 0));

	proto_put_u32(out, total);
	proto_put_u32(out + 4, (uint32_t)(REP_FIXED + (write ? 0 : size)));
	memset(out + HDR, 0, REQ_FIXED - HDR);
	if (write)
		bench_fill(c, s->key, s->version, out + REQ_FIXED);
	return total;
}

static ssize_t
parse(struct bench_conn *c, const struct bench_slot *s, const unsigned char *in, size_t len,
      const unsigned char **data, size_t *dlen, bool *ok)
{
	size_t want = REP_FIXED + (s->op == BOP_WRITE ? 0 : c->cfg->size);

	if (len < want)
		return 0;
	*ok = true;
	*data = in + REP_FIXED;
	*dlen = want - REP_FIXED;
	return (ssize_t)want;
}

const struct bench_backend bench_baseline = {
	.name = "baseline",
	.req_overhead = REQ_FIXED,
	.rep_overhead = REP_FIXED,
	.encode = encode,
	.parse = parse,
};

long
bench_baseline_pid(void)
{
	return server_pid;
}
