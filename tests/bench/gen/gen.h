/* SPDX-License-Identifier: MIT */
/*
 * roomcast-gen: a DPDK traffic generator that speaks the chat protocol to one roomcastd
 * (usage: gen_opts.c, or `roomcast-gen --help`).
 *
 * Threads: the main lcore sets up (options, tokens, EAL, port), launches the generator on
 * one worker lcore and prints a line per second from the counters and histograms below,
 * which only the worker writes (relaxed atomic stores; the main lcore reads them relaxed).
 * Everything else (users, rooms, windows, seq trackers) belongs to the worker alone.
 *
 * Files: gen_opts.c options and usage; gen_net.c Ethernet/ARP/IPv4/UDP; gen_req.c the
 * users, rooms and requests (LOGIN, JOIN, POST, PING, LOGOUT); gen_reply.c the replies;
 * gen_run.c the worker's loop and phases; gen_report.c the lines and the summary;
 * gen_main.c EAL, port, launch. Pure, and unit-tested (tests/unit/gen_test.c): gen_hist.c
 * the latency histogram, gen_seq.c the seq tracking, gen_body.c the body format.
 */
#ifndef RG_GEN_H
#define RG_GEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "gen_hist.h"
#include "gen_seq.h"
#include "proto.h"

#define RG_MAX_USERS 65536
#define RG_MAX_ROOMS 4096
#define RG_MAX_MEMBERSHIPS (1u << 20)
#define RG_MAX_SLOTS (1u << 24)
#define RG_BURST 32
#define RG_TXQ 1024           /* frames waiting for a TX queue */
#define RG_MAX_QUEUES 8
#define RG_L2L4 42            /* Ethernet + IPv4 (no options) + UDP */
#define RG_NAME_MAX 48

struct rg_opts {
	/* the node */
	uint32_t server_ip;    /* host order */
	uint16_t server_port;
	struct rte_ether_addr node_mac;
	bool node_mac_set;
	/* our addresses: user i is client_ip + i / users_per_ip, port client_port + i % per_ip */
	uint32_t client_ip;
	unsigned users_per_ip;
	uint16_t client_port;
	struct rte_ether_addr mac;
	/* tokens */
	const char *secret_file; /* auth.secret_file: the tokens key derived from it, id 1 */
	const char *key_file;    /* or a tokens key of its own */
	unsigned key_id;
	/* the workload */
	char user_prefix[24];
	char room_prefix[64];
	unsigned users, rooms, rooms_per_user, posters;
	uint64_t posts;       /* in all */
	double rate;          /* POSTs per second in all; 0: as fast as the window allows */
	unsigned body;        /* bytes */
	unsigned bundle;      /* POSTs per datagram */
	unsigned window;      /* unacknowledged POSTs per user */
	double duration_s;    /* the posting phase stops after it */
	double drain_s;       /* then wait at most this for the missing ACKs and DELIVERs */
	double setup_s;       /* ARP, LOGINs, JOINs must be done within it */
	unsigned resend_ms;   /* an unacknowledged POST (or LOGIN, JOIN) is sent again */
	bool json;
	bool quiet;           /* no line per second */
	bool logout;          /* LOGOUT every user at the end */
	const char *hist_file; /* the latency histograms as CSV, for plots */
	/* DPDK */
	const char *memif;    /* socket path: net_memif0, client role */
	unsigned memif_rsize; /* log2 of its rings' slots (the client sizes them) */
	unsigned queues;      /* queue pairs: user i sends on queue i % queues */
	const char *device;   /* else this device ... */
	const char *devargs;  /* ... with these arguments */
	unsigned idle_sleep_us; /* 0: poll without pause */
	unsigned idle_polls;
	int eal_argc;         /* the EAL arguments after "--" (0: the defaults) */
	char **eal_argv;
};

enum rg_phase {
	RG_PH_ARP = 0,
	RG_PH_LOGIN,
	RG_PH_JOIN,
	RG_PH_POST,
	RG_PH_DRAIN,
	RG_PH_LOGOUT,
	RG_PH_DONE,
	RG_PH_FAILED,
	RG_PH_MAX
};

/* The counters the main lcore prints (the worker's stores are relaxed atomics). */
struct rg_counters {
	uint64_t posts_sent;       /* first sends */
	uint64_t posts_acked;
	uint64_t posts_failed;     /* refused for good (an ERROR other than 4, 7, 8, 9) */
	uint64_t resends;          /* POSTs sent again (no ACK in time, or ERROR 4/7/8/9) */
	uint64_t deliveries;       /* DELIVERs of this run, first copy per (member, room, seq) */
	uint64_t deliveries_expected; /* members of the room, summed over the ACKs */
	uint64_t duplicates;
	uint64_t missing;          /* seqs missing below the highest each member received */
	uint64_t history;          /* DELIVERs at or below the JOIN's last seq */
	uint64_t foreign;          /* DELIVERs of another run or client, or of an unknown room */
	uint64_t errors[RC_E_MAX]; /* ERRORs received, by code */
	uint64_t logged_in, joined, joins_wanted;
	uint64_t rx_frames, tx_frames, tx_dgrams;
	uint64_t rx_bad;           /* frames or messages not understood */
	uint64_t cookies, byes, resumes;
	uint64_t phase;            /* enum rg_phase */
	uint64_t t_first_post;     /* TSC of the first POST, of the last ACK, of the last DELIVER */
	uint64_t t_last_ack;
	uint64_t t_last_deliver;
};

struct rg_room {
	char name[RG_NAME_MAX];
	uint8_t name_len;
	uint32_t id;          /* the node's room_id (from JOINED) */
	bool created;         /* its creator's JOINED came */
	unsigned creator;     /* the user that JOINs it first */
	unsigned members;
	uint64_t last_acked;  /* highest seq ACKed */
	uint8_t *post_tpl;    /* a whole POST message (header, room, cmid, body) to patch */
	uint16_t post_len;
	uint16_t cmid_off, body_off;
};

/* One unacknowledged POST of a user. */
struct rg_slot {
	uint64_t first_tsc;   /* its first send: the latencies are measured from here */
	uint64_t last_tsc;    /* its last send (resends) */
	uint32_t room;
	uint8_t state;        /* RG_SLOT_* */
};

enum { RG_SLOT_FREE = 0, RG_SLOT_SENT, RG_SLOT_ACKED, RG_SLOT_FAILED };

enum rg_user_state { RG_U_NEW = 0, RG_U_LOGIN, RG_U_IN, RG_U_OUT };

struct rg_user {
	uint32_t ip;          /* host order */
	uint16_t port;
	uint8_t state;        /* enum rg_user_state */
	uint8_t q;            /* the queue it sends on */
	bool cookie;          /* the node asked for a LOGIN_COOKIE */
	uint64_t session;
	uint64_t tx_tsc;      /* last LOGIN / LOGOUT sent */
	uint64_t req_tsc;     /* last request of the session (it expires when idle) */
	uint32_t cookie_slot;
	uint64_t cookie_mac;
	char name[RG_NAME_MAX];
	char token[RC_MAX_TOKEN + 1];
	uint8_t hdr[RG_L2L4] __rte_aligned(8); /* Ethernet/IPv4/UDP to the node, lengths and
						* checksum 0 */
	/* rooms: slot j is room (i + j) % rooms, j < rooms_per_user */
	uint64_t *join_tsc;   /* per slot: 0 never sent, UINT64_MAX joined, else last JOIN */
	struct rg_seq *seq;   /* per slot */
	unsigned next_slot;   /* the room of the next POST */
	/* posting: cmid = cmid_base + k, k = 0, 1, ...; window ring indexed by k */
	uint64_t quota, next_k, low_k;
	struct rg_slot *win;
};

struct rg_gen {
	struct rg_opts *o;
	uint32_t run;         /* run id: in the bodies, cmids and request ids */
	uint64_t cmid_base;
	uint16_t port_id;
	struct rte_mempool *mp;
	struct rte_ether_addr mac, node_mac;
	uint64_t hz;          /* TSC cycles per second */
	uint64_t resend_cyc;
	struct rg_user *users;
	struct rg_room *rooms;
	uint32_t *room_map;   /* open addressing: node room id -> index + 1 (0 empty) */
	unsigned room_map_mask;
	unsigned win_mask;    /* window ring size - 1 */
	uint64_t keepalive_cyc; /* a session idle this long PINGs (a third of its timeout) */
	char *body_tpl;
	/* the worker's own state */
	uint64_t t_start, t_phase, t_post_end, t_resend, t_keepalive;
	double ns_per_cyc;
	double tokens;        /* rate limit: POSTs that may be sent now */
	uint64_t t_tokens;
	unsigned next_poster, next_login, next_join_user;
	uint64_t logins_inflight;
	struct rg_txq {
		struct rte_mbuf *m[RG_TXQ];
		unsigned n;
	} txq[RG_MAX_QUEUES];
	volatile int stop;    /* set by the main lcore (a signal) */
	const char *fail_msg;
	/* shared with the main lcore */
	struct rg_counters c;
	struct rg_hist ack_lat, dlv_lat; /* nanoseconds */
};

/* Relaxed store of v into a counter the main lcore reads. */
#define RG_SET(g, field, v) __atomic_store_n(&(g)->c.field, (v), __ATOMIC_RELAXED)
#define RG_INC(g, field) RG_SET(g, field, (g)->c.field + 1)
#define RG_ADD(g, field, n) RG_SET(g, field, (g)->c.field + (n))
#define RG_GET(g, field) __atomic_load_n(&(g)->c.field, __ATOMIC_RELAXED)

/* gen_opts.c */
int rg_opts_parse(struct rg_opts *o, int argc, char **argv, const char **err);
void rg_usage(FILE *f);

/* gen_net.c: frames */
void rg_net_user_hdr(struct rg_gen *g, struct rg_user *u);
/* Finish a frame whose UDP payload of plen bytes follows the template at its start. */
void rg_net_finish(struct rte_mbuf *m, uint16_t plen);
struct rte_mbuf *rg_net_arp(struct rg_gen *g, bool reply, const struct rte_ether_addr *tha,
			    uint32_t sip, uint32_t tip);
/* A received frame: ARP answered or learned, a datagram for a user passed to rg_req_rx. */
void rg_net_rx(struct rg_gen *g, struct rte_mbuf *m, uint64_t now);
/* The user a datagram to ip:port (host order) is for, or NULL. */
struct rg_user *rg_net_user_of(struct rg_gen *g, uint32_t ip, uint16_t port);

/* gen_req.c: requests and replies */
int rg_req_setup(struct rg_gen *g);
void rg_req_free(struct rg_gen *g);
void rg_req_rx(struct rg_gen *g, struct rg_user *u, const uint8_t *p, uint16_t len,
	       uint64_t now);
int rg_send_login(struct rg_gen *g, struct rg_user *u, uint64_t now);
int rg_send_join(struct rg_gen *g, struct rg_user *u, unsigned slot, uint64_t now);
int rg_send_logout(struct rg_gen *g, struct rg_user *u, uint64_t now);
int rg_send_ping(struct rg_gen *g, struct rg_user *u, uint64_t now);
/* One datagram of up to n POSTs of u (window and quota permitting); the POSTs sent. */
unsigned rg_send_posts(struct rg_gen *g, struct rg_user *u, unsigned n, uint64_t now);
/* Resend u's POSTs not acknowledged for resend_ms. */
void rg_resend_posts(struct rg_gen *g, struct rg_user *u, uint64_t now);
bool rg_room_member(const struct rg_gen *g, unsigned user, unsigned room, unsigned *slot);
int rg_room_index(const struct rg_gen *g, uint32_t room_id);

/* gen_run.c */
int rg_run_worker(void *arg);
/* Queue m for TX queue q (sent by the loop); false when it is full (m is freed). */
bool rg_tx(struct rg_gen *g, unsigned q, struct rte_mbuf *m);
/* Room for more than one frame on TX queue q. */
static inline bool
rg_tx_room(const struct rg_gen *g, unsigned q)
{
	return g->txq[q].n < RG_TXQ - 1;
}

/* gen_report.c */
void rg_report_loop(struct rg_gen *g, unsigned worker_lcore);
void rg_report_summary(struct rg_gen *g);
int rg_exit_status(struct rg_gen *g);

#endif /* RG_GEN_H */
