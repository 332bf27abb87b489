/* SPDX-License-Identifier: MIT */
/*
 * The room table: every room this node hosts, by name and by id. An RCU hash table
 * (liburcu QSBR, rculfhash) for names plus an RCU-published array for ids.
 *
 * Concurrency contract:
 *  - rc_room_lookup_name(), rc_room_lookup_id(), rc_room_foreach(): registered RCU readers
 *    (workers) between quiescent states, and the control thread.
 *  - rc_room_add(), rc_room_del(), rc_room_table_destroy(): the control thread only (the
 *    single writer). A room leaves the table when its scope is unloaded (HA) or the operator
 *    deletes it (`room delete`); readers keep it until their next quiescent state.
 *  - the fields below "home worker" belong to the room's home worker (room->home): only it
 *    assigns sequence numbers and changes members. Members are also read by the control
 *    thread for the admin API under room->lock, which the home worker takes only when it
 *    changes the member array (JOIN, LEAVE, purge), never per message.
 *  - before the workers start, or while the room's HA scope is not served, the control
 *    thread may set next_seq/last_committed and fill the re-sent POST window.
 */
#ifndef RC_ROOM_TABLE_H
#define RC_ROOM_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_spinlock.h>
#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#include "pkt.h"
#include "proto.h"

struct rc_dedup;

/*
 * A member: a session of this node, or (peer.relay != 0) a node member: another node that
 * holds a remote copy of the room (its `alias` is that copy's id there). A node member
 * stands for every user of that node in the room: one per node, session 0, no user; it is
 * dropped when not refreshed (an accepted RJOIN) for 3 relay refresh periods.
 */
struct rc_member {
	uint64_t session;
	struct rc_peer peer;
	uint8_t user_len;
	uint32_t alias;        /* node member: the room's id at that node */
	uint64_t refreshed_ms; /* node member: monotonic ms of its last RJOIN */
	char user[RC_MAX_USER];
};

/* What a room of the table is. */
enum rc_room_kind {
	RC_ROOM_HOSTED = 0, /* a room of one of our scopes: stored, sequenced here */
	RC_ROOM_REMOTE = 1, /* our copy of a room another node hosts: our members, relayed */
};

struct rc_room {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	uint32_t id;
	uint16_t home; /* worker index */
	uint8_t scope; /* HA: 0 our own rooms, 1 the peer's (loaded on takeover); remote: 0 */
	uint8_t kind;  /* enum rc_room_kind, set by the control thread before it is used */
	uint8_t name_len;
	char name[RC_MAX_ROOM + 1];
	char creator[RC_MAX_USER + 1];
	uint64_t created_ms;
	uint8_t archived; /* read-only (POSTs refused): the control thread sets it, the home
			   * worker reads it; relaxed atomic (rc_room_archived) */

	/* home worker */
	uint64_t next_seq;       /* the next sequence number to assign */
	uint64_t last_committed; /* highest seq stored (JOINED.last_seq); relaxed atomic */
	uint64_t posts;          /* messages stored since start */
	uint64_t incarnation;    /* this instance of the room: unique in the table's life */
	uint64_t seq_gen;        /* bumped when seqs are handed back (request.c: no gap) */
	uint64_t seq_conflicts;  /* records the WAL refused as already stored (alarm) */
	struct rc_dedup *dedup;  /* re-sent POSTs: the last dedup_window seqs (dedup.h) */
	rte_spinlock_t lock;     /* guards members against the admin reader */
	unsigned n_members;
	unsigned cap_members;
	unsigned n_node_members; /* members with peer.relay != 0 (hosted rooms) */
	struct rc_member *members;

	/* a remote room (kind RC_ROOM_REMOTE), home worker but where said */
	uint16_t host_node;      /* the host's directory index (relay.h); control thread */
	uint32_t host_room_id;   /* the host's id of the room, 0 unknown; relaxed atomic */
	uint64_t last_seq;       /* highest seq fanned out with nothing missing before it;
				  * 0: no position yet; relaxed atomic (the refresh reads it) */
	uint64_t seen_above;     /* bit i: last_seq + 1 + i fanned out already */
	uint64_t top_seq;        /* highest seq fanned out */
	uint64_t host_last_seq;  /* the host's last_seq as its last RJOINED said */
};

struct rc_room_table;

#define RC_ROOM_DEDUP_WINDOW 4096 /* default re-sent POST window of a room */

/* Writer, before the first rc_room_add(): the re-sent POST window of each new room. */
void rc_room_table_set_dedup_window(struct rc_room_table *t, unsigned window);

/* Writer: remove a room (unloading the HA peer's rooms after a fallback). Readers that
 * still hold it keep a valid room until their next quiescent state (call_rcu). 0 or
 * -ENOENT. */
int rc_room_del(struct rc_room_table *t, struct rc_room *r);

struct rc_room_table *rc_room_table_create(unsigned max_rooms);
void rc_room_table_destroy(struct rc_room_table *t);

struct rc_room *rc_room_lookup_name(struct rc_room_table *t, const char *name, unsigned len);
struct rc_room *rc_room_lookup_id(struct rc_room_table *t, uint32_t id);

/* Writer. id in 1..max_rooms and unused; name unique. NULL + errno (EEXIST, ENOSPC,
 * EINVAL, ENOMEM). */
struct rc_room *rc_room_add(struct rc_room_table *t, uint32_t id, const char *name,
			    unsigned name_len, const char *creator, uint64_t created_ms,
			    uint16_t home);

/* Writer. The same for a remote room (kind RC_ROOM_REMOTE, hosted by directory index
 * host_node), complete before readers can see it. */
struct rc_room *rc_room_add_remote(struct rc_room_table *t, uint32_t id, const char *name,
				   unsigned name_len, const char *creator, uint64_t created_ms,
				   uint16_t home, uint16_t host_node);

/* Archived (read-only): any thread; set by the control thread only. */
static inline bool
rc_room_archived(const struct rc_room *r)
{
	return __atomic_load_n(&r->archived, __ATOMIC_RELAXED) != 0;
}

static inline void
rc_room_set_archived(struct rc_room *r, bool on)
{
	__atomic_store_n(&r->archived, on ? 1 : 0, __ATOMIC_RELAXED);
}

unsigned rc_room_count(const struct rc_room_table *t);
/* Writer. The rooms of kind RC_ROOM_HOSTED (what max_rooms bounds). */
unsigned rc_room_hosted_count(const struct rc_room_table *t);
uint32_t rc_room_max_id(const struct rc_room_table *t); /* highest id in use, 0 if none */
unsigned rc_room_capacity(const struct rc_room_table *t);

int rc_room_foreach(struct rc_room_table *t, int (*cb)(void *arg, struct rc_room *r),
		    void *arg);

/* Home worker. Sessions: node members are never found, added or removed by these. */
int rc_room_member_find(const struct rc_room *r, uint64_t session);
int rc_room_member_add(struct rc_room *r, const struct rc_member *m, unsigned max);
bool rc_room_member_remove(struct rc_room *r, uint64_t session);

/* Home worker. Node members by relay peer (rc_peer.relay): the index or -1; add, or
 * refresh (peer, alias, refreshed_ms) the one of m->peer.relay: 0 or -errno as
 * rc_room_member_add; remove the member at index i (any kind). */
int rc_room_node_find(const struct rc_room *r, uint8_t relay);
int rc_room_node_set(struct rc_room *r, const struct rc_member *m, unsigned max);
void rc_room_member_remove_at(struct rc_room *r, unsigned i);

#endif /* RC_ROOM_TABLE_H */
