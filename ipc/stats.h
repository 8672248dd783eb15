/*
 * stats.h — dshmd's live counters as text, one "name value" line each (in
 * the manner of memcached's stats): what a STATS request returns and what
 * dshm-ipcs --stats prints, made by one function so the two agree.
 */
#ifndef DSHM_IPC_STATS_H
#define DSHM_IPC_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "table.h"

/* The counters of one moment, summed over the workers. */
struct stats_snapshot {
	uint64_t uptime, frames, frames_used, frames_free;
	uint32_t frame_size, processes, segments, attachments, workers, workers_serving;
	uint64_t conns_now, conns_total, conns_refused, requests, bytes_in, bytes_out;
	uint64_t worker_restarts;
	uint64_t ops[STATS_OPS], errors[STATS_ERRORS];
};

/* Reads the counters of t without locks: each is whole, together they are a moment's view. */
void stats_take(const struct table *t, struct stats_snapshot *s);

/*
 * Writes the counters of t (read without locks: a snapshot) into buf
 * (NUL-terminated when len > 0) and returns the length the whole text
 * needs, as snprintf does.
 */
size_t stats_format(const struct table *t, char *buf, size_t len);

#endif /* DSHM_IPC_STATS_H */
