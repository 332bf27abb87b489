#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Integration test of tests/tools/rcha (the HA traffic checker) against one node with a real
# PostgreSQL: `rcha run` (8 users, 2 rooms, ~5 s of posting), the drain finishes, then
# `rcha verify` finds every acknowledged message exactly once with no gap (and every delivery
# has its POST-to-delivery latency); after one row is deleted from messages, verify exits 1
# with lost_acked: 1.
# rc-timeout: 300
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RC_RCHA="$RC_BUILD/tests/tools/rcha"

rc_init rcha
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCHA"
rc_require_cmds psql
rc_setup_netns
rc_start_pg
rc_write_node_conf
rc_start_node
mapfile -t BIND < <(rc_bind_args)

backlog_empty() { [ "$(rc_ctl -j db status | jq -r '.backlog.records')" = 0 ]; }
val() { sed -n "s/^$1: //p" "$2"; } # KEY FILE

OUT="$RC_WORK/rcha"
rc_log "rcha run: 8 users, 2 rooms, 4 posts/s each, 5 s"
rc_assert "rcha run" timeout 60 ip netns exec "$RC_NS_CLI" "$RC_RCHA" run \
	--server "$RC_SERVICE_IP" --port "$RC_PORT" --users 8 --room-prefix ha-room- --rooms 2 \
	--rate 4 --duration 5 --secret "$RC_SECRET" --out "$OUT" "${BIND[@]}" \
	>"$RC_WORK/rcha-run.log" 2>&1
cat "$RC_WORK/rcha-run.log"
rc_assert_int_gt "$(val acked "$RC_WORK/rcha-run.log")" 100 "ACKs in 5 s"
rc_assert_eq "$(val unacked "$RC_WORK/rcha-run.log")" 0 "unacked at the end"
rc_assert_eq "$(val relogins "$RC_WORK/rcha-run.log")" 0 "relogins"
rc_assert_file_match "$OUT/acked.tsv" '^D	' "deliveries recorded"
# every delivery is of a POST of this run (the rooms are new, posting starts once all joined):
# each has its latency, from its sender's POST, within the run
rc_assert_eq "$(grep -vc '^#' "$OUT/latency.tsv")" "$(grep -c '^D' "$OUT/acked.tsv")" \
	"a latency line per delivery"
rc_assert_eq "$(awk -F'\t' '!/^#/ && ($5 <= 0 || $5 > 10000000)' "$OUT/latency.tsv" | wc -l)" 0 \
	"latencies between 0 and 10 s"
rc_wait_until 30 "the backlog drains" backlog_empty

rc_log "rcha verify"
rc_assert "rcha verify" "$RC_RCHA" verify --out "$OUT" --conninfo "$RC_PG_CONNINFO" \
	>"$RC_WORK/verify.log" 2>&1
cat "$RC_WORK/verify.log"
for k in lost_acked duplicates gaps relogins; do
	rc_assert_eq "$(val "$k" "$RC_WORK/verify.log")" 0 "verify $k"
done
rc_assert "rcha verify through psql" "$RC_RCHA" verify --out "$OUT" \
	--psql "psql '$RC_PG_CONNINFO'" >"$RC_WORK/verify-psql.log" 2>&1

rc_log "delete one acknowledged row: verify must fail"
rc_psql "DELETE FROM messages WHERE room = '$(rc_room ha-room-0)' AND seq = 3"
rc=0
"$RC_RCHA" verify --out "$OUT" --conninfo "$RC_PG_CONNINFO" >"$RC_WORK/verify2.log" 2>&1 || rc=$?
cat "$RC_WORK/verify2.log"
rc_assert_eq "$rc" 1 "verify exit status after the delete"
rc_assert_eq "$(val lost_acked "$RC_WORK/verify2.log")" 1 "lost_acked after the delete"

rc_stop_node || rc_fail "roomcastd did not exit cleanly on SIGTERM (exit $RC_NODE_EXIT)"
