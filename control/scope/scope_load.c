/* SPDX-License-Identifier: MIT */
/* A scope's rooms and sessions into the tables and out again: see scope.h. */
#include "scope.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <urcu-qsbr.h>

#include "clock.h"
#include "dedup.h"
#include "log.h"
#include "room_table.h"
#include "session.h"

/* ---- rooms ---- */

static void resume_session(struct rc_scope *s, const struct rc_session *se, unsigned reason);

/*
 * Room r changes kind here (our remote copy of it gives way to the room itself when we take
 * its service over, or the room gives way to a remote copy when we hand the service back):
 * its members whose sessions stay on this node (not of scope `leaving`; -1: none leaves)
 * lose the room id they know. Each gets a RESUME (reason "other", PROTOCOL.md 10.2): the
 * client re-JOINs with its last seq and reaches the room where it now lives, with nothing
 * missed; a member that only reads would otherwise stop receiving. Control thread; the
 * members are read under the room's lock, as the admin reader does.
 */
static void
resume_members(struct rc_scope *s, struct rc_room *r, int leaving)
{
	struct rc_session *se;
	unsigned i;

	rte_spinlock_lock(&r->lock);
	for (i = 0; i < r->n_members; i++) {
		const struct rc_member *m = &r->members[i];

		if (m->peer.relay != 0 || (leaving >= 0 && (m->peer.vip & 1) == (unsigned)leaving))
			continue;
		se = rc_session_lookup(s->set->dp->sessions, m->session);
		if (se != NULL)
			resume_session(s, se, RC_RESUME_OTHER);
	}
	rte_spinlock_unlock(&r->lock);
}

static int
load_room(void *arg, const struct rc_wal_room *sr)
{
	struct rc_scope *s = arg;
	struct rc_scopes *ss = s->set;
	struct rc_room *r;

	if (sr->room_id < s->room_lo || sr->room_id > s->room_hi) {
		RC_ERR("stored room %u (%s) is outside this scope's room ids %u..%u (HA splits "
		       "the ids between the two nodes: both need the same chat.max_rooms)",
		       sr->room_id, sr->name, s->room_lo, s->room_hi);
		return -ERANGE;
	}
	if (sr->flags & RC_WAL_ROOM_DELETED) /* a tombstone: its id only */
		return rc_scope_id_deleted(s, sr->room_id, sr->deleted_lsn);
	r = rc_room_lookup_id(ss->dp->rooms, sr->room_id);
	if (r != NULL && strcmp(r->name, sr->name) == 0) {
		/* already in the table (created meanwhile): keep it and its counters (its
		 * window is filled below like every other room of the scope) */
		r->scope = (uint8_t)s->idx;
		rc_room_set_archived(r, sr->flags & RC_WAL_ROOM_ARCHIVED);
		if (sr->room_id >= s->next_room_id)
			s->next_room_id = sr->room_id + 1;
		return 0;
	}
	r = rc_room_lookup_name(ss->dp->rooms, sr->name, (unsigned)strlen(sr->name));
	if (r != NULL && r->kind == RC_ROOM_REMOTE) { /* our copy while its host served it: */
		resume_members(s, r, -1);             /* the room takes its place */
		rc_room_del(ss->dp->rooms, r);
	}
	r = rc_room_add(ss->dp->rooms, sr->room_id, sr->name, (unsigned)strlen(sr->name),
			sr->creator, sr->created_ms, (uint16_t)(sr->room_id % ss->dp->n_workers));
	if (r == NULL && errno == EEXIST && ss->n > 1) {
		/* both nodes created a room of this name (while the HA link was cut, or within
		 * the replication lag): the other one stays, this one is not served */
		RC_ERR("ALARM: stored room %u (%s) not loaded: another room of that name is "
		       "served here (created on both nodes of the pair)", sr->room_id, sr->name);
		ss->rooms_name_clash++;
		return 0;
	}
	if (r == NULL) {
		RC_ERR("stored room %u (%s) cannot be loaded: %s", sr->room_id, sr->name,
		       strerror(errno));
		return -errno;
	}
	r->scope = (uint8_t)s->idx;
	rc_room_set_archived(r, sr->flags & RC_WAL_ROOM_ARCHIVED);
	r->next_seq = sr->last_seq + 1;
	r->last_committed = sr->last_seq;
	if (sr->room_id >= s->next_room_id)
		s->next_room_id = sr->room_id + 1;
	return 0;
}

/* The re-sent POST windows of a scope's rooms, from the WAL's re-sent POST keys
 * (PROTOCOL.md 7.6: a room's last dedup_window messages, across restarts and takeovers;
 * the WAL keeps those keys in "dkeys", wal.keep_per_room, whatever the trim does to the
 * messages). Runs while the rooms are not served. */
struct warm_rooms {
	struct rc_scope *s;
	uint64_t entries;
	unsigned short_windows; /* rooms whose window could not take every key (memory) */
};

static int
warm_one(void *arg, uint64_t seq, uint64_t cmid, const char *user, unsigned user_len)
{
	struct rc_room *r = arg;

	/* -ERANGE: a key older than the window (not trimmed yet); -ENOMEM: counted below */
	rc_dedup_put(r->dedup, seq, user, user_len, cmid, false);
	return 0;
}

static int
warm_room(void *arg, struct rc_room *r)
{
	struct warm_rooms *wr = arg;
	int rc;

	if (r->kind != RC_ROOM_HOSTED || r->scope != wr->s->idx || r->last_committed == 0)
		return 0;
	rc_dedup_forget_from(r->dedup, 1);
	rc_dedup_reserve(r->dedup, r->last_committed < UINT32_MAX ? (unsigned)r->last_committed :
								     UINT32_MAX);
	rc = rc_wal_read_dkeys(wr->s->wal, r->id, warm_one, r);
	if (rc < 0)
		RC_ERR("room %u (%s): cannot read its re-sent POST keys: %s", r->id, r->name,
		       strerror(-rc));
	else if (rc_dedup_count(r->dedup) < (unsigned)rc &&
		 rc_dedup_count(r->dedup) < rc_dedup_window(r->dedup))
		wr->short_windows++;
	wr->entries += rc_dedup_count(r->dedup);
	return 0;
}

static int
load_rooms(struct rc_scope *s)
{
	struct warm_rooms wr = { s, 0, 0 };
	uint64_t t0 = rc_mono_ms();
	int rc;

	rc_scope_ids_reset(s);
	rc = rc_wal_load_rooms(s->wal, load_room, s);
	if (rc != 0)
		return rc;
	rc_room_foreach(s->set->dp->rooms, warm_room, &wr);
	RC_INFO("re-sent POST windows of scope %u: %" PRIu64 " entries from the WAL in %" PRIu64
		" ms", s->idx, wr.entries, rc_mono_ms() - t0);
	if (wr.short_windows > 0)
		RC_ERR("ALARM: %u rooms' re-sent POST windows are incomplete (out of memory): a "
		       "resend of their recent messages may be stored twice", wr.short_windows);
	return 0;
}

/* ---- sessions ---- */

static void
resume_session(struct rc_scope *s, const struct rc_session *se, unsigned reason)
{
	struct rc_scopes *ss = s->set;
	struct rc_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = RC_T_RESUME;
	m.hdr.session = se->id;
	m.u.resume.node.p = ss->conf.node_id;
	m.u.resume.node.len = (uint16_t)strlen(ss->conf.node_id);
	m.u.resume.reason = (uint8_t)reason;
	if (rc_dp_send_msg(ss->dp, 0, &se->peer, &m) == 0)
		ss->resumes_sent++;
}

struct rc_session *
rc_scope_resume_one(struct rc_scope *s, const struct rc_scope_sess *e, unsigned reason)
{
	struct rc_session_table *t = s->set->dp->sessions;
	struct rc_peer p = { .ip = e->ip, .udp_port = e->udp_port, .port_idx = 0,
			     .vip = (uint8_t)s->idx };
	struct rc_session *se;

	memcpy(p.mac.addr_bytes, e->mac, 6);
	se = rc_session_lookup(t, e->id);
	if (se == NULL)
		se = rc_session_add_id(t, e->id, e->user, e->user_len, &p, rc_mono_ms());
	if (se == NULL) {
		RC_ERR("ha: session *%04x of %.*s cannot be taken over: %s", RC_LOG_SID(e->id),
		       (int)e->user_len, e->user, strerror(errno));
		return NULL;
	}
	resume_session(s, se, reason);
	return se;
}

unsigned
rc_scope_load_sessions(struct rc_scope *s, unsigned reason)
{
	unsigned k = 0;

	for (unsigned i = 0; i < s->n_sess; i++)
		k += rc_scope_resume_one(s, &s->sess[i], reason) != NULL;
	return k;
}

int
rc_scope_load(struct rc_scope *s)
{
	int rc;

	rcu_thread_offline(); /* rooms must be visible before their sessions */
	rcu_thread_online();
	rc = load_rooms(s);
	if (rc != 0) {
		rc_scope_unload(s);
		return rc;
	}
	s->loaded = true;
	return 0;
}

/* ---- unloading ---- */

struct unload_ctx {
	unsigned scope;
	unsigned count;
	void *victims[1024];
};

static int
pick_session(void *arg, struct rc_session *s)
{
	struct unload_ctx *c = arg;

	if ((s->peer.vip & 1) == c->scope)
		c->victims[c->count++] = s;
	return c->count == RTE_DIM(c->victims);
}

static int
pick_room(void *arg, struct rc_room *r)
{
	struct unload_ctx *c = arg;

	if (r->kind == RC_ROOM_HOSTED && r->scope == c->scope) /* remote rooms stay */
		c->victims[c->count++] = r;
	return c->count == RTE_DIM(c->victims);
}

static void
keep_session(struct rc_scope *s, const struct rc_session *se)
{
	struct rc_scope_sess e = { .id = se->id, .ip = se->peer.ip,
				   .udp_port = se->peer.udp_port, .user_len = se->user_len };

	memcpy(e.mac, se->peer.mac.addr_bytes, 6);
	memcpy(e.user, se->user, se->user_len);
	(void)rc_scope_sess_put(s, &e);
}

void
rc_scope_unload(struct rc_scope *s)
{
	struct rc_scopes *ss = s->set;
	struct unload_ctx c = { .scope = s->idx };

	if (s->loaded)
		rc_scope_sess_clear(s); /* rebuilt from the table: no stale session */
	do {
		c.count = 0;
		rc_session_foreach(ss->dp->sessions, pick_session, &c);
		for (unsigned i = 0; i < c.count; i++) {
			/* kept, as the peer keeps its copy: whichever node serves the scope
			 * next resumes the session (after a fence, it may be this one) */
			keep_session(s, c.victims[i]);
			/* not replicated (the peer has it); out of every room still served */
			rc_scopes_end_session(ss, c.victims[i]);
		}
	} while (c.count == RTE_DIM(c.victims));
	do {
		c.count = 0;
		rc_room_foreach(ss->dp->rooms, pick_room, &c);
		for (unsigned i = 0; i < c.count; i++) {
			/* our own users in it reach it through the relay from now on */
			resume_members(s, c.victims[i], (int)s->idx);
			rc_room_del(ss->dp->rooms, c.victims[i]);
		}
	} while (c.count == RTE_DIM(c.victims));
	s->loaded = false;
}
