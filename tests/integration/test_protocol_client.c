/*
 * test_protocol_client.c — libdshm's side of the wire protocol, against a
 * fake server on a socket pair: a well-formed reply is taken, the
 * server's status passes through, and a reply to another request, with
 * a bad magic or of the wrong length is a lost stream (the socket is
 * shut down), another version a version mismatch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

/* What the fake server answers to the one request it reads. */
struct fake_reply {
	int fd;
	uint16_t magic;
	uint8_t version;
	int op_delta, id_delta;
	int32_t status;
	uint32_t len;
};

static void *
fake_server(void *arg)
{
	struct fake_reply *f = arg;
	unsigned char head[PROTO_HEADER_LEN], *body;
	struct proto_header h;

	if (!raw_recv(f->fd, head, sizeof(head)))
		return NULL;
	proto_get_header(head, &h);
	body = calloc(1, h.len + f->len + 1);
	if (body != NULL && raw_recv(f->fd, body, h.len)) {
		h.magic = f->magic;
		h.version = f->version;
		h.opcode = (uint8_t)(h.opcode + f->op_delta);
		h.id += (uint32_t)f->id_delta;
		h.status = f->status;
		h.len = f->len;
		proto_put_header(head, &h);
		if (raw_send(f->fd, head, sizeof(head)))
			raw_send(f->fd, body, f->len);
	}
	free(body);
	return NULL;
}

/*
 * Runs call against a fake server that answers with reply; returns what
 * call returned, and whether the library shut the socket down after.
 */
static int
against_fake(struct fake_reply reply, int (*call)(int fd), bool *shut_down)
{
	pthread_t thread;
	int sv[2], rc;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	reply.fd = sv[1];
	assert_int_equal(pthread_create(&thread, NULL, fake_server, &reply), 0);
	rc = call(sv[0]);
	assert_int_equal(pthread_join(thread, NULL), 0);
	errno = 0;
	*shut_down = send(sv[0], "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE;
	close(sv[0]);
	close(sv[1]);
	return rc;
}

static struct fake_reply
good_reply(uint32_t len)
{
	return (struct fake_reply){-1, PROTO_MAGIC, PROTO_VERSION, 0, 0, DSHM_SUCCESS, len};
}

static int
call_handshake(int fd)
{
	return handshake(&fd, NULL);
}

static int
call_write(int fd)
{
	unsigned char data[8] = "1234567";

	return memory_write(fd, 1, 0, 0, 8, 8, data, NULL);
}

static int
call_read_100(int fd)
{
	t_read_response *r = memory_read(fd, 1, 0, 0, 100, NULL);
	int rc;

	assert_non_null(r);
	rc = r->exec_code;
	if (rc != DSHM_SUCCESS)
		assert_null(r->buffer);
	free(r->buffer);
	free(r);
	return rc;
}

static void
test_library_takes_a_well_formed_reply(void **state)
{
	bool shut;

	(void)state;
	assert_int_equal(against_fake(good_reply(PROTO_HELLO_LEN), call_handshake, &shut), 0);
	assert_false(shut);
	assert_int_equal(against_fake(good_reply(100), call_read_100, &shut), DSHM_SUCCESS);
	assert_false(shut);
}

static void
test_library_passes_the_servers_status_through(void **state)
{
	struct fake_reply r = good_reply(0);
	bool shut;

	(void)state;
	r.status = DSHM_PAGE_FAULT;
	assert_int_equal(against_fake(r, call_write, &shut), DSHM_PAGE_FAULT);
	assert_false(shut);
	r.status = DSHM_NO_SPACE;
	assert_int_equal(against_fake(r, call_read_100, &shut), DSHM_NO_SPACE);
	assert_false(shut);
}

static void
test_library_takes_a_reply_to_another_request_as_a_lost_stream(void **state)
{
	struct fake_reply r = good_reply(0);
	bool shut;

	(void)state;
	r.id_delta = 1;
	assert_int_equal(against_fake(r, call_write, &shut), DSHM_DISCONNECTED_SERVER);
	assert_true(shut);
	r.id_delta = 0;
	r.op_delta = 1;
	assert_int_equal(against_fake(r, call_write, &shut), DSHM_DISCONNECTED_SERVER);
	assert_true(shut);
}

static void
test_library_takes_a_reply_with_bad_magic_as_a_lost_stream(void **state)
{
	struct fake_reply r = good_reply(PROTO_HELLO_LEN);
	bool shut;

	(void)state;
	r.magic = 0x4D44;
	assert_int_equal(against_fake(r, call_handshake, &shut), DSHM_DISCONNECTED_SERVER);
	assert_true(shut);
}

static void
test_library_reports_another_version_as_version_mismatch(void **state)
{
	struct fake_reply r = good_reply(0);
	bool shut;

	(void)state;
	r.version = PROTO_VERSION + 1;
	assert_int_equal(against_fake(r, call_write, &shut), DSHM_VERSION_MISMATCH);
	assert_true(shut);
	r.version = PROTO_VERSION;
	r.status = DSHM_VERSION_MISMATCH;
	assert_int_equal(against_fake(r, call_handshake, &shut), DSHM_VERSION_MISMATCH);
	assert_true(shut);
}

static void
test_library_takes_a_read_reply_of_the_wrong_length_as_a_lost_stream(void **state)
{
	bool shut;

	(void)state;
	/* A short body is read whole, so the stream stays in step (the socket is left open). */
	assert_int_equal(against_fake(good_reply(50), call_read_100, &shut),
			 DSHM_DISCONNECTED_SERVER);
	assert_int_equal(against_fake(good_reply(200), call_read_100, &shut),
			 DSHM_DISCONNECTED_SERVER);
	assert_true(shut);
	assert_int_equal(against_fake(good_reply(PROTO_HELLO_LEN + 1), call_handshake, &shut),
			 DSHM_DISCONNECTED_SERVER);
	assert_true(shut);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_library_takes_a_well_formed_reply),
		cmocka_unit_test(test_library_passes_the_servers_status_through),
		cmocka_unit_test(test_library_takes_a_reply_to_another_request_as_a_lost_stream),
		cmocka_unit_test(test_library_takes_a_reply_with_bad_magic_as_a_lost_stream),
		cmocka_unit_test(test_library_reports_another_version_as_version_mismatch),
		cmocka_unit_test(test_library_takes_a_read_reply_of_the_wrong_length_as_a_lost_stream),
	};

	return cmocka_run_group_tests_name("protocol, the client's side", tests, NULL, NULL);
}
