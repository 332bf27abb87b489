/* SPDX-License-Identifier: MIT */
#include "fanout.h"

#include <errno.h>
#include <string.h>

#include <rte_ethdev.h>

#include "bytes.h"

static void
tx_burst_port(struct rc_dp *dp, struct rc_worker *w, unsigned p)
{
	uint16_t n = w->txq_n[p], sent = 0;
	unsigned tries;

	for (tries = 0; sent < n && tries < 4; tries++)
		sent += rte_eth_tx_burst(dp->ports[p].port_id, (uint16_t)w->idx,
					 w->txq[p] + sent, (uint16_t)(n - sent));
	w->stats.tx_pkts += sent;
	if (sent < n) {
		w->stats.drops[RC_DROP_TX_FULL] += n - sent;
		rte_pktmbuf_free_bulk(w->txq[p] + sent, n - sent);
	}
	w->txq_n[p] = 0;
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

static unsigned
slot_index(const struct rc_peer *to)
{
	uint32_t h = to->ip * 2654435761u ^ (uint32_t)to->udp_port * 40503u;

	return (h >> 16) % RC_TX_SLOTS;
}

static bool
same_peer(const struct rc_peer *a, const struct rc_peer *b)
{
	return a->ip == b->ip && a->udp_port == b->udp_port && a->port_idx == b->port_idx &&
	       a->vip == b->vip && a->relay == b->relay;
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
	struct rc_tx_slot *s = &w->slots[slot_index(to)];
	uint8_t *dst;

	if (s->m != NULL &&
	    (!same_peer(&s->to, to) || rc_pkt_payload_len(s->m) + len > s->cap))
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

void
rc_tx_flush(struct rc_dp *dp, struct rc_worker *w)
{
	unsigned i;

	close_open_slots(dp, w);
	for (i = 0; i < dp->n_ports; i++)
		if (w->txq_n[i] > 0)
			tx_burst_port(dp, w, i);
}
