/*
 * test_pipeline.c — libdshm's codec drives a real dshmd from an event
 * loop of the test's own, on a non-blocking socket, with many requests in
 * flight: every reply answers its op in order with the right bytes,
 * reads and writes of many pages are one request each, replies far
 * beyond what the server buffers flow while the caller reads as it
 * sends, and an op above the server's --max-data is refused in step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"
#include "paging_checks.h"

#define PAGE 4096
#define RUN_MS 30000 /* the bound on one pipelined run */

/*
 * One pipelined run: ops are encoded while fewer than depth are in
 * flight, sent as the socket takes them, and their replies parsed from
 * what has arrived; a read's bytes are copied to its buffer for the
 * test to check.
 */
struct run {
	int fd;
	struct dshm_op *ops;
	uint32_t *ids;
	int n, depth;
	int encoded, answered, max_inflight;
	unsigned char *out;
	size_t out_len, out_sent;
	unsigned char *in;
	size_t in_len, in_cap;
};

/* Encodes ops while the window has room; even writes copy their data, odd ones place it. */
static void
encode_more(struct run *r)
{
	while (r->encoded < r->n && r->encoded - r->answered < r->depth) {
		struct dshm_op *op = &r->ops[r->encoded];
		uint32_t id = r->ids[r->encoded];
		unsigned char *at = r->out + r->out_len;
		size_t len = 0;

		if (op->kind == DSHM_OP_WRITE && r->encoded % 2 == 1) {
			assert_int_equal(dshm_op_encode_head(op, id, at, DSHM_REQUEST_HEAD_LEN, &len),
					 DSHM_SUCCESS);
			memcpy(at + len, op->buffer, (size_t)op->size);
			len += (size_t)op->size;
		} else {
			assert_int_equal(dshm_op_encode(op, id, at, dshm_op_request_size(op), &len),
					 DSHM_SUCCESS);
		}
		assert_int_equal(len, dshm_op_request_size(op));
		r->out_len += len;
		r->encoded++;
	}
	if (r->encoded - r->answered > r->max_inflight)
		r->max_inflight = r->encoded - r->answered;
}

/* Parses every complete reply that has arrived; each answers the oldest op. */
static void
parse_replies(struct run *r)
{
	size_t off = 0;

	while (r->answered < r->encoded) {
		struct dshm_op *op = &r->ops[r->answered];
		struct dshm_reply rep;
		ssize_t used = dshm_reply_parse(r->in + off, r->in_len - off, &rep);

		assert_true(used >= 0);
		if (used == 0)
			break;
		op->status = dshm_reply_check(op, r->ids[r->answered], &rep);
		assert_int_not_equal(op->status, DSHM_DISCONNECTED_SERVER);
		assert_int_not_equal(op->status, DSHM_VERSION_MISMATCH);
		if (op->kind == DSHM_OP_READ && op->status == DSHM_SUCCESS) {
			assert_true(rep.data == r->in + off + DSHM_REPLY_HEAD_LEN); /* in place */
			memcpy(op->buffer, rep.data, rep.data_len);
		}
		off += (size_t)used;
		r->answered++;
	}
	memmove(r->in, r->in + off, r->in_len - off);
	r->in_len -= off;
}

/* Runs ops on fd (non-blocking) with at most depth in flight; fails the test on any fault. */
static int
pipeline(int fd, struct dshm_op *ops, int n, int depth)
{
	struct run r = {.fd = fd, .ops = ops, .n = n, .depth = depth};
	size_t out_total = 0, biggest = 0;
	int64_t deadline = harness_now_ms() + RUN_MS;

	r.ids = malloc((size_t)n * sizeof(*r.ids));
	assert_non_null(r.ids);
	for (int i = 0; i < n; i++) {
		size_t req = dshm_op_request_size(&ops[i]);

		assert_true(req > 0);
		out_total += req;
		if (ops[i].kind == DSHM_OP_READ && (size_t)ops[i].size > biggest)
			biggest = (size_t)ops[i].size;
		r.ids[i] = 0xfffffff0u + (uint32_t)i; /* they wrap past 2^32 */
		ops[i].status = 0;
	}
	r.out = malloc(out_total);
	r.in_cap = DSHM_REPLY_HEAD_LEN + biggest + 65536;
	r.in = malloc(r.in_cap);
	assert_non_null(r.out);
	assert_non_null(r.in);
	while (r.answered < n) {
		encode_more(&r);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - harness_now_ms();

		if (r.out_sent < r.out_len)
			p.events |= POLLOUT;
		assert_true(left > 0);
		if (poll(&p, 1, (int)left) < 0) {
			assert_int_equal(errno, EINTR);
			continue;
		}
		assert_false(p.revents & (POLLERR | POLLNVAL));
		if (p.revents & POLLOUT) {
			ssize_t k = send(fd, r.out + r.out_sent, r.out_len - r.out_sent, MSG_NOSIGNAL);

			assert_true(k > 0 || errno == EAGAIN || errno == EINTR);
			if (k > 0)
				r.out_sent += (size_t)k;
		}
		if (p.revents & (POLLIN | POLLHUP)) {
			ssize_t k = recv(fd, r.in + r.in_len, r.in_cap - r.in_len, 0);

			assert_int_not_equal(k, 0); /* the server does not hang up */
			assert_true(k > 0 || errno == EAGAIN || errno == EINTR);
			if (k > 0) {
				r.in_len += (size_t)k;
				parse_replies(&r);
			}
		}
	}
	assert_int_equal(r.in_len, 0); /* nothing beyond the replies asked for */
	assert_int_equal(r.out_sent, out_total);
	free(r.ids);
	free(r.out);
	free(r.in);
	return r.max_inflight;
}

static int
connect_nonblocking(const char *addr)
{
	int fd = dshm_connect(addr);

	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
	return fd;
}

static void
test_hundreds_of_reads_and_writes_in_flight_answer_in_order(void **state)
{
	enum { PAGES = 256, N = 3 * PAGES, DEPTH = 64 };
	struct fixture *f = *state;
	int fd = connect_nonblocking(f->addr);
	unsigned char *src = malloc((size_t)PAGES * PAGE), *early = calloc(PAGES, PAGE);
	unsigned char *late = calloc(PAGES, PAGE);
	struct dshm_op *ops = calloc(N, sizeof(*ops));

	assert_non_null(src);
	assert_non_null(early);
	assert_non_null(late);
	assert_non_null(ops);
	assert_int_equal(memory_init_process(fd, 1, PAGES, NULL), DSHM_SUCCESS);
	/* Each page: a write, then at once a read that must see it; all reads again at the end. */
	for (int i = 0; i < PAGES; i++) {
		fill_pattern(src + (size_t)i * PAGE, PAGE, (unsigned)i);
		ops[2 * i] = (struct dshm_op){DSHM_OP_WRITE, 1, i, 0, PAGE, src + (size_t)i * PAGE, 0};
		ops[2 * i + 1] = (struct dshm_op){DSHM_OP_READ, 1, i, 0, PAGE, early + (size_t)i * PAGE, 0};
		ops[2 * PAGES + i] = (struct dshm_op){DSHM_OP_READ, 1, i, 0, PAGE, late + (size_t)i * PAGE, 0};
	}
	assert_int_equal(pipeline(fd, ops, N, DEPTH), DEPTH);
	for (int i = 0; i < N; i++)
		assert_int_equal(ops[i].status, DSHM_SUCCESS);
	assert_memory_equal(early, src, (size_t)PAGES * PAGE);
	assert_memory_equal(late, src, (size_t)PAGES * PAGE);
	free(src);
	free(early);
	free(late);
	free(ops);
	close(fd);
}

static void
test_reads_and_writes_of_many_pages_are_one_request_each(void **state)
{
	enum { PAGES = 64, SPAN = 40 * PAGE + 1000, OFF = 123 };
	struct fixture *f = *state;
	int fd = connect_nonblocking(f->addr);
	unsigned char *src = malloc(SPAN), *got = calloc(1, SPAN), *got2 = calloc(1, SPAN);
	unsigned char *past = malloc(8 * PAGE), small[16] = "", small2[16] = "";
	uint64_t before;
	struct dshm_op ops[] = {
		{DSHM_OP_WRITE, 2, 3, OFF, SPAN, src, 0},            /* pages 3 to 44 */
		{DSHM_OP_WRITE, 2, 1, PAGE - 4, 8, "crossing", 0},   /* pages 1 and 2 */
		{DSHM_OP_READ, 2, 3, OFF, SPAN, got, 0},
		{DSHM_OP_WRITE, 2, PAGES - 4, 0, 8 * PAGE, past, 0}, /* runs past the end: nothing */
		{DSHM_OP_READ, 2, 1, PAGE - 4, 8, small, 0},
		{DSHM_OP_READ, 2, PAGES - 4, 0, 8, small2, 0},
		{DSHM_OP_READ, 2, 3, OFF + PAGE, SPAN, got2, 0},     /* offset not inside a frame */
	};
	int n = (int)(sizeof(ops) / sizeof(ops[0]));
	t_read_response *check;

	assert_non_null(src);
	assert_non_null(got);
	assert_non_null(got2);
	assert_non_null(past);
	fill_pattern(src, SPAN, 9);
	memset(past, 0xab, 8 * PAGE);
	/*
	 * One request per op, however many pages it spans: the scoreboard
	 * counts them.  Counted from before the init, and as a bound, not an
	 * equality: the count is the whole server's, which the harness's own
	 * probes may move too, while an op split into one request per page
	 * would pass it by far (the first op alone spans 42 pages).
	 */
	assert_true(server_attach(&f->srv));
	before = server_requests(&f->srv);
	assert_int_equal(memory_init_process(fd, 2, PAGES, NULL), DSHM_SUCCESS);
	assert_int_equal(pipeline(fd, ops, n, n), n);
	assert_true(WAIT_UNTIL(server_requests(&f->srv) - before >= 1 + (uint64_t)n,
			       HARNESS_STOP_MS));
	assert_true(server_requests(&f->srv) - before < 1 + (uint64_t)n + 8);
	assert_int_equal(ops[0].status, DSHM_SUCCESS);
	assert_int_equal(ops[1].status, DSHM_SUCCESS);
	assert_int_equal(ops[2].status, DSHM_SUCCESS);
	assert_memory_equal(got, src, SPAN);
	assert_int_equal(ops[3].status, DSHM_SEGMENTATION_FAULT);
	assert_int_equal(ops[4].status, DSHM_SUCCESS);
	assert_memory_equal(small, "crossing", 8);
	assert_int_equal(ops[5].status, DSHM_SUCCESS);
	assert_memory_equal(small2, "\0\0\0\0\0\0\0\0", 8); /* the refused write left nothing */
	assert_int_equal(ops[6].status, DSHM_OUT_OF_FRAME);
	/* The blocking API, on the same socket, reads what the pipelined write put there. */
	check = memory_read(fd, 2, 3, OFF, SPAN, NULL);
	assert_non_null(check);
	assert_int_equal(check->exec_code, DSHM_SUCCESS);
	assert_memory_equal(check->buffer, src, SPAN);
	free(check->buffer);
	free(check);
	free(src);
	free(got);
	free(got2);
	free(past);
	close(fd);
}

static void
test_replies_beyond_the_servers_buffer_flow_while_the_caller_reads(void **state)
{
	enum { SIZE = 512 << 10, N = 48 }; /* 24 MiB of replies in flight at once */
	struct fixture *f = *state;
	int fd = connect_nonblocking(f->addr);
	unsigned char *src = malloc(SIZE), *dst = malloc((size_t)N * SIZE);
	struct dshm_op ops[N + 1];

	assert_non_null(src);
	assert_non_null(dst);
	fill_pattern(src, SIZE, 4);
	assert_int_equal(memory_init_process(fd, 3, SIZE / PAGE, NULL), DSHM_SUCCESS);
	ops[0] = (struct dshm_op){DSHM_OP_WRITE, 3, 0, 0, SIZE, src, 0};
	for (int i = 1; i <= N; i++)
		ops[i] = (struct dshm_op){DSHM_OP_READ, 3, 0, 0, SIZE, dst + (size_t)(i - 1) * SIZE, 0};
	assert_int_equal(pipeline(fd, ops, N + 1, N + 1), N + 1);
	for (int i = 0; i <= N; i++)
		assert_int_equal(ops[i].status, DSHM_SUCCESS);
	for (int i = 0; i < N; i++)
		assert_memory_equal(dst + (size_t)i * SIZE, src, SIZE);
	free(src);
	free(dst);
	close(fd);
}

static void
test_an_op_above_the_servers_max_data_is_refused_in_step(void **state)
{
	enum { CAP = 64 << 10 };
	struct fixture *f = *state;
	unsigned char *src = malloc(2 * CAP), *got = calloc(1, 2 * CAP), *got2 = calloc(1, CAP);
	int fd;

	assert_int_equal(fixture_start(f, "--max-data", "64K", NULL), 0);
	fd = connect_nonblocking(f->addr);
	assert_non_null(src);
	assert_non_null(got);
	assert_non_null(got2);
	fill_pattern(src, 2 * CAP, 5);
	struct dshm_op ops[] = {
		{DSHM_OP_WRITE, 4, 0, 0, CAP, src, 0},
		{DSHM_OP_WRITE, 4, 0, 0, 2 * CAP, src, 0}, /* its body is swallowed */
		{DSHM_OP_READ, 4, 0, 0, 2 * CAP, got, 0},
		{DSHM_OP_READ, 4, 0, 0, CAP, got2, 0},
	};

	assert_int_equal(memory_init_process(fd, 4, 2 * CAP / PAGE, NULL), DSHM_SUCCESS);
	assert_int_equal(pipeline(fd, ops, 4, 4), 4);
	assert_int_equal(ops[0].status, DSHM_SUCCESS);
	assert_int_equal(ops[1].status, DSHM_TOO_LARGE);
	assert_int_equal(ops[2].status, DSHM_TOO_LARGE);
	assert_int_equal(ops[3].status, DSHM_SUCCESS);
	assert_memory_equal(got2, src, CAP);
	free(src);
	free(got);
	free(got2);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		TEST_BOTH(test_hundreds_of_reads_and_writes_in_flight_answer_in_order),
		TEST_BOTH(test_reads_and_writes_of_many_pages_are_one_request_each),
		TEST_ONE(test_replies_beyond_the_servers_buffer_flow_while_the_caller_reads),
		TEST_ONE_BARE(test_an_op_above_the_servers_max_data_is_refused_in_step),
	};

	return cmocka_run_group_tests_name("pipeline", tests, NULL, NULL);
}
