/*
 * ipcs_find.c — finds dshmd's control table and attaches it read-only.
 *
 * The key comes from --key, else from the Unix socket of --server or
 * $DSHM_SERVER ("unix:PATH"), else from the default socket, derived
 * exactly as dshmd derives it (naming_key_for_socket).  A TCP address
 * names no table on this host: without --key it is refused, rather than
 * showing another server's table.
 */
#include <errno.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include "ipcs.h"
#include "naming.h"

static bool
key_source(const struct ipcs_opts *o, struct ipcs *v)
{
	char sock[108];

	if (o->key_given) {
		v->key = o->key;
		snprintf(v->source, sizeof(v->source), "given with --key");
		return true;
	}
	if (o->server != NULL && strncmp(o->server, "unix:", 5) == 0) {
		v->key = naming_key_for_socket(o->server + 5);
		snprintf(v->source, sizeof(v->source), "derived from the socket %.150s", o->server + 5);
		return true;
	}
	if (o->server != NULL) {
		fprintf(stderr, "dshm-ipcs: %s is a TCP address, which names no control table on this "
				"host: give the server's Unix socket (--server unix:PATH) or its table's "
				"--key (dshmd's ready line prints both)\n", o->server);
		return false;
	}
	if (!naming_default_socket(sock, sizeof(sock)))
		sock[0] = '\0';
	v->key = naming_key_for_socket(sock);
	snprintf(v->source, sizeof(v->source), "derived from the default socket %.107s", sock);
	return true;
}

int
ipcs_find(const struct ipcs_opts *o, struct ipcs *v)
{
	struct shmid_ds ds;
	char err[256];

	memset(v, 0, sizeof(*v));
	v->shmid = -1;
	if (!key_source(o, v))
		return IPCS_NO_TABLE;
	if ((v->shmid = shmget(v->key, 0, 0)) < 0) {
		if (errno == ENOENT)
			fprintf(stderr, "dshm-ipcs: no dshm control table at key 0x%08x (%s): "
				"is dshmd running? (give --key or --server unix:PATH)\n",
				(unsigned)v->key, v->source);
		else
			fprintf(stderr, "dshm-ipcs: shmget(key 0x%08x, %s): %s\n", (unsigned)v->key,
				v->source, strerror(errno));
		return IPCS_NO_TABLE;
	}
	/* nattch before we attach, so that our own look does not count */
	if (shmctl(v->shmid, IPC_STAT, &ds) < 0) {
		fprintf(stderr, "dshm-ipcs: shmctl(shmid %d, IPC_STAT): %s\n", v->shmid,
			strerror(errno));
		return IPCS_NO_TABLE;
	}
	v->nattch = ds.shm_nattch;
	v->seg_bytes = ds.shm_segsz;
	if (table_attach(&v->t, v->key, true, err, sizeof(err)) < 0) {
		fprintf(stderr, "dshm-ipcs: %s (key %s)\n", err, v->source);
		return IPCS_NO_TABLE;
	}
	return IPCS_OK;
}

void
ipcs_release(struct ipcs *v)
{
	table_detach(&v->t);
}
