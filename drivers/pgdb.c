/* SPDX-License-Identifier: MIT */
/*
 * The external-database driver: libpq connections, statements and COPY, with libpq's
 * errors translated here, once, into -errno and a one-line text in db->err.
 *
 * Connections get defaults that suit a storage thread (each overridable in the conninfo):
 * connect_timeout=3, TCP keepalives after 5 s idle (3 probes 2 s apart) and a 10 s TCP user
 * timeout, so that a dead server is noticed in seconds rather than in hours; and
 * target_session_attrs=read-write, so that a multi-host conninfo (host=a,b, or port=p1,p2
 * with unix sockets) of a replicated database connects to its primary, whichever that is
 * now: every caller reconnects after a lost connection, and so follows a promotion. libpq's notices
 * ("relation already exists, skipping") are swallowed: library code does not print.
 *
 * client_encoding is pinned to UTF8 after the conninfo (so neither the conninfo nor a role's or
 * database's setting can change it) and server_encoding must be UTF8 (else -EPROTO): see
 * pgdb.h.
 *
 * Error mapping:
 *   connecting: refused / no socket / unreachable / timeout / server starting or stopping
 *               -> -ECONNREFUSED (also: no read-write server among the hosts, as during a
 *               promotion); authentication or privileges -> -EACCES; else -EIO
 *   statements: the connection is gone (CONNECTION_BAD, SQLSTATE class 08, 57P0x)
 *               -> -ECONNRESET; privileges (42501) -> -EACCES; unique violation -> -EEXIST;
 *               serialization failure / deadlock / lock timeout -> -EAGAIN;
 *               disk full (53100) -> -ENOSPC; query cancelled (57014) -> -ETIMEDOUT;
 *               RC001 (the product's own: a write of a stale lease epoch, refused by the
 *               messages trigger of schema version 2, storage/lease.h) -> -ESTALE;
 *               read-only transaction (25006: a standby) -> -ECONNRESET, and the
 *               connection counts as lost (rc_pgdb_ok false) so that it is reconnected;
 *               else -EIO
 *
 * Threads: a struct rc_pgdb is used by one thread at a time (libpq's rule).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pgdb.h"

/* Copies text into db->err as one line: newlines and tabs become spaces, runs of spaces
 * collapse, trailing space goes. */
static void
pgdb_set_err(struct rc_pgdb *db, const char *prefix, const char *text)
{
	size_t n = 0, cap = sizeof(db->err);
	const char *parts[2] = { prefix, text };

	for (unsigned i = 0; i < 2; i++) {
		for (const char *p = parts[i]; p != NULL && *p != '\0' && n + 1 < cap; p++) {
			char c = (*p == '\n' || *p == '\t' || *p == '\r') ? ' ' : *p;

			if (c == ' ' && (n == 0 || db->err[n - 1] == ' '))
				continue;
			db->err[n++] = c;
		}
	}
	while (n > 0 && db->err[n - 1] == ' ')
		n--;
	db->err[n] = '\0';
}

static bool
has(const char *haystack, const char *needle)
{
	return haystack != NULL && strcasestr(haystack, needle) != NULL;
}

/* A failed connection attempt's message -> -errno. */
static int
pgdb_connect_errno(const char *msg)
{
	static const char *const unreachable[] = {
		"connection refused", "no such file", "timeout expired", "could not translate",
		"network is unreachable", "no route to host", "the database system is starting up",
		"the database system is shutting down", "the database system is in recovery",
		"server closed the connection",
		/* a multi-host conninfo whose servers are all standbys right now (a promotion
		 * under way): no read-write server yet, try again */
		"session is read-only", "server is in hot standby mode",
		"server is not in hot standby mode",
	};
	static const char *const denied[] = {
		"authentication failed", "no pg_hba.conf entry", "permission denied",
		"password", "role", "not permitted",
	};

	for (size_t i = 0; i < sizeof(unreachable) / sizeof(unreachable[0]); i++)
		if (has(msg, unreachable[i]))
			return -ECONNREFUSED;
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		if (has(msg, denied[i]))
			return -EACCES;
	return -EIO;
}

/* A failed statement's result (may be NULL) -> -errno; sets db->err. */
static int
pgdb_result_errno(struct rc_pgdb *db, const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res != NULL ? PQresultErrorMessage(res) : NULL;

	if (msg == NULL || *msg == '\0')
		msg = PQerrorMessage(db->conn);
	pgdb_set_err(db, NULL, msg);
	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state != NULL ? state : "");
	if (PQstatus(db->conn) != CONNECTION_OK)
		return -ECONNRESET;
	if (state == NULL)
		return -EIO;
	if (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
	    strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0)
		return -ECONNRESET;
	if (strcmp(state, "42501") == 0)
		return -EACCES;
	if (strcmp(state, "23505") == 0)
		return -EEXIST;
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	    strcmp(state, "55P03") == 0)
		return -EAGAIN;
	if (strcmp(state, "53100") == 0)
		return -ENOSPC;
	if (strcmp(state, "57014") == 0)
		return -ETIMEDOUT;
	if (strcmp(state, "RC001") == 0)
		return -ESTALE;
	if (strcmp(state, "25006") == 0) {
		/* a write on a read-only server: a standby (a single-host conninfo naming one,
		 * target_session_attrs=any) or a server demoted under us. This connection cannot
		 * write again: mark it lost, so that the caller reconnects and finds the
		 * read-write server */
		db->lost = true;
		return -ECONNRESET;
	}
	return -EIO;
}

static void
pgdb_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

int
rc_pgdb_connect(struct rc_pgdb *db, const char *conninfo, const char *appname)
{
	/* defaults first: the expanded conninfo (dbname) overrides them; appname wins last */
	const char *keys[] = { "connect_timeout", "keepalives", "keepalives_idle",
			       "keepalives_interval", "keepalives_count", "tcp_user_timeout",
			       "target_session_attrs", "dbname", "application_name",
			       "client_encoding", NULL };
	const char *vals[] = { "3", "1", "5", "2", "3", "10000", "read-write", conninfo,
			       appname != NULL ? appname : "roomcastd", "UTF8", NULL };
	const char *enc;
	int rc;

	if (db->conn != NULL)
		rc_pgdb_close(db);
	db->lost = false;
	db->err[0] = '\0';
	db->sqlstate[0] = '\0';
	if (conninfo == NULL) {
		pgdb_set_err(db, NULL, "no database configured");
		return -EINVAL;
	}
	snprintf(db->conninfo, sizeof(db->conninfo), "%s", conninfo);
	db->conn = PQconnectdbParams(keys, vals, 1);
	if (db->conn == NULL) {
		pgdb_set_err(db, NULL, "out of memory");
		return -ENOMEM;
	}
	if (PQstatus(db->conn) == CONNECTION_OK) {
		PQsetNoticeProcessor(db->conn, pgdb_quiet, NULL);
		enc = PQparameterStatus(db->conn, "server_encoding");
		if (enc == NULL || strcmp(enc, "UTF8") != 0) {
			snprintf(db->err, sizeof(db->err),
				 "database encoding is %s, not UTF8: roomcast stores UTF-8 text "
				 "(CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0)",
				 enc != NULL ? enc : "unknown");
			PQfinish(db->conn);
			db->conn = NULL;
			return -EPROTO;
		}
		return 0;
	}
	rc = pgdb_connect_errno(PQerrorMessage(db->conn));
	pgdb_set_err(db, NULL, PQerrorMessage(db->conn));
	PQfinish(db->conn);
	db->conn = NULL;
	return rc;
}

bool
rc_pgdb_data_error(const char *s)
{
	return strncmp(s, "22", 2) == 0 || strncmp(s, "54", 2) == 0 ||
	       (strncmp(s, "23", 2) == 0 && strcmp(s, "23505") != 0);
}

void
rc_pgdb_close(struct rc_pgdb *db)
{
	if (db == NULL || db->conn == NULL)
		return;
	PQfinish(db->conn);
	db->conn = NULL;
	db->lost = false;
}

bool
rc_pgdb_ok(const struct rc_pgdb *db)
{
	return db != NULL && db->conn != NULL && !db->lost && PQstatus(db->conn) == CONNECTION_OK;
}

/* Checks a result against the statuses that mean success; clears it on failure. */
static int
pgdb_check(struct rc_pgdb *db, PGresult *res)
{
	ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int rc;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return 0;
	rc = pgdb_result_errno(db, res);
	PQclear(res);
	return rc;
}

static int
pgdb_not_connected(struct rc_pgdb *db)
{
	if (rc_pgdb_ok(db))
		return 0;
	pgdb_set_err(db, NULL, "not connected");
	return -ENOTCONN;
}

int
rc_pgdb_exec(struct rc_pgdb *db, const char *sql)
{
	PGresult *res;
	int rc = pgdb_not_connected(db);

	if (rc != 0)
		return rc;
	res = PQexec(db->conn, sql);
	rc = pgdb_check(db, res);
	if (rc == 0)
		PQclear(res);
	return rc;
}

int
rc_pgdb_query(struct rc_pgdb *db, const char *sql, int nparams, const char *const *params,
	      PGresult **res)
{
	int rc = pgdb_not_connected(db);

	*res = NULL;
	if (rc != 0)
		return rc;
	*res = PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	rc = pgdb_check(db, *res);
	if (rc != 0)
		*res = NULL;
	return rc;
}

int
rc_pgdb_copy_begin(struct rc_pgdb *db, const char *copy_sql)
{
	PGresult *res;
	int rc = pgdb_not_connected(db);

	if (rc != 0)
		return rc;
	res = PQexec(db->conn, copy_sql);
	if (res != NULL && PQresultStatus(res) == PGRES_COPY_IN) {
		PQclear(res);
		return 0;
	}
	rc = pgdb_check(db, res);
	if (rc == 0) { /* a statement that succeeded without entering COPY */
		PQclear(res);
		pgdb_set_err(db, "not a COPY FROM STDIN: ", copy_sql);
		return -EINVAL;
	}
	return rc;
}

int
rc_pgdb_copy_put(struct rc_pgdb *db, const char *buf, size_t len)
{
	while (len > 0) {
		int chunk = len > (1u << 30) ? 1 << 30 : (int)len;

		if (PQputCopyData(db->conn, buf, chunk) != 1) {
			pgdb_set_err(db, "COPY data: ", PQerrorMessage(db->conn));
			return PQstatus(db->conn) == CONNECTION_OK ? -EIO : -ECONNRESET;
		}
		buf += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

/* Ends the COPY and collects its result (and anything after it, until NULL). */
int
rc_pgdb_copy_end(struct rc_pgdb *db)
{
	PGresult *res;
	int rc = 0;

	if (PQputCopyEnd(db->conn, NULL) != 1) {
		pgdb_set_err(db, "COPY end: ", PQerrorMessage(db->conn));
		rc = PQstatus(db->conn) == CONNECTION_OK ? -EIO : -ECONNRESET;
	}
	while ((res = PQgetResult(db->conn)) != NULL) {
		int r = pgdb_check(db, res);

		if (r == 0)
			PQclear(res);
		else if (rc == 0)
			rc = r;
	}
	return rc;
}

/* The bytes COPY's text format escapes, and what follows the backslash. */
static const char copy_escapes[256] = {
	['\\'] = '\\', ['\t'] = 't', ['\n'] = 'n', ['\r'] = 'r',
};

/*
 * Appends s, escaped for COPY's text format (backslash, tab, newline, CR), at dst. Returns
 * the number of bytes the escaped text takes; it is written only when that fits in cap
 * (snprintf-like, without a NUL), so the caller checks the result against cap. The common
 * case (nothing to escape) is one scan and one memcpy.
 */
size_t
rc_pgdb_copy_escape(char *dst, size_t cap, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t first = 0, need;

	while (first < len && copy_escapes[u[first]] == 0)
		first++;
	need = len;
	for (size_t i = first; i < len; i++)
		need += copy_escapes[u[i]] != 0;
	if (need > cap)
		return need;
	memcpy(dst, s, first);
	dst += first;
	for (size_t i = first; i < len; i++) {
		char e = copy_escapes[u[i]];

		if (e != 0)
			*dst++ = '\\';
		*dst++ = e != 0 ? e : s[i];
	}
	return need;
}
