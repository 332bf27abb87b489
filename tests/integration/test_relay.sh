#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Integration test: one roomcastd on net_af_packet in its own namespace, clients (rcload) in
# another, behind a veth pair (tests/integration/lib.sh).
#  1. The node answers ARP and ICMP echo for its service IP.
#  2. 4 users on 4 source addresses post 50 messages each, re-sending every 7th POST: rcload
#     exits 0 only if every member got every message exactly once and in order, and re-sent
#     POSTs were acknowledged with the same seq and never delivered twice.
#  3. roomcastctl: the room is listed and shown, `user list` and `stats` answer (with the
#     scopes' counters: session purges dropped, rooms not loaded); the same counters are
#     served in the Prometheus format on the management address.
#  4. SIGTERM + restart on the same data dir: the history is intact.
#  5. Another round, then SIGKILL + restart: both rooms' histories are intact (ACKed = stored).
#  6. 500 malformed datagrams: rcload --malformed passes, the drop counters grew, and the node
#     still relays a normal round and still answers ping.
#  7. A last SIGTERM: clean exit.
# rc-timeout: 480
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rc_init relay
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCLOAD"
rc_setup_netns
rc_write_node_conf
rc_start_node

USERS=4
POSTS=50
TOTAL=$((USERS * POSTS))
R1="relay-one"
R2="relay-two"
R3="relay-three"
mapfile -t BIND < <(rc_bind_args)

relay_round() { # ROOM
	local what="relay round in room $1 (every member gets every message once, in order;"
	what+=" re-sent POSTs acknowledged again, never delivered twice)"
	rc_assert "$what" \
		rc_rcload --users "$USERS" --posts "$POSTS" --resend-every 7 --room "$1" "${BIND[@]}"
}

verify_history() { # ROOM COUNT: seqs 1..COUNT, each "u<i>-m<j>" of the round exactly once
	rc_assert "history of room $1 ($2 messages) after restart #$((RC_NODE_STARTS - 1))" \
		rc_rcload --verify-history "$2" --users "$USERS" --posts "$POSTS" --room "$1" \
		--bind-ip "${RC_CLIENT_IPS[0]}"
}

room_listed() { # ROOM: `room list` shows it
	local out
	out=$(rc_ctl room list) || rc_fail "roomcastctl room list failed: $out"
	rc_assert_match "$out" "(^|[^[:alnum:]_-])$1([^[:alnum:]_-]|$)" "room list shows room $1"
}

drops_grew() { # BEFORE
	local now
	now=$(rc_drops_total)
	[ "$now" -gt "$1" ]
}

# 1. ARP + ICMP echo, from the primary and from a secondary source address.
rc_log "step 1: ARP + ICMP echo"
rc_assert "ping $RC_SERVICE_IP (the node must answer ARP and ICMP echo)" \
	rc_cli ping -c 3 -W 2 "$RC_SERVICE_IP"
rc_assert "ping $RC_SERVICE_IP from ${RC_CLIENT_IPS[2]}" \
	rc_cli ping -c 2 -W 2 -I "${RC_CLIENT_IPS[2]}" "$RC_SERVICE_IP"

# 2. The relay.
rc_log "step 2: relay, $USERS users x $POSTS posts, resend every 7th"
relay_round "$R1"

# 3. The admin view of it.
rc_log "step 3: roomcastctl"
room_listed "$R1"
rc_assert "roomcastctl room show $R1" rc_ctl room show "$R1"
last=$(rc_ctl -j room show "$R1" | jq -r '.last_seq')
rc_assert_eq "$last" "$TOTAL" "room show $R1: last_seq"
rc_assert "roomcastctl user list" rc_ctl user list
rc_assert "roomcastctl stats" rc_ctl stats
rx=$(rc_stat '[.lcores[]?.rx // 0] | add // 0')
tx=$(rc_stat '[.lcores[]?.tx // 0] | add // 0')
rc_assert_int_gt "$rx" 0 "stats: packets received by the worker lcores (sum of lcores[].rx)"
rc_assert_int_gt "$tx" 0 "stats: packets sent by the worker lcores (sum of lcores[].tx)"
metrics() { rc_ns "$RC_NS_NODE" curl -sf "http://127.0.0.1:${RC_MGMT_PORT:-9464}/metrics"; }
metrics_caught_up() { grep -Eq '^roomcast_posts_stored_total\{lcore="1",worker="0"\} 200$' <<<"$(metrics)"; }
rc_wait_until 5 "Prometheus (GET /metrics on the management address): posts stored per lcore" \
	metrics_caught_up
m=$(metrics)
rc_assert_match "$m" '# TYPE roomcast_drops_total counter' "Prometheus: the drops family"
rc_assert_match "$m" 'roomcast_rooms 1' "Prometheus: the rooms gauge"
rc_assert_match "$m" 'roomcast_storage_full 0' "Prometheus: the storage-full gauge"
# the node runs its WAL synced (wal.nosync = false): status and /metrics read it from LMDB
rc_assert_match "$m" 'roomcast_wal_nosync 0' "Prometheus: the WAL is synced"
rc_assert_eq "$(rc_ctl -j status | jq -r '.wal.nosync')" false "status -j: wal.nosync"
# the scopes' counters are shown (a single node has one scope: no room can clash)
rc_assert_eq "$(rc_stat '.control.purges_dropped | type')" number "stats -j: control.purges_dropped"
rc_assert_eq "$(rc_stat '.control.rooms_name_clash')" 0 "stats -j: control.rooms_name_clash"
rc_assert_match "$(rc_ctl stats)" \
	'^scopes: session purges dropped [0-9]+, rooms not loaded \(name clash\) 0$' \
	"stats: the scopes' counters"
rc_assert_match "$m" '^roomcast_session_purges_dropped_total [0-9]+$' \
	"Prometheus: session purges dropped"
rc_assert_match "$m" '^roomcast_rooms_name_clash_total 0$' "Prometheus: rooms not loaded (name clash)"

# 4. Graceful restart.
rc_log "step 4: SIGTERM, restart, history"
rc_stop_node || rc_fail "roomcastd did not exit cleanly on SIGTERM (exit $RC_NODE_EXIT)"
rc_start_node
verify_history "$R1" "$TOTAL"
room_listed "$R1"

# 5. Crash restart: everything acknowledged before the SIGKILL is still there.
rc_log "step 5: another round, SIGKILL, restart, history"
relay_round "$R2"
rc_kill_node
rc_start_node
verify_history "$R1" "$TOTAL"
verify_history "$R2" "$TOTAL"

# 6. Malformed input is dropped and counted; the node keeps working.
rc_log "step 6: malformed datagrams"
drops0=$(rc_drops_total)
rc_assert "rcload --malformed 500" rc_rcload --malformed 500 --bind-ip "${RC_CLIENT_IPS[1]}"
rc_wait_until 5 "drop counters grew after 500 malformed datagrams (were $drops0)" \
	drops_grew "$drops0"
rc_log "drops: $drops0 -> $(rc_drops_total)"
rc_assert "roomcastd still running after the malformed datagrams" rc_node_alive
relay_round "$R3"
verify_history "$R1" "$TOTAL"
rc_assert "ping after the malformed datagrams" rc_cli ping -c 2 -W 2 "$RC_SERVICE_IP"

# 7. Clean shutdown.
rc_log "step 7: SIGTERM"
rc_stop_node || rc_fail "roomcastd did not exit cleanly on SIGTERM (exit $RC_NODE_EXIT)"
if grep -Eq 'AddressSanitizer|runtime error:|Segmentation fault|double free' "$RC_NODE_LOG"; then
	rc_fail "the roomcastd log reports a memory error"
fi
