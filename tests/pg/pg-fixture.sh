#!/usr/bin/env bash
# A throw-away PostgreSQL server for roomcast's tests and benchmarks.
#
#   pg-fixture.sh start DIR    initdb (first time only, -A trust, superuser "postgres") in
#                              DIR/data, start the server on a unix socket in DIR and on a free
#                              TCP port of 127.0.0.1 (kept in DIR/port, reused by a restart),
#                              create database "roomcast"; print the conninfo (also written to
#                              DIR/conninfo) on stdout
#   pg-fixture.sh stop DIR     stop the server (fast shutdown), keep DIR: `start DIR` again
#                              brings the same cluster back on the same port
#   pg-fixture.sh clean DIR    stop, then remove DIR
#   pg-fixture.sh conninfo DIR print the conninfo of a started DIR
#
# DIR is created if missing (a fresh `mktemp -d` is the usual choice; keep it short: the unix
# socket path must fit in 107 bytes). As root the server runs as the system user "postgres"
# (DIR is chown'ed to it); otherwise as the calling user. The server's log is DIR/server.log.
# Environment: PG_BINDIR (default: pg_config --bindir, then /usr/lib/postgresql/15/bin),
# PG_FIXTURE_OPTS (extra postgres -c options, e.g. "-c fsync=off").
# Exit status: 0 on success; 1 with a message on stderr otherwise.
set -euo pipefail

die() {
	echo "pg-fixture: $*" >&2
	exit 1
}

pg_bindir() {
	if [ -n "${PG_BINDIR:-}" ]; then
		echo "$PG_BINDIR"
	elif [ -x /usr/lib/postgresql/15/bin/initdb ]; then
		echo /usr/lib/postgresql/15/bin
	elif command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
		pg_config --bindir
	else
		die "no PostgreSQL server binaries (set PG_BINDIR)"
	fi
}

BIN=$(pg_bindir)

# Runs a PostgreSQL binary as the server's owner.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then
			echo "$p"
			return 0
		fi
	done
	die "no free TCP port found"
}

conninfo() { # DIR
	echo "host=$1 port=$(cat "$1/port") user=postgres dbname=roomcast"
}

do_init() { # DIR
	local dir=$1
	mkdir -p "$dir"
	if [ "$(id -u)" -eq 0 ]; then
		id postgres >/dev/null 2>&1 || die "running as root needs the system user postgres"
		chown postgres: "$dir"
	fi
	[ -f "$dir/data/PG_VERSION" ] && return 0
	as_owner "$BIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 \
		>"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2
		die "initdb failed in $dir/data"
	}
}

server_up() { # DIR
	as_owner "$BIN/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

do_start() { # DIR
	local dir port tries
	dir=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
	do_init "$dir"
	if server_up "$dir"; then
		conninfo "$dir"
		return 0
	fi
	for tries in 1 2 3 4 5; do
		[ -s "$dir/port" ] || free_port >"$dir/port"
		port=$(cat "$dir/port")
		# shellcheck disable=SC2086 # PG_FIXTURE_OPTS is a list of options
		if as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
			-o "-k $dir -p $port -c listen_addresses=127.0.0.1 ${PG_FIXTURE_OPTS:-}" \
			start >/dev/null 2>&1; then
			break
		fi
		# the port may have been taken since: pick another (first start only)
		grep -q "could not bind" "$dir/server.log" 2>/dev/null || tries=5
		rm -f "$dir/port"
		[ "$tries" -lt 5 ] || {
			tail -5 "$dir/server.log" >&2 2>/dev/null || true
			die "pg_ctl start failed in $dir"
		}
	done
	if ! "$BIN/psql" -h "$dir" -p "$port" -U postgres -d postgres -Atqc \
		"SELECT 1 FROM pg_database WHERE datname = 'roomcast'" | grep -q 1; then
		"$BIN/createdb" -h "$dir" -p "$port" -U postgres roomcast ||
			die "createdb roomcast failed"
	fi
	conninfo "$dir" | tee "$dir/conninfo"
}

do_stop() { # DIR
	[ -d "$1/data" ] || return 0
	if server_up "$1"; then
		as_owner "$BIN/pg_ctl" -D "$1/data" -m fast -w -t 30 stop >/dev/null ||
			die "pg_ctl stop failed in $1"
	fi
}

[ $# -eq 2 ] || die "usage: $0 start|stop|clean|conninfo DIR"
case "$1" in
start) do_start "$2" ;;
stop) do_stop "$2" ;;
clean)
	do_stop "$2"
	rm -rf "$2"
	;;
conninfo)
	[ -s "$2/port" ] || die "$2: not started"
	conninfo "$(cd "$2" && pwd)"
	;;
*) die "usage: $0 start|stop|clean|conninfo DIR" ;;
esac
