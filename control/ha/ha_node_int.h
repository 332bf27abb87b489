/* SPDX-License-Identifier: MIT */
/* Internals of the HA wiring shared by ha_node.c, ha_node_scope.c, ha_cmds.c and
 * ha_metrics.c. Control thread only. */
#ifndef RC_HA_NODE_INT_H
#define RC_HA_NODE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h" /* struct rc_ha_conf, the section HA reads */
#include "dp.h"
#include "ha_fsm.h"
#include "ha_node.h"
#include "heartbeat.h"
#include "lease_guard.h"
#include "proto.h"
#include "scope.h"

struct rc_ha_lease;
struct rc_repl;

/* ha.durability */
enum rc_ha_durability {
	RC_HA_DUR_LOCAL = 0,     /* "local": ACK on the local synced commit */
	RC_HA_DUR_PEER,          /* "peer": ACK once the peer holds it, while a copy can be had */
	RC_HA_DUR_PEER_REQUIRED, /* "peer-required": ACK only once the peer holds it */
};

struct rc_ha_node {
	const struct rc_ha_settings *cfg;
	struct rc_scopes *ss;  /* ours [0] and the peer's [1]: each holds its HA state */
	struct rc_dp *dp;
	struct rc_ha_fsm fsm;
	struct rc_hb *hb;
	struct rc_health *health;
	struct rc_ha_lease *lease;
	struct rc_repl *repl;
	enum rc_ha_durability durability;
	bool gate_set;
	uint64_t downgrades;   /* "peer": times a served scope went to local-only ACKs */
	uint64_t busy_periods; /* "peer-required": times a served scope started refusing */
	bool critical_ok, critical_reported;
	/* the group's "enable high availability" (cluster state), as applied: off, the pair
	 * still moves a dead node's users and address, not its rooms (Unknown, take-users) */
	bool enabled;
	bool running;	     /* rc_ha_node_start ran: a switch is an event, not a new start */
	bool tc_stopped;     /* the administrator stopped TC here: a critical service down */
	bool users_taken;    /* the peer's address and users are served here, not its rooms */
	/* the peer's users given back, until our stream (connected) carries them to it: a
	 * copy, as the peer's own session list may replace the scope's meanwhile */
	struct rc_scope_sess *handback;
	unsigned n_handback;
	char lease_db[600]; /* the database the leases live in (fixed at start), no password */
	uint64_t started_ms;
	/* the peer as last heard */
	struct rc_hb_status peer;
	bool peer_heard;
	uint64_t peer_heard_ms, peer_dead_ms;
	uint64_t peer_since_ms; /* when the peer's state or reason last changed, as heard */
	/* counters */
	uint64_t takeovers, loads, unloads, fences, alarms, garps_sent;
	uint64_t aux_tx, aux_rx, aux_bad;
	uint64_t last_invalid[RC_HA_EV_MAX]; /* refusals already reported by a command */
	uint8_t admin_from_peer; /* an admin event the peer relayed, to deliver (0: none) */
	bool fault_fail_load; /* ha fault fail-load: the next load of a scope fails (tests) */
	uint64_t last_tick_ms, last_host_stall_ms, host_stalls_ignored;
};

/* aux messages on a scope's stream (ha_node_scope.c) */
#define SESS_AUX_ADD 1
#define SESS_AUX_DEL 2
#define SESS_AUX_RESET 3
#define AUX_ADMIN 4 /* an administrator's request relayed to the peer: ha failover / fallback */
#define SESS_AUX_HANDBACK 5 /* a session of the receiver's own scope, served here meanwhile */

static inline uint64_t
rc_ha_now_ms(void)
{
	return rc_lease_mono_ms();
}

static inline const char *
rc_ha_scope_word(unsigned s)
{
	return s == 0 ? "own" : "peer";
}

/* ha_node_scope.c */
void rc_ha_aux_cb(void *arg, const char *scope, const void *buf, uint16_t len);
void rc_ha_send_session_snapshot(struct rc_ha_node *ha, unsigned scope);
void rc_ha_garp_tick(struct rc_ha_node *ha, uint64_t now);
/* Serve a scope whose lease we hold (HA.md, reload-own / start-takeover). 0 or -errno. */
int rc_ha_load_scope(struct rc_ha_node *ha, unsigned scope, unsigned reason);
/* Stop serving a scope (release, unload-peer, fence). */
void rc_ha_unload_scope(struct rc_ha_node *ha, unsigned scope);
/* take-users: the peer's address and its users' sessions (RESUME), not its rooms, which
 * answer "unavailable until PEER returns". give-users: the address dropped, the sessions
 * out of the table and sent back to the peer on our stream (now, or once it connects). */
void rc_ha_take_users(struct rc_ha_node *ha);
void rc_ha_give_users(struct rc_ha_node *ha);
/* Our stream connected: the sessions given back, if they wait for it. */
void rc_ha_send_handback(struct rc_ha_node *ha);

/* Deliver an administrator's event (ha failover / fallback / recover) and act on it. */
void rc_ha_node_admin(struct rc_ha_node *ha, enum rc_ha_event ev);
/* Relay an administrator's event to the peer on the stream of `scope`, which this node must
 * write (connected). 0, -ENOTCONN, or rc_repl_send_aux's error. */
int rc_ha_node_admin_relay(struct rc_ha_node *ha, unsigned scope, enum rc_ha_event ev);

#endif /* RC_HA_NODE_INT_H */
