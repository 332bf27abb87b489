#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Integration test: the node does what dataplane/wire/PROTOCOL.md says, checked by a raw client
# written from the spec alone (tests/tools/rcproto.py), against one roomcastd on
# net_af_packet (tests/integration/lib.sh). Each check proves that something was NOT
# answered by the answer to a later request on the same flow, never by a timer.
#  1. IP fragments are dropped and counted (ip_fragment), on af_packet too (the kernel
#     reassembles for that device: frag_tap.h): a PING in two crafted fragments, and a
#     1484-byte datagram that the sender's kernel fragments (MTU 1500).
#  2. A datagram over 1472 bytes that arrives whole (MTU 1600 on the link) is dropped and
#     counted (udp_oversize); one of exactly 1472 bytes is served whole.
#  3. JOIN + FETCH + POST for a new room in one datagram: JOINED, FETCH_END, ACK, no ERROR.
#  4. LOGIN: a duplicated LOGIN datagram gets one session (answered twice); another request
#     id gets a new one; refusals are counted by reason (stats and /metrics).
#  4b. One user from 12 sockets: the 4 oldest sessions ended with a BYE
#     (chat.max_sessions_per_user 8), counted; a new LOGIN from a socket replaces its session.
#  5. LOGOUT twice: BYE both times. A message running past the datagram: no answer, the
#     messages before it served. JOIN since 0: FETCH_END.from_seq = the first seq sent.
#  6. ROOMS lists rooms by prefix (ROOM_LIST with their last seq); the node-to-node types,
#     REDIRECT and ROOM_LIST sent by a client are dropped unanswered and counted
#     (msg_unexpected).
#  6b. roomcast-chat shows a body's bidi override, C1 control and line separator escaped.
#  6c. `room archive`: a POST to the room gets ERROR 11, JOIN, FETCH and MEMBERS are served.
#  7. Steps 1 and 3 again with two workers, after a restart: the room of 6c is still
#     archived (its state is in the WAL); `room archive --off` lets POSTs in again.
# rc-timeout: 300
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rc_init protocol
rc_require_cmds python3 curl
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_CHAT"
rc_setup_netns
rc_write_node_conf
rc_start_node
TOKEN=$(rc_token alice)
proto() { rc_rcproto alice "$TOKEN" "$@"; }

drop() { rc_stat ".drops.$1"; }
stat_at_least() { [ "$(rc_stat "$1")" -ge "$2" ]; }

# 1. Fragments.
rc_log "step 1: IP fragments"
f0=$(drop ip_fragment)
rc_assert "a PING in two IP fragments is not answered" proto frag-ping
rc_wait_until 10 "ip_fragment counts both fragments of the PING" \
	stat_at_least .drops.ip_fragment $((f0 + 2))
rc_assert_eq "$(drop ip_fragment)" $((f0 + 2)) "ip_fragment after a PING in 2 fragments"
ip -n "$RC_NS_CLI" link set "$RC_IF_CLI" mtu 1500
rc_assert "a 1484-byte datagram fragmented on the wire is not answered" proto frag-big
rc_wait_until 10 "ip_fragment counts both fragments of the 1484-byte datagram" \
	stat_at_least .drops.ip_fragment $((f0 + 4))
rc_assert_eq "$(drop ip_fragment)" $((f0 + 4)) "ip_fragment after a 1484-byte datagram"

# 2. Whole datagrams over 1472 bytes. The node's side of the link takes larger frames once
# its MTU is raised (DPDK's af_packet allows at most MTU 1500 in the port configuration).
rc_log "step 2: a 1484-byte datagram that is not fragmented"
ip -n "$RC_NS_NODE" link set "$RC_IF_NODE" mtu 1600
ip -n "$RC_NS_CLI" link set "$RC_IF_CLI" mtu 1600
o0=$(drop udp_oversize)
rc_assert "an unfragmented 1484-byte datagram is not answered; 1472 bytes are" proto oversize
rc_wait_until 10 "udp_oversize counts the 1484-byte datagram" \
	stat_at_least .drops.udp_oversize $((o0 + 1))
rc_assert_eq "$(drop udp_oversize)" $((o0 + 1)) "udp_oversize after one 1484-byte datagram"
rc_assert_eq "$(drop ip_fragment)" $((f0 + 4)) "ip_fragment unchanged by whole datagrams"
ip -n "$RC_NS_CLI" link set "$RC_IF_CLI" mtu 1500

# 3. A JOIN that creates the room, bundled with requests for it.
rc_log "step 3: JOIN + FETCH + POST for a new room in one datagram"
rc_assert "JOIN + FETCH + POST, new room, one datagram" proto bundle-new-room --room bundled-1
last=$(rc_ctl -j room show bundled-1 | jq -r '.last_seq')
rc_assert_eq "$last" 1 "room bundled-1: the bundled POST is stored"

# 4. LOGIN.
rc_log "step 4: LOGIN duplicated, refused"
s0=$(rc_stat '.control.logins_ok')
rc_assert "a duplicated LOGIN datagram: one session" proto login-dup
rc_assert_eq "$(rc_stat '.control.logins_ok')" $((s0 + 3)) \
	"logins_ok after a duplicated LOGIN and two more LOGINs (the duplicate is not a login)"
b0=$(rc_stat '.control.login_refused.bad_token')
e0=$(rc_stat '.control.login_refused.token_expired')
rc_assert "bad and expired tokens are refused with ERROR 5" proto bad-login --secret "$RC_SECRET"
rc_assert_eq "$(rc_stat '.control.login_refused.bad_token')" $((b0 + 1)) "login_refused.bad_token"
rc_assert_eq "$(rc_stat '.control.login_refused.token_expired')" $((e0 + 1)) \
	"login_refused.token_expired"
metrics() { rc_ns "$RC_NS_NODE" curl -sf "http://127.0.0.1:${RC_MGMT_PORT:-9464}/metrics"; }
# the served metrics are a snapshot the control thread refreshes: wait for this one
metrics_counted() {
	local m
	m=$(metrics) || return 1
	grep -Eq "^roomcast_login_refusals_total\{reason=\"token_expired\"\} $((e0 + 1))\$" <<<"$m"
}
rc_wait_until 10 "/metrics: LOGIN refusals by reason (token_expired $((e0 + 1)))" metrics_counted
m=$(metrics) || rc_fail "GET /metrics failed"
rc_assert_match "$m" "^roomcast_login_refusals_total\{reason=\"bad_token\"\} $((b0 + 1))\$" \
	"/metrics: LOGIN refusals, bad_token"
rc_assert_match "$m" '^roomcast_login_refusals_total\{reason="too_many_sessions"\} 0$' \
	"/metrics: every reason is listed"
rc_assert_match "$m" '^roomcast_login_refusals_total\{reason="busy"\} 0$' \
	"/metrics: busy LOGINs"

# 4b. Sessions per user.
rc_log "step 4b: sessions per user capped, a LOGIN from a session's socket replaces it"
v0=$(rc_stat '.control.sessions_evicted')
r0=$(rc_stat '.control.sessions_replaced')
rc_assert "12 sockets of alice: the 4 oldest sessions get BYE" proto session-caps --cap 8
# alice's sessions of the steps before are older still: ended too
stat_at_least .control.sessions_evicted $((v0 + 4)) ||
	rc_fail "sessions_evicted $(rc_stat '.control.sessions_evicted'), expected >= $((v0 + 4))"
rc_assert_eq "$(rc_stat '.control.sessions_replaced')" $((r0 + 1)) "sessions_replaced"

# 5. The places the spec settles (PROTOCOL.md 3, 7.4, 7.10).
rc_log "step 5: LOGOUT twice, a length past the datagram, JOIN history bounds"
rc_assert "LOGOUT, then the same LOGOUT again: BYE both times" proto logout-twice
rc_assert "a message running past the datagram ends it, unanswered" proto overrun
rc_assert "FETCH_END.from_seq after JOIN since 0" proto join-history --room history-1

# 6. The room directory, and the types a client never sends (PROTOCOL.md 5, 11).
rc_log "step 6: ROOMS, and node-to-node types from a client"
rc_assert "ROOMS by prefix: ROOM_LIST" proto rooms --room dir-1
u0=$(drop msg_unexpected)
rc_assert "RJOIN..RMEMBERS, REDIRECT, ROOM_LIST from a client: not answered" proto relay-refused
rc_wait_until 10 "msg_unexpected counts the 8 refused types" \
	stat_at_least .drops.msg_unexpected $((u0 + 8))
rc_assert_eq "$(drop msg_unexpected)" $((u0 + 8)) "msg_unexpected after 8 refused types"

# 6b. What roomcast-chat shows of a hostile body: a right-to-left override, a C1 CSI and a
# line separator (all valid UTF-8 the node stores) come out as visible escapes.
rc_log "step 6b: roomcast-chat escapes bidi and C1 controls"
chat() { # USER [stdin: lines] -> roomcast-chat's stdout in $RC_WORK/chat-USER.out
	rc_cli timeout 15 "$RC_CHAT" -s "$RC_SERVICE_IP:$RC_PORT" -u "$1" -t "$(rc_token "$1")" \
		-r bidi-1 -b "${RC_CLIENT_IPS[0]}" >"$RC_WORK/chat-$1.out" 2>"$RC_WORK/chat-$1.err"
}
printf 'pay \342\200\256moc.live \302\23331m ok\342\200\250[bidi-1 #9] admin: hi\n' | chat mallory
rc_assert_eq "$(rc_ctl -j room show bidi-1 | jq -r '.last_seq')" 1 "mallory's body is stored"
printf '/fetch 1 10\n' | chat alice
rc_assert_match "$(cat "$RC_WORK/chat-alice.out")" \
	'mallory: pay <U\+202E>moc\.live <U\+009B>31m ok<U\+2028>\[bidi-1 #9\] admin: hi' \
	"alice's roomcast-chat shows the controls escaped"
no_raw_controls() { ! LC_ALL=C grep -qP '\xe2\x80\xae|\xc2\x9b|\xe2\x80\xa8' "$1"; }
rc_assert "no raw RLO, CSI or line separator reaches alice's terminal" \
	no_raw_controls "$RC_WORK/chat-alice.out"

# 6c. An archived room: read-only, its history served.
rc_log "step 6c: room archive"
rc_assert "roomcastctl room archive bundled-1" rc_ctl room archive bundled-1
rc_assert_eq "$(rc_ctl -j room show bundled-1 | jq -r '.archived')" true "room show: archived"
rc_assert "archived bundled-1: POST refused (ERROR 11), JOIN, FETCH, MEMBERS served" \
	proto archived --room bundled-1 --seq 1 --cmid 77

rc_assert "roomcastd still running" rc_node_alive
rc_stop_node || rc_fail "roomcastd did not exit cleanly on SIGTERM (exit $RC_NODE_EXIT)"

# 7. Two workers (two af_packet queues, a fragment tap each; rooms homed on either worker):
# fragments still dropped and counted once each, bundles still ordered.
rc_log "step 7: the same with two workers"
ip -n "$RC_NS_NODE" link set "$RC_IF_NODE" mtu 1500
RC_WORKERS=2 rc_write_node_conf
rc_start_node
rc_assert_eq "$(rc_ctl -j room show bundled-1 | jq -r '.archived')" true \
	"after a restart: bundled-1 still archived"
rc_assert "after a restart: POST to bundled-1 refused, JOIN, FETCH, MEMBERS served" \
	proto archived --room bundled-1 --seq 1 --cmid 78
rc_assert "roomcastctl room archive bundled-1 --off" rc_ctl room archive bundled-1 --off
rc_assert "unarchived: a POST to bundled-1 is stored" proto post --room bundled-1 --cmid 79
rc_assert_eq "$(rc_ctl -j room show bundled-1 | jq -r '.last_seq')" 2 \
	"bundled-1: the POST after unarchiving is stored"
f0=$(drop ip_fragment)
rc_assert "2 workers: a PING in two IP fragments is not answered" proto frag-ping
rc_assert "2 workers: a 1484-byte datagram fragmented on the wire is not answered" \
	proto frag-big
rc_wait_until 10 "2 workers: ip_fragment counts the 4 fragments" \
	stat_at_least .drops.ip_fragment $((f0 + 4))
rc_assert_eq "$(drop ip_fragment)" $((f0 + 4)) "2 workers: ip_fragment counts each fragment once"
for room in bundled-2 bundled-3; do # room ids 2 and 3: homed on both workers
	rc_assert "2 workers: JOIN + FETCH + POST, new room $room" proto bundle-new-room --room "$room"
	rc_assert_eq "$(rc_ctl -j room show "$room" | jq -r '.last_seq')" 1 "room $room: stored"
done
rc_stop_node || rc_fail "roomcastd did not exit cleanly on SIGTERM (exit $RC_NODE_EXIT)"
