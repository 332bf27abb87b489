/* SPDX-License-Identifier: MIT */
#include "fanout.h"

#include <errno.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_hash_crc.h>

#include "bytes.h"

/* Sends the waiting frames of port p, oldest first, as far as the device takes them. */
static void
tx_wait_send(struct rc_dp *dp, struct rc_worker *w, unsigned p)
{
	uint16_t cap = w->tx_wait_cap, head, run, sent;

	while (w->tx_wait_n[p] > 0) {
		head = w->tx_wait_head[p];
		run = (uint16_t)RTE_MIN(w->tx_wait_n[p], cap - head); /* up to the ring's end */
		sent = rte_eth_tx_burst(dp->ports[p].port_id, (uint16_t)w->idx,
					&w->tx_wait[p][head], run);
		w->stats.tx_pkts += sent;
		w->tx_wait_head[p] = (uint16_t)((head + sent) % cap);
		w->tx_wait_n[p] = (uint16_t)(w->tx_wait_n[p] - sent);
		if (sent < run)
			return;
	}
}

/* Frames ms[0..n) wait behind those waiting already; beyond the ring's room they are
 * dropped (tx_full). */
static void
tx_wait_add(struct rc_worker *w, unsigned p, struct rte_mbuf **ms, uint16_t n)
{
	uint16_t cap = w->tx_wait_cap, room = (uint16_t)(cap - w->tx_wait_n[p]), i;

	for (i = 0; i < n && i < room; i++)
		w->tx_wait[p][(w->tx_wait_head[p] + w->tx_wait_n[p] + i) % cap] = ms[i];
	w->tx_wait_n[p] = (uint16_t)(w->tx_wait_n[p] + i);
	w->stats.tx_waited += i;
	if (i < n) {
		w->stats.drops[RC_DROP_TX_FULL] += n - i;
		rte_pktmbuf_free_bulk(ms + i, n - i);
	}
}

/*
 * Transmits port p's queued frames behind any that wait from earlier (the order of a
 * recipient's datagrams is kept). A queue the device does not take at once (a burst larger
 * than its ring, a peer slow to read) leaves the rest waiting, tx_wait_cap frames at most,
 * retried by every rc_tx_flush; only what does not fit there is dropped.
 */
static void
tx_burst_port(struct rc_dp *dp, struct rc_worker *w, unsigned p)
{
	uint16_t n = w->txq_n[p], sent = 0;

	w->txq_n[p] = 0;
	if (w->tx_wait_n[p] > 0) {
		tx_wait_send(dp, w, p);
		if (w->tx_wait_n[p] > 0) {
			tx_wait_add(w, p, w->txq[p], n);
			return;
		}
	}
	if (n > 0)
		sent = rte_eth_tx_burst(dp->ports[p].port_id, (uint16_t)w->idx, w->txq[p], n);
	w->stats.tx_pkts += sent;
	if (sent < n)
		tx_wait_add(w, p, w->txq[p] + sent, (uint16_t)(n - sent));
}

void
rc_tx_frame(struct rc_dp *dp, struct rc_worker *w, struct rte_mbuf *m)
{
	unsigned p = m->port;

	if (p >= dp->n_ports) {
		rte_pktmbuf_free(m);
		return;
	}
	w->stats.tx_bytes += rte_pktmbuf_pkt_len(m);
	w->txq[p][w->txq_n[p]++] = m;
	if (w->txq_n[p] == RC_BURST_MAX)
		tx_burst_port(dp, w, p);
}

static void
slot_close(struct rc_dp *dp, struct rc_worker *w, struct rc_tx_slot *s)
{
	const struct rc_dp_port *port = &dp->ports[s->to.port_idx];

	if (unlikely(s->to.relay != 0) && rc_relay_seal(dp, w, &s->to, s->m) != 0) {
		rte_pktmbuf_free(s->m);
		s->m = NULL;
		return;
	}
	rc_pkt_finish(s->m, &port->local, &s->to);
	s->m->port = s->to.port_idx;
	rc_tx_frame(dp, w, s->m);
	s->m = NULL;
}

static void
close_open_slots(struct rc_dp *dp, struct rc_worker *w)
{
	unsigned i;

	for (i = 0; i < w->n_open; i++)
		if (w->slots[w->open_slots[i]].m != NULL)
			slot_close(dp, w, &w->slots[w->open_slots[i]]);
	w->n_open = 0;
}

static bool
same_peer(const struct rc_peer *a, const struct rc_peer *b)
{
	return a->ip == b->ip && a->udp_port == b->udp_port && a->port_idx == b->port_idx &&
	       a->vip == b->vip && a->relay == b->relay;
}

#define SLOT_PROBE 8 /* slots tried after a recipient's own before one is closed early */

/*
 * The slot of `to`'s open datagram, or an empty one for it: linear probing from its hash,
 * so that recipients whose hashes collide still get one datagram each per iteration (with a
 * slot per hash, two members of a room sharing one closed each other's datagram at every
 * DELIVER: one DELIVER per datagram). When SLOT_PROBE slots are all taken by others, the
 * home slot's datagram is sent early.
 */
static struct rc_tx_slot *
slot_for(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *to)
{
	uint64_t key = (uint64_t)to->ip << 32 | (uint64_t)to->udp_port << 16 |
		       (uint64_t)to->port_idx << 8 | to->vip;
	uint32_t h = rte_hash_crc_8byte(key, to->relay);
	struct rc_tx_slot *s;

	for (unsigned i = 0; i < SLOT_PROBE; i++) {
		s = &w->slots[(h + i) % RC_TX_SLOTS];
		if (s->m == NULL || same_peer(&s->to, to))
			return s;
	}
	s = &w->slots[h % RC_TX_SLOTS];
	slot_close(dp, w, s);
	return s;
}

/* A new datagram in slot s for `to`: its headers, and for a relay peer its envelope's. */
static int
slot_open(struct rc_dp *dp, struct rc_worker *w, struct rc_tx_slot *s,
	  const struct rc_peer *to, uint16_t len)
{
	s->m = rte_pktmbuf_alloc(dp->mbuf_pool);
	if (s->m == NULL || rc_pkt_init(s->m) == NULL) {
		w->stats.drops[RC_DROP_NO_MBUF]++;
		goto fail;
	}
	s->to = *to;
	s->cap = RC_MAX_DGRAM;
	if (unlikely(to->relay != 0)) {
		if (rc_relay_open(dp, w, to, s->m) != 0)
			goto fail;
		s->cap = RC_MAX_DGRAM - RC_RELAY_TAG_LEN;
		if (rc_pkt_payload_len(s->m) + len > s->cap) {
			w->relay_stats.drops[RC_RELAY_DROP_TOO_BIG]++;
			goto fail;
		}
	}
	w->open_slots[w->n_open++] = (uint16_t)(s - w->slots);
	return 0;
fail:
	rte_pktmbuf_free(s->m);
	s->m = NULL;
	return -ENOBUFS;
}

int
rc_tx_append(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *to,
	     const uint8_t *bytes, uint16_t len)
{
	struct rc_tx_slot *s = slot_for(dp, w, to);
	uint8_t *dst;

	if (s->m != NULL && rc_pkt_payload_len(s->m) + len > s->cap)
		slot_close(dp, w, s);
	if (s->m == NULL) {
		if (w->n_open == RC_TX_SLOTS)
			close_open_slots(dp, w);
		if (slot_open(dp, w, s, to, len) != 0)
			return -ENOBUFS;
	}
	dst = (uint8_t *)rte_pktmbuf_append(s->m, len);
	if (dst == NULL) {
		w->stats.drops[RC_DROP_NO_MBUF]++;
		return -ENOBUFS;
	}
	memcpy(dst, bytes, len);
	return 0;
}

int
rc_tx_msg(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *to,
	  const struct rc_msg *m)
{
	uint8_t buf[RC_MAX_DGRAM];
	ssize_t n = rc_encode(buf, sizeof(buf), m);

	if (n < 0)
		return (int)n;
	w->stats.msgs_out[m->hdr.type]++;
	if (m->hdr.type == RC_T_ERROR && m->u.error.code < RC_E_MAX)
		w->stats.errors_out[m->u.error.code]++;
	return rc_tx_append(dp, w, to, buf, (uint16_t)n);
}

unsigned
rc_fanout_room(struct rc_dp *dp, struct rc_worker *w, const struct rc_room *r,
	       const struct rc_msg *deliver)
{
	uint8_t buf[RC_MAX_DGRAM];
	ssize_t n = rc_encode(buf, sizeof(buf), deliver);
	unsigned i, reached = 0;

	if (n < 0)
		return 0;
	for (i = 0; i < r->n_members; i++) {
		const struct rc_member *mb = &r->members[i];

		/* a node member gets its own id of the room (DELIVER's first field) */
		rc_put_be32(buf + RC_HDR_LEN, mb->peer.relay != 0 ? mb->alias : r->id);
		if (rc_tx_append(dp, w, &mb->peer, buf, (uint16_t)n) == 0) {
			reached++;
			w->relay_stats.delivers_out += mb->peer.relay != 0;
		}
	}
	w->stats.msgs_out[RC_T_DELIVER] += reached;
	w->stats.deliveries += reached;
	return reached;
}

/* ---- a room's stored messages, fanned out together ---- */

/*
 * Where the batch's datagrams start: cut[d] is the first message of datagram d, cut[n] =
 * b->n; the same for every client member (they all get the same bytes). Returns n.
 */
static unsigned
fan_cuts(const struct rc_fan_batch *b, uint16_t *cut)
{
	unsigned n = 0, i;

	cut[0] = 0;
	for (i = 1; i < b->n; i++)
		if (b->off[i + 1] - b->off[cut[n]] > RC_MAX_DGRAM)
			cut[++n] = (uint16_t)i;
	cut[++n] = b->n;
	return n;
}

/* The batch to a client member, in n datagrams of its own. Returns the DELIVERs sent. */
static unsigned
fan_client(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *to,
	   const struct rc_fan_batch *b, const uint16_t *cut, unsigned n)
{
	const struct rc_local *local = &dp->ports[to->port_idx].local;
	struct rte_mbuf *m;
	unsigned d, sent = 0;
	uint16_t len;
	uint8_t *p;

	for (d = 0; d < n; d++) {
		len = (uint16_t)(b->off[cut[d + 1]] - b->off[cut[d]]);
		m = rte_pktmbuf_alloc(dp->mbuf_pool);
		if (m == NULL || rc_pkt_init(m) == NULL ||
		    (p = (uint8_t *)rte_pktmbuf_append(m, len)) == NULL) {
			w->stats.drops[RC_DROP_NO_MBUF]++;
			rte_pktmbuf_free(m);
			continue;
		}
		memcpy(p, b->buf + b->off[cut[d]], len);
		rc_pkt_finish(m, local, to);
		m->port = to->port_idx;
		rc_tx_frame(dp, w, m);
		w->stats.fan_datagrams++;
		sent += cut[d + 1] - cut[d];
	}
	return sent;
}

/* The batch to a node member (a relay peer): each DELIVER with that node's id of the room,
 * through its open datagram (and its envelope). Returns the DELIVERs sent. */
static unsigned
fan_node(struct rc_dp *dp, struct rc_worker *w, const struct rc_member *mb,
	 const struct rc_fan_batch *b)
{
	uint8_t buf[RC_MAX_DGRAM];
	unsigned i, sent = 0;
	uint16_t len;

	for (i = 0; i < b->n; i++) {
		len = (uint16_t)(b->off[i + 1] - b->off[i]);
		memcpy(buf, b->buf + b->off[i], len);
		rc_put_be32(buf + RC_HDR_LEN, mb->alias);
		sent += rc_tx_append(dp, w, &mb->peer, buf, len) == 0;
	}
	w->relay_stats.delivers_out += sent;
	return sent;
}

int
rc_fanout_add(struct rc_dp *dp, struct rc_worker *w, const struct rc_room *r,
	      const struct rc_msg *deliver)
{
	struct rc_fan_batch *b = &w->fan;
	ssize_t n;

	if (b->n != 0 && (b->room_id != r->id || b->incarnation != r->incarnation ||
			  b->n == RC_FAN_MSGS || RC_FAN_BYTES - b->len < RC_MAX_DGRAM))
		rc_fanout_flush(dp, w);
	n = rc_encode(b->buf + b->len, RC_MAX_DGRAM, deliver);
	if (n < 0)
		return (int)n;
	if (b->n == 0) {
		b->room_id = r->id;
		b->incarnation = r->incarnation;
		b->off[0] = 0;
	}
	b->len = (uint16_t)(b->len + n);
	b->off[++b->n] = b->len;
	return 0;
}

void
rc_fanout_flush(struct rc_dp *dp, struct rc_worker *w)
{
	struct rc_fan_batch *b = &w->fan;
	uint16_t cut[RC_FAN_MSGS + 1];
	const struct rc_room *r;
	unsigned i, n, reached = 0;

	if (b->n == 0)
		return;
	r = rc_room_lookup_id(dp->rooms, b->room_id);
	if (r != NULL && r->incarnation == b->incarnation) {
		n = fan_cuts(b, cut);
		for (i = 0; i < r->n_members; i++) {
			const struct rc_member *mb = &r->members[i];

			reached += mb->peer.relay != 0 ? fan_node(dp, w, mb, b)
						       : fan_client(dp, w, &mb->peer, b, cut, n);
		}
	}
	w->stats.msgs_out[RC_T_DELIVER] += reached;
	w->stats.deliveries += reached;
	b->n = 0;
	b->len = 0;
	b->room_id = 0;
}

void
rc_tx_flush(struct rc_dp *dp, struct rc_worker *w)
{
	unsigned i;

	/* the replies first (a poster's ACK before its own DELIVER), then the room messages;
	 * a node member's DELIVERs go through open datagrams again */
	close_open_slots(dp, w);
	if (w->fan.n != 0) {
		rc_fanout_flush(dp, w);
		close_open_slots(dp, w);
	}
	for (i = 0; i < dp->n_ports; i++)
		if (w->txq_n[i] > 0 || w->tx_wait_n[i] > 0)
			tx_burst_port(dp, w, i);
}
