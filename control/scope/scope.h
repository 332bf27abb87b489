/* SPDX-License-Identifier: MIT */
/*
 * A scope: one node's rooms and users, with what stores and serves them: its WAL
 * environment, its history thread, its drainer to the database, its lease guard, its range
 * of room ids, and (HA) the sessions its writer replicated to us. A single node has one
 * scope, its own; a member of an HA pair has two, its own (index 0, DATA_DIR/wal) and its
 * peer's (index 1, DATA_DIR/wal-peer), and runs the same code for both.
 *
 * The dataplane sees a scope through the per-scope arrays of struct rc_dp (wal_ring,
 * wal_pool, hist_ring, hist_pool, wal_bell, hist_bell, scope_serving, guard): the scope
 * owns and sets them. A room's scope is rc_room.scope; a session's is the service address
 * it talks to (rc_peer.vip).
 *
 * Life of a scope: open (WAL + history), start (their threads), load (its rooms with their
 * sequence counters and re-sent POST windows, and the sessions replicated to us, into the
 * tables), drainer start at an epoch (the lease's; 0 without a lease), serve (workers answer
 * for its rooms and its service address); then unserve, drainer stop, unload, stop, close.
 * Loading is what a start does for a single node, and what a lease won does in a pair.
 *
 * Threads: the control thread, the only writer of the tables. It logs (control/lib/log.h)
 * what loading finds and the database switch.
 */
#ifndef RC_SCOPE_H
#define RC_SCOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dp.h"
#include "drainer.h"
#include "lease_guard.h"
#include "proto.h"
#include "wal.h"


struct rc_history;
struct rc_replay;
struct rc_scopes;
struct rc_session;

/* A session of a scope as its writer replicated it to us. */
struct rc_scope_sess {
	uint64_t id;
	uint32_t ip;       /* network order */
	uint16_t udp_port; /* network order */
	uint8_t mac[6];
	uint8_t user_len;
	char user[RC_MAX_USER];
};

struct rc_scope {
	struct rc_scopes *set;
	unsigned idx;             /* 0: this node's rooms; 1: the HA peer's */
	char node[64];            /* the node whose rooms these are */
	char lease_scope[80];     /* "rooms:<node>": its lease and its WAL stream's name */
	struct rc_wal *wal;
	struct rc_history *hist;
	struct rc_drainer *drainer; /* NULL: no database, or not drained here now */
	struct rc_lease_guard guard; /* the dataplane's (dp.guard) when the set is leased */
	bool draining;            /* its drainer may run (rc_scope_drainer_start) */
	uint64_t epoch;           /* the drainer's epoch while draining (0 without a lease) */
	unsigned drainer_gen;     /* +1 each time its drainer is replaced (its counters reset) */
	bool loaded;              /* its rooms are in the table */
	uint32_t room_lo, room_hi, next_room_id; /* its room ids, the next never used */
	/* its deleted rooms' ids, each with the LSN of its tombstone (scope_ids.c) */
	struct rc_scope_deleted {
		uint32_t id;
		uint64_t lsn;
	} *deleted;
	unsigned n_deleted, cap_deleted;
	/* the sessions its writer replicated to us (HA) */
	struct rc_scope_sess *sess;
	unsigned n_sess, cap_sess;

	/* the HA wiring's per-scope state (control/ha/ha_node.c) */
	struct rc_scope_handover {
		bool active;      /* release / unload-peer: waiting for the peer's copy */
		uint32_t op;
		uint64_t deadline, lsn;
	} handover;
	uint32_t lease_op;
	bool gate_on;             /* the WAL's peer gate */
	bool local_only;          /* "peer": no peer copy, ACKs on the local commit alone */
	bool no_peer_busy;        /* "peer-required": no peer copy, POSTs refused busy */
	bool busy_logged;         /* ... while the scope is served (logged, counted) */
	uint64_t wal_commits, wal_progress_ms; /* its WAL writer, as last watched */
	unsigned garp_left;       /* gratuitous ARPs still to send for its address */
	uint64_t garp_t0;
};

/* What every scope of a node shares. */
struct rc_scopes_conf {
	struct rc_dp *dp;            /* the tables, pools and per-scope arrays */
	struct rte_ring *ctrl_done;  /* the control thread's completion ring */
	struct rc_bell *ctrl_bell;   /* ... and its doorbell */
	struct rc_replay *replay;    /* the history threads' replay (dataplane/replay.h) */
	const char *data_dir;
	const char *node_id;         /* this node (RESUME names it) */
	const char *peer_id;         /* the HA peer, or NULL: a single scope */
	unsigned max_rooms;          /* room ids per scope */
	unsigned max_sessions;       /* of a replicated session list */
	struct rc_wal_conf wal;      /* every scope's WAL settings but the directory */
	struct rc_drainer_conf drain; /* every drainer's, but conninfo, node and epoch */
};

struct rc_scopes {
	struct rc_scopes_conf conf;
	struct rc_dp *dp;
	unsigned n;                  /* 1, or 2 in an HA pair */
	bool leased;                 /* served under a lease (HA): guards, epochs */
	bool running;                /* the threads are started */
	char db_conninfo[768];       /* the database, password included: never logged; "" none */
	struct rc_scope sc[RC_MAX_SCOPES];
	/* counters */
	uint64_t rooms_name_clash;   /* stored rooms not loaded (name taken by the other scope's) */
	uint64_t purges_dropped;     /* session purges not handed to a worker in time */
	uint64_t resumes_sent;       /* RESUMEs to the sessions of a loaded scope */
};

/* Open every scope (WAL + history, completion ring of the control thread) and split the
 * room ids: with a peer, the node whose id sorts first uses 1..max_rooms, the other
 * max_rooms+1..2*max_rooms; nothing is served until a lease is won (rc_scope_serve). 0, or
 * -errno with the reason in err. */
int rc_scopes_open(struct rc_scopes *ss, const struct rc_scopes_conf *c, char *err,
		   size_t errlen);
/* Register completion ring idx and its consumer's doorbell (NULL: none) on every scope's
 * WAL (before rc_scopes_start). */
int rc_scopes_set_completion(struct rc_scopes *ss, unsigned idx, struct rte_ring *ring,
			     struct rc_bell *bell);
/* Start every scope's WAL writer, history thread and drainer. 0 or -errno. */
int rc_scopes_start(struct rc_scopes *ss);
/* Stop their threads (the WALs drain their rings); then close frees everything. */
void rc_scopes_stop(struct rc_scopes *ss);
void rc_scopes_close(struct rc_scopes *ss);

/* Drain to (and read history from) the database at conninfo from now on ("" = none): every
 * scope's history thread and drainer take it. 0 or -errno. */
int rc_scopes_db_switch(struct rc_scopes *ss, const char *conninfo);

/* Records set aside by the drainers running here and the rows of their scopes in
 * drain_dead_letters. */
void rc_scopes_dead_letters(const struct rc_scopes *ss, uint64_t *set_aside, uint64_t *rows);

/* The scope a request through service address vip belongs to. */
static inline struct rc_scope *
rc_scopes_of_vip(struct rc_scopes *ss, unsigned vip)
{
	return &ss->sc[(vip & 1) < ss->n ? (vip & 1) : 0];
}

/* The scope that holds room id `id`, or NULL. */
struct rc_scope *rc_scopes_of_room(struct rc_scopes *ss, uint32_t id);

/* End a session: out of the table, and the workers drop it from their rooms (a purge per
 * worker; one that cannot be handed over within a few ms is dropped, counted). */
void rc_scopes_end_session(struct rc_scopes *ss, struct rc_session *s);

/* Load the scope's stored rooms into the room table (sequence counters included) and warm
 * their re-sent POST windows. 0 or -errno (a stored room outside the scope's ids: -ERANGE);
 * on an error the tables hold nothing of the scope. */
int rc_scope_load(struct rc_scope *s);
/* Install the sessions replicated to us (after rc_scope_load, once its address is
 * answered: a client answers a RESUME at once) and RESUME each with `reason`
 * (PROTOCOL.md). Returns how many. */
unsigned rc_scope_load_sessions(struct rc_scope *s, unsigned reason);
/* One session of the scope into the table (kept if there) and RESUMEd with `reason`: the
 * session, or NULL (logged). */
struct rc_session *rc_scope_resume_one(struct rc_scope *s, const struct rc_scope_sess *e,
				       unsigned reason);
/* Take the scope's sessions and rooms out of the tables; its sessions are kept in its
 * replicated list (whoever serves it next resumes them). */
void rc_scope_unload(struct rc_scope *s);

/* Drain the scope from now on, its rows stamped with epoch (the lease's; 0): replaces a
 * running drainer. No database: only remembered. 0 or -errno. */
int rc_scope_drainer_start(struct rc_scope *s, uint64_t epoch);
void rc_scope_drainer_stop(struct rc_scope *s);

/* The workers answer for the scope's rooms (on), or refuse them (ERROR 8, "not the
 * owner"). */
void rc_scope_serve(struct rc_scope *s, bool on);
/* The workers answer ARP and traffic for the scope's service address (on), or not. */
void rc_scope_address(struct rc_scope *s, bool on);
/* The scope's service address (network order) on every port: scope 0 the node's own, scope 1
 * its HA peer's (claimed on a takeover). Before the workers start. */
void rc_scope_set_ip(struct rc_scope *s, uint32_t ip);
/* The scope's rooms stay on its node, which is down (HA off): while not served, its room
 * requests answer ERROR 8 "unavailable until NODE returns" (on), or "being moved" (off). */
void rc_scope_away(struct rc_scope *s, bool on);
/* The workers refuse new POSTs and room creations in the scope's rooms with ERROR 9 busy
 * (on: ha.durability "peer-required" and no peer copy to be had), or accept them. */
void rc_scope_busy(struct rc_scope *s, bool on);

/* The replicated session list: add or update (false when new and the list holds
 * max_sessions already, or out of memory), remove one, clear. */
bool rc_scope_sess_put(struct rc_scope *s, const struct rc_scope_sess *e);
void rc_scope_sess_del(struct rc_scope *s, uint64_t id);
void rc_scope_sess_clear(struct rc_scope *s);

/* Rooms of the scope in the table. */
unsigned rc_scope_room_count(const struct rc_scope *s);

/* ---- room ids (scope_ids.c; control thread) ---- */

/* Forget every id of the scope: none used, none deleted (before its rooms are loaded). */
void rc_scope_ids_reset(struct rc_scope *s);
/* Room id was deleted by the WAL entry at lsn (a tombstone loaded, or just stored); it
 * comes back once the WAL has trimmed past lsn. 0, -ERANGE not the scope's, -ENOMEM. */
int rc_scope_id_deleted(struct rc_scope *s, uint32_t id, uint64_t lsn);
/* A room may be created: an id never used, or a deleted one the WAL has trimmed past. */
bool rc_scope_id_available(const struct rc_scope *s);
/* Takes such an id (never used ones first); 0 if none. */
uint32_t rc_scope_id_take(struct rc_scope *s);
/* Deleted ids still waiting for the WAL to trim past their tombstone. */
unsigned rc_scope_ids_waiting(const struct rc_scope *s);
void rc_scope_ids_free(struct rc_scope *s);

#endif /* RC_SCOPE_H */
