/*
 * ipcs_print.c — dshm-ipcs's text reports: the summary, the segment list
 * in the manner of ipcs -m, the paging processes (-p) and the workers'
 * scoreboard (-w).  Every number comes from one read of the table.
 */
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "ipcs.h"

void
ipcs_print_summary(FILE *f, const struct ipcs *v)
{
	const struct table_header *h = v->t.hdr;
	int64_t now = time(NULL), started = h->started;
	uint64_t nframes = h->nframes, nfree = __atomic_load_n(&h->frames_free, __ATOMIC_RELAXED);
	struct ipcs_proc *p;
	size_t nprocs = ipcs_procs(&v->t, &p);
	struct ipcs_seg *g;
	size_t nsegs = ipcs_segments(&v->t, &g), ndest = 0;
	char version[sizeof(h->version) + 1], up[32];

	snprintf(version, sizeof(version), "%.*s", (int)sizeof(h->version), h->version);
	ipcs_format_uptime(now - started, up, sizeof(up));
	for (size_t i = 0; i < nsegs; i++)
		ndest += (g[i].mode & SEG_MODE_DEST) != 0;
	free(p);
	free(g);
	fprintf(f, "server:     dshmd %s, creator pid %lld, up %s\n", version,
		(long long)atomic_load(&h->creator_pid), up);
	/* Which one: the socket it serves, and how the table was found. */
	fprintf(f, "socket:     %.*s (table key %s)\n", (int)sizeof(h->unix_path),
		h->unix_path[0] != '\0' ? h->unix_path : "none", v->source);
	fprintf(f, "frame size: %u bytes\n", h->frame_size);
	fprintf(f, "frames:     %llu used, %llu free, %llu in all\n",
		(unsigned long long)(nframes - (nfree <= nframes ? nfree : nframes)),
		(unsigned long long)nfree, (unsigned long long)nframes);
	fprintf(f, "arena:      %llu bytes\n", (unsigned long long)(nframes * h->frame_size));
	fprintf(f, "table:      %llu bytes, key 0x%08x, shmid %d, nattch %lu\n",
		(unsigned long long)h->table_size, (unsigned)v->key, v->shmid, v->nattch);
	fprintf(f, "processes:  %zu (at most %u)\n", nprocs, h->max_owners);
	fprintf(f, "segments:   %zu (%zu dest), %llu attachments (at most %u)\n", nsegs, ndest,
		(unsigned long long)ipcs_attachments(&v->t), h->max_attach);
	fprintf(f, "workers:    %u (%u serving)\n", h->nworkers, ipcs_workers_serving(&v->t));
}

void
ipcs_print_segments(FILE *f, const struct ipcs *v)
{
	struct ipcs_seg *g;
	size_t n = ipcs_segments(&v->t, &g);

	fprintf(f, "\n------ dshm segments ------\n");
	fprintf(f, "%-10s %-10s %-10s %-10s %-10s %-10s %s\n", "key", "shmid", "owner", "perms",
		"bytes", "nattch", "status");
	for (size_t i = 0; i < n; i++) {
		char owner[64], status[16];

		ipcs_user_name(g[i].uid, owner, sizeof(owner));
		ipcs_seg_status(g[i].mode, status, sizeof(status));
		/* no trailing blanks when the status is empty */
		fprintf(f, "0x%08x %-10d %-10s %-10o %-10llu %-*llu%s%s\n", (unsigned)g[i].key,
			g[i].shmid, owner, g[i].mode & 0777, (unsigned long long)g[i].segsz,
			status[0] != '\0' ? 10 : 0, (unsigned long long)g[i].nattch,
			status[0] != '\0' ? " " : "", status);
	}
	if (n == 0)
		fprintf(f, "(none)\n");
	free(g);
}

void
ipcs_print_procs(FILE *f, const struct ipcs *v)
{
	uint32_t fs = v->t.hdr->frame_size;
	struct ipcs_proc *p;
	size_t n = ipcs_procs(&v->t, &p);

	fprintf(f, "\n------ paging processes ------\n");
	fprintf(f, "%-12s %-10s %-10s %-10s %s\n", "pid", "uid", "pages", "frames", "bytes");
	for (size_t i = 0; i < n; i++) {
		char uid[16];

		if (p[i].uid == UINT32_MAX)
			snprintf(uid, sizeof(uid), "-");
		else
			snprintf(uid, sizeof(uid), "%u", p[i].uid);
		fprintf(f, "%-12lld %-10s %-10llu %-10llu %llu\n", (long long)p[i].pid, uid,
			(unsigned long long)p[i].pages, (unsigned long long)p[i].frames,
			(unsigned long long)(p[i].frames * fs));
	}
	if (n == 0)
		fprintf(f, "(none)\n");
	free(p);
}

void
ipcs_print_workers(FILE *f, const struct ipcs *v)
{
	const struct table *t = &v->t;
	int64_t now = time(NULL);

	fprintf(f, "\n------ workers ------\n");
	fprintf(f, "%-5s %-8s %-9s %5s %8s %10s %12s %12s %8s  %s\n", "index", "pid", "state",
		"conns", "total", "requests", "bytes-in", "bytes-out", "beat-ms", "last-activity");
	for (uint32_t i = 0; i < t->hdr->nworkers; i++) {
		const struct worker_slot *w = &t->workers[i];
		int64_t last = atomic_load(&w->last_activity);
		int64_t beat = atomic_load(&w->heartbeat_ms), mono = clock_now_ms();
		char ago[32], beat_ago[24];

		if (last == 0)
			snprintf(ago, sizeof(ago), "never");
		else
			snprintf(ago, sizeof(ago), "%llds ago", (long long)(now > last ? now - last : 0));
		/* How long since the worker's loop last turned: the master's --worker-stall watch. */
		if (beat == 0)
			snprintf(beat_ago, sizeof(beat_ago), "-");
		else
			snprintf(beat_ago, sizeof(beat_ago), "%lld",
				 (long long)(mono > beat ? mono - beat : 0));
		fprintf(f, "%-5u %-8d %-9s %5llu %8llu %10llu %12llu %12llu %8s  %s\n", i,
			atomic_load(&w->pid), ipcs_worker_state(atomic_load(&w->state)),
			(unsigned long long)atomic_load(&w->conns_now),
			(unsigned long long)atomic_load(&w->conns_total),
			(unsigned long long)atomic_load(&w->requests),
			(unsigned long long)atomic_load(&w->bytes_in),
			(unsigned long long)atomic_load(&w->bytes_out), beat_ago, ago);
	}
	if (t->hdr->nworkers == 0)
		fprintf(f, "(none)\n");
}
