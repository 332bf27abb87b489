/* SPDX-License-Identifier: MIT */
/*
 * The write-ahead buffer: one LMDB environment per node and the group-commit writer thread
 * that is the only one to write it while it runs.
 *
 * The on-disk layout (schema version 3: "meta", "rooms", "msgs", "log", "seqs") is
 * wal_format.h's. A version-2 environment only gets the new version number (version 3 added
 * a room's optional flags byte, which an older build would read as a malformed room). A
 * version-1 environment is migrated at open, inside the open transaction:
 * every stored record gets an LSN, room by room in room_id order (a room's record first,
 * then its messages in seq order), all undrained; when the map has no room for the new
 * log the open fails with a clear error and the environment stays as it was. A build
 * refuses an environment whose schema version is newer than its own. One rc_wal owns a
 * directory: an exclusive flock() on roomcast.lock refuses a second opener (-EBUSY), in
 * this process or another.
 *
 * The commit log, the drained marker and trimming are in wal_log.c; space and the
 * high-water flag in wal_space.c; the write transaction in wal_write.c; reads in
 * wal_read.c; wal_impl.h holds what they share. This file: opening and closing, the writer
 * thread with its group commit and completions, rc_wal_commit_now() and the statistics.
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
 *    the marker before it returns. With nothing to do it blocks on its doorbell (w->bell:
 *    rung by the producers, rc_wal_peer_acked, rc_wal_set_peer_gate, rc_wal_set_drained,
 *    rc_wal_stop) for WAL_IDLE_WAIT_US, or WAL_IDLE_SLEEP_US while batches are held for
 *    the peer; it rings a completion ring's consumer's bell once per batch. While the peer
 *    gate is on, a committed batch's completions wait in w->hold until the peer
 *    acknowledged its last LSN (wal.h); the writer keeps committing, and stops dequeuing
 *    only while the hold has no room for a whole batch. Stopping, it waits
 *    WAL_STOP_HOLD_US for the acks of what it holds, then completes the rest with
 *    -ENOTCONN.
 *  - every write transaction runs under w->wlock, which wal_repl.c's replication calls
 *    (another thread) take too.
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

#include "bytes.h"
#include "clock.h"
#include "wal_impl.h"

#define WAL_IDLE_SLEEP_US 50u  /* a wait while batches are held for the peer's ack */
#define WAL_IDLE_WAIT_US 100000u /* a wait with nothing held: bounds the drained marker's
				 * and the trim's delay after an unrung change */
#define WAL_BACKOFF_MIN_US 1000u
#define WAL_BACKOFF_MAX_US 100000u
#define WAL_STOP_GIVEUP_US 1000000u
#define WAL_COMPLETION_RETRY_US 10u
#define WAL_POOL_CACHE 32
#define WAL_LOCK_FILE "roomcast.lock"
#define WAL_MAX_DBS 8
#define WAL_MAINT_RETRY_US 100000u /* after a failed marker-and-trim transaction */
#define WAL_STOP_HOLD_US 200000u   /* stopping: how long held records wait for the peer */

static atomic_uint wal_instances;

static void
wal_sleep_us(unsigned us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

/* ---- the writer thread ---- */

static bool
wal_stopping(struct rc_wal *w)
{
	return atomic_load_explicit(&w->stopping, memory_order_acquire);
}

/* Wakes the consumers of the completion rings filled since the last call. */
static void
wal_bells_flush(struct rc_wal *w)
{
	while (w->bells_due != 0) {
		unsigned i = (unsigned)__builtin_ctzll(w->bells_due);

		w->bells_due &= w->bells_due - 1;
		rc_bell_ring(w->completion_bells[i]);
	}
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
		rc_bell_ring(w->completion_bells[r->reply_to]); /* its consumer may sleep */
		wal_sleep_us(WAL_COMPLETION_RETRY_US);
		waited += WAL_COMPLETION_RETRY_US;
	}
	if (cr == NULL || waited >= WAL_STOP_GIVEUP_US) {
		wal_count(&w->ctr.lost_completions, 1);
		rte_mempool_put(w->pool, r);
		return;
	}
	w->bells_due |= 1ull << r->reply_to;
}

static void
wal_complete(struct rc_wal *w, struct rc_wal_rec **recs, unsigned n, int status)
{
	for (unsigned i = 0; i < n; i++) {
		if (status != 0)
			recs[i]->status = (int8_t)status;
		wal_complete_one(w, recs[i]);
	}
	wal_bells_flush(w);
}

/* ---- the peer gate's hold ---- */

static unsigned
wal_hold_room(const struct rc_wal *w)
{
	return w->hold.cap - w->hold.count;
}

/* Completes the oldest held batch with status (0: leave each record's own). */
static void
wal_hold_pop(struct rc_wal *w, uint64_t now, int status)
{
	struct wal_hold *h = &w->hold;
	struct wal_held_batch *b = &h->b[h->bhead];
	uint64_t held_us = now > b->t_us ? now - b->t_us : 0, now_ns = rc_mono_ns();

	if (status == 0 && !rc_wal_peer_gate(w)) /* released by the gate turned off */
		wal_raise(&w->acked_alone, b->lsn);
	for (unsigned i = 0; i < b->n; i++) {
		struct rc_wal_rec *r = h->recs[h->head];

		h->head = (h->head + 1) % h->cap;
		r->t.completed = now_ns; /* released: the latency budget's peer stage ends */
		if (status != 0) {
			r->status = (int8_t)status;
			wal_count(&w->ctr.unacked_completions, 1);
		}
		wal_complete_one(w, r);
	}
	h->count -= b->n;
	atomic_fetch_sub_explicit(&w->ctr.holding, b->n, memory_order_relaxed);
	h->bhead = (h->bhead + 1) % h->cap;
	h->bcount--;
	if (held_us > wal_read_count(&w->ctr.hold_max_us))
		atomic_store_explicit(&w->ctr.hold_max_us, held_us, memory_order_relaxed);
}

/* Completes the held batches the peer acknowledged, or all of them when the gate is off;
 * stopping, those still unacknowledged after WAL_STOP_HOLD_US with -ENOTCONN. */
static void
wal_hold_release(struct rc_wal *w, bool stopping)
{
	struct wal_hold *h = &w->hold;
	bool gate = rc_wal_peer_gate(w);
	uint64_t acked = rc_wal_peer_acked_lsn(w), now;

	if (!gate && h->bcount == 0) /* everything committed was completed without the peer */
		wal_raise(&w->acked_alone, rc_wal_last_lsn(w));
	if (h->bcount == 0) {
		h->stop_since_us = 0;
		return;
	}
	now = rc_mono_us();
	if (stopping && h->stop_since_us == 0)
		h->stop_since_us = now;
	while (h->bcount > 0) {
		int status = 0;

		if (gate && h->b[h->bhead].lsn > acked) {
			if (!stopping || now - h->stop_since_us < WAL_STOP_HOLD_US)
				break;
			status = -ENOTCONN;
		}
		wal_hold_pop(w, now, status);
	}
	wal_bells_flush(w);
}

/* A committed part of a batch: complete it, or hold it while the gate is on (or older
 * batches are still held: completions stay in order). The caller made room for it. */
static void
wal_done(struct rc_wal *w, struct rc_wal_rec **recs, unsigned n)
{
	struct wal_hold *h = &w->hold;
	int fd = atomic_load_explicit(&w->notify_fd, memory_order_relaxed);
	uint64_t one = 1, now = rc_mono_ns();

	for (unsigned i = 0; i < n; i++) /* the latency budget (handoff.h) */
		recs[i]->t.committed = recs[i]->t.completed = now;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
		/* a full counter still wakes the reader */
	}
	if (!rc_wal_peer_gate(w) && h->bcount == 0) {
		wal_raise(&w->acked_alone, rc_wal_last_lsn(w)); /* before the ACKs go out */
		wal_complete(w, recs, n, 0);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		h->recs[(h->head + h->count + i) % h->cap] = recs[i];
	h->b[(h->bhead + h->bcount) % h->cap] = (struct wal_held_batch){
		.lsn = rc_wal_last_lsn(w), .t_us = rc_mono_us(), .n = n };
	h->count += n;
	h->bcount++;
	wal_count(&w->ctr.holding, n);
	wal_count(&w->ctr.held_records, n);
	wal_count(&w->ctr.held_batches, 1);
	wal_hold_release(w, wal_stopping(w));
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
			wal_done(w, recs + done, k);
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
	bool pending;

	wal_wlock(w);
	if (w->space_stale)
		wal_update_full(w, true);
	pending = wal_maint_pending(w, stopping);
	wal_wunlock(w);
	if (!pending)
		return false;
	now = rc_mono_us();
	if (now < w->maint_after_us)
		return false;
	if (wal_maintain(w, WAL_TRIM_CHUNK) != 0) {
		w->maint_after_us = now + WAL_MAINT_RETRY_US;
		return false;
	}
	return true;
}

/* Whether the writer has work a producer or the peer's ack has given it since it last
 * looked: records it can take, or the oldest held batch acknowledged. */
static bool
wal_has_input(struct rc_wal *w)
{
	const struct wal_hold *h = &w->hold;

	if (wal_hold_room(w) >= w->batch_max && !rte_ring_empty(w->ring))
		return true;
	return h->bcount > 0 && (!rc_wal_peer_gate(w) ||
				 h->b[h->bhead].lsn <= rc_wal_peer_acked_lsn(w));
}

/* Nothing to do: block on the bell for at most us (see doorbell.h for the last look); a
 * stop request is news unless the loop saw it already (stopping). */
static void
wal_wait(struct rc_wal *w, unsigned us, bool stopping)
{
	rc_bell_arm(&w->bell);
	if (wal_has_input(w) || (!stopping && wal_stopping(w)))
		rc_bell_disarm(&w->bell);
	else
		rc_bell_wait(&w->bell, us);
}

static void *
wal_writer_main(void *arg)
{
	struct rc_wal *w = arg;

	for (;;) {
		/* read the flag before the ring: a record enqueued before the stop request
		 * is then seen by this dequeue */
		bool stopping = wal_stopping(w);
		unsigned room, n = 0;

		wal_hold_release(w, stopping);
		room = RTE_MIN(wal_hold_room(w), w->batch_max);
		if (room == w->batch_max)
			n = rte_ring_dequeue_burst(w->ring, (void **)w->batch, room, NULL);
		if (n > 0) {
			uint64_t now = rc_mono_ns();

			for (unsigned i = 0; i < n; i++) /* the latency budget (handoff.h) */
				w->batch[i]->t.dequeued = now;
			wal_write_batch(w, w->batch, n);
		}
		else if (room < w->batch_max)
			wal_wait(w, WAL_IDLE_SLEEP_US, stopping); /* the hold is full: wait for acks */
		else if (wal_idle_work(w, stopping))
			continue;
		else if (stopping && w->hold.bcount == 0)
			break;
		else
			wal_wait(w, w->hold.bcount > 0 ? WAL_IDLE_SLEEP_US : WAL_IDLE_WAIT_US,
				 stopping);
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
	rc_bell_kick(&w->bell);
	pthread_join(w->thread, NULL);
	w->running = false;
}

int
rc_wal_commit_now(struct rc_wal *w, struct rc_wal_rec **recs, unsigned n)
{
	int rc;

	if (w->running)
		return -EBUSY;
	if (n > 0) {
		rc = wal_txn_write(w, recs, n);
		if (rc == 0 && !rc_wal_peer_gate(w))
			wal_raise(&w->acked_alone, rc_wal_last_lsn(w));
		return rc;
	}
	return wal_maint_pending(w, false) ? wal_maintain(w, WAL_TRIM_CHUNK) : 0;
}

int
rc_wal_set_completion_bell(struct rc_wal *w, unsigned idx, struct rc_bell *bell)
{
	if (idx >= RC_WAL_MAX_COMPLETIONS)
		return -EINVAL;
	if (w->running)
		return -EBUSY;
	w->completion_bells[idx] = bell;
	return 0;
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
		room = rr == 0 ? rc_get_be32(rk.mv_data) : UINT32_MAX;
		mroom = mr == 0 ? rc_get_be32(mk.mv_data) : UINT32_MAX;
		if (rr == 0 && (mr != 0 || room <= mroom)) {
			rc = wal_log_append(w, t, RC_WAL_ROOM, room, 0, rv.mv_size);
			rr = mdb_cursor_get(rooms, &rk, &rv, MDB_NEXT);
			continue;
		}
		seq = rc_get_be64((const uint8_t *)mk.mv_data + 4);
		rc = wal_log_append(w, t, RC_WAL_MSG, mroom, seq, mv.mv_size);
		mr = mdb_cursor_get(msgs, &mk, &mv, MDB_NEXT);
		if (rc == 0 && (mr != 0 || rc_get_be32(mk.mv_data) != mroom))
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
		version = rc_get_be32(val.mv_data);
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
	/* version 2 -> 3 changes nothing stored (a room's flags byte is new, and optional) */
	if (version != 2) {
		rc = wal_migrate_v1(w, txn, err, errlen); /* version 1, or a new environment */
		if (rc != 0)
			return rc;
	}
	rc_put_be32(buf, RC_WAL_SCHEMA_VERSION);
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
					     RC_WAL_DB_LOG, RC_WAL_DB_SEQS, RC_WAL_DB_DKEYS };
	MDB_dbi *dbis[] = { &w->meta, &w->rooms, &w->msgs, &w->log, &w->seqs, &w->dkeys };
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
	/* a buffer written before "dkeys" existed (or with keep_per_room 0): fill it */
	{
		MDB_stat dk, ms;

		if (w->keep_per_room > 0 && mdb_stat(txn, w->dkeys, &dk) == 0 &&
		    mdb_stat(txn, w->msgs, &ms) == 0 && dk.ms_entries == 0 && ms.ms_entries > 0 &&
		    (rc = wal_dkeys_backfill(w, txn)) != 0) {
			wal_errf(err, errlen, "wal: fill the re-sent POST keys: %s", strerror(-rc));
			mdb_txn_abort(txn);
			return rc;
		}
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

static int
wal_state_load(struct rc_wal *w, char *err, size_t errlen)
{
	int rc = wal_log_state_load(w);

	if (rc == 0)
		rc = wal_repl_state_load(w);
	if (rc != 0)
		wal_errf(err, errlen, "wal: read the commit log: %s", strerror(-rc));
	return rc;
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
	if (w->batch == NULL || w->seqbuf == NULL ||
	    wal_hold_init(w, RTE_MAX(c->peer_hold_max != 0 ? c->peer_hold_max : c->ring_size,
				     c->batch_max)) != 0) {
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
	atomic_init(&w->notify_fd, -1);
	if (rc_bell_init(&w->bell) != 0) {
		wal_errf(err, errlen, "wal: eventfd: %s", strerror(errno));
		free(w);
		return NULL;
	}
	if (pthread_mutex_init(&w->wlock, NULL) != 0) {
		wal_errf(err, errlen, "wal: mutex: out of memory");
		rc_bell_fini(&w->bell);
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	w->wlock_ok = true;
	w->high_water_pct = conf->high_water_pct;
	w->batch_max = conf->batch_max;
	w->keep_records = conf->keep_records;
	w->keep_per_room = conf->keep_per_room;
	w->peer_keep_records = conf->peer_keep_records;
	w->strict_seq = conf->strict_seq;
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
	wal_hold_free(w);
	if (w->wlock_ok)
		pthread_mutex_destroy(&w->wlock);
	rc_bell_fini(&w->bell);
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

struct rc_bell *
rc_wal_bell(struct rc_wal *w)
{
	return &w->bell;
}

/* ---- statistics ---- */

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
	if (mdb_stat(txn, w->dkeys, &ms) == 0)
		st->dedup_keys = ms.ms_entries;
	if (st->backlog_records > 0)
		st->oldest_undrained_ms = wal_oldest_undrained(w, txn, st->drained_lsn);
	mdb_txn_abort(txn);
}

void
rc_wal_get_stats(struct rc_wal *w, struct rc_wal_stats *st)
{
	uint64_t drained = rc_wal_drained_lsn(w), last = RTE_MAX(rc_wal_last_lsn(w), drained);
	struct wal_space s;
	unsigned flags;

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
		.seq_gaps_refused = wal_read_count(&w->ctr.seq_gaps_refused),
		.peer_trimmed = wal_read_count(&w->ctr.peer_trimmed),
		.writer_start = rc_wal_writer_start(w),
		.peer_acked_lsn = rc_wal_peer_acked_lsn(w),
		.held_batches = wal_read_count(&w->ctr.held_batches),
		.held_records = wal_read_count(&w->ctr.held_records),
		.holding = wal_read_count(&w->ctr.holding),
		.hold_max_us = wal_read_count(&w->ctr.hold_max_us),
		.unacked_completions = wal_read_count(&w->ctr.unacked_completions),
		.applied = wal_read_count(&w->ctr.applied),
		.truncated = wal_read_count(&w->ctr.truncated),
		.resets = wal_read_count(&w->ctr.resets),
	};
	if (mdb_env_get_flags(w->env, &flags) == 0)
		st->nosync = (flags & MDB_NOSYNC) != 0;
	if (wal_space_get(w, &s, true) == 0) {
		st->map_size = s.map_size;
		st->map_used = s.end - s.free;
		st->map_free = s.free;
	}
	wal_stats_db(w, st);
}
