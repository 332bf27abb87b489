#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Re-sent POSTs across a failover and a fallback (PROTOCOL.md 7.6; issue 9, S7): the HA pair
# (real processes, DPDK net_af_packet, the WAL stream, a real PostgreSQL).
#  1. n1 runs alone (n2 not started yet): alice POSTs to lobby (cmid 1000), then 10 000 POSTs
#     by other users in another room and 200 by bob in lobby, all drained to PostgreSQL; then
#     n2 starts and its copy of n1's WAL catches up. (n1 keeps the records n2 has not
#     acknowledged: before, n1 had trimmed the drained ones beyond wal.keep_records, n2 got a
#     snapshot instead, and alice's record was missing from n2's copy.)
#  2. n1 is killed with SIGKILL: n2 takes over n1's rooms from its copy of n1's WAL and
#     rebuilds their re-sent POST windows from it; alice's resend, through n1's service
#     address (now answered by n2), gets the same seq; a new POST continues the room's seqs.
#  3. n1 restarts, `ha fallback n1`: n1 hosts lobby again and answers both of alice's
#     resends with their first seqs.
#  4. PostgreSQL: lobby's seqs 1..N once each, each (sender, cmid) once, no alarm.
# rc-timeout: 420
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=ha_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ha_lib.sh"

RC_RCRESEND="$RC_BUILD/tests/tools/rcresend"
rc_init ha_resend
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCLOAD" "$RC_RCRESEND"
rc_require_cmds psql
rc_start_pg
export RC_POST_RATE=100000 RC_POST_BURST=100000 RC_KEEP_RECORDS=1000
rc_ha_setup
rc_ha_write_confs
rc_ha_start 0
rc_ha_wait_state 0 Normal 20
mapfile -t BIND < <(rc_bind_args)

# resend USER CMID: the seq n1's service address answers with (retried through a failover)
resend() {
	ip netns exec "$RC_NS_CLI" "$RC_RCRESEND" --server "${RC_HA_VIP[0]}:$RC_PORT" \
		--secret "$RC_SECRET" --user "$1" --room lobby --cmid "$2" \
		--bind-ip "${RC_CLIENT_IPS[0]}" --timeout-ms 15000 | sed -n 's/^seq //p'
}
load() { # ROOM USERS POSTS PREFIX: rcload against n1's service address
	rc_assert "$3 x $2 POSTs in $1" timeout 120 ip netns exec "$RC_NS_CLI" "$RC_RCLOAD" \
		--server "${RC_HA_VIP[0]}:$RC_PORT" --secret "$RC_SECRET" --users "$2" \
		--posts "$3" --room "$1" --prefix "$4" "${BIND[@]}"
}
n1_backlog_empty() { [ "$(rc_ha_ctl 0 -j db status | jq -r '.backlog.records')" = 0 ]; }
backlog_empty() {
	[ "$(rc_ha_ctl 0 -j db status | jq -r '.backlog.records')" = 0 ] &&
		[ "$(rc_ha_ctl 1 -j db status | jq -r '.backlog.records')" = 0 ]
}

stream_caught_up() { # n1's copy on n2 holds every record of n1's WAL
	rc_ha_ctl 0 -j ha status | jq -e '.scopes[] | select(.scope == "rooms:n1") |
		.stream_connected and .lag_records == 0' >/dev/null
}

rc_log "step 1: alice's POST on n1 alone, then 10 200 POSTs of others, drained"
rc_assert_eq "$(resend alice 1000)" 1 "alice's first POST: seq 1"
load elsewhere 20 500 m
load lobby 1 200 bob
rc_wait_until 30 "n1's backlog drains" n1_backlog_empty
rc_ha_start 1
rc_ha_wait_state 1 Normal 20
rc_ha_wait_state 0 Normal 20
rc_wait_until 30 "n2's copy of n1's WAL catches up" stream_caught_up
rc_assert_eq "$(rc_ha_ctl 0 -j db status | jq '.lmdb.peer_trimmed')" 0 \
	"n1 trimmed nothing n2 had not acknowledged"
rc_assert_eq "$(resend alice 1000)" 1 "alice's resend on n1: seq 1"

rc_log "step 2: SIGKILL n1, n2 takes over"
rc_ha_kill 0
rc_ha_wait_state 1 "Running in Backup Mode" 15
rc_assert_match "$(rc_ha_ctl 1 room list)" "lobby" "n2 hosts n1's lobby"
rc_assert_eq "$(resend alice 1000)" 1 "alice's resend after the failover (n2): seq 1"
rc_assert_eq "$(resend alice 1001)" 202 "alice's next POST on n2: seq 202"
rc_assert_eq "$(resend alice 1001)" 202 "and its resend on n2: seq 202"

rc_log "step 3: n1 back, fallback"
rc_ha_start 0
rc_ha_wait_state 0 "Failed Over" 20
rc_ha_ctl 0 ha fallback n1
rc_ha_wait_state 0 Normal 20
rc_ha_wait_state 1 Normal 20
rc_assert_eq "$(resend alice 1000)" 1 "alice's resend after the fallback (n1): seq 1"
rc_assert_eq "$(resend alice 1001)" 202 "alice's cmid 1001 after the fallback: seq 202"

rc_log "step 4: PostgreSQL"
rc_wait_until 60 "both backlogs drain" backlog_empty
rc_assert_eq "$(rc_psql "SELECT count(*), count(DISTINCT seq), min(seq), max(seq),
		count(DISTINCT (sender, cmid)) FROM messages WHERE room = '$(rc_room lobby n1)'")" \
	"202|202|1|202|202" "lobby in PostgreSQL: seqs 1..202 once each, each (sender, cmid) once"
rc_assert_eq "$(rc_psql "SELECT count(*) FROM messages WHERE room = '$(rc_room elsewhere n1)'")" 10000 \
	"the 10 000 other POSTs"
rc_assert_eq "$(rc_psql 'SELECT count(*) FROM drain_alarms')" 0 "no drain alarm"
rc_ha_stop 1 || rc_fail "n2 did not exit cleanly"
rc_ha_stop 0 || rc_fail "n1 did not exit cleanly"
