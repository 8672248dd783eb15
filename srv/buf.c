/*
 * buf.c — growable byte buffers for connections (see buf.h).
 */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

unsigned char *
buf_reserve(struct buf *b, size_t n)
{
	size_t len = buf_len(b);

	if (b->cap - b->end >= n)
		return b->data + b->end;
	/* Slide pending bytes to the front before growing. */
	if (b->start > 0) {
		memmove(b->data, b->data + b->start, len);
		b->start = 0;
		b->end = len;
		if (b->cap - b->end >= n)
			return b->data + b->end;
	}
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - len < n)
		cap *= 2;
	unsigned char *d = realloc(b->data, cap);
	if (d == NULL)
		return NULL;
	b->data = d;
	b->cap = cap;
	return b->data + b->end;
}

void
buf_consume(struct buf *b, size_t n)
{
	b->start += n;
	if (b->start == b->end)
		b->start = b->end = 0;
}

void
buf_trim(struct buf *b, size_t keep)
{
	if (buf_len(b) == 0 && b->cap > keep)
		buf_free(b);
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->start = b->end = b->cap = 0;
}
