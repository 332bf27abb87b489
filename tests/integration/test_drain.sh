#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Integration test of the drain to PostgreSQL (issue 3), with a real PostgreSQL started by the
# test (tests/pg/pg-fixture.sh) and roomcastd on net_af_packet in its namespace.
#  1. Steady state: 200 messages are ACKed, drained, and stored exactly once in the database
#     (one row per (room, seq), seq 1..200, every cmid once); the schema was created. The
#     room archived and unarchived: its two state records drain (one room row, no alarm).
#     A room deleted (`room delete`) and joined again at once under its name (a new room, a
#     new id): the database keeps only the new room's rows (seq 1.., its id in rooms), no
#     alarm, no dead letter.
#  2. The recent window: with wal.keep_records = 50 and dedup_window = 128 the drained records
#     beyond both (the newest 50 overall, the room's last 128) are trimmed from LMDB, and a
#     FETCH of the whole room (rcload --verify-history) returns all 200 messages in order:
#     seq 1..72 from PostgreSQL, the rest from LMDB.
#  3. PostgreSQL stopped under load: clients keep posting (all ACKed into LMDB), the backlog
#     shows in `db status` (records, bytes, age), the database comes back, the backlog drains:
#     nothing lost, nothing doubled.
#  4. SIGKILL in the middle of a drain (small batches, a large backlog): after the restart
#     every acknowledged message is in the database exactly once, in order.
#  5. Cleanup: `db cleanup --days 1` deletes the messages older than a day and keeps rooms.
#  6. A record PostgreSQL refuses (issue 9, S13: a CHECK constraint the test adds refuses
#     d-four's seq 37): the drain does not wedge; the row is set aside in drain_dead_letters
#     (its exact bytes and the server's error), the alarm shows in `db status` (text and
#     -j) and /metrics, every other message of d-four (and after it) is in messages once.
# rc-timeout: 600
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rc_init drain
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_RCLOAD"
rc_require_cmds psql
rc_setup_netns
rc_start_pg
export RC_KEEP_RECORDS=50 RC_POST_RATE=2000 RC_POST_BURST=2000
# a room keeps its last dedup_window messages in LMDB too: 128 here, so that step 2 trims (a
# resend must still be among the room's last 128: rcload keeps up to 64 POSTs in flight)
export RC_DEDUP_WINDOW=128
rc_write_node_conf
rc_start_node
mapfile -t BIND < <(rc_bind_args)

db_backlog() { rc_ctl -j db status | jq -r '.backlog.records'; }
backlog_empty() { [ "$(db_backlog)" = 0 ]; }
db_connected() { [ "$(rc_ctl -j db status | jq -r '.database.connected')" = true ]; }

# check_room ROOM N: the database holds exactly seq 1..N of ROOM, once each, and N distinct
# (sender, cmid) pairs.
check_room() {
	local room=$1 n=$2 got
	got=$(rc_psql "SELECT count(*), count(DISTINCT seq), coalesce(min(seq),0),
			coalesce(max(seq),0), count(DISTINCT (sender, cmid))
			FROM messages WHERE room = '$(rc_room "$room")'")
	rc_assert_eq "$got" "$n|$n|1|$n|$n" \
		"room $room in PostgreSQL: rows|distinct seqs|min|max|distinct (sender,cmid)"
}

rc_log "step 1: steady state"
rc_assert "relay round in d-one" rc_rcload --users 4 --posts 50 --resend-every 7 \
	--room d-one "${BIND[@]}"
rc_wait_until 30 "the backlog drains" backlog_empty
want=$(sed -n 's/^#define RC_SCHEMA_VERSION \([0-9]*\).*/\1/p' "$RC_ROOT/storage/schema.h")
rc_assert_eq "$(rc_psql 'SELECT max(version) FROM roomcast_schema')" "$want" \
	"schema version (RC_SCHEMA_VERSION)"
check_room d-one 200
rc_assert_eq "$(rc_psql "SELECT count(*) FROM rooms WHERE name = '$(rc_room d-one)'")" 1 "room row"
rc_assert_eq "$(rc_psql 'SELECT count(*) FROM drain_alarms')" 0 "no alarms"
db_drained() { rc_ctl -j db status | jq -r '.backlog.drained_lsn'; }
drained_at_least() { [ "$(db_drained)" -ge "$1" ]; }
lsn0=$(rc_ctl -j db status | jq -r '.backlog.last_lsn')
rc_assert "room archive d-one" rc_ctl room archive d-one
rc_assert "room archive d-one --off" rc_ctl room archive d-one --off
rc_wait_until 30 "both state records of d-one drain" drained_at_least $((lsn0 + 2))
rc_assert_eq "$(rc_psql "SELECT count(*) FROM rooms WHERE name = '$(rc_room d-one)'")" 1 \
	"one room row after its state records"
rc_assert_eq "$(rc_psql 'SELECT count(*) FROM drain_alarms')" 0 "no alarms after them"
rc_assert_eq "$(rc_psql 'SELECT count(*) FROM drain_dead_letters')" 0 "no dead letters"
rc_assert "relay round in d-del" rc_rcload --users 2 --posts 15 --room d-del "${BIND[@]}"
rc_wait_until 30 "the backlog drains" backlog_empty
check_room d-del 30
old_id=$(rc_ctl -j room show d-del | jq -r '.id')
rc_assert "room delete d-del" rc_ctl room delete d-del
rc_assert "d-del again: a new room" rc_rcload --users 2 --posts 5 --room d-del "${BIND[@]}"
new_id=$(rc_ctl -j room show d-del | jq -r '.id')
rc_assert_int_gt "$new_id" "$old_id" "the new d-del has a new id"
rc_wait_until 30 "the backlog drains" backlog_empty
check_room d-del 10
rc_assert_eq "$(rc_psql "SELECT room_id, next_seq FROM rooms WHERE name = '$(rc_room d-del)'")" \
	"$new_id|11" "one room row: the new d-del's"
rc_assert_eq "$(rc_psql 'SELECT count(*) FROM drain_alarms')" 0 "no alarms after the deletion"
rc_assert_eq "$(rc_psql 'SELECT count(*) FROM drain_dead_letters')" 0 \
	"no dead letters after the deletion"

rc_log "step 2: the recent window and a FETCH spanning LMDB and PostgreSQL"
trimmed=$(rc_ctl -j db status | jq -r '.lmdb.trimmed')
rc_assert_int_gt "$trimmed" 50 \
	"drained records beyond the window of 50 and the room's last 128 were trimmed"
rc_assert "FETCH of all 200 (PostgreSQL + LMDB)" \
	rc_rcload --verify-history 200 --users 4 --posts 50 --room d-one \
	--bind-ip "${RC_CLIENT_IPS[0]}"

rc_log "step 3: PostgreSQL stopped under load"
rc_stop_pg
rc_rcload --users 3 --posts 100 --room d-two --prefix o "${BIND[@]}" >"$RC_WORK/load2.log" 2>&1 &
load=$!
db_down() { ! db_connected; }
rc_wait_until 20 "the drainer notices that PostgreSQL is gone" db_down
wait "$load" || rc_fail "the load round failed while PostgreSQL was down: $(tail -n 5 "$RC_WORK/load2.log")"
rc_log "$(grep '^rcload: users' "$RC_WORK/load2.log")"
status=$(rc_ctl -j db status)
rc_log "db status while down: $(jq -c '.backlog' <<<"$status")"
rc_assert_int_gt "$(jq -r '.backlog.records' <<<"$status")" 0 "backlog records while down"
rc_assert_int_gt "$(jq -r '.backlog.bytes' <<<"$status")" 0 "backlog bytes while down"
rc_assert_int_gt "$(jq -r '.backlog.oldest_age_ms' <<<"$status")" 0 "backlog age while down"
rc_assert_eq "$(jq -r '.database.connected' <<<"$status")" false "db status says disconnected"
rc_start_pg
rc_wait_until 60 "the backlog drains after PostgreSQL is back" backlog_empty
check_room d-two 300
check_room d-one 200

rc_log "step 4: SIGKILL in the middle of a drain"
rc_stop_node
export RC_DB_BATCH=5
rc_write_node_conf
rc_start_node
rc_stop_pg
rc_assert "2000 messages ACKed into LMDB while PostgreSQL is down" \
	rc_rcload --users 4 --posts 500 --room d-three --prefix k "${BIND[@]}"
before=$(db_backlog)
rc_assert_int_gt "$before" 1999 "backlog before the drain"
rc_start_pg
in_db() { rc_psql "SELECT count(*) FROM messages WHERE room = '$(rc_room d-three)'" 2>/dev/null || echo 0; }
started() { [ "$(in_db)" -gt 0 ]; }
rc_wait_until 60 "the drain starts" started
rc_kill_node
mid=$(in_db)
rc_log "SIGKILL with $mid of 2000 rows of d-three in PostgreSQL"
rc_assert_int_gt 2000 "$mid" "the kill landed before the drain finished"
rc_start_node
rc_wait_until 120 "the rest drains after the restart" backlog_empty
check_room d-three 2000
rc_assert_eq "$(rc_psql 'SELECT count(*) FROM drain_alarms')" 0 "no alarms after re-drain"
rc_assert "history of d-three after the kill" \
	rc_rcload --verify-history 2000 --users 4 --posts 500 --prefix k --room d-three \
	--bind-ip "${RC_CLIENT_IPS[1]}"

rc_log "step 5: cleanup"
rc_psql "UPDATE messages SET ts_ms = ts_ms - 3 * 86400000 WHERE room = '$(rc_room d-one)' AND seq <= 20"
rc_assert "db cleanup --days 1" rc_ctl db cleanup --days 1
cleaned() { [ "$(rc_ctl -j db status | jq -r '.database.cleanup_deleted')" -ge 20 ]; }
rc_wait_until 30 "the cleanup ran" cleaned
rc_assert_eq "$(rc_psql "SELECT count(*), min(seq) FROM messages WHERE room = '$(rc_room d-one)'")" \
	"180|21" "d-one after the cleanup: 180 rows from seq 21"
rc_assert_eq "$(rc_psql "SELECT count(*) FROM rooms WHERE name = '$(rc_room d-one)'")" 1 "room kept"
rc_assert_fails "db cleanup with a bad argument" rc_ctl db cleanup --days x

rc_log "step 6: a record the database refuses goes to drain_dead_letters; the drain goes on"
rc_psql "ALTER TABLE messages ADD CONSTRAINT test_refuse_one
	CHECK (NOT (room = '$(rc_room d-four)' AND seq = 37))" >/dev/null
rc_assert "200 messages to d-four" rc_rcload --users 4 --posts 50 --room d-four --prefix p \
	"${BIND[@]}"
rc_assert "200 messages to d-five after it" rc_rcload --users 4 --posts 50 --room d-five \
	--prefix q "${BIND[@]}"
rc_wait_until 60 "the backlog drains past the refused record" backlog_empty
rc_assert_eq "$(rc_psql "SELECT count(*), count(DISTINCT seq), min(seq), max(seq)
	FROM messages WHERE room = '$(rc_room d-four)'")" "199|199|1|200" "d-four: every row but seq 37"
check_room d-five 200
rc_assert_eq "$(rc_psql "SELECT room, seq, kind, sqlstate, error LIKE '%test_refuse_one%',
	length(body) > 0 FROM drain_dead_letters")" "$(rc_room d-four)|37|message|23514|t|t" \
	"the dead letter: room, seq, kind, SQLSTATE, the server's error, the body"
rc_assert_eq "$(rc_psql "SELECT count(*) FROM drain_dead_letters
	WHERE sender <> '' AND cmid <> 0 AND ts_ms > 0 AND lsn > 0 AND node <> ''")" 1 \
	"the dead letter's sender, cmid, ts_ms, lsn, node"
status=$(rc_ctl db status)
rc_log "db status: $(grep ALARM <<<"$status")"
rc_assert_match "$status" 'ALARM: 1 dead letters' "db status shows the alarm"
rc_assert_eq "$(rc_ctl -j db status | jq -c '.dead_letters')" \
	'{"alarm":true,"rows":1,"set_aside":1}' "db status -j: dead_letters"
metrics() { rc_ns "$RC_NS_NODE" curl -sf "http://127.0.0.1:${RC_MGMT_PORT:-9464}/metrics"; }
metrics_alarm() { grep -q '^roomcast_db_dead_letter_rows 1$' <<<"$(metrics)"; }
rc_wait_until 10 "/metrics (a snapshot) shows the alarm's gauge" metrics_alarm
m=$(metrics)
rc_log "/metrics: $(grep dead_letter <<<"$m" | grep -v '^#' | tr '\n' ' ')"
rc_assert_match "$m" '^roomcast_db_dead_letters_total 1$' "/metrics: the counter"

rc_stop_node || rc_fail "roomcastd did not exit cleanly on SIGTERM (exit $RC_NODE_EXIT)"
