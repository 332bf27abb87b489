/* SPDX-License-Identifier: MIT */
/*
 * The node's Prometheus metrics: the same counters, states and backlogs `roomcastctl status`,
 * `stats` and `db status` show. Written on the control thread about once a second into a
 * snapshot that the management endpoint serves (control/mgmt.h); the HTTP thread never
 * reads node state.
 */
#include <inttypes.h>
#include <stdio.h>

#include "drainer.h"
#include "history.h"
#include "mgmt.h"
#include "node.h"
#include "node_ha_int.h"
#include "prom.h"
#include "repl.h"
#include "room_table.h"
#include "session.h"
#include "wal.h"

typedef uint64_t (*lcore_field_fn)(const struct rc_lcore_stats *s);

#define FIELD(f)                                                                               \
	static uint64_t get_##f(const struct rc_lcore_stats *s)                                \
	{                                                                                      \
		return s->f;                                                                   \
	}
FIELD(rx_pkts)
FIELD(tx_pkts)
FIELD(rx_bytes)
FIELD(tx_bytes)
FIELD(deliveries)
FIELD(posts_stored)
FIELD(forwarded)
FIELD(resends_acked)
FIELD(seqs_handed_back)
FIELD(seq_conflicts)
FIELD(idle_sleeps)

static const struct {
	const char *name, *help;
	lcore_field_fn get;
} lcore_counters[] = {
	{ "roomcast_rx_packets_total", "Frames received by a worker lcore", get_rx_pkts },
	{ "roomcast_tx_packets_total", "Frames sent by a worker lcore", get_tx_pkts },
	{ "roomcast_rx_bytes_total", "Bytes received by a worker lcore", get_rx_bytes },
	{ "roomcast_tx_bytes_total", "Bytes queued for sending by a worker lcore", get_tx_bytes },
	{ "roomcast_deliveries_total", "DELIVER messages sent", get_deliveries },
	{ "roomcast_posts_stored_total", "POSTs stored and acknowledged", get_posts_stored },
	{ "roomcast_forwarded_total", "Requests handed to the room's home worker",
	  get_forwarded },
	{ "roomcast_resends_acked_total", "Re-sent POSTs answered with their first ACK",
	  get_resends_acked },
	{ "roomcast_seqs_handed_back_total",
	  "POSTs not stored whose seq was assigned again (no gap)", get_seqs_handed_back },
	{ "roomcast_seq_conflicts_total",
	  "POSTs refused by the WAL because their room already stored that seq (alarm)",
	  get_seq_conflicts },
	{ "roomcast_idle_sleeps_total", "Idle back-off sleeps", get_idle_sleeps },
};

static void
lcore_metrics(struct rc_node *n, struct rc_metrics_buf *b)
{
	char lc[16], wk[16];
	unsigned i, k, r;

	for (i = 0; i < RTE_DIM(lcore_counters); i++)
		for (k = 0; k < n->dp.n_workers; k++) {
			snprintf(lc, sizeof(lc), "%u", n->dp.workers[k]->lcore);
			snprintf(wk, sizeof(wk), "%u", k);
			rc_metric_counter(b, lcore_counters[i].name, lcore_counters[i].help,
					  RC_LABELS("lcore", lc, "worker", wk),
					  lcore_counters[i].get(&n->dp.workers[k]->stats));
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

void
rc_node_dead_letters(struct rc_node *n, uint64_t *set_aside, uint64_t *rows)
{
	struct rc_drainer *d[2] = { n->drainer, n->ha != NULL ? n->ha->sc[1].drainer : NULL };

	*set_aside = *rows = 0;
	for (unsigned i = 0; i < 2; i++) {
		struct rc_drainer_stats ds;

		if (d[i] == NULL)
			continue;
		rc_drainer_get_stats(d[i], &ds);
		*set_aside += ds.dead_letters;
		*rows += ds.dead_letter_rows;
	}
}

static void
storage_metrics(struct rc_node *n, struct rc_metrics_buf *b)
{
	uint64_t now = rc_wall_ms();
	struct rc_wal_stats ws;

	rc_wal_get_stats(n->wal, &ws);
	rc_metric_counter(b, "roomcast_wal_commits_total", "Synced LMDB transactions", NULL,
			  ws.commits);
	rc_metric_counter(b, "roomcast_wal_records_total", "Records committed to LMDB", NULL,
			  ws.records);
	rc_metric_counter(b, "roomcast_wal_commit_errors_total", "Failed LMDB commits (retried)",
			  NULL, ws.commit_errors);
	rc_metric_gauge(b, "roomcast_wal_map_bytes", "LMDB map size", NULL, (double)ws.map_size);
	rc_metric_gauge(b, "roomcast_wal_used_bytes", "LMDB bytes in use", NULL,
			(double)ws.map_used);
	rc_metric_gauge(b, "roomcast_storage_full", "1 while POSTs are refused: LMDB full", NULL,
			ws.full ? 1 : 0);
	rc_metric_counter(b, "roomcast_wal_trimmed_total", "Drained records trimmed from LMDB",
			  NULL, ws.trimmed);
	rc_metric_gauge(b, "roomcast_wal_dedup_keys",
			"Re-sent POST keys kept in LMDB (each room's last dedup_window)", NULL,
			(double)ws.dedup_keys);
	rc_metric_counter(b, "roomcast_wal_peer_trimmed_total",
			  "Records trimmed before the HA peer acknowledged them (alarm)", NULL,
			  ws.peer_trimmed);
	rc_metric_counter(b, "roomcast_wal_seq_gaps_refused_total",
			  "Messages refused because a seq before them was not stored", NULL,
			  ws.seq_gaps_refused);
	if (n->drainer == NULL)
		return; /* no database: nothing is ever drained, there is no backlog */
	rc_metric_gauge(b, "roomcast_db_backlog_records", "Records not yet in the database", NULL,
			(double)ws.backlog_records);
	rc_metric_gauge(b, "roomcast_db_backlog_bytes", "Bytes not yet in the database", NULL,
			(double)ws.backlog_bytes);
	rc_metric_gauge(b, "roomcast_db_backlog_oldest_age_seconds",
			"Age of the oldest record not yet in the database", NULL,
			ws.oldest_undrained_ms != 0 && now > ws.oldest_undrained_ms ?
				(double)(now - ws.oldest_undrained_ms) / 1000.0 : 0.0);
}

static void
db_metrics(struct rc_node *n, struct rc_metrics_buf *b)
{
	struct rc_drainer_stats ds;
	uint64_t dead, dead_rows;

	if (n->drainer == NULL)
		return;
	rc_node_dead_letters(n, &dead, &dead_rows);
	rc_drainer_get_stats(n->drainer, &ds);
	rc_metric_gauge(b, "roomcast_db_connected", "1 while the drainer is connected", NULL,
			ds.connected ? 1 : 0);
	rc_metric_counter(b, "roomcast_db_drained_total", "Records drained to the database", NULL,
			  ds.drained);
	rc_metric_counter(b, "roomcast_db_conflicts_total",
			  "Alarms: a row with the same room and seq but another message", NULL,
			  ds.conflicts);
	rc_metric_counter(b, "roomcast_db_errors_total", "Failed drain batches (retried)", NULL,
			  ds.errors);
	rc_metric_counter(b, "roomcast_db_dead_letters_total",
			  "Records set aside into drain_dead_letters (invalid, or refused by the"
			  " database)", NULL, dead);
	rc_metric_gauge(b, "roomcast_db_dead_letter_rows",
			"Alarm while above 0: rows in drain_dead_letters of the scopes drained here",
			NULL, (double)dead_rows);
	rc_metric_counter(b, "roomcast_db_reconnects_total", "Database reconnections", NULL,
			  ds.reconnects);
}

/* HA durability (ha.durability) and what the HA link refused: the stream's frames by
 * reason, its listener, the heartbeats. */
static void
ha_durability_metrics(struct rc_node *n, struct rc_metrics_buf *b)
{
	struct rc_node_ha *ha = n->ha;
	struct rc_repl_stats rst;
	struct rc_hb_stats hs;

	rc_metric_counter(b, "roomcast_ha_durability_downgrades_total",
			  "Times a served scope went to ACKs on the local commit only (peer)",
			  NULL, ha->downgrades);
	rc_metric_counter(b, "roomcast_ha_durability_busy_periods_total",
			  "Times a served scope started refusing POSTs: no peer copy "
			  "(peer-required)", NULL, ha->busy_periods);
	rc_metric_counter(b, "roomcast_ha_peer_busy_refusals_total",
			  "POSTs and room creations refused with ERROR 9: no peer copy "
			  "(peer-required)", NULL,
			  __atomic_load_n(&n->dp.peer_busy_refusals, __ATOMIC_RELAXED));
	/* a family's samples must be contiguous: one loop per family */
	for (unsigned s = 0; s < 2; s++)
		rc_metric_gauge(b, "roomcast_ha_acks_local_only",
				"1 while ACKs of a served scope go out on the local commit only",
				RC_LABELS("scope", ha->sc[s].lease_scope), ha->local_only[s] ? 1 : 0);
	for (unsigned s = 0; s < 2; s++)
		rc_metric_gauge(b, "roomcast_ha_no_peer_copy_busy",
				"1 while POSTs of a served scope are refused: no peer copy",
				RC_LABELS("scope", ha->sc[s].lease_scope),
				ha->sc[s].loaded && ha->no_peer_busy[s]);
	for (unsigned s = 0; s < 2; s++) {
		const char *sc = ha->sc[s].lease_scope;
		const char *help = "HA stream frames refused (connection reset)";
		struct rc_repl_status rs;

		if (rc_repl_get_status(ha->repl, sc, &rs) != 0)
			continue;
		rc_metric_counter(b, "roomcast_ha_stream_refused_total", help,
				  RC_LABELS("scope", sc, "reason", "bad_mac"), rs.frames_bad_mac);
		rc_metric_counter(b, "roomcast_ha_stream_refused_total", help,
				  RC_LABELS("scope", sc, "reason", "replayed"), rs.frames_replayed);
		rc_metric_counter(b, "roomcast_ha_stream_refused_total", help,
				  RC_LABELS("scope", sc, "reason", "gap"), rs.frames_gap);
		rc_metric_counter(b, "roomcast_ha_stream_refused_total", help,
				  RC_LABELS("scope", sc, "reason", "invalid_record"),
				  rs.records_invalid);
		rc_metric_counter(b, "roomcast_ha_stream_refused_total", help,
				  RC_LABELS("scope", sc, "reason", "protocol"), rs.protocol_errors);
		rc_metric_counter(b, "roomcast_ha_stream_refused_total", help,
				  RC_LABELS("scope", sc, "reason", "auth"), rs.auth_failures);
	}
	rc_repl_get_stats(ha->repl, &rst);
	rc_metric_counter(b, "roomcast_ha_stream_listener_total",
			  "HA stream connections closed before authentication",
			  RC_LABELS("reason", "wrong_source"), rst.wrong_source);
	rc_metric_counter(b, "roomcast_ha_stream_listener_total",
			  "HA stream connections closed before authentication",
			  RC_LABELS("reason", "evicted"), rst.pending_evicted);
	rc_metric_counter(b, "roomcast_ha_stream_listener_total",
			  "HA stream connections closed before authentication",
			  RC_LABELS("reason", "preauth_timeout"), rst.pending_timeouts);
	rc_hb_get_stats(ha->hb, &hs);
	for (unsigned d = 0; d < RC_HB_DROP_MAX; d++)
		rc_metric_counter(b, "roomcast_ha_heartbeat_drops_total",
				  "Heartbeats dropped, by reason", RC_LABELS("reason",
									rc_hb_drop_name(d)),
				  hs.drops[d]);
}

/* HA: the state as a labelled gauge (1 for the current state), the counters. */
static void
ha_metrics(struct rc_node *n, struct rc_metrics_buf *b)
{
	struct rc_node_ha *ha = n->ha;
	const char *name = rc_ha_state_name(ha != NULL ? ha->fsm.state : RC_HA_UNKNOWN);

	rc_metric_gauge(b, "roomcast_ha_state", "The node's HA state (1 = current)",
			RC_LABELS("state", name), 1);
	if (ha == NULL)
		return;
	rc_metric_counter(b, "roomcast_ha_transitions_total", "HA state transitions", NULL,
			  ha->fsm.transitions);
	rc_metric_counter(b, "roomcast_ha_takeovers_total", "Peer rooms taken over", NULL,
			  ha->takeovers);
	rc_metric_counter(b, "roomcast_ha_fences_total", "Self-fencing (lease lost)", NULL,
			  ha->fences);
	rc_metric_counter(b, "roomcast_ha_alarms_total", "HA alarms raised", NULL, ha->alarms);
	rc_metric_counter(b, "roomcast_ha_resumes_sent_total", "RESUMEs sent to sessions", NULL,
			  ha->resumes_sent);
	rc_metric_counter(b, "roomcast_ha_fenced_acks_total",
			  "Stored POSTs not acknowledged because the lease guard ran out", NULL,
			  __atomic_load_n(&n->dp.fenced_acks, __ATOMIC_RELAXED));
	rc_metric_gauge(b, "roomcast_ha_peer_up", "1 while the peer's heartbeats arrive", NULL,
			rc_hb_peer_state(ha->hb) == RC_HB_PEER_IS_UP ? 1 : 0);
	for (unsigned s = 0; s < 2; s++)
		rc_metric_gauge(b, "roomcast_ha_serving", "1 while this node serves the rooms",
				RC_LABELS("scope", ha->sc[s].lease_scope), ha->sc[s].loaded ? 1 : 0);
	ha_durability_metrics(n, b);
}

int
rc_node_metrics(void *arg, struct rc_metrics_buf *b)
{
	struct rc_node *n = arg;

	rc_metric_gauge(b, "roomcast_rooms", "Rooms hosted", NULL,
			rc_room_count(n->dp.rooms));
	rc_metric_gauge(b, "roomcast_sessions", "Live sessions", NULL,
			rc_session_count(n->dp.sessions));
	rc_metric_counter(b, "roomcast_logins_total", "LOGIN results",
			  RC_LABELS("result", "ok"), n->logins_ok);
	rc_metric_counter(b, "roomcast_logins_total", "LOGIN results",
			  RC_LABELS("result", "failed"), n->logins_failed);
	rc_metric_counter(b, "roomcast_logins_repeated_total",
			  "LOGINs answered with the session of the LOGIN they repeat", NULL,
			  n->logins_repeated);
	for (unsigned i = 0; i < RC_LOGIN_REFUSAL_MAX; i++)
		rc_metric_counter(b, "roomcast_login_refusals_total", "LOGINs refused, by reason",
				  RC_LABELS("reason", rc_login_refusal_name(i)),
				  rc_node_login_refused(n, i));
	rc_metric_counter(b, "roomcast_sessions_expired_total", "Sessions ended by idleness",
			  NULL, n->sessions_expired);
	lcore_metrics(n, b);
	message_metrics(n, b);
	storage_metrics(n, b);
	db_metrics(n, b);
	ha_metrics(n, b);
	return b->err;
}
