/*
 * ipcs_procs.c — snapshots of what the table holds, read without locks:
 * the paging processes with their frame counts, frames in use, workers
 * serving; and the names dshm-ipcs gives to states and durations.
 *
 * A snapshot of a live table is a moment's view: a process may come or
 * go between two reads, so counts are taken from one pass each.  The
 * processes come sorted by pid.
 */
#include <stdlib.h>

#include "ipcs.h"

static int
by_pid(const void *a, const void *b)
{
	const struct ipcs_proc *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

size_t
ipcs_procs(const struct table *t, struct ipcs_proc **out)
{
	const struct table_header *h = t->hdr;
	uint32_t max = h->max_owners, n = 0;
	uint64_t nframes = h->nframes;
	struct ipcs_proc *p;
	uint32_t *at;

	*out = NULL;
	p = calloc(max ? max : 1, sizeof(*p));
	at = calloc(max ? max : 1, sizeof(*at)); /* slot -> index in p, + 1 */
	if (p == NULL || at == NULL) {
		free(p);
		free(at);
		return 0;
	}
	for (uint32_t s = 0; s < max; s++) {
		const struct owner *o = &t->owners[s];

		if (atomic_load(&o->state) != OWNER_USED || atomic_load(&o->kind) != OWNER_PROCESS)
			continue;
		p[n].slot = s;
		p[n].pid = atomic_load(&o->id);
		p[n].uid = __atomic_load_n(&o->uid, __ATOMIC_RELAXED);
		p[n].pages = atomic_load(&o->npages);
		p[n].created = __atomic_load_n(&o->created, __ATOMIC_RELAXED);
		at[s] = ++n;
	}
	for (uint64_t f = 0; f < nframes; f++) {
		uint32_t fo = atomic_load(&t->frame_owner[f]);

		if (fo != 0 && fo - 1 < max && at[fo - 1] != 0)
			p[at[fo - 1] - 1].frames++;
	}
	free(at);
	if (n == 0) {
		free(p);
		return 0;
	}
	qsort(p, n, sizeof(*p), by_pid);
	*out = p;
	return n;
}

uint64_t
ipcs_frames_used(const struct table *t)
{
	uint64_t used = 0;

	for (uint64_t f = 0; f < t->hdr->nframes; f++)
		if (atomic_load(&t->frame_owner[f]) != 0)
			used++;
	return used;
}

uint32_t
ipcs_workers_serving(const struct table *t)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < t->hdr->nworkers; i++)
		if (atomic_load(&t->workers[i].state) == WORKER_SERVING)
			n++;
	return n;
}

const char *
ipcs_worker_state(uint32_t state)
{
	switch (state) {
	case WORKER_EMPTY:
		return "empty";
	case WORKER_STARTING:
		return "starting";
	case WORKER_SERVING:
		return "serving";
	case WORKER_STOPPING:
		return "stopping";
	default:
		return "unknown";
	}
}

void
ipcs_format_uptime(int64_t s, char *buf, size_t len)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(buf, len, "%lldd %02lld:%02lld:%02lld", (long long)(s / 86400),
			 (long long)(s / 3600 % 24), (long long)(s / 60 % 60), (long long)(s % 60));
	else
		snprintf(buf, len, "%02lld:%02lld:%02lld", (long long)(s / 3600),
			 (long long)(s / 60 % 60), (long long)(s % 60));
}
