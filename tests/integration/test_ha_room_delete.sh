#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# `room delete` in an HA pair (real PostgreSQL): the tombstone reaches the peer with the
# replication stream, the peer's takeover and the fallback keep the room deleted, and the
# node that reuses the id (the peer, as the rooms' writer) hands the new room back.
# chat.max_rooms = 2 (n1's rooms: ids 1 and 2), wal.keep_records = 5.
#  1. alice (on n1) fills h-one (2 messages) and h-two; `room delete h-one` on n1; the
#     stream carries the tombstone to n2 (lag 0); the database loses h-one's rows.
#  2. n1 is killed: n2 takes n1's rooms over without h-one (room list), and knows its id is
#     a tombstone: a JOIN of h-one is refused (ERROR 10), every other id being taken.
#  3. n1 restarts (Failed Over: n2 still writes n1's rooms and streams them to n1). While n1
#     was away n2 kept every record for it (no trim, so the id waited); now six messages in
#     h-two on n2 move n2's WAL past the tombstone: a JOIN of h-one creates a new, empty room
#     with id 1 again, whose first POST gets seq 1 (n1, the replica, purges its copy of the
#     old room as the creation arrives).
#  4. The fallback: n1 serves the new h-one (id 1, last seq 1) and h-two; the database holds
#     the new h-one's messages only, and no drain alarm.
# rc-timeout: 300
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=ha_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/ha_lib.sh"

rc_init ha_room_delete
rc_require_cmds python3 psql
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL"
rc_start_pg
export RC_MAX_ROOMS=2 RC_KEEP_RECORDS=5
rc_ha_setup
rc_ha_write_confs
rc_ha_pair_up
RC_SERVICE_IP=${RC_HA_VIP[0]} # alice talks to n1's service address throughout
TOKEN=$(RC_ADMIN_SOCK=${RC_HA_SOCK[0]} rc_token alice)
proto() { rc_rcproto alice "$TOKEN" "$@"; }
post_seq() { proto post --room "$1" --cmid "$2" | sed -n 's/^rcproto: seq //p'; }
room_field() { rc_ha_ctl "$1" -j room show "$2" | jq -r ".$3"; }
sql() { psql "$RC_PG_CONNINFO" -XAtqc "$1"; }
rows_are() { [ "$(sql "SELECT count(*) FROM messages WHERE room LIKE '$1@%'")" = "$2" ]; }
# n1's own scope: the stream to n2 has every record
own_lag_0() { [ "$(rc_ha_ctl 0 -j ha status | jq -r '.scopes[0].lag_records')" = 0 ]; }

rc_log "step 1: h-one deleted on n1"
rc_assert_eq "$(post_seq h-one 1)" 1 "h-one: first POST"
rc_assert_eq "$(post_seq h-one 2)" 2 "h-one: second POST"
rc_assert_eq "$(post_seq h-two 1)" 1 "h-two: first POST"
rc_assert_eq "$(room_field 0 h-one id)" 1 "h-one's id"
rc_wait_until 20 "h-one's 2 messages in the database" rows_are h-one 2
rc_assert "room delete h-one on n1" rc_ha_ctl 0 room delete h-one
rc_assert_fails "n1: no room h-one" rc_ha_ctl 0 room show h-one
rc_wait_until 20 "the deletion drained: no row of h-one in the database" rows_are h-one 0
rc_wait_until 10 "n2 holds every record of n1's rooms (the tombstone too)" own_lag_0

rc_log "step 2: n1 killed; n2 takes its rooms over"
rc_ha_kill 0
rc_ha_wait_state 1 "Running in Backup Mode" 15
rc_assert_eq "$(room_field 1 h-two last_seq)" 1 "n2 serves h-two"
rc_assert_fails "n2 does not serve the deleted h-one" rc_ha_ctl 1 room show h-one
rc_assert "n2: h-one's id is a tombstone, not free (ERROR 10)" \
	proto deleted --room h-one --expect full

rc_log "step 3: n1 back (Failed Over); n2 moves n1's WAL past the tombstone; the id returns"
rc_ha_start 0
rc_ha_wait_state 0 "Failed Over" 20
for cmid in 2 3 4 5 6 7; do
	rc_assert_eq "$(post_seq h-two "$cmid")" "$cmid" "h-two on n2: POST cmid $cmid"
done
ids_back() { [ "$(rc_ha_ctl 1 -j stats | jq -r .control.room_ids_waiting)" = 0 ]; }
rc_wait_until 20 "n2: no deleted room's id waiting" ids_back
rc_assert "a JOIN of h-one on n2 creates a new, empty room" \
	proto deleted --room h-one --expect fresh
rc_assert_eq "$(room_field 1 h-one id)" 1 "the new h-one reuses id 1"
rc_assert_eq "$(post_seq h-one 9)" 1 "the new h-one: first POST seq 1"

rc_log "step 4: fallback"
rc_ha_ctl 0 ha fallback n1
rc_ha_wait_state 0 Normal 20
rc_ha_wait_state 1 Normal 20
rc_assert_eq "$(room_field 0 h-one id) $(room_field 0 h-one last_seq)" "1 1" \
	"n1 serves the new h-one (id 1, last seq 1)"
rc_assert_eq "$(room_field 0 h-two last_seq)" 7 "n1 serves h-two"
rc_assert_eq "$(post_seq h-one 10)" 2 "n1: the new h-one's second POST"
rc_wait_until 20 "the new h-one's 2 messages in the database" rows_are h-one 2
rc_assert_eq "$(sql "SELECT string_agg(seq || ':' || cmid, ',' ORDER BY seq) FROM messages
	WHERE room LIKE 'h-one@%'")" "1:9,2:10" "the database: the new h-one's messages only"
rc_assert_eq "$(sql "SELECT count(*) FROM drain_alarms")" 0 "no drain alarm"
for i in 1 0; do rc_ha_stop "$i" || rc_fail "${RC_HA_ID[i]} did not exit cleanly"; done
