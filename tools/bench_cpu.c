/*
 * bench_cpu.c — the CPU time a server spends, for dshm-bench's "server
 * CPU per request": the time on CPU of every thread of a process and of
 * its children (dshmd's master and workers), in nanoseconds, from the
 * scheduler's own accounting (/proc/PID/task/TID/schedstat).
 *
 * A figure that does not depend on the load generator: the client's own
 * costs, and how it happens to be scheduled, do not enter it.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* The time on CPU of every thread of process pid, in ns; 0 when it is gone. */
static uint64_t
process_ns(long pid)
{
	char path[64];
	struct dirent *e;
	uint64_t total = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char stat[320];
		unsigned long long ns;
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(stat, sizeof(stat), "/proc/%ld/task/%s/schedstat", pid, e->d_name);
		if ((f = fopen(stat, "r")) == NULL)
			continue;
		if (fscanf(f, "%llu", &ns) == 1)
			total += ns;
		fclose(f);
	}
	closedir(d);
	return total;
}

/* The parent of process pid, or -1. */
static long
parent_of(const char *pid)
{
	char path[300], line[256];
	long ppid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "PPid:", 5) == 0) {
			ppid = strtol(line + 5, NULL, 10);
			break;
		}
	fclose(f);
	return ppid;
}

uint64_t
bench_cpu_ns(long pid)
{
	uint64_t total;
	struct dirent *e;
	DIR *d;

	if (pid <= 0)
		return 0;
	total = process_ns(pid);
	if ((d = opendir("/proc")) == NULL)
		return total;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && parent_of(e->d_name) == pid)
			total += process_ns(strtol(e->d_name, NULL, 10));
	closedir(d);
	return total;
}
