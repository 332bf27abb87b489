/* SPDX-License-Identifier: MIT */
/* The HA pair wired into a node: see node_ha.h and control/ha/HA.md. */
#include "node_ha.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <urcu-qsbr.h>

#include "cluster_cmds.h"
#include "drainer.h"
#include "ha_fsm.h"
#include "ha_lease.h"
#include "health.h"
#include "heartbeat.h"
#include "history.h"
#include "lease.h"
#include "log.h"
#include "node.h"
#include "node_ha_int.h"
#include "repl.h"
#include "room_table.h"
#include "session.h"
#include "wal.h"

#define PUSH_WAIT_MS 10000    /* handover: wait this long at most for a live peer's ack */
/* The WAL writer is down when records wait and nothing was committed for this long: a synced
 * commit on a busy disk, or a batch held for a slow peer's acknowledgement, takes far longer
 * than a worker's loop, so the workers' ha.stall_ms would give false alarms. */
#define WAL_STALL_MS(n) ((n)->cfg.ha_stall_ms * 10 > 3000 ? (n)->cfg.ha_stall_ms * 10 : 3000)
#define HOST_STALL_MS 100 /* a control loop gap this long: the host, not a service, stalled */

/* ---- the state machine ---- */

static void ha_event(struct rc_node *n, enum rc_ha_event ev, const struct rc_ha_event_data *d);

static void
send_heartbeat(struct rc_node *n, uint64_t now)
{
	struct rc_node_ha *ha = n->ha;
	struct rc_hb_status mine;
	struct rc_repl_status rs;

	memset(&mine, 0, sizeof(mine));
	mine.ha_state = ha->fsm.state;
	mine.ha_reason = ha->fsm.reason;
	mine.epoch = rc_lease_guard_epoch(&ha->sc[0].guard);
	mine.last_lsn = rc_wal_last_lsn(ha->sc[0].wal);
	if (rc_repl_get_status(ha->repl, ha->sc[1].lease_scope, &rs) == 0)
		mine.peer_lsn_acked = rs.applied_lsn;
	mine.health = rc_health_bits(ha->health);
	rc_hb_send(ha->hb, now, &mine);
}

/* An operation of the machine finished: deliver its answer. */
static void
answer(struct rc_node *n, enum rc_ha_event ev, uint32_t op)
{
	struct rc_ha_event_data d = { .op = op };

	ha_event(n, ev, &d);
}

/* Release (scope 0) / unload-peer (scope 1): stop acking now, then push the stream to the
 * peer (job below), then hand the lease back. */
static void
start_handover(struct rc_node *n, unsigned scope, uint32_t op)
{
	struct rc_node_ha *ha = n->ha;
	struct rc_ha_job *j = &ha->job[scope];

	__atomic_store_n(&n->dp.scope_serving[scope], false, __ATOMIC_RELEASE);
	rc_ha_lease_park(ha->lease, scope);
	j->active = true;
	j->op = op;
	j->deadline = rc_ha_now_ms() + PUSH_WAIT_MS;
	j->lsn = rc_wal_last_lsn(ha->sc[scope].wal);
}

static void
job_tick(struct rc_node *n, uint64_t now)
{
	struct rc_node_ha *ha = n->ha;

	for (unsigned s = 0; s < 2; s++) {
		struct rc_ha_job *j = &ha->job[s];
		struct rc_repl_status rs;
		bool pushed;

		if (!j->active)
			continue;
		pushed = !ha->sc[s].loaded ||
			 (rc_repl_get_status(ha->repl, ha->sc[s].lease_scope, &rs) == 0 &&
			  rs.connected && rs.acked_lsn >= rc_wal_last_lsn(ha->sc[s].wal));
		/* a live peer gets everything before it may serve the rooms (its lease waits
		 * for our release); a dead one cannot take anything */
		if (!pushed && rc_hb_peer_state(ha->hb) == RC_HB_PEER_IS_UP && now < j->deadline)
			continue;
		if (!pushed)
			RC_ERR("ALARM: ha: the peer does not hold %s up to LSN %" PRIu64
			       " (%s): handing over anyway; the records stay here and are streamed "
			       "or drained when this node writes the scope again",
			       ha->sc[s].lease_scope, rc_wal_last_lsn(ha->sc[s].wal),
			       now >= j->deadline ? "no acknowledgement within 10 s" :
						    "the peer is not up");
		j->active = false;
		rc_ha_unload_scope(n, s);
		rc_ha_lease_release(ha->lease, s, j->op);
	}
}

static void
do_actions(struct rc_node *n, const struct rc_ha_step *st)
{
	struct rc_node_ha *ha = n->ha;
	uint32_t a = st->actions;
	int rc;

	if (a & RC_HA_ACT(RC_HA_ACT_FENCE)) {
		for (unsigned s = 0; s < 2; s++) {
			ha->job[s].active = false;
			rc_ha_lease_drop(ha->lease, s);
			rc_ha_unload_scope(n, s);
		}
		ha->fences++;
	}
	if (a & RC_HA_ACT(RC_HA_ACT_RELEASE))
		start_handover(n, 0, st->op);
	if (a & RC_HA_ACT(RC_HA_ACT_UNLOAD_PEER))
		start_handover(n, 1, st->op);
	if (a & RC_HA_ACT(RC_HA_ACT_LEASE_OWN)) {
		ha->lease_op[0] = st->op;
		rc_ha_lease_acquire(ha->lease, 0, st->op, false);
	}
	if (a & RC_HA_ACT(RC_HA_ACT_LEASE_PEER)) {
		ha->lease_op[1] = st->op;
		rc_ha_lease_acquire(ha->lease, 1, st->op, false);
	}
	if ((a & RC_HA_ACT(RC_HA_ACT_RELOAD_OWN)) &&
	    rc_ha_load_scope(n, 0, RC_RESUME_FAILOVER) != 0) {
		/* reported as a critical service down; the next tick reports it up again (the
		 * watcher sees the services running), which retries */
		ha->critical_ok = false;
		ha_event(n, RC_HA_EV_LOCAL_CRITICAL_DOWN, NULL);
	}
	if (a & RC_HA_ACT(RC_HA_ACT_TAKE_BACK)) {
		rc = rc_ha_load_scope(n, 0, RC_RESUME_FALLBACK);
		answer(n, rc == 0 ? RC_HA_EV_FALLBACK_DONE : RC_HA_EV_FALLBACK_FAILED, st->op);
	}
	if (a & RC_HA_ACT(RC_HA_ACT_START_TAKEOVER)) {
		rc = rc_ha_load_scope(n, 1, RC_RESUME_FAILOVER);
		if (rc == 0)
			ha->takeovers++;
		answer(n, rc == 0 ? RC_HA_EV_TAKEOVER_DONE : RC_HA_EV_TAKEOVER_FAILED, st->op);
	}
	if (a & RC_HA_ACT(RC_HA_ACT_ANNOUNCE))
		send_heartbeat(n, rc_ha_now_ms());
	if (a & RC_HA_ACT(RC_HA_ACT_ALARM)) {
		ha->alarms++;
		RC_ERR("ALARM: ha: %s (%s)", rc_ha_state_name(ha->fsm.state),
		       rc_ha_reason_name(ha->fsm.reason));
	}
}

static void
ha_event(struct rc_node *n, enum rc_ha_event ev, const struct rc_ha_event_data *d)
{
	struct rc_node_ha *ha = n->ha;
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
		do_actions(n, &st);
}

void
rc_node_ha_admin(struct rc_node *n, enum rc_ha_event ev)
{
	ha_event(n, ev, NULL);
}

int
rc_node_ha_admin_relay(struct rc_node *n, unsigned scope, enum rc_ha_event ev)
{
	struct rc_node_ha *ha = n->ha;
	struct rc_repl_status rs;
	uint8_t msg[2] = { AUX_ADMIN, (uint8_t)ev };

	if (rc_repl_get_status(ha->repl, ha->sc[scope].lease_scope, &rs) != 0 ||
	    rs.role != RC_REPL_WRITER || !rs.connected)
		return -ENOTCONN;
	return rc_repl_send_aux(ha->repl, ha->sc[scope].lease_scope, msg, sizeof(msg));
}

/* ---- inputs ---- */

static void
lease_events(struct rc_node *n)
{
	struct rc_node_ha *ha = n->ha;
	struct rc_ha_lease_ev e;

	while (rc_ha_lease_poll(ha->lease, &e) == 1) {
		switch (e.kind) {
		case RC_HAL_WON:
			RC_INFO("ha: lease %s won, epoch %" PRIu64 " (%s)",
				ha->sc[e.scope].lease_scope, e.epoch, e.detail);
			answer(n, RC_HA_EV_LEASE_WON, e.op);
			if (!(ha->fsm.lease_want & (e.scope == 0 ? RC_HA_OWN : RC_HA_PEER)) &&
			    !ha->sc[e.scope].loaded && !ha->job[e.scope].active) {
				/* an acquisition the machine no longer waits for (a fence came
				 * first): never sit on a lease we do not serve */
				RC_INFO("ha: lease %s not wanted any more: handing it back",
					ha->sc[e.scope].lease_scope);
				rc_ha_lease_release(ha->lease, e.scope, 0);
			}
			break;
		case RC_HAL_REFUSED:
			RC_INFO("ha: lease %s refused: %s", ha->sc[e.scope].lease_scope, e.detail);
			answer(n, RC_HA_EV_LEASE_REFUSED, e.op);
			break;
		case RC_HAL_LOST:
			RC_ERR("ha: lease %s lost: %s: fencing", ha->sc[e.scope].lease_scope,
			       e.detail);
			__atomic_store_n(&n->dp.scope_serving[e.scope], false, __ATOMIC_RELEASE);
			ha_event(n, RC_HA_EV_LEASE_LOST, NULL);
			break;
		case RC_HAL_RELEASED:
			RC_INFO("ha: lease %s handed back (%s)", ha->sc[e.scope].lease_scope,
				e.detail);
			/* the answer to release / unload-peer while the machine waits for it (a
			 * stale one is ignored by the machine) */
			if (e.scope == 0 && ha->fsm.await == RC_HA_AWAIT_RELEASE)
				answer(n, RC_HA_EV_RELEASE_DONE, e.op);
			else if (e.scope == 1 && ha->fsm.await == RC_HA_AWAIT_UNLOAD)
				answer(n, RC_HA_EV_FALLBACK_DONE, e.op);
			break;
		case RC_HAL_DB_UP:
			rc_health_set(ha->health, RC_HEALTH_DATABASE, true);
			ha_event(n, RC_HA_EV_DB_UP, NULL);
			break;
		case RC_HAL_DB_DOWN:
			RC_WARN("ha: database unreachable for the lease: %s", e.detail);
			rc_health_set(ha->health, RC_HEALTH_DATABASE, false);
			ha_event(n, RC_HA_EV_DB_DOWN, NULL);
			break;
		}
	}
}

/* Workers progressing, each writing WAL writer committing what it is given. */
static void
watch_health(struct rc_node *n, uint64_t now)
{
	struct rc_node_ha *ha = n->ha;
	bool wal_ok = true, ok;

	for (unsigned i = 0; i < n->dp.n_workers; i++)
		rc_health_worker_progress(ha->health, i,
					  __atomic_load_n(&n->dp.workers[i]->last_heartbeat,
							  __ATOMIC_RELAXED),
					  now);
	for (unsigned s = 0; s < 2; s++) {
		struct rc_wal_stats ws;

		rc_wal_get_stats(ha->sc[s].wal, &ws);
		if (ws.commits != ha->wal_commits[s] ||
		    rte_ring_count(rc_wal_ring(ha->sc[s].wal)) == 0) {
			ha->wal_commits[s] = ws.commits;
			ha->wal_progress_ms[s] = now;
		} else if (now - ha->wal_progress_ms[s] > WAL_STALL_MS(n)) {
			wal_ok = false;
		}
	}
	rc_health_set(ha->health, RC_HEALTH_WAL_WRITER, wal_ok);
	ok = rc_health_tc_ok(rc_health_bits(ha->health));
	/* A host-wide freeze (the VM descheduled, swapping) stops this thread too: a gap in
	 * our own ticks within the stall window means the workers may simply not have had
	 * the CPU. Only a stall seen while this thread ran smoothly is a failed service. */
	if (ha->last_tick_ms != 0 && now - ha->last_tick_ms > HOST_STALL_MS)
		ha->last_host_stall_ms = now;
	ha->last_tick_ms = now;
	if (!ok && ha->critical_ok && now - ha->last_host_stall_ms < n->cfg.ha_stall_ms) {
		ha->host_stalls_ignored++;
		return;
	}
	if (ok != ha->critical_ok || !ha->critical_reported) {
		if (!ok && ha->critical_reported)
			RC_ERR("ha: critical service down: workers %s, WAL writer %s",
			       (rc_health_bits(ha->health) &
				RC_HEALTH_MASK(RC_HEALTH_WORKERS)) ? "running" : "STALLED",
			       wal_ok ? "running" : "STALLED");
		if (ok || ha->critical_reported || now - ha->started_ms > 2000) {
			ha->critical_ok = ok;
			ha->critical_reported = true;
			ha_event(n, ok ? RC_HA_EV_LOCAL_CRITICAL_UP : RC_HA_EV_LOCAL_CRITICAL_DOWN,
				 NULL);
		}
	}
}

static void
repl_events(struct rc_node *n)
{
	struct rc_node_ha *ha = n->ha;
	struct rc_repl_event e;

	rc_repl_poll_aux(ha->repl, rc_ha_aux_cb, n);
	while (rc_repl_poll_events(ha->repl, &e, 1) == 1) {
		bool up = e.type == RC_REPL_EV_CONNECTED;

		for (unsigned s = 0; s < 2; s++) {
			if (strcmp(e.scope, ha->sc[s].lease_scope) != 0)
				continue;
			if (up && e.role == RC_REPL_WRITER && ha->sc[s].loaded)
				rc_ha_send_session_snapshot(n, s);
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
update_gate(struct rc_node *n)
{
	struct rc_node_ha *ha = n->ha;
	bool up = rc_hb_peer_state(ha->hb) == RC_HB_PEER_IS_UP;

	for (unsigned s = 0; s < 2; s++) {
		struct rc_repl_status rs;
		bool copy = up && rc_repl_get_status(ha->repl, ha->sc[s].lease_scope, &rs) == 0 &&
			    rs.role == RC_REPL_WRITER && rs.connected;
		bool on = ha->durability == RC_HA_DUR_PEER_REQUIRED ||
			  (ha->durability == RC_HA_DUR_PEER && copy);
		bool served = ha->sc[s].loaded;
		bool local_only = served && ha->durability == RC_HA_DUR_PEER && !copy;
		bool busy = ha->durability == RC_HA_DUR_PEER_REQUIRED && !copy;

		if (on != ha->gate_on[s] || !ha->gate_set) {
			rc_wal_set_peer_gate(ha->sc[s].wal, on);
			ha->gate_on[s] = on;
		}
		if (busy != ha->no_peer_busy[s]) {
			__atomic_store_n(&n->dp.scope_no_peer[s], busy, __ATOMIC_RELEASE);
			ha->no_peer_busy[s] = busy;
		}
		if (served && busy && !ha->busy_logged[s]) {
			ha->busy_periods++;
			RC_WARN("ha: no peer copy of %s (%s): POSTs refused busy until the peer "
				"holds the stream again (durability peer-required)",
				ha->sc[s].lease_scope, up ? "stream not connected" : "peer not up");
		} else if (served && !busy && ha->busy_logged[s]) {
			RC_INFO("ha: the peer holds %s again: POSTs accepted",
				ha->sc[s].lease_scope);
		}
		ha->busy_logged[s] = served && busy;
		if (local_only && !ha->local_only[s]) {
			ha->downgrades++;
			RC_ERR("ALARM: ha: acknowledgements for %s on the local commit only: no peer "
			       "copy (%s); a crash of this node now loses what it acknowledges until "
			       "the peer holds it (durability peer; peer-required would refuse)",
			       ha->sc[s].lease_scope, up ? "stream not connected" : "peer not up");
		} else if (!local_only && ha->local_only[s] && served) {
			RC_INFO("ha: acknowledgements for %s wait for the peer's copy again",
				ha->sc[s].lease_scope);
		}
		ha->local_only[s] = local_only;
	}
	ha->gate_set = true;
}

void
rc_node_ha_tick(struct rc_node *n)
{
	struct rc_node_ha *ha = n->ha;
	struct rc_hb_status peer;
	struct rc_ha_event_data d = { 0 };
	uint64_t now = rc_ha_now_ms(), due;
	uint32_t ev;

	if (ha == NULL)
		return;
	if (ha->lease != NULL)
		rc_ha_lease_alive(ha->lease, now);
	if (rc_hb_recv(ha->hb, now, &peer) > 0) {
		if (!ha->peer_heard || peer.ha_state != ha->peer.ha_state ||
		    peer.ha_reason != ha->peer.ha_reason)
			ha->peer_since_ms = now; /* as seen from here: within a heartbeat */
		ha->peer = peer;
		ha->peer_heard = true;
		ha->peer_heard_ms = now;
		d.peer_state = peer.ha_state < RC_HA_STATE_MAX ? peer.ha_state : RC_HA_UNKNOWN;
		d.peer_reason = peer.ha_reason < RC_HA_REASON_MAX ? peer.ha_reason :
								    RC_HA_REASON_NORMAL;
		ha_event(n, RC_HA_EV_PEER_STATE, &d);
	}
	ev = rc_hb_tick(ha->hb, now);
	if (ev & RC_HB_EV(RC_HB_PEER_UP)) {
		RC_INFO("ha: peer %s is up", n->cfg.ha_peer_id);
		ha_event(n, RC_HA_EV_PEER_UP, NULL);
	}
	if (ev & RC_HB_EV(RC_HB_PEER_REBOOTED)) {
		RC_INFO("ha: peer %s restarted", n->cfg.ha_peer_id);
		ha_event(n, RC_HA_EV_PEER_REBOOTED, NULL);
	}
	if (!ha->peer_heard && now - ha->started_ms < n->cfg.ha_startup_grace_ms)
		ev &= ~RC_HB_EV(RC_HB_PEER_DEAD); /* start-up grace: the peer may be booting too */
	if (ev & RC_HB_EV(RC_HB_PEER_DEAD)) {
		RC_WARN("ha: peer %s is silent for %u ms: dead", n->cfg.ha_peer_id,
			n->cfg.ha_dead_ms);
		ha->peer_dead_ms = now;
		ha_event(n, RC_HA_EV_PEER_DEAD, NULL);
	}
	if (ev & RC_HB_EV(RC_HB_SEND_DUE)) {
		send_heartbeat(n, now);
		if (rc_hb_peer_state(ha->hb) == RC_HB_PEER_IS_DEAD &&
		    (ha->peer_heard || now - ha->started_ms >= n->cfg.ha_startup_grace_ms))
			ha_event(n, RC_HA_EV_PEER_DEAD, NULL); /* a level: HA.md */
	}
	update_gate(n);
	watch_health(n, now);
	lease_events(n);
	repl_events(n);
	if (ha->admin_from_peer != 0) {
		enum rc_ha_event aev = (enum rc_ha_event)ha->admin_from_peer;

		ha->admin_from_peer = 0;
		RC_INFO("ha: the peer relays an administrator's %s", rc_ha_event_name(aev));
		ha_event(n, aev, NULL);
	}
	job_tick(n, now);
	rc_ha_garp_tick(n, now);
	due = rc_ha_fsm_fallback_due(&ha->fsm);
	if (due != 0 && now >= due)
		ha_event(n, RC_HA_EV_HEALTHY_PERIOD, NULL);
}

struct name_find {
	const char *name;
	unsigned len;
};

static int
find_name(void *arg, const struct rc_wal_room *r)
{
	const struct name_find *f = arg;

	return strlen(r->name) == f->len && memcmp(r->name, f->name, f->len) == 0;
}

bool
rc_node_ha_peer_has_room(struct rc_node *n, unsigned scope, const char *name, unsigned len)
{
	struct name_find f = { name, len };
	unsigned other = 1 - (scope & 1);

	if (n->ha == NULL || n->ha->sc[other].loaded)
		return false; /* served here: the room table has it */
	return rc_wal_load_rooms(n->ha->sc[other].wal, find_name, &f) == 1;
}

/* ---- set-up ---- */

bool
rc_node_ha_may_drain(struct rc_node *n, uint64_t *epoch)
{
	*epoch = 0;
	if (n->ha == NULL)
		return true;
	*epoch = n->ha->sc[0].epoch;
	return n->ha->sc[0].epoch != 0;
}

int
rc_node_ha_set_completion(struct rc_node *n, unsigned idx, struct rte_ring *ring)
{
	if (n->ha == NULL)
		return 0;
	return rc_wal_set_completion(n->ha->sc[1].wal, idx, ring);
}

static int
open_peer_scope(struct rc_node *n, char *err, size_t errlen)
{
	struct rc_node_ha *ha = n->ha;
	struct rc_ha_scope *sc = &ha->sc[1];
	char dir[512];
	struct rc_wal_conf wc;

	snprintf(dir, sizeof(dir), "%s/wal-peer", n->cfg.data_dir);
	rc_node_wal_conf(n, dir, &wc); /* the same settings as our own WAL */
	sc->wal = rc_wal_open(&wc, err, errlen);
	if (sc->wal == NULL)
		return -errno;
	sc->hist = rc_history_create(sc->wal, 4096, (int)rte_socket_id(), &rc_replay_ops,
				     &n->replay);
	if (sc->hist == NULL) {
		snprintf(err, errlen, "cannot create the peer scope's history thread: %s",
			 strerror(errno));
		return -errno;
	}
	n->dp.wal_ring[1] = rc_wal_ring(sc->wal);
	n->dp.wal_pool[1] = rc_wal_pool(sc->wal);
	n->dp.hist_ring[1] = rc_history_ring(sc->hist);
	n->dp.hist_pool[1] = rc_history_pool(sc->hist);
	return rc_wal_set_completion(sc->wal, RC_CTRL_IDX, n->ctrl_done);
}

static int
make_key(const struct rc_node *n, struct rc_hb_keys *k)
{
	memset(k, 0, sizeof(*k));
	k->current.id = (uint8_t)n->cfg.ha_key_id;
	k->current.len = n->cfg.secret_len < RC_HB_KEY_MAX ? n->cfg.secret_len : RC_HB_KEY_MAX;
	if (k->current.len < RC_HB_KEY_MIN)
		return -EINVAL;
	memcpy(k->current.key, n->cfg.secret, k->current.len);
	return 0;
}

int
rc_node_ha_init(struct rc_node *n, char *err, size_t errlen)
{
	struct rc_node_ha *ha;
	struct rc_hb_keys keys;
	unsigned m = n->cfg.max_rooms;
	unsigned slot;
	int rc;

	n->room_lo[0] = 1;
	n->room_hi[0] = m;
	if (!n->cfg.ha_enabled) {
		n->dp.scope_serving[0] = true;
		return 0;
	}
	ha = calloc(1, sizeof(*ha));
	if (ha == NULL)
		return -ENOMEM;
	n->ha = ha;
	slot = strcmp(n->cfg.node_id, n->cfg.ha_peer_id) < 0 ? 0 : 1;
	n->room_lo[0] = slot * m + 1;
	n->room_hi[0] = (slot + 1) * m;
	n->room_lo[1] = (1 - slot) * m + 1;
	n->room_hi[1] = (2 - slot) * m;
	n->next_room_id[0] = n->room_lo[0];
	n->next_room_id[1] = n->room_lo[1];
	ha->durability = strcmp(n->cfg.ha_durability, "peer") == 0 ? RC_HA_DUR_PEER :
			 strcmp(n->cfg.ha_durability, "peer-required") == 0 ?
							 RC_HA_DUR_PEER_REQUIRED :
							 RC_HA_DUR_LOCAL;
	ha->started_ms = rc_ha_now_ms();
	snprintf(ha->sc[0].node, sizeof(ha->sc[0].node), "%s", n->cfg.node_id);
	snprintf(ha->sc[1].node, sizeof(ha->sc[1].node), "%s", n->cfg.ha_peer_id);
	for (unsigned s = 0; s < 2; s++)
		if (rc_lease_scope(ha->sc[s].lease_scope, sizeof(ha->sc[s].lease_scope),
				   ha->sc[s].node) != 0) {
			snprintf(err, errlen, "ha: node id too long for a lease scope");
			return -EINVAL;
		}
	ha->sc[0].wal = n->wal;
	ha->sc[0].hist = n->hist;
	if ((rc = open_peer_scope(n, err, errlen)) != 0)
		return rc;
	/* nothing is served until a lease is won */
	n->dp.scope_serving[0] = n->dp.scope_serving[1] = false;
	n->dp.guard[0] = &ha->sc[0].guard;
	n->dp.guard[1] = &ha->sc[1].guard;
	for (unsigned p = 0; p < n->dp.n_ports; p++) {
		n->dp.ports[p].local.peer_ip = n->cfg.ha_peer_service_ip.s_addr;
		n->dp.ports[p].local.ip_on = false;
		n->dp.ports[p].local.peer_ip_on = false;
	}
	rc_ha_fsm_init(&ha->fsm, true, ha->started_ms);
	rc_ha_fsm_set_auto_fallback(&ha->fsm, n->cfg.ha_auto_fallback,
				    (uint64_t)n->cfg.ha_auto_fallback_s * 1000);
	ha->health = rc_health_create(n->cfg.n_workers, n->cfg.ha_stall_ms);
	if (ha->health == NULL || make_key(n, &keys) != 0) {
		snprintf(err, errlen, "ha: cannot set up the health watcher or the key");
		return -EINVAL;
	}
	rc_health_set(ha->health, RC_HEALTH_DATABASE, true);
	{
		struct rc_hb_conf hc = {
			.node_id = n->cfg.node_id,
			.peer_id = n->cfg.ha_peer_id,
			.local_addr = n->cfg.ha_address,
			.peer_addr = n->cfg.ha_peer_address,
			.interval_ms = n->cfg.ha_interval_ms,
			.dead_ms = n->cfg.ha_dead_ms,
		};

		ha->hb = rc_hb_create(&hc, &keys);
		if (ha->hb == NULL) {
			rc = -errno;
			snprintf(err, errlen, "ha: cannot open the heartbeat socket on %s: %s",
				 n->cfg.ha_address, strerror(errno));
			explicit_bzero(&keys, sizeof(keys));
			return rc;
		}
	}
	{
		struct rc_repl_conf rcf = {
			.node_id = n->cfg.node_id,
			.peer_id = n->cfg.ha_peer_id,
			.listen_addr = n->cfg.ha_address,
			.peer_addr = n->cfg.ha_peer_address,
			.dead_ms = n->cfg.ha_dead_ms * 2,
			.reconnect_min_ms = 50,
			.reconnect_max_ms = 500, /* a restarted peer gets its stream soon */
		};

		rcf.key.id = keys.current.id;
		rcf.key.len = keys.current.len < RC_REPL_KEY_MAX ? keys.current.len : RC_REPL_KEY_MAX;
		memcpy(rcf.key.key, keys.current.key, rcf.key.len);

		ha->repl = rc_repl_create(&rcf);
		explicit_bzero(&keys, sizeof(keys));
		explicit_bzero(&rcf.key, sizeof(rcf.key));
		if (ha->repl == NULL) {
			rc = -errno;
			snprintf(err, errlen, "ha: cannot open the WAL stream listener on %s: %s",
				 n->cfg.ha_address, strerror(errno));
			return rc;
		}
		for (unsigned s = 0; s < 2; s++) {
			rc = rc_repl_attach(ha->repl, ha->sc[s].lease_scope, ha->sc[s].wal,
					    RC_REPL_REPLICA);
			if (rc == 0) /* the replica applies only room ids of the scope */
				rc = rc_repl_set_room_range(ha->repl, ha->sc[s].lease_scope,
							    n->room_lo[s], n->room_hi[s]);
			if (rc != 0) {
				snprintf(err, errlen, "ha: cannot attach %s to the stream: %s",
					 ha->sc[s].lease_scope, strerror(-rc));
				return rc;
			}
		}
	}
	RC_INFO("ha: pair %s + %s, room ids %u..%u (ours) and %u..%u, heartbeats every %u ms "
		"(dead after %u ms) over %s, lease %u ms, durability %s",
		n->cfg.node_id, n->cfg.ha_peer_id, n->room_lo[0], n->room_hi[0], n->room_lo[1],
		n->room_hi[1], n->cfg.ha_interval_ms, n->cfg.ha_dead_ms, n->cfg.ha_address,
		n->cfg.ha_lease_ttl_ms, n->cfg.ha_durability);
	return 0;
}

static bool
topology_ha(void *arg, const char *node, const char **state, const char **reason)
{
	struct rc_node *n = arg;
	struct rc_node_ha *ha = n->ha;

	if (strcmp(node, n->cfg.node_id) == 0) {
		*state = rc_ha_state_name(ha->fsm.state);
		*reason = rc_ha_reason_name(ha->fsm.reason);
		return true;
	}
	if (strcmp(node, n->cfg.ha_peer_id) == 0 && ha->peer_heard &&
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
rc_node_ha_start(struct rc_node *n)
{
	struct rc_node_ha *ha = n->ha;
	int rc;

	if (ha == NULL)
		return 0;
	/* the database's conninfo is known once the cluster state is applied (rc_node_init) */
	if (n->db_conninfo[0] != '\0')
		rc_history_set_db(ha->sc[1].hist, n->db_conninfo);
	{
		const char *scopes[2] = { ha->sc[0].lease_scope, ha->sc[1].lease_scope };
		struct rc_lease_guard *guards[2] = { &ha->sc[0].guard, &ha->sc[1].guard };
		struct rc_ha_lease_conf lc = {
			.conninfo = n->db_conninfo,
			.me = n->cfg.node_id,
			.scope = { scopes[0], scopes[1] },
			.ttl_ms = n->cfg.ha_lease_ttl_ms,
		};

		ha->lease = rc_ha_lease_create(&lc, guards);
		if (ha->lease == NULL) {
			RC_ERR("ha: cannot create the lease thread");
			return -ENOMEM;
		}
	}
	if ((rc = rc_wal_start(ha->sc[1].wal)) != 0 || (rc = rc_history_start(ha->sc[1].hist)) != 0 ||
	    (rc = rc_repl_start(ha->repl)) != 0 || (rc = rc_ha_lease_start(ha->lease)) != 0)
		return rc;
	rc_cluster_cmds_set_ha(topology_ha, n);
	return 0;
}

void
rc_node_ha_fini(struct rc_node *n)
{
	struct rc_node_ha *ha = n->ha;

	if (ha == NULL)
		return;
	rc_cluster_cmds_set_ha(NULL, NULL);
	for (unsigned s = 0; s < 2; s++)
		rc_lease_guard_revoke(&ha->sc[s].guard);
	rc_ha_lease_destroy(ha->lease);
	if (ha->repl != NULL)
		rc_repl_destroy(ha->repl);
	rc_ha_drainer_stop(n, 1);
	if (ha->sc[1].hist != NULL) {
		rc_history_stop(ha->sc[1].hist);
		rc_history_destroy(ha->sc[1].hist);
	}
	if (ha->sc[1].wal != NULL)
		rc_wal_close(ha->sc[1].wal);
	rc_hb_destroy(ha->hb);
	rc_health_destroy(ha->health);
	for (unsigned s = 0; s < 2; s++)
		free(ha->sc[s].sess);
	free(ha);
	n->ha = NULL;
}
