/* SPDX-License-Identifier: MIT */
/*
 * Private to storage/wal*.c: the struct rc_wal that they share, the state of one write
 * transaction, and the helpers each file offers the others.
 *
 *   wal.c        open/close, the writer thread and group commit, completions, statistics
 *   wal_write.c  one write transaction: records, their LSNs and last seqs; maintenance
 *   wal_log.c    the commit log: LSNs, rc_wal_log_read, the drained marker, trimming,
 *                backlog accounting
 *   wal_space.c  the free-page walk, map_used/map_free, the high-water flag
 *   wal_read.c   the read path: messages and rooms
 *   wal_repl.c   replication: apply, truncate, reset, writer start, the peer gate's state
 *
 * "Writing thread" below: the writer thread while it runs, else the caller of
 * rc_wal_commit_now(), rc_wal_open() or rc_wal_close() (never two at once). Functions that
 * write LMDB or w's writing-thread fields are for the writing thread only, holding
 * w->wlock: the replication calls of wal_repl.c take it too, from their own thread, so that
 * every write transaction, and the fields it reads and publishes, has one owner at a time.
 */
#ifndef RC_WAL_IMPL_H
#define RC_WAL_IMPL_H

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "bytes.h"
#include "doorbell.h"
#include "wal.h"
#include "wal_format.h"

#define WAL_TRIM_CHUNK 1000u        /* deletions per transaction at most */
#define WAL_TRIM_BUSY_MIN 64u       /* a batch's transaction trims max(this, its records) */

struct wal_counters {
	_Atomic uint64_t commits;
	_Atomic uint64_t records;
	_Atomic uint64_t bytes;
	_Atomic uint64_t commit_errors;
	_Atomic uint64_t max_batch;
	_Atomic uint64_t lost_completions;
	_Atomic uint64_t trimmed;
	_Atomic uint64_t seq_gaps_refused;
	_Atomic uint64_t peer_trimmed;
	_Atomic uint64_t held_batches;
	_Atomic uint64_t held_records;
	_Atomic uint64_t holding;
	_Atomic uint64_t hold_max_us;
	_Atomic uint64_t unacked_completions;
	_Atomic uint64_t applied;
	_Atomic uint64_t truncated;
	_Atomic uint64_t resets;
};

/* A committed batch whose completions the peer gate holds (writer thread only). */
struct wal_held_batch {
	uint64_t lsn;  /* the last LSN committed with it */
	uint64_t t_us; /* when it was committed */
	unsigned n;    /* its records, next in the hold's record FIFO */
};

/* The FIFO of committed batches held for the peer's ack; both rings have cap entries (a
 * batch has at least one record). Writer thread only. */
struct wal_hold {
	struct rc_wal_rec **recs;
	struct wal_held_batch *b;
	unsigned cap;
	unsigned head, count;   /* records */
	unsigned bhead, bcount; /* batches */
	uint64_t stop_since_us; /* stopping with records held: since when (0: not) */
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
	MDB_dbi dkeys; /* wal_dkeys.c */
	bool opened; /* every database handle valid */
	uint64_t psize;
	uint64_t map_size;
	uint64_t keep_records;
	unsigned keep_per_room; /* each room's last messages kept past the trim (0: none) */
	uint64_t peer_keep_records; /* conf.peer_keep_records */
	bool strict_seq;        /* conf.strict_seq */
	unsigned high_water_pct;
	unsigned batch_max;
	struct rte_ring *ring;
	struct rte_mempool *pool;
	struct rte_ring *completions[RC_WAL_MAX_COMPLETIONS];
	struct rc_bell *completion_bells[RC_WAL_MAX_COMPLETIONS]; /* their consumers' (or NULL) */
	uint64_t bells_due; /* writer: completion rings filled since their bells last rang */
	struct rc_bell bell; /* the writer waits on it: rung by producers, acks, the drainer */
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
	_Atomic uint64_t trimmed_lsn; /* trim_to, published (wal_set_trim_to) */
	uint64_t space_check_us; /* the last freelist walk */
	bool space_stale;        /* a commit skipped the walk: redo it when idle */
	bool enospc;             /* the last commit of records failed with MDB_MAP_FULL */
	uint64_t maint_after_us; /* no marker-and-trim transaction before (after a failure) */
	struct wal_counters ctr;
	/* replication */
	pthread_mutex_t wlock;           /* one write transaction at a time (see above) */
	bool wlock_ok;                   /* initialised */
	_Atomic uint64_t writer_start;   /* persisted in "meta" */
	atomic_bool peer_gate;
	_Atomic uint64_t peer_acked;
	_Atomic uint64_t acked_alone;    /* the highest LSN completed without the peer's ack
					  * (gate off), or held here when becoming the writer:
					  * rc_wal_drain_ceiling() */
	atomic_int notify_fd;            /* -1: none */
	struct wal_hold hold;
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
	uint64_t seq_gaps;       /* messages refused: seq not right after the room's last */
	uint64_t peer_trimmed;   /* log entries trimmed above the peer's ack */
	unsigned nseq;    /* entries of w->seqbuf in use */
	bool dirty;       /* something written: commit */
};

/* ---- the re-sent POST keys ("dkeys", wal_dkeys.c), in the caller's write txn ---- */
int wal_dkey_put(struct rc_wal *w, MDB_txn *txn, const struct rc_wal_rec *r);
int wal_dkey_del(struct rc_wal *w, MDB_txn *txn, uint32_t room_id, uint64_t seq);
int wal_dkeys_drop_room(struct rc_wal *w, MDB_txn *txn, uint32_t room_id);
int wal_dkeys_backfill(struct rc_wal *w, MDB_txn *txn);

/* ---- errors, time, atomics ---- */

/* LMDB's own codes become -errno here and nowhere else; system errors pass through. */
static inline int
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

static inline void
wal_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t
wal_read_count(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static inline uint64_t
wal_load(const _Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_acquire);
}

static inline void
wal_store(_Atomic uint64_t *v, uint64_t x)
{
	atomic_store_explicit(v, x, memory_order_release);
}

/* ---- LMDB helpers ---- */

/* A read transaction with a cursor on dbi; wal_read_end() closes both. Any thread but a
 * worker lcore. */
static inline int
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

static inline void
wal_read_end(MDB_txn *txn, MDB_cursor *cur)
{
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
}

/* A u64 value ("seqs", the counters of "meta"): 0, -ENOENT, -EIO (malformed) or -errno. */
static inline int
wal_get_u64(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, uint64_t *v)
{
	MDB_val key = { .mv_size = klen, .mv_data = (void *)k }, val;
	int rc = mdb_get(txn, dbi, &key, &val);

	if (rc != 0)
		return wal_err(rc);
	return rc_wal_u64_decode(val.mv_data, val.mv_size, v) ? 0 : -EIO;
}

static inline int
wal_put_u64(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, uint64_t v)
{
	uint8_t buf[RC_WAL_U64_LEN];
	MDB_val key = { .mv_size = klen, .mv_data = (void *)k };
	MDB_val val = { .mv_size = sizeof(buf), .mv_data = buf };

	rc_put_be64(buf, v);
	return wal_err(mdb_put(txn, dbi, &key, &val, 0));
}

static inline void
wal_wlock(struct rc_wal *w)
{
	pthread_mutex_lock(&w->wlock);
}

static inline void
wal_wunlock(struct rc_wal *w)
{
	pthread_mutex_unlock(&w->wlock);
}

/* ---- wal_write.c: the write path ---- */

/* Fills a write transaction with records (t->lsn is the last LSN given out). 0 or -errno
 * (the transaction is then aborted). */
typedef int (*wal_fill_fn)(struct rc_wal *w, struct wal_txn *t, void *arg);

/* One write transaction: fill's records, the rooms' last seqs, "last_lsn", the drained
 * marker, at most trim_budget deletions. 0 once committed and published (or when there
 * was nothing to write); else -errno and the transaction is gone (not counted). Writing
 * thread holding w->wlock. */
int wal_txn_exec(struct rc_wal *w, wal_fill_fn fill, void *arg, unsigned trim_budget,
		 struct wal_txn *t);

/* Notes a message's (room, seq) for the transaction's "seqs" update. */
int wal_seq_note(struct rc_wal *w, struct wal_txn *t, uint32_t room_id, uint64_t seq);


/* Raises room_id's last seq in "seqs" to seq (a malformed entry is replaced). */
int wal_seq_raise(struct rc_wal *w, MDB_txn *txn, uint32_t room_id, uint64_t seq);

/* Writes recs in one transaction. 0: committed, every status set; else -errno, counted.
 * Writing thread; takes w->wlock. */
int wal_txn_write(struct rc_wal *w, struct rc_wal_rec **recs, unsigned n);

/* Work for a transaction of its own: a drained marker to persist or, unless marker_only,
 * records to trim. Writing thread. */
bool wal_maint_pending(const struct rc_wal *w, bool marker_only);

/* A transaction for the drained marker and at most budget deletions; the budget halves
 * while the map is full. 0 or -errno (counted). Writing thread; takes w->wlock. */
int wal_maintain(struct rc_wal *w, unsigned budget);

/* Sets w->trim_to and publishes it (rc_wal_trimmed_lsn). Writing thread. */
static inline void
wal_set_trim_to(struct rc_wal *w, uint64_t lsn)
{
	w->trim_to = lsn;
	atomic_store_explicit(&w->trimmed_lsn, lsn, memory_order_release);
}

/* One "seqs" update per room noted so far in t (wal_seq_note). */
int wal_seqs_flush(struct rc_wal *w, struct wal_txn *t);

/* ---- wal_tomb.c: deleted rooms (tombstones) ---- */

/* room_id's "seqs" value: its last seq and the tombstone byte. 0, -ENOENT (none: *last 0,
 * *deleted false), -EIO (malformed) or -errno. Any transaction. */
int wal_seqs_get(struct rc_wal *w, MDB_txn *txn, uint32_t room_id, uint64_t *last,
		 bool *deleted);
int wal_seqs_put(struct rc_wal *w, MDB_txn *txn, uint32_t room_id, uint64_t last,
		 bool deleted);

/* Whether room_id is a tombstone (its "seqs" value says so). Any transaction. */
bool wal_room_gone(struct rc_wal *w, MDB_txn *txn, uint32_t room_id);

/* room_id's "rooms" entry decoded: 0, -ENOENT, -EIO or -errno. Any transaction. */
int wal_room_get(struct rc_wal *w, MDB_txn *txn, uint32_t room_id, struct rc_wal_room *r,
		 char name[RC_MAX_ROOM + 1], char creator[RC_MAX_USER + 1]);

/* Sets room_id's tombstone byte in "seqs", after the seqs of the messages t stored so far
 * (their last seq counts, later ones are refused). */
int wal_tomb_mark(struct rc_wal *w, struct wal_txn *t, uint32_t room_id);
/* Clears it, in a transaction without pending seqs (a truncation). */
int wal_tomb_unmark(struct rc_wal *w, MDB_txn *txn, uint32_t room_id);

/* Deletes the entries (room_id, seq <= to) of a database keyed like "msgs" ("msgs",
 * "dkeys"). In txn. */
int wal_drop_room_keys(MDB_txn *txn, MDB_dbi dbi, uint32_t room_id, uint64_t to);

/* Deletes what is left of room_id before its id is created again: its log entries up to
 * LSN upto, messages, re-sent POST keys and "seqs" (not its "rooms" entry: the caller
 * overwrites it). In t. */
int wal_room_purge(struct rc_wal *w, struct wal_txn *t, uint32_t room_id, uint64_t upto);

/* ---- wal_log.c: the commit log ---- */

/* A counter of "meta" (a missing one reads 0), and its update. */
int wal_meta_get(struct rc_wal *w, MDB_txn *txn, const char *name, uint64_t *v);
int wal_meta_put(struct rc_wal *w, MDB_txn *txn, const char *name, uint64_t v);

/* The log entry cur lands on with op (MDB_SET_RANGE: the first with an LSN >= lsn).
 * 0, -ENOENT past the end, -EIO for a malformed entry, or -errno. */
int wal_log_get(MDB_cursor *cur, MDB_cursor_op op, uint64_t lsn, struct rc_wal_logent *e);

/* Appends the next LSN's (t->lsn + 1) log entry in t. */
int wal_log_append(struct rc_wal *w, struct wal_txn *t, uint8_t kind, uint32_t room_id,
		   uint64_t seq, size_t value_len);

/* The drained LSN the writer may persist: the drainer's, never above what is committed.
 * Any thread. */
uint64_t wal_drain_target(const struct rc_wal *w);

/* Messages with an LSN up to this may go: drained, and older than the keep window. */
uint64_t wal_trim_target(const struct rc_wal *w, uint64_t drained, uint64_t last);

/* In t: moves the persisted drained marker towards the drainer's, over at most
 * WAL_DRAIN_STEP log entries. 0 or -errno (t must then be aborted). */
int wal_drain_advance(struct rc_wal *w, struct wal_txn *t);

/* In t: trims at most budget records, oldest first, up to the trim target. 0 or -errno (t
 * must then be aborted). */
int wal_trim(struct rc_wal *w, struct wal_txn *t, unsigned budget);

/* At open: the last LSN, drained marker, backlog bytes and trim point from the log. */
int wal_log_state_load(struct rc_wal *w);

/* Value bytes of the log entries from LSN `from` on, cur being a cursor on "log". */
int wal_log_sum(MDB_cursor *cur, uint64_t from, uint64_t *bytes);

/* Raises *v to x (never lowers it). Any thread. */
void wal_raise(_Atomic uint64_t *v, uint64_t x);

/* ts_ms of the first record with an LSN above drained (0 if none), in txn. */
uint64_t wal_oldest_undrained(struct rc_wal *w, MDB_txn *txn, uint64_t drained);

/* ---- wal_space.c: space and the high-water flag ---- */

struct wal_space {
	uint64_t map_size; /* bytes */
	uint64_t end;      /* bytes up to the last page in use */
	uint64_t free;     /* bytes on the freelist (0 unless walked), <= end */
};

/* The map's size and use; walk: count the freelist's pages too (a read transaction). Any
 * thread but a worker lcore. */
int wal_space_get(struct rc_wal *w, struct wal_space *s, bool walk);

void wal_set_full(struct rc_wal *w, bool full);

/* Sets or clears `full` from the pages in use, with hysteresis; force: walk the freelist
 * now, not rate-limited. Writing thread. */
void wal_update_full(struct rc_wal *w, bool force);

/* ---- wal_repl.c: replication ---- */

/* At open: the writer start from "meta". */
int wal_repl_state_load(struct rc_wal *w);

/* The peer gate's hold (wal.c's writer thread). */
int wal_hold_init(struct rc_wal *w, unsigned cap);
void wal_hold_free(struct rc_wal *w);

#endif /* RC_WAL_IMPL_H */
