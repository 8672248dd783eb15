/*
 * buf.h — a connection's byte buffer: bytes [start, end) of data are
 * pending; the buffer grows on demand up to what one message needs and
 * gives large memory back once it is empty.
 */
#ifndef DSHM_SRV_BUF_H
#define DSHM_SRV_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	unsigned char *data;
	size_t start, end, cap;
};

static inline size_t
buf_len(const struct buf *b)
{
	return b->end - b->start;
}

/* Makes room for n more bytes after end; returns where they go, NULL when memory runs out. */
unsigned char *buf_reserve(struct buf *b, size_t n);

/* Drops n bytes from the front. */
void buf_consume(struct buf *b, size_t n);

/* Frees the memory of an empty buffer larger than keep bytes. */
void buf_trim(struct buf *b, size_t keep);

void buf_free(struct buf *b);

#endif /* DSHM_SRV_BUF_H */
