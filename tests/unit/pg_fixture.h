/* SPDX-License-Identifier: MIT */
/*
 * A real PostgreSQL for the unit tests that need one (schema, drainer, history with a
 * database), through tests/pg/pg-fixture.sh.
 *
 * Where the server comes from, first match wins:
 *   ROOMCAST_TEST_PG_DIR=DIR   a fixture directory already started by pg-fixture.sh (the
 *                              tests may stop and restart it)
 *   ROOMCAST_TEST_PG=CONNINFO  any server where the user may CREATE DATABASE (tests that
 *                              stop the server are skipped)
 *   otherwise                  the test starts its own in a fresh /tmp directory with the
 *                              fixture script (path given as argv[1], else
 *                              tests/pg/pg-fixture.sh) and removes it at exit (also on
 *                              SIGTERM/SIGINT, as meson's timeout sends); a detached
 *                              watchdog removes it too should the test die otherwise.
 * Every test gets a database of its own (pgfx_newdb). Single-threaded helpers.
 */
#ifndef RC_PG_FIXTURE_H
#define RC_PG_FIXTURE_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

struct pgfx {
	char script[512];
	char dir[256];      /* fixture directory, "" when the server is not ours to stop */
	char conninfo[512]; /* the server's, database roomcast (or as given) */
	bool owned;         /* started here: removed at exit */
	unsigned ndb;
};

static struct pgfx pgfx;

static inline int
pgfx_run(const char *cmd, const char *dir, char *out, size_t outlen)
{
	char line[1024];
	FILE *p;
	int st;

	snprintf(line, sizeof(line), "'%s' %s '%s' 2>&1", pgfx.script, cmd, dir);
	p = popen(line, "r");
	if (p == NULL)
		return -1;
	if (out != NULL) {
		out[0] = '\0';
		while (fgets(line, sizeof(line), p) != NULL)
			snprintf(out, outlen, "%.*s", (int)outlen - 1, line);
		out[strcspn(out, "\n")] = '\0';
	} else {
		while (fgets(line, sizeof(line), p) != NULL)
			fputs(line, stderr);
	}
	st = pclose(p);
	return st == 0 ? 0 : -1;
}

static inline void
pgfx_cleanup(void)
{
	if (pgfx.owned) {
		pgfx.owned = false;
		pgfx_run("clean", pgfx.dir, NULL, 0);
	}
}

static inline void
pgfx_on_signal(int sig)
{
	pgfx_cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static inline int
pgfx_read_conninfo(const char *dir)
{
	char path[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/conninfo", dir);
	f = fopen(path, "r");
	if (f == NULL || fgets(pgfx.conninfo, sizeof(pgfx.conninfo), f) == NULL) {
		if (f != NULL)
			fclose(f);
		return -1;
	}
	fclose(f);
	pgfx.conninfo[strcspn(pgfx.conninfo, "\n")] = '\0';
	return 0;
}

/* A detached shell that cleans a fixture directory once this process is gone. */
static inline void
pgfx_watchdog_for(const char *dir)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd),
		 "setsid sh -c 'while kill -0 %d 2>/dev/null; do sleep 1; done;"
		 " \"$0\" clean \"$1\"' '%s' '%s' </dev/null >/dev/null 2>&1 &",
		 (int)getpid(), pgfx.script, dir);
	if (system(cmd) != 0)
		fprintf(stderr, "pg_fixture: no watchdog for %s\n", dir);
}

/* Finds or starts the server. 0, or -1 with a message on stderr. */
static inline int
pgfx_init(const char *script)
{
	const char *dir = getenv("ROOMCAST_TEST_PG_DIR"), *ci = getenv("ROOMCAST_TEST_PG");

	snprintf(pgfx.script, sizeof(pgfx.script), "%s",
		 script != NULL ? script : "tests/pg/pg-fixture.sh");
	if (dir != NULL && dir[0] != '\0') {
		snprintf(pgfx.dir, sizeof(pgfx.dir), "%s", dir);
		return pgfx_read_conninfo(dir);
	}
	if (ci != NULL && ci[0] != '\0') {
		snprintf(pgfx.conninfo, sizeof(pgfx.conninfo), "%s", ci);
		return 0;
	}
	snprintf(pgfx.dir, sizeof(pgfx.dir), "/tmp/rc-pgt-XXXXXX");
	if (mkdtemp(pgfx.dir) == NULL) {
		perror("mkdtemp");
		return -1;
	}
	pgfx.owned = true;
	atexit(pgfx_cleanup);
	pgfx_watchdog_for(pgfx.dir);
	signal(SIGTERM, pgfx_on_signal);
	signal(SIGINT, pgfx_on_signal);
	if (pgfx_run("start", pgfx.dir, pgfx.conninfo, sizeof(pgfx.conninfo)) != 0) {
		fprintf(stderr, "pg-fixture start failed: %s\n", pgfx.conninfo);
		return -1;
	}
	return 0;
}

/* Can the tests stop and restart the server? */
static inline bool
pgfx_can_restart(void)
{
	return pgfx.dir[0] != '\0';
}

static inline int
pgfx_stop(void)
{
	return pgfx_run("stop", pgfx.dir, NULL, 0);
}

static inline int
pgfx_start(void)
{
	char out[512];

	return pgfx_run("start", pgfx.dir, out, sizeof(out));
}

/* SQL on the server's own database (no result rows expected). 0 or -1 (message printed). */
static inline void
pgfx_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static inline int
pgfx_exec(const char *conninfo, const char *sql)
{
	PGconn *c = PQconnectdb(conninfo);
	PGresult *r;
	int rc = -1;

	if (PQstatus(c) == CONNECTION_OK) {
		PQsetNoticeProcessor(c, pgfx_quiet, NULL);
		r = PQexec(c, sql);
		rc = (PQresultStatus(r) == PGRES_COMMAND_OK ||
		      PQresultStatus(r) == PGRES_TUPLES_OK) ? 0 : -1;
		if (rc != 0)
			fprintf(stderr, "pgfx_exec(%s): %s", sql, PQerrorMessage(c));
		PQclear(r);
	} else {
		fprintf(stderr, "pgfx_exec: %s", PQerrorMessage(c));
	}
	PQfinish(c);
	return rc;
}

/* One number from a query (-1 on error, 0 for NULL). */
static inline long long
pgfx_num(const char *conninfo, const char *sql)
{
	PGconn *c = PQconnectdb(conninfo);
	long long v = -1;
	PGresult *r;

	if (PQstatus(c) == CONNECTION_OK) {
		r = PQexec(c, sql);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			v = PQgetisnull(r, 0, 0) ? 0 : strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		else
			fprintf(stderr, "pgfx_num(%s): %s", sql, PQerrorMessage(c));
		PQclear(r);
	}
	PQfinish(c);
	return v;
}

/* A fresh, empty database; its conninfo goes to out. 0 or -1. */
static inline int
pgfx_newdb(char *out, size_t len)
{
	char sql[128], name[64];

	snprintf(name, sizeof(name), "rc_t%d_%u", (int)getpid(), ++pgfx.ndb);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
	if (pgfx_exec(pgfx.conninfo, sql) != 0)
		return -1;
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
	if (pgfx_exec(pgfx.conninfo, sql) != 0)
		return -1;
	snprintf(out, len, "%s dbname=%s", pgfx.conninfo, name);
	return 0;
}

/* ---- a streaming standby of the fixture's server (tests/pg/pg-standby.sh, beside the
 * fixture script): for the database failover tests. Needs a server of the test's own
 * (pgfx_can_restart). One standby at a time; removed at exit (a detached watchdog removes it
 * too should the test die otherwise). */

static char pgfx_sb_dir[64];

/* Runs "SCRIPT ARGS" where SCRIPT is a file beside the fixture script. 0 or -1. */
static inline int
pgfx_sibling(const char *script, const char *args)
{
	char cmd[1400];
	const char *slash = strrchr(pgfx.script, '/');

	snprintf(cmd, sizeof(cmd), "bash '%.*s/%s' %s >/dev/null",
		 slash != NULL ? (int)(slash - pgfx.script) : 1, slash != NULL ? pgfx.script : ".",
		 script, args);
	return system(cmd) == 0 ? 0 : -1;
}

static inline void
pgfx_standby_clean(void)
{
	char args[128];

	if (pgfx_sb_dir[0] == '\0')
		return;
	snprintf(args, sizeof(args), "clean '%s'", pgfx_sb_dir);
	pgfx_sibling("pg-fixture.sh", args);
	pgfx_sb_dir[0] = '\0';
}

/* Starts (or restarts) the standby, mode "sync" or "async" (synchronous_standby_names on
 * the primary). Its directory (socket, port file) is pgfx_sb_dir. 0 or -1. */
static inline int
pgfx_standby_start(const char *mode)
{
	static bool registered;
	char args[600];

	if (pgfx.dir[0] == '\0')
		return -1;
	if (pgfx_sb_dir[0] == '\0') {
		snprintf(pgfx_sb_dir, sizeof(pgfx_sb_dir), "/tmp/rc-sb-XXXXXX");
		if (mkdtemp(pgfx_sb_dir) == NULL) {
			pgfx_sb_dir[0] = '\0';
			return -1;
		}
		if (!registered) {
			registered = true;
			atexit(pgfx_standby_clean);
		}
		pgfx_watchdog_for(pgfx_sb_dir);
	}
	snprintf(args, sizeof(args), "start '%s' '%s' %s", pgfx.dir, pgfx_sb_dir, mode);
	return pgfx_sibling("pg-standby.sh", args);
}

static inline int
pgfx_standby_stop(void)
{
	char args[128];

	snprintf(args, sizeof(args), "stop '%s'", pgfx_sb_dir);
	return pgfx_sibling("pg-fixture.sh", args);
}

static inline int
pgfx_standby_promote(void)
{
	char args[128];

	snprintf(args, sizeof(args), "promote '%s'", pgfx_sb_dir);
	return pgfx_sibling("pg-standby.sh", args);
}

/* The port of a fixture directory (the primary's: pgfx.dir; the standby's: pgfx_sb_dir),
 * or -1. */
static inline long
pgfx_port_of(const char *dir)
{
	char path[300];
	long port = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/port", dir);
	f = fopen(path, "r");
	if (f != NULL) {
		if (fscanf(f, "%ld", &port) != 1)
			port = -1;
		fclose(f);
	}
	return port;
}

/* After a test with a standby: the fixture's own server alone again (no synchronous
 * standby named). 0 or -1. */
static inline int
pgfx_standby_forget(void)
{
	pgfx_standby_clean();
	if (pgfx_exec(pgfx.conninfo, "ALTER SYSTEM RESET synchronous_standby_names") != 0)
		return -1;
	return pgfx_exec(pgfx.conninfo, "SELECT pg_reload_conf()");
}

/* ---- a second server of the test's own, started with the fixture script: its roles,
 * databases and pg_hba.conf are the test's (a server that asks for passwords, say). One at
 * a time; removed at exit (a detached watchdog removes it too should the test die
 * otherwise). */

static struct {
	char dir[64];
	char ci[512];   /* superuser, unix socket, database roomcast */
	char port[16];  /* its TCP port, on 127.0.0.1 */
	bool up;
} pgfx_second;

static inline void
pgfx_second_clean(void)
{
	if (pgfx_second.up) {
		pgfx_second.up = false;
		pgfx_run("clean", pgfx_second.dir, NULL, 0);
	}
}

/* Starts it in a fresh directory made from tmpl ("/tmp/NAME-XXXXXX"). 0 or -1. */
static inline int
pgfx_second_start(const char *tmpl)
{
	long port;

	snprintf(pgfx_second.dir, sizeof(pgfx_second.dir), "%s", tmpl);
	if (mkdtemp(pgfx_second.dir) == NULL)
		return -1;
	pgfx_second.up = true;
	atexit(pgfx_second_clean);
	pgfx_watchdog_for(pgfx_second.dir);
	if (pgfx_run("start", pgfx_second.dir, pgfx_second.ci, sizeof(pgfx_second.ci)) != 0)
		return -1;
	port = pgfx_port_of(pgfx_second.dir);
	snprintf(pgfx_second.port, sizeof(pgfx_second.port), "%ld", port);
	return port < 0 ? -1 : 0;
}

/* Its pg_hba.conf is lines from now on, reloaded (pgfx_wait_refusal() tells when the
 * server applied it). 0 or -1. */
static inline int
pgfx_second_hba(const char *lines)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/data/pg_hba.conf", pgfx_second.dir);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs(lines, f);
	if (fclose(f) != 0)
		return -1;
	return pgfx_exec(pgfx_second.ci, "SELECT pg_reload_conf()");
}

/* Waits (5 s at most) until a connection with conninfo is refused with text in libpq's
 * message: a reloaded pg_hba.conf took effect. 0 or -1. */
static inline int
pgfx_wait_refusal(const char *conninfo, const char *text)
{
	for (int i = 0; i < 100; i++) {
		PGconn *c = PQconnectdb(conninfo);
		bool done = strstr(PQerrorMessage(c), text) != NULL;

		PQfinish(c);
		if (done)
			return 0;
		usleep(50 * 1000);
	}
	return -1;
}

#endif /* RC_PG_FIXTURE_H */
