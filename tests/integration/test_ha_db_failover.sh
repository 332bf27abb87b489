#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The HA pair while its database fails over (issue 9): a PostgreSQL primary and a synchronous
# standby (tests/pg/pg-standby.sh); both nodes' db.conninfo name the two servers
# (host=PRIMARY,STANDBY port=P1,P2 ... target_session_attrs=read-write). Clients post to both
# nodes throughout (rcha) while
#   1. the primary is stopped and the standby promoted (an operator's failover tool): the
#      nodes' drainers and lease threads reconnect to the new primary by themselves; every
#      room is served again (both nodes Normal, or, when the switch outlasted the leases
#      (600 ms) and fenced both nodes (CSNR, Database Failure), one node Running in Backup
#      Mode for both and the other Failed Over, then `ha fallback`); the lease rows written
#      on the old primary are on the new one, and no epoch went backwards; both drainers
#      commit on the new primary;
#   2. n1 is killed (SIGKILL): n2 takes n1's rooms over through the new primary, at an epoch
#      greater than any n1's rooms had before the database failed over;
# then rcha verify against the new primary: every acknowledged message there exactly once
# (0 lost, 0 duplicates, no gap), no client logged in twice.
# Figures printed (not asserted): the switch, and how long after the promotion each node's
# drain and lease were back. RC_DB_PROMOTE_DELAY_MS (default 2000) is the failover tool's
# delay between the stop and the promotion; 0 for a switch faster than the lease.
# rc-timeout: 420
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=ha_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ha_lib.sh"

RC_RCHA="$RC_BUILD/tests/tools/rcha"

rc_init ha_db_failover
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCHA"
rc_require_cmds psql
rc_start_pg
PRIMARY_DIR=$RC_PG_DIR
STANDBY_DIR=$(mktemp -d /tmp/rcps.XXXXXX)
rc_state_add pg "$STANDBY_DIR"
bash "$RC_ROOT/tests/pg/pg-standby.sh" start "$PRIMARY_DIR" "$STANDBY_DIR" sync \
	>"$RC_WORK/standby.log" 2>&1 ||
	rc_fail "the standby did not start: $(tail -n 3 "$RC_WORK/standby.log")"
RC_PG_CONNINFO=$(bash "$RC_ROOT/tests/pg/pg-standby.sh" conninfo "$PRIMARY_DIR" "$STANDBY_DIR")
rc_log "database: $RC_PG_CONNINFO"
rc_ha_setup
rc_ha_write_confs
rc_ha_pair_up
mapfile -t BIND < <(rc_bind_args)
val() { sed -n "s/^$1: //p" "$2"; } # KEY FILE
now_ms() { date +%s%3N; }
epoch_of() { rc_psql "SELECT coalesce(max(epoch), 0) FROM ha_lease WHERE owner_scope = 'rooms:$1'"; }

OUT="$RC_WORK/rcha"
rc_log "rcha: 8 users (4 per node), 2 rooms (one per node), 10 posts/s each, 24 s"
ip netns exec "$RC_NS_CLI" "$RC_RCHA" run --server "${RC_HA_VIP[0]}" \
	--server "${RC_HA_VIP[1]}" --port "$RC_PORT" --users 8 --room-prefix room- --rooms 2 \
	--rate 10 --duration 24 --drain 20 --secret "$RC_SECRET" --out "$OUT" "${BIND[@]}" \
	>"$RC_WORK/rcha-run.log" 2>&1 &
RCHA=$!
RC_BG_PIDS+=("$RCHA")

sleep 4
e1_before=$(epoch_of n1)
e2_before=$(epoch_of n2)
rc_log "lease epochs before: rooms:n1 $e1_before, rooms:n2 $e2_before"
rc_assert_int_gt "$e1_before" 0 "n1 holds its rooms' lease"
rc_assert_int_gt "$e2_before" 0 "n2 holds its rooms' lease"

rc_log "step 1: the database fails over (primary stopped, standby promoted)"
t_stop=$(now_ms)
bash "$RC_ROOT/tests/pg/pg-fixture.sh" stop "$PRIMARY_DIR" >>"$RC_WORK/pg.start.log" 2>&1 ||
	rc_fail "the primary did not stop"
# RC_DB_PROMOTE_DELAY_MS: how long the failover tool takes to promote (default 2000): beyond
# the lease (600 ms) both nodes fence themselves meanwhile (Database Failure) and win their
# leases again on the new primary at epoch + 1; 0: a switch faster than the lease, which the
# nodes may ride through on renewals
sleep "$(awk -v ms="${RC_DB_PROMOTE_DELAY_MS:-2000}" 'BEGIN { printf "%.3f", ms / 1000 }')"
bash "$RC_ROOT/tests/pg/pg-standby.sh" promote "$STANDBY_DIR" >>"$RC_WORK/standby.log" 2>&1 ||
	rc_fail "the standby was not promoted: $(tail -n 3 "$RC_WORK/standby.log")"
t_promoted=$(now_ms)
rc_assert_eq "$(rc_psql "SELECT current_setting('port')")" "$(cat "$STANDBY_DIR/port")" \
	"the conninfo finds the new primary"
# both nodes' rooms served again: both Normal, or (the switch outlasted the leases: both
# fenced, Database Failure) one node in Running in Backup Mode for the pair and the other
# Failed Over
settled() {
	local a b
	a=$(rc_ha_state 0)
	b=$(rc_ha_state 1)
	case "$a/$b" in
	Normal/Normal | "Running in Backup Mode/Failed Over" | "Failed Over/Running in Backup Mode")
		return 0 ;;
	esac
	return 1
}
rc_wait_until 60 "both nodes' rooms served again" settled
t_settled=$(now_ms)
rc_log "settled: n1 $(rc_ha_state 0), n2 $(rc_ha_state 1)"
for i in 0 1; do
	if [ "$(rc_ha_state "$i")" = "Failed Over" ]; then
		rc_log "fallback of ${RC_HA_ID[i]} (its lease ran out during the switch)"
		rc_ha_ctl "$i" ha fallback "${RC_HA_ID[i]}"
	fi
done
rc_ha_wait_state 0 Normal 30
rc_ha_wait_state 1 Normal 30
t_normal=$(now_ms)
drain_back() { # I: its drainer committed a batch on the new primary
	local st
	st=$(rc_ha_ctl "$1" -j db status | jq -c '.database')
	[ "$(jq -r '.connected' <<<"$st")" = true ] &&
		[ "$(jq -r '.server' <<<"$st")" = "$STANDBY_DIR port $(cat "$STANDBY_DIR/port")" ] &&
		[ "$(jq -r '.last_batch_ms' <<<"$st")" -ge "$t_promoted" ]
}
rc_wait_until 60 "n1's drainer commits on the new primary" drain_back 0
rc_wait_until 60 "n2's drainer commits on the new primary" drain_back 1
path() { rc_ha_ctl "$1" -j ha status | jq -r '.fsm.history | map(.to) | join(" > ")'; }
rc_log "n1: $(path 0)"
rc_log "n2: $(path 1)"
e1_after=$(epoch_of n1)
e2_after=$(epoch_of n2)
rc_log "lease epochs after the promotion: rooms:n1 $e1_after, rooms:n2 $e2_after"
[ "$e1_after" -ge "$e1_before" ] || rc_fail "rooms:n1's epoch went back: $e1_before -> $e1_after"
[ "$e2_after" -ge "$e2_before" ] || rc_fail "rooms:n2's epoch went back: $e2_before -> $e2_after"
# a node whose lease ran out during the switch won it again on the new primary: at an epoch
# greater than the one written on the old primary (the row survived the promotion; a lost
# row would restart the scope at epoch 1)
for i in 0 1; do
	if grep -q "lease rooms:${RC_HA_ID[i]} lost" "${RC_HA_LOG[i]}"; then
		after=$(epoch_of "${RC_HA_ID[i]}")
		before=$([ "$i" = 0 ] && echo "$e1_before" || echo "$e2_before")
		rc_assert_int_gt "$after" "$before" \
			"rooms:${RC_HA_ID[i]} won again after the promotion at a greater epoch"
	fi
done
echo "figure: stop_to_promoted_ms $((t_promoted - t_stop))"
echo "figure: promoted_to_rooms_served_ms $((t_settled - t_promoted))"
echo "figure: promoted_to_both_normal_ms $((t_normal - t_promoted)) (with a fallback if needed)"
# when each node's lease thread reached the new primary (the log's db-up, or its renewals
# going on: no lease lost)
for i in 0 1; do
	echo "figure: ${RC_HA_ID[i]} lease: $(grep -E 'database unreachable for the lease|lease .* lost|on db-up|lease rooms:.* won' \
		"${RC_HA_LOG[i]}" | tail -n 4 | sed -e 's/roomcastd //' -e 's/: server closed.*//' |
		tr '\n' ';')"
done

sleep 3
rc_log "step 2: SIGKILL n1: n2 takes its rooms over through the new primary"
rc_ha_kill 0
t_kill=$(now_ms)
rc_ha_wait_state 1 "Running in Backup Mode" 20
t_backup=$(now_ms)
e1_taken=$(epoch_of n1)
rc_log "rooms:n1 taken over at epoch $e1_taken ($((t_backup - t_kill)) ms after the kill)"
rc_assert_int_gt "$e1_taken" "$e1_after" "the takeover's epoch is greater than after the promotion"
rc_assert_int_gt "$e1_taken" "$e1_before" "... and than before the database failed over"
rc_assert_eq "$(rc_psql "SELECT holder FROM ha_lease WHERE owner_scope = 'rooms:n1'")" n2 \
	"n2 holds n1's rooms"
echo "figure: kill_to_backup_mode_ms $((t_backup - t_kill))"

rc=0
wait "$RCHA" || rc=$?
cat "$RC_WORK/rcha-run.log"
for f in pauses events; do cp "$OUT/$f.tsv" "$RC_WORK/rcha-$f.log"; done
rc_assert_eq "$rc" 0 "rcha run exit status"
rc_assert_eq "$(val unacked "$RC_WORK/rcha-run.log")" 0 "unacked at the end"
rc_assert_eq "$(val relogins "$RC_WORK/rcha-run.log")" 0 "relogins (sessions kept)"
# n2 drains its own rooms and n1's (the peer scope, not in db status): wait until the new
# primary holds as many rows as were acknowledged (verify then tells which, if any, are not)
acked=$(val acked "$RC_WORK/rcha-run.log")
all_in() { [ "$(rc_psql 'SELECT count(*) FROM messages')" -ge "$acked" ]; }
for _ in $(seq 1 300); do all_in && break; sleep 0.2; done
rc_log "rows in the new primary: $(rc_psql 'SELECT count(*) FROM messages') ($acked acknowledged)"
rc_assert "rcha verify" "$RC_RCHA" verify --out "$OUT" --conninfo "$RC_PG_CONNINFO" \
	>"$RC_WORK/verify.log" 2>&1
cat "$RC_WORK/verify.log"
for k in lost_acked duplicates gaps relogins; do
	rc_assert_eq "$(val "$k" "$RC_WORK/verify.log")" 0 "verify $k"
done
rc_assert_eq "$(rc_psql 'SELECT count(*) FROM drain_alarms')" 0 "no drain alarms"
rc_ha_stop 1 || rc_fail "n2 did not exit cleanly"
