/* SPDX-License-Identifier: MIT */
/*
 * The read path of the write-ahead buffer: a room's messages by seq (rc_wal_read, the last
 * n), the stored rooms with their last seq, a room's name.
 *
 * Threads: every call begins an MDB_RDONLY transaction and aborts it before it returns;
 * the environment has MDB_NOTLS, so any thread but a worker lcore may read.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdint.h>
#include <string.h>

#include <rte_common.h>

#include "bytes.h"
#include "wal_impl.h"

/* ---- messages ---- */

/* Positions cur on the last message of room_id with seq <= to_seq. Returns 0, MDB_NOTFOUND
 * or another LMDB code. */
static int
wal_seek_last(MDB_cursor *cur, uint32_t room_id, uint64_t to_seq, MDB_val *key, MDB_val *val)
{
	uint8_t kbuf[RC_WAL_MSG_KEY_LEN];
	uint32_t room;
	int rc;

	key->mv_data = kbuf;
	key->mv_size = rc_wal_msg_key(kbuf, room_id, to_seq);
	if (rc_wal_msg_key_next(kbuf)) {
		rc = mdb_cursor_get(cur, key, val, MDB_SET_RANGE);
		if (rc == 0)
			rc = mdb_cursor_get(cur, key, val, MDB_PREV);
		else if (rc == MDB_NOTFOUND)
			rc = mdb_cursor_get(cur, key, val, MDB_LAST);
	} else {
		rc = mdb_cursor_get(cur, key, val, MDB_LAST);
	}
	if (rc == 0 && (!rc_wal_msg_key_room(key->mv_data, key->mv_size, &room) ||
			room != room_id))
		rc = MDB_NOTFOUND;
	return rc;
}

/* The seq of the oldest of the last n messages of room_id with seq <= to_seq. */
static int
wal_first_of_last(MDB_cursor *cur, uint32_t room_id, uint64_t to_seq, unsigned n,
		  uint64_t *first)
{
	MDB_val key, val;
	uint32_t room;
	int rc = wal_seek_last(cur, room_id, to_seq, &key, &val);

	for (unsigned k = 1; rc == 0; k++) {
		*first = rc_get_be64((const uint8_t *)key.mv_data + 4);
		if (k >= n)
			break;
		rc = mdb_cursor_get(cur, &key, &val, MDB_PREV);
		if (rc == MDB_NOTFOUND ||
		    (rc == 0 && (!rc_wal_msg_key_room(key.mv_data, key.mv_size, &room) ||
				 room != room_id)))
			return 0;
	}
	return rc;
}

/* Walks room_id forward from from_seq up to to_seq, at most max messages. Returns the
 * number of messages cb accepted (returned 0 for), or -errno. */
static int
wal_walk(MDB_cursor *cur, uint32_t room_id, uint64_t from_seq, uint64_t to_seq, unsigned max,
	 int (*cb)(void *arg, const struct rc_wal_msg *m), void *arg)
{
	uint8_t kbuf[RC_WAL_MSG_KEY_LEN];
	MDB_val key = { .mv_size = rc_wal_msg_key(kbuf, room_id, from_seq), .mv_data = kbuf };
	MDB_val val;
	struct rc_wal_msg m;
	unsigned n = 0;
	int rc;

	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	while (rc == 0 && n < max) {
		if (rc_wal_msg_decode(key.mv_data, key.mv_size, val.mv_data, val.mv_size, &m) != 0)
			return -EIO;
		if (m.room_id != room_id || m.seq > to_seq || cb(arg, &m) != 0)
			break;
		n++;
		rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		return wal_err(rc);
	return (int)RTE_MIN(n, (unsigned)INT32_MAX);
}

int
rc_wal_read(struct rc_wal *w, uint32_t room_id, uint64_t from_seq, uint64_t to_seq,
	    unsigned max, int (*cb)(void *arg, const struct rc_wal_msg *m), void *arg)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc;

	if (from_seq > to_seq || max == 0)
		return 0;
	rc = wal_read_begin(w, w->msgs, &txn, &cur);
	if (rc != 0)
		return rc;
	if (wal_room_gone(w, txn, room_id))
		rc = 0; /* deleted: its messages are no room's any more */
	else
		rc = wal_walk(cur, room_id, from_seq, to_seq, max, cb, arg);
	wal_read_end(txn, cur);
	return rc;
}

int
rc_wal_read_last_to(struct rc_wal *w, uint32_t room_id, uint64_t to_seq, unsigned n,
		    int (*cb)(void *arg, const struct rc_wal_msg *m), void *arg)
{
	uint64_t first = 0;
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc;

	if (n == 0)
		return 0;
	rc = wal_read_begin(w, w->msgs, &txn, &cur);
	if (rc != 0)
		return rc;
	rc = wal_room_gone(w, txn, room_id) ? MDB_NOTFOUND :
					       wal_first_of_last(cur, room_id, to_seq, n, &first);
	if (rc == 0)
		rc = wal_walk(cur, room_id, first, to_seq, n, cb, arg);
	else
		rc = rc == MDB_NOTFOUND ? 0 : wal_err(rc);
	wal_read_end(txn, cur);
	return rc;
}

int
rc_wal_read_last(struct rc_wal *w, uint32_t room_id, unsigned n,
		 int (*cb)(void *arg, const struct rc_wal_msg *m), void *arg)
{
	return rc_wal_read_last_to(w, room_id, UINT64_MAX, n, cb, arg);
}

/* ---- rooms ---- */

/* A room's last seq: "seqs" (kept when its messages are trimmed), or its last message. */
static int
wal_room_last_seq(struct rc_wal *w, MDB_cursor *msgs, uint32_t room_id, uint64_t *last)
{
	MDB_val mkey, mval;
	bool deleted;
	int rc;

	rc = wal_seqs_get(w, mdb_cursor_txn(msgs), room_id, last, &deleted);
	if (rc == -ENOENT || rc == -EIO)
		*last = 0;
	else if (rc != 0)
		return rc;
	rc = wal_seek_last(msgs, room_id, UINT64_MAX, &mkey, &mval);
	if (rc == 0)
		*last = RTE_MAX(*last, rc_get_be64((const uint8_t *)mkey.mv_data + 4));
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : wal_err(rc);
}

/* Reports every room with its last seq; msgs is a cursor of the same transaction. */
static int
wal_rooms_walk(struct rc_wal *w, MDB_cursor *rooms, MDB_cursor *msgs,
	       int (*cb)(void *arg, const struct rc_wal_room *r), void *arg)
{
	char name[RC_MAX_ROOM + 1], creator[RC_MAX_USER + 1];
	struct rc_wal_room r;
	MDB_val key, val;
	int rc;

	for (rc = mdb_cursor_get(rooms, &key, &val, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(rooms, &key, &val, MDB_NEXT)) {
		int ret = rc_wal_room_decode(key.mv_data, key.mv_size, val.mv_data, val.mv_size,
					     &r, name, creator);

		if (ret == 0)
			ret = wal_room_last_seq(w, msgs, r.room_id, &r.last_seq);
		if (ret == 0)
			ret = cb(arg, &r);
		if (ret != 0)
			return ret;
	}
	return rc == MDB_NOTFOUND ? 0 : wal_err(rc);
}

int
rc_wal_load_rooms(struct rc_wal *w, int (*cb)(void *arg, const struct rc_wal_room *r),
		  void *arg)
{
	MDB_cursor *msgs;
	MDB_cursor *rooms;
	MDB_txn *txn;
	int rc;

	rc = wal_read_begin(w, w->rooms, &txn, &rooms);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_open(txn, w->msgs, &msgs);
	if (rc != 0) {
		wal_read_end(txn, rooms);
		return wal_err(rc);
	}
	rc = wal_rooms_walk(w, rooms, msgs, cb, arg);
	mdb_cursor_close(msgs);
	wal_read_end(txn, rooms);
	return rc;
}

int
rc_wal_room_name(struct rc_wal *w, uint32_t room_id, char *buf, size_t len)
{
	char name[RC_MAX_ROOM + 1], creator[RC_MAX_USER + 1];
	uint8_t kbuf[RC_WAL_ROOM_KEY_LEN];
	MDB_val key = { .mv_size = rc_wal_room_key(kbuf, room_id), .mv_data = kbuf }, val;
	struct rc_wal_room r;
	MDB_txn *txn;
	int rc;

	if (buf == NULL || len == 0)
		return -EINVAL;
	rc = wal_err(mdb_txn_begin(w->env, NULL, MDB_RDONLY, &txn));
	if (rc != 0)
		return rc;
	rc = wal_err(mdb_get(txn, w->rooms, &key, &val));
	if (rc == 0)
		rc = rc_wal_room_decode(key.mv_data, key.mv_size, val.mv_data, val.mv_size, &r,
					name, creator);
	mdb_txn_abort(txn);
	buf[0] = '\0';
	if (rc == 0 && strlen(name) >= len)
		rc = -ERANGE;
	if (rc == 0)
		memcpy(buf, name, strlen(name) + 1);
	return rc;
}
