/*
 * test_tools.c — dshm-ipcs ($DSHM_IPCS) against a real dshmd: each report
 * and option, with its output read back, and its exit codes.
 *
 * Every test starts a fresh server (2 workers, Unix socket), creates
 * paging processes and segments through libdshm, runs dshm-ipcs with its
 * stdout on a pipe (so, not a terminal) and checks what it printed.  The
 * segment calls share one connection per process: each segment test
 * points it at its server first and detaches all it attached before it
 * ends.  --check also
 * runs on a corrupted copy of the live table, in a segment of its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

#define RUN_MS 20000 /* how long one dshm-ipcs run may take */

/* ---- running dshm-ipcs ---------------------------------------------------- */

struct run {
	int status; /* exit status, 128 + signal, or -1 */
	char *out;  /* stdout, NUL-terminated; valid until the next run */
};

/* The last run's output: freed by the next run (or at exit), so a failing test leaks nothing. */
static char *last_out;

/* environ without DSHM_SERVER, plus DSHM_SERVER=env_server when not NULL: malloc'd. */
static char **
child_environ(const char *env_server, char *buf, size_t len)
{
	extern char **environ;
	size_t n = 0, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	env = calloc(n + 2, sizeof(*env));
	assert_non_null(env);
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "DSHM_SERVER=", 12) != 0)
			env[k++] = environ[i];
	if (env_server != NULL) {
		snprintf(buf, len, "DSHM_SERVER=%s", env_server);
		env[k++] = buf;
	}
	return env;
}

/*
 * Runs dshm-ipcs with the NULL-terminated arguments, $DSHM_SERVER set to
 * env_server (unset when NULL); collects stdout (stderr goes to ours).
 * posix_spawn, not fork: a forked child would inherit this process's
 * segment attachments (libdshm's fork semantics) and change the nattch
 * that dshm-ipcs is there to show.
 */
static struct run
run_ipcs_env(const char *env_server, const char *const *args)
{
	const char *ipcs = getenv("DSHM_IPCS");
	const char *argv[32];
	struct run r = {.status = -1};
	size_t len = 0, cap = 4096;
	int64_t deadline = harness_now_ms() + RUN_MS;
	posix_spawn_file_actions_t fa;
	char envbuf[256], **env;
	int pfd[2], n = 0, rc;
	pid_t pid;

	if (ipcs == NULL || ipcs[0] == '\0')
		ipcs = "build/asan/dshm-ipcs";
	argv[n++] = ipcs;
	for (int i = 0; args[i] != NULL && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	free(last_out);
	last_out = r.out = malloc(cap);
	assert_non_null(r.out);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	env = child_environ(env_server, envbuf, sizeof(envbuf));
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO), 0);
	rc = posix_spawn(&pid, ipcs, &fa, NULL, (char *const *)argv, env);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	if (rc != 0)
		fail_msg("posix_spawn %s: %s", ipcs, strerror(rc));
	close(pfd[1]);
	for (;;) {
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		ssize_t got;

		if (harness_now_ms() > deadline || poll(&p, 1, 100) < 0)
			break;
		if (len + 1024 > cap) {
			cap *= 2;
			last_out = r.out = realloc(r.out, cap);
			assert_non_null(r.out);
		}
		got = read(pfd[0], r.out + len, cap - len - 1);
		if (got == 0)
			break;
		if (got > 0)
			len += (size_t)got;
	}
	r.out[len] = '\0';
	close(pfd[0]);
	r.status = wait_child(pid, (int)(deadline > harness_now_ms() ? deadline - harness_now_ms() : 1));
	return r;
}

#define RUN(f, ...) run_ipcs_env(NULL, (const char *const[]){"--server", (f)->srv.unix_addr, \
							   __VA_ARGS__, NULL})

static void
run_free(struct run *r)
{
	free(r->out);
	if (last_out == r->out)
		last_out = NULL;
	r->out = NULL;
}

static void
expect_in(const struct run *r, const char *needle)
{
	if (strstr(r->out, needle) == NULL)
		fail_msg("dshm-ipcs output lacks \"%s\"; it was:\n%s", needle, r->out);
}

/* ---- fixtures ------------------------------------------------------------- */

static struct fixture *
F(void **state)
{
	return *state;
}

/* Processes 11 (3 pages), 22 (5 pages) and 33 (2 pages) on f's server. */
static int
make_processes(struct fixture *f)
{
	int fd = dshm_connect(f->addr);

	assert_true(fd >= 0);
	assert_int_equal(memory_init_process(fd, 11, 3, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_init_process(fd, 22, 5, NULL), DSHM_SUCCESS);
	assert_int_equal(memory_init_process(fd, 33, 2, NULL), DSHM_SUCCESS);
	return fd;
}

static uint64_t
nframes_of(struct fixture *f)
{
	assert_true(server_attach(&f->srv));
	return f->srv.table.hdr->nframes;
}

/* The line of out that starts with prefix (copied into line), or false. */
static bool
line_starting(const char *out, const char *prefix, char *line, size_t len)
{
	for (const char *p = out; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p) {
		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			size_t n = strcspn(p, "\n");

			snprintf(line, len, "%.*s", (int)n, p);
			return true;
		}
	}
	return false;
}

/* ---- a small JSON validator ----------------------------------------------- */

static const char *json_value(const char *p, int depth);

static const char *
json_ws(const char *p)
{
	while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r')
		p++;
	return p;
}

static const char *
json_str(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (; *p != '"'; p++) {
		if (*p == '\0' || (unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || p[i] == '\0')
						return NULL;
				p += 4;
			} else if (*p == '\0' || !strchr("\"\\/bfnrt", *p)) {
				return NULL;
			}
		}
	}
	return p + 1;
}

static const char *
json_members(const char *p, char close, bool keyed, int depth)
{
	p = json_ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (keyed) {
			if ((p = json_str(json_ws(p))) == NULL)
				return NULL;
			p = json_ws(p);
			if (*p++ != ':')
				return NULL;
		}
		if ((p = json_value(p, depth + 1)) == NULL)
			return NULL;
		p = json_ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *
json_value(const char *p, int depth)
{
	char *end;

	if (depth > 32)
		return NULL;
	p = json_ws(p);
	if (*p == '{')
		return json_members(p, '}', true, depth);
	if (*p == '[')
		return json_members(p, ']', false, depth);
	if (*p == '"')
		return json_str(p);
	if (strncmp(p, "null", 4) == 0 || strncmp(p, "true", 4) == 0)
		return p + 4;
	if (strncmp(p, "false", 5) == 0)
		return p + 5;
	if (*p != '-' && (*p < '0' || *p > '9'))
		return NULL;
	strtod(p, &end);
	return end == p ? NULL : end;
}

static bool
json_valid(const char *doc)
{
	const char *end = json_value(doc, 0);

	return end != NULL && *json_ws(end) == '\0';
}

/* ---- the tests ------------------------------------------------------------ */

static void
test_json_validator_tells_good_from_bad(void **state)
{
	(void)state;
	assert_true(json_valid("{\"a\": [1, -2.5e3, \"x\\\"y\\u00e9\"], \"b\": {}, \"c\": null}\n"));
	assert_false(json_valid("{\"a\": [1, 2}"));
	assert_false(json_valid("{\"a\": \"unterminated}"));
	assert_false(json_valid("{\"a\": 1,}"));
	assert_false(json_valid("{\"a\": 1} {"));
}

static void
test_summary_counts_frames_processes_and_workers(void **state)
{
	struct fixture *f = F(state);
	int fd = make_processes(f);
	uint64_t n = nframes_of(f);
	char want[256];
	struct run r = run_ipcs_env(NULL, (const char *const[]){"--server", f->srv.unix_addr, NULL});

	assert_int_equal(r.status, 0);
	expect_in(&r, "server:     dshmd " DSHM_VERSION);
	snprintf(want, sizeof(want), "creator pid %d,", (int)f->srv.pid);
	expect_in(&r, want);
	/* Which server it shows: its socket, and how its table was found. */
	snprintf(want, sizeof(want), "socket:     %.80s (table key derived from the socket %.80s)\n",
		 f->srv.unix_path, f->srv.unix_path);
	expect_in(&r, want);
	expect_in(&r, "frame size: 4096 bytes\n");
	snprintf(want, sizeof(want), "frames:     10 used, %llu free, %llu in all\n",
		 (unsigned long long)n - 10, (unsigned long long)n);
	expect_in(&r, want);
	snprintf(want, sizeof(want), "arena:      %llu bytes\n", (unsigned long long)n * 4096);
	expect_in(&r, want);
	/* attached: the master, 2 workers and this test (counted before dshm-ipcs attached) */
	snprintf(want, sizeof(want), "table:      %llu bytes, key 0x%08x, shmid %d, nattch 4\n",
		 (unsigned long long)f->srv.table.hdr->table_size, (unsigned)f->srv.key,
		 f->srv.shmid);
	expect_in(&r, want);
	expect_in(&r, "processes:  3 (at most 512)\n");
	expect_in(&r, "workers:    2 (2 serving)\n");
	expect_in(&r, "key        shmid      owner      perms      bytes      nattch     status\n"
		      "(none)\n");
	expect_in(&r, "------ paging processes ------\n");
	run_free(&r);
	close(fd);
}

static void
test_p_lists_each_process_with_pages_frames_and_bytes(void **state)
{
	struct fixture *f = F(state);
	int fd = make_processes(f);
	struct run r = RUN(f, "-p");
	static const struct { const char *pid; unsigned long long pages; } want[] = {
		{"11 ", 3}, {"22 ", 5}, {"33 ", 2}};
	char line[256];

	assert_int_equal(r.status, 0);
	expect_in(&r, "pid          uid        pages      frames     bytes\n");
	assert_null(strstr(r.out, "server:")); /* -p alone: no summary */
	for (size_t i = 0; i < 3; i++) {
		long long pid;
		char uid[16];
		unsigned long long pages, frames, bytes;

		assert_true(line_starting(r.out, want[i].pid, line, sizeof(line)));
		assert_int_equal(sscanf(line, "%lld %15s %llu %llu %llu", &pid, uid, &pages, &frames,
					&bytes), 5);
		assert_string_equal(uid, "0"); /* over the Unix socket: our uid (root) */
		assert_int_equal(pages, want[i].pages);
		assert_int_equal(frames, want[i].pages);
		assert_int_equal(bytes, want[i].pages * 4096);
	}
	run_free(&r);
	close(fd);
}

static void
test_w_lists_both_workers_from_the_scoreboard(void **state)
{
	struct fixture *f = F(state);
	int fd = make_processes(f);
	struct run r = RUN(f, "-w");
	pid_t pids[4];
	int nw = server_workers(&f->srv, pids, 4);
	unsigned long long requests = 0;
	char prefix[16], line[256];

	assert_int_equal(r.status, 0);
	assert_int_equal(nw, 2);
	expect_in(&r, "index pid      state     conns    total   requests     bytes-in    bytes-out"
		      "  beat-ms  last-activity\n");
	for (int i = 0; i < 2; i++) {
		unsigned idx;
		int pid;
		char st[16];
		unsigned long long now, total, req, in, out;

		snprintf(prefix, sizeof(prefix), "%d ", i);
		assert_true(line_starting(r.out, prefix, line, sizeof(line)));
		assert_int_equal(sscanf(line, "%u %d %15s %llu %llu %llu %llu %llu", &idx, &pid, st,
					&now, &total, &req, &in, &out), 8);
		assert_string_equal(st, "serving");
		assert_true(pid == pids[0] || pid == pids[1]);
		assert_non_null(strstr(line, "ago"));
		requests += req;
	}
	assert_true(requests >= 3); /* the three inits, whichever worker served them */
	assert_false(line_starting(r.out, "2 ", line, sizeof(line)));
	run_free(&r);
	close(fd);
}

/* The letter the legend gives pid, or 0. */
static char
legend_letter(const char *out, int pid)
{
	char needle[32];
	const char *p;

	snprintf(needle, sizeof(needle), "  pid %d: ", pid);
	p = strstr(out, needle);
	if (p == NULL || p - out < 3 || p[-2] != ' ' || p[-3] != ' ')
		return 0;
	return p[-1];
}

static void
test_map_shows_each_owner_by_letter_with_a_legend_and_free_frames(void **state)
{
	struct fixture *f = F(state);
	int fd;
	struct run r;
	const char *legend;
	char a, b, c;
	char line[256];

	assert_int_equal(fixture_start(f, "--memory", "1M", NULL), 0); /* 256 frames: one a cell */
	fd = make_processes(f);
	r = RUN(f, "--map");
	assert_int_equal(r.status, 0);
	assert_null(strchr(r.out, '\033')); /* not a terminal: no colours */
	expect_in(&r, "arena: 256 frames of 4096 bytes; one cell is 1 frame\n");
	assert_non_null(legend = strstr(r.out, "\nlegend"));
	a = legend_letter(r.out, 11);
	b = legend_letter(r.out, 22);
	c = legend_letter(r.out, 33);
	assert_true(a != 0 && b != 0 && c != 0 && a != b && b != c && a != c);
	expect_in(&r, "  pid 11: 3 frames\n");
	expect_in(&r, "  pid 22: 5 frames\n");
	expect_in(&r, "  pid 33: 2 frames\n");
	expect_in(&r, "  .  free: 246 frames\n");
	/* the picture (before the legend) holds every letter, and free cells */
	assert_true(line_starting(r.out, "  0 ", line, sizeof(line)));
	assert_int_equal(strlen(line), 4 + 64);
	assert_int_equal(count_occurrences(line, (char[]){a, 0}), 3);
	assert_int_equal(count_occurrences(line, (char[]){b, 0}), 5);
	assert_int_equal(count_occurrences(line, (char[]){c, 0}), 2);
	assert_true(line_starting(r.out, "192 ", line, sizeof(line))); /* 4 rows of 64 */
	assert_int_equal(count_occurrences(line, "."), 64);
	for (const char *p = r.out; p < legend; p++)
		assert_true(p < strchr(r.out, '\n') || strchr("0123456789 \n.", *p) != NULL ||
			    *p == a || *p == b || *p == c);
	assert_non_null(memchr(r.out, a, (size_t)(legend - r.out)));
	assert_non_null(memchr(r.out, b, (size_t)(legend - r.out)));
	assert_non_null(memchr(r.out, c, (size_t)(legend - r.out)));
	assert_true(count_occurrences(line, ".") > 0);
	run_free(&r);

	r = RUN(f, "--map", "--color=always");
	assert_int_equal(r.status, 0);
	expect_in(&r, "\033[1;3");
	expect_in(&r, "\033[0m");
	run_free(&r);
	close(fd);
}

static void
test_map_of_a_large_arena_groups_frames_and_shows_the_majority(void **state)
{
	struct fixture *f = F(state);
	int fd = make_processes(f); /* frames 0-2: pid 11, 3-7: pid 22, 8-9: pid 33 */
	struct run r = RUN(f, "--map");
	char line[256], b, c;

	assert_int_equal(r.status, 0);
	expect_in(&r, "arena: 16384 frames of 4096 bytes; one cell is 8 frames\n");
	b = legend_letter(r.out, 22);
	c = legend_letter(r.out, 33);
	assert_true(b != 0 && c != 0);
	expect_in(&r, "  pid 11: 3 frames\n"); /* in the legend, though outvoted in its cell */
	assert_true(line_starting(r.out, "    0 ", line, sizeof(line)));
	assert_int_equal(strlen(line), 6 + 64);
	assert_int_equal(line[6], b); /* 5 of 22's frames outvote 3 of 11's */
	assert_int_equal(line[7], c);
	assert_int_equal(count_occurrences(line + 8, "."), 62);
	assert_true(line_starting(r.out, "15872 ", line, sizeof(line))); /* 32 rows */
	expect_in(&r, "  .  free: 16374 frames\n");
	run_free(&r);
	close(fd);
}

static void
test_dump_shows_the_page_table_and_the_bytes_written(void **state)
{
	struct fixture *f = F(state);
	int fd = make_processes(f);
	const char msg[] = "dshm-ipcs dump!!"; /* 16 bytes: one line of the dump */
	struct run r;
	char prefix[16], line[128];

	assert_int_equal(memory_write(fd, 22, 1, 96, 16, 16, (void *)msg, NULL), DSHM_SUCCESS);
	r = RUN(f, "--dump", "pid:22");
	assert_int_equal(r.status, 0);
	expect_in(&r, "------ process 22: 5 pages of 4096 bytes ------\npage       frame\n");
	for (int p = 0; p < 5; p++) {
		long long frame = -1;

		snprintf(prefix, sizeof(prefix), "%-10d ", p);
		assert_true(line_starting(r.out, prefix, line, sizeof(line)));
		assert_int_equal(sscanf(line + 11, "%lld", &frame), 1);
		assert_true(frame >= 0 && frame < 16384);
	}
	/* page 1 starts at 0x1000: the message is at 0x1060 */
	expect_in(&r, "00001060  64 73 68 6d 2d 69 70 63  73 20 64 75 6d 70 21 21  "
		      "|dshm-ipcs dump!!|\n");
	expect_in(&r, "00000000  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  "
		      "|................|\n*\n");
	expect_in(&r, "\n00005000\n"); /* the end: 5 pages */
	run_free(&r);

	r = RUN(f, "--dump", "pid:999");
	assert_int_equal(r.status, 1);
	run_free(&r);
	close(fd);
}

static void
test_json_is_one_well_formed_document_with_every_pid(void **state)
{
	struct fixture *f = F(state);
	int fd = make_processes(f);
	struct run r = RUN(f, "--json");
	char want[64];
	pid_t pids[4];

	assert_int_equal(r.status, 0);
	if (!json_valid(r.out))
		fail_msg("not well-formed JSON:\n%s", r.out);
	expect_in(&r, "{\"pid\": 11, \"uid\": 0, \"pages\": 3, \"frames\": 3, \"bytes\": 12288,");
	expect_in(&r, "{\"pid\": 22,");
	expect_in(&r, "{\"pid\": 33,");
	expect_in(&r, "\"segments\": []");
	expect_in(&r, "\"frames_used\": 10,");
	snprintf(want, sizeof(want), "\"creator_pid\": %d,", (int)f->srv.pid);
	expect_in(&r, want);
	assert_int_equal(server_workers(&f->srv, pids, 4), 2);
	for (int i = 0; i < 2; i++) {
		snprintf(want, sizeof(want), "\"pid\": %d, \"state\": \"serving\"", (int)pids[i]);
		expect_in(&r, want);
	}
	run_free(&r);
	close(fd);
}

static void
test_check_finds_a_live_server_clean(void **state)
{
	struct fixture *f = F(state);
	int fd = make_processes(f);
	struct run r = RUN(f, "--check");

	assert_int_equal(r.status, 0);
	expect_in(&r, "0 violations in the table at key");
	run_free(&r);
	close(fd);
}

static void
test_check_reports_corruption_in_a_copy_of_the_table(void **state)
{
	struct fixture *f = F(state);
	int fd = make_processes(f);
	const struct table *live;
	struct table copy;
	char keyarg[16];
	key_t key = 0;
	int id = -1;
	void *mem;
	struct run r;

	assert_true(server_attach(&f->srv));
	live = &f->srv.table;
	for (uint32_t k = 0x64ff0000u | ((uint32_t)getpid() & 0xfff0); id < 0 && k < 0x64ffffffu; k++) {
		key = (key_t)k;
		id = shmget(key, live->hdr->table_size, IPC_CREAT | IPC_EXCL | 0600);
	}
	assert_true(id >= 0);
	mem = shmat(id, NULL, 0);
	if (mem == (void *)-1)
		shmctl(id, IPC_RMID, NULL);
	assert_true(mem != (void *)-1);
	memcpy(mem, live->hdr, live->hdr->table_size);
	assert_true(table_bind(&copy, mem, live->hdr->table_size, NULL));
	copy.hdr->frames_free += 2;
	/* the first used frame is given to the owner of another frame, in frame_owner only */
	{
		uint64_t first = 0, other = 0;

		while (first < copy.hdr->nframes && atomic_load(&copy.frame_owner[first]) == 0)
			first++;
		other = first + 1;
		while (other < copy.hdr->nframes &&
		       (atomic_load(&copy.frame_owner[other]) == 0 ||
			atomic_load(&copy.frame_owner[other]) == atomic_load(&copy.frame_owner[first])))
			other++;
		assert_true(other < copy.hdr->nframes);
		atomic_store(&copy.frame_owner[first], atomic_load(&copy.frame_owner[other]));
	}
	snprintf(keyarg, sizeof(keyarg), "0x%08x", (unsigned)key);
	r = run_ipcs_env(NULL, (const char *const[]){"--key", keyarg, "--check", NULL});
	shmdt(mem);
	shmctl(id, IPC_RMID, NULL);

	assert_int_equal(r.status, 1);
	expect_in(&r, "violation: frames_free is ");
	expect_in(&r, "which frame_owner gives to owner");
	expect_in(&r, " violations in the table at key ");
	run_free(&r);
	close(fd);
}

static void
test_server_is_found_through_the_environment(void **state)
{
	struct fixture *f = F(state);
	char want[64];
	struct run r = run_ipcs_env(f->srv.unix_addr, (const char *const[]){NULL});

	assert_int_equal(r.status, 0);
	snprintf(want, sizeof(want), "key 0x%08x, shmid %d", (unsigned)f->srv.key, f->srv.shmid);
	expect_in(&r, want);
	expect_in(&r, "processes:  0 (at most 512)\n");
	run_free(&r);
}

/* A TCP address names no table on this host: refused, never another server's table shown. */
static void
test_a_tcp_address_without_a_key_is_refused(void **state)
{
	struct fixture *f = F(state);
	char key[16], want[64];
	struct run r = run_ipcs_env(NULL, (const char *const[]){"--server", f->srv.tcp_addr, NULL});

	assert_int_equal(r.status, 3);
	assert_string_equal(r.out, "");
	run_free(&r);
	/* With its key, the same server's table. */
	snprintf(key, sizeof(key), "0x%08x", (unsigned)f->srv.key);
	r = run_ipcs_env(NULL, (const char *const[]){"--server", f->srv.tcp_addr, "--key", key, NULL});
	assert_int_equal(r.status, 0);
	snprintf(want, sizeof(want), "key 0x%08x, shmid %d", (unsigned)f->srv.key, f->srv.shmid);
	expect_in(&r, want);
	run_free(&r);
}

static void
test_absent_key_exits_3(void **state)
{
	struct run r;

	(void)state;
	r = run_ipcs_env(NULL, (const char *const[]){"--key", "0x64fffffe", NULL});
	assert_int_equal(r.status, 3);
	assert_string_equal(r.out, "");
	run_free(&r);
	r = run_ipcs_env("unix:/nonexistent/dir/dshm.sock", (const char *const[]){"-p", NULL});
	assert_int_equal(r.status, 3);
	run_free(&r);
}

static void
test_bad_usage_exits_2(void **state)
{
	static const char *const bad[][4] = {
		{"--bogus", NULL},
		{"--key", "zero", NULL},
		{"--key", "0", NULL},
		{"--dump", "42", NULL},
		{"--dump", "pid:-1", NULL},
		{"--dump", "shmid:", NULL},
		{"--dump", "shmid:x1", NULL},
		{"--color=sometimes", NULL},
		{"--json", "--check", NULL},
		{"extra", NULL},
	};
	struct run r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = run_ipcs_env(NULL, bad[i]);
		if (r.status != 2)
			fail_msg("dshm-ipcs %s %s exited %d, not 2", bad[i][0],
				 bad[i][1] ? bad[i][1] : "", r.status);
		run_free(&r);
	}
}

static void
test_help_documents_every_option(void **state)
{
	static const char *const opts[] = {"--key", "--server", "-p, --processes",
					   "-w, --workers", "--map", "--color", "--dump pid:N",
					   "--dump shmid:N", "--stats",
					   "--json", "--check", "--help", "--version",
					   "Exit codes"};
	struct run r;

	(void)state;
	r = run_ipcs_env(NULL, (const char *const[]){"--help", NULL});
	assert_int_equal(r.status, 0);
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		expect_in(&r, opts[i]);
	run_free(&r);
}

/* ---- segments ------------------------------------------------------------- */

#define SEG_KEY 0x5e5e0001

/* Points this process's segment calls at f's server and makes segment SEG_KEY. */
static int
make_segment(struct fixture *f, size_t size, int mode)
{
	int id;

	assert_int_equal(dshm_set_server(f->addr), 0);
	id = dshm_shmget(SEG_KEY, size, IPC_CREAT | IPC_EXCL | mode);
	assert_true(id >= 0);
	return id;
}

/* The segment list's line for shmid, as dshm-ipcs should print it. */
static void
segment_line(char *out, size_t len, key_t key, int id, const char *perms, unsigned long long bytes,
	     unsigned long long nattch, const char *status)
{
	struct passwd *pw = getpwuid(getuid());
	char owner[64];

	snprintf(owner, sizeof(owner), "%s", pw != NULL ? pw->pw_name : "?");
	if (status[0] == '\0')
		snprintf(out, len, "0x%08x %-10d %-10s %-10s %-10llu %llu\n", (unsigned)key, id, owner,
			 perms, bytes, nattch);
	else
		snprintf(out, len, "0x%08x %-10d %-10s %-10s %-10llu %-10llu %s\n", (unsigned)key, id,
			 owner, perms, bytes, nattch, status);
}

/* dshm-ipcs with no report option: summary, segments, processes. */
static struct run
default_report(struct fixture *f)
{
	return run_ipcs_env(NULL, (const char *const[]){"--server", f->srv.unix_addr, NULL});
}

static void
test_segments_are_listed_with_key_perms_bytes_nattch_and_status(void **state)
{
	struct fixture *f = F(state);
	int id = make_segment(f, 10000, 0640), locked;
	void *p = dshm_shmat(id, NULL, 0);
	char want[256];
	struct run r;

	assert_true(p != (void *)-1);
	locked = dshm_shmget(SEG_KEY + 1, 100, IPC_CREAT | 0600);
	assert_true(locked >= 0);
	assert_int_equal(dshm_shmctl(locked, SHM_LOCK, NULL), 0);
	r = default_report(f);
	assert_int_equal(r.status, 0);
	expect_in(&r, "------ dshm segments ------\n"
		      "key        shmid      owner      perms      bytes      nattch     status\n");
	segment_line(want, sizeof(want), SEG_KEY, id, "640", 10000, 1, "");
	expect_in(&r, want);
	segment_line(want, sizeof(want), SEG_KEY + 1, locked, "600", 100, 0, "locked");
	expect_in(&r, want);
	expect_in(&r, "segments:   2 (0 dest), 1 attachments (at most 2048)\n");
	run_free(&r);

	/* removed while attached: keyless and dest until the last detach */
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
	r = default_report(f);
	segment_line(want, sizeof(want), 0, id, "640", 10000, 1, "dest");
	expect_in(&r, want);
	expect_in(&r, "segments:   2 (1 dest), 1 attachments (at most 2048)\n");
	run_free(&r);
	assert_int_equal(dshm_shmdt(p), 0);
	r = default_report(f);
	snprintf(want, sizeof(want), "%-10d ", id);
	assert_null(strstr(r.out, want));
	expect_in(&r, "segments:   1 (0 dest), 0 attachments (at most 2048)\n");
	run_free(&r);
	assert_int_equal(dshm_shmctl(locked, IPC_RMID, NULL), 0);
}

static void
test_json_holds_each_segments_shmid_ds(void **state)
{
	struct fixture *f = F(state);
	int id = make_segment(f, 10000, 0640);
	void *p = dshm_shmat(id, NULL, SHM_RDONLY);
	char want[512];
	struct run r;

	assert_true(p != (void *)-1);
	r = RUN(f, "--json");
	assert_int_equal(r.status, 0);
	if (!json_valid(r.out))
		fail_msg("not well-formed JSON:\n%s", r.out);
	snprintf(want, sizeof(want), "{\"shmid\": %d, \"key\": \"0x%08x\", \"perms\": \"640\", "
		 "\"mode\": %d, \"dest\": false, \"locked\": false, \"seq\": ", id, SEG_KEY, 0640);
	expect_in(&r, want);
	expect_in(&r, "\"segsz\": 10000, \"frames\": 3, \"bytes\": 12288, ");
	snprintf(want, sizeof(want), "\"uid\": %u, \"gid\": %u, \"cuid\": %u, \"cgid\": %u, "
		 "\"cpid\": %d, \"lpid\": %d, \"nattch\": 1, \"atime\": ", (unsigned)getuid(),
		 (unsigned)getgid(), (unsigned)getuid(), (unsigned)getgid(), (int)getpid(),
		 (int)getpid());
	expect_in(&r, want); /* lpid: this process, the last to attach */
	expect_in(&r, "\"dtime\": 0, \"ctime\": ");
	expect_in(&r, "\"attachments\": 1,\n");
	run_free(&r);
	assert_int_equal(dshm_shmdt(p), 0);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

static void
test_map_legend_names_segments_beside_processes(void **state)
{
	struct fixture *f = F(state);
	int fd, id;
	char want[128], a, s;
	struct run r;

	assert_int_equal(fixture_start(f, "--memory", "1M", NULL), 0); /* 256 frames: one a cell */
	fd = make_processes(f);
	id = make_segment(f, 3 * 4096, 0600);
	r = RUN(f, "--map");
	assert_int_equal(r.status, 0);
	snprintf(want, sizeof(want), "  shmid %d key 0x%08x: 3 frames\n", id, SEG_KEY);
	expect_in(&r, want);
	expect_in(&r, "  pid 11: 3 frames\n");
	expect_in(&r, "  .  free: 243 frames\n");
	/* its letter is its own, and it is in the picture three times */
	s = strstr(r.out, want)[-1];
	a = legend_letter(r.out, 11);
	assert_true(s != a && s != legend_letter(r.out, 22) && s != legend_letter(r.out, 33));
	assert_int_equal(count_occurrences(strstr(r.out, "\n  0 "), (char[]){s, '\0'}) -
			 count_occurrences(strstr(r.out, "\nlegend"), (char[]){s, '\0'}), 3);
	run_free(&r);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
	close(fd);
}

static void
test_dump_of_a_segment_shows_its_page_table_and_the_bytes_written(void **state)
{
	struct fixture *f = F(state);
	int id = make_segment(f, 2 * 4096 + 100, 0600);
	const char msg[] = "dshm-ipcs shmid!"; /* 16 bytes: one line of the dump */
	char want[128], arg[32], prefix[16], line[128];
	struct run r;

	assert_int_equal(dshm_write(id, 4096 + 96, msg, 16), 16);
	snprintf(arg, sizeof(arg), "shmid:%d", id);
	r = RUN(f, "--dump", arg);
	assert_int_equal(r.status, 0);
	snprintf(want, sizeof(want), "------ segment %d, key 0x%08x: 8292 bytes in 3 pages of 4096 "
		 "bytes ------\npage       frame\n", id, SEG_KEY);
	expect_in(&r, want);
	for (int p = 0; p < 3; p++) {
		long long frame = -1;

		snprintf(prefix, sizeof(prefix), "%-10d ", p);
		assert_true(line_starting(r.out, prefix, line, sizeof(line)));
		assert_int_equal(sscanf(line + 11, "%lld", &frame), 1);
		assert_true(frame >= 0 && frame < 16384);
	}
	expect_in(&r, "00001060  64 73 68 6d 2d 69 70 63  73 20 73 68 6d 69 64 21  "
		      "|dshm-ipcs shmid!|\n");
	expect_in(&r, "00002060  00 00 00 00                                       |....|\n"
		      "00002064\n"); /* the end: segsz, not the frames */
	run_free(&r);

	snprintf(arg, sizeof(arg), "shmid:%d", id + 1);
	r = RUN(f, "--dump", arg);
	assert_int_equal(r.status, 1);
	run_free(&r);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0);
}

/* The value of counter name in STATS text, or -1. */
static long long
stat_value(const char *text, const char *name)
{
	char prefix[64], line[128];
	long long v = -1;

	snprintf(prefix, sizeof(prefix), "%s ", name);
	if (line_starting(text, prefix, line, sizeof(line)))
		sscanf(line + strlen(prefix), "%lld", &v);
	return v;
}

static void
test_stats_count_processes_segments_and_attachments_apart(void **state)
{
	struct fixture *f = F(state);
	int fd = make_processes(f);
	int a = make_segment(f, 100, 0600), b = dshm_shmget(IPC_PRIVATE, 100, 0600);
	void *p1 = dshm_shmat(a, NULL, 0), *p2 = dshm_shmat(a, NULL, SHM_RDONLY);
	struct run r;

	assert_true(b >= 0 && p1 != (void *)-1 && p2 != (void *)-1);
	r = RUN(f, "--stats");
	assert_int_equal(r.status, 0);
	assert_int_equal(stat_value(r.out, "processes"), 3);
	assert_int_equal(stat_value(r.out, "segments"), 2);
	assert_int_equal(stat_value(r.out, "attachments"), 2);
	run_free(&r);
	assert_int_equal(dshm_shmdt(p1), 0);
	assert_int_equal(dshm_shmdt(p2), 0);
	assert_int_equal(dshm_shmctl(b, IPC_RMID, NULL), 0);
	r = RUN(f, "--stats");
	assert_int_equal(stat_value(r.out, "segments"), 1);
	assert_int_equal(stat_value(r.out, "attachments"), 0);
	run_free(&r);
	assert_int_equal(dshm_shmctl(a, IPC_RMID, NULL), 0);
	close(fd);
}

static void
test_check_finds_a_live_server_with_segments_clean(void **state)
{
	struct fixture *f = F(state);
	int fd = make_processes(f);
	int id = make_segment(f, 5000, 0600);
	void *p = dshm_shmat(id, NULL, 0);
	struct run r;

	assert_true(p != (void *)-1);
	assert_int_equal(dshm_shmctl(id, IPC_RMID, NULL), 0); /* dest, still attached */
	r = RUN(f, "--check");
	assert_int_equal(r.status, 0);
	expect_in(&r, "0 violations in the table at key");
	run_free(&r);
	assert_int_equal(dshm_shmdt(p), 0);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_validator_tells_good_from_bad),
		TEST_ONE(test_summary_counts_frames_processes_and_workers),
		TEST_ONE(test_p_lists_each_process_with_pages_frames_and_bytes),
		TEST_ONE(test_w_lists_both_workers_from_the_scoreboard),
		TEST_ONE_BARE(test_map_shows_each_owner_by_letter_with_a_legend_and_free_frames),
		TEST_ONE(test_map_of_a_large_arena_groups_frames_and_shows_the_majority),
		TEST_ONE(test_dump_shows_the_page_table_and_the_bytes_written),
		TEST_ONE(test_json_is_one_well_formed_document_with_every_pid),
		TEST_ONE(test_check_finds_a_live_server_clean),
		TEST_ONE(test_check_reports_corruption_in_a_copy_of_the_table),
		TEST_ONE(test_server_is_found_through_the_environment),
		TEST_ONE(test_a_tcp_address_without_a_key_is_refused),
		TEST_ONE(test_segments_are_listed_with_key_perms_bytes_nattch_and_status),
		TEST_ONE(test_json_holds_each_segments_shmid_ds),
		TEST_ONE_BARE(test_map_legend_names_segments_beside_processes),
		TEST_ONE(test_dump_of_a_segment_shows_its_page_table_and_the_bytes_written),
		TEST_ONE(test_stats_count_processes_segments_and_attachments_apart),
		TEST_ONE(test_check_finds_a_live_server_with_segments_clean),
		cmocka_unit_test(test_absent_key_exits_3),
		cmocka_unit_test(test_bad_usage_exits_2),
		cmocka_unit_test(test_help_documents_every_option),
	};

	int rc;

	signal(SIGPIPE, SIG_IGN);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(last_out);
	return rc;
}
