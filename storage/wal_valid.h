/* SPDX-License-Identifier: MIT */
/*
 * What a WAL record must be, at two levels:
 *
 * rc_wal_rec_valid(): the product's rules, those of dataplane/wire/PROTOCOL.md section 2 (the
 * worker's codec enforces them on every POST and JOIN), restated for records that did not
 * come through the codec: the HA replica's input (call it before rc_wal_apply()), a
 * damaged or foreign LMDB file.
 *   MSG   seq 1 .. 2^63 - 1; ts_ms <= 2^63 - 1; cmid any u64; user 1..64 bytes of UTF-8
 *         without control characters; body 1..1200 bytes of UTF-8, TAB LF CR allowed,
 *         other control characters (NUL included) not
 *   ROOM  name (body) 1..200 bytes of UTF-8 without control characters; creator (user)
 *         0..64 bytes, same rule; ts_ms <= 2^63 - 1
 *
 * rc_wal_rec_storable(): what PostgreSQL can hold exactly (the drainer's defence): seq
 * 1 .. 2^63 - 1 (a bigint with CHECK seq >= 1), ts_ms <= 2^63 - 1, user <= 64 and body
 * <= 1200 bytes (a room name 1..200), every text well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF) without a NUL byte, which PostgreSQL's text
 * cannot hold. Control characters other than NUL are text to PostgreSQL: storable.
 *
 * Pure functions, any thread.
 */
#ifndef RC_WAL_VALID_H
#define RC_WAL_VALID_H

#include <stdbool.h>
#include <stddef.h>

#include "wal.h"

#define RC_WAL_SEQ_MAX INT64_MAX /* the largest seq (and ts_ms) PostgreSQL's bigint holds */

/* true when r follows the product's rules; otherwise false and *why (may be NULL) gets a
 * short static text naming the first rule broken ("body holds a NUL byte", ...). */
bool rc_wal_rec_valid(const struct rc_wal_logrec *r, const char **why);

/* true when PostgreSQL can store r exactly; otherwise false and *why (may be NULL). */
bool rc_wal_rec_storable(const struct rc_wal_logrec *r, const char **why);

/* len bytes are PostgreSQL text: well-formed UTF-8 without NUL. */
bool rc_wal_text_storable(const char *s, size_t len);

/* A room name PostgreSQL can store: 1..200 bytes, rc_wal_text_storable(). */
bool rc_wal_room_name_storable(const char *name, size_t len);

#endif /* RC_WAL_VALID_H */
