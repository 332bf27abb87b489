/* SPDX-License-Identifier: MIT */
#include "dedup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_hash.h>
#include <rte_spinlock.h>
#include <rte_hash_crc.h>

struct rc_dedup {
	rte_spinlock_t lock; /* the home worker, and the control thread warming it (HA) */
	struct rte_hash *h;
	struct rc_dedup_key *fifo; /* insertion order, a ring of `cap` keys */
	unsigned cap, head, count;
};

struct rc_dedup *
rc_dedup_create(const char *name, unsigned capacity, int socket_id)
{
	struct rte_hash_parameters p = {
		.name = name,
		/* twice the capacity: cuckoo hashing fills unevenly near its limit */
		.entries = capacity * 2 < 64 ? 64 : capacity * 2,
		.key_len = sizeof(struct rc_dedup_key),
		.hash_func = rte_hash_crc,
		.socket_id = socket_id,
	};
	struct rc_dedup *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->cap = capacity == 0 ? 1 : capacity;
	rte_spinlock_init(&d->lock);
	d->fifo = calloc(d->cap, sizeof(*d->fifo));
	d->h = rte_hash_create(&p);
	if (d->fifo == NULL || d->h == NULL) {
		rc_dedup_destroy(d);
		errno = ENOMEM;
		return NULL;
	}
	return d;
}

void
rc_dedup_destroy(struct rc_dedup *d)
{
	if (d == NULL)
		return;
	rte_hash_free(d->h);
	free(d->fifo);
	free(d);
}

static uintptr_t
pack(uint64_t seq, bool pending)
{
	return (uintptr_t)(seq << 1 | (pending ? 1 : 0));
}

int
rc_dedup_find(const struct rc_dedup *d, const struct rc_dedup_key *k, uint64_t *seq,
	      bool *pending)
{
	struct rc_dedup *w = (struct rc_dedup *)(uintptr_t)d; /* the lock only */
	void *data;
	int rc;

	rte_spinlock_lock(&w->lock);
	rc = rte_hash_lookup_data(d->h, k, &data);
	rte_spinlock_unlock(&w->lock);
	if (rc < 0)
		return -ENOENT;
	*seq = (uint64_t)(uintptr_t)data >> 1;
	*pending = ((uintptr_t)data & 1) != 0;
	return 0;
}

static void
evict_oldest(struct rc_dedup *d)
{
	unsigned tail = (d->head + d->cap - d->count) % d->cap;

	rte_hash_del_key(d->h, &d->fifo[tail]);
	d->count--;
}

static int
put_locked(struct rc_dedup *d, const struct rc_dedup_key *k, uint64_t seq, bool pending)
{
	void *old;
	int rc;

	if (rte_hash_lookup_data(d->h, k, &old) >= 0)
		return rte_hash_add_key_data(d->h, k, (void *)pack(seq, pending));
	if (d->count == d->cap)
		evict_oldest(d);
	rc = rte_hash_add_key_data(d->h, k, (void *)pack(seq, pending));
	while (rc == -ENOSPC && d->count > 0) {
		evict_oldest(d);
		rc = rte_hash_add_key_data(d->h, k, (void *)pack(seq, pending));
	}
	if (rc < 0)
		return rc;
	d->fifo[d->head] = *k;
	d->head = (d->head + 1) % d->cap;
	d->count++;
	return 0;
}

int
rc_dedup_put(struct rc_dedup *d, const struct rc_dedup_key *k, uint64_t seq, bool pending)
{
	int rc;

	rte_spinlock_lock(&d->lock);
	rc = put_locked(d, k, seq, pending);
	rte_spinlock_unlock(&d->lock);
	return rc;
}

void
rc_dedup_forget(struct rc_dedup *d, const struct rc_dedup_key *k)
{
	/* the FIFO slot stays; deleting a missing key later is harmless */
	rte_spinlock_lock(&d->lock);
	rte_hash_del_key(d->h, k);
	rte_spinlock_unlock(&d->lock);
}

unsigned
rc_dedup_count(const struct rc_dedup *d)
{
	return d->count;
}
