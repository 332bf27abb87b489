/* SPDX-License-Identifier: MIT */
/*
 * roomcastd's configuration: parsed from a libconfig file into a fresh struct, validated
 * whole, then handed to the daemon. A bad file is refused with "FILE:LINE: KEY: problem".
 * configs/node-example.conf documents every key.
 */
#ifndef RC_CONFIG_H
#define RC_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <stddef.h>

#include "keyring.h"   /* struct rc_keyring, enum rc_key_purpose (control/lib) */
#include "port_conf.h" /* struct rc_port_conf, RC_MAX_PORTS (drivers/) */

#define RC_MAX_WORKERS 16
#define RC_MAX_EAL_ARGS 32
#define RC_MAX_INTERCLUSTER 7 /* the other clusters of a join (8 clusters at most) */
#define RC_RELAY_SECRET_MAX 128

/* The HA pair's section of the configuration (keys ha.*), the part the HA wing reads. */
struct rc_ha_conf {
	bool enabled;                 /* default false: a standalone node (state Unknown) */
	char peer_id[64];             /* the other node of the pair */
	char address[64];             /* "IPV4:PORT": our end of the HA link */
	char peer_address[64];        /* "IPV4:PORT": the peer's */
	struct in_addr peer_service_ip; /* the peer's service address (claimed on takeover) */
	unsigned interval_ms;         /* heartbeat interval; default 100 */
	unsigned dead_ms;             /* peer declared dead after this silence; default 500 */
	unsigned lease_ttl_ms;        /* ownership lease in the database; default 600 */
	unsigned startup_grace_ms;    /* a peer never heard is not dead before this; 5000 */
	unsigned stall_ms;            /* a worker without progress this long is down; 1000 */
	char durability[16];          /* "peer" (default: ACK after the peer holds it while
					  * it can, else on the local commit, counted), "peer-required"
					  * (no peer copy: POSTs refused, ERROR 9 busy) or "local" (ACK
					  * after the local synced commit) */
	bool auto_fallback;           /* default false */
	unsigned auto_fallback_s;     /* healthy period before an automatic fallback; 1800 */
	unsigned key_id;              /* id of the HA key derived from auth.secret_file; 1 */
	bool fault_injection;         /* `roomcastctl ha fault` allowed (tests); false */
};

/* The relay between nodes (keys relay.*): the secrets its pair keys derive from. Never the
 * auth secret: the loader refuses a relay secret equal to it. */
struct rc_relay_secret {
	char file[256];                       /* as configured, made absolute */
	uint8_t key[RC_RELAY_SECRET_MAX];     /* raw bytes, 32..128 */
	unsigned len;                         /* 0: none */
};

/* One entry of a keys.PURPOSE list: a key id and the file holding the key. */
struct rc_key_file {
	unsigned id;     /* 1..255 */
	char file[256];  /* as configured, made absolute */
};

struct rc_key_files {
	unsigned n;      /* 0: the purpose's key is derived from auth.secret_file */
	struct rc_key_file f[RC_KEYRING_MAX];
};

struct rc_relay_intercluster {
	char cluster[64];                     /* the other cluster's name in the cluster state */
	struct rc_relay_secret secret;        /* shared by the two clusters */
};

struct rc_relay_conf {
	struct rc_relay_secret secret;  /* relay.secret_file; none: this node relays nothing */
	unsigned key_id;                /* relay.key_id, 1..255; default 1 */
	unsigned refresh_ms;            /* relay.refresh_ms: interest refresh; default 1000 */
	unsigned n_intercluster;
	struct rc_relay_intercluster intercluster[RC_MAX_INTERCLUSTER];
};

struct rc_config {
	char path[256]; /* the file it came from */

	/* node { } */
	char node_id[64];
	struct in_addr service_ip; /* the address chat clients talk to (the VIP) */
	uint16_t udp_port;         /* default 6420 */
	char data_dir[256];        /* LMDB lives in data_dir/wal */
	char admin_socket[256];    /* default /run/roomcast/<node_id>.sock */
	char admin_group[64];      /* besides root, members of this group may use the socket */
	char cluster_file[256];    /* seed of the cluster state (configs/cluster-example.conf) or "" */
	char mgmt_address[64];     /* "IP:PORT" of the management endpoint (metrics, peers), or "" */
	char secrets_dir[256];     /* every secret and password file lives here (default: the
				    * configuration file's directory); see control/lib/secfile.h */

	/* eal { args = [...]; } */
	unsigned eal_argc;
	char eal_argv[RC_MAX_EAL_ARGS][128];

	/* ports ( { }, ... ) */
	unsigned n_ports;
	struct rc_port_conf ports[RC_MAX_PORTS];

	/* workers { } */
	unsigned n_workers;              /* number of lcores listed */
	unsigned worker_lcores[RC_MAX_WORKERS];
	unsigned burst;                  /* default 32 */
	bool idle_backoff;               /* sleep after empty polls (default true) */
	unsigned idle_polls;             /* empty polls before sleeping; default 100 */
	unsigned idle_sleep_us;          /* the first idle wait; default 100 */
	unsigned idle_sleep_max_us;      /* the longest (doubling from idle_sleep_us); 3000 */
	unsigned idle_backoff_after_ms;  /* no work this long before waits grow; 250 */
	unsigned mbufs;                  /* mbuf pool size; default 16383 */
	unsigned icmp_rate;              /* echo replies a second per worker; default 1000 */
	unsigned icmp_source_rate;       /* ... per source address and worker; default 10 */

	/* chat { } */
	unsigned history_on_join;        /* messages sent after JOINED; default 20 */
	unsigned max_fetch;              /* FETCH cap; default 200 */
	unsigned session_idle_s;         /* default 120 */
	unsigned max_sessions;           /* default 65536 */
	unsigned max_sessions_per_user;  /* 0: no cap; default 8 (over it: the oldest ends) */
	unsigned max_sessions_per_address; /* 0: no cap; default 64 (over it: ERROR 10) */
	unsigned max_rooms;              /* default 10000 */
	unsigned max_rooms_per_user;     /* rooms one user created that exist; 0: no cap; 50 */
	unsigned room_create_per_min;    /* room creations per user per minute; 0: no limit; 10 */
	unsigned max_members;            /* per room; default 1000 */
	unsigned post_rate;              /* POSTs per second per session; default 50 */
	unsigned post_burst;             /* token bucket depth; default 100 */
	unsigned login_rate;             /* LOGINs a second per source address; default 20 */
	unsigned login_burst;            /* its bucket's depth; default 40 */
	unsigned login_cookie_threshold; /* LOGINs queued from which cookies are asked; 256 */
	unsigned request_rate;           /* request budget per session, cost a second; 2000 */
	unsigned request_burst;          /* its bucket's depth; default 10000 */
	unsigned dedup_window;           /* recent (user, cmid) remembered per room; default 4096 */

	/* auth { } */
	char secret_file[256];           /* the keys of unlisted purposes derive from it, or "" */
	uint8_t secret[128];
	unsigned secret_len;
	unsigned token_ttl_s;            /* default for `token mint`; default 3600 */
	unsigned token_ttl_max_s;        /* longest lifetime a token may have; default 86400 */

	/* keys { tokens = (...); ha = (...); cluster = (...); }: per purpose, the key files
	 * (first signs) as configured, and the rings read from them or derived from the auth
	 * secret (keyring.h) */
	struct rc_key_files key_files[RC_KEY_PURPOSE_MAX];
	struct rc_keyring keys[RC_KEY_PURPOSE_MAX];

	/* wal { } */
	uint64_t wal_map_size;           /* bytes; default 1 GiB (key map_size_mb) */
	unsigned wal_high_water_pct;     /* default 90 */
	unsigned wal_batch_max;          /* default 512 */
	bool wal_nosync;                 /* default false; benchmarks only */
	uint64_t wal_keep_records;       /* drained records kept in LMDB; default 100000 */
	uint64_t wal_peer_keep_records;  /* HA: records kept for the peer's copy; 1000000 */

	/* db { }: the group's external database (PostgreSQL); none when conninfo is "" */
	char db_conninfo[512];           /* libpq conninfo, without the password */
	char db_password_file[256];      /* file holding the password (mode 0600), or "" */
	char db_password[128];           /* read from db_password_file; never logged */
	char db_method[16];              /* "copy" (default) or "pipeline" */
	char db_sslmode[16];             /* libpq sslmode ("" = libpq's default), added to conninfo */
	char db_sslrootcert[256];        /* libpq sslrootcert: the CA file, or "" */
	unsigned db_batch_max;           /* records per drain transaction; default 10000 */
	unsigned db_retry_max_ms;        /* reconnect back-off cap; default 5000 */
	unsigned db_cleanup_days;        /* scheduled cleanup: delete older messages; 0 = off */
	unsigned db_cleanup_interval_s;  /* how often the scheduled cleanup runs; default 3600 */

	/* ha { }: the HA pair (control/ha/ha_node.c). The HA link (heartbeats over UDP and the WAL
	 * stream over TCP, both on ha.address's port) is authenticated with the "ha" key ring,
	 * which the two nodes of a pair share. */
	struct rc_ha_conf ha;         /* the HA pair (keys ha.*) */

	/* relay { }: node-to-node traffic of rooms hosted elsewhere (control/node/relay_conf.c) */
	struct rc_relay_conf relay;
};

/* The secret of the cluster pair (ours, cluster) in c->relay.intercluster, or NULL. */
const struct rc_relay_secret *rc_config_intercluster(const struct rc_config *c,
						     const char *cluster);

/* Only the key rings of the file at path (loaded and validated whole, as rc_config_load):
 * for a live reload. 0, -EINVAL (message in err) or -errno. rings are wiped on failure. */
int rc_config_load_keys(const char *path, struct rc_keyring rings[RC_KEY_PURPOSE_MAX],
			char *err, size_t errlen);

/* Fill c with every default (no file). */
void rc_config_defaults(struct rc_config *c);

/* Parse and validate path into c (defaults first). Returns 0, or -EINVAL with a message
 * "PATH:LINE: KEY: problem" in err (or -errno when the file cannot be read). */
int rc_config_load(const char *path, struct rc_config *c, char *err, size_t errlen);

/* Every @include of the libconfig file at path (and of the files it includes) names a
 * regular file or nothing, include_dir being libconfig's include directory (NULL: none): run
 * before libconfig reads a file, which exit()s the process on an include it cannot read as
 * a file (a directory). 0, or -EINVAL with "FILE:LINE: @include "NAME": PATH is not a regular
 * file" in err (config_include.c). */
int rc_config_includes_ok(const char *path, const char *include_dir, char *err, size_t errlen);

/* Only the admin socket path of the file at path (node.admin_socket, else the default derived
 * from node.id), without validating the rest and without reading the secret: for roomcastctl,
 * which may run as a non-root member of admin_group. 0, -EINVAL (syntax) or -errno. */
int rc_config_admin_socket(const char *path, char *out, size_t cap, char *err, size_t errlen);

#endif /* RC_CONFIG_H */
