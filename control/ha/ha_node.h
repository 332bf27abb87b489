/* SPDX-License-Identifier: MIT */
/*
 * The HA pair, wired into a node: the control thread's part. It owns
 *   - the heartbeats and the critical-service watcher (heartbeat.h, health.h),
 *   - the state machine (ha_fsm.h: every transition is logged with its reason),
 *   - the lease thread (ha_lease.h: our rooms' and the peer's rooms' leases),
 *   - the WAL stream to and from the peer (storage/repl.h),
 * and performs the machine's actions (HA.md, "Actions: the caller's contract") on the
 * node's two scopes (control/scope/scope.h): index 0 is our own rooms and users
 * ("rooms:<us>"), 1 the peer's (a second WAL environment, DATA_DIR/wal-peer).
 *
 * Loading a scope (reload-own, start-takeover): the stream for that scope is turned around
 * (we become its writer), its rooms are loaded from our copy of its WAL (sequence counters
 * included), the dedup tables warmed, its drainer started at the lease's epoch, its users'
 * sessions installed with their ids (replicated as "aux" messages on the stream) and each
 * sent a RESUME, its service address answered and announced by gratuitous ARP; then it is
 * served, acknowledged under the lease guard. Unloading (release, unload-peer, fence) is
 * the reverse, after pushing what the peer has not acknowledged yet.
 *
 * Threads: everything here runs on the control thread.
 */
#ifndef RC_HA_NODE_H
#define RC_HA_NODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "keyring.h"

struct rc_admin;
struct rc_cluster_node;
struct rc_ha_conf;
struct rc_dp;
struct rc_metrics_buf;
struct rc_scopes;
struct rc_session;
struct rc_ha_node;
struct rc_hb_keys;

/* What the HA wing reads of the node's configuration: its own section (keys ha.*) and the
 * node's identity (the heartbeats and the stream authenticate with the "ha" key ring). The
 * node fills it; it and what it points to outlive the HA wing. */
struct rc_ha_settings {
	const struct rc_ha_conf *ha;
	const char *node_id;
	const struct rc_keyring *keys; /* the HA link's ring: k[0] signs, k[1] the previous */
	unsigned n_workers;
};

/* With ha.enabled, after the scopes are open and before the tables are loaded: the pair's
 * heartbeats, state machine and WAL stream over the node's scopes (both, ours and the
 * peer's) and its dataplane. cfg, ss and dp outlive it. 0 with *out set, or -errno with the
 * reason in err. */
int rc_ha_node_create(const struct rc_ha_settings *cfg, struct rc_scopes *ss, struct rc_dp *dp,
		      struct rc_ha_node **out, char *err, size_t errlen);
/* Start the threads (after the scopes' threads and the workers run). */
int rc_ha_node_start(struct rc_ha_node *ha);
/* Every control loop iteration (never blocks for long). NULL: nothing. */
void rc_ha_node_tick(struct rc_ha_node *ha);
/* A session was created / ended by the control thread (replicated to the peer). NULL:
 * nothing. */
void rc_ha_node_session(struct rc_ha_node *ha, const struct rc_session *s, bool added);
/* The group's "enable high availability" (the cluster state), live. On: rooms, users and
 * address of a failed node move to the peer (the full state machine). Off: each node
 * serves its own rooms (Unknown); a dead peer's users and address move here, its rooms do
 * not (ERROR 8 "unavailable until NODE returns") and its users go back when it returns.
 * Before rc_ha_node_start it sets where the machine starts. NULL: nothing. */
void rc_ha_node_set_enabled(struct rc_ha_node *ha, bool on);
bool rc_ha_node_enabled(const struct rc_ha_node *ha);
/* A number that changes whenever this node's HA state or reason, or its peer's as heard,
 * changes (for republishing the node's report at once). 0 for NULL. */
uint64_t rc_ha_node_changes(const struct rc_ha_node *ha);
/* The administrator's TC service state here (cluster state): stopped counts as a critical
 * service down (the rooms fail over, Critical Service Down); started lets the node recover
 * (Failed Over: a fallback may follow). NULL: nothing. */
void rc_ha_node_set_tc(struct rc_ha_node *ha, bool started);
/* Stop the threads (before the scopes stop) and free it. NULL-safe. */
void rc_ha_node_destroy(struct rc_ha_node *ha);

/* What the pair reports of itself for `verify ha` (cluster.h rc_cluster_verify_live, its
 * "ha" member): {enabled (the group's switch as applied), state, reason, peer, peer_heard,
 * peer_state, peer_reason (as last heard, "" when not), critical_services (workers and WAL
 * writer running), users_of_peer (HA off: the dead peer's users served here), tc_stopped,
 * lease_database (where the leases live, without the password: the database at start)}.
 * A new reference, or NULL. */
json_t *rc_ha_node_report(const struct rc_ha_node *ha);

/* The HA state of a node for `topology` (rc_cluster_ha_fn, arg: the struct rc_ha_node):
 * this node's, or the peer's as last heard while it is up. */
bool rc_ha_node_state_of(void *arg, const char *node, const char **state,
			 const char **reason);

/* The `ha` commands (ha_cmds.c) on the admin socket; ha NULL: HA is off (ha status says
 * so). cn: the cluster state here, for the group names. Registering only keeps the
 * pointers. 0 or -errno. */
int rc_ha_cmds_register(struct rc_admin *admin, struct rc_ha_node *ha,
			const struct rc_ha_settings *cfg, struct rc_dp *dp,
			const struct rc_cluster_node *cn);

/* The HA metrics (ha_metrics.c): the state (Unknown while ha is NULL), counters,
 * durability, what the HA link refused. */
void rc_ha_node_metrics(struct rc_ha_node *ha, struct rc_metrics_buf *b);

/* The HA key ring as heartbeat keys: k[0] the current key, k[1] (if any) the previous one
 * (heartbeat.h "Keys and rotation"). 0 or -EINVAL (empty ring, key too short). */
int rc_ha_hb_keys(const struct rc_keyring *r, struct rc_hb_keys *k);

/* The HA ring (settings' keys) changed in place: install it on the heartbeats (a new first
 * key starts a rotation) and the stream (new handshakes). 0 or -errno. Control thread. */
int rc_ha_node_keys_changed(struct rc_ha_node *ha);

#endif /* RC_HA_NODE_H */
