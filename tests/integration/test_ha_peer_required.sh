#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# ha.durability = "peer-required" (issue 9, review S3): the HA pair (real processes, real
# PostgreSQL, network namespaces), clients posting to both nodes throughout (rcha). The HA
# link is cut for a while, both nodes alive: neither node can have its peer's copy, so each
# refuses POSTs with ERROR 9 busy (counted), stores nothing new, and never acknowledges on
# its local commit alone (no downgrade); the link comes back, the stream reconnects, the
# clients' retries go through. rcha verify: 0 acknowledged messages lost, 0 duplicates, no
# gap, no re-login.
# rc-timeout: 300
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=ha_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ha_lib.sh"

RC_RCHA="$RC_BUILD/tests/tools/rcha"

rc_init ha_peer_required
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCHA"
rc_require_cmds psql jq curl
rc_start_pg
rc_ha_setup
RC_HA_DURABILITY=peer-required rc_ha_write_confs
rc_ha_pair_up
mapfile -t BIND < <(rc_bind_args)
val() { sed -n "s/^$1: //p" "$2"; } # KEY FILE
st() { rc_ha_ctl "$1" -j ha status | jq -r "$2"; } # I JQ-FILTER
is() { [ "$(st "$1" "$2")" = "$3" ]; }      # I JQ-FILTER VALUE (evaluated at each call)
above() { [ "$(st "$1" "$2")" -gt "$3" ]; } # I JQ-FILTER N

for i in 0 1; do
	rc_assert_eq "$(st "$i" .durability)" peer-required "${RC_HA_ID[i]}: durability"
	rc_wait_until 10 "${RC_HA_ID[i]}: its own rooms acknowledged after the peer's copy" \
		is "$i" '.scopes[0].posts_refused_no_peer_copy' false
done

OUT="$RC_WORK/rcha-req"
ip netns exec "$RC_NS_CLI" "$RC_RCHA" run --server "${RC_HA_VIP[0]}" \
	--server "${RC_HA_VIP[1]}" --port "$RC_PORT" --users 8 --room-prefix "req-" \
	--rooms 2 --rate 10 --duration 16 --drain 30 --secret "$RC_SECRET" --out "$OUT" \
	"${BIND[@]}" >"$RC_WORK/rcha-req.log" 2>&1 &
RCHA=$!
RC_BG_PIDS+=("$RCHA")
# acknowledged POSTs on both nodes before the cut
rc_wait_until 20 "n1 stores POSTs" above 0 '.scopes[0].last_lsn' 20
rc_wait_until 20 "n2 stores POSTs" above 1 '.scopes[0].last_lsn' 20

rc_ha_link down
refusing() { # I: its own rooms refuse POSTs, and refusals are being counted
	[ "$(st "$1" '.scopes[0].posts_refused_no_peer_copy')" = true ] &&
		[ "$(st "$1" .peer_busy_refusals)" -gt "${2:-0}" ]
}
for i in 0 1; do
	rc_wait_until 15 "${RC_HA_ID[i]} refuses POSTs without the peer's copy" refusing "$i"
done
# nothing new is stored while POSTs are refused: the log does not move between two samples
# taken while the refusals keep growing
for i in 0 1; do
	r1=$(st "$i" .peer_busy_refusals)
	rc_wait_until 15 "${RC_HA_ID[i]}: refusals continue" refusing "$i" "$r1"
	l1=$(st "$i" '.scopes[0].last_lsn')
	r2=$(st "$i" .peer_busy_refusals)
	rc_wait_until 15 "${RC_HA_ID[i]}: refusals continue" refusing "$i" "$((r2 + 5))"
	rc_assert_eq "$(st "$i" '.scopes[0].last_lsn')" "$l1" \
		"${RC_HA_ID[i]}: nothing stored while POSTs are refused"
	rc_assert_eq "$(st "$i" '.scopes[0].served')" true "${RC_HA_ID[i]} still owns its rooms"
	rc_assert_eq "$(st "$i" '.scopes[0].acks_local_only')" false \
		"${RC_HA_ID[i]}: no ACK on the local commit alone"
done
rc_ha_ctl 0 ha status
rc_ha_link up
rc_ha_wait_state 0 Normal 15
rc_ha_wait_state 1 Normal 15
for i in 0 1; do
	rc_wait_until 15 "${RC_HA_ID[i]} accepts POSTs again once the peer holds the stream" \
		is "$i" '.scopes[0].posts_refused_no_peer_copy' false
done

rc=0
wait "$RCHA" || rc=$?
cat "$RC_WORK/rcha-req.log"
rc_assert_eq "$rc" 0 "rcha run exit status (every POST acknowledged in the end)"
rc_assert_eq "$(val unacked "$RC_WORK/rcha-req.log")" 0 "unacked at the end"
rc_assert_int_gt "$(val acked "$RC_WORK/rcha-req.log")" 100 "ACKs"
for i in 0 1; do
	rc_assert_eq "$(st "$i" .durability_downgrades)" 0 \
		"${RC_HA_ID[i]}: never acknowledged on its local commit alone"
	rc_assert_int_gt "$(st "$i" .durability_busy_periods)" 0 "${RC_HA_ID[i]}: busy periods"
done
# the same in /metrics (the management endpoint on the HA link)
metrics() { ip netns exec "${RC_HA_NS[$1]}" curl -s "http://${RC_HA_LINK_IP[$1]}:$((9464 + $1))/metrics"; }
# the endpoint serves a snapshot the control thread renews every second: wait for the one
# taken after the counters above were read
metrics_caught_up() {
	grep -Eq '^roomcast_ha_durability_busy_periods_total [1-9][0-9]*$' <<<"$(metrics "$1")"
}
for i in 0 1; do
	rc_wait_until 5 "${RC_HA_ID[i]}: a /metrics snapshot with the busy periods" \
		metrics_caught_up "$i"
	m=$(metrics "$i")
	printf '%s\n' "$m" >"$RC_WORK/metrics-${RC_HA_ID[i]}.txt" # whole, for a failure's reader
	rc_assert_match "$m" '^roomcast_ha_durability_downgrades_total 0$' \
		"${RC_HA_ID[i]}: /metrics: no downgrade"
	rc_assert_match "$m" '^roomcast_ha_peer_busy_refusals_total [1-9][0-9]*$' \
		"${RC_HA_ID[i]}: /metrics: POSTs refused busy"
	rc_assert_match "$m" '^roomcast_ha_durability_busy_periods_total [1-9][0-9]*$' \
		"${RC_HA_ID[i]}: /metrics: busy periods"
	rc_assert_match "$m" "^roomcast_ha_stream_refused_total\\{scope=\"rooms:${RC_HA_ID[i]}\",reason=\"bad_mac\"\\} 0$" \
		"${RC_HA_ID[i]}: /metrics: no forged stream frame"
done
rc_ha_verify "$RC_WORK/verify-req.log"

rc_ha_stop 1 || rc_fail "n2 did not exit cleanly"
rc_ha_stop 0 || rc_fail "n1 did not exit cleanly"
