/* SPDX-License-Identifier: MIT */
/*
 * The HA state machine's engine: one lookup in the tables (ha_table.c), the operation awaited,
 * what the actions ask the caller to serve. ha_fsm.h has the diagram and the contract, HA.md
 * the table in words, ha_fsm_int.h the shape of a row.
 */
#include <errno.h>
#include <string.h>

#include "ha_fsm_int.h"

uint32_t
rc_ha_state_may_serve(enum rc_ha_state s)
{
	return (unsigned)s < RC_HA_STATE_MAX ? ha_states[s].serve : 0;
}

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

/* Due only in a state that healthy-period can move (Failed Over). */
uint64_t
rc_ha_fsm_fallback_due(const struct rc_ha_fsm *f)
{
	if (!f->auto_fallback || ha_table[f->state][RC_HA_EV_HEALTHY_PERIOD].alt[0].kind != K_GO)
		return 0;
	return f->since_ms + f->auto_fallback_ms;
}

bool
ha_expects(unsigned s, enum rc_ha_await w)
{
	return s < RC_HA_STATE_MAX && (unsigned)w < RC_HA_AWAIT_MAX &&
	       (ha_states[s].reads & HA_READS(w));
}

bool
ha_answers(enum rc_ha_await w, enum rc_ha_event ev)
{
	for (unsigned i = 0; i < ha_ops_len; i++)
		if (ha_ops[i].await == w && (ha_ops[i].answer[0] == ev || ha_ops[i].answer[1] == ev))
			return true;
	return false;
}

static bool
is_answer(enum rc_ha_event ev)
{
	for (unsigned i = 0; i < ha_ops_len; i++)
		if (ha_ops[i].answer[0] == ev || ha_ops[i].answer[1] == ev)
			return true;
	return false;
}

/* Does row action bits `actions`, going to state next, start operation i? */
static bool
op_started(unsigned i, uint32_t actions, unsigned next)
{
	const struct ha_op *o = &ha_ops[i];

	return (actions & RC_HA_ACT(o->action)) && (!o->where_read || ha_expects(next, o->await));
}

enum rc_ha_await
ha_awaited(uint32_t actions, unsigned next)
{
	for (unsigned i = 0; i < ha_ops_len; i++)
		if (op_started(i, actions, next))
			return (enum rc_ha_await)ha_ops[i].await;
	return RC_HA_AWAIT_NONE;
}

unsigned
ha_awaited_count(uint32_t actions, unsigned next)
{
	unsigned n = 0;

	for (unsigned i = 0; i < ha_ops_len; i++)
		n += op_started(i, actions, next);
	return n;
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
 * cancel (FENCE everything; RELEASE the own lease and take-back; UNLOAD_PEER the peer's). */
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
	if (actions & (A(RELOAD_OWN) | A(TAKE_BACK)))
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
		if (!ha_expects(next, f->await)) {
			f->await = RC_HA_AWAIT_NONE;
			f->await_op = 0;
		}
		f->peer_seen = peer_news;
	}
	f->state = next;
	f->reason = reason;
	apply_effects(f, actions);
	w = ha_awaited(actions, next);
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

bool
rc_ha_fsm_refuses(const struct rc_ha_fsm *f, enum rc_ha_event ev)
{
	const struct ha_row *row;

	if ((unsigned)ev >= RC_HA_EV_MAX || ev == RC_HA_EV_PEER_STATE || is_answer(ev))
		return false;
	row = select_row(f, &ha_table[f->state][ev]);
	return row != NULL && row->kind == K_INVALID;
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
		    !ha_answers(f->await, ev)) {
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
