/* SPDX-License-Identifier: MIT */
/*
 * The HA state machine for people: names, the step line, `ha status` JSON, the table in words
 * for HA.md, and the self-check of the tables (ha_fsm_int.h).
 */
#include <errno.h>
#include <string.h>

#include "ha_fsm_int.h"
#include "names.h"
#include "ha_fsm_print.h"

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
	[RC_HA_ACT_GIVE_USERS] = "give-users",
	[RC_HA_ACT_LEASE_OWN] = "lease-own",
	[RC_HA_ACT_LEASE_PEER] = "lease-peer",
	[RC_HA_ACT_RELOAD_OWN] = "reload-own",
	[RC_HA_ACT_TAKE_BACK] = "take-back",
	[RC_HA_ACT_START_TAKEOVER] = "start-takeover",
	[RC_HA_ACT_TAKE_USERS] = "take-users",
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

#define COUNT(tab) (sizeof(tab) / sizeof((tab)[0]))

const char *
rc_ha_state_name(enum rc_ha_state s)
{
	return rc_name_of(state_names, COUNT(state_names), s);
}

const char *
rc_ha_reason_name(enum rc_ha_reason r)
{
	return rc_name_of(reason_names, COUNT(reason_names), r);
}

const char *
rc_ha_event_name(enum rc_ha_event e)
{
	return rc_name_of(event_names, COUNT(event_names), e);
}

const char *
rc_ha_action_name(enum rc_ha_action a)
{
	return rc_name_of(action_names, COUNT(action_names), a);
}

const char *
rc_ha_await_name(enum rc_ha_await w)
{
	return rc_name_of(await_names, COUNT(await_names), w);
}

const char *
rc_ha_result_name(enum rc_ha_result r)
{
	return rc_name_of(result_names, COUNT(result_names), r);
}

/* ---- the step line and JSON ---- */

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

/* What is wrong with a cell, and how check_cell says it. */
enum cell_fault {
	CELL_OK = 0,
	CELL_HOLE,
	CELL_PEER,
	CELL_ROW,
	CELL_UNREACHABLE,
	CELL_PARTIAL,
	CELL_LEASE,
	CELL_FAULT_MAX,
};

static const struct {
	const char *text;
	bool row; /* the text names the row */
} cell_faults[CELL_FAULT_MAX] = {
	[CELL_HOLE] = { "cell not defined", false },
	[CELL_PEER] = { "peer-state dispatch misplaced", false },
	[CELL_ROW] = { "out of range", true },
	[CELL_UNREACHABLE] = { "unreachable", true },
	[CELL_PARTIAL] = { "last row guarded", false },
	[CELL_LEASE] = { "lease rule broken", false },
};

/* A move (K_GO row) of the cell for event e (peer: for the peer's state e). */
static enum cell_fault
check_move(const struct ha_row *r, unsigned e, bool peer)
{
	if (r->next >= RC_HA_STATE_MAX ||
	    (r->reason >= RC_HA_REASON_MAX && r->reason != R_KEEP && r->reason != R_PEER &&
	     r->reason != R_HEALTH) ||
	    r->actions >= RC_HA_ACT(RC_HA_ACT_MAX) || (r->actions & A(ANNOUNCE)) ||
	    ha_awaited_count(r->actions, r->next) > 1 ||
	    ((r->actions & A(RELOAD_OWN)) && (r->actions & A(TAKE_BACK))))
		return CELL_ROW;
	/* An operation is started only where its answer is read. */
	if (ha_awaited(r->actions, r->next) != RC_HA_AWAIT_NONE &&
	    !ha_expects(r->next, ha_awaited(r->actions, r->next)))
		return CELL_ROW;
	/* Serve a set of rooms only on the answer that the lease for it is ours. */
	if ((r->actions & (A(RELOAD_OWN) | A(TAKE_BACK) | A(START_TAKEOVER))) &&
	    (peer || e != RC_HA_EV_LEASE_WON))
		return CELL_LEASE;
	if (r->reason == R_PEER && !peer)
		return CELL_ROW;
	return CELL_OK;
}

/* Row i of cell c: in range, reachable, and a peer-state dispatch only as the first. */
static enum cell_fault
check_row(const struct ha_cell *c, unsigned i, unsigned e, bool peer)
{
	const struct ha_row *r = &c->alt[i];

	if (r->kind > K_PEER || r->guard >= G_MAX || (r->kind != K_GO && r->guard))
		return CELL_ROW;
	if (i > 0 && c->alt[i - 1].guard == G_NONE)
		return CELL_UNREACHABLE;
	if (r->kind == K_PEER && i > 0)
		return CELL_PEER;
	return r->kind == K_GO ? check_move(r, e, peer) : CELL_OK;
}

/* The first fault of cell c of state s (and of its row *row, for a row's fault). */
static enum cell_fault
cell_fault(const struct ha_cell *c, unsigned s, unsigned e, bool peer, unsigned *row)
{
	bool want_peer = !peer && e == RC_HA_EV_PEER_STATE;
	enum cell_fault f;
	unsigned i;

	if (c->alt[0].kind == K_UNSET)
		return CELL_HOLE;
	if (want_peer != (c->alt[0].kind == K_PEER))
		return CELL_PEER;
	for (i = 0; i < HA_ALTS && c->alt[i].kind != K_UNSET; i++) {
		f = check_row(c, i, e, peer);
		if (f != CELL_OK) {
			*row = i;
			return f;
		}
	}
	if (c->alt[i - 1].guard != G_NONE)
		return CELL_PARTIAL;
	if (!peer && e == RC_HA_EV_LEASE_LOST && rc_ha_state_may_serve(s) &&
	    (c->alt[0].kind != K_GO || !(c->alt[0].actions & A(FENCE))))
		return CELL_LEASE;
	return CELL_OK;
}

static int
check_cell(const struct ha_cell *c, unsigned s, unsigned e, bool peer, char *err, size_t errlen)
{
	const char *what = peer ? state_names[e] : event_names[e];
	unsigned row = 0;
	enum cell_fault f = cell_fault(c, s, e, peer, &row);

	if (f == CELL_OK)
		return 0;
	if (cell_faults[f].row)
		snprintf(err, errlen, "%s, %s: row %u %s", state_names[s], what, row,
			 cell_faults[f].text);
	else
		snprintf(err, errlen, "%s, %s: %s", state_names[s], what, cell_faults[f].text);
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
		if ((ha_states[s].serve & ~(RC_HA_OWN | RC_HA_PEER)) ||
		    (ha_states[s].reads & ~(HA_READS(RC_HA_AWAIT_MAX) - HA_READS(1)))) {
			snprintf(err, errlen, "%s: state row out of range", state_names[s]);
			return -EINVAL;
		}
		/* A state that reads an answer acts on it. */
		for (unsigned w = RC_HA_AWAIT_NONE + 1; w < RC_HA_AWAIT_MAX; w++)
			for (unsigned e = 0; e < RC_HA_EV_MAX; e++)
				if (ha_expects(s, w) && ha_answers(w, e) &&
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

