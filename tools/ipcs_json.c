/*
 * ipcs_json.c — dshm-ipcs --json: the summary, the segments, the paging
 * processes and the workers as one JSON document, for scripts.
 *
 * Every string goes through json_string, which escapes quotes,
 * backslashes and control characters, so the document is well formed
 * whatever the table holds; an unknown uid is null.
 */
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "ipcs.h"

static void
json_string(FILE *f, const char *s, size_t max)
{
	fputc('"', f);
	for (size_t i = 0; i < max && s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c >= 0x7f) /* the table's strings are ASCII; anything else is escaped */
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void
json_server(FILE *f, const struct ipcs *v)
{
	const struct table_header *h = v->t.hdr;
	uint64_t nframes = h->nframes, nfree = __atomic_load_n(&h->frames_free, __ATOMIC_RELAXED);
	int64_t now = time(NULL);
	char key[16];

	snprintf(key, sizeof(key), "0x%08x", (unsigned)v->key);
	fputs("  \"server\": {\n    \"version\": ", f);
	json_string(f, h->version, sizeof(h->version));
	fputs(",\n    \"key\": ", f);
	json_string(f, key, sizeof(key));
	fprintf(f, ",\n    \"shmid\": %d,\n    \"nattch\": %lu,\n", v->shmid, v->nattch);
	fprintf(f, "    \"creator_pid\": %lld,\n    \"started\": %lld,\n    \"uptime_seconds\": %lld,\n",
		(long long)atomic_load(&h->creator_pid), (long long)h->started,
		(long long)(now > h->started ? now - h->started : 0));
	fprintf(f, "    \"frame_size\": %u,\n    \"frames\": %llu,\n", h->frame_size,
		(unsigned long long)nframes);
	fprintf(f, "    \"frames_used\": %llu,\n    \"frames_free\": %llu,\n",
		(unsigned long long)(nframes - (nfree <= nframes ? nfree : nframes)),
		(unsigned long long)nfree);
	fprintf(f, "    \"arena_bytes\": %llu,\n    \"table_bytes\": %llu,\n",
		(unsigned long long)(nframes * h->frame_size), (unsigned long long)h->table_size);
	fprintf(f, "    \"attachments\": %llu,\n    \"max_attachments\": %u,\n",
		(unsigned long long)ipcs_attachments(&v->t), h->max_attach);
	fprintf(f, "    \"max_processes\": %u,\n    \"workers\": %u,\n    \"workers_serving\": %u\n  }",
		h->max_owners, h->nworkers, ipcs_workers_serving(&v->t));
}

static void
json_procs(FILE *f, const struct ipcs *v)
{
	struct ipcs_proc *p;
	size_t n = ipcs_procs(&v->t, &p);

	fputs("  \"processes\": [", f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s\n    {\"pid\": %lld, \"uid\": ", i ? "," : "", (long long)p[i].pid);
		if (p[i].uid == UINT32_MAX)
			fputs("null", f);
		else
			fprintf(f, "%u", p[i].uid);
		fprintf(f, ", \"pages\": %llu, \"frames\": %llu, \"bytes\": %llu, \"created\": %lld}",
			(unsigned long long)p[i].pages, (unsigned long long)p[i].frames,
			(unsigned long long)(p[i].frames * v->t.hdr->frame_size),
			(long long)p[i].created);
	}
	fputs(n ? "\n  ]" : "]", f);
	free(p);
}

/* One segment: every shmid_ds field, with its key as the text ipcs prints and mode in octal. */
static void
json_segment(FILE *f, const struct ipcs_seg *g, uint32_t frame_size)
{
	char key[16], perms[8];

	snprintf(key, sizeof(key), "0x%08x", (unsigned)g->key);
	snprintf(perms, sizeof(perms), "%03o", g->mode & 0777);
	fprintf(f, "{\"shmid\": %d, \"key\": ", g->shmid);
	json_string(f, key, sizeof(key));
	fputs(", \"perms\": ", f);
	json_string(f, perms, sizeof(perms));
	fprintf(f, ", \"mode\": %u, \"dest\": %s, \"locked\": %s, \"seq\": %u, "
		"\"segsz\": %llu, \"frames\": %llu, \"bytes\": %llu, ",
		g->mode, (g->mode & SEG_MODE_DEST) ? "true" : "false",
		(g->mode & SEG_MODE_LOCKED) ? "true" : "false", g->seq,
		(unsigned long long)g->segsz, (unsigned long long)g->pages,
		(unsigned long long)(g->pages * frame_size));
	fprintf(f, "\"uid\": %u, \"gid\": %u, \"cuid\": %u, \"cgid\": %u, \"cpid\": %d, "
		"\"lpid\": %d, \"nattch\": %llu, \"atime\": %lld, \"dtime\": %lld, "
		"\"ctime\": %lld, \"gen\": %llu}",
		g->uid, g->gid, g->cuid, g->cgid, g->cpid, g->lpid, (unsigned long long)g->nattch,
		(long long)g->atime, (long long)g->dtime, (long long)g->ctime,
		(unsigned long long)g->gen);
}

static void
json_segments(FILE *f, const struct ipcs *v)
{
	struct ipcs_seg *g;
	size_t n = ipcs_segments(&v->t, &g);

	fputs("  \"segments\": [", f);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ",\n    " : "\n    ", f);
		json_segment(f, &g[i], v->t.hdr->frame_size);
	}
	fputs(n ? "\n  ]" : "]", f);
	free(g);
}

/* Milliseconds since the worker's loop last turned; -1 before its first. */
static int64_t
heartbeat_age_ms(const struct worker_slot *w)
{
	int64_t beat = atomic_load(&w->heartbeat_ms), now = clock_now_ms();

	return beat == 0 ? -1 : now > beat ? now - beat : 0;
}

static void
json_workers(FILE *f, const struct ipcs *v)
{
	const struct table *t = &v->t;

	fputs("  \"workers\": [", f);
	for (uint32_t i = 0; i < t->hdr->nworkers; i++) {
		const struct worker_slot *w = &t->workers[i];

		fprintf(f, "%s\n    {\"index\": %u, \"pid\": %d, \"state\": ", i ? "," : "", i,
			atomic_load(&w->pid));
		json_string(f, ipcs_worker_state(atomic_load(&w->state)), 16);
		fprintf(f, ", \"conns_now\": %llu, \"conns_total\": %llu, \"requests\": %llu, "
			"\"bytes_in\": %llu, \"bytes_out\": %llu, \"started\": %lld, "
			"\"last_activity\": %lld, \"heartbeat_age_ms\": %lld, \"respawns\": %llu}",
			(unsigned long long)atomic_load(&w->conns_now),
			(unsigned long long)atomic_load(&w->conns_total),
			(unsigned long long)atomic_load(&w->requests),
			(unsigned long long)atomic_load(&w->bytes_in),
			(unsigned long long)atomic_load(&w->bytes_out),
			(long long)atomic_load(&w->started), (long long)atomic_load(&w->last_activity),
			(long long)heartbeat_age_ms(w), (unsigned long long)atomic_load(&w->respawns));
	}
	fputs(t->hdr->nworkers ? "\n  ]" : "]", f);
}

void
ipcs_print_json(FILE *f, const struct ipcs *v)
{
	fputs("{\n", f);
	json_server(f, v);
	fputs(",\n", f);
	json_segments(f, v);
	fputs(",\n", f);
	json_procs(f, v);
	fputs(",\n", f);
	json_workers(f, v);
	fputs("\n}\n", f);
}
