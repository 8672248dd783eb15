/*
 * test_proto.c — the wire codec: the header's exact bytes, header checks,
 * exact body lengths per opcode, and the HELLO reply.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dshm.h"
#include "proto.h"

static struct proto_header
good_header(uint8_t opcode, uint32_t len)
{
	struct proto_header h = {
		.magic = PROTO_MAGIC,
		.version = PROTO_VERSION,
		.opcode = opcode,
		.id = 42,
		.status = 0,
		.len = len,
	};

	return h;
}

static void
test_header_is_written_in_network_byte_order(void **state)
{
	struct proto_header h = {
		.magic = PROTO_MAGIC,
		.version = 1,
		.opcode = OP_PROC_WRITE,
		.id = 0x01020304,
		.status = DSHM_BAD_REQUEST, /* -209 = 0xffffff2f */
		.len = 0x0a0b0c0d,
	};
	const unsigned char want[PROTO_HEADER_LEN] = {
		0xd5, 0x4d, 0x01, 0x05, 0x01, 0x02, 0x03, 0x04,
		0xff, 0xff, 0xff, 0x2f, 0x0a, 0x0b, 0x0c, 0x0d,
	};
	unsigned char out[PROTO_HEADER_LEN + 1];

	(void)state;
	memset(out, 0xee, sizeof(out));
	proto_put_header(out, &h);
	assert_memory_equal(out, want, PROTO_HEADER_LEN);
	assert_int_equal(out[PROTO_HEADER_LEN], 0xee); /* nothing past the header */
}

static void
test_header_round_trip_keeps_every_field(void **state)
{
	struct proto_header h = {
		.magic = PROTO_MAGIC,
		.version = 7,
		.opcode = 0xfe,
		.id = 0xfffffffe,
		.status = DSHM_TABLE_FULL,
		.len = PROTO_MAX_BODY,
	};
	struct proto_header back;
	unsigned char out[PROTO_HEADER_LEN];

	(void)state;
	proto_put_header(out, &h);
	memset(&back, 0, sizeof(back));
	proto_get_header(out, &back);
	assert_int_equal(back.magic, PROTO_MAGIC);
	assert_int_equal(back.version, 7);
	assert_int_equal(back.opcode, 0xfe);
	assert_int_equal(back.id, 0xfffffffe);
	assert_int_equal(back.status, DSHM_TABLE_FULL);
	assert_int_equal(back.len, PROTO_MAX_BODY);
}

static void
test_header_is_read_in_network_byte_order(void **state)
{
	const unsigned char in[PROTO_HEADER_LEN] = {
		0xd5, 0x4d, 0x01, 0x06, 0x00, 0x00, 0x01, 0x00,
		0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x10,
	};
	struct proto_header h;

	(void)state;
	proto_get_header(in, &h);
	assert_int_equal(h.magic, 0xd54d);
	assert_int_equal(h.version, 1);
	assert_int_equal(h.opcode, OP_PROC_READ);
	assert_int_equal(h.id, 256);
	assert_int_equal(h.status, DSHM_SUCCESS);
	assert_int_equal(h.len, 16);
	assert_int_equal(proto_check_header(&h), DSHM_SUCCESS);
}

static void
test_check_header_accepts_a_good_header(void **state)
{
	struct proto_header h = good_header(OP_HELLO, 0);

	(void)state;
	assert_int_equal(proto_check_header(&h), DSHM_SUCCESS);
}

static void
test_check_header_rejects_bad_magic_as_bad_request(void **state)
{
	struct proto_header h = good_header(OP_HELLO, 0);

	(void)state;
	h.magic = 0x4dd5; /* byte-swapped */
	assert_int_equal(proto_check_header(&h), DSHM_BAD_REQUEST);
	h.magic = 0;
	assert_int_equal(proto_check_header(&h), DSHM_BAD_REQUEST);
}

static void
test_check_header_bad_magic_wins_over_bad_version(void **state)
{
	struct proto_header h = good_header(OP_HELLO, PROTO_MAX_BODY + 1);

	(void)state;
	h.magic = 0x1234;
	h.version = 9;
	assert_int_equal(proto_check_header(&h), DSHM_BAD_REQUEST);
}

static void
test_check_header_rejects_other_version_as_version_mismatch(void **state)
{
	struct proto_header h = good_header(OP_HELLO, 0);

	(void)state;
	h.version = PROTO_VERSION + 1;
	assert_int_equal(proto_check_header(&h), DSHM_VERSION_MISMATCH);
	h.version = 0;
	assert_int_equal(proto_check_header(&h), DSHM_VERSION_MISMATCH);
}

static void
test_check_header_rejects_body_above_cap_as_too_large(void **state)
{
	struct proto_header h = good_header(OP_PROC_WRITE, PROTO_MAX_BODY);

	(void)state;
	assert_int_equal(proto_check_header(&h), DSHM_SUCCESS);
	h.len = PROTO_MAX_BODY + 1;
	assert_int_equal(proto_check_header(&h), DSHM_TOO_LARGE);
	h.len = UINT32_MAX;
	assert_int_equal(proto_check_header(&h), DSHM_TOO_LARGE);
}

static void
test_args_len_is_exact_per_opcode(void **state)
{
	(void)state;
	assert_int_equal(proto_args_len(OP_HELLO), 0);
	assert_int_equal(proto_args_len(OP_PROC_INIT), 8);
	assert_int_equal(proto_args_len(OP_PROC_ASSIGN), 8);
	assert_int_equal(proto_args_len(OP_PROC_FINALIZE), 4);
	assert_int_equal(proto_args_len(OP_PROC_WRITE), 16);
	assert_int_equal(proto_args_len(OP_PROC_READ), 16);
	assert_int_equal(proto_args_len(0), -1);
	assert_int_equal(proto_args_len(OP_MAX_), -1);
	assert_int_equal(proto_args_len(255), -1);
}

static void
test_decode_accepts_exact_length_and_rejects_one_off(void **state)
{
	static const uint8_t ops[] = {OP_HELLO, OP_PROC_INIT, OP_PROC_ASSIGN, OP_PROC_FINALIZE,
				      OP_PROC_READ};
	unsigned char body[32] = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(ops); i++) {
		uint32_t args = (uint32_t)proto_args_len(ops[i]);
		struct proto_header h = good_header(ops[i], args);
		struct proto_request r;

		assert_int_equal(proto_decode_request(&h, body, &r), DSHM_SUCCESS);
		assert_int_equal(r.opcode, ops[i]);
		assert_int_equal(r.id, 42);
		assert_null(r.data);
		assert_int_equal(r.data_len, 0);
		h.len = args + 1;
		assert_int_equal(proto_decode_request(&h, body, &r), DSHM_BAD_REQUEST);
		if (args > 0) {
			h.len = args - 1;
			assert_int_equal(proto_decode_request(&h, body, &r), DSHM_BAD_REQUEST);
		}
	}
}

static void
test_decode_reads_signed_arguments_in_network_byte_order(void **state)
{
	const unsigned char body[8] = {0x00, 0x00, 0x01, 0x02, 0xff, 0xff, 0xff, 0xfd};
	struct proto_header h = good_header(OP_PROC_INIT, 8);
	struct proto_request r;

	(void)state;
	memset(&r, 0x55, sizeof(r));
	assert_int_equal(proto_decode_request(&h, body, &r), DSHM_SUCCESS);
	assert_int_equal(r.arg[0], 0x102);
	assert_int_equal(r.arg[1], -3);
	assert_int_equal(r.arg[2], 0); /* arguments the opcode lacks are zero */
	assert_int_equal(r.arg[3], 0);
}

static void
test_decode_rejects_unknown_opcode(void **state)
{
	static const uint8_t ops[] = {0, OP_MAX_, 0x80, 0xff};
	unsigned char body[16] = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(ops); i++) {
		for (uint32_t len = 0; len <= 16; len += 4) {
			struct proto_header h = good_header(ops[i], len);
			struct proto_request r;

			assert_int_equal(proto_decode_request(&h, body, &r), DSHM_BAD_REQUEST);
		}
	}
}

static void
encode_write_args(unsigned char *body, int32_t pid, int32_t page, int32_t offset, int32_t size)
{
	proto_put_u32(body, (uint32_t)pid);
	proto_put_u32(body + 4, (uint32_t)page);
	proto_put_u32(body + 8, (uint32_t)offset);
	proto_put_u32(body + 12, (uint32_t)size);
}

static void
test_decode_write_carries_exactly_size_bytes(void **state)
{
	unsigned char body[16 + 5];
	struct proto_header h = good_header(OP_PROC_WRITE, sizeof(body));
	struct proto_request r;

	(void)state;
	encode_write_args(body, 3, 1, 100, 5);
	memcpy(body + 16, "hello", 5);
	assert_int_equal(proto_decode_request(&h, body, &r), DSHM_SUCCESS);
	assert_int_equal(r.arg[0], 3);
	assert_int_equal(r.arg[1], 1);
	assert_int_equal(r.arg[2], 100);
	assert_int_equal(r.arg[3], 5);
	assert_ptr_equal(r.data, body + 16);
	assert_int_equal(r.data_len, 5);
}

static void
test_decode_write_whose_size_disagrees_with_body_is_bad_request(void **state)
{
	unsigned char body[16 + 5] = {0};
	struct proto_header h = good_header(OP_PROC_WRITE, sizeof(body));
	struct proto_request r;

	(void)state;
	encode_write_args(body, 3, 0, 0, 4); /* says 4, carries 5 */
	assert_int_equal(proto_decode_request(&h, body, &r), DSHM_BAD_REQUEST);
	encode_write_args(body, 3, 0, 0, 6); /* says 6, carries 5 */
	assert_int_equal(proto_decode_request(&h, body, &r), DSHM_BAD_REQUEST);
	encode_write_args(body, 3, 0, 0, -1);
	assert_int_equal(proto_decode_request(&h, body, &r), DSHM_BAD_REQUEST);
	/* -2^31 + 5 would match the length modulo 2^32 if it were read as unsigned */
	encode_write_args(body, 3, 0, 0, INT32_MIN + 5);
	assert_int_equal(proto_decode_request(&h, body, &r), DSHM_BAD_REQUEST);
	/* a length that never passed proto_check_header: -17 matches it modulo 2^32 */
	h.len = UINT32_MAX;
	encode_write_args(body, 3, 0, 0, -17);
	assert_int_equal(proto_decode_request(&h, body, &r), DSHM_BAD_REQUEST);
	h.len = 15; /* shorter than the arguments */
	assert_int_equal(proto_decode_request(&h, body, &r), DSHM_BAD_REQUEST);
}

static void
test_decode_write_of_zero_bytes_is_valid(void **state)
{
	unsigned char body[16];
	struct proto_header h = good_header(OP_PROC_WRITE, 16);
	struct proto_request r;

	(void)state;
	encode_write_args(body, 0, 0, 0, 0);
	assert_int_equal(proto_decode_request(&h, body, &r), DSHM_SUCCESS);
	assert_int_equal(r.data_len, 0);
}

static void
test_encode_request_round_trips_through_decode(void **state)
{
	unsigned char out[PROTO_HEADER_LEN + 16 + 3];
	struct proto_request r = {
		.opcode = OP_PROC_WRITE,
		.id = 9,
		.arg = {12, -1, 4095, 3},
		.data = (const unsigned char *)"abc",
		.data_len = 3,
	};
	struct proto_request back;
	struct proto_header h;
	size_t n;

	(void)state;
	n = proto_encode_request(out, &r);
	assert_int_equal(n, PROTO_HEADER_LEN + 16);
	memcpy(out + n, r.data, r.data_len);
	proto_get_header(out, &h);
	assert_int_equal(h.magic, PROTO_MAGIC);
	assert_int_equal(h.version, PROTO_VERSION);
	assert_int_equal(h.status, 0);
	assert_int_equal(h.len, 16 + 3); /* the data is counted in len */
	assert_int_equal(proto_check_header(&h), DSHM_SUCCESS);
	assert_int_equal(proto_decode_request(&h, out + PROTO_HEADER_LEN, &back), DSHM_SUCCESS);
	assert_int_equal(back.id, 9);
	assert_int_equal(back.arg[0], 12);
	assert_int_equal(back.arg[1], -1);
	assert_int_equal(back.arg[2], 4095);
	assert_int_equal(back.arg[3], 3);
	assert_memory_equal(back.data, "abc", 3);
}

static void
test_encode_finalize_writes_only_its_argument(void **state)
{
	unsigned char out[PROTO_HEADER_LEN + 16];
	struct proto_request r = {.opcode = OP_PROC_FINALIZE, .id = 1, .arg = {0x0a0b0c0d, 7, 7, 7}};
	const unsigned char want[] = {0xd5, 0x4d, 1, OP_PROC_FINALIZE, 0, 0, 0, 1,
				      0, 0, 0, 0, 0, 0, 0, 4, 0x0a, 0x0b, 0x0c, 0x0d};

	(void)state;
	memset(out, 0xee, sizeof(out));
	assert_int_equal(proto_encode_request(out, &r), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(out[sizeof(want)], 0xee);
}

static void
test_hello_round_trip_keeps_64_bit_counts(void **state)
{
	struct proto_hello hello = {
		.frame_size = 4096,
		.max_data = PROTO_MAX_DATA,
		.nframes = UINT64_C(0x0102030405060708),
		.frames_free = UINT64_C(0xfffffffffffffffe),
	};
	const unsigned char want[PROTO_HELLO_LEN] = {
		0x00, 0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04,
		0x05, 0x06, 0x07, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
	};
	unsigned char out[PROTO_HELLO_LEN];
	struct proto_hello back;

	(void)state;
	proto_encode_hello(out, &hello);
	assert_memory_equal(out, want, sizeof(want));
	memset(&back, 0, sizeof(back));
	proto_decode_hello(out, &back);
	assert_int_equal(back.frame_size, 4096);
	assert_int_equal(back.max_data, PROTO_MAX_DATA);
	assert_true(back.nframes == hello.nframes);
	assert_true(back.frames_free == hello.frames_free);
}

static void
test_u32_helpers_are_big_endian(void **state)
{
	unsigned char b[4];

	(void)state;
	proto_put_u32(b, 0xdeadbeef);
	assert_int_equal(b[0], 0xde);
	assert_int_equal(b[3], 0xef);
	assert_int_equal(proto_get_u32(b), 0xdeadbeef);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_is_written_in_network_byte_order),
		cmocka_unit_test(test_header_round_trip_keeps_every_field),
		cmocka_unit_test(test_header_is_read_in_network_byte_order),
		cmocka_unit_test(test_check_header_accepts_a_good_header),
		cmocka_unit_test(test_check_header_rejects_bad_magic_as_bad_request),
		cmocka_unit_test(test_check_header_bad_magic_wins_over_bad_version),
		cmocka_unit_test(test_check_header_rejects_other_version_as_version_mismatch),
		cmocka_unit_test(test_check_header_rejects_body_above_cap_as_too_large),
		cmocka_unit_test(test_args_len_is_exact_per_opcode),
		cmocka_unit_test(test_decode_accepts_exact_length_and_rejects_one_off),
		cmocka_unit_test(test_decode_reads_signed_arguments_in_network_byte_order),
		cmocka_unit_test(test_decode_rejects_unknown_opcode),
		cmocka_unit_test(test_decode_write_carries_exactly_size_bytes),
		cmocka_unit_test(test_decode_write_whose_size_disagrees_with_body_is_bad_request),
		cmocka_unit_test(test_decode_write_of_zero_bytes_is_valid),
		cmocka_unit_test(test_encode_request_round_trips_through_decode),
		cmocka_unit_test(test_encode_finalize_writes_only_its_argument),
		cmocka_unit_test(test_hello_round_trip_keeps_64_bit_counts),
		cmocka_unit_test(test_u32_helpers_are_big_endian),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
