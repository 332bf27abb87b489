/* SPDX-License-Identifier: MIT */
/*
 * The lease guard (self-fencing), the part of storage/lease.h that worker lcores read: no
 * database, no allocation, lock-free. The rules (who grants, the timing argument) are in
 * lease.h.
 */
#ifndef RC_LEASE_GUARD_H
#define RC_LEASE_GUARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "clock.h"

/* A node's ownership scopes: [0] the rooms it hosts, [1] its HA peer's (a pair member
 * holds both; a single node only [0]). Every per-scope array is this long. */
#define RC_MAX_SCOPES 2

struct rc_lease_guard {
	_Atomic uint64_t epoch;               /* 0: no lease */
	_Atomic uint64_t valid_until_mono_ms; /* acknowledge only while now < this */
};

/* This host's CLOCK_MONOTONIC in ms (the clock of the guard). */
static inline uint64_t
rc_lease_mono_ms(void)
{
	return rc_mono_ms_precise();
}

/* May the node acknowledge at now_mono_ms? Any thread, lock-free. */
static inline bool
rc_lease_guard_ok(const struct rc_lease_guard *g, uint64_t now_mono_ms)
{
	return now_mono_ms < atomic_load_explicit(&g->valid_until_mono_ms, memory_order_acquire);
}

/* The epoch the guard was granted for (0: none). Any thread. */
static inline uint64_t
rc_lease_guard_epoch(const struct rc_lease_guard *g)
{
	return atomic_load_explicit(&g->epoch, memory_order_acquire);
}

#endif /* RC_LEASE_GUARD_H */
