/*
 * stats.h — dshmd's live counters as text, one "name value" line each (in
 * the manner of memcached's stats): what a STATS request returns and what
 * dshm-ipcs --stats prints, made by one function so the two agree.
 */
#ifndef DSHM_IPC_STATS_H
#define DSHM_IPC_STATS_H

#include <stddef.h>

#include "table.h"

/*
 * Writes the counters of t (read without locks: a snapshot) into buf
 * (NUL-terminated when len > 0) and returns the length the whole text
 * needs, as snprintf does.
 */
size_t stats_format(const struct table *t, char *buf, size_t len);

#endif /* DSHM_IPC_STATS_H */
