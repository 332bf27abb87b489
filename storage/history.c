/* SPDX-License-Identifier: MIT */
/*
 * The history thread: serves JOIN back-fill and FETCH from LMDB so that worker lcores never
 * open a transaction.
 *
 * Threads:
 *  - workers (any number) take a request from rc_history_pool(), fill it and enqueue it on
 *    rc_history_ring() (multi-producer); on failure they free it and count a drop.
 *  - the history thread ("rc-hist", a control thread off the worker cores) is the ring's
 *    only consumer. It serves requests one by one in ring order: an LMDB read transaction
 *    (rc_wal_read / rc_wal_read_last_to), ops->emit for every message, ops->end once, then
 *    it frees the request. The callbacks run on this thread; an emit that returns non-zero
 *    has not taken that message: the request ends there, and next_seq points at it.
 *    When the ring is empty it blocks on its doorbell (rc_history_bell: producers ring it
 *    after their enqueue; rc_history_stop too) for HIST_IDLE_WAIT_US at most.
 *  - rc_history_stop() serves what is queued, then joins. Counters are written by the
 *    history thread only and read relaxed.
 *  - with a database (rc_history_set_db): the history thread owns the libpq connection.
 *    A request then reads LMDB's part into a buffer first (one read transaction: a
 *    consistent view even while the writer trims), asks PostgreSQL for the part before it
 *    when there is one, and emits PostgreSQL's rows, then the buffer. Trimming only removes
 *    drained records, so PostgreSQL holds whatever LMDB lost (unless a cleanup deleted it:
 *    then it is gone from both, and the reply starts later).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "clock.h"
#include "doorbell.h"
#include "history.h"
#include "pgdb.h"

#define HIST_BURST 16
#define HIST_DB_APPNAME "roomcastd-history"
#define HIST_DB_BACKOFF_MIN_MS 1000u
#define HIST_DB_BACKOFF_MAX_MS 30000u
#define HIST_DB_FAST_FAIL_MS 100u /* a connection refused this fast costs the thread nothing */
#define HIST_IDLE_WAIT_US 50000 /* bounds the wait of a request whose producer did not ring */
#define HIST_POOL_SLACK 64 /* requests being filled by workers or served */

/* A message copied out of LMDB, for requests that may need PostgreSQL first. */
struct hist_msg {
	struct rc_wal_msg m;
	char user[RC_MAX_USER];
	char body[RC_MAX_BODY];
};

/* The PostgreSQL side; only the history thread touches it once started. */
struct hist_db {
	char *conninfo;
	struct rc_pgdb db;
	uint64_t retry_at_ms;
	unsigned backoff_ms;
	struct hist_msg *buf; /* RC_MAX_FETCH messages (a request's max is a u16: clamped) */
	unsigned nbuf;
};

struct rc_history {
	struct rc_wal *wal;
	struct rte_ring *ring;
	struct rte_mempool *pool;
	struct rc_history_ops ops;
	void *arg;
	pthread_t thread;
	bool running;
	atomic_bool stopping;
	struct rc_bell bell; /* the thread waits on it when the ring is empty */
	_Atomic uint64_t requests;
	_Atomic uint64_t messages;
	_Atomic uint64_t errors;
	_Atomic uint64_t db_requests;
	_Atomic uint64_t db_messages;
	_Atomic uint64_t db_errors;
	struct hist_db db;
};

/* One request being served: what the emit wrapper needs and what it found. */
struct hist_walk {
	struct rc_history *h;
	const struct rc_hist_req *req;
	unsigned count;
	uint64_t last_seq;
	bool refused; /* emit returned non-zero: the request ends */
};

static atomic_uint hist_instances;

static void
hist_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static int
hist_emit(void *arg, const struct rc_wal_msg *m)
{
	struct hist_walk *hw = arg;
	int rc = hw->h->ops.emit(hw->h->arg, hw->req, m);

	if (rc != 0) {
		hw->refused = true;
		return rc;
	}
	hw->count++;
	hw->last_seq = m->seq;
	return 0;
}

/* ---- with a database ---- */

/* Connected, or -EAGAIN (also while backing off after a failure). */
static int
hist_db_ready(struct rc_history *h)
{
	struct hist_db *d = &h->db;
	uint64_t now = rc_mono_ms_precise();
	int rc;

	if (rc_pgdb_ok(&d->db))
		return 0;
	if (now < d->retry_at_ms)
		return -EAGAIN;
	rc = rc_pgdb_connect(&d->db, d->conninfo, HIST_DB_APPNAME);
	if (rc == 0)
		rc = rc_pgdb_exec(&d->db, "SET statement_timeout = '5s'");
	if (rc == 0) {
		d->backoff_ms = HIST_DB_BACKOFF_MIN_MS;
		return 0;
	}
	rc_pgdb_close(&d->db);
	hist_count(&h->db_errors, 1);
	d->retry_at_ms = now + d->backoff_ms;
	/* The back-off protects the thread (which also serves LMDB's part of every request)
	 * from waiting connect_timeout again and again for a host that does not answer. A
	 * refusal that came at once (the server stopped, or no read-write server yet during a
	 * failover) costs nothing: keep trying every HIST_DB_BACKOFF_MIN_MS, so that history
	 * is served again soon after the database is back, however long it was away. */
	if (rc_mono_ms_precise() - now < HIST_DB_FAST_FAIL_MS)
		d->backoff_ms = HIST_DB_BACKOFF_MIN_MS;
	else
		d->backoff_ms = RTE_MIN(d->backoff_ms * 2, HIST_DB_BACKOFF_MAX_MS);
	return -EAGAIN;
}

/* A failed query: drop the connection (the next request reconnects after the back-off). */
static int
hist_db_failed(struct rc_history *h)
{
	struct hist_db *d = &h->db;

	rc_pgdb_close(&d->db);
	hist_count(&h->db_errors, 1);
	d->retry_at_ms = rc_mono_ms_precise() + d->backoff_ms;
	d->backoff_ms = RTE_MIN(d->backoff_ms * 2, HIST_DB_BACKOFF_MAX_MS);
	return -EAGAIN;
}

/* Emits row i of a messages query (seq, ts_ms, cmid, sender, body); a row that could not
 * have come from a drain (a sender or body over the protocol's limits) is skipped. */
static int
hist_db_emit_row(struct hist_walk *hw, PGresult *res, int i)
{
	int ul = PQgetlength(res, i, 3), bl = PQgetlength(res, i, 4);
	struct rc_wal_msg m = {
		.room_id = hw->req->room_id,
		.seq = strtoull(PQgetvalue(res, i, 0), NULL, 10),
		.ts_ms = strtoull(PQgetvalue(res, i, 1), NULL, 10),
		.cmid = (uint64_t)strtoll(PQgetvalue(res, i, 2), NULL, 10),
		.user = { PQgetvalue(res, i, 3), (uint16_t)ul },
		.body = { PQgetvalue(res, i, 4), (uint16_t)bl },
	};

	if (ul > RC_MAX_USER || bl > RC_MAX_BODY)
		return 0;
	return hist_emit(hw, &m);
}

/* The messages query of hist_db_read. 0 or -errno. */
static int
hist_db_query(struct rc_history *h, bool latest, const char *const *pm, PGresult **res)
{
	if (latest)
		return rc_pgdb_query(&h->db.db, "SELECT seq, ts_ms, cmid, sender, body FROM messages"
						" WHERE room = $1 AND seq BETWEEN $2 AND $3"
						" ORDER BY seq DESC LIMIT $4", 4, pm, res);
	return rc_pgdb_query(&h->db.db, "SELECT seq, ts_ms, cmid, sender, body FROM messages"
					" WHERE room = $1 AND seq BETWEEN $2 AND $3"
					" ORDER BY seq LIMIT $4", 4, pm, res);
}

/* Messages of the request's room from PostgreSQL: with latest, the last n with
 * seq <= hi (emitted oldest first); else lo <= seq <= hi, the first n. Returns 0 (the
 * messages emitted, or none when the room is unknown) or -EAGAIN. */
static int
hist_db_read(struct hist_walk *hw, bool latest, uint64_t lo, uint64_t hi, unsigned n)
{
	struct rc_history *h = hw->h;
	char room[RC_MAX_ROOM + 1], a[24], b[24], c[24];
	const char *pm[4] = { room, a, b, c };
	PGresult *res;
	int rc, rows;

	/* By name: a room created again under a deleted room's name shares its rows' key.
	 * PostgreSQL is asked only for seqs up to the room's last committed one that LMDB no
	 * longer holds: trimmed, so drained, and the deletion (earlier in the log) with them. */
	if (rc_wal_room_name(h->wal, hw->req->room_id, room, sizeof(room)) != 0)
		return 0;
	hist_count(&h->db_requests, 1);
	snprintf(a, sizeof(a), "%" PRIu64, RTE_MIN(lo, (uint64_t)INT64_MAX));
	snprintf(b, sizeof(b), "%" PRIu64, RTE_MIN(hi, (uint64_t)INT64_MAX));
	snprintf(c, sizeof(c), "%u", n);
	/* A connection made for an earlier request may have died since (the server restarted,
	 * or the database failed over to its standby): that is found out only now. Then
	 * reconnect at once (a multi-host conninfo finds the new primary) and ask again,
	 * once, rather than answer busy with a database that is up. */
	for (bool reused = rc_pgdb_ok(&h->db.db);; reused = false) {
		if (hist_db_ready(h) != 0)
			return -EAGAIN;
		rc = hist_db_query(h, latest, pm, &res);
		if (rc == 0)
			break;
		if (!reused || rc != -ECONNRESET)
			return hist_db_failed(h);
		rc_pgdb_close(&h->db.db);
		hist_count(&h->db_errors, 1);
	}
	rows = PQntuples(res);
	for (int k = 0; k < rows && !hw->refused; k++)
		hist_db_emit_row(hw, res, latest ? rows - 1 - k : k);
	hist_count(&h->db_messages, (uint64_t)rows);
	PQclear(res);
	return 0;
}

static int
hist_buf_add(void *arg, const struct rc_wal_msg *m)
{
	struct hist_db *d = arg;
	struct hist_msg *b = &d->buf[d->nbuf++];

	b->m = *m;
	b->m.user.len = RTE_MIN(m->user.len, (uint16_t)RC_MAX_USER);
	b->m.body.len = RTE_MIN(m->body.len, (uint16_t)RC_MAX_BODY);
	memcpy(b->user, m->user.p, b->m.user.len);
	memcpy(b->body, m->body.p, b->m.body.len);
	b->m.user.p = b->user;
	b->m.body.p = b->body;
	return 0;
}

/* Emits the buffered LMDB messages, max in all with what was emitted before. */
static void
hist_buf_emit(struct hist_walk *hw, unsigned max)
{
	const struct hist_db *d = &hw->h->db;

	for (unsigned i = 0; i < d->nbuf && !hw->refused && hw->count < max; i++)
		hist_emit(hw, &d->buf[i].m);
}

static int
hist_db_latest(struct hist_walk *hw, unsigned max)
{
	const struct rc_hist_req *r = hw->req;
	struct hist_db *d = &hw->h->db;
	uint64_t hi;
	int rc;

	d->nbuf = 0;
	rc = rc_wal_read_last_to(hw->h->wal, r->room_id, r->to_seq, max, hist_buf_add, d);
	if (rc < 0)
		return rc;
	hi = d->nbuf > 0 ? d->buf[0].m.seq - 1 : r->to_seq;
	if (d->nbuf < max && hi > 0)
		hist_db_read(hw, true, 1, hi, max - d->nbuf); /* unreachable: LMDB's part only */
	hist_buf_emit(hw, max);
	return 0;
}

static int
hist_db_range(struct hist_walk *hw, unsigned max)
{
	const struct rc_hist_req *r = hw->req;
	struct hist_db *d = &hw->h->db;
	uint64_t hi;
	int rc;

	d->nbuf = 0;
	rc = rc_wal_read(hw->h->wal, r->room_id, r->from_seq, r->to_seq, max, hist_buf_add, d);
	if (rc < 0)
		return rc;
	if (max > 0 && r->from_seq <= r->to_seq &&
	    (d->nbuf == 0 || d->buf[0].m.seq > r->from_seq)) {
		hi = d->nbuf > 0 ? d->buf[0].m.seq - 1 : r->to_seq;
		rc = hist_db_read(hw, false, r->from_seq, hi, max);
		if (rc != 0)
			return rc;
	}
	hist_buf_emit(hw, max);
	return 0;
}

/* ---- serving ---- */

static int
hist_read(struct hist_walk *hw)
{
	const struct rc_hist_req *r = hw->req;
	bool db = hw->h->db.conninfo != NULL;
	unsigned max = RTE_MIN((unsigned)r->max, (unsigned)RC_MAX_FETCH);

	switch (r->kind) {
	case RC_HIST_LATEST:
		if (db)
			return hist_db_latest(hw, max);
		return rc_wal_read_last_to(hw->h->wal, r->room_id, r->to_seq, r->max, hist_emit,
					   hw);
	case RC_HIST_RANGE:
		if (db)
			return hist_db_range(hw, max);
		return rc_wal_read(hw->h->wal, r->room_id, r->from_seq, r->to_seq, r->max,
				   hist_emit, hw);
	default:
		return -EINVAL;
	}
}

static void
hist_serve(struct rc_history *h, const struct rc_hist_req *r)
{
	struct hist_walk hw = { .h = h, .req = r };
	int rc = hist_read(&hw);

	hist_count(&h->requests, 1);
	hist_count(&h->messages, hw.count);
	if (rc < 0)
		hist_count(&h->errors, 1);
	h->ops.end(h->arg, r, hw.count, hw.count > 0 ? hw.last_seq + 1 : r->from_seq,
		   rc < 0 ? rc : 0);
}

/* The ring was empty: block on the bell unless a request or the stop came meanwhile. */
static void
hist_wait(struct rc_history *h)
{
	rc_bell_arm(&h->bell);
	if (!rte_ring_empty(h->ring) || atomic_load_explicit(&h->stopping, memory_order_acquire))
		rc_bell_disarm(&h->bell);
	else
		rc_bell_wait(&h->bell, HIST_IDLE_WAIT_US);
}

static void *
hist_main(void *arg)
{
	struct rc_history *h = arg;
	struct rc_hist_req *reqs[HIST_BURST];

	for (;;) {
		/* the flag first: requests enqueued before the stop are then seen below */
		bool stopping = atomic_load_explicit(&h->stopping, memory_order_acquire);
		unsigned n = rte_ring_dequeue_burst(h->ring, (void **)reqs, HIST_BURST, NULL);

		for (unsigned i = 0; i < n; i++) {
			hist_serve(h, reqs[i]);
			rte_mempool_put(h->pool, reqs[i]);
		}
		if (n == 0 && stopping)
			break;
		if (n == 0)
			hist_wait(h);
	}
	return NULL;
}

static int
hist_queues_create(struct rc_history *h, unsigned ring_size, int socket_id)
{
	unsigned id = atomic_fetch_add(&hist_instances, 1);
	char name[RTE_MEMPOOL_NAMESIZE];

	snprintf(name, sizeof(name), "rc_hist_in%u", id);
	h->ring = rte_ring_create(name, ring_size, socket_id, RING_F_SC_DEQ | RING_F_EXACT_SZ);
	if (h->ring == NULL)
		return -rte_errno;
	snprintf(name, sizeof(name), "rc_hist_req%u", id);
	h->pool = rte_mempool_create(name, ring_size + HIST_POOL_SLACK,
				     sizeof(struct rc_hist_req), 0, 0, NULL, NULL, NULL, NULL,
				     socket_id, 0);
	if (h->pool == NULL)
		return -rte_errno;
	return 0;
}

struct rc_history *
rc_history_create(struct rc_wal *w, unsigned ring_size, int socket_id,
		  const struct rc_history_ops *ops, void *arg)
{
	struct rc_history *h;
	int rc;

	if (w == NULL || ring_size == 0 || ops == NULL || ops->emit == NULL ||
	    ops->end == NULL) {
		errno = EINVAL;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->wal = w;
	h->ops = *ops;
	h->arg = arg;
	h->bell.fd = -1;
	rc = rc_bell_init(&h->bell);
	if (rc == 0)
		rc = hist_queues_create(h, ring_size, socket_id);
	if (rc != 0) {
		rc_history_destroy(h);
		errno = -rc;
		return NULL;
	}
	return h;
}

int
rc_history_start(struct rc_history *h)
{
	int rc;

	if (h->running)
		return -EALREADY;
	atomic_store(&h->stopping, false);
	rc = rte_ctrl_thread_create(&h->thread, "rc-hist", NULL, hist_main, h);
	if (rc != 0)
		return rc < 0 ? rc : -rc;
	h->running = true;
	return 0;
}

void
rc_history_stop(struct rc_history *h)
{
	if (h == NULL || !h->running)
		return;
	atomic_store_explicit(&h->stopping, true, memory_order_release);
	rc_bell_kick(&h->bell);
	pthread_join(h->thread, NULL);
	h->running = false;
}

int
rc_history_set_db(struct rc_history *h, const char *conninfo)
{
	struct hist_db *d = &h->db;

	if (h->running)
		return -EBUSY;
	rc_pgdb_close(&d->db);
	free(d->conninfo);
	d->conninfo = NULL;
	if (conninfo == NULL || conninfo[0] == '\0')
		return 0;
	if (d->buf == NULL)
		d->buf = malloc(sizeof(*d->buf) * RC_MAX_FETCH);
	d->conninfo = strdup(conninfo);
	if (d->buf == NULL || d->conninfo == NULL) {
		free(d->conninfo);
		d->conninfo = NULL;
		return -ENOMEM;
	}
	d->backoff_ms = HIST_DB_BACKOFF_MIN_MS;
	d->retry_at_ms = 0;
	return 0;
}

/* Stops the thread; requests still queued (enqueued after the stop) are freed unserved. */
void
rc_history_destroy(struct rc_history *h)
{
	void *req;

	if (h == NULL)
		return;
	rc_history_stop(h);
	while (h->ring != NULL && rte_ring_dequeue(h->ring, &req) == 0)
		rte_mempool_put(h->pool, req);
	rte_ring_free(h->ring);
	rte_mempool_free(h->pool);
	rc_pgdb_close(&h->db.db);
	if (h->db.conninfo != NULL)
		explicit_bzero(h->db.conninfo, strlen(h->db.conninfo));
	explicit_bzero(h->db.db.conninfo, sizeof(h->db.db.conninfo));
	free(h->db.conninfo);
	free(h->db.buf);
	rc_bell_fini(&h->bell);
	free(h);
}

struct rte_mempool *
rc_history_pool(struct rc_history *h)
{
	return h->pool;
}

struct rte_ring *
rc_history_ring(struct rc_history *h)
{
	return h->ring;
}

struct rc_bell *
rc_history_bell(struct rc_history *h)
{
	return &h->bell;
}

void
rc_history_get_stats(struct rc_history *h, struct rc_history_stats *st)
{
	*st = (struct rc_history_stats){
		.requests = atomic_load_explicit(&h->requests, memory_order_relaxed),
		.messages = atomic_load_explicit(&h->messages, memory_order_relaxed),
		.errors = atomic_load_explicit(&h->errors, memory_order_relaxed),
		.db_requests = atomic_load_explicit(&h->db_requests, memory_order_relaxed),
		.db_messages = atomic_load_explicit(&h->db_messages, memory_order_relaxed),
		.db_errors = atomic_load_explicit(&h->db_errors, memory_order_relaxed),
	};
}
