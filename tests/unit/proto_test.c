/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the wire codec (dataplane/proto.c): round trips of every message type,
 * every malformed input the decoder must refuse, bundles, encoder limits and the name
 * tables. Malformed datagrams are built byte by byte here, independently of the encoder.
 * Single-threaded.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

/* ---- A byte builder for hand-made datagrams ---- */

struct dg {
	uint8_t b[4096];
	size_t len;
	size_t msg_start; /* offset of the header of the message being built */
};

static void
put(struct dg *d, const void *p, size_t n)
{
	assert_true(d->len + n <= sizeof(d->b));
	memcpy(d->b + d->len, p, n);
	d->len += n;
}

static void
put_u8(struct dg *d, uint8_t v)
{
	put(d, &v, 1);
}

static void
put_u16(struct dg *d, uint16_t v)
{
	uint8_t b[2] = { v >> 8, v & 0xff };

	put(d, b, 2);
}

static void
put_u32(struct dg *d, uint32_t v)
{
	put_u16(d, v >> 16);
	put_u16(d, v & 0xffff);
}

static void
put_u64(struct dg *d, uint64_t v)
{
	put_u32(d, v >> 32);
	put_u32(d, v & 0xffffffff);
}

static void
put_str8(struct dg *d, const char *s, size_t n)
{
	put_u8(d, (uint8_t)n);
	put(d, s, n);
}

static void
put_str16(struct dg *d, const char *s, size_t n)
{
	put_u16(d, (uint16_t)n);
	put(d, s, n);
}

/* Starts a message; body_len is patched by end_msg(). */
static void
begin_msg(struct dg *d, uint8_t type)
{
	d->msg_start = d->len;
	put_u16(d, RC_MAGIC);
	put_u8(d, RC_VERSION);
	put_u8(d, type);
	put_u8(d, 0);   /* flags */
	put_u8(d, 0);   /* reserved */
	put_u16(d, 0);  /* body_len, patched */
	put_u64(d, 0x1122334455667788ull);
	put_u32(d, 0xabcdef01);
}

static void
end_msg(struct dg *d)
{
	size_t body = d->len - d->msg_start - RC_HDR_LEN;

	d->b[d->msg_start + 6] = (uint8_t)(body >> 8);
	d->b[d->msg_start + 7] = (uint8_t)body;
}

static int
decode_all(const struct dg *d, struct rc_msg *m, size_t *consumed)
{
	return rc_decode(d->b, d->len, m, consumed);
}

/* A PING message, the simplest valid one. */
static void
add_ping(struct dg *d, uint64_t nonce)
{
	begin_msg(d, RC_T_PING);
	put_u64(d, nonce);
	end_msg(d);
}

static void
add_login(struct dg *d, const char *user, size_t ulen, const char *tok, size_t tlen)
{
	begin_msg(d, RC_T_LOGIN);
	put_str8(d, user, ulen);
	put_str8(d, tok, tlen);
	end_msg(d);
}

static void
add_post(struct dg *d, const char *room, size_t rlen, uint64_t cmid, const char *body,
	 size_t blen)
{
	begin_msg(d, RC_T_POST);
	put_str8(d, room, rlen);
	put_u64(d, cmid);
	put_str16(d, body, blen);
	end_msg(d);
}

/* Expects rc and consumed for a single message datagram. */
static void
expect_rc(const struct dg *d, int want, size_t want_consumed)
{
	struct rc_msg m;
	size_t consumed = 12345;

	assert_int_equal(decode_all(d, &m, &consumed), want);
	assert_int_equal(consumed, want_consumed);
}

static char big[2048];

static const char *
fill(char c, size_t n)
{
	assert_true(n <= sizeof(big));
	memset(big, c, n);
	return big;
}

static struct rc_str
S(const char *s)
{
	return (struct rc_str){ s, (uint16_t)strlen(s) };
}

/* ---- Round trips ---- */

static const struct rc_str sample_users[] = { { "alice", 5 }, { "bob", 3 }, { "\xc3\xa9ve", 4 } };
static const struct rc_room_entry sample_rooms[] = {
	{ { "lobby@tc-1a.cluster1", 20 }, 1001 },
	{ { "caf\xc3\xa9@tc-1b", 11 }, 0 },
};

/* One valid message of each node-to-node type (RJOIN..RMEMBERS) in m. */
static void
sample_relay(struct rc_msg *m)
{
	switch (m->hdr.type) {
	case RC_T_RJOIN:
		m->u.rjoin.alias = 0x80000001u;
		m->u.rjoin.since_seq = 42;
		m->u.rjoin.user = S("alice");
		m->u.rjoin.room = S("lobby@tc-1a.cluster1");
		break;
	case RC_T_RJOINED:
		m->u.rjoined.alias = 0x80000001u;
		m->u.rjoined.room_id = 7;
		m->u.rjoined.last_seq = 1000;
		break;
	case RC_T_RPOST:
		m->u.rpost.room_id = 7;
		m->u.rpost.alias = 0x80000001u;
		m->u.rpost.cmid = 5;
		m->u.rpost.user = S("alice");
		m->u.rpost.body = S("hi\nthere");
		break;
	case RC_T_RFETCH:
		m->u.rfetch.room_id = 7;
		m->u.rfetch.alias = 0x80000001u;
		m->u.rfetch.from_seq = 900;
		m->u.rfetch.max = 100;
		break;
	default: /* RLEAVE, RMEMBERS */
		m->u.rref.room_id = 7;
		m->u.rref.alias = 0x80000001u;
		break;
	}
}

/* One valid message of each type. */
static struct rc_msg
sample(uint8_t type)
{
	struct rc_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = type;
	m.hdr.session = 0x0102030405060708ull;
	m.hdr.request_id = 0x99aabbcc;
	switch (type) {
	case RC_T_LOGIN:
		m.u.login.user = S("alice");
		m.u.login.token = S("1700000000.0123456789abcdef");
		break;
	case RC_T_LOGIN_COOKIE:
		m.u.login.user = S("alice");
		m.u.login.token = S("1700000000.0123456789abcdef");
		m.u.login.cookie_slot = 110399;
		m.u.login.cookie_mac = 0x0c00c1e5a1ad5eedull;
		break;
	case RC_T_COOKIE:
		m.u.cookie.slot = 110399;
		m.u.cookie.mac = 0x0c00c1e5a1ad5eedull;
		break;
	case RC_T_LOGIN_OK:
		m.u.login_ok.session = 0xfeedfacecafebeefull;
		m.u.login_ok.idle_timeout_s = 120;
		break;
	case RC_T_JOIN:
		m.u.join.room = S("lobby");
		m.u.join.since_seq = 42;
		break;
	case RC_T_JOINED:
		m.u.joined.room = S("lobby");
		m.u.joined.room_id = 7;
		m.u.joined.last_seq = 1000;
		m.u.joined.members = 3;
		break;
	case RC_T_LEAVE:
		m.u.leave.room = S("lobby");
		break;
	case RC_T_LEFT:
		m.u.left.room_id = 7;
		break;
	case RC_T_POST:
		m.u.post.room = S("lobby");
		m.u.post.cmid = 1;
		m.u.post.body = S("hello\tworld\r\n\xe2\x82\xac");
		break;
	case RC_T_ACK:
		m.u.ack.room_id = 7;
		m.u.ack.cmid = 1;
		m.u.ack.seq = 1001;
		break;
	case RC_T_DELIVER:
		m.u.deliver.room_id = 7;
		m.u.deliver.seq = 1001;
		m.u.deliver.ts_ms = 1700000000123ull;
		m.u.deliver.cmid = 1;
		m.u.deliver.sender = S("alice");
		m.u.deliver.body = S("hello");
		break;
	case RC_T_FETCH:
		m.u.fetch.room = S("lobby");
		m.u.fetch.from_seq = 900;
		m.u.fetch.max = 100;
		break;
	case RC_T_FETCH_END:
		m.u.fetch_end.room_id = 7;
		m.u.fetch_end.from_seq = 900;
		m.u.fetch_end.next_seq = 1000;
		m.u.fetch_end.last_seq = 1001;
		m.u.fetch_end.count = 100;
		break;
	case RC_T_MEMBERS:
		m.u.members.room = S("lobby");
		break;
	case RC_T_MEMBER_LIST:
		m.hdr.flags = RC_F_MORE;
		m.u.member_list.room_id = 7;
		m.u.member_list.count = 3;
		m.u.member_list.users = sample_users;
		break;
	case RC_T_PING:
	case RC_T_PONG:
		m.u.ping.nonce = 0x0badc0de;
		break;
	case RC_T_ERROR:
		m.u.error.code = RC_E_NOT_MEMBER;
		m.u.error.ref_type = RC_T_POST;
		m.u.error.text = S("not a member");
		break;
	case RC_T_RESUME:
		m.hdr.request_id = 0;
		m.u.resume.node = S("n2");
		m.u.resume.reason = RC_RESUME_FAILOVER;
		break;
	case RC_T_REDIRECT:
		m.hdr.session = 0;
		m.u.redirect.node = S("1b");
		m.u.redirect.ip = 0xC0000202u; /* 192.0.2.2 */
		m.u.redirect.udp_port = RC_DEFAULT_UDP_PORT;
		break;
	case RC_T_RJOIN:
	case RC_T_RJOINED:
	case RC_T_RPOST:
	case RC_T_RFETCH:
	case RC_T_RLEAVE:
	case RC_T_RMEMBERS:
		sample_relay(&m);
		break;
	case RC_T_ROOMS:
		m.u.rooms.prefix = S("lobby@");
		break;
	case RC_T_ROOM_LIST:
		m.hdr.flags = RC_F_MORE;
		m.u.room_list.count = 2;
		m.u.room_list.rooms = sample_rooms;
		break;
	default: /* LOGOUT, BYE: empty body */
		break;
	}
	return m;
}

static void
assert_str_eq(struct rc_str a, struct rc_str b)
{
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.p, b.p, a.len);
}

/* The types of the room directory, REDIRECT and the node-to-node ones: every field. */
static void
assert_relay_eq(const struct rc_msg *a, const struct rc_msg *d)
{
	switch (a->hdr.type) {
	case RC_T_REDIRECT:
		assert_str_eq(a->u.redirect.node, d->u.redirect.node);
		assert_int_equal(a->u.redirect.ip, d->u.redirect.ip);
		assert_int_equal(a->u.redirect.udp_port, d->u.redirect.udp_port);
		break;
	case RC_T_RJOIN:
		assert_int_equal(a->u.rjoin.alias, d->u.rjoin.alias);
		assert_int_equal(a->u.rjoin.since_seq, d->u.rjoin.since_seq);
		assert_str_eq(a->u.rjoin.user, d->u.rjoin.user);
		assert_str_eq(a->u.rjoin.room, d->u.rjoin.room);
		break;
	case RC_T_RJOINED:
		assert_int_equal(a->u.rjoined.alias, d->u.rjoined.alias);
		assert_int_equal(a->u.rjoined.room_id, d->u.rjoined.room_id);
		assert_int_equal(a->u.rjoined.last_seq, d->u.rjoined.last_seq);
		break;
	case RC_T_RPOST:
		assert_int_equal(a->u.rpost.room_id, d->u.rpost.room_id);
		assert_int_equal(a->u.rpost.alias, d->u.rpost.alias);
		assert_int_equal(a->u.rpost.cmid, d->u.rpost.cmid);
		assert_str_eq(a->u.rpost.user, d->u.rpost.user);
		assert_str_eq(a->u.rpost.body, d->u.rpost.body);
		break;
	case RC_T_RFETCH:
		assert_int_equal(a->u.rfetch.room_id, d->u.rfetch.room_id);
		assert_int_equal(a->u.rfetch.alias, d->u.rfetch.alias);
		assert_int_equal(a->u.rfetch.from_seq, d->u.rfetch.from_seq);
		assert_int_equal(a->u.rfetch.max, d->u.rfetch.max);
		break;
	case RC_T_RLEAVE:
	case RC_T_RMEMBERS:
		assert_int_equal(a->u.rref.room_id, d->u.rref.room_id);
		assert_int_equal(a->u.rref.alias, d->u.rref.alias);
		break;
	case RC_T_ROOMS:
		assert_str_eq(a->u.rooms.prefix, d->u.rooms.prefix);
		break;
	case RC_T_ROOM_LIST:
		assert_int_equal(a->u.room_list.count, d->u.room_list.count);
		break;
	case RC_T_LOGIN_COOKIE:
		assert_str_eq(a->u.login.user, d->u.login.user);
		assert_str_eq(a->u.login.token, d->u.login.token);
		assert_int_equal(a->u.login.cookie_slot, d->u.login.cookie_slot);
		assert_int_equal(a->u.login.cookie_mac, d->u.login.cookie_mac);
		break;
	case RC_T_COOKIE:
		assert_int_equal(a->u.cookie.slot, d->u.cookie.slot);
		assert_int_equal(a->u.cookie.mac, d->u.cookie.mac);
		break;
	default:
		break;
	}
}

static void
assert_body_eq(const struct rc_msg *a, const struct rc_msg *d)
{
	switch (a->hdr.type) {
	case RC_T_LOGIN:
		assert_str_eq(a->u.login.user, d->u.login.user);
		assert_str_eq(a->u.login.token, d->u.login.token);
		break;
	case RC_T_POST:
		assert_str_eq(a->u.post.room, d->u.post.room);
		assert_int_equal(a->u.post.cmid, d->u.post.cmid);
		assert_str_eq(a->u.post.body, d->u.post.body);
		break;
	case RC_T_DELIVER:
		assert_int_equal(a->u.deliver.seq, d->u.deliver.seq);
		assert_int_equal(a->u.deliver.ts_ms, d->u.deliver.ts_ms);
		assert_str_eq(a->u.deliver.sender, d->u.deliver.sender);
		assert_str_eq(a->u.deliver.body, d->u.deliver.body);
		break;
	case RC_T_FETCH_END:
		assert_int_equal(a->u.fetch_end.next_seq, d->u.fetch_end.next_seq);
		assert_int_equal(a->u.fetch_end.last_seq, d->u.fetch_end.last_seq);
		assert_int_equal(a->u.fetch_end.count, d->u.fetch_end.count);
		break;
	case RC_T_ERROR:
		assert_int_equal(a->u.error.code, d->u.error.code);
		assert_int_equal(a->u.error.ref_type, d->u.error.ref_type);
		assert_str_eq(a->u.error.text, d->u.error.text);
		break;
	case RC_T_RESUME:
		assert_str_eq(a->u.resume.node, d->u.resume.node);
		assert_int_equal(a->u.resume.reason, d->u.resume.reason);
		break;
	default:
		assert_relay_eq(a, d);
		break;
	}
}

/* A decoded ROOM_LIST carries raw entries; the encoder takes an array of entries. */
static void
rooms_from_raw(struct rc_msg *d, struct rc_room_entry *rooms, size_t cap)
{
	size_t off = 0, i = 0;

	while (i < cap && rc_room_list_next(d, &off, &rooms[i].room, &rooms[i].last_seq))
		i++;
	assert_int_equal(i, d->u.room_list.count);
	d->u.room_list.rooms = rooms;
}

/* A decoded MEMBER_LIST carries raw entries; the encoder takes an array of names. */
static void
users_from_raw(struct rc_msg *d, struct rc_str *users, size_t cap)
{
	static struct rc_room_entry rooms[8];
	size_t off = 0, i = 0;

	if (d->hdr.type == RC_T_ROOM_LIST)
		rooms_from_raw(d, rooms, 8);
	if (d->hdr.type != RC_T_MEMBER_LIST)
		return;
	while (i < cap && rc_member_list_next(d, &off, &users[i]))
		i++;
	assert_int_equal(i, d->u.member_list.count);
	d->u.member_list.users = users;
}

static void
roundtrip(uint8_t type)
{
	struct rc_msg a = sample(type), d, d2;
	uint8_t buf[RC_MAX_DGRAM + 1], buf2[RC_MAX_DGRAM];
	struct rc_str users[8];
	ssize_t n, n2;
	size_t consumed;

	n = rc_encode(buf + 1, RC_MAX_DGRAM, &a); /* +1: unaligned on purpose */
	assert_true(n >= RC_HDR_LEN);
	assert_int_equal(n, rc_encoded_len(&a));
	assert_int_equal(rc_decode(buf + 1, (size_t)n, &d, &consumed), 0);
	assert_int_equal(consumed, n);
	assert_int_equal(d.hdr.type, type);
	assert_int_equal(d.hdr.version, RC_VERSION);
	assert_int_equal(d.hdr.flags, a.hdr.flags);
	assert_int_equal(d.hdr.body_len, n - RC_HDR_LEN);
	assert_int_equal(d.hdr.session, a.hdr.session);
	assert_int_equal(d.hdr.request_id, a.hdr.request_id);
	assert_body_eq(&a, &d);
	users_from_raw(&d, users, 8);
	n2 = rc_encode(buf2, sizeof(buf2), &d);
	assert_int_equal(n2, n);
	assert_memory_equal(buf + 1, buf2, (size_t)n);
	assert_int_equal(rc_decode(buf2, (size_t)n2, &d2, &consumed), 0);
}

static void
test_roundtrip_all_types(void **state)
{
	(void)state;
	for (unsigned t = RC_T_LOGIN; t < RC_T_MAX; t++)
		roundtrip((uint8_t)t);
}

/* A decoded message moved onto a copy of its bytes (rc_msg_rebase) reads only the copy:
 * with the original scribbled over, it encodes to the same bytes. */
static void
test_rebase_all_types(void **state)
{
	(void)state;
	for (unsigned t = RC_T_LOGIN; t < RC_T_MAX; t++) {
		struct rc_msg a = sample((uint8_t)t), d;
		uint8_t buf[RC_MAX_DGRAM], copy[RC_MAX_DGRAM], again[RC_MAX_DGRAM];
		struct rc_str users[8];
		size_t consumed;
		ssize_t n;

		n = rc_encode(buf, sizeof(buf), &a);
		assert_true(n >= RC_HDR_LEN);
		assert_int_equal(rc_decode(buf, (size_t)n, &d, &consumed), 0);
		memcpy(copy, buf, (size_t)n);
		rc_msg_rebase(&d, buf, copy);
		memset(buf, 0xAA, sizeof(buf));
		users_from_raw(&d, users, 8);
		assert_int_equal(rc_encode(again, sizeof(again), &d), n);
		assert_memory_equal(again, copy, (size_t)n);
	}
}

static void
test_roundtrip_member_list(void **state)
{
	struct rc_msg a = sample(RC_T_MEMBER_LIST), d;
	uint8_t buf[256];
	size_t consumed, off = 0;
	struct rc_str u;
	unsigned i = 0;
	ssize_t n;

	(void)state;
	n = rc_encode(buf, sizeof(buf), &a);
	assert_int_equal(n, RC_HDR_LEN + 4 + 2 + 6 + 4 + 5);
	assert_int_equal(rc_decode(buf, (size_t)n, &d, &consumed), 0);
	assert_int_equal(d.hdr.flags, RC_F_MORE);
	assert_int_equal(d.u.member_list.room_id, 7);
	assert_int_equal(d.u.member_list.count, 3);
	while (rc_member_list_next(&d, &off, &u))
		assert_str_eq(u, sample_users[i++]);
	assert_int_equal(i, 3);
	assert_false(rc_member_list_next(&d, &off, &u));
}

static void
test_member_list_empty(void **state)
{
	struct rc_msg a = sample(RC_T_MEMBER_LIST), d;
	uint8_t buf[64];
	size_t consumed, off = 0;
	struct rc_str u;

	(void)state;
	a.u.member_list.count = 0;
	a.u.member_list.users = NULL;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), RC_HDR_LEN + 6);
	assert_int_equal(rc_decode(buf, RC_HDR_LEN + 6, &d, &consumed), 0);
	assert_false(rc_member_list_next(&d, &off, &u));
}

static void
test_empty_bodies(void **state)
{
	uint8_t buf[64];
	struct rc_msg a = sample(RC_T_LOGOUT), d;
	size_t consumed;

	(void)state;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), RC_HDR_LEN);
	assert_int_equal(rc_decode(buf, RC_HDR_LEN, &d, &consumed), 0);
	assert_int_equal(d.hdr.body_len, 0);
	a = sample(RC_T_BYE);
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), RC_HDR_LEN);
}

static void
test_error_empty_text(void **state)
{
	struct rc_msg a = sample(RC_T_ERROR), d;
	uint8_t buf[64];
	size_t consumed;

	(void)state;
	a.u.error.text = (struct rc_str){ NULL, 0 };
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), 24);
	assert_int_equal(rc_decode(buf, 24, &d, &consumed), 0);
	assert_int_equal(d.u.error.text.len, 0);
}

/* ---- Header errors ---- */

static void
test_bad_magic(void **state)
{
	struct dg d = { 0 };

	(void)state;
	add_ping(&d, 1);
	add_ping(&d, 2);
	d.b[0] = 'X';
	expect_rc(&d, -EPROTO, d.len);
}

static void
test_bad_version(void **state)
{
	struct dg d = { 0 };
	struct rc_msg m;
	size_t consumed;

	(void)state;
	add_ping(&d, 1);
	add_ping(&d, 2);
	d.b[2] = 2;
	assert_int_equal(decode_all(&d, &m, &consumed), -EPROTO);
	assert_int_equal(consumed, d.len);
	assert_int_equal(m.hdr.version, 2); /* header readable: filled */
}

static void
test_reserved_nonzero(void **state)
{
	struct dg d = { 0 };

	(void)state;
	add_ping(&d, 1);
	add_ping(&d, 2);
	d.b[5] = 1;
	expect_rc(&d, -EBADMSG, RC_HDR_LEN + 8);
}

static void
test_unknown_flags(void **state)
{
	static const uint8_t bad[] = { 0x02, 0x04, 0x80, 0xff };

	(void)state;
	for (size_t i = 0; i < sizeof(bad); i++) {
		struct dg d = { 0 };

		add_ping(&d, 1);
		d.b[4] = bad[i];
		expect_rc(&d, -EBADMSG, RC_HDR_LEN + 8);
	}
}

static void
test_truncated_header(void **state)
{
	struct dg d = { 0 };
	struct rc_msg m;
	size_t consumed;

	(void)state;
	add_ping(&d, 1);
	for (size_t len = 0; len < RC_HDR_LEN; len++) {
		assert_int_equal(rc_decode(d.b, len, &m, &consumed), -EBADMSG);
		assert_int_equal(consumed, len);
	}
}

static void
test_truncated_body(void **state)
{
	struct dg d = { 0 };

	(void)state;
	begin_msg(&d, RC_T_PING);
	put_u32(&d, 1); /* a u64 nonce cut short, body_len = 4 */
	end_msg(&d);
	expect_rc(&d, -EBADMSG, RC_HDR_LEN + 4);

	memset(&d, 0, sizeof(d));
	begin_msg(&d, RC_T_LOGIN);
	put_str8(&d, "alice", 5);
	put_u8(&d, 10); /* token says 10 bytes, 3 follow */
	put(&d, "abc", 3);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
}

static void
test_body_len_beyond_datagram(void **state)
{
	struct dg d = { 0 };
	struct rc_msg m;
	size_t consumed;

	(void)state;
	add_ping(&d, 1);
	assert_int_equal(rc_decode(d.b, d.len - 1, &m, &consumed), -EBADMSG);
	assert_int_equal(consumed, d.len - 1);
	assert_int_equal(m.hdr.type, RC_T_PING); /* header readable: filled */
	d.b[6] = 0xff;
	expect_rc(&d, -EBADMSG, d.len);
}

static void
test_leftover_bytes(void **state)
{
	struct dg d = { 0 };

	(void)state;
	begin_msg(&d, RC_T_PING);
	put_u64(&d, 1);
	put_u8(&d, 0);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, RC_HDR_LEN + 9);

	memset(&d, 0, sizeof(d));
	begin_msg(&d, RC_T_LOGOUT);
	put_u8(&d, 0);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, RC_HDR_LEN + 1);
}

static void
test_unknown_type_continues(void **state)
{
	static const uint8_t types[] = { RC_T_INVALID, RC_T_MAX, 200, 255 };

	(void)state;
	for (size_t i = 0; i < sizeof(types); i++) {
		struct dg d = { 0 };
		struct rc_msg m;
		size_t consumed;

		begin_msg(&d, types[i]);
		put_u32(&d, 5);
		end_msg(&d);
		add_ping(&d, 77);
		assert_int_equal(decode_all(&d, &m, &consumed), -ENOMSG);
		assert_int_equal(consumed, RC_HDR_LEN + 4);
		assert_int_equal(m.hdr.type, types[i]);
		assert_int_equal(rc_decode(d.b + consumed, d.len - consumed, &m, &consumed), 0);
		assert_int_equal(m.u.ping.nonce, 77);
	}
}

/* ---- String limits ---- */

static const char tok_ok[] = "1700000000.abcdef";

static void
test_login_limits(void **state)
{
	struct dg d = { 0 };

	(void)state;
	add_login(&d, fill('u', RC_MAX_USER), RC_MAX_USER, tok_ok, strlen(tok_ok));
	expect_rc(&d, 0, d.len);
	memset(&d, 0, sizeof(d));
	add_login(&d, fill('u', RC_MAX_USER + 1), RC_MAX_USER + 1, tok_ok, strlen(tok_ok));
	expect_rc(&d, -EMSGSIZE, d.len);
	memset(&d, 0, sizeof(d));
	add_login(&d, "", 0, tok_ok, strlen(tok_ok));
	expect_rc(&d, -EBADMSG, d.len);
	memset(&d, 0, sizeof(d));
	add_login(&d, "alice", 5, fill('t', RC_MAX_TOKEN), RC_MAX_TOKEN);
	expect_rc(&d, 0, d.len);
	memset(&d, 0, sizeof(d));
	add_login(&d, "alice", 5, fill('t', RC_MAX_TOKEN + 1), RC_MAX_TOKEN + 1);
	expect_rc(&d, -EMSGSIZE, d.len);
	memset(&d, 0, sizeof(d));
	add_login(&d, "alice", 5, "", 0);
	expect_rc(&d, -EBADMSG, d.len);
}

static void
test_token_not_printable(void **state)
{
	static const char *bad[] = { "ab cd", "ab\x7f", "ab\x01", "\xc3\xa9t", "a\tb", "a\0b" };
	static const size_t len[] = { 5, 3, 3, 3, 3, 3 };

	(void)state;
	for (size_t i = 0; i < sizeof(len) / sizeof(len[0]); i++) {
		struct dg d = { 0 };

		add_login(&d, "alice", 5, bad[i], len[i]);
		expect_rc(&d, -EBADMSG, d.len);
	}
}

static void
test_room_limits(void **state)
{
	struct dg d = { 0 };

	(void)state;
	begin_msg(&d, RC_T_JOIN);
	put_str8(&d, fill('r', RC_MAX_ROOM), RC_MAX_ROOM);
	put_u64(&d, 0);
	end_msg(&d);
	expect_rc(&d, 0, d.len);
	memset(&d, 0, sizeof(d));
	begin_msg(&d, RC_T_JOIN);
	put_str8(&d, fill('r', RC_MAX_ROOM + 1), RC_MAX_ROOM + 1);
	put_u64(&d, 0);
	end_msg(&d);
	expect_rc(&d, -EMSGSIZE, d.len);
	memset(&d, 0, sizeof(d));
	begin_msg(&d, RC_T_LEAVE);
	put_str8(&d, "", 0);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
	memset(&d, 0, sizeof(d));
	begin_msg(&d, RC_T_MEMBERS);
	put_str8(&d, fill('r', 255), 255);
	end_msg(&d);
	expect_rc(&d, -EMSGSIZE, d.len);
}

static void
test_post_limits(void **state)
{
	struct dg d = { 0 };

	(void)state;
	add_post(&d, "r", 1, 1, fill('b', RC_MAX_BODY), RC_MAX_BODY);
	expect_rc(&d, 0, d.len);
	memset(&d, 0, sizeof(d));
	add_post(&d, "r", 1, 1, fill('b', RC_MAX_BODY + 1), RC_MAX_BODY + 1);
	expect_rc(&d, -EMSGSIZE, d.len);
	memset(&d, 0, sizeof(d));
	add_post(&d, "r", 1, 1, "", 0);
	expect_rc(&d, -EBADMSG, d.len);
	memset(&d, 0, sizeof(d));
	add_post(&d, "", 0, 1, "x", 1);
	expect_rc(&d, -EBADMSG, d.len);
	memset(&d, 0, sizeof(d));
	add_post(&d, "r", 1, 0, "x", 1); /* cmid 0 */
	expect_rc(&d, -EBADMSG, d.len);
}

static void
add_deliver(struct dg *d, const char *sender, size_t slen, const char *body, size_t blen)
{
	begin_msg(d, RC_T_DELIVER);
	put_u32(d, 1);
	put_u64(d, 2);
	put_u64(d, 3);
	put_u64(d, 4);
	put_str8(d, sender, slen);
	put_str16(d, body, blen);
	end_msg(d);
}

static void
test_deliver_limits(void **state)
{
	struct dg d = { 0 };

	(void)state;
	add_deliver(&d, fill('s', RC_MAX_USER + 1), RC_MAX_USER + 1, "x", 1);
	expect_rc(&d, -EMSGSIZE, d.len);
	memset(&d, 0, sizeof(d));
	add_deliver(&d, "s", 1, fill('b', RC_MAX_BODY + 1), RC_MAX_BODY + 1);
	expect_rc(&d, -EMSGSIZE, d.len);
	memset(&d, 0, sizeof(d));
	add_deliver(&d, "", 0, "x", 1);
	expect_rc(&d, -EBADMSG, d.len);
	memset(&d, 0, sizeof(d));
	add_deliver(&d, "s", 1, "", 0);
	expect_rc(&d, -EBADMSG, d.len);
}

static void
add_error(struct dg *d, uint16_t code, const char *text, size_t tlen)
{
	begin_msg(d, RC_T_ERROR);
	put_u16(d, code);
	put_u8(d, RC_T_POST);
	put_str8(d, text, tlen);
	end_msg(d);
}

static void
test_error_limits(void **state)
{
	struct dg d = { 0 };

	(void)state;
	add_error(&d, RC_E_BUSY, fill('e', RC_MAX_ERRTEXT), RC_MAX_ERRTEXT);
	expect_rc(&d, 0, d.len);
	memset(&d, 0, sizeof(d));
	add_error(&d, RC_E_BUSY, fill('e', RC_MAX_ERRTEXT + 1), RC_MAX_ERRTEXT + 1);
	expect_rc(&d, -EMSGSIZE, d.len);
	memset(&d, 0, sizeof(d));
	add_error(&d, RC_E_NONE, "x", 1);
	expect_rc(&d, -EBADMSG, d.len);
	memset(&d, 0, sizeof(d));
	add_error(&d, RC_E_MAX, "x", 1);
	expect_rc(&d, -EBADMSG, d.len);
}

static void
add_fetch(struct dg *d, uint16_t max)
{
	begin_msg(d, RC_T_FETCH);
	put_str8(d, "lobby", 5);
	put_u64(d, 1);
	put_u16(d, max);
	end_msg(d);
}

static void
test_fetch_max(void **state)
{
	struct dg d = { 0 };

	(void)state;
	add_fetch(&d, 0);
	expect_rc(&d, -EBADMSG, d.len);
	memset(&d, 0, sizeof(d));
	add_fetch(&d, RC_MAX_FETCH + 1);
	expect_rc(&d, -EMSGSIZE, d.len);
	memset(&d, 0, sizeof(d));
	add_fetch(&d, 1);
	expect_rc(&d, 0, d.len);
	memset(&d, 0, sizeof(d));
	add_fetch(&d, RC_MAX_FETCH);
	expect_rc(&d, 0, d.len);
}

static void
test_member_list_malformed(void **state)
{
	struct dg d = { 0 };

	(void)state;
	begin_msg(&d, RC_T_MEMBER_LIST); /* count 3, two entries */
	put_u32(&d, 1);
	put_u16(&d, 3);
	put_str8(&d, "a", 1);
	put_str8(&d, "b", 1);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
	memset(&d, 0, sizeof(d));
	begin_msg(&d, RC_T_MEMBER_LIST); /* count 1, two entries */
	put_u32(&d, 1);
	put_u16(&d, 1);
	put_str8(&d, "a", 1);
	put_str8(&d, "b", 1);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
	memset(&d, 0, sizeof(d));
	begin_msg(&d, RC_T_MEMBER_LIST); /* an empty name */
	put_u32(&d, 1);
	put_u16(&d, 1);
	put_str8(&d, "", 0);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
	memset(&d, 0, sizeof(d));
	begin_msg(&d, RC_T_MEMBER_LIST); /* a name over the limit */
	put_u32(&d, 1);
	put_u16(&d, 1);
	put_str8(&d, fill('u', RC_MAX_USER + 1), RC_MAX_USER + 1);
	end_msg(&d);
	expect_rc(&d, -EMSGSIZE, d.len);
}

/* ---- UTF-8 ---- */

struct utf8_case {
	const char *s;
	size_t len;
	bool ok;
};

#define U(lit, ok) { lit, sizeof(lit) - 1, ok }

static const struct utf8_case utf8_cases[] = {
	U("plain ascii", true),
	U("caf\xc3\xa9", true),
	U("\xe2\x82\xac", true),         /* U+20AC */
	U("\xf0\x9f\x98\x80", true),     /* U+1F600 */
	U("\xed\x9f\xbf", true),         /* U+D7FF, just below the surrogates */
	U("\xee\x80\x80", true),         /* U+E000, just above */
	U("\xf4\x8f\xbf\xbf", true),     /* U+10FFFF */
	U("\x7f", true),                 /* DEL is not a C0 control */
	U("\xc2\x80", true),             /* U+0080 */
	U("\xc0\x80", false),            /* overlong NUL */
	U("\xc1\xbf", false),            /* overlong */
	U("\xe0\x80\xaf", false),        /* overlong '/' */
	U("\xe0\x9f\xbf", false),        /* overlong */
	U("\xf0\x8f\xbf\xbf", false),    /* overlong */
	U("\xed\xa0\x80", false),        /* U+D800 */
	U("\xed\xbf\xbf", false),        /* U+DFFF */
	U("\xf4\x90\x80\x80", false),    /* U+110000 */
	U("\xf5\x80\x80\x80", false),
	U("\xff", false),
	U("\x80", false),                /* lone continuation */
	U("a\xbf", false),
	U("\xe2\x82", false),            /* truncated at the end */
	U("\xe2\x82x", false),           /* truncated in the middle */
	U("\xf0\x9f\x98", false),
	U("\xf0\x9f\x98\x41", false),    /* bad third continuation */
	U("a\0b", false),                /* NUL */
	U("a\x01", false),
	U("a\x1b[0m", false),
	U("a\x1f", false),
	U("tab\there", false),           /* not allowed without allow_newlines */
	U("line\n", false),
};

static void
test_utf8_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
		const struct utf8_case *c = &utf8_cases[i];

		if (rc_utf8_valid(c->s, c->len, false) != c->ok)
			fail_msg("utf8 case %zu", i);
	}
	assert_true(rc_utf8_valid("", 0, false));
	assert_true(rc_utf8_valid("a\tb\nc\r\n", 7, true));
	assert_false(rc_utf8_valid("a\x0b", 2, true)); /* VT */
	assert_false(rc_utf8_valid("a\0", 2, true));
}

static void
test_decode_bad_utf8(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
		const struct utf8_case *c = &utf8_cases[i];
		struct dg d = { 0 };

		add_login(&d, c->s, c->len, tok_ok, strlen(tok_ok));
		expect_rc(&d, c->ok ? 0 : -EILSEQ, d.len);
		memset(&d, 0, sizeof(d));
		begin_msg(&d, RC_T_JOIN);
		put_str8(&d, c->s, c->len);
		put_u64(&d, 0);
		end_msg(&d);
		expect_rc(&d, c->ok ? 0 : -EILSEQ, d.len);
	}
}

static void
test_body_newlines(void **state)
{
	struct dg d = { 0 };

	(void)state;
	add_post(&d, "r", 1, 1, "a\tb\r\nc", 6);
	expect_rc(&d, 0, d.len);
	memset(&d, 0, sizeof(d));
	add_post(&d, "r", 1, 1, "a\x1b", 2);
	expect_rc(&d, -EILSEQ, d.len);
	memset(&d, 0, sizeof(d));
	add_post(&d, "r", 1, 1, "\xed\xa0\x80", 3);
	expect_rc(&d, -EILSEQ, d.len);
	memset(&d, 0, sizeof(d));
	add_post(&d, "r\n", 2, 1, "x", 1); /* newline in a room name */
	expect_rc(&d, -EILSEQ, d.len);
}

/* ---- Bundles ---- */

static void
test_bundle_bad_in_middle(void **state)
{
	struct dg d = { 0 };
	struct rc_msg m;
	size_t off = 0, consumed;
	int rcs[4];
	unsigned n = 0;

	(void)state;
	add_ping(&d, 1);
	add_post(&d, "r", 1, 5, "\xc0\x80", 2); /* -EILSEQ */
	add_login(&d, "alice", 5, tok_ok, strlen(tok_ok));
	add_fetch(&d, 0); /* -EBADMSG */
	add_ping(&d, 2);
	while (off < d.len) {
		int rc = rc_decode(d.b + off, d.len - off, &m, &consumed);

		assert_true(consumed > 0);
		if (n < 4)
			rcs[n] = rc;
		n++;
		off += consumed;
	}
	assert_int_equal(off, d.len);
	assert_int_equal(n, 5);
	assert_int_equal(rcs[0], 0);
	assert_int_equal(rcs[1], -EILSEQ);
	assert_int_equal(rcs[2], 0);
	assert_int_equal(rcs[3], -EBADMSG);
	assert_int_equal(m.hdr.type, RC_T_PING);
	assert_int_equal(m.u.ping.nonce, 2);
}

static void
test_bundle_stops_on_bad_magic(void **state)
{
	struct dg d = { 0 };
	struct rc_msg m;
	size_t consumed, second;

	(void)state;
	add_ping(&d, 1);
	second = d.len;
	add_ping(&d, 2);
	add_ping(&d, 3);
	d.b[second] = 0;
	assert_int_equal(decode_all(&d, &m, &consumed), 0);
	assert_int_equal(consumed, second);
	assert_int_equal(rc_decode(d.b + second, d.len - second, &m, &consumed), -EPROTO);
	assert_int_equal(consumed, d.len - second);
}

static void
test_bundle_encode_sequence(void **state)
{
	uint8_t buf[RC_MAX_DGRAM];
	size_t off = 0, consumed;
	struct rc_msg m;
	unsigned n = 0;

	(void)state;
	for (unsigned t = RC_T_LOGIN; t < RC_T_MAX; t++) {
		struct rc_msg a = sample((uint8_t)t);
		ssize_t w = rc_encode(buf + off, sizeof(buf) - off, &a);

		assert_true(w > 0);
		off += (size_t)w;
	}
	for (size_t p = 0; p < off; p += consumed, n++) {
		assert_int_equal(rc_decode(buf + p, off - p, &m, &consumed), 0);
		assert_int_equal(m.hdr.type, RC_T_LOGIN + n);
	}
	assert_int_equal(n, RC_T_MAX - RC_T_LOGIN);
}

static void
add_resume(struct dg *d, const char *node, size_t nlen, uint8_t reason)
{
	begin_msg(d, RC_T_RESUME);
	put_str8(d, node, nlen);
	put_u8(d, reason);
	end_msg(d);
}

/* RESUME: exact bytes, every reason, truncation, leftovers, bad reasons, node limits. */
static void
test_resume(void **state)
{
	static const uint8_t want[] = {
		0x52, 0x43, 0x01, 0x13, 0x00, 0x00, 0x00, 0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
		0x77, 0x88, 0x00, 0x00, 0x00, 0x00, 0x02, 0x6e, 0x32, 0x01,
	};
	struct rc_msg a, m;
	uint8_t buf[64];
	struct dg d = { 0 };
	size_t consumed;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.hdr.type = RC_T_RESUME;
	a.hdr.session = 0x1122334455667788ull;
	a.u.resume.node = S("n2");
	a.u.resume.reason = RC_RESUME_FAILOVER;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	for (uint8_t r = RC_RESUME_FAILOVER; r < RC_RESUME_MAX; r++) {
		memset(&d, 0, sizeof(d));
		add_resume(&d, "n1", 2, r);
		assert_int_equal(decode_all(&d, &m, &consumed), 0);
		assert_int_equal(consumed, d.len);
		assert_int_equal(m.hdr.type, RC_T_RESUME);
		assert_int_equal(m.u.resume.reason, r);
		assert_str_eq(m.u.resume.node, S("n1"));
	}
	/* truncated: the reason missing, the node string cut */
	memset(&d, 0, sizeof(d));
	begin_msg(&d, RC_T_RESUME);
	put_str8(&d, "n2", 2);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
	memset(&d, 0, sizeof(d));
	begin_msg(&d, RC_T_RESUME);
	put_u8(&d, 5);
	put(&d, "n2", 2);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
	/* a byte after the reason */
	memset(&d, 0, sizeof(d));
	begin_msg(&d, RC_T_RESUME);
	put_str8(&d, "n2", 2);
	put_u8(&d, RC_RESUME_FALLBACK);
	put_u8(&d, 0);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
	/* reasons 0 and above 3: bad request */
	for (unsigned r = 0; r < 256; r = r == 0 ? RC_RESUME_MAX : r + 60) {
		struct rc_msg e;

		memset(&d, 0, sizeof(d));
		add_resume(&d, "n2", 2, (uint8_t)r);
		assert_int_equal(decode_all(&d, &e, &consumed), -EBADMSG);
		assert_int_equal(consumed, d.len);
		assert_int_equal(rc_decode_err_code(-EBADMSG), RC_E_BAD_REQUEST);
	}
	/* the node id follows the user kind: 1..64 bytes of UTF-8 without controls */
	memset(&d, 0, sizeof(d));
	add_resume(&d, "", 0, RC_RESUME_OTHER);
	expect_rc(&d, -EBADMSG, d.len);
	memset(&d, 0, sizeof(d));
	add_resume(&d, fill('n', RC_MAX_USER + 1), RC_MAX_USER + 1, RC_RESUME_OTHER);
	expect_rc(&d, -EMSGSIZE, d.len);
	memset(&d, 0, sizeof(d));
	add_resume(&d, "n\x01", 2, RC_RESUME_OTHER);
	expect_rc(&d, -EILSEQ, d.len);
	/* a RESUME in a bundle does not stop the next message */
	memset(&d, 0, sizeof(d));
	add_resume(&d, "n2", 2, 0);
	add_ping(&d, 9);
	assert_int_equal(decode_all(&d, &m, &consumed), -EBADMSG);
	assert_int_equal(rc_decode(d.b + consumed, d.len - consumed, &m, &consumed), 0);
	/* the encoder refuses what the decoder refuses */
	a.u.resume.reason = 0;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EINVAL);
	a.u.resume.reason = RC_RESUME_MAX;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EINVAL);
	a.u.resume.reason = RC_RESUME_FALLBACK;
	a.u.resume.node = (struct rc_str){ fill('n', RC_MAX_USER + 1), RC_MAX_USER + 1 };
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EMSGSIZE);
	assert_string_equal(rc_msg_type_name(RC_T_RESUME), "RESUME");
}

/* ---- REDIRECT, the room directory, node to node ---- */

static void
add_redirect(struct dg *d, const char *node, size_t nlen, uint32_t ip, uint16_t port)
{
	begin_msg(d, RC_T_REDIRECT);
	put_str8(d, node, nlen);
	put_u32(d, ip);
	put_u16(d, port);
	end_msg(d);
}

/* REDIRECT: exact bytes (the address big-endian), node id limits, truncation, leftovers. */
static void
test_redirect(void **state)
{
	static const uint8_t want[] = {
		0x52, 0x43, 0x01, 0x14, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x02, 0x31, 0x62, 0xc0, 0x00, 0x02, 0x02, 0x19,
		0x14,
	};
	struct rc_msg a, m;
	uint8_t buf[64];
	struct dg d = { 0 };
	size_t consumed;

	(void)state;
	a = sample(RC_T_REDIRECT);
	a.hdr.request_id = 5;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	add_redirect(&d, "2a", 2, 0x0a000001u, 7000);
	assert_int_equal(decode_all(&d, &m, &consumed), 0);
	assert_str_eq(m.u.redirect.node, S("2a"));
	assert_int_equal(m.u.redirect.ip, 0x0a000001u);
	assert_int_equal(m.u.redirect.udp_port, 7000);
	memset(&d, 0, sizeof(d));
	add_redirect(&d, "", 0, 1, 1); /* the node id follows the user kind */
	expect_rc(&d, -EBADMSG, d.len);
	memset(&d, 0, sizeof(d));
	add_redirect(&d, fill('n', RC_MAX_USER + 1), RC_MAX_USER + 1, 1, 1);
	expect_rc(&d, -EMSGSIZE, d.len);
	memset(&d, 0, sizeof(d));
	add_redirect(&d, "n\x1b", 2, 1, 1);
	expect_rc(&d, -EILSEQ, d.len);
	memset(&d, 0, sizeof(d));
	begin_msg(&d, RC_T_REDIRECT); /* the port cut */
	put_str8(&d, "1b", 2);
	put_u32(&d, 1);
	put_u8(&d, 0x19);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
	memset(&d, 0, sizeof(d));
	begin_msg(&d, RC_T_REDIRECT); /* a byte after the port */
	put_str8(&d, "1b", 2);
	put_u32(&d, 1);
	put_u16(&d, 1);
	put_u8(&d, 0);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
	a.u.redirect.node = (struct rc_str){ fill('n', RC_MAX_USER + 1), RC_MAX_USER + 1 };
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EMSGSIZE);
}

static void
add_rooms(struct dg *d, const char *prefix, size_t plen)
{
	begin_msg(d, RC_T_ROOMS);
	put_str8(d, prefix, plen);
	end_msg(d);
}

/* ROOMS: the prefix is a room name's first bytes: empty allowed, up to RC_MAX_ROOM. */
static void
test_rooms_prefix(void **state)
{
	struct rc_msg a = sample(RC_T_ROOMS);
	uint8_t buf[512];
	struct dg d = { 0 };

	(void)state;
	add_rooms(&d, "", 0);
	expect_rc(&d, 0, d.len);
	memset(&d, 0, sizeof(d));
	add_rooms(&d, fill('p', RC_MAX_ROOM), RC_MAX_ROOM);
	expect_rc(&d, 0, d.len);
	memset(&d, 0, sizeof(d));
	add_rooms(&d, fill('p', RC_MAX_ROOM + 1), RC_MAX_ROOM + 1);
	expect_rc(&d, -EMSGSIZE, d.len);
	memset(&d, 0, sizeof(d));
	add_rooms(&d, "lo\n", 3);
	expect_rc(&d, -EILSEQ, d.len);
	memset(&d, 0, sizeof(d));
	begin_msg(&d, RC_T_ROOMS); /* no prefix at all */
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
	a.u.rooms.prefix = (struct rc_str){ "", 0 };
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), RC_HDR_LEN + 1);
	a.u.rooms.prefix = (struct rc_str){ fill('p', RC_MAX_ROOM + 1), RC_MAX_ROOM + 1 };
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EMSGSIZE);
}

/* ROOM_LIST: entries in order with their last_seq, MORE kept, an empty list. */
static void
test_room_list(void **state)
{
	struct rc_msg a = sample(RC_T_ROOM_LIST), d;
	uint8_t buf[256];
	size_t consumed, off = 0;
	struct rc_str r;
	uint64_t seq;
	unsigned i = 0;
	ssize_t n;

	(void)state;
	n = rc_encode(buf, sizeof(buf), &a);
	assert_int_equal(n, RC_HDR_LEN + 2 + (1 + 20 + 8) + (1 + 11 + 8));
	assert_int_equal(rc_decode(buf, (size_t)n, &d, &consumed), 0);
	assert_int_equal(d.hdr.flags, RC_F_MORE);
	assert_int_equal(d.u.room_list.count, 2);
	while (rc_room_list_next(&d, &off, &r, &seq)) {
		assert_str_eq(r, sample_rooms[i].room);
		assert_int_equal(seq, sample_rooms[i++].last_seq);
	}
	assert_int_equal(i, 2);
	assert_false(rc_room_list_next(&d, &off, &r, NULL));
	off = 0;
	assert_true(rc_room_list_next(&d, &off, &r, NULL)); /* last_seq not wanted */
	assert_false(rc_member_list_next(&d, &off, &r));    /* not a MEMBER_LIST */
	a.u.room_list.count = 0;
	a.u.room_list.rooms = NULL;
	a.hdr.flags = 0;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), RC_HDR_LEN + 2);
	assert_int_equal(rc_decode(buf, RC_HDR_LEN + 2, &d, &consumed), 0);
	off = 0;
	assert_false(rc_room_list_next(&d, &off, &r, &seq));
}

static void
begin_room_list(struct dg *d, uint16_t count)
{
	memset(d, 0, sizeof(*d));
	begin_msg(d, RC_T_ROOM_LIST);
	put_u16(d, count);
}

static void
test_room_list_malformed(void **state)
{
	struct rc_room_entry bad[2] = { { { "ok", 2 }, 1 }, { { NULL, 0 }, 2 } };
	struct rc_msg a = sample(RC_T_ROOM_LIST);
	uint8_t buf[512];
	struct dg d;

	(void)state;
	begin_room_list(&d, 2); /* count 2, one entry */
	put_str8(&d, "a", 1);
	put_u64(&d, 1);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
	begin_room_list(&d, 1); /* count 1, two entries */
	put_str8(&d, "a", 1);
	put_u64(&d, 1);
	put_str8(&d, "b", 1);
	put_u64(&d, 2);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
	begin_room_list(&d, 1); /* last_seq cut */
	put_str8(&d, "a", 1);
	put_u32(&d, 1);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
	begin_room_list(&d, 1); /* an empty name */
	put_str8(&d, "", 0);
	put_u64(&d, 1);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
	begin_room_list(&d, 1); /* a name over the limit */
	put_str8(&d, fill('r', RC_MAX_ROOM + 1), RC_MAX_ROOM + 1);
	put_u64(&d, 1);
	end_msg(&d);
	expect_rc(&d, -EMSGSIZE, d.len);
	begin_room_list(&d, 1); /* a name that is not UTF-8 */
	put_str8(&d, "\xff", 1);
	put_u64(&d, 1);
	end_msg(&d);
	expect_rc(&d, -EILSEQ, d.len);
	a.u.room_list.rooms = bad; /* the encoder refuses the same */
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EINVAL);
	a.u.room_list.rooms = NULL;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EINVAL);
	bad[1].room = (struct rc_str){ fill('r', RC_MAX_ROOM + 1), RC_MAX_ROOM + 1 };
	a.u.room_list.rooms = bad;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EMSGSIZE);
}

/* The node-to-node types: string limits as their client counterparts, cmid and max
 * checked, fixed-size bodies exact. */
static void
test_relay_limits(void **state)
{
	static const uint8_t fixed[] = { RC_T_RJOINED, RC_T_RLEAVE, RC_T_RMEMBERS };
	static const size_t fixed_len[] = { 16, 8, 8 };
	uint8_t buf[RC_MAX_DGRAM];
	struct rc_msg a;
	struct dg d;

	(void)state;
	for (unsigned i = 0; i < sizeof(fixed); i++) {
		for (size_t len = fixed_len[i] - 1; len <= fixed_len[i] + 1; len++) {
			memset(&d, 0, sizeof(d));
			begin_msg(&d, fixed[i]);
			put(&d, fill(1, len), len);
			end_msg(&d);
			expect_rc(&d, len == fixed_len[i] ? 0 : -EBADMSG, d.len);
		}
	}
	a = sample(RC_T_RJOIN);
	a.u.rjoin.user = (struct rc_str){ fill('u', RC_MAX_USER + 1), RC_MAX_USER + 1 };
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EMSGSIZE);
	a = sample(RC_T_RJOIN);
	a.u.rjoin.room = (struct rc_str){ fill('r', RC_MAX_ROOM), RC_MAX_ROOM };
	assert_true(rc_encode(buf, sizeof(buf), &a) > 0);
	a.u.rjoin.room = (struct rc_str){ fill('r', RC_MAX_ROOM + 1), RC_MAX_ROOM + 1 };
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EMSGSIZE);
	a.u.rjoin.room = S("");
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EINVAL);
	memset(&d, 0, sizeof(d));
	begin_msg(&d, RC_T_RJOIN); /* an empty user */
	put_u32(&d, 1);
	put_u64(&d, 0);
	put_str8(&d, "", 0);
	put_str8(&d, "r@s", 3);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
	a = sample(RC_T_RPOST);
	a.u.rpost.cmid = 0;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EINVAL);
	a = sample(RC_T_RPOST);
	a.u.rpost.body = (struct rc_str){ fill('b', RC_MAX_BODY), RC_MAX_BODY };
	a.u.rpost.user = (struct rc_str){ fill('u', RC_MAX_USER), RC_MAX_USER };
	assert_true(rc_encode(buf, sizeof(buf), &a) > 0);
	a.u.rpost.body = (struct rc_str){ fill('b', RC_MAX_BODY + 1), RC_MAX_BODY + 1 };
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EMSGSIZE);
	memset(&d, 0, sizeof(d));
	begin_msg(&d, RC_T_RPOST); /* cmid 0 on the wire */
	put_u32(&d, 7);
	put_u32(&d, 1);
	put_u64(&d, 0);
	put_str8(&d, "alice", 5);
	put_str16(&d, "x", 1);
	end_msg(&d);
	expect_rc(&d, -EBADMSG, d.len);
	a = sample(RC_T_RFETCH);
	a.u.rfetch.max = 0;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EINVAL);
	a.u.rfetch.max = RC_MAX_FETCH + 1;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EMSGSIZE);
	a.u.rfetch.max = RC_MAX_FETCH;
	assert_true(rc_encode(buf, sizeof(buf), &a) > 0);
}

/* ---- Encoder ---- */

static void
test_encode_enospc(void **state)
{
	struct rc_msg a = sample(RC_T_POST);
	uint8_t buf[RC_MAX_DGRAM];
	ssize_t n = rc_encoded_len(&a);

	(void)state;
	assert_true(n > 0);
	assert_int_equal(rc_encode(buf, (size_t)n - 1, &a), -ENOSPC);
	assert_int_equal(rc_encode(buf, 0, &a), -ENOSPC);
	assert_int_equal(rc_encode(buf, RC_HDR_LEN, &a), -ENOSPC);
	assert_int_equal(rc_encode(buf, (size_t)n, &a), n);
}

static void
test_encode_limits(void **state)
{
	struct rc_msg a;
	uint8_t buf[4096];
	struct rc_str many[2] = { { "ok", 2 }, { NULL, 0 } };

	(void)state;
	a = sample(RC_T_LOGIN);
	a.u.login.user = (struct rc_str){ fill('u', RC_MAX_USER + 1), RC_MAX_USER + 1 };
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EMSGSIZE);
	assert_int_equal(rc_encoded_len(&a), -EMSGSIZE);
	a.u.login.user = (struct rc_str){ "", 0 };
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EINVAL);
	a = sample(RC_T_LOGIN);
	a.u.login.token = S("has space");
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EINVAL);
	a = sample(RC_T_POST);
	a.u.post.body = (struct rc_str){ fill('b', RC_MAX_BODY + 1), RC_MAX_BODY + 1 };
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EMSGSIZE);
	a = sample(RC_T_POST);
	a.u.post.cmid = 0;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EINVAL);
	a = sample(RC_T_POST);
	a.u.post.room = S("bad\xc0\x80");
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EINVAL);
	a = sample(RC_T_FETCH);
	a.u.fetch.max = RC_MAX_FETCH + 1;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EMSGSIZE);
	a = sample(RC_T_ERROR);
	a.u.error.text = (struct rc_str){ fill('e', RC_MAX_ERRTEXT + 1), RC_MAX_ERRTEXT + 1 };
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EMSGSIZE);
	a = sample(RC_T_MEMBER_LIST);
	a.u.member_list.count = 2;
	a.u.member_list.users = many; /* second name empty */
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EINVAL);
	a.u.member_list.users = NULL;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EINVAL);
}

static void
test_encode_bad_type_and_flags(void **state)
{
	struct rc_msg a = sample(RC_T_PING);
	uint8_t buf[64];

	(void)state;
	a.hdr.type = RC_T_INVALID;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EINVAL);
	a.hdr.type = RC_T_MAX;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EINVAL);
	assert_int_equal(rc_encoded_len(&a), -EINVAL);
	a.hdr.type = RC_T_PING;
	a.hdr.flags = 0x02;
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), -EINVAL);
}

static void
test_encode_header_bytes(void **state)
{
	struct rc_msg a = sample(RC_T_PING);
	uint8_t buf[64];
	static const uint8_t want[] = {
		0x52, 0x43, 0x01, 0x0e, 0x00, 0x00, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
		0x07, 0x08, 0x99, 0xaa, 0xbb, 0xcc, 0x00, 0x00, 0x00, 0x00, 0x0b, 0xad, 0xc0, 0xde,
	};

	(void)state;
	a.hdr.version = 9; /* ignored: the encoder writes RC_VERSION */
	assert_int_equal(rc_encode(buf, sizeof(buf), &a), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
}

static void
test_max_deliver_fits(void **state)
{
	struct rc_msg a = sample(RC_T_DELIVER), d;
	uint8_t buf[RC_MAX_DGRAM];
	static char body[RC_MAX_BODY];
	size_t consumed;
	ssize_t n;

	(void)state;
	a.u.deliver.room_id = UINT32_MAX;
	a.u.deliver.seq = UINT64_MAX;
	a.u.deliver.sender = (struct rc_str){ fill('s', RC_MAX_USER), RC_MAX_USER };
	memset(body, 'b', sizeof(body));
	a.u.deliver.body = (struct rc_str){ body, RC_MAX_BODY };
	n = rc_encode(buf, sizeof(buf), &a);
	assert_int_equal(n, RC_HDR_LEN + 4 + 8 + 8 + 8 + 1 + RC_MAX_USER + 2 + RC_MAX_BODY);
	assert_true(n <= RC_MAX_DGRAM);
	assert_int_equal(rc_decode(buf, (size_t)n, &d, &consumed), 0);
	assert_int_equal(d.u.deliver.body.len, RC_MAX_BODY);
}

static void
test_max_post_fits(void **state)
{
	struct rc_msg a = sample(RC_T_POST);
	uint8_t buf[RC_MAX_DGRAM];
	static char room[RC_MAX_ROOM], body[RC_MAX_BODY];

	(void)state;
	memset(room, 'r', sizeof(room));
	memset(body, 'b', sizeof(body));
	a.u.post.room = (struct rc_str){ room, RC_MAX_ROOM };
	a.u.post.body = (struct rc_str){ body, RC_MAX_BODY };
	assert_true(rc_encode(buf, sizeof(buf), &a) <= RC_MAX_DGRAM);
	assert_true(rc_encode(buf, sizeof(buf), &a) > 0);
}

/* ---- Names and error mapping ---- */

static void
test_name_tables_complete(void **state)
{
	(void)state;
	for (unsigned t = 0; t < RC_T_MAX; t++)
		assert_string_not_equal(rc_msg_type_name(t), "?");
	for (unsigned c = 0; c < RC_E_MAX; c++)
		assert_string_not_equal(rc_err_name(c), "?");
	assert_string_equal(rc_msg_type_name(RC_T_MAX), "?");
	assert_string_equal(rc_msg_type_name(9999), "?");
	assert_string_equal(rc_err_name(RC_E_MAX), "?");
	assert_string_equal(rc_msg_type_name(RC_T_MEMBER_LIST), "MEMBER_LIST");
	assert_string_equal(rc_msg_type_name(RC_T_REDIRECT), "REDIRECT");
	assert_string_equal(rc_msg_type_name(RC_T_RMEMBERS), "RMEMBERS");
	assert_string_equal(rc_msg_type_name(RC_T_ROOM_LIST), "ROOM_LIST");
	assert_string_equal(rc_msg_type_name(RC_T_LOGIN_COOKIE), "LOGIN_COOKIE");
	assert_int_equal(RC_T_MAX, 31);
	assert_string_equal(rc_err_name(RC_E_NOT_AUTH), "not authenticated");
	for (unsigned r = 0; r < RC_RESUME_MAX; r++)
		assert_string_not_equal(rc_resume_reason_name(r), "?");
	assert_string_equal(rc_resume_reason_name(RC_RESUME_MAX), "?");
	assert_string_equal(rc_resume_reason_name(RC_RESUME_FALLBACK), "fallback");
}

static void
test_decode_err_code(void **state)
{
	(void)state;
	assert_int_equal(rc_decode_err_code(-EMSGSIZE), RC_E_TOO_LARGE);
	assert_int_equal(rc_decode_err_code(-EBADMSG), RC_E_BAD_REQUEST);
	assert_int_equal(rc_decode_err_code(-EILSEQ), RC_E_BAD_REQUEST);
	assert_int_equal(rc_decode_err_code(-ENOMSG), RC_E_BAD_REQUEST);
	assert_int_equal(rc_decode_err_code(-EPROTO), RC_E_BAD_REQUEST);
	assert_int_equal(rc_decode_err_code(0), RC_E_NONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_all_types),
		cmocka_unit_test(test_rebase_all_types),
		cmocka_unit_test(test_roundtrip_member_list),
		cmocka_unit_test(test_member_list_empty),
		cmocka_unit_test(test_empty_bodies),
		cmocka_unit_test(test_error_empty_text),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_reserved_nonzero),
		cmocka_unit_test(test_unknown_flags),
		cmocka_unit_test(test_truncated_header),
		cmocka_unit_test(test_truncated_body),
		cmocka_unit_test(test_body_len_beyond_datagram),
		cmocka_unit_test(test_leftover_bytes),
		cmocka_unit_test(test_unknown_type_continues),
		cmocka_unit_test(test_login_limits),
		cmocka_unit_test(test_token_not_printable),
		cmocka_unit_test(test_room_limits),
		cmocka_unit_test(test_post_limits),
		cmocka_unit_test(test_deliver_limits),
		cmocka_unit_test(test_error_limits),
		cmocka_unit_test(test_fetch_max),
		cmocka_unit_test(test_member_list_malformed),
		cmocka_unit_test(test_redirect),
		cmocka_unit_test(test_rooms_prefix),
		cmocka_unit_test(test_room_list),
		cmocka_unit_test(test_room_list_malformed),
		cmocka_unit_test(test_relay_limits),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_decode_bad_utf8),
		cmocka_unit_test(test_body_newlines),
		cmocka_unit_test(test_bundle_bad_in_middle),
		cmocka_unit_test(test_bundle_stops_on_bad_magic),
		cmocka_unit_test(test_bundle_encode_sequence),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_encode_enospc),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_encode_bad_type_and_flags),
		cmocka_unit_test(test_encode_header_bytes),
		cmocka_unit_test(test_max_deliver_fits),
		cmocka_unit_test(test_max_post_fits),
		cmocka_unit_test(test_name_tables_complete),
		cmocka_unit_test(test_decode_err_code),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
