/* SPDX-License-Identifier: MIT */
/*
 * The HA pair, one scope at a time (node_ha.h): the session list a scope's writer
 * replicates to us, the service addresses (gratuitous ARP), and loading / unloading a
 * scope's rooms, sessions and drainer. Control thread only.
 */
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

#include "drainer.h"
#include "history.h"
#include "lease.h"
#include "log.h"
#include "node.h"
#include "node_ha.h"
#include "node_ha_int.h"
#include "repl.h"
#include "room_table.h"
#include "session.h"
#include "wal.h"

#define GARP_TIMES 4 /* gratuitous ARPs per claim: at 0, 50, 250 and 1000 ms */

static const uint64_t garp_at_ms[GARP_TIMES] = { 0, 50, 250, 1000 };

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

/* Adds or updates a's session; false when it is new and the list holds max sessions
 * already (review S20: the peer's list cannot grow without bound) or memory ran out. */
static bool
replica_put(struct rc_ha_scope *sc, const struct sess_aux *a, unsigned max)
{
	struct rc_ha_sess *e;
	unsigned i;

	for (i = 0; i < sc->n_sess; i++)
		if (sc->sess[i].id == a->id)
			break;
	if (i == sc->n_sess) {
		if (sc->n_sess >= max)
			return false;
		if (sc->n_sess == sc->cap_sess) {
			unsigned cap = sc->cap_sess ? sc->cap_sess * 2 : 64;
			void *p = realloc(sc->sess, cap * sizeof(*sc->sess));

			if (p == NULL)
				return false;
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
	return true;
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

void
rc_ha_aux_cb(void *arg, const char *scope, const void *buf, uint16_t len)
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
		if (!replica_put(sc, &a, n->cfg.max_sessions)) {
			ha->aux_bad++;
			return;
		}
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
void
rc_ha_send_session_snapshot(struct rc_node *n, unsigned scope)
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
		ha->garp_t0[scope] = rc_ha_now_ms();
	} else {
		ha->garp_left[scope] = 0;
	}
}

void
rc_ha_garp_tick(struct rc_node *n, uint64_t now)
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
	struct rc_drainer_conf dc;

	if (scope == 0) {
		sc->epoch = epoch;
		return rc_node_drainer_restart(n);
	}
	if (sc->drainer != NULL)
		return 0;
	sc->epoch = epoch;
	rc_node_drainer_conf(n, sc->node, epoch, &dc); /* the peer's rows, our new epoch */
	sc->drainer = rc_drainer_create(sc->wal, &dc);
	if (sc->drainer == NULL)
		return -errno;
	return rc_drainer_start(sc->drainer);
}

void
rc_ha_drainer_stop(struct rc_node *n, unsigned scope)
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
			(void)replica_put(&n->ha->sc[scope], &a, n->cfg.max_sessions);
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
int
rc_ha_load_scope(struct rc_node *n, unsigned scope, unsigned reason)
{
	struct rc_node_ha *ha = n->ha;
	struct rc_ha_scope *sc = &ha->sc[scope];
	uint64_t t0 = rc_ha_now_ms(), epoch = rc_lease_guard_epoch(&sc->guard);
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
	rc_repl_poll_aux(ha->repl, rc_ha_aux_cb, n); /* the session list the last writer sent */
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
	rc_ha_garp_tick(n, rc_ha_now_ms());
	sessions = install_sessions(n, scope, reason);
	rc_ha_send_session_snapshot(n, scope);
	rc_room_foreach(n->dp.rooms, count_room, &rooms);
	RC_INFO("ha: serving %s rooms (%s, epoch %" PRIu64 "): %u rooms, %u sessions resumed, "
		"last LSN %" PRIu64 ", in %" PRIu64 " ms",
		rc_ha_scope_word(scope), sc->lease_scope, epoch, rooms.n, sessions,
		rc_wal_last_lsn(sc->wal), rc_ha_now_ms() - t0);
	ha->loads++;
	return 0;
undo:
	/* nothing of the scope stays half loaded; the machine's next actions hand it back */
	rc_ha_drainer_stop(n, scope);
	unload_tables(n, scope);
	rc_repl_set_role(ha->repl, sc->lease_scope, RC_REPL_REPLICA);
	return rc;
}

/* Stop serving a scope: no ACK from now on, VIP dropped, the stream turned around; the
 * rooms and sessions leave the tables. The lease is released by the caller (or dropped). */
void
rc_ha_unload_scope(struct rc_node *n, unsigned scope)
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
		rc_ha_send_session_snapshot(n, scope);
	rc_ha_drainer_stop(n, scope);
	rc_repl_set_role(ha->repl, sc->lease_scope, RC_REPL_REPLICA);
	unload_tables(n, scope);
	sc->loaded = false;
	ha->unloads++;
	RC_INFO("ha: stopped serving %s rooms (%s)", rc_ha_scope_word(scope), sc->lease_scope);
}

