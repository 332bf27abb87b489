/* SPDX-License-Identifier: MIT */
/*
 * drivers/port: bring-up of real DPDK virtual devices from struct rc_port_conf.
 *
 * The EAL runs with --no-huge --no-pci and the devices the ports need (built by
 * rc_port_eal_args): net_null0, net_ring0 (a loopback: TX queue q feeds RX queue q),
 * net_ring1 (only for the limit checks) and, when run as root, net_af_packet0/1 on a veth
 * pair created for the test and deleted at exit. A net_ring pair (A's TX is B's RX) is made
 * with rte_eth_from_rings() after the EAL is up.
 *
 * Single-threaded: everything runs on the main lcore.
 */
#include <errno.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "eal_fixture.h"
#include "port.h"

#define TEST_ETHERTYPE 0x88b5 /* IEEE local experimental */
#define TEST_BURST 32

static struct rte_mempool *pool;
static char veth_a[IFNAMSIZ], veth_b[IFNAMSIZ];
static bool have_veth;

static struct rc_port_conf
conf(const char *name, const char *device, const char *args, unsigned rxq, unsigned txq)
{
	struct rc_port_conf pc = {
		.rx_queues = rxq, .tx_queues = txq, .rx_desc = 512, .tx_desc = 512, .mtu = 1500,
	};

	snprintf(pc.name, sizeof(pc.name), "%s", name);
	snprintf(pc.device, sizeof(pc.device), "%s", device);
	snprintf(pc.args, sizeof(pc.args), "%s", args);
	return pc;
}

/* ---- veth pair for net_af_packet (root only) ---- */

static int
run(const char *fmt, ...)
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
	if (have_veth)
		run("ip link del %s 2>/dev/null", veth_a);
	have_veth = false;
}

static bool
veth_create(void)
{
	unsigned id = (unsigned)getpid() % 100000;

	snprintf(veth_a, sizeof(veth_a), "rcpt%05ua", id);
	snprintf(veth_b, sizeof(veth_b), "rcpt%05ub", id);
	if (geteuid() != 0)
		return false;
	if (run("ip link add %s type veth peer name %s 2>/dev/null", veth_a, veth_b) != 0)
		return false;
	have_veth = true;
	atexit(veth_delete);
	/* No IPv6 chatter (router solicitations) on the test link. */
	run("sysctl -qw net.ipv6.conf.%s.disable_ipv6=1 net.ipv6.conf.%s.disable_ipv6=1 "
	    ">/dev/null 2>&1", veth_a, veth_b);
	if (run("ip link set %s up && ip link set %s up", veth_a, veth_b) != 0) {
		veth_delete();
		return false;
	}
	return true;
}

static int
if_ioctl(const char *ifname, unsigned long req, struct ifreq *ifr)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	int rc;

	if (s < 0)
		return -errno;
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
	rc = ioctl(s, req, ifr) < 0 ? -errno : 0;
	close(s);
	return rc;
}

/* ---- frames ---- */

/* A frame of len bytes to dst: test ethertype, then bytes seed, seed+1, ... */
static struct rte_mbuf *
frame_make(const struct rte_ether_addr *dst, const struct rte_ether_addr *src, uint16_t len,
	   uint8_t seed)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	struct rte_ether_hdr *eh;
	uint8_t *d;
	uint16_t i;

	if (m == NULL)
		return NULL;
	eh = (struct rte_ether_hdr *)rte_pktmbuf_append(m, len);
	eh->dst_addr = *dst;
	eh->src_addr = *src;
	eh->ether_type = rte_cpu_to_be_16(TEST_ETHERTYPE);
	d = (uint8_t *)(eh + 1);
	for (i = 0; i < len - sizeof(*eh); i++)
		d[i] = (uint8_t)(seed + i);
	return m;
}

/* The same frame split in two segments: header mbuf (Ethernet header) + payload mbuf. */
static struct rte_mbuf *
frame_make_2seg(const struct rte_ether_addr *dst, const struct rte_ether_addr *src,
		uint16_t len, uint8_t seed)
{
	struct rte_mbuf *whole = frame_make(dst, src, len, seed);
	struct rte_mbuf *hdr = rte_pktmbuf_alloc(pool);
	struct rte_mbuf *pay = rte_pktmbuf_alloc(pool);
	uint16_t hl = sizeof(struct rte_ether_hdr);

	assert_non_null(whole);
	assert_non_null(hdr);
	assert_non_null(pay);
	memcpy(rte_pktmbuf_append(hdr, hl), rte_pktmbuf_mtod(whole, void *), hl);
	memcpy(rte_pktmbuf_append(pay, len - hl), rte_pktmbuf_mtod_offset(whole, void *, hl),
	       len - hl);
	rte_pktmbuf_free(whole);
	assert_int_equal(rte_pktmbuf_chain(hdr, pay), 0);
	return hdr;
}

static bool
frame_check(const struct rte_mbuf *m, uint16_t len, uint8_t seed)
{
	uint8_t buf[2048] __rte_aligned(8);
	const uint8_t *d = rte_pktmbuf_read(m, 0, len, buf);
	const struct rte_ether_hdr *eh = (const struct rte_ether_hdr *)d;
	uint16_t i;

	if (m->pkt_len != len || d == NULL)
		return false;
	if (eh->ether_type != rte_cpu_to_be_16(TEST_ETHERTYPE))
		return false;
	for (i = sizeof(*eh); i < len; i++)
		if (d[i] != (uint8_t)(seed + i - sizeof(*eh)))
			return false;
	return true;
}

/* Poll queue q of port for up to ~1 s; count the frames of our ethertype that check. */
static unsigned
rx_matching(uint16_t port, uint16_t q, unsigned want, uint16_t len, uint8_t seed)
{
	struct rte_mbuf *rx[TEST_BURST];
	unsigned got = 0, polls, i, n;

	for (polls = 0; polls < 1000 && got < want; polls++) {
		n = rte_eth_rx_burst(port, q, rx, TEST_BURST);
		for (i = 0; i < n; i++) {
			if (frame_check(rx[i], len, seed))
				got++;
			rte_pktmbuf_free(rx[i]);
		}
		if (n == 0)
			usleep(1000);
	}
	return got;
}

static void
tx_all(uint16_t port, uint16_t q, struct rte_mbuf **m, uint16_t n)
{
	uint16_t sent = rte_eth_tx_burst(port, q, m, n);

	if (sent < n)
		rte_pktmbuf_free_bulk(m + sent, n - sent);
	assert_int_equal(sent, n);
}

/* ---- EAL arguments (no EAL needed) ---- */

static void
test_eal_args(void **state)
{
	struct rc_port_conf pc[3];
	struct rc_eal_args a;
	char err[256];

	(void)state;
	pc[0] = conf("chat0", "net_af_packet0", "iface=veth0,qpairs=2", 2, 2);
	pc[1] = conf("chat1", "net_ring0", "", 1, 1);
	pc[2] = conf("chat2", "01:00.0", "", 1, 1);
	rc_eal_args_init(&a, "prog");
	assert_int_equal(rc_eal_args_push(&a, "-l"), 0);
	assert_int_equal(rc_eal_args_push(&a, "0-1"), 0);
	assert_int_equal(rc_port_eal_args(&a, pc, 3, err, sizeof(err)), 0);
	assert_int_equal(a.argc, 7);
	assert_string_equal(a.argv[3], "--vdev=net_af_packet0,iface=veth0,qpairs=2");
	assert_string_equal(a.argv[4], "--vdev=net_ring0");
	assert_string_equal(a.argv[5], "-a");
	assert_string_equal(a.argv[6], "01:00.0");
	assert_null(a.argv[7]);

	/* PCI and --no-pci */
	rc_eal_args_init(&a, "prog");
	rc_eal_args_push(&a, "--no-pci");
	assert_int_equal(rc_port_eal_args(&a, &pc[2], 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "port chat2 (01:00.0): a PCI device cannot be used with "
				    "--no-pci"));

	/* the same device twice, also in another spelling of a PCI address */
	pc[1] = conf("chat1", "0000:01:00.0", "", 1, 1);
	rc_eal_args_init(&a, "prog");
	assert_int_equal(rc_port_eal_args(&a, &pc[1], 2, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "port chat2 (01:00.0): device already used by port chat1");

	/* neither vdev nor PCI; vdev already in eal.args; blanks in args */
	pc[0] = conf("chat0", "eth0", "", 1, 1);
	assert_int_equal(rc_port_eal_args(&a, pc, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "port chat0 (eth0): device is neither"));
	pc[0] = conf("chat0", "net_tap0", "", 1, 1);
	rc_eal_args_push(&a, "--vdev=net_tap0,iface=x");
	assert_int_equal(rc_port_eal_args(&a, pc, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "eal.args already creates net_tap0"));
	pc[0] = conf("chat0", "net_tap1", "iface=a b", 1, 1);
	assert_int_equal(rc_port_eal_args(&a, pc, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "blanks"));
}

/* ---- net_null ---- */

static void
test_null(void **state)
{
	struct rc_port_conf pc = conf("null0", "net_null0", "", 2, 2);
	struct rte_mbuf *m[TEST_BURST];
	struct rc_port_link link;
	struct rte_eth_stats st;
	struct rc_port p, p2;
	char err[256] = "";
	uint16_t q, n;

	(void)state;
	assert_int_equal(rc_port_setup(&p, &pc, pool, err, sizeof(err)), 0);
	assert_true(p.up);
	assert_string_equal(p.name, "null0");
	assert_int_equal(p.n_rxq, 2);
	assert_int_equal(p.n_txq, 2);
	assert_int_equal(p.rx_desc, 512);
	assert_int_equal(p.tx_desc, 512);
	assert_false(rte_is_zero_ether_addr(&p.mac));
	assert_true(p.rss);           /* net_null advertises RSS for IP/UDP */
	assert_false(p.tx_multi_seg); /* ... but no TX offload at all in 22.11 */
	assert_int_equal(p.mtu, 1500);
	assert_int_equal(rc_port_link(&p, &link), 0);
	assert_true(link.up);
	for (q = 0; q < 2; q++) {
		assert_int_equal(rte_pktmbuf_alloc_bulk(pool, m, TEST_BURST), 0);
		for (n = 0; n < TEST_BURST; n++)
			rte_pktmbuf_append(m[n], 64);
		tx_all(p.port_id, q, m, TEST_BURST);
		n = rte_eth_rx_burst(p.port_id, q, m, TEST_BURST);
		assert_true(n > 0); /* net_null makes packets up */
		rte_pktmbuf_free_bulk(m, n);
	}
	assert_int_equal(rc_port_stats(&p, &st), 0);
	assert_int_equal(st.opackets, 2 * TEST_BURST);
	/* A started device cannot be set up again. */
	assert_int_equal(rc_port_setup(&p2, &pc, pool, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "port null0 (net_null0): device is running"));
	assert_int_equal(p2.port_id, RTE_MAX_ETHPORTS);
	rc_port_close(&p2); /* harmless: it owns nothing */
	assert_true(p.up);
	rc_port_stop(&p);
	rc_port_stop(&p);
	assert_false(p.up);
	rc_port_close(&p);
	assert_int_equal(rc_port_link(&p, &link), -ENODEV);
}

/* ---- net_ring: the --vdev loopback, and a pair from rte_eth_from_rings() ---- */

static void
test_ring_loopback(void **state)
{
	struct rc_port_conf pc = conf("ring0", "net_ring0", "", 2, 2);
	struct rte_mbuf *m[TEST_BURST];
	struct rc_port p;
	char err[256] = "";
	uint16_t q, i;

	(void)state;
	assert_int_equal(rc_port_setup(&p, &pc, pool, err, sizeof(err)), 0);
	assert_true(p.up);
	assert_int_equal(p.n_rxq, 2);
	assert_int_equal(p.n_txq, 2);
	assert_false(p.rss);           /* net_ring has no RSS */
	assert_false(p.mtu_applied);   /* ... nor an MTU setting */
	assert_false(p.tx_ipv4_cksum);
	assert_true(p.tx_multi_seg);
	for (q = 0; q < 2; q++) {
		for (i = 0; i < TEST_BURST; i++)
			assert_non_null(m[i] = frame_make(&p.mac, &p.mac, 100, (uint8_t)(q + 1)));
		tx_all(p.port_id, q, m, TEST_BURST);
		assert_int_equal(rx_matching(p.port_id, q, TEST_BURST, 100, (uint8_t)(q + 1)),
				 TEST_BURST);
	}
	rc_port_close(&p);
}

static void
test_ring_pair(void **state)
{
	struct rte_ring *ab = rte_ring_create("rcpt_ab", 1024, SOCKET_ID_ANY,
					      RING_F_SP_ENQ | RING_F_SC_DEQ);
	struct rte_ring *ba = rte_ring_create("rcpt_ba", 1024, SOCKET_ID_ANY,
					      RING_F_SP_ENQ | RING_F_SC_DEQ);
	struct rc_port_conf pa = conf("ringA", "net_ring_rcptA", "", 1, 1);
	struct rc_port_conf pb = conf("ringB", "net_ring_rcptB", "", 1, 1);
	struct rte_mbuf *m[TEST_BURST];
	struct rc_port a, b;
	char err[256] = "";
	uint16_t i;

	(void)state;
	assert_non_null(ab);
	assert_non_null(ba);
	assert_true(rte_eth_from_rings("rcptA", &ba, 1, &ab, 1, SOCKET_ID_ANY) >= 0);
	assert_true(rte_eth_from_rings("rcptB", &ab, 1, &ba, 1, SOCKET_ID_ANY) >= 0);
	assert_int_equal(rc_port_setup(&a, &pa, pool, err, sizeof(err)), 0);
	assert_int_equal(rc_port_setup(&b, &pb, pool, err, sizeof(err)), 0);
	for (i = 0; i < TEST_BURST; i++)
		assert_non_null(m[i] = frame_make(&b.mac, &a.mac, 200, 7));
	tx_all(a.port_id, 0, m, TEST_BURST);
	assert_int_equal(rte_eth_rx_burst(a.port_id, 0, m, TEST_BURST), 0);
	assert_int_equal(rx_matching(b.port_id, 0, TEST_BURST, 200, 7), TEST_BURST);
	/* Chained mbufs pass through as they are. */
	m[0] = frame_make_2seg(&a.mac, &b.mac, 300, 9);
	tx_all(b.port_id, 0, m, 1);
	assert_int_equal(rte_eth_rx_burst(a.port_id, 0, m, 1), 1);
	assert_int_equal(m[0]->nb_segs, 2);
	assert_true(frame_check(m[0], 300, 9));
	rte_pktmbuf_free(m[0]);
	rc_port_close(&a);
	rc_port_close(&b);
	rte_ring_free(ab);
	rte_ring_free(ba);
}

/* ---- errors ---- */

static void
test_errors(void **state)
{
	struct rc_port_conf pc = conf("bad0", "net_null9", "", 1, 1);
	struct rte_mempool *small;
	struct rc_port p;
	char err[256] = "";

	(void)state;
	assert_int_equal(rc_port_setup(&p, &pc, pool, err, sizeof(err)), -ENODEV);
	assert_non_null(strstr(err, "port bad0 (net_null9): no such DPDK device"));
	assert_false(p.up);

	pc = conf("ring1", "net_ring1", "", 17, 1);
	assert_int_equal(rc_port_setup(&p, &pc, pool, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "port ring1 (net_ring1): 17 RX queues requested, the device "
				 "has 1 to 16");
	pc = conf("ring1", "net_ring1", "", 1, 40);
	assert_int_equal(rc_port_setup(&p, &pc, pool, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "40 TX queues requested"));
	pc = conf("ring1", "net_ring1", "", 0, 1);
	assert_int_equal(rc_port_setup(&p, &pc, pool, err, sizeof(err)), -EINVAL);
	pc = conf("ring1", "net_ring1", "", 1, 1);
	pc.rx_desc = 70000;
	assert_int_equal(rc_port_setup(&p, &pc, pool, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "descriptor counts 70000/512"));
	pc.rx_desc = 512;
	assert_int_equal(rc_port_setup(&p, &pc, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no mbuf pool"));

	small = rte_pktmbuf_pool_create("rcpt_small", 255, 0, 0, RTE_PKTMBUF_HEADROOM + 1024,
					SOCKET_ID_ANY);
	assert_non_null(small);
	assert_int_equal(rc_port_setup(&p, &pc, small, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "port ring1 (net_ring1): mbufs of pool rcpt_small hold 1024 "
				 "bytes: too small for MTU 1500 (needs 1518)");
	pc.mtu = 1000;
	assert_int_equal(rc_port_setup(&p, &pc, small, err, sizeof(err)), 0);
	rc_port_close(&p);
	rte_mempool_free(small);
}

/* ---- net_af_packet on a veth pair ---- */

static void
test_af_packet(void **state)
{
	struct rc_port_conf pa = conf("afpA", "net_af_packet0", "", 1, 1);
	struct rc_port_conf pb = conf("afpB", "net_af_packet1", "", 1, 1);
	struct rte_mbuf *m[TEST_BURST];
	struct rc_port_link link;
	struct rc_port a, b;
	struct ifreq ifr;
	char err[256] = "";
	uint16_t i;

	(void)state;
	if (!have_veth)
		fail_msg("needs root to create a veth pair for net_af_packet");
	/* Queue limit, with the qpairs hint; MTU beyond the device's frames. */
	pa.rx_queues = 2;
	assert_int_equal(rc_port_setup(&a, &pa, pool, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "port afpA (net_af_packet0): 2 RX queues requested, the device "
				 "has 1 to 1 (net_af_packet: set qpairs=N in the device args)");
	pa.rx_queues = 1;
	pa.mtu = 9000;
	assert_int_equal(rc_port_setup(&a, &pa, pool, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "MTU 9000 out of the device's range 46..1500"));

	pa.mtu = 1400;
	assert_int_equal(rc_port_setup(&a, &pa, pool, err, sizeof(err)), 0);
	assert_int_equal(rc_port_setup(&b, &pb, pool, err, sizeof(err)), 0);
	assert_true(a.mtu_applied);
	assert_int_equal(a.mtu, 1400);
	assert_int_equal(if_ioctl(veth_a, SIOCGIFMTU, &ifr), 0);
	assert_int_equal(ifr.ifr_mtu, 1400);
	assert_int_equal(if_ioctl(veth_a, SIOCGIFHWADDR, &ifr), 0);
	assert_memory_equal(ifr.ifr_hwaddr.sa_data, a.mac.addr_bytes, RTE_ETHER_ADDR_LEN);
	assert_true(a.tx_multi_seg);
	assert_int_equal(rc_port_link(&a, &link), 0);
	assert_true(link.up);

	for (i = 0; i < TEST_BURST; i++)
		assert_non_null(m[i] = frame_make(&b.mac, &a.mac, 600, 3));
	tx_all(a.port_id, 0, m, TEST_BURST);
	assert_int_equal(rx_matching(b.port_id, 0, TEST_BURST, 600, 3), TEST_BURST);
	/* Multi-segment TX: af_packet copies the segments into one frame. */
	for (i = 0; i < TEST_BURST; i++)
		m[i] = frame_make_2seg(&b.mac, &a.mac, 1000, 5);
	tx_all(a.port_id, 0, m, TEST_BURST);
	assert_int_equal(rx_matching(b.port_id, 0, TEST_BURST, 1000, 5), TEST_BURST);

	rc_port_close(&a);
	rc_port_close(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eal_args),
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_ring_loopback),
		cmocka_unit_test(test_ring_pair),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_af_packet),
	};
	struct rc_port_conf pc[5]; /* more than RC_MAX_PORTS: two calls below */
	char *argv[RC_EAL_ARGV_MAX + 1];
	struct rc_eal_args a;
	char arg[64], err[256];
	unsigned n = 3;
	int rc;

	pc[0] = conf("null0", "net_null0", "", 2, 2);
	pc[1] = conf("ring0", "net_ring0", "", 2, 2);
	pc[2] = conf("ring1", "net_ring1", "", 1, 1);
	if (veth_create()) {
		snprintf(arg, sizeof(arg), "iface=%s", veth_a);
		pc[n++] = conf("afpA", "net_af_packet0", arg, 1, 1);
		snprintf(arg, sizeof(arg), "iface=%s", veth_b);
		pc[n++] = conf("afpB", "net_af_packet1", arg, 1, 1);
	} else {
		printf("# not root or no veth: net_af_packet test skipped\n");
	}
	rc_eal_args_init(&a, "port_test");
	rc_eal_args_push(&a, "--no-huge");
	rc_eal_args_push(&a, "--no-pci");
	rc_eal_args_push(&a, "-m");
	rc_eal_args_push(&a, "256");
	rc_eal_args_push(&a, "-l");
	rc_eal_args_push(&a, "0");
	rc_eal_args_push(&a, "--log-level=*:warning");
	fx_eal_prefix(arg, sizeof(arg), "port-test");
	rc_eal_args_push(&a, arg);
	if (rc_port_eal_args(&a, pc, 3, err, sizeof(err)) < 0 ||
	    rc_port_eal_args(&a, pc + 3, n - 3, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	memcpy(argv, a.argv, sizeof(argv));
	if (fx_eal_start(a.argc, argv) < 0) {
		fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	pool = rte_pktmbuf_pool_create("rcpt_pool", 4095, 64, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       SOCKET_ID_ANY);
	if (pool == NULL) {
		fprintf(stderr, "mbuf pool: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rte_mempool_free(pool);
	fx_eal_stop();
	veth_delete();
	return rc;
}
