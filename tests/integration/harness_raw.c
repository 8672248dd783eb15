/*
 * harness_raw.c — the integration tests' raw sockets (see harness.h):
 * requests and replies written and read byte by byte, as a client built
 * from docs/PROTOCOL.md alone would, with timeouts so that a server that
 * does not answer fails the test instead of hanging it.
 */
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "dshm.h"

int
raw_connect(const char *addr)
{
	struct timeval tv = {10, 0};
	int fd = dshm_connect(addr);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

bool
raw_send(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

bool
raw_recv(int fd, void *data, size_t len)
{
	unsigned char *p = data;

	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

size_t
raw_encode(unsigned char *out, uint8_t opcode, uint32_t id, uint32_t len, const int32_t *args,
	   int nargs)
{
	struct proto_header h = {
		.magic = PROTO_MAGIC,
		.version = PROTO_VERSION,
		.opcode = opcode,
		.id = id,
		.status = 0,
		.len = len,
	};

	proto_put_header(out, &h);
	for (int i = 0; i < nargs; i++)
		proto_put_u32(out + PROTO_HEADER_LEN + 4 * i, (uint32_t)args[i]);
	return PROTO_HEADER_LEN + 4 * (size_t)nargs;
}

bool
raw_request(int fd, uint8_t opcode, uint32_t id, const int32_t *args, int nargs,
	    const void *data, uint32_t data_len)
{
	unsigned char head[PROTO_HEADER_LEN + 4 * 8];
	size_t n;

	if (nargs > 8)
		return false;
	n = raw_encode(head, opcode, id, 4 * (uint32_t)nargs + data_len, args, nargs);
	return raw_send(fd, head, n) && (data_len == 0 || raw_send(fd, data, data_len));
}

bool
raw_reply(int fd, struct proto_header *h, void *body, size_t cap, size_t *body_len)
{
	unsigned char head[PROTO_HEADER_LEN];

	if (!raw_recv(fd, head, sizeof(head)))
		return false;
	proto_get_header(head, h);
	if (body_len != NULL)
		*body_len = h->len;
	if (h->len > cap)
		return false;
	return h->len == 0 || raw_recv(fd, body, h->len);
}

bool
raw_wait_closed(int fd, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - harness_now_ms();
		unsigned char c;
		ssize_t n;

		if (left <= 0)
			return false;
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = recv(fd, &c, 1, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
			return true;
		if (n > 0)
			return false; /* more bytes: not closed */
	}
}

bool
raw_hello_on(int fd, struct proto_hello *hello)
{
	unsigned char body[PROTO_HELLO_LEN];
	struct proto_header h;
	size_t len = 0;
	bool ok = raw_request(fd, OP_HELLO, 7, NULL, 0, NULL, 0) &&
		  raw_reply(fd, &h, body, sizeof(body), &len) && h.magic == PROTO_MAGIC &&
		  h.id == 7 && h.opcode == OP_HELLO && h.status == DSHM_SUCCESS &&
		  len == PROTO_HELLO_LEN;

	if (ok && hello != NULL)
		proto_decode_hello(body, hello);
	return ok;
}

bool
raw_hello(const char *addr, struct proto_hello *hello)
{
	int fd = raw_connect(addr);
	bool ok;

	if (fd < 0)
		return false;
	ok = raw_hello_on(fd, hello);
	close(fd);
	return ok;
}

