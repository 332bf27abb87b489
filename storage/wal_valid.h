/* SPDX-License-Identifier: MIT */
/*
 * What a WAL record must be to be stored, replicated or drained: the rules of
 * dataplane/PROTOCOL.md section 2 (the worker's codec enforces them on every POST and
 * JOIN), restated for records that did not come through the codec (the HA replica's
 * input, a damaged or foreign LMDB file) and for the drain (PostgreSQL's bigint and text).
 *
 *   MSG   seq 1 .. 2^63 - 1 (a bigint); ts_ms <= 2^63 - 1; cmid any u64 (stored as its two's
 *         complement); user 1..64 bytes of UTF-8 without control characters; body 1..1200
 *         bytes of UTF-8, TAB LF CR allowed, other control characters (NUL included) not
 *   ROOM  name (body) 1..200 bytes of UTF-8 without control characters; creator (user)
 *         0..64 bytes, same rule; ts_ms <= 2^63 - 1
 *
 * Pure functions, any thread (the replication thread calls rc_wal_rec_valid() before
 * rc_wal_apply(); the drainer before it sends a record to PostgreSQL).
 */
#ifndef RC_WAL_VALID_H
#define RC_WAL_VALID_H

#include <stdbool.h>
#include <stddef.h>

#include "wal.h"

#define RC_WAL_SEQ_MAX INT64_MAX /* the largest seq (and ts_ms) PostgreSQL's bigint holds */

/* true when r may be stored; otherwise false and *why (may be NULL) gets a short static
 * text naming the first rule broken ("body holds a NUL byte", "seq out of range", ...). */
bool rc_wal_rec_valid(const struct rc_wal_logrec *r, const char **why);

/* A room name: 1..200 bytes of UTF-8 without control characters. */
bool rc_wal_room_name_valid(const char *name, size_t len);

#endif /* RC_WAL_VALID_H */
