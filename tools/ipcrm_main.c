/*
 * ipcrm_main.c — dshm-ipcrm: removes what dead dshmd instances left
 * behind, the way ipcrm(1) removes System V leftovers.
 *
 *   dshm-ipcrm --stale [--dry-run]
 *
 * Never touches anything alive, attached or foreign (see ipcrm_stale.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcrm.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: dshm-ipcrm --stale [--dry-run]\n"
		"\n"
		"Removes what dead dshmd instances of this user left behind:\n"
		"  - control tables (System V segments with dshm's header) that nobody is\n"
		"    attached to and whose creator is dead;\n"
		"  - the Unix sockets those servers listened on, when nobody answers there,\n"
		"    and the default socket when nobody answers there;\n"
		"  - their pidfiles, when the pid written there is dead.\n"
		"Anything attached, alive or not dshm's is left alone and named.\n"
		"\n"
		"  --stale      find and remove those leftovers\n"
		"  --dry-run    only say what --stale would remove\n"
		"  --help, --version\n"
		"\n"
		"Exit codes: 0 done; 1 a removal failed; 2 bad usage.\n");
}

int
main(int argc, char **argv)
{
	enum { O_STALE = 256, O_DRY, O_HELP, O_VERSION };
	static const struct option longopts[] = {
		{"stale", no_argument, NULL, O_STALE},
		{"dry-run", no_argument, NULL, O_DRY},
		{"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION},
		{NULL, 0, NULL, 0},
	};
	bool stale = false, dry = false;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_STALE:
			stale = true;
			break;
		case O_DRY:
			dry = true;
			break;
		case O_HELP:
			usage(stdout);
			return 0;
		case O_VERSION:
			printf("dshm-ipcrm %s\n", DSHM_VERSION);
			return 0;
		default:
			fprintf(stderr, "dshm-ipcrm: unknown or incomplete option '%s' (see --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc || !stale) {
		fprintf(stderr, "dshm-ipcrm: %s (see --help)\n",
			optind < argc ? "unexpected argument" : "nothing to do: give --stale");
		return 2;
	}
	return ipcrm_stale(dry) == 0 ? 0 : 1;
}
