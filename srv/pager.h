/*
 * pager.h — dshmd's pager: the process that keeps coherent attachments
 * coherent across hosts (docs/SEGMENTS.md, "Across hosts").  It holds
 * the userfaultfds of this host's processes that map segments, resolves
 * their page faults, and speaks the coherence protocol with the pagers
 * of other dshmds: as the home of this dshmd's segments (a directory of
 * which host holds each page, and how) and as the host of copies of
 * other dshmds' segments.
 */
#ifndef DSHM_SRV_PAGER_H
#define DSHM_SRV_PAGER_H

#include <sys/types.h>

#include "table.h"

struct pager_args {
	struct table *table;
	int unix_fd;          /* the pager's Unix socket (the server's path + ".pager") */
	int peer_fd;          /* --peer-listen: other hosts' pagers connect here; -1: none */
	pid_t master;
	const char *peer_auth; /* --peer-auth FILE: this pager's credential at other homes ("": none) */
};

/* Runs the pager until SIGTERM or its master's death; never returns. */
void pager_run(const struct pager_args *a) __attribute__((noreturn));

#endif /* DSHM_SRV_PAGER_H */
