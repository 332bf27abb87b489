/* SPDX-License-Identifier: MIT */
/*
 * Re-sent POST detection: (room, user, client message id) -> sequence number, for the
 * most recent `capacity` POSTs of one worker's rooms, evicted oldest first.
 * An entry is "pending" from the moment its sequence number is assigned until the WAL
 * commit; a resend then is ignored (its ACK follows). Afterwards a resend is answered with
 * the same ACK. The user is identified by a 64-bit hash of its name.
 *
 * Concurrency: the home worker uses it; the control thread also writes it while it warms
 * the table for rooms it loads while the workers run (an HA takeover or reload). Every call
 * takes a spinlock (uncontended on the worker's fast path: a few ns).
 */
#ifndef RC_DEDUP_H
#define RC_DEDUP_H

#include <stdbool.h>
#include <stdint.h>

struct rc_dedup;

struct rc_dedup_key {
	uint32_t room_id;
	uint32_t zero; /* padding, always 0 */
	uint64_t user_hash;
	uint64_t cmid;
};

struct rc_dedup *rc_dedup_create(const char *name, unsigned capacity, int socket_id);
void rc_dedup_destroy(struct rc_dedup *d);

/* 0 and *seq, *pending when known, -ENOENT otherwise. */
int rc_dedup_find(const struct rc_dedup *d, const struct rc_dedup_key *k, uint64_t *seq,
		  bool *pending);
/* Insert or update (evicting the oldest entry when full). 0 or -errno. */
int rc_dedup_put(struct rc_dedup *d, const struct rc_dedup_key *k, uint64_t seq, bool pending);
/* Forget one key (a POST that could not be stored). */
void rc_dedup_forget(struct rc_dedup *d, const struct rc_dedup_key *k);
unsigned rc_dedup_count(const struct rc_dedup *d);

#endif /* RC_DEDUP_H */
