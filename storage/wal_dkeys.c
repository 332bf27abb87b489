/* SPDX-License-Identifier: MIT */
/*
 * The re-sent POST keys of the write-ahead buffer ("dkeys"): for each room, the (cmid,
 * user) of its last keep_per_room messages, keyed (room_id, seq) like "msgs" but without
 * the bodies (about 80 bytes an entry). The rooms' re-sent POST windows (dataplane/dedup.h)
 * are rebuilt from them after a restart or a takeover (rc_wal_read_dkeys), whatever the
 * trim did to the messages themselves: trimming stays the drain's business (wal_log.c).
 *
 * Kept in step with "msgs" in the same transactions: a stored or applied message adds its
 * key and drops the room's keys that left the window (usually one); a truncation drops the
 * keys of the messages it removes, a removed room all of its keys. Storage is bounded by
 * rooms x keep_per_room entries.
 *
 * Threads: the writing functions run in a write transaction of the writing thread (or of
 * the replication thread, under w->wlock); rc_wal_read_dkeys is a read transaction, any
 * thread but a worker lcore.
 */
#include <errno.h>
#include <lmdb.h>
#include <string.h>

#include "bytes.h"
#include "wal_impl.h"

#define DKEY_VAL_MAX (8 + 1 + RC_MAX_USER)

/* Drops room_id's keys with a seq <= to (those that left the window). */
static int
dkeys_drop_upto(struct rc_wal *w, MDB_txn *txn, uint32_t room_id, uint64_t to)
{
	return wal_drop_room_keys(txn, w->dkeys, room_id, to);
}

int
wal_dkey_put(struct rc_wal *w, MDB_txn *txn, const struct rc_wal_rec *r)
{
	uint8_t kbuf[RC_WAL_MSG_KEY_LEN], vbuf[DKEY_VAL_MAX];
	MDB_val key = { .mv_size = rc_wal_msg_key(kbuf, r->room_id, r->seq), .mv_data = kbuf };
	MDB_val val = { .mv_size = 9 + (size_t)r->user_len, .mv_data = vbuf };
	int rc;

	if (w->keep_per_room == 0 || r->kind != RC_WAL_MSG)
		return 0;
	rc_put_be64(vbuf, r->cmid);
	vbuf[8] = r->user_len;
	memcpy(vbuf + 9, r->user, r->user_len);
	rc = wal_err(mdb_put(txn, w->dkeys, &key, &val, 0));
	if (rc == 0 && r->seq > w->keep_per_room)
		rc = dkeys_drop_upto(w, txn, r->room_id, r->seq - w->keep_per_room);
	return rc;
}

int
wal_dkey_del(struct rc_wal *w, MDB_txn *txn, uint32_t room_id, uint64_t seq)
{
	uint8_t kbuf[RC_WAL_MSG_KEY_LEN];
	MDB_val key = { .mv_size = rc_wal_msg_key(kbuf, room_id, seq), .mv_data = kbuf };
	int rc = mdb_del(txn, w->dkeys, &key, NULL);

	return rc == MDB_NOTFOUND ? 0 : wal_err(rc);
}

int
wal_dkeys_drop_room(struct rc_wal *w, MDB_txn *txn, uint32_t room_id)
{
	return dkeys_drop_upto(w, txn, room_id, UINT64_MAX);
}

/* Fills "dkeys" from "msgs" (a buffer written before it existed): each room's last
 * keep_per_room messages still stored. */
int
wal_dkeys_backfill(struct rc_wal *w, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val key, val;
	int rc;

	if (w->keep_per_room == 0)
		return 0;
	rc = mdb_cursor_open(txn, w->msgs, &cur);
	if (rc != 0)
		return wal_err(rc);
	for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		struct rc_wal_msg m;
		struct rc_wal_rec r;
		int e = rc_wal_msg_decode(key.mv_data, key.mv_size, val.mv_data, val.mv_size, &m);

		if (e != 0)
			continue; /* a malformed message has no key to remember */
		r.kind = RC_WAL_MSG;
		r.room_id = m.room_id;
		r.seq = m.seq;
		r.cmid = m.cmid;
		r.user_len = (uint8_t)m.user.len;
		memcpy(r.user, m.user.p, m.user.len);
		e = wal_dkey_put(w, txn, &r);
		if (e != 0) {
			mdb_cursor_close(cur);
			return e;
		}
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : wal_err(rc);
}

int
rc_wal_read_dkeys(struct rc_wal *w, uint32_t room_id,
		  int (*cb)(void *arg, uint64_t seq, uint64_t cmid, const char *user,
			    unsigned user_len),
		  void *arg)
{
	uint8_t kbuf[RC_WAL_MSG_KEY_LEN];
	MDB_val key = { .mv_size = rc_wal_msg_key(kbuf, room_id, 0), .mv_data = kbuf }, val;
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc, n = 0;

	rc = wal_read_begin(w, w->dkeys, &txn, &cur);
	if (rc != 0)
		return rc;
	/* a deleted room's keys stay until its id is created again: not served */
	for (rc = wal_room_gone(w, txn, room_id) ? MDB_NOTFOUND :
						   mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	     rc == 0;
	     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		const uint8_t *v = val.mv_data;

		if (key.mv_size != RC_WAL_MSG_KEY_LEN || rc_get_be32(key.mv_data) != room_id)
			break;
		if (val.mv_size < 9 || val.mv_size != 9 + (size_t)v[8] || v[8] > RC_MAX_USER)
			continue; /* malformed: skipped */
		n++;
		if (cb(arg, rc_get_be64((const uint8_t *)key.mv_data + 4),
		       rc_get_be64(v), (const char *)v + 9, v[8]) != 0)
			break;
	}
	wal_read_end(txn, cur);
	return rc == 0 || rc == MDB_NOTFOUND ? n : wal_err(rc);
}
