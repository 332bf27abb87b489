/* SPDX-License-Identifier: MIT */
/*
 * The dataplane context shared by the worker lcores, the control thread and the storage
 * threads' callbacks, and the hand-off items that travel between them on rte_rings.
 *
 * Ownership (ARCHITECTURE.md):
 *  - struct rc_dp is built by the control thread before the workers start and is read-only
 *    afterwards, except the fields marked otherwise.
 *  - each struct rc_worker belongs to its lcore: only that lcore touches its fields, except
 *    its rings (multi-producer) and its stats (read by the control thread).
 */
#ifndef RC_DP_H
#define RC_DP_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "clock.h" /* rc_wall_ms(), rc_mono_ms(): part of dp.h's contract */
#include "cookie.h"
#include "counters.h"
#include "doorbell.h"
#include "latency.h"
#include "lease_guard.h" /* RC_MAX_SCOPES */
#include "limit.h"
#include "pkt.h"
#include "proto.h"
#include "relay.h"

#define RC_DP_MAX_WORKERS 16
#define RC_DP_MAX_PORTS 4
#define RC_BURST_MAX 64
#define RC_TX_SLOTS 256 /* open per-recipient datagrams during one loop iteration */
#define RC_TX_WAIT 2048   /* frames per port that may wait for a full TX queue (at most) */
#define RC_FAN_MSGS 64      /* DELIVERs of one room gathered before their fan-out */
#define RC_FAN_BYTES 16384  /* ... and their encoded bytes */
#define RC_CTRL_IDX 0   /* completion ring index of the control thread; workers use 1 + w */

struct rc_room_table;
struct rc_session_table;
struct rc_room;
struct rc_lease_guard;

/* What a reply needs, carried through the WAL and history threads (fits their ctx). */
struct rc_reply_ctx {
	uint64_t session;
	uint32_t request_id;
	uint8_t rx_worker;
	struct rc_peer peer;
	uint64_t seq_gen;     /* a POST's record: the room's seq_gen when its seq was assigned */
	uint64_t incarnation; /* ... and the room instance's (room_table.h) */
	uint32_t alias;       /* peer.relay != 0: the room's id at that node, in every reply */
};

/* A session's identity as the room's home worker needs it to answer and to deliver. */
struct rc_who {
	uint64_t session;
	uint32_t request_id;
	uint8_t user_len;
	uint8_t rx_worker; /* the worker that received the request */
	struct rc_peer peer; /* peer.relay != 0: a request relayed by that node (relay.h) */
	uint32_t alias;      /* ... its id of the room: replies carry it as their room_id */
	uint64_t rx_ns;      /* the RX burst it came in (rc_mono_ns; 0: not from one): a POST's
			      * record carries it (latency.h) */
	char user[RC_MAX_USER];
};

enum rc_work_kind {
	RC_WORK_REQUEST = 1, /* a chat request to run on its room's home worker */
	RC_WORK_LOGIN,       /* to control: verify a LOGIN */
	RC_WORK_LOGOUT,      /* to control: end a session */
	RC_WORK_CREATE_ROOM, /* to control: JOIN of a room that does not exist yet */
	RC_WORK_PURGE,       /* to workers: remove session `who.session` from your rooms */
	RC_WORK_ROOMS,       /* to control: list rooms by name prefix (ROOMS) */
	RC_WORK_RELAY,       /* to workers: a host's node-level message for remote room
			      * room_id (relay_rooms.h), `req` decoded into msg */
	RC_WORK_ROOM_DIR,    /* to control: another node's ROOM_LIST (its hosted rooms) for
			      * the cluster's room directory; who.peer is that node */
};

/*
 * A hand-off between threads: allocated from dp->work_pool, freed by its consumer.
 *
 * A request travels decoded, once: `req` is the message as the worker that received it
 * decoded it, with its strings (room name, body, ...) pointing into `msg`, a copy of the
 * message's bytes (the received mbuf is freed after RX; rc_msg_rebase() moved the views).
 * The item never moves while it is in flight, so the views stay valid until it is freed;
 * whoever copies an item by value must rc_msg_rebase() the copy's `req` onto its own `msg`.
 * No reader decodes `msg` again: the home worker reads `who`, `req` and `room_id`; the
 * control thread reads `who` and `req` (LOGIN, LOGOUT, room creation) and `msg_len` (a
 * reply before a login is no larger than the request), keeps the items of a room being
 * created (by pointer) and hands them on to the home worker as they are (RC_WORK_REQUEST,
 * room_id 0).
 *
 * The room travels as its id, not as a pointer: the receiving worker's RCU read side ends
 * at its next quiescent state, and the room may be unloaded (rc_room_del) and freed before
 * the home worker dequeues the item; the home worker looks the id up again.
 */
struct rc_work {
	uint8_t kind;
	uint16_t msg_len;
	uint32_t room_id; /* RC_WORK_REQUEST: the room found on RX; 0: by the name in req */
	struct rc_who who;
	struct rc_msg req;         /* LOGIN, LOGOUT, CREATE_ROOM, REQUEST: decoded, into msg */
	uint8_t msg[RC_MAX_DGRAM]; /* one whole message, header included */
	char room[RC_MAX_ROOM];    /* the canonical room name req's room view points at, when
				    * the client sent a bare name (request.c) */
};

struct rc_tx_slot {
	struct rte_mbuf *m;
	struct rc_peer to;
	uint16_t cap; /* payload bytes the datagram may reach (a relay envelope keeps room for
		       * its tag) */
};

/*
 * The DELIVERs of one room the worker has stored in a row (fanout.h): encoded once, back to
 * back, their room's id as every client member reads it; fanned out together, so a member
 * gets them in as few datagrams as fit.
 */
struct rc_fan_batch {
	uint32_t room_id;    /* 0: empty */
	uint64_t incarnation;
	uint16_t n;          /* messages */
	uint16_t len;        /* bytes in buf */
	uint16_t off[RC_FAN_MSGS + 1]; /* message i is buf[off[i] .. off[i + 1]) */
	uint8_t buf[RC_FAN_BYTES];
};

struct rc_worker {
	unsigned idx;   /* 0..n_workers-1 */
	unsigned lcore;
	struct rte_ring *in;   /* rc_work from other workers and control (MP/SC) */
	struct rte_ring *tx;   /* ready mbufs from control and history (MP/SC) */
	struct rte_ring *done; /* rc_wal_rec completions from the WAL writer (SP/SC) */
	struct rc_bell bell;   /* rung by every producer onto in, tx and done: the worker
				* waits on it when idle (rc_worker_push, doorbell.h) */
	struct rc_tx_slot slots[RC_TX_SLOTS];
	uint16_t open_slots[RC_TX_SLOTS]; /* slots opened since the last flush (may repeat) */
	unsigned n_open;
	struct rte_mbuf *txq[RC_DP_MAX_PORTS][RC_BURST_MAX];
	uint16_t txq_n[RC_DP_MAX_PORTS];
	/* frames the device did not take yet, oldest first (fanout.c tx_burst_port): a ring
	 * of tx_wait_cap (0: none wait, a full queue drops at once) */
	struct rte_mbuf *tx_wait[RC_DP_MAX_PORTS][RC_TX_WAIT];
	uint16_t tx_wait_head[RC_DP_MAX_PORTS];
	uint16_t tx_wait_n[RC_DP_MAX_PORTS];
	uint16_t tx_wait_cap;
	struct rc_fan_batch fan;
	uint64_t last_heartbeat; /* bumped every loop; the control thread watches it */
	struct rc_lcore_stats stats;
	struct rc_relay_stats relay_stats; /* relay.h */
	struct rc_relay_wstate relay;      /* send counters and replay windows (relay.c) */
	struct rc_src_table login_src;     /* LOGINs per source address (chat.login_rate) */
	struct rc_src_table icmp_src;      /* ICMP echoes per source (workers.icmp_source_rate) */
	struct rc_bucket icmp_all;         /* ICMP echoes of this worker (workers.icmp_rate) */
	struct rc_cookie_keys cookie;      /* its LOGIN cookies' keys (cookie.h) */
	struct rc_bucket cookies_sent;     /* COOKIEs it sends (RC_COOKIE_RATE) */
	uint64_t rx_ns;                    /* its last non-empty RX burst (rc_mono_ns) */
	struct rc_lat_budget lat;          /* where its POSTs' time went (latency.h) */
} __rte_cache_aligned;

struct rc_frag_tap;
struct rc_relay;

struct rc_dp_port {
	uint16_t port_id;
	uint16_t n_rxq;
	struct rc_local local;
	/* per worker, NULL unless the device reassembles fragments (frag_tap.h) */
	struct rc_frag_tap *frag_tap[RC_DP_MAX_WORKERS];
};

struct rc_dp {
	/* addressing */
	unsigned n_ports;
	struct rc_dp_port ports[RC_DP_MAX_PORTS];

	/* threads and hand-offs */
	unsigned n_workers;
	struct rc_worker *workers[RC_DP_MAX_WORKERS];
	struct rte_ring *ctrl_ring;      /* rc_work for the control thread: room creation, LOGOUT,
					  * ROOMS, a node's room directory */
	struct rte_ring *login_ring;     /* rc_work for the control thread: LOGINs alone, so that
					  * a LOGIN flood never crowds out the others */
	struct rc_bell *ctrl_bell;       /* the control thread's doorbell, rung after an enqueue
					  * on either ring (NULL: none) */
	struct rte_mempool *work_pool;   /* struct rc_work */
	struct rte_mempool *mbuf_pool;
	/* storage, per HA scope: [0] our own rooms, [1] the HA peer's (NULL without HA) */
	struct rte_ring *wal_ring[RC_MAX_SCOPES];      /* struct rc_wal_rec* to that scope's WAL writer */
	struct rte_mempool *wal_pool[RC_MAX_SCOPES];
	struct rte_ring *hist_ring[RC_MAX_SCOPES];     /* struct rc_hist_req* to its history thread */
	struct rte_mempool *hist_pool[RC_MAX_SCOPES];
	struct rc_bell *wal_bell[RC_MAX_SCOPES];  /* its WAL writer's and history thread's */
	struct rc_bell *hist_bell[RC_MAX_SCOPES]; /* doorbells (NULL: nobody to wake) */

	/* tables (RCU) */
	struct rc_room_table *rooms;
	struct rc_session_table *sessions;
	/* the relay directory and the neighbour table (relay.h); NULL until the control thread
	 * first publishes a directory (store-release; workers load-acquire) */
	struct rc_relay *relay;

	/* settings */
	unsigned burst;
	bool idle_backoff;
	unsigned idle_polls;
	unsigned idle_sleep_us;     /* the first idle wait ... */
	unsigned idle_sleep_max_us; /* ... doubling on each empty wake up to this, */
	unsigned idle_backoff_after_ms; /* ... once the worker had no work for this long */
	unsigned history_on_join;
	unsigned max_fetch;
	unsigned max_members;
	unsigned post_rate;
	unsigned post_burst;
	unsigned login_rate;      /* LOGINs a second per source address and worker */
	unsigned login_burst;
	unsigned login_cookie_threshold; /* LOGINs waiting on login_ring from which a LOGIN
					  * needs a cookie (0: always) */
	unsigned request_rate;    /* request budget of a session: cost units a second */
	unsigned request_burst;
	unsigned icmp_rate;       /* ICMP echoes answered a second per worker (0: none) */
	unsigned icmp_source_rate; /* ... per source address and worker */
	unsigned session_idle_s;
	unsigned dedup_window;
	unsigned relay_refresh_ms;    /* relay.refresh_ms (0: RC_RELAY_REFRESH_MS) */
	uint64_t relay_refreshed_ms;  /* control thread: the last refresh (relay_rooms.c) */

	/* written by the control thread, read by workers */
	volatile uint8_t rooms_blocked; /* enum rc_rooms_state */
	volatile bool storage_full;
	volatile bool quit;
	/* HA (written by the control thread): a scope's rooms are served (else ERROR 8) only
	 * while scope_serving[s]; with guard[s] set, a stored POST is acknowledged only while
	 * that scope's lease guard is valid (storage/lease.h), else it is dropped unanswered
	 * (counted in fenced_acks): the client resends it to the new owner. */
	volatile bool scope_serving[RC_MAX_SCOPES];
	const struct rc_lease_guard *guard[RC_MAX_SCOPES];
	uint64_t fenced_acks; /* relaxed atomic, any worker */
	/* ha.durability = "peer-required": while no peer copy of scope s can be had, a new POST
	 * to one of its rooms is refused with ERROR 9 busy (counted in peer_busy_refusals), never
	 * stored to be acknowledged on the local commit alone (control/ha/HA.md) */
	volatile bool scope_no_peer[RC_MAX_SCOPES];
	/* HA off, the peer dead: its users are served here but its rooms are not (they stay
	 * on the dead node): while scope_away[s], scope s's room requests answer ERROR 8 with
	 * scope_away_text[s] ("unavailable until NODE returns", written before the scope is
	 * opened to the workers) instead of "being moved" */
	volatile bool scope_away[RC_MAX_SCOPES];
	char scope_away_text[RC_MAX_SCOPES][96];
	uint64_t peer_busy_refusals; /* POSTs and room creations refused so; relaxed atomic */
	/* fault injection (ha.fault_injection, tests only): the workers stop making progress,
	 * as a hung text-conference service would; nothing is received or sent meanwhile */
	volatile bool fault_stall;
};

/* Whether this node serves rooms (the cluster state: TC service, persistent chat). */
enum rc_rooms_state {
	RC_ROOMS_SERVED = 0,
	RC_ROOMS_TC_STOPPED,     /* ERROR 8: "text conference service stopped on this node" */
	RC_ROOMS_CHAT_DISABLED,  /* ERROR 8: "persistent chat is disabled" */
};

/* Worker main loop (rte_eal_remote_launch target; arg = struct rc_worker *). */
int rc_worker_main(void *arg);

/*
 * The idle worker's next wait after one of cur microseconds ended with nothing to do,
 * quiet_ms after its last work: dp->idle_sleep_us while quiet_ms is below
 * dp->idle_backoff_after_ms (a worker with recent traffic keeps its short waits: a packet
 * waits for the end of the current one), then twice cur, at least idle_sleep_us and at
 * most dp->idle_sleep_max_us (a maximum below idle_sleep_us: idle_sleep_us). Pure.
 */
unsigned rc_worker_idle_next_us(const struct rc_dp *dp, unsigned cur, uint64_t quiet_ms);

/*
 * Queues obj on ring, one of worker w's rings (in or tx), and wakes w if it sleeps.
 * 0, or -ENOBUFS when the ring is full (obj not queued: the caller frees it). Any thread.
 */
static inline int
rc_worker_push(struct rc_worker *w, struct rte_ring *ring, void *obj)
{
	if (rte_ring_enqueue(ring, obj) != 0)
		return -ENOBUFS;
	rc_bell_ring(&w->bell);
	return 0;
}

/* The same for scope s's WAL writer (a struct rc_wal_rec) and history thread (a struct
 * rc_hist_req). */
static inline int
rc_dp_wal_push(struct rc_dp *dp, unsigned s, void *rec)
{
	if (rte_ring_enqueue(dp->wal_ring[s], rec) != 0)
		return -ENOBUFS;
	rc_bell_ring(dp->wal_bell[s]);
	return 0;
}

static inline int
rc_dp_hist_push(struct rc_dp *dp, unsigned s, void *req)
{
	if (rte_ring_enqueue(dp->hist_ring[s], req) != 0)
		return -ENOBUFS;
	rc_bell_ring(dp->hist_bell[s]);
	return 0;
}

/* Sets dp->quit and wakes every worker (the control thread, at shutdown). */
void rc_dp_quit(struct rc_dp *dp);

/*
 * The worker's step for one frame m received on port index p (what rc_worker_main does with
 * each): ARP and ICMP echo answered, a chat datagram to rc_req_input(), a relay datagram
 * ("RN") to rc_relay_input(), ARP senders to the neighbour table; m is freed or queued. For
 * tests; worker w's context.
 */
void rc_worker_rx_frame(struct rc_dp *dp, struct rc_worker *w, unsigned p, struct rte_mbuf *m);

/* Set by the daemon before launching workers. */
extern struct rc_dp *rc_dp_global;

/*
 * Helpers the control thread and the history thread use to answer a client: build one
 * datagram holding message m for `to` and queue it on worker w's tx ring (or free + count).
 * Return 0 or -errno.
 */
int rc_dp_send_msg(struct rc_dp *dp, unsigned w, const struct rc_peer *to,
		   const struct rc_msg *m);

/*
 * Gratuitous ARPs (a request, then a reply) for our own service address (peer false) or
 * the HA peer's (peer true) on every port, queued on worker 0's tx ring: announced when the
 * address moves to this node. Control thread. Returns how many were queued.
 */
unsigned rc_dp_send_garp(struct rc_dp *dp, bool peer);

#endif /* RC_DP_H */
