/* SPDX-License-Identifier: MIT */
/*
 * Private to control/ha/ha_*.c: the shape of the HA tables and what the engine, the printer
 * and the self-check share about them.
 *
 *   ha_table.c       the tables: [state][event], [state][peer state], and per state
 *   ha_fsm.c         the engine: one lookup, the awaited operation, the effects
 *   ha_fsm_print.c   names, the step line, JSON, HA.md, the self-check of the tables
 *
 *   ha_table[state][event]          what to do; the PEER_STATE column dispatches to
 *   ha_peer_table[state][peer]      what to do when the peer announces state `peer`
 *
 * A cell is up to HA_ALTS rows tried in order; the first whose guard holds is taken. A row
 * is "ignored", "invalid", or "go to NEXT with REASON and ACTIONS". Kind 0 is a sentinel: a
 * cell the tables forgot stays zero and rc_ha_fsm_check_tables() reports it.
 *
 * Threads: constant data and pure functions.
 */
#ifndef RC_HA_FSM_INT_H
#define RC_HA_FSM_INT_H

#include <stdbool.h>
#include <stdint.h>

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

struct ha_row {
	uint8_t kind, guard, next, reason;
	uint16_t actions;
};

#define HA_ALTS 3
struct ha_cell {
	struct ha_row alt[HA_ALTS];
};

/* What a state is, apart from its moves. */
struct ha_state_row {
	uint8_t serve; /* RC_HA_OWN | RC_HA_PEER: rc_ha_state_may_serve() */
	uint8_t reads; /* HA_READS(await) bits: the answers the state reads */
};
#define HA_READS(w) (1u << (w))

/* An operation whose answer can be awaited: the action that starts it and its answers. A
 * `where_read` operation is awaited only when the row's next state reads its answer, and is
 * fire-and-forget elsewhere; the others are started only where their answer is read
 * (rc_ha_fsm_check_tables). */
struct ha_op {
	uint8_t action, await;
	uint8_t answer[2]; /* the events that answer it (the same twice if only one) */
	bool where_read;
};

#define A(x) RC_HA_ACT(RC_HA_ACT_##x)

extern const struct ha_cell ha_table[RC_HA_STATE_MAX][RC_HA_EV_MAX];
extern const struct ha_cell ha_peer_table[RC_HA_STATE_MAX][RC_HA_STATE_MAX];
extern const struct ha_state_row ha_states[RC_HA_STATE_MAX];
extern const struct ha_op ha_ops[];
extern const unsigned ha_ops_len;

/* Does a node in state s read the answer of operation w? */
bool ha_expects(unsigned s, enum rc_ha_await w);

/* Is event ev an answer of operation w? */
bool ha_answers(enum rc_ha_await w, enum rc_ha_event ev);

/* The operation among actions whose answer a machine going to state `next` waits for (rows
 * start at most one: ha_awaited_count), or RC_HA_AWAIT_NONE. */
enum rc_ha_await ha_awaited(uint32_t actions, unsigned next);
unsigned ha_awaited_count(uint32_t actions, unsigned next);

#endif /* RC_HA_FSM_INT_H */
