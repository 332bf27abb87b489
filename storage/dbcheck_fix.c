/* SPDX-License-Identifier: MIT */
/*
 * `db check`'s explanation of a refused connection: libpq's message, which carries the
 * server's own words, classified (pg_hba.conf, password, role, database, unreachable, ...),
 * and the fix for each class, with the user, database and address taken from that message,
 * else from the conninfo, else from libpq's defaults. See dbcheck.c and dbcheck_impl.h.
 *
 * Threads: the caller's (see dbcheck.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dbcheck_impl.h"

enum conn_fail {
	CF_UNREACHABLE = 0,
	CF_DNS,
	CF_STARTING,
	CF_HBA,
	CF_HBA_REJECT,
	CF_PASSWORD,
	CF_NO_PASSWORD,
	CF_NO_ROLE,
	CF_NO_LOGIN,
	CF_NO_DB,
	CF_NO_CONNECT,
	CF_TOO_MANY,
	CF_READ_ONLY,
	CF_OTHER,
};

static bool
has(const char *haystack, const char *needle)
{
	return strcasestr(haystack, needle) != NULL;
}

/* libpq's message of a failed connection -> why. Order matters: pg_hba.conf messages also
 * name a database and a user. */
static enum conn_fail
conn_classify(const char *msg)
{
	static const struct {
		const char *pattern;
		enum conn_fail why;
	} pats[] = {
		{ "no pg_hba.conf entry", CF_HBA },
		{ "pg_hba.conf rejects", CF_HBA_REJECT },
		{ "authentication failed", CF_PASSWORD },
		{ "no password supplied", CF_NO_PASSWORD },
		{ "is not permitted to log in", CF_NO_LOGIN },
		{ "permission denied for database", CF_NO_CONNECT },
		{ "too many connections", CF_TOO_MANY },
		{ "remaining connection slots", CF_TOO_MANY },
		/* before "no such file": of a multi-host conninfo, some hosts may be down and
		 * the others standbys */
		{ "session is read-only", CF_READ_ONLY },
		{ "server is in hot standby mode", CF_READ_ONLY },
		{ "could not translate host name", CF_DNS },
		{ "starting up", CF_STARTING },
		{ "shutting down", CF_STARTING },
		{ "in recovery mode", CF_STARTING },
		{ "not yet accepting connections", CF_STARTING },
		{ "connection refused", CF_UNREACHABLE },
		{ "timeout expired", CF_UNREACHABLE },
		{ "no route to host", CF_UNREACHABLE },
		{ "network is unreachable", CF_UNREACHABLE },
		{ "no such file or directory", CF_UNREACHABLE },
		{ "server closed the connection", CF_UNREACHABLE },
	};

	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++)
		if (has(msg, pats[i].pattern))
			return pats[i].why;
	if (has(msg, "does not exist") && has(msg, "role \""))
		return CF_NO_ROLE;
	if (has(msg, "does not exist") && has(msg, "database \""))
		return CF_NO_DB;
	return CF_OTHER;
}

static int
conn_errno(enum conn_fail why, int pgdb_rc)
{
	switch (why) {
	case CF_UNREACHABLE:
	case CF_DNS:
	case CF_STARTING:
	case CF_READ_ONLY:
		return -ECONNREFUSED;
	case CF_NO_DB:
		return -ENOENT;
	case CF_TOO_MANY:
		return -EAGAIN;
	case CF_OTHER:
		return pgdb_rc != 0 ? pgdb_rc : -EIO;
	default:
		return -EACCES;
	}
}

/* The value in double quotes after key (e.g. `user "`) in msg, into out; false if absent. */
static bool
quoted_after(const char *msg, const char *key, char *out, size_t len)
{
	const char *p = strstr(msg, key), *e;

	if (p == NULL)
		return false;
	p += strlen(key);
	e = strchr(p, '"');
	if (e == NULL)
		return false;
	snprintf(out, len, "%.*s", (int)(e - p), p);
	return true;
}

/* Who and where a conninfo names: user, dbname, host, port (libpq's defaults filled in). */
struct conn_names {
	char user[64];
	char dbname[64];
	char host[128];
	char port[16];
};

static void
names_take(PQconninfoOption *opts, struct conn_names *n, bool only_missing)
{
	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
		char *dst = NULL;
		size_t len = 0;

		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "user") == 0) {
			dst = n->user;
			len = sizeof(n->user);
		} else if (strcmp(o->keyword, "dbname") == 0) {
			dst = n->dbname;
			len = sizeof(n->dbname);
		} else if (strcmp(o->keyword, "host") == 0) {
			dst = n->host;
			len = sizeof(n->host);
		} else if (strcmp(o->keyword, "port") == 0) {
			dst = n->port;
			len = sizeof(n->port);
		}
		if (dst != NULL && (!only_missing || dst[0] == '\0'))
			snprintf(dst, len, "%s", o->val);
	}
}

static void
conn_names(const char *conninfo, struct conn_names *n)
{
	PQconninfoOption *opts;
	char *perr = NULL;

	memset(n, 0, sizeof(*n));
	opts = PQconninfoParse(conninfo, &perr);
	if (opts != NULL) {
		names_take(opts, n, false);
		PQconninfoFree(opts);
	}
	PQfreemem(perr);
	opts = PQconndefaults();
	if (opts != NULL) {
		names_take(opts, n, true);
		PQconninfoFree(opts);
	}
	if (n->dbname[0] == '\0')
		snprintf(n->dbname, sizeof(n->dbname), "%s", n->user);
	if (n->host[0] == '\0')
		snprintf(n->host, sizeof(n->host), "(default socket)");
	if (n->port[0] == '\0')
		snprintf(n->port, sizeof(n->port), "5432");
}

/* The pg_hba.conf line that lets user into dbname from addr ("[local]": the unix socket). */
static void
hba_line(char *out, size_t len, const char *addr, const char *dbname, const char *user)
{
	if (strcmp(addr, "[local]") == 0)
		snprintf(out, len, "local %s %s scram-sha-256", dbname, user);
	else
		snprintf(out, len, "host %s %s %s/%s scram-sha-256", dbname, user, addr,
			 strchr(addr, ':') != NULL ? "128" : "32");
}

static const char *
node_label(const struct rc_dbcheck_opts *o)
{
	return o != NULL && o->node_name != NULL && o->node_name[0] != '\0' ? o->node_name
									     : "this node";
}

/* The fix for a refused connection; for a pg_hba.conf refusal, also the pg_hba check's
 * detail (hba_detail, else ""). */
static void
conn_fix(enum conn_fail why, const char *msg, const struct conn_names *n,
	 const struct rc_dbcheck_opts *o, char *fix, size_t len, char *hba_detail, size_t hlen)
{
	char user[64], db[64], addr[64], line[256];

	if (!quoted_after(msg, "user \"", user, sizeof(user)) &&
	    !quoted_after(msg, "role \"", user, sizeof(user)))
		snprintf(user, sizeof(user), "%s", n->user);
	if (!quoted_after(msg, "database \"", db, sizeof(db)))
		snprintf(db, sizeof(db), "%s", n->dbname);
	if (!quoted_after(msg, "host \"", addr, sizeof(addr)))
		snprintf(addr, sizeof(addr), "%s",
			 o != NULL && o->node_addr != NULL && o->node_addr[0] != '\0'
				 ? o->node_addr
				 : "NODE_ADDRESS");
	hba_line(line, sizeof(line), addr, db, user);
	hba_detail[0] = '\0';
	switch (why) {
	case CF_UNREACHABLE:
		snprintf(fix, len,
			 "check host/port (%s:%s) and that PostgreSQL listens on it "
			 "(listen_addresses and port in postgresql.conf; firewalls between %s "
			 "and the server)",
			 n->host, n->port, node_label(o));
		return;
	case CF_DNS:
		snprintf(fix, len, "check the host name %s (DNS, /etc/hosts) or use its address",
			 n->host);
		return;
	case CF_STARTING:
		snprintf(fix, len, "the server is starting, stopping or in recovery: wait, or "
				   "point the conninfo at the primary");
		return;
	case CF_HBA:
		snprintf(fix, len,
			 "add this line to pg_hba.conf on the database server, then reload "
			 "PostgreSQL (SELECT pg_reload_conf()): %s",
			 line);
		snprintf(hba_detail, hlen, "pg_hba.conf has no line for user %s, database %s from %s",
			 user, db, addr);
		return;
	case CF_HBA_REJECT:
		snprintf(fix, len,
			 "a 'reject' line of pg_hba.conf matches: put this line above it, then "
			 "reload PostgreSQL (SELECT pg_reload_conf()): %s",
			 line);
		snprintf(hba_detail, hlen,
			 "a 'reject' line of pg_hba.conf refuses user %s, database %s from %s", user,
			 db, addr);
		return;
	case CF_PASSWORD:
		snprintf(fix, len,
			 "check the user and password file: user \"%s\" (conninfo) and the "
			 "password in db.password_file must be the role's (ALTER ROLE %s PASSWORD "
			 "'...' sets it); the server log says more",
			 user, user);
		return;
	case CF_NO_PASSWORD:
		snprintf(fix, len,
			 "the server asks user \"%s\" for a password: set db.password_file to a "
			 "file (mode 0600) holding it",
			 user);
		return;
	case CF_NO_ROLE:
		snprintf(fix, len, "create the role: CREATE ROLE %s LOGIN PASSWORD '...'", user);
		return;
	case CF_NO_LOGIN:
		snprintf(fix, len, "let the role log in: ALTER ROLE %s LOGIN", user);
		return;
	case CF_NO_DB:
		snprintf(fix, len, "create the database: CREATE DATABASE %s OWNER %s", db, user);
		return;
	case CF_NO_CONNECT:
		snprintf(fix, len, "GRANT CONNECT ON DATABASE %s TO %s", db, user);
		return;
	case CF_TOO_MANY:
		snprintf(fix, len, "the server has no free connection slot: raise max_connections "
				   "(or the role's CONNECTION LIMIT), or close idle sessions");
		return;
	case CF_READ_ONLY:
		snprintf(fix, len,
			 "no server of the conninfo accepts writes (%s): they are standbys, or "
			 "the primary is down and no standby promoted yet; list the primary too "
			 "(host=PRIMARY,STANDBY: the node connects to whichever is read-write), or "
			 "promote a standby",
			 n->host);
		return;
	case CF_OTHER:
		break;
	}
	snprintf(fix, len, "see the error; the server's log says more");
}

void
dbcheck_explain(const char *conninfo, const char *msg, int pgdb_rc,
		const struct rc_dbcheck_opts *o, struct dbcheck_refusal *out)
{
	struct conn_names n;
	enum conn_fail why = conn_classify(msg);

	conn_names(conninfo, &n);
	conn_fix(why, msg, &n, o, out->fix, sizeof(out->fix), out->hba_detail,
		 sizeof(out->hba_detail));
	out->rc = conn_errno(why, pgdb_rc);
	out->hba_matched = why >= CF_PASSWORD && why <= CF_NO_CONNECT;
}
