/* SPDX-License-Identifier: MIT */
/*
 * What relayed messages mean (relay.h carries them): canonical room names, remote rooms at
 * the home node, node members and relayed requests at the host. In short:
 *
 *  - A room is NAME@SERVICE. A bare name is read as NAME@<service of the address the
 *    session talks to>. The service says who hosts it: one of our served scopes (a hosted
 *    room), or another node of the directory (a remote room), or nobody (ERROR 1).
 *  - Home node: a remote room is an entry of the room table (kind RC_ROOM_REMOTE, ids above
 *    the scopes', no WAL record) with our members. JOIN adds the member here and relays
 *    RJOIN; POST, FETCH, MEMBERS are relayed (RPOST, RFETCH, RMEMBERS) with the client's
 *    session in the header; the host's replies come back with that session and are
 *    forwarded to it untouched. LEAVE is answered here; the last member gone, RLEAVE.
 *    The host's live DELIVERs (header session 0) go to the room's home worker, which fans
 *    them out once each, in order of arrival, and asks a node-level RFETCH for a gap.
 *  - Host: a relayed request runs as the client request it stands for (rc_req_relayed),
 *    its replies carry the home node's id of the room (the alias). The home node is one
 *    node member of the room: one copy of each DELIVER, whatever its number of users.
 *
 * Remote rooms are kept in the table once created (an empty one costs an entry, no
 * traffic: it is refreshed only while it has members); their ids are never reused, so a
 * late message of a host names no other room.
 *
 * Concurrency: as request.h (worker w, inside its RCU read side), but
 * rc_relay_rooms_refresh() (control thread) and the name helpers (any RCU reader).
 */
#ifndef RC_RELAY_ROOMS_H
#define RC_RELAY_ROOMS_H

#include <stdbool.h>
#include <stdint.h>

#include "dp.h"
#include "room_table.h"

/* Three refresh periods without an RJOIN from a node member's node: it is dropped. */
#define RC_RELAY_REFRESH_MS 1000 /* default of relay.refresh_ms (dp->relay_refresh_ms 0) */
#define RC_RELAY_MISSED_REFRESHES 3

/* The canonical form of room name `in` for a session that talks to service address vip
 * (0 ours, 1 the HA peer's): `in` itself when it holds a '@', else NAME@SERVICE built in
 * buf (RC_MAX_ROOM bytes). *out views one or the other. 0, or -EMSGSIZE when over
 * RC_MAX_ROOM bytes (ERROR 3), -ENOENT when we have no service (no directory yet). */
int rc_room_canonical(struct rc_dp *dp, const struct rc_str *in, unsigned vip, char *buf,
		      struct rc_str *out);

/* Who hosts canonical room `name`: RC_ROOM_HOSTED (*where = our scope that serves it) or
 * RC_ROOM_REMOTE (*where = the host's directory index), or -ENOENT: no such service. */
int rc_room_resolve(struct rc_dp *dp, const struct rc_str *name, unsigned *where);

/* ERROR 1 "unknown room: no service SERVICE" for canonical room `name` (who's request of
 * type). */
void rc_relay_no_service(struct rc_dp *dp, struct rc_worker *w, const struct rc_who *who,
			 unsigned type, const struct rc_str *name);

/* ---- home side (worker w = the remote room's home worker) ---- */

/* A client request m (JOIN, POST, FETCH, MEMBERS, LEAVE) of remote room r, membership
 * checked: answered here or relayed to the host. */
void rc_relay_at_home(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r,
		      const struct rc_who *who, const struct rc_msg *m);

/* Remote room r has no member left (LEAVE, purge): RLEAVE to its host. */
void rc_relay_home_empty(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r);

/* An RC_WORK_RELAY item (a host's DELIVER or RJOINED for remote room wk->room_id). */
void rc_relay_work(struct rc_dp *dp, struct rc_worker *w, struct rc_work *wk);

/* ---- host side (worker w = the hosted room's home worker) ---- */

/* The relayed JOIN of who: its node is a node member of r (added, or its alias and time
 * refreshed) and is told our id of the room (RJOINED). 0, or -ENOSPC/-ENOMEM (full). */
int rc_relay_node_join(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r,
		       const struct rc_who *who);

/* Whether who's node is a node member of r under who's alias. */
bool rc_relay_node_ok(const struct rc_room *r, const struct rc_who *who);

/* Drop r's node members not refreshed for RC_RELAY_MISSED_REFRESHES periods. */
void rc_relay_prune(struct rc_dp *dp, struct rc_room *r, uint64_t now_ms);

/* ---- control thread ---- */

/*
 * Every relay.refresh_ms (call it often; it keeps its own time): a node-level RJOIN
 * (since_seq = last_seq) for every remote room with members, which keeps our interest at
 * the host alive, re-creates it at a new host after a failover and fills a lost tail.
 * force_mask bit i: host node i changed its MAC, its rooms are refreshed now.
 */
void rc_relay_rooms_refresh(struct rc_dp *dp, uint64_t now_ms, uint64_t force_mask);

#endif /* RC_RELAY_ROOMS_H */
