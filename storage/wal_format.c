/* SPDX-License-Identifier: MIT */
/*
 * The WAL's on-disk layout (see wal_format.h for the table). Pure functions: no LMDB, no
 * DPDK, no allocation; reentrant.
 */
#include <errno.h>
#include <string.h>

#include "bytes.h"
#include "wal_format.h"

#define ROOM_HDR_LEN 10 /* created_ms, name_len, creator_len */
#define MSG_HDR_LEN 19  /* ts_ms, cmid, user_len, body_len */

size_t
rc_wal_room_key(uint8_t *buf, uint32_t room_id)
{
	rc_put_be32(buf, room_id);
	return RC_WAL_ROOM_KEY_LEN;
}

size_t
rc_wal_msg_key(uint8_t *buf, uint32_t room_id, uint64_t seq)
{
	rc_put_be32(buf, room_id);
	rc_put_be64(buf + 4, seq);
	return RC_WAL_MSG_KEY_LEN;
}

size_t
rc_wal_log_key(uint8_t *buf, uint64_t lsn)
{
	rc_put_be64(buf, lsn);
	return RC_WAL_LOG_KEY_LEN;
}

size_t
rc_wal_log_val(uint8_t *buf, const struct rc_wal_logent *e)
{
	buf[0] = e->kind;
	rc_put_be32(buf + 1, e->room_id);
	rc_put_be64(buf + 5, e->seq);
	rc_put_be32(buf + 13, e->value_len);
	return RC_WAL_LOG_VAL_LEN;
}

int
rc_wal_log_decode(const void *key, size_t klen, const void *val, size_t vlen,
		  struct rc_wal_logent *e)
{
	const uint8_t *v = val;

	if (klen != RC_WAL_LOG_KEY_LEN || vlen != RC_WAL_LOG_VAL_LEN)
		return -EIO;
	if (v[0] != RC_WAL_MSG && v[0] != RC_WAL_ROOM)
		return -EIO;
	*e = (struct rc_wal_logent){ .lsn = rc_get_be64(key),
				     .kind = v[0],
				     .room_id = rc_get_be32(v + 1),
				     .seq = rc_get_be64(v + 5),
				     .value_len = rc_get_be32(v + 13) };
	return 0;
}

bool
rc_wal_u64_decode(const void *val, size_t len, uint64_t *v)
{
	if (len != RC_WAL_U64_LEN)
		return false;
	*v = rc_get_be64(val);
	return true;
}

bool
rc_wal_seqs_decode(const void *val, size_t len, uint64_t *last, bool *deleted)
{
	const uint8_t *v = val;

	if (len != RC_WAL_U64_LEN && (len != RC_WAL_SEQS_TOMB_LEN || v[RC_WAL_U64_LEN] != 1))
		return false;
	*last = rc_get_be64(v);
	*deleted = len == RC_WAL_SEQS_TOMB_LEN;
	return true;
}

bool
rc_wal_msg_key_next(uint8_t *key)
{
	for (int i = RC_WAL_MSG_KEY_LEN - 1; i >= 0; i--)
		if (++key[i] != 0)
			return true;
	return false;
}

bool
rc_wal_msg_key_room(const void *key, size_t len, uint32_t *room_id)
{
	if (len != RC_WAL_MSG_KEY_LEN)
		return false;
	*room_id = rc_get_be32(key);
	return true;
}

int
rc_wal_rec_check(const struct rc_wal_rec *r)
{
	if (r->user_len > RC_MAX_USER)
		return -EINVAL;
	if (r->kind == RC_WAL_MSG)
		return r->seq != 0 && r->body_len <= RC_MAX_BODY ? 0 : -EINVAL;
	if (r->cmid & ~(uint64_t)RC_WAL_ROOM_FLAGS)
		return -EINVAL; /* a room's: its flags */
	if (r->kind == RC_WAL_ROOM_SET)
		return 0;
	if (r->kind == RC_WAL_ROOM && r->seq != 0 &&
	    (r->seq & ~(uint64_t)0xff) != RC_WAL_STATE_MARK)
		return -EINVAL;
	if (r->kind == RC_WAL_ROOM && r->seq == 0 && (r->cmid & RC_WAL_ROOM_DELETED))
		return -EINVAL; /* a room is deleted by a state change, never created so */
	if (r->kind == RC_WAL_ROOM)
		return r->body_len >= 1 && r->body_len <= RC_MAX_ROOM ? 0 : -EINVAL;
	return -EINVAL;
}

size_t
rc_wal_msg_val(uint8_t *buf, const struct rc_wal_rec *r)
{
	rc_put_be64(buf, r->ts_ms);
	rc_put_be64(buf + 8, r->cmid);
	buf[16] = r->user_len;
	rc_put_be16(buf + 17, r->body_len);
	memcpy(buf + MSG_HDR_LEN, r->user, r->user_len);
	memcpy(buf + MSG_HDR_LEN + r->user_len, r->body, r->body_len);
	return MSG_HDR_LEN + (size_t)r->user_len + r->body_len;
}

size_t
rc_wal_room_val(uint8_t *buf, const struct rc_wal_rec *r, uint64_t deleted_lsn)
{
	size_t len = ROOM_HDR_LEN + (size_t)r->body_len + r->user_len;

	rc_put_be64(buf, r->ts_ms);
	buf[8] = (uint8_t)r->body_len;
	buf[9] = r->user_len;
	memcpy(buf + ROOM_HDR_LEN, r->body, r->body_len);
	memcpy(buf + ROOM_HDR_LEN + r->body_len, r->user, r->user_len);
	if (r->cmid == 0)
		return len;
	buf[len++] = (uint8_t)r->cmid;
	if (!(r->cmid & RC_WAL_ROOM_DELETED))
		return len;
	rc_put_be64(buf + len, deleted_lsn);
	return len + RC_WAL_U64_LEN;
}

int
rc_wal_msg_decode(const void *key, size_t klen, const void *val, size_t vlen,
		  struct rc_wal_msg *m)
{
	const uint8_t *v = val;

	if (klen != RC_WAL_MSG_KEY_LEN || vlen < MSG_HDR_LEN)
		return -EIO;
	m->room_id = rc_get_be32(key);
	m->seq = rc_get_be64((const uint8_t *)key + 4);
	m->ts_ms = rc_get_be64(v);
	m->cmid = rc_get_be64(v + 8);
	m->user = (struct rc_str){ (const char *)v + MSG_HDR_LEN, v[16] };
	m->body = (struct rc_str){ m->user.p + m->user.len, rc_get_be16(v + 17) };
	if ((size_t)MSG_HDR_LEN + m->user.len + m->body.len != vlen)
		return -EIO;
	return 0;
}

/* The length a room value with a flags byte must have (base: without it): a tombstone's
 * deleted_lsn follows the byte. */
static size_t
room_val_len(size_t base, uint8_t flags)
{
	return base + 1 + (flags & RC_WAL_ROOM_DELETED ? RC_WAL_U64_LEN : 0);
}

int
rc_wal_room_decode(const void *key, size_t klen, const void *val, size_t vlen,
		   struct rc_wal_room *r, char name[RC_MAX_ROOM + 1],
		   char creator[RC_MAX_USER + 1])
{
	const uint8_t *v = val;
	uint8_t flags = 0;
	size_t base;

	if (klen != RC_WAL_ROOM_KEY_LEN || vlen < ROOM_HDR_LEN)
		return -EIO;
	base = (size_t)ROOM_HDR_LEN + v[8] + v[9];
	if (v[8] > RC_MAX_ROOM || v[9] > RC_MAX_USER || vlen < base)
		return -EIO;
	if (vlen > base)
		flags = v[base];
	if (vlen > base && vlen != room_val_len(base, flags))
		return -EIO;
	memcpy(name, v + ROOM_HDR_LEN, v[8]);
	name[v[8]] = '\0';
	memcpy(creator, v + ROOM_HDR_LEN + v[8], v[9]);
	creator[v[9]] = '\0';
	*r = (struct rc_wal_room){ .room_id = rc_get_be32(key),
				   .created_ms = rc_get_be64(v),
				   .name = name,
				   .creator = creator,
				   .name_len = v[8],
				   .creator_len = v[9],
				   .flags = flags,
				   .deleted_lsn = flags & RC_WAL_ROOM_DELETED ?
							  rc_get_be64(v + base + 1) : 0 };
	return 0;
}
