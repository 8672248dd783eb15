/*
 * bench_faults.c — dshm-bench --faults: the cost of coherent pages across
 * hosts, measured against a 4 KiB dshm_read round trip in the same run.
 *
 * Roles, each a process of its own (forked before any dshm call, so each
 * has its own connection and attachments):
 *   home   attaches through the home dshmd's Unix socket (--home): the
 *          home's own host, whose mapping is the segment's file;
 *   host   attaches through the home's TCP address (--addr) with the
 *          dshmd of another host for its copy (--local, as $DSHM_LOCAL):
 *          every fault measured is this role's;
 *   other  optional (--other): a third host's process, reading pages so
 *          that the host's write must invalidate a remote copy.
 * The roles run on one machine; the dshmds are what makes them hosts.
 *
 * Each round, the home writes every page (the host's copies go), then
 * the host times, per page: a read miss (one load), the read-to-write
 * upgrade (one store), and after the home writes again (and the other
 * reads), a write miss that invalidates the copies others hold.  Then a
 * pass over pages the host holds writable, against the same pass over
 * private memory.  Last, the home and the host hand one page back and
 * forth (a counter each increments when it is its turn) for --seconds.
 * Every load is checked against the value its writer stored.  The
 * floor under every miss is measured too: the kernel's userfaultfd round
 * trip alone, within one process.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "dshm.h"

#define PAGE 4096u
#define RTT_SAMPLES 2000u

/* What a role is told over its pipe, one byte each; it answers one byte ('k' or 'x'). */
enum {
	CMD_WRITE = 'w',    /* store the round's stamp at the head of every page */
	CMD_READ = 'r',     /* load every page's head, checking the stamp */
	CMD_PINGPONG = 'p', /* take odd turns on page 0's counter until told to stop */
	CMD_QUIT = 'q',
};

struct role {
	pid_t pid;
	int to, from; /* our ends of its pipes */
};

struct shared {
	int shmid;
	uint32_t pages;
	unsigned char *base;
};

static uint64_t
stamp(uint32_t round, uint32_t page, uint32_t writer)
{
	return (uint64_t)round << 40 | (uint64_t)writer << 32 | page;
}

static volatile uint64_t *
head(const struct shared *s, uint32_t page)
{
	return (volatile uint64_t *)(void *)(s->base + (size_t)page * PAGE);
}

/* The counter and stop flag of the ping-pong, both on page 0 (past the head). */
static uint64_t *
counter(const struct shared *s)
{
	return (uint64_t *)(void *)(s->base + 64);
}

static uint64_t *
stop_flag(const struct shared *s)
{
	return (uint64_t *)(void *)(s->base + 128);
}

static bool
attach(struct shared *s)
{
	s->base = dshm_shmat(s->shmid, NULL, DSHM_SHM_COHERENT);
	if (s->base == (void *)-1) {
		fprintf(stderr, "dshm-bench: faults: coherent shmat of %d: %s\n", s->shmid,
			strerror(errno));
		return false;
	}
	return true;
}

/* A role's loop: commands in, one answer each; the round number follows each command. */
static int
role_main(struct shared *s, int in, int out, uint32_t writer)
{
	unsigned char cmd[5], ok;
	uint32_t round;

	if (!attach(s))
		return 1;
	ok = 'k';
	if (write(out, &ok, 1) != 1)
		return 1;
	while (read(in, cmd, sizeof(cmd)) == (ssize_t)sizeof(cmd) && cmd[0] != CMD_QUIT) {
		memcpy(&round, cmd + 1, sizeof(round));
		ok = 'k';
		if (cmd[0] == CMD_WRITE) {
			for (uint32_t i = 0; i < s->pages; i++)
				*head(s, i) = stamp(round, i, writer);
		} else if (cmd[0] == CMD_READ) {
			/* Whoever wrote last this round: the home's stamp or the host's (writer 1). */
			for (uint32_t i = 0; i < s->pages; i++) {
				uint64_t v = *head(s, i);

				if (v != stamp(round, i, 0) && v != stamp(round, i, 1))
					ok = 'x';
			}
		} else if (cmd[0] == CMD_PINGPONG) {
			/* Odd turns are ours: the host takes the even ones, and sets the flag to end. */
			for (;;) {
				uint64_t c = __atomic_load_n(counter(s), __ATOMIC_ACQUIRE);

				if (__atomic_load_n(stop_flag(s), __ATOMIC_ACQUIRE))
					break;
				if (c & 1)
					__atomic_store_n(counter(s), c + 1, __ATOMIC_RELEASE);
				else
					sched_yield();
			}
		}
		if (write(out, &ok, 1) != 1)
			return 1;
	}
	return dshm_shmdt(s->base) == 0 ? 0 : 1;
}

/* Starts a role on the server at addr (local: the dshmd for its copies, or NULL). */
static bool
role_start(struct role *r, struct shared *s, const char *addr, const char *local, uint32_t writer)
{
	int to[2], from[2];
	unsigned char ok;

	if (pipe(to) != 0 || pipe(from) != 0)
		return false;
	if ((r->pid = fork()) < 0)
		return false;
	if (r->pid == 0) {
		close(to[1]);
		close(from[0]);
		if (local != NULL)
			setenv("DSHM_LOCAL", local, 1);
		else
			unsetenv("DSHM_LOCAL");
		_exit(dshm_set_server(addr) == 0 ? role_main(s, to[0], from[1], writer) : 1);
	}
	close(to[0]);
	close(from[1]);
	r->to = to[1];
	r->from = from[0];
	return read(r->from, &ok, 1) == 1 && ok == 'k';
}

static bool
role_do(struct role *r, int cmd, uint32_t round)
{
	unsigned char msg[5] = {(unsigned char)cmd}, ok;

	memcpy(msg + 1, &round, sizeof(round));
	return write(r->to, msg, sizeof(msg)) == (ssize_t)sizeof(msg) && read(r->from, &ok, 1) == 1 &&
	       ok == 'k';
}

static void
role_stop(struct role *r)
{
	int status;

	if (r->pid <= 0)
		return;
	role_do(r, CMD_QUIT, 0);
	close(r->to);
	close(r->from);
	waitpid(r->pid, &status, 0);
}

/* Median of the 4 KiB dshm_read round trip over the host's connection to the home. */
static double
rtt_us(int shmid)
{
	struct bench_hist *h = bench_hist_new();
	unsigned char buf[PAGE];
	double us = -1;

	for (unsigned i = 0; h != NULL && i < RTT_SAMPLES; i++) {
		uint64_t t0 = bench_now_ns();

		if (dshm_read(shmid, 0, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			break;
		bench_hist_add(h, bench_now_ns() - t0);
	}
	if (h != NULL && bench_hist_count(h) == RTT_SAMPLES)
		us = bench_hist_quantile_us(h, 0.5);
	bench_hist_free(h);
	return us;
}

/*
 * The floor under any miss: the kernel's userfaultfd round trip alone,
 * a fault of this process answered by a thread of its own that copies a
 * page in (no network, no pager).  Median µs per fault; -1 when the
 * kernel gives no userfaultfd.
 */
#define FLOOR_PAGES 2000u

struct floor {
	int uffd;
	unsigned char page[PAGE];
};

static void *
floor_handler(void *arg)
{
	struct floor *f = arg;
	struct uffd_msg m;

	for (unsigned done = 0; done < FLOOR_PAGES;) {
		struct pollfd p = {.fd = f->uffd, .events = POLLIN};

		if (poll(&p, 1, -1) < 0 || read(f->uffd, &m, sizeof(m)) != (ssize_t)sizeof(m))
			continue;
		struct uffdio_copy c = {.dst = m.arg.pagefault.address & ~(uint64_t)(PAGE - 1),
					.src = (uint64_t)(uintptr_t)f->page,
					.len = PAGE};

		ioctl(f->uffd, UFFDIO_COPY, &c);
		done++;
	}
	return NULL;
}

static double
uffd_floor_us(void)
{
	struct floor f = {.uffd = -1};
	struct uffdio_api api = {.api = UFFD_API};
	struct bench_hist *h = bench_hist_new();
	size_t len = (size_t)FLOOR_PAGES * PAGE;
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double us = -1;
	pthread_t t;

	f.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (h == NULL || p == MAP_FAILED || f.uffd < 0 || ioctl(f.uffd, UFFDIO_API, &api) != 0)
		goto out;
	struct uffdio_register r = {.range = {(uint64_t)(uintptr_t)p, len},
				    .mode = UFFDIO_REGISTER_MODE_MISSING};

	if (ioctl(f.uffd, UFFDIO_REGISTER, &r) != 0 || pthread_create(&t, NULL, floor_handler, &f) != 0)
		goto out;
	for (unsigned i = 0; i < FLOOR_PAGES; i++) {
		uint64_t t0 = bench_now_ns();

		(void)*(volatile unsigned char *)(p + (size_t)i * PAGE);
		bench_hist_add(h, bench_now_ns() - t0);
	}
	pthread_join(t, NULL);
	us = bench_hist_quantile_us(h, 0.5);
out:
	if (f.uffd >= 0)
		close(f.uffd);
	if (p != MAP_FAILED)
		munmap(p, len);
	bench_hist_free(h);
	return us;
}

/*
 * One pass over n bytes at p: a load and a store per 64-bit word, so a
 * page held writable is both read and written; ns per KiB, best of 5.
 */
static double
pass_ns_per_kib(unsigned char *p, size_t n)
{
	double best = -1;

	for (int k = 0; k < 5; k++) {
		volatile uint64_t *w = (volatile uint64_t *)(void *)p;
		uint64_t t0 = bench_now_ns();

		/* Past each page's head: the stamps stay as written. */
		for (size_t i = 0; i < n / 8; i++)
			if (i % (PAGE / 8) != 0)
				w[i] = w[i] + 1;
		double ns = (double)(bench_now_ns() - t0) * 1024.0 / (double)n;

		if (best < 0 || ns < best)
			best = ns;
	}
	return best;
}

struct fault_hists {
	struct bench_hist *miss, *upgrade, *wmiss;
};

/* The host's part of one round; false when a value was wrong or a role failed. */
static bool
round_host(struct shared *s, struct role *home, struct role *other, uint32_t round,
	   struct fault_hists *h)
{
	if (!role_do(home, CMD_WRITE, round))
		return false;
	for (uint32_t i = 0; i < s->pages; i++) {
		uint64_t t0 = bench_now_ns(), v = *head(s, i);

		bench_hist_add(h->miss, bench_now_ns() - t0);
		if (v != stamp(round, i, 0))
			return false;
	}
	for (uint32_t i = 0; i < s->pages; i++) {
		uint64_t t0 = bench_now_ns();

		*head(s, i) = stamp(round, i, 1);
		bench_hist_add(h->upgrade, bench_now_ns() - t0);
	}
	/* The home takes every page back, then reads (and the other host too): copies to invalidate. */
	if (!role_do(home, CMD_READ, round) || !role_do(home, CMD_WRITE, round) ||
	    (other != NULL && !role_do(other, CMD_READ, round)))
		return false;
	for (uint32_t i = 0; i < s->pages; i++) {
		uint64_t t0 = bench_now_ns();

		*head(s, i) = stamp(round, i, 1);
		bench_hist_add(h->wmiss, bench_now_ns() - t0);
	}
	return role_do(home, CMD_READ, round);
}

/* Handoffs per second of page 0 between the host (even turns) and the home (odd). */
static double
pingpong(struct shared *s, struct role *home, double seconds)
{
	unsigned char msg[5] = {CMD_PINGPONG}, ok;
	uint64_t t0, t1, end, c = 0;

	__atomic_store_n(stop_flag(s), 0, __ATOMIC_RELEASE);
	__atomic_store_n(counter(s), 0, __ATOMIC_RELEASE);
	if (write(home->to, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		return -1;
	t0 = bench_now_ns();
	end = t0 + (uint64_t)(seconds * 1e9);
	while ((t1 = bench_now_ns()) < end) {
		c = __atomic_load_n(counter(s), __ATOMIC_ACQUIRE);
		if ((c & 1) == 0)
			__atomic_store_n(counter(s), c + 1, __ATOMIC_RELEASE);
		else
			sched_yield();
	}
	c = __atomic_load_n(counter(s), __ATOMIC_ACQUIRE);
	__atomic_store_n(stop_flag(s), 1, __ATOMIC_RELEASE);
	if (read(home->from, &ok, 1) != 1 || ok != 'k')
		return -1;
	return (double)c / ((double)(t1 - t0) / 1e9);
}

static void
print_hist(const char *name, struct bench_hist *h, double rtt)
{
	double p50 = bench_hist_quantile_us(h, 0.5);

	printf(" %s_p50_us=%.1f %s_p99_us=%.1f %s_over_rtt=%.2f", name, p50, name,
	       bench_hist_quantile_us(h, 0.99), name, rtt > 0 ? p50 / rtt : -1.0);
}

int
bench_faults(const struct bench_faults_config *fc)
{
	struct shared s = {.pages = fc->pages};
	struct role home = {0}, other = {0};
	struct fault_hists h = {bench_hist_new(), bench_hist_new(), bench_hist_new()};
	bool ok = h.miss && h.upgrade && h.wmiss;
	double rtt = -1, held = -1, local = -1, handoffs = -1, floor = uffd_floor_us();
	unsigned char *priv = NULL;

	/* The segment is the home's: made through its Unix socket, removed at the end. */
	if (ok && (dshm_set_server(fc->home) != 0 ||
		   (s.shmid = dshm_shmget(IPC_PRIVATE, (size_t)s.pages * PAGE, IPC_CREAT | 0600)) < 0)) {
		fprintf(stderr, "dshm-bench: faults: shmget on %s: %s\n", fc->home, strerror(errno));
		ok = false;
	}
	/* This process becomes the host: its own connection, over TCP, after the roles fork. */
	ok = ok && role_start(&home, &s, fc->home, NULL, 0) &&
	     (fc->other == NULL || role_start(&other, &s, fc->addr, fc->other, 2));
	if (ok) {
		setenv("DSHM_LOCAL", fc->local, 1);
		ok = dshm_set_server(fc->addr) == 0 && attach(&s);
	}
	if (ok && (rtt = rtt_us(s.shmid)) < 0) {
		fprintf(stderr, "dshm-bench: faults: dshm_read over %s failed\n", fc->addr);
		ok = false;
	}
	for (uint32_t round = 1; ok && round <= fc->rounds; round++)
		if (!(ok = round_host(&s, &home, other.pid > 0 ? &other : NULL, round, &h)))
			fprintf(stderr, "dshm-bench: faults: round %u: a value read was not the one written\n",
				round);
	if (ok) {
		/* The host writes every page once more, then holds them all writable. */
		for (uint32_t i = 0; i < s.pages; i++)
			*head(&s, i) = stamp(fc->rounds + 1, i, 1);
		held = pass_ns_per_kib(s.base, (size_t)s.pages * PAGE);
		priv = mmap(NULL, (size_t)s.pages * PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (priv != MAP_FAILED) {
			local = pass_ns_per_kib(priv, (size_t)s.pages * PAGE);
			munmap(priv, (size_t)s.pages * PAGE);
		}
		ok = (handoffs = pingpong(&s, &home, fc->seconds)) >= 0;
	}
	if (s.base != NULL && s.base != (void *)-1)
		dshm_shmdt(s.base);
	role_stop(&home);
	role_stop(&other);
	if (s.shmid > 0 && dshm_set_server(fc->home) == 0)
		dshm_shmctl(s.shmid, IPC_RMID, NULL);
	printf("faults pages=%u rounds=%u other_host=%s rtt_4k_p50_us=%.1f uffd_floor_p50_us=%.1f "
	       "uffd_floor_over_rtt=%.2f",
	       s.pages, fc->rounds, fc->other ? "yes" : "no", rtt, floor,
	       floor > 0 && rtt > 0 ? floor / rtt : -1.0);
	if (bench_hist_count(h.miss) > 0) {
		print_hist("read_miss", h.miss, rtt);
		print_hist("upgrade", h.upgrade, rtt);
		print_hist("write_miss", h.wmiss, rtt);
	}
	printf(" held_ns_per_kib=%.1f local_ns_per_kib=%.1f held_over_local=%.2f handoffs_s=%.0f "
	       "status=%s\n",
	       held, local, held > 0 && local > 0 ? held / local : -1.0, handoffs, ok ? "ok" : "failed");
	bench_hist_free(h.miss);
	bench_hist_free(h.upgrade);
	bench_hist_free(h.wmiss);
	return ok ? 0 : 1;
}
