/* SPDX-License-Identifier: MIT */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>


struct rc_session_table {
	struct cds_lfht *ht;
	unsigned max;
	unsigned count; /* written by the control thread only */
};

struct rc_session_table *
rc_session_table_create(unsigned max)
{
	struct rc_session_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->max = max;
	t->ht = cds_lfht_new(1024, 1024, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	if (t->ht == NULL) {
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
	cds_lfht_node_init(&s->node);
	if (id != 0) {
		s->id = id;
		if (cds_lfht_add_unique(t->ht, (unsigned long)s->id, match_id, &s->id,
					&s->node) != &s->node) {
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
	t->count++;
	return s;
}

void
rc_session_del(struct rc_session_table *t, struct rc_session *s)
{
	if (cds_lfht_del(t->ht, &s->node) == 0) {
		t->count--;
		call_rcu(&s->rcu, session_free_rcu);
	}
}

unsigned
rc_session_count(const struct rc_session_table *t)
{
	return t->count;
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
