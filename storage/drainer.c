/* SPDX-License-Identifier: MIT */
/*
 * The drainer: the WAL's commit log -> the group's PostgreSQL database, in LSN order, in
 * batches, exactly once (per (room, seq)).
 *
 * One batch:
 *   read up to batch_max log records after the drained marker, up to the drain ceiling
 *      (rc_wal_drain_ceiling: what the HA peer holds or what was acknowledged without it),
 *      copied out with their exact lengths and checked (rc_wal_rec_storable)
 *   -> resolve room names (a cache of room_id -> name; names never change)
 *   -> one PostgreSQL transaction, SET LOCAL synchronous_commit = on:
 *        rooms created in the batch        upsert (blanks filled, nothing overwritten)
 *        messages                          COPY: streamed straight into messages inside
 *                                          a savepoint (the usual case: no key is there
 *                                          yet); on a unique violation, back to the
 *                                          savepoint, then COPY into the temp table
 *                                          rc_staging and INSERT ... SELECT ... ON
 *                                          CONFLICT DO NOTHING
 *                                          PIPELINE: one prepared INSERT ... ON CONFLICT
 *                                          DO NOTHING per row, pipelined
 *        if fewer rows went in than were sent: the rows whose key holds a DIFFERENT message
 *        (cmid or sender differ) become drain_alarms rows (the new message kept whole) and
 *        count as conflicts; equal rows are a re-drain and count as drained
 *        records PostgreSQL cannot hold    drain_dead_letters rows (exact bytes, why), in
 *        or refused alone                  place of messages / rooms rows
 *        rooms.next_seq                    greatest(existing, max seq of the batch + 1)
 *        a room deleted by the batch's     its messages and rooms row deleted (the entry
 *        last record                       ends the batch: drain_read; drainer.h)
 *        drain_state(node)                 the batch's last LSN
 *      COMMIT
 *   -> rc_wal_set_drained(last LSN). Only now.
 *
 * The methods (drain_impl.h: struct drain_method, one file each) differ in how the
 * messages go in and in when the COMMIT is waited for: PIPELINE waits for it; COPY keeps
 * one batch in flight on its second connection (drain_copy.c) and reads its answer only
 * after the next batch was streamed. The pending batch is also waited for when there is
 * nothing new to send, before a cleanup chunk, at the end of rc_drainer_drain_now() and
 * when the thread stops. The statements are drain_sql.c's; this file holds no SQL.
 *
 * The markers: LMDB's (rc_wal_drained_lsn) and drain_state's, written in the same PostgreSQL
 * transaction as the rows. After a crash between COMMIT and rc_wal_set_drained() LMDB's is
 * behind: at each connection the drainer adopts drain_state's when it is ahead, but only if
 * the log record at that LSN is in the database (a drain_state row left by another WAL of
 * the same node id is ignored). A re-drain of rows already present inserts nothing.
 *
 * Failures: a failed connection or batch closes the connections, counts an error, keeps
 * its text in the stats, and retries after a back-off (retry_min_ms doubling up to
 * retry_max_ms; reset by a committed batch). Nothing is marked drained unless committed.
 * A batch refused for its data (rc_pgdb_data_error: SQLSTATE classes 22, 23 but 23505, 54)
 * dead_letter_after times in a row is narrowed down (drain_isolate): half the records per
 * batch at each further refusal, no back-off, until the refused record is alone; it is
 * then written to drain_dead_letters with the server's error (poison_lsn) and the batches
 * grow back. So the drain never wedges on a row, and every other record goes in, in order.
 * Connections are named "roomcastd-drainer rooms:NODE eEPOCH" so that a takeover can end
 * the old term's backends (schema.c, version 3).
 * A database whose schema is newer than this binary is retried at the back-off cap (and
 * never written).
 *
 * Cleanup (rc_drainer_request_cleanup): DELETE of messages with ts_ms before the cutoff,
 * 10000 rows per statement (one transaction each), one chunk per loop between batches.
 *
 * Threads: the drainer thread ("rc-drain") owns the connections, the room cache and the
 * buffers; rc_drainer_drain_now() uses them from the caller instead (never both).
 * rc_drainer_get_stats() and rc_drainer_request_cleanup() are safe from any thread (a mutex
 * guards the stats, an atomic holds the cleanup request). Nothing here logs.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_lcore.h>

#include "clock.h"
#include "drain_impl.h"
#include "schema.h"

#define DRAIN_APPNAME "roomcastd-drainer" /* + " SCOPE eEPOCH": schema.c, version 3 */

/* The methods by rc_drain_method. */
static const struct drain_method *const drain_methods[] = {
	[RC_DRAIN_COPY] = &drain_method_copy,
	[RC_DRAIN_PIPELINE] = &drain_method_pipeline,
};

/* ---- stats ---- */

static void
st_error(struct rc_drainer *d, const char *what, const char *text)
{
	pthread_mutex_lock(&d->lock);
	d->st.errors++;
	snprintf(d->st.last_error, sizeof(d->st.last_error), "%.40s%.200s", what, text);
	pthread_mutex_unlock(&d->lock);
}

static void
st_connected(struct rc_drainer *d, bool up, int version)
{
	pthread_mutex_lock(&d->lock);
	if (up && d->ever_connected)
		d->st.reconnects++;
	d->st.connected = up;
	if (up)
		d->st.schema_version = version;
	if (up && d->db->conn != NULL)
		drain_db_server(d->db, d->st.server, sizeof(d->st.server));
	else if (!up)
		d->st.server[0] = '\0';
	pthread_mutex_unlock(&d->lock);
	d->ever_connected |= up;
}

static void
st_batch(struct rc_drainer *d, unsigned records, uint64_t conflicts, unsigned dead)
{
	pthread_mutex_lock(&d->lock);
	d->st.drained += records;
	d->st.batches++;
	d->st.conflicts += conflicts;
	d->st.dead_letters += dead;
	d->st.dead_letter_rows += dead;
	d->st.last_batch_ms = rc_wall_ms();
	pthread_mutex_unlock(&d->lock);
}

/* ---- connecting ---- */

/* Adopts drain_state's marker when it is ahead of LMDB's and really ours. */
static int
drain_adopt_marker(struct rc_drainer *d)
{
	uint64_t pg = 0;
	int rc;

	d->drained = rc_wal_drained_lsn(d->wal);
	rc = drain_db_marker(d, &pg);
	if (rc != 0)
		return rc;
	if (pg <= d->drained || pg > rc_wal_last_lsn(d->wal))
		return 0;
	rc = drain_read(d, pg, 1);
	if (rc <= 0 || d->recs[0].lsn != pg)
		return rc < 0 ? rc : 0;
	if (d->recs[0].kind == RC_WAL_ROOM) {
		d->recs[0].room = d->recs[0].body;
	} else {
		struct room_slot *s = drain_room(d, d->recs[0].room_id);

		if (s == NULL)
			return 0;
		d->recs[0].room = s->name;
	}
	rc = drain_db_holds(d, &d->recs[0]);
	if (rc == 1) {
		d->drained = pg;
		rc_wal_set_drained(d->wal, pg);
	}
	return rc < 0 ? rc : 0;
}

/* The alarm's gauge: the node's rows in drain_dead_letters (an operator deletes a row once
 * handled). Counted at each connection, then kept up to date by the batches. */
static int
drain_count_dead(struct rc_drainer *d)
{
	uint64_t rows;
	int rc = drain_db_dead_rows(d, &rows);

	if (rc != 0)
		return rc;
	pthread_mutex_lock(&d->lock);
	/* a batch committed while its answer was lost (a failure on the other connection)
	 * was adopted with drain_state's marker: count its dead letters now */
	if (d->ever_connected && rows > d->st.dead_letter_rows)
		d->st.dead_letters += rows - d->st.dead_letter_rows;
	d->st.dead_letter_rows = rows;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* Closes both connections. A pending batch is dropped unanswered: whether it committed is
 * found out at the next connection (drain_adopt_marker), as after a crash. */
static void
drain_disconnect(struct rc_drainer *d)
{
	rc_pgdb_close(&d->conns[0]);
	rc_pgdb_close(&d->conns[1]);
	d->db = &d->conns[0];
	d->pend.pl.db = NULL;
	d->ready = false;
	st_connected(d, false, 0);
}

/* The method's second connection: session setup only (the first one migrated). */
static int
drain_connect_second(struct rc_drainer *d)
{
	struct rc_pgdb *db = &d->conns[1];
	int rc = drain_db_open(d, db);

	if (rc == 0)
		rc = drain_db_session(db);
	if (rc != 0)
		snprintf(d->conns[0].err, sizeof(d->conns[0].err), "%s", db->err);
	return rc;
}

static int
drain_connect(struct rc_drainer *d)
{
	char err[256];
	int rc;

	d->db = &d->conns[0];
	rc = drain_db_open(d, d->db);
	if (rc != 0) {
		st_error(d, "connect: ", d->db->err);
		return rc;
	}
	rc = rc_schema_migrate(d->db, NULL, err, sizeof(err));
	if (rc != 0) {
		st_error(d, "", err);
		goto out_close;
	}
	rc = drain_db_session(d->db);
	if (rc == 0)
		rc = drain_adopt_marker(d);
	if (rc == 0)
		rc = drain_count_dead(d);
	if (rc == 0 && d->m->conns > 1)
		rc = drain_connect_second(d);
	if (rc != 0) {
		st_error(d, "session setup: ", d->db->err);
		goto out_close;
	}
	d->ready = true;
	st_connected(d, true, RC_SCHEMA_VERSION);
	return 0;
out_close:
	drain_disconnect(d);
	return rc;
}

/* ---- one batch ---- */

/* Marks a committed batch drained: the markers, the stats. */
static void
drain_committed(struct rc_drainer *d, uint64_t lsn, unsigned nrecs, uint64_t alarms,
		uint64_t dead)
{
	d->drained = lsn;
	rc_wal_set_drained(d->wal, lsn);
	st_batch(d, nrecs, alarms, (unsigned)dead);
	if (d->poison_lsn != 0 && d->poison_lsn <= lsn)
		d->poison_lsn = 0;
	if (d->fail_lsn != 0 && d->fail_lsn <= lsn) { /* past the failing batch */
		d->fail_lsn = 0;
		d->fail_n = 0;
	}
	if (d->limit != 0) /* isolating: grow back, batch by batch */
		d->limit = d->limit * 2 >= d->conf.batch_max ? 0 : d->limit * 2;
}

/* Waits for the pending batch's COMMIT and marks it drained. Returns its records (0: none
 * pending) or -errno, with the error text in d->db->err (the caller disconnects). */
static int
drain_pending_end(struct rc_drainer *d)
{
	struct drain_pending *q = &d->pend;
	struct rc_pgdb *db = q->pl.db;
	int rc;

	if (db == NULL)
		return 0;
	rc = drain_pl_end(&q->pl);
	q->pl.db = NULL;
	if (rc != 0) {
		if (db != d->db)
			snprintf(d->db->err, sizeof(d->db->err), "%s", db->err);
		snprintf(d->failed_state, sizeof(d->failed_state), "%s", db->sqlstate);
		d->failed_first = q->first;
		d->failed_n = q->nrecs;
		return rc;
	}
	drain_committed(d, q->lsn, q->nrecs, q->alarms, q->pl.dead);
	return (int)q->nrecs;
}

/* The batch's transaction, by the method (drain_impl.h): its messages streamed on d->db,
 * the pending batch's COMMIT waited for (on the other connection, answered meanwhile,
 * usually), then this batch's end: committed here, or left pending in turn. A batch's
 * COMMIT is sent only after every batch before it committed, so the batches commit in
 * LSN order and a failure leaves a prefix. */
static int
drain_txn(struct rc_drainer *d)
{
	uint64_t alarms = 0, dead = 0;
	int rc = d->m->stream(d, &alarms);

	if (rc != 0) {
		snprintf(d->failed_state, sizeof(d->failed_state), "%s", d->db->sqlstate);
		return rc;
	}
	rc = drain_pending_end(d);
	if (rc >= 0)
		rc = d->m->finish(d, alarms, &dead);
	if (rc == 1)
		drain_committed(d, d->recs[d->nrecs - 1].lsn, d->nrecs, alarms, dead);
	return rc < 0 ? rc : 0;
}

/* A batch failed (d->failed_*): when the database refused its DATA (rc_pgdb_data_error),
 * for the dead_letter_after-th time in a row, or again while isolating, narrow it down:
 * the next batches take half as many records, down to one; a single record refused is
 * the one: it goes to drain_dead_letters with the server's error (poison_lsn), and the
 * drain goes on. Retries while isolating are not backed off (retry_now). */
static void
drain_isolate(struct rc_drainer *d, int rc)
{
	if (d->failed_first == 0 || rc == -ESTALE || rc == -ECONNRESET ||
	    !rc_pgdb_data_error(d->failed_state))
		return;
	if (d->fail_lsn == d->failed_first) {
		d->fail_n++;
	} else {
		d->fail_lsn = d->failed_first;
		d->fail_n = 1;
	}
	if (d->fail_n < d->conf.dead_letter_after && d->limit == 0)
		return;
	d->retry_now = true;
	if (d->failed_n <= 1) {
		d->poison_lsn = d->failed_first;
		snprintf(d->poison_err, sizeof(d->poison_err), "refused by the database: %s",
			 d->db->err);
		snprintf(d->poison_state, sizeof(d->poison_state), "%s", d->failed_state);
		d->limit = 1;
		return;
	}
	d->limit = (d->failed_n + 1) / 2;
}

/* One batch: the records sent to the database; when there is nothing new, the records of
 * the pending batch, waited for (0: nothing to do); or -errno (connections closed). */
static int
drain_batch(struct rc_drainer *d)
{
	uint64_t from = RTE_MAX(d->drained, rc_wal_drained_lsn(d->wal));
	int rc;

	if (d->pend.pl.db != NULL)
		from = RTE_MAX(from, d->pend.lsn);
	rc = drain_read(d, from + 1, d->m->first_read != 0 ? d->m->first_read : d->conf.batch_max);
	if (rc < 0) {
		st_error(d, "reading the WAL: ", strerror(-rc));
		return rc;
	}
	if (rc == 0) {
		rc = drain_pending_end(d);
		if (rc < 0)
			goto out_fail;
		return rc;
	}
	drain_batch_begin(d);
	rc = drain_resolve(d, 0);
	if (rc != 0) {
		st_error(d, "resolving room names: ", strerror(-rc));
		return rc;
	}
	d->failed_first = 0;
	d->conns[0].sqlstate[0] = d->conns[1].sqlstate[0] = '\0';
	rc = drain_txn(d);
	if (rc != 0)
		goto out_fail;
	return (int)d->nrecs;
out_fail:
	if (d->failed_first == 0 && d->nrecs > 0) { /* this batch failed (not the pending) */
		d->failed_first = d->recs[0].lsn;
		d->failed_n = d->nrecs;
	}
	drain_isolate(d, rc);
	st_error(d, rc == -ESTALE ? "stale epoch: fenced: " : "drain: ", d->db->err);
	drain_disconnect(d);
	return rc;
}

/* ---- cleanup ---- */

/* One chunk of the pending cleanup, if any. */
static int
drain_cleanup_chunk(struct rc_drainer *d)
{
	uint64_t cutoff = atomic_load(&d->cleanup_cutoff_ms), n = 0;
	int rc;

	if (cutoff == 0)
		return 0;
	rc = drain_pending_end(d); /* what was sent before the request is in, and cleaned */
	if (rc < 0) {
		st_error(d, "drain: ", d->db->err);
		drain_disconnect(d);
		return rc;
	}
	rc = drain_db_cleanup(d, cutoff, &n);
	if (rc != 0) {
		st_error(d, "cleanup: ", d->db->err);
		drain_disconnect(d);
		return rc;
	}
	pthread_mutex_lock(&d->lock);
	d->st.cleanup_deleted += n;
	if (n < DRAIN_CLEANUP_CHUNK)
		d->st.cleanup_runs++;
	pthread_mutex_unlock(&d->lock);
	if (n < DRAIN_CLEANUP_CHUNK) /* done, unless a newer request came meanwhile */
		atomic_compare_exchange_strong(&d->cleanup_cutoff_ms, &cutoff, 0);
	return (int)n;
}

void
rc_drainer_request_cleanup(struct rc_drainer *d, unsigned days)
{
	uint64_t now = rc_wall_ms(), age = (uint64_t)days * 86400000u;

	atomic_store(&d->cleanup_cutoff_ms, now > age ? now - age : 1);
}

/* ---- the thread ---- */

void
rc_drainer_fault_hold(struct rc_drainer *d, bool on)
{
	atomic_store(&d->fault_hold, on);
}

static void
drain_backoff(struct rc_drainer *d, int rc)
{
	unsigned wait = rc == -EPROTO ? d->conf.retry_max_ms : d->backoff_ms;

	if (d->retry_now) { /* isolating a refused record: each try narrows it down */
		d->retry_now = false;
		d->retry_at_ms = rc_mono_ms_precise();
		return;
	}
	d->retry_at_ms = rc_mono_ms_precise() + wait;
	d->backoff_ms = RTE_MIN(d->backoff_ms * 2, d->conf.retry_max_ms);
}

/* One round of the loop: connect, or a batch and a cleanup chunk. Returns how long to
 * sleep, in ms. After a failure nothing is tried before retry_at_ms. */
static uint64_t
drain_round(struct rc_drainer *d)
{
	uint64_t now = rc_mono_ms_precise();
	int rc = 0, n;

	if (now < d->retry_at_ms)
		return d->retry_at_ms - now;
	if (!d->ready)
		rc = drain_connect(d);
	n = rc == 0 ? drain_batch(d) : rc;
	if (n >= 0)
		rc = drain_cleanup_chunk(d);
	if (n < 0 || rc < 0) {
		drain_backoff(d, n < 0 ? n : rc);
		return d->retry_at_ms - now;
	}
	if (n > 0)
		d->backoff_ms = d->conf.retry_min_ms;
	return n == 0 && rc == 0 ? d->conf.idle_ms : 0;
}

static void *
drain_main(void *arg)
{
	struct rc_drainer *d = arg;

	while (!drain_stopping(d))
		drain_sleep_ms(d, drain_round(d));
	if (drain_pending_end(d) < 0)
		st_error(d, "drain: ", d->db->err);
	drain_disconnect(d);
	return NULL;
}

int
rc_drainer_start(struct rc_drainer *d)
{
	int rc;

	if (d->running)
		return -EALREADY;
	atomic_store(&d->stopping, false);
	rc = rte_ctrl_thread_create(&d->thread, "rc-drain", NULL, drain_main, d);
	if (rc != 0)
		return rc < 0 ? rc : -rc;
	d->running = true;
	return 0;
}

void
rc_drainer_stop(struct rc_drainer *d)
{
	if (d == NULL || !d->running)
		return;
	atomic_store_explicit(&d->stopping, true, memory_order_release);
	pthread_join(d->thread, NULL);
	d->running = false;
}

/* ---- synchronous use ---- */

int
rc_drainer_drain_now(struct rc_drainer *d)
{
	uint64_t target = rc_wal_last_lsn(d->wal), before;
	int n, rc;

	if (d->running)
		return -EBUSY;
	if (!d->ready && (rc = drain_connect(d)) != 0)
		return rc;
	pthread_mutex_lock(&d->lock);
	before = d->st.drained;
	pthread_mutex_unlock(&d->lock);
	do {
		n = drain_batch(d);
		if (n < 0)
			return n;
	} while (n > 0 && d->drained < target);
	n = drain_pending_end(d); /* a batch sent past the target */
	if (n < 0) {
		st_error(d, "drain: ", d->db->err);
		drain_disconnect(d);
		return n;
	}
	while ((rc = drain_cleanup_chunk(d)) > 0 && atomic_load(&d->cleanup_cutoff_ms) != 0)
		;
	pthread_mutex_lock(&d->lock);
	n = (int)(d->st.drained - before);
	pthread_mutex_unlock(&d->lock);
	return rc < 0 ? rc : n;
}

/* ---- lifecycle ---- */

static void
drain_conf_defaults(struct rc_drainer_conf *c)
{
	if (c->batch_max == 0)
		c->batch_max = 2000;
	if (c->retry_min_ms == 0)
		c->retry_min_ms = 100;
	if (c->retry_max_ms < c->retry_min_ms)
		c->retry_max_ms = c->retry_min_ms > 5000 ? c->retry_min_ms : 5000;
	if (c->idle_ms == 0)
		c->idle_ms = 5;
	if (c->dead_letter_after == 0)
		c->dead_letter_after = 3;
}

struct rc_drainer *
rc_drainer_create(struct rc_wal *w, const struct rc_drainer_conf *c)
{
	struct rc_drainer *d;

	if (w == NULL || c == NULL || c->conninfo == NULL || c->node_id == NULL ||
	    (unsigned)c->method >= RTE_DIM(drain_methods)) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->wal = w;
	d->m = drain_methods[c->method];
	d->db = &d->conns[0];
	d->conf = *c;
	drain_conf_defaults(&d->conf);
	d->backoff_ms = d->conf.retry_min_ms;
	pthread_mutex_init(&d->lock, NULL);
	d->conninfo = strdup(c->conninfo);
	d->node_id = strdup(c->node_id);
	d->recs = calloc(d->conf.batch_max, sizeof(*d->recs));
	d->brooms = calloc(d->conf.batch_max, sizeof(*d->brooms));
	if (d->conninfo == NULL || d->node_id == NULL || d->recs == NULL || d->brooms == NULL ||
	    drain_rooms_grow(&d->rooms) != 0 || d->m->setup(d) != 0) {
		rc_drainer_destroy(d);
		errno = ENOMEM;
		return NULL;
	}
	d->conf.conninfo = d->conninfo;
	d->conf.node_id = d->node_id;
	/* the scope cut to 36 bytes ("rooms:" + 30 of the node id), as rc_lease_end_writers
	 * compares it: the name fits application_name's 63 bytes whatever the epoch */
	snprintf(d->appname, sizeof(d->appname), DRAIN_APPNAME " rooms:%.30s e%" PRIu64,
		 d->node_id, d->conf.epoch);
	return d;
}

void
rc_drainer_destroy(struct rc_drainer *d)
{
	if (d == NULL)
		return;
	rc_drainer_stop(d);
	for (unsigned k = 0; k < RTE_DIM(d->conns); k++) {
		rc_pgdb_close(&d->conns[k]);
		explicit_bzero(d->conns[k].conninfo, sizeof(d->conns[k].conninfo));
	}
	if (d->conninfo != NULL)
		explicit_bzero(d->conninfo, strlen(d->conninfo));
	free(d->conninfo);
	free(d->node_id);
	free(d->recs);
	free(d->brooms);
	free(d->pipe.tags);
	free(d->pend.pl.tags);
	free(d->pipe.missed);
	drain_rooms_free(&d->rooms);
	drain_sb_free(&d->copy);
	for (unsigned k = 0; k < 4; k++)
		drain_sb_free(&d->a[k]);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

void
rc_drainer_get_stats(struct rc_drainer *d, struct rc_drainer_stats *st)
{
	pthread_mutex_lock(&d->lock);
	*st = d->st;
	pthread_mutex_unlock(&d->lock);
}
