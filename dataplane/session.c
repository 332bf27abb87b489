/* SPDX-License-Identifier: MIT */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>


/* The index behind the caps (control thread only): one entry per user holding its
 * sessions oldest first, one per address holding a count; an entry lives while its count
 * is non-zero. */
struct user_ent {
	struct user_ent *next; /* bucket chain */
	struct rc_session *first, *last;
	unsigned count;
	uint8_t len;
	char user[RC_MAX_USER];
};

struct addr_ent {
	struct addr_ent *next;
	uint32_t ip;
	unsigned count;
};

#define INDEX_BUCKETS_MAX (1u << 20)

struct rc_session_table {
	struct cds_lfht *ht;
	unsigned max;
	unsigned count; /* written by the control thread only */
	unsigned mask;  /* buckets - 1, of both indexes */
	struct user_ent **users;
	struct addr_ent **addrs;
};

static unsigned
user_hash(const struct rc_session_table *t, const char *user, unsigned len)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (unsigned i = 0; i < len; i++)
		h = (h ^ (uint8_t)user[i]) * 16777619u;
	return h & t->mask;
}

static unsigned
addr_hash(const struct rc_session_table *t, uint32_t ip)
{
	return (unsigned)((ip * 2654435761u) >> 7) & t->mask;
}

static struct user_ent *
user_find(const struct rc_session_table *t, const char *user, unsigned len)
{
	struct user_ent *e = t->users[user_hash(t, user, len)];

	while (e != NULL && (e->len != len || memcmp(e->user, user, len) != 0))
		e = e->next;
	return e;
}

static struct addr_ent *
addr_find(const struct rc_session_table *t, uint32_t ip)
{
	struct addr_ent *e = t->addrs[addr_hash(t, ip)];

	while (e != NULL && e->ip != ip)
		e = e->next;
	return e;
}

/* The entries of s's user and address, created if need be (count 0); -ENOMEM. */
static int
index_prepare(struct rc_session_table *t, const struct rc_session *s)
{
	unsigned hu = user_hash(t, s->user, s->user_len), ha = addr_hash(t, s->peer.ip);
	struct user_ent *u = user_find(t, s->user, s->user_len);
	struct addr_ent *a = addr_find(t, s->peer.ip);

	if (u == NULL) {
		if ((u = calloc(1, sizeof(*u))) == NULL)
			return -ENOMEM;
		u->len = s->user_len;
		memcpy(u->user, s->user, s->user_len);
		u->next = t->users[hu];
		t->users[hu] = u;
	}
	if (a == NULL) {
		if ((a = calloc(1, sizeof(*a))) == NULL)
			return -ENOMEM;
		a->ip = s->peer.ip;
		a->next = t->addrs[ha];
		t->addrs[ha] = a;
	}
	return 0;
}

/* Drops the entries of s's user and address whose count is 0. */
static void
index_release(struct rc_session_table *t, const struct rc_session *s)
{
	struct user_ent **pu = &t->users[user_hash(t, s->user, s->user_len)];
	struct addr_ent **pa = &t->addrs[addr_hash(t, s->peer.ip)];

	for (; *pu != NULL; pu = &(*pu)->next) {
		struct user_ent *u = *pu;

		if (u->len == s->user_len && memcmp(u->user, s->user, u->len) == 0) {
			if (u->count == 0) {
				*pu = u->next;
				free(u);
			}
			break;
		}
	}
	for (; *pa != NULL; pa = &(*pa)->next) {
		struct addr_ent *a = *pa;

		if (a->ip == s->peer.ip) {
			if (a->count == 0) {
				*pa = a->next;
				free(a);
			}
			break;
		}
	}
}

/* s joins the index (its entries prepared): last of its user's sessions. */
static void
index_link(struct rc_session_table *t, struct rc_session *s)
{
	struct user_ent *u = user_find(t, s->user, s->user_len);

	s->user_next = NULL;
	s->user_prev = u->last;
	if (u->last != NULL)
		u->last->user_next = s;
	else
		u->first = s;
	u->last = s;
	u->count++;
	addr_find(t, s->peer.ip)->count++;
}

static void
index_unlink(struct rc_session_table *t, struct rc_session *s)
{
	struct user_ent *u = user_find(t, s->user, s->user_len);
	struct addr_ent *a = addr_find(t, s->peer.ip);

	if (u != NULL) {
		if (s->user_prev != NULL)
			s->user_prev->user_next = s->user_next;
		else
			u->first = s->user_next;
		if (s->user_next != NULL)
			s->user_next->user_prev = s->user_prev;
		else
			u->last = s->user_prev;
		u->count--;
	}
	if (a != NULL)
		a->count--;
	s->user_prev = s->user_next = NULL;
	index_release(t, s);
}

static void
index_free(struct rc_session_table *t)
{
	for (unsigned b = 0; b <= t->mask; b++) {
		while (t->users[b] != NULL) {
			struct user_ent *u = t->users[b];

			t->users[b] = u->next;
			free(u);
		}
		while (t->addrs[b] != NULL) {
			struct addr_ent *a = t->addrs[b];

			t->addrs[b] = a->next;
			free(a);
		}
	}
	free(t->users);
	free(t->addrs);
}

struct rc_session_table *
rc_session_table_create(unsigned max)
{
	struct rc_session_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->max = max;
	for (t->mask = 1; t->mask < max && t->mask < INDEX_BUCKETS_MAX; t->mask <<= 1)
		;
	t->mask--;
	t->users = calloc((size_t)t->mask + 1, sizeof(*t->users));
	t->addrs = calloc((size_t)t->mask + 1, sizeof(*t->addrs));
	t->ht = cds_lfht_new(1024, 1024, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	if (t->ht == NULL || t->users == NULL || t->addrs == NULL) {
		if (t->ht != NULL)
			cds_lfht_destroy(t->ht, NULL);
		free(t->users);
		free(t->addrs);
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

static void
session_free_rcu(struct rcu_head *head)
{
	free(caa_container_of(head, struct rc_session, rcu));
}

void
rc_session_table_destroy(struct rc_session_table *t)
{
	struct cds_lfht_iter it;
	struct rc_session *s;

	if (t == NULL)
		return;
	cds_lfht_for_each_entry(t->ht, &it, s, node) {
		cds_lfht_del(t->ht, &s->node);
		call_rcu(&s->rcu, session_free_rcu);
	}
	rcu_barrier();
	cds_lfht_destroy(t->ht, NULL);
	index_free(t);
	free(t);
}

static int
match_id(struct cds_lfht_node *node, const void *key)
{
	const struct rc_session *s = caa_container_of(node, struct rc_session, node);

	return s->id == *(const uint64_t *)key;
}

struct rc_session *
rc_session_lookup(struct rc_session_table *t, uint64_t id)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	if (id == 0)
		return NULL;
	cds_lfht_lookup(t->ht, (unsigned long)id, match_id, &id, &it);
	n = cds_lfht_iter_get_node(&it);
	return n == NULL ? NULL : caa_container_of(n, struct rc_session, node);
}

static uint64_t
random_id(void)
{
	uint64_t id = 0;

	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = 0;
	return id;
}

struct rc_session *
rc_session_add(struct rc_session_table *t, const char *user, unsigned user_len,
	       const struct rc_peer *peer, uint64_t now_ms)
{
	return rc_session_add_id(t, 0, user, user_len, peer, now_ms);
}

struct rc_session *
rc_session_add_id(struct rc_session_table *t, uint64_t id, const char *user,
		  unsigned user_len, const struct rc_peer *peer, uint64_t now_ms)
{
	struct rc_session *s;

	if (t->count >= t->max) {
		errno = ENOSPC;
		return NULL;
	}
	if (user_len == 0 || user_len > RC_MAX_USER) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	memcpy(s->user, user, user_len);
	s->user_len = (uint8_t)user_len;
	s->peer = *peer;
	s->created_ms = now_ms;
	s->last_seen_ms = now_ms;
	s->rate_stamp_ms = now_ms;
	s->rate_tokens = UINT32_MAX; /* full; clamped to the burst at first use */
	if (index_prepare(t, s) != 0) {
		index_release(t, s);
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	cds_lfht_node_init(&s->node);
	if (id != 0) {
		s->id = id;
		if (cds_lfht_add_unique(t->ht, (unsigned long)s->id, match_id, &s->id,
					&s->node) != &s->node) {
			index_release(t, s);
			free(s);
			errno = EEXIST;
			return NULL;
		}
	} else {
		do {
			s->id = random_id();
		} while (cds_lfht_add_unique(t->ht, (unsigned long)s->id, match_id, &s->id,
					     &s->node) != &s->node);
	}
	index_link(t, s);
	t->count++;
	return s;
}

void
rc_session_del(struct rc_session_table *t, struct rc_session *s)
{
	if (cds_lfht_del(t->ht, &s->node) == 0) {
		index_unlink(t, s);
		t->count--;
		call_rcu(&s->rcu, session_free_rcu);
	}
}

unsigned
rc_session_count(const struct rc_session_table *t)
{
	return t->count;
}

unsigned
rc_session_user_count(const struct rc_session_table *t, const char *user, unsigned user_len)
{
	const struct user_ent *u = user_find(t, user, user_len);

	return u == NULL ? 0 : u->count;
}

unsigned
rc_session_addr_count(const struct rc_session_table *t, uint32_t ip)
{
	const struct addr_ent *a = addr_find(t, ip);

	return a == NULL ? 0 : a->count;
}

struct rc_session *
rc_session_user_oldest(const struct rc_session_table *t, const char *user, unsigned user_len)
{
	const struct user_ent *u = user_find(t, user, user_len);

	return u == NULL ? NULL : u->first;
}

struct rc_session *
rc_session_user_at(const struct rc_session_table *t, const char *user, unsigned user_len,
		   const struct rc_peer *peer)
{
	const struct user_ent *u = user_find(t, user, user_len);
	struct rc_session *s;

	for (s = u == NULL ? NULL : u->first; s != NULL; s = s->user_next)
		if (s->peer.ip == peer->ip && s->peer.udp_port == peer->udp_port)
			return s;
	return NULL;
}

int
rc_session_foreach(struct rc_session_table *t, int (*cb)(void *arg, struct rc_session *s),
		   void *arg)
{
	struct cds_lfht_iter it;
	struct rc_session *s;
	int rc;

	cds_lfht_for_each_entry(t->ht, &it, s, node) {
		rc = cb(arg, s);
		if (rc != 0)
			return rc;
	}
	return 0;
}

void
rc_session_touch(struct rc_session *s, uint64_t now_ms)
{
	__atomic_store_n(&s->last_seen_ms, now_ms, __ATOMIC_RELAXED);
}

bool
rc_session_take_token(struct rc_session *s, uint64_t now_ms, unsigned rate, unsigned burst)
{
	uint64_t stamp = __atomic_load_n(&s->rate_stamp_ms, __ATOMIC_RELAXED);
	uint64_t tokens = __atomic_load_n(&s->rate_tokens, __ATOMIC_RELAXED);
	uint64_t cap = (uint64_t)burst * 1000;

	if (now_ms > stamp)
		tokens += (now_ms - stamp) * rate;
	if (tokens > cap)
		tokens = cap;
	__atomic_store_n(&s->rate_stamp_ms, now_ms, __ATOMIC_RELAXED);
	if (tokens < 1000) {
		__atomic_store_n(&s->rate_tokens, (uint32_t)tokens, __ATOMIC_RELAXED);
		return false;
	}
	__atomic_store_n(&s->rate_tokens, (uint32_t)(tokens - 1000), __ATOMIC_RELAXED);
	return true;
}
