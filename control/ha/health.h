/* SPDX-License-Identifier: MIT */
/*
 * The watcher of this node's critical services: the worker lcores make progress, the WAL
 * writer commits, the database answers. Its bits go to the peer in every heartbeat
 * (heartbeat.h) and decide local-critical-up / -down for the state machine (ha_fsm.h).
 *
 * Threads: an rc_health belongs to one thread (the control thread); no locks. The functions
 * do not log: they return -errno.
 */
#ifndef RC_HEALTH_H
#define RC_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

enum rc_health_bit {
	RC_HEALTH_WORKERS = 0, /* every worker lcore makes progress (derived, see rc_health) */
	RC_HEALTH_WAL_WRITER,  /* the WAL writer thread is alive */
	RC_HEALTH_DATABASE,    /* the external database (PostgreSQL) connection works */
	RC_HEALTH_BIT_MAX,
};

#define RC_HEALTH_MASK(bit) (1u << (bit))
/* The TC service: the workers and the WAL writer. */
#define RC_HEALTH_TC (RC_HEALTH_MASK(RC_HEALTH_WORKERS) | RC_HEALTH_MASK(RC_HEALTH_WAL_WRITER))

const char *rc_health_bit_name(enum rc_health_bit bit); /* "workers", ...; NULL if out of range */

static inline bool
rc_health_tc_ok(uint32_t bits)
{
	return (bits & RC_HEALTH_TC) == RC_HEALTH_TC;
}

struct rc_health;

/* n_workers up to 1024 may be 0 (then the workers bit is always set); stall_ms 0 means
 * 1000. Every bit starts clear (not running). NULL with errno EINVAL or ENOMEM. */
struct rc_health *rc_health_create(unsigned n_workers, uint64_t stall_ms);
void rc_health_destroy(struct rc_health *h);

/* The control thread samples worker idx's loop counter (rc_worker.last_heartbeat) at now
 * (ms, monotonic). A worker is stalled when its counter has not moved for stall_ms; it is
 * running again as soon as it moves. A worker never sampled counts as not running.
 * 0 or -EINVAL (idx out of range). */
int rc_health_worker_progress(struct rc_health *h, unsigned idx, uint64_t counter,
			      uint64_t now_ms);
bool rc_health_worker_stalled(const struct rc_health *h, unsigned idx);

/* Set or clear a bit that the caller observes (WAL writer, database). 0, or -EINVAL for
 * RC_HEALTH_WORKERS (derived) and out-of-range bits. */
int rc_health_set(struct rc_health *h, enum rc_health_bit bit, bool running);

/* The bits to put in a heartbeat: RC_HEALTH_MASK(bit) set when the service runs. */
uint32_t rc_health_bits(const struct rc_health *h);

#endif /* RC_HEALTH_H */
