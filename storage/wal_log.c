/* SPDX-License-Identifier: MIT */
/*
 * The commit log of the write-ahead buffer: LSNs, reading the log, the drained marker,
 * trimming and backlog accounting.
 *
 * A stored record gets the next LSN in the transaction that stores it (a record refused
 * with -EEXIST or -EINVAL gets none); "meta" keeps the last LSN given, so none is reused,
 * even once the log has been trimmed empty. The drained marker: rc_wal_set_drained()
 * raises an atomic (clamped to the LSNs a reader can have seen); the writing thread
 * persists it in its next transaction, passing at most WAL_DRAIN_STEP log entries per
 * transaction (their bytes leave the backlog), then trims at most WAL_TRIM_CHUNK drained
 * records older than the newest keep_records (a batch's transaction trims at most
 * max(WAL_TRIM_BUSY_MIN, its records)): a message's "msgs" and "log" entries; a room's
 * "log" entry (trimming on) as soon as the marker passes it, its "rooms" entry never.
 * "seqs" keeps every room's last seq for rc_wal_load_rooms().
 *
 * Threads: the writing functions (wal_log_append, wal_drain_advance, wal_trim,
 * wal_log_state_load) run in the writing thread's transaction; rc_wal_set_drained(),
 * rc_wal_drained_lsn() and rc_wal_last_lsn() are atomics, any thread; rc_wal_log_read()
 * is a read transaction, any thread but a worker lcore.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <rte_common.h>

#include "wal_impl.h"

#define WAL_DRAIN_STEP 4096u /* log entries the persisted marker passes per txn */

/* ---- "meta" and the log's entries ---- */

/* A counter of "meta"; a missing one reads 0. */
int
wal_meta_get(struct rc_wal *w, MDB_txn *txn, const char *name, uint64_t *v)
{
	int rc = wal_get_u64(txn, w->meta, name, strlen(name), v);

	if (rc == -ENOENT) {
		*v = 0;
		return 0;
	}
	return rc;
}

int
wal_meta_put(struct rc_wal *w, MDB_txn *txn, const char *name, uint64_t v)
{
	return wal_put_u64(txn, w->meta, name, strlen(name), v);
}

/* The log entry cur lands on with op (MDB_SET_RANGE: the first with an LSN >= lsn).
 * 0, -ENOENT past the end, -EIO for a malformed entry, or -errno. */
int
wal_log_get(MDB_cursor *cur, MDB_cursor_op op, uint64_t lsn, struct rc_wal_logent *e)
{
	uint8_t kbuf[RC_WAL_LOG_KEY_LEN];
	MDB_val key = { .mv_size = rc_wal_log_key(kbuf, lsn), .mv_data = kbuf }, val;
	int rc = mdb_cursor_get(cur, &key, &val, op);

	if (rc != 0)
		return wal_err(rc);
	return rc_wal_log_decode(key.mv_data, key.mv_size, val.mv_data, val.mv_size, e);
}

/* The drained LSN the writer may persist: the drainer's, never above what is committed. */
uint64_t
wal_drain_target(const struct rc_wal *w)
{
	return RTE_MIN(wal_load(&w->drain_req), wal_load(&w->last_lsn));
}

/* HA: while this node writes the log (writer start set), log entries above what the peer
 * acknowledged stay, so that the stream can send them once it is back; at most
 * peer_keep_records of them. UINT64_MAX: no hold. */
static uint64_t
wal_peer_hold(const struct rc_wal *w, uint64_t last)
{
	uint64_t floor;

	if (w->peer_keep_records == 0 || wal_load(&w->writer_start) == 0)
		return UINT64_MAX;
	floor = last > w->peer_keep_records ? last - w->peer_keep_records : 0;
	return RTE_MAX(rc_wal_peer_acked_lsn(w), floor);
}

/* Messages with an LSN up to this may go: drained, older than the keep window, and held
 * for the peer no longer. */
uint64_t
wal_trim_target(const struct rc_wal *w, uint64_t drained, uint64_t last)
{
	if (w->keep_records == 0 || last <= w->keep_records)
		return 0;
	return RTE_MIN(RTE_MIN(drained, last - w->keep_records), wal_peer_hold(w, last));
}

/* ---- writing the log: new entries, the drained marker, trimming ---- */

/* Appends the next LSN's log entry. */
int
wal_log_append(struct rc_wal *w, struct wal_txn *t, uint8_t kind, uint32_t room_id,
	       uint64_t seq, size_t value_len)
{
	struct rc_wal_logent e = { .lsn = t->lsn + 1, .kind = kind, .room_id = room_id,
				   .seq = seq, .value_len = (uint32_t)value_len };
	uint8_t kbuf[RC_WAL_LOG_KEY_LEN], vbuf[RC_WAL_LOG_VAL_LEN];
	MDB_val key = { .mv_size = rc_wal_log_key(kbuf, e.lsn), .mv_data = kbuf };
	MDB_val val = { .mv_size = rc_wal_log_val(vbuf, &e), .mv_data = vbuf };
	int rc = mdb_put(t->txn, w->log, &key, &val, MDB_APPEND);

	if (rc == MDB_KEYEXIST)
		return -EIO; /* not above the log's last LSN: "meta" and "log" disagree */
	if (rc != 0)
		return wal_err(rc);
	t->lsn = e.lsn;
	t->dirty = true;
	return 0;
}

/* Moves the persisted drained marker towards the drainer's over at most WAL_DRAIN_STEP log
 * entries, taking their bytes off the backlog; with trimming on, a room's log entry goes
 * as the marker passes it. */
int
wal_drain_advance(struct rc_wal *w, struct wal_txn *t)
{
	uint64_t target = wal_drain_target(w);
	struct rc_wal_logent e;
	MDB_cursor *cur;
	unsigned steps;
	int rc;

	if (target <= t->drained)
		return 0;
	rc = mdb_cursor_open(t->txn, w->log, &cur);
	if (rc != 0)
		return wal_err(rc);
	rc = wal_log_get(cur, MDB_SET_RANGE, t->drained + 1, &e);
	for (steps = 0; rc == 0 && e.lsn <= target && steps < WAL_DRAIN_STEP; steps++) {
		t->drained_bytes += e.value_len;
		t->drained = e.lsn;
		if (e.kind == RC_WAL_ROOM && w->keep_records != 0 &&
		    e.lsn <= wal_peer_hold(w, t->lsn)) {
			rc = wal_err(mdb_cursor_del(cur, 0));
			if (rc == 0)
				rc = wal_log_get(cur, MDB_SET_RANGE, e.lsn + 1, &e);
		} else {
			rc = wal_log_get(cur, MDB_NEXT, 0, &e);
		}
	}
	mdb_cursor_close(cur);
	if (rc == -ENOENT || (rc == 0 && e.lsn > target)) {
		t->drained = target; /* nothing left below it */
		rc = 0;
	}
	if (rc == 0) {
		t->dirty = true;
		rc = wal_meta_put(w, t->txn, RC_WAL_DRAINED_KEY, t->drained);
	}
	return rc;
}

/* Deletes the record of log entry e (cur is on it): a message's "msgs" and log entries, a
 * room's log entry. (A message's re-sent POST key stays in "dkeys": wal_dkeys.c.) */
static int
wal_trim_one(struct rc_wal *w, struct wal_txn *t, MDB_cursor *cur,
	     const struct rc_wal_logent *e)
{
	int rc;

	if (e->kind == RC_WAL_MSG) {
		uint8_t kbuf[RC_WAL_MSG_KEY_LEN];
		MDB_val key = { .mv_size = rc_wal_msg_key(kbuf, e->room_id, e->seq),
				.mv_data = kbuf };

		rc = mdb_del(t->txn, w->msgs, &key, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return wal_err(rc);
		t->trimmed += rc == 0;
	}
	rc = mdb_cursor_del(cur, 0);
	if (rc != 0)
		return wal_err(rc);
	if (w->peer_keep_records != 0 && wal_load(&w->writer_start) != 0 &&
	    e->lsn > rc_wal_peer_acked_lsn(w))
		t->peer_trimmed++;
	t->trim_to = e->lsn;
	t->dirty = true;
	return 0;
}

/* Trims at most budget records, oldest first, up to the trim target. */
int
wal_trim(struct rc_wal *w, struct wal_txn *t, unsigned budget)
{
	uint64_t target = wal_trim_target(w, t->drained, t->lsn);
	struct rc_wal_logent e;
	MDB_cursor *cur;
	int rc;

	if (budget == 0 || target <= t->trim_to)
		return 0;
	rc = mdb_cursor_open(t->txn, w->log, &cur);
	if (rc != 0)
		return wal_err(rc);
	for (unsigned done = 0;; done++) {
		rc = wal_log_get(cur, MDB_SET_RANGE, t->trim_to + 1, &e);
		if (rc == -ENOENT || (rc == 0 && e.lsn > target)) {
			t->trim_to = target;
			rc = 0;
			break;
		}
		if (rc != 0 || done == budget)
			break;
		rc = wal_trim_one(w, t, cur, &e);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc;
}

/* ---- the drained marker ---- */

void
rc_wal_set_drained(struct rc_wal *w, uint64_t lsn)
{
	uint64_t cur = wal_load(&w->drain_req);

	lsn = RTE_MIN(lsn, wal_load(&w->lsn_hi));
	while (lsn > cur && !atomic_compare_exchange_weak_explicit(&w->drain_req, &cur, lsn,
								     memory_order_acq_rel,
								     memory_order_acquire))
		;
	rc_bell_ring(&w->bell); /* a marker to persist, records to trim */
}

uint64_t
rc_wal_drained_lsn(const struct rc_wal *w)
{
	/* drain_req itself, not clamped by last_lsn: last_lsn is published after the commit,
	 * so a drainer may already have read (and drained) records beyond it */
	return RTE_MAX(wal_load(&w->drained), wal_load(&w->drain_req));
}

uint64_t
rc_wal_last_lsn(const struct rc_wal *w)
{
	return wal_load(&w->last_lsn);
}

uint64_t
rc_wal_trimmed_lsn(const struct rc_wal *w)
{
	return wal_load(&w->trimmed_lsn);
}

/* ---- reading the log ---- */

/* The full record of log entry e, from its "msgs" or "rooms" entry in txn; a room's strings
 * are copied into name and creator. */
static int
wal_logrec_fill(struct rc_wal *w, MDB_txn *txn, const struct rc_wal_logent *e,
		struct rc_wal_logrec *lr, char name[RC_MAX_ROOM + 1],
		char creator[RC_MAX_USER + 1])
{
	bool msg = e->kind == RC_WAL_MSG;
	uint8_t kbuf[RC_WAL_MSG_KEY_LEN];
	MDB_val key = { .mv_size = msg ? rc_wal_msg_key(kbuf, e->room_id, e->seq) :
					 rc_wal_room_key(kbuf, e->room_id),
			.mv_data = kbuf };
	MDB_val val;
	struct rc_wal_room r;
	struct rc_wal_msg m;
	int rc;

	*lr = (struct rc_wal_logrec){ .lsn = e->lsn, .kind = e->kind, .room_id = e->room_id,
				      .seq = e->seq, .value_len = e->value_len };
	rc = mdb_get(txn, msg ? w->msgs : w->rooms, &key, &val);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? -EIO : wal_err(rc); /* a log entry without its record */
	if (msg) {
		rc = rc_wal_msg_decode(key.mv_data, key.mv_size, val.mv_data, val.mv_size, &m);
		lr->ts_ms = m.ts_ms;
		lr->cmid = m.cmid;
		lr->user = m.user;
		lr->body = m.body;
		return rc;
	}
	rc = rc_wal_room_decode(key.mv_data, key.mv_size, val.mv_data, val.mv_size, &r, name,
				creator);
	lr->ts_ms = r.created_ms;
	/* the room as it is now, but deleted only in the tombstone's own entry: the entries
	 * before it (its creation, state changes) describe a room its messages belonged to */
	lr->cmid = e->lsn == r.deleted_lsn ? r.flags : r.flags & ~RC_WAL_ROOM_DELETED;
	/* the stored lengths, not strlen: a NUL inside must reach the checks (wal_valid.h) */
	lr->user = (struct rc_str){ .p = creator, .len = r.creator_len };
	lr->body = (struct rc_str){ .p = name, .len = r.name_len };
	return rc;
}

int
rc_wal_log_read(struct rc_wal *w, uint64_t from_lsn, unsigned max,
		int (*cb)(void *arg, const struct rc_wal_logrec *r), void *arg)
{
	char name[RC_MAX_ROOM + 1], creator[RC_MAX_USER + 1];
	struct rc_wal_logrec lr;
	struct rc_wal_logent e;
	MDB_cursor *cur;
	MDB_txn *txn;
	unsigned n = 0;
	int rc;

	if (max == 0)
		return 0;
	rc = wal_read_begin(w, w->log, &txn, &cur);
	if (rc != 0)
		return rc;
	rc = wal_log_get(cur, MDB_SET_RANGE, from_lsn, &e);
	while (rc == 0) {
		rc = wal_logrec_fill(w, txn, &e, &lr, name, creator);
		if (rc != 0 || cb(arg, &lr) != 0 || ++n == max)
			break;
		rc = wal_log_get(cur, MDB_NEXT, 0, &e);
	}
	wal_read_end(txn, cur);
	if (rc != 0 && rc != -ENOENT)
		return rc;
	return (int)RTE_MIN(n, (unsigned)INT32_MAX);
}

/* ts_ms of the first record with an LSN above drained (0 if none). */
uint64_t
wal_oldest_undrained(struct rc_wal *w, MDB_txn *txn, uint64_t drained)
{
	char name[RC_MAX_ROOM + 1], creator[RC_MAX_USER + 1];
	struct rc_wal_logrec lr;
	struct rc_wal_logent e;
	MDB_cursor *cur;
	uint64_t ts = 0;

	if (mdb_cursor_open(txn, w->log, &cur) != 0)
		return 0;
	if (wal_log_get(cur, MDB_SET_RANGE, drained + 1, &e) == 0 &&
	    wal_logrec_fill(w, txn, &e, &lr, name, creator) == 0)
		ts = lr.ts_ms;
	mdb_cursor_close(cur);
	return ts;
}

/* ---- at open: the log's state ---- */

/* Value bytes of the log entries from LSN `from` on. */
int
wal_log_sum(MDB_cursor *cur, uint64_t from, uint64_t *bytes)
{
	struct rc_wal_logent e;
	int rc;

	*bytes = 0;
	for (rc = wal_log_get(cur, MDB_SET_RANGE, from, &e); rc == 0;
	     rc = wal_log_get(cur, MDB_NEXT, 0, &e))
		*bytes += e.value_len;
	return rc == -ENOENT ? 0 : rc;
}

/* Reads the commit log's state in txn (cur on "log"): last LSN, drained marker, backlog
 * bytes, and the first LSN still in the log. */
static int
wal_state_read(struct rc_wal *w, MDB_txn *txn, MDB_cursor *cur, uint64_t v[4])
{
	uint64_t *last = &v[0], *drained = &v[1], *bytes = &v[2], *first = &v[3];
	struct rc_wal_logent e;
	int rc;

	rc = wal_meta_get(w, txn, RC_WAL_LAST_LSN_KEY, last);
	if (rc == 0)
		rc = wal_meta_get(w, txn, RC_WAL_DRAINED_KEY, drained);
	if (rc == 0 && (rc = wal_log_get(cur, MDB_LAST, 0, &e)) == 0)
		*last = RTE_MAX(*last, e.lsn);
	if (rc == 0 || rc == -ENOENT)
		rc = wal_log_get(cur, MDB_FIRST, 0, &e);
	if (rc != 0 && rc != -ENOENT)
		return rc;
	*first = rc == 0 ? e.lsn : *last + 1;
	*drained = RTE_MIN(*drained, *last);
	return wal_log_sum(cur, *drained + 1, bytes);
}

/* Loads the log's state into w: last LSN, drained marker, backlog bytes, trim point. */
int
wal_log_state_load(struct rc_wal *w)
{
	uint64_t v[4] = { 0 }; /* last, drained, bytes, first */
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc;

	rc = wal_read_begin(w, w->log, &txn, &cur);
	if (rc == 0) {
		rc = wal_state_read(w, txn, cur, v);
		wal_read_end(txn, cur);
	}
	if (rc != 0)
		return rc;
	wal_store(&w->last_lsn, v[0]);
	wal_store(&w->lsn_hi, v[0]);
	wal_store(&w->drained, v[1]);
	wal_store(&w->drain_req, v[1]);
	wal_store(&w->backlog_bytes, v[2]);
	wal_set_trim_to(w, v[3] - 1);
	return 0;
}
