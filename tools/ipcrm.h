/*
 * ipcrm.h — dshm-ipcrm's parts: --stale (ipcrm_stale.c) and -m/-M
 * (ipcrm_segs.c).
 */
#ifndef DSHM_TOOLS_IPCRM_H
#define DSHM_TOOLS_IPCRM_H

#include <stdbool.h>

/*
 * Finds and removes (or, when dry, only names) what dead dshmd instances
 * left behind.  Returns the number of removals that failed.
 */
int ipcrm_stale(bool dry);

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
