/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of storage/lease.c and of schema version 2 (ha_lease, the rc_lease_*
 * functions, the messages fence) against a real PostgreSQL (tests/unit/pg_fixture.h), each
 * test in a database of its own; the drainer's handling of a refused epoch with a real WAL
 * (EAL with --no-huge), once per method.
 *
 * Two "nodes", n1 and n2, each with its own connection, contend for scope rooms:n1.
 *
 *   lease_test [PATH/TO/pg-fixture.sh]
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <rte_common.h>
#include <rte_memory.h>

#include "drain_fixture.h"
#include "drainer.h"
#include "lease.h"
#include "pg_fixture.h"
#include "schema.h"
#include "wal_fixture.h"

#define TTL 600     /* ms: short leases, so that tests can wait for expiry */
#define MARGIN 50   /* ms */
#define SCOPE "rooms:n1"

struct fx {
	enum rc_drain_method method;
	char conninfo[600];
	struct rc_pgdb n1, n2;
	char dir[128];
	struct rc_wal *w;
	struct rc_drainer *d;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	f->method = fx_method(state);
	assert_int_equal(pgfx_newdb(f->conninfo, sizeof(f->conninfo)), 0);
	assert_int_equal(rc_pgdb_connect(&f->n1, f->conninfo, "lease_test n1"), 0);
	assert_int_equal(rc_pgdb_connect(&f->n2, f->conninfo, "lease_test n2"), 0);
	assert_int_equal(rc_schema_migrate(&f->n1, NULL, err, sizeof(err)), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	rc_drainer_destroy(f->d);
	if (f->w != NULL)
		rc_wal_close(f->w);
	if (f->dir[0] != '\0')
		fx_rmdir(f->dir);
	rc_pgdb_close(&f->n1);
	rc_pgdb_close(&f->n2);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* A message row of `node` at `epoch`, written straight into messages: 0 or -errno. */
static int
insert_msg(struct rc_pgdb *db, unsigned seq, const char *node, uint64_t epoch)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 "INSERT INTO messages (room, seq, sender, ts_ms, body, cmid, epoch, node)"
		 " VALUES ('lobby', %u, 'al', 1, 'hi', %u, %" PRIu64 ", '%s')",
		 seq, seq, epoch, node);
	return rc_pgdb_exec(db, sql);
}

/* Rows (COPY text) into messages: the result of the COPY. */
static int
copy_rows(struct rc_pgdb *db, const char *rows)
{
	assert_int_equal(rc_pgdb_copy_begin(db, "COPY messages (room, seq, sender, ts_ms, body,"
						" cmid, epoch, node) FROM STDIN"), 0);
	assert_int_equal(rc_pgdb_copy_put(db, rows, strlen(rows)), 0);
	return rc_pgdb_copy_end(db);
}

/* The SQLSTATE of a statement run on its own connection ("" when it succeeds). */
static void
sqlstate_of(const char *conninfo, const char *sql, char state[6])
{
	PGconn *c = PQconnectdb(conninfo);
	PGresult *r;
	const char *s;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PQsetNoticeProcessor(c, pgfx_quiet, NULL);
	r = PQexec(c, sql);
	s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	snprintf(state, 6, "%s", s != NULL ? s : "");
	PQclear(r);
	PQfinish(c);
}

static long long
num(struct fx *f, const char *sql)
{
	return pgfx_num(f->conninfo, sql);
}

/* ---- the API without a database ---- */

static void
test_strings_and_args(void **state)
{
	struct rc_pgdb none = { 0 };
	struct rc_lease l;
	char buf[RC_LEASE_NAME_MAX + 8], big[RC_LEASE_NAME_MAX + 2];

	(void)state;
	for (unsigned i = 0; i < RC_LEASE_STATUS_MAX; i++)
		assert_string_not_equal(rc_lease_status_str((enum rc_lease_status)i), "?");
	assert_string_equal(rc_lease_status_str(RC_LEASE_STATUS_MAX), "?");
	assert_string_equal(rc_lease_status_str(RC_LEASE_TAKEN), "taken");

	assert_int_equal(rc_lease_scope(buf, sizeof(buf), "n1"), 0);
	assert_string_equal(buf, "rooms:n1");
	assert_int_equal(rc_lease_scope(buf, sizeof(buf), ""), -EINVAL);
	assert_int_equal(rc_lease_scope(buf, 6, "n1"), -ENAMETOOLONG);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(rc_lease_scope(buf, sizeof(buf), big), -ENAMETOOLONG);

	assert_int_equal(rc_lease_acquire(&none, SCOPE, "n1", 0, &l), -EINVAL);
	assert_int_equal(rc_lease_acquire(&none, SCOPE, "n1", RC_LEASE_TTL_MAX_MS + 1, &l),
			 -EINVAL);
	assert_int_equal(rc_lease_acquire(&none, "", "n1", TTL, &l), -EINVAL);
	assert_int_equal(rc_lease_acquire(&none, SCOPE, big, TTL, &l), -EINVAL);
	assert_int_equal(rc_lease_renew(&none, SCOPE, "n1", 0, TTL, &l), -EINVAL);
	assert_int_equal(rc_lease_release(&none, SCOPE, "n1", 0, NULL, NULL), -EINVAL);
	assert_int_equal(rc_lease_acquire(&none, SCOPE, "n1", TTL, &l), -ENOTCONN);

	assert_int_equal(rc_lease_margin_ms(3000), 60 + RC_LEASE_SLACK_MS);
	assert_true(rc_lease_mono_ms() > 0);
}

static void
test_guard_basics(void **state)
{
	struct rc_lease_guard g = { 0 };
	struct rc_lease l = { .epoch = 4, .ttl_ms = 1000, .sent_mono_ms = 5000 };

	(void)state;
	assert_false(rc_lease_guard_ok(&g, 0));
	assert_int_equal(rc_lease_guard_epoch(&g), 0);
	rc_lease_guard_grant(&g, &l, 100);
	assert_int_equal(rc_lease_guard_epoch(&g), 4);
	assert_true(rc_lease_guard_ok(&g, 5000));
	assert_true(rc_lease_guard_ok(&g, 5899));
	assert_false(rc_lease_guard_ok(&g, 5900));
	rc_lease_guard_revoke(&g);
	assert_false(rc_lease_guard_ok(&g, 5000));
	rc_lease_guard_grant(&g, &l, 1000); /* a margin as long as the lease: never valid */
	assert_false(rc_lease_guard_ok(&g, 5000));
}

/* ---- acquire, renew, busy ---- */

static void
test_acquire_renew_busy(void **state)
{
	struct fx *f = *state;
	struct rc_lease l, o;
	uint64_t t0 = rc_lease_mono_ms();

	assert_int_equal(rc_lease_get(&f->n1, SCOPE, &l), -ENOENT);
	assert_int_equal(l.status, RC_LEASE_MISSING);
	/* free: the first lease of the scope gets epoch 1 */
	assert_int_equal(rc_lease_acquire(&f->n1, SCOPE, "n1", 5000, &l), 0);
	assert_int_equal(l.status, RC_LEASE_NEW);
	assert_string_equal(l.scope, SCOPE);
	assert_string_equal(l.holder, "n1");
	assert_int_equal(l.epoch, 1);
	assert_int_equal(l.expires_us - l.db_now_us, 5000000);
	assert_int_equal(l.remaining_ms, 5000);
	assert_true(l.sent_mono_ms >= t0 && l.sent_mono_ms <= rc_lease_mono_ms());
	/* acquiring what I hold is a renewal: same epoch, later expiry */
	assert_int_equal(rc_lease_acquire(&f->n1, SCOPE, "n1", 5000, &o), 0);
	assert_int_equal(o.status, RC_LEASE_RENEWED);
	assert_int_equal(o.epoch, 1);
	assert_true(o.expires_us >= l.expires_us);
	assert_int_equal(rc_lease_renew(&f->n1, SCOPE, "n1", 1, 5000, &l), 0);
	assert_int_equal(l.status, RC_LEASE_RENEWED);
	assert_int_equal(l.epoch, 1);
	/* a renewal with a shorter ttl never shortens the lease */
	assert_int_equal(rc_lease_renew(&f->n1, SCOPE, "n1", 1, 10, &o), 0);
	assert_int_equal(o.expires_us, l.expires_us);
	/* another node: busy, told who holds it and for how long */
	assert_int_equal(rc_lease_acquire(&f->n2, SCOPE, "n2", 5000, &o), -EBUSY);
	assert_int_equal(o.status, RC_LEASE_BUSY);
	assert_string_equal(o.holder, "n1");
	assert_int_equal(o.epoch, 1);
	assert_true(o.remaining_ms > 4000 && o.remaining_ms <= 5000);
	/* renewing with the wrong epoch or as someone else: stale */
	assert_int_equal(rc_lease_renew(&f->n1, SCOPE, "n1", 2, 5000, &o), -ESTALE);
	assert_int_equal(o.status, RC_LEASE_STALE);
	assert_int_equal(rc_lease_renew(&f->n2, SCOPE, "n2", 1, 5000, &o), -ESTALE);
	assert_int_equal(rc_lease_renew(&f->n1, "rooms:n9", "n1", 1, 5000, &o), -ESTALE);
	assert_int_equal(o.status, RC_LEASE_MISSING);
	assert_int_equal(rc_lease_get(&f->n2, SCOPE, &o), 0);
	assert_int_equal(o.status, RC_LEASE_HELD);
	assert_string_equal(o.holder, "n1");
	/* the database refuses bad arguments itself too */
	assert_int_equal(rc_pgdb_exec(&f->n1, "SELECT rc_lease_acquire('s', 'h', 0)"), -EIO);
	assert_non_null(strstr(f->n1.err, "bad argument"));
}

/* ---- takeover after expiry, the fence ---- */

static void
test_takeover_and_fence(void **state)
{
	struct fx *f = *state;
	struct rc_lease l, o;
	char st[6];

	assert_int_equal(rc_lease_acquire(&f->n1, SCOPE, "n1", TTL, &l), 0);
	assert_int_equal(insert_msg(&f->n1, 1, "n1", 1), 0);
	assert_int_equal(rc_lease_acquire(&f->n2, SCOPE, "n2", TTL, &o), -EBUSY);
	sleep_ms(TTL + 100);
	/* expired: n2 takes it, epoch + 1 */
	assert_int_equal(rc_lease_acquire(&f->n2, SCOPE, "n2", 5000, &o), 0);
	assert_int_equal(o.status, RC_LEASE_TAKEN);
	assert_string_equal(o.holder, "n2");
	assert_int_equal(o.epoch, 2);
	/* the old holder cannot renew: fence now; it learns who holds it */
	assert_int_equal(rc_lease_renew(&f->n1, SCOPE, "n1", 1, TTL, &l), -ESTALE);
	assert_int_equal(l.status, RC_LEASE_STALE);
	assert_string_equal(l.holder, "n2");
	assert_int_equal(l.epoch, 2);
	/* its writes at epoch 1 are refused by the database, with SQLSTATE RC001 */
	assert_int_equal(insert_msg(&f->n1, 2, "n1", 1), -ESTALE);
	assert_non_null(strstr(f->n1.err, "epoch 1 of node n1 is stale: lease rooms:n1 is at "
					  "epoch 2 (held by n2)"));
	sqlstate_of(f->conninfo,
		    "INSERT INTO messages (room, seq, sender, ts_ms, body, cmid,"
		    " epoch, node) VALUES ('lobby', 2, 'al', 1, 'hi', 2, 1, 'n1')",
		    st);
	assert_string_equal(st, RC_LEASE_SQLSTATE_STALE);
	/* ... also in a COPY, and a multi-row statement fails whole */
	assert_int_equal(copy_rows(&f->n1, "lobby\t3\tal\t1\thi\t3\t2\tn1\n"
					   "lobby\t4\tal\t1\thi\t4\t1\tn1\n"), -ESTALE);
	/* so are epoch 0 (no HA) and a higher epoch (another lineage) for a leased scope */
	assert_int_equal(insert_msg(&f->n1, 5, "n1", 0), -ESTALE);
	assert_int_equal(insert_msg(&f->n1, 5, "n1", 3), -ESTALE);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 1);
	/* the new term's rows go in: n1's rooms under lease rooms:n1 at epoch 2 */
	assert_int_equal(insert_msg(&f->n2, 2, "n1", 2), 0);
	/* a re-drain of a row already there writes nothing, so it is not checked */
	assert_int_equal(rc_pgdb_exec(&f->n1, "INSERT INTO messages (room, seq, sender, ts_ms,"
					      " body, cmid, epoch, node) VALUES ('lobby', 1,"
					      " 'al', 1, 'hi', 1, 1, 'n1') ON CONFLICT DO NOTHING"),
			 0);
	/* the survivor writing under its own id: no lease for rooms:n2 yet -> no check;
	 * once it holds rooms:n2, its rows must carry that epoch */
	assert_int_equal(insert_msg(&f->n2, 3, "n2", 0), 0);
	assert_int_equal(rc_lease_acquire(&f->n2, "rooms:n2", "n2", 5000, &o), 0);
	assert_int_equal(insert_msg(&f->n2, 4, "n2", 1), 0);
	assert_int_equal(insert_msg(&f->n2, 5, "n2", 0), -ESTALE);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 4);
	/* a repair session may switch the fence off for its transaction */
	assert_int_equal(rc_pgdb_exec(&f->n1, "BEGIN; SET LOCAL roomcast.fence = 'off'"), 0);
	assert_int_equal(insert_msg(&f->n1, 9, "n1", 1), 0);
	assert_int_equal(rc_pgdb_exec(&f->n1, "COMMIT"), 0);
	assert_int_equal(insert_msg(&f->n1, 10, "n1", 1), -ESTALE);
}

/* An expired lease is not renewed; its holder acquires again and gets a new epoch. */
static void
test_expired_reacquire(void **state)
{
	struct fx *f = *state;
	struct rc_lease l;

	assert_int_equal(rc_lease_acquire(&f->n1, SCOPE, "n1", TTL, &l), 0);
	sleep_ms(TTL + 100);
	assert_int_equal(rc_lease_get(&f->n1, SCOPE, &l), 0);
	assert_int_equal(l.status, RC_LEASE_FREE);
	assert_int_equal(l.remaining_ms, 0);
	assert_int_equal(rc_lease_renew(&f->n1, SCOPE, "n1", 1, TTL, &l), -ESTALE);
	assert_int_equal(l.status, RC_LEASE_EXPIRED);
	assert_string_equal(l.holder, "n1");
	assert_int_equal(rc_lease_acquire(&f->n1, SCOPE, "n1", TTL, &l), 0);
	assert_int_equal(l.status, RC_LEASE_REACQUIRED);
	assert_int_equal(l.epoch, 2);
	assert_int_equal(insert_msg(&f->n1, 1, "n1", 1), -ESTALE);
	assert_int_equal(insert_msg(&f->n1, 1, "n1", 2), 0);
}

/* Fallback: the holder hands back, the other acquires at once with epoch + 1. */
static void
test_release_reacquire(void **state)
{
	struct fx *f = *state;
	struct rc_lease_guard g = { 0 };
	struct rc_lease l, o;

	assert_int_equal(rc_lease_acquire(&f->n2, SCOPE, "n2", 5000, &l), 0);
	rc_lease_guard_grant(&g, &l, MARGIN);
	assert_true(rc_lease_guard_ok(&g, rc_lease_mono_ms()));
	assert_int_equal(rc_lease_acquire(&f->n1, SCOPE, "n1", 5000, &o), -EBUSY);
	/* not mine, or not my epoch: refused, the guard untouched */
	assert_int_equal(rc_lease_release(&f->n1, SCOPE, "n1", 1, NULL, &o), -ESTALE);
	assert_int_equal(o.status, RC_LEASE_STALE);
	assert_int_equal(rc_lease_release(&f->n2, SCOPE, "n2", 7, NULL, NULL), -ESTALE);
	assert_int_equal(rc_lease_release(&f->n2, "rooms:n9", "n2", 1, NULL, &o), -ESTALE);
	assert_int_equal(o.status, RC_LEASE_MISSING);
	/* the release revokes the guard first */
	assert_int_equal(rc_lease_release(&f->n2, SCOPE, "n2", 1, &g, &o), 0);
	assert_int_equal(o.status, RC_LEASE_RELEASED);
	assert_int_equal(o.remaining_ms, 0);
	assert_false(rc_lease_guard_ok(&g, rc_lease_mono_ms()));
	assert_int_equal(rc_lease_get(&f->n1, SCOPE, &o), 0);
	assert_int_equal(o.status, RC_LEASE_FREE);
	/* idempotent */
	assert_int_equal(rc_lease_release(&f->n2, SCOPE, "n2", 1, NULL, NULL), 0);
	assert_int_equal(rc_lease_acquire(&f->n1, SCOPE, "n1", 5000, &o), 0);
	assert_int_equal(o.status, RC_LEASE_TAKEN);
	assert_int_equal(o.epoch, 2);
	assert_int_equal(rc_lease_release(&f->n2, SCOPE, "n2", 1, NULL, NULL), -ESTALE);
	assert_int_equal(rc_lease_renew(&f->n2, SCOPE, "n2", 1, 5000, &l), -ESTALE);
	/* and back again: released by n1, re-acquired by n1 itself: a new term */
	assert_int_equal(rc_lease_release(&f->n1, SCOPE, "n1", 2, NULL, NULL), 0);
	assert_int_equal(rc_lease_acquire(&f->n1, SCOPE, "n1", 5000, &o), 0);
	assert_int_equal(o.status, RC_LEASE_REACQUIRED);
	assert_int_equal(o.epoch, 3);
}

/* Admin failover: force takes a valid lease. */
static void
test_forced(void **state)
{
	struct fx *f = *state;
	struct rc_lease l, o;

	assert_int_equal(rc_lease_acquire(&f->n1, SCOPE, "n1", 60000, &l), 0);
	assert_int_equal(rc_lease_acquire(&f->n2, SCOPE, "n2", 5000, &o), -EBUSY);
	assert_int_equal(rc_lease_acquire_forced(&f->n2, SCOPE, "n2", 5000, &o), 0);
	assert_int_equal(o.status, RC_LEASE_FORCED);
	assert_int_equal(o.epoch, 2);
	assert_int_equal(o.remaining_ms, 5000);
	assert_int_equal(rc_lease_renew(&f->n1, SCOPE, "n1", 1, 60000, &l), -ESTALE);
	assert_int_equal(insert_msg(&f->n1, 1, "n1", 1), -ESTALE);
	/* forcing what I hold is a renewal */
	assert_int_equal(rc_lease_acquire_forced(&f->n2, SCOPE, "n2", 5000, &o), 0);
	assert_int_equal(o.status, RC_LEASE_RENEWED);
	assert_int_equal(o.epoch, 2);
}

/* ---- the guard against the database's clock ---- */

/* Is the lease valid on the database's clock right now (clock_timestamp())? */
static bool
db_valid_now(struct rc_pgdb *db)
{
	PGresult *res;
	bool v;

	assert_int_equal(rc_pgdb_query(db, "SELECT expires_at > clock_timestamp() FROM ha_lease"
					   " WHERE owner_scope = 'rooms:n1'", 0, NULL, &res), 0);
	v = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return v;
}

/* Samples until the database says expired: the guard is never OK while the database
 * already says expired (the reading of the monotonic clock comes after the database's,
 * so this is what safety needs, sampled), and the guard stops before the database
 * expires. Returns how long before, as sampled, ms. */
static uint64_t
watch_expiry(struct rc_pgdb *db, const struct rc_lease_guard *g)
{
	uint64_t first_stop = 0, end = 0, t;
	bool db_valid;

	do {
		db_valid = db_valid_now(db);
		t = rc_lease_mono_ms(); /* after the database's reading */
		if (rc_lease_guard_ok(g, t))
			assert_true(db_valid);
		else if (first_stop == 0)
			first_stop = t;
		end = t;
	} while (db_valid);
	assert_true(first_stop != 0);
	return end - first_stop;
}

static void
test_guard_timing(void **state)
{
	struct fx *f = *state;
	struct rc_lease_guard g = { 0 };
	struct rc_lease l;
	int64_t guard_db_us;
	uint64_t window;

	assert_int_equal(rc_lease_acquire(&f->n1, SCOPE, "n1", TTL, &l), 0);
	rc_lease_guard_grant(&g, &l, MARGIN);
	assert_int_equal(rc_lease_guard_epoch(&g), 1);
	/* on the database's timeline: the guard ends before the lease, by the margin at least
	 * (sent_mono_ms was read before db_now) */
	guard_db_us = l.db_now_us + (int64_t)(g.valid_until_mono_ms - l.sent_mono_ms) * 1000;
	assert_true(guard_db_us <= l.expires_us - MARGIN * 1000);
	assert_true(rc_lease_guard_ok(&g, rc_lease_mono_ms()));
	/* a renewal half-way moves both */
	sleep_ms(TTL / 2);
	assert_int_equal(rc_lease_renew(&f->n1, SCOPE, "n1", 1, TTL, &l), 0);
	rc_lease_guard_grant(&g, &l, MARGIN);
	guard_db_us = l.db_now_us + (int64_t)(g.valid_until_mono_ms - l.sent_mono_ms) * 1000;
	assert_true(guard_db_us <= l.expires_us - MARGIN * 1000);
	window = watch_expiry(&f->n2, &g);
	assert_true(window < TTL / 2); /* about MARGIN (sampling on a busy machine is coarse) */
	assert_false(rc_lease_guard_ok(&g, rc_lease_mono_ms()));
}

/* ---- single node: no lease rows ---- */

static void
test_epoch0_without_lease(void **state)
{
	struct fx *f = *state;
	struct rc_lease l;

	assert_int_equal(insert_msg(&f->n1, 1, "n1", 0), 0);
	assert_int_equal(insert_msg(&f->n1, 2, "n1", 5), 0); /* no lease, no check */
	assert_int_equal(copy_rows(&f->n1, "lobby\t3\tal\t1\thi\t3\t0\tn1\n"), 0);
	/* another scope's lease does not concern n1's rows */
	assert_int_equal(rc_lease_acquire(&f->n2, "rooms:n2", "n2", 5000, &l), 0);
	assert_int_equal(insert_msg(&f->n1, 4, "n1", 0), 0);
	assert_int_equal(insert_msg(&f->n1, 5, "n2", 0), -ESTALE);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 4);
}

/* ---- locking: takeovers wait for writers that passed the check, renewals do not ---- */

static void
test_takeover_waits_for_writer(void **state)
{
	struct fx *f = *state;
	struct rc_pgdb admin = { 0 };
	struct rc_lease l, o;
	PGresult *res;
	bool busy = true;
	uint64_t t0;

	assert_int_equal(rc_pgdb_connect(&admin, f->conninfo, "lease_test admin"), 0);
	assert_int_equal(rc_lease_acquire(&f->n1, SCOPE, "n1", 60000, &l), 0);
	/* n1's writer (the drainer's connection) is inside a batch that passed the check */
	assert_int_equal(rc_pgdb_exec(&f->n1, "BEGIN"), 0);
	assert_int_equal(insert_msg(&f->n1, 1, "n1", 1), 0);
	assert_int_equal(rc_pgdb_query(&f->n1, "SHOW idle_in_transaction_session_timeout", 0,
				       NULL, &res), 0);
	assert_string_equal(PQgetvalue(res, 0, 0), "5s");
	PQclear(res);
	/* a renewal does not wait for it (n1's control connection) */
	assert_int_equal(rc_lease_session(&f->n2, 2000), 0);
	assert_int_equal(rc_lease_renew(&f->n2, SCOPE, "n1", 1, 60000, &o), 0);
	/* a forced takeover does, until the batch commits */
	assert_int_equal(PQsendQuery(admin.conn, "SELECT status, epoch FROM"
				     " rc_lease_acquire('rooms:n1', 'n2', 5000, true)"), 1);
	t0 = rc_lease_mono_ms();
	while (rc_lease_mono_ms() - t0 < 300 && busy) {
		assert_int_equal(PQconsumeInput(admin.conn), 1);
		busy = PQisBusy(admin.conn) != 0;
		sleep_ms(10);
	}
	assert_true(busy);
	assert_int_equal(rc_pgdb_exec(&f->n1, "COMMIT"), 0);
	res = PQgetResult(admin.conn);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "forced");
	assert_string_equal(PQgetvalue(res, 0, 1), "2");
	PQclear(res);
	assert_null(PQgetResult(admin.conn));
	/* the batch is in (it committed before the takeover); the next one is refused */
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 1);
	assert_int_equal(insert_msg(&f->n1, 2, "n1", 1), -ESTALE);
	/* a takeover with a lock timeout gives up with -EAGAIN while a batch is open */
	assert_int_equal(rc_pgdb_exec(&f->n1, "BEGIN"), 0);
	assert_int_equal(insert_msg(&f->n1, 2, "n1", 2), 0);
	assert_int_equal(rc_lease_session(&admin, 100), 0);
	assert_int_equal(rc_lease_acquire_forced(&admin, SCOPE, "n1", 5000, &o), -EAGAIN);
	assert_int_equal(rc_pgdb_exec(&f->n1, "COMMIT"), 0);
	assert_int_equal(rc_lease_acquire_forced(&admin, SCOPE, "n1", 5000, &o), 0);
	assert_int_equal(o.epoch, 3);
	rc_pgdb_close(&admin);
}

/* ---- a takeover never waits on a dead host (issue 9) ---- */

/* A connection of the old owner's drainer, named as roomcastd names it. */
static void
drainer_conn(struct fx *f, struct rc_pgdb *db, const char *scope, uint64_t epoch)
{
	char app[64];

	snprintf(app, sizeof(app), "roomcastd-drainer %s e%" PRIu64, scope, epoch);
	assert_int_equal(rc_pgdb_connect(db, f->conninfo, app), 0);
}

/* The old owner's host froze (or lost its network) with a drain transaction open: after a
 * batch (idle in transaction: the fence's KEY SHARE lock on the lease row, an uncommitted
 * row), or in the middle of the next COPY (the server waits for data that never comes).
 * PostgreSQL would keep its locks until idle_in_transaction_session_timeout (5 s) or the
 * statement timeout (60 s). The survivor's takeover, with the lease connection's lock
 * timeout of 150 ms, must still succeed at its first try, end the old term's backends,
 * and its drain must write the same key without waiting. Today's takeover failed with
 * -EAGAIN (lock timeout) until the server dropped the frozen backend. Compared with a
 * killed owner (its socket closed: the server aborts at once). Times printed. */
static void
test_takeover_ends_frozen_writer(void **state)
{
	static const char *const cases[3] = { "killed (socket closed)",
					      "frozen idle in transaction",
					      "frozen in the middle of a COPY" };
	struct fx *f = *state;
	struct rc_pgdb bystander = { 0 }, lease = { 0 };

	/* a drainer of another scope must not be touched */
	drainer_conn(f, &bystander, "rooms:n9", 1);
	assert_int_equal(rc_pgdb_connect(&lease, f->conninfo, "lease_test n2 lease"), 0);
	assert_int_equal(rc_lease_session(&lease, 200), 0); /* lock_timeout 150 ms */
	for (unsigned c = 0; c < 3; c++) {
		char node[8], scope[16];
		struct rc_pgdb w = { 0 };
		struct rc_lease l, o;
		uint64_t t0, took;
		int rc;

		snprintf(node, sizeof(node), "n%u", c + 1);
		snprintf(scope, sizeof(scope), "rooms:%s", node);
		assert_int_equal(rc_lease_acquire(&f->n1, scope, "old owner", TTL, &l), 0);
		drainer_conn(f, &w, scope, l.epoch);
		assert_int_equal(rc_pgdb_exec(&w, "BEGIN"), 0);
		assert_int_equal(insert_msg(&w, 10 * c + 1, node, l.epoch), 0); /* the fence */
		assert_int_equal(rc_pgdb_exec(&w, "INSERT INTO rooms (name) VALUES ('lobby')"
						  " ON CONFLICT (name) DO UPDATE SET next_seq = 2"), 0);
		if (c == 0)
			rc_pgdb_close(&w); /* SIGKILL: the kernel closes the socket */
		if (c == 2) {
			assert_int_equal(rc_pgdb_copy_begin(&w, "COPY messages (room, seq, sender,"
								" ts_ms, body, cmid, epoch, node)"
								" FROM STDIN"), 0);
			assert_int_equal(rc_pgdb_copy_put(&w, "lobby\t99\tal\t1\thi\t", 18), 0);
			assert_int_equal(PQflush(w.conn), 0);
		}
		/* an attempt before the expiry is told "busy" at once (no lock wait) */
		assert_int_equal(rc_lease_acquire(&lease, scope, "survivor", 5000, &o), -EBUSY);
		sleep_ms(TTL + 100);
		t0 = rc_lease_mono_ms();
		rc = rc_lease_acquire(&lease, scope, "survivor", 5000, &o);
		took = rc_lease_mono_ms() - t0;
		if (rc != 0)
			fail_msg("%s: the takeover failed: %s (%s)", cases[c], strerror(-rc),
				 lease.err);
		assert_int_equal(o.status, RC_LEASE_TAKEN);
		assert_int_equal(o.epoch, l.epoch + 1);
		/* the new owner's drain writes the same key and the room at once (no wait: its
		 * lock timeout is 150 ms) */
		t0 = rc_lease_mono_ms();
		assert_int_equal(rc_lease_session(&f->n2, 200), 0);
		assert_int_equal(rc_pgdb_exec(&f->n2, "BEGIN"), 0);
		assert_int_equal(insert_msg(&f->n2, 10 * c + 1, node, o.epoch), 0);
		assert_int_equal(rc_pgdb_exec(&f->n2, "INSERT INTO rooms (name) VALUES ('lobby')"
						   " ON CONFLICT (name) DO UPDATE SET next_seq = 2"),
				 0);
		assert_int_equal(rc_pgdb_exec(&f->n2, "COMMIT"), 0);
		printf("takeover, old owner %s: lease taken in %" PRIu64 " ms, the new owner's"
		       " first batch in %" PRIu64 " ms more\n", cases[c], took,
		       rc_lease_mono_ms() - t0);
		/* the frozen backend is gone: its writes never land */
		if (c == 1)
			assert_int_equal(rc_pgdb_exec(&w, "COMMIT"), -ECONNRESET);
		if (c == 2)
			assert_int_not_equal(rc_pgdb_copy_end(&w), 0);
		rc_pgdb_close(&w);
		assert_int_equal(pgfx_num(f->conninfo, "SELECT count(*) FROM messages"), c + 1);
		assert_int_equal(pgfx_num(f->conninfo, "SELECT count(*) FROM messages WHERE"
						       " epoch = 1"), 0);
	}
	/* nobody else was ended: a drainer of another scope, the lease connections */
	assert_int_equal(rc_pgdb_exec(&bystander, "SELECT 1"), 0);
	assert_int_equal(rc_pgdb_exec(&f->n1, "SELECT 1"), 0);
	rc_pgdb_close(&bystander);
	rc_pgdb_close(&lease);
}

/* ---- migrations 1 -> 2 -> 3 ---- */

static void
test_migrate_1_to_2(void **state)
{
	struct fx *f = *state;
	struct rc_lease l;
	char err[256];
	int applied = -1;

	assert_int_equal(rc_schema_version(&f->n1), 3);
	/* back to what version 1 was: what migrations 3 and 2 add, removed */
	assert_int_equal(pgfx_exec(f->conninfo,
				   "DROP TABLE drain_dead_letters;"
				   "DROP FUNCTION rc_lease_end_writers(text, bigint);"
				   "DELETE FROM roomcast_schema WHERE version = 3;"
				   "DROP TRIGGER messages_fence ON messages;"
				   "DROP FUNCTION rc_messages_fence(), rc_lease_acquire(text, text,"
				   " bigint, boolean), rc_lease_renew(text, text, bigint, bigint),"
				   " rc_lease_release(text, text, bigint), rc_lease_answer(text,"
				   " ha_lease, timestamptz);"
				   "DROP TABLE ha_lease;"
				   "DELETE FROM roomcast_schema WHERE version = 2"), 0);
	assert_int_equal(num(f, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'rc\\_%'"), 0);
	assert_int_equal(rc_schema_version(&f->n1), 1);
	/* an existing database with rows of any epoch */
	assert_int_equal(insert_msg(&f->n1, 1, "n1", 0), 0);
	assert_int_equal(insert_msg(&f->n1, 2, "n1", 7), 0);
	assert_int_equal(rc_schema_migrate(&f->n2, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 2);
	assert_int_equal(rc_schema_version(&f->n1), 3);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 2);
	assert_int_equal(rc_schema_migrate(&f->n2, &applied, err, sizeof(err)), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(num(f, "SELECT count(*) FROM roomcast_schema"), 3);
	/* and it works */
	assert_int_equal(rc_lease_acquire(&f->n1, SCOPE, "n1", 5000, &l), 0);
	assert_int_equal(insert_msg(&f->n1, 3, "n1", 1), 0);
	assert_int_equal(insert_msg(&f->n1, 4, "n1", 7), -ESTALE);
}

/* ---- the drainer, fenced ---- */

static void
commit_all(struct rc_wal *w)
{
	struct rc_wal_rec recs[11], *rp[11];

	fx_room(&recs[0], 1, 1700000000000ull, "creator", "lobby");
	for (unsigned i = 1; i <= 10; i++)
		fx_msg(&recs[i], 1, i, "alice", "hello");
	for (unsigned i = 0; i < 11; i++)
		rp[i] = &recs[i];
	assert_int_equal(rc_wal_commit_now(w, rp, 11), 0);
	for (unsigned i = 0; i < 11; i++)
		assert_int_equal(recs[i].status, 0);
}

static struct rc_drainer *
drainer_at(struct fx *f, uint64_t epoch)
{
	struct rc_drainer_conf c = fx_drainer_conf(f->conninfo, f->method);
	struct rc_drainer *d;

	c.batch_max = 100;
	c.epoch = epoch;
	d = rc_drainer_create(f->w, &c);
	assert_non_null(d);
	return d;
}

static void
test_drainer_fenced(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c;
	struct rc_drainer_stats st;
	struct rc_lease l;
	char err[256] = "";

	fx_tmpdir(f->dir, sizeof(f->dir), NULL);
	c = fx_conf(f->dir);
	f->w = rc_wal_open(&c, err, sizeof(err));
	assert_non_null(f->w);
	commit_all(f->w);
	/* n1 held rooms:n1 at epoch 1; n2 took it over (epoch 2) */
	assert_int_equal(rc_lease_acquire(&f->n1, SCOPE, "n1", 60000, &l), 0);
	assert_int_equal(rc_lease_acquire_forced(&f->n2, SCOPE, "n2", 60000, &l), 0);
	f->d = drainer_at(f, 1);
	assert_int_equal(rc_drainer_drain_now(f->d), -ESTALE);
	rc_drainer_get_stats(f->d, &st);
	assert_int_equal(st.errors, 1);
	assert_non_null(strstr(st.last_error, "stale epoch: fenced: "));
	assert_non_null(strstr(st.last_error, "lease rooms:n1 is at epoch 2"));
	assert_int_equal(rc_wal_drained_lsn(f->w), 0);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 0);
	assert_int_equal(num(f, "SELECT count(*) FROM drain_state"), 0);
	rc_drainer_destroy(f->d);
	/* at the lease's epoch it drains */
	f->d = drainer_at(f, 2);
	assert_int_equal(rc_drainer_drain_now(f->d), 11);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE epoch = 2"), 10);
}

#define BOTH(t) FX_BOTH_METHODS(t, setup, teardown)

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings_and_args),
		cmocka_unit_test(test_guard_basics),
		cmocka_unit_test_setup_teardown(test_acquire_renew_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_takeover_and_fence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_reacquire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_reacquire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guard_timing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epoch0_without_lease, setup, teardown),
		cmocka_unit_test_setup_teardown(test_takeover_waits_for_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_takeover_ends_frozen_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_1_to_2, setup, teardown),
		BOTH(test_drainer_fenced),
	};
	/* RC_TEST_FILTER=test_forced runs one */
	int rc = fx_drain_main_init("lease_test", argc, argv);

	if (rc != 0)
		return rc;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fx_eal_stop();
	return rc;
}
