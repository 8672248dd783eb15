/*
 * clock.h — milliseconds (and microseconds) on the monotonic clock, for
 * deadlines and timeouts in dshmd and libdshm (never the wall clock,
 * which can jump).
 */
#ifndef DSHM_IPC_CLOCK_H
#define DSHM_IPC_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t
clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t
clock_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif /* DSHM_IPC_CLOCK_H */
