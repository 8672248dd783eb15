/*
 * bench_hist.c — a log-linear latency histogram in the manner of HDR
 * histograms: exact below 128 ns, then 64 buckets per power of two
 * (resolution under 1.6%), fixed size, no allocation when recording.
 */
#include <stdlib.h>

#include "bench.h"

#define SUB_BITS 6
#define SUB (1u << SUB_BITS)
#define DIRECT (2 * SUB)
#define NBUCKETS (DIRECT + (64 - SUB_BITS - 1) * SUB)

struct bench_hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t b[NBUCKETS];
};

static unsigned
bucket_of(uint64_t v)
{
	if (v < DIRECT)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - SUB_BITS;
	return DIRECT + (msb - SUB_BITS - 1) * SUB + (unsigned)(v >> shift) - SUB;
}

/* The middle of bucket i, in ns. */
static double
value_of(unsigned i)
{
	if (i < DIRECT)
		return i;
	unsigned msb = (i - DIRECT) / SUB + SUB_BITS + 1;
	unsigned shift = msb - SUB_BITS;
	uint64_t top = (i - DIRECT) % SUB + SUB;
	return (double)(top << shift) + (double)(1ull << shift) / 2;
}

struct bench_hist *
bench_hist_new(void)
{
	return calloc(1, sizeof(struct bench_hist));
}

void
bench_hist_free(struct bench_hist *h)
{
	free(h);
}

void
bench_hist_add(struct bench_hist *h, uint64_t ns)
{
	h->b[bucket_of(ns)]++;
	h->count++;
	h->sum_ns += ns;
}

void
bench_hist_merge(struct bench_hist *into, const struct bench_hist *from)
{
	for (unsigned i = 0; i < NBUCKETS; i++)
		into->b[i] += from->b[i];
	into->count += from->count;
	into->sum_ns += from->sum_ns;
}

uint64_t
bench_hist_count(const struct bench_hist *h)
{
	return h->count;
}

/* The latency below which a fraction q of the samples lie, in µs. */
double
bench_hist_quantile_us(const struct bench_hist *h, double q)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)h->count);
	uint64_t seen = 0;

	if (rank >= h->count)
		rank = h->count - 1;
	for (unsigned i = 0; i < NBUCKETS; i++) {
		seen += h->b[i];
		if (seen > rank)
			return value_of(i) / 1000.0;
	}
	return 0;
}

double
bench_hist_mean_us(const struct bench_hist *h)
{
	return h->count ? (double)h->sum_ns / (double)h->count / 1000.0 : 0;
}
