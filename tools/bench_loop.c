/*
 * bench_loop.c — dshm-bench's harness: T threads, each with one epoll loop
 * over its share of N non-blocking connections, each connection keeping
 * up to D requests in flight.
 *
 * A run has three phases separated by barriers: prepare (the backend's
 * setup requests, then one write of every key), the measured run (random
 * reads and writes until the request count or the time is used up) and
 * teardown.  Per wakeup a connection does at most one read, parses every
 * complete reply, tops its pipeline up and sends with one write, whatever
 * the backend.  Only the measured phase is timed and counted.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

enum phase { PH_PREPARE, PH_RUN, PH_TEARDOWN };

#define STALL_NS (10ull * 1000000000ull) /* no reply for this long: the server is stuck */
#define MAX_REPORTED 5                   /* mismatches printed in full */

struct thread {
	const struct bench_config *cfg;
	pthread_t tid;
	struct bench_conn *conns;
	unsigned nconns;
	int epfd;
	struct bench_hist *hist;
	uint64_t ops, reads, writes, verified, errors, mismatches, bytes;
	uint64_t t_start, t_end;
};

static pthread_barrier_t barrier;
static uint64_t cpu_start, cpu_end; /* the server's CPU time at the start and end of the run */
static atomic_int aborted;
static atomic_int reported;
static unsigned char *template_value; /* the bytes between a value's two stamps */

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t
rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static void
make_stamp(unsigned char *out, uint32_t conn, uint32_t key, uint32_t version)
{
	uint32_t w[4] = {conn, key, version,
			 conn * 0x9E3779B1u ^ key * 0x85EBCA6Bu ^ version * 0xC2B2AE35u};

	memcpy(out, w, sizeof(w));
}

/* Writes the value of (connection, key, version) to out: stamp, template, stamp. */
void
bench_fill(const struct bench_conn *c, uint32_t key, uint32_t version, unsigned char *out)
{
	size_t n = c->cfg->size;

	make_stamp(out, c->index, key, version);
	memcpy(out + BENCH_STAMP_LEN, template_value + BENCH_STAMP_LEN, n - 2 * BENCH_STAMP_LEN);
	make_stamp(out + n - BENCH_STAMP_LEN, c->index, key, version);
}

static bool
value_matches(const struct bench_conn *c, const struct bench_slot *s, const unsigned char *d,
	      size_t len)
{
	size_t n = c->cfg->size;
	unsigned char st[BENCH_STAMP_LEN];

	if (len != n)
		return false;
	make_stamp(st, c->index, s->key, s->version);
	return memcmp(d, st, sizeof(st)) == 0 && memcmp(d + n - BENCH_STAMP_LEN, st, sizeof(st)) == 0 &&
	       memcmp(d + BENCH_STAMP_LEN, template_value + BENCH_STAMP_LEN,
		      n - 2 * BENCH_STAMP_LEN) == 0;
}

static void
report_mismatch(const struct bench_conn *c, const struct bench_slot *s, const unsigned char *d,
		size_t len)
{
	uint32_t w[4] = {0, 0, 0, 0};

	if (atomic_fetch_add(&reported, 1) >= MAX_REPORTED)
		return;
	if (len >= BENCH_STAMP_LEN)
		memcpy(w, d, sizeof(w));
	fprintf(stderr,
		"dshm-bench: %s: connection %u key %u: read %zu bytes stamped (conn %u key %u version %u), "
		"expected %zu bytes of version %u\n",
		c->cfg->be->name, c->index, s->key, len, w[0], w[1], w[2], c->cfg->size, s->version);
}

static void
set_events(struct thread *t, struct bench_conn *c, unsigned want)
{
	if (c->events == want)
		return;
	struct epoll_event e = {.events = want, .data.ptr = c};

	epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &e);
	c->events = want;
}

/* The next request of this phase into s; false when there is none. */
static bool
next_request(struct bench_conn *c, enum phase ph, struct bench_slot *s)
{
	const struct bench_config *cfg = c->cfg;
	uint64_t i = c->issued;

	memset(s, 0, sizeof(*s));
	s->id = c->next_id++;
	switch (ph) {
	case PH_PREPARE: {
		unsigned nsetup = cfg->be->nsetup ? cfg->be->nsetup(cfg) : 0;

		if (i < nsetup) {
			s->op = BOP_SETUP;
			s->key = (uint32_t)i;
		} else {
			s->op = BOP_WRITE;
			s->key = (uint32_t)(i - nsetup);
			s->version = c->version[s->key] = 1;
		}
		return true;
	}
	case PH_RUN: {
		uint64_t r = rng_next(&c->rng);

		s->key = (uint32_t)(r % cfg->keys);
		if ((r >> 40) % 100 < cfg->write_pct) {
			s->op = BOP_WRITE;
			s->version = ++c->version[s->key];
		} else {
			s->op = BOP_READ;
			s->version = c->version[s->key];
		}
		return true;
	}
	case PH_TEARDOWN:
		s->op = BOP_TEARDOWN;
		s->key = (uint32_t)i;
		return true;
	}
	return false;
}

/* Tops the pipeline up to depth and sends what is pending with one write. */
static int
pump(struct thread *t, struct bench_conn *c, enum phase ph, uint64_t deadline)
{
	const struct bench_config *cfg = c->cfg;
	size_t room = cfg->size + cfg->be->req_overhead;

	if (ph == PH_RUN && c->to_issue && deadline && bench_now_ns() >= deadline)
		c->to_issue = 0;
	if (c->inflight < cfg->depth && c->to_issue && c->out_off) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	while (c->inflight < cfg->depth && c->to_issue && c->out_cap - c->out_len >= room) {
		struct bench_slot *s = &c->ring[(c->ring_head + c->inflight) % cfg->depth];

		if (!next_request(c, ph, s))
			break;
		c->out_len += cfg->be->encode(c, s, c->out + c->out_len);
		s->t0_ns = bench_now_ns();
		c->inflight++;
		c->issued++;
		c->to_issue--;
	}
	if (c->out_len > c->out_off) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			fprintf(stderr, "dshm-bench: %s: write: %s\n", cfg->be->name, strerror(errno));
			return -1;
		}
		if (n > 0)
			c->out_off += (size_t)n;
		if (c->out_off == c->out_len)
			c->out_off = c->out_len = 0;
	}
	unsigned want = 0;

	if (c->inflight)
		want |= EPOLLIN;
	if (c->out_len > c->out_off)
		want |= EPOLLOUT;
	set_events(t, c, want);
	c->done = c->to_issue == 0 && c->inflight == 0 && c->out_len == 0;
	return 0;
}

/* Reads once and completes every reply that has arrived whole. */
static int
drain(struct thread *t, struct bench_conn *c, enum phase ph)
{
	const struct bench_config *cfg = c->cfg;
	ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);

	if (n == 0) {
		fprintf(stderr, "dshm-bench: %s: the server closed connection %u\n", cfg->be->name,
			c->index);
		return -1;
	}
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	c->in_len += (size_t)n;

	uint64_t now = bench_now_ns();

	while (c->inflight) {
		struct bench_slot *s = &c->ring[c->ring_head];
		const unsigned char *data = NULL;
		size_t dlen = 0;
		bool ok = false;
		ssize_t used = cfg->be->parse(c, s, c->in + c->in_off, c->in_len - c->in_off, &data,
					      &dlen, &ok);

		if (used < 0) {
			fprintf(stderr, "dshm-bench: %s: connection %u: reply out of step\n",
				cfg->be->name, c->index);
			return -1;
		}
		if (used == 0)
			break;
		c->in_off += (size_t)used;
		c->ring_head = (c->ring_head + 1) % cfg->depth;
		c->inflight--;
		if (s->op == BOP_SETUP || s->op == BOP_TEARDOWN || ph != PH_RUN) {
			if (!ok && s->op != BOP_TEARDOWN) {
				fprintf(stderr, "dshm-bench: %s: connection %u: setup request %u failed\n",
					cfg->be->name, c->index, s->key);
				return -1;
			}
			continue;
		}
		bench_hist_add(t->hist, now - s->t0_ns);
		t->ops++;
		if (!ok) {
			t->errors++;
			continue;
		}
		t->bytes += cfg->size;
		if (s->op == BOP_WRITE) {
			t->writes++;
			continue;
		}
		t->reads++;
		if (!cfg->verify)
			continue;
		if (value_matches(c, s, data, dlen)) {
			t->verified++;
		} else {
			t->mismatches++;
			report_mismatch(c, s, data, dlen);
		}
	}
	if (c->inflight == 0 && c->in_off < c->in_len) {
		fprintf(stderr, "dshm-bench: %s: connection %u: unexpected bytes from the server\n",
			cfg->be->name, c->index);
		return -1;
	}
	if (c->in_off == c->in_len) {
		c->in_off = c->in_len = 0;
	} else if (c->in_off) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	return 0;
}

static int
run_phase(struct thread *t, enum phase ph, uint64_t deadline, uint64_t per_conn_quota)
{
	const struct bench_config *cfg = t->cfg;
	unsigned active = 0;
	uint64_t last_progress = bench_now_ns();

	for (unsigned i = 0; i < t->nconns; i++) {
		struct bench_conn *c = &t->conns[i];

		c->issued = 0;
		switch (ph) {
		case PH_PREPARE:
			c->to_issue = (cfg->be->nsetup ? cfg->be->nsetup(cfg) : 0) + cfg->keys;
			if (cfg->reuse) {
				c->to_issue = 0;
				for (unsigned k = 0; k < cfg->keys; k++)
					c->version[k] = 1;
			}
			break;
		case PH_RUN:
			c->to_issue = per_conn_quota + (c->index < cfg->requests % cfg->conns);
			if (cfg->requests == 0)
				c->to_issue = UINT64_MAX;
			break;
		case PH_TEARDOWN:
			c->to_issue = cfg->be->nteardown && !cfg->keep ? cfg->be->nteardown(cfg) : 0;
			break;
		}
		if (pump(t, c, ph, deadline) < 0)
			return -1;
		if (!c->done)
			active++;
	}
	while (active) {
		struct epoll_event ev[256];
		int n = epoll_wait(t->epfd, ev, 256, 200);

		if (n < 0 && errno != EINTR)
			return -1;
		if (atomic_load(&aborted))
			return -1;
		if (n <= 0) {
			if (bench_now_ns() - last_progress > STALL_NS) {
				fprintf(stderr, "dshm-bench: %s: no reply for 10 s\n", cfg->be->name);
				return -1;
			}
			/* A deadline may have passed with nothing in flight to wake us. */
			for (unsigned i = 0; i < t->nconns; i++) {
				struct bench_conn *c = &t->conns[i];

				if (!c->done && pump(t, c, ph, deadline) == 0 && c->done)
					active--;
			}
			continue;
		}
		last_progress = bench_now_ns();
		for (int i = 0; i < n; i++) {
			struct bench_conn *c = ev[i].data.ptr;

			if (c->done)
				continue;
			if ((ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && drain(t, c, ph) < 0)
				return -1;
			if (pump(t, c, ph, deadline) < 0)
				return -1;
			if (c->done)
				active--;
		}
	}
	return 0;
}

static int
open_conns(struct thread *t)
{
	const struct bench_config *cfg = t->cfg;
	size_t req = cfg->size + cfg->be->req_overhead, rep = cfg->size + cfg->be->rep_overhead;

	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0)
		return -1;
	for (unsigned i = 0; i < t->nconns; i++) {
		struct bench_conn *c = &t->conns[i];

		c->fd = bench_connect(cfg->addr, true);
		if (c->fd < 0)
			return -1;
		c->out_cap = cfg->depth * req;
		c->in_cap = cfg->depth * rep + 65536;
		c->out = malloc(c->out_cap);
		c->in = malloc(c->in_cap);
		c->ring = calloc(cfg->depth, sizeof(*c->ring));
		c->version = calloc(cfg->keys, sizeof(*c->version));
		if (!c->out || !c->in || !c->ring || !c->version)
			return -1;
		c->events = EPOLLIN;
		struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};

		if (epoll_ctl(t->epfd, EPOLL_CTL_ADD, c->fd, &e) < 0)
			return -1;
	}
	return 0;
}

static void
close_conns(struct thread *t)
{
	for (unsigned i = 0; i < t->nconns; i++) {
		struct bench_conn *c = &t->conns[i];

		if (c->fd >= 0)
			close(c->fd);
		free(c->out);
		free(c->in);
		free(c->ring);
		free(c->version);
	}
	if (t->epfd >= 0)
		close(t->epfd);
}

static void
fail(void)
{
	atomic_store(&aborted, 1);
}

static void *
thread_main(void *arg)
{
	struct thread *t = arg;
	const struct bench_config *cfg = t->cfg;
	uint64_t quota = cfg->requests / cfg->conns;

	bench_pin(cfg->client_cpu);
	if (open_conns(t) < 0)
		fail();
	pthread_barrier_wait(&barrier);
	if (!atomic_load(&aborted) && run_phase(t, PH_PREPARE, 0, 0) < 0)
		fail();
	/* The server's CPU is read between two barriers, when no thread sends. */
	if (pthread_barrier_wait(&barrier) == PTHREAD_BARRIER_SERIAL_THREAD)
		cpu_start = bench_cpu_ns(cfg->cpu_pid);
	pthread_barrier_wait(&barrier);
	t->t_start = bench_now_ns();
	if (!atomic_load(&aborted)) {
		uint64_t deadline = cfg->seconds > 0 ? t->t_start + (uint64_t)(cfg->seconds * 1e9) : 0;

		if (run_phase(t, PH_RUN, deadline, quota) < 0)
			fail();
	}
	t->t_end = bench_now_ns();
	if (pthread_barrier_wait(&barrier) == PTHREAD_BARRIER_SERIAL_THREAD)
		cpu_end = bench_cpu_ns(cfg->cpu_pid);
	pthread_barrier_wait(&barrier);
	if (!atomic_load(&aborted) && run_phase(t, PH_TEARDOWN, 0, 0) < 0)
		fail();
	return NULL;
}

/*
 * Runs cfg to completion and sums what the threads measured into res.
 * Returns 0, or -1 when a connection failed or the stream went out of
 * step (a message on stderr says which).  Mismatched data is not a
 * failure of the run: it is counted in res->mismatches.
 */
int
bench_run(const struct bench_config *cfg, struct bench_result *res)
{
	struct thread *th = calloc(cfg->threads, sizeof(*th));
	struct bench_conn *conns = calloc(cfg->conns, sizeof(*conns));
	struct bench_hist *all = bench_hist_new();
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if (!th || !conns || !all)
		return -1;
	template_value = malloc(cfg->size);
	if (!template_value)
		return -1;
	uint64_t seed = 0x5eed;

	for (size_t i = 0; i < cfg->size; i++)
		template_value[i] = (unsigned char)(rng_next(&seed) >> 56);
	atomic_store(&aborted, 0);
	pthread_barrier_init(&barrier, NULL, cfg->threads);
	/* Connection i goes to thread i % T, so each thread holds a contiguous block. */
	unsigned next = 0;

	for (unsigned k = 0; k < cfg->threads; k++) {
		struct thread *t = &th[k];

		t->cfg = cfg;
		t->epfd = -1;
		t->nconns = cfg->conns / cfg->threads + (k < cfg->conns % cfg->threads);
		t->conns = conns + next;
		for (unsigned i = 0; i < t->nconns; i++) {
			struct bench_conn *c = &t->conns[i];

			c->cfg = cfg;
			c->fd = -1;
			c->index = next + i;
			c->rng = 0x9E3779B97F4A7C15ull * (c->index + 1);
			c->name_len = (size_t)snprintf(c->name, sizeof(c->name), "b:%u:", c->index);
		}
		next += t->nconns;
		t->hist = bench_hist_new();
		if (!t->hist)
			return -1;
	}
	for (unsigned k = 0; k < cfg->threads; k++)
		pthread_create(&th[k].tid, NULL, thread_main, &th[k]);
	uint64_t start = UINT64_MAX, end = 0;

	for (unsigned k = 0; k < cfg->threads; k++) {
		struct thread *t = &th[k];

		pthread_join(t->tid, NULL);
		res->ops += t->ops;
		res->reads += t->reads;
		res->writes += t->writes;
		res->verified += t->verified;
		res->errors += t->errors;
		res->mismatches += t->mismatches;
		res->bytes += t->bytes;
		start = t->t_start < start ? t->t_start : start;
		end = t->t_end > end ? t->t_end : end;
		bench_hist_merge(all, t->hist);
		bench_hist_free(t->hist);
		close_conns(t);
	}
	res->seconds = end > start ? (double)(end - start) / 1e9 : 0;
	res->p50_us = bench_hist_quantile_us(all, 0.50);
	res->p99_us = bench_hist_quantile_us(all, 0.99);
	res->p999_us = bench_hist_quantile_us(all, 0.999);
	res->mean_us = bench_hist_mean_us(all);
	res->server_cpu_ns = cpu_end > cpu_start ? cpu_end - cpu_start : 0;
	if (atomic_load(&aborted))
		rc = -1;
	pthread_barrier_destroy(&barrier);
	bench_hist_free(all);
	free(conns);
	free(th);
	free(template_value);
	template_value = NULL;
	return rc;
}
