/* SPDX-License-Identifier: MIT */
/*
 * WAL record validation (wal_valid.h): the codec's rules (rc_utf8_valid, the RC_MAX_*
 * limits) applied to a record as the log holds it.
 */
#include <stdint.h>
#include <string.h>

#include "wal_valid.h"

static bool
fail(const char **why, const char *text)
{
	if (why != NULL)
		*why = text;
	return false;
}

bool
rc_wal_room_name_valid(const char *name, size_t len)
{
	return len >= 1 && len <= RC_MAX_ROOM && rc_utf8_valid(name, len, false);
}

/* The body: checked for NUL first, so that the reason says so (rc_utf8_valid refuses it
 * with every other control character). */
static bool
body_valid(const struct rc_str *b, const char **why)
{
	if (b->len < 1 || b->len > RC_MAX_BODY)
		return fail(why, "body length out of range (1..1200)");
	if (memchr(b->p, '\0', b->len) != NULL)
		return fail(why, "body holds a NUL byte");
	if (!rc_utf8_valid(b->p, b->len, true))
		return fail(why, "body is not valid UTF-8 (or holds a control character)");
	return true;
}

bool
rc_wal_rec_valid(const struct rc_wal_logrec *r, const char **why)
{
	if (r->ts_ms > (uint64_t)RC_WAL_SEQ_MAX)
		return fail(why, "ts_ms out of range (above 2^63 - 1)");
	if (r->user.len > RC_MAX_USER || !rc_utf8_valid(r->user.p, r->user.len, false))
		return fail(why, "user name too long, not valid UTF-8 or with a control character");
	switch (r->kind) {
	case RC_WAL_MSG:
		if (r->seq < 1 || r->seq > (uint64_t)RC_WAL_SEQ_MAX)
			return fail(why, "seq out of range (1..2^63 - 1)");
		if (r->user.len < 1)
			return fail(why, "empty user name");
		return body_valid(&r->body, why);
	case RC_WAL_ROOM:
		if (!rc_wal_room_name_valid(r->body.p, r->body.len))
			return fail(why, "room name empty, too long, not valid UTF-8 or with a "
					 "control character");
		return true;
	default:
		return fail(why, "unknown record kind");
	}
}
