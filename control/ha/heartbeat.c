/* SPDX-License-Identifier: MIT */
/*
 * Heartbeats over the HA link (see heartbeat.h for the wire format, the receiver's checks and
 * their order, key rotation and the events).
 *
 * The peer, as this node sees it:
 *
 *              valid heartbeat                 no valid heartbeat for dead_ms
 *   UNKNOWN ----------------------> UP ----------------------------------------> DEAD
 *      |        (PEER_UP)            ^  \__ new boot id: PEER_REBOOTED            |
 *      | nothing within dead_ms      |                                            |
 *      +---------------------------- | ------------------------------------------>+
 *                 (PEER_DEAD)        +-------- valid heartbeat (PEER_UP) ---------+
 *
 * rc_hb_recv finds PEER_UP / PEER_REBOOTED / KEY_RETIRED as it accepts heartbeats and keeps
 * them pending; rc_hb_tick reports them together with its timers (PEER_DEAD, SEND_DUE, the
 * key grace). The HMAC is hmac.h's.
 */
#include "heartbeat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "clock.h"
#include "hmac.h"
#include "mgmt.h"
#include "names.h"

struct rc_hb {
	int fd;
	struct sockaddr_in peer_addr;
	uint8_t node_field[RC_HB_NODE_FIELD]; /* our node id as on the wire (NUL-padded) */
	uint8_t peer_field[RC_HB_NODE_FIELD]; /* the expected peer's */
	uint64_t boot_id;
	uint32_t interval_ms, dead_ms, skew_ms, key_grace_ms;
	uint64_t (*wall_clock_ms)(void *arg);
	void *clock_arg;

	/* keys */
	struct rc_hb_key cur;
	struct rc_hb_key prev; /* id 0: none (or retired) */
	bool grace_from_start; /* keys installed before the first clock sample */
	uint64_t keys_set_ms;  /* the previous key's grace runs from here */
	uint8_t retired[32];   /* bitmap of key ids no longer accepted (-> old_key) */
	uint8_t peer_key_cur;  /* the peer's current key id per its last valid heartbeat */

	/* clock */
	bool started;
	uint64_t start_ms;
	uint64_t next_send_ms;

	/* the peer */
	enum rc_hb_peer peer_state;
	bool boot_known;
	uint64_t peer_boot;
	uint64_t peer_seq;
	uint64_t peer_time_ms; /* newest time_ms of peer_boot */
	uint64_t last_rx_ms;
	uint32_t pending; /* events found by recv, reported by the next tick */

	struct rc_hb_stats stats;
};

/* ---- names ---- */

static const char *const event_names[RC_HB_EVENT_MAX] = {
	[RC_HB_PEER_UP] = "peer_up",
	[RC_HB_PEER_REBOOTED] = "peer_rebooted",
	[RC_HB_PEER_DEAD] = "peer_dead",
	[RC_HB_SEND_DUE] = "send_due",
	[RC_HB_KEY_RETIRED] = "key_retired",
};

static const char *const drop_names[RC_HB_DROP_MAX] = {
	[RC_HB_DROP_MALFORMED] = "malformed",
	[RC_HB_DROP_UNKNOWN_KEY] = "unknown_key",
	[RC_HB_DROP_OLD_KEY] = "old_key",
	[RC_HB_DROP_FORGED] = "forged",
	[RC_HB_DROP_WRONG_PEER] = "wrong_peer",
	[RC_HB_DROP_REPLAYED] = "replayed",
	[RC_HB_DROP_STALE] = "stale",
	[RC_HB_DROP_WRONG_SOURCE] = "wrong_source",
};

static const char *const peer_names[RC_HB_PEER_MAX] = {
	[RC_HB_PEER_UNKNOWN] = "unknown",
	[RC_HB_PEER_IS_UP] = "up",
	[RC_HB_PEER_IS_DEAD] = "dead",
};

const char *
rc_hb_event_name(enum rc_hb_event e)
{
	return rc_name_of(event_names, RC_HB_EVENT_MAX, e);
}

const char *
rc_hb_drop_name(enum rc_hb_drop d)
{
	return rc_name_of(drop_names, RC_HB_DROP_MAX, d);
}

const char *
rc_hb_peer_name(enum rc_hb_peer p)
{
	return rc_name_of(peer_names, RC_HB_PEER_MAX, p);
}

/* ---- helpers ---- */

/* a - b, or 0 if the clock went backwards */
static uint64_t
elapsed(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static uint64_t
wall_ms(const struct rc_hb *hb)
{
	if (hb->wall_clock_ms != NULL)
		return hb->wall_clock_ms(hb->clock_arg);
	return rc_wall_ms();
}

/* ---- boot id and seq ---- */

static uint64_t process_boot_id;
static pthread_once_t boot_once = PTHREAD_ONCE_INIT;
static uint64_t seq_counter; /* process-wide: a re-created rc_hb never repeats a seq */

static uint64_t
splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void
boot_id_draw(void)
{
	struct timespec rt, mono;
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
		/* Unique rather than secret is what a boot id needs. */
		clock_gettime(CLOCK_REALTIME, &rt);
		clock_gettime(CLOCK_MONOTONIC, &mono);
		v = splitmix64((uint64_t)rt.tv_sec * 1000000000ULL + (uint64_t)rt.tv_nsec) ^
		    splitmix64(((uint64_t)getpid() << 32) ^ (uint64_t)mono.tv_nsec);
	}
	process_boot_id = v != 0 ? v : 1;
}

uint64_t
rc_hb_process_boot_id(void)
{
	pthread_once(&boot_once, boot_id_draw);
	return process_boot_id;
}

/* ---- HMAC ---- */

_Static_assert(RC_HB_MAC_LEN == RC_HMAC_SHA256_LEN, "the heartbeat MAC is a whole HMAC-SHA256");

/* mac = HMAC-SHA256(k, msg[0..RC_HB_OFF_MAC)). 0 or -EIO. */
static int
hb_mac(const struct rc_hb_key *k, const uint8_t *msg, uint8_t mac[RC_HB_MAC_LEN])
{
	const struct rc_hmac_part part = { msg, RC_HB_OFF_MAC };

	return rc_hmac_sha256(k->key, k->len, &part, 1, mac);
}

/* ---- keys ---- */

static bool
key_ok(const struct rc_hb_key *k)
{
	return k->id != 0 && k->len >= RC_HB_KEY_MIN && k->len <= RC_HB_KEY_MAX;
}

static bool
key_same(const struct rc_hb_key *a, const struct rc_hb_key *b)
{
	return a->id == b->id && a->len == b->len && CRYPTO_memcmp(a->key, b->key, a->len) == 0;
}

/* A key id we know (current or previous) reappearing with other bytes. */
static bool
key_conflicts(const struct rc_hb *hb, const struct rc_hb_key *k)
{
	if (k->id == 0)
		return false;
	if (hb->cur.id == k->id && !key_same(&hb->cur, k))
		return true;
	return hb->prev.id == k->id && !key_same(&hb->prev, k);
}

static void
retired_set(struct rc_hb *hb, uint8_t id, bool on)
{
	if (on)
		hb->retired[id / 8] |= (uint8_t)(1u << (id % 8));
	else
		hb->retired[id / 8] &= (uint8_t)~(1u << (id % 8));
}

static bool
retired_has(const struct rc_hb *hb, uint8_t id)
{
	return hb->retired[id / 8] & (1u << (id % 8));
}

static void
key_wipe(struct rc_hb_key *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}

static void
prev_retire(struct rc_hb *hb)
{
	if (hb->prev.id == 0)
		return;
	retired_set(hb, hb->prev.id, true);
	key_wipe(&hb->prev);
	hb->pending |= RC_HB_EV(RC_HB_KEY_RETIRED);
}

static void
keys_expire(struct rc_hb *hb, uint64_t now)
{
	if (hb->prev.id != 0 && hb->started &&
	    elapsed(now, hb->keys_set_ms) >= (uint64_t)hb->key_grace_ms)
		prev_retire(hb);
}

static int
keys_check(const struct rc_hb_keys *keys)
{
	const struct rc_hb_key *c = &keys->current, *p = &keys->previous;

	if (!key_ok(c))
		return -EINVAL;
	if (p->id != 0 && (!key_ok(p) || p->id == c->id))
		return -EINVAL;
	return 0;
}

int
rc_hb_set_keys(struct rc_hb *hb, const struct rc_hb_keys *keys, uint64_t now_ms)
{
	if (hb == NULL || keys == NULL || keys_check(keys) != 0)
		return -EINVAL;
	if (key_conflicts(hb, &keys->current) || key_conflicts(hb, &keys->previous))
		return -EINVAL;
	if (key_same(&hb->cur, &keys->current)) {
		if (keys->previous.id == 0)
			prev_retire(hb); /* the operator ended the rotation early */
		return 0;
	}
	/* A new current key: whatever we had and no longer have is retired. */
	if (hb->cur.id != 0 && hb->cur.id != keys->current.id && hb->cur.id != keys->previous.id)
		retired_set(hb, hb->cur.id, true);
	if (hb->prev.id != 0 && hb->prev.id != keys->current.id && hb->prev.id != keys->previous.id)
		retired_set(hb, hb->prev.id, true);
	key_wipe(&hb->cur);
	key_wipe(&hb->prev);
	hb->cur = keys->current;
	retired_set(hb, hb->cur.id, false);
	if (keys->previous.id != 0) {
		hb->prev = keys->previous;
		retired_set(hb, hb->prev.id, false);
	}
	hb->keys_set_ms = now_ms;
	hb->grace_from_start = !hb->started;
	return 0;
}

/* The key we sign with: the previous one while the peer says it has not got the new one. */
static const struct rc_hb_key *
send_key(const struct rc_hb *hb)
{
	if (hb->prev.id != 0 && hb->peer_key_cur == hb->prev.id)
		return &hb->prev;
	return &hb->cur;
}

/* ---- the object ---- */

static void
clock_start(struct rc_hb *hb, uint64_t now)
{
	if (hb->started)
		return;
	hb->started = true;
	hb->start_ms = now;
	hb->next_send_ms = now;
	if (hb->grace_from_start)
		hb->keys_set_ms = now;
}

static int
addr_parse(const char *s, struct sockaddr_in *sa)
{
	uint32_t ip;
	uint16_t port;

	if (s == NULL || rc_mgmt_parse_addr(s, &ip, &port) != 0)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = ip;
	sa->sin_port = htons(port);
	return 0;
}

static int
conf_apply(struct rc_hb *hb, const struct rc_hb_conf *c)
{
	if (!rc_mgmt_node_id_ok(c->node_id) || !rc_mgmt_node_id_ok(c->peer_id) ||
	    strcmp(c->node_id, c->peer_id) == 0)
		return -EINVAL;
	if (addr_parse(c->peer_addr, &hb->peer_addr) != 0)
		return -EINVAL;
	memcpy(hb->node_field, c->node_id, strlen(c->node_id)); /* rest stays 0 */
	memcpy(hb->peer_field, c->peer_id, strlen(c->peer_id));
	hb->interval_ms = c->interval_ms != 0 ? c->interval_ms : RC_HB_INTERVAL_MS;
	hb->dead_ms = c->dead_ms != 0 ? c->dead_ms : RC_HB_DEAD_MS;
	hb->skew_ms = c->skew_ms != 0 ? c->skew_ms : RC_HB_SKEW_MS;
	hb->key_grace_ms = c->key_grace_ms != 0 ? c->key_grace_ms : RC_HB_KEY_GRACE_MS;
	if (hb->dead_ms <= hb->interval_ms)
		return -EINVAL;
	hb->boot_id = c->boot_id != 0 ? c->boot_id : rc_hb_process_boot_id();
	hb->wall_clock_ms = c->wall_clock_ms;
	hb->clock_arg = c->clock_arg;
	return 0;
}

static int
socket_open(const char *local_addr)
{
	int tos = IPTOS_PREC_INTERNETCONTROL, rcvbuf = RC_HB_RCVBUF; /* CS6: network control */
	struct sockaddr_in sa;
	int fd, err;

	if (addr_parse(local_addr, &sa) != 0)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)); /* best effort */
	/* room for a genuine heartbeat behind a flood: beyond rmem_max as root (FORCE), else
	 * as much as rmem_max allows (best effort) */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

struct rc_hb *
rc_hb_create(const struct rc_hb_conf *conf, const struct rc_hb_keys *keys)
{
	struct rc_hb *hb;
	int rc;

	if (conf == NULL || keys == NULL || keys_check(keys) != 0) {
		errno = EINVAL;
		return NULL;
	}
	hb = calloc(1, sizeof(*hb));
	if (hb == NULL)
		return NULL;
	hb->fd = -1;
	rc = conf_apply(hb, conf);
	if (rc < 0)
		goto out_free;
	rc = rc_hb_set_keys(hb, keys, 0);
	if (rc < 0)
		goto out_free;
	rc = socket_open(conf->local_addr);
	if (rc < 0)
		goto out_free;
	hb->fd = rc;
	return hb;

out_free:
	rc_hb_destroy(hb);
	errno = -rc;
	return NULL;
}

void
rc_hb_destroy(struct rc_hb *hb)
{
	if (hb == NULL)
		return;
	if (hb->fd >= 0)
		close(hb->fd);
	OPENSSL_cleanse(hb, sizeof(*hb));
	free(hb);
}

int
rc_hb_set_peer_addr(struct rc_hb *hb, const char *peer_addr)
{
	struct sockaddr_in sa;

	if (hb == NULL || addr_parse(peer_addr, &sa) != 0)
		return -EINVAL;
	hb->peer_addr = sa;
	return 0;
}

/* ---- send ---- */

static void
hb_build(const struct rc_hb *hb, const struct rc_hb_key *k, const struct rc_hb_status *mine,
	 uint64_t seq, uint8_t b[RC_HB_WIRE_LEN])
{
	memset(b, 0, RC_HB_WIRE_LEN);
	memcpy(b + RC_HB_OFF_MAGIC, RC_HB_MAGIC, 4);
	b[RC_HB_OFF_VERSION] = RC_HB_VERSION;
	b[RC_HB_OFF_KEY_ID] = k->id;
	b[RC_HB_OFF_KEY_CUR] = hb->cur.id;
	memcpy(b + RC_HB_OFF_NODE, hb->node_field, RC_HB_NODE_FIELD);
	rc_put_be64(b + RC_HB_OFF_BOOT, hb->boot_id);
	rc_put_be64(b + RC_HB_OFF_SEQ, seq);
	rc_put_be64(b + RC_HB_OFF_TIME, wall_ms(hb));
	rc_put_be32(b + RC_HB_OFF_STATE, mine->ha_state);
	rc_put_be32(b + RC_HB_OFF_REASON, mine->ha_reason);
	rc_put_be64(b + RC_HB_OFF_EPOCH, mine->epoch);
	rc_put_be64(b + RC_HB_OFF_LSN, mine->last_lsn);
	rc_put_be64(b + RC_HB_OFF_ACKED, mine->peer_lsn_acked);
	rc_put_be32(b + RC_HB_OFF_HEALTH, mine->health);
}

int
rc_hb_send(struct rc_hb *hb, uint64_t now_ms, const struct rc_hb_status *mine)
{
	uint8_t b[RC_HB_WIRE_LEN];
	const struct rc_hb_key *k;
	ssize_t n;
	int rc;

	clock_start(hb, now_ms);
	keys_expire(hb, now_ms);
	hb->next_send_ms = now_ms + hb->interval_ms;
	k = send_key(hb);
	hb->stats.tx_key_id = k->id;
	hb_build(hb, k, mine, __atomic_add_fetch(&seq_counter, 1, __ATOMIC_RELAXED), b);
	rc = hb_mac(k, b, b + RC_HB_OFF_MAC);
	if (rc < 0)
		goto out_err;
	n = sendto(hb->fd, b, sizeof(b), MSG_DONTWAIT | MSG_NOSIGNAL,
		   (const struct sockaddr *)&hb->peer_addr, sizeof(hb->peer_addr));
	if (n < 0) {
		rc = -errno;
		goto out_err;
	}
	hb->stats.tx++;
	return 0;

out_err:
	hb->stats.tx_errors++;
	return rc;
}

/* ---- receive ---- */

static bool
drop(enum rc_hb_drop *why, enum rc_hb_drop reason)
{
	*why = reason;
	return false;
}

static bool
wire_ok(const uint8_t *b, size_t n)
{
	return n == RC_HB_WIRE_LEN && memcmp(b + RC_HB_OFF_MAGIC, RC_HB_MAGIC, 4) == 0 &&
	       b[RC_HB_OFF_VERSION] == RC_HB_VERSION && b[RC_HB_OFF_KEY_ID] != 0 &&
	       b[RC_HB_OFF_KEY_CUR] != 0 && b[RC_HB_OFF_RSVD1] == 0 &&
	       rc_get_be32(b + RC_HB_OFF_RSVD2) == 0 && rc_get_be64(b + RC_HB_OFF_BOOT) != 0;
}

static const struct rc_hb_key *
key_find(const struct rc_hb *hb, uint8_t id, enum rc_hb_drop *why)
{
	if (id == hb->cur.id)
		return &hb->cur;
	if (hb->prev.id != 0 && id == hb->prev.id)
		return &hb->prev;
	*why = retired_has(hb, id) ? RC_HB_DROP_OLD_KEY : RC_HB_DROP_UNKNOWN_KEY;
	return NULL;
}

static bool
skew_ok(const struct rc_hb *hb, uint64_t t)
{
	uint64_t w = wall_ms(hb);

	return (t > w ? t - w : w - t) <= hb->skew_ms;
}

/* Boot id and seq (rule 5). *rebooted: a new boot id of a peer we had heard before. */
static bool
boot_seq_ok(const struct rc_hb *hb, uint64_t boot, uint64_t seq, uint64_t t, bool *rebooted,
	    enum rc_hb_drop *why)
{
	*rebooted = false;
	if (hb->boot_known && boot == hb->peer_boot)
		return seq > hb->peer_seq || drop(why, RC_HB_DROP_REPLAYED);
	if (!skew_ok(hb, t))
		return drop(why, RC_HB_DROP_STALE);
	if (hb->boot_known && t <= hb->peer_time_ms)
		return drop(why, RC_HB_DROP_REPLAYED);
	*rebooted = hb->boot_known;
	return true;
}

static void
status_decode(const uint8_t *b, struct rc_hb_status *st)
{
	memcpy(st->node_id, b + RC_HB_OFF_NODE, RC_HB_NODE_FIELD);
	st->node_id[RC_HB_NODE_FIELD - 1] = '\0';
	st->boot_id = rc_get_be64(b + RC_HB_OFF_BOOT);
	st->seq = rc_get_be64(b + RC_HB_OFF_SEQ);
	st->time_ms = rc_get_be64(b + RC_HB_OFF_TIME);
	st->key_id = b[RC_HB_OFF_KEY_ID];
	st->ha_state = rc_get_be32(b + RC_HB_OFF_STATE);
	st->ha_reason = rc_get_be32(b + RC_HB_OFF_REASON);
	st->epoch = rc_get_be64(b + RC_HB_OFF_EPOCH);
	st->last_lsn = rc_get_be64(b + RC_HB_OFF_LSN);
	st->peer_lsn_acked = rc_get_be64(b + RC_HB_OFF_ACKED);
	st->health = rc_get_be32(b + RC_HB_OFF_HEALTH);
}

/* Check one datagram; if it is valid, update the peer's state and decode it into *st. */
static bool
hb_accept(struct rc_hb *hb, const uint8_t *b, size_t n, uint64_t now, struct rc_hb_status *st,
	  enum rc_hb_drop *why)
{
	uint8_t mac[RC_HB_MAC_LEN];
	const struct rc_hb_key *k;
	uint64_t boot, seq, t;
	bool rebooted;

	if (!wire_ok(b, n))
		return drop(why, RC_HB_DROP_MALFORMED);
	k = key_find(hb, b[RC_HB_OFF_KEY_ID], why);
	if (k == NULL)
		return false;
	if (hb_mac(k, b, mac) != 0 || CRYPTO_memcmp(mac, b + RC_HB_OFF_MAC, sizeof(mac)) != 0)
		return drop(why, RC_HB_DROP_FORGED); /* fail closed */
	if (memcmp(b + RC_HB_OFF_NODE, hb->peer_field, RC_HB_NODE_FIELD) != 0)
		return drop(why, RC_HB_DROP_WRONG_PEER);
	boot = rc_get_be64(b + RC_HB_OFF_BOOT);
	seq = rc_get_be64(b + RC_HB_OFF_SEQ);
	t = rc_get_be64(b + RC_HB_OFF_TIME);
	if (!boot_seq_ok(hb, boot, seq, t, &rebooted, why))
		return false;

	if (rebooted || !hb->boot_known || t > hb->peer_time_ms)
		hb->peer_time_ms = t;
	hb->boot_known = true;
	hb->peer_boot = boot;
	hb->peer_seq = seq;
	hb->last_rx_ms = now;
	hb->peer_key_cur = b[RC_HB_OFF_KEY_CUR];
	hb->stats.rx_key_id = b[RC_HB_OFF_KEY_ID];
	if (k == &hb->cur)
		prev_retire(hb); /* the peer has the current key */
	if (rebooted) {
		hb->pending |= RC_HB_EV(RC_HB_PEER_REBOOTED);
		hb->stats.peer_reboot++;
	}
	if (hb->peer_state != RC_HB_PEER_IS_UP) {
		hb->peer_state = RC_HB_PEER_IS_UP;
		hb->pending |= RC_HB_EV(RC_HB_PEER_UP);
		hb->stats.peer_up++;
	}
	hb->stats.rx++;
	status_decode(b, st);
	return true;
}

int
rc_hb_recv(struct rc_hb *hb, uint64_t now_ms, struct rc_hb_status *peer)
{
	uint8_t b[RC_HB_WIRE_LEN + 1]; /* + 1: a longer datagram is seen as one */
	struct rc_hb_status st;
	enum rc_hb_drop why;
	bool found = false;
	uint64_t t0 = rc_mono_us();
	int err = 0;

	clock_start(hb, now_ms);
	keys_expire(hb, now_ms);
	for (unsigned i = 0; i < RC_HB_RX_BURST; i++) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		ssize_t n;

		if (i % 64 == 63 && rc_mono_us() - t0 >= RC_HB_RX_BUDGET_US)
			break; /* the rest in the next pass: the control loop has other work */
		n = recvfrom(hb->fd, b, sizeof(b), MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from,
			     &flen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				err = -errno;
				hb->stats.rx_errors++;
			}
			break;
		}
		if (flen < sizeof(from) || from.sin_family != AF_INET ||
		    from.sin_addr.s_addr != hb->peer_addr.sin_addr.s_addr) {
			hb->stats.drops[RC_HB_DROP_WRONG_SOURCE]++;
			continue;
		}
		if (hb_accept(hb, b, (size_t)n, now_ms, &st, &why)) {
			*peer = st;
			found = true;
		} else {
			hb->stats.drops[why]++;
		}
	}
	return found ? 1 : err;
}

/* ---- timers ---- */

uint32_t
rc_hb_tick(struct rc_hb *hb, uint64_t now_ms)
{
	uint32_t ev;

	clock_start(hb, now_ms);
	keys_expire(hb, now_ms);
	ev = hb->pending;
	hb->pending = 0;
	if ((hb->peer_state == RC_HB_PEER_IS_UP &&
	     elapsed(now_ms, hb->last_rx_ms) >= hb->dead_ms) ||
	    (hb->peer_state == RC_HB_PEER_UNKNOWN &&
	     elapsed(now_ms, hb->start_ms) >= hb->dead_ms)) {
		hb->peer_state = RC_HB_PEER_IS_DEAD;
		hb->stats.peer_dead++;
		ev |= RC_HB_EV(RC_HB_PEER_DEAD);
	}
	if (now_ms >= hb->next_send_ms)
		ev |= RC_HB_EV(RC_HB_SEND_DUE);
	return ev;
}

static uint64_t
min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

int
rc_hb_next_ms(const struct rc_hb *hb, uint64_t now_ms)
{
	uint64_t at;

	if (!hb->started || hb->pending != 0)
		return 0;
	at = hb->next_send_ms;
	if (hb->peer_state == RC_HB_PEER_IS_UP)
		at = min64(at, hb->last_rx_ms + hb->dead_ms);
	else if (hb->peer_state == RC_HB_PEER_UNKNOWN)
		at = min64(at, hb->start_ms + hb->dead_ms);
	if (hb->prev.id != 0)
		at = min64(at, hb->keys_set_ms + hb->key_grace_ms);
	if (at <= now_ms)
		return 0;
	return at - now_ms > INT_MAX ? INT_MAX : (int)(at - now_ms);
}

/* ---- accessors ---- */

int
rc_hb_fd(const struct rc_hb *hb)
{
	return hb->fd;
}

uint16_t
rc_hb_local_port(const struct rc_hb *hb)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	if (getsockname(hb->fd, (struct sockaddr *)&sa, &len) != 0 || sa.sin_family != AF_INET)
		return 0;
	return ntohs(sa.sin_port);
}

uint64_t
rc_hb_boot_id(const struct rc_hb *hb)
{
	return hb->boot_id;
}

enum rc_hb_peer
rc_hb_peer_state(const struct rc_hb *hb)
{
	return hb->peer_state;
}

void
rc_hb_get_stats(const struct rc_hb *hb, struct rc_hb_stats *out)
{
	*out = hb->stats;
}
