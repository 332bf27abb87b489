/* SPDX-License-Identifier: MIT */
/*
 * Deleted rooms in the write-ahead buffer (wal_format.h, "A deleted room is a tombstone"):
 * the tombstone byte of a room's "seqs" value that refuses its messages, and the purge of
 * what is left of a tombstoned room when its id is created again.
 *
 * Threads: the writing functions run in a write transaction of the writing thread (or of
 * the replication thread, under w->wlock); wal_room_gone() in any transaction.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>

#include "wal_impl.h"

int
wal_seqs_get(struct rc_wal *w, MDB_txn *txn, uint32_t room_id, uint64_t *last, bool *deleted)
{
	uint8_t kbuf[RC_WAL_ROOM_KEY_LEN];
	MDB_val key = { .mv_size = rc_wal_room_key(kbuf, room_id), .mv_data = kbuf }, val;
	int rc = mdb_get(txn, w->seqs, &key, &val);

	*last = 0;
	*deleted = false;
	if (rc != 0)
		return wal_err(rc);
	return rc_wal_seqs_decode(val.mv_data, val.mv_size, last, deleted) ? 0 : -EIO;
}

int
wal_seqs_put(struct rc_wal *w, MDB_txn *txn, uint32_t room_id, uint64_t last, bool deleted)
{
	uint8_t kbuf[RC_WAL_ROOM_KEY_LEN], vbuf[RC_WAL_SEQS_TOMB_LEN];
	MDB_val key = { .mv_size = rc_wal_room_key(kbuf, room_id), .mv_data = kbuf };
	MDB_val val = { .mv_size = deleted ? RC_WAL_SEQS_TOMB_LEN : RC_WAL_U64_LEN,
			.mv_data = vbuf };

	rc_put_be64(vbuf, last);
	vbuf[RC_WAL_U64_LEN] = 1;
	return wal_err(mdb_put(txn, w->seqs, &key, &val, 0));
}

bool
wal_room_gone(struct rc_wal *w, MDB_txn *txn, uint32_t room_id)
{
	uint64_t last;
	bool deleted;

	return wal_seqs_get(w, txn, room_id, &last, &deleted) == 0 && deleted;
}

int
wal_room_get(struct rc_wal *w, MDB_txn *txn, uint32_t room_id, struct rc_wal_room *r,
	     char name[RC_MAX_ROOM + 1], char creator[RC_MAX_USER + 1])
{
	uint8_t kbuf[RC_WAL_ROOM_KEY_LEN];
	MDB_val key = { .mv_size = rc_wal_room_key(kbuf, room_id), .mv_data = kbuf }, val;
	int rc = mdb_get(txn, w->rooms, &key, &val);

	if (rc != 0)
		return wal_err(rc);
	return rc_wal_room_decode(key.mv_data, key.mv_size, val.mv_data, val.mv_size, r, name,
				  creator);
}

/* Sets or clears the tombstone byte of room_id's "seqs" value. */
static int
wal_tomb_set(struct rc_wal *w, MDB_txn *txn, uint32_t room_id, bool deleted)
{
	uint64_t last;
	bool was;
	int rc = wal_seqs_get(w, txn, room_id, &last, &was);

	if (rc == -ENOENT || rc == -EIO)
		rc = 0; /* no message yet (or a malformed value: replaced) */
	if (rc == 0 && was != deleted)
		rc = wal_seqs_put(w, txn, room_id, last, deleted);
	return rc;
}

int
wal_tomb_mark(struct rc_wal *w, struct wal_txn *t, uint32_t room_id)
{
	int rc = wal_seqs_flush(w, t); /* this batch's messages before the mark */

	return rc == 0 ? wal_tomb_set(w, t->txn, room_id, true) : rc;
}

int
wal_tomb_unmark(struct rc_wal *w, MDB_txn *txn, uint32_t room_id)
{
	return wal_tomb_set(w, txn, room_id, false);
}

int
wal_drop_room_keys(MDB_txn *txn, MDB_dbi dbi, uint32_t room_id, uint64_t to)
{
	uint8_t kbuf[RC_WAL_MSG_KEY_LEN];
	MDB_val key, val;
	MDB_cursor *cur;
	uint32_t id;
	int rc = mdb_cursor_open(txn, dbi, &cur);

	if (rc != 0)
		return wal_err(rc);
	for (;;) {
		key = (MDB_val){ .mv_size = rc_wal_msg_key(kbuf, room_id, 0), .mv_data = kbuf };
		rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
		if (rc != 0 || !rc_wal_msg_key_room(key.mv_data, key.mv_size, &id) ||
		    id != room_id || rc_get_be64((const uint8_t *)key.mv_data + 4) > to)
			break;
		rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : wal_err(rc);
}

/* Deletes room_id's log entries up to LSN upto (the untrimmed part of the log: the writer
 * trimmed past it already and finds none). An entry above the drained marker leaves the
 * backlog with it. */
static int
wal_drop_room_log(struct rc_wal *w, struct wal_txn *t, uint32_t room_id, uint64_t upto)
{
	struct rc_wal_logent e;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, w->log, &cur);

	if (rc != 0)
		return wal_err(rc);
	rc = wal_log_get(cur, MDB_FIRST, 0, &e);
	while (rc == 0 && e.lsn <= upto) {
		if (e.room_id != room_id) {
			rc = wal_log_get(cur, MDB_NEXT, 0, &e);
			continue;
		}
		rc = wal_err(mdb_cursor_del(cur, 0));
		if (rc != 0)
			break;
		if (e.lsn > t->drained)
			t->drained_bytes += e.value_len;
		t->dirty = true;
		rc = wal_log_get(cur, MDB_SET_RANGE, e.lsn + 1, &e);
	}
	mdb_cursor_close(cur);
	return rc == -ENOENT ? 0 : rc;
}

int
wal_room_purge(struct rc_wal *w, struct wal_txn *t, uint32_t room_id, uint64_t upto)
{
	uint8_t kbuf[RC_WAL_ROOM_KEY_LEN];
	MDB_val key = { .mv_size = rc_wal_room_key(kbuf, room_id), .mv_data = kbuf };
	int rc = wal_seqs_flush(w, t);

	if (rc == 0)
		rc = wal_drop_room_log(w, t, room_id, upto);
	if (rc == 0)
		rc = wal_drop_room_keys(t->txn, w->msgs, room_id, UINT64_MAX);
	if (rc == 0)
		rc = wal_dkeys_drop_room(w, t->txn, room_id);
	if (rc == 0) {
		rc = mdb_del(t->txn, w->seqs, &key, NULL);
		rc = rc == MDB_NOTFOUND ? 0 : wal_err(rc);
	}
	t->dirty = true;
	return rc;
}
