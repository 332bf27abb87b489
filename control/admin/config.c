/* SPDX-License-Identifier: MIT */
/*
 * roomcastd's configuration file (libconfig syntax) -> struct rc_config.
 *
 * Every key is a row of a table {path, type, offset, size, min, max, parser}: the loader
 * walks the file, looks each setting up in the table (a key that is not there is refused,
 * with the nearest known key as a hint, so a typo is never silently ignored), checks its
 * type, and lets the row's parser store it into a fresh struct pre-filled with the defaults.
 * Then the whole struct is validated (config_check.c: rules that involve several keys, the
 * secret file), and only a struct that passed is copied out to the caller.
 *
 * Every error reads "FILE:LINE: KEY: problem" (the line of the offending setting, or of its
 * group when a required key is missing; "FILE: KEY: problem" when the file has no such line).
 *
 * Threads: no shared state; call from the control thread (or from roomcastctl).
 */
#include "config.h"
#include "config_load.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

struct key;

/* Store setting s (already type-checked against k) at dst. 0 or -EINVAL (message set). */
typedef int (*key_parse_fn)(struct rc_config_loader *ld, const config_setting_t *s,
			    const char *key, const struct key *k, void *dst);

struct key {
	const char *path;  /* "node.udp_port"; for a port, the name inside the port's group */
	int type;          /* CONFIG_TYPE_* expected (INT also accepts INT64) */
	size_t off, size;  /* into struct rc_config, or struct rc_port_conf for port keys */
	long long min, max;
	key_parse_fn parse;
};

/* What a flood meets: LOGINs per source, cookies, request budgets, ICMP echo rates. */
static void
flood_defaults(struct rc_config *c)
{
	c->login_rate = 20;
	c->login_burst = 40;
	c->login_cookie_threshold = 256;
	c->request_rate = 2000;
	c->request_burst = 10000;
	c->icmp_rate = 1000;
	c->icmp_source_rate = 10;
}

void
rc_config_defaults(struct rc_config *c)
{
	memset(c, 0, sizeof(*c));
	c->udp_port = 6420;
	c->n_workers = 1;
	c->worker_lcores[0] = 1;
	c->burst = 32;
	c->idle_backoff = true;
	c->idle_polls = 100;
	c->idle_sleep_us = 100;
	c->idle_sleep_max_us = 3000;
	c->idle_backoff_after_ms = 250;
	c->mbufs = 16383;
	c->history_on_join = 20;
	c->max_fetch = 200;
	c->session_idle_s = 120;
	c->max_sessions = 65536;
	c->max_sessions_per_user = 8;
	c->max_sessions_per_address = 64;
	c->max_rooms = 10000;
	c->max_rooms_per_user = 50;
	c->room_create_per_min = 10;
	c->max_members = 1000;
	c->post_rate = 50;
	c->post_burst = 100;
	flood_defaults(c);
	c->dedup_window = 4096;
	c->token_ttl_s = 3600;
	c->token_ttl_max_s = 86400;
	c->wal_map_size = 1024ULL << 20;
	c->wal_high_water_pct = 90;
	c->wal_batch_max = 512;
	c->wal_keep_records = 100000;
	c->wal_peer_keep_records = 1000000;
	strcpy(c->db_method, "copy");
	c->db_batch_max = 10000;
	c->db_retry_max_ms = 5000;
	c->db_cleanup_interval_s = 3600;
	c->ha.interval_ms = 100;
	c->ha.dead_ms = 500;
	c->ha.lease_ttl_ms = 600;
	c->ha.stall_ms = 1000;
	c->ha.startup_grace_ms = 5000;
	strcpy(c->ha.durability, "peer");
	c->ha.auto_fallback_s = 1800;
	c->ha.key_id = 1;
	c->relay.key_id = 1;
	c->relay.refresh_ms = 1000;
	for (unsigned i = 0; i < RC_MAX_PORTS; i++) {
		struct rc_port_conf *p = &c->ports[i];

		p->rx_queues = 1;
		p->tx_queues = 0; /* 0 = one per worker, resolved after loading */
		p->rx_desc = 1024;
		p->tx_desc = 1024;
		p->mtu = 1500;
	}
}

/* ---- error reporting ---- */

int
rc_config_vfail(struct rc_config_loader *ld, const config_setting_t *at, const char *key,
		const char *fmt, va_list ap)
{
	const char *file = ld->path;
	unsigned line = 0;
	char msg[384];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (at != NULL) {
		line = config_setting_source_line(at);
		if (config_setting_source_file(at) != NULL)
			file = config_setting_source_file(at);
	}
	if (ld->err == NULL || ld->errlen == 0)
		return -EINVAL;
	if (line > 0)
		snprintf(ld->err, ld->errlen, "%s:%u: %s: %s", file, line, key, msg);
	else
		snprintf(ld->err, ld->errlen, "%s: %s: %s", file, key, msg);
	return -EINVAL;
}

int
rc_config_fail(struct rc_config_loader *ld, const config_setting_t *at, const char *key,
	       const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = rc_config_vfail(ld, at, key, fmt, ap);
	va_end(ap);
	return rc;
}

#define fail rc_config_fail

const config_setting_t *
rc_config_at(struct rc_config_loader *ld, const char *path)
{
	return config_setting_lookup((config_setting_t *)ld->root, path);
}

static const char *
type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP: return "a group { ... }";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "an integer";
	case CONFIG_TYPE_FLOAT: return "a floating-point number";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL: return "a boolean (true/false)";
	case CONFIG_TYPE_ARRAY: return "an array [ ... ]";
	case CONFIG_TYPE_LIST: return "a list ( ... )";
	default: return "nothing";
	}
}

static bool
type_ok(int want, int got)
{
	if (want == CONFIG_TYPE_INT)
		return got == CONFIG_TYPE_INT || got == CONFIG_TYPE_INT64;
	return want == got;
}

static int
fail_unknown(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
	     const char *const *candidates, size_t n, size_t skip)
{
	const char *hint =
		rc_nearest(config_setting_name(s), candidates, n, sizeof(*candidates), skip);

	if (hint != NULL)
		return fail(ld, s, key, "unknown key (did you mean \"%s\"?)", hint);
	return fail(ld, s, key, "unknown key");
}

/* ---- row parsers ---- */

static int
parse_str(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
	  const struct key *k, void *dst)
{
	const char *v = config_setting_get_string(s);
	size_t len = strlen(v);

	if (len < (size_t)k->min)
		return fail(ld, s, key, "must not be empty");
	if (len > (size_t)k->max || len >= k->size)
		return fail(ld, s, key, "too long (%zu bytes, at most %lld)", len, k->max);
	memcpy(dst, v, len + 1);
	return 0;
}

static int
get_ranged(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
	   const struct key *k, long long *out)
{
	long long v = config_setting_get_int64(s);

	if (v < k->min || v > k->max)
		return fail(ld, s, key, "%lld is out of range %lld..%lld", v, k->min, k->max);
	*out = v;
	return 0;
}

static int
parse_uint(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
	   const struct key *k, void *dst)
{
	long long v = 0;
	int rc = get_ranged(ld, s, key, k, &v);

	if (rc < 0)
		return rc;
	if (k->size == sizeof(uint16_t))
		*(uint16_t *)dst = (uint16_t)v;
	else if (k->size == sizeof(uint64_t))
		*(uint64_t *)dst = (uint64_t)v;
	else
		*(unsigned *)dst = (unsigned)v;
	return 0;
}

static int
parse_mb(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
	 const struct key *k, void *dst)
{
	long long v = 0;
	int rc = get_ranged(ld, s, key, k, &v);

	if (rc == 0)
		*(uint64_t *)dst = (uint64_t)v << 20;
	return rc;
}

static int
parse_bool(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
	   const struct key *k, void *dst)
{
	(void)ld, (void)key, (void)k;
	*(bool *)dst = config_setting_get_bool(s) != 0;
	return 0;
}

static int
parse_ipv4(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
	   const struct key *k, void *dst)
{
	const char *v = config_setting_get_string(s);
	struct in_addr a;
	uint32_t h;

	(void)k;
	if (inet_pton(AF_INET, v, &a) != 1)
		return fail(ld, s, key, "\"%s\" is not an IPv4 address (dotted quad)", v);
	h = ntohl(a.s_addr);
	if (h == 0 || h == 0xffffffffu || (h >> 28) == 0xe)
		return fail(ld, s, key, "%s is not a unicast address", v);
	memcpy(dst, &a, sizeof(a));
	return 0;
}

static int
parse_eal_args(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
	       const struct key *k, void *dst)
{
	char (*argv)[128] = dst;
	int n = config_setting_length(s);

	if (n > k->max)
		return fail(ld, s, key, "%d arguments, at most %lld", n, k->max);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		const char *v = config_setting_get_string(e);

		if (v == NULL)
			return fail(ld, s, key, "element %d: expected a string, got %s", i,
				    type_name(config_setting_type(e)));
		if (strlen(v) >= sizeof(argv[i]))
			return fail(ld, s, key, "element %d is too long (at most %zu bytes)", i,
				    sizeof(argv[i]) - 1);
		strcpy(argv[i], v);
	}
	ld->c->eal_argc = n;
	return 0;
}

static int
parse_lcores(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
	     const struct key *k, void *dst)
{
	unsigned *lcores = dst;
	int n = config_setting_length(s);

	if (n < k->min)
		return fail(ld, s, key, "must list at least one lcore");
	if (n > k->max)
		return fail(ld, s, key, "%d lcores, at most %lld", n, k->max);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		long long v;

		if (!type_ok(CONFIG_TYPE_INT, config_setting_type(e)))
			return fail(ld, s, key, "element %d: expected an integer, got %s", i,
				    type_name(config_setting_type(e)));
		v = config_setting_get_int64(e);
		if (v < 0 || v >= RC_LCORE_MAX)
			return fail(ld, s, key, "lcore %lld is out of range 0..%d", v,
				    RC_LCORE_MAX - 1);
		for (int j = 0; j < i; j++)
			if (lcores[j] == (unsigned)v)
				return fail(ld, s, key, "lcore %lld is listed twice", v);
		lcores[i] = (unsigned)v;
	}
	ld->c->n_workers = n;
	return 0;
}

/* ---- the key tables ---- */

#define CONF(f) offsetof(struct rc_config, f), sizeof(((struct rc_config *)0)->f)
#define PORT(f) offsetof(struct rc_port_conf, f), sizeof(((struct rc_port_conf *)0)->f)
#define STR CONFIG_TYPE_STRING
#define INT CONFIG_TYPE_INT
#define BOOL CONFIG_TYPE_BOOL
#define ARRAY CONFIG_TYPE_ARRAY

static int parse_ports(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
		       const struct key *k, void *dst); /* the rows of port_keys, per port */
static int parse_intercluster(struct rc_config_loader *ld, const config_setting_t *s,
			      const char *key, const struct key *k, void *dst); /* ic_keys */
static int parse_key_files(struct rc_config_loader *ld, const config_setting_t *s,
			   const char *key, const struct key *k, void *dst); /* key_file_keys */

static const struct key conf_keys[] = {
	{ "node.id", STR, CONF(node_id), 1, 63, parse_str },
	{ "node.service_ip", STR, CONF(service_ip), 0, 0, parse_ipv4 },
	{ "node.udp_port", INT, CONF(udp_port), 1, 65535, parse_uint },
	{ "node.data_dir", STR, CONF(data_dir), 1, 255, parse_str },
	{ "node.admin_socket", STR, CONF(admin_socket), 1, 107, parse_str },
	{ "node.admin_group", STR, CONF(admin_group), 0, 63, parse_str },
	{ "node.mgmt_address", STR, CONF(mgmt_address), 0, 63, parse_str },
	{ "node.cluster_file", STR, CONF(cluster_file), 0, 255, parse_str },
	{ "node.secrets_dir", STR, CONF(secrets_dir), 0, 255, parse_str },
	{ "eal.args", ARRAY, CONF(eal_argv), 0, RC_MAX_EAL_ARGS, parse_eal_args },
	{ "ports", CONFIG_TYPE_LIST, CONF(ports), 1, RC_MAX_PORTS, parse_ports },
	{ "workers.lcores", ARRAY, CONF(worker_lcores), 1, RC_MAX_WORKERS, parse_lcores },
	{ "workers.burst", INT, CONF(burst), 1, 512, parse_uint },
	{ "workers.idle_backoff", BOOL, CONF(idle_backoff), 0, 1, parse_bool },
	{ "workers.idle_polls", INT, CONF(idle_polls), 1, 1000000, parse_uint },
	{ "workers.idle_sleep_us", INT, CONF(idle_sleep_us), 1, 1000000, parse_uint },
	{ "workers.idle_sleep_max_us", INT, CONF(idle_sleep_max_us), 1, 1000000, parse_uint },
	{ "workers.idle_backoff_after_ms", INT, CONF(idle_backoff_after_ms), 0, 3600000,
	  parse_uint },
	{ "workers.mbufs", INT, CONF(mbufs), 1023, 16777215, parse_uint },
	{ "workers.icmp_rate", INT, CONF(icmp_rate), 0, 1000000, parse_uint },
	{ "workers.icmp_source_rate", INT, CONF(icmp_source_rate), 0, 1000000, parse_uint },
	{ "chat.history_on_join", INT, CONF(history_on_join), 0, 1000, parse_uint },
	{ "chat.max_fetch", INT, CONF(max_fetch), 1, 1000, parse_uint },
	{ "chat.session_idle_s", INT, CONF(session_idle_s), 5, 86400, parse_uint },
	{ "chat.max_sessions", INT, CONF(max_sessions), 1, 16777216, parse_uint },
	{ "chat.max_sessions_per_user", INT, CONF(max_sessions_per_user), 0, 16777216,
	  parse_uint },
	{ "chat.max_sessions_per_address", INT, CONF(max_sessions_per_address), 0, 16777216,
	  parse_uint },
	{ "chat.max_rooms", INT, CONF(max_rooms), 1, 16777216, parse_uint },
	{ "chat.max_rooms_per_user", INT, CONF(max_rooms_per_user), 0, 16777216, parse_uint },
	{ "chat.room_create_per_min", INT, CONF(room_create_per_min), 0, 60000, parse_uint },
	{ "chat.max_members", INT, CONF(max_members), 1, 65535, parse_uint },
	{ "chat.post_rate", INT, CONF(post_rate), 1, 100000, parse_uint },
	{ "chat.post_burst", INT, CONF(post_burst), 1, 1000000, parse_uint },
	{ "chat.login_rate", INT, CONF(login_rate), 1, 100000, parse_uint },
	{ "chat.login_burst", INT, CONF(login_burst), 1, 1000000, parse_uint },
	{ "chat.login_cookie_threshold", INT, CONF(login_cookie_threshold), 0, 65536, parse_uint },
	{ "chat.request_rate", INT, CONF(request_rate), 1, 1000000, parse_uint },
	{ "chat.request_burst", INT, CONF(request_burst), 1, 10000000, parse_uint },
	{ "chat.dedup_window", INT, CONF(dedup_window), 16, 1048576, parse_uint },
	{ "auth.secret_file", STR, CONF(secret_file), 1, 255, parse_str },
	{ "auth.token_ttl_s", INT, CONF(token_ttl_s), 60, 315360000, parse_uint },
	{ "auth.token_ttl_max_s", INT, CONF(token_ttl_max_s), 60, 315360000, parse_uint },
	{ "keys.tokens", CONFIG_TYPE_LIST, CONF(key_files[RC_KEY_TOKENS]), 1, RC_KEYRING_MAX,
	  parse_key_files },
	{ "keys.ha", CONFIG_TYPE_LIST, CONF(key_files[RC_KEY_HA]), 1, RC_KEYRING_MAX,
	  parse_key_files },
	{ "keys.cluster", CONFIG_TYPE_LIST, CONF(key_files[RC_KEY_CLUSTER]), 1, RC_KEYRING_MAX,
	  parse_key_files },
	{ "wal.map_size_mb", INT, CONF(wal_map_size), 16, 1048576, parse_mb },
	{ "wal.high_water_pct", INT, CONF(wal_high_water_pct), 50, 99, parse_uint },
	{ "wal.batch_max", INT, CONF(wal_batch_max), 1, 65536, parse_uint },
	{ "wal.nosync", BOOL, CONF(wal_nosync), 0, 1, parse_bool },
	{ "wal.keep_records", INT, CONF(wal_keep_records), 0, 1000000000, parse_uint },
	{ "wal.peer_keep_records", INT, CONF(wal_peer_keep_records), 1000, 1000000000,
	  parse_uint },
	{ "db.conninfo", STR, CONF(db_conninfo), 0, 511, parse_str },
	{ "db.password_file", STR, CONF(db_password_file), 0, 255, parse_str },
	{ "db.method", STR, CONF(db_method), 1, 15, parse_str },
	{ "db.sslmode", STR, CONF(db_sslmode), 0, 15, parse_str },
	{ "db.sslrootcert", STR, CONF(db_sslrootcert), 0, 255, parse_str },
	{ "db.batch_max", INT, CONF(db_batch_max), 1, 100000, parse_uint },
	{ "db.retry_max_ms", INT, CONF(db_retry_max_ms), 100, 600000, parse_uint },
	{ "db.cleanup_days", INT, CONF(db_cleanup_days), 0, 36500, parse_uint },
	{ "db.cleanup_interval_s", INT, CONF(db_cleanup_interval_s), 60, 604800, parse_uint },
	{ "ha.enabled", BOOL, CONF(ha.enabled), 0, 1, parse_bool },
	{ "ha.peer_id", STR, CONF(ha.peer_id), 1, 63, parse_str },
	{ "ha.address", STR, CONF(ha.address), 1, 63, parse_str },
	{ "ha.peer_address", STR, CONF(ha.peer_address), 1, 63, parse_str },
	{ "ha.peer_service_ip", STR, CONF(ha.peer_service_ip), 0, 0, parse_ipv4 },
	{ "ha.interval_ms", INT, CONF(ha.interval_ms), 10, 60000, parse_uint },
	{ "ha.dead_ms", INT, CONF(ha.dead_ms), 30, 600000, parse_uint },
	{ "ha.lease_ttl_ms", INT, CONF(ha.lease_ttl_ms), 150, 600000, parse_uint },
	{ "ha.startup_grace_ms", INT, CONF(ha.startup_grace_ms), 0, 600000, parse_uint },
	{ "ha.stall_ms", INT, CONF(ha.stall_ms), 50, 600000, parse_uint },
	{ "ha.durability", STR, CONF(ha.durability), 1, 15, parse_str },
	{ "ha.auto_fallback", BOOL, CONF(ha.auto_fallback), 0, 1, parse_bool },
	{ "ha.auto_fallback_after_s", INT, CONF(ha.auto_fallback_s), 10, 86400, parse_uint },
	{ "ha.key_id", INT, CONF(ha.key_id), 1, 255, parse_uint },
	{ "ha.fault_injection", BOOL, CONF(ha.fault_injection), 0, 1, parse_bool },
	{ "relay.secret_file", STR, CONF(relay.secret.file), 0, 255, parse_str },
	{ "relay.key_id", INT, CONF(relay.key_id), 1, 255, parse_uint },
	{ "relay.refresh_ms", INT, CONF(relay.refresh_ms), 100, 60000, parse_uint },
	{ "relay.intercluster", CONFIG_TYPE_LIST, CONF(relay.intercluster), 0,
	  RC_MAX_INTERCLUSTER, parse_intercluster },
};

static const struct key port_keys[] = {
	{ "name", STR, PORT(name), 1, 31, parse_str },
	{ "device", STR, PORT(device), 1, 127, parse_str },
	{ "args", STR, PORT(args), 0, 255, parse_str },
	{ "rx_queues", INT, PORT(rx_queues), 1, 64, parse_uint },
	{ "tx_queues", INT, PORT(tx_queues), 1, 64, parse_uint },
	{ "rx_desc", INT, PORT(rx_desc), 64, 32768, parse_uint },
	{ "tx_desc", INT, PORT(tx_desc), 64, 32768, parse_uint },
	{ "mtu", INT, PORT(mtu), 1500, 9600, parse_uint },
};

#define IC(f) offsetof(struct rc_relay_intercluster, f), \
	sizeof(((struct rc_relay_intercluster *)0)->f)

static const struct key ic_keys[] = {
	{ "cluster", STR, IC(cluster), 1, 63, parse_str },
	{ "secret_file", STR, IC(secret.file), 1, 255, parse_str },
};

#define N_KEYS(t) (sizeof(t) / sizeof((t)[0]))

#define KF(f) offsetof(struct rc_key_file, f), sizeof(((struct rc_key_file *)0)->f)

static const struct key key_file_keys[] = {
	{ "id", INT, KF(id), 1, 255, parse_uint },
	{ "file", STR, KF(file), 1, 255, parse_str },
};

static const char *const groups[] = { "node", "eal", "ports", "workers", "chat", "auth", "keys",
				       "wal", "db", "ha", "relay" };

/* Look path up in a table; NULL if unknown. */
static const struct key *
find_key(const struct key *t, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].path, path) == 0)
			return &t[i];
	return NULL;
}

/* Type-check s against k and store it. */
static int
apply_key(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
	  const struct key *k, void *base)
{
	if (!type_ok(k->type, config_setting_type(s)))
		return fail(ld, s, key, "expected %s, got %s", type_name(k->type),
			    type_name(config_setting_type(s)));
	return k->parse(ld, s, key, k, (char *)base + k->off);
}

/* The members of group g, element idx of list `list`, by the rows of t, into base. */
static int
parse_elem(struct rc_config_loader *ld, const config_setting_t *g, const struct key *t,
	   size_t n, const char *list, unsigned idx, void *base)
{
	const char *names[N_KEYS(port_keys)];
	char key[96];

	for (size_t i = 0; i < n && i < N_KEYS(names); i++)
		names[i] = t[i].path;
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, i);
		const char *name = config_setting_name(s);
		const struct key *k = find_key(t, n, name);
		int rc;

		snprintf(key, sizeof(key), "%s[%u].%s", list, idx, name);
		if (k == NULL)
			return fail_unknown(ld, s, key, names, n, 0);
		rc = apply_key(ld, s, key, k, base);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Every element of list s must be a group; its count within the row's range. */
static int
check_list(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
	   const struct key *k, const char *what)
{
	int n = config_setting_length(s);

	if (n < k->min)
		return fail(ld, s, key, "at least one %s is needed", what);
	if (n > k->max)
		return fail(ld, s, key, "%d %ss, at most %lld", n, what, k->max);
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s, i);

		if (!config_setting_is_group(g))
			return fail(ld, g, key, "element %d: expected a group { ... }, got %s", i,
				    type_name(config_setting_type(g)));
	}
	return 0;
}

static int
parse_ports(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
	    const struct key *k, void *dst)
{
	int n = config_setting_length(s), rc = check_list(ld, s, key, k, "port");

	(void)dst;
	for (int i = 0; rc == 0 && i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s, i);

		ld->port_set[i] = g;
		rc = parse_elem(ld, g, port_keys, N_KEYS(port_keys), "ports", i,
				&ld->c->ports[i]);
	}
	if (rc == 0)
		ld->c->n_ports = n;
	return rc;
}

static int
parse_intercluster(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
		   const struct key *k, void *dst)
{
	int n = config_setting_length(s), rc = check_list(ld, s, key, k, "cluster");
	struct rc_relay_intercluster *ic = dst;

	for (int i = 0; rc == 0 && i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s, i);

		ld->ic_set[i] = g;
		rc = parse_elem(ld, g, ic_keys, N_KEYS(ic_keys), key, i, &ic[i]);
	}
	if (rc == 0)
		ld->c->relay.n_intercluster = n;
	return rc;
}

/* keys.PURPOSE = ( { id = N; file = "F"; }, ... ): the first signs. */
static int
parse_key_files(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
		const struct key *k, void *dst)
{
	int n = config_setting_length(s), rc = check_list(ld, s, key, k, "key");
	struct rc_key_files *kf = dst;
	size_t p = (size_t)(kf - ld->c->key_files);

	for (int i = 0; rc == 0 && i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s, i);

		ld->key_set[p][i] = g;
		rc = parse_elem(ld, g, key_file_keys, N_KEYS(key_file_keys), key, i, &kf->f[i]);
	}
	if (rc == 0)
		kf->n = n;
	return rc;
}

/* ---- the walk ---- */

static int
load_member(struct rc_config_loader *ld, const config_setting_t *s, const char *group)
{
	const char *names[N_KEYS(conf_keys)];
	size_t n = 0, glen = strlen(group);
	const struct key *k;
	char key[128];

	snprintf(key, sizeof(key), "%s.%s", group, config_setting_name(s));
	k = find_key(conf_keys, N_KEYS(conf_keys), key);
	if (k != NULL)
		return apply_key(ld, s, key, k, ld->c);
	for (size_t i = 0; i < N_KEYS(conf_keys); i++)
		if (strncmp(conf_keys[i].path, group, glen) == 0 && conf_keys[i].path[glen] == '.')
			names[n++] = conf_keys[i].path;
	return fail_unknown(ld, s, key, names, n, glen + 1);
}

static int
load_top(struct rc_config_loader *ld, const config_setting_t *s)
{
	const char *name = config_setting_name(s);
	const struct key *k = find_key(conf_keys, N_KEYS(conf_keys), name);
	bool known = false;

	if (k != NULL)
		return apply_key(ld, s, name, k, ld->c);
	for (size_t i = 0; i < N_KEYS(groups); i++)
		known |= strcmp(groups[i], name) == 0;
	if (!known)
		return fail_unknown(ld, s, name, groups, N_KEYS(groups), 0);
	if (!config_setting_is_group(s))
		return fail(ld, s, name, "expected a group { ... }, got %s",
			    type_name(config_setting_type(s)));
	for (int i = 0; i < config_setting_length(s); i++) {
		int rc = load_member(ld, config_setting_get_elem(s, i), name);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- entry points ---- */

static int
read_file(config_t *cf, const char *path, char *err, size_t errlen)
{
	int rc;

	errno = 0;
	if (config_read_file(cf, path))
		return 0;
	if (config_error_type(cf) == CONFIG_ERR_FILE_IO) {
		rc = errno ? errno : EIO;
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(rc));
		return -rc;
	}
	snprintf(err, errlen, "%s:%d: syntax error: %s",
		 config_error_file(cf) ? config_error_file(cf) : path, config_error_line(cf),
		 config_error_text(cf));
	return -EINVAL;
}

/* Point libconfig's @include at the directory of the file. */
static void
set_include_dir(config_t *cf, const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL || (size_t)(slash - path) >= cap)
		return;
	memcpy(dir, path, slash - path);
	dir[slash - path] = '\0';
	config_set_include_dir(cf, dir[0] ? dir : "/");
}

int
rc_config_load(const char *path, struct rc_config *c, char *err, size_t errlen)
{
	struct rc_config_loader ld = { .path = path, .err = err, .errlen = errlen };
	char dir[256] = "";
	config_t cf;
	int rc;

	if (errlen > 0)
		err[0] = '\0';
	ld.c = malloc(sizeof(*ld.c));
	if (ld.c == NULL)
		return -ENOMEM;
	rc_config_defaults(ld.c);
	if (snprintf(ld.c->path, sizeof(ld.c->path), "%s", path) >= (int)sizeof(ld.c->path)) {
		snprintf(err, errlen, "%s: path too long", path);
		free(ld.c);
		return -ENAMETOOLONG;
	}
	config_init(&cf);
	set_include_dir(&cf, path, dir, sizeof(dir));
	rc = rc_config_includes_ok(path, config_get_include_dir(&cf), err, errlen);
	if (rc == 0)
		rc = read_file(&cf, path, err, errlen);
	ld.root = config_root_setting(&cf);
	for (int i = 0; rc == 0 && i < config_setting_length(ld.root); i++)
		rc = load_top(&ld, config_setting_get_elem(ld.root, i));
	if (rc == 0)
		rc = rc_config_check(&ld);
	if (rc == 0)
		memcpy(c, ld.c, sizeof(*c));
	config_destroy(&cf);
	explicit_bzero(ld.c, sizeof(*ld.c)); /* the secrets */
	free(ld.c);
	return rc;
}

const struct rc_relay_secret *
rc_config_intercluster(const struct rc_config *c, const char *cluster)
{
	for (unsigned i = 0; i < c->relay.n_intercluster; i++)
		if (strcmp(c->relay.intercluster[i].cluster, cluster) == 0)
			return &c->relay.intercluster[i].secret;
	return NULL;
}

int
rc_config_admin_socket(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
	const char *sock = NULL, *id = NULL;
	config_t cf;
	int rc, n;

	config_init(&cf);
	rc = read_file(&cf, path, err, errlen);
	if (rc == 0) {
		config_lookup_string(&cf, "node.admin_socket", &sock);
		config_lookup_string(&cf, "node.id", &id);
		if (sock != NULL)
			n = snprintf(out, cap, "%s", sock);
		else if (id != NULL)
			n = snprintf(out, cap, RC_DEFAULT_RUN_DIR "/%s.sock", id);
		else
			n = snprintf(out, cap, RC_DEFAULT_RUN_DIR "/roomcastd.sock");
		if (n < 0 || (size_t)n >= cap) {
			snprintf(err, errlen, "%s: node.admin_socket: too long", path);
			rc = -ENAMETOOLONG;
		}
	}
	config_destroy(&cf);
	return rc;
}
