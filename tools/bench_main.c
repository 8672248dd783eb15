/*
 * bench_main.c — dshm-bench: the command line, one run, its report.
 *
 * One invocation measures one point of the matrix (a backend, transport,
 * workload, connection count and depth) and prints it as one line of
 * name=value pairs, which tools/bench_run.sh gathers into a table.  Exit
 * codes: 0 the run completed and every value read back was the one
 * written; 1 the run failed, or a value or status was wrong; 2 bad usage.
 * --idle measures a server's memory per idle connection instead.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "proto.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: dshm-bench [options]\n"
		"\n"
		"Drives a server with N connections over T threads (one epoll loop each),\n"
		"D requests in flight per connection, and checks every value read back.\n"
		"\n"
		"  --backend NAME      dshm (default), memcached, redis-range (GETRANGE/SETRANGE),\n"
		"                      redis-kv (GET/SET), baseline (an in-process server that\n"
		"                      only moves dshm's bytes: ping-pong at depth 1, stream above)\n"
		"  --addr ADDR         HOST:PORT or unix:PATH (default $DSHM_SERVER; baseline:\n"
		"                      where its own server listens, default 127.0.0.1:0)\n"
		"  --workload W        read, write or mix (10%% writes); default read\n"
		"  --write-pct N       writes per hundred requests (overrides --workload)\n"
		"  --conns N           connections (default 1)\n"
		"  --threads T         client threads (default: min(N, 2))\n"
		"  --depth D           requests in flight per connection (default 1)\n"
		"  --size BYTES        value size (default 4096, at least %d)\n"
		"  --keys K            keys (pages) per connection (default 64)\n"
		"  --requests N        measured requests in all (default: bounded by time)\n"
		"  --seconds S         measured time (default 5; 0 with --requests: no bound)\n"
		"  --frame-size BYTES  dshm: the server's frame size (default 4096)\n"
		"  --pid-base PID      dshm: connection i uses paging process PID+i (default 900000)\n"
		"  --server-threads N  baseline: server threads (default 2, as dshmd --workers 2)\n"
		"  --client-cpu N      pin the client threads to CPU N\n"
		"  --server-cpu N      baseline: pin its server threads to CPU N\n"
		"  --no-verify         do not compare the values read back\n"
		"  --label TEXT        extra field label=TEXT on the result line\n"
		"  --keep              no teardown: leave the data on the server\n"
		"  --reuse             no setup or prefill: read what a --keep run of the same\n"
		"                      shape left, taking every key to hold version 1\n"
		"\n"
		"  --server-pid PID    the server's process: the CPU time it and its children\n"
		"                      spend in the measured run is reported per request\n"
		"                      (server_cpu_us_per_op; the baseline's is its own)\n"
		"  --idle N            open N idle connections to a dshm server (one HELLO each),\n"
		"                      and report the RSS of --server-pid's children (the\n"
		"  --hold S            workers) before and after; hold them S seconds (default 0)\n"
		"  --free-port         print a TCP port of 127.0.0.1 free just now, and exit\n"
		"\n"
		"  --faults            the fault path of coherent pages across hosts instead\n"
		"                      (run as root; $DSHM_AUTH_FILE for the TCP connection):\n"
		"                      --addr is the home dshmd over TCP (--peer-listen),\n"
		"  --home ADDR         the home dshmd's Unix socket,\n"
		"  --local ADDR        another dshmd (--peer-auth), the measured host's,\n"
		"  --other ADDR        optional third dshmd, whose reads the host's writes\n"
		"                      must invalidate; --keys is the pages (default 256),\n"
		"  --rounds N          rounds of misses (default 20), --seconds the\n"
		"                      ping-pong of one page (default 2)\n",
		BENCH_MIN_SIZE);
}

static const struct bench_backend *
backend_named(const char *name)
{
	static const struct bench_backend *const all[] = {&bench_dshm, &bench_memcached,
							  &bench_redis_range, &bench_redis_kv,
							  &bench_baseline};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(all[i]->name, name) == 0)
			return all[i];
	return NULL;
}

static bool
parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && *out <= max && s[0] != '-';
}

/* The RSS (kB) of pid's children, summed; -1 when /proc cannot say. */
static long
children_rss_kb(pid_t pid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	long total = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[300], line[256];
		long ppid = -1, rss = -1;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
		FILE *f = fopen(path, "r");

		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "PPid:", 5) == 0)
				ppid = strtol(line + 5, NULL, 10);
			else if (strncmp(line, "VmRSS:", 6) == 0)
				rss = strtol(line + 6, NULL, 10);
		}
		fclose(f);
		if (ppid == pid && rss > 0)
			total += rss;
	}
	closedir(d);
	return total;
}

/* The kernel's slab memory (kB) from /proc/meminfo; -1 when unknown. */
static long
slab_kb(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "Slab:", 5) == 0)
			kb = strtol(line + 5, NULL, 10);
	fclose(f);
	return kb;
}

/* One blocking HELLO on fd; false when the server did not answer it. */
static bool
hello(int fd)
{
	unsigned char req[PROTO_HEADER_LEN + 16], rep[PROTO_HEADER_LEN + PROTO_HELLO_LEN];
	struct proto_request r = {.opcode = OP_HELLO, .id = 1};
	size_t n = proto_encode_request(req, &r), got = 0;

	if (write(fd, req, n) != (ssize_t)n)
		return false;
	while (got < sizeof(rep)) {
		ssize_t k = read(fd, rep + got, sizeof(rep) - got);

		if (k <= 0)
			return false;
		got += (size_t)k;
	}
	return true;
}

static int
run_idle(const char *addr, unsigned n, pid_t server, unsigned hold)
{
	int *fds = calloc(n, sizeof(int));
	long before = server > 0 ? children_rss_kb(server) : -1, slab_before = slab_kb();

	if (!fds)
		return 1;
	bench_raise_nofile(n + 64);
	for (unsigned i = 0; i < n; i++) {
		fds[i] = bench_connect(addr, false);
		if (fds[i] < 0 || !hello(fds[i])) {
			fprintf(stderr, "dshm-bench: idle: connection %u of %u failed\n", i + 1, n);
			return 1;
		}
	}
	sleep(1);
	long after = server > 0 ? children_rss_kb(server) : -1, slab_after = slab_kb();

	/* Slab is machine-wide: it counts both ends of each socket, and whatever else ran. */
	printf("idle_conns=%u workers_rss_before_kb=%ld workers_rss_after_kb=%ld rss_bytes_per_conn=%.0f "
	       "kernel_slab_bytes_per_conn_both_ends=%.0f\n",
	       n, before, after, before >= 0 ? (double)(after - before) * 1024.0 / n : -1.0,
	       (double)(slab_after - slab_before) * 1024.0 / n);
	fflush(stdout);
	sleep(hold);
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	return 0;
}

/* Prints a port the kernel picks for 127.0.0.1:0 (free now; a race is possible). */
static int
free_port(void)
{
	char bound[64];
	int fd = bench_listen("127.0.0.1:0", bound, sizeof(bound));

	if (fd < 0)
		return 1;
	close(fd);
	printf("%s\n", strrchr(bound, ':') + 1);
	return 0;
}

/* What the command line asked for. */
struct args {
	struct bench_config cfg;
	struct bench_faults_config fc;
	const char *addr, *label;
	unsigned long long idle, server_pid, hold;
	int write_pct;
	bool have_requests, have_keys, faults;
};

static const struct option opts[] = {
	{"backend", required_argument, NULL, 'b'},   {"addr", required_argument, NULL, 'a'},
	{"workload", required_argument, NULL, 'w'},  {"write-pct", required_argument, NULL, 'W'},
	{"conns", required_argument, NULL, 'c'},     {"threads", required_argument, NULL, 't'},
	{"depth", required_argument, NULL, 'd'},     {"size", required_argument, NULL, 's'},
	{"keys", required_argument, NULL, 'k'},      {"requests", required_argument, NULL, 'n'},
	{"seconds", required_argument, NULL, 'S'},   {"frame-size", required_argument, NULL, 'f'},
	{"pid-base", required_argument, NULL, 'p'},  {"server-threads", required_argument, NULL, 'T'},
	{"no-verify", no_argument, NULL, 'V'},       {"label", required_argument, NULL, 'l'},
	{"idle", required_argument, NULL, 'i'},      {"server-pid", required_argument, NULL, 'P'},
	{"hold", required_argument, NULL, 'H'},      {"help", no_argument, NULL, 'h'},
	{"free-port", no_argument, NULL, 'F'},      {"keep", no_argument, NULL, 'K'},
	{"reuse", no_argument, NULL, 'R'},          {"client-cpu", required_argument, NULL, 'C'},
	{"server-cpu", required_argument, NULL, 'D'},
	{"faults", no_argument, NULL, 'U'},         {"home", required_argument, NULL, 'O'},
	{"local", required_argument, NULL, 'L'},    {"other", required_argument, NULL, 'Y'},
	{"rounds", required_argument, NULL, 'r'},
	{NULL, 0, NULL, 0},
};

/* Reads the options into a; -1 to go on, else the exit code (help, --free-port, bad usage). */
static int
parse_args(int argc, char **argv, struct args *a)
{
	unsigned long long v;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		bool ok = true;

		switch (opt) {
		case 'b':
			a->cfg.be = backend_named(optarg);
			ok = a->cfg.be != NULL;
			break;
		case 'a':
			a->addr = optarg;
			break;
		case 'w':
			a->cfg.workload = optarg;
			ok = strcmp(optarg, "read") == 0 || strcmp(optarg, "write") == 0 ||
			     strcmp(optarg, "mix") == 0;
			break;
		case 'W':
			ok = parse_uint(optarg, 100, &v);
			a->write_pct = (int)v;
			break;
		case 'c':
			ok = parse_uint(optarg, 100000, &v) && v > 0;
			a->cfg.conns = (unsigned)v;
			break;
		case 't':
			ok = parse_uint(optarg, 256, &v) && v > 0;
			a->cfg.threads = (unsigned)v;
			break;
		case 'd':
			ok = parse_uint(optarg, 4096, &v) && v > 0;
			a->cfg.depth = (unsigned)v;
			break;
		case 's':
			ok = parse_uint(optarg, PROTO_MAX_DATA, &v) && v >= BENCH_MIN_SIZE;
			a->cfg.size = (size_t)v;
			break;
		case 'k':
			ok = parse_uint(optarg, 1u << 24, &v) && v > 0;
			a->cfg.keys = (unsigned)v;
			a->have_keys = true;
			break;
		case 'n':
			ok = parse_uint(optarg, ~0ull >> 1, &v);
			a->cfg.requests = v;
			a->have_requests = true;
			break;
		case 'S':
			a->cfg.seconds = strtod(optarg, NULL);
			ok = a->cfg.seconds >= 0;
			break;
		case 'f':
			ok = parse_uint(optarg, 1u << 20, &v) && v >= 64;
			a->cfg.frame_size = (uint32_t)v;
			break;
		case 'p':
			ok = parse_uint(optarg, 0x7fffffff, &v);
			a->cfg.pid_base = (int32_t)v;
			break;
		case 'T':
			ok = parse_uint(optarg, 16, &v) && v > 0;
			a->cfg.server_threads = (unsigned)v;
			break;
		case 'V':
			a->cfg.verify = false;
			break;
		case 'C':
			ok = parse_uint(optarg, 1023, &v);
			a->cfg.client_cpu = (int)v;
			break;
		case 'D':
			ok = parse_uint(optarg, 1023, &v);
			a->cfg.server_cpu = (int)v;
			break;
		case 'K':
			a->cfg.keep = true;
			break;
		case 'R':
			a->cfg.reuse = true;
			break;
		case 'l':
			a->label = optarg;
			break;
		case 'i':
			ok = parse_uint(optarg, 1000000, &v) && v > 0;
			a->idle = v;
			break;
		case 'P':
			ok = parse_uint(optarg, 0x7fffffff, &a->server_pid);
			break;
		case 'H':
			ok = parse_uint(optarg, 86400, &a->hold);
			break;
		case 'U':
			a->faults = true;
			break;
		case 'O':
			a->fc.home = optarg;
			break;
		case 'L':
			a->fc.local = optarg;
			break;
		case 'Y':
			a->fc.other = optarg;
			break;
		case 'r':
			ok = parse_uint(optarg, 100000, &v) && v > 0;
			a->fc.rounds = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'F':
			return free_port();
		default:
			ok = false;
		}
		if (!ok) {
			if (opt != '?')
				fprintf(stderr, "dshm-bench: bad value '%s'\n", optarg ? optarg : "");
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/* The run's defaults that depend on other options, and their checks: 0, or 2 for bad usage. */
static int
settle_config(struct args *a)
{
	struct bench_config *cfg = &a->cfg;

	if (a->write_pct < 0)
		a->write_pct = strcmp(cfg->workload, "write") == 0 ? 100
			       : strcmp(cfg->workload, "mix") == 0 ? 10
								    : 0;
	else
		cfg->workload = "custom";
	cfg->write_pct = (unsigned)a->write_pct;
	if (cfg->threads == 0)
		cfg->threads = cfg->conns < 2 ? cfg->conns : 2;
	if (cfg->threads > cfg->conns)
		cfg->threads = cfg->conns;
	if (cfg->seconds < 0)
		cfg->seconds = a->have_requests ? 0 : 5;
	if (cfg->seconds == 0 && cfg->requests == 0) {
		fprintf(stderr, "dshm-bench: give --requests or --seconds a bound\n");
		return 2;
	}
	/* dshm's pids and pages are 32-bit: every connection's process and last page must fit. */
	if (cfg->be == &bench_dshm &&
	    ((uint64_t)cfg->pid_base + cfg->conns - 1 > INT32_MAX ||
	     (uint64_t)cfg->keys * ((cfg->size + cfg->frame_size - 1) / cfg->frame_size) > INT32_MAX)) {
		fprintf(stderr, "dshm-bench: dshm: pids (--pid-base + --conns) or pages (--keys x "
				"pages per value) pass 2^31 - 1\n");
		return 2;
	}
	return 0;
}

/* The one line a run prints: name=value pairs, for bench_run.sh and the reader alike. */
static void
print_result(const struct bench_config *cfg, const struct bench_result *r, const char *label,
	     int rc)
{
	double secs = r->seconds > 0 ? r->seconds : 1e-9;

	printf("backend=%s transport=%s workload=%s conns=%u depth=%u threads=%u size=%zu ops=%llu "
	       "seconds=%.3f ops_s=%.0f mb_s=%.1f p50_us=%.1f p99_us=%.1f p999_us=%.1f mean_us=%.1f "
	       "server_cpu_us_per_op=%.2f server_cpu_pct=%.0f "
	       "verified=%llu errors=%llu mismatches=%llu%s%s status=%s\n",
	       cfg->be->name, strncmp(cfg->addr, "unix:", 5) == 0 ? "unix" : "tcp", cfg->workload,
	       cfg->conns, cfg->depth, cfg->threads, cfg->size, (unsigned long long)r->ops, r->seconds,
	       (double)r->ops / secs, (double)r->bytes / secs / 1e6, r->p50_us, r->p99_us, r->p999_us,
	       r->mean_us,
	       r->ops && r->server_cpu_ns ? (double)r->server_cpu_ns / 1e3 / (double)r->ops : -1.0,
	       r->server_cpu_ns ? (double)r->server_cpu_ns / 1e7 / secs : -1.0,
	       (unsigned long long)r->verified, (unsigned long long)r->errors,
	       (unsigned long long)r->mismatches, label ? " label=" : "", label ? label : "",
	       rc < 0 ? "failed" : r->errors || r->mismatches ? "wrong" : "ok");
}

/* One point of the matrix against a server (or the baseline it starts): its exit code. */
static int
run_point(struct args *a)
{
	struct bench_config *cfg = &a->cfg;
	bool baseline = cfg->be == &bench_baseline;
	struct bench_result r;
	int rc;

	bench_raise_nofile(cfg->conns + 64);
	cfg->cpu_pid = (long)a->server_pid;
	if (baseline) {
		if (bench_baseline_start(a->addr ? a->addr : "127.0.0.1:0", cfg->server_threads,
					 cfg->server_cpu, cfg->addr, sizeof(cfg->addr)) < 0)
			return 1;
		cfg->verify = false; /* its replies are zeros */
		cfg->cpu_pid = bench_baseline_pid();
	} else {
		if (!a->addr) {
			fprintf(stderr, "dshm-bench: no server: give --addr or set $DSHM_SERVER\n");
			return 2;
		}
		snprintf(cfg->addr, sizeof(cfg->addr), "%s", a->addr);
	}
	rc = bench_run(cfg, &r);
	if (baseline)
		bench_baseline_stop();
	print_result(cfg, &r, a->label, rc);
	return rc < 0 || r.errors || r.mismatches ? 1 : 0;
}

int
main(int argc, char **argv)
{
	struct args a = {
		.cfg = {
			.be = &bench_dshm,
			.conns = 1,
			.depth = 1,
			.size = 4096,
			.keys = 64,
			.workload = "read",
			.seconds = -1,
			.frame_size = 4096,
			.pid_base = 900000,
			.server_threads = 2,
			.verify = true,
			.client_cpu = -1,
			.server_cpu = -1,
		},
		.fc = {.rounds = 20},
		.write_pct = -1,
	};
	int rc;

	if ((rc = parse_args(argc, argv, &a)) >= 0)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	if (!a.addr)
		a.addr = getenv("DSHM_SERVER");
	if (a.idle) {
		if (!a.addr) {
			fprintf(stderr, "dshm-bench: --idle needs --addr or $DSHM_SERVER\n");
			return 2;
		}
		return run_idle(a.addr, (unsigned)a.idle, (pid_t)a.server_pid, (unsigned)a.hold);
	}
	if (a.faults) {
		if (!a.addr || !a.fc.home || !a.fc.local) {
			fprintf(stderr, "dshm-bench: --faults needs --addr (the home over TCP), --home and "
					"--local\n");
			return 2;
		}
		a.fc.addr = a.addr;
		a.fc.pages = a.have_keys ? a.cfg.keys : 256;
		a.fc.seconds = a.cfg.seconds < 0 ? 2 : a.cfg.seconds;
		return bench_faults(&a.fc);
	}
	if ((rc = settle_config(&a)) != 0)
		return rc;
	return run_point(&a);
}
