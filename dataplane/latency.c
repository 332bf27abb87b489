/* SPDX-License-Identifier: MIT */
/*
 * The latency budget of a POST (latency.h): log-scale histograms and the worker's two
 * recording points. The worker is each histogram's only writer: it stores with relaxed
 * atomics so that the control thread's relaxed reads see whole values.
 */
#include "latency.h"

#include "clock.h"

#define SUB (1u << RC_LAT_SUB_BITS)

static const char *const stage_names[RC_LAT_MAX] = {
	[RC_LAT_RX_TO_ENQUEUE] = "rx_to_enqueue",
	[RC_LAT_WAL_QUEUE] = "wal_queue",
	[RC_LAT_COMMIT] = "commit",
	[RC_LAT_PEER] = "peer",
	[RC_LAT_COMPLETION_QUEUE] = "completion_queue",
	[RC_LAT_FANOUT] = "fanout",
	[RC_LAT_TOTAL] = "total",
};

const char *
rc_lat_stage_name(unsigned stage)
{
	return stage < RC_LAT_MAX ? stage_names[stage] : "?";
}

/* Values below SUB have a bucket each; above, SUB buckets per power of two. */
static unsigned
bucket_of(uint64_t ns)
{
	unsigned e;

	if (ns < SUB)
		return (unsigned)ns;
	e = 63u - (unsigned)__builtin_clzll(ns);
	if (e >= RC_LAT_TOP_EXP)
		return RC_LAT_BUCKETS - 1;
	return ((e - RC_LAT_SUB_BITS + 1) << RC_LAT_SUB_BITS) +
	       (unsigned)((ns >> (e - RC_LAT_SUB_BITS)) & (SUB - 1));
}

/* The middle of the values bucket i holds (the last one: its lowest). */
static uint64_t
bucket_mid(unsigned i)
{
	unsigned e, sub;
	uint64_t low;

	if (i < SUB)
		return i;
	e = (i >> RC_LAT_SUB_BITS) + RC_LAT_SUB_BITS - 1;
	sub = i & (SUB - 1);
	low = (uint64_t)(SUB + sub) << (e - RC_LAT_SUB_BITS);
	if (i == RC_LAT_BUCKETS - 1)
		return low;
	return low + ((1ull << (e - RC_LAT_SUB_BITS)) - 1) / 2;
}

static inline void
bump(uint64_t *v, uint64_t by)
{
	__atomic_store_n(v, *v + by, __ATOMIC_RELAXED);
}

void
rc_lat_hist_record(struct rc_lat_hist *h, uint64_t ns, uint64_t n)
{
	bump(&h->b[bucket_of(ns)], n);
	bump(&h->count, n);
	if (ns > h->max_ns)
		__atomic_store_n(&h->max_ns, ns, __ATOMIC_RELAXED);
}

void
rc_lat_hist_add(struct rc_lat_hist *sum, const struct rc_lat_hist *h)
{
	uint64_t max = __atomic_load_n(&h->max_ns, __ATOMIC_RELAXED);

	sum->count += __atomic_load_n(&h->count, __ATOMIC_RELAXED);
	if (max > sum->max_ns)
		sum->max_ns = max;
	for (unsigned i = 0; i < RC_LAT_BUCKETS; i++)
		sum->b[i] += __atomic_load_n(&h->b[i], __ATOMIC_RELAXED);
}

uint64_t
rc_lat_hist_quantile(const struct rc_lat_hist *h, double q)
{
	uint64_t total = 0, rank, seen = 0;
	unsigned i;

	for (i = 0; i < RC_LAT_BUCKETS; i++)
		total += h->b[i];
	if (total == 0)
		return 0;
	rank = (uint64_t)(q * (double)total);
	if ((double)rank < q * (double)total || rank == 0)
		rank++; /* the rank rounded up: at least 1 */
	if (rank >= total)
		return h->max_ns;
	for (i = 0; i < RC_LAT_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			break;
	}
	return bucket_mid(i) < h->max_ns ? bucket_mid(i) : h->max_ns;
}

/* to - from, or 0 when a stamp is missing (or out of order: never with one clock). */
static inline uint64_t
span(uint64_t from, uint64_t to)
{
	return from != 0 && to > from ? to - from : 0;
}

void
rc_lat_completions(struct rc_lat_budget *lb, struct rc_wal_rec *const *recs, unsigned n)
{
	uint64_t now = 0;

	for (unsigned i = 0; i < n; i++) {
		const struct rc_wal_stamps *t = &recs[i]->t;

		if (recs[i]->kind != RC_WAL_MSG || recs[i]->status != 0 || t->enqueued == 0 ||
		    t->completed == 0)
			continue;
		if (now == 0)
			now = rc_mono_ns();
		if (t->rx != 0)
			rc_lat_hist_record(&lb->st[RC_LAT_RX_TO_ENQUEUE], span(t->rx, t->enqueued), 1);
		rc_lat_hist_record(&lb->st[RC_LAT_WAL_QUEUE], span(t->enqueued, t->dequeued), 1);
		rc_lat_hist_record(&lb->st[RC_LAT_COMMIT], span(t->dequeued, t->committed), 1);
		rc_lat_hist_record(&lb->st[RC_LAT_PEER], span(t->committed, t->completed), 1);
		rc_lat_hist_record(&lb->st[RC_LAT_COMPLETION_QUEUE], span(t->completed, now), 1);
		if (lb->fanout_waiting == 0)
			lb->fanout_since = now;
		if (lb->fanout_waiting < RC_LAT_WAITING)
			lb->waiting_rx[lb->fanout_waiting] = t->rx;
		lb->fanout_waiting++;
	}
}

void
rc_lat_fanout_done(struct rc_lat_budget *lb)
{
	uint64_t now = rc_mono_ns();
	unsigned n = lb->fanout_waiting < RC_LAT_WAITING ? lb->fanout_waiting : RC_LAT_WAITING;

	rc_lat_hist_record(&lb->st[RC_LAT_FANOUT], span(lb->fanout_since, now), lb->fanout_waiting);
	for (unsigned i = 0; i < n; i++)
		if (lb->waiting_rx[i] != 0)
			rc_lat_hist_record(&lb->st[RC_LAT_TOTAL], span(lb->waiting_rx[i], now), 1);
	lb->fanout_waiting = 0;
}
