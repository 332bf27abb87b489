/* SPDX-License-Identifier: MIT */
/* The node assembly and the control loop: see node.h. */
#include "node.h"

#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <urcu-qsbr.h>

#include "admin.h"
#include "clock.h"
#include "cluster_cmds.h"
#include "cluster_node.h"
#include "drainer.h"
#include "frag_tap.h"
#include "ha_node.h"
#include "log.h"
#include "mgmt.h"
#include "room_table.h"
#include "session.h"
#include "token_admin.h"
#include "wal.h"

#define CTRL_RING_SIZE 4096
#define LOGIN_RING_SIZE 1024 /* LOGINs waiting for their MAC: more are answered busy */
#define WORKER_RING_SIZE 4096
#define WORK_POOL_SIZE 16383
#define CTRL_IDLE_WAIT_MS 20 /* the idle control thread's wait (no HA): relay.refresh_ms is
			      * 100 at least, the expiry runs each second */

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
		dp->ports[i].local.ip_on = false; /* while its scope is served (scope.h) */
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
	dp->login_ring = rte_ring_create("rc_login", LOGIN_RING_SIZE, socket, RING_F_SC_DEQ);
	/* multi-producer: the own and the HA peer's WAL writers complete into it */
	n->ctrl_done = rte_ring_create("rc_ctrl_done", 1024, socket, RING_F_SC_DEQ);
	if (dp->mbuf_pool == NULL || dp->work_pool == NULL || dp->ctrl_ring == NULL ||
	    dp->login_ring == NULL || n->ctrl_done == NULL) {
		snprintf(err, errlen, "cannot allocate pools and rings: %s",
			 rte_strerror(rte_errno));
		return -ENOMEM;
	}
	if (rc_bell_init(&n->ctrl_bell) != 0) {
		snprintf(err, errlen, "cannot create the control thread's doorbell: %s",
			 strerror(errno));
		return -errno;
	}
	dp->ctrl_bell = &n->ctrl_bell;
	return 0;
}

/* The scopes' settings from the configuration (the same for both scopes of a pair). */
static void
scopes_conf(struct rc_node *n, struct rc_scopes_conf *sc)
{
	const struct rc_config *c = &n->cfg;

	*sc = (struct rc_scopes_conf){
		.dp = &n->dp,
		.ctrl_done = n->ctrl_done,
		.ctrl_bell = &n->ctrl_bell,
		.replay = &n->replay,
		.data_dir = c->data_dir,
		.node_id = c->node_id,
		.peer_id = c->ha.enabled ? c->ha.peer_id : NULL,
		.max_rooms = c->max_rooms,
		.max_sessions = c->max_sessions,
		.wal = {
			.map_size = c->wal_map_size,
			.high_water_pct = c->wal_high_water_pct,
			.batch_max = c->wal_batch_max,
			.ring_size = 8192,
			.pool_size = 16383,
			.nosync = c->wal_nosync,
			.socket_id = (int)rte_socket_id(),
			.keep_records = c->wal_keep_records,
			.keep_per_room = c->dedup_window,
			.peer_keep_records = c->ha.enabled ? c->wal_peer_keep_records : 0,
			.strict_seq = true,
		},
		.drain = {
			.batch_max = c->db_batch_max,
			.retry_min_ms = 100,
			.retry_max_ms = c->db_retry_max_ms,
			.idle_ms = 5,
			.method = strcmp(c->db_method, "pipeline") == 0 ? RC_DRAIN_PIPELINE :
									  RC_DRAIN_COPY,
		},
	};
}

static int
setup_storage(struct rc_node *n, char *err, size_t errlen)
{
	struct rc_scopes_conf sc;
	char path[512];
	int rc;

	/* the token revocations, kept beside the WAL so that they survive a restart */
	snprintf(path, sizeof(path), "%s/revocations", n->cfg.data_dir);
	rc = rc_revocations_open(&n->revoked, path);
	if (rc != 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
		return rc;
	}
	n->replay.dp = &n->dp;
	scopes_conf(n, &sc);
	return rc_scopes_open(&n->scopes, &sc, err, errlen);
}

/* ---- the cluster state's settings ---- */

/* The group's "enable high availability"; a node the state does not name keeps its pair
 * (ha { }) with high availability on. */
static bool
group_ha(const struct rc_cluster *c, const struct rc_cl_node *self)
{
	const struct rc_cl_group *g = NULL;

	if (self == NULL || rc_cluster_find_node(c, self->id, &g, NULL) == NULL || g == NULL)
		return true;
	return g->ha;
}

static void
cluster_apply(void *arg, const struct rc_cluster *c, const struct rc_cl_node *self)
{
	struct rc_node *n = arg;
	const struct rc_cl_chat *ch = &c->chat;
	struct rc_dp *dp = &n->dp;
	uint8_t block = RC_ROOMS_SERVED;
	bool tc_stopped = self != NULL && self->tc == RC_CL_SVC_STOPPED;
	bool ha_on = group_ha(c, self);

	dp->history_on_join = ch->messages_on_join;
	dp->max_fetch = ch->max_archive_query;
	dp->max_members = ch->default_max_occupants;
	n->max_rooms = ch->max_rooms < n->cfg.max_rooms ? ch->max_rooms : n->cfg.max_rooms;
	if (!ch->enabled)
		block = RC_ROOMS_CHAT_DISABLED;
	else if (tc_stopped && !(n->ha != NULL && ha_on)) /* HA on: the rooms fail over */
		block = RC_ROOMS_TC_STOPPED;
	rc_ha_node_set_enabled(n->ha, ha_on);
	rc_ha_node_set_tc(n->ha, !(tc_stopped && ha_on));
	if (block != dp->rooms_blocked)
		RC_INFO("rooms on this node: %s", block == RC_ROOMS_SERVED ? "served" :
						   block == RC_ROOMS_TC_STOPPED ?
						   "not served: TC service stopped" :
						   "not served: persistent chat disabled");
	__atomic_store_n(&dp->rooms_blocked, block, __ATOMIC_RELEASE);
	rc_node_relay_publish(n, c); /* the nodes and their addresses may have changed */
	n->report_due = true; /* after the database switch that follows */
}

static int
cluster_db_switch(void *arg, const char *conninfo)
{
	struct rc_node *n = arg;

	return rc_scopes_db_switch(&n->scopes, conninfo);
}

static const char *
cluster_db_current(void *arg)
{
	struct rc_node *n = arg;

	return n->scopes.db_conninfo;
}

static int
setup_cluster(struct rc_node *n, char *err, size_t errlen)
{
	const struct rc_cluster_node_ops ops = { n, cluster_apply, cluster_db_switch,
						 cluster_db_current };

	int rc;

	n->max_rooms = n->cfg.max_rooms;
	rc = rc_cluster_node_open(&n->cluster_settings, n->mgmt, &ops, &n->cn, err, errlen);
	if (rc != 0)
		return rc;
	/* room names need our services (NAME@SERVICE) from the first request on; an empty
	 * state is not applied: publish here */
	rc = rc_node_relay_publish(n, rc_cluster_node_state(n->cn));
	if (rc != 0)
		snprintf(err, errlen, "cannot publish the node's services: %s", strerror(-rc));
	return rc;
}

static int
setup_ha(struct rc_node *n, char *err, size_t errlen)
{
	if (!n->cfg.ha.enabled)
		return 0;
	return rc_ha_node_create(&n->ha_settings, &n->scopes, &n->dp, &n->ha, err, errlen);
}

/* Frames that may wait per worker and port for a full TX queue: a quarter of the mbufs,
 * shared out, at most RC_TX_WAIT (what waits holds mbufs that RX also needs). */
static uint16_t
tx_wait_cap(const struct rc_config *c)
{
	unsigned cap = c->mbufs / 4 / (c->n_workers * (c->n_ports ? c->n_ports : 1));

	return (uint16_t)RTE_MIN(cap, (unsigned)RC_TX_WAIT);
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
	w->tx_wait_cap = tx_wait_cap(&n->cfg);
	snprintf(name, sizeof(name), "rc_in_%u", i);
	w->in = rte_ring_create(name, WORKER_RING_SIZE, socket, RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "rc_tx_%u", i);
	w->tx = rte_ring_create(name, WORKER_RING_SIZE, socket, RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "rc_done_%u", i);
	/* holds every record the WAL may complete at once: sized to the WAL's pool */
	w->done = rte_ring_create(name, 16384, socket, RING_F_SC_DEQ); /* both WAL writers */
	if (w->in == NULL || w->tx == NULL || w->done == NULL)
		goto fail;
	if (rc_bell_init(&w->bell) != 0) {
		snprintf(err, errlen, "cannot create worker %u's doorbell: %s", i,
			 strerror(errno));
		return NULL;
	}
	if (rc_scopes_set_completion(&n->scopes, 1 + i, w->done, &w->bell) != 0)
		goto fail;
	return w;
fail:
	snprintf(err, errlen, "cannot create worker %u's rings: %s", i, rte_strerror(rte_errno));
	return NULL;
}

static int
setup_tables(struct rc_node *n, char *err, size_t errlen)
{
	struct rc_dp *dp = &n->dp;
	struct rc_scope *own;
	unsigned i;
	int rc;

	/* the scopes' ids (one or two ranges of max_rooms), then as many remote rooms */
	i = n->cfg.ha.enabled ? 2 : 1;
	n->next_remote_id = i * n->cfg.max_rooms + 1;
	n->remote_hi = (i + 1) * n->cfg.max_rooms;
	dp->rooms = rc_room_table_create((i + 1) * n->cfg.max_rooms);
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
	if (n->scopes.leased)
		return 0; /* HA: a scope is loaded when its lease is won (ha_node.c) */
	own = rc_node_own(n);
	rc = rc_scope_load(own);
	if (rc != 0) {
		snprintf(err, errlen, "cannot load the stored rooms: %s", strerror(-rc));
		return rc;
	}
	RC_INFO("loaded %u rooms from %s/wal", rc_room_count(dp->rooms), n->cfg.data_dir);
	rc_scope_serve(own, true);
	rc_scope_address(own, true);
	return rc_scope_drainer_start(own, 0); /* once a database is known */
}

static void
copy_settings(struct rc_dp *dp, const struct rc_config *c)
{
	dp->burst = c->burst < RC_BURST_MAX ? c->burst : RC_BURST_MAX;
	dp->idle_backoff = c->idle_backoff;
	dp->idle_polls = c->idle_polls;
	dp->idle_sleep_us = c->idle_sleep_us;
	dp->idle_sleep_max_us = c->idle_sleep_max_us;
	dp->idle_backoff_after_ms = c->idle_backoff_after_ms;
	dp->history_on_join = c->history_on_join;
	dp->max_fetch = c->max_fetch;
	dp->max_members = c->max_members;
	dp->post_rate = c->post_rate;
	dp->post_burst = c->post_burst;
	dp->login_rate = c->login_rate;
	dp->login_burst = c->login_burst;
	dp->login_cookie_threshold = c->login_cookie_threshold;
	dp->request_rate = c->request_rate;
	dp->request_burst = c->request_burst;
	dp->icmp_rate = c->icmp_rate;
	dp->icmp_source_rate = c->icmp_source_rate;
	dp->session_idle_s = c->session_idle_s;
	dp->dedup_window = c->dedup_window;
	dp->relay_refresh_ms = c->relay.refresh_ms;
}

int
rc_node_init(struct rc_node *n, const struct rc_config *cfg, char *err, size_t errlen)
{
	int rc;

	memset(n, 0, sizeof(*n));
	n->ctrl_bell.fd = -1;
	n->cfg = *cfg;
	n->ha_settings = (struct rc_ha_settings){ .ha = &n->cfg.ha, .node_id = n->cfg.node_id,
						  .keys = &n->cfg.keys[RC_KEY_HA],
						  .n_workers = n->cfg.n_workers };
	n->cluster_settings = (struct rc_cluster_settings){
		.node_id = n->cfg.node_id, .data_dir = n->cfg.data_dir,
		.cluster_file = n->cfg.cluster_file, .mgmt_address = n->cfg.mgmt_address,
		.service_ip = n->cfg.service_ip, .udp_port = n->cfg.udp_port,
		.db_conninfo = n->cfg.db_conninfo,
		.db_password = n->cfg.db_password, .db_password_file = n->cfg.db_password_file,
		.secrets_dir = n->cfg.secrets_dir, .keys = &n->cfg.keys[RC_KEY_CLUSTER] };
	n->started_ms = rc_mono_ms();
	copy_settings(&n->dp, cfg);
	rc_dp_global = &n->dp;
	rcu_register_thread();
	if ((rc = setup_pools(n, err, errlen)) != 0 || (rc = setup_ports(n, err, errlen)) != 0 ||
	    (rc = setup_storage(n, err, errlen)) != 0 || (rc = setup_ha(n, err, errlen)) != 0 ||
	    (rc = setup_tables(n, err, errlen)) != 0)
		return rc;
	if (cfg->mgmt_address[0] != '\0') {
		struct rc_mgmt_conf mc = {
			.addr = cfg->mgmt_address,
			.cred = { n->cfg.keys[RC_KEY_CLUSTER].k[0].key,
				  n->cfg.keys[RC_KEY_CLUSTER].k[0].len, n->cfg.node_id,
				  &n->cfg.keys[RC_KEY_CLUSTER] },
		};

		n->mgmt = rc_mgmt_open(&mc, err, errlen);
		if (n->mgmt == NULL)
			return -errno;
		RC_INFO("management endpoint on %s (GET /metrics)", cfg->mgmt_address);
	}
	rc = setup_cluster(n, err, errlen);
	if (rc != 0)
		return rc;
	n->admin = rc_admin_open(cfg->admin_socket, cfg->admin_group, err, errlen);
	if (n->admin == NULL)
		return -errno;
	rc_admin_set_wake_fd(n->admin, n->ctrl_bell.fd);
	rc = rc_node_admin_register(n);
	if (rc != 0) {
		snprintf(err, errlen, "cannot register the admin commands: %s", strerror(-rc));
		return rc;
	}
	rc_cluster_cmds_set_report(rc_node_report, n);
	return 0;
}

int
rc_node_admin_register(struct rc_node *n)
{
	int rc;

	if ((rc = rc_token_admin_register(n->admin, &n->cfg)) != 0 ||
	    (rc = rc_node_cmds_register(n)) != 0 || (rc = rc_node_relay_cmds_register(n)) != 0 ||
	    (rc = rc_node_keys_cmds_register(n)) != 0 ||
	    (rc = rc_cluster_cmds_register(n->cn, &n->cluster_settings, n->admin, n->mgmt)) != 0 ||
	    (rc = rc_ha_cmds_register(n->admin, n->ha, &n->ha_settings, &n->dp, n->cn)) != 0)
		return rc;
	return 0;
}

/* ---- the control loop ---- */

/* Up to 32 hand-offs of one of the control thread's rings; how many. */
static unsigned
serve_ring(struct rc_node *n, struct rte_ring *ring)
{
	void *objs[32];
	unsigned i, k;
	struct rc_work *wk;
	bool kept;

	k = rte_ring_dequeue_burst(ring, objs, 32, NULL);
	for (i = 0; i < k; i++) {
		wk = objs[i];
		kept = false;
		if (wk->kind == RC_WORK_LOGIN)
			rc_node_login(n, wk);
		else if (wk->kind == RC_WORK_LOGOUT)
			rc_node_logout(n, wk);
		else if (wk->kind == RC_WORK_CREATE_ROOM)
			kept = rc_node_create_room(n, wk);
		else if (wk->kind == RC_WORK_ROOMS)
			rc_node_list_rooms(n, wk);
		else if (wk->kind == RC_WORK_ROOM_DIR)
			rc_room_dir_heard(n, wk);
		if (!kept)
			rte_mempool_put(n->dp.work_pool, wk);
	}
	return k;
}

/* The workers' hand-offs, the other rings' before the LOGINs' (a LOGIN flood waits behind
 * room creation, never the reverse), and the rooms the WAL writers created. */
static unsigned
serve_handoffs(struct rc_node *n)
{
	void *objs[32];
	unsigned i, k, done;

	done = serve_ring(n, n->dp.ctrl_ring);
	done += serve_ring(n, n->dp.login_ring);
	k = rte_ring_dequeue_burst(n->ctrl_done, objs, 32, NULL);
	for (i = 0; i < k; i++) {
		rc_node_room_created(n, objs[i]);
		rte_mempool_put(rte_mempool_from_obj(objs[i]), objs[i]);
	}
	return done + k;
}

/* How long the control thread may wait in the admin poll: not at all while hand-offs
 * come; else until its doorbell rings or the loop's timers are due (HA: every ms; alone:
 * CTRL_IDLE_WAIT_MS). */
static int
ctrl_wait_ms(struct rc_node *n)
{
	if (serve_handoffs(n) != 0)
		return 0;
	rc_bell_arm(&n->ctrl_bell);
	if (!rte_ring_empty(n->dp.ctrl_ring) || !rte_ring_empty(n->dp.login_ring) ||
	    !rte_ring_empty(n->ctrl_done)) {
		rc_bell_disarm(&n->ctrl_bell);
		return 0;
	}
	return n->ha != NULL ? 1 : CTRL_IDLE_WAIT_MS;
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
	struct rc_scope *own = rc_node_own(n);
	struct rc_drainer_stats ds;
	uint64_t dead, rows;

	if (own->drainer_gen != n->alarms_gen) { /* a new drainer counts from 0 */
		n->alarms_gen = own->drainer_gen;
		n->conflicts_logged = 0;
		n->dead_letters_logged = 0;
	}
	if (own->drainer == NULL)
		return;
	rc_drainer_get_stats(own->drainer, &ds);
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
	rc_scopes_dead_letters(&n->scopes, &dead, &rows);
	if (dead > n->dead_letters_logged)
		RC_ERR("ALARM: %llu record(s) set aside into drain_dead_letters (the database cannot "
		       "hold or refused them; the drain goes on): see `roomcastctl db status`",
		       (unsigned long long)(dead - n->dead_letters_logged));
	n->dead_letters_logged = dead; /* also down: a drainer stopped */
}

/* Renew the /metrics snapshot; when it cannot be, the last one stays served, so say so once
 * (and once again when it recovers) rather than serve stale figures silently. */
static void
refresh_metrics(struct rc_node *n)
{
	int rc;

	if (n->mgmt == NULL)
		return;
	rc = rc_mgmt_refresh_metrics(n->mgmt, rc_node_metrics, n);
	if (rc == n->metrics_err)
		return;
	if (rc != 0)
		RC_WARN("/metrics snapshot not renewed (%s): the previous one is still served",
			strerror(-rc));
	else
		RC_INFO("/metrics snapshot renewed again");
	n->metrics_err = rc;
}

static void
scheduled_cleanup(struct rc_node *n, uint64_t now)
{
	struct rc_drainer *d = rc_node_own(n)->drainer;

	if (d == NULL || n->cfg.db_cleanup_days == 0)
		return;
	if (n->next_cleanup_ms == 0)
		n->next_cleanup_ms = now + 10000; /* first one shortly after start */
	if (now < n->next_cleanup_ms)
		return;
	rc_drainer_request_cleanup(d, n->cfg.db_cleanup_days);
	n->next_cleanup_ms = now + (uint64_t)n->cfg.db_cleanup_interval_s * 1000;
	RC_INFO("scheduled cleanup: messages older than %u days", n->cfg.db_cleanup_days);
}

int
rc_node_run(struct rc_node *n)
{
	uint64_t now, next_expiry = 0;
	int rc;

	if ((rc = rc_scopes_start(&n->scopes)) != 0) {
		RC_ERR("cannot start the storage threads: %s", strerror(-rc));
		return rc;
	}
	if ((rc = launch_workers(n)) != 0)
		return rc;
	if (n->ha != NULL && (rc = rc_ha_node_start(n->ha)) != 0) {
		RC_ERR("cannot start the HA threads: %s", strerror(-rc));
		return rc;
	}
	if (n->ha != NULL)
		rc_cluster_cmds_set_ha(rc_ha_node_state_of, n->ha);
	RC_INFO("node %s serving %s:%u with %u worker(s)", n->cfg.node_id,
		inet_ntoa(n->cfg.service_ip), n->cfg.udp_port, n->dp.n_workers);
	while (!n->stop) {
		/* RCU-online throughout: the hand-offs and the admin commands read and write
		 * the tables (the wait only delays a grace period that long) */
		rc_admin_poll(n->admin, ctrl_wait_ms(n));
		rc_bell_clear(&n->ctrl_bell);
		rc_cluster_node_poll(n->cn);
		rc_cluster_cmds_poll(n->cn);
		rc_ha_node_tick(n->ha);
		if (n->report_due || rc_ha_node_changes(n->ha) != n->ha_changes) {
			n->report_due = false;
			n->ha_changes = rc_ha_node_changes(n->ha);
			rc_node_publish_report(n);
		}
		n->dp.storage_full = rc_wal_full(rc_node_own(n)->wal);
		now = rc_mono_ms();
		rc_node_relay_tick(n, now);
		if (now >= next_expiry) {
			rc_node_expire_sessions(n);
			next_expiry = now + 1000;
			scheduled_cleanup(n, now);
			report_alarms(n);
			rc_node_publish_report(n);
			refresh_metrics(n);
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

	rc_dp_quit(&n->dp); /* and wakes the idle workers */
	rte_eal_mp_wait_lcore();
	rc_cluster_cmds_set_report(NULL, NULL);
	rc_revocations_close(&n->revoked);
	if (n->ha != NULL) {
		rc_cluster_cmds_set_ha(NULL, NULL);
		rc_ha_node_destroy(n->ha);
		n->ha = NULL;
	}
	rc_scopes_stop(&n->scopes);
	if (n->admin != NULL)
		rc_admin_close(n->admin);
	if (n->cn != NULL)
		rc_cluster_cmds_fini(n->cn);
	rc_cluster_node_close(n->cn);
	if (n->mgmt != NULL)
		rc_mgmt_close(n->mgmt);
	for (i = 0; i < n->n_ports_up; i++)
		rc_port_stop(&n->ports[i]);
	close_frag_taps(n);
	rc_relay_destroy(&n->dp);
	free(n->relay_dir);
	n->relay_dir = NULL;
	rc_room_dir_free(n);
	rcu_thread_offline();
	rc_session_table_destroy(n->dp.sessions);
	rc_room_table_destroy(n->dp.rooms);
	rcu_thread_online();
	rc_scopes_close(&n->scopes);
	rc_bell_fini(&n->ctrl_bell);
	rcu_unregister_thread();
}
