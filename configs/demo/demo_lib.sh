# shellcheck shell=bash disable=SC2034 # variables here are used by the scripts that source it
# Helpers of the demos (configs/demo/run: the HA pair; configs/demo/cluster: four nodes).
# Source tests/integration/lib.sh and ha_lib.sh (and cluster4_lib.sh) first, call rc_init,
# set LIMIT_S, then source this; set ID to the nodes' ids (index I as in rc_ha_ctl I) once
# the layout is known. Problems are collected in PROBLEMS (the demo lists them at its end).

PROBLEMS=()
problem() {
	PROBLEMS+=("$*")
	echo "demo: PROBLEM: $*"
}
ID=()     # the nodes' ids
LOGPOS=() # lines of each node's log already shown

# ---- helpers -------------------------------------------------------------------------------

# ha_line I: "n1: STATE (REASON); its peer n2: STATE (REASON)", from node I's
# `roomcastctl -j ha status`
ha_line() {
	local j
	j=$(rc_ha_ctl "$1" -j ha status 2>/dev/null) || {
		echo "${ID[$1]}: (no answer)"
		return 0
	}
	printf '%s\n' "$j" | jq -r '"\(.node): \(.state) (\(.reason)); its peer \(.peer.node): " +
		"\(.peer.state) (\(.peer.reason))"'
}
utc_ms() { date -u +%T.%3N; } # the time of day as the node logs show it
show_states() { # the state line of every node
	local i
	for i in "${!ID[@]}"; do rc_log "$(ha_line "$i")"; done
}
ctl_show() { # I ARGS: a roomcastctl command on node I, its answer indented
	echo "-- ${ID[$1]}# roomcastctl ${*:2}"
	rc_ha_ctl "$@" 2>&1 | sed 's/^/   /' || problem "roomcastctl ${*:2} on ${ID[$1]} failed"
}
# transitions: the HA transitions every node logged since the last call ("ha: A -> B ...")
transitions() {
	local i n
	for i in "${!ID[@]}"; do
		n=$(wc -l <"${RC_HA_LOG[i]}")
		sed -n "$((${LOGPOS[i]:-0} + 1)),${n}p" "${RC_HA_LOG[i]}" |
			grep -E 'ha: .* -> .*\(|ha: serving|ha: stopped serving|ALARM|critical service down' |
			sed -E "s/^[0-9-]+T([0-9:.]+)Z roomcastd [a-z]+: /   ${ID[i]} log \1 /" || true
		LOGPOS[i]=$n
	done
}
# unasked DURING: the transitions since the last look, each one a problem: nobody asked for it
unasked() {
	transitions >"$RC_WORK/transitions.txt"
	if [ -s "$RC_WORK/transitions.txt" ]; then
		rc_log "HA transitions $1, with nobody asking:"
		cat "$RC_WORK/transitions.txt"
		problem "HA transitions $1, with nobody asking (shown above)"
	fi
}
# wait_state I STATE SECONDS: poll until node I is in STATE; a problem (with both logs' ends)
# and the end of the demo otherwise: the next steps need that state.
wait_state() {
	local i=$1 want=$2 t=$3 deadline=$((SECONDS + $3)) got
	while [ "$SECONDS" -lt "$deadline" ]; do
		[ "$(rc_ha_state "$i")" = "$want" ] && return 0
		sleep 0.1
	done
	got=$(rc_ha_state "$i")
	transitions
	rc_fail "${ID[i]} did not reach \"$want\" within $t s (it is \"$got\")"
}

# chat USER BIND_IP NODE ROOM: a roomcast-chat client in the client namespace, talking to NODE's
# service address, in ROOM. Its stdin is a FIFO that `say` writes to; its output is shown
# prefixed by "USER|" and kept in WORK/chat-USER.log.
declare -A CHAT_FD=() CHAT_PID=() CHAT_ROOM=() POSTED=()
# no_chat_fds: in a background child, close the write ends of the clients' FIFOs (a client
# sees EOF only when every copy of its FIFO's write end is closed)
no_chat_fds() {
	local fd
	for fd in "${CHAT_FD[@]}"; do eval "exec $fd>&-"; done
}
chat() {
	local user=$1 ip=$2 node=$3 room=$4 tok label fifo fd
	tok=$(rc_ha_ctl 0 token mint "$user" | grep -oE 'v2\.[0-9]+\.[0-9]+\.[0-9]+\.[0-9a-f]{64}' | head -n 1)
	[ -n "$tok" ] || rc_fail "no token for $user"
	fifo="$RC_WORK/chat-$user.in"
	mkfifo "$fifo"
	label=$(printf '%-6s|' "$user")
	(
		no_chat_fds
		timeout -k 2 "$LIMIT_S" ip netns exec "$RC_NS_CLI" stdbuf -oL -eL "$RC_CHAT" \
			-s "${RC_HA_VIP[node]}:$RC_PORT" -u "$user" -t "$tok" -r "$room" -b "$ip" \
			<"$fifo" 2>&1 | tee "$RC_WORK/chat-$user.log" | sed -u "s/^/$label /"
	) 2>/dev/null & # (no "Killed" notices from this shell when the clean-up stops it)
	CHAT_PID[$user]=$!
	RC_BG_PIDS+=("$!")
	exec {fd}>"$fifo"
	CHAT_FD[$user]=$fd
	CHAT_ROOM[$user]=$room
	POSTED[$room]=${POSTED[$room]:-0}
	rc_wait_until 10 "$user joined $room" grep -qs "^\* joined $room" "$RC_WORK/chat-$user.log"
}
# say USER LINE: USER types LINE (a message, or a /command)
say() {
	printf '%s\n' "$2" >&"${CHAT_FD[$1]}"
	case "$2" in /*) ;; *) POSTED[${CHAT_ROOM[$1]}]=$((POSTED[${CHAT_ROOM[$1]}] + 1)) ;; esac
}
# mark_chats: what the clients printed so far is not looked at by `heard` any more
declare -A CHAT_MARK=()
mark_chats() {
	local u
	for u in "${!CHAT_ROOM[@]}"; do CHAT_MARK[$u]=$(wc -l <"$RC_WORK/chat-$u.log"); done
}
# heard USER TEXT [SECONDS]: wait until USER's client printed a line containing TEXT (since
# the last mark_chats)
heard() {
	local deadline=$((SECONDS + ${3:-15}))
	until tail -n "+$((${CHAT_MARK[$1]:-0} + 1))" "$RC_WORK/chat-$1.log" | grep -qF -- "$2"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			problem "$1's client did not print \"$2\" within ${3:-15} s"
			return 0
		fi
		sleep 0.1
	done
}
# seqs USER: the distinct seqs of USER's room that USER's client printed
seqs() {
	{ grep -E "^\[${CHAT_ROOM[$1]} #[0-9]+ [0-9:]{8}\] [^ :]+: " "$RC_WORK/chat-$1.log" ||
		true; } | sed -E 's/^\[[^#]*#([0-9]+) .*/\1/' | sort -un
}
lease_holder() { # NODE EPOCH: which node won lease rooms:NODE at EPOCH (from the node logs)
	local i who=""
	for i in "${!ID[@]}"; do
		grep -q "ha: lease rooms:$1 won, epoch $2 " "${RC_HA_LOG[i]}" && who+="${who:+,}${ID[i]}"
	done
	echo "${who:-?}"
}
stat_of() { # USER KEY: a number from the client's last "/stats" line
	grep -E '^\* sent ' "$RC_WORK/chat-$1.log" | tail -n 1 | grep -oE "$2 [0-9]+" |
		grep -oE '[0-9]+$' || echo "?"
}
