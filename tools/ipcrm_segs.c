/*
 * ipcrm_segs.c — dshm-ipcrm -m SHMID and -M KEY: removes dshm segments
 * through the server with libdshm (IPC_RMID semantics: a segment still
 * attached is marked SHM_DEST and goes with its last detach), and says
 * why not in ipcrm(1)'s words when it cannot.
 *
 * It never touches the control table: the server checks the caller's
 * permission (owner, creator or root) as the kernel does.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dshm.h"
#include "ipcrm.h"

/* ipcrm's words for a failed removal of id (or key, when by_key) given as arg. */
static void
say_failure(int err, bool by_key, const char *arg, const char *server)
{
	const char *what = by_key ? "key" : "id";

	/* The connection failed, not the removal: what the library said of it names the address. */
	if (dshm_last_error()[0] != '\0') {
		fprintf(stderr, "dshm-ipcrm: cannot reach dshmd%s%s to remove %s %s: %s\n",
			server != NULL ? " at " : "", server != NULL ? server : "", what, arg,
			dshm_last_error());
		return;
	}
	switch (err) {
	case EACCES:
	case EPERM:
		fprintf(stderr, "dshm-ipcrm: permission denied for %s (%s)\n", what, arg);
		break;
	case EINVAL:
		fprintf(stderr, "dshm-ipcrm: invalid %s (%s)\n", what, arg);
		break;
	case EIDRM:
		fprintf(stderr, "dshm-ipcrm: already removed %s (%s)\n", what, arg);
		break;
	case EIO:
		fprintf(stderr, "dshm-ipcrm: cannot reach dshmd at %s to remove %s %s (give "
			"--server ADDR)\n", server != NULL ? server : "$DSHM_SERVER or the default "
			"socket", what, arg);
		break;
	default:
		fprintf(stderr, "dshm-ipcrm: removing %s %s: %s\n", what, arg, strerror(err));
	}
}

/* The shmid of the segment with key, or -1 after saying why not. */
static int
shmid_of_key(key_t key, const char *arg, const char *server)
{
	int id;

	if (key == IPC_PRIVATE) {
		fprintf(stderr, "dshm-ipcrm: illegal key (%s)\n", arg);
		return -1;
	}
	if ((id = dshm_shmget(key, 0, 0)) >= 0)
		return id;
	if (errno == ENOENT)
		fprintf(stderr, "dshm-ipcrm: key 0x%08x not found\n", (unsigned)key);
	else
		say_failure(errno, true, arg, server);
	return -1;
}

int
ipcrm_segments(const char *server, const struct ipcrm_target *targets, int n)
{
	int failed = 0;

	if (n > 0 && dshm_set_server(server) < 0) {
		fprintf(stderr, "dshm-ipcrm: dshm_set_server(%s): %s\n",
			server != NULL ? server : "default", strerror(errno));
		return n;
	}
	for (int i = 0; i < n; i++) {
		const struct ipcrm_target *g = &targets[i];
		int id = g->by_key ? shmid_of_key((key_t)g->value, g->arg, server) : (int)g->value;

		if (id < 0) {
			failed++;
			continue;
		}
		if (dshm_shmctl(id, IPC_RMID, NULL) < 0) {
			say_failure(errno, g->by_key, g->arg, server);
			failed++;
		}
	}
	return failed;
}
