/*
 * segdiff.c — the machinery of the differential test of the System V
 * calls (see segdiff.h): backends, traces, recorded calls, children.
 */
#include "segdiff.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dshm.h"
#include "harness.h"

/* ---- backends ------------------------------------------------------------ */


static int
kernel_sync(const void *shmaddr)
{
	(void)shmaddr;
	return 0;
}

static int
kernel_child_init(void)
{
	return 0;
}

const struct backend kernel_backend = {
	"kernel", shmget, shmat, shmdt, shmctl, kernel_sync, kernel_child_init,
};

const char *dshm_addr; /* the server of the test running now */

static int
dshm_child_init(void)
{
	return dshm_set_server(dshm_addr);
}

const struct backend dshm_backend = {
	"dshm", dshm_shmget, dshm_shmat, dshm_shmdt, dshm_shmctl, dshm_sync, dshm_child_init,
};

/* ---- traces -------------------------------------------------------------- */


void __attribute__((format(printf, 2, 3)))
rec(struct trace *tr, const char *fmt, ...)
{
	va_list ap;

	if (tr->n >= TRACE_LINES - 1) {
		if (tr->n == TRACE_LINES - 1)
			snprintf(tr->line[tr->n++], TRACE_LINE, "(trace full)");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(tr->line[tr->n++], TRACE_LINE, fmt, ap);
	va_end(ap);
}

const char *
errname(int e)
{
	const char *s = strerrorname_np(e);

	return s != NULL ? s : "E?";
}

/* How a scenario names a key: K, K+1.. for its own, 0 for IPC_PRIVATE. */
static void
key_name(const struct trace *tr, key_t k, char *out, size_t len)
{
	if (k == IPC_PRIVATE)
		snprintf(out, len, "0");
	else if (k >= tr->key && k < tr->key + 4)
		snprintf(out, len, "K+%d", (int)(k - tr->key));
	else
		snprintf(out, len, "other");
}

static const char *
pid_name(const struct trace *tr, pid_t pid)
{
	if (pid == 0)
		return "0";
	if (pid == tr->self)
		return "self";
	if (pid == tr->parent)
		return "parent";
	if (pid == tr->child)
		return "child";
	return "other";
}

/* A time is 0, or "set" when it is within a minute of now. */
static const char *
time_name(time_t t)
{
	time_t now = time(NULL);

	if (t == 0)
		return "0";
	return t >= now - 60 && t <= now + 60 ? "set" : "odd";
}

static time_t
time_of(const struct shmid_ds *ds, char c)
{
	return c == 'a' ? ds->shm_atime : c == 'd' ? ds->shm_dtime : ds->shm_ctime;
}

/*
 * Times have a resolution of one second and a scenario runs in
 * milliseconds, so equal times mean nothing and an exact relation would
 * be flaky.  The scenario names the order in which it set them (order
 * "c<=a<=d": ctime, then atime, then dtime); each pair of nonzero times
 * is recorded as keeping that order or breaking it ("!").
 */
static void
order_text(const struct shmid_ds *ds, const char *order, char *out, size_t len)
{
	size_t k = strlen(order), used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < k; i += 3)
		for (size_t j = i + 3; j < k; j += 3) {
			time_t x = time_of(ds, order[i]), y = time_of(ds, order[j]);

			if (x == 0 || y == 0 || used >= len)
				continue;
			used += (size_t)snprintf(out + used, len - used, " %c%s%c", order[i],
						 x <= y ? "<=" : ">!", order[j]);
		}
}

static void
track_id(struct trace *tr, int id)
{
	if (tr->nids < (int)(sizeof(tr->ids) / sizeof(tr->ids[0])))
		tr->ids[tr->nids++] = id;
}

void
track_att(struct trace *tr, void *p, bool add)
{
	for (int i = 0; i < tr->natts; i++)
		if (tr->atts[i] == p) {
			if (!add)
				tr->atts[i] = tr->atts[--tr->natts];
			return;
		}
	if (add && tr->natts < (int)(sizeof(tr->atts) / sizeof(tr->atts[0])))
		tr->atts[tr->natts++] = p;
}

/* ---- recorded calls --------------------------------------------------------- */

int
do_get(const struct backend *b, struct trace *tr, const char *what, key_t key, size_t size,
       int flg)
{
	int id, e;

	errno = 0;
	id = b->get(key, size, flg);
	e = errno;
	if (id >= 0) {
		rec(tr, "shmget %s: id", what);
		track_id(tr, id);
	} else {
		rec(tr, "shmget %s: %d %s", what, id, errname(e));
	}
	return id;
}

void *
do_at(const struct backend *b, struct trace *tr, const char *what, int id, const void *addr,
      int flg)
{
	void *p;
	int e;

	errno = 0;
	p = b->at(id, addr, flg);
	e = errno;
	if (p == (void *)-1) {
		rec(tr, "shmat %s: -1 %s", what, errname(e));
		return NULL;
	}
	rec(tr, "shmat %s: %s", what, p == NULL ? "NULL" : "attached");
	track_att(tr, p, true);
	return p;
}

int
do_dt(const struct backend *b, struct trace *tr, const char *what, const void *p)
{
	int r, e;

	errno = 0;
	r = b->dt(p);
	e = errno;
	if (r == 0)
		track_att(tr, (void *)(uintptr_t)p, false);
	if (r == -1)
		rec(tr, "shmdt %s: -1 %s", what, errname(e));
	else
		rec(tr, "shmdt %s: %d", what, r);
	return r;
}

int
do_ctl(const struct backend *b, struct trace *tr, const char *what, int id, int cmd,
       struct shmid_ds *buf)
{
	int r, e;

	errno = 0;
	r = b->ctl(id, cmd, buf);
	e = errno;
	if (r == -1)
		rec(tr, "shmctl %s: -1 %s", what, errname(e));
	else
		rec(tr, "shmctl %s: %d", what, r);
	return r;
}

int
do_sync(const struct backend *b, struct trace *tr, const char *what, const void *p)
{
	int r, e;

	errno = 0;
	r = b->sync(p);
	e = errno;
	if (r == -1)
		rec(tr, "sync %s: -1 %s", what, errname(e));
	else
		rec(tr, "sync %s: %d", what, r);
	return r;
}

/* IPC_STAT, recorded field by field; order as for order_text. */
int
do_stat(const struct backend *b, struct trace *tr, const char *what, int id, const char *order,
	struct shmid_ds *out)
{
	struct shmid_ds ds;
	char key[16], rel[64];
	int r, e;

	memset(&ds, 0, sizeof(ds));
	errno = 0;
	r = b->ctl(id, IPC_STAT, &ds);
	e = errno;
	if (r != 0) {
		rec(tr, "stat %s: %d %s", what, r, r == -1 ? errname(e) : "");
		return r;
	}
	key_name(tr, ds.shm_perm.__key, key, sizeof(key));
	rec(tr, "stat %s: key=%s uid=%u gid=%u cuid=%u cgid=%u mode=%04o segsz=%zu", what, key,
	    (unsigned)ds.shm_perm.uid, (unsigned)ds.shm_perm.gid, (unsigned)ds.shm_perm.cuid,
	    (unsigned)ds.shm_perm.cgid, (unsigned)ds.shm_perm.mode, (size_t)ds.shm_segsz);
	order_text(&ds, order, rel, sizeof(rel));
	rec(tr, "  cpid=%s lpid=%s nattch=%lu atime=%s dtime=%s ctime=%s%s",
	    pid_name(tr, ds.shm_cpid), pid_name(tr, ds.shm_lpid), (unsigned long)ds.shm_nattch,
	    time_name(ds.shm_atime), time_name(ds.shm_dtime), time_name(ds.shm_ctime), rel);
	if (out != NULL)
		*out = ds;
	return 0;
}

/* nattch, or ULONG_MAX when IPC_STAT fails: for WAIT_UNTIL. */
unsigned long
nattch_of(const struct backend *b, int id)
{
	struct shmid_ds ds;

	return b->ctl(id, IPC_STAT, &ds) == 0 ? (unsigned long)ds.shm_nattch : ULONG_MAX;
}

/* Records n bytes at p in hex (at most 24). */
void
rec_bytes(struct trace *tr, const char *what, const void *p, size_t n)
{
	const unsigned char *c = p;
	char hex[3 * 24 + 1] = "";

	for (size_t i = 0; i < n && i < 24; i++)
		snprintf(hex + 3 * i, sizeof(hex) - 3 * i, " %02x", c[i]);
	rec(tr, "bytes %s:%s", what, hex);
}

/* Records whether n bytes at p are all zero, else where the first other one is. */
void
rec_zero(struct trace *tr, const char *what, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i] != 0) {
			rec(tr, "%s: byte %zu is %02x", what, i, c[i]);
			return;
		}
	rec(tr, "%s: all zero", what);
}

void
rec_same_id(struct trace *tr, const char *what, int a, int b)
{
	rec(tr, "%s: %s", what, a < 0 || b < 0 ? "n/a" : a == b ? "same id" : "different ids");
}

/* ---- children ------------------------------------------------------------ */


static int child_go_rd = -1, child_ready_wr = -1; /* in a child */
static const int fault_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS};

void
child_flush(struct trace *tr)
{
	for (; tr->flushed < tr->n; tr->flushed++) {
		char buf[TRACE_LINE + 1];
		int len = snprintf(buf, sizeof(buf), "%s\n", tr->line[tr->flushed]);

		if (write(tr->out_fd, buf, (size_t)len) != len)
			break;
	}
}

void
child_ready(struct trace *tr)
{
	child_flush(tr);
	if (write(child_ready_wr, "r", 1) != 1)
		rec(tr, "ready pipe failed");
}

void
child_wait_go(void)
{
	char ch;

	while (read(child_go_rd, &ch, 1) < 0 && errno == EINTR)
		;
}

void
child_spawn(const struct backend *b, struct trace *tr, struct child *c, child_fn fn, void *arg)
{
	int lines[2], go[2], ready[2];
	pid_t parent = getpid();

	c->pid = -1;
	if (pipe2(lines, O_CLOEXEC) < 0)
		goto fail;
	if (pipe2(go, O_CLOEXEC) < 0) {
		close(lines[0]);
		close(lines[1]);
		goto fail;
	}
	if (pipe2(ready, O_CLOEXEC) < 0) {
		close(lines[0]);
		close(lines[1]);
		close(go[0]);
		close(go[1]);
		goto fail;
	}
	fflush(stdout);
	fflush(stderr);
	c->pid = fork();
	if (c->pid == 0) {
		close(lines[0]);
		close(go[1]);
		close(ready[0]);
		tr->n = tr->flushed = tr->nids = tr->natts = 0;
		tr->out_fd = lines[1];
		tr->self = getpid();
		tr->parent = parent;
		tr->child = 0;
		child_go_rd = go[0];
		child_ready_wr = ready[1];
		/*
		 * cmocka's handlers would longjmp into its test runner, in the
		 * child: a fault must end the child, and be recorded as such.
		 */
		for (size_t i = 0; i < sizeof(fault_signals) / sizeof(fault_signals[0]); i++)
			signal(fault_signals[i], SIG_DFL);
		fn(b, tr, arg);
		child_flush(tr);
		_exit(0);
	}
	close(lines[1]);
	close(go[0]);
	close(ready[1]);
	c->lines_fd = lines[0];
	c->go_fd = go[1];
	c->ready_fd = ready[0];
	if (c->pid < 0) {
		close(c->lines_fd);
		close(c->go_fd);
		close(c->ready_fd);
		goto fail;
	}
	tr->child = c->pid;
	return;
fail:
	rec(tr, "cannot start a child: %s", strerror(errno));
}

/* Waits (bounded) until the child calls child_ready. */
void
child_await_ready(struct trace *tr, struct child *c)
{
	struct pollfd pfd = {.fd = c->ready_fd, .events = POLLIN};
	char ch;

	if (c->pid < 0)
		return;
	if (poll(&pfd, 1, CHILD_MS) != 1 || read(c->ready_fd, &ch, 1) != 1)
		rec(tr, "child never got ready");
}

void
child_go(struct child *c)
{
	if (c->pid > 0 && write(c->go_fd, "g", 1) != 1) {
		close(c->go_fd);
		c->go_fd = -1;
	}
}

/* Lets the child go on, collects its lines (bounded) and how it ended. */
void
child_finish(struct trace *tr, struct child *c)
{
	int64_t deadline = harness_now_ms() + CHILD_MS;
	char buf[TRACE_LINES * TRACE_LINE], *line;
	size_t used = 0;
	int status;

	if (c->pid < 0)
		return;
	if (c->go_fd >= 0)
		close(c->go_fd);
	for (;;) {
		struct pollfd pfd = {.fd = c->lines_fd, .events = POLLIN};
		int64_t left = deadline - harness_now_ms();
		ssize_t r;

		if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
			break;
		r = read(c->lines_fd, buf + used, sizeof(buf) - 1 - used);
		if (r <= 0)
			break;
		used += (size_t)r;
	}
	buf[used] = '\0';
	for (line = strtok(buf, "\n"); line != NULL; line = strtok(NULL, "\n"))
		rec(tr, "child: %.*s", TRACE_LINE - 8, line);
	close(c->lines_fd);
	close(c->ready_fd);
	status = wait_child(c->pid, CHILD_MS);
	if (status < 0)
		rec(tr, "child: hung, killed");
	else if (status >= 128)
		rec(tr, "child: killed by SIG%s", sigabbrev_np(status - 128));
	else
		rec(tr, "child: exit %d", status);
	c->pid = -1;
}

/* Drops root for nobody, so that a segment's mode and owner count. */
bool
become_nobody(const struct backend *b, struct trace *tr)
{
	if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 || setuid(NOBODY) != 0) {
		rec(tr, "cannot become nobody: %s", strerror(errno));
		return false;
	}
	rec(tr, "reconnect as nobody: %d", b->child_init());
	return true;
}

/* A page-aligned address with len free bytes after it (mapped, then unmapped). */
char *
free_address(size_t len)
{
	void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	munmap(p, len);
	return p;
}
