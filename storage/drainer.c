/* SPDX-License-Identifier: MIT */
/*
 * The drainer: the WAL's commit log -> the group's PostgreSQL database, in LSN order, in
 * batches, exactly once (per (room, seq)).
 *
 * One batch:
 *   read up to batch_max log records after the drained marker, up to the drain ceiling
 *      (rc_wal_drain_ceiling: what the HA peer holds or what was acknowledged without it),
 *      copied out with their exact lengths and checked (rc_wal_rec_storable)
 *   -> resolve room names (a cache of room_id -> name; names never change)
 *   -> one PostgreSQL transaction, SET LOCAL synchronous_commit = on:
 *        rooms created in the batch        upsert (blanks filled, nothing overwritten)
 *        messages                          COPY: streamed straight into messages inside
 *                                          a savepoint (the usual case: no key is there
 *                                          yet); on a unique violation, back to the
 *                                          savepoint, then COPY into the temp table
 *                                          rc_staging and INSERT ... SELECT ... ON
 *                                          CONFLICT DO NOTHING
 *                                          PIPELINE: one prepared INSERT ... ON CONFLICT
 *                                          DO NOTHING per row, pipelined
 *        if fewer rows went in than were sent: the rows whose key holds a DIFFERENT message
 *        (cmid or sender differ) become drain_alarms rows (the new message kept whole) and
 *        count as conflicts; equal rows are a re-drain and count as drained
 *        records PostgreSQL cannot hold    drain_dead_letters rows (exact bytes, why), in
 *        or refused alone                  place of messages / rooms rows
 *        rooms.next_seq                    greatest(existing, max seq of the batch + 1)
 *        drain_state(node)                 the batch's last LSN
 *      COMMIT
 *   -> rc_wal_set_drained(last LSN). Only now.
 *
 * Method COPY keeps one batch in flight: it has two connections and uses them in turns.
 * Batch k's end (rooms, next_seq, drain_state, COMMIT) is sent in one pipeline and not
 * waited for; batch k+1 is read and streamed on the other connection while the server
 * syncs k's commit; only then is k's answer read (and k marked drained), and only after
 * that is k+1's end sent. So the commits stay in LSN order, each batch commits only after
 * all before it did, a failure anywhere closes both connections (what was in flight is
 * sorted out at the next connection, as after a crash), and the synced COMMIT, which
 * otherwise leaves the server idle at the end of every batch, overlaps the next COPY.
 * The pending batch is also waited for when there is nothing new to send, before a
 * cleanup chunk, at the end of rc_drainer_drain_now() and when the thread stops.
 *
 * The markers: LMDB's (rc_wal_drained_lsn) and drain_state's, written in the same PostgreSQL
 * transaction as the rows. After a crash between COMMIT and rc_wal_set_drained() LMDB's is
 * behind: at each connection the drainer adopts drain_state's when it is ahead, but only if
 * the log record at that LSN is in the database (a drain_state row left by another WAL of
 * the same node id is ignored). A re-drain of rows already present inserts nothing.
 *
 * Failures: a failed connection or batch closes the connections, counts an error, keeps
 * its text in the stats, and retries after a back-off (retry_min_ms doubling up to
 * retry_max_ms; reset by a committed batch). Nothing is marked drained unless committed.
 * A batch refused for its data (rc_pgdb_data_error: SQLSTATE classes 22, 23 but 23505, 54)
 * dead_letter_after times in a row is narrowed down (drain_isolate): half the records per
 * batch at each further refusal, no back-off, until the refused record is alone; it is
 * then written to drain_dead_letters with the server's error (poison_lsn) and the batches
 * grow back. So the drain never wedges on a row, and every other record goes in, in order.
 * Connections are named "roomcastd-drainer rooms:NODE eEPOCH" so that a takeover can end
 * the old term's backends (schema.c, version 3).
 * A database whose schema is newer than this binary is retried at the back-off cap (and
 * never written).
 *
 * Cleanup (rc_drainer_request_cleanup): DELETE of messages with ts_ms before the cutoff,
 * 10000 rows per statement (one transaction each), one chunk per loop between batches.
 *
 * Threads: the drainer thread ("rc-drain") owns the connections, the room cache and the
 * buffers; rc_drainer_drain_now() uses them from the caller instead (never both).
 * rc_drainer_get_stats() and rc_drainer_request_cleanup() are safe from any thread (a mutex
 * guards the stats, an atomic holds the cleanup request). Nothing here logs.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <rte_common.h>
#include <rte_lcore.h>

#include "drainer.h"
#include "lease.h"
#include "schema.h"
#include "wal_valid.h"

#define DRAIN_APPNAME "roomcastd-drainer" /* + " SCOPE eEPOCH": schema.c, version 3 */
#define DRAIN_CLEANUP_CHUNK 10000
#define DRAIN_PL_CHUNK 512 /* pipelined rows between two reads of their results */
#define DRAIN_STREAM_CHUNK 1000 /* records read from LMDB per COPY chunk */
#define DRAIN_STREAM_FIRST 200  /* the first chunk: small, the server idles until it comes */
#define DRAIN_SNDBUF (2 << 20)  /* bytes of socket send buffer, local connections */
#define DRAIN_SLEEP_SLICE_MS 10
#define DRAIN_ROOMS_INIT 256

/* One log record, copied out of LMDB, with its exact lengths (a NUL byte in a body is
 * data, not an end). */
struct drain_rec {
	uint64_t lsn;
	uint64_t seq;
	uint64_t ts_ms;
	uint64_t cmid;
	uint32_t room_id;
	uint8_t kind;
	uint8_t user_len;
	uint16_t body_len;  /* bytes in body (at most RC_MAX_BODY: see body_cut) */
	uint16_t body_cut;  /* bytes of the stored body beyond RC_MAX_BODY (not copied) */
	const char *room;   /* the room's name (room cache; stable) */
	uint16_t room_len;  /* its bytes (strlen for a storable name) */
	const char *bad;    /* NULL, or why it goes to drain_dead_letters instead */
	const char *bad_state; /* its SQLSTATE ("" for our own checks) */
	char user[256];     /* the log's u8 length: any stored length fits */
	char body[RC_MAX_BODY + 1]; /* message body, or the room's name; NUL-terminated too */
};

/* room_id -> name; open addressing, grows, never evicts. `gen`/`max_seq` aggregate the
 * current batch, `rgen` dedups the batch's room records. */
struct room_slot {
	uint32_t id;
	bool used;
	char *name;
	uint64_t gen;
	uint64_t rgen;
	uint64_t max_seq;
	bool bad_name; /* its ROOM record's name cannot be stored (NUL, not UTF-8, length) */
	uint16_t name_len; /* bytes of name (a bad one may hold a NUL) */
};

struct room_cache {
	struct room_slot *slots;
	unsigned cap; /* power of two */
	unsigned n;
};

/* A growable byte buffer (COPY data, array literals). */
struct sbuf {
	char *p;
	size_t len;
	size_t cap;
};

/* Results expected back, in order: what each is. */
enum pl_tag { PL_OTHER = -1, PL_SYNC = -2, PL_DEAD = -3 };

struct pl {
	struct rc_pgdb *db; /* the connection the queries went to */
	int *tags; /* >= 0: index of the message in d->recs */
	unsigned sent;
	unsigned got;
	bool *missed; /* per record: its INSERT found the key taken */
	uint64_t rows; /* sum of the row counts of rc_alarm */
	uint64_t dead; /* rows added to drain_dead_letters */
};

/* A batch whose COMMIT was sent and not answered yet (method COPY): the next batch is
 * streamed on the other connection meanwhile, and finished only after this one committed. */
struct drain_pending {
	struct pl pl; /* pl.db: its connection; NULL when nothing is pending */
	int tags[8];
	uint64_t lsn; /* its last LSN */
	uint64_t first; /* its first LSN */
	unsigned nrecs;
	uint64_t alarms;
	unsigned dead; /* dead letters in it */
};

struct rc_drainer {
	struct rc_wal *wal;
	struct rc_drainer_conf conf;
	char *conninfo;
	char *node_id;
	char appname[64]; /* DRAIN_APPNAME " rooms:NODE eEPOCH" (schema.c, version 3) */
	uint64_t ceiling; /* the batch being read stops before LSNs above this */
	/* isolating a record the database refuses (see "Dead letters" above) */
	uint64_t fail_lsn;  /* first LSN of the batch that failed with a data error */
	unsigned fail_n;    /* its consecutive data-error failures */
	unsigned limit;     /* records per batch while isolating (0: batch_max) */
	uint64_t poison_lsn; /* a record the database refused alone: dead-lettered next */
	char poison_err[300];
	char poison_state[6];
	char failed_state[6]; /* SQLSTATE of the last failure (copied from its connection) */
	uint64_t failed_first; /* first LSN and size of the batch that failed last */
	unsigned failed_n;
	unsigned nbad;      /* records of the batch going to drain_dead_letters */
	bool retry_now;     /* isolating: the next try without a back-off */
	struct rc_pgdb conns[2]; /* method COPY uses both, in turns; PIPELINE conns[0] */
	struct rc_pgdb *db;      /* the connection of the batch being built */
	struct drain_pending pend;
	bool ready; /* connected, migrated, staging table and statements in place */
	bool ever_connected;
	uint64_t drained; /* every LSN <= this is in the database */
	struct drain_rec *recs;
	unsigned nrecs;
	unsigned nmsgs;
	uint64_t gen;
	uint32_t *brooms; /* room ids with messages in this batch */
	unsigned nbrooms;
	struct room_cache rooms;
	struct sbuf copy, a[4];
	char copy_tail[4 + 8 + 4 + 64]; /* epoch and node: the end of every binary row */
	size_t copy_tail_len;
	unsigned backoff_ms;
	uint64_t retry_at_ms;
	pthread_t thread;
	bool running;
	atomic_bool stopping;
	atomic_bool fault_hold; /* rc_drainer_fault_hold() */
	_Atomic uint64_t cleanup_cutoff_ms; /* 0: no cleanup pending */
	pthread_mutex_t lock;
	struct rc_drainer_stats st;
};

/* ---- small helpers ---- */

static bool
drain_stopping(struct rc_drainer *d)
{
	return atomic_load_explicit(&d->stopping, memory_order_acquire);
}

static void
drain_sleep_ms(struct rc_drainer *d, uint64_t ms)
{
	while (ms > 0 && !drain_stopping(d)) {
		uint64_t slice = RTE_MIN(ms, (uint64_t)DRAIN_SLEEP_SLICE_MS);
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)slice * 1000000 };

		nanosleep(&ts, NULL);
		ms -= slice;
	}
}

static uint64_t
now_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int
sb_reserve(struct sbuf *b, size_t more)
{
	size_t cap = b->cap != 0 ? b->cap : 4096;
	char *p;

	if (b->len + more <= b->cap)
		return 0;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int
sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (sb_reserve(b, n + 1) != 0)
		return -ENOMEM;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* s (a valid name: no NUL, wal_valid.h) as a quoted element of an array literal ("...",
 * with " and \ escaped), comma first unless it is the first element. */
static int
sb_add_elem(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (sb_reserve(b, 2 * n + 4) != 0)
		return -ENOMEM;
	if (b->len > 1)
		b->p[b->len++] = ',';
	b->p[b->len++] = '"';
	for (const char *e = s + n; s < e; s++) {
		if (*s == '"' || *s == '\\')
			b->p[b->len++] = '\\';
		b->p[b->len++] = *s;
	}
	b->p[b->len++] = '"';
	b->p[b->len] = '\0';
	return 0;
}

static int
sb_add_num(struct sbuf *b, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	return sb_add_elem(b, num);
}

/* Opens (clears) n array literals. */
static int
sb_arrays_open(struct sbuf *a, unsigned n)
{
	int rc = 0;

	for (unsigned k = 0; k < n; k++) {
		a[k].len = 0;
		rc |= sb_add(&a[k], "{", 1);
	}
	return rc;
}

static int
sb_arrays_close(struct sbuf *a, unsigned n)
{
	int rc = 0;

	for (unsigned k = 0; k < n; k++)
		rc |= sb_add(&a[k], "}", 1);
	return rc;
}

static void
sb_free(struct sbuf *b)
{
	free(b->p);
	*b = (struct sbuf){ 0 };
}

/* ---- the room cache ---- */

static struct room_slot *
rooms_find(struct room_cache *c, uint32_t id)
{
	for (unsigned i = (id * 2654435761u) & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
		if (!c->slots[i].used || c->slots[i].id == id)
			return &c->slots[i];
	}
}

static int
rooms_grow(struct room_cache *c)
{
	struct room_cache g = { .cap = c->cap != 0 ? c->cap * 2 : DRAIN_ROOMS_INIT, .n = c->n };

	g.slots = calloc(g.cap, sizeof(*g.slots));
	if (g.slots == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < c->cap; i++)
		if (c->slots[i].used)
			*rooms_find(&g, c->slots[i].id) = c->slots[i];
	free(c->slots);
	*c = g;
	return 0;
}

/* The slot of id, inserted with name when missing. Slot pointers are valid until the next
 * insertion. NULL when out of memory. */
static struct room_slot *
rooms_put(struct room_cache *c, uint32_t id, const char *name, size_t len)
{
	struct room_slot *s;

	if ((c->n + 1) * 2 > c->cap && rooms_grow(c) != 0)
		return NULL;
	s = rooms_find(c, id);
	if (s->used)
		return s;
	s->name = malloc(len + 1);
	if (s->name == NULL)
		return NULL;
	memcpy(s->name, name, len);
	s->name[len] = '\0';
	s->name_len = (uint16_t)len;
	s->used = true;
	s->id = id;
	c->n++;
	return s;
}

static void
rooms_free(struct room_cache *c)
{
	for (unsigned i = 0; i < c->cap; i++)
		free(c->slots[i].name);
	free(c->slots);
	*c = (struct room_cache){ 0 };
}

/* ---- stats ---- */

static void
st_error(struct rc_drainer *d, const char *what, const char *text)
{
	pthread_mutex_lock(&d->lock);
	d->st.errors++;
	snprintf(d->st.last_error, sizeof(d->st.last_error), "%.40s%.200s", what, text);
	pthread_mutex_unlock(&d->lock);
}

static void
st_connected(struct rc_drainer *d, bool up, int version)
{
	pthread_mutex_lock(&d->lock);
	if (up && d->ever_connected)
		d->st.reconnects++;
	d->st.connected = up;
	if (up)
		d->st.schema_version = version;
	if (up && d->db->conn != NULL)
		snprintf(d->st.server, sizeof(d->st.server), "%s port %s", PQhost(d->db->conn),
			 PQport(d->db->conn));
	else if (!up)
		d->st.server[0] = '\0';
	pthread_mutex_unlock(&d->lock);
	d->ever_connected |= up;
}

static void
st_batch(struct rc_drainer *d, unsigned records, uint64_t conflicts, unsigned dead)
{
	pthread_mutex_lock(&d->lock);
	d->st.drained += records;
	d->st.batches++;
	d->st.conflicts += conflicts;
	d->st.dead_letters += dead;
	d->st.dead_letter_rows += dead;
	d->st.last_batch_ms = now_ms(CLOCK_REALTIME);
	pthread_mutex_unlock(&d->lock);
}

/* ---- connecting ---- */

static const char *const drain_setup_sql =
	"SET statement_timeout = '60s';"
	"CREATE TEMP TABLE IF NOT EXISTS rc_staging (room text, seq bigint, sender text,"
	" ts_ms bigint, body text, cmid bigint, lsn bigint) ON COMMIT DELETE ROWS;"
	"PREPARE rc_ins (text, bigint, text, bigint, text, bigint, bigint, text) AS"
	" INSERT INTO messages (room, seq, sender, ts_ms, body, cmid, epoch, node)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (room, seq) DO NOTHING;"
	"PREPARE rc_alarm (text, bigint, text, bigint, text, bigint, bigint, text, bigint) AS"
	" INSERT INTO drain_alarms (room, seq, stored_cmid, stored_sender, new_cmid, new_sender,"
	" new_ts_ms, new_body, new_epoch, node, lsn)"
	" SELECT m.room, m.seq, m.cmid, m.sender, $6, $3, $4, $5, $7, $8, $9 FROM messages m"
	" WHERE m.room = $1 AND m.seq = $2 AND (m.cmid, m.sender) <> ($6, $3)"
	" ON CONFLICT (room, seq, new_cmid, new_sender) DO NOTHING";

/* Does the database hold the log record at lsn? (1 yes, 0 no, -errno) */
static int
drain_rec_in_db(struct rc_drainer *d, const struct drain_rec *r)
{
	char seq[24], cmid[24], lsn[24];
	const char *pm[5] = { r->bad != NULL ? "" : r->room, seq, cmid, d->node_id, lsn };
	PGresult *res;
	int rc;

	snprintf(seq, sizeof(seq), "%" PRIu64, r->seq);
	snprintf(cmid, sizeof(cmid), "%" PRId64, (int64_t)r->cmid);
	snprintf(lsn, sizeof(lsn), "%" PRIu64, r->lsn);
	if (r->bad != NULL) /* not valid text: look for its dead letter alone */
		rc = rc_pgdb_query(d->db, "SELECT 1 FROM drain_dead_letters WHERE node = $4"
					   " AND lsn = $5::bigint AND $1::text IS NOT NULL"
					   " AND $2::text IS NOT NULL AND $3::text IS NOT NULL",
				   5, pm, &res);
	else if (r->kind == RC_WAL_MSG)
		rc = rc_pgdb_query(d->db, "SELECT 1 FROM messages WHERE room = $1 AND seq = $2"
					   " AND cmid = $3 UNION ALL SELECT 1 FROM drain_dead_letters"
					   " WHERE node = $4 AND lsn = $5::bigint", 5, pm, &res);
	else
		rc = rc_pgdb_query(d->db, "SELECT 1 FROM rooms WHERE name = $1 AND $2::text IS NOT"
					   " NULL AND $3::text IS NOT NULL UNION ALL SELECT 1 FROM"
					   " drain_dead_letters WHERE node = $4 AND lsn = $5::bigint",
				   5, pm, &res);
	if (rc != 0)
		return rc;
	rc = PQntuples(res) > 0;
	PQclear(res);
	return rc;
}

static int drain_read(struct rc_drainer *d, uint64_t from, unsigned max);
static struct room_slot *drain_room(struct rc_drainer *d, uint32_t id);

/* Adopts drain_state's marker when it is ahead of LMDB's and really ours. */
static int
drain_adopt_marker(struct rc_drainer *d)
{
	const char *pm[1] = { d->node_id };
	uint64_t pg = 0;
	PGresult *res;
	int rc;

	d->drained = rc_wal_drained_lsn(d->wal);
	rc = rc_pgdb_query(d->db, "SELECT drained_lsn FROM drain_state WHERE node = $1", 1, pm,
			   &res);
	if (rc != 0)
		return rc;
	if (PQntuples(res) == 1)
		pg = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	if (pg <= d->drained || pg > rc_wal_last_lsn(d->wal))
		return 0;
	rc = drain_read(d, pg, 1);
	if (rc <= 0 || d->recs[0].lsn != pg)
		return rc < 0 ? rc : 0;
	if (d->recs[0].kind == RC_WAL_ROOM) {
		d->recs[0].room = d->recs[0].body;
	} else {
		struct room_slot *s = drain_room(d, d->recs[0].room_id);

		if (s == NULL)
			return 0;
		d->recs[0].room = s->name;
	}
	rc = drain_rec_in_db(d, &d->recs[0]);
	if (rc == 1) {
		d->drained = pg;
		rc_wal_set_drained(d->wal, pg);
	}
	return rc < 0 ? rc : 0;
}

/* The alarm's gauge: the node's rows in drain_dead_letters (an operator deletes a row once
 * handled). Counted at each connection, then kept up to date by the batches. */
static int
drain_count_dead(struct rc_drainer *d)
{
	const char *pm[1] = { d->node_id };
	uint64_t rows;
	PGresult *res;
	int rc = rc_pgdb_query(d->db, "SELECT count(*) FROM drain_dead_letters WHERE node = $1",
			       1, pm, &res);

	if (rc != 0)
		return rc;
	rows = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	pthread_mutex_lock(&d->lock);
	/* a batch committed while its answer was lost (a failure on the other connection)
	 * was adopted with drain_state's marker: count its dead letters now */
	if (d->ever_connected && rows > d->st.dead_letter_rows)
		d->st.dead_letters += rows - d->st.dead_letter_rows;
	d->st.dead_letter_rows = rows;
	pthread_mutex_unlock(&d->lock);
	PQclear(res);
	return 0;
}

/* A larger send buffer on a local (unix socket) connection: the COPY stream then keeps
 * the server busy for longer while this thread reads the next chunk from LMDB, or waits for
 * a CPU. (A TCP connection keeps the kernel's autotuning.) */
static void
drain_sndbuf(struct rc_pgdb *db)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	int fd = PQsocket(db->conn), size = DRAIN_SNDBUF;

	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&sa, &len) == 0 &&
	    sa.ss_family == AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

/* Closes both connections. A pending batch is dropped unanswered: whether it committed is
 * found out at the next connection (drain_adopt_marker), as after a crash. */
static void
drain_disconnect(struct rc_drainer *d)
{
	rc_pgdb_close(&d->conns[0]);
	rc_pgdb_close(&d->conns[1]);
	d->db = &d->conns[0];
	d->pend.pl.db = NULL;
	d->ready = false;
	st_connected(d, false, 0);
}

/* The second connection of method COPY: session setup only (the first one migrated). */
static int
drain_connect_second(struct rc_drainer *d)
{
	struct rc_pgdb *db = &d->conns[1];
	int rc = rc_pgdb_connect(db, d->conninfo, d->appname);

	if (rc == 0) {
		drain_sndbuf(db);
		rc = rc_pgdb_exec(db, drain_setup_sql);
	}
	if (rc != 0)
		snprintf(d->conns[0].err, sizeof(d->conns[0].err), "%s", db->err);
	return rc;
}

static int
drain_connect(struct rc_drainer *d)
{
	char err[256];
	int rc;

	d->db = &d->conns[0];
	rc = rc_pgdb_connect(d->db, d->conninfo, d->appname);
	if (rc != 0) {
		st_error(d, "connect: ", d->db->err);
		return rc;
	}
	drain_sndbuf(d->db);
	rc = rc_schema_migrate(d->db, NULL, err, sizeof(err));
	if (rc != 0) {
		st_error(d, "", err);
		goto out_close;
	}
	rc = rc_pgdb_exec(d->db, drain_setup_sql);
	if (rc == 0)
		rc = drain_adopt_marker(d);
	if (rc == 0)
		rc = drain_count_dead(d);
	if (rc == 0 && d->conf.method == RC_DRAIN_COPY)
		rc = drain_connect_second(d);
	if (rc != 0) {
		st_error(d, "session setup: ", d->db->err);
		goto out_close;
	}
	d->ready = true;
	st_connected(d, true, RC_SCHEMA_VERSION);
	return 0;
out_close:
	drain_disconnect(d);
	return rc;
}

/* ---- reading a batch ---- */

/* Copies a log record out, with its exact lengths, and checks it (wal_valid.h): a record
 * that breaks the rules, or the one the database refused alone (poison_lsn), is marked for
 * the dead-letter table. Stops (returns 1) at the drain ceiling. */
static int
drain_copy_rec(void *arg, const struct rc_wal_logrec *l)
{
	struct rc_drainer *d = arg;
	struct drain_rec *r;
	size_t ul = l->user.len, bl = l->body.len < RC_MAX_BODY ? l->body.len : RC_MAX_BODY;

	if (l->lsn > d->ceiling)
		return 1;
	r = &d->recs[d->nrecs++];
	r->bad = NULL;
	r->bad_state = "";
	if (!rc_wal_rec_storable(l, &r->bad))
		r->bad_state = "";
	else if (l->lsn == d->poison_lsn) {
		r->bad = d->poison_err;
		r->bad_state = d->poison_state;
	}
	r->user_len = (uint8_t)ul;
	r->body_len = (uint16_t)bl;
	r->body_cut = (uint16_t)(l->body.len - bl);
	r->lsn = l->lsn;
	r->kind = l->kind;
	r->room_id = l->room_id;
	r->seq = l->seq;
	r->ts_ms = l->ts_ms;
	r->cmid = l->cmid;
	r->room = NULL;
	memcpy(r->user, l->user.p, ul);
	r->user[ul] = '\0';
	memcpy(r->body, l->body.p, bl);
	r->body[bl] = '\0';
	return 0;
}

/* The batch size now: batch_max, or less while a refused record is being isolated. */
static unsigned
drain_limit(const struct rc_drainer *d)
{
	return d->limit != 0 ? RTE_MIN(d->limit, d->conf.batch_max) : d->conf.batch_max;
}

/* Reads up to max records from lsn into d->recs (emptied first). Returns the count or
 * -errno. */
static int
drain_read(struct rc_drainer *d, uint64_t from, unsigned max)
{
	int rc;

	d->nrecs = 0;
	d->ceiling = rc_wal_drain_ceiling(d->wal);
	rc = rc_wal_log_read(d->wal, from, RTE_MIN(max, drain_limit(d)), drain_copy_rec, d);
	return rc < 0 ? rc : (int)d->nrecs;
}

/* Appends up to max more records (the batch stays within batch_max). Returns how many. */
static int
drain_read_more(struct rc_drainer *d, unsigned max)
{
	unsigned before = d->nrecs;
	int rc;

	max = RTE_MIN(max, drain_limit(d) - RTE_MIN(d->nrecs, drain_limit(d)));
	if (max == 0 || d->nrecs == 0)
		return 0;
	rc = rc_wal_log_read(d->wal, d->recs[d->nrecs - 1].lsn + 1, max, drain_copy_rec, d);
	return rc < 0 ? rc : (int)(d->nrecs - before);
}

/* The room slot for a message, learning the name from LMDB the first time. */
static struct room_slot *
drain_room(struct rc_drainer *d, uint32_t id)
{
	char name[RC_MAX_ROOM + 1];
	struct room_slot *s = rooms_find(&d->rooms, id);

	if (s->used)
		return s;
	if (rc_wal_room_name(d->wal, id, name, sizeof(name)) != 0)
		return NULL;
	return rooms_put(&d->rooms, id, name, strlen(name));
}

/* A new batch: per-room aggregates start over. */
static void
drain_batch_begin(struct rc_drainer *d)
{
	d->gen++;
	d->nbrooms = 0;
	d->nmsgs = 0;
	d->nbad = 0;
}

/* Resolves the room names of recs[first..) and aggregates the batch's max seq per room. */
static int
drain_resolve(struct rc_drainer *d, unsigned first)
{
	for (unsigned i = first; i < d->nrecs; i++) {
		struct drain_rec *r = &d->recs[i];
		struct room_slot *s = r->kind == RC_WAL_ROOM ?
					      rooms_put(&d->rooms, r->room_id, r->body, r->body_len) :
					      drain_room(d, r->room_id);

		if (s == NULL)
			return -ENOENT;
		r->room = s->name;
		r->room_len = s->name_len;
		if (r->kind == RC_WAL_ROOM && !rc_wal_room_name_storable(r->body, r->body_len))
			s->bad_name = true; /* the cache's copy may be cut at a NUL: not a name */
		if (r->bad == NULL && r->kind == RC_WAL_MSG &&
		    (s->bad_name || !rc_wal_room_name_storable(s->name, strlen(s->name))))
			r->bad = "the room's name is empty, too long, not valid UTF-8 or holds a NUL "
				 "byte";
		if (r->bad != NULL)
			d->nbad++;
		if (r->kind != RC_WAL_MSG || r->bad != NULL)
			continue;
		d->nmsgs++;
		if (s->gen != d->gen) {
			s->gen = d->gen;
			s->max_seq = 0;
			d->brooms[d->nbrooms++] = r->room_id;
		}
		if (r->seq > s->max_seq)
			s->max_seq = r->seq;
	}
	return 0;
}

/* ---- statements shared by both methods ---- */

/* Arrays for the rooms created in the batch: names, ids, creators, created_ms. */
static int
drain_room_arrays(struct rc_drainer *d)
{
	int n = 0, rc = sb_arrays_open(d->a, 4);

	for (unsigned i = 0; i < d->nrecs && rc == 0; i++) {
		const struct drain_rec *r = &d->recs[i];
		struct room_slot *s;

		if (r->kind != RC_WAL_ROOM || r->bad != NULL)
			continue;
		s = rooms_find(&d->rooms, r->room_id);
		if (s->rgen == d->gen)
			continue;
		s->rgen = d->gen;
		rc = sb_add_elem(&d->a[0], r->room) | sb_add_num(&d->a[1], r->room_id) |
		     sb_add_elem(&d->a[2], r->user) | sb_add_num(&d->a[3], r->ts_ms);
		n++;
	}
	if (rc == 0)
		rc = sb_arrays_close(d->a, 4);
	return rc != 0 ? -ENOMEM : n;
}

static const char *const drain_rooms_sql =
	"INSERT INTO rooms AS r (name, room_id, hosting_node, creator, created_at)"
	" SELECT n, i, $1, c, to_timestamp(t / 1000.0)"
	" FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[]) AS u(n, i, c, t)"
	" ON CONFLICT (name) DO UPDATE SET"
	" room_id = coalesce(r.room_id, EXCLUDED.room_id),"
	" hosting_node = CASE WHEN r.hosting_node = '' THEN EXCLUDED.hosting_node"
	"  ELSE r.hosting_node END,"
	" creator = CASE WHEN r.creator = '' THEN EXCLUDED.creator ELSE r.creator END,"
	" created_at = least(r.created_at, EXCLUDED.created_at)";

static int
drain_room_cmp(const void *a, const void *b, void *arg)
{
	struct room_cache *c = arg;

	return strcmp(rooms_find(c, *(const uint32_t *)a)->name,
		      rooms_find(c, *(const uint32_t *)b)->name);
}

/* Arrays for rooms.next_seq: names, max seqs; in name order, so that two drainers
 * updating the same rooms take the row locks in the same order (no deadlock). */
static int
drain_seq_arrays(struct rc_drainer *d)
{
	int rc = sb_arrays_open(d->a, 2);

	qsort_r(d->brooms, d->nbrooms, sizeof(*d->brooms), drain_room_cmp, &d->rooms);
	for (unsigned i = 0; i < d->nbrooms && rc == 0; i++) {
		const struct room_slot *s = rooms_find(&d->rooms, d->brooms[i]);

		rc = sb_add_elem(&d->a[0], s->name) | sb_add_num(&d->a[1], s->max_seq);
	}
	if (rc == 0)
		rc = sb_arrays_close(d->a, 2);
	return rc != 0 ? -ENOMEM : 0;
}

static const char *const drain_next_seq_sql =
	"INSERT INTO rooms AS r (name, hosting_node, next_seq)"
	" SELECT n, $1, s + 1 FROM unnest($2::text[], $3::bigint[]) AS u(n, s)"
	" ON CONFLICT (name) DO UPDATE SET next_seq = greatest(r.next_seq, EXCLUDED.next_seq)";

static const char *const drain_state_sql =
	"INSERT INTO drain_state (node, drained_lsn) VALUES ($1, $2)"
	" ON CONFLICT (node) DO UPDATE SET drained_lsn = EXCLUDED.drained_lsn,"
	" updated_at = now()";

/* Runs a statement with parameters, returning its row count in *n (may be NULL). */
static int
drain_cmd(struct rc_drainer *d, const char *sql, int np, const char *const *pm, uint64_t *n)
{
	PGresult *res;
	int rc = rc_pgdb_query(d->db, sql, np, pm, &res);

	if (rc != 0)
		return rc;
	if (n != NULL)
		*n = strtoull(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return 0;
}

/* ---- method COPY ---- */

/* Writes v in decimal and then sep at p; returns the end. */
static char *
put_u64(char *p, uint64_t v, char sep)
{
	char tmp[24];
	size_t n = sizeof(tmp);

	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	memcpy(p, tmp + n, sizeof(tmp) - n);
	p += sizeof(tmp) - n;
	*p++ = sep;
	return p;
}

static char *
put_i64(char *p, int64_t v, char sep)
{
	if (v < 0)
		*p++ = '-';
	return put_u64(p, v < 0 ? -(uint64_t)v : (uint64_t)v, sep);
}

static char *
put_text(char *p, const char *s, size_t n, char sep)
{
	p += rc_pgdb_copy_escape(p, 2 * n, s, n);
	*p++ = sep;
	return p;
}

/* Appends the messages of recs[first..) as COPY text for rc_staging (.., cmid, lsn), one
 * reservation per row (this runs for every column of every row). */
static int
drain_copy_data(struct rc_drainer *d, unsigned first)
{
	struct sbuf *b = &d->copy;

	for (unsigned i = first; i < d->nrecs; i++) {
		const struct drain_rec *r = &d->recs[i];
		char *p;

		if (r->kind != RC_WAL_MSG || r->bad != NULL)
			continue;
		if (sb_reserve(b, 2 * (RC_MAX_ROOM + RC_MAX_USER + RC_MAX_BODY) + 128) != 0)
			return -ENOMEM;
		p = b->p + b->len;
		p = put_text(p, r->room, r->room_len, '\t');
		p = put_u64(p, r->seq, '\t');
		p = put_text(p, r->user, r->user_len, '\t');
		p = put_u64(p, r->ts_ms, '\t');
		p = put_text(p, r->body, r->body_len, '\t');
		p = put_i64(p, (int64_t)r->cmid, '\t');
		p = put_u64(p, r->lsn, '\n');
		b->len = (size_t)(p - b->p);
	}
	return 0;
}

/* COPY's binary format: the signature, flags and header extension length; a row is a
 * 16-bit field count and each field as a 32-bit length and the bytes (big endian); the
 * end is a field count of -1. The server then neither scans for delimiters and escapes
 * nor parses numbers: about 13 % less of its time per row than the text format, measured
 * with this table, and the server is what a drain waits for. */
static const char copy_bin_header[19] = { 'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r',
					  '\n', '\0' };
static const char copy_bin_trailer[2] = { '\377', '\377' };
#define COPY_BIN_FIELDS 8 /* messages (room, seq, sender, ts_ms, body, cmid, epoch, node) */

static char *
put_be32(char *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
	return p + sizeof(v);
}

/* A bigint field. */
static char *
put_bin_i64(char *p, uint64_t v)
{
	p = put_be32(p, sizeof(v));
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
	return p + sizeof(v);
}

/* A text field: its n bytes as they are (the server checks the encoding, as for text). */
static char *
put_bin_text(char *p, const char *s, size_t n)
{
	p = put_be32(p, (uint32_t)n);
	memcpy(p, s, n);
	return p + n;
}

/* Appends the messages of recs[first..) as binary COPY rows for messages. */
static int
drain_copy_bin(struct rc_drainer *d, unsigned first)
{
	struct sbuf *b = &d->copy;
	uint16_t nf = htobe16(COPY_BIN_FIELDS);

	for (unsigned i = first; i < d->nrecs; i++) {
		const struct drain_rec *r = &d->recs[i];
		char *p;

		if (r->kind != RC_WAL_MSG || r->bad != NULL)
			continue;
		if (sb_reserve(b, RC_MAX_ROOM + RC_MAX_USER + RC_MAX_BODY + 64 +
				      d->copy_tail_len) != 0)
			return -ENOMEM;
		p = b->p + b->len;
		memcpy(p, &nf, sizeof(nf));
		p += sizeof(nf);
		p = put_bin_text(p, r->room, r->room_len);
		p = put_bin_i64(p, r->seq);
		p = put_bin_text(p, r->user, r->user_len);
		p = put_bin_i64(p, r->ts_ms);
		p = put_bin_text(p, r->body, r->body_len);
		p = put_bin_i64(p, r->cmid);
		memcpy(p, d->copy_tail, d->copy_tail_len);
		b->len = (size_t)(p + d->copy_tail_len - b->p);
	}
	return 0;
}

static int
drain_copy(struct rc_drainer *d, const char *copy_sql)
{
	int rc;

	d->copy.len = 0;
	rc = drain_copy_data(d, 0);
	if (rc == 0)
		rc = rc_pgdb_copy_begin(d->db, copy_sql);
	if (rc == 0)
		rc = rc_pgdb_copy_put(d->db, d->copy.p, d->copy.len);
	if (rc == 0)
		rc = rc_pgdb_copy_end(d->db);
	return rc;
}

static const char *const drain_merge_sql =
	"INSERT INTO messages (room, seq, sender, ts_ms, body, cmid, epoch, node)"
	" SELECT room, seq, sender, ts_ms, body, cmid, $1, $2 FROM rc_staging"
	" ON CONFLICT (room, seq) DO NOTHING";

static const char *const drain_alarms_sql =
	"INSERT INTO drain_alarms (room, seq, stored_cmid, stored_sender, new_cmid, new_sender,"
	" new_ts_ms, new_body, new_epoch, node, lsn)"
	" SELECT s.room, s.seq, m.cmid, m.sender, s.cmid, s.sender, s.ts_ms, s.body, $1, $2,"
	" s.lsn FROM rc_staging s JOIN messages m ON m.room = s.room AND m.seq = s.seq"
	" WHERE (m.cmid, m.sender) <> (s.cmid, s.sender)"
	" ON CONFLICT (room, seq, new_cmid, new_sender) DO NOTHING";

/* The careful way: staging table, insert-on-conflict, alarms for the rows in the way. */
static int
drain_copy_merge(struct rc_drainer *d, uint64_t *alarms)
{
	char epoch[24];
	const char *pm[2] = { epoch, d->node_id };
	uint64_t inserted = 0;
	int rc;

	snprintf(epoch, sizeof(epoch), "%" PRId64, (int64_t)d->conf.epoch);
	rc = drain_copy(d, "COPY rc_staging (room, seq, sender, ts_ms, body, cmid, lsn)"
			   " FROM STDIN");
	if (rc == 0)
		rc = drain_cmd(d, drain_merge_sql, 2, pm, &inserted);
	if (rc != 0 || inserted == d->nmsgs)
		return rc;
	/* some keys were there already: a re-drain, or a conflict. The staging table has no
	 * statistics yet; give the planner some so it probes messages' key. */
	rc = rc_pgdb_exec(d->db, "ANALYZE rc_staging");
	if (rc == 0)
		rc = drain_cmd(d, drain_alarms_sql, 2, pm, alarms);
	return rc;
}

/* Streams the batch into COPY messages: what was read already, then more, chunk by chunk,
 * so that the server inserts one chunk while the next is read from LMDB. */
static int
drain_copy_stream(struct rc_drainer *d)
{
	unsigned first = 0;
	int rc = rc_pgdb_copy_begin(d->db, "BEGIN; SET LOCAL synchronous_commit = on;"
					    " SAVEPOINT rc_fast; COPY messages (room, seq, sender,"
					    " ts_ms, body, cmid, epoch, node) FROM STDIN"
					    " (FORMAT binary)");

	d->copy.len = 0;
	if (rc == 0)
		rc = sb_add(&d->copy, copy_bin_header, sizeof(copy_bin_header));
	while (rc == 0) {
		rc = drain_copy_bin(d, first);
		if (rc == 0)
			rc = rc_pgdb_copy_put(d->db, d->copy.p, d->copy.len);
		first = d->nrecs;
		if (rc == 0)
			rc = drain_read_more(d, DRAIN_STREAM_CHUNK);
		if (rc <= 0)
			break;
		d->copy.len = 0;
		rc = drain_resolve(d, first);
	}
	if (rc == 0)
		rc = rc_pgdb_copy_put(d->db, copy_bin_trailer, sizeof(copy_bin_trailer));
	/* on failure the connection is left mid-COPY: the caller closes it */
	return rc < 0 ? rc : rc_pgdb_copy_end(d->db);
}

/* Opens the batch's transaction and writes its messages; *alarms gets the new alarms.
 * First a plain COPY into messages inside a savepoint, sent with BEGIN in one round trip
 * (the common case: none of the keys is there yet; as fast as COPY gets); a unique
 * violation (a re-drain, a conflict) rolls it back and the batch goes the careful way. */
static int
drain_copy_msgs(struct rc_drainer *d, uint64_t *alarms)
{
	int rc = drain_copy_stream(d);

	if (rc != -EEXIST)
		return rc;
	rc = rc_pgdb_exec(d->db, "ROLLBACK TO SAVEPOINT rc_fast");
	if (rc == 0)
		rc = drain_copy_merge(d, alarms);
	return rc;
}

/* ---- method PIPELINE ---- */

static int
pl_fail(struct rc_pgdb *db, const char *text)
{
	snprintf(db->err, sizeof(db->err), "%s", text != NULL ? text : "pipeline failed");
	for (char *p = db->err; *p != '\0'; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	return rc_pgdb_ok(db) ? -EIO : -ECONNRESET;
}

/* Reads one query's results (or the sync). */
static int
pl_read_one(struct pl *p)
{
	int tag = p->tags[p->got++];
	PGresult *res = PQgetResult(p->db->conn);
	ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int rc = 0;

	if (tag == PL_SYNC) {
		if (st != PGRES_PIPELINE_SYNC)
			rc = pl_fail(p->db, PQerrorMessage(p->db->conn));
		PQclear(res);
		return rc;
	}
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

		rc = pl_fail(p->db, res != NULL ? PQresultErrorMessage(res) :
					      PQerrorMessage(p->db->conn));
		snprintf(p->db->sqlstate, sizeof(p->db->sqlstate), "%s",
			 state != NULL ? state : "");
		if (state != NULL && strcmp(state, RC_LEASE_SQLSTATE_STALE) == 0)
			rc = -ESTALE; /* our epoch is not the lease's (rc_pgdb maps it likewise) */
	} else if (tag >= 0)
		p->missed[tag] = strtoull(PQcmdTuples(res), NULL, 10) == 0;
	else if (tag == PL_OTHER)
		p->rows += strtoull(PQcmdTuples(res), NULL, 10);
	else if (tag == PL_DEAD)
		p->dead += strtoull(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	while ((res = PQgetResult(p->db->conn)) != NULL) /* the end of this query */
		PQclear(res);
	return rc;
}

static int
pl_collect(struct pl *p)
{
	int rc = 0;

	if (PQflush(p->db->conn) != 0)
		return pl_fail(p->db, PQerrorMessage(p->db->conn));
	while (p->got < p->sent && rc == 0)
		rc = pl_read_one(p);
	return rc;
}

static int
pl_send(struct pl *p, int tag, const char *stmt, const char *sql, int np,
	const char *const *pm)
{
	int ok = stmt != NULL ?
			 PQsendQueryPrepared(p->db->conn, stmt, np, pm, NULL, NULL, 0) :
			 PQsendQueryParams(p->db->conn, sql, np, NULL, pm, NULL, NULL, 0);

	if (ok != 1)
		return pl_fail(p->db, PQerrorMessage(p->db->conn));
	p->tags[p->sent++] = tag;
	return 0;
}

/* Ends the pipeline's current batch of queries and sends it; pl_collect() reads the
 * results. */
static int
pl_sync_send(struct pl *p)
{
	if (PQpipelineSync(p->db->conn) != 1 || PQflush(p->db->conn) != 0)
		return pl_fail(p->db, PQerrorMessage(p->db->conn));
	p->tags[p->sent++] = PL_SYNC;
	return 0;
}

static int
pl_sync(struct pl *p)
{
	int rc = pl_sync_send(p);

	return rc == 0 ? pl_collect(p) : rc;
}

/* The parameters of rc_ins / rc_alarm for record r (buffers in nums). */
static void
pl_params(struct rc_drainer *d, const struct drain_rec *r, char nums[5][24],
	  const char *pm[9])
{
	snprintf(nums[0], 24, "%" PRIu64, r->seq);
	snprintf(nums[1], 24, "%" PRIu64, r->ts_ms);
	snprintf(nums[2], 24, "%" PRId64, (int64_t)r->cmid);
	snprintf(nums[3], 24, "%" PRId64, (int64_t)d->conf.epoch);
	snprintf(nums[4], 24, "%" PRIu64, r->lsn);
	pm[0] = r->room;
	pm[1] = nums[0];
	pm[2] = r->user;
	pm[3] = nums[1];
	pm[4] = r->body;
	pm[5] = nums[2];
	pm[6] = nums[3];
	pm[7] = d->node_id;
	pm[8] = nums[4];
}

/* ---- dead letters ---- */

static const char *const drain_dead_sql =
	"INSERT INTO drain_dead_letters (node, lsn, kind, room, seq, sender, cmid, ts_ms, body,"
	" epoch, error, sqlstate) VALUES ($1, $2, $3, $4, $5::numeric, $6, $7, $8::numeric,"
	" $9::bytea, $10, $11, $12) ON CONFLICT (node, lsn, room, seq) DO NOTHING";

/* n bytes of s as text any database takes: as they are when they are storable text
 * (rc_wal_text_storable), else printable ASCII kept, a backslash doubled and every other
 * byte as \xNN. out has room for 4 * n + 1 bytes. */
static void
dead_text(char *out, const char *s, size_t n)
{
	if (rc_wal_text_storable(s, n)) {
		memcpy(out, s, n);
		out[n] = '\0';
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\') {
			*out++ = '\\';
			*out++ = '\\';
		} else if (c >= 0x20 && c < 0x7f) {
			*out++ = (char)c;
		} else {
			out += sprintf(out, "\\x%02x", c);
		}
	}
	*out = '\0';
}

/* Sends the INSERT of one dead letter into the pipeline. */
static int
pl_dead_letter(struct rc_drainer *d, struct pl *p, const struct drain_rec *r)
{
	static const char hex[] = "0123456789abcdef";
	char room[4 * 256 + 1], user[4 * 256 + 1], body[2 * RC_MAX_BODY + 3], err[320];
	char nums[5][24];
	const bool msg = r->kind == RC_WAL_MSG;
	const char *pm[12];
	char *b = body;

	if (msg)
		dead_text(room, r->room, RTE_MIN((size_t)r->room_len, (size_t)255));
	else /* a room's name: a u8 length in the log */
		dead_text(room, r->body, RTE_MIN((size_t)r->body_len, (size_t)255));
	dead_text(user, r->user, r->user_len);
	*b++ = '\\';
	*b++ = 'x';
	for (unsigned i = 0; i < r->body_len; i++) {
		*b++ = hex[(unsigned char)r->body[i] >> 4];
		*b++ = hex[(unsigned char)r->body[i] & 15];
	}
	*b = '\0';
	if (r->body_cut != 0)
		snprintf(err, sizeof(err), "%s (body of %u bytes: the first %u kept)", r->bad,
			 (unsigned)r->body_len + r->body_cut, (unsigned)r->body_len);
	else
		snprintf(err, sizeof(err), "%s", r->bad);
	snprintf(nums[0], 24, "%" PRIu64, r->lsn);
	snprintf(nums[1], 24, "%" PRIu64, msg ? r->seq : 0);
	snprintf(nums[2], 24, "%" PRId64, msg ? (int64_t)r->cmid : 0);
	snprintf(nums[3], 24, "%" PRIu64, r->ts_ms);
	snprintf(nums[4], 24, "%" PRId64, (int64_t)d->conf.epoch);
	pm[0] = d->node_id;
	pm[1] = nums[0];
	pm[2] = msg ? "message" : "room";
	pm[3] = room;
	pm[4] = nums[1];
	pm[5] = user;
	pm[6] = nums[2];
	pm[7] = nums[3];
	pm[8] = body;
	pm[9] = nums[4];
	pm[10] = err;
	pm[11] = r->bad_state;
	return pl_send(p, PL_DEAD, NULL, drain_dead_sql, 12, pm);
}

/* Sends the end of the batch's transaction into the pipeline: the rooms created in the
 * batch (with rooms_created), the dead letters, rooms.next_seq, drain_state, COMMIT; then
 * syncs, and with `wait` reads the results (otherwise pl_collect() does, later). Parameters
 * are copied by libpq when sent, so the array buffers are reused. */
static int
pl_finish(struct rc_drainer *d, struct pl *p, bool rooms_created, bool wait)
{
	char lsn[24];
	const char *pm[5] = { d->node_id };
	int n = rooms_created ? drain_room_arrays(d) : 0, rc = n < 0 ? n : 0;

	for (unsigned k = 0; k < 4; k++)
		pm[k + 1] = d->a[k].p;
	if (rc == 0 && n > 0)
		rc = pl_send(p, PL_OTHER, NULL, drain_rooms_sql, 5, pm);
	for (unsigned i = 0; i < d->nrecs && rc == 0 && d->nbad > 0; i++)
		if (d->recs[i].bad != NULL)
			rc = pl_dead_letter(d, p, &d->recs[i]);
	if (rc == 0 && d->nbrooms > 0 && (rc = drain_seq_arrays(d)) == 0) {
		pm[1] = d->a[0].p;
		pm[2] = d->a[1].p;
		rc = pl_send(p, PL_OTHER, NULL, drain_next_seq_sql, 3, pm);
	}
	snprintf(lsn, sizeof(lsn), "%" PRIu64, d->recs[d->nrecs - 1].lsn);
	pm[1] = lsn;
	if (rc == 0)
		rc = pl_send(p, PL_OTHER, NULL, drain_state_sql, 2, pm);
	if (rc == 0)
		rc = pl_send(p, PL_OTHER, NULL, "COMMIT", 0, NULL);
	if (rc == 0)
		rc = pl_sync_send(p);
	return rc == 0 && wait ? pl_collect(p) : rc;
}

/* The COPY method's end of batch, sent without waiting for the answer: the batch becomes
 * the pending one (there is none: drain_pending_end() came first), and the next batch is
 * built on the other connection meanwhile. */
static int
drain_copy_finish(struct rc_drainer *d, uint64_t alarms)
{
	struct drain_pending *q = &d->pend;
	int rc;

	q->pl = (struct pl){ .db = d->db, .tags = q->tags };
	if (PQenterPipelineMode(d->db->conn) != 1)
		return pl_fail(d->db, PQerrorMessage(d->db->conn));
	rc = pl_finish(d, &q->pl, true, false);
	if (rc != 0) {
		q->pl.db = NULL;
		return rc;
	}
	q->lsn = d->recs[d->nrecs - 1].lsn;
	q->first = d->recs[0].lsn;
	q->nrecs = d->nrecs;
	q->alarms = alarms;
	d->db = d->db == &d->conns[0] ? &d->conns[1] : &d->conns[0];
	return 0;
}

/* Marks a committed batch drained: the markers, the stats. */
static void
drain_committed(struct rc_drainer *d, uint64_t lsn, unsigned nrecs, uint64_t alarms,
		uint64_t dead)
{
	d->drained = lsn;
	rc_wal_set_drained(d->wal, lsn);
	st_batch(d, nrecs, alarms, (unsigned)dead);
	if (d->poison_lsn != 0 && d->poison_lsn <= lsn)
		d->poison_lsn = 0;
	if (d->fail_lsn != 0 && d->fail_lsn <= lsn) { /* past the failing batch */
		d->fail_lsn = 0;
		d->fail_n = 0;
	}
	if (d->limit != 0) /* isolating: grow back, batch by batch */
		d->limit = d->limit * 2 >= d->conf.batch_max ? 0 : d->limit * 2;
}

/* Waits for the pending batch's COMMIT and marks it drained. Returns its records (0: none
 * pending) or -errno, with the error text in d->db->err (the caller disconnects). */
static int
drain_pending_end(struct rc_drainer *d)
{
	struct drain_pending *q = &d->pend;
	struct rc_pgdb *db = q->pl.db;
	int rc;

	if (db == NULL)
		return 0;
	rc = pl_collect(&q->pl);
	if (rc == 0 && PQexitPipelineMode(db->conn) != 1)
		rc = pl_fail(db, PQerrorMessage(db->conn));
	q->pl.db = NULL;
	if (rc != 0) {
		if (db != d->db)
			snprintf(d->db->err, sizeof(d->db->err), "%s", db->err);
		snprintf(d->failed_state, sizeof(d->failed_state), "%s", db->sqlstate);
		d->failed_first = q->first;
		d->failed_n = q->nrecs;
		return rc;
	}
	drain_committed(d, q->lsn, q->nrecs, q->alarms, q->pl.dead);
	return (int)q->nrecs;
}

/* Stage 1: every message's INSERT, in chunks whose results are read back as they go. */
static int
pl_inserts(struct rc_drainer *d, struct pl *p)
{
	unsigned in_chunk = 0;
	int rc = 0;

	for (unsigned i = 0; i < d->nrecs && rc == 0; i++) {
		char nums[5][24];
		const char *pm[9];

		if (d->recs[i].kind != RC_WAL_MSG || d->recs[i].bad != NULL)
			continue;
		pl_params(d, &d->recs[i], nums, pm);
		rc = pl_send(p, (int)i, "rc_ins", NULL, 8, pm);
		if (rc == 0 && ++in_chunk == DRAIN_PL_CHUNK) {
			in_chunk = 0;
			if (PQsendFlushRequest(p->db->conn) != 1)
				return pl_fail(p->db, PQerrorMessage(p->db->conn));
			rc = pl_collect(p);
		}
	}
	return rc;
}

/* Stage 2: an alarm check for every message whose key was taken. */
static int
pl_alarms(struct rc_drainer *d, struct pl *p, uint64_t *alarms)
{
	unsigned n = 0;
	int rc = 0;

	p->rows = 0;
	for (unsigned i = 0; i < d->nrecs && rc == 0; i++) {
		char nums[5][24];
		const char *pm[9];

		if (!p->missed[i])
			continue;
		pl_params(d, &d->recs[i], nums, pm);
		rc = pl_send(p, PL_OTHER, "rc_alarm", NULL, 9, pm);
		n++;
	}
	if (rc == 0 && n > 0)
		rc = pl_sync(p);
	*alarms = p->rows;
	return rc;
}

static int
drain_pipeline_txn(struct rc_drainer *d, struct pl *p, uint64_t *alarms)
{
	int rc = pl_send(p, PL_OTHER, NULL, "BEGIN", 0, NULL);

	if (rc == 0)
		rc = pl_send(p, PL_OTHER, NULL, "SET LOCAL synchronous_commit = on", 0, NULL);
	if (rc == 0)
		rc = pl_inserts(d, p);
	if (rc == 0)
		rc = pl_sync(p);
	if (rc == 0)
		rc = pl_alarms(d, p, alarms);
	if (rc == 0)
		rc = pl_finish(d, p, true, true);
	if (rc == 0 && PQexitPipelineMode(d->db->conn) != 1)
		rc = pl_fail(d->db, PQerrorMessage(d->db->conn));
	return rc;
}

/* The whole batch, committed, in pipeline mode. */
static int
drain_pipeline(struct rc_drainer *d, uint64_t *alarms, uint64_t *dead)
{
	struct pl p = { .db = d->db };
	int rc = -ENOMEM;

	p.tags = malloc(sizeof(*p.tags) * (2 * d->nrecs + 24));
	p.missed = calloc(d->nrecs, sizeof(*p.missed));
	if (p.tags == NULL || p.missed == NULL)
		goto out_free;
	if (PQenterPipelineMode(d->db->conn) != 1) {
		rc = pl_fail(d->db, PQerrorMessage(d->db->conn));
		goto out_free;
	}
	rc = drain_pipeline_txn(d, &p, alarms);
	*dead = p.dead;
	if (rc != 0)
		snprintf(d->failed_state, sizeof(d->failed_state), "%s", d->db->sqlstate);
out_free:
	free(p.tags);
	free(p.missed);
	return rc;
}

/* ---- one batch ---- */

/* The batch's transaction. PIPELINE commits it here. COPY streams it on d->db, waits for
 * the pending batch's COMMIT (on the other connection, answered meanwhile, usually), and
 * leaves this one pending in turn: a batch's COMMIT is sent only after every batch before
 * it committed, so the batches commit in LSN order and a failure leaves a prefix. */
static int
drain_txn(struct rc_drainer *d)
{
	uint64_t alarms = 0;
	int rc;

	if (d->conf.method == RC_DRAIN_PIPELINE) {
		uint64_t dead = 0;

		rc = drain_pipeline(d, &alarms, &dead);
		if (rc == 0)
			drain_committed(d, d->recs[d->nrecs - 1].lsn, d->nrecs, alarms, dead);
		return rc;
	}
	rc = drain_copy_msgs(d, &alarms);
	while (rc == 0 && atomic_load(&d->fault_hold) && !drain_stopping(d))
		drain_sleep_ms(d, DRAIN_SLEEP_SLICE_MS); /* fault injection: a frozen host */
	if (rc == 0)
		rc = drain_pending_end(d);
	else
		snprintf(d->failed_state, sizeof(d->failed_state), "%s", d->db->sqlstate);
	return rc < 0 ? rc : drain_copy_finish(d, alarms);
}

/* A batch failed (d->failed_*): when the database refused its DATA (rc_pgdb_data_error),
 * for the dead_letter_after-th time in a row, or again while isolating, narrow it down:
 * the next batches take half as many records, down to one; a single record refused is
 * the one: it goes to drain_dead_letters with the server's error (poison_lsn), and the
 * drain goes on. Retries while isolating are not backed off (retry_now). */
static void
drain_isolate(struct rc_drainer *d, int rc)
{
	if (d->failed_first == 0 || rc == -ESTALE || rc == -ECONNRESET ||
	    !rc_pgdb_data_error(d->failed_state))
		return;
	if (d->fail_lsn == d->failed_first) {
		d->fail_n++;
	} else {
		d->fail_lsn = d->failed_first;
		d->fail_n = 1;
	}
	if (d->fail_n < d->conf.dead_letter_after && d->limit == 0)
		return;
	d->retry_now = true;
	if (d->failed_n <= 1) {
		d->poison_lsn = d->failed_first;
		snprintf(d->poison_err, sizeof(d->poison_err), "refused by the database: %s",
			 d->db->err);
		snprintf(d->poison_state, sizeof(d->poison_state), "%s", d->failed_state);
		d->limit = 1;
		return;
	}
	d->limit = (d->failed_n + 1) / 2;
}

/* One batch: the records sent to the database; when there is nothing new, the records of
 * the pending batch, waited for (0: nothing to do); or -errno (connections closed). */
static int
drain_batch(struct rc_drainer *d)
{
	uint64_t from = RTE_MAX(d->drained, rc_wal_drained_lsn(d->wal));
	bool stream = d->conf.method == RC_DRAIN_COPY;
	int rc;

	if (d->pend.pl.db != NULL)
		from = RTE_MAX(from, d->pend.lsn);
	rc = drain_read(d, from + 1, stream ? DRAIN_STREAM_FIRST : d->conf.batch_max);
	if (rc < 0) {
		st_error(d, "reading the WAL: ", strerror(-rc));
		return rc;
	}
	if (rc == 0) {
		rc = drain_pending_end(d);
		if (rc < 0)
			goto out_fail;
		return rc;
	}
	drain_batch_begin(d);
	rc = drain_resolve(d, 0);
	if (rc != 0) {
		st_error(d, "resolving room names: ", strerror(-rc));
		return rc;
	}
	d->failed_first = 0;
	d->conns[0].sqlstate[0] = d->conns[1].sqlstate[0] = '\0';
	rc = drain_txn(d);
	if (rc != 0)
		goto out_fail;
	return (int)d->nrecs;
out_fail:
	if (d->failed_first == 0 && d->nrecs > 0) { /* this batch failed (not the pending) */
		d->failed_first = d->recs[0].lsn;
		d->failed_n = d->nrecs;
	}
	drain_isolate(d, rc);
	st_error(d, rc == -ESTALE ? "stale epoch: fenced: " : "drain: ", d->db->err);
	drain_disconnect(d);
	return rc;
}

/* ---- cleanup ---- */

/* One chunk of the pending cleanup, if any. */
static int
drain_cleanup_chunk(struct rc_drainer *d)
{
	uint64_t cutoff = atomic_load(&d->cleanup_cutoff_ms), n = 0;
	char num[24];
	const char *pm[1] = { num };
	int rc;

	if (cutoff == 0)
		return 0;
	rc = drain_pending_end(d); /* what was sent before the request is in, and cleaned */
	if (rc < 0) {
		st_error(d, "drain: ", d->db->err);
		drain_disconnect(d);
		return rc;
	}
	snprintf(num, sizeof(num), "%" PRIu64, cutoff);
	rc = drain_cmd(d, "DELETE FROM messages WHERE ctid = ANY (ARRAY(SELECT ctid FROM"
			  " messages WHERE ts_ms < $1 LIMIT 10000))", 1, pm, &n);
	if (rc != 0) {
		st_error(d, "cleanup: ", d->db->err);
		drain_disconnect(d);
		return rc;
	}
	pthread_mutex_lock(&d->lock);
	d->st.cleanup_deleted += n;
	if (n < DRAIN_CLEANUP_CHUNK)
		d->st.cleanup_runs++;
	pthread_mutex_unlock(&d->lock);
	if (n < DRAIN_CLEANUP_CHUNK) /* done, unless a newer request came meanwhile */
		atomic_compare_exchange_strong(&d->cleanup_cutoff_ms, &cutoff, 0);
	return (int)n;
}

void
rc_drainer_request_cleanup(struct rc_drainer *d, unsigned days)
{
	uint64_t now = now_ms(CLOCK_REALTIME), age = (uint64_t)days * 86400000u;

	atomic_store(&d->cleanup_cutoff_ms, now > age ? now - age : 1);
}

/* ---- the thread ---- */

void
rc_drainer_fault_hold(struct rc_drainer *d, bool on)
{
	atomic_store(&d->fault_hold, on);
}

static void
drain_backoff(struct rc_drainer *d, int rc)
{
	unsigned wait = rc == -EPROTO ? d->conf.retry_max_ms : d->backoff_ms;

	if (d->retry_now) { /* isolating a refused record: each try narrows it down */
		d->retry_now = false;
		d->retry_at_ms = now_ms(CLOCK_MONOTONIC);
		return;
	}
	d->retry_at_ms = now_ms(CLOCK_MONOTONIC) + wait;
	d->backoff_ms = RTE_MIN(d->backoff_ms * 2, d->conf.retry_max_ms);
}

/* One round of the loop: connect, or a batch and a cleanup chunk. Returns how long to
 * sleep, in ms. After a failure nothing is tried before retry_at_ms. */
static uint64_t
drain_round(struct rc_drainer *d)
{
	uint64_t now = now_ms(CLOCK_MONOTONIC);
	int rc = 0, n;

	if (now < d->retry_at_ms)
		return d->retry_at_ms - now;
	if (!d->ready)
		rc = drain_connect(d);
	n = rc == 0 ? drain_batch(d) : rc;
	if (n >= 0)
		rc = drain_cleanup_chunk(d);
	if (n < 0 || rc < 0) {
		drain_backoff(d, n < 0 ? n : rc);
		return d->retry_at_ms - now;
	}
	if (n > 0)
		d->backoff_ms = d->conf.retry_min_ms;
	return n == 0 && rc == 0 ? d->conf.idle_ms : 0;
}

static void *
drain_main(void *arg)
{
	struct rc_drainer *d = arg;

	while (!drain_stopping(d))
		drain_sleep_ms(d, drain_round(d));
	if (drain_pending_end(d) < 0)
		st_error(d, "drain: ", d->db->err);
	drain_disconnect(d);
	return NULL;
}

int
rc_drainer_start(struct rc_drainer *d)
{
	int rc;

	if (d->running)
		return -EALREADY;
	atomic_store(&d->stopping, false);
	rc = rte_ctrl_thread_create(&d->thread, "rc-drain", NULL, drain_main, d);
	if (rc != 0)
		return rc < 0 ? rc : -rc;
	d->running = true;
	return 0;
}

void
rc_drainer_stop(struct rc_drainer *d)
{
	if (d == NULL || !d->running)
		return;
	atomic_store_explicit(&d->stopping, true, memory_order_release);
	pthread_join(d->thread, NULL);
	d->running = false;
}

/* ---- synchronous use ---- */

int
rc_drainer_drain_now(struct rc_drainer *d)
{
	uint64_t target = rc_wal_last_lsn(d->wal), before;
	int n, rc;

	if (d->running)
		return -EBUSY;
	if (!d->ready && (rc = drain_connect(d)) != 0)
		return rc;
	pthread_mutex_lock(&d->lock);
	before = d->st.drained;
	pthread_mutex_unlock(&d->lock);
	do {
		n = drain_batch(d);
		if (n < 0)
			return n;
	} while (n > 0 && d->drained < target);
	n = drain_pending_end(d); /* a batch sent past the target */
	if (n < 0) {
		st_error(d, "drain: ", d->db->err);
		drain_disconnect(d);
		return n;
	}
	while ((rc = drain_cleanup_chunk(d)) > 0 && atomic_load(&d->cleanup_cutoff_ms) != 0)
		;
	pthread_mutex_lock(&d->lock);
	n = (int)(d->st.drained - before);
	pthread_mutex_unlock(&d->lock);
	return rc < 0 ? rc : n;
}

/* ---- lifecycle ---- */

static void
drain_conf_defaults(struct rc_drainer_conf *c)
{
	if (c->batch_max == 0)
		c->batch_max = 2000;
	if (c->retry_min_ms == 0)
		c->retry_min_ms = 100;
	if (c->retry_max_ms < c->retry_min_ms)
		c->retry_max_ms = c->retry_min_ms > 5000 ? c->retry_min_ms : 5000;
	if (c->idle_ms == 0)
		c->idle_ms = 5;
	if (c->dead_letter_after == 0)
		c->dead_letter_after = 3;
}

/* The last two fields of every binary row: epoch and node (its first 64 bytes). */
static void
drain_copy_tail(struct rc_drainer *d)
{
	char node[65];
	char *p;

	snprintf(node, sizeof(node), "%s", d->node_id);
	p = put_bin_i64(d->copy_tail, d->conf.epoch);
	p = put_bin_text(p, node, strlen(node));
	d->copy_tail_len = (size_t)(p - d->copy_tail);
}

struct rc_drainer *
rc_drainer_create(struct rc_wal *w, const struct rc_drainer_conf *c)
{
	struct rc_drainer *d;

	if (w == NULL || c == NULL || c->conninfo == NULL || c->node_id == NULL ||
	    (c->method != RC_DRAIN_COPY && c->method != RC_DRAIN_PIPELINE)) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->wal = w;
	d->db = &d->conns[0];
	d->conf = *c;
	drain_conf_defaults(&d->conf);
	d->backoff_ms = d->conf.retry_min_ms;
	pthread_mutex_init(&d->lock, NULL);
	d->conninfo = strdup(c->conninfo);
	d->node_id = strdup(c->node_id);
	d->recs = calloc(d->conf.batch_max, sizeof(*d->recs));
	d->brooms = calloc(d->conf.batch_max, sizeof(*d->brooms));
	if (d->conninfo == NULL || d->node_id == NULL || d->recs == NULL || d->brooms == NULL ||
	    rooms_grow(&d->rooms) != 0) {
		rc_drainer_destroy(d);
		errno = ENOMEM;
		return NULL;
	}
	d->conf.conninfo = d->conninfo;
	d->conf.node_id = d->node_id;
	/* the scope cut to 36 bytes ("rooms:" + 30 of the node id), as rc_lease_end_writers
	 * compares it: the name fits application_name's 63 bytes whatever the epoch */
	snprintf(d->appname, sizeof(d->appname), DRAIN_APPNAME " rooms:%.30s e%" PRIu64,
		 d->node_id, d->conf.epoch);
	drain_copy_tail(d);
	return d;
}

void
rc_drainer_destroy(struct rc_drainer *d)
{
	if (d == NULL)
		return;
	rc_drainer_stop(d);
	for (unsigned k = 0; k < RTE_DIM(d->conns); k++) {
		rc_pgdb_close(&d->conns[k]);
		explicit_bzero(d->conns[k].conninfo, sizeof(d->conns[k].conninfo));
	}
	if (d->conninfo != NULL)
		explicit_bzero(d->conninfo, strlen(d->conninfo));
	free(d->conninfo);
	free(d->node_id);
	free(d->recs);
	free(d->brooms);
	rooms_free(&d->rooms);
	sb_free(&d->copy);
	for (unsigned k = 0; k < 4; k++)
		sb_free(&d->a[k]);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

void
rc_drainer_get_stats(struct rc_drainer *d, struct rc_drainer_stats *st)
{
	pthread_mutex_lock(&d->lock);
	*st = d->st;
	pthread_mutex_unlock(&d->lock);
}
