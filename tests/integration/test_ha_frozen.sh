#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# A takeover never waits on a dead host (issue 9). Clients post continuously to both nodes
# (rcha) while
#   1. n1 is killed with SIGKILL (its sockets close: PostgreSQL ends its drain transaction at
#      once): n2 takes over; n1 restarts, falls back; both Normal;
#   2. n1's host "freezes" inside a drain transaction: `db fault hold-drain` stops n1's
#      drainer after a batch's rows went in (its transaction open, idle: the fence's lock on
#      the lease row held, the rows uncommitted), then SIGSTOP n1 (a frozen host sends no
#      FIN: PostgreSQL would keep that transaction until its 5 s idle timeout). n2 must take
#      over without waiting for it: its lease acquisition ends the old term's drain backends
#      (schema v3) and never hits its lock timeout (n2's log), the frozen backend is gone,
#      and n2 drains n1's rooms at the new epoch.
# Then rcha verify: 0 lost, 0 duplicates, no gap, no re-login. The takeover times of both
# cases are printed (not asserted).
# rc-timeout: 300
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=ha_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ha_lib.sh"

RC_RCHA="$RC_BUILD/tests/tools/rcha"

rc_init ha_frozen
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCHA"
rc_require_cmds psql jq
rc_start_pg
rc_ha_setup
# timings that survive this shared 2-core machine's stalls (a node that misses its lease
# renewals fences itself, which is not what this test is about); both cases use the same
export RC_HA_DEAD_MS=${RC_HA_DEAD_MS:-1000} RC_HA_TTL_MS=${RC_HA_TTL_MS:-1500}
rc_ha_write_confs
rc_ha_pair_up
mapfile -t BIND < <(rc_bind_args)
val() { sed -n "s/^$1: //p" "$2"; } # KEY FILE
now_ms() { date +%s%3N; }

# wait_backup: n2 Running in Backup Mode; prints the ms since $1
wait_backup() {
	rc_ha_wait_state 1 "Running in Backup Mode" 20
	echo $(($(now_ms) - $1))
}

OUT="$RC_WORK/rcha"
rc_log "rcha: 8 users (4 per node), 2 rooms (one per node), 10 posts/s each, 40 s"
ip netns exec "$RC_NS_CLI" "$RC_RCHA" run --server "${RC_HA_VIP[0]}" \
	--server "${RC_HA_VIP[1]}" --port "$RC_PORT" --users 8 --room-prefix room- --rooms 2 \
	--rate 10 --duration 40 --drain 15 --secret "$RC_SECRET" --out "$OUT" "${BIND[@]}" \
	>"$RC_WORK/rcha-run.log" 2>&1 &
RCHA=$!
RC_BG_PIDS+=("$RCHA")
sleep 4

rc_log "step 1: SIGKILL n1"
t0=$(now_ms)
rc_ha_kill 0
kill_ms=$(wait_backup "$t0")
rc_log "takeover after SIGKILL: n2 Running in Backup Mode after $kill_ms ms"
rc_ha_start 0
rc_ha_wait_state 0 "Failed Over" 15
rc_ha_ctl 0 ha fallback n1
rc_ha_wait_state 0 Normal 15
rc_ha_wait_state 1 Normal 15
rc_log "both Normal again"
sleep 2

rc_log "step 2: n1 frozen inside a drain transaction"
drainer_app="roomcastd-drainer rooms:n1 e%"
frozen_sql="SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '$drainer_app'
	AND state = 'idle in transaction'"
rc_ha_ctl 0 db fault hold-drain
in_txn() { [ "$(rc_psql "$frozen_sql")" -ge 1 ]; }
rc_wait_until 20 "n1's drainer holds a transaction open" in_txn
old_epoch=$(rc_psql "SELECT epoch FROM ha_lease WHERE owner_scope = 'rooms:n1'")
rc_log "n1's drainer is idle in transaction at epoch $old_epoch: SIGSTOP n1"
t0=$(now_ms)
kill -STOP "${RC_HA_PID[0]}"
stop_ms=$(wait_backup "$t0")
rc_log "takeover after SIGSTOP: n2 Running in Backup Mode after $stop_ms ms"
rc_assert_eq "$(rc_psql "$frozen_sql")" 0 "the frozen drain transaction was ended"
rc_assert_eq "$(rc_psql "SELECT holder, epoch > $old_epoch FROM ha_lease
	WHERE owner_scope = 'rooms:n1'")" "n2|t" "n2 holds rooms:n1 at a new epoch"
new_rows() {
	[ "$(rc_psql "SELECT count(*) FROM messages WHERE node = 'n1' AND epoch > $old_epoch")" -gt 0 ]
}
rc_wait_until 20 "n2 drains n1's rooms at the new epoch" new_rows
drain_ms=$(($(now_ms) - t0))
rc_log "first rows of the new epoch in PostgreSQL $drain_ms ms after the SIGSTOP"
if grep -n "lock timeout" "${RC_HA_LOG[1]}"; then
	rc_fail "n2's lease acquisition waited for the frozen drain transaction (lock timeout)"
fi
rc_ha_kill 0 # the frozen process (a stopped process dies of SIGKILL)
rc_ha_start 0
rc_ha_wait_state 0 "Failed Over" 15

rc=0
wait "$RCHA" || rc=$?
cat "$RC_WORK/rcha-run.log"
rc_assert_eq "$rc" 0 "rcha run exit status"
rc_assert_eq "$(val relogins "$RC_WORK/rcha-run.log")" 0 "relogins (sessions kept)"
rc_ha_verify "$RC_WORK/verify.log" 1
rc_assert_eq "$(rc_psql 'SELECT count(*) FROM drain_alarms')" 0 \
	"no drain alarm (PostgreSQL never got a row n2 lacked: the drain ceiling)"
rc_log "figures (dead $RC_HA_DEAD_MS ms, lease $RC_HA_TTL_MS ms):" \
	"takeover_sigkill_ms $kill_ms takeover_sigstop_ms $stop_ms" \
	"first_new_epoch_row_after_sigstop_ms $drain_ms"
rc_ha_stop 1 || rc_fail "n2 did not exit cleanly"
rc_ha_stop 0 || rc_fail "n1 did not exit cleanly"
