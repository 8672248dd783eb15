/*
 * fault.c — the crash points of test builds (see fault.h).
 *
 * $DSHM_FAULT is "NAME" (crash at the first pass) or "NAME:N" (crash at
 * the N-th pass through that point in this process).
 */
#include "fault.h"

#ifdef DSHM_FAULT_INJECTION
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
fault_point(const char *name)
{
	static unsigned long passes;
	const char *spec = getenv("DSHM_FAULT");
	size_t len = strlen(name);
	unsigned long at = 1;

	if (spec == NULL || strncmp(spec, name, len) != 0)
		return;
	if (spec[len] == ':')
		at = strtoul(spec + len + 1, NULL, 10);
	else if (spec[len] != '\0')
		return;
	if (++passes >= at)
		kill(getpid(), SIGKILL);
}
#else
typedef int fault_c_is_empty_in_release_builds;
#endif
