#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `roomcastctl room delete`: a deleted room's name is free at once, its history leaves the
# WAL and the database, and its id comes back once the WAL has trimmed past the deletion.
# One node, chat.max_rooms = 3 (ids 1..3), wal.keep_records = 5, a real PostgreSQL.
#  1. Rooms d-one (id 1, 3 messages), d-two, d-three: every id taken, a fourth room is
#     refused (ERROR 10); d-one's 3 messages are in the database.
#  2. `room delete d-one`: gone from `room list`; a POST to it gets ERROR 1; a JOIN of its
#     name is refused (ERROR 10: its id waits for the WAL to trim past the deletion); the
#     deletion drains: the database holds no row of d-one.
#  3. Six messages in d-two move the WAL past the deletion (keep_records 5): `stats` shows
#     no id waiting; a JOIN of d-one creates a new, empty room with id 1 again; its first
#     POST gets seq 1 (with cmid 2, which the deleted room had stored as seq 2: the re-sent
#     POST keys went with it).
#  4. After a restart: d-one is the new room (id 1, last seq 1), d-two and d-three are
#     there; a POST with the deleted room's cmid 3 gets seq 2; the database holds the new
#     d-one's two messages only, and no drain alarm.
#  5. Errors: deleting a room that does not exist (exit 1), with no name (exit 2).
# rc-timeout: 300
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rc_init room_delete
rc_require_cmds python3 psql
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL"
rc_setup_netns
rc_start_pg
export RC_MAX_ROOMS=3 RC_KEEP_RECORDS=5
rc_write_node_conf
rc_start_node
TOKEN=$(rc_token alice)
proto() { rc_rcproto alice "$TOKEN" "$@"; }
post_seq() { proto post --room "$1" --cmid "$2" | sed -n 's/^rcproto: seq //p'; }
room_field() { rc_ctl -j room show "$1" | jq -r ".$2"; }
sql() { psql "$RC_PG_CONNINFO" -XAtqc "$1"; }
rows() { sql "SELECT count(*) FROM messages WHERE room LIKE '$1@%'"; }
rows_are() { [ "$(rows "$1")" = "$2" ]; }

rc_log "step 1: three rooms, every id taken"
for cmid in 1 2 3; do
	rc_assert_eq "$(post_seq d-one "$cmid")" "$cmid" "d-one: POST cmid $cmid stored"
done
rc_assert_eq "$(post_seq d-two 1)" 1 "d-two: first POST"
rc_assert_eq "$(post_seq d-three 1)" 1 "d-three: first POST"
rc_assert_eq "$(room_field d-one id)" 1 "d-one's id"
rc_assert "a fourth room is refused: no room id left" proto deleted --room d-four --expect full
rc_wait_until 20 "d-one's 3 messages in the database" rows_are d-one 3

rc_log "step 2: room delete d-one"
rc_assert "roomcastctl room delete d-one" rc_ctl room delete d-one
rc_assert_fails "room show d-one: no such room" rc_ctl room show d-one
rc_assert_eq "$(rc_ctl -j room list | jq '[.rooms[] | select(.name | startswith("d-one"))] |
	length')" 0 "room list: no d-one"
rc_assert "d-one deleted: POST refused (ERROR 1), its id not back yet (ERROR 10)" \
	proto deleted --room d-one --expect full
rc_assert_eq "$(rc_stat .control.rooms_deleted)" 1 "stats: rooms deleted"
rc_wait_until 20 "the deletion drained: no row of d-one in the database" rows_are d-one 0
rc_assert_eq "$(sql "SELECT count(*) FROM rooms WHERE name LIKE 'd-one@%'")" 0 \
	"the database's rooms: no d-one"
rc_assert_int_gt "$(rc_stat .control.room_ids_waiting)" 0 "stats: d-one's id waiting"

rc_log "step 3: the WAL moves past the deletion; d-one's id comes back"
for cmid in 2 3 4 5 6 7; do
	rc_assert_eq "$(post_seq d-two "$cmid")" "$cmid" "d-two: POST cmid $cmid"
done
ids_back() { [ "$(rc_stat .control.room_ids_waiting)" = 0 ]; }
rc_wait_until 20 "no deleted room's id waiting (the WAL trimmed past the deletion)" ids_back
rc_assert "a JOIN of d-one creates a new, empty room" proto deleted --room d-one --expect fresh
rc_assert_eq "$(room_field d-one id)" 1 "the new d-one reuses id 1"
rc_assert_eq "$(post_seq d-one 2)" 1 "the new d-one: cmid 2 (seq 2 of the deleted room) is seq 1"

rc_log "step 4: after a restart"
rc_stop_node || rc_fail "roomcastd did not exit cleanly on SIGTERM (exit $RC_NODE_EXIT)"
rc_start_node
rc_assert_eq "$(room_field d-one id) $(room_field d-one last_seq)" "1 1" \
	"after the restart: d-one is the new room (id 1, last seq 1)"
rc_assert_eq "$(room_field d-two last_seq) $(room_field d-three last_seq)" "7 1" \
	"after the restart: d-two and d-three"
rc_assert_eq "$(post_seq d-one 3)" 2 "the new d-one: cmid 3 (seq 3 of the deleted room) is seq 2"
rc_wait_until 20 "the new d-one's 2 messages in the database" rows_are d-one 2
rc_assert_eq "$(sql "SELECT string_agg(seq || ':' || cmid, ',' ORDER BY seq) FROM messages
	WHERE room LIKE 'd-one@%'")" "1:2,2:3" "the database: the new d-one's messages only"
rc_assert_eq "$(sql "SELECT count(*) FROM drain_alarms")" 0 "no drain alarm"

rc_log "step 5: errors"
rc=0
rc_ctl room delete no-such-room >"$RC_WORK/del-missing.out" 2>&1 || rc=$?
rc_assert_eq "$rc" 1 "room delete of a room that does not exist: exit 1"
rc_assert_match "$(cat "$RC_WORK/del-missing.out")" 'no room named "no-such-room"' \
	"room delete of a room that does not exist: says so"
rc=0
rc_ctl room delete >/dev/null 2>&1 || rc=$?
rc_assert_eq "$rc" 2 "room delete without a name: exit 2"
rc_assert "roomcastd still running" rc_node_alive
rc_stop_node || rc_fail "roomcastd did not exit cleanly on SIGTERM (exit $RC_NODE_EXIT)"
