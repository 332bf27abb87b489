/* SPDX-License-Identifier: MIT */
/* peerload's pure parts: bodies and each peer's framing (contract in peer_proto.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "peer_proto.h"

int pl_body_make(char *out, size_t len, uint64_t t_ns, unsigned pub, uint32_t idx)
{
	if (len < PL_BODY_MIN || pub > 0xffff)
		return -EINVAL;
	char head[PL_BODY_MIN + 1];
	int n = snprintf(head, sizeof(head), "T%016llx %04x %08x ", (unsigned long long)t_ns,
	                 pub, (unsigned)idx);
	memcpy(out, head, (size_t)n);
	memset(out + n, 'x', len - (size_t)n);
	return (int)len;
}

static int hex_field(const char *p, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return -EPROTO;
		x = x << 4 | d;
	}
	*v = x;
	return 0;
}

int pl_body_parse(const char *b, size_t len, uint64_t *t_ns, unsigned *pub, uint32_t *idx)
{
	uint64_t p, i;
	if (len < 32 || b[0] != 'T' || b[17] != ' ' || b[22] != ' ' || b[31] != ' ')
		return -EPROTO;
	if (hex_field(b + 1, 16, t_ns) || hex_field(b + 18, 4, &p) || hex_field(b + 23, 8, &i))
		return -EPROTO;
	*pub = (unsigned)p;
	*idx = (uint32_t)i;
	return 0;
}

/* ---- Redis (RESP) ---- */

static int put(char *out, size_t cap, size_t *at, const void *p, size_t n)
{
	if (*at + n > cap)
		return -ENOSPC;
	memcpy(out + *at, p, n);
	*at += n;
	return 0;
}

static int putf(char *out, size_t cap, size_t *at, const char *fmt, const char *s, size_t n)
{
	char tmp[64];
	int k = snprintf(tmp, sizeof(tmp), fmt, n, s);
	if (k < 0 || (size_t)k >= sizeof(tmp))
		return -ENOSPC;
	return put(out, cap, at, tmp, (size_t)k);
}

static int resp_bulk(char *out, size_t cap, size_t *at, const char *s, size_t n)
{
	char tmp[24];
	int k = snprintf(tmp, sizeof(tmp), "$%zu\r\n", n);
	if (put(out, cap, at, tmp, (size_t)k) || put(out, cap, at, s, n) || put(out, cap, at, "\r\n", 2))
		return -ENOSPC;
	return 0;
}

int pl_redis_sub(char *out, size_t cap, const char *topic)
{
	size_t at = 0;
	if (put(out, cap, &at, "*2\r\n", 4) || resp_bulk(out, cap, &at, "SUBSCRIBE", 9) ||
	    resp_bulk(out, cap, &at, topic, strlen(topic)))
		return -ENOSPC;
	return (int)at;
}

int pl_redis_pub(char *out, size_t cap, const char *topic, const char *body, size_t len)
{
	size_t at = 0;
	if (put(out, cap, &at, "*3\r\n", 4) || resp_bulk(out, cap, &at, "PUBLISH", 7) ||
	    resp_bulk(out, cap, &at, topic, strlen(topic)) || resp_bulk(out, cap, &at, body, len))
		return -ENOSPC;
	return (int)at;
}

/* A decimal number ending in CRLF at buf[*at]; advances past the CRLF. 0, or 1 if incomplete. */
static int crlf_num(const char *buf, size_t len, size_t *at, long long *v)
{
	long long x = 0;
	int neg = 0;
	size_t i = *at;
	if (i < len && buf[i] == '-') {
		neg = 1;
		i++;
	}
	for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++)
		x = x * 10 + (buf[i] - '0');
	if (i + 1 >= len)
		return 1;
	if (buf[i] != '\r' || buf[i + 1] != '\n')
		return -EPROTO;
	*v = neg ? -x : x;
	*at = i + 2;
	return 0;
}

/* One RESP element at *at: a bulk string (s, n) or an integer (s NULL). 0, 1 incomplete, -EPROTO. */
static int resp_elem(const char *buf, size_t len, size_t *at, const char **s, long long *n)
{
	if (*at >= len)
		return 1;
	char t = buf[(*at)++];
	int r = crlf_num(buf, len, at, n);
	if (r)
		return r;
	*s = NULL;
	if (t == ':')
		return 0;
	if (t != '$' || *n < 0)
		return -EPROTO;
	if (*at + (size_t)*n + 2 > len)
		return 1;
	*s = buf + *at;
	*at += (size_t)*n + 2;
	return 0;
}

static int line_end(const char *buf, size_t len)
{
	const char *e = memchr(buf, '\n', len);
	return e ? (int)(e - buf) + 1 : 0;
}

int pl_redis_parse(const char *buf, size_t len, struct pl_ev *ev)
{
	ev->kind = PL_EV_OTHER;
	if (len == 0)
		return 0;
	if (buf[0] == ':' || buf[0] == '+' || buf[0] == '-')
		return line_end(buf, len);
	if (buf[0] != '*')
		return -EPROTO;
	size_t at = 1;
	long long n;
	int r = crlf_num(buf, len, &at, &n);
	if (r)
		return r > 0 ? 0 : r;
	const char *e[3] = { 0 };
	long long el[3] = { 0 };
	for (long long i = 0; i < n; i++) {
		const char *s;
		long long l;
		r = resp_elem(buf, len, &at, &s, &l);
		if (r)
			return r > 0 ? 0 : r;
		if (i < 3) {
			e[i] = s;
			el[i] = l;
		}
	}
	if (n == 3 && e[0] && el[0] == 7 && !memcmp(e[0], "message", 7) && e[2]) {
		ev->kind = PL_EV_MSG;
		ev->body = e[2];
		ev->body_len = (size_t)el[2];
	} else if (n == 3 && e[0] && el[0] == 9 && !memcmp(e[0], "subscribe", 9))
		ev->kind = PL_EV_READY;
	return (int)at;
}

/* ---- NATS ---- */

int pl_nats_sub(char *out, size_t cap, const char *topic, unsigned sid)
{
	int n = snprintf(out, cap,
	                 "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"peerload\"}\r\n"
	                 "SUB %s %u\r\nPING\r\n", topic, sid);
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

int pl_nats_pub(char *out, size_t cap, const char *topic, const char *body, size_t len)
{
	size_t at = 0;
	if (putf(out, cap, &at, "PUB %2$s %1$zu\r\n", topic, len) || put(out, cap, &at, body, len) ||
	    put(out, cap, &at, "\r\n", 2))
		return -ENOSPC;
	return (int)at;
}

int pl_nats_parse(const char *buf, size_t len, struct pl_ev *ev)
{
	ev->kind = PL_EV_OTHER;
	int le = line_end(buf, len);
	if (le == 0)
		return 0;
	if (le >= 4 && !memcmp(buf, "PING", 4)) {
		ev->kind = PL_EV_PING;
		return le;
	}
	if (le >= 4 && !memcmp(buf, "PONG", 4)) {
		ev->kind = PL_EV_READY;
		return le;
	}
	if (le < 4 || memcmp(buf, "MSG ", 4))
		return (buf[0] >= 'A' && buf[0] <= 'Z') || buf[0] == '+' || buf[0] == '-' ? le : -EPROTO;
	/* MSG <subject> <sid> [reply-to] <#bytes>: the size is the line's last field */
	size_t i = (size_t)le - 1;
	while (i > 0 && (buf[i] == '\r' || buf[i] == '\n'))
		i--;
	size_t end = i + 1;
	while (i > 0 && buf[i] >= '0' && buf[i] <= '9')
		i--;
	if (buf[i] != ' ' || end == i + 1)
		return -EPROTO;
	size_t n = 0;
	for (size_t k = i + 1; k < end; k++)
		n = n * 10 + (size_t)(buf[k] - '0');
	if ((size_t)le + n + 2 > len)
		return 0;
	ev->kind = PL_EV_MSG;
	ev->body = buf + le;
	ev->body_len = n;
	return le + (int)n + 2;
}

/* ---- MQTT 3.1.1 ---- */

int pl_mqtt_varint_put(uint8_t *out, uint32_t v)
{
	int n = 0;
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		out[n++] = (uint8_t)(b | (v ? 0x80 : 0));
	} while (v && n < 4);
	return n;
}

int pl_mqtt_varint_get(const uint8_t *in, size_t len, uint32_t *v)
{
	uint32_t x = 0;
	for (size_t i = 0; i < 4; i++) {
		if (i >= len)
			return 0;
		x |= (uint32_t)(in[i] & 0x7f) << (7 * i);
		if (!(in[i] & 0x80)) {
			*v = x;
			return (int)i + 1;
		}
	}
	return -EPROTO;
}

/* A packet: type byte, remaining length, then the parts (each NULL-terminated list of spans). */
static int mqtt_packet(char *out, size_t cap, uint8_t type, const void *const *part,
                       const size_t *plen, int nparts)
{
	size_t rem = 0;
	for (int i = 0; i < nparts; i++)
		rem += plen[i];
	if (rem > 268435455u || 5 + rem > cap)
		return -ENOSPC;
	size_t at = 0;
	out[at++] = (char)type;
	at += (size_t)pl_mqtt_varint_put((uint8_t *)out + at, (uint32_t)rem);
	for (int i = 0; i < nparts; i++) {
		memcpy(out + at, part[i], plen[i]);
		at += plen[i];
	}
	return (int)at;
}

static void be16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

int pl_mqtt_connect(char *out, size_t cap, const char *client_id)
{
	/* "MQTT", level 4, clean session, keep-alive 600 s */
	static const uint8_t vh[] = { 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0x02, 0x58 };
	uint8_t idl[2];
	size_t n = strlen(client_id);
	be16(idl, n);
	const void *part[] = { vh, idl, client_id };
	size_t plen[] = { sizeof(vh), 2, n };
	return mqtt_packet(out, cap, 0x10, part, plen, 3);
}

int pl_mqtt_sub(char *out, size_t cap, const char *topic, uint16_t pkt_id)
{
	uint8_t id[2], tl[2], qos = 0;
	size_t n = strlen(topic);
	be16(id, pkt_id);
	be16(tl, n);
	const void *part[] = { id, tl, topic, &qos };
	size_t plen[] = { 2, 2, n, 1 };
	return mqtt_packet(out, cap, 0x82, part, plen, 4);
}

int pl_mqtt_pub(char *out, size_t cap, const char *topic, const char *body, size_t len)
{
	uint8_t tl[2];
	size_t n = strlen(topic);
	be16(tl, n);
	const void *part[] = { tl, topic, body };
	size_t plen[] = { 2, n, len };
	return mqtt_packet(out, cap, 0x30, part, plen, 3);
}

int pl_mqtt_parse(const char *buf, size_t len, struct pl_ev *ev)
{
	const uint8_t *b = (const uint8_t *)buf;
	uint32_t rem;
	ev->kind = PL_EV_OTHER;
	if (len < 2)
		return 0;
	int vl = pl_mqtt_varint_get(b + 1, len - 1, &rem);
	if (vl <= 0)
		return vl;
	size_t hdr = 1 + (size_t)vl, total = hdr + rem;
	if (total > len)
		return 0;
	switch (b[0] >> 4) {
	case 2: /* CONNACK: return code 0 = accepted */
		if (rem != 2 || b[hdr + 1] != 0)
			return -EPROTO;
		ev->kind = PL_EV_CONNACK;
		break;
	case 9: /* SUBACK: 0x80 = refused */
		if (rem < 3 || b[hdr + 2] == 0x80)
			return -EPROTO;
		ev->kind = PL_EV_READY;
		break;
	case 3: { /* PUBLISH; QoS 0 has no packet id */
		if (rem < 2)
			return -EPROTO;
		size_t tl = (size_t)b[hdr] << 8 | b[hdr + 1];
		size_t off = hdr + 2 + tl + (((b[0] >> 1) & 3) ? 2 : 0);
		if (off > total)
			return -EPROTO;
		ev->kind = PL_EV_MSG;
		ev->body = buf + off;
		ev->body_len = total - off;
		break;
	}
	default:
		break;
	}
	return (int)total;
}

/* ---- XMPP ---- */

int pl_xmpp_pub(char *out, size_t cap, const char *room, const char *body, size_t len)
{
	size_t at = 0;
	if (putf(out, cap, &at, "<message to='%2$.*1$s' type='groupchat'><body>", room, strlen(room)) ||
	    put(out, cap, &at, body, len) || put(out, cap, &at, "</body></message>", 17))
		return -ENOSPC;
	return (int)at;
}

static const char *find(const char *h, size_t hl, const char *n)
{
	return memmem(h, hl, n, strlen(n));
}

int pl_xmpp_parse(const char *buf, size_t len, struct pl_ev *ev)
{
	ev->kind = PL_EV_OTHER;
	const char *b = find(buf, len, "<body>");
	if (!b) /* keep the last 5 bytes: they may start a "<body>" */
		return len > 5 ? (int)len - 5 : 0;
	const char *e = find(b + 6, len - (size_t)(b + 6 - buf), "</body>");
	if (!e)
		return b > buf ? (int)(b - buf) : 0;
	ev->kind = PL_EV_MSG;
	ev->body = b + 6;
	ev->body_len = (size_t)(e - b - 6);
	return (int)(e + 7 - buf);
}

void pl_hist_merge(struct rg_hist *into, const struct rg_hist *h)
{
	into->n += h->n;
	into->sum += h->sum;
	if (h->max > into->max)
		into->max = h->max;
	for (unsigned i = 0; i < RG_HIST_BUCKETS; i++)
		into->b[i] += h->b[i];
}
