/* SPDX-License-Identifier: MIT */
/*
 * Database merge jobs: for installations where each node of a group had its own database,
 * merge the two per-node databases (sources A and B) into one target database.
 *
 *   add       rc_merge_store_add(): a job with an id (1, 2, ...) and a uid (its key in the
 *             target's merge_jobs table), kept in a JSON file on the node. The databases
 *             are kept as given, any password removed (rc_merge_redact).
 *   validate  rc_merge_validate(): FAILs unless the TC service is stopped on both nodes of
 *             the group (-EBUSY); both sources reachable, readable (SELECT) and at schema
 *             version RC_SCHEMA_VERSION, fully drained (no room whose next_seq runs ahead
 *             of its last stored message); the target reachable, a third database (not a
 *             source), its schema created/migrated (rc_schema_migrate, only while TC is
 *             stopped on both), CREATE/TEMP/INSERT privileges, empty (no rooms, members or
 *             messages) unless this very job is already done there, and room (the
 *             sources' tables against opts' limit, best effort, see dbcheck.h).
 *   run       rc_merge_run(): only after a clean validation (re-checked first). ONE target
 *             transaction (the merge is all or nothing; a failed or interrupted run leaves
 *             the target as it was and may simply be run again):
 *               - rooms whose messages come from one source are copied as they are
 *                 (messages keep their seq; next_seq = max(the sources' next_seq, last
 *                 seq + 1));
 *               - rooms with messages in both sources: the messages of both, ordered by
 *                 (ts_ms, source A before B, seq), are renumbered 1..N; a message
 *                 identical in both (same room, sender, cmid, ts_ms, body: drained to both
 *                 databases) is stored once ("duplicates folded"); every (source, old seq)
 *                 -> new seq goes to merge_seq_map(job_id, room, source, old_seq,
 *                 new_seq); next_seq = N + 1;
 *               - rooms rows: the attributes of the earlier created row (ties: A),
 *                 members_only if either, created_at the earlier;
 *               - room_members: the union; a member of both keeps the higher role
 *                 (moderator > participant > visitor > none) and affiliation (owner >
 *                 admin > member > none > outcast);
 *               - drain_alarms: copied, their seq translated through the mapping;
 *                 drain_state: the union, the higher drained_lsn per node;
 *               - merge_jobs(job_id, source_a, source_b, state 'done', result, finished_at)
 *                 records the job: running it again (from the same or another node, even
 *                 with a new local store) changes nothing and reports "already done".
 *             Sources are read in one REPEATABLE READ READ ONLY transaction each, streamed
 *             with COPY into temporary tables of the target; nothing is written to them.
 *
 * merge_jobs and merge_seq_map are created by the merge (CREATE TABLE IF NOT EXISTS), not
 * by the schema migrations.
 *
 * Library code: nothing here logs; no password is ever stored or put in a text. Threads:
 * the caller's (the control thread): every call blocks on the network or the disk; a store
 * is not thread-safe.
 */
#ifndef RC_MERGE_H
#define RC_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dbcheck.h"

enum rc_merge_db {
	RC_MERGE_SOURCE_A = 0,
	RC_MERGE_SOURCE_B,
	RC_MERGE_TARGET,
	RC_MERGE_DB_MAX,
};

enum rc_merge_state {
	RC_MERGE_ADDED = 0, /* not validated yet */
	RC_MERGE_INVALID,   /* the last validation failed */
	RC_MERGE_VALIDATED, /* the last validation passed: may run */
	RC_MERGE_FAILED,    /* the last run failed (the target is unchanged) */
	RC_MERGE_DONE,
	RC_MERGE_STATE_MAX,
};

enum rc_merge_table {
	RC_MERGE_T_ROOMS = 0,
	RC_MERGE_T_MEMBERS,
	RC_MERGE_T_MESSAGES,
	RC_MERGE_T_ALARMS,
	RC_MERGE_T_DRAIN_STATE,
	RC_MERGE_T_MAX,
};

struct rc_merge_stats {
	uint64_t rows[RC_MERGE_T_MAX][RC_MERGE_DB_MAX]; /* source A, source B, target after */
	uint64_t rooms_copied;        /* messages from one source (or none): seqs kept */
	uint64_t rooms_renumbered;    /* messages in both sources */
	uint64_t rooms_in_both;       /* a rooms row in both sources */
	uint64_t room_attrs_differ;   /* ... whose attributes differ (the earlier row won) */
	uint64_t duplicates_folded;   /* messages identical in both, stored once */
	uint64_t members_in_both;     /* (room, user) in both */
	uint64_t member_roles_differ; /* ... with a different role or affiliation */
	uint64_t seq_map_rows;        /* rows written to merge_seq_map */
};

#define RC_MERGE_DB_LEN 256

struct rc_merge_job {
	unsigned id;                                 /* the CLI's JOB: 1, 2, ... */
	char uid[40];                                /* key in the target's merge_jobs */
	char db[RC_MERGE_DB_MAX][RC_MERGE_DB_LEN];   /* as added, password removed */
	enum rc_merge_state state;
	int64_t created_s, validated_s, finished_s;  /* wall clock (s); 0: not yet */
	struct rc_merge_stats stats;                 /* of the run (or the target's record) */
	char error[512];                             /* the last failure, "" */
};

struct rc_merge_params {
	const char *conninfo[RC_MERGE_DB_MAX]; /* resolved by the caller, passwords included;
						* never stored */
	const char *node[2];                   /* the group's two nodes, e.g. "1A", "1B" */
	bool tc_stopped[2];                    /* TC is stopped on node[i] (cluster state);
						* false (the default) refuses */
	const char *node_addr;                 /* for pg_hba.conf fix lines; NULL */
	uint64_t target_limit_bytes;           /* the target's size limit; 0: none */
};

/*
 * Validates job (see above) into r, updates job->state (VALIDATED or INVALID; a DONE job
 * stays DONE), validated_s and error. 0 when valid; -EBUSY when TC runs on a node of the
 * group (the check's text: "the TC service is running on node X: stop it on both nodes of
 * the group (roomcastctl service stop tc --node X)"); else the -errno of the first failed
 * check (-ECONNREFUSED, -EACCES, -ENOENT, -EPROTO, -EEXIST (target not empty), -EINVAL
 * (same database twice, not drained), -ENOSPC).
 */
int rc_merge_validate(struct rc_merge_job *job, const struct rc_merge_params *p,
		      struct rc_dbcheck_report *r);

/*
 * Runs job: *already_done is set when the job was done before (locally or per the
 * target's merge_jobs): nothing is changed, job->stats come from the target's record when
 * it was read. Otherwise the job must be VALIDATED (else -EINVAL, "validate first"); the
 * validation is repeated into r (its failure is returned as by rc_merge_validate), then
 * the merge runs. 0: job DONE with stats; -errno: job FAILED with error, target unchanged.
 */
int rc_merge_run(struct rc_merge_job *job, const struct rc_merge_params *p,
		 struct rc_dbcheck_report *r, bool *already_done);

/* What to tell the operator after a run: assign the target to the group, start TC on both
 * nodes. snprintf-like. */
size_t rc_merge_reminder(const struct rc_merge_job *job, const struct rc_merge_params *p,
			 char *buf, size_t cap);

/* A conninfo (key=value or URI) rewritten as key=value without its password; anything
 * that does not parse as a conninfo (a database's name in the configuration) is copied,
 * unless it might hold a password ("(unparsable connection string)"). snprintf-like. */
size_t rc_merge_redact(const char *conninfo, char *out, size_t cap);

const char *rc_merge_state_str(enum rc_merge_state s);       /* "added", ... "done" */
const char *rc_merge_table_str(enum rc_merge_table t);       /* "rooms", ... */
const char *rc_merge_db_str(enum rc_merge_db d);             /* "source A", ... "target" */

/* A job as JSON: {id, uid, state, source_a, source_b, target, created_s, validated_s,
 * finished_s, error, tables: {rooms: {source_a, source_b, target}, ...}, conflicts: {...}}.
 * NULL on allocation failure. */
json_t *rc_merge_job_to_json(const struct rc_merge_job *job);

/* `db merge show`: state, databases, per-table row counts, conflicts, error.
 * snprintf-like. */
size_t rc_merge_job_to_text(const struct rc_merge_job *job, char *buf, size_t cap);

/*
 * The node's job store: a JSON file (mode 0600), rewritten whole (temporary file, fsync,
 * rename) on every change.
 */
struct rc_merge_store;

/* Opens (or starts, if path does not exist) a store. NULL with errno set (EINVAL: not a
 * store file; err gets the reason). */
struct rc_merge_store *rc_merge_store_open(const char *path, char *err, size_t errlen);
void rc_merge_store_close(struct rc_merge_store *s);

/* Adds a job for sources a, b and target t (conninfos or names; passwords are removed)
 * and saves. *job gets it. 0, -EINVAL (a missing or too long argument), -errno (save). */
int rc_merge_store_add(struct rc_merge_store *s, const char *a, const char *b, const char *t,
		       struct rc_merge_job *job);

/* A copy of job id: 0 or -ENOENT. */
int rc_merge_store_get(const struct rc_merge_store *s, unsigned id, struct rc_merge_job *job);

/* Replaces the job of the same id and saves: 0, -ENOENT, -errno. */
int rc_merge_store_put(struct rc_merge_store *s, const struct rc_merge_job *job);

unsigned rc_merge_store_count(const struct rc_merge_store *s);
const struct rc_merge_job *rc_merge_store_at(const struct rc_merge_store *s, unsigned i);

/* `db merge list`: {"jobs": [job, ...]} and a table (ID STATE SOURCE_A SOURCE_B TARGET). */
json_t *rc_merge_store_to_json(const struct rc_merge_store *s);
size_t rc_merge_store_to_text(const struct rc_merge_store *s, char *buf, size_t cap);

#endif /* RC_MERGE_H */
