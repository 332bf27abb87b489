#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Integration test of the operator's cluster CLI (control/admin/CLI.md) against two running roomcastd
# processes, n1 and n2 of group g1 (cluster c1), and a real PostgreSQL.
#
# Layout: both daemons run in the NODE namespace; n1 serves chat on net_af_packet (the usual
# veth, clients in the CLI namespace), n2 has a net_null0 port (no traffic) and service IP
# 198.18.0.2. Their management endpoints (127.0.0.1:9464 and :9465 in that namespace) carry the
# cluster state between them. PostgreSQL (tests/pg/pg-fixture.sh) holds the databases pg_g1,
# src_a, src_b, tgt, pg_g2; role rc_app logs in with a password (scram-sha-256).
#
#  1. topology on both nodes: two nodes, their group, TC state, HA state and reason.
#  2. chat show / chat set (and a bad key, a bad value); the change reaches n2, and survives a
#     restart of n2 (cluster.json).
#  3. group set g1 ha off/on, assignment; bad values.
#  4. service stop tc --node n1: a chat client's JOIN on n1 gets ERROR 8 (not_owner) with the
#     text; service start: it works again. service status on n2.
#  5. db add: Oracle and SQL Server refused (PostgreSQL only), a missing password file
#     refused; db list never shows a password; db assign to one node while ha is on refused;
#     db remove of an assigned database refused; db check passes (both nodes: n2's published
#     check), fails with a wrong password (with the fix).
#  6. verify ha, from what the nodes report: these two run without ha { } (no pair), so the
#     group's HA check fails, every other one passes (the database both really use); TC
#     stopped on n1: fails (exit 1), naming roomcastctl service start tc --node n1.
#  7. db merge: ha off, src_a on n1 and src_b on n2 (the nodes create their schemas); both
#     filled with rooms in one or both; merge add; validate while TC runs: refused; TC stopped on
#     both; validate; run; done; the target checked row by row; run again: nothing changes;
#     then the reminder followed (assign the target, ha on, TC started): verify ha shows both
#     nodes on the target (only the missing pair fails).
#  8. Bad input: unknown commands and bad arguments exit 2 with usage; help at every level.
#  9. No password anywhere: not in any roomcastctl output, node log or cluster.json.
# 10. Two groups (n3 alone in g2, not running): a database of g1 assigned to g2 too (groups
#     may share one); db check names n3 unreachable.
# Every command also runs with -j and its output must parse with jq.
# rc-timeout: 600
# shellcheck disable=SC2119 # rc_* helpers take optional arguments
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rc_init cluster
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL" "$RC_CHAT"
rc_require_cmds psql
rc_setup_netns
rc_node2_init

M1=9464
M2=9465
CTL_LOG="$RC_WORK/ctl.log"
SEED="$RC_WORK/cluster.conf"
PW=$(head -c 12 /dev/urandom | od -An -v -tx1 | tr -d ' \n')
PW="Pw-$PW"
BAD_PW="wrong-$PW-x"
PW_GOOD="$RC_WORK/pw_good"
PW_BAD="$RC_WORK/pw_bad"
: >"$CTL_LOG"

# ---- helpers ----------------------------------------------------------------------------------

# run_ctl NODE ARGS...: roomcastctl against node 1 or 2; sets OUT, ERR, RC. Logged to CTL_LOG.
run_ctl() {
	local node=$1 sock=$RC_ADMIN_SOCK t0
	shift
	[ "$node" = 2 ] && sock=$RC_ADMIN_SOCK2
	RC=0
	t0=$(date +%s.%N)
	timeout 60 "$RC_ROOMCASTCTL" -s "$sock" "$@" >"$RC_WORK/ctl.o" 2>"$RC_WORK/ctl.e" || RC=$?
	OUT=$(cat "$RC_WORK/ctl.o")
	ERR=$(cat "$RC_WORK/ctl.e")
	{
		printf '$ roomcastctl [n%s] %s -> %s (%s at %s)\n' "$node" "$*" "$RC" \
			"$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f s", b - a }')" \
			"$(date -u +%T.%3N)"
		cat "$RC_WORK/ctl.o" "$RC_WORK/ctl.e"
	} >>"$CTL_LOG"
}

json_ok() { # the -j output parses
	printf '%s' "$OUT" | jq . >/dev/null 2>&1 ||
		rc_fail "roomcastctl -j $*: not JSON: $(printf '%s' "$OUT" | head -c 300)"
}

# ok NODE ARGS...: exit 0; then the same with -j must exit 0 and print JSON (left in OUT).
ok() {
	local node=$1
	shift
	run_ctl "$node" "$@"
	[ "$RC" -eq 0 ] || rc_fail "roomcastctl [n$node] $*: exit $RC: $ERR $OUT"
	TEXT=$OUT
	run_ctl "$node" -j "$@"
	[ "$RC" -eq 0 ] || rc_fail "roomcastctl [n$node] -j $*: exit $RC: $ERR"
	json_ok "$@"
}

# ok1 NODE ARGS...: a change (not repeated with -j): exit 0, text in OUT.
ok1() {
	local node=$1
	shift
	run_ctl "$node" "$@"
	[ "$RC" -eq 0 ] || rc_fail "roomcastctl [n$node] $*: exit $RC: $ERR $OUT"
}

# jok NODE ARGS...: a change with -j: exit 0 and JSON in OUT.
jok() {
	local node=$1
	shift
	run_ctl "$node" -j "$@"
	[ "$RC" -eq 0 ] || rc_fail "roomcastctl [n$node] -j $*: exit $RC: $ERR"
	json_ok "$@"
}

# refused STATUS ERE NODE ARGS...: exit STATUS, stdout + stderr match ERE.
refused() {
	local want=$1 re=$2 node=$3
	shift 3
	run_ctl "$node" "$@"
	[ "$RC" -eq "$want" ] || rc_fail "roomcastctl [n$node] $*: exit $RC, expected $want: $ERR"
	rc_assert_match "$(printf '%s %s' "$OUT" "$ERR" | tr '\n' ' ')" "$re" "roomcastctl [n$node] $*"
}

jq_out() { printf '%s' "$OUT" | jq -r "$1"; }

# until_ctl SECS DESC NODE JQ ARGS...: poll `roomcastctl -j ARGS` until JQ is true.
ctl_true() {
	local node=$1 filter=$2
	shift 2
	run_ctl "$node" -j "$@"
	[ "$RC" -le 1 ] && printf '%s' "$OUT" | jq -e "$filter" >/dev/null 2>&1
}
until_ctl() {
	local secs=$1 desc=$2
	shift 2
	rc_wait_until "$secs" "$desc" ctl_true "$@"
}

sql() { # DB SQL: as the superuser, one row per line, fields separated by |
	psql -h "$RC_PG_DIR" -p "$PGPORT" -U postgres -d "$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"
}

write_seed() { # with_g2: 0|1
	{
		cat <<EOF
# cluster seed of test_cluster.sh
clusters = ( {
  name = "c1";
  groups = (
    { name = "g1"; ha = true; assignment = "balanced";
      nodes = ( { id = "n1"; mgmt = "127.0.0.1:$M1"; vip = "$RC_SERVICE_IP"; port = "chat0"; },
                { id = "n2"; mgmt = "127.0.0.1:$M2"; vip = "$RC_SERVICE_IP2"; port = "chat0"; } ); }
EOF
		if [ "$1" = 1 ]; then
			cat <<EOF
    , { name = "g2"; ha = false;
        nodes = ( { id = "n3"; mgmt = "127.0.0.1:9466"; vip = "198.18.0.3"; } ); }
EOF
		fi
		cat <<EOF
  ); } );
chat = { enabled = true; messages_on_join = 20; };
EOF
	} >"$SEED"
}

chat_join() { # USER -> exit status of a roomcast-chat session that joins lobby and posts
	local tok
	tok=$(rc_token "$1")
	echo "hello from $1" | rc_cli timeout 15 "$RC_CHAT" -s "$RC_SERVICE_IP:$RC_PORT" -u "$1" \
		-t "$tok" -r lobby -b "${RC_CLIENT_IPS[0]}" >"$RC_WORK/chat.out" 2>"$RC_WORK/chat.err"
}

# ---- PostgreSQL -------------------------------------------------------------------------------

rc_start_pg
PGPORT=$(cat "$RC_PG_DIR/port")
sql postgres "CREATE ROLE rc_app LOGIN PASSWORD '$PW'" >/dev/null
for d in pg_g1 src_a src_b tgt pg_g2; do sql postgres "CREATE DATABASE $d OWNER rc_app" >/dev/null; done
# rc_app must give its password on the unix socket; everyone else stays trusted
sed -i '1i local all rc_app scram-sha-256' "$RC_PG_DIR/data/pg_hba.conf"
chown postgres: "$RC_PG_DIR/data/pg_hba.conf"
sql postgres "SELECT pg_reload_conf()" >/dev/null
(umask 077 && printf '%s\n' "$PW" >"$PW_GOOD" && printf '%s\n' "$BAD_PW" >"$PW_BAD")
rc_app_psql() { # PASSWORD
	env PGPASSWORD="$1" psql -h "$RC_PG_DIR" -p "$PGPORT" -U rc_app -d pg_g1 -XAtqc 'SELECT 1' \
		>/dev/null 2>&1
}
rc_assert "rc_app logs in with its password" rc_app_psql "$PW"
rc_assert_fails "rc_app is refused a wrong password" rc_app_psql "$BAD_PW"

# ---- the two nodes ----------------------------------------------------------------------------

write_seed 0
RC_PG_CONNINFO='' RC_CLUSTER_FILE=$SEED RC_MGMT_PORT=$M1 rc_write_node_conf
RC_PG_CONNINFO='' RC_CLUSTER_FILE=$SEED rc_write_node2_conf
rc_start_node
rc_start_node2

# 1. topology
rc_log "step 1: topology"
for node in 1 2; do
	ok "$node" topology
	rc_assert_match "$TEXT" 'n1 .*g1 .*on +started' "topology text on n$node (n1)"
	rc_assert_match "$TEXT" 'n2 .*g1 .*on +started' "topology text on n$node (n2)"
	rc_assert_eq "$(jq_out '[.nodes[].id] | sort | join(",")')" "n1,n2" "topology nodes on n$node"
	rc_assert_eq "$(jq_out '[.nodes[] | .tc] | unique | join(",")')" "started" "topology TC"
	rc_assert_eq "$(jq_out '[.nodes[] | select(.ha_state != null and .ha_reason != null)] |
		length')" 2 "topology: each node has an HA state and reason"
	rc_assert_eq "$(jq_out '.nodes[] | select(.self) | .id')" "n$node" "topology: this node"
done

# 2. chat settings, replication, persistence
rc_log "step 2: chat show / chat set, replicated to n2, persisted"
ok 1 chat show
rc_assert_eq "$(jq_out .messages_on_join)" 20 "chat show: messages_on_join (seed)"
ok1 1 chat set messages_on_join 7
rc_assert_match "$OUT" 'messages_on_join += 7' "chat set prints the settings"
jok 1 chat set admin_users alice,bob
rc_assert_eq "$(jq_out '.value | join(",")')" "alice,bob" "chat set -j: the new value"
ok1 1 chat set admin_users ""
refused 2 'unknown chat setting "colour".*settings: enabled' 1 chat set colour blue
refused 1 'max_rooms: "lots" is not an integer' 1 chat set max_rooms lots
refused 1 'enabled: "maybe" is not a boolean' 1 chat set enabled maybe
refused 2 'usage: roomcastctl chat set KEY VALUE' 1 chat set messages_on_join
until_ctl 30 "n2 sees the chat change of n1" 2 '.messages_on_join == 7' chat show
rc_stop_node2 || rc_fail "n2 did not stop cleanly (exit $RC_NODE_EXIT)"
rc_assert_file_match "$RC_DATA_DIR2/cluster.json" '"messages_on_join": *7' \
	"n2's cluster.json holds the change"
rc_start_node2
ok 2 chat show
rc_assert_eq "$(jq_out .messages_on_join)" 7 "after a restart of n2: messages_on_join"

# 3. groups
rc_log "step 3: group show / group set"
ok 1 group show g1
rc_assert_eq "$(jq_out .ha)" true "group show g1: ha"
ok 1 group show
rc_assert_eq "$(jq_out '.groups | length')" 1 "group show: every group"
ok1 1 group set g1 ha off
until_ctl 30 "n2 sees ha off" 2 '.ha == false' group show g1
ok1 1 group set g1 assignment active-standby
until_ctl 30 "n2 sees active-standby" 2 '.assignment == "active-standby"' group show g1
jok 2 group set g1 assignment balanced
rc_assert_eq "$(jq_out .assignment)" balanced "group set -j: assignment"
jok 2 group set g1 ha on
rc_assert_eq "$(jq_out .ha)" true "group set -j: ha"
until_ctl 30 "n1 sees ha on again (made on n2)" 1 '.ha == true and .assignment == "balanced"' \
	group show g1
refused 2 'neither on nor off' 1 group set g1 ha maybe
refused 2 'not balanced, active-standby or none' 1 group set g1 assignment random
refused 2 'unknown group setting' 1 group set g1 colour red
refused 1 'group "g9" does not exist' 1 group set g9 ha on
refused 1 'group "g9" does not exist' 1 group show g9

# 4. the TC service
rc_log "step 4: service stop/start tc"
ok 1 service status tc
rc_assert_eq "$(jq_out .state)" started "service status tc"
rc_assert "a chat client joins and posts on n1 while TC runs: $(cat "$RC_WORK/chat.err" 2>/dev/null)" \
	chat_join alice
jok 2 service stop tc --node n1
rc_assert_eq "$(jq_out '.node + " " + .state')" "n1 stopped" "service stop -j"
until_ctl 30 "n1 sees its TC stopped" 1 '.state == "stopped"' service status tc
ok 2 service status tc --node n1
rc_assert_eq "$(jq_out .state)" stopped "service status tc --node n1 on n2"
ok 1 topology
rc_assert_eq "$(jq_out '.nodes[] | select(.id == "n1") | .tc')" stopped "topology: n1's TC"
if chat_join alice; then
	rc_fail "a chat client joined a room on n1 with TC stopped"
fi
rc_assert_file_match "$RC_WORK/chat.err" 'not the owner of this room: text conference service stopped on this node' \
	"the client is told why (ERROR 8)"
ok1 1 service start tc --node n1
rc_assert_match "$OUT" 'TC service started on node n1' "service start text"
rc_assert "a chat client joins and posts on n1 after TC is started again: $(cat "$RC_WORK/chat.err")" \
	chat_join alice
refused 1 'node "n9" does not exist' 1 service start tc --node n9
refused 2 'unknown service "web"' 1 service start web
refused 2 'name the service' 1 service stop
refused 2 'unknown command "service restart tc"' 1 service restart tc

# 5. databases
rc_log "step 5: db add / list / assign / remove / check"
PGA=(--host "$RC_PG_DIR" --port "$PGPORT" --user rc_app)
refused 1 'database type "oracle" is not supported: roomcast supports PostgreSQL only' \
	1 db add ora --type oracle --host db.example --dbname x --user u
refused 1 'database type "sqlserver" is not supported: roomcast supports PostgreSQL only' \
	1 db add mss --type sqlserver "${PGA[@]}" --dbname x --password-file "$PW_GOOD"
refused 1 "cannot open $RC_WORK/missing: No such file" \
	1 db add pg_x --type postgresql "${PGA[@]}" --dbname pg_g1 --password-file "$RC_WORK/missing"
chmod 0644 "$PW_BAD"
refused 1 "has mode 0644; a secret must be 0600 or 0400" \
	1 db add pg_bad --type postgresql "${PGA[@]}" --dbname pg_g1 --password-file "$PW_BAD"
chmod 0600 "$PW_BAD"
refused 2 'db add needs NAME, --host, --dbname and --user' 1 db add pg_x --host h
refused 2 'not a port' 1 db add pg_x "${PGA[@]/$PGPORT/99999}" --dbname pg_g1
for d in pg_g1 src_a src_b tgt pg_g2; do
	ok1 1 db add "$d" --type postgresql "${PGA[@]}" --dbname "$d" --password-file "$PW_GOOD"
done
jok 1 db add pg_bad --type postgres "${PGA[@]}" --dbname pg_g1 --password-file "$PW_BAD"
rc_assert_eq "$(jq_out .type)" postgresql "db add -j: the type"
refused 1 'database pg_g1 already exists' 1 db add pg_g1 --type pg "${PGA[@]}" --dbname pg_g1
ok 2 db list
rc_assert_eq "$(jq_out '.databases | length')" 6 "db list on n2: every database"
rc_assert_eq "$(jq_out '.databases[] | select(.name == "pg_g1") | .password')" \
	"from $PW_GOOD" "db list: the password's file, not the password"
refused 1 'group g1 has high availability on: both nodes of a group must be assigned the same database' \
	1 db assign pg_g1 --node n1
ok1 1 db assign pg_g1 --group g1
rc_assert_match "$OUT" 'node n2: database pg_g1' "db assign: both nodes"
refused 1 'database pg_g1 is assigned to group g1 \(node n1\): unassign it first' 1 db remove pg_g1
refused 2 'NAME and one of --group G, --node N' 1 db assign pg_g1 --group g1 --node n1
jok 1 db unassign --group g1
rc_assert_eq "$(jq_out '[.nodes[] | .database] | map(. // "none") | join(",")')" "none,none" \
	"db unassign -j: both nodes"
jok 1 db assign pg_g1 --group g1
rc_assert_eq "$(jq_out '[.nodes[] | .database] | join(",")')" "pg_g1,pg_g1" "db assign -j"
refused 1 'group g1 has high availability on' 1 db unassign --group g1 --node n1
refused 1 'node n3 is not in group g1|node "n3" does not exist' 1 db unassign --group g1 --node n3
jok 1 db remove pg_g2
rc_assert_eq "$(jq_out .removed)" pg_g2 "db remove -j"
ok1 1 db add pg_g2 --type postgresql "${PGA[@]}" --dbname pg_g2 --password-file "$PW_GOOD"
# both nodes check pg_g1: n1 now, n2 through its published (background) check
until_ctl 30 "db check passes on both nodes" 1 \
	'.ok and (.nodes | length) == 2 and ([.nodes[] | .database] | unique) == ["pg_g1"]' db check
ok 1 db check
rc_assert_match "$TEXT" 'PASS +connect' "db check text: connect passes"
rc_assert_match "$TEXT" 'node n2: database pg_g1' "db check text: n2's published check"
rc_assert_eq "$(jq_out '[.nodes[].checks[] | select(.name == "merge_privileges")] | length')" 2 \
	"db check: a merge's privileges checked on both nodes"
ok1 1 db assign pg_bad --group g1
refused 1 'FAIL +connect' 1 db check
rc_assert_match "$OUT" 'fix: check the user and password file' "db check: the fix of a wrong password"
until_ctl 30 "n2's published check fails too (wrong password)" 1 \
	'.ok == false and ([.nodes[] | select(.node == "n2") | .checks[] |
	  select(.name == "connect" and .result == "fail")] | length) == 1' db check
ok1 1 db assign pg_g1 --group g1

# 6. verify ha: what the nodes report. These two run without an ha { } section (no pair),
# so the group's HA check fails whatever the state says; every other check passes.
rc_log "step 6: verify ha"
until_ctl 30 "verify ha: only the pair fails (n1)" 1 \
	'[.checks[] | select(.ok == false) | .check] == ["high availability on group g1"]' verify ha
refused 1 'FAIL +high availability on group g1: node n1 runs without its pair' 1 verify ha
rc_assert_match "$OUT" 'PASS +database of group g1: .*dbname=pg_g1.*used by n1 and n2' \
	"verify ha: the database both nodes really use"
rc_assert_match "$OUT" 'fix: give node n1 an ha \{ \} section' "verify ha names the fix"
ok1 1 service stop tc --node n1
refused 1 'FAIL +TC service on node n1: stopped by the administrator' 1 verify ha
rc_assert_match "$OUT" 'fix: roomcastctl service start tc --node n1' "verify ha names the fix"
until_ctl 30 "n2 reads n1's report: TC stopped" 2 \
	'[.checks[] | select(.ok == false) | .check] | index("TC service on node n1") != null' \
	verify ha
run_ctl 2 -j verify ha
rc_assert_eq "$RC" 1 "verify ha -j exits 1 when a check fails"
json_ok verify ha
rc_assert_eq "$(jq_out '[.checks[] | select(.ok == false) | .fix] | .[1]')" \
	"roomcastctl service start tc --node n1" "verify ha -j: the failing check and its fix"
rc_assert_eq "$(jq_out '.reports.n1.tc')" stopped "verify ha -j: n1's own report"
ok1 1 service start tc --node n1
until_ctl 30 "verify ha: TC running again" 2 \
	'[.checks[] | select(.ok == false) | .check] == ["high availability on group g1"]' verify ha

# 7. the merge
rc_log "step 7: db merge"
refused 1 'nodes n1 and n2 of group g1 are assigned different databases|high availability on' \
	1 db assign src_a --node n1
ok1 1 group set g1 ha off
ok1 1 db assign src_a --node n1
ok1 1 db assign src_b --node n2
refused 1 'FAIL +database of group g1' 1 verify ha
refused 1 'assigned different databases' 1 group set g1 ha on
SCHEMA_VERSION=$(sed -n 's/^#define RC_SCHEMA_VERSION \([0-9]*\).*/\1/p' "$RC_ROOT/storage/schema.h")
schema_ready() { # DB: the node has brought it to this build's schema version
	[ "$(sql "$1" "SELECT max(version) FROM roomcast_schema" 2>/dev/null)" = "$SCHEMA_VERSION" ]
}
rc_wait_until 30 "n1's drainer creates the schema in src_a" schema_ready src_a
rc_wait_until 30 "n2's drainer creates the schema in src_b" schema_ready src_b
sql src_a "
INSERT INTO rooms (name, room_id, hosting_node, subject, creator, members_only, next_seq, created_at)
 VALUES ('plaza', 1, 'n1', 'Plaza A', 'ann', false, 4, '2024-02-01 00:00:00+00'),
        ('alpha', 2, 'n1', 'Alpha', 'ann', false, 3, '2024-02-02 00:00:00+00');
INSERT INTO room_members (room, user_name, role, affiliation) VALUES
 ('plaza', 'ann', 'participant', 'member'), ('plaza', 'cat', 'moderator', 'admin'),
 ('alpha', 'ann', 'moderator', 'owner');
INSERT INTO messages (room, seq, sender, ts_ms, body, cmid, epoch, node) VALUES
 ('plaza', 1, 'ann', 100, 'a-one', 1, 1, 'n1'), ('plaza', 2, 'cat', 300, 'a-two', 2, 1, 'n1'),
 ('plaza', 3, 'ann', 500, 'same', 9, 1, 'n1'),
 ('alpha', 1, 'ann', 10, 'alpha-1', 3, 1, 'n1'), ('alpha', 2, 'ann', 20, 'alpha-2', 4, 1, 'n1');
INSERT INTO drain_state (node, drained_lsn) VALUES ('legacy-1', 50), ('shared', 5);"
sql src_b "
INSERT INTO rooms (name, room_id, hosting_node, subject, creator, members_only, next_seq, created_at)
 VALUES ('plaza', 7, 'n2', 'Plaza B', 'bob', true, 4, '2024-01-31 00:00:00+00'),
        ('beta', 8, 'n2', 'Beta', 'bob', false, 2, '2024-02-03 00:00:00+00');
INSERT INTO room_members (room, user_name, role, affiliation) VALUES
 ('plaza', 'ann', 'moderator', 'owner'), ('plaza', 'bob', 'participant', 'member'),
 ('beta', 'bob', 'moderator', 'owner');
INSERT INTO messages (room, seq, sender, ts_ms, body, cmid, epoch, node) VALUES
 ('plaza', 1, 'bob', 200, 'b-one', 5, 2, 'n2'), ('plaza', 2, 'bob', 300, 'b-two', 6, 2, 'n2'),
 ('plaza', 3, 'ann', 500, 'same', 9, 2, 'n2'),
 ('beta', 1, 'bob', 30, 'beta-1', 7, 2, 'n2');
INSERT INTO drain_state (node, drained_lsn) VALUES ('legacy-2', 60), ('shared', 7);"
refused 2 'two --source databases and a --target' 1 db merge add --source src_a --target tgt
refused 1 'the target src_a is also a source' 1 db merge add --source src_a --source src_b --target src_a
refused 1 'database "nope" does not exist' 1 db merge add --source src_a --source nope --target tgt
jok 1 db merge add --source src_a --source src_b --target tgt
JOB=$(jq_out .id)
rc_assert_eq "$(jq_out .state)" created "db merge add: the new job's state"
rc_assert_eq "$(jq_out .group)" g1 "db merge add: the group (from the sources' nodes)"
ok 2 db merge list
rc_assert_eq "$(jq_out ".merge_jobs[] | select(.id == $JOB) | .state")" created "db merge list on n2"
TC_REFUSAL="merge job $JOB not valid: the TC service is started on node n1: stop it on both nodes of group g1"
refused 1 "$TC_REFUSAL" 1 db merge validate "$JOB"
refused 1 "has not passed validation" 1 db merge run "$JOB"
ok 1 db merge show "$JOB"
rc_assert_eq "$(jq_out .state)" validation-failed "db merge show: the refused validation is recorded"
rc_assert_match "$(jq_out .error)" 'TC service is started on node n1' "db merge show: why"
ok1 1 service stop tc --node n1
refused 1 "the TC service is started on node n2" 1 db merge validate "$JOB"
ok1 2 service stop tc --node n2
until_ctl 30 "n1 sees TC stopped on n2" 1 '.state == "stopped"' service status tc --node n2
ok1 1 db merge validate "$JOB"
rc_assert_match "$OUT" "merge job $JOB is valid" "db merge validate: valid"
rc_assert_match "$OUT" 'PASS target empty' "db merge validate: the target is empty"
ok 1 db merge show "$JOB"
rc_assert_eq "$(jq_out .state)" validated "db merge show after validate"
run_ctl 1 -j db merge validate "$JOB"
rc_assert_eq "$RC" 0 "db merge validate -j"
json_ok db merge validate
rc_assert_eq "$(jq_out .ok)" true "db merge validate -j: ok"
refused 1 'merge job 99 does not exist' 1 db merge validate 99
jok 1 db merge run "$JOB"
rc_assert_eq "$(jq_out .state)" running "db merge run: started"
until_ctl 120 "merge job $JOB done" 1 '.state == "done"' db merge show "$JOB"
ok 1 db merge show "$JOB"
rc_assert_match "$TEXT" "assign the target to the group \(roomcastctl db assign tgt --group g1\) and start TC \(roomcastctl service start tc --node n1; roomcastctl service start tc --node n2\)" \
	"db merge show: the reminder"
rc_assert_match "$TEXT" 'messages +5 +4 +8' "db merge show: per-table counts (messages)"
rc_assert_eq "$(jq_out '.tables.messages.target')" 8 "merged messages (5 + 4, one folded)"
rc_assert_eq "$(jq_out '.tables.rooms | [.source_a, .source_b, .target] | join(" ")')" "2 2 3" \
	"rooms: 2 + 2, one in both"
rc_assert_eq "$(jq_out '.renumbered')" 6 "renumbered: the 6 messages of plaza"
rc_assert_eq "$(jq_out '.conflicts')" 3 "conflicts: plaza in both, ann in both, one duplicate"
until_ctl 30 "n2 sees the merge done" 2 '.state == "done"' db merge show "$JOB"

# the target, row by row
want_msgs="alpha|1|ann|10|alpha-1|3|n1
alpha|2|ann|20|alpha-2|4|n1
beta|1|bob|30|beta-1|7|n2
plaza|1|ann|100|a-one|1|n1
plaza|2|bob|200|b-one|5|n2
plaza|3|cat|300|a-two|2|n1
plaza|4|bob|300|b-two|6|n2
plaza|5|ann|500|same|9|n1"
rc_assert_eq "$(sql tgt "SELECT room, seq, sender, ts_ms, body, cmid, node FROM messages ORDER BY room, seq")" \
	"$want_msgs" "target messages, renumbered by (ts_ms, source A first, seq), the duplicate once"
want_rooms="alpha|2|n1|Alpha|ann|f|3|2024-02-02 00:00:00+00
beta|8|n2|Beta|bob|f|2|2024-02-03 00:00:00+00
plaza|7|n2|Plaza B|bob|t|6|2024-01-31 00:00:00+00"
rc_assert_eq "$(sql tgt "SET TimeZone = 'UTC'; SELECT name, room_id, hosting_node, subject, creator, members_only, next_seq, created_at FROM rooms ORDER BY name")" \
	"$want_rooms" "target rooms: the earlier created row of plaza (B), members_only of either"
want_members="alpha|ann|moderator|owner
beta|bob|moderator|owner
plaza|ann|moderator|owner
plaza|bob|participant|member
plaza|cat|moderator|admin"
rc_assert_eq "$(sql tgt "SELECT room, user_name, role, affiliation FROM room_members ORDER BY room, user_name")" \
	"$want_members" "target members: the union, the higher role and affiliation"
want_map="plaza|A|1|1
plaza|A|2|3
plaza|A|3|5
plaza|B|1|2
plaza|B|2|4
plaza|B|3|5"
rc_assert_eq "$(sql tgt "SELECT room, source, old_seq, new_seq FROM merge_seq_map ORDER BY room, source, old_seq")" \
	"$want_map" "target merge_seq_map"
want_state=$({
	sql src_a "SELECT node, drained_lsn FROM drain_state"
	sql src_b "SELECT node, drained_lsn FROM drain_state"
} | LC_ALL=C sort -t'|' -k1,1 -k2,2nr | awk -F'|' '!seen[$1]++')
rc_assert_eq "$(sql tgt "SELECT node, drained_lsn FROM drain_state ORDER BY node COLLATE \"C\"")" "$want_state" \
	"target drain_state: the union, the higher LSN per node"
rc_assert_eq "$(sql tgt "SELECT count(*) FROM merge_jobs WHERE state = 'done'")" 1 "merge_jobs"
dump_target() {
	sql tgt "SELECT md5(string_agg(t, '/' ORDER BY t)) FROM (
	  SELECT 'm' || m::text AS t FROM messages m UNION ALL SELECT 'r' || r::text FROM rooms r
	  UNION ALL SELECT 'u' || u::text FROM room_members u
	  UNION ALL SELECT 's' || s::text FROM merge_seq_map s
	  UNION ALL SELECT 'd' || d::text FROM drain_state d
	  UNION ALL SELECT 'j' || j::text FROM merge_jobs j) x"
}
before=$(dump_target)
ok 1 db merge run "$JOB"
rc_assert_match "$TEXT" 'already done: nothing changed' "db merge run again"
rc_assert_eq "$(jq_out .already_done)" true "db merge run -j again: already done"
ok 2 db merge run "$JOB"
ok 1 db merge validate "$JOB"
rc_assert_match "$TEXT" 'is done: nothing to validate' "db merge validate of a done job"
rc_assert_eq "$(dump_target)" "$before" "running the merge again changes nothing in the target"
# the reminder, followed
ok1 1 db assign tgt --group g1
ok1 1 group set g1 ha on
ok1 1 service start tc --node n1
ok1 1 service start tc --node n2
for node in 1 2; do
	until_ctl 30 "verify ha on n$node: both nodes use tgt, only the pair fails" "$node" \
		'([.checks[] | select(.ok == false) | .check] == ["high availability on group g1"])
		 and ([.checks[] | select(.check == "database of group g1") | .detail] | .[0] |
		      test("dbname=tgt"))' verify ha
done
jok 2 db merge remove "$JOB"
rc_assert_eq "$(jq_out .removed)" "$JOB" "db merge remove -j"
refused 1 "merge job $JOB does not exist" 1 db merge show "$JOB"

# 8. bad input and help
rc_log "step 8: bad input, help"
refused 2 'unknown command "frob"' 1 frob
refused 2 'unknown command "db frob".*usage: roomcastctl db add' 1 db frob
refused 2 'unknown command "db merge frob".*usage: roomcastctl db merge add' 1 db merge frob
refused 2 'usage: roomcastctl db merge show JOB' 1 db merge show
refused 2 'JOB "x1" is not a job id' 1 db merge show x1
refused 2 'usage: roomcastctl topology' 1 topology now
refused 2 'usage: roomcastctl verify ha' 1 verify ha now
refused 2 'usage: roomcastctl db check' 1 db check everything
refused 2 'unknown option "--grop"' 1 db assign pg_g1 --grop g1
refused 2 'option --group needs a value' 1 db unassign --group
refused 2 'usage: roomcastctl group show' 1 group show g1 g2
for h in "help" "db help" "db merge help" "help db merge" "service help" "group help" \
	"db merge validate --help" "verify ha help"; do
	# shellcheck disable=SC2086 # split the words on purpose
	ok 1 $h
	rc_assert_match "$TEXT" '^Commands:' "roomcastctl $h"
done
ok 1 help
rc_assert_match "$TEXT" 'db merge validate JOB' "help lists db merge validate"
rc_assert_match "$TEXT" 'verify ha' "help lists verify ha"
ok 1 db merge help
rc_assert_match "$TEXT" 'db merge run JOB' "db merge help"
rc_assert_eq "$(jq_out '[.commands[].command] | all(startswith("db merge"))')" true "db merge help -j"

# 9. the password: nowhere
rc_log "step 9: no password in outputs, logs, cluster.json"
for f in "$CTL_LOG" "$RC_NODE_LOG" "$RC_NODE_LOG2" "$RC_DATA_DIR/cluster.json" \
	"$RC_DATA_DIR2/cluster.json"; do
	if grep -qF -- "$PW" "$f" || grep -qF -- "$BAD_PW" "$f"; then
		rc_fail "a password appears in $f"
	fi
done

# 10. two groups: they may share a database
rc_log "step 10: two groups"
rc_stop_node || rc_fail "n1 did not stop cleanly (exit $RC_NODE_EXIT)"
rc_stop_node2 || rc_fail "n2 did not stop cleanly (exit $RC_NODE_EXIT)"
write_seed 1
rm -f "$RC_DATA_DIR/cluster.json" "$RC_DATA_DIR2/cluster.json"
rc_start_node
rc_start_node2
ok 1 topology
rc_assert_eq "$(jq_out '[.nodes[].id] | join(",")')" "n1,n2,n3" "topology with g2"
rc_assert_eq "$(jq_out '.nodes[] | select(.id == "n3") | .ha_reason')" \
	"High Availability Not Enabled" "topology: n3's HA reason"
ok1 1 db add pg_g1 --type postgresql "${PGA[@]}" --dbname pg_g1 --password-file "$PW_GOOD"
ok1 1 db add pg_g2 --type postgresql "${PGA[@]}" --dbname pg_g2 --password-file "$PW_GOOD"
ok1 1 db assign pg_g1 --group g1
# two groups may share a database (rooms differ by their service): g2 on g1's, then its own
ok1 1 db assign pg_g1 --group g2
ok 1 group show g2
rc_assert_eq "$(jq_out .database)" pg_g1 "group g2 shares g1's database"
ok1 1 db assign pg_g2 --group g2
refused 1 'node n3: FAIL: unreachable at 127.0.0.1:9466.*start roomcastd there or check node.mgmt_address' \
	1 db check
refused 1 'FAIL +high availability on group g2' 1 verify ha
rc_assert_match "$OUT" 'add a second node to group g2' "verify ha: the fix for a one-node group"

rc_stop_node || rc_fail "n1 did not stop cleanly (exit $RC_NODE_EXIT)"
rc_stop_node2 || rc_fail "n2 did not stop cleanly (exit $RC_NODE_EXIT)"
if grep -Eq 'AddressSanitizer|runtime error:|Segmentation fault|double free' \
	"$RC_NODE_LOG" "$RC_NODE_LOG2"; then
	rc_fail "a roomcastd log reports a memory error"
fi
