/* SPDX-License-Identifier: MIT */
/*
 * Replication support of the write-ahead buffer (wal.h, "Replication"): a replica writes
 * the writer's records at the writer's LSNs (rc_wal_apply), takes a snapshot of its rooms
 * (rc_wal_apply_rooms), drops what the writer never had (rc_wal_truncate_above) or forgets
 * a position the writer trimmed (rc_wal_reset_to); a node becoming the writer persists
 * where its own records start (rc_wal_become_writer); and the state of the peer gate that
 * wal.c's writer thread applies.
 *
 * Threads: the LMDB writes here run in the caller's thread (the replication thread) under
 * w->wlock, through wal_txn_exec() like the writer's own transactions, so they may run
 * while the writer thread of the same rc_wal is started. The gate's setters are atomics.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>

#include "wal_impl.h"

#define WAL_APPLY_TRIM_BUDGET 256u /* deletions an apply's transaction may add */

/* ---- state ---- */

int
wal_repl_state_load(struct rc_wal *w)
{
	uint64_t v = 0;
	MDB_txn *txn;
	int rc = mdb_txn_begin(w->env, NULL, MDB_RDONLY, &txn);

	if (rc != 0)
		return wal_err(rc);
	rc = wal_meta_get(w, txn, RC_WAL_WRITER_START_KEY, &v);
	mdb_txn_abort(txn);
	if (rc == 0)
		wal_store(&w->writer_start, v);
	/* the gate starts off: what the log holds counts as acknowledged alone (wal.h) */
	wal_store(&w->acked_alone, rc_wal_last_lsn(w));
	return rc;
}

int
wal_hold_init(struct rc_wal *w, unsigned cap)
{
	w->hold.cap = cap;
	w->hold.recs = calloc(cap, sizeof(*w->hold.recs));
	w->hold.b = calloc(cap, sizeof(*w->hold.b));
	return w->hold.recs != NULL && w->hold.b != NULL ? 0 : -ENOMEM;
}

void
wal_hold_free(struct rc_wal *w)
{
	free(w->hold.recs);
	free(w->hold.b);
}

uint64_t
rc_wal_writer_start(const struct rc_wal *w)
{
	return wal_load(&w->writer_start);
}

void
rc_wal_set_peer_gate(struct rc_wal *w, bool on)
{
	atomic_store_explicit(&w->peer_gate, on, memory_order_release);
	rc_bell_ring(&w->bell); /* off: the held batches go */
}

bool
rc_wal_peer_gate(const struct rc_wal *w)
{
	return atomic_load_explicit(&w->peer_gate, memory_order_acquire);
}

void
rc_wal_peer_acked(struct rc_wal *w, uint64_t lsn)
{
	uint64_t cur = wal_load(&w->peer_acked);

	while (lsn > cur && !atomic_compare_exchange_weak_explicit(&w->peer_acked, &cur, lsn,
								     memory_order_acq_rel,
								     memory_order_acquire))
		;
	rc_bell_ring(&w->bell); /* held batches may go */
}

uint64_t
rc_wal_peer_acked_lsn(const struct rc_wal *w)
{
	return wal_load(&w->peer_acked);
}

void
wal_raise(_Atomic uint64_t *v, uint64_t x)
{
	uint64_t cur = wal_load(v);

	while (x > cur && !atomic_compare_exchange_weak_explicit(v, &cur, x, memory_order_acq_rel,
								  memory_order_acquire))
		;
}

uint64_t
rc_wal_drain_ceiling(const struct rc_wal *w)
{
	uint64_t c = RTE_MAX(wal_load(&w->acked_alone), wal_load(&w->peer_acked));

	return RTE_MIN(c, rc_wal_last_lsn(w));
}

void
rc_wal_set_notify_fd(struct rc_wal *w, int fd)
{
	atomic_store_explicit(&w->notify_fd, fd, memory_order_relaxed);
}

int
rc_wal_first_lsn(struct rc_wal *w, uint64_t *lsn)
{
	uint64_t last = rc_wal_last_lsn(w); /* before the read: the log may only grow past it */
	struct rc_wal_logent e;
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc = wal_read_begin(w, w->log, &txn, &cur);

	if (rc != 0)
		return rc;
	rc = wal_log_get(cur, MDB_FIRST, 0, &e);
	wal_read_end(txn, cur);
	if (rc == -ENOENT) {
		*lsn = last + 1;
		return 0;
	}
	if (rc == 0)
		*lsn = e.lsn;
	return rc;
}

/* ---- applying the writer's records ---- */

/* The record a log record describes, checked as the writer checks its own. */
static int
wal_rec_from_log(struct rc_wal_rec *r, const struct rc_wal_logrec *lr)
{
	if (lr->user.len > RC_MAX_USER || lr->body.len > RC_MAX_BODY ||
	    (lr->user.len > 0 && lr->user.p == NULL) || (lr->body.len > 0 && lr->body.p == NULL))
		return -EINVAL;
	memset(r, 0, offsetof(struct rc_wal_rec, body));
	r->kind = lr->kind;
	r->room_id = lr->room_id;
	r->seq = lr->seq; /* a room's: 0, or its state mark (wal_format.h) */
	r->ts_ms = lr->ts_ms;
	r->cmid = lr->cmid; /* a room's: its flags */
	r->user_len = (uint8_t)lr->user.len;
	r->body_len = lr->body.len;
	if (r->user_len > 0)
		memcpy(r->user, lr->user.p, r->user_len);
	if (r->body_len > 0)
		memcpy(r->body, lr->body.p, r->body_len);
	return rc_wal_rec_check(r);
}

/* Puts r (overwriting) into "msgs" or "rooms" (a tombstone's with deleted_lsn); *vlen gets
 * the value's length. */
static int
wal_put_copy(struct rc_wal *w, MDB_txn *txn, const struct rc_wal_rec *r, uint64_t deleted_lsn,
	     size_t *vlen)
{
	uint8_t kbuf[RC_WAL_MSG_KEY_LEN], vbuf[RC_WAL_VAL_MAX];
	bool msg = r->kind == RC_WAL_MSG;
	MDB_val key = { .mv_data = kbuf }, val = { .mv_data = vbuf };
	int rc;

	key.mv_size = msg ? rc_wal_msg_key(kbuf, r->room_id, r->seq) :
			    rc_wal_room_key(kbuf, r->room_id);
	val.mv_size = msg ? rc_wal_msg_val(vbuf, r) : rc_wal_room_val(vbuf, r, deleted_lsn);
	*vlen = val.mv_size;
	rc = wal_err(mdb_put(txn, msg ? w->msgs : w->rooms, &key, &val, 0));
	return rc == 0 ? wal_dkey_put(w, txn, r) : rc;
}

/* The writer's rules for a tombstoned room, on the replica: a record from before its
 * deletion (streamed after a reset whose ROOMS brought the tombstone) is its past: stored,
 * but a room entry leaves the tombstone's record as it is (1); the tombstone's own entry
 * is written again (0); after it, only a new room of its id, which first takes what is
 * left of the old one (the writer trimmed past the tombstone before it created that room).
 * -EINVAL for a record the writer would have refused. */
static int
wal_apply_tomb_rules(struct rc_wal *w, struct wal_txn *t, const struct rc_wal_logrec *lr,
		     const struct rc_wal_rec *r)
{
	char name[RC_MAX_ROOM + 1], creator[RC_MAX_USER + 1];
	struct rc_wal_room cur;
	uint64_t dl;
	int rc;

	if (!wal_room_gone(w, t->txn, r->room_id))
		return 0;
	rc = wal_room_get(w, t->txn, r->room_id, &cur, name, creator);
	if (rc != 0 && rc != -ENOENT && rc != -EIO)
		return rc;
	dl = rc == 0 ? cur.deleted_lsn : 0;
	if (lr->lsn < dl)
		return r->kind == RC_WAL_MSG ? 0 : 1;
	if (lr->lsn == dl && r->kind == RC_WAL_ROOM && (r->cmid & RC_WAL_ROOM_DELETED))
		return 0;
	if (r->kind != RC_WAL_ROOM || r->seq != 0)
		return -EINVAL;
	return wal_room_purge(w, t, r->room_id, dl != 0 ? dl : UINT64_MAX);
}

/* Applies one of the writer's log records in t. */
static int
wal_apply_one(struct rc_wal *w, struct wal_txn *t, const struct rc_wal_logrec *lr,
	      struct rc_wal_rec *r)
{
	bool del = lr->kind == RC_WAL_ROOM && (lr->cmid & RC_WAL_ROOM_DELETED);
	uint8_t vbuf[RC_WAL_VAL_MAX];
	size_t vlen;
	int rc = wal_rec_from_log(r, lr);

	if (rc == 0)
		rc = wal_apply_tomb_rules(w, t, lr, r);
	if (rc == 1) /* the room's past: its log entry only */
		vlen = rc_wal_room_val(vbuf, r, 0);
	else if (rc == 0)
		rc = wal_put_copy(w, t->txn, r, del ? lr->lsn : 0, &vlen);
	if (rc == 0 || rc == 1)
		rc = wal_log_append(w, t, r->kind, r->room_id, r->seq, vlen);
	if (rc == 0 && r->kind == RC_WAL_MSG)
		rc = wal_seq_note(w, t, r->room_id, r->seq);
	if (rc == 0 && del)
		rc = wal_tomb_mark(w, t, r->room_id);
	if (rc == 0) {
		t->stored++;
		t->bytes += vlen;
	}
	return rc;
}

struct wal_apply {
	const struct rc_wal_logrec *recs;
	unsigned n;
	struct rc_wal_rec scratch;
};

static int
wal_fill_apply(struct rc_wal *w, struct wal_txn *t, void *arg)
{
	struct wal_apply *a = arg;
	int rc = 0;

	for (unsigned i = 0; i < a->n && rc == 0; i++) {
		if (a->recs[i].lsn != t->lsn + 1)
			return -EINVAL; /* checked before; the log moved under us */
		rc = wal_apply_one(w, t, &a->recs[i], &a->scratch);
	}
	return rc;
}

int
rc_wal_apply(struct rc_wal *w, const struct rc_wal_logrec *recs, unsigned n)
{
	struct wal_apply *a;
	struct wal_txn t;
	uint64_t last;
	int rc = 0;

	if (n == 0)
		return 0;
	if (recs == NULL)
		return -EINVAL;
	a = malloc(sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	*a = (struct wal_apply){ .recs = recs, .n = n };
	wal_wlock(w);
	last = rc_wal_last_lsn(w);
	for (unsigned i = 0; i < n && rc == 0; i++)
		if (recs[i].lsn != last + 1 + i ||
		    (recs[i].kind != RC_WAL_MSG && recs[i].kind != RC_WAL_ROOM))
			rc = -EINVAL;
	/* the batch's records and trimming: never more seqs than seqbuf holds per flush */
	if (rc == 0)
		rc = wal_txn_exec(w, wal_fill_apply, a, WAL_APPLY_TRIM_BUDGET, &t);
	if (rc == 0) {
		wal_count(&w->ctr.applied, t.stored);
		wal_count(&w->ctr.records, t.stored);
		wal_count(&w->ctr.bytes, t.bytes);
		wal_update_full(w, t.trimmed > 0);
	} else if (rc != -EINVAL) {
		wal_count(&w->ctr.commit_errors, 1);
	}
	wal_wunlock(w);
	free(a);
	return rc;
}

struct wal_rooms {
	const struct rc_wal_room *rooms;
	unsigned n;
	struct rc_wal_rec scratch;
};

/* Whether the stored room of room's id is another room than the writer's (deleted there,
 * and the id created again, while this replica was away): its remains go first. */
static int
wal_rooms_replaced(struct rc_wal *w, struct wal_txn *t, const struct rc_wal_room *room)
{
	char name[RC_MAX_ROOM + 1], creator[RC_MAX_USER + 1];
	struct rc_wal_room cur;
	int rc = wal_room_get(w, t->txn, room->room_id, &cur, name, creator);

	if (rc == -ENOENT)
		return 0;
	if (rc == 0 && cur.created_ms == room->created_ms && strcmp(name, room->name) == 0 &&
	    strcmp(creator, room->creator) == 0 &&
	    (!(cur.flags & RC_WAL_ROOM_DELETED) || (room->flags & RC_WAL_ROOM_DELETED)))
		return 0;
	if (rc != 0 && rc != -EIO)
		return rc;
	return wal_room_purge(w, t, room->room_id, UINT64_MAX);
}

static int
wal_fill_rooms(struct rc_wal *w, struct wal_txn *t, void *arg)
{
	struct wal_rooms *a = arg;
	int rc = 0;

	for (unsigned i = 0; i < a->n && rc == 0; i++) {
		const struct rc_wal_room *room = &a->rooms[i];
		struct rc_wal_logrec lr = { .kind = RC_WAL_ROOM, .room_id = room->room_id,
					    .ts_ms = room->created_ms,
					    .cmid = room->flags & ~RC_WAL_ROOM_DELETED };
		bool del = room->flags & RC_WAL_ROOM_DELETED;
		size_t vlen;

		if (room->name == NULL || room->creator == NULL)
			return -EINVAL;
		lr.body = (struct rc_str){ .p = room->name,
					   .len = (uint16_t)strnlen(room->name, RC_MAX_ROOM + 1) };
		lr.user = (struct rc_str){ .p = room->creator,
					   .len = (uint16_t)strnlen(room->creator, RC_MAX_USER + 1) };
		rc = wal_rec_from_log(&a->scratch, &lr);
		a->scratch.cmid = room->flags;
		if (rc == 0)
			rc = wal_rooms_replaced(w, t, room);
		if (rc == 0)
			rc = wal_put_copy(w, t->txn, &a->scratch, room->deleted_lsn, &vlen);
		if (rc == 0 && room->last_seq > 0)
			rc = wal_seq_raise(w, t->txn, room->room_id, room->last_seq);
		if (rc == 0 && del)
			rc = wal_tomb_mark(w, t, room->room_id);
		t->dirty = true;
	}
	return rc;
}

int
rc_wal_apply_rooms(struct rc_wal *w, const struct rc_wal_room *rooms, unsigned n)
{
	struct wal_rooms *a;
	struct wal_txn t;
	int rc;

	if (n == 0)
		return 0;
	if (rooms == NULL)
		return -EINVAL;
	a = malloc(sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	*a = (struct wal_rooms){ .rooms = rooms, .n = n };
	wal_wlock(w);
	rc = wal_txn_exec(w, wal_fill_rooms, a, 0, &t);
	if (rc != 0 && rc != -EINVAL)
		wal_count(&w->ctr.commit_errors, 1);
	wal_wunlock(w);
	free(a);
	return rc;
}

/* ---- cutting the log back ---- */

/* What a truncation removed from one room. */
struct wal_cut {
	uint32_t room_id;
	uint64_t seq;  /* its first removed message (0: none) */
	bool room;     /* its creation was removed too */
	bool state;    /* a state change was undone: the first one removed (the oldest) says
			* what the room was before */
};

struct wal_cuts {
	struct wal_cut *v;
	unsigned n, cap;
	uint64_t removed;
};

static struct wal_cut *
wal_cut_of(struct wal_cuts *c, uint32_t room_id)
{
	for (unsigned i = c->n; i-- > 0;)
		if (c->v[i].room_id == room_id)
			return &c->v[i];
	if (c->n == c->cap) {
		unsigned cap = c->cap != 0 ? c->cap * 2 : 64;
		struct wal_cut *v = realloc(c->v, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n] = (struct wal_cut){ .room_id = room_id };
	return &c->v[c->n++];
}

/* Puts the flags a state change replaced back into room_id's record (a truncated state
 * change; a tombstone becomes the room again); a room no longer stored stays so. */
static int
wal_cut_state(struct rc_wal *w, MDB_txn *txn, uint32_t room_id, uint8_t flags)
{
	char name[RC_MAX_ROOM + 1], creator[RC_MAX_USER + 1];
	uint8_t kbuf[RC_WAL_ROOM_KEY_LEN], vbuf[RC_WAL_VAL_MAX];
	MDB_val key = { .mv_size = rc_wal_room_key(kbuf, room_id), .mv_data = kbuf }, val;
	struct rc_wal_logrec lr = { .kind = RC_WAL_ROOM, .room_id = room_id, .cmid = flags };
	struct rc_wal_rec r;
	struct rc_wal_room cur;
	int rc = mdb_get(txn, w->rooms, &key, &val);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return wal_err(rc);
	rc = rc_wal_room_decode(key.mv_data, key.mv_size, val.mv_data, val.mv_size, &cur, name,
				creator);
	if (rc != 0)
		return rc;
	lr.ts_ms = cur.created_ms;
	lr.user = (struct rc_str){ .p = creator, .len = cur.creator_len };
	lr.body = (struct rc_str){ .p = name, .len = cur.name_len };
	rc = wal_rec_from_log(&r, &lr);
	if (rc != 0)
		return rc;
	val = (MDB_val){ .mv_size = rc_wal_room_val(vbuf, &r, cur.deleted_lsn), .mv_data = vbuf };
	rc = wal_err(mdb_put(txn, w->rooms, &key, &val, 0));
	if (rc == 0 && (cur.flags & RC_WAL_ROOM_DELETED) && !(flags & RC_WAL_ROOM_DELETED))
		rc = wal_tomb_unmark(w, txn, room_id);
	return rc;
}

/* Deletes the record of log entry e (a message, or a room with its last seq), or undoes a
 * room's state change. */
static int
wal_cut_record(struct rc_wal *w, MDB_txn *txn, const struct rc_wal_logent *e,
	       struct wal_cuts *c)
{
	uint8_t kbuf[RC_WAL_MSG_KEY_LEN];
	MDB_val key = { .mv_data = kbuf };
	struct wal_cut *cut = wal_cut_of(c, e->room_id);
	int rc;

	if (cut == NULL)
		return -ENOMEM;
	if (e->kind == RC_WAL_MSG) {
		key.mv_size = rc_wal_msg_key(kbuf, e->room_id, e->seq);
		rc = mdb_del(txn, w->msgs, &key, NULL);
		if (rc == 0 || rc == MDB_NOTFOUND) {
			int e2 = wal_dkey_del(w, txn, e->room_id, e->seq);

			if (e2 != 0)
				return e2;
		}
		if (cut->seq == 0 || e->seq < cut->seq)
			cut->seq = e->seq;
	} else if (e->seq != 0) {
		if (cut->state || cut->room)
			return 0;
		cut->state = true;
		return wal_cut_state(w, txn, e->room_id, (uint8_t)(e->seq & RC_WAL_ROOM_FLAGS));
	} else {
		key.mv_size = rc_wal_room_key(kbuf, e->room_id);
		rc = mdb_del(txn, w->rooms, &key, NULL);
		if (rc == 0 || rc == MDB_NOTFOUND)
			rc = mdb_del(txn, w->seqs, &key, NULL);
		if (rc == 0 || rc == MDB_NOTFOUND) {
			int e2 = wal_dkeys_drop_room(w, txn, e->room_id);

			if (e2 != 0)
				return e2;
		}
		cut->room = true;
	}
	return rc == MDB_NOTFOUND ? 0 : wal_err(rc);
}

/* Sets each cut room's last seq below its first removed message. */
static int
wal_cut_seqs(struct rc_wal *w, MDB_txn *txn, const struct wal_cuts *c)
{
	int rc = 0;

	for (unsigned i = 0; i < c->n && rc == 0; i++) {
		uint8_t kbuf[RC_WAL_ROOM_KEY_LEN];

		if (c->v[i].room || c->v[i].seq == 0)
			continue;
		rc_wal_room_key(kbuf, c->v[i].room_id);
		rc = wal_put_u64(txn, w->seqs, kbuf, sizeof(kbuf), c->v[i].seq - 1);
	}
	return rc;
}

struct wal_cut_arg {
	uint64_t lsn;       /* keep up to this */
	bool records;       /* delete what the entries created too (truncate), or not (reset) */
	struct wal_cuts cuts;
};

/* Deletes the log entries above a->lsn (and their records when a->records), and puts the
 * log's state at a->lsn. */
static int
wal_fill_cut(struct rc_wal *w, struct wal_txn *t, void *arg)
{
	struct wal_cut_arg *a = arg;
	struct rc_wal_logent e;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(t->txn, w->log, &cur);

	if (rc != 0)
		return wal_err(rc);
	for (rc = wal_log_get(cur, MDB_SET_RANGE, a->lsn + 1, &e); rc == 0;
	     rc = wal_log_get(cur, MDB_SET_RANGE, a->lsn + 1, &e)) {
		if (a->records && (rc = wal_cut_record(w, t->txn, &e, &a->cuts)) != 0)
			break;
		if ((rc = wal_err(mdb_cursor_del(cur, 0))) != 0)
			break;
		a->cuts.removed++;
	}
	mdb_cursor_close(cur);
	if (rc != -ENOENT)
		return rc == 0 ? -EIO : rc;
	rc = wal_cut_seqs(w, t->txn, &a->cuts);
	t->lsn = a->lsn;
	t->drained = a->records ? RTE_MIN(t->drained, a->lsn) : a->lsn;
	t->trim_to = RTE_MIN(t->trim_to, a->lsn);
	t->dirty = true;
	if (rc == 0)
		rc = wal_meta_put(w, t->txn, RC_WAL_LAST_LSN_KEY, a->lsn);
	if (rc == 0)
		rc = wal_meta_put(w, t->txn, RC_WAL_DRAINED_KEY, t->drained);
	if (rc == 0 && a->records)
		rc = wal_meta_put(w, t->txn, RC_WAL_WRITER_START_KEY, 0);
	return rc;
}

/* The backlog bytes of the log above the drained marker, read after a cut. */
static void
wal_backlog_reload(struct rc_wal *w)
{
	uint64_t bytes = 0;
	MDB_cursor *cur;
	MDB_txn *txn;

	if (wal_read_begin(w, w->log, &txn, &cur) != 0)
		return;
	if (wal_log_sum(cur, wal_load(&w->drained) + 1, &bytes) == 0)
		wal_store(&w->backlog_bytes, bytes);
	wal_read_end(txn, cur);
}

/* Cuts the log back to lsn (see rc_wal_truncate_above and rc_wal_reset_to); w->wlock held.
 * wal_txn_exec publishes last_lsn = lsn and the drained marker; the rest is set here. */
static int
wal_cut(struct rc_wal *w, struct wal_cut_arg *a)
{
	struct wal_txn t;
	uint64_t acked = rc_wal_peer_acked_lsn(w);
	uint64_t old_req = wal_load(&w->drain_req);
	uint64_t req = a->records ? RTE_MIN(old_req, a->lsn) : a->lsn;
	int rc;

	/* the drainer's request may not run ahead of the cut (a truncation), or is the cut
	 * (a reset): set before the transaction, whose wal_drain_advance reads it */
	wal_store(&w->drain_req, req);
	rc = wal_txn_exec(w, wal_fill_cut, a, 0, &t);
	if (rc != 0) {
		wal_store(&w->drain_req, old_req);
		wal_count(&w->ctr.commit_errors, 1);
		return rc;
	}
	wal_store(&w->lsn_hi, a->lsn);
	if (acked > a->lsn)
		wal_store(&w->peer_acked, a->lsn);
	if (wal_load(&w->acked_alone) > a->lsn)
		wal_store(&w->acked_alone, a->lsn);
	wal_backlog_reload(w);
	wal_update_full(w, true);
	return 0;
}

int
rc_wal_truncate_above(struct rc_wal *w, uint64_t lsn)
{
	struct wal_cut_arg a = { .lsn = lsn, .records = true };
	int rc = 0;

	wal_wlock(w);
	if (lsn < rc_wal_last_lsn(w) || rc_wal_writer_start(w) != 0) {
		if (lsn > rc_wal_last_lsn(w))
			a.lsn = rc_wal_last_lsn(w);
		rc = wal_cut(w, &a);
		if (rc == 0) {
			wal_count(&w->ctr.truncated, a.cuts.removed);
			wal_store(&w->writer_start, 0);
		}
	}
	wal_wunlock(w);
	free(a.cuts.v);
	return rc;
}

int
rc_wal_reset_to(struct rc_wal *w, uint64_t lsn)
{
	struct wal_cut_arg a = { .lsn = lsn, .records = false };
	int rc = 0;

	wal_wlock(w);
	if (lsn != rc_wal_last_lsn(w) || wal_load(&w->drained) != lsn) {
		rc = wal_cut(w, &a);
		if (rc == 0)
			wal_count(&w->ctr.resets, 1);
	}
	wal_wunlock(w);
	free(a.cuts.v);
	return rc;
}

/* ---- becoming the writer ---- */

static int
wal_fill_writer_start(struct rc_wal *w, struct wal_txn *t, void *arg)
{
	t->dirty = true;
	return wal_meta_put(w, t->txn, RC_WAL_WRITER_START_KEY, *(const uint64_t *)arg);
}

int
rc_wal_become_writer(struct rc_wal *w)
{
	struct wal_txn t;
	uint64_t start;
	int rc;

	wal_wlock(w);
	start = rc_wal_last_lsn(w) + 1;
	rc = wal_txn_exec(w, wal_fill_writer_start, &start, 0, &t);
	if (rc == 0) {
		wal_store(&w->writer_start, start);
		wal_store(&w->peer_acked, 0);
		/* what the log holds now was acknowledged before: by the previous writer (our
		 * copy of its stream), or by this node before a restart */
		wal_raise(&w->acked_alone, start - 1);
	} else {
		wal_count(&w->ctr.commit_errors, 1);
	}
	wal_wunlock(w);
	return rc;
}
