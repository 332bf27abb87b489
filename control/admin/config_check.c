/* SPDX-License-Identifier: MIT */
/*
 * The configuration rules that look at the whole struct, run by rc_config_load() once every
 * key of the file has been parsed (config.c): required keys, the defaults derived from other
 * keys (admin_socket and data_dir from node.id, tx_queues from the number of workers, port
 * names), worker lcores against the EAL arguments (never the main lcore, which runs the
 * control thread), unique ports, the mbuf pool against the rings, chat limits, the secrets
 * directory (node.secrets_dir), the secret file (read by the secure reader of secfile.h:
 * inside that directory, ours, mode 0600/0400, no link; 32..128 bytes, kept raw in
 * c->secret), the relay's secrets (the same rules, and never equal to the auth secret) and
 * the database password file (the same rules, first line only).
 *
 * Threads: as config.c.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config_load.h"
#include "mgmt.h"
#include "secfile.h"

static int __attribute__((format(printf, 4, 5)))
fail(struct rc_config_loader *ld, const config_setting_t *at, const char *key, const char *fmt,
     ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = rc_config_vfail(ld, at, key, fmt, ap);
	va_end(ap);
	return rc;
}

/* The setting at path ("node.id"), or NULL. */
static const config_setting_t *
at(struct rc_config_loader *ld, const char *path)
{
	return config_setting_lookup((config_setting_t *)ld->root, path);
}

/* Where to point for a missing key: its group if present. */
static const config_setting_t *
parent_of(struct rc_config_loader *ld, const char *path)
{
	char group[32];
	const char *dot = strchr(path, '.');

	if (dot == NULL || (size_t)(dot - path) >= sizeof(group))
		return NULL;
	memcpy(group, path, dot - path);
	group[dot - path] = '\0';
	return at(ld, group);
}

static int
require(struct rc_config_loader *ld, const char *path)
{
	if (at(ld, path) != NULL)
		return 0;
	return fail(ld, parent_of(ld, path), path, "required key is missing");
}

static int
check_node(struct rc_config_loader *ld)
{
	struct rc_config *c = ld->c;
	int rc;

	if ((rc = require(ld, "node.id")) < 0 || (rc = require(ld, "node.service_ip")) < 0)
		return rc;
	for (const char *p = c->node_id; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
			return fail(ld, at(ld, "node.id"), "node.id",
				    "\"%s\": use letters, digits, '-', '_' or '.' only",
				    c->node_id);
	if (c->admin_socket[0] == '\0')
		snprintf(c->admin_socket, sizeof(c->admin_socket), RC_DEFAULT_RUN_DIR "/%s.sock",
			 c->node_id);
	if (c->data_dir[0] == '\0')
		snprintf(c->data_dir, sizeof(c->data_dir), RC_DEFAULT_DATA_DIR "/%s", c->node_id);
	if (c->admin_socket[0] != '/')
		return fail(ld, at(ld, "node.admin_socket"), "node.admin_socket",
			    "must be an absolute path");
	if (strlen(c->admin_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return fail(ld, at(ld, "node.admin_socket"), "node.admin_socket",
			    "too long for a UNIX socket path (at most 107 bytes)");
	if (c->admin_group[0] != '\0' && getgrnam(c->admin_group) == NULL)
		return fail(ld, at(ld, "node.admin_group"), "node.admin_group",
			    "no such group \"%s\"", c->admin_group);
	return 0;
}

/* Parse an EAL core list "0-3,5" into a 128-bit set. */
static int
parse_core_list(const char *s, uint64_t set[2])
{
	set[0] = set[1] = 0;
	while (*s) {
		char *end;
		unsigned long lo = strtoul(s, &end, 10), hi = lo;

		if (end == s || !isdigit((unsigned char)*s))
			return -EINVAL;
		if (*end == '-') {
			s = end + 1;
			hi = strtoul(s, &end, 10);
			if (end == s || !isdigit((unsigned char)*s))
				return -EINVAL;
		}
		if (lo > hi || hi >= RC_LCORE_MAX)
			return -EINVAL;
		for (unsigned long i = lo; i <= hi; i++)
			set[i / 64] |= 1ULL << (i % 64);
		if (*end == ',')
			end++;
		else if (*end != '\0')
			return -EINVAL;
		s = end;
	}
	return 0;
}

/* The value of EAL option opt ("-l", "--main-lcore") in the args, or NULL. */
static const char *
eal_opt(const struct rc_config *c, const char *opt)
{
	size_t len = strlen(opt);

	for (unsigned i = 0; i < c->eal_argc; i++) {
		const char *a = c->eal_argv[i];

		if (strcmp(a, opt) == 0)
			return i + 1 < c->eal_argc ? c->eal_argv[i + 1] : "";
		if (strncmp(a, opt, len) == 0 && a[len] == '=')
			return a + len + 1;
		if (len == 2 && strncmp(a, opt, 2) == 0 && a[2] != '\0')
			return a + 2; /* -l0-1 */
	}
	return NULL;
}

static int
check_eal(struct rc_config_loader *ld, uint64_t cores[2], bool *have_cores, unsigned *main_lcore)
{
	const config_setting_t *s = at(ld, "eal.args");
	const char *l = eal_opt(ld->c, "-l"), *m = eal_opt(ld->c, "--main-lcore");

	if (eal_opt(ld->c, "--in-memory") && eal_opt(ld->c, "--no-huge"))
		return fail(ld, s, "eal.args",
			    "DPDK refuses --in-memory with --no-huge; use a unique --file-prefix");
	*have_cores = l != NULL;
	*main_lcore = 0;
	if (l != NULL) {
		if (parse_core_list(l, cores) < 0)
			return fail(ld, s, "eal.args", "cannot parse the lcore list -l \"%s\"", l);
		if (cores[0] == 0 && cores[1] == 0)
			return fail(ld, s, "eal.args", "empty lcore list -l \"%s\"", l);
		*main_lcore = cores[0] ? __builtin_ctzll(cores[0]) : 64 + __builtin_ctzll(cores[1]);
	}
	if (m != NULL) {
		char *end;
		unsigned long v = strtoul(m, &end, 10);

		if (end == m || *end != '\0' || v >= RC_LCORE_MAX)
			return fail(ld, s, "eal.args", "bad --main-lcore \"%s\"", m);
		*main_lcore = v;
	}
	return 0;
}

static int
check_workers(struct rc_config_loader *ld)
{
	const struct rc_config *c = ld->c;
	const config_setting_t *s = at(ld, "workers.lcores");
	uint64_t cores[2];
	unsigned main_lcore = 0;
	bool have_cores = false;
	int rc = check_eal(ld, cores, &have_cores, &main_lcore);

	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < c->n_workers; i++) {
		unsigned l = c->worker_lcores[i];

		if (l == main_lcore)
			return fail(ld, s, "workers.lcores",
				    "lcore %u is the main lcore (the control thread); "
				    "workers must use other lcores",
				    l);
		if (have_cores && !(cores[l / 64] & (1ULL << (l % 64))))
			return fail(ld, s, "workers.lcores",
				    "lcore %u is not in the EAL lcore list -l \"%s\"", l,
				    eal_opt(c, "-l"));
	}
	return 0;
}

static int
check_port(struct rc_config_loader *ld, unsigned i, uint64_t *descs)
{
	struct rc_port_conf *p = &ld->c->ports[i];
	const config_setting_t *g = ld->port_set[i], *s;
	char key[64];

	snprintf(key, sizeof(key), "ports[%u].device", i);
	if (p->device[0] == '\0')
		return fail(ld, g, key, "required key is missing");
	if (p->name[0] == '\0')
		snprintf(p->name, sizeof(p->name), "port%u", i);
	if (p->tx_queues == 0)
		p->tx_queues = ld->c->n_workers;
	snprintf(key, sizeof(key), "ports[%u].tx_queues", i);
	if (p->tx_queues < ld->c->n_workers)
		return fail(ld, config_setting_lookup((config_setting_t *)g, "tx_queues"), key,
			    "%u TX queues for %u workers: each worker needs its own",
			    p->tx_queues, ld->c->n_workers);
	for (unsigned j = 0; j < i; j++) {
		const struct rc_port_conf *q = &ld->c->ports[j];

		s = config_setting_lookup((config_setting_t *)g, "name");
		snprintf(key, sizeof(key), "ports[%u].name", i);
		if (strcmp(q->name, p->name) == 0)
			return fail(ld, s ? s : g, key, "\"%s\" is already the name of ports[%u]",
				    p->name, j);
		s = config_setting_lookup((config_setting_t *)g, "device");
		snprintf(key, sizeof(key), "ports[%u].device", i);
		if (strcmp(q->device, p->device) == 0)
			return fail(ld, s, key, "\"%s\" is already used by ports[%u]", p->device,
				    j);
	}
	*descs += (uint64_t)p->rx_queues * p->rx_desc + (uint64_t)p->tx_queues * p->tx_desc;
	return 0;
}

static int
check_ports(struct rc_config_loader *ld)
{
	struct rc_config *c = ld->c;
	uint64_t need = 0;

	if (c->n_ports == 0)
		return fail(ld, at(ld, "ports"), "ports",
			    at(ld, "ports") ? "at least one port is needed"
					    : "required key is missing");
	for (unsigned i = 0; i < c->n_ports; i++) {
		int rc = check_port(ld, i, &need);

		if (rc < 0)
			return rc;
	}
	need += (uint64_t)c->n_workers * c->burst * 2;
	if (c->mbufs < need)
		return fail(ld, at(ld, "workers.mbufs"), "workers.mbufs",
			    "%u mbufs cannot fill the rings: at least %llu are needed", c->mbufs,
			    (unsigned long long)need);
	return 0;
}

static int
check_chat(struct rc_config_loader *ld)
{
	const struct rc_config *c = ld->c;

	if (c->history_on_join > c->max_fetch)
		return fail(ld, at(ld, "chat.history_on_join"), "chat.history_on_join",
			    "%u is more than chat.max_fetch (%u)", c->history_on_join,
			    c->max_fetch);
	return 0;
}

/* Resolve a relative secret file path (in place, cap bytes) against node.secrets_dir. */
static int
resolve_secret_path(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
		    char *path, size_t cap)
{
	const char *dir = ld->c->secrets_dir;
	char buf[512];
	int n;

	if (path[0] == '/')
		return 0;
	n = snprintf(buf, sizeof(buf), "%s/%s", dir, path);
	if (n < 0 || (size_t)n >= sizeof(buf) || (size_t)n >= cap)
		return fail(ld, s, key, "path too long once made absolute");
	memcpy(path, buf, n + 1);
	return 0;
}

/* Read the secret file at path f (setting s, key k) into out (32..cap bytes) with the secure
 * reader: inside node.secrets_dir, ours, mode 0600/0400, no link. *len gets its length. */
static int
read_secret(struct rc_config_loader *ld, const config_setting_t *s, const char *k,
	    const char *f, uint8_t *out, size_t cap, unsigned *len)
{
	char err[400];
	size_t n = 0;
	int rc;

	rc = rc_secfile_read(ld->c->secrets_dir, f, out, cap, &n, 0, err, sizeof(err));
	if (rc < 0 && rc != -EFBIG)
		return fail(ld, s, k, "%s", err);
	if (rc == -EFBIG || n < RC_SECRET_MIN) {
		explicit_bzero(out, cap);
		return fail(ld, s, k, "%s holds %zu bytes; a secret needs %d..%zu", f, n,
			    RC_SECRET_MIN, cap);
	}
	*len = (unsigned)n;
	return 0;
}

/* Every purpose has key files of its own: nothing is derived from an auth secret. */
static bool
keys_all_listed(const struct rc_config *c)
{
	for (unsigned p = 0; p < RC_KEY_PURPOSE_MAX; p++)
		if (c->key_files[p].n == 0)
			return false;
	return true;
}

int
rc_config_read_key(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
		   char *path, size_t cap, uint8_t *out, size_t outcap, unsigned *len)
{
	int rc = resolve_secret_path(ld, s, key, path, cap);

	return rc < 0 ? rc : read_secret(ld, s, key, path, out, outcap, len);
}

/* node.secrets_dir: by default the configuration file's directory (made absolute); it
 * must be ours and writable by nobody else. */
static int
check_secrets_dir(struct rc_config_loader *ld)
{
	struct rc_config *c = ld->c;
	const char *k = "node.secrets_dir";
	char dir[PATH_MAX], real[PATH_MAX], err[400];
	const char *slash = strrchr(ld->path, '/');
	int rc;

	if (c->secrets_dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - ld->path) : 1,
			 slash ? (slash == ld->path ? "/" : ld->path) : ".");
		if (realpath(dir, real) == NULL)
			return fail(ld, NULL, k, "cannot resolve %s: %s", dir, strerror(errno));
		if (strlen(real) >= sizeof(c->secrets_dir))
			return fail(ld, NULL, k, "%s: path too long", real);
		snprintf(c->secrets_dir, sizeof(c->secrets_dir), "%s", real);
	}
	rc = rc_secfile_check_dir(c->secrets_dir, err, sizeof(err));
	return rc < 0 ? fail(ld, at(ld, k), k, "%s", err) : 0;
}

static int
check_secret(struct rc_config_loader *ld)
{
	struct rc_config *c = ld->c;
	const config_setting_t *s = at(ld, "auth.secret_file");
	const char *k = "auth.secret_file";
	int rc;

	if (c->secret_file[0] == '\0' && keys_all_listed(c))
		return 0;
	if ((rc = require(ld, k)) < 0 ||
	    (rc = resolve_secret_path(ld, s, k, c->secret_file, sizeof(c->secret_file))) < 0)
		return rc;
	return read_secret(ld, s, k, c->secret_file, c->secret, sizeof(c->secret),
			   &c->secret_len);
}

/* A relay secret (s: its setting, key): read, and never the auth secret (keys per purpose). */
static int
relay_secret(struct rc_config_loader *ld, const config_setting_t *s, const char *key,
	     struct rc_relay_secret *rs)
{
	const struct rc_config *c = ld->c;
	int rc;

	if (rs->file[0] == '\0')
		return 0;
	if ((rc = resolve_secret_path(ld, s, key, rs->file, sizeof(rs->file))) < 0 ||
	    (rc = read_secret(ld, s, key, rs->file, rs->key, sizeof(rs->key), &rs->len)) < 0)
		return rc;
	if (rs->len == c->secret_len && memcmp(rs->key, c->secret, rs->len) == 0)
		return fail(ld, s, key, "%s holds the auth secret (auth.secret_file): the relay "
			    "needs a secret of its own", rs->file);
	return 0;
}

/* The relay: its secret, and one secret per other cluster, each cluster named once. */
static int
check_relay(struct rc_config_loader *ld)
{
	struct rc_relay_conf *r = &ld->c->relay;
	char key[64];
	int rc = relay_secret(ld, at(ld, "relay.secret_file"), "relay.secret_file", &r->secret);

	for (unsigned i = 0; rc == 0 && i < r->n_intercluster; i++) {
		struct rc_relay_intercluster *ic = &r->intercluster[i];
		const config_setting_t *g = ld->ic_set[i];

		snprintf(key, sizeof(key), "relay.intercluster[%u].%s", i,
			 ic->cluster[0] == '\0' ? "cluster" : "secret_file");
		if (ic->cluster[0] == '\0' || ic->secret.file[0] == '\0')
			return fail(ld, g, key, "required key is missing");
		snprintf(key, sizeof(key), "relay.intercluster[%u].cluster", i);
		for (unsigned j = 0; j < i; j++)
			if (strcmp(r->intercluster[j].cluster, ic->cluster) == 0)
				return fail(ld, config_setting_lookup((config_setting_t *)g,
								      "cluster"), key,
					    "cluster \"%s\" is already listed", ic->cluster);
		snprintf(key, sizeof(key), "relay.intercluster[%u].secret_file", i);
		rc = relay_secret(ld, config_setting_lookup((config_setting_t *)g, "secret_file"),
				  key, &ic->secret);
	}
	return rc;
}

/* The external database: a known drain method, and the password read from its file. */
static int
check_db(struct rc_config_loader *ld)
{
	struct rc_config *c = ld->c;
	const char *k = "db.password_file";
	const config_setting_t *s = at(ld, k);
	char err[400];
	uint32_t ip;
	uint16_t port;
	size_t n;
	int rc;

	if (c->mgmt_address[0] != '\0' && rc_mgmt_parse_addr(c->mgmt_address, &ip, &port) != 0)
		return fail(ld, at(ld, "node.mgmt_address"), "node.mgmt_address",
			    "\"%s\" is not IPV4:PORT", c->mgmt_address);
	if (strcmp(c->db_method, "copy") != 0 && strcmp(c->db_method, "pipeline") != 0)
		return fail(ld, at(ld, "db.method"), "db.method",
			    "\"%s\": expected \"copy\" or \"pipeline\"", c->db_method);
	if (c->db_password_file[0] == '\0')
		return 0;
	if ((rc = resolve_secret_path(ld, s, k, c->db_password_file,
				      sizeof(c->db_password_file))) < 0)
		return rc;
	rc = rc_secfile_read(c->secrets_dir, c->db_password_file, (uint8_t *)c->db_password,
			     sizeof(c->db_password), &n, RC_SECFILE_LINE, err, sizeof(err));
	return rc < 0 ? fail(ld, s, k, "%s", err) : 0;
}

/* db.sslmode and db.sslrootcert: checked, then added to db.conninfo (after it: they win over
 * the same keywords there). A mode that checks the server's certificate needs the CA file
 * named: libpq would otherwise look in the daemon's home directory and fail at connect. */
static int
check_db_tls(struct rc_config_loader *ld)
{
	static const char *const modes[] = { "disable", "allow", "prefer", "require",
					      "verify-ca", "verify-full" };
	struct rc_config *c = ld->c;
	const char *ca = c->db_sslrootcert, *mode = c->db_sslmode;
	size_t i, n = sizeof(modes) / sizeof(modes[0]), len;

	for (i = 0; mode[0] != '\0' && i < n && strcmp(mode, modes[i]) != 0; i++)
		;
	if (i == n)
		return fail(ld, at(ld, "db.sslmode"), "db.sslmode", "\"%s\": expected disable, "
			    "allow, prefer, require, verify-ca or verify-full", mode);
	if (strncmp(mode, "verify-", 7) == 0 && ca[0] == '\0')
		return fail(ld, at(ld, "db.sslmode"), "db.sslmode", "%s checks the server's "
			    "certificate: name the CA that signed it in db.sslrootcert", mode);
	if (ca[0] != '\0' && strcmp(ca, "system") != 0 &&
	    (ca[0] != '/' || strpbrk(ca, "'\\") != NULL || access(ca, R_OK) != 0))
		return fail(ld, at(ld, "db.sslrootcert"), "db.sslrootcert", "%s: %s", ca,
			    ca[0] != '/' ? "not an absolute path" :
			    strpbrk(ca, "'\\") ? "quotes and backslashes are not allowed" :
			    strerror(errno));
	len = strlen(c->db_conninfo);
	if (c->db_conninfo[0] != '\0' && mode[0] != '\0')
		len += (size_t)snprintf(c->db_conninfo + len, sizeof(c->db_conninfo) - len,
					" sslmode=%s", mode);
	if (c->db_conninfo[0] != '\0' && ca[0] != '\0' && len < sizeof(c->db_conninfo))
		len += (size_t)snprintf(c->db_conninfo + len, sizeof(c->db_conninfo) - len,
					" sslrootcert='%s'", ca);
	if (len >= sizeof(c->db_conninfo))
		return fail(ld, at(ld, "db.conninfo"), "db.conninfo", "too long with db.sslmode "
			    "and db.sslrootcert (at most %zu bytes)", sizeof(c->db_conninfo) - 1);
	return 0;
}

/* The HA pair: the peer, both ends of the HA link, the timing, a database for the lease. */
static int
check_ha(struct rc_config_loader *ld)
{
	struct rc_config *c = ld->c;
	static const char *const need[] = { "ha.peer_id", "ha.address", "ha.peer_address",
					    "ha.peer_service_ip" };
	const char *addrs[2] = { c->ha.address, c->ha.peer_address };
	uint32_t ip;
	uint16_t port;
	int rc;

	if (!c->ha.enabled)
		return 0;
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if ((rc = require(ld, need[i])) < 0)
			return rc;
	for (int i = 0; i < 2; i++)
		if (rc_mgmt_parse_addr(addrs[i], &ip, &port) != 0 || port == 0)
			return fail(ld, at(ld, i ? "ha.peer_address" : "ha.address"),
				    i ? "ha.peer_address" : "ha.address",
				    "\"%s\" is not IPV4:PORT", addrs[i]);
	if (strcmp(c->ha.peer_id, c->node_id) == 0)
		return fail(ld, at(ld, "ha.peer_id"), "ha.peer_id",
			    "the peer cannot be this node (%s)", c->node_id);
	if (c->ha.peer_service_ip.s_addr == c->service_ip.s_addr)
		return fail(ld, at(ld, "ha.peer_service_ip"), "ha.peer_service_ip",
			    "must differ from node.service_ip");
	if (c->ha.dead_ms <= c->ha.interval_ms)
		return fail(ld, at(ld, "ha.dead_ms"), "ha.dead_ms",
			    "%u must exceed ha.interval_ms (%u)", c->ha.dead_ms, c->ha.interval_ms);
	if (strcmp(c->ha.durability, "peer") != 0 && strcmp(c->ha.durability, "local") != 0 &&
	    strcmp(c->ha.durability, "peer-required") != 0)
		return fail(ld, at(ld, "ha.durability"), "ha.durability",
			    "\"%s\": expected \"peer\", \"peer-required\" or \"local\"",
			    c->ha.durability);
	if (c->db_conninfo[0] == '\0')
		return fail(ld, at(ld, "ha.enabled"), "ha.enabled",
			    "high availability needs db.conninfo (the lease lives in the group's "
			    "database)");
	return 0;
}

int
rc_config_check(struct rc_config_loader *ld)
{
	int rc;

	if ((rc = check_node(ld)) < 0 || (rc = check_secrets_dir(ld)) < 0 ||
	    (rc = check_workers(ld)) < 0 ||
	    (rc = check_ports(ld)) < 0 || (rc = check_chat(ld)) < 0 ||
	    (rc = check_secret(ld)) < 0 || (rc = rc_config_check_keys(ld)) < 0 ||
	    (rc = check_db(ld)) < 0 || (rc = check_db_tls(ld)) < 0 ||
	    (rc = check_ha(ld)) < 0 || (rc = check_relay(ld)) < 0 ||
	    (rc = rc_config_check_keys_relay(ld)) < 0)
		return rc;
	return 0;
}

