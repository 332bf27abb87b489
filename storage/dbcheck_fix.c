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
#include "text.h"

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
	CF_MAX,
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

/*
 * The fix of each class, and for the pg_hba.conf refusals the pg_hba check's detail too:
 * texts in which a word in braces stands for a name of the refusal (enum fix_word).
 */
enum fix_word {
	W_USER = 0, /* the role: the message's, else the conninfo's */
	W_DB,       /* the database: the message's, else the conninfo's */
	W_ADDR,     /* the node's address: the message's, else the options', else a placeholder */
	W_LINE,     /* the pg_hba.conf line that lets W_USER into W_DB from W_ADDR */
	W_HOST,     /* the conninfo's host and port */
	W_PORT,
	W_NODE,     /* the node's name */
	W_MAX,
};

static const char *const fix_word_names[W_MAX] = {
	[W_USER] = "user", [W_DB] = "db",     [W_ADDR] = "addr", [W_LINE] = "line",
	[W_HOST] = "host", [W_PORT] = "port", [W_NODE] = "node",
};

static const struct {
	const char *fix;
	const char *hba_detail; /* NULL: not a pg_hba.conf refusal */
} fixes[CF_MAX] = {
	[CF_UNREACHABLE] = { "check host/port ({host}:{port}) and that PostgreSQL listens on it "
			     "(listen_addresses and port in postgresql.conf; firewalls between "
			     "{node} and the server)" },
	[CF_DNS] = { "check the host name {host} (DNS, /etc/hosts) or use its address" },
	[CF_STARTING] = { "the server is starting, stopping or in recovery: wait, or point the "
			  "conninfo at the primary" },
	[CF_HBA] = { "add this line to pg_hba.conf on the database server, then reload "
		     "PostgreSQL (SELECT pg_reload_conf()): {line}",
		     "pg_hba.conf has no line for user {user}, database {db} from {addr}" },
	[CF_HBA_REJECT] = { "a 'reject' line of pg_hba.conf matches: put this line above it, "
			    "then reload PostgreSQL (SELECT pg_reload_conf()): {line}",
			    "a 'reject' line of pg_hba.conf refuses user {user}, database {db} "
			    "from {addr}" },
	[CF_PASSWORD] = { "check the user and password file: user \"{user}\" (conninfo) and the "
			  "password in db.password_file must be the role's (ALTER ROLE {user} "
			  "PASSWORD '...' sets it); the server log says more" },
	[CF_NO_PASSWORD] = { "the server asks user \"{user}\" for a password: set "
			     "db.password_file to a file (mode 0600) holding it" },
	[CF_NO_ROLE] = { "create the role: CREATE ROLE {user} LOGIN PASSWORD '...'" },
	[CF_NO_LOGIN] = { "let the role log in: ALTER ROLE {user} LOGIN" },
	[CF_NO_DB] = { "create the database: CREATE DATABASE {db} OWNER {user}" },
	[CF_NO_CONNECT] = { "GRANT CONNECT ON DATABASE {db} TO {user}" },
	[CF_TOO_MANY] = { "the server has no free connection slot: raise max_connections (or "
			  "the role's CONNECTION LIMIT), or close idle sessions" },
	[CF_READ_ONLY] = { "no server of the conninfo accepts writes ({host}): they are "
			   "standbys, or the primary is down and no standby promoted yet; list the "
			   "primary too (host=PRIMARY,STANDBY: the node connects to whichever is "
			   "read-write), or promote a standby" },
	[CF_OTHER] = { "see the error; the server's log says more" },
};

/* The names a fix may use (fix_word), taken from msg, else n, else o. */
struct fix_names {
	char user[64];
	char db[64];
	char addr[64];
	char line[256];
	const char *word[W_MAX];
};

static void
fix_names(const char *msg, const struct conn_names *n, const struct rc_dbcheck_opts *o,
	  struct fix_names *f)
{
	if (!quoted_after(msg, "user \"", f->user, sizeof(f->user)) &&
	    !quoted_after(msg, "role \"", f->user, sizeof(f->user)))
		snprintf(f->user, sizeof(f->user), "%s", n->user);
	if (!quoted_after(msg, "database \"", f->db, sizeof(f->db)))
		snprintf(f->db, sizeof(f->db), "%s", n->dbname);
	if (!quoted_after(msg, "host \"", f->addr, sizeof(f->addr)))
		snprintf(f->addr, sizeof(f->addr), "%s",
			 o != NULL && o->node_addr != NULL && o->node_addr[0] != '\0'
				 ? o->node_addr
				 : "NODE_ADDRESS");
	hba_line(f->line, sizeof(f->line), f->addr, f->db, f->user);
	f->word[W_USER] = f->user;
	f->word[W_DB] = f->db;
	f->word[W_ADDR] = f->addr;
	f->word[W_LINE] = f->line;
	f->word[W_HOST] = n->host;
	f->word[W_PORT] = n->port;
	f->word[W_NODE] = node_label(o);
}

/* The name that the word text[0..len) stands for; an unknown word stays as written. */
static void
put_word(struct rc_text *t, const char *text, size_t len, const struct fix_names *f)
{
	for (unsigned w = 0; w < W_MAX; w++)
		if (strlen(fix_word_names[w]) == len &&
		    strncmp(fix_word_names[w], text, len) == 0) {
			rc_text_printf(t, "%s", f->word[w]);
			return;
		}
	rc_text_printf(t, "{%.*s}", (int)len, text);
}

/* tmpl with its words filled in, into out[0..len) (cut as snprintf cuts). */
static void
fill(char *out, size_t len, const char *tmpl, const struct fix_names *f)
{
	struct rc_text t = rc_text_fixed(out, len);
	const char *open, *close;

	while ((open = strchr(tmpl, '{')) != NULL && (close = strchr(open, '}')) != NULL) {
		rc_text_printf(&t, "%.*s", (int)(open - tmpl), tmpl);
		put_word(&t, open + 1, (size_t)(close - open - 1), f);
		tmpl = close + 1;
	}
	rc_text_printf(&t, "%s", tmpl);
}

/* The fix for a refused connection; for a pg_hba.conf refusal, also the pg_hba check's
 * detail (hba_detail, else ""). */
static void
conn_fix(enum conn_fail why, const char *msg, const struct conn_names *n,
	 const struct rc_dbcheck_opts *o, char *fix, size_t len, char *hba_detail, size_t hlen)
{
	struct fix_names f;

	fix_names(msg, n, o, &f);
	fill(fix, len, fixes[why].fix, &f);
	fill(hba_detail, hlen, fixes[why].hba_detail != NULL ? fixes[why].hba_detail : "", &f);
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
