/* SPDX-License-Identifier: MIT */
/* The HA pair wired into a node: see ha_node.h and HA.md. */
#include "ha_node.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ring.h>

#include "ha_fsm.h"
#include "ha_lease.h"
#include "ha_node_int.h"
#include "health.h"
#include "heartbeat.h"
#include "lease.h"
#include "log.h"
#include "merge.h"
#include "repl.h"
#include "wal.h"

#define PUSH_WAIT_MS 10000    /* handover: wait this long at most for a live peer's ack */
/* The WAL writer is down when records wait and nothing was committed for this long: a synced
 * commit on a busy disk, or a batch held for a slow peer's acknowledgement, takes far longer
 * than a worker's loop, so the workers' ha.stall_ms would give false alarms. */
#define WAL_STALL_MS(ha) ((ha)->cfg->ha->stall_ms * 10 > 3000 ? (ha)->cfg->ha->stall_ms * 10 : 3000)
#define HOST_STALL_MS 100 /* a control loop gap this long: the host, not a service, stalled */

/* ---- the state machine ---- */

static void ha_event(struct rc_ha_node *ha, enum rc_ha_event ev, const struct rc_ha_event_data *d);

static void
send_heartbeat(struct rc_ha_node *ha, uint64_t now)
{
	struct rc_hb_status mine;
	struct rc_repl_status rs;

	memset(&mine, 0, sizeof(mine));
	mine.ha_state = ha->fsm.state;
	mine.ha_reason = ha->fsm.reason;
	mine.epoch = rc_lease_guard_epoch(&ha->ss->sc[0].guard);
	mine.last_lsn = rc_wal_last_lsn(ha->ss->sc[0].wal);
	if (rc_repl_get_status(ha->repl, ha->ss->sc[1].lease_scope, &rs) == 0)
		mine.peer_lsn_acked = rs.applied_lsn;
	mine.health = rc_health_bits(ha->health);
	rc_hb_send(ha->hb, now, &mine);
}

/* An operation of the machine finished: deliver its answer. */
static void
answer(struct rc_ha_node *ha, enum rc_ha_event ev, uint32_t op)
{
	struct rc_ha_event_data d = { .op = op };

	ha_event(ha, ev, &d);
}

/* Release (scope 0) / unload-peer (scope 1): stop acking now, then push the stream to the
 * peer (job below), then hand the lease back. */
static void
start_handover(struct rc_ha_node *ha, unsigned scope, uint32_t op)
{
	struct rc_scope_handover *j = &ha->ss->sc[scope].handover;

	rc_scope_serve(&ha->ss->sc[scope], false);
	rc_ha_lease_park(ha->lease, scope);
	j->active = true;
	j->op = op;
	j->deadline = rc_ha_now_ms() + PUSH_WAIT_MS;
	j->lsn = rc_wal_last_lsn(ha->ss->sc[scope].wal);
}

static void
job_tick(struct rc_ha_node *ha, uint64_t now)
{
	for (unsigned s = 0; s < ha->ss->n; s++) {
		struct rc_scope_handover *j = &ha->ss->sc[s].handover;
		struct rc_repl_status rs;
		bool pushed;

		if (!j->active)
			continue;
		pushed = !ha->ss->sc[s].loaded ||
			 (rc_repl_get_status(ha->repl, ha->ss->sc[s].lease_scope, &rs) == 0 &&
			  rs.connected && rs.acked_lsn >= rc_wal_last_lsn(ha->ss->sc[s].wal));
		/* a live peer gets everything before it may serve the rooms (its lease waits
		 * for our release); a dead one cannot take anything */
		if (!pushed && rc_hb_peer_state(ha->hb) == RC_HB_PEER_IS_UP && now < j->deadline)
			continue;
		if (!pushed)
			RC_ERR("ALARM: ha: the peer does not hold %s up to LSN %" PRIu64
			       " (%s): handing over anyway; the records stay here and are streamed "
			       "or drained when this node writes the scope again",
			       ha->ss->sc[s].lease_scope, rc_wal_last_lsn(ha->ss->sc[s].wal),
			       now >= j->deadline ? "no acknowledgement within 10 s" :
						    "the peer is not up");
		j->active = false;
		rc_ha_unload_scope(ha, s);
		rc_ha_lease_release(ha->lease, s, j->op);
	}
}

static void
do_actions(struct rc_ha_node *ha, const struct rc_ha_step *st)
{
	uint32_t a = st->actions;
	int rc;

	if (a & RC_HA_ACT(RC_HA_ACT_FENCE)) {
		for (unsigned s = 0; s < ha->ss->n; s++) {
			ha->ss->sc[s].handover.active = false;
			rc_ha_lease_drop(ha->lease, s);
			rc_ha_unload_scope(ha, s);
		}
		ha->fences++;
	}
	if (a & RC_HA_ACT(RC_HA_ACT_RELEASE))
		start_handover(ha, 0, st->op);
	if (a & RC_HA_ACT(RC_HA_ACT_UNLOAD_PEER))
		start_handover(ha, 1, st->op);
	if (a & RC_HA_ACT(RC_HA_ACT_GIVE_USERS))
		rc_ha_give_users(ha);
	if (a & RC_HA_ACT(RC_HA_ACT_LEASE_OWN)) {
		ha->ss->sc[0].lease_op = st->op;
		rc_ha_lease_acquire(ha->lease, 0, st->op, false);
	}
	if (a & RC_HA_ACT(RC_HA_ACT_LEASE_PEER)) {
		ha->ss->sc[1].lease_op = st->op;
		rc_ha_lease_acquire(ha->lease, 1, st->op, false);
	}
	if ((a & RC_HA_ACT(RC_HA_ACT_RELOAD_OWN)) &&
	    rc_ha_load_scope(ha, 0, RC_RESUME_FAILOVER) != 0) {
		/* reported as a critical service down; the next tick reports it up again (the
		 * watcher sees the services running), which retries */
		ha->critical_ok = false;
		ha_event(ha, RC_HA_EV_LOCAL_CRITICAL_DOWN, NULL);
	}
	if (a & RC_HA_ACT(RC_HA_ACT_TAKE_BACK)) {
		rc = rc_ha_load_scope(ha, 0, RC_RESUME_FALLBACK);
		answer(ha, rc == 0 ? RC_HA_EV_FALLBACK_DONE : RC_HA_EV_FALLBACK_FAILED, st->op);
	}
	if (a & RC_HA_ACT(RC_HA_ACT_START_TAKEOVER)) {
		rc = rc_ha_load_scope(ha, 1, RC_RESUME_FAILOVER);
		if (rc == 0)
			ha->takeovers++;
		answer(ha, rc == 0 ? RC_HA_EV_TAKEOVER_DONE : RC_HA_EV_TAKEOVER_FAILED, st->op);
	}
	if (a & RC_HA_ACT(RC_HA_ACT_TAKE_USERS))
		rc_ha_take_users(ha);
	if (a & RC_HA_ACT(RC_HA_ACT_ANNOUNCE))
		send_heartbeat(ha, rc_ha_now_ms());
	if (a & RC_HA_ACT(RC_HA_ACT_ALARM)) {
		ha->alarms++;
		RC_ERR("ALARM: ha: %s (%s)", rc_ha_state_name(ha->fsm.state),
		       rc_ha_reason_name(ha->fsm.reason));
	}
}

static void
ha_event(struct rc_ha_node *ha, enum rc_ha_event ev, const struct rc_ha_event_data *d)
{
	struct rc_ha_step st;
	char line[256];
	int rc;

	rc = rc_ha_fsm_event(&ha->fsm, ev, d, rc_ha_now_ms(), &st);
	if (rc == -EINVAL)
		return;
	if (st.result == RC_HA_RES_TRANSITION || st.result == RC_HA_RES_INVALID) {
		rc_ha_step_format(&st, line, sizeof(line));
		if (st.result == RC_HA_RES_INVALID)
			RC_WARN("ha: refused: %s", line);
		else
			RC_INFO("ha: %s", line);
	} else if (st.result == RC_HA_RES_ACTIONS && st.actions != 0) {
		rc_ha_step_format(&st, line, sizeof(line));
		RC_DEBUG("ha: %s", line);
	}
	if (st.result == RC_HA_RES_ACTIONS || st.result == RC_HA_RES_TRANSITION)
		do_actions(ha, &st);
}

void
rc_ha_node_admin(struct rc_ha_node *ha, enum rc_ha_event ev)
{
	ha_event(ha, ev, NULL);
}

int
rc_ha_node_admin_relay(struct rc_ha_node *ha, unsigned scope, enum rc_ha_event ev)
{
	struct rc_repl_status rs;
	uint8_t msg[2] = { AUX_ADMIN, (uint8_t)ev };

	if (rc_repl_get_status(ha->repl, ha->ss->sc[scope].lease_scope, &rs) != 0 ||
	    rs.role != RC_REPL_WRITER || !rs.connected)
		return -ENOTCONN;
	return rc_repl_send_aux(ha->repl, ha->ss->sc[scope].lease_scope, msg, sizeof(msg));
}

/* ---- inputs ---- */

static void
lease_events(struct rc_ha_node *ha)
{
	struct rc_ha_lease_ev e;

	while (rc_ha_lease_poll(ha->lease, &e) == 1) {
		switch (e.kind) {
		case RC_HAL_WON:
			RC_INFO("ha: lease %s won, epoch %" PRIu64 " (%s)",
				ha->ss->sc[e.scope].lease_scope, e.epoch, e.detail);
			answer(ha, RC_HA_EV_LEASE_WON, e.op);
			if (!(ha->fsm.lease_want & (e.scope == 0 ? RC_HA_OWN : RC_HA_PEER)) &&
			    !ha->ss->sc[e.scope].loaded && !ha->ss->sc[e.scope].handover.active) {
				/* an acquisition the machine no longer waits for (a fence came
				 * first): never sit on a lease we do not serve */
				RC_INFO("ha: lease %s not wanted any more: handing it back",
					ha->ss->sc[e.scope].lease_scope);
				rc_ha_lease_release(ha->lease, e.scope, 0);
			}
			break;
		case RC_HAL_REFUSED:
			RC_INFO("ha: lease %s refused: %s", ha->ss->sc[e.scope].lease_scope, e.detail);
			answer(ha, RC_HA_EV_LEASE_REFUSED, e.op);
			break;
		case RC_HAL_LOST:
			RC_ERR("ha: lease %s lost: %s: fencing", ha->ss->sc[e.scope].lease_scope,
			       e.detail);
			rc_scope_serve(&ha->ss->sc[e.scope], false);
			ha_event(ha, RC_HA_EV_LEASE_LOST, NULL);
			break;
		case RC_HAL_RELEASED:
			RC_INFO("ha: lease %s handed back (%s)", ha->ss->sc[e.scope].lease_scope,
				e.detail);
			/* the answer to release / unload-peer while the machine waits for it (a
			 * stale one is ignored by the machine) */
			if (e.scope == 0 && ha->fsm.await == RC_HA_AWAIT_RELEASE)
				answer(ha, RC_HA_EV_RELEASE_DONE, e.op);
			else if (e.scope == 1 && ha->fsm.await == RC_HA_AWAIT_UNLOAD)
				answer(ha, RC_HA_EV_FALLBACK_DONE, e.op);
			break;
		case RC_HAL_DB_UP:
			rc_health_set(ha->health, RC_HEALTH_DATABASE, true);
			ha_event(ha, RC_HA_EV_DB_UP, NULL);
			break;
		case RC_HAL_DB_DOWN:
			RC_WARN("ha: database unreachable for the lease: %s", e.detail);
			rc_health_set(ha->health, RC_HEALTH_DATABASE, false);
			ha_event(ha, RC_HA_EV_DB_DOWN, NULL);
			break;
		}
	}
}

/* Workers progressing, each writing WAL writer committing what it is given. */
static void
watch_health(struct rc_ha_node *ha, uint64_t now)
{
	bool wal_ok = true, ok;

	for (unsigned i = 0; i < ha->dp->n_workers; i++)
		rc_health_worker_progress(ha->health, i,
					  __atomic_load_n(&ha->dp->workers[i]->last_heartbeat,
							  __ATOMIC_RELAXED),
					  now);
	for (unsigned s = 0; s < ha->ss->n; s++) {
		struct rc_wal_stats ws;

		rc_wal_get_stats(ha->ss->sc[s].wal, &ws);
		if (ws.commits != ha->ss->sc[s].wal_commits ||
		    rte_ring_count(rc_wal_ring(ha->ss->sc[s].wal)) == 0) {
			ha->ss->sc[s].wal_commits = ws.commits;
			ha->ss->sc[s].wal_progress_ms = now;
		} else if (now - ha->ss->sc[s].wal_progress_ms > WAL_STALL_MS(ha)) {
			wal_ok = false;
		}
	}
	rc_health_set(ha->health, RC_HEALTH_WAL_WRITER, wal_ok);
	/* an administrator's `service stop tc` is a TC down like a failed one */
	ok = rc_health_tc_ok(rc_health_bits(ha->health)) && !ha->tc_stopped;
	/* A host-wide freeze (the VM descheduled, swapping) stops this thread too: a gap in
	 * our own ticks within the stall window means the workers may simply not have had
	 * the CPU. Only a stall seen while this thread ran smoothly is a failed service. */
	if (ha->last_tick_ms != 0 && now - ha->last_tick_ms > HOST_STALL_MS)
		ha->last_host_stall_ms = now;
	ha->last_tick_ms = now;
	if (!ok && ha->critical_ok && now - ha->last_host_stall_ms < ha->cfg->ha->stall_ms) {
		ha->host_stalls_ignored++;
		return;
	}
	if (ok != ha->critical_ok || !ha->critical_reported) {
		if (!ok && ha->critical_reported)
			RC_ERR("ha: critical service down: workers %s, WAL writer %s, TC %s",
			       (rc_health_bits(ha->health) &
				RC_HEALTH_MASK(RC_HEALTH_WORKERS)) ? "running" : "STALLED",
			       wal_ok ? "running" : "STALLED",
			       ha->tc_stopped ? "STOPPED by the administrator" : "started");
		if (ok || ha->critical_reported || now - ha->started_ms > 2000) {
			ha->critical_ok = ok;
			ha->critical_reported = true;
			ha_event(ha, ok ? RC_HA_EV_LOCAL_CRITICAL_UP : RC_HA_EV_LOCAL_CRITICAL_DOWN,
				 NULL);
		}
	}
}

static void
repl_events(struct rc_ha_node *ha)
{
	struct rc_repl_event e;

	rc_repl_poll_aux(ha->repl, rc_ha_aux_cb, ha);
	while (rc_repl_poll_events(ha->repl, &e, 1) == 1) {
		bool up = e.type == RC_REPL_EV_CONNECTED;

		for (unsigned s = 0; s < ha->ss->n; s++) {
			if (strcmp(e.scope, ha->ss->sc[s].lease_scope) != 0)
				continue;
			if (up && e.role == RC_REPL_WRITER && ha->ss->sc[s].loaded)
				rc_ha_send_session_snapshot(ha, s);
			if (up && e.role == RC_REPL_WRITER && s == 0)
				rc_ha_send_handback(ha);
			RC_INFO("ha: WAL stream of %s %s (%s)", e.scope,
				up ? "connected" : "disconnected",
				e.role == RC_REPL_WRITER ? "we write it" : "we hold a copy");
		}
	}
}

/* The durability gate (ha.durability, control/ha/HA.md "Durability"). A scope's peer copy can
 * be had while the peer is up (heartbeats) and the scope's stream, written by us, is
 * connected (the handshake and every frame authenticated: storage/repl.h).
 *   "peer": the gate is on while a copy can be had; otherwise ACKs go out on the local
 *     commit alone. Every time a served scope goes to local-only ACKs is a downgrade:
 *     logged as an ALARM and counted (ha status, /metrics).
 *   "peer-required": the gate is always on, so nothing is ever acknowledged before the
 *     peer holds it; while no copy can be had, new POSTs and new rooms of the scope are
 *     refused with ERROR 9 busy (the workers read scope_no_peer) and what was committed
 *     meanwhile waits for the peer. Each start of such a period is logged and counted.
 *   "local": the gate is off. */
static void
update_gate(struct rc_ha_node *ha)
{
	bool up = rc_hb_peer_state(ha->hb) == RC_HB_PEER_IS_UP;

	for (unsigned s = 0; s < ha->ss->n; s++) {
		struct rc_repl_status rs;
		bool copy = up && rc_repl_get_status(ha->repl, ha->ss->sc[s].lease_scope, &rs) == 0 &&
			    rs.role == RC_REPL_WRITER && rs.connected;
		/* HA off: nobody would serve a copy, so no ACK waits for one */
		enum rc_ha_durability dur = ha->enabled ? ha->durability : RC_HA_DUR_LOCAL;
		bool on = dur == RC_HA_DUR_PEER_REQUIRED || (dur == RC_HA_DUR_PEER && copy);
		bool served = ha->ss->sc[s].loaded;
		bool local_only = served && dur == RC_HA_DUR_PEER && !copy;
		bool busy = dur == RC_HA_DUR_PEER_REQUIRED && !copy;

		if (on != ha->ss->sc[s].gate_on || !ha->gate_set) {
			rc_wal_set_peer_gate(ha->ss->sc[s].wal, on);
			ha->ss->sc[s].gate_on = on;
		}
		if (busy != ha->ss->sc[s].no_peer_busy) {
			rc_scope_busy(&ha->ss->sc[s], busy);
			ha->ss->sc[s].no_peer_busy = busy;
		}
		if (served && busy && !ha->ss->sc[s].busy_logged) {
			ha->busy_periods++;
			RC_WARN("ha: no peer copy of %s (%s): POSTs refused busy until the peer "
				"holds the stream again (durability peer-required)",
				ha->ss->sc[s].lease_scope, up ? "stream not connected" : "peer not up");
		} else if (served && !busy && ha->ss->sc[s].busy_logged) {
			RC_INFO("ha: the peer holds %s again: POSTs accepted",
				ha->ss->sc[s].lease_scope);
		}
		ha->ss->sc[s].busy_logged = served && busy;
		if (local_only && !ha->ss->sc[s].local_only) {
			ha->downgrades++;
			RC_ERR("ALARM: ha: acknowledgements for %s on the local commit only: no peer "
			       "copy (%s); a crash of this node now loses what it acknowledges until "
			       "the peer holds it (durability peer; peer-required would refuse)",
			       ha->ss->sc[s].lease_scope, up ? "stream not connected" : "peer not up");
		} else if (!local_only && ha->ss->sc[s].local_only && served) {
			RC_INFO("ha: acknowledgements for %s wait for the peer's copy again",
				ha->ss->sc[s].lease_scope);
		}
		ha->ss->sc[s].local_only = local_only;
	}
	ha->gate_set = true;
}

/* A heartbeat from the peer, if one came: its state and reason become PEER_STATE. */
static void
hear_peer(struct rc_ha_node *ha, uint64_t now)
{
	struct rc_hb_status peer;
	struct rc_ha_event_data d = { 0 };

	if (rc_hb_recv(ha->hb, now, &peer) <= 0)
		return;
	if (!ha->peer_heard || peer.ha_state != ha->peer.ha_state ||
	    peer.ha_reason != ha->peer.ha_reason)
		ha->peer_since_ms = now; /* as seen from here: within a heartbeat */
	ha->peer = peer;
	ha->peer_heard = true;
	ha->peer_heard_ms = now;
	d.peer_state = peer.ha_state < RC_HA_STATE_MAX ? peer.ha_state : RC_HA_UNKNOWN;
	d.peer_reason = peer.ha_reason < RC_HA_REASON_MAX ? peer.ha_reason : RC_HA_REASON_NORMAL;
	ha_event(ha, RC_HA_EV_PEER_STATE, &d);
}

/* The heartbeat's timers: the peer up, restarted or dead, and our own heartbeat due. */
static void
heartbeat_events(struct rc_ha_node *ha, uint64_t now)
{
	uint32_t ev = rc_hb_tick(ha->hb, now);

	if (ev & RC_HB_EV(RC_HB_PEER_UP)) {
		RC_INFO("ha: peer %s is up", ha->cfg->ha->peer_id);
		ha_event(ha, RC_HA_EV_PEER_UP, NULL);
	}
	if (ev & RC_HB_EV(RC_HB_PEER_REBOOTED)) {
		RC_INFO("ha: peer %s restarted", ha->cfg->ha->peer_id);
		ha_event(ha, RC_HA_EV_PEER_REBOOTED, NULL);
	}
	if (!ha->peer_heard && now - ha->started_ms < ha->cfg->ha->startup_grace_ms)
		ev &= ~RC_HB_EV(RC_HB_PEER_DEAD); /* start-up grace: the peer may be booting too */
	if (ev & RC_HB_EV(RC_HB_PEER_DEAD)) {
		RC_WARN("ha: peer %s is silent for %u ms: dead", ha->cfg->ha->peer_id,
			ha->cfg->ha->dead_ms);
		ha->peer_dead_ms = now;
		ha_event(ha, RC_HA_EV_PEER_DEAD, NULL);
	}
	if (ev & RC_HB_EV(RC_HB_SEND_DUE)) {
		send_heartbeat(ha, now);
		if (rc_hb_peer_state(ha->hb) == RC_HB_PEER_IS_DEAD &&
		    (ha->peer_heard || now - ha->started_ms >= ha->cfg->ha->startup_grace_ms))
			ha_event(ha, RC_HA_EV_PEER_DEAD, NULL); /* a level: HA.md */
	}
}

/* An administrator's command that the peer relayed (failover, fallback), if one came. */
static void
peer_admin_event(struct rc_ha_node *ha)
{
	enum rc_ha_event aev = (enum rc_ha_event)ha->admin_from_peer;

	if (ha->admin_from_peer == 0)
		return;
	ha->admin_from_peer = 0;
	RC_INFO("ha: the peer relays an administrator's %s", rc_ha_event_name(aev));
	ha_event(ha, aev, NULL);
}

void
rc_ha_node_tick(struct rc_ha_node *ha)
{
	uint64_t now = rc_ha_now_ms(), due;

	if (ha == NULL)
		return;
	if (ha->lease != NULL)
		rc_ha_lease_alive(ha->lease, now);
	hear_peer(ha, now);
	heartbeat_events(ha, now);
	update_gate(ha);
	watch_health(ha, now);
	lease_events(ha);
	repl_events(ha);
	peer_admin_event(ha);
	job_tick(ha, now);
	rc_ha_garp_tick(ha, now);
	due = rc_ha_fsm_fallback_due(&ha->fsm);
	if (due != 0 && now >= due)
		ha_event(ha, RC_HA_EV_HEALTHY_PERIOD, NULL);
}

/* ---- set-up ---- */

static void
hb_key_of(const struct rc_key *from, struct rc_hb_key *to)
{
	to->id = from->id;
	to->len = from->len < RC_HB_KEY_MAX ? from->len : RC_HB_KEY_MAX;
	memcpy(to->key, from->key, to->len);
}

int
rc_ha_hb_keys(const struct rc_keyring *r, struct rc_hb_keys *k)
{
	memset(k, 0, sizeof(*k));
	if (r == NULL || r->n == 0)
		return -EINVAL;
	hb_key_of(&r->k[0], &k->current);
	if (r->n > 1)
		hb_key_of(&r->k[1], &k->previous);
	return k->current.len < RC_HB_KEY_MIN ? -EINVAL : 0;
}

/* The ring as the stream's keys (the first signs, all accepted). */
static int
repl_keys(struct rc_repl *repl, const struct rc_keyring *r)
{
	struct rc_repl_key k[RC_REPL_KEYS_MAX];
	unsigned n = r->n < RC_REPL_KEYS_MAX ? r->n : RC_REPL_KEYS_MAX;
	int rc;

	memset(k, 0, sizeof(k));
	for (unsigned i = 0; i < n; i++) {
		k[i].id = r->k[i].id;
		k[i].len = r->k[i].len < RC_REPL_KEY_MAX ? r->k[i].len : RC_REPL_KEY_MAX;
		memcpy(k[i].key, r->k[i].key, k[i].len);
	}
	rc = rc_repl_set_keys(repl, k, n);
	explicit_bzero(k, sizeof(k));
	return rc;
}

int
rc_ha_node_keys_changed(struct rc_ha_node *ha)
{
	struct rc_hb_keys k;
	int rc;

	if (ha == NULL)
		return 0;
	rc = rc_ha_hb_keys(ha->cfg->keys, &k);
	if (rc == 0)
		rc = rc_hb_set_keys(ha->hb, &k, rc_ha_now_ms());
	explicit_bzero(&k, sizeof(k));
	return rc == 0 ? repl_keys(ha->repl, ha->cfg->keys) : rc;
}

static int
open_heartbeats(struct rc_ha_node *ha, const struct rc_hb_keys *keys, char *err, size_t errlen)
{
	const struct rc_ha_settings *c = ha->cfg;
	struct rc_hb_conf hc = {
		.node_id = c->node_id,
		.peer_id = c->ha->peer_id,
		.local_addr = c->ha->address,
		.peer_addr = c->ha->peer_address,
		.interval_ms = c->ha->interval_ms,
		.dead_ms = c->ha->dead_ms,
		/* the operator ends a rotation (keyring.h): no grace runs out before */
		.key_grace_ms = UINT32_MAX,
	};
	int rc;

	ha->hb = rc_hb_create(&hc, keys);
	if (ha->hb != NULL)
		return 0;
	rc = -errno;
	snprintf(err, errlen, "ha: cannot open the heartbeat socket on %s: %s", c->ha->address,
		 strerror(errno));
	return rc;
}

static int
open_stream(struct rc_ha_node *ha, const struct rc_hb_keys *keys, char *err, size_t errlen)
{
	const struct rc_ha_settings *c = ha->cfg;
	struct rc_repl_conf rcf = {
		.node_id = c->node_id,
		.peer_id = c->ha->peer_id,
		.listen_addr = c->ha->address,
		.peer_addr = c->ha->peer_address,
		.dead_ms = c->ha->dead_ms * 2,
		.reconnect_min_ms = 50,
		.reconnect_max_ms = 500, /* a restarted peer gets its stream soon */
	};
	int rc;

	rcf.key.id = keys->current.id;
	rcf.key.len = keys->current.len < RC_REPL_KEY_MAX ? keys->current.len : RC_REPL_KEY_MAX;
	memcpy(rcf.key.key, keys->current.key, rcf.key.len);
	ha->repl = rc_repl_create(&rcf);
	explicit_bzero(&rcf.key, sizeof(rcf.key));
	if (ha->repl != NULL && repl_keys(ha->repl, c->keys) != 0) {
		snprintf(err, errlen, "ha: bad HA keys");
		return -EINVAL;
	}
	if (ha->repl == NULL) {
		rc = -errno;
		snprintf(err, errlen, "ha: cannot open the WAL stream listener on %s: %s",
			 c->ha->address, strerror(errno));
		return rc;
	}
	for (unsigned s = 0; s < ha->ss->n; s++) {
		struct rc_scope *sc = &ha->ss->sc[s];

		rc = rc_repl_attach(ha->repl, sc->lease_scope, sc->wal, RC_REPL_REPLICA);
		if (rc == 0) /* the replica applies only room ids of the scope */
			rc = rc_repl_set_room_range(ha->repl, sc->lease_scope, sc->room_lo,
						    sc->room_hi);
		if (rc != 0) {
			snprintf(err, errlen, "ha: cannot attach %s to the stream: %s",
				 sc->lease_scope, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static int
ha_open(struct rc_ha_node *ha, char *err, size_t errlen)
{
	const struct rc_ha_settings *c = ha->cfg;
	struct rc_hb_keys keys;
	int rc;

	ha->durability = strcmp(c->ha->durability, "peer") == 0 ? RC_HA_DUR_PEER :
			 strcmp(c->ha->durability, "peer-required") == 0 ? RC_HA_DUR_PEER_REQUIRED :
									   RC_HA_DUR_LOCAL;
	ha->started_ms = rc_ha_now_ms();
	/* nothing is served until a lease is won */
	rc_scope_set_ip(&ha->ss->sc[1], c->ha->peer_service_ip.s_addr);
	ha->enabled = true; /* until the cluster state says otherwise (rc_ha_node_set_enabled) */
	rc_ha_fsm_init(&ha->fsm, true, ha->started_ms);
	rc_ha_fsm_set_auto_fallback(&ha->fsm, c->ha->auto_fallback,
				    (uint64_t)c->ha->auto_fallback_s * 1000);
	ha->health = rc_health_create(c->n_workers, c->ha->stall_ms);
	if (ha->health == NULL || rc_ha_hb_keys(c->keys, &keys) != 0) {
		snprintf(err, errlen, "ha: cannot set up the health watcher or the key");
		return -EINVAL;
	}
	rc_health_set(ha->health, RC_HEALTH_DATABASE, true);
	rc = open_heartbeats(ha, &keys, err, errlen);
	if (rc == 0)
		rc = open_stream(ha, &keys, err, errlen);
	explicit_bzero(&keys, sizeof(keys));
	return rc;
}

int
rc_ha_node_create(const struct rc_ha_settings *cfg, struct rc_scopes *ss, struct rc_dp *dp,
		  struct rc_ha_node **out, char *err, size_t errlen)
{
	struct rc_ha_node *ha = calloc(1, sizeof(*ha));
	int rc;

	*out = NULL;
	if (ha == NULL)
		return -ENOMEM;
	if (ss->n != 2) {
		snprintf(err, errlen, "ha: the node has no peer scope");
		free(ha);
		return -EINVAL;
	}
	ha->cfg = cfg;
	ha->ss = ss;
	ha->dp = dp;
	rc = ha_open(ha, err, errlen);
	if (rc != 0) {
		rc_ha_node_destroy(ha);
		return rc;
	}
	RC_INFO("ha: pair %s + %s, room ids %u..%u (ours) and %u..%u, heartbeats every %u ms "
		"(dead after %u ms) over %s, lease %u ms, durability %s",
		cfg->node_id, cfg->ha->peer_id, ss->sc[0].room_lo, ss->sc[0].room_hi,
		ss->sc[1].room_lo, ss->sc[1].room_hi, cfg->ha->interval_ms, cfg->ha->dead_ms,
		cfg->ha->address, cfg->ha->lease_ttl_ms, cfg->ha->durability);
	*out = ha;
	return 0;
}

json_t *
rc_ha_node_report(const struct rc_ha_node *ha)
{
	bool heard = ha->peer_heard && rc_hb_peer_state(ha->hb) == RC_HB_PEER_IS_UP;
	const char *pst = "", *prs = "";

	if (heard) {
		pst = rc_ha_state_name(ha->peer.ha_state < RC_HA_STATE_MAX ? ha->peer.ha_state :
									     RC_HA_UNKNOWN);
		prs = rc_ha_reason_name(ha->peer.ha_reason < RC_HA_REASON_MAX ?
						ha->peer.ha_reason : RC_HA_REASON_NORMAL);
	}
	return json_pack("{s:b, s:s, s:s, s:s, s:b, s:s, s:s, s:b, s:b, s:b, s:s}", "enabled",
			 ha->enabled, "state", rc_ha_state_name(ha->fsm.state), "reason",
			 rc_ha_reason_name(ha->fsm.reason), "peer", ha->cfg->ha->peer_id,
			 "peer_heard", heard, "peer_state", pst, "peer_reason", prs,
			 "critical_services", rc_health_tc_ok(rc_health_bits(ha->health)),
			 "users_of_peer", ha->users_taken, "tc_stopped", ha->tc_stopped,
			 "lease_database", ha->lease_db);
}

bool
rc_ha_node_state_of(void *arg, const char *node, const char **state, const char **reason)
{
	struct rc_ha_node *ha = arg;

	if (strcmp(node, ha->cfg->node_id) == 0) {
		*state = rc_ha_state_name(ha->fsm.state);
		*reason = rc_ha_reason_name(ha->fsm.reason);
		return true;
	}
	if (strcmp(node, ha->cfg->ha->peer_id) == 0 && ha->peer_heard &&
	    rc_hb_peer_state(ha->hb) == RC_HB_PEER_IS_UP) {
		*state = rc_ha_state_name(ha->peer.ha_state < RC_HA_STATE_MAX ? ha->peer.ha_state :
										 RC_HA_UNKNOWN);
		*reason = rc_ha_reason_name(ha->peer.ha_reason < RC_HA_REASON_MAX ?
						    ha->peer.ha_reason : RC_HA_REASON_NORMAL);
		return true;
	}
	return false;
}

int
rc_ha_node_start(struct rc_ha_node *ha)
{
	const char *scopes[2] = { ha->ss->sc[0].lease_scope, ha->ss->sc[1].lease_scope };
	struct rc_lease_guard *guards[2] = { &ha->ss->sc[0].guard, &ha->ss->sc[1].guard };
	/* the database's conninfo is known once the cluster state is applied (rc_node_init) */
	struct rc_ha_lease_conf lc = {
		.conninfo = ha->ss->db_conninfo,
		.me = ha->cfg->node_id,
		.scope = { scopes[0], scopes[1] },
		.ttl_ms = ha->cfg->ha->lease_ttl_ms,
	};
	int rc;

	if (ha->ss->db_conninfo[0] != '\0')
		rc_merge_redact(ha->ss->db_conninfo, ha->lease_db, sizeof(ha->lease_db));
	ha->lease = rc_ha_lease_create(&lc, guards);
	if (ha->lease == NULL) {
		RC_ERR("ha: cannot create the lease thread");
		return -ENOMEM;
	}
	if ((rc = rc_repl_start(ha->repl)) != 0 || (rc = rc_ha_lease_start(ha->lease)) != 0)
		return rc;
	ha->running = true;
	return 0;
}

void
rc_ha_node_set_enabled(struct rc_ha_node *ha, bool on)
{
	if (ha == NULL || on == ha->enabled)
		return;
	ha->enabled = on;
	RC_INFO("ha: the group's high availability is %s: %s", on ? "on" : "off",
		on ? "rooms, users and address fail over" :
		     "a dead node's users and address move, its rooms wait for it");
	if (!ha->running) { /* at start: the machine begins where the switch says */
		rc_ha_fsm_init(&ha->fsm, on, ha->started_ms);
		rc_ha_fsm_set_auto_fallback(&ha->fsm, ha->cfg->ha->auto_fallback,
					    (uint64_t)ha->cfg->ha->auto_fallback_s * 1000);
		return;
	}
	ha_event(ha, on ? RC_HA_EV_HA_ENABLED : RC_HA_EV_HA_DISABLED, NULL);
}

uint64_t
rc_ha_node_changes(const struct rc_ha_node *ha)
{
	return ha != NULL ? ha->fsm.transitions + (ha->peer_heard ? ha->peer_since_ms : 0) : 0;
}

bool
rc_ha_node_enabled(const struct rc_ha_node *ha)
{
	return ha != NULL && ha->enabled;
}

void
rc_ha_node_set_tc(struct rc_ha_node *ha, bool started)
{
	if (ha == NULL || ha->tc_stopped == !started)
		return;
	ha->tc_stopped = !started;
	RC_INFO("ha: TC service %s by the administrator%s", started ? "started" : "stopped",
		started ? "" : ": a critical service down, the rooms fail over to the peer");
}

void
rc_ha_node_destroy(struct rc_ha_node *ha)
{
	if (ha == NULL)
		return;
	for (unsigned s = 0; s < ha->ss->n; s++)
		rc_lease_guard_revoke(&ha->ss->sc[s].guard);
	rc_ha_lease_destroy(ha->lease);
	if (ha->repl != NULL)
		rc_repl_destroy(ha->repl);
	rc_hb_destroy(ha->hb);
	rc_health_destroy(ha->health);
	free(ha->handback);
	free(ha);
}
