/*
 * pagetree.h — an owner's page table: a radix tree of fixed-size chunks
 * mapping page numbers to frames.
 *
 * A tree of height h maps pages [0, FANOUT^h); interior entries hold chunk
 * indices, leaf entries hold frame + 1 (0: no frame).  Lookups need the
 * owner's lock or the alloc lock; changes need both (see layout.h).
 */
#ifndef DSHM_IPC_PAGETREE_H
#define DSHM_IPC_PAGETREE_H

#include "frames.h"

/* The frame of page, which must be below the owner's npages. */
uint32_t pagetree_frame(const struct table *t, const struct owner *o, uint64_t page);

/*
 * Maps pages [npages, npages + add) of owner slot to fresh frames.  The
 * caller holds both locks and checked that add frames are free; the chunk
 * pool is sized so that it cannot run out.  npages itself is not changed.
 */
void pagetree_grow(struct table *t, uint32_t slot, uint32_t add);

/*
 * Frees every frame (zeroed) and chunk that maps a page >= keep, wherever
 * the tree reaches: it also cleans up after a grow that died half-way.
 * keep == 0 empties the tree.
 */
void pagetree_truncate(struct table *t, uint32_t slot, uint64_t keep);

/* Calls fn for every mapped page (in page order) and every chunk of the tree. */
struct pagetree_visitor {
	void (*page)(void *ctx, uint64_t page, uint32_t frame);
	void (*chunk)(void *ctx, uint32_t chunk);
	void *ctx;
};
void pagetree_visit(const struct table *t, const struct owner *o,
		    const struct pagetree_visitor *v);

#endif /* DSHM_IPC_PAGETREE_H */
