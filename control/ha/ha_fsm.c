/* SPDX-License-Identifier: MIT */
/*
 * The HA state machine: two tables and one lookup. ha_fsm.h has the diagram and the contract;
 * HA.md the table in words.
 *
 *   ha_table[state][event]          what to do; the PEER_STATE column dispatches to
 *   ha_peer_table[state][peer]      what to do when the peer announces state `peer`
 *
 * A cell is up to HA_ALTS rows tried in order; the first whose guard holds is taken. A row
 * is "ignored", "invalid", or "go to NEXT with REASON and ACTIONS". Kind 0 is a sentinel: a
 * cell the tables forgot stays zero and rc_ha_fsm_check_tables() reports it.
 */
#include <errno.h>
#include <string.h>

#include "ha_fsm.h"

enum ha_kind {
	K_UNSET = 0, /* sentinel: a hole in the table */
	K_IGNORE,
	K_INVALID,
	K_GO,
	K_PEER, /* PEER_STATE column only: look up ha_peer_table */
};

enum ha_guard {
	G_NONE = 0,
	G_HEALTHY,	 /* critical services up and database reachable */
	G_AUTO_FALLBACK, /* the auto-fallback setting is on */
	G_ADMIN,	 /* the current reason is On Admin Request */
	G_PEER_NORMAL,	 /* the peer is alive and announced Normal */
	G_MAX
};

/* Reasons in rows: the real ones, and three computed at run time. */
enum {
	R_NORMAL = RC_HA_REASON_NORMAL,
	R_ADMIN = RC_HA_REASON_ADMIN,
	R_INITIALIZATION = RC_HA_REASON_INITIALIZATION,
	R_CRITICAL_SERVICE_DOWN = RC_HA_REASON_CRITICAL_SERVICE_DOWN,
	R_DATABASE_FAILURE = RC_HA_REASON_DATABASE_FAILURE,
	R_PEER_DOWN = RC_HA_REASON_PEER_DOWN,
	R_PEER_REBOOT = RC_HA_REASON_PEER_REBOOT,
	R_START_CRITICAL_FAILED = RC_HA_REASON_START_CRITICAL_FAILED,
	R_TAKEOVER_FAILED = RC_HA_REASON_TAKEOVER_FAILED,
	R_TAKEBACK_FAILED = RC_HA_REASON_TAKEBACK_FAILED,
	R_AUTO_FALLBACK = RC_HA_REASON_AUTO_FALLBACK,
	R_AUTO_RECOVER_CRITICAL = RC_HA_REASON_AUTO_RECOVER_CRITICAL,
	R_AUTO_RECOVER_DATABASE = RC_HA_REASON_AUTO_RECOVER_DATABASE,
	R_HA_NOT_ENABLED = RC_HA_REASON_HA_NOT_ENABLED,
	R_KEEP = 0xf0, /* the current reason */
	R_PEER,	       /* the reason the peer announced */
	R_HEALTH,      /* Critical Service Down, or Database Failure if only the database is */
};

/* clang-format off */
struct ha_row {
	uint8_t kind, guard, next, reason;
	uint16_t actions;
};

#define HA_ALTS 3
struct ha_cell {
	struct ha_row alt[HA_ALTS];
};

#define A(x)		  RC_HA_ACT(RC_HA_ACT_##x)
#define GO(n, r, a)	  { K_GO, G_NONE, RC_HA_##n, R_##r, (a) }
#define IF(g, n, r, a)	  { K_GO, G_##g, RC_HA_##n, R_##r, (a) }
#define ROW_IGN		  { K_IGNORE, G_NONE, 0, 0, 0 }
#define C1(x)		  { { x } }
#define C2(x, y)	  { { x, y } }
#define C3(x, y, z)	  { { x, y, z } }
#define IGN		  C1(ROW_IGN)
#define BAD		  C1({ K_INVALID })
#define PEER_TABLE	  C1({ K_PEER })
#define TO(n, r, a)	  C1(GO(n, r, a))
#define E(x)		  [RC_HA_EV_##x]
#define P(x)		  [RC_HA_##x]

/* Rows shared by many states. */
#define DISABLE                                                                                   \
	C2(IF(HEALTHY, UNKNOWN, HA_NOT_ENABLED, A(UNLOAD_PEER) | A(LEASE_OWN)),                   \
	   GO(UNKNOWN, HA_NOT_ENABLED, A(UNLOAD_PEER)))
#define FENCED	 TO(FAILED_OVER_CSNR, DATABASE_FAILURE, A(FENCE) | A(ALARM))
/* Answers in a state that never awaits them cannot pass the op check: listed as ignored. */
#define ANSWERS_IGNORED                                                                           \
	E(LEASE_WON) = IGN, E(LEASE_REFUSED) = IGN, E(TAKEOVER_DONE) = IGN,                       \
	E(TAKEOVER_FAILED) = IGN, E(RELEASE_DONE) = IGN, E(FALLBACK_DONE) = IGN,                  \
	E(FALLBACK_FAILED) = IGN

static const struct ha_cell ha_table[RC_HA_STATE_MAX][RC_HA_EV_MAX] = {
	[RC_HA_INITIALIZING] = {
		E(HA_ENABLED) = IGN,
		E(HA_DISABLED) = DISABLE,
		E(PEER_UP) = IGN,
		E(PEER_DEAD) = IGN,
		E(PEER_REBOOTED) = IGN,
		E(PEER_STATE) = PEER_TABLE,
		E(LOCAL_CRITICAL_DOWN) = TO(FAILED_OVER_CSNR, START_CRITICAL_FAILED,
					    A(RELEASE) | A(ALARM)),
		E(LOCAL_CRITICAL_UP) = TO(INITIALIZING, KEEP, A(LEASE_OWN)),
		E(DB_DOWN) = TO(FAILED_OVER_CSNR, DATABASE_FAILURE, A(RELEASE) | A(ALARM)),
		E(DB_UP) = C2(IF(HEALTHY, INITIALIZING, KEEP, A(LEASE_OWN)), ROW_IGN),
		E(LEASE_WON) = TO(NORMAL, NORMAL, A(RELOAD_OWN)),
		E(LEASE_LOST) = FENCED,
		E(LEASE_REFUSED) = TO(FAILED_OVER, KEEP, A(RELEASE)),
		E(TAKEOVER_DONE) = IGN,
		E(TAKEOVER_FAILED) = IGN,
		E(RELEASE_DONE) = IGN,
		E(ADMIN_FAILOVER) = BAD,
		E(ADMIN_FALLBACK) = BAD,
		E(ADMIN_RECOVER) = BAD,
		E(FALLBACK_DONE) = IGN,
		E(FALLBACK_FAILED) = IGN,
		E(HEALTHY_PERIOD) = IGN,
	},
	[RC_HA_NORMAL] = {
		E(HA_ENABLED) = IGN,
		E(HA_DISABLED) = DISABLE,
		E(PEER_UP) = IGN,
		E(PEER_DEAD) = TO(TAKING_OVER, PEER_DOWN, A(LEASE_PEER)),
		E(PEER_REBOOTED) = IGN,
		E(PEER_STATE) = PEER_TABLE,
		E(LOCAL_CRITICAL_DOWN) = TO(FAILING_OVER, CRITICAL_SERVICE_DOWN,
					    A(RELEASE) | A(ALARM)),
		E(LOCAL_CRITICAL_UP) = IGN,
		E(DB_DOWN) = IGN,
		E(DB_UP) = IGN,
		E(LEASE_LOST) = FENCED,
		E(ADMIN_FAILOVER) = C2(IF(PEER_NORMAL, FAILING_OVER, ADMIN, A(RELEASE)),
				       { K_INVALID }),
		E(ADMIN_FALLBACK) = BAD,
		E(ADMIN_RECOVER) = BAD,
		E(HEALTHY_PERIOD) = IGN,
		ANSWERS_IGNORED,
	},
	[RC_HA_BACKUP] = {
		E(HA_ENABLED) = IGN,
		E(HA_DISABLED) = DISABLE,
		E(PEER_UP) = IGN,
		E(PEER_DEAD) = IGN,
		E(PEER_REBOOTED) = IGN,
		E(PEER_STATE) = PEER_TABLE,
		E(LOCAL_CRITICAL_DOWN) = TO(FAILING_OVER, CRITICAL_SERVICE_DOWN,
					    A(RELEASE) | A(UNLOAD_PEER) | A(ALARM)),
		E(LOCAL_CRITICAL_UP) = IGN,
		E(DB_DOWN) = IGN,
		E(DB_UP) = IGN,
		E(LEASE_LOST) = FENCED,
		E(ADMIN_FAILOVER) = BAD,
		E(ADMIN_FALLBACK) = BAD,
		E(ADMIN_RECOVER) = BAD,
		E(HEALTHY_PERIOD) = IGN,
		ANSWERS_IGNORED,
	},
	[RC_HA_TAKING_OVER] = {
		E(HA_ENABLED) = IGN,
		E(HA_DISABLED) = DISABLE,
		E(PEER_UP) = IGN,
		E(PEER_DEAD) = TO(TAKING_OVER, KEEP, A(LEASE_PEER)),
		E(PEER_REBOOTED) = IGN,
		E(PEER_STATE) = PEER_TABLE,
		E(LOCAL_CRITICAL_DOWN) = TO(FAILING_OVER, CRITICAL_SERVICE_DOWN,
					    A(RELEASE) | A(UNLOAD_PEER) | A(ALARM)),
		E(LOCAL_CRITICAL_UP) = IGN,
		E(DB_DOWN) = IGN,
		E(DB_UP) = IGN,
		E(LEASE_WON) = TO(TAKING_OVER, KEEP, A(START_TAKEOVER)),
		E(LEASE_LOST) = FENCED,
		E(LEASE_REFUSED) = TO(NORMAL, NORMAL, A(UNLOAD_PEER)),
		E(TAKEOVER_DONE) = TO(BACKUP, KEEP, 0),
		E(TAKEOVER_FAILED) = TO(FAILED_MODE, TAKEOVER_FAILED, A(UNLOAD_PEER) | A(ALARM)),
		E(RELEASE_DONE) = IGN,
		E(ADMIN_FAILOVER) = BAD,
		E(ADMIN_FALLBACK) = BAD,
		E(ADMIN_RECOVER) = BAD,
		E(FALLBACK_DONE) = IGN,
		E(FALLBACK_FAILED) = IGN,
		E(HEALTHY_PERIOD) = IGN,
	},
	[RC_HA_FAILING_OVER] = {
		E(HA_ENABLED) = IGN,
		E(HA_DISABLED) = DISABLE,
		E(PEER_UP) = IGN,
		E(PEER_DEAD) = IGN,
		E(PEER_REBOOTED) = IGN,
		E(PEER_STATE) = PEER_TABLE,
		E(LOCAL_CRITICAL_DOWN) = TO(FAILING_OVER, CRITICAL_SERVICE_DOWN, 0),
		E(LOCAL_CRITICAL_UP) = IGN,
		E(DB_DOWN) = TO(FAILING_OVER, DATABASE_FAILURE, 0),
		E(DB_UP) = IGN,
		E(LEASE_WON) = IGN,
		E(LEASE_LOST) = FENCED,
		E(LEASE_REFUSED) = IGN,
		E(TAKEOVER_DONE) = IGN,
		E(TAKEOVER_FAILED) = IGN,
		E(RELEASE_DONE) = C3(IF(ADMIN, IDLE, KEEP, 0), IF(HEALTHY, FAILED_OVER, KEEP, 0),
				     GO(FAILED_OVER_CSNR, KEEP, 0)),
		E(ADMIN_FAILOVER) = BAD,
		E(ADMIN_FALLBACK) = BAD,
		E(ADMIN_RECOVER) = BAD,
		E(FALLBACK_DONE) = IGN,
		E(FALLBACK_FAILED) = IGN,
		E(HEALTHY_PERIOD) = IGN,
	},
	[RC_HA_FAILED_OVER] = {
		E(HA_ENABLED) = IGN,
		E(HA_DISABLED) = DISABLE,
		E(PEER_UP) = IGN,
		E(PEER_DEAD) = TO(TAKING_BACK, PEER_DOWN, A(LEASE_OWN)),
		E(PEER_REBOOTED) = TO(TAKING_BACK, PEER_REBOOT, A(LEASE_OWN)),
		E(PEER_STATE) = PEER_TABLE,
		E(LOCAL_CRITICAL_DOWN) = TO(FAILED_OVER_CSNR, CRITICAL_SERVICE_DOWN, A(ALARM)),
		E(LOCAL_CRITICAL_UP) = IGN,
		E(DB_DOWN) = TO(FAILED_OVER_CSNR, DATABASE_FAILURE, A(ALARM)),
		E(DB_UP) = IGN,
		E(LEASE_LOST) = IGN,
		E(ADMIN_FAILOVER) = BAD,
		E(ADMIN_FALLBACK) = TO(TAKING_BACK, ADMIN, 0),
		E(ADMIN_RECOVER) = BAD,
		E(HEALTHY_PERIOD) = C2(IF(AUTO_FALLBACK, TAKING_BACK, AUTO_FALLBACK, 0), ROW_IGN),
		ANSWERS_IGNORED,
	},
	[RC_HA_FAILED_OVER_CSNR] = {
		E(HA_ENABLED) = IGN,
		E(HA_DISABLED) = DISABLE,
		E(PEER_UP) = IGN,
		E(PEER_DEAD) = IGN,
		E(PEER_REBOOTED) = IGN,
		E(PEER_STATE) = PEER_TABLE,
		E(LOCAL_CRITICAL_DOWN) = IGN,
		E(LOCAL_CRITICAL_UP) = C2(IF(HEALTHY, FAILED_OVER, AUTO_RECOVER_CRITICAL, 0),
					  ROW_IGN),
		E(DB_DOWN) = IGN,
		E(DB_UP) = C2(IF(HEALTHY, FAILED_OVER, AUTO_RECOVER_DATABASE, 0), ROW_IGN),
		E(LEASE_LOST) = IGN,
		E(ADMIN_FAILOVER) = BAD,
		E(ADMIN_FALLBACK) = BAD,
		E(ADMIN_RECOVER) = BAD,
		E(HEALTHY_PERIOD) = IGN,
		ANSWERS_IGNORED,
	},
	[RC_HA_TAKING_BACK] = {
		E(HA_ENABLED) = IGN,
		E(HA_DISABLED) = DISABLE,
		E(PEER_UP) = IGN,
		E(PEER_DEAD) = TO(TAKING_BACK, KEEP, A(LEASE_OWN)),
		E(PEER_REBOOTED) = IGN,
		E(PEER_STATE) = PEER_TABLE,
		E(LOCAL_CRITICAL_DOWN) = TO(FAILING_OVER, CRITICAL_SERVICE_DOWN,
					    A(RELEASE) | A(ALARM)),
		E(LOCAL_CRITICAL_UP) = IGN,
		E(DB_DOWN) = IGN,
		E(DB_UP) = IGN,
		E(LEASE_WON) = TO(TAKING_BACK, KEEP, A(RELOAD_OWN)),
		E(LEASE_LOST) = FENCED,
		E(LEASE_REFUSED) = TO(FAILED_OVER, KEEP, A(RELEASE)),
		E(TAKEOVER_DONE) = IGN,
		E(TAKEOVER_FAILED) = IGN,
		E(RELEASE_DONE) = IGN,
		E(ADMIN_FAILOVER) = BAD,
		E(ADMIN_FALLBACK) = BAD,
		E(ADMIN_RECOVER) = BAD,
		E(FALLBACK_DONE) = TO(NORMAL, KEEP, 0),
		E(FALLBACK_FAILED) = TO(FAILED_MODE, TAKEBACK_FAILED, A(RELEASE) | A(ALARM)),
		E(HEALTHY_PERIOD) = IGN,
	},
	[RC_HA_FALLING_BACK] = {
		E(HA_ENABLED) = IGN,
		E(HA_DISABLED) = DISABLE,
		E(PEER_UP) = IGN,
		E(PEER_DEAD) = IGN,
		E(PEER_REBOOTED) = IGN,
		E(PEER_STATE) = PEER_TABLE,
		E(LOCAL_CRITICAL_DOWN) = TO(FAILING_OVER, CRITICAL_SERVICE_DOWN,
					    A(RELEASE) | A(UNLOAD_PEER) | A(ALARM)),
		E(LOCAL_CRITICAL_UP) = IGN,
		E(DB_DOWN) = IGN,
		E(DB_UP) = IGN,
		E(LEASE_WON) = IGN,
		E(LEASE_LOST) = FENCED,
		E(LEASE_REFUSED) = IGN,
		E(TAKEOVER_DONE) = IGN,
		E(TAKEOVER_FAILED) = IGN,
		E(RELEASE_DONE) = IGN,
		E(ADMIN_FAILOVER) = BAD,
		E(ADMIN_FALLBACK) = BAD,
		E(ADMIN_RECOVER) = BAD,
		E(FALLBACK_DONE) = TO(NORMAL, KEEP, 0),
		E(FALLBACK_FAILED) = TO(FAILED_MODE, TAKEBACK_FAILED, A(ALARM)),
		E(HEALTHY_PERIOD) = IGN,
	},
	[RC_HA_IDLE] = {
		E(HA_ENABLED) = IGN,
		E(HA_DISABLED) = DISABLE,
		E(PEER_UP) = IGN,
		E(PEER_DEAD) = TO(TAKING_BACK, PEER_DOWN, A(LEASE_OWN)),
		E(PEER_REBOOTED) = TO(TAKING_BACK, PEER_REBOOT, A(LEASE_OWN)),
		E(PEER_STATE) = PEER_TABLE,
		E(LOCAL_CRITICAL_DOWN) = TO(FAILED_OVER_CSNR, CRITICAL_SERVICE_DOWN, A(ALARM)),
		E(LOCAL_CRITICAL_UP) = IGN,
		E(DB_DOWN) = TO(FAILED_OVER_CSNR, DATABASE_FAILURE, A(ALARM)),
		E(DB_UP) = IGN,
		E(LEASE_LOST) = IGN,
		E(ADMIN_FAILOVER) = BAD,
		E(ADMIN_FALLBACK) = TO(TAKING_BACK, ADMIN, 0),
		E(ADMIN_RECOVER) = BAD,
		E(HEALTHY_PERIOD) = IGN,
		ANSWERS_IGNORED,
	},
	[RC_HA_FAILED_MODE] = {
		E(HA_ENABLED) = IGN,
		E(HA_DISABLED) = DISABLE,
		E(PEER_UP) = IGN,
		E(PEER_DEAD) = IGN,
		E(PEER_REBOOTED) = IGN,
		E(PEER_STATE) = PEER_TABLE,
		E(LOCAL_CRITICAL_DOWN) = TO(FAILING_OVER, CRITICAL_SERVICE_DOWN,
					    A(RELEASE) | A(ALARM)),
		E(LOCAL_CRITICAL_UP) = IGN,
		E(DB_DOWN) = IGN,
		E(DB_UP) = IGN,
		E(LEASE_LOST) = FENCED,
		E(ADMIN_FAILOVER) = BAD,
		E(ADMIN_FALLBACK) = BAD,
		E(ADMIN_RECOVER) = C2(IF(HEALTHY, INITIALIZING, ADMIN, A(UNLOAD_PEER) | A(LEASE_OWN)),
				      GO(FAILED_OVER_CSNR, ADMIN, A(RELEASE) | A(UNLOAD_PEER))),
		E(HEALTHY_PERIOD) = IGN,
		ANSWERS_IGNORED,
	},
	[RC_HA_UNKNOWN] = {
		E(HA_ENABLED) = C2(IF(HEALTHY, INITIALIZING, INITIALIZATION, A(LEASE_OWN)),
				   GO(FAILED_OVER_CSNR, HEALTH, A(RELEASE))),
		E(HA_DISABLED) = IGN,
		E(PEER_UP) = IGN,
		E(PEER_DEAD) = IGN,
		E(PEER_REBOOTED) = IGN,
		E(PEER_STATE) = PEER_TABLE,
		E(LOCAL_CRITICAL_DOWN) = TO(UNKNOWN, KEEP, A(RELEASE) | A(ALARM)),
		E(LOCAL_CRITICAL_UP) = C2(IF(HEALTHY, UNKNOWN, KEEP, A(LEASE_OWN)), ROW_IGN),
		E(DB_DOWN) = IGN,
		E(DB_UP) = C2(IF(HEALTHY, UNKNOWN, KEEP, A(LEASE_OWN)), ROW_IGN),
		E(LEASE_WON) = TO(UNKNOWN, KEEP, A(RELOAD_OWN)),
		E(LEASE_LOST) = TO(UNKNOWN, KEEP, A(FENCE) | A(ALARM)),
		E(LEASE_REFUSED) = TO(UNKNOWN, KEEP, A(RELEASE)),
		E(TAKEOVER_DONE) = IGN,
		E(TAKEOVER_FAILED) = IGN,
		E(RELEASE_DONE) = IGN,
		E(ADMIN_FAILOVER) = BAD,
		E(ADMIN_FALLBACK) = BAD,
		E(ADMIN_RECOVER) = BAD,
		E(FALLBACK_DONE) = IGN,
		E(FALLBACK_FAILED) = IGN,
		E(HEALTHY_PERIOD) = IGN,
	},
};

/* Our state x the state the peer announces. The peer serves (or is about to serve) our rooms
 * in Running in Backup Mode, Taking Over and Falling Back, and is still releasing its own in
 * Failing Over: we wait for those. In every other state nobody serves our rooms but us. */
#define WAIT	IGN
#define RECLAIM TO(TAKING_BACK, PEER, A(LEASE_OWN))
#define ALL_IGNORED                                                                               \
	{                                                                                         \
		P(INITIALIZING) = IGN, P(NORMAL) = IGN, P(BACKUP) = IGN, P(TAKING_OVER) = IGN,    \
		P(FAILING_OVER) = IGN, P(FAILED_OVER) = IGN, P(FAILED_OVER_CSNR) = IGN,           \
		P(TAKING_BACK) = IGN, P(FALLING_BACK) = IGN, P(IDLE) = IGN, P(FAILED_MODE) = IGN, \
		P(UNKNOWN) = IGN,                                                                 \
	}
/* Failed Over and Idle: take our rooms back from a peer that does not serve them. */
#define RECLAIM_ROW                                                                               \
	{                                                                                         \
		P(INITIALIZING) = RECLAIM, P(NORMAL) = RECLAIM, P(BACKUP) = WAIT,                 \
		P(TAKING_OVER) = WAIT, P(FAILING_OVER) = WAIT, P(FAILED_OVER) = RECLAIM,          \
		P(FAILED_OVER_CSNR) = RECLAIM, P(TAKING_BACK) = RECLAIM, P(FALLING_BACK) = WAIT,  \
		P(IDLE) = RECLAIM, P(FAILED_MODE) = RECLAIM, P(UNKNOWN) = RECLAIM,                \
	}

static const struct ha_cell ha_peer_table[RC_HA_STATE_MAX][RC_HA_STATE_MAX] = {
	[RC_HA_INITIALIZING] = ALL_IGNORED,
	[RC_HA_NORMAL] = {
		P(INITIALIZING) = IGN,
		P(NORMAL) = IGN,
		P(BACKUP) = IGN,
		P(TAKING_OVER) = IGN,
		P(FAILING_OVER) = TO(TAKING_OVER, PEER, 0),
		P(FAILED_OVER) = IGN,
		P(FAILED_OVER_CSNR) = TO(TAKING_OVER, PEER, A(LEASE_PEER)),
		P(TAKING_BACK) = IGN,
		P(FALLING_BACK) = IGN,
		P(IDLE) = TO(TAKING_OVER, PEER, A(LEASE_PEER)),
		P(FAILED_MODE) = IGN,
		P(UNKNOWN) = IGN,
	},
	[RC_HA_BACKUP] = {
		P(INITIALIZING) = IGN,
		P(NORMAL) = IGN,
		P(BACKUP) = IGN,
		P(TAKING_OVER) = IGN,
		P(FAILING_OVER) = IGN,
		P(FAILED_OVER) = IGN,
		P(FAILED_OVER_CSNR) = IGN,
		P(TAKING_BACK) = TO(FALLING_BACK, PEER, A(UNLOAD_PEER)),
		P(FALLING_BACK) = IGN,
		P(IDLE) = IGN,
		P(FAILED_MODE) = IGN,
		P(UNKNOWN) = IGN,
	},
	[RC_HA_TAKING_OVER] = {
		P(INITIALIZING) = IGN,
		P(NORMAL) = TO(NORMAL, NORMAL, A(UNLOAD_PEER)),
		P(BACKUP) = IGN,
		P(TAKING_OVER) = IGN,
		P(FAILING_OVER) = WAIT,
		P(FAILED_OVER) = TO(TAKING_OVER, KEEP, A(LEASE_PEER)),
		P(FAILED_OVER_CSNR) = TO(TAKING_OVER, KEEP, A(LEASE_PEER)),
		/* healthy again and taking its rooms back (it waits for us): give way */
		P(TAKING_BACK) = TO(NORMAL, PEER, A(UNLOAD_PEER)),
		P(FALLING_BACK) = IGN,
		P(IDLE) = TO(TAKING_OVER, KEEP, A(LEASE_PEER)),
		P(FAILED_MODE) = TO(TAKING_OVER, KEEP, A(LEASE_PEER)),
		P(UNKNOWN) = TO(NORMAL, NORMAL, A(UNLOAD_PEER)),
	},
	[RC_HA_FAILING_OVER] = ALL_IGNORED,
	[RC_HA_FAILED_OVER] = RECLAIM_ROW,
	[RC_HA_FAILED_OVER_CSNR] = ALL_IGNORED,
	[RC_HA_TAKING_BACK] = {
		P(INITIALIZING) = TO(TAKING_BACK, KEEP, A(LEASE_OWN)),
		P(NORMAL) = TO(TAKING_BACK, KEEP, A(LEASE_OWN)),
		P(BACKUP) = WAIT,
		P(TAKING_OVER) = WAIT,
		P(FAILING_OVER) = WAIT,
		P(FAILED_OVER) = TO(TAKING_BACK, KEEP, A(LEASE_OWN)),
		P(FAILED_OVER_CSNR) = TO(TAKING_BACK, KEEP, A(LEASE_OWN)),
		P(TAKING_BACK) = TO(TAKING_BACK, KEEP, A(LEASE_OWN)),
		P(FALLING_BACK) = WAIT,
		P(IDLE) = TO(TAKING_BACK, KEEP, A(LEASE_OWN)),
		P(FAILED_MODE) = TO(TAKING_BACK, KEEP, A(LEASE_OWN)),
		P(UNKNOWN) = TO(TAKING_BACK, KEEP, A(LEASE_OWN)),
	},
	[RC_HA_FALLING_BACK] = ALL_IGNORED,
	[RC_HA_IDLE] = RECLAIM_ROW,
	[RC_HA_FAILED_MODE] = ALL_IGNORED,
	[RC_HA_UNKNOWN] = {
		P(INITIALIZING) = C2(IF(HEALTHY, UNKNOWN, KEEP, A(LEASE_OWN)), ROW_IGN),
		P(NORMAL) = C2(IF(HEALTHY, UNKNOWN, KEEP, A(LEASE_OWN)), ROW_IGN),
		P(BACKUP) = WAIT,
		P(TAKING_OVER) = WAIT,
		P(FAILING_OVER) = WAIT,
		P(FAILED_OVER) = C2(IF(HEALTHY, UNKNOWN, KEEP, A(LEASE_OWN)), ROW_IGN),
		P(FAILED_OVER_CSNR) = C2(IF(HEALTHY, UNKNOWN, KEEP, A(LEASE_OWN)), ROW_IGN),
		P(TAKING_BACK) = C2(IF(HEALTHY, UNKNOWN, KEEP, A(LEASE_OWN)), ROW_IGN),
		P(FALLING_BACK) = WAIT,
		P(IDLE) = C2(IF(HEALTHY, UNKNOWN, KEEP, A(LEASE_OWN)), ROW_IGN),
		P(FAILED_MODE) = C2(IF(HEALTHY, UNKNOWN, KEEP, A(LEASE_OWN)), ROW_IGN),
		P(UNKNOWN) = C2(IF(HEALTHY, UNKNOWN, KEEP, A(LEASE_OWN)), ROW_IGN),
	},
};

/* clang-format on */

/* ---- names ---- */

static const char *const state_names[RC_HA_STATE_MAX] = {
	[RC_HA_INITIALIZING] = "Initializing",
	[RC_HA_NORMAL] = "Normal",
	[RC_HA_BACKUP] = "Running in Backup Mode",
	[RC_HA_TAKING_OVER] = "Taking Over",
	[RC_HA_FAILING_OVER] = "Failing Over",
	[RC_HA_FAILED_OVER] = "Failed Over",
	[RC_HA_FAILED_OVER_CSNR] = "Failed Over with Critical Services Not Running",
	[RC_HA_TAKING_BACK] = "Taking Back",
	[RC_HA_FALLING_BACK] = "Falling Back",
	[RC_HA_IDLE] = "Idle",
	[RC_HA_FAILED_MODE] = "Running in Failed Mode",
	[RC_HA_UNKNOWN] = "Unknown",
};

static const char *const reason_names[RC_HA_REASON_MAX] = {
	[RC_HA_REASON_NORMAL] = "Normal",
	[RC_HA_REASON_ADMIN] = "On Admin Request",
	[RC_HA_REASON_INITIALIZATION] = "Initialization",
	[RC_HA_REASON_CRITICAL_SERVICE_DOWN] = "Critical Service Down",
	[RC_HA_REASON_DATABASE_FAILURE] = "Database Failure",
	[RC_HA_REASON_PEER_DOWN] = "Peer Down",
	[RC_HA_REASON_PEER_REBOOT] = "Peer Reboot",
	[RC_HA_REASON_START_CRITICAL_FAILED] = "Start of Critical Services Failed",
	[RC_HA_REASON_TAKEOVER_FAILED] = "Take Over Users Failed",
	[RC_HA_REASON_TAKEBACK_FAILED] = "Take Back Users Failed",
	[RC_HA_REASON_AUTO_FALLBACK] = "Automatic Fallback",
	[RC_HA_REASON_AUTO_RECOVER_CRITICAL] = "Auto Recover (critical service)",
	[RC_HA_REASON_AUTO_RECOVER_DATABASE] = "Auto Recover (database)",
	[RC_HA_REASON_HA_NOT_ENABLED] = "High Availability Not Enabled",
};

static const char *const event_names[RC_HA_EV_MAX] = {
	[RC_HA_EV_HA_ENABLED] = "ha-enabled",
	[RC_HA_EV_HA_DISABLED] = "ha-disabled",
	[RC_HA_EV_PEER_UP] = "peer-up",
	[RC_HA_EV_PEER_DEAD] = "peer-dead",
	[RC_HA_EV_PEER_REBOOTED] = "peer-rebooted",
	[RC_HA_EV_PEER_STATE] = "peer-state",
	[RC_HA_EV_LOCAL_CRITICAL_DOWN] = "local-critical-down",
	[RC_HA_EV_LOCAL_CRITICAL_UP] = "local-critical-up",
	[RC_HA_EV_DB_DOWN] = "db-down",
	[RC_HA_EV_DB_UP] = "db-up",
	[RC_HA_EV_LEASE_WON] = "lease-won",
	[RC_HA_EV_LEASE_LOST] = "lease-lost",
	[RC_HA_EV_LEASE_REFUSED] = "lease-refused",
	[RC_HA_EV_TAKEOVER_DONE] = "takeover-done",
	[RC_HA_EV_TAKEOVER_FAILED] = "takeover-failed",
	[RC_HA_EV_RELEASE_DONE] = "release-done",
	[RC_HA_EV_ADMIN_FAILOVER] = "admin-failover",
	[RC_HA_EV_ADMIN_FALLBACK] = "admin-fallback",
	[RC_HA_EV_ADMIN_RECOVER] = "admin-recover",
	[RC_HA_EV_FALLBACK_DONE] = "fallback-done",
	[RC_HA_EV_FALLBACK_FAILED] = "fallback-failed",
	[RC_HA_EV_HEALTHY_PERIOD] = "healthy-period",
};

static const char *const action_names[RC_HA_ACT_MAX] = {
	[RC_HA_ACT_FENCE] = "fence",
	[RC_HA_ACT_RELEASE] = "release",
	[RC_HA_ACT_UNLOAD_PEER] = "unload-peer",
	[RC_HA_ACT_LEASE_OWN] = "lease-own",
	[RC_HA_ACT_LEASE_PEER] = "lease-peer",
	[RC_HA_ACT_RELOAD_OWN] = "reload-own",
	[RC_HA_ACT_START_TAKEOVER] = "start-takeover",
	[RC_HA_ACT_ANNOUNCE] = "announce",
	[RC_HA_ACT_ALARM] = "alarm",
};

static const char *const await_names[RC_HA_AWAIT_MAX] = {
	[RC_HA_AWAIT_NONE] = "none",
	[RC_HA_AWAIT_LEASE_OWN] = "lease-own",
	[RC_HA_AWAIT_LEASE_PEER] = "lease-peer",
	[RC_HA_AWAIT_TAKEOVER] = "takeover",
	[RC_HA_AWAIT_RELEASE] = "release",
	[RC_HA_AWAIT_UNLOAD] = "unload-peer",
	[RC_HA_AWAIT_RELOAD] = "reload-own",
};

static const char *const result_names[RC_HA_RES_MAX] = {
	[RC_HA_RES_IGNORED] = "ignored",       [RC_HA_RES_REPEAT] = "repeat",
	[RC_HA_RES_STALE] = "stale",	       [RC_HA_RES_ACTIONS] = "actions",
	[RC_HA_RES_TRANSITION] = "transition", [RC_HA_RES_INVALID] = "invalid",
};

static const char *const guard_names[G_MAX] = {
	[G_NONE] = "",
	[G_HEALTHY] = "healthy",
	[G_AUTO_FALLBACK] = "auto fallback on",
	[G_ADMIN] = "reason is On Admin Request",
	[G_PEER_NORMAL] = "peer is Normal",
};

#define NAME(tab, i) ((unsigned)(i) < sizeof(tab) / sizeof((tab)[0]) ? (tab)[i] : NULL)

const char *
rc_ha_state_name(enum rc_ha_state s)
{
	return NAME(state_names, s);
}

const char *
rc_ha_reason_name(enum rc_ha_reason r)
{
	return NAME(reason_names, r);
}

const char *
rc_ha_event_name(enum rc_ha_event e)
{
	return NAME(event_names, e);
}

const char *
rc_ha_action_name(enum rc_ha_action a)
{
	return NAME(action_names, a);
}

const char *
rc_ha_await_name(enum rc_ha_await w)
{
	return NAME(await_names, w);
}

const char *
rc_ha_result_name(enum rc_ha_result r)
{
	return NAME(result_names, r);
}

uint32_t
rc_ha_state_may_serve(enum rc_ha_state s)
{
	switch (s) {
	case RC_HA_BACKUP:
	case RC_HA_TAKING_OVER:
		return RC_HA_OWN | RC_HA_PEER;
	case RC_HA_INITIALIZING: /* after `ha recover` or ha-enabled, until the lease answers */
	case RC_HA_NORMAL:
	case RC_HA_TAKING_BACK:
	case RC_HA_FALLING_BACK:
	case RC_HA_FAILED_MODE:
	case RC_HA_UNKNOWN:
		return RC_HA_OWN;
	default:
		return 0;
	}
}

/* ---- the machine ---- */

void
rc_ha_fsm_init(struct rc_ha_fsm *f, bool ha_enabled, uint64_t now_ms)
{
	memset(f, 0, sizeof(*f));
	f->state = ha_enabled ? RC_HA_INITIALIZING : RC_HA_UNKNOWN;
	f->reason = ha_enabled ? RC_HA_REASON_INITIALIZATION : RC_HA_REASON_HA_NOT_ENABLED;
	f->since_ms = now_ms;
	f->peer_state = RC_HA_UNKNOWN;
	f->peer_reason = RC_HA_REASON_NORMAL;
	f->critical_ok = false;
	f->db_ok = true;
	f->auto_fallback_ms = RC_HA_AUTO_FALLBACK_MS_DEFAULT;
}

void
rc_ha_fsm_set_auto_fallback(struct rc_ha_fsm *f, bool on, uint64_t after_ms)
{
	f->auto_fallback = on;
	f->auto_fallback_ms = after_ms;
}

uint64_t
rc_ha_fsm_fallback_due(const struct rc_ha_fsm *f)
{
	if (!f->auto_fallback || f->state != RC_HA_FAILED_OVER)
		return 0;
	return f->since_ms + f->auto_fallback_ms;
}

static bool
is_answer(enum rc_ha_event ev)
{
	switch (ev) {
	case RC_HA_EV_LEASE_WON:
	case RC_HA_EV_LEASE_REFUSED:
	case RC_HA_EV_TAKEOVER_DONE:
	case RC_HA_EV_TAKEOVER_FAILED:
	case RC_HA_EV_RELEASE_DONE:
	case RC_HA_EV_FALLBACK_DONE:
	case RC_HA_EV_FALLBACK_FAILED:
		return true;
	default:
		return false;
	}
}

/* Does operation w answer with event ev? */
static bool
answers(enum rc_ha_await w, enum rc_ha_event ev)
{
	switch (w) {
	case RC_HA_AWAIT_LEASE_OWN:
	case RC_HA_AWAIT_LEASE_PEER:
		return ev == RC_HA_EV_LEASE_WON || ev == RC_HA_EV_LEASE_REFUSED;
	case RC_HA_AWAIT_TAKEOVER:
		return ev == RC_HA_EV_TAKEOVER_DONE || ev == RC_HA_EV_TAKEOVER_FAILED;
	case RC_HA_AWAIT_RELEASE:
		return ev == RC_HA_EV_RELEASE_DONE;
	case RC_HA_AWAIT_UNLOAD:
	case RC_HA_AWAIT_RELOAD:
		return ev == RC_HA_EV_FALLBACK_DONE || ev == RC_HA_EV_FALLBACK_FAILED;
	default:
		return false;
	}
}

/* The operation among actions whose answer a machine in state `next` waits for. Rows start at
 * most one (rc_ha_fsm_check_tables). RELEASE, UNLOAD_PEER and RELOAD_OWN are awaited only
 * in the state that lives until they finish; elsewhere they are fire-and-forget. */
static enum rc_ha_await
awaited(uint32_t actions, unsigned next)
{
	if (actions & A(LEASE_OWN))
		return RC_HA_AWAIT_LEASE_OWN;
	if (actions & A(LEASE_PEER))
		return RC_HA_AWAIT_LEASE_PEER;
	if (actions & A(START_TAKEOVER))
		return RC_HA_AWAIT_TAKEOVER;
	if ((actions & A(RELEASE)) && next == RC_HA_FAILING_OVER)
		return RC_HA_AWAIT_RELEASE;
	if ((actions & A(UNLOAD_PEER)) && next == RC_HA_FALLING_BACK)
		return RC_HA_AWAIT_UNLOAD;
	if ((actions & A(RELOAD_OWN)) && next == RC_HA_TAKING_BACK)
		return RC_HA_AWAIT_RELOAD;
	return RC_HA_AWAIT_NONE;
}

/* The answers a state reads: an operation awaited elsewhere is ended by a state change. */
static bool
expects(unsigned s, enum rc_ha_await w)
{
	switch (w) {
	case RC_HA_AWAIT_LEASE_OWN:
		return s == RC_HA_INITIALIZING || s == RC_HA_TAKING_BACK || s == RC_HA_UNKNOWN;
	case RC_HA_AWAIT_LEASE_PEER:
	case RC_HA_AWAIT_TAKEOVER:
		return s == RC_HA_TAKING_OVER;
	case RC_HA_AWAIT_RELEASE:
		return s == RC_HA_FAILING_OVER;
	case RC_HA_AWAIT_UNLOAD:
		return s == RC_HA_FALLING_BACK;
	case RC_HA_AWAIT_RELOAD:
		return s == RC_HA_TAKING_BACK;
	default:
		return false;
	}
}

static unsigned
awaited_count(uint32_t actions, unsigned next)
{
	return !!(actions & A(LEASE_OWN)) + !!(actions & A(LEASE_PEER)) +
	       !!(actions & A(START_TAKEOVER)) +
	       ((actions & A(RELEASE)) && next == RC_HA_FAILING_OVER) +
	       ((actions & A(UNLOAD_PEER)) && next == RC_HA_FALLING_BACK) +
	       ((actions & A(RELOAD_OWN)) && next == RC_HA_TAKING_BACK);
}

static bool
guard_holds(const struct rc_ha_fsm *f, unsigned g)
{
	switch (g) {
	case G_NONE:
		return true;
	case G_HEALTHY:
		return f->critical_ok && f->db_ok;
	case G_AUTO_FALLBACK:
		return f->auto_fallback;
	case G_ADMIN:
		return f->reason == RC_HA_REASON_ADMIN;
	case G_PEER_NORMAL:
		return f->peer_alive && f->peer_known && f->peer_state == RC_HA_NORMAL;
	default:
		return false;
	}
}

static enum rc_ha_reason
resolve_reason(const struct rc_ha_fsm *f, unsigned r)
{
	switch (r) {
	case R_KEEP:
		return f->reason;
	case R_PEER:
		return f->peer_known ? f->peer_reason : f->reason;
	case R_HEALTH:
		return f->critical_ok ? RC_HA_REASON_DATABASE_FAILURE
				      : RC_HA_REASON_CRITICAL_SERVICE_DOWN;
	default:
		return (enum rc_ha_reason)r;
	}
}

/* What the actions ask the caller to serve and hold, and which awaited operation they
 * cancel (FENCE everything; RELEASE the own lease and reload; UNLOAD_PEER the peer's). */
static void
apply_effects(struct rc_ha_fsm *f, uint32_t actions)
{
	if (actions & A(FENCE)) {
		f->serving = 0;
		f->lease_want = 0;
		f->await = RC_HA_AWAIT_NONE;
	}
	if (actions & A(RELEASE)) {
		f->serving &= ~RC_HA_OWN;
		f->lease_want &= ~RC_HA_OWN;
		if (f->await == RC_HA_AWAIT_LEASE_OWN || f->await == RC_HA_AWAIT_RELOAD)
			f->await = RC_HA_AWAIT_NONE;
	}
	if (actions & A(UNLOAD_PEER)) {
		f->serving &= ~RC_HA_PEER;
		f->lease_want &= ~RC_HA_PEER;
		if (f->await == RC_HA_AWAIT_LEASE_PEER || f->await == RC_HA_AWAIT_TAKEOVER)
			f->await = RC_HA_AWAIT_NONE;
	}
	if (actions & A(LEASE_OWN))
		f->lease_want |= RC_HA_OWN;
	if (actions & A(LEASE_PEER))
		f->lease_want |= RC_HA_PEER;
	if (actions & A(RELOAD_OWN))
		f->serving |= RC_HA_OWN;
	if (actions & A(START_TAKEOVER))
		f->serving |= RC_HA_PEER;
	if (f->await == RC_HA_AWAIT_NONE)
		f->await_op = 0;
}

static void
record(struct rc_ha_fsm *f, const struct rc_ha_step *s, uint64_t now_ms)
{
	struct rc_ha_transition *t = &f->history[f->history_next];

	t->at_ms = now_ms;
	t->from = (uint8_t)s->from;
	t->to = (uint8_t)s->to;
	t->event = (uint8_t)s->event;
	t->reason = (uint8_t)s->reason;
	f->history_next = (f->history_next + 1) % RC_HA_HISTORY;
	if (f->history_len < RC_HA_HISTORY)
		f->history_len++;
}

/* Update what we know from the event; false when there is nothing new to evaluate. */
static bool
learn(struct rc_ha_fsm *f, enum rc_ha_event ev, const struct rc_ha_event_data *d)
{
	switch (ev) {
	case RC_HA_EV_PEER_UP:
		f->peer_alive = true;
		f->peer_seen = false;
		return true;
	case RC_HA_EV_PEER_DEAD:
		if (f->peer_alive) {
			f->peer_alive = false;
			f->peer_seen = false;
		}
		return !f->peer_seen;
	case RC_HA_EV_PEER_STATE:
		if (!f->peer_alive || !f->peer_known || f->peer_state != d->peer_state ||
		    f->peer_reason != d->peer_reason) {
			f->peer_alive = true;
			f->peer_known = true;
			f->peer_state = d->peer_state;
			f->peer_reason = d->peer_reason;
			f->peer_seen = false;
		}
		return !f->peer_seen;
	case RC_HA_EV_PEER_REBOOTED:
		f->peer_known = false;
		f->peer_seen = false;
		return true;
	case RC_HA_EV_LOCAL_CRITICAL_DOWN:
		f->critical_ok = false;
		return true;
	case RC_HA_EV_LOCAL_CRITICAL_UP:
		f->critical_ok = true;
		return true;
	case RC_HA_EV_DB_DOWN:
	case RC_HA_EV_LEASE_LOST: /* the database did not confirm our lease: down till DB_UP */
		f->db_ok = false;
		return true;
	case RC_HA_EV_DB_UP:
		f->db_ok = true;
		return true;
	default:
		return true;
	}
}

static const struct ha_row *
select_row(const struct rc_ha_fsm *f, const struct ha_cell *c)
{
	for (unsigned i = 0; i < HA_ALTS && c->alt[i].kind != K_UNSET; i++)
		if (c->alt[i].kind != K_GO || guard_holds(f, c->alt[i].guard))
			return &c->alt[i];
	return NULL;
}

static void
go(struct rc_ha_fsm *f, const struct ha_row *row, bool peer_news, uint64_t now_ms,
   struct rc_ha_step *out)
{
	enum rc_ha_reason reason = resolve_reason(f, row->reason);
	enum rc_ha_state next = (enum rc_ha_state)row->next;
	uint32_t actions = row->actions;
	bool changed = next != f->state || reason != f->reason;
	enum rc_ha_await w;

	if (changed)
		actions |= A(ANNOUNCE);
	if (next != f->state) {
		f->since_ms = now_ms;
		/* An awaited operation stays awaited only into a state that reads its answer
		 * (an acquisition of our lease from Taking Back into Unknown, say); rows that
		 * leave an acquisition behind otherwise cancel it (RELEASE, UNLOAD_PEER, FENCE).
		 * Re-evaluate the peer in the new state, unless the peer's news made the move:
		 * such rows already do what the new state would (rc_ha_fsm_check_tables). */
		if (!expects(next, f->await)) {
			f->await = RC_HA_AWAIT_NONE;
			f->await_op = 0;
		}
		f->peer_seen = peer_news;
	}
	f->state = next;
	f->reason = reason;
	apply_effects(f, actions);
	w = awaited(actions, next);
	if (w != RC_HA_AWAIT_NONE) {
		if (++f->op_seq == 0)
			f->op_seq = 1;
		f->await = w;
		f->await_op = f->op_seq;
		out->op = f->op_seq;
	}
	out->to = next;
	out->reason = reason;
	out->actions = actions;
	if (changed) {
		out->result = RC_HA_RES_TRANSITION;
		f->transitions++;
		record(f, out, now_ms);
	} else {
		out->result = actions ? RC_HA_RES_ACTIONS : RC_HA_RES_IGNORED;
	}
}

int
rc_ha_fsm_event(struct rc_ha_fsm *f, enum rc_ha_event ev, const struct rc_ha_event_data *d,
		uint64_t now_ms, struct rc_ha_step *out)
{
	const struct ha_cell *cell;
	const struct ha_row *row;
	bool peer_news;

	memset(out, 0, sizeof(*out));
	out->event = ev;
	out->from = out->to = f->state;
	out->from_reason = out->reason = f->reason;
	out->result = RC_HA_RES_IGNORED;
	if ((unsigned)ev >= RC_HA_EV_MAX)
		return -EINVAL;
	if ((ev == RC_HA_EV_PEER_STATE || is_answer(ev)) && d == NULL)
		return -EINVAL;
	if (ev == RC_HA_EV_PEER_STATE && ((unsigned)d->peer_state >= RC_HA_STATE_MAX ||
					  (unsigned)d->peer_reason >= RC_HA_REASON_MAX))
		return -EINVAL;
	f->events[ev]++;
	if (is_answer(ev)) {
		if (f->await == RC_HA_AWAIT_NONE || d->op != f->await_op ||
		    !answers(f->await, ev)) {
			f->stale++;
			out->result = RC_HA_RES_STALE;
			return 0;
		}
		f->await = RC_HA_AWAIT_NONE;
		f->await_op = 0;
	}
	if (!learn(f, ev, d)) {
		f->repeats++;
		out->result = RC_HA_RES_REPEAT;
		return 0;
	}
	cell = &ha_table[f->state][ev];
	if (ev == RC_HA_EV_PEER_STATE)
		cell = &ha_peer_table[f->state][f->peer_state];
	peer_news = ev == RC_HA_EV_PEER_STATE || ev == RC_HA_EV_PEER_DEAD;
	if (peer_news)
		f->peer_seen = true;
	row = select_row(f, cell);
	if (row == NULL || row->kind == K_IGNORE)
		return 0;
	if (row->kind != K_GO) {
		f->invalid[ev]++;
		out->result = RC_HA_RES_INVALID;
		return -EPERM;
	}
	go(f, row, peer_news, now_ms, out);
	return 0;
}

/* ---- presentation ---- */

static int
format_actions(uint32_t actions, char *buf, size_t cap)
{
	size_t n = 0;
	int r;

	if (cap > 0)
		buf[0] = '\0';
	for (unsigned a = 0; a < RC_HA_ACT_MAX; a++) {
		if (!(actions & RC_HA_ACT(a)))
			continue;
		r = snprintf(buf + (n < cap ? n : cap), n < cap ? cap - n : 0, "%s%s", n ? "," : "",
			     action_names[a]);
		if (r < 0)
			return r;
		n += (size_t)r;
	}
	return (int)n;
}

int
rc_ha_step_format(const struct rc_ha_step *s, char *buf, size_t cap)
{
	const char *ev = rc_ha_event_name(s->event);
	const char *from = rc_ha_state_name(s->from), *to = rc_ha_state_name(s->to);
	const char *reason = rc_ha_reason_name(s->reason);
	char acts[160];

	ev = ev ? ev : "?";
	from = from ? from : "?";
	to = to ? to : "?";
	reason = reason ? reason : "?";
	format_actions(s->actions, acts, sizeof(acts));
	switch (s->result) {
	case RC_HA_RES_TRANSITION:
		return snprintf(buf, cap, "%s -> %s (%s) on %s%s%s", from, to, reason, ev,
				acts[0] ? ": " : "", acts);
	case RC_HA_RES_ACTIONS:
		return snprintf(buf, cap, "%s (%s) on %s: %s", from, reason, ev, acts);
	case RC_HA_RES_INVALID:
		return snprintf(buf, cap, "%s not allowed in %s (%s)", ev, from, reason);
	default:
		return snprintf(buf, cap, "%s %s in %s (%s)", ev,
				rc_ha_result_name(s->result) ? rc_ha_result_name(s->result) : "?",
				from, reason);
	}
}

static int
set_new(json_t *o, const char *k, json_t *v)
{
	return v == NULL ? -1 : json_object_set_new(o, k, v);
}

static json_t *
serve_json(uint32_t mask)
{
	return json_pack("{s:b,s:b}", "own", !!(mask & RC_HA_OWN), "peer", !!(mask & RC_HA_PEER));
}

static json_t *
counters_json(const uint64_t *c)
{
	json_t *o = json_object();

	for (unsigned e = 0; o != NULL && e < RC_HA_EV_MAX; e++)
		if (c[e] && set_new(o, event_names[e], json_integer((json_int_t)c[e])) < 0) {
			json_decref(o);
			o = NULL;
		}
	return o;
}

static json_t *
history_json(const struct rc_ha_fsm *f)
{
	json_t *a = json_array();
	unsigned first = (f->history_next + RC_HA_HISTORY - f->history_len) % RC_HA_HISTORY;

	for (unsigned i = 0; a != NULL && i < f->history_len; i++) {
		const struct rc_ha_transition *t = &f->history[(first + i) % RC_HA_HISTORY];
		json_t *j =
			json_pack("{s:I,s:s,s:s,s:s,s:s}", "at_ms", (json_int_t)t->at_ms, "from",
				  state_names[t->from], "to", state_names[t->to], "event",
				  event_names[t->event], "reason", reason_names[t->reason]);

		if (j == NULL || json_array_append_new(a, j) < 0) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

json_t *
rc_ha_fsm_to_json(const struct rc_ha_fsm *f, uint64_t now_ms)
{
	uint64_t due = rc_ha_fsm_fallback_due(f);
	json_t *o, *peer;
	int bad = 0;

	o = json_pack("{s:s,s:s,s:I,s:I,s:s,s:s,s:b,s:I,s:s,s:I,s:I,s:I,s:I}", "state",
		      state_names[f->state], "reason", reason_names[f->reason], "since_ms",
		      (json_int_t)f->since_ms, "in_state_ms",
		      (json_int_t)(now_ms > f->since_ms ? now_ms - f->since_ms : 0),
		      "critical_services", f->critical_ok ? "up" : "down", "database",
		      f->db_ok ? "up" : "down", "auto_fallback", f->auto_fallback,
		      "auto_fallback_after_ms", (json_int_t)f->auto_fallback_ms, "awaiting",
		      await_names[f->await], "awaiting_op", (json_int_t)f->await_op, "transitions",
		      (json_int_t)f->transitions, "stale", (json_int_t)f->stale, "repeats",
		      (json_int_t)f->repeats);
	if (o == NULL)
		goto out_nomem;
	peer = json_pack("{s:b,s:b}", "alive", f->peer_alive, "known", f->peer_known);
	if (peer != NULL && f->peer_known)
		bad |= set_new(peer, "state", json_string(state_names[f->peer_state])) |
		       set_new(peer, "reason", json_string(reason_names[f->peer_reason]));
	bad |= set_new(o, "peer", peer);
	bad |= set_new(o, "fallback_due_ms", due ? json_integer((json_int_t)due) : json_null());
	bad |= set_new(o, "serving", serve_json(f->serving));
	bad |= set_new(o, "leases_wanted", serve_json(f->lease_want));
	bad |= set_new(o, "events", counters_json(f->events));
	bad |= set_new(o, "invalid", counters_json(f->invalid));
	bad |= set_new(o, "history", history_json(f));
	if (bad) {
		json_decref(o);
		goto out_nomem;
	}
	return o;

out_nomem:
	errno = ENOMEM;
	return NULL;
}

/* ---- the table in words ---- */

static const char *
reason_text(unsigned r)
{
	switch (r) {
	case R_KEEP:
		return "(unchanged)";
	case R_PEER:
		return "(the peer's)";
	case R_HEALTH:
		return "Critical Service Down / Database Failure";
	default:
		return reason_names[r];
	}
}

/* The rows of a cell that moves (with its guarded alternatives, "otherwise" last). */
static int
write_rows(FILE *out, const struct ha_cell *c, const char *on)
{
	char acts[160];

	if (c->alt[0].kind != K_GO)
		return 0; /* in the "Ignored" / "Invalid" lists */
	for (unsigned i = 0; i < HA_ALTS && c->alt[i].kind != K_UNSET; i++) {
		const struct ha_row *r = &c->alt[i];
		const char *g = r->guard ? guard_names[r->guard] : i ? "otherwise" : "";
		int n;

		if (r->kind == K_GO) {
			format_actions(r->actions, acts, sizeof(acts));
			n = fprintf(out, "| %s | %s | %s | %s | %s |\n", on, g,
				    state_names[r->next], reason_text(r->reason), acts);
		} else {
			n = fprintf(out, "| %s | %s | (%s) | | |\n", on, g,
				    r->kind == K_IGNORE ? "ignored" : "refused, counted");
		}
		if (n < 0)
			return -EIO;
	}
	return 0;
}

/* "Ignored:" / "Invalid:" lists: cells whose first row has kind k (guarded rows listed). */
static int
write_list(FILE *out, const char *title, unsigned s, unsigned k, bool peer)
{
	unsigned n = peer ? RC_HA_STATE_MAX : RC_HA_EV_MAX, count = 0;

	for (unsigned e = 0; e < n; e++) {
		const struct ha_cell *c = peer ? &ha_peer_table[s][e] : &ha_table[s][e];

		if (c->alt[0].kind != k)
			continue;
		if (fprintf(out, "%s%s", count++ ? ", " : title,
			    peer ? state_names[e] : event_names[e]) < 0)
			return -EIO;
	}
	if (count && fprintf(out, ".\n") < 0)
		return -EIO;
	return 0;
}

int
rc_ha_fsm_write_table(FILE *out)
{
	char on[96];
	int r = 0;

	for (unsigned s = 0; s < RC_HA_STATE_MAX && r == 0; s++) {
		if (fprintf(out,
			    "\n### %s\n\n| on | if | next state | reason | actions |\n"
			    "|---|---|---|---|---|\n",
			    state_names[s]) < 0)
			return -EIO;
		for (unsigned e = 0; e < RC_HA_EV_MAX && r == 0; e++)
			r = write_rows(out, &ha_table[s][e], event_names[e]);
		for (unsigned p = 0; p < RC_HA_STATE_MAX && r == 0; p++) {
			snprintf(on, sizeof(on), "peer-state: %s", state_names[p]);
			r = write_rows(out, &ha_peer_table[s][p], on);
		}
		if (r == 0 && fprintf(out, "\n") < 0)
			r = -EIO;
		if (r == 0)
			r = write_list(out, "Ignored: ", s, K_IGNORE, false);
		if (r == 0)
			r = write_list(out, "Invalid (refused, counted): ", s, K_INVALID, false);
		if (r == 0)
			r = write_list(out, "Peer states ignored: ", s, K_IGNORE, true);
	}
	return r;
}

/* ---- self-check ---- */

static int
check_cell(const struct ha_cell *c, unsigned s, unsigned e, bool peer, char *err, size_t errlen)
{
	const char *what = peer ? state_names[e] : event_names[e];
	bool want_peer = !peer && e == RC_HA_EV_PEER_STATE;
	unsigned i;

	if (c->alt[0].kind == K_UNSET)
		goto out_bad_hole;
	if (want_peer != (c->alt[0].kind == K_PEER))
		goto out_bad_peer;
	for (i = 0; i < HA_ALTS && c->alt[i].kind != K_UNSET; i++) {
		const struct ha_row *r = &c->alt[i];

		if (r->kind > K_PEER || r->guard >= G_MAX || (r->kind != K_GO && r->guard))
			goto out_bad_row;
		if (i > 0 && c->alt[i - 1].guard == G_NONE)
			goto out_bad_unreachable;
		if (r->kind == K_PEER && i > 0)
			goto out_bad_peer;
		if (r->kind != K_GO)
			continue;
		if (r->next >= RC_HA_STATE_MAX ||
		    (r->reason >= RC_HA_REASON_MAX && r->reason != R_KEEP && r->reason != R_PEER &&
		     r->reason != R_HEALTH) ||
		    r->actions >= RC_HA_ACT(RC_HA_ACT_MAX) || (r->actions & A(ANNOUNCE)) ||
		    awaited_count(r->actions, r->next) > 1)
			goto out_bad_row;
		/* An operation is started only where its answer is read. */
		if (awaited(r->actions, r->next) != RC_HA_AWAIT_NONE &&
		    !expects(r->next, awaited(r->actions, r->next)))
			goto out_bad_row;
		/* Serve a set of rooms only on the answer that the lease for it is ours. */
		if ((r->actions & (A(RELOAD_OWN) | A(START_TAKEOVER))) &&
		    (peer || e != RC_HA_EV_LEASE_WON))
			goto out_bad_lease;
		if (r->reason == R_PEER && !peer)
			goto out_bad_row;
	}
	if (c->alt[i - 1].guard != G_NONE)
		goto out_bad_partial;
	if (!peer && e == RC_HA_EV_LEASE_LOST && rc_ha_state_may_serve(s) &&
	    (c->alt[0].kind != K_GO || !(c->alt[0].actions & A(FENCE))))
		goto out_bad_lease;
	return 0;

out_bad_hole:
	snprintf(err, errlen, "%s, %s: cell not defined", state_names[s], what);
	return -EINVAL;
out_bad_peer:
	snprintf(err, errlen, "%s, %s: peer-state dispatch misplaced", state_names[s], what);
	return -EINVAL;
out_bad_row:
	snprintf(err, errlen, "%s, %s: row %u out of range", state_names[s], what, i);
	return -EINVAL;
out_bad_unreachable:
	snprintf(err, errlen, "%s, %s: row %u unreachable", state_names[s], what, i);
	return -EINVAL;
out_bad_partial:
	snprintf(err, errlen, "%s, %s: last row guarded", state_names[s], what);
	return -EINVAL;
out_bad_lease:
	snprintf(err, errlen, "%s, %s: lease rule broken", state_names[s], what);
	return -EINVAL;
}

/* A move made on peer news (the peer announced state p, or is dead when peer is false)
 * leaves that news evaluated: the new state's own reaction to it must be nothing, or a
 * subset of what the move did. */
static int
check_news(unsigned s, bool peer, unsigned p, char *err, size_t errlen)
{
	const struct ha_cell *c = peer ? &ha_peer_table[s][p] : &ha_table[s][RC_HA_EV_PEER_DEAD];

	for (unsigned i = 0; i < HA_ALTS && c->alt[i].kind == K_GO; i++) {
		const struct ha_row *r = &c->alt[i], *t;

		if (r->next == s)
			continue;
		t = peer ? &ha_peer_table[r->next][p].alt[0]
			 : &ha_table[r->next][RC_HA_EV_PEER_DEAD].alt[0];
		if (t->kind == K_IGNORE)
			continue;
		if (t->kind == K_GO && t->guard == G_NONE && t->next == r->next &&
		    t->reason == R_KEEP && (t->actions & ~r->actions) == 0)
			continue;
		snprintf(err, errlen, "%s, %s: %s would react again", state_names[s],
			 peer ? state_names[p] : "peer-dead", state_names[r->next]);
		return -EINVAL;
	}
	return 0;
}

int
rc_ha_fsm_check_tables(char *err, size_t errlen)
{
	int r;

	if (errlen > 0)
		err[0] = '\0';
	for (unsigned s = 0; s < RC_HA_STATE_MAX; s++) {
		for (unsigned e = 0; e < RC_HA_EV_MAX; e++)
			if ((r = check_cell(&ha_table[s][e], s, e, false, err, errlen)) < 0)
				return r;
		for (unsigned p = 0; p < RC_HA_STATE_MAX; p++)
			if ((r = check_cell(&ha_peer_table[s][p], s, p, true, err, errlen)) < 0)
				return r;
	}
	for (unsigned s = 0; s < RC_HA_STATE_MAX; s++) {
		/* A state that reads an answer acts on it. */
		for (unsigned w = RC_HA_AWAIT_NONE + 1; w < RC_HA_AWAIT_MAX; w++)
			for (unsigned e = 0; e < RC_HA_EV_MAX; e++)
				if (expects(s, w) && answers(w, e) &&
				    ha_table[s][e].alt[0].kind != K_GO) {
					snprintf(err, errlen, "%s, %s: awaited answer ignored",
						 state_names[s], event_names[e]);
					return -EINVAL;
				}
		if ((r = check_news(s, false, 0, err, errlen)) < 0)
			return r;
		for (unsigned p = 0; p < RC_HA_STATE_MAX; p++)
			if ((r = check_news(s, true, p, err, errlen)) < 0)
				return r;
	}
	return 0;
}
