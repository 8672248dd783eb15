/*
 * ipcs_prom.c — dshm-ipcs --stats --prometheus: the live counters of
 * --stats in the Prometheus text exposition format (version 0.0.4), for a
 * node exporter's textfile collector or any scraper that runs a command.
 *
 * Invariants: every metric is named dshm_*, has one HELP and one TYPE
 * line, and is a counter (ending in _total) only when it never goes down
 * while dshmd runs; per-operation and per-code counts are labels of one
 * metric, never metrics of their own.
 */
#include "ipcs.h"

#include "proto.h"
#include "stats.h"

static void
metric(FILE *out, const char *name, const char *type, const char *help, unsigned long long v)
{
	fprintf(out, "# HELP dshm_%s %s\n# TYPE dshm_%s %s\ndshm_%s %llu\n", name, help, name, type,
		name, v);
}

void
ipcs_print_prometheus(FILE *out, const struct ipcs *v)
{
	struct stats_snapshot s;

	stats_take(&v->t, &s);
	metric(out, "uptime_seconds", "gauge", "Seconds since the control table was made.",
	       s.uptime);
	metric(out, "frame_size_bytes", "gauge", "Bytes in one frame of the arena.", s.frame_size);
	metric(out, "frames", "gauge", "Frames in the arena.", s.frames);
	metric(out, "frames_used", "gauge", "Frames owned by processes and segments.",
	       s.frames_used);
	metric(out, "frames_free", "gauge", "Frames free to allocate.", s.frames_free);
	metric(out, "processes", "gauge", "Paging processes in the table.", s.processes);
	metric(out, "segments", "gauge", "System V segments in the table.", s.segments);
	metric(out, "attachments", "gauge", "Segment attachments held by connections.",
	       s.attachments);
	metric(out, "workers", "gauge", "Worker processes configured.", s.workers);
	metric(out, "workers_serving", "gauge", "Worker processes serving now.", s.workers_serving);
	metric(out, "worker_restarts_total", "counter",
	       "Workers the master started again after one died.", s.worker_restarts);
	metric(out, "connections", "gauge", "Client connections open now.", s.conns_now);
	metric(out, "connections_total", "counter", "Client connections accepted.", s.conns_total);
	metric(out, "connections_refused_total", "counter",
	       "Connections closed at once by a limit, or accepts that failed.", s.conns_refused);
	metric(out, "requests_total", "counter", "Requests served.", s.requests);
	metric(out, "received_bytes_total", "counter", "Bytes received from clients.", s.bytes_in);
	metric(out, "sent_bytes_total", "counter", "Bytes sent to clients.", s.bytes_out);

	fputs("# HELP dshm_operation_requests_total Requests served, by operation.\n"
	      "# TYPE dshm_operation_requests_total counter\n",
	      out);
	for (int i = 0; i < STATS_OPS; i++) {
		const char *name = proto_opcode_name((uint8_t)i);

		if (s.ops[i] > 0 || name != NULL)
			fprintf(out, "dshm_operation_requests_total{op=\"%s\"} %llu\n",
				name != NULL ? name : "other", (unsigned long long)s.ops[i]);
	}
	fputs("# HELP dshm_errors_total Replies with an error status, by code (<dshm.h>).\n"
	      "# TYPE dshm_errors_total counter\n",
	      out);
	for (int i = 0; i < STATS_ERRORS; i++)
		if (s.errors[i] > 0)
			fprintf(out, "dshm_errors_total{code=\"%d\"} %llu\n", -200 - i,
				(unsigned long long)s.errors[i]);
}
