/* SPDX-License-Identifier: MIT */
/* The HA pair wired into a node: see node_ha.h and control/HA.md. */
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

#define GARP_TIMES 4          /* gratuitous ARPs per claim: at 0, 50, 250 and 1000 ms */
#define PUSH_WAIT_MS 10000    /* handover: wait this long at most for a live peer's ack */
/* The WAL writer is down when records wait and nothing was committed for this long: a synced
 * commit on a busy disk, or a batch held for a slow peer's acknowledgement, takes far longer
 * than a worker's loop, so the workers' ha.stall_ms would give false alarms. */
#define WAL_STALL_MS(n) ((n)->cfg.ha_stall_ms * 10 > 3000 ? (n)->cfg.ha_stall_ms * 10 : 3000)
#define HOST_STALL_MS 100 /* a control loop gap this long: the host, not a service, stalled */
#define SESS_AUX_ADD 1
#define SESS_AUX_DEL 2
#define SESS_AUX_RESET 3
#define AUX_ADMIN 4 /* an administrator's request relayed to the peer: ha failover / fallback */

static const uint64_t garp_at_ms[GARP_TIMES] = { 0, 50, 250, 1000 };

/* ---- small helpers ---- */

static uint64_t
now_ms(void)
{
	return rc_lease_mono_ms();
}

static const char *
scope_word(unsigned s)
{
	return s == 0 ? "own" : "peer";
}

/* ---- the replicated session list of a scope (what its writer told us) ---- */

struct sess_aux {
	uint8_t kind;
	uint8_t user_len;
	uint16_t udp_port; /* network order */
	uint32_t ip;       /* network order */
	uint64_t id;
	uint8_t mac[6];
	char user[RC_MAX_USER];
} __attribute__((packed));

#define SESS_AUX_HDR offsetof(struct sess_aux, user)

static void
replica_clear(struct rc_ha_scope *sc)
{
	sc->n_sess = 0;
}

static void
replica_put(struct rc_ha_scope *sc, const struct sess_aux *a)
{
	struct rc_ha_sess *e;
	unsigned i;

	for (i = 0; i < sc->n_sess; i++)
		if (sc->sess[i].id == a->id)
			break;
	if (i == sc->n_sess) {
		if (sc->n_sess == sc->cap_sess) {
			unsigned cap = sc->cap_sess ? sc->cap_sess * 2 : 64;
			void *p = realloc(sc->sess, cap * sizeof(*sc->sess));

			if (p == NULL)
				return;
			sc->sess = p;
			sc->cap_sess = cap;
		}
		sc->n_sess++;
	}
	e = &sc->sess[i];
	e->id = a->id;
	e->ip = a->ip;
	e->udp_port = a->udp_port;
	memcpy(e->mac, a->mac, 6);
	e->user_len = a->user_len;
	memcpy(e->user, a->user, a->user_len);
}

static void
replica_del(struct rc_ha_scope *sc, uint64_t id)
{
	for (unsigned i = 0; i < sc->n_sess; i++)
		if (sc->sess[i].id == id) {
			sc->sess[i] = sc->sess[--sc->n_sess];
			return;
		}
}

static void
aux_cb(void *arg, const char *scope, const void *buf, uint16_t len)
{
	struct rc_node *n = arg;
	struct rc_node_ha *ha = n->ha;
	struct sess_aux a;
	struct rc_ha_scope *sc = NULL;

	for (unsigned i = 0; i < 2; i++)
		if (strcmp(scope, ha->sc[i].lease_scope) == 0)
			sc = &ha->sc[i];
	if (sc == NULL || len < 1 || len > sizeof(a)) {
		ha->aux_bad++;
		return;
	}
	memset(&a, 0, sizeof(a));
	memcpy(&a, buf, len);
	if (a.kind == AUX_ADMIN && len == 2) {
		uint8_t ev = ((const uint8_t *)buf)[1];

		if (ev == RC_HA_EV_ADMIN_FAILOVER || ev == RC_HA_EV_ADMIN_FALLBACK) {
			ha->admin_from_peer = ev; /* acted on in rc_node_ha_tick */
			ha->aux_rx++;
			return;
		}
		ha->aux_bad++;
		return;
	}
	if (a.kind == SESS_AUX_RESET) {
		replica_clear(sc);
	} else if (a.kind == SESS_AUX_DEL && len >= SESS_AUX_HDR) {
		replica_del(sc, a.id);
	} else if (a.kind == SESS_AUX_ADD && len == SESS_AUX_HDR + a.user_len && a.user_len > 0 &&
		   a.user_len <= RC_MAX_USER) {
		replica_put(sc, &a);
	} else {
		ha->aux_bad++;
		return;
	}
	ha->aux_rx++;
}

static void
send_session_aux(struct rc_node *n, unsigned scope, const struct rc_session *s, uint8_t kind)
{
	struct sess_aux a;
	uint16_t len = SESS_AUX_HDR;

	memset(&a, 0, sizeof(a));
	a.kind = kind;
	if (s != NULL) {
		a.id = s->id;
		a.ip = s->peer.ip;
		a.udp_port = s->peer.udp_port;
		memcpy(a.mac, s->peer.mac.addr_bytes, 6);
		if (kind == SESS_AUX_ADD) {
			a.user_len = s->user_len;
			memcpy(a.user, s->user, s->user_len);
			len = (uint16_t)(SESS_AUX_HDR + s->user_len);
		}
	}
	if (rc_repl_send_aux(n->ha->repl, n->ha->sc[scope].lease_scope, &a, len) == 0)
		n->ha->aux_tx++;
}

struct snap_ctx {
	struct rc_node *n;
	unsigned scope;
};

static int
snap_one(void *arg, struct rc_session *s)
{
	struct snap_ctx *c = arg;

	if ((s->peer.vip & 1) == c->scope)
		send_session_aux(c->n, c->scope, s, SESS_AUX_ADD);
	return 0;
}

/* The whole session list of a scope we write, after each (re)connection of its stream. */
static void
send_session_snapshot(struct rc_node *n, unsigned scope)
{
	struct snap_ctx c = { n, scope };

	send_session_aux(n, scope, NULL, SESS_AUX_RESET);
	rc_session_foreach(n->dp.sessions, snap_one, &c);
}

void
rc_node_ha_session(struct rc_node *n, const struct rc_session *s, bool added)
{
	unsigned scope;

	if (n->ha == NULL)
		return;
	scope = s->peer.vip & 1;
	if (n->ha->sc[scope].loaded)
		send_session_aux(n, scope, s, added ? SESS_AUX_ADD : SESS_AUX_DEL);
}

/* ---- service addresses ---- */

static void
send_garp(struct rc_node *n, unsigned scope)
{
	struct rc_dp *dp = &n->dp;

	for (unsigned p = 0; p < dp->n_ports; p++) {
		const struct rc_local *l = &dp->ports[p].local;
		rte_be32_t ip = scope == 0 ? l->ip : l->peer_ip;

		for (int op = 0; op < 2; op++) {
			struct rte_mbuf *m = rte_pktmbuf_alloc(dp->mbuf_pool);
			struct rte_ether_hdr *eth;
			struct rte_arp_hdr *arp;

			if (m == NULL)
				return;
			eth = (struct rte_ether_hdr *)rte_pktmbuf_append(
				m, sizeof(*eth) + sizeof(*arp));
			if (eth == NULL) {
				rte_pktmbuf_free(m);
				return;
			}
			arp = (struct rte_arp_hdr *)(eth + 1);
			memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
			eth->src_addr = l->mac;
			eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
			arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
			arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
			arp->arp_hlen = 6;
			arp->arp_plen = 4;
			arp->arp_opcode = rte_cpu_to_be_16(op == 0 ? RTE_ARP_OP_REQUEST :
								     RTE_ARP_OP_REPLY);
			arp->arp_data.arp_sha = l->mac;
			arp->arp_data.arp_sip = ip;
			memset(&arp->arp_data.arp_tha, op == 0 ? 0 : 0xff,
			       sizeof(arp->arp_data.arp_tha));
			arp->arp_data.arp_tip = ip;
			m->port = (uint16_t)p;
			if (rte_ring_enqueue(dp->workers[0]->tx, m) != 0)
				rte_pktmbuf_free(m);
			else
				n->ha->garps_sent++;
		}
	}
}

static void
vip_set(struct rc_node *n, unsigned scope, bool on)
{
	struct rc_node_ha *ha = n->ha;

	for (unsigned p = 0; p < n->dp.n_ports; p++) {
		struct rc_local *l = &n->dp.ports[p].local;

		__atomic_store_n(scope == 0 ? &l->ip_on : &l->peer_ip_on, on, __ATOMIC_RELEASE);
	}
	if (on) {
		ha->garp_left[scope] = GARP_TIMES;
		ha->garp_t0[scope] = now_ms();
	} else {
		ha->garp_left[scope] = 0;
	}
}

static void
garp_tick(struct rc_node *n, uint64_t now)
{
	struct rc_node_ha *ha = n->ha;

	for (unsigned s = 0; s < 2; s++) {
		while (ha->garp_left[s] > 0 &&
		       now >= ha->garp_t0[s] + garp_at_ms[GARP_TIMES - ha->garp_left[s]]) {
			send_garp(n, s);
			ha->garp_left[s]--;
		}
	}
}

/* ---- loading and unloading a scope ---- */

static int
drainer_start(struct rc_node *n, unsigned scope, uint64_t epoch)
{
	struct rc_ha_scope *sc = &n->ha->sc[scope];
	struct rc_drainer_conf dc = {
		.conninfo = n->db_conninfo,
		.node_id = sc->node,
		.batch_max = n->cfg.db_batch_max,
		.retry_min_ms = 100,
		.retry_max_ms = n->cfg.db_retry_max_ms,
		.idle_ms = 5,
		.method = strcmp(n->cfg.db_method, "pipeline") == 0 ? RC_DRAIN_PIPELINE :
								      RC_DRAIN_COPY,
		.epoch = epoch,
	};

	if (scope == 0) {
		sc->epoch = epoch;
		return rc_node_drainer_restart(n);
	}
	if (sc->drainer != NULL)
		return 0;
	sc->epoch = epoch;
	sc->drainer = rc_drainer_create(sc->wal, &dc);
	if (sc->drainer == NULL)
		return -errno;
	return rc_drainer_start(sc->drainer);
}

static void
drainer_stop(struct rc_node *n, unsigned scope)
{
	struct rc_ha_scope *sc = &n->ha->sc[scope];

	if (scope == 0) {
		sc->epoch = 0;
		if (n->drainer != NULL) {
			rc_drainer_stop(n->drainer);
			rc_drainer_destroy(n->drainer);
			n->drainer = NULL;
		}
		return;
	}
	if (sc->drainer != NULL) {
		rc_drainer_stop(sc->drainer);
		rc_drainer_destroy(sc->drainer);
		sc->drainer = NULL;
	}
}

static void
resume_session(struct rc_node *n, const struct rc_session *s, unsigned reason)
{
	struct rc_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = RC_T_RESUME;
	m.hdr.session = s->id;
	m.u.resume.node.p = n->cfg.node_id;
	m.u.resume.node.len = (uint16_t)strlen(n->cfg.node_id);
	m.u.resume.reason = (uint8_t)reason;
	if (rc_dp_send_msg(&n->dp, 0, &s->peer, &m) == 0)
		n->ha->resumes_sent++;
}

/* Install the sessions the scope's previous writer replicated to us; RESUME each. */
static unsigned
install_sessions(struct rc_node *n, unsigned scope, unsigned reason)
{
	struct rc_ha_scope *sc = &n->ha->sc[scope];
	uint64_t t = rc_mono_ms();
	unsigned k = 0;

	for (unsigned i = 0; i < sc->n_sess; i++) {
		const struct rc_ha_sess *e = &sc->sess[i];
		struct rc_peer p = { .ip = e->ip, .udp_port = e->udp_port, .port_idx = 0,
				     .vip = (uint8_t)scope };
		struct rc_session *s;

		memcpy(p.mac.addr_bytes, e->mac, 6);
		s = rc_session_lookup(n->dp.sessions, e->id);
		if (s == NULL)
			s = rc_session_add_id(n->dp.sessions, e->id, e->user, e->user_len, &p, t);
		if (s == NULL) {
			RC_ERR("ha: session %016" PRIx64 " of %.*s cannot be taken over: %s", e->id,
			       (int)e->user_len, e->user, strerror(errno));
			continue;
		}
		resume_session(n, s, reason);
		k++;
	}
	return k;
}

struct unload_ctx {
	struct rc_node *n;
	unsigned scope;
	unsigned count;
	void *victims[1024];
};

static int
pick_session(void *arg, struct rc_session *s)
{
	struct unload_ctx *c = arg;

	if ((s->peer.vip & 1) == c->scope)
		c->victims[c->count++] = s;
	return c->count == RTE_DIM(c->victims);
}

static int
pick_room(void *arg, struct rc_room *r)
{
	struct unload_ctx *c = arg;

	if (r->scope == c->scope)
		c->victims[c->count++] = r;
	return c->count == RTE_DIM(c->victims);
}

/* Remove the scope's sessions and rooms from the tables (they now live on the peer). */
static void
unload_tables(struct rc_node *n, unsigned scope)
{
	struct unload_ctx c = { .n = n, .scope = scope };

	if (n->ha->sc[scope].loaded)
		replica_clear(&n->ha->sc[scope]); /* rebuilt from the table: no stale session */
	do {
		c.count = 0;
		rc_session_foreach(n->dp.sessions, pick_session, &c);
		for (unsigned i = 0; i < c.count; i++) {
			struct rc_session *s = c.victims[i];
			struct sess_aux a = { .kind = SESS_AUX_ADD, .user_len = s->user_len,
					      .udp_port = s->peer.udp_port, .ip = s->peer.ip,
					      .id = s->id };

			/* kept, as the peer keeps its copy: whichever node serves the scope
			 * next resumes the session (after a fence, it may be this one) */
			memcpy(a.mac, s->peer.mac.addr_bytes, 6);
			memcpy(a.user, s->user, s->user_len);
			replica_put(&n->ha->sc[scope], &a);
			/* not replicated (the peer has it); out of every room still served */
			rc_node_end_session_quiet(n, s);
		}
	} while (c.count == RTE_DIM(c.victims));
	do {
		c.count = 0;
		rc_room_foreach(n->dp.rooms, pick_room, &c);
		for (unsigned i = 0; i < c.count; i++)
			rc_room_del(n->dp.rooms, c.victims[i]);
	} while (c.count == RTE_DIM(c.victims));
}

struct count_ctx {
	unsigned scope, n;
};

static int
count_room(void *arg, struct rc_room *r)
{
	struct count_ctx *c = arg;

	c->n += r->scope == c->scope;
	return 0;
}

/* Serve a scope whose lease we hold: the stream turned around, rooms, drainer, sessions,
 * service address. 0 or -errno. */
static int
load_scope(struct rc_node *n, unsigned scope, unsigned reason)
{
	struct rc_node_ha *ha = n->ha;
	struct rc_ha_scope *sc = &ha->sc[scope];
	uint64_t t0 = now_ms(), epoch = rc_lease_guard_epoch(&sc->guard);
	struct count_ctx rooms = { scope, 0 };
	unsigned sessions;
	int rc;

	if (ha->job[scope].active) {
		/* a newer operation ends a handover still pushing (HA.md): keep serving */
		ha->job[scope].active = false;
		RC_INFO("ha: handover of %s cancelled: serving it again", sc->lease_scope);
	}
	if (sc->loaded) {
		__atomic_store_n(&n->dp.scope_serving[scope], true, __ATOMIC_RELEASE);
		vip_set(n, scope, true);
		return 0;
	}
	rc_repl_poll_aux(ha->repl, aux_cb, n); /* the session list the last writer sent */
	rc = rc_repl_set_role(ha->repl, sc->lease_scope, RC_REPL_WRITER);
	if (rc != 0) {
		RC_ERR("ha: cannot become the writer of %s: %s", sc->lease_scope, strerror(-rc));
		return rc;
	}
	/* the stream thread applies the role (ending an apply in progress, then
	 * rc_wal_become_writer) before anything of the scope is read or written here */
	for (int i = 0; i < 200; i++) {
		struct rc_repl_status rs;

		if (rc_repl_get_status(ha->repl, sc->lease_scope, &rs) == 0 &&
		    rs.role == RC_REPL_WRITER && rc_wal_writer_start(sc->wal) ==
						       rc_wal_last_lsn(sc->wal) + 1)
			break;
		usleep(500);
	}
	rcu_thread_offline(); /* rooms must be visible before their sessions: below */
	rcu_thread_online();
	if (ha->fault_fail_load) {
		ha->fault_fail_load = false;
		rc = -EIO;
		RC_ERR("ha: cannot load the rooms of %s: fault injection (ha fault fail-load)",
		       sc->lease_scope);
		goto undo;
	}
	rc = rc_node_load_rooms(n, sc->wal, scope);
	if (rc != 0) {
		RC_ERR("ha: cannot load the rooms of %s: %s", sc->lease_scope, strerror(-rc));
		goto undo;
	}
	if (n->db_conninfo[0] != '\0' && (rc = drainer_start(n, scope, epoch)) != 0) {
		RC_ERR("ha: cannot start the drainer of %s: %s", sc->lease_scope, strerror(-rc));
		goto undo;
	}
	sc->loaded = true;
	__atomic_store_n(&n->dp.scope_serving[scope], true, __ATOMIC_RELEASE);
	/* the address first: a client answers a RESUME at once, to the address's new MAC */
	vip_set(n, scope, true);
	garp_tick(n, now_ms());
	sessions = install_sessions(n, scope, reason);
	send_session_snapshot(n, scope);
	rc_room_foreach(n->dp.rooms, count_room, &rooms);
	RC_INFO("ha: serving %s rooms (%s, epoch %" PRIu64 "): %u rooms, %u sessions resumed, "
		"last LSN %" PRIu64 ", in %" PRIu64 " ms",
		scope_word(scope), sc->lease_scope, epoch, rooms.n, sessions,
		rc_wal_last_lsn(sc->wal), now_ms() - t0);
	ha->loads++;
	return 0;
undo:
	/* nothing of the scope stays half loaded; the machine's next actions hand it back */
	drainer_stop(n, scope);
	unload_tables(n, scope);
	rc_repl_set_role(ha->repl, sc->lease_scope, RC_REPL_REPLICA);
	return rc;
}

/* Stop serving a scope: no ACK from now on, VIP dropped, the stream turned around; the
 * rooms and sessions leave the tables. The lease is released by the caller (or dropped). */
static void
unload_scope(struct rc_node *n, unsigned scope)
{
	struct rc_node_ha *ha = n->ha;
	struct rc_ha_scope *sc = &ha->sc[scope];

	__atomic_store_n(&n->dp.scope_serving[scope], false, __ATOMIC_RELEASE);
	vip_set(n, scope, false);
	if (!sc->loaded) {
		rc_repl_set_role(ha->repl, sc->lease_scope, RC_REPL_REPLICA);
		return;
	}
	if (ha->repl != NULL)
		send_session_snapshot(n, scope);
	drainer_stop(n, scope);
	rc_repl_set_role(ha->repl, sc->lease_scope, RC_REPL_REPLICA);
	unload_tables(n, scope);
	sc->loaded = false;
	ha->unloads++;
	RC_INFO("ha: stopped serving %s rooms (%s)", scope_word(scope), sc->lease_scope);
}

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
start_handover(struct rc_node *n, unsigned scope, uint32_t op, bool answer_wanted)
{
	struct rc_node_ha *ha = n->ha;
	struct rc_ha_job *j = &ha->job[scope];

	__atomic_store_n(&n->dp.scope_serving[scope], false, __ATOMIC_RELEASE);
	rc_ha_lease_park(ha->lease, scope);
	j->active = true;
	j->op = op;
	j->answer = answer_wanted;
	j->deadline = now_ms() + PUSH_WAIT_MS;
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
		unload_scope(n, s);
		rc_ha_lease_release(ha->lease, s, j->op);
	}
}

static void
do_actions(struct rc_node *n, const struct rc_ha_step *st)
{
	struct rc_node_ha *ha = n->ha;
	uint32_t a = st->actions;
	unsigned reason = st->event == RC_HA_EV_ADMIN_FALLBACK ||
					  st->to == RC_HA_TAKING_BACK || st->to == RC_HA_FALLING_BACK ?
				  2 : 1;
	int rc;

	if (a & RC_HA_ACT(RC_HA_ACT_FENCE)) {
		for (unsigned s = 0; s < 2; s++) {
			ha->job[s].active = false;
			rc_ha_lease_drop(ha->lease, s);
			unload_scope(n, s);
		}
		ha->fences++;
	}
	if (a & RC_HA_ACT(RC_HA_ACT_RELEASE))
		start_handover(n, 0, st->op, st->to == RC_HA_FAILING_OVER);
	if (a & RC_HA_ACT(RC_HA_ACT_UNLOAD_PEER))
		start_handover(n, 1, st->op, st->to == RC_HA_FALLING_BACK);
	if (a & RC_HA_ACT(RC_HA_ACT_LEASE_OWN)) {
		ha->lease_op[0] = st->op;
		rc_ha_lease_acquire(ha->lease, 0, st->op, false);
	}
	if (a & RC_HA_ACT(RC_HA_ACT_LEASE_PEER)) {
		ha->lease_op[1] = st->op;
		rc_ha_lease_acquire(ha->lease, 1, st->op, false);
	}
	if (a & RC_HA_ACT(RC_HA_ACT_RELOAD_OWN)) {
		rc = load_scope(n, 0, reason);
		if (st->to == RC_HA_TAKING_BACK)
			answer(n, rc == 0 ? RC_HA_EV_FALLBACK_DONE : RC_HA_EV_FALLBACK_FAILED,
			       st->op);
		else if (rc != 0) {
			/* reported as a critical service down; the next tick reports it up
			 * again (the watcher sees the services running), which retries */
			ha->critical_ok = false;
			ha_event(n, RC_HA_EV_LOCAL_CRITICAL_DOWN, NULL);
		}
	}
	if (a & RC_HA_ACT(RC_HA_ACT_START_TAKEOVER)) {
		rc = load_scope(n, 1, 1);
		if (rc == 0)
			ha->takeovers++;
		answer(n, rc == 0 ? RC_HA_EV_TAKEOVER_DONE : RC_HA_EV_TAKEOVER_FAILED, st->op);
	}
	if (a & RC_HA_ACT(RC_HA_ACT_ANNOUNCE))
		send_heartbeat(n, now_ms());
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

	rc = rc_ha_fsm_event(&ha->fsm, ev, d, now_ms(), &st);
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
			/* the answer to release / unload-peer where a state waits for it (a
			 * stale one is ignored by the machine) */
			if (e.scope == 0 && ha->fsm.state == RC_HA_FAILING_OVER)
				answer(n, RC_HA_EV_RELEASE_DONE, e.op);
			else if (e.scope == 1 && ha->fsm.state == RC_HA_FALLING_BACK)
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

	rc_repl_poll_aux(ha->repl, aux_cb, n);
	while (rc_repl_poll_events(ha->repl, &e, 1) == 1) {
		bool up = e.type == RC_REPL_EV_CONNECTED;

		for (unsigned s = 0; s < 2; s++) {
			if (strcmp(e.scope, ha->sc[s].lease_scope) != 0)
				continue;
			if (up && e.role == RC_REPL_WRITER && ha->sc[s].loaded)
				send_session_snapshot(n, s);
			RC_INFO("ha: WAL stream of %s %s (%s)", e.scope,
				up ? "connected" : "disconnected",
				e.role == RC_REPL_WRITER ? "we write it" : "we hold a copy");
		}
	}
}

/* peer durability: the ACK waits for the peer's copy while the peer is alive. A dead peer
 * (heartbeats) cannot acknowledge: we then acknowledge on the local commit alone. */
/* peer durability: the ACK waits for the peer's copy while the peer is alive and the scope's
 * stream is connected. A dead peer cannot acknowledge, and a peer whose stream is not up yet
 * (it is restarting) holds no copy to wait for: we then acknowledge on the local commit
 * alone, as a standalone node would (logged). */
static void
update_gate(struct rc_node *n)
{
	struct rc_node_ha *ha = n->ha;
	bool up = rc_hb_peer_state(ha->hb) == RC_HB_PEER_IS_UP;

	for (unsigned s = 0; s < 2; s++) {
		struct rc_repl_status rs;
		bool on = ha->durability_peer && up &&
			  rc_repl_get_status(ha->repl, ha->sc[s].lease_scope, &rs) == 0 &&
			  rs.role == RC_REPL_WRITER && rs.connected;

		if (on == ha->gate_on[s] && ha->gate_set)
			continue;
		rc_wal_set_peer_gate(ha->sc[s].wal, on);
		if (ha->durability_peer && ha->sc[s].loaded && on != ha->gate_on[s])
			RC_INFO("ha: acknowledgements for %s %s", ha->sc[s].lease_scope,
				on ? "wait for the peer's copy" :
				     "on the local commit only (no peer copy now)");
		ha->gate_on[s] = on;
	}
	ha->gate_set = true;
}

void
rc_node_ha_tick(struct rc_node *n)
{
	struct rc_node_ha *ha = n->ha;
	struct rc_hb_status peer;
	struct rc_ha_event_data d = { 0 };
	uint64_t now = now_ms(), due;
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
	garp_tick(n, now);
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
	struct rc_wal_conf wc = {
		.dir = dir,
		.map_size = n->cfg.wal_map_size,
		.high_water_pct = n->cfg.wal_high_water_pct,
		.batch_max = n->cfg.wal_batch_max,
		.ring_size = 8192,
		.pool_size = 16383,
		.nosync = n->cfg.wal_nosync,
		.socket_id = (int)rte_socket_id(),
		.keep_records = n->cfg.wal_keep_records,
	};

	snprintf(dir, sizeof(dir), "%s/wal-peer", n->cfg.data_dir);
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
	ha->durability_peer = strcmp(n->cfg.ha_durability, "peer") == 0;
	ha->started_ms = now_ms();
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
	drainer_stop(n, 1);
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
