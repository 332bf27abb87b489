/* SPDX-License-Identifier: MIT */
/* roomcast-gen's options and its usage text (written like a man page). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "gen_body.h"

static const char usage_text[] =
"NAME\n"
"    roomcast-gen - a DPDK traffic generator for roomcastd\n"
"\n"
"SYNOPSIS\n"
"    roomcast-gen --server IP[:PORT] (--secret FILE | --tokens-key FILE [--key-id N])\n"
"                 (--memif SOCKET | --device DEV [--devargs ARGS]) [OPTIONS] [-- EAL ARGS]\n"
"\n"
"DESCRIPTION\n"
"    Runs as a DPDK process of its own and speaks the roomcast protocol (PROTOCOL.md) to one\n"
"    node: resolves the node's MAC by ARP (and answers ARP for its own addresses), logs in\n"
"    --users users with tokens it mints itself, joins them to --rooms rooms, then posts\n"
"    --posts POSTs in all, at --rate or as fast as each user's --window allows, and counts\n"
"    what comes back: the ACK of every POST and the DELIVER of every message to every member\n"
"    of its room, each (member, room, seq) expected exactly once. Every body carries its send\n"
"    time and its index, so that post-to-ACK and post-to-deliver latency are measured on one\n"
"    clock. It stops by itself: when every POST is acknowledged and every DELIVER arrived, or\n"
"    --duration plus --drain seconds after the first POST.\n"
"\n"
"    Users are PREFIX0 .. PREFIX{N-1}; user i sends from CLIENT_IP + i / PER_IP, UDP port\n"
"    CLIENT_PORT + i %% PER_IP (the node caps sessions per address: chat.max_sessions_per_address,\n"
"    64 by default). Rooms are RPREFIX0 .. RPREFIX{M-1}, joined by their bare names; user i\n"
"    is a member of rooms (i + j) %% M for j < --rooms-per-user. POSTs go round-robin over a\n"
"    poster's rooms. The node's limits apply: raise chat.post_rate and chat.post_burst (and\n"
"    chat.request_rate) on the node for anything beyond 50 POSTs per second per user.\n"
"\n"
"OPTIONS\n"
"  The node\n"
"    -s, --server IP[:PORT]   the node's service address (node.service_ip), port 6420\n"
"        --node-mac MAC       the node's MAC: no ARP\n"
"  Our addresses\n"
"        --client-ip IP       the first client address (198.18.1.1)\n"
"        --users-per-ip K     users per client address (32)\n"
"        --client-port P      the first UDP port (20000)\n"
"        --mac MAC            our MAC on the memif port (02:72:67:00:00:01)\n"
"  Tokens (as the node checks them: PROTOCOL.md, LOGIN)\n"
"    -k, --secret FILE        the node's auth.secret_file: the tokens key is derived from it\n"
"        --tokens-key FILE    or the node's tokens key file (keys.tokens) ...\n"
"        --key-id N           ... and its id (1)\n"
"  The workload\n"
"    -u, --users N            users, each its own session (20)\n"
"    -R, --rooms M            rooms (1)\n"
"        --rooms-per-user K   rooms per user (M: everyone in every room; 1: spread)\n"
"    -P, --posters P          users 0 .. P-1 post (all)\n"
"    -n, --posts N            POSTs in all, split evenly over the posters (1000)\n"
"    -r, --rate R             POSTs per second in all (0: as fast as the windows allow)\n"
"    -b, --body BYTES         body size, %u..%u (200)\n"
"    -B, --bundle K           POSTs per datagram, of one user (1)\n"
"    -w, --window W           unacknowledged POSTs per user (16)\n"
"        --user-prefix S      user names (g)\n"
"        --room-prefix S      room names (genroom)\n"
"  Time\n"
"    -t, --duration S         the posting phase ends after S seconds at the latest (10)\n"
"    -D, --drain S            then wait at most S seconds for the ACKs and DELIVERs (2)\n"
"        --setup-timeout S    ARP, LOGINs and JOINs must be done within S seconds (20)\n"
"        --resend-ms MS       resend a POST, LOGIN or JOIN unanswered after MS (500)\n"
"  Output\n"
"    -j, --json               JSON lines: one object per second (\"type\":\"interval\"),\n"
"                             then the summary (\"type\":\"summary\")\n"
"    -q, --quiet              no line per second\n"
"        --no-logout          leave the sessions open at the end (LOGOUT by default)\n"
"        --hist FILE          write both latency histograms to FILE as CSV, one line per\n"
"                             bucket that holds values: kind (ack, deliver), lo_ns, hi_ns,\n"
"                             count (buckets are 1/64 of their value wide)\n"
"  DPDK\n"
"        --memif SOCKET       net_memif0 as a memif client on SOCKET (a file, not abstract)\n"
"        --memif-rsize N      its rings hold 2^N frames, 8..14 (14: room for the bursts of\n"
"                             a fan-out while the generator is off its core)\n"
"        --queues N           queue pairs, 1..%u (1): user i sends on queue i %% N; for a node\n"
"                             with N workers over memif (no RSS: queue q reaches worker q)\n"
"        --device DEV         or another DPDK device (net_af_packet0, a PCI address, ...)\n"
"        --devargs ARGS       its arguments\n"
"        --idle-polls N       empty polls before a pause (100)\n"
"        --idle-sleep-us US   the pause (50; 0: poll without pause, for a dedicated core)\n"
"    -- EAL ARGS              the EAL arguments, replacing the defaults: --no-huge --no-pci\n"
"                             -m 256 --file-prefix=rcgen-PID --lcores=0@0,1@0 (the\n"
"                             generator runs on the first worker lcore)\n"
"    -h, --help               this text\n"
"\n"
"OUTPUT\n"
"    A line per second: elapsed time, phase, POSTs sent, ACKs and DELIVERs per second,\n"
"    post-to-ACK and post-to-deliver p50/p99 (microseconds) in that second, and losses so\n"
"    far: resends (no ACK in time), failed POSTs, duplicates, and missing: the DELIVERs\n"
"    missing below the highest seq each member received (lost, or not there yet). At the\n"
"    end, a summary: counts, rates over the posting phase (first POST to last ACK / last\n"
"    DELIVER), latency p50/p99/p99.9/max, gaps (expected DELIVERs that never came),\n"
"    duplicates, the generator's CPU time and its port's counters. With -j the same as\n"
"    JSON lines.\n"
"\n"
"EXIT STATUS\n"
"    0  every POST acknowledged, every member got every message once\n"
"    1  a POST not acknowledged or refused, a gap or a duplicate\n"
"    2  bad usage, or the setup failed (EAL, port, ARP, LOGIN, JOIN)\n"
"\n"
"EXAMPLES\n"
"    The node's port: device = \"net_memif0\"; args = \"role=server,socket=/run/rc.sock,\n"
"    socket-abstract=no\"; then\n"
"      roomcast-gen -s 198.18.0.1 -k /etc/roomcast/secret --memif /run/rc.sock \\\n"
"          -u 100 -R 1 -n 100000 -b 200 -B 4 -w 32\n"
"\n"
"SEE ALSO\n"
"    dataplane/wire/PROTOCOL.md, README.md (Traffic generator), rcload, rcha\n";

void
rg_usage(FILE *f)
{
	fprintf(f, usage_text, RG_BODY_MIN, RC_MAX_BODY, RG_MAX_QUEUES);
}

enum { O_NODE_MAC = 256, O_CLIENT_IP, O_PER_IP, O_CLIENT_PORT, O_MAC, O_TOKENS_KEY, O_KEY_ID,
       O_RPU, O_UPREFIX, O_RPREFIX, O_SETUP, O_RESEND, O_NO_LOGOUT, O_MEMIF, O_DEVICE,
       O_DEVARGS, O_IDLE_POLLS, O_IDLE_SLEEP, O_RSIZE, O_HIST, O_QUEUES };

static const struct option long_opts[] = {
	{ "server", 1, NULL, 's' },	      { "node-mac", 1, NULL, O_NODE_MAC },
	{ "client-ip", 1, NULL, O_CLIENT_IP }, { "users-per-ip", 1, NULL, O_PER_IP },
	{ "client-port", 1, NULL, O_CLIENT_PORT }, { "mac", 1, NULL, O_MAC },
	{ "secret", 1, NULL, 'k' },	      { "tokens-key", 1, NULL, O_TOKENS_KEY },
	{ "key-id", 1, NULL, O_KEY_ID },      { "users", 1, NULL, 'u' },
	{ "rooms", 1, NULL, 'R' },	      { "rooms-per-user", 1, NULL, O_RPU },
	{ "posters", 1, NULL, 'P' },	      { "posts", 1, NULL, 'n' },
	{ "rate", 1, NULL, 'r' },	      { "body", 1, NULL, 'b' },
	{ "bundle", 1, NULL, 'B' },	      { "window", 1, NULL, 'w' },
	{ "user-prefix", 1, NULL, O_UPREFIX }, { "room-prefix", 1, NULL, O_RPREFIX },
	{ "duration", 1, NULL, 't' },	      { "drain", 1, NULL, 'D' },
	{ "setup-timeout", 1, NULL, O_SETUP }, { "resend-ms", 1, NULL, O_RESEND },
	{ "json", 0, NULL, 'j' },	      { "quiet", 0, NULL, 'q' },
	{ "no-logout", 0, NULL, O_NO_LOGOUT }, { "memif", 1, NULL, O_MEMIF },
	{ "device", 1, NULL, O_DEVICE },      { "devargs", 1, NULL, O_DEVARGS },
	{ "idle-polls", 1, NULL, O_IDLE_POLLS }, { "idle-sleep-us", 1, NULL, O_IDLE_SLEEP },
	{ "queues", 1, NULL, O_QUEUES },	{ "memif-rsize", 1, NULL, O_RSIZE },	{ "hist", 1, NULL, O_HIST },	{ "help", 0, NULL, 'h' },	      { NULL, 0, NULL, 0 },
};

static int
num(const char *s, double min, double max, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || !isfinite(*out) || *out < min || *out > max
		       ? -EINVAL : 0;
}

static int
uint_opt(const char *s, unsigned min, unsigned max, unsigned *out)
{
	double v;

	if (num(s, min, max, &v) < 0 || v != floor(v))
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int
ip_opt(const char *s, uint32_t *ip, uint16_t *port)
{
	char buf[32];
	const char *colon = strchr(s, ':');
	size_t n = colon ? (size_t)(colon - s) : strlen(s);
	struct in_addr a;
	unsigned p;

	if (n == 0 || n >= sizeof(buf) || (colon && !port))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	*ip = ntohl(a.s_addr);
	if (colon) {
		if (uint_opt(colon + 1, 1, 65535, &p) < 0)
			return -EINVAL;
		*port = (uint16_t)p;
	}
	return 0;
}

static int
str_opt(char *dst, size_t cap, const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= cap)
		return -EINVAL;
	memcpy(dst, s, n + 1);
	return 0;
}

static void
defaults(struct rg_opts *o)
{
	static const struct rte_ether_addr mac = { { 0x02, 0x72, 0x67, 0x00, 0x00, 0x01 } };

	memset(o, 0, sizeof(*o));
	o->server_port = RC_DEFAULT_UDP_PORT;
	o->client_ip = 0xC6120101; /* 198.18.1.1 */
	o->users_per_ip = 32;
	o->client_port = 20000;
	o->mac = mac;
	o->key_id = 1;
	snprintf(o->user_prefix, sizeof(o->user_prefix), "g");
	snprintf(o->room_prefix, sizeof(o->room_prefix), "genroom");
	o->users = 20;
	o->rooms = 1;
	o->posts = 1000;
	o->body = 200;
	o->bundle = 1;
	o->window = 16;
	o->duration_s = 10;
	o->drain_s = 2;
	o->setup_s = 20;
	o->resend_ms = 500;
	o->logout = true;
	o->idle_polls = 100;
	o->idle_sleep_us = 50;
	o->memif_rsize = 14;
	o->queues = 1;
}

/* Options of the workload (numbers); -EINVAL when c is not one of them or out of range. */
static int
workload_opt(struct rg_opts *o, int c, const char *a)
{
	double v;
	int rc;

	switch (c) {
	case 'u': return uint_opt(a, 1, RG_MAX_USERS, &o->users);
	case 'R': return uint_opt(a, 1, RG_MAX_ROOMS, &o->rooms);
	case O_RPU: return uint_opt(a, 1, RG_MAX_ROOMS, &o->rooms_per_user);
	case 'P': return uint_opt(a, 1, RG_MAX_USERS, &o->posters);
	case 'n':
		rc = num(a, 1, 1e12, &v);
		o->posts = (uint64_t)v;
		return rc < 0 || v != floor(v) ? -EINVAL : 0;
	case 'r': return num(a, 0, 1e9, &o->rate);
	case 'b': return uint_opt(a, RG_BODY_MIN, RC_MAX_BODY, &o->body);
	case 'B': return uint_opt(a, 1, 64, &o->bundle);
	case 'w': return uint_opt(a, 1, 4096, &o->window);
	case 't': return num(a, 0.1, 86400, &o->duration_s);
	case 'D': return num(a, 0, 3600, &o->drain_s);
	case O_SETUP: return num(a, 1, 3600, &o->setup_s);
	case O_RESEND: return uint_opt(a, 10, 60000, &o->resend_ms);
	case O_PER_IP: return uint_opt(a, 1, 65535, &o->users_per_ip);
	case O_CLIENT_PORT: {
		unsigned p = 0;

		rc = uint_opt(a, 1, 65535, &p);
		o->client_port = (uint16_t)p;
		return rc;
	}
	case O_KEY_ID: return uint_opt(a, 1, 255, &o->key_id);
	case O_IDLE_POLLS: return uint_opt(a, 1, 100000000, &o->idle_polls);
	case O_IDLE_SLEEP: return uint_opt(a, 0, 1000000, &o->idle_sleep_us);
	case O_RSIZE: return uint_opt(a, 8, 14, &o->memif_rsize);
	case O_QUEUES: return uint_opt(a, 1, RG_MAX_QUEUES, &o->queues);
	}
	return -ENOENT;
}

/* Every other option; -ENOENT when c is not one of them. */
static int
other_opt(struct rg_opts *o, int c, char *a)
{
	switch (c) {
	case 's': return ip_opt(a, &o->server_ip, &o->server_port);
	case O_NODE_MAC:
		o->node_mac_set = true;
		return rte_ether_unformat_addr(a, &o->node_mac) < 0 ? -EINVAL : 0;
	case O_MAC: return rte_ether_unformat_addr(a, &o->mac) < 0 ? -EINVAL : 0;
	case O_CLIENT_IP: return ip_opt(a, &o->client_ip, NULL);
	case 'k': o->secret_file = a; return 0;
	case O_TOKENS_KEY: o->key_file = a; return 0;
	case O_UPREFIX: return str_opt(o->user_prefix, sizeof(o->user_prefix), a);
	case O_RPREFIX: return str_opt(o->room_prefix, sizeof(o->room_prefix), a);
	case 'j': o->json = true; return 0;
	case 'q': o->quiet = true; return 0;
	case O_NO_LOGOUT: o->logout = false; return 0;
	case O_HIST: o->hist_file = a; return 0;
	case O_MEMIF: o->memif = a; return 0;
	case O_DEVICE: o->device = a; return 0;
	case O_DEVARGS: o->devargs = a; return 0;
	}
	return -ENOENT;
}

/* The options together. NULL when they hold. */
static const char *
check(struct rg_opts *o)
{
	if (o->server_ip == 0)
		return "--server IP is required";
	if (!o->secret_file == !o->key_file)
		return "one of --secret FILE or --tokens-key FILE is required";
	if (!o->memif == !o->device)
		return "one of --memif SOCKET or --device DEV is required";
	if (o->rooms_per_user == 0)
		o->rooms_per_user = o->rooms;
	if (o->rooms_per_user > o->rooms)
		return "--rooms-per-user is more than --rooms";
	if (o->posters == 0 || o->posters > o->users)
		o->posters = o->users;
	/* memory: a seq tracker (about 200 bytes) per membership, a slot per POST of a window */
	if ((uint64_t)o->users * o->rooms_per_user > RG_MAX_MEMBERSHIPS)
		return "--users x --rooms-per-user is over 1048576 memberships";
	if ((uint64_t)o->users * o->window > RG_MAX_SLOTS)
		return "--users x --window is over 16777216";
	if ((uint64_t)o->client_port + RTE_MIN(o->users, o->users_per_ip) - 1 > 65535)
		return "--client-port + --users-per-ip goes beyond port 65535";
	if (o->bundle * (RC_HDR_LEN + 11u + strlen(o->room_prefix) + 5 + o->body) > RC_MAX_DGRAM)
		return "--bundle POSTs of --body bytes do not fit a datagram (1472 bytes)";
	return NULL;
}

int
rg_opts_parse(struct rg_opts *o, int argc, char **argv, const char **err)
{
	int c, rc;

	defaults(o);
	*err = NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "s:k:u:R:P:n:r:b:B:w:t:D:jqh", long_opts, NULL)) != -1) {
		if (c == 'h')
			return 1;
		if (c == '?') {
			*err = "unknown option (--help lists them)";
			return -EINVAL;
		}
		rc = workload_opt(o, c, optarg);
		if (rc == -ENOENT)
			rc = other_opt(o, c, optarg);
		if (rc < 0) {
			*err = "bad value";
			fprintf(stderr, "roomcast-gen: bad value '%s'\n", optarg ? optarg : "");
			return -EINVAL;
		}
	}
	if (optind < argc && strcmp(argv[optind - 1], "--") != 0) {
		*err = "unexpected argument (EAL arguments go after --)";
		return -EINVAL;
	}
	o->eal_argc = argc - optind;
	o->eal_argv = argv + optind;
	*err = check(o);
	return *err ? -EINVAL : 0;
}
