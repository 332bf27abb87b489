/* SPDX-License-Identifier: MIT */
#include "frag_tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define TAP_FRAME  256
#define TAP_BLOCK  4096
#define TAP_BLOCKS 16
#define TAP_SNAP   128 /* Ethernet + the largest IPv4 header, with room to spare */

/* Keep IPv4 frames whose MF flag or fragment offset is set (the first TAP_SNAP bytes). */
static struct sock_filter frag_filter[] = {
	BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12), /* ethertype */
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, 3),
	BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 14 + 6), /* flags + fragment offset */
	BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3fff, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, TAP_SNAP),
	BPF_STMT(BPF_RET | BPF_K, 0),
};

static int
tap_fail(char *err, size_t errlen, const char *ifname, const char *what)
{
	int rc = -errno;

	snprintf(err, errlen, "fragment tap on %s: %s: %s", ifname, what, strerror(errno));
	return rc != 0 ? rc : -EIO;
}

int
rc_frag_tap_open(struct rc_frag_tap *t, const char *ifname, char *err, size_t errlen)
{
	struct sock_fprog prog = {.len = sizeof(frag_filter) / sizeof(frag_filter[0]),
				  .filter = frag_filter};
	struct tpacket_req req = {.tp_block_size = TAP_BLOCK,
				  .tp_block_nr = TAP_BLOCKS,
				  .tp_frame_size = TAP_FRAME,
				  .tp_frame_nr = TAP_BLOCKS * (TAP_BLOCK / TAP_FRAME)};
	struct sockaddr_ll sll;
	int ver = TPACKET_V2, one = 1, rc;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (sll.sll_ifindex == 0)
		return tap_fail(err, errlen, ifname, "no such interface");
	/* protocol 0: nothing is received before the filter and the ring are in place */
	t->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (t->fd < 0)
		return tap_fail(err, errlen, ifname, "socket");
	if (setsockopt(t->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) != 0) {
		rc = tap_fail(err, errlen, ifname, "SO_ATTACH_FILTER");
		goto fail;
	}
#ifdef PACKET_IGNORE_OUTGOING
	(void)setsockopt(t->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
#endif
	(void)one;
	if (setsockopt(t->fd, SOL_PACKET, PACKET_VERSION, &ver, sizeof(ver)) != 0 ||
	    setsockopt(t->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) != 0) {
		rc = tap_fail(err, errlen, ifname, "TPACKET_V2 ring");
		goto fail;
	}
	t->map = mmap(NULL, (size_t)TAP_BLOCK * TAP_BLOCKS, PROT_READ | PROT_WRITE, MAP_SHARED,
		      t->fd, 0);
	if (t->map == MAP_FAILED) {
		t->map = NULL;
		rc = tap_fail(err, errlen, ifname, "mmap");
		goto fail;
	}
	t->frame_size = TAP_FRAME;
	t->frame_nr = req.tp_frame_nr;
	/* bound last: ETH_P_ALL on this interface puts it ahead of the device's fanout group
	 * (the kernel delivers to the newest registration of the device's list first) */
	if (bind(t->fd, (struct sockaddr *)&sll, sizeof(sll)) != 0) {
		rc = tap_fail(err, errlen, ifname, "bind");
		goto fail;
	}
	return 0;
fail:
	rc_frag_tap_close(t);
	return rc;
}

void
rc_frag_tap_close(struct rc_frag_tap *t)
{
	if (t->map != NULL)
		munmap(t->map, (size_t)TAP_BLOCK * TAP_BLOCKS);
	if (t->fd >= 0)
		close(t->fd);
	t->map = NULL;
	t->fd = -1;
}

/* The whole datagram's IP payload length, from its last fragment (MF clear); 0 otherwise. */
static uint16_t
datagram_total(const uint8_t *ip)
{
	unsigned frag = (unsigned)ip[6] << 8 | ip[7];
	unsigned tot = (unsigned)ip[2] << 8 | ip[3];
	unsigned hl = (ip[0] & 0xfu) * 4u;

	if ((frag & 0x2000) != 0 || tot < hl)
		return 0;
	return (uint16_t)((frag & 0x1fff) * 8u + tot - hl);
}

static void
remember(struct rc_frag_tap *t, const uint8_t *ip, uint64_t now_ms)
{
	struct rc_frag_key k, *slot = NULL;
	uint16_t total = datagram_total(ip);
	unsigned i;

	memset(&k, 0, sizeof(k));
	memcpy(&k.src, ip + 12, 4);
	memcpy(&k.dst, ip + 16, 4);
	memcpy(&k.id, ip + 4, 2);
	k.proto = ip[9];
	k.used = 1;
	k.total = total;
	k.seen_ms = now_ms;
	for (i = 0; i < RC_FRAG_TAP_KEYS; i++) {
		struct rc_frag_key *e = &t->keys[i];

		if (e->used && e->src == k.src && e->dst == k.dst && e->id == k.id &&
		    e->proto == k.proto) {
			e->seen_ms = now_ms; /* another fragment of the same datagram */
			if (total != 0)
				e->total = total;
			return;
		}
	}
	for (i = 0; i < RC_FRAG_TAP_KEYS && slot == NULL; i++)
		if (!t->keys[i].used)
			slot = &t->keys[i];
	if (slot == NULL) { /* full: the oldest slot in turn */
		slot = &t->keys[t->key_next];
		t->key_next = (t->key_next + 1) % RC_FRAG_TAP_KEYS;
	} else {
		t->n_keys++;
	}
	*slot = k;
}

void
rc_frag_tap_poll(struct rc_frag_tap *t, uint64_t now_ms,
		 bool (*is_ours)(const void *arg, uint32_t dst), const void *arg,
		 uint64_t *fragments)
{
	for (;;) {
		struct tpacket2_hdr *h =
			(struct tpacket2_hdr *)(t->map + (size_t)t->next * t->frame_size);
		const uint8_t *frame, *ip;
		uint32_t dst;

		if ((__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) == 0)
			break;
		frame = (const uint8_t *)h + h->tp_mac;
		ip = frame + ETH_HLEN;
		if (h->tp_snaplen >= ETH_HLEN + 20 && (ip[0] >> 4) == 4) {
			memcpy(&dst, ip + 16, 4);
			if (is_ours(arg, dst)) {
				remember(t, ip, now_ms);
				(*fragments)++;
			}
		}
		__atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		t->next = (t->next + 1) % t->frame_nr;
	}
}

bool
rc_frag_tap_reassembled(struct rc_frag_tap *t, const void *ip, uint64_t now_ms)
{
	const uint8_t *p = ip;
	unsigned tot = (unsigned)p[2] << 8 | p[3], hl = (p[0] & 0xfu) * 4u;
	uint32_t src, dst;
	uint16_t id;
	unsigned i;

	if (t->n_keys == 0)
		return false;
	memcpy(&src, p + 12, 4);
	memcpy(&dst, p + 16, 4);
	memcpy(&id, p + 4, 2);
	for (i = 0; i < RC_FRAG_TAP_KEYS; i++) {
		struct rc_frag_key *e = &t->keys[i];

		if (!e->used)
			continue;
		if (now_ms - e->seen_ms > RC_FRAG_TAP_KEEP_MS) {
			e->used = 0;
			t->n_keys--;
			continue;
		}
		if (e->src == src && e->dst == dst && e->id == id && e->proto == p[9] &&
		    (e->total == 0 || e->total == tot - hl)) {
			e->used = 0;
			t->n_keys--;
			return true;
		}
	}
	return false;
}

int
rc_frag_tap_iface(const char *devargs, char *out, size_t cap)
{
	const char *p = devargs;
	size_t n;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, "iface=", 6) == 0) {
			p += 6;
			n = strcspn(p, ",");
			if (n == 0 || n >= cap || n >= IFNAMSIZ)
				return -EINVAL;
			memcpy(out, p, n);
			out[n] = '\0';
			return 0;
		}
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
	return -ENOENT;
}
