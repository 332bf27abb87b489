/* SPDX-License-Identifier: MIT */
/*
 * The write-ahead buffer: one LMDB environment per node and the group-commit writer thread
 * that is the only one to write it while it runs.
 *
 * The on-disk layout (schema version 2: "meta", "rooms", "msgs", "log", "seqs") is
 * wal_format.h's. A version-1 environment is migrated at open, inside the open transaction:
 * every stored record gets an LSN, room by room in room_id order (a room's record first,
 * then its messages in seq order), all undrained; when the map has no room for the new
 * log the open fails with a clear error and the environment stays as it was. A build
 * refuses an environment whose schema version is newer than its own. One rc_wal owns a
 * directory: an exclusive flock() on roomcast.lock refuses a second opener (-EBUSY), in
 * this process or another.
 *
 * The commit log: a stored record gets the next LSN in the transaction that stores it (a
 * record refused with -EEXIST or -EINVAL gets none); "meta" keeps the last LSN given, so
 * none is reused, even once the log has been trimmed empty. The drained marker:
 * rc_wal_set_drained() raises an atomic (clamped to the LSNs a reader can have seen); the
 * writing thread persists it in its next transaction, passing at most WAL_DRAIN_STEP log
 * entries per transaction (their bytes leave the backlog), then trims at most
 * WAL_TRIM_CHUNK drained records older than the newest keep_records (a batch's transaction
 * trims at most max(WAL_TRIM_BUSY_MIN, its records)): a message's "msgs" and "log"
 * entries; a room's "log" entry (trimming on) as soon as the marker passes it, its "rooms"
 * entry never. "seqs" keeps every room's last seq for rc_wal_load_rooms().
 *
 * Space: LMDB never shrinks its file; deleted pages go to its freelist (FREE_DBI) and are
 * reused. map_used = (last page + 1 - free pages) * page size, free pages counted by
 * walking the freelist in a read transaction. Pages freed by the newest transaction, or
 * still seen by an old reader, count as free though LMDB cannot reuse them yet: an
 * approximation. `full` follows map_used with hysteresis (set above high_water_pct, cleared
 * WAL_HYSTERESIS_PCT points below; held while commits fail with MDB_MAP_FULL until a trim
 * frees pages); the walk runs at most every WAL_SPACE_CHECK_US unless a trim freed pages,
 * and not at all while the file ends below the low mark.
 *
 * Threads:
 *  - writer ("rc-wal", a control thread off the worker cores): dequeues bursts of at most
 *    batch_max records from the MP/SC input ring, writes them in one transaction, commits
 *    (synced unless nosync), sets rec->status and enqueues every record on its completion
 *    ring, in input order. A failed commit is counted and retried with back-off, the same
 *    records in memory; MDB_MAP_FULL first runs a trim transaction when the drain allows
 *    one, then halves the batch so that what fits goes in. A record only completes with an
 *    error when that record alone is wrong: -EEXIST for a (room, seq) or room already
 *    stored, -EINVAL for a malformed record. Exception: once rc_wal_stop() runs, a commit
 *    still failing after 1 s completes its records with the error (none of them was
 *    acknowledged), so that stopping always ends. With an empty ring it runs a transaction
 *    of its own for a drained marker to persist or records to trim; stopping, it persists
 *    the marker before it returns.
 *  - rc_wal_commit_now(): the same write from the caller's thread, when the writer is not
 *    running; with no records, one marker-and-trim transaction. rc_wal_close() persists a
 *    marker still pending.
 *  - rc_wal_set_drained(), rc_wal_drained_lsn(), rc_wal_last_lsn(): atomics, any thread.
 *  - readers: every read call begins an MDB_RDONLY transaction and aborts it before it
 *    returns; the environment has MDB_NOTLS, so any thread but a worker lcore may read.
 *  - rc_wal_full(), rc_wal_pool(), rc_wal_ring(): lock-free, never touch LMDB (workers).
 *  - counters are written by the writing thread and read relaxed by rc_wal_get_stats().
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "wal.h"
#include "wal_format.h"

#define WAL_IDLE_SLEEP_US 50u
#define WAL_BACKOFF_MIN_US 1000u
#define WAL_BACKOFF_MAX_US 100000u
#define WAL_STOP_GIVEUP_US 1000000u
#define WAL_COMPLETION_RETRY_US 10u
#define WAL_HYSTERESIS_PCT 2
#define WAL_POOL_CACHE 32
#define WAL_LOCK_FILE "roomcast.lock"
#define WAL_MAX_DBS 8
#define WAL_TRIM_CHUNK 1000u        /* deletions per transaction at most */
#define WAL_TRIM_BUSY_MIN 64u       /* a batch's transaction trims max(this, its records) */
#define WAL_DRAIN_STEP 4096u        /* log entries the persisted marker passes per txn */
#define WAL_SPACE_CHECK_US 5000u    /* freelist walks at most this often, unless forced */
#define WAL_MAINT_RETRY_US 100000u  /* after a failed marker-and-trim transaction */

struct wal_counters {
	_Atomic uint64_t commits;
	_Atomic uint64_t records;
	_Atomic uint64_t bytes;
	_Atomic uint64_t commit_errors;
	_Atomic uint64_t max_batch;
	_Atomic uint64_t lost_completions;
	_Atomic uint64_t trimmed;
};

/* A message's room and seq, gathered per transaction for "seqs". */
struct wal_seq {
	uint32_t room_id;
	uint64_t seq;
};

struct rc_wal {
	int lock_fd; /* flock()ed: one owner per directory */
	MDB_env *env;
	MDB_dbi rooms;
	MDB_dbi msgs;
	MDB_dbi meta;
	MDB_dbi log;
	MDB_dbi seqs;
	bool opened; /* every database handle valid */
	uint64_t psize;
	uint64_t map_size;
	uint64_t keep_records;
	unsigned high_water_pct;
	unsigned batch_max;
	struct rte_ring *ring;
	struct rte_mempool *pool;
	struct rte_ring *completions[RC_WAL_MAX_COMPLETIONS];
	struct rc_wal_rec **batch;
	struct wal_seq *seqbuf; /* batch_max entries */
	pthread_t thread;
	bool running;
	atomic_bool stopping;
	atomic_bool full;
	/* the commit log, written by the writing thread (writer, or commit_now's caller) */
	_Atomic uint64_t last_lsn;      /* committed */
	_Atomic uint64_t lsn_hi;        /* highest LSN a reader may have seen: set before commit */
	_Atomic uint64_t drained;       /* persisted */
	_Atomic uint64_t backlog_bytes; /* value bytes of the LSNs above `drained` */
	_Atomic uint64_t drain_req;     /* rc_wal_set_drained(), any thread; <= lsn_hi */
	/* the writing thread's own */
	uint64_t trim_to;        /* every message with an LSN <= trim_to is trimmed */
	uint64_t space_check_us; /* the last freelist walk */
	bool space_stale;        /* a commit skipped the walk: redo it when idle */
	bool enospc;             /* the last commit of records failed with MDB_MAP_FULL */
	uint64_t maint_after_us; /* no marker-and-trim transaction before (after a failure) */
	struct wal_counters ctr;
};

/* What one write transaction did, published once it commits. */
struct wal_txn {
	MDB_txn *txn;
	uint64_t lsn;           /* the last LSN given out */
	uint64_t stored;        /* records stored */
	uint64_t bytes;         /* their value bytes */
	uint64_t drained;       /* the drained marker as this transaction leaves it */
	uint64_t drained_bytes; /* value bytes of the log entries the marker passed */
	uint64_t trim_to;
	uint64_t trimmed; /* messages deleted */
	unsigned nseq;    /* entries of w->seqbuf in use */
	bool dirty;       /* something written: commit */
};

static atomic_uint wal_instances;

/* ---- errors, small helpers ---- */

/* LMDB's own codes become -errno here and nowhere else; system errors pass through. */
static int
wal_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_NOTFOUND:
		return -ENOENT;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

static void
wal_sleep_us(unsigned us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static uint64_t
wal_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void
wal_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t
wal_read_count(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static uint64_t
wal_load(const _Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_acquire);
}

static void
wal_store(_Atomic uint64_t *v, uint64_t x)
{
	atomic_store_explicit(v, x, memory_order_release);
}

static int
wal_read_begin(struct rc_wal *w, MDB_dbi dbi, MDB_txn **txn, MDB_cursor **cur)
{
	int rc = mdb_txn_begin(w->env, NULL, MDB_RDONLY, txn);

	if (rc != 0)
		return wal_err(rc);
	rc = mdb_cursor_open(*txn, dbi, cur);
	if (rc != 0) {
		mdb_txn_abort(*txn);
		return wal_err(rc);
	}
	return 0;
}

static void
wal_read_end(MDB_txn *txn, MDB_cursor *cur)
{
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
}

/* A u64 value ("seqs", the counters of "meta"): 0, -ENOENT, -EIO (malformed) or -errno. */
static int
wal_get_u64(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, uint64_t *v)
{
	MDB_val key = { .mv_size = klen, .mv_data = (void *)k }, val;
	int rc = mdb_get(txn, dbi, &key, &val);

	if (rc != 0)
		return wal_err(rc);
	return rc_wal_u64_decode(val.mv_data, val.mv_size, v) ? 0 : -EIO;
}

static int
wal_put_u64(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, uint64_t v)
{
	uint8_t buf[RC_WAL_U64_LEN];
	MDB_val key = { .mv_size = klen, .mv_data = (void *)k };
	MDB_val val = { .mv_size = sizeof(buf), .mv_data = buf };

	rc_wal_put_be64(buf, v);
	return wal_err(mdb_put(txn, dbi, &key, &val, 0));
}

/* A counter of "meta"; a missing one reads 0. */
static int
wal_meta_get(struct rc_wal *w, MDB_txn *txn, const char *name, uint64_t *v)
{
	int rc = wal_get_u64(txn, w->meta, name, strlen(name), v);

	if (rc == -ENOENT) {
		*v = 0;
		return 0;
	}
	return rc;
}

static int
wal_meta_put(struct rc_wal *w, MDB_txn *txn, const char *name, uint64_t v)
{
	return wal_put_u64(txn, w->meta, name, strlen(name), v);
}

/* The log entry cur lands on with op (MDB_SET_RANGE: the first with an LSN >= lsn).
 * 0, -ENOENT past the end, -EIO for a malformed entry, or -errno. */
static int
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
static uint64_t
wal_drain_target(const struct rc_wal *w)
{
	return RTE_MIN(wal_load(&w->drain_req), wal_load(&w->last_lsn));
}

/* Messages with an LSN up to this may go: drained, and older than the keep window. */
static uint64_t
wal_trim_target(const struct rc_wal *w, uint64_t drained, uint64_t last)
{
	if (w->keep_records == 0 || last <= w->keep_records)
		return 0;
	return RTE_MIN(drained, last - w->keep_records);
}

/* ---- the write path: records, their log entries and last seqs ---- */

/* Appends the next LSN's log entry. */
static int
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

/* Raises room_id's last seq in "seqs" to seq (a malformed entry is replaced). */
static int
wal_seq_raise(struct rc_wal *w, MDB_txn *txn, uint32_t room_id, uint64_t seq)
{
	uint8_t kbuf[RC_WAL_ROOM_KEY_LEN];
	uint64_t cur;
	int rc;

	rc_wal_room_key(kbuf, room_id);
	rc = wal_get_u64(txn, w->seqs, kbuf, sizeof(kbuf), &cur);
	if (rc == 0 && cur >= seq)
		return 0;
	if (rc != 0 && rc != -ENOENT && rc != -EIO)
		return rc;
	return wal_put_u64(txn, w->seqs, kbuf, sizeof(kbuf), seq);
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
static int
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

static int
wal_seq_note(struct rc_wal *w, struct wal_txn *t, uint32_t room_id, uint64_t seq)
{
	int rc = t->nseq == w->batch_max ? wal_seqs_flush(w, t) : 0;

	w->seqbuf[t->nseq++] = (struct wal_seq){ .room_id = room_id, .seq = seq };
	return rc;
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
	if (msg) {
		key.mv_size = rc_wal_msg_key(kbuf, r->room_id, r->seq);
		val.mv_size = rc_wal_msg_val(vbuf, r);
	} else {
		key.mv_size = rc_wal_room_key(kbuf, r->room_id);
		val.mv_size = rc_wal_room_val(vbuf, r);
	}
	rc = mdb_put(t->txn, msg ? w->msgs : w->rooms, &key, &val, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		r->status = -EEXIST;
		return 0;
	}
	rc = rc != 0 ? wal_err(rc) :
		       wal_log_append(w, t, r->kind, r->room_id, msg ? r->seq : 0, val.mv_size);
	if (rc == 0 && msg)
		rc = wal_seq_note(w, t, r->room_id, r->seq);
	if (rc == 0) {
		t->stored++;
		t->bytes += val.mv_size;
	}
	return rc;
}

/* ---- the write path: the drained marker and trimming ---- */

/* Moves the persisted drained marker towards the drainer's over at most WAL_DRAIN_STEP log
 * entries, taking their bytes off the backlog; with trimming on, a room's log entry goes
 * as the marker passes it. */
static int
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
		if (e.kind == RC_WAL_ROOM && w->keep_records != 0) {
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
 * room's log entry. */
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
	t->trim_to = e->lsn;
	t->dirty = true;
	return 0;
}

/* Trims at most budget records, oldest first, up to the trim target. */
static int
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

/* ---- the write path: transactions ---- */

static void
wal_publish(struct rc_wal *w, const struct wal_txn *t)
{
	wal_store(&w->last_lsn, t->lsn);
	wal_store(&w->drained, t->drained);
	wal_count(&w->backlog_bytes, t->bytes);
	atomic_fetch_sub_explicit(&w->backlog_bytes, t->drained_bytes, memory_order_relaxed);
	wal_count(&w->ctr.trimmed, t->trimmed);
	wal_count(&w->ctr.commits, 1);
}

static int
wal_txn_fill(struct rc_wal *w, struct wal_txn *t, struct rc_wal_rec **recs, unsigned n,
	     unsigned trim_budget)
{
	uint64_t first = t->lsn;
	int rc = 0;

	for (unsigned i = 0; i < n && rc == 0; i++)
		rc = wal_put_rec(w, t, recs[i]);
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

/* One write transaction: recs, the drained marker, at most trim_budget deletions. 0 once
 * committed (or when there was nothing to write); else -errno and the transaction is gone.
 * The LSNs it gives become visible to set_drained's clamp before the commit. */
static int
wal_txn_run(struct rc_wal *w, struct rc_wal_rec **recs, unsigned n, unsigned trim_budget,
	    struct wal_txn *t)
{
	int rc;

	*t = (struct wal_txn){ .lsn = wal_load(&w->last_lsn), .drained = wal_load(&w->drained),
			       .trim_to = w->trim_to };
	rc = mdb_txn_begin(w->env, NULL, 0, &t->txn);
	if (rc != 0)
		return wal_err(rc);
	rc = wal_txn_fill(w, t, recs, n, trim_budget);
	if (rc != 0 || !t->dirty) {
		mdb_txn_abort(t->txn);
		if (rc == 0)
			w->trim_to = t->trim_to; /* a target with nothing left below it */
		return rc;
	}
	if (t->lsn > wal_load(&w->lsn_hi))
		wal_store(&w->lsn_hi, t->lsn);
	rc = wal_err(mdb_txn_commit(t->txn));
	if (rc != 0)
		return rc;
	w->trim_to = t->trim_to;
	wal_publish(w, t);
	return 0;
}

static void
wal_account(struct rc_wal *w, unsigned n, uint64_t stored, uint64_t bytes)
{
	wal_count(&w->ctr.records, stored);
	wal_count(&w->ctr.bytes, bytes);
	if (n > wal_read_count(&w->ctr.max_batch))
		atomic_store_explicit(&w->ctr.max_batch, n, memory_order_relaxed);
}

/* ---- space ---- */

/* Pages on LMDB's freelist. Its database (FREE_DBI, 0) maps a txnid to an array of page
 * numbers (pgno_t, a size_t) led by their count; a cursor on it needs a read-only txn. */
static int
wal_free_pages(struct rc_wal *w, uint64_t *pages)
{
	MDB_val key, val;
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc;

	*pages = 0;
	rc = wal_read_begin(w, 0, &txn, &cur);
	if (rc != 0)
		return rc;
	while ((rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) == 0) {
		size_t n;

		if (val.mv_size < sizeof(n))
			continue;
		memcpy(&n, val.mv_data, sizeof(n));
		*pages += n;
	}
	wal_read_end(txn, cur);
	return rc == MDB_NOTFOUND ? 0 : wal_err(rc);
}

struct wal_space {
	uint64_t map_size; /* bytes */
	uint64_t end;      /* bytes up to the last page in use */
	uint64_t free;     /* bytes on the freelist (0 unless walked), <= end */
};

static int
wal_space_get(struct rc_wal *w, struct wal_space *s, bool walk)
{
	uint64_t pages = 0;
	MDB_envinfo info;
	int rc = walk ? wal_free_pages(w, &pages) : 0;

	if (rc == 0)
		rc = wal_err(mdb_env_info(w->env, &info));
	if (rc != 0)
		return rc;
	s->map_size = info.me_mapsize;
	s->end = ((uint64_t)info.me_last_pgno + 1) * w->psize;
	s->free = RTE_MIN(pages * w->psize, s->end);
	return 0;
}

static void
wal_set_full(struct rc_wal *w, bool full)
{
	atomic_store_explicit(&w->full, full, memory_order_relaxed);
}

/* Sets or clears `full` from the pages in use, with hysteresis (see the file header). The
 * freelist walk is skipped while the file ends below the low mark, and rate-limited unless
 * forced. Writing thread only. */
static void
wal_update_full(struct rc_wal *w, bool force)
{
	unsigned low = w->high_water_pct > WAL_HYSTERESIS_PCT ?
			       w->high_water_pct - WAL_HYSTERESIS_PCT : 0;
	uint64_t now = wal_now_us(), used;
	struct wal_space s;

	if (w->enospc) {
		wal_set_full(w, true);
		return;
	}
	if (wal_space_get(w, &s, false) != 0)
		return;
	if (s.end * 100 < (uint64_t)low * s.map_size) {
		w->space_stale = false;
		wal_set_full(w, false);
		return;
	}
	w->space_stale = !force && now - w->space_check_us < WAL_SPACE_CHECK_US;
	if (w->space_stale)
		return;
	w->space_check_us = now;
	if (wal_space_get(w, &s, true) != 0)
		return;
	used = s.end - s.free;
	if (used * 100 > (uint64_t)w->high_water_pct * s.map_size)
		wal_set_full(w, true);
	else if (used * 100 < (uint64_t)low * s.map_size)
		wal_set_full(w, false);
}

/* ---- the write path: what the writing thread calls ---- */

/* Writes recs in one transaction. 0: committed, every status set; else -errno, counted. */
static int
wal_txn_write(struct rc_wal *w, struct rc_wal_rec **recs, unsigned n)
{
	unsigned budget = RTE_MIN(RTE_MAX(n, WAL_TRIM_BUSY_MIN), WAL_TRIM_CHUNK);
	struct wal_txn t;
	int rc = wal_txn_run(w, recs, n, budget, &t);

	if (rc != 0) {
		wal_count(&w->ctr.commit_errors, 1);
		if (rc == -ENOSPC) {
			w->enospc = true;
			wal_set_full(w, true);
		}
		return rc;
	}
	w->enospc = false;
	wal_account(w, n, t.stored, t.bytes);
	wal_update_full(w, t.trimmed > 0);
	return 0;
}

/* Work for a transaction of its own: a drained marker to persist or, unless marker_only,
 * records to trim. */
static bool
wal_maint_pending(const struct rc_wal *w, bool marker_only)
{
	uint64_t drained = wal_load(&w->drained);

	if (wal_drain_target(w) > drained)
		return true;
	return !marker_only && wal_trim_target(w, drained, wal_load(&w->last_lsn)) > w->trim_to;
}

/* A transaction for the drained marker and at most budget deletions; the budget halves
 * while the map is full. */
static int
wal_maintain(struct rc_wal *w, unsigned budget)
{
	struct wal_txn t;
	int rc;

	for (;;) {
		rc = wal_txn_run(w, NULL, 0, budget, &t);
		if (rc != -ENOSPC || budget <= 1)
			break;
		budget /= 2;
	}
	if (rc != 0) {
		wal_count(&w->ctr.commit_errors, 1);
		return rc;
	}
	if (t.trimmed > 0)
		w->enospc = false;
	wal_update_full(w, t.trimmed > 0);
	return 0;
}

/* ---- the writer thread ---- */

static bool
wal_stopping(struct rc_wal *w)
{
	return atomic_load_explicit(&w->stopping, memory_order_acquire);
}

static void
wal_complete_one(struct rc_wal *w, struct rc_wal_rec *r)
{
	struct rte_ring *cr = r->reply_to < RC_WAL_MAX_COMPLETIONS ? w->completions[r->reply_to] :
								      NULL;
	unsigned waited = 0;

	while (cr != NULL && rte_ring_enqueue(cr, r) != 0) {
		if (wal_stopping(w) && waited >= WAL_STOP_GIVEUP_US)
			break;
		wal_sleep_us(WAL_COMPLETION_RETRY_US);
		waited += WAL_COMPLETION_RETRY_US;
	}
	if (cr == NULL || waited >= WAL_STOP_GIVEUP_US) {
		wal_count(&w->ctr.lost_completions, 1);
		rte_mempool_put(w->pool, r);
	}
}

static void
wal_complete(struct rc_wal *w, struct rc_wal_rec **recs, unsigned n, int status)
{
	for (unsigned i = 0; i < n; i++) {
		if (status != 0)
			recs[i]->status = (int8_t)status;
		wal_complete_one(w, recs[i]);
	}
}

/* Commits recs[0..n) in input order, never dropping one (see the file header). */
static void
wal_write_batch(struct rc_wal *w, struct rc_wal_rec **recs, unsigned n)
{
	unsigned done = 0, window = n, backoff = WAL_BACKOFF_MIN_US, slept = 0;

	while (done < n) {
		unsigned k = RTE_MIN(n - done, window);
		int rc = wal_txn_write(w, recs + done, k);

		if (rc == 0) {
			wal_complete(w, recs + done, k, 0);
			done += k;
			backoff = WAL_BACKOFF_MIN_US;
			slept = 0;
			continue;
		}
		/* a drain that lets the writer trim may free the room this batch needs */
		if (rc == -ENOSPC && wal_maint_pending(w, false) &&
		    wal_maintain(w, WAL_TRIM_CHUNK) == 0)
			continue;
		if (rc == -ENOSPC && k > 1) {
			window = (k + 1) / 2;
			continue;
		}
		if (wal_stopping(w) && slept >= WAL_STOP_GIVEUP_US) {
			wal_complete(w, recs + done, n - done, rc);
			return;
		}
		wal_sleep_us(backoff);
		slept += backoff;
		backoff = RTE_MIN(backoff * 2, WAL_BACKOFF_MAX_US);
	}
}

/* The idle writer's own transactions: a drained marker to persist, records to trim (only
 * the marker once stopping). True when it committed one: look at the ring again at once. */
static bool
wal_idle_work(struct rc_wal *w, bool stopping)
{
	uint64_t now;

	if (w->space_stale)
		wal_update_full(w, true);
	if (!wal_maint_pending(w, stopping))
		return false;
	now = wal_now_us();
	if (now < w->maint_after_us)
		return false;
	if (wal_maintain(w, WAL_TRIM_CHUNK) != 0) {
		w->maint_after_us = now + WAL_MAINT_RETRY_US;
		return false;
	}
	return true;
}

static void *
wal_writer_main(void *arg)
{
	struct rc_wal *w = arg;

	for (;;) {
		/* read the flag before the ring: a record enqueued before the stop request
		 * is then seen by this dequeue */
		bool stopping = wal_stopping(w);
		unsigned n = rte_ring_dequeue_burst(w->ring, (void **)w->batch, w->batch_max,
						    NULL);

		if (n > 0)
			wal_write_batch(w, w->batch, n);
		else if (wal_idle_work(w, stopping))
			continue;
		else if (stopping)
			break;
		else
			wal_sleep_us(WAL_IDLE_SLEEP_US);
	}
	return NULL;
}

int
rc_wal_start(struct rc_wal *w)
{
	int rc;

	if (w->running)
		return -EALREADY;
	atomic_store(&w->stopping, false);
	rc = rte_ctrl_thread_create(&w->thread, "rc-wal", NULL, wal_writer_main, w);
	if (rc != 0)
		return rc < 0 ? rc : -rc;
	w->running = true;
	return 0;
}

void
rc_wal_stop(struct rc_wal *w)
{
	if (w == NULL || !w->running)
		return;
	atomic_store_explicit(&w->stopping, true, memory_order_release);
	pthread_join(w->thread, NULL);
	w->running = false;
}

int
rc_wal_commit_now(struct rc_wal *w, struct rc_wal_rec **recs, unsigned n)
{
	if (w->running)
		return -EBUSY;
	if (n > 0)
		return wal_txn_write(w, recs, n);
	return wal_maint_pending(w, false) ? wal_maintain(w, WAL_TRIM_CHUNK) : 0;
}

/* ---- the commit log and the drained marker ---- */

void
rc_wal_set_drained(struct rc_wal *w, uint64_t lsn)
{
	uint64_t cur = wal_load(&w->drain_req);

	lsn = RTE_MIN(lsn, wal_load(&w->lsn_hi));
	while (lsn > cur && !atomic_compare_exchange_weak_explicit(&w->drain_req, &cur, lsn,
								     memory_order_acq_rel,
								     memory_order_acquire))
		;
}

uint64_t
rc_wal_drained_lsn(const struct rc_wal *w)
{
	return RTE_MAX(wal_load(&w->drained), wal_drain_target(w));
}

uint64_t
rc_wal_last_lsn(const struct rc_wal *w)
{
	return wal_load(&w->last_lsn);
}

int
rc_wal_set_completion(struct rc_wal *w, unsigned idx, struct rte_ring *ring)
{
	if (idx >= RC_WAL_MAX_COMPLETIONS)
		return -EINVAL;
	if (w->running)
		return -EBUSY;
	w->completions[idx] = ring;
	return 0;
}

/* ---- opening and closing ---- */

static void
wal_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
wal_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int
wal_conf_check(const struct rc_wal_conf *c, char *err, size_t errlen)
{
	if (c == NULL || c->dir == NULL || c->dir[0] == '\0')
		wal_errf(err, errlen, "wal: no directory given");
	else if (c->map_size == 0)
		wal_errf(err, errlen, "wal: map size must be positive");
	else if (c->high_water_pct == 0 || c->high_water_pct > 100)
		wal_errf(err, errlen, "wal: high-water mark %u%% is not within 1..100",
			 c->high_water_pct);
	else if (c->batch_max == 0 || c->ring_size == 0 || c->pool_size == 0)
		wal_errf(err, errlen, "wal: batch_max, ring_size and pool_size must be positive");
	else
		return 0;
	return -EINVAL;
}

/* mkdir -p with mode 0700 for the directories it creates. */
static int
wal_mkdirs(const char *dir)
{
	char path[4096];
	size_t len = strlen(dir);

	if (len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (c == '\0')
			return 0;
	}
}

/* Creates the directory and takes its lock. */
static int
wal_dir_lock(struct rc_wal *w, const char *dir, char *err, size_t errlen)
{
	char path[4096];
	int rc = wal_mkdirs(dir);

	if (rc != 0) {
		wal_errf(err, errlen, "wal: mkdir %s: %s", dir, strerror(-rc));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, WAL_LOCK_FILE);
	w->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (w->lock_fd < 0) {
		rc = -errno;
		wal_errf(err, errlen, "wal: open %s: %s", path, strerror(-rc));
		return rc;
	}
	if (flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		wal_errf(err, errlen, "wal: %s is in use by another WAL (lock %s): %s", dir,
			 path, strerror(-rc));
		return rc;
	}
	return 0;
}

static int
wal_env_open(struct rc_wal *w, const struct rc_wal_conf *c, char *err, size_t errlen)
{
	unsigned flags = MDB_NOTLS | (c->nosync ? MDB_NOSYNC : 0);
	int dead, rc;

	rc = wal_dir_lock(w, c->dir, err, errlen);
	if (rc != 0)
		return rc;
	rc = mdb_env_create(&w->env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(w->env, c->map_size);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(w->env, WAL_MAX_DBS);
	if (rc == 0)
		rc = mdb_env_open(w->env, c->dir, flags, 0600);
	if (rc != 0) {
		wal_errf(err, errlen, "wal: open LMDB environment %s: %s", c->dir,
			 mdb_strerror(rc));
		return wal_err(rc);
	}
	mdb_reader_check(w->env, &dead); /* slots of readers that died */
	return 0;
}

/* Merges "rooms" and "msgs" by room_id into the log (a room's record, then its messages in
 * seq order) and sets every room's last seq in "seqs". */
static int
wal_migrate_walk(struct rc_wal *w, struct wal_txn *t, MDB_cursor *rooms, MDB_cursor *msgs)
{
	MDB_val rk, rv, mk, mv;
	int rr = mdb_cursor_get(rooms, &rk, &rv, MDB_FIRST);
	int mr = mdb_cursor_get(msgs, &mk, &mv, MDB_FIRST);
	int rc = 0;

	while (rc == 0 && (rr == 0 || mr == 0)) {
		uint32_t room, mroom;
		uint64_t seq;

		if ((rr == 0 && rk.mv_size != RC_WAL_ROOM_KEY_LEN) ||
		    (mr == 0 && mk.mv_size != RC_WAL_MSG_KEY_LEN))
			return -EIO;
		room = rr == 0 ? rc_wal_get_be32(rk.mv_data) : UINT32_MAX;
		mroom = mr == 0 ? rc_wal_get_be32(mk.mv_data) : UINT32_MAX;
		if (rr == 0 && (mr != 0 || room <= mroom)) {
			rc = wal_log_append(w, t, RC_WAL_ROOM, room, 0, rv.mv_size);
			rr = mdb_cursor_get(rooms, &rk, &rv, MDB_NEXT);
			continue;
		}
		seq = rc_wal_get_be64((const uint8_t *)mk.mv_data + 4);
		rc = wal_log_append(w, t, RC_WAL_MSG, mroom, seq, mv.mv_size);
		mr = mdb_cursor_get(msgs, &mk, &mv, MDB_NEXT);
		if (rc == 0 && (mr != 0 || rc_wal_get_be32(mk.mv_data) != mroom))
			rc = wal_seq_raise(w, t->txn, mroom, seq); /* the room's last message */
	}
	if (rc == 0 && rr != MDB_NOTFOUND)
		rc = wal_err(rr);
	if (rc == 0 && mr != MDB_NOTFOUND)
		rc = wal_err(mr);
	return rc;
}

/* Schema 1 -> 2 in the open transaction: the commit log and "seqs" built from what is
 * stored, nothing drained yet. Also run on a new environment (it has nothing to walk). */
static int
wal_migrate_v1(struct rc_wal *w, MDB_txn *txn, char *err, size_t errlen)
{
	struct wal_txn t = { .txn = txn };
	MDB_cursor *rooms = NULL, *msgs = NULL;
	int rc;

	rc = mdb_drop(txn, w->log, 0);
	if (rc == 0)
		rc = mdb_drop(txn, w->seqs, 0);
	if (rc == 0)
		rc = mdb_cursor_open(txn, w->rooms, &rooms);
	if (rc == 0)
		rc = mdb_cursor_open(txn, w->msgs, &msgs);
	rc = wal_err(rc);
	if (rc == 0)
		rc = wal_migrate_walk(w, &t, rooms, msgs);
	if (rc == 0)
		rc = wal_meta_put(w, txn, RC_WAL_LAST_LSN_KEY, t.lsn);
	if (rc == 0)
		rc = wal_meta_put(w, txn, RC_WAL_DRAINED_KEY, 0);
	if (msgs != NULL)
		mdb_cursor_close(msgs);
	if (rooms != NULL)
		mdb_cursor_close(rooms);
	if (rc == -ENOSPC)
		wal_errf(err, errlen,
			 "wal: migrating schema 1 to 2: no room in the map for the commit log "
			 "(%llu records so far): raise the map size", (unsigned long long)t.lsn);
	else if (rc != 0)
		wal_errf(err, errlen, "wal: migrating schema 1 to 2: %s", strerror(-rc));
	return rc;
}

/* Checks the schema version and brings an older environment to this one. */
static int
wal_schema_check(struct rc_wal *w, MDB_txn *txn, char *err, size_t errlen)
{
	MDB_val key = { .mv_size = strlen(RC_WAL_SCHEMA_KEY), .mv_data = RC_WAL_SCHEMA_KEY }, val;
	uint32_t version = 0;
	uint8_t buf[4];
	int rc;

	rc = mdb_get(txn, w->meta, &key, &val);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		wal_errf(err, errlen, "wal: read schema version: %s", mdb_strerror(rc));
		return wal_err(rc);
	}
	if (rc == 0 && val.mv_size == sizeof(buf))
		version = rc_wal_get_be32(val.mv_data);
	if (rc == 0 && version == 0) {
		wal_errf(err, errlen, "wal: schema version record is corrupt");
		return -EINVAL;
	}
	if (version > RC_WAL_SCHEMA_VERSION) {
		wal_errf(err, errlen,
			 "wal: schema version %u is newer than this build supports (%u); "
			 "run a newer roomcastd", version, RC_WAL_SCHEMA_VERSION);
		return -ENOTSUP;
	}
	if (version == RC_WAL_SCHEMA_VERSION)
		return 0;
	rc = wal_migrate_v1(w, txn, err, errlen); /* version 1, or a new environment */
	if (rc != 0)
		return rc;
	rc_wal_put_be32(buf, RC_WAL_SCHEMA_VERSION);
	val = (MDB_val){ .mv_size = sizeof(buf), .mv_data = buf };
	rc = mdb_put(txn, w->meta, &key, &val, 0);
	if (rc != 0)
		wal_errf(err, errlen, "wal: write schema version: %s", mdb_strerror(rc));
	return wal_err(rc);
}

static int
wal_dbs_open(struct rc_wal *w, MDB_txn *txn)
{
	static const char *const names[] = { RC_WAL_DB_META, RC_WAL_DB_ROOMS, RC_WAL_DB_MSGS,
					     RC_WAL_DB_LOG, RC_WAL_DB_SEQS };
	MDB_dbi *dbis[] = { &w->meta, &w->rooms, &w->msgs, &w->log, &w->seqs };
	int rc = 0;

	for (unsigned i = 0; i < RTE_DIM(names) && rc == 0; i++)
		rc = mdb_dbi_open(txn, names[i], MDB_CREATE, dbis[i]);
	return rc;
}

static int
wal_schema_open(struct rc_wal *w, char *err, size_t errlen)
{
	MDB_txn *txn;
	MDB_stat st;
	int rc;

	rc = mdb_txn_begin(w->env, NULL, 0, &txn);
	if (rc != 0) {
		wal_errf(err, errlen, "wal: begin: %s", mdb_strerror(rc));
		return wal_err(rc);
	}
	rc = wal_dbs_open(w, txn);
	if (rc != 0) {
		wal_errf(err, errlen, "wal: open databases: %s", mdb_strerror(rc));
		mdb_txn_abort(txn);
		return wal_err(rc);
	}
	rc = wal_schema_check(w, txn, err, errlen);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	rc = mdb_txn_commit(txn);
	if (rc == 0)
		rc = mdb_env_stat(w->env, &st);
	if (rc != 0) {
		wal_errf(err, errlen, "wal: commit schema: %s", mdb_strerror(rc));
		return wal_err(rc);
	}
	w->psize = st.ms_psize;
	w->opened = true;
	return 0;
}

/* Value bytes of the log entries from LSN `from` on. */
static int
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

static int
wal_state_load(struct rc_wal *w, char *err, size_t errlen)
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
	if (rc != 0) {
		wal_errf(err, errlen, "wal: read the commit log: %s", strerror(-rc));
		return rc;
	}
	wal_store(&w->last_lsn, v[0]);
	wal_store(&w->lsn_hi, v[0]);
	wal_store(&w->drained, v[1]);
	wal_store(&w->drain_req, v[1]);
	wal_store(&w->backlog_bytes, v[2]);
	w->trim_to = v[3] - 1;
	return 0;
}

static int
wal_queues_create(struct rc_wal *w, const struct rc_wal_conf *c, char *err, size_t errlen)
{
	unsigned id = atomic_fetch_add(&wal_instances, 1);
	unsigned cache = c->pool_size >= 64 * WAL_POOL_CACHE ? WAL_POOL_CACHE : 0;
	char name[RTE_MEMPOOL_NAMESIZE];

	snprintf(name, sizeof(name), "rc_wal_in%u", id);
	w->ring = rte_ring_create(name, c->ring_size, c->socket_id,
				  RING_F_SC_DEQ | RING_F_EXACT_SZ);
	if (w->ring == NULL) {
		wal_errf(err, errlen, "wal: ring of %u: %s", c->ring_size, rte_strerror(rte_errno));
		return -rte_errno;
	}
	snprintf(name, sizeof(name), "rc_wal_rec%u", id);
	w->pool = rte_mempool_create(name, c->pool_size, sizeof(struct rc_wal_rec), cache, 0,
				     NULL, NULL, NULL, NULL, c->socket_id, 0);
	if (w->pool == NULL) {
		wal_errf(err, errlen, "wal: pool of %u records: %s", c->pool_size,
			 rte_strerror(rte_errno));
		return -rte_errno;
	}
	w->batch = calloc(c->batch_max, sizeof(*w->batch));
	w->seqbuf = calloc(c->batch_max, sizeof(*w->seqbuf));
	if (w->batch == NULL || w->seqbuf == NULL) {
		wal_errf(err, errlen, "wal: out of memory");
		return -ENOMEM;
	}
	return 0;
}

struct rc_wal *
rc_wal_open(const struct rc_wal_conf *conf, char *err, size_t errlen)
{
	struct rc_wal *w;
	MDB_envinfo info;
	int rc;

	rc = wal_conf_check(conf, err, errlen);
	if (rc != 0) {
		errno = -rc;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		wal_errf(err, errlen, "wal: out of memory");
		return NULL;
	}
	w->lock_fd = -1;
	w->high_water_pct = conf->high_water_pct;
	w->batch_max = conf->batch_max;
	w->keep_records = conf->keep_records;
	rc = wal_env_open(w, conf, err, errlen);
	if (rc == 0)
		rc = wal_schema_open(w, err, errlen);
	if (rc == 0)
		rc = wal_state_load(w, err, errlen);
	if (rc == 0)
		rc = wal_queues_create(w, conf, err, errlen);
	if (rc != 0) {
		rc_wal_close(w);
		errno = rc < 0 ? -rc : EIO;
		return NULL;
	}
	mdb_env_info(w->env, &info);
	w->map_size = info.me_mapsize;
	wal_update_full(w, true);
	return w;
}

void
rc_wal_close(struct rc_wal *w)
{
	if (w == NULL)
		return;
	rc_wal_stop(w);
	/* a drained marker set since the last transaction; errors leave the older one */
	while (w->opened && wal_maint_pending(w, true) && wal_maintain(w, 0) == 0)
		;
	if (w->env != NULL)
		mdb_env_close(w->env);
	if (w->lock_fd >= 0)
		close(w->lock_fd);
	rte_ring_free(w->ring);
	rte_mempool_free(w->pool);
	free(w->batch);
	free(w->seqbuf);
	free(w);
}

struct rte_mempool *
rc_wal_pool(struct rc_wal *w)
{
	return w->pool;
}

struct rte_ring *
rc_wal_ring(struct rc_wal *w)
{
	return w->ring;
}

bool
rc_wal_full(const struct rc_wal *w)
{
	return atomic_load_explicit(&w->full, memory_order_relaxed);
}

/* ---- the read path ---- */

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
		*first = rc_wal_get_be64((const uint8_t *)key.mv_data + 4);
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
	rc = wal_first_of_last(cur, room_id, to_seq, n, &first);
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

/* A room's last seq: "seqs" (kept when its messages are trimmed), or its last message. */
static int
wal_room_last_seq(struct rc_wal *w, MDB_cursor *msgs, uint32_t room_id, uint64_t *last)
{
	uint8_t kbuf[RC_WAL_ROOM_KEY_LEN];
	MDB_val mkey, mval;
	int rc;

	rc = wal_get_u64(mdb_cursor_txn(msgs), w->seqs, kbuf, rc_wal_room_key(kbuf, room_id),
			 last);
	if (rc == -ENOENT || rc == -EIO)
		*last = 0;
	else if (rc != 0)
		return rc;
	rc = wal_seek_last(msgs, room_id, UINT64_MAX, &mkey, &mval);
	if (rc == 0)
		*last = RTE_MAX(*last, rc_wal_get_be64((const uint8_t *)mkey.mv_data + 4));
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

/* ---- the read path: the commit log ---- */

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
	lr->user = (struct rc_str){ .p = creator, .len = (uint16_t)strlen(creator) };
	lr->body = (struct rc_str){ .p = name, .len = (uint16_t)strlen(name) };
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

/* ---- statistics ---- */

/* ts_ms of the first record with an LSN above drained (0 if none). */
static uint64_t
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

static void
wal_stats_db(struct rc_wal *w, struct rc_wal_stats *st)
{
	MDB_stat ms;
	MDB_txn *txn;

	if (mdb_txn_begin(w->env, NULL, MDB_RDONLY, &txn) != 0)
		return;
	if (mdb_stat(txn, w->rooms, &ms) == 0)
		st->rooms = ms.ms_entries;
	if (mdb_stat(txn, w->msgs, &ms) == 0)
		st->messages = ms.ms_entries;
	if (st->backlog_records > 0)
		st->oldest_undrained_ms = wal_oldest_undrained(w, txn, st->drained_lsn);
	mdb_txn_abort(txn);
}

void
rc_wal_get_stats(struct rc_wal *w, struct rc_wal_stats *st)
{
	uint64_t drained = rc_wal_drained_lsn(w), last = RTE_MAX(rc_wal_last_lsn(w), drained);
	struct wal_space s;

	*st = (struct rc_wal_stats){
		.commits = wal_read_count(&w->ctr.commits),
		.records = wal_read_count(&w->ctr.records),
		.bytes = wal_read_count(&w->ctr.bytes),
		.commit_errors = wal_read_count(&w->ctr.commit_errors),
		.max_batch = wal_read_count(&w->ctr.max_batch),
		.lost_completions = wal_read_count(&w->ctr.lost_completions),
		.map_size = w->map_size,
		.full = rc_wal_full(w),
		.last_lsn = last,
		.drained_lsn = drained,
		.backlog_records = last - drained,
		.backlog_bytes = wal_read_count(&w->backlog_bytes),
		.trimmed = wal_read_count(&w->ctr.trimmed),
	};
	if (wal_space_get(w, &s, true) == 0) {
		st->map_size = s.map_size;
		st->map_used = s.end - s.free;
		st->map_free = s.free;
	}
	wal_stats_db(w, st);
}
