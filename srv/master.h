/*
 * master.h — dshmd's master process: start-up, the workers' lives, and the
 * clean stop.
 */
#ifndef DSHM_SRV_MASTER_H
#define DSHM_SRV_MASTER_H

#include "options.h"

/* Starts the server and runs it until SIGTERM/SIGINT; returns the exit code. */
int master_run(const struct options *o);

#endif /* DSHM_SRV_MASTER_H */
