/*
 * paging.c — the seed-000 paging API ("Memoria" client library) over
 * dshm's protocol.  Arguments are checked here too, so an obviously bad
 * call costs no round trip; the server checks everything again.
 */
#include <stdlib.h>

#include "client.h"
#include "dshm.h"

static int
simple_call(int fd, uint8_t opcode, int a0, int a1, t_log *logger, const char *what)
{
	struct proto_request r = {.opcode = opcode, .arg = {a0, a1, 0, 0}};
	int rc = client_call(fd, &r, NULL, NULL, 0, NULL);

	dshm_log_message(logger, rc == DSHM_SUCCESS ? DSHM_LOG_DEBUG : DSHM_LOG_WARNING,
			 "%s(pid %d, %d): %s", what, a0, a1, dshm_strerror(rc));
	return rc;
}

int
handshake(int *server_socket, t_log *logger)
{
	struct proto_request r = {.opcode = OP_HELLO};
	unsigned char body[PROTO_HELLO_LEN];
	struct proto_hello hello;
	int rc;

	if (server_socket == NULL)
		return DSHM_BAD_REQUEST;
	if (*server_socket < 0) {
		int fd = dshm_connect(NULL);

		if (fd < 0) {
			dshm_log_message(logger, DSHM_LOG_ERROR, "handshake: %s (%s)", dshm_last_error(),
					 dshm_strerror(fd));
			return fd;
		}
		*server_socket = fd;
	}
	rc = client_call(*server_socket, &r, NULL, body, sizeof(body), NULL);
	if (rc != DSHM_SUCCESS) {
		dshm_log_message(logger, DSHM_LOG_ERROR, "handshake: %s", dshm_strerror(rc));
		return rc;
	}
	proto_decode_hello(body, &hello);
	dshm_log_message(logger, DSHM_LOG_INFO, "handshake: frame size %u", hello.frame_size);
	return (int)hello.frame_size;
}

int
memory_init_process(int server_socket, int pid, int pages, t_log *logger)
{
	if (pid < 0 || pages < 0)
		return DSHM_BAD_REQUEST;
	return simple_call(server_socket, OP_PROC_INIT, pid, pages, logger, "memory_init_process");
}

int
memory_assign_pages(int server_socket, int pid, int pages, t_log *logger)
{
	if (pid < 0 || pages < 0)
		return DSHM_BAD_REQUEST;
	return simple_call(server_socket, OP_PROC_ASSIGN, pid, pages, logger, "memory_assign_pages");
}

int
memory_finalize_process(int server_socket, int pid, t_log *logger)
{
	if (pid < 0)
		return DSHM_BAD_REQUEST;
	return simple_call(server_socket, OP_PROC_FINALIZE, pid, 0, logger,
			   "memory_finalize_process");
}

int
memory_write(int server_socket, int pid, int page, int offset, int size, int buffer_size,
	     void *buffer, t_log *logger)
{
	struct proto_request r = {.opcode = OP_PROC_WRITE, .arg = {pid, page, offset, size}};
	int rc;

	if (pid < 0 || size < 0 || buffer_size < 0 || size > buffer_size ||
	    (buffer == NULL && size > 0))
		rc = DSHM_BAD_REQUEST;
	else if ((unsigned)size > PROTO_MAX_DATA)
		rc = DSHM_TOO_LARGE;
	else {
		r.data_len = (uint32_t)size;
		rc = client_call(server_socket, &r, buffer, NULL, 0, NULL);
	}
	dshm_log_message(logger, rc == DSHM_SUCCESS ? DSHM_LOG_DEBUG : DSHM_LOG_WARNING,
			 "memory_write(pid %d, page %d, offset %d, %d bytes): %s", pid, page, offset,
			 size, dshm_strerror(rc));
	return rc;
}

t_read_response *
memory_read(int server_socket, int pid, int page, int offset, int size, t_log *logger)
{
	t_read_response *resp = calloc(1, sizeof(*resp));
	struct proto_request r = {.opcode = OP_PROC_READ, .arg = {pid, page, offset, size}};
	int rc;

	if (resp == NULL)
		return NULL;
	if (pid < 0 || size < 0)
		rc = DSHM_BAD_REQUEST;
	else if ((unsigned)size > PROTO_MAX_DATA)
		rc = DSHM_TOO_LARGE;
	else if ((resp->buffer = malloc(size > 0 ? (size_t)size : 1)) == NULL) {
		free(resp);
		return NULL;
	} else {
		rc = client_call(server_socket, &r, NULL, resp->buffer, (size_t)size, NULL);
	}
	resp->exec_code = rc;
	if (rc == DSHM_SUCCESS) {
		resp->buffer_size = size;
	} else {
		free(resp->buffer);
		resp->buffer = NULL;
	}
	dshm_log_message(logger, rc == DSHM_SUCCESS ? DSHM_LOG_DEBUG : DSHM_LOG_WARNING,
			 "memory_read(pid %d, page %d, offset %d, %d bytes): %s", pid, page, offset,
			 size, dshm_strerror(rc));
	return resp;
}
