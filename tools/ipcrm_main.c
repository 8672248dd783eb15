/*
 * ipcrm_main.c — dshm-ipcrm: removes dshm segments, and what dead dshmd
 * instances left behind, the way ipcrm(1) removes System V objects.
 *
 *   dshm-ipcrm [--server ADDR] [-m SHMID]... [-M KEY]...
 *              [--stale] [--persist NAME] [--dry-run]
 *
 * -m and -M go through the server (see ipcrm_segs.c); --stale and
 * --persist never touch anything alive, attached or foreign, and what a
 * dshmd --persist kept goes only when --persist names it (see
 * ipcrm_stale.c, ipcrm_persist.c).
 * Exit codes: 0 done; 1 a removal failed; 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipcrm.h"
#include "naming.h"

#define MAX_TARGETS 256

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: dshm-ipcrm [--server ADDR] [-m SHMID]... [-M KEY]...\n"
		"       dshm-ipcrm [--stale] [--persist NAME] [--dry-run]\n"
		"\n"
		"Removes dshm segments through the server (IPC_RMID: a segment still\n"
		"attached is marked dest and goes with its last detach):\n"
		"  -m, --shmem-id SHMID   the segment with this id\n"
		"  -M, --shmem-key KEY    the segment with this key (decimal or 0x hex)\n"
		"  --server ADDR          the server: unix:PATH or HOST:PORT (default:\n"
		"                         $DSHM_SERVER, else the default socket)\n"
		"Several -m and -M may be given; each failure is named.\n"
		"\n"
		"Removes what dead dshmd instances of this user left behind:\n"
		"  - control tables (System V segments with dshm's header) that nobody is\n"
		"    attached to and whose creator is dead;\n"
		"  - the Unix sockets those servers listened on, when nobody answers there,\n"
		"    and the default socket when nobody answers there;\n"
		"  - their pidfiles, when the pid written there is dead.\n"
		"Anything attached, alive or not dshm's is left alone and named.\n"
		"What a dshmd --persist NAME kept (its control table and its arena\n"
		"/dev/shm/dshm-NAME) is data: --stale reports it as kept, and removes\n"
		"only its stale socket and dead pidfile.\n"
		"\n"
		"  --stale          find and remove those leftovers\n"
		"  --persist NAME   also remove what dshmd --persist NAME kept: its table\n"
		"                   (only when nobody is attached and its creator is dead)\n"
		"                   and /dev/shm/dshm-NAME, also one without a table;\n"
		"                   without --stale, only that\n"
		"  --dry-run        only say what would be removed\n"
		"  --help, --version\n"
		"\n"
		"Exit codes: 0 done; 1 a removal failed; 2 bad usage.\n");
}

static void __attribute__((noreturn))
bad(const char *what, const char *arg)
{
	fprintf(stderr, "dshm-ipcrm: %s '%s' (see --help)\n", what, arg);
	exit(2);
}

/* The number in arg (in base; 0: decimal or 0x hex) within [lo, hi]; exits on anything else. */
static long long
number(const char *arg, int base, long long lo, long long hi, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, base);
	if (errno != 0 || end == arg || *end != '\0' || v < lo || v > hi)
		bad(what, arg);
	return v;
}

struct opts {
	bool stale, dry;
	const char *server;
	const char *persist; /* --persist NAME, or NULL */
	struct ipcrm_target targets[MAX_TARGETS];
	int ntargets;
};

static void
add_target(struct opts *o, bool by_key, const char *arg)
{
	struct ipcrm_target *g;

	if (o->ntargets == MAX_TARGETS)
		bad("too many -m and -M; at most 256, not", arg);
	g = &o->targets[o->ntargets++];
	g->by_key = by_key;
	g->arg = arg;
	if (by_key) {
		key_t k;

		if (!naming_parse_key(arg, &k))
			bad("-M: not a 32-bit key:", arg);
		g->value = k;
	} else
		g->value = number(arg, 10, INT32_MIN, INT32_MAX, "-m: not a shmid:");
}

static void
parse(struct opts *o, int argc, char **argv)
{
	enum { O_STALE = 256, O_DRY, O_PERSIST, O_SERVER, O_HELP, O_VERSION };
	static const struct option longopts[] = {
		{"stale", no_argument, NULL, O_STALE},
		{"dry-run", no_argument, NULL, O_DRY},
		{"persist", required_argument, NULL, O_PERSIST},
		{"shmem-id", required_argument, NULL, 'm'},
		{"shmem-key", required_argument, NULL, 'M'},
		{"server", required_argument, NULL, O_SERVER},
		{"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION},
		{NULL, 0, NULL, 0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "m:M:", longopts, NULL)) != -1) {
		switch (c) {
		case O_STALE:
			o->stale = true;
			break;
		case O_DRY:
			o->dry = true;
			break;
		case O_PERSIST:
			/* The names dshmd accepts: it becomes a file name under /dev/shm. */
			if (!ipcrm_persist_name_ok(optarg))
				bad("--persist: not 1 to 63 letters, digits, '.', '_' or '-':",
				    optarg);
			o->persist = optarg;
			break;
		case 'm':
		case 'M':
			add_target(o, c == 'M', optarg);
			break;
		case O_SERVER:
			if (optarg[0] == '\0')
				bad("--server: the address is empty:", optarg);
			o->server = optarg;
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		case O_VERSION:
			printf("dshm-ipcrm %s\n", DSHM_VERSION);
			exit(0);
		default:
			bad("unknown or incomplete option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad("unexpected argument", argv[optind]);
	if (!o->stale && o->persist == NULL && o->ntargets == 0) {
		fprintf(stderr, "dshm-ipcrm: nothing to do: give -m, -M, --stale or --persist "
			"(see --help)\n");
		exit(2);
	}
}

int
main(int argc, char **argv)
{
	static struct opts o;
	struct ipcrm_sweep w;
	int failed = 0;

	parse(&o, argc, argv);
	failed += ipcrm_segments(o.server, o.targets, o.ntargets);
	w = (struct ipcrm_sweep){.all = o.stale, .persist = o.persist, .dry = o.dry};
	if (w.all || w.persist != NULL)
		failed += ipcrm_stale(&w);
	return failed == 0 ? 0 : 1;
}
