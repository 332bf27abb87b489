/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of storage/merge.c against a real PostgreSQL (tests/unit/pg_fixture.h): two
 * source databases built with the product's schema and SQL rows (rooms only in A, only in
 * B, in both with interleaved timestamps, a duplicate drained to both, same-timestamp
 * ties, members with different roles, an alarm, drain markers) merged into a third; the
 * target checked row by row (messages with their exact renumbering, rooms, members, the
 * seq mapping, alarms, drain state, counts); a second run changes nothing (checksum of all
 * tables); refusals: TC running, run before validation, unreachable source, wrong password
 * (a second server of the test's own with scram-sha-256), not a roomcast database, newer
 * schema, undrained source, the same database twice, target = source, target not empty,
 * target role without CREATE; a failing run leaves the target untouched; the job store.
 *
 *   merge_test [PATH/TO/pg-fixture.sh]
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "merge.h"
#include "pg_fixture.h"
#include "schema.h"

/* ---- a password server (scram-sha-256) for the wrong-password refusal: pg_fixture.h's
 * second server ---- */

static int
pw_start(void)
{
	char ci[256];

	if (pgfx_second_start("/tmp/rc-pgmw-XXXXXX") != 0 ||
	    pgfx_exec(pgfx_second.ci, "CREATE ROLE rc_pw LOGIN PASSWORD 'right'") != 0 ||
	    pgfx_exec(pgfx_second.ci, "CREATE DATABASE rc_pwdb OWNER rc_pw") != 0 ||
	    pgfx_second_hba("local all postgres trust\n"
			    "host all all 127.0.0.1/32 scram-sha-256\n") != 0)
		return -1;
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%s user=rc_pw dbname=rc_pwdb",
		 pgfx_second.port);
	return pgfx_wait_refusal(ci, "no password supplied");
}

/* ---- the two sources ---- */

static const char *const source_a_sql =
	"INSERT INTO rooms (name, room_id, hosting_node, subject, creator, next_seq, created_at)"
	" VALUES ('lobby', 1, '1A', 'Lobby A', 'al', 7, '2024-01-01 00:00:00+00'),"
	" ('only-a', 2, '1A', 'A only', 'al', 4, '2024-01-02 00:00:00+00'),"
	" ('quiet', 3, '1A', 'Quiet', 'dee', 1, '2024-01-04 00:00:00+00');"
	"INSERT INTO room_members (room, user_name, role, affiliation) VALUES"
	" ('lobby', 'al', 'participant', 'member'), ('lobby', 'cy', 'moderator', 'admin'),"
	" ('only-a', 'al', 'moderator', 'owner'), ('quiet', 'dee', 'visitor', 'none');"
	"INSERT INTO messages (room, seq, sender, ts_ms, body, cmid, epoch, node) VALUES"
	" ('lobby', 1, 'al', 1000, 'hello', 11, 1, '1A'),"
	" ('lobby', 2, 'al', 3000, E'tab\\there', 12, 1, '1A'),"
	" ('lobby', 3, 'cy', 5000, E'new\\nline \\\\ back', 13, 1, '1A'),"
	" ('lobby', 4, 'al', 7000, 'ünïcödé ✓', -5, 1, '1A'),"
	" ('lobby', 5, 'al', 8000, 'dup', 15, 1, '1A'),"
	" ('lobby', 6, 'al', 9000, 'edit-a', 16, 1, '1A'),"
	" ('only-a', 1, 'al', 100, 'a1', 31, 1, '1A'),"
	" ('only-a', 2, 'al', 200, 'a2', 32, 1, '1A'),"
	" ('only-a', 3, 'al', 300, 'a3', 33, 1, '1A');"
	"INSERT INTO drain_alarms (room, seq, stored_cmid, stored_sender, new_cmid, new_sender,"
	" new_ts_ms, new_body, node, lsn) VALUES"
	" ('lobby', 2, 12, 'al', 99, 'zed', 3001, 'conflict', '1A', 5);"
	"INSERT INTO drain_state (node, drained_lsn) VALUES ('1A', 100), ('shared', 10)";

static const char *const source_b_sql =
	"INSERT INTO rooms (name, room_id, hosting_node, subject, creator, members_only,"
	" next_seq, created_at) VALUES"
	" ('lobby', 7, '1B', 'Lobby B', 'bo', true, 6, '2024-01-01 00:00:05+00'),"
	" ('only-b', 8, '1B', 'B only', 'bo', false, 3, '2024-01-03 00:00:00+00'),"
	" ('quiet', 9, '1B', 'Quiet', 'dee', false, 3, '2023-12-31 00:00:00+00');"
	"INSERT INTO room_members (room, user_name, role, affiliation) VALUES"
	" ('lobby', 'al', 'moderator', 'owner'), ('lobby', 'bo', 'participant', 'member'),"
	" ('lobby', 'cy', 'participant', 'outcast'), ('only-b', 'bo', 'moderator', 'owner');"
	"INSERT INTO messages (room, seq, sender, ts_ms, body, cmid, epoch, node) VALUES"
	" ('lobby', 1, 'bo', 2000, 'hi from B', 21, 2, '1B'),"
	" ('lobby', 2, 'bo', 3000, 'same ts', 22, 2, '1B'),"
	" ('lobby', 3, 'bo', 6000, 'six', 23, 2, '1B'),"
	" ('lobby', 4, 'al', 8000, 'dup', 15, 2, '1B'),"
	" ('lobby', 5, 'al', 9000, 'edit-b', 16, 2, '1B'),"
	" ('only-b', 1, 'bo', 400, 'b1', 41, 2, '1B'),"
	" ('only-b', 2, 'bo', 500, 'b2', 42, 2, '1B'),"
	" ('quiet', 1, 'dee', 50, 'q1', 51, 2, '1B'),"
	" ('quiet', 2, 'dee', 60, 'q2', 52, 2, '1B');"
	"INSERT INTO drain_state (node, drained_lsn) VALUES ('1B', 200), ('shared', 20)";

struct want_msg {
	const char *room;
	long long seq;
	const char *sender;
	long long ts;
	const char *body;
	long long cmid;
	const char *node;
};

/* The target, row by row: lobby interleaved by (ts_ms, source, seq), the duplicate once,
 * the other rooms as they were. */
static const struct want_msg want_msgs[] = {
	{ "lobby", 1, "al", 1000, "hello", 11, "1A" },
	{ "lobby", 2, "bo", 2000, "hi from B", 21, "1B" },
	{ "lobby", 3, "al", 3000, "tab\there", 12, "1A" },
	{ "lobby", 4, "bo", 3000, "same ts", 22, "1B" },
	{ "lobby", 5, "cy", 5000, "new\nline \\ back", 13, "1A" },
	{ "lobby", 6, "bo", 6000, "six", 23, "1B" },
	{ "lobby", 7, "al", 7000, "ünïcödé ✓", -5, "1A" },
	{ "lobby", 8, "al", 8000, "dup", 15, "1A" },
	{ "lobby", 9, "al", 9000, "edit-a", 16, "1A" },
	{ "lobby", 10, "al", 9000, "edit-b", 16, "1B" },
	{ "only-a", 1, "al", 100, "a1", 31, "1A" },
	{ "only-a", 2, "al", 200, "a2", 32, "1A" },
	{ "only-a", 3, "al", 300, "a3", 33, "1A" },
	{ "only-b", 1, "bo", 400, "b1", 41, "1B" },
	{ "only-b", 2, "bo", 500, "b2", 42, "1B" },
	{ "quiet", 1, "dee", 50, "q1", 51, "1B" },
	{ "quiet", 2, "dee", 60, "q2", 52, "1B" },
};

/* merge_seq_map: (room, source, old_seq, new_seq) */
static const char *const want_map[] = {
	"lobby A 1 1", "lobby A 2 3", "lobby A 3 5", "lobby A 4 7", "lobby A 5 8", "lobby A 6 9",
	"lobby B 1 2", "lobby B 2 4", "lobby B 3 6", "lobby B 4 8", "lobby B 5 10",
};

/* rooms: name room_id hosting_node subject creator members_only next_seq created_at */
static const char *const want_rooms[] = {
	"lobby 1 1A Lobby A al t 11 2024-01-01 00:00:00+00",
	"only-a 2 1A A only al f 4 2024-01-02 00:00:00+00",
	"only-b 8 1B B only bo f 3 2024-01-03 00:00:00+00",
	"quiet 9 1B Quiet dee f 3 2023-12-31 00:00:00+00",
};

static const char *const want_members[] = {
	"lobby al moderator owner",  "lobby bo participant member", "lobby cy moderator admin",
	"only-a al moderator owner", "only-b bo moderator owner",   "quiet dee visitor none",
};

/* ---- helpers ---- */

struct dbs {
	char a[720], b[720], t[720];
};

static struct rc_dbcheck_report rep;

static void
migrate(const char *ci)
{
	struct rc_pgdb db = { 0 };
	char err[256];

	assert_int_equal(rc_pgdb_connect(&db, ci, "merge_test"), 0);
	if (rc_schema_migrate(&db, NULL, err, sizeof(err)) != 0)
		fail_msg("migrate: %s", err);
	rc_pgdb_close(&db);
}

static void
make_dbs(struct dbs *d)
{
	assert_int_equal(pgfx_newdb(d->a, sizeof(d->a)), 0);
	assert_int_equal(pgfx_newdb(d->b, sizeof(d->b)), 0);
	assert_int_equal(pgfx_newdb(d->t, sizeof(d->t)), 0);
	migrate(d->a);
	migrate(d->b);
	assert_int_equal(pgfx_exec(d->a, source_a_sql), 0);
	assert_int_equal(pgfx_exec(d->b, source_b_sql), 0);
}

static struct rc_merge_params
params(const struct dbs *d, bool stopped_a, bool stopped_b)
{
	return (struct rc_merge_params){
		.conninfo = { d->a, d->b, d->t },
		.node = { "1A", "1B" },
		.tc_stopped = { stopped_a, stopped_b },
	};
}

static struct rc_merge_job
new_job(unsigned id, const struct dbs *d)
{
	struct rc_merge_job j = { .id = id, .state = RC_MERGE_ADDED };

	snprintf(j.uid, sizeof(j.uid), "test%u-%d", id, (int)getpid());
	rc_merge_redact(d->a, j.db[0], sizeof(j.db[0]));
	rc_merge_redact(d->b, j.db[1], sizeof(j.db[1]));
	rc_merge_redact(d->t, j.db[2], sizeof(j.db[2]));
	return j;
}

static void
print_report(void)
{
	char buf[32768];

	rc_dbcheck_to_text(&rep, buf, sizeof(buf));
	fputs(buf, stderr);
}

static const struct rc_dbcheck_item *
item(const char *subject, const char *name)
{
	for (unsigned i = 0; i < rep.n; i++)
		if (strcmp(rep.items[i].subject, subject) == 0 &&
		    strcmp(rep.items[i].name, name) == 0)
			return &rep.items[i];
	print_report();
	fail_msg("no check %s %s", subject, name);
	return NULL;
}

static void
expect_fail(const char *subject, const char *name, const char *text)
{
	const struct rc_dbcheck_item *it = item(subject, name);

	if (it->result != RC_DBCHECK_FAIL || (strstr(it->detail, text) == NULL &&
					      strstr(it->fix, text) == NULL)) {
		print_report();
		fail_msg("%s %s: expected a FAIL saying \"%s\"", subject, name, text);
	}
}

static void
validate_ok(struct rc_merge_job *j, const struct rc_merge_params *p)
{
	int rc = rc_merge_validate(j, p, &rep);

	if (rc != 0) {
		print_report();
		fail_msg("validate: %d (%s)", rc, j->error);
	}
	assert_int_equal(rep.failed, 0);
}

static PGresult *
query(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	return r;
}

/* Rows of sql, each row's columns joined with spaces, compared with want. */
static void
expect_rows(PGconn *c, const char *sql, const char *const *want, int n)
{
	PGresult *r = query(c, sql);
	char line[512];

	assert_int_equal(PQntuples(r), n);
	for (int i = 0; i < n; i++) {
		size_t len = 0;

		line[0] = '\0';
		for (int k = 0; k < PQnfields(r); k++)
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s",
						k > 0 ? " " : "", PQgetvalue(r, i, k));
		if (strcmp(line, want[i]) != 0)
			fail_msg("%s, row %d: \"%s\", expected \"%s\"", sql, i, line, want[i]);
	}
	PQclear(r);
}

/* A checksum of every table of the target. */
static void
checksum(const char *ci, char *out, size_t len)
{
	PGconn *c = PQconnectdb(ci);
	PGresult *r = query(
		c, "SELECT md5(string_agg(t, '|' ORDER BY t)) FROM ("
		   " SELECT 'r' || x::text AS t FROM rooms x UNION ALL"
		   " SELECT 'u' || x::text FROM room_members x UNION ALL"
		   " SELECT 'm' || x::text FROM messages x UNION ALL"
		   " SELECT 'a' || x::text FROM drain_alarms x UNION ALL"
		   " SELECT 'd' || x::text FROM drain_state x UNION ALL"
		   " SELECT 'j' || x::text FROM merge_jobs x UNION ALL"
		   " SELECT 's' || x::text FROM merge_seq_map x UNION ALL"
		   " SELECT 'v' || x::text FROM roomcast_schema x) y");

	snprintf(out, len, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
}

static void
check_target(const char *ci, const struct rc_merge_job *j)
{
	const size_t n = sizeof(want_msgs) / sizeof(want_msgs[0]);
	PGconn *c = PQconnectdb(ci);
	char sql[256];
	PGresult *r;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	r = query(c, "SELECT room, seq, sender, ts_ms, body, cmid, node FROM messages"
		     " ORDER BY room COLLATE \"C\", seq");
	assert_int_equal(PQntuples(r), (int)n);
	for (size_t i = 0; i < n; i++) {
		const struct want_msg *w = &want_msgs[i];
		const int k = (int)i;

		assert_string_equal(PQgetvalue(r, k, 0), w->room);
		assert_int_equal(strtoll(PQgetvalue(r, k, 1), NULL, 10), w->seq);
		assert_string_equal(PQgetvalue(r, k, 2), w->sender);
		assert_int_equal(strtoll(PQgetvalue(r, k, 3), NULL, 10), w->ts);
		assert_string_equal(PQgetvalue(r, k, 4), w->body);
		assert_int_equal(strtoll(PQgetvalue(r, k, 5), NULL, 10), w->cmid);
		assert_string_equal(PQgetvalue(r, k, 6), w->node);
	}
	PQclear(r);
	snprintf(sql, sizeof(sql), "SELECT room, source, old_seq, new_seq FROM merge_seq_map"
				   " WHERE job_id = '%s' ORDER BY room, source, old_seq", j->uid);
	expect_rows(c, sql, want_map, sizeof(want_map) / sizeof(want_map[0]));
	expect_rows(c, "SET timezone = 'UTC'; SELECT name, room_id, hosting_node, subject,"
		       " creator, members_only, next_seq, created_at FROM rooms"
		       " ORDER BY name COLLATE \"C\"",
		    want_rooms, 4);
	expect_rows(c, "SELECT room, user_name, role, affiliation FROM room_members"
		       " ORDER BY room COLLATE \"C\", user_name",
		    want_members, 6);
	{
		static const char *const alarms[] = { "lobby 3 12 al 99 zed conflict 1A" };
		static const char *const drain[] = { "1A 100", "1B 200", "shared 20" };
		static const char *const types[] = { "persistent 4" };

		expect_rows(c, "SELECT room, seq, stored_cmid, stored_sender, new_cmid, new_sender,"
			       " new_body, node FROM drain_alarms", alarms, 1);
		expect_rows(c, "SELECT node, drained_lsn FROM drain_state ORDER BY node", drain, 3);
		expect_rows(c, "SELECT type, count(*) FROM rooms GROUP BY type", types, 1);
	}
	snprintf(sql, sizeof(sql), "SELECT state FROM merge_jobs WHERE job_id = '%s'", j->uid);
	r = query(c, sql);
	assert_int_equal(PQntuples(r), 1);
	assert_string_equal(PQgetvalue(r, 0, 0), "done");
	PQclear(r);
	PQfinish(c);
}

static void
check_stats(const struct rc_merge_stats *st)
{
	static const uint64_t rows[RC_MERGE_T_MAX][RC_MERGE_DB_MAX] = {
		[RC_MERGE_T_ROOMS] = { 3, 3, 4 },     [RC_MERGE_T_MEMBERS] = { 4, 4, 6 },
		[RC_MERGE_T_MESSAGES] = { 9, 9, 17 }, [RC_MERGE_T_ALARMS] = { 1, 0, 1 },
		[RC_MERGE_T_DRAIN_STATE] = { 2, 2, 3 },
	};

	for (unsigned t = 0; t < RC_MERGE_T_MAX; t++)
		for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++)
			if (st->rows[t][d] != rows[t][d])
				fail_msg("%s %s: %" PRIu64 ", expected %" PRIu64,
					 rc_merge_table_str(t), rc_merge_db_str(d), st->rows[t][d],
					 rows[t][d]);
	assert_int_equal(st->rooms_copied, 3);
	assert_int_equal(st->rooms_renumbered, 1);
	assert_int_equal(st->rooms_in_both, 2);
	assert_int_equal(st->room_attrs_differ, 2);
	assert_int_equal(st->duplicates_folded, 1);
	assert_int_equal(st->members_in_both, 2);
	assert_int_equal(st->member_roles_differ, 2);
	assert_int_equal(st->seq_map_rows, 11);
}

/* ---- tests ---- */

static void
test_strings(void **state)
{
	(void)state;
	for (unsigned i = 0; i < RC_MERGE_STATE_MAX; i++)
		assert_string_not_equal(rc_merge_state_str(i), "?");
	for (unsigned i = 0; i < RC_MERGE_T_MAX; i++)
		assert_string_not_equal(rc_merge_table_str(i), "?");
	for (unsigned i = 0; i < RC_MERGE_DB_MAX; i++)
		assert_string_not_equal(rc_merge_db_str(i), "?");
	assert_string_equal(rc_merge_state_str(RC_MERGE_STATE_MAX), "?");
}

static void
test_redact(void **state)
{
	char out[256];

	(void)state;
	rc_merge_redact("host=db1 port=5433 user=rc password=s3cret dbname=chat", out, sizeof(out));
	assert_string_equal(out, "host=db1 port=5433 dbname=chat user=rc");
	rc_merge_redact("postgresql://rc:s3cret@db1:5433/chat?sslmode=require", out, sizeof(out));
	assert_null(strstr(out, "s3cret"));
	assert_non_null(strstr(out, "user=rc"));
	assert_non_null(strstr(out, "sslmode=require"));
	rc_merge_redact("host=db1 application_name='a b' password='x y'", out, sizeof(out));
	assert_string_equal(out, "host=db1 application_name='a b'");
	rc_merge_redact("node1-db", out, sizeof(out));
	assert_string_equal(out, "node1-db");
	rc_merge_redact("host=db1 password", out, sizeof(out));
	assert_string_equal(out, "(unparsable connection string)");
	assert_int_equal(rc_merge_redact("host=db1 dbname=chat", out, 5), 20);
	assert_string_equal(out, "host");
}

/* The whole story: refused while TC runs, validated, run, checked row by row, run again. */
static void
test_merge(void **state)
{
	struct dbs d;
	struct rc_merge_job j, j2;
	struct rc_merge_params p;
	char sum1[64], sum2[64], text[4096];
	bool already = true;
	size_t need;
	int rc;

	(void)state;
	make_dbs(&d);
	j = new_job(1, &d);
	/* TC still running on 1B */
	p = params(&d, true, false);
	assert_int_equal(rc_merge_validate(&j, &p, &rep), -EBUSY);
	expect_fail("node 1B", "tc_stopped",
		    "the TC service is running on node 1B: stop it on both nodes of the group "
		    "(roomcastctl service stop tc --node 1B)");
	assert_int_equal(item("node 1A", "tc_stopped")->result, RC_DBCHECK_PASS);
	assert_int_equal(item("target", "schema")->result, RC_DBCHECK_SKIP);
	assert_int_equal(j.state, RC_MERGE_INVALID);
	assert_non_null(strstr(j.error, "TC service is running on node 1B"));
	assert_int_equal(pgfx_num(d.t, "SELECT count(*) FROM pg_tables WHERE tablename = 'rooms'"),
			 0);
	/* run before a clean validation */
	assert_int_equal(rc_merge_run(&j, &p, &rep, &already), -EINVAL);
	assert_false(already);
	assert_non_null(strstr(j.error, "run db merge validate 1 first"));
	/* both stopped: valid; the target's schema is created */
	p = params(&d, true, true);
	validate_ok(&j, &p);
	assert_int_equal(j.state, RC_MERGE_VALIDATED);
	assert_string_equal(j.error, "");
	assert_non_null(strstr(item("target", "schema")->detail, "schema created"));
	assert_int_equal(item("", "distinct")->result, RC_DBCHECK_PASS);
	/* TC started again between validate and run: refused */
	p = params(&d, false, true);
	assert_int_equal(rc_merge_run(&j, &p, &rep, &already), -EBUSY);
	assert_int_equal(j.state, RC_MERGE_INVALID);
	p = params(&d, true, true);
	validate_ok(&j, &p);
	/* run */
	rc = rc_merge_run(&j, &p, &rep, &already);
	if (rc != 0)
		fail_msg("run: %d: %s", rc, j.error);
	assert_false(already);
	assert_int_equal(j.state, RC_MERGE_DONE);
	assert_true(j.finished_s > 0);
	check_stats(&j.stats);
	check_target(d.t, &j);
	/* the sources are untouched */
	assert_int_equal(pgfx_num(d.a, "SELECT count(*) FROM messages"), 9);
	assert_int_equal(pgfx_num(d.b, "SELECT count(*) FROM messages WHERE room = 'lobby'"), 5);
	/* again: nothing changes */
	checksum(d.t, sum1, sizeof(sum1));
	assert_int_equal(rc_merge_run(&j, &p, &rep, &already), 0);
	assert_true(already);
	checksum(d.t, sum2, sizeof(sum2));
	assert_string_equal(sum1, sum2);
	/* the same job from a node whose store lost it: the target knows it is done */
	j2 = j;
	j2.state = RC_MERGE_VALIDATED;
	memset(&j2.stats, 0, sizeof(j2.stats));
	assert_int_equal(rc_merge_run(&j2, &p, &rep, &already), 0);
	assert_true(already);
	assert_int_equal(j2.state, RC_MERGE_DONE);
	check_stats(&j2.stats);
	checksum(d.t, sum2, sizeof(sum2));
	assert_string_equal(sum1, sum2);
	/* ... and validating it says so */
	validate_ok(&j2, &p);
	assert_non_null(strstr(item("target", "empty")->detail, "already done"));
	/* another job into the same target is refused */
	j2 = new_job(2, &d);
	assert_int_equal(rc_merge_validate(&j2, &p, &rep), -EEXIST);
	expect_fail("target", "empty", "written by merge job(s)");
	expect_fail("target", "empty", j.uid);
	checksum(d.t, sum2, sizeof(sum2));
	assert_string_equal(sum1, sum2);
	/* the operator's texts */
	rc_merge_reminder(&j, &p, text, sizeof(text));
	assert_non_null(strstr(text, "assign the target database"));
	assert_non_null(strstr(text, "roomcastctl service start tc --node 1A"));
	assert_non_null(strstr(text, "roomcastctl service start tc --node 1B"));
	need = rc_merge_job_to_text(&j, text, sizeof(text));
	assert_int_equal(need, strlen(text));
	assert_non_null(strstr(text, ": done\n"));
	assert_non_null(strstr(text, "  messages                9          9         17\n"));
	assert_non_null(strstr(text, "1 duplicate message(s) folded"));
	{
		json_t *o = rc_merge_job_to_json(&j);
		json_t *m = json_object_get(json_object_get(o, "tables"), "messages");

		assert_string_equal(json_string_value(json_object_get(o, "state")), "done");
		assert_int_equal(json_integer_value(json_object_get(m, "target")), 17);
		assert_int_equal(json_integer_value(json_object_get(
					 json_object_get(o, "conflicts"), "duplicates_folded")),
				 1);
		json_decref(o);
	}
}

/* A run that fails half-way leaves the target as it was; validated again, it succeeds. */
static void
test_failed_run_rolls_back(void **state)
{
	struct dbs d;
	struct rc_merge_job j;
	struct rc_merge_params p;
	bool already;

	(void)state;
	make_dbs(&d);
	j = new_job(1, &d);
	p = params(&d, true, true);
	validate_ok(&j, &p);
	assert_int_equal(pgfx_exec(d.t, "CREATE FUNCTION no_six() RETURNS trigger LANGUAGE plpgsql"
					" AS $$ BEGIN IF NEW.body = 'six' THEN RAISE EXCEPTION"
					" 'injected failure'; END IF; RETURN NEW; END $$;"
					"CREATE TRIGGER no_six BEFORE INSERT ON messages FOR EACH ROW"
					" EXECUTE FUNCTION no_six()"), 0);
	assert_int_equal(rc_merge_run(&j, &p, &rep, &already), -EIO);
	assert_int_equal(j.state, RC_MERGE_FAILED);
	assert_non_null(strstr(j.error, "injected failure"));
	assert_int_equal(pgfx_num(d.t, "SELECT (SELECT count(*) FROM rooms) + (SELECT count(*)"
				       " FROM messages) + (SELECT count(*) FROM room_members)"
				       " + (SELECT count(*) FROM drain_state)"), 0);
	assert_int_equal(pgfx_num(d.t, "SELECT count(*) FROM pg_tables WHERE tablename LIKE"
				       " 'merge%'"), 0);
	/* a failed job must be validated again */
	assert_int_equal(pgfx_exec(d.t, "DROP TRIGGER no_six ON messages"), 0);
	assert_int_equal(rc_merge_run(&j, &p, &rep, &already), -EINVAL);
	validate_ok(&j, &p);
	assert_int_equal(rc_merge_run(&j, &p, &rep, &already), 0);
	check_stats(&j.stats);
	check_target(d.t, &j);
}

static void
test_unreachable_source(void **state)
{
	struct dbs d;
	struct rc_merge_job j;
	struct rc_merge_params p;
	bool already;

	(void)state;
	make_dbs(&d);
	snprintf(d.a, sizeof(d.a), "host=127.0.0.1 port=1 user=postgres dbname=gone");
	j = new_job(1, &d);
	p = params(&d, true, true);
	assert_int_equal(rc_merge_validate(&j, &p, &rep), -ECONNREFUSED);
	expect_fail("source A", "connect", "refused");
	expect_fail("source A", "connect", "listen_addresses");
	assert_int_equal(item("source B", "connect")->result, RC_DBCHECK_PASS);
	assert_int_equal(item("", "distinct")->result, RC_DBCHECK_SKIP);
	assert_int_equal(j.state, RC_MERGE_INVALID);
	assert_non_null(strstr(j.error, "source A connect: "));
	assert_int_equal(rc_merge_run(&j, &p, &rep, &already), -EINVAL);
}

static void
test_wrong_password(void **state)
{
	struct dbs d;
	struct rc_merge_job j;
	struct rc_merge_params p;

	(void)state;
	make_dbs(&d);
	snprintf(d.t, sizeof(d.t), "host=127.0.0.1 port=%s user=rc_pw password=wrong dbname=rc_pwdb",
		 pgfx_second.port);
	j = new_job(1, &d);
	assert_null(strstr(j.db[RC_MERGE_TARGET], "wrong"));
	p = params(&d, true, true);
	assert_int_equal(rc_merge_validate(&j, &p, &rep), -EACCES);
	expect_fail("target", "connect", "password authentication failed");
	expect_fail("target", "connect", "check the user and password file");
	assert_null(strstr(j.error, "password=wrong"));
	/* the right password: the target (owned by rc_pw) is fine */
	snprintf(d.t, sizeof(d.t), "host=127.0.0.1 port=%s user=rc_pw password=right dbname=rc_pwdb",
		 pgfx_second.port);
	p = params(&d, true, true);
	validate_ok(&j, &p);
}

/* Sources that are not what a merge can use, and targets that are not empty or usable. */
static void
test_refusals(void **state)
{
	struct dbs d, e;
	struct rc_merge_job j;
	struct rc_merge_params p;
	(void)state;
	make_dbs(&d);
	/* not a roomcast database */
	e = d;
	assert_int_equal(pgfx_newdb(e.b, sizeof(e.b)), 0);
	j = new_job(1, &e);
	p = params(&e, true, true);
	assert_int_equal(rc_merge_validate(&j, &p, &rep), -EINVAL);
	expect_fail("source B", "schema", "not a roomcast database");
	/* newer schema */
	migrate(e.b);
	assert_int_equal(pgfx_exec(e.b, "INSERT INTO roomcast_schema VALUES (42)"), 0);
	assert_int_equal(rc_merge_validate(&j, &p, &rep), -EPROTO);
	expect_fail("source B", "schema", "newer than this roomcastd");
	/* the same database twice */
	e = d;
	snprintf(e.b, sizeof(e.b), "%s", d.a);
	j = new_job(1, &e);
	p = params(&e, true, true);
	assert_int_equal(rc_merge_validate(&j, &p, &rep), -EINVAL);
	expect_fail("", "distinct", "source A and source B are the same database");
	/* target = source B */
	e = d;
	snprintf(e.t, sizeof(e.t), "%s", d.b);
	j = new_job(1, &e);
	p = params(&e, true, true);
	assert_int_equal(rc_merge_validate(&j, &p, &rep), -EEXIST);
	expect_fail("target", "empty", "the target holds 3 room(s)");
	expect_fail("", "distinct", "the target is source B's database");
	/* an undrained source */
	assert_int_equal(pgfx_exec(d.a, "UPDATE rooms SET next_seq = 12 WHERE name = 'lobby'"), 0);
	j = new_job(1, &d);
	p = params(&d, true, true);
	assert_int_equal(rc_merge_validate(&j, &p, &rep), -EINVAL);
	expect_fail("source A", "drained", "room lobby: next_seq 12, last stored 6");
	assert_int_equal(pgfx_exec(d.a, "UPDATE rooms SET next_seq = 7 WHERE name = 'lobby'"), 0);
	/* a target that is not empty */
	migrate(d.t);
	assert_int_equal(pgfx_exec(d.t, "INSERT INTO rooms (name) VALUES ('x')"), 0);
	assert_int_equal(rc_merge_validate(&j, &p, &rep), -EEXIST);
	expect_fail("target", "empty", "the target holds 1 room(s), 0 member(s), 0 message(s)");
	/* a target role without CREATE */
	assert_int_equal(pgfx_newdb(e.t, sizeof(e.t)), 0);
	assert_int_equal(pgfx_exec(pgfx.conninfo, "DROP ROLE IF EXISTS rc_mnocreate;"
						  "CREATE ROLE rc_mnocreate LOGIN"), 0);
	strcat(e.t, " user=rc_mnocreate");
	snprintf(e.a, sizeof(e.a), "%s", d.a);
	snprintf(e.b, sizeof(e.b), "%s", d.b);
	j = new_job(1, &e);
	p = params(&e, true, true);
	assert_int_equal(rc_merge_validate(&j, &p, &rep), -EACCES);
	expect_fail("target", "schema", "permission denied");
	expect_fail("target", "privileges", "GRANT CREATE ON SCHEMA public TO rc_mnocreate;");
	/* a size limit the merge would exceed */
	p = params(&d, true, true);
	assert_int_equal(pgfx_exec(d.t, "DELETE FROM rooms"), 0);
	p.target_limit_bytes = 1024 * 1024;
	assert_int_equal(rc_merge_validate(&j, &p, &rep), -ENOSPC);
	expect_fail("target", "room", "over the limit");
}

static void
test_store(void **state)
{
	char dir[] = "/tmp/rc-mstore-XXXXXX", path[128], err[256], text[2048];
	struct rc_merge_store *s;
	struct rc_merge_job j, k;
	struct stat stt;
	json_t *o;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/merge-jobs.json", dir);
	s = rc_merge_store_open(path, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(rc_merge_store_count(s), 0);
	rc_merge_store_to_text(s, text, sizeof(text));
	assert_non_null(strstr(text, "no merge jobs"));
	assert_int_equal(rc_merge_store_add(s, "host=a password=pa dbname=x", "node-b-db",
					    "postgresql://u:pt@t/tgt", &j), 0);
	assert_int_equal(j.id, 1);
	assert_int_equal(j.state, RC_MERGE_ADDED);
	assert_string_equal(j.db[0], "host=a dbname=x");
	assert_string_equal(j.db[1], "node-b-db");
	assert_null(strstr(j.db[2], "pt"));
	assert_int_equal(rc_merge_store_add(s, "a", "b", "", &k), -EINVAL);
	assert_int_equal(rc_merge_store_add(s, "a", "b", "c", &k), 0);
	assert_int_equal(k.id, 2);
	assert_string_not_equal(j.uid, k.uid);
	j.state = RC_MERGE_DONE;
	j.stats.rows[RC_MERGE_T_MESSAGES][RC_MERGE_TARGET] = 17;
	j.stats.duplicates_folded = 1;
	snprintf(j.error, sizeof(j.error), "none");
	assert_int_equal(rc_merge_store_put(s, &j), 0);
	k.id = 99;
	assert_int_equal(rc_merge_store_put(s, &k), -ENOENT);
	rc_merge_store_close(s);
	assert_int_equal(stat(path, &stt), 0);
	assert_int_equal(stt.st_mode & 0777, 0600);
	/* reopened: the same jobs; ids continue */
	s = rc_merge_store_open(path, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(rc_merge_store_count(s), 2);
	assert_int_equal(rc_merge_store_get(s, 1, &k), 0);
	assert_int_equal(memcmp(&k, &j, sizeof(j)), 0);
	assert_int_equal(rc_merge_store_get(s, 3, &k), -ENOENT);
	assert_int_equal(rc_merge_store_add(s, "a", "b", "c", &k), 0);
	assert_int_equal(k.id, 3);
	rc_merge_store_to_text(s, text, sizeof(text));
	assert_non_null(strstr(text, "1    done       host=a dbname=x | node-b-db -> "));
	assert_non_null(strstr(text, "3    added      a | b -> c\n"));
	o = rc_merge_store_to_json(s);
	assert_int_equal(json_array_size(json_object_get(o, "jobs")), 3);
	json_decref(o);
	rc_merge_store_close(s);
	/* nothing else in the file holds a password */
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(text, sizeof(text), f) != NULL)
		assert_null(strstr(text, "pa "));
	fclose(f);
	/* a damaged file is refused with a reason */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"version\": 1, \"jobs\": [{\"id\": 1}]}", f);
	fclose(f);
	assert_null(rc_merge_store_open(path, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "malformed"));
	f = fopen(path, "w");
	fputs("not json", f);
	fclose(f);
	assert_null(rc_merge_store_open(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	unlink(path);
	rmdir(dir);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_redact),
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_failed_run_rolls_back),
		cmocka_unit_test(test_unreachable_source),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_refusals),
	};

	setenv("PGPASSFILE", "/nonexistent", 1);
	if (pgfx_init(argc > 1 ? argv[1] : NULL) != 0) {
		fprintf(stderr, "merge_test: no PostgreSQL\n");
		return 1;
	}
	if (pw_start() != 0) {
		fprintf(stderr, "merge_test: the password server did not start\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
