/*
 * ipcrm_persist.c — the arenas dshmd --persist NAME keeps in
 * /dev/shm/dshm-NAME: whether one is still in use, removing one, and
 * naming those whose control table is gone.
 *
 * Invariant: an object is removed only when it belongs to this user and
 * no process maps it (a running dshmd --persist maps it in its master and
 * every worker); the caller has already made sure no table of that name
 * is left or attached.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipcrm.h"

#define SHM_DIR "/dev/shm"
#define OBJECT_PREFIX "dshm-"

bool
ipcrm_persist_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n < 64 && name[0] != '.' &&
	       strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789._-") == n;
}

/* Whether one line of /proc/PID/maps maps path (possibly since unlinked). */
static bool
maps_line_names(const char *line, const char *path)
{
	const char *at = strstr(line, path);
	char after;

	if (at == NULL)
		return false;
	after = at[strlen(path)];
	return at > line && at[-1] == ' ' && (after == '\n' || after == '\0' || after == ' ');
}

/* A process (not this one) that maps path, or 0 when none is seen. */
static pid_t
object_mapper(const char *path)
{
	DIR *proc = opendir("/proc");
	struct dirent *d;
	pid_t found = 0;

	if (proc == NULL)
		return 0;
	while (found == 0 && (d = readdir(proc)) != NULL) {
		char maps[64], line[4096];
		long pid;
		FILE *f;

		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		pid = strtol(d->d_name, NULL, 10);
		if (pid <= 0 || pid == (long)getpid())
			continue;
		snprintf(maps, sizeof(maps), "/proc/%ld/maps", pid);
		if ((f = fopen(maps, "re")) == NULL)
			continue; /* gone, or not ours to read */
		while (fgets(line, sizeof(line), f) != NULL)
			if (maps_line_names(line, path)) {
				found = (pid_t)pid;
				break;
			}
		fclose(f);
	}
	closedir(proc);
	return found;
}

int
ipcrm_persist_remove_object(const char *name, bool dry, bool *found)
{
	char obj[80], path[96];
	struct stat st;
	pid_t user;
	int fd;

	snprintf(obj, sizeof(obj), "/" OBJECT_PREFIX "%s", name);
	snprintf(path, sizeof(path), SHM_DIR "%s", obj);
	*found = false;
	if ((fd = shm_open(obj, O_RDONLY | O_CLOEXEC, 0)) < 0) {
		if (errno == ENOENT)
			return 0;
		fprintf(stderr, "dshm-ipcrm: shm_open(%s): %s\n", obj, strerror(errno));
		return 1;
	}
	*found = true;
	if (fstat(fd, &st) < 0) {
		fprintf(stderr, "dshm-ipcrm: fstat(%s): %s\n", path, strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	if (st.st_uid != geteuid()) {
		fprintf(stderr, "dshm-ipcrm: not removing %s: it belongs to uid %u, not to this "
			"user\n", path, (unsigned)st.st_uid);
		return 1;
	}
	if ((user = object_mapper(path)) != 0) {
		fprintf(stderr, "dshm-ipcrm: not removing %s: pid %d maps it (a dshmd --persist %s "
			"still runs or starts; stop it first)\n", path, (int)user, name);
		return 1;
	}
	if (dry) {
		printf("would remove %s (the arena of --persist %s, %lld bytes)\n", path, name,
		       (long long)st.st_size);
		return 0;
	}
	if (shm_unlink(obj) < 0 && errno != ENOENT) {
		fprintf(stderr, "dshm-ipcrm: shm_unlink(%s): %s\n", obj, strerror(errno));
		return 1;
	}
	printf("removed %s (the arena of --persist %s)\n", path, name);
	return 0;
}

void
ipcrm_persist_report_orphans(bool (*has_table)(const char *name, void *ctx), void *ctx)
{
	DIR *dir = opendir(SHM_DIR);
	struct dirent *d;

	if (dir == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		const char *name = d->d_name + strlen(OBJECT_PREFIX);
		struct stat st;

		if (strncmp(d->d_name, OBJECT_PREFIX, strlen(OBJECT_PREFIX)) != 0 ||
		    !ipcrm_persist_name_ok(name) ||
		    fstatat(dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_uid != geteuid() || has_table(name, ctx))
			continue;
		printf("kept: " SHM_DIR "/%s has no control table (use --persist %s to remove it)\n",
		       d->d_name, name);
	}
	closedir(dir);
}
