/*
 * ipcs_main.c — dshm-ipcs: shows what a running dshmd holds, in the manner
 * of ipcs(1): the command line, and which report runs.
 *
 * It attaches the control table read-only and takes no lock in it, so it
 * works while workers are busy, stuck or dead.  Exit codes: 0 done,
 * 1 --check found violations (or --dump could not read), 2 bad usage,
 * 3 no table at the key.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ipcs.h"
#include "naming.h"
#include "stats.h"

#define CHECK_PASSES 3 /* a live table may be seen mid-change: violations must persist */

static void
usage(FILE *f)
{
	char sock[108];

	if (!naming_default_socket(sock, sizeof(sock)))
		snprintf(sock, sizeof(sock), "?");
	fprintf(f,
		"usage: dshm-ipcs [options]\n"
		"\n"
		"Shows what a running dshmd holds: its control table (attached read-only,\n"
		"without taking any lock), segments, paging processes, workers and frames.\n"
		"With no report option: a summary, the segment list (in the style of\n"
		"ipcs -m: key, shmid, owner, perms, bytes, nattch, status) and the paging\n"
		"processes.\n"
		"\n"
		"Which server:\n"
		"  --key KEY           System V key of the control table (decimal or 0x hex)\n"
		"  --server ADDR       the server's Unix socket, unix:PATH, whose key is derived\n"
		"                      as dshmd derives it (default: $DSHM_SERVER, else %s);\n"
		"                      a HOST:PORT names no table here and is refused without\n"
		"                      --key\n"
		"\n"
		"Reports (-p, -w, --map and --dump may be combined):\n"
		"  -p, --processes     paging processes: pid, uid, pages, frames, bytes\n"
		"  -w, --workers       workers from the scoreboard: index, pid, state,\n"
		"                      connections now and in all, requests, bytes in and\n"
		"                      out, last activity\n"
		"  --map               the arena, one cell per frame (or group of frames),\n"
		"                      a letter per process or segment, '.' for free, and a\n"
		"                      legend (\"pid 42\", \"shmid 1024 key 0x5e5e0001\")\n"
		"  --color[=WHEN]      colours in --map: auto (when stdout is a terminal,\n"
		"                      the default), always or never\n"
		"  --dump pid:N        process N's page table and a hex dump of its pages\n"
		"                      (read through the server, at --server or $DSHM_SERVER\n"
		"                      or the default socket)\n"
		"  --dump shmid:N      segment N's page table and a hex dump of its bytes\n"
		"                      (read through the server with dshm_read, likewise)\n"
		"  --stats             the live counters (the same text as a STATS request):\n"
		"                      processes, segments, attachments, connections,\n"
		"                      requests per operation, bytes, errors\n"
		"  --prometheus        with --stats: the same counters in the Prometheus text\n"
		"                      format (dshm_* metrics, for a textfile collector)\n"
		"  --json              summary, segments, processes and workers as one JSON\n"
		"                      document (each segment with all of its shmid_ds)\n"
		"  --check             check the table's invariants and print each violation\n"
		"                      (exit 1 when there is one); a violation counts only when\n"
		"                      %d looks in a row see it, since a live table changes\n"
		"  --help, --version\n"
		"\n"
		"Exit codes: 0 done; 1 violations found, or --dump could not read;\n"
		"2 bad usage; 3 no dshm control table at the key.\n",
		sock, CHECK_PASSES);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
bad(const char *fmt, ...)
{
	va_list ap;

	fputs("dshm-ipcs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see dshm-ipcs --help)\n", stderr);
	exit(IPCS_USAGE);
}

/* N of "PREFIX:N", N from 0 to INT32_MAX; exits on anything else. */
static int
parse_dump_number(const char *arg, size_t prefix_len)
{
	const char *num = arg + prefix_len;
	char *end;
	long n;

	errno = 0;
	n = strtol(num, &end, 10);
	if (errno != 0 || end == num || *end != '\0' || n < 0 || n > INT32_MAX)
		bad("--dump: '%s' is not %.*sN with N from 0 to %d", arg, (int)prefix_len, arg,
		    INT32_MAX);
	return (int)n;
}

static void
parse_dump(struct ipcs_opts *o, const char *arg)
{
	if (strncmp(arg, "shmid:", 6) == 0) {
		o->dump_shmid = parse_dump_number(arg, 6);
		o->dump_segment = true;
	} else if (strncmp(arg, "pid:", 4) == 0) {
		o->dump_pid = parse_dump_number(arg, 4);
		o->dump_segment = false;
	} else {
		bad("--dump: '%s' is neither pid:N nor shmid:N", arg);
	}
	o->dump = true;
}

static void
parse(struct ipcs_opts *o, int argc, char **argv)
{
	enum { O_KEY = 256, O_SERVER, O_MAP, O_COLOR, O_DUMP, O_JSON, O_STATS, O_PROM, O_CHECK, O_HELP,
	       O_VERSION };
	static const struct option longopts[] = {
		{"key", required_argument, NULL, O_KEY},
		{"server", required_argument, NULL, O_SERVER},
		{"processes", no_argument, NULL, 'p'},
		{"workers", no_argument, NULL, 'w'},
		{"map", no_argument, NULL, O_MAP},
		{"color", optional_argument, NULL, O_COLOR},
		{"colour", optional_argument, NULL, O_COLOR},
		{"dump", required_argument, NULL, O_DUMP},
		{"json", no_argument, NULL, O_JSON},
		{"stats", no_argument, NULL, O_STATS},
		{"prometheus", no_argument, NULL, O_PROM},
		{"check", no_argument, NULL, O_CHECK},
		{"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->server = getenv("DSHM_SERVER");
	if (o->server != NULL && o->server[0] == '\0')
		o->server = NULL;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "pwh", longopts, NULL)) != -1) {
		switch (c) {
		case O_KEY:
			if (!naming_parse_key(optarg, &o->key) || o->key == IPC_PRIVATE)
				bad("--key: '%s' is not a 32-bit key (decimal or 0x hex, not 0)", optarg);
			o->key_given = true;
			break;
		case O_SERVER:
			if (optarg[0] == '\0')
				bad("--server: the address is empty");
			o->server = optarg;
			break;
		case 'p':
			o->procs = true;
			break;
		case 'w':
			o->workers = true;
			break;
		case O_MAP:
			o->map = true;
			break;
		case O_COLOR:
			if (optarg == NULL || strcmp(optarg, "always") == 0)
				o->color = COLOR_ALWAYS;
			else if (strcmp(optarg, "never") == 0)
				o->color = COLOR_NEVER;
			else if (strcmp(optarg, "auto") == 0)
				o->color = COLOR_AUTO;
			else
				bad("--color: '%s' is not auto, always or never", optarg);
			break;
		case O_DUMP:
			parse_dump(o, optarg);
			break;
		case O_JSON:
			o->json = true;
			break;
		case O_STATS:
			o->stats = true;
			break;
		case O_PROM:
			o->prometheus = true;
			break;
		case O_CHECK:
			o->check = true;
			break;
		case 'h':
		case O_HELP:
			usage(stdout);
			exit(IPCS_OK);
		case O_VERSION:
			printf("dshm-ipcs %s\n", DSHM_VERSION);
			exit(IPCS_OK);
		default:
			bad("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad("unexpected argument '%s'", argv[optind]);
	if (o->json + o->check + o->stats + (o->procs || o->workers || o->map || o->dump) > 1)
		bad("--json, --stats and --check each stand alone");
	if (o->prometheus && !o->stats)
		bad("--prometheus is a format of --stats: give both");
}

struct violations {
	int n;
	char **lines;
};

static void
keep(void *ctx, const char *msg)
{
	struct violations *v = ctx;
	char **more = realloc(v->lines, (size_t)(v->n + 1) * sizeof(*more));

	if (more == NULL)
		return;
	v->lines = more;
	v->lines[v->n++] = strdup(msg);
}

static void
forget(struct violations *v)
{
	for (int i = 0; i < v->n; i++)
		free(v->lines[i]);
	free(v->lines);
	memset(v, 0, sizeof(*v));
}

/* Runs check_table until a pass is clean or CHECK_PASSES passes saw violations. */
static int
run_check(const struct ipcs *v)
{
	struct violations seen = {0};
	int n = 0;

	for (int pass = 0; pass < CHECK_PASSES; pass++) {
		forget(&seen);
		if (pass > 0)
			usleep(100 * 1000);
		if ((n = check_table(&v->t, keep, &seen)) <= 0)
			break;
	}
	if (n < 0) {
		fprintf(stderr, "dshm-ipcs: --check: out of memory\n");
		forget(&seen);
		return IPCS_FAILED;
	}
	for (int i = 0; i < seen.n; i++)
		printf("violation: %s\n", seen.lines[i] != NULL ? seen.lines[i] : "(out of memory)");
	printf("%d violation%s in the table at key 0x%08x (shmid %d)\n", n, n == 1 ? "" : "s",
	       (unsigned)v->key, v->shmid);
	forget(&seen);
	return n == 0 ? IPCS_OK : IPCS_FAILED;
}

int
main(int argc, char **argv)
{
	struct ipcs_opts o;
	struct ipcs v;
	int rc = IPCS_OK;
	bool color;

	parse(&o, argc, argv);
	if ((rc = ipcs_find(&o, &v)) != IPCS_OK)
		return rc;
	color = o.color == COLOR_ALWAYS || (o.color == COLOR_AUTO && isatty(STDOUT_FILENO));
	if (o.check) {
		rc = run_check(&v);
	} else if (o.json) {
		ipcs_print_json(stdout, &v);
	} else if (o.stats && o.prometheus) {
		ipcs_print_prometheus(stdout, &v);
	} else if (o.stats) {
		size_t len = stats_format(&v.t, NULL, 0) + 256;
		char *text = malloc(len);

		if (text != NULL) {
			stats_format(&v.t, text, len);
			fputs(text, stdout);
			free(text);
		}
	} else if (!o.procs && !o.workers && !o.map && !o.dump) {
		ipcs_print_summary(stdout, &v);
		ipcs_print_segments(stdout, &v);
		ipcs_print_procs(stdout, &v);
	} else {
		if (o.procs)
			ipcs_print_procs(stdout, &v);
		if (o.workers)
			ipcs_print_workers(stdout, &v);
		if (o.map) {
			if (o.procs || o.workers)
				putchar('\n');
			ipcs_print_map(stdout, &v, color);
		}
		if (o.dump) {
			fflush(stdout);
			rc = ipcs_dump(stdout, &v, &o);
		}
	}
	ipcs_release(&v);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "dshm-ipcs: writing the report: %s\n", strerror(errno));
		return IPCS_FAILED;
	}
	return rc;
}
