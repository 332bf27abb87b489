/* SPDX-License-Identifier: MIT */
/*
 * The external database's schema: created and migrated by the product. Migrations are an
 * ordered list of SQL scripts; roomcast_schema holds the version applied. On start the node
 * applies what is missing, in one transaction each, under an advisory lock (two nodes of a
 * group may start together). A database whose version is newer than this binary knows is
 * refused with a clear error.
 *
 * Tables (version 1):
 *   rooms(name PK, room_id, hosting_node, type 'persistent'|'adhoc', subject, creator,
 *         max_occupants, members_only, next_seq, created_at)
 *   room_members(room, user_name, role, affiliation, PK(room, user_name))
 *   messages(room, seq, sender, ts_ms, body, cmid, epoch, node, PK(room, seq))
 *   drain_alarms(id, room, seq, stored_cmid, stored_sender, new_cmid, new_sender, node, at)
 *   drain_state(node PK, drained_lsn, updated_at)
 * Version 2 adds ha_lease(owner_scope PK, holder, epoch, expires_at, renewed_at,
 * acquired_at), the functions rc_lease_acquire/renew/release (storage/lease.h) and the
 * trigger messages_fence, which refuses rows of a stale epoch (SQLSTATE RC001).
 * Version 3 adds drain_dead_letters (records the drain set aside, storage/drainer.h) and
 * makes a takeover by rc_lease_acquire end the old term's drain backends first.
 * Messages are keyed by the room's NAME, so that the two nodes of a group (and merged
 * databases) agree on a room whatever local id each gave it.
 */
#ifndef RC_SCHEMA_H
#define RC_SCHEMA_H

#include "pgdb.h"

#define RC_SCHEMA_VERSION 3

/* Bring db to RC_SCHEMA_VERSION. 0; -EPROTO if the database is newer (text in err);
 * -errno otherwise. *applied gets the number of migrations run (may be NULL). */
int rc_schema_migrate(struct rc_pgdb *db, int *applied, char *err, size_t errlen);

/* The version in the database (0 if none), or -errno. */
int rc_schema_version(struct rc_pgdb *db);

#endif /* RC_SCHEMA_H */
