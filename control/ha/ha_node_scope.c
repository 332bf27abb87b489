/* SPDX-License-Identifier: MIT */
/*
 * The HA pair, one scope at a time (ha_node.h): the session list a scope's writer
 * replicates to us (aux messages on its stream), the service addresses (gratuitous ARP),
 * and taking a scope on or off (the stream turned around around control/scope's load,
 * drainer and serve). Control thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "ha_node_int.h"
#include "log.h"
#include "repl.h"
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

/* Adds or updates a's session in the scope's list (rc_scope_sess_put). */
static bool
replica_put(struct rc_scope *sc, const struct sess_aux *a)
{
	struct rc_scope_sess e = { .id = a->id, .ip = a->ip, .udp_port = a->udp_port,
				   .user_len = a->user_len };

	memcpy(e.mac, a->mac, 6);
	memcpy(e.user, a->user, a->user_len);
	return rc_scope_sess_put(sc, &e);
}

static void send_session_aux(struct rc_ha_node *ha, unsigned scope, const struct rc_session *s,
			     uint8_t kind);

/* One of our users, whom the peer served while we were down (HA off): ours again. Into our
 * list (loading our rooms resumes it), or, with our rooms served already, resumed now. */
static void
handback_take(struct rc_ha_node *ha, const struct sess_aux *a)
{
	struct rc_scope *own = &ha->ss->sc[0];
	struct rc_scope_sess e = { .id = a->id, .ip = a->ip, .udp_port = a->udp_port,
				   .user_len = a->user_len };
	struct rc_session *se;

	memcpy(e.mac, a->mac, 6);
	memcpy(e.user, a->user, a->user_len);
	if (!own->loaded) {
		(void)rc_scope_sess_put(own, &e);
		return;
	}
	se = rc_scope_resume_one(own, &e, RC_RESUME_FALLBACK);
	if (se != NULL)
		send_session_aux(ha, 0, se, SESS_AUX_ADD);
}

void
rc_ha_aux_cb(void *arg, const char *scope, const void *buf, uint16_t len)
{
	struct rc_ha_node *ha = arg;
	struct sess_aux a;
	struct rc_scope *sc = NULL;

	for (unsigned i = 0; i < ha->ss->n; i++)
		if (strcmp(scope, ha->ss->sc[i].lease_scope) == 0)
			sc = &ha->ss->sc[i];
	if (sc == NULL || len < 1 || len > sizeof(a)) {
		ha->aux_bad++;
		return;
	}
	memset(&a, 0, sizeof(a));
	memcpy(&a, buf, len);
	if (a.kind == AUX_ADMIN && len == 2) {
		uint8_t ev = ((const uint8_t *)buf)[1];

		if (ev == RC_HA_EV_ADMIN_FAILOVER || ev == RC_HA_EV_ADMIN_FALLBACK) {
			ha->admin_from_peer = ev; /* acted on in rc_ha_node_tick */
			ha->aux_rx++;
			return;
		}
		ha->aux_bad++;
		return;
	}
	if (a.kind == SESS_AUX_HANDBACK && len == SESS_AUX_HDR + a.user_len && a.user_len > 0 &&
	    a.user_len <= RC_MAX_USER && sc->idx == 1) {
		handback_take(ha, &a);
	} else if (a.kind == SESS_AUX_RESET) {
		rc_scope_sess_clear(sc);
	} else if (a.kind == SESS_AUX_DEL && len >= SESS_AUX_HDR) {
		rc_scope_sess_del(sc, a.id);
	} else if (a.kind == SESS_AUX_ADD && len == SESS_AUX_HDR + a.user_len && a.user_len > 0 &&
		   a.user_len <= RC_MAX_USER) {
		if (!replica_put(sc, &a)) {
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
send_session_aux(struct rc_ha_node *ha, unsigned scope, const struct rc_session *s, uint8_t kind)
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
		if (kind == SESS_AUX_ADD || kind == SESS_AUX_HANDBACK) {
			a.user_len = s->user_len;
			memcpy(a.user, s->user, s->user_len);
			len = (uint16_t)(SESS_AUX_HDR + s->user_len);
		}
	}
	if (rc_repl_send_aux(ha->repl, ha->ss->sc[scope].lease_scope, &a, len) == 0)
		ha->aux_tx++;
}

struct snap_ctx {
	struct rc_ha_node *ha;
	unsigned scope;
};

static int
snap_one(void *arg, struct rc_session *s)
{
	struct snap_ctx *c = arg;

	if ((s->peer.vip & 1) == c->scope)
		send_session_aux(c->ha, c->scope, s, SESS_AUX_ADD);
	return 0;
}

/* The whole session list of a scope we write, after each (re)connection of its stream. */
void
rc_ha_send_session_snapshot(struct rc_ha_node *ha, unsigned scope)
{
	struct snap_ctx c = { ha, scope };

	send_session_aux(ha, scope, NULL, SESS_AUX_RESET);
	rc_session_foreach(ha->dp->sessions, snap_one, &c);
}

void
rc_ha_node_session(struct rc_ha_node *ha, const struct rc_session *s, bool added)
{
	unsigned scope;

	if (ha == NULL)
		return;
	scope = s->peer.vip & 1;
	if (ha->ss->sc[scope].loaded)
		send_session_aux(ha, scope, s, added ? SESS_AUX_ADD : SESS_AUX_DEL);
}

/* ---- service addresses ---- */

static void
send_garp(struct rc_ha_node *ha, unsigned scope)
{
	ha->garps_sent += rc_dp_send_garp(ha->dp, scope != 0);
}

static void
vip_set(struct rc_ha_node *ha, unsigned scope, bool on)
{
	rc_scope_address(&ha->ss->sc[scope], on);
	if (on) {
		ha->ss->sc[scope].garp_left = GARP_TIMES;
		ha->ss->sc[scope].garp_t0 = rc_ha_now_ms();
	} else {
		ha->ss->sc[scope].garp_left = 0;
	}
}

void
rc_ha_garp_tick(struct rc_ha_node *ha, uint64_t now)
{
	for (unsigned s = 0; s < ha->ss->n; s++) {
		while (ha->ss->sc[s].garp_left > 0 &&
		       now >= ha->ss->sc[s].garp_t0 + garp_at_ms[GARP_TIMES - ha->ss->sc[s].garp_left]) {
			send_garp(ha, s);
			ha->ss->sc[s].garp_left--;
		}
	}
}

/* ---- the peer's users without its rooms (HA off) ---- */

void
rc_ha_take_users(struct rc_ha_node *ha)
{
	struct rc_scope *sc = &ha->ss->sc[1];
	unsigned n;

	if (ha->users_taken || sc->loaded)
		return;
	rc_repl_poll_aux(ha->repl, rc_ha_aux_cb, ha); /* the session list the peer sent last */
	for (unsigned i = 0; i < ha->n_handback; i++) /* given back, never received */
		(void)rc_scope_sess_put(sc, &ha->handback[i]);
	free(ha->handback);
	ha->handback = NULL;
	ha->n_handback = 0;
	rc_scope_away(sc, true);
	vip_set(ha, 1, true);
	rc_ha_garp_tick(ha, rc_ha_now_ms());
	n = rc_scope_load_sessions(sc, RC_RESUME_FAILOVER);
	ha->users_taken = true;
	RC_WARN("ha: high availability is off: %u users of %s and its address served here; its "
		"rooms are unavailable until it returns", n, sc->node);
}

void
rc_ha_send_handback(struct rc_ha_node *ha)
{
	struct rc_repl_status rs;
	struct rc_session s;

	if (ha->handback == NULL ||
	    rc_repl_get_status(ha->repl, ha->ss->sc[0].lease_scope, &rs) != 0 ||
	    rs.role != RC_REPL_WRITER || !rs.connected)
		return;
	memset(&s, 0, sizeof(s));
	for (unsigned i = 0; i < ha->n_handback; i++) {
		const struct rc_scope_sess *e = &ha->handback[i];

		s.id = e->id;
		s.peer.ip = e->ip;
		s.peer.udp_port = e->udp_port;
		memcpy(s.peer.mac.addr_bytes, e->mac, 6);
		s.user_len = e->user_len;
		memcpy(s.user, e->user, e->user_len);
		send_session_aux(ha, 0, &s, SESS_AUX_HANDBACK);
	}
	RC_INFO("ha: %u users handed back to %s", ha->n_handback, ha->ss->sc[1].node);
	free(ha->handback);
	ha->handback = NULL;
	ha->n_handback = 0;
}

void
rc_ha_give_users(struct rc_ha_node *ha)
{
	struct rc_scope *sc = &ha->ss->sc[1];

	if (!ha->users_taken)
		return;
	vip_set(ha, 1, false);
	rc_scope_unload(sc); /* no rooms; the sessions stay in its list */
	rc_scope_away(sc, false);
	ha->users_taken = false;
	free(ha->handback);
	ha->n_handback = 0;
	ha->handback = calloc(sc->n_sess + 1, sizeof(*ha->handback));
	if (ha->handback != NULL && sc->n_sess > 0)
		memcpy(ha->handback, sc->sess, sc->n_sess * sizeof(*ha->handback));
	if (ha->handback != NULL)
		ha->n_handback = sc->n_sess;
	RC_INFO("ha: %s is back: its address and %u users go back to it", sc->node,
		ha->n_handback);
	rc_ha_send_handback(ha);
}

/* ---- taking a scope on and off ---- */

/* The stream of a scope turned around: we write it (the stream thread applies the role,
 * ending an apply in progress, then rc_wal_become_writer, before anything of the scope is
 * read or written here), or hold a copy. */
static int
become_writer(struct rc_ha_node *ha, struct rc_scope *sc)
{
	int rc = rc_repl_set_role(ha->repl, sc->lease_scope, RC_REPL_WRITER);

	if (rc != 0) {
		RC_ERR("ha: cannot become the writer of %s: %s", sc->lease_scope, strerror(-rc));
		return rc;
	}
	for (int i = 0; i < 200; i++) {
		struct rc_repl_status rs;

		if (rc_repl_get_status(ha->repl, sc->lease_scope, &rs) == 0 &&
		    rs.role == RC_REPL_WRITER && rc_wal_writer_start(sc->wal) ==
						       rc_wal_last_lsn(sc->wal) + 1)
			break;
		usleep(500);
	}
	return 0;
}

/* Rooms and drainer of a scope whose stream we write. 0 or -errno (logged). */
static int
load_rooms(struct rc_ha_node *ha, struct rc_scope *sc, uint64_t epoch)
{
	int rc;

	if (ha->fault_fail_load) {
		ha->fault_fail_load = false;
		RC_ERR("ha: cannot load the rooms of %s: fault injection (ha fault fail-load)",
		       sc->lease_scope);
		return -EIO;
	}
	rc = rc_scope_load(sc);
	if (rc != 0) {
		RC_ERR("ha: cannot load the rooms of %s: %s", sc->lease_scope, strerror(-rc));
		return rc;
	}
	rc = rc_scope_drainer_start(sc, epoch);
	if (rc != 0)
		RC_ERR("ha: cannot start the drainer of %s: %s", sc->lease_scope, strerror(-rc));
	return rc;
}

/* Serve a scope whose lease we hold: the stream turned around, rooms, drainer, sessions,
 * service address. 0 or -errno. */
int
rc_ha_load_scope(struct rc_ha_node *ha, unsigned scope, unsigned reason)
{
	struct rc_scope *sc = &ha->ss->sc[scope];
	uint64_t t0 = rc_ha_now_ms(), epoch = rc_lease_guard_epoch(&sc->guard);
	unsigned sessions;
	int rc;

	if (scope == 1 && ha->users_taken) { /* high availability turned on meanwhile */
		ha->users_taken = false;
		rc_scope_away(sc, false);
	}
	if (sc->handover.active) {
		/* a newer operation ends a handover still pushing (HA.md): keep serving */
		sc->handover.active = false;
		RC_INFO("ha: handover of %s cancelled: serving it again", sc->lease_scope);
	}
	if (sc->loaded) {
		rc_scope_serve(sc, true);
		vip_set(ha, scope, true);
		return 0;
	}
	rc_repl_poll_aux(ha->repl, rc_ha_aux_cb, ha); /* the session list the last writer sent */
	rc = become_writer(ha, sc);
	if (rc != 0)
		return rc;
	rc = load_rooms(ha, sc, epoch);
	if (rc != 0) {
		/* nothing of the scope stays half loaded; the machine's next actions hand it
		 * back */
		rc_scope_drainer_stop(sc);
		rc_scope_unload(sc);
		rc_repl_set_role(ha->repl, sc->lease_scope, RC_REPL_REPLICA);
		return rc;
	}
	rc_scope_serve(sc, true);
	/* the address first: a client answers a RESUME at once, to the address's new MAC */
	vip_set(ha, scope, true);
	rc_ha_garp_tick(ha, rc_ha_now_ms());
	sessions = rc_scope_load_sessions(sc, reason);
	rc_ha_send_session_snapshot(ha, scope);
	RC_INFO("ha: serving %s rooms (%s, epoch %" PRIu64 "): %u rooms, %u sessions resumed, "
		"last LSN %" PRIu64 ", in %" PRIu64 " ms",
		rc_ha_scope_word(scope), sc->lease_scope, epoch, rc_scope_room_count(sc),
		sessions, rc_wal_last_lsn(sc->wal), rc_ha_now_ms() - t0);
	ha->loads++;
	return 0;
}

/* Stop serving a scope: no ACK from now on, VIP dropped, the stream turned around; the
 * rooms and sessions leave the tables. The lease is released by the caller (or dropped). */
void
rc_ha_unload_scope(struct rc_ha_node *ha, unsigned scope)
{
	struct rc_scope *sc = &ha->ss->sc[scope];

	rc_scope_serve(sc, false);
	vip_set(ha, scope, false);
	if (!sc->loaded) {
		rc_repl_set_role(ha->repl, sc->lease_scope, RC_REPL_REPLICA);
		return;
	}
	if (ha->repl != NULL)
		rc_ha_send_session_snapshot(ha, scope);
	rc_scope_drainer_stop(sc);
	rc_repl_set_role(ha->repl, sc->lease_scope, RC_REPL_REPLICA);
	rc_scope_unload(sc);
	ha->unloads++;
	RC_INFO("ha: stopped serving %s rooms (%s)", rc_ha_scope_word(scope), sc->lease_scope);
}
