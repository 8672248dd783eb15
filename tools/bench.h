/*
 * bench.h — dshm-bench: one event-driven load generator, several backends.
 *
 * The harness (bench_loop.c) owns sockets, buffers, pipelining, timing and
 * verification; a backend only encodes one request into a buffer and
 * parses one reply out of one, so every backend costs the harness the same
 * (one read and one write per connection per wakeup, one copy of a value
 * each way).  Every value written carries a stamp (connection, key,
 * version) at its head and tail; every value read back is compared with
 * what the connection last wrote to that key.
 */
#ifndef DSHM_BENCH_H
#define DSHM_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_STAMP_LEN 16 /* u32 conn, u32 key, u32 version, u32 check */
#define BENCH_MIN_SIZE (2 * BENCH_STAMP_LEN)

enum bench_op {
	BOP_READ,
	BOP_WRITE,
	BOP_SETUP,    /* a backend's own request before the prefill (key = step) */
	BOP_TEARDOWN, /* a backend's own request after the run (key = step) */
};

/* One request in flight. */
struct bench_slot {
	uint64_t t0_ns;
	uint32_t key;
	uint32_t version;
	uint32_t id;
	uint8_t op;
};

struct bench_config;
struct bench_conn;

struct bench_backend {
	const char *name;
	size_t req_overhead; /* bytes a request needs beyond the value, at most */
	size_t rep_overhead; /* bytes a reply needs beyond the value, at most */
	unsigned (*nsetup)(const struct bench_config *cfg);
	unsigned (*nteardown)(const struct bench_config *cfg);
	/*
	 * Encodes the request for s into out (room for size + req_overhead)
	 * and returns its length; a write's value is filled by bench_fill.
	 */
	size_t (*encode)(struct bench_conn *c, const struct bench_slot *s, unsigned char *out);
	/*
	 * Parses the reply to s at in[0..len): returns the bytes it takes,
	 * 0 when incomplete, -1 when the stream is out of step.  *ok tells
	 * whether the server did what was asked; a read's value is left in
	 * *data, *dlen.
	 */
	ssize_t (*parse)(struct bench_conn *c, const struct bench_slot *s, const unsigned char *in,
			 size_t len, const unsigned char **data, size_t *dlen, bool *ok);
};

struct bench_config {
	const struct bench_backend *be;
	char addr[256];       /* HOST:PORT or unix:PATH */
	unsigned conns;       /* over all threads */
	unsigned threads;
	unsigned depth;       /* requests in flight per connection */
	size_t size;          /* value size */
	unsigned keys;        /* keys (pages of `size`) per connection */
	unsigned write_pct;   /* 0 read, 100 write, 10 the 90/10 mix */
	const char *workload; /* its name, for the report */
	uint64_t requests;    /* measured requests in all (0: no bound) */
	double seconds;       /* measured time (0: no bound) */
	uint32_t frame_size;  /* dshm: frame size the pages are laid out with */
	int32_t pid_base;     /* dshm: connection i uses paging process pid_base + i */
	unsigned server_threads; /* baseline: threads of the in-process server */
	bool verify;
	int client_cpu; /* pin the client threads to this CPU (-1: no pinning) */
	int server_cpu; /* baseline: pin its server threads to this CPU (-1: no pinning) */
	bool keep;  /* no teardown: the data stay on the server */
	bool reuse; /* no setup or prefill: every key is taken to hold version 1 */
	long cpu_pid; /* the server whose CPU time (with its children's) is measured; 0: none */
};

struct bench_hist;

/* A connection, owned by one harness thread. */
struct bench_conn {
	const struct bench_config *cfg;
	int fd;
	unsigned index; /* 0 .. conns-1 over all threads */
	unsigned char *out;
	size_t out_off, out_len, out_cap;
	unsigned char *in;
	size_t in_off, in_len, in_cap;
	struct bench_slot *ring; /* depth slots, in the order sent */
	unsigned ring_head, inflight;
	uint32_t *version;       /* per key: the last version this connection wrote */
	uint64_t rng;
	uint32_t next_id;
	uint64_t to_issue; /* left to send in this phase */
	uint64_t issued;   /* sent in this phase */
	unsigned events;   /* registered epoll events */
	bool done;
	char name[48];     /* backend key prefix, ready made */
	size_t name_len;
};

/* What one run measured, summed over threads. */
struct bench_result {
	uint64_t ops, reads, writes, verified, errors, mismatches;
	uint64_t bytes; /* value bytes moved */
	double seconds;
	double p50_us, p99_us, p999_us, mean_us;
	uint64_t server_cpu_ns; /* cfg->cpu_pid's CPU time over the measured interval */
};

/* Writes v in decimal to out; returns the digits written. */
static inline size_t
bench_utoa(unsigned char *out, uint64_t v)
{
	unsigned char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (unsigned char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

/* bench_loop.c */
int bench_run(const struct bench_config *cfg, struct bench_result *res);
void bench_fill(const struct bench_conn *c, uint32_t key, uint32_t version, unsigned char *out);
uint64_t bench_now_ns(void);

/* bench_hist.c: a log-linear latency histogram (about 1.5% resolution). */
struct bench_hist *bench_hist_new(void);
void bench_hist_free(struct bench_hist *h);
void bench_hist_add(struct bench_hist *h, uint64_t ns);
void bench_hist_merge(struct bench_hist *into, const struct bench_hist *from);
uint64_t bench_hist_count(const struct bench_hist *h);
double bench_hist_quantile_us(const struct bench_hist *h, double q);
double bench_hist_mean_us(const struct bench_hist *h);

/* bench_cpu.c: the CPU time of process pid and its children, in ns (0 when unknown). */
uint64_t bench_cpu_ns(long pid);

/* bench_faults.c: --faults, the fault path of coherent pages across hosts. */
struct bench_faults_config {
	const char *addr;  /* the home dshmd over TCP: the host role's server */
	const char *home;  /* the home dshmd's Unix socket: the home role's */
	const char *local; /* the dshmd of the host role's host ($DSHM_LOCAL) */
	const char *other; /* a third host's dshmd, or NULL */
	uint32_t pages;    /* pages of the segment */
	unsigned rounds;
	double seconds;    /* of the ping-pong */
};
int bench_faults(const struct bench_faults_config *fc);

/* bench_net.c */
int bench_connect(const char *addr, bool nonblock);
int bench_listen(const char *addr, char *bound, size_t boundlen);
int bench_set_nonblock(int fd);
void bench_raise_nofile(unsigned want);
void bench_pin(int cpu);

/* bench_baseline.c: the in-process echo/sink server. */
int bench_baseline_start(const char *addr, unsigned threads, int cpu, char *bound, size_t boundlen);
void bench_baseline_stop(void);
long bench_baseline_pid(void);

extern const struct bench_backend bench_dshm;
extern const struct bench_backend bench_memcached;
extern const struct bench_backend bench_redis_range;
extern const struct bench_backend bench_redis_kv;
extern const struct bench_backend bench_baseline;

#endif /* DSHM_BENCH_H */
