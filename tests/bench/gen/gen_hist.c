/* SPDX-License-Identifier: MIT */
/*
 * Log-linear latency histogram; see gen_hist.h. Bucket b below RG_HIST_LINEAR holds the
 * value b; above, a value whose highest set bit is m (m > RG_HIST_SUB_BITS) is shifted right
 * by s = m - RG_HIST_SUB_BITS, keeping its top RG_HIST_SUB_BITS + 1 bits, 64..127.
 */
#include <math.h>

#include "gen_hist.h"

unsigned
rg_hist_bucket(uint64_t v)
{
	unsigned m, s;

	if (v < RG_HIST_LINEAR)
		return (unsigned)v;
	m = 63u - (unsigned)__builtin_clzll(v);
	s = m - RG_HIST_SUB_BITS;
	return RG_HIST_LINEAR + (s - 1) * RG_HIST_SUB + (unsigned)((v >> s) - RG_HIST_SUB);
}

uint64_t
rg_hist_bucket_lo(unsigned b)
{
	unsigned s;

	if (b < RG_HIST_LINEAR)
		return b;
	s = (b - RG_HIST_LINEAR) / RG_HIST_SUB + 1;
	return ((uint64_t)RG_HIST_SUB + (b - RG_HIST_LINEAR) % RG_HIST_SUB) << s;
}

uint64_t
rg_hist_bucket_hi(unsigned b)
{
	if (b + 1 >= RG_HIST_BUCKETS)
		return UINT64_MAX;
	return rg_hist_bucket_lo(b + 1) - 1;
}

static inline void
store_relaxed(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

void
rg_hist_add(struct rg_hist *h, uint64_t v)
{
	unsigned b = rg_hist_bucket(v);

	store_relaxed(&h->b[b], h->b[b] + 1);
	store_relaxed(&h->sum, h->sum + v);
	if (v > h->max)
		store_relaxed(&h->max, v);
	store_relaxed(&h->n, h->n + 1);
}

void
rg_hist_snapshot(struct rg_hist *out, const struct rg_hist *h)
{
	unsigned i;

	out->n = __atomic_load_n(&h->n, __ATOMIC_RELAXED);
	out->sum = __atomic_load_n(&h->sum, __ATOMIC_RELAXED);
	out->max = __atomic_load_n(&h->max, __ATOMIC_RELAXED);
	for (i = 0; i < RG_HIST_BUCKETS; i++)
		out->b[i] = __atomic_load_n(&h->b[i], __ATOMIC_RELAXED);
}

void
rg_hist_diff(struct rg_hist *out, const struct rg_hist *now, const struct rg_hist *then)
{
	uint64_t n = 0;
	unsigned i;

	/* The buckets were read one by one while the writer went on: count what they hold,
	 * so that a quantile walk always ends inside them. */
	for (i = 0; i < RG_HIST_BUCKETS; i++) {
		out->b[i] = now->b[i] >= then->b[i] ? now->b[i] - then->b[i] : 0;
		n += out->b[i];
	}
	out->n = n;
	out->sum = now->sum >= then->sum ? now->sum - then->sum : 0;
	out->max = now->max;
}

uint64_t
rg_hist_quantile(const struct rg_hist *h, double q)
{
	uint64_t rank, seen = 0, lo, hi, mid;
	unsigned i;

	if (h->n == 0)
		return 0;
	if (q > 1.0)
		q = 1.0;
	rank = (uint64_t)ceil(q * (double)h->n);
	if (rank == 0)
		rank = 1;
	for (i = 0; i < RG_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			break;
	}
	if (i == RG_HIST_BUCKETS)
		return h->max;
	lo = rg_hist_bucket_lo(i);
	hi = rg_hist_bucket_hi(i);
	mid = lo + (hi - lo) / 2;
	return h->max != 0 && mid > h->max ? h->max : mid;
}

double
rg_hist_mean(const struct rg_hist *h)
{
	return h->n ? (double)h->sum / (double)h->n : 0.0;
}
