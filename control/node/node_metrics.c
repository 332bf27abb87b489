/* SPDX-License-Identifier: MIT */
/*
 * The node's Prometheus metrics: the same counters, states and backlogs `roomcastctl status`,
 * `stats` and `db status` show. Written on the control thread about once a second into a
 * snapshot that the management endpoint serves (control/mgmt.h); the HTTP thread never
 * reads node state.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

#include "drainer.h"
#include "history.h"
#include "mgmt.h"
#include "node.h"
#include "ha_node.h"
#include "prom.h"
#include "room_table.h"
#include "session.h"
#include "wal.h"

#define LS(f) offsetof(struct rc_lcore_stats, f)

/* One family per row, each written for every worker in turn (rc_metric_rows_labeled). */
static const struct rc_metric_row lcore_rows[] = {
	{ "roomcast_rx_packets_total", "Frames received by a worker lcore", NULL, LS(rx_pkts) },
	{ "roomcast_tx_packets_total", "Frames sent by a worker lcore", NULL, LS(tx_pkts) },
	{ "roomcast_rx_bytes_total", "Bytes received by a worker lcore", NULL, LS(rx_bytes) },
	{ "roomcast_tx_bytes_total", "Bytes queued for sending by a worker lcore", NULL,
	  LS(tx_bytes) },
	{ "roomcast_deliveries_total", "DELIVER messages sent", NULL, LS(deliveries) },
	{ "roomcast_fan_datagrams_total",
	  "Datagrams of DELIVERs built by room fan-outs (deliveries / this = DELIVERs per datagram)",
	  NULL, LS(fan_datagrams) },
	{ "roomcast_tx_waited_total",
	  "Frames a full TX queue did not take at once: they waited and were sent later", NULL,
	  LS(tx_waited) },
	{ "roomcast_posts_stored_total", "POSTs stored and acknowledged", NULL, LS(posts_stored) },
	{ "roomcast_forwarded_total", "Requests handed to the room's home worker", NULL,
	  LS(forwarded) },
	{ "roomcast_resends_acked_total", "Re-sent POSTs answered with their first ACK", NULL,
	  LS(resends_acked) },
	{ "roomcast_seqs_handed_back_total", "POSTs not stored whose seq was assigned again (no gap)",
	  NULL, LS(seqs_handed_back) },
	{ "roomcast_seq_conflicts_total",
	  "POSTs refused by the WAL because their room already stored that seq (alarm)", NULL,
	  LS(seq_conflicts) },
	{ "roomcast_idle_sleeps_total", "Idle back-off sleeps", NULL, LS(idle_sleeps) },
	{ "roomcast_bell_wakes_total", "Idle back-off sleeps ended early by a doorbell", NULL,
	  LS(bell_wakes) },
};

static void
lcore_metrics(struct rc_node *n, struct rc_metrics_buf *b)
{
	char lc[16], wk[16];
	unsigned i, k, r;

	for (i = 0; i < RTE_DIM(lcore_rows); i++)
		for (k = 0; k < n->dp.n_workers; k++) {
			snprintf(lc, sizeof(lc), "%u", n->dp.workers[k]->lcore);
			snprintf(wk, sizeof(wk), "%u", k);
			rc_metric_rows_labeled(b, &lcore_rows[i], 1, &n->dp.workers[k]->stats,
					       RC_LABELS("lcore", lc, "worker", wk));
		}
	for (k = 0; k < n->dp.n_workers; k++)
		for (r = 0; r < RC_DROP_MAX; r++) {
			snprintf(lc, sizeof(lc), "%u", n->dp.workers[k]->lcore);
			rc_metric_counter(b, "roomcast_drops_total",
					  "Frames or messages dropped, by reason",
					  RC_LABELS("lcore", lc, "reason", rc_drop_name(r)),
					  n->dp.workers[k]->stats.drops[r]);
		}
}

static void
message_metrics(struct rc_node *n, struct rc_metrics_buf *b)
{
	uint64_t in, out;
	unsigned t, k;

	for (t = 1; t < RC_T_MAX; t++) {
		for (in = 0, k = 0; k < n->dp.n_workers; k++)
			in += n->dp.workers[k]->stats.msgs_in[t];
		rc_metric_counter(b, "roomcast_messages_in_total", "Requests decoded, by type",
				  RC_LABELS("type", rc_msg_type_name(t)), in);
	}
	for (t = 1; t < RC_T_MAX; t++) {
		for (out = 0, k = 0; k < n->dp.n_workers; k++)
			out += n->dp.workers[k]->stats.msgs_out[t];
		rc_metric_counter(b, "roomcast_messages_out_total", "Messages sent, by type",
				  RC_LABELS("type", rc_msg_type_name(t)), out);
	}
	for (t = 1; t < RC_E_MAX; t++) {
		for (out = 0, k = 0; k < n->dp.n_workers; k++)
			out += n->dp.workers[k]->stats.errors_out[t];
		rc_metric_counter(b, "roomcast_errors_out_total", "ERROR replies, by code",
				  RC_LABELS("code", rc_err_name(t)), out);
	}
}

#define WS(f) offsetof(struct rc_wal_stats, f)

/* The WAL's counters and gauges; its "full" flag goes between the two tables. */
static const struct rc_metric_row wal_rows[] = {
	{ "roomcast_wal_commits_total", "Synced LMDB transactions", NULL, WS(commits) },
	{ "roomcast_wal_records_total", "Records committed to LMDB", NULL, WS(records) },
	{ "roomcast_wal_commit_errors_total", "Failed LMDB commits (retried)", NULL,
	  WS(commit_errors) },
	{ "roomcast_wal_map_bytes", "LMDB map size", NULL, WS(map_size), RC_METRIC_GAUGE },
	{ "roomcast_wal_used_bytes", "LMDB bytes in use", NULL, WS(map_used), RC_METRIC_GAUGE },
};

static const struct rc_metric_row wal_trim_rows[] = {
	{ "roomcast_wal_trimmed_total", "Drained records trimmed from LMDB", NULL, WS(trimmed) },
	{ "roomcast_wal_dedup_keys", "Re-sent POST keys kept in LMDB (each room's last dedup_window)",
	  NULL, WS(dedup_keys), RC_METRIC_GAUGE },
	{ "roomcast_wal_peer_trimmed_total",
	  "Records trimmed before the HA peer acknowledged them (alarm)", NULL, WS(peer_trimmed) },
	{ "roomcast_wal_seq_gaps_refused_total",
	  "Messages refused because a seq before them was not stored", NULL,
	  WS(seq_gaps_refused) },
};

/* With a database only; the age of the oldest record follows them. */
static const struct rc_metric_row backlog_rows[] = {
	{ "roomcast_db_backlog_records", "Records not yet in the database", NULL,
	  WS(backlog_records), RC_METRIC_GAUGE },
	{ "roomcast_db_backlog_bytes", "Bytes not yet in the database", NULL, WS(backlog_bytes),
	  RC_METRIC_GAUGE },
};

static void
storage_metrics(struct rc_node *n, struct rc_metrics_buf *b)
{
	uint64_t now = rc_wall_ms();
	struct rc_wal_stats ws;

	rc_wal_get_stats(rc_node_own(n)->wal, &ws);
	rc_metric_rows(b, wal_rows, RTE_DIM(wal_rows), &ws);
	rc_metric_gauge(b, "roomcast_storage_full", "1 while POSTs are refused: LMDB full", NULL,
			ws.full ? 1 : 0);
	rc_metric_gauge(b, "roomcast_wal_nosync",
			"1 while LMDB commits are not synced (wal.nosync): ACKs are not durable",
			NULL, ws.nosync ? 1 : 0);
	rc_metric_rows(b, wal_trim_rows, RTE_DIM(wal_trim_rows), &ws);
	if (rc_node_own(n)->drainer == NULL)
		return; /* no database: nothing is ever drained, there is no backlog */
	rc_metric_rows(b, backlog_rows, RTE_DIM(backlog_rows), &ws);
	rc_metric_gauge(b, "roomcast_db_backlog_oldest_age_seconds",
			"Age of the oldest record not yet in the database", NULL,
			ws.oldest_undrained_ms != 0 && now > ws.oldest_undrained_ms ?
				(double)(now - ws.oldest_undrained_ms) / 1000.0 : 0.0);
}

#define DS(f) offsetof(struct rc_drainer_stats, f)

/* The drainer's counters; the dead letters (every scope's) go between the two tables. */
static const struct rc_metric_row drain_rows[] = {
	{ "roomcast_db_drained_total", "Records drained to the database", NULL, DS(drained) },
	{ "roomcast_db_conflicts_total",
	  "Alarms: a row with the same room and seq but another message", NULL, DS(conflicts) },
	{ "roomcast_db_errors_total", "Failed drain batches (retried)", NULL, DS(errors) },
};

static const struct rc_metric_row drain_link_rows[] = {
	{ "roomcast_db_reconnects_total", "Database reconnections", NULL, DS(reconnects) },
};

static void
db_metrics(struct rc_node *n, struct rc_metrics_buf *b)
{
	struct rc_drainer_stats ds;
	uint64_t dead, dead_rows;

	if (rc_node_own(n)->drainer == NULL)
		return;
	rc_scopes_dead_letters(&n->scopes, &dead, &dead_rows);
	rc_drainer_get_stats(rc_node_own(n)->drainer, &ds);
	rc_metric_gauge(b, "roomcast_db_connected", "1 while the drainer is connected", NULL,
			ds.connected ? 1 : 0);
	rc_metric_rows(b, drain_rows, RTE_DIM(drain_rows), &ds);
	rc_metric_counter(b, "roomcast_db_dead_letters_total",
			  "Records set aside into drain_dead_letters (invalid, or refused by the"
			  " database)", NULL, dead);
	rc_metric_gauge(b, "roomcast_db_dead_letter_rows",
			"Alarm while above 0: rows in drain_dead_letters of the scopes drained here",
			NULL, (double)dead_rows);
	rc_metric_rows(b, drain_link_rows, RTE_DIM(drain_link_rows), &ds);
}

#define NS(f) offsetof(struct rc_node, f)

/* The control thread's counters; LOGIN refusals by reason (some counted by the workers) go
 * between the two tables. */
static const struct rc_metric_row login_rows[] = {
	{ "roomcast_logins_total", "LOGIN results", RC_LABELS("result", "ok"), NS(logins_ok) },
	{ "roomcast_logins_total", NULL, RC_LABELS("result", "failed"), NS(logins_failed) },
	{ "roomcast_logins_repeated_total",
	  "LOGINs answered with the session of the LOGIN they repeat", NULL,
	  NS(logins_repeated) },
	{ "roomcast_logins_redirected_total",
	  "LOGINs answered REDIRECT: the user's home is another node", NULL,
	  NS(logins_redirected) },
};

static const struct rc_metric_row control_rows[] = {
	{ "roomcast_sessions_expired_total", "Sessions ended by idleness", NULL,
	  NS(sessions_expired) },
	{ "roomcast_sessions_replaced_total",
	  "Sessions ended by a LOGIN of their user from their address and port", NULL,
	  NS(sessions_replaced) },
	{ "roomcast_sessions_evicted_total",
	  "Sessions ended (BYE) by a LOGIN of their user beyond chat.max_sessions_per_user",
	  NULL, NS(sessions_evicted) },
	{ "roomcast_rooms_refused_total", "Room creations refused by a per-user limit",
	  RC_LABELS("reason", "quota"), NS(rooms_refused_quota) },
	{ "roomcast_rooms_refused_total", NULL, RC_LABELS("reason", "rate"),
	  NS(rooms_refused_rate) },
	{ "roomcast_session_purges_dropped_total",
	  "Session purges not handed to a worker in time (its room memberships stay until the"
	  " room is left or unloaded)", NULL, NS(scopes.purges_dropped) },
	{ "roomcast_rooms_name_clash_total",
	  "Stored rooms not loaded: a room of that name is served here (created on both nodes of"
	  " the pair; alarm)", NULL, NS(scopes.rooms_name_clash) },
};

int
rc_node_metrics(void *arg, struct rc_metrics_buf *b)
{
	struct rc_node *n = arg;

	rc_metric_gauge(b, "roomcast_rooms", "Rooms hosted", NULL,
			rc_room_count(n->dp.rooms));
	rc_metric_gauge(b, "roomcast_sessions", "Live sessions", NULL,
			rc_session_count(n->dp.sessions));
	rc_metric_rows(b, login_rows, RTE_DIM(login_rows), n);
	for (unsigned i = 0; i < RC_LOGIN_REFUSAL_MAX; i++)
		rc_metric_counter(b, "roomcast_login_refusals_total", "LOGINs refused, by reason",
				  RC_LABELS("reason", rc_login_refusal_name(i)),
				  rc_node_login_refused(n, i));
	rc_metric_rows(b, control_rows, RTE_DIM(control_rows), n);
	lcore_metrics(n, b);
	message_metrics(n, b);
	storage_metrics(n, b);
	db_metrics(n, b);
	rc_node_relay_metrics(n, b);
	rc_ha_node_metrics(n->ha, b);
	return b->err;
}
