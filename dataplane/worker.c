/* SPDX-License-Identifier: MIT */
/*
 * The worker lcore loop. Each iteration: RX bursts from this worker's queues, the `in`
 * ring (requests forwarded to this home worker), the `done` ring (stored records: ACK +
 * DELIVER), the `tx` ring (replies built by control and history), then every open datagram
 * is closed and transmitted, then one RCU quiescent state. After idle_polls empty
 * iterations the worker goes RCU-offline and waits on its doorbell (doorbell.h: every
 * producer onto its in, tx and done rings rings it) for idle_sleep_us; once it had no work
 * for idle_backoff_after_ms, each empty wake doubles the wait up to idle_sleep_max_us
 * (rc_worker_idle_next_us). The NIC queues (memif, af_packet) have no interrupt: only the
 * end of a wait notices a received frame, so a light but steady load keeps the short
 * waits, and only a quiet worker saves the wake-ups. Any work starts over.
 *
 * Nothing here blocks, allocates from the heap per packet, or logs.
 */
#include "dp.h"

#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mempool.h>
#include <urcu-qsbr.h>

#include "request.h"
#include "fanout.h"
#include "frag_tap.h"
#include "handoff.h"

struct rc_dp *rc_dp_global;

static bool
frag_dst_ours(const void *arg, uint32_t dst)
{
	return rc_local_vip_of(arg, dst) >= 0;
}

/* A datagram the device reassembled from fragments the tap saw (PROTOCOL.md 1: dropped; the
 * fragments were counted as ip_fragment when the tap saw them). */
static bool
reassembled(struct rc_frag_tap *tap, const struct rte_mbuf *m, uint64_t now)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);

	if (rte_pktmbuf_data_len(m) < sizeof(*eth) + 20 ||
	    eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))
		return false;
	return rc_frag_tap_reassembled(tap, eth + 1, now);
}

/*
 * Whether the reply rc_pkt_classify built in m may leave: an ARP reply always; an ICMP echo
 * reply within its asker's rate and then the worker's (each echo is a 1:1 reflection and
 * worker time: a flood of them, spoofed or not, is answered at those rates at most).
 */
static bool
reply_allowed(struct rc_dp *dp, struct rc_worker *w, const struct rte_mbuf *m)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(eth + 1);
	uint64_t now = rc_mono_ms();

	if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))
		return true;
	/* the reply is addressed to the asker already */
	return rc_src_take(&w->icmp_src, ip->dst_addr, now, dp->icmp_source_rate,
			   dp->icmp_source_rate) &&
	       rc_bucket_take(&w->icmp_all, now, dp->icmp_rate, dp->icmp_rate, 1);
}

/* One received frame: answered in place, handed to the chat or relay input, or dropped. */
static inline void
rx_frame(struct rc_dp *dp, struct rc_worker *w, unsigned p, struct rte_mbuf *m)
{
	const uint8_t *payload;
	struct rc_peer peer;
	enum rc_drop why;
	uint16_t len;

	switch (rc_pkt_classify(m, &dp->ports[p].local, &peer, &payload, &len, &why)) {
	case RC_V_REPLY:
		if (!reply_allowed(dp, w, m)) {
			w->stats.drops[RC_DROP_ICMP_RATE]++;
			break;
		}
		rc_neigh_arp(dp, w, m, true);
		m->port = (uint16_t)p;
		rc_tx_frame(dp, w, m);
		return;
	case RC_V_CHAT:
		if (unlikely(len >= 2 && payload[1] == 0x4E && payload[0] == 0x52))
			rc_relay_input(dp, w, &peer, payload, len); /* "RN": another node */
		else
			rc_req_input(dp, w, &peer, payload, len);
		break;
	case RC_V_DROP:
		w->stats.drops[why]++;
		if (why == RC_DROP_ARP_NOT_US) /* ARP replies, gratuitous ARP */
			rc_neigh_arp(dp, w, m, false);
		break;
	}
	rte_pktmbuf_free(m);
}

void
rc_worker_rx_frame(struct rc_dp *dp, struct rc_worker *w, unsigned p, struct rte_mbuf *m)
{
	rx_frame(dp, w, p, m);
}

static unsigned
rx_port(struct rc_dp *dp, struct rc_worker *w, unsigned p)
{
	const struct rc_dp_port *port = &dp->ports[p];
	struct rc_frag_tap *tap = port->frag_tap[w->idx];
	uint64_t now = 0, ignored = 0;
	struct rte_mbuf *pkts[RC_BURST_MAX];
	unsigned total = 0;
	uint16_t q, n, i;

	for (q = (uint16_t)w->idx; q < port->n_rxq; q = (uint16_t)(q + dp->n_workers)) {
		n = rte_eth_rx_burst(port->port_id, q, pkts, (uint16_t)dp->burst);
		if (n != 0)
			w->rx_ns = rc_mono_ns(); /* a POST's first stamp (latency.h) */
		/* after the burst: the fragments of any datagram reassembled into it are in the
		 * tap's ring by now (frag_tap.h) */
		if (tap != NULL)
			rc_frag_tap_poll(tap, now = rc_mono_ms(), frag_dst_ours, &port->local,
					 w->idx == 0 ? &w->stats.drops[RC_DROP_IP_FRAGMENT]
						     : &ignored);
		for (i = 0; i < n; i++) {
			w->stats.rx_bytes += rte_pktmbuf_pkt_len(pkts[i]);
			if (tap != NULL && tap->n_keys != 0 && reassembled(tap, pkts[i], now)) {
				rte_pktmbuf_free(pkts[i]);
				continue;
			}
			rx_frame(dp, w, p, pkts[i]);
		}
		total += n;
	}
	w->stats.rx_pkts += total;
	return total;
}

static unsigned
drain_rings(struct rc_dp *dp, struct rc_worker *w)
{
	void *objs[RC_BURST_MAX];
	unsigned n, i, total = 0;

	n = rte_ring_dequeue_burst(w->in, objs, dp->burst, NULL);
	for (i = 0; i < n; i++) {
		rc_req_work(dp, w, objs[i]);
		rte_mempool_put(dp->work_pool, objs[i]);
	}
	total += n;
	n = rte_ring_dequeue_burst(w->done, objs, RC_BURST_MAX, NULL);
	rc_lat_completions(&w->lat, (struct rc_wal_rec *const *)objs, n);
	for (i = 0; i < n; i++) {
		rc_req_committed(dp, w, objs[i]);
		rte_mempool_put(rte_mempool_from_obj(objs[i]), objs[i]);
	}
	total += n;
	n = rte_ring_dequeue_burst(w->tx, objs, RC_BURST_MAX, NULL);
	for (i = 0; i < n; i++)
		rc_tx_frame(dp, w, objs[i]);
	return total + n;
}

unsigned
rc_worker_idle_next_us(const struct rc_dp *dp, unsigned cur, uint64_t quiet_ms)
{
	unsigned start = dp->idle_sleep_us, max = RTE_MAX(dp->idle_sleep_max_us, start);
	uint64_t next = (uint64_t)cur * 2;

	if (quiet_ms < dp->idle_backoff_after_ms)
		return start;
	return next < start ? start : next > max ? max : (unsigned)next;
}

static bool
rings_empty(const struct rc_worker *w)
{
	return rte_ring_empty(w->in) && rte_ring_empty(w->done) && rte_ring_empty(w->tx);
}

/* Frames wait for a full TX queue (fanout.c): the worker is not quiet, its waits stay
 * short so that the next flushes come soon. */
static bool
tx_waiting(const struct rc_dp *dp, const struct rc_worker *w)
{
	for (unsigned p = 0; p < dp->n_ports; p++)
		if (w->tx_wait_n[p] > 0)
			return true;
	return false;
}

/* Nothing to do for idle_polls iterations (since quiet_since, rc_mono_ms): wait on the bell
 * for *wait_us (then the next wait) unless the rings got work meanwhile or the node is
 * stopping. */
static void
idle_wait(struct rc_dp *dp, struct rc_worker *w, unsigned *wait_us, uint64_t quiet_since)
{
	rc_bell_arm(&w->bell);
	if (!rings_empty(w) || __atomic_load_n(&dp->quit, __ATOMIC_RELAXED)) {
		rc_bell_disarm(&w->bell);
		return;
	}
	w->stats.idle_sleeps++;
	rcu_thread_offline();
	if (rc_bell_wait(&w->bell, *wait_us))
		w->stats.bell_wakes++;
	rcu_thread_online();
	*wait_us = rc_worker_idle_next_us(dp, *wait_us,
					  tx_waiting(dp, w) ? 0 : rc_mono_ms() - quiet_since);
}

int
rc_worker_main(void *arg)
{
	struct rc_worker *w = arg;
	struct rc_dp *dp = rc_dp_global;
	unsigned idle = 0, work, p, wait_us = dp->idle_sleep_us;
	uint64_t quiet_since = rc_mono_ms();

	rcu_register_thread();
	while (!__atomic_load_n(&dp->quit, __ATOMIC_RELAXED)) {
		if (unlikely(dp->fault_stall)) {
			rcu_thread_offline();
			usleep(1000);
			rcu_thread_online();
			continue;
		}
		work = 0;
		for (p = 0; p < dp->n_ports; p++)
			work += rx_port(dp, w, p);
		work += drain_rings(dp, w);
		rc_tx_flush(dp, w);
		rc_lat_flushed(&w->lat);
		w->stats.polls++;
		__atomic_store_n(&w->last_heartbeat, w->stats.polls, __ATOMIC_RELAXED);
		rcu_quiescent_state();
		if (work != 0 || !dp->idle_backoff) {
			idle = 0;
			wait_us = dp->idle_sleep_us;
			continue;
		}
		if (idle < dp->idle_polls) {
			if (++idle == dp->idle_polls)
				quiet_since = rc_mono_ms();
		} else {
			idle_wait(dp, w, &wait_us, quiet_since);
		}
	}
	rcu_unregister_thread();
	return 0;
}

/* m for the relay peer `to` into mb (headers reserved), in a sealed envelope. */
static int
relay_msg(struct rc_dp *dp, struct rc_peer *to, struct rte_mbuf *mb, const struct rc_msg *m)
{
	uint8_t buf[RC_MAX_DGRAM];
	ssize_t n = rc_encode(buf, sizeof(buf), m);

	return n < 0 ? (int)n : rc_relay_wrap(dp, to, mb, buf, (uint16_t)n);
}

int
rc_dp_send_msg(struct rc_dp *dp, unsigned w, const struct rc_peer *to, const struct rc_msg *m)
{
	struct rte_mbuf *mb = rte_pktmbuf_alloc(dp->mbuf_pool);
	struct rc_peer dst = *to;
	uint8_t *p;
	ssize_t n;

	if (mb == NULL)
		return -ENOBUFS;
	p = rc_pkt_init(mb);
	if (p != NULL && unlikely(to->relay != 0))
		n = relay_msg(dp, &dst, mb, m);
	else if ((n = p == NULL ? -ENOBUFS : rc_encode(p, RC_MAX_DGRAM, m)) >= 0)
		n = rte_pktmbuf_append(mb, (uint16_t)n) == NULL ? -ENOBUFS : 0;
	if (n < 0) {
		rte_pktmbuf_free(mb);
		return (int)n;
	}
	rc_pkt_finish(mb, &dp->ports[to->port_idx].local, &dst);
	mb->port = to->port_idx;
	if (rc_worker_push(dp->workers[w], dp->workers[w]->tx, mb) != 0) {
		rte_pktmbuf_free(mb);
		return -ENOBUFS;
	}
	return 0;
}

unsigned
rc_dp_send_garp(struct rc_dp *dp, bool peer)
{
	unsigned sent = 0;

	for (unsigned p = 0; p < dp->n_ports; p++) {
		const struct rc_local *l = &dp->ports[p].local;

		for (int reply = 0; reply < 2; reply++) {
			struct rte_mbuf *m = rte_pktmbuf_alloc(dp->mbuf_pool);

			if (m == NULL)
				return sent;
			if (rc_pkt_garp(m, l, peer ? l->peer_ip : l->ip, reply != 0) != 0) {
				rte_pktmbuf_free(m);
				return sent;
			}
			m->port = (uint16_t)p;
			if (rc_worker_push(dp->workers[0], dp->workers[0]->tx, m) != 0)
				rte_pktmbuf_free(m);
			else
				sent++;
		}
	}
	return sent;
}

void
rc_dp_quit(struct rc_dp *dp)
{
	__atomic_store_n(&dp->quit, true, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < dp->n_workers; i++)
		if (dp->workers[i] != NULL)
			rc_bell_kick(&dp->workers[i]->bell);
}
