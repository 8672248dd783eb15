/*
 * bench_memcached.c — dshm-bench's memcached backend: the text protocol,
 * spoken directly.  Key k of connection i is "b:i:k", a whole value of
 * `size` bytes: a read is `get`, a write is `set` (flags 0, no expiry).
 * No setup or teardown: the prefill writes every key.
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

static size_t
encode(struct bench_conn *c, const struct bench_slot *s, unsigned char *out)
{
	size_t n = 0;

	n += put(out + n, s->op == BOP_WRITE ? "set " : "get ");
	memcpy(out + n, c->name, c->name_len);
	n += c->name_len;
	n += bench_utoa(out + n, s->key);
	if (s->op == BOP_WRITE) {
		n += put(out + n, " 0 0 ");
		n += bench_utoa(out + n, c->cfg->size);
		n += put(out + n, "\r\n");
		bench_fill(c, s->key, s->version, out + n);
		n += c->cfg->size;
	}
	n += put(out + n, "\r\n");
	return n;
}

/* The length of the first line of in, "\r\n" included; 0 if incomplete, -1 if too long. */
static ssize_t
line_len(const unsigned char *in, size_t len)
{
	const unsigned char *nl = memchr(in, '\n', len < MAX_LINE ? len : MAX_LINE);

	if (!nl)
		return len >= MAX_LINE ? -1 : 0;
	return nl - in + 1;
}

static ssize_t
parse(struct bench_conn *c, const struct bench_slot *s, const unsigned char *in, size_t len,
      const unsigned char **data, size_t *dlen, bool *ok)
{
	ssize_t l = line_len(in, len);

	if (l <= 0)
		return l;
	*ok = false;
	if (s->op == BOP_WRITE) {
		*ok = l == 8 && memcmp(in, "STORED\r\n", 8) == 0;
		return l;
	}
	if (l >= 6 && memcmp(in, "VALUE ", 6) == 0) {
		const unsigned char *sp = in + l - 2;

		while (sp > in && sp[-1] != ' ')
			sp--;
		size_t bytes = strtoul((const char *)sp, NULL, 10);
		size_t total = (size_t)l + bytes + 2 + 5;

		if (bytes > c->cfg->size + 64)
			return -1;
		if (len < total)
			return 0;
		if (memcmp(in + l + bytes, "\r\nEND\r\n", 7) != 0)
			return -1;
		*ok = true;
		*data = in + l;
		*dlen = bytes;
		return (ssize_t)total;
	}
	return l; /* END (a miss), or an error line */
}

const struct bench_backend bench_memcached = {
	.name = "memcached",
	.req_overhead = 96,
	.rep_overhead = 96,
	.encode = encode,
	.parse = parse,
};
