/* SPDX-License-Identifier: MIT */
/*
 * The latency budget of a POST: where the time from its datagram to its fan-out goes on
 * this node, stage by stage, always on (`roomcastctl stats`: latency_budget).
 *
 * The stamps travel in the record (handoff.h: struct rc_wal_stamps): the receiving worker
 * stamps the RX burst, the home worker the WAL enqueue, the WAL writer the dequeue, the
 * synced commit and the completion (held by the HA peer gate: its release). When the home
 * worker dequeues a completion it records the first five stages at once, then the fan-out
 * once the loop iteration's datagrams went to rte_eth_tx_burst:
 *
 *   rx_to_enqueue     RX burst -> WAL ring: decode, session and room, hand-off to the home
 *                     worker (ring `in`), the record built
 *   wal_queue         in the WAL ring, the writer's idle sleep included
 *   commit            the batch written and synced (fdatasync), up to its completion
 *   peer              held for the HA peer's ACK (0 without the peer gate)
 *   completion_queue  in the home worker's done ring, its idle sleep included
 *   fanout            dequeued -> the last tx_burst of that loop iteration: ACK, DELIVER
 *                     encoded, one copy per member, TX
 *
 * and the whole of it, `total` (RX burst -> that last tx_burst), per POST: the percentiles
 * of the stages do not add up to the total's.
 *
 * The clock is CLOCK_MONOTONIC (rc_mono_ns, clock.h), not the TSC: the stamps are compared
 * across threads (a worker lcore, the WAL writer, another worker), which the kernel's
 * monotonic clock guarantees and a TSC read on a VM's vCPUs does not; it reads the TSC
 * through the vDSO where the TSC is the clocksource (about 30 ns here against 12 ns for
 * rdtsc: a few stamps per POST, or per burst, against a path of hundreds of microseconds),
 * and needs no EAL for its unit.
 *
 * Histograms: log-scale buckets (16 per power of two from 16 ns: 6.25% wide), count and
 * max; a percentile is the middle of its bucket (within 3.2%), never above the max. Each worker keeps its
 * own (struct rc_lat_budget in struct rc_worker) and writes it alone; the control thread
 * reads them relaxed and sums them (rc_lat_hist_add): no lock anywhere.
 */
#ifndef RC_LATENCY_H
#define RC_LATENCY_H

#include <stdint.h>

#include "handoff.h"

enum rc_lat_stage {
	RC_LAT_RX_TO_ENQUEUE = 0,
	RC_LAT_WAL_QUEUE,
	RC_LAT_COMMIT,
	RC_LAT_PEER,
	RC_LAT_COMPLETION_QUEUE,
	RC_LAT_FANOUT,
	RC_LAT_TOTAL, /* not a stage: RX burst -> the last tx_burst */
	RC_LAT_MAX
};

#define RC_LAT_WAITING 64 /* completions a loop iteration dequeues at most (RC_BURST_MAX) */

#define RC_LAT_SUB_BITS 4                        /* 16 buckets per power of two */
#define RC_LAT_TOP_EXP 40                        /* from 2^40 ns (18 min): the last bucket */
#define RC_LAT_BUCKETS ((RC_LAT_TOP_EXP - RC_LAT_SUB_BITS + 1) << RC_LAT_SUB_BITS)

struct rc_lat_hist {
	uint64_t count;
	uint64_t max_ns;
	uint64_t b[RC_LAT_BUCKETS];
};

/* A worker's budget: its histograms and the completions waiting for their TX. */
struct rc_lat_budget {
	struct rc_lat_hist st[RC_LAT_MAX];
	uint64_t fanout_since; /* when the waiting completions were dequeued */
	unsigned fanout_waiting;
	uint64_t waiting_rx[RC_LAT_WAITING]; /* their RX stamps, for the total */
};

/* "rx_to_enqueue", ...; "?" when out of range. */
const char *rc_lat_stage_name(unsigned stage);

/* One sample of ns nanoseconds, n times. The histogram's one writer. */
void rc_lat_hist_record(struct rc_lat_hist *h, uint64_t ns, uint64_t n);

/* sum += h, h read relaxed (its writer may be running). */
void rc_lat_hist_add(struct rc_lat_hist *sum, const struct rc_lat_hist *h);

/* The q-quantile (0 < q <= 1) in ns: the middle of the bucket that holds it, at most the
 * max; the max for the last sample; 0 for an empty histogram. */
uint64_t rc_lat_hist_quantile(const struct rc_lat_hist *h, double q);

/*
 * Worker: completions recs[0..n) just dequeued from its done ring, before they are
 * handled: a stored chat message with its stamps records its first five stages now and
 * waits for rc_lat_flushed() for its fan-out.
 */
void rc_lat_completions(struct rc_lat_budget *lb, struct rc_wal_rec *const *recs,
			unsigned n);

/* Worker: its loop iteration's datagrams were handed to rte_eth_tx_burst. */
void rc_lat_fanout_done(struct rc_lat_budget *lb);

static inline void
rc_lat_flushed(struct rc_lat_budget *lb)
{
	if (lb->fanout_waiting != 0)
		rc_lat_fanout_done(lb);
}

#endif /* RC_LATENCY_H */
