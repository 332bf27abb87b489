/* SPDX-License-Identifier: MIT */
/*
 * rcload --malformed N: feed the node junk and check that it keeps working.
 *
 *   1. A client logs in (its session is used below) and joins ROOM (default
 *      "rcload-malformed").
 *   2. Unauthenticated phase, ceil(N/2) datagrams from a separate raw socket: malformed
 *      messages, plus well-formed requests with session 0, a random session, or the real
 *      session sent from the wrong address, and LOGINs too small to be answered. No valid
 *      session covers these, so no reply may be larger than the datagram that caused it
 *      (replies are matched by the echoed request id) and no reply may be anything but an
 *      ERROR, or a BYE to a LOGOUT (of a session that does not exist).
 *   3. Session phase, the other N/2 datagrams, malformed only, from the client's own socket
 *      with its real session id: the node may answer ERROR 6/3 and nothing else (a reply
 *      that is not an ERROR, or that does not decode, fails the check).
 *   4. The client PINGs (its session must still be valid, without re-login) and a fresh
 *      client must be able to log in.
 *
 * Every malformed message is built so that it cannot be a valid request (no accidental
 * LOGOUT, JOIN or POST). Random choices come from --seed.
 *
 * Single-threaded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "clock.h"
#include "rcload.h"

#define REQ_TAG	   0x52000000u /* request ids of the unauthenticated phase: tag | index */
#define PROBE_ROOM "rcload-malformed-probe"

enum mcase {
	MC_TRUNC_HDR = 0,
	MC_BAD_MAGIC,
	MC_BAD_VERSION,
	MC_LEN_LONG,
	MC_LEN_SHORT,
	MC_OVERSIZE,
	MC_RANDOM,
	MC_GARBAGE_BODY,
	MC_JUNK_BUNDLE,
	MC_BAD_FLAGS,
	MC_UNKNOWN_TYPE,
	MC_BAD_UTF8,
	MC_TRAILING,
	MC_ZERO_FIELD,
	MC_NC_TYPE,
	MC_SESSION_MAX, /* the cases above are also sent with a valid session */
	MC_TINY_LOGIN = MC_SESSION_MAX,
	MC_UNAUTH_REQ,
	MC_MAX
};

struct mal {
	const struct rl_opts *o;
	struct rl_report *r;
	uint64_t rng;
	int raw;
	struct sockaddr_in srv;
	uint64_t session;
	uint16_t *len_sent; /* unauthenticated phase: length per index */
	uint64_t a_sent, a_replies, a_amplified, a_accepted, a_bytes;
	uint64_t b_sent, b_errors[RC_E_MAX], b_unexpected, b_undecodable;
	double worst_ratio;
};

static uint64_t
rnd(struct mal *m)
{
	uint64_t x = m->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	m->rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static void
hdr(uint8_t *b, uint8_t type, uint16_t body_len, uint64_t session, uint32_t req)
{
	rc_put_be16(b, RC_MAGIC);
	b[2] = RC_VERSION;
	b[3] = type;
	b[4] = 0;
	b[5] = 0;
	rc_put_be16(b + 6, body_len);
	rc_put_be64(b + 8, session);
	rc_put_be32(b + 16, req);
}

static void
fill(struct mal *m, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd(m);
}

/* str8 of n bytes of c at p; returns bytes written. */
static size_t
str8(uint8_t *p, size_t n, char c)
{
	p[0] = (uint8_t)n;
	memset(p + 1, c, n);
	return n + 1;
}

static size_t
ping(uint8_t *b, uint64_t session, uint32_t req)
{
	hdr(b, RC_T_PING, 8, session, req);
	rc_put_be64(b + RC_HDR_LEN, 0x6d616c666f726d64ull);
	return RC_HDR_LEN + 8;
}

static size_t
oversize(struct mal *m, uint8_t *b, uint64_t s, uint32_t req)
{
	uint8_t *p = b + RC_HDR_LEN;
	size_t n = 0;

	switch (rnd(m) % 5) {
	case 0: /* user over 64 bytes */
		n = str8(p, 65 + rnd(m) % 191, 'a');
		n += str8(p + n, 1, 'x');
		hdr(b, RC_T_LOGIN, (uint16_t)n, s, req);
		break;
	case 1: /* token over 128 bytes */
		n = str8(p, 2, 'a');
		n += str8(p + n, 129 + rnd(m) % 127, '!');
		hdr(b, RC_T_LOGIN, (uint16_t)n, s, req);
		break;
	case 2: /* room over 200 bytes */
		n = str8(p, 201 + rnd(m) % 55, 'r');
		rc_put_be64(p + n, 0);
		n += 8;
		hdr(b, RC_T_JOIN, (uint16_t)n, s, req);
		break;
	case 3: { /* body over 1200 bytes */
		uint16_t bl = (uint16_t)(1201 + rnd(m) % 200);

		n = str8(p, sizeof(PROBE_ROOM) - 1, 'r');
		rc_put_be64(p + n, 1);
		rc_put_be16(p + n + 8, bl);
		memset(p + n + 10, 'b', bl);
		n += 10u + bl;
		hdr(b, RC_T_POST, (uint16_t)n, s, req);
		break;
	}
	default: /* FETCH.max over 1000 */
		n = str8(p, 1, 'r');
		rc_put_be64(p + n, 1);
		rc_put_be16(p + n + 8, (uint16_t)(1001 + rnd(m) % 64000));
		n += 10;
		hdr(b, RC_T_FETCH, (uint16_t)n, s, req);
		break;
	}
	return RC_HDR_LEN + n;
}

/* A request type with a body that cannot parse: a str8 longer than the body, a PING body
 * that is not 8 bytes, a LOGOUT with a body. */
static size_t
garbage_body(struct mal *m, uint8_t *b, uint64_t s, uint32_t req)
{
	static const uint8_t types[] = {RC_T_LOGIN, RC_T_JOIN,	  RC_T_LEAVE, RC_T_POST,
					RC_T_FETCH, RC_T_MEMBERS, RC_T_PING,  RC_T_LOGOUT};
	uint8_t t = types[rnd(m) % sizeof(types)];
	size_t n = 1 + rnd(m) % 200;

	if (t == RC_T_PING && n == 8)
		n = 9;
	fill(m, b + RC_HDR_LEN, n);
	if (t != RC_T_PING && t != RC_T_LOGOUT)
		b[RC_HDR_LEN] = 0xff; /* str8 of 255 bytes: beyond the body */
	hdr(b, t, (uint16_t)n, s, req);
	return RC_HDR_LEN + n;
}

/* Unknown and node-to-client types, back to back up to a full datagram. */
static size_t
junk_bundle(struct mal *m, uint8_t *b, uint64_t s, uint32_t req)
{
	static const uint8_t nc[] = {0, 2, 4, 6, 8, 9, 11, 13, 15, 17, 18};
	size_t off = 0;

	while (off + RC_HDR_LEN + 16 <= RC_MAX_DGRAM) {
		uint8_t t = rnd(m) & 1 ? nc[rnd(m) % sizeof(nc)] : (uint8_t)(19 + rnd(m) % 237);
		size_t n = rnd(m) % 17;

		hdr(b + off, t, (uint16_t)n, s, req);
		fill(m, b + off + RC_HDR_LEN, n);
		off += RC_HDR_LEN + n;
	}
	return off;
}

static size_t
bad_utf8(struct mal *m, uint8_t *b, uint64_t s, uint32_t req)
{
	static const char *const bad[] = {
		"\xc3\x28",		/* truncated sequence */
		"\xed\xa0\x80",		/* surrogate */
		"\xf8\x88\x80\x80\x80", /* 5-byte form */
		"a\x01",		/* control character */
		"\xc0\xaf",		/* overlong */
		"x\x1b[2J",		/* escape sequence */
		"\xf4\x90\x80\x80",	/* above U+10FFFF */
	};
	const char *v = bad[rnd(m) % (sizeof(bad) / sizeof(bad[0]))];
	uint8_t *p = b + RC_HDR_LEN;
	size_t vl = strlen(v), n;

	if (rnd(m) & 1) { /* room name */
		p[0] = (uint8_t)vl;
		memcpy(p + 1, v, vl);
		rc_put_be64(p + 1 + vl, 0);
		n = vl + 9;
		hdr(b, RC_T_JOIN, (uint16_t)n, s, req);
	} else { /* POST body (a control character other than TAB/LF/CR, or bad UTF-8) */
		n = str8(p, sizeof(PROBE_ROOM) - 1, 'r');
		rc_put_be64(p + n, 7);
		rc_put_be16(p + n + 8, (uint16_t)vl);
		memcpy(p + n + 10, v, vl);
		n += 10 + vl;
		hdr(b, RC_T_POST, (uint16_t)n, s, req);
	}
	return RC_HDR_LEN + n;
}

/* FETCH.max 0, POST.cmid 0, an empty room or user: each makes the request bad. */
static size_t
zero_field(struct mal *m, uint8_t *b, uint64_t s, uint32_t req)
{
	uint8_t *p = b + RC_HDR_LEN;
	size_t n;

	switch (rnd(m) % 4) {
	case 0:
		n = str8(p, 3, 'r');
		rc_put_be64(p + n, 1);
		rc_put_be16(p + n + 8, 0);
		n += 10;
		hdr(b, RC_T_FETCH, (uint16_t)n, s, req);
		break;
	case 1:
		n = str8(p, 3, 'r');
		rc_put_be64(p + n, 0);
		rc_put_be16(p + n + 8, 2);
		memcpy(p + n + 10, "hi", 2);
		n += 12;
		hdr(b, RC_T_POST, (uint16_t)n, s, req);
		break;
	case 2:
		n = str8(p, 0, 'r');
		rc_put_be64(p + n, 0);
		n += 8;
		hdr(b, RC_T_JOIN, (uint16_t)n, s, req);
		break;
	default:
		n = str8(p, 0, 'u');
		n += str8(p + n, 5, 't');
		hdr(b, RC_T_LOGIN, (uint16_t)n, s, req);
		break;
	}
	return RC_HDR_LEN + n;
}

/* Well-formed requests that no valid session covers (unauthenticated phase only). */
static size_t
unauth_req(struct mal *m, uint8_t *b, uint64_t s, uint32_t req)
{
	uint8_t *p = b + RC_HDR_LEN;
	size_t n;

	switch (rnd(m) % 5) {
	case 0:
		return ping(b, s, req);
	case 1:
		n = str8(p, sizeof(PROBE_ROOM) - 1, 'q');
		memcpy(p + 1, PROBE_ROOM, sizeof(PROBE_ROOM) - 1);
		rc_put_be64(p + n, 0);
		n += 8;
		hdr(b, RC_T_JOIN, (uint16_t)n, s, req);
		return RC_HDR_LEN + n;
	case 2:
		hdr(b, RC_T_LOGOUT, 0, s, req);
		return RC_HDR_LEN;
	case 3: /* a LOGIN with a token that cannot be right, big enough to be answered */
		n = str8(p, 8, 'u');
		n += str8(p + n, 75, 'f');
		memcpy(p + 10, "99.", 3);
		hdr(b, RC_T_LOGIN, (uint16_t)n, 0, req);
		return RC_HDR_LEN + n;
	default:
		n = str8(p, sizeof(PROBE_ROOM) - 1, 'q');
		memcpy(p + 1, PROBE_ROOM, sizeof(PROBE_ROOM) - 1);
		hdr(b, RC_T_MEMBERS, (uint16_t)n, s, req);
		return RC_HDR_LEN + n;
	}
}

/* A valid PING, then one thing broken in its header. */
static size_t
gen_header(struct mal *m, uint8_t *b, uint64_t s, uint32_t req, enum mcase mc)
{
	size_t n = ping(b, s, req);

	switch (mc) {
	case MC_TRUNC_HDR:
		return 1 + rnd(m) % (RC_HDR_LEN - 1);
	case MC_BAD_MAGIC:
		rc_put_be16(b, (uint16_t)(RC_MAGIC ^ (1 + rnd(m) % 0xfffe)));
		return n;
	case MC_BAD_VERSION:
		b[2] = (uint8_t[]){0, 2, 255}[rnd(m) % 3];
		return n;
	case MC_LEN_LONG: /* body_len beyond the datagram */
		rc_put_be16(b + 6, (uint16_t)(9 + rnd(m) % 2000));
		return n;
	case MC_LEN_SHORT: /* body_len 4 of 8: a short PING, then 4 stray bytes */
		rc_put_be16(b + 6, 4);
		return n;
	default: /* MC_BAD_FLAGS: a flag other than MORE, or the reserved byte */
		if (rnd(m) & 1)
			b[4] = (uint8_t)(2 + rnd(m) % 254);
		else
			b[5] = (uint8_t)(1 + rnd(m) % 255);
		return n;
	}
}

/* Random bytes (never the magic), an unknown type, trailing bytes after a PING's nonce, a
 * node-to-client type, a LOGIN of at most 24 bytes. */
static size_t
gen_misc(struct mal *m, uint8_t *b, uint64_t s, uint32_t req, enum mcase mc)
{
	size_t n;

	switch (mc) {
	case MC_RANDOM:
		n = 1 + rnd(m) % RC_MAX_DGRAM;
		fill(m, b, n);
		if (n >= 2 && b[0] == 0x52 && b[1] == 0x43)
			b[1] ^= 0xff;
		return n;
	case MC_UNKNOWN_TYPE:
		n = rnd(m) % 33;
		hdr(b, rnd(m) % 4 ? (uint8_t)(19 + rnd(m) % 237) : 0, (uint16_t)n, s, req);
		fill(m, b + RC_HDR_LEN, n);
		return RC_HDR_LEN + n;
	case MC_TRAILING:
		n = 1 + rnd(m) % 8;
		ping(b, s, req);
		rc_put_be16(b + 6, (uint16_t)(8 + n));
		fill(m, b + RC_HDR_LEN + 8, n);
		return RC_HDR_LEN + 8 + n;
	case MC_NC_TYPE:
		hdr(b, RC_T_LOGIN_OK, 12, s, req);
		fill(m, b + RC_HDR_LEN, 12);
		return RC_HDR_LEN + 12;
	default: /* MC_TINY_LOGIN: even an empty ERROR (24 + 1 bytes) is larger */
		n = str8(b + RC_HDR_LEN, 1 + rnd(m) % 2, 'a');
		n += str8(b + RC_HDR_LEN + n, 1, 'b');
		hdr(b, RC_T_LOGIN, (uint16_t)n, 0, req);
		return RC_HDR_LEN + n;
	}
}

static size_t
gen(struct mal *m, enum mcase mc, uint8_t *b, uint64_t s, uint32_t req)
{
	switch (mc) {
	case MC_TRUNC_HDR:
	case MC_BAD_MAGIC:
	case MC_BAD_VERSION:
	case MC_LEN_LONG:
	case MC_LEN_SHORT:
	case MC_BAD_FLAGS:
		return gen_header(m, b, s, req, mc);
	case MC_OVERSIZE:
		return oversize(m, b, s, req);
	case MC_GARBAGE_BODY:
		return garbage_body(m, b, s, req);
	case MC_JUNK_BUNDLE:
		return junk_bundle(m, b, s, req);
	case MC_BAD_UTF8:
		return bad_utf8(m, b, s, req);
	case MC_ZERO_FIELD:
		return zero_field(m, b, s, req);
	case MC_UNAUTH_REQ:
		return unauth_req(m, b, s, req);
	default:
		return gen_misc(m, b, s, req, mc);
	}
}

/* ---- unauthenticated phase ---- */

static void
check_reply(struct mal *m, const uint8_t *b, size_t len)
{
	uint32_t req =
		len >= RC_HDR_LEN ? (uint32_t)b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19] : 0;
	uint64_t k = (req & 0xff000000u) == REQ_TAG ? req & 0xffffff : m->a_sent - 1;
	size_t sent = k < m->a_sent ? m->len_sent[k] : m->len_sent[m->a_sent - 1];
	size_t off = 0, used;
	struct rc_msg msg;

	m->a_replies++;
	m->a_bytes += len;
	if ((double)len / (double)sent > m->worst_ratio)
		m->worst_ratio = (double)len / (double)sent;
	if (len > sent && m->a_amplified++ < 3)
		rl_fail(m->r, "amplification: %zu-byte reply to a %zu-byte datagram (no session)",
			len, sent);
	while (off < len && rc_decode(b + off, len - off, &msg, &used) == 0 && used > 0) {
		/* a BYE answers a LOGOUT of a session that is gone (PROTOCOL.md 7.10): no
		 * larger than the LOGOUT, checked above like every reply */
		if (msg.hdr.type != RC_T_ERROR && msg.hdr.type != RC_T_BYE &&
		    m->a_accepted++ < 3)
			rl_fail(m->r, "node answered %s to an unauthenticated datagram",
				rc_msg_type_name(msg.hdr.type));
		off += used;
	}
}

static void
drain_raw(struct mal *m, int timeout_ms)
{
	struct pollfd pfd = {.fd = m->raw, .events = POLLIN};
	uint8_t buf[2048];

	while (poll(&pfd, 1, timeout_ms) > 0) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(m->raw, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);

		if (n < 0)
			break;
		if (from.sin_addr.s_addr == m->srv.sin_addr.s_addr &&
		    from.sin_port == m->srv.sin_port)
			check_reply(m, buf, (size_t)n);
		timeout_ms = 0;
	}
}

static int
open_raw(struct mal *m)
{
	struct sockaddr_in me = {.sin_family = AF_INET};

	m->srv = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(m->o->port)};
	inet_pton(AF_INET, m->o->server_ip, &m->srv.sin_addr);
	m->raw = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (m->raw < 0)
		return -errno;
	if (m->o->nbind && (inet_pton(AF_INET, m->o->bind_ip[0], &me.sin_addr) != 1 ||
			    bind(m->raw, (struct sockaddr *)&me, sizeof(me)) < 0))
		return -EADDRNOTAVAIL;
	return 0;
}

static void
unauth_phase(struct mal *m, unsigned n)
{
	uint8_t b[RC_MAX_DGRAM];

	m->len_sent = calloc(n ? n : 1, sizeof(*m->len_sent));
	if (!m->len_sent || open_raw(m) < 0) {
		rl_fail(m->r, "raw socket: %s", strerror(errno));
		return;
	}
	for (unsigned k = 0; k < n; k++) {
		uint64_t sess = (uint64_t[]){0, rnd(m) | 1, m->session}[k % 3];
		size_t len = gen(m, (enum mcase)(k % MC_MAX), b, sess, REQ_TAG | k);

		m->len_sent[k] = (uint16_t)len;
		m->a_sent++;
		sendto(m->raw, b, len, 0, (struct sockaddr *)&m->srv, sizeof(m->srv));
		drain_raw(m, 2);
	}
	drain_raw(m, 300);
	close(m->raw);
}

/* ---- session phase ---- */

static void
on_error(void *arg, uint16_t code, uint8_t ref_type, const char *text)
{
	struct mal *m = arg;

	(void)ref_type;
	(void)text;
	m->b_errors[code < RC_E_MAX ? code : 0]++;
}

static void
session_phase(struct mal *m, struct rc_client *c, unsigned n)
{
	uint8_t b[RC_MAX_DGRAM];
	struct rc_client_stats before, after;

	rc_client_stats(c, &before);
	for (unsigned k = 0; k < n; k++) {
		size_t len =
			gen(m, (enum mcase)(k % MC_SESSION_MAX), b, m->session, 0x4d000000u | k);

		rc_client_send_raw(c, b, len);
		m->b_sent++;
		rc_client_poll(c, 1, NULL);
	}
	for (uint64_t end = rc_mono_ms_precise() + 300; rc_mono_ms_precise() < end;)
		rc_client_poll(c, 50, NULL);
	/* junk may only be answered by ERRORs, and what the node sends must decode */
	rc_client_stats(c, &after);
	m->b_unexpected = after.unmatched - before.unmatched;
	m->b_undecodable = after.decode_errors - before.decode_errors;
	if (m->b_unexpected)
		rl_fail(m->r, "%" PRIu64 " non-ERROR replies to malformed requests (session phase)",
			m->b_unexpected);
	if (m->b_undecodable)
		rl_fail(m->r, "%" PRIu64 " undecodable messages from the node (session phase)",
			m->b_undecodable);
}

/* ---- still alive? ---- */

static bool
fresh_login(struct mal *m)
{
	struct rc_client *c = rl_client_new(m->o, 1);
	char user[96];
	uint64_t rtt;
	bool ok;

	snprintf(user, sizeof(user), "%sfresh", m->o->prefix);
	ok = c && rl_login_join(m->o, c, user, m->r, NULL) == 0 && rc_client_ping(c, &rtt) == 0;
	if (c && rc_client_logged_in(c))
		rc_client_logout(c);
	rc_client_free(c);
	return ok;
}

static void
report(struct mal *m, struct rc_client *c, bool ping_ok, bool fresh_ok)
{
	struct rc_client_stats st;

	rc_client_stats(c, &st);
	if (!ping_ok)
		rl_fail(m->r, "the node did not answer a PING with a valid session afterwards");
	if (st.relogins)
		rl_fail(m->r, "the client's session was lost during the malformed input");
	if (!fresh_ok)
		rl_fail(m->r, "a fresh client could not log in afterwards");
	if (m->a_amplified)
		rl_fail(m->r, "%" PRIu64 " replies larger than their request", m->a_amplified);
	rl_field(m->r, "sent", m->a_sent + m->b_sent);
	rl_field(m->r, "unauth_sent", m->a_sent);
	rl_field(m->r, "unauth_replies", m->a_replies);
	rl_field(m->r, "amplified", m->a_amplified);
	rl_field(m->r, "unauth_accepted", m->a_accepted);
	rl_field(m->r, "session_sent", m->b_sent);
	rl_field(m->r, "session_replies", st.dgrams_rcvd);
	rl_field(m->r, "session_unexpected", m->b_unexpected + m->b_undecodable);
	rl_field(m->r, "ping_ok", ping_ok && !st.relogins);
	rl_field(m->r, "fresh_login_ok", fresh_ok);
	rl_info(m->r, "worst_reply_ratio", "%.2f", m->worst_ratio);
	rl_info(m->r, "unauth_reply_bytes", "%" PRIu64, m->a_bytes);
	rl_info(m->r, "session_bad_request", "%" PRIu64, m->b_errors[RC_E_BAD_REQUEST]);
	rl_info(m->r, "session_too_large", "%" PRIu64, m->b_errors[RC_E_TOO_LARGE]);
	rl_info(m->r, "seed", "%" PRIu64, m->o->seed);
	rl_info_stats(m->r, &st);
}

int
rl_run_malformed(const struct rl_opts *o, struct rl_report *r)
{
	struct rl_opts oo = *o;
	struct mal m = {.o = &oo, .r = r, .rng = o->seed | 1, .raw = -1};
	struct rc_client_cb cb = {.error = on_error, .arg = &m};
	struct rc_client *c;
	char user[96];
	uint64_t rtt;
	bool ping_ok;

	r->mode = "malformed";
	oo.room = o->room ? o->room : "rcload-malformed";
	c = rl_client_new(&oo, 0);
	snprintf(user, sizeof(user), "%smal", o->prefix);
	if (!c || rl_login_join(&oo, c, user, r, NULL) < 0) {
		if (!c)
			rl_fail(r, "client: %s", strerror(errno));
		rc_client_free(c);
		return 0;
	}
	rc_client_set_callbacks(c, &cb);
	m.session = rc_client_session(c);
	unauth_phase(&m, (o->malformed + 1) / 2);
	session_phase(&m, c, o->malformed / 2);
	ping_ok = rc_client_ping(c, &rtt) == 0;
	report(&m, c, ping_ok, fresh_login(&m));
	if (rc_client_logged_in(c))
		rc_client_logout(c);
	rc_client_free(c);
	free(m.len_sent);
	return 0;
}
