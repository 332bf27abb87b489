#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Integration test of the relay's control side on two running roomcastd, n1 and n2 of group g1
# (cluster c1, assignment balanced), both in the NODE namespace: n1 on net_af_packet (clients in
# the CLI namespace), n2 on net_null0 (no traffic). n1 has a relay secret; n2 has none.
#  1. `relay status` on n1: relay on, its service tc-n1.c1, the directory holds n2 with its
#     service tc-n2.c1 and address 198.18.0.2:6420 (from the cluster state), unresolved (n2
#     answers no ARP); -j the same; /metrics roomcast_relay_nodes 1; `stats` has the relay
#     counters.
#  2. n2 relays nothing: `relay status` says OFF with an empty directory, and its log says so
#     once.
#  3. `user home`: users homed on n1 and on n2 (balanced spreads them); a LOGIN at n1 of a
#     user homed on n2 is answered REDIRECT (n2, 198.18.0.2, 6420) and counted
#     (logins_redirected, roomcast_logins_redirected_total); one homed on n1 gets LOGIN_OK.
#  4. group set g1 assignment none: nobody is redirected any more.
#  5. `room list` shows a room with its service and kind.
#  6. n2 with a node.udp_port other than its entry's in the cluster state: refused at start.
# rc-timeout: 300
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rc_init relay_dir
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL"
rc_require_cmds jq curl python3
rc_setup_netns
rc_node2_init

SEED="$RC_WORK/cluster.conf"
RELAY_SECRET="$RC_WORK/relay-secret"
(umask 077 && head -c 32 /dev/urandom >"$RELAY_SECRET")
cat >"$SEED" <<EOF
clusters = ( {
  name = "c1";
  groups = (
    { name = "g1"; ha = false; assignment = "balanced";
      nodes = ( { id = "n1"; mgmt = "127.0.0.1:9464"; vip = "$RC_SERVICE_IP"; port = "chat0"; },
                { id = "n2"; mgmt = "127.0.0.1:$RC_MGMT_PORT2"; vip = "$RC_SERVICE_IP2"; } ); }
  ); } );
EOF
RC_CLUSTER_FILE=$SEED rc_write_node_conf
printf 'relay = { secret_file = "%s"; refresh_ms = 500; };\n' "$RELAY_SECRET" >>"$RC_CONF"
RC_CLUSTER_FILE=$SEED rc_write_node2_conf
rc_start_node
rc_start_node2

jq_of() { # JSON FILTER
	printf '%s' "$1" | jq -er "$2" 2>/dev/null || rc_fail "jq '$2' gives nothing in: $1"
}
metrics() { rc_ns "$RC_NS_NODE" curl -sf "http://127.0.0.1:9464/metrics"; }

# 1. n1's directory
rc_log "step 1: relay status on n1"
out=$(rc_ctl relay status) || rc_fail "relay status failed: $out"
printf '%s\n' "$out"
rc_assert_match "$out" '^relay on: services tc-n1\.c1, key id 1, refresh 500 ms' \
	"relay status: on, our service, key id, refresh"
rc_assert_match "$out" $'\n''n2 +tc-n2\.c1 +198\.18\.0\.2:6420 +unresolved' \
	"relay status: n2 with its service, address and neighbour state"
rc_assert_match "$out" 'remote rooms: 0' "relay status: no remote room"
j=$(rc_ctl -j relay status) || rc_fail "relay status -j failed"
rc_assert_eq "$(jq_of "$j" '.enabled')" true "relay status -j: enabled"
rc_assert_eq "$(jq_of "$j" '.services | join(",")')" "tc-n1.c1" "relay status -j: services"
rc_assert_eq "$(jq_of "$j" '[.nodes[] | "\(.id) \(.service) \(.ip):\(.udp_port)"] | join(",")')" \
	"n2 tc-n2.c1 198.18.0.2:6420" "relay status -j: the directory"
rc_assert_eq "$(jq_of "$j" '.counters.drops.relay_bad_tag')" 0 "relay status -j: drops by reason"
rc_assert_eq "$(rc_stat '.relay.drops | length')" 8 "stats -j: the relay's drop reasons"
metrics_relay() { grep -Eq '^roomcast_relay_nodes 1$' <<<"$(metrics)"; }
rc_wait_until 5 "GET /metrics: roomcast_relay_nodes 1" metrics_relay
rc_assert_match "$(metrics)" 'roomcast_relay_drops_total\{reason="bad_tag"\} 0' \
	"GET /metrics: relay drops by reason"

# 2. n2 relays nothing
rc_log "step 2: n2 without a relay secret"
out=$(rc_ctl2 relay status) || rc_fail "n2 relay status failed: $out"
rc_assert_match "$out" '^relay OFF \(no relay.secret_file\): services tc-n2\.c1' \
	"n2: relay off, its own service still known"
rc_assert_eq "$(jq_of "$(rc_ctl2 -j relay status)" '.nodes | length')" 0 "n2: no node listed"
rc_assert_eq "$(grep -c 'this node relays nothing' "$RC_NODE_LOG2")" 1 "n2 logs it once"

# 3. home nodes and REDIRECT
rc_log "step 3: home nodes, REDIRECT"
U1="" U2=""
for i in $(seq 0 40); do
	h=$(jq_of "$(rc_ctl -j user home "user$i")" '.node')
	[ "$h" != n1 ] || [ -n "$U1" ] || U1="user$i"
	[ "$h" != n2 ] || [ -n "$U2" ] || U2="user$i"
done
[ -n "$U1" ] && [ -n "$U2" ] || rc_fail "balanced: 41 users not spread over n1 and n2 ($U1/$U2)"
rc_assert_eq "$(jq_of "$(rc_ctl2 -j user home "$U2")" '.node')" n2 "n2 agrees on $U2's home"
rc_assert_match "$(rc_ctl user home "$U2")" "home node n2 \(group g1, balanced\), 198.18.0.2:6420" \
	"user home: the text"
rc_assert "LOGIN of $U2 at n1: REDIRECT to n2" \
	rc_rcproto "$U2" "$(rc_token "$U2")" redirect --expect-home "n2 $RC_SERVICE_IP2 $RC_PORT"
rc_assert "LOGIN of $U1 at n1: served" rc_rcproto "$U1" "$(rc_token "$U1")" redirect
rc_assert_eq "$(rc_stat '.control.logins_redirected')" 1 "stats: one LOGIN redirected"
rc_assert_eq "$(rc_stat '.control.logins_ok')" 1 "stats: one LOGIN served"
metrics_redirected() { grep -Eq '^roomcast_logins_redirected_total 1$' <<<"$(metrics)"; }
rc_wait_until 5 "GET /metrics: roomcast_logins_redirected_total 1" metrics_redirected

# 4. assignment none: no home
rc_log "step 4: assignment none"
rc_ctl group set g1 assignment none >/dev/null || rc_fail "group set g1 assignment none failed"
rc_assert_match "$(rc_ctl user home "$U2")" "no home node \(assignment none\)" "user home: none"
rc_assert "LOGIN of $U2 at n1 with no home: served" \
	rc_rcproto "$U2" "$(rc_token "$U2")" redirect
rc_assert_eq "$(rc_stat '.control.logins_redirected')" 1 "stats: still one LOGIN redirected"

# 5. room list: service and kind
rc_log "step 5: room list"
rc_assert "a POST in a new room" rc_rcproto "$U1" "$(rc_token "$U1")" post --room dir-room
j=$(rc_ctl -j room list) || rc_fail "room list -j failed"
rc_assert_eq "$(jq_of "$j" '.rooms[] | select(.name | startswith("dir-room")) | "\(.service) \(.kind)"')" \
	"tc-n1.c1 hosted" "room list -j: the room's service and kind"

rc_stop_node || rc_fail "n1 did not stop cleanly (exit $RC_NODE_EXIT)"
rc_stop_node2 || rc_fail "n2 did not stop cleanly (exit $RC_NODE_EXIT)"

# 6. a node whose node.udp_port is not the one the state gives it (where the others relay)
rc_log "step 6: node.udp_port against the state"
sed 's/udp_port = [0-9]*;/udp_port = 6421;/' "$RC_CONF2" >"$RC_WORK/node2-port.conf"
rc=0
timeout 30 ip netns exec "$RC_NS_NODE" "$RC_ROOMCASTD" -c "$RC_WORK/node2-port.conf" \
	>"$RC_WORK/node2-port.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || rc_fail "n2 with udp_port 6421: exit $rc, expected a refusal"
rc_assert_file_match "$RC_WORK/node2-port.log" \
	'the cluster state gives it udp_port 6420 \(the other nodes relay to it\), but node.udp_port is 6421' \
	"n2 refuses a udp_port the state does not give it"
rc_log "PASS"
