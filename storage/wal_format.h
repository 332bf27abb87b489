/* SPDX-License-Identifier: MIT */
/*
 * The WAL's on-disk layout, schema version 3: how rooms, messages and the commit log become
 * LMDB keys and values, and back. Five named databases in one environment; every integer
 * big-endian, so LMDB's default memcmp order walks a room's messages in seq order and the
 * log in LSN order:
 *
 *   "meta"   "schema_version"     -> u32 version
 *            "last_lsn"           -> u64 highest LSN ever committed (written with it)
 *            "drained_lsn"        -> u64 every LSN <= this is in the external database
 *            "writer_start"       -> u64 the first LSN this node wrote as the writer, the
 *                                    last time it became one (absent: never)
 *   "rooms"  u32 room_id          -> u64 created_ms, u8 name_len, u8 creator_len, name,
 *                                    creator[, u8 flags: present when not 0[, u64
 *                                    deleted_lsn: present iff flags has
 *                                    RC_WAL_ROOM_DELETED]]
 *   "msgs"   u32 room_id, u64 seq -> u64 ts_ms, u64 cmid, u8 user_len, u16 body_len, user,
 *                                    body
 *   "log"    u64 lsn              -> u8 kind, u32 room_id, u64 seq (0 for a room's
 *                                    creation; a room's state change: RC_WAL_STATE_MARK |
 *                                    the flags it replaced), u32 value_len (of its "rooms"
 *                                    or "msgs" value)
 *   "seqs"   u32 room_id          -> u64 the room's highest seq ever stored (survives the
 *                                    trimming of its messages)[, u8 1: the room is a
 *                                    tombstone]
 *
 * Version 1 had "meta" (schema_version only), "rooms" and "msgs" with the same values; the
 * WAL migrates it at open (wal.c). The log is trimmed from its front: a message's log entry
 * and "msgs" entry go together; a room's log entry goes once drained, its "rooms" entry
 * never.
 *
 * A deleted room is a tombstone: its "rooms" entry stays with the flag and the LSN of the
 * log entry that set it, and its "seqs" entry gets the tombstone byte (read for every
 * message anyway: the writer refuses a message for it without another lookup). Creating a
 * room with its id once the log is trimmed past deleted_lsn purges what is left of the old
 * one (messages, log entries, "dkeys", "seqs") in the same transaction.
 *
 * Used by the WAL writer and readers, and by anything else that reads the environment (the
 * drainer). Pure functions without LMDB types; reentrant. Decoders check every length and
 * return -EIO for a malformed entry.
 */
#ifndef RC_WAL_FORMAT_H
#define RC_WAL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wal.h"

#define RC_WAL_SCHEMA_VERSION 3u
#define RC_WAL_SCHEMA_KEY "schema_version"
#define RC_WAL_LAST_LSN_KEY "last_lsn"
#define RC_WAL_DRAINED_KEY "drained_lsn"
#define RC_WAL_WRITER_START_KEY "writer_start"
#define RC_WAL_DB_META "meta"
#define RC_WAL_DB_ROOMS "rooms"
#define RC_WAL_DB_MSGS "msgs"
#define RC_WAL_DB_LOG "log"
#define RC_WAL_DB_SEQS "seqs"
#define RC_WAL_DB_DKEYS "dkeys" /* (room, seq) -> (cmid, user): re-sent POST keys */

/* The seq of a room's log entry that changed its state (archived...) rather than created
 * it; the low byte holds the flags it replaced (a truncation puts them back). A log entry
 * reads the room's record as it is now: its flags in rc_wal_logrec.cmid, RC_WAL_ROOM_DELETED
 * only in the entry whose LSN is the room's deleted_lsn (so a replica that
 * receives a room's creation after a state change stores the flags at once, and counts
 * that entry's value_len one byte longer than the writer does). */
#define RC_WAL_STATE_MARK 0x100u

#define RC_WAL_ROOM_KEY_LEN 4
#define RC_WAL_MSG_KEY_LEN 12
#define RC_WAL_LOG_KEY_LEN 8
#define RC_WAL_LOG_VAL_LEN 17
#define RC_WAL_U64_LEN 8 /* "seqs" values, the u64 entries of "meta" */
#define RC_WAL_SEQS_TOMB_LEN 9 /* a tombstone's "seqs" value */
#define RC_WAL_VAL_MAX (19 + RC_MAX_USER + RC_MAX_BODY) /* the largest value of either */

/* A "log" entry, decoded. */
struct rc_wal_logent {
	uint64_t lsn;
	uint8_t kind; /* enum rc_wal_kind */
	uint32_t room_id;
	uint64_t seq; /* 0 for a room */
	uint32_t value_len;
};

/* A u64 value ("seqs", "meta" counters): false when len is not RC_WAL_U64_LEN. */
bool rc_wal_u64_decode(const void *val, size_t len, uint64_t *v);

/* A "seqs" value: the room's last seq and whether it is a tombstone; false when
 * malformed. */
bool rc_wal_seqs_decode(const void *val, size_t len, uint64_t *last, bool *deleted);

/* Keys: write into buf (RC_WAL_*_KEY_LEN bytes), return the length. */
size_t rc_wal_room_key(uint8_t *buf, uint32_t room_id);
size_t rc_wal_msg_key(uint8_t *buf, uint32_t room_id, uint64_t seq);
size_t rc_wal_log_key(uint8_t *buf, uint64_t lsn);

/* The "log" value of e (RC_WAL_LOG_VAL_LEN bytes into buf); returns its length. */
size_t rc_wal_log_val(uint8_t *buf, const struct rc_wal_logent *e);

/* Decode a "log" entry; -EIO when malformed (wrong lengths, unknown kind). */
int rc_wal_log_decode(const void *key, size_t klen, const void *val, size_t vlen,
		      struct rc_wal_logent *e);

/* The smallest msgs key above key (a 96-bit increment); false when key was the largest. */
bool rc_wal_msg_key_next(uint8_t *key);

/* The room of a msgs key; false when the key is not one. */
bool rc_wal_msg_key_room(const void *key, size_t len, uint32_t *room_id);

/* Values: write the value of r (a message or a room) into buf (RC_WAL_VAL_MAX bytes),
 * return its length. r must have passed rc_wal_rec_check(). A room's deleted_lsn is
 * written when its flags (r->cmid) have RC_WAL_ROOM_DELETED, else ignored. */
size_t rc_wal_msg_val(uint8_t *buf, const struct rc_wal_rec *r);
size_t rc_wal_room_val(uint8_t *buf, const struct rc_wal_rec *r, uint64_t deleted_lsn);

/* 0 when r can be stored: a known kind and lengths within the protocol's limits (a room
 * name of 1..RC_MAX_ROOM bytes, a message seq above 0); else -EINVAL. */
int rc_wal_rec_check(const struct rc_wal_rec *r);

/* Decode a msgs entry; m's strings point into val. */
int rc_wal_msg_decode(const void *key, size_t klen, const void *val, size_t vlen,
		      struct rc_wal_msg *m);

/* Decode a rooms entry; name and creator are copied NUL-terminated into the buffers that
 * r then points to. */
int rc_wal_room_decode(const void *key, size_t klen, const void *val, size_t vlen,
		       struct rc_wal_room *r, char name[RC_MAX_ROOM + 1],
		       char creator[RC_MAX_USER + 1]);

#endif /* RC_WAL_FORMAT_H */
