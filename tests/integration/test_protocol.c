/*
 * test_protocol.c — dshmd's side of the wire protocol (ipc/common/proto.h,
 * docs/PROTOCOL.md), spoken over raw sockets: headers it rejects and what
 * becomes of the stream after each, exact body lengths, argument checks
 * the server makes itself, pipelining, requests split into bytes, and
 * hostile streams (libdshm's side is test_protocol_client.c).  The
 * byte-by-byte test reads dshmd's scoreboard, so it assumes root (or
 * dshmd's user).
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

static int
open_raw(const struct fixture *f)
{
	int fd = raw_connect(f->addr);

	assert_true(fd >= 0);
	return fd;
}

/* Receives one reply and checks every header field; returns the body (malloc'd) when want_len > 0. */
static unsigned char *
expect_reply(int fd, uint8_t opcode, uint32_t id, int32_t status, uint32_t want_len)
{
	unsigned char *body = malloc(want_len + 1);
	struct proto_header h;
	size_t len = 0;

	assert_non_null(body);
	if (!raw_reply(fd, &h, body, want_len, &len))
		fail_msg("no reply (or a body of %zu bytes, not %u) to request %u", len, want_len, id);
	assert_int_equal(h.magic, PROTO_MAGIC);
	assert_int_equal(h.version, PROTO_VERSION);
	assert_int_equal(h.opcode, opcode);
	assert_int_equal(h.id, id);
	assert_int_equal(h.status, status);
	assert_int_equal(h.len, want_len);
	if (want_len == 0) {
		free(body);
		return NULL;
	}
	return body;
}

static void
expect_status(int fd, uint8_t opcode, uint32_t id, int32_t status)
{
	expect_reply(fd, opcode, id, status, 0);
}

/* A HELLO on fd is answered: the stream is still in step. */
static void
expect_hello_works(int fd, uint32_t id)
{
	assert_true(raw_request(fd, OP_HELLO, id, NULL, 0, NULL, 0));
	free(expect_reply(fd, OP_HELLO, id, DSHM_SUCCESS, PROTO_HELLO_LEN));
}

static void
send_header(int fd, uint16_t magic, uint8_t version, uint8_t opcode, uint32_t id, uint32_t len)
{
	unsigned char head[PROTO_HEADER_LEN];
	struct proto_header h = {magic, version, opcode, id, 0, len};

	proto_put_header(head, &h);
	assert_true(raw_send(fd, head, sizeof(head)));
}

/* ---- headers ------------------------------------------------------------ */

static void
test_hello_reply_carries_the_frame_size_and_the_counts(void **state)
{
	struct fixture *f = *state;
	struct proto_hello hello;
	unsigned char *body;
	int fd = open_raw(f);

	assert_true(raw_request(fd, OP_HELLO, 0xDEADBEEF, NULL, 0, NULL, 0));
	body = expect_reply(fd, OP_HELLO, 0xDEADBEEF, DSHM_SUCCESS, PROTO_HELLO_LEN);
	proto_decode_hello(body, &hello);
	assert_int_equal(hello.frame_size, 4096);
	assert_int_equal(hello.max_data, PROTO_MAX_DATA);
	assert_int_equal(hello.nframes, 16384);
	assert_int_equal(hello.frames_free, 16384);
	free(body);
	close(fd);
}

static void
test_bad_magic_gets_an_error_reply_then_the_connection_closes(void **state)
{
	struct fixture *f = *state;
	unsigned char stream[PROTO_HEADER_LEN + 100];
	struct proto_header h = {0x1234, PROTO_VERSION, OP_HELLO, 2, 0, 0};
	int fd = open_raw(f);

	expect_hello_works(fd, 1);
	/* A bad header and junk after it, in one send: the server may close at once. */
	proto_put_header(stream, &h);
	memset(stream + PROTO_HEADER_LEN, 0x5A, 100);
	assert_true(raw_send(fd, stream, sizeof(stream)));
	expect_status(fd, OP_HELLO, 2, DSHM_BAD_REQUEST);
	assert_true(raw_wait_closed(fd, HARNESS_STOP_MS));
	close(fd);
	fd = open_raw(f);
	expect_hello_works(fd, 3);
	close(fd);
}

static void
test_wrong_version_gets_version_mismatch_then_the_connection_closes(void **state)
{
	struct fixture *f = *state;
	int fd = open_raw(f);

	send_header(fd, PROTO_MAGIC, PROTO_VERSION + 1, OP_HELLO, 9, 0);
	/* The reply is a version-1 header, whatever version was asked for. */
	expect_status(fd, OP_HELLO, 9, DSHM_VERSION_MISMATCH);
	assert_true(raw_wait_closed(fd, HARNESS_STOP_MS));
	close(fd);
	fd = open_raw(f);
	send_header(fd, PROTO_MAGIC, 0, OP_PROC_INIT, 10, 8);
	expect_status(fd, OP_PROC_INIT, 10, DSHM_VERSION_MISMATCH);
	assert_true(raw_wait_closed(fd, HARNESS_STOP_MS));
	close(fd);
}

static void
test_body_over_the_cap_gets_too_large_before_it_is_sent_and_is_swallowed(void **state)
{
	struct fixture *f = *state;
	size_t chunk = 1u << 20, left = (size_t)PROTO_MAX_BODY + 1;
	unsigned char *junk = malloc(chunk);
	int fd = open_raw(f);

	assert_non_null(junk);
	memset(junk, 0xD5, chunk); /* looks like magic, if the server ever took it for a header */
	send_header(fd, PROTO_MAGIC, PROTO_VERSION, OP_PROC_WRITE, 77, PROTO_MAX_BODY + 1);
	/* Answered at once, from the header alone. */
	expect_status(fd, OP_PROC_WRITE, 77, DSHM_TOO_LARGE);
	while (left > 0) {
		size_t n = left < chunk ? left : chunk;

		assert_true(raw_send(fd, junk, n));
		left -= n;
	}
	expect_hello_works(fd, 78);
	free(junk);
	close(fd);
}

static void
test_body_over_the_cap_sent_with_the_next_request_is_swallowed(void **state)
{
	struct fixture *f = *state;
	size_t body = (size_t)PROTO_MAX_BODY + 1;
	size_t total = PROTO_HEADER_LEN + body + PROTO_HEADER_LEN;
	unsigned char *stream = calloc(1, total);
	struct proto_header h = {PROTO_MAGIC, PROTO_VERSION, 99, 5, 0, (uint32_t)body};
	int fd = open_raw(f);

	assert_non_null(stream);
	proto_put_header(stream, &h);
	raw_encode(stream + PROTO_HEADER_LEN + body, OP_HELLO, 6, 0, NULL, 0);
	assert_true(raw_send(fd, stream, total));
	expect_status(fd, 99, 5, DSHM_TOO_LARGE);
	free(expect_reply(fd, OP_HELLO, 6, DSHM_SUCCESS, PROTO_HELLO_LEN));
	free(stream);
	close(fd);
}

static void
test_unknown_opcode_gets_bad_request_and_the_connection_goes_on(void **state)
{
	struct fixture *f = *state;
	unsigned char body[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	int fd = open_raw(f);

	send_header(fd, PROTO_MAGIC, PROTO_VERSION, 99, 11, sizeof(body));
	assert_true(raw_send(fd, body, sizeof(body)));
	expect_status(fd, 99, 11, DSHM_BAD_REQUEST);
	expect_hello_works(fd, 12);
	send_header(fd, PROTO_MAGIC, PROTO_VERSION, 0, 13, 0);
	expect_status(fd, 0, 13, DSHM_BAD_REQUEST);
	send_header(fd, PROTO_MAGIC, PROTO_VERSION, OP_MAX_, 14, 4);
	assert_true(raw_send(fd, body, 4));
	expect_status(fd, OP_MAX_, 14, DSHM_BAD_REQUEST);
	expect_hello_works(fd, 15);
	close(fd);
}

/* ---- bodies and arguments ----------------------------------------------- */

/* Sends a header declaring len and exactly len bytes of the given words (and zeros). */
static void
send_with_len(int fd, uint8_t opcode, uint32_t id, uint32_t len, const int32_t *args, int nargs)
{
	unsigned char buf[PROTO_HEADER_LEN + 64] = {0};

	assert_true(len <= 64 && 4 * (uint32_t)nargs <= 64);
	raw_encode(buf, opcode, id, len, args, nargs);
	assert_true(raw_send(fd, buf, PROTO_HEADER_LEN + len));
}

static void
test_wrong_body_length_gets_bad_request_and_the_connection_goes_on(void **state)
{
	struct fixture *f = *state;
	int32_t args[8] = {1, 1, 0, 0, 0, 0, 0, 0};
	int fd = open_raw(f);

	send_with_len(fd, OP_HELLO, 1, 4, args, 1);
	expect_status(fd, OP_HELLO, 1, DSHM_BAD_REQUEST);
	send_with_len(fd, OP_PROC_INIT, 2, 4, args, 1);
	expect_status(fd, OP_PROC_INIT, 2, DSHM_BAD_REQUEST);
	send_with_len(fd, OP_PROC_INIT, 3, 12, args, 3);
	expect_status(fd, OP_PROC_INIT, 3, DSHM_BAD_REQUEST);
	send_with_len(fd, OP_PROC_FINALIZE, 4, 0, args, 0);
	expect_status(fd, OP_PROC_FINALIZE, 4, DSHM_BAD_REQUEST);
	send_with_len(fd, OP_PROC_ASSIGN, 5, 16, args, 4);
	expect_status(fd, OP_PROC_ASSIGN, 5, DSHM_BAD_REQUEST);
	send_with_len(fd, OP_PROC_READ, 6, 12, args, 3);
	expect_status(fd, OP_PROC_READ, 6, DSHM_BAD_REQUEST);
	send_with_len(fd, OP_PROC_READ, 7, 20, args, 5);
	expect_status(fd, OP_PROC_READ, 7, DSHM_BAD_REQUEST);
	/* None of those made process 1. */
	send_with_len(fd, OP_PROC_FINALIZE, 8, 4, args, 1);
	expect_status(fd, OP_PROC_FINALIZE, 8, DSHM_NO_SUCH_PROCESS);
	expect_hello_works(fd, 9);
	close(fd);
}

static void
test_write_whose_size_is_not_its_data_length_gets_bad_request(void **state)
{
	struct fixture *f = *state;
	unsigned char data[10] = "abcdefghi";
	int32_t init[2] = {1, 1};
	int32_t w[4] = {1, 0, 0, 10};
	unsigned char head[PROTO_HEADER_LEN + 16];
	unsigned char *zeros;
	int fd = open_raw(f);

	assert_true(raw_request(fd, OP_PROC_INIT, 1, init, 2, NULL, 0));
	expect_status(fd, OP_PROC_INIT, 1, DSHM_SUCCESS);
	/* size says 10, 5 bytes follow */
	raw_encode(head, OP_PROC_WRITE, 2, 16 + 5, w, 4);
	assert_true(raw_send(fd, head, sizeof(head)) && raw_send(fd, data, 5));
	expect_status(fd, OP_PROC_WRITE, 2, DSHM_BAD_REQUEST);
	/* size says 4, 10 bytes follow */
	w[3] = 4;
	raw_encode(head, OP_PROC_WRITE, 3, 16 + 10, w, 4);
	assert_true(raw_send(fd, head, sizeof(head)) && raw_send(fd, data, 10));
	expect_status(fd, OP_PROC_WRITE, 3, DSHM_BAD_REQUEST);
	/* size is negative */
	w[3] = -1;
	raw_encode(head, OP_PROC_WRITE, 4, 16, w, 4);
	assert_true(raw_send(fd, head, sizeof(head)));
	expect_status(fd, OP_PROC_WRITE, 4, DSHM_BAD_REQUEST);
	/* Nothing was written. */
	w[3] = 10;
	assert_true(raw_request(fd, OP_PROC_READ, 5, w, 4, NULL, 0));
	zeros = expect_reply(fd, OP_PROC_READ, 5, DSHM_SUCCESS, 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(zeros[i], 0);
	free(zeros);
	close(fd);
}

static void
test_server_rejects_bad_arguments_itself(void **state)
{
	struct fixture *f = *state;
	int fd = open_raw(f);
	struct {
		uint8_t opcode;
		int nargs;
		int32_t args[4];
		int32_t status;
	} cases[] = {
		{OP_PROC_INIT, 2, {-1, 1, 0, 0}, DSHM_BAD_REQUEST},
		{OP_PROC_INIT, 2, {1, -1, 0, 0}, DSHM_BAD_REQUEST},
		{OP_PROC_INIT, 2, {1, 1, 0, 0}, DSHM_SUCCESS},
		{OP_PROC_ASSIGN, 2, {1, -1, 0, 0}, DSHM_BAD_REQUEST},
		{OP_PROC_ASSIGN, 2, {-1, 1, 0, 0}, DSHM_BAD_REQUEST},
		{OP_PROC_FINALIZE, 1, {-1, 0, 0, 0}, DSHM_BAD_REQUEST},
		{OP_PROC_READ, 4, {1, 0, 0, -1}, DSHM_BAD_REQUEST},
		{OP_PROC_READ, 4, {-1, 0, 0, 1}, DSHM_BAD_REQUEST},
		{OP_PROC_READ, 4, {1, 0, 0, (int32_t)PROTO_MAX_DATA + 1}, DSHM_TOO_LARGE},
		{OP_PROC_READ, 4, {1, 0, 0, INT32_MAX}, DSHM_TOO_LARGE},
		{OP_PROC_READ, 4, {1, 0, 4096, 1}, DSHM_OUT_OF_FRAME},
		{OP_PROC_READ, 4, {1, INT32_MIN, 0, 1}, DSHM_PAGE_FAULT},
		{OP_PROC_READ, 4, {1, 0, INT32_MIN, 1}, DSHM_OUT_OF_FRAME},
		{OP_PROC_WRITE, 4, {-1, 0, 0, 0}, DSHM_BAD_REQUEST},
		{OP_PROC_ASSIGN, 2, {1, INT32_MAX, 0, 0}, DSHM_NO_SPACE},
		{OP_PROC_INIT, 2, {2, INT32_MAX, 0, 0}, DSHM_NO_SPACE},
		{OP_PROC_FINALIZE, 1, {2, 0, 0, 0}, DSHM_NO_SUCH_PROCESS},
		{OP_PROC_FINALIZE, 1, {1, 0, 0, 0}, DSHM_SUCCESS},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct proto_header h;
		size_t len;

		assert_true(raw_request(fd, cases[i].opcode, (uint32_t)i, cases[i].args,
					cases[i].nargs, NULL, 0));
		assert_true(raw_reply(fd, &h, NULL, 0, &len));
		if (h.id != i || h.opcode != cases[i].opcode || h.status != cases[i].status)
			fail_msg("case %zu (opcode %u): reply id %u opcode %u status %d, want status %d",
				 i, cases[i].opcode, h.id, h.opcode, h.status, cases[i].status);
	}
	expect_hello_works(fd, 1000);
	close(fd);
}

/* ---- streams ------------------------------------------------------------ */

static void
test_pipelined_requests_are_answered_in_order_with_their_ids(void **state)
{
	struct fixture *f = *state;
	enum { N = 300 };
	unsigned char *stream = malloc(N * (PROTO_HEADER_LEN + 16 + 8));
	unsigned char data[8];
	size_t len = 0;
	int fd = open_raw(f);

	assert_non_null(stream);
	/* Far more than one wakeup's budget of requests, of every kind. */
	for (uint32_t i = 0; i < N; i++) {
		int32_t pid = (int32_t)(i / 6);
		int32_t args[4] = {pid, 1, 0, 8};
		uint32_t id = 1000 + i * 3;

		switch (i % 6) {
		case 0:
			len += raw_encode(stream + len, OP_PROC_INIT, id, 8, args, 2);
			break;
		case 1:
			args[1] = 0;
			args[2] = (int32_t)i;
			len += raw_encode(stream + len, OP_PROC_WRITE, id, 16 + 8, args, 4);
			memset(stream + len, (int)(i & 0xff), 8);
			len += 8;
			break;
		case 2:
			args[1] = 0;
			args[2] = (int32_t)i - 1;
			len += raw_encode(stream + len, OP_PROC_READ, id, 16, args, 4);
			break;
		case 3:
			len += raw_encode(stream + len, 77, id, 0, NULL, 0);
			break;
		case 4:
			len += raw_encode(stream + len, OP_HELLO, id, 0, NULL, 0);
			break;
		default:
			len += raw_encode(stream + len, OP_PROC_FINALIZE, id, 4, args, 1);
			break;
		}
	}
	assert_true(raw_send(fd, stream, len));
	for (uint32_t i = 0; i < N; i++) {
		uint32_t id = 1000 + i * 3;
		unsigned char *body;

		switch (i % 6) {
		case 0:
			expect_status(fd, OP_PROC_INIT, id, DSHM_SUCCESS);
			break;
		case 1:
			expect_status(fd, OP_PROC_WRITE, id, DSHM_SUCCESS);
			break;
		case 2:
			body = expect_reply(fd, OP_PROC_READ, id, DSHM_SUCCESS, 8);
			memset(data, (int)((i - 1) & 0xff), 8);
			assert_memory_equal(body, data, 8);
			free(body);
			break;
		case 3:
			expect_status(fd, 77, id, DSHM_BAD_REQUEST);
			break;
		case 4:
			free(expect_reply(fd, OP_HELLO, id, DSHM_SUCCESS, PROTO_HELLO_LEN));
			break;
		default:
			expect_status(fd, OP_PROC_FINALIZE, id, DSHM_SUCCESS);
			break;
		}
	}
	free(stream);
	close(fd);
}

enum { BIG_READS = 200, BIG_READ = 64 * 1024 }; /* 12.5 MiB of replies */

/*
 * Makes process 1 of BIG_READ / 4096 pages holding data (BIG_READ bytes),
 * then sends BIG_READS reads of all of it (ids 10, 11, ...) at once,
 * reading no reply.
 */
static void
send_big_reads(int fd, const unsigned char *data)
{
	unsigned char *stream = malloc(BIG_READS * (PROTO_HEADER_LEN + 16));
	int32_t init[2] = {1, BIG_READ / 4096}, all[4] = {1, 0, 0, BIG_READ};
	size_t len = 0;

	assert_non_null(stream);
	assert_true(raw_request(fd, OP_PROC_INIT, 1, init, 2, NULL, 0));
	expect_status(fd, OP_PROC_INIT, 1, DSHM_SUCCESS);
	assert_true(raw_request(fd, OP_PROC_WRITE, 2, all, 4, data, BIG_READ));
	expect_status(fd, OP_PROC_WRITE, 2, DSHM_SUCCESS);
	for (uint32_t i = 0; i < BIG_READS; i++)
		len += raw_encode(stream + len, OP_PROC_READ, 10 + i, 16, all, 4);
	assert_true(raw_send(fd, stream, len));
	free(stream);
}

static void
test_pipelined_reads_beyond_the_output_high_water_mark_are_all_answered(void **state)
{
	struct fixture *f = *state;
	unsigned char *data = malloc(BIG_READ);
	int fd = open_raw(f);

	assert_non_null(data);
	for (int i = 0; i < BIG_READ; i++)
		data[i] = (unsigned char)(i * 3 + (i >> 10));
	send_big_reads(fd, data);
	for (uint32_t i = 0; i < BIG_READS; i++) {
		unsigned char *body = expect_reply(fd, OP_PROC_READ, 10 + i, DSHM_SUCCESS, BIG_READ);

		assert_true(memcmp(body, data, BIG_READ) == 0);
		free(body);
	}
	expect_hello_works(fd, 5000);
	free(data);
	close(fd);
}

/*
 * Reads are sent from the arena while their process stays locked until
 * the flush (srv/gather.c); whatever comes between them in one pipeline
 * (a write to the same process, reads of another, a read too large to go
 * that way, an error, a read of nothing) must still see and return the
 * bytes in request order, and leave the process unlocked afterwards.
 */
static void
test_pipelined_reads_mixed_with_writes_and_errors_return_the_bytes_in_order(void **state)
{
	struct fixture *f = *state;
	enum { PAGES = 80, N = 240, BIG = PAGES * 4096 };
	unsigned char *model = malloc(BIG), *body, *stream = malloc(N * (PROTO_HEADER_LEN + 32));
	unsigned char b_bytes[16];
	int32_t init_a[2] = {1, PAGES}, init_b[2] = {2, 1}, all[4] = {1, 0, 0, BIG};
	struct expect { uint8_t op; int32_t status; uint32_t len; size_t at; bool from_b; } *ex;
	size_t len = 0;
	int fd = open_raw(f), other;

	ex = calloc(N, sizeof(*ex));
	assert_non_null(model);
	assert_non_null(stream);
	assert_non_null(ex);
	for (size_t i = 0; i < BIG; i++)
		model[i] = (unsigned char)(i * 7 + (i >> 12));
	memset(b_bytes, 0x5b, sizeof(b_bytes));
	assert_true(raw_request(fd, OP_PROC_INIT, 1, init_a, 2, NULL, 0));
	expect_status(fd, OP_PROC_INIT, 1, DSHM_SUCCESS);
	assert_true(raw_request(fd, OP_PROC_INIT, 2, init_b, 2, NULL, 0));
	expect_status(fd, OP_PROC_INIT, 2, DSHM_SUCCESS);
	assert_true(raw_request(fd, OP_PROC_WRITE, 3, all, 4, model, BIG));
	expect_status(fd, OP_PROC_WRITE, 3, DSHM_SUCCESS);
	int32_t wb[4] = {2, 0, 5, 16};
	assert_true(raw_request(fd, OP_PROC_WRITE, 4, wb, 4, b_bytes, 16));
	expect_status(fd, OP_PROC_WRITE, 4, DSHM_SUCCESS);

	/* Writes change the model as the server will see them: in order. */
	unsigned char *want = malloc((size_t)N * BIG / 8);
	size_t want_len = 0;
	assert_non_null(want);
	for (uint32_t i = 0; i < N; i++) {
		int32_t page = (int32_t)(i % (PAGES - 3)), args[4] = {1, page, 100, 3 * 4096};
		size_t pos = (size_t)page * 4096 + 100;

		ex[i].op = OP_PROC_READ;
		ex[i].status = DSHM_SUCCESS;
		switch (i % 8) {
		case 0: /* a read spanning four frames */
		case 1:
			break;
		case 2: /* a write to the same process, between its reads */
			args[3] = 8;
			len += raw_encode(stream + len, OP_PROC_WRITE, 100 + i, 16 + 8, args, 4);
			for (int k = 0; k < 8; k++)
				stream[len + k] = model[pos + (size_t)k] = (unsigned char)(i + (unsigned)k);
			len += 8;
			ex[i].op = OP_PROC_WRITE;
			continue;
		case 3: /* another process, in place too */
			args[0] = 2, args[1] = 0, args[2] = 5, args[3] = 16;
			ex[i].from_b = true;
			break;
		case 4: /* past the end: an error among the pieces */
			args[1] = PAGES;
			ex[i].status = DSHM_PAGE_FAULT;
			break;
		case 5: /* nothing at all */
			args[3] = 0;
			break;
		case 6: /* more frames than one flush carries: copied instead */
			if (i % 24 == 6)
				memcpy(args, all, sizeof(args));
			break;
		default: /* one byte at the end of a frame */
			args[2] = 4095, args[3] = 1;
			pos = (size_t)page * 4096 + 4095;
			break;
		}
		len += raw_encode(stream + len, OP_PROC_READ, 100 + i, 16, args, 4);
		if (ex[i].status != DSHM_SUCCESS)
			continue;
		ex[i].len = (uint32_t)args[3];
		ex[i].at = want_len;
		memcpy(want + want_len, ex[i].from_b ? b_bytes : model + (args[3] == BIG ? 0 : pos),
		       (size_t)args[3]);
		want_len += (size_t)args[3];
	}
	assert_true(raw_send(fd, stream, len));
	for (uint32_t i = 0; i < N; i++) {
		body = expect_reply(fd, ex[i].op, 100 + i, ex[i].status, ex[i].len);
		if (ex[i].len > 0 && memcmp(body, want + ex[i].at, ex[i].len) != 0)
			fail_msg("reply %u: the bytes differ", i);
		free(body);
	}
	/* Nothing stays locked: another connection writes and reads both processes. */
	other = open_raw(f);
	assert_true(raw_request(other, OP_PROC_WRITE, 7, wb, 4, model, 16));
	expect_status(other, OP_PROC_WRITE, 7, DSHM_SUCCESS);
	assert_true(raw_request(other, OP_PROC_READ, 8, all, 4, NULL, 0));
	body = expect_reply(other, OP_PROC_READ, 8, DSHM_SUCCESS, BIG);
	assert_true(memcmp(body, model, BIG) == 0);
	free(body);
	expect_hello_works(fd, 9);
	close(other);
	free(want);
	free(ex);
	free(stream);
	free(model);
	close(fd);
}

/*
 * A read served in place keeps room in the reply buffer for its bytes;
 * an error reply the framing layer appends next (an unknown opcode here)
 * must not take that room, or copying the bytes in later runs past the
 * buffer.  The read fills a fresh buffer exactly (16 + 4080 bytes), and
 * the HELLO after the error makes the worker copy the read's bytes in.
 */
static void
test_an_error_after_a_read_served_in_place_does_not_take_its_room(void **state)
{
	struct fixture *f = *state;
	unsigned char data[4080], stream[3 * (PROTO_HEADER_LEN + 16)], *body;
	int32_t init[2] = {1, 1}, rd[4] = {1, 0, 0, (int32_t)sizeof(data)};
	size_t len = 0;
	int fd = open_raw(f), fresh;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 11 + 3);
	assert_true(raw_request(fd, OP_PROC_INIT, 1, init, 2, NULL, 0));
	expect_status(fd, OP_PROC_INIT, 1, DSHM_SUCCESS);
	assert_true(raw_request(fd, OP_PROC_WRITE, 2, rd, 4, data, sizeof(data)));
	expect_status(fd, OP_PROC_WRITE, 2, DSHM_SUCCESS);

	for (int round = 0; round < 2; round++) {
		fresh = open_raw(f);
		len = raw_encode(stream, OP_PROC_READ, 10, 16, rd, 4);
		len += raw_encode(stream + len, 77, 11, 0, NULL, 0);
		len += raw_encode(stream + len, round == 0 ? OP_HELLO : OP_PROC_READ, 12,
				  round == 0 ? 0 : 16, rd, round == 0 ? 0 : 4);
		assert_true(raw_send(fresh, stream, len));
		body = expect_reply(fresh, OP_PROC_READ, 10, DSHM_SUCCESS, sizeof(data));
		assert_memory_equal(body, data, sizeof(data));
		free(body);
		expect_status(fresh, 77, 11, DSHM_BAD_REQUEST);
		if (round == 0) {
			free(expect_reply(fresh, OP_HELLO, 12, DSHM_SUCCESS, PROTO_HELLO_LEN));
		} else {
			body = expect_reply(fresh, OP_PROC_READ, 12, DSHM_SUCCESS, sizeof(data));
			assert_memory_equal(body, data, sizeof(data));
			free(body);
		}
		close(fresh);
	}
	expect_hello_works(fd, 3);
	close(fd);
}

/* Bytes waiting to be read on fd. */
static int
queued(int fd)
{
	int n = 0;

	return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

/*
 * Reads are sent from the arena under the process's lock, but a client
 * that stops reading must not keep that lock: while its replies pile up
 * unread, another connection writes and reads the same process.
 */
static void
test_a_client_that_stops_reading_holds_no_lock_on_the_process(void **state)
{
	struct fixture *f = *state;
	unsigned char *data = malloc(BIG_READ), fresh[16], *body;
	int32_t head[4] = {1, 0, 0, 16};
	int slow = open_raw(f), other;

	assert_non_null(data);
	for (int i = 0; i < BIG_READ; i++)
		data[i] = (unsigned char)(i * 5 + (i >> 11));
	memset(fresh, 0xee, sizeof(fresh));
	/* None read: the socket fills and stays full. */
	send_big_reads(slow, data);
	assert_true(WAIT_UNTIL(queued(slow) >= BIG_READ, HARNESS_STOP_MS));

	other = open_raw(f);
	assert_true(raw_request(other, OP_PROC_WRITE, 3, head, 4, fresh, sizeof(fresh)));
	expect_status(other, OP_PROC_WRITE, 3, DSHM_SUCCESS);
	assert_true(raw_request(other, OP_PROC_READ, 4, head, 4, NULL, 0));
	body = expect_reply(other, OP_PROC_READ, 4, DSHM_SUCCESS, sizeof(fresh));
	assert_memory_equal(body, fresh, sizeof(fresh));
	free(body);
	close(other);

	/* Every reply is whole: the old first bytes until the write, the new ones after. */
	for (uint32_t i = 0; i < BIG_READS; i++) {
		body = expect_reply(slow, OP_PROC_READ, 10 + i, DSHM_SUCCESS, BIG_READ);
		assert_true(memcmp(body, data, 16) == 0 || memcmp(body, fresh, 16) == 0);
		assert_true(memcmp(body + 16, data + 16, BIG_READ - 16) == 0);
		free(body);
	}
	free(data);
	close(slow);
}

/* Sends len bytes one at a time, each only after the server has read the one before. */
static void
send_bytewise(const struct fixture *f, int fd, const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t before = server_bytes_in(&f->srv);

		assert_true(raw_send(fd, p + i, 1));
		if (!WAIT_UNTIL(server_bytes_in(&f->srv) == before + 1, HARNESS_STOP_MS))
			fail_msg("the server did not read byte %zu", i);
	}
}

static void
test_requests_split_byte_by_byte_are_served(void **state)
{
	struct fixture *f = *state;
	unsigned char buf[PROTO_HEADER_LEN + 16 + 32];
	int32_t init[2] = {3, 1};
	int32_t w[4] = {3, 0, 100, 32};
	unsigned char *body;
	size_t n;
	int fd = open_raw(f);

	assert_true(server_attach(&f->srv));
	n = raw_encode(buf, OP_PROC_INIT, 1, 8, init, 2);
	send_bytewise(f, fd, buf, n);
	expect_status(fd, OP_PROC_INIT, 1, DSHM_SUCCESS);
	n = raw_encode(buf, OP_PROC_WRITE, 2, 16 + 32, w, 4);
	for (int i = 0; i < 32; i++)
		buf[n + (size_t)i] = (unsigned char)('a' + i);
	send_bytewise(f, fd, buf, n + 32);
	expect_status(fd, OP_PROC_WRITE, 2, DSHM_SUCCESS);
	n = raw_encode(buf, OP_PROC_READ, 3, 16, w, 4);
	send_bytewise(f, fd, buf, n);
	body = expect_reply(fd, OP_PROC_READ, 3, DSHM_SUCCESS, 32);
	for (int i = 0; i < 32; i++)
		assert_int_equal(body[i], 'a' + i);
	free(body);
	close(fd);
}

static void
test_request_then_half_close_still_gets_its_reply(void **state)
{
	struct fixture *f = *state;
	int fd = open_raw(f);

	assert_true(raw_request(fd, OP_HELLO, 1, NULL, 0, NULL, 0));
	assert_true(raw_request(fd, OP_HELLO, 2, NULL, 0, NULL, 0));
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	free(expect_reply(fd, OP_HELLO, 1, DSHM_SUCCESS, PROTO_HELLO_LEN));
	free(expect_reply(fd, OP_HELLO, 2, DSHM_SUCCESS, PROTO_HELLO_LEN));
	assert_true(raw_wait_closed(fd, HARNESS_STOP_MS));
	close(fd);
}

/* ---- hostile streams ------------------------------------------------------- */

static void
test_a_truncated_header_then_a_close_harms_nobody(void **state)
{
	struct fixture *f = *state;
	unsigned char head[PROTO_HEADER_LEN];
	pid_t before[4], after[4];
	int n = server_workers(&f->srv, before, 4), fd;

	for (int len = 1; len < PROTO_HEADER_LEN; len += 5) {
		fd = open_raw(f);
		raw_encode(head, OP_HELLO, 1, 0, NULL, 0);
		assert_true(raw_send(fd, head, (size_t)len));
		close(fd);
	}
	fd = open_raw(f);
	expect_hello_works(fd, 2);
	close(fd);
	/* No worker died on the way. */
	assert_int_equal(server_workers(&f->srv, after, 4), n);
	for (int i = 0; i < n; i++) {
		bool found = false;

		for (int j = 0; j < n; j++)
			found = found || after[j] == before[i];
		assert_true(found);
	}
}

static void
test_garbage_after_pipelined_requests_ends_the_stream_after_their_replies(void **state)
{
	struct fixture *f = *state;
	unsigned char stream[3 * PROTO_HEADER_LEN + 64];
	int fd = open_raw(f);

	for (int i = 0; i < 3; i++)
		raw_encode(stream + i * PROTO_HEADER_LEN, OP_HELLO, (uint32_t)(10 + i), 0, NULL, 0);
	memset(stream + 3 * PROTO_HEADER_LEN, 0xEE, 64);
	assert_true(raw_send(fd, stream, sizeof(stream)));
	for (int i = 0; i < 3; i++)
		free(expect_reply(fd, OP_HELLO, (uint32_t)(10 + i), DSHM_SUCCESS, PROTO_HELLO_LEN));
	/* Then the garbage: its "header" is answered, and the stream is over. */
	{
		struct proto_header h;
		size_t len;

		assert_true(raw_reply(fd, &h, NULL, 0, &len));
		assert_int_equal(h.status, DSHM_BAD_REQUEST);
	}
	assert_true(raw_wait_closed(fd, HARNESS_STOP_MS));
	close(fd);
}

static void
test_a_write_of_exactly_the_largest_size_works_and_one_byte_more_does_not(void **state)
{
	struct fixture *f = *state;
	unsigned char *data = malloc(PROTO_MAX_DATA + 1);
	int pages = (int)(PROTO_MAX_DATA / 4096) + 1;
	int fd = open_raw(f);
	int32_t init[2] = {77, pages};
	int32_t ok[4] = {77, 0, 0, (int32_t)PROTO_MAX_DATA};
	int32_t over[4] = {77, 0, 0, (int32_t)PROTO_MAX_DATA + 1};

	assert_non_null(data);
	memset(data, 0x3C, PROTO_MAX_DATA + 1);
	assert_true(raw_request(fd, OP_PROC_INIT, 1, init, 2, NULL, 0));
	expect_status(fd, OP_PROC_INIT, 1, DSHM_SUCCESS);
	assert_true(raw_request(fd, OP_PROC_WRITE, 2, ok, 4, data, PROTO_MAX_DATA));
	expect_status(fd, OP_PROC_WRITE, 2, DSHM_SUCCESS);
	/* One byte over the largest write: the body passes the cap's slack, the size does not. */
	assert_true(raw_request(fd, OP_PROC_WRITE, 3, over, 4, data, PROTO_MAX_DATA + 1));
	expect_status(fd, OP_PROC_WRITE, 3, DSHM_TOO_LARGE);
	expect_hello_works(fd, 4);
	free(data);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_BOTH(test_hello_reply_carries_the_frame_size_and_the_counts),
		TEST_BOTH(test_bad_magic_gets_an_error_reply_then_the_connection_closes),
		TEST_BOTH(test_wrong_version_gets_version_mismatch_then_the_connection_closes),
		TEST_BOTH(test_body_over_the_cap_gets_too_large_before_it_is_sent_and_is_swallowed),
		TEST_BOTH(test_body_over_the_cap_sent_with_the_next_request_is_swallowed),
		TEST_BOTH(test_unknown_opcode_gets_bad_request_and_the_connection_goes_on),
		TEST_BOTH(test_wrong_body_length_gets_bad_request_and_the_connection_goes_on),
		TEST_BOTH(test_write_whose_size_is_not_its_data_length_gets_bad_request),
		TEST_BOTH(test_server_rejects_bad_arguments_itself),
		TEST_BOTH(test_pipelined_requests_are_answered_in_order_with_their_ids),
		TEST_BOTH(test_pipelined_reads_beyond_the_output_high_water_mark_are_all_answered),
		TEST_BOTH(test_pipelined_reads_mixed_with_writes_and_errors_return_the_bytes_in_order),
		TEST_BOTH(test_an_error_after_a_read_served_in_place_does_not_take_its_room),
		TEST_BOTH(test_a_client_that_stops_reading_holds_no_lock_on_the_process),
		TEST_BOTH(test_requests_split_byte_by_byte_are_served),
		TEST_BOTH(test_a_truncated_header_then_a_close_harms_nobody),
		TEST_BOTH(test_garbage_after_pipelined_requests_ends_the_stream_after_their_replies),
		TEST_ONE(test_a_write_of_exactly_the_largest_size_works_and_one_byte_more_does_not),
		TEST_BOTH(test_request_then_half_close_still_gets_its_reply),
	};

	return cmocka_run_group_tests_name("protocol", tests, NULL, NULL);
}
