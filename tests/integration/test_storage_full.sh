#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Integration test: LMDB full (issue 3). A node with a 16 MiB map and a 50 % high-water mark,
# its PostgreSQL stopped so that nothing drains, takes POSTs of ~1.1 KB until LMDB passes the
# mark. Then:
#  1. POSTs are refused with ERROR 7 "storage full" (counted in `stats`), `db status` says
#     FULL, the node keeps running and answering; a resend of a POST stored before is still
#     acknowledged with its seq (PROTOCOL.md 7.11).
#  2. PostgreSQL comes back: the drain and the trim of the window free room, the flag clears,
#     and the clients' retried POSTs are accepted: rcload, which retries ERROR 7 with back-off,
#     ends with every message ACKed and delivered exactly once.
#  3. Nothing acknowledged was lost: the database holds every message exactly once, and the
#     room's whole history reads back in order.
# rc-timeout: 480
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rc_init storage_full
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCLOAD"
rc_require_cmds psql
rc_setup_netns
rc_start_pg
export RC_MAP_MB=16 RC_HIGH_WATER=50 RC_KEEP_RECORDS=100 RC_POST_RATE=100000
export RC_POST_BURST=100000
rc_write_node_conf
rc_start_node
TOKEN=$(rc_token alice)
seq=$(rc_rcproto alice "$TOKEN" post --room full-resend --cmid 77 | sed -n 's/^rcproto: seq //p')
[ -n "$seq" ] || rc_fail "rcproto post: no ACK before the storage filled up"
rc_stop_pg
mapfile -t BIND < <(rc_bind_args)

USERS=2
POSTS=4000
TOTAL=$((USERS * POSTS))
is_full() { [ "$(rc_ctl -j db status | jq -r '.lmdb.full')" = true ]; }
refused() { [ "$(rc_stat '.errors_out["storage full"]')" -gt 0 ]; }

rc_log "step 1: fill LMDB past its high-water mark ($TOTAL posts of ~1.1 KB, nothing drains)"
rc_rcload --users "$USERS" --posts "$POSTS" --pad 1100 --window 32 --timeout 240 \
	--room full "${BIND[@]}" >"$RC_WORK/load.log" 2>&1 &
load=$!
RC_BG_PIDS+=("$load")
rc_wait_until 120 "LMDB reports FULL" is_full
rc_wait_until 30 "POSTs are refused with ERROR 7 storage full" refused
rc_log "db status when full: $(rc_ctl -j db status | jq -c '{backlog, lmdb}')"
rc_assert "the node still answers ping while full" rc_cli ping -c 1 -W 2 "$RC_SERVICE_IP"
rc_assert "status while full" rc_ctl status
rc_assert "while full: a resend of a stored POST gets its ACK (seq $seq), a new one ERROR 7" \
	rc_rcproto alice "$TOKEN" resend-full --room full-resend --cmid 77 --seq "$seq"

rc_log "step 2: PostgreSQL back: drain, trim, accept again"
sleep 2 # let the clients hit the refusal and retry for a while
rc_start_pg
not_full() { ! is_full; }
rc_wait_until 120 "the full flag clears after the drain" not_full
wait "$load" || rc_fail "rcload did not end with every message stored and delivered: \
$(grep -E '^rcload: (FAIL|users)' "$RC_WORK/load.log" | head -n 5)"
rc_log "$(grep '^rcload: users' "$RC_WORK/load.log")"
rc_assert_match "$(grep '^rcload: info' "$RC_WORK/load.log")" "7:[0-9]+" \
	"the clients saw ERROR 7 (storage full) replies and retried"

rc_log "step 3: nothing acknowledged was lost"
backlog_empty() { [ "$(rc_ctl -j db status | jq -r '.backlog.records')" = 0 ]; }
rc_wait_until 120 "the backlog drains" backlog_empty
got=$(rc_psql "SELECT count(*), count(DISTINCT seq), max(seq) FROM messages WHERE room = '$(rc_room full)'")
rc_assert_eq "$got" "$TOTAL|$TOTAL|$TOTAL" "PostgreSQL holds every message once"
rc_assert "history of the room, LMDB window + PostgreSQL" \
	rc_rcload --verify-history "$TOTAL" --users "$USERS" --posts "$POSTS" --room full \
	--bind-ip "${RC_CLIENT_IPS[0]}"
rc_stop_node || rc_fail "roomcastd did not exit cleanly on SIGTERM (exit $RC_NODE_EXIT)"
