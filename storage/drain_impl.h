/* SPDX-License-Identifier: MIT */
/*
 * Private to storage/drainer.c and storage/drain_*.c: the drainer's state, the records of
 * the batch being built, and the drain methods behind one ops struct (struct drain_method,
 * the shape of DPDK l3fwd's lookup modes: one file per method, chosen once at create).
 *
 * The files, top down (each calls only the ones below it, never one beside it):
 *   drainer.c      the thread and its loop, one batch, the markers (adopting drain_state's),
 *                  isolating a refused record, cleanup, the lifecycle
 *   drain_copy.c   method COPY: binary COPY into messages, the staging merge, one batch left
 *                  in flight on the other connection
 *   drain_pipe.c   method PIPELINE: one prepared INSERT per row in libpq's pipeline mode
 *   drain_sql.c    the PostgreSQL side: every statement's text and parameters, the session
 *                  setup, the end of a batch's transaction (rooms, dead letters, next_seq,
 *                  drain_state, COMMIT), the pipeline's send/collect
 *   drain_read.c   the batch: log records copied out of LMDB and checked, the room cache
 *
 * Threads: all of it runs on the thread that owns the drainer (the drainer thread, or the
 * caller of rc_drainer_drain_now()); only d->st (under d->lock), d->stopping, d->fault_hold
 * and d->cleanup_cutoff_ms are shared (see drainer.h).
 */
#ifndef RC_DRAIN_IMPL_H
#define RC_DRAIN_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <rte_common.h>

#include "drainer.h"
#include "pgdb.h"

#define DRAIN_CLEANUP_CHUNK 10000 /* rows per cleanup statement (drain_db_cleanup) */
#define DRAIN_SLEEP_SLICE_MS 10

/* The prepared statements of every session (drain_db_session), by name. */
#define DRAIN_STMT_INSERT "rc_ins"  /* one message, ON CONFLICT DO NOTHING */
#define DRAIN_STMT_ALARM "rc_alarm" /* its drain_alarms row, when its key holds another */
#define DRAIN_STMT_PARAMS 9         /* rc_alarm's; rc_ins takes the first 8 */

struct rc_drainer;

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

/* A room's log entry that shows it deleted (a tombstone: its flags as stored now, so any
 * entry of a room deleted since): the database must lose the room's rows at this point of
 * the log. Such an entry ends its batch (drain_read), and the batch's end deletes the rows
 * after everything else of the batch (drain_pl_finish): what the log holds after it, a
 * room created again under the name included, lands in a later transaction. */
static inline bool
drain_rec_deletes(uint8_t kind, uint64_t flags)
{
	return kind == RC_WAL_ROOM && (flags & RC_WAL_ROOM_DELETED) != 0;
}

/* room_id -> name; open addressing, grows, never evicts (a room's creation entry renames
 * the slot of an id used again after a deleted room). `gen`/`max_seq` aggregate the
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

/* Results expected back from a pipeline, in order: what each is. */
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
	struct pl pl; /* pl.db: its connection; NULL when nothing is pending; pl.tags: one
		       * per statement of a batch's end, dead letters included (batch_max + 8) */
	uint64_t lsn; /* its last LSN */
	uint64_t first; /* its first LSN */
	unsigned nrecs;
	uint64_t alarms;
	unsigned dead; /* dead letters in it */
};

/* A drain method: how a batch's messages reach the database. drainer.c runs, for a batch
 * read and resolved in d->recs, on d->db:
 *   m->stream(d, &alarms)      opens the transaction and writes the messages; *alarms gets
 *                              the drain_alarms rows added
 *   drain_pending_end(d)       the batch left in flight before, if any: its answer
 *   m->finish(d, alarms, &dead) ends the transaction (drain_pl_finish) and either waits for
 *                              the COMMIT (returns 1, *dead: its dead letters) or leaves the
 *                              batch in d->pend, answered by the next drain_pending_end
 *                              (returns 0)
 * Both return -errno on failure, the text in d->db->err; the caller closes the
 * connections. */
struct drain_method {
	unsigned conns;      /* connections it uses, in turns: d->conns[0 .. conns) */
	unsigned first_read; /* records read before the transaction opens (0: batch_max) */
	int (*setup)(struct rc_drainer *d); /* once, at create: 0 or -ENOMEM */
	int (*stream)(struct rc_drainer *d, uint64_t *alarms);
	int (*finish)(struct rc_drainer *d, uint64_t alarms, uint64_t *dead);
};

extern const struct drain_method drain_method_copy;     /* drain_copy.c */
extern const struct drain_method drain_method_pipeline; /* drain_pipe.c */

struct rc_drainer {
	struct rc_wal *wal;
	struct rc_drainer_conf conf;
	const struct drain_method *m; /* conf.method's */
	char *conninfo;
	char *node_id;
	char appname[64]; /* "roomcastd-drainer rooms:NODE eEPOCH" (schema.c, version 3) */
	uint64_t ceiling; /* the batch being read stops before LSNs above this */
	bool cut; /* the batch read so far ends with a deleted room's entry (drain_rec_deletes):
		   * nothing after it joins the batch */
	/* isolating a record the database refuses (see "Dead letters" in drainer.h) */
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
	struct rc_pgdb conns[2]; /* m->conns of them, in turns */
	struct rc_pgdb *db;      /* the connection of the batch being built */
	struct drain_pending pend;
	struct pl pipe; /* method PIPELINE: its batch (tags, missed: sized for batch_max) */
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

static inline bool
drain_stopping(struct rc_drainer *d)
{
	return atomic_load_explicit(&d->stopping, memory_order_acquire);
}

/* Sleeps ms, in slices, waking early when the drainer stops. */
static inline void
drain_sleep_ms(struct rc_drainer *d, uint64_t ms)
{
	while (ms > 0 && !drain_stopping(d)) {
		uint64_t slice = RTE_MIN(ms, (uint64_t)DRAIN_SLEEP_SLICE_MS);
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)slice * 1000000 };

		nanosleep(&ts, NULL);
		ms -= slice;
	}
}

/* ---- drain_sql.c ---- */

/* The buffer grown for `more` bytes; 0 or -ENOMEM. */
int drain_sb_reserve(struct sbuf *b, size_t more);
/* n bytes of s appended (and a NUL after them); 0 or -ENOMEM. */
int drain_sb_add(struct sbuf *b, const char *s, size_t n);
void drain_sb_free(struct sbuf *b);

/* Connects db to d's database as d->appname, with a larger send buffer on a local
 * socket. 0 or -errno (rc_pgdb_connect), the text in db->err. */
int drain_db_open(struct rc_drainer *d, struct rc_pgdb *db);
/* The session's setup: statement timeout, the staging table, the prepared statements. */
int drain_db_session(struct rc_pgdb *db);
/* "HOST port PORT" of db's server into out. */
void drain_db_server(const struct rc_pgdb *db, char *out, size_t len);
/* drain_state's marker of d's node into *lsn (0: no row). 0 or -errno. */
int drain_db_marker(struct rc_drainer *d, uint64_t *lsn);
/* Does the database hold log record r (its row, or its dead letter)? 1, 0 or -errno. */
int drain_db_holds(struct rc_drainer *d, const struct drain_rec *r);
/* The node's rows in drain_dead_letters into *rows. 0 or -errno. */
int drain_db_dead_rows(struct rc_drainer *d, uint64_t *rows);
/* Deletes up to DRAIN_CLEANUP_CHUNK messages with ts_ms before cutoff_ms (one
 * transaction); *deleted gets how many. 0 or -errno. */
int drain_db_cleanup(struct rc_drainer *d, uint64_t cutoff_ms, uint64_t *deleted);

/* Method COPY's statements: the batch's transaction opened and the binary COPY into
 * messages begun inside a savepoint (one round trip); back to that savepoint; the COPY
 * (text) into the staging table. */
extern const char drain_sql_copy_fast[];
extern const char drain_sql_copy_undo[];
extern const char drain_sql_copy_staging[];
/* The staging table into messages, ON CONFLICT DO NOTHING; *inserted: the rows that went
 * in. 0 or -errno. */
int drain_db_merge_staged(struct rc_drainer *d, uint64_t *inserted);
/* drain_alarms rows for the staged rows whose key holds a different message; *alarms:
 * how many. 0 or -errno. */
int drain_db_alarm_staged(struct rc_drainer *d, uint64_t *alarms);

/* The parameters of DRAIN_STMT_INSERT / DRAIN_STMT_ALARM for record r (buffers in nums). */
void drain_stmt_params(struct rc_drainer *d, const struct drain_rec *r, char nums[5][24],
		       const char *pm[DRAIN_STMT_PARAMS]);

/* The pipeline (libpq's pipeline mode) on p->db. Each returns 0 or -errno, the text in
 * p->db->err: -ESTALE when the lease fence refused our epoch, -ECONNRESET when the
 * connection is gone, -EIO otherwise. */
int drain_pl_begin(struct pl *p); /* enters pipeline mode */
/* Sends a query (a prepared statement `stmt`, else `sql`); tag says what its result is. */
int drain_pl_send(struct pl *p, int tag, const char *stmt, const char *sql, int np,
		  const char *const *pm);
/* Asks for the results sent so far (no sync point) and reads them. */
int drain_pl_read_back(struct pl *p);
/* A sync point, sent and read back with every result before it. */
int drain_pl_sync(struct pl *p);
/* Reads every result still due and leaves pipeline mode. */
int drain_pl_end(struct pl *p);
/* Sends the end of the batch's transaction: the rooms created in the batch, its dead
 * letters, rooms.next_seq, the rows of a room deleted by its last record, drain_state,
 * COMMIT, and a sync point; drain_pl_end() reads the answers. */
int drain_pl_finish(struct rc_drainer *d, struct pl *p);

/* ---- drain_read.c ---- */

/* The slot of id: its own, or the free one where it would go. */
struct room_slot *drain_rooms_find(struct room_cache *c, uint32_t id);
/* Doubles the cache (the first call allocates it). 0 or -ENOMEM. */
int drain_rooms_grow(struct room_cache *c);
void drain_rooms_free(struct room_cache *c);

/* Reads up to max records from lsn into d->recs (emptied first), ending after a record
 * that deletes a room (drain_rec_deletes). Returns the count or -errno. */
int drain_read(struct rc_drainer *d, uint64_t from, unsigned max);
/* Appends up to max more records (the batch stays within batch_max). Returns how many. */
int drain_read_more(struct rc_drainer *d, unsigned max);
/* The room slot for a message, learning the name from LMDB the first time (NULL when it
 * cannot). */
struct room_slot *drain_room(struct rc_drainer *d, uint32_t id);
/* A new batch: per-room aggregates start over. */
void drain_batch_begin(struct rc_drainer *d);
/* Resolves the room names of recs[first..) and aggregates the batch's max seq per room.
 * 0 or -ENOENT. */
int drain_resolve(struct rc_drainer *d, unsigned first);

#endif /* RC_DRAIN_IMPL_H */
