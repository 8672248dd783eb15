/*
 * options.c — parsing and checking dshmd's command line (see options.h).
 */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdarg.h>
#include <libutil.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "naming.h"
#include "proto.h"
#include "worker.h"

#define DEFAULT_MEMORY (64u << 20)
#define DEFAULT_FRAME 4096u
/*
 * By default the table holds one process or segment per 32 frames, from
 * 64 to 1024: its owner slots, segments and attachments then stay well
 * under 1% of the arena, however small.
 */
#define DEFAULT_OWNERS_PER_FRAMES 32u
#define DEFAULT_MIN_PROCESSES 64u
#define DEFAULT_MAX_PROCESSES 1024u
#define DEFAULT_MAX_CONNS 4096u
#define DEFAULT_RESERVED_CONNS 16
#define DEFAULT_IDLE_TIMEOUT 3600u
#define DEFAULT_WORKER_STALL 5u

static void
usage(FILE *f)
{
	char sock[108];

	naming_default_socket(sock, sizeof(sock));
	fprintf(f,
		"usage: dshmd [options]\n"
		"\n"
		"Serves pages of one shared frame arena to libdshm clients over TCP and a\n"
		"Unix socket.  Runs in the foreground; SIGTERM or SIGINT stops it cleanly.\n"
		"\n"
		"  --listen HOST:PORT  TCP address (default %s; [V6]:PORT for IPv6;\n"
		"                      port 0 picks a free port; \"none\" turns TCP off)\n"
		"  --unix PATH         Unix socket (default %s: root's\n"
		"                      /run/dshm/dshm.sock, another user's $XDG_RUNTIME_DIR/\n"
		"                      dshm.sock, else /tmp/dshm-UID/dshm.sock in a 0700\n"
		"                      directory of the user's own)\n"
		"  --unix-group GROUP  the Unix socket's group (name or number), whose members\n"
		"                      may connect (mode 0660; default: dshmd's own group)\n"
		"  --memory SIZE       arena size, with K/M/G suffixes (default 64M); the arena\n"
		"                      holds SIZE / frame-size frames, all of them allocatable\n"
		"  --overcommit        start even when --memory is more than the host can back\n"
		"                      (RAM and swap, the memory cgroup's limit, /dev/shm's\n"
		"                      room for --persist); frames are backed as they are\n"
		"                      given, and a request the host cannot back gets\n"
		"                      NO_SPACE; a --persist arena is then not reserved whole\n"
		"  --frame-size BYTES  frame (page) size: a power of two, 64 to 1M (default 4096)\n"
		"  --workers N         worker processes (default: the number of CPUs)\n"
		"  --key KEY           System V key of the control table (default: derived from\n"
		"                      the Unix socket path, and printed at start)\n"
		"  --max-processes N   paging processes and segments the table holds (default:\n"
		"                      one per %u frames, from %u to %u)\n"
		"  --max-processes-per-user N  paging processes and segments one user may own\n"
		"                      (default: a quarter of --max-processes); the last eighth\n"
		"                      (at most 16) are kept for root and dshmd's own user,\n"
		"                      who are held to no share\n"
		"  --max-attachments-per-user N  segment attachments one user's connections\n"
		"                      may hold (default: a quarter of the table's 4 per\n"
		"                      --max-processes; the last eighth, at most 64, are root's)\n"
		"  --pidfile PATH      write the master's pid there (libbsd pidfile, locked)\n"
		"  --max-connections N  clients served at once, all workers together (default\n"
		"                      %u); more are accepted and closed at once\n"
		"  --max-connections-per-worker N  (default: --max-connections)\n"
		"  --max-connections-per-user N  connections one user may hold, all workers\n"
		"                      together (default: a quarter of --max-connections;\n"
		"                      0: no share); root and dshmd's own user are exempt\n"
		"  --reserved-connections N  the last N of --max-connections are kept for root\n"
		"                      and dshmd's own user (default: 16, or an eighth of\n"
		"                      --max-connections when that is fewer)\n"
		"  --idle-timeout SECS close a connection idle that long (default %u; 0: never);\n"
		"                      one stalled mid-request or not reading its replies goes\n"
		"                      after %u s\n"
		"  --max-data SIZE     the largest read or write a request may carry, 64K to\n"
		"                      16M (default 16M); a request body may be 64 bytes more\n"
		"  --auth-file FILE    credentials (NAME UID GID HEXKEY lines) that clients on\n"
		"                      other hosts must prove before anything else; without\n"
		"                      it, --listen must be a loopback address\n"
		"  --io LOOP           the workers' event loop: uring (io_uring), epoll, or auto\n"
		"                      (default: io_uring where the kernel allows it, else epoll)\n"
		"  --busy-poll USEC    spin up to USEC microseconds for work before sleeping\n"
		"                      (default 0: never); lowers a lone client's latency at the\n"
		"                      cost of CPU\n"
		"  --worker-stall SECS a worker whose event loop has not turned for SECS (it\n"
		"                      beats every 250 ms) is logged, killed and respawned; a\n"
		"                      request waits at most min(1 s, SECS / 4) for a lock\n"
		"                      before it is answered busy (default %u; 0: never kill)\n"
		"  --peer-listen HOST:PORT  where the pagers of other hosts' dshmds connect, to\n"
		"                      share this server's segments coherently (default: none;\n"
		"                      needs --auth-file beyond loopback)\n"
		"  --peer-auth FILE    this server's credential (NAME HEXKEY) at other hosts'\n"
		"                      dshmds whose segments its host's processes map\n"
		"  --persist NAME      keep the arena (/dev/shm/dshm-NAME) and the control table\n"
		"                      when dshmd stops or crashes; the next start with the same\n"
		"                      NAME and sizes takes them over and serves the same data\n"
		"  --log-level LEVEL   error, warn, info (default) or debug\n"
		"  --help, --version\n"
		"\n"
		"Exit codes: 0 clean stop; 1 start-up failure; 2 bad usage; 3 key, socket,\n"
		"port or pidfile held by another server; 4 kernel refused memory or segment.\n",
		NAMING_DEFAULT_TCP, sock, DEFAULT_OWNERS_PER_FRAMES, DEFAULT_MIN_PROCESSES,
		DEFAULT_MAX_PROCESSES, DEFAULT_MAX_CONNS,
		DEFAULT_IDLE_TIMEOUT, CONN_STALL_SECONDS, DEFAULT_WORKER_STALL);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
bad(const char *fmt, ...)
{
	va_list ap;

	fputs("dshmd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see dshmd --help)\n", stderr);
	exit(EXIT_USAGE);
}

static uint64_t
size_arg(const char *opt, const char *v)
{
	uint64_t n;

	if (v[0] == '-' || expand_number(v, &n) != 0)
		bad("%s: '%s' is not a size (a number with an optional K, M or G suffix)", opt, v);
	return n;
}

static uint32_t
count_arg(const char *opt, const char *v, uint32_t min, uint32_t max)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n < min || n > max)
		bad("%s: '%s' is not a whole number from %u to %u", opt, v, min, max);
	return (uint32_t)n;
}

/* The long options, by concern: where it listens, the arena, the limits, how it runs. */
enum {
	O_LISTEN = 256, O_UNIX, O_UNIXGROUP, O_KEY, O_PIDFILE, O_PERSIST, O_AUTH, O_PEERLISTEN,
	O_PEERAUTH,
	O_MEMORY, O_FRAME, O_MAXPROC, O_OVERCOMMIT, O_MAXDATA,
	O_MAXCONN, O_MAXCONNW, O_MAXCONNU, O_RESCONN, O_MAXPROCU, O_MAXATTU, O_IDLE, O_STALL,
	O_WORKERS, O_IO, O_BUSYPOLL, O_LOGLEVEL,
	O_HELP, O_VERSION
};

static const struct option longopts[] = {
	{"listen", required_argument, NULL, O_LISTEN},
	{"unix", required_argument, NULL, O_UNIX},
	{"memory", required_argument, NULL, O_MEMORY},
	{"frame-size", required_argument, NULL, O_FRAME},
	{"workers", required_argument, NULL, O_WORKERS},
	{"key", required_argument, NULL, O_KEY},
	{"pidfile", required_argument, NULL, O_PIDFILE},
	{"log-level", required_argument, NULL, O_LOGLEVEL},
	{"max-processes", required_argument, NULL, O_MAXPROC},
	{"persist", required_argument, NULL, O_PERSIST},
	{"max-connections", required_argument, NULL, O_MAXCONN},
	{"max-connections-per-worker", required_argument, NULL, O_MAXCONNW},
	{"max-connections-per-user", required_argument, NULL, O_MAXCONNU},
	{"reserved-connections", required_argument, NULL, O_RESCONN},
	{"max-processes-per-user", required_argument, NULL, O_MAXPROCU},
	{"overcommit", no_argument, NULL, O_OVERCOMMIT},
	{"max-attachments-per-user", required_argument, NULL, O_MAXATTU},
	{"idle-timeout", required_argument, NULL, O_IDLE},
	{"auth-file", required_argument, NULL, O_AUTH},
	{"max-data", required_argument, NULL, O_MAXDATA},
	{"unix-group", required_argument, NULL, O_UNIXGROUP},
	{"io", required_argument, NULL, O_IO},
	{"busy-poll", required_argument, NULL, O_BUSYPOLL},
	{"peer-listen", required_argument, NULL, O_PEERLISTEN},
	{"peer-auth", required_argument, NULL, O_PEERAUTH},
	{"worker-stall", required_argument, NULL, O_STALL},
	{"help", no_argument, NULL, O_HELP},
	{"version", no_argument, NULL, O_VERSION},
	{NULL, 0, NULL, 0},
};

/* The defaults that do not depend on other options. */
static void
set_defaults(struct options *o)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	memset(o, 0, sizeof(*o));
	snprintf(o->tcp, sizeof(o->tcp), "%s", NAMING_DEFAULT_TCP);
	naming_default_socket(o->unix_path, sizeof(o->unix_path));
	o->memory = DEFAULT_MEMORY;
	o->frame_size = DEFAULT_FRAME;
	o->workers = ncpu > 0 ? (uint32_t)ncpu : 1;
	o->log_level = LOG_INFO;
	o->max_processes = 0; /* the default depends on the arena: see below */
	o->max_conns = DEFAULT_MAX_CONNS;
	o->idle_timeout = DEFAULT_IDLE_TIMEOUT;
	o->worker_stall = DEFAULT_WORKER_STALL;
	o->max_data = PROTO_MAX_DATA;
	o->unix_gid = (gid_t)-1;
}

/* Where dshmd listens, what it is named, who may reach it; false when c is none of those. */
static bool
take_place(struct options *o, int c)
{
	char host[256], port[16];

	switch (c) {
	case O_LISTEN:
		if (strcmp(optarg, "none") == 0) {
			o->tcp[0] = '\0';
			return true;
		}
		if (!naming_split_hostport(optarg, host, sizeof(host), port, sizeof(port)) ||
		    strtoul(port, NULL, 10) > 65535)
			bad("--listen: '%s' is not HOST:PORT, [V6ADDR]:PORT or none", optarg);
		snprintf(o->tcp, sizeof(o->tcp), "%s", optarg);
		return true;
	case O_UNIX:
		if (optarg[0] == '\0' || strlen(optarg) >= sizeof(o->unix_path))
			bad("--unix: the path must be 1 to %zu bytes long",
			    sizeof(o->unix_path) - 1);
		snprintf(o->unix_path, sizeof(o->unix_path), "%s", optarg);
		return true;
	case O_UNIXGROUP: {
		struct group *g = getgrnam(optarg);
		char *end;
		unsigned long n;

		errno = 0;
		n = strtoul(optarg, &end, 10);
		if (g != NULL)
			o->unix_gid = g->gr_gid;
		else if (errno == 0 && end != optarg && *end == '\0' && optarg[0] != '-' &&
			 n < UINT32_MAX)
			o->unix_gid = (gid_t)n;
		else
			bad("--unix-group: no group '%s'", optarg);
		return true;
	}
	case O_KEY:
		if (!naming_parse_key(optarg, &o->key) || o->key == IPC_PRIVATE)
			bad("--key: '%s' is not a 32-bit key (decimal or 0x hex, not 0)", optarg);
		o->key_given = true;
		return true;
	case O_PIDFILE:
		/* Copied: setproctitle later reuses the memory of argv. */
		if (optarg[0] == '\0' || strlen(optarg) >= sizeof(o->pidfile))
			bad("--pidfile: the path must be 1 to %zu bytes long",
			    sizeof(o->pidfile) - 1);
		snprintf(o->pidfile, sizeof(o->pidfile), "%s", optarg);
		return true;
	case O_PERSIST:
		/* A plain name: it becomes a file name under /dev/shm. */
		if (optarg[0] == '\0' || strlen(optarg) >= sizeof(o->persist) ||
		    strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				   "0123456789._-") != strlen(optarg) || optarg[0] == '.')
			bad("--persist: '%s' is not 1 to %zu letters, digits, '.', '_' or '-'",
			    optarg, sizeof(o->persist) - 1);
		snprintf(o->persist, sizeof(o->persist), "%s", optarg);
		return true;
	case O_AUTH:
		if (optarg[0] == '\0' || strlen(optarg) >= sizeof(o->auth_file))
			bad("--auth-file: the path must be 1 to %zu bytes long",
			    sizeof(o->auth_file) - 1);
		snprintf(o->auth_file, sizeof(o->auth_file), "%s", optarg);
		return true;
	case O_PEERLISTEN:
		if (!naming_split_hostport(optarg, host, sizeof(host), port, sizeof(port)) ||
		    strtoul(port, NULL, 10) > 65535)
			bad("--peer-listen: '%s' is not HOST:PORT or [V6ADDR]:PORT", optarg);
		snprintf(o->peer_listen, sizeof(o->peer_listen), "%s", optarg);
		return true;
	case O_PEERAUTH:
		if (optarg[0] == '\0' || strlen(optarg) >= sizeof(o->peer_auth) ||
		    access(optarg, R_OK) != 0)
			bad("--peer-auth: '%s' is not a readable file", optarg);
		snprintf(o->peer_auth, sizeof(o->peer_auth), "%s", optarg);
		return true;
	default:
		return false;
	}
}

/* The arena and the table; false when c is not one of them. */
static bool
take_memory(struct options *o, int c)
{
	switch (c) {
	case O_MEMORY:
		o->memory = size_arg("--memory", optarg);
		return true;
	case O_FRAME: {
		uint64_t f = size_arg("--frame-size", optarg);

		if (f < 64 || f > (1u << 20) || (f & (f - 1)) != 0)
			bad("--frame-size: '%s' is not a power of two from 64 to 1M", optarg);
		o->frame_size = (uint32_t)f;
		return true;
	}
	case O_MAXPROC:
		o->max_processes = count_arg("--max-processes", optarg, 1, 1u << 20);
		return true;
	case O_OVERCOMMIT:
		o->overcommit = true;
		return true;
	case O_MAXDATA: {
		uint64_t v = size_arg("--max-data", optarg);

		if (v < (64u << 10) || v > PROTO_MAX_DATA)
			bad("--max-data: '%s' is not from 64K to 16M", optarg);
		o->max_data = (uint32_t)v;
		return true;
	}
	default:
		return false;
	}
}

/* What one client, one user or one worker may hold; false when c is not one of them. */
static bool
take_limit(struct options *o, int c)
{
	switch (c) {
	case O_MAXCONN:
		o->max_conns = count_arg("--max-connections", optarg, 1, 1u << 20);
		return true;
	case O_MAXCONNW:
		o->max_conns_per_worker =
			count_arg("--max-connections-per-worker", optarg, 1, 1u << 20);
		return true;
	case O_MAXCONNU:
		o->max_conns_per_user =
			count_arg("--max-connections-per-user", optarg, 0, 1u << 20);
		o->max_conns_per_user_set = true;
		return true;
	case O_RESCONN:
		o->reserved_conns = count_arg("--reserved-connections", optarg, 0, 1u << 20);
		o->reserved_conns_set = true;
		return true;
	case O_MAXPROCU:
		o->max_owners_per_user =
			count_arg("--max-processes-per-user", optarg, 1, 1u << 20);
		return true;
	case O_MAXATTU:
		o->max_attach_per_user =
			count_arg("--max-attachments-per-user", optarg, 1, 1u << 24);
		return true;
	case O_IDLE:
		o->idle_timeout = count_arg("--idle-timeout", optarg, 0, 1u << 30);
		return true;
	case O_STALL:
		o->worker_stall = count_arg("--worker-stall", optarg, 0, 86400);
		return true;
	default:
		return false;
	}
}

/* How the workers run; false when c is not one of them. */
static bool
take_running(struct options *o, int c)
{
	switch (c) {
	case O_WORKERS:
		o->workers = count_arg("--workers", optarg, 1, 256);
		return true;
	case O_IO:
		if (strcmp(optarg, "uring") == 0 || strcmp(optarg, "io_uring") == 0)
			o->io = WORKER_IO_URING;
		else if (strcmp(optarg, "epoll") == 0)
			o->io = WORKER_IO_EPOLL;
		else if (strcmp(optarg, "auto") == 0)
			o->io = IO_AUTO;
		else
			bad("--io: '%s' is not uring, epoll or auto", optarg);
		return true;
	case O_BUSYPOLL:
		o->busy_poll_us = count_arg("--busy-poll", optarg, 0, 100000);
		return true;
	case O_LOGLEVEL:
		if ((o->log_level = log_parse_level(optarg)) < 0)
			bad("--log-level: '%s' is not error, warn, info or debug", optarg);
		return true;
	default:
		return false;
	}
}

/* The defaults that depend on other options, and the checks across them. */
static void
derive(struct options *o)
{
	uint64_t frames;

	if (o->max_conns_per_worker == 0 || o->max_conns_per_worker > o->max_conns)
		o->max_conns_per_worker = o->max_conns;
	/* One user cannot take every connection, and root can always get in. */
	if (!o->max_conns_per_user_set)
		o->max_conns_per_user = o->max_conns / 4 > 0 ? o->max_conns / 4 : 1;
	if (!o->reserved_conns_set)
		o->reserved_conns = o->max_conns / 8 < DEFAULT_RESERVED_CONNS
					    ? o->max_conns / 8
					    : DEFAULT_RESERVED_CONNS;
	if (o->reserved_conns >= o->max_conns)
		bad("--reserved-connections %u leaves nothing of --max-connections %u to other "
		    "users", o->reserved_conns, o->max_conns);

	frames = o->memory / o->frame_size;
	if (frames == 0)
		bad("--memory: %llu bytes hold no frame of %u bytes",
		    (unsigned long long)o->memory, o->frame_size);
	if (o->max_processes == 0) {
		uint64_t n = frames / DEFAULT_OWNERS_PER_FRAMES;

		o->max_processes = n < DEFAULT_MIN_PROCESSES   ? DEFAULT_MIN_PROCESSES
				   : n > DEFAULT_MAX_PROCESSES ? DEFAULT_MAX_PROCESSES
							       : (uint32_t)n;
	}
	if (frames > INT32_MAX)
		bad("--memory: %llu frames of %u bytes are more than the %d a table can hold",
		    (unsigned long long)frames, o->frame_size, INT32_MAX);
	if (!o->key_given)
		o->key = naming_key_for_socket(o->unix_path);
}

void
options_parse(struct options *o, int argc, char **argv)
{
	int c;

	set_defaults(o);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (take_place(o, c) || take_memory(o, c) || take_limit(o, c) || take_running(o, c))
			continue;
		switch (c) {
		case O_HELP:
			usage(stdout);
			exit(EXIT_CLEAN);
		case O_VERSION:
			printf("dshmd %s\n", DSHM_VERSION);
			exit(EXIT_CLEAN);
		default:
			bad("unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad("unexpected argument '%s'", argv[optind]);
	derive(o);
}
