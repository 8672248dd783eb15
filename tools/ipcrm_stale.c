/*
 * ipcrm_stale.c — what dshm-ipcrm --stale removes, and what it refuses.
 *
 * Invariants: a control table is removed only when it carries dshm's
 * header, belongs to this user, nobody is attached (nattch read before
 * we look inside) and its creator is dead; a socket only when nobody
 * answers on it; a pidfile only when the pid in it is dead.  Everything
 * else is reported and left as it is.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include "ipcrm.h"
#include "naming.h"
#include "sockprobe.h"
#include "table.h"

/* Whether pid is gone; a zombie (dead, not yet reaped by its parent) counts as gone. */
static bool
pid_dead(pid_t pid)
{
	char path[64], stat[512];
	const char *paren;
	FILE *f;
	size_t n;

	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return false;
	n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	/* "pid (comm) S ...": the state follows the last parenthesis */
	paren = strrchr(stat, ')');
	return paren != NULL && paren[1] == ' ' && paren[2] == 'Z';
}

static int
remove_file(const char *what, const char *path, bool dry)
{
	if (dry) {
		printf("would remove %s %s\n", what, path);
		return 0;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		fprintf(stderr, "dshm-ipcrm: unlink(%s): %s\n", path, strerror(errno));
		return 1;
	}
	printf("removed %s %s\n", what, path);
	return 0;
}

static int
clean_socket(const char *path, bool dry)
{
	switch (sockprobe_unix(path)) {
	case UNIX_STALE:
		return remove_file("stale socket", path, dry);
	case UNIX_LIVE:
		printf("left alone: socket %s (a server answers there)\n", path);
		return 0;
	default:
		return 0;
	}
}

static int
clean_pidfile(const char *path, bool dry)
{
	FILE *f = fopen(path, "re");
	long pid = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid > 0 && !pid_dead((pid_t)pid)) {
		printf("left alone: pidfile %s (pid %ld is alive)\n", path, pid);
		return 0;
	}
	return remove_file("stale pidfile", path, dry);
}

/* One System V segment: removes it (and its socket and pidfile) when it is a stale table. */
static int
clean_segment(int shmid, const struct shmid_ds *ds, bool dry)
{
	char err[256], sock[sizeof(((struct table_header *)0)->unix_path)];
	char pidfile[sizeof(((struct table_header *)0)->pidfile)];
	struct table_probe p;
	key_t key = ds->shm_perm.__key;
	struct table t;
	int failed = 0;

	if (key == IPC_PRIVATE || ds->shm_perm.uid != geteuid())
		return 0;
	switch (table_probe(key, &p, err, sizeof(err))) {
	case TABLE_STALE:
		break;
	case TABLE_IN_USE:
		printf("left alone: control table key 0x%08x shmid %d (attached by %lu process(es))\n",
		       (unsigned)key, shmid, p.nattch);
		return 0;
	default:
		return 0; /* not dshm's, or gone */
	}
	if (!pid_dead(p.creator_pid)) {
		printf("left alone: control table key 0x%08x shmid %d (its creator, pid %d, is "
		       "alive)\n", (unsigned)key, shmid, (int)p.creator_pid);
		return 0;
	}
	sock[0] = pidfile[0] = '\0';
	if (table_attach(&t, key, true, err, sizeof(err)) == 0) {
		memcpy(sock, t.hdr->unix_path, sizeof(sock));
		memcpy(pidfile, t.hdr->pidfile, sizeof(pidfile));
		sock[sizeof(sock) - 1] = pidfile[sizeof(pidfile) - 1] = '\0';
		table_detach(&t);
	}
	if (dry) {
		printf("would remove stale control table key 0x%08x shmid %d (creator pid %d dead, "
		       "nobody attached)\n", (unsigned)key, shmid, (int)p.creator_pid);
	} else if (table_remove(p.shmid) < 0) {
		fprintf(stderr, "dshm-ipcrm: shmctl(shmid %d, IPC_RMID): %s\n", p.shmid,
			strerror(errno));
		return 1;
	} else {
		printf("removed stale control table key 0x%08x shmid %d (creator pid %d dead)\n",
		       (unsigned)key, shmid, (int)p.creator_pid);
	}
	if (sock[0] != '\0')
		failed += clean_socket(sock, dry);
	if (pidfile[0] != '\0')
		failed += clean_pidfile(pidfile, dry);
	return failed;
}

int
ipcrm_stale(bool dry)
{
	struct shm_info info;
	char sock[108];
	int failed = 0, max;

	/* SHM_INFO gives the highest index in use; SHM_STAT turns an index into an id. */
	max = shmctl(0, SHM_INFO, (struct shmid_ds *)(void *)&info);
	if (max < 0) {
		fprintf(stderr, "dshm-ipcrm: shmctl(SHM_INFO): %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; i <= max; i++) {
		struct shmid_ds ds;
		int shmid = shmctl(i, SHM_STAT, &ds);

		if (shmid >= 0)
			failed += clean_segment(shmid, &ds, dry);
	}
	if (naming_default_socket(sock, sizeof(sock)))
		failed += clean_socket(sock, dry);
	return failed;
}
