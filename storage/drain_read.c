/* SPDX-License-Identifier: MIT */
/*
 * The drainer's batch: log records copied out of LMDB with their exact lengths, up to the
 * drain ceiling, checked against storage/wal_valid.h's rules, and their room names resolved
 * through a cache (room_id -> name; names never change). See drain_impl.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "drain_impl.h"
#include "wal_valid.h"

#define DRAIN_ROOMS_INIT 256

/* ---- the room cache ---- */

struct room_slot *
drain_rooms_find(struct room_cache *c, uint32_t id)
{
	for (unsigned i = (id * 2654435761u) & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
		if (!c->slots[i].used || c->slots[i].id == id)
			return &c->slots[i];
	}
}

int
drain_rooms_grow(struct room_cache *c)
{
	struct room_cache g = { .cap = c->cap != 0 ? c->cap * 2 : DRAIN_ROOMS_INIT, .n = c->n };

	g.slots = calloc(g.cap, sizeof(*g.slots));
	if (g.slots == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < c->cap; i++)
		if (c->slots[i].used)
			*drain_rooms_find(&g, c->slots[i].id) = c->slots[i];
	free(c->slots);
	*c = g;
	return 0;
}

/* The slot of id, inserted with name when missing, renamed when it holds another name
 * (the id of a deleted room, used again once the log was trimmed past its tombstone: no
 * record of the batch still points at the old name, the tombstone ended an earlier batch).
 * Slot pointers are valid until the next insertion. NULL when out of memory. */
static struct room_slot *
rooms_put(struct room_cache *c, uint32_t id, const char *name, size_t len)
{
	struct room_slot *s;
	char *copy;

	if ((c->n + 1) * 2 > c->cap && drain_rooms_grow(c) != 0)
		return NULL;
	s = drain_rooms_find(c, id);
	if (s->used && s->name_len == len && memcmp(s->name, name, len) == 0)
		return s;
	copy = malloc(len + 1);
	if (copy == NULL)
		return NULL;
	memcpy(copy, name, len);
	copy[len] = '\0';
	if (s->used) {
		free(s->name);
	} else {
		s->used = true;
		s->id = id;
		c->n++;
	}
	s->name = copy;
	s->name_len = (uint16_t)len;
	s->bad_name = false;
	return s;
}

void
drain_rooms_free(struct room_cache *c)
{
	for (unsigned i = 0; i < c->cap; i++)
		free(c->slots[i].name);
	free(c->slots);
	*c = (struct room_cache){ 0 };
}

/* ---- reading a batch ---- */

/* Copies a log record out, with its exact lengths, and checks it (wal_valid.h): a record
 * that breaks the rules, or the one the database refused alone (poison_lsn), is marked for
 * the dead-letter table. Stops (returns 1) at the drain ceiling, and after a record that
 * deletes a room (the batch ends with it). */
static int
drain_copy_rec(void *arg, const struct rc_wal_logrec *l)
{
	struct rc_drainer *d = arg;
	struct drain_rec *r;
	size_t ul = l->user.len, bl = l->body.len < RC_MAX_BODY ? l->body.len : RC_MAX_BODY;

	if (l->lsn > d->ceiling || d->cut)
		return 1;
	d->cut = drain_rec_deletes(l->kind, l->cmid);
	r = &d->recs[d->nrecs++];
	r->bad = NULL;
	r->bad_state = "";
	if (!rc_wal_rec_storable(l, &r->bad))
		r->bad_state = "";
	else if (l->lsn == d->poison_lsn) {
		r->bad = d->poison_err;
		r->bad_state = d->poison_state;
	}
	r->user_len = (uint8_t)ul;
	r->body_len = (uint16_t)bl;
	r->body_cut = (uint16_t)(l->body.len - bl);
	r->lsn = l->lsn;
	r->kind = l->kind;
	r->room_id = l->room_id;
	r->seq = l->seq;
	r->ts_ms = l->ts_ms;
	r->cmid = l->cmid;
	r->room = NULL;
	memcpy(r->user, l->user.p, ul);
	r->user[ul] = '\0';
	memcpy(r->body, l->body.p, bl);
	r->body[bl] = '\0';
	return 0;
}

/* The batch size now: batch_max, or less while a refused record is being isolated. */
static unsigned
drain_limit(const struct rc_drainer *d)
{
	return d->limit != 0 ? RTE_MIN(d->limit, d->conf.batch_max) : d->conf.batch_max;
}

int
drain_read(struct rc_drainer *d, uint64_t from, unsigned max)
{
	int rc;

	d->nrecs = 0;
	d->cut = false;
	d->ceiling = rc_wal_drain_ceiling(d->wal);
	rc = rc_wal_log_read(d->wal, from, RTE_MIN(max, drain_limit(d)), drain_copy_rec, d);
	return rc < 0 ? rc : (int)d->nrecs;
}

int
drain_read_more(struct rc_drainer *d, unsigned max)
{
	unsigned before = d->nrecs;
	int rc;

	max = RTE_MIN(max, drain_limit(d) - RTE_MIN(d->nrecs, drain_limit(d)));
	if (max == 0 || d->nrecs == 0 || d->cut)
		return 0;
	rc = rc_wal_log_read(d->wal, d->recs[d->nrecs - 1].lsn + 1, max, drain_copy_rec, d);
	return rc < 0 ? rc : (int)(d->nrecs - before);
}

struct room_slot *
drain_room(struct rc_drainer *d, uint32_t id)
{
	char name[RC_MAX_ROOM + 1];
	struct room_slot *s = drain_rooms_find(&d->rooms, id);

	if (s->used)
		return s;
	if (rc_wal_room_name(d->wal, id, name, sizeof(name)) != 0)
		return NULL;
	return rooms_put(&d->rooms, id, name, strlen(name));
}

void
drain_batch_begin(struct rc_drainer *d)
{
	d->gen++;
	d->nbrooms = 0;
	d->nmsgs = 0;
	d->nbad = 0;
}

int
drain_resolve(struct rc_drainer *d, unsigned first)
{
	for (unsigned i = first; i < d->nrecs; i++) {
		struct drain_rec *r = &d->recs[i];
		struct room_slot *s = r->kind == RC_WAL_ROOM ?
					      rooms_put(&d->rooms, r->room_id, r->body, r->body_len) :
					      drain_room(d, r->room_id);

		if (s == NULL)
			return -ENOENT;
		r->room = s->name;
		r->room_len = s->name_len;
		if (r->kind == RC_WAL_ROOM && !rc_wal_room_name_storable(r->body, r->body_len))
			s->bad_name = true; /* the cache's copy may be cut at a NUL: not a name */
		if (r->bad == NULL && r->kind == RC_WAL_MSG &&
		    (s->bad_name || !rc_wal_room_name_storable(s->name, strlen(s->name))))
			r->bad = "the room's name is empty, too long, not valid UTF-8 or holds a NUL "
				 "byte";
		if (r->bad != NULL)
			d->nbad++;
		if (r->kind != RC_WAL_MSG || r->bad != NULL)
			continue;
		d->nmsgs++;
		if (s->gen != d->gen) {
			s->gen = d->gen;
			s->max_seq = 0;
			d->brooms[d->nbrooms++] = r->room_id;
		}
		if (r->seq > s->max_seq)
			s->max_seq = r->seq;
	}
	return 0;
}
