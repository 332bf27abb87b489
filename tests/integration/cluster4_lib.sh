# shellcheck shell=bash disable=SC2034 # variables here are used by the scripts that source it
# A cluster of four nodes for integration tests and the demo (MISSION.md's use cases). Source
# lib.sh and ha_lib.sh first, call rc_init, then:
#
#   c4_setup         namespaces and links:
#                      PREFIX-lan  bridges br0 (the service LAN) and br1 (management)
#                      PREFIX-1a, -1b, -2a, -2b  one per node: roomcastd on DPDK net_af_packet
#                                  (veth PREFIX-d<id> on br0, no IP); management
#                                  198.19.0.1..4/24 (veth PREFIX-m<id> on br1); the pair's HA
#                                  link (a direct veth PREFIX-h<id>): g1 198.19.1.1/.2,
#                                  g2 198.19.2.1/.2
#                      PREFIX-cli  clients on br0: RC_CLIENT_IPS
#                    VIPs: 1a 198.18.0.1, 1b .2, 2a .3, 2b .4 (C4_VIP).
#   c4_start_pg      one PostgreSQL server: a database per group, g1 and g2, or with
#                    C4_DB_LAYOUT=shared one database "shared" for both groups (as the seed's
#                    databases, assigned to the groups; C4_DB_CONNINFO[g1|g2] either way)
#   c4_write_confs   the seed (cluster cluster1: g1 = 1a 1b, g2 = 2a 2b, HA on, assignment
#                    C4_ASSIGNMENT, default "balanced"), each node's config (HA block as
#                    ha_lib's, RC_HA_* knobs apply; relay block: see C4_RELAY), the secrets
#   c4_up            all four started, every node Normal and staying so for 3 s (a node that
#                    fell over while the others started is brought back, loudly); then
#                    c4_mark
#   c4_mark          remember where every node's HA history ends; c4_path I: the states
#                    node I went through since ("A > B > ...", "" if none)
#   rc_ha_start I / rc_ha_stop I / rc_ha_kill I / rc_ha_ctl I ARGS / rc_ha_state I /
#   rc_ha_wait_state I STATE [S]    (ha_lib.sh) for node I = 0..3 (1a, 1b, 2a, 2b)
#   c4_index ID      1a -> 0 ...
#   c4_tc_hang I / c4_tc_resume I   the node's TC service hangs (its workers stall) / runs again
#   c4_states        "1a=STATE|1b=STATE|..." (one line; "" for a node that does not answer)
#   c4_wait_states SECONDS S0 S1 S2 S3   until node i is in Si (each at once), else fail
#                    showing every node's state and reason; "*" matches anything
#   c4_show_states   one line per node: id, HA state, reason (logged)
#   c4_backlogs_empty I...    the drain backlogs of nodes I are empty
#   c4_relay_dump    every node's `relay status` and `room list` (to explain a failure)
#
# Other layouts (tests of joined clusters): set, after sourcing and before c4_setup, the
# per-node arrays C4_ID, C4_GROUP, C4_VIP, C4_MGMT_IP, C4_HA_IP ("" for a node alone in its
# group), C4_NODE_CLUSTER (each node's cluster, default C4_CLUSTER), and C4_NODB_GROUPS (the
# groups without a database, space-separated). A group of two nodes (listed next to each
# other) has HA on, a group of one has HA off (its node's HA state is Unknown). Functions
# taking "S0 S1 ..." take one state per node, in C4_ID's order.
#
# C4_RELAY: 1 when roomcastd accepts the relay block (relay.secret_file, checked with
# roomcastd --check), else 0 (c4_write_confs leaves the block out). Each cluster has its relay
# secret (C4_RELAY_SECRET is cluster C4_CLUSTER's), a file of its own, never the login/cluster
# secret; with several clusters each node also lists the others with the secret of the pair,
# in a file of its own, c4_ic_secret_file I (the same bytes on every node: a test may change
# one node's).
#
# Budget: each node is two lcores (main, one worker) on CPUs 0 and 1 with idle_backoff on, so
# four idle nodes stay well under the machine's two cores. Timers: four nodes (plus whatever
# else the machine runs) share those two cores, and one starting node stalls the others'
# control threads for a moment: the heartbeat and lease timers default to dead_ms 1000 and
# lease_ttl_ms 1500 here, and the TC watcher to stall_ms 2000 (RC_HA_DEAD_MS, RC_HA_TTL_MS,
# RC_HA_EXTRA override), so that the nodes do not fail each other over on their own while
# the use case runs.
RC_HA_DEAD_MS=${RC_HA_DEAD_MS:-1000}
RC_HA_TTL_MS=${RC_HA_TTL_MS:-1500}
RC_HA_EXTRA=${RC_HA_EXTRA-stall_ms = 2000;}

C4_ID=(1a 1b 2a 2b)
C4_GROUP=(g1 g1 g2 g2)
C4_VIP=(198.18.0.1 198.18.0.2 198.18.0.3 198.18.0.4)
C4_MGMT_IP=(198.19.0.1 198.19.0.2 198.19.0.3 198.19.0.4)
C4_HA_IP=(198.19.1.1 198.19.1.2 198.19.2.1 198.19.2.2)
C4_NODE_CLUSTER=()
C4_NODB_GROUPS=""
C4_MGMT_PORT=9464
C4_CLUSTER=cluster1
C4_ASSIGNMENT=${C4_ASSIGNMENT:-balanced}
C4_DB_LAYOUT=${C4_DB_LAYOUT:-per-group}
C4_SEED=""
C4_RELAY=0
C4_RELAY_SECRET=""
declare -A C4_DB_CONNINFO=()

c4_nodes() { echo "${!C4_ID[@]}"; } # every node's index

c4_index() { # ID -> 0..3
	local i
	for i in $(c4_nodes); do
		[ "${C4_ID[i]}" = "$1" ] && echo "$i" && return 0
	done
	rc_fail "c4_index: no node $1"
}

c4_peer() { # I: the other node of I's group, "" when I is alone in it
	local j
	for j in $(c4_nodes); do
		[ "$j" != "$1" ] && [ "${C4_GROUP[j]}" = "${C4_GROUP[$1]}" ] && echo "$j" && return 0
	done
	echo ""
}
c4_ha() { [ -n "$(c4_peer "$1")" ]; } # I: node I's group has HA on (two nodes)
c4_cluster_of() { echo "${C4_NODE_CLUSTER[$1]:-$C4_CLUSTER}"; }
c4_clusters() { # every cluster, in the order of the nodes
	local i
	for i in $(c4_nodes); do c4_cluster_of "$i"; done | awk '!seen[$0]++'
}
c4_groups() { # [CLUSTER]: every group (of CLUSTER), in the order of the nodes
	local i
	for i in $(c4_nodes); do
		[ -z "${1:-}" ] || [ "$(c4_cluster_of "$i")" = "$1" ] && echo "${C4_GROUP[i]}"
	done | awk '!seen[$0]++'
}
_c4_has_db() { [[ " $C4_NODB_GROUPS " != *" $1 "* ]]; } # GROUP

# Every node's log end on failure (lib.sh's version knows the single-node layout only).
rc_show_node_log() {
	local i
	for i in $(c4_nodes); do
		if [ -z "${RC_HA_LOG[i]:-}" ] || [ ! -s "${RC_HA_LOG[i]}" ]; then continue; fi
		echo "---- last ${1:-15} lines of ${C4_ID[i]}'s log (${RC_HA_LOG[i]}) ----"
		tail -n "${1:-15}" "${RC_HA_LOG[i]}"
	done
	echo "----"
}

_c4_netns_add() { # NS
	rc_state_add netns "$1"
	ip netns add "$1" || rc_fail "ip netns add $1"
	ip -n "$1" link set lo up
	rc_ns "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
}

_c4_bridge_port() { # NS IF BRIDGE: a veth IF in NS, its peer IFp enslaved to BRIDGE
	ip link add "$2" netns "$1" type veth peer name "${2}p" netns "$RC_NS_LAN" ||
		rc_fail "veth $2"
	rc_disable_offloads "$1" "$2"
	rc_disable_offloads "$RC_NS_LAN" "${2}p"
	ip -n "$RC_NS_LAN" link set "${2}p" master "$3" up
	ip -n "$1" link set "$2" up
}

c4_setup() {
	local i p br ip
	RC_NS_LAN="$RC_PREFIX-lan"
	RC_HA_ID=("${C4_ID[@]}")
	RC_HA_VIP=("${C4_VIP[@]}")
	RC_HA_LINK_IP=("${C4_HA_IP[@]}")
	RC_HA_NS=() RC_HA_IF=() RC_IF_HA=() RC_HA_PID=() RC_HA_STARTS=()
	for i in $(c4_nodes); do
		RC_HA_PID[i]="" RC_HA_STARTS[i]=0
		RC_HA_NS[i]="$RC_PREFIX-${C4_ID[i]}"
		RC_HA_IF[i]="$RC_PREFIX-d${C4_ID[i]}"
		RC_IF_HA[i]="$RC_PREFIX-h${C4_ID[i]}"
	done
	RC_NS_NODE=${RC_HA_NS[0]}
	_c4_netns_add "$RC_NS_LAN"
	for br in br0 br1; do
		ip -n "$RC_NS_LAN" link add "$br" type bridge stp_state 0 forward_delay 0 ||
			rc_fail "cannot create the bridge $br"
		ip -n "$RC_NS_LAN" link set "$br" up
	done
	for i in $(c4_nodes); do
		_c4_netns_add "${RC_HA_NS[i]}"
		_c4_bridge_port "${RC_HA_NS[i]}" "${RC_HA_IF[i]}" br0
		_c4_bridge_port "${RC_HA_NS[i]}" "$RC_PREFIX-m${C4_ID[i]}" br1
		ip -n "${RC_HA_NS[i]}" addr add "${C4_MGMT_IP[i]}/24" dev "$RC_PREFIX-m${C4_ID[i]}"
	done
	for i in $(c4_nodes); do # the HA link of each pair
		p=$(c4_peer "$i")
		if [ -z "$p" ] || [ "$p" -lt "$i" ]; then continue; fi
		ip link add "${RC_IF_HA[i]}" netns "${RC_HA_NS[i]}" type veth peer name \
			"${RC_IF_HA[p]}" netns "${RC_HA_NS[p]}" || rc_fail "veth HA link $i"
	done
	for i in $(c4_nodes); do
		c4_ha "$i" || continue
		ip -n "${RC_HA_NS[i]}" addr add "${C4_HA_IP[i]}/24" dev "${RC_IF_HA[i]}"
		ip -n "${RC_HA_NS[i]}" link set "${RC_IF_HA[i]}" up
	done
	_c4_netns_add "$RC_NS_CLI"
	_c4_bridge_port "$RC_NS_CLI" "$RC_IF_CLI" br0
	for ip in "${RC_CLIENT_IPS[@]}"; do
		ip -n "$RC_NS_CLI" addr add "$ip/24" dev "$RC_IF_CLI" || rc_fail "addr $ip"
	done
	rc_log "cluster layout: LAN and management bridges in $RC_NS_LAN; nodes" \
		"$(for i in $(c4_nodes); do printf '%s (%s) ' "${C4_ID[i]}" "${C4_VIP[i]}"; done)" \
		"in ${RC_PREFIX}-<id>; clients in $RC_NS_CLI (${RC_CLIENT_IPS[*]})"
}

_c4_db_of() { # GROUP: its database's name
	if [ "$C4_DB_LAYOUT" = shared ]; then echo shared; else echo "$1"; fi
}

# c4_start_pg: PostgreSQL (lib.sh's fixture) with the groups' databases. Each conninfo is
# written as the cluster state writes an assigned database's, so that a node starts on the
# database its group is assigned, without a switch.
c4_start_pg() {
	local g db
	rc_start_pg
	for g in $(c4_groups); do
		_c4_has_db "$g" || continue
		db=$(_c4_db_of "$g")
		if [ "$(rc_psql "SELECT count(*) FROM pg_database WHERE datname = '$db'")" = 0 ]; then
			rc_psql "CREATE DATABASE $db" >/dev/null || rc_fail "CREATE DATABASE $db"
		fi
		C4_DB_CONNINFO[$g]="host=$RC_PG_DIR port=$(cat "$RC_PG_DIR/port") dbname=$db user=postgres"
	done
	rc_log "databases: $(for g in $(c4_groups); do _c4_has_db "$g" &&
		printf '%s -> %s ' "$g" "$(_c4_db_of "$g")"; done)"
}

_c4_seed_group() { # GROUP
	local i first=1 db=""
	_c4_has_db "$1" && db="database = \"$(_c4_db_of "$1")\"; "
	echo "  { name = \"$1\"; ha = $(c4_ha "$(c4_index_in_group "$1")" && echo true ||
		echo false); assignment = \"$C4_ASSIGNMENT\";"
	echo "    ${db}nodes = ("
	for i in $(c4_nodes); do
		[ "${C4_GROUP[i]}" = "$1" ] || continue
		[ "$first" = 1 ] || echo "      ,"
		first=0
		printf '      { id = "%s"; mgmt = "%s:%s"; vip = "%s"; port = "chat0"; }\n' \
			"${C4_ID[i]}" "${C4_MGMT_IP[i]}" "$C4_MGMT_PORT" "${C4_VIP[i]}"
	done
	echo "    ); }"
}
c4_index_in_group() { # GROUP: its first node's index
	local i
	for i in $(c4_nodes); do [ "${C4_GROUP[i]}" = "$1" ] && echo "$i" && return 0; done
}

_c4_write_seed() {
	local c g dbs sep=""
	C4_SEED="$RC_WORK/cluster.conf"
	dbs=$(for g in $(c4_groups); do if _c4_has_db "$g"; then _c4_db_of "$g"; fi; done | sort -u)
	{
		echo "# the cluster(s) of tests/integration/cluster4_lib.sh"
		echo "clusters = ("
		for c in $(c4_clusters); do
			echo "${sep}{ name = \"$c\"; groups = ("
			sep=", "
			g=""
			for g in $(c4_groups "$c"); do
				[ "$g" = "$(c4_groups "$c" | head -n 1)" ] || echo "  ,"
				_c4_seed_group "$g"
			done
			echo "); }"
		done
		echo ");"
		echo "chat = { enabled = true; messages_on_join = 20; };"
		echo "databases = ("
		sep=""
		for g in $dbs; do
			echo "  $sep{ name = \"$g\"; type = \"postgresql\"; host = \"$RC_PG_DIR\";"
			echo "    port = $(cat "$RC_PG_DIR/port"); dbname = \"$g\"; user = \"postgres\"; }"
			sep=", "
		done
		echo ");"
	} >"$C4_SEED"
}

_c4_new_secret() { # FILE: 32 random bytes, in hex
	(umask 077 && head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$1")
}
c4_ic_secret_file() { echo "$RC_WORK/relay-ic-${C4_ID[$1]}.secret"; } # I

_c4_relay_block() { # I: node I's relay block
	local c own sep=""
	own=$(c4_cluster_of "$1")
	echo "relay = {"
	echo "  secret_file = \"$RC_WORK/relay-$own.secret\";${C4_RELAY_EXTRA:+
  $C4_RELAY_EXTRA}"
	if [ "$(c4_clusters | wc -l)" -gt 1 ]; then
		echo "  intercluster = ("
		for c in $(c4_clusters); do
			[ "$c" != "$own" ] || continue
			echo "    $sep{ cluster = \"$c\"; secret_file = \"$(c4_ic_secret_file "$1")\"; }"
			sep=", "
		done
		echo "  );"
	fi
	echo "};"
}

# c4_write_confs: the seed, the relay secrets and every node's config (after c4_start_pg).
c4_write_confs() {
	local i p c probe conninfo
	_c4_write_seed
	for c in $(c4_clusters); do _c4_new_secret "$RC_WORK/relay-$c.secret"; done
	C4_RELAY_SECRET="$RC_WORK/relay-$C4_CLUSTER.secret"
	_c4_new_secret "$RC_WORK/relay-ic.secret" # one for every pair of clusters: a test's two
	for i in $(c4_nodes); do
		cp "$RC_WORK/relay-ic.secret" "$(c4_ic_secret_file "$i")"
		p=$(c4_peer "$i")
		conninfo=""
		_c4_has_db "${C4_GROUP[i]}" && conninfo=${C4_DB_CONNINFO[${C4_GROUP[i]}]:-}
		_c4_has_db "${C4_GROUP[i]}" && [ -z "$conninfo" ] &&
			rc_fail "c4_write_confs: c4_start_pg first"
		RC_HA_CONF[i]="$RC_WORK/${C4_ID[i]}.conf"
		RC_HA_SOCK[i]="$RC_WORK/${C4_ID[i]}.sock"
		RC_HA_LOG[i]="$RC_WORK/roomcastd-${C4_ID[i]}.log"
		RC_HA_DATA[i]="$RC_WORK/data-${C4_ID[i]}"
		RC_HA_PREFIX[i]="$RC_FILE_PREFIX-${C4_ID[i]}"
		rc_state_add dpdk "/var/run/dpdk/${RC_HA_PREFIX[i]}"
		RC_NODE_ID=${C4_ID[i]} RC_CONF_SERVICE_IP=${C4_VIP[i]} \
			RC_CONF_DATA_DIR=${RC_HA_DATA[i]} RC_CONF_ADMIN_SOCK=${RC_HA_SOCK[i]} \
			RC_CONF_FILE_PREFIX=${RC_HA_PREFIX[i]} RC_MGMT_PORT=$C4_MGMT_PORT \
			RC_CLUSTER_FILE=$C4_SEED RC_PG_CONNINFO=$conninfo \
			rc_write_node_conf "${RC_HA_CONF[i]}" net_af_packet0 "iface=${RC_HA_IF[i]}"
		sed -i "s/mgmt_address = \"127.0.0.1:/mgmt_address = \"${C4_MGMT_IP[i]}:/" \
			"${RC_HA_CONF[i]}"
		[ -n "$p" ] || continue
		cat >>"${RC_HA_CONF[i]}" <<EOS
ha = {
  enabled = true;
  peer_id = "${C4_ID[p]}";
  address = "${C4_HA_IP[i]}:$RC_HA_PORT";
  peer_address = "${C4_HA_IP[p]}:$RC_HA_PORT";
  peer_service_ip = "${C4_VIP[p]}";
  durability = "${RC_HA_DURABILITY:-peer}";${RC_HA_INTERVAL_MS:+
  interval_ms = $RC_HA_INTERVAL_MS;}${RC_HA_DEAD_MS:+
  dead_ms = $RC_HA_DEAD_MS;}${RC_HA_TTL_MS:+
  lease_ttl_ms = $RC_HA_TTL_MS;}
  fault_injection = true;${RC_HA_EXTRA:+
  $RC_HA_EXTRA}
};
EOS
	done
	# The relay block, if this roomcastd knows it (a build without the relay refuses it).
	probe="$RC_WORK/relay-probe.conf"
	{ cat "${RC_HA_CONF[0]}" && _c4_relay_block 0; } >"$probe"
	if "$RC_ROOMCASTD" -c "$probe" --check >"$RC_WORK/relay-probe.log" 2>&1; then
		C4_RELAY=1
		for i in $(c4_nodes); do _c4_relay_block "$i" >>"${RC_HA_CONF[i]}"; done
	else
		C4_RELAY=0
		rc_log "this roomcastd has no relay block: $(head -n 1 "$RC_WORK/relay-probe.log")"
	fi
	rc_log "configs written (seed $C4_SEED, relay $C4_RELAY)"
}

# c4_up: start every node, then wait until every node is Normal (Unknown: HA off) for 3 s in
# a row.
c4_up() {
	local i deadline=$((SECONDS + 60)) since="" want=()
	for i in $(c4_nodes); do
		rc_ha_start "$i"
		if c4_ha "$i"; then want+=(Normal); else want+=(Unknown); fi
	done
	c4_wait_states 30 "${want[@]}"
	while :; do
		if _c4_states_are "${want[@]}"; then
			since=${since:-$SECONDS}
			[ $((SECONDS - since)) -lt 3 ] || break
		else
			since=""
			for i in $(c4_nodes); do
				c4_ha "$i" && _c4_fell_over "$i" && _c4_start_fallback "$i"
			done
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			c4_show_states
			rc_fail "the cluster did not settle (every node Normal for 3 s): $(c4_states)"
		fi
		sleep 0.5
	done
	c4_mark
}

_c4_fell_over() { # I: Failed Over while its peer serves its rooms
	[ "$(rc_ha_state "$1")" = "Failed Over" ] &&
		[ "$(rc_ha_state "$(c4_peer "$1")")" = "Running in Backup Mode" ]
}
_c4_start_fallback() { # I
	rc_log "start-up: ${C4_ID[$1]} fell over while the nodes started ($(c4_reason "$1")):" \
		"ha fallback ${C4_ID[$1]}"
	rc_ha_ctl "$1" ha fallback "${C4_ID[$1]}" >/dev/null 2>&1 || true
}

declare -a C4_MARK=()
c4_mark() {
	local i
	for i in $(c4_nodes); do
		C4_MARK[i]=$(rc_ha_ctl "$i" -j ha status | jq -r '.fsm.history[-1].at_ms // 0')
	done
}
c4_path() { # I
	rc_ha_ctl "$1" -j ha status | jq -r --argjson m "${C4_MARK[$1]:-0}" \
		'[.fsm.history[] | select(.at_ms > $m) | .to] | join(" > ")'
}

c4_tc_hang() { # I: the TC service stops answering (its worker lcores stall)
	rc_ha_ctl "$1" ha fault stall-workers >/dev/null || rc_fail "stall-workers on ${C4_ID[$1]}"
	rc_log "${C4_ID[$1]}: the TC service hangs"
}
c4_tc_resume() { # I
	rc_ha_ctl "$1" ha fault resume-workers >/dev/null || rc_fail "resume-workers on ${C4_ID[$1]}"
	rc_log "${C4_ID[$1]}: the TC service runs again"
}

c4_reason() { rc_ha_ctl "$1" -j ha status 2>/dev/null | jq -r '.reason // empty' 2>/dev/null || true; }

c4_states() {
	local i out=""
	for i in $(c4_nodes); do out+="${out:+|}${C4_ID[i]}=$(rc_ha_state "$i")"; done
	echo "$out"
}

c4_show_states() {
	local i
	for i in $(c4_nodes); do
		rc_log "  ${C4_ID[i]}: $(rc_ha_state "$i") ($(c4_reason "$i"))"
	done
}

_c4_states_are() { # S0 S1 ...
	local i s
	for i in $(c4_nodes); do
		s=$(rc_ha_state "$i")
		[ "$1" = "*" ] || [ "$s" = "$1" ] || return 1
		shift
	done
}

c4_wait_states() { # SECONDS S0 S1 ...
	local secs=$1 deadline=$((SECONDS + $1))
	shift
	while ! _c4_states_are "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			c4_show_states
			rc_fail "not [$*] within $secs s: $(c4_states)"
		fi
		sleep 0.2
	done
}

c4_relay_dump() { # every node's relay state and rooms (to explain a failure)
	local i
	for i in 0 1 2 3; do
		echo "---- ${C4_ID[i]}: relay status, room list"
		rc_ha_ctl "$i" relay status 2>&1 || true
		rc_ha_ctl "$i" room list 2>&1 || true
	done
}

c4_backlogs_empty() { # I...
	local i
	for i in "$@"; do
		[ "$(rc_ha_ctl "$i" -j db status | jq -r '.backlog.records')" = 0 ] || return 1
	done
}
