/*
 * listen.c — opening dshmd's listening sockets (see listen.h).
 */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "naming.h"

#define BACKLOG 1024

int
listen_tcp(const char *hostport, char *bound, size_t boundlen, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *res;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[16], h[INET6_ADDRSTRLEN];
	int fd, one = 1, rc;

	if (!naming_split_hostport(hostport, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen, "'%s' is not HOST:PORT", hostport);
		return -1;
	}
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "getaddrinfo(%s): %s", hostport, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket(%s): %s", hostport, strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	/* SO_REUSEADDR lets a restart bind past TIME_WAIT; it never lets two listeners share. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, BACKLOG) < 0) {
		int e = errno;

		snprintf(err, errlen, "bind/listen(%s): %s%s", hostport, strerror(e),
			 e == EADDRINUSE ? " (another server holds this port; choose another "
					   "with --listen, or --listen none)" : "");
		close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, h, sizeof(h));
		snprintf(bound, boundlen, "[%s]:%u", h, ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, h, sizeof(h));
		snprintf(bound, boundlen, "%s:%u", h, ntohs(s4->sin_port));
	}
	return fd;
}

int
listen_unix(const char *path, gid_t gid, char *err, size_t errlen)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	switch (sockprobe_unix(path)) {
	case UNIX_LIVE:
		snprintf(err, errlen, "a server already answers on %s", path);
		return -1;
	case UNIX_NOT_SOCKET:
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -1;
	case UNIX_STALE:
		if (unlink(path) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "unlink(%s) (a stale socket): %s", path, strerror(errno));
			return -1;
		}
		break;
	case UNIX_FREE:
		break;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: longer than a Unix socket path may be", path);
		return -1;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket(AF_UNIX): %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(err, errlen, "bind(%s): %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	/* Owner and group may connect: --unix-group chooses which group that is. */
	if (chmod(path, 0660) < 0 || (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0) ||
	    listen(fd, BACKLOG) < 0) {
		snprintf(err, errlen, "chmod/chown/listen(%s): %s", path, strerror(errno));
		unlink(path); /* ours: we just bound it */
		close(fd);
		return -1;
	}
	return fd;
}
