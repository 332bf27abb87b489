#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Two groups sharing one database (the seeds' minimum requirement), real processes, real
# PostgreSQL, namespaces: the four-node cluster of cluster4_lib.sh with both groups assigned
# the database "shared". Four users, one per node (assignment none: each stays where it logs
# in), each posts to the bare room "lobby" of its node: four rooms, lobby@tc-1a.cluster1 ..
# lobby@tc-2b.cluster1, one name under four services, all in one database.
#   1. the four rooms are four rows of `rooms` (name, service), each with its own seqs;
#   2. TC fails on 2a: 2b serves lobby@tc-2a.cluster1 (Running in Backup Mode), g1 Normal;
#   3. TC runs again, fallback: every node Normal;
#   4. every ACK against the shared database (rcha verify: 0 lost, 0 duplicates, 0 gaps per
#      room), and each room's rows are its own users' messages only.
# rc-timeout: 360
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=ha_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ha_lib.sh"
# shellcheck source=cluster4_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/cluster4_lib.sh"

RC_RCHA="$RC_BUILD/tests/tools/rcha"
C4_DB_LAYOUT=shared
C4_ASSIGNMENT=none
DURATION=24

rc_init cluster_shared_db
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCHA"
rc_require_cmds psql
c4_start_pg
c4_setup
c4_write_confs
c4_up
rc_assert_eq "${C4_DB_CONNINFO[g1]}" "${C4_DB_CONNINFO[g2]}" "both groups on one database"
sql() { psql "${C4_DB_CONNINFO[g1]}" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

rc_log "==== step 1: one user per node posts to its node's lobby"
OUT="$RC_WORK/rcha"
args=()
for i in 0 1 2 3; do args+=(--server "${C4_VIP[i]}" --user "u${C4_ID[i]}" \
	--bind-ip "${RC_CLIENT_IPS[i]}"); done
T_RUN=$SECONDS
ip netns exec "$RC_NS_CLI" "$RC_RCHA" run "${args[@]}" --port "$RC_PORT" --room lobby \
	--rate 10 --duration "$DURATION" --drain 20 --secret "$RC_SECRET" --out "$OUT" \
	>"$RC_WORK/rcha-run.log" 2>&1 &
RCHA=$!
RC_BG_PIDS+=("$RCHA")
sleep 5
rc_alive "$RCHA" || rc_fail "step 1: the users could not log in and join:" \
	"$(tr '\n' ' ' <"$RC_WORK/rcha-run.log" | head -c 400)"
for i in 0 1 2 3; do
	rc_assert_match "$(rc_ha_ctl "$i" room list)" "lobby@tc-${C4_ID[i]}\\.$C4_CLUSTER" \
		"step 1: ${C4_ID[i]} hosts its own lobby"
done

rc_log "==== step 2: TC fails on 2a"
c4_tc_hang 2
c4_wait_states 10 Normal Normal "Failed Over with Critical Services Not Running" \
	"Running in Backup Mode"
c4_show_states
rc_assert_match "$(rc_ha_ctl 3 room list)" "lobby@tc-2a\\.$C4_CLUSTER" \
	"step 2: 2b serves 2a's lobby"
sleep 3

rc_log "==== step 3: TC runs again on 2a, fallback"
c4_tc_resume 2
c4_wait_states 10 Normal Normal "Failed Over" "Running in Backup Mode"
rc_ha_ctl 2 ha fallback 2a
c4_wait_states 15 Normal Normal Normal Normal
c4_show_states
for i in 0 1; do rc_assert_eq "$(c4_path "$i")" "" "${C4_ID[i]} stayed Normal throughout"; done
[ $((SECONDS - T_RUN)) -le $((DURATION - 2)) ] ||
	rc_fail "the fallback ended after the users stopped posting (the machine is overloaded?)"

rc_log "==== step 4: the shared database"
rc=0
wait "$RCHA" || rc=$?
cat "$RC_WORK/rcha-run.log"
rc_assert_eq "$rc" 0 "rcha run exit status"
rc_wait_until 30 "every node's drain backlog empty" c4_backlogs_empty 0 1 2 3
want=""
for i in 0 1 2 3; do want+="${want:+$'\n'}lobby@tc-${C4_ID[i]}.$C4_CLUSTER"; done
rc_assert_eq "$(sql "SELECT name FROM rooms ORDER BY name")" "$want" \
	"the rooms table: one name under four services, four rooms"
# the service a room is hosted by, as a column of its own (where the schema has it)
if [ "$(sql "SELECT count(*) FROM information_schema.columns
	WHERE table_name = 'rooms' AND column_name = 'service'")" = 1 ]; then
	rc_assert_eq "$(sql "SELECT name || '|' || service FROM rooms ORDER BY name")" \
		"$(printf '%s\n' "$want" | sed 's/^lobby@\(.*\)$/&|\1/')" "rooms.service"
else
	rc_log "(this schema has no rooms.service column)"
fi
rc_assert "rcha verify" "$RC_RCHA" verify --out "$OUT" --conninfo "${C4_DB_CONNINFO[g1]}" \
	>"$RC_WORK/verify.log" 2>&1
cat "$RC_WORK/verify.log"
rc_assert_eq "$(sed -n 's/^rooms: //p' "$RC_WORK/verify.log")" 4 "verify: rooms"
for k in lost_acked duplicates gaps relogins; do
	rc_assert_eq "$(sed -n "s/^$k: //p" "$RC_WORK/verify.log")" 0 "verify $k"
done
for i in 0 1 2 3; do
	rc_assert_eq "$(sql "SELECT string_agg(DISTINCT sender, ',') FROM messages
		WHERE room = 'lobby@tc-${C4_ID[i]}.$C4_CLUSTER'")" "u${C4_ID[i]}" \
		"lobby@tc-${C4_ID[i]}.$C4_CLUSTER holds its node's user's messages only"
done
for i in 3 2 1 0; do rc_ha_stop "$i" || rc_fail "${C4_ID[i]} did not exit cleanly"; done
