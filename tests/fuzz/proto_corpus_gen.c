/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpus of the proto fuzzer: one valid datagram per message type, a few
 * bundles, and a few malformed datagrams (each a small mutation of a valid one).
 *
 *   proto_corpus_gen DIR      writes DIR/<name>.bin (the files are committed; rerun this
 *                             only when the protocol changes)
 *   proto_corpus_gen -x       prints the LOGIN, POST and REDIRECT examples of PROTOCOL.md
 *                             in hex
 * Single-threaded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define S(lit) ((struct rc_str){ lit, sizeof(lit) - 1 })
#define TOKEN "1767225600.4f2d3c1b0a9988776655443322110000ffeeddccbbaa99887766554433221100"

static const struct rc_str members[] = { S("alice"), S("bob"), S("\xc3\xa9milie") };
static const struct rc_room_entry rooms[] = { { S("lobby@tc-1a.cluster1"), 42 },
					      { S("lounge@tc-1a.cluster1"), 0 } };

/* The node-to-node types (they travel inside a relay envelope). */
static void
sample_relay(struct rc_msg *m)
{
	switch (m->hdr.type) {
	case RC_T_RJOIN:
		m->u.rjoin = (typeof(m->u.rjoin)){ 0x40000007u, 41, S("alice"),
						   S("lobby@tc-1a.cluster1") };
		break;
	case RC_T_RJOINED:
		m->u.rjoined = (typeof(m->u.rjoined)){ 0x40000007u, 7, 42 };
		break;
	case RC_T_RPOST:
		m->u.rpost = (typeof(m->u.rpost)){ 7, 0x40000007u, 1, S("alice"), S("hi") };
		break;
	case RC_T_RFETCH:
		m->u.rfetch = (typeof(m->u.rfetch)){ 7, 0x40000007u, 1, 200 };
		break;
	default: /* RLEAVE, RMEMBERS */
		m->u.rref = (typeof(m->u.rref)){ 7, 0x40000007u };
		break;
	}
}

static struct rc_msg
sample(uint8_t type)
{
	struct rc_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = type;
	m.hdr.session = type == RC_T_LOGIN ? 0 : 0x5eed5eed5eed5eedull;
	m.hdr.request_id = type;
	switch (type) {
	case RC_T_LOGIN:
		m.u.login.user = S("alice");
		m.u.login.token = S(TOKEN);
		break;
	case RC_T_LOGIN_COOKIE:
		m.u.login.user = S("alice");
		m.u.login.token = S(TOKEN);
		m.u.login.cookie_slot = 110399;
		m.u.login.cookie_mac = 0x0c00c1e5a1ad5eedull;
		break;
	case RC_T_COOKIE:
		m.u.cookie.slot = 110399;
		m.u.cookie.mac = 0x0c00c1e5a1ad5eedull;
		break;
	case RC_T_LOGIN_OK:
		m.u.login_ok.session = 0x5eed5eed5eed5eedull;
		m.u.login_ok.idle_timeout_s = 120;
		break;
	case RC_T_JOIN:
	case RC_T_LEAVE:
	case RC_T_MEMBERS:
		m.u.join.room = S("lobby"); /* room is the first field of all three */
		break;
	case RC_T_JOINED:
		m.u.joined = (typeof(m.u.joined)){ S("lobby"), 7, 41, 3 };
		break;
	case RC_T_LEFT:
		m.u.left.room_id = 7;
		break;
	case RC_T_POST:
		m.u.post = (typeof(m.u.post)){ S("lobby"), 1, S("hi \xf0\x9f\x91\x8b\n") };
		break;
	case RC_T_ACK:
		m.u.ack = (typeof(m.u.ack)){ 7, 1, 42 };
		break;
	case RC_T_DELIVER:
		m.u.deliver = (typeof(m.u.deliver)){ 7, 42, 1767225600123ull, 1, S("alice"),
						     S("hi") };
		break;
	case RC_T_FETCH:
		m.u.fetch = (typeof(m.u.fetch)){ S("lobby"), 1, 200 };
		break;
	case RC_T_FETCH_END:
		m.u.fetch_end = (typeof(m.u.fetch_end)){ 7, 1, 43, 42, 42 };
		break;
	case RC_T_MEMBER_LIST:
		m.hdr.flags = RC_F_MORE;
		m.u.member_list.room_id = 7;
		m.u.member_list.count = 3;
		m.u.member_list.users = members;
		break;
	case RC_T_PING:
	case RC_T_PONG:
		m.u.ping.nonce = 0x0123456789abcdefull;
		break;
	case RC_T_ERROR:
		m.u.error = (typeof(m.u.error)){ RC_E_NOT_MEMBER, RC_T_POST, S("not a member") };
		break;
	case RC_T_RESUME:
		m.u.resume = (typeof(m.u.resume)){ S("n2"), RC_RESUME_FAILOVER };
		break;
	case RC_T_REDIRECT:
		m.u.redirect = (typeof(m.u.redirect)){ S("1b"), 0xc0000202u, RC_DEFAULT_UDP_PORT };
		break;
	case RC_T_RJOIN:
	case RC_T_RJOINED:
	case RC_T_RPOST:
	case RC_T_RFETCH:
	case RC_T_RLEAVE:
	case RC_T_RMEMBERS:
		sample_relay(&m);
		break;
	case RC_T_ROOMS:
		m.u.rooms.prefix = S("lo");
		break;
	case RC_T_ROOM_LIST:
		m.hdr.flags = RC_F_MORE;
		m.u.room_list.count = 2;
		m.u.room_list.rooms = rooms;
		break;
	default:
		break;
	}
	return m;
}

static size_t
enc(uint8_t *buf, size_t cap, uint8_t type)
{
	struct rc_msg m = sample(type);
	ssize_t n = rc_encode(buf, cap, &m);

	if (n < 0) {
		fprintf(stderr, "encode %s: %s\n", rc_msg_type_name(type), strerror((int)-n));
		exit(1);
	}
	return (size_t)n;
}

static void
put_file(const char *dir, const char *name, const uint8_t *b, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.bin", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void
write_valid(const char *dir)
{
	uint8_t b[RC_MAX_DGRAM];
	char name[64];

	for (unsigned t = RC_T_LOGIN; t < RC_T_MAX; t++) {
		snprintf(name, sizeof(name), "valid_%s", rc_msg_type_name(t));
		put_file(dir, name, b, enc(b, sizeof(b), (uint8_t)t));
	}
}

static void
write_bundles(const char *dir)
{
	uint8_t b[RC_MAX_DGRAM];
	size_t n = 0, mid;

	for (unsigned t = RC_T_LOGIN; t < RC_T_MAX; t++)
		n += enc(b + n, sizeof(b) - n, (uint8_t)t);
	put_file(dir, "bundle_all_types", b, n);

	n = enc(b, sizeof(b), RC_T_DELIVER);
	mid = n;
	n += enc(b + n, sizeof(b) - n, RC_T_POST);
	n += enc(b + n, sizeof(b) - n, RC_T_ACK);
	b[mid + 3] = 99; /* unknown type in the middle: -ENOMSG, the walk goes on */
	put_file(dir, "bundle_unknown_middle", b, n);
	b[mid + 3] = RC_T_POST;
	b[mid + 21] = 0xc0; /* room "lobby" -> "\xc0obby": -EILSEQ in the middle */
	put_file(dir, "bundle_bad_utf8_middle", b, n);
}

/* Each entry: a type, the byte offset to overwrite, the new value, a name. */
struct mutation {
	uint8_t type;
	uint16_t off;
	uint8_t val;
	const char *name;
};

static const struct mutation mutations[] = {
	{ RC_T_PING, 0, 'X', "bad_magic" },
	{ RC_T_PING, 2, 2, "bad_version" },
	{ RC_T_PING, 4, 0x80, "unknown_flag" },
	{ RC_T_PING, 5, 1, "reserved_set" },
	{ RC_T_PING, 7, 9, "body_len_beyond" },
	{ RC_T_PING, 7, 4, "body_truncated" },
	{ RC_T_LOGIN, 21, 0x01, "user_control_char" },
	{ RC_T_LOGIN, 26, 200, "token_len_beyond" },
	{ RC_T_LOGIN, 30, ' ', "token_space" },
	{ RC_T_POST, 33, 0, "post_cmid_zero" },
	{ RC_T_POST, 37, 0xed, "post_body_surrogate_lead" },
	{ RC_T_FETCH, 35, 0, "fetch_max_zero" },
	{ RC_T_FETCH, 34, 0x04, "fetch_max_over" },
	{ RC_T_MEMBER_LIST, 25, 4, "member_count_over" },
	{ RC_T_ERROR, 21, 0, "error_code_zero" },
	{ RC_T_REDIRECT, 20, 0, "redirect_node_empty" },
	{ RC_T_ROOM_LIST, 21, 3, "room_count_over" },
	{ RC_T_ROOM_LIST, 22, 201, "room_list_name_beyond" },
	{ RC_T_ROOMS, 20, 201, "rooms_prefix_beyond" },
	{ RC_T_RPOST, 35, 0, "rpost_cmid_zero" },
	{ RC_T_RFETCH, 37, 0, "rfetch_max_zero" },
};

static void
write_malformed(const char *dir)
{
	for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
		const struct mutation *mu = &mutations[i];
		uint8_t b[RC_MAX_DGRAM];
		size_t n = enc(b, sizeof(b), mu->type);

		if (mu->off >= n) {
			fprintf(stderr, "%s: offset %u beyond %zu\n", mu->name, mu->off, n);
			exit(1);
		}
		b[mu->off] = mu->val;
		put_file(dir, mu->name, b, n);
	}
}

static void
hexdump(const char *title, const uint8_t *b, size_t n)
{
	printf("%s (%zu bytes)\n", title, n);
	for (size_t i = 0; i < n; i++)
		printf("%02x%s", b[i], i % 16 == 15 || i + 1 == n ? "\n" : " ");
}

static void
print_examples(void)
{
	uint8_t b[RC_MAX_DGRAM];
	struct rc_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = RC_T_LOGIN;
	m.hdr.request_id = 1;
	m.u.login.user = S("alice");
	m.u.login.token = S(TOKEN);
	hexdump("LOGIN", b, (size_t)rc_encode(b, sizeof(b), &m));
	memset(&m, 0, sizeof(m));
	m.hdr.type = RC_T_POST;
	m.hdr.session = 0x8f3a5c7e9b1d2f40ull;
	m.hdr.request_id = 2;
	m.u.post.room = S("lobby");
	m.u.post.cmid = 1;
	m.u.post.body = S("hi \xf0\x9f\x91\x8b");
	hexdump("POST", b, (size_t)rc_encode(b, sizeof(b), &m));
	memset(&m, 0, sizeof(m));
	m.hdr.type = RC_T_REDIRECT;
	m.hdr.request_id = 1;
	m.u.redirect.node = S("1b");
	m.u.redirect.ip = 0xc0000202u; /* 192.0.2.2 */
	m.u.redirect.udp_port = RC_DEFAULT_UDP_PORT;
	hexdump("REDIRECT", b, (size_t)rc_encode(b, sizeof(b), &m));
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR | -x\n", argv[0]);
		return 2;
	}
	if (strcmp(argv[1], "-x") == 0) {
		print_examples();
		return 0;
	}
	write_valid(argv[1]);
	write_bundles(argv[1]);
	write_malformed(argv[1]);
	return 0;
}
