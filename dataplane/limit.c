/* SPDX-License-Identifier: MIT */
#include "limit.h"

bool
rc_bucket_take(struct rc_bucket *b, uint64_t now_ms, unsigned rate, unsigned burst,
	       unsigned cost)
{
	uint64_t stamp = __atomic_load_n(&b->stamp_ms, __ATOMIC_RELAXED);
	uint64_t tokens = __atomic_load_n(&b->tokens, __ATOMIC_RELAXED);
	uint64_t cap = (uint64_t)burst * 1000, need = (uint64_t)cost * 1000;

	if (now_ms > stamp)
		tokens += (now_ms - stamp) * rate;
	if (tokens > cap)
		tokens = cap;
	if (now_ms > stamp)
		__atomic_store_n(&b->stamp_ms, now_ms, __ATOMIC_RELAXED);
	if (tokens < need || rate == 0) {
		__atomic_store_n(&b->tokens, tokens, __ATOMIC_RELAXED);
		return false;
	}
	__atomic_store_n(&b->tokens, tokens - need, __ATOMIC_RELAXED);
	return true;
}

/* Fibonacci hashing: spreads consecutive addresses (one subnet) over the slots. */
static unsigned
src_slot(uint32_t ip)
{
	return (unsigned)((ip * 2654435769u) >> 22) & (RC_SRC_SLOTS - 1);
}

bool
rc_src_take(struct rc_src_table *t, uint32_t ip, uint64_t now_ms, unsigned rate,
	    unsigned burst)
{
	unsigned i = src_slot(ip);

	if (t->slot[i].ip != ip) {
		t->slot[i].ip = ip;
		t->slot[i].b = (struct rc_bucket){ .stamp_ms = now_ms,
						   .tokens = (uint64_t)burst * 1000 };
	}
	return rc_bucket_take(&t->slot[i].b, now_ms, rate, burst, 1);
}
