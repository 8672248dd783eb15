/*
 * test_pipeline.c — libdshm's public codec of reads and writes: a request
 * it encodes is the one the server's decoder (ipc/common/proto.c) reads, with
 * the same checks as dshm_batch; a reply parses in place, 0 while
 * incomplete, an error when the stream is out of step; and
 * dshm_reply_check tells a reply to its op from one out of step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dshm.h"
#include "proto.h"

/* Decodes a whole request as dshmd does: header checks, then the exact body. */
static void
decode_as_server(const unsigned char *in, size_t len, struct proto_request *r)
{
	struct proto_header h;

	assert_true(len >= PROTO_HEADER_LEN);
	proto_get_header(in, &h);
	assert_int_equal(h.status, 0);
	assert_int_equal(proto_check_header(&h), DSHM_SUCCESS);
	assert_int_equal(PROTO_HEADER_LEN + (size_t)h.len, len);
	assert_int_equal(proto_decode_request(&h, in + PROTO_HEADER_LEN, r), DSHM_SUCCESS);
}

/* A reply as dshmd sends it: header, then body (NULL: the caller puts it there). */
static size_t
put_reply(unsigned char *out, uint8_t opcode, uint32_t id, int32_t status, const void *body,
	  uint32_t len)
{
	struct proto_header h = {PROTO_MAGIC, PROTO_VERSION, opcode, id, status, len};

	proto_put_header(out, &h);
	if (body != NULL)
		memcpy(out + PROTO_HEADER_LEN, body, len);
	return PROTO_HEADER_LEN + len;
}

static void
test_a_read_request_decodes_as_the_server_decodes_it(void **state)
{
	struct dshm_op op = {DSHM_OP_READ, 5, 3, 100, 9000, NULL, 0};
	unsigned char out[64];
	struct proto_request r;
	size_t len = 0;

	(void)state;
	assert_int_equal(dshm_op_request_size(&op), DSHM_REQUEST_HEAD_LEN);
	assert_int_equal(dshm_op_encode(&op, 77, out, sizeof(out), &len), DSHM_SUCCESS);
	assert_int_equal(len, DSHM_REQUEST_HEAD_LEN);
	decode_as_server(out, len, &r);
	assert_int_equal(r.opcode, OP_PROC_READ);
	assert_int_equal(r.id, 77);
	assert_int_equal(r.arg[0], 5);
	assert_int_equal(r.arg[1], 3);
	assert_int_equal(r.arg[2], 100);
	assert_int_equal(r.arg[3], 9000);
	assert_int_equal(r.data_len, 0);
}

static void
test_a_write_request_carries_its_data_after_the_arguments(void **state)
{
	char data[] = "the bytes of a write";
	struct dshm_op op = {DSHM_OP_WRITE, 0, 7, 4095, (int)sizeof(data), data, 0};
	unsigned char out[DSHM_REQUEST_HEAD_LEN + sizeof(data) + 1];
	struct proto_request r;
	size_t len = 0;

	(void)state;
	memset(out, 0xee, sizeof(out));
	assert_int_equal(dshm_op_request_size(&op), DSHM_REQUEST_HEAD_LEN + sizeof(data));
	assert_int_equal(dshm_op_encode(&op, 0xfffffffeu, out, sizeof(out) - 1, &len),
			 DSHM_SUCCESS);
	assert_int_equal(len, DSHM_REQUEST_HEAD_LEN + sizeof(data));
	assert_int_equal(out[len], 0xee); /* nothing past it */
	decode_as_server(out, len, &r);
	assert_int_equal(r.opcode, OP_PROC_WRITE);
	assert_int_equal(r.id, 0xfffffffeu);
	assert_int_equal(r.arg[1], 7);
	assert_int_equal(r.arg[2], 4095);
	assert_int_equal(r.arg[3], (int)sizeof(data));
	assert_int_equal(r.data_len, sizeof(data));
	assert_ptr_equal(r.data, out + DSHM_REQUEST_HEAD_LEN);
	assert_memory_equal(r.data, data, sizeof(data));
}

static void
test_a_write_head_leaves_its_data_to_the_caller_and_needs_no_buffer(void **state)
{
	struct dshm_op op = {DSHM_OP_WRITE, 4, 0, 0, 10, NULL, 0};
	unsigned char out[DSHM_REQUEST_HEAD_LEN + 10 + 1];
	struct proto_request r;
	size_t len = 0;

	(void)state;
	memset(out, 0xee, sizeof(out));
	assert_int_equal(dshm_op_encode_head(&op, 9, out, DSHM_REQUEST_HEAD_LEN, &len),
			 DSHM_SUCCESS);
	assert_int_equal(len, DSHM_REQUEST_HEAD_LEN);
	assert_int_equal(out[DSHM_REQUEST_HEAD_LEN], 0xee);
	/* The header counts the data the caller puts after it. */
	memcpy(out + len, "0123456789", 10);
	decode_as_server(out, len + 10, &r);
	assert_int_equal(r.opcode, OP_PROC_WRITE);
	assert_int_equal(r.id, 9);
	assert_int_equal(r.data_len, 10);
	assert_memory_equal(r.data, "0123456789", 10);
	/* The whole encoder wants the buffer it copies from. */
	assert_int_equal(dshm_op_encode(&op, 9, out, sizeof(out), &len), DSHM_BAD_REQUEST);
}

static void
test_a_write_of_many_pages_up_to_the_cap_is_one_request(void **state)
{
	size_t cap = DSHM_REQUEST_HEAD_LEN + DSHM_MAX_DATA;
	unsigned char *data = malloc(DSHM_MAX_DATA), *out = malloc(cap);
	struct dshm_op op = {DSHM_OP_WRITE, 1, 2, 17, (int)DSHM_MAX_DATA, data, 0};
	struct proto_request r;
	size_t len = 0;

	(void)state;
	assert_non_null(data);
	assert_non_null(out);
	for (size_t i = 0; i < DSHM_MAX_DATA; i++)
		data[i] = (unsigned char)(i * 31 + (i >> 12));
	assert_int_equal(dshm_op_request_size(&op), cap);
	assert_int_equal(dshm_op_encode(&op, 3, out, cap, &len), DSHM_SUCCESS);
	assert_int_equal(len, cap);
	decode_as_server(out, len, &r);
	assert_int_equal(r.arg[1], 2);
	assert_int_equal(r.arg[2], 17);
	assert_int_equal(r.data_len, DSHM_MAX_DATA);
	assert_true(memcmp(r.data, data, DSHM_MAX_DATA) == 0);
	/* A multi-page read is one request too, whatever its size. */
	op.kind = DSHM_OP_READ;
	assert_int_equal(dshm_op_encode(&op, 4, out, DSHM_REQUEST_HEAD_LEN, &len), DSHM_SUCCESS);
	decode_as_server(out, len, &r);
	assert_int_equal(r.arg[3], (int)DSHM_MAX_DATA);
	/* One byte more is refused, before any room is asked for. */
	op.size++;
	assert_int_equal(dshm_op_encode(&op, 5, out, cap, &len), DSHM_TOO_LARGE);
	assert_int_equal(dshm_op_encode_head(&op, 5, out, cap, &len), DSHM_TOO_LARGE);
	assert_int_equal(dshm_op_request_size(&op), 0);
	free(data);
	free(out);
}

static void
test_encoders_refuse_the_ops_dshm_batch_refuses_and_write_nothing(void **state)
{
	char b[4] = "abc";
	const struct dshm_op bad[] = {
		{0, 1, 0, 0, 1, b, 0},                 /* no kind */
		{7, 1, 0, 0, 1, b, 0},                 /* not an op */
		{DSHM_OP_READ, -1, 0, 0, 1, b, 0},     /* negative pid */
		{DSHM_OP_WRITE, 1, 0, 0, -1, b, 0},    /* negative size */
	};
	unsigned char out[64], untouched[64];
	size_t len = 12345;

	(void)state;
	memset(out, 0xee, sizeof(out));
	memset(untouched, 0xee, sizeof(untouched));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(dshm_op_encode(&bad[i], 1, out, sizeof(out), &len), DSHM_BAD_REQUEST);
		assert_int_equal(dshm_op_encode_head(&bad[i], 1, out, sizeof(out), &len),
				 DSHM_BAD_REQUEST);
		assert_int_equal(dshm_op_request_size(&bad[i]), 0);
	}
	assert_memory_equal(out, untouched, sizeof(out));
	assert_int_equal(len, 12345);
	/* A read needs no buffer here: its bytes are found by dshm_reply_parse. */
	struct dshm_op rd = {DSHM_OP_READ, 1, 0, 0, 8, NULL, 0};

	assert_int_equal(dshm_op_encode(&rd, 1, out, sizeof(out), &len), DSHM_SUCCESS);
	assert_int_equal(dshm_op_encode(NULL, 1, out, sizeof(out), &len), DSHM_BAD_REQUEST);
	assert_int_equal(dshm_op_encode(&rd, 1, NULL, sizeof(out), &len), DSHM_BAD_REQUEST);
	assert_int_equal(dshm_op_request_size(NULL), 0);
}

static void
test_too_little_room_is_no_memory_and_writes_nothing(void **state)
{
	char data[100] = {0};
	struct dshm_op op = {DSHM_OP_WRITE, 1, 0, 0, (int)sizeof(data), data, 0};
	unsigned char out[DSHM_REQUEST_HEAD_LEN + sizeof(data)], untouched[sizeof(out)];
	size_t len = 0;

	(void)state;
	memset(out, 0xee, sizeof(out));
	memset(untouched, 0xee, sizeof(untouched));
	assert_int_equal(dshm_op_encode(&op, 1, out, sizeof(out) - 1, &len), DSHM_NO_MEMORY);
	assert_int_equal(dshm_op_encode_head(&op, 1, out, DSHM_REQUEST_HEAD_LEN - 1, &len),
			 DSHM_NO_MEMORY);
	assert_memory_equal(out, untouched, sizeof(out));
	assert_int_equal(dshm_op_encode(&op, 1, out, sizeof(out), &len), DSHM_SUCCESS);
}

static void
test_a_read_reply_parses_with_its_data_in_place(void **state)
{
	unsigned char in[PROTO_HEADER_LEN + 5 + 3];
	struct dshm_reply rep;
	size_t n = put_reply(in, OP_PROC_READ, 0x01020304, DSHM_SUCCESS, "hello", 5);

	(void)state;
	memcpy(in + n, "xyz", 3); /* the next reply's first bytes */
	assert_int_equal(dshm_reply_parse(in, sizeof(in), &rep), PROTO_HEADER_LEN + 5);
	assert_int_equal(rep.id, 0x01020304);
	assert_int_equal(rep.kind, DSHM_OP_READ);
	assert_int_equal(rep.opcode, OP_PROC_READ);
	assert_int_equal(rep.status, DSHM_SUCCESS);
	assert_ptr_equal(rep.data, in + PROTO_HEADER_LEN); /* not a copy */
	assert_int_equal(rep.data_len, 5);
}

static void
test_an_error_reply_has_its_status_and_no_data(void **state)
{
	unsigned char in[PROTO_HEADER_LEN];
	struct dshm_reply rep;

	(void)state;
	put_reply(in, OP_PROC_WRITE, 8, DSHM_SEGMENTATION_FAULT, NULL, 0);
	assert_int_equal(dshm_reply_parse(in, sizeof(in), &rep), PROTO_HEADER_LEN);
	assert_int_equal(rep.kind, DSHM_OP_WRITE);
	assert_int_equal(rep.status, DSHM_SEGMENTATION_FAULT);
	assert_null(rep.data);
	assert_int_equal(rep.data_len, 0);
	/* Replies to requests the codec does not make parse too, as kind 0. */
	put_reply(in, OP_PROC_INIT, 9, DSHM_SUCCESS, NULL, 0);
	assert_int_equal(dshm_reply_parse(in, sizeof(in), &rep), PROTO_HEADER_LEN);
	assert_int_equal(rep.kind, 0);
	assert_int_equal(rep.opcode, OP_PROC_INIT);
}

static void
test_an_incomplete_reply_is_zero_at_every_length_and_its_header_is_read(void **state)
{
	enum { DATA = 300 };
	unsigned char in[PROTO_HEADER_LEN + DATA], body[DATA];
	size_t total;

	(void)state;
	memset(body, 0x5a, sizeof(body));
	total = put_reply(in, OP_PROC_READ, 42, DSHM_SUCCESS, body, DATA);
	for (size_t len = 0; len < total; len++) {
		struct dshm_reply rep = {.id = 1, .status = 99};

		assert_int_equal(dshm_reply_parse(in, len, &rep), 0);
		if (len < PROTO_HEADER_LEN) {
			assert_int_equal(rep.id, 1); /* untouched until the header is in */
			continue;
		}
		/* From the header alone: who it answers and how much more will come. */
		assert_int_equal(rep.id, 42);
		assert_int_equal(rep.status, DSHM_SUCCESS);
		assert_int_equal(rep.data_len, DATA);
		assert_null(rep.data);
	}
	assert_int_equal(dshm_reply_parse(NULL, 0, &(struct dshm_reply){0}), 0);
}

static void
test_replies_back_to_back_parse_one_at_a_time(void **state)
{
	unsigned char in[3 * PROTO_HEADER_LEN + 8];
	struct dshm_reply rep;
	size_t n = 0;
	ssize_t used;

	(void)state;
	n += put_reply(in + n, OP_PROC_WRITE, 1, DSHM_SUCCESS, NULL, 0);
	n += put_reply(in + n, OP_PROC_READ, 2, DSHM_SUCCESS, "abcdefgh", 8);
	n += put_reply(in + n, OP_PROC_READ, 3, DSHM_PAGE_FAULT, NULL, 0);
	assert_int_equal(n, sizeof(in));
	used = dshm_reply_parse(in, n, &rep);
	assert_int_equal(used, PROTO_HEADER_LEN);
	assert_int_equal(rep.id, 1);
	used += dshm_reply_parse(in + used, n - (size_t)used, &rep);
	assert_int_equal(rep.id, 2);
	assert_memory_equal(rep.data, "abcdefgh", 8);
	used += dshm_reply_parse(in + used, n - (size_t)used, &rep);
	assert_int_equal(rep.id, 3);
	assert_int_equal(rep.status, DSHM_PAGE_FAULT);
	assert_int_equal((size_t)used, n);
}

static void
test_bytes_that_are_not_a_reply_are_out_of_step(void **state)
{
	unsigned char in[PROTO_HEADER_LEN];
	struct proto_header h = {PROTO_MAGIC, PROTO_VERSION, OP_PROC_READ, 1, DSHM_SUCCESS, 0};
	struct dshm_reply rep;

	(void)state;
	h.magic = 0x4d55;
	proto_put_header(in, &h);
	assert_int_equal(dshm_reply_parse(in, sizeof(in), &rep), DSHM_DISCONNECTED_SERVER);
	h.magic = PROTO_MAGIC;
	h.version = PROTO_VERSION + 1;
	proto_put_header(in, &h);
	assert_int_equal(dshm_reply_parse(in, sizeof(in), &rep), DSHM_VERSION_MISMATCH);
	h.version = PROTO_VERSION;
	h.len = PROTO_MAX_BODY + 1; /* absurd: known before a byte of it arrives */
	proto_put_header(in, &h);
	assert_int_equal(dshm_reply_parse(in, sizeof(in), &rep), DSHM_DISCONNECTED_SERVER);
	memcpy(in, "HTTP/1.1 200 OK\r", PROTO_HEADER_LEN);
	assert_int_equal(dshm_reply_parse(in, sizeof(in), &rep), DSHM_DISCONNECTED_SERVER);
	assert_int_equal(dshm_reply_parse(in, sizeof(in), NULL), DSHM_BAD_REQUEST);
}

static void
test_reply_check_accepts_only_the_reply_to_its_op(void **state)
{
	unsigned char in[PROTO_HEADER_LEN + 4];
	struct dshm_op rd = {DSHM_OP_READ, 1, 0, 0, 4, NULL, 0};
	struct dshm_op wr = {DSHM_OP_WRITE, 1, 0, 0, 4, "abcd", 0};
	struct dshm_reply rep;

	(void)state;
	put_reply(in, OP_PROC_READ, 10, DSHM_SUCCESS, "data", 4);
	assert_true(dshm_reply_parse(in, sizeof(in), &rep) > 0);
	assert_int_equal(dshm_reply_check(&rd, 10, &rep), DSHM_SUCCESS);
	assert_int_equal(dshm_reply_check(&rd, 11, &rep), DSHM_DISCONNECTED_SERVER); /* id */
	assert_int_equal(dshm_reply_check(&wr, 10, &rep), DSHM_DISCONNECTED_SERVER); /* kind */
	rd.size = 5;
	assert_int_equal(dshm_reply_check(&rd, 10, &rep), DSHM_DISCONNECTED_SERVER); /* length */
	rd.size = 4;

	/* An error carries no data; a write's success none either. */
	put_reply(in, OP_PROC_READ, 10, DSHM_OUT_OF_FRAME, NULL, 0);
	assert_true(dshm_reply_parse(in, PROTO_HEADER_LEN, &rep) > 0);
	assert_int_equal(dshm_reply_check(&rd, 10, &rep), DSHM_OUT_OF_FRAME);
	put_reply(in, OP_PROC_READ, 10, DSHM_OUT_OF_FRAME, "data", 4);
	assert_true(dshm_reply_parse(in, sizeof(in), &rep) > 0);
	assert_int_equal(dshm_reply_check(&rd, 10, &rep), DSHM_DISCONNECTED_SERVER);
	put_reply(in, OP_PROC_WRITE, 12, DSHM_SUCCESS, NULL, 0);
	assert_true(dshm_reply_parse(in, PROTO_HEADER_LEN, &rep) > 0);
	assert_int_equal(dshm_reply_check(&wr, 12, &rep), DSHM_SUCCESS);
	put_reply(in, OP_PROC_WRITE, 12, DSHM_SUCCESS, "data", 4);
	assert_true(dshm_reply_parse(in, sizeof(in), &rep) > 0);
	assert_int_equal(dshm_reply_check(&wr, 12, &rep), DSHM_DISCONNECTED_SERVER);

	/* A server that refuses the version says so, whatever the id. */
	put_reply(in, OP_PROC_WRITE, 0, DSHM_VERSION_MISMATCH, NULL, 0);
	assert_true(dshm_reply_parse(in, PROTO_HEADER_LEN, &rep) > 0);
	assert_int_equal(dshm_reply_check(&wr, 12, &rep), DSHM_VERSION_MISMATCH);
	/* Replies to other requests never answer an op. */
	put_reply(in, OP_HELLO, 12, DSHM_SUCCESS, NULL, 0);
	assert_true(dshm_reply_parse(in, PROTO_HEADER_LEN, &rep) > 0);
	assert_int_equal(dshm_reply_check(&wr, 12, &rep), DSHM_DISCONNECTED_SERVER);
}

static void
test_reply_check_works_from_the_header_alone(void **state)
{
	enum { DATA = 4096 * 3 };
	static unsigned char in[PROTO_HEADER_LEN + DATA];
	struct dshm_op rd = {DSHM_OP_READ, 1, 0, 0, DATA, NULL, 0};
	struct dshm_reply rep;

	(void)state;
	put_reply(in, OP_PROC_READ, 77, DSHM_SUCCESS, NULL, DATA);
	assert_int_equal(dshm_reply_parse(in, PROTO_HEADER_LEN, &rep), 0);
	assert_int_equal(dshm_reply_check(&rd, 77, &rep), DSHM_SUCCESS);
	rd.size = DATA - 1;
	assert_int_equal(dshm_reply_check(&rd, 77, &rep), DSHM_DISCONNECTED_SERVER);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_read_request_decodes_as_the_server_decodes_it),
		cmocka_unit_test(test_a_write_request_carries_its_data_after_the_arguments),
		cmocka_unit_test(test_a_write_head_leaves_its_data_to_the_caller_and_needs_no_buffer),
		cmocka_unit_test(test_a_write_of_many_pages_up_to_the_cap_is_one_request),
		cmocka_unit_test(test_encoders_refuse_the_ops_dshm_batch_refuses_and_write_nothing),
		cmocka_unit_test(test_too_little_room_is_no_memory_and_writes_nothing),
		cmocka_unit_test(test_a_read_reply_parses_with_its_data_in_place),
		cmocka_unit_test(test_an_error_reply_has_its_status_and_no_data),
		cmocka_unit_test(test_an_incomplete_reply_is_zero_at_every_length_and_its_header_is_read),
		cmocka_unit_test(test_replies_back_to_back_parse_one_at_a_time),
		cmocka_unit_test(test_bytes_that_are_not_a_reply_are_out_of_step),
		cmocka_unit_test(test_reply_check_accepts_only_the_reply_to_its_op),
		cmocka_unit_test(test_reply_check_works_from_the_header_alone),
	};

	return cmocka_run_group_tests_name("pipeline", tests, NULL, NULL);
}
