#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Integration test: two single nodes (no HA) of one cluster, the relay between them. n1 and
# n2 each run on net_af_packet on a veth of its own; the clients' namespace bridges the two
# (tests/integration/lib.sh for the rest). Cluster c1: groups ga (n1) and gb (n2), user
# assignment "none" (a user stays where he logs in), one relay secret. n2 drains to
# PostgreSQL.
#  1. Users of n1 (logged in at n1) join and post in pair@tc-n2.c1, a room hosted by n2:
#     rcload exits 0 only if every POST was acknowledged, every member got every message
#     exactly once and in order (the host's live DELIVERs, relayed once to n1 and fanned out
#     there), and re-sent POSTs were acknowledged with the same seq, never delivered twice.
#  2. Every acknowledged message is in PostgreSQL once, under the canonical name, seqs 1..N
#     without a gap, each body once.
#  3. n1 holds a remote copy of the room (its members), n2 the room itself; n1's relay
#     counters show the relayed requests and the live DELIVERs.
#  4. ROOMS at n1 lists the rooms of the whole cluster: n2's room once, with its last seq.
# rc-timeout: 300
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rc_init relaypair
rc_node2_init
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCLOAD"
rc_require_cmds psql
rc_setup_netns

USERS=4
POSTS=40
TOTAL=$((USERS * POSTS))
ROOM="pair@tc-n2.c1"
IF2_NODE="$RC_PREFIX-nd2"
IF2_CLI="$RC_PREFIX-cl2"
BR="$RC_PREFIX-br"

# ---- layout: n2's veth, and a bridge in the clients' namespace joining both nodes' links ----
rc_state_add link "$IF2_NODE"
ip link add "$IF2_NODE" netns "$RC_NS_NODE" type veth peer name "$IF2_CLI" netns "$RC_NS_CLI" ||
	rc_fail "cannot create the veth pair $IF2_NODE/$IF2_CLI"
rc_disable_offloads "$RC_NS_NODE" "$IF2_NODE"
rc_disable_offloads "$RC_NS_CLI" "$IF2_CLI"
ip -n "$RC_NS_CLI" link add "$BR" type bridge
ip -n "$RC_NS_CLI" addr flush dev "$RC_IF_CLI"
ip -n "$RC_NS_CLI" link set "$RC_IF_CLI" master "$BR"
ip -n "$RC_NS_CLI" link set "$IF2_CLI" master "$BR"
for ip in "${RC_CLIENT_IPS[@]}"; do ip -n "$RC_NS_CLI" addr add "$ip/24" dev "$BR"; done
ip -n "$RC_NS_CLI" link set "$IF2_CLI" up
ip -n "$RC_NS_CLI" link set "$BR" up
ip -n "$RC_NS_NODE" link set "$IF2_NODE" up

# ---- configuration ----
RELAY_SECRET="$RC_WORK/relay-secret"
(umask 077 && head -c 32 /dev/urandom >"$RELAY_SECRET")
RC_CLUSTER_FILE="$RC_WORK/cluster.conf"
cat >"$RC_CLUSTER_FILE" <<EOF
# cluster seed of test_relay_pair.sh
clusters = ( {
  name = "c1";
  groups = (
    { name = "ga"; ha = false; assignment = "none";
      nodes = ( { id = "n1"; mgmt = "127.0.0.1:9464"; vip = "$RC_SERVICE_IP"; port = "chat0"; } ); },
    { name = "gb"; ha = false; assignment = "none";
      nodes = ( { id = "n2"; mgmt = "127.0.0.1:$RC_MGMT_PORT2"; vip = "$RC_SERVICE_IP2"; port = "chat0"; } ); }
  ); } );
chat = { enabled = true; messages_on_join = 20; };
EOF
relay_block() { # FILE
	cat >>"$1" <<EOF
relay = { secret_file = "$RELAY_SECRET"; key_id = 1; refresh_ms = 500; };
EOF
}

rc_start_pg
export RC_CLUSTER_FILE
(RC_PG_CONNINFO="" rc_write_node_conf) # n1: no rooms of its own in this test, no database
relay_block "$RC_CONF"
RC_NODE_ID=$RC_NODE2_ID RC_CONF_SERVICE_IP=$RC_SERVICE_IP2 RC_CONF_DATA_DIR=$RC_DATA_DIR2 \
	RC_CONF_ADMIN_SOCK=$RC_ADMIN_SOCK2 RC_CONF_FILE_PREFIX=$RC_FILE_PREFIX2 \
	RC_MGMT_PORT=$RC_MGMT_PORT2 RC_WORKERS=1 \
	rc_write_node_conf "$RC_CONF2" net_af_packet0 "iface=$IF2_NODE"
relay_block "$RC_CONF2"
rc_start_node2
rc_start_node

# ---- 1. users of n1 in a room hosted by n2 ----
mapfile -t BIND < <(rc_bind_args)
# a first message through the relay (in a room of its own), with the relay's state shown
# when it does not get through
if ! rc_rcload --users 1 --posts 1 --room "probe@tc-n2.c1" --bind-ip "${RC_CLIENT_IPS[0]}"; then
	rc_log "n1 relay counters: $(rc_ctl -j stats | jq -c '.relay // .')"
	rc_log "n2 relay counters: $(rc_ctl2 -j stats | jq -c '.relay // .')"
	rc_log "n1 relay: $(rc_ctl relay status 2>&1)"
	rc_log "n2 relay: $(rc_ctl2 relay status 2>&1)"
	rc_fail "a first POST through the relay was not acknowledged"
fi
rc_assert "users of n1 post in $ROOM, hosted by n2 (every POST acknowledged; every member gets
every message once, in order; re-sent POSTs acknowledged again, never delivered twice)" \
	rc_rcload --users "$USERS" --posts "$POSTS" --resend-every 7 --room "$ROOM" "${BIND[@]}"

# ---- 2. every acknowledged message in PostgreSQL, once ----
pg_room() { # SQL about the room's rows -> its result
	rc_psql "SELECT $1 FROM messages WHERE room = '$ROOM'"
}
drained() { [ "$(pg_room 'count(*)')" = "$TOTAL" ]; }
rc_wait_until 30 "n2 drained the $TOTAL messages of $ROOM to PostgreSQL" drained
rc_assert_eq "$(pg_room 'count(DISTINCT seq)||'"'"'|'"'"'||min(seq)||'"'"'|'"'"'||max(seq)')" \
	"$TOTAL|1|$TOTAL" "seqs 1..$TOTAL, each once"
rc_assert_eq "$(pg_room 'count(DISTINCT body)')" "$TOTAL" "each message's body once"
rc_assert_eq "$(rc_psql "SELECT count(*) FROM messages WHERE room = 'pair'")" 0 \
	"no row under the bare name"

# ---- 3. the remote room at n1, the room at n2, the relay counters ----
rc_assert "n1 shows its remote copy of $ROOM" rc_ctl room show "$ROOM"
rc_assert "n2 hosts $ROOM" rc_ctl2 room show "$ROOM"
rc_assert_eq "$(rc_ctl2 -j room show "$ROOM" | jq -r '.last_seq')" "$TOTAL" "n2's last seq"
relay_json=$(rc_ctl -j stats)
rc_log "n1 relay counters: $(printf '%s' "$relay_json" | jq -c '.relay // empty')"
rc_assert_int_gt "$(printf '%s' "$relay_json" | jq -r '.relay.requests_out.RPOST // 0')" \
	$((TOTAL - 1)) "n1 relayed every POST (RPOST)"
rc_assert_int_gt "$(printf '%s' "$relay_json" | jq -r '.relay.delivers_in // 0')" \
	$((TOTAL - 1)) "n1 received every live DELIVER from n2 (once per node, not per user)"

rc_log "==== step 4: the room directory: a user of n1 lists the rooms of the whole cluster"
# n1 asks n2 for the rooms it hosts every 2 s (a node-level ROOMS over the relay): the room
# appears once, n2's, with its last seq; n1's own copy of it is not listed besides
lists_pair_once() {
	[ "$(rc_rcproto lister "$(rc_token lister)" rooms-list --room "" 2>/dev/null |
		grep -c "^rcproto: room $ROOM ")" = 1 ] &&
		rc_rcproto lister "$(rc_token lister)" rooms-list --room "pa" 2>/dev/null |
		grep -qx "rcproto: room $ROOM $TOTAL"
}
rc_wait_until 15 "n1 lists $ROOM (hosted by n2) once, with its last seq" lists_pair_once
rc_stop_node
rc_stop_node2
rc_log "PASS: relay pair"
