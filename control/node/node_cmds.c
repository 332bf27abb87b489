/* SPDX-License-Identifier: MIT */
/*
 * The node's admin commands: status, room list, room show, room archive, user list, stats.
 * They run on the control thread (an RCU reader) and read the workers' counters without
 * stopping them; member lists are copied under the room's lock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>

#include "admin.h"
#include "admin_table.h"
#include "drainer.h"
#include "history.h"
#include "latency.h"
#include "node.h"
#include "relay_rooms.h"
#include "room_table.h"
#include "session.h"
#include "wal.h"

static const char *
ip_str(rte_be32_t ip, char *buf)
{
	struct in_addr a = { .s_addr = ip };

	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static json_t *
wal_json(struct rc_node *n)
{
	struct rc_wal_stats st;

	rc_wal_get_stats(rc_node_own(n)->wal, &st);
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:b}", "commits",
			 (json_int_t)st.commits, "records", (json_int_t)st.records, "bytes",
			 (json_int_t)st.bytes, "commit_errors", (json_int_t)st.commit_errors,
			 "max_batch", (json_int_t)st.max_batch, "map_size",
			 (json_int_t)st.map_size, "map_used", (json_int_t)st.map_used, "rooms",
			 (json_int_t)st.rooms, "messages", (json_int_t)st.messages, "full",
			 st.full, "nosync", st.nosync);
}

static RC_ADMIN_HANDLER(cmd_status)
{
	struct rc_node *n = arg;
	uint64_t up = (rc_mono_ms() - n->started_ms) / 1000;
	json_t *ports = json_array(), *wal = wal_json(n);
	struct rc_port_link link;
	char ip[INET_ADDRSTRLEN];
	unsigned i;

	ip_str(n->cfg.service_ip.s_addr, ip);
	rc_text_printf(t, "node %s: serving %s:%u, up %" PRIu64 " s, %u worker(s)\n",
		       n->cfg.node_id, ip, n->cfg.udp_port, up, n->dp.n_workers);
	for (i = 0; i < n->n_ports_up; i++) {
		memset(&link, 0, sizeof(link));
		rc_port_link(&n->ports[i], &link);
		json_array_append_new(ports, json_pack("{s:s,s:s,s:b,s:i}", "name",
						       n->ports[i].name, "device",
						       n->ports[i].device, "link_up", link.up,
						       "rx_queues", n->ports[i].n_rxq));
		rc_text_printf(t, "port %s (%s): link %s, %u rx queue(s)\n", n->ports[i].name,
			       n->ports[i].device, link.up ? "up" : "down", n->ports[i].n_rxq);
	}
	rc_text_printf(t, "rooms %u, sessions %u, storage %s (%" PRIu64 " of %" PRIu64
			  " bytes, %" PRIu64 " messages)\n",
		       rc_room_count(n->dp.rooms), rc_session_count(n->dp.sessions),
		       json_is_true(json_object_get(wal, "full")) ? "FULL" : "ok",
		       (uint64_t)json_integer_value(json_object_get(wal, "map_used")),
		       (uint64_t)json_integer_value(json_object_get(wal, "map_size")),
		       (uint64_t)json_integer_value(json_object_get(wal, "messages")));
	if (json_is_true(json_object_get(wal, "nosync")))
		rc_text_printf(t, "ALARM: storage NOT SYNCED (wal.nosync = true): an acknowledged "
				  "message can be lost in a crash; for tests and benchmarks only\n");
	json_object_set_new(res, "node", json_string(n->cfg.node_id));
	json_object_set_new(res, "service_ip", json_string(ip));
	json_object_set_new(res, "udp_port", json_integer(n->cfg.udp_port));
	json_object_set_new(res, "uptime_s", json_integer((json_int_t)up));
	json_object_set_new(res, "workers", json_integer(n->dp.n_workers));
	json_object_set_new(res, "rooms", json_integer(rc_room_count(n->dp.rooms)));
	json_object_set_new(res, "sessions", json_integer(rc_session_count(n->dp.sessions)));
	json_object_set_new(res, "storage_full", json_boolean(n->dp.storage_full));
	json_object_set_new(res, "ports", ports);
	json_object_set_new(res, "wal", wal);
	return 0;
}

/* A room with its service (the part of its canonical name after '@') and whether it is
 * hosted here (one of our scopes) or a copy of a room another node hosts. */
static json_t *
room_json(const struct rc_room *r)
{
	const char *at = strchr(r->name, '@');

	return json_pack("{s:I,s:s,s:s,s:s,s:i,s:i,s:I,s:I,s:s,s:I,s:b}", "id", (json_int_t)r->id,
			 "name", r->name, "service", at != NULL ? at + 1 : "", "kind",
			 r->kind == RC_ROOM_REMOTE ? "remote" : "hosted", "home_worker", r->home,
			 "members", (int)r->n_members, "last_seq",
			 (json_int_t)__atomic_load_n(&r->last_committed, __ATOMIC_RELAXED),
			 "posts", (json_int_t)r->posts, "creator", r->creator, "created_ms",
			 (json_int_t)r->created_ms, "archived", rc_room_archived(r));
}

struct list_ctx {
	json_t *arr;
	struct rc_text *t;
};

static const struct rc_table_col room_cols[] = {
	{ "ID", -8, "id" },
	{ "ROOM", -32, "name" },
	{ "KIND", -6, "kind" },
	{ "MEMBERS", 8, "members" },
	{ "LAST_SEQ", 10, "last_seq" },
	{ "ARCHIVED", 9, "archived" },
};

static int
list_room(void *arg, struct rc_room *r)
{
	struct list_ctx *c = arg;

	rc_table_add(c->t, RC_TABLE(room_cols), c->arr, room_json(r));
	return 0;
}

static RC_ADMIN_HANDLER(cmd_room_list)
{
	struct rc_node *n = arg;
	struct list_ctx c = { json_array(), t };

	rc_table_head(t, RC_TABLE(room_cols));
	rc_room_foreach(n->dp.rooms, list_room, &c);
	json_object_set_new(res, "rooms", c.arr);
	return 0;
}

static void
members_json(struct rc_room *r, json_t *arr, struct rc_text *t)
{
	char ip[INET_ADDRSTRLEN], sid[24];
	unsigned i;

	rte_spinlock_lock(&r->lock);
	for (i = 0; i < r->n_members; i++) {
		const struct rc_member *m = &r->members[i];

		ip_str(m->peer.ip, ip);
		snprintf(sid, sizeof(sid), "%016" PRIx64, m->session);
		json_array_append_new(arr, json_pack("{s:s#,s:s,s:s,s:i}", "user", m->user,
						     (int)m->user_len, "session", sid, "ip", ip,
						     "port",
						     rte_be_to_cpu_16(m->peer.udp_port)));
		rc_text_printf(t, "  %.*s  %s:%u  session %s\n", (int)m->user_len, m->user, ip,
			       rte_be_to_cpu_16(m->peer.udp_port), sid);
	}
	rte_spinlock_unlock(&r->lock);
}

/* A room by its canonical name, or a bare one of our services (ours first). */
static struct rc_room *
room_by_name(struct rc_node *n, const char *name)
{
	struct rc_str in = { name, (uint16_t)strnlen(name, RC_MAX_ROOM + 1) }, c;
	char buf[RC_MAX_ROOM];
	struct rc_room *r = NULL;

	for (unsigned vip = 0; r == NULL && vip < n->scopes.n; vip++)
		if (in.len <= RC_MAX_ROOM && rc_room_canonical(&n->dp, &in, vip, buf, &c) == 0)
			r = rc_room_lookup_name(n->dp.rooms, c.p, c.len);
	return r;
}

static RC_ADMIN_HANDLER(cmd_room_show)
{
	struct rc_node *n = arg;
	json_t *room, *members;
	struct rc_room *r;

	r = room_by_name(n, argv[0]);
	if (r == NULL) {
		snprintf(err, errlen, "no room named \"%s\" (see: room list)", argv[0]);
		return -ENOENT;
	}
	room = room_json(r);
	members = json_array();
	rc_text_printf(t, "room %u \"%s\"%s: last seq %" PRIu64 ", %" PRIu64
			  " posts since start, created by %s, home worker %u\nmembers:\n",
		       r->id, r->name, rc_room_archived(r) ? " (archived: read-only)" : "",
		       __atomic_load_n(&r->last_committed, __ATOMIC_RELAXED), r->posts, r->creator,
		       r->home);
	members_json(r, members, t);
	json_object_set_new(room, "member_list", members);
	json_object_update(res, room);
	json_decref(room);
	return 0;
}

/* room archive ROOM [--off]: read-only (POSTs refused, ERROR 11), or writable again. The
 * table changes at once; the state record is stored by the WAL writer right after (a
 * failure is logged and undone in the table). */
static RC_ADMIN_HANDLER(cmd_room_archive)
{
	struct rc_node *n = arg;
	bool on = true;
	struct rc_room *r;
	int rc;

	if (argc == 2 && strcmp(argv[1], "--off") == 0)
		on = false;
	else if (argc != 1)
		return -EINVAL;
	r = room_by_name(n, argv[0]);
	if (r == NULL) {
		snprintf(err, errlen, "no room named \"%s\" (see: room list)", argv[0]);
		return -ENOENT;
	}
	rc = rc_node_room_archive(n, r, on, err, errlen);
	if (rc != 0)
		return rc;
	json_object_set_new(res, "id", json_integer((json_int_t)r->id));
	json_object_set_new(res, "name", json_string(r->name));
	json_object_set_new(res, "archived", json_boolean(on));
	rc_text_printf(t, "room %u \"%s\" %s\n", r->id, r->name,
		       on ? "archived: read-only (POSTs refused; JOIN, FETCH, MEMBERS served)" :
			    "unarchived: POSTs accepted again");
	return 0;
}

/* room delete ROOM: out of the table at once, its tombstone into the WAL right after. */
static RC_ADMIN_HANDLER(cmd_room_delete)
{
	struct rc_node *n = arg;
	struct rc_room *r = room_by_name(n, argv[0]);
	char name[RC_MAX_ROOM + 1];
	uint32_t id;
	int rc;

	(void)argc;
	if (r == NULL) {
		snprintf(err, errlen, "no room named \"%s\" (see: room list)", argv[0]);
		return -ENOENT;
	}
	id = r->id;
	snprintf(name, sizeof(name), "%s", r->name);
	rc = rc_node_room_delete(n, r, err, errlen); /* r is gone when it succeeds */
	if (rc != 0)
		return rc;
	json_object_set_new(res, "id", json_integer((json_int_t)id));
	json_object_set_new(res, "name", json_string(name));
	json_object_set_new(res, "deleted", json_true());
	rc_text_printf(t, "room %u \"%s\" deleted: its members lost it, its history goes from "
			  "the WAL and the database; a JOIN of its name creates a new room\n",
		       id, name);
	return 0;
}

/* "%15s:%-5u": at least as wide as the column (21). */
static void
user_address(const json_t *u, char *buf, size_t cap)
{
	snprintf(buf, cap, "%15s:%-5u", json_string_value(json_object_get(u, "ip")),
		 (unsigned)json_integer_value(json_object_get(u, "port")));
}

static void
user_idle_s(const json_t *u, char *buf, size_t cap)
{
	snprintf(buf, cap, "%" JSON_INTEGER_FORMAT,
		 json_integer_value(json_object_get(u, "idle_ms")) / 1000);
}

static const struct rc_table_col user_cols[] = {
	{ "USER", -20, "user" },
	{ "SESSION", -16, "session" },
	{ "ADDRESS", 21, NULL, user_address },
	{ "IDLE_S", 8, NULL, user_idle_s },
};

static int
list_user(void *arg, struct rc_session *s)
{
	struct list_ctx *c = arg;
	uint64_t now = rc_mono_ms();
	uint64_t seen = __atomic_load_n(&s->last_seen_ms, __ATOMIC_RELAXED);
	char ip[INET_ADDRSTRLEN], sid[24];

	ip_str(s->peer.ip, ip);
	snprintf(sid, sizeof(sid), "%016" PRIx64, s->id);
	rc_table_add(c->t, RC_TABLE(user_cols), c->arr,
		     json_pack("{s:s#,s:s,s:s,s:i,s:I,s:I}", "user", s->user, (int)s->user_len,
			       "session", sid, "ip", ip, "port", rte_be_to_cpu_16(s->peer.udp_port),
			       "idle_ms", (json_int_t)(now > seen ? now - seen : 0), "age_ms",
			       (json_int_t)(now - s->created_ms)));
	return 0;
}

static RC_ADMIN_HANDLER(cmd_user_list)
{
	struct rc_node *n = arg;
	struct list_ctx c = { json_array(), t };

	rc_table_head(t, RC_TABLE(user_cols));
	rc_session_foreach(n->dp.sessions, list_user, &c);
	json_object_set_new(res, "users", c.arr);
	return 0;
}

static json_t *
lcore_json(const struct rc_worker *w, uint64_t *drops)
{
	const struct rc_lcore_stats *s = &w->stats;
	json_t *o = json_pack("{s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "lcore",
			      (int)w->lcore, "worker", (int)w->idx, "rx", (json_int_t)s->rx_pkts,
			      "tx", (json_int_t)s->tx_pkts, "rx_bytes", (json_int_t)s->rx_bytes,
			      "tx_bytes", (json_int_t)s->tx_bytes, "polls", (json_int_t)s->polls,
			      "idle_sleeps", (json_int_t)s->idle_sleeps, "forwarded",
			      (json_int_t)s->forwarded, "deliveries", (json_int_t)s->deliveries,
			      "posts_stored", (json_int_t)s->posts_stored, "resends_acked",
			      (json_int_t)s->resends_acked);
	json_t *d = json_object();
	unsigned i;

	json_object_set_new(o, "bell_wakes", json_integer((json_int_t)s->bell_wakes));
	json_object_set_new(o, "fan_datagrams", json_integer((json_int_t)s->fan_datagrams));
	json_object_set_new(o, "tx_waited", json_integer((json_int_t)s->tx_waited));
	json_object_set_new(o, "seqs_handed_back", json_integer((json_int_t)s->seqs_handed_back));
	json_object_set_new(o, "seq_conflicts", json_integer((json_int_t)s->seq_conflicts));
	for (i = 0; i < RC_DROP_MAX; i++) {
		json_object_set_new(d, rc_drop_name(i), json_integer((json_int_t)s->drops[i]));
		drops[i] += s->drops[i];
	}
	json_object_set_new(o, "drops", d);
	return o;
}

static json_t *
sum_by_name(struct rc_node *n, size_t off, unsigned max, const char *(*name)(unsigned))
{
	json_t *o = json_object();
	unsigned i, k;
	uint64_t v;

	for (i = 1; i < max; i++) {
		for (v = 0, k = 0; k < n->dp.n_workers; k++)
			v += ((const uint64_t *)((const char *)&n->dp.workers[k]->stats + off))[i];
		json_object_set_new(o, name(i), json_integer((json_int_t)v));
	}
	return o;
}

/* LOGIN refusals by reason; busy ones are counted by the workers. */
uint64_t
rc_node_login_refused(const struct rc_node *n, unsigned reason)
{
	uint64_t v = n->login_refused[reason];
	unsigned k;

	if (reason == RC_LOGIN_BUSY)
		for (k = 0; k < n->dp.n_workers; k++)
			v += n->dp.workers[k]->stats.logins_busy;
	return v;
}

/* The control counters beyond json_pack's reach. */
/* Deleted rooms' ids not reusable yet (the WAL has not trimmed past their tombstones). */
static unsigned
ids_waiting(const struct rc_node *n)
{
	unsigned w = 0;

	for (unsigned i = 0; i < n->scopes.n; i++)
		w += rc_scope_ids_waiting(&n->scopes.sc[i]);
	return w;
}

static void
control_json_more(const struct rc_node *n, json_t *c)
{
	json_object_set_new(c, "logins_redirected", json_integer((json_int_t)n->logins_redirected));
	json_object_set_new(c, "sessions_replaced", json_integer((json_int_t)n->sessions_replaced));
	json_object_set_new(c, "sessions_evicted", json_integer((json_int_t)n->sessions_evicted));
	json_object_set_new(c, "rooms_refused_quota",
			    json_integer((json_int_t)n->rooms_refused_quota));
	json_object_set_new(c, "rooms_refused_rate", json_integer((json_int_t)n->rooms_refused_rate));
	json_object_set_new(c, "rooms_deleted", json_integer((json_int_t)n->rooms_deleted));
	json_object_set_new(c, "room_delete_failures",
			    json_integer((json_int_t)n->room_delete_failures));
	json_object_set_new(c, "room_ids_waiting", json_integer((json_int_t)ids_waiting(n)));
}

static json_t *
login_refused_json(const struct rc_node *n, struct rc_text *t)
{
	json_t *o = json_object();
	unsigned i;

	rc_text_printf(t, "logins: ok %" PRIu64 ", repeated %" PRIu64 ", redirected %" PRIu64
			  ", refused:", n->logins_ok, n->logins_repeated, n->logins_redirected);
	for (i = 0; i < RC_LOGIN_REFUSAL_MAX; i++) {
		uint64_t v = rc_node_login_refused(n, i);

		json_object_set_new(o, rc_login_refusal_name(i), json_integer((json_int_t)v));
		rc_text_printf(t, " %s %" PRIu64, rc_login_refusal_name(i), v);
	}
	rc_text_printf(t, "\n");
	return o;
}

static json_t *
lat_us(uint64_t ns)
{
	return json_real((double)(ns / 100) / 10.0); /* 0.1 us */
}

/*
 * The latency budget of the POSTs stored since the start (latency.h), every worker's
 * histograms summed: per stage count, p50, p99, max in microseconds; a table in the text.
 */
static json_t *
latency_budget_json(const struct rc_node *n, struct rc_text *t)
{
	static struct rc_lat_hist sum; /* the admin socket's thread only; 2.4 KiB */
	json_t *o = json_object();

	rc_text_printf(t, "latency budget (us):  %-16s %10s %9s %9s %9s\n", "stage", "count",
		       "p50", "p99", "max");
	for (unsigned s = 0; s < RC_LAT_MAX; s++) {
		uint64_t p50, p99;

		memset(&sum, 0, sizeof(sum));
		for (unsigned k = 0; k < n->dp.n_workers; k++)
			rc_lat_hist_add(&sum, &n->dp.workers[k]->lat.st[s]);
		p50 = rc_lat_hist_quantile(&sum, 0.5);
		p99 = rc_lat_hist_quantile(&sum, 0.99);
		json_object_set_new(o, rc_lat_stage_name(s),
				    json_pack("{s:I,s:o,s:o,s:o}", "count", (json_int_t)sum.count,
					      "p50_us", lat_us(p50), "p99_us", lat_us(p99),
					      "max_us", lat_us(sum.max_ns)));
		rc_text_printf(t, "                      %-16s %10" PRIu64 " %9.1f %9.1f %9.1f\n",
			       rc_lat_stage_name(s), sum.count, p50 / 1e3, p99 / 1e3,
			       sum.max_ns / 1e3);
	}
	return o;
}

static RC_ADMIN_HANDLER(cmd_stats)
{
	struct rc_node *n = arg;
	uint64_t drops[RC_DROP_MAX] = { 0 };
	json_t *lcores = json_array(), *d = json_object();
	struct rc_history_stats hs;
	unsigned i;

	for (i = 0; i < n->dp.n_workers; i++) {
		const struct rc_lcore_stats *s = &n->dp.workers[i]->stats;

		json_array_append_new(lcores, lcore_json(n->dp.workers[i], drops));
		rc_text_printf(t, "lcore %u (worker %u): rx %" PRIu64 " tx %" PRIu64
				  " deliveries %" PRIu64 " stored %" PRIu64 " idle sleeps %" PRIu64
				  " (bell wakes %" PRIu64 ")\n",
			       n->dp.workers[i]->lcore, i, s->rx_pkts, s->tx_pkts, s->deliveries,
			       s->posts_stored, s->idle_sleeps, s->bell_wakes);
	}
	rc_text_printf(t, "drops:\n");
	for (i = 0; i < RC_DROP_MAX; i++) {
		json_object_set_new(d, rc_drop_name(i), json_integer((json_int_t)drops[i]));
		if (drops[i] != 0)
			rc_text_printf(t, "  %-16s %" PRIu64 "\n", rc_drop_name(i), drops[i]);
	}
	rc_history_get_stats(rc_node_own(n)->hist, &hs);
	json_object_set_new(res, "drops", d);
	json_object_set_new(res, "lcores", lcores);
	json_object_set_new(res, "msgs_in", sum_by_name(n, offsetof(struct rc_lcore_stats, msgs_in),
							RC_T_MAX, rc_msg_type_name));
	json_object_set_new(res, "msgs_out",
			    sum_by_name(n, offsetof(struct rc_lcore_stats, msgs_out), RC_T_MAX,
					rc_msg_type_name));
	json_object_set_new(res, "errors_out",
			    sum_by_name(n, offsetof(struct rc_lcore_stats, errors_out), RC_E_MAX,
					rc_err_name));
	json_object_set_new(res, "wal", wal_json(n));
	json_object_set_new(res, "history",
			    json_pack("{s:I,s:I,s:I,s:I,s:I}", "requests", (json_int_t)hs.requests,
				      "messages", (json_int_t)hs.messages, "errors",
				      (json_int_t)hs.errors, "datagrams",
				      (json_int_t)n->replay.sent, "dropped",
				      (json_int_t)n->replay.dropped));
	json_object_set_new(res, "control",
			    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "logins_ok",
				      (json_int_t)n->logins_ok, "logins_failed",
				      (json_int_t)n->logins_failed, "logins_repeated",
				      (json_int_t)n->logins_repeated, "sessions_expired",
				      (json_int_t)n->sessions_expired, "rooms_created",
				      (json_int_t)n->rooms_created, "purges_dropped",
				      (json_int_t)n->scopes.purges_dropped, "rooms_name_clash",
				      (json_int_t)n->scopes.rooms_name_clash, "login_refused",
				      login_refused_json(n, t)));
	rc_text_printf(t, "scopes: session purges dropped %" PRIu64 ", rooms not loaded (name clash) %"
			  PRIu64 "\n", n->scopes.purges_dropped, n->scopes.rooms_name_clash);
	control_json_more(n, json_object_get(res, "control"));
	json_object_set_new(res, "relay", rc_node_relay_counters(n, t));
	json_object_set_new(res, "latency_budget", latency_budget_json(n, t));
	return 0;
}

/* db status, the local store: the WAL's backlog toward the database and LMDB. */
static void
db_status_lmdb(struct rc_node *n, json_t *res, struct rc_text *t)
{
	struct rc_wal_stats ws;
	uint64_t now = rc_wall_ms(), age, ceiling;

	rc_wal_get_stats(rc_node_own(n)->wal, &ws);
	ceiling = rc_wal_drain_ceiling(rc_node_own(n)->wal);
	age = ws.oldest_undrained_ms != 0 && now > ws.oldest_undrained_ms ?
		      now - ws.oldest_undrained_ms : 0;
	json_object_set_new(res, "configured", json_boolean(rc_node_own(n)->drainer != NULL));
	json_object_set_new(res, "backlog",
			    json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "records",
				      (json_int_t)ws.backlog_records, "bytes",
				      (json_int_t)ws.backlog_bytes, "oldest_age_ms",
				      (json_int_t)age, "last_lsn", (json_int_t)ws.last_lsn,
				      "drained_lsn", (json_int_t)ws.drained_lsn, "ceiling_lsn",
				      (json_int_t)ceiling));
	json_object_set_new(res, "lmdb",
			    json_pack("{s:I,s:I,s:I,s:b,s:I}", "map_size", (json_int_t)ws.map_size,
				      "map_used", (json_int_t)ws.map_used, "messages",
				      (json_int_t)ws.messages, "full", ws.full, "trimmed",
				      (json_int_t)ws.trimmed));
	/* alarms: a room's window trimmed for space, a record trimmed before the HA peer had
	 * it, a message refused because a seq before it was not stored */
	json_object_set_new(json_object_get(res, "lmdb"), "dedup_keys",
			    json_integer((json_int_t)ws.dedup_keys));
	json_object_set_new(json_object_get(res, "lmdb"), "peer_trimmed",
			    json_integer((json_int_t)ws.peer_trimmed));
	json_object_set_new(json_object_get(res, "lmdb"), "seq_gaps_refused",
			    json_integer((json_int_t)ws.seq_gaps_refused));
	if (rc_node_own(n)->drainer != NULL)
		rc_text_printf(t, "backlog: %" PRIu64 " records, %" PRIu64 " bytes, oldest %" PRIu64
				  " ms old (LSN %" PRIu64 " drained of %" PRIu64 ")\n",
			       ws.backlog_records, ws.backlog_bytes, age, ws.drained_lsn,
			       ws.last_lsn);
	if (rc_node_own(n)->drainer != NULL && ceiling < ws.last_lsn)
		rc_text_printf(t, "drain ceiling: LSN %" PRIu64 " (the rest waits for the HA peer's "
				  "copy)\n", ceiling);
	rc_text_printf(t, "lmdb: %" PRIu64 " of %" PRIu64 " bytes used%s, %" PRIu64
			  " messages held, %" PRIu64 " trimmed after their drain\n",
		       ws.map_used, ws.map_size, ws.full ? " (FULL: POSTs refused)" : "",
		       ws.messages, ws.trimmed);
	if (ws.peer_trimmed + ws.seq_gaps_refused > 0)
		rc_text_printf(t, "ALARM lmdb: %" PRIu64 " records trimmed before the HA peer had "
				  "them, %" PRIu64 " messages refused after a seq not stored\n",
			       ws.peer_trimmed, ws.seq_gaps_refused);
}

/* db status, the database: the drainer's connection, counters and alarms. */
static void
db_status_database(struct rc_node *n, json_t *res, struct rc_text *t)
{
	struct rc_drainer_stats ds;
	uint64_t dead, dead_rows;

	rc_drainer_get_stats(rc_node_own(n)->drainer, &ds);
	rc_scopes_dead_letters(&n->scopes, &dead, &dead_rows);
	json_object_set_new(res, "dead_letters",
			    json_pack("{s:b,s:I,s:I}", "alarm", dead_rows != 0, "rows",
				      (json_int_t)dead_rows, "set_aside", (json_int_t)dead));
	json_object_set_new(res, "database",
			    json_pack("{s:b,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s}", "connected",
				      ds.connected, "schema_version", ds.schema_version,
				      "drained", (json_int_t)ds.drained, "batches",
				      (json_int_t)ds.batches, "conflicts",
				      (json_int_t)ds.conflicts, "errors", (json_int_t)ds.errors,
				      "reconnects", (json_int_t)ds.reconnects, "last_batch_ms",
				      (json_int_t)ds.last_batch_ms, "cleanup_runs",
				      (json_int_t)ds.cleanup_runs, "cleanup_deleted",
				      (json_int_t)ds.cleanup_deleted, "last_error", ds.last_error));
	rc_text_printf(t, "database: %s, schema v%d, %" PRIu64 " records drained in %" PRIu64
			  " batches, %" PRIu64 " errors, %" PRIu64 " reconnects\n",
		       ds.connected ? "connected" : "NOT CONNECTED", ds.schema_version, ds.drained,
		       ds.batches, ds.errors, ds.reconnects);
	/* which server: of a multi-host conninfo (a replicated database), the primary found */
	json_object_set_new(json_object_get(res, "database"), "server",
			    ds.server[0] != '\0' ? json_string(ds.server) : json_null());
	if (ds.server[0] != '\0')
		rc_text_printf(t, "server: %s\n", ds.server);
	if (ds.conflicts != 0)
		rc_text_printf(t, "ALARM: %" PRIu64 " conflicting rows (same room and seq, another "
				  "message): see table drain_alarms\n",
			       ds.conflicts);
	if (dead_rows != 0)
		rc_text_printf(t, "ALARM: %" PRIu64 " dead letters: records the database cannot hold "
				  "or refused, set aside (%" PRIu64 " since start): see table "
				  "drain_dead_letters\n",
			       dead_rows, dead);
	if (ds.last_error[0] != '\0')
		rc_text_printf(t, "last error: %s\n", ds.last_error);
	if (ds.cleanup_runs != 0)
		rc_text_printf(t, "cleanup: %" PRIu64 " runs, %" PRIu64 " messages deleted\n",
			       ds.cleanup_runs, ds.cleanup_deleted);
}

static RC_ADMIN_HANDLER(cmd_db_status)
{
	struct rc_node *n = arg;

	db_status_lmdb(n, res, t);
	if (rc_node_own(n)->drainer == NULL) {
		rc_text_printf(t, "database: none configured (db.conninfo): LMDB is the only "
				  "store\n");
		return 0;
	}
	db_status_database(n, res, t);
	return 0;
}

static RC_ADMIN_HANDLER(cmd_db_cleanup)
{
	struct rc_node *n = arg;
	unsigned long days = n->cfg.db_cleanup_days;
	char *end;

	if (argc == 2 && strcmp(argv[0], "--days") == 0) {
		errno = 0;
		days = strtoul(argv[1], &end, 10);
		if (errno != 0 || *end != '\0' || end == argv[1] || days > 36500)
			return -EINVAL;
	} else if (argc != 0) {
		return -EINVAL;
	}
	if (rc_node_own(n)->drainer == NULL) {
		snprintf(err, errlen, "no external database configured (db.conninfo)");
		return -ENOENT;
	}
	if (days == 0) {
		snprintf(err, errlen, "say how many days to keep: db cleanup --days N "
				      "(db.cleanup_days is 0)");
		return -EINVAL;
	}
	rc_drainer_request_cleanup(rc_node_own(n)->drainer, (unsigned)days);
	json_object_set_new(res, "days", json_integer((json_int_t)days));
	json_object_set_new(res, "scheduled", json_true());
	rc_text_printf(t, "cleanup of messages older than %lu days started on the drainer; "
			  "see `db status`\n",
		       days);
	return 0;
}

/* db fault hold-drain|release-drain (tests: needs ha.fault_injection): the drainer stops
 * inside a batch's open transaction (rc_drainer_fault_hold), e.g. before a SIGSTOP that
 * plays a frozen host. */
static RC_ADMIN_HANDLER(cmd_db_fault)
{
	struct rc_node *n = arg;
	bool on;

	if (!n->cfg.ha.fault_injection) {
		snprintf(err, errlen, "fault injection is off (ha.fault_injection = true; tests only)");
		return -EPERM;
	}
	if (strcmp(argv[0], "hold-drain") == 0)
		on = true;
	else if (strcmp(argv[0], "release-drain") == 0)
		on = false;
	else
		return -EINVAL;
	if (rc_node_own(n)->drainer == NULL) {
		snprintf(err, errlen, "no drainer runs here");
		return -ENOENT;
	}
	rc_drainer_fault_hold(rc_node_own(n)->drainer, on);
	rc_text_printf(t, "drainer %s\n", on ? "held inside its next batch's transaction" :
						 "running");
	json_object_set_new(res, "held", json_boolean(on));
	return 0;
}

static const struct rc_admin_cmd cmds[] = {
	{ "status", "", "node, ports, rooms, sessions, storage", cmd_status },
	{ "room list", "", "every room with members and last sequence", cmd_room_list },
	{ "room show", "ROOM", "one room and its members", cmd_room_show, 1, 1 },
	{ "room archive", "ROOM [--off]",
	  "make a room read-only (history kept), or writable again with --off", cmd_room_archive,
	  1, 2 },
	{ "room delete", "ROOM", "delete a room and its history (its name and id become free)",
	  cmd_room_delete, 1, 1 },
	{ "user list", "", "logged-in sessions", cmd_user_list },
	{ "stats", "", "per-lcore packet counts, drops by reason, messages by type, the latency budget of POSTs",
	  cmd_stats },
	{ "db status", "", "drain backlog, LMDB use, database connection and alarms",
	  cmd_db_status },
	{ "db cleanup", "[--days N]",
	  "delete messages older than N days from the database (rooms are kept)", cmd_db_cleanup,
	  0, 2 },
	{ "db fault", "hold-drain|release-drain", "fault injection (tests only)", cmd_db_fault, 1,
	  1 },
};

int
rc_node_cmds_register(struct rc_node *n)
{
	return rc_admin_register_table(n->admin, cmds, RTE_DIM(cmds), n, NULL);
}
