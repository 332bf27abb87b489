/* SPDX-License-Identifier: MIT */
/*
 * `db check`: connection, pg_hba.conf, server version, schema version, privileges (a
 * node's, a merge's), dblink (information only) and room, each a PASS/FAIL with a fix.
 *
 * A refused connection is explained (dbcheck_fix.c) from libpq's message, which carries
 * the server's own words: "no pg_hba.conf entry for host "10.0.0.5", user "rc", database
 * "chat", no encryption" names the address the server saw (NAT included), so the fix line
 * `host chat rc 10.0.0.5/32 scram-sha-256` is exactly the one that lets the node in. The
 * user and database for the other fixes come from that message too, else from the
 * conninfo, else from libpq's defaults.
 *
 * Privileges are computed by the server (has_*_privilege) for the rows a need asks for, and
 * the missing ones come back grouped into GRANT statements, identifiers quoted by the
 * server (quote_ident), so that the fix can be pasted into psql by the objects' owner.
 *
 * Threads: the caller's (see dbcheck.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbcheck_impl.h"
#include "schema.h"
#include "text.h"

#define MIN_SERVER_VERSION 120000

static const char *const result_str[RC_DBCHECK_RESULT_MAX] = {
	[RC_DBCHECK_PASS] = "pass",
	[RC_DBCHECK_FAIL] = "fail",
	[RC_DBCHECK_INFO] = "info",
	[RC_DBCHECK_SKIP] = "skip",
	[RC_DBCHECK_WARN] = "warn",
};

const char *
rc_dbcheck_result_str(enum rc_dbcheck_result res)
{
	return (unsigned)res < RC_DBCHECK_RESULT_MAX && result_str[res] != NULL ? result_str[res]
									       : "?";
}

void
rc_dbcheck_reset(struct rc_dbcheck_report *r)
{
	r->n = 0;
	r->failed = 0;
	r->dropped = 0;
}

struct rc_dbcheck_item *
rc_dbcheck_add(struct rc_dbcheck_report *r, const char *subject, const char *name,
	       enum rc_dbcheck_result res, int err, const char *fix, const char *fmt, ...)
{
	struct rc_dbcheck_item *it;
	va_list ap;

	if (res == RC_DBCHECK_FAIL)
		r->failed++;
	if (r->n >= RC_DBCHECK_MAX_ITEMS) {
		r->dropped++;
		return NULL;
	}
	it = &r->items[r->n++];
	snprintf(it->subject, sizeof(it->subject), "%s", subject != NULL ? subject : "");
	snprintf(it->name, sizeof(it->name), "%s", name);
	it->result = res;
	it->err = res == RC_DBCHECK_FAIL ? (err != 0 ? err : -EIO) : 0;
	snprintf(it->fix, sizeof(it->fix), "%s", fix != NULL ? fix : "");
	va_start(ap, fmt);
	vsnprintf(it->detail, sizeof(it->detail), fmt, ap);
	va_end(ap);
	return it;
}

int
rc_dbcheck_first_err(const struct rc_dbcheck_report *r)
{
	for (unsigned i = 0; i < r->n; i++)
		if (r->items[i].result == RC_DBCHECK_FAIL)
			return r->items[i].err;
	return r->failed > 0 ? -EIO : 0;
}

/*
 * Connecting.
 */

/* Connected: the pg_hba check passes, naming where the server sees the node. */
static void
hba_connected(struct rc_pgdb *db, const char *subject, struct rc_dbcheck_report *r)
{
	char addr[64] = "[local] (unix socket)";
	PGresult *res;

	if (rc_pgdb_query(db, "SELECT host(inet_client_addr())", 0, NULL, &res) == 0) {
		if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
			snprintf(addr, sizeof(addr), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	rc_dbcheck_add(r, subject, "pg_hba", RC_DBCHECK_PASS, 0,
		       "the peer node of the group needs a line too: run db check on it",
		       "pg_hba.conf lets %s into database %s from %s", PQuser(db->conn),
		       PQdb(db->conn), addr);
}

#define ENCODING_FIX                                                                        \
	"recreate the database with ENCODING 'UTF8' (CREATE DATABASE ... ENCODING 'UTF8' "   \
	"TEMPLATE template0) or point the conninfo at a UTF8 database: roomcast stores UTF-8 " \
	"text"

int
rc_dbcheck_connect(struct rc_pgdb *db, const char *conninfo, const char *subject,
		   const struct rc_dbcheck_opts *o, bool hba_item, struct rc_dbcheck_report *r)
{
	struct dbcheck_refusal why;
	int rc;

	rc = rc_pgdb_connect(db, conninfo, "roomcast-dbcheck");
	if (rc == 0) {
		const char *ver = PQparameterStatus(db->conn, "server_version");
		const char *host = PQhost(db->conn);

		rc_dbcheck_add(r, subject, "connect", RC_DBCHECK_PASS, 0, NULL,
			       "connected to %s:%s, database %s, as %s (PostgreSQL %s)",
			       host != NULL ? host : "?", PQport(db->conn),
			       PQdb(db->conn), PQuser(db->conn), ver != NULL ? ver : "?");
		if (hba_item)
			hba_connected(db, subject, r);
		return 0;
	}
	if (rc == -EPROTO) { /* connected, but not a UTF8 database (rc_pgdb_connect) */
		rc_dbcheck_add(r, subject, "connect", hba_item ? RC_DBCHECK_PASS : RC_DBCHECK_FAIL,
			       hba_item ? 0 : rc, hba_item ? NULL : ENCODING_FIX,
			       hba_item ? "connected, then refused: see the encoding check" : "%s",
			       db->err);
		if (hba_item)
			rc_dbcheck_add(r, subject, "pg_hba", RC_DBCHECK_PASS, 0, NULL,
				       "a pg_hba.conf line let the node in");
		return rc;
	}
	if (rc == -EINVAL) {
		rc_dbcheck_add(r, subject, "connect", RC_DBCHECK_FAIL, rc,
			       "configure the database connection (db.conninfo)", "%s", db->err);
		return rc;
	}
	dbcheck_explain(conninfo, db->err, rc, o, &why);
	rc = why.rc;
	rc_dbcheck_add(r, subject, "connect", RC_DBCHECK_FAIL, rc,
		       hba_item && why.hba_detail[0] != '\0' ? "see the pg_hba check" : why.fix,
		       "%s", db->err);
	if (!hba_item)
		return rc;
	if (why.hba_detail[0] != '\0')
		rc_dbcheck_add(r, subject, "pg_hba", RC_DBCHECK_FAIL, -EACCES, why.fix, "%s",
			       why.hba_detail);
	else if (why.hba_matched)
		rc_dbcheck_add(r, subject, "pg_hba", RC_DBCHECK_PASS, 0, NULL,
			       "a pg_hba.conf line matched (the refusal came after it)");
	else
		rc_dbcheck_add(r, subject, "pg_hba", RC_DBCHECK_SKIP, 0, NULL,
			       "not known: the server did not get that far");
	return rc;
}

/*
 * Privileges.
 */

/* One wanted privilege: kind database/schema (object computed by the server), table or
 * sequence (object named, checked only if it exists). */
struct want {
	const char *kind;
	const char *obj;
	const char *priv;
	unsigned need; /* RC_DBCHECK_NEED_* that want it */
};

#define N_ (RC_DBCHECK_NEED_NODE)
#define S_ (RC_DBCHECK_NEED_MERGE_SOURCE)
#define T_ (RC_DBCHECK_NEED_MERGE_TARGET)

static const char *const tables[] = {
	"rooms", "room_members", "messages", "drain_alarms", "drain_state",
	"drain_dead_letters",
};

static const struct want wants_fixed[] = {
	{ "database", NULL, "CONNECT", N_ | S_ | T_ },
	{ "database", NULL, "TEMP", N_ | T_ },
	{ "schema", NULL, "USAGE", N_ | S_ | T_ },
	{ "schema", NULL, "CREATE", T_ }, /* N_ too while the schema is missing or older */
	{ "table", "roomcast_schema", "SELECT", N_ | S_ | T_ },
	{ "sequence", "drain_alarms_id_seq", "USAGE", N_ | T_ },
	{ "sequence", "drain_dead_letters_id_seq", "USAGE", N_ | T_ },
	{ "table", "merge_jobs", "SELECT", T_ },
	{ "table", "merge_jobs", "INSERT", T_ },
	{ "table", "merge_jobs", "UPDATE", T_ },
	{ "table", "merge_seq_map", "SELECT", T_ },
	{ "table", "merge_seq_map", "INSERT", T_ },
};

static const struct {
	const char *priv;
	unsigned need;
} table_privs[] = {
	{ "SELECT", N_ | S_ | T_ },
	{ "INSERT", N_ | T_ },
	{ "UPDATE", N_ | T_ },
	{ "DELETE", N_ },
};

/* Appends a VALUES row; returns the new length. */
static size_t
want_row(char *sql, size_t cap, size_t len, unsigned ord, const char *kind, const char *obj,
	 const char *priv)
{
	if (len >= cap)
		return len;
	len += (size_t)snprintf(sql + len, cap - len, "%s(%u, '%s', %s%s%s, '%s')",
				ord > 1 ? ", " : "", ord, kind, obj != NULL ? "'" : "",
				obj != NULL ? obj : "NULL::text", obj != NULL ? "'" : "", priv);
	return len;
}

/* The query listing the missing privileges of `need`, grouped as GRANTs:
 * (kind, privileges, objects quoted, current_user quoted). */
static int
privileges_sql(char *sql, size_t cap, unsigned need, int schema_version)
{
	unsigned ord = 0;
	size_t len = (size_t)snprintf(sql, cap, "WITH want(ord, kind, obj, priv) AS (VALUES ");

	for (size_t i = 0; i < sizeof(wants_fixed) / sizeof(wants_fixed[0]); i++) {
		const struct want *w = &wants_fixed[i];
		unsigned wn = w->need;

		if (strcmp(w->priv, "CREATE") == 0 && schema_version < RC_SCHEMA_VERSION)
			wn |= N_;
		if (wn & need)
			len = want_row(sql, cap, len, ++ord, w->kind, w->obj, w->priv);
	}
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (size_t p = 0; p < sizeof(table_privs) / sizeof(table_privs[0]); p++)
			if (table_privs[p].need & need)
				len = want_row(sql, cap, len, ++ord, "table", tables[t],
					       table_privs[p].priv);
	if (len < cap)
		len += (size_t)snprintf(
			sql + len, cap - len,
			"), w AS (SELECT ord, kind, CASE kind WHEN 'database' THEN "
			"current_database()::text WHEN 'schema' THEN coalesce(current_schema(), "
			"'public')::text ELSE obj END AS obj, priv FROM want),"
			" missing AS (SELECT * FROM w WHERE NOT coalesce(CASE kind"
			" WHEN 'database' THEN has_database_privilege(obj, priv)"
			" WHEN 'schema' THEN has_schema_privilege(obj, priv)"
			" WHEN 'table' THEN has_table_privilege(to_regclass(obj), priv)"
			" WHEN 'sequence' THEN has_sequence_privilege(to_regclass(obj), priv)"
			" END, true)),"
			" per_obj AS (SELECT kind, obj, min(ord) AS ord,"
			" string_agg(priv, ', ' ORDER BY ord) AS privs FROM missing GROUP BY kind, obj)"
			" SELECT upper(kind), privs, string_agg(quote_ident(obj), ', ' ORDER BY ord),"
			" quote_ident(current_user::text) FROM per_obj GROUP BY kind, privs"
			" ORDER BY min(ord)");
	return len < cap ? 0 : -ENOSPC;
}

static void
append(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
append(char *dst, size_t cap, const char *fmt, ...)
{
	size_t len = strnlen(dst, cap);
	va_list ap;

	if (len + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(dst + len, cap - len, fmt, ap);
	va_end(ap);
}

static const char *
need_text(unsigned need)
{
	if (need == RC_DBCHECK_NEED_NODE)
		return "a node";
	if (need == RC_DBCHECK_NEED_MERGE_SOURCE)
		return "a merge source";
	if (need == RC_DBCHECK_NEED_MERGE_TARGET)
		return "a merge target";
	if (need == (RC_DBCHECK_NEED_MERGE_SOURCE | RC_DBCHECK_NEED_MERGE_TARGET))
		return "a merge (as source and as target)";
	return "roomcast";
}

/* Connected, no missing privilege: PASS (with a note for a node without CREATE). */
static int
privileges_pass(struct rc_pgdb *db, unsigned need, int schema_version, const char *subject,
		const char *name, struct rc_dbcheck_report *r)
{
	const char *note = NULL;
	PGresult *res;

	if ((need & RC_DBCHECK_NEED_NODE) && schema_version >= RC_SCHEMA_VERSION &&
	    rc_pgdb_query(db, "SELECT has_schema_privilege(coalesce(current_schema(), 'public'),"
			      " 'CREATE')", 0, NULL, &res) == 0) {
		if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "f") == 0)
			note = "no CREATE on the schema: fine now, but the next schema upgrade "
			       "needs it (or run it as the tables' owner)";
		PQclear(res);
	}
	rc_dbcheck_add(r, subject, name, RC_DBCHECK_PASS, 0, note,
		       "role %s has what %s needs on database %s", PQuser(db->conn),
		       need_text(need), PQdb(db->conn));
	return 0;
}

int
rc_dbcheck_privileges(struct rc_pgdb *db, unsigned need, int schema_version,
		      const char *subject, const char *name, struct rc_dbcheck_report *r)
{
	char sql[6144], detail[512] = "", fix[512] = "";
	PGresult *res;
	int rc, n;

	rc = privileges_sql(sql, sizeof(sql), need, schema_version);
	if (rc == 0)
		rc = rc_pgdb_query(db, sql, 0, NULL, &res);
	if (rc != 0) {
		rc_dbcheck_add(r, subject, name, RC_DBCHECK_FAIL, rc, NULL,
			       "could not read the privileges: %s", db->err);
		return rc;
	}
	n = PQntuples(res);
	if (n == 0) {
		PQclear(res);
		return privileges_pass(db, need, schema_version, subject, name, r);
	}
	snprintf(fix, sizeof(fix), "as the objects' owner (or a superuser): ");
	for (int i = 0; i < n; i++) {
		const char *kind = PQgetvalue(res, i, 0), *privs = PQgetvalue(res, i, 1),
			   *objs = PQgetvalue(res, i, 2), *user = PQgetvalue(res, i, 3);

		append(detail, sizeof(detail), "%s%s on %s %s", i > 0 ? "; " : "", privs, kind,
		       objs);
		append(fix, sizeof(fix), "%sGRANT %s ON %s %s TO %s;", i > 0 ? " " : "", privs,
		       kind, objs, user);
	}
	rc_dbcheck_add(r, subject, name, RC_DBCHECK_FAIL, -EACCES, fix,
		       "role %s lacks what %s needs: %s", PQuser(db->conn), need_text(need),
		       detail);
	PQclear(res);
	return -EACCES;
}

/*
 * Size, dblink, versions.
 */

int
rc_dbcheck_sizes(struct rc_pgdb *db, uint64_t *db_bytes, uint64_t *data_bytes)
{
	PGresult *res;
	int rc = rc_pgdb_query(
		db,
		"SELECT pg_database_size(current_database()),"
		" coalesce(sum(pg_total_relation_size(c)), 0)::bigint FROM unnest(ARRAY["
		"to_regclass('rooms'), to_regclass('room_members'), to_regclass('messages'),"
		" to_regclass('drain_alarms'), to_regclass('drain_state')]) AS c",
		0, NULL, &res);

	if (rc != 0)
		return rc;
	*db_bytes = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	*data_bytes = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	return 0;
}

static double
mib(uint64_t b)
{
	return (double)b / (1024.0 * 1024.0);
}

int
rc_dbcheck_room(struct rc_pgdb *db, const char *subject, const struct rc_dbcheck_opts *o,
		struct rc_dbcheck_report *r)
{
	uint64_t size, data, incoming = o != NULL ? o->incoming_bytes : 0,
			     limit = o != NULL ? o->limit_bytes : 0;
	char detail[400], note[400];
	int rc = rc_dbcheck_sizes(db, &size, &data);

	if (rc != 0) {
		rc_dbcheck_add(r, subject, "room", RC_DBCHECK_FAIL, rc, NULL,
			       "could not read the database size: %s", db->err);
		return rc;
	}
	snprintf(detail, sizeof(detail), "database %s uses %.1f MiB (roomcast tables %.1f MiB)",
		 PQdb(db->conn), mib(size), mib(data));
	if (incoming > 0)
		append(detail, sizeof(detail), "; the merge adds about %.1f MiB", mib(incoming));
	if (limit > 0)
		append(detail, sizeof(detail), "; limit %.1f MiB", mib(limit));
	else
		append(detail, sizeof(detail), "; no size limit configured");
	if (limit > 0 && size + incoming > limit) {
		rc_dbcheck_add(r, subject, "room", RC_DBCHECK_FAIL, -ENOSPC,
			       "free space in the database (db cleanup), raise the limit, or use a "
			       "larger database", "%s: over the limit", detail);
		return -ENOSPC;
	}
	if (incoming > 0)
		snprintf(note, sizeof(note),
			 "best effort: PostgreSQL does not tell a client the free disk space; check "
			 "that the database host's file system has room for %.1f MiB more (and a "
			 "backup)",
			 mib(incoming));
	else
		snprintf(note, sizeof(note),
			 "best effort: PostgreSQL does not tell a client the free disk space; check "
			 "the database host's file system (df)");
	rc_dbcheck_add(r, subject, "room", RC_DBCHECK_PASS, 0, note, "%s", detail);
	return 0;
}

static void
check_dblink(struct rc_pgdb *db, struct rc_dbcheck_report *r)
{
	static const char *const why_not =
		"roomcast's merge does not need dblink: the node reads both sources and writes "
		"the target through libpq itself";
	PGresult *res;
	int rc = rc_pgdb_query(db, "SELECT default_version, installed_version FROM"
				   " pg_available_extensions WHERE name = 'dblink'",
			       0, NULL, &res);

	if (rc != 0) {
		rc_dbcheck_add(r, NULL, "dblink", RC_DBCHECK_INFO, 0, why_not,
			       "could not read pg_available_extensions: %s", db->err);
		return;
	}
	if (PQntuples(res) == 0)
		rc_dbcheck_add(r, NULL, "dblink", RC_DBCHECK_INFO, 0, why_not,
			       "dblink is not available on this server (postgresql-contrib)");
	else if (!PQgetisnull(res, 0, 1))
		rc_dbcheck_add(r, NULL, "dblink", RC_DBCHECK_INFO, 0, why_not,
			       "dblink %s is installed", PQgetvalue(res, 0, 1));
	else
		rc_dbcheck_add(r, NULL, "dblink", RC_DBCHECK_INFO, 0, why_not,
			       "dblink %s is available, not installed (CREATE EXTENSION dblink)",
			       PQgetvalue(res, 0, 0));
	PQclear(res);
}

static int
check_server_version(struct rc_pgdb *db, struct rc_dbcheck_report *r)
{
	int v = PQserverVersion(db->conn);
	const char *s = PQparameterStatus(db->conn, "server_version");

	if (v >= MIN_SERVER_VERSION) {
		rc_dbcheck_add(r, NULL, "server_version", RC_DBCHECK_PASS, 0, NULL,
			       "PostgreSQL %s (12 or later needed)", s != NULL ? s : "?");
		return 0;
	}
	rc_dbcheck_add(r, NULL, "server_version", RC_DBCHECK_FAIL, -EPROTO,
		       "upgrade the database server to PostgreSQL 12 or later",
		       "PostgreSQL %s is too old (12 or later needed)", s != NULL ? s : "?");
	return -EPROTO;
}

/* The schema check; *version gets the version (0 when unknown). */
static int
check_schema(struct rc_pgdb *db, struct rc_dbcheck_report *r, int *version)
{
	int v = rc_schema_version(db);
	char fix[256];

	*version = v > 0 ? v : 0;
	if (v < 0) {
		snprintf(fix, sizeof(fix), "GRANT SELECT ON roomcast_schema TO %s", PQuser(db->conn));
		rc_dbcheck_add(r, NULL, "schema", RC_DBCHECK_FAIL, v, v == -EACCES ? fix : NULL,
			       "could not read the schema version: %s", db->err);
		return v;
	}
	if (v == 0)
		rc_dbcheck_add(r, NULL, "schema", RC_DBCHECK_PASS, 0, NULL,
			       "no roomcast schema yet: the node creates version %d when it starts",
			       RC_SCHEMA_VERSION);
	else if (v < RC_SCHEMA_VERSION)
		rc_dbcheck_add(r, NULL, "schema", RC_DBCHECK_PASS, 0, NULL,
			       "schema version %d: the node migrates it to %d when it starts", v,
			       RC_SCHEMA_VERSION);
	else if (v == RC_SCHEMA_VERSION)
		rc_dbcheck_add(r, NULL, "schema", RC_DBCHECK_PASS, 0, NULL,
			       "schema version %d, current", v);
	else
		rc_dbcheck_add(r, NULL, "schema", RC_DBCHECK_FAIL, -EPROTO,
			       "upgrade roomcastd on every node of the group to a version that "
			       "knows this schema (or check that the conninfo names the right "
			       "database)",
			       "schema version %d is newer than this roomcastd (knows up to %d)", v,
			       RC_SCHEMA_VERSION);
	return v > RC_SCHEMA_VERSION ? -EPROTO : 0;
}

/*
 * Replication: can a promotion of a standby (the database failing over) lose what the
 * nodes committed? The nodes' drain and lease sessions commit with synchronous_commit = on,
 * so with a synchronous standby streaming, every committed lease row and drained batch is on
 * it before the node acts on it.
 */
#define REPL_SQL                                                                            \
	"SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names'),"        \
	" current_setting('synchronous_commit'),"                                           \
	" pg_has_role('pg_read_all_stats', 'USAGE'),"                                       \
	" (SELECT count(*) FROM pg_stat_replication),"                                      \
	" (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"              \
	"  AND sync_state IN ('sync', 'quorum')),"                                          \
	" (SELECT coalesce(string_agg(coalesce(application_name, '?') || ' ('"              \
	"  || coalesce(sync_state, '?') || ', ' || coalesce(state, '?') || ')', ', '"       \
	"  ORDER BY application_name), '') FROM pg_stat_replication)"

/* What a promotion could lose when no standby is synchronous. */
static const char repl_lose[] =
	"a promotion of a standby could lose the last committed lease rows (a lease epoch could "
	"be handed out twice: split brain) and drained messages (already trimmed from the "
	"nodes' LMDB)";

/* REPL_SQL's answer, its columns in order. */
struct repl_state {
	bool standby;            /* the server is in recovery */
	const char *names;       /* synchronous_standby_names */
	const char *sync_commit; /* synchronous_commit */
	bool privileged;         /* the role may read pg_stat_replication's state */
	long nrep;               /* standbys connected */
	long nsync;              /* synchronous (or quorum) standbys streaming */
	const char *list;        /* "NAME (sync_state, state), ..." */
};

static void
repl_read(PGresult *res, struct repl_state *st)
{
	st->standby = PQgetvalue(res, 0, 0)[0] == 't';
	st->names = PQgetvalue(res, 0, 1);
	st->sync_commit = PQgetvalue(res, 0, 2);
	st->privileged = PQgetvalue(res, 0, 3)[0] == 't';
	st->nrep = strtol(PQgetvalue(res, 0, 4), NULL, 10);
	st->nsync = strtol(PQgetvalue(res, 0, 5), NULL, 10);
	st->list = PQgetvalue(res, 0, 6);
}

/* A primary with synchronous_standby_names set: is one of them streaming? */
static void
repl_synchronous(struct rc_dbcheck_report *r, const struct repl_state *st)
{
	if (st->nsync == 0)
		rc_dbcheck_add(r, NULL, "replication", RC_DBCHECK_FAIL, -EAGAIN,
			       "start the synchronous standby (or let the failover tool clear "
			       "synchronous_standby_names, or name two standbys: ANY 1 (A, B))",
			       "synchronous_standby_names = '%s' but no synchronous standby is "
			       "streaming%s%s: every commit waits for one (the drain stops, lease "
			       "renewals hang and the nodes fence themselves)",
			       st->names, st->list[0] ? "; standbys: " : "", st->list);
	else
		rc_dbcheck_add(r, NULL, "replication", RC_DBCHECK_PASS, 0,
			       "the nodes' drain and lease sessions commit with synchronous_commit "
			       "= on; a failover must promote a synchronous standby",
			       "replicated synchronously: synchronous_standby_names = '%s'; "
			       "standbys: %s (synchronous_commit %s by default here)",
			       st->names, st->list, st->sync_commit);
}

/* A primary with synchronous_standby_names empty: asynchronous standbys, or none. */
static void
repl_asynchronous(struct rc_dbcheck_report *r, const struct repl_state *st)
{
	if (st->nrep > 0)
		rc_dbcheck_add(r, NULL, "replication", RC_DBCHECK_WARN, 0,
			       "make a standby synchronous on the primary: ALTER SYSTEM SET "
			       "synchronous_standby_names = 'STANDBY_NAME' (or 'ANY 1 (A, B)'); "
			       "SELECT pg_reload_conf()",
			       "replicated asynchronously (synchronous_standby_names is empty; "
			       "standbys: %s): %s",
			       st->list, repl_lose);
	else
		rc_dbcheck_add(r, NULL, "replication", RC_DBCHECK_WARN, 0,
			       "for a database that fails over, add a streaming standby and make it "
			       "synchronous (synchronous_standby_names on the primary)",
			       "not replicated: no standby streams from this server; if one is "
			       "promoted after a copy or an asynchronous stream, %s",
			       repl_lose);
}

static void
check_replication(struct rc_pgdb *db, struct rc_dbcheck_report *r)
{
	struct repl_state st;
	char fix[512];
	PGresult *res;

	if (rc_pgdb_query(db, REPL_SQL, 0, NULL, &res) != 0) {
		rc_dbcheck_add(r, NULL, "replication", RC_DBCHECK_WARN, 0,
			       "GRANT pg_monitor TO the node's role",
			       "could not read the replication state: %s", db->err);
		return;
	}
	repl_read(res, &st);
	if (st.standby) {
		rc_dbcheck_add(r, NULL, "replication", RC_DBCHECK_FAIL, -EROFS,
			       "point the conninfo at the primary: list every server (host=A,B or "
			       "port=P1,P2) and leave target_session_attrs at read-write (the "
			       "node's default)",
			       "this server is a standby (in recovery, read-only): the node cannot "
			       "drain or hold leases on it");
	} else if (st.nrep > 0 && !st.privileged) {
		snprintf(fix, sizeof(fix),
			 "GRANT pg_monitor TO %s (it may read pg_stat_replication's state); then "
			 "check again",
			 PQuser(db->conn));
		rc_dbcheck_add(r, NULL, "replication", RC_DBCHECK_WARN, 0, fix,
			       "%ld standby(s) streaming, synchronous_standby_names = '%s', but "
			       "role %s may not see whether they are synchronous",
			       st.nrep, st.names, PQuser(db->conn));
	} else if (st.names[0] != '\0') {
		repl_synchronous(r, &st);
	} else {
		repl_asynchronous(r, &st);
	}
	PQclear(res);
}

int
rc_dbcheck_run(const char *conninfo, const struct rc_dbcheck_opts *o,
	       struct rc_dbcheck_report *r)
{
	static const char *const after_connect[] = { "server_version", "schema", "privileges",
						     "merge_privileges", "dblink", "room",
						     "replication" };
	struct rc_pgdb db = { 0 };
	int version = 0;

	int rc;

	rc_dbcheck_reset(r);
	rc = rc_dbcheck_connect(&db, conninfo, NULL, o, true, r);
	if (rc == -EPROTO)
		rc_dbcheck_add(r, NULL, "encoding", RC_DBCHECK_FAIL, rc, ENCODING_FIX, "%s",
			       db.err);
	else if (rc != 0)
		rc_dbcheck_add(r, NULL, "encoding", RC_DBCHECK_SKIP, 0, NULL,
			       "not checked: no connection");
	else
		rc_dbcheck_add(r, NULL, "encoding", RC_DBCHECK_PASS, 0, NULL,
			       "server_encoding UTF8; client_encoding %s (pinned by the node)",
			       PQparameterStatus(db.conn, "client_encoding") != NULL ?
				       PQparameterStatus(db.conn, "client_encoding") : "?");
	if (rc != 0) {
		for (size_t i = 0; i < sizeof(after_connect) / sizeof(after_connect[0]); i++)
			rc_dbcheck_add(r, NULL, after_connect[i], RC_DBCHECK_SKIP, 0, NULL,
				       "not checked: no connection");
		return rc_dbcheck_first_err(r);
	}
	check_server_version(&db, r);
	check_schema(&db, r, &version);
	rc_dbcheck_privileges(&db, RC_DBCHECK_NEED_NODE, version, NULL, "privileges", r);
	rc_dbcheck_privileges(&db, RC_DBCHECK_NEED_MERGE_SOURCE | RC_DBCHECK_NEED_MERGE_TARGET,
			      version, NULL, "merge_privileges", r);
	check_dblink(&db, r);
	rc_dbcheck_room(&db, NULL, o, r);
	check_replication(&db, r);
	rc_pgdb_close(&db);
	return rc_dbcheck_first_err(r);
}

/*
 * Rendering.
 */

json_t *
rc_dbcheck_to_json(const struct rc_dbcheck_report *r)
{
	json_t *checks = json_array(), *o;
	unsigned count[RC_DBCHECK_RESULT_MAX] = { 0 };

	if (checks == NULL)
		return NULL;
	for (unsigned i = 0; i < r->n; i++) {
		const struct rc_dbcheck_item *it = &r->items[i];

		count[it->result < RC_DBCHECK_RESULT_MAX ? it->result : RC_DBCHECK_FAIL]++;
		json_array_append_new(checks,
				      json_pack("{s:s,s:s,s:s,s:s,s:s}", "subject", it->subject,
						"name", it->name, "result",
						rc_dbcheck_result_str(it->result), "detail",
						it->detail, "fix", it->fix));
	}
	o = json_pack("{s:b,s:i,s:i,s:i,s:i,s:i,s:i,s:o}", "ok", r->failed == 0, "passed",
		      (int)count[RC_DBCHECK_PASS], "failed", (int)r->failed, "info",
		      (int)count[RC_DBCHECK_INFO], "skipped", (int)count[RC_DBCHECK_SKIP],
		      "warnings", (int)count[RC_DBCHECK_WARN], "dropped", (int)r->dropped,
		      "checks", checks);
	return o;
}

size_t
rc_dbcheck_to_text(const struct rc_dbcheck_report *r, char *buf, size_t cap)
{
	struct rc_text b = rc_text_fixed(buf, cap);
	unsigned count[RC_DBCHECK_RESULT_MAX] = { 0 };
	char up[8];

	for (unsigned i = 0; i < r->n; i++) {
		const struct rc_dbcheck_item *it = &r->items[i];
		const char *s = rc_dbcheck_result_str(it->result);
		size_t k;

		count[it->result < RC_DBCHECK_RESULT_MAX ? it->result : RC_DBCHECK_FAIL]++;
		for (k = 0; s[k] != '\0' && k + 1 < sizeof(up); k++)
			up[k] = (char)toupper((unsigned char)s[k]);
		up[k] = '\0';
		rc_text_printf(&b, "%-4s  %s%s%s: %s\n", up, it->subject, it->subject[0] ? " " : "",
			  it->name, it->detail);
		if (it->fix[0] != '\0')
			rc_text_printf(&b, "      %s: %s\n",
				  it->result == RC_DBCHECK_FAIL || it->result == RC_DBCHECK_WARN
					  ? "fix"
					  : "note",
				  it->fix);
	}
	rc_text_printf(&b, "%u passed, %u failed, %u info, %u skipped", count[RC_DBCHECK_PASS],
		  r->failed, count[RC_DBCHECK_INFO], count[RC_DBCHECK_SKIP]);
	if (count[RC_DBCHECK_WARN] > 0)
		rc_text_printf(&b, ", %u warnings", count[RC_DBCHECK_WARN]);
	rc_text_printf(&b, "%s\n", r->dropped > 0 ? " (some checks did not fit the report)" : "");
	return b.len;
}
