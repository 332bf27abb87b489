/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of drivers/pgdb.c and storage/schema.c against a real PostgreSQL
 * (tests/unit/pg_fixture.h): connection errors mapped to -errno, statement errors, COPY and
 * its escaping, the schema created, migrated idempotently, concurrently, and refused when
 * the database is newer.
 *
 *   schema_test [PATH/TO/pg-fixture.sh]
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pg_fixture.h"
#include "pgdb.h"
#include "schema.h"

struct fx {
	char conninfo[600];
	struct rc_pgdb db;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(pgfx_newdb(f->conninfo, sizeof(f->conninfo)), 0);
	assert_int_equal(rc_pgdb_connect(&f->db, f->conninfo, "schema_test"), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	rc_pgdb_close(&f->db);
	free(f);
	return 0;
}

static void
test_connect_errors(void **state)
{
	struct rc_pgdb db = { 0 };
	char ci[700];

	(void)state;
	/* nobody listens on port 1 */
	assert_int_equal(rc_pgdb_connect(&db, "host=127.0.0.1 port=1 user=postgres", "t"),
			 -ECONNREFUSED);
	assert_non_null(strstr(db.err, "refused"));
	assert_null(strchr(db.err, '\n'));
	assert_false(rc_pgdb_ok(&db));
	/* no unix socket there */
	assert_int_equal(rc_pgdb_connect(&db, "host=/nonexistent port=5 user=postgres", "t"),
			 -ECONNREFUSED);
	/* a role that may not log in */
	assert_int_equal(pgfx_exec(pgfx.conninfo, "DROP ROLE IF EXISTS rc_nologin;"
						  "CREATE ROLE rc_nologin NOLOGIN"), 0);
	snprintf(ci, sizeof(ci), "%s user=rc_nologin", pgfx.conninfo);
	assert_int_equal(rc_pgdb_connect(&db, ci, "t"), -EACCES);
	/* no such database */
	snprintf(ci, sizeof(ci), "%s dbname=rc_no_such_db", pgfx.conninfo);
	assert_int_equal(rc_pgdb_connect(&db, ci, "t"), -EIO);
	assert_non_null(strstr(db.err, "rc_no_such_db"));
	assert_int_equal(rc_pgdb_connect(&db, NULL, "t"), -EINVAL);
	/* not connected */
	assert_int_equal(rc_pgdb_exec(&db, "SELECT 1"), -ENOTCONN);
}

static void
test_statements(void **state)
{
	struct fx *f = *state;
	const char *pm[2] = { "7", "x\ty" };
	PGresult *res;

	assert_true(rc_pgdb_ok(&f->db));
	assert_int_equal(rc_pgdb_exec(&f->db, "CREATE TABLE t (k int PRIMARY KEY, v text);"
					      "INSERT INTO t VALUES (1, 'a')"), 0);
	assert_int_equal(rc_pgdb_exec(&f->db, "INSERT INTO t VALUES (1, 'b')"), -EEXIST);
	assert_int_equal(rc_pgdb_exec(&f->db, "SELEKT"), -EIO);
	assert_non_null(strstr(f->db.err, "syntax error"));
	assert_int_equal(rc_pgdb_query(&f->db, "INSERT INTO t VALUES ($1, $2) RETURNING v", 2,
				       pm, &res), 0);
	assert_int_equal(PQntuples(res), 1);
	assert_string_equal(PQgetvalue(res, 0, 0), "x\ty");
	PQclear(res);
	assert_int_equal(rc_pgdb_query(&f->db, "SELECT $1::int", 1, pm + 1, &res), -EIO);
	assert_null(res);
	/* the session still works after errors; the application name was set */
	assert_int_equal(rc_pgdb_query(&f->db, "SELECT current_setting('application_name')", 0,
				       NULL, &res), 0);
	assert_string_equal(PQgetvalue(res, 0, 0), "schema_test");
	PQclear(res);
}

static void
test_copy(void **state)
{
	static const char *const vals[] = { "plain", "tab\there", "new\nline", "back\\slash",
					    "cr\rx", "\\N", "" };
	struct fx *f = *state;
	char buf[4096], *p = buf;
	PGresult *res;

	assert_int_equal(rc_pgdb_exec(&f->db, "CREATE TABLE c (k int, v text)"), 0);
	for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		p += sprintf(p, "%u\t", i);
		p += rc_pgdb_copy_escape(p, sizeof(buf) - (size_t)(p - buf), vals[i],
					 strlen(vals[i]));
		*p++ = '\n';
	}
	assert_int_equal(rc_pgdb_copy_begin(&f->db, "COPY c FROM STDIN"), 0);
	assert_int_equal(rc_pgdb_copy_put(&f->db, buf, (size_t)(p - buf)), 0);
	assert_int_equal(rc_pgdb_copy_end(&f->db), 0);
	assert_int_equal(rc_pgdb_query(&f->db, "SELECT v FROM c ORDER BY k", 0, NULL, &res), 0);
	assert_int_equal(PQntuples(res), 7);
	for (int i = 0; i < 7; i++)
		assert_string_equal(PQgetvalue(res, i, 0), vals[i]);
	PQclear(res);
	/* a bad row fails the COPY, the connection stays usable */
	assert_int_equal(rc_pgdb_copy_begin(&f->db, "COPY c FROM STDIN"), 0);
	assert_int_equal(rc_pgdb_copy_put(&f->db, "x\ty\n", 4), 0);
	assert_int_equal(rc_pgdb_copy_end(&f->db), -EIO);
	assert_int_equal(rc_pgdb_exec(&f->db, "SELECT 1"), 0);
	/* not a COPY */
	assert_int_equal(rc_pgdb_copy_begin(&f->db, "SELECT 1"), -EINVAL);
	/* escaping: the size needed, nothing written when it does not fit */
	assert_int_equal(rc_pgdb_copy_escape(buf, 3, "a\tb", 3), 4);
	assert_int_equal(rc_pgdb_copy_escape(buf, 4, "a\tb", 3), 4);
	assert_memory_equal(buf, "a\\tb", 4);
}

static void
test_migrate(void **state)
{
	struct fx *f = *state;
	char err[256];
	int applied = -1;

	assert_int_equal(rc_schema_version(&f->db), 0);
	assert_int_equal(rc_schema_migrate(&f->db, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, RC_SCHEMA_VERSION);
	assert_int_equal(rc_schema_version(&f->db), RC_SCHEMA_VERSION);
	/* idempotent */
	assert_int_equal(rc_schema_migrate(&f->db, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(pgfx_num(f->conninfo, "SELECT count(*) FROM roomcast_schema"),
			 RC_SCHEMA_VERSION);
	/* the tables are there and usable */
	assert_int_equal(rc_pgdb_exec(&f->db,
				      "INSERT INTO rooms (name, creator) VALUES ('lobby', 'al');"
				      "INSERT INTO room_members (room, user_name, role,"
				      " affiliation) VALUES ('lobby', 'al', 'moderator', 'owner');"
				      "INSERT INTO messages (room, seq, sender, ts_ms, body, cmid)"
				      " VALUES ('lobby', 1, 'al', 1, 'hi', -1);"
				      "INSERT INTO drain_state (node, drained_lsn)"
				      " VALUES ('n1', 1)"),
			 0);
	assert_int_equal(rc_pgdb_exec(&f->db, "INSERT INTO messages (room, seq, sender, ts_ms,"
					      " body, cmid) VALUES ('lobby', 1, 'b', 1, 'x', 2)"),
			 -EEXIST);
	assert_int_equal(rc_pgdb_exec(&f->db, "UPDATE rooms SET type = 'other'"), -EIO);
	assert_int_equal(pgfx_num(f->conninfo, "SELECT count(*) FROM message_log"), 1);
}

static void
test_newer_refused(void **state)
{
	struct fx *f = *state;
	char err[256], want[256];
	int applied = -1;

	assert_int_equal(rc_schema_migrate(&f->db, NULL, NULL, 0), 0);
	assert_int_equal(pgfx_exec(f->conninfo, "INSERT INTO roomcast_schema VALUES (42)"), 0);
	assert_int_equal(rc_schema_migrate(&f->db, &applied, err, sizeof(err)), -EPROTO);
	assert_int_equal(applied, 0);
	snprintf(want, sizeof(want), "database schema version 42 is newer than this roomcastd "
				     "(knows up to %d): upgrade roomcastd", RC_SCHEMA_VERSION);
	assert_string_equal(err, want);
	assert_int_equal(rc_schema_version(&f->db), 42);
	/* the connection is still usable, outside any transaction */
	assert_int_equal(rc_pgdb_exec(&f->db, "BEGIN; COMMIT"), 0);
}

/* A database that has half of the tables (a failed manual attempt) fails cleanly, and the
 * failed step leaves nothing behind. */
static void
test_failed_step_rolls_back(void **state)
{
	struct fx *f = *state;
	char err[256];

	assert_int_equal(pgfx_exec(f->conninfo, "CREATE TABLE messages (x int)"), 0);
	assert_int_equal(rc_schema_migrate(&f->db, NULL, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "schema migration: "));
	assert_non_null(strstr(err, "messages"));
	assert_int_equal(rc_schema_version(&f->db), 0);
	assert_int_equal(pgfx_num(f->conninfo, "SELECT count(*) FROM pg_tables WHERE"
					       " tablename IN ('rooms', 'drain_state')"), 0);
}

struct mig_arg {
	const char *conninfo;
	int rc;
	int applied;
};

static void *
mig_thread(void *arg)
{
	struct mig_arg *a = arg;
	struct rc_pgdb db = { 0 };
	char err[256];

	a->rc = rc_pgdb_connect(&db, a->conninfo, "schema_test");
	if (a->rc == 0)
		a->rc = rc_schema_migrate(&db, &a->applied, err, sizeof(err));
	rc_pgdb_close(&db);
	return NULL;
}

/* Two nodes starting together: the advisory lock makes one of them apply the steps. */
static void
test_concurrent(void **state)
{
	struct fx *f = *state;
	struct mig_arg a[4];
	pthread_t t[4];
	int total = 0;

	for (unsigned i = 0; i < 4; i++) {
		a[i] = (struct mig_arg){ .conninfo = f->conninfo, .rc = -1 };
		assert_int_equal(pthread_create(&t[i], NULL, mig_thread, &a[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].rc, 0);
		total += a[i].applied;
	}
	assert_int_equal(total, RC_SCHEMA_VERSION);
	assert_int_equal(rc_schema_version(&f->db), RC_SCHEMA_VERSION);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_errors),
		cmocka_unit_test_setup_teardown(test_statements, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_step_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	};

	if (pgfx_init(argc > 1 ? argv[1] : NULL) != 0) {
		fprintf(stderr, "schema_test: no PostgreSQL\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
