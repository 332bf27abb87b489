/* SPDX-License-Identifier: MIT */
#include "node.h"

#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <urcu-qsbr.h>

#include "admin.h"
#include "cluster_cmds.h"
#include "cluster_node.h"
#include "dedup.h"
#include "drainer.h"
#include "frag_tap.h"
#include "history.h"
#include "log.h"
#include "mgmt.h"
#include "node_ha.h"
#include "room_table.h"
#include "session.h"
#include "token.h"
#include "token_admin.h"
#include "wal.h"

#define CTRL_RING_SIZE 4096
#define WORKER_RING_SIZE 4096
#define WORK_POOL_SIZE 16383
#define PURGE_WAIT_MS 5 /* a worker's ring stays full this long: drop the purge */

/* ---- set-up ---- */

/* net_af_packet has the kernel reassemble IP fragments (frag_tap.h): give each worker a tap
 * that shows it the fragments, so that the node can drop what it reassembled. */
static int
open_frag_taps(struct rc_node *n, unsigned i, char *err, size_t errlen)
{
	const struct rc_port_conf *pc = &n->cfg.ports[i];
	char ifname[IF_NAMESIZE];
	unsigned w;
	int rc;

	if (strncmp(pc->device, "net_af_packet", 13) != 0 &&
	    strncmp(pc->device, "eth_af_packet", 13) != 0)
		return 0;
	if (rc_frag_tap_iface(pc->args, ifname, sizeof(ifname)) != 0) {
		snprintf(err, errlen, "port %s: no iface=NAME in its device arguments", pc->name);
		return -EINVAL;
	}
	for (w = 0; w < n->cfg.n_workers; w++) {
		struct rc_frag_tap *t = calloc(1, sizeof(*t));

		if (t == NULL)
			return -ENOMEM;
		rc = rc_frag_tap_open(t, ifname, err, errlen);
		if (rc != 0) {
			free(t);
			return rc;
		}
		n->dp.ports[i].frag_tap[w] = t;
	}
	RC_INFO("port %s: %s reassembles IP fragments in the kernel; a fragment tap per worker "
		"drops what it reassembles", pc->name, pc->device);
	return 0;
}

static void
close_frag_taps(struct rc_node *n)
{
	unsigned i, w;

	for (i = 0; i < RC_DP_MAX_PORTS; i++)
		for (w = 0; w < RC_DP_MAX_WORKERS; w++) {
			struct rc_frag_tap *t = n->dp.ports[i].frag_tap[w];

			if (t != NULL) {
				rc_frag_tap_close(t);
				free(t);
				n->dp.ports[i].frag_tap[w] = NULL;
			}
		}
}

static int
setup_ports(struct rc_node *n, char *err, size_t errlen)
{
	struct rc_dp *dp = &n->dp;
	unsigned i;
	int rc;

	for (i = 0; i < n->cfg.n_ports; i++) {
		if (n->cfg.ports[i].tx_queues < n->cfg.n_workers) {
			snprintf(err, errlen, "port %s: tx_queues (%u) must be >= workers (%u)",
				 n->cfg.ports[i].name, n->cfg.ports[i].tx_queues,
				 n->cfg.n_workers);
			return -EINVAL;
		}
		rc = rc_port_setup(&n->ports[i], &n->cfg.ports[i], dp->mbuf_pool, err, errlen);
		if (rc != 0)
			return rc;
		n->n_ports_up++;
		dp->ports[i].port_id = n->ports[i].port_id;
		dp->ports[i].n_rxq = n->ports[i].n_rxq;
		dp->ports[i].local.mac = n->ports[i].mac;
		dp->ports[i].local.ip = n->cfg.service_ip.s_addr;
		dp->ports[i].local.udp_port = rte_cpu_to_be_16(n->cfg.udp_port);
		dp->ports[i].local.port_idx = (uint16_t)i;
		dp->ports[i].local.ip_on = true; /* HA: from the lease on (node_ha.c) */
		rc = open_frag_taps(n, i, err, errlen);
		if (rc != 0)
			return rc;
		RC_INFO("port %s (%s) up: mac " RTE_ETHER_ADDR_PRT_FMT ", %u rx / %u tx queues",
			n->ports[i].name, n->ports[i].device,
			RTE_ETHER_ADDR_BYTES(&n->ports[i].mac), n->ports[i].n_rxq,
			n->ports[i].n_txq);
	}
	dp->n_ports = n->cfg.n_ports;
	return 0;
}

static int
setup_pools(struct rc_node *n, char *err, size_t errlen)
{
	struct rc_dp *dp = &n->dp;
	int socket = (int)rte_socket_id();

	dp->mbuf_pool = rte_pktmbuf_pool_create("rc_mbuf", n->cfg.mbufs, 256, 0,
						RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	dp->work_pool = rte_mempool_create("rc_work", WORK_POOL_SIZE, sizeof(struct rc_work), 64,
					   0, NULL, NULL, NULL, NULL, socket, 0);
	dp->ctrl_ring = rte_ring_create("rc_ctrl", CTRL_RING_SIZE, socket, RING_F_SC_DEQ);
	/* multi-producer: the own and the HA peer's WAL writers complete into it */
	n->ctrl_done = rte_ring_create("rc_ctrl_done", 1024, socket, RING_F_SC_DEQ);
	if (dp->mbuf_pool == NULL || dp->work_pool == NULL || dp->ctrl_ring == NULL ||
	    n->ctrl_done == NULL) {
		snprintf(err, errlen, "cannot allocate pools and rings: %s",
			 rte_strerror(rte_errno));
		return -ENOMEM;
	}
	return 0;
}

/* libpq conninfo value quoting: single quotes, with \ and ' escaped. */
static int
append_password(char *dst, size_t cap, const char *pw)
{
	size_t len = strlen(dst);

	if (len + 12 >= cap)
		return -ENOSPC;
	len += (size_t)snprintf(dst + len, cap - len, " password='");
	for (; *pw != '\0'; pw++) {
		if (len + 4 >= cap)
			return -ENOSPC;
		if (*pw == '\'' || *pw == '\\')
			dst[len++] = '\\';
		dst[len++] = *pw;
	}
	dst[len++] = '\'';
	dst[len] = '\0';
	return 0;
}

int
rc_node_db_conninfo(struct rc_node *n, const char *conninfo, const char *password, char *out,
		    size_t cap)
{
	(void)n;
	if (out != conninfo)
		snprintf(out, cap, "%s", conninfo);
	if (out[0] == '\0' || password == NULL || password[0] == '\0')
		return 0;
	return append_password(out, cap, password);
}

void
rc_node_drainer_conf(const struct rc_node *n, const char *node_id, uint64_t epoch,
		     struct rc_drainer_conf *dc)
{
	*dc = (struct rc_drainer_conf){
		.conninfo = n->db_conninfo,
		.node_id = node_id,
		.batch_max = n->cfg.db_batch_max,
		.retry_min_ms = 100,
		.retry_max_ms = n->cfg.db_retry_max_ms,
		.idle_ms = 5,
		.method = strcmp(n->cfg.db_method, "pipeline") == 0 ? RC_DRAIN_PIPELINE :
								      RC_DRAIN_COPY,
		.epoch = epoch,
	};
}

void
rc_node_wal_conf(const struct rc_node *n, const char *dir, struct rc_wal_conf *wc)
{
	*wc = (struct rc_wal_conf){
		.dir = dir,
		.map_size = n->cfg.wal_map_size,
		.high_water_pct = n->cfg.wal_high_water_pct,
		.batch_max = n->cfg.wal_batch_max,
		.ring_size = 8192,
		.pool_size = 16383,
		.nosync = n->cfg.wal_nosync,
		.socket_id = (int)rte_socket_id(),
		.keep_records = n->cfg.wal_keep_records,
		.keep_per_room = n->cfg.dedup_window,
		.peer_keep_records = n->cfg.ha_enabled ? n->cfg.wal_peer_keep_records : 0,
		.strict_seq = true,
	};
}

static int
drainer_new(struct rc_node *n)
{
	struct rc_drainer_conf dc;

	rc_node_drainer_conf(n, n->cfg.node_id, 0, &dc);

	if (!rc_node_ha_may_drain(n, &dc.epoch))
		return 0; /* HA: started with our lease (node_ha.c) */
	n->drainer = rc_drainer_create(n->wal, &dc);
	if (n->drainer == NULL)
		return -errno;
	return n->running ? rc_drainer_start(n->drainer) : 0;
}

int
rc_node_drainer_restart(struct rc_node *n)
{
	if (n->drainer != NULL) {
		rc_drainer_stop(n->drainer);
		rc_drainer_destroy(n->drainer);
		n->drainer = NULL;
	}
	n->conflicts_logged = 0;
	n->dead_letters_logged = 0;
	return n->db_conninfo[0] != '\0' ? drainer_new(n) : 0;
}

int
rc_node_db_switch(struct rc_node *n, const char *conninfo)
{
	int rc;

	if (n->drainer != NULL) {
		rc_drainer_stop(n->drainer);
		rc_drainer_destroy(n->drainer);
		n->drainer = NULL;
	}
	if (n->running)
		rc_history_stop(n->hist);
	snprintf(n->db_conninfo, sizeof(n->db_conninfo), "%s", conninfo);
	n->conflicts_logged = 0; /* a new drainer counts from 0 */
	n->dead_letters_logged = 0;
	rc = rc_history_set_db(n->hist, n->db_conninfo);
	if (n->running && rc_history_start(n->hist) != 0)
		RC_ERR("cannot restart the history thread");
	if (rc == 0 && n->db_conninfo[0] != '\0')
		rc = drainer_new(n);
	RC_INFO("external database: %s", n->db_conninfo[0] != '\0' ? "configured" : "none");
	return rc;
}

static int
setup_storage(struct rc_node *n, char *err, size_t errlen)
{
	char dir[512];
	struct rc_wal_conf wc;

	snprintf(dir, sizeof(dir), "%s/wal", n->cfg.data_dir);
	rc_node_wal_conf(n, dir, &wc);
	n->wal = rc_wal_open(&wc, err, errlen);
	if (n->wal == NULL)
		return -errno;
	n->replay.dp = &n->dp;
	n->hist = rc_history_create(n->wal, 4096, (int)rte_socket_id(), &rc_replay_ops,
				    &n->replay);
	if (n->hist == NULL) {
		snprintf(err, errlen, "cannot create the history thread's ring: %s",
			 strerror(errno));
		return -errno;
	}
	n->dp.wal_ring[0] = rc_wal_ring(n->wal);
	n->dp.wal_pool[0] = rc_wal_pool(n->wal);
	n->dp.hist_ring[0] = rc_history_ring(n->hist);
	n->dp.hist_pool[0] = rc_history_pool(n->hist);
	n->dp.scope_serving[0] = true; /* HA: from the lease on (node_ha.c) */
	return rc_wal_set_completion(n->wal, RC_CTRL_IDX, n->ctrl_done);
}

static struct rc_worker *
worker_create(struct rc_node *n, unsigned i, char *err, size_t errlen)
{
	struct rc_worker *w = rte_zmalloc("rc_worker", sizeof(*w), RTE_CACHE_LINE_SIZE);
	int socket = (int)rte_socket_id();
	char name[32];

	if (w == NULL)
		goto fail;
	w->idx = i;
	w->lcore = n->cfg.worker_lcores[i];
	snprintf(name, sizeof(name), "rc_in_%u", i);
	w->in = rte_ring_create(name, WORKER_RING_SIZE, socket, RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "rc_tx_%u", i);
	w->tx = rte_ring_create(name, WORKER_RING_SIZE, socket, RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "rc_done_%u", i);
	/* holds every record the WAL may complete at once: sized to the WAL's pool */
	w->done = rte_ring_create(name, 16384, socket, RING_F_SC_DEQ); /* both WAL writers */
	if (w->in == NULL || w->tx == NULL || w->done == NULL)
		goto fail;
	if (rc_wal_set_completion(n->wal, 1 + i, w->done) != 0 ||
	    rc_node_ha_set_completion(n, 1 + i, w->done) != 0)
		goto fail;
	return w;
fail:
	snprintf(err, errlen, "cannot create worker %u's rings: %s", i, rte_strerror(rte_errno));
	return NULL;
}

struct load_ctx {
	struct rc_node *n;
	unsigned scope;
};

static int
load_room(void *arg, const struct rc_wal_room *sr)
{
	struct load_ctx *c = arg;
	struct rc_node *n = c->n;
	struct rc_room *r;

	if (sr->room_id < n->room_lo[c->scope] || sr->room_id > n->room_hi[c->scope]) {
		RC_ERR("stored room %u (%s) is outside this scope's room ids %u..%u (HA splits "
		       "the ids between the two nodes: both need the same chat.max_rooms)",
		       sr->room_id, sr->name, n->room_lo[c->scope], n->room_hi[c->scope]);
		return -ERANGE;
	}
	r = rc_room_lookup_id(n->dp.rooms, sr->room_id);
	if (r != NULL && strcmp(r->name, sr->name) == 0) {
		/* already in the table (created meanwhile): keep it and its counters (its
		 * window is filled below like every other room of the scope) */
		r->scope = (uint8_t)c->scope;
		if (sr->room_id >= n->next_room_id[c->scope])
			n->next_room_id[c->scope] = sr->room_id + 1;
		return 0;
	}
	r = rc_room_add(n->dp.rooms, sr->room_id, sr->name, (unsigned)strlen(sr->name),
			sr->creator, sr->created_ms, (uint16_t)(sr->room_id % n->dp.n_workers));
	if (r == NULL && errno == EEXIST && n->ha != NULL) {
		/* both nodes created a room of this name (while the HA link was cut, or within
		 * the replication lag): the other one stays, this one is not served */
		RC_ERR("ALARM: stored room %u (%s) not loaded: another room of that name is "
		       "served here (created on both nodes of the pair)", sr->room_id, sr->name);
		n->rooms_name_clash++;
		return 0;
	}
	if (r == NULL) {
		RC_ERR("stored room %u (%s) cannot be loaded: %s", sr->room_id, sr->name,
		       strerror(errno));
		return -errno;
	}
	r->scope = (uint8_t)c->scope;
	r->next_seq = sr->last_seq + 1;
	r->last_committed = sr->last_seq;
	if (sr->room_id >= n->next_room_id[c->scope])
		n->next_room_id[c->scope] = sr->room_id + 1;
	return 0;
}

/* The re-sent POST windows of a scope's rooms, from the WAL's re-sent POST keys
 * (PROTOCOL.md 7.6: a room's last dedup_window messages, across restarts and takeovers;
 * the WAL keeps those keys in "dkeys", wal.keep_per_room, whatever the trim does to the
 * messages). Runs while the rooms are not served. */
struct warm_rooms {
	struct rc_node *n;
	struct rc_wal *w;
	unsigned scope;
	uint64_t entries;
	unsigned short_windows; /* rooms whose window could not take every key (memory) */
};

static int
warm_one(void *arg, uint64_t seq, uint64_t cmid, const char *user, unsigned user_len)
{
	struct rc_room *r = arg;

	/* -ERANGE: a key older than the window (not trimmed yet); -ENOMEM: counted below */
	rc_dedup_put(r->dedup, seq, user, user_len, cmid, false);
	return 0;
}

static int
warm_room(void *arg, struct rc_room *r)
{
	struct warm_rooms *wr = arg;
	int rc;

	if (r->scope != wr->scope || r->last_committed == 0)
		return 0;
	rc_dedup_forget_from(r->dedup, 1);
	rc_dedup_reserve(r->dedup, r->last_committed < UINT32_MAX ? (unsigned)r->last_committed :
								     UINT32_MAX);
	rc = rc_wal_read_dkeys(wr->w, r->id, warm_one, r);
	if (rc < 0)
		RC_ERR("room %u (%s): cannot read its re-sent POST keys: %s", r->id, r->name,
		       strerror(-rc));
	else if (rc_dedup_count(r->dedup) < (unsigned)rc &&
		 rc_dedup_count(r->dedup) < rc_dedup_window(r->dedup))
		wr->short_windows++;
	wr->entries += rc_dedup_count(r->dedup);
	return 0;
}

int
rc_node_load_rooms(struct rc_node *n, struct rc_wal *w, unsigned scope)
{
	struct load_ctx lc = { n, scope };
	struct warm_rooms wr = { n, w, scope, 0, 0 };
	uint64_t t0 = rc_mono_ms();
	int rc;

	n->next_room_id[scope] = n->room_lo[scope];
	rc = rc_wal_load_rooms(w, load_room, &lc);
	if (rc != 0)
		return rc;
	rc_room_foreach(n->dp.rooms, warm_room, &wr);
	RC_INFO("re-sent POST windows of scope %u: %" PRIu64 " entries from the WAL in %" PRIu64
		" ms", scope, wr.entries, rc_mono_ms() - t0);
	if (wr.short_windows > 0)
		RC_ERR("ALARM: %u rooms' re-sent POST windows are incomplete (out of memory): a "
		       "resend of their recent messages may be stored twice", wr.short_windows);
	return 0;
}

static int
setup_tables(struct rc_node *n, char *err, size_t errlen)
{
	struct rc_dp *dp = &n->dp;
	unsigned i;
	int rc;

	dp->rooms = rc_room_table_create(n->cfg.ha_enabled ? 2 * n->cfg.max_rooms :
							      n->cfg.max_rooms);
	if (dp->rooms != NULL)
		rc_room_table_set_dedup_window(dp->rooms, n->cfg.dedup_window);
	dp->sessions = rc_session_table_create(n->cfg.max_sessions);
	if (dp->rooms == NULL || dp->sessions == NULL) {
		snprintf(err, errlen, "cannot allocate the room and session tables");
		return -ENOMEM;
	}
	dp->n_workers = n->cfg.n_workers;
	for (i = 0; i < dp->n_workers; i++) {
		dp->workers[i] = worker_create(n, i, err, errlen);
		if (dp->workers[i] == NULL)
			return -ENOMEM;
	}
	if (n->ha != NULL) {
		/* HA: our rooms are loaded when our lease is won (node_ha.c, reload-own) */
		n->next_room_id[0] = n->room_lo[0];
		return 0;
	}
	rc = rc_node_load_rooms(n, n->wal, 0);
	if (rc != 0) {
		snprintf(err, errlen, "cannot load the stored rooms: %s", strerror(-rc));
		return rc;
	}
	RC_INFO("loaded %u rooms from %s/wal", rc_room_count(dp->rooms), n->cfg.data_dir);
	return 0;
}

static void
copy_settings(struct rc_dp *dp, const struct rc_config *c)
{
	dp->burst = c->burst < RC_BURST_MAX ? c->burst : RC_BURST_MAX;
	dp->idle_backoff = c->idle_backoff;
	dp->idle_polls = c->idle_polls;
	dp->idle_sleep_us = c->idle_sleep_us;
	dp->history_on_join = c->history_on_join;
	dp->max_fetch = c->max_fetch;
	dp->max_members = c->max_members;
	dp->post_rate = c->post_rate;
	dp->post_burst = c->post_burst;
	dp->session_idle_s = c->session_idle_s;
	dp->dedup_window = c->dedup_window;
}

int
rc_node_init(struct rc_node *n, const struct rc_config *cfg, char *err, size_t errlen)
{
	int rc;

	memset(n, 0, sizeof(*n));
	n->cfg = *cfg;
	n->started_ms = rc_mono_ms();
	copy_settings(&n->dp, cfg);
	rc_dp_global = &n->dp;
	rcu_register_thread();
	if ((rc = setup_pools(n, err, errlen)) != 0 || (rc = setup_ports(n, err, errlen)) != 0 ||
	    (rc = setup_storage(n, err, errlen)) != 0 || (rc = rc_node_ha_init(n, err, errlen)) != 0 ||
	    (rc = setup_tables(n, err, errlen)) != 0)
		return rc;
	if (cfg->mgmt_address[0] != '\0') {
		struct rc_mgmt_conf mc = {
			.addr = cfg->mgmt_address,
			.cred = { n->cfg.secret, n->cfg.secret_len, n->cfg.node_id },
		};

		n->mgmt = rc_mgmt_open(&mc, err, errlen);
		if (n->mgmt == NULL)
			return -errno;
		RC_INFO("management endpoint on %s (GET /metrics)", cfg->mgmt_address);
	}
	rc = rc_node_cluster_init(n, err, errlen);
	if (rc != 0)
		return rc;
	n->admin = rc_admin_open(cfg->admin_socket, cfg->admin_group, err, errlen);
	if (n->admin == NULL)
		return -errno;
	rc = rc_node_admin_register(n);
	if (rc != 0) {
		snprintf(err, errlen, "cannot register the admin commands: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

int
rc_node_admin_register(struct rc_node *n)
{
	int rc;

	if ((rc = rc_token_admin_register(n->admin, &n->cfg)) != 0 ||
	    (rc = rc_node_cmds_register(n)) != 0 || (rc = rc_cluster_cmds_register(n)) != 0 ||
	    (rc = rc_node_ha_cmds_register(n)) != 0)
		return rc;
	return 0;
}

/* ---- the control loop's hand-offs ---- */

static void
reply(struct rc_node *n, const struct rc_who *who, struct rc_msg *m)
{
	m->hdr.session = who->session;
	m->hdr.request_id = who->request_id;
	if (rc_dp_send_msg(&n->dp, who->rx_worker, &who->peer, m) != 0)
		RC_DEBUG("reply dropped: no mbuf or tx ring full");
}

static void
reply_error(struct rc_node *n, const struct rc_who *who, unsigned code, unsigned ref,
	    const char *text, size_t limit)
{
	struct rc_msg m;
	size_t len = strlen(text);

	if (limit != 0 && limit < RC_HDR_LEN + 4)
		return; /* no amplification before login */
	if (limit != 0 && RC_HDR_LEN + 4 + len > limit)
		len = limit - RC_HDR_LEN - 4;
	memset(&m, 0, sizeof(m));
	m.hdr.type = RC_T_ERROR;
	m.u.error.code = (uint16_t)code;
	m.u.error.ref_type = (uint8_t)ref;
	m.u.error.text.p = text;
	m.u.error.text.len = (uint16_t)len;
	reply(n, who, &m);
}

const char *
rc_login_refusal_name(unsigned reason)
{
	static const char *const names[RC_LOGIN_REFUSAL_MAX] = {
		[RC_LOGIN_BAD_TOKEN] = "bad_token",
		[RC_LOGIN_TOKEN_EXPIRED] = "token_expired",
		[RC_LOGIN_TOO_MANY] = "too_many_sessions",
		[RC_LOGIN_BUSY] = "busy",
	};

	return reason < RC_LOGIN_REFUSAL_MAX && names[reason] != NULL ? names[reason] : "?";
}

static void
login_refused(struct rc_node *n, unsigned reason)
{
	n->login_refused[reason]++;
	n->logins_failed++;
}

/* The recent LOGIN this one repeats (same user, address and request id, answered less than
 * RC_LOGIN_REPEAT_MS ago, its session still live and bound there), or NULL. */
static struct rc_session *
login_repeated(struct rc_node *n, const struct rc_who *who, const struct rc_str *user)
{
	uint64_t now = rc_mono_ms();
	struct rc_session *s;
	unsigned i;

	for (i = 0; i < RC_RECENT_LOGINS; i++) {
		const struct rc_recent_login *e = &n->recent_logins[i];

		if (e->session == 0 || now - e->at_ms > RC_LOGIN_REPEAT_MS ||
		    e->ip != who->peer.ip || e->port != who->peer.udp_port ||
		    e->request_id != who->request_id || e->user_len != user->len ||
		    memcmp(e->user, user->p, user->len) != 0)
			continue;
		s = rc_session_lookup(n->dp.sessions, e->session);
		if (s != NULL && s->peer.ip == who->peer.ip && s->peer.udp_port == who->peer.udp_port)
			return s;
	}
	return NULL;
}

static void
login_remember(struct rc_node *n, const struct rc_who *who, const struct rc_session *s)
{
	struct rc_recent_login *e = &n->recent_logins[n->recent_login_next];

	n->recent_login_next = (n->recent_login_next + 1) % RC_RECENT_LOGINS;
	e->session = s->id;
	e->at_ms = rc_mono_ms();
	e->ip = who->peer.ip;
	e->port = who->peer.udp_port;
	e->request_id = who->request_id;
	e->user_len = s->user_len;
	memcpy(e->user, s->user, s->user_len);
}

static void
do_login(struct rc_node *n, struct rc_work *wk)
{
	struct rc_session *s;
	bool repeat = false;
	struct rc_msg m;
	size_t used;
	int rc;

	if (rc_decode(wk->msg, wk->msg_len, &m, &used) != 0)
		return;
	/* the header session of a LOGIN is ignored (PROTOCOL.md 7.1) */
	rc = rc_token_verify(n->cfg.secret, n->cfg.secret_len, m.u.login.user.p,
			     m.u.login.user.len, m.u.login.token.p, m.u.login.token.len,
			     (uint64_t)time(NULL));
	if (rc != 0) {
		login_refused(n, rc == -EKEYEXPIRED ? RC_LOGIN_TOKEN_EXPIRED : RC_LOGIN_BAD_TOKEN);
		reply_error(n, &wk->who, RC_E_NOT_AUTH, RC_T_LOGIN,
			    rc == -EKEYEXPIRED ? "token expired" : "bad token", wk->msg_len);
		return;
	}
	s = login_repeated(n, &wk->who, &m.u.login.user);
	if (s != NULL) {
		repeat = true;
		n->logins_repeated++;
	} else {
		s = rc_session_add(n->dp.sessions, m.u.login.user.p, m.u.login.user.len,
				   &wk->who.peer, rc_mono_ms());
	}
	if (s == NULL) {
		login_refused(n, RC_LOGIN_TOO_MANY);
		reply_error(n, &wk->who, RC_E_LIMIT_REACHED, RC_T_LOGIN, "too many sessions",
			    wk->msg_len);
		return;
	}
	if (repeat) {
		rc_session_touch(s, rc_mono_ms());
		memset(&m, 0, sizeof(m));
		m.hdr.type = RC_T_LOGIN_OK;
		m.u.login_ok.session = s->id;
		m.u.login_ok.idle_timeout_s = n->cfg.session_idle_s;
		wk->who.session = s->id;
		reply(n, &wk->who, &m);
		return;
	}
	login_remember(n, &wk->who, s);
	n->logins_ok++;
	RC_DEBUG("login %.*s session %016llx", (int)s->user_len, s->user,
		 (unsigned long long)s->id);
	memset(&m, 0, sizeof(m));
	m.hdr.type = RC_T_LOGIN_OK;
	m.u.login_ok.session = s->id;
	m.u.login_ok.idle_timeout_s = n->cfg.session_idle_s;
	wk->who.session = s->id;
	reply(n, &wk->who, &m);
	rc_node_ha_session(n, s, true);
}

static void
purge_everywhere(struct rc_node *n, uint64_t session)
{
	struct rc_work *wk;
	unsigned i;

	for (i = 0; i < n->dp.n_workers; i++) {
		uint64_t give_up = rc_mono_ms() + PURGE_WAIT_MS;
		int rc;

		/* the workers' rings drain every loop; a hung worker must not hang this
		 * thread (it heartbeats): after PURGE_WAIT_MS the purge is dropped, counted
		 * (the session's membership then stays until the room is left or unloaded) */
		while ((rc = rte_mempool_get(n->dp.work_pool, (void **)&wk)) != 0 &&
		       rc_mono_ms() < give_up)
			rte_pause();
		if (rc != 0) {
			n->purges_dropped++;
			continue;
		}
		memset(&wk->who, 0, sizeof(wk->who));
		wk->kind = RC_WORK_PURGE;
		wk->msg_len = 0;
		wk->who.session = session;
		while ((rc = rte_ring_enqueue(n->dp.workers[i]->in, wk)) != 0 &&
		       rc_mono_ms() < give_up)
			rte_pause();
		if (rc != 0) {
			rte_mempool_put(n->dp.work_pool, wk);
			n->purges_dropped++;
		}
	}
}

void
rc_node_end_session_quiet(struct rc_node *n, struct rc_session *s)
{
	uint64_t id = s->id;

	rc_session_del(n->dp.sessions, s);
	purge_everywhere(n, id);
}

void
rc_node_end_session(struct rc_node *n, struct rc_session *s)
{
	uint64_t id = s->id;

	rc_node_ha_session(n, s, false);
	rc_session_del(n->dp.sessions, s);
	purge_everywhere(n, id);
}

static void
do_logout(struct rc_node *n, struct rc_work *wk)
{
	struct rc_session *s = rc_session_lookup(n->dp.sessions, wk->who.session);
	struct rc_msg m;

	if (s != NULL)
		rc_node_end_session(n, s);
	memset(&m, 0, sizeof(m));
	m.hdr.type = RC_T_BYE;
	reply(n, &wk->who, &m);
}

static struct rc_pending_room *
pending_find(struct rc_node *n, const char *name, unsigned len, uint32_t id)
{
	unsigned i;

	for (i = 0; i < RC_PENDING_ROOMS; i++) {
		struct rc_pending_room *p = &n->pending[i];

		if (p->id == 0)
			continue;
		if (id != 0 ? p->id == id : p->name_len == len && memcmp(p->name, name, len) == 0)
			return p;
	}
	return NULL;
}

/* The type of the request a work item carries (its header's byte 3). */
static unsigned
work_type(const struct rc_work *wk)
{
	return wk->msg_len >= RC_HDR_LEN ? wk->msg[3] : 0;
}

static int
forward_to_home(struct rc_node *n, struct rc_room *r, struct rc_work *wk)
{
	wk->kind = RC_WORK_REQUEST;
	if (rte_ring_enqueue(n->dp.workers[r->home]->in, wk) != 0) {
		reply_error(n, &wk->who, RC_E_BUSY, work_type(wk), "busy, retry", 0);
		return -ENOBUFS;
	}
	return 0; /* the worker frees it */
}

static bool
is_admin(const struct rc_node *n, const struct rc_who *who)
{
	unsigned i;

	for (i = 0; i < n->cl->chat.n_admins; i++)
		if (strlen(n->cl->chat.admins[i]) == who->user_len &&
		    memcmp(n->cl->chat.admins[i], who->user, who->user_len) == 0)
			return true;
	return false;
}

static int
start_creation(struct rc_node *n, struct rc_work *wk, const struct rc_str *name)
{
	unsigned scope = wk->who.peer.vip & 1;
	struct rc_pending_room *p;
	struct rc_wal_rec *rec;

	if (n->cl != NULL && n->cl->chat.admins_only_create && !is_admin(n, &wk->who)) {
		reply_error(n, &wk->who, RC_E_BAD_REQUEST, RC_T_JOIN,
			    "only administrators create rooms here", 0);
		return -EPERM;
	}
	if (!n->dp.scope_serving[scope]) {
		reply_error(n, &wk->who, RC_E_NOT_OWNER, RC_T_JOIN,
			    "not the owner: these rooms are being moved between the HA pair", 0);
		return -EAGAIN;
	}
	if (n->dp.scope_no_peer[scope]) { /* ha.durability "peer-required" */
		__atomic_fetch_add(&n->dp.peer_busy_refusals, 1, __ATOMIC_RELAXED);
		reply_error(n, &wk->who, RC_E_BUSY, RC_T_JOIN, "busy: no HA peer copy, retry", 0);
		return -EAGAIN;
	}
	if (rc_node_ha_peer_has_room(n, scope, name->p, name->len)) {
		reply_error(n, &wk->who, RC_E_NOT_OWNER, RC_T_JOIN,
			    "not the owner: the room is hosted by the other node of the pair", 0);
		return -EXDEV;
	}
	if (n->next_room_id[scope] > n->room_hi[scope] ||
	    rc_room_count(n->dp.rooms) >= n->max_rooms * (n->ha != NULL ? 2u : 1u)) {
		reply_error(n, &wk->who, RC_E_LIMIT_REACHED, RC_T_JOIN, "too many rooms", 0);
		return -ENOSPC;
	}
	for (p = n->pending; p < n->pending + RC_PENDING_ROOMS && p->id != 0; p++)
		;
	if (p == n->pending + RC_PENDING_ROOMS ||
	    rte_mempool_get(n->dp.wal_pool[scope], (void **)&rec) != 0) {
		reply_error(n, &wk->who, RC_E_BUSY, RC_T_JOIN, "busy, retry", 0);
		return -ENOBUFS;
	}
	memset(rec, 0, offsetof(struct rc_wal_rec, ctx));
	rec->kind = RC_WAL_ROOM;
	rec->reply_to = RC_CTRL_IDX;
	rec->room_id = n->next_room_id[scope];
	rec->ts_ms = rc_wall_ms();
	rec->user_len = wk->who.user_len;
	memcpy(rec->user, wk->who.user, wk->who.user_len);
	rec->body_len = name->len;
	memcpy(rec->body, name->p, name->len);
	if (rte_ring_enqueue(n->dp.wal_ring[scope], rec) != 0) {
		rte_mempool_put(n->dp.wal_pool[scope], rec);
		reply_error(n, &wk->who, RC_E_BUSY, RC_T_JOIN, "busy, retry", 0);
		return -ENOBUFS;
	}
	p->id = n->next_room_id[scope]++;
	p->name_len = (uint8_t)name->len;
	memcpy(p->name, name->p, name->len);
	p->name[name->len] = '\0';
	snprintf(p->creator, sizeof(p->creator), "%.*s", wk->who.user_len, wk->who.user);
	p->n_joins = 1;
	p->joins[0] = wk;
	return 0;
}

static const struct rc_str *
work_room(const struct rc_msg *m)
{
	switch (m->hdr.type) {
	case RC_T_JOIN:
		return &m->u.join.room;
	case RC_T_LEAVE:
		return &m->u.leave.room;
	case RC_T_POST:
		return &m->u.post.room;
	case RC_T_FETCH:
		return &m->u.fetch.room;
	case RC_T_MEMBERS:
		return &m->u.members.room;
	default:
		return NULL;
	}
}

/* A JOIN for a room that did not exist when a worker looked, or a request that followed
 * such a JOIN in the same datagram (dataplane/request.c): it runs after the creation, in the
 * order received. Returns true when the work item was handed on (the caller must not free
 * it). */
static bool
do_create_room(struct rc_node *n, struct rc_work *wk)
{
	const struct rc_str *name;
	struct rc_pending_room *p;
	struct rc_room *r;
	struct rc_msg m;
	size_t used;

	if (rc_decode(wk->msg, wk->msg_len, &m, &used) != 0 || (name = work_room(&m)) == NULL)
		return false;
	r = rc_room_lookup_name(n->dp.rooms, name->p, name->len);
	if (r != NULL)
		return forward_to_home(n, r, wk) == 0;
	p = pending_find(n, name->p, name->len, 0);
	if (p != NULL) {
		if (p->n_joins == RC_PENDING_JOINS) {
			reply_error(n, &wk->who, RC_E_BUSY, m.hdr.type, "busy, retry", 0);
			return false;
		}
		p->joins[p->n_joins++] = wk;
		return true;
	}
	if (m.hdr.type != RC_T_JOIN) { /* its JOIN was refused: answered as if alone */
		reply_error(n, &wk->who, RC_E_UNKNOWN_ROOM, m.hdr.type, "unknown room", 0);
		return false;
	}
	return start_creation(n, wk, name) == 0;
}

static void
room_created(struct rc_node *n, struct rc_wal_rec *rec)
{
	struct rc_pending_room *p = pending_find(n, NULL, 0, rec->room_id);
	struct rc_room *r = NULL;
	unsigned i;

	if (p == NULL)
		return;
	/* HA: the scope may have been unloaded while the creation was committed: the room is
	 * stored and loaded with the others by whoever serves the scope next */
	if (rec->status == 0 && n->dp.scope_serving[p->id >= n->room_lo[0] &&
						    p->id <= n->room_hi[0] ? 0 : 1])
		r = rc_room_add(n->dp.rooms, p->id, p->name, p->name_len, p->creator, rec->ts_ms,
				(uint16_t)(p->id % n->dp.n_workers));
	if (r != NULL) {
		r->scope = p->id > n->room_hi[0] || p->id < n->room_lo[0] ? 1 : 0;
		n->rooms_created++;
		RC_INFO("room %u \"%s\" created by %s, home worker %u", r->id, r->name,
			r->creator, r->home);
	} else {
		RC_ERR("room %u \"%s\" could not be created: %s", p->id, p->name,
		       rec->status != 0 ? strerror(-rec->status) : strerror(errno));
	}
	for (i = 0; i < p->n_joins; i++) {
		if (r == NULL || forward_to_home(n, r, p->joins[i]) != 0) {
			if (r == NULL && work_type(p->joins[i]) == RC_T_JOIN)
				reply_error(n, &p->joins[i]->who, RC_E_BUSY, RC_T_JOIN,
					    "room not created, retry", 0);
			else if (r == NULL)
				reply_error(n, &p->joins[i]->who, RC_E_UNKNOWN_ROOM,
					    work_type(p->joins[i]), "unknown room", 0);
			rte_mempool_put(n->dp.work_pool, p->joins[i]);
		}
	}
	p->id = 0;
	p->n_joins = 0;
}

static unsigned
serve_handoffs(struct rc_node *n)
{
	void *objs[32];
	unsigned i, k, done = 0;
	struct rc_work *wk;
	bool kept;

	k = rte_ring_dequeue_burst(n->dp.ctrl_ring, objs, 32, NULL);
	for (i = 0; i < k; i++) {
		wk = objs[i];
		kept = false;
		if (wk->kind == RC_WORK_LOGIN)
			do_login(n, wk);
		else if (wk->kind == RC_WORK_LOGOUT)
			do_logout(n, wk);
		else if (wk->kind == RC_WORK_CREATE_ROOM)
			kept = do_create_room(n, wk);
		if (!kept)
			rte_mempool_put(n->dp.work_pool, wk);
	}
	done += k;
	k = rte_ring_dequeue_burst(n->ctrl_done, objs, 32, NULL);
	for (i = 0; i < k; i++) {
		room_created(n, objs[i]);
		rte_mempool_put(rte_mempool_from_obj(objs[i]), objs[i]);
	}
	return done + k;
}

struct expiry {
	struct rc_node *n;
	uint64_t now;
	unsigned count;
	struct rc_session *victims[256];
};

static int
find_idle(void *arg, struct rc_session *s)
{
	struct expiry *e = arg;
	uint64_t seen = __atomic_load_n(&s->last_seen_ms, __ATOMIC_RELAXED);

	if (e->now > seen && e->now - seen > (uint64_t)e->n->cfg.session_idle_s * 1000)
		e->victims[e->count++] = s;
	return e->count == RTE_DIM(e->victims);
}

static void
expire_sessions(struct rc_node *n)
{
	struct expiry e = { .n = n, .now = rc_mono_ms() };
	unsigned i;

	rc_session_foreach(n->dp.sessions, find_idle, &e);
	for (i = 0; i < e.count; i++) {
		RC_DEBUG("session %016llx of %.*s expired", (unsigned long long)e.victims[i]->id,
			 (int)e.victims[i]->user_len, e.victims[i]->user);
		rc_node_end_session(n, e.victims[i]);
		n->sessions_expired++;
	}
}

/* ---- run and stop ---- */

static int
launch_workers(struct rc_node *n)
{
	unsigned i;
	int rc;

	for (i = 0; i < n->dp.n_workers; i++) {
		rc = rte_eal_remote_launch(rc_worker_main, n->dp.workers[i],
					   n->dp.workers[i]->lcore);
		if (rc != 0) {
			RC_ERR("cannot launch worker %u on lcore %u: %s", i,
			       n->dp.workers[i]->lcore, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* Drain alarms (a row with the same room and seq but another message) go to the log once. */
static void
report_alarms(struct rc_node *n)
{
	struct rc_drainer_stats ds;
	uint64_t dead, rows;

	if (n->drainer == NULL)
		return;
	rc_drainer_get_stats(n->drainer, &ds);
	if (ds.conflicts > n->conflicts_logged) {
		RC_ERR("ALARM: %llu drained row(s) conflict with a different message already in the "
		       "database (same room and seq): see table drain_alarms and `roomcastctl db "
		       "status`", (unsigned long long)(ds.conflicts - n->conflicts_logged));
		n->conflicts_logged = ds.conflicts;
	}
	if (!ds.connected && strstr(ds.last_error, "not UTF8") != NULL) {
		if (!n->encoding_logged)
			RC_ERR("ALARM: nothing is drained: %s", ds.last_error);
		n->encoding_logged = true;
	} else if (ds.connected) {
		n->encoding_logged = false;
	}
	rc_node_dead_letters(n, &dead, &rows);
	if (dead > n->dead_letters_logged)
		RC_ERR("ALARM: %llu record(s) set aside into drain_dead_letters (the database cannot "
		       "hold or refused them; the drain goes on): see `roomcastctl db status`",
		       (unsigned long long)(dead - n->dead_letters_logged));
	n->dead_letters_logged = dead; /* also down: a drainer stopped */
}

static void
scheduled_cleanup(struct rc_node *n, uint64_t now)
{
	if (n->drainer == NULL || n->cfg.db_cleanup_days == 0)
		return;
	if (n->next_cleanup_ms == 0)
		n->next_cleanup_ms = now + 10000; /* first one shortly after start */
	if (now < n->next_cleanup_ms)
		return;
	rc_drainer_request_cleanup(n->drainer, n->cfg.db_cleanup_days);
	n->next_cleanup_ms = now + (uint64_t)n->cfg.db_cleanup_interval_s * 1000;
	RC_INFO("scheduled cleanup: messages older than %u days", n->cfg.db_cleanup_days);
}

int
rc_node_run(struct rc_node *n)
{
	uint64_t now, next_expiry = 0;
	int rc;

	if ((rc = rc_wal_start(n->wal)) != 0 || (rc = rc_history_start(n->hist)) != 0 ||
	    (n->drainer != NULL && (rc = rc_drainer_start(n->drainer)) != 0)) {
		RC_ERR("cannot start the storage threads: %s", strerror(-rc));
		return rc;
	}
	if ((rc = launch_workers(n)) != 0)
		return rc;
	if ((rc = rc_node_ha_start(n)) != 0) {
		RC_ERR("cannot start the HA threads: %s", strerror(-rc));
		return rc;
	}
	n->running = true;
	RC_INFO("node %s serving %s:%u with %u worker(s)", n->cfg.node_id,
		inet_ntoa(n->cfg.service_ip), n->cfg.udp_port, n->dp.n_workers);
	while (!n->stop) {
		/* RCU-online throughout: the hand-offs and the admin commands read and write
		 * the tables (the 1 ms wait only delays a grace period that long) */
		rc_admin_poll(n->admin, serve_handoffs(n) != 0 ? 0 : 1);
		rc_node_cluster_poll(n);
		rc_cluster_cmds_poll(n);
		rc_node_ha_tick(n);
		n->dp.storage_full = rc_wal_full(n->wal);
		now = rc_mono_ms();
		if (now >= next_expiry) {
			expire_sessions(n);
			next_expiry = now + 1000;
			scheduled_cleanup(n, now);
			report_alarms(n);
			if (n->mgmt != NULL && rc_mgmt_refresh_metrics(n->mgmt, rc_node_metrics, n) != 0)
				RC_DEBUG("metrics snapshot incomplete");
		}
		rcu_quiescent_state();
	}
	RC_INFO("stopping");
	return 0;
}

void
rc_node_fini(struct rc_node *n)
{
	unsigned i;

	__atomic_store_n(&n->dp.quit, true, __ATOMIC_RELEASE);
	rte_eal_mp_wait_lcore();
	rc_node_ha_fini(n);
	if (n->hist != NULL)
		rc_history_stop(n->hist);
	if (n->drainer != NULL)
		rc_drainer_stop(n->drainer);
	if (n->wal != NULL)
		rc_wal_stop(n->wal);
	if (n->admin != NULL)
		rc_admin_close(n->admin);
	if (n->cl != NULL)
		rc_cluster_cmds_fini(n);
	rc_node_cluster_fini(n);
	if (n->mgmt != NULL)
		rc_mgmt_close(n->mgmt);
	for (i = 0; i < n->n_ports_up; i++)
		rc_port_stop(&n->ports[i]);
	close_frag_taps(n);
	rcu_thread_offline();
	rc_session_table_destroy(n->dp.sessions);
	rc_room_table_destroy(n->dp.rooms);
	rcu_thread_online();
	if (n->hist != NULL)
		rc_history_destroy(n->hist);
	if (n->drainer != NULL)
		rc_drainer_destroy(n->drainer);
	explicit_bzero(n->db_conninfo, sizeof(n->db_conninfo));
	if (n->wal != NULL)
		rc_wal_close(n->wal);
	rcu_unregister_thread();
}
