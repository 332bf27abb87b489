/* SPDX-License-Identifier: MIT */
/*
 * Clocks, header-only, for every part (dataplane, storage, control, client, tools).
 *
 * Wall time (CLOCK_REALTIME) is what goes on the wire and into storage (message timestamps,
 * token expiry, cluster documents); monotonic time is for every interval and deadline.
 * rc_mono_ms() reads the coarse clock (a few ms of resolution, no syscall cost on the hot
 * path); rc_mono_ms_precise()/rc_mono_us()/rc_mono_ns() read the precise one, for latencies,
 * benchmarks and deadlines that another thread's precise reading is compared with (the lease
 * guard). rc_clock_ns() reads any other clock (a CPU-time clock, for benchmarks).
 * None of them fail on Linux; all are async-signal-safe.
 */
#ifndef RC_CLOCK_H
#define RC_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Nanoseconds on clock id. */
static inline uint64_t
rc_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Milliseconds since the epoch. */
static inline uint64_t
rc_wall_ms(void)
{
	return rc_clock_ns(CLOCK_REALTIME) / 1000000u;
}

/* Microseconds since the epoch. */
static inline uint64_t
rc_wall_us(void)
{
	return rc_clock_ns(CLOCK_REALTIME) / 1000u;
}

/* Coarse monotonic milliseconds (CLOCK_MONOTONIC_COARSE). */
static inline uint64_t
rc_mono_ms(void)
{
	return rc_clock_ns(CLOCK_MONOTONIC_COARSE) / 1000000u;
}

/* Precise monotonic milliseconds (CLOCK_MONOTONIC). */
static inline uint64_t
rc_mono_ms_precise(void)
{
	return rc_clock_ns(CLOCK_MONOTONIC) / 1000000u;
}

/* Precise monotonic microseconds (CLOCK_MONOTONIC). */
static inline uint64_t
rc_mono_us(void)
{
	return rc_clock_ns(CLOCK_MONOTONIC) / 1000u;
}

/* Precise monotonic nanoseconds (CLOCK_MONOTONIC). */
static inline uint64_t
rc_mono_ns(void)
{
	return rc_clock_ns(CLOCK_MONOTONIC);
}

#endif /* RC_CLOCK_H */
