/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the wire codec (dataplane/proto.c).
 *
 * The input is one datagram. Every message of the bundle is decoded in turn; each one that
 * decodes must re-encode to exactly the bytes it came from (the encoding is canonical), and
 * the re-encoding must decode to the same message. Failures return a known error code and
 * a consumed length that lets the walk move on (or stop, for -EPROTO). rc_utf8_valid is
 * also checked against a slow reference validator written from the definition.
 *
 * Built as fuzz.h says (libFuzzer, or replay.c over tests/fuzz/corpus/proto/). Single-threaded.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"

/* Reference UTF-8 check: decode each code point naively, then test the rules. */
static bool
ref_utf8_valid(const uint8_t *s, size_t len, bool allow_newlines)
{
	static const uint32_t min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };

	for (size_t i = 0; i < len;) {
		unsigned n = s[i] < 0x80 ? 1 : s[i] >> 5 == 6 ? 2 : s[i] >> 4 == 14 ? 3
			   : s[i] >> 3 == 30 ? 4 : 0;
		uint32_t cp = n == 1 ? s[i] : s[i] & (0x7f >> n);

		if (n == 0 || len - i < n)
			return false;
		for (unsigned k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		if (cp < 0x20 && !(allow_newlines && (cp == 9 || cp == 10 || cp == 13)))
			return false;
		i += n;
	}
	return true;
}

/* The same for ROOM_LIST entries. */
static void
rooms_from_raw(struct rc_msg *m)
{
	static struct rc_room_entry rooms[UINT16_MAX];
	size_t off = 0, n = 0;

	while (n < UINT16_MAX && rc_room_list_next(m, &off, &rooms[n].room, &rooms[n].last_seq))
		n++;
	CHECK(n == m->u.room_list.count);
	CHECK(off == m->u.room_list.raw_len);
	m->u.room_list.rooms = rooms;
}

/* The encoder takes MEMBER_LIST names as an array; the decoder leaves them raw. */
static void
users_from_raw(struct rc_msg *m, struct rc_str *users, size_t cap)
{
	size_t off = 0, n = 0;

	if (m->hdr.type == RC_T_ROOM_LIST)
		rooms_from_raw(m);
	if (m->hdr.type != RC_T_MEMBER_LIST)
		return;
	while (n < cap && rc_member_list_next(m, &off, &users[n]))
		n++;
	CHECK(n == m->u.member_list.count);
	CHECK(off == m->u.member_list.raw_len);
	m->u.member_list.users = users;
}

static void
check_reencode(const uint8_t *orig, size_t len, struct rc_msg *m)
{
	static uint8_t buf[RC_HDR_LEN + UINT16_MAX], buf2[RC_HDR_LEN + UINT16_MAX];
	static struct rc_str users[UINT16_MAX];
	struct rc_msg again;
	size_t consumed;
	ssize_t n;

	users_from_raw(m, users, UINT16_MAX);
	n = rc_encoded_len(m);
	CHECK(n >= 0 && (size_t)n == len);
	CHECK(rc_encode(buf, (size_t)n - 1, m) == -ENOSPC);
	CHECK(rc_encode(buf, sizeof(buf), m) == n);
	CHECK(memcmp(buf, orig, len) == 0);
	CHECK(rc_decode(buf, (size_t)n, &again, &consumed) == 0);
	CHECK(consumed == len);
	CHECK(again.hdr.type == m->hdr.type && again.hdr.flags == m->hdr.flags);
	CHECK(again.hdr.body_len == m->hdr.body_len && again.hdr.session == m->hdr.session);
	CHECK(again.hdr.request_id == m->hdr.request_id);
	users_from_raw(&again, users, UINT16_MAX);
	CHECK(rc_encode(buf2, sizeof(buf2), &again) == n && memcmp(buf2, orig, len) == 0);
}

static void
check_error(int rc, size_t consumed, size_t left)
{
	CHECK(rc == -EPROTO || rc == -EBADMSG || rc == -ENOMSG || rc == -EMSGSIZE ||
	      rc == -EILSEQ);
	CHECK(consumed > 0 && consumed <= left);
	if (rc == -EPROTO)
		CHECK(consumed == left);
	CHECK(rc_decode_err_code(rc) == (rc == -EMSGSIZE ? RC_E_TOO_LARGE : RC_E_BAD_REQUEST));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	CHECK(rc_utf8_valid((const char *)data, size, false) ==
	      ref_utf8_valid(data, size, false));
	CHECK(rc_utf8_valid((const char *)data, size, true) ==
	      ref_utf8_valid(data, size, true));
	while (off < size) {
		struct rc_msg m;
		size_t consumed = 0;
		int rc = rc_decode(data + off, size - off, &m, &consumed);

		if (rc == 0) {
			CHECK(consumed >= RC_HDR_LEN && consumed <= size - off);
			check_reencode(data + off, consumed, &m);
		} else {
			check_error(rc, consumed, size - off);
		}
		off += consumed;
	}
	return 0;
}
