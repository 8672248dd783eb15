/*
 * bench_redis.c — dshm-bench's two Redis backends, RESP spoken directly.
 *
 * redis-range: connection i keeps one string "b:i:" of keys x size bytes;
 * key k is the range at k * size, read with GETRANGE and written with
 * SETRANGE (the access pattern of pages inside a larger object).
 * redis-kv: key k is its own string "b:i:k", read with GET and written with
 * SET.  No setup or teardown: the prefill writes every key.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_LINE 256

static size_t
put(unsigned char *out, const char *s)
{
	size_t n = strlen(s);

	memcpy(out, s, n);
	return n;
}

/* One bulk string argument: $len\r\nbytes\r\n. */
static size_t
put_bulk(unsigned char *out, const void *p, size_t len)
{
	size_t n = 0;

	out[n++] = '$';
	n += bench_utoa(out + n, len);
	n += put(out + n, "\r\n");
	memcpy(out + n, p, len);
	n += len;
	return n + put(out + n, "\r\n");
}

static size_t
put_bulk_num(unsigned char *out, uint64_t v)
{
	unsigned char d[20];

	return put_bulk(out, d, bench_utoa(d, v));
}

/* The value's bulk header, then the value itself and its \r\n. */
static size_t
put_value(struct bench_conn *c, const struct bench_slot *s, unsigned char *out)
{
	size_t n = 0;

	out[n++] = '$';
	n += bench_utoa(out + n, c->cfg->size);
	n += put(out + n, "\r\n");
	bench_fill(c, s->key, s->version, out + n);
	n += c->cfg->size;
	return n + put(out + n, "\r\n");
}

static size_t
encode_range(struct bench_conn *c, const struct bench_slot *s, unsigned char *out)
{
	uint64_t off = (uint64_t)s->key * c->cfg->size;
	size_t n = 0;

	if (s->op == BOP_WRITE) {
		n += put(out, "*4\r\n$8\r\nSETRANGE\r\n");
		n += put_bulk(out + n, c->name, c->name_len);
		n += put_bulk_num(out + n, off);
		return n + put_value(c, s, out + n);
	}
	n += put(out, "*4\r\n$8\r\nGETRANGE\r\n");
	n += put_bulk(out + n, c->name, c->name_len);
	n += put_bulk_num(out + n, off);
	return n + put_bulk_num(out + n, off + c->cfg->size - 1);
}

static size_t
encode_kv(struct bench_conn *c, const struct bench_slot *s, unsigned char *out)
{
	unsigned char key[64];
	size_t klen = c->name_len, n = 0;

	memcpy(key, c->name, klen);
	klen += bench_utoa(key + klen, s->key);
	n += put(out, s->op == BOP_WRITE ? "*3\r\n$3\r\nSET\r\n" : "*2\r\n$3\r\nGET\r\n");
	n += put_bulk(out + n, key, klen);
	if (s->op == BOP_WRITE)
		n += put_value(c, s, out + n);
	return n;
}

/* Parses one RESP reply: a status, error or integer line, or a bulk string. */
static ssize_t
parse(struct bench_conn *c, const struct bench_slot *s, const unsigned char *in, size_t len,
      const unsigned char **data, size_t *dlen, bool *ok)
{
	const unsigned char *nl = memchr(in, '\n', len < MAX_LINE ? len : MAX_LINE);

	if (!nl)
		return len >= MAX_LINE ? -1 : 0;
	size_t l = (size_t)(nl - in) + 1;

	*ok = false;
	switch (in[0]) {
	case '+':
	case ':':
		*ok = s->op == BOP_WRITE;
		return (ssize_t)l;
	case '-':
		return (ssize_t)l;
	case '$': {
		long bytes = strtol((const char *)in + 1, NULL, 10);

		if (bytes < 0)
			return (ssize_t)l; /* nil: a miss */
		if ((size_t)bytes > c->cfg->size + 64)
			return -1;
		if (len < l + (size_t)bytes + 2)
			return 0;
		*ok = s->op == BOP_READ;
		*data = in + l;
		*dlen = (size_t)bytes;
		return (ssize_t)(l + (size_t)bytes + 2);
	}
	default:
		return -1;
	}
}

const struct bench_backend bench_redis_range = {
	.name = "redis-range",
	.req_overhead = 128,
	.rep_overhead = 32,
	.encode = encode_range,
	.parse = parse,
};

const struct bench_backend bench_redis_kv = {
	.name = "redis-kv",
	.req_overhead = 128,
	.rep_overhead = 32,
	.encode = encode_kv,
	.parse = parse,
};
