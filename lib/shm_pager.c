/*
 * shm_pager.c — a coherent attachment's link to the pager of this host's
 * dshmd: the process hands over a userfaultfd registered on its mapping,
 * so that the pager can fault pages in, write-protect and invalidate
 * them while other hosts share the segment (docs/SEGMENTS.md, "Across
 * hosts"), and, for another dshmd's segment, asks for this host's copy.
 *
 * Invariants: one link per process, to the pager next to the server it
 * was opened for (PATH.pager for a server at unix:PATH), with the lock
 * of shm_internal.h held; a forked child drops its parent's link and
 * registers its inherited mappings on its own before fork returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "dshm.h"
#include "naming.h"
#include "shm_internal.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

static int link_fd = -1;
static char link_path[112];

/* The pager's socket beside the Unix socket addr ("unix:PATH"; NULL: the default). */
static bool
pager_path(const char *addr, char *out, size_t len)
{
	char sock[108];

	if (addr == NULL || addr[0] == '\0') {
		if (!naming_default_socket(sock, sizeof(sock)))
			return false;
		addr = sock;
	} else if (strncmp(addr, "unix:", 5) == 0)
		addr += 5;
	else
		return false; /* a TCP address: its pager is not ours to reach */
	return snprintf(out, len, "%s.pager", addr) < (int)len;
}

int
shm_pager_link(const char *addr)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char path[112];
	int fd;

	if (!pager_path(addr, path, sizeof(path)) || strlen(path) >= sizeof(sun.sun_path)) {
		errno = EINVAL;
		return -1;
	}
	if (link_fd >= 0 && strcmp(path, link_path) == 0)
		return link_fd;
	if (link_fd >= 0)
		close(link_fd);
	link_fd = -1;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	/* The pager is dshmd's: the same user as the server it sits beside. */
	if (client_check_server(fd, path) != DSHM_SUCCESS) {
		close(fd);
		errno = EACCES;
		return -1;
	}
	link_fd = fd;
	snprintf(link_path, sizeof(link_path), "%s", path);
	return fd;
}

void
shm_pager_forget(void)
{
	if (link_fd >= 0)
		close(link_fd);
	link_fd = -1;
}

int
shm_uffd_register(void *addr, size_t len, bool rdonly, bool *kernel_faults)
{
	struct uffdio_api api = {.api = UFFD_API,
				 .features = UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_WP_HUGETLBFS_SHMEM};
	/* A read-only mapping cannot be write-protected (it cannot write): missing pages only. */
	struct uffdio_register reg = {.range = {(unsigned long)addr, len},
				      .mode = UFFDIO_REGISTER_MODE_MISSING |
					      (rdonly ? 0 : UFFDIO_REGISTER_MODE_WP)};
	int fd;

	/*
	 * Faults the kernel takes itself (read(2) into the segment) reach the
	 * pager only through a descriptor that may see them: without
	 * CAP_SYS_PTRACE, vm.unprivileged_userfaultfd = 0 allows user-mode
	 * faults only, and such a system call fails with EFAULT on a page
	 * this host does not hold (docs/SEGMENTS.md says what to grant).
	 */
	*kernel_faults = true;
	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && errno == EPERM) {
		*kernel_faults = false;
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	}
	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api) < 0 || ioctl(fd, UFFDIO_REGISTER, &reg) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* One request on the link, with a descriptor to hand over (or -1); a descriptor back to *got. */
static int
link_call(struct proto_request *r, const void *body, int give, void *reply, size_t cap,
	  size_t *reply_len, int *got)
{
	unsigned char head[PROTO_HEADER_LEN + 16];
	struct iovec iov[2];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = r->data_len ? 2 : 1};
	size_t n;

	if (link_fd < 0)
		return DSHM_DISCONNECTED_SERVER;
	r->id = client_new_id();
	n = proto_encode_request(head, r);
	iov[0] = (struct iovec){head, n};
	iov[1] = (struct iovec){(void *)body, r->data_len};
	if (give >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.space;
		msg.msg_controllen = sizeof(u.space);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &give, sizeof(int));
	}
	/* The descriptor goes with the first byte: the rest may follow in more sends. */
	for (;;) {
		ssize_t k = sendmsg(link_fd, &msg, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			shm_pager_forget();
			return DSHM_DISCONNECTED_SERVER;
		}
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
		while (k > 0 && msg.msg_iovlen > 0) {
			size_t take = (size_t)k < msg.msg_iov->iov_len ? (size_t)k : msg.msg_iov->iov_len;

			msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + take;
			msg.msg_iov->iov_len -= take;
			k -= (ssize_t)take;
			if (msg.msg_iov->iov_len == 0) {
				msg.msg_iov++;
				msg.msg_iovlen--;
			}
		}
		if (msg.msg_iovlen == 0)
			break;
	}
	/* The reply, and a descriptor with it, as client_call_fd reads them. */
	int rc = client_recv_reply(link_fd, r, reply, cap, reply_len, got);

	if (rc == DSHM_DISCONNECTED_SERVER || rc == DSHM_VERSION_MISMATCH)
		shm_pager_forget();
	return rc;
}

int
shm_pager_register(uint32_t kind, int32_t id, void *addr, size_t len, bool rdonly, int uffd)
{
	unsigned char body[PROTO_PAGER_REGISTER_LEN] = {0};
	struct proto_request r = {.opcode = OP_PAGER_REGISTER, .data_len = sizeof(body)};

	proto_put_u32(body, kind);
	proto_put_u32(body + 4, (uint32_t)id);
	proto_put_u64(body + 8, (uint64_t)(uintptr_t)addr);
	proto_put_u64(body + 16, len);
	proto_put_u32(body + 24, rdonly);
	proto_put_u32(body + 28, uffd >= 0); /* whether a descriptor comes with it */
	return link_call(&r, body, uffd, NULL, 0, NULL, NULL);
}

void
shm_pager_unregister(uint32_t kind, int32_t id, void *addr)
{
	unsigned char body[PROTO_PAGER_UNREGISTER_LEN] = {0};
	struct proto_request r = {.opcode = OP_PAGER_UNREGISTER, .data_len = sizeof(body)};

	proto_put_u32(body, kind);
	proto_put_u32(body + 4, (uint32_t)id);
	proto_put_u64(body + 8, (uint64_t)(uintptr_t)addr);
	link_call(&r, body, -1, NULL, 0, NULL, NULL);
}

int
shm_pager_host_map(const char *home, int32_t shmid, uint64_t segsz, bool rdonly, int32_t *copy,
		   int *memfd)
{
	size_t n = strlen(home);
	unsigned char *body = malloc(PROTO_HOST_MAP_LEN + n), reply[4];
	struct proto_request r = {.opcode = OP_HOST_MAP, .data_len = (uint32_t)(PROTO_HOST_MAP_LEN + n)};
	int rc;

	if (body == NULL)
		return DSHM_NO_MEMORY;
	proto_put_u32(body, (uint32_t)shmid);
	proto_put_u32(body + 4, rdonly);
	proto_put_u64(body + 8, segsz);
	proto_put_u32(body + 16, (uint32_t)n);
	memcpy(body + PROTO_HOST_MAP_LEN, home, n);
	rc = link_call(&r, body, -1, reply, sizeof(reply), NULL, memfd);
	free(body);
	if (rc == DSHM_SUCCESS)
		*copy = (int32_t)proto_get_u32(reply);
	return rc;
}
