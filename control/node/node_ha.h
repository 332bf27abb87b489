/* SPDX-License-Identifier: MIT */
/*
 * The HA pair, wired into a node (issue 5): the control thread's part. It owns
 *   - the heartbeats and the critical-service watcher (control/ha/heartbeat.h, health.h),
 *   - the state machine (control/ha/ha_fsm.h: every transition is logged with its reason),
 *   - the lease thread (control/ha_lease.h: our rooms' and the peer's rooms' leases),
 *   - the WAL stream to and from the peer (storage/repl.h),
 *   - the peer's scope: a second WAL environment (DATA_DIR/wal-peer), its history thread
 *     and, while we serve it, its drainer,
 * and performs the machine's actions (control/ha/HA.md, "Actions: the caller's contract").
 *
 * Scopes: index 0 is our own rooms and users ("rooms:<us>"), 1 the peer's. A room's scope
 * is rc_room.scope; a session's is the service address it talks to (rc_peer.vip). Room ids
 * are split between the two nodes so that both agree on every id: the node whose id sorts
 * first uses 1..max_rooms, the other max_rooms+1..2*max_rooms (both need the same
 * chat.max_rooms).
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
#ifndef RC_NODE_HA_H
#define RC_NODE_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rc_node;
struct rc_session;
struct rc_wal;
struct rte_ring;

/* After the own WAL is open and before the tables are loaded (needs n->wal, the pools).
 * Without ha.enabled: sets up the standalone scope and returns 0. -errno + err. */
int rc_node_ha_init(struct rc_node *n, char *err, size_t errlen);
/* Register the completion rings of worker i / the control thread on the peer's WAL. */
int rc_node_ha_set_completion(struct rc_node *n, unsigned idx, struct rte_ring *ring);
/* Start the threads (after the workers run). */
int rc_node_ha_start(struct rc_node *n);
/* Every control loop iteration (never blocks for long). */
void rc_node_ha_tick(struct rc_node *n);
/* A session was created / ended by the control thread (replicated to the peer). */
void rc_node_ha_session(struct rc_node *n, const struct rc_session *s, bool added);
void rc_node_ha_fini(struct rc_node *n);
int rc_node_ha_cmds_register(struct rc_node *n);

/* A JOIN through scope's address would create `name`: true when the other scope's rooms
 * (not served here) hold it: the room lives on the other node (ERROR 8). An LMDB scan:
 * room creations are rare. */
bool rc_node_ha_peer_has_room(struct rc_node *n, unsigned scope, const char *name,
			      unsigned len);

/* The own drainer may run (HA off, or our lease is held): its epoch (0 without HA). */
bool rc_node_ha_may_drain(struct rc_node *n, uint64_t *epoch);

#endif /* RC_NODE_HA_H */
