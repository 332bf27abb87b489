/* SPDX-License-Identifier: MIT */
/* Internals of the HA wiring shared by node_ha.c and node_ha_cmds.c. Control thread only. */
#ifndef RC_NODE_HA_INT_H
#define RC_NODE_HA_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "ha_fsm.h"
#include "heartbeat.h"
#include "lease_guard.h"
#include "proto.h"

struct rc_wal;
struct rc_history;
struct rc_drainer;
struct rc_ha_lease;
struct rc_repl;

/* ha.durability */
enum rc_ha_durability {
	RC_HA_DUR_LOCAL = 0,     /* "local": ACK on the local synced commit */
	RC_HA_DUR_PEER,          /* "peer": ACK once the peer holds it, while a copy can be had */
	RC_HA_DUR_PEER_REQUIRED, /* "peer-required": ACK only once the peer holds it */
};

/* A session of a scope as its writer replicated it to us. */
struct rc_ha_sess {
	uint64_t id;
	uint32_t ip;       /* network order */
	uint16_t udp_port; /* network order */
	uint8_t mac[6];
	uint8_t user_len;
	char user[RC_MAX_USER];
};

struct rc_ha_scope {
	char node[64];          /* the node whose rooms these are */
	char lease_scope[80];   /* "rooms:<node>": the lease and the stream's name */
	struct rc_wal *wal;     /* [0]: the node's own n->wal */
	struct rc_history *hist;
	struct rc_drainer *drainer; /* [1] only ([0] is n->drainer) */
	struct rc_lease_guard guard;
	uint64_t epoch;         /* the drainer's epoch while loaded; 0 otherwise */
	bool loaded;            /* rooms in the table, served */
	struct rc_ha_sess *sess; /* replica: the writer's sessions */
	unsigned n_sess, cap_sess;
};

/* release / unload-peer in progress: waiting for the peer to hold the stream. */
struct rc_ha_job {
	bool active;
	uint32_t op;
	uint64_t deadline;
	uint64_t lsn;
};

struct rc_node_ha {
	struct rc_ha_fsm fsm;
	struct rc_hb *hb;
	struct rc_health *health;
	struct rc_ha_lease *lease;
	struct rc_repl *repl;
	struct rc_ha_scope sc[2];
	struct rc_ha_job job[2];
	uint32_t lease_op[2];
	enum rc_ha_durability durability;
	bool gate_on[2], gate_set;
	/* what acknowledgements of a served scope wait for now (update_gate) */
	bool local_only[2];    /* "peer": no peer copy, ACKs on the local commit alone */
	bool no_peer_busy[2];  /* "peer-required": no peer copy, POSTs refused busy */
	bool busy_logged[2];   /* ... while the scope is served (logged, counted) */
	uint64_t downgrades;   /* "peer": times a served scope went to local-only ACKs */
	uint64_t busy_periods; /* "peer-required": times a served scope started refusing */
	bool critical_ok, critical_reported;
	uint64_t started_ms;
	/* the peer as last heard */
	struct rc_hb_status peer;
	bool peer_heard;
	uint64_t peer_heard_ms, peer_dead_ms;
	uint64_t peer_since_ms; /* when the peer's state or reason last changed, as heard */
	/* WAL writer watch */
	uint64_t wal_commits[2], wal_progress_ms[2];
	/* gratuitous ARP schedule per scope */
	unsigned garp_left[2];
	uint64_t garp_t0[2];
	/* counters */
	uint64_t takeovers, loads, unloads, fences, alarms, resumes_sent, garps_sent;
	uint64_t aux_tx, aux_rx, aux_bad;
	uint64_t last_invalid[RC_HA_EV_MAX]; /* refusals already reported by a command */
	uint8_t admin_from_peer;
	bool fault_fail_load; /* ha fault fail-load: the next load of a scope fails (tests) */
	uint64_t last_tick_ms, last_host_stall_ms, host_stalls_ignored; /* an admin event the peer relayed, to deliver (0: none) */
};

struct rc_node;
struct rc_session;


/* aux messages on a scope's stream (node_ha_scope.c) */
#define SESS_AUX_ADD 1
#define SESS_AUX_DEL 2
#define SESS_AUX_RESET 3
#define AUX_ADMIN 4 /* an administrator's request relayed to the peer: ha failover / fallback */

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

/* node_ha_scope.c */
void rc_ha_aux_cb(void *arg, const char *scope, const void *buf, uint16_t len);
void rc_ha_send_session_snapshot(struct rc_node *n, unsigned scope);
void rc_ha_garp_tick(struct rc_node *n, uint64_t now);
/* Serve a scope whose lease we hold (HA.md, reload-own / start-takeover). 0 or -errno. */
int rc_ha_load_scope(struct rc_node *n, unsigned scope, unsigned reason);
/* Stop serving a scope (release, unload-peer, fence). */
void rc_ha_unload_scope(struct rc_node *n, unsigned scope);
void rc_ha_drainer_stop(struct rc_node *n, unsigned scope);

/* Deliver an administrator's event (ha failover / fallback / recover) and act on it. */
void rc_node_ha_admin(struct rc_node *n, enum rc_ha_event ev);
/* Relay an administrator's event to the peer on the stream of `scope`, which this node must
 * write (connected). 0, -ENOTCONN, or rc_repl_send_aux's error. */
int rc_node_ha_admin_relay(struct rc_node *n, unsigned scope, enum rc_ha_event ev);

#endif /* RC_NODE_HA_INT_H */
