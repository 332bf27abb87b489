#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Integration test: one roomcastd with two worker lcores (RC_WORKERS=2: two af_packet queue
# pairs, the kernel spreads client flows over the two RX queues). Rooms are homed on the
# worker id % 2, so with four rooms both workers are home to some and most requests cross
# from the receiving worker to the home worker through its ring.
#  1. Four rooms in parallel, 4 users x 40 posts each with resends: every member gets every
#     message exactly once, in order (rcload checks).
#  2. Both workers received packets and both stored POSTs (stats per lcore), and requests were
#     forwarded between workers.
#  3. SIGKILL + restart: all four histories are intact.
# rc-timeout: 300
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export RC_WORKERS=2
rc_init two_workers
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCLOAD"
rc_setup_netns
rc_write_node_conf
rc_start_node

USERS=4
POSTS=40
ROOMS=(tw-a tw-b tw-c tw-d)

rc_log "step 1: four rooms in parallel"
pids=()
for i in "${!ROOMS[@]}"; do
	rc_rcload --users "$USERS" --posts "$POSTS" --resend-every 5 --room "${ROOMS[$i]}" \
		--prefix "w$i-" --bind-ip "${RC_CLIENT_IPS[$i]}" \
		--bind-ip "${RC_CLIENT_IPS[$(((i + 1) % 4))]}" &
	pids+=("$!")
done
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || rc_fail "relay round in room ${ROOMS[$i]} failed (see above)"
done

rc_log "step 2: both workers did work"
workers=$(rc_stat '.lcores | length')
rc_assert_eq "$workers" 2 "stats: two worker lcores"
for w in 0 1; do
	stored=$(rc_stat ".lcores[$w].posts_stored")
	rc_assert_int_gt "$stored" 0 "worker $w stored POSTs of the rooms it is home to"
done
fwd=$(rc_stat '[.lcores[].forwarded] | add')
rc_assert_int_gt "$fwd" 0 "requests forwarded from the receiving worker to the home worker"
homes=$(rc_ctl -j room list | jq -r '[.rooms[].home_worker] | unique | length')
rc_assert_eq "$homes" 2 "the rooms are spread over both workers"

rc_log "step 3: SIGKILL, restart, histories"
rc_kill_node
rc_start_node
for i in "${!ROOMS[@]}"; do
	rc_assert "history of ${ROOMS[$i]}" \
		rc_rcload --verify-history $((USERS * POSTS)) --users "$USERS" --posts "$POSTS" \
		--prefix "w$i-" --room "${ROOMS[$i]}" --bind-ip "${RC_CLIENT_IPS[0]}"
done
rc_stop_node || rc_fail "roomcastd did not exit cleanly on SIGTERM (exit $RC_NODE_EXIT)"
rc_log "PASS"
