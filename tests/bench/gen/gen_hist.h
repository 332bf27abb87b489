/* SPDX-License-Identifier: MIT */
/*
 * roomcast-gen's latency histogram: log-linear buckets (exact below 128, then 64 buckets
 * per power of two: a value is reported within 1/64 = 1.6 % of what was recorded), so a
 * percentile costs no sort and a histogram of any run is a fixed 30 KiB.
 *
 * Threads: one writer (the generator's lcore) adds; any thread may read a snapshot
 * (rg_hist_snapshot: every word read once, relaxed) while it does. The functions are
 * otherwise pure; nothing allocates.
 */
#ifndef RG_HIST_H
#define RG_HIST_H

#include <stdint.h>

#define RG_HIST_SUB_BITS 6                        /* 64 buckets per power of two */
#define RG_HIST_SUB (1u << RG_HIST_SUB_BITS)
#define RG_HIST_LINEAR (2u * RG_HIST_SUB)         /* 0..127 recorded exactly */
#define RG_HIST_BUCKETS (RG_HIST_LINEAR + (64 - RG_HIST_SUB_BITS - 1) * RG_HIST_SUB)

struct rg_hist {
	uint64_t n;   /* values added */
	uint64_t sum; /* their sum (for the mean) */
	uint64_t max; /* the largest value added */
	uint64_t b[RG_HIST_BUCKETS];
};

/* The bucket of v, and the smallest and largest values that bucket holds. */
unsigned rg_hist_bucket(uint64_t v);
uint64_t rg_hist_bucket_lo(unsigned b);
uint64_t rg_hist_bucket_hi(unsigned b);

/* Add one value (single writer; the stores are relaxed atomics for concurrent readers). */
void rg_hist_add(struct rg_hist *h, uint64_t v);

/* out = a consistent-enough copy of h (each word read once, relaxed) while h is written. */
void rg_hist_snapshot(struct rg_hist *out, const struct rg_hist *h);

/* out = now - then, both snapshots of one histogram (then taken before now): the values of
 * an interval. out->max is now's max (the interval's is not known). */
void rg_hist_diff(struct rg_hist *out, const struct rg_hist *now, const struct rg_hist *then);

/*
 * The value at quantile q (0 < q <= 1: 0.5 the median, 0.999 the 99.9th percentile): the
 * value of rank ceil(q * n), as the middle of its bucket, never above max. 0 when h is empty.
 */
uint64_t rg_hist_quantile(const struct rg_hist *h, double q);

/* The mean of the values added, 0 when h is empty. */
double rg_hist_mean(const struct rg_hist *h);

#endif /* RG_HIST_H */
