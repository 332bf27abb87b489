/* SPDX-License-Identifier: MIT */
/*
 * The write-ahead buffer: one LMDB environment per node and the group-commit writer thread
 * that is the only one to write it while it runs.
 *
 * The on-disk layout (schema version 1: "meta", "rooms", "msgs") is wal_format.h's; a build
 * refuses an environment whose schema version is newer than its own. One rc_wal owns a
 * directory: an exclusive flock() on roomcast.lock refuses a second opener (-EBUSY), in
 * this process or another.
 *
 * Threads:
 *  - writer ("rc-wal", a control thread off the worker cores): dequeues bursts of at most
 *    batch_max records from the MP/SC input ring, writes them in one transaction, commits
 *    (synced unless nosync), sets rec->status and enqueues every record on its completion
 *    ring, in input order. A failed commit is counted and retried with back-off, the same
 *    records in memory; MDB_MAP_FULL halves the batch first so that what fits goes in. A
 *    record only completes with an error when that record alone is wrong: -EEXIST for a
 *    (room, seq) or room already stored, -EINVAL for a malformed record. Exception: once
 *    rc_wal_stop() runs, a commit still failing after 1 s completes its records with the
 *    error (none of them was acknowledged), so that stopping always ends.
 *  - rc_wal_commit_now(): the same write from the caller's thread, when the writer is not
 *    running.
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

struct wal_counters {
	_Atomic uint64_t commits;
	_Atomic uint64_t records;
	_Atomic uint64_t bytes;
	_Atomic uint64_t commit_errors;
	_Atomic uint64_t max_batch;
	_Atomic uint64_t lost_completions;
};

struct rc_wal {
	int lock_fd; /* flock()ed: one owner per directory */
	MDB_env *env;
	MDB_dbi rooms;
	MDB_dbi msgs;
	MDB_dbi meta;
	uint64_t psize;
	uint64_t map_size;
	unsigned high_water_pct;
	unsigned batch_max;
	struct rte_ring *ring;
	struct rte_mempool *pool;
	struct rte_ring *completions[RC_WAL_MAX_COMPLETIONS];
	struct rc_wal_rec **batch;
	pthread_t thread;
	bool running;
	atomic_bool stopping;
	atomic_bool full;
	struct wal_counters ctr;
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

/* ---- the write path ---- */

/* Puts one record and sets its status. Returns 0, or -errno when the transaction failed
 * (it must then be aborted). */
static int
wal_put_rec(struct rc_wal *w, MDB_txn *txn, struct rc_wal_rec *r, uint64_t *bytes)
{
	uint8_t kbuf[RC_WAL_MSG_KEY_LEN], vbuf[RC_WAL_VAL_MAX];
	MDB_val key = { .mv_data = kbuf }, val = { .mv_data = vbuf };
	MDB_dbi dbi;
	int rc;

	r->status = (int8_t)rc_wal_rec_check(r);
	if (r->status != 0)
		return 0;
	if (r->kind == RC_WAL_MSG) {
		key.mv_size = rc_wal_msg_key(kbuf, r->room_id, r->seq);
		val.mv_size = rc_wal_msg_val(vbuf, r);
		dbi = w->msgs;
	} else {
		key.mv_size = rc_wal_room_key(kbuf, r->room_id);
		val.mv_size = rc_wal_room_val(vbuf, r);
		dbi = w->rooms;
	}
	rc = mdb_put(txn, dbi, &key, &val, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		r->status = -EEXIST;
		return 0;
	}
	if (rc != 0)
		return wal_err(rc);
	*bytes += val.mv_size;
	return 0;
}

/* Sets or clears `full` from the map's last page, with hysteresis. */
static void
wal_update_full(struct rc_wal *w)
{
	unsigned low = w->high_water_pct > WAL_HYSTERESIS_PCT ?
			       w->high_water_pct - WAL_HYSTERESIS_PCT : 0;
	MDB_envinfo info;
	uint64_t used;

	if (mdb_env_info(w->env, &info) != 0)
		return;
	used = ((uint64_t)info.me_last_pgno + 1) * w->psize;
	if (used * 100 > (uint64_t)w->high_water_pct * info.me_mapsize)
		atomic_store_explicit(&w->full, true, memory_order_relaxed);
	else if (used * 100 < (uint64_t)low * info.me_mapsize)
		atomic_store_explicit(&w->full, false, memory_order_relaxed);
}

static void
wal_account(struct rc_wal *w, unsigned n, uint64_t stored, uint64_t bytes)
{
	wal_count(&w->ctr.commits, 1);
	wal_count(&w->ctr.records, stored);
	wal_count(&w->ctr.bytes, bytes);
	if (n > wal_read_count(&w->ctr.max_batch))
		atomic_store_explicit(&w->ctr.max_batch, n, memory_order_relaxed);
}

/* Puts recs in one transaction and commits it; on failure the transaction is gone. */
static int
wal_txn_put_all(struct rc_wal *w, struct rc_wal_rec **recs, unsigned n, uint64_t *stored,
		uint64_t *bytes)
{
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(w->env, NULL, 0, &txn);
	if (rc != 0)
		return wal_err(rc);
	for (unsigned i = 0; i < n; i++) {
		rc = wal_put_rec(w, txn, recs[i], bytes);
		if (rc != 0) {
			mdb_txn_abort(txn);
			return rc;
		}
		*stored += recs[i]->status == 0;
	}
	return wal_err(mdb_txn_commit(txn));
}

/* Writes recs in one transaction. 0: committed, every status set; else -errno, counted. */
static int
wal_txn_write(struct rc_wal *w, struct rc_wal_rec **recs, unsigned n)
{
	uint64_t bytes = 0, stored = 0;
	int rc = wal_txn_put_all(w, recs, n, &stored, &bytes);

	if (rc != 0) {
		wal_count(&w->ctr.commit_errors, 1);
		if (rc == -ENOSPC)
			atomic_store_explicit(&w->full, true, memory_order_relaxed);
		return rc;
	}
	wal_account(w, n, stored, bytes);
	wal_update_full(w);
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
	return n == 0 ? 0 : wal_txn_write(w, recs, n);
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
		rc = mdb_env_set_maxdbs(w->env, 4);
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

static int
wal_schema_check(MDB_txn *txn, MDB_dbi meta, char *err, size_t errlen)
{
	MDB_val key = { .mv_size = strlen(RC_WAL_SCHEMA_KEY), .mv_data = RC_WAL_SCHEMA_KEY }, val;
	uint8_t buf[4];
	uint32_t version;
	int rc;

	rc = mdb_get(txn, meta, &key, &val);
	if (rc == MDB_NOTFOUND) {
		rc_wal_put_be32(buf, RC_WAL_SCHEMA_VERSION);
		val = (MDB_val){ .mv_size = sizeof(buf), .mv_data = buf };
		rc = mdb_put(txn, meta, &key, &val, 0);
		if (rc != 0)
			wal_errf(err, errlen, "wal: write schema version: %s", mdb_strerror(rc));
		return wal_err(rc);
	}
	if (rc != 0) {
		wal_errf(err, errlen, "wal: read schema version: %s", mdb_strerror(rc));
		return wal_err(rc);
	}
	if (val.mv_size != sizeof(buf) || (version = rc_wal_get_be32(val.mv_data)) == 0) {
		wal_errf(err, errlen, "wal: schema version record is corrupt");
		return -EINVAL;
	}
	if (version > RC_WAL_SCHEMA_VERSION) {
		wal_errf(err, errlen,
			 "wal: schema version %u is newer than this build supports (%u); "
			 "run a newer roomcastd", version, RC_WAL_SCHEMA_VERSION);
		return -ENOTSUP;
	}
	return 0;
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
	rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &w->meta);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "rooms", MDB_CREATE, &w->rooms);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "msgs", MDB_CREATE, &w->msgs);
	if (rc != 0) {
		wal_errf(err, errlen, "wal: open databases: %s", mdb_strerror(rc));
		mdb_txn_abort(txn);
		return wal_err(rc);
	}
	rc = wal_schema_check(txn, w->meta, err, errlen);
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
	if (w->batch == NULL) {
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
	rc = wal_env_open(w, conf, err, errlen);
	if (rc == 0)
		rc = wal_schema_open(w, err, errlen);
	if (rc == 0)
		rc = wal_queues_create(w, conf, err, errlen);
	if (rc != 0) {
		rc_wal_close(w);
		errno = rc < 0 ? -rc : EIO;
		return NULL;
	}
	mdb_env_info(w->env, &info);
	w->map_size = info.me_mapsize;
	wal_update_full(w);
	return w;
}

void
rc_wal_close(struct rc_wal *w)
{
	if (w == NULL)
		return;
	rc_wal_stop(w);
	if (w->env != NULL)
		mdb_env_close(w->env);
	if (w->lock_fd >= 0)
		close(w->lock_fd);
	rte_ring_free(w->ring);
	rte_mempool_free(w->pool);
	free(w->batch);
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

/* Reports every room with its last seq; msgs is a cursor of the same transaction. */
static int
wal_rooms_walk(MDB_cursor *rooms, MDB_cursor *msgs,
	       int (*cb)(void *arg, const struct rc_wal_room *r), void *arg)
{
	char name[RC_MAX_ROOM + 1], creator[RC_MAX_USER + 1];
	MDB_val key, val, mkey, mval;
	struct rc_wal_room r;
	int rc;

	for (rc = mdb_cursor_get(rooms, &key, &val, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(rooms, &key, &val, MDB_NEXT)) {
		int ret = rc_wal_room_decode(key.mv_data, key.mv_size, val.mv_data, val.mv_size,
					     &r, name, creator);

		if (ret != 0)
			return ret;
		ret = wal_seek_last(msgs, r.room_id, UINT64_MAX, &mkey, &mval);
		if (ret != 0 && ret != MDB_NOTFOUND)
			return wal_err(ret);
		r.last_seq = ret == 0 ? rc_wal_get_be64((const uint8_t *)mkey.mv_data + 4) : 0;
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
	rc = wal_rooms_walk(rooms, msgs, cb, arg);
	mdb_cursor_close(msgs);
	wal_read_end(txn, rooms);
	return rc;
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
	mdb_txn_abort(txn);
}

void
rc_wal_get_stats(struct rc_wal *w, struct rc_wal_stats *st)
{
	MDB_envinfo info;

	*st = (struct rc_wal_stats){
		.commits = wal_read_count(&w->ctr.commits),
		.records = wal_read_count(&w->ctr.records),
		.bytes = wal_read_count(&w->ctr.bytes),
		.commit_errors = wal_read_count(&w->ctr.commit_errors),
		.max_batch = wal_read_count(&w->ctr.max_batch),
		.lost_completions = wal_read_count(&w->ctr.lost_completions),
		.map_size = w->map_size,
		.full = rc_wal_full(w),
	};
	if (mdb_env_info(w->env, &info) == 0) {
		st->map_size = info.me_mapsize;
		st->map_used = ((uint64_t)info.me_last_pgno + 1) * w->psize;
	}
	wal_stats_db(w, st);
}
