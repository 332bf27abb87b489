/* SPDX-License-Identifier: MIT */
/*
 * One roomcast node: assembles the dataplane, the scopes (control/scope: WAL, history,
 * drainer), the ports, the HA pair, the cluster state and the admin API from a
 * configuration, runs the control loop, and takes it all down again. Only the node wing
 * includes this header: the wings below receive handles, not struct rc_node.
 *
 * The control thread (the EAL main lcore) is the only writer of the room and session
 * tables. Its loop: admin requests, LOGIN / LOGOUT / room creation hand-offs from the
 * workers, room-creation completions from the WAL writer, the storage high-water flag,
 * session expiry. It sleeps in poll() (RCU-offline) between events: it never busy-polls.
 */
#ifndef RC_NODE_H
#define RC_NODE_H

#include <signal.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "cluster_node.h"
#include "ha_node.h"
#include "dp.h"
#include "port.h"
#include "relay.h"
#include "replay.h"
#include "scope.h"
#include "token_revoke.h"

#define RC_PENDING_ROOMS 64 /* room creations waiting for their WAL commit */
#define RC_PENDING_JOINS 32 /* JOINs waiting for one room's creation */

struct rc_admin;
struct rc_cluster_node;
struct rc_ha_node;
struct rc_metrics_buf;
struct rc_mgmt;
struct rc_room_dir;
struct rc_session;
struct rc_text;

/* Room creations per user (chat.room_create_per_min): a token bucket per user, in a fixed
 * table by the name's hash (a user that takes another's slot starts with a full bucket). */
#define RC_ROOM_RATE_SLOTS 1024

struct rc_room_rate {
	uint64_t stamp_ms; /* last refill; 0: free */
	uint64_t tokens;   /* in 1/60000 of a creation: refilled by room_create_per_min a ms */
	uint8_t user_len;
	char user[RC_MAX_USER];
};

struct rc_pending_room {
	uint32_t id; /* 0: free slot */
	uint8_t name_len;
	char name[RC_MAX_ROOM + 1];
	char creator[RC_MAX_USER + 1];
	unsigned n_joins;
	struct rc_work *joins[RC_PENDING_JOINS]; /* the items themselves: their req views stay */
};

/* LOGIN refusals by reason (stats control.login_refused, roomcast_login_refusals_total). */
enum rc_login_refusal {
	RC_LOGIN_BAD_TOKEN = 0,   /* ERROR 5: the MAC does not match (or a malformed token) */
	RC_LOGIN_TOKEN_EXPIRED,   /* ERROR 5: past its expiry */
	RC_LOGIN_TOO_MANY,        /* ERROR 10: max_sessions reached */
	RC_LOGIN_BUSY,            /* ERROR 9 (or dropped): the control thread's ring was full */
	RC_LOGIN_ADDRESS_LIMIT,   /* ERROR 10: chat.max_sessions_per_address reached */
	RC_LOGIN_TOKEN_REVOKED,   /* ERROR 5: issued before a revocation of its user or of all */
	RC_LOGIN_TOKEN_TOO_LONG,  /* ERROR 5: a lifetime above auth.token_ttl_max_s */
	RC_LOGIN_REFUSAL_MAX
};
const char *rc_login_refusal_name(unsigned reason);
struct rc_node;
/* Refusals of one reason so far (the workers' busy refusals included): node_cmds.c. */
uint64_t rc_node_login_refused(const struct rc_node *n, unsigned reason);

/* LOGINs answered recently: a repeated LOGIN (same user, address and request id) gets the
 * same session (PROTOCOL.md 7.1). */
#define RC_RECENT_LOGINS 1024
#define RC_LOGIN_REPEAT_MS 60000

struct rc_recent_login {
	uint64_t session; /* 0: free */
	uint64_t at_ms;
	uint32_t ip;      /* network order */
	uint16_t port;    /* network order */
	uint32_t request_id;
	uint8_t user_len;
	char user[RC_MAX_USER];
};

/* What rc_node_relay_dir left out of the directory, for the log. */
struct rc_relay_build {
	uint16_t port_idx;  /* our port toward the other nodes */
	char skipped[512];  /* "cluster c3 (no relay.intercluster secret), ..." or "" */
};

struct rc_node {
	struct rc_config cfg;
	struct rc_dp dp;
	struct rc_port ports[RC_MAX_PORTS];
	unsigned n_ports_up;
	struct rc_scopes scopes;    /* ours, and (HA) the peer's: control/scope/scope.h */
	struct rc_replay replay;
	struct rc_admin *admin;
	struct rc_revocations revoked; /* login tokens revoked (token_revoke.h) */
	struct rc_mgmt *mgmt;       /* NULL without node.mgmt_address */
	struct rc_cluster_node *cn; /* the cluster state here (control/cluster/cluster_node.h) */
	unsigned max_rooms;         /* the cluster's chat.max_rooms capped by the table size */
	/* remote rooms (dataplane/relay_rooms.h): their ids, above every scope's */
	uint32_t remote_hi, next_remote_id;
	struct rte_ring *ctrl_done; /* WAL completions of room creations */
	struct rc_bell ctrl_bell;   /* rung by the producers onto ctrl_done, dp.ctrl_ring and
				     * dp.login_ring: the control thread's wait ends */
	struct rc_pending_room pending[RC_PENDING_ROOMS];
	struct rc_room_rate room_rate[RC_ROOM_RATE_SLOTS];
	uint64_t rooms_refused_quota; /* JOINs refused: chat.max_rooms_per_user */
	uint64_t rooms_refused_rate;  /* JOINs refused: chat.room_create_per_min */
	struct rc_cluster_settings cluster_settings; /* the cluster wing's view of cfg */
	struct rc_ha_settings ha_settings; /* HA's view of cfg (its section, our identity) */
	struct rc_ha_node *ha;      /* NULL without ha.enabled (control/ha/ha_node.h) */
	uint64_t started_ms;
	uint64_t next_cleanup_ms;
	unsigned alarms_gen;        /* the own drainer the two below count for */
	uint64_t conflicts_logged;  /* drain alarms already reported in the log */
	uint64_t dead_letters_logged; /* dead letters already reported in the log */
	bool encoding_logged;         /* "the database is not UTF8" reported in the log */
	bool report_due;              /* the cluster state was applied: publish the report */
	uint64_t ha_changes;          /* rc_ha_node_changes when the report was published */
	int metrics_err;              /* the last /metrics snapshot's error (0: renewed) */
	uint64_t logins_ok, logins_failed, sessions_expired, rooms_created;
	uint64_t rooms_deleted, room_delete_failures; /* room delete: done; tombstone not stored */
	uint64_t login_refused[RC_LOGIN_REFUSAL_MAX]; /* _BUSY: from the workers' stats */
	uint64_t logins_repeated; /* LOGINs answered with the session of the same LOGIN */
	uint64_t sessions_replaced; /* ended by a LOGIN of their user from their address */
	uint64_t sessions_evicted;  /* ended (BYE) by a LOGIN beyond max_sessions_per_user */
	struct rc_recent_login recent_logins[RC_RECENT_LOGINS];
	unsigned recent_login_next;
	uint64_t logins_redirected; /* LOGINs answered REDIRECT: the user's home is another node */
	/* the relay (relay_conf.c): the directory last published, its log state, the loop's */
	struct rc_relay_dir *relay_dir;
	struct rc_room_dir *room_dir; /* the other nodes' rooms (room_dir.c); NULL until used */
	bool relay_off_logged;
	char relay_skipped[512];
	uint64_t relay_solicited_ms;
	uint32_t relay_neigh_gen[RC_RELAY_MAX_NODES];
	volatile sig_atomic_t stop;
};

/* The node's own scope (its rooms, WAL, history, drainer). */
static inline struct rc_scope *
rc_node_own(struct rc_node *n)
{
	return &n->scopes.sc[0];
}

/* Build everything after rte_eal_init(). 0, or -errno with a message in err. */
int rc_node_init(struct rc_node *n, const struct rc_config *cfg, char *err, size_t errlen);

/* Launch the workers and run the control loop until n->stop. */
int rc_node_run(struct rc_node *n);

/* Stop the workers, drain the WAL, free everything. */
void rc_node_fini(struct rc_node *n);

/* conninfo + " password='...'" (quoted for libpq) into out; password may be "". */
int rc_node_db_conninfo(struct rc_node *n, const char *conninfo, const char *password,
			char *out, size_t cap);

/* What this node reports of itself for `verify ha` (node_report.c; rc_cluster_report_fn,
 * arg: the node): a new reference, or NULL. Published as /v1/ha every second, after each
 * change of the cluster state (report_due) and of the HA states (rc_ha_node_changes). */
json_t *rc_node_report(void *arg);
void rc_node_publish_report(struct rc_node *n);

/* The Prometheus metrics (node_metrics.c): rc_metrics_fn for rc_mgmt_refresh_metrics. */
int rc_node_metrics(void *arg, struct rc_metrics_buf *b);

/* ---- the control thread's half of the chat protocol (sessions.c, rooms.c) ---- */

/* Answer a worker's hand-off (from its RX worker, to its client); an ERROR with code, the
 * request type ref and text, cut to `limit` bytes when not 0 (before a login: no reply
 * larger than the request). */
void rc_node_reply(struct rc_node *n, const struct rc_who *who, struct rc_msg *m);
void rc_node_reply_error(struct rc_node *n, const struct rc_who *who, unsigned code,
			 unsigned ref, const char *text, size_t limit);
/* LOGIN and LOGOUT hand-offs. */
void rc_node_login(struct rc_node *n, struct rc_work *wk);
void rc_node_logout(struct rc_node *n, struct rc_work *wk);
/* End a session (the HA peer is told; the workers drop it from their rooms). */
void rc_node_end_session(struct rc_node *n, struct rc_session *s);
/* End the sessions idle for longer than session_idle_s. */
void rc_node_expire_sessions(struct rc_node *n);

/* A JOIN for a room that did not exist when a worker looked, or a request that followed
 * such a JOIN in the same datagram: it runs after the creation, in the order received.
 * true when the work item was handed on (the caller must not free it). */
bool rc_node_create_room(struct rc_node *n, struct rc_work *wk);
/* A room record's WAL completion: the room into the table, its waiting requests to its
 * home worker. */
void rc_node_room_created(struct rc_node *n, struct rc_wal_rec *rec);
/* Archive (on) or unarchive a room this node hosts and serves: the table refuses its POSTs
 * at once, and a state record goes to its scope's WAL (kept across restarts, streamed to
 * the HA peer); its completion comes back through rc_node_room_created. 0; -EXDEV a remote
 * room (archived on its host); -EBUSY the WAL ring or pool is full (nothing changed); err
 * says why. Control thread. */
int rc_node_room_archive(struct rc_node *n, struct rc_room *r, bool on, char *err,
			 size_t errlen);
/* Delete a room this node hosts and serves: it leaves the table at once (its members lose
 * it; a JOIN of its name creates a new room), and a tombstone goes to its scope's WAL (kept
 * across restarts, streamed to the HA peer, its database rows deleted as it drains); its id
 * is reused once the WAL has trimmed past the tombstone. 0; -EXDEV a remote room; -EAGAIN
 * its scope is not served here now; -EBUSY the WAL ring or pool is full (nothing changed).
 * Control thread. */
int rc_node_room_delete(struct rc_node *n, struct rc_room *r, char *err, size_t errlen);
/* ROOMS: answer ROOM_LIST (MORE between datagrams) with the rooms whose name starts with the
 * request's prefix, sorted by name: to a client, those of the whole cluster (ours and the
 * room directory's); to another node (relayed), those this node hosts. */
void rc_node_list_rooms(struct rc_node *n, struct rc_work *wk);

/* ---- the cluster's room directory (room_dir.c), control thread ---- */

/* Every 2 s: ask each node of the relay directory for the rooms it hosts (node-level ROOMS). */
void rc_room_dir_poll(struct rc_node *n, uint64_t now_ms);
/* A node's ROOM_LIST answering that (RC_WORK_ROOM_DIR): its list, once complete. */
void rc_room_dir_heard(struct rc_node *n, struct rc_work *wk);
/* Up to cap rooms of the directory (nodes heard within 6 s) starting with prefix, into out;
 * the views stay valid until the next rc_room_dir_heard. How many. */
unsigned rc_room_dir_pick(struct rc_node *n, const struct rc_str *prefix,
			  struct rc_room_entry *out, unsigned cap);
/* Rooms in the directory (an upper bound of what rc_room_dir_pick gives). */
unsigned rc_room_dir_count(const struct rc_node *n);
void rc_room_dir_free(struct rc_node *n);

/* ---- the relay between nodes (relay_conf.c) ---- */

/* The directory from cfg and the cluster state cl (NULL: none): our services, every other
 * node with its service, VIP, chat port and pair key (relay.secret_file in our cluster,
 * relay.intercluster across; none without relay.secret_file), the HA peer even without a
 * state. b gets what was left out. 0, or -ENAMETOOLONG (our service name). Pure. */
int rc_node_relay_dir(const struct rc_config *cfg, const struct rc_cluster *cl,
		      struct rc_relay_dir *dir, struct rc_relay_build *b);
/* Build and publish the directory (at start, on every change of the cluster state). 0, or
 * -errno (logged). */
int rc_node_relay_publish(struct rc_node *n, const struct rc_cluster *cl);
/* Control loop: ARP requests for the unresolved nodes (every second), the remote rooms'
 * interest refresh (every relay.refresh_ms, at once for a host whose MAC changed). */
void rc_node_relay_tick(struct rc_node *n, uint64_t now_ms);
/* `relay status` (relay_cmds.c). */
int rc_node_relay_cmds_register(struct rc_node *n);
/* keys show|reload, token revoke|revocations (keys_cmds.c). 0 or -errno. */
int rc_node_keys_cmds_register(struct rc_node *n);
/* Rooms of kind RC_ROOM_REMOTE in the table. */
unsigned rc_node_remote_rooms(struct rc_node *n);
/* The workers' relay counters summed, as JSON (a new reference); their text into t unless
 * NULL (`stats`, `relay status`). */
json_t *rc_node_relay_counters(struct rc_node *n, struct rc_text *t);
/* The roomcast_relay_* metrics. */
void rc_node_relay_metrics(struct rc_node *n, struct rc_metrics_buf *b);

/* The admin commands (status, room, user, stats): node_cmds.c. */
int rc_node_cmds_register(struct rc_node *n);

/* Every admin command roomcastd serves, registered on n->admin (rc_node_init). Registration
 * only keeps pointers and reads nothing of n, so rc_cmdlist lists the commands with an
 * otherwise zeroed node. 0 or -errno. */
int rc_node_admin_register(struct rc_node *n);

#endif /* RC_NODE_H */
