/* SPDX-License-Identifier: MIT */
/*
 * The room table: every room this node hosts, by name and by id. An RCU hash table
 * (liburcu QSBR, rculfhash) for names plus an RCU-published array for ids.
 *
 * Concurrency contract:
 *  - rc_room_lookup_name(), rc_room_lookup_id(), rc_room_foreach(): registered RCU readers
 *    (workers) between quiescent states, and the control thread.
 *  - rc_room_add(), rc_room_table_destroy(): the control thread only (the single writer).
 *    Rooms are never removed while the node runs (persistent rooms).
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

struct rc_member {
	uint64_t session;
	struct rc_peer peer;
	uint8_t user_len;
	char user[RC_MAX_USER];
};

struct rc_room {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	uint32_t id;
	uint16_t home; /* worker index */
	uint8_t scope; /* HA: 0 our own rooms, 1 the peer's (loaded on takeover) */
	uint8_t name_len;
	char name[RC_MAX_ROOM + 1];
	char creator[RC_MAX_USER + 1];
	uint64_t created_ms;

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
	struct rc_member *members;
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

unsigned rc_room_count(const struct rc_room_table *t);
uint32_t rc_room_max_id(const struct rc_room_table *t); /* highest id in use, 0 if none */
unsigned rc_room_capacity(const struct rc_room_table *t);

int rc_room_foreach(struct rc_room_table *t, int (*cb)(void *arg, struct rc_room *r),
		    void *arg);

/* Home worker. */
int rc_room_member_find(const struct rc_room *r, uint64_t session);
int rc_room_member_add(struct rc_room *r, const struct rc_member *m, unsigned max);
bool rc_room_member_remove(struct rc_room *r, uint64_t session);

#endif /* RC_ROOM_TABLE_H */
