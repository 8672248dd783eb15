/*
 * ipcrm.h — dshm-ipcrm's parts.
 */
#ifndef DSHM_TOOLS_IPCRM_H
#define DSHM_TOOLS_IPCRM_H

#include <stdbool.h>

/*
 * Finds and removes (or, when dry, only names) what dead dshmd instances
 * left behind.  Returns the number of removals that failed.
 */
int ipcrm_stale(bool dry);

#endif /* DSHM_TOOLS_IPCRM_H */
