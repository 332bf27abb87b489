/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of storage/dbcheck.c against real PostgreSQL servers: the fixture's
 * (tests/unit/pg_fixture.h, trust authentication) for the good database, the schema and the
 * privilege checks, and a second server of the test's own whose pg_hba.conf asks for
 * passwords (scram-sha-256), has no line for some roles and rejects another, for the
 * refusals: wrong password, no password, no pg_hba.conf entry (TCP and unix socket),
 * reject line. Also the unreachable server, unknown database, role without LOGIN, the size
 * limit and the JSON/text rendering.
 *
 *   dbcheck_test [PATH/TO/pg-fixture.sh]
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dbcheck.h"
#include "pg_fixture.h"
#include "schema.h"

/* ---- the password server (pg_fixture.h's second server) ---- */

static const char pw_hba[] = "local all postgres trust\n"
			     "host all postgres 127.0.0.1/32 trust\n"
			     "host all rc_pw 127.0.0.1/32 scram-sha-256\n"
			     "host all rc_rej 127.0.0.1/32 reject\n";

/* Waits until the server refuses rc_nohba for want of a pg_hba.conf line. */
static int
pw_wait_reload(void)
{
	char ci[256];

	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%s user=rc_nohba dbname=postgres",
		 pgfx_second.port);
	return pgfx_wait_refusal(ci, "no pg_hba.conf entry");
}

static int
pw_start(void)
{
	if (pgfx_second_start("/tmp/rc-pgpw-XXXXXX") != 0 ||
	    pgfx_exec(pgfx_second.ci, "CREATE ROLE rc_pw LOGIN PASSWORD 'right';"
				      "CREATE ROLE rc_nohba LOGIN PASSWORD 'x';"
				      "CREATE ROLE rc_rej LOGIN PASSWORD 'x'") != 0 ||
	    pgfx_exec(pgfx_second.ci, "CREATE DATABASE rc_pwdb OWNER rc_pw") != 0 ||
	    pgfx_second_hba(pw_hba) != 0)
		return -1;
	return pw_wait_reload();
}

/* ---- helpers ---- */

static struct rc_dbcheck_report rep;

static const struct rc_dbcheck_item *
item(const char *name)
{
	for (unsigned i = 0; i < rep.n; i++)
		if (strcmp(rep.items[i].name, name) == 0)
			return &rep.items[i];
	fail_msg("no check %s", name);
	return NULL;
}

static void
expect(const char *name, enum rc_dbcheck_result res)
{
	const struct rc_dbcheck_item *it = item(name);

	if (it->result != res)
		fail_msg("%s: %s, expected %s: %s / %s", name, rc_dbcheck_result_str(it->result),
			 rc_dbcheck_result_str(res), it->detail, it->fix);
}

static void
expect_text(const char *name, bool in_fix, const char *text)
{
	const struct rc_dbcheck_item *it = item(name);
	const char *s = in_fix ? it->fix : it->detail;

	if (strstr(s, text) == NULL)
		fail_msg("%s %s: \"%s\" lacks \"%s\"", name, in_fix ? "fix" : "detail", s, text);
}

static void
print_report(void)
{
	char buf[16384];

	rc_dbcheck_to_text(&rep, buf, sizeof(buf));
	fputs(buf, stderr);
}

static const char *const all_names[] = {
	"connect", "pg_hba", "encoding", "server_version", "schema", "privileges",
	"merge_privileges", "dblink", "room", "replication",
};

static void
expect_names(void)
{
	assert_int_equal(rep.n, sizeof(all_names) / sizeof(all_names[0]));
	for (unsigned i = 0; i < rep.n; i++)
		assert_string_equal(rep.items[i].name, all_names[i]);
}

static void
newdb(char *ci, size_t len)
{
	assert_int_equal(pgfx_newdb(ci, len), 0);
}

static void
migrate(const char *ci)
{
	struct rc_pgdb db = { 0 };
	char err[256];

	assert_int_equal(rc_pgdb_connect(&db, ci, "dbcheck_test"), 0);
	if (rc_schema_migrate(&db, NULL, err, sizeof(err)) != 0)
		fail_msg("migrate: %s", err);
	rc_pgdb_close(&db);
}

/* The database name in a fixture conninfo ("... dbname=NAME" last). */
static const char *
dbname_of(const char *ci)
{
	const char *p = strrchr(ci, '=');

	return p != NULL ? p + 1 : "";
}

/* ---- tests ---- */

static void
test_strings(void **state)
{
	(void)state;
	for (unsigned i = 0; i < RC_DBCHECK_RESULT_MAX; i++)
		assert_string_not_equal(rc_dbcheck_result_str(i), "?");
	assert_string_equal(rc_dbcheck_result_str(RC_DBCHECK_RESULT_MAX), "?");
	assert_string_equal(rc_dbcheck_result_str(RC_DBCHECK_FAIL), "fail");
}

/* A fresh database as the superuser: everything passes, the schema is "to be created". */
static void
test_good_fresh(void **state)
{
	char ci[600];

	(void)state;
	newdb(ci, sizeof(ci));
	assert_int_equal(rc_dbcheck_run(ci, NULL, &rep), 0);
	expect_names();
	assert_int_equal(rep.failed, 0);
	expect("connect", RC_DBCHECK_PASS);
	expect_text("connect", false, dbname_of(ci));
	expect("pg_hba", RC_DBCHECK_PASS);
	expect_text("pg_hba", false, "[local]");
	expect("encoding", RC_DBCHECK_PASS);
	expect_text("encoding", false, "client_encoding UTF8");
	expect("server_version", RC_DBCHECK_PASS);
	expect("schema", RC_DBCHECK_PASS);
	expect_text("schema", false, "creates version");
	expect("privileges", RC_DBCHECK_PASS);
	expect("merge_privileges", RC_DBCHECK_PASS);
	expect("dblink", RC_DBCHECK_INFO);
	expect_text("dblink", true, "does not need dblink");
	expect("room", RC_DBCHECK_PASS);
	expect_text("room", false, "no size limit configured");
	expect("replication", RC_DBCHECK_WARN); /* the fixture has no standby */
	expect_text("replication", false, "not replicated");
	expect_text("replication", false, "could lose the last committed lease rows");
}

/* The usual production set-up: a role owning its database, over TCP, schema current. */
static void
test_good_owner_tcp(void **state)
{
	char ci[700], base[600], sql[200];
	const char *port;

	(void)state;
	newdb(base, sizeof(base));
	assert_int_equal(pgfx_exec(pgfx.conninfo, "DROP ROLE IF EXISTS rc_owner;"
						  "CREATE ROLE rc_owner LOGIN"), 0);
	snprintf(sql, sizeof(sql), "ALTER DATABASE %s OWNER TO rc_owner", dbname_of(base));
	assert_int_equal(pgfx_exec(pgfx.conninfo, sql), 0);
	port = strstr(base, "port=");
	assert_non_null(port);
	snprintf(ci, sizeof(ci), "host=127.0.0.1 %.*s user=rc_owner dbname=%s",
		 (int)strcspn(port, " "), port, dbname_of(base));
	migrate(ci);
	if (rc_dbcheck_run(ci, NULL, &rep) != 0)
		print_report();
	assert_int_equal(rep.failed, 0);
	expect_names();
	expect_text("schema", false, "current");
	expect_text("pg_hba", false, "from 127.0.0.1");
	expect_text("connect", false, "as rc_owner");
	assert_string_equal(item("privileges")->fix, "");
}

static void
test_newer_schema(void **state)
{
	char ci[600];

	(void)state;
	newdb(ci, sizeof(ci));
	migrate(ci);
	assert_int_equal(pgfx_exec(ci, "INSERT INTO roomcast_schema VALUES (42)"), 0);
	assert_int_equal(rc_dbcheck_run(ci, NULL, &rep), -EPROTO);
	assert_int_equal(rep.failed, 1);
	expect("schema", RC_DBCHECK_FAIL);
	assert_int_equal(item("schema")->err, -EPROTO);
	expect_text("schema", false, "schema version 42 is newer than this roomcastd");
	expect_text("schema", true, "upgrade roomcastd");
	expect("connect", RC_DBCHECK_PASS);
	expect("privileges", RC_DBCHECK_PASS);
}

/* A role that may use the tables but not CREATE: fine for a node with the schema in place,
 * not for a merge (merge_jobs, merge_seq_map). */
static void
test_no_create(void **state)
{
	char base[600], ci[700], sql[300];

	(void)state;
	newdb(base, sizeof(base));
	migrate(base);
	snprintf(sql, sizeof(sql),
		 "DROP ROLE IF EXISTS rc_nocreate; CREATE ROLE rc_nocreate LOGIN;"
		 "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "
		 "rc_nocreate; GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO rc_nocreate");
	assert_int_equal(pgfx_exec(base, sql), 0);
	snprintf(ci, sizeof(ci), "%s user=rc_nocreate", base);
	assert_int_equal(rc_dbcheck_run(ci, NULL, &rep), -EACCES);
	expect("privileges", RC_DBCHECK_PASS);
	expect_text("privileges", true, "no CREATE on the schema");
	expect("merge_privileges", RC_DBCHECK_FAIL);
	expect_text("merge_privileges", false, "CREATE on SCHEMA public");
	expect_text("merge_privileges", true, "GRANT CREATE ON SCHEMA public TO rc_nocreate;");
	assert_int_equal(rep.failed, 1);
	/* the GRANT it proposes is the fix */
	assert_int_equal(pgfx_exec(base, "GRANT CREATE ON SCHEMA public TO rc_nocreate"), 0);
	assert_int_equal(rc_dbcheck_run(ci, NULL, &rep), 0);
	expect("merge_privileges", RC_DBCHECK_PASS);
}

/* A role with CONNECT only: a node could not create the schema nor use the tables. */
static void
test_bare_role(void **state)
{
	char base[600], ci[700], want[400];

	(void)state;
	newdb(base, sizeof(base));
	assert_int_equal(pgfx_exec(base, "DROP ROLE IF EXISTS \"rc bare\";"
					 " CREATE ROLE \"rc bare\" LOGIN"), 0);
	snprintf(ci, sizeof(ci), "%s user='rc bare'", base);
	/* no schema yet: CREATE is needed */
	assert_int_equal(rc_dbcheck_run(ci, NULL, &rep), -EACCES);
	expect("privileges", RC_DBCHECK_FAIL);
	expect_text("privileges", true, "GRANT CREATE ON SCHEMA public TO \"rc bare\";");
	/* schema there, no table privilege */
	migrate(base);
	assert_int_equal(rc_dbcheck_run(ci, NULL, &rep), -EACCES);
	expect("privileges", RC_DBCHECK_FAIL);
	snprintf(want, sizeof(want), "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE rooms, "
				     "room_members, messages, drain_alarms, drain_state, "
				     "drain_dead_letters TO \"rc bare\";");
	expect_text("privileges", true, want);
	expect_text("privileges", true, "GRANT SELECT ON TABLE roomcast_schema");
	expect_text("privileges", true, "GRANT USAGE ON SEQUENCE drain_alarms_id_seq, "
					"drain_dead_letters_id_seq");
	expect_text("privileges", false, "lacks what a node needs");
	/* the whole fix, pasted by the owner, makes the check pass */
	{
		const char *fix = strchr(item("privileges")->fix, ':') + 2;
		char sql[600];

		snprintf(sql, sizeof(sql), "%s GRANT CREATE ON SCHEMA public TO \"rc bare\"", fix);
		assert_int_equal(pgfx_exec(base, sql), 0);
	}
	assert_int_equal(rc_dbcheck_run(ci, NULL, &rep), 0);
}

static void
test_unreachable(void **state)
{
	(void)state;
	assert_int_equal(rc_dbcheck_run("host=127.0.0.1 port=1 user=postgres dbname=x", NULL,
					&rep),
			 -ECONNREFUSED);
	expect_names();
	expect("connect", RC_DBCHECK_FAIL);
	expect_text("connect", false, "refused");
	expect_text("connect", true, "check host/port (127.0.0.1:1)");
	expect_text("connect", true, "listen_addresses");
	expect("pg_hba", RC_DBCHECK_SKIP);
	for (unsigned i = 2; i < rep.n; i++)
		assert_int_equal(rep.items[i].result, RC_DBCHECK_SKIP);
	assert_int_equal(rep.failed, 1);
	/* an unknown host */
	assert_int_equal(rc_dbcheck_run("host=rc-no-such-host.invalid user=postgres", NULL, &rep),
			 -ECONNREFUSED);
	expect_text("connect", true, "check the host name rc-no-such-host.invalid");
}

static void
test_no_database_no_login(void **state)
{
	char ci[700];

	(void)state;
	snprintf(ci, sizeof(ci), "%s dbname=rc_no_such_db", pgfx.conninfo);
	assert_int_equal(rc_dbcheck_run(ci, NULL, &rep), -ENOENT);
	expect_text("connect", true, "CREATE DATABASE rc_no_such_db OWNER postgres");
	expect("pg_hba", RC_DBCHECK_PASS);
	assert_int_equal(pgfx_exec(pgfx.conninfo, "DROP ROLE IF EXISTS rc_nolog;"
						  "CREATE ROLE rc_nolog NOLOGIN"), 0);
	snprintf(ci, sizeof(ci), "%s user=rc_nolog", pgfx.conninfo);
	assert_int_equal(rc_dbcheck_run(ci, NULL, &rep), -EACCES);
	expect_text("connect", true, "ALTER ROLE rc_nolog LOGIN");
	snprintf(ci, sizeof(ci), "%s user=rc_nobody_here", pgfx.conninfo);
	assert_int_equal(rc_dbcheck_run(ci, NULL, &rep), -EACCES);
	expect_text("connect", true, "CREATE ROLE rc_nobody_here LOGIN");
}

static void
test_wrong_password(void **state)
{
	char ci[300];

	(void)state;
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%s user=rc_pw dbname=rc_pwdb password=wrong",
		 pgfx_second.port);
	assert_int_equal(rc_dbcheck_run(ci, NULL, &rep), -EACCES);
	expect("connect", RC_DBCHECK_FAIL);
	assert_int_equal(item("connect")->err, -EACCES);
	expect_text("connect", false, "password authentication failed for user \"rc_pw\"");
	expect_text("connect", true, "check the user and password file");
	expect_text("connect", true, "db.password_file");
	assert_null(strstr(item("connect")->detail, "wrong"));
	assert_null(strstr(item("connect")->fix, "wrong"));
	expect("pg_hba", RC_DBCHECK_PASS);
	expect("schema", RC_DBCHECK_SKIP);
	/* no password at all */
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%s user=rc_pw dbname=rc_pwdb",
		 pgfx_second.port);
	assert_int_equal(rc_dbcheck_run(ci, NULL, &rep), -EACCES);
	expect_text("connect", true, "set db.password_file");
	/* the right one */
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%s user=rc_pw dbname=rc_pwdb password=right",
		 pgfx_second.port);
	if (rc_dbcheck_run(ci, NULL, &rep) != 0)
		print_report();
	assert_int_equal(rep.failed, 0);
}

static void
test_no_hba_entry(void **state)
{
	const struct rc_dbcheck_opts o = { .node_name = "1A", .node_addr = "192.0.2.7" };
	char ci[300];

	(void)state;
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%s user=rc_nohba dbname=rc_pwdb password=x",
		 pgfx_second.port);
	assert_int_equal(rc_dbcheck_run(ci, &o, &rep), -EACCES);
	expect("connect", RC_DBCHECK_FAIL);
	expect("pg_hba", RC_DBCHECK_FAIL);
	/* the address the server saw wins over the configured one */
	expect_text("pg_hba", true, "host rc_pwdb rc_nohba 127.0.0.1/32 scram-sha-256");
	expect_text("pg_hba", true, "pg_reload_conf()");
	expect_text("connect", true, "see the pg_hba check");
	expect_text("pg_hba", false,
		    "pg_hba.conf has no line for user rc_nohba, database rc_pwdb from 127.0.0.1");
	/* through the unix socket */
	snprintf(ci, sizeof(ci), "host=%s port=%s user=rc_nohba dbname=rc_pwdb", pgfx_second.dir,
		 pgfx_second.port);
	assert_int_equal(rc_dbcheck_run(ci, &o, &rep), -EACCES);
	expect_text("pg_hba", true, "local rc_pwdb rc_nohba scram-sha-256");
	/* a reject line */
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%s user=rc_rej dbname=rc_pwdb password=x",
		 pgfx_second.port);
	assert_int_equal(rc_dbcheck_run(ci, &o, &rep), -EACCES);
	expect_text("pg_hba", true, "'reject' line");
	expect_text("pg_hba", false, "a 'reject' line of pg_hba.conf refuses user rc_rej");
	expect_text("pg_hba", true, "host rc_pwdb rc_rej 127.0.0.1/32 scram-sha-256");
	/* the suggested line, added (above the reject), lets rc_nohba in: the fix is right */
	assert_int_equal(pgfx_second_hba("local all postgres trust\n"
					 "host all postgres 127.0.0.1/32 trust\n"
					 "host rc_pwdb rc_nohba 127.0.0.1/32 scram-sha-256\n"
					 "host all rc_pw 127.0.0.1/32 scram-sha-256\n"
					 "host all rc_rej 127.0.0.1/32 reject\n"),
			 0);
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%s user=rc_nohba dbname=rc_pwdb password=x",
		 pgfx_second.port);
	for (int i = 0; i < 100; i++) {
		rc_dbcheck_run(ci, &o, &rep);
		if (item("pg_hba")->result == RC_DBCHECK_PASS)
			break;
		usleep(50 * 1000);
	}
	expect("pg_hba", RC_DBCHECK_PASS);
	expect("connect", RC_DBCHECK_PASS);
	assert_int_equal(pgfx_second_hba(pw_hba), 0);
	assert_int_equal(pw_wait_reload(), 0);
}

static void
test_room_limit(void **state)
{
	struct rc_dbcheck_opts o = { .limit_bytes = 1024 * 1024 };
	char ci[600];

	(void)state;
	newdb(ci, sizeof(ci));
	assert_int_equal(rc_dbcheck_run(ci, &o, &rep), -ENOSPC);
	expect("room", RC_DBCHECK_FAIL);
	expect_text("room", false, "over the limit");
	o.limit_bytes = 1ull << 40;
	o.incoming_bytes = 3ull << 20;
	assert_int_equal(rc_dbcheck_run(ci, &o, &rep), 0);
	expect("room", RC_DBCHECK_PASS);
	expect_text("room", false, "the merge adds about 3.0 MiB");
	expect_text("room", true, "free disk space");
	o.incoming_bytes = 1ull << 40;
	assert_int_equal(rc_dbcheck_run(ci, &o, &rep), -ENOSPC);
}

static void
test_render(void **state)
{
	char buf[16384], small[16];
	json_t *j, *checks;
	size_t need;

	(void)state;
	rc_dbcheck_run("host=127.0.0.1 port=1 user=postgres dbname=x", NULL, &rep);
	j = rc_dbcheck_to_json(&rep);
	assert_non_null(j);
	assert_true(json_is_false(json_object_get(j, "ok")));
	assert_int_equal(json_integer_value(json_object_get(j, "failed")), 1);
	assert_int_equal(json_integer_value(json_object_get(j, "skipped")), 9);
	checks = json_object_get(j, "checks");
	assert_int_equal(json_array_size(checks), 10);
	assert_string_equal(json_string_value(json_object_get(json_array_get(checks, 0), "result")),
			    "fail");
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(checks, 0), "fix")),
			       "listen_addresses"));
	json_decref(j);
	need = rc_dbcheck_to_text(&rep, buf, sizeof(buf));
	assert_int_equal(need, strlen(buf));
	assert_non_null(strstr(buf, "FAIL  connect: "));
	assert_non_null(strstr(buf, "\n      fix: check host/port"));
	assert_non_null(strstr(buf, "SKIP  pg_hba: "));
	assert_non_null(strstr(buf, "0 passed, 1 failed, 0 info, 9 skipped\n"));
	assert_int_equal(rc_dbcheck_to_text(&rep, small, sizeof(small)), need);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	/* a full report counts what it drops */
	rc_dbcheck_reset(&rep);
	for (unsigned i = 0; i < RC_DBCHECK_MAX_ITEMS + 3; i++)
		rc_dbcheck_add(&rep, NULL, "x", RC_DBCHECK_FAIL, -EINVAL, NULL, "n %u", i);
	assert_int_equal(rep.n, RC_DBCHECK_MAX_ITEMS);
	assert_int_equal(rep.dropped, 3);
	assert_int_equal(rep.failed, RC_DBCHECK_MAX_ITEMS + 3);
	assert_int_equal(rc_dbcheck_first_err(&rep), -EINVAL);
}

/* A database that is not UTF8 (issue 9, S13): the encoding check fails with the fix; the
 * rest is not checked (the node refuses the connection). */
static void
test_not_utf8(void **state)
{
	char ci[600], sql[256], latin[640];

	(void)state;
	newdb(ci, sizeof(ci));
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s_l1 ENCODING 'LATIN1' TEMPLATE template0"
				   " LC_COLLATE 'C' LC_CTYPE 'C'", dbname_of(ci));
	assert_int_equal(pgfx_exec(pgfx.conninfo, sql), 0);
	snprintf(latin, sizeof(latin), "%s_l1", ci);
	assert_int_equal(rc_dbcheck_run(latin, NULL, &rep), -EPROTO);
	expect_names();
	print_report();
	expect("connect", RC_DBCHECK_PASS);
	expect("encoding", RC_DBCHECK_FAIL);
	expect_text("encoding", false, "LATIN1");
	expect_text("encoding", true, "ENCODING 'UTF8'");
	expect("schema", RC_DBCHECK_SKIP);
	assert_int_equal(rep.failed, 1);
}

/* ---- replication: a synchronous standby of the fixture's server ---- */

/* The replication item against a primary with a synchronous standby, the standby alone,
 * the standby down, and an asynchronous standby. Needs a fixture server of the test's own
 * (its configuration is changed, then restored). */
static void
test_replication(void **state)
{
	struct rc_pgdb db = { 0 };
	char ci[700];
	long pport, sport;

	(void)state;
	assert_true(pgfx_can_restart());
	assert_int_equal(pgfx_standby_start("sync"), 0);
	pport = pgfx_port_of(pgfx.dir);
	sport = pgfx_port_of(pgfx_sb_dir);
	assert_true(pport > 0 && sport > 0);

	/* the primary, synchronously replicated */
	assert_int_equal(rc_dbcheck_run(pgfx.conninfo, NULL, &rep), 0);
	expect("replication", RC_DBCHECK_PASS);
	expect_text("replication", false, "replicated synchronously");
	expect_text("replication", false, "rc_standby (sync, streaming)");

	/* both servers, the standby listed first: the node's connection finds the primary */
	snprintf(ci, sizeof(ci), "host=%s,%s port=%ld,%ld user=postgres dbname=roomcast",
		 pgfx_sb_dir, pgfx.dir, sport, pport);
	assert_int_equal(rc_dbcheck_run(ci, NULL, &rep), 0);
	expect("connect", RC_DBCHECK_PASS);
	expect("replication", RC_DBCHECK_PASS);

	/* the standby alone: no read-write server (a connection refused, retried) */
	snprintf(ci, sizeof(ci), "host=%s port=%ld user=postgres dbname=roomcast", pgfx_sb_dir,
		 sport);
	assert_int_equal(rc_dbcheck_run(ci, NULL, &rep), -ECONNREFUSED);
	expect("connect", RC_DBCHECK_FAIL);
	expect_text("connect", true, "no server of the conninfo accepts writes");
	assert_int_equal(rc_pgdb_connect(&db, ci, "dbcheck_test"), -ECONNREFUSED);
	/* ... and with target_session_attrs=any, the standby itself: it cannot take writes */
	snprintf(ci, sizeof(ci), "host=%s port=%ld user=postgres dbname=roomcast "
		 "target_session_attrs=any", pgfx_sb_dir, sport);
	assert_int_equal(rc_dbcheck_run(ci, NULL, &rep), -EROFS);
	expect("connect", RC_DBCHECK_PASS);
	expect("replication", RC_DBCHECK_FAIL);
	expect_text("replication", false, "standby");
	/* a write there drops the connection (the caller reconnects, and finds the primary
	 * when the conninfo lists it) */
	assert_int_equal(rc_pgdb_connect(&db, ci, "dbcheck_test"), 0);
	assert_true(rc_pgdb_ok(&db));
	assert_int_equal(rc_pgdb_exec(&db, "CREATE TABLE rc_not_here (x int)"), -ECONNRESET);
	assert_string_equal(db.sqlstate, "25006");
	assert_false(rc_pgdb_ok(&db));
	rc_pgdb_close(&db);

	/* the synchronous standby down: every commit would wait */
	assert_int_equal(pgfx_standby_stop(), 0);
	assert_int_equal(rc_dbcheck_run(pgfx.conninfo, NULL, &rep), -EAGAIN);
	expect("replication", RC_DBCHECK_FAIL);
	expect_text("replication", false, "no synchronous standby is streaming");

	/* an asynchronous standby: a promotion could lose lease rows */
	assert_int_equal(pgfx_standby_start("async"), 0);
	assert_int_equal(rc_dbcheck_run(pgfx.conninfo, NULL, &rep), 0);
	expect("replication", RC_DBCHECK_WARN);
	expect_text("replication", false, "replicated asynchronously");
	expect_text("replication", false, "rc_standby (async, streaming)");
	expect_text("replication", false, "could lose the last committed lease rows");
	expect_text("replication", true, "synchronous_standby_names");
	print_report();
	assert_int_equal(pgfx_standby_forget(), 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_good_fresh),
		cmocka_unit_test(test_not_utf8),
		cmocka_unit_test(test_good_owner_tcp),
		cmocka_unit_test(test_newer_schema),
		cmocka_unit_test(test_no_create),
		cmocka_unit_test(test_bare_role),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_no_database_no_login),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_no_hba_entry),
		cmocka_unit_test(test_room_limit),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_replication),
	};

	setenv("PGPASSFILE", "/nonexistent", 1); /* no ~/.pgpass behind the tests' back */
	if (pgfx_init(argc > 1 ? argv[1] : NULL) != 0) {
		fprintf(stderr, "dbcheck_test: no PostgreSQL\n");
		return 1;
	}
	if (pw_start() != 0) {
		fprintf(stderr, "dbcheck_test: the password server did not start\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
