/*
 * listener_owner.c — who owns the TCP listener a loopback connection
 * reached: the uid the kernel lists for the listening socket in
 * /proc/net/tcp or tcp6 (of this process's network namespace, which is
 * the loopback's).  libdshm checks it as it checks SO_PEERCRED on a Unix
 * socket, so that a user who took a loopback port before dshmd did gets
 * nothing from a client that trusts dshmd's user only.
 *
 * A server on another host cannot be checked this way: only loopback
 * peers are looked up.
 */
#include "listener_owner.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define TCP_LISTEN 0x0a

/* The 4 or 16 bytes of an address as /proc/net/tcp* prints them (32-bit words in host order). */
static bool
parse_addr(const char *hex, unsigned char *out, size_t len)
{
	for (size_t w = 0; w < len / 4; w++) {
		unsigned int word;
		char part[9];

		memcpy(part, hex + 8 * w, 8);
		part[8] = '\0';
		if (sscanf(part, "%8x", &word) != 1)
			return false;
		memcpy(out + 4 * w, &word, 4);
	}
	return true;
}

static bool
all_zero(const unsigned char *a, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (a[i] != 0)
			return false;
	return true;
}

/*
 * Scans one table for a listener on port at addr, else at the wildcard
 * address (the kernel gives a connection to the more specific one);
 * its owner goes to *uid, and *found is set.
 */
static void
scan(const char *path, const unsigned char *addr, size_t alen, unsigned port, long *uid,
     int *found)
{
	long wildcard = -1;

	FILE *f = fopen(path, "re");
	char line[512];

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char local[40];
		unsigned lport, state;
		unsigned long owner;
		unsigned char a[16];

		if (sscanf(line, " %*u: %39[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %lu",
			   local, &lport, &state, &owner) != 4 ||
		    state != TCP_LISTEN || lport != port || strlen(local) != 2 * alen ||
		    !parse_addr(local, a, alen))
			continue;
		if (memcmp(a, addr, alen) == 0) {
			*uid = (long)owner;
			*found = 1;
			break;
		}
		if (all_zero(a, alen))
			wildcard = (long)owner;
	}
	fclose(f);
	if (!*found && wildcard >= 0) {
		*uid = wildcard;
		*found = 1;
	}
}

int
listener_owner(int fd, long *uid)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int found = 0;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		unsigned char a[4];

		if ((ntohl(in->sin_addr.s_addr) >> 24) != 127)
			return 0;
		memcpy(a, &in->sin_addr, 4);
		scan("/proc/net/tcp", a, 4, ntohs(in->sin_port), uid, &found);
		/* A listener on the IPv6 wildcard takes IPv4 connections too. */
		if (found == 0) {
			unsigned char any[16] = {0};

			scan("/proc/net/tcp6", any, 16, ntohs(in->sin_port), uid, &found);
		}
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

		if (!IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return 0;
		scan("/proc/net/tcp6", in6->sin6_addr.s6_addr, 16, ntohs(in6->sin6_port), uid, &found);
	} else
		return 0;
	return found > 0 ? 1 : -1;
}
