#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Floods of the HA link cannot take the pair's durability away (issue 9, review S3): the HA
# pair (real processes, real PostgreSQL, namespaces), clients posting throughout (rcha),
# and on the HA link, from the peer's own address and from another host of the segment
# (198.19.0.3), for the whole test (tests/tools/rcflood):
#   - idle TCP connections to both WAL stream listeners, reopened as soon as closed;
#   - junk heartbeats (shaped like heartbeats, random MAC) to n1.
#   1. Under the flood, with durability "peer": n1 never declares n2 dead, neither node
#      takes over, fences or acknowledges on its local commit alone; the connections from
#      the other host are refused as wrong_source, those from the peer's address evicted,
#      the junk heartbeats dropped (wrong_source / forged).
#   2. n2 is killed and restarted under the flood: the stream to its (flooded) listener
#      comes up again, so the fallback hands n2's rooms back with nothing missing.
# rcha verify: 0 acknowledged messages lost, 0 duplicates, no gap, no re-login.
# rc-timeout: 300
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=ha_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ha_lib.sh"

RC_RCHA="$RC_BUILD/tests/tools/rcha"
RC_FLOOD="$RC_BUILD/tests/tools/rcflood"
OTHER=198.19.0.3 # another host on the HA segment

rc_init ha_link_flood
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCHA" "$RC_FLOOD"
rc_require_cmds psql jq
rc_start_pg
rc_ha_setup
rc_ha_write_confs
rc_ha_pair_up
ip -n "${RC_HA_NS[1]}" addr add "$OTHER/24" dev "${RC_IF_HA[1]}" || rc_fail "addr $OTHER"
mapfile -t BIND < <(rc_bind_args)
val() { sed -n "s/^$1: //p" "$2"; } # KEY FILE
st() { rc_ha_ctl "$1" -j ha status | jq -r "$2"; } # I JQ-FILTER
is() { [ "$(st "$1" "$2")" = "$3" ]; }      # I JQ-FILTER VALUE (evaluated at each call)
above() { [ "$(st "$1" "$2")" -gt "$3" ]; } # I JQ-FILTER N

OUT="$RC_WORK/rcha-flood"
ip netns exec "$RC_NS_CLI" "$RC_RCHA" run --server "${RC_HA_VIP[0]}" \
	--server "${RC_HA_VIP[1]}" --port "$RC_PORT" --users 8 --room-prefix "flood-" \
	--rooms 2 --rate 10 --duration 30 --drain 30 --secret "$RC_SECRET" --out "$OUT" \
	"${BIND[@]}" >"$RC_WORK/rcha-flood.log" 2>&1 &
RCHA=$!
RC_BG_PIDS+=("$RCHA")
rc_wait_until 20 "n1 stores POSTs" above 0 '.scopes[0].last_lsn' 20

flood() { # NS-INDEX LOG ARGS...
	local ns=${RC_HA_NS[$1]} log=$2
	shift 2
	ip netns exec "$ns" "$RC_FLOOD" "$@" >"$RC_WORK/$log" 2>&1 &
	RC_BG_PIDS+=("$!")
}
L0="${RC_HA_LINK_IP[0]}:$RC_HA_PORT"
L1="${RC_HA_LINK_IP[1]}:$RC_HA_PORT"
flood 1 tcp-peer-n1.log tcp --to "$L0" --conns 12 --seconds 45 --bind "${RC_HA_LINK_IP[1]}"
flood 1 tcp-other-n1.log tcp --to "$L0" --conns 4 --seconds 45 --bind "$OTHER"
flood 0 tcp-peer-n2.log tcp --to "$L1" --conns 12 --seconds 45 --bind "${RC_HA_LINK_IP[0]}"
flood 1 udp-other-n1.log udp --to "$L0" --pps 10000 --seconds 45 --bind "$OTHER"
flood 1 udp-peer-n1.log udp --to "$L0" --pps 2000 --seconds 45 --bind "${RC_HA_LINK_IP[1]}"

rc_log "==== 1. under the flood"
dead0=$(st 0 .heartbeat_peer_dead)
moves0=$(st 0 '.takeovers + .fences')
moves1=$(st 1 '.takeovers + .fences')
down0=$(st 0 .durability_downgrades)
down1=$(st 1 .durability_downgrades)
rc_wait_until 15 "n1 evicts idle connections from the peer's address" \
	above 0 .stream_listener.evicted 0
rc_wait_until 15 "n1 refuses stream connections from another host" \
	above 0 .stream_listener.wrong_source 0
rc_wait_until 15 "n1 drops heartbeats from another host before their MAC" \
	above 0 .heartbeat_drops.wrong_source 1000
rc_wait_until 15 "n1 drops forged heartbeats from the peer's address" \
	above 0 .heartbeat_drops.forged 1000
rc_wait_until 15 "n1 counts more genuine heartbeats meanwhile" \
	above 0 .heartbeats_rx "$(($(st 0 .heartbeats_rx) + 50))"
rc_ha_ctl 0 ha status
for i in 0 1; do
	rc_assert_eq "$(rc_ha_state "$i")" Normal "1: ${RC_HA_ID[i]} stays Normal"
	rc_assert_eq "$(st "$i" '.scopes[0].stream_connected')" true \
		"1: ${RC_HA_ID[i]}'s stream stays connected"
done
rc_assert_eq "$(st 0 .heartbeat_peer_dead)" "$dead0" "1: n1 never declared n2 dead"
rc_assert_eq "$(st 0 '.takeovers + .fences')" "$moves0" "1: n1 neither took over nor fenced"
rc_assert_eq "$(st 1 '.takeovers + .fences')" "$moves1" "1: n2 neither took over nor fenced"
rc_assert_eq "$(st 0 .durability_downgrades)" "$down0" "1: n1 never acked alone"
rc_assert_eq "$(st 1 .durability_downgrades)" "$down1" "1: n2 never acked alone"

rc_log "==== 2. n2 killed and restarted under the flood"
rc_ha_kill 1
rc_ha_wait_state 0 "Running in Backup Mode" 15
rc_ha_start 1
rc_ha_wait_state 1 "Failed Over" 20
# n1 writes both scopes now: its stream of n2's rooms must get into n2's flooded listener
rc_wait_until 20 "n1's stream of n2's rooms connects to n2 under the flood" \
	is 0 '.scopes[1].stream_connected' true
rc_wait_until 20 "n2 holds all of its rooms' records" is 0 '.scopes[1].lag_records' 0
rc_ha_ctl 1 ha fallback n2
rc_ha_wait_state 1 Normal 15
rc_ha_wait_state 0 Normal 15
rc_assert_int_gt "$(st 1 .stream_listener.evicted)" 0 "2: n2 evicted idle connections"

rc=0
wait "$RCHA" || rc=$?
cat "$RC_WORK/rcha-flood.log"
rc_assert_eq "$rc" 0 "rcha run exit status"
rc_assert_eq "$(val unacked "$RC_WORK/rcha-flood.log")" 0 "unacked at the end"
rc_assert_eq "$(val relogins "$RC_WORK/rcha-flood.log")" 0 "relogins (sessions kept)"
rc_assert_int_gt "$(val acked "$RC_WORK/rcha-flood.log")" 100 "ACKs"
rc_ha_verify "$RC_WORK/verify-flood.log"

rc_ha_stop 1 || rc_fail "n2 did not exit cleanly"
rc_ha_stop 0 || rc_fail "n1 did not exit cleanly"
