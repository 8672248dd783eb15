/*
 * ipcrm.h — dshm-ipcrm's parts: --stale and --persist NAME (ipcrm_stale.c,
 * with the named arenas in ipcrm_persist.c) and -m/-M (ipcrm_segs.c).
 */
#ifndef DSHM_TOOLS_IPCRM_H
#define DSHM_TOOLS_IPCRM_H

#include <stdbool.h>

/* What a sweep of leftovers covers. */
struct ipcrm_sweep {
	bool all;            /* --stale: what every dead dshmd left behind */
	const char *persist; /* --persist NAME: that instance's kept table and arena too; NULL: none */
	bool dry;            /* --dry-run: only name what would go */
};

/*
 * Finds and removes (or, when dry, only names) what dead dshmd instances
 * left behind.  A table kept by --persist, and its arena /dev/shm/dshm-NAME,
 * go only when w->persist names them; otherwise they are reported as
 * kept.  Returns the number of removals that failed or were refused.
 */
int ipcrm_stale(const struct ipcrm_sweep *w);

/* Whether name is one dshmd --persist accepts: 1 to 63 of [A-Za-z0-9._-], not starting with '.'. */
bool ipcrm_persist_name_ok(const char *name);

/*
 * Removes (or, when dry, names) /dev/shm/dshm-NAME, once the caller knows
 * no control table of that name is left or in use.  Refuses an object of
 * another user or one that a process still maps.  *found tells whether
 * it was there.  Returns 0, or 1 when it was refused or failed.
 */
int ipcrm_persist_remove_object(const char *name, bool dry, bool *found);

/*
 * Names (never removes) each /dev/shm/dshm-NAME of this user for which
 * has_table(NAME, ctx) is false: an arena whose table is gone.
 */
void ipcrm_persist_report_orphans(bool (*has_table)(const char *name, void *ctx), void *ctx);

/* A segment to remove: -m SHMID (an id) or -M KEY (a key), as given on the command line. */
struct ipcrm_target {
	bool by_key;
	long long value; /* the shmid, or the key (a key_t) */
	const char *arg; /* the text given, for messages */
};

/*
 * Removes the n targets through the server at server (NULL: $DSHM_SERVER,
 * else the default socket) with dshm_shmctl(IPC_RMID), a key looked up
 * with dshm_shmget(key, 0, 0) first; prints one line per failure, in
 * ipcrm(1)'s words.  Returns the number of targets not removed.
 */
int ipcrm_segments(const char *server, const struct ipcrm_target *targets, int n);

#endif /* DSHM_TOOLS_IPCRM_H */
