/* SPDX-License-Identifier: MIT */
/*
 * Heartbeats between the two nodes of a pair, over the HA link (UDP, IPv4). Each carries the
 * result of this node's critical-service watcher (health.h).
 *
 * A heartbeat is one fixed-size datagram (RC_HB_WIRE_LEN bytes, integers big-endian):
 *
 *   off len field
 *     0   4 magic "RCHB"
 *     4   1 version (RC_HB_VERSION)
 *     5   1 key id: the key of the MAC below (1..255)
 *     6   1 the sender's current key id (tells the receiver which key it may switch to)
 *     7   1 reserved, 0
 *     8  64 sender's node id, 1..63 bytes, NUL-padded
 *    72   8 boot id: random per process start, never 0
 *    80   8 seq: strictly increasing per boot id
 *    88   8 time_ms: the sender's wall clock (ms since the Unix epoch)
 *    96   4 HA state  (ha_fsm.h's enum, as a plain integer)
 *   100   4 HA reason (idem)
 *   104   8 lease epoch
 *   112   8 last_lsn: the sender's WAL position
 *   120   8 peer_lsn_acked: the receiver's WAL position as the sender has received it
 *   128   4 health bits (health.h enum rc_health_bit; a set bit = the service is running)
 *   132   4 reserved, 0
 *   136  32 HMAC-SHA256(key[key id], bytes 0..135)
 *   168     end
 *
 * The receiver checks, in this order, and counts every drop by reason (enum rc_hb_drop):
 *   0. the source address is the peer's (the IP of rc_hb_conf.peer_addr; the port is not
 *      checked)                                          -> wrong_source (no MAC computed)
 *   1. size, magic, version, reserved bytes 0, key ids and boot id not 0 -> malformed
 *   2. key id: a retired key (RC_HB_DROP_OLD_KEY), a key id never configured
 *      (RC_HB_DROP_UNKNOWN_KEY)
 *   3. the MAC, compared in constant time                -> forged
 *   4. the node id is the configured peer's               -> wrong_peer
 *   5. boot id and seq:
 *      - same boot id as the last accepted heartbeat: seq must be greater -> else replayed
 *        (a reordered datagram counts here too: an older heartbeat is of no use)
 *      - a boot id other than the last accepted one (or the first heartbeat since this
 *        process started): time_ms must be within skew_ms (default 5 s) of our own wall
 *        clock (-> else stale), and greater than the newest time_ms of the boot it replaces
 *        (-> else replayed). Accepted, it is a reboot of the peer (RC_HB_PEER_REBOOTED;
 *        not for the first heartbeat ever).
 *
 * Limitations of the replay protection (nothing is persisted):
 *   - The skew rule needs the two wall clocks within skew_ms of each other (NTP). A peer
 *     whose clock is further off is never accepted after one of the two restarts: its
 *     heartbeats count as "stale" (the counter to alarm on).
 *   - Within skew_ms after THIS process starts, a recorded heartbeat of the peer's previous
 *     boot can be replayed once and accepted; the peer's next genuine heartbeat then reports
 *     a (spurious) PEER_REBOOTED. The status it carried is at most skew_ms old.
 *   - A peer process restarting while its wall clock was stepped back by D is refused (as
 *     "replayed") for up to D, at most 2 * skew_ms given rule 5.
 *   - Within one boot only seq is checked: an on-path attacker who withholds genuine
 *     heartbeats (the peer then looks dead, as it would if they were dropped) can release
 *     them later; they are genuine but old. Ownership is decided by the lease in the
 *     database, never by a heartbeat alone.
 *   - The source address is checked (rule 0) only to keep the cost of a flood from
 *     elsewhere low: it authenticates nothing; the MAC does.
 *
 * Floods: rc_hb_recv drains the socket (to EAGAIN, at most RC_HB_RX_BURST datagrams or
 * RC_HB_RX_BUDGET_US per call), and the socket asks for an RC_HB_RCVBUF receive buffer, so
 * that a genuine heartbeat queued behind junk is read in the same control pass, not dropped
 * by the kernel or left for later.
 *
 * Keys and rotation (struct rc_hb_keys): the current key signs and is accepted; during a
 * rotation the previous key is still accepted, until a valid heartbeat signed with the
 * current key arrives from the peer or until key_grace_ms after the keys were installed,
 * whichever comes first; then it is retired (RC_HB_KEY_RETIRED) and heartbeats signed with
 * it count as old_key. The sender signs with the previous key while the peer's last valid
 * heartbeat says the peer's current key is our previous one (the peer has not got the new
 * key yet), else with the current key. So rotating the two nodes one after the other, each
 * within key_grace_ms of the first, loses no heartbeat:
 *   A {2, prev 1} signs with 1, says "2"; B {1} accepts 1.
 *   B {2, prev 1} sees A says "2": signs with 2. A accepts 2, retires 1, signs with 2.
 *   B accepts 2, retires 1.
 * A key id names one key forever: a changed key needs a new id.
 *
 * Timers become events (enum rc_hb_event), returned by rc_hb_tick as a mask:
 *   PEER_UP        the first valid heartbeat since start, or since PEER_DEAD
 *   PEER_REBOOTED  a valid heartbeat with a new boot id (see above)
 *   PEER_DEAD      no valid heartbeat for dead_ms while up, or none within dead_ms of the
 *                  first clock sample (the peer was never seen)
 *   SEND_DUE       interval_ms passed since the last rc_hb_send (at once at start)
 *   KEY_RETIRED    the previous key is no longer accepted
 * Handle the bits in enum order (UP before REBOOTED before DEAD).
 *
 * The control loop, every iteration (now = CLOCK_MONOTONIC in ms, or a test's fake clock):
 *   poll(rc_hb_fd(hb) and the others, timeout <= rc_hb_next_ms(hb, now));
 *   now = ...;
 *   if (rc_hb_recv(hb, now, &peer) > 0) use peer;     (newest valid heartbeat)
 *   ev = rc_hb_tick(hb, now);
 *   if (ev & RC_HB_EV(RC_HB_SEND_DUE)) rc_hb_send(hb, now, &mine);
 *   feed the other bits to the HA state machine.
 * recv before tick: heartbeats already queued in the socket keep the peer alive.
 *
 * Threads: an rc_hb belongs to one thread (the control thread); no locks.
 * The functions do not log: they return -errno and count. rc_hb_* never block.
 */
#ifndef RC_HEARTBEAT_H
#define RC_HEARTBEAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- wire format ---- */

#define RC_HB_MAGIC   "RCHB"
#define RC_HB_VERSION 1

enum rc_hb_wire {
	RC_HB_OFF_MAGIC = 0,
	RC_HB_OFF_VERSION = 4,
	RC_HB_OFF_KEY_ID = 5,
	RC_HB_OFF_KEY_CUR = 6,
	RC_HB_OFF_RSVD1 = 7,
	RC_HB_OFF_NODE = 8,
	RC_HB_OFF_BOOT = 72,
	RC_HB_OFF_SEQ = 80,
	RC_HB_OFF_TIME = 88,
	RC_HB_OFF_STATE = 96,
	RC_HB_OFF_REASON = 100,
	RC_HB_OFF_EPOCH = 104,
	RC_HB_OFF_LSN = 112,
	RC_HB_OFF_ACKED = 120,
	RC_HB_OFF_HEALTH = 128,
	RC_HB_OFF_RSVD2 = 132,
	RC_HB_OFF_MAC = 136,
	RC_HB_WIRE_LEN = 168,
};

#define RC_HB_NODE_FIELD 64 /* node id: 1..63 bytes + NUL padding */
#define RC_HB_MAC_LEN    32
#define RC_HB_KEY_MIN    16 /* bytes */
#define RC_HB_KEY_MAX    64

/* ---- defaults ---- */

#define RC_HB_INTERVAL_MS  100
#define RC_HB_DEAD_MS      500
#define RC_HB_SKEW_MS      5000
#define RC_HB_KEY_GRACE_MS 300000 /* 5 min to rotate the second node */
#define RC_HB_RX_BURST     4096   /* datagrams read per rc_hb_recv call, at most ... */
#define RC_HB_RX_BUDGET_US 3000   /* ... and for this long at most (checked every 64) */
#define RC_HB_RCVBUF       (4u << 20) /* socket receive buffer asked for, bytes */

/* ---- heartbeats ---- */

enum rc_hb_event {
	RC_HB_PEER_UP = 0,
	RC_HB_PEER_REBOOTED,
	RC_HB_PEER_DEAD,
	RC_HB_SEND_DUE,
	RC_HB_KEY_RETIRED,
	RC_HB_EVENT_MAX,
};

#define RC_HB_EV(e) (1u << (e))

enum rc_hb_drop {
	RC_HB_DROP_MALFORMED = 0,
	RC_HB_DROP_UNKNOWN_KEY,
	RC_HB_DROP_OLD_KEY,
	RC_HB_DROP_FORGED,
	RC_HB_DROP_WRONG_PEER,
	RC_HB_DROP_REPLAYED,
	RC_HB_DROP_STALE,
	RC_HB_DROP_WRONG_SOURCE, /* not from the peer's address: dropped before any check */
	RC_HB_DROP_MAX,
};

enum rc_hb_peer {
	RC_HB_PEER_UNKNOWN = 0, /* nothing heard yet, dead_ms not over */
	RC_HB_PEER_IS_UP,
	RC_HB_PEER_IS_DEAD,
	RC_HB_PEER_MAX,
};

/* Names for logs and metrics ("peer_up", "replayed", "up", ...); NULL if out of range. */
const char *rc_hb_event_name(enum rc_hb_event e);
const char *rc_hb_drop_name(enum rc_hb_drop d);
const char *rc_hb_peer_name(enum rc_hb_peer p);

struct rc_hb_key {
	uint8_t id; /* 1..255; 0 = no key */
	size_t len; /* RC_HB_KEY_MIN..RC_HB_KEY_MAX */
	uint8_t key[RC_HB_KEY_MAX];
};

struct rc_hb_keys {
	struct rc_hb_key current;  /* signs and is accepted */
	struct rc_hb_key previous; /* id 0: none; else accepted during the rotation's grace */
};

struct rc_hb_conf {
	const char *node_id;    /* ours, [A-Za-z0-9._-]{1,63} (as node.id) */
	const char *peer_id;    /* the peer's; heartbeats from any other id are wrong_peer */
	const char *local_addr; /* "A.B.C.D:PORT" to bind, our HA link address (port 0: any) */
	const char *peer_addr;  /* "A.B.C.D:PORT" of the peer's heartbeat socket */
	uint32_t interval_ms;   /* 0: RC_HB_INTERVAL_MS */
	uint32_t dead_ms;       /* 0: RC_HB_DEAD_MS; must exceed interval_ms */
	uint32_t skew_ms;       /* 0: RC_HB_SKEW_MS */
	uint32_t key_grace_ms;  /* 0: RC_HB_KEY_GRACE_MS */
	uint64_t boot_id;       /* 0: this process's boot id (rc_hb_process_boot_id); tests */
	/* Wall clock in ms since the epoch for time_ms and the skew rule; NULL: CLOCK_REALTIME.
	 * For tests. */
	uint64_t (*wall_clock_ms)(void *arg);
	void *clock_arg;
};

/* What a heartbeat carries. rc_hb_send reads the fields marked "mine"; rc_hb_recv fills
 * them all from the peer's heartbeat. */
struct rc_hb_status {
	char node_id[RC_HB_NODE_FIELD]; /* recv only */
	uint64_t boot_id;               /* recv only */
	uint64_t seq;                   /* recv only */
	uint64_t time_ms;               /* recv only: the sender's wall clock */
	uint8_t key_id;                 /* recv only: the key that signed it */
	uint32_t ha_state;              /* mine */
	uint32_t ha_reason;             /* mine */
	uint64_t epoch;                 /* mine: lease epoch */
	uint64_t last_lsn;              /* mine: our WAL position */
	uint64_t peer_lsn_acked;        /* mine: the peer's WAL position as we have received it */
	uint32_t health;                /* mine: rc_health_bits() */
};

struct rc_hb_stats {
	uint64_t tx;          /* heartbeats sent */
	uint64_t tx_errors;   /* sendto failures */
	uint64_t rx;          /* valid heartbeats accepted */
	uint64_t rx_errors;   /* recvfrom failures other than "nothing pending" */
	uint64_t drops[RC_HB_DROP_MAX];
	uint64_t peer_up;     /* RC_HB_PEER_UP events */
	uint64_t peer_dead;   /* RC_HB_PEER_DEAD events */
	uint64_t peer_reboot; /* RC_HB_PEER_REBOOTED events */
	uint8_t tx_key_id;    /* the key that signed our last heartbeat (0: none sent) */
	uint8_t rx_key_id;    /* the key of the peer's last valid heartbeat (0: none yet) */
};

struct rc_hb;

/* The random boot id of this process (never 0), drawn once. */
uint64_t rc_hb_process_boot_id(void);

/* Bind the heartbeat socket and install the keys (copied; a previous key given here has
 * its grace counted from the first clock sample). NULL with errno: EINVAL (bad conf or
 * keys), an errno of socket()/bind() (EADDRINUSE, EADDRNOTAVAIL, ...), ENOMEM.
 * Create it once per process (reload with rc_hb_set_keys / rc_hb_set_peer_addr): its boot
 * id is the process's, and seq is process-wide, so it never goes back. */
struct rc_hb *rc_hb_create(const struct rc_hb_conf *conf, const struct rc_hb_keys *keys);
void rc_hb_destroy(struct rc_hb *hb); /* closes the socket, wipes the keys */

/* Start a rotation, or nothing if the current key is unchanged (a reload of the same
 * configuration, even one that still lists the previous key after it was retired: a
 * previous key is only honoured when the current one changes). now_ms is when the grace
 * starts. 0, or -EINVAL (bad keys, or a known current id with different key bytes). */
int rc_hb_set_keys(struct rc_hb *hb, const struct rc_hb_keys *keys, uint64_t now_ms);

/* Change where heartbeats go ("A.B.C.D:PORT"). 0 or -EINVAL. */
int rc_hb_set_peer_addr(struct rc_hb *hb, const char *peer_addr);

/* Build, sign and send one heartbeat carrying mine's "mine" fields; the next is due
 * interval_ms after now. 0, or -errno of sendto (counted in tx_errors; e.g. -EAGAIN,
 * -ENETUNREACH), or -EIO (crypto failure). */
int rc_hb_send(struct rc_hb *hb, uint64_t now_ms, const struct rc_hb_status *mine);

/* Read the pending datagrams (to EAGAIN, within RC_HB_RX_BURST / RC_HB_RX_BUDGET_US), check
 * each, count the drops, and
 * put the newest valid heartbeat into *peer. 1 (peer filled), 0 (nothing valid) or
 * -errno of recvfrom (nothing valid read before it). Never blocks. */
int rc_hb_recv(struct rc_hb *hb, uint64_t now_ms, struct rc_hb_status *peer);

/* The events since the last call (a mask of RC_HB_EV(enum rc_hb_event)); see above. */
uint32_t rc_hb_tick(struct rc_hb *hb, uint64_t now_ms);

/* Milliseconds until rc_hb_tick may return a timer event (0: now), for poll(). */
int rc_hb_next_ms(const struct rc_hb *hb, uint64_t now_ms);

int rc_hb_fd(const struct rc_hb *hb);
uint16_t rc_hb_local_port(const struct rc_hb *hb); /* the bound port (host order), 0 on error */
uint64_t rc_hb_boot_id(const struct rc_hb *hb);
enum rc_hb_peer rc_hb_peer_state(const struct rc_hb *hb);
void rc_hb_get_stats(const struct rc_hb *hb, struct rc_hb_stats *out);

#endif /* RC_HEARTBEAT_H */
