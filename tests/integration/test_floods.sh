#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Integration test: floods against one roomcastd (review S11, S15, S23). LOGIN floods come
# from tests/tools/rcflood, from a client address of their own, while 20 genuine users log
# in from another one (rcload: its client library retransmits a LOGIN not answered).
#  1. A flood of LOGINs with well-formed tokens whose MAC is wrong, one per datagram: every
#     genuine user logs in and posts; the control thread verified no more of the flood's
#     tokens than the per-source bucket lets through (chat.login_burst + chat.login_rate
#     a second), the rest were dropped on the worker and counted (drops.login_rate).
#  2. The same with 32 LOGINs bundled in each datagram: the genuine users log in; one LOGIN
#     of a datagram at most is looked at, the others dropped and counted (login_bundled).
#  3. One session FETCHes its room's 30 messages 100 times as fast as it can (rcproto
#     fetch-flood): its request budget (chat.request_burst 1000, a FETCH costing 31) serves
#     some and refuses the rest with ERROR 4 (drops.request_budget counts them).
#  4. A ping flood (500 echoes, 2 ms apart): answered within the source's rate
#     (workers.icmp_source_rate 10/s), the rest dropped and counted (drops.icmp_rate).
#  5. Cookies (chat.login_cookie_threshold = 0: always, as under load): a flood rotating over
#     64 source addresses (a full bucket each, as spoofed sources would have) gets COOKIEs
#     and never sends them back: not one of its tokens reaches the control thread
#     (login_cookie counts them); the genuine users' client library answers its COOKIE with
#     a LOGIN_COOKIE and they log in.
# Asserts counts only, never timings.
# rc-timeout: 300
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RATE=10
BURST=20
export RC_CHAT_EXTRA="login_rate = $RATE; login_burst = $BURST; request_rate = 100;
	request_burst = 1000;"
rc_init floods
RC_FLOOD="$RC_BUILD/tests/tools/rcflood"
rc_require_cmds jq
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCLOAD" "$RC_FLOOD"
rc_setup_netns
rc_write_node_conf
rc_start_node
MALLORY=$(rc_token mallory)
GENUINE=${RC_CLIENT_IPS[0]}

bad_tokens() { rc_stat '.control.login_refused.bad_token'; }
drop() { rc_stat ".drops.$1 // 0"; }

# flood SECONDS SOURCE ARGS...: rcflood login in the background, its pid in FLOOD_PID
flood() {
	local secs=$1 src=$2
	shift 2
	rc_cli "$RC_FLOOD" login --to "$RC_SERVICE_IP:$RC_PORT" --seconds "$secs" \
		--token "$MALLORY" --bind "$src" "$@" >>"$RC_WORK/rcflood.log" 2>&1 &
	FLOOD_PID=$!
}

# at_most_let_through B0 T0 WHAT: the flood's tokens verified since B0 (counted at T0 on
# this script's clock) fit in one source's bucket: its burst plus its rate over the time
# elapsed, and 2 s of slack
at_most_let_through() {
	local b0=$1 t0=$2 what=$3 got
	got=$(($(bad_tokens) - b0))
	rc_log "$what: $got bad tokens verified in $((SECONDS - t0)) s"
	[ "$got" -le $((BURST + RATE * (SECONDS - t0 + 2))) ] ||
		rc_fail "$what: $got bad tokens reached the control thread, more than one source's" \
			"bucket allows ($BURST + $RATE/s over $((SECONDS - t0)) s)"
}

rc_log "step 1: a bad-token LOGIN flood, one LOGIN per datagram"
b0=$(bad_tokens)
t0=$SECONDS
flood 12 "${RC_CLIENT_IPS[1]}" --pps 20000
sleep 1
rc_assert "20 genuine users log in and post during the flood" \
	rc_rcload --users 20 --posts 2 --room lf-a --prefix g1- --bind-ip "$GENUINE" --timeout 60
wait "$FLOOD_PID" || rc_fail "rcflood failed (see $RC_WORK/rcflood.log)"
at_most_let_through "$b0" "$t0" "bad-token flood"
rc_assert_int_gt "$(drop login_rate)" 0 "drops.login_rate counts the flood's LOGINs"

rc_log "step 2: 32 LOGINs bundled in each datagram"
b0=$(bad_tokens)
bundled0=$(drop login_bundled)
t0=$SECONDS
flood 8 "${RC_CLIENT_IPS[2]}" --pps 32000 --per-dgram 32
sleep 1
rc_assert "20 genuine users log in and post during the bundled flood" \
	rc_rcload --users 20 --posts 2 --room lf-b --prefix g2- --bind-ip "$GENUINE" --timeout 60
wait "$FLOOD_PID" || rc_fail "rcflood failed (see $RC_WORK/rcflood.log)"
at_most_let_through "$b0" "$t0" "bundled flood"
rc_assert_int_gt "$(($(drop login_bundled) - bundled0))" 30 \
	"drops.login_bundled counts the LOGINs after the first of a datagram"

rc_log "step 3: a FETCH flood of one session"
r0=$(drop request_budget)
rc_assert "FETCHes over the session's request budget are refused with ERROR 4" \
	rc_rcproto fetcher "$(rc_token fetcher)" fetch-flood --room ff --history 30 --count 100
rc_assert_int_gt "$(($(drop request_budget) - r0))" 0 "drops.request_budget counts them"

rc_log "step 4: a ping flood"
i0=$(drop icmp_rate)
t0=$SECONDS
got=$(rc_cli ping -q -n -i 0.002 -c 500 -W 1 "$RC_SERVICE_IP" | sed -n 's/.* \([0-9]*\) received.*/\1/p')
rc_log "ping flood: ${got:-?} of 500 echoes answered in $((SECONDS - t0)) s"
[ -n "$got" ] && [ "$got" -le $((10 + 10 * (SECONDS - t0 + 2))) ] ||
	rc_fail "ping flood: ${got:-?} echoes answered, more than one source's rate allows" \
		"(10 + 10/s over $((SECONDS - t0)) s)"
rc_assert_int_gt "$(($(drop icmp_rate) - i0))" 300 "drops.icmp_rate counts the echoes not answered"

rc_log "step 5: cookies, a flood from 64 sources"
rc_stop_node || rc_fail "roomcastd did not exit cleanly on SIGTERM (exit $RC_NODE_EXIT)"
export RC_CHAT_EXTRA="$RC_CHAT_EXTRA login_cookie_threshold = 0;"
rc_write_node_conf
rc_start_node
sources=()
for i in $(seq 100 163); do
	ip -n "$RC_NS_CLI" addr add "198.18.0.$i/24" dev "$RC_IF_CLI"
	sources+=(--bind "198.18.0.$i")
done
b0=$(bad_tokens)
c0=$(drop login_cookie)
flood 8 "${RC_CLIENT_IPS[3]}" --pps 20000 "${sources[@]}"
sleep 1
out=$(rc_rcload --users 20 --posts 2 --room lf-c --prefix g3- --bind-ip "$GENUINE" --timeout 60) ||
	rc_fail "20 genuine users did not log in and post during the flood from 64 sources"
printf '%s\n' "$out" | grep -o 'cookies=[0-9]*'
wait "$FLOOD_PID" || rc_fail "rcflood failed (see $RC_WORK/rcflood.log)"
rc_assert_eq "$(($(bad_tokens) - b0))" 0 "bad tokens verified during the flood with cookies"
rc_assert_int_gt "$(($(drop login_cookie) - c0))" 1000 "drops.login_cookie counts the flood"
rc_assert_match "$out" "cookies=([2-9][0-9]|[1-9][0-9]{2,})" \
	"the genuine users' LOGINs were answered with COOKIEs, and followed them"

rc_stop_node || rc_fail "roomcastd did not exit cleanly on SIGTERM (exit $RC_NODE_EXIT)"
rc_log "PASS"
