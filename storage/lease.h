/* SPDX-License-Identifier: MIT */
/*
 * Ownership leases in the group's PostgreSQL database (control/ha/HA.md): who owns a
 * scope, at which epoch, until when. A scope is a string; the rooms hosted on node X are the
 * scope "rooms:X" (rc_lease_scope()). The lease is what keeps a pair out of split brain: a missed
 * heartbeat only starts a takeover ATTEMPT; ownership is granted here.
 *
 * The rules (table ha_lease, functions rc_lease_* of schema version 2, storage/schema.c):
 *  - Every operation is one statement (one autocommit transaction, one round trip) that
 *    takes its time from the DATABASE's clock: t = statement_timestamp(), the moment the
 *    server received the request. Expiry is the database's: valid while t < expires_at.
 *  - acquire: succeeds when the scope is free (never leased), expired (or released), or
 *    already held by the caller and valid. Held-and-valid by the caller is a renewal: the
 *    epoch is kept. Any other success starts a new term: epoch + 1 (the first lease of a
 *    scope gets epoch 1; 0 means "no HA"). Another holder's valid lease: -EBUSY, with the
 *    holder and the remaining time in *out.
 *  - acquire_forced (admin failover only): takes the scope even from a holder whose lease
 *    is still valid (epoch + 1). The database refuses the old holder's writes at once, but
 *    the old holder may keep ACKNOWLEDGING until its own guard runs out (up to ttl), so
 *    use it only when the operator knows the holder is down or cut off from its clients
 *    (powered off, isolated, process killed): that is what "force" vouches for.
 *  - renew: extends the expiry to t + ttl (never shortens it) only while the caller still
 *    holds the scope at that epoch AND the lease has not expired; otherwise -ESTALE: fence
 *    now (*out says who holds it, or RC_LEASE_EXPIRED / RC_LEASE_MISSING). An expired
 *    lease is gone: it is not resurrected by a renewal, the holder acquires again and gets
 *    a new epoch (so every write of the old term is fenced, even its own late ones).
 *  - release: hands the scope back (fallback): the lease expires at t, the next acquire
 *    (anyone's) gets epoch + 1. Stop acknowledging BEFORE releasing (rc_lease_release
 *    revokes the guard it is given first): the other node may acquire at once.
 *  - Rows are never deleted: epochs only grow. Deleting an ha_lease row restarts the scope
 *    at epoch 1 and could let a writer of an old epoch-1 term through: do not.
 *  - A holder name stands for one running process: a node keeps its id across restarts
 *    (acquiring a lease it still holds is a renewal), but two live processes must never
 *    share one, or they share an epoch and cannot fence each other.
 *
 * Stale writes: an AFTER INSERT trigger on messages (statement level, transition table)
 * refuses every inserted row whose (node, epoch) does not match the lease of scope
 * "rooms:" || node, when that lease row exists; SQLSTATE RC001, which rc_pgdb maps to
 * -ESTALE and the drainer reports as "stale epoch: fenced". No lease row (single node,
 * epoch 0): no check. Details and the locking argument are in storage/schema.c.
 *
 * The guard (self-fencing): the holder must stop acknowledging before the DATABASE can
 * consider its lease expired. After each successful acquire/renew, rc_lease_guard_grant()
 * sets
 *     valid_until = sent_mono + ttl - margin
 * where sent_mono is this host's CLOCK_MONOTONIC read just BEFORE the request was sent
 * (rc_lease_* record it in out->sent_mono_ms), and the node acknowledges only while
 * rc_lease_guard_ok(g, now_mono). Why this is safe:
 *   the database grants expires_at = t + ttl, on its clock, where t is read after the
 *   request arrived, so in real time t happens after sent_mono. Let rho bound the rate
 *   error of either clock (|d clock / d real - 1| <= rho). The database declares the lease
 *   expired no earlier than real time r(t) + ttl / (1 + rho); we stop at real time
 *   r(sent_mono) + (ttl - margin) / (1 - rho) at the latest. With r(sent_mono) <= r(t),
 *   stopping first needs margin > ttl * 2 rho / (1 + rho), i.e. about 2 rho ttl.
 *   Latency (request and answer), a renewal that waited for a lock, an answer that never
 *   came: all only make the real lease longer than the guard, never shorter.
 * Assumptions, stated:
 *   1. clock RATES are bounded: rho (we allow 1%, i.e. 10000 ppm, thousands of times what
 *      quartz clocks drift); the clocks need not agree on the time of day;
 *   2. the database's clock is not STEPPED forward while a lease runs (an NTP step or a
 *      manual date change on the database host shortens every lease by the step: run NTP
 *      in slew mode there, or keep steps below the margin); CLOCK_MONOTONIC never steps;
 *   3. "stop acknowledging" is checked at the moment of the decision, with a reading of
 *      CLOCK_MONOTONIC that is at most RC_LEASE_SLACK_MS old (a worker's cached loop time),
 *      and an ACK decided before valid_until may still be on the wire after it (the new
 *      owner cannot have accepted anything before expires_at, which is later);
 *   4. the lease calls run in their own autocommit transactions (not inside a BEGIN), so
 *      that statement_timestamp() is read after the request arrives;
 *   5. the new owner acts only on this database's answer (epoch + 1 after expiry), and a
 *      node never acknowledges for a scope whose lease it does not hold.
 * rc_lease_margin_ms(ttl) = ttl / 50 (2 rho ttl with rho = 1%) + RC_LEASE_SLACK_MS.
 *
 * Cadence (for the caller): renew every ttl / 3 or more often, with a statement timeout
 * below ttl / 3 on the lease connection (rc_lease_session()), so that two renewals can
 * fail before the guard runs out; a renewal that fails with -ETIMEDOUT, -ECONNRESET, ...
 * leaves the guard as it was (it runs out on its own); -ESTALE means fence now.
 *
 * Threads: the rc_lease_* calls use a struct rc_pgdb owned by the calling thread (the
 * control thread's own connection: not the drainer's, whose transactions would delay
 * them). A struct rc_lease_guard has ONE writer (the control thread: grant, revoke) and
 * any number of readers (workers: rc_lease_guard_ok, rc_lease_guard_epoch); its fields are
 * atomics, readers never block. Nothing here logs.
 */
#ifndef RC_LEASE_H
#define RC_LEASE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lease_guard.h"
#include "pgdb.h"

#define RC_LEASE_NAME_MAX 128        /* scope and holder names, bytes */
#define RC_LEASE_TTL_MAX_MS 86400000 /* one day */
#define RC_LEASE_SLACK_MS 25         /* assumption 3: age of a "now" reading, ACK decision */
#define RC_LEASE_SQLSTATE_STALE "RC001" /* the messages trigger's refusal */

enum rc_lease_status {
	RC_LEASE_NEW = 0,    /* acquire: the scope's first lease (epoch 1) */
	RC_LEASE_RENEWED,    /* acquire/renew: mine and valid: expiry extended, epoch kept */
	RC_LEASE_REACQUIRED, /* acquire: mine but expired or released: epoch + 1 */
	RC_LEASE_TAKEN,      /* acquire: another holder's EXPIRED lease: epoch + 1 */
	RC_LEASE_FORCED,     /* acquire_forced: another holder's VALID lease: epoch + 1 */
	RC_LEASE_BUSY,       /* acquire: another holder's valid lease (-EBUSY) */
	RC_LEASE_STALE,      /* renew/release: another holder or epoch now (-ESTALE) */
	RC_LEASE_EXPIRED,    /* renew: still mine at that epoch, but expired (-ESTALE) */
	RC_LEASE_MISSING,    /* renew/release/get: no lease for the scope (-ESTALE/-ENOENT) */
	RC_LEASE_RELEASED,   /* release: done (it expires now) */
	RC_LEASE_HELD,       /* get: valid */
	RC_LEASE_FREE,       /* get: expired or released */
	RC_LEASE_STATUS_MAX,
};

/* What the database said. Times are microseconds since the Unix epoch on the DATABASE's
 * clock; sent_mono_ms is this host's CLOCK_MONOTONIC, read before the request was sent. */
struct rc_lease {
	char scope[RC_LEASE_NAME_MAX + 1];
	char holder[RC_LEASE_NAME_MAX + 1]; /* the holder now (on success: the caller) */
	uint64_t epoch;                     /* the holder's epoch */
	int64_t db_now_us;                  /* t: the database's clock at the request */
	int64_t expires_us;                 /* the lease's expiry on that clock */
	uint64_t remaining_ms;              /* expires - t, 0 when expired */
	uint64_t sent_mono_ms;
	uint32_t ttl_ms;                    /* as asked (0 for release and get) */
	enum rc_lease_status status;
};


/* "rooms:NODE" into buf. 0, or -ENAMETOOLONG / -EINVAL (empty node). */
int rc_lease_scope(char *buf, size_t len, const char *node);

/* Session settings for a connection used for leases: synchronous_commit = on (a
 * synchronous standby holds every lease row before the answer comes back: a promotion keeps
 * the epochs), statement_timeout = timeout_ms (e.g. ttl / 3) and lock_timeout = 3/4 of it, so that a call waiting for a lock (a takeover
 * waits for the writers' open batches) fails with -EAGAIN, a slow server with -ETIMEDOUT;
 * both mean "try again". 0, -EINVAL (0 ms) or -errno. */
int rc_lease_session(struct rc_pgdb *db, uint32_t timeout_ms);

/* Acquire `scope` for `me` for ttl_ms (1 .. RC_LEASE_TTL_MAX_MS). 0 (out->status NEW,
 * RENEWED, REACQUIRED or TAKEN); -EBUSY (out: the holder, its epoch, remaining_ms);
 * -EINVAL (bad names or ttl); -errno from the database (out->status undefined). */
int rc_lease_acquire(struct rc_pgdb *db, const char *scope, const char *me, uint32_t ttl_ms,
		     struct rc_lease *out);

/* The same, taking the scope from a holder whose lease is still valid (status FORCED):
 * ADMIN FAILOVER ONLY, see above. */
int rc_lease_acquire_forced(struct rc_pgdb *db, const char *scope, const char *me,
			    uint32_t ttl_ms, struct rc_lease *out);

/* Renew my lease at `epoch`. 0 (RENEWED); -ESTALE (STALE, EXPIRED or MISSING: fence now;
 * out says who holds it); -EINVAL; -errno (database unreachable, timeout: keep the guard
 * as it is and retry). */
int rc_lease_renew(struct rc_pgdb *db, const char *scope, const char *me, uint64_t epoch,
		   uint32_t ttl_ms, struct rc_lease *out);

/* Hand the lease back: it expires now. Revokes *g first (may be NULL): stop acknowledging
 * before calling. 0 (RELEASED, also when it had expired already); -ESTALE (another holder
 * or epoch, or no lease); -EINVAL; -errno. out may be NULL. */
int rc_lease_release(struct rc_pgdb *db, const char *scope, const char *me, uint64_t epoch,
		     struct rc_lease_guard *g, struct rc_lease *out);

/* The lease of a scope as it stands (status HELD or FREE). 0, -ENOENT (MISSING), -errno. */
int rc_lease_get(struct rc_pgdb *db, const char *scope, struct rc_lease *out);

/* The default safety margin for a ttl (see the timing argument). */
uint32_t rc_lease_margin_ms(uint32_t ttl_ms);


/* After a successful acquire/renew (l->status NEW .. FORCED): acknowledge until
 * l->sent_mono_ms + l->ttl_ms - margin_ms (0 when margin >= ttl). A new epoch is published
 * before the new deadline. Control thread only. */
void rc_lease_guard_grant(struct rc_lease_guard *g, const struct rc_lease *l,
			  uint32_t margin_ms);

/* Stop acknowledging now (fenced, released, shutting down). Control thread only. */
void rc_lease_guard_revoke(struct rc_lease_guard *g);


const char *rc_lease_status_str(enum rc_lease_status s);

#endif /* RC_LEASE_H */
