/*
 * harness.c — the integration tests' dshmd driver (see harness.h).
 *
 * Invariants: a master started here is reaped only by server_destroy (its
 * exit status is read with WNOWAIT before that), so while a struct server
 * may still signal its process group, that group's id cannot have been
 * handed to anyone else; every dshmd started here is recorded, and the
 * ones a failed test left behind are killed, and their segments removed,
 * when the test binary exits.
 */
#include "harness.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dshm.h"
#include "naming.h"
#include "segfile.h"

#define MAX_ARGS 48
#define MAX_SPAWNED 256

/* ---- time --------------------------------------------------------------- */

int64_t
harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
harness_nap_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		continue;
}

/* ---- files -------------------------------------------------------------- */

char *
read_whole_file(const char *path)
{
	size_t len = 0, cap = 4096;
	char *text;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if ((text = malloc(cap)) == NULL) {
		close(fd);
		return NULL;
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *t = realloc(text, cap * 2);

			if (t == NULL) {
				free(text);
				close(fd);
				return NULL;
			}
			text = t;
			cap *= 2;
		}
		n = read(fd, text + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	text[len] = '\0';
	return text;
}

bool
file_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

int
count_occurrences(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void
remove_tree(const char *dir)
{
	if (dir[0] != '\0')
		nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---- processes ---------------------------------------------------------- */

/* Reads state, ppid and pgrp from /proc/PID/stat; false when pid is gone. */
static bool
proc_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd, pp, pg;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: parse after the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1, " %c %d %d", state, &pp, &pg) != 3)
		return false;
	*ppid = pp;
	*pgrp = pg;
	return true;
}

bool
pid_alive(pid_t pid)
{
	pid_t ppid, pgrp;
	char state;

	if (pid <= 0 || !proc_stat(pid, &state, &ppid, &pgrp))
		return false;
	return state != 'Z' && state != 'X';
}

bool
proc_cmdline(pid_t pid, char *out, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (len == 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	n = read(fd, out, len - 1);
	close(fd);
	if (n < 0)
		return false;
	for (ssize_t i = 0; i < n; i++)
		if (out[i] == '\0')
			out[i] = ' ';
	out[n] = '\0';
	return true;
}

/* Calls fn for every live process of the system; stops early when fn returns false. */
static void
each_process(bool (*fn)(pid_t pid, char state, pid_t ppid, pid_t pgrp, void *ctx), void *ctx)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		pid_t pid, ppid, pgrp;
		char state;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid = (pid_t)atoi(e->d_name);
		if (!proc_stat(pid, &state, &ppid, &pgrp) || state == 'Z' || state == 'X')
			continue;
		if (!fn(pid, state, ppid, pgrp, ctx))
			break;
	}
	closedir(d);
}

struct pid_list {
	pid_t match;
	pid_t *pids;
	int n, max;
};

static bool
collect_child(pid_t pid, char state, pid_t ppid, pid_t pgrp, void *ctx)
{
	struct pid_list *l = ctx;

	(void)state;
	(void)pgrp;
	if (ppid == l->match && l->n < l->max)
		l->pids[l->n++] = pid;
	return true;
}

static bool
find_group_member(pid_t pid, char state, pid_t ppid, pid_t pgrp, void *ctx)
{
	struct pid_list *l = ctx;

	(void)pid;
	(void)state;
	(void)ppid;
	if (pgrp == l->match)
		l->n++;
	return l->n == 0;
}

/* Whether any live (non-zombie) process is still in process group pgid. */
static bool
group_alive(pid_t pgid)
{
	struct pid_list l = {.match = pgid};

	each_process(find_group_member, &l);
	return l.n > 0;
}

pid_t
fork_child(int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(fn(arg) & 0xff);
	return pid;
}

static int
decode_status(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

int
wait_child(pid_t pid, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return decode_status(status);
		if (r < 0 && errno != EINTR)
			return -1;
		if (harness_now_ms() >= deadline)
			break;
		harness_nap_ms(2);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

bool
segment_exists(key_t key)
{
	return shmget(key, 0, 0) >= 0 || errno != ENOENT;
}

/* ---- the record of everything started ----------------------------------- */

struct spawned {
	pid_t pid; /* 0: the slot is free */
	key_t key;
	int shmid;
};

static struct spawned spawned[MAX_SPAWNED];
static pid_t harness_pid;
static char base_dir[PATH_MAX];
static bool base_is_ours;

/* Kills what is left of a group we started, reaps its master and removes its segment. */
static void
finish(pid_t pid, key_t key, int shmid)
{
	struct shmid_ds ds;
	int64_t deadline;

	/* The master is not reaped yet, so the group id is still ours. */
	kill(-pid, SIGKILL);
	deadline = harness_now_ms() + HARNESS_STOP_MS;
	while (group_alive(pid) && harness_now_ms() < deadline)
		harness_nap_ms(2);
	waitpid(pid, NULL, 0);
	/* Not ready yet, the shmid is unknown: look it up by the key it would have. */
	if (shmid < 0 && key != 0)
		shmid = shmget(key, 0, 0);
	/* Only the segment this master made, and only once nobody uses it. */
	if (shmid >= 0 && shmctl(shmid, IPC_STAT, &ds) == 0 && ds.shm_perm.__key == key &&
	    ds.shm_cpid == pid && ds.shm_nattch == 0) {
		shmctl(shmid, IPC_RMID, NULL);
		/* With it, the files of its segments' bytes. */
		segfile_remove(key, 0, true, false);
	}
}

static void
cleanup_at_exit(void)
{
	if (getpid() != harness_pid)
		return;
	for (int i = 0; i < MAX_SPAWNED; i++)
		if (spawned[i].pid > 0) {
			fprintf(stderr, "harness: dshmd pid %d was left running; killing it\n",
				(int)spawned[i].pid);
			finish(spawned[i].pid, spawned[i].key, spawned[i].shmid);
			spawned[i].pid = 0;
		}
	if (base_is_ours)
		remove_tree(base_dir);
}

static struct spawned *
record_of(pid_t pid)
{
	for (int i = 0; i < MAX_SPAWNED; i++)
		if (spawned[i].pid == pid)
			return &spawned[i];
	return NULL;
}

/* The directory under which each server gets its own; short enough for sun_path. */
static const char *
scratch_base(void)
{
	const char *env = getenv("DSHM_TEST_DIR");

	if (base_dir[0] != '\0')
		return base_dir;
	if (env != NULL && env[0] == '/' && strlen(env) < 60) {
		snprintf(base_dir, sizeof(base_dir), "%s", env);
	} else {
		snprintf(base_dir, sizeof(base_dir), "/tmp/dshm-it.XXXXXX");
		if (mkdtemp(base_dir) == NULL) {
			base_dir[0] = '\0';
			return NULL;
		}
		base_is_ours = true;
	}
	return base_dir;
}

bool
scratch_dir(char *out, size_t len)
{
	const char *base = scratch_base();
	int n;

	if (base == NULL)
		return false;
	n = snprintf(out, len, "%s/dXXXXXX", base);
	return n > 0 && (size_t)n < len && mkdtemp(out) != NULL;
}

/* ---- starting and stopping dshmd ---------------------------------------- */

static bool
has_arg(const char *const *args, const char *name, const char **value)
{
	for (int i = 0; args[i] != NULL; i++)
		if (strcmp(args[i], name) == 0) {
			if (value != NULL)
				*value = args[i + 1];
			return true;
		}
	return false;
}

static int
collect_args(va_list ap, const char **args)
{
	int n = 0;
	const char *a;

	while ((a = va_arg(ap, const char *)) != NULL) {
		if (n == MAX_ARGS - 1)
			return -1;
		args[n++] = a;
	}
	args[n] = NULL;
	return n;
}

static void (*exec_hook)(void);

int
server_spawnv(struct server *s, const char *const *args)
{
	const char *dshmd = getenv("DSHMD");
	const char *argv[MAX_ARGS + 10], *unix_arg = NULL;
	const char *base = scratch_base();
	struct spawned *rec;
	int n = 0, len;
	pid_t pid;

	memset(s, 0, sizeof(*s));
	s->shmid = -1;
	if (dshmd == NULL || dshmd[0] == '\0')
		dshmd = "build/asan/dshmd";
	if (base == NULL || (rec = record_of(0)) == NULL) {
		fprintf(stderr, "harness: no scratch directory or too many servers\n");
		return -1;
	}
	snprintf(s->dir, sizeof(s->dir), "%.100s/sXXXXXX", base);
	if (mkdtemp(s->dir) == NULL) {
		fprintf(stderr, "harness: mkdtemp(%s): %s\n", s->dir, strerror(errno));
		s->dir[0] = '\0';
		return -1;
	}
	snprintf(s->log_path, sizeof(s->log_path), "%.111s/log", s->dir);
	snprintf(s->out_path, sizeof(s->out_path), "%.111s/out", s->dir);
	if (has_arg(args, "--unix", &unix_arg) && unix_arg != NULL)
		len = snprintf(s->unix_path, sizeof(s->unix_path), "%s", unix_arg);
	else
		len = snprintf(s->unix_path, sizeof(s->unix_path), "%.111s/dshm.sock", s->dir);
	if (len < 0 || (size_t)len >= sizeof(s->unix_path)) {
		fprintf(stderr, "harness: the socket path is too long for sun_path\n");
		return -1;
	}
	snprintf(s->unix_addr, sizeof(s->unix_addr), "unix:%s", s->unix_path);

	argv[n++] = dshmd;
	if (!has_arg(args, "--unix", NULL)) {
		argv[n++] = "--unix";
		argv[n++] = s->unix_path;
	}
	if (!has_arg(args, "--listen", NULL)) {
		argv[n++] = "--listen";
		argv[n++] = "127.0.0.1:0";
	}
	if (!has_arg(args, "--workers", NULL)) {
		argv[n++] = "--workers";
		argv[n++] = "2";
	}
	/* $DSHM_TEST_IO runs the whole suite on one event loop (make check runs each). */
	if (!has_arg(args, "--io", NULL) && getenv("DSHM_TEST_IO") != NULL &&
	    getenv("DSHM_TEST_IO")[0] != '\0') {
		argv[n++] = "--io";
		argv[n++] = getenv("DSHM_TEST_IO");
	}
	for (int i = 0; args[i] != NULL && n < MAX_ARGS + 9; i++)
		argv[n++] = args[i];
	argv[n] = NULL;

	if (harness_pid == 0) {
		harness_pid = getpid();
		atexit(cleanup_at_exit);
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "harness: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		int in = open("/dev/null", O_RDONLY);
		int out = open(s->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int err = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

		/* A group of its own, so that the test can kill the master and its workers. */
		setpgid(0, 0);
		if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
		    dup2(err, 2) < 0)
			_exit(126);
		/* Nothing of the test (its sockets, other servers' files) leaks into dshmd. */
		close_range(3, ~0u, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (exec_hook != NULL)
			exec_hook();
		execv(dshmd, (char *const *)argv);
		dprintf(2, "harness: execv(%s): %s\n", dshmd, strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* also here: no race with a kill of the group */
	s->pid = pid;
	/* The key dshmd derives, until its ready line tells. */
	if (!has_arg(args, "--key", NULL))
		s->key = naming_key_for_socket(s->unix_path);
	rec->pid = pid;
	rec->key = s->key;
	rec->shmid = -1;
	return 0;
}

void
server_set_exec_hook(void (*hook)(void))
{
	exec_hook = hook;
}

int
server_spawn(struct server *s, ...)
{
	const char *args[MAX_ARGS];
	va_list ap;
	int n;

	va_start(ap, s);
	n = collect_args(ap, args);
	va_end(ap);
	if (n < 0) {
		memset(s, 0, sizeof(*s));
		return -1;
	}
	return server_spawnv(s, args);
}

/* Reads the master's exit status without reaping it; true once it has exited. */
static bool
check_exited(struct server *s)
{
	siginfo_t si;

	if (s->exited)
		return true;
	if (s->pid <= 0)
		return false;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
		return false;
	s->exited = true;
	s->status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
	return true;
}

/* Parses the ready line; true once it is in the log. */
static bool
parse_ready(struct server *s)
{
	char *log = server_log(s), *p, tcp[64], unix_path[108];
	unsigned key;
	int shmid, workers;
	bool ok = false;

	if ((p = strstr(log, "info: ready: key ")) != NULL && strchr(p, '\n') != NULL &&
	    sscanf(p, "info: ready: key %x shmid %d unix %107s tcp %63s workers %d", &key, &shmid,
		   unix_path, tcp, &workers) == 5) {
		struct spawned *rec = record_of(s->pid);
		char *colon;

		s->key = (key_t)key;
		s->shmid = shmid;
		s->workers = workers;
		if (strcmp(tcp, "none") != 0 && (colon = strrchr(tcp, ':')) != NULL) {
			snprintf(s->tcp_addr, sizeof(s->tcp_addr), "%s", tcp);
			s->port = atoi(colon + 1);
		}
		if (rec != NULL) {
			rec->key = s->key;
			rec->shmid = s->shmid;
		}
		ok = true;
	}
	free(log);
	return ok;
}

bool
server_wait_ready(struct server *s, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	for (;;) {
		if (parse_ready(s))
			return true;
		if (check_exited(s) || harness_now_ms() >= deadline)
			return parse_ready(s);
		harness_nap_ms(HARNESS_POLL_MS);
	}
}

int
server_start(struct server *s, ...)
{
	const char *args[MAX_ARGS];
	va_list ap;
	int n;

	va_start(ap, s);
	n = collect_args(ap, args);
	va_end(ap);
	if (n < 0 || server_spawnv(s, args) < 0)
		return -1;
	if (!server_wait_ready(s, HARNESS_READY_MS)) {
		fprintf(stderr, "harness: dshmd (pid %d) did not get ready; its log:\n", (int)s->pid);
		server_print_log(s);
		return -1;
	}
	return 0;
}

int
server_wait_exit(struct server *s, int timeout_ms)
{
	if (s->pid <= 0)
		return -1;
	if (!WAIT_UNTIL(check_exited(s), timeout_ms))
		return -1;
	return s->status;
}

int
server_stop(struct server *s)
{
	server_detach(s);
	if (s->pid <= 0)
		return -1;
	if (!check_exited(s))
		kill(s->pid, SIGTERM);
	return server_wait_exit(s, HARNESS_STOP_MS);
}

void
server_kill(struct server *s, int sig)
{
	if (s->pid > 0 && !check_exited(s))
		kill(s->pid, sig);
}

void
server_kill_group(struct server *s, int sig)
{
	if (s->pid > 0)
		kill(-s->pid, sig); /* the master is not reaped: the group is still ours */
}

bool
server_wait_group_gone(const struct server *s, int timeout_ms)
{
	return s->pid > 0 && WAIT_UNTIL(!group_alive(s->pid), timeout_ms);
}

void
server_destroy(struct server *s)
{
	struct spawned *rec;

	server_detach(s);
	if (s->pid > 0) {
		finish(s->pid, s->key, s->shmid);
		if ((rec = record_of(s->pid)) != NULL)
			rec->pid = 0;
		s->pid = 0;
	}
	remove_tree(s->dir);
	s->dir[0] = '\0';
}

const char *
server_addr(const struct server *s, enum transport t)
{
	return t == TRANSPORT_UNIX ? s->unix_addr : s->tcp_addr;
}

char *
server_log(const struct server *s)
{
	char *log = read_whole_file(s->log_path);

	return log != NULL ? log : strdup("");
}

char *
server_stdout(const struct server *s)
{
	char *out = read_whole_file(s->out_path);

	return out != NULL ? out : strdup("");
}

bool
server_log_has(const struct server *s, const char *needle)
{
	char *log = server_log(s);
	bool has = log != NULL && strstr(log, needle) != NULL;

	free(log);
	return has;
}

bool
server_wait_log(const struct server *s, const char *needle, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	while (!server_log_has(s, needle)) {
		if (harness_now_ms() >= deadline)
			return false;
		harness_nap_ms(HARNESS_POLL_MS);
	}
	return true;
}

void
server_print_log(const struct server *s)
{
	char *log = server_log(s);

	fprintf(stderr, "---- log of dshmd pid %d (%s)\n%s---- end of log\n", (int)s->pid,
		s->log_path, log != NULL ? log : "");
	free(log);
}

int
server_workers(const struct server *s, pid_t *pids, int max)
{
	char path[96], *text, *p;
	struct pid_list l = {.match = s->pid, .pids = pids, .max = max};
	int n = 0;

	if (s->pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)s->pid, (int)s->pid);
	if ((text = read_whole_file(path)) == NULL) {
		each_process(collect_child, &l);
		return l.n;
	}
	for (p = text; *p != '\0' && n < max;) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		if (pid_alive((pid_t)v))
			pids[n++] = (pid_t)v;
		p = end;
	}
	free(text);
	return n;
}

bool
server_attach(struct server *s)
{
	char err[256];

	if (s->attached)
		return true;
	if (table_attach(&s->table, s->key, true, err, sizeof(err)) < 0) {
		fprintf(stderr, "harness: %s\n", err);
		return false;
	}
	s->attached = true;
	return true;
}

void
server_detach(struct server *s)
{
	if (s->attached) {
		table_detach(&s->table);
		s->attached = false;
	}
}

uint64_t
server_bytes_in(const struct server *s)
{
	uint64_t sum = 0;

	if (s->attached)
		for (uint32_t i = 0; i < s->table.hdr->nworkers; i++)
			sum += atomic_load(&s->table.workers[i].bytes_in);
	return sum;
}

uint64_t
server_bytes_out(const struct server *s)
{
	uint64_t sum = 0;

	if (s->attached)
		for (uint32_t i = 0; i < s->table.hdr->nworkers; i++)
			sum += atomic_load(&s->table.workers[i].bytes_out);
	return sum;
}

uint64_t
server_requests(const struct server *s)
{
	uint64_t sum = 0;

	if (s->attached)
		for (uint32_t i = 0; i < s->table.hdr->nworkers; i++)
			sum += atomic_load(&s->table.workers[i].requests);
	return sum;
}

bool
uring_loop(void)
{
	const char *io = getenv("DSHM_TEST_IO");

	/* Unset or auto: dshmd takes io_uring where it can. */
	return io == NULL || strcmp(io, "epoll") != 0;
}

pid_t
spawn_program(const char *const *argv, const char *const *env, int netns, const char *out_path)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(120);
	if (netns >= 0 && setns(netns, CLONE_NEWNET) != 0) {
		dprintf(2, "setns: %s\n", strerror(errno));
		_exit(121);
	}
	for (int i = 0; env != NULL && env[i] != NULL; i++)
		putenv((char *)env[i]);
	execv(argv[0], (char *const *)argv);
	dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(122);
}

/* ---- segments ------------------------------------------------------------ */

long
segment_nattch(int id)
{
	struct shmid_ds ds;

	return dshm_shmctl(id, IPC_STAT, &ds) == 0 ? (long)ds.shm_nattch : -1;
}

bool
fixture_use_for_segments(const struct fixture *f)
{
	return dshm_set_server(f->addr) == 0;
}

/* ---- cmocka fixtures ---------------------------------------------------- */

static int
prepare(void **state, enum transport t)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->transport = t;
	*state = f;
	return 0;
}

int
fixture_prepare_unix(void **state)
{
	return prepare(state, TRANSPORT_UNIX);
}

int
fixture_prepare_tcp(void **state)
{
	return prepare(state, TRANSPORT_TCP);
}

static int
fixture_startv(struct fixture *f, const char *const *args)
{
	if (server_spawnv(&f->srv, args) < 0)
		return -1;
	if (!server_wait_ready(&f->srv, HARNESS_READY_MS)) {
		fprintf(stderr, "harness: dshmd (pid %d) did not get ready; its log:\n",
			(int)f->srv.pid);
		server_print_log(&f->srv);
		return -1;
	}
	f->addr = server_addr(&f->srv, f->transport);
	return 0;
}

int
fixture_start(struct fixture *f, ...)
{
	const char *args[MAX_ARGS];
	va_list ap;
	int n;

	va_start(ap, f);
	n = collect_args(ap, args);
	va_end(ap);
	return n < 0 ? -1 : fixture_startv(f, args);
}

static int
setup(void **state, enum transport t)
{
	const char *none[] = {NULL};
	struct fixture *f;

	if (prepare(state, t) < 0)
		return -1;
	f = *state;
	if (fixture_startv(f, none) < 0) {
		/* cmocka runs no teardown after a failed setup. */
		server_destroy(&f->srv);
		free(f);
		*state = NULL;
		return -1;
	}
	return 0;
}

int
fixture_setup_unix(void **state)
{
	return setup(state, TRANSPORT_UNIX);
}

int
fixture_setup_tcp(void **state)
{
	return setup(state, TRANSPORT_TCP);
}

int
fixture_teardown(void **state)
{
	struct fixture *f = *state;
	int rc = 0;

	if (f == NULL)
		return 0;
	dshm_set_timeout(0);
	if (f->srv.pid > 0) {
		bool was_running = !check_exited(&f->srv);
		int status = server_stop(&f->srv);
		char *log = server_log(&f->srv);

		if (was_running && status != 0) {
			fprintf(stderr, "harness: dshmd (pid %d) stopped with status %d\n",
				(int)f->srv.pid, status);
			rc = -1;
		}
		if (strstr(log, "Sanitizer") != NULL || strstr(log, "runtime error") != NULL) {
			fprintf(stderr, "harness: dshmd reported a sanitizer error\n");
			rc = -1;
		}
		free(log);
		if (rc != 0)
			server_print_log(&f->srv);
	}
	server_destroy(&f->srv);
	free(f);
	*state = NULL;
	return rc;
}

void
server_open_to_all(const struct server *s)
{
	char base[sizeof(s->dir)];
	char *slash;

	snprintf(base, sizeof(base), "%s", s->dir);
	slash = strrchr(base, '/');
	if (slash != NULL && slash != base) {
		*slash = '\0';
		chmod(base, 0711);
	}
	chmod(s->dir, 0711);
	chmod(s->unix_path, 0666);
}
