/* SPDX-License-Identifier: MIT */
/*
 * Ownership leases: the client side of the rc_lease_* functions of schema version 2 (the
 * SQL, and why it is safe, are in storage/schema.c) and the self-fencing guard. The rules
 * and the timing argument are in lease.h.
 *
 * Each call is one parameterised statement in its own autocommit transaction; the
 * functions answer one row (status, holder, epoch, db_now_us, expires_us) that
 * lease_parse() turns into a struct rc_lease. CLOCK_MONOTONIC is read just before the
 * statement is sent (sent_mono_ms): the guard counts from there.
 *
 * Threads: see lease.h. Nothing here logs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lease.h"

#define LEASE_COLS "status, holder, epoch, db_now_us, expires_us"

/* The status words of the SQL functions, by enum value. */
static const char *const status_str[RC_LEASE_STATUS_MAX] = {
	[RC_LEASE_NEW] = "new",		    [RC_LEASE_RENEWED] = "renewed",
	[RC_LEASE_REACQUIRED] = "reacquired", [RC_LEASE_TAKEN] = "taken",
	[RC_LEASE_FORCED] = "forced",	    [RC_LEASE_BUSY] = "busy",
	[RC_LEASE_STALE] = "stale",	    [RC_LEASE_EXPIRED] = "expired",
	[RC_LEASE_MISSING] = "missing",	    [RC_LEASE_RELEASED] = "released",
	[RC_LEASE_HELD] = "held",	    [RC_LEASE_FREE] = "free",
};

const char *
rc_lease_status_str(enum rc_lease_status s)
{
	return (unsigned)s < RC_LEASE_STATUS_MAX && status_str[s] != NULL ? status_str[s] : "?";
}

uint32_t
rc_lease_margin_ms(uint32_t ttl_ms)
{
	return ttl_ms / 50 + RC_LEASE_SLACK_MS;
}

int
rc_lease_scope(char *buf, size_t len, const char *node)
{
	int n;

	if (node == NULL || node[0] == '\0')
		return -EINVAL;
	n = snprintf(buf, len, "rooms:%s", node);
	return n < 0 || (size_t)n >= len || n > RC_LEASE_NAME_MAX ? -ENAMETOOLONG : 0;
}

int
rc_lease_session(struct rc_pgdb *db, uint32_t timeout_ms)
{
	uint32_t lock_ms = timeout_ms / 4 * 3;
	char sql[128];

	if (timeout_ms == 0)
		return -EINVAL;
	/* synchronous_commit = on whatever the role or database say: with a synchronous
	 * standby, a lease row is on it before the node acts on the answer, so a promotion
	 * of that standby keeps every epoch handed out */
	snprintf(sql, sizeof(sql),
		 "SET statement_timeout = %" PRIu32 "; SET lock_timeout = %" PRIu32
		 "; SET synchronous_commit = on",
		 timeout_ms, lock_ms > 0 ? lock_ms : 1);
	return rc_pgdb_exec(db, sql);
}

static bool
lease_name_ok(const char *s)
{
	return s != NULL && s[0] != '\0' && strnlen(s, RC_LEASE_NAME_MAX + 1) <= RC_LEASE_NAME_MAX;
}

static bool
lease_ttl_ok(uint32_t ttl_ms)
{
	return ttl_ms >= 1 && ttl_ms <= RC_LEASE_TTL_MAX_MS;
}

static enum rc_lease_status
lease_status(const char *word)
{
	for (unsigned i = 0; i < RC_LEASE_STATUS_MAX; i++)
		if (strcmp(word, status_str[i]) == 0)
			return (enum rc_lease_status)i;
	return RC_LEASE_STATUS_MAX;
}

static int64_t
lease_i64(const PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? 0 : strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

/* One answer row -> *out (scope and ttl already set). 0, or -EPROTO (not one known row). */
static int
lease_parse(struct rc_pgdb *db, const PGresult *res, struct rc_lease *out)
{
	if (PQntuples(res) != 1 || PQnfields(res) != 5 || PQgetisnull(res, 0, 0) ||
	    (out->status = lease_status(PQgetvalue(res, 0, 0))) == RC_LEASE_STATUS_MAX) {
		snprintf(db->err, sizeof(db->err), "lease: unexpected answer from the database");
		return -EPROTO;
	}
	snprintf(out->holder, sizeof(out->holder), "%s",
		 PQgetisnull(res, 0, 1) ? "" : PQgetvalue(res, 0, 1));
	out->epoch = (uint64_t)lease_i64(res, 2);
	out->db_now_us = lease_i64(res, 3);
	out->expires_us = PQgetisnull(res, 0, 4) ? out->db_now_us : lease_i64(res, 4);
	out->remaining_ms = out->expires_us > out->db_now_us ?
				    (uint64_t)(out->expires_us - out->db_now_us) / 1000u :
				    0;
	return 0;
}

/* Runs one lease statement; *out gets the answer. 0 or -errno (-EPROTO: odd answer). */
static int
lease_call(struct rc_pgdb *db, const char *sql, int np, const char *const *pm,
	   const char *scope, uint32_t ttl_ms, struct rc_lease *out)
{
	PGresult *res;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(out->scope, sizeof(out->scope), "%s", scope);
	out->ttl_ms = ttl_ms;
	out->status = RC_LEASE_STATUS_MAX;
	out->sent_mono_ms = rc_lease_mono_ms();
	rc = rc_pgdb_query(db, sql, np, pm, &res);
	if (rc != 0)
		return rc;
	rc = lease_parse(db, res, out);
	PQclear(res);
	return rc;
}

static int
lease_acquire(struct rc_pgdb *db, const char *scope, const char *me, uint32_t ttl_ms,
	      bool force, struct rc_lease *out)
{
	char ttl[16];
	const char *pm[4] = { scope, me, ttl, force ? "true" : "false" };
	int rc;

	if (!lease_name_ok(scope) || !lease_name_ok(me) || !lease_ttl_ok(ttl_ms))
		return -EINVAL;
	snprintf(ttl, sizeof(ttl), "%" PRIu32, ttl_ms);
	rc = lease_call(db, "SELECT " LEASE_COLS " FROM rc_lease_acquire($1, $2, $3, $4)", 4, pm,
			scope, ttl_ms, out);
	if (rc != 0)
		return rc;
	switch (out->status) {
	case RC_LEASE_NEW:
	case RC_LEASE_RENEWED:
	case RC_LEASE_REACQUIRED:
	case RC_LEASE_TAKEN:
		return 0;
	case RC_LEASE_FORCED:
		return force ? 0 : -EPROTO;
	case RC_LEASE_BUSY:
		return -EBUSY;
	default:
		return -EPROTO;
	}
}

int
rc_lease_acquire(struct rc_pgdb *db, const char *scope, const char *me, uint32_t ttl_ms,
		 struct rc_lease *out)
{
	return lease_acquire(db, scope, me, ttl_ms, false, out);
}

int
rc_lease_acquire_forced(struct rc_pgdb *db, const char *scope, const char *me,
			uint32_t ttl_ms, struct rc_lease *out)
{
	return lease_acquire(db, scope, me, ttl_ms, true, out);
}

int
rc_lease_renew(struct rc_pgdb *db, const char *scope, const char *me, uint64_t epoch,
	       uint32_t ttl_ms, struct rc_lease *out)
{
	char ep[24], ttl[16];
	const char *pm[4] = { scope, me, ep, ttl };
	int rc;

	if (!lease_name_ok(scope) || !lease_name_ok(me) || !lease_ttl_ok(ttl_ms) || epoch == 0 ||
	    epoch > INT64_MAX)
		return -EINVAL;
	snprintf(ep, sizeof(ep), "%" PRIu64, epoch);
	snprintf(ttl, sizeof(ttl), "%" PRIu32, ttl_ms);
	rc = lease_call(db, "SELECT " LEASE_COLS " FROM rc_lease_renew($1, $2, $3, $4)", 4, pm,
			scope, ttl_ms, out);
	if (rc != 0)
		return rc;
	if (out->status == RC_LEASE_RENEWED)
		return 0;
	if (out->status == RC_LEASE_STALE || out->status == RC_LEASE_EXPIRED ||
	    out->status == RC_LEASE_MISSING)
		return -ESTALE;
	return -EPROTO;
}

int
rc_lease_release(struct rc_pgdb *db, const char *scope, const char *me, uint64_t epoch,
		 struct rc_lease_guard *g, struct rc_lease *out)
{
	char ep[24];
	const char *pm[3] = { scope, me, ep };
	struct rc_lease scratch;
	int rc;

	if (!lease_name_ok(scope) || !lease_name_ok(me) || epoch == 0 || epoch > INT64_MAX)
		return -EINVAL;
	if (g != NULL)
		rc_lease_guard_revoke(g);
	if (out == NULL)
		out = &scratch;
	snprintf(ep, sizeof(ep), "%" PRIu64, epoch);
	rc = lease_call(db, "SELECT " LEASE_COLS " FROM rc_lease_release($1, $2, $3)", 3, pm,
			scope, 0, out);
	if (rc != 0)
		return rc;
	if (out->status == RC_LEASE_RELEASED)
		return 0;
	if (out->status == RC_LEASE_STALE || out->status == RC_LEASE_MISSING)
		return -ESTALE;
	return -EPROTO;
}

int
rc_lease_get(struct rc_pgdb *db, const char *scope, struct rc_lease *out)
{
	const char *pm[1] = { scope };
	int rc;

	if (!lease_name_ok(scope))
		return -EINVAL;
	rc = lease_call(db,
			"SELECT CASE WHEN h.owner_scope IS NULL THEN 'missing'"
			" WHEN h.expires_at > t THEN 'held' ELSE 'free' END, h.holder, h.epoch,"
			" (extract(epoch FROM t) * 1000000)::bigint,"
			" (extract(epoch FROM h.expires_at) * 1000000)::bigint"
			" FROM (SELECT statement_timestamp() AS t) n"
			" LEFT JOIN ha_lease h ON h.owner_scope = $1",
			1, pm, scope, 0, out);
	if (rc != 0)
		return rc;
	return out->status == RC_LEASE_MISSING ? -ENOENT : 0;
}

/* ---- the guard ---- */

void
rc_lease_guard_grant(struct rc_lease_guard *g, const struct rc_lease *l, uint32_t margin_ms)
{
	uint64_t until = margin_ms < l->ttl_ms ? l->sent_mono_ms + l->ttl_ms - margin_ms : 0;

	/* a reader that sees the new deadline sees the new epoch */
	atomic_store_explicit(&g->epoch, l->epoch, memory_order_relaxed);
	atomic_store_explicit(&g->valid_until_mono_ms, until, memory_order_release);
}

void
rc_lease_guard_revoke(struct rc_lease_guard *g)
{
	atomic_store_explicit(&g->valid_until_mono_ms, 0, memory_order_release);
}

