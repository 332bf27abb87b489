/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of control/ha_lease.c, the lease thread of an HA node, against a real PostgreSQL
 * (tests/unit/pg_fixture.h), each test in a database of its own.
 *
 * Two nodes of a pair, n1 and n2, each with its lease thread, its connection and its two
 * guards: scope 0 is the node's own rooms ("rooms:<me>"), scope 1 the peer's. The checks
 * are functional (who wins, who is refused, when a guard stops acknowledging, which events
 * come with which op id); the only times asserted are generous deadlines.
 *
 *   ha_lease_test [PATH/TO/pg-fixture.sh]
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ha_lease.h"
#include "lease.h"
#include "pg_fixture.h"

#define TTL 600         /* ms, as ha.lease_ttl_ms's default */
#define DEADLINE 3000   /* ms: generous, for an event the thread sends within about a ttl */
#define DB_UP_MS 15000  /* ms: a restarted server answers the thread's probe */

struct node {
	const char *id;
	char scope[2][RC_LEASE_NAME_MAX + 1];
	struct rc_lease_guard guard[2];
	struct rc_ha_lease *l;
};

struct fx {
	char conninfo[600];
	struct node n1, n2;
	bool pg_stopped; /* teardown starts it again */
};

static void
node_start(struct fx *f, struct node *n, const char *id, const char *peer)
{
	struct rc_lease_guard *g[2] = { &n->guard[0], &n->guard[1] };
	struct rc_ha_lease_conf c = { .conninfo = f->conninfo, .me = id, .ttl_ms = TTL };

	n->id = id;
	assert_int_equal(rc_lease_scope(n->scope[0], sizeof(n->scope[0]), id), 0);
	assert_int_equal(rc_lease_scope(n->scope[1], sizeof(n->scope[1]), peer), 0);
	c.scope[0] = n->scope[0];
	c.scope[1] = n->scope[1];
	n->l = rc_ha_lease_create(&c, g);
	assert_non_null(n->l);
	assert_int_equal(rc_ha_lease_start(n->l), 0);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(pgfx_newdb(f->conninfo, sizeof(f->conninfo)), 0);
	node_start(f, &f->n1, "n1", "n2");
	node_start(f, &f->n2, "n2", "n1");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	rc_ha_lease_destroy(f->n1.l);
	rc_ha_lease_destroy(f->n2.l);
	if (f->pg_stopped && pgfx_start() != 0)
		fprintf(stderr, "ha_lease_test: cannot restart PostgreSQL\n");
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

static const char *
kind_name(enum rc_ha_lease_ev_kind k)
{
	static const char *const names[] = {
		[RC_HAL_WON] = "WON",         [RC_HAL_REFUSED] = "REFUSED",
		[RC_HAL_LOST] = "LOST",       [RC_HAL_RELEASED] = "RELEASED",
		[RC_HAL_DB_UP] = "DB_UP",     [RC_HAL_DB_DOWN] = "DB_DOWN",
	};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) && names[k] != NULL ? names[k] : "?";
}

static bool
is_db_event(enum rc_ha_lease_ev_kind k)
{
	return k == RC_HAL_DB_UP || k == RC_HAL_DB_DOWN;
}

/* Wait up to ms for the event `kind` (for a scope event: of that scope). Database events
 * on the way are skipped unless asked for; any other event fails the test. Returns the
 * time it took (ms). */
static uint64_t
wait_ev(struct node *n, enum rc_ha_lease_ev_kind kind, unsigned scope, unsigned ms,
	struct rc_ha_lease_ev *ev)
{
	uint64_t t0 = rc_lease_mono_ms();

	for (;;) {
		while (rc_ha_lease_poll(n->l, ev) == 1) {
			if (ev->kind == kind && (is_db_event(kind) || ev->scope == scope))
				return rc_lease_mono_ms() - t0;
			if (is_db_event(ev->kind))
				continue;
			fail_msg("%s: waiting for %s (scope %u), got %s scope %u op %" PRIu32
				 ": %s", n->id, kind_name(kind), scope, kind_name(ev->kind),
				 ev->scope, ev->op, ev->detail);
		}
		if (rc_lease_mono_ms() - t0 > ms)
			fail_msg("%s: no %s (scope %u) within %u ms", n->id, kind_name(kind), scope,
				 ms);
		sleep_ms(2);
	}
}

/* For ms, no scope event at all (database events are skipped), and the guard of `scope`
 * stays as it was (ok or not) at every look. */
static void
quiet_for(struct node *n, unsigned scope, bool guard_ok, unsigned ms)
{
	uint64_t t0 = rc_lease_mono_ms();
	struct rc_ha_lease_ev ev;

	while (rc_lease_mono_ms() - t0 < ms) {
		while (rc_ha_lease_poll(n->l, &ev) == 1)
			if (!is_db_event(ev.kind))
				fail_msg("%s: unexpected %s scope %u op %" PRIu32 ": %s", n->id,
					 kind_name(ev.kind), ev.scope, ev.op, ev.detail);
		if (rc_lease_guard_ok(&n->guard[scope], rc_lease_mono_ms()) != guard_ok)
			fail_msg("%s: guard %u %s after %" PRIu64 " ms", n->id, scope,
				 guard_ok ? "ran out" : "granted", rc_lease_mono_ms() - t0);
		sleep_ms(5);
	}
}

static bool
guard_ok(struct node *n, unsigned scope)
{
	return rc_lease_guard_ok(&n->guard[scope], rc_lease_mono_ms());
}

/* n acquires its scope: WON with op; the epoch won. */
static uint64_t
win(struct node *n, unsigned scope, uint32_t op)
{
	struct rc_ha_lease_ev ev;

	rc_ha_lease_acquire(n->l, scope, op, false);
	wait_ev(n, RC_HAL_WON, scope, DEADLINE, &ev);
	assert_int_equal(ev.op, op);
	assert_true(ev.epoch >= 1);
	assert_true(guard_ok(n, scope));
	assert_true(rc_lease_guard_epoch(&n->guard[scope]) == ev.epoch);
	return ev.epoch;
}

/* ---- tests ---- */

static void
test_create_args(void **state)
{
	struct rc_lease_guard g0, g1;
	struct rc_lease_guard *g[2] = { &g0, &g1 };
	struct rc_ha_lease_conf c = { .conninfo = "dbname=x", .me = "n1",
				      .scope = { "rooms:n1", "rooms:n2" }, .ttl_ms = TTL };
	struct rc_ha_lease *l;

	(void)state;
	errno = 0;
	assert_null(rc_ha_lease_create(NULL, g));
	assert_int_equal(errno, EINVAL);
	assert_null(rc_ha_lease_create(&c, NULL));
	c.ttl_ms = 0;
	errno = 0;
	assert_null(rc_ha_lease_create(&c, g));
	assert_int_equal(errno, EINVAL);
	c.ttl_ms = TTL;
	c.scope[1] = NULL;
	assert_null(rc_ha_lease_create(&c, g));
	c.scope[1] = "rooms:n2";
	l = rc_ha_lease_create(&c, g);
	assert_non_null(l);
	rc_ha_lease_destroy(l); /* never started */
}

/* n1 wins its rooms and keeps them by renewing; n2 asking for them is refused; n1 hands
 * them back (guard revoked at once); n2 then wins them at a higher epoch. */
static void
test_won_refused_released(void **state)
{
	struct fx *f = *state;
	struct rc_ha_lease_status st1, st2;
	struct rc_ha_lease_ev ev;
	uint64_t e1, e2, took;

	e1 = win(&f->n1, 0, 11);
	rc_ha_lease_get_status(f->n1.l, &st1);
	assert_true(st1.held[0]);
	assert_false(st1.held[1]);
	assert_true(st1.epoch[0] == e1);
	/* renewals keep it: the guard never runs out over more than two ttls */
	quiet_for(&f->n1, 0, true, 5 * TTL / 2);
	rc_ha_lease_get_status(f->n1.l, &st1);
	assert_true(st1.renewals >= 4);
	assert_true(st1.db_ok);
	assert_true(rc_lease_guard_epoch(&f->n1.guard[0]) == e1); /* a renewal keeps the epoch */

	/* acquire by the holder: answered at once, with the new op */
	rc_ha_lease_acquire(f->n1.l, 0, 12, false);
	wait_ev(&f->n1, RC_HAL_WON, 0, DEADLINE, &ev);
	assert_int_equal(ev.op, 12);
	assert_true(ev.epoch == e1);

	/* n2 wants n1's rooms (its scope 1): n1 renews, so n2 is refused */
	rc_ha_lease_acquire(f->n2.l, 1, 21, false);
	took = wait_ev(&f->n2, RC_HAL_REFUSED, 1, DEADLINE, &ev);
	assert_int_equal(ev.op, 21);
	assert_true(ev.epoch == e1);
	assert_non_null(strstr(ev.detail, "n1"));
	print_message("refused after %" PRIu64 " ms (ttl %u)\n", took, TTL);
	assert_false(guard_ok(&f->n2, 1));
	assert_true(guard_ok(&f->n1, 0));
	rc_ha_lease_get_status(f->n2.l, &st2);
	assert_false(st2.held[1]);
	assert_false(st2.acquiring[1]);
	assert_int_equal(st2.refusals, 1);

	/* n1 hands its rooms back: no acknowledging from the call's return on */
	rc_ha_lease_release(f->n1.l, 0, 13);
	assert_false(guard_ok(&f->n1, 0));
	wait_ev(&f->n1, RC_HAL_RELEASED, 0, DEADLINE, &ev);
	assert_int_equal(ev.op, 13);
	assert_true(ev.epoch == e1);
	assert_string_equal(ev.detail, "released");
	assert_false(guard_ok(&f->n1, 0));
	rc_ha_lease_get_status(f->n1.l, &st1);
	assert_false(st1.held[0]);

	/* n2 asks again: a released lease is free at once, next term */
	e2 = win(&f->n2, 1, 22);
	assert_true(e2 > e1);
	assert_false(guard_ok(&f->n1, 0));
	quiet_for(&f->n2, 1, true, TTL);
	quiet_for(&f->n1, 0, false, 10);
}

/* A handover: parked (guard revoked, no renewals, no LOST however long), then released. */
static void
test_park_release(void **state)
{
	struct fx *f = *state;
	struct rc_ha_lease_status st;
	struct rc_ha_lease_ev ev;
	uint64_t e1, renewals;

	e1 = win(&f->n1, 0, 31);
	quiet_for(&f->n1, 0, true, TTL / 2);
	rc_ha_lease_park(f->n1.l, 0);
	assert_false(guard_ok(&f->n1, 0));
	rc_ha_lease_get_status(f->n1.l, &st);
	assert_true(st.held[0]); /* parked: still ours until released */
	renewals = st.renewals;
	/* well past the lease's expiry: not renewed, not reported lost */
	quiet_for(&f->n1, 0, false, 2 * TTL);
	rc_ha_lease_get_status(f->n1.l, &st);
	assert_true(st.renewals == renewals); /* one in flight at the park is not counted */
	assert_int_equal(st.losses, 0);
	rc_ha_lease_release(f->n1.l, 0, 32);
	wait_ev(&f->n1, RC_HAL_RELEASED, 0, DEADLINE, &ev);
	assert_int_equal(ev.op, 32);
	assert_true(ev.epoch == e1);
	assert_false(guard_ok(&f->n1, 0));
	rc_ha_lease_get_status(f->n1.l, &st);
	assert_false(st.held[0]);
	assert_int_equal(st.losses, 0);
	quiet_for(&f->n1, 0, false, TTL / 2);
	/* the peer takes the rooms over */
	assert_true(win(&f->n2, 1, 41) > e1);

	/* releasing a lease not held answers at once */
	rc_ha_lease_release(f->n1.l, 1, 33);
	wait_ev(&f->n1, RC_HAL_RELEASED, 1, DEADLINE, &ev);
	assert_int_equal(ev.op, 33);
	assert_string_equal(ev.detail, "not held");
}

/* A fence: the guard revoked at once, no renewal after it, no event; the lease runs out and
 * the peer wins it (not refused: nobody renews it any more). */
static void
test_drop(void **state)
{
	struct fx *f = *state;
	struct rc_ha_lease_status st;
	struct rc_ha_lease_ev ev;
	uint64_t e1;

	e1 = win(&f->n1, 0, 51);
	quiet_for(&f->n1, 0, true, TTL / 2);
	rc_ha_lease_drop(f->n1.l, 0);
	assert_false(guard_ok(&f->n1, 0));
	/* a renewal in flight at the drop ends without granting the guard again */
	quiet_for(&f->n1, 0, false, 50);
	rc_ha_lease_get_status(f->n1.l, &st);
	assert_false(st.held[0]);
	assert_false(st.acquiring[0]);
	rc_ha_lease_acquire(f->n2.l, 1, 61, false);
	wait_ev(&f->n2, RC_HAL_WON, 1, DEADLINE, &ev);
	assert_int_equal(ev.op, 61);
	assert_true(ev.epoch > e1);
	assert_true(guard_ok(&f->n2, 1));
	quiet_for(&f->n1, 0, false, TTL / 2);
	rc_ha_lease_get_status(f->n1.l, &st);
	assert_int_equal(st.losses, 0);
}

/* The database stops while n2 holds its rooms: DB_DOWN, then LOST (the guard ran out) within
 * about a ttl; back up: DB_UP, and n2 wins them again at a higher epoch. */
static void
test_db_down(void **state)
{
	struct fx *f = *state;
	struct rc_ha_lease_status st;
	struct rc_ha_lease_ev ev;
	bool down = false, lost = false;
	uint64_t e1, t0, t1, took;

	if (!pgfx_can_restart())
		fail_msg("needs a PostgreSQL this test may stop and start "
			 "(unset ROOMCAST_TEST_PG)");
	e1 = win(&f->n2, 0, 71);
	quiet_for(&f->n2, 0, true, TTL / 2);
	t0 = rc_lease_mono_ms();
	f->pg_stopped = true;
	assert_int_equal(pgfx_stop(), 0);
	print_message("server stopped in %" PRIu64 " ms\n", rc_lease_mono_ms() - t0);
	/* the deadline runs from the server being gone: pg_ctl stop itself may take seconds on
	 * a loaded machine, and the lease cannot notice before the server stops answering */
	t1 = rc_lease_mono_ms();
	while (!down || !lost) {
		if (rc_lease_mono_ms() - t1 > DEADLINE)
			fail_msg("n2: within %u ms: DB_DOWN %s, LOST %s", DEADLINE,
				 down ? "seen" : "missing", lost ? "seen" : "missing");
		if (rc_ha_lease_poll(f->n2.l, &ev) != 1) {
			sleep_ms(2);
			continue;
		}
		if (ev.kind == RC_HAL_DB_DOWN) {
			down = true;
		} else if (ev.kind == RC_HAL_LOST && ev.scope == 0) {
			assert_int_equal(ev.op, 71);
			assert_true(ev.epoch == e1);
			assert_false(guard_ok(&f->n2, 0));
			lost = true;
		} else {
			fail_msg("n2: unexpected %s scope %u: %s", kind_name(ev.kind), ev.scope,
				 ev.detail);
		}
	}
	print_message("DB_DOWN and LOST %" PRIu64 " ms after the stop began\n",
		      rc_lease_mono_ms() - t0);
	assert_false(guard_ok(&f->n2, 0));
	rc_ha_lease_get_status(f->n2.l, &st);
	assert_false(st.db_ok);
	assert_false(st.held[0]);
	assert_int_equal(st.losses, 1);
	assert_true(st.last_error[0] != '\0');
	quiet_for(&f->n2, 0, false, TTL / 2); /* no more events while it is down */

	assert_int_equal(pgfx_start(), 0);
	f->pg_stopped = false;
	took = wait_ev(&f->n2, RC_HAL_DB_UP, 0, DB_UP_MS, &ev);
	print_message("DB_UP %" PRIu64 " ms after the server was up\n", took);
	rc_ha_lease_get_status(f->n2.l, &st);
	assert_true(st.db_ok);
	assert_true(win(&f->n2, 0, 72) > e1);
}

/* ---- the database fails over: a synchronous standby (tests/pg/pg-standby.sh) promoted */

/* Both nodes' lease threads on a multi-host conninfo (host=PRIMARY,STANDBY ...) of a test
 * database replicated synchronously. */
static int
setup_failover(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char one[600];

	assert_non_null(f);
	assert_true(pgfx_can_restart());
	assert_int_equal(pgfx_newdb(one, sizeof(one)), 0);
	assert_int_equal(pgfx_standby_start("sync"), 0);
	snprintf(f->conninfo, sizeof(f->conninfo),
		 "host=%s,%s port=%ld,%ld user=postgres dbname=%s", pgfx.dir, pgfx_sb_dir,
		 pgfx_port_of(pgfx.dir), pgfx_port_of(pgfx_sb_dir), strrchr(one, '=') + 1);
	node_start(f, &f->n1, "n1", "n2");
	node_start(f, &f->n2, "n2", "n1");
	*state = f;
	return 0;
}

/* After the test, the fixture's own server (the old primary) is started again, alone. */
static int
teardown_failover(void **state)
{
	int rc = teardown(state);

	if (pgfx_standby_forget() != 0)
		fprintf(stderr, "ha_lease_test: cannot reset synchronous_standby_names\n");
	return rc;
}

/* The primary stops and its synchronous standby is promoted while n1 and n2 hold their
 * rooms. The lease threads reconnect through the same multi-host conninfo to the new
 * primary; the lease rows written on the old one are there; n1 takes n2's rooms over (n2
 * fenced, as if it had died with the database) at an epoch greater than any before. */
static void
test_db_failover(void **state)
{
	struct fx *f = *state;
	struct rc_ha_lease_ev ev;
	char sql[160], ci2[700];
	uint64_t e1, e2, t0, t_promoted, got = 0;
	unsigned refusals = 0;
	long long row;

	e1 = win(&f->n1, 0, 80);
	e2 = win(&f->n2, 0, 81);
	quiet_for(&f->n2, 0, true, TTL / 2);
	t0 = rc_lease_mono_ms();
	f->pg_stopped = true;
	assert_int_equal(pgfx_stop(), 0);
	assert_int_equal(pgfx_standby_promote(), 0);
	t_promoted = rc_lease_mono_ms();
	print_message("primary stopped and standby promoted in %" PRIu64 " ms\n", t_promoted - t0);

	/* the rows written on the old primary, on the new one */
	snprintf(ci2, sizeof(ci2), "%s", f->conninfo);
	snprintf(sql, sizeof(sql), "SELECT epoch FROM ha_lease WHERE owner_scope = 'rooms:n2'");
	row = pgfx_num(ci2, sql);
	assert_true(row >= (long long)e2);
	snprintf(sql, sizeof(sql), "SELECT epoch FROM ha_lease WHERE owner_scope = 'rooms:n1'");
	assert_true(pgfx_num(ci2, sql) >= (long long)e1);

	/* n2 is gone: n1 takes its rooms through the new primary */
	rc_ha_lease_drop(f->n2.l, 0);
	rc_ha_lease_acquire(f->n1.l, 1, 82, false);
	for (;;) {
		if (rc_lease_mono_ms() - t_promoted > DB_UP_MS)
			fail_msg("n1: no WON of n2's rooms within %u ms of the promotion", DB_UP_MS);
		if (rc_ha_lease_poll(f->n1.l, &ev) != 1) {
			sleep_ms(2);
			continue;
		}
		if (ev.kind == RC_HAL_WON && ev.scope == 1) {
			assert_int_equal(ev.op, 82);
			got = ev.epoch;
			break;
		}
		/* n1's own lease may have run out during the outage: LOST of scope 0 is fine */
		if (is_db_event(ev.kind) || (ev.kind == RC_HAL_LOST && ev.scope == 0))
			continue;
		/* a renewal of n2's that was waiting on the stopped primary can land on the new
		 * one after the drop (it grants n2 nothing: its guard stays revoked); n1 sees the
		 * lease renewed and is refused; it asks again */
		if (ev.kind == RC_HAL_REFUSED && ev.scope == 1 && refusals++ < 3) {
			assert_false(guard_ok(&f->n2, 0));
			rc_ha_lease_acquire(f->n1.l, 1, 82, false);
			continue;
		}
		fail_msg("n1: unexpected %s scope %u: %s", kind_name(ev.kind), ev.scope, ev.detail);
	}
	print_message("n1 won n2's rooms %" PRIu64 " ms after the promotion: epoch %" PRIu64
		      " (before: %" PRIu64 ")\n", rc_lease_mono_ms() - t_promoted, got, e2);
	assert_true(got > e2);
	assert_true(guard_ok(&f->n1, 1));
	snprintf(sql, sizeof(sql), "SELECT epoch FROM ha_lease WHERE owner_scope = 'rooms:n2'");
	assert_int_equal(pgfx_num(ci2, sql), (long long)got);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM ha_lease WHERE owner_scope = 'rooms:n2'"
		 " AND holder = 'n1'");
	assert_int_equal(pgfx_num(ci2, sql), 1);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_args),
		cmocka_unit_test_setup_teardown(test_won_refused_released, setup, teardown),
		cmocka_unit_test_setup_teardown(test_park_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_db_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_db_failover, setup_failover,
						teardown_failover),
	};

	if (pgfx_init(argc > 1 ? argv[1] : NULL) != 0) {
		fprintf(stderr, "ha_lease_test: no PostgreSQL\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
