#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The HA pair (issue 5), real processes, real PostgreSQL, network namespaces: clients post
# continuously to both nodes (rcha, unique cmids) while
#   1. n1 is killed with SIGKILL: n2 takes over n1's rooms, service address and sessions
#      (Running in Backup Mode); n1 restarts into Failed Over;
#   2. `ha fallback` on n1: n1 Taking Back / n2 Falling Back, then both Normal, under load;
# then rcha verify compares what the clients saw acknowledged with the database: 0 lost,
# 0 duplicates, no gap in any room's seqs, no client logged in twice (sessions kept).
# Before step 1, n1's latency budget (stats) shows its POSTs held for the peer (HA.md).
# rc-timeout: 300
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=ha_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ha_lib.sh"

RC_RCHA="$RC_BUILD/tests/tools/rcha"

rc_init ha_failover
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCHA"
rc_require_cmds psql
rc_start_pg
rc_ha_setup
rc_ha_write_confs
rc_ha_pair_up
rc_ha_ctl 0 ha status
mapfile -t BIND < <(rc_bind_args)
val() { sed -n "s/^$1: //p" "$2"; } # KEY FILE

OUT="$RC_WORK/rcha"
rc_log "rcha: 8 users (4 per node), 2 rooms (one per node), 10 posts/s each, 16 s"
ip netns exec "$RC_NS_CLI" "$RC_RCHA" run --server "${RC_HA_VIP[0]}" \
	--server "${RC_HA_VIP[1]}" --port "$RC_PORT" --users 8 --room-prefix room- --rooms 2 \
	--rate 10 --duration 16 --drain 15 --secret "$RC_SECRET" --out "$OUT" "${BIND[@]}" \
	>"$RC_WORK/rcha-run.log" 2>&1 &
RCHA=$!
RC_BG_PIDS+=("$RCHA")

sleep 4
# the latency budget under the peer gate: n1's stored POSTs were held for n2's ACK
budget=$(rc_ha_ctl 0 -j stats | jq -c .latency_budget)
rc_assert_int_gt "$(jq -r .peer.count <<<"$budget")" 0 "n1's latency budget: POSTs counted"
rc_assert "n1's latency budget: held for the peer (peer stage above 0)" \
	jq -e '.peer.max_us > 0' <<<"$budget" >/dev/null
rc_log "step 1: SIGKILL n1"
rc_ha_kill 0
t0=$SECONDS
rc_ha_wait_state 1 "Running in Backup Mode" 10
rc_log "n2 Running in Backup Mode after $((SECONDS - t0)) s"
rc_ha_ctl 1 ha status
rc_ha_ctl 1 room list
rc_assert_match "$(rc_ha_ctl 1 room list)" "room-0" "n2 hosts n1's room"
metrics() { ip netns exec "${RC_HA_NS[1]}" curl -s "http://${RC_HA_LINK_IP[1]}:9465/metrics"; }
backup_metrics() { grep -q '^roomcast_ha_state{state="Running in Backup Mode"} 1' <<<"$(metrics)"; }
rc_wait_until 5 "n2's /metrics shows its HA state" backup_metrics
rc_assert_match "$(metrics)" 'roomcast_ha_takeovers_total 1' "n2's /metrics counts the takeover"
rc_assert_int_gt "$(rc_ha_ctl 1 -j ha status | jq -r .garps_sent)" 0 \
	"n2 announced n1's service address (gratuitous ARPs)"
rc_assert_match "$(metrics)" 'roomcast_ha_garps_sent_total [1-9]' "n2's /metrics counts them"

sleep 2
rc_log "n1 restarts"
rc_ha_start 0
rc_ha_wait_state 0 "Failed Over" 15
rc_assert_match "$(rc_ha_ctl 0 ha status)" "Failed Over" "n1 Failed Over"

rc_log "step 2: fallback (under load)"
rc_ha_ctl 0 ha fallback n1
rc_ha_wait_state 0 Normal 15
rc_ha_wait_state 1 Normal 15
rc_assert_match "$(rc_ha_ctl 0 room list)" "room-0" "n1 hosts its room again"
rc_ha_ctl 0 ha status
# each step's states, from the transition history of each node (MISSION.md's fallback use
# case: 1A Taking Back and 1B Falling Back, then both Normal)
path() { rc_ha_ctl "$1" -j ha status | jq -r '.fsm.history | map(.to) | join(" > ")'; }
rc_log "n1: $(path 0)"
rc_log "n2: $(path 1)"
rc_assert_match "$(path 0)" "Failed Over > Taking Back > Normal$" "n1's fallback path"
rc_assert_match "$(path 1)" \
	"Taking Over > Running in Backup Mode > Falling Back > Normal$" "n2's takeover and fallback path"

rc=0
wait "$RCHA" || rc=$?
cat "$RC_WORK/rcha-run.log"
for f in pauses events; do cp "$OUT/$f.tsv" "$RC_WORK/rcha-$f.log"; done
rc_assert_eq "$rc" 0 "rcha run exit status"
rc_assert_eq "$(val unacked "$RC_WORK/rcha-run.log")" 0 "unacked at the end"
rc_assert_eq "$(val relogins "$RC_WORK/rcha-run.log")" 0 "relogins (sessions kept)"
rc_assert_int_gt "$(val resumes "$RC_WORK/rcha-run.log")" 0 "RESUMEs seen by clients"
# user A (even users, on n1) resumed on n2, then back on n1; user B (odd, on n2) never moved
for u in 0 2 4 6; do
	rc_assert_eq "$(awk -v u="ha$u" '$2 == u && $3 == "resumed" { printf "%s %s;", $4, $5 }' \
		"$OUT/events.tsv")" "n2 failover;n1 fallback;" "user ha$u resumed on n2, then on n1"
done
for u in 1 3 5 7; do
	rc_assert_eq "$(awk -v u="ha$u" '$2 == u && $3 == "resumed"' "$OUT/events.tsv" | wc -l)" 0 \
		"user ha$u (on n2) never moved"
done

rc_ha_verify "$RC_WORK/verify.log"
rc_ha_stop 1 || rc_fail "n2 did not exit cleanly"
rc_ha_stop 0 || rc_fail "n1 did not exit cleanly"
