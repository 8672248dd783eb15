/*
 * stats.c — formats the scoreboard's counters and the allocator's sizes
 * (see stats.h).  Totals are sums over the workers' rows; each row is
 * written by its worker only, so reading it needs no lock.  Processes,
 * segments and attachments are counted from the owner slots and the
 * attachment rows, also without a lock: a moment's view.
 */
#include "stats.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "proto.h"

struct out {
	char *buf;
	size_t len, need;
};

static void __attribute__((format(printf, 2, 3)))
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->need < o->len ? o->buf + o->need : NULL,
		      o->need < o->len ? o->len - o->need : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->need += (size_t)n;
}

/* Owners in use of kind (OWNER_PROCESS, OWNER_SEGMENT). */
static uint32_t
count_owners(const struct table *t, uint32_t kind)
{
	uint32_t n = 0;

	for (uint32_t s = 0; s < t->hdr->max_owners; s++)
		n += atomic_load(&t->owners[s].state) == OWNER_USED &&
		     atomic_load(&t->owners[s].kind) == kind;
	return n;
}

/* Attachment rows in use (a row being filled counts: it is taken). */
static uint32_t
count_attachments(const struct table *t)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < t->hdr->max_attach; i++)
		n += atomic_load(&t->attach[i].state) != 0;
	return n;
}

void
stats_take(const struct table *t, struct stats_snapshot *s)
{
	const struct table_header *h = t->hdr;

	*s = (struct stats_snapshot){0};
	for (uint32_t w = 0; w < h->nworkers; w++) {
		const struct worker_slot *ws = &t->workers[w];

		s->workers_serving += atomic_load(&ws->state) == WORKER_SERVING;
		s->conns_now += atomic_load(&ws->conns_now);
		s->conns_total += atomic_load(&ws->conns_total);
		s->conns_refused += atomic_load(&ws->conns_refused);
		s->requests += atomic_load(&ws->requests);
		s->bytes_in += atomic_load(&ws->bytes_in);
		s->bytes_out += atomic_load(&ws->bytes_out);
		s->worker_restarts += atomic_load(&ws->respawns);
		for (int i = 0; i < STATS_OPS; i++)
			s->ops[i] += atomic_load(&ws->op_requests[i]);
		for (int i = 0; i < STATS_ERRORS; i++)
			s->errors[i] += atomic_load(&ws->errors[i]);
	}
	s->uptime = (uint64_t)(time(NULL) - h->started);
	s->frame_size = h->frame_size;
	s->frames = h->nframes;
	s->frames_free = h->frames_free;
	s->frames_used = h->nframes - s->frames_free;
	s->processes = count_owners(t, OWNER_PROCESS);
	s->segments = count_owners(t, OWNER_SEGMENT);
	s->attachments = count_attachments(t);
	s->workers = h->nworkers;
}

size_t
stats_format(const struct table *t, char *buf, size_t len)
{
	struct out o = {buf, len, 0};
	struct stats_snapshot s;

	if (len > 0)
		buf[0] = '\0';
	stats_take(t, &s);
	put(&o, "version %s\n", t->hdr->version);
	put(&o, "uptime %llu\n", (unsigned long long)s.uptime);
	put(&o, "frame_size %u\n", s.frame_size);
	put(&o, "frames %llu\n", (unsigned long long)s.frames);
	put(&o, "frames_used %llu\n", (unsigned long long)s.frames_used);
	put(&o, "frames_free %llu\n", (unsigned long long)s.frames_free);
	put(&o, "processes %u\n", s.processes);
	put(&o, "segments %u\n", s.segments);
	put(&o, "attachments %u\n", s.attachments);
	put(&o, "workers %u\n", s.workers);
	put(&o, "workers_serving %u\n", s.workers_serving);
	put(&o, "worker_restarts %llu\n", (unsigned long long)s.worker_restarts);
	put(&o, "conns_now %llu\n", (unsigned long long)s.conns_now);
	put(&o, "conns_total %llu\n", (unsigned long long)s.conns_total);
	put(&o, "conns_refused %llu\n", (unsigned long long)s.conns_refused);
	put(&o, "requests %llu\n", (unsigned long long)s.requests);
	for (int i = 0; i < STATS_OPS; i++) {
		const char *name = proto_opcode_name((uint8_t)i);

		if (s.ops[i] > 0 || name != NULL)
			put(&o, "requests_%s %llu\n", name != NULL ? name : "other",
			    (unsigned long long)s.ops[i]);
	}
	put(&o, "bytes_in %llu\n", (unsigned long long)s.bytes_in);
	put(&o, "bytes_out %llu\n", (unsigned long long)s.bytes_out);
	for (int i = 0; i < STATS_ERRORS; i++)
		if (s.errors[i] > 0)
			put(&o, "errors_%d %llu\n", -200 - i, (unsigned long long)s.errors[i]);
	return o.need;
}
