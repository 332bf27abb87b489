/* SPDX-License-Identifier: MIT */
/*
 * WAL record validation (wal_valid.h): the codec's rules (rc_utf8_valid, the RC_MAX_*
 * limits) and PostgreSQL's (well-formed UTF-8 without NUL, bigint ranges) applied to a
 * record as the log holds it.
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

/* The number of bytes of the UTF-8 sequence at s (at most len bytes), 0 when it is not
 * well formed (a stray continuation byte, a lead byte C0/C1/F5..FF, an overlong form, a
 * surrogate, above U+10FFFF, cut short). */
static size_t
utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0; /* overlong below U+0800 */
	else if (c == 0xED)
		hi = 0x9F; /* U+D800..U+DFFF: surrogates */
	else if (c == 0xF0)
		lo = 0x90; /* overlong below U+10000 */
	else if (c == 0xF4)
		hi = 0x8F; /* above U+10FFFF */
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k < n; k++)
		if ((s[k] & 0xC0) != 0x80)
			return 0;
	return n;
}

bool
rc_wal_text_storable(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		size_t n = p[i] == 0 ? 0 : utf8_seq(p + i, len - i);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

bool
rc_wal_room_name_storable(const char *name, size_t len)
{
	return len >= 1 && len <= RC_MAX_ROOM && rc_wal_text_storable(name, len);
}

/* The checks both levels share: kind, ranges, lengths. */
static bool
rec_ranges(const struct rc_wal_logrec *r, const char **why)
{
	if (r->kind != RC_WAL_MSG && r->kind != RC_WAL_ROOM)
		return fail(why, "unknown record kind");
	if (r->kind == RC_WAL_MSG && (r->seq < 1 || r->seq > (uint64_t)RC_WAL_SEQ_MAX))
		return fail(why, "seq out of range (1..2^63 - 1)");
	if (r->ts_ms > (uint64_t)RC_WAL_SEQ_MAX)
		return fail(why, "ts_ms out of range (above 2^63 - 1)");
	if (r->user.len > RC_MAX_USER)
		return fail(why, "user name longer than 64 bytes");
	if (r->kind == RC_WAL_ROOM)
		return r->body.len >= 1 && r->body.len <= RC_MAX_ROOM ?
			       true : fail(why, "room name length out of range (1..200)");
	if (r->body.len > RC_MAX_BODY)
		return fail(why, "body longer than 1200 bytes");
	return true;
}

bool
rc_wal_rec_storable(const struct rc_wal_logrec *r, const char **why)
{
	if (!rec_ranges(r, why))
		return false;
	if (r->body.len > 0 && memchr(r->body.p, '\0', r->body.len) != NULL)
		return fail(why, r->kind == RC_WAL_MSG ? "body holds a NUL byte" :
							 "room name holds a NUL byte");
	if (!rc_wal_text_storable(r->body.p, r->body.len))
		return fail(why, r->kind == RC_WAL_MSG ? "body is not valid UTF-8" :
							 "room name is not valid UTF-8");
	if (!rc_wal_text_storable(r->user.p, r->user.len))
		return fail(why, "user name is not valid UTF-8 (or holds a NUL byte)");
	return true;
}

bool
rc_wal_rec_valid(const struct rc_wal_logrec *r, const char **why)
{
	if (!rc_wal_rec_storable(r, why))
		return false;
	if (!rc_utf8_valid(r->user.p, r->user.len, false))
		return fail(why, "user name holds a control character");
	if (r->kind == RC_WAL_ROOM)
		return rc_utf8_valid(r->body.p, r->body.len, false) ?
			       true : fail(why, "room name holds a control character");
	if (r->user.len < 1)
		return fail(why, "empty user name");
	if (r->body.len < 1)
		return fail(why, "empty body");
	if (!rc_utf8_valid(r->body.p, r->body.len, true))
		return fail(why, "body holds a control character other than TAB, LF, CR");
	return true;
}
