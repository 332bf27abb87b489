/* SPDX-License-Identifier: MIT */
/* A node's scopes: see scope.h. */
#include "scope.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <urcu-qsbr.h>

#include "clock.h"
#include "history.h"
#include "lease.h"
#include "log.h"
#include "replay.h"
#include "room_table.h"
#include "session.h"

#define PURGE_WAIT_MS 5 /* a worker's ring stays full this long: drop the purge */

/* ---- open and close ---- */

static int
scope_open(struct rc_scopes *ss, struct rc_scope *s, const char *dir_name, char *err,
	   size_t errlen)
{
	struct rc_wal_conf wc = ss->conf.wal;
	struct rc_dp *dp = ss->dp;
	char dir[512];
	int rc;

	snprintf(dir, sizeof(dir), "%s/%s", ss->conf.data_dir, dir_name);
	wc.dir = dir;
	s->wal = rc_wal_open(&wc, err, errlen);
	if (s->wal == NULL)
		return -errno;
	if (wc.nosync)
		RC_WARN("ALARM: wal.nosync = true: %s commits without fsync, an acknowledged "
			"message can be lost in a crash (for tests and benchmarks only)", dir_name);
	s->hist = rc_history_create(s->wal, 4096, (int)rte_socket_id(), &rc_replay_ops,
				    ss->conf.replay);
	if (s->hist == NULL) {
		snprintf(err, errlen, "cannot create the history thread of %s: %s", dir_name,
			 strerror(errno));
		return -errno;
	}
	dp->wal_ring[s->idx] = rc_wal_ring(s->wal);
	dp->wal_pool[s->idx] = rc_wal_pool(s->wal);
	dp->hist_ring[s->idx] = rc_history_ring(s->hist);
	dp->hist_pool[s->idx] = rc_history_pool(s->hist);
	dp->wal_bell[s->idx] = rc_wal_bell(s->wal);
	dp->hist_bell[s->idx] = rc_history_bell(s->hist);
	dp->scope_serving[s->idx] = false;
	if (ss->leased)
		dp->guard[s->idx] = &s->guard;
	rc = rc_wal_set_completion(s->wal, RC_CTRL_IDX, ss->conf.ctrl_done);
	return rc != 0 ? rc : rc_wal_set_completion_bell(s->wal, RC_CTRL_IDX, ss->conf.ctrl_bell);
}

static int
scope_name(struct rc_scope *s, const char *node, char *err, size_t errlen)
{
	snprintf(s->node, sizeof(s->node), "%s", node);
	snprintf(s->set->dp->scope_away_text[s->idx], sizeof(s->set->dp->scope_away_text[0]),
		 "unavailable until %s returns", node);
	if (rc_lease_scope(s->lease_scope, sizeof(s->lease_scope), node) != 0) {
		snprintf(err, errlen, "node id %s too long for a scope name", node);
		return -EINVAL;
	}
	return 0;
}

int
rc_scopes_open(struct rc_scopes *ss, const struct rc_scopes_conf *c, char *err, size_t errlen)
{
	static const char *const dirs[RC_MAX_SCOPES] = { "wal", "wal-peer" };
	unsigned m = c->max_rooms, slot = 0;
	int rc;

	memset(ss, 0, sizeof(*ss));
	ss->conf = *c;
	ss->dp = c->dp;
	ss->n = c->peer_id != NULL ? 2 : 1;
	ss->leased = c->peer_id != NULL;
	if (ss->leased)
		slot = strcmp(c->node_id, c->peer_id) < 0 ? 0 : 1;
	for (unsigned i = 0; i < ss->n; i++) {
		struct rc_scope *s = &ss->sc[i];
		unsigned at = i == 0 ? slot : 1 - slot;

		s->set = ss;
		s->idx = i;
		s->room_lo = at * m + 1;
		s->room_hi = (at + 1) * m;
		s->next_room_id = s->room_lo;
		rc = scope_name(s, i == 0 ? c->node_id : c->peer_id, err, errlen);
		if (rc == 0)
			rc = scope_open(ss, s, dirs[i], err, errlen);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
rc_scopes_set_completion(struct rc_scopes *ss, unsigned idx, struct rte_ring *ring,
			 struct rc_bell *bell)
{
	int rc;

	for (unsigned i = 0; i < ss->n; i++)
		if ((rc = rc_wal_set_completion(ss->sc[i].wal, idx, ring)) != 0 ||
		    (rc = rc_wal_set_completion_bell(ss->sc[i].wal, idx, bell)) != 0)
			return rc;
	return 0;
}

int
rc_scopes_start(struct rc_scopes *ss)
{
	int rc;

	for (unsigned i = 0; i < ss->n; i++) {
		struct rc_scope *s = &ss->sc[i];

		if ((rc = rc_wal_start(s->wal)) != 0 || (rc = rc_history_start(s->hist)) != 0 ||
		    (s->drainer != NULL && (rc = rc_drainer_start(s->drainer)) != 0))
			return rc;
	}
	ss->running = true;
	return 0;
}

void
rc_scopes_stop(struct rc_scopes *ss)
{
	for (unsigned i = 0; i < ss->n; i++) {
		struct rc_scope *s = &ss->sc[i];

		if (s->hist != NULL)
			rc_history_stop(s->hist);
		if (s->drainer != NULL)
			rc_drainer_stop(s->drainer);
		if (s->wal != NULL)
			rc_wal_stop(s->wal);
	}
	ss->running = false;
}

void
rc_scopes_close(struct rc_scopes *ss)
{
	for (unsigned i = 0; i < ss->n; i++) {
		struct rc_scope *s = &ss->sc[i];

		if (s->hist != NULL)
			rc_history_destroy(s->hist);
		if (s->drainer != NULL)
			rc_drainer_destroy(s->drainer);
		if (s->wal != NULL)
			rc_wal_close(s->wal);
		free(s->sess);
		rc_scope_ids_free(s);
		memset(s, 0, sizeof(*s));
	}
	explicit_bzero(ss->db_conninfo, sizeof(ss->db_conninfo));
}

/* ---- the database ---- */

static void
drainer_drop(struct rc_scope *s)
{
	if (s->drainer == NULL)
		return;
	rc_drainer_stop(s->drainer);
	rc_drainer_destroy(s->drainer);
	s->drainer = NULL;
}

/* A new drainer for the scope at its epoch, when it may drain and there is a database. */
static int
drainer_new(struct rc_scope *s)
{
	struct rc_scopes *ss = s->set;
	struct rc_drainer_conf dc = ss->conf.drain;

	drainer_drop(s);
	s->drainer_gen++;
	if (!s->draining || ss->db_conninfo[0] == '\0')
		return 0;
	dc.conninfo = ss->db_conninfo;
	dc.node_id = s->node; /* the scope's rows, our epoch */
	dc.epoch = s->epoch;
	s->drainer = rc_drainer_create(s->wal, &dc);
	if (s->drainer == NULL)
		return -errno;
	return ss->running ? rc_drainer_start(s->drainer) : 0;
}

int
rc_scope_drainer_start(struct rc_scope *s, uint64_t epoch)
{
	s->draining = true;
	s->epoch = epoch;
	return drainer_new(s);
}

void
rc_scope_drainer_stop(struct rc_scope *s)
{
	s->draining = false;
	s->epoch = 0;
	drainer_drop(s);
}

int
rc_scopes_db_switch(struct rc_scopes *ss, const char *conninfo)
{
	int rc = 0, r;

	for (unsigned i = 0; i < ss->n; i++) {
		drainer_drop(&ss->sc[i]);
		if (ss->running)
			rc_history_stop(ss->sc[i].hist);
	}
	snprintf(ss->db_conninfo, sizeof(ss->db_conninfo), "%s", conninfo);
	for (unsigned i = 0; i < ss->n; i++) {
		struct rc_scope *s = &ss->sc[i];

		r = rc_history_set_db(s->hist, ss->db_conninfo);
		if (ss->running && rc_history_start(s->hist) != 0)
			RC_ERR("cannot restart the history thread of %s", s->lease_scope);
		if (r == 0)
			r = drainer_new(s);
		if (rc == 0)
			rc = r;
	}
	RC_INFO("external database: %s", ss->db_conninfo[0] != '\0' ? "configured" : "none");
	return rc;
}

void
rc_scopes_dead_letters(const struct rc_scopes *ss, uint64_t *set_aside, uint64_t *rows)
{
	*set_aside = *rows = 0;
	for (unsigned i = 0; i < ss->n; i++) {
		struct rc_drainer_stats ds;

		if (ss->sc[i].drainer == NULL)
			continue;
		rc_drainer_get_stats(ss->sc[i].drainer, &ds);
		*set_aside += ds.dead_letters;
		*rows += ds.dead_letter_rows;
	}
}

/* ---- rooms and sessions ---- */

struct rc_scope *
rc_scopes_of_room(struct rc_scopes *ss, uint32_t id)
{
	for (unsigned i = 0; i < ss->n; i++)
		if (id >= ss->sc[i].room_lo && id <= ss->sc[i].room_hi)
			return &ss->sc[i];
	return NULL;
}

static void
purge_everywhere(struct rc_scopes *ss, uint64_t session)
{
	struct rc_dp *dp = ss->dp;
	struct rc_work *wk;

	for (unsigned i = 0; i < dp->n_workers; i++) {
		uint64_t give_up = rc_mono_ms() + PURGE_WAIT_MS;
		int rc;

		/* the workers' rings drain every loop; a hung worker must not hang this
		 * thread (it heartbeats): after PURGE_WAIT_MS the purge is dropped, counted
		 * (the session's membership then stays until the room is left or unloaded) */
		while ((rc = rte_mempool_get(dp->work_pool, (void **)&wk)) != 0 &&
		       rc_mono_ms() < give_up)
			rte_pause();
		if (rc != 0) {
			ss->purges_dropped++;
			continue;
		}
		memset(&wk->who, 0, sizeof(wk->who));
		wk->kind = RC_WORK_PURGE;
		wk->msg_len = 0;
		wk->who.session = session;
		while ((rc = rc_worker_push(dp->workers[i], dp->workers[i]->in, wk)) != 0 &&
		       rc_mono_ms() < give_up)
			rte_pause();
		if (rc != 0) {
			rte_mempool_put(dp->work_pool, wk);
			ss->purges_dropped++;
		}
	}
}

void
rc_scopes_end_session(struct rc_scopes *ss, struct rc_session *s)
{
	uint64_t id = s->id;

	rc_session_del(ss->dp->sessions, s);
	purge_everywhere(ss, id);
}

void
rc_scope_serve(struct rc_scope *s, bool on)
{
	__atomic_store_n(&s->set->dp->scope_serving[s->idx], on, __ATOMIC_RELEASE);
}

void
rc_scope_address(struct rc_scope *s, bool on)
{
	struct rc_dp *dp = s->set->dp;

	for (unsigned p = 0; p < dp->n_ports; p++) {
		struct rc_local *l = &dp->ports[p].local;

		__atomic_store_n(s->idx == 0 ? &l->ip_on : &l->peer_ip_on, on, __ATOMIC_RELEASE);
	}
}

void
rc_scope_set_ip(struct rc_scope *s, uint32_t ip)
{
	struct rc_dp *dp = s->set->dp;

	for (unsigned p = 0; p < dp->n_ports; p++) {
		struct rc_local *l = &dp->ports[p].local;

		if (s->idx == 0)
			l->ip = ip;
		else
			l->peer_ip = ip;
	}
}

void
rc_scope_away(struct rc_scope *s, bool on)
{
	__atomic_store_n(&s->set->dp->scope_away[s->idx], on, __ATOMIC_RELEASE);
}

void
rc_scope_busy(struct rc_scope *s, bool on)
{
	__atomic_store_n(&s->set->dp->scope_no_peer[s->idx], on, __ATOMIC_RELEASE);
}

bool
rc_scope_sess_put(struct rc_scope *s, const struct rc_scope_sess *e)
{
	unsigned i;

	for (i = 0; i < s->n_sess; i++)
		if (s->sess[i].id == e->id)
			break;
	if (i == s->n_sess) {
		/* the peer's list cannot grow without bound */
		if (s->n_sess >= s->set->conf.max_sessions)
			return false;
		if (s->n_sess == s->cap_sess) {
			unsigned cap = s->cap_sess ? s->cap_sess * 2 : 64;
			void *p = realloc(s->sess, cap * sizeof(*s->sess));

			if (p == NULL)
				return false;
			s->sess = p;
			s->cap_sess = cap;
		}
		s->n_sess++;
	}
	s->sess[i] = *e;
	return true;
}

void
rc_scope_sess_del(struct rc_scope *s, uint64_t id)
{
	for (unsigned i = 0; i < s->n_sess; i++)
		if (s->sess[i].id == id) {
			s->sess[i] = s->sess[--s->n_sess];
			return;
		}
}

void
rc_scope_sess_clear(struct rc_scope *s)
{
	s->n_sess = 0;
}

struct count_ctx {
	unsigned scope, n;
};

static int
count_room(void *arg, struct rc_room *r)
{
	struct count_ctx *c = arg;

	c->n += r->kind == RC_ROOM_HOSTED && r->scope == c->scope;
	return 0;
}

unsigned
rc_scope_room_count(const struct rc_scope *s)
{
	struct count_ctx c = { s->idx, 0 };

	rc_room_foreach(s->set->dp->rooms, count_room, &c);
	return c.n;
}
