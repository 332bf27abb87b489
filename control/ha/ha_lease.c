/* SPDX-License-Identifier: MIT */
/* The lease thread: see ha_lease.h. */
#include "ha_lease.h"

#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lease.h"
#include "pgdb.h"
#include "schema.h"

#define EV_QUEUE 1024
#define RELEASE_TRIES 3
#define PROBE_MS 200     /* database probe while no lease call runs and it is down */
#define BUSY_POLL_MS 25 /* -EBUSY: ask again this often until the holder's lease runs out */

enum scope_state { S_IDLE = 0, S_ACQUIRING, S_HELD, S_PARKED, S_RELEASING };

struct scope {
	char name[RC_LEASE_NAME_MAX + 1];
	enum scope_state st;
	bool forced;
	uint32_t op;
	uint64_t epoch;
	uint64_t next_ms;      /* when to act next (monotonic) */
	int64_t busy_expires;  /* ACQUIRING: the holder's expiry seen at the first -EBUSY */
	uint64_t busy_until;   /* ... and when it runs out (monotonic ms) */
	uint64_t busy_epoch;
	unsigned tries;
};

struct rc_ha_lease {
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool quit;
	char conninfo[768];
	char me[RC_LEASE_NAME_MAX + 1];
	uint32_t ttl_ms;
	struct rc_lease_guard *guard[RC_MAX_SCOPES];
	struct scope sc[RC_MAX_SCOPES];
	struct rc_ha_lease_ev q[EV_QUEUE];
	unsigned q_head, q_len;
	struct rc_ha_lease_status st;
	struct rc_pgdb db;
	bool db_reported, db_was_ok;
	bool want_up;       /* a lease was lost: report DB_UP at the next statement that works */
	uint64_t probe_due; /* when to probe the database while nothing else talks to it */
	_Atomic uint64_t alive_ms; /* the control thread's last tick (rc_ha_lease_alive) */
};

static void
push(struct rc_ha_lease *l, enum rc_ha_lease_ev_kind kind, unsigned scope, uint32_t op,
     uint64_t epoch, const char *detail)
{
	struct rc_ha_lease_ev *e;

	if (l->q_len == EV_QUEUE) { /* the control thread polls every ms: cannot fill up */
		l->q_head = (l->q_head + 1) % EV_QUEUE;
		l->q_len--;
	}
	e = &l->q[(l->q_head + l->q_len++) % EV_QUEUE];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->scope = scope;
	e->op = op;
	e->epoch = epoch;
	snprintf(e->detail, sizeof(e->detail), "%s", detail != NULL ? detail : "");
}

/* The database answered (up) or failed (down): report changes. Locked. */
static void
db_state(struct rc_ha_lease *l, bool ok, const char *why)
{
	l->st.db_ok = ok;
	if (!ok && why != NULL)
		snprintf(l->st.last_error, sizeof(l->st.last_error), "%s", why);
	if (l->db_reported && l->db_was_ok == ok)
		return;
	l->db_reported = true;
	l->db_was_ok = ok;
	push(l, ok ? RC_HAL_DB_UP : RC_HAL_DB_DOWN, 0, 0, 0, why);
}

static bool
connect_db(struct rc_ha_lease *l)
{
	char err[256];
	int applied, rc;

	if (rc_pgdb_ok(&l->db))
		return true;
	rc_pgdb_close(&l->db);
	pthread_mutex_unlock(&l->mu);
	rc = rc_pgdb_connect(&l->db, l->conninfo, "roomcast lease");
	if (rc == 0)
		rc = rc_lease_session(&l->db, l->ttl_ms / 3 > 0 ? l->ttl_ms / 3 : 1);
	if (rc == 0)
		rc = rc_schema_migrate(&l->db, &applied, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "%s", l->db.err);
	pthread_mutex_lock(&l->mu);
	if (rc != 0) {
		rc_pgdb_close(&l->db);
		db_state(l, false, err);
		return false;
	}
	return true;
}

static void
acquire_step(struct rc_ha_lease *l, unsigned i, uint64_t now)
{
	struct scope *s = &l->sc[i];
	char scope[sizeof(s->name)];
	uint32_t op = s->op;
	bool forced = s->forced;
	struct rc_lease out;
	int rc;

	memcpy(scope, s->name, sizeof(scope));
	pthread_mutex_unlock(&l->mu);
	rc = forced ? rc_lease_acquire_forced(&l->db, scope, l->me, l->ttl_ms, &out) :
		      rc_lease_acquire(&l->db, scope, l->me, l->ttl_ms, &out);
	pthread_mutex_lock(&l->mu);
	if (s->st != S_ACQUIRING || s->op != op)
		return; /* cancelled or replaced meanwhile: a lease won is renewed or expires */
	if (rc == 0) {
		db_state(l, true, NULL);
		rc_lease_guard_grant(l->guard[i], &out, rc_lease_margin_ms(l->ttl_ms));
		s->st = S_HELD;
		s->epoch = out.epoch;
		s->next_ms = now + l->ttl_ms / 4;
		l->st.acquisitions++;
		push(l, RC_HAL_WON, i, op, out.epoch, rc_lease_status_str(out.status));
		return;
	}
	if (rc == -EBUSY) {
		char d[160];

		db_state(l, true, NULL);
		if (s->tries == 0) {
			s->busy_expires = out.expires_us;
			s->busy_epoch = out.epoch;
			s->busy_until = now + out.remaining_ms;
		} else if (now >= s->busy_until && (out.expires_us != s->busy_expires ||
						   out.epoch != s->busy_epoch)) {
			/* the lease we first saw ran out, and it was renewed meanwhile: the
			 * holder is alive and serving */
			snprintf(d, sizeof(d), "held by %s (epoch %llu), renewed", out.holder,
				 (unsigned long long)out.epoch);
			s->st = S_IDLE;
			l->st.refusals++;
			push(l, RC_HAL_REFUSED, i, op, out.epoch, d);
			return;
		}
		s->tries++;
		/* poll: a holder that hands the lease back (fallback) releases it early */
		s->next_ms = now + (out.remaining_ms < BUSY_POLL_MS ? out.remaining_ms + 2 :
								    BUSY_POLL_MS);
		return;
	}
	db_state(l, false, l->db.err);
	if (!rc_pgdb_ok(&l->db))
		rc_pgdb_close(&l->db);
	s->next_ms = now + 50;
}

static void
renew_step(struct rc_ha_lease *l, unsigned i, uint64_t now)
{
	struct scope *s = &l->sc[i];
	char scope[sizeof(s->name)];
	uint64_t epoch = s->epoch;
	struct rc_lease out;
	int rc;

	if (atomic_load(&l->alive_ms) != 0 && now > atomic_load(&l->alive_ms) + l->ttl_ms) {
		/* the control thread is hung: it serves nothing the peer could not. Let the
		 * lease run out (LOST when the guard does), so the peer can take over. */
		l->st.renew_skipped++;
		s->next_ms = now + 10;
		return;
	}
	memcpy(scope, s->name, sizeof(scope));
	pthread_mutex_unlock(&l->mu);
	rc = rc_lease_renew(&l->db, scope, l->me, epoch, l->ttl_ms, &out);
	pthread_mutex_lock(&l->mu);
	if (s->st != S_HELD || s->epoch != epoch)
		return;
	if (rc == 0) {
		db_state(l, true, NULL);
		rc_lease_guard_grant(l->guard[i], &out, rc_lease_margin_ms(l->ttl_ms));
		l->st.renewals++;
		s->next_ms = now + l->ttl_ms / 4;
		return;
	}
	if (rc == -ESTALE) {
		char d[160];

		db_state(l, true, NULL);
		rc_lease_guard_revoke(l->guard[i]);
		snprintf(d, sizeof(d), "lease %s: %s (holder %s, epoch %llu)", scope,
			 rc_lease_status_str(out.status), out.holder,
			 (unsigned long long)out.epoch);
		s->st = S_IDLE;
		l->st.losses++;
		l->want_up = true;
		push(l, RC_HAL_LOST, i, s->op, epoch, d);
		return;
	}
	l->st.renew_errors++;
	db_state(l, false, l->db.err);
	if (!rc_pgdb_ok(&l->db))
		rc_pgdb_close(&l->db);
	s->next_ms = now + 20;
}

static void
release_step(struct rc_ha_lease *l, unsigned i, uint64_t now)
{
	struct scope *s = &l->sc[i];
	char scope[sizeof(s->name)];
	uint64_t epoch = s->epoch;
	uint32_t op = s->op;
	int rc;

	memcpy(scope, s->name, sizeof(scope));
	pthread_mutex_unlock(&l->mu);
	rc = rc_lease_release(&l->db, scope, l->me, epoch, l->guard[i], NULL);
	pthread_mutex_lock(&l->mu);
	if (s->st != S_RELEASING || s->op != op)
		return;
	if (rc == 0 || rc == -ESTALE || ++s->tries >= RELEASE_TRIES) {
		if (rc == 0 || rc == -ESTALE)
			db_state(l, true, NULL);
		s->st = S_IDLE;
		push(l, RC_HAL_RELEASED, i, op, epoch,
		     rc == 0 ? "released" : rc == -ESTALE ? "no longer ours" :
							   "gave up: it expires by itself");
		return;
	}
	db_state(l, false, l->db.err);
	s->next_ms = now + 50;
}

/* A held lease whose guard ran out without a successful renewal is lost. Locked. */
static void
check_guard(struct rc_ha_lease *l, unsigned i, uint64_t now)
{
	struct scope *s = &l->sc[i];

	if (s->st == S_HELD && !rc_lease_guard_ok(l->guard[i], now)) {
		s->st = S_IDLE;
		l->st.losses++;
		l->want_up = true;
		push(l, RC_HAL_LOST, i, s->op, s->epoch, "could not renew before the guard ran out");
	}
}

/* While the database is down, not yet reported, or owes a db-up after a lost lease, probe
 * it every PROBE_MS: nobody else may talk to it now (every scope idle after a fence), and the
 * machine must hear db-up. Locked (the lock is dropped for the statement). Returns the
 * time after. */
static uint64_t
probe_db(struct rc_ha_lease *l, uint64_t now)
{
	int rc;

	if ((l->db_reported && l->st.db_ok && !l->want_up) || now < l->probe_due)
		return now;
	l->probe_due = now + PROBE_MS;
	if (connect_db(l)) {
		pthread_mutex_unlock(&l->mu);
		rc = rc_pgdb_exec(&l->db, "SELECT 1");
		pthread_mutex_lock(&l->mu);
		if (rc == 0) {
			if (l->want_up && l->db_reported && l->db_was_ok)
				push(l, RC_HAL_DB_UP, 0, 0, 0, "answers again");
			l->want_up = false;
			db_state(l, true, NULL);
		} else {
			db_state(l, false, l->db.err);
			rc_pgdb_close(&l->db);
		}
	}
	return rc_lease_mono_ms();
}

/* Scope i: its guard checked, then the next step of its call if one is due; the step after
 * lowers *due. Locked. Returns the time after. */
static uint64_t
scope_step(struct rc_ha_lease *l, unsigned i, uint64_t now, uint64_t *due)
{
	struct scope *s = &l->sc[i];

	check_guard(l, i, now);
	if (s->st == S_IDLE || s->st == S_PARKED)
		return now;
	if (now >= s->next_ms) {
		if (!connect_db(l))
			s->next_ms = rc_lease_mono_ms() + 100;
		else if (s->st == S_ACQUIRING)
			acquire_step(l, i, now);
		else if (s->st == S_HELD)
			renew_step(l, i, now);
		else if (s->st == S_RELEASING)
			release_step(l, i, now);
		now = rc_lease_mono_ms();
	}
	if (s->st != S_IDLE && s->next_ms < *due)
		*due = s->next_ms;
	return now;
}

/* Sleeps until due (monotonic ms) or until woken on l->cv. Locked. */
static void
wait_until(struct rc_ha_lease *l, uint64_t due)
{
	struct timespec ts;
	uint64_t now = rc_lease_mono_ms();

	if (due <= now)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)((due - now) % 1000) * 1000000L;
	ts.tv_sec += (time_t)((due - now) / 1000) + ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&l->cv, &l->mu, &ts);
}

static void *
lease_main(void *arg)
{
	struct rc_ha_lease *l = arg;
	uint64_t now, due;

	pthread_mutex_lock(&l->mu);
	while (!l->quit) {
		now = rc_lease_mono_ms();
		due = now + 100;
		now = probe_db(l, now);
		for (unsigned i = 0; i < RC_MAX_SCOPES; i++)
			now = scope_step(l, i, now, &due);
		if ((!l->st.db_ok || l->want_up) && l->probe_due < due)
			due = l->probe_due;
		wait_until(l, due);
	}
	pthread_mutex_unlock(&l->mu);
	rc_pgdb_close(&l->db);
	return NULL;
}

struct rc_ha_lease *
rc_ha_lease_create(const struct rc_ha_lease_conf *c, struct rc_lease_guard *guards[RC_MAX_SCOPES])
{
	struct rc_ha_lease *l;

	if (c == NULL || c->conninfo == NULL || c->me == NULL || c->scope[0] == NULL ||
	    c->scope[1] == NULL || c->ttl_ms == 0 || guards == NULL) {
		errno = EINVAL;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	snprintf(l->conninfo, sizeof(l->conninfo), "%s", c->conninfo);
	snprintf(l->me, sizeof(l->me), "%s", c->me);
	l->ttl_ms = c->ttl_ms;
	for (unsigned i = 0; i < RC_MAX_SCOPES; i++) {
		snprintf(l->sc[i].name, sizeof(l->sc[i].name), "%s", c->scope[i]);
		l->guard[i] = guards[i];
	}
	return l;
}

int
rc_ha_lease_start(struct rc_ha_lease *l)
{
	int rc = pthread_create(&l->thread, NULL, lease_main, l);

	if (rc != 0)
		return -rc;
	pthread_setname_np(l->thread, "rc-lease");
	l->started = true;
	return 0;
}

void
rc_ha_lease_destroy(struct rc_ha_lease *l)
{
	if (l == NULL)
		return;
	if (l->started) {
		pthread_mutex_lock(&l->mu);
		l->quit = true;
		pthread_cond_signal(&l->cv);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->thread, NULL);
	}
	explicit_bzero(l->conninfo, sizeof(l->conninfo));
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
}

void
rc_ha_lease_acquire(struct rc_ha_lease *l, unsigned scope, uint32_t op, bool forced)
{
	struct scope *s = &l->sc[scope & 1];

	pthread_mutex_lock(&l->mu);
	if (s->st == S_HELD && !forced) {
		/* already ours: answer at once (acquire by the holder is a renewal) */
		s->op = op;
		push(l, RC_HAL_WON, scope & 1, op, s->epoch, "already held");
	} else {
		s->st = S_ACQUIRING;
		s->op = op;
		s->forced = forced;
		s->tries = 0;
		s->next_ms = 0;
	}
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

void
rc_ha_lease_release(struct rc_ha_lease *l, unsigned scope, uint32_t op)
{
	struct scope *s = &l->sc[scope & 1];

	pthread_mutex_lock(&l->mu); /* a renewal grants under the mutex: revoke under it */
	rc_lease_guard_revoke(l->guard[scope & 1]);
	if (s->st == S_HELD || s->st == S_PARKED) {
		s->st = S_RELEASING;
		s->tries = 0;
		s->next_ms = 0;
		s->op = op;
	} else {
		s->st = S_IDLE;
		push(l, RC_HAL_RELEASED, scope & 1, op, s->epoch, "not held");
	}
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

void
rc_ha_lease_park(struct rc_ha_lease *l, unsigned scope)
{
	pthread_mutex_lock(&l->mu);
	if (l->sc[scope & 1].st == S_HELD)
		l->sc[scope & 1].st = S_PARKED;
	rc_lease_guard_revoke(l->guard[scope & 1]);
	pthread_mutex_unlock(&l->mu);
}

void
rc_ha_lease_drop(struct rc_ha_lease *l, unsigned scope)
{
	pthread_mutex_lock(&l->mu);
	l->sc[scope & 1].st = S_IDLE;
	rc_lease_guard_revoke(l->guard[scope & 1]);
	pthread_mutex_unlock(&l->mu);
}

void
rc_ha_lease_alive(struct rc_ha_lease *l, uint64_t now_mono_ms)
{
	atomic_store(&l->alive_ms, now_mono_ms);
}

int
rc_ha_lease_poll(struct rc_ha_lease *l, struct rc_ha_lease_ev *ev)
{
	int got = 0;

	pthread_mutex_lock(&l->mu);
	if (l->q_len > 0) {
		*ev = l->q[l->q_head];
		l->q_head = (l->q_head + 1) % EV_QUEUE;
		l->q_len--;
		got = 1;
	}
	pthread_mutex_unlock(&l->mu);
	return got;
}

void
rc_ha_lease_get_status(struct rc_ha_lease *l, struct rc_ha_lease_status *st)
{
	pthread_mutex_lock(&l->mu);
	*st = l->st;
	for (unsigned i = 0; i < RC_MAX_SCOPES; i++) {
		st->held[i] = l->sc[i].st == S_HELD || l->sc[i].st == S_PARKED;
		st->acquiring[i] = l->sc[i].st == S_ACQUIRING;
		st->epoch[i] = l->sc[i].epoch;
	}
	pthread_mutex_unlock(&l->mu);
}
