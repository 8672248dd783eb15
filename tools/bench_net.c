/*
 * bench_net.c — dshm-bench's socket helpers: addresses are HOST:PORT
 * (IPv4 loopback in practice) or unix:PATH; TCP sockets get TCP_NODELAY,
 * whichever backend they serve, so the transports cost every backend the
 * same.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"

/* Fills a sockaddr from addr; returns its length, or 0 when addr is malformed. */
static socklen_t
parse_addr(const char *addr, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strncmp(addr, "unix:", 5) == 0) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;

		if (strlen(addr + 5) >= sizeof(un->sun_path))
			return 0;
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, addr + 5);
		return sizeof(*un);
	}
	char host[64];
	const char *colon = strrchr(addr, ':');
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return 0;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
		return 0;
	return sizeof(*in);
}

int
bench_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Connects (blocking) to addr; returns the socket, or -1 with a message on stderr. */
int
bench_connect(const char *addr, bool nonblock)
{
	struct sockaddr_storage ss;
	socklen_t len = parse_addr(addr, &ss);

	if (len == 0) {
		fprintf(stderr, "dshm-bench: bad address '%s' (HOST:PORT or unix:PATH)\n", addr);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		fprintf(stderr, "dshm-bench: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		fprintf(stderr, "dshm-bench: connect(%s): %s\n", addr, strerror(errno));
		close(fd);
		return -1;
	}
	if (ss.ss_family == AF_INET) {
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (nonblock && bench_set_nonblock(fd) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Listens on addr (port 0 picks a free port; a stale Unix socket file is
 * replaced) and writes the address actually bound to bound.
 */
int
bench_listen(const char *addr, char *bound, size_t boundlen)
{
	struct sockaddr_storage ss;
	socklen_t len = parse_addr(addr, &ss);

	if (len == 0) {
		fprintf(stderr, "dshm-bench: bad address '%s'\n", addr);
		return -1;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	if (ss.ss_family == AF_UNIX)
		unlink(((struct sockaddr_un *)&ss)->sun_path);
	else
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0) {
		fprintf(stderr, "dshm-bench: bind/listen(%s): %s\n", addr, strerror(errno));
		close(fd);
		return -1;
	}
	if (ss.ss_family == AF_UNIX) {
		snprintf(bound, boundlen, "%s", addr);
	} else {
		struct sockaddr_in in;
		socklen_t il = sizeof(in);
		char host[INET_ADDRSTRLEN];

		getsockname(fd, (struct sockaddr *)&in, &il);
		inet_ntop(AF_INET, &in.sin_addr, host, sizeof(host));
		snprintf(bound, boundlen, "%s:%u", host, (unsigned)ntohs(in.sin_port));
	}
	return fd;
}

/* Raises the soft limit on open files towards want (at most the hard limit). */
void
bench_raise_nofile(unsigned want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* Pins the calling thread to cpu (no-op when cpu < 0). */
void
bench_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		fprintf(stderr, "dshm-bench: sched_setaffinity(CPU %d): %s\n", cpu, strerror(errno));
}
