/* SPDX-License-Identifier: MIT */
/*
 * Database merge jobs: the merge itself (one target transaction). The rules are in merge.h;
 * validation is in merge_validate.c; the job's names, its JSON and text forms and the
 * node's job store are in merge_job.c.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "merge.h"
#include "merge_impl.h"

/* "rcmerge!" in ASCII: the advisory lock of merges into one target */
#define MERGE_LOCK_SQL "SELECT pg_advisory_xact_lock(8242552025496642849)"

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

/* Starts the COPY OUT of source d's table s; on failure the target's COPY is ended too. */
static int
copy_out_begin(struct merge_ctx *c, enum rc_merge_db d, const struct stage *s, char *err,
	       size_t len)
{
	struct rc_pgdb *src = &c->db[d];
	char sql[512];
	PGresult *res;
	int rc;

	snprintf(sql, sizeof(sql), "COPY (SELECT %d, %s) TO STDOUT", (int)d, s->source);
	res = PQexec(src->conn, sql);
	if (res == NULL || PQresultStatus(res) != PGRES_COPY_OUT) {
		rc = source_errno(src, res, err, len, rc_merge_db_str(d));
		PQclear(res);
		copy_abort(&c->db[RC_MERGE_TARGET]);
		return rc;
	}
	PQclear(res);
	return 0;
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
	rc = copy_out_begin(c, d, s, err, len);
	if (rc != 0)
		return rc;
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
		rc = source_errno(src, res, err, len, rc_merge_db_str(d));
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
		snprintf(err, len, "%s: %s", rc_merge_db_str(d), src->err);
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

/* merge_jobs, then merge_seq_map (which references it). */
static int
record_job(struct merge_ctx *c, const struct rc_merge_job *job, const struct rc_merge_stats *st)
{
	struct rc_pgdb *t = &c->db[RC_MERGE_TARGET];
	char src[2][RC_MERGE_DB_LEN + 80];
	json_t *o = merge_stats_to_json(st);
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
	merge_target_jobs(c, job, others, sizeof(others));
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
		rc = merge_query_text(t, "SELECT EXISTS (SELECT 1 FROM messages) OR EXISTS (SELECT 1"
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
	merge_ctx_close(&c);
	return rc;
}

size_t
rc_merge_reminder(const struct rc_merge_job *job, const struct rc_merge_params *p, char *buf,
		  size_t cap)
{
	char n0[12], n1[12];
	const char *a = merge_node_name(p, 0, n0, sizeof(n0));
	const char *b = merge_node_name(p, 1, n1, sizeof(n1));

	return (size_t)snprintf(
		buf, cap,
		"merge job %u is done. Now assign the target database (%s) to the group: set it "
		"as db.conninfo on both nodes (%s and %s), then start TC on both: roomcastctl "
		"service start tc --node %s; roomcastctl service start tc --node %s",
		job->id, job->db[RC_MERGE_TARGET], a, b, a, b);
}
