/* SPDX-License-Identifier: MIT */
/*
 * bench_fanout: what does it cost to send one room message to R recipients?
 *
 * Every recipient needs its own Ethernet/IPv4/UDP header (its MAC, IP and port, a fresh IPv4
 * header checksum) in front of the same DELIVER payload. Three ways to build the frames:
 *   a copy    one mbuf per recipient: header + memcpy of the payload (the baseline)
 *   b clone   header mbuf + indirect mbuf attached to one payload mbuf (rte_pktmbuf_attach),
 *             chained, nb_segs 2
 *   c refcnt  header mbuf chained to the payload mbuf itself, whose reference count is
 *             raised once by R - 1 (as DPDK's examples/ipv4_multicast does without clones)
 * sent with rte_eth_tx_burst() in bursts of 32 to
 *   null      net_null: frees what it is given; measures our CPU cost only
 *   ring      a net_ring pair (A's TX ring is B's RX ring); B is drained and freed on the
 *             same thread after every burst
 *   afpacket  net_af_packet on a veth pair (root only); the peer is drained the same way.
 *             The frames go to made-up MACs, so the kernel's IP stack drops them.
 * The payload is a DELIVER with a body of 64, 200 or 1000 fill bytes; "encoding" it is one
 * memcpy per message for every method. UDP checksums are 0 (legal over IPv4) for all methods.
 *
 * Figures: CPU time of this thread (CLOCK_THREAD_CPUTIME_ID, so other processes on the
 * machine do not inflate them) per delivery, the median of -r runs of each point, each run
 * bounded by -t seconds or -n deliveries. No assertions: the program prints figures, plus a
 * correctness check of every method (frames compared byte for byte after the ring, and
 * after af_packet) and a leak check of every pool after every run.
 *
 * Single-threaded: the EAL runs on one lcore (-l 0); everything happens on it.
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_udp.h>

#include "clock.h"
#include "port.h"
#include "proto.h"

#define BURST 32
#define HDR_LEN (RTE_ETHER_HDR_LEN + 20 + 8) /* Ethernet + IPv4 + UDP = 42 */
#define DELIVER_FIXED (RC_HDR_LEN + 4 + 8 + 8 + 8 + 1 + 8 + 2) /* sender "benchusr" */
#define MAX_BODY 1000
#define MAX_PAYLOAD (DELIVER_FIXED + MAX_BODY)
#define MAX_R 512
#define POOL_N 4095

enum method { M_COPY, M_CLONE, M_REFCNT, M_MAX };
enum sink_kind { S_NULL, S_RING, S_AFP, S_MAX };

static const char *const method_name[M_MAX] = { "a copy", "b clone", "c refcnt" };
static const unsigned bodies[] = { 64, 200, 1000 };
static const unsigned fans[] = { 1, 8, 64, 512 };
#define N_BODIES (sizeof(bodies) / sizeof(bodies[0]))
#define N_FANS (sizeof(fans) / sizeof(fans[0]))

struct rcpt {
	struct rte_ether_addr mac;
	rte_be32_t ip;
	rte_be16_t port;
};

struct msg {
	uint8_t tmpl[HDR_LEN] __rte_aligned(8); /* headers with this message's lengths */
	uint16_t plen;
	uint8_t payload[MAX_PAYLOAD];
};

struct sink {
	const char *name;
	struct rc_port tx, rx; /* rx unused for null */
	bool drain;            /* receive and free on rx after each burst */
	bool present;
};

struct txbuf {
	struct rte_mbuf *m[BURST];
	unsigned n;
	uint64_t sent, dropped, received;
};

struct bench {
	struct rte_mempool *frames, *hdrs, *indirect, *payloads;
	struct rcpt rcpt[MAX_R];
	struct rte_ether_addr src_mac;
	uint8_t enc[MAX_PAYLOAD]; /* where method a "encodes" the message */
	struct sink sink[S_MAX];
	double seconds;
	uint64_t max_deliveries;
	unsigned reps;
	bool leak;
	uint64_t sent, dropped, received; /* by the sink measured, reset per table */
	char veth_a[IFNAMSIZ], veth_b[IFNAMSIZ];
	bool have_veth;
};

static struct bench B;

/* ---- frames ---- */

static void
msg_init(struct msg *m, unsigned body)
{
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)m->tmpl;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eh + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	unsigned i;

	m->plen = (uint16_t)(DELIVER_FIXED + body);
	for (i = 0; i < m->plen; i++)
		m->payload[i] = (uint8_t)(i * 7 + body);
	m->payload[0] = RC_MAGIC >> 8;
	m->payload[1] = RC_MAGIC & 0xff;
	m->payload[2] = RC_VERSION;
	m->payload[3] = RC_T_DELIVER;
	memset(m->tmpl, 0, sizeof(m->tmpl));
	eh->src_addr = B.src_mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(20 + 8 + m->plen));
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(0xc6120001); /* 198.18.0.1 */
	udp->src_port = rte_cpu_to_be_16(RC_DEFAULT_UDP_PORT);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(8 + m->plen));
}

static inline void
hdr_write(uint8_t *d, const struct msg *m, const struct rcpt *r)
{
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(d + RTE_ETHER_HDR_LEN);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	memcpy(d, m->tmpl, HDR_LEN);
	memcpy(d, &r->mac, RTE_ETHER_ADDR_LEN);
	ip->dst_addr = r->ip;
	udp->dst_port = r->port;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
}

static void
rcpt_init(void)
{
	unsigned i;

	for (i = 0; i < MAX_R; i++) {
		struct rte_ether_addr mac = { { 0x02, 0, 0, 0x5c, (uint8_t)(i >> 8), (uint8_t)i } };

		B.rcpt[i].mac = mac;
		B.rcpt[i].ip = rte_cpu_to_be_32(0xc6130000 + i + 2); /* 198.19.x.y */
		B.rcpt[i].port = rte_cpu_to_be_16((uint16_t)(40000 + i));
	}
}

/* ---- sending ---- */

static void
sink_drain(const struct sink *s, struct txbuf *t)
{
	struct rte_mbuf *rx[64];
	uint16_t n;

	while ((n = rte_eth_rx_burst(s->rx.port_id, 0, rx, 64)) > 0) {
		t->received += n;
		rte_pktmbuf_free_bulk(rx, n);
	}
}

static void
tx_flush(const struct sink *s, struct txbuf *t)
{
	uint16_t sent = t->n ? rte_eth_tx_burst(s->tx.port_id, 0, t->m, (uint16_t)t->n) : 0;

	if (sent < t->n) {
		rte_pktmbuf_free_bulk(t->m + sent, t->n - sent);
		t->dropped += t->n - sent;
	}
	t->sent += sent;
	t->n = 0;
	if (s->drain)
		sink_drain(s, t);
}

static void
alloc_or_die(struct rte_mempool *mp, struct rte_mbuf **m, unsigned n)
{
	if (rte_pktmbuf_alloc_bulk(mp, m, n) != 0) {
		fprintf(stderr, "bench_fanout: pool %s exhausted\n", mp->name);
		exit(1);
	}
}

/* a: one mbuf per recipient, header + copy of the payload. */
static void
fan_copy(const struct sink *s, struct txbuf *t, const struct msg *m, unsigned R)
{
	unsigned i = 0, j, k;

	memcpy(B.enc, m->payload, m->plen);
	while (i < R) {
		k = RTE_MIN(R - i, BURST - t->n);
		alloc_or_die(B.frames, t->m + t->n, k);
		for (j = 0; j < k; j++) {
			struct rte_mbuf *f = t->m[t->n + j];
			uint8_t *d = rte_pktmbuf_mtod(f, uint8_t *);

			hdr_write(d, m, &B.rcpt[i + j]);
			memcpy(d + HDR_LEN, B.enc, m->plen);
			f->data_len = (uint16_t)(HDR_LEN + m->plen);
			f->pkt_len = f->data_len;
		}
		t->n += k;
		i += k;
		if (t->n == BURST)
			tx_flush(s, t);
	}
}

static struct rte_mbuf *
payload_mbuf(const struct msg *m)
{
	struct rte_mbuf *p;

	alloc_or_die(B.payloads, &p, 1);
	memcpy(rte_pktmbuf_mtod(p, void *), m->payload, m->plen);
	p->data_len = m->plen;
	p->pkt_len = m->plen;
	return p;
}

/* Header mbuf for recipient r, chained to seg (the payload, or an indirect view of it). */
static inline void
hdr_chain(struct rte_mbuf *h, struct rte_mbuf *seg, const struct msg *m, const struct rcpt *r)
{
	hdr_write(rte_pktmbuf_mtod(h, uint8_t *), m, r);
	h->data_len = HDR_LEN;
	h->next = seg;
	h->nb_segs = 2;
	h->pkt_len = HDR_LEN + m->plen;
}

/* b: header mbuf + indirect mbuf attached to the one payload mbuf. */
static void
fan_clone(const struct sink *s, struct txbuf *t, const struct msg *m, unsigned R)
{
	struct rte_mbuf *pay = payload_mbuf(m), *ind[BURST];
	unsigned i = 0, j, k;

	while (i < R) {
		k = RTE_MIN(R - i, BURST - t->n);
		alloc_or_die(B.hdrs, t->m + t->n, k);
		alloc_or_die(B.indirect, ind, k);
		for (j = 0; j < k; j++) {
			rte_pktmbuf_attach(ind[j], pay);
			hdr_chain(t->m[t->n + j], ind[j], m, &B.rcpt[i + j]);
		}
		t->n += k;
		i += k;
		if (t->n == BURST)
			tx_flush(s, t);
	}
	rte_pktmbuf_free(pay); /* our reference; the indirect mbufs hold theirs */
}

/* c: header mbuf chained to the payload mbuf itself; one reference per recipient. */
static void
fan_refcnt(const struct sink *s, struct txbuf *t, const struct msg *m, unsigned R)
{
	struct rte_mbuf *pay = payload_mbuf(m);
	unsigned i = 0, j, k;

	if (R > 1)
		rte_mbuf_refcnt_update(pay, (int16_t)(R - 1)); /* ours goes to the last frame */
	while (i < R) {
		k = RTE_MIN(R - i, BURST - t->n);
		alloc_or_die(B.hdrs, t->m + t->n, k);
		for (j = 0; j < k; j++)
			hdr_chain(t->m[t->n + j], pay, m, &B.rcpt[i + j]);
		t->n += k;
		i += k;
		if (t->n == BURST)
			tx_flush(s, t);
	}
}

static void
fan(enum method me, const struct sink *s, struct txbuf *t, const struct msg *m, unsigned R)
{
	if (me == M_COPY)
		fan_copy(s, t, m, R);
	else if (me == M_CLONE)
		fan_clone(s, t, m, R);
	else
		fan_refcnt(s, t, m, R);
}

/* ---- checks ---- */

static bool
pools_balanced(void)
{
	return rte_mempool_in_use_count(B.frames) == 0 && rte_mempool_in_use_count(B.hdrs) == 0 &&
	       rte_mempool_in_use_count(B.indirect) == 0 &&
	       rte_mempool_in_use_count(B.payloads) == 0;
}

/* Send R frames of method me without draining, receive them on the sink's rx port and
 * compare each with the frame method a would build. Returns frames that matched. */
static unsigned
verify(enum method me, const struct sink *s, unsigned body, unsigned R)
{
	struct sink quiet = *s;
	struct txbuf t = { .n = 0 };
	struct rte_mbuf *rx[BURST];
	uint8_t want[HDR_LEN + MAX_PAYLOAD] __rte_aligned(8), buf[2048] __rte_aligned(8);
	unsigned ok = 0, seen = 0, polls, i, n;
	struct msg m;

	msg_init(&m, body);
	quiet.drain = false;
	fan(me, &quiet, &t, &m, R);
	tx_flush(&quiet, &t);
	for (polls = 0; polls < 500 && seen < R; polls++) {
		n = rte_eth_rx_burst(s->rx.port_id, 0, rx, BURST);
		for (i = 0; i < n; i++, seen++) {
			const uint8_t *d = rte_pktmbuf_read(rx[i], 0, rx[i]->pkt_len, buf);

			hdr_write(want, &m, &B.rcpt[seen % R]);
			memcpy(want + HDR_LEN, m.payload, m.plen);
			if (d != NULL && rx[i]->pkt_len == (uint32_t)(HDR_LEN + m.plen) &&
			    memcmp(d, want, HDR_LEN + m.plen) == 0)
				ok++;
			rte_pktmbuf_free(rx[i]);
		}
		if (n == 0)
			usleep(1000);
	}
	return ok;
}

/* ---- timing ---- */

/* One run: fan messages out until the time or delivery bound. Returns CPU ns / delivery. */
static double
run_point(enum method me, const struct sink *s, unsigned body, unsigned R, double *wall_ratio)
{
	uint64_t deadline, c0, w0, cpu, wall, n = 0;
	struct txbuf t = { .n = 0 };
	struct msg m;

	msg_init(&m, body);
	deadline = rte_rdtsc() + (uint64_t)(B.seconds * (double)rte_get_tsc_hz());
	c0 = rc_clock_ns(CLOCK_THREAD_CPUTIME_ID);
	w0 = rc_clock_ns(CLOCK_MONOTONIC);
	while (n < B.max_deliveries && rte_rdtsc() < deadline) {
		fan(me, s, &t, &m, R);
		n += R;
	}
	tx_flush(s, &t);
	cpu = rc_clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	wall = rc_clock_ns(CLOCK_MONOTONIC) - w0;
	if (s->drain) {
		usleep(2000);
		sink_drain(s, &t);
	}
	if (!pools_balanced())
		B.leak = true;
	B.sent += t.sent;
	B.dropped += t.dropped;
	B.received += t.received;
	*wall_ratio = (double)wall / (double)(cpu ? cpu : 1);
	return (double)cpu / (double)n;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
print_sink_table(enum sink_kind sk)
{
	const struct sink *s = &B.sink[sk];
	double ns[M_MAX][16], med[M_MAX], wr, wr_max = 0;
	unsigned b, f, me, r;
	char rcvd[64] = "";

	B.sent = B.dropped = B.received = 0;
	printf("\nsink %s: CPU ns per delivery (median of %u) | million deliveries per CPU-second"
	       " | speed relative to a\n", s->name, B.reps);
	printf("%5s %5s %4s | %8s %7s | %8s %7s %6s | %8s %7s %6s\n", "body", "frame", "R",
	       "a ns", "a M/s", "b ns", "b M/s", "b/a", "c ns", "c M/s", "c/a");
	for (b = 0; b < N_BODIES; b++) {
		for (f = 0; f < N_FANS; f++) {
			for (r = 0; r < B.reps; r++) /* interleaved: drift hits all methods */
				for (me = 0; me < M_MAX; me++) {
					ns[me][r] = run_point(me, s, bodies[b], fans[f], &wr);
					wr_max = RTE_MAX(wr_max, wr);
				}
			for (me = 0; me < M_MAX; me++) {
				qsort(ns[me], B.reps, sizeof(double), cmp_double);
				med[me] = ns[me][B.reps / 2];
			}
			printf("%5u %5u %4u | %8.1f %7.2f | %8.1f %7.2f %5.2fx | %8.1f %7.2f "
			       "%5.2fx\n",
			       bodies[b], HDR_LEN + DELIVER_FIXED + bodies[b], fans[f], med[0],
			       1e3 / med[0], med[1], 1e3 / med[1], med[0] / med[1], med[2],
			       1e3 / med[2], med[0] / med[2]);
			fflush(stdout);
		}
	}
	if (s->drain)
		snprintf(rcvd, sizeof(rcvd), ", received by the peer: %lu",
			 (unsigned long)B.received);
	printf("(frames taken by TX: %lu, refused and freed: %lu%s; the figures count frames"
	       " offered;"
	       "\n largest wall/CPU time ratio of a run: %.2f: above ~1.1 the thread waited or was"
	       " preempted; CPU time leaves the waiting out, not the cache pollution)\n",
	       (unsigned long)B.sent, (unsigned long)B.dropped, rcvd, wr_max);
}

/* ---- setup ---- */

static int
run_cmd(const char *fmt, ...)
{
	char cmd[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void
veth_delete(void)
{
	if (B.have_veth)
		run_cmd("ip link del %s 2>/dev/null", B.veth_a);
	B.have_veth = false;
}

static bool
veth_create(void)
{
	unsigned id = (unsigned)getpid() % 100000;

	snprintf(B.veth_a, sizeof(B.veth_a), "rcbf%05ua", id);
	snprintf(B.veth_b, sizeof(B.veth_b), "rcbf%05ub", id);
	if (geteuid() != 0 ||
	    run_cmd("ip link add %s type veth peer name %s 2>/dev/null", B.veth_a, B.veth_b) != 0)
		return false;
	B.have_veth = true;
	atexit(veth_delete);
	run_cmd("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1 net.ipv6.conf.%s.disable_ipv6=1 "
		">/dev/null 2>&1", B.veth_a, B.veth_b);
	return run_cmd("ip link set %s up && ip link set %s up", B.veth_a, B.veth_b) == 0;
}

static struct rc_port_conf
port_conf(const char *name, const char *device)
{
	struct rc_port_conf pc = {
		.rx_queues = 1, .tx_queues = 1, .rx_desc = 1024, .tx_desc = 1024, .mtu = 1500,
	};

	snprintf(pc.name, sizeof(pc.name), "%s", name);
	snprintf(pc.device, sizeof(pc.device), "%s", device);
	return pc;
}

static void
port_up(struct rc_port *p, const char *name, const char *device)
{
	struct rc_port_conf pc = port_conf(name, device);
	char err[256];

	if (rc_port_setup(p, &pc, B.frames, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_fanout: %s\n", err);
		exit(1);
	}
}

static void
pools_create(void)
{
	B.frames = rte_pktmbuf_pool_create("bf_frames", POOL_N, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					   SOCKET_ID_ANY);
	B.hdrs = rte_pktmbuf_pool_create("bf_hdrs", POOL_N, 256, 0, RTE_PKTMBUF_HEADROOM + 64,
					 SOCKET_ID_ANY);
	B.indirect = rte_pktmbuf_pool_create("bf_indirect", POOL_N, 256, 0, 0, SOCKET_ID_ANY);
	B.payloads = rte_pktmbuf_pool_create("bf_payloads", 1023, 64, 0,
					     RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!B.frames || !B.hdrs || !B.indirect || !B.payloads) {
		fprintf(stderr, "bench_fanout: mbuf pools: %s\n", rte_strerror(rte_errno));
		exit(1);
	}
}

static void
ring_pair_create(void)
{
	struct rte_ring *ab = rte_ring_create("bf_ab", 4096, SOCKET_ID_ANY,
					      RING_F_SP_ENQ | RING_F_SC_DEQ);
	struct rte_ring *ba = rte_ring_create("bf_ba", 4096, SOCKET_ID_ANY,
					      RING_F_SP_ENQ | RING_F_SC_DEQ);

	if (ab == NULL || ba == NULL ||
	    rte_eth_from_rings("bfA", &ba, 1, &ab, 1, SOCKET_ID_ANY) < 0 ||
	    rte_eth_from_rings("bfB", &ab, 1, &ba, 1, SOCKET_ID_ANY) < 0) {
		fprintf(stderr, "bench_fanout: ring pair: %s\n", rte_strerror(rte_errno));
		exit(1);
	}
}

/* net_af_packet on both ends of the veth pair, hot-plugged after the EAL is up. */
static bool
afp_create(void)
{
	char args[80];

	if (!veth_create())
		return false;
	snprintf(args, sizeof(args), "net_af_packet0,iface=%s", B.veth_a);
	if (rte_dev_probe(args) != 0)
		return false;
	snprintf(args, sizeof(args), "net_af_packet1,iface=%s", B.veth_b);
	return rte_dev_probe(args) == 0;
}

static void
sinks_create(void)
{
	struct sink *s = B.sink;

	port_up(&s[S_NULL].tx, "null", "net_null0");
	s[S_NULL].name = "net_null";
	s[S_NULL].present = true;
	ring_pair_create();
	port_up(&s[S_RING].tx, "ringA", "net_ring_bfA");
	port_up(&s[S_RING].rx, "ringB", "net_ring_bfB");
	s[S_RING].name = "net_ring pair";
	s[S_RING].drain = s[S_RING].present = true;
	if (afp_create()) {
		port_up(&s[S_AFP].tx, "afpA", "net_af_packet0");
		port_up(&s[S_AFP].rx, "afpB", "net_af_packet1");
		s[S_AFP].name = "net_af_packet on veth";
		s[S_AFP].drain = s[S_AFP].present = true;
	}
	B.src_mac = s[S_NULL].tx.mac;
}

static void
eal_init(void)
{
	struct rc_port_conf pc = port_conf("null", "net_null0");
	char *argv[RC_EAL_ARGV_MAX + 1], arg[64], err[256];
	struct rc_eal_args a;

	rc_eal_args_init(&a, "bench_fanout");
	rc_eal_args_push(&a, "--no-huge");
	rc_eal_args_push(&a, "--no-pci");
	rc_eal_args_push(&a, "-m");
	rc_eal_args_push(&a, "256");
	rc_eal_args_push(&a, "-l");
	rc_eal_args_push(&a, "0");
	rc_eal_args_push(&a, "--log-level=*:warning");
	snprintf(arg, sizeof(arg), "--file-prefix=rc-bench-fanout-%d", (int)getpid());
	rc_eal_args_push(&a, arg);
	if (rc_port_eal_args(&a, &pc, 1, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_fanout: %s\n", err);
		exit(1);
	}
	memcpy(argv, a.argv, sizeof(argv));
	if (rte_eal_init(a.argc, argv) < 0) {
		fprintf(stderr, "bench_fanout: rte_eal_init: %s\n", rte_strerror(rte_errno));
		exit(1);
	}
}

/* ---- report ---- */

static void
print_devices(void)
{
	unsigned k;

	printf("devices (TX offloads enabled by rc_port_setup):\n");
	for (k = 0; k < S_MAX; k++) {
		const struct sink *s = &B.sink[k];

		if (!s->present)
			continue;
		printf("  %-22s %-16s multi-seg %-3s ipv4-cksum %-3s\n", s->name, s->tx.device,
		       s->tx.tx_multi_seg ? "yes" : "no", s->tx.tx_ipv4_cksum ? "yes" : "no");
	}
	if (!B.sink[S_AFP].present)
		printf("  net_af_packet: not root or no veth: skipped\n");
}

static void
print_checks(void)
{
	enum sink_kind sk[] = { S_RING, S_AFP };
	unsigned i, me, ok;

	printf("\ncorrectness: frames received byte-identical to method a's (R = 64, body 200)\n");
	for (i = 0; i < RTE_DIM(sk); i++) {
		if (!B.sink[sk[i]].present)
			continue;
		for (me = 0; me < M_MAX; me++) {
			ok = verify(me, &B.sink[sk[i]], 200, 64);
			printf("  %-22s %-9s %2u/64 %s%s\n", B.sink[sk[i]].name,
			       method_name[me], ok, ok == 64 ? "ok" : "MISMATCH",
			       pools_balanced() ? "" : " (mbufs not returned)");
		}
	}
	if (B.sink[S_AFP].present)
		printf("  => net_af_packet %s multi-segment mbufs (it copies each segment into its "
		       "TX frame; frames > its frame size are dropped silently)\n",
		       verify(M_CLONE, &B.sink[S_AFP], 1000, 8) == 8 ? "accepts"
								    : "DOES NOT accept");
}

static void
print_notes(void)
{
	printf("\nnotes:\n"
	       "  c (refcnt) is valid only because the shared payload mbuf is the LAST segment\n"
	       "  of every chain (its next stays NULL, so all chains agree on it), nobody writes\n"
	       "  it after sharing (no rte_pktmbuf_trim/linearize/adj on the chain, no PMD that\n"
	       "  edits non-first segments), refcnt updates are atomic (RTE_MBUF_REFCNT_ATOMIC)\n"
	       "  and RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE is off. b (indirect) needs the last two.\n"
	       "  b and c need RTE_ETH_TX_OFFLOAD_MULTI_SEGS; net_null 22.11 advertises no TX\n"
	       "  offload at all but frees chains correctly, so it is used here regardless.\n"
	       "  a keeps single-segment, single-pool, refcnt-1 mbufs: MBUF_FAST_FREE stays\n"
	       "  possible on NICs that have it (none of these virtual devices do), and a real\n"
	       "  NIC spends one TX descriptor per frame instead of two.\n"
	       "  Bundles (several DELIVERs per datagram per recipient) leave c only the case of\n"
	       "  a shared tail: a shared direct segment in the middle of several chains is\n"
	       "  invalid (its next pointer would have to differ per chain); b can chain several\n"
	       "  indirect segments; a copies whatever the datagram holds.\n");
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_fanout [-t SECONDS_PER_RUN] [-n MAX_DELIVERIES_PER_RUN] "
			"[-r RUNS_PER_POINT] [-A (skip af_packet timing)]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	bool afp_timing = true;
	int c;

	B.seconds = 0.2;
	B.max_deliveries = 1000000;
	B.reps = 3;
	while ((c = getopt(argc, argv, "t:n:r:Ah")) != -1) {
		if (c == 't')
			B.seconds = atof(optarg);
		else if (c == 'n')
			B.max_deliveries = strtoull(optarg, NULL, 10);
		else if (c == 'r')
			B.reps = (unsigned)atoi(optarg);
		else if (c == 'A')
			afp_timing = false;
		else
			usage();
	}
	if (B.seconds <= 0 || B.max_deliveries == 0 || B.reps == 0 || B.reps > 16)
		usage();
	eal_init();
	pools_create();
	rcpt_init();
	sinks_create();
	printf("bench_fanout: one DELIVER (%u + body bytes) to R recipients, own "
	       "Ethernet/IPv4/UDP header each (%u bytes, IPv4 checksum in software), bursts of "
	       "%u; each run <= %.2f s or %lu deliveries; TSC %.2f GHz\n", DELIVER_FIXED, HDR_LEN,
	       BURST, B.seconds, (unsigned long)B.max_deliveries, rte_get_tsc_hz() / 1e9);
	print_devices();
	print_checks();
	print_sink_table(S_NULL);
	print_sink_table(S_RING);
	if (B.sink[S_AFP].present && afp_timing)
		print_sink_table(S_AFP);
	printf("\nmbuf pools after every run: %s\n", B.leak ? "LEAK (some mbufs not returned)"
							  : "all mbufs returned");
	print_notes();
	rte_eal_cleanup();
	veth_delete();
	return 0;
}
