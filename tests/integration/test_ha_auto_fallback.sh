#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Automatic fallback (issue 5: a setting, off by default): with ha.auto_fallback on and a
# healthy period of 10 s, n1's rooms come back by themselves after its TC service failed and
# recovered: n1 Failed Over (Auto Recover) -> Taking Back (Automatic Fallback) -> Normal,
# n2 Running in Backup Mode -> Falling Back -> Normal, without any command; the clients'
# messages are all in the database exactly once. Without the setting (test_ha_faults),
# n1 stays Failed Over until `ha fallback`.
# rc-timeout: 240
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=ha_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ha_lib.sh"

RC_RCHA="$RC_BUILD/tests/tools/rcha"

rc_init ha_auto_fallback
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCHA"
rc_start_pg
rc_ha_setup
RC_HA_EXTRA="auto_fallback = true; auto_fallback_after_s = 10;" rc_ha_write_confs
rc_ha_pair_up
mapfile -t BIND < <(rc_bind_args)
path() { rc_ha_ctl "$1" -j ha status | jq -r '.fsm.history | map(.to + " (" + .reason + ")") | join(" > ")'; }

OUT="$RC_WORK/rcha"
ip netns exec "$RC_NS_CLI" "$RC_RCHA" run --server "${RC_HA_VIP[0]}" \
	--server "${RC_HA_VIP[1]}" --port "$RC_PORT" --users 4 --room-prefix auto- --rooms 2 \
	--rate 10 --duration 22 --drain 15 --secret "$RC_SECRET" --out "$OUT" "${BIND[@]}" \
	>"$RC_WORK/rcha-run.log" 2>&1 &
RCHA=$!
RC_BG_PIDS+=("$RCHA")
sleep 2
rc_ha_ctl 0 ha fault stall-workers
rc_ha_wait_state 1 "Running in Backup Mode" 10
rc_ha_ctl 0 ha fault resume-workers
rc_ha_wait_state 0 "Failed Over" 10
t0=$SECONDS
rc_log "n1 Failed Over: waiting for the automatic fallback (healthy period 10 s)"
rc_ha_wait_state 0 Normal 20
rc_ha_wait_state 1 Normal 10
rc_log "automatic fallback done after $((SECONDS - t0)) s"
rc_assert_int_gt "$((SECONDS - t0))" 7 "the fallback waited for the healthy period"
rc_log "n1: $(path 0)"
rc_log "n2: $(path 1)"
rc_assert_match "$(path 0)" "Failed Over \(Auto Recover \(critical service\)\) > Taking Back \(Automatic Fallback\) > Normal \(Automatic Fallback\)$" \
	"n1's path"
rc_assert_match "$(path 1)" "Running in Backup Mode \([^)]*\) > Falling Back \(Automatic Fallback\) > Normal \(Automatic Fallback\)$" \
	"n2's path"
rc=0
wait "$RCHA" || rc=$?
cat "$RC_WORK/rcha-run.log"
rc_assert_eq "$rc" 0 "rcha run exit status"
rc_ha_verify "$RC_WORK/verify.log"
rc_ha_stop 1 || rc_fail "n2 did not exit cleanly"
rc_ha_stop 0 || rc_fail "n1 did not exit cleanly"
