/* SPDX-License-Identifier: MIT */
/*
 * One room's re-sent POST window (dedup.h). Two arrays:
 *  - the ring: one entry per seq, at slot seq % cap; it grows (doubling, up to `window`)
 *    while every seq it holds is still inside the window;
 *  - the index: open addressing with linear probing over 2 x cap cells (rounded up to a
 *    power of two), each cell a ring slot + 1 (0: empty), found by SipHash(cmid, user);
 *    removal shifts the following cells back, so no tombstones.
 * An entry counts only while its seq is inside the window (seq > hi - window).
 */
#include "dedup.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto.h"

#define DEDUP_MIN_CAP 16u

struct dedup_ent {
	uint64_t seq; /* 0: empty */
	uint64_t cmid;
	uint32_t h; /* index hash of (cmid, user) */
	uint8_t user_len;
	uint8_t pending;
	char user[RC_MAX_USER];
};

struct rc_dedup {
	unsigned window;
	unsigned cap;   /* ring slots */
	unsigned count; /* entries in the ring (some may be outside the window) */
	unsigned idx_mask;
	uint64_t hi; /* the highest seq put (0: none) */
	struct dedup_ent *ring;
	uint32_t *idx;
};

static unsigned char dedup_key[crypto_shorthash_KEYBYTES];
static pthread_once_t dedup_once = PTHREAD_ONCE_INIT;
static int dedup_init_rc;

static void
dedup_global_init(void)
{
	if (sodium_init() < 0) {
		dedup_init_rc = -EIO;
		return;
	}
	randombytes_buf(dedup_key, sizeof(dedup_key));
}

static uint32_t
dedup_hash(const char *user, unsigned user_len, uint64_t cmid)
{
	unsigned char in[8 + RC_MAX_USER], out[crypto_shorthash_BYTES];
	uint32_t h;

	memcpy(in, &cmid, 8);
	memcpy(in + 8, user, user_len);
	crypto_shorthash(out, in, 8 + user_len, dedup_key);
	memcpy(&h, out, sizeof(h));
	return h;
}

static unsigned
pow2_at_least(unsigned n)
{
	unsigned p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static int
dedup_alloc(struct rc_dedup *d, unsigned cap)
{
	unsigned cells = pow2_at_least(2 * cap);

	d->ring = calloc(cap, sizeof(*d->ring));
	d->idx = calloc(cells, sizeof(*d->idx));
	if (d->ring == NULL || d->idx == NULL) {
		free(d->ring);
		free(d->idx);
		return -ENOMEM;
	}
	d->cap = cap;
	d->idx_mask = cells - 1;
	d->count = 0;
	return 0;
}

struct rc_dedup *
rc_dedup_create(unsigned window)
{
	struct rc_dedup *d;

	pthread_once(&dedup_once, dedup_global_init);
	if (dedup_init_rc != 0) {
		errno = -dedup_init_rc;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->window = window == 0 ? 1 : window;
	if (dedup_alloc(d, d->window < DEDUP_MIN_CAP ? d->window : DEDUP_MIN_CAP) != 0) {
		free(d);
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
	free(d->ring);
	free(d->idx);
	free(d);
}

static bool
in_window(const struct rc_dedup *d, uint64_t seq)
{
	return seq != 0 && (d->hi < d->window || seq > d->hi - d->window);
}

static bool
ent_is(const struct dedup_ent *e, const char *user, unsigned user_len, uint64_t cmid)
{
	return e->seq != 0 && e->cmid == cmid && e->user_len == user_len &&
	       memcmp(e->user, user, user_len) == 0;
}

/* The index cell pointing at (user, cmid), or -1. */
static long
idx_find(const struct rc_dedup *d, uint32_t h, const char *user, unsigned user_len,
	 uint64_t cmid)
{
	for (unsigned i = h & d->idx_mask; d->idx[i] != 0; i = (i + 1) & d->idx_mask)
		if (ent_is(&d->ring[d->idx[i] - 1], user, user_len, cmid))
			return (long)i;
	return -1;
}

static void
idx_insert(struct rc_dedup *d, unsigned slot)
{
	unsigned i = d->ring[slot].h & d->idx_mask;

	while (d->idx[i] != 0)
		i = (i + 1) & d->idx_mask;
	d->idx[i] = slot + 1;
}

/* Removes cell i, shifting back the cells of the probe run that follows it. */
static void
idx_remove_cell(struct rc_dedup *d, unsigned i)
{
	unsigned j = i;

	for (;;) {
		unsigned home;

		j = (j + 1) & d->idx_mask;
		if (d->idx[j] == 0)
			break;
		home = d->ring[d->idx[j] - 1].h & d->idx_mask;
		/* the entry at j may move to i unless its home lies cyclically in (i, j] */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			d->idx[i] = d->idx[j];
			i = j;
		}
	}
	d->idx[i] = 0;
}

/* Drops the ring's entry at slot (and its index cell). */
static void
ent_drop(struct rc_dedup *d, unsigned slot)
{
	struct dedup_ent *e = &d->ring[slot];

	for (unsigned i = e->h & d->idx_mask; d->idx[i] != 0; i = (i + 1) & d->idx_mask) {
		if (d->idx[i] == slot + 1) {
			idx_remove_cell(d, i);
			break;
		}
	}
	memset(e, 0, sizeof(*e));
	d->count--;
}

int
rc_dedup_find(const struct rc_dedup *d, const char *user, unsigned user_len, uint64_t cmid,
	      uint64_t *seq, bool *pending)
{
	const struct dedup_ent *e;
	long i;

	if (user_len > RC_MAX_USER)
		return -ENOENT;
	i = idx_find(d, dedup_hash(user, user_len, cmid), user, user_len, cmid);
	if (i < 0)
		return -ENOENT;
	e = &d->ring[d->idx[i] - 1];
	if (!in_window(d, e->seq))
		return -ENOENT;
	*seq = e->seq;
	*pending = e->pending != 0;
	return 0;
}

/* Re-homes every entry still inside the window (hi' = new_hi) into a ring of new_cap. */
static int
dedup_grow(struct rc_dedup *d, unsigned new_cap, uint64_t new_hi)
{
	struct rc_dedup old = *d;
	uint64_t keep_above = new_hi > d->window ? new_hi - d->window : 0;

	if (dedup_alloc(d, new_cap) != 0) {
		*d = old;
		return -ENOMEM;
	}
	for (unsigned s = 0; s < old.cap; s++) {
		unsigned slot;

		if (old.ring[s].seq <= keep_above)
			continue;
		slot = (unsigned)(old.ring[s].seq % new_cap);
		if (d->ring[slot].seq > old.ring[s].seq)
			continue; /* cannot happen (new_cap covers the span): the newer stays */
		if (d->ring[slot].seq != 0)
			ent_drop(d, slot);
		d->ring[slot] = old.ring[s];
		idx_insert(d, slot);
		d->count++;
	}
	free(old.ring);
	free(old.idx);
	return 0;
}

/* The ring capacity that gives every seq of (hi - window, hi] inside [lo, hi] a slot of its
 * own: at least the span, doubled from today's, at most the window. */
static unsigned
dedup_cap_for(const struct rc_dedup *d, uint64_t lo, uint64_t hi)
{
	uint64_t span = hi - lo + 1;
	unsigned cap = d->cap;

	while (cap < d->window && cap < span)
		cap = cap * 2 > d->window ? d->window : cap * 2;
	return cap;
}

int
rc_dedup_put(struct rc_dedup *d, uint64_t seq, const char *user, unsigned user_len,
	     uint64_t cmid, bool pending)
{
	uint64_t new_hi = seq > d->hi ? seq : d->hi;
	uint32_t h;
	struct dedup_ent *e;
	unsigned slot;
	long i;

	if (seq == 0 || user_len > RC_MAX_USER)
		return -EINVAL;
	if (new_hi >= d->window && seq <= new_hi - d->window)
		return -ERANGE;
	h = dedup_hash(user, user_len, cmid);
	i = idx_find(d, h, user, user_len, cmid);
	if (i >= 0) {
		e = &d->ring[d->idx[i] - 1];
		if (e->seq == seq) {
			e->pending = pending;
			return 0;
		}
		ent_drop(d, d->idx[i] - 1); /* the same key at another seq: the newest wins */
	}
	slot = (unsigned)(seq % d->cap);
	e = &d->ring[slot];
	if (e->seq != 0 && e->seq != seq && e->seq > new_hi - (new_hi >= d->window ?
								 d->window : new_hi)) {
		/* the slot's entry is still inside the window: a bigger ring */
		uint64_t lo = e->seq < seq ? e->seq : seq;

		for (unsigned s = 0; s < d->cap; s++)
			if (d->ring[s].seq != 0 && in_window(d, d->ring[s].seq) &&
			    d->ring[s].seq < lo)
				lo = d->ring[s].seq;
		if (dedup_grow(d, dedup_cap_for(d, lo, new_hi), new_hi) != 0)
			return -ENOMEM;
		slot = (unsigned)(seq % d->cap);
		e = &d->ring[slot];
	}
	if (e->seq != 0)
		ent_drop(d, slot);
	*e = (struct dedup_ent){ .seq = seq, .cmid = cmid, .h = h,
				 .user_len = (uint8_t)user_len, .pending = pending };
	memcpy(e->user, user, user_len);
	idx_insert(d, slot);
	d->count++;
	d->hi = new_hi;
	return 0;
}

int
rc_dedup_reserve(struct rc_dedup *d, unsigned n)
{
	uint64_t lo = d->hi;

	for (unsigned s = 0; s < d->cap; s++) /* the entries inside the window keep a slot */
		if (d->ring[s].seq != 0 && in_window(d, d->ring[s].seq) && d->ring[s].seq < lo)
			lo = d->ring[s].seq;
	if (d->hi > 0 && d->hi - lo + 1 > n)
		n = d->hi - lo + 1 > d->window ? d->window : (unsigned)(d->hi - lo + 1);
	if (n > d->window)
		n = d->window;
	if (n <= d->cap)
		return 0;
	return dedup_grow(d, n, d->hi);
}

int
rc_dedup_stored(struct rc_dedup *d, uint64_t seq, const char *user, unsigned user_len,
		uint64_t cmid)
{
	struct dedup_ent *e = &d->ring[seq % d->cap];

	if (e->seq == seq && ent_is(e, user, user_len, cmid)) {
		e->pending = 0;
		return 0;
	}
	return rc_dedup_put(d, seq, user, user_len, cmid, false);
}

void
rc_dedup_forget_seq(struct rc_dedup *d, uint64_t seq)
{
	unsigned slot = (unsigned)(seq % d->cap);

	if (seq != 0 && d->ring[slot].seq == seq)
		ent_drop(d, slot);
}

void
rc_dedup_forget_from(struct rc_dedup *d, uint64_t seq)
{
	for (unsigned s = 0; s < d->cap; s++)
		if (d->ring[s].seq >= seq && d->ring[s].seq != 0)
			ent_drop(d, s);
	if (seq > 0 && d->hi >= seq)
		d->hi = seq - 1;
}

unsigned
rc_dedup_count(const struct rc_dedup *d)
{
	return d->count;
}

unsigned
rc_dedup_window(const struct rc_dedup *d)
{
	return d->window;
}
