/* SPDX-License-Identifier: MIT */
/*
 * The external database's schema and its migrations.
 *
 * migrations[i] takes the database from version i to version i + 1. Each step runs in its
 * own transaction that first takes a transaction-level advisory lock (so that the two nodes
 * of a group starting together apply a step once: the second waits, then re-reads the
 * version and finds the step done), creates roomcast_schema if it is missing, reads the
 * version, applies the step and records it. A database at a version above the last one
 * known here is left untouched and refused with -EPROTO.
 *
 * Rules for new migrations: append, never edit a released one; a step must run inside a
 * transaction (no CREATE INDEX CONCURRENTLY); bump RC_SCHEMA_VERSION in schema.h.
 *
 * Notes on version 1:
 *  - names (rooms, users) are identifiers: COLLATE "C", compared byte by byte, so that
 *    their indexes do not depend on the operating system's locale data (a glibc update
 *    that changes a collation silently breaks text indexes) and compare faster.
 *  - messages are keyed by (room NAME, seq); there is deliberately no foreign key to rooms:
 *    the drainer upserts the room in the same transaction anyway, and the key check would
 *    cost an index probe per drained row.
 *  - cmid is the client's u64 stored in a bigint as its two's complement (values above
 *    2^63 - 1 read back negative; cast to u64 to compare).
 *  - drain_alarms keeps the conflicting message whole (sender, cmid, ts, body), so that it
 *    is never lost; one alarm per distinct (room, seq, new message), so a re-drain does
 *    not repeat it.
 *
 * Threads: whoever owns the struct rc_pgdb (the drainer at start-up; tests).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "schema.h"

/* "roomcast" in ASCII, as the advisory lock key of schema changes */
#define SCHEMA_LOCK_SQL "SELECT pg_advisory_xact_lock(8245931958348116852)"

static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE rooms ("
	" name text COLLATE \"C\" PRIMARY KEY,"
	" room_id bigint,"
	" hosting_node text NOT NULL DEFAULT '',"
	" type text NOT NULL DEFAULT 'persistent' CHECK (type IN ('persistent', 'adhoc')),"
	" subject text NOT NULL DEFAULT '',"
	" creator text NOT NULL DEFAULT '',"
	" max_occupants integer NOT NULL DEFAULT 0 CHECK (max_occupants >= 0),"
	" members_only boolean NOT NULL DEFAULT false,"
	" next_seq bigint NOT NULL DEFAULT 1 CHECK (next_seq >= 1),"
	" created_at timestamptz NOT NULL DEFAULT now());"
	"COMMENT ON COLUMN rooms.max_occupants IS '0: the node''s max_members';"
	"COMMENT ON COLUMN rooms.next_seq IS 'the seq the next message of the room gets';"
	"CREATE TABLE room_members ("
	" room text COLLATE \"C\" NOT NULL"
	"  REFERENCES rooms (name) ON DELETE CASCADE ON UPDATE CASCADE,"
	" user_name text COLLATE \"C\" NOT NULL,"
	" role text NOT NULL DEFAULT 'participant'"
	"  CHECK (role IN ('moderator', 'participant', 'visitor', 'none')),"
	" affiliation text NOT NULL DEFAULT 'member'"
	"  CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast', 'none')),"
	" PRIMARY KEY (room, user_name));"
	"CREATE TABLE messages ("
	" room text COLLATE \"C\" NOT NULL,"
	" seq bigint NOT NULL CHECK (seq >= 1),"
	" sender text NOT NULL,"
	" ts_ms bigint NOT NULL,"
	" body text NOT NULL,"
	" cmid bigint NOT NULL,"
	" epoch bigint NOT NULL DEFAULT 0,"
	" node text NOT NULL DEFAULT '',"
	" PRIMARY KEY (room, seq));"
	"COMMENT ON COLUMN messages.cmid IS 'client message id, u64 as two''s complement';"
	"CREATE INDEX messages_ts_ms ON messages (ts_ms);"
	"CREATE TABLE drain_alarms ("
	" id bigserial PRIMARY KEY,"
	" room text COLLATE \"C\" NOT NULL,"
	" seq bigint NOT NULL,"
	" stored_cmid bigint,"
	" stored_sender text,"
	" new_cmid bigint NOT NULL,"
	" new_sender text NOT NULL,"
	" new_ts_ms bigint NOT NULL,"
	" new_body text NOT NULL,"
	" new_epoch bigint NOT NULL DEFAULT 0,"
	" node text NOT NULL,"
	" lsn bigint NOT NULL,"
	" at timestamptz NOT NULL DEFAULT now(),"
	" UNIQUE (room, seq, new_cmid, new_sender));"
	"CREATE TABLE drain_state ("
	" node text PRIMARY KEY,"
	" drained_lsn bigint NOT NULL,"
	" updated_at timestamptz NOT NULL DEFAULT now());"
	"CREATE VIEW message_log AS SELECT room, seq, sender,"
	" to_timestamp(ts_ms / 1000.0) AS ts, body, cmid, epoch, node FROM messages;",
};

#define SCHEMA_KNOWN ((int)(sizeof(migrations) / sizeof(migrations[0])))

_Static_assert(SCHEMA_KNOWN == RC_SCHEMA_VERSION, "RC_SCHEMA_VERSION != migrations");

static void
schema_err(char *err, size_t errlen, const char *what, const char *text)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s%s", what, text);
}

/* SELECT returning one integer (or NULL -> 0). */
static int
schema_int(struct rc_pgdb *db, const char *sql, long *out)
{
	PGresult *res;
	int rc = rc_pgdb_query(db, sql, 0, NULL, &res);

	if (rc != 0)
		return rc;
	*out = 0;
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		*out = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

/* Inside the step's transaction: the version, creating roomcast_schema when missing. */
static int
schema_locked_version(struct rc_pgdb *db, long *version)
{
	int rc = rc_pgdb_exec(db, SCHEMA_LOCK_SQL ";"
				  "CREATE TABLE IF NOT EXISTS roomcast_schema ("
				  " version integer PRIMARY KEY,"
				  " applied_at timestamptz NOT NULL DEFAULT now())");

	if (rc != 0)
		return rc;
	return schema_int(db, "SELECT max(version) FROM roomcast_schema", version);
}

/* One step: 1 if a migration was applied, 0 if the database is current, -errno. */
static int
schema_step(struct rc_pgdb *db, char *err, size_t errlen)
{
	char sql[96];
	long v = 0;
	int rc = rc_pgdb_exec(db, "BEGIN");

	if (rc == 0)
		rc = schema_locked_version(db, &v);
	if (rc == 0 && v > SCHEMA_KNOWN) {
		snprintf(err, errlen,
			 "database schema version %ld is newer than this roomcastd (knows up to "
			 "%d): upgrade roomcastd", v, SCHEMA_KNOWN);
		rc_pgdb_exec(db, "ROLLBACK");
		return -EPROTO;
	}
	if (rc == 0 && v == SCHEMA_KNOWN) {
		rc = rc_pgdb_exec(db, "COMMIT");
		if (rc == 0)
			return 0;
	}
	if (rc == 0)
		rc = rc_pgdb_exec(db, migrations[v]);
	snprintf(sql, sizeof(sql), "INSERT INTO roomcast_schema (version) VALUES (%ld)", v + 1);
	if (rc == 0)
		rc = rc_pgdb_exec(db, sql);
	if (rc == 0)
		rc = rc_pgdb_exec(db, "COMMIT");
	if (rc != 0) {
		schema_err(err, errlen, "schema migration: ", db->err);
		if (rc_pgdb_ok(db))
			rc_pgdb_exec(db, "ROLLBACK");
		return rc;
	}
	return 1;
}

int
rc_schema_migrate(struct rc_pgdb *db, int *applied, char *err, size_t errlen)
{
	char scratch[256];
	int n = 0, rc;

	if (err == NULL || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	while ((rc = schema_step(db, err, errlen)) == 1)
		n++;
	if (applied != NULL)
		*applied = n;
	return rc;
}

int
rc_schema_version(struct rc_pgdb *db)
{
	long v;
	int rc = schema_int(db, "SELECT (to_regclass('roomcast_schema') IS NOT NULL)::int", &v);

	if (rc == 0 && v != 0)
		rc = schema_int(db, "SELECT max(version) FROM roomcast_schema", &v);
	return rc != 0 ? rc : (int)v;
}
