/* SPDX-License-Identifier: MIT */
/*
 * The write path of the write-ahead buffer: one LMDB write transaction stores a batch of
 * records with their log entries (wal_log.c gives the LSNs), raises the rooms' last seqs in
 * "seqs", moves the drained marker and trims; once it commits, what it did is published
 * (last LSN, drained marker, backlog bytes, counters). A transaction without records is a
 * maintenance one: the drained marker and trimming only.
 *
 * Threads: the writing thread only (the writer thread, or the caller of
 * rc_wal_commit_now(), rc_wal_open() and rc_wal_close() while it does not run), holding
 * w->wlock (wal_txn_write and wal_maintain take it); wal_repl.c runs its transactions
 * through wal_txn_exec() under the same lock.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>

#include "wal_impl.h"

/* ---- records and their last seqs ---- */

/* Raises room_id's last seq in "seqs" to seq (a malformed entry is replaced; a tombstone's
 * stays: nothing is stored after it). */
int
wal_seq_raise(struct rc_wal *w, MDB_txn *txn, uint32_t room_id, uint64_t seq)
{
	uint64_t cur;
	bool deleted;
	int rc = wal_seqs_get(w, txn, room_id, &cur, &deleted);

	if (rc == 0 && (cur >= seq || deleted))
		return 0;
	if (rc != 0 && rc != -ENOENT && rc != -EIO)
		return rc;
	return wal_seqs_put(w, txn, room_id, seq, false);
}

static int
wal_seq_cmp(const void *a, const void *b)
{
	const struct wal_seq *x = a, *y = b;

	if (x->room_id != y->room_id)
		return x->room_id < y->room_id ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* One "seqs" update per room of w->seqbuf: its highest seq. */
int
wal_seqs_flush(struct rc_wal *w, struct wal_txn *t)
{
	struct wal_seq *s = w->seqbuf;
	unsigned n = t->nseq;
	int rc = 0;

	qsort(s, n, sizeof(*s), wal_seq_cmp);
	for (unsigned i = 0; i < n && rc == 0; i++)
		if (i + 1 == n || s[i + 1].room_id != s[i].room_id)
			rc = wal_seq_raise(w, t->txn, s[i].room_id, s[i].seq);
	t->nseq = 0;
	return rc;
}

int
wal_seq_note(struct rc_wal *w, struct wal_txn *t, uint32_t room_id, uint64_t seq)
{
	int rc = t->nseq == w->batch_max ? wal_seqs_flush(w, t) : 0;

	w->seqbuf[t->nseq++] = (struct wal_seq){ .room_id = room_id, .seq = seq };
	return rc;
}

/* Whether a message with this seq may be stored in its room: not a tombstone (-ENOENT);
 * with strict_seq, seq 1 or right after the room's last stored seq ("seqs", or its
 * message stored earlier in this transaction). A gap is never stored (wal.h, -ESPIPE):
 * the dataplane hands a refused seq back instead. */
static int
wal_msg_admit(struct rc_wal *w, struct wal_txn *t, uint32_t room_id, uint64_t seq)
{
	uint8_t kbuf[RC_WAL_MSG_KEY_LEN];
	MDB_val key = { .mv_size = rc_wal_msg_key(kbuf, room_id, seq - 1), .mv_data = kbuf };
	MDB_val val;
	uint64_t last;
	bool deleted;
	int rc = wal_seqs_get(w, t->txn, room_id, &last, &deleted);

	if (rc != 0 && rc != -ENOENT && rc != -EIO)
		return rc;
	if (deleted)
		return -ENOENT;
	if (!w->strict_seq || last == seq - 1)
		return 0;
	if (last >= seq)
		return -EEXIST; /* the room is past it already (its message trimmed) */
	if (seq == 1)
		return -ESPIPE;
	rc = mdb_get(t->txn, w->msgs, &key, &val); /* "seqs" is raised at the commit */
	if (rc == 0)
		return 0; /* (a (room, seq) stored already is refused by the put) */
	return rc == MDB_NOTFOUND ? -ESPIPE : wal_err(rc);
}

/* A stored room's new flags (RC_WAL_ROOM_SET): its record rewritten, logged as a room
 * entry whose seq says what it replaced; deleting it makes a tombstone whose deleted_lsn is
 * that entry's. Status -ENOENT when the room is not stored or is a tombstone already. */
static int
wal_put_room_state(struct rc_wal *w, struct wal_txn *t, struct rc_wal_rec *r)
{
	char name[RC_MAX_ROOM + 1], creator[RC_MAX_USER + 1];
	uint8_t kbuf[RC_WAL_ROOM_KEY_LEN], vbuf[RC_WAL_VAL_MAX];
	MDB_val key = { .mv_size = rc_wal_room_key(kbuf, r->room_id), .mv_data = kbuf }, val;
	bool del = r->cmid & RC_WAL_ROOM_DELETED;
	struct rc_wal_rec room;
	struct rc_wal_room cur;
	int rc = wal_room_get(w, t->txn, r->room_id, &cur, name, creator);

	if (rc == -ENOENT || rc == -EIO || (rc == 0 && (cur.flags & RC_WAL_ROOM_DELETED))) {
		r->status = (int8_t)(rc == -EIO ? -EIO : -ENOENT);
		return 0;
	}
	if (rc != 0)
		return rc;
	memset(&room, 0, offsetof(struct rc_wal_rec, ctx));
	room.ts_ms = cur.created_ms;
	room.cmid = r->cmid;
	room.user_len = cur.creator_len;
	room.body_len = cur.name_len;
	memcpy(room.user, creator, cur.creator_len);
	memcpy(room.body, name, cur.name_len);
	val = (MDB_val){ .mv_size = rc_wal_room_val(vbuf, &room, t->lsn + 1), .mv_data = vbuf };
	rc = wal_err(mdb_put(t->txn, w->rooms, &key, &val, 0));
	if (rc == 0)
		rc = wal_log_append(w, t, RC_WAL_ROOM, r->room_id, RC_WAL_STATE_MARK | cur.flags,
				    val.mv_size);
	if (rc == 0 && del)
		rc = wal_tomb_mark(w, t, r->room_id);
	if (rc == 0) {
		t->stored++;
		t->bytes += val.mv_size;
	}
	return rc;
}

/* A creation whose id is stored already: -EEXIST, unless the stored room is a tombstone
 * the log is trimmed past (every entry of it drained and, with HA, acknowledged): then what
 * is left of it goes, and the caller stores the new room over it (0). */
static int
wal_room_reuse(struct rc_wal *w, struct wal_txn *t, const struct rc_wal_rec *r)
{
	char name[RC_MAX_ROOM + 1], creator[RC_MAX_USER + 1];
	struct rc_wal_room cur;
	int rc = wal_room_get(w, t->txn, r->room_id, &cur, name, creator);

	if (rc == -EIO || (rc == 0 && (!(cur.flags & RC_WAL_ROOM_DELETED) ||
				       cur.deleted_lsn > t->trim_to)))
		return -EEXIST;
	if (rc != 0)
		return rc;
	return wal_room_purge(w, t, r->room_id, cur.deleted_lsn);
}

/* Stores a new room's record (val), over a tombstone its id may reuse. 0, -EEXIST or
 * -errno. */
static int
wal_room_put(struct rc_wal *w, struct wal_txn *t, const struct rc_wal_rec *r, MDB_val *key,
	     MDB_val val)
{
	MDB_val v = val; /* a refused put points it at the stored value */
	int rc = mdb_put(t->txn, w->rooms, key, &v, MDB_NOOVERWRITE);

	if (rc != MDB_KEYEXIST)
		return wal_err(rc);
	rc = wal_room_reuse(w, t, r);
	return rc == 0 ? wal_err(mdb_put(t->txn, w->rooms, key, &val, 0)) : rc;
}

/* Puts one record with its log entry and sets its status. Returns 0, or -errno when the
 * transaction failed (it must then be aborted). */
static int
wal_put_rec(struct rc_wal *w, struct wal_txn *t, struct rc_wal_rec *r)
{
	uint8_t kbuf[RC_WAL_MSG_KEY_LEN], vbuf[RC_WAL_VAL_MAX];
	MDB_val key = { .mv_data = kbuf }, val = { .mv_data = vbuf };
	bool msg = r->kind == RC_WAL_MSG;
	int rc;

	r->status = (int8_t)rc_wal_rec_check(r);
	if (r->status != 0)
		return 0;
	if (r->kind == RC_WAL_ROOM_SET)
		return wal_put_room_state(w, t, r);
	if (r->kind == RC_WAL_ROOM && r->seq != 0) {
		r->status = -EINVAL; /* a state mark comes from the writer's log only */
		return 0;
	}
	if (msg) {
		rc = wal_msg_admit(w, t, r->room_id, r->seq);
		if (rc == -ESPIPE || rc == -EEXIST || rc == -ENOENT) {
			r->status = (int8_t)rc;
			t->seq_gaps += rc == -ESPIPE;
			return 0;
		}
		if (rc != 0)
			return rc;
		key.mv_size = rc_wal_msg_key(kbuf, r->room_id, r->seq);
		val.mv_size = rc_wal_msg_val(vbuf, r);
	} else {
		key.mv_size = rc_wal_room_key(kbuf, r->room_id);
		val.mv_size = rc_wal_room_val(vbuf, r, 0);
	}
	rc = msg ? wal_err(mdb_put(t->txn, w->msgs, &key, &val, MDB_NOOVERWRITE)) :
		   wal_room_put(w, t, r, &key, val);
	if (rc == -EEXIST) {
		r->status = -EEXIST;
		return 0;
	}
	if (rc == 0)
		rc = wal_log_append(w, t, r->kind, r->room_id, msg ? r->seq : 0, val.mv_size);
	if (rc == 0 && msg)
		rc = wal_dkey_put(w, t->txn, r);
	if (rc == 0 && msg)
		rc = wal_seq_note(w, t, r->room_id, r->seq);
	if (rc == 0) {
		t->stored++;
		t->bytes += val.mv_size;
	}
	return rc;
}

/* ---- transactions ---- */

static void
wal_publish(struct rc_wal *w, const struct wal_txn *t)
{
	wal_store(&w->last_lsn, t->lsn);
	wal_store(&w->drained, t->drained);
	wal_count(&w->backlog_bytes, t->bytes);
	atomic_fetch_sub_explicit(&w->backlog_bytes, t->drained_bytes, memory_order_relaxed);
	wal_count(&w->ctr.trimmed, t->trimmed);
	wal_count(&w->ctr.seq_gaps_refused, t->seq_gaps);
	wal_count(&w->ctr.peer_trimmed, t->peer_trimmed);
	wal_count(&w->ctr.commits, 1);
}

static int
wal_txn_fill(struct rc_wal *w, struct wal_txn *t, wal_fill_fn fill, void *arg,
	     unsigned trim_budget)
{
	uint64_t first = t->lsn;
	int rc = fill != NULL ? fill(w, t, arg) : 0;

	if (rc == 0 && t->nseq > 0)
		rc = wal_seqs_flush(w, t);
	if (rc == 0 && t->lsn > first)
		rc = wal_meta_put(w, t->txn, RC_WAL_LAST_LSN_KEY, t->lsn);
	if (rc == 0)
		rc = wal_drain_advance(w, t);
	if (rc == 0)
		rc = wal_trim(w, t, trim_budget);
	return rc;
}

/* One write transaction (see wal_impl.h). The LSNs it gives become visible to
 * set_drained's clamp before the commit. */
int
wal_txn_exec(struct rc_wal *w, wal_fill_fn fill, void *arg, unsigned trim_budget,
	     struct wal_txn *t)
{
	int rc;

	*t = (struct wal_txn){ .lsn = wal_load(&w->last_lsn), .drained = wal_load(&w->drained),
			       .trim_to = w->trim_to };
	rc = mdb_txn_begin(w->env, NULL, 0, &t->txn);
	if (rc != 0)
		return wal_err(rc);
	rc = wal_txn_fill(w, t, fill, arg, trim_budget);
	if (rc != 0 || !t->dirty) {
		mdb_txn_abort(t->txn);
		if (rc == 0)
			wal_set_trim_to(w, t->trim_to); /* a target with nothing left below it */
		return rc;
	}
	if (t->lsn > wal_load(&w->lsn_hi))
		wal_store(&w->lsn_hi, t->lsn);
	rc = wal_err(mdb_txn_commit(t->txn));
	if (rc != 0)
		return rc;
	wal_set_trim_to(w, t->trim_to);
	wal_publish(w, t);
	return 0;
}

struct wal_recs {
	struct rc_wal_rec **recs;
	unsigned n;
};

static int
wal_fill_recs(struct rc_wal *w, struct wal_txn *t, void *arg)
{
	const struct wal_recs *b = arg;
	int rc = 0;

	for (unsigned i = 0; i < b->n && rc == 0; i++)
		rc = wal_put_rec(w, t, b->recs[i]);
	return rc;
}

static void
wal_account(struct rc_wal *w, unsigned n, uint64_t stored, uint64_t bytes)
{
	wal_count(&w->ctr.records, stored);
	wal_count(&w->ctr.bytes, bytes);
	if (n > wal_read_count(&w->ctr.max_batch))
		atomic_store_explicit(&w->ctr.max_batch, n, memory_order_relaxed);
}

/* ---- what the writing thread calls ---- */

/* Writes recs in one transaction. 0: committed, every status set; else -errno, counted. */
int
wal_txn_write(struct rc_wal *w, struct rc_wal_rec **recs, unsigned n)
{
	unsigned budget = RTE_MIN(RTE_MAX(n, WAL_TRIM_BUSY_MIN), WAL_TRIM_CHUNK);
	struct wal_recs b = { .recs = recs, .n = n };
	struct wal_txn t;
	int rc;

	wal_wlock(w);
	rc = wal_txn_exec(w, wal_fill_recs, &b, budget, &t);
	if (rc != 0) {
		wal_count(&w->ctr.commit_errors, 1);
		if (rc == -ENOSPC) {
			w->enospc = true;
			wal_set_full(w, true);
		}
	} else {
		w->enospc = false;
		wal_account(w, n, t.stored, t.bytes);
		wal_update_full(w, t.trimmed > 0);
	}
	wal_wunlock(w);
	return rc;
}

/* Work for a transaction of its own: a drained marker to persist or, unless marker_only,
 * records to trim. */
bool
wal_maint_pending(const struct rc_wal *w, bool marker_only)
{
	uint64_t drained = wal_load(&w->drained);

	if (wal_drain_target(w) > drained)
		return true;
	return !marker_only && wal_trim_target(w, drained, wal_load(&w->last_lsn)) > w->trim_to;
}

/* A transaction for the drained marker and at most budget deletions; the budget halves
 * while the map is full. */
int
wal_maintain(struct rc_wal *w, unsigned budget)
{
	struct wal_txn t;
	int rc;

	wal_wlock(w);
	for (;;) {
		rc = wal_txn_exec(w, NULL, NULL, budget, &t);
		if (rc != -ENOSPC || budget <= 1)
			break;
		budget /= 2;
	}
	if (rc != 0) {
		wal_count(&w->ctr.commit_errors, 1);
	} else {
		if (t.trimmed > 0)
			w->enospc = false;
		wal_update_full(w, t.trimmed > 0);
	}
	wal_wunlock(w);
	return rc;
}
