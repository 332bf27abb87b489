/* SPDX-License-Identifier: MIT */
/*
 * The external-database driver: a thin layer over libpq that the storage threads share.
 * It connects (with a timeout, keepalives and an application name), runs statements and
 * COPY, and translates libpq's errors once into -errno plus a one-line text. Nothing here
 * logs; callers log with context.
 *
 * Threads: one struct rc_pgdb belongs to one thread at a time (libpq connections are not
 * thread-safe). The drainer and the history thread each own one.
 */
#ifndef RC_PGDB_H
#define RC_PGDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

struct rc_pgdb {
	PGconn *conn;
	char conninfo[512];
	char err[256]; /* the last error, one line */
	char sqlstate[6]; /* the last failed statement's SQLSTATE ("" if none or unknown) */
	bool lost;        /* a statement found the server read-only: reconnect (rc_pgdb_ok) */
};

/* Connect (conninfo in libpq's syntax; connect_timeout defaults to 3 s, and
 * target_session_attrs to read-write: of a multi-host conninfo, "host=a,b" or "port=p1,p2",
 * the server that accepts writes, i.e. a replicated database's primary, whichever that is
 * now; a conninfo may say target_session_attrs=any to connect to a standby). client_encoding is
 * pinned to UTF8 (whatever the conninfo, the role or the database say), and a database
 * whose server_encoding is not UTF8 is refused: the product stores UTF-8 text, and any
 * other encoding would refuse (or, SQL_ASCII, not check) some of it. 0, or -ECONNREFUSED
 * (server unreachable, or none of the hosts read-write: a promotion under way), -EACCES (authentication or privileges), -EPROTO (not a UTF8
 * database), -EIO (other), with the text in db->err. */
int rc_pgdb_connect(struct rc_pgdb *db, const char *conninfo, const char *appname);
void rc_pgdb_close(struct rc_pgdb *db);
bool rc_pgdb_ok(const struct rc_pgdb *db); /* connected and CONNECTION_OK */

/* True when a failure with this SQLSTATE (db->sqlstate) was the data's fault, not the server's or the connection's:
 * SQLSTATE class 22 (data exception: bad encoding, out of range), 23 (integrity constraint
 * violation) but not 23505 (unique violation: -EEXIST, handled by its callers), or 54
 * (program limit exceeded). Retrying the same rows cannot succeed. */
bool rc_pgdb_data_error(const char *sqlstate);

/* Run SQL without result rows (several statements allowed). 0 or -errno (db->err). */
int rc_pgdb_exec(struct rc_pgdb *db, const char *sql);

/* Run a parameterised statement; *res gets the result (PGRES_TUPLES_OK or COMMAND_OK),
 * which the caller PQclear()s. 0 or -errno. */
int rc_pgdb_query(struct rc_pgdb *db, const char *sql, int nparams, const char *const *params,
		  PGresult **res);

/* COPY ... FROM STDIN: begin, put data (text format), end. 0 or -errno. */
int rc_pgdb_copy_begin(struct rc_pgdb *db, const char *copy_sql);
int rc_pgdb_copy_put(struct rc_pgdb *db, const char *buf, size_t len);
int rc_pgdb_copy_end(struct rc_pgdb *db);

/* Append s to a COPY text-format buffer with escaping (backslash, tab, newline, CR). */
size_t rc_pgdb_copy_escape(char *dst, size_t cap, const char *s, size_t len);

#endif /* RC_PGDB_H */
