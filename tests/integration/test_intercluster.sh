#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Two clusters joined (cluster4_lib.sh with a layout of three nodes): cluster1 is the HA group
# g1 (1a, 1b, its database in PostgreSQL), hosting lobby@tc-1a.cluster1; cluster2 is one node,
# 3a (group g3: high availability off, no database), joined in the cluster state. Each cluster
# has its relay secret, and the pair of clusters one more (relay.intercluster on every node).
# Users adam and bruce are homed on 1a and 1b, carl and daisy on 3a; all post to the room.
#   0. the clusters: 1a and 1b Normal, 3a Unknown (HA off); each node's relay directory lists
#      the two others.
#   1. the four join the room from their home nodes and post (rcha, every ACK and DELIVER
#      recorded): 1a hosts the room, 3a has a copy of it; carl and daisy hear adam and bruce.
#   2. 1a is killed (SIGKILL): 1b takes over and hosts the room; carl and daisy are
#      acknowledged again without a new LOGIN (3a's relay follows the room to 1b); adam
#      resumes on 1b.
#   3. what the users saw: no relogin, no duplicate, no gap, every POST acknowledged; every
#      ACK is in cluster1's database (rcha verify: 0 lost, 0 duplicates, 0 gaps).
#   4. a wrong intercluster secret on 3a: 1b drops its datagrams and counts them
#      (relay_bad_tag), and a user of 3a cannot join the room.
# Figures: the pause each user saw during the failover (`figure:` lines).
# rc-timeout: 360
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=ha_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ha_lib.sh"
# shellcheck source=cluster4_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cluster4_lib.sh"

C4_ID=(1a 1b 3a)
C4_GROUP=(g1 g1 g3)
C4_VIP=(198.18.0.1 198.18.0.2 198.18.0.5)
C4_MGMT_IP=(198.19.0.1 198.19.0.2 198.19.0.5)
C4_HA_IP=(198.19.1.1 198.19.1.2 "")
C4_NODE_CLUSTER=(cluster1 cluster1 cluster2)
C4_NODB_GROUPS="g3"

RC_RCHA="$RC_BUILD/tests/tools/rcha"
ROOM="lobby@tc-1a.cluster1"
USERS=(adam bruce carl daisy) # homed on 1a, 1b, 3a, 3a
HOME_OF=(0 1 2 2)
DURATION=30

rc_init intercluster
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCHA"
rc_require_cmds psql jq
c4_start_pg
c4_setup
c4_write_confs
[ "$C4_RELAY" = 1 ] || rc_fail "this roomcastd refuses the relay block:" \
	"$(head -n 1 "$RC_WORK/relay-probe.log")"

rc_log "==== step 0: the clusters"
c4_up
c4_show_states
dir_lists() { # I IDS: node I's relay directory holds the nodes IDS ("1b 3a")
	[ "$(rc_ha_ctl "$1" -j relay status | jq -r '[.nodes[].id] | sort | join(" ")')" = "$2" ]
}
rc_wait_until 20 "1a relays to 1b and 3a" dir_lists 0 "1b 3a"
rc_wait_until 20 "1b relays to 1a and 3a" dir_lists 1 "1a 3a"
rc_wait_until 20 "3a relays to 1a and 1b" dir_lists 2 "1a 1b"
rc_assert_eq "$(rc_ha_ctl 2 -j relay status | jq -r '.services[0]')" "tc-3a.cluster2" \
	"3a's service"

rc_log "==== step 1: adam, bruce (cluster1), carl, daisy (cluster2) join $ROOM and post"
OUT="$RC_WORK/rcha"
args=()
for i in 0 1 2 3; do args+=(--server "${C4_VIP[HOME_OF[i]]}" --user "${USERS[i]}" \
	--bind-ip "${RC_CLIENT_IPS[i]}"); done
T_RUN=$(date +%s%3N)
ip netns exec "$RC_NS_CLI" "$RC_RCHA" run "${args[@]}" --port "$RC_PORT" --room "$ROOM" \
	--rate 10 --duration "$DURATION" --drain 20 --secret "$RC_SECRET" --out "$OUT" \
	>"$RC_WORK/rcha-run.log" 2>&1 &
RCHA=$!
RC_BG_PIDS+=("$RCHA")
sleep 5
rc_alive "$RCHA" || rc_fail "step 1: the users could not log in and join $ROOM:" \
	"$(tr '\n' ' ' <"$RC_WORK/rcha-run.log" | head -c 400)"
kind_on() { # I: the kind of ROOM on node I ("hosted", "remote" or "")
	rc_ha_ctl "$1" -j room list | jq -r --arg r "$ROOM" '[.rooms[] | select(.name == $r) |
		.kind] | first // ""'
}
rc_assert_eq "$(kind_on 0)" hosted "step 1: 1a hosts $ROOM"
rc_assert_eq "$(kind_on 2)" remote "step 1: 3a has a copy of $ROOM"
acks() { awk -F'\t' -v u="$1" '$1 == "A" && $2 == u' "$OUT/acked.tsv" | wc -l; }
heard() { awk -F'\t' -v u="$1" -v s="$2" '$1 == "D" && $2 == u && $7 == s' "$OUT/acked.tsv" |
	wc -l; }
for i in 0 1 2 3; do
	[ "$(acks "${USERS[i]}")" -gt 0 ] || rc_fail "step 1: ${USERS[i]} (homed on" \
		"${C4_ID[HOME_OF[i]]}) has no ACK after 5 s"
	for j in 0 1 2 3; do
		[ "$(heard "${USERS[i]}" "${USERS[j]}")" -gt 0 ] || rc_fail "step 1: ${USERS[i]}" \
			"got no message of ${USERS[j]}"
	done
done
sessions=$(rc_ha_ctl 2 user list)
for u in carl daisy; do
	rc_assert_match "$sessions" "\\b$u\\b" "step 1: $u has a session on 3a"
done
sleep 3

rc_log "==== step 2: 1a is killed"
T_FAIL=$(date +%s%3N)
rc_ha_kill 0
rc_ha_wait_state 1 "Running in Backup Mode" 10
rc_log "1b Running in Backup Mode after $(($(date +%s%3N) - T_FAIL)) ms"
rc_wait_until 10 "step 2: 1b hosts $ROOM" test "$(kind_on 1)" = hosted
acked_now=()
for i in 0 1 2 3; do acked_now[i]=$(acks "${USERS[i]}"); done
more_acks() { [ "$(acks "${USERS[$1]}")" -gt "${acked_now[$1]}" ]; }
for i in 0 1 2 3; do
	rc_wait_until 15 "step 2: ${USERS[i]} acknowledged while 1b hosts $ROOM" more_acks "$i"
done
rc_log "3a's relay: $(rc_ha_ctl 2 relay status | grep -E '^relay')"

rc_log "==== step 3: what the users saw, and cluster1's database"
rc=0
wait "$RCHA" || rc=$?
cat "$RC_WORK/rcha-run.log"
for f in pauses events users; do cp "$OUT/$f.tsv" "$RC_WORK/rcha-$f.log"; done
column -t -s $'\t' "$OUT/users.tsv" 2>/dev/null || cat "$OUT/users.tsv"
val() { sed -n "s/^$1: //p" "$2"; } # KEY FILE
ucol() { awk -v u="$1" -v c="$2" -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i }
	$1 == u { for (i = 1; i <= NF; i++) if (h[i] == c || h[i] == "#" c) print $i }' \
	"$OUT/users.tsv"; }
resumed() { awk -v u="$1" -F'\t' '$2 == u && $3 == "resumed" { printf "%s;", $4 }' \
	"$OUT/events.tsv"; }
rc_assert_eq "$(resumed adam)" "1b failover;" "adam (homed on 1a) resumed on 1b"
for i in 0 1 2 3; do
	u=${USERS[i]}
	rc_assert_int_gt "$(ucol "$u" acked)" 100 "$u's ACKs"
	rc_assert_eq "$(ucol "$u" relogins)" 0 "$u logged in once"
	rc_assert_eq "$(ucol "$u" dup_deliveries)" 0 "$u: duplicate deliveries"
	rc_assert_eq "$(ucol "$u" gap_skipped)" 0 "$u: seqs given up"
	rc_assert_eq "$(ucol "$u" acked)" "$(ucol "$u" posts)" "$u: every POST acknowledged"
	if [ "$i" = 1 ]; then
		# 1b took the room over: the room's id changed under bruce's session, and 1b told
		# it so (RESUME "other", PROTOCOL.md 13.2): it re-joined, its session stayed on 1b
		rc_assert_eq "$(resumed "$u")" "1b other;" "$u re-joined as 1b took the room over"
	elif [ "$i" != 0 ]; then
		rc_assert_eq "$(resumed "$u")" "" "$u never moved"
	fi
done
rc_assert_eq "$rc" 0 "rcha run exit status"
rc_assert_eq "$(val unacked "$RC_WORK/rcha-run.log")" 0 "unacked at the end"
# every user was handed every message of the room, once and in order
max_seq=$(awk -F'\t' '$1 == "A" && $5 > m { m = $5 } END { print m + 0 }' "$OUT/acked.tsv")
for u in "${USERS[@]}"; do
	rc_assert_eq "$(awk -F'\t' -v u="$u" '$1 == "D" && $2 == u { n++; if ($5 != n) bad++ }
		END { printf "%d %d", n, bad }' "$OUT/acked.tsv")" "$max_seq 0" \
		"$u's deliveries are seqs 1..$max_seq in order"
done
pause_from() { # USER FROM_MS: the longest pause of USER that started after FROM
	awk -v u="$1" -v a="$2" -F'\t' '$1 == u && $2 >= a && $3 > m { m = $3 }
		END { print m + 0 }' "$OUT/pauses.tsv"
}
for i in 0 1 2 3; do
	echo "figure: pause seen by ${USERS[i]} (cluster$([ "${HOME_OF[i]}" = 2 ] && echo 2 ||
		echo 1), home ${C4_ID[HOME_OF[i]]}) when 1a, hosting $ROOM, was killed:" \
		"$(pause_from "${USERS[i]}" $((T_FAIL - T_RUN - 1000))) ms"
done
rc_wait_until 30 "1b's drain backlog empty" c4_backlogs_empty 1
rc_assert "rcha verify" "$RC_RCHA" verify --out "$OUT" --conninfo "${C4_DB_CONNINFO[g1]}" \
	>"$RC_WORK/verify.log" 2>&1
cat "$RC_WORK/verify.log"
for k in lost_acked duplicates gaps relogins; do
	rc_assert_eq "$(val "$k" "$RC_WORK/verify.log")" 0 "verify $k"
done
relay_count() { # I JQ: a relay counter of node I
	rc_ha_ctl "$1" -j relay status | jq -r ".counters.$2 // 0"
}
rc_assert_int_gt "$(relay_count 2 delivers_in)" 0 "3a's live DELIVERs from the host"
rc_assert_eq "$(relay_count 1 drops.relay_bad_tag)" 0 "1b: no bad tag with the right secret"

rc_log "==== step 4: a wrong intercluster secret on 3a"
rc_ha_stop 2 || rc_fail "3a did not exit cleanly"
(umask 077 && head -c 32 /dev/urandom | od -An -v -tx1 | tr -d ' \n' \
	>"$(c4_ic_secret_file 2)")
rc_ha_start 2
rc_ha_wait_state 2 Unknown 20
rc_wait_until 20 "3a relays to 1a and 1b" dir_lists 2 "1a 1b"
tok=$(rc_ha_ctl 2 token mint erin | grep -oE 'v2\.[0-9]+\.[0-9]+\.[0-9]+\.[0-9a-f]{64}' | head -n 1)
[ -n "$tok" ] || rc_fail "no token for erin from 3a"
RC_SERVICE_IP=${C4_VIP[2]} rc_assert_fails "step 4: erin (homed on 3a) cannot join $ROOM" \
	rc_rcproto erin "$tok" post --room "$ROOM" --wait 5
bad_tags() { [ "$(relay_count 1 drops.relay_bad_tag)" -gt 0 ]; }
rc_wait_until 10 "1b counts 3a's datagrams as relay_bad_tag" bad_tags
rc_log "1b's relay: $(rc_ha_ctl 1 relay status | grep -E '^relay drops')"
rc_assert_int_gt "$(rc_ha_ctl 1 -j stats | jq -r '.relay.drops.relay_bad_tag // 0')" 0 \
	"1b's stats: relay_bad_tag"
echo "figure: 1b dropped $(relay_count 1 drops.relay_bad_tag) datagram(s) of 3a" \
	"(wrong intercluster secret) as relay_bad_tag"
rc_ha_stop 2 || rc_fail "3a did not exit cleanly"
rc_ha_stop 1 || rc_fail "1b did not exit cleanly"
