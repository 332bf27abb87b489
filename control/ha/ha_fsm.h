/* SPDX-License-Identifier: MIT */
/*
 * The high-availability state machine of one node of a presence redundancy group (pair A, B).
 * Pure: no I/O, no clock, no logging, no allocation. The caller (the control thread) feeds
 * events, performs the actions returned, and logs each transition once: "ha: Normal -> Taking
 * Over (Peer Down) on peer-dead: lease-peer,announce" (rc_ha_step_format). Every behaviour is an
 * action of the table: the caller tests actions, never states or events. JSON for `ha status`
 * and the table in words are in ha_fsm_print.h.
 *
 * Both nodes run the same table. Each node is the PRIMARY of its own rooms and users ("own")
 * and the BACKUP of its peer's ("peer"); a state says what the node does with both sets:
 *
 *   state                         own rooms                  the peer's rooms
 *   Initializing                  acquiring the lease        -
 *   Normal                        served                     -
 *   Running in Backup Mode        served                     served
 *   Taking Over                   served                     lease, then loading, served
 *   Failing Over                  handed over (not acked)    handed back (not acked)
 *   Failed Over                   the peer serves them       -        (healthy again)
 *   Failed Over with CSNR         the peer serves them       -        (critical service down)
 *   Idle                          the peer serves them       -        (`ha failover NODE`)
 *   Taking Back                   lease, then reloading      -
 *   Falling Back                  served                     handed back (not acked)
 *   Running in Failed Mode        served if it was           -        (waits for `ha recover`)
 *   Unknown                       served (HA off)            -
 *
 * The failover and fallback of node A's rooms; B is A's backup (the full table, and both use
 * cases of MISSION.md as event sequences, are in control/ha/HA.md):
 *
 *   node A                                          node B
 *   Initializing --local-critical-up, lease-won-->  Normal <----------------------------+
 *   Normal                                            |                                 |
 *     | local-critical-down (or admin-failover)       |                                 |
 *     v                                               |                                 |
 *   Failing Over - - - - - - - - - - - - peer-state ->|                                 |
 *     | release-done                                  v                                 |
 *     v                                             Taking Over                         |
 *   Failed Over with CSNR (or Idle) - - peer-state -> | lease-peer, lease-won,          |
 *     | local-critical-up, db-up                      | start-takeover, takeover-done   |
 *     v                                               v                                 |
 *   Failed Over                                     Running in Backup Mode              |
 *     | admin-fallback (or healthy-period, auto)      |                                 |
 *     v                                               |                                 |
 *   Taking Back  - - - - - - - - - - - - peer-state ->| unload-peer                     |
 *     | peer-state Normal <- - - - - - - - - - - - -  v                                 |
 *     | lease-own, lease-won,                       Falling Back --fallback-done--------+
 *     | take-back, fallback-done
 *     v
 *   Normal
 *
 *   any state --lease-lost--> fence --> Failed Over with CSNR (Database Failure)
 *   Taking Over --takeover-failed--> Running in Failed Mode --admin-recover--> Initializing
 *   any state --ha-disabled--> Unknown --ha-enabled--> Initializing
 *   Unknown --peer-dead--> take-users (the peer's VIP and users, not its rooms)
 *   Unknown --peer-up--> give-users
 *
 * Split brain: a node serves a set of rooms only while it holds that set's lease (PostgreSQL,
 * storage/lease.h). RELOAD_OWN and TAKE_BACK answer only an own lease won, START_TAKEOVER only
 * a peer lease won, LEASE_LOST always fences, and a node holds no lease it does not serve. Heartbeats
 * (PEER_*) only decide when to TRY; the lease decides who wins. The unit test checks this over
 * every reachable world of one node against any peer, and over all short event sequences of
 * two nodes sharing the leases.
 *
 * Contract of rc_ha_fsm_event:
 *   - PEER_STATE (every heartbeat) and PEER_DEAD (every tick while the peer is silent) are
 *     levels: the machine acts on them only when something is new since the last one it
 *     evaluated (the peer's state or reason, its liveness, or our own state). Feed them
 *     freely. A move made on such news is not re-evaluated in the new state.
 *   - Operations whose answer is awaited (LEASE_OWN, LEASE_PEER, START_TAKEOVER, TAKE_BACK,
 *     and RELEASE, UNLOAD_PEER where a state waits for them) get an id, rc_ha_step.op. The
 *     answer must carry it in rc_ha_event_data.op; any other answer is stale and ignored. At
 *     most one operation is awaited; a newer one, FENCE, RELEASE (own lease, reload) or
 *     UNLOAD_PEER (peer lease, takeover) ends it, and so does leaving for a state that does
 *     not read its answer.
 *   - LEASE_LOST also marks the database down: deliver DB_UP when it answers again.
 *   - ANNOUNCE is added to every step that changes the state or the reason.
 *
 * Threads: none of this is thread-safe. A struct rc_ha_fsm belongs to the control thread;
 * const functions may run concurrently with each other. States and reasons go on the wire in
 * heartbeats (control/ha/heartbeat.h), events in the administrator's relay to the peer
 * (control/ha/ha_node_scope.c): append only, before _MAX. Action bits never leave the node:
 * their order is the order of execution.
 */
#ifndef RC_HA_FSM_H
#define RC_HA_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rc_ha_state {
	RC_HA_INITIALIZING = 0,
	RC_HA_NORMAL,
	RC_HA_BACKUP, /* Running in Backup Mode */
	RC_HA_TAKING_OVER,
	RC_HA_FAILING_OVER,
	RC_HA_FAILED_OVER,
	RC_HA_FAILED_OVER_CSNR, /* Failed Over with Critical Services Not Running */
	RC_HA_TAKING_BACK,
	RC_HA_FALLING_BACK,
	RC_HA_IDLE,
	RC_HA_FAILED_MODE, /* Running in Failed Mode */
	RC_HA_UNKNOWN,
	RC_HA_STATE_MAX
};

enum rc_ha_reason {
	RC_HA_REASON_NORMAL = 0, /* normal operation */
	RC_HA_REASON_ADMIN,	 /* On Admin Request */
	RC_HA_REASON_INITIALIZATION,
	RC_HA_REASON_CRITICAL_SERVICE_DOWN,
	RC_HA_REASON_DATABASE_FAILURE,
	RC_HA_REASON_PEER_DOWN,
	RC_HA_REASON_PEER_REBOOT,
	RC_HA_REASON_START_CRITICAL_FAILED, /* Start of Critical Services Failed */
	RC_HA_REASON_TAKEOVER_FAILED,	    /* Take Over Users Failed */
	RC_HA_REASON_TAKEBACK_FAILED,	    /* Take Back Users Failed */
	RC_HA_REASON_AUTO_FALLBACK,	    /* Automatic Fallback */
	RC_HA_REASON_AUTO_RECOVER_CRITICAL, /* Auto Recover (critical service) */
	RC_HA_REASON_AUTO_RECOVER_DATABASE, /* Auto Recover (database) */
	RC_HA_REASON_HA_NOT_ENABLED,	    /* High Availability Not Enabled */
	RC_HA_REASON_MAX
};

/* Events are named after what happened. Sources are listed in HA.md. */
enum rc_ha_event {
	RC_HA_EV_HA_ENABLED = 0,      /* configuration: high availability turned on */
	RC_HA_EV_HA_DISABLED,	      /* configuration: high availability turned off */
	RC_HA_EV_PEER_UP,	      /* heartbeats from the peer resumed (or first heard) */
	RC_HA_EV_PEER_DEAD,	      /* no heartbeat for the dead time; repeat every tick */
	RC_HA_EV_PEER_REBOOTED,	      /* the peer's boot id changed */
	RC_HA_EV_PEER_STATE,	      /* a heartbeat: data = the peer's state and reason */
	RC_HA_EV_LOCAL_CRITICAL_DOWN, /* a critical service failed (TC, workers, WAL writer) */
	RC_HA_EV_LOCAL_CRITICAL_UP,   /* all critical services are running */
	RC_HA_EV_DB_DOWN,	      /* the group's PostgreSQL became unreachable */
	RC_HA_EV_DB_UP,		      /* ... reachable again */
	RC_HA_EV_LEASE_WON,	      /* answer to LEASE_OWN / LEASE_PEER (data.op) */
	RC_HA_EV_LEASE_LOST,	      /* a held lease cannot be renewed: fence now */
	RC_HA_EV_LEASE_REFUSED,	      /* answer: the peer holds it and keeps renewing it */
	RC_HA_EV_TAKEOVER_DONE,	      /* answer to START_TAKEOVER */
	RC_HA_EV_TAKEOVER_FAILED,     /* answer to START_TAKEOVER */
	RC_HA_EV_RELEASE_DONE,	      /* answer to RELEASE: own rooms and users handed over */
	RC_HA_EV_ADMIN_FAILOVER,      /* `ha failover NODE`, delivered to NODE */
	RC_HA_EV_ADMIN_FALLBACK,      /* `ha fallback GROUP`, delivered to the failed-over node */
	RC_HA_EV_ADMIN_RECOVER,	      /* `ha recover NODE` */
	RC_HA_EV_FALLBACK_DONE,	      /* answer to UNLOAD_PEER or RELOAD_OWN */
	RC_HA_EV_FALLBACK_FAILED,     /* idem, failed */
	RC_HA_EV_HEALTHY_PERIOD,      /* Failed Over and healthy for the auto-fallback period */
	RC_HA_EV_MAX
};

/* Actions, as bit numbers of rc_ha_step.actions. Perform them in this (bit) order. */
enum rc_ha_action {
	RC_HA_ACT_FENCE = 0,	  /* stop acking everything now; drop VIPs; stop renewing */
	RC_HA_ACT_RELEASE,	  /* own rooms: stop acking now, hand over, release the lease */
	RC_HA_ACT_UNLOAD_PEER,	  /* peer's rooms: stop acking now, hand back, release the lease */
	RC_HA_ACT_GIVE_USERS,	  /* HA off: the peer's address and users taken below, given back */
	RC_HA_ACT_LEASE_OWN,	  /* acquire the lease on our own rooms (epoch + 1) */
	RC_HA_ACT_LEASE_PEER,	  /* acquire the lease on the peer's rooms (epoch + 1) */
	RC_HA_ACT_RELOAD_OWN,	  /* load and serve our own rooms, VIP and users (at start) */
	RC_HA_ACT_TAKE_BACK,	  /* the same as the end of a fallback: answered, RESUME fallback */
	RC_HA_ACT_START_TAKEOVER, /* load and serve the peer's rooms, VIP, users, WAL records */
	RC_HA_ACT_TAKE_USERS,	  /* HA off: the peer's VIP and users only; its rooms unavailable */
	RC_HA_ACT_ANNOUNCE,	  /* send a heartbeat with the new state now */
	RC_HA_ACT_ALARM,	  /* raise an operator alarm */
	RC_HA_ACT_MAX
};
#define RC_HA_ACT(a) (1u << (a))

/* The operation whose answer the machine waits for (at most one at a time). */
enum rc_ha_await {
	RC_HA_AWAIT_NONE = 0,
	RC_HA_AWAIT_LEASE_OWN,	/* lease-won / lease-refused */
	RC_HA_AWAIT_LEASE_PEER, /* lease-won / lease-refused */
	RC_HA_AWAIT_TAKEOVER,	/* takeover-done / takeover-failed */
	RC_HA_AWAIT_RELEASE,	/* release-done */
	RC_HA_AWAIT_UNLOAD,	/* fallback-done / fallback-failed */
	RC_HA_AWAIT_RELOAD,	/* take-back: fallback-done / fallback-failed */
	RC_HA_AWAIT_MAX
};

/* What the caller did with an event. */
enum rc_ha_result {
	RC_HA_RES_IGNORED = 0, /* nothing to do in this state */
	RC_HA_RES_REPEAT,      /* PEER_STATE / PEER_DEAD with nothing new since the last one */
	RC_HA_RES_STALE,       /* an answer to an operation the machine no longer waits for */
	RC_HA_RES_ACTIONS,     /* same state and reason, actions to perform */
	RC_HA_RES_TRANSITION,  /* state or reason changed (log it) */
	RC_HA_RES_INVALID,     /* not allowed in this state (counted; log it) */
	RC_HA_RES_MAX
};

/* Bits of rc_ha_fsm.serving and .lease_want */
#define RC_HA_OWN  1u
#define RC_HA_PEER 2u

#define RC_HA_HISTORY		       16
#define RC_HA_AUTO_FALLBACK_MS_DEFAULT (30ULL * 60 * 1000)

struct rc_ha_event_data {
	enum rc_ha_state peer_state;   /* PEER_STATE */
	enum rc_ha_reason peer_reason; /* PEER_STATE */
	uint32_t op;		       /* answers: rc_ha_step.op of the operation answered */
};

struct rc_ha_step {
	enum rc_ha_event event;
	enum rc_ha_result result;
	enum rc_ha_state from, to;
	enum rc_ha_reason from_reason, reason;
	uint32_t actions; /* RC_HA_ACT() bits; ANNOUNCE is added to every transition */
	uint32_t op;	  /* nonzero: id of the operation started here whose answer is awaited */
};

struct rc_ha_transition {
	uint64_t at_ms;
	uint8_t from, to, event, reason;
};

struct rc_ha_fsm {
	enum rc_ha_state state;
	enum rc_ha_reason reason;
	uint64_t since_ms; /* entered state at */
	/* the peer, as last heard */
	bool peer_alive, peer_known;
	bool peer_seen; /* the current peer news was evaluated in the current state */
	enum rc_ha_state peer_state;
	enum rc_ha_reason peer_reason;
	/* local health: critical services running, database reachable */
	bool critical_ok, db_ok;
	/* settings */
	bool auto_fallback;
	uint64_t auto_fallback_ms;
	/* what the actions so far ask the caller to serve and to hold (RC_HA_OWN | RC_HA_PEER) */
	uint32_t serving, lease_want;
	/* the operation awaited */
	enum rc_ha_await await;
	uint32_t await_op, op_seq;
	/* statistics */
	uint64_t events[RC_HA_EV_MAX], invalid[RC_HA_EV_MAX];
	uint64_t transitions, stale, repeats;
	struct rc_ha_transition history[RC_HA_HISTORY];
	unsigned history_len, history_next;
};

/* Display names (MISSION.md's words) and identifiers; NULL when out of range. */
const char *rc_ha_state_name(enum rc_ha_state s);
const char *rc_ha_reason_name(enum rc_ha_reason r);
const char *rc_ha_event_name(enum rc_ha_event e);
const char *rc_ha_action_name(enum rc_ha_action a);
const char *rc_ha_await_name(enum rc_ha_await w);
const char *rc_ha_result_name(enum rc_ha_result r);

/* RC_HA_OWN | RC_HA_PEER: the rooms a node in state s may serve (see the table above). A node
 * in any other state never acknowledges a POST for that set. */
uint32_t rc_ha_state_may_serve(enum rc_ha_state s);

/* Initializing (reason Initialization) when ha_enabled, else Unknown (High Availability Not
 * Enabled). Critical services count as down until LOCAL_CRITICAL_UP; the database as up. No
 * action is due: both states wait for LOCAL_CRITICAL_UP. Auto fallback is off. */
void rc_ha_fsm_init(struct rc_ha_fsm *f, bool ha_enabled, uint64_t now_ms);

/* The auto-fallback setting (off by default): when on, the caller delivers HEALTHY_PERIOD at
 * rc_ha_fsm_fallback_due(); when off, HEALTHY_PERIOD is ignored. */
void rc_ha_fsm_set_auto_fallback(struct rc_ha_fsm *f, bool on, uint64_t after_ms);

/* When HEALTHY_PERIOD is due (ms, the clock of now_ms), or 0 when it is not. */
uint64_t rc_ha_fsm_fallback_due(const struct rc_ha_fsm *f);

/* Feed one event. d: required for PEER_STATE and for answers (LEASE_WON, LEASE_REFUSED,
 * TAKEOVER_*, RELEASE_DONE, FALLBACK_*), may be NULL otherwise. out is always filled.
 * Returns 0 (out->result says what happened, out->actions what to do), -EPERM when the event
 * is not allowed in this state (counted; out->result = INVALID), -EINVAL for an event or a
 * peer state/reason out of range or missing data (nothing changed). */
int rc_ha_fsm_event(struct rc_ha_fsm *f, enum rc_ha_event ev, const struct rc_ha_event_data *d,
		    uint64_t now_ms, struct rc_ha_step *out);

/* Would ev be refused (RC_HA_RES_INVALID) in f's state, with its guards as they hold now?
 * For a command that explains a refusal before it delivers the event. PEER_STATE and the
 * answers are never refused. */
bool rc_ha_fsm_refuses(const struct rc_ha_fsm *f, enum rc_ha_event ev);

/* "Normal -> Taking Over (Peer Down) on peer-dead: lease-peer,announce"; snprintf's return. */
int rc_ha_step_format(const struct rc_ha_step *s, char *buf, size_t cap);

/* Self-check of the tables: every cell defined, every guard chain ends unguarded, next
 * states, reasons and actions in range, PEER_STATE dispatches to the peer table. 0, or
 * -EINVAL with the first problem in err. */
int rc_ha_fsm_check_tables(char *err, size_t errlen);

#endif /* RC_HA_FSM_H */
