/* SPDX-License-Identifier: MIT */
/*
 * Validation of a database merge job (the rules are in merge.h): TC stopped on both nodes,
 * both sources reachable, readable, at the current schema and fully drained, a third,
 * empty (unless this job is done there) target with its schema created or migrated, the
 * privileges the merge needs and room for the sources' rows. Every check goes into the
 * caller's rc_dbcheck_report; the first failure becomes the job's error.
 *
 * Library code: nothing here logs. Threads: the caller's; every call blocks on the network.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "merge.h"
#include "merge_impl.h"
#include "schema.h"

void
merge_ctx_close(struct merge_ctx *c)
{
	for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++)
		rc_pgdb_close(&c->db[d]);
}

/* One text value of a one-row query into out ("" on failure or NULL). */
int
merge_query_text(struct rc_pgdb *db, const char *sql, char *out, size_t len)
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
	if (merge_query_text(db, "SELECT system_identifier::text || '/' || (SELECT oid FROM"
			     " pg_database WHERE datname = current_database())"
			     " FROM pg_control_system()",
			     out, len) == 0 && out[0] != '\0')
		return;
	merge_query_text(db, "SELECT 'start ' || extract(epoch FROM pg_postmaster_start_time())"
			 " || '/' || oid FROM pg_database WHERE datname = current_database()",
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

const char *
merge_node_name(const struct rc_merge_params *p, unsigned i, char *buf, size_t len)
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
		const char *n = merge_node_name(p, i, num, sizeof(num));

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
	const char *subj = rc_merge_db_str(d);
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

/* Is this job already done in the target? Then its record fills job->stats. Also lists the
 * jobs done there into others. */
void
merge_target_jobs(struct merge_ctx *c, struct rc_merge_job *job, char *others, size_t len)
{
	struct rc_pgdb *db = &c->db[RC_MERGE_TARGET];
	const char *pm[1] = { job->uid };
	char have[8];
	PGresult *res;

	others[0] = '\0';
	if (merge_query_text(db, "SELECT to_regclass('merge_jobs') IS NOT NULL", have,
			     sizeof(have)) ||
	    strcmp(have, "t") != 0)
		return;
	if (rc_pgdb_query(db, "SELECT result::text, extract(epoch FROM finished_at)::bigint FROM"
			      " merge_jobs WHERE job_id = $1 AND state = 'done'",
			  1, pm, &res) == 0) {
		if (PQntuples(res) == 1) {
			json_t *o = json_loads(PQgetvalue(res, 0, 0), 0, NULL);

			c->target_done = true;
			merge_stats_from_json(&job->stats, o);
			json_decref(o);
			job->finished_s = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		}
		PQclear(res);
	}
	merge_query_text(db, "SELECT string_agg(job_id, ', ' ORDER BY finished_at) FROM"
			 " merge_jobs WHERE state = 'done'",
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

	merge_target_jobs(c, job, others, sizeof(others));
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
int
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

	merge_ctx_close(&c);
	return rc;
}
