/* SPDX-License-Identifier: MIT */
/*
 * A scope's room ids (see scope.h): the ids never used yet (next_room_id up to room_hi),
 * then those of deleted rooms. A deleted room's id is a tombstone in the WAL until the WAL
 * has trimmed past the entry that deleted it: by then its messages are drained (the
 * database lost the room's rows as the tombstone drained) and, in an HA pair, the peer holds
 * the tombstone; the writer purges what is left of it when a new room takes the id.
 * Control thread only.
 */
#include "scope.h"

#include <errno.h>
#include <stdlib.h>

#include "wal.h"

void
rc_scope_ids_reset(struct rc_scope *s)
{
	s->next_room_id = s->room_lo;
	s->n_deleted = 0;
}

int
rc_scope_id_deleted(struct rc_scope *s, uint32_t id, uint64_t lsn)
{
	struct rc_scope_deleted *v;

	if (id < s->room_lo || id > s->room_hi)
		return -ERANGE;
	for (unsigned i = 0; i < s->n_deleted; i++)
		if (s->deleted[i].id == id) {
			s->deleted[i].lsn = lsn;
			return 0;
		}
	if (s->n_deleted == s->cap_deleted) {
		unsigned cap = s->cap_deleted ? 2 * s->cap_deleted : 16;

		v = realloc(s->deleted, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		s->deleted = v;
		s->cap_deleted = cap;
	}
	s->deleted[s->n_deleted++] = (struct rc_scope_deleted){ id, lsn };
	if (id >= s->next_room_id)
		s->next_room_id = id + 1;
	return 0;
}

/* The oldest deletion the WAL has trimmed past, or -1. */
static int
reusable(const struct rc_scope *s)
{
	uint64_t trimmed = rc_wal_trimmed_lsn(s->wal);
	int best = -1;

	for (unsigned i = 0; i < s->n_deleted; i++)
		if (s->deleted[i].lsn <= trimmed &&
		    (best < 0 || s->deleted[i].lsn < s->deleted[best].lsn))
			best = (int)i;
	return best;
}

bool
rc_scope_id_available(const struct rc_scope *s)
{
	return s->next_room_id <= s->room_hi || reusable(s) >= 0;
}

uint32_t
rc_scope_id_take(struct rc_scope *s)
{
	int i;
	uint32_t id;

	if (s->next_room_id <= s->room_hi)
		return s->next_room_id++;
	i = reusable(s);
	if (i < 0)
		return 0;
	id = s->deleted[i].id;
	s->deleted[i] = s->deleted[--s->n_deleted];
	return id;
}

void
rc_scope_ids_free(struct rc_scope *s)
{
	free(s->deleted);
	s->deleted = NULL;
	s->n_deleted = s->cap_deleted = 0;
}

unsigned
rc_scope_ids_waiting(const struct rc_scope *s)
{
	uint64_t trimmed = rc_wal_trimmed_lsn(s->wal);
	unsigned n = 0;

	for (unsigned i = 0; i < s->n_deleted; i++)
		n += s->deleted[i].lsn > trimmed;
	return n;
}
