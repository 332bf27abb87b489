/* SPDX-License-Identifier: MIT */
/*
 * Database merge jobs: validation, the merge itself (one target transaction), the job's
 * rendering and the node's job store. The rules are in merge.h.
 *
 * The merge, inside the target's transaction:
 *
 *   lock (advisory, merge key) -> merge_jobs says done? -> ROLLBACK, "already done"
 *   LOCK the five tables, check the target is still empty
 *   COPY source A's and B's tables -> temporary mg_* tables (src 0 = A, 1 = B)
 *   mg_presence: per room, in A / in B / messages in A / messages in B
 *   mg_shared:   the messages of rooms with messages in both, with k = the copy number of
 *                an identical message within its source (so that the k-th copy in A pairs
 *                with the k-th copy in B: duplicates are folded one for one)
 *   mg_dup:      B's copies of messages A also has
 *   mg_map:      (room, src, old_seq) -> new_seq, numbered 1..N per room by (ts_ms, src,
 *                seq) over the kept messages, then B's duplicates pointing at A's number
 *   INSERT messages, rooms, room_members, drain_alarms, drain_state; statistics;
 *   INSERT merge_jobs (done), merge_seq_map; COMMIT
 *
 * Everything after the COPY runs in the server; the node only streams rows through. A
 * failure anywhere rolls the whole transaction back (the temporary tables go with it).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "merge.h"
#include "schema.h"

/* "rcmerge!" in ASCII: the advisory lock of merges into one target */
#define MERGE_LOCK_SQL "SELECT pg_advisory_xact_lock(8242552025496642849)"

static const char *const state_str[RC_MERGE_STATE_MAX] = {
	[RC_MERGE_ADDED] = "added",	    [RC_MERGE_INVALID] = "invalid",
	[RC_MERGE_VALIDATED] = "validated", [RC_MERGE_FAILED] = "failed",
	[RC_MERGE_DONE] = "done",
};

static const char *const table_str[RC_MERGE_T_MAX] = {
	[RC_MERGE_T_ROOMS] = "rooms",		[RC_MERGE_T_MEMBERS] = "room_members",
	[RC_MERGE_T_MESSAGES] = "messages",	[RC_MERGE_T_ALARMS] = "drain_alarms",
	[RC_MERGE_T_DRAIN_STATE] = "drain_state",
};

static const char *const db_str[RC_MERGE_DB_MAX] = {
	[RC_MERGE_SOURCE_A] = "source A",
	[RC_MERGE_SOURCE_B] = "source B",
	[RC_MERGE_TARGET] = "target",
};

/* JSON keys of the databases */
static const char *const db_key[RC_MERGE_DB_MAX] = { "source_a", "source_b", "target" };

const char *
rc_merge_state_str(enum rc_merge_state s)
{
	return (unsigned)s < RC_MERGE_STATE_MAX && state_str[s] != NULL ? state_str[s] : "?";
}

const char *
rc_merge_table_str(enum rc_merge_table t)
{
	return (unsigned)t < RC_MERGE_T_MAX && table_str[t] != NULL ? table_str[t] : "?";
}

const char *
rc_merge_db_str(enum rc_merge_db d)
{
	return (unsigned)d < RC_MERGE_DB_MAX && db_str[d] != NULL ? db_str[d] : "?";
}

/* Copies text as one line (newlines and tabs become spaces, runs of spaces collapse). */
static void
oneline(char *dst, size_t cap, const char *prefix, const char *text)
{
	size_t n = (size_t)snprintf(dst, cap, "%s", prefix);

	for (const char *p = text; p != NULL && *p != '\0' && n + 1 < cap; p++) {
		char c = (*p == '\n' || *p == '\t' || *p == '\r') ? ' ' : *p;

		if (c == ' ' && (n == 0 || dst[n - 1] == ' '))
			continue;
		dst[n++] = c;
	}
	while (n > 0 && n < cap && dst[n - 1] == ' ')
		n--;
	if (n < cap)
		dst[n] = '\0';
}

/*
 * Conninfo redaction.
 */

static bool
needs_quotes(const char *v)
{
	return v[0] == '\0' || strpbrk(v, " \t\n'\\") != NULL;
}

/* Appends key=value (quoted when needed) at out + len; returns the new length. */
static size_t
redact_kv(char *out, size_t cap, size_t len, const char *key, const char *val)
{
	len += (size_t)snprintf(len < cap ? out + len : NULL, len < cap ? cap - len : 0, "%s%s=",
				len > 0 ? " " : "", key);
	if (!needs_quotes(val))
		return len + (size_t)snprintf(len < cap ? out + len : NULL,
					      len < cap ? cap - len : 0, "%s", val);
	if (len < cap)
		out[len] = '\'';
	len++;
	for (const char *v = val; *v != '\0'; v++) {
		if (*v == '\'' || *v == '\\') {
			if (len < cap)
				out[len] = '\\';
			len++;
		}
		if (len < cap)
			out[len] = *v;
		len++;
	}
	if (len < cap)
		out[len] = '\'';
	return len + 1;
}

size_t
rc_merge_redact(const char *conninfo, char *out, size_t cap)
{
	static const char *const first[] = { "host", "hostaddr", "port", "dbname", "user" };
	PQconninfoOption *opts;
	char *perr = NULL;
	size_t len = 0;

	if (cap > 0)
		out[0] = '\0';
	if (conninfo == NULL)
		return 0;
	opts = PQconninfoParse(conninfo, &perr);
	PQfreemem(perr);
	if (opts == NULL) {
		if (strcasestr(conninfo, "password") != NULL || strstr(conninfo, "://") != NULL)
			return (size_t)snprintf(out, cap, "(unparsable connection string)");
		return (size_t)snprintf(out, cap, "%s", conninfo);
	}
	/* where and who first, in this order, then the rest in libpq's order */
	for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
		for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
			if (o->val != NULL && strcmp(o->keyword, first[i]) == 0)
				len = redact_kv(out, cap, len, o->keyword, o->val);
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		bool is_first = false;

		for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
			is_first |= strcmp(o->keyword, first[i]) == 0;
		if (o->val != NULL && !is_first && strcasestr(o->keyword, "password") == NULL)
			len = redact_kv(out, cap, len, o->keyword, o->val);
	}
	if (cap > 0)
		out[len < cap ? len : cap - 1] = '\0';
	PQconninfoFree(opts);
	return len;
}

/*
 * Validation.
 */

struct merge_ctx {
	struct rc_pgdb db[RC_MERGE_DB_MAX];
	bool usable[RC_MERGE_DB_MAX];   /* connected, schema current */
	char ident[RC_MERGE_DB_MAX][64]; /* which database this is ("" unknown) */
	uint64_t data_bytes[2];          /* the sources' roomcast tables */
	bool target_done;                /* the target's merge_jobs says this job is done */
};

static void
ctx_close(struct merge_ctx *c)
{
	for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++)
		rc_pgdb_close(&c->db[d]);
}

/* One text value of a one-row query into out ("" on failure or NULL). */
static int
query_text(struct rc_pgdb *db, const char *sql, char *out, size_t len)
{
	PGresult *res;
	int rc = rc_pgdb_query(db, sql, 0, NULL, &res);

	out[0] = '\0';
	if (rc != 0)
		return rc;
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		snprintf(out, len, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* Which database this is: the cluster's system identifier (else the postmaster's start
 * time) and the database's oid. */
static void
db_ident(struct rc_pgdb *db, char *out, size_t len)
{
	if (query_text(db, "SELECT system_identifier::text || '/' || (SELECT oid FROM"
			   " pg_database WHERE datname = current_database()) FROM pg_control_system()",
		       out, len) == 0 && out[0] != '\0')
		return;
	query_text(db, "SELECT 'start ' || extract(epoch FROM pg_postmaster_start_time()) || '/'"
		       " || oid FROM pg_database WHERE datname = current_database()",
		   out, len);
}

/* Session settings for COPY between servers: UTF8 text, ISO dates. */
static int
session_setup(struct rc_pgdb *db)
{
	if (PQsetClientEncoding(db->conn, "UTF8") != 0)
		return -EIO;
	return rc_pgdb_exec(db, "SET datestyle = 'ISO, MDY'; SET intervalstyle = 'postgres'");
}

static const char *
node_name(const struct rc_merge_params *p, unsigned i, char *buf, size_t len)
{
	if (p->node[i] != NULL && p->node[i][0] != '\0')
		return p->node[i];
	snprintf(buf, len, "%u", i + 1);
	return buf;
}

/* TC must be stopped on both nodes: true if it is. */
static bool
check_tc(const struct rc_merge_params *p, struct rc_dbcheck_report *r)
{
	bool ok = true;

	for (unsigned i = 0; i < 2; i++) {
		char subj[24], fix[128], num[12];
		const char *n = node_name(p, i, num, sizeof(num));

		snprintf(subj, sizeof(subj), "node %s", n);
		if (p->tc_stopped[i]) {
			rc_dbcheck_add(r, subj, "tc_stopped", RC_DBCHECK_PASS, 0, NULL,
				       "the TC service is stopped on node %s", n);
			continue;
		}
		ok = false;
		snprintf(fix, sizeof(fix), "roomcastctl service stop tc --node %s", n);
		rc_dbcheck_add(r, subj, "tc_stopped", RC_DBCHECK_FAIL, -EBUSY, fix,
			       "the TC service is running on node %s: stop it on both nodes of the "
			       "group (roomcastctl service stop tc --node %s)",
			       n, n);
	}
	return ok;
}

/* A source's schema must be exactly this binary's. */
static int
check_source_schema(struct rc_pgdb *db, const char *subj, struct rc_dbcheck_report *r)
{
	int v = rc_schema_version(db);

	if (v == RC_SCHEMA_VERSION) {
		rc_dbcheck_add(r, subj, "schema", RC_DBCHECK_PASS, 0, NULL,
			       "schema version %d, current", v);
		return 0;
	}
	if (v < 0)
		rc_dbcheck_add(r, subj, "schema", RC_DBCHECK_FAIL, v, NULL,
			       "could not read the schema version: %s", db->err);
	else if (v == 0)
		rc_dbcheck_add(r, subj, "schema", RC_DBCHECK_FAIL, -EINVAL,
			       "check that the connection names the node's roomcast database",
			       "no roomcast schema: not a roomcast database");
	else if (v < RC_SCHEMA_VERSION)
		rc_dbcheck_add(r, subj, "schema", RC_DBCHECK_FAIL, -EPROTO,
			       "let a roomcastd of this version start once with this database "
			       "(it migrates it), then validate again",
			       "schema version %d is older than this roomcastd's (%d)", v,
			       RC_SCHEMA_VERSION);
	else
		rc_dbcheck_add(r, subj, "schema", RC_DBCHECK_FAIL, -EPROTO,
			       "upgrade roomcastd on this node to a version that knows it",
			       "schema version %d is newer than this roomcastd (knows up to %d)", v,
			       RC_SCHEMA_VERSION);
	return v < 0 ? v : -EPROTO;
}

/* Every seq a source's rooms have handed out must be in it (the node drained it all). */
static int
check_drained(struct rc_pgdb *db, const char *subj, struct rc_dbcheck_report *r)
{
	PGresult *res;
	int rc = rc_pgdb_query(
		db,
		"SELECT count(*) OVER (), r.name, r.next_seq, m.last FROM rooms r JOIN"
		" (SELECT room, max(seq) AS last FROM messages GROUP BY room) m ON m.room = r.name"
		" WHERE r.next_seq > m.last + 1 ORDER BY r.name LIMIT 1",
		0, NULL, &res);

	if (rc != 0) {
		rc_dbcheck_add(r, subj, "drained", RC_DBCHECK_FAIL, rc, NULL,
			       "could not compare rooms with messages: %s", db->err);
		return rc;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		rc_dbcheck_add(r, subj, "drained", RC_DBCHECK_PASS, 0, NULL,
			       "every room's messages are all stored (next_seq = last seq + 1)");
		return 0;
	}
	rc_dbcheck_add(r, subj, "drained", RC_DBCHECK_FAIL, -EINVAL,
		       "let the node that writes this database drain its backlog (db status "
		       "shows it) before stopping TC, then validate again",
		       "%s room(s) handed out sequence numbers that are not stored here (room %s: "
		       "next_seq %s, last stored %s): the node's backlog was not drained",
		       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
		       PQgetvalue(res, 0, 3));
	PQclear(res);
	return -EINVAL;
}

static void
validate_source(struct merge_ctx *c, enum rc_merge_db d, const struct rc_merge_params *p,
		struct rc_dbcheck_report *r)
{
	const struct rc_dbcheck_opts o = { .node_addr = p->node_addr };
	const char *subj = db_str[d];
	struct rc_pgdb *db = &c->db[d];
	uint64_t size;

	if (rc_dbcheck_connect(db, p->conninfo[d], subj, &o, false, r) != 0)
		return;
	if (check_source_schema(db, subj, r) != 0)
		return;
	if (rc_dbcheck_privileges(db, RC_DBCHECK_NEED_MERGE_SOURCE, RC_SCHEMA_VERSION, subj,
				  "privileges", r) != 0)
		return;
	if (check_drained(db, subj, r) != 0)
		return;
	db_ident(db, c->ident[d], sizeof(c->ident[d]));
	if (rc_dbcheck_sizes(db, &size, &c->data_bytes[d]) != 0)
		c->data_bytes[d] = 0;
	c->usable[d] = session_setup(db) == 0;
}

/* The target's schema: created or migrated (only while TC is stopped), or refused. */
static int
target_schema(struct rc_pgdb *db, bool tc_ok, struct rc_dbcheck_report *r)
{
	char err[256];
	int v = rc_schema_version(db), applied = 0, rc;

	if (v == RC_SCHEMA_VERSION) {
		rc_dbcheck_add(r, "target", "schema", RC_DBCHECK_PASS, 0, NULL,
			       "schema version %d, current", v);
		return 0;
	}
	if (v < 0 || v > RC_SCHEMA_VERSION)
		return check_source_schema(db, "target", r); /* the same texts */
	if (!tc_ok) {
		rc_dbcheck_add(r, "target", "schema", RC_DBCHECK_SKIP, 0, NULL,
			       "schema version %d: not migrated while TC runs", v);
		return -EBUSY;
	}
	rc = rc_schema_migrate(db, &applied, err, sizeof(err));
	if (rc != 0) {
		rc_dbcheck_add(r, "target", "schema", RC_DBCHECK_FAIL, rc,
			       "see the privileges check below (CREATE on the schema)", "%s", err);
		return rc;
	}
	rc_dbcheck_add(r, "target", "schema", RC_DBCHECK_PASS, 0, NULL,
		       v == 0 ? "schema created (version %d)" : "schema migrated to version %d",
		       RC_SCHEMA_VERSION);
	return 0;
}

static void stats_from_json(struct rc_merge_stats *st, json_t *o);

/* Is this job already done in the target? Then its record fills job->stats. Also lists the
 * jobs done there into others. */
static void
target_jobs(struct merge_ctx *c, struct rc_merge_job *job, char *others, size_t len)
{
	struct rc_pgdb *db = &c->db[RC_MERGE_TARGET];
	const char *pm[1] = { job->uid };
	char have[8];
	PGresult *res;

	others[0] = '\0';
	if (query_text(db, "SELECT to_regclass('merge_jobs') IS NOT NULL", have, sizeof(have)) ||
	    strcmp(have, "t") != 0)
		return;
	if (rc_pgdb_query(db, "SELECT result::text, extract(epoch FROM finished_at)::bigint FROM"
			      " merge_jobs WHERE job_id = $1 AND state = 'done'",
			  1, pm, &res) == 0) {
		if (PQntuples(res) == 1) {
			json_t *o = json_loads(PQgetvalue(res, 0, 0), 0, NULL);

			c->target_done = true;
			stats_from_json(&job->stats, o);
			json_decref(o);
			job->finished_s = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		}
		PQclear(res);
	}
	query_text(db, "SELECT string_agg(job_id, ', ' ORDER BY finished_at) FROM merge_jobs"
		       " WHERE state = 'done'",
		   others, len);
}

/* The target must be empty, unless this job is done there. */
static int
target_empty(struct merge_ctx *c, struct rc_merge_job *job, struct rc_dbcheck_report *r)
{
	struct rc_pgdb *db = &c->db[RC_MERGE_TARGET];
	char others[256];
	PGresult *res;
	int rc;

	target_jobs(c, job, others, sizeof(others));
	if (c->target_done) {
		rc_dbcheck_add(r, "target", "empty", RC_DBCHECK_PASS, 0, NULL,
			       "this job (%s) is already done in the target: running it again "
			       "changes nothing",
			       job->uid);
		return 0;
	}
	rc = rc_pgdb_query(db, "SELECT (SELECT count(*) FROM rooms), (SELECT count(*) FROM"
			       " room_members), (SELECT count(*) FROM messages)",
			   0, NULL, &res);
	if (rc != 0) {
		rc_dbcheck_add(r, "target", "empty", RC_DBCHECK_FAIL, rc, NULL,
			       "could not count the target's rows: %s", db->err);
		return rc;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "0") == 0 && strcmp(PQgetvalue(res, 0, 1), "0") == 0 &&
	    strcmp(PQgetvalue(res, 0, 2), "0") == 0) {
		PQclear(res);
		rc_dbcheck_add(r, "target", "empty", RC_DBCHECK_PASS, 0, NULL,
			       "the target holds no rooms, members or messages");
		return 0;
	}
	rc_dbcheck_add(r, "target", "empty", RC_DBCHECK_FAIL, -EEXIST,
		       "merge into an empty database: create one (CREATE DATABASE ... OWNER ...), "
		       "or back this one up and empty it",
		       "the target holds %s room(s), %s member(s), %s message(s)%s%s",
		       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
		       others[0] != '\0' ? ", written by merge job(s) " : "", others);
	PQclear(res);
	return -EEXIST;
}

static void
validate_target(struct merge_ctx *c, struct rc_merge_job *job, const struct rc_merge_params *p,
		bool tc_ok, struct rc_dbcheck_report *r)
{
	struct rc_dbcheck_opts o = { .node_addr = p->node_addr,
				     .limit_bytes = p->target_limit_bytes,
				     .incoming_bytes = c->data_bytes[0] + c->data_bytes[1] };
	struct rc_pgdb *db = &c->db[RC_MERGE_TARGET];
	bool ok;

	if (rc_dbcheck_connect(db, p->conninfo[RC_MERGE_TARGET], "target", &o, false, r) != 0)
		return;
	db_ident(db, c->ident[RC_MERGE_TARGET], sizeof(c->ident[RC_MERGE_TARGET]));
	ok = target_schema(db, tc_ok, r) == 0;
	if (rc_dbcheck_privileges(db, RC_DBCHECK_NEED_MERGE_TARGET,
				  ok ? RC_SCHEMA_VERSION : 0, "target", "privileges", r) != 0)
		ok = false;
	if (ok && target_empty(c, job, r) != 0)
		ok = false;
	if (rc_dbcheck_room(db, "target", &o, r) != 0)
		ok = false;
	c->usable[RC_MERGE_TARGET] = ok && session_setup(db) == 0;
}

/* Three different databases. */
static void
check_distinct(struct merge_ctx *c, struct rc_dbcheck_report *r)
{
	const char *a = c->ident[0], *b = c->ident[1], *t = c->ident[2];

	if (a[0] == '\0' || b[0] == '\0' || t[0] == '\0') {
		rc_dbcheck_add(r, NULL, "distinct", RC_DBCHECK_SKIP, 0, NULL,
			       "not checked: a database was not reached");
		return;
	}
	if (strcmp(a, b) == 0)
		rc_dbcheck_add(r, NULL, "distinct", RC_DBCHECK_FAIL, -EINVAL,
			       "give the two nodes' own databases as the sources",
			       "source A and source B are the same database");
	else if (strcmp(t, a) == 0 || strcmp(t, b) == 0)
		rc_dbcheck_add(r, NULL, "distinct", RC_DBCHECK_FAIL, -EINVAL,
			       "merge into a third, empty database",
			       "the target is %s's database", strcmp(t, a) == 0 ? "source A"
										 : "source B");
	else
		rc_dbcheck_add(r, NULL, "distinct", RC_DBCHECK_PASS, 0, NULL,
			       "sources and target are three different databases");
}

/* The first failure as "subject name: detail" into job->error. */
static void
job_error_from(struct rc_merge_job *job, const struct rc_dbcheck_report *r)
{
	job->error[0] = '\0';
	for (unsigned i = 0; i < r->n; i++) {
		const struct rc_dbcheck_item *it = &r->items[i];

		if (it->result == RC_DBCHECK_FAIL) {
			snprintf(job->error, sizeof(job->error), "%s%s%s: %s", it->subject,
				 it->subject[0] != '\0' ? " " : "", it->name, it->detail);
			return;
		}
	}
}

/* Validates, leaving the connections of c open (the caller closes them). */
static int
merge_validate(struct rc_merge_job *job, const struct rc_merge_params *p,
	       struct rc_dbcheck_report *r, struct merge_ctx *c)
{
	bool tc_ok;
	int rc;

	rc_dbcheck_reset(r);
	tc_ok = check_tc(p, r);
	validate_source(c, RC_MERGE_SOURCE_A, p, r);
	validate_source(c, RC_MERGE_SOURCE_B, p, r);
	validate_target(c, job, p, tc_ok, r);
	check_distinct(c, r);
	rc = !tc_ok ? -EBUSY : rc_dbcheck_first_err(r);
	job->validated_s = (int64_t)time(NULL);
	job_error_from(job, r);
	if (rc == 0 && c->target_done)
		job->state = RC_MERGE_DONE;
	else if (job->state != RC_MERGE_DONE)
		job->state = rc == 0 ? RC_MERGE_VALIDATED : RC_MERGE_INVALID;
	return rc;
}

int
rc_merge_validate(struct rc_merge_job *job, const struct rc_merge_params *p,
		  struct rc_dbcheck_report *r)
{
	struct merge_ctx c = { 0 };
	int rc = merge_validate(job, p, r, &c);

	ctx_close(&c);
	return rc;
}

/*
 * The merge.
 */

static const char *const merge_tables_sql =
	"CREATE TABLE IF NOT EXISTS merge_jobs ("
	" job_id text PRIMARY KEY,"
	" source_a text NOT NULL,"
	" source_b text NOT NULL,"
	" state text NOT NULL CHECK (state IN ('done')),"
	" result jsonb NOT NULL DEFAULT '{}',"
	" started_at timestamptz NOT NULL DEFAULT now(),"
	" finished_at timestamptz);"
	"CREATE TABLE IF NOT EXISTS merge_seq_map ("
	" job_id text NOT NULL REFERENCES merge_jobs (job_id) ON DELETE CASCADE,"
	" room text NOT NULL,"
	" source text NOT NULL CHECK (source IN ('A', 'B')),"
	" old_seq bigint NOT NULL,"
	" new_seq bigint NOT NULL,"
	" PRIMARY KEY (job_id, room, source, old_seq))";

/* Per table: the staging table, its columns (after src) and the source's columns. */
static const struct stage {
	const char *name;
	const char *columns;
	const char *source;
} stages[RC_MERGE_T_MAX] = {
	[RC_MERGE_T_ROOMS] = { "mg_rooms",
			       "name text, room_id bigint, hosting_node text, type text, subject text,"
			       " creator text, max_occupants integer, members_only boolean,"
			       " next_seq bigint, created_at timestamptz",
			       "name, room_id, hosting_node, type, subject, creator, max_occupants,"
			       " members_only, next_seq, created_at FROM rooms" },
	[RC_MERGE_T_MEMBERS] = { "mg_members",
				 "room text, user_name text, role text, affiliation text",
				 "room, user_name, role, affiliation FROM room_members" },
	[RC_MERGE_T_MESSAGES] = { "mg_msgs",
				  "room text, seq bigint, sender text, ts_ms bigint, body text,"
				  " cmid bigint, epoch bigint, node text",
				  "room, seq, sender, ts_ms, body, cmid, epoch, node FROM messages" },
	[RC_MERGE_T_ALARMS] = { "mg_alarms",
				"room text, seq bigint, stored_cmid bigint, stored_sender text,"
				" new_cmid bigint, new_sender text, new_ts_ms bigint, new_body text,"
				" new_epoch bigint, node text, lsn bigint, at timestamptz",
				"room, seq, stored_cmid, stored_sender, new_cmid, new_sender,"
				" new_ts_ms, new_body, new_epoch, node, lsn, at FROM drain_alarms" },
	[RC_MERGE_T_DRAIN_STATE] = { "mg_drain",
				     "node text, drained_lsn bigint, updated_at timestamptz",
				     "node, drained_lsn, updated_at FROM drain_state" },
};

static const char *const merge_sql =
	"ANALYZE mg_rooms, mg_members, mg_msgs, mg_alarms, mg_drain;"
	"CREATE TEMP TABLE mg_presence ON COMMIT DROP AS"
	" SELECT name, bool_or(src = 0) AS in_a, bool_or(src = 1) AS in_b,"
	" bool_or(src = 0 AND msg) AS msgs_a, bool_or(src = 1 AND msg) AS msgs_b FROM ("
	"  SELECT src, name, false AS msg FROM mg_rooms"
	"  UNION ALL SELECT src, room, false FROM mg_members"
	"  UNION ALL SELECT DISTINCT src, room, true FROM mg_msgs) s GROUP BY name;"
	"CREATE TEMP TABLE mg_shared ON COMMIT DROP AS"
	" SELECT m.src, m.room, m.seq, m.sender, m.ts_ms, m.cmid, m.body, row_number() OVER ("
	"  PARTITION BY m.src, m.room, m.sender, m.cmid, m.ts_ms, m.body ORDER BY m.seq) AS k"
	" FROM mg_msgs m JOIN mg_presence p ON p.name = m.room AND p.msgs_a AND p.msgs_b;"
	"CREATE TEMP TABLE mg_dup ON COMMIT DROP AS"
	" SELECT b.room, b.seq AS b_seq, a.seq AS a_seq FROM mg_shared a JOIN mg_shared b"
	" ON a.src = 0 AND b.src = 1 AND a.room = b.room AND a.sender = b.sender"
	" AND a.cmid = b.cmid AND a.ts_ms = b.ts_ms AND a.body = b.body AND a.k = b.k;"
	"CREATE TEMP TABLE mg_map ON COMMIT DROP AS"
	" SELECT s.room, s.src, s.seq AS old_seq, row_number() OVER ("
	"  PARTITION BY s.room ORDER BY s.ts_ms, s.src, s.seq) AS new_seq, true AS kept"
	" FROM mg_shared s LEFT JOIN mg_dup d ON s.src = 1 AND d.room = s.room AND d.b_seq = s.seq"
	" WHERE d.room IS NULL;"
	"INSERT INTO mg_map SELECT d.room, 1, d.b_seq, m.new_seq, false FROM mg_dup d"
	" JOIN mg_map m ON m.room = d.room AND m.src = 0 AND m.old_seq = d.a_seq;"
	"INSERT INTO messages (room, seq, sender, ts_ms, body, cmid, epoch, node)"
	" SELECT m.room, m.seq, m.sender, m.ts_ms, m.body, m.cmid, m.epoch, m.node FROM mg_msgs m"
	"  JOIN mg_presence p ON p.name = m.room WHERE NOT (p.msgs_a AND p.msgs_b)"
	" UNION ALL"
	" SELECT m.room, x.new_seq, m.sender, m.ts_ms, m.body, m.cmid, m.epoch, m.node"
	"  FROM mg_msgs m JOIN mg_map x ON x.kept AND x.room = m.room AND x.src = m.src"
	"  AND x.old_seq = m.seq;"
	"INSERT INTO rooms (name, room_id, hosting_node, type, subject, creator, max_occupants,"
	" members_only, next_seq, created_at)"
	" SELECT p.name, b.room_id, coalesce(b.hosting_node, ''), coalesce(b.type, 'persistent'),"
	"  coalesce(b.subject, ''), coalesce(b.creator, ''), coalesce(b.max_occupants, 0),"
	"  coalesce(g.members_only, false),"
	"  CASE WHEN p.msgs_a AND p.msgs_b THEN coalesce(s.last, 0) + 1"
	"   ELSE greatest(coalesce(g.next_seq, 1), coalesce(s.last, 0) + 1) END,"
	"  coalesce(g.created_at, now())"
	" FROM mg_presence p"
	" LEFT JOIN (SELECT DISTINCT ON (name) * FROM mg_rooms ORDER BY name, created_at, src) b"
	"  ON b.name = p.name"
	" LEFT JOIN (SELECT name, bool_or(members_only) AS members_only, max(next_seq) AS"
	"  next_seq, min(created_at) AS created_at FROM mg_rooms GROUP BY name) g ON g.name = p.name"
	" LEFT JOIN (SELECT room, max(seq) AS last FROM messages GROUP BY room) s"
	"  ON s.room = p.name;"
	"INSERT INTO room_members (room, user_name, role, affiliation)"
	" SELECT room, user_name,"
	"  (ARRAY['none', 'visitor', 'participant', 'moderator'])[max(array_position("
	"   ARRAY['none', 'visitor', 'participant', 'moderator'], role))],"
	"  (ARRAY['outcast', 'none', 'member', 'admin', 'owner'])[max(array_position("
	"   ARRAY['outcast', 'none', 'member', 'admin', 'owner'], affiliation))]"
	" FROM mg_members GROUP BY room, user_name;"
	"INSERT INTO drain_alarms (room, seq, stored_cmid, stored_sender, new_cmid, new_sender,"
	" new_ts_ms, new_body, new_epoch, node, lsn, at)"
	" SELECT a.room, coalesce(x.new_seq, a.seq), a.stored_cmid, a.stored_sender, a.new_cmid,"
	"  a.new_sender, a.new_ts_ms, a.new_body, a.new_epoch, a.node, a.lsn, a.at"
	" FROM mg_alarms a LEFT JOIN mg_map x ON x.room = a.room AND x.src = a.src"
	"  AND x.old_seq = a.seq ORDER BY a.at, a.src"
	" ON CONFLICT (room, seq, new_cmid, new_sender) DO NOTHING;"
	"INSERT INTO drain_state AS d (node, drained_lsn, updated_at)"
	" SELECT node, max(drained_lsn), max(updated_at) FROM mg_drain GROUP BY node"
	" ON CONFLICT (node) DO UPDATE SET drained_lsn = greatest(d.drained_lsn,"
	"  EXCLUDED.drained_lsn), updated_at = greatest(d.updated_at, EXCLUDED.updated_at)";

static const char *const stats_sql =
	"SELECT (SELECT count(*) FROM mg_presence WHERE NOT (msgs_a AND msgs_b)),"
	" (SELECT count(*) FROM mg_presence WHERE msgs_a AND msgs_b),"
	" (SELECT count(*) FROM mg_rooms a JOIN mg_rooms b ON a.src = 0 AND b.src = 1"
	"  AND a.name = b.name),"
	" (SELECT count(*) FROM mg_rooms a JOIN mg_rooms b ON a.src = 0 AND b.src = 1"
	"  AND a.name = b.name WHERE (a.hosting_node, a.type, a.subject, a.creator,"
	"  a.max_occupants, a.members_only) IS DISTINCT FROM (b.hosting_node, b.type, b.subject,"
	"  b.creator, b.max_occupants, b.members_only)),"
	" (SELECT count(*) FROM mg_dup),"
	" (SELECT count(*) FROM mg_members a JOIN mg_members b ON a.src = 0 AND b.src = 1"
	"  AND a.room = b.room AND a.user_name = b.user_name),"
	" (SELECT count(*) FROM mg_members a JOIN mg_members b ON a.src = 0 AND b.src = 1"
	"  AND a.room = b.room AND a.user_name = b.user_name"
	"  WHERE (a.role, a.affiliation) IS DISTINCT FROM (b.role, b.affiliation)),"
	" (SELECT count(*) FROM mg_map),"
	" (SELECT count(*) FROM rooms), (SELECT count(*) FROM room_members),"
	" (SELECT count(*) FROM messages), (SELECT count(*) FROM drain_alarms),"
	" (SELECT count(*) FROM drain_state)";

/* A failed source statement (res may be NULL) -> -errno, text in err. */
static int
source_errno(struct rc_pgdb *db, const PGresult *res, char *err, size_t len, const char *who)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res != NULL ? PQresultErrorMessage(res) : NULL;
	char prefix[32];

	snprintf(prefix, sizeof(prefix), "%s: ", who);
	oneline(err, len, prefix, msg != NULL && msg[0] != '\0' ? msg : PQerrorMessage(db->conn));
	if (PQstatus(db->conn) != CONNECTION_OK || (state != NULL && strncmp(state, "08", 2) == 0))
		return -ECONNRESET;
	if (state != NULL && strcmp(state, "42501") == 0)
		return -EACCES;
	return -EIO;
}

/* Ends the target's COPY with an error (the target's transaction is then aborted). */
static void
copy_abort(struct rc_pgdb *t)
{
	PGresult *res;

	PQputCopyEnd(t->conn, "merge: reading the source failed");
	while ((res = PQgetResult(t->conn)) != NULL)
		PQclear(res);
}

/* Streams one table of source d into its staging table; rows counted in *rows. */
static int
stream_table(struct merge_ctx *c, enum rc_merge_db d, const struct stage *s, uint64_t *rows,
	     char *err, size_t len)
{
	struct rc_pgdb *src = &c->db[d], *t = &c->db[RC_MERGE_TARGET];
	char sql[512];
	PGresult *res;
	char *buf;
	int n, rc;

	*rows = 0;
	snprintf(sql, sizeof(sql), "COPY %s FROM STDIN", s->name);
	rc = rc_pgdb_copy_begin(t, sql);
	if (rc != 0) {
		oneline(err, len, "target: ", t->err);
		return rc;
	}
	snprintf(sql, sizeof(sql), "COPY (SELECT %d, %s) TO STDOUT", (int)d, s->source);
	res = PQexec(src->conn, sql);
	if (res == NULL || PQresultStatus(res) != PGRES_COPY_OUT) {
		rc = source_errno(src, res, err, len, db_str[d]);
		PQclear(res);
		copy_abort(t);
		return rc;
	}
	PQclear(res);
	while ((n = PQgetCopyData(src->conn, &buf, 0)) > 0) {
		rc = rc_pgdb_copy_put(t, buf, (size_t)n);
		PQfreemem(buf);
		if (rc != 0) {
			oneline(err, len, "target: ", t->err);
			rc_pgdb_close(src); /* still in COPY OUT: give up the session */
			return rc;
		}
		(*rows)++;
	}
	res = PQgetResult(src->conn);
	if (n != -1 || res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = source_errno(src, res, err, len, db_str[d]);
		PQclear(res);
		copy_abort(t);
		return rc;
	}
	PQclear(res);
	while ((res = PQgetResult(src->conn)) != NULL)
		PQclear(res);
	rc = rc_pgdb_copy_end(t);
	if (rc != 0)
		oneline(err, len, "target: ", t->err);
	return rc;
}

/* All tables of source d, from one snapshot. */
static int
stream_source(struct merge_ctx *c, enum rc_merge_db d, struct rc_merge_stats *st, char *err,
	      size_t len)
{
	struct rc_pgdb *src = &c->db[d];
	int rc = rc_pgdb_exec(src, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;"
				   " SET LOCAL statement_timeout = 0");

	if (rc != 0) {
		snprintf(err, len, "%s: %s", db_str[d], src->err);
		return rc;
	}
	for (unsigned t = 0; t < RC_MERGE_T_MAX && rc == 0; t++)
		rc = stream_table(c, d, &stages[t], &st->rows[t][d], err, len);
	if (rc_pgdb_ok(src))
		rc_pgdb_exec(src, rc == 0 ? "COMMIT" : "ROLLBACK");
	return rc;
}

/* In the target's transaction: the staging tables. */
static int
create_stages(struct rc_pgdb *t)
{
	char sql[512];

	for (unsigned i = 0; i < RC_MERGE_T_MAX; i++) {
		int rc;

		snprintf(sql, sizeof(sql), "CREATE TEMP TABLE %s (src smallint, %s) ON COMMIT DROP",
			 stages[i].name, stages[i].columns);
		rc = rc_pgdb_exec(t, sql);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
read_stats(struct rc_pgdb *t, struct rc_merge_stats *st)
{
	uint64_t *const cols[] = {
		&st->rooms_copied,
		&st->rooms_renumbered,
		&st->rooms_in_both,
		&st->room_attrs_differ,
		&st->duplicates_folded,
		&st->members_in_both,
		&st->member_roles_differ,
		&st->seq_map_rows,
		&st->rows[RC_MERGE_T_ROOMS][RC_MERGE_TARGET],
		&st->rows[RC_MERGE_T_MEMBERS][RC_MERGE_TARGET],
		&st->rows[RC_MERGE_T_MESSAGES][RC_MERGE_TARGET],
		&st->rows[RC_MERGE_T_ALARMS][RC_MERGE_TARGET],
		&st->rows[RC_MERGE_T_DRAIN_STATE][RC_MERGE_TARGET],
	};
	PGresult *res;
	int rc = rc_pgdb_query(t, stats_sql, 0, NULL, &res);

	if (rc != 0)
		return rc;
	for (int i = 0; i < (int)(sizeof(cols) / sizeof(cols[0])); i++)
		*cols[i] = strtoull(PQgetvalue(res, 0, i), NULL, 10);
	PQclear(res);
	return 0;
}

static json_t *stats_to_json(const struct rc_merge_stats *st);

/* merge_jobs, then merge_seq_map (which references it). */
static int
record_job(struct merge_ctx *c, const struct rc_merge_job *job, const struct rc_merge_stats *st)
{
	struct rc_pgdb *t = &c->db[RC_MERGE_TARGET];
	char src[2][RC_MERGE_DB_LEN + 80];
	json_t *o = stats_to_json(st);
	char *result = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	const char *pm[4] = { job->uid, src[0], src[1], result };
	PGresult *res;
	int rc = -ENOMEM;

	json_decref(o);
	for (unsigned d = 0; d < 2; d++)
		snprintf(src[d], sizeof(src[d]), "%s (database %s)", job->db[d], c->ident[d]);
	if (result != NULL)
		rc = rc_pgdb_query(t, "INSERT INTO merge_jobs (job_id, source_a, source_b, state,"
				      " result, finished_at) VALUES ($1, $2, $3, 'done', $4, now())",
				   4, pm, &res);
	free(result);
	if (rc != 0)
		return rc;
	PQclear(res);
	rc = rc_pgdb_query(t, "INSERT INTO merge_seq_map (job_id, room, source, old_seq, new_seq)"
			      " SELECT $1, room, CASE src WHEN 0 THEN 'A' ELSE 'B' END, old_seq,"
			      " new_seq FROM mg_map",
			   1, pm, &res);
	if (rc == 0)
		PQclear(res);
	return rc;
}

/* Already done (per the target, under the lock)? 1 and stats loaded, 0, or -errno. */
static int
done_in_target(struct merge_ctx *c, struct rc_merge_job *job)
{
	char others[8];

	c->target_done = false;
	target_jobs(c, job, others, sizeof(others));
	return c->target_done ? 1 : 0;
}

/* The target's transaction: 0 merged, 1 already done, -errno (rolled back). */
static int
merge_exec(struct merge_ctx *c, struct rc_merge_job *job, struct rc_merge_stats *st)
{
	struct rc_pgdb *t = &c->db[RC_MERGE_TARGET];
	char err[512] = "", nonempty[8];
	int rc;

	/* no statement timeout (a large merge takes its time), but do not queue for locks */
	rc = rc_pgdb_exec(t, "BEGIN; SET LOCAL statement_timeout = 0;"
			     " SET LOCAL lock_timeout = '10s'; " MERGE_LOCK_SQL);
	if (rc == 0)
		rc = rc_pgdb_exec(t, merge_tables_sql);
	if (rc == 0 && (rc = done_in_target(c, job)) == 1) {
		rc_pgdb_exec(t, "ROLLBACK");
		return 1;
	}
	if (rc == 0)
		rc = rc_pgdb_exec(t, "LOCK TABLE rooms, room_members, messages, drain_alarms,"
				     " drain_state IN EXCLUSIVE MODE");
	if (rc == 0)
		rc = query_text(t, "SELECT EXISTS (SELECT 1 FROM messages) OR EXISTS (SELECT 1"
				   " FROM rooms) OR EXISTS (SELECT 1 FROM room_members)",
				nonempty, sizeof(nonempty));
	if (rc == 0 && strcmp(nonempty, "f") != 0) {
		snprintf(err, sizeof(err), "target: no longer empty (written since validation)");
		rc = -EEXIST;
	}
	if (rc == 0)
		rc = create_stages(t);
	if (rc != 0 && err[0] == '\0')
		oneline(err, sizeof(err), "target: ", t->err);
	for (unsigned d = 0; d < 2 && rc == 0; d++)
		rc = stream_source(c, (enum rc_merge_db)d, st, err, sizeof(err));
	if (rc == 0 && (rc = rc_pgdb_exec(t, merge_sql)) != 0)
		oneline(err, sizeof(err), "target: merging: ", t->err);
	if (rc == 0 && (rc = read_stats(t, st)) == 0 && (rc = record_job(c, job, st)) == 0)
		rc = rc_pgdb_exec(t, "COMMIT");
	if (rc != 0 && err[0] == '\0')
		oneline(err, sizeof(err), "target: ", t->err);
	if (rc != 0) {
		if (rc_pgdb_ok(t))
			rc_pgdb_exec(t, "ROLLBACK");
		snprintf(job->error, sizeof(job->error), "%s", err);
	}
	return rc;
}

int
rc_merge_run(struct rc_merge_job *job, const struct rc_merge_params *p,
	     struct rc_dbcheck_report *r, bool *already_done)
{
	struct merge_ctx c = { 0 };
	struct rc_merge_stats st = { 0 };
	int rc;

	*already_done = false;
	rc_dbcheck_reset(r);
	if (job->state == RC_MERGE_DONE) {
		*already_done = true;
		return 0;
	}
	if (job->state != RC_MERGE_VALIDATED) {
		snprintf(job->error, sizeof(job->error),
			 "job %u has not passed validation: run db merge validate %u first",
			 job->id, job->id);
		return -EINVAL;
	}
	rc = merge_validate(job, p, r, &c);
	if (rc == 0 && job->state == RC_MERGE_DONE) {
		*already_done = true;
	} else if (rc == 0) {
		for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++)
			if (!c.usable[d])
				rc = -EIO;
		if (rc == 0)
			rc = merge_exec(&c, job, &st);
		else
			snprintf(job->error, sizeof(job->error), "a database session could not be "
								 "prepared for the merge");
		*already_done = rc == 1;
		if (rc == 0)
			job->stats = st;
		if (rc >= 0) {
			rc = 0;
			job->state = RC_MERGE_DONE;
			job->error[0] = '\0';
			if (!*already_done)
				job->finished_s = (int64_t)time(NULL);
		} else {
			job->state = RC_MERGE_FAILED;
		}
	}
	ctx_close(&c);
	return rc;
}

size_t
rc_merge_reminder(const struct rc_merge_job *job, const struct rc_merge_params *p, char *buf,
		  size_t cap)
{
	char n0[12], n1[12];
	const char *a = node_name(p, 0, n0, sizeof(n0)), *b = node_name(p, 1, n1, sizeof(n1));

	return (size_t)snprintf(
		buf, cap,
		"merge job %u is done. Now assign the target database (%s) to the group: set it "
		"as db.conninfo on both nodes (%s and %s), then start TC on both: roomcastctl "
		"service start tc --node %s; roomcastctl service start tc --node %s",
		job->id, job->db[RC_MERGE_TARGET], a, b, a, b);
}

/*
 * Rendering.
 */

static const char *const conflict_key[] = {
	"rooms_copied",	   "rooms_renumbered",	  "rooms_in_both", "room_attrs_differ",
	"duplicates_folded", "members_in_both", "member_roles_differ", "seq_map_rows",
};

static uint64_t *
conflict_field(struct rc_merge_stats *st, unsigned i)
{
	uint64_t *const f[] = {
		&st->rooms_copied,	&st->rooms_renumbered, &st->rooms_in_both,
		&st->room_attrs_differ, &st->duplicates_folded, &st->members_in_both,
		&st->member_roles_differ, &st->seq_map_rows,
	};

	return f[i];
}

#define N_CONFLICT_KEYS (sizeof(conflict_key) / sizeof(conflict_key[0]))

static json_t *
stats_to_json(const struct rc_merge_stats *cst)
{
	struct rc_merge_stats st = *cst;
	json_t *tables = json_object(), *conf = json_object();

	for (unsigned t = 0; t < RC_MERGE_T_MAX; t++) {
		json_t *row = json_object();

		for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++)
			json_object_set_new(row, db_key[d], json_integer((json_int_t)st.rows[t][d]));
		json_object_set_new(tables, table_str[t], row);
	}
	for (unsigned i = 0; i < N_CONFLICT_KEYS; i++)
		json_object_set_new(conf, conflict_key[i],
				    json_integer((json_int_t)*conflict_field(&st, i)));
	return json_pack("{s:o,s:o}", "tables", tables, "conflicts", conf);
}

static uint64_t
json_u64(json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (uint64_t)v : 0;
}

static void
stats_from_json(struct rc_merge_stats *st, json_t *o)
{
	json_t *tables = json_object_get(o, "tables"), *conf = json_object_get(o, "conflicts");

	memset(st, 0, sizeof(*st));
	for (unsigned t = 0; t < RC_MERGE_T_MAX; t++)
		for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++)
			st->rows[t][d] = json_u64(json_object_get(tables, table_str[t]), db_key[d]);
	for (unsigned i = 0; i < N_CONFLICT_KEYS; i++)
		*conflict_field(st, i) = json_u64(conf, conflict_key[i]);
}

json_t *
rc_merge_job_to_json(const struct rc_merge_job *job)
{
	json_t *o = stats_to_json(&job->stats);

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "id", json_integer(job->id));
	json_object_set_new(o, "uid", json_string(job->uid));
	json_object_set_new(o, "state", json_string(rc_merge_state_str(job->state)));
	for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++)
		json_object_set_new(o, db_key[d], json_string(job->db[d]));
	json_object_set_new(o, "created_s", json_integer(job->created_s));
	json_object_set_new(o, "validated_s", json_integer(job->validated_s));
	json_object_set_new(o, "finished_s", json_integer(job->finished_s));
	json_object_set_new(o, "error", json_string(job->error));
	return o;
}

static int
job_from_json(struct rc_merge_job *job, json_t *o)
{
	const char *state = json_string_value(json_object_get(o, "state"));
	json_int_t id = json_integer_value(json_object_get(o, "id"));

	memset(job, 0, sizeof(*job));
	if (id <= 0 || state == NULL)
		return -EINVAL;
	job->id = (unsigned)id;
	job->state = RC_MERGE_STATE_MAX;
	for (unsigned s = 0; s < RC_MERGE_STATE_MAX; s++)
		if (strcmp(state, state_str[s]) == 0)
			job->state = (enum rc_merge_state)s;
	if (job->state == RC_MERGE_STATE_MAX)
		return -EINVAL;
	snprintf(job->uid, sizeof(job->uid), "%s",
		 json_string_value(json_object_get(o, "uid")) ?: "");
	for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++)
		snprintf(job->db[d], sizeof(job->db[d]), "%s",
			 json_string_value(json_object_get(o, db_key[d])) ?: "");
	job->created_s = json_integer_value(json_object_get(o, "created_s"));
	job->validated_s = json_integer_value(json_object_get(o, "validated_s"));
	job->finished_s = json_integer_value(json_object_get(o, "finished_s"));
	snprintf(job->error, sizeof(job->error), "%s",
		 json_string_value(json_object_get(o, "error")) ?: "");
	stats_from_json(&job->stats, o);
	return job->uid[0] != '\0' ? 0 : -EINVAL;
}

struct textbuf {
	char *p;
	size_t cap;
	size_t len;
};

static void
tb_printf(struct textbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
tb_printf(struct textbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->len < b->cap ? b->p + b->len : NULL,
		      b->len < b->cap ? b->cap - b->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n;
}

static const char *
when(int64_t s, char *buf, size_t len)
{
	time_t t = (time_t)s;
	struct tm tm;

	if (s <= 0 || localtime_r(&t, &tm) == NULL)
		return "-";
	strftime(buf, len, "%Y-%m-%d %H:%M:%S %Z", &tm);
	return buf;
}

size_t
rc_merge_job_to_text(const struct rc_merge_job *job, char *buf, size_t cap)
{
	const struct rc_merge_stats *st = &job->stats;
	struct textbuf b = { buf, cap, 0 };
	char t0[40], t1[40], t2[40];

	if (cap > 0)
		buf[0] = '\0';
	tb_printf(&b, "merge job %u (%s): %s\n", job->id, job->uid, rc_merge_state_str(job->state));
	for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++)
		tb_printf(&b, "  %-9s %s\n", db_str[d], job->db[d]);
	tb_printf(&b, "  added %s, validated %s, finished %s\n",
		  when(job->created_s, t0, sizeof(t0)), when(job->validated_s, t1, sizeof(t1)),
		  when(job->finished_s, t2, sizeof(t2)));
	tb_printf(&b, "  %-14s %10s %10s %10s\n", "TABLE", "SOURCE A", "SOURCE B", "TARGET");
	for (unsigned t = 0; t < RC_MERGE_T_MAX; t++)
		tb_printf(&b, "  %-14s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 "\n", table_str[t],
			  st->rows[t][0], st->rows[t][1], st->rows[t][2]);
	tb_printf(&b,
		  "  conflicts: %" PRIu64 " room(s) in both (%" PRIu64 " with different "
		  "attributes: the earlier created kept); %" PRIu64 " room(s) renumbered, %" PRIu64
		  " copied as they were; %" PRIu64 " duplicate message(s) folded; %" PRIu64
		  " member(s) in both (%" PRIu64 " with a different role or affiliation: the "
		  "higher kept); %" PRIu64 " row(s) in merge_seq_map\n",
		  st->rooms_in_both, st->room_attrs_differ, st->rooms_renumbered, st->rooms_copied,
		  st->duplicates_folded, st->members_in_both, st->member_roles_differ,
		  st->seq_map_rows);
	if (job->error[0] != '\0')
		tb_printf(&b, "  error: %s\n", job->error);
	return b.len;
}

/*
 * The job store.
 */

struct rc_merge_store {
	char path[512];
	unsigned next_id;
	unsigned n, cap;
	struct rc_merge_job *jobs;
};

static int
store_grow(struct rc_merge_store *s)
{
	unsigned cap = s->cap != 0 ? s->cap * 2 : 8;
	struct rc_merge_job *j;

	if (s->n < s->cap)
		return 0;
	j = realloc(s->jobs, cap * sizeof(*j));
	if (j == NULL)
		return -ENOMEM;
	s->jobs = j;
	s->cap = cap;
	return 0;
}

static int
store_load(struct rc_merge_store *s, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_load_file(s->path, 0, &je), *jobs;
	size_t i;
	json_t *v;

	if (root == NULL) {
		snprintf(err, errlen, "%s: %s (line %d)", s->path, je.text, je.line);
		return -EINVAL;
	}
	jobs = json_object_get(root, "jobs");
	if (!json_is_array(jobs) || json_integer_value(json_object_get(root, "version")) != 1) {
		snprintf(err, errlen, "%s: not a merge job store (version 1)", s->path);
		json_decref(root);
		return -EINVAL;
	}
	s->next_id = (unsigned)json_integer_value(json_object_get(root, "next_id"));
	json_array_foreach(jobs, i, v) {
		if (store_grow(s) != 0) {
			json_decref(root);
			return -ENOMEM;
		}
		if (job_from_json(&s->jobs[s->n], v) != 0) {
			snprintf(err, errlen, "%s: job #%zu is malformed", s->path, i + 1);
			json_decref(root);
			return -EINVAL;
		}
		if (s->jobs[s->n].id >= s->next_id)
			s->next_id = s->jobs[s->n].id + 1;
		s->n++;
	}
	json_decref(root);
	if (s->next_id == 0)
		s->next_id = 1;
	return 0;
}

struct rc_merge_store *
rc_merge_store_open(const char *path, char *err, size_t errlen)
{
	struct rc_merge_store *s;
	char scratch[256];
	int rc;

	if (err == NULL || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	if (path == NULL || strlen(path) + 8 >= sizeof(s->path)) {
		snprintf(err, errlen, "no or too long a path for the merge job store");
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->next_id = 1;
	if (access(path, F_OK) != 0)
		return s;
	rc = store_load(s, err, errlen);
	if (rc != 0) {
		rc_merge_store_close(s);
		errno = -rc;
		return NULL;
	}
	return s;
}

void
rc_merge_store_close(struct rc_merge_store *s)
{
	if (s == NULL)
		return;
	free(s->jobs);
	free(s);
}

/* Writes the whole store: temporary file, fsync, rename. */
static int
store_save(struct rc_merge_store *s)
{
	json_t *root = json_pack("{s:i,s:i,s:[]}", "version", 1, "next_id", (int)s->next_id,
				 "jobs"), *jobs;
	char tmp[600];
	FILE *f;
	int fd, rc = 0;

	if (root == NULL)
		return -ENOMEM;
	jobs = json_object_get(root, "jobs");
	for (unsigned i = 0; i < s->n; i++)
		json_array_append_new(jobs, rc_merge_job_to_json(&s->jobs[i]));
	snprintf(tmp, sizeof(tmp), "%s.tmp", s->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f == NULL) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		json_decref(root);
		return rc;
	}
	if (json_dumpf(root, f, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0)
		rc = errno != 0 ? -errno : -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	json_decref(root);
	if (rc == 0 && rename(tmp, s->path) != 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

static void
new_uid(char *out, size_t len, unsigned id)
{
	uint64_t r;

	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid();
	snprintf(out, len, "job%u-%016" PRIx64, id, r);
}

int
rc_merge_store_add(struct rc_merge_store *s, const char *a, const char *b, const char *t,
		   struct rc_merge_job *job)
{
	const char *dbs[RC_MERGE_DB_MAX] = { a, b, t };
	struct rc_merge_job j = { 0 };
	int rc;

	for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++)
		if (dbs[d] == NULL || dbs[d][0] == '\0' ||
		    rc_merge_redact(dbs[d], j.db[d], sizeof(j.db[d])) >= sizeof(j.db[d]))
			return -EINVAL;
	rc = store_grow(s);
	if (rc != 0)
		return rc;
	j.id = s->next_id;
	new_uid(j.uid, sizeof(j.uid), j.id);
	j.state = RC_MERGE_ADDED;
	j.created_s = (int64_t)time(NULL);
	s->jobs[s->n++] = j;
	s->next_id++;
	rc = store_save(s);
	if (rc != 0) {
		s->n--;
		s->next_id--;
		return rc;
	}
	*job = j;
	return 0;
}

int
rc_merge_store_get(const struct rc_merge_store *s, unsigned id, struct rc_merge_job *job)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->jobs[i].id == id) {
			*job = s->jobs[i];
			return 0;
		}
	return -ENOENT;
}

int
rc_merge_store_put(struct rc_merge_store *s, const struct rc_merge_job *job)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->jobs[i].id == job->id) {
			struct rc_merge_job old = s->jobs[i];
			int rc;

			s->jobs[i] = *job;
			rc = store_save(s);
			if (rc != 0)
				s->jobs[i] = old;
			return rc;
		}
	return -ENOENT;
}

unsigned
rc_merge_store_count(const struct rc_merge_store *s)
{
	return s->n;
}

const struct rc_merge_job *
rc_merge_store_at(const struct rc_merge_store *s, unsigned i)
{
	return i < s->n ? &s->jobs[i] : NULL;
}

json_t *
rc_merge_store_to_json(const struct rc_merge_store *s)
{
	json_t *jobs = json_array();

	for (unsigned i = 0; i < s->n; i++)
		json_array_append_new(jobs, rc_merge_job_to_json(&s->jobs[i]));
	return json_pack("{s:o}", "jobs", jobs);
}

size_t
rc_merge_store_to_text(const struct rc_merge_store *s, char *buf, size_t cap)
{
	struct textbuf b = { buf, cap, 0 };

	if (cap > 0)
		buf[0] = '\0';
	if (s->n == 0) {
		tb_printf(&b, "no merge jobs (db merge add --source A --source B --target T)\n");
		return b.len;
	}
	tb_printf(&b, "%-4s %-10s %s\n", "ID", "STATE", "SOURCE A | SOURCE B -> TARGET");
	for (unsigned i = 0; i < s->n; i++)
		tb_printf(&b, "%-4u %-10s %s | %s -> %s\n", s->jobs[i].id,
			  rc_merge_state_str(s->jobs[i].state), s->jobs[i].db[0], s->jobs[i].db[1],
			  s->jobs[i].db[2]);
	return b.len;
}
