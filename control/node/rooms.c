/* SPDX-License-Identifier: MIT */
/*
 * The control thread's half of the chat protocol, rooms (node.h): a JOIN for a room that
 * does not exist yet creates it (a room record to its scope's WAL; the JOINs and requests
 * that arrive meanwhile wait for the commit, in order), and a created room goes to the table
 * and its waiting requests to its home worker. ROOMS lists the rooms of the table.
 */
#include "node.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mempool.h>
#include <rte_ring.h>

#include "clock.h"
#include "cluster_node.h"
#include "log.h"
#include "relay_rooms.h"
#include "request.h"
#include "room_table.h"

static struct rc_pending_room *
pending_find(struct rc_node *n, const char *name, unsigned len, uint32_t id)
{
	unsigned i;

	for (i = 0; i < RC_PENDING_ROOMS; i++) {
		struct rc_pending_room *p = &n->pending[i];

		if (p->id == 0)
			continue;
		if (id != 0 ? p->id == id : p->name_len == len && memcmp(p->name, name, len) == 0)
			return p;
	}
	return NULL;
}

static int
forward_to_home(struct rc_node *n, struct rc_room *r, struct rc_work *wk)
{
	wk->kind = RC_WORK_REQUEST;
	if (rc_worker_push(n->dp.workers[r->home], n->dp.workers[r->home]->in, wk) != 0) {
		rc_node_reply_error(n, &wk->who, RC_E_BUSY, wk->req.hdr.type, "busy, retry", 0);
		return -ENOBUFS;
	}
	return 0; /* the worker frees it */
}

static bool
is_admin(const struct rc_cl_chat *ch, const struct rc_who *who)
{
	unsigned i;

	for (i = 0; i < ch->n_admins; i++)
		if (strlen(ch->admins[i]) == who->user_len &&
		    memcmp(ch->admins[i], who->user, who->user_len) == 0)
			return true;
	return false;
}

static bool
same_user(const char *a, unsigned alen, const char *b, unsigned blen)
{
	return alen == blen && memcmp(a, b, alen) == 0;
}

struct owned {
	const struct rc_who *who;
	unsigned n;
};

static int
count_owned(void *arg, struct rc_room *r)
{
	struct owned *o = arg;

	o->n += r->kind == RC_ROOM_HOSTED &&
		same_user(r->creator, (unsigned)strlen(r->creator), o->who->user, o->who->user_len);
	return 0;
}

/* Rooms this user created that exist here: the table's (loaded from the WAL at start, so a
 * restart does not reset the count) and the creations under way. */
static unsigned
rooms_of(struct rc_node *n, const struct rc_who *who)
{
	struct owned o = { who, 0 };
	unsigned i;

	rc_room_foreach(n->dp.rooms, count_owned, &o);
	for (i = 0; i < RC_PENDING_ROOMS; i++)
		o.n += n->pending[i].id != 0 &&
		       same_user(n->pending[i].creator, (unsigned)strlen(n->pending[i].creator),
				 who->user, who->user_len);
	return o.n;
}

/* One creation from the user's bucket (chat.room_create_per_min, as deep as the rate);
 * false when it is empty. Units: 1/60000 of a creation, refilled by the rate each ms. */
static bool
room_rate_take(struct rc_node *n, const struct rc_who *who)
{
	uint64_t per_min = n->cfg.room_create_per_min, cap = per_min * 60000, now = rc_mono_ms();
	uint32_t h = 2166136261u; /* FNV-1a */
	struct rc_room_rate *b;

	if (per_min == 0)
		return true;
	for (unsigned i = 0; i < who->user_len; i++)
		h = (h ^ (uint8_t)who->user[i]) * 16777619u;
	b = &n->room_rate[h % RC_ROOM_RATE_SLOTS];
	if (!same_user(b->user, b->user_len, who->user, who->user_len)) {
		b->user_len = who->user_len;
		memcpy(b->user, who->user, who->user_len);
		b->tokens = cap;
	} else if (now > b->stamp_ms) {
		b->tokens = RTE_MIN(cap, b->tokens + (now - b->stamp_ms) * per_min);
	}
	b->stamp_ms = now;
	if (b->tokens < 60000)
		return false;
	b->tokens -= 60000;
	return true;
}

/* The user's quota and rate of room creations (administrators exempt): 0, or -errno once
 * refused (the JOIN answered). */
static int
user_may_create(struct rc_node *n, struct rc_work *wk, const struct rc_cluster *cl)
{
	if (cl != NULL && is_admin(&cl->chat, &wk->who))
		return 0;
	/* the rate first: it is cheap, and the quota walks the table */
	if (!room_rate_take(n, &wk->who)) {
		n->rooms_refused_rate++;
		rc_node_reply_error(n, &wk->who, RC_E_RATE_LIMITED, RC_T_JOIN,
				    "room creation rate limited", 0);
		return -EAGAIN;
	}
	if (n->cfg.max_rooms_per_user != 0 && rooms_of(n, &wk->who) >= n->cfg.max_rooms_per_user) {
		n->rooms_refused_quota++;
		rc_node_reply_error(n, &wk->who, RC_E_LIMIT_REACHED, RC_T_JOIN,
				    "too many rooms created by this user", 0);
		return -EDQUOT;
	}
	return 0;
}

/* A room may be created in scope sc for this JOIN: 0, or -errno once refused (the
 * JOIN answered). */
static int
creation_allowed(struct rc_node *n, struct rc_work *wk, const struct rc_scope *sc)
{
	const struct rc_cluster *cl = rc_cluster_node_state(n->cn); /* NULL: none yet */

	if (cl != NULL && cl->chat.admins_only_create && !is_admin(&cl->chat, &wk->who)) {
		rc_node_reply_error(n, &wk->who, RC_E_BAD_REQUEST, RC_T_JOIN,
				    "only administrators create rooms here", 0);
		return -EPERM;
	}
	if (!n->dp.scope_serving[sc->idx]) {
		rc_node_reply_error(n, &wk->who, RC_E_NOT_OWNER, RC_T_JOIN,
				    n->dp.scope_away[sc->idx] ? n->dp.scope_away_text[sc->idx] :
				    "not the owner: these rooms are being moved between the HA pair",
				    0);
		return -EAGAIN;
	}
	if (n->dp.scope_no_peer[sc->idx]) { /* ha.durability "peer-required" */
		__atomic_fetch_add(&n->dp.peer_busy_refusals, 1, __ATOMIC_RELAXED);
		rc_node_reply_error(n, &wk->who, RC_E_BUSY, RC_T_JOIN,
				    "busy: no HA peer copy, retry", 0);
		return -EAGAIN;
	}
	if (!rc_scope_id_available(sc) ||
	    rc_room_hosted_count(n->dp.rooms) >= n->max_rooms * n->scopes.n) {
		rc_node_reply_error(n, &wk->who, RC_E_LIMIT_REACHED, RC_T_JOIN, "too many rooms",
				    0);
		return -ENOSPC;
	}
	return user_may_create(n, wk, cl);
}

/* Our copy of a room another node hosts (directory index host), for this JOIN: a table
 * entry with ids above the scopes', no record (the host stores the room). Kept once
 * created: an id is never reused. */
static int
create_remote(struct rc_node *n, struct rc_work *wk, const struct rc_str *name, unsigned host)
{
	uint32_t id = n->next_remote_id;
	struct rc_room *r;
	char creator[RC_MAX_USER + 1];

	if (id == 0 || id > n->remote_hi) {
		rc_node_reply_error(n, &wk->who, RC_E_LIMIT_REACHED, RC_T_JOIN, "too many rooms",
				    0);
		return -ENOSPC;
	}
	snprintf(creator, sizeof(creator), "%.*s", wk->who.user_len, wk->who.user);
	r = rc_room_add_remote(n->dp.rooms, id, name->p, name->len, creator, rc_wall_ms(),
			       (uint16_t)(id % n->dp.n_workers), (uint16_t)host);
	if (r == NULL) {
		rc_node_reply_error(n, &wk->who, RC_E_BUSY, RC_T_JOIN, "busy, retry", 0);
		return -errno;
	}
	n->next_remote_id++;
	RC_INFO("remote room %u \"%s\" (host: directory entry %u), home worker %u", r->id,
		r->name, host, r->home);
	return forward_to_home(n, r, wk);
}

/* An id taken for a creation that did not happen: the next one again if it was that, else
 * a deleted one again (reusable once the WAL has trimmed past lsn). */
static void
id_give_back(struct rc_scope *sc, uint32_t id, uint64_t lsn)
{
	if (id + 1 == sc->next_room_id && lsn == 0)
		sc->next_room_id = id;
	else
		(void)rc_scope_id_deleted(sc, id, lsn);
}

static int
start_creation(struct rc_node *n, struct rc_work *wk, const struct rc_str *name)
{
	struct rc_scope *sc;
	unsigned scope = 0;
	struct rc_pending_room *p;
	struct rc_wal_rec *rec;
	int rc = rc_room_resolve(&n->dp, name, &scope);

	if (rc == RC_ROOM_REMOTE)
		return create_remote(n, wk, name, scope);
	if (rc < 0 || scope >= n->scopes.n) {
		rc_node_reply_error(n, &wk->who, RC_E_UNKNOWN_ROOM, RC_T_JOIN,
				    "unknown room: no such service", 0);
		return -ENOENT;
	}
	sc = &n->scopes.sc[scope];
	if ((rc = creation_allowed(n, wk, sc)) != 0)
		return rc;
	for (p = n->pending; p < n->pending + RC_PENDING_ROOMS && p->id != 0; p++)
		;
	if (p == n->pending + RC_PENDING_ROOMS ||
	    rte_mempool_get(n->dp.wal_pool[scope], (void **)&rec) != 0) {
		rc_node_reply_error(n, &wk->who, RC_E_BUSY, RC_T_JOIN, "busy, retry", 0);
		return -ENOBUFS;
	}
	memset(rec, 0, offsetof(struct rc_wal_rec, ctx));
	rec->kind = RC_WAL_ROOM;
	rec->reply_to = RC_CTRL_IDX;
	rec->room_id = rc_scope_id_take(sc); /* not 0: creation_allowed checked */
	rec->ts_ms = rc_wall_ms();
	rec->user_len = wk->who.user_len;
	memcpy(rec->user, wk->who.user, wk->who.user_len);
	rec->body_len = name->len;
	memcpy(rec->body, name->p, name->len);
	if (rc_dp_wal_push(&n->dp, scope, rec) != 0) {
		id_give_back(sc, rec->room_id, 0);
		rte_mempool_put(n->dp.wal_pool[scope], rec);
		rc_node_reply_error(n, &wk->who, RC_E_BUSY, RC_T_JOIN, "busy, retry", 0);
		return -ENOBUFS;
	}
	p->id = rec->room_id;
	p->name_len = (uint8_t)name->len;
	memcpy(p->name, name->p, name->len);
	p->name[name->len] = '\0';
	snprintf(p->creator, sizeof(p->creator), "%.*s", wk->who.user_len, wk->who.user);
	p->n_joins = 1;
	p->joins[0] = wk;
	return 0;
}

/* A JOIN for a room that did not exist when a worker looked, or a request that followed
 * such a JOIN in the same datagram (dataplane/request.c): it runs after the creation, in the
 * order received. Returns true when the work item was handed on (the caller must not free
 * it). */
bool
rc_node_create_room(struct rc_node *n, struct rc_work *wk)
{
	const struct rc_str *name = rc_req_room(&wk->req); /* decoded on RX, into wk->msg */
	unsigned type = wk->req.hdr.type;
	struct rc_pending_room *p;
	struct rc_room *r;

	if (name == NULL)
		return false; /* only rows with a room hand over RC_WORK_CREATE_ROOM */
	r = rc_room_lookup_name(n->dp.rooms, name->p, name->len);
	if (r != NULL)
		return forward_to_home(n, r, wk) == 0;
	p = pending_find(n, name->p, name->len, 0);
	if (p != NULL) {
		if (p->n_joins == RC_PENDING_JOINS) {
			rc_node_reply_error(n, &wk->who, RC_E_BUSY, type, "busy, retry", 0);
			return false;
		}
		p->joins[p->n_joins++] = wk;
		return true;
	}
	if (type != RC_T_JOIN) { /* its JOIN was refused: answered as if alone */
		rc_node_reply_error(n, &wk->who, RC_E_UNKNOWN_ROOM, type, "unknown room", 0);
		return false;
	}
	return start_creation(n, wk, name) == 0;
}

/* ---- archived rooms ---- */

/* A state record (RC_WAL_ROOM_SET, cmid = flags) for hosted room r from its scope's pool,
 * answered to the control thread; NULL when the pool is empty (err says "busy"). */
static struct rc_wal_rec *
state_record(struct rc_node *n, const struct rc_room *r, uint64_t flags, char *err,
	     size_t errlen)
{
	struct rc_wal_rec *rec;

	if (r->scope >= n->scopes.n ||
	    rte_mempool_get(n->dp.wal_pool[r->scope], (void **)&rec) != 0) {
		snprintf(err, errlen, "busy, retry");
		return NULL;
	}
	memset(rec, 0, offsetof(struct rc_wal_rec, ctx));
	rec->kind = RC_WAL_ROOM_SET;
	rec->reply_to = RC_CTRL_IDX;
	rec->room_id = r->id;
	rec->cmid = flags;
	return rec;
}

int
rc_node_room_archive(struct rc_node *n, struct rc_room *r, bool on, char *err, size_t errlen)
{
	struct rc_wal_rec *rec;

	if (r->kind != RC_ROOM_HOSTED) {
		snprintf(err, errlen, "room \"%s\" is hosted by another node: archive it there",
			 r->name);
		return -EXDEV;
	}
	rec = state_record(n, r, on ? RC_WAL_ROOM_ARCHIVED : 0, err, errlen);
	if (rec == NULL)
		return -EBUSY;
	/* refused from now on: a POST queued before the record is stored before it */
	rc_room_set_archived(r, on);
	if (rc_dp_wal_push(&n->dp, r->scope, rec) != 0) {
		rte_mempool_put(n->dp.wal_pool[r->scope], rec);
		rc_room_set_archived(r, !on);
		snprintf(err, errlen, "busy, retry");
		return -EBUSY;
	}
	RC_INFO("room %u \"%s\" %s", r->id, r->name, on ? "archived: read-only" : "unarchived");
	return 0;
}

int
rc_node_room_delete(struct rc_node *n, struct rc_room *r, char *err, size_t errlen)
{
	struct rc_wal_rec *rec;

	if (r->kind != RC_ROOM_HOSTED) {
		snprintf(err, errlen, "room \"%s\" is hosted by another node: delete it there",
			 r->name);
		return -EXDEV;
	}
	if (r->scope >= n->scopes.n || !n->dp.scope_serving[r->scope]) {
		snprintf(err, errlen, "room \"%s\" is not served here now (HA move): retry",
			 r->name);
		return -EAGAIN;
	}
	rec = state_record(n, r,
			   RC_WAL_ROOM_DELETED | (rc_room_archived(r) ? RC_WAL_ROOM_ARCHIVED : 0),
			   err, errlen);
	if (rec == NULL)
		return -EBUSY;
	/* a POST a worker queues after this record (it looked the room up before it left
	 * the table) is refused by the WAL writer: nothing is stored after the tombstone */
	if (rc_dp_wal_push(&n->dp, r->scope, rec) != 0) {
		rte_mempool_put(n->dp.wal_pool[r->scope], rec);
		snprintf(err, errlen, "busy, retry");
		return -EBUSY;
	}
	RC_INFO("room %u \"%s\" deleted (%u members dropped, last seq %" PRIu64 ")", r->id,
		r->name, r->n_members, __atomic_load_n(&r->last_committed, __ATOMIC_RELAXED));
	n->rooms_deleted++;
	rc_room_del(n->dp.rooms, r); /* freed after the workers' grace period */
	return 0;
}

/* A tombstone's completion: its id waits for the WAL to trim past it. Not stored: the room
 * is out of the table but still in the WAL, where a restart or a takeover finds it. */
static void
room_deletion_stored(struct rc_node *n, const struct rc_wal_rec *rec)
{
	struct rc_scope *sc = rc_scopes_of_room(&n->scopes, rec->room_id);

	if (rec->status != 0) {
		RC_ERR("ALARM: room %u: its deletion could not be stored (%s): it is back after "
		       "a restart or a takeover; delete it again then", rec->room_id,
		       strerror(-rec->status));
		n->room_delete_failures++;
		return;
	}
	/* the tombstone's LSN is at most the last one now: the id waits at least that long */
	if (sc != NULL)
		(void)rc_scope_id_deleted(sc, rec->room_id, rc_wal_last_lsn(sc->wal));
}

/* A state record's completion: on failure the table goes back to what is stored, unless a
 * later command changed it again. */
static void
room_state_stored(struct rc_node *n, const struct rc_wal_rec *rec)
{
	struct rc_room *r = rc_room_lookup_id(n->dp.rooms, rec->room_id);
	bool on = rec->cmid & RC_WAL_ROOM_ARCHIVED;

	if (rec->cmid & RC_WAL_ROOM_DELETED) {
		room_deletion_stored(n, rec);
		return;
	}
	if (rec->status == 0)
		return;
	RC_ERR("room %u: its %s could not be stored: %s", rec->room_id,
	       on ? "archiving" : "unarchiving", strerror(-rec->status));
	if (r != NULL && r->kind == RC_ROOM_HOSTED && rc_room_archived(r) == on)
		rc_room_set_archived(r, !on);
}

void
rc_node_room_created(struct rc_node *n, struct rc_wal_rec *rec)
{
	struct rc_pending_room *p;
	struct rc_scope *sc;
	struct rc_room *r = NULL;
	unsigned i;

	if (rec->kind == RC_WAL_ROOM_SET) {
		room_state_stored(n, rec);
		return;
	}
	p = pending_find(n, NULL, 0, rec->room_id);
	if (p == NULL)
		return;
	sc = rc_scopes_of_room(&n->scopes, p->id);
	/* HA: the scope may have been unloaded while the creation was committed: the room is
	 * stored and loaded with the others by whoever serves the scope next */
	if (rec->status == 0 && sc != NULL && n->dp.scope_serving[sc->idx])
		r = rc_room_add(n->dp.rooms, p->id, p->name, p->name_len, p->creator, rec->ts_ms,
				(uint16_t)(p->id % n->dp.n_workers));
	if (r != NULL) {
		r->scope = (uint8_t)sc->idx;
		n->rooms_created++;
		RC_INFO("room %u \"%s\" created by %s, home worker %u", r->id, r->name,
			r->creator, r->home);
	} else {
		RC_ERR("room %u \"%s\" could not be created: %s", p->id, p->name,
		       rec->status != 0 ? strerror(-rec->status) : strerror(errno));
		/* a deleted room's id the WAL still holds (its tombstone not trimmed): later */
		if (rec->status == -EEXIST && sc != NULL)
			id_give_back(sc, p->id, rc_wal_last_lsn(sc->wal));
	}
	for (i = 0; i < p->n_joins; i++) {
		struct rc_work *wk = p->joins[i];

		if (r == NULL || forward_to_home(n, r, wk) != 0) {
			if (r == NULL && wk->req.hdr.type == RC_T_JOIN)
				rc_node_reply_error(n, &wk->who, RC_E_BUSY, RC_T_JOIN,
						    "room not created, retry", 0);
			else if (r == NULL)
				rc_node_reply_error(n, &wk->who, RC_E_UNKNOWN_ROOM,
						    wk->req.hdr.type, "unknown room", 0);
			rte_mempool_put(n->dp.work_pool, wk);
		}
	}
	p->id = 0;
	p->n_joins = 0;
}

/* ---- ROOMS ---- */

struct room_pick {
	const struct rc_str *prefix;
	struct rc_room_entry *rooms;
	unsigned n, cap;
};

static int
pick_room(void *arg, struct rc_room *r)
{
	struct room_pick *p = arg;

	if (r->kind != RC_ROOM_HOSTED || r->name_len < p->prefix->len ||
	    memcmp(r->name, p->prefix->p, p->prefix->len) != 0)
		return 0; /* a remote room is listed by its host */
	if (p->n == p->cap)
		return 1; /* the table grew since it was counted: only this thread adds rooms */
	p->rooms[p->n].room.p = r->name;
	p->rooms[p->n].room.len = r->name_len;
	p->rooms[p->n++].last_seq = __atomic_load_n(&r->last_committed, __ATOMIC_RELAXED);
	return 0;
}

static int
room_name_cmp(const void *a, const void *b)
{
	const struct rc_room_entry *x = a, *y = b;
	int c = memcmp(x->room.p, y->room.p, x->room.len < y->room.len ? x->room.len : y->room.len);

	return c != 0 ? c : (int)x->room.len - (int)y->room.len;
}

/* Sorted by name, each name once (a room we host that a node still lists, its service
 * having moved to us: the highest last seq heard). The count left. */
static unsigned
sort_unique(struct rc_room_entry *rooms, unsigned n)
{
	unsigned i, k = 0;

	if (n > 1)
		qsort(rooms, n, sizeof(*rooms), room_name_cmp);
	for (i = 0; i < n; i++) {
		if (k > 0 && room_name_cmp(&rooms[k - 1], &rooms[i]) == 0) {
			if (rooms[i].last_seq > rooms[k - 1].last_seq)
				rooms[k - 1].last_seq = rooms[i].last_seq;
			continue;
		}
		rooms[k++] = rooms[i];
	}
	return k;
}

/* As many rooms from rooms[*i] as fit one datagram; *i moves past them. */
static void
room_list_fill(struct rc_msg *m, const struct rc_room_entry *rooms, unsigned cnt, unsigned *i)
{
	size_t size = RC_HDR_LEN + 2;
	unsigned first = *i;

	for (; *i < cnt; (*i)++) {
		if (size + 1 + rooms[*i].room.len + 8 > RC_MAX_DGRAM)
			break;
		size += 1 + rooms[*i].room.len + 8;
	}
	m->u.room_list.count = (uint16_t)(*i - first);
	m->u.room_list.rooms = rooms + first;
	m->hdr.flags = *i < cnt ? RC_F_MORE : 0;
}

/*
 * ROOMS: a client gets the rooms of the whole cluster whose name starts with the prefix, ours
 * and those the other nodes last listed (room_dir.c), sorted, each once; another node asking
 * (over the relay) gets ours only, the rooms we host.
 */
void
rc_node_list_rooms(struct rc_node *n, struct rc_work *wk)
{
	bool client = wk->who.peer.relay == 0;
	struct room_pick p = { &wk->req.u.rooms.prefix, NULL, 0, rc_room_count(n->dp.rooms) };
	unsigned i = 0, cap;
	struct rc_msg m;

	if (wk->req.hdr.type != RC_T_ROOMS)
		return; /* only ROOMS' row hands over RC_WORK_ROOMS (request.c, relay_rooms.c) */
	cap = p.cap + (client ? rc_room_dir_count(n) : 0);
	if (cap > 0 && (p.rooms = calloc(cap, sizeof(*p.rooms))) == NULL) {
		rc_node_reply_error(n, &wk->who, RC_E_BUSY, RC_T_ROOMS, "busy, retry", 0);
		return;
	}
	rc_room_foreach(n->dp.rooms, pick_room, &p);
	if (client)
		p.n += rc_room_dir_pick(n, p.prefix, p.rooms + p.n, cap - p.n);
	p.n = sort_unique(p.rooms, p.n);
	do {
		memset(&m, 0, sizeof(m));
		m.hdr.type = RC_T_ROOM_LIST;
		room_list_fill(&m, p.rooms, p.n, &i);
		rc_node_reply(n, &wk->who, &m);
	} while (i < p.n);
	free(p.rooms);
}
