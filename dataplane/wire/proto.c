/* SPDX-License-Identifier: MIT */
/*
 * roomcast wire protocol v1: the codec.
 *
 * Every message body is described once, as a table of fields (kind, check, offset into
 * struct rc_msg). The decoder and the encoder walk the same table, and both run the same
 * validation (rc_msg_check) on the decoded or to-be-encoded view, so whatever the encoder
 * accepts the decoder accepts, and the other way round.
 *
 *   datagram = message { message }                      (a bundle, <= RC_MAX_DGRAM bytes)
 *   message  = header(20) body(body_len)
 *   decode:  header -> structural read of the fields (truncation, leftovers: -EBADMSG)
 *            -> rc_msg_check (limits -EMSGSIZE, UTF-8 -EILSEQ, content -EBADMSG)
 *   encode:  rc_msg_check (-EMSGSIZE, else -EINVAL) -> length -> -ENOSPC -> write
 *
 * Pure C: no DPDK, no allocation, no logging. All multi-byte integers are big-endian and
 * read and written with bytes.h, so buffers need no alignment.
 *
 * Concurrency: every function is reentrant and touches only its arguments; decoded strings
 * point into the caller's buffer.
 */
#include <errno.h>
#include <string.h>

#include "bytes.h"
#include "proto.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum rc_fkind {
	FK_U8,
	FK_U16,
	FK_U32,
	FK_U64,
	FK_STR8,
	FK_STR16,
	FK_USERS, /* MEMBER_LIST: u16 count, then count x str8 user */
	FK_ROOMS, /* ROOM_LIST: u16 count, then count x (str8 room, u64 last_seq) */
};

enum rc_fcheck {
	FC_NONE,
	FC_NONZERO,   /* POST cmid */
	FC_FETCH_MAX, /* 1..RC_MAX_FETCH */
	FC_ERR_CODE,  /* 1..RC_E_MAX-1 */
	FC_RESUME_REASON, /* 1..RC_RESUME_MAX-1 */
	FC_USER,
	FC_ROOM,
	FC_PREFIX, /* a room name's first bytes: may be empty */
	FC_TOKEN,
	FC_BODY,
	FC_ERRTEXT,
};

struct rc_field {
	uint8_t kind;
	uint8_t check;
	uint16_t off; /* offset of the value in struct rc_msg */
};

struct rc_layout {
	const struct rc_field *f;
	uint8_t n;
};

/* String limits, indexed by enum rc_fcheck. */
struct rc_strlim {
	uint16_t min, max;
	bool ascii;          /* visible ASCII only (token) */
	bool allow_newlines; /* TAB/LF/CR allowed (body) */
};

static const struct rc_strlim str_limits[] = {
	[FC_USER] = { 1, RC_MAX_USER, false, false },
	[FC_ROOM] = { 1, RC_MAX_ROOM, false, false },
	[FC_PREFIX] = { 0, RC_MAX_ROOM, false, false },
	[FC_TOKEN] = { 1, RC_MAX_TOKEN, true, false },
	[FC_BODY] = { 1, RC_MAX_BODY, false, true },
	[FC_ERRTEXT] = { 0, RC_MAX_ERRTEXT, false, false },
};

#define F(k, c, member) { FK_##k, FC_##c, offsetof(struct rc_msg, u.member) }

static const struct rc_field f_login[] = {
	F(STR8, USER, login.user),
	F(STR8, TOKEN, login.token),
};
static const struct rc_field f_login_cookie[] = {
	F(STR8, USER, login.user),
	F(STR8, TOKEN, login.token),
	F(U32, NONE, login.cookie_slot),
	F(U64, NONE, login.cookie_mac),
};
static const struct rc_field f_cookie[] = {
	F(U32, NONE, cookie.slot),
	F(U64, NONE, cookie.mac),
};
static const struct rc_field f_login_ok[] = {
	F(U64, NONE, login_ok.session),
	F(U32, NONE, login_ok.idle_timeout_s),
};
static const struct rc_field f_join[] = {
	F(STR8, ROOM, join.room),
	F(U64, NONE, join.since_seq),
};
static const struct rc_field f_joined[] = {
	F(STR8, ROOM, joined.room),
	F(U32, NONE, joined.room_id),
	F(U64, NONE, joined.last_seq),
	F(U32, NONE, joined.members),
};
static const struct rc_field f_leave[] = {
	F(STR8, ROOM, leave.room),
};
static const struct rc_field f_left[] = {
	F(U32, NONE, left.room_id),
};
static const struct rc_field f_post[] = {
	F(STR8, ROOM, post.room),
	F(U64, NONZERO, post.cmid),
	F(STR16, BODY, post.body),
};
static const struct rc_field f_ack[] = {
	F(U32, NONE, ack.room_id),
	F(U64, NONE, ack.cmid),
	F(U64, NONE, ack.seq),
};
static const struct rc_field f_deliver[] = {
	F(U32, NONE, deliver.room_id),
	F(U64, NONE, deliver.seq),
	F(U64, NONE, deliver.ts_ms),
	F(U64, NONE, deliver.cmid),
	F(STR8, USER, deliver.sender),
	F(STR16, BODY, deliver.body),
};
static const struct rc_field f_fetch[] = {
	F(STR8, ROOM, fetch.room),
	F(U64, NONE, fetch.from_seq),
	F(U16, FETCH_MAX, fetch.max),
};
static const struct rc_field f_fetch_end[] = {
	F(U32, NONE, fetch_end.room_id),
	F(U64, NONE, fetch_end.from_seq),
	F(U64, NONE, fetch_end.next_seq),
	F(U64, NONE, fetch_end.last_seq),
	F(U16, NONE, fetch_end.count),
};
static const struct rc_field f_members[] = {
	F(STR8, ROOM, members.room),
};
static const struct rc_field f_member_list[] = {
	F(U32, NONE, member_list.room_id),
	F(USERS, USER, member_list.count),
};
static const struct rc_field f_ping[] = {
	F(U64, NONE, ping.nonce),
};
static const struct rc_field f_pong[] = {
	F(U64, NONE, pong.nonce),
};
static const struct rc_field f_error[] = {
	F(U16, ERR_CODE, error.code),
	F(U8, NONE, error.ref_type),
	F(STR8, ERRTEXT, error.text),
};
static const struct rc_field f_resume[] = {
	F(STR8, USER, resume.node),
	F(U8, RESUME_REASON, resume.reason),
};
static const struct rc_field f_redirect[] = {
	F(STR8, USER, redirect.node),
	F(U32, NONE, redirect.ip),
	F(U16, NONE, redirect.udp_port),
};
static const struct rc_field f_rjoin[] = {
	F(U32, NONE, rjoin.alias),
	F(U64, NONE, rjoin.since_seq),
	F(STR8, USER, rjoin.user),
	F(STR8, ROOM, rjoin.room),
};
static const struct rc_field f_rjoined[] = {
	F(U32, NONE, rjoined.alias),
	F(U32, NONE, rjoined.room_id),
	F(U64, NONE, rjoined.last_seq),
};
static const struct rc_field f_rpost[] = {
	F(U32, NONE, rpost.room_id),
	F(U32, NONE, rpost.alias),
	F(U64, NONZERO, rpost.cmid),
	F(STR8, USER, rpost.user),
	F(STR16, BODY, rpost.body),
};
static const struct rc_field f_rfetch[] = {
	F(U32, NONE, rfetch.room_id),
	F(U32, NONE, rfetch.alias),
	F(U64, NONE, rfetch.from_seq),
	F(U16, FETCH_MAX, rfetch.max),
};
static const struct rc_field f_rref[] = {
	F(U32, NONE, rref.room_id),
	F(U32, NONE, rref.alias),
};
static const struct rc_field f_rooms[] = {
	F(STR8, PREFIX, rooms.prefix),
};
static const struct rc_field f_room_list[] = {
	F(ROOMS, ROOM, room_list.count),
};

#undef F
#define L(fields) { fields, ARRAY_SIZE(fields) }

/* Indexed by type; LOGOUT and BYE have an empty body (n = 0), RC_T_INVALID has no entry. */
static const struct rc_layout layouts[RC_T_MAX] = {
	[RC_T_LOGIN] = L(f_login),
	[RC_T_LOGIN_OK] = L(f_login_ok),
	[RC_T_JOIN] = L(f_join),
	[RC_T_JOINED] = L(f_joined),
	[RC_T_LEAVE] = L(f_leave),
	[RC_T_LEFT] = L(f_left),
	[RC_T_POST] = L(f_post),
	[RC_T_ACK] = L(f_ack),
	[RC_T_DELIVER] = L(f_deliver),
	[RC_T_FETCH] = L(f_fetch),
	[RC_T_FETCH_END] = L(f_fetch_end),
	[RC_T_MEMBERS] = L(f_members),
	[RC_T_MEMBER_LIST] = L(f_member_list),
	[RC_T_PING] = L(f_ping),
	[RC_T_PONG] = L(f_pong),
	[RC_T_LOGOUT] = { NULL, 0 },
	[RC_T_BYE] = { NULL, 0 },
	[RC_T_ERROR] = L(f_error),
	[RC_T_RESUME] = L(f_resume),
	[RC_T_REDIRECT] = L(f_redirect),
	[RC_T_RJOIN] = L(f_rjoin),
	[RC_T_RJOINED] = L(f_rjoined),
	[RC_T_RPOST] = L(f_rpost),
	[RC_T_RFETCH] = L(f_rfetch),
	[RC_T_RLEAVE] = L(f_rref),
	[RC_T_RMEMBERS] = L(f_rref),
	[RC_T_ROOMS] = L(f_rooms),
	[RC_T_ROOM_LIST] = L(f_room_list),
	[RC_T_COOKIE] = L(f_cookie),
	[RC_T_LOGIN_COOKIE] = L(f_login_cookie),
};

#undef L

static bool
type_known(unsigned type)
{
	return type > RC_T_INVALID && type < RC_T_MAX;
}

/* ---- Field access inside struct rc_msg ---- */

static void *
field_ptr(const struct rc_msg *m, const struct rc_field *f)
{
	return (char *)m + f->off;
}

static uint64_t
field_get_int(const struct rc_msg *m, const struct rc_field *f)
{
	const void *p = field_ptr(m, f);

	switch (f->kind) {
	case FK_U8:
		return *(const uint8_t *)p;
	case FK_U16:
		return *(const uint16_t *)p;
	case FK_U32:
		return *(const uint32_t *)p;
	default:
		return *(const uint64_t *)p;
	}
}

static void
field_set_int(struct rc_msg *m, const struct rc_field *f, uint64_t v)
{
	void *p = field_ptr(m, f);

	switch (f->kind) {
	case FK_U8:
		*(uint8_t *)p = (uint8_t)v;
		break;
	case FK_U16:
		*(uint16_t *)p = (uint16_t)v;
		break;
	case FK_U32:
		*(uint32_t *)p = (uint32_t)v;
		break;
	default:
		*(uint64_t *)p = v;
		break;
	}
}

static size_t
int_size(uint8_t kind)
{
	static const uint8_t sizes[] = { [FK_U8] = 1, [FK_U16] = 2, [FK_U32] = 4, [FK_U64] = 8 };

	return sizes[kind];
}

/* ---- string validation (UTF-8: utf8.c) ---- */

static bool
token_chars_ok(const struct rc_str *s)
{
	for (uint16_t i = 0; i < s->len; i++) {
		uint8_t c = (uint8_t)s->p[i];

		if (c < 0x21 || c > 0x7E)
			return false;
	}
	return true;
}

/* 0, -EMSGSIZE (too long), -EBADMSG (too short, bad token) or -EILSEQ (bad UTF-8). */
static int
check_str(const struct rc_str *s, uint8_t check)
{
	const struct rc_strlim *lim = &str_limits[check];

	if (s->len > lim->max)
		return -EMSGSIZE;
	if (s->len < lim->min)
		return -EBADMSG;
	if (s->len > 0 && s->p == NULL)
		return -EBADMSG;
	if (lim->ascii)
		return token_chars_ok(s) ? 0 : -EBADMSG;
	return rc_utf8_valid(s->p, s->len, lim->allow_newlines) ? 0 : -EILSEQ;
}

static int
check_int(uint64_t v, uint8_t check)
{
	switch (check) {
	case FC_NONZERO:
		return v != 0 ? 0 : -EBADMSG;
	case FC_FETCH_MAX:
		if (v == 0)
			return -EBADMSG;
		return v <= RC_MAX_FETCH ? 0 : -EMSGSIZE;
	case FC_ERR_CODE:
		return v > RC_E_NONE && v < RC_E_MAX ? 0 : -EBADMSG;
	case FC_RESUME_REASON:
		return v > RC_RESUME_NONE && v < RC_RESUME_MAX ? 0 : -EBADMSG;
	default:
		return 0;
	}
}

static int
check_field(const struct rc_msg *m, const struct rc_field *f)
{
	switch (f->kind) {
	case FK_STR8:
	case FK_STR16:
		return check_str(field_ptr(m, f), f->check);
	case FK_USERS:
	case FK_ROOMS:
		return 0; /* checked entry by entry while reading or writing */
	default:
		return check_int(field_get_int(m, f), f->check);
	}
}

/* Validate every field of a known type. */
static int
rc_msg_check(const struct rc_msg *m)
{
	const struct rc_layout *l = &layouts[m->hdr.type];

	if (m->hdr.flags & ~RC_F_MORE)
		return -EBADMSG;
	for (unsigned i = 0; i < l->n; i++) {
		int rc = check_field(m, &l->f[i]);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- Decoding ---- */

struct reader {
	const uint8_t *p;
	size_t left;
};

static int
read_int(struct reader *r, size_t n, uint64_t *v)
{
	if (r->left < n)
		return -EBADMSG;
	*v = rc_get_be(r->p, n);
	r->p += n;
	r->left -= n;
	return 0;
}

static int
read_str(struct reader *r, size_t lenlen, struct rc_str *s)
{
	uint64_t len;

	if (read_int(r, lenlen, &len) < 0 || r->left < len)
		return -EBADMSG;
	s->p = (const char *)r->p;
	s->len = (uint16_t)len;
	r->p += len;
	r->left -= len;
	return 0;
}

/*
 * A list (MEMBER_LIST users, ROOM_LIST rooms): u16 count, then count x (str8 name checked
 * against `check`, `tail` more bytes). Structure first, then each name against its limits.
 */
static int
read_list(struct reader *r, uint8_t check, size_t tail, uint16_t *count,
	  const uint8_t **raw, uint16_t *raw_len)
{
	const uint8_t *start;
	uint64_t n, skip;
	int rc;

	if (read_int(r, 2, &n) < 0)
		return -EBADMSG;
	*count = (uint16_t)n;
	start = r->p;
	for (uint64_t i = 0; i < n; i++) {
		struct rc_str name;

		if (read_str(r, 1, &name) < 0 || (tail > 0 && read_int(r, tail, &skip) < 0))
			return -EBADMSG;
		rc = check_str(&name, check);
		if (rc < 0)
			return rc;
	}
	*raw = start;
	*raw_len = (uint16_t)(r->p - start);
	return 0;
}

static int
read_field(struct reader *r, struct rc_msg *m, const struct rc_field *f)
{
	uint64_t v;

	switch (f->kind) {
	case FK_STR8:
		return read_str(r, 1, field_ptr(m, f));
	case FK_STR16:
		return read_str(r, 2, field_ptr(m, f));
	case FK_USERS:
		return read_list(r, FC_USER, 0, &m->u.member_list.count,
				 &m->u.member_list.raw, &m->u.member_list.raw_len);
	case FK_ROOMS:
		return read_list(r, FC_ROOM, 8, &m->u.room_list.count, &m->u.room_list.raw,
				 &m->u.room_list.raw_len);
	default:
		if (read_int(r, int_size(f->kind), &v) < 0)
			return -EBADMSG;
		field_set_int(m, f, v);
		return 0;
	}
}

static int
decode_body(const uint8_t *body, size_t len, struct rc_msg *m)
{
	const struct rc_layout *l = &layouts[m->hdr.type];
	struct reader r = { body, len };

	memset(&m->u, 0, sizeof(m->u));
	for (unsigned i = 0; i < l->n; i++) {
		int rc = read_field(&r, m, &l->f[i]);

		if (rc < 0)
			return rc;
	}
	if (r.left != 0)
		return -EBADMSG;
	return rc_msg_check(m);
}

/* Reads the 20-byte header into m->hdr; returns the magic. */
static uint16_t
decode_hdr(const uint8_t *buf, struct rc_hdr *h)
{
	h->version = buf[2];
	h->type = buf[3];
	h->flags = buf[4];
	h->body_len = rc_get_be16(buf + 6);
	h->session = rc_get_be64(buf + 8);
	h->request_id = rc_get_be32(buf + 16);
	return rc_get_be16(buf);
}

int
rc_decode(const uint8_t *buf, size_t len, struct rc_msg *m, size_t *consumed)
{
	size_t total;

	*consumed = len;
	if (buf == NULL || len < RC_HDR_LEN)
		return -EBADMSG;
	if (decode_hdr(buf, &m->hdr) != RC_MAGIC || m->hdr.version != RC_VERSION)
		return -EPROTO;
	total = RC_HDR_LEN + (size_t)m->hdr.body_len;
	if (total > len)
		return -EBADMSG;
	*consumed = total;
	if (buf[5] != 0 || (m->hdr.flags & ~RC_F_MORE))
		return -EBADMSG;
	if (!type_known(m->hdr.type))
		return -ENOMSG;
	return decode_body(buf + RC_HDR_LEN, m->hdr.body_len, m);
}

/* The entry of a decoded list at *off: its name and the `tail` bytes after it. */
static const uint8_t *
list_next(const uint8_t *raw, size_t end, size_t tail, size_t *off, struct rc_str *name)
{
	const uint8_t *after;
	size_t len;

	if (raw == NULL || *off >= end)
		return NULL;
	len = raw[*off];
	if (len + tail > end - *off - 1)
		return NULL;
	name->p = (const char *)raw + *off + 1;
	name->len = (uint16_t)len;
	after = raw + *off + 1 + len;
	*off += 1 + len + tail;
	return after;
}

bool
rc_member_list_next(const struct rc_msg *m, size_t *off, struct rc_str *user)
{
	if (m->hdr.type != RC_T_MEMBER_LIST)
		return false;
	return list_next(m->u.member_list.raw, m->u.member_list.raw_len, 0, off, user) != NULL;
}

bool
rc_room_list_next(const struct rc_msg *m, size_t *off, struct rc_str *room,
		  uint64_t *last_seq)
{
	const uint8_t *seq;

	if (m->hdr.type != RC_T_ROOM_LIST)
		return false;
	seq = list_next(m->u.room_list.raw, m->u.room_list.raw_len, 8, off, room);
	if (seq != NULL && last_seq != NULL)
		*last_seq = rc_get_be64(seq);
	return seq != NULL;
}

/* Views are pointers; a copy of the bytes gets the same offsets. */
static const void *
rebased(const void *p, const uint8_t *from, const uint8_t *to)
{
	return p == NULL ? NULL : to + ((const uint8_t *)p - from);
}

void
rc_msg_rebase(struct rc_msg *m, const uint8_t *from, const uint8_t *to)
{
	const struct rc_layout *l;
	struct rc_str *s;

	if (!type_known(m->hdr.type))
		return;
	l = &layouts[m->hdr.type];
	for (uint8_t i = 0; i < l->n; i++) {
		switch (l->f[i].kind) {
		case FK_STR8:
		case FK_STR16:
			s = field_ptr(m, &l->f[i]);
			s->p = rebased(s->p, from, to);
			break;
		case FK_USERS:
			m->u.member_list.raw = rebased(m->u.member_list.raw, from, to);
			break;
		case FK_ROOMS:
			m->u.room_list.raw = rebased(m->u.room_list.raw, from, to);
			break;
		default:
			break;
		}
	}
}

/* ---- Encoding ---- */

/* Validation errors as rc_encode reports them: -EMSGSIZE stays, the rest is -EINVAL. */
static ssize_t
encode_err(int rc)
{
	return rc == -EMSGSIZE ? -EMSGSIZE : -EINVAL;
}

static ssize_t
users_len(const struct rc_msg *m)
{
	const struct rc_str *users = m->u.member_list.users;
	ssize_t n = 2;

	if (m->u.member_list.count > 0 && users == NULL)
		return -EINVAL;
	for (unsigned i = 0; i < m->u.member_list.count; i++) {
		int rc = check_str(&users[i], FC_USER);

		if (rc < 0)
			return encode_err(rc);
		n += 1 + users[i].len;
	}
	return n;
}

static ssize_t
rooms_len(const struct rc_msg *m)
{
	const struct rc_room_entry *rooms = m->u.room_list.rooms;
	ssize_t n = 2;

	if (m->u.room_list.count > 0 && rooms == NULL)
		return -EINVAL;
	for (unsigned i = 0; i < m->u.room_list.count; i++) {
		int rc = check_str(&rooms[i].room, FC_ROOM);

		if (rc < 0)
			return encode_err(rc);
		n += 1 + rooms[i].room.len + 8;
	}
	return n;
}

static ssize_t
field_len(const struct rc_msg *m, const struct rc_field *f)
{
	const struct rc_str *s = field_ptr(m, f);

	switch (f->kind) {
	case FK_STR8:
		return 1 + s->len;
	case FK_STR16:
		return 2 + s->len;
	case FK_USERS:
		return users_len(m);
	case FK_ROOMS:
		return rooms_len(m);
	default:
		return (ssize_t)int_size(f->kind);
	}
}

ssize_t
rc_encoded_len(const struct rc_msg *m)
{
	const struct rc_layout *l;
	ssize_t total = RC_HDR_LEN;
	int rc;

	if (m == NULL || !type_known(m->hdr.type))
		return -EINVAL;
	rc = rc_msg_check(m);
	if (rc < 0)
		return encode_err(rc);
	l = &layouts[m->hdr.type];
	for (unsigned i = 0; i < l->n; i++) {
		ssize_t n = field_len(m, &l->f[i]);

		if (n < 0)
			return n;
		total += n;
	}
	if (total - RC_HDR_LEN > UINT16_MAX)
		return -EMSGSIZE;
	return total;
}

static uint8_t *
write_str(uint8_t *p, size_t lenlen, const struct rc_str *s)
{
	rc_put_be(p, lenlen, s->len);
	if (s->len > 0)
		memcpy(p + lenlen, s->p, s->len);
	return p + lenlen + s->len;
}

static uint8_t *
write_field(uint8_t *p, const struct rc_msg *m, const struct rc_field *f)
{
	switch (f->kind) {
	case FK_STR8:
		return write_str(p, 1, field_ptr(m, f));
	case FK_STR16:
		return write_str(p, 2, field_ptr(m, f));
	case FK_USERS:
		rc_put_be16(p, m->u.member_list.count);
		p += 2;
		for (unsigned i = 0; i < m->u.member_list.count; i++)
			p = write_str(p, 1, &m->u.member_list.users[i]);
		return p;
	case FK_ROOMS:
		rc_put_be16(p, m->u.room_list.count);
		p += 2;
		for (unsigned i = 0; i < m->u.room_list.count; i++) {
			p = write_str(p, 1, &m->u.room_list.rooms[i].room);
			rc_put_be64(p, m->u.room_list.rooms[i].last_seq);
			p += 8;
		}
		return p;
	default:
		rc_put_be(p, int_size(f->kind), field_get_int(m, f));
		return p + int_size(f->kind);
	}
}

static void
encode_hdr(uint8_t *buf, const struct rc_hdr *h, uint16_t body_len)
{
	rc_put_be16(buf, RC_MAGIC);
	buf[2] = RC_VERSION;
	buf[3] = h->type;
	buf[4] = h->flags;
	buf[5] = 0;
	rc_put_be16(buf + 6, body_len);
	rc_put_be64(buf + 8, h->session);
	rc_put_be32(buf + 16, h->request_id);
}

ssize_t
rc_encode(uint8_t *buf, size_t cap, const struct rc_msg *m)
{
	ssize_t total = rc_encoded_len(m);
	const struct rc_layout *l;
	uint8_t *p;

	if (total < 0)
		return total;
	if (buf == NULL || (size_t)total > cap)
		return -ENOSPC;
	encode_hdr(buf, &m->hdr, (uint16_t)(total - RC_HDR_LEN));
	l = &layouts[m->hdr.type];
	p = buf + RC_HDR_LEN;
	for (unsigned i = 0; i < l->n; i++)
		p = write_field(p, m, &l->f[i]);
	return total;
}

/* ---- Names ---- */

static const char *const msg_type_names[RC_T_MAX] = {
	[RC_T_INVALID] = "INVALID",
	[RC_T_LOGIN] = "LOGIN",
	[RC_T_LOGIN_OK] = "LOGIN_OK",
	[RC_T_JOIN] = "JOIN",
	[RC_T_JOINED] = "JOINED",
	[RC_T_LEAVE] = "LEAVE",
	[RC_T_LEFT] = "LEFT",
	[RC_T_POST] = "POST",
	[RC_T_ACK] = "ACK",
	[RC_T_DELIVER] = "DELIVER",
	[RC_T_FETCH] = "FETCH",
	[RC_T_FETCH_END] = "FETCH_END",
	[RC_T_MEMBERS] = "MEMBERS",
	[RC_T_MEMBER_LIST] = "MEMBER_LIST",
	[RC_T_PING] = "PING",
	[RC_T_PONG] = "PONG",
	[RC_T_LOGOUT] = "LOGOUT",
	[RC_T_BYE] = "BYE",
	[RC_T_ERROR] = "ERROR",
	[RC_T_RESUME] = "RESUME",
	[RC_T_REDIRECT] = "REDIRECT",
	[RC_T_RJOIN] = "RJOIN",
	[RC_T_RJOINED] = "RJOINED",
	[RC_T_RPOST] = "RPOST",
	[RC_T_RFETCH] = "RFETCH",
	[RC_T_RLEAVE] = "RLEAVE",
	[RC_T_RMEMBERS] = "RMEMBERS",
	[RC_T_ROOMS] = "ROOMS",
	[RC_T_ROOM_LIST] = "ROOM_LIST",
	[RC_T_COOKIE] = "COOKIE",
	[RC_T_LOGIN_COOKIE] = "LOGIN_COOKIE",
};

static const char *const err_names[RC_E_MAX] = {
	[RC_E_NONE] = "none",
	[RC_E_UNKNOWN_ROOM] = "unknown room",
	[RC_E_NOT_MEMBER] = "not a member",
	[RC_E_TOO_LARGE] = "too large",
	[RC_E_RATE_LIMITED] = "rate limited",
	[RC_E_NOT_AUTH] = "not authenticated",
	[RC_E_BAD_REQUEST] = "bad request",
	[RC_E_STORAGE_FULL] = "storage full",
	[RC_E_NOT_OWNER] = "not the owner of this room",
	[RC_E_BUSY] = "busy",
	[RC_E_LIMIT_REACHED] = "limit reached",
	[RC_E_ARCHIVED] = "room archived",
};

const char *
rc_msg_type_name(unsigned type)
{
	if (type >= RC_T_MAX || msg_type_names[type] == NULL)
		return "?";
	return msg_type_names[type];
}

static const char *const resume_reason_names[RC_RESUME_MAX] = {
	[RC_RESUME_NONE] = "none",
	[RC_RESUME_FAILOVER] = "failover",
	[RC_RESUME_FALLBACK] = "fallback",
	[RC_RESUME_OTHER] = "other",
};

const char *
rc_resume_reason_name(unsigned reason)
{
	if (reason >= RC_RESUME_MAX || resume_reason_names[reason] == NULL)
		return "?";
	return resume_reason_names[reason];
}

const char *
rc_err_name(unsigned code)
{
	if (code >= RC_E_MAX || err_names[code] == NULL)
		return "?";
	return err_names[code];
}

enum rc_err_code
rc_decode_err_code(int rc)
{
	if (rc >= 0)
		return RC_E_NONE;
	return rc == -EMSGSIZE ? RC_E_TOO_LARGE : RC_E_BAD_REQUEST;
}
