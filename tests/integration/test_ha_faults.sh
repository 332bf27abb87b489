#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The HA pair's fault matrix (issue 5), real processes, real PostgreSQL, network namespaces.
# Clients post continuously to both nodes (rcha) through each scenario; each one ends with
# rcha verify: 0 acknowledged messages lost, 0 duplicates, no gap, no client logged in twice.
#   A. the TC service alone fails on n1 (its workers hang: `ha fault stall-workers`):
#      n1 Failing Over -> Failed Over with Critical Services Not Running (Critical Service
#      Down), n2 Running in Backup Mode; the service comes back: n1 Failed Over (Auto
#      Recover (critical service)); `ha fallback` -> both Normal.
#   B. manual failover: `ha failover n2` (run on n1: relayed to n2 over the HA link) -> n2
#      Idle (On Admin Request), n1 Running in Backup Mode; `ha fallback n2` (on n1, relayed)
#      -> both Normal.
#   C. the HA link is cut, both nodes alive: each keeps its own rooms (its lease), neither
#      takes the other's (lease refused), nothing is fenced; the link comes back.
#   D. PostgreSQL is unreachable when n1 is killed: n2 cannot win n1's lease (and fences
#      itself when its own lease cannot be renewed); PostgreSQL returns: n2 takes n1's rooms.
#   E. a takeover that fails (`ha fault fail-load` on n1, then n2 killed): n1 Running in
#      Failed Mode (Take Over Users Failed), still serving its own rooms; `ha recover`: n1
#      takes n2's rooms over (Running in Backup Mode); n2 restarts; fallback.
# rc-timeout: 420
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=ha_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ha_lib.sh"

RC_RCHA="$RC_BUILD/tests/tools/rcha"

rc_init ha_faults
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCHA"
rc_require_cmds psql
rc_start_pg
rc_ha_setup
rc_ha_write_confs
rc_ha_pair_up
mapfile -t BIND < <(rc_bind_args)
val() { sed -n "s/^$1: //p" "$2"; } # KEY FILE
reason() { rc_ha_ctl "$1" -j ha status | jq -r '.reason'; }

RCHA=""
# load_start NAME SECONDS: rcha in the background, 8 users over both nodes, rooms NAME-0/1
load_start() {
	OUT="$RC_WORK/rcha-$1"
	ip netns exec "$RC_NS_CLI" "$RC_RCHA" run --server "${RC_HA_VIP[0]}" \
		--server "${RC_HA_VIP[1]}" --port "$RC_PORT" --users 8 --room-prefix "$1-" \
		--rooms 2 --rate 10 --duration "$2" --drain 15 --secret "$RC_SECRET" --out "$OUT" \
		"${BIND[@]}" >"$RC_WORK/rcha-$1.log" 2>&1 &
	RCHA=$!
	RC_BG_PIDS+=("$RCHA")
}
backlog_empty() {
	[ "$(rc_ha_ctl 0 -j db status | jq -r '.backlog.records')" = 0 ] &&
		[ "$(rc_ha_ctl 1 -j db status | jq -r '.backlog.records')" = 0 ]
}
# load_check NAME: rcha finished cleanly and the database holds exactly what was acked
load_check() {
	local rc=0 k
	wait "$RCHA" || rc=$?
	cat "$RC_WORK/rcha-$1.log"
	rc_assert_eq "$rc" 0 "$1: rcha run exit status"
	rc_assert_eq "$(val unacked "$RC_WORK/rcha-$1.log")" 0 "$1: unacked at the end"
	rc_assert_eq "$(val relogins "$RC_WORK/rcha-$1.log")" 0 "$1: relogins (sessions kept)"
	rc_assert_int_gt "$(val acked "$RC_WORK/rcha-$1.log")" 100 "$1: ACKs"
	rc_wait_until 30 "$1: both backlogs drain" backlog_empty
	rc_assert "$1: rcha verify" "$RC_RCHA" verify --out "$OUT" \
		--conninfo "$RC_PG_CONNINFO" >"$RC_WORK/verify-$1.log" 2>&1
	cat "$RC_WORK/verify-$1.log"
	for k in lost_acked duplicates gaps relogins; do
		rc_assert_eq "$(val "$k" "$RC_WORK/verify-$1.log")" 0 "$1: verify $k"
	done
}

rc_log "==== A. the TC service fails on n1"
load_start tc 14
sleep 3
rc_ha_ctl 0 ha fault stall-workers
rc_ha_wait_state 0 "Failed Over with Critical Services Not Running" 10
rc_assert_eq "$(reason 0)" "Critical Service Down" "A: n1's reason"
rc_ha_wait_state 1 "Running in Backup Mode" 10
rc_assert_eq "$(reason 1)" "Critical Service Down" "A: n2's reason (the peer's)"
rc_assert_match "$(rc_ha_ctl 1 room list)" "tc-0" "A: n2 hosts n1's room"
sleep 2
rc_ha_ctl 0 ha fault resume-workers
rc_ha_wait_state 0 "Failed Over" 10
rc_assert_eq "$(reason 0)" "Auto Recover (critical service)" "A: n1 recovered by itself"
rc_assert_fails "A: recover refused outside Running in Failed Mode" rc_ha_ctl 0 ha recover
rc_ha_ctl 0 ha fallback n1
rc_ha_wait_state 0 Normal 10
rc_ha_wait_state 1 Normal 10
load_check tc

rc_log "==== B. manual failover of n2, then fallback"
load_start manual 12
sleep 3
rc_assert_fails "B: failover of an unknown node is refused" rc_ha_ctl 0 ha failover n9
rc_ha_ctl 0 ha failover n2 # run on n1: relayed to n2 over the HA link
rc_ha_wait_state 1 Idle 10
rc_assert_eq "$(reason 1)" "On Admin Request" "B: n2's reason"
rc_ha_wait_state 0 "Running in Backup Mode" 10
rc_assert_eq "$(reason 0)" "On Admin Request" "B: n1's reason"
rc_assert_match "$(rc_ha_ctl 0 room list)" "manual-1" "B: n1 hosts n2's room"
sleep 2
rc_ha_ctl 0 ha fallback n2 # on n1, which serves n2's rooms: relayed to n2
rc_ha_wait_state 1 Normal 10
rc_ha_wait_state 0 Normal 10
load_check manual

rc_log "==== C. the HA link is cut for 4 s, both nodes alive"
f0=$(rc_ha_ctl 0 -j ha status | jq '.fences + .takeovers')
f1=$(rc_ha_ctl 1 -j ha status | jq '.fences + .takeovers')
load_start link 12
sleep 3
rc_ha_link down
sleep 4
rc_ha_ctl 0 ha status
rc_ha_ctl 1 ha status
for i in 0 1; do
	s=$(rc_ha_state "$i")
	case "$s" in "Normal" | "Taking Over") ;; *) rc_fail "C: ${RC_HA_ID[i]} is \"$s\"" ;; esac
	rc_assert_eq "$(rc_ha_ctl "$i" -j ha status | jq -r '.scopes[0].served')" true \
		"C: ${RC_HA_ID[i]} still serves its own rooms"
	rc_assert_eq "$(rc_ha_ctl "$i" -j ha status | jq -r '.scopes[1].served')" false \
		"C: ${RC_HA_ID[i]} does not serve its peer's"
done
# durability "peer": with no peer copy, each node acknowledges on its local commit alone:
# that downgrade is an alarm, counted (never silent)
for i in 0 1; do
	rc_assert_eq "$(rc_ha_ctl "$i" -j ha status | jq -r '.scopes[0].acks_local_only')" true \
		"C: ${RC_HA_ID[i]} shows its ACKs on the local commit only"
	rc_assert_int_gt "$(rc_ha_ctl "$i" -j ha status | jq '.durability_downgrades')" 0 \
		"C: ${RC_HA_ID[i]} counted the downgrade"
done
rc_ha_link up
rc_ha_wait_state 0 Normal 10
rc_ha_wait_state 1 Normal 10
rc_assert_eq "$(rc_ha_ctl 0 -j ha status | jq '.fences + .takeovers')" "$f0" "C: n1 neither fenced nor took over"
rc_assert_eq "$(rc_ha_ctl 1 -j ha status | jq '.fences + .takeovers')" "$f1" "C: n2 neither fenced nor took over"
load_check link

rc_log "==== D. PostgreSQL unreachable while n1 is killed"
load_start pgdown 16
sleep 3
rc_stop_pg
rc_ha_kill 0
sleep 3
s=$(rc_ha_state 1)
rc_log "n2 with the database down and n1 dead: $s ($(reason 1))"
rc_assert_eq "$(rc_ha_ctl 1 -j ha status | jq -r '.scopes[1].served')" false \
	"D: n2 does not serve n1's rooms without winning the lease"
rc_start_pg
rc_ha_wait_state 1 "Running in Backup Mode" 15
rc_assert_match "$(rc_ha_ctl 1 room list)" "pgdown-0" "D: n2 hosts n1's room once the database is back"
rc_ha_start 0
rc_ha_wait_state 0 "Failed Over" 15
rc_ha_ctl 0 ha fallback n1
rc_ha_wait_state 0 Normal 10
rc_ha_wait_state 1 Normal 10
load_check pgdown

rc_log "==== E. a takeover that fails, then ha recover"
load_start recover 16
sleep 3
rc_ha_ctl 0 ha fault fail-load
rc_ha_kill 1
rc_ha_wait_state 0 "Running in Failed Mode" 10
rc_assert_eq "$(reason 0)" "Take Over Users Failed" "E: n1's reason"
rc_assert_eq "$(rc_ha_ctl 0 -j ha status | jq -r '.scopes[0].served')" true \
	"E: n1 still serves its own rooms"
rc_assert_eq "$(rc_ha_ctl 0 -j ha status | jq -r '.scopes[1].served')" false \
	"E: n1 does not serve n2's rooms"
rc_assert_fails "E: fallback refused in Running in Failed Mode" rc_ha_ctl 0 ha fallback n1
rc_ha_ctl 0 ha recover n1
rc_ha_wait_state 0 "Running in Backup Mode" 15
rc_assert_match "$(rc_ha_ctl 0 room list)" "recover-1" "E: n1 hosts n2's room after recover"
rc_ha_start 1
rc_ha_wait_state 1 "Failed Over" 15
rc_ha_ctl 1 ha fallback n2
rc_ha_wait_state 1 Normal 10
rc_ha_wait_state 0 Normal 10
load_check recover

rc_ha_stop 1 || rc_fail "n2 did not exit cleanly"
rc_ha_stop 0 || rc_fail "n1 did not exit cleanly"
