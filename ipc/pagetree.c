/*
 * pagetree.c — radix page tables kept in the control table's chunk pool.
 *
 * Invariants: a chunk is in use exactly when its bit in chunk_bits is
 * set; a free chunk is all zeros (chunks are cleared when freed), so a
 * fresh chunk maps nothing; chunk 0 is never handed out.
 */
#include "pagetree.h"

#include <string.h>

static uint32_t *
chunk_at(const struct table *t, uint32_t c)
{
	return t->chunks + (uint64_t)c * PT_FANOUT;
}

static uint32_t
chunk_take(struct table *t)
{
	struct table_header *h = t->hdr;
	uint64_t start = h->chunk_hint & ~(uint64_t)7;
	int v = -1;

	if (start < h->nchunks)
		bit_ffc(t->chunk_bits + (start >> 3), (int)(h->nchunks - start), &v);
	if (v >= 0)
		v += (int)start;
	else
		bit_ffc(t->chunk_bits, (int)h->nchunks, &v);
	/* The pool is sized for the worst case: v >= 1 here. */
	bit_set(t->chunk_bits, v);
	h->chunks_free--;
	h->chunk_hint = (uint64_t)v + 1;
	return (uint32_t)v;
}

static void
chunk_put(struct table *t, uint32_t c)
{
	memset(chunk_at(t, c), 0, PT_FANOUT * sizeof(uint32_t));
	bit_clear(t->chunk_bits, c);
	t->hdr->chunks_free++;
	if (c < t->hdr->chunk_hint)
		t->hdr->chunk_hint = c;
}

static uint64_t
span_of(uint32_t height)
{
	return (uint64_t)1 << (PT_SHIFT * height);
}

uint32_t
pagetree_frame(const struct table *t, const struct owner *o, uint64_t page)
{
	uint32_t node = o->root;

	for (uint32_t level = o->height; level > 1; level--)
		node = chunk_at(t, node)[(page >> (PT_SHIFT * (level - 1))) & (PT_FANOUT - 1)];
	return chunk_at(t, node)[page & (PT_FANOUT - 1)] - 1;
}

/* Raises the tree until it can map pages [0, npages). */
static void
raise_height(struct table *t, struct owner *o, uint64_t npages)
{
	while (o->root == CHUNK_NULL || span_of(o->height) < npages) {
		uint32_t c = chunk_take(t);

		if (o->root != CHUNK_NULL)
			chunk_at(t, c)[0] = o->root;
		o->root = c;
		o->height++;
	}
}

void
pagetree_grow(struct table *t, uint32_t slot, uint32_t add)
{
	struct owner *o = &t->owners[slot];
	uint64_t first = atomic_load(&o->npages);

	if (add == 0)
		return;
	raise_height(t, o, first + add);
	for (uint64_t page = first; page < first + add; page++) {
		uint32_t node = o->root;

		for (uint32_t level = o->height; level > 1; level--) {
			uint32_t *e = &chunk_at(t, node)[(page >> (PT_SHIFT * (level - 1))) &
							 (PT_FANOUT - 1)];
			if (*e == CHUNK_NULL)
				*e = chunk_take(t);
			node = *e;
		}
		chunk_at(t, node)[page & (PT_FANOUT - 1)] = frames_take(t, slot) + 1;
	}
}

/*
 * Frees what maps pages >= keep below node (a chunk at level, covering
 * pages from base).  Returns true when the node itself maps nothing below
 * keep any more and so was freed too.
 */
static bool
truncate_node(struct table *t, struct frame_run *run, uint32_t node, uint32_t level,
	      uint64_t base, uint64_t keep)
{
	uint32_t *e = chunk_at(t, node);
	uint64_t step = span_of(level - 1);

	for (uint32_t i = 0; i < PT_FANOUT; i++) {
		uint64_t lo = base + i * step;

		if (e[i] == 0 || lo + step <= keep)
			continue;
		if (level == 1) {
			frames_put(t, run, e[i] - 1);
			e[i] = 0;
		} else if (truncate_node(t, run, e[i], level - 1, lo, keep)) {
			e[i] = CHUNK_NULL;
		}
	}
	if (base >= keep) {
		chunk_put(t, node);
		return true;
	}
	return false;
}

void
pagetree_truncate(struct table *t, uint32_t slot, uint64_t keep)
{
	struct owner *o = &t->owners[slot];
	struct frame_run run = {0, 0};

	if (o->root != CHUNK_NULL && truncate_node(t, &run, o->root, o->height, 0, keep)) {
		o->root = CHUNK_NULL;
		o->height = 0;
	}
	frames_flush(t, &run);
}

static void
visit_node(const struct table *t, uint32_t node, uint32_t level, uint64_t base,
	   const struct pagetree_visitor *v)
{
	const uint32_t *e = chunk_at(t, node);
	uint64_t step = span_of(level - 1);

	if (v->chunk != NULL)
		v->chunk(v->ctx, node);
	for (uint32_t i = 0; i < PT_FANOUT; i++) {
		if (e[i] == 0)
			continue;
		if (level == 1) {
			if (v->page != NULL)
				v->page(v->ctx, base + i, e[i] - 1);
		} else if (e[i] < t->hdr->nchunks) { /* a reader may see a torn table */
			visit_node(t, e[i], level - 1, base + i * step, v);
		}
	}
}

void
pagetree_visit(const struct table *t, const struct owner *o, const struct pagetree_visitor *v)
{
	if (o->root != CHUNK_NULL && o->height >= 1 && o->height <= PT_MAX_HEIGHT)
		visit_node(t, o->root, o->height, 0, v);
}
