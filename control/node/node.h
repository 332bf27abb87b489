/* SPDX-License-Identifier: MIT */
/*
 * One roomcast node: assembles the dataplane, the storage threads, the ports and the admin
 * API from a configuration, runs the control loop, and takes it all down again.
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

#include "config.h"
#include "dp.h"
#include "port.h"
#include "replay.h"

#define RC_PENDING_ROOMS 64 /* room creations waiting for their WAL commit */
#define RC_PENDING_JOINS 32 /* JOINs waiting for one room's creation */

struct rc_admin;
struct rc_drainer;
struct rc_cluster;
struct rc_syncer;
struct rc_mgmt;
struct rc_metrics_buf;
struct rc_history;
struct rc_wal;
struct rc_session;
struct rc_node_ha;

struct rc_pending_room {
	uint32_t id; /* 0: free slot */
	uint8_t name_len;
	char name[RC_MAX_ROOM + 1];
	char creator[RC_MAX_USER + 1];
	unsigned n_joins;
	struct rc_work *joins[RC_PENDING_JOINS];
};

/* LOGIN refusals by reason (stats control.login_refused, roomcast_login_refusals_total). */
enum rc_login_refusal {
	RC_LOGIN_BAD_TOKEN = 0,   /* ERROR 5: the MAC does not match (or a malformed token) */
	RC_LOGIN_TOKEN_EXPIRED,   /* ERROR 5: past its expiry */
	RC_LOGIN_TOO_MANY,        /* ERROR 10: max_sessions reached */
	RC_LOGIN_BUSY,            /* ERROR 9 (or dropped): the control thread's ring was full */
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

struct rc_node {
	struct rc_config cfg;
	struct rc_dp dp;
	struct rc_port ports[RC_MAX_PORTS];
	unsigned n_ports_up;
	struct rc_wal *wal;
	struct rc_history *hist;
	struct rc_drainer *drainer; /* NULL without an external database */
	char db_conninfo[768];      /* cfg's conninfo + password: never logged */
	struct rc_replay replay;
	struct rc_admin *admin;
	struct rc_mgmt *mgmt;       /* NULL without node.mgmt_address */
	struct rc_syncer *syncer;   /* pushes the cluster state to the other nodes */
	struct rc_cluster *cl;      /* the cluster state (control/cluster_node.h) */
	char cluster_path[300];     /* DATA_DIR/cluster.json */
	unsigned max_rooms;         /* the cluster's chat.max_rooms capped by the table size */
	bool running;               /* the threads are started */
	struct rte_ring *ctrl_done; /* WAL completions of room creations */
	struct rc_pending_room pending[RC_PENDING_ROOMS];
	/* room ids per scope (0 own, 1 the HA peer's): lo..hi, the next free one */
	uint32_t room_lo[2], room_hi[2], next_room_id[2];
	struct rc_node_ha *ha;      /* NULL without ha.enabled (control/node_ha.h) */
	uint64_t started_ms;
	uint64_t next_cleanup_ms;
	uint64_t conflicts_logged;  /* drain alarms already reported in the log */
	uint64_t dead_letters_logged; /* dead letters already reported in the log */
	bool encoding_logged;         /* "the database is not UTF8" reported in the log */
	uint64_t logins_ok, logins_failed, sessions_expired, rooms_created;
	uint64_t login_refused[RC_LOGIN_REFUSAL_MAX]; /* _BUSY: from the workers' stats */
	uint64_t logins_repeated; /* LOGINs answered with the session of the same LOGIN */
	struct rc_recent_login recent_logins[RC_RECENT_LOGINS];
	unsigned recent_login_next;
	uint64_t purges_dropped;   /* session purges not handed to a worker in time */
	uint64_t rooms_name_clash; /* HA: stored rooms not loaded (name taken by the peer's) */
	volatile sig_atomic_t stop;
};

/* Build everything after rte_eal_init(). 0, or -errno with a message in err. */
int rc_node_init(struct rc_node *n, const struct rc_config *cfg, char *err, size_t errlen);

/* Launch the workers and run the control loop until n->stop. */
int rc_node_run(struct rc_node *n);

/* Stop the workers, drain the WAL, free everything. */
void rc_node_fini(struct rc_node *n);

/* conninfo + " password='...'" (quoted for libpq) into out; password may be "". */
int rc_node_db_conninfo(struct rc_node *n, const char *conninfo, const char *password,
			char *out, size_t cap);

/* Drain to (and read history from) the database at conninfo from now on ("" = none):
 * restarts the drainer and the history thread's connection. */
int rc_node_db_switch(struct rc_node *n, const char *conninfo);

/* The Prometheus metrics (node_metrics.c): rc_metrics_fn for rc_mgmt_refresh_metrics. */
int rc_node_metrics(void *arg, struct rc_metrics_buf *b);

/* Load the stored rooms of a scope (0 own, 1 the HA peer's) from w into the room table and
 * warm the dedup tables. 0 or -errno (a stored room outside the scope's id range: -ERANGE). */
int rc_node_load_rooms(struct rc_node *n, struct rc_wal *w, unsigned scope);

/* The drainer / WAL settings from the configuration (one place for both scopes). */
struct rc_drainer_conf;
struct rc_wal_conf;
void rc_node_drainer_conf(const struct rc_node *n, const char *node_id, uint64_t epoch,
			  struct rc_drainer_conf *dc);
void rc_node_wal_conf(const struct rc_node *n, const char *dir, struct rc_wal_conf *wc);

/* Stop the own drainer, and start it again if it may run (HA: our lease is held; at its
 * epoch). 0 or -errno. */
int rc_node_drainer_restart(struct rc_node *n);

/* End a session (the workers drop it from their rooms). */
void rc_node_end_session(struct rc_node *n, struct rc_session *s);
/* The same without telling the HA peer (a handover: the peer keeps it). */
void rc_node_end_session_quiet(struct rc_node *n, struct rc_session *s);

/* The admin commands (status, room, user, stats): node_cmds.c. */
int rc_node_cmds_register(struct rc_node *n);

/* Every admin command roomcastd serves, registered on n->admin (rc_node_init). Registration
 * only keeps pointers and reads nothing of n, so rc_cmdlist lists the commands with an
 * otherwise zeroed node. 0 or -errno. */
int rc_node_admin_register(struct rc_node *n);

/* Dead letters of the drainers running here (ours, and the peer's scope while we serve
 * it): records set aside since they started, and the rows of those scopes in
 * drain_dead_letters (the alarm while above 0). Control thread (node_metrics.c). */
void rc_node_dead_letters(struct rc_node *n, uint64_t *set_aside, uint64_t *rows);

#endif /* RC_NODE_H */
