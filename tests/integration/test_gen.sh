#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Integration test: roomcast-gen (tests/bench/gen) against one roomcastd over net_memif, one
# DPDK process each, the node the memif server on a socket file in the work dir.
#  1. 20 users all in 2 rooms, 2000 POSTs: every POST acknowledged, every member got every
#     message once (deliveries = posts x members, 0 gaps, 0 duplicates), latencies
#     reported, the JSON lines parse (one per second, then the summary), the histograms
#     written as CSV hold every sample; the node's latency budget (stats) counts the 2000
#     POSTs in each of its six stages and the total, in order, 0 <= p50 <= p99 <= max, the
#     peer stage 0.
#  2. The same users spread one room each (10 members per room), bundles of 4 POSTs per
#     datagram, at a fixed rate (3 s): the same accounting, lines per second, and the node
#     stored every POST once.
#  3. Text output: the line per second and the summary as people read them; the node's MAC
#     given on the command line instead of resolved by ARP.
#  4. Members that never post outlive the node's session idle timeout (5 s here): the
#     generator keeps their sessions alive (PING), they miss nothing of an 8-second run.
#  5. Refusals: tokens of another secret end the setup (exit 2, the summary says why); a
#     bad option exits 2; --help is the manual.
#  6. A node with two workers (two memif queue pairs: memif has no RSS, queue q is worker
#     q's), the generator on two queues, four rooms: the same accounting, both workers
#     received and stored POSTs.
# rc-timeout: 240
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RC_GEN="$RC_BUILD/tests/bench/gen/roomcast-gen"
rc_init gen
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_GEN"

# The node's namespace only (loopback for its management endpoint); memif needs no link.
rc_state_add netns "$RC_NS_NODE"
ip netns add "$RC_NS_NODE" || rc_fail "ip netns add $RC_NS_NODE"
ip -n "$RC_NS_NODE" link set lo up
MEMIF_SOCK="$RC_WORK/memif.sock"
GEN_PREFIX="$RC_FILE_PREFIX-gen"
rc_state_add dpdk "/var/run/dpdk/$GEN_PREFIX"
RC_POST_RATE=100000 RC_POST_BURST=100000 \
	rc_write_node_conf "$RC_CONF" net_memif0 "role=server,id=0,socket=$MEMIF_SOCK,socket-abstract=no"
sed -i 's/session_idle_s = 120;/session_idle_s = 5;/' "$RC_CONF"
rc_assert_file_match "$RC_CONF" 'session_idle_s = 5;' "the node's sessions expire after 5 s idle"
rc_start_node

# gen NAME ARGS...: roomcast-gen in the node's namespace; output to WORK/NAME.out. Returns
# its status.
gen() {
	local name=$1 rc=0
	shift
	rc_log "roomcast-gen $*"
	timeout --foreground -k 5 120 ip netns exec "$RC_NS_NODE" "$RC_GEN" \
		-s "$RC_SERVICE_IP" -k "$RC_SECRET" --memif "$MEMIF_SOCK" "$@" \
		-- --no-huge --no-pci -m 256 "--file-prefix=$GEN_PREFIX" --lcores=0@0,1@0 \
		--log-level=4 >"$RC_WORK/$name.out" 2>"$RC_WORK/$name.err" || rc=$?
	cat "$RC_WORK/$name.out"
	[ -s "$RC_WORK/$name.err" ] && sed 's/^/  stderr: /' "$RC_WORK/$name.err" | tail -n 20
	return "$rc"
}

summary() { # NAME JQ: a field of NAME's JSON summary
	jq -er "select(.type == \"summary\") | $2" "$RC_WORK/$1.out" ||
		rc_fail "$1: summary field $2 missing: $(tail -n 1 "$RC_WORK/$1.out")"
}

check_run() { # NAME POSTS DELIVERIES: the accounting of a JSON run
	local name=$1 posts=$2 dlv=$3 q
	rc_assert "$name: every output line is JSON" jq -e . "$RC_WORK/$name.out" >/dev/null
	rc_assert_eq "$(summary "$name" .result)" ok "$name: result"
	rc_assert_eq "$(summary "$name" .posts_sent)" "$posts" "$name: POSTs sent"
	rc_assert_eq "$(summary "$name" .posts_acked)" "$posts" "$name: POSTs acknowledged"
	rc_assert_eq "$(summary "$name" .posts_failed)" 0 "$name: POSTs refused"
	rc_assert_eq "$(summary "$name" .deliveries_expected)" "$dlv" "$name: deliveries expected"
	rc_assert_eq "$(summary "$name" .deliveries)" "$dlv" "$name: deliveries = posts x members"
	rc_assert_eq "$(summary "$name" .gaps)" 0 "$name: gaps"
	rc_assert_eq "$(summary "$name" .duplicates)" 0 "$name: duplicates"
	for q in ack_latency deliver_latency; do
		rc_assert_eq "$(summary "$name" ".$q.samples")" \
			"$([ "$q" = ack_latency ] && echo "$posts" || echo "$dlv")" "$name: $q samples"
		rc_assert_int_gt "$(summary "$name" ".$q.p50_us | floor")" 0 "$name: $q p50"
		rc_assert "$name: $q p50 <= p99 <= p99.9 <= max" jq -e "select(.type == \"summary\")
			| .$q | .p50_us <= .p99_us and .p99_us <= .p999_us and .p999_us <= .max_us" \
			"$RC_WORK/$name.out" >/dev/null
	done
	rc_assert_int_gt "$(summary "$name" '.deliveries_per_s | floor')" 0 "$name: deliveries/s"
	rc_assert_eq "$(jq -s '[.[] | select(.type == "interval")] | last | .missing' \
		"$RC_WORK/$name.out")" 0 "$name: the last line: nothing missing"
}

rc_log "step 1: 20 users in 2 rooms, 2000 POSTs"
gen all -u 20 -R 2 -n 2000 -w 8 -j --hist "$RC_WORK/all.csv" ||
	rc_fail "roomcast-gen (all in every room) exited $?"
check_run all 2000 40000
# the histograms as CSV: every sample in a bucket
rc_assert_eq "$(awk -F, '$1 == "ack" { n += $4 } END { print n }' "$RC_WORK/all.csv")" 2000 \
	"all: the ACK latency histogram holds every ACK"
rc_assert_eq "$(awk -F, '$1 == "deliver" { n += $4 } END { print n }' "$RC_WORK/all.csv")" \
	40000 "all: the deliver latency histogram holds every delivery"
rc_assert_eq "$(summary all .members)" 40 "all: 20 members in each of 2 rooms"
# the node's latency budget: each of the 2000 stored POSTs in every stage, figures in order
budget=$(rc_stat .latency_budget)
for st in rx_to_enqueue wal_queue commit peer completion_queue fanout total; do
	rc_assert_eq "$(jq -r ".$st.count" <<<"$budget")" 2000 "latency budget: $st counts every POST"
	rc_assert "latency budget: $st: 0 <= p50 <= p99 <= max" jq -e \
		".$st | .p50_us >= 0 and .p50_us <= .p99_us and .p99_us <= .max_us" <<<"$budget" >/dev/null
done
rc_assert_eq "$(jq -r '.peer.max_us' <<<"$budget")" 0 "latency budget: no HA peer gate, no peer stage"
rc_assert_eq "$(jq -r 'keys_unsorted | join(" ")' <<<"$budget")" \
	"rx_to_enqueue wal_queue commit peer completion_queue fanout total" \
	"latency budget: the stages in order, then the total"
rc_assert_match "$(rc_ctl stats)" '^latency budget \(us\): +stage +count +p50 +p99 +max' \
	"latency budget: the table in the text output"

rc_log "step 2: spread (1 room per user), bundles of 4, 400 POSTs/s"
gen spread -u 20 -R 2 --rooms-per-user 1 -n 1200 -B 4 -r 400 -j --room-prefix spread ||
	rc_fail "roomcast-gen (spread) exited $?"
check_run spread 1200 12000
rc_assert_eq "$(summary spread .members)" 20 "spread: 10 members in each of 2 rooms"
# 1200 POSTs at 400/s: three seconds of posting, a line for each (and one at the end)
lines=$(jq -s '[.[] | select(.type == "interval")] | length' "$RC_WORK/spread.out")
rc_assert_int_gt "$lines" 1 "spread: a line per second"
rc_assert "spread: the lines count POSTs, ACKs and DELIVERs per second" jq -se \
	'[.[] | select(.type == "interval" and .phase == "post")][0]
	 | .posts_per_s > 0 and .acks_per_s > 0 and .deliveries_per_s > 0' \
	"$RC_WORK/spread.out" >/dev/null
stored=$(rc_stat '[.lcores[].posts_stored] | add')
rc_assert_eq "$stored" 3200 "the node stored every POST once"

rc_log "step 3: text output, the node's MAC given (no ARP)"
node_mac=$(grep -oE 'port chat0 \(net_memif0\) up: mac [0-9A-Fa-f:]{17}' "$RC_NODE_LOG" |
	awk '{print $NF}' | tail -n 1)
[ -n "$node_mac" ] || rc_fail "the node's log names no MAC for its port"
gen text -u 4 -R 1 -n 200 --room-prefix text --node-mac "$node_mac" ||
	rc_fail "roomcast-gen (text) exited $?"
rc_assert_file_match "$RC_WORK/text.out" '^  deliveries +800 of 800 expected, gaps 0, duplicates 0' \
	"text: the deliveries line"
rc_assert_file_match "$RC_WORK/text.out" '^  post-to-deliver +p50 [0-9.]+ us, p99 [0-9.]+ us, p99.9' \
	"text: the latency line"
rc_assert_file_match "$RC_WORK/text.out" '^  result +OK$' "text: the result"

rc_log "step 4: members that never post, longer than the session idle timeout"
gen idle -u 4 -P 1 -n 56 -r 7 -j --room-prefix idle || rc_fail "roomcast-gen (idle) exited $?"
check_run idle 56 224

rc_log "step 5: refusals"
head -c 32 /dev/urandom >"$RC_WORK/other-secret"
rc=0
gen badkey -u 2 -n 10 -j --setup-timeout 5 -k "$RC_WORK/other-secret" || rc=$?
rc_assert_eq "$rc" 2 "tokens of another secret: setup failed"
rc_assert_eq "$(summary badkey .fail)" "a LOGIN was refused (ERROR)" "badkey: why"
# the first refusal ends the run: the other user's may not have been read
rc_assert_int_gt "$(summary badkey '.errors."5"')" 0 "badkey: ERROR 5 (not authenticated)"
rc=0
"$RC_GEN" --users 0 >/dev/null 2>&1 || rc=$?
rc_assert_eq "$rc" 2 "a bad option"
rc_assert_match "$("$RC_GEN" --help)" '^NAME' "--help: the manual"

rc_stop_node || rc_fail "roomcastd did not exit cleanly on SIGTERM (exit $RC_NODE_EXIT)"

rc_log "step 6: two workers, two queue pairs"
RC_WORKERS=2 RC_POST_RATE=100000 RC_POST_BURST=100000 \
	rc_write_node_conf "$RC_CONF" net_memif0 "role=server,id=0,socket=$MEMIF_SOCK,socket-abstract=no"
sed -i 's/,qpairs=2//' "$RC_CONF" # an af_packet argument: memif takes the queue counts as they are
rc_assert_file_match "$RC_CONF" 'rx_queues = 2; tx_queues = 2;' "two queue pairs"
rc_start_node
gen two -u 20 -R 4 --rooms-per-user 2 -n 2000 -w 8 -j --queues 2 --room-prefix two ||
	rc_fail "roomcast-gen (two workers) exited $?"
check_run two 2000 20000
for w in 0 1; do
	rc_assert_int_gt "$(rc_stat ".lcores[$w].rx")" 0 "worker $w received on its queue"
	rc_assert_int_gt "$(rc_stat ".lcores[$w].posts_stored")" 0 "worker $w stored POSTs"
done
rc_stop_node || rc_fail "roomcastd did not exit cleanly on SIGTERM (exit $RC_NODE_EXIT)"
rc_log "PASS"
