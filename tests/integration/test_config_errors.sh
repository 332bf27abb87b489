#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Integration test: roomcastd refuses a bad configuration file, or bad arguments, with a clear
# message ("FILE:LINE: KEY: problem" for the file) and a non-zero exit, without starting: it
# must exit by itself within seconds and must not create its admin socket.
# As a control, the unmodified config (the one test_relay uses) does start and stops cleanly.
# rc-timeout: 240
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rc_init config_errors
rc_require_bins "$RC_ROOMCASTD" "$RC_ROOMCASTCTL"
rc_setup_netns
GOOD="$RC_WORK/good.conf"
rc_write_node_conf "$GOOD"
cases=0

ere_quote() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'; }

# run_refused DESC ARGS...: roomcastd ARGS must exit non-zero within 20 s without creating the
# admin socket; its output goes to $out.
run_refused() {
	local desc=$1 rc=0 log
	shift
	cases=$((cases + 1))
	log="$RC_WORK/case$cases.log"
	rm -f "$RC_ADMIN_SOCK"
	ip netns exec "$RC_NS_NODE" timeout -k 5 20 "$RC_ROOMCASTD" "$@" >"$log" 2>&1 || rc=$?
	out=$(cat "$log")
	rc_log "case $cases: $desc: exit $rc: $(head -n 3 "$log" | tr '\n' ' ' | cut -c1-200)"
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		rc_fail "$desc: roomcastd $* did not exit within 20 s (it started?)"
	fi
	[ "$rc" -ne 0 ] || rc_fail "$desc: roomcastd $* exited 0"
	[ ! -e "$RC_ADMIN_SOCK" ] || rc_fail "$desc: roomcastd $* created its admin socket"
	[ -n "$out" ] || rc_fail "$desc: roomcastd $* exited $rc without a word"
}

# bad_conf NAME DESC KEY_ERE LINE_ERE SED_SCRIPT: the good config edited by SED_SCRIPT must be
# refused with "FILE:LINE: ...KEY". LINE_ERE: the expected line: a number, or "find:REGEX" for
# the line of the edited file matching REGEX, or "any".
bad_conf() {
	local name=$1 desc=$2 key=$3 line=$4 script=$5 f
	f="$RC_WORK/bad-$name.conf"
	sed -e "$script" "$GOOD" >"$f"
	cmp -s "$f" "$GOOD" && rc_fail "test bug: '$script' changed nothing in $GOOD"
	case "$line" in
	find:*)
		line=$(grep -nE -- "${line#find:}" "$f" | head -n 1 | cut -d: -f1)
		[ -n "$line" ] || rc_fail "test bug: no line matches in $f"
		;;
	any) line='[0-9]+' ;;
	esac
	run_refused "$desc" -c "$f"
	rc_assert_match "$out" "$(ere_quote "$f"):$line: [^ ]*$key" \
		"$desc: message names the file, line $line and key $key"
}

# Control: the good file starts (else every refusal below would prove nothing).
rc_log "control: the unmodified config starts"
rc_start_node "$GOOD"
rc_stop_node || rc_fail "roomcastd did not exit cleanly on SIGTERM (exit $RC_NODE_EXIT)"

# Unknown keys, at each level.
bad_conf unknown-node "unknown key in node { }" "bogus_key" "find:bogus_key" \
	'/^node = {/a\  bogus_key = 1;'
bad_conf unknown-workers "unknown key in workers { }" "spin_hard" "find:spin_hard" \
	's/^workers = { lcores = \[1\];/workers = { lcores = [1]; spin_hard = true;/'
# shellcheck disable=SC2016 # a sed script
bad_conf unknown-group "unknown top-level group" "bogus_group" "find:bogus_group" \
	'$a\bogus_group = { a = 1; };'
bad_conf unknown-port-key "unknown key in a port" "rx_ring" "find:rx_ring" \
	's/rx_queues = 1;/rx_queues = 1; rx_ring = 4;/'

# Bad addresses.
bad_conf bad-ip-octet "service_ip out of range" "service_ip" "find:service_ip" \
	's/service_ip = "[^"]*"/service_ip = "198.18.0.300"/'
bad_conf bad-ip-word "service_ip not an address" "service_ip" "find:service_ip" \
	's/service_ip = "[^"]*"/service_ip = "chat.example"/'

# Bad values and types.
bad_conf port-range "udp_port out of range" "udp_port" "find:udp_port" \
	's/udp_port = [0-9]*;/udp_port = 70000;/'
bad_conf port-type "udp_port is a string" "udp_port" "find:udp_port" \
	's/udp_port = [0-9]*;/udp_port = "6420";/'
bad_conf no-lcores "an empty worker lcore list" "lcores" "find:lcores" \
	's/lcores = \[1\];/lcores = [];/'

# The secret.
bad_conf secret-missing "secret file does not exist" "secret_file" "find:secret_file" \
	"s|secret_file = \"[^\"]*\"|secret_file = \"$RC_WORK/no-such-secret\"|"
printf 'short' >"$RC_WORK/short-secret"
chmod 0600 "$RC_WORK/short-secret"
bad_conf secret-short "secret shorter than 32 bytes" "secret_file" "find:secret_file" \
	"s|secret_file = \"[^\"]*\"|secret_file = \"$RC_WORK/short-secret\"|"
f="$RC_WORK/bad-secret-unset.conf"
sed -e 's/secret_file = "[^"]*";//' "$GOOD" >"$f"
run_refused "no auth.secret_file at all" -c "$f"
rc_assert_match "$out" "$(ere_quote "$f"):[0-9]+: .*secret_file" \
	"no auth.secret_file: message names the file, a line and secret_file"

# Secrets and passwords are read only inside node.secrets_dir (by default the file's own
# directory, RC_WORK): a group-readable secret, a root-only file elsewhere, a symbolic link to
# it, and the same for db.password_file, are each refused (the review's rows S4 and S18).
OUTSIDE=$(mktemp -d /tmp/roomcast-outside.XXXXXX)
rc_state_add workdir "$OUTSIDE"
(umask 077 && head -c 32 /dev/urandom >"$OUTSIDE/root-only" &&
	head -c 32 /dev/urandom >"$RC_WORK/group-secret")
chmod 0640 "$RC_WORK/group-secret"
ln -s "$OUTSIDE/root-only" "$RC_WORK/linked-secret"
bad_conf secret-0640 "a group-readable (0640) secret" "secret_file" "find:secret_file" \
	"s|secret_file = \"[^\"]*\"|secret_file = \"$RC_WORK/group-secret\"|"
rc_assert_match "$out" "has mode 0640; a secret must be 0600 or 0400" "0640: says the mode"
bad_conf secret-outside "a root-only secret outside the secrets directory" "secret_file" \
	"find:secret_file" "s|secret_file = \"[^\"]*\"|secret_file = \"$OUTSIDE/root-only\"|"
rc_assert_match "$out" "is outside the secrets directory" "outside: says so"
bad_conf secret-link "a symbolic link to it" "secret_file" "find:secret_file" \
	"s|secret_file = \"[^\"]*\"|secret_file = \"linked-secret\"|"
rc_assert_match "$out" "is a symbolic link" "link: says so"
for pw in group-secret linked-secret "$OUTSIDE/root-only"; do
	bad_conf "password-${pw##*/}" "db.password_file $pw" "password_file" \
		"find:password_file" "\$a\\db = { password_file = \"$pw\"; };"
done
bad_conf secrets-dir "a secrets directory others can write to" "secrets_dir" \
	"find:secrets_dir" "/^node = {/a\\  secrets_dir = \"/tmp\";"
# The admin socket only in a directory nobody else can write to (S19).
mkdir -m 1777 "$RC_WORK/shared"
f="$RC_WORK/bad-admin-dir.conf"
sed -e "s|admin_socket = \"[^\"]*\"|admin_socket = \"$RC_WORK/shared/admin.sock\"|" \
	"$GOOD" >"$f"
run_refused "the admin socket in a world-writable directory" -c "$f"
rc_assert_match "$out" "writable by nobody else" "admin socket directory: says why"
[ ! -e "$RC_WORK/shared/admin.sock" ] || rc_fail "admin socket created in $RC_WORK/shared"
# db.sslmode that checks the server's certificate needs its CA.
bad_conf sslmode-no-ca "db.sslmode verify-full without db.sslrootcert" "sslmode" \
	"find:sslmode" "\$a\\db = { sslmode = \"verify-full\"; };"
rc_assert_match "$out" "name the CA that signed it in db.sslrootcert" "verify-full: says why"

# Syntax errors: libconfig's own line number.
bad_conf syntax "a syntax error" "" "find:udp_port" 's/udp_port = \([0-9]*\);/udp_port = = \1;/'

# Not a config file at all, and bad arguments.
run_refused "config file does not exist" -c "$RC_WORK/no-such.conf"
rc_assert_match "$out" "$(ere_quote "$RC_WORK/no-such.conf")" "missing file: message names it"
run_refused "an unknown option" --no-such-option
run_refused "-c without a file" -c

rc_log "$cases refusals checked"
