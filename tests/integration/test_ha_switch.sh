#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The group's "enable high availability" switch on a running pair (n1, n2 of group g1 in a
# cluster state), real processes, real PostgreSQL, namespaces:
#   1. both Normal: verify ha passes (what the nodes report: TC running, HA state, the
#      database each really uses, heartbeats both ways).
#   2. `group set g1 ha off` (no restart): both Unknown (High Availability Not Enabled);
#      verify ha fails, naming it. A user of n1 (rcproto ha-off) joins and posts in a room of
#      n1; n1 is SIGKILLed: n2 resumes the user's session (RESUME failover) but the room
#      answers ERROR 8 "unavailable until n1 returns" (verify ha from n2 names n1 down); n1
#      restarts: the session goes back to it (RESUME fallback) and the room works again,
#      its seqs following on.
#   3. `group set g1 ha on` (no restart): both Normal again. Clients post to both nodes
#      (rcha) while n1 is SIGKILLed: n2 takes its rooms (Running in Backup Mode); `group set
#      g1 ha off` is refused meanwhile (n1 does not answer); n1 restarts, fallback.
#   4. `service stop tc --node n1` (run on n2): n1's rooms fail over (n1 Failed Over with
#      Critical Services Not Running, reason Critical Service Down; n2 Running in Backup
#      Mode); `group set g1 ha off` is refused (n2 in backup mode: fall back first); verify
#      ha fails on n1's TC; `service start tc --node n1`: n1 Failed Over (Auto
#      Recover), then the fallback; verify ha passes. rcha verify: 0 lost / 0 duplicates.
# rc-timeout: 400
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=ha_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ha_lib.sh"

RC_RCHA="$RC_BUILD/tests/tools/rcha"

rc_init ha_switch
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCHA"
rc_require_cmds psql python3 jq
rc_start_pg
rc_ha_setup
SEED="$RC_WORK/cluster.conf"
cat >"$SEED" <<EOF
clusters = ( {
  name = "c1";
  groups = (
    { name = "g1"; ha = true; assignment = "balanced";
      nodes = ( { id = "n1"; mgmt = "${RC_HA_LINK_IP[0]}:9464"; vip = "${RC_HA_VIP[0]}"; },
                { id = "n2"; mgmt = "${RC_HA_LINK_IP[1]}:9465"; vip = "${RC_HA_VIP[1]}"; } ); }
  ); } );
chat = { enabled = true; };
EOF
RC_CLUSTER_FILE=$SEED rc_ha_write_confs
rc_ha_pair_up
mapfile -t BIND < <(rc_bind_args)
val() { sed -n "s/^$1: //p" "$2"; } # KEY FILE

verify_ok() { rc_ha_ctl "$1" -j verify ha 2>/dev/null | jq -e '.ok == true' >/dev/null; }
failing() { # I: the failing checks of verify ha on node I, "check: detail [fix: ...]"
	{ rc_ha_ctl "$1" -j verify ha 2>/dev/null || true; } |
		jq -r '.checks[] | select(.ok == false) | "\(.check): \(.detail) [fix: \(.fix)]"'
}
fails_with() { grep -Eq -- "$2" <<<"$(failing "$1")"; } # I ERE
state_is() { [ "$(rc_ha_state "$1")" = "$2" ]; }
reason_of() { rc_ha_ctl "$1" -j ha status | jq -r '.reason'; }

# 1.
rc_log "step 1: both Normal; verify ha from what the nodes report"
rc_wait_until 15 "verify ha passes on n1" verify_ok 0
rc_ha_ctl 0 verify ha
rc_assert_eq "$(rc_ha_ctl 1 -j verify ha | jq -r '.reports.n1.ha.state')" Normal \
	"verify ha on n2 shows n1's own report"

# 2.
rc_log "step 2: group set g1 ha off on the running pair"
rc_ha_ctl 0 group set g1 ha off || rc_fail "group set g1 ha off refused while both are Normal"
rc_wait_until 10 "n1 Unknown" state_is 0 Unknown
rc_wait_until 10 "n2 Unknown" state_is 1 Unknown
rc_assert_eq "$(reason_of 1)" "High Availability Not Enabled" "n2's reason"
rc_wait_until 10 "verify ha fails: high availability off" fails_with 0 \
	'^high availability on group g1: node n[12] reports high availability off'
failing 0
rc_assert_fails "verify ha exits 1" rc_ha_ctl 0 verify ha

TOKEN=$(rc_ha_ctl 0 token mint alice | grep -oE 'v2\.[0-9]+\.[0-9]+\.[0-9]+\.[0-9a-f]{64}' | head -n 1)
[ -n "$TOKEN" ] || rc_fail "no token for alice"
PROTO_LOG="$RC_WORK/rcproto-ha-off.log"
rc_cli python3 -B "$RC_ROOT/tests/tools/rcproto.py" --server "${RC_HA_VIP[0]}:$RC_PORT" \
	--bind-ip "${RC_CLIENT_IPS[0]}" --user alice --token "$TOKEN" --room offroom --node n1 \
	--cmid 7 --resume-wait 60 ha-off >"$PROTO_LOG" 2>&1 &
PROTO=$!
RC_BG_PIDS+=("$PROTO")
proto_at() { grep -q "rcproto: step $1" "$PROTO_LOG"; }
rc_wait_until 10 "alice joined offroom on n1" proto_at 1
rc_log "SIGKILL n1 (ha off)"
rc_ha_kill 0
rc_wait_until 15 "n2 resumed alice, offroom unavailable" proto_at 2
cat "$PROTO_LOG"
rc_assert_match "$(cat "$PROTO_LOG")" 'resumed on n2 \(failover\)' "alice resumed on n2"
rc_assert_match "$(cat "$PROTO_LOG")" 'JOIN answered ERROR 8: unavailable until n1 returns' \
	"offroom unavailable"
rc_assert_eq "$(rc_ha_state 1)" Unknown "n2 stays Unknown (no takeover of the rooms)"
rc_assert_fails "n2 does not host offroom" grep -q offroom <<<"$(rc_ha_ctl 1 room list)"
rc_assert "n2 logs the users it took" grep -q "users of n1 and its address served here" \
	"${RC_HA_LOG[1]}"
rc_wait_until 10 "verify ha on n2 names n1 down" fails_with 1 \
	'node n1 does not answer.*start roomcastd on node n1'
failing 1
rc_log "n1 restarts (ha off)"
rc_ha_start 0
rc_wait_until 30 "alice back on n1, offroom served again" proto_at 3
rc=0
wait "$PROTO" || rc=$?
cat "$PROTO_LOG"
rc_assert_eq "$rc" 0 "rcproto ha-off exit status"
rc_assert_match "$(cat "$PROTO_LOG")" 'resumed on n1 \(fallback\)' "alice handed back to n1"
rc_wait_until 10 "n1 Unknown" state_is 0 Unknown

# 3.
rc_log "step 3: group set g1 ha on on the running pair, then a SIGKILL under load"
rc_ha_ctl 1 group set g1 ha on || rc_fail "group set g1 ha on refused"
rc_ha_wait_state 0 Normal 20
rc_ha_wait_state 1 Normal 20
rc_wait_until 15 "verify ha passes again" verify_ok 1
OUT="$RC_WORK/rcha"
ip netns exec "$RC_NS_CLI" "$RC_RCHA" run --server "${RC_HA_VIP[0]}" \
	--server "${RC_HA_VIP[1]}" --port "$RC_PORT" --users 8 --room-prefix room- --rooms 2 \
	--rate 10 --duration 40 --drain 20 --secret "$RC_SECRET" --out "$OUT" "${BIND[@]}" \
	>"$RC_WORK/rcha-run.log" 2>&1 &
RCHA=$!
RC_BG_PIDS+=("$RCHA")
sleep 3
rc_ha_kill 0
rc_ha_wait_state 1 "Running in Backup Mode" 10
rc_assert_match "$(rc_ha_ctl 1 room list)" "room-0" "n2 hosts n1's room"
rc_log "group set g1 ha off while n2 serves n1's rooms: refused"
rc_assert_fails "ha off refused in backup mode" rc_ha_ctl 1 group set g1 ha off
rc_assert_match "$(rc_ha_ctl 1 group set g1 ha off 2>&1)" \
	'node n1 does not answer.*retry when it answers' "the refusal says why"
rc_assert_eq "$(rc_ha_ctl 1 -j group show g1 | jq -r .ha)" true "ha stays on"
rc_ha_start 0
rc_ha_wait_state 0 "Failed Over" 15
rc_ha_ctl 0 ha fallback g1
rc_ha_wait_state 0 Normal 15
rc_ha_wait_state 1 Normal 15

# 4.
rc_log "step 4: service stop tc --node n1 (on n2): n1's rooms fail over"
rc_ha_ctl 1 service stop tc --node n1
rc_ha_wait_state 0 "Failed Over with Critical Services Not Running" 15
rc_ha_wait_state 1 "Running in Backup Mode" 15
rc_assert_eq "$(reason_of 0)" "Critical Service Down" "n1's reason"
rc_assert_eq "$(reason_of 1)" "Critical Service Down" "n2's reason"
rc_assert_match "$(rc_ha_ctl 1 room list)" "room-0" "n2 hosts n1's room"
rc_log "group set g1 ha off while n2 is Running in Backup Mode, n1 up: refused"
rc_assert_fails "ha off refused in backup mode" rc_ha_ctl 0 group set g1 ha off
rc_assert_match "$(rc_ha_ctl 0 group set g1 ha off 2>&1)" \
	'node n2 is Running in Backup Mode \(Critical Service Down\).*Fall back first \(roomcastctl ha fallback g1\)' \
	"the refusal names the backup mode and the fallback"
rc_assert_eq "$(rc_ha_state 1)" "Running in Backup Mode" "n2 still serves n1's rooms"
rc_wait_until 10 "verify ha fails on n1's TC" fails_with 1 \
	'^TC service on node n1: stopped by the administrator.*service start tc --node n1'
failing 1
rc_ha_ctl 0 service start tc --node n1
rc_ha_wait_state 0 "Failed Over" 15
rc_assert_eq "$(reason_of 0)" "Auto Recover (critical service)" "n1's reason once TC runs"
rc_ha_ctl 0 ha fallback g1
rc_ha_wait_state 0 Normal 15
rc_ha_wait_state 1 Normal 15
rc_wait_until 15 "verify ha passes at the end" verify_ok 0
path() { rc_ha_ctl "$1" -j ha status | jq -r '.fsm.history | map(.to) | join(" > ")'; }
rc_log "n1: $(path 0)"
rc_log "n2: $(path 1)"
rc_assert_match "$(path 0)" \
	"Failing Over > Failed Over with Critical Services Not Running > Failed Over > Taking Back > Normal$" \
	"n1's path through the TC stop"

rc=0
wait "$RCHA" || rc=$?
cat "$RC_WORK/rcha-run.log"
rc_assert_eq "$rc" 0 "rcha run exit status"
rc_assert_eq "$(val unacked "$RC_WORK/rcha-run.log")" 0 "unacked at the end"
rc_ha_verify "$RC_WORK/verify.log"
rc_ha_stop 1 || rc_fail "n2 did not exit cleanly"
rc_ha_stop 0 || rc_fail "n1 did not exit cleanly"
