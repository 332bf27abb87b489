/* SPDX-License-Identifier: MIT */
/*
 * Sessions: who is logged in, from where. An RCU hash table (liburcu QSBR, rculfhash)
 * keyed by the 64-bit session id.
 *
 * Concurrency contract:
 *  - rc_session_lookup(): any registered RCU reader (workers), inside a read-side
 *    section (for QSBR: between quiescent states). The session stays valid until the
 *    reader's next quiescent state.
 *  - rc_session_add(), rc_session_del(), rc_session_table_destroy(): the control thread
 *    only (the single writer). Deleted sessions are freed after a grace period (call_rcu).
 *  - last_seen_ms and the rate and budget buckets are updated by workers with relaxed
 *    atomics.
 *  - The per-user and per-address index (rc_session_user_count(), rc_session_addr_count(),
 *    rc_session_user_oldest(), rc_session_user_at()): the control thread only; it is kept
 *    by rc_session_add*() and rc_session_del(), so that the caps on sessions per user and
 *    per address cost no walk of the table.
 */
#ifndef RC_SESSION_H
#define RC_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#include "limit.h"
#include "pkt.h"
#include "proto.h"

struct rc_session {
	struct cds_lfht_node node;
	struct rcu_head rcu;
	uint64_t id;
	uint64_t created_ms;
	uint64_t last_seen_ms;  /* monotonic ms; relaxed atomic */
	uint64_t rate_stamp_ms; /* token bucket: last refill; relaxed atomic */
	uint32_t rate_tokens;   /* token bucket: tokens left, in 1/1000 of a POST */
	struct rc_bucket budget; /* the request budget (budget.h); zeroed: full */
	uint8_t user_len;
	struct rc_peer peer;
	char user[RC_MAX_USER + 1];
	/* control thread only: the user's sessions, oldest first (the index) */
	struct rc_session *user_prev, *user_next;
};

struct rc_session_table;

struct rc_session_table *rc_session_table_create(unsigned max);
void rc_session_table_destroy(struct rc_session_table *t);

/* Reader. NULL if unknown. */
struct rc_session *rc_session_lookup(struct rc_session_table *t, uint64_t id);

/* Writer. Returns the new session (id random, non-zero, unique), or NULL + errno
 * (ENOSPC when max sessions are live). */
struct rc_session *rc_session_add(struct rc_session_table *t, const char *user,
				  unsigned user_len, const struct rc_peer *peer, uint64_t now_ms);
/* Writer. The same with a given id (an HA takeover keeps the peer's session ids); NULL +
 * errno EEXIST when that id is live, ENOSPC, EINVAL. id 0: a random one. */
struct rc_session *rc_session_add_id(struct rc_session_table *t, uint64_t id,
				     const char *user, unsigned user_len,
				     const struct rc_peer *peer, uint64_t now_ms);
/* Writer. The session is freed after a grace period. */
void rc_session_del(struct rc_session_table *t, struct rc_session *s);

unsigned rc_session_count(const struct rc_session_table *t);

/* Writer. Live sessions of this user; of this IPv4 address (network order). */
unsigned rc_session_user_count(const struct rc_session_table *t, const char *user,
			       unsigned user_len);
unsigned rc_session_addr_count(const struct rc_session_table *t, uint32_t ip);
/* Writer. The user's oldest live session (first created), or NULL. */
struct rc_session *rc_session_user_oldest(const struct rc_session_table *t, const char *user,
					  unsigned user_len);
/* Writer. The user's live session bound to peer's address and UDP port, or NULL. */
struct rc_session *rc_session_user_at(const struct rc_session_table *t, const char *user,
				      unsigned user_len, const struct rc_peer *peer);

/* Iterate (reader or writer): cb returns non-zero to stop. */
int rc_session_foreach(struct rc_session_table *t, int (*cb)(void *arg, struct rc_session *s),
		       void *arg);

/* Worker: refresh last_seen. */
void rc_session_touch(struct rc_session *s, uint64_t now_ms);

/* Worker: take one POST token; false when rate limited. */
bool rc_session_take_token(struct rc_session *s, uint64_t now_ms, unsigned rate,
			   unsigned burst);

#endif /* RC_SESSION_H */
