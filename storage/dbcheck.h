/* SPDX-License-Identifier: MIT */
/*
 * `db check`: from a node, check that the group's external database will work, one check
 * at a time, each ending in PASS or FAIL with how to fix it (INFO: a fact worth knowing,
 * never a failure; WARN: works now, but a risk, with how to remove it, never a failure;
 * SKIP: could not be checked because an earlier check failed).
 *
 * Checks of rc_dbcheck_run(), in this order (the item's `name`):
 *   connect           the server is reached and lets the role in. A refusal says why:
 *                     unreachable host/port, unknown host, no pg_hba.conf entry (the fix is
 *                     the exact line to add, with the node's address as the server saw it),
 *                     wrong password, no password supplied, unknown role, role without
 *                     LOGIN, no such database, no CONNECT, too many connections.
 *   pg_hba            pg_hba.conf lets the node in: PASS once connected (the address is
 *                     inet_client_addr()), or when the refusal came after pg_hba.conf had
 *                     matched (a wrong password); FAIL with the line to add; SKIP when the
 *                     server was not reached.
 *   server_version    PostgreSQL 12 or later.
 *   schema            roomcast_schema's version: current; missing or older (PASS: the node
 *                     creates/migrates it at start); newer than this binary (FAIL).
 *   privileges        what a node needs: CONNECT and TEMP on the database (the drainer's
 *                     staging table), USAGE on the schema, CREATE on it while the schema is
 *                     missing or older, SELECT/INSERT/UPDATE/DELETE on the tables that
 *                     exist, USAGE on drain_alarms' sequence. The fix is the GRANTs to run.
 *   merge_privileges  what `db merge` needs of this database as a target (CREATE on the
 *                     schema for merge_jobs/merge_seq_map, TEMP for the staging tables,
 *                     SELECT/INSERT/UPDATE on the tables) and as a source (SELECT).
 *   dblink            INFO only: whether the dblink extension is available/installed.
 *                     roomcast's merge does not need it: the node reads the two sources and
 *                     writes the target through libpq itself.
 *   room              the database's size (pg_database_size) and the roomcast tables' share;
 *                     with opts.incoming_bytes, what a merge would add. Best effort: PASS
 *                     unless opts.limit_bytes is set and would be exceeded. PostgreSQL does
 *                     not tell a client how much disk is free: the note says to check the
 *                     database host's file system.
 *   replication       can the database fail over without losing what the nodes committed?
 *                     (pg_is_in_recovery, synchronous_standby_names, pg_stat_replication:
 *                     needs pg_read_all_stats, e.g. GRANT pg_monitor, to see sync_state.)
 *                     PASS: a synchronous standby streams (the nodes commit their drain and
 *                     lease rows with synchronous_commit = on, so a promoted synchronous
 *                     standby holds them all). WARN: asynchronous standbys only, or none: a
 *                     promotion could lose lease rows (an epoch handed out twice) and
 *                     drained messages; or the role cannot see sync_state. FAIL: the server
 *                     is a standby (-EROFS), or synchronous_standby_names is set and no
 *                     synchronous standby streams: every commit waits (-EAGAIN).
 *
 * Library code: nothing here logs; texts never contain a password. Threads: a report and a
 * struct rc_pgdb belong to the calling thread (the control thread, for the CLI); every call
 * blocks on the network (connect_timeout 3 s), so never call from a worker lcore.
 */
#ifndef RC_DBCHECK_H
#define RC_DBCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "pgdb.h"

enum rc_dbcheck_result {
	RC_DBCHECK_PASS = 0,
	RC_DBCHECK_FAIL,
	RC_DBCHECK_INFO, /* never a failure */
	RC_DBCHECK_SKIP, /* not checked: an earlier check failed */
	RC_DBCHECK_WARN, /* works now, but a risk to know about: never a failure */
	RC_DBCHECK_RESULT_MAX,
};

#define RC_DBCHECK_MAX_ITEMS 32

struct rc_dbcheck_item {
	char subject[24]; /* "" for rc_dbcheck_run; "source A", "target", "node 1A" (merge) */
	char name[24];    /* "connect", "pg_hba", ... */
	enum rc_dbcheck_result result;
	int err;          /* the -errno behind a FAIL, else 0 */
	char detail[512]; /* what was found */
	char fix[512];    /* FAIL: how to fix it; otherwise an optional note; "" */
};

/* About 33 KB: allocate it (or keep it static), not on a small stack. */
struct rc_dbcheck_report {
	unsigned n;       /* items[0..n) */
	unsigned failed;  /* FAIL items, including dropped ones */
	unsigned dropped; /* items that did not fit */
	struct rc_dbcheck_item items[RC_DBCHECK_MAX_ITEMS];
};

struct rc_dbcheck_opts {
	const char *node_name;   /* in the texts ("node 1A"); NULL: "this node" */
	const char *node_addr;   /* the node's address towards the server, for the pg_hba.conf
				  * line when the server's refusal does not name it; NULL */
	uint64_t limit_bytes;    /* a configured size limit of the database; 0: none */
	uint64_t incoming_bytes; /* what a merge would add (the sources' tables); 0: none */
};

/*
 * Runs the checks above against conninfo (libpq syntax, password included if any) and
 * fills r (reset first). o may be NULL. Returns 0 when no check failed, else the -errno of
 * the first failure: -ECONNREFUSED (unreachable), -EACCES (refused: pg_hba.conf,
 * authentication, privileges), -ENOENT (no such database), -EPROTO (schema newer than this
 * binary, server too old), -ENOSPC (over the limit), -EROFS (a standby), -EAGAIN (no
 * synchronous standby streaming while one is required), -EIO.
 */
int rc_dbcheck_run(const char *conninfo, const struct rc_dbcheck_opts *o,
		   struct rc_dbcheck_report *r);

/* "pass", "fail", "info", "skip", "warn" ("?" out of range). */
const char *rc_dbcheck_result_str(enum rc_dbcheck_result res);

/* {"ok": bool, "passed": n, "failed": n, "info": n, "skipped": n, "warnings": n, "checks": [{"subject",
 * "name", "result", "detail", "fix"}]}; NULL on allocation failure. */
json_t *rc_dbcheck_to_json(const struct rc_dbcheck_report *r);

/* One line per check ("PASS subject name: detail"), then "      fix: ..." (FAIL) or
 * "      note: ..." lines, then a summary line. snprintf-like: returns the length the whole
 * text needs; buf gets what fits, NUL-terminated (cap > 0). */
size_t rc_dbcheck_to_text(const struct rc_dbcheck_report *r, char *buf, size_t cap);

/*
 * Building blocks, shared with the merge validation (storage/merge.c).
 */

void rc_dbcheck_reset(struct rc_dbcheck_report *r);

/* Appends a check (detail printf-style; fix may be NULL). Returns the item, or NULL when
 * the report is full (counted in dropped; a FAIL still counts in failed). */
struct rc_dbcheck_item *rc_dbcheck_add(struct rc_dbcheck_report *r, const char *subject,
				       const char *name, enum rc_dbcheck_result res, int err,
				       const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

/* The -errno of the first FAIL, 0 if none. */
int rc_dbcheck_first_err(const struct rc_dbcheck_report *r);

/* Connects db and adds the "connect" check (and "pg_hba" when hba_item), explained as
 * above. 0 when connected, else -errno (db is then closed). */
int rc_dbcheck_connect(struct rc_pgdb *db, const char *conninfo, const char *subject,
		       const struct rc_dbcheck_opts *o, bool hba_item, struct rc_dbcheck_report *r);

/* What a role needs, for rc_dbcheck_privileges(). */
enum {
	RC_DBCHECK_NEED_NODE = 1 << 0,         /* normal operation */
	RC_DBCHECK_NEED_MERGE_SOURCE = 1 << 1, /* read by a merge */
	RC_DBCHECK_NEED_MERGE_TARGET = 1 << 2, /* written by a merge */
};

/* Adds one check `name` of the privileges the connected role has against those `need`s
 * (RC_DBCHECK_NEED_*); schema_version is the database's (0: none yet), which decides
 * whether a node needs CREATE. FAIL lists what is missing and the GRANTs that fix it.
 * Returns 0 (privileges complete), -EACCES (some missing) or -errno (query failed). */
int rc_dbcheck_privileges(struct rc_pgdb *db, unsigned need, int schema_version,
			  const char *subject, const char *name, struct rc_dbcheck_report *r);

/* The database's size (pg_database_size) and its roomcast tables' (with indexes and
 * TOAST). 0 or -errno. */
int rc_dbcheck_sizes(struct rc_pgdb *db, uint64_t *db_bytes, uint64_t *data_bytes);

/* Adds the "room" check as described above, for a connected db. 0, -ENOSPC or -errno. */
int rc_dbcheck_room(struct rc_pgdb *db, const char *subject, const struct rc_dbcheck_opts *o,
		    struct rc_dbcheck_report *r);

#endif /* RC_DBCHECK_H */
