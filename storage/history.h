/* SPDX-License-Identifier: MIT */
/*
 * The history thread: serves JOIN back-fill and FETCH from the stored messages so that
 * worker lcores never touch LMDB.
 *
 * Workers enqueue struct rc_hist_req pointers (allocated from rc_history_pool()) on the
 * ring from rc_history_ring() and ring rc_history_bell(); when the enqueue fails they free
 * the request and count a drop. The history thread reads the messages with an LMDB read
 * transaction and hands each one to ops->emit (which builds and queues the DELIVER), then
 * calls ops->end once, then frees the request. The callbacks run on the history thread.
 *
 * With a database (rc_history_set_db), what LMDB no longer holds (trimmed after its drain)
 * comes from PostgreSQL, seamlessly: the messages of a request are still emitted in seq
 * order, the older ones (from PostgreSQL) first, then LMDB's, `max` in all.
 *  - RC_HIST_LATEST: the last `max` messages with seq <= to_seq. LMDB's are taken first;
 *    when fewer than `max` and they do not start at seq 1, the ones before them come from
 *    PostgreSQL. PostgreSQL unreachable: LMDB's part only, err = 0 (the newest messages
 *    matter most on JOIN; FETCH_END's next_seq is still right, the client may FETCH the
 *    older ones later).
 *  - RC_HIST_RANGE: from_seq <= seq <= to_seq, at most `max`. When LMDB's first message of
 *    the range is after from_seq (or LMDB has none), [from_seq, that first - 1] comes from
 *    PostgreSQL. PostgreSQL unreachable: nothing is emitted and end gets err = -EAGAIN (the
 *    node answers ERROR busy: the client retries; it never gets a silent hole).
 * The history thread connects on first need, with connect_timeout 3 s, and a 5 s statement
 * timeout; after a failure it does not try again for a back-off of 1 s doubling to 30 s
 * (requests needing PostgreSQL meanwhile fail as above, at once); a connection refused at
 * once (under 100 ms: the server down, no read-write server yet) keeps the back-off at 1 s. A connection that worked
 * for an earlier request and is found dead by this one (the server restarted, or the
 * database failed over: a multi-host conninfo then reconnects to the new primary) is not a
 * failure yet: the request reconnects at once and asks again, once.
 */
#ifndef RC_HISTORY_H
#define RC_HISTORY_H

#include <stdint.h>

#include "wal.h"

struct rc_bell;
struct rc_history;

struct rc_history *rc_history_create(struct rc_wal *w, unsigned ring_size, int socket_id,
				     const struct rc_history_ops *ops, void *arg);
int rc_history_start(struct rc_history *h);

/* Serve trimmed history from this PostgreSQL database (libpq conninfo, copied; NULL or ""
 * turns it off). Call before rc_history_start(). 0 or -errno (-EBUSY while running,
 * -ENOMEM). */
int rc_history_set_db(struct rc_history *h, const char *conninfo);
void rc_history_stop(struct rc_history *h);
void rc_history_destroy(struct rc_history *h);

struct rte_mempool *rc_history_pool(struct rc_history *h);
struct rte_ring *rc_history_ring(struct rc_history *h);
/* The history thread's doorbell (doorbell.h): ring it after each enqueue on the ring, else
 * the request waits for the idle thread's timeout (50 ms). Valid until destroy. */
struct rc_bell *rc_history_bell(struct rc_history *h);

struct rc_history_stats {
	uint64_t requests;
	uint64_t messages;
	uint64_t errors;
	uint64_t db_requests; /* requests that needed PostgreSQL */
	uint64_t db_messages; /* messages served from PostgreSQL */
	uint64_t db_errors;   /* failed connections and queries */
};
void rc_history_get_stats(struct rc_history *h, struct rc_history_stats *st);

#endif /* RC_HISTORY_H */
