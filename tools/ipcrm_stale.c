/*
 * ipcrm_stale.c — what dshm-ipcrm --stale and --persist NAME remove, and
 * what they refuse.
 *
 * Invariants: a control table is removed only when it carries dshm's
 * header, belongs to this user, nobody is attached (nattch read before
 * we look inside) and its creator is dead; one kept by dshmd --persist
 * NAME, and its arena, only when --persist NAME asks for it; a socket only
 * when nobody answers on it; a pidfile only when the pid in it is dead.
 * Everything else is reported and left as it is.
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
#include "segfile.h"
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

/* One sweep: what was asked, and what the scan of the tables found. */
struct sweep {
	const struct ipcrm_sweep *w;
	char names[128][64];  /* the --persist names of this user's tables */
	int nnames;
	bool target_tables;   /* a table of w->persist was found */
	bool target_kept;     /* ...and one of them stays (in use, or not removed) */
};

static void
note_name(struct sweep *s, const char *name)
{
	for (int i = 0; i < s->nnames; i++)
		if (strcmp(s->names[i], name) == 0)
			return;
	if (s->nnames < (int)(sizeof(s->names) / sizeof(s->names[0])))
		snprintf(s->names[s->nnames++], sizeof(s->names[0]), "%s", name);
}

/* For the orphan report: whether name has a table (or is the one being removed). */
static bool
has_table(const char *name, void *ctx)
{
	struct sweep *s = ctx;

	if (s->w->persist != NULL && strcmp(name, s->w->persist) == 0)
		return true;
	for (int i = 0; i < s->nnames; i++)
		if (strcmp(s->names[i], name) == 0)
			return true;
	/* Too many names to remember: say nothing rather than something wrong. */
	return s->nnames == (int)(sizeof(s->names) / sizeof(s->names[0]));
}

/*
 * A table that is not to go because someone may use it (why says who).
 * Only the one --persist NAME asked to remove is a failure.
 */
static int
busy(struct sweep *s, bool target, key_t key, int shmid, const char *why)
{
	if (!target) {
		printf("left alone: control table key 0x%08x shmid %d (%s)\n", (unsigned)key, shmid,
		       why);
		return 0;
	}
	s->target_kept = true;
	fprintf(stderr, "dshm-ipcrm: not removing --persist %s: its control table key 0x%08x "
		"shmid %d is in use (%s); stop that dshmd first\n", s->w->persist, (unsigned)key,
		shmid, why);
	return 1;
}

/*
 * One System V segment: removes it (and its socket and pidfile) when it
 * is a stale table.  A stale table kept by --persist is removed only when
 * the sweep names it; else it is reported as kept, and only its socket
 * and pidfile (never data: the next dshmd makes them anew) may go.
 */
static int
clean_segment(struct sweep *s, int shmid, const struct shmid_ds *ds)
{
	char err[256], why[96], sock[sizeof(((struct table_header *)0)->unix_path)];
	char pidfile[sizeof(((struct table_header *)0)->pidfile)], of[96] = "";
	const struct ipcrm_sweep *w = s->w;
	struct table_probe p;
	key_t key = ds->shm_perm.__key;
	enum table_found found;
	bool named, target;
	struct table t;
	int failed = 0;

	if (key == IPC_PRIVATE || ds->shm_perm.uid != geteuid())
		return 0;
	found = table_probe(key, &p, err, sizeof(err));
	if (found != TABLE_STALE && found != TABLE_IN_USE)
		return 0; /* not dshm's, or gone */
	named = p.persist[0] != '\0';
	target = named && w->persist != NULL && strcmp(p.persist, w->persist) == 0;
	if (named)
		note_name(s, p.persist);
	if (!target && !w->all)
		return 0;
	if (target)
		s->target_tables = true;
	if (found == TABLE_IN_USE) {
		snprintf(why, sizeof(why), "attached by %lu process(es)", p.nattch);
		return busy(s, target, key, shmid, why);
	}
	if (!pid_dead(p.creator_pid)) {
		snprintf(why, sizeof(why), "its creator, pid %d, is alive", (int)p.creator_pid);
		return busy(s, target, key, shmid, why);
	}
	sock[0] = pidfile[0] = '\0';
	if (table_attach(&t, key, true, err, sizeof(err)) == 0) {
		memcpy(sock, t.hdr->unix_path, sizeof(sock));
		memcpy(pidfile, t.hdr->pidfile, sizeof(pidfile));
		sock[sizeof(sock) - 1] = pidfile[sizeof(pidfile) - 1] = '\0';
		table_detach(&t);
	}
	if (named)
		snprintf(of, sizeof(of), " of --persist %s", p.persist);
	if (named && !target) {
		printf("kept: control table key 0x%08x shmid %d%s (use --persist %s to remove it)\n",
		       (unsigned)key, shmid, of, p.persist);
	} else if (w->dry) {
		printf("would remove stale control table key 0x%08x shmid %d%s (creator pid %d "
		       "dead, nobody attached)\n", (unsigned)key, shmid, of, (int)p.creator_pid);
	} else if (table_remove(p.shmid) < 0) {
		fprintf(stderr, "dshm-ipcrm: shmctl(shmid %d, IPC_RMID): %s\n", p.shmid,
			strerror(errno));
		s->target_kept |= target;
		return 1;
	} else {
		printf("removed stale control table key 0x%08x shmid %d%s (creator pid %d dead)\n",
		       (unsigned)key, shmid, of, (int)p.creator_pid);
	}
	if (!named || target) {
		/* The segments' bytes, in files named after the table's key. */
		unsigned n = segfile_remove(key, 0, true, w->dry);

		if (n > 0)
			printf("%s %u segment file%s of key 0x%08x from /dev/shm\n",
			       w->dry ? "would remove" : "removed", n, n == 1 ? "" : "s", (unsigned)key);
	}
	if (sock[0] != '\0')
		failed += clean_socket(sock, w->dry);
	if (pidfile[0] != '\0')
		failed += clean_pidfile(pidfile, w->dry);
	return failed;
}

/* --persist NAME, once its tables are dealt with: the arena, unless a table of it stays. */
static int
clean_persisted_object(struct sweep *s)
{
	const char *name = s->w->persist;
	bool found = false;
	int failed;

	if (s->target_kept) {
		printf("left alone: /dev/shm/dshm-%s (its control table stays)\n", name);
		return 0;
	}
	failed = ipcrm_persist_remove_object(name, s->w->dry, &found);
	if (!found && !s->target_tables)
		printf("nothing to remove for --persist %s: no control table of that name, no "
		       "/dev/shm/dshm-%s\n", name, name);
	return failed;
}

int
ipcrm_stale(const struct ipcrm_sweep *w)
{
	static struct sweep s;
	struct shm_info info;
	char sock[108];
	int failed = 0, max;

	memset(&s, 0, sizeof(s));
	s.w = w;
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
			failed += clean_segment(&s, shmid, &ds);
	}
	if (w->persist != NULL)
		failed += clean_persisted_object(&s);
	if (w->all) {
		ipcrm_persist_report_orphans(has_table, &s);
		if (naming_default_socket(sock, sizeof(sock)))
			failed += clean_socket(sock, w->dry);
	}
	return failed;
}
