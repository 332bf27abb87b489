/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of storage/wal_valid.c: the product's rules for a WAL record
 * (rc_wal_rec_valid, for the HA replica) and PostgreSQL's (rc_wal_rec_storable, for the
 * drainer). No LMDB, no EAL: pure functions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wal_valid.h"

static struct rc_wal_logrec
msg(const char *user, const char *body, size_t body_len)
{
	return (struct rc_wal_logrec){
		.lsn = 1, .kind = RC_WAL_MSG, .room_id = 1, .seq = 1, .ts_ms = 1700000000000ull,
		.cmid = 5, .user = { user, (uint16_t)strlen(user) },
		.body = { body, (uint16_t)body_len },
	};
}

static struct rc_wal_logrec
room(const char *creator, const char *name, size_t len)
{
	struct rc_wal_logrec r = msg(creator, name, len);

	r.kind = RC_WAL_ROOM;
	r.seq = 0;
	r.cmid = 0;
	return r;
}

/* valid: both levels; storable: PostgreSQL's level only */
static void
check(const struct rc_wal_logrec *r, bool valid, bool storable, const char *why_part)
{
	const char *why = NULL;

	assert_int_equal(rc_wal_rec_storable(r, &why), storable);
	if (!storable) {
		assert_non_null(why);
		if (why_part != NULL && strstr(why, why_part) == NULL)
			fail_msg("reason \"%s\" lacks \"%s\"", why, why_part);
	}
	why = NULL;
	assert_int_equal(rc_wal_rec_valid(r, &why), valid);
	if (!valid) {
		assert_non_null(why);
		if (storable && why_part != NULL && strstr(why, why_part) == NULL)
			fail_msg("reason \"%s\" lacks \"%s\"", why, why_part);
	}
}

static void
test_messages(void **state)
{
	static char big[RC_MAX_BODY + 2];
	struct rc_wal_logrec r;

	(void)state;
	r = msg("alice", "hello \xf0\x9f\x91\x8b\ttab\r\n", 15);
	check(&r, true, true, NULL);
	/* a NUL byte: neither (PostgreSQL text cannot hold it) */
	r = msg("alice", "a\0b", 3);
	check(&r, false, false, "NUL");
	/* bad UTF-8: stray continuation, overlong, surrogate, above U+10FFFF, cut short */
	r = msg("alice", "\x80", 1);
	check(&r, false, false, "UTF-8");
	r = msg("alice", "\xc0\xaf", 2);
	check(&r, false, false, "UTF-8");
	r = msg("alice", "\xe0\x80\xaf", 3);
	check(&r, false, false, "UTF-8");
	r = msg("alice", "\xed\xa0\x80", 3);
	check(&r, false, false, "UTF-8");
	r = msg("alice", "\xf4\x90\x80\x80", 4);
	check(&r, false, false, "UTF-8");
	r = msg("alice", "ok\xe2\x82", 4);
	check(&r, false, false, "UTF-8");
	/* the edges that are fine: U+10FFFF, U+FFFF, U+0080 */
	r = msg("alice", "\xf4\x8f\xbf\xbf\xef\xbf\xbf\xc2\x80", 9);
	check(&r, true, true, NULL);
	/* a control character other than TAB LF CR: storable, not valid */
	r = msg("alice", "bell\x07", 5);
	check(&r, false, true, "control");
	/* empty body, empty user: storable, not valid */
	r = msg("alice", "", 0);
	check(&r, false, true, "empty body");
	r = msg("", "hi", 2);
	check(&r, false, true, "empty user");
	/* a user with a control character, or bad UTF-8 */
	r = msg("al\tice", "hi", 2);
	check(&r, false, true, "control");
	r = msg("al\xffice", "hi", 2);
	check(&r, false, false, "user");
	/* lengths */
	memset(big, 'x', sizeof(big));
	r = msg("alice", big, RC_MAX_BODY);
	check(&r, true, true, NULL);
	r = msg("alice", big, RC_MAX_BODY + 1);
	check(&r, false, false, "1200");
	r = msg("alice", "hi", 2);
	r.user = (struct rc_str){ big, RC_MAX_USER + 1 };
	check(&r, false, false, "64");
	/* seq 1 .. 2^63 - 1, ts_ms <= 2^63 - 1 */
	r = msg("alice", "hi", 2);
	r.seq = 0;
	check(&r, false, false, "seq");
	r.seq = (uint64_t)INT64_MAX;
	check(&r, true, true, NULL);
	r.seq = (uint64_t)INT64_MAX + 1;
	check(&r, false, false, "seq");
	r.seq = 1;
	r.ts_ms = (uint64_t)INT64_MAX + 1;
	check(&r, false, false, "ts_ms");
	/* any cmid (stored as two's complement) */
	r.ts_ms = 1;
	r.cmid = UINT64_MAX;
	check(&r, true, true, NULL);
	r.kind = 9;
	check(&r, false, false, "kind");
}

static void
test_rooms(void **state)
{
	static char big[RC_MAX_ROOM + 2];
	struct rc_wal_logrec r;

	(void)state;
	r = room("alice", "lobby", 5);
	check(&r, true, true, NULL);
	r = room("", "lobby", 5); /* no creator: fine */
	check(&r, true, true, NULL);
	r = room("alice", "", 0);
	check(&r, false, false, "room name");
	r = room("alice", "lo\0bby", 6);
	check(&r, false, false, "NUL");
	r = room("alice", "lo\nbby", 6);
	check(&r, false, true, "control");
	memset(big, 'r', sizeof(big));
	r = room("alice", big, RC_MAX_ROOM);
	check(&r, true, true, NULL);
	r = room("alice", big, RC_MAX_ROOM + 1);
	check(&r, false, false, "room name");
	assert_true(rc_wal_room_name_storable("lobby", 5));
	assert_false(rc_wal_room_name_storable("", 0));
	assert_false(rc_wal_room_name_storable("\xff", 1));
	assert_true(rc_wal_text_storable("", 0));
	assert_false(rc_wal_text_storable("\0", 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_rooms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
