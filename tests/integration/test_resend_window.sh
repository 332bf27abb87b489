#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Re-sent POSTs are recognised per room, by full user name, whatever the traffic elsewhere
# (PROTOCOL.md 7.6; issue 9, review rows S7 and S8), with roomcastd on net_af_packet and a
# real PostgreSQL as the store of record:
#  1. alice POSTs to lobby (cmid 1000, seq 1); then 10 000 POSTs by 20 other users in another
#     room and 300 by bob in lobby; alice's resend (a new client, same cmid) is answered with
#     seq 1 and nothing is stored again. (Before: one 4096-entry window per worker shared by
#     every room: the resend was stored a second time.)
#  2. "nHUp;" (whose old 64-bit user hash equals alice's) posts alice's next cmid first: both
#     are stored, each user gets their own seq.
#  3. everything drained and trimmed from LMDB but the newest 1000 messages, then SIGKILL +
#     restart: the windows are rebuilt from the WAL's re-sent POST keys (not the messages):
#     alice's and nHUp;'s resends get their first seqs again.
#  4. PostgreSQL holds lobby's seqs 1..N once each, alice's cmid 1000 once, no alarm.
# rc-timeout: 400
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RC_RCRESEND="$RC_BUILD/tests/tools/rcresend"
rc_init resend
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCLOAD" "$RC_RCRESEND"
rc_require_cmds psql
rc_setup_netns
rc_start_pg
# the rate limit is not what is tested here; keep_records small so that LMDB's recent window
# alone would not hold alice's message (each room keeps its last dedup_window messages)
export RC_POST_RATE=100000 RC_POST_BURST=100000 RC_KEEP_RECORDS=1000
rc_write_node_conf
rc_start_node
mapfile -t BIND < <(rc_bind_args)

# resend USER CMID: prints the seq the node answers with
resend() {
	rc_cli "$RC_RCRESEND" --server "$RC_SERVICE_IP:$RC_PORT" --secret "$RC_SECRET" \
		--user "$1" --room lobby --cmid "$2" --bind-ip "${RC_CLIENT_IPS[0]}" |
		sed -n 's/^seq //p'
}
backlog_empty() { [ "$(rc_ctl -j db status | jq -r '.backlog.records')" = 0 ]; }
resends_acked() { rc_ctl -j stats | jq '[.lcores[].resends_acked] | add'; }

rc_log "step 1: alice's POST, 10 300 POSTs of others, alice's resend"
rc_assert_eq "$(resend alice 1000)" 1 "alice's first POST gets seq 1"
rc_assert "10 000 POSTs by 20 users in room elsewhere" rc_rcload --users 20 --posts 500 \
	--room elsewhere --prefix m "${BIND[@]}"
rc_assert "300 POSTs by bob in lobby" rc_rcload --users 1 --posts 300 --room lobby \
	--prefix bob "${BIND[@]}"
acked0=$(resends_acked)
rc_assert_eq "$(resend alice 1000)" 1 "alice's resend after 10 300 other POSTs: the same seq"
rc_assert_int_gt "$(resends_acked)" "$acked0" "answered from the window (resends_acked)"

rc_log "step 2: a user whose old 64-bit hash equals alice's"
rc_assert_eq "$(resend 'nHUp;' 1001)" 302 "nHUp; posts cmid 1001 first: a message of its own"
rc_assert_eq "$(resend alice 1001)" 303 "alice's cmid 1001 is hers, stored as seq 303"

rc_log "step 3: SIGKILL and restart: the windows come back from the WAL"
# drained, and trimmed well past alice's message (the oldest): the window must come from the
# WAL's re-sent POST keys, not from the messages
trimmed_past() { [ "$(rc_ctl -j db status | jq -r '.lmdb.trimmed')" -gt 9000 ]; }
rc_wait_until 60 "the backlog drains" backlog_empty
rc_wait_until 30 "LMDB trims the drained messages beyond keep_records" trimmed_past
rc_assert_int_gt "$(rc_ctl -j db status | jq -r '.lmdb.dedup_keys')" 4000 \
	"re-sent POST keys kept for both rooms"
rc_kill_node
rc_start_node
rc_assert_eq "$(resend alice 1000)" 1 "alice's resend after the restart: seq 1"
rc_assert_eq "$(resend alice 1001)" 303 "alice's cmid 1001 after the restart: seq 303"
rc_assert_eq "$(resend 'nHUp;' 1001)" 302 "nHUp;'s cmid 1001 after the restart: seq 302"
rc_assert_eq "$(resend alice 1002)" 304 "a new POST continues at 304"

rc_log "step 4: PostgreSQL"
rc_wait_until 60 "the backlog drains" backlog_empty
rc_assert_eq "$(rc_psql "SELECT count(*), count(DISTINCT seq), min(seq), max(seq)
		FROM messages WHERE room = '$(rc_room lobby)'")" "304|304|1|304" \
	"lobby in PostgreSQL: seqs 1..304 once each"
rc_assert_eq "$(rc_psql "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM messages
		WHERE room = '$(rc_room lobby)' AND cmid IN (1000, 1001)")" "1,302,303" \
	"cmid 1000 once (alice), cmid 1001 once for each user"
rc_assert_eq "$(rc_psql "SELECT count(*) FROM messages WHERE room = '$(rc_room elsewhere)'")" 10000 \
	"the 10 000 other POSTs"
rc_assert_eq "$(rc_psql 'SELECT count(*) FROM drain_alarms')" 0 "no drain alarm"
rc_stop_node || rc_fail "roomcastd did not exit cleanly on SIGTERM (exit $RC_NODE_EXIT)"
