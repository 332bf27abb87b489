#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# MISSION.md's failover and fallback use cases on a cluster of four nodes (cluster4_lib.sh):
# 1a and 1b (group g1, HA), 2a and 2b (group g2, HA), one PostgreSQL database per group.
# Users A, B, C, D (adam, bruce, carl, daisy: the names the cluster's balanced assignment
# homes on 1a, 1b, 2a, 2b) all post throughout to one room, lobby@tc-1a.cluster1, hosted by
# 1a's text conference service; B, C and D reach it through the relay between nodes. A and C
# log in at their home node's VIP, B and D at another node's, which redirects them home.
#   0. the cluster: every node Normal, each knows the four nodes (cluster state).
#   1. everyone joins lobby@tc-1a.cluster1 from its home node and posts (rcha, every ACK
#      and DELIVER recorded); 1a hosts the room; B and D were redirected home, A and C not.
#   2. TC fails on 1a (its workers hang): 1a Failed Over with Critical Services Not Running
#      (Critical Service Down), 1b Running in Backup Mode hosting the room, 2a and 2b Normal.
#   3. TC runs again on 1a: 1a Failed Over (Auto Recover), the others unchanged.
#   4. the fallback (`ha fallback 1a`): 1a Taking Back / 1b Falling Back, then Normal on
#      every node; 1a hosts the room again.
#   5. A resumed on 1b, then on 1a, without a LOGIN; B, C and D never moved (B, on 1b, was
#      told twice to re-join, RESUME "other": 1b took the room over, then gave it back), saw every
#      message once, in order, no gap; every ACK is in g1's database (rcha verify: 0 lost,
#      0 duplicates, 0 gaps), g2's holds nothing of the room.
# Figures: the pause each member homed on another node saw during the failover and the
# fallback (`figure:` lines).
# rc-timeout: 420
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=ha_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ha_lib.sh"
# shellcheck source=cluster4_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cluster4_lib.sh"

RC_RCHA="$RC_BUILD/tests/tools/rcha"
ROOM="lobby@tc-1a.$C4_CLUSTER"
USERS=(adam bruce carl daisy) # A, B, C, D: homed on 1a 1b 2a 2b
FIRST=(0 2 2 0)                # the node each one logs in to first
DURATION=40

rc_init cluster_usecase
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCHA"
rc_require_cmds psql
c4_start_pg
c4_setup
c4_write_confs

rc_log "==== step 0: the cluster"
c4_up
c4_show_states
knows_four() { [ "$(rc_ha_ctl "$1" -j topology | jq '.nodes | length')" = 4 ]; }
for i in 0 1 2 3; do
	rc_wait_until 20 "${C4_ID[i]} knows the four nodes" knows_four "$i"
done

rc_log "==== step 1: A, B, C, D join $ROOM from their home nodes and post"
[ "$C4_RELAY" = 1 ] || rc_fail "step 1 needs the relay between nodes: this roomcastd" \
	"refuses relay.secret_file ($(head -n 1 "$RC_WORK/relay-probe.log"))"
OUT="$RC_WORK/rcha"
args=()
for i in 0 1 2 3; do args+=(--server "${C4_VIP[FIRST[i]]}" --user "${USERS[i]}" \
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
# hosted I: node I hosts ROOM (a remote room is a home node's copy: not hosted)
hosted() { rc_ha_ctl "$1" -j room list | jq -e --arg r "$ROOM" \
	'[.rooms[] | select(.name == $r and .kind == "hosted")] | length == 1' >/dev/null; }
rc_assert "step 1: 1a hosts $ROOM" hosted 0
for i in 1 2 3; do
	rc_assert_fails "step 1: ${C4_ID[i]} does not host $ROOM" hosted "$i"
done
for i in 0 1 2 3; do # each user's session is on its home node, and there only
	sessions=$(rc_ha_ctl "$i" user list)
	for j in 0 1 2 3; do
		if [ "$i" = "$j" ]; then
			rc_assert_match "$sessions" "\\b${USERS[j]}\\b" \
				"step 1: ${USERS[j]} has a session on its home node ${C4_ID[i]}"
		elif grep -qw "${USERS[j]}" <<<"$sessions"; then
			rc_fail "step 1: ${USERS[j]} has a session on ${C4_ID[i]}, not its home: $sessions"
		fi
	done
done
# everyone's POSTs are acknowledged, and everyone hears everyone (rcha writes as it goes)
acks() { awk -F'\t' -v u="$1" '$1 == "A" && $2 == u' "$OUT/acked.tsv" | wc -l; }
heard() { awk -F'\t' -v u="$1" -v s="$2" '$1 == "D" && $2 == u && $7 == s' "$OUT/acked.tsv" |
	wc -l; }
for i in 0 1 2 3; do
	[ "$(acks "${USERS[i]}")" -gt 0 ] || rc_fail "step 1: ${USERS[i]} (homed on ${C4_ID[i]})" \
		"has no ACK after 5 s: its POSTs to $ROOM are not acknowledged"
	for j in 0 1 2 3; do
		[ "$(heard "${USERS[i]}" "${USERS[j]}")" -gt 0 ] || rc_fail "step 1: ${USERS[i]}" \
			"(homed on ${C4_ID[i]}) got no message of ${USERS[j]} (homed on ${C4_ID[j]})"
	done
done
c4_show_states

rc_log "==== step 2: TC fails on 1a"
T_FAIL=$(date +%s%3N)
c4_tc_hang 0
c4_wait_states 10 "Failed Over with Critical Services Not Running" "Running in Backup Mode" \
	Normal Normal
c4_show_states
rc_assert_eq "$(c4_reason 0)" "Critical Service Down" "step 2: 1a's reason"
rc_assert_eq "$(c4_reason 1)" "Critical Service Down" "step 2: 1b's reason (its peer's)"
rc_assert "step 2: 1b hosts $ROOM" hosted 1
# while 1b serves the room, everyone's POSTs are acknowledged again
acked_now=()
for i in 0 1 2 3; do acked_now[i]=$(acks "${USERS[i]}"); done
more_acks() { [ "$(acks "${USERS[$1]}")" -gt "${acked_now[$1]}" ]; }
deadline=$((SECONDS + 10))
for i in 0 1 2 3; do
	until more_acks "$i"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			c4_relay_dump
			rc_fail "step 2: ${USERS[i]} (homed on ${C4_ID[i]}) not acknowledged in 10 s" \
				"while 1b serves $ROOM"
		fi
		sleep 0.2
	done
done
sleep 3

rc_log "==== step 3: TC runs again on 1a"
c4_tc_resume 0
c4_wait_states 10 "Failed Over" "Running in Backup Mode" Normal Normal
c4_show_states
rc_assert_eq "$(c4_reason 0)" "Auto Recover (critical service)" "step 3: 1a's reason"
sleep 2

rc_log "==== step 4: fallback"
T_BACK=$(date +%s%3N)
rc_ha_ctl 0 ha fallback 1a
c4_wait_states 15 Normal Normal Normal Normal
c4_show_states
rc_assert "step 4: 1a hosts $ROOM again" hosted 0
rc_assert_fails "step 4: 1b no longer hosts $ROOM" hosted 1
# each step's states, from every node's transition history since step 1
for i in 0 1 2 3; do rc_log "${C4_ID[i]} went through: $(c4_path "$i")"; done
rc_assert_match "$(c4_path 0)" "^(Failing Over > )?Failed Over with Critical Services Not \
Running > Failed Over > Taking Back > Normal$" "1a's failover and fallback path"
rc_assert_match "$(c4_path 1)" "^Taking Over > Running in Backup Mode > Falling Back > Normal$" \
	"1b's takeover and fallback path"
for i in 2 3; do rc_assert_eq "$(c4_path "$i")" "" "${C4_ID[i]} stayed Normal throughout"; done
left=$((DURATION - ($(date +%s%3N) - T_RUN) / 1000))
[ "$left" -ge 3 ] || rc_fail "the fallback ended ${left} s before the users stopped posting:" \
	"too slow for this run (the machine is overloaded?)"

rc_log "==== step 5: what the users saw, and the database"
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
rc_assert_eq "$(resumed "${USERS[0]}")" "1b failover;1a fallback;" \
	"A resumed on 1b, then on 1a"
for i in 0 1 2 3; do
	u=${USERS[i]}
	rc_assert_int_gt "$(ucol "$u" acked)" 100 "$u's ACKs"
	rc_assert_eq "$(ucol "$u" relogins)" 0 "$u logged in once"
	home=${C4_ID[i]}
	[ "${FIRST[i]}" != "$i" ] || home=-
	rc_assert_eq "$(ucol "$u" home)" "$home" \
		"$u's REDIRECT (logged in first at ${C4_ID[FIRST[i]]})"
	rc_assert_eq "$(ucol "$u" dup_deliveries)" 0 "$u: duplicate deliveries"
	rc_assert_eq "$(ucol "$u" gap_skipped)" 0 "$u: seqs given up"
	if [ "$i" = 1 ]; then
		# B's own node took the room over and gave it back: the room's id changed under
		# B's session twice, and 1b told it so (RESUME "other"): B re-joined with its last
		# seq, nothing missed; its session never left 1b
		rc_assert_eq "$(resumed "$u")" "1b other;1b other;" \
			"$u (homed on 1b): re-joined as its node took the room over and back"
	elif [ "$i" != 0 ]; then
		rc_assert_eq "$(resumed "$u")" "" "$u (homed on ${C4_ID[i]}) never moved"
	fi
	rc_assert_eq "$(ucol "$u" acked)" "$(ucol "$u" posts)" \
		"$u (homed on ${C4_ID[i]}): every POST acknowledged"
done
rc_assert_eq "$rc" 0 "rcha run exit status"
rc_assert_eq "$(val unacked "$RC_WORK/rcha-run.log")" 0 "unacked at the end"
rc_assert_eq "$(val relogins "$RC_WORK/rcha-run.log")" 0 "relogins"
# Each user was handed every message of the room from the first one on, once and in order:
# its DELIVERs are seqs 1..max, max the highest seq anyone was acknowledged.
max_seq=$(awk -F'\t' '$1 == "A" && $5 > m { m = $5 } END { print m + 0 }' "$OUT/acked.tsv")
for u in "${USERS[@]}"; do
	rc_assert_eq "$(awk -F'\t' -v u="$u" '$1 == "D" && $2 == u { n++; if ($5 != n) bad++ }
		END { printf "%d %d", n, bad }' "$OUT/acked.tsv")" "$max_seq 0" \
		"$u's deliveries are seqs 1..$max_seq in order"
done
pause_in() { # USER FROM_MS TO_MS: the longest pause of USER that started in [FROM, TO)
	awk -v u="$1" -v a="$2" -v b="$3" -F'\t' '$1 == u && $2 >= a && $2 < b && $3 > m {
		m = $3 } END { print m + 0 }' "$OUT/pauses.tsv"
}
for i in 1 2 3; do
	u=${USERS[i]}
	echo "figure: pause seen by $u (home ${C4_ID[i]}, room on 1a): failover" \
		"$(pause_in "$u" $((T_FAIL - T_RUN - 1000)) $((T_BACK - T_RUN - 1000))) ms," \
		"fallback $(pause_in "$u" $((T_BACK - T_RUN - 1000)) 999999999) ms"
done
echo "figure: pause seen by ${USERS[0]} (home 1a, resumed): failover" \
	"$(pause_in "${USERS[0]}" $((T_FAIL - T_RUN - 1000)) $((T_BACK - T_RUN - 1000))) ms," \
	"fallback $(pause_in "${USERS[0]}" $((T_BACK - T_RUN - 1000)) 999999999) ms"

rc_wait_until 30 "g1's drain backlogs empty" c4_backlogs_empty 0 1
rc_assert "rcha verify" "$RC_RCHA" verify --out "$OUT" --conninfo "${C4_DB_CONNINFO[g1]}" \
	>"$RC_WORK/verify.log" 2>&1
cat "$RC_WORK/verify.log"
for k in lost_acked duplicates gaps relogins; do
	rc_assert_eq "$(val "$k" "$RC_WORK/verify.log")" 0 "verify $k"
done
rc_assert_eq "$(psql "${C4_DB_CONNINFO[g2]}" -XAtqc "SELECT count(*) FROM messages")" 0 \
	"g2's database holds no message of $ROOM"
for i in 3 2 1 0; do rc_ha_stop "$i" || rc_fail "${C4_ID[i]} did not exit cleanly"; done
