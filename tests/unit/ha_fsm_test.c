/* SPDX-License-Identifier: MIT */
/*
 * control/ha_fsm: the name tables, the transition table's completeness and its copy in
 * control/ha/HA.md (argv[1]), the use cases of MISSION.md step by step (failover with TC failing
 * on 1A, fallback, manual failover, lease lost, takeover failed, recover, HA disabled, peer
 * reboot, auto fallback), and an exhaustive search over two machines joined by their
 * announced states and one lease per set of rooms: no reachable world has both nodes serving
 * the same rooms, nor a node serving rooms whose lease it does not hold; and from every
 * reachable world, once the faults stop, every set of rooms is served again without the
 * administrator unless a node is in Running in Failed Mode.
 *
 * `ha_fsm_test --table` prints the table for HA.md.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ha_fsm.h"
#include "ha_fsm_print.h"

#define ACT(x) RC_HA_ACT(RC_HA_ACT_##x)
#define T0     1000000ULL

static const char *doc_path;
static struct rc_ha_step st;
static uint64_t now = T0;

/* ---- helpers: one node is a struct rc_ha_fsm; answers carry the awaited op ---- */

static int
fire(struct rc_ha_fsm *f, enum rc_ha_event e)
{
	struct rc_ha_event_data d = {.op = f->await_op};

	now += 10;
	return rc_ha_fsm_event(f, e, &d, now, &st);
}

/* f hears a heartbeat of p */
static int
hear(struct rc_ha_fsm *f, const struct rc_ha_fsm *p)
{
	struct rc_ha_event_data d = {.peer_state = p->state, .peer_reason = p->reason};

	now += 10;
	return rc_ha_fsm_event(f, RC_HA_EV_PEER_STATE, &d, now, &st);
}

#define expect(f, s, r)                                                                            \
	do {                                                                                       \
		assert_string_equal(rc_ha_state_name((f)->state), rc_ha_state_name(RC_HA_##s));    \
		assert_string_equal(rc_ha_reason_name((f)->reason),                                \
				    rc_ha_reason_name(RC_HA_REASON_##r));                          \
	} while (0)

/* Both nodes up and Normal, each serving its own rooms. */
static void
start_pair(struct rc_ha_fsm *a, struct rc_ha_fsm *b)
{
	struct rc_ha_fsm *n[2] = {a, b};

	for (int i = 0; i < 2; i++) {
		rc_ha_fsm_init(n[i], true, now);
		expect(n[i], INITIALIZING, INITIALIZATION);
		assert_int_equal(fire(n[i], RC_HA_EV_LOCAL_CRITICAL_UP), 0);
		assert_int_equal(st.result, RC_HA_RES_ACTIONS);
		assert_int_equal(st.actions, ACT(LEASE_OWN));
		assert_int_not_equal(st.op, 0);
		assert_int_equal(fire(n[i], RC_HA_EV_LEASE_WON), 0);
		assert_int_equal(st.result, RC_HA_RES_TRANSITION);
		assert_int_equal(st.actions, ACT(RELOAD_OWN) | ACT(ANNOUNCE));
		expect(n[i], NORMAL, NORMAL);
		assert_int_equal(n[i]->serving, RC_HA_OWN);
	}
	assert_int_equal(hear(a, b), 0);
	assert_int_equal(st.result, RC_HA_RES_IGNORED);
	assert_int_equal(hear(b, a), 0);
	assert_int_equal(st.result, RC_HA_RES_IGNORED);
}

/* ---- names and tables ---- */

#define NAME_OF(x)                                                                                 \
	static const char *x##_name(int i)                                                         \
	{                                                                                          \
		return rc_ha_##x##_name(i);                                                        \
	}
NAME_OF(state)
NAME_OF(reason)
NAME_OF(event)
NAME_OF(action)
NAME_OF(await)
NAME_OF(result)

static void
test_names(void **state)
{
	static const char *const mission_states[RC_HA_STATE_MAX] = {
		"Initializing",
		"Normal",
		"Running in Backup Mode",
		"Taking Over",
		"Failing Over",
		"Failed Over",
		"Failed Over with Critical Services Not Running",
		"Taking Back",
		"Falling Back",
		"Idle",
		"Running in Failed Mode",
		"Unknown",
	};
	static const char *const mission_reasons[] = {
		"On Admin Request",
		"Initialization",
		"Critical Service Down",
		"Database Failure",
		"Peer Down",
		"Peer Reboot",
		"Start of Critical Services Failed",
		"Take Over Users Failed",
		"Take Back Users Failed",
		"Automatic Fallback",
		"High Availability Not Enabled",
	};
	struct {
		const char *(*name)(int);
		int max;
	} tabs[] = {
		{state_name, RC_HA_STATE_MAX}, {reason_name, RC_HA_REASON_MAX},
		{event_name, RC_HA_EV_MAX},    {action_name, RC_HA_ACT_MAX},
		{await_name, RC_HA_AWAIT_MAX}, {result_name, RC_HA_RES_MAX},
	};

	(void)state;
	for (size_t t = 0; t < sizeof(tabs) / sizeof(tabs[0]); t++) {
		for (int i = 0; i < tabs[t].max; i++) {
			const char *s = tabs[t].name(i);

			assert_non_null(s);
			assert_true(s[0] != '\0');
			for (int j = 0; j < i; j++)
				assert_string_not_equal(s, tabs[t].name(j));
		}
		assert_null(tabs[t].name(tabs[t].max));
		assert_null(tabs[t].name(-1));
	}
	for (int i = 0; i < RC_HA_STATE_MAX; i++)
		assert_string_equal(rc_ha_state_name(i), mission_states[i]);
	for (size_t i = 0; i < sizeof(mission_reasons) / sizeof(mission_reasons[0]); i++) {
		int found = 0;

		for (int r = 0; r < RC_HA_REASON_MAX; r++)
			found += strcmp(rc_ha_reason_name(r), mission_reasons[i]) == 0;
		assert_int_equal(found, 1);
	}
	assert_string_equal(rc_ha_reason_name(RC_HA_REASON_AUTO_RECOVER_CRITICAL),
			    "Auto Recover (critical service)");
	assert_string_equal(rc_ha_reason_name(RC_HA_REASON_AUTO_RECOVER_DATABASE),
			    "Auto Recover (database)");
	/* Actions are bits of a uint32_t. */
	assert_true(RC_HA_ACT_MAX <= 32);
}

static void
test_table_complete(void **state)
{
	char err[256];

	(void)state;
	assert_int_equal(rc_ha_fsm_check_tables(err, sizeof(err)), 0);
	assert_string_equal(err, "");
	/* Every (state, event) answers with something defined, from every state. */
	for (int s = 0; s < RC_HA_STATE_MAX; s++) {
		for (int e = 0; e < RC_HA_EV_MAX; e++) {
			struct rc_ha_fsm f;
			struct rc_ha_event_data d = {.peer_state = RC_HA_NORMAL};
			int r;

			rc_ha_fsm_init(&f, true, now);
			f.state = s;
			r = rc_ha_fsm_event(&f, e, &d, now, &st);
			assert_true(r == 0 || r == -EPERM);
			assert_true(st.result < RC_HA_RES_MAX);
			assert_true(f.state < RC_HA_STATE_MAX);
			assert_true(f.reason < RC_HA_REASON_MAX);
			assert_true((r == -EPERM) == (st.result == RC_HA_RES_INVALID));
		}
	}
}

static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (fp == NULL)
		return NULL;
	if (getdelim(&buf, &len, '\0', fp) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	return buf;
}

#define DOC_BEGIN "<!-- BEGIN ha_fsm table: generated by `ha_fsm_test --table` -->\n"
#define DOC_END	  "<!-- END ha_fsm table -->"

static void
test_doc_matches(void **state)
{
	char *doc, *gen = NULL, *b, *e;
	size_t genlen = 0;
	FILE *mem;

	(void)state;
	if (doc_path == NULL)
		fail_msg("pass control/ha/HA.md as the first argument");
	doc = slurp(doc_path);
	assert_non_null(doc);
	mem = open_memstream(&gen, &genlen);
	assert_non_null(mem);
	assert_int_equal(rc_ha_fsm_write_table(mem), 0);
	fclose(mem);
	b = strstr(doc, DOC_BEGIN);
	assert_non_null(b);
	b += strlen(DOC_BEGIN);
	e = strstr(b, DOC_END);
	assert_non_null(e);
	if ((size_t)(e - b) != genlen || memcmp(b, gen, genlen) != 0) {
		fprintf(stderr,
			"%s: the table differs from the code; regenerate it with "
			"`ha_fsm_test --table`\n",
			doc_path);
		fail();
	}
	free(gen);
	free(doc);
}

/* ---- MISSION.md's use cases ---- */

/* 1A's TC fails: 1A Failed Over with Critical Services Not Running, 1B Running in Backup
 * Mode; then TC comes back on 1A: Failed Over (Auto Recover). */
static void
test_failover_use_case(void **state)
{
	struct rc_ha_fsm a, b;
	char line[256];

	(void)state;
	start_pair(&a, &b);
	/* 1. TC fails on 1A: it gives its rooms and users to 1B although the node is up. */
	assert_int_equal(fire(&a, RC_HA_EV_LOCAL_CRITICAL_DOWN), 0);
	expect(&a, FAILING_OVER, CRITICAL_SERVICE_DOWN);
	assert_int_equal(st.actions, ACT(RELEASE) | ACT(ANNOUNCE) | ACT(ALARM));
	assert_int_equal(a.serving, 0);
	assert_int_equal(a.await, RC_HA_AWAIT_RELEASE);
	rc_ha_step_format(&st, line, sizeof(line));
	assert_string_equal(line, "Normal -> Failing Over (Critical Service Down) on "
				  "local-critical-down: release,announce,alarm");
	/* 1B hears it: Taking Over, but waits for 1A's release before asking for the lease. */
	assert_int_equal(hear(&b, &a), 0);
	expect(&b, TAKING_OVER, CRITICAL_SERVICE_DOWN);
	assert_int_equal(st.actions, ACT(ANNOUNCE));
	assert_int_equal(hear(&a, &b), 0);
	assert_int_equal(st.result, RC_HA_RES_IGNORED);
	/* 1A handed over: Failed Over with Critical Services Not Running. */
	assert_int_equal(fire(&a, RC_HA_EV_RELEASE_DONE), 0);
	expect(&a, FAILED_OVER_CSNR, CRITICAL_SERVICE_DOWN);
	/* 1B: lease (epoch + 1), then the rooms, VIP, sessions and WAL records of 1A. */
	assert_int_equal(hear(&b, &a), 0);
	assert_int_equal(st.result, RC_HA_RES_ACTIONS);
	assert_int_equal(st.actions, ACT(LEASE_PEER));
	assert_int_equal(b.await, RC_HA_AWAIT_LEASE_PEER);
	assert_int_equal(hear(&b, &a), 0);
	assert_int_equal(st.result, RC_HA_RES_REPEAT);
	assert_int_equal(fire(&b, RC_HA_EV_LEASE_WON), 0);
	assert_int_equal(st.actions, ACT(START_TAKEOVER));
	assert_int_equal(b.serving, RC_HA_OWN | RC_HA_PEER);
	assert_int_equal(fire(&b, RC_HA_EV_TAKEOVER_DONE), 0);
	expect(&b, BACKUP, CRITICAL_SERVICE_DOWN);
	assert_int_equal(st.actions, ACT(ANNOUNCE));
	assert_int_equal(hear(&a, &b), 0);
	assert_int_equal(st.result, RC_HA_RES_IGNORED);
	expect(&a, FAILED_OVER_CSNR, CRITICAL_SERVICE_DOWN);
	/* TC back on 1A; it waits for a fallback, 1B keeps serving. */
	assert_int_equal(fire(&a, RC_HA_EV_LOCAL_CRITICAL_UP), 0);
	expect(&a, FAILED_OVER, AUTO_RECOVER_CRITICAL);
	assert_int_equal(hear(&a, &b), 0);
	assert_int_equal(st.result, RC_HA_RES_IGNORED);
	assert_int_equal(hear(&b, &a), 0);
	assert_int_equal(st.result, RC_HA_RES_IGNORED);
	expect(&b, BACKUP, CRITICAL_SERVICE_DOWN);
	assert_int_equal(rc_ha_fsm_fallback_due(&a), 0); /* auto fallback off by default */
}

/* The database goes too: Failed Over (CSNR) until both are back. */
static void
test_auto_recover_needs_both(void **state)
{
	struct rc_ha_fsm a, b;

	(void)state;
	start_pair(&a, &b);
	fire(&a, RC_HA_EV_LOCAL_CRITICAL_DOWN);
	fire(&a, RC_HA_EV_RELEASE_DONE);
	expect(&a, FAILED_OVER_CSNR, CRITICAL_SERVICE_DOWN);
	fire(&a, RC_HA_EV_DB_DOWN);
	expect(&a, FAILED_OVER_CSNR, CRITICAL_SERVICE_DOWN);
	fire(&a, RC_HA_EV_LOCAL_CRITICAL_UP);
	expect(&a, FAILED_OVER_CSNR, CRITICAL_SERVICE_DOWN);
	fire(&a, RC_HA_EV_DB_UP);
	expect(&a, FAILED_OVER, AUTO_RECOVER_DATABASE);
	/* Healthy again before the release finished: straight to Failed Over. */
	start_pair(&a, &b);
	fire(&a, RC_HA_EV_LOCAL_CRITICAL_DOWN);
	fire(&a, RC_HA_EV_LOCAL_CRITICAL_UP);
	expect(&a, FAILING_OVER, CRITICAL_SERVICE_DOWN);
	fire(&a, RC_HA_EV_RELEASE_DONE);
	expect(&a, FAILED_OVER, CRITICAL_SERVICE_DOWN);
	/* Failed Over and the database goes: CSNR (Database Failure). */
	fire(&a, RC_HA_EV_DB_DOWN);
	expect(&a, FAILED_OVER_CSNR, DATABASE_FAILURE);
	assert_int_equal(st.actions, ACT(ANNOUNCE) | ACT(ALARM));
}

/* Bring a (failed) and b (backup) to Failed Over / Running in Backup Mode. */
static void
failover_pair(struct rc_ha_fsm *a, struct rc_ha_fsm *b)
{
	start_pair(a, b);
	fire(a, RC_HA_EV_LOCAL_CRITICAL_DOWN);
	hear(b, a);
	fire(a, RC_HA_EV_RELEASE_DONE);
	hear(b, a);
	fire(b, RC_HA_EV_LEASE_WON);
	fire(b, RC_HA_EV_TAKEOVER_DONE);
	fire(a, RC_HA_EV_LOCAL_CRITICAL_UP);
	expect(a, FAILED_OVER, AUTO_RECOVER_CRITICAL);
	expect(b, BACKUP, CRITICAL_SERVICE_DOWN);
}

/* Fallback: 1A Taking Back, 1B Falling Back; 1B Normal and unloads 1A's rooms; then 1A
 * Normal and reloads them. */
static void
test_fallback_use_case(void **state)
{
	struct rc_ha_fsm a, b;

	(void)state;
	failover_pair(&a, &b);
	/* Fallback refused where it makes no sense. */
	assert_int_equal(fire(&b, RC_HA_EV_ADMIN_FALLBACK), -EPERM);
	assert_int_equal(st.result, RC_HA_RES_INVALID);
	assert_int_equal(b.invalid[RC_HA_EV_ADMIN_FALLBACK], 1);
	expect(&b, BACKUP, CRITICAL_SERVICE_DOWN);
	/* 6-7. The administrator's fallback, delivered to 1A. */
	assert_int_equal(fire(&a, RC_HA_EV_ADMIN_FALLBACK), 0);
	expect(&a, TAKING_BACK, ADMIN);
	assert_int_equal(st.actions, ACT(ANNOUNCE));
	assert_int_equal(hear(&b, &a), 0);
	expect(&b, FALLING_BACK, ADMIN);
	assert_int_equal(st.actions, ACT(UNLOAD_PEER) | ACT(ANNOUNCE));
	assert_int_equal(b.serving, RC_HA_OWN);
	/* 8. 1A waits while 1B hands back A's sessions and WAL records. */
	assert_int_equal(hear(&a, &b), 0);
	assert_int_equal(st.result, RC_HA_RES_IGNORED);
	/* 9. 1B: Falling Back -> Normal, the peer's rooms unloaded. */
	assert_int_equal(fire(&b, RC_HA_EV_FALLBACK_DONE), 0);
	expect(&b, NORMAL, ADMIN);
	/* 10. 1A: lease, reload, Taking Back -> Normal. */
	assert_int_equal(hear(&a, &b), 0);
	assert_int_equal(st.actions, ACT(LEASE_OWN));
	assert_int_equal(fire(&a, RC_HA_EV_LEASE_WON), 0);
	assert_int_equal(st.actions, ACT(TAKE_BACK));
	expect(&a, TAKING_BACK, ADMIN);
	assert_int_equal(fire(&a, RC_HA_EV_FALLBACK_DONE), 0);
	expect(&a, NORMAL, ADMIN);
	assert_int_equal(a.serving, RC_HA_OWN);
	assert_int_equal(b.serving, RC_HA_OWN);
	hear(&a, &b);
	assert_int_equal(st.result, RC_HA_RES_IGNORED);
	hear(&b, &a);
	assert_int_equal(st.result, RC_HA_RES_IGNORED);
}

static void
test_fallback_failures(void **state)
{
	struct rc_ha_fsm a, b;

	(void)state;
	/* The primary cannot reload its rooms. */
	failover_pair(&a, &b);
	fire(&a, RC_HA_EV_ADMIN_FALLBACK);
	hear(&b, &a);
	fire(&b, RC_HA_EV_FALLBACK_DONE);
	hear(&a, &b);
	fire(&a, RC_HA_EV_LEASE_WON);
	assert_int_equal(fire(&a, RC_HA_EV_FALLBACK_FAILED), 0);
	expect(&a, FAILED_MODE, TAKEBACK_FAILED);
	assert_int_equal(st.actions, ACT(RELEASE) | ACT(ANNOUNCE) | ACT(ALARM));
	assert_int_equal(a.serving, 0);
	/* The backup cannot hand back: it has stopped acking them anyway. */
	failover_pair(&a, &b);
	fire(&a, RC_HA_EV_ADMIN_FALLBACK);
	hear(&b, &a);
	assert_int_equal(fire(&b, RC_HA_EV_FALLBACK_FAILED), 0);
	expect(&b, FAILED_MODE, TAKEBACK_FAILED);
	assert_int_equal(b.serving, RC_HA_OWN);
	/* ... and the primary takes its rooms back (the lease waits for expiry). */
	hear(&a, &b);
	assert_int_equal(st.actions, ACT(LEASE_OWN));
	/* A peer that renews the lease while we wait: back to Failed Over. */
	assert_int_equal(fire(&a, RC_HA_EV_LEASE_REFUSED), 0);
	expect(&a, FAILED_OVER, ADMIN);
	assert_int_equal(a.lease_want, 0);
}

/* `ha failover 1A`: Failing Over -> Idle; refused unless the peer is Normal. Fallback from
 * Idle like from Failed Over. */
static void
test_manual_failover(void **state)
{
	struct rc_ha_fsm a, b;

	(void)state;
	start_pair(&a, &b);
	assert_int_equal(fire(&a, RC_HA_EV_ADMIN_FAILOVER), 0);
	expect(&a, FAILING_OVER, ADMIN);
	assert_int_equal(st.actions, ACT(RELEASE) | ACT(ANNOUNCE));
	hear(&b, &a);
	expect(&b, TAKING_OVER, ADMIN);
	assert_int_equal(fire(&b, RC_HA_EV_ADMIN_FAILOVER), -EPERM);
	assert_int_equal(fire(&a, RC_HA_EV_RELEASE_DONE), 0);
	expect(&a, IDLE, ADMIN);
	hear(&b, &a);
	assert_int_equal(st.actions, ACT(LEASE_PEER));
	fire(&b, RC_HA_EV_LEASE_WON);
	fire(&b, RC_HA_EV_TAKEOVER_DONE);
	expect(&b, BACKUP, ADMIN);
	hear(&a, &b);
	expect(&a, IDLE, ADMIN);
	/* 1A's TC stops while idle, and starts again: Failed Over. */
	fire(&a, RC_HA_EV_LOCAL_CRITICAL_DOWN);
	expect(&a, FAILED_OVER_CSNR, CRITICAL_SERVICE_DOWN);
	assert_int_equal(fire(&a, RC_HA_EV_ADMIN_FALLBACK), -EPERM);
	fire(&a, RC_HA_EV_LOCAL_CRITICAL_UP);
	expect(&a, FAILED_OVER, AUTO_RECOVER_CRITICAL);
	/* Fallback from Idle. */
	start_pair(&a, &b);
	fire(&a, RC_HA_EV_ADMIN_FAILOVER);
	hear(&b, &a);
	fire(&a, RC_HA_EV_RELEASE_DONE);
	hear(&b, &a);
	fire(&b, RC_HA_EV_LEASE_WON);
	fire(&b, RC_HA_EV_TAKEOVER_DONE);
	assert_int_equal(fire(&a, RC_HA_EV_ADMIN_FALLBACK), 0);
	expect(&a, TAKING_BACK, ADMIN);
	hear(&b, &a);
	expect(&b, FALLING_BACK, ADMIN);
	fire(&b, RC_HA_EV_FALLBACK_DONE);
	hear(&a, &b);
	fire(&a, RC_HA_EV_LEASE_WON);
	fire(&a, RC_HA_EV_FALLBACK_DONE);
	expect(&a, NORMAL, ADMIN);
	expect(&b, NORMAL, ADMIN);
	/* Refused when the peer could not take over: restarting, or not heard. */
	start_pair(&a, &b);
	rc_ha_fsm_init(&b, true, now);
	hear(&a, &b);
	expect(&a, NORMAL, NORMAL);
	assert_int_equal(fire(&a, RC_HA_EV_ADMIN_FAILOVER), -EPERM);
	expect(&a, NORMAL, NORMAL);
	start_pair(&a, &b);
	fire(&a, RC_HA_EV_PEER_DEAD);
	fire(&a, RC_HA_EV_LEASE_REFUSED);
	expect(&a, NORMAL, NORMAL);
	assert_int_equal(fire(&a, RC_HA_EV_ADMIN_FAILOVER), -EPERM);
}

/* A node that cannot renew its lease fences at once; the peer takes over after expiry. */
static void
test_lease_lost(void **state)
{
	struct rc_ha_fsm a, b;

	(void)state;
	start_pair(&a, &b);
	assert_int_equal(fire(&a, RC_HA_EV_LEASE_LOST), 0);
	expect(&a, FAILED_OVER_CSNR, DATABASE_FAILURE);
	assert_int_equal(st.actions, ACT(FENCE) | ACT(ANNOUNCE) | ACT(ALARM));
	assert_int_equal(a.serving, 0);
	assert_int_equal(a.lease_want, 0);
	assert_false(a.db_ok); /* until the caller sees the database answer again */
	hear(&b, &a);
	expect(&b, TAKING_OVER, DATABASE_FAILURE);
	assert_int_equal(st.actions, ACT(LEASE_PEER) | ACT(ANNOUNCE));
	fire(&b, RC_HA_EV_LEASE_WON);
	fire(&b, RC_HA_EV_TAKEOVER_DONE);
	expect(&b, BACKUP, DATABASE_FAILURE);
	fire(&a, RC_HA_EV_DB_UP);
	expect(&a, FAILED_OVER, AUTO_RECOVER_DATABASE);
	/* The backup loses its lease: it fences both sets; the primary takes its own back. */
	assert_int_equal(fire(&b, RC_HA_EV_LEASE_LOST), 0);
	expect(&b, FAILED_OVER_CSNR, DATABASE_FAILURE);
	assert_int_equal(b.serving, 0);
	hear(&a, &b);
	expect(&a, TAKING_BACK, DATABASE_FAILURE);
	assert_int_equal(st.actions, ACT(LEASE_OWN) | ACT(ANNOUNCE));
	fire(&a, RC_HA_EV_LEASE_WON);
	fire(&a, RC_HA_EV_FALLBACK_DONE);
	expect(&a, NORMAL, DATABASE_FAILURE);
	/* ... and then B's rooms, once B says it does not serve them. */
	hear(&a, &b);
	expect(&a, TAKING_OVER, DATABASE_FAILURE);
	assert_int_equal(st.actions, ACT(LEASE_PEER) | ACT(ANNOUNCE));
}

static void
test_takeover_failed_and_recover(void **state)
{
	struct rc_ha_fsm a, b;

	(void)state;
	start_pair(&a, &b);
	assert_int_equal(fire(&b, RC_HA_EV_PEER_DEAD), 0);
	expect(&b, TAKING_OVER, PEER_DOWN);
	assert_int_equal(st.actions, ACT(LEASE_PEER) | ACT(ANNOUNCE));
	fire(&b, RC_HA_EV_LEASE_WON);
	assert_int_equal(fire(&b, RC_HA_EV_TAKEOVER_FAILED), 0);
	expect(&b, FAILED_MODE, TAKEOVER_FAILED);
	assert_int_equal(st.actions, ACT(UNLOAD_PEER) | ACT(ANNOUNCE) | ACT(ALARM));
	assert_int_equal(b.serving, RC_HA_OWN);
	assert_int_equal(b.lease_want, RC_HA_OWN);
	/* Failed mode stays until the administrator acts. */
	assert_int_equal(fire(&b, RC_HA_EV_PEER_DEAD), 0);
	assert_int_equal(st.result, RC_HA_RES_IGNORED);
	assert_int_equal(fire(&b, RC_HA_EV_ADMIN_FALLBACK), -EPERM);
	assert_int_equal(fire(&b, RC_HA_EV_ADMIN_FAILOVER), -EPERM);
	/* ha recover: Initializing, the lease (still ours: answered at once), Normal. */
	assert_int_equal(fire(&b, RC_HA_EV_ADMIN_RECOVER), 0);
	expect(&b, INITIALIZING, ADMIN);
	assert_int_equal(st.actions, ACT(UNLOAD_PEER) | ACT(LEASE_OWN) | ACT(ANNOUNCE));
	assert_int_equal(b.serving, RC_HA_OWN);
	fire(&b, RC_HA_EV_LEASE_WON);
	expect(&b, NORMAL, NORMAL);
	/* The peer is still dead: the next dead-time tick tries again. */
	assert_int_equal(fire(&b, RC_HA_EV_PEER_DEAD), 0);
	expect(&b, TAKING_OVER, PEER_DOWN);
	/* Recover with a critical service down: give the rooms to the peer. */
	start_pair(&a, &b);
	fire(&b, RC_HA_EV_PEER_DEAD);
	fire(&b, RC_HA_EV_LEASE_WON);
	fire(&b, RC_HA_EV_TAKEOVER_FAILED);
	fire(&b, RC_HA_EV_DB_DOWN);
	assert_int_equal(fire(&b, RC_HA_EV_ADMIN_RECOVER), 0);
	expect(&b, FAILED_OVER_CSNR, ADMIN);
	assert_int_equal(b.serving, 0);
	assert_int_equal(fire(&b, RC_HA_EV_ADMIN_RECOVER), -EPERM);
}

static void
test_start_failures(void **state)
{
	struct rc_ha_fsm a, b;

	(void)state;
	rc_ha_fsm_init(&a, true, now);
	assert_int_equal(fire(&a, RC_HA_EV_LOCAL_CRITICAL_DOWN), 0);
	expect(&a, FAILED_OVER_CSNR, START_CRITICAL_FAILED);
	rc_ha_fsm_init(&a, true, now);
	fire(&a, RC_HA_EV_LOCAL_CRITICAL_UP);
	assert_int_equal(fire(&a, RC_HA_EV_DB_DOWN), 0);
	expect(&a, FAILED_OVER_CSNR, DATABASE_FAILURE);
	assert_int_equal(a.lease_want, 0);
	assert_int_equal(a.await, RC_HA_AWAIT_NONE);
	/* The lease answer of the abandoned attempt is stale. */
	assert_int_equal(fire(&a, RC_HA_EV_LEASE_WON), 0);
	assert_int_equal(st.result, RC_HA_RES_STALE);
	/* The peer, Normal, takes the rooms of a node whose start failed. */
	start_pair(&a, &b);
	rc_ha_fsm_init(&a, true, now);
	fire(&a, RC_HA_EV_LOCAL_CRITICAL_DOWN);
	hear(&b, &a);
	expect(&b, TAKING_OVER, START_CRITICAL_FAILED);
	assert_int_equal(st.actions, ACT(LEASE_PEER) | ACT(ANNOUNCE));
}

static void
test_ha_disabled(void **state)
{
	struct rc_ha_fsm a, b;

	(void)state;
	rc_ha_fsm_init(&a, false, now);
	expect(&a, UNKNOWN, HA_NOT_ENABLED);
	assert_int_equal(fire(&a, RC_HA_EV_LOCAL_CRITICAL_UP), 0);
	assert_int_equal(st.actions, ACT(LEASE_OWN));
	fire(&a, RC_HA_EV_LEASE_WON);
	assert_int_equal(st.actions, ACT(RELOAD_OWN));
	assert_int_equal(a.serving, RC_HA_OWN);
	assert_int_equal(fire(&a, RC_HA_EV_ADMIN_FAILOVER), -EPERM);
	assert_int_equal(fire(&a, RC_HA_EV_PEER_DEAD), 0);
	expect(&a, UNKNOWN, HA_NOT_ENABLED);
	/* Enabled: Initializing, the lease again (answered at once), Normal. */
	assert_int_equal(fire(&a, RC_HA_EV_HA_ENABLED), 0);
	expect(&a, INITIALIZING, INITIALIZATION);
	fire(&a, RC_HA_EV_LEASE_WON);
	expect(&a, NORMAL, NORMAL);
	/* Disabled from every state: Unknown, High Availability Not Enabled, peer's rooms gone. */
	for (int s = 0; s < RC_HA_STATE_MAX; s++) {
		if (s == RC_HA_UNKNOWN)
			continue;
		rc_ha_fsm_init(&a, true, now);
		a.state = s;
		a.critical_ok = true;
		assert_int_equal(fire(&a, RC_HA_EV_HA_DISABLED), 0);
		expect(&a, UNKNOWN, HA_NOT_ENABLED);
		assert_int_equal(st.actions, ACT(UNLOAD_PEER) | ACT(LEASE_OWN) | ACT(ANNOUNCE));
		assert_int_equal(a.serving & RC_HA_PEER, 0);
	}
	/* A backup whose group turns HA off gives the peer's rooms back; the peer reclaims. */
	failover_pair(&a, &b);
	fire(&b, RC_HA_EV_HA_DISABLED);
	expect(&b, UNKNOWN, HA_NOT_ENABLED);
	assert_int_equal(b.serving, RC_HA_OWN);
	fire(&a, RC_HA_EV_HA_DISABLED);
	expect(&a, UNKNOWN, HA_NOT_ENABLED);
	assert_int_equal(st.actions, ACT(UNLOAD_PEER) | ACT(LEASE_OWN) | ACT(ANNOUNCE));
	fire(&a, RC_HA_EV_LEASE_WON);
	assert_int_equal(a.serving, RC_HA_OWN);
	/* HA off, the peer dead: its users and address move here (take-users), its rooms do
	 * not; they go back when it is heard again (give-users), and before HA comes on. */
	rc_ha_fsm_init(&a, false, now);
	fire(&a, RC_HA_EV_LOCAL_CRITICAL_UP);
	fire(&a, RC_HA_EV_LEASE_WON);
	assert_int_equal(fire(&a, RC_HA_EV_PEER_DEAD), 0);
	assert_int_equal(st.result, RC_HA_RES_ACTIONS);
	assert_int_equal(st.actions, ACT(TAKE_USERS));
	assert_int_equal(a.serving, RC_HA_OWN);
	assert_int_equal(a.lease_want, RC_HA_OWN);
	assert_int_equal(fire(&a, RC_HA_EV_PEER_DEAD), 0);
	assert_int_equal(st.result, RC_HA_RES_REPEAT);
	assert_int_equal(fire(&a, RC_HA_EV_PEER_UP), 0);
	assert_int_equal(st.actions, ACT(GIVE_USERS));
	expect(&a, UNKNOWN, HA_NOT_ENABLED);
	fire(&a, RC_HA_EV_PEER_DEAD);
	assert_int_equal(st.actions, ACT(TAKE_USERS));
	assert_int_equal(fire(&a, RC_HA_EV_HA_ENABLED), 0);
	assert_int_equal(st.actions, ACT(GIVE_USERS) | ACT(LEASE_OWN) | ACT(ANNOUNCE));
	expect(&a, INITIALIZING, INITIALIZATION);
	/* Enabled while a critical service is down: Failed Over (CSNR) at once. */
	rc_ha_fsm_init(&a, false, now);
	assert_int_equal(fire(&a, RC_HA_EV_HA_ENABLED), 0);
	expect(&a, FAILED_OVER_CSNR, CRITICAL_SERVICE_DOWN);
}

/* 1A dies; 1B takes over (Peer Down); 1A restarts, finds its lease held: Failed Over. Then
 * 1B reboots while serving 1A's rooms: 1A takes them back (Peer Reboot). */
static void
test_peer_reboot(void **state)
{
	struct rc_ha_fsm a, b;

	(void)state;
	start_pair(&a, &b);
	fire(&b, RC_HA_EV_PEER_DEAD);
	assert_int_equal(fire(&b, RC_HA_EV_PEER_DEAD), 0);
	assert_int_equal(st.result, RC_HA_RES_REPEAT);
	fire(&b, RC_HA_EV_LEASE_WON);
	fire(&b, RC_HA_EV_TAKEOVER_DONE);
	expect(&b, BACKUP, PEER_DOWN);
	rc_ha_fsm_init(&a, true, now); /* 1A restarts */
	fire(&a, RC_HA_EV_LOCAL_CRITICAL_UP);
	assert_int_equal(fire(&a, RC_HA_EV_LEASE_REFUSED), 0);
	expect(&a, FAILED_OVER, INITIALIZATION);
	assert_int_equal(st.actions, ACT(RELEASE) | ACT(ANNOUNCE));
	assert_int_equal(a.lease_want, 0);
	assert_int_equal(fire(&b, RC_HA_EV_PEER_UP), 0);
	assert_int_equal(fire(&b, RC_HA_EV_PEER_REBOOTED), 0);
	assert_int_equal(st.result, RC_HA_RES_IGNORED);
	hear(&b, &a);
	expect(&b, BACKUP, PEER_DOWN);
	hear(&a, &b);
	expect(&a, FAILED_OVER, INITIALIZATION);
	/* 1B reboots. */
	rc_ha_fsm_init(&b, true, now);
	assert_int_equal(fire(&a, RC_HA_EV_PEER_REBOOTED), 0);
	expect(&a, TAKING_BACK, PEER_REBOOT);
	assert_int_equal(st.actions, ACT(LEASE_OWN) | ACT(ANNOUNCE));
	hear(&a, &b); /* 1B Initializing: not serving 1A's rooms */
	assert_int_equal(st.actions, ACT(LEASE_OWN));
	fire(&a, RC_HA_EV_LEASE_WON);
	fire(&a, RC_HA_EV_FALLBACK_DONE);
	expect(&a, NORMAL, PEER_REBOOT);
	fire(&b, RC_HA_EV_LOCAL_CRITICAL_UP);
	fire(&b, RC_HA_EV_LEASE_WON);
	expect(&b, NORMAL, NORMAL);
	/* A peer reboot seen in Normal changes nothing: the peer reclaims its own rooms. */
	assert_int_equal(fire(&a, RC_HA_EV_PEER_REBOOTED), 0);
	assert_int_equal(st.result, RC_HA_RES_IGNORED);
}

static void
test_auto_fallback(void **state)
{
	struct rc_ha_fsm a, b;
	uint64_t entered;

	(void)state;
	failover_pair(&a, &b);
	assert_int_equal(rc_ha_fsm_fallback_due(&a), 0);
	assert_int_equal(fire(&a, RC_HA_EV_HEALTHY_PERIOD), 0);
	assert_int_equal(st.result, RC_HA_RES_IGNORED);
	expect(&a, FAILED_OVER, AUTO_RECOVER_CRITICAL);
	/* On: due the period after entering Failed Over. */
	entered = a.since_ms;
	rc_ha_fsm_set_auto_fallback(&a, true, 60000);
	assert_int_equal(rc_ha_fsm_fallback_due(&a), entered + 60000);
	assert_int_equal(fire(&a, RC_HA_EV_HEALTHY_PERIOD), 0);
	expect(&a, TAKING_BACK, AUTO_FALLBACK);
	assert_int_equal(rc_ha_fsm_fallback_due(&a), 0);
	hear(&b, &a);
	expect(&b, FALLING_BACK, AUTO_FALLBACK);
	fire(&b, RC_HA_EV_FALLBACK_DONE);
	expect(&b, NORMAL, AUTO_FALLBACK);
	hear(&a, &b);
	fire(&a, RC_HA_EV_LEASE_WON);
	fire(&a, RC_HA_EV_FALLBACK_DONE);
	expect(&a, NORMAL, AUTO_FALLBACK);
	/* Not in Failed Over with Critical Services Not Running. */
	failover_pair(&a, &b);
	rc_ha_fsm_set_auto_fallback(&a, true, 1);
	fire(&a, RC_HA_EV_LOCAL_CRITICAL_DOWN);
	assert_int_equal(rc_ha_fsm_fallback_due(&a), 0);
	assert_int_equal(fire(&a, RC_HA_EV_HEALTHY_PERIOD), 0);
	assert_int_equal(st.result, RC_HA_RES_IGNORED);
}

/* Heartbeats and dead-time ticks repeat: only news is evaluated; answers carry their op. */
static void
test_repeat_stale_invalid(void **state)
{
	struct rc_ha_fsm a, b;
	struct rc_ha_event_data d = {0};
	uint32_t op;

	(void)state;
	start_pair(&a, &b);
	hear(&a, &b);
	assert_int_equal(st.result, RC_HA_RES_REPEAT);
	assert_int_equal(a.repeats, 1);
	fire(&a, RC_HA_EV_PEER_DEAD);
	op = st.op;
	assert_int_equal(st.actions, ACT(LEASE_PEER) | ACT(ANNOUNCE));
	fire(&a, RC_HA_EV_PEER_DEAD);
	assert_int_equal(st.result, RC_HA_RES_REPEAT);
	/* The peer comes back, Normal: give up the attempt. */
	fire(&a, RC_HA_EV_PEER_UP);
	hear(&a, &b);
	expect(&a, NORMAL, NORMAL);
	assert_int_equal(st.actions, ACT(UNLOAD_PEER) | ACT(ANNOUNCE));
	/* The lease module answers late: stale. */
	d.op = op;
	assert_int_equal(rc_ha_fsm_event(&a, RC_HA_EV_LEASE_WON, &d, now, &st), 0);
	assert_int_equal(st.result, RC_HA_RES_STALE);
	assert_int_equal(a.stale, 1);
	assert_int_equal(a.serving, RC_HA_OWN);
	/* Wrong op while one is awaited: stale too. */
	fire(&a, RC_HA_EV_PEER_DEAD);
	d.op = a.await_op + 1;
	assert_int_equal(rc_ha_fsm_event(&a, RC_HA_EV_LEASE_WON, &d, now, &st), 0);
	assert_int_equal(st.result, RC_HA_RES_STALE);
	d.op = a.await_op;
	assert_int_equal(rc_ha_fsm_event(&a, RC_HA_EV_TAKEOVER_DONE, &d, now, &st), 0);
	assert_int_equal(st.result, RC_HA_RES_STALE);
	assert_int_equal(rc_ha_fsm_event(&a, RC_HA_EV_LEASE_WON, &d, now, &st), 0);
	assert_int_equal(st.result, RC_HA_RES_ACTIONS);
	/* Bad arguments change nothing. */
	assert_int_equal(rc_ha_fsm_event(&a, RC_HA_EV_MAX, NULL, now, &st), -EINVAL);
	assert_int_equal(rc_ha_fsm_event(&a, RC_HA_EV_PEER_STATE, NULL, now, &st), -EINVAL);
	assert_int_equal(rc_ha_fsm_event(&a, RC_HA_EV_RELEASE_DONE, NULL, now, &st), -EINVAL);
	d.peer_state = RC_HA_STATE_MAX;
	assert_int_equal(rc_ha_fsm_event(&a, RC_HA_EV_PEER_STATE, &d, now, &st), -EINVAL);
	d.peer_state = RC_HA_NORMAL;
	d.peer_reason = RC_HA_REASON_MAX;
	assert_int_equal(rc_ha_fsm_event(&a, RC_HA_EV_PEER_STATE, &d, now, &st), -EINVAL);
	expect(&a, TAKING_OVER, PEER_DOWN);
	/* Invalid events are counted, not fatal. */
	assert_int_equal(fire(&a, RC_HA_EV_ADMIN_RECOVER), -EPERM);
	assert_int_equal(fire(&a, RC_HA_EV_ADMIN_RECOVER), -EPERM);
	assert_int_equal(a.invalid[RC_HA_EV_ADMIN_RECOVER], 2);
	expect(&a, TAKING_OVER, PEER_DOWN);
}

/* rc_ha_fsm_refuses answers what rc_ha_fsm_event would do, in every state, with the guards
 * both ways. */
static void
test_refuses(void **state)
{
	struct rc_ha_fsm f, g;

	(void)state;
	for (unsigned s = 0; s < RC_HA_STATE_MAX; s++)
		for (unsigned k = 0; k < 16; k++)
			for (unsigned e = 0; e < RC_HA_EV_MAX; e++) {
				rc_ha_fsm_init(&f, true, now);
				f.state = (enum rc_ha_state)s;
				f.critical_ok = k & 1;
				f.db_ok = k & 2;
				f.reason = k & 4 ? RC_HA_REASON_ADMIN : RC_HA_REASON_PEER_DOWN;
				f.peer_alive = f.peer_known = k & 8;
				f.peer_state = RC_HA_NORMAL;
				g = f;
				assert_int_equal(rc_ha_fsm_refuses(&f, (enum rc_ha_event)e),
						 fire(&g, (enum rc_ha_event)e) == -EPERM);
			}
	/* `ha fallback` names the states that accept it in its refusal. */
	for (unsigned s = 0; s < RC_HA_STATE_MAX; s++) {
		rc_ha_fsm_init(&f, true, now);
		f.state = (enum rc_ha_state)s;
		assert_int_equal(rc_ha_fsm_refuses(&f, RC_HA_EV_ADMIN_FALLBACK),
				 s != RC_HA_FAILED_OVER && s != RC_HA_IDLE);
	}
	assert_false(rc_ha_fsm_refuses(&f, RC_HA_EV_MAX));
}

static void
test_json_and_format(void **state)
{
	struct rc_ha_fsm a, b;
	char line[256];
	json_t *j, *h;

	(void)state;
	failover_pair(&a, &b);
	hear(&b, &a);
	fire(&b, RC_HA_EV_ADMIN_FALLBACK);
	j = rc_ha_fsm_to_json(&b, b.since_ms + 1234);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "state")),
			    "Running in Backup Mode");
	assert_string_equal(json_string_value(json_object_get(j, "reason")),
			    "Critical Service Down");
	assert_int_equal(json_integer_value(json_object_get(j, "in_state_ms")), 1234);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "peer"), "state")),
			    "Failed Over");
	assert_true(json_is_true(json_object_get(json_object_get(j, "serving"), "peer")));
	assert_true(json_is_null(json_object_get(j, "fallback_due_ms")));
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(j, "invalid"), "admin-fallback")),
			 1);
	h = json_object_get(j, "history");
	assert_int_equal(json_array_size(h), 3); /* Normal, Taking Over, Backup */
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "to")),
			    "Normal");
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 2), "to")),
			    "Running in Backup Mode");
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 2), "event")),
			    "takeover-done");
	json_decref(j);
	/* The ring keeps the last RC_HA_HISTORY transitions, oldest first. */
	for (int i = 0; i < 20; i++) {
		fire(&a, RC_HA_EV_LOCAL_CRITICAL_DOWN);
		fire(&a, RC_HA_EV_LOCAL_CRITICAL_UP);
	}
	j = rc_ha_fsm_to_json(&a, now);
	h = json_object_get(j, "history");
	assert_int_equal(json_array_size(h), RC_HA_HISTORY);
	assert_string_equal(json_string_value(json_object_get(json_array_get(h, 15), "to")),
			    "Failed Over");
	json_decref(j);
	/* Log lines. */
	fire(&a, RC_HA_EV_ADMIN_FAILOVER);
	rc_ha_step_format(&st, line, sizeof(line));
	assert_string_equal(line, "admin-failover not allowed in Failed Over (Auto Recover "
				  "(critical service))");
	fire(&a, RC_HA_EV_PEER_UP);
	rc_ha_step_format(&st, line, sizeof(line));
	assert_string_equal(line,
			    "peer-up ignored in Failed Over (Auto Recover (critical service))");
	/* snprintf's contract: the full length, the text cut and terminated. */
	assert_int_equal(
		rc_ha_step_format(&st, line, 4),
		(int)strlen("peer-up ignored in Failed Over (Auto Recover (critical service))"));
	assert_string_equal(line, "pee");
}

/* ---- exhaustive search: two machines, one lease per set of rooms ----
 *
 * A world is both machines (as far as behaviour goes) plus the lease holders. Set s is node
 * s's rooms; node n's OWN set is n, its PEER set 1 - n. The environment may deliver, to
 * either node, at any time: the other's current state (heartbeat), peer-dead, peer-up,
 * peer-rebooted (after a reboot), local health changes, every admin command, healthy-period,
 * ha-disabled / ha-enabled, lease-lost to a holder (which then loses the lease), a reboot,
 * and the answer to the awaited operation. lease-won only when the set is free or already
 * held by the asker; lease-refused only when the other node holds it (and so renews it).
 * A node drops a lease when its actions stop wanting it.
 */

struct world {
	struct rc_ha_fsm f[2];
	uint8_t holder[2]; /* 0 free, 1 + node */
	bool ha[2], rebooted[2];
	uint8_t serving[2]; /* the model's own account, from the actions */
};

enum {
	M_HEAR,
	M_DEAD,
	M_UP,
	M_REBOOTED,
	M_CRIT_DOWN,
	M_CRIT_UP,
	M_DB_DOWN,
	M_DB_UP,
	M_ADMIN_FAILOVER,
	M_ADMIN_FALLBACK,
	M_ADMIN_RECOVER,
	M_HEALTHY,
	M_LEASE_WON,
	M_LEASE_REFUSED,
	M_LEASE_LOST,
	M_TAKEOVER_DONE,
	M_TAKEOVER_FAILED,
	M_RELEASE_DONE,
	M_FALLBACK_DONE,
	M_FALLBACK_FAILED,
	M_REBOOT,
	M_HA_OFF,
	M_HA_ON,
	M_MAX
};

static const enum rc_ha_event move_event[M_MAX] = {
	[M_HEAR] = RC_HA_EV_PEER_STATE,
	[M_DEAD] = RC_HA_EV_PEER_DEAD,
	[M_UP] = RC_HA_EV_PEER_UP,
	[M_REBOOTED] = RC_HA_EV_PEER_REBOOTED,
	[M_CRIT_DOWN] = RC_HA_EV_LOCAL_CRITICAL_DOWN,
	[M_CRIT_UP] = RC_HA_EV_LOCAL_CRITICAL_UP,
	[M_DB_DOWN] = RC_HA_EV_DB_DOWN,
	[M_DB_UP] = RC_HA_EV_DB_UP,
	[M_ADMIN_FAILOVER] = RC_HA_EV_ADMIN_FAILOVER,
	[M_ADMIN_FALLBACK] = RC_HA_EV_ADMIN_FALLBACK,
	[M_ADMIN_RECOVER] = RC_HA_EV_ADMIN_RECOVER,
	[M_HEALTHY] = RC_HA_EV_HEALTHY_PERIOD,
	[M_LEASE_WON] = RC_HA_EV_LEASE_WON,
	[M_LEASE_REFUSED] = RC_HA_EV_LEASE_REFUSED,
	[M_LEASE_LOST] = RC_HA_EV_LEASE_LOST,
	[M_TAKEOVER_DONE] = RC_HA_EV_TAKEOVER_DONE,
	[M_TAKEOVER_FAILED] = RC_HA_EV_TAKEOVER_FAILED,
	[M_RELEASE_DONE] = RC_HA_EV_RELEASE_DONE,
	[M_FALLBACK_DONE] = RC_HA_EV_FALLBACK_DONE,
	[M_FALLBACK_FAILED] = RC_HA_EV_FALLBACK_FAILED,
	[M_REBOOT] = RC_HA_EV_MAX,
	[M_HA_OFF] = RC_HA_EV_HA_DISABLED,
	[M_HA_ON] = RC_HA_EV_HA_ENABLED,
};

static bool search_auto_fallback;

/* Which set an awaited lease answer is for, or -1. */
static int
lease_set(const struct world *w, int n)
{
	if (w->f[n].await == RC_HA_AWAIT_LEASE_OWN)
		return n;
	if (w->f[n].await == RC_HA_AWAIT_LEASE_PEER)
		return 1 - n;
	return -1;
}

static bool
holds(const struct world *w, int n, int set)
{
	return w->holder[set] == n + 1;
}

/* Set bit (OWN / PEER of node n) -> set number. */
static int
set_of(int n, uint32_t bit)
{
	return bit == RC_HA_OWN ? n : 1 - n;
}

static void
drop(struct world *w, int n, uint32_t bits)
{
	for (uint32_t b = RC_HA_OWN; b <= RC_HA_PEER; b <<= 1)
		if ((bits & b) && holds(w, n, set_of(n, b)))
			w->holder[set_of(n, b)] = 0;
}

/* The caller's side of the actions: serve, stop, drop leases. Fails the test when a node
 * would serve rooms whose lease it does not hold. */
static void
perform(struct world *w, int n, uint32_t actions)
{
	if (actions & ACT(FENCE)) {
		w->serving[n] = 0;
		drop(w, n, RC_HA_OWN | RC_HA_PEER);
	}
	if (actions & ACT(RELEASE)) {
		w->serving[n] &= ~RC_HA_OWN;
		drop(w, n, RC_HA_OWN);
	}
	if (actions & ACT(UNLOAD_PEER)) {
		w->serving[n] &= ~RC_HA_PEER;
		drop(w, n, RC_HA_PEER);
	}
	if (actions & (ACT(RELOAD_OWN) | ACT(TAKE_BACK))) {
		assert_true(holds(w, n, n));
		w->serving[n] |= RC_HA_OWN;
	}
	if (actions & ACT(START_TAKEOVER)) {
		assert_true(holds(w, n, 1 - n));
		w->serving[n] |= RC_HA_PEER;
	}
}

static uint32_t
must_serve(enum rc_ha_state s)
{
	switch (s) {
	case RC_HA_NORMAL:
	case RC_HA_TAKING_OVER:
	case RC_HA_FALLING_BACK:
		return RC_HA_OWN;
	case RC_HA_BACKUP:
		return RC_HA_OWN | RC_HA_PEER;
	default:
		return 0;
	}
}

static void
check_world(const struct world *w)
{
	for (int n = 0; n < 2; n++) {
		const struct rc_ha_fsm *f = &w->f[n];
		uint32_t held =
			(holds(w, n, n) ? RC_HA_OWN : 0) | (holds(w, n, 1 - n) ? RC_HA_PEER : 0);
		int ls = lease_set(w, n);
		uint32_t acquiring = ls < 0 ? 0 : ls == n ? RC_HA_OWN : RC_HA_PEER;

		/* No set served by both nodes. */
		assert_false((w->serving[n] & RC_HA_OWN) && (w->serving[1 - n] & RC_HA_PEER));
		/* Served only under its lease. */
		assert_int_equal(w->serving[n] & ~held, 0);
		/* The machine's account agrees with the caller's. */
		assert_int_equal(f->serving, w->serving[n]);
		/* The state says what may and what must be served. */
		assert_int_equal(w->serving[n] & ~rc_ha_state_may_serve(f->state), 0);
		assert_int_equal(must_serve(f->state) & ~w->serving[n], 0);
		/* A lease held is a lease used (never one that blocks the peer for nothing);
		 * leases wanted are held or being acquired. */
		assert_int_equal(held, w->serving[n]);
		assert_int_equal(held & ~f->lease_want, 0);
		assert_int_equal(f->lease_want & ~held & ~acquiring, 0);
	}
}

/* Apply move m to node n; false when the move is not possible in this world. */
static bool
apply(struct world *w, int n, int m)
{
	struct rc_ha_fsm *f = &w->f[n];
	struct rc_ha_event_data d = {.op = f->await_op};
	int o = 1 - n, ls = lease_set(w, n), r;
	struct rc_ha_step s;

	switch (m) {
	case M_HEAR:
		d.peer_state = w->f[o].state;
		d.peer_reason = w->f[o].reason;
		break;
	case M_REBOOTED:
		if (!w->rebooted[o])
			return false;
		w->rebooted[o] = false;
		break;
	case M_LEASE_WON:
		if (ls < 0 || holds(w, o, ls))
			return false;
		w->holder[ls] = n + 1;
		break;
	case M_LEASE_REFUSED:
		if (ls < 0 || !holds(w, o, ls))
			return false;
		break;
	case M_LEASE_LOST:
		if (!holds(w, n, 0) && !holds(w, n, 1))
			return false;
		break;
	case M_TAKEOVER_DONE:
	case M_TAKEOVER_FAILED:
		if (f->await != RC_HA_AWAIT_TAKEOVER)
			return false;
		break;
	case M_RELEASE_DONE:
		if (f->await != RC_HA_AWAIT_RELEASE)
			return false;
		break;
	case M_FALLBACK_DONE:
	case M_FALLBACK_FAILED:
		if (f->await != RC_HA_AWAIT_UNLOAD && f->await != RC_HA_AWAIT_RELOAD)
			return false;
		break;
	case M_REBOOT:
		drop(w, n, RC_HA_OWN | RC_HA_PEER); /* the dead incarnation's leases expire */
		rc_ha_fsm_init(f, w->ha[n], T0);
		rc_ha_fsm_set_auto_fallback(f, search_auto_fallback, 1);
		w->serving[n] = 0;
		w->rebooted[n] = true;
		return true;
	case M_HA_OFF:
		w->ha[n] = false;
		break;
	case M_HA_ON:
		w->ha[n] = true;
		break;
	default:
		break;
	}
	r = rc_ha_fsm_event(f, move_event[m], &d, T0, &s);
	assert_true(r == 0 || r == -EPERM);
	if (m == M_LEASE_LOST) {
		/* Fenced before the lease could expire. */
		assert_int_equal(f->serving, 0);
		drop(w, n, RC_HA_OWN | RC_HA_PEER);
	}
	perform(w, n, s.actions);
	return true;
}

/* Reasons change behaviour only through the guard "reason is On Admin Request"; a peer
 * reason that changes alone only makes the peer's state evaluated again, which peer-up also
 * does. So the search keeps two reasons, On Admin Request and Normal (every other), which
 * turns millions of worlds into a few hundred thousand without losing a behaviour. */
static enum rc_ha_reason
canon(enum rc_ha_reason r)
{
	return r == RC_HA_REASON_ADMIN ? r : RC_HA_REASON_NORMAL;
}

static void
canonicalize(struct world *w)
{
	for (int n = 0; n < 2; n++) {
		w->f[n].reason = canon(w->f[n].reason);
		w->f[n].peer_reason = canon(w->f[n].peer_reason);
	}
}

/* A world as 64 bits: 30 per node, 2 per lease holder. Counters, times and op numbers do
 * not change behaviour (the awaited op is renumbered on decode). */
#define PUT(k, v, bits)                                                                            \
	do {                                                                                       \
		k = (k << (bits)) | ((uint64_t)(v) & ((1ULL << (bits)) - 1));                      \
	} while (0)
#define GET(k, bits) ((unsigned)(((k) >> (pos -= (bits))) & ((1ULL << (bits)) - 1)))

static uint64_t
encode(const struct world *w)
{
	uint64_t k = 0;

	for (int n = 0; n < 2; n++) {
		const struct rc_ha_fsm *f = &w->f[n];

		PUT(k, f->state, 4);
		PUT(k, f->reason, 4);
		PUT(k, f->peer_state, 4);
		PUT(k, f->peer_reason, 4);
		PUT(k, f->peer_alive, 1);
		PUT(k, f->peer_known, 1);
		PUT(k, f->peer_seen, 1);
		PUT(k, f->critical_ok, 1);
		PUT(k, f->db_ok, 1);
		PUT(k, f->serving, 2);
		PUT(k, f->lease_want, 2);
		PUT(k, f->await, 3);
		PUT(k, w->ha[n], 1);
		PUT(k, w->rebooted[n], 1);
	}
	PUT(k, w->holder[0], 2);
	PUT(k, w->holder[1], 2);
	return k;
}

static void
decode(uint64_t k, struct world *w)
{
	unsigned pos = 64;

	for (int n = 0; n < 2; n++) {
		struct rc_ha_fsm *f = &w->f[n];

		rc_ha_fsm_init(f, true, T0);
		rc_ha_fsm_set_auto_fallback(f, search_auto_fallback, 1);
		f->state = GET(k, 4);
		f->reason = GET(k, 4);
		f->peer_state = GET(k, 4);
		f->peer_reason = GET(k, 4);
		f->peer_alive = GET(k, 1);
		f->peer_known = GET(k, 1);
		f->peer_seen = GET(k, 1);
		f->critical_ok = GET(k, 1);
		f->db_ok = GET(k, 1);
		f->serving = GET(k, 2);
		f->lease_want = GET(k, 2);
		f->await = GET(k, 3);
		f->op_seq = 7;
		f->await_op = f->await ? 7 : 0;
		w->ha[n] = GET(k, 1);
		w->rebooted[n] = GET(k, 1);
		w->serving[n] = (uint8_t)f->serving;
	}
	w->holder[0] = GET(k, 2);
	w->holder[1] = GET(k, 2);
}

/* Open-addressing set of 64-bit keys. */
struct keyset {
	uint64_t *keys;
	uint8_t *used;
	size_t cap, len;
};

static uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

static bool ks_add(struct keyset *s, uint64_t k);

static void
ks_grow(struct keyset *s)
{
	struct keyset n = {calloc(s->cap * 2, 8), calloc(s->cap * 2, 1), s->cap * 2, 0};

	assert_non_null(n.keys);
	assert_non_null(n.used);
	for (size_t i = 0; i < s->cap; i++)
		if (s->used[i])
			ks_add(&n, s->keys[i]);
	free(s->keys);
	free(s->used);
	*s = n;
}

/* true when k was not there */
static bool
ks_add(struct keyset *s, uint64_t k)
{
	size_t i;

	if ((s->len + 1) * 2 > s->cap)
		ks_grow(s);
	for (i = mix(k) & (s->cap - 1); s->used[i]; i = (i + 1) & (s->cap - 1))
		if (s->keys[i] == k)
			return false;
	s->used[i] = 1;
	s->keys[i] = k;
	s->len++;
	return true;
}

/* Faults stop: health back, HA back on, heartbeats flow, operations succeed, leases are
 * answered. Runs rounds until nothing changes; every set must end up served unless a node
 * waits for the administrator in Running in Failed Mode. */
static void
settle(struct world *w)
{
	static const int round[] = {
		M_CRIT_UP,   M_DB_UP,	      M_HA_ON,	       M_UP,	       M_HEAR,
		M_LEASE_WON, M_LEASE_REFUSED, M_TAKEOVER_DONE, M_RELEASE_DONE, M_FALLBACK_DONE};
	uint64_t before;
	int i;

	for (i = 0; i < 64; i++) {
		before = encode(w);
		for (int n = 0; n < 2; n++) {
			for (size_t m = 0; m < sizeof(round) / sizeof(round[0]); m++) {
				const struct rc_ha_fsm *f = &w->f[n];

				if ((round[m] == M_CRIT_UP && f->critical_ok) ||
				    (round[m] == M_DB_UP && f->db_ok) ||
				    (round[m] == M_HA_ON && w->ha[n]))
					continue;
				apply(w, n, round[m]);
				check_world(w);
			}
		}
		if (encode(w) == before)
			break;
	}
	assert_true(i < 64);
	if (w->f[0].state == RC_HA_FAILED_MODE || w->f[1].state == RC_HA_FAILED_MODE)
		return;
	for (int s = 0; s < 2; s++)
		if (!((w->serving[s] & RC_HA_OWN) || (w->serving[1 - s] & RC_HA_PEER))) {
			fprintf(stderr, "rooms of node %d unserved: %s (%s) / %s (%s)\n", s,
				rc_ha_state_name(w->f[0].state), rc_ha_reason_name(w->f[0].reason),
				rc_ha_state_name(w->f[1].state), rc_ha_reason_name(w->f[1].reason));
			fail();
		}
}

/* ---- compositional search: one machine against everything its peer could do ----
 *
 * The environment announces ANY peer state with any reason at any time, declares the peer
 * dead, up or rebooted, and the peer takes any lease this node does not hold, or drops one it
 * holds. Every world reachable this way (no depth bound) is checked: the node serves a set of
 * rooms only while it holds that set's lease, holds no lease it does not use, fences on
 * lease-lost, and its state agrees with what it serves. Since a lease has one holder at a
 * time and both nodes run this code, no two nodes ever serve the same rooms, whatever the
 * heartbeats say or fail to say. Auto fallback is on (off only ignores healthy-period).
 */

struct solo {
	struct rc_ha_fsm f;
	uint8_t holder[2]; /* [0] our rooms' lease, [1] the peer's: 0 free, 1 us, 2 the peer */
	uint8_t serving;   /* the caller's account */
	bool ha;
};

enum {
	S_HEAR = 0, /* + 2 * peer state + (reason is On Admin Request) */
	S_EVENT = S_HEAR + 2 * RC_HA_STATE_MAX, /* + M_* (M_HEAR unused) */
	S_PEER_TAKES = S_EVENT + M_MAX,		/* + set */
	S_PEER_DROPS = S_PEER_TAKES + 2,	/* + set */
	S_MAX = S_PEER_DROPS + 2
};

static uint32_t
solo_held(const struct solo *w)
{
	return (w->holder[0] == 1 ? RC_HA_OWN : 0) | (w->holder[1] == 1 ? RC_HA_PEER : 0);
}

static void
solo_drop(struct solo *w, uint32_t bits)
{
	for (int s = 0; s < 2; s++)
		if ((bits & (s ? RC_HA_PEER : RC_HA_OWN)) && w->holder[s] == 1)
			w->holder[s] = 0;
}

static void
solo_perform(struct solo *w, uint32_t actions)
{
	if (actions & ACT(FENCE)) {
		w->serving = 0;
		solo_drop(w, RC_HA_OWN | RC_HA_PEER);
	}
	if (actions & ACT(RELEASE)) {
		w->serving &= ~RC_HA_OWN;
		solo_drop(w, RC_HA_OWN);
	}
	if (actions & ACT(UNLOAD_PEER)) {
		w->serving &= ~RC_HA_PEER;
		solo_drop(w, RC_HA_PEER);
	}
	if (actions & (ACT(RELOAD_OWN) | ACT(TAKE_BACK))) {
		assert_int_equal(w->holder[0], 1);
		w->serving |= RC_HA_OWN;
	}
	if (actions & ACT(START_TAKEOVER)) {
		assert_int_equal(w->holder[1], 1);
		w->serving |= RC_HA_PEER;
	}
}

static void
solo_check(const struct solo *w)
{
	const struct rc_ha_fsm *f = &w->f;
	uint32_t held = solo_held(w);
	uint32_t acquiring = f->await == RC_HA_AWAIT_LEASE_OWN	  ? RC_HA_OWN
			     : f->await == RC_HA_AWAIT_LEASE_PEER ? RC_HA_PEER
								  : 0;

	assert_int_equal(w->serving & ~held, 0);
	assert_int_equal(held, w->serving);
	assert_int_equal(f->serving, w->serving);
	assert_int_equal(w->serving & ~rc_ha_state_may_serve(f->state), 0);
	assert_int_equal(must_serve(f->state) & ~w->serving, 0);
	assert_int_equal(held & ~f->lease_want, 0);
	assert_int_equal(f->lease_want & ~held & ~acquiring, 0);
	assert_int_equal(acquiring & ~f->lease_want, 0);
}

static bool
solo_apply(struct solo *w, int m)
{
	struct rc_ha_fsm *f = &w->f;
	struct rc_ha_event_data d = {.op = f->await_op};
	int set = f->await == RC_HA_AWAIT_LEASE_OWN    ? 0
		  : f->await == RC_HA_AWAIT_LEASE_PEER ? 1
						       : -1;
	enum rc_ha_event ev;
	struct rc_ha_step s;
	int r;

	if (m < S_EVENT) {
		ev = RC_HA_EV_PEER_STATE;
		d.peer_state = (m - S_HEAR) / 2;
		d.peer_reason = (m - S_HEAR) % 2 ? RC_HA_REASON_ADMIN : RC_HA_REASON_NORMAL;
	} else if (m >= S_PEER_TAKES) {
		int which = m >= S_PEER_DROPS ? m - S_PEER_DROPS : m - S_PEER_TAKES;

		if (m < S_PEER_DROPS && w->holder[which] == 0)
			w->holder[which] = 2;
		else if (m >= S_PEER_DROPS && w->holder[which] == 2)
			w->holder[which] = 0;
		else
			return false;
		return true;
	} else {
		int e = m - S_EVENT;

		switch (e) {
		case M_HEAR:
			return false;
		case M_LEASE_WON:
			if (set < 0 || w->holder[set] == 2)
				return false;
			w->holder[set] = 1;
			break;
		case M_LEASE_REFUSED:
			if (set < 0 || w->holder[set] != 2)
				return false;
			break;
		case M_LEASE_LOST:
			if (solo_held(w) == 0)
				return false;
			break;
		case M_TAKEOVER_DONE:
		case M_TAKEOVER_FAILED:
			if (f->await != RC_HA_AWAIT_TAKEOVER)
				return false;
			break;
		case M_RELEASE_DONE:
			if (f->await != RC_HA_AWAIT_RELEASE)
				return false;
			break;
		case M_FALLBACK_DONE:
		case M_FALLBACK_FAILED:
			if (f->await != RC_HA_AWAIT_UNLOAD && f->await != RC_HA_AWAIT_RELOAD)
				return false;
			break;
		case M_REBOOT:
			solo_drop(w, RC_HA_OWN | RC_HA_PEER);
			rc_ha_fsm_init(f, w->ha, T0);
			rc_ha_fsm_set_auto_fallback(f, true, 1);
			w->serving = 0;
			return true;
		case M_HA_OFF:
			w->ha = false;
			break;
		case M_HA_ON:
			w->ha = true;
			break;
		default:
			break;
		}
		ev = move_event[e];
	}
	r = rc_ha_fsm_event(f, ev, &d, T0, &s);
	assert_true(r == 0 || r == -EPERM);
	if (ev == RC_HA_EV_LEASE_LOST) {
		assert_int_equal(f->serving, 0); /* fenced before the lease can expire */
		solo_drop(w, RC_HA_OWN | RC_HA_PEER);
	}
	solo_perform(w, s.actions);
	f->reason = canon(f->reason);
	f->peer_reason = canon(f->peer_reason);
	return true;
}

/* 27 bits. */
static uint32_t
solo_encode(const struct solo *w)
{
	const struct rc_ha_fsm *f = &w->f;
	uint64_t k = 0;

	PUT(k, f->state, 4);
	PUT(k, f->reason == RC_HA_REASON_ADMIN, 1);
	PUT(k, f->peer_state, 4);
	PUT(k, f->peer_reason == RC_HA_REASON_ADMIN, 1);
	PUT(k, f->peer_alive, 1);
	PUT(k, f->peer_known, 1);
	PUT(k, f->peer_seen, 1);
	PUT(k, f->critical_ok, 1);
	PUT(k, f->db_ok, 1);
	PUT(k, f->serving, 2);
	PUT(k, f->lease_want, 2);
	PUT(k, f->await, 3);
	PUT(k, w->ha, 1);
	PUT(k, w->holder[0], 2);
	PUT(k, w->holder[1], 2);
	return (uint32_t)k;
}

static void
solo_decode(uint32_t k, struct solo *w)
{
	struct rc_ha_fsm *f = &w->f;
	unsigned pos = 27;

	rc_ha_fsm_init(f, true, T0);
	rc_ha_fsm_set_auto_fallback(f, true, 1);
	f->state = GET(k, 4);
	f->reason = GET(k, 1) ? RC_HA_REASON_ADMIN : RC_HA_REASON_NORMAL;
	f->peer_state = GET(k, 4);
	f->peer_reason = GET(k, 1) ? RC_HA_REASON_ADMIN : RC_HA_REASON_NORMAL;
	f->peer_alive = GET(k, 1);
	f->peer_known = GET(k, 1);
	f->peer_seen = GET(k, 1);
	f->critical_ok = GET(k, 1);
	f->db_ok = GET(k, 1);
	f->serving = GET(k, 2);
	f->lease_want = GET(k, 2);
	f->await = GET(k, 3);
	f->op_seq = 7;
	f->await_op = f->await ? 7 : 0;
	w->ha = GET(k, 1);
	w->holder[0] = GET(k, 2);
	w->holder[1] = GET(k, 2);
	w->serving = (uint8_t)f->serving;
}

static void
test_split_brain_compositional(void **state)
{
	uint8_t *seen = calloc((1u << 27) / 8, 1);
	size_t cap = 1 << 16, top = 0, count = 0;
	uint32_t *stack = malloc(cap * 4), k;
	unsigned states = 0;
	struct solo w;

	(void)state;
	assert_non_null(seen);
	assert_non_null(stack);
	memset(&w, 0, sizeof(w));
	w.ha = true;
	rc_ha_fsm_init(&w.f, true, T0);
	rc_ha_fsm_set_auto_fallback(&w.f, true, 1);
	k = solo_encode(&w);
	seen[k / 8] |= (uint8_t)(1u << (k % 8));
	stack[top++] = k;
	while (top > 0) {
		k = stack[--top];
		count++;
		solo_decode(k, &w);
		assert_int_equal(solo_encode(&w), k);
		solo_check(&w);
		states |= 1u << w.f.state;
		for (int m = 0; m < S_MAX; m++) {
			struct solo next = w;
			uint32_t nk;

			if (!solo_apply(&next, m))
				continue;
			solo_check(&next);
			nk = solo_encode(&next);
			if (seen[nk / 8] & (1u << (nk % 8)))
				continue;
			seen[nk / 8] |= (uint8_t)(1u << (nk % 8));
			if (top == cap) {
				cap *= 2;
				stack = realloc(stack, cap * 4);
				assert_non_null(stack);
			}
			stack[top++] = nk;
		}
	}
	fprintf(stderr, "one node against any peer: %zu worlds, all reachable ones\n", count);
	assert_int_equal(states, (1u << RC_HA_STATE_MAX) - 1); /* every state was reached */
	free(stack);
	free(seen);
}

/* Breadth first from `start`, every world up to max_depth moves away (BFS finds each at its
 * least depth, so the set of worlds is exact). Each world found is checked, and settled. */
static size_t
search_pairs(const struct world *start, bool ha_toggles, int max_depth)
{
	struct keyset seen = {calloc(1 << 20, 8), calloc(1 << 20, 1), 1 << 20, 0};
	size_t cap = 1 << 16, len = 0, nlen;
	uint64_t *level = malloc(cap * 8), *next_level;
	struct world w = *start;

	assert_non_null(level);
	canonicalize(&w);
	ks_add(&seen, encode(&w));
	level[len++] = encode(&w);
	for (int depth = 0; depth <= max_depth && len > 0; depth++) {
		size_t ncap = cap;

		next_level = malloc(ncap * 8);
		assert_non_null(next_level);
		nlen = 0;
		for (size_t i = 0; i < len; i++) {
			struct world calm;

			decode(level[i], &w);
			assert_int_equal(encode(&w), level[i]);
			check_world(&w);
			calm = w;
			settle(&calm);
			if (depth == max_depth)
				continue;
			for (int n = 0; n < 2; n++) {
				for (int m = 0; m < M_MAX; m++) {
					struct world next = w;

					if (!ha_toggles && (m == M_HA_OFF || m == M_HA_ON))
						continue;
					if (!apply(&next, n, m))
						continue;
					check_world(&next);
					canonicalize(&next);
					if (!ks_add(&seen, encode(&next)))
						continue;
					if (nlen == ncap) {
						ncap *= 2;
						next_level = realloc(next_level, ncap * 8);
						assert_non_null(next_level);
					}
					next_level[nlen++] = encode(&next);
				}
			}
		}
		if (getenv("HA_FSM_VERBOSE"))
			fprintf(stderr, "depth %d: %zu worlds, %zu seen\n", depth, len, seen.len);
		free(level);
		level = next_level;
		len = nlen;
		cap = ncap;
	}
	free(level);
	free(seen.keys);
	free(seen.used);
	return seen.len;
}

static void
pair_init(struct world *w, bool auto_fallback)
{
	memset(w, 0, sizeof(*w));
	search_auto_fallback = auto_fallback;
	for (int n = 0; n < 2; n++) {
		rc_ha_fsm_init(&w->f[n], true, T0);
		rc_ha_fsm_set_auto_fallback(&w->f[n], auto_fallback, 1);
		w->ha[n] = true;
	}
}

static int
env_int(const char *name, int dflt)
{
	const char *v = getenv(name);

	return v ? atoi(v) : dflt;
}

static void
test_split_brain_pairs(void **state)
{
	struct world w;
	size_t n;

	(void)state;
	/* From a cold start of both nodes. */
	pair_init(&w, false);
	n = search_pairs(&w, false, env_int("HA_FSM_DEPTH_COLD", 10));
	fprintf(stderr, "pairs from a cold start: %zu worlds\n", n);
	/* From both Normal, peer heard, auto fallback on, HA toggled. */
	pair_init(&w, true);
	for (int i = 0; i < 2; i++) {
		struct rc_ha_event_data d = {.peer_state = RC_HA_NORMAL};
		struct rc_ha_step s;

		w.f[i].critical_ok = true;
		w.f[i].state = RC_HA_NORMAL;
		w.f[i].reason = RC_HA_REASON_NORMAL;
		w.f[i].serving = w.f[i].lease_want = RC_HA_OWN;
		w.serving[i] = RC_HA_OWN;
		w.holder[i] = (uint8_t)(i + 1);
		rc_ha_fsm_event(&w.f[i], RC_HA_EV_PEER_STATE, &d, T0, &s);
	}
	check_world(&w);
	n = search_pairs(&w, true, env_int("HA_FSM_DEPTH_NORMAL", 7));
	fprintf(stderr, "pairs from Normal/Normal: %zu worlds\n", n);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_table_complete),
		cmocka_unit_test(test_doc_matches),
		cmocka_unit_test(test_failover_use_case),
		cmocka_unit_test(test_auto_recover_needs_both),
		cmocka_unit_test(test_fallback_use_case),
		cmocka_unit_test(test_fallback_failures),
		cmocka_unit_test(test_manual_failover),
		cmocka_unit_test(test_lease_lost),
		cmocka_unit_test(test_takeover_failed_and_recover),
		cmocka_unit_test(test_start_failures),
		cmocka_unit_test(test_ha_disabled),
		cmocka_unit_test(test_peer_reboot),
		cmocka_unit_test(test_auto_fallback),
		cmocka_unit_test(test_repeat_stale_invalid),
		cmocka_unit_test(test_refuses),
		cmocka_unit_test(test_json_and_format),
		cmocka_unit_test(test_split_brain_compositional),
		cmocka_unit_test(test_split_brain_pairs),
	};

	if (argc > 1 && strcmp(argv[1], "--table") == 0)
		return rc_ha_fsm_write_table(stdout) == 0 ? 0 : 1;
	if (argc > 1)
		doc_path = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
