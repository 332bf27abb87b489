# shellcheck shell=bash disable=SC2034 # variables here are used by the scripts that source it
# The HA pair's layout for integration tests, the failover bench and the demo. Source lib.sh
# first, call rc_init, then:
#
#   rc_ha_setup            four namespaces:
#                            PREFIX-lan   a bridge joining the three below (the service LAN)
#                            PREFIX-node  node A (n1): DPDK net_af_packet on PREFIX-na, no IP;
#                                         HA link PREFIX-ha 198.19.0.1/24
#                            PREFIX-nodeb node B (n2): net_af_packet on PREFIX-nb, no IP;
#                                         HA link PREFIX-hb 198.19.0.2/24
#                            PREFIX-cli   clients: PREFIX-cl with RC_CLIENT_IPS
#                          Service addresses: n1 198.18.0.1 (RC_HA_VIP[0]), n2 198.18.0.2.
#   rc_ha_write_confs      RC_HA_CONF[0..1] (+ the shared secret); knobs: RC_HA_DURABILITY,
#                          RC_HA_INTERVAL_MS, RC_HA_DEAD_MS, RC_HA_TTL_MS (defaults: the
#                          product's), RC_HA_EXTRA (appended to the ha { } block)
#   rc_ha_start I / rc_ha_stop I / rc_ha_kill I    node I (0 = n1, 1 = n2)
#   rc_ha_pair_up          both nodes started and Normal (20 s each)
#   rc_ha_ctl I ARGS       roomcastctl on node I
#   rc_ha_state I          its HA state ("Normal", ...), "" when it does not answer
#   rc_ha_wait_state I STATE [SECONDS]
#   rc_ha_link down|up     cut / restore the HA link (both nodes stay up)
#   rc_ha_verify LOG [I...]  after an rcha run into $OUT: wait until the drain backlogs of
#                          nodes I (default both) are empty, run `rcha verify` against the
#                          database into LOG, assert 0 lost, duplicates, gaps, re-logins
# The database: rc_start_pg (lib.sh) before rc_ha_write_confs.

RC_HA_ID=(n1 n2)
RC_HA_VIP=(198.18.0.1 198.18.0.2)
RC_HA_LINK_IP=(198.19.0.1 198.19.0.2)
RC_HA_PORT=6430
RC_HA_NS=()
RC_HA_IF=()
RC_HA_CONF=()
RC_HA_SOCK=()
RC_HA_LOG=()
RC_HA_DATA=()
RC_HA_PREFIX=()
RC_HA_PID=("" "")
RC_HA_STARTS=(0 0)
RC_NS_LAN=""
RC_IF_HA=()

rc_ha_setup() {
	local ns i
	RC_NS_LAN="$RC_PREFIX-lan"
	RC_HA_NS=("$RC_PREFIX-node" "$RC_PREFIX-nodeb")
	RC_HA_IF=("$RC_PREFIX-na" "$RC_PREFIX-nb")
	RC_IF_HA=("$RC_PREFIX-ha" "$RC_PREFIX-hb")
	RC_NS_NODE=${RC_HA_NS[0]}
	for ns in "$RC_NS_LAN" "${RC_HA_NS[@]}" "$RC_NS_CLI"; do
		rc_state_add netns "$ns"
		ip netns add "$ns" || rc_fail "ip netns add $ns"
		ip -n "$ns" link set lo up
		rc_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
	done
	ip -n "$RC_NS_LAN" link add br0 type bridge stp_state 0 forward_delay 0 ||
		rc_fail "cannot create the bridge"
	ip -n "$RC_NS_LAN" link set br0 up
	for i in 0 1; do
		ip link add "${RC_HA_IF[i]}" netns "${RC_HA_NS[i]}" type veth peer name \
			"${RC_HA_IF[i]}p" netns "$RC_NS_LAN" || rc_fail "veth ${RC_HA_IF[i]}"
		rc_disable_offloads "${RC_HA_NS[i]}" "${RC_HA_IF[i]}"
		rc_disable_offloads "$RC_NS_LAN" "${RC_HA_IF[i]}p"
		ip -n "$RC_NS_LAN" link set "${RC_HA_IF[i]}p" master br0 up
		ip -n "${RC_HA_NS[i]}" link set "${RC_HA_IF[i]}" up
	done
	ip link add "$RC_IF_CLI" netns "$RC_NS_CLI" type veth peer name "${RC_IF_CLI}p" \
		netns "$RC_NS_LAN" || rc_fail "veth $RC_IF_CLI"
	rc_disable_offloads "$RC_NS_CLI" "$RC_IF_CLI"
	rc_disable_offloads "$RC_NS_LAN" "${RC_IF_CLI}p"
	ip -n "$RC_NS_LAN" link set "${RC_IF_CLI}p" master br0 up
	for ip in "${RC_CLIENT_IPS[@]}"; do
		ip -n "$RC_NS_CLI" addr add "$ip/24" dev "$RC_IF_CLI" || rc_fail "addr $ip"
	done
	ip -n "$RC_NS_CLI" link set "$RC_IF_CLI" up
	# the HA link: a direct veth between the two node namespaces
	ip link add "${RC_IF_HA[0]}" netns "${RC_HA_NS[0]}" type veth peer name "${RC_IF_HA[1]}" \
		netns "${RC_HA_NS[1]}" || rc_fail "veth HA link"
	for i in 0 1; do
		ip -n "${RC_HA_NS[i]}" addr add "${RC_HA_LINK_IP[i]}/24" dev "${RC_IF_HA[i]}"
		ip -n "${RC_HA_NS[i]}" link set "${RC_IF_HA[i]}" up
	done
	rc_log "HA layout: LAN bridge in $RC_NS_LAN; n1 in ${RC_HA_NS[0]} (${RC_HA_VIP[0]})," \
		"n2 in ${RC_HA_NS[1]} (${RC_HA_VIP[1]}); HA link ${RC_HA_LINK_IP[*]};" \
		"clients in $RC_NS_CLI (${RC_CLIENT_IPS[*]})"
}

rc_ha_write_confs() {
	local i p
	for i in 0 1; do
		p=$((1 - i))
		RC_HA_CONF[i]="$RC_WORK/${RC_HA_ID[i]}.conf"
		RC_HA_SOCK[i]="$RC_WORK/${RC_HA_ID[i]}.sock"
		RC_HA_LOG[i]="$RC_WORK/roomcastd-${RC_HA_ID[i]}.log"
		RC_HA_DATA[i]="$RC_WORK/data-${RC_HA_ID[i]}"
		RC_HA_PREFIX[i]="$RC_FILE_PREFIX-${RC_HA_ID[i]}"
		rc_state_add dpdk "/var/run/dpdk/${RC_HA_PREFIX[i]}"
		RC_NODE_ID=${RC_HA_ID[i]} RC_CONF_SERVICE_IP=${RC_HA_VIP[i]} \
			RC_CONF_DATA_DIR=${RC_HA_DATA[i]} RC_CONF_ADMIN_SOCK=${RC_HA_SOCK[i]} \
			RC_CONF_FILE_PREFIX=${RC_HA_PREFIX[i]} RC_MGMT_PORT=$((9464 + i)) \
			rc_write_node_conf "${RC_HA_CONF[i]}" net_af_packet0 "iface=${RC_HA_IF[i]}"
		[ -n "${RC_PG_CONNINFO:-}" ] || rc_fail "rc_ha_write_confs: start PostgreSQL first"
		sed -i "s/mgmt_address = \"127.0.0.1:/mgmt_address = \"${RC_HA_LINK_IP[i]}:/" \
			"${RC_HA_CONF[i]}"
		cat >>"${RC_HA_CONF[i]}" <<EOF
ha = {
  enabled = true;
  peer_id = "${RC_HA_ID[p]}";
  address = "${RC_HA_LINK_IP[i]}:$RC_HA_PORT";
  peer_address = "${RC_HA_LINK_IP[p]}:$RC_HA_PORT";
  peer_service_ip = "${RC_HA_VIP[p]}";
  durability = "${RC_HA_DURABILITY:-peer}";${RC_HA_INTERVAL_MS:+
  interval_ms = $RC_HA_INTERVAL_MS;}${RC_HA_DEAD_MS:+
  dead_ms = $RC_HA_DEAD_MS;}${RC_HA_TTL_MS:+
  lease_ttl_ms = $RC_HA_TTL_MS;}
  fault_injection = true;${RC_HA_EXTRA:+
  $RC_HA_EXTRA}
};
EOF
	done
}

rc_ha_start() { # I
	local i=$1
	RC_NS_NODE=${RC_HA_NS[i]} _rc_daemon_start "${RC_HA_CONF[i]}" "${RC_HA_SOCK[i]}" \
		"${RC_HA_LOG[i]}" "RC_HA_PID[$i]" "RC_HA_STARTS[$i]" "roomcastd ${RC_HA_ID[i]}"
	RC_BG_PIDS+=("${RC_HA_PID[i]}")
}
rc_ha_pair_up() { # both nodes started, both Normal within 20 s (or the test fails)
	rc_ha_start 0
	rc_ha_start 1
	rc_ha_wait_state 0 Normal 20
	rc_ha_wait_state 1 Normal 20
}
rc_ha_stop() { _rc_daemon_stop "RC_HA_PID[$1]" "roomcastd ${RC_HA_ID[$1]}"; }
rc_ha_kill() { _rc_daemon_kill "RC_HA_PID[$1]" "roomcastd ${RC_HA_ID[$1]}"; }
rc_ha_alive() { rc_alive "${RC_HA_PID[$1]}"; }

rc_ha_ctl() { # I ARGS...
	local i=$1
	shift
	timeout 10 "$RC_ROOMCASTCTL" -s "${RC_HA_SOCK[i]}" "$@"
}

rc_ha_state() { # I
	rc_ha_ctl "$1" -j ha status 2>/dev/null | jq -r '.state // empty' 2>/dev/null || true
}

rc_ha_wait_state() { # I STATE [SECONDS]
	local i=$1 want=$2 t=${3:-20} deadline=$((SECONDS + ${3:-20}))
	while [ "$SECONDS" -lt "$deadline" ]; do
		[ "$(rc_ha_state "$i")" = "$want" ] && return 0
		sleep 0.1
	done
	rc_ha_ctl "$i" ha status || true
	rc_fail "${RC_HA_ID[i]} not \"$want\" within $t s (it is \"$(rc_ha_state "$i")\")"
}

rc_ha_link() { # down|up
	ip -n "${RC_HA_NS[0]}" link set "${RC_IF_HA[0]}" "$1"
	rc_log "HA link $1"
}

rc_ha_verify() { # LOG [I...]
	local log=$1 k i
	shift
	[ "$#" -gt 0 ] || set -- 0 1
	_rc_ha_backlogs_empty() {
		for i in "$@"; do
			[ "$(rc_ha_ctl "$i" -j db status | jq -r '.backlog.records')" = 0 ] || return 1
		done
	}
	rc_wait_until 30 "the drain backlogs of node(s) $* empty" _rc_ha_backlogs_empty "$@"
	rc_assert "rcha verify" "$RC_BUILD/tests/tools/rcha" verify --out "$OUT" \
		--conninfo "$RC_PG_CONNINFO" >"$log" 2>&1
	cat "$log"
	for k in lost_acked duplicates gaps relogins; do
		rc_assert_eq "$(sed -n "s/^$k: //p" "$log")" 0 "verify $k"
	done
}
