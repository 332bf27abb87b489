/* SPDX-License-Identifier: MIT */
/* The HA pair's Prometheus metrics (ha_node.h), written with the node's (node_metrics.c). */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

#include "ha_node_int.h"
#include "prom.h"
#include "repl.h"

#define HS(f) offsetof(struct rc_ha_node, f)

/* The pair's counters kept in struct rc_ha_node; the ones other parts keep (resumes, fenced
 * ACKs, refusals) and the states are written by hand between these tables. */
static const struct rc_metric_row ha_rows[] = {
	{ "roomcast_ha_transitions_total", "HA state transitions", NULL, HS(fsm.transitions) },
	{ "roomcast_ha_takeovers_total", "Peer rooms taken over", NULL, HS(takeovers) },
	{ "roomcast_ha_fences_total", "Self-fencing (lease lost)", NULL, HS(fences) },
	{ "roomcast_ha_alarms_total", "HA alarms raised", NULL, HS(alarms) },
	{ "roomcast_ha_garps_sent_total",
	  "Gratuitous ARPs queued for a service address that moved to this node", NULL,
	  HS(garps_sent) },
};

static const struct rc_metric_row durability_rows[] = {
	{ "roomcast_ha_durability_downgrades_total",
	  "Times a served scope went to ACKs on the local commit only (peer)", NULL,
	  HS(downgrades) },
	{ "roomcast_ha_durability_busy_periods_total",
	  "Times a served scope started refusing POSTs: no peer copy (peer-required)", NULL,
	  HS(busy_periods) },
};

#define RS(f) offsetof(struct rc_repl_status, f)

/* A scope's stream frames refused, written for each scope in turn. */
static const struct rc_metric_row stream_refused_rows[] = {
	{ "roomcast_ha_stream_refused_total", "HA stream frames refused (connection reset)",
	  RC_LABELS("reason", "bad_mac"), RS(frames_bad_mac) },
	{ "roomcast_ha_stream_refused_total", NULL, RC_LABELS("reason", "replayed"),
	  RS(frames_replayed) },
	{ "roomcast_ha_stream_refused_total", NULL, RC_LABELS("reason", "gap"), RS(frames_gap) },
	{ "roomcast_ha_stream_refused_total", NULL, RC_LABELS("reason", "invalid_record"),
	  RS(records_invalid) },
	{ "roomcast_ha_stream_refused_total", NULL, RC_LABELS("reason", "protocol"),
	  RS(protocol_errors) },
	{ "roomcast_ha_stream_refused_total", NULL, RC_LABELS("reason", "auth"), RS(auth_failures) },
};

#define RN(f) offsetof(struct rc_repl_stats, f)

static const struct rc_metric_row stream_listener_rows[] = {
	{ "roomcast_ha_stream_listener_total", "HA stream connections closed before authentication",
	  RC_LABELS("reason", "wrong_source"), RN(wrong_source) },
	{ "roomcast_ha_stream_listener_total", NULL, RC_LABELS("reason", "evicted"),
	  RN(pending_evicted) },
	{ "roomcast_ha_stream_listener_total", NULL, RC_LABELS("reason", "preauth_timeout"),
	  RN(pending_timeouts) },
};

/* HA durability (ha.durability) and what the HA link refused: the stream's frames by
 * reason, its listener, the heartbeats. */
static void
ha_durability_metrics(struct rc_ha_node *ha, struct rc_metrics_buf *b)
{
	struct rc_repl_stats rst;
	struct rc_hb_stats hs;

	rc_metric_rows(b, durability_rows, RTE_DIM(durability_rows), ha);
	rc_metric_counter(b, "roomcast_ha_peer_busy_refusals_total",
			  "POSTs and room creations refused with ERROR 9: no peer copy "
			  "(peer-required)", NULL,
			  __atomic_load_n(&ha->dp->peer_busy_refusals, __ATOMIC_RELAXED));
	/* a family's samples must be contiguous: one loop per family */
	for (unsigned s = 0; s < ha->ss->n; s++)
		rc_metric_gauge(b, "roomcast_ha_acks_local_only",
				"1 while ACKs of a served scope go out on the local commit only",
				RC_LABELS("scope", ha->ss->sc[s].lease_scope), ha->ss->sc[s].local_only ? 1 : 0);
	for (unsigned s = 0; s < ha->ss->n; s++)
		rc_metric_gauge(b, "roomcast_ha_no_peer_copy_busy",
				"1 while POSTs of a served scope are refused: no peer copy",
				RC_LABELS("scope", ha->ss->sc[s].lease_scope),
				ha->ss->sc[s].loaded && ha->ss->sc[s].no_peer_busy);
	for (unsigned s = 0; s < ha->ss->n; s++) {
		const char *sc = ha->ss->sc[s].lease_scope;
		struct rc_repl_status rs;

		if (rc_repl_get_status(ha->repl, sc, &rs) == 0)
			rc_metric_rows_labeled(b, stream_refused_rows, RTE_DIM(stream_refused_rows),
					       &rs, RC_LABELS("scope", sc));
	}
	rc_repl_get_stats(ha->repl, &rst);
	rc_metric_rows(b, stream_listener_rows, RTE_DIM(stream_listener_rows), &rst);
	rc_hb_get_stats(ha->hb, &hs);
	for (unsigned d = 0; d < RC_HB_DROP_MAX; d++)
		rc_metric_counter(b, "roomcast_ha_heartbeat_drops_total",
				  "Heartbeats dropped, by reason", RC_LABELS("reason",
									rc_hb_drop_name(d)),
				  hs.drops[d]);
}

/* HA: the state as a labelled gauge (1 for the current state), the counters. */
void
rc_ha_node_metrics(struct rc_ha_node *ha, struct rc_metrics_buf *b)
{
	const char *name = rc_ha_state_name(ha != NULL ? ha->fsm.state : RC_HA_UNKNOWN);

	rc_metric_gauge(b, "roomcast_ha_state", "The node's HA state (1 = current)",
			RC_LABELS("state", name), 1);
	if (ha == NULL)
		return;
	rc_metric_rows(b, ha_rows, RTE_DIM(ha_rows), ha);
	rc_metric_counter(b, "roomcast_ha_resumes_sent_total", "RESUMEs sent to sessions", NULL,
			  ha->ss->resumes_sent);
	rc_metric_counter(b, "roomcast_ha_fenced_acks_total",
			  "Stored POSTs not acknowledged because the lease guard ran out", NULL,
			  __atomic_load_n(&ha->dp->fenced_acks, __ATOMIC_RELAXED));
	rc_metric_gauge(b, "roomcast_ha_peer_up", "1 while the peer's heartbeats arrive", NULL,
			rc_hb_peer_state(ha->hb) == RC_HB_PEER_IS_UP ? 1 : 0);
	for (unsigned s = 0; s < ha->ss->n; s++)
		rc_metric_gauge(b, "roomcast_ha_serving", "1 while this node serves the rooms",
				RC_LABELS("scope", ha->ss->sc[s].lease_scope), ha->ss->sc[s].loaded ? 1 : 0);
	ha_durability_metrics(ha, b);
}
