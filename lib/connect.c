/*
 * connect.c — dshm_connect: the address (given, $DSHM_SERVER or the
 * default socket), the connection within the library's timeout, the
 * check of who serves, and the authentication; and what the last attempt
 * of this thread said (dshm_last_error).
 *
 * Invariants: nothing is sent to a server before it is known to run as
 * a trusted user; a failed attempt leaves its cause, with the address,
 * in dshm_last_error, and one that works leaves it empty.
 */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "dshm.h"
#include "listener_owner.h"
#include "naming.h"

static _Thread_local char last_error[400];

static int
connect_with_deadline(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
	int flags = fcntl(fd, F_GETFL), err = 0;
	socklen_t el = sizeof(err);

	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN)
			return -1;
		/* errno says why, as a blocking connect's would: the socket's error, or the deadline. */
		if (!client_wait_ready(fd, POLLOUT, deadline)) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			return -1;
		if (err != 0) {
			errno = err;
			return -1;
		}
	}
	fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	return 0;
}

const char *
dshm_last_error(void)
{
	return last_error;
}

void
client_set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

/*
 * The uid $DSHM_SERVER_UID names (a number or a user name), or -1 when
 * it is unset; -2 when it names nobody.
 */
static long
trusted_uid(void)
{
	const char *v = getenv("DSHM_SERVER_UID");
	struct passwd pw, *res = NULL;
	char buf[1024], *end;
	long uid;

	if (v == NULL || v[0] == '\0')
		return -1;
	errno = 0;
	uid = strtol(v, &end, 10);
	if (errno == 0 && *end == '\0' && uid >= 0 && uid <= UINT32_MAX)
		return uid;
	if (getpwnam_r(v, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
		return (long)pw.pw_uid;
	return -2;
}

/* Whether a server of uid is trusted; when not, the last error says so about where. */
static int
trust(long uid, const char *where)
{
	long want = trusted_uid();
	uid_t me = geteuid();

	/* By default this process's own user or root; $DSHM_SERVER_UID names the one trusted. */
	if (want >= 0 ? uid == want : uid == (long)me || uid == 0)
		return DSHM_SUCCESS;
	if (want == -2)
		client_set_error("not talking to the server at %s: DSHM_SERVER_UID=%s names no user",
				 where, getenv("DSHM_SERVER_UID"));
	else if (want >= 0)
		client_set_error("not talking to the server at %s: it runs as uid %ld, and "
				 "DSHM_SERVER_UID trusts uid %ld only", where, uid, want);
	else
		client_set_error("not talking to the server at %s: it runs as uid %ld, not as uid %u "
				 "(this process) or root; set DSHM_SERVER_UID=%ld to trust it", where, uid,
				 (unsigned)me, uid);
	return DSHM_WRONG_SERVER;
}

int
client_check_server(int fd, const char *path)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char where[120];

	snprintf(where, sizeof(where), "unix:%s", path);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		client_set_error("cannot tell who serves %s: %s", where, strerror(errno));
		return DSHM_WRONG_SERVER;
	}
	return trust((long)cred.uid, where);
}

int
dshm_connect(const char *addr)
{
	char path[108], host[256], port[16];
	int64_t deadline = clock_now_ms() + client_timeout();
	const char *origin = ""; /* where the address came from, for the error's hint */
	int fd, rc;

	if (addr == NULL) {
		addr = getenv("DSHM_SERVER");
		origin = addr != NULL && addr[0] != '\0'
				 ? " the address is $DSHM_SERVER's"
				 : " this is the default socket, as $DSHM_SERVER is unset";
	}
	if (addr == NULL || addr[0] == '\0') {
		if (!naming_default_socket(path, sizeof(path))) {
			client_set_error("the default Unix socket's path is too long");
			return DSHM_BAD_ADDRESS;
		}
		addr = NULL;
	} else if (strncmp(addr, "unix:", 5) == 0) {
		if (strlen(addr + 5) >= sizeof(path) || addr[5] == '\0') {
			client_set_error("bad address %s: a Unix socket's path is 1 to %zu bytes", addr,
					 sizeof(path) - 1);
			return DSHM_BAD_ADDRESS;
		}
		memcpy(path, addr + 5, strlen(addr + 5) + 1);
		addr = NULL;
	}
	if (addr == NULL) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};

		memcpy(sun.sun_path, path, strlen(path) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			client_set_error("socket(AF_UNIX): %s", strerror(errno));
			return DSHM_DISCONNECTED_SERVER;
		}
		if (connect_with_deadline(fd, (struct sockaddr *)&sun, sizeof(sun), deadline) < 0) {
			client_set_error("cannot connect to unix:%s: %s (is dshmd running?%s)", path,
					 strerror(errno), origin);
			close(fd);
			return DSHM_DISCONNECTED_SERVER;
		}
		/* Nothing is sent to a server of a user not trusted: a squatter on the path gets nothing. */
		if ((rc = client_check_server(fd, path)) != DSHM_SUCCESS) {
			close(fd);
			return rc;
		}
		last_error[0] = '\0';
		return fd;
	}

	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res, *ai;

	if (!naming_split_hostport(addr, host, sizeof(host), port, sizeof(port))) {
		client_set_error("bad address %s: not HOST:PORT, [V6ADDR]:PORT or unix:PATH", addr);
		return DSHM_BAD_ADDRESS;
	}
	/* getaddrinfo takes "99999" and "0" as ports (the first wraps): a client names a real one. */
	long portnum = strtol(port, NULL, 10);

	if (portnum < 1 || portnum > 65535) {
		client_set_error("bad address %s: the port is not a number from 1 to 65535", addr);
		return DSHM_BAD_ADDRESS;
	}
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		/* Only a name that does not exist is a bad address; a lookup that failed may work later. */
		bool bad = rc == EAI_NONAME || rc == EAI_SERVICE || rc == EAI_FAMILY;

		client_set_error("%s %s: %s", bad ? "bad address" : "cannot look up", addr,
				 gai_strerror(rc));
		return bad ? DSHM_BAD_ADDRESS : DSHM_DISCONNECTED_SERVER;
	}
	fd = -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int one = 1;

		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect_with_deadline(fd, ai->ai_addr, ai->ai_addrlen, deadline) == 0) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		client_set_error("cannot connect to %s: %s (is dshmd listening there?%s)", addr,
				 strerror(errno), origin);
		return DSHM_DISCONNECTED_SERVER;
	}
	/* On loopback the listener's owner is known too: another user's port gets nothing. */
	long owner;

	if (listener_owner(fd, &owner) == 1 && (rc = trust(owner, addr)) != DSHM_SUCCESS) {
		close(fd);
		return rc;
	}
	/* A server that wants remote clients to prove who they are hears it now. */
	if ((rc = client_authenticate(fd)) != DSHM_SUCCESS) {
		client_set_error(rc == DSHM_USER_LIMIT
					 ? "%s: this credential's user holds its share of connections: %s"
					 : "%s refused this process's credential, or the exchange failed: %s",
				 addr, dshm_strerror(rc));
		close(fd);
		return rc == DSHM_AUTH_FAILED || rc == DSHM_USER_LIMIT ? rc : DSHM_DISCONNECTED_SERVER;
	}
	last_error[0] = '\0';
	return fd;
}
