/*
 * peercred.c — who is at the other end of a loopback TCP connection,
 * asked of the kernel (sock_diag, as identd does) instead of believed:
 * the client's socket is on this host, in this network namespace, and
 * the kernel knows the uid that owns it.
 *
 * Invariant: only a loopback peer is looked up, and only an exact answer
 * (one socket, the connection's own four-tuple) is taken; anything else
 * is "unknown", never a guess.
 */
#include "peercred.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* TCP states, as include/net/tcp_states.h numbers them. */
enum { TCP_STATE_TIME_WAIT = 6, TCP_STATE_LISTEN = 10, TCP_STATE_NEW_SYN_RECV = 12 };

/* An IPv4 address, also when it reaches an IPv6 socket as ::ffff:a.b.c.d. */
static bool
as_v4(const struct sockaddr_storage *ss, struct sockaddr_in *out)
{
	if (ss->ss_family == AF_INET) {
		*out = *(const struct sockaddr_in *)ss;
		return true;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			*out = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = s6->sin6_port};
			memcpy(&out->sin_addr, s6->sin6_addr.s6_addr + 12, 4);
			return true;
		}
	}
	return false;
}

static bool
is_loopback(const struct sockaddr_storage *ss)
{
	struct sockaddr_in v4;

	if (as_v4(ss, &v4))
		return (ntohl(v4.sin_addr.s_addr) >> 24) == 127;
	return ss->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* Fills the request for the client's socket: its source is the peer, its destination us. */
static void
fill_id(struct inet_diag_req_v2 *req, const struct sockaddr_storage *peer,
	const struct sockaddr_storage *self)
{
	struct sockaddr_in p4, s4;

	req->sdiag_protocol = IPPROTO_TCP;
	req->idiag_states = ~0u;
	req->id.idiag_cookie[0] = req->id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (as_v4(peer, &p4) && as_v4(self, &s4)) {
		req->sdiag_family = AF_INET;
		req->id.idiag_sport = p4.sin_port;
		req->id.idiag_dport = s4.sin_port;
		memcpy(req->id.idiag_src, &p4.sin_addr, 4);
		memcpy(req->id.idiag_dst, &s4.sin_addr, 4);
		return;
	}
	const struct sockaddr_in6 *p6 = (const struct sockaddr_in6 *)peer;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)self;

	req->sdiag_family = AF_INET6;
	req->id.idiag_sport = p6->sin6_port;
	req->id.idiag_dport = s6->sin6_port;
	memcpy(req->id.idiag_src, &p6->sin6_addr, 16);
	memcpy(req->id.idiag_dst, &s6->sin6_addr, 16);
}

/* Sends the request and takes the one answer; false unless it is exactly one socket's. */
static bool
ask_kernel(const struct inet_diag_req_v2 *req, uint32_t *uid)
{
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nh = {.nlmsg_len = sizeof(msg), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		       .nlmsg_flags = NLM_F_REQUEST},
		.req = *req,
	};
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	union {
		struct nlmsghdr nh;
		char buf[1024];
	} reply;
	struct timeval tv = {1, 0};
	bool ok = false;
	ssize_t n;
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	if (fd < 0)
		return false;
	/* The kernel answers at once; the timeout only bounds a broken netlink. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) ==
		    (ssize_t)sizeof(msg) &&
	    (n = recv(fd, &reply, sizeof(reply), 0)) > 0) {
		struct nlmsghdr *nh = &reply.nh;

		if (NLMSG_OK(nh, (size_t)n) && nh->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
		    nh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
			const struct inet_diag_msg *m = NLMSG_DATA(nh);

			/*
			 * Only a live socket that a process still holds has an owner
			 * worth the name: a client that closed before we accepted
			 * leaves a TIME_WAIT socket (or an orphan) that reports uid
			 * 0 and inode 0.  And it must be the socket asked about.
			 */
			ok = m->idiag_inode != 0 && m->idiag_state != TCP_STATE_TIME_WAIT &&
			     m->idiag_state != TCP_STATE_LISTEN &&
			     m->idiag_state != TCP_STATE_NEW_SYN_RECV &&
			     m->id.idiag_sport == req->id.idiag_sport &&
			     m->id.idiag_dport == req->id.idiag_dport;
			if (ok)
				*uid = m->idiag_uid;
		}
	}
	close(fd);
	return ok;
}

bool
peercred_tcp(int fd, uint32_t *uid, uint32_t *gid)
{
	struct sockaddr_storage peer, self;
	socklen_t pl = sizeof(peer), sl = sizeof(self);
	struct inet_diag_req_v2 req;
	struct passwd pw, *found = NULL;
	char buf[1024];

	if (getpeername(fd, (struct sockaddr *)&peer, &pl) < 0 ||
	    getsockname(fd, (struct sockaddr *)&self, &sl) < 0 || !is_loopback(&peer))
		return false;
	memset(&req, 0, sizeof(req));
	fill_id(&req, &peer, &self);
	if (!ask_kernel(&req, uid))
		return false;
	/* The socket's owner has no group of its own here: its user's primary group stands in. */
	if (getpwuid_r(*uid, &pw, buf, sizeof(buf), &found) == 0 && found != NULL)
		*gid = pw.pw_gid;
	else
		*gid = 65534;
	return true;
}

bool
peercred_bound_to_loopback(int fd)
{
	struct sockaddr_storage self;
	socklen_t sl = sizeof(self);

	return getsockname(fd, (struct sockaddr *)&self, &sl) == 0 && is_loopback(&self);
}
