/* SPDX-License-Identifier: MIT */
#include "room_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_hash_crc.h>

#include "dedup.h"

struct rc_room_table {
	struct cds_lfht *ht;
	struct rc_room **by_id; /* [0..max]; slot 0 unused */
	unsigned max;
	unsigned dedup_window; /* each new room's re-sent POST window */
	unsigned count;   /* control thread */
	unsigned remote;  /* control thread: rooms of kind RC_ROOM_REMOTE among count */
	uint32_t max_id;  /* control thread */
	uint64_t incarnations; /* control thread: rooms ever added */
};

struct name_key {
	const char *name;
	unsigned len;
};

static unsigned long
name_hash(const char *name, unsigned len)
{
	return rte_hash_crc(name, len, 0x726f6f6d);
}

static int
match_name(struct cds_lfht_node *node, const void *key)
{
	const struct rc_room *r = caa_container_of(node, struct rc_room, node);
	const struct name_key *k = key;

	return r->name_len == k->len && memcmp(r->name, k->name, k->len) == 0;
}

struct rc_room_table *
rc_room_table_create(unsigned max_rooms)
{
	struct rc_room_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->max = max_rooms;
	t->dedup_window = RC_ROOM_DEDUP_WINDOW;
	t->by_id = calloc(max_rooms + 1, sizeof(*t->by_id));
	t->ht = cds_lfht_new(256, 256, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	if (t->by_id == NULL || t->ht == NULL) {
		if (t->ht != NULL)
			cds_lfht_destroy(t->ht, NULL);
		free(t->by_id);
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

void
rc_room_table_set_dedup_window(struct rc_room_table *t, unsigned window)
{
	t->dedup_window = window == 0 ? 1 : window;
}

static void
room_free(struct rc_room *r)
{
	rc_dedup_destroy(r->dedup);
	free(r->members);
	free(r);
}

void
rc_room_table_destroy(struct rc_room_table *t)
{
	unsigned i;

	if (t == NULL)
		return;
	for (i = 1; i <= t->max; i++) {
		if (t->by_id[i] == NULL)
			continue;
		cds_lfht_del(t->ht, &t->by_id[i]->node);
	}
	synchronize_rcu();
	for (i = 1; i <= t->max; i++)
		if (t->by_id[i] != NULL)
			room_free(t->by_id[i]);
	cds_lfht_destroy(t->ht, NULL);
	free(t->by_id);
	free(t);
}

struct rc_room *
rc_room_lookup_name(struct rc_room_table *t, const char *name, unsigned len)
{
	struct name_key k = { name, len };
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	cds_lfht_lookup(t->ht, name_hash(name, len), match_name, &k, &it);
	n = cds_lfht_iter_get_node(&it);
	return n == NULL ? NULL : caa_container_of(n, struct rc_room, node);
}

struct rc_room *
rc_room_lookup_id(struct rc_room_table *t, uint32_t id)
{
	if (id == 0 || id > t->max)
		return NULL;
	return rcu_dereference(t->by_id[id]);
}

static struct rc_room *
room_add(struct rc_room_table *t, uint32_t id, const char *name, unsigned name_len,
	 const char *creator, uint64_t created_ms, uint16_t home, int host_node)
{
	struct name_key k = { name, name_len };
	struct rc_room *r;

	if (id == 0 || id > t->max || name_len == 0 || name_len > RC_MAX_ROOM) {
		errno = id > t->max ? ENOSPC : EINVAL;
		return NULL;
	}
	if (t->by_id[id] != NULL || rc_room_lookup_name(t, name, name_len) != NULL) {
		errno = EEXIST;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->dedup = rc_dedup_create(t->dedup_window);
	if (r->dedup == NULL) {
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	r->id = id;
	r->incarnation = ++t->incarnations;
	r->home = home;
	r->name_len = (uint8_t)name_len;
	memcpy(r->name, name, name_len);
	snprintf(r->creator, sizeof(r->creator), "%s", creator != NULL ? creator : "");
	r->created_ms = created_ms;
	r->next_seq = 1;
	if (host_node >= 0) {
		r->kind = RC_ROOM_REMOTE;
		r->host_node = (uint16_t)host_node;
	}
	rte_spinlock_init(&r->lock);
	cds_lfht_node_init(&r->node);
	rcu_assign_pointer(t->by_id[id], r);
	cds_lfht_add_unique(t->ht, name_hash(name, name_len), match_name, &k, &r->node);
	t->count++;
	t->remote += r->kind == RC_ROOM_REMOTE;
	if (id > t->max_id)
		t->max_id = id;
	return r;
}

struct rc_room *
rc_room_add(struct rc_room_table *t, uint32_t id, const char *name, unsigned name_len,
	    const char *creator, uint64_t created_ms, uint16_t home)
{
	return room_add(t, id, name, name_len, creator, created_ms, home, -1);
}

struct rc_room *
rc_room_add_remote(struct rc_room_table *t, uint32_t id, const char *name, unsigned name_len,
		   const char *creator, uint64_t created_ms, uint16_t home, uint16_t host_node)
{
	return room_add(t, id, name, name_len, creator, created_ms, home, host_node);
}

static void
room_free_rcu(struct rcu_head *head)
{
	room_free(caa_container_of(head, struct rc_room, rcu));
}

int
rc_room_del(struct rc_room_table *t, struct rc_room *r)
{
	if (r == NULL || r->id == 0 || r->id > t->max || t->by_id[r->id] != r)
		return -ENOENT;
	if (cds_lfht_del(t->ht, &r->node) != 0)
		return -ENOENT;
	rcu_assign_pointer(t->by_id[r->id], NULL);
	t->count--;
	t->remote -= r->kind == RC_ROOM_REMOTE;
	call_rcu(&r->rcu, room_free_rcu);
	return 0;
}

unsigned
rc_room_count(const struct rc_room_table *t)
{
	return t->count;
}

unsigned
rc_room_hosted_count(const struct rc_room_table *t)
{
	return t->count - t->remote;
}

uint32_t
rc_room_max_id(const struct rc_room_table *t)
{
	return t->max_id;
}

unsigned
rc_room_capacity(const struct rc_room_table *t)
{
	return t->max;
}

int
rc_room_foreach(struct rc_room_table *t, int (*cb)(void *arg, struct rc_room *r), void *arg)
{
	struct cds_lfht_iter it;
	struct rc_room *r;
	int rc;

	cds_lfht_for_each_entry(t->ht, &it, r, node) {
		rc = cb(arg, r);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
rc_room_member_find(const struct rc_room *r, uint64_t session)
{
	unsigned i;

	for (i = 0; i < r->n_members; i++)
		if (r->members[i].session == session && r->members[i].peer.relay == 0)
			return (int)i;
	return -1;
}

int
rc_room_node_find(const struct rc_room *r, uint8_t relay)
{
	unsigned i;

	if (r->n_node_members == 0 || relay == 0)
		return -1;
	for (i = 0; i < r->n_members; i++)
		if (r->members[i].peer.relay == relay)
			return (int)i;
	return -1;
}

static int
member_append(struct rc_room *r, const struct rc_member *m, unsigned max)
{
	struct rc_member *grown;
	unsigned cap;

	if (r->n_members >= max)
		return -ENOSPC;
	if (r->n_members == r->cap_members) {
		cap = r->cap_members == 0 ? 8 : r->cap_members * 2;
		if (cap > max)
			cap = max;
		grown = malloc(cap * sizeof(*grown));
		if (grown == NULL)
			return -ENOMEM;
		if (r->n_members > 0)
			memcpy(grown, r->members, r->n_members * sizeof(*grown));
		rte_spinlock_lock(&r->lock);
		free(r->members);
		r->members = grown;
		r->cap_members = cap;
		rte_spinlock_unlock(&r->lock);
	}
	rte_spinlock_lock(&r->lock);
	r->members[r->n_members++] = *m;
	r->n_node_members += m->peer.relay != 0;
	rte_spinlock_unlock(&r->lock);
	return 0;
}

int
rc_room_member_add(struct rc_room *r, const struct rc_member *m, unsigned max)
{
	if (m->peer.relay != 0)
		return -EINVAL;
	if (rc_room_member_find(r, m->session) >= 0)
		return -EEXIST;
	return member_append(r, m, max);
}

int
rc_room_node_set(struct rc_room *r, const struct rc_member *m, unsigned max)
{
	int i = rc_room_node_find(r, m->peer.relay);

	if (m->peer.relay == 0)
		return -EINVAL;
	if (i < 0)
		return member_append(r, m, max);
	rte_spinlock_lock(&r->lock);
	r->members[i] = *m;
	rte_spinlock_unlock(&r->lock);
	return 0;
}

void
rc_room_member_remove_at(struct rc_room *r, unsigned i)
{
	if (i >= r->n_members)
		return;
	rte_spinlock_lock(&r->lock);
	r->n_node_members -= r->members[i].peer.relay != 0;
	r->members[i] = r->members[--r->n_members];
	rte_spinlock_unlock(&r->lock);
}

bool
rc_room_member_remove(struct rc_room *r, uint64_t session)
{
	int i = rc_room_member_find(r, session);

	if (i < 0)
		return false;
	rc_room_member_remove_at(r, (unsigned)i);
	return true;
}
