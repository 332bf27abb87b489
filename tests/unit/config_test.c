/* SPDX-License-Identifier: MIT */
/*
 * control/config: defaults, a complete file, and every class of error with its exact
 * "FILE:LINE: KEY: problem" text. Files are written to a scratch directory; a test changes
 * one line of a small valid base file, so the expected line numbers are the base's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char dir[64];
static char conf_path[128];
static char secret_path[128];
static char relay_path[128];   /* a relay secret (other bytes than the auth secret) */
static char ic_path[128];      /* an intercluster secret */
static char err[1024];
static struct rc_config cfg;
static char text_want[1024];

/* The base file: tests replace one of its lines (1-based). */
static const char *const base[] = {
	"node = {",                                               /* 1 */
	"  id = \"n1\";",                                         /* 2 */
	"  service_ip = \"198.18.0.1\";",                         /* 3 */
	"  udp_port = 6420;",                                     /* 4 */
	"};",                                                     /* 5 */
	"eal = { args = [\"--no-huge\", \"-l\", \"0-2\"]; };",    /* 6 */
	"ports = ( { name = \"chat0\"; device = \"net_null0\"; }", /* 7 */
	"        , { name = \"chat1\"; device = \"net_null1\"; } );", /* 8 */
	"workers = { lcores = [1]; };",                           /* 9 */
	"chat = { max_fetch = 200; };",                           /* 10 */
	"auth = { secret_file = \"secret\"; };",                  /* 11 */
};
#define BASE_LINES (sizeof(base) / sizeof(base[0]))

static void
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* A secret of len bytes at path; seed 1 is the auth secret's content. */
static void
write_secret_at(const char *path, size_t len, mode_t mode, unsigned seed)
{
	uint8_t buf[512];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + seed);
	write_file(path, buf, len, mode);
}

static void
write_secret(size_t len, mode_t mode)
{
	write_secret_at(secret_path, len, mode, 1);
}

/* Write the base with line l1 replaced by t1 and l2 by t2 (0: none) and load it. */
static int
load_with2(unsigned l1, const char *t1, unsigned l2, const char *t2)
{
	char buf[4096];
	size_t len = 0;

	for (unsigned i = 0; i < BASE_LINES; i++)
		len += snprintf(buf + len, sizeof(buf) - len, "%s\n",
				i + 1 == l1 ? t1 : i + 1 == l2 ? t2 : base[i]);
	write_file(conf_path, buf, len, 0644);
	memset(&cfg, 0, sizeof(cfg));
	err[0] = '\0';
	return rc_config_load(conf_path, &cfg, err, sizeof(err));
}

static int
load_with(unsigned line, const char *text)
{
	return load_with2(line, text, 0, NULL);
}

/* Expect load_with(line, text) to fail with "FILE:LINE: KEY: problem" (fmt after FILE). */
static void __attribute__((format(printf, 3, 4)))
expect_error(unsigned line, const char *text, const char *fmt, ...)
{
	char want[1024], tail[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	snprintf(want, sizeof(want), "%s%s", conf_path, tail);
	assert_int_equal(load_with(line, text), -EINVAL);
	assert_string_equal(err, want);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/rc-config-test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(conf_path, sizeof(conf_path), "%s/node.conf", dir);
	snprintf(secret_path, sizeof(secret_path), "%s/secret", dir);
	snprintf(relay_path, sizeof(relay_path), "%s/relay", dir);
	snprintf(ic_path, sizeof(ic_path), "%s/relay-c2", dir);
	return 0;
}

static int
setup_each(void **state)
{
	(void)state;
	write_secret(32, 0600);
	write_secret_at(relay_path, 32, 0600, 2);
	write_secret_at(ic_path, 48, 0600, 3);
	return 0;
}

/* An @include of a directory (the include directory itself by an empty name or a name cut
 * by a NUL, a sub-directory, "/"), here or in an included file, is refused with its file and
 * line: libconfig would exit() the process on it. A regular file is included, a missing one
 * is libconfig's own error. */
static void
test_include_not_a_file(void **state)
{
	char sub[160], inc[160], want[512];
	static const char nul_name[] = "@include \"\0x\"";

	(void)state;
	snprintf(sub, sizeof(sub), "%s/conf.d", dir);
	snprintf(inc, sizeof(inc), "%s/inc.conf", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	expect_error(10, "@include \"\"", ":10: @include \"\": %s/ is not a regular file", dir);
	expect_error(10, "  @include \"conf.d\"", ":10: @include \"conf.d\": %s is not a regular file",
		     sub);
	expect_error(10, "@include \"/\"", ":10: @include \"/\": / is not a regular file");
	write_file(conf_path, nul_name, sizeof(nul_name) - 1, 0644);
	assert_int_equal(rc_config_load(conf_path, &cfg, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:1: @include \"\": %s/ is not a regular file", conf_path,
		 dir);
	assert_string_equal(err, want);
	write_file(inc, "@include \"conf.d\"\n", 18, 0644);
	snprintf(want, sizeof(want), "%s:1: @include \"conf.d\": %s is not a regular file", inc, sub);
	assert_int_equal(load_with(10, "@include \"inc.conf\""), -EINVAL);
	assert_string_equal(err, want);
	write_file(inc, "chat = { max_fetch = 77; };\n", 28, 0644);
	assert_int_equal(load_with(10, "@include \"inc.conf\""), 0);
	assert_int_equal(cfg.max_fetch, 77);
	assert_int_equal(load_with(10, "@include \"missing.conf\""), -EINVAL);
	unlink(inc);
	rmdir(sub);
}

static int
teardown(void **state)
{
	(void)state;
	unlink(conf_path);
	unlink(secret_path);
	unlink(relay_path);
	unlink(ic_path);
	for (unsigned i = 0; i < 3; i++) {
		static const char *const names[] = { "tokens-1.key", "ha-1.key", "cluster-1.key" };
		char path[192];

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	return 0;
}

static void
test_defaults(void **state)
{
	(void)state;
	rc_config_defaults(&cfg);
	assert_int_equal(cfg.udp_port, 6420);
	assert_int_equal(cfg.n_workers, 1);
	assert_int_equal(cfg.worker_lcores[0], 1);
	assert_int_equal(cfg.burst, 32);
	assert_true(cfg.idle_backoff);
	assert_int_equal(cfg.idle_polls, 100);
	assert_int_equal(cfg.idle_sleep_us, 100);
	assert_int_equal(cfg.idle_sleep_max_us, 3000);
	assert_int_equal(cfg.idle_backoff_after_ms, 250);
	assert_int_equal(cfg.mbufs, 16383);
	assert_int_equal(cfg.history_on_join, 20);
	assert_int_equal(cfg.max_fetch, 200);
	assert_int_equal(cfg.session_idle_s, 120);
	assert_int_equal(cfg.max_sessions, 65536);
	assert_int_equal(cfg.max_sessions_per_user, 8);
	assert_int_equal(cfg.max_sessions_per_address, 64);
	assert_int_equal(cfg.max_rooms_per_user, 50);
	assert_int_equal(cfg.room_create_per_min, 10);
	assert_int_equal(cfg.max_rooms, 10000);
	assert_int_equal(cfg.max_members, 1000);
	assert_int_equal(cfg.post_rate, 50);
	assert_int_equal(cfg.post_burst, 100);
	assert_int_equal(cfg.dedup_window, 4096);
	assert_int_equal(cfg.token_ttl_s, 3600);
	assert_int_equal(cfg.token_ttl_max_s, 86400);
	assert_true(cfg.wal_map_size == 1024ULL << 20);
	assert_int_equal(cfg.wal_high_water_pct, 90);
	assert_int_equal(cfg.wal_batch_max, 512);
	assert_false(cfg.wal_nosync);
	assert_int_equal(cfg.ports[0].rx_queues, 1);
	assert_int_equal(cfg.ports[0].rx_desc, 1024);
	assert_int_equal(cfg.ports[0].tx_desc, 1024);
	assert_int_equal(cfg.ports[0].mtu, 1500);
}

/* The minimal base: derived defaults. */
static void
test_base_derived(void **state)
{
	(void)state;
	assert_int_equal(load_with(0, NULL), 0);
	assert_string_equal(err, "");
	assert_string_equal(cfg.path, conf_path);
	assert_string_equal(cfg.node_id, "n1");
	assert_string_equal(cfg.admin_socket, "/run/roomcast/n1.sock");
	assert_string_equal(cfg.data_dir, "/var/lib/roomcast/n1");
	assert_string_equal(cfg.secret_file, secret_path); /* relative to the file */
	assert_int_equal(cfg.secret_len, 32);
	assert_int_equal(cfg.secret[31], (uint8_t)(31 * 7 + 1));
	assert_int_equal(cfg.n_ports, 2);
	assert_int_equal(cfg.ports[1].tx_queues, 1); /* one per worker */
	assert_string_equal(cfg.ports[1].device, "net_null1");
	assert_string_equal(cfg.ports[0].args, "");
	assert_int_equal(cfg.eal_argc, 3);
	assert_string_equal(cfg.eal_argv[2], "0-2");
}

static void
test_full_file(void **state)
{
	char text[4096];
	int n;

	(void)state;
	n = snprintf(text, sizeof(text),
		     "# every key\n"
		     "node = { id = \"node-a_1.x\"; service_ip = \"198.18.0.7\"; udp_port = 7000;\n"
		     "  data_dir = \"/var/tmp/rc\"; admin_socket = \"/tmp/rc-a.sock\";\n"
		     "  admin_group = \"root\"; };\n"
		     "eal = { args = [\"--no-huge\", \"--no-pci\", \"-m\", \"256\",\n"
		     "  \"--file-prefix=rc-a\", \"-l\", \"0-3\", \"--main-lcore\", \"3\"]; };\n"
		     "ports = ( { name = \"a\"; device = \"net_af_packet0\"; args = \"iface=x\";\n"
		     "  rx_queues = 2; tx_queues = 4; rx_desc = 512; tx_desc = 256;\n"
		     "  mtu = 9000; } );\n"
		     "workers = { lcores = [0, 1, 2]; burst = 64; idle_backoff = false;\n"
		     "  idle_polls = 10; idle_sleep_us = 50; idle_sleep_max_us = 400;\n"
		     "  idle_backoff_after_ms = 0;\n"
		     "  mbufs = 32767; };\n"
		     "chat = { history_on_join = 5; max_fetch = 100; session_idle_s = 30;\n"
		     "  max_sessions = 100; max_sessions_per_user = 0; max_sessions_per_address = 3;\n"
		     "  max_rooms = 50; max_rooms_per_user = 0; room_create_per_min = 7;\n"
		     "  max_members = 10; post_rate = 5;\n"
		     "  post_burst = 10; dedup_window = 64; };\n"
		     "auth = { secret_file = \"%s\"; token_ttl_s = 3600; };\n"
		     "wal = { map_size_mb = 64L; high_water_pct = 80; batch_max = 128;\n"
		     "  nosync = true; };\n",
		     secret_path);
	write_file(conf_path, text, n, 0644);
	write_secret(128, 0600);
	assert_int_equal(rc_config_load(conf_path, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.node_id, "node-a_1.x");
	assert_int_equal(cfg.service_ip.s_addr, htonl(0xc6120007));
	assert_int_equal(cfg.udp_port, 7000);
	assert_string_equal(cfg.data_dir, "/var/tmp/rc");
	assert_string_equal(cfg.admin_socket, "/tmp/rc-a.sock");
	assert_string_equal(cfg.admin_group, "root");
	assert_int_equal(cfg.eal_argc, 9);
	assert_string_equal(cfg.eal_argv[4], "--file-prefix=rc-a");
	assert_int_equal(cfg.n_ports, 1);
	assert_string_equal(cfg.ports[0].args, "iface=x");
	assert_int_equal(cfg.ports[0].rx_queues, 2);
	assert_int_equal(cfg.ports[0].tx_queues, 4);
	assert_int_equal(cfg.ports[0].rx_desc, 512);
	assert_int_equal(cfg.ports[0].tx_desc, 256);
	assert_int_equal(cfg.ports[0].mtu, 9000);
	assert_int_equal(cfg.n_workers, 3); /* lcore 0 is fine: --main-lcore 3 */
	assert_int_equal(cfg.worker_lcores[2], 2);
	assert_int_equal(cfg.burst, 64);
	assert_false(cfg.idle_backoff);
	assert_int_equal(cfg.idle_polls, 10);
	assert_int_equal(cfg.idle_sleep_us, 50);
	assert_int_equal(cfg.idle_sleep_max_us, 400);
	assert_int_equal(cfg.idle_backoff_after_ms, 0);
	assert_int_equal(cfg.mbufs, 32767);
	assert_int_equal(cfg.history_on_join, 5);
	assert_int_equal(cfg.max_fetch, 100);
	assert_int_equal(cfg.session_idle_s, 30);
	assert_int_equal(cfg.max_sessions, 100);
	assert_int_equal(cfg.max_sessions_per_user, 0);
	assert_int_equal(cfg.max_sessions_per_address, 3);
	assert_int_equal(cfg.max_rooms_per_user, 0);
	assert_int_equal(cfg.room_create_per_min, 7);
	assert_int_equal(cfg.max_rooms, 50);
	assert_int_equal(cfg.max_members, 10);
	assert_int_equal(cfg.post_rate, 5);
	assert_int_equal(cfg.post_burst, 10);
	assert_int_equal(cfg.dedup_window, 64);
	assert_int_equal(cfg.token_ttl_s, 3600);
	assert_int_equal(cfg.secret_len, 128);
	assert_true(cfg.wal_map_size == 64ULL << 20);
	assert_int_equal(cfg.wal_high_water_pct, 80);
	assert_int_equal(cfg.wal_batch_max, 128);
	assert_true(cfg.wal_nosync);
}

static void
test_unknown_keys(void **state)
{
	(void)state;
	expect_error(4, "  udpport = 6420;",
		     ":4: node.udpport: unknown key (did you mean \"udp_port\"?)");
	expect_error(4, "  frobnicate = 1;", ":4: node.frobnicate: unknown key");
	expect_error(10, "chats = { max_fetch = 200; };",
		     ":10: chats: unknown key (did you mean \"chat\"?)");
	expect_error(8, "        , { name = \"chat1\"; devise = \"net_null1\"; } );",
		     ":8: ports[1].devise: unknown key (did you mean \"device\"?)");
	expect_error(10, "chat = 5;", ":10: chat: expected a group { ... }, got an integer");
}

static void
test_wrong_type(void **state)
{
	(void)state;
	expect_error(4, "  udp_port = \"6420\";",
		     ":4: node.udp_port: expected an integer, got a string");
	expect_error(9, "workers = { lcores = [1]; idle_backoff = 1; };",
		     ":9: workers.idle_backoff: expected a boolean (true/false), got an integer");
	expect_error(9, "workers = { lcores = 1; };",
		     ":9: workers.lcores: expected an array [ ... ], got an integer");
	expect_error(2, "  id = 7;", ":2: node.id: expected a string, got an integer");
	expect_error(10, "chat = { max_fetch = 2.5; };",
		     ":10: chat.max_fetch: expected an integer, got a floating-point number");
	expect_error(6, "eal = { args = [1, 2]; };",
		     ":6: eal.args: element 0: expected a string, got an integer");
}

static void
test_out_of_range(void **state)
{
	(void)state;
	expect_error(4, "  udp_port = 70000;", ":4: node.udp_port: 70000 is out of range 1..65535");
	expect_error(4, "  udp_port = 0;", ":4: node.udp_port: 0 is out of range 1..65535");
	expect_error(10, "chat = { max_fetch = 1001; };",
		     ":10: chat.max_fetch: 1001 is out of range 1..1000");
	expect_error(10, "chat = { max_fetch = 10; history_on_join = 11; };",
		     ":10: chat.history_on_join: 11 is more than chat.max_fetch (10)");
	expect_error(9, "workers = { lcores = [1, 200]; };",
		     ":9: workers.lcores: lcore 200 is out of range 0..127");
	expect_error(2, "  id = \"n/1\";",
		     ":2: node.id: \"n/1\": use letters, digits, '-', '_' or '.' only");
	expect_error(2, "  id = \"\";", ":2: node.id: must not be empty");
}

static void
test_bad_ip(void **state)
{
	(void)state;
	expect_error(3, "  service_ip = \"198.18.0.300\";",
		     ":3: node.service_ip: \"198.18.0.300\" is not an IPv4 address (dotted quad)");
	expect_error(3, "  service_ip = \"fe80::1\";",
		     ":3: node.service_ip: \"fe80::1\" is not an IPv4 address (dotted quad)");
	expect_error(3, "  service_ip = \"239.1.1.1\";",
		     ":3: node.service_ip: 239.1.1.1 is not a unicast address");
}

static void
test_ports(void **state)
{
	(void)state;
	expect_error(8, "        , { name = \"chat0\"; device = \"net_null1\"; } );",
		     ":8: ports[1].name: \"chat0\" is already the name of ports[0]");
	expect_error(8, "        , { name = \"chat1\"; device = \"net_null0\"; } );",
		     ":8: ports[1].device: \"net_null0\" is already used by ports[0]");
	expect_error(8, "        , { name = \"chat1\"; } );",
		     ":8: ports[1].device: required key is missing");
	expect_error(8, "        , { device = \"x\"; mtu = 1400; } );",
		     ":8: ports[1].mtu: 1400 is out of range 1500..9600");
	expect_error(8, "        , 5 );",
		     ":8: ports: element 1: expected a group { ... }, got an integer");
	assert_int_equal(load_with(8, "        , { device = \"x\"; } );"), 0);
	assert_string_equal(cfg.ports[1].name, "port1");
}

static void
test_ports_queues(void **state)
{
	(void)state;
	assert_int_equal(load_with(9, "workers = { lcores = [1, 2]; };"), 0);
	assert_int_equal(cfg.n_workers, 2);
	assert_int_equal(cfg.ports[0].tx_queues, 2);
	assert_int_equal(load_with2(8, "  , { name = \"c\"; device = \"x\"; tx_queues = 1; } );",
				    9, "workers = { lcores = [1, 2]; };"),
			 -EINVAL);
	snprintf(text_want, sizeof(text_want),
		 "%s:8: ports[1].tx_queues: 1 TX queues for 2 workers: each worker needs its own",
		 conf_path);
	assert_string_equal(err, text_want);
	assert_int_equal(load_with2(7, "ports = ( );", 8, ""), -EINVAL);
	snprintf(text_want, sizeof(text_want), "%s:7: ports: at least one port is needed",
		 conf_path);
	assert_string_equal(err, text_want);
}

static void
test_workers(void **state)
{
	(void)state;
	expect_error(9, "workers = { lcores = [0, 1]; };",
		     ":9: workers.lcores: lcore 0 is the main lcore (the control thread); "
		     "workers must use other lcores");
	expect_error(9, "workers = { lcores = [1, 1]; };",
		     ":9: workers.lcores: lcore 1 is listed twice");
	expect_error(9, "workers = { lcores = []; };",
		     ":9: workers.lcores: must list at least one lcore");
	expect_error(9, "workers = { lcores = [3]; };",
		     ":9: workers.lcores: lcore 3 is not in the EAL lcore list -l \"0-2\"");
	expect_error(9, "workers = { lcores = [1, 2]; mbufs = 2000; };",
		     ":9: workers.mbufs: 2000 mbufs cannot fill the rings: at least 6272 are "
		     "needed");
	expect_error(6, "eal = { args = [\"--no-huge\", \"--in-memory\"]; };",
		     ":6: eal.args: DPDK refuses --in-memory with --no-huge; use a unique "
		     "--file-prefix");
	expect_error(6, "eal = { args = [\"-l\", \"0-x\"]; };",
		     ":6: eal.args: cannot parse the lcore list -l \"0-x\"");
}

static void
test_required(void **state)
{
	(void)state;
	expect_error(2, "", ":1: node.id: required key is missing");
	expect_error(3, "", ":1: node.service_ip: required key is missing");
	expect_error(11, "", ": auth.secret_file: required key is missing");
	expect_error(5, "}; group = { };", ":5: group: unknown key");
}

static void
test_secret_missing(void **state)
{
	(void)state;
	unlink(secret_path);
	expect_error(0, NULL, ":11: auth.secret_file: cannot open %s: No such file or directory",
		     secret_path);
}

static void
test_secret_world_readable(void **state)
{
	(void)state;
	write_secret(32, 0644);
	expect_error(0, NULL,
		     ":11: auth.secret_file: %s has mode 0644; a secret must be 0600 or 0400 "
		     "(chmod 0600 it)",
		     secret_path);
	write_secret(32, 0602);
	expect_error(0, NULL,
		     ":11: auth.secret_file: %s has mode 0602; a secret must be 0600 or 0400 "
		     "(chmod 0600 it)",
		     secret_path);
}

/* Load the base with line 10 also holding text; expect a refusal whose message holds want. */
static void
expect_refused_with(const char *text, const char *want)
{
	char line[512];

	snprintf(line, sizeof(line), "chat = { max_fetch = 200; }; %s", text);
	assert_int_equal(load_with(10, line), -EINVAL);
	if (strstr(err, want) == NULL)
		fail_msg("\"%s\" not in \"%s\"", want, err);
}

/* A directory beside the test's (outside the secrets directory) with a root 0600 file. */
static void
outside_file(char *out, size_t cap)
{
	char d[160];

	snprintf(d, sizeof(d), "%s.out", dir);
	mkdir(d, 0700);
	snprintf(out, cap, "%s/root-only", d);
	write_file(out, "root:hash:::\nsecond line\n", 26, 0600);
}

/* Secrets and the database password are read only from node.secrets_dir (by default the
 * configuration's directory): owner root or us, mode 0600/0400, no link, not outside. */
static void
test_secret_attacks(void **state)
{
	char text[512], out[200], link_path[200];

	(void)state;
	write_secret(32, 0640); /* group-readable */
	expect_error(0, NULL, ":11: auth.secret_file: %s has mode 0640; a secret must be 0600 "
		     "or 0400 (chmod 0600 it)", secret_path);
	write_secret(32, 0600);
	assert_int_equal(chown(secret_path, 65534, 65534), 0); /* another user's */
	assert_int_equal(load_with(0, NULL), -EINVAL);
	assert_non_null(strstr(err, "must be owned by root"));
	write_secret(32, 0600);
	outside_file(out, sizeof(out));
	snprintf(text, sizeof(text), "auth = { secret_file = \"%s\"; };", out);
	assert_int_equal(load_with(11, text), -EINVAL);
	assert_non_null(strstr(err, "is outside the secrets directory"));
	snprintf(link_path, sizeof(link_path), "%s/link", dir);
	unlink(link_path);
	assert_int_equal(symlink(out, link_path), 0);
	assert_int_equal(load_with(11, "auth = { secret_file = \"link\"; };"), -EINVAL);
	assert_non_null(strstr(err, "symbolic link"));
	/* the database password file: the same rules */
	expect_refused_with("db = { password_file = \"link\"; };", "symbolic link");
	snprintf(text, sizeof(text), "db = { password_file = \"%s\"; };", out);
	expect_refused_with(text, "is outside the secrets directory");
	snprintf(text, sizeof(text), "%s/pw", dir);
	write_file(text, "pw1\nline2\n", 10, 0640);
	expect_refused_with("db = { password_file = \"pw\"; };", "has mode 0640");
	assert_int_equal(chmod(text, 0600), 0);
	assert_int_equal(load_with(10, "chat = { max_fetch = 200; }; db = { password_file = "
				       "\"pw\"; };"), 0);
	assert_string_equal(cfg.db_password, "pw1");
	unlink(text);
	unlink(link_path);
	unlink(out);
	*strrchr(out, '/') = '\0';
	rmdir(out);
}

/* node.secrets_dir acts: relative secret paths are taken there, and it must be safe. */
static void
test_secrets_dir(void **state)
{
	char sd[160], text[300], p[200];

	(void)state;
	snprintf(sd, sizeof(sd), "%s.sec", dir);
	mkdir(sd, 0700);
	snprintf(p, sizeof(p), "%s/secret", sd);
	write_secret_at(p, 40, 0600, 1);
	snprintf(text, sizeof(text), "  udp_port = 6420; secrets_dir = \"%s\";", sd);
	assert_int_equal(load_with(4, text), 0);
	assert_string_equal(cfg.secrets_dir, sd);
	assert_int_equal(cfg.secret_len, 40); /* this one, not the configuration's neighbour */
	assert_string_equal(cfg.secret_file, p);
	/* the configuration directory's own secret is now outside */
	snprintf(p, sizeof(p), "auth = { secret_file = \"%s\"; };", secret_path);
	assert_int_equal(load_with2(4, text, 11, p), -EINVAL);
	assert_non_null(strstr(err, "is outside the secrets directory"));
	assert_int_equal(chmod(sd, 0777), 0);
	snprintf(text, sizeof(text), "  udp_port = 6420; secrets_dir = \"%s\";", sd);
	assert_int_equal(load_with(4, text), -EINVAL);
	assert_non_null(strstr(err, "writable by nobody else"));
	unlink(p);
	rmdir(sd);
	assert_int_equal(load_with(0, NULL), 0);
	assert_string_equal(cfg.secrets_dir, dir); /* the default: the file's directory */
}

/* db.sslmode and db.sslrootcert reach libpq through db.conninfo; a mode that checks the
 * server's certificate without a CA file is refused at start, not at the first connect. */
static void
test_db_tls(void **state)
{
	char ca[160], text[512];

	(void)state;
	expect_refused_with("db = { conninfo = \"host=db\"; sslmode = \"verify-full\"; };",
			    "db.sslmode: verify-full checks the server's certificate: name the CA "
			    "that signed it in db.sslrootcert");
	expect_refused_with("db = { conninfo = \"host=db\"; sslmode = \"verify-ca\"; };",
			    "name the CA");
	expect_refused_with("db = { sslmode = \"strict\"; };", "db.sslmode: \"strict\": "
			    "expected disable, allow, prefer, require, verify-ca or verify-full");
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(text, sizeof(text), "db = { conninfo = \"host=db\"; sslmode = \"verify-full\"; "
		 "sslrootcert = \"%s\"; };", ca);
	expect_refused_with(text, "db.sslrootcert: ");
	write_file(ca, "-----BEGIN CERTIFICATE-----\n", 28, 0644);
	snprintf(text, sizeof(text), "chat = { max_fetch = 200; }; db = { conninfo = \"host=db "
		 "sslmode=disable\"; sslmode = \"verify-full\"; sslrootcert = \"%s\"; };", ca);
	assert_int_equal(load_with(10, text), 0);
	snprintf(text, sizeof(text), "host=db sslmode=disable sslmode=verify-full "
		 "sslrootcert='%s'", ca);
	assert_string_equal(cfg.db_conninfo, text); /* the last sslmode is libpq's */
	assert_int_equal(load_with(0, NULL), 0);
	assert_string_equal(cfg.db_conninfo, ""); /* nothing added by default */
	unlink(ca);
}

static void
test_secret_size(void **state)
{
	(void)state;
	write_secret(31, 0600);
	expect_error(0, NULL, ":11: auth.secret_file: %s holds 31 bytes; a secret needs 32..128",
		     secret_path);
	write_secret(129, 0600);
	expect_error(0, NULL,
		     ":11: auth.secret_file: %s holds 129 bytes; a secret needs 32..128",
		     secret_path);
	expect_error(11, "auth = { secret_file = \"/\"; };",
		     ":11: auth.secret_file: / is outside the secrets directory %s "
		     "(node.secrets_dir): move it there, mode 0600", dir);
	expect_error(11, "auth = { secret_file = \".\"; };",
		     ":11: auth.secret_file: %s/.: \".\" and \"..\" are not allowed in a "
		     "secret's path", dir);
}

static void
test_syntax_error(void **state)
{
	(void)state;
	expect_error(4, "  udp_port = 6420 6421;", ":4: syntax error: syntax error");
	/* An unterminated string: libconfig gives up at the end of the file (line 12). */
	expect_error(10, "chat = { max_fetch = \"200; };", ":12: syntax error: syntax error");
	expect_error(10, "chat = { max_fetch = 200; max_fetch = 100; };",
		     ":10: syntax error: duplicate setting name");
}

static void
test_unreadable(void **state)
{
	char path[160];

	(void)state;
	snprintf(path, sizeof(path), "%s/nope.conf", dir);
	assert_int_equal(rc_config_load(path, &cfg, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "nope.conf: cannot read: No such file or directory"));
}

static void
test_admin_group(void **state)
{
	(void)state;
	expect_error(4, "  admin_group = \"no-such-group-xyz\";",
		     ":4: node.admin_group: no such group \"no-such-group-xyz\"");
	expect_error(4, "  admin_socket = \"run/x.sock\";",
		     ":4: node.admin_socket: must be an absolute path");
}

static void
test_admin_socket_only(void **state)
{
	char out[128];

	(void)state;
	/* A broken secret does not matter for the socket lookup. */
	unlink(secret_path);
	assert_int_equal(load_with(4, "  admin_socket = \"/tmp/a.sock\";"), -EINVAL);
	assert_int_equal(rc_config_admin_socket(conf_path, out, sizeof(out), err, sizeof(err)),
			 0);
	assert_string_equal(out, "/tmp/a.sock");
	assert_int_equal(load_with(0, NULL), -EINVAL);
	assert_int_equal(rc_config_admin_socket(conf_path, out, sizeof(out), err, sizeof(err)),
			 0);
	assert_string_equal(out, "/run/roomcast/n1.sock");
	assert_int_equal(load_with(4, "  udp_port = 6420 6421;"), -EINVAL);
	assert_int_equal(rc_config_admin_socket(conf_path, out, sizeof(out), err, sizeof(err)),
			 -EINVAL);
}

/* configs/node-example.conf (argv[1]) loads, and every value it shows is the default. */
static const char *example_path;

/* Replace the first `from` in text (cap bytes) with "to" (quoted). */
static void
replace_once(char *text, size_t cap, const char *from, const char *to)
{
	static char tail[65536];
	char *at = strstr(text, from);

	assert_non_null(at);
	snprintf(tail, sizeof(tail), "%s", at + strlen(from));
	snprintf(at, cap - (size_t)(at - text), "\"%s\"%s", to, tail);
}

static void
test_example_file(void **state)
{
	static char text[65536];
	struct rc_config d;
	FILE *f;
	size_t n;
	char out[65536];

	(void)state;
	if (example_path == NULL)
		fail_msg("pass configs/node-example.conf as the first argument");
	f = fopen(example_path, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	replace_once(text, sizeof(text), "\"/etc/roomcast/secret\"", secret_path);
	replace_once(text, sizeof(text), "\"/etc/roomcast/relay-secret\"", relay_path);
	replace_once(text, sizeof(text), "\"/etc/roomcast/relay-cluster2\"", ic_path);
	for (unsigned i = 0; i < 3; i++) { /* the keys section's files */
		static const char *const names[] = { "tokens-1.key", "ha-1.key", "cluster-1.key" };
		char from[64], path[192];

		snprintf(from, sizeof(from), "\"/etc/roomcast/%s\"", names[i]);
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		write_secret_at(path, 32, 0600, 10 + i);
		replace_once(text, sizeof(text), from, path);
	}
	n = snprintf(out, sizeof(out), "%s", text);
	write_file(conf_path, out, n, 0644);
	if (rc_config_load(conf_path, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	rc_config_defaults(&d);
	assert_string_equal(cfg.admin_socket, "/run/roomcast/n1.sock");
	assert_string_equal(cfg.data_dir, "/var/lib/roomcast/n1");
	assert_string_equal(cfg.admin_group, "");
	assert_int_equal(cfg.udp_port, d.udp_port);
	assert_int_equal(cfg.n_workers, d.n_workers);
	assert_int_equal(cfg.worker_lcores[0], d.worker_lcores[0]);
	assert_int_equal(cfg.burst, d.burst);
	assert_int_equal(cfg.idle_backoff, d.idle_backoff);
	assert_int_equal(cfg.idle_polls, d.idle_polls);
	assert_int_equal(cfg.idle_sleep_us, d.idle_sleep_us);
	assert_int_equal(cfg.idle_sleep_max_us, d.idle_sleep_max_us);
	assert_int_equal(cfg.idle_backoff_after_ms, d.idle_backoff_after_ms);
	assert_int_equal(cfg.mbufs, d.mbufs);
	assert_memory_equal(&cfg.history_on_join, &d.history_on_join,
			    offsetof(struct rc_config, secret_file) -
				    offsetof(struct rc_config, history_on_join));
	assert_int_equal(cfg.token_ttl_s, d.token_ttl_s);
	assert_true(cfg.wal_map_size == d.wal_map_size);
	assert_int_equal(cfg.wal_high_water_pct, d.wal_high_water_pct);
	assert_int_equal(cfg.wal_batch_max, d.wal_batch_max);
	assert_int_equal(cfg.wal_nosync, d.wal_nosync);
	assert_int_equal(cfg.n_ports, 1);
	assert_string_equal(cfg.ports[0].args, "");
	assert_int_equal(cfg.ports[0].rx_queues, d.ports[0].rx_queues);
	assert_int_equal(cfg.ports[0].tx_queues, cfg.n_workers);
	assert_int_equal(cfg.ports[0].rx_desc, d.ports[0].rx_desc);
	assert_int_equal(cfg.ports[0].tx_desc, d.ports[0].tx_desc);
	assert_int_equal(cfg.ports[0].mtu, d.ports[0].mtu);
	assert_string_equal(cfg.relay.secret.file, relay_path);
	assert_int_equal(cfg.relay.key_id, d.relay.key_id);
	assert_int_equal(cfg.relay.refresh_ms, d.relay.refresh_ms);
	assert_int_equal(cfg.relay.n_intercluster, 1);
	assert_int_equal(cfg.relay.intercluster[0].secret.len, 48);
}

static void
test_failure_leaves_struct(void **state)
{
	(void)state;
	rc_config_defaults(&cfg);
	cfg.udp_port = 1234;
	write_file(conf_path, "node = { udp_port = 0; };\n", 26, 0644);
	assert_int_equal(rc_config_load(conf_path, &cfg, err, sizeof(err)), -EINVAL);
	assert_int_equal(cfg.udp_port, 1234); /* untouched */
}

/* ---- ha { }: the HA pair ---- */

/* A valid pair (the base, a database, an ha group): tests replace one of its lines. */
static const char *const ha_tail[] = {
	"db = { conninfo = \"host=/tmp dbname=roomcast\"; };", /* 12 */
	"ha = {",                                            /* 13 */
	"  enabled = true;",                                 /* 14 */
	"  peer_id = \"n2\";",                               /* 15 */
	"  address = \"10.0.0.1:6500\";",                    /* 16 */
	"  peer_address = \"10.0.0.2:6500\";",               /* 17 */
	"  peer_service_ip = \"198.18.0.2\";",               /* 18 */
	"};",                                                /* 19 */
};
#define HA_LINES (BASE_LINES + sizeof(ha_tail) / sizeof(ha_tail[0]))

/* Write base + ha_tail with line l1 replaced by t1 and l2 by t2 (0: none) and load it. */
static int
load_ha2(unsigned l1, const char *t1, unsigned l2, const char *t2)
{
	char buf[4096];
	size_t len = 0;

	for (unsigned i = 0; i < HA_LINES; i++)
		len += snprintf(buf + len, sizeof(buf) - len, "%s\n",
				i + 1 == l1 ? t1 : i + 1 == l2 ? t2 :
				i < BASE_LINES ? base[i] : ha_tail[i - BASE_LINES]);
	write_file(conf_path, buf, len, 0644);
	memset(&cfg, 0, sizeof(cfg));
	err[0] = '\0';
	return rc_config_load(conf_path, &cfg, err, sizeof(err));
}

static int
load_ha(unsigned line, const char *text)
{
	return load_ha2(line, text, 0, NULL);
}

/* Expect load_ha(line, text) to fail with "FILE" fmt. */
static void __attribute__((format(printf, 3, 4)))
expect_ha_error(unsigned line, const char *text, const char *fmt, ...)
{
	char tail[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	snprintf(text_want, sizeof(text_want), "%s%s", conf_path, tail);
	assert_int_equal(load_ha(line, text), -EINVAL);
	assert_string_equal(err, text_want);
}

static void
test_ha_defaults(void **state)
{
	(void)state;
	rc_config_defaults(&cfg);
	assert_false(cfg.ha.enabled);
	assert_int_equal(cfg.ha.interval_ms, 100);
	assert_int_equal(cfg.ha.dead_ms, 500);
	assert_int_equal(cfg.ha.lease_ttl_ms, 600);
	assert_int_equal(cfg.ha.stall_ms, 1000);
	assert_int_equal(cfg.ha.startup_grace_ms, 5000);
	assert_string_equal(cfg.ha.durability, "peer");
	assert_false(cfg.ha.auto_fallback);
	assert_int_equal(cfg.ha.auto_fallback_s, 1800);
	assert_int_equal(cfg.ha.key_id, 1);
	assert_false(cfg.ha.fault_injection);
	/* a standalone node needs none of the ha keys */
	assert_int_equal(load_with(0, NULL), 0);
	assert_false(cfg.ha.enabled);
	assert_int_equal(load_ha(14, "  enabled = false;"), 0);
	assert_false(cfg.ha.enabled);
	/* disabled: neither the peer nor a database is needed */
	assert_int_equal(load_ha2(14, "  enabled = false;", 15, ""), 0);
	assert_false(cfg.ha.enabled);
	assert_int_equal(load_ha2(14, "  enabled = false;", 12, ""), 0);
	assert_false(cfg.ha.enabled);
}

static void
test_ha_pair(void **state)
{
	(void)state;
	assert_int_equal(load_ha(0, NULL), 0);
	assert_string_equal(err, "");
	assert_true(cfg.ha.enabled);
	assert_string_equal(cfg.ha.peer_id, "n2");
	assert_string_equal(cfg.ha.address, "10.0.0.1:6500");
	assert_string_equal(cfg.ha.peer_address, "10.0.0.2:6500");
	assert_int_equal(cfg.ha.peer_service_ip.s_addr, htonl(0xc6120002));
	assert_string_equal(cfg.db_conninfo, "host=/tmp dbname=roomcast");
	/* the defaults, as loaded */
	assert_int_equal(cfg.ha.interval_ms, 100);
	assert_int_equal(cfg.ha.dead_ms, 500);
	assert_int_equal(cfg.ha.lease_ttl_ms, 600);
	assert_int_equal(cfg.ha.stall_ms, 1000);
	assert_int_equal(cfg.ha.startup_grace_ms, 5000);
	assert_string_equal(cfg.ha.durability, "peer");
	assert_false(cfg.ha.auto_fallback);
	assert_int_equal(cfg.ha.auto_fallback_s, 1800);
	assert_int_equal(cfg.ha.key_id, 1);
	assert_false(cfg.ha.fault_injection);
	/* every other key, set */
	assert_int_equal(load_ha(19, "  interval_ms = 50; dead_ms = 300; lease_ttl_ms = 900;"
				     " stall_ms = 2000; startup_grace_ms = 0;"
				     " durability = \"local\"; auto_fallback = true;"
				     " auto_fallback_after_s = 60; key_id = 7;"
				     " fault_injection = true; };"),
			 0);
	assert_int_equal(cfg.ha.interval_ms, 50);
	assert_int_equal(cfg.ha.dead_ms, 300);
	assert_int_equal(cfg.ha.lease_ttl_ms, 900);
	assert_int_equal(cfg.ha.stall_ms, 2000);
	assert_int_equal(cfg.ha.startup_grace_ms, 0);
	assert_string_equal(cfg.ha.durability, "local");
	assert_true(cfg.ha.auto_fallback);
	assert_int_equal(cfg.ha.auto_fallback_s, 60);
	assert_int_equal(cfg.ha.key_id, 7);
	assert_true(cfg.ha.fault_injection);
	assert_int_equal(load_ha(19, "  durability = \"peer-required\"; };"), 0);
	assert_string_equal(cfg.ha.durability, "peer-required");
}

static void
test_ha_errors(void **state)
{
	(void)state;
	/* a missing key points at the ha group */
	expect_ha_error(15, "", ":13: ha.peer_id: required key is missing");
	expect_ha_error(17, "", ":13: ha.peer_address: required key is missing");
	expect_ha_error(18, "", ":13: ha.peer_service_ip: required key is missing");
	expect_ha_error(16, "  address = \"nope\";", ":16: ha.address: \"nope\" is not IPV4:PORT");
	expect_ha_error(17, "  peer_address = \"10.0.0.2:0\";",
			":17: ha.peer_address: \"10.0.0.2:0\" is not IPV4:PORT");
	expect_ha_error(15, "  peer_id = \"n1\";",
			":15: ha.peer_id: the peer cannot be this node (n1)");
	expect_ha_error(18, "  peer_service_ip = \"198.18.0.1\";",
			":18: ha.peer_service_ip: must differ from node.service_ip");
	expect_ha_error(18, "  peer_service_ip = \"nope\";",
			":18: ha.peer_service_ip: \"nope\" is not an IPv4 address (dotted quad)");
	expect_ha_error(19, "  interval_ms = 100; dead_ms = 100; };",
			":19: ha.dead_ms: 100 must exceed ha.interval_ms (100)");
	expect_ha_error(19, "  dead_ms = 60; };",
			":19: ha.dead_ms: 60 must exceed ha.interval_ms (100)");
	expect_ha_error(19, "  durability = \"remote\"; };",
			":19: ha.durability: \"remote\": expected \"peer\", \"peer-required\" or \"local\"");
	expect_ha_error(12, "",
			":14: ha.enabled: high availability needs db.conninfo (the lease lives "
			"in the group's database)");
	expect_ha_error(19, "  lease_ttl_ms = 100; };",
			":19: ha.lease_ttl_ms: 100 is out of range 150..600000");
	expect_ha_error(14, "  enabled = 1;",
			":14: ha.enabled: expected a boolean (true/false), got an integer");
}

static void
test_ha_unknown_key(void **state)
{
	(void)state;
	expect_ha_error(15, "  peerid = \"n2\";",
			":15: ha.peerid: unknown key (did you mean \"peer_id\"?)");
	expect_ha_error(19, "  dead = 500; };", ":19: ha.dead: unknown key");
	expect_ha_error(13, "hx = {", ":13: hx: unknown key (did you mean \"ha\"?)");
}

/* ---- relay { }: the relay between nodes ---- */

/* The base's line 11 (auth) followed by a relay group (fmt). */
static int __attribute__((format(printf, 1, 2)))
load_relay(const char *fmt, ...)
{
	char line[1024], relay[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(relay, sizeof(relay), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "%s relay = { %s };", base[10], relay);
	return load_with(11, line);
}

/* Expect load_relay(relay) to fail with "FILE" want (a format: its %s is path). */
static void
expect_relay_error(const char *relay, const char *want_fmt, const char *path)
{
	char tail[768], want[1024];

	snprintf(tail, sizeof(tail), want_fmt, path);
	snprintf(want, sizeof(want), "%s%s", conf_path, tail);
	assert_int_equal(load_relay("%s", relay), -EINVAL);
	assert_string_equal(err, want);
}

static void
test_relay_defaults(void **state)
{
	(void)state;
	rc_config_defaults(&cfg);
	assert_int_equal(cfg.relay.key_id, 1);
	assert_int_equal(cfg.relay.refresh_ms, 1000);
	assert_int_equal(cfg.relay.secret.len, 0);
	assert_int_equal(cfg.relay.n_intercluster, 0);
	/* no relay section: a node that relays nothing */
	assert_int_equal(load_with(0, NULL), 0);
	assert_int_equal(cfg.relay.secret.len, 0);
	assert_string_equal(cfg.relay.secret.file, "");
	assert_null(rc_config_intercluster(&cfg, "c2"));
	assert_int_equal(load_relay("secret_file = \"\";"), 0);
	assert_int_equal(cfg.relay.secret.len, 0);
}

static void
test_relay(void **state)
{
	const struct rc_relay_secret *ic;

	(void)state;
	assert_int_equal(load_relay("secret_file = \"relay\"; key_id = 9; refresh_ms = 250;"
				    " intercluster = ( { cluster = \"c2\"; secret_file = \"%s\"; },"
				    " { cluster = \"c3\"; secret_file = \"%s\"; } );",
				    ic_path, relay_path),
			 0);
	assert_string_equal(err, "");
	assert_string_equal(cfg.relay.secret.file, relay_path); /* relative to the file */
	assert_int_equal(cfg.relay.secret.len, 32);
	assert_int_equal(cfg.relay.secret.key[1], 7 + 2);
	assert_int_equal(cfg.relay.key_id, 9);
	assert_int_equal(cfg.relay.refresh_ms, 250);
	assert_int_equal(cfg.relay.n_intercluster, 2);
	ic = rc_config_intercluster(&cfg, "c2");
	assert_non_null(ic);
	assert_int_equal(ic->len, 48);
	assert_int_equal(ic->key[1], 7 + 3);
	assert_ptr_equal(rc_config_intercluster(&cfg, "c3"), &cfg.relay.intercluster[1].secret);
	assert_null(rc_config_intercluster(&cfg, "c1"));
}

static void
test_relay_errors(void **state)
{
	static const char own[] = "the relay needs a secret of its own";
	char want[256];

	(void)state;
	/* never the auth secret: the same file, or the same bytes in another file */
	snprintf(want, sizeof(want), ":11: relay.secret_file: %%s holds the auth secret "
		 "(auth.secret_file): %s", own);
	expect_relay_error("secret_file = \"secret\";", want, secret_path);
	write_secret_at(relay_path, 32, 0600, 1);
	expect_relay_error("secret_file = \"relay\";", want, relay_path);
	snprintf(want, sizeof(want), ":11: relay.intercluster[0].secret_file: %%s holds the auth "
		 "secret (auth.secret_file): %s", own);
	expect_relay_error("intercluster = ( { cluster = \"c2\"; secret_file = \"relay\"; } );",
			   want, relay_path);
	/* the secret file's own rules */
	write_secret_at(relay_path, 31, 0600, 2);
	expect_relay_error("secret_file = \"relay\";",
			   ":11: relay.secret_file: %s holds 31 bytes; a secret needs 32..128",
			   relay_path);
	write_secret_at(relay_path, 32, 0604, 2);
	expect_relay_error("secret_file = \"relay\";",
			   ":11: relay.secret_file: %s has mode 0604; a secret must be 0600 or 0400 "
			   "(chmod 0600 it)", relay_path);
	expect_relay_error("secret_file = \"none\";",
			   ":11: relay.secret_file: cannot open %s/none: No such file or directory",
			   dir);
	/* the keys */
	expect_relay_error("key_id = 0;", ":11: relay.key_id: 0 is out of range 1..255", NULL);
	expect_relay_error("refresh_ms = 10;", ":11: relay.refresh_ms: 10 is out of range "
			   "100..60000", NULL);
	expect_relay_error("refresh_m = 10;", ":11: relay.refresh_m: unknown key (did you mean "
			   "\"refresh_ms\"?)", NULL);
	/* the intercluster list */
	expect_relay_error("intercluster = ( { cluster = \"c2\"; secret_file = \"relay-c2\"; },"
			   " { cluster = \"c2\"; secret_file = \"relay-c2\"; } );",
			   ":11: relay.intercluster[1].cluster: cluster \"c2\" is already listed",
			   NULL);
	expect_relay_error("intercluster = ( { cluster = \"c2\"; } );",
			   ":11: relay.intercluster[0].secret_file: required key is missing", NULL);
	expect_relay_error("intercluster = ( { secret_file = \"relay-c2\"; } );",
			   ":11: relay.intercluster[0].cluster: required key is missing", NULL);
	expect_relay_error("intercluster = ( { clustr = \"c2\"; } );",
			   ":11: relay.intercluster[0].clustr: unknown key (did you mean "
			   "\"cluster\"?)", NULL);
	expect_relay_error("intercluster = ( \"c2\" );",
			   ":11: relay.intercluster: element 0: expected a group { ... }, got a "
			   "string", NULL);
	expect_relay_error("intercluster = ( {}, {}, {}, {}, {}, {}, {}, {} );",
			   ":11: relay.intercluster: 8 clusters, at most 7", NULL);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test_setup(test_base_derived, setup_each),
		cmocka_unit_test_setup(test_full_file, setup_each),
		cmocka_unit_test_setup(test_unknown_keys, setup_each),
		cmocka_unit_test_setup(test_include_not_a_file, setup_each),
		cmocka_unit_test_setup(test_wrong_type, setup_each),
		cmocka_unit_test_setup(test_out_of_range, setup_each),
		cmocka_unit_test_setup(test_bad_ip, setup_each),
		cmocka_unit_test_setup(test_ports, setup_each),
		cmocka_unit_test_setup(test_ports_queues, setup_each),
		cmocka_unit_test_setup(test_workers, setup_each),
		cmocka_unit_test_setup(test_required, setup_each),
		cmocka_unit_test_setup(test_secret_missing, setup_each),
		cmocka_unit_test_setup(test_secret_world_readable, setup_each),
		cmocka_unit_test_setup(test_secret_size, setup_each),
		cmocka_unit_test_setup(test_secret_attacks, setup_each),
		cmocka_unit_test_setup(test_secrets_dir, setup_each),
		cmocka_unit_test_setup(test_db_tls, setup_each),
		cmocka_unit_test_setup(test_syntax_error, setup_each),
		cmocka_unit_test_setup(test_unreadable, setup_each),
		cmocka_unit_test_setup(test_admin_group, setup_each),
		cmocka_unit_test_setup(test_admin_socket_only, setup_each),
		cmocka_unit_test_setup(test_failure_leaves_struct, setup_each),
		cmocka_unit_test_setup(test_example_file, setup_each),
		cmocka_unit_test_setup(test_ha_defaults, setup_each),
		cmocka_unit_test_setup(test_ha_pair, setup_each),
		cmocka_unit_test_setup(test_ha_errors, setup_each),
		cmocka_unit_test_setup(test_ha_unknown_key, setup_each),
		cmocka_unit_test_setup(test_relay_defaults, setup_each),
		cmocka_unit_test_setup(test_relay, setup_each),
		cmocka_unit_test_setup(test_relay_errors, setup_each),
	};

	example_path = argc > 1 ? argv[1] : NULL;
	return cmocka_run_group_tests(tests, setup, teardown);
}
