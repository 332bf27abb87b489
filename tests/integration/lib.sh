# shellcheck shell=bash disable=SC2034 # variables here are used by the scripts that source it
# Helpers for roomcast's integration tests (and configs/demo/run). Source it, then:
#
#   rc_init NAME            traps, a private work dir, unique names for this run
#   rc_setup_netns          namespace NODE (roomcastd) and CLI (clients) joined by a veth pair:
#                             NODE side: no IP (DPDK net_af_packet owns it)
#                             CLI side:  198.18.0.10/24 .. 198.18.0.13/24 (RC_CLIENT_IPS)
#                             the node's service IP is 198.18.0.1 (RC_SERVICE_IP)
#   rc_write_node_conf      writes RC_CONF for that layout (+ a 0600 secret file)
#   rc_start_node / rc_stop_node / rc_kill_node
#   rc_ctl ARGS             roomcastctl against this node's admin socket
#   rc_rcload ARGS          rcload in the CLI namespace, pointed at the node
#   rc_rcproto USER TOKEN CHECK   tests/tools/rcproto.py (raw protocol checks) likewise
#   rc_stat JQ / rc_drops_total   read `roomcastctl -j stats`
#   rc_room NAME [NODE]     the canonical name (as stored) of room NAME joined by its bare name
#                             at NODE's service address, outside a cluster: NAME@tc-NODE
#   rc_assert*, rc_fail     print what failed (and the node log's end), exit 1
#
# A second roomcastd in the same NODE namespace (tests of a pair of nodes):
#   rc_node2_init           names for node 2: RC_CONF2, RC_DATA_DIR2, RC_ADMIN_SOCK2, RC_NODE_LOG2,
#                             RC_FILE_PREFIX2 (id RC_NODE2_ID = n2, service IP RC_SERVICE_IP2)
#   rc_write_node2_conf     its config: net_null0 (no traffic), mgmt 127.0.0.1:RC_MGMT_PORT2
#   rc_start_node2 / rc_stop_node2 / rc_kill_node2 / rc_ctl2
# rc_write_node_conf's knobs (environment): RC_NODE_ID (n1), RC_CONF_SERVICE_IP, RC_CONF_DATA_DIR,
# RC_CONF_ADMIN_SOCK, RC_CONF_FILE_PREFIX, RC_MGMT_PORT (9464), RC_CLUSTER_FILE (node.cluster_file),
# RC_CHAT_EXTRA (more chat settings, e.g. "login_rate = 10;"), RC_WORKERS_EXTRA (workers ones).
#
# Everything created (namespaces, veth, processes, DPDK runtime dir, work dir) is removed by an
# EXIT trap, also on failure. Each live run is recorded in RC_STATE_DIR so that
# `bash tests/integration/lib.sh cleanup-stale` (run by tests/run after every test) removes what
# a killed run left behind.
#
# Names: prefix rcNNN (NNN = PID % 1000, bumped while taken); namespaces rcNNN-node, rcNNN-cli;
# interfaces rcNNN-nd (node side) and rcNNN-cl (client side): at most 15 characters.

RC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RC_BUILD=${RC_BUILD_DIR:-$RC_ROOT/build}
case "$RC_BUILD" in /*) ;; *) RC_BUILD="$RC_ROOT/$RC_BUILD" ;; esac
RC_ROOMCASTD="$RC_BUILD/control/node/roomcastd"
RC_ROOMCASTCTL="$RC_BUILD/control/roomcastctl"
RC_CHAT="$RC_BUILD/control/client/roomcast-chat"
RC_RCLOAD="$RC_BUILD/tests/tools/rcload"

RC_SERVICE_IP=198.18.0.1
RC_PORT=6420
RC_CLIENT_IPS=(198.18.0.10 198.18.0.11 198.18.0.12 198.18.0.13)
RC_STATE_DIR=/run/roomcast-tests
RC_READY_TIMEOUT_S=${RC_READY_TIMEOUT_S:-30}
RC_STOP_TIMEOUT_S=${RC_STOP_TIMEOUT_S:-20}

RC_NAME=""
RC_PREFIX=""
RC_WORK=""
RC_STATE_FILE=""
RC_NS_NODE=""
RC_NS_CLI=""
RC_IF_NODE=""
RC_IF_CLI=""
RC_FILE_PREFIX=""
RC_CONF=""
RC_SECRET=""
RC_DATA_DIR=""
RC_ADMIN_SOCK=""
RC_NODE_LOG=""
RC_NODE_PID=""
RC_NODE_STARTS=0
RC_BG_PIDS=()
RC_NODE2_ID=n2
RC_SERVICE_IP2=198.18.0.2
RC_MGMT_PORT2=${RC_MGMT_PORT2:-9465}
RC_CONF2=""
RC_DATA_DIR2=""
RC_ADMIN_SOCK2=""
RC_NODE_LOG2=""
RC_FILE_PREFIX2=""
RC_NODE2_PID=""
RC_FAIL_MSG=""
RC_ERR_AT=""
RC_RCLOAD_COMMON=()

# ---- messages and assertions ---------------------------------------------------------------

rc_log() { printf '[%4ds] %s\n' "$SECONDS" "$*"; }

# Print the end of the node's log (where a failure usually explains itself).
rc_show_node_log() {
	local log
	for log in "$RC_NODE_LOG" "$RC_NODE_LOG2"; do
		if [ -z "$log" ] || [ ! -s "$log" ]; then continue; fi
		echo "---- last ${1:-30} lines of the roomcastd log ($log) ----"
		tail -n "${1:-30}" "$log"
		echo "----"
	done
}

# Fail the test: the message is printed again as the very last line by the EXIT trap.
rc_fail() {
	RC_FAIL_MSG="$*"
	# Also on file: rc_fail may run in a $(...) subshell whose variables the EXIT trap never sees.
	[ -n "$RC_WORK" ] && [ -d "$RC_WORK" ] && printf '%s\n' "$*" >>"$RC_WORK/fail.msg"
	echo "ASSERTION FAILED: $*" >&2
	rc_show_node_log 30 >&2
	exit 1
}

# rc_assert DESC CMD [ARGS...]: CMD must exit 0.
rc_assert() {
	local desc=$1 rc=0
	shift
	"$@" || rc=$?
	[ "$rc" -eq 0 ] || rc_fail "$desc: \`$*\` exited $rc"
}

# rc_assert_fails DESC CMD [ARGS...]: CMD must exit non-zero.
rc_assert_fails() {
	local desc=$1 rc=0
	shift
	"$@" || rc=$?
	[ "$rc" -ne 0 ] || rc_fail "$desc: \`$*\` succeeded, expected a failure"
}

rc_assert_eq() { # ACTUAL EXPECTED DESC
	[ "$1" = "$2" ] || rc_fail "$3: got '$1', expected '$2'"
}

rc_assert_int_gt() { # A B DESC: integers, A > B
	[[ "$1" =~ ^-?[0-9]+$ ]] || rc_fail "$3: '$1' is not a number"
	[[ "$2" =~ ^-?[0-9]+$ ]] || rc_fail "$3: '$2' is not a number"
	[ "$1" -gt "$2" ] || rc_fail "$3: $1 is not > $2"
}

rc_assert_match() { # TEXT ERE DESC
	# a here-string, not a pipe: grep -q stops at the first match, and under pipefail the
	# writer's SIGPIPE on a long text (a /metrics page is over 64 KiB) would fail the check
	grep -Eq -- "$2" <<<"$1" ||
		rc_fail "$3: /$2/ not found in: $(printf '%s' "$1" | head -c 600)"
}

rc_assert_file_match() { # FILE ERE DESC
	grep -Eq -- "$2" "$1" 2>/dev/null ||
		rc_fail "$3: /$2/ not found in $1: $(head -c 600 "$1" 2>/dev/null)"
}

# rc_wait_until SECONDS DESC CMD [ARGS...]: poll CMD (every 0.2 s) until it succeeds.
rc_wait_until() {
	local secs=$1 limit=$((SECONDS + $1)) desc=$2
	shift 2
	until "$@"; do
		[ "$SECONDS" -lt "$limit" ] || rc_fail "$desc: still false after ${secs} s: \`$*\`"
		sleep 0.2
	done
}

rc_require_root() {
	[ "$(id -u)" -eq 0 ] || rc_fail "needs root (network namespaces, DPDK); cannot run"
}

# rc_require_bins PATH...: the build produced these.
rc_require_bins() {
	local b
	for b in "$@"; do
		[ -x "$b" ] || rc_fail "$b is not built (run ninja -C ${RC_BUILD#"$RC_ROOT"/})"
	done
}

rc_require_cmds() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || rc_fail "command '$c' missing (run .ci/install-deps)"
	done
}

# ---- lifecycle -------------------------------------------------------------------------------

rc_proc_start_time() { # PID: the kernel's start time of PID (to tell a reused PID apart)
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	# shellcheck disable=SC2086 # split the fields on purpose
	set -- $s
	echo "${20}"
}

rc_alive() { # PID: running (not a zombie)
	local s
	[ -n "$1" ] || return 1
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "${s%% *}" != Z ]
}

rc_kill_tree() { # SIGNAL PID: PID and its descendants (children first)
	local c
	for c in $(ps -o pid= --ppid "$2" 2>/dev/null); do rc_kill_tree "$1" "$c"; done
	kill "-$1" "$2" 2>/dev/null
	return 0
}

rc_state_add() { # KEY VALUE: remember something to delete if this run dies
	[ -n "$RC_STATE_FILE" ] && echo "$1 $2" >>"$RC_STATE_FILE"
	return 0
}

# ERR trap: where a command failed unexpectedly (set -e), as a call chain.
rc_on_err() {
	local i at=""
	for ((i = 1; i < ${#FUNCNAME[@]}; i++)); do
		at+="${at:+ <- }${FUNCNAME[i]}@$(basename "${BASH_SOURCE[i]}"):${BASH_LINENO[i - 1]}"
	done
	RC_ERR_AT="\`$1\` in $at"
}

# rc_init NAME: call first. Sets traps, picks the prefix and creates the work dir.
rc_init() {
	RC_NAME=${1:-test}
	set -Eeuo pipefail
	trap 'rc_on_err "$BASH_COMMAND"' ERR
	trap rc_cleanup EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	trap 'exit 129' HUP
	rc_require_root
	rc_require_cmds ip ethtool jq timeout
	mkdir -p "$RC_STATE_DIR"
	rc_cleanup_stale >/dev/null 2>&1 || true

	local n=$(($$ % 1000)) i
	for ((i = 0; i < 1000; i++)); do
		RC_PREFIX="rc$(((n + i) % 1000))"
		if [ ! -e "$RC_STATE_DIR/$RC_PREFIX" ] && [ ! -e "/run/netns/$RC_PREFIX-node" ] &&
			[ ! -e "/run/netns/$RC_PREFIX-cli" ] &&
			(set -o noclobber && echo "owner $$ $(rc_proc_start_time $$)" \
				>"$RC_STATE_DIR/$RC_PREFIX") 2>/dev/null; then
			break
		fi
		RC_PREFIX=""
	done
	[ -n "$RC_PREFIX" ] || rc_fail "no free name prefix in $RC_STATE_DIR"
	RC_STATE_FILE="$RC_STATE_DIR/$RC_PREFIX"

	RC_WORK=$(mktemp -d "/tmp/roomcast-$RC_NAME.XXXXXX")
	rc_state_add workdir "$RC_WORK"
	RC_NS_NODE="$RC_PREFIX-node"
	RC_NS_CLI="$RC_PREFIX-cli"
	RC_IF_NODE="$RC_PREFIX-nd"
	RC_IF_CLI="$RC_PREFIX-cl"
	RC_FILE_PREFIX="roomcast-$RC_PREFIX-$$"
	RC_CONF="$RC_WORK/node.conf"
	RC_SECRET="$RC_WORK/secret"
	RC_DATA_DIR="$RC_WORK/data"
	RC_ADMIN_SOCK="$RC_WORK/admin.sock"
	RC_NODE_LOG="$RC_WORK/roomcastd.log"
	rc_state_add dpdk "/var/run/dpdk/$RC_FILE_PREFIX"
	# How rcload reaches the node and logs in (it mints its tokens from the shared secret).
	RC_RCLOAD_COMMON=(--server "$RC_SERVICE_IP:$RC_PORT" --secret "$RC_SECRET")
	rc_log "$RC_NAME: prefix $RC_PREFIX, work dir $RC_WORK, build $RC_BUILD"
}

# Remove one run's leftovers, as listed in its state file.
rc_cleanup_state_file() { # FILE
	local key val p
	while read -r key val _; do
		case "$key" in
		netns)
			for p in $(ip netns pids "$val" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
			ip netns del "$val" 2>/dev/null
			;;
		link) ip link del "$val" 2>/dev/null ;;
		dpdk | workdir) [ -n "$val" ] && [ "$val" != / ] && rm -rf "$val" ;;
		pg) [ -n "$val" ] && bash "$RC_ROOT/tests/pg/pg-fixture.sh" clean "$val" >/dev/null 2>&1 ;;
		esac
	done <"$1"
	rm -f "$1"
}

# Delete what runs that are gone left behind (their owner process no longer exists).
rc_cleanup_stale() {
	local f owner pid start
	[ -d "$RC_STATE_DIR" ] || return 0
	for f in "$RC_STATE_DIR"/rc*; do
		[ -f "$f" ] || continue
		read -r owner pid start <"$f" || continue
		[ "$owner" = owner ] || continue
		if [ -n "$pid" ] && rc_alive "$pid" && [ "$(rc_proc_start_time "$pid")" = "$start" ]; then
			continue
		fi
		echo "cleanup-stale: removing the leftovers of $(basename "$f") (pid $pid gone)"
		rc_cleanup_state_file "$f"
	done
}

# EXIT trap: stop everything, delete namespaces, keep the logs, report.
rc_cleanup() {
	local rc=$? p
	set +e
	trap - EXIT ERR TERM INT HUP
	for p in "$RC_NODE_PID" "$RC_NODE2_PID"; do
		if rc_alive "$p"; then
			kill -KILL "$p" 2>/dev/null
			wait "$p" 2>/dev/null
		fi
	done
	for p in "${RC_BG_PIDS[@]}"; do
		rc_alive "$p" && rc_kill_tree KILL "$p"
		wait "$p" 2>/dev/null # reaped here, so bash does not report "Killed"
	done
	if [ -z "$RC_FAIL_MSG" ] && [ -s "$RC_WORK/fail.msg" ]; then
		RC_FAIL_MSG=$(head -n 1 "$RC_WORK/fail.msg")
	fi
	if [ -n "${RC_TEST_LOG_DIR:-}" ] && [ -n "$RC_WORK" ] && [ -d "$RC_WORK" ]; then
		mkdir -p "$RC_TEST_LOG_DIR"
		find "$RC_WORK" -maxdepth 1 -type f \( -name '*.log' -o -name '*.conf' \) \
			-exec cp {} "$RC_TEST_LOG_DIR/" \;
	fi
	if [ -n "$RC_STATE_FILE" ] && [ -f "$RC_STATE_FILE" ]; then
		rc_cleanup_state_file "$RC_STATE_FILE"
	fi
	if [ "$rc" -eq 0 ]; then
		rc_log "$RC_NAME: OK"
	elif [ -n "$RC_FAIL_MSG" ]; then
		echo "FAIL: $RC_NAME: $RC_FAIL_MSG"
	elif [ -z "$RC_ERR_AT" ] && [ "$rc" -ge 129 ] && [ "$rc" -le 143 ]; then
		rc_show_node_log 30
		echo "FAIL: $RC_NAME: stopped by signal $((rc - 128)) (the test's timeout?)"
	else
		[ -n "$RC_ERR_AT" ] && rc_show_node_log 30
		echo "FAIL: $RC_NAME: exit $rc${RC_ERR_AT:+ at $RC_ERR_AT}"
	fi
	exit "$rc"
}

# ---- the network layout -----------------------------------------------------------------------

rc_ns() { # NS CMD...: run in a namespace
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

rc_disable_offloads() { # NS IF: full checksums on the wire, no GSO/GRO, so af_packet sees them
	local f
	if ! rc_ns "$1" ethtool -K "$2" rx off tx off gso off tso off gro off >/dev/null 2>&1; then
		for f in rx tx gso tso gro; do
			rc_ns "$1" ethtool -K "$2" "$f" off >/dev/null 2>&1 ||
				rc_log "warning: ethtool -K $2 $f off failed"
		done
	fi
}

rc_setup_netns() {
	local ns ip
	for ns in "$RC_NS_NODE" "$RC_NS_CLI"; do
		rc_state_add netns "$ns"
		ip netns add "$ns" || rc_fail "ip netns add $ns"
		ip -n "$ns" link set lo up
		# No IPv6 chatter (router solicitations, MLD) on the wire: counters stay exact.
		rc_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || true
	done
	rc_state_add link "$RC_IF_NODE"
	ip link add "$RC_IF_NODE" netns "$RC_NS_NODE" type veth peer name "$RC_IF_CLI" \
		netns "$RC_NS_CLI" || rc_fail "cannot create the veth pair $RC_IF_NODE/$RC_IF_CLI"
	rc_disable_offloads "$RC_NS_NODE" "$RC_IF_NODE"
	rc_disable_offloads "$RC_NS_CLI" "$RC_IF_CLI"
	for ip in "${RC_CLIENT_IPS[@]}"; do
		ip -n "$RC_NS_CLI" addr add "$ip/24" dev "$RC_IF_CLI" ||
			rc_fail "cannot add $ip to $RC_IF_CLI"
	done
	ip -n "$RC_NS_NODE" link set "$RC_IF_NODE" up
	ip -n "$RC_NS_CLI" link set "$RC_IF_CLI" up
	rc_log "namespaces $RC_NS_NODE ($RC_IF_NODE, no IP; node $RC_SERVICE_IP)" \
		"and $RC_NS_CLI ($RC_IF_CLI: ${RC_CLIENT_IPS[*]})"
}

# ---- the node ---------------------------------------------------------------------------------

# rc_write_node_conf [FILE [DEVICE [DEVICE_ARGS]]]: a node config for this layout (default
# RC_CONF, net_af_packet0 on the node-side veth). Creates the secret file if missing.
# RC_WORKERS=2 gives two worker lcores (lcores 1 and 2, both on CPU 1) with two queue pairs on
# the port (af_packet qpairs=2: the kernel fans flows out over the two RX queues; memif: two
# queue pairs, the peer's queue q reaches worker q). RC_LCORES replaces the EAL's lcore map
# (e.g. "0@0,1@0,2@1": the workers on two CPUs).
rc_write_node_conf() {
	local file=${1:-$RC_CONF} dev=${2-net_af_packet0} devargs=${3-iface=$RC_IF_NODE}
	local lcores='"-l", "0-1"' workers='[1]' queues=1
	if [ "${RC_WORKERS:-1}" = 2 ]; then
		lcores='"--lcores", "0@0,1@1,2@1"'
		workers='[1, 2]'
		queues=2
		[[ $dev != net_af_packet* ]] || devargs="$devargs,qpairs=2"
	fi
	[ -z "${RC_LCORES:-}" ] || lcores="\"--lcores\", \"$RC_LCORES\""
	if [ ! -f "$RC_SECRET" ]; then
		(umask 077 && head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' >"$RC_SECRET")
		chmod 0600 "$RC_SECRET"
	fi
	cat >"$file" <<EOF
# roomcast node config for the test layout (generated by tests/integration/lib.sh)
node = {
  id = "${RC_NODE_ID:-n1}";
  service_ip = "${RC_CONF_SERVICE_IP:-$RC_SERVICE_IP}";
  udp_port = $RC_PORT;
  data_dir = "${RC_CONF_DATA_DIR:-$RC_DATA_DIR}";
  admin_socket = "${RC_CONF_ADMIN_SOCK:-$RC_ADMIN_SOCK}";
  admin_group = "";
  mgmt_address = "127.0.0.1:${RC_MGMT_PORT:-9464}";${RC_CLUSTER_FILE:+
  cluster_file = \"$RC_CLUSTER_FILE\";}
};
eal = { args = ["--no-huge", "--no-pci", "-m", "256",
                "--file-prefix=${RC_CONF_FILE_PREFIX:-$RC_FILE_PREFIX}",
                $lcores, "--log-level=5"]; };
ports = ( { name = "chat0"; device = "$dev"; args = "$devargs";
            rx_queues = $queues; tx_queues = $queues; rx_desc = 1024; tx_desc = 1024; mtu = 1500; } );
workers = { lcores = $workers; burst = 32; idle_backoff = true; idle_polls = 100;
            idle_sleep_us = 100; mbufs = 16383; ${RC_WORKERS_EXTRA:-} };
chat = { history_on_join = 20; max_fetch = 200; session_idle_s = 120; max_sessions = 65536;
         max_rooms = ${RC_MAX_ROOMS:-10000}; max_members = 1000;
         post_rate = ${RC_POST_RATE:-50}; post_burst = ${RC_POST_BURST:-100}; dedup_window = ${RC_DEDUP_WINDOW:-4096};
         ${RC_CHAT_EXTRA:-} };
auth = { secret_file = "$RC_SECRET"; token_ttl_s = 86400; };
wal = { map_size_mb = ${RC_MAP_MB:-64}; high_water_pct = ${RC_HIGH_WATER:-90}; batch_max = 512;
        nosync = false; keep_records = ${RC_KEEP_RECORDS:-100000}; };
EOF
	if [ -n "${RC_PG_CONNINFO:-}" ]; then
		cat >>"$file" <<EOF
db = { conninfo = "$RC_PG_CONNINFO"; batch_max = ${RC_DB_BATCH:-2000}; retry_max_ms = 500; };
EOF
	fi
}

# ---- PostgreSQL (tests/pg/pg-fixture.sh): a throw-away server on a unix socket in a short
# directory; the node reaches it through the socket (the file system is shared by the
# namespaces, the loopback is not).
RC_PG_DIR=""
RC_PG_CONNINFO=""

rc_start_pg() {
	if [ -z "$RC_PG_DIR" ]; then
		RC_PG_DIR=$(mktemp -d /tmp/rcpg.XXXXXX)
		rc_state_add pg "$RC_PG_DIR"
	fi
	bash "$RC_ROOT/tests/pg/pg-fixture.sh" start "$RC_PG_DIR" >"$RC_WORK/pg.start.log" 2>&1 ||
		rc_fail "PostgreSQL did not start: $(tail -n 3 "$RC_WORK/pg.start.log")"
	RC_PG_CONNINFO=$(bash "$RC_ROOT/tests/pg/pg-fixture.sh" conninfo "$RC_PG_DIR")
	rc_log "PostgreSQL up: $RC_PG_CONNINFO"
}

rc_stop_pg() {
	bash "$RC_ROOT/tests/pg/pg-fixture.sh" stop "$RC_PG_DIR" >>"$RC_WORK/pg.start.log" 2>&1 ||
		rc_fail "PostgreSQL did not stop"
	rc_log "PostgreSQL stopped"
}

# rc_room NAME [NODE]: a room joined by its bare name at node NODE's address (default
# RC_NODE_ID, else n1) is stored under NAME@SERVICE; the service of a node outside any
# cluster is tc-NODE.
rc_room() { printf '%s@tc-%s\n' "$1" "${2:-${RC_NODE_ID:-n1}}"; }

rc_psql() { # SQL: one row per line, fields separated by |
	psql "$RC_PG_CONNINFO" -XAtq -v ON_ERROR_STOP=1 -c "$1"
}

# _rc_daemon_start CONF SOCK LOG PIDVAR STARTSVAR NAME: start roomcastd in the NODE namespace,
# wait until its admin socket answers `status` (at most RC_READY_TIMEOUT_S), fail if it exits
# or does not get ready. PIDVAR and STARTSVAR name the variables that keep its pid and count.
_rc_daemon_start() {
	local conf=$1 sock=$2 log=$3 name=$6 deadline start=$SECONDS
	local -n pid_ref=$4 starts_ref=$5
	rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL"
	[ -z "$pid_ref" ] || rc_fail "start $name: it is already running ($pid_ref)"
	starts_ref=$((starts_ref + 1))
	echo "==== roomcastd start #$starts_ref at $(date '+%F %T') ====" >>"$log"
	ip netns exec "$RC_NS_NODE" "$RC_ROOMCASTD" -c "$conf" >>"$log" 2>&1 &
	pid_ref=$!
	rc_log "$name started (pid $pid_ref, start #$starts_ref)"
	deadline=$((SECONDS + RC_READY_TIMEOUT_S))
	while :; do
		if ! rc_alive "$pid_ref"; then
			local rc=0
			wait "$pid_ref" || rc=$?
			pid_ref=""
			rc_fail "$name exited during startup (exit $rc)"
		fi
		if timeout 5 "$RC_ROOMCASTCTL" -s "$sock" status >/dev/null 2>&1; then
			rc_log "$name ready after $((SECONDS - start)) s"
			return 0
		fi
		[ "$SECONDS" -lt "$deadline" ] ||
			rc_fail "$name not ready after ${RC_READY_TIMEOUT_S} s (roomcastctl status)"
		sleep 0.2
	done
}

# _rc_daemon_stop PIDVAR NAME: SIGTERM, wait (RC_STOP_TIMEOUT_S), then SIGKILL. Returns the
# daemon's exit status (non-zero also when it had to be killed); sets RC_NODE_EXIT.
_rc_daemon_stop() {
	local -n pid_ref=$1
	local pid=$pid_ref name=$2 deadline rc=0
	RC_NODE_EXIT=""
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + RC_STOP_TIMEOUT_S))
	while rc_alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
	if rc_alive "$pid"; then
		rc_log "$name did not exit ${RC_STOP_TIMEOUT_S} s after SIGTERM: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		pid_ref=""
		RC_NODE_EXIT=killed
		return 1
	fi
	wait "$pid" || rc=$?
	pid_ref=""
	RC_NODE_EXIT=$rc
	rc_log "$name stopped by SIGTERM (exit $rc)"
	return "$rc"
}

# _rc_daemon_kill PIDVAR NAME: SIGKILL (a crash), no grace.
_rc_daemon_kill() {
	local -n pid_ref=$1
	local pid=$pid_ref
	[ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid_ref=""
	rc_log "$2 killed with SIGKILL"
	return 0
}

# rc_start_node [CONF]: start roomcastd (see _rc_daemon_start).
rc_start_node() {
	_rc_daemon_start "${1:-$RC_CONF}" "$RC_ADMIN_SOCK" "$RC_NODE_LOG" RC_NODE_PID RC_NODE_STARTS \
		roomcastd
}

# rc_stop_node: SIGTERM, wait (RC_STOP_TIMEOUT_S), then SIGKILL. Returns the daemon's exit
# status (non-zero also when it had to be killed); sets RC_NODE_EXIT.
rc_stop_node() { _rc_daemon_stop RC_NODE_PID roomcastd; }

# rc_kill_node: SIGKILL (a crash), no grace.
rc_kill_node() { _rc_daemon_kill RC_NODE_PID roomcastd; }

rc_node_alive() { rc_alive "$RC_NODE_PID"; }

# ---- a second node in the same NODE namespace ---------------------------------------------------

RC_NODE2_STARTS=0

# rc_node2_init: names for node 2 (call after rc_init).
rc_node2_init() {
	RC_CONF2="$RC_WORK/node2.conf"
	RC_DATA_DIR2="$RC_WORK/data2"
	RC_ADMIN_SOCK2="$RC_WORK/admin2.sock"
	RC_NODE_LOG2="$RC_WORK/roomcastd2.log"
	RC_FILE_PREFIX2="$RC_FILE_PREFIX-2"
	rc_state_add dpdk "/var/run/dpdk/$RC_FILE_PREFIX2"
}

# rc_write_node2_conf [FILE]: node 2's config: id RC_NODE2_ID, service IP RC_SERVICE_IP2, a
# net_null0 port (it sees no traffic), mgmt 127.0.0.1:RC_MGMT_PORT2, RC_CLUSTER_FILE if set.
rc_write_node2_conf() {
	RC_NODE_ID=$RC_NODE2_ID RC_CONF_SERVICE_IP=$RC_SERVICE_IP2 RC_CONF_DATA_DIR=$RC_DATA_DIR2 \
		RC_CONF_ADMIN_SOCK=$RC_ADMIN_SOCK2 RC_CONF_FILE_PREFIX=$RC_FILE_PREFIX2 \
		RC_MGMT_PORT=$RC_MGMT_PORT2 RC_WORKERS=1 \
		rc_write_node_conf "${1:-$RC_CONF2}" net_null0 ""
}

rc_start_node2() {
	_rc_daemon_start "${1:-$RC_CONF2}" "$RC_ADMIN_SOCK2" "$RC_NODE_LOG2" RC_NODE2_PID \
		RC_NODE2_STARTS "roomcastd $RC_NODE2_ID"
}
rc_stop_node2() { _rc_daemon_stop RC_NODE2_PID "roomcastd $RC_NODE2_ID"; }
rc_kill_node2() { _rc_daemon_kill RC_NODE2_PID "roomcastd $RC_NODE2_ID"; }

# rc_ctl2 ARGS...: roomcastctl against node 2's admin socket.
rc_ctl2() {
	timeout 10 "$RC_ROOMCASTCTL" -s "$RC_ADMIN_SOCK2" "$@"
}

# ---- talking to the node ------------------------------------------------------------------------

# rc_ctl ARGS...: roomcastctl -s SOCK ARGS (e.g. rc_ctl room list, rc_ctl -j stats).
rc_ctl() {
	timeout 10 "$RC_ROOMCASTCTL" -s "$RC_ADMIN_SOCK" "$@"
}

# rc_stat JQ_FILTER: evaluate a jq filter on `roomcastctl -j stats`, e.g. '.lcores[0].rx'.
rc_stat() {
	local j
	j=$(rc_ctl -j stats) || rc_fail "roomcastctl -j stats failed"
	printf '%s' "$j" | jq -er "$1" 2>/dev/null ||
		rc_fail "stats: filter '$1' gives nothing in: $(printf '%s' "$j" | head -c 400)"
}

# rc_drops_total: the sum of every number under "drops" in `roomcastctl -j stats`.
rc_drops_total() {
	rc_stat '[(.drops // {}) | .. | numbers] | add // 0'
}

# rc_token USER: mint a login token through the admin socket (prints it).
rc_token() {
	local out tok
	out=$(rc_ctl token mint "$1") || rc_fail "roomcastctl token mint $1 failed: $out"
	tok=$(printf '%s\n' "$out" | grep -oE 'v2\.[0-9]+\.[0-9]+\.[0-9]+\.[0-9a-f]{64}' | head -n 1)
	[ -n "$tok" ] || rc_fail "roomcastctl token mint $1 printed no token: $out"
	printf '%s\n' "$tok"
}

# rc_cli CMD...: run a command in the client namespace.
rc_cli() { ip netns exec "$RC_NS_CLI" "$@"; }

# rc_rcload ARGS...: rcload in the CLI namespace against the node (timeout RC_RCLOAD_TIMEOUT_S,
# default 120). Its output goes to stdout and to WORK/rcload.log. Returns rcload's status.
rc_rcload() {
	local rc=0
	rc_require_bins "$RC_RCLOAD"
	rc_log "rcload $*"
	echo "==== rcload $* ====" >>"$RC_WORK/rcload.log"
	if timeout --foreground -k 5 "${RC_RCLOAD_TIMEOUT_S:-120}" \
		ip netns exec "$RC_NS_CLI" "$RC_RCLOAD" "${RC_RCLOAD_COMMON[@]}" "$@" 2>&1 |
		tee -a "$RC_WORK/rcload.log"; then
		rc=0
	else
		rc=${PIPESTATUS[0]}
	fi
	[ "$rc" -ne 124 ] || rc_log "rcload timed out"
	return "$rc"
}

# rc_rcproto USER TOKEN CHECK [ARGS...]: tests/tools/rcproto.py (a raw client of the
# protocol) in the CLI namespace from the first client address, against the node. Its output
# goes to stdout and to WORK/rcproto.log. Returns its status.
rc_rcproto() {
	local user=$1 token=$2 py
	shift 2
	py=$(command -v python3) || rc_fail "python3 missing (run .ci/install-deps)"
	rc_log "rcproto $*"
	echo "==== rcproto $* ====" >>"$RC_WORK/rcproto.log"
	rc_cli "$py" -B "$RC_ROOT/tests/tools/rcproto.py" --server "$RC_SERVICE_IP:$RC_PORT" \
		--bind-ip "${RC_CLIENT_IPS[0]}" --user "$user" --token "$token" "$@" 2>&1 |
		tee -a "$RC_WORK/rcproto.log"
	return "${PIPESTATUS[0]}"
}

# rc_bind_args: --bind-ip for every client address.
rc_bind_args() {
	local ip
	for ip in "${RC_CLIENT_IPS[@]}"; do printf -- '--bind-ip\n%s\n' "$ip"; done
}

# ---- run as a script: maintenance ------------------------------------------------------------
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case "${1:-}" in
	cleanup-stale) rc_cleanup_stale ;;
	*)
		echo "usage: bash tests/integration/lib.sh cleanup-stale   (else: source it)" >&2
		exit 2
		;;
	esac
fi
