/* SPDX-License-Identifier: MIT */
/*
 * roomcastctl ha status | failover NODE | fallback GROUP | recover [NODE] | fault ...:
 * the HA pair's administration (control/admin/CLI.md). A command that a state does not allow is
 * refused with the state and what to do instead.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "cluster_node.h"
#include "ha_fsm.h"
#include "ha_fsm_print.h"
#include "ha_lease.h"
#include "ha_node_int.h"
#include "lease.h"
#include "repl.h"
#include "wal.h"

/* The commands' context: HA may be off (ha NULL). One node per process. */
struct ha_cmds {
	struct rc_ha_node *ha;
	const struct rc_ha_settings *cfg;
	struct rc_dp *dp;
	const struct rc_cluster_node *cn; /* the cluster state here (group names) */
};

static struct ha_cmds cmds_ctx;

static uint64_t
hb_dropped(const struct rc_hb_stats *hs)
{
	uint64_t n = 0;

	for (unsigned d = 0; d < RC_HB_DROP_MAX; d++)
		n += hs->drops[d];
	return n;
}

static const char *
durability_name(enum rc_ha_durability d)
{
	return d == RC_HA_DUR_PEER ? "peer" : d == RC_HA_DUR_PEER_REQUIRED ? "peer-required" :
									       "local";
}

/* What a POST of this scope gets now (update_gate in ha_node.c). */
static const char *
acks_word(const struct rc_ha_node *ha, unsigned s)
{
	if (!ha->ss->sc[s].loaded)
		return "not served";
	if (ha->ss->sc[s].no_peer_busy)
		return "REFUSED busy (no peer copy)";
	if (ha->ss->sc[s].local_only)
		return "LOCAL COMMIT ONLY (no peer copy)";
	return ha->durability == RC_HA_DUR_LOCAL ? "local commit" : "after the peer's copy";
}

static json_t *
scope_json(struct rc_ha_node *ha, unsigned s, const struct rc_ha_lease_status *ls,
	   struct rc_text *t)
{
	struct rc_scope *sc = &ha->ss->sc[s];
	struct rc_repl_status rs;
	bool have = rc_repl_get_status(ha->repl, sc->lease_scope, &rs) == 0;
	uint64_t last = rc_wal_last_lsn(sc->wal);
	uint64_t lag = 0;
	const char *role = "off";

	if (have) {
		role = rs.role == RC_REPL_WRITER ? "writer" : rs.role == RC_REPL_REPLICA ? "replica" :
											 "off";
		lag = rs.role == RC_REPL_WRITER && last > rs.acked_lsn ? last - rs.acked_lsn : 0;
	}
	if (!have)
		memset(&rs, 0, sizeof(rs));
	rc_text_printf(t,
		       "  %-14s %-7s lease %s epoch %" PRIu64 "%s, %s, stream %s (%s), last LSN "
		       "%" PRIu64 ", peer lag %" PRIu64 " records, %u sessions replicated\n",
		       sc->lease_scope, s == 0 ? "(own)" : "(peer)",
		       ls->held[s] ? "held" : ls->acquiring[s] ? "acquiring" : "not held",
		       ls->epoch[s], rc_lease_guard_ok(&sc->guard, rc_lease_mono_ms()) ? " (acking)" : "",
		       sc->loaded ? "served here" : "not served here", role,
		       have && rs.connected ? "connected" : "disconnected", last, lag, sc->n_sess);
	rc_text_printf(t,
		       "  %-14s ACKs: %s; stream frames refused: bad MAC %" PRIu64 ", replayed %"
		       PRIu64 ", gap %" PRIu64 ", invalid records %" PRIu64 ", protocol %" PRIu64
		       ", auth %" PRIu64 "\n",
		       "", acks_word(ha, s), rs.frames_bad_mac, rs.frames_replayed, rs.frames_gap,
		       rs.records_invalid, rs.protocol_errors, rs.auth_failures);
	return json_pack("{s:s,s:b,s:b,s:I,s:b,s:s,s:b,s:I,s:I,s:I,s:I,s:b,s:b,"
			 "s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I}}",
			 "scope", sc->lease_scope, "served", sc->loaded, "lease_held", ls->held[s],
			 "epoch", (json_int_t)ls->epoch[s], "acking",
			 rc_lease_guard_ok(&sc->guard, rc_lease_mono_ms()), "stream_role", role,
			 "stream_connected", have && rs.connected, "last_lsn", (json_int_t)last,
			 "acked_lsn", (json_int_t)rs.acked_lsn, "lag_records", (json_int_t)lag,
			 "sessions_replicated", (json_int_t)sc->n_sess, "acks_local_only",
			 ha->ss->sc[s].local_only, "posts_refused_no_peer_copy",
			 sc->loaded && ha->ss->sc[s].no_peer_busy,
			 "stream_refused", "bad_mac", (json_int_t)rs.frames_bad_mac, "replayed",
			 (json_int_t)rs.frames_replayed, "gap", (json_int_t)rs.frames_gap,
			 "invalid_records", (json_int_t)rs.records_invalid, "protocol",
			 (json_int_t)rs.protocol_errors, "auth", (json_int_t)rs.auth_failures,
			 "timeouts", (json_int_t)rs.timeouts);
}

/* One reading of the pair for ha status, shared by its text and its JSON. */
struct ha_status {
	uint64_t now;
	bool up;             /* the peer's heartbeats arrive */
	const char *pstate;  /* the peer's state and reason as it last announced them */
	const char *preason;
	struct rc_ha_lease_status ls;
	struct rc_hb_stats hs;
	struct rc_repl_stats rst;
};

static int
ha_status_off(const struct ha_cmds *x, json_t *res, struct rc_text *t)
{
	json_object_set_new(res, "state", json_string(rc_ha_state_name(RC_HA_UNKNOWN)));
	json_object_set_new(res, "reason",
			    json_string(rc_ha_reason_name(RC_HA_REASON_HA_NOT_ENABLED)));
	rc_text_printf(t, "%s: Unknown (High Availability Not Enabled): ha.enabled is off\n",
		       x->cfg->node_id);
	return 0;
}

static void
ha_status_read(struct rc_ha_node *ha, struct ha_status *st)
{
	st->now = rc_lease_mono_ms();
	rc_ha_lease_get_status(ha->lease, &st->ls);
	rc_hb_get_stats(ha->hb, &st->hs);
	st->up = rc_hb_peer_state(ha->hb) == RC_HB_PEER_IS_UP;
	st->pstate = ha->peer_heard ? rc_ha_state_name(ha->peer.ha_state < RC_HA_STATE_MAX ?
							       ha->peer.ha_state : RC_HA_UNKNOWN) :
				      "Unknown";
	st->preason = ha->peer_heard ? rc_ha_reason_name(ha->peer.ha_reason < RC_HA_REASON_MAX ?
								 ha->peer.ha_reason :
								 RC_HA_REASON_NORMAL) :
				       "Not Reported";
}

/* The text's first two lines: this node's state, then the peer's. */
static void
ha_status_text_nodes(const struct ha_cmds *x, const struct ha_status *st, struct rc_text *t)
{
	const struct rc_ha_node *ha = x->ha;
	uint64_t now = st->now;

	rc_text_printf(t, "%-8s %-48s %s for %.1f s\n", x->cfg->node_id,
		       rc_ha_state_name(ha->fsm.state), rc_ha_reason_name(ha->fsm.reason),
		       (double)(now - ha->fsm.since_ms) / 1000.0);
	if (st->up)
		rc_text_printf(t, "%-8s %-48s %s for %.1f s (heard %.1f s ago)\n",
			       x->cfg->ha->peer_id, st->pstate, st->preason,
			       (double)(now - ha->peer_since_ms) / 1000.0,
			       (double)(now - ha->peer_heard_ms) / 1000.0);
	else
		rc_text_printf(t, "%-8s %-48s %s (%s, heard %.1f s ago)\n", x->cfg->ha->peer_id,
			       "Unknown", "Not Reported", rc_hb_peer_name(rc_hb_peer_state(ha->hb)),
			       ha->peer_heard ? (double)(now - ha->peer_heard_ms) / 1000.0 : -1.0);
}

/* The text's counter lines, after the scopes'. */
static void
ha_status_text_counters(const struct ha_cmds *x, const struct ha_status *st, struct rc_text *t)
{
	const struct rc_ha_node *ha = x->ha;
	const struct rc_ha_lease_status *ls = &st->ls;
	const struct rc_hb_stats *hs = &st->hs;
	const struct rc_repl_stats *rst = &st->rst;

	rc_text_printf(t,
		       "  database %s; heartbeats tx %" PRIu64 " rx %" PRIu64 " dropped %" PRIu64
		       "; takeovers %" PRIu64 ", fences %" PRIu64 ", RESUMEs sent %" PRIu64
		       ", acks withheld after fencing %" PRIu64 "\n",
		       ls->db_ok ? "reachable" : "UNREACHABLE", hs->tx, hs->rx,
		       hb_dropped(hs),
		       ha->takeovers, ha->fences, ha->ss->resumes_sent,
		       __atomic_load_n(&x->dp->fenced_acks, __ATOMIC_RELAXED));
	rc_text_printf(t,
		       "  durability %s: downgrades to local-only ACKs %" PRIu64
		       ", no-peer-copy periods %" PRIu64 ", POSTs and rooms refused busy %" PRIu64
		       "\n",
		       durability_name(ha->durability), ha->downgrades, ha->busy_periods,
		       __atomic_load_n(&x->dp->peer_busy_refusals, __ATOMIC_RELAXED));
	rc_text_printf(t,
		       "  stream listener: accepted %" PRIu64 ", wrong source %" PRIu64
		       ", evicted unauthenticated %" PRIu64 ", pre-auth timeouts %" PRIu64
		       ", rejected %" PRIu64 "; heartbeats from a wrong source %" PRIu64
		       ", forged %" PRIu64 "\n",
		       rst->accepted, rst->wrong_source, rst->pending_evicted, rst->pending_timeouts,
		       rst->rejected, hs->drops[RC_HB_DROP_WRONG_SOURCE],
		       hs->drops[RC_HB_DROP_FORGED]);
	rc_text_printf(t, "  lease: renewals %" PRIu64 ", renew errors %" PRIu64 ", acquisitions %"
		       PRIu64 ", refusals %" PRIu64 ", losses %" PRIu64 "%s%s\n",
		       ls->renewals, ls->renew_errors, ls->acquisitions, ls->refusals, ls->losses,
		       ls->last_error[0] ? "; last error: " : "", ls->last_error);
}

/* The JSON: the states, the peer, the scopes and the machine. */
static void
ha_status_json(const struct ha_cmds *x, const struct ha_status *st, json_t *scopes, json_t *res)
{
	const struct rc_ha_node *ha = x->ha;
	uint64_t now = st->now;
	bool up = st->up;
	json_t *peer;

	peer = json_pack("{s:s,s:s,s:s,s:b,s:I,s:I,s:I}", "node", x->cfg->ha->peer_id, "state",
			 up ? st->pstate : "Unknown", "reason", up ? st->preason : "Not Reported",
			 "alive", up, "in_state_ms", (json_int_t)(up ? now - ha->peer_since_ms : 0),
			 "epoch", (json_int_t)ha->peer.epoch, "last_lsn",
			 (json_int_t)ha->peer.last_lsn);
	json_object_update_new(res, json_pack("{s:s,s:s,s:s,s:I,s:o,s:o,s:o,s:b,s:I,s:I,s:I,s:I,s:I}",
					  "node", x->cfg->node_id, "state",
					  rc_ha_state_name(ha->fsm.state), "reason",
					  rc_ha_reason_name(ha->fsm.reason), "in_state_ms",
					  (json_int_t)(now - ha->fsm.since_ms), "peer", peer,
					  "scopes", scopes, "fsm", rc_ha_fsm_to_json(&ha->fsm, now),
					  "db_ok", st->ls.db_ok, "takeovers",
					  (json_int_t)ha->takeovers,
					  "fences", (json_int_t)ha->fences, "resumes_sent",
					  (json_int_t)ha->ss->resumes_sent, "fenced_acks",
					  (json_int_t)__atomic_load_n(&x->dp->fenced_acks,
								      __ATOMIC_RELAXED),
					  "heartbeats_rx", (json_int_t)st->hs.rx));
	json_object_set_new(res, "garps_sent", json_integer((json_int_t)ha->garps_sent));
	json_object_set_new(res, "heartbeat_key_id", json_integer(st->hs.tx_key_id));
	json_object_set_new(res, "heartbeat_peer_key_id", json_integer(st->hs.rx_key_id));
}

/* The JSON's durability, heartbeat drop and stream listener counters. */
static void
ha_status_json_counters(const struct ha_cmds *x, const struct ha_status *st, json_t *res)
{
	const struct rc_ha_node *ha = x->ha;
	const struct rc_repl_stats *rst = &st->rst;
	json_t *hbd, *extra;

	hbd = json_object();
	for (unsigned d = 0; d < RC_HB_DROP_MAX; d++)
		json_object_set_new(hbd, rc_hb_drop_name(d),
				    json_integer((json_int_t)st->hs.drops[d]));
	extra = json_pack("{s:s,s:I,s:I,s:I,s:o,s:I,s:{s:I,s:I,s:I,s:I,s:I}}",
			  "durability", durability_name(ha->durability),
			  "durability_downgrades", (json_int_t)ha->downgrades,
			  "durability_busy_periods", (json_int_t)ha->busy_periods,
			  "peer_busy_refusals",
			  (json_int_t)__atomic_load_n(&x->dp->peer_busy_refusals, __ATOMIC_RELAXED),
			  "heartbeat_drops", hbd, "heartbeat_peer_dead",
			  (json_int_t)st->hs.peer_dead,
			  "stream_listener", "accepted", (json_int_t)rst->accepted, "wrong_source",
			  (json_int_t)rst->wrong_source, "evicted", (json_int_t)rst->pending_evicted,
			  "preauth_timeouts", (json_int_t)rst->pending_timeouts, "rejected",
			  (json_int_t)rst->rejected);
	json_object_update(res, extra);
	json_decref(extra);
}

static RC_ADMIN_HANDLER(cmd_ha_status)
{
	struct ha_cmds *x = arg;
	struct rc_ha_node *ha = x->ha;
	struct ha_status st;
	json_t *scopes;

	if (ha == NULL)
		return ha_status_off(x, res, t);
	ha_status_read(ha, &st);
	ha_status_text_nodes(x, &st, t);
	scopes = json_array();
	for (unsigned s = 0; s < ha->ss->n; s++)
		json_array_append_new(scopes, scope_json(ha, s, &st.ls, t));
	rc_repl_get_stats(ha->repl, &st.rst);
	ha_status_text_counters(x, &st, t);
	ha_status_json(x, &st, scopes, res);
	ha_status_json_counters(x, &st, res);
	return 0;
}

/* Deliver an admin event; a refusal says why. */
static int
admin_event(struct ha_cmds *x, enum rc_ha_event ev, char *err, size_t errlen, struct rc_text *t)
{
	struct rc_ha_node *ha = x->ha;
	enum rc_ha_state before = ha->fsm.state;

	rc_ha_node_admin(ha, ev);
	if (ha->fsm.state == before && ha->fsm.invalid[ev] != ha->last_invalid[ev]) {
		ha->last_invalid[ev] = ha->fsm.invalid[ev];
		snprintf(err, errlen, "refused: %s is %s (%s)", x->cfg->node_id,
			 rc_ha_state_name(ha->fsm.state), rc_ha_reason_name(ha->fsm.reason));
		return -EPERM;
	}
	rc_text_printf(t, "%s: %s -> %s (%s)\n", x->cfg->node_id, rc_ha_state_name(before),
		       rc_ha_state_name(ha->fsm.state), rc_ha_reason_name(ha->fsm.reason));
	return 0;
}

static int
need_ha(struct ha_cmds *x, char *err, size_t errlen)
{
	if (x->ha != NULL)
		return 0;
	snprintf(err, errlen, "high availability is not enabled on %s (ha.enabled)",
		 x->cfg->node_id);
	return -ENOTSUP;
}

static RC_ADMIN_HANDLER(cmd_ha_failover)
{
	struct ha_cmds *x = arg;
	struct rc_ha_node *ha = x->ha;
	int rc;

	if ((rc = need_ha(x, err, errlen)) != 0)
		return rc;
	if (strcmp(argv[0], x->cfg->ha->peer_id) == 0) {
		/* the peer gives its rooms away: relayed on the stream of our rooms */
		rc = rc_ha_node_admin_relay(ha, 0, RC_HA_EV_ADMIN_FAILOVER);
		if (rc != 0) {
			snprintf(err, errlen, "cannot reach %s over the HA link (%s): run it on %s",
				 argv[0], strerror(-rc), argv[0]);
			return rc;
		}
		rc_text_printf(t, "asked %s to fail over; watch `roomcastctl ha status`\n",
			       argv[0]);
		json_object_set_new(res, "relayed_to", json_string(argv[0]));
		return 0;
	}
	if (strcmp(argv[0], x->cfg->node_id) != 0) {
		snprintf(err, errlen, "%s is neither this node (%s) nor its peer (%s)", argv[0],
			 x->cfg->node_id, x->cfg->ha->peer_id);
		return -EINVAL;
	}
	rc = admin_event(x, RC_HA_EV_ADMIN_FAILOVER, err, errlen, t);
	json_object_set_new(res, "state", json_string(rc_ha_state_name(ha->fsm.state)));
	return rc;
}

static RC_ADMIN_HANDLER(cmd_ha_fallback)
{
	struct ha_cmds *x = arg;
	struct rc_ha_node *ha = x->ha;
	const struct rc_cl_group *g = NULL;
	int rc;

	if ((rc = need_ha(x, err, errlen)) != 0)
		return rc;
	if (x->cn != NULL)
		rc_cluster_find_node(rc_cluster_node_state(x->cn), x->cfg->node_id, &g, NULL);
	if (strcmp(argv[0], x->cfg->node_id) != 0 && strcmp(argv[0], x->cfg->ha->peer_id) != 0 &&
	    (g == NULL || strcmp(argv[0], g->name) != 0)) {
		snprintf(err, errlen, "%s is not this node's group (%s)", argv[0],
			 g != NULL ? g->name : "none in the cluster state");
		return -EINVAL;
	}
	if ((ha->fsm.serving & RC_HA_PEER) &&
	    rc_ha_node_admin_relay(ha, 1, RC_HA_EV_ADMIN_FALLBACK) == 0) {
		/* we serve the peer's rooms: the fallback starts on the peer */
		rc_text_printf(t, "asked %s to fall back; watch `roomcastctl ha status`\n",
			       x->cfg->ha->peer_id);
		json_object_set_new(res, "relayed_to", json_string(x->cfg->ha->peer_id));
		return 0;
	}
	if (rc_ha_fsm_refuses(&ha->fsm, RC_HA_EV_ADMIN_FALLBACK)) {
		snprintf(err, errlen,
			 "refused: %s is %s (%s); a fallback starts on the node whose rooms moved "
			 "away (Failed Over or Idle): run it on %s",
			 x->cfg->node_id, rc_ha_state_name(ha->fsm.state),
			 rc_ha_reason_name(ha->fsm.reason), x->cfg->ha->peer_id);
		return -EPERM;
	}
	rc = admin_event(x, RC_HA_EV_ADMIN_FALLBACK, err, errlen, t);
	json_object_set_new(res, "state", json_string(rc_ha_state_name(ha->fsm.state)));
	return rc;
}

static RC_ADMIN_HANDLER(cmd_ha_recover)
{
	struct ha_cmds *x = arg;
	struct rc_ha_node *ha = x->ha;
	int rc;

	if ((rc = need_ha(x, err, errlen)) != 0)
		return rc;
	if (argc == 1 && strcmp(argv[0], x->cfg->node_id) != 0) {
		snprintf(err, errlen, "%s is not this node (%s): run it on %s", argv[0],
			 x->cfg->node_id, argv[0]);
		return -EINVAL;
	}
	rc = admin_event(x, RC_HA_EV_ADMIN_RECOVER, err, errlen, t);
	json_object_set_new(res, "state", json_string(rc_ha_state_name(ha->fsm.state)));
	return rc;
}

static RC_ADMIN_HANDLER(cmd_ha_fault)
{
	struct ha_cmds *x = arg;
	struct rc_ha_node *ha = x->ha;
	bool on;

	if (!x->cfg->ha->fault_injection) {
		snprintf(err, errlen, "fault injection is off (ha.fault_injection = true; tests only)");
		return -EPERM;
	}
	if (strcmp(argv[0], "fail-load") == 0 && ha != NULL) {
		ha->fault_fail_load = true;
		rc_text_printf(t, "the next takeover or reload of rooms fails\n");
		json_object_set_new(res, "fail_load", json_true());
		return 0;
	}
	if (strcmp(argv[0], "stall-workers") == 0)
		on = true;
	else if (strcmp(argv[0], "resume-workers") == 0)
		on = false;
	else
		return -EINVAL;
	x->dp->fault_stall = on;
	rc_text_printf(t, "workers %s\n", on ? "stalled (the TC service looks hung)" : "running");
	json_object_set_new(res, "stalled", json_boolean(on));
	return 0;
}

static const struct rc_admin_cmd cmds[] = {
	{ "ha status", "", "both nodes' HA state, reason, time in state, leases, streams",
	  cmd_ha_status },
	{ "ha failover", "NODE", "hand NODE's rooms and users to its peer (run on NODE)",
	  cmd_ha_failover, 1, 1 },
	{ "ha fallback", "GROUP", "move the rooms and users back to their node (run on the "
	  "node in Failed Over or Idle)", cmd_ha_fallback, 1, 1 },
	{ "ha recover", "[NODE]", "leave Running in Failed Mode", cmd_ha_recover, 0, 1 },
	{ "ha fault", "stall-workers|resume-workers|fail-load", "fault injection (tests only)",
	  cmd_ha_fault, 1, 1 },
};

int
rc_ha_cmds_register(struct rc_admin *admin, struct rc_ha_node *ha, const struct rc_ha_settings *cfg,
		    struct rc_dp *dp, const struct rc_cluster_node *cn)
{
	cmds_ctx = (struct ha_cmds){ ha, cfg, dp, cn };
	return rc_admin_register_table(admin, cmds, sizeof(cmds) / sizeof(cmds[0]), &cmds_ctx,
				       NULL);
}
