/*
 * backing.c — the memory this host can back (see backing.h).
 *
 * Invariant: the limit is the least of the bounds that apply, each read
 * from the kernel at the moment of asking (sysinfo, the cgroup v2 files
 * of this process's cgroup and its ancestors, statvfs); a bound that
 * cannot be read does not apply.
 */
#include "backing.h"

#include <inttypes.h>
#include <libutil.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>

/* Bytes as "24G" (libbsd's humanize_number). */
static const char *
human(uint64_t v, char *buf, size_t len)
{
	/* Autoscaling picks the smallest unit that fits: 6 bytes make "24G", "1.5T", "512M". */
	if (len < 6 ||
	    humanize_number(buf, 6, (int64_t)v, "", HN_AUTOSCALE, HN_B | HN_NOSPACE | HN_DECIMAL) < 0)
		snprintf(buf, len, "%" PRIu64 "B", v % 1000000000000000000u);
	return buf;
}

/* A cgroup v2 limit file: its number, or UINT64_MAX for "max" or no file. */
static uint64_t
cgroup_value(const char *dir, const char *file)
{
	char path[512], text[64];
	uint64_t v = UINT64_MAX;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/fs/cgroup%s/%s", dir, file);
	if ((f = fopen(path, "r")) == NULL)
		return UINT64_MAX;
	if (fgets(text, sizeof(text), f) != NULL && strncmp(text, "max", 3) != 0)
		v = strtoull(text, NULL, 10);
	fclose(f);
	return v;
}

/* This process's cgroup v2 path ("/system.slice/dshmd.service"), or false. */
static bool
own_cgroup(char *path, size_t len)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/self/cgroup", "r");

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(path, len, "%s", line + 3);
			found = true;
		}
	fclose(f);
	return found;
}

/*
 * The least memory.max (plus its memory.swap.max, else the host's swap)
 * of the cgroup and its ancestors; UINT64_MAX when none is set.
 */
static uint64_t
cgroup_limit(uint64_t swap, char *where, size_t len)
{
	char path[512];
	uint64_t best = UINT64_MAX;

	if (!own_cgroup(path, sizeof(path)))
		return UINT64_MAX;
	for (;;) {
		uint64_t mem = cgroup_value(path, "memory.max");

		if (mem != UINT64_MAX) {
			uint64_t sw = cgroup_value(path, "memory.swap.max");
			uint64_t total = mem + (sw < swap ? sw : swap);

			if (total < best) {
				best = total;
				snprintf(where, len, "%s", path[0] ? path : "/");
			}
		}
		char *slash = strrchr(path, '/');

		if (slash == NULL || path[0] == '\0' || strcmp(path, "/") == 0)
			break;
		*slash = '\0';
	}
	return best;
}

uint64_t
backing_limit(const char *persist_dir, const char *persist_file, char *why, size_t len)
{
	char a[24], b[24], c[24], where[512] = "";
	struct sysinfo si;
	uint64_t ram = 0, swap = 0, limit = UINT64_MAX, cg;
	struct statvfs vfs;

	snprintf(why, len, "no bound known");
	if (sysinfo(&si) == 0) {
		ram = (uint64_t)si.totalram * si.mem_unit;
		swap = (uint64_t)si.totalswap * si.mem_unit;
		limit = ram + swap;
		snprintf(why, len, "%s of RAM and %s of swap", human(ram, a, sizeof(a)),
			 human(swap, b, sizeof(b)));
	}
	cg = cgroup_limit(swap, where, sizeof(where));
	if (cg < limit) {
		limit = cg;
		snprintf(why, len, "the memory cgroup %s allows %s (memory.max and swap)", where,
			 human(cg, a, sizeof(a)));
	}
	if (persist_dir != NULL && statvfs(persist_dir, &vfs) == 0) {
		struct stat st;
		uint64_t held = persist_file != NULL && stat(persist_file, &st) == 0
					? (uint64_t)st.st_blocks * 512
					: 0;
		uint64_t room = (uint64_t)vfs.f_bavail * vfs.f_frsize + held;

		if (room < limit) {
			limit = room;
			snprintf(why, len, "%s has %s free%s%s", persist_dir, human(room - held, a, sizeof(a)),
				 held ? " besides the " : "", held ? human(held, c, sizeof(c)) : "");
			if (held)
				snprintf(why + strlen(why), len - strlen(why), " its arena file holds");
		}
	}
	return limit;
}
