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
 * Notes on version 2 (ownership leases, storage/lease.h has the rules and the timing):
 *  - ha_lease: one row per scope ("rooms:NODE"), never deleted, so epochs only grow. The
 *    operations are plpgsql functions, one statement and one round trip each, usable by an
 *    operator from psql too: SELECT * FROM rc_lease_acquire('rooms:n1', 'n2', 10000, true)
 *    is the forced (admin) failover. Their time is statement_timestamp(): the moment the
 *    server received the request (later than the moment the caller read its monotonic
 *    clock, which the caller's guard counts from; now() would be wrong inside an outer
 *    transaction). The expiry is never shortened by a renewal (greatest()), so that a
 *    renewal whose answer was lost cannot cut below the guard the holder still has.
 *  - the fence: an AFTER INSERT ... FOR EACH STATEMENT trigger on messages with a
 *    transition table (one check per statement, not per row: a COPY of 2000 rows costs
 *    one scan of the new rows; nothing at all is looked up when ha_lease is empty). A row
 *    is refused when a lease row exists for scope 'rooms:' || row.node and row.epoch is
 *    not that lease's epoch (lower: an old term; higher: a term of another database or of
 *    a reset row); SQLSTATE RC001, the whole statement (and transaction) fails. Rows that
 *    ON CONFLICT DO NOTHING skipped are not in the transition table: nothing was written.
 *  - the scope of a row is found from messages.node, which the writer fills: it names the
 *    scope whose lease the row was written under, and epoch is that lease's epoch. The
 *    trigger deliberately does not look up rooms.hosting_node: the room may not be in
 *    rooms yet (the drainer upserts rooms after the messages of its batch), the directory
 *    can change under a writer, and only the writer knows which lease it writes under.
 *    Today's drainer writes its own node id and the epoch of its own "rooms:<node id>"
 *    lease: a node whose scope was taken over (epoch + 1) can write nothing any more,
 *    whichever room; a survivor writes the rooms it took over under its own id and lease.
 *    A writer that holds several scopes may instead name the room's hosting node and that
 *    scope's epoch per row: the trigger checks both the same way.
 *  - linearisation: the trigger locks the lease rows it checks FOR KEY SHARE until its
 *    transaction ends. A takeover (rc_lease_acquire) locks the row FOR UPDATE, which
 *    conflicts: it waits for writers that passed the check to commit, and writers that
 *    check after it see the new epoch (READ COMMITTED re-reads the locked row). So every
 *    stored row either committed before the takeover or carries the new epoch. Renewals
 *    and releases are plain UPDATEs of non-key columns (FOR NO KEY UPDATE), which do not
 *    conflict with KEY SHARE: a drain batch never delays a renewal. So that a writer
 *    frozen in the middle of its transaction cannot hold a takeover back for long, the
 *    trigger sets idle_in_transaction_session_timeout = 5s for the rest of its transaction
 *    (only when a lease row was involved).
 *  - no lease row for the scope (single node, epoch 0): no check, no lock. The first
 *    acquire of a scope deposes nobody, so it needs no fence against earlier writes.
 *  - a session may turn the check off for its transaction with
 *    SET LOCAL roomcast.fence = 'off' (database merges and manual repairs that copy rows
 *    of old terms); a node never does.
 *
 * Notes on version 3 (nothing acknowledged lost or doubled; README "Reliability"):
 *  - drain_dead_letters: what the drainer set aside instead of wedging (storage/drainer.c):
 *    a record that breaks storage/wal_valid.h's rules (invalid UTF-8, a NUL byte in a body,
 *    seq or ts_ms beyond a bigint, lengths), or one PostgreSQL refused on its own after the
 *    batch holding it failed dead_letter_after times with a data error (SQLSTATE class 22,
 *    23 but 23505, 54). One row per record: the WAL it came from (node, lsn), kind, room
 *    and sender as text (bytes that are not UTF-8 without controls shown as \xNN, a
 *    backslash as \\), seq and ts_ms exact as numeric(20) (a u64 may not fit a bigint),
 *    cmid as messages store it, the body's exact bytes (bytea: NUL and all; a room record:
 *    the name's bytes), the drainer's epoch, why (error text and SQLSTATE, '' for our own
 *    checks), when. The row is written in the batch's transaction, with drain_state: the
 *    record counts as drained. A re-drain adds nothing (UNIQUE (node, lsn, room, seq)).
 *    An operator repairs and re-inserts a row by hand, then deletes it: the alarm
 *    (`roomcastctl db status`, /metrics) stands while rows of the node remain.
 *  - rc_lease_acquire: a takeover (the lease expired, or forced) first ends the backends
 *    of the scope's writers of the old terms (rc_lease_end_writers: application_name
 *    'roomcastd-drainer SCOPE eEPOCH' with SCOPE cut to 36 bytes, so that the name fits
 *    63 bytes; epoch <= the old one: pg_terminate_backend; two node ids alike in their
 *    first 30 bytes could end each other's old-term drainers: they reconnect), and
 *    only then locks the row (the ended backends' locks go as they exit: the lock_timeout
 *    is lifted for that wait, which the statement timeout still bounds). Another holder's
 *    valid lease is answered 'busy' from a plain read, without locking the row: a takeover
 *    attempt before the expiry does not queue behind a frozen writer either. A writer whose host froze or
 *    lost its network with a drain transaction open holds the lease row FOR KEY SHARE
 *    (the fence) and maybe row locks on rooms and uncommitted message keys: the server
 *    would keep them until idle_in_transaction_session_timeout (5 s) or the statement
 *    timeout (60 s) ended it, and the takeover and the new owner's drain would wait that
 *    long. A writer terminated this way would have been fenced anyway (its epoch is
 *    stale once the new term starts). The lease connection's own lock_timeout
 *    (rc_lease_session) bounds any other wait; a backend the role may not signal is
 *    skipped (waited for as before).
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
	/* 1 -> 2: leases and the stale-write fence (see the notes above) */
	"CREATE TABLE ha_lease (\n"
	" owner_scope text COLLATE \"C\" PRIMARY KEY,\n"
	" holder text COLLATE \"C\" NOT NULL,\n"
	" epoch bigint NOT NULL CHECK (epoch >= 1),\n"
	" expires_at timestamptz NOT NULL,\n"
	" renewed_at timestamptz NOT NULL,\n"
	" acquired_at timestamptz NOT NULL);\n"
	"COMMENT ON TABLE ha_lease IS 'leases, storage/lease.h: never delete a row';\n"
	"CREATE FUNCTION rc_lease_answer(s text, l ha_lease, t timestamptz, OUT status text,\n"
	" OUT holder text, OUT epoch bigint, OUT db_now_us bigint, OUT expires_us bigint)\n"
	" LANGUAGE sql IMMUTABLE AS $$ SELECT s, l.holder, l.epoch,\n"
	" (extract(epoch FROM t) * 1000000)::bigint,\n"
	" (extract(epoch FROM l.expires_at) * 1000000)::bigint $$;\n"
	"CREATE FUNCTION rc_lease_acquire(p_scope text, p_holder text, p_ttl_ms bigint,\n"
	" p_force boolean DEFAULT false, OUT status text, OUT holder text, OUT epoch bigint,\n"
	" OUT db_now_us bigint, OUT expires_us bigint) LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" t timestamptz := statement_timestamp();\n"
	" ttl interval := p_ttl_ms * interval '1 millisecond';\n"
	" l ha_lease;\n"
	" s text := 'busy';\n"
	"BEGIN\n"
	" IF coalesce(p_scope, '') = '' OR coalesce(p_holder, '') = '' OR p_force IS NULL\n"
	"    OR p_ttl_ms IS NULL OR p_ttl_ms NOT BETWEEN 1 AND 86400000 THEN\n"
	"  RAISE EXCEPTION 'rc_lease_acquire: bad argument' USING ERRCODE = '22023';\n"
	" END IF;\n"
	" INSERT INTO ha_lease AS h (owner_scope, holder, epoch, expires_at, renewed_at,\n"
	"  acquired_at) VALUES (p_scope, p_holder, 1, t + ttl, t, t)\n"
	"  ON CONFLICT (owner_scope) DO NOTHING RETURNING h.* INTO l;\n"
	" IF FOUND THEN\n"
	"  s := 'new';\n"
	" ELSE\n"
	"  SELECT * INTO STRICT l FROM ha_lease h WHERE h.owner_scope = p_scope FOR UPDATE;\n"
	"  IF l.holder = p_holder AND l.expires_at > t THEN\n"
	"   s := 'renewed';\n"
	"   UPDATE ha_lease h\n"
	"    SET expires_at = greatest(h.expires_at, t + ttl), renewed_at = t\n"
	"    WHERE h.owner_scope = p_scope RETURNING h.* INTO l;\n"
	"  ELSIF l.expires_at <= t OR p_force THEN\n"
	"   s := CASE WHEN l.holder = p_holder THEN 'reacquired'\n"
	"        WHEN l.expires_at <= t THEN 'taken' ELSE 'forced' END;\n"
	"   UPDATE ha_lease h SET holder = p_holder, epoch = h.epoch + 1,\n"
	"    expires_at = t + ttl, renewed_at = t, acquired_at = t\n"
	"    WHERE h.owner_scope = p_scope RETURNING h.* INTO l;\n"
	"  END IF;\n"
	" END IF;\n"
	" SELECT * INTO status, holder, epoch, db_now_us, expires_us\n"
	"  FROM rc_lease_answer(s, l, t);\n"
	"END $$;\n"
	"CREATE FUNCTION rc_lease_renew(p_scope text, p_holder text, p_epoch bigint,\n"
	" p_ttl_ms bigint, OUT status text, OUT holder text, OUT epoch bigint,\n"
	" OUT db_now_us bigint, OUT expires_us bigint) LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" t timestamptz := statement_timestamp();\n"
	" l ha_lease;\n"
	" s text := 'renewed';\n"
	"BEGIN\n"
	" IF p_ttl_ms IS NULL OR p_ttl_ms NOT BETWEEN 1 AND 86400000 THEN\n"
	"  RAISE EXCEPTION 'rc_lease_renew: bad argument' USING ERRCODE = '22023';\n"
	" END IF;\n"
	" UPDATE ha_lease h\n"
	"  SET expires_at = greatest(h.expires_at, t + p_ttl_ms * interval '1 millisecond'),\n"
	"  renewed_at = t\n"
	"  WHERE h.owner_scope = p_scope AND h.holder = p_holder AND h.epoch = p_epoch\n"
	"  AND h.expires_at > t RETURNING h.* INTO l;\n"
	" IF NOT FOUND THEN\n"
	"  SELECT * INTO l FROM ha_lease h WHERE h.owner_scope = p_scope;\n"
	"  s := CASE WHEN NOT FOUND THEN 'missing'\n"
	"       WHEN l.holder = p_holder AND l.epoch = p_epoch THEN 'expired' ELSE 'stale' END;\n"
	" END IF;\n"
	" SELECT * INTO status, holder, epoch, db_now_us, expires_us\n"
	"  FROM rc_lease_answer(s, l, t);\n"
	"END $$;\n"
	"CREATE FUNCTION rc_lease_release(p_scope text, p_holder text, p_epoch bigint,\n"
	" OUT status text, OUT holder text, OUT epoch bigint, OUT db_now_us bigint,\n"
	" OUT expires_us bigint) LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" t timestamptz := statement_timestamp();\n"
	" l ha_lease;\n"
	" s text := 'released';\n"
	"BEGIN\n"
	" UPDATE ha_lease h SET expires_at = least(h.expires_at, t), renewed_at = t\n"
	"  WHERE h.owner_scope = p_scope AND h.holder = p_holder AND h.epoch = p_epoch\n"
	"  RETURNING h.* INTO l;\n"
	" IF NOT FOUND THEN\n"
	"  SELECT * INTO l FROM ha_lease h WHERE h.owner_scope = p_scope;\n"
	"  s := CASE WHEN FOUND THEN 'stale' ELSE 'missing' END;\n"
	" END IF;\n"
	" SELECT * INTO status, holder, epoch, db_now_us, expires_us\n"
	"  FROM rc_lease_answer(s, l, t);\n"
	"END $$;\n"
	"CREATE FUNCTION rc_messages_fence() RETURNS trigger LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" l record;\n"
	" bad record;\n"
	"BEGIN\n"
	" IF current_setting('roomcast.fence', true) = 'off'\n"
	"    OR NOT EXISTS (SELECT 1 FROM ha_lease) THEN\n"
	"  RETURN NULL;\n"
	" END IF;\n"
	" FOR l IN SELECT h.owner_scope, h.holder, h.epoch FROM ha_lease h\n"
	"  WHERE h.owner_scope IN (SELECT DISTINCT 'rooms:' || n.node FROM rc_new n)\n"
	"  ORDER BY h.owner_scope FOR KEY SHARE\n"
	" LOOP\n"
	"  PERFORM set_config('idle_in_transaction_session_timeout', '5s', true);\n"
	"  SELECT n.room, n.seq, n.node, n.epoch INTO bad FROM rc_new n\n"
	"   WHERE 'rooms:' || n.node = l.owner_scope AND n.epoch <> l.epoch LIMIT 1;\n"
	"  IF FOUND THEN\n"
	"   RAISE EXCEPTION\n"
	"    'epoch % of node % is stale: lease % is at epoch % (held by %)',\n"
	"    bad.epoch, bad.node, l.owner_scope, l.epoch, l.holder USING ERRCODE = 'RC001',\n"
	"    DETAIL = format('first refused row: room %s, seq %s', bad.room, bad.seq),\n"
	"    HINT = 'another term owns these rooms: this writer must stop writing';\n"
	"  END IF;\n"
	" END LOOP;\n"
	" RETURN NULL;\n"
	"END $$;\n"
	"CREATE TRIGGER messages_fence AFTER INSERT ON messages REFERENCING NEW TABLE AS rc_new\n"
	" FOR EACH STATEMENT EXECUTE FUNCTION rc_messages_fence();",
	/* 2 -> 3: the dead-letter table; takeovers end the old term's writers (notes above) */
	"CREATE TABLE drain_dead_letters (\n"
	" id bigserial PRIMARY KEY,\n"
	" node text COLLATE \"C\" NOT NULL,\n"
	" lsn bigint NOT NULL,\n"
	" kind text NOT NULL CHECK (kind IN ('message', 'room')),\n"
	" room text COLLATE \"C\" NOT NULL,\n"
	" seq numeric(20, 0) NOT NULL,\n"
	" sender text NOT NULL,\n"
	" cmid bigint NOT NULL,\n"
	" ts_ms numeric(20, 0) NOT NULL,\n"
	" body bytea NOT NULL,\n"
	" epoch bigint NOT NULL,\n"
	" error text NOT NULL,\n"
	" sqlstate text NOT NULL DEFAULT '',\n"
	" at timestamptz NOT NULL DEFAULT now(),\n"
	" UNIQUE (node, lsn, room, seq));\n"
	"COMMENT ON TABLE drain_dead_letters IS 'records the drain set aside (invalid, or"
	" refused by the database): an alarm while rows remain; see README, storage';\n"
	"CREATE FUNCTION rc_lease_end_writers(p_scope text, p_epoch bigint) RETURNS integer\n"
	" LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" a record;\n"
	" n integer := 0;\n"
	"BEGIN\n"
	" FOR a IN SELECT s.pid FROM pg_stat_activity s\n"
	"  WHERE s.pid <> pg_backend_pid()\n"
	"  AND split_part(s.application_name, ' ', 1) = 'roomcastd-drainer'\n"
	"  AND split_part(s.application_name, ' ', 2) = left(p_scope, 36)\n"
	"  AND split_part(s.application_name, ' ', 3) ~ '^e[0-9]{1,18}$'\n"
	"  AND substr(split_part(s.application_name, ' ', 3), 2)::bigint <= p_epoch\n"
	" LOOP\n"
	"  BEGIN\n"
	"   IF pg_terminate_backend(a.pid) THEN n := n + 1; END IF;\n"
	"  EXCEPTION WHEN insufficient_privilege THEN NULL;\n"
	"  END;\n"
	" END LOOP;\n"
	" RETURN n;\n"
	"END $$;\n"
	"CREATE OR REPLACE FUNCTION rc_lease_acquire(p_scope text, p_holder text, p_ttl_ms bigint,\n"
	" p_force boolean DEFAULT false, OUT status text, OUT holder text, OUT epoch bigint,\n"
	" OUT db_now_us bigint, OUT expires_us bigint) LANGUAGE plpgsql AS $$\n"
	"DECLARE\n"
	" t timestamptz := statement_timestamp();\n"
	" ttl interval := p_ttl_ms * interval '1 millisecond';\n"
	" l ha_lease;\n"
	" s text := 'busy';\n"
	"BEGIN\n"
	" IF coalesce(p_scope, '') = '' OR coalesce(p_holder, '') = '' OR p_force IS NULL\n"
	"    OR p_ttl_ms IS NULL OR p_ttl_ms NOT BETWEEN 1 AND 86400000 THEN\n"
	"  RAISE EXCEPTION 'rc_lease_acquire: bad argument' USING ERRCODE = '22023';\n"
	" END IF;\n"
	" INSERT INTO ha_lease AS h (owner_scope, holder, epoch, expires_at, renewed_at,\n"
	"  acquired_at) VALUES (p_scope, p_holder, 1, t + ttl, t, t)\n"
	"  ON CONFLICT (owner_scope) DO NOTHING RETURNING h.* INTO l;\n"
	" IF FOUND THEN\n"
	"  s := 'new';\n"
	" ELSE\n"
	"  SELECT * INTO STRICT l FROM ha_lease h WHERE h.owner_scope = p_scope;\n"
	"  IF l.holder <> p_holder AND l.expires_at > t AND NOT p_force THEN\n"
	"   NULL; /* busy: answered from this read, without waiting for the row's lock */\n"
	"  ELSE\n"
	"  IF NOT (l.holder = p_holder AND l.expires_at > t) THEN\n"
	"   IF rc_lease_end_writers(p_scope, l.epoch) > 0 THEN\n"
	"    PERFORM set_config('lock_timeout', '0', true);\n"
	"   END IF;\n"
	"  END IF;\n"
	"  SELECT * INTO STRICT l FROM ha_lease h WHERE h.owner_scope = p_scope FOR UPDATE;\n"
	"  IF l.holder = p_holder AND l.expires_at > t THEN\n"
	"   s := 'renewed';\n"
	"   UPDATE ha_lease h\n"
	"    SET expires_at = greatest(h.expires_at, t + ttl), renewed_at = t\n"
	"    WHERE h.owner_scope = p_scope RETURNING h.* INTO l;\n"
	"  ELSIF l.expires_at <= t OR p_force THEN\n"
	"   s := CASE WHEN l.holder = p_holder THEN 'reacquired'\n"
	"        WHEN l.expires_at <= t THEN 'taken' ELSE 'forced' END;\n"
	"   UPDATE ha_lease h SET holder = p_holder, epoch = h.epoch + 1,\n"
	"    expires_at = t + ttl, renewed_at = t, acquired_at = t\n"
	"    WHERE h.owner_scope = p_scope RETURNING h.* INTO l;\n"
	"  END IF;\n"
	"  END IF;\n"
	" END IF;\n"
	" SELECT * INTO status, holder, epoch, db_now_us, expires_us\n"
	"  FROM rc_lease_answer(s, l, t);\n"
	"END $$;",
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
