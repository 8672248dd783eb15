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

size_t
stats_format(const struct table *t, char *buf, size_t len)
{
	const struct table_header *h = t->hdr;
	struct out o = {buf, len, 0};
	uint64_t conns_now = 0, conns_total = 0, refused = 0, requests = 0, in = 0, out = 0;
	uint64_t ops[STATS_OPS] = {0}, errors[STATS_ERRORS] = {0};
	uint32_t serving = 0;

	if (len > 0)
		buf[0] = '\0';
	for (uint32_t w = 0; w < h->nworkers; w++) {
		const struct worker_slot *ws = &t->workers[w];

		serving += atomic_load(&ws->state) == WORKER_SERVING;
		conns_now += atomic_load(&ws->conns_now);
		conns_total += atomic_load(&ws->conns_total);
		refused += atomic_load(&ws->conns_refused);
		requests += atomic_load(&ws->requests);
		in += atomic_load(&ws->bytes_in);
		out += atomic_load(&ws->bytes_out);
		for (int i = 0; i < STATS_OPS; i++)
			ops[i] += atomic_load(&ws->op_requests[i]);
		for (int i = 0; i < STATS_ERRORS; i++)
			errors[i] += atomic_load(&ws->errors[i]);
	}
	put(&o, "version %s\n", h->version);
	put(&o, "uptime %lld\n", (long long)(time(NULL) - h->started));
	put(&o, "frame_size %u\n", h->frame_size);
	put(&o, "frames %llu\n", (unsigned long long)h->nframes);
	put(&o, "frames_used %llu\n", (unsigned long long)(h->nframes - h->frames_free));
	put(&o, "frames_free %llu\n", (unsigned long long)h->frames_free);
	put(&o, "processes %u\n", count_owners(t, OWNER_PROCESS));
	put(&o, "segments %u\n", count_owners(t, OWNER_SEGMENT));
	put(&o, "attachments %u\n", count_attachments(t));
	put(&o, "workers %u\n", h->nworkers);
	put(&o, "workers_serving %u\n", serving);
	put(&o, "conns_now %llu\n", (unsigned long long)conns_now);
	put(&o, "conns_total %llu\n", (unsigned long long)conns_total);
	put(&o, "conns_refused %llu\n", (unsigned long long)refused);
	put(&o, "requests %llu\n", (unsigned long long)requests);
	for (int i = 0; i < STATS_OPS; i++) {
		const char *name = proto_opcode_name((uint8_t)i);

		if (ops[i] > 0 || name != NULL)
			put(&o, "requests_%s %llu\n", name != NULL ? name : "other",
			    (unsigned long long)ops[i]);
	}
	put(&o, "bytes_in %llu\n", (unsigned long long)in);
	put(&o, "bytes_out %llu\n", (unsigned long long)out);
	for (int i = 0; i < STATS_ERRORS; i++)
		if (errors[i] > 0)
			put(&o, "errors_%d %llu\n", -200 - i, (unsigned long long)errors[i]);
	return o.need;
}
