/* SPDX-License-Identifier: MIT */
/*
 * The drainer thread: copies the WAL's committed records to the group's PostgreSQL
 * database, in LSN order, in batches, exactly once.
 *
 * One batch = one PostgreSQL transaction with synchronous_commit on: the messages go into
 * a temporary staging table (COPY) and then INSERT ... SELECT ... ON CONFLICT (room, seq)
 * DO NOTHING; a staged row whose key exists with a different (cmid, sender) is an ALARM
 * (drain_alarms row + counter), never silently dropped; rooms are upserted; drain_state
 * gets the batch's last LSN. Only after COMMIT does the drainer call rc_wal_set_drained().
 * Re-draining after a crash (LMDB's marker behind the database's) therefore inserts
 * nothing twice; at start the drainer takes the larger of the two markers.
 *
 * Dead letters (schema version 3): a batch never wedges the drain. A record that breaks
 * storage/wal_valid.h's rules (not UTF-8, a NUL byte, seq or ts_ms beyond a bigint, a length)
 * is written to drain_dead_letters instead of messages, in its batch's transaction, with
 * its exact bytes. A batch the database refuses because of its data (SQLSTATE classes 22,
 * 23 but unique violations, 54: rc_pgdb_data_error) dead_letter_after times in a row is
 * narrowed down: half as many records per batch at each further refusal, down to one,
 * without back-off; the record refused alone goes to drain_dead_letters with the
 * server's error; then the batches grow back. Every other record goes on in LSN order;
 * a dead letter counts as drained. The alarm: dead_letter_rows > 0 (stats).
 *
 * Deleted rooms: a room's log entry that shows the room deleted (RC_WAL_ROOM_DELETED in its
 * flags: the tombstone, or any entry of a room deleted since) ends its batch, and the
 * batch's transaction ends by deleting the room's rows: its messages (by name), its rooms
 * row (its id, or an id-less row of this node's next_seq), its members (cascade). So the
 * rows go in LSN order: a room created again under the name after the deletion lands in a
 * later transaction, its seq 1, 2... no conflict. A deleted room never gets a rooms row.
 * The deletion runs only at the lease's epoch (as the messages fence: an old term deletes
 * nothing, -ESTALE). A drain_state marker at such an entry is usually not adopted (the
 * check looks for a rooms row of the name, gone with the room): the batches before it are
 * drained again, their rows going in and out again in the same order.
 *
 * The drain ceiling: a batch reads only LSNs <= rc_wal_drain_ceiling() (wal.h): with peer
 * durability, what the peer holds or what was acknowledged without it; PostgreSQL
 * never gets a record a surviving peer may lack.
 *
 * PostgreSQL unreachable: the drainer reconnects with back-off (retry_min_ms doubling to
 * retry_max_ms) and resumes; the node meanwhile keeps accepting into LMDB.
 * Cleanup requests (delete messages older than N days) run on this thread, in bounded
 * batches, between drains.
 */
#ifndef RC_DRAINER_H
#define RC_DRAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "wal.h"

struct rc_drainer;

enum rc_drain_method {
	RC_DRAIN_COPY = 0,     /* COPY into a staging table, then insert-on-conflict */
	RC_DRAIN_PIPELINE = 1, /* libpq pipeline mode, one INSERT ... ON CONFLICT per row */
};

struct rc_drainer_conf {
	const char *conninfo;
	const char *node_id;
	unsigned batch_max;      /* records per transaction; 0: 2000 (roomcastd passes db.batch_max, default 10000) */
	unsigned retry_min_ms;   /* default 100 */
	unsigned retry_max_ms;   /* default 5000 */
	unsigned idle_ms;        /* sleep when nothing to drain; default 5 */
	enum rc_drain_method method;
	uint64_t epoch;          /* the writer's epoch stored with each row (HA lease; 0) */
	unsigned dead_letter_after; /* data-error failures of a batch before its records are
				     * isolated (see "Dead letters"); 0: 3 */
};

struct rc_drainer_stats {
	bool connected;
	uint64_t drained;        /* records written (rows inserted or already present) */
	uint64_t batches;
	uint64_t conflicts;      /* alarms: same (room, seq), different message */
	uint64_t errors;         /* failed batches (retried) */
	uint64_t reconnects;
	uint64_t last_batch_ms;  /* wall clock of the last committed batch */
	uint64_t cleanup_deleted; /* rows removed by cleanups */
	uint64_t cleanup_runs;
	uint64_t dead_letters;   /* records set aside into drain_dead_letters by this drainer */
	uint64_t dead_letter_rows; /* the node's rows in drain_dead_letters (the alarm: > 0) */
	char last_error[256];
	int schema_version;
	char server[160];        /* the server connected to: "HOST port PORT" ("" when not);
				  * of a multi-host conninfo, the read-write one found */
};

struct rc_drainer *rc_drainer_create(struct rc_wal *w, const struct rc_drainer_conf *c);
int rc_drainer_start(struct rc_drainer *d);
void rc_drainer_stop(struct rc_drainer *d);
void rc_drainer_destroy(struct rc_drainer *d);
void rc_drainer_get_stats(struct rc_drainer *d, struct rc_drainer_stats *st);

/* Ask for messages older than `days` days (by ts_ms) to be deleted; runs on the drainer
 * thread soon. Any thread. */
void rc_drainer_request_cleanup(struct rc_drainer *d, unsigned days);

/* Fault injection (tests: `roomcastctl db fault hold-drain`): while on, the drainer stops
 * inside its next batch's transaction, after the batch's rows went in (the fence's lock on
 * the lease row taken, the rows uncommitted), as a drainer whose host froze there would.
 * Any thread. */
void rc_drainer_fault_hold(struct rc_drainer *d, bool on);

/* Synchronous drain of everything committed so far, from the calling thread (tests,
 * benchmarks; never while the thread runs). Returns records drained or -errno. */
int rc_drainer_drain_now(struct rc_drainer *d);

#endif /* RC_DRAINER_H */
