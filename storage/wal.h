/* SPDX-License-Identifier: MIT */
/*
 * The write-ahead buffer: an LMDB environment that holds every room and every message a
 * node accepted, written only by the WAL writer thread with group commit. The implementation
 * is split by concept: wal.c (open/close, the writer thread, completions), wal_write.c (the
 * write transaction), wal_log.c (the commit log), wal_space.c (space, rc_wal_full()),
 * wal_read.c (the read path).
 *
 * Threads:
 *  - producers (worker lcores, the control thread) allocate records from the pool that
 *    rc_wal_pool() returns, fill them, and enqueue them on the ring from rc_wal_ring()
 *    (multi-producer). A producer whose enqueue fails frees the record and counts a drop.
 *  - the WAL writer thread (rc_wal_start) dequeues bursts, writes them in ONE LMDB write
 *    transaction, commits it synced, then sets rec->status and enqueues every record on
 *    completion ring rec->reply_to. It never drops a record: when a commit fails it
 *    retries with back-off (the records stay in memory), and counts the failure; on
 *    MDB_MAP_FULL it first trims what the drain allows, then halves the batch. Only once
 *    rc_wal_stop() runs does a commit still failing after 1 s complete its records with
 *    the error, so that stopping always ends.
 *  - the consumer of a completion ring frees the record with rte_mempool_put().
 *  - readers (control thread at start-up, the history thread, the drainer) use
 *    rc_wal_load_rooms(), rc_wal_read*(), rc_wal_room_name() and rc_wal_log_read(): LMDB
 *    read transactions, safe from any thread but a worker lcore.
 * Worker lcores never call anything here except rc_wal_pool(), rc_wal_ring() and
 * rc_wal_full(), which do not touch LMDB.
 *
 * Errors: actions return 0 or -errno (LMDB codes are translated here; MDB_MAP_FULL ->
 * -ENOSPC). Constructors return NULL and set errno.
 */
#ifndef RC_WAL_H
#define RC_WAL_H

#include <stdbool.h>
#include <stdint.h>

#include "handoff.h" /* the records and their kinds (dataplane/) */
#include "proto.h"

struct rte_mempool;
struct rte_ring;
struct rc_bell;
struct rc_wal;

#define RC_WAL_MAX_COMPLETIONS 64 /* completion rings (rc_wal_rec.reply_to) */

struct rc_wal_conf {
	const char *dir;          /* created if missing */
	uint64_t map_size;        /* bytes */
	unsigned high_water_pct;  /* rc_wal_full() turns true when map_used is above this share
				   * of the map, false again 2 points below */
	unsigned batch_max;       /* records per transaction at most */
	unsigned ring_size;       /* power of two */
	unsigned pool_size;       /* records in the pool */
	bool nosync;              /* tests and benchmarks only: MDB_NOSYNC */
	int socket_id;            /* for the ring and the pool */
	uint64_t keep_records;    /* drained records kept as the recent window (0: keep all) */
	bool strict_seq;          /* a message is stored only right after its room's last
				   * stored seq (else -ESPIPE): the node's rule, no gap ever;
				   * off for tests that store arbitrary seqs */
	uint64_t peer_keep_records; /* HA (0: off): while this node writes the log, records the
				     * peer has not acknowledged are not trimmed unless this many
				     * newer ones exist (counted: peer_trimmed) */
	unsigned keep_per_room;   /* the (user, cmid) of each room's last keep_per_room
				   * messages are kept in "dkeys", whatever the trim does to the
				   * messages (the re-sent POST windows are rebuilt from them after
				   * a restart or a takeover: rc_wal_read_dkeys); 0: none */
	unsigned peer_hold_max;   /* records the peer gate holds at most (0: ring_size); at
				   * least batch_max */
};

struct rc_wal_stats {
	uint64_t commits;         /* committed transactions (batches, marker-and-trim) */
	uint64_t records;         /* records committed */
	uint64_t bytes;           /* value bytes committed */
	uint64_t commit_errors;   /* failed transactions (retried) */
	uint64_t max_batch;       /* largest batch committed */
	uint64_t map_size;        /* bytes */
	uint64_t map_used;        /* bytes in use: the pages up to the last one in use minus
				   * the free pages on LMDB's freelist, times the page size */
	uint64_t rooms;           /* room records stored (a deleted room's tombstone too) */
	uint64_t messages;        /* messages stored */
	bool full;                /* above the high-water mark */
	bool nosync;              /* the environment commits without fsync (wal.nosync): an
				   * acknowledged message can be lost in a crash; read from the
				   * running LMDB environment, not the configuration */
	uint64_t lost_completions; /* stored but freed unreported: reply_to had no ring, or
				    * the ring stayed full for 1 s during rc_wal_stop() */
	/* the commit log and the drain (README "Storage") */
	uint64_t last_lsn;          /* highest LSN committed */
	uint64_t drained_lsn;       /* every LSN <= this is in the external database */
	uint64_t backlog_records;   /* last_lsn - drained_lsn */
	uint64_t backlog_bytes;     /* value bytes of the records above the persisted marker */
	uint64_t oldest_undrained_ms; /* ts_ms of the first undrained record, 0 if none */
	uint64_t trimmed;           /* messages removed from LMDB after their drain */
	uint64_t dedup_keys;        /* re-sent POST keys held in "dkeys" (keep_per_room) */
	uint64_t seq_gaps_refused;  /* messages refused with -ESPIPE (see rc_wal_rec) */
	uint64_t peer_trimmed;      /* records trimmed before the HA peer acknowledged them */
	uint64_t map_free;          /* bytes of free pages inside the used part of the map */
	/* replication to the HA peer (control/ha/HA.md) */
	uint64_t writer_start;      /* rc_wal_writer_start() */
	uint64_t peer_acked_lsn;    /* the highest LSN the peer acknowledged */
	uint64_t held_batches;      /* committed batches whose completion the gate held */
	uint64_t held_records;      /* their records */
	uint64_t holding;           /* records held right now */
	uint64_t hold_max_us;       /* the longest a batch was held */
	uint64_t unacked_completions; /* held records completed by rc_wal_stop() with
				       * -ENOTCONN: the peer had not acknowledged them */
	uint64_t applied;           /* records written by rc_wal_apply() */
	uint64_t truncated;         /* log records removed by rc_wal_truncate_above() */
	uint64_t resets;            /* rc_wal_reset_to() calls that changed the log */
};

/*
 * The commit log. Every committed record (message or room) gets a log sequence number
 * (LSN: 1, 2, 3, ... in commit order, never reused), stored with it. The drainer reads the
 * log in LSN order and, once a batch is in the external database, calls
 * rc_wal_set_drained(); the writer persists the drained LSN in its next transaction (also
 * when it has no new records) and trims: a drained message is deleted from LMDB once it is
 * older than the newest `keep_records` records (its message and log entry go; its re-sent
 * POST key stays in "dkeys" while it is among its room's last `keep_per_room`); a room's
 * log entry goes once drained, its room record never (keep_records 0: nothing is
 * trimmed). Trimming runs in bounded chunks so that it never holds up a commit long.
 */
/*
 * Deleted rooms. An RC_WAL_ROOM_SET record whose flags have RC_WAL_ROOM_DELETED makes the
 * room a tombstone: its record stays (name, creator, flags) with deleted_lsn, the LSN of
 * the log entry that set it. Then the writer completes with status -ENOENT a message
 * (RC_WAL_MSG) for it, stored nothing (a POST that was on its way when the room was
 * deleted), and an RC_WAL_ROOM_SET for it (no undelete); an RC_WAL_ROOM creating its id
 * gets -EEXIST until rc_wal_trimmed_lsn() >= deleted_lsn, and then replaces it in the same
 * transaction: what is left of the old room (messages, log entries, re-sent POST keys, its
 * last seq) goes, and the new room starts from seq 1. An RC_WAL_ROOM with the flag is
 * refused (-EINVAL): a room is deleted by a state change only.
 */

struct rc_wal_logrec {
	uint64_t lsn;
	uint8_t kind; /* enum rc_wal_kind */
	uint32_t room_id;
	uint64_t seq;   /* RC_WAL_MSG */
	uint64_t ts_ms;
	uint64_t cmid;  /* RC_WAL_MSG; a room: its flags (as stored now; RC_WAL_ROOM_DELETED
			 * only in the entry that deleted it, lsn == its deleted_lsn) */
	struct rc_str user; /* sender, or the room's creator */
	struct rc_str body; /* message body, or the room's name */
	uint32_t value_len; /* stored bytes, for backlog accounting */
};

/* Call cb for the log records with lsn >= from_lsn in LSN order, at most max (read txn,
 * any thread but a worker). A non-zero return from cb stops the walk; that record is not
 * counted. Returns the number of records cb took (returned 0 for), or -errno. */
int rc_wal_log_read(struct rc_wal *w, uint64_t from_lsn, unsigned max,
		    int (*cb)(void *arg, const struct rc_wal_logrec *r), void *arg);

/* The drainer: every record with lsn <= lsn is now in the external database. Atomic;
 * never moves backwards; clamped to the LSNs a reader can have seen. Any thread. */
void rc_wal_set_drained(struct rc_wal *w, uint64_t lsn);
/* The newer of the persisted marker and the one set, the latter counted only up to
 * rc_wal_last_lsn() (it can lag a commit that readers already see). Any thread. */
uint64_t rc_wal_drained_lsn(const struct rc_wal *w);
uint64_t rc_wal_last_lsn(const struct rc_wal *w);

/* Every log entry at or below this LSN is gone (the trim point the writing thread
 * published; 0 while nothing was trimmed, always 0 with keep_records 0). A deleted room's
 * id may be created again once its deleted_lsn is at or below it: its entries were all
 * drained and, with HA, acknowledged by the peer (the trim is bounded by both). Any
 * thread. */
uint64_t rc_wal_trimmed_lsn(const struct rc_wal *w);

/* The room's name by id, copied into buf (NUL-terminated); a deleted room's too (the log's
 * readers need it for its entries). 0; -ENOENT (no such room);
 * -ERANGE when buf is too small for the name; -EINVAL for a NULL buf or len 0; -EIO for a
 * malformed record; -errno. On -ENOENT, -ERANGE and -EIO buf holds "". Read txn. */
int rc_wal_room_name(struct rc_wal *w, uint32_t room_id, char *buf, size_t len);

/* A stored room, as rc_wal_load_rooms() reports it. */
struct rc_wal_room {
	uint32_t room_id;
	uint64_t created_ms;
	uint64_t last_seq; /* 0 if no message yet */
	const char *name;  /* NUL-terminated, valid during the callback */
	const char *creator;
	uint8_t name_len;    /* the stored lengths (a damaged or injected name may hold a NUL) */
	uint8_t creator_len;
	uint8_t flags;       /* RC_WAL_ROOM_ARCHIVED... */
	uint64_t deleted_lsn; /* the LSN of the log entry that set RC_WAL_ROOM_DELETED (0
			       * unless flags has it) */
};

/* Open (creating if needed) the environment, ring and record pool. Needs an initialised
 * EAL. Returns NULL and sets errno on failure (EBUSY: another rc_wal holds the
 * directory); the text of the error goes to err. */
struct rc_wal *rc_wal_open(const struct rc_wal_conf *conf, char *err, size_t errlen);

/* The writer's doorbell (doorbell.h): a producer rings it after each enqueue on
 * rc_wal_ring() (rc_bell_ring), else its record waits for the idle writer's timeout
 * (WAL_IDLE_WAIT_US, 100 ms). Valid from rc_wal_open() to rc_wal_close(). */
struct rc_bell *rc_wal_bell(struct rc_wal *w);

/* The doorbell of completion ring idx's consumer (NULL: none): the writer rings it once
 * per batch that put completions on that ring. Before rc_wal_start; 0, -EINVAL or -EBUSY
 * as rc_wal_set_completion(). */
int rc_wal_set_completion_bell(struct rc_wal *w, unsigned idx, struct rc_bell *bell);

/* Register the completion ring with index idx (before rc_wal_start). 0, -EINVAL (idx out
 * of range) or -EBUSY (the writer runs). */
int rc_wal_set_completion(struct rc_wal *w, unsigned idx, struct rte_ring *ring);

/* Start (-EALREADY if running) / stop the writer thread. Stop drains the input ring and
 * commits it first, and persists a drained marker set meanwhile. Close stops the writer,
 * persists a drained marker still pending, and frees everything. */
int rc_wal_start(struct rc_wal *w);
void rc_wal_stop(struct rc_wal *w);
void rc_wal_close(struct rc_wal *w);

struct rte_mempool *rc_wal_pool(struct rc_wal *w);
struct rte_ring *rc_wal_ring(struct rc_wal *w);

/* True while the map is above its high-water mark: refuse new POSTs with STORAGE_FULL. */
bool rc_wal_full(const struct rc_wal *w);

/* Call cb for every stored room, in room_id order; a non-zero return from cb stops the
 * walk and is returned. Else 0, or -errno (-EIO for a malformed record). A deleted room
 * (tombstone) is reported too, with RC_WAL_ROOM_DELETED and its deleted_lsn: not a room
 * to serve, an id to reuse once rc_wal_trimmed_lsn() reaches its deleted_lsn. */
int rc_wal_load_rooms(struct rc_wal *w, int (*cb)(void *arg, const struct rc_wal_room *r),
		      void *arg);

/* Call cb for the messages of room_id with from_seq <= seq <= to_seq, in seq order, at most
 * max of them; a non-zero return from cb stops (that message is not counted). Returns the
 * number of messages cb took (returned 0 for), or -errno. A deleted room has none (here
 * and in rc_wal_read_last*, rc_wal_read_dkeys). */
int rc_wal_read(struct rc_wal *w, uint32_t room_id, uint64_t from_seq, uint64_t to_seq,
		unsigned max, int (*cb)(void *arg, const struct rc_wal_msg *m), void *arg);

/* The last n messages of room_id (n may exceed what exists), oldest first. */
int rc_wal_read_last(struct rc_wal *w, uint32_t room_id, unsigned n,
		     int (*cb)(void *arg, const struct rc_wal_msg *m), void *arg);

/* The last n messages of room_id with seq <= to_seq, oldest first (history LATEST). */
int rc_wal_read_last_to(struct rc_wal *w, uint32_t room_id, uint64_t to_seq, unsigned n,
			int (*cb)(void *arg, const struct rc_wal_msg *m), void *arg);

void rc_wal_get_stats(struct rc_wal *w, struct rc_wal_stats *st);

/* Commit records synchronously from the calling thread, bypassing the ring; for unit tests
 * and the start-up path only (-EBUSY while the writer runs). 0 once committed, every
 * record's status set; else -errno, counted, nothing retried. rc_wal_commit_now(w, NULL, 0)
 * runs one save-marker-and-trim transaction (a drained marker set since the last commit,
 * at most 1000 trimmed records) when there is anything to do, else returns 0. */
int rc_wal_commit_now(struct rc_wal *w, struct rc_wal_rec **recs, unsigned n);

/*
 * Replication (storage/repl.h streams the log to the HA peer). For each WAL exactly
 * one node of the pair is the writer at a time; the other holds a replica whose log has the
 * writer's records at the writer's LSNs.
 *
 * Replica side: rc_wal_apply(), rc_wal_apply_rooms(), rc_wal_truncate_above() and
 * rc_wal_reset_to() write LMDB from the calling thread (the replication thread). They are
 * safe while this rc_wal's writer thread runs: one mutex serialises every write
 * transaction of an rc_wal (the writer's batches and maintenance, and these), and each of
 * them reads the log's state inside it. The replica's writer thread should have no records
 * to write (nothing is enqueued on a replica); its idle work (persisting the drained
 * marker, trimming) may run meanwhile. Any thread but a worker lcore.
 *
 * Writer side: the peer gate. While it is on (rc_wal_set_peer_gate), the writer thread
 * commits as usual but holds the completions of each committed batch until
 * rc_wal_peer_acked() reached the batch's highest LSN, in batch order; it keeps committing
 * further batches meanwhile, up to peer_hold_max held records, then stops dequeuing until
 * acks arrive. Turning the gate off completes everything held at once (status untouched).
 * rc_wal_stop() waits up to 200 ms for the acks of what is held, then completes the rest
 * with status -ENOTCONN ("stored here, not confirmed by the peer": the dataplane answers
 * "not stored, retry", and the client's resend is deduplicated by the node that then owns
 * the room); no held record is ever freed unreported.
 */

/* Writes records received from the writer, in ONE write transaction (synced unless
 * conf.nosync), with their LSNs: recs[0].lsn must be rc_wal_last_lsn() + 1 and the rest
 * consecutive, else -EINVAL and nothing is written. A MSG is stored as the writer stores it
 * (its message, log entry and the room's last seq), a ROOM creates the room; an entry
 * already stored under the same key is overwritten (the writer's copy wins). A room entry
 * with RC_WAL_ROOM_DELETED makes a tombstone whose deleted_lsn is the entry's LSN; after it
 * a message or state change of that room is refused (-EINVAL, nothing written), and a
 * creation of its id first deletes what is left of the old room here (its log entries up
 * to deleted_lsn, messages, keys, last seq). The same transaction persists a drained
 * marker set meanwhile and trims. 0 or -errno (-EINVAL also for a malformed record). Any
 * thread but a worker lcore; see above. */
int rc_wal_apply(struct rc_wal *w, const struct rc_wal_logrec *recs, unsigned n);

/* Stores rooms without log entries or LSNs (a reset's snapshot of the writer's rooms):
 * each room is created or overwritten, and its last seq raised to r->last_seq; a tombstone
 * keeps r->deleted_lsn. A stored room that is not the writer's (another name, creator or
 * creation time, or a tombstone where the writer has a room: deleted and created again
 * meanwhile) loses its messages, log entries, keys and last seq first. One transaction.
 * 0, -EINVAL (malformed: empty or long name) or -errno. */
int rc_wal_apply_rooms(struct rc_wal *w, const struct rc_wal_room *rooms, unsigned n);

/* Deletes every log record with an LSN above lsn and what it created (a message; a ROOM
 * record's room and its last seq), sets the rooms' last seqs back below the first deleted
 * message, and makes lsn the last LSN (persisted; the drained marker, the peer's ack and
 * the trim point are lowered to it if above). Records above lsn whose log entries were
 * already trimmed cannot be found and stay. It also clears the writer start (persisted):
 * the log is now a copy of the current writer's, none of it written here. A removed state
 * change puts back the flags it replaced (a removed deletion: the room again, messages
 * accepted). lsn at or above
 * the last LSN only clears the writer start. 0 or -errno. */
int rc_wal_truncate_above(struct rc_wal *w, uint64_t lsn);

/* The writer trimmed (after their drain) LSNs this replica misses: forget the position.
 * Log entries above lsn are dropped (the messages and rooms they point to stay readable;
 * the writer resends what it still holds, overwriting them), lsn becomes the last LSN and
 * the drained marker (every LSN the writer trimmed was drained), so the next
 * rc_wal_apply() starts at lsn + 1. Rooms are kept: the writer sends its rooms with
 * rc_wal_apply_rooms() BEFORE the reset, so that a reset seen means the rooms are there.
 * 0 or -errno. */
int rc_wal_reset_to(struct rc_wal *w, uint64_t lsn);

/* This environment becomes the writer: its writer start, the LSN of the first record it
 * will write itself (rc_wal_last_lsn() + 1), is persisted in "meta"; the peer's ack goes
 * back to 0 (the peer acknowledges again once connected). 0 or -errno. */
int rc_wal_become_writer(struct rc_wal *w);
/* The persisted writer start: 0 when never a writer, or when a truncation since made the
 * log a copy of another writer's. Any thread. */
uint64_t rc_wal_writer_start(const struct rc_wal *w);

/* Calls cb for each re-sent POST key kept for room_id ("dkeys": the (cmid, user) of its
 * last keep_per_room messages, whether or not the messages were trimmed), in seq order;
 * a non-zero return stops. The number of keys read, or -errno. Read transaction, any
 * thread but a worker lcore. */
int rc_wal_read_dkeys(struct rc_wal *w, uint32_t room_id,
		      int (*cb)(void *arg, uint64_t seq, uint64_t cmid, const char *user,
				unsigned user_len),
		      void *arg);

/* The first LSN still in the log (rc_wal_last_lsn() + 1 when the log is empty) into *lsn.
 * Read transaction. 0 or -errno. */
int rc_wal_first_lsn(struct rc_wal *w, uint64_t *lsn);

/* The peer gate (see above). Any thread. */
void rc_wal_set_peer_gate(struct rc_wal *w, bool on);
bool rc_wal_peer_gate(const struct rc_wal *w);
/* The peer holds every LSN <= lsn. Never moves backwards (except through
 * rc_wal_become_writer and rc_wal_truncate_above). The replication thread. */
void rc_wal_peer_acked(struct rc_wal *w, uint64_t lsn);
uint64_t rc_wal_peer_acked_lsn(const struct rc_wal *w);

/* The drain ceiling: the drainer sends PostgreSQL only LSNs <= this, so that the database
 * never holds a record the peer (the survivor of a crash) may lack. It is the larger of
 * the peer's ack (rc_wal_peer_acked_lsn) and the highest LSN completed WITHOUT it: while
 * the gate is off (no peer, or the stream down: the node acknowledges alone), every commit
 * once completed; when the gate is turned off, what it held; what the log held when this
 * node became the writer (the previous writer's acknowledged records). Records held by the
 * gate, or completed unacknowledged by rc_wal_stop() (-ENOTCONN), stay above it until the
 * peer acknowledges them. Never above rc_wal_last_lsn(); lowered by a truncation. Any
 * thread. */
uint64_t rc_wal_drain_ceiling(const struct rc_wal *w);

/* An eventfd (or -1: none) the writer thread writes 1 to after each commit of records, so
 * that the replication thread streams them at once. Any thread. */
void rc_wal_set_notify_fd(struct rc_wal *w, int fd);

#endif /* RC_WAL_H */
