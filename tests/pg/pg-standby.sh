#!/usr/bin/env bash
# A streaming standby of a tests/pg/pg-fixture.sh server, for the database failover tests.
#
#   pg-standby.sh start PRIMARY_DIR STANDBY_DIR [sync|async]
#        pg_basebackup -R of the running fixture server in PRIMARY_DIR into STANDBY_DIR/data
#        (first time only), started by pg-fixture.sh on its own unix socket (STANDBY_DIR) and
#        TCP port, application name "rc_standby". sync (the default): the primary gets
#        synchronous_standby_names = 'rc_standby' and synchronous_commit = on (ALTER SYSTEM,
#        reload); async: synchronous_standby_names = ''. Waits until the primary shows the
#        standby streaming (and sync_state = sync). Prints the multi-host conninfo
#        (conninfo below).
#   pg-standby.sh promote STANDBY_DIR
#        pg_ctl promote -w (what an operator's failover tool does after stopping the
#        primary); waits until the server accepts writes.
#   pg-standby.sh conninfo PRIMARY_DIR STANDBY_DIR
#        "host=PRIMARY_DIR,STANDBY_DIR port=P1,P2 user=postgres dbname=roomcast
#        target_session_attrs=read-write"
#
# Stop or remove either server with pg-fixture.sh stop|clean DIR. Same environment and
# ownership rules as pg-fixture.sh (as root the servers run as the system user postgres).
# Exit status: 0 on success; 1 with a message on stderr otherwise.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIXTURE="$HERE/pg-fixture.sh"

die() {
	echo "pg-standby: $*" >&2
	exit 1
}

if [ -n "${PG_BINDIR:-}" ]; then
	BIN=$PG_BINDIR
elif [ -x /usr/lib/postgresql/15/bin/initdb ]; then
	BIN=/usr/lib/postgresql/15/bin
elif command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
	BIN=$(pg_config --bindir)
else
	die "no PostgreSQL server binaries (set PG_BINDIR)"
fi

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

abs() { (cd "$1" && pwd); }

psql_on() { # DIR SQL
	"$BIN/psql" -h "$1" -p "$(cat "$1/port")" -U postgres -d postgres -XAtqc "$2"
}

conninfo() { # PRIMARY_DIR STANDBY_DIR
	echo "host=$1,$2 port=$(cat "$1/port"),$(cat "$2/port") user=postgres dbname=roomcast" \
		"target_session_attrs=read-write"
}

do_start() { # PRIMARY_DIR STANDBY_DIR MODE
	local p s mode=$3 want n
	[ -s "$1/port" ] || die "$1: the primary is not started (pg-fixture.sh start $1)"
	p=$(abs "$1")
	mkdir -p "$2"
	s=$(abs "$2")
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$s"
	fi
	if [ ! -f "$s/data/PG_VERSION" ]; then
		as_owner "$BIN/pg_basebackup" -h "$p" -p "$(cat "$p/port")" -U postgres \
			-D "$s/data" -R -X stream -c fast >"$s/basebackup.log" 2>&1 || {
			cat "$s/basebackup.log" >&2
			die "pg_basebackup from $p failed"
		}
		# the walreceiver's application name, which synchronous_standby_names names
		echo "cluster_name = 'rc_standby'" | as_owner tee -a "$s/data/postgresql.auto.conf" \
			>/dev/null
	fi
	bash "$FIXTURE" start "$s" >/dev/null
	case "$mode" in
	sync) want="'rc_standby'" ;;
	async) want="''" ;;
	*) die "mode $mode: sync or async" ;;
	esac
	psql_on "$p" "ALTER SYSTEM SET synchronous_standby_names = $want" >/dev/null
	psql_on "$p" "ALTER SYSTEM SET synchronous_commit = on" >/dev/null
	psql_on "$p" "SELECT pg_reload_conf()" >/dev/null
	for n in $(seq 1 300); do
		if [ "$mode" = sync ]; then
			[ "$(psql_on "$p" "SELECT count(*) FROM pg_stat_replication WHERE
				application_name = 'rc_standby' AND state = 'streaming'
				AND sync_state = 'sync'")" = 1 ] && break
		else
			[ "$(psql_on "$p" "SELECT count(*) FROM pg_stat_replication WHERE
				application_name = 'rc_standby' AND state = 'streaming'")" = 1 ] && break
		fi
		sleep 0.1
		[ "$n" -lt 300 ] || die "the standby in $s is not streaming ($mode) after 30 s"
	done
	conninfo "$p" "$s"
}

do_promote() { # STANDBY_DIR
	local s n
	s=$(abs "$1")
	as_owner "$BIN/pg_ctl" -D "$s/data" -w -t 60 promote >/dev/null ||
		die "pg_ctl promote failed in $s"
	for n in $(seq 1 300); do
		[ "$(psql_on "$s" "SELECT pg_is_in_recovery()")" = f ] && return 0
		sleep 0.1
	done
	die "$s still in recovery after the promotion"
}

case "${1:-}" in
start)
	[ $# -eq 3 ] || [ $# -eq 4 ] || die "usage: $0 start PRIMARY_DIR STANDBY_DIR [sync|async]"
	do_start "$2" "$3" "${4:-sync}"
	;;
promote)
	[ $# -eq 2 ] || die "usage: $0 promote STANDBY_DIR"
	do_promote "$2"
	;;
conninfo)
	[ $# -eq 3 ] || die "usage: $0 conninfo PRIMARY_DIR STANDBY_DIR"
	conninfo "$(abs "$2")" "$(abs "$3")"
	;;
*) die "usage: $0 start|promote|conninfo ..." ;;
esac
