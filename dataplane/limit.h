/* SPDX-License-Identifier: MIT */
/*
 * Token buckets for the limits a worker applies before anything costly: a session's request
 * budget, a source address's LOGINs and ICMP echoes, a worker's ICMP echoes.
 *
 * A bucket holds up to `burst` tokens and gains `rate` a second; an action costing `cost`
 * tokens is allowed when that many are left. Tokens are kept in 1/1000 so that a rate below
 * 1000 a second still refills every millisecond.
 *
 * A source table is direct-mapped: one bucket per slot, the slot chosen by a hash of the
 * IPv4 address. Two sources in one slot share nothing: the newcomer takes the slot over with
 * a full bucket (a flood of many spoofed sources gets a full bucket each: the per-source
 * limit stops one address, the LOGIN cookie (cookie.h) the spoofed ones).
 *
 * Concurrency: a bucket is read and written with relaxed atomics, so a session's bucket
 * may be taken by two workers at once (a lost update lets one more through, never fewer);
 * a source table belongs to one worker.
 */
#ifndef RC_LIMIT_H
#define RC_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define RC_SRC_SLOTS 1024 /* per table; a power of two */

struct rc_bucket {
	uint64_t stamp_ms; /* last refill (monotonic ms) */
	uint64_t tokens;   /* in 1/1000 of a token */
};

struct rc_src_table {
	struct {
		uint32_t ip; /* network order; 0: free */
		struct rc_bucket b;
	} slot[RC_SRC_SLOTS];
};

/* Take `cost` tokens from b at now_ms; false (nothing taken) when fewer are left. rate 0:
 * nothing is ever allowed. */
bool rc_bucket_take(struct rc_bucket *b, uint64_t now_ms, unsigned rate, unsigned burst,
		    unsigned cost);

/* Take one token of source ip's bucket in t (a new source starts full). */
bool rc_src_take(struct rc_src_table *t, uint32_t ip, uint64_t now_ms, unsigned rate,
		 unsigned burst);

#endif /* RC_LIMIT_H */
