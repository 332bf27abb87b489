/* SPDX-License-Identifier: MIT */
/*
 * The cluster state: what every node of every cluster agrees on, and what the operator edits
 * with roomcastctl. Pure data and rules: no network, no DPDK, no database connection.
 *
 *   clusters[]               named; at most RC_CL_MAX_GROUPS groups each
 *     groups[]               presence redundancy groups: name, ha on/off, assignment mode
 *       nodes[1..2]          id, management address, VIP, dataplane port, chat UDP port,
 *                            database, TC state
 *   chat                     persistent chat settings (one set for the whole state)
 *   databases[]              external databases (PostgreSQL only); passwords stay in files
 *   merge_jobs[]             database merge jobs and their progress
 *
 * Every change goes through a mutation below: it works on a copy, validates the whole copy
 * (rc_cluster_validate), and only then replaces the state, with version + 1, origin = the
 * node that made the change and updated_ms = now. A refused change leaves the state as it
 * was and says why in err. Replication is by whole state: a node sends rc_cluster_to_json(),
 * the receiver rc_cluster_from_json()s it (which validates) and keeps it when
 * rc_cluster_newer() says so (higher version; on equal versions the higher origin id, then
 * the content, so both nodes pick the same winner after concurrent edits).
 *
 * Databases are assigned per node. `db assign NAME --group G` (rc_cluster_db_assign) assigns
 * one database to both nodes of G; a per-node assignment (rc_cluster_db_assign_node) exists
 * only for groups with high availability off: the state before a merge, when each node had
 * its own database. Rules: a group with high availability on has both nodes on the same
 * database (or none); several groups may share one (rooms are told apart by their service).
 *
 * Errors: 0 or -errno; the text goes to err (at most errlen bytes, always terminated when
 * errlen > 0). Rule violations are -EINVAL, unknown objects -ENOENT, an object that already
 * exists -EEXIST, a state that forbids the change (assigned, running) -EBUSY, full tables
 * -ENOSPC. Validation messages read "KEY: problem" where KEY is the path in the JSON form,
 * e.g. "clusters[0].groups[1].nodes[0].vip: 198.18.0.1 is also the vip of node n1".
 *
 * Threads: none of this is thread-safe; a struct rc_cluster belongs to one thread at a time
 * (roomcastd: the control thread). Functions that only read take a const pointer and may run
 * concurrently with each other on the same state. A struct rc_cluster is about 60 KB (fixed
 * tables, no pointers: copy it with =, memcpy); mutations allocate one copy on the heap.
 */
#ifndef RC_CLUSTER_H
#define RC_CLUSTER_H

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_CL_NAME_MAX 64      /* names and ids: 1..63 bytes of [A-Za-z0-9._-] */
#define RC_CL_MAX_CLUSTERS 8   /* joined clusters (intercluster) */
#define RC_CL_MAX_GROUPS 3     /* per cluster (at most 6 nodes per cluster) */
#define RC_CL_GROUP_NODES 2    /* a pair; a group of one node has high availability off */
#define RC_CL_MAX_DBS 32
#define RC_CL_MAX_ADMINS 32
#define RC_CL_USER_MAX 65      /* a chat user name: 1..64 bytes */
#define RC_CL_MAX_MERGES 32
#define RC_CL_FORMAT 1         /* "format" of the JSON form */
/* Versions stay below 2^53 (exact in every JSON reader, far from overflow): a change at the
 * limit is refused, and so is a state that claims more, so the stored state always loads. */
#define RC_CL_VERSION_MAX (1ULL << 53)
/* A pushed state more than this many versions ahead of ours is refused: a peer does not
 * make a million changes between two pushes, and a jump to the limit would wedge the
 * cluster (no change possible after it). */
#define RC_CL_VERSION_JUMP_MAX 1000000ULL

enum rc_cl_assign {
	RC_CL_ASSIGN_BALANCED = 0,   /* users spread over both nodes of the pair */
	RC_CL_ASSIGN_ACTIVE_STANDBY, /* users on the first node; the second is the standby */
	RC_CL_ASSIGN_NONE,           /* no automatic assignment */
	RC_CL_ASSIGN_MAX
};

enum rc_cl_svc_state {
	RC_CL_SVC_STOPPED = 0,
	RC_CL_SVC_STARTED,
	RC_CL_SVC_MAX
};

/*
 * A merge job's life:  created -> validated | validation-failed   (validate)
 *                      validation-failed -> validated | validation-failed
 *                      validated -> validated | validation-failed (validate again)
 *                      validated -> running (optional) -> done | failed   (merge)
 *                      running -> running (progress) | validation-failed (re-check failed)
 *                      failed -> validated | validation-failed    (validate again)
 *                      done: final
 */
enum rc_cl_merge_state {
	RC_CL_MERGE_CREATED = 0,
	RC_CL_MERGE_VALIDATED,
	RC_CL_MERGE_VALIDATION_FAILED,
	RC_CL_MERGE_RUNNING,
	RC_CL_MERGE_DONE,
	RC_CL_MERGE_FAILED,
	RC_CL_MERGE_STATE_MAX
};

/* The tables a merge copies (the order of storage/merge.h's enum rc_merge_table). */
enum rc_cl_table {
	RC_CL_TABLE_ROOMS = 0,
	RC_CL_TABLE_MEMBERS,
	RC_CL_TABLE_MESSAGES,
	RC_CL_TABLE_DRAIN_ALARMS,
	RC_CL_TABLE_DRAIN_STATE,
	RC_CL_TABLE_MAX
};

struct rc_cl_node {
	char id[RC_CL_NAME_MAX];
	char mgmt[64];            /* "IPV4:PORT" of the node's management server */
	struct in_addr vip;       /* the service address its users talk to */
	char port[32];            /* dataplane port name (rc_port_conf.name); default "chat0" */
	uint16_t udp_port;        /* its chat port (node.udp_port): the relay's too; 6420 */
	char db[RC_CL_NAME_MAX];  /* assigned database name, "" = none */
	enum rc_cl_svc_state tc;  /* text conference service; default started */
};

struct rc_cl_group {
	char name[RC_CL_NAME_MAX];  /* unique over all clusters */
	bool ha;                    /* "enable high availability"; default off */
	enum rc_cl_assign assign;   /* default balanced */
	unsigned n_nodes;           /* 1..2; 2 when ha */
	struct rc_cl_node nodes[RC_CL_GROUP_NODES];
};

struct rc_cl_cluster {
	char name[RC_CL_NAME_MAX];
	unsigned n_groups; /* 1..RC_CL_MAX_GROUPS */
	struct rc_cl_group groups[RC_CL_MAX_GROUPS];
};

/* Persistent chat settings, the same on every node. A node applies them over its chat { }
 * limits: max_rooms -> max_rooms, default_max_occupants -> max_members, messages_on_join ->
 * history_on_join, max_archive_query -> max_fetch. */
struct rc_cl_chat {
	bool enabled;                    /* persistent chat rooms; default true */
	unsigned max_rooms;              /* 1..16777216; default 10000 */
	unsigned default_max_occupants;  /* 1..65535; default 1000 */
	unsigned messages_on_join;       /* 0..1000 and <= max_archive_query; default 20 */
	unsigned max_archive_query;      /* 1..1000; default 200 */
	bool admins_only_create;         /* only admin_users create rooms; default false */
	bool members_only_default;       /* new rooms are members-only; default false */
	unsigned n_admins;
	char admins[RC_CL_MAX_ADMINS][RC_CL_USER_MAX]; /* admin user names, unique */
};

#define RC_CL_DB_MAX_HOSTS 8

struct rc_cl_db {
	char name[RC_CL_NAME_MAX];
	char type[16];           /* "postgresql" (the only type supported) */
	char host[256];          /* host name, IP address, or a UNIX socket directory; or
				  * several, comma-separated (a replicated database: the node
				  * connects to whichever is read-write, libpq's multi-host
				  * conninfo), at most RC_CL_DB_MAX_HOSTS */
	uint16_t port;           /* default 5432; of every host, unless ports is set */
	char ports[64];          /* "" or one port per host, comma-separated ("5432,5433") */
	char dbname[64];
	char user[64];
	char password_file[256]; /* absolute path, or "" (no password); never the password */
	char sslmode[16];        /* libpq sslmode, or "" (libpq's default) */
	char sslrootcert[256];   /* the CA file (absolute path), or "": verify-* need one */
};

struct rc_cl_counts {
	uint64_t source_a, source_b, target; /* rows in sources[0], sources[1], the target */
};

struct rc_cl_merge {
	uint32_t id;                              /* >= 1, never reused */
	char group[RC_CL_NAME_MAX];
	char sources[2][RC_CL_NAME_MAX];          /* database names */
	char target[RC_CL_NAME_MAX];
	enum rc_cl_merge_state state;
	uint64_t created_ms, updated_ms;          /* wall clock, ms since the epoch */
	struct rc_cl_counts tables[RC_CL_TABLE_MAX];
	uint64_t conflicts;                       /* rows that clashed (e.g. a room in both) */
	uint64_t renumbered;                      /* rows given new ids to resolve clashes */
	char error[256];                          /* why validation or the merge failed */
};

struct rc_cluster {
	uint64_t version;               /* 0 = empty; + 1 per change */
	char origin[RC_CL_NAME_MAX];    /* node that made the last change; "" = seed / empty */
	uint64_t updated_ms;
	unsigned n_clusters;
	struct rc_cl_cluster clusters[RC_CL_MAX_CLUSTERS];
	struct rc_cl_chat chat;
	unsigned n_dbs;
	struct rc_cl_db dbs[RC_CL_MAX_DBS];
	unsigned n_merges;
	struct rc_cl_merge merges[RC_CL_MAX_MERGES];
	uint32_t next_merge_id;         /* >= 1 */
};

/* ---- names of the enums (string tables checked complete by the unit test) ---- */

/* "balanced", "active-standby", "none"; "stopped", "started"; "created", "validated",
 * "validation-failed", "running", "done", "failed"; "rooms", "members", "messages",
 * "drain_alarms", "drain_state".
 * NULL when out of range. Parsers accept '_' for '-' and return -1 when unknown. */
const char *rc_cl_assign_name(enum rc_cl_assign a);
int rc_cl_assign_parse(const char *s);
const char *rc_cl_svc_name(enum rc_cl_svc_state s);
int rc_cl_svc_parse(const char *s);
const char *rc_cl_merge_state_name(enum rc_cl_merge_state s);
int rc_cl_merge_state_parse(const char *s);
const char *rc_cl_table_name(enum rc_cl_table t);

/* ---- whole state ---- */

/* Empty (no clusters, no databases, default chat settings), version 0. */
void rc_cluster_init_empty(struct rc_cluster *c);

/* Every rule (see the file header and rc_cluster_validate's list in cluster.c). 0 or -EINVAL
 * with "KEY: problem". */
int rc_cluster_validate(const struct rc_cluster *c, char *err, size_t errlen);

/* Is a newer than b: a higher version; on equal versions the higher origin (strcmp), then
 * the higher canonical JSON (strcmp), so two nodes always agree. False when equal. */
bool rc_cluster_newer(const struct rc_cluster *a, const struct rc_cluster *b);

/* May a state pushed by a peer (theirs) replace ours: false (why in err) when its version
 * is more than RC_CL_VERSION_JUMP_MAX ahead of ours. */
bool rc_cluster_jump_ok(const struct rc_cluster *ours, const struct rc_cluster *theirs,
			char *err, size_t errlen);

/* The libconfig seed file (configs/cluster-example.conf): clusters, chat, databases. Version
 * 1, origin "". Password files are not opened here. 0, -EINVAL with "FILE:LINE: KEY: problem"
 * ("FILE: KEY: problem" when no line applies), or -errno when the file cannot be read. */
int rc_cluster_load_seed(const char *path, struct rc_cluster *c, char *err, size_t errlen);

/* The JSON form (every field; see configs/cluster-example.conf for their meaning, plus
 * format, version, origin, updated_ms, next_merge_id, merge_jobs and each node's tc).
 * to_json: a new reference, or NULL with errno = ENOMEM. from_json: parses strictly (an
 * unknown key is an error) and validates; c is written only on success. */
json_t *rc_cluster_to_json(const struct rc_cluster *c);
int rc_cluster_from_json(const json_t *j, struct rc_cluster *c, char *err, size_t errlen);

/* Atomic save: PATH.tmp in the same directory (mode 0640), fsync, rename over path, fsync
 * the directory. A crash leaves either the old or the new file; a stale PATH.tmp is never
 * read and is replaced by the next save. 0 or -errno ("PATH: problem"). */
int rc_cluster_save(const struct rc_cluster *c, const char *path, char *err, size_t errlen);

/* Read a saved state. -ENOENT when there is none (the caller seeds or starts empty),
 * -EINVAL ("PATH:LINE: syntax error: ..." or "PATH: KEY: problem"), or another -errno. */
int rc_cluster_load(const char *path, struct rc_cluster *c, char *err, size_t errlen);

/* ---- look-ups (NULL when not found; out-parameters may be NULL) ---- */

const struct rc_cl_node *rc_cluster_find_node(const struct rc_cluster *c, const char *id,
					      const struct rc_cl_group **group,
					      const struct rc_cl_cluster **cluster);
const struct rc_cl_group *rc_cluster_find_group(const struct rc_cluster *c, const char *name,
						const struct rc_cl_cluster **cluster);
const struct rc_cl_db *rc_cluster_find_db(const struct rc_cluster *c, const char *name);
const struct rc_cl_merge *rc_cluster_find_merge(const struct rc_cluster *c, uint32_t id);

/* The other node of id's group; NULL when id is unknown or alone in its group. */
const struct rc_cl_node *rc_cluster_peer_of(const struct rc_cluster *c, const char *id);

/* The home node of user (user_len bytes) in cluster (by name): the node the user logs in to.
 * Stable (the name and the cluster's groups alone decide), the same on every node. The group
 * is FNV-1a 64 of the name modulo the cluster's groups; in it, by the group's assignment:
 * balanced, one of its nodes by a second hash (users spread over both); active-standby, its
 * first node; none, NULL (no home: the user stays where he logs in). NULL also when the
 * cluster is unknown or empty. */
const struct rc_cl_node *rc_cluster_home_node(const struct rc_cluster *c, const char *cluster,
					      const char *user, size_t user_len);

/* Where a LOGIN of user that arrived at service address `arrived` (ours, or the HA peer's
 * while we serve it) on node self_id must go instead: the user's home node in self_id's
 * cluster when its VIP is not `arrived`; NULL when it is served here (no state, self_id not
 * in it, no home, or the home's VIP is `arrived`). */
const struct rc_cl_node *rc_cluster_login_redirect(const struct rc_cluster *c,
						   const char *self_id, const char *user,
						   size_t user_len, struct in_addr arrived);

/* The group's database when both nodes have the same one ("" = none), NULL when they
 * differ (per-node databases, high availability off). */
const char *rc_cluster_group_db(const struct rc_cl_group *g);

/* A libpq connection string for d, without the password (the caller reads password_file):
 * "host=H port=P dbname=D user=U" (values quoted when needed). snprintf-like. */
size_t rc_cluster_db_conninfo(const struct rc_cl_db *d, char *buf, size_t cap);

/* One of libpq's sslmode values (disable .. verify-full). */
bool rc_cluster_sslmode_ok(const char *mode);

/* "IPV4:PORT" -> address (network order). false when malformed. */
bool rc_cluster_parse_mgmt(const char *s, struct sockaddr_in *out);

/* The password file rules, for db add and for a check at any time: an absolute path to a
 * file the secure reader (secfile.h) accepts in secrets_dir (the node's node.secrets_dir:
 * inside it, owned by root or the daemon's user, mode 0600/0400, no link). 0 or -errno. */
int rc_cluster_check_password_file(const char *secrets_dir, const char *path, char *err,
				   size_t errlen);

/* ---- mutations: origin is the node id making the change ---- */

int rc_cluster_group_set_ha(struct rc_cluster *c, const char *origin, const char *group,
			    bool on, char *err, size_t errlen);
int rc_cluster_group_set_assign(struct rc_cluster *c, const char *origin, const char *group,
				const char *mode, char *err, size_t errlen);

/* key: enabled, max_rooms, default_max_occupants, messages_on_join, max_archive_query,
 * admins_only_create, admin_users (comma-separated, "" = none), members_only_default.
 * Booleans: true/false, on/off, yes/no, 1/0. */
int rc_cluster_chat_set(struct rc_cluster *c, const char *origin, const char *key,
			const char *value, char *err, size_t errlen);
extern const char *const rc_cluster_chat_keys[]; /* NULL-terminated */

/* type: "postgresql" (or "postgres", "pg", "pgsql", any case); any other type (Oracle, SQL
 * Server, ...) is refused with -EOPNOTSUPP and "database type \"oracle\" is not supported:
 * roomcast supports PostgreSQL only (type postgresql)". port 0 = 5432. password_file: "" (no
 * password) or an absolute path; the file itself is checked by the node's command against
 * its secrets directory (rc_cluster_check_password_file), and again by every node that
 * reads it. -EEXIST when the name is taken, -ENOSPC when the table is full. */
int rc_cluster_db_add(struct rc_cluster *c, const char *origin, const char *name,
		      const char *type, const char *host, unsigned port, const char *dbname,
		      const char *user, const char *password_file, char *err, size_t errlen);
/* TLS to database name: libpq's sslmode ("" = libpq's default) and the CA file sslrootcert
 * (absolute path, or ""); verify-ca and verify-full need sslrootcert. 0, -ENOENT, -EINVAL. */
int rc_cluster_db_set_tls(struct rc_cluster *c, const char *origin, const char *name,
			  const char *sslmode, const char *sslrootcert, char *err, size_t errlen);
/* The same with the port(s) as text: NULL or "" (5432), one port (of every host), or one
 * port per host of a comma-separated host list ("5432,5433" with host "a,b"). */
int rc_cluster_db_add_hosts(struct rc_cluster *c, const char *origin, const char *name,
			    const char *type, const char *host, const char *ports,
			    const char *dbname, const char *user, const char *password_file,
			    char *err, size_t errlen);
/* How many comma-separated items s holds, each non-empty and passing ok(); -1 when one
 * fails (or there are more than RC_CL_DB_MAX_HOSTS). For hosts and ports lists. */
int rc_cluster_list_count(const char *s, bool (*ok)(const char *item));
/* Refused (-EBUSY) while assigned to a node or named by an unfinished merge job. */
int rc_cluster_db_remove(struct rc_cluster *c, const char *origin, const char *name, char *err,
			 size_t errlen);
/* Both nodes of the group. Refused while a merge job of the group runs. */
int rc_cluster_db_assign(struct rc_cluster *c, const char *origin, const char *name,
			 const char *group, char *err, size_t errlen);
/* One node; only in a group with high availability off. */
int rc_cluster_db_assign_node(struct rc_cluster *c, const char *origin, const char *name,
			      const char *node, char *err, size_t errlen);
/* Clear the group's assignment (node == NULL: both nodes; else that node only). */
int rc_cluster_db_unassign(struct rc_cluster *c, const char *origin, const char *group,
			   const char *node, char *err, size_t errlen);

/* service: "tc". state: "started" / "stopped" (also "start" / "stop"). Starting TC on a node
 * whose group has a running merge job is refused. */
int rc_cluster_service_set(struct rc_cluster *c, const char *origin, const char *node,
			   const char *service, const char *state, char *err, size_t errlen);

/* A new job in state created; *id gets its id. group may be NULL or "": then it is the group
 * whose nodes have a source assigned. Sources distinct known databases; target a known
 * database other than both, not serving another group. */
int rc_cluster_merge_add(struct rc_cluster *c, const char *origin, const char *const sources[2],
			 const char *target, const char *group, uint32_t *id, char *err,
			 size_t errlen);

/* The configuration side of "validate": the job's group has its two nodes, each source is
 * assigned to one node of the group (one each), the target serves no other group, and TC is
 * stopped on both nodes. Read-only; the merge module adds its database checks and records
 * the outcome with rc_cluster_merge_update. 0 or -EINVAL/-ENOENT with the first problem. */
int rc_cluster_merge_check(const struct rc_cluster *c, uint32_t id, char *err, size_t errlen);

/* Progress of a job, recorded by the merge module. */
struct rc_cl_merge_progress {
	enum rc_cl_merge_state state;            /* a legal next state (see the diagram) */
	struct rc_cl_counts tables[RC_CL_TABLE_MAX];
	uint64_t conflicts, renumbered;
	const char *error;                       /* NULL keeps the text, "" clears it */
};
int rc_cluster_merge_update(struct rc_cluster *c, const char *origin, uint32_t id,
			    const struct rc_cl_merge_progress *p, char *err, size_t errlen);
/* Forget a job that is not running. */
int rc_cluster_merge_remove(struct rc_cluster *c, const char *origin, uint32_t id, char *err,
			    size_t errlen);

/* Replace clusters, chat settings and databases with those of seed (e.g. a re-read seed
 * file): TC states of nodes present in both are kept, merge jobs are kept (their groups must
 * still exist). Validated like any change. */
int rc_cluster_apply_seed(struct rc_cluster *c, const char *origin, const struct rc_cluster *seed,
			  char *err, size_t errlen);

/* ---- views for the CLI (new JSON references; NULL + errno: ENOENT or ENOMEM) ---- */

/* {version, origin, updated_ms, nodes: [{id, cluster, group, ha, assignment, mgmt, vip,
 * port, peer, database, tc}]} */
json_t *rc_cluster_describe_topology(const struct rc_cluster *c);
/* {name, cluster, ha, assignment, database (null when per node), nodes: [...], merge_jobs} */
json_t *rc_cluster_describe_group(const struct rc_cluster *c, const char *group);
json_t *rc_cluster_describe_chat(const struct rc_cluster *c);
/* {databases: [{name, type, host, port, dbname, user, password ("from FILE" | "none"),
 * group, nodes: [assigned node ids], merge_jobs: [ids]}]}: never a password */
json_t *rc_cluster_describe_dbs(const struct rc_cluster *c);
/* {merge_jobs: [{id, group, sources, target, state, updated_ms}]} */
json_t *rc_cluster_describe_merges(const struct rc_cluster *c);
/* One job with every field. */
json_t *rc_cluster_describe_merge(const struct rc_cluster *c, uint32_t id);

/* `verify ha` from what the nodes report (cluster_live.c). reports: an object, node id ->
 * that node's report (the document of /v1/ha: {node, tc: "started"|"stopped", rooms:
 * "served"|"tc stopped"|"chat disabled", database: the conninfo it uses without password
 * or "", ha: null without a pair, else {enabled, state, reason, peer, peer_heard,
 * critical_services, lease_database}}) or {error: why it did not answer}. The checks:
 * persistent chat enabled; per group, high availability on (both nodes report it on and
 * hear each other) and its database (both use the same one, their leases in it too); per
 * node, its TC service running and, in a
 * pair, its HA state Normal. Each failing check carries its fix. {ok, checks: [{check, ok,
 * detail, fix}]}, or NULL with errno = ENOMEM. */
json_t *rc_cluster_verify_live(const struct rc_cluster *c, const json_t *reports);

#endif /* RC_CLUSTER_H */
