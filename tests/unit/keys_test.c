/* SPDX-License-Identifier: MIT */
/*
 * Keys per purpose. The attack: a token service holds the key that login tokens are
 * verified with, and nothing else. With it, it must not be able to forge a heartbeat to the
 * HA peer, authenticate on the HA link, or sign a cluster document. The node's key set comes
 * from a real configuration file (rc_config_load), in both forms: only auth.secret_file
 * (the keys derived from it) and a keys section naming a file per purpose.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "ha_node.h"
#include "heartbeat.h"
#include "hmac.h"
#include "mgmt.h"
#include "token.h"

static char dir[64], conf_path[128], err[1024];
static struct rc_config cfg;
static const char *auth_line = "auth = { secret_file = \"secret\"; };";


static void
write_file(const char *name, const void *data, size_t len, mode_t mode)
{
	char path[192];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void
write_key(const char *name, unsigned seed)
{
	uint8_t buf[32];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 13 + seed);
	write_file(name, buf, sizeof(buf), 0600);
}

static int
load(const char *extra)
{
	char buf[2048];
	int n = snprintf(buf, sizeof(buf),
			 "node = { id = \"n1\"; service_ip = \"198.18.0.1\"; };\n"
			 "eal = { args = [\"--no-huge\"]; };\n"
			 "ports = ( { name = \"chat0\"; device = \"net_null0\"; } );\n"
			 "%s\n%s",
			 auth_line, extra);

	write_file("node.conf", buf, (size_t)n, 0644);
	memset(&cfg, 0, sizeof(cfg));
	return rc_config_load(conf_path, &cfg, err, sizeof(err));
}

/* ---- the heartbeat ---- */

static uint64_t wall_now = 1700000000000ULL;

static uint64_t
fake_wall(void *arg)
{
	(void)arg;
	return wall_now;
}

static struct rc_hb *
endpoint(const char *id, const char *peer, uint64_t boot, const struct rc_hb_keys *k)
{
	struct rc_hb_conf c = { .node_id = id, .peer_id = peer, .local_addr = "127.0.0.1:0",
				.peer_addr = "127.0.0.1:9", .boot_id = boot,
				.wall_clock_ms = fake_wall };
	struct rc_hb *hb = rc_hb_create(&c, k);

	assert_non_null(hb);
	return hb;
}

static void
aim(struct rc_hb *from, const struct rc_hb *to)
{
	char addr[32];

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", rc_hb_local_port(to));
	assert_int_equal(rc_hb_set_peer_addr(from, addr), 0);
}

static void
hb_key(struct rc_hb_key *k, uint8_t id, const uint8_t *bytes, size_t len)
{
	memset(k, 0, sizeof(*k));
	k->id = id;
	k->len = len < RC_HB_KEY_MAX ? len : RC_HB_KEY_MAX;
	memcpy(k->key, bytes, k->len);
}

/* A heartbeat from "n2" signed with (id, bytes) reaches the node's receiver: accepted? */
static bool
heartbeat_accepted(const struct rc_hb_keys *node_keys, uint8_t id, const uint8_t *bytes,
		   size_t len)
{
	struct rc_hb_keys forged = { 0 };
	struct rc_hb_status mine = { .ha_state = 3 }, got;
	struct rc_hb *node = endpoint("n1", "n2", 0xa1, node_keys);
	struct rc_hb *attacker;
	struct rc_hb_stats st;
	struct pollfd p;
	int rc;

	hb_key(&forged.current, id, bytes, len);
	attacker = endpoint("n2", "n1", 0xb2, &forged);
	aim(attacker, node);
	assert_int_equal(rc_hb_send(attacker, 1000, &mine), 0);
	p = (struct pollfd){ .fd = rc_hb_fd(node), .events = POLLIN };
	assert_int_equal(poll(&p, 1, 2000), 1);
	rc = rc_hb_recv(node, 1000, &got);
	rc_hb_get_stats(node, &st);
	assert_int_equal(st.rx + st.drops[RC_HB_DROP_FORGED] + st.drops[RC_HB_DROP_UNKNOWN_KEY], 1);
	rc_hb_destroy(attacker);
	rc_hb_destroy(node);
	return rc == 1;
}

/* The node's heartbeat keys, as its HA wing installs them. */
static void
node_hb_keys(const struct rc_config *c, struct rc_hb_keys *k)
{
	assert_int_equal(rc_ha_hb_keys(&c->keys[RC_KEY_HA], k), 0);
}

/* The token service's key forges nothing but tokens. */
static void
attack(void)
{
	const struct rc_key *key = rc_keyring_signer(&cfg.keys[RC_KEY_TOKENS]);
	const uint8_t *tk = key->key;
	size_t tk_len = key->len;
	struct rc_hb_keys node_keys;
	char tok[RC_TOKEN_LEN_MAX], mac[RC_MGMT_MAC_HEX + 1], t[24];
	uint64_t now = (uint64_t)time(NULL);
	static const char doc[] = "{\"version\":2}";

	/* it is the token key: tokens it mints are accepted */
	assert_true(rc_token_mint(key, "alice", 5, now * 1000, now + 600, tok, sizeof(tok)) > 0);
	assert_int_equal(rc_token_verify(&cfg.keys[RC_KEY_TOKENS], "alice", 5, tok, strlen(tok),
					 now, NULL), 0);
	/* a heartbeat as the peer: refused, whatever key id it claims */
	node_hb_keys(&cfg, &node_keys);
	for (unsigned id = 1; id <= 3; id++)
		assert_false(heartbeat_accepted(&node_keys, (uint8_t)id, tk, tk_len));
	/* the genuine HA key still works (the check above is not vacuous) */
	assert_true(heartbeat_accepted(&node_keys, node_keys.current.id, node_keys.current.key,
				       node_keys.current.len));
	/* a cluster document pushed as n2: refused */
	assert_int_equal(rc_mgmt_sign(tk, tk_len, "n2", now, "PUT", "/cluster", doc,
				      sizeof(doc) - 1, mac), 0);
	snprintf(t, sizeof(t), "%llu", (unsigned long long)now);
	assert_int_not_equal(rc_mgmt_verify_any(NULL, 0, &cfg.keys[RC_KEY_CLUSTER], "n2", t, "PUT",
						"/cluster", doc, sizeof(doc) - 1, mac, now), 0);
	/* and the cluster key does sign documents */
	key = rc_keyring_signer(&cfg.keys[RC_KEY_CLUSTER]);
	assert_int_equal(rc_mgmt_sign(key->key, key->len, "n2", now, "PUT", "/cluster", doc,
				      sizeof(doc) - 1, mac), 0);
	assert_int_equal(rc_mgmt_verify_any(NULL, 0, &cfg.keys[RC_KEY_CLUSTER], "n2", t, "PUT",
					    "/cluster", doc, sizeof(doc) - 1, mac, now), 0);
}

static void
test_token_key_forges_nothing_derived(void **state)
{
	(void)state;
	assert_int_equal(load(""), 0);
	attack();
}

static void
test_token_key_forges_nothing_files(void **state)
{
	(void)state;
	write_key("tokens-1.key", 5);
	write_key("ha-1.key", 6);
	write_key("cluster-1.key", 7);
	assert_int_equal(load("keys = { tokens = ( { id = 1; file = \"tokens-1.key\"; } );\n"
			      "         ha = ( { id = 1; file = \"ha-1.key\"; } );\n"
			      "         cluster = ( { id = 1; file = \"cluster-1.key\"; } ); };\n"),
			 0);
	attack();
}

/* Derived keys: HKDF-SHA256 of the auth secret, one per purpose, as computed independently
 * (Python: hmac over RFC 5869, as tests/tools/rcproto.py derives the tokens key). */
static void
test_derived(void **state)
{
	static const char want_tokens[] =
		"0a555332b9032d906cc4f4d8566c1c148e17d080d62261de463476ab1a1afca0";
	const struct rc_key *k;
	char hex[65];

	(void)state;
	assert_int_equal(load("ha = { key_id = 9; };\n"), 0);
	k = rc_keyring_signer(&cfg.keys[RC_KEY_TOKENS]);
	rc_hex(hex, k->key, k->len);
	assert_string_equal(hex, want_tokens);
	assert_int_equal(k->id, 1);
	assert_true(cfg.keys[RC_KEY_TOKENS].derived);
	assert_int_equal(cfg.keys[RC_KEY_HA].k[0].id, 9);
	assert_int_equal(cfg.keys[RC_KEY_CLUSTER].k[0].id, 1);
	for (unsigned p = 0; p < RC_KEY_PURPOSE_MAX; p++) {
		assert_int_equal(cfg.keys[p].n, 1);
		assert_int_equal(cfg.keys[p].k[0].len, RC_KEY_DERIVED_LEN);
		/* never the secret itself */
		assert_int_not_equal(memcmp(cfg.keys[p].k[0].key, cfg.secret, 32), 0);
	}
	assert_false(rc_keyring_overlap(&cfg.keys[RC_KEY_TOKENS], &cfg.keys[RC_KEY_HA]));
	assert_false(rc_keyring_overlap(&cfg.keys[RC_KEY_HA], &cfg.keys[RC_KEY_CLUSTER]));
}

/* A keys section: two keys in a ring (the first signs), a purpose left derived, and the
 * rules: ids unique, no bytes shared between purposes or with the relay, the auth secret
 * needed only for a purpose not listed, token lifetimes. */
static void
test_keys_section(void **state)
{
	char extra[512];

	(void)state;
	write_key("t2.key", 20);
	write_key("t1.key", 21);
	write_key("h1.key", 22);
	assert_int_equal(load("keys = { tokens = ( { id = 2; file = \"t2.key\"; },\n"
			      "                    { id = 1; file = \"t1.key\"; } ); };\n"),
			 0);
	assert_int_equal(cfg.keys[RC_KEY_TOKENS].n, 2);
	assert_int_equal(rc_keyring_signer(&cfg.keys[RC_KEY_TOKENS])->id, 2);
	assert_non_null(rc_keyring_find(&cfg.keys[RC_KEY_TOKENS], 1));
	assert_false(cfg.keys[RC_KEY_TOKENS].derived);
	assert_true(cfg.keys[RC_KEY_HA].derived);
	assert_int_equal(load("keys = { tokens = ( { id = 2; file = \"t2.key\"; },\n"
			      "                    { id = 2; file = \"t1.key\"; } ); };\n"),
			 -EINVAL);
	assert_non_null(strstr(err, "key id 2 is listed twice"));
	assert_int_equal(load("keys = { tokens = ( { id = 1; file = \"t1.key\"; } );\n"
			      "         ha = ( { id = 1; file = \"t1.key\"; } ); };\n"),
			 -EINVAL);
	assert_non_null(strstr(err, "the tokens and ha keys share a key"));
	assert_int_equal(load("relay = { secret_file = \"t1.key\"; };\n"
			      "keys = { tokens = ( { id = 1; file = \"t1.key\"; } ); };\n"),
			 -EINVAL);
	assert_non_null(strstr(err, "holds the tokens key"));
	assert_int_equal(load("keys = { tokens = ( { id = 1; file = \"nope.key\"; } ); };\n"),
			 -EINVAL);
	assert_non_null(strstr(err, "keys.tokens[0].file"));
	/* all three listed: no auth secret needed */
	auth_line = "";
	snprintf(extra, sizeof(extra), "keys = { tokens = ( { id = 1; file = \"t1.key\"; } );\n"
		 "  ha = ( { id = 1; file = \"h1.key\"; } );\n"
		 "  cluster = ( { id = 1; file = \"t2.key\"; } ); };\n");
	assert_int_equal(load(extra), 0);
	assert_false(cfg.keys[RC_KEY_CLUSTER].derived);
	/* ... but one not listed needs it */
	assert_int_equal(load("keys = { tokens = ( { id = 1; file = \"t1.key\"; } ); };\n"),
			 -EINVAL);
	assert_non_null(strstr(err, "auth.secret_file: required key is missing"));
	auth_line = "auth = { secret_file = \"secret\"; token_ttl_s = 7200; "
		    "token_ttl_max_s = 3600; };";
	assert_int_equal(load(""), -EINVAL);
	assert_non_null(strstr(err, "auth.token_ttl_s: 7200 is more than auth.token_ttl_max_s"));
	auth_line = "auth = { secret_file = \"secret\"; };";
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/rc-keys-test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0700), 0);
	snprintf(conf_path, sizeof(conf_path), "%s/node.conf", dir);
	write_key("secret", 1);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_key_forges_nothing_derived),
		cmocka_unit_test(test_token_key_forges_nothing_files),
		cmocka_unit_test(test_derived),
		cmocka_unit_test(test_keys_section),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
