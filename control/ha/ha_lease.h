/* SPDX-License-Identifier: MIT */
/*
 * The lease thread of an HA node: owns its own PostgreSQL connection and runs every
 * rc_lease_* call (storage/lease.h) for the two scopes of the pair, so that a slow or dead
 * database never holds up the control thread (its heartbeats must keep going).
 *
 * Scopes: index 0 is "rooms:<us>", index 1 "rooms:<peer>". Per scope the thread is
 *   IDLE       nothing held, nothing wanted;
 *   ACQUIRING  rc_lease_acquire until it answers: success -> guard granted, HELD, event WON;
 *              -EBUSY -> ask again every 25 ms (a holder handing it back releases it
 *              early) until the holder's lease as first seen runs out (the database's
 *              remaining time); still busy then with a moved expiry (the holder renewed
 *              it: it is alive) -> event REFUSED, IDLE. Database errors: DB_DOWN, keep trying.
 *   HELD       renew every ttl / 4 (statement timeout ttl / 3): success -> guard granted;
 *              -ESTALE -> guard revoked, event LOST, IDLE; other errors keep the guard,
 *              which runs out by itself: then event LOST, IDLE (HA.md: lease-lost).
 *   PARKED     a handover is under way (rc_ha_lease_park): guard revoked, not renewed;
 *   RELEASING  guard revoked at once by rc_ha_lease_release (the caller's thread), then
 *              rc_lease_release -> event RELEASED, IDLE (on errors it gives up after a few
 *              tries: the lease then expires by itself).
 * Every event carries the op id given with the request (HA.md: operations and answers).
 * DB_UP / DB_DOWN report the connection's state changes (also DB_UP after a LOST, at the
 * next statement that succeeds).
 *
 * Threads: the guards are written by the lease thread (grant, revoke) and by the caller of
 * rc_ha_lease_release / rc_ha_lease_drop (revoke), read by workers. Requests and events
 * go through a mutex; rc_ha_lease_poll never blocks.
 */
#ifndef RC_HA_LEASE_H
#define RC_HA_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "lease_guard.h"

enum rc_ha_lease_ev_kind {
	RC_HAL_WON = 1,
	RC_HAL_REFUSED,
	RC_HAL_LOST,
	RC_HAL_RELEASED,
	RC_HAL_DB_UP,
	RC_HAL_DB_DOWN,
};

struct rc_ha_lease_ev {
	enum rc_ha_lease_ev_kind kind;
	unsigned scope; /* 0 own, 1 peer (not for DB_UP / DB_DOWN) */
	uint32_t op;
	uint64_t epoch; /* WON: the epoch won */
	char detail[160];
};

struct rc_ha_lease_conf {
	const char *conninfo; /* the group's database (with the password) */
	const char *me;       /* our node id: the holder name */
	const char *scope[RC_MAX_SCOPES]; /* "rooms:<us>", "rooms:<peer>" */
	uint32_t ttl_ms;
};

struct rc_ha_lease_status {
	bool db_ok;
	bool held[RC_MAX_SCOPES], acquiring[RC_MAX_SCOPES];
	uint64_t epoch[RC_MAX_SCOPES];
	uint64_t renewals, renew_errors, renew_skipped, acquisitions, refusals, losses;
	char last_error[160];
};

struct rc_ha_lease;

/* guards[0..RC_MAX_SCOPES): the scopes' guards (owned by the caller). NULL + errno. */
struct rc_ha_lease *rc_ha_lease_create(const struct rc_ha_lease_conf *c,
				       struct rc_lease_guard *guards[RC_MAX_SCOPES]);
int rc_ha_lease_start(struct rc_ha_lease *l);
void rc_ha_lease_destroy(struct rc_ha_lease *l); /* stops the thread; releases nothing */

/* Acquire (forced: admin failover only, see rc_lease_acquire_forced). Replaces a pending
 * request of that scope. */
void rc_ha_lease_acquire(struct rc_ha_lease *l, unsigned scope, uint32_t op, bool forced);
/* Stop acknowledging for the scope now (guard revoked here), then hand the lease back. */
void rc_ha_lease_release(struct rc_ha_lease *l, unsigned scope, uint32_t op);
/* A handover begins: stop acknowledging now (guard revoked) and stop renewing, without
 * reporting the lease lost; rc_ha_lease_release follows. */
void rc_ha_lease_park(struct rc_ha_lease *l, unsigned scope);
/* Fence: revoke now, stop renewing and acquiring; no database call. */
void rc_ha_lease_drop(struct rc_ha_lease *l, unsigned scope);

/* The control thread's heartbeat, every loop: once called, a held lease is renewed only
 * while the control thread ticked within ttl (a hung control thread must not keep its
 * rooms); never called: no such check. */
void rc_ha_lease_alive(struct rc_ha_lease *l, uint64_t now_mono_ms);

/* The next event: 1 (ev filled), 0 (none). */
int rc_ha_lease_poll(struct rc_ha_lease *l, struct rc_ha_lease_ev *ev);
void rc_ha_lease_get_status(struct rc_ha_lease *l, struct rc_ha_lease_status *st);

#endif /* RC_HA_LEASE_H */
